/**
 * The meeting as the UI knows it, updated by one pure reducer from the engine's `RoomEvent`s and
 * the user's own actions, so every screen reads one consistent state.
 */

import type { CaptionSource, ChatMessage, ConnectionState, JoinResult, OnDeviceCaptionsStatus, Participant, RoomEvent } from "../bridge";

export interface Caption {
  segmentId: string;
  identity: string;
  text: string;
  final: boolean;
  /** `room`: sent by the room; `device`: computed on this machine. */
  source: CaptionSource;
  /** Which voice of a meeting room's microphone spoke (1, 2, ...), on device finals. */
  voice?: number;
}

export interface FloatingReaction {
  id: number;
  identity: string;
  emoji: string;
}

export interface MeetingState {
  roomCode: string;
  link: string;
  localIdentity: string;
  /** In join order, the local participant included. */
  participants: Participant[];
  activeSpeakers: string[];
  chat: ChatMessage[];
  chatOpen: boolean;
  unread: number;
  /** Most recent last; interim text of a segment is replaced by later text of the same segment. */
  captions: Caption[];
  reactions: FloatingReaction[];
  connection: ConnectionState;
  waitingNotices: number;
  /** On-device captions as the engine last reported them (`starting` also while the UI asked for them). */
  deviceCaptions: OnDeviceCaptionsStatus;
}

export type MeetingAction =
  | RoomEvent
  | { type: "ui/chatOpen"; open: boolean }
  | { type: "ui/localUpdated"; patch: Partial<Participant> }
  | { type: "ui/localTrackMuted"; source: "camera" | "microphone"; muted: boolean }
  | { type: "ui/reactionDone"; id: number }
  /** The user switched on-device captions: `starting` until the engine says `on` or `failed`. */
  | { type: "ui/deviceCaptionsRequested"; enabled: boolean }
  /** `set_on_device_captions` refused: back to what it was. */
  | { type: "ui/deviceCaptionsRestored"; status: OnDeviceCaptionsStatus };

const MAX_CAPTIONS = 30;
const MAX_CHAT = 500;
let reactionIds = 0;

/**
 * The meeting right after `join`. `deviceCaptions`: the last on-device captions state the engine
 * reported (it may start them during `join`, before this screen listens).
 */
export function initialMeeting(join: JoinResult, deviceCaptions: OnDeviceCaptionsStatus = { state: "off" }): MeetingState {
  const others = join.participants.filter((p) => p.identity !== join.local.identity);
  return {
    roomCode: join.roomCode,
    link: join.link,
    localIdentity: join.local.identity,
    participants: [join.local, ...others],
    activeSpeakers: [],
    chat: [],
    chatOpen: false,
    unread: 0,
    captions: [],
    reactions: [],
    connection: "connected",
    waitingNotices: 0,
    deviceCaptions,
  };
}

function mapParticipant(s: MeetingState, identity: string, f: (p: Participant) => Participant): MeetingState {
  let changed = false;
  const participants = s.participants.map((p) => {
    if (p.identity !== identity) return p;
    changed = true;
    return f(p);
  });
  return changed ? { ...s, participants } : s;
}

