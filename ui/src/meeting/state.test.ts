import { describe, expect, it } from "vitest";
import type { JoinResult, Participant } from "../bridge";
import { initialMeeting, meetingReducer, micMuted, raisedHands, type MeetingState } from "./state";

function p(identity: string, isLocal = false): Participant {
  return {
    identity,
    sid: `PA_${identity}`,
    name: identity.toUpperCase(),
    isLocal,
    attributes: {},
    handRaisedAt: null,
    tracks: [{ sid: `TR_a_${identity}`, kind: "audio", source: "microphone", muted: false, width: 0, height: 0 }],
    quality: "good",
    speaking: false,
  };
}

const join: JoinResult = { roomName: "r", roomCode: "abc-defg-hij", link: "https://h/abc-defg-hij", isAdmin: false, local: p("me", true), participants: [p("bob"), p("me", true)] };

function run(...actions: Parameters<typeof meetingReducer>[1][]): MeetingState {
  return actions.reduce(meetingReducer, initialMeeting(join));
}

describe("meeting state", () => {
  it("starts with the local participant first and no duplicate", () => {
    expect(initialMeeting(join).participants.map((x) => x.identity)).toEqual(["me", "bob"]);
  });

  it("follows joins, leaves, mutes and speakers", () => {
    const s = run(
      { type: "participantConnected", participant: p("alice") },
      { type: "trackMuted", identity: "bob", trackSid: "TR_a_bob", muted: true },
      { type: "activeSpeakers", identities: ["alice"] },
      { type: "participantDisconnected", identity: "bob" },
    );
    expect(s.participants.map((x) => x.identity)).toEqual(["me", "alice"]);
    expect(s.participants.find((x) => x.identity === "alice")?.speaking).toBe(true);
    const muted = run({ type: "trackMuted", identity: "bob", trackSid: "TR_a_bob", muted: true });
    expect(micMuted(muted.participants[1]!)).toBe(true);
  });

  it("counts unread chat only while the panel is closed", () => {
    const msg = (id: string, isLocal = false) => ({ type: "chatMessage" as const, message: { id, fromIdentity: "bob", fromName: "Bob", text: "hi", timestamp: 1, isLocal } });
    let s = run(msg("1"), msg("2"), msg("2"), msg("3", true));
    expect(s.chat).toHaveLength(3);
    expect(s.unread).toBe(2);
    s = meetingReducer(s, { type: "ui/chatOpen", open: true });
    expect(s.unread).toBe(0);
    s = meetingReducer(s, msg("4"));
    expect(s.unread).toBe(0);
  });

  it("replaces interim captions by the final text of the same segment", () => {
    const s = run(
      { type: "caption", participantIdentity: "bob", segmentId: "s1", text: "bonjour", final: false },
      { type: "caption", participantIdentity: "bob", segmentId: "s1", text: "bonjour à tous", final: false },
      { type: "caption", participantIdentity: "bob", segmentId: "s2", text: "ensuite", final: false },
      { type: "caption", participantIdentity: "bob", segmentId: "s1", text: "Bonjour à tous.", final: true },
    );
    expect(s.captions).toEqual([
      { segmentId: "s1", identity: "bob", text: "Bonjour à tous.", final: true },
      { segmentId: "s2", identity: "bob", text: "ensuite", final: false },
    ]);
  });

  it("keeps raised hands and reconnecting state", () => {
    const s = run(
      { type: "participantUpdated", participant: { ...p("bob"), handRaisedAt: "2026-01-01T10:00:00Z" } },
      { type: "connectionState", state: "reconnecting" },
    );
    expect(s.participants[1]?.handRaisedAt).toBe("2026-01-01T10:00:00Z");
    expect(s.connection).toBe("reconnecting");
  });
  it("lists raised hands in the order they were raised, whatever the time zone", () => {
    const hand = (id: string, at: string | null) => ({ ...p(id), handRaisedAt: at });
    const order = raisedHands([
      hand("late", "2026-11-23T10:00:05+00:00"),
      hand("none", null),
      hand("first", "2026-11-23T11:00:01+01:00"),
      hand("second", "2026-11-23T10:00:03Z"),
    ]).map((x) => x.identity);
    expect(order).toEqual(["first", "second", "late"]);
  });
});
