/**
 * The logic of the accounts screen, apart from its markup so that it is tested on its own: what
 * a profile's session state means for the screen, who to show, and the requests the add-server
 * form sends. Secrets (API secret, PIN) only pass through to the bridge, never stored here.
 */

import type { AddProfileRequest, AppError, Identity, Profile, SessionInfo } from "./bridge";

/** The shortest offline PIN the app accepts (the Rust side checks it too). */
export const MIN_PIN_LENGTH = 6;

export type ProfileState = "online" | "offline" | "signedOut" | "locked" | "noLogin";

/**
 * What to show for a profile after `whoami`: `offline` offers the PIN unlock; `signedOut` offers
 * signing in again; `locked` (the keychain) asks to unlock it; `noLogin` is a server without
 * sign-in (local server, LiveKit with a key).
 */
export function profileState(profile: Profile, result: SessionInfo | AppError | undefined): ProfileState {
  if (profile.login.type === "none") return "noLogin";
  if (!result) return profile.identity ? "online" : "signedOut";
  if ("session" in result) return result.session;
  if (result.code === "keychain_locked") return "locked";
  if (result.code === "unreachable") return "offline";
  return "signedOut";
}

/** The name to show for someone signed in: their name, else their email, else the subject. */
export function displayIdentity(identity: Identity | null | undefined): string {
  if (!identity) return "";
  return identity.name?.trim() || identity.email?.trim() || identity.sub;
}

/** `weak_pin` when the PIN is too short (counted in characters, as Rust does). */
export function pinProblem(pin: string): "weak_pin" | null {
  return [...pin].length < MIN_PIN_LENGTH ? "weak_pin" : null;
}

export type ServerKind = "visio" | "liveKit" | "local";
export const SERVER_KINDS: readonly ServerKind[] = ["visio", "liveKit", "local"];

export interface AddServerForm {
  kind: ServerKind;
  server: string;
  apiKey: string;
  apiSecret: string;
  issuer: string;
  clientId: string;
}

export type AddServerAction =
  | { command: "login"; request: { server: string; issuer?: string; clientId?: string } }
  | { command: "add_profile"; request: AddProfileRequest }
  | { error: AppError };

/**
 * The command the add-server form sends: a Visio server is added by signing in (the login
 * window, or OIDC through the system browser when an issuer is given); a LiveKit server by its
 * key and secret; the local server as is. Empty required fields are refused here, with the
 * same error codes the Rust side would give.
 */
export function addServerAction(form: AddServerForm): AddServerAction {
  const server = form.server.trim();
  if (!server) return { error: { code: "invalid_link", message: "" } };
  switch (form.kind) {
    case "visio": {
      const issuer = form.issuer.trim();
      const clientId = form.clientId.trim();
      if (issuer && !clientId) return { error: { code: "login_failed", message: "clientId" } };
      return { command: "login", request: issuer ? { server, issuer, clientId } : { server } };
    }
    case "liveKit":
      if (!form.apiKey.trim() || !form.apiSecret) return { error: { code: "internal", message: "the API key and secret must not be empty" } };
      return { command: "add_profile", request: { kind: "liveKit", server, apiKey: form.apiKey.trim(), apiSecret: form.apiSecret } };
    case "local":
      return { command: "add_profile", request: { kind: "local", server } };
  }
}