export function meetingReducer(s: MeetingState, a: MeetingAction): MeetingState {
  switch (a.type) {
    case "participantConnected": {
      const exists = s.participants.some((p) => p.identity === a.participant.identity);
      return exists
        ? mapParticipant(s, a.participant.identity, () => a.participant)
        : { ...s, participants: [...s.participants, a.participant] };
    }
    case "participantDisconnected":
      return {
        ...s,
        participants: s.participants.filter((p) => p.identity !== a.identity || p.isLocal),
        activeSpeakers: s.activeSpeakers.filter((i) => i !== a.identity),
      };
    case "participantUpdated":
      return mapParticipant(s, a.participant.identity, (p) => ({ ...a.participant, isLocal: p.isLocal }));
    case "trackPublished":
      return mapParticipant(s, a.identity, (p) => ({
        ...p,
        tracks: [...p.tracks.filter((t) => t.sid !== a.track.sid), a.track],
      }));
    case "trackUnpublished":
      return mapParticipant(s, a.identity, (p) => ({ ...p, tracks: p.tracks.filter((t) => t.sid !== a.trackSid) }));
    case "trackMuted":
      return mapParticipant(s, a.identity, (p) => ({
        ...p,
        tracks: p.tracks.map((t) => (t.sid === a.trackSid ? { ...t, muted: a.muted } : t)),
      }));
    case "activeSpeakers": {
      const speaking = new Set(a.identities);
      return {
        ...s,
        activeSpeakers: a.identities,
        participants: s.participants.map((p) =>
          p.speaking === speaking.has(p.identity) ? p : { ...p, speaking: speaking.has(p.identity) },
        ),
      };
    }
    case "connectionQuality":
      return mapParticipant(s, a.identity, (p) => ({ ...p, quality: a.quality }));
    case "chatMessage": {
      if (s.chat.some((m) => m.id === a.message.id)) return s;
      const chat = [...s.chat, a.message].slice(-MAX_CHAT);
      const unread = s.chatOpen || a.message.isLocal ? s.unread : s.unread + 1;
      return { ...s, chat, unread };
    }
    case "reaction":
      return { ...s, reactions: [...s.reactions, { id: ++reactionIds, identity: a.fromIdentity, emoji: a.emoji }].slice(-20) };
    case "ui/reactionDone":
      return { ...s, reactions: s.reactions.filter((r) => r.id !== a.id) };
    case "caption": {
      // An engine without the `source` field only knows the room's captions.
      const source: CaptionSource = a.source === "device" ? "device" : "room";
      const caption: Caption = { segmentId: a.segmentId, identity: a.participantIdentity, text: a.text, final: a.final, source };
      if (typeof a.voice === "number" && a.voice > 0) caption.voice = a.voice;
      // Segment ids of the room and of this machine are separate series: the source is part of the key.
      const at = s.captions.findIndex((c) => c.segmentId === a.segmentId && c.identity === a.participantIdentity && c.source === source);
      const captions = at >= 0 ? s.captions.map((c, i) => (i === at ? caption : c)) : [...s.captions, caption];
      return { ...s, captions: captions.slice(-MAX_CAPTIONS) };
    }
    case "notification":
      return a.kind === "participantWaiting" ? { ...s, waitingNotices: s.waitingNotices + 1 } : s;
    case "onDeviceCaptions": {
      const status: OnDeviceCaptionsStatus = { state: a.state };
      if (a.code !== undefined) status.code = a.code;
      if (a.reason !== undefined) status.reason = a.reason;
      if (a.transcriptId !== undefined) status.transcriptId = a.transcriptId;
      return { ...s, deviceCaptions: status };
    }
    case "ui/deviceCaptionsRequested":
      return { ...s, deviceCaptions: { state: a.enabled ? "starting" : "off" } };
    case "ui/deviceCaptionsRestored":
      return { ...s, deviceCaptions: a.status };
    case "connectionState":
      return { ...s, connection: a.state };
    case "micLevel":
    case "lobby":
    case "deviceUnavailable":
      return s;
    case "ui/chatOpen":
      return { ...s, chatOpen: a.open, unread: a.open ? 0 : s.unread };
    case "ui/localUpdated":
      return mapParticipant(s, s.localIdentity, (p) => ({ ...p, ...a.patch }));
    case "ui/localTrackMuted":
      return mapParticipant(s, s.localIdentity, (p) => ({
        ...p,
        tracks: p.tracks.map((t) => (t.source === a.source ? { ...t, muted: a.muted } : t)),
      }));
  }
}

/** Whether on-device captions are on or on their way (the control shows as pressed). */
export function deviceCaptionsActive(status: OnDeviceCaptionsStatus): boolean {
  return status.state === "on" || status.state === "starting";
}

/** Whether a participant's microphone is off (no microphone track, or muted). */
export function micMuted(p: Participant): boolean {
  const mic = p.tracks.find((t) => t.source === "microphone");
  return !mic || mic.muted;
}

export function cameraOn(p: Participant): boolean {
  return p.tracks.some((t) => t.source === "camera" && !t.muted);
}

/** Raised hands in the order they were raised (Visio's `handRaisedAt`), for the organiser. */
export function raisedHands(participants: Participant[]): Participant[] {
  const at = (p: Participant) => {
    const ms = Date.parse(p.handRaisedAt ?? "");
    return Number.isNaN(ms) ? Number.MAX_SAFE_INTEGER : ms;
  };
  return participants.filter((p) => p.handRaisedAt).sort((a, b) => at(a) - at(b) || a.name.localeCompare(b.name));
}
