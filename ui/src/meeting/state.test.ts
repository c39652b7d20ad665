import { describe, expect, it } from "vitest";
import type { JoinResult, Participant } from "../bridge";
import { deviceCaptionsActive, initialMeeting, meetingReducer, micMuted, raisedHands, type MeetingState } from "./state";

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
    severalVoices: false,
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
      { type: "caption", participantIdentity: "bob", segmentId: "s1", text: "bonjour", final: false, source: "room" },
      { type: "caption", participantIdentity: "bob", segmentId: "s1", text: "bonjour à tous", final: false, source: "room" },
      { type: "caption", participantIdentity: "bob", segmentId: "s2", text: "ensuite", final: false, source: "room" },
      { type: "caption", participantIdentity: "bob", segmentId: "s1", text: "Bonjour à tous.", final: true, source: "room" },
    );
    expect(s.captions).toEqual([
      { segmentId: "s1", identity: "bob", text: "Bonjour à tous.", final: true, source: "room" },
      { segmentId: "s2", identity: "bob", text: "ensuite", final: false, source: "room" },
    ]);
  });

  it("keeps which voice of a meeting room said a final", () => {
    const s = run(
      { type: "caption", participantIdentity: "salle", segmentId: "d1", text: "bonjour", final: false, source: "device" },
      { type: "caption", participantIdentity: "salle", segmentId: "d1", text: "Bonjour.", final: true, source: "device", voice: 2 },
      { type: "caption", participantIdentity: "salle", segmentId: "d2", text: "Merci.", final: true, source: "device", voice: 0 },
    );
    expect(s.captions).toEqual([
      { segmentId: "d1", identity: "salle", text: "Bonjour.", final: true, source: "device", voice: 2 },
      { segmentId: "d2", identity: "salle", text: "Merci.", final: true, source: "device" },
    ]);
  });

  it("replaces interim device captions by their final text and keeps their source", () => {
    const s = run(
      { type: "caption", participantIdentity: "bob", segmentId: "d1", text: "je pense", final: false, source: "device" },
      { type: "caption", participantIdentity: "me", segmentId: "d1", text: "d’accord", final: false, source: "device" },
      { type: "caption", participantIdentity: "bob", segmentId: "d1", text: "je pense que oui", final: false, source: "device" },
      { type: "caption", participantIdentity: "bob", segmentId: "d1", text: "Je pense que oui.", final: true, source: "device" },
    );
    expect(s.captions).toEqual([
      { segmentId: "d1", identity: "bob", text: "Je pense que oui.", final: true, source: "device" },
      { segmentId: "d1", identity: "me", text: "d’accord", final: false, source: "device" },
    ]);
  });

  it("keeps room and device captions of one segment id apart", () => {
    const s = run(
      { type: "caption", participantIdentity: "bob", segmentId: "1", text: "room text", final: false, source: "room" },
      { type: "caption", participantIdentity: "bob", segmentId: "1", text: "device text", final: true, source: "device" },
      { type: "caption", participantIdentity: "bob", segmentId: "1", text: "room text, final", final: true, source: "room" },
    );
    expect(s.captions.map((c) => [c.source, c.text])).toEqual([
      ["room", "room text, final"],
      ["device", "device text"],
    ]);
  });

  it("reads a caption without a source (an older engine) as the room's", () => {
    const legacy = { type: "caption", participantIdentity: "bob", segmentId: "s", text: "hi", final: true } as unknown as Parameters<typeof meetingReducer>[1];
    expect(run(legacy).captions[0]?.source).toBe("room");
  });

  it("follows on-device captions: starting, on, failed with its code, off with the transcript", () => {
    expect(run().deviceCaptions).toEqual({ state: "off" });
    expect(initialMeeting(join, { state: "on" }).deviceCaptions).toEqual({ state: "on" });
    let s = run({ type: "ui/deviceCaptionsRequested", enabled: true });
    expect(s.deviceCaptions.state).toBe("starting");
    expect(deviceCaptionsActive(s.deviceCaptions)).toBe(true);
    s = meetingReducer(s, { type: "onDeviceCaptions", state: "on" });
    expect(s.deviceCaptions).toEqual({ state: "on" });
    expect(deviceCaptionsActive(s.deviceCaptions)).toBe(true);
    s = meetingReducer(s, { type: "onDeviceCaptions", state: "off", transcriptId: "tr-1" });
    expect(s.deviceCaptions).toEqual({ state: "off", transcriptId: "tr-1" });
    expect(deviceCaptionsActive(s.deviceCaptions)).toBe(false);
    s = meetingReducer(s, { type: "onDeviceCaptions", state: "failed", code: "model_missing", reason: "no model" });
    expect(s.deviceCaptions).toEqual({ state: "failed", code: "model_missing", reason: "no model" });
    expect(deviceCaptionsActive(s.deviceCaptions)).toBe(false);
    // A refused `set_on_device_captions` puts back what was there.
    s = meetingReducer(s, { type: "ui/deviceCaptionsRequested", enabled: true });
    s = meetingReducer(s, { type: "ui/deviceCaptionsRestored", status: { state: "failed", code: "model_missing" } });
    expect(s.deviceCaptions).toEqual({ state: "failed", code: "model_missing" });
    s = meetingReducer(s, { type: "ui/deviceCaptionsRequested", enabled: false });
    expect(s.deviceCaptions).toEqual({ state: "off" });
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
