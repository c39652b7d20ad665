import { describe, expect, it } from "vitest";
import type { Profile, SessionInfo } from "./bridge";
import { addServerAction, displayIdentity, pinProblem, profileState, type AddServerForm } from "./accounts";

const alice = { sub: "alice", name: "Alice Martin", email: "alice@example.gouv.fr", issuer: "https://idp" };
const visio: Profile = { server: "https://visio.example", kind: { type: "visio" }, login: { type: "sessionCookie" }, identity: alice };
const local: Profile = { server: "http://127.0.0.1:7880", kind: { type: "local" }, login: { type: "none" }, identity: null };
const session = (s: "online" | "offline"): SessionInfo => ({ profile: visio, identity: alice, session: s, reason: null });
const form = (f: Partial<AddServerForm>): AddServerForm => ({ kind: "visio", server: "", apiKey: "", apiSecret: "", issuer: "", clientId: "", ...f });

describe("accounts screen logic", () => {
  it("maps whoami answers and errors to what the screen offers", () => {
    expect(profileState(local, undefined)).toBe("noLogin");
    expect(profileState(visio, undefined)).toBe("online");
    expect(profileState({ ...visio, identity: null }, undefined)).toBe("signedOut");
    expect(profileState(visio, session("online"))).toBe("online");
    expect(profileState(visio, session("offline"))).toBe("offline");
    expect(profileState(visio, { code: "session_expired", message: "" })).toBe("signedOut");
    expect(profileState(visio, { code: "keychain_locked", message: "" })).toBe("locked");
    expect(profileState(visio, { code: "unreachable", message: "" })).toBe("offline");
  });

  it("shows a name, else an email, else the subject", () => {
    expect(displayIdentity(alice)).toBe("Alice Martin");
    expect(displayIdentity({ ...alice, name: "  " })).toBe("alice@example.gouv.fr");
    expect(displayIdentity({ ...alice, name: null, email: null })).toBe("alice");
    expect(displayIdentity(null)).toBe("");
  });

  it("refuses PINs shorter than 6 characters, counting characters not bytes", () => {
    expect(pinProblem("12345")).toBe("weak_pin");
    expect(pinProblem("123456")).toBeNull();
    expect(pinProblem("ééééé")).toBe("weak_pin");
    expect(pinProblem("éééééé")).toBeNull();
  });

  it("turns the add-server form into the right command", () => {
    expect(addServerAction(form({ server: "  " }))).toEqual({ error: { code: "invalid_link", message: "" } });
    expect(addServerAction(form({ server: "visio.example" }))).toEqual({ command: "login", request: { server: "visio.example" } });
    expect(addServerAction(form({ server: "visio.example", issuer: "https://idp", clientId: "app" }))).toEqual({
      command: "login",
      request: { server: "visio.example", issuer: "https://idp", clientId: "app" },
    });
    expect("error" in addServerAction(form({ server: "visio.example", issuer: "https://idp" }))).toBe(true);
    expect(addServerAction(form({ kind: "liveKit", server: "https://lk", apiKey: " K ", apiSecret: "s" }))).toEqual({
      command: "add_profile",
      request: { kind: "liveKit", server: "https://lk", apiKey: "K", apiSecret: "s" },
    });
    expect("error" in addServerAction(form({ kind: "liveKit", server: "https://lk", apiKey: "K" }))).toBe(true);
    expect(addServerAction(form({ kind: "local", server: "http://127.0.0.1:7880" }))).toEqual({
      command: "add_profile",
      request: { kind: "local", server: "http://127.0.0.1:7880" },
    });
  });
});
