/**
 * The TypeScript mirror of `src-tauri/BRIDGE.md`: the commands, events and video-lane contract
 * between the Rust shell and this UI. Keep both in step; the names here are the ones on the wire.
 *
 * The UI talks to a `Bridge`: the Tauri one in the app, or a mock (loaded by dynamic import only
 * when `window.__TAURI_INTERNALS__` is absent) that simulates a meeting for development.
 */

export type ErrorCode =
  | "invalid_link"
  | "unreachable"
  | "unauthorized"
  | "room_full"
  | "denied"
  | "camera_busy"
  | "camera_missing"
  | "microphone_missing"
  | "speaker_missing"
  | "lobby_timeout"
  | "cancelled"
  | "no_keychain"
  | "keychain_locked"
  | "not_allowed"
  | "session_expired"
  | "login_failed"
  | "wrong_pin"
  | "offline_locked"
  | "no_offline_pin"
  | "weak_pin"
  | "model_missing"
  | "model_invalid"
  | "speech_unavailable"
  | "transcript_missing"
  | "not_connected"
  | "protocol"
  | "internal";

/** Every `ErrorCode`, so that tests can check each has its translated sentence. */
export const ERROR_CODES: readonly ErrorCode[] = [
  "invalid_link",
  "unreachable",
  "unauthorized",
  "room_full",
  "denied",
  "camera_busy",
  "camera_missing",
  "microphone_missing",
  "speaker_missing",
  "lobby_timeout",
  "cancelled",
  "no_keychain",
  "keychain_locked",
  "not_allowed",
  "session_expired",
  "login_failed",
  "wrong_pin",
  "offline_locked",
  "no_offline_pin",
  "weak_pin",
  "model_missing",
  "model_invalid",
  "speech_unavailable",
  "transcript_missing",
  "not_connected",
  "protocol",
  "internal",
];

/** What a failing command rejects with. */
export interface AppError {
  code: ErrorCode;
  message: string;
}

export type Language = "fr" | "en";
export type LowBandwidthMode = "off" | "audio-only" | "speaker-only";
export const LOW_BANDWIDTH_MODES: readonly LowBandwidthMode[] = ["off", "audio-only", "speaker-only"];

export interface AppInfo {
  version: string;
  locale: Language;
  launchLink: string | null;
  autoJoin: boolean;
  defaultServer: string;
  videoLane: { url: string };
}

export interface RoomRef {
  server: string;
  roomCode: string;
  link: string;
}

export interface RecentRoom extends RoomRef {
  /** ISO 8601. */
  lastJoinedAt: string;
}

export interface Settings {
  language: Language;
  displayName: string;
  lowBandwidth: LowBandwidthMode;
  captions: boolean;
  cameraId: string | null;
  microphoneId: string | null;
  speakerId: string | null;
  /** Compute captions on this machine (on-device speech recognition). */
  onDeviceCaptions: boolean;
  /** The installed speech model to use; `null` = the best installed. */
  captionsModel: string | null;
  /** Send the captions of my own microphone to the other participants (opt-in). */
  publishMyCaptions: boolean;
  /** Keep an encrypted transcript of each meeting's on-device captions. */
  saveTranscripts: boolean;
  /** Processor cores on-device captions may use, all participants together; `null` = half the machine's. */
  captionThreads: number | null;
  /** Names of the settings fixed by IT policy. */
  locked: string[];
}

export type SettingsUpdate = Partial<Omit<Settings, "locked">>;

/** A server the user uses (accounts, BRIDGE.md). `server` is its origin and its id. */
export interface Profile {
  server: string;
  kind: { type: "visio" } | { type: "liveKit"; apiKey: string } | { type: "local" };
  login: { type: "none" } | { type: "oidc"; issuer: string; clientId: string } | { type: "sessionCookie" };
  identity: Identity | null;
}

export interface Identity {
  sub: string;
  name: string | null;
  email: string | null;
  issuer: string;
}

export interface ProfilesInfo {
  profiles: Profile[];
  current: string | null;
}

/** `online`: the server confirmed the session now; `offline`: unreachable, the PIN may unlock. */
export interface SessionInfo {
  profile: Profile;
  identity: Identity | null;
  session: "online" | "offline";
  reason: string | null;
}

export type AddProfileRequest =
  | { kind: "liveKit"; server: string; apiKey: string; apiSecret: string }
  | { kind: "local"; server: string };

export interface Device {
  id: string;
  label: string;
  isDefault: boolean;
}

export interface Devices {
  cameras: Device[];
  microphones: Device[];
  speakers: Device[];
}

export type DeviceKind = "camera" | "microphone" | "speaker";
export const DEVICE_KINDS: readonly DeviceKind[] = ["camera", "microphone", "speaker"];

export type Quality = "excellent" | "good" | "poor" | "lost" | "unknown";
export const QUALITIES: readonly Quality[] = ["excellent", "good", "poor", "lost", "unknown"];

export type TrackSource = "camera" | "microphone" | "screen_share" | "screen_share_audio" | "unknown";

export interface TrackInfo {
  sid: string;
  kind: "audio" | "video";
  source: TrackSource;
  muted: boolean;
  width: number;
  height: number;
}

export interface Participant {
  identity: string;
  sid: string;
  name: string;
  isLocal: boolean;
  attributes: Record<string, string>;
  handRaisedAt: string | null;
  tracks: TrackInfo[];
  quality: Quality;
  speaking: boolean;
  /** Marked as a meeting room whose microphone carries several voices (on-device captions name each voice). */
  severalVoices: boolean;
}

export interface ChatMessage {
  id: string;
  fromIdentity: string;
  fromName: string;
  text: string;
  /** Unix milliseconds. */
  timestamp: number;
  isLocal: boolean;
}

export interface JoinRequest {
  link: string;
  displayName: string;
  cameraOn: boolean;
  micOn: boolean;
  cameraId?: string | null;
  microphoneId?: string | null;
  speakerId?: string | null;
}

export interface JoinResult {
  roomName: string;
  roomCode: string;
  link: string;
  /** The user administers the room: lobby admission and moderation. */
  isAdmin: boolean;
  local: Participant;
  participants: Participant[];
}

/** A remote video track the UI shows, at its size on screen in device pixels. */
export interface VideoTile {
  trackSid: string;
  width: number;
  height: number;
}

export type AccessLevel = "public" | "trusted" | "restricted";
export type LobbyStatus = "waiting" | "accepted" | "denied" | "unknown";

/** Someone in the waiting room, as an organiser sees them. */
export interface WaitingParticipant {
  id: string;
  name: string;
}

/** An installed speech-recognition model. */
export interface SpeechModel {
  name: string;
  /** Bytes. */
  size: number;
  /** Hex SHA-256 of the model file. */
  sha256: string;
}

/** `ready`: the voice-activity model and ONNX Runtime were found; `missing` names what is not. */
export interface SpeechStatus {
  ready: boolean;
  missing: string | null;
}

export interface ModelsInfo {
  /** Where the models are kept. */
  dir: string;
  models: SpeechModel[];
  speech: SpeechStatus;
  /** IT policy's `speechModelUrl`, offered by `install_model` with `fromPolicy`. */
  policyUrl: string | null;
}

/**
 * Exactly one source: a local `path` (a whisper.cpp file or a CTranslate2 Whisper folder or
 * `model.bin`, converted; with a `sha256`, the source file must match it), a `url` with its
 * `sha256`, or the policy's URL (`fromPolicy`) with its `sha256`.
 */
export type InstallModelRequest =
  | { name: string; path: string; sha256?: string }
  | { name: string; url: string; sha256: string }
  | { name: string; fromPolicy: true; sha256: string };

export interface TranscriptSummary {
  id: string;
  title: string;
  /** Number of lines. */
  lines: number;
  /** ISO 8601, when known. */
  startedAt: string | null;
}

export interface TranscriptLine {
  speaker: string;
  /** From the start of the meeting. */
  startMs: number;
  endMs: number;
  text: string;
}

export interface Transcript {
  id: string;
  title: string;
  lines: TranscriptLine[];
}

/** A line of a transcript that matched `search_transcripts`. */
export interface TranscriptHit {
  id: string;
  title: string;
  line: TranscriptLine;
}

export type ExportFormat = "md" | "vtt" | "srt";
export const EXPORT_FORMATS: readonly ExportFormat[] = ["md", "vtt", "srt"];

/** `room`: captions the room sends (LiveKit transcription); `device`: computed on this machine. */
export type CaptionSource = "room" | "device";

export type OnDeviceCaptionsState = "starting" | "on" | "off" | "failed";

/** The `onDeviceCaptions` event without its tag: started, stopped (with the transcript saved, if any), or failed. */
export interface OnDeviceCaptionsStatus {
  state: OnDeviceCaptionsState;
  code?: ErrorCode;
  reason?: string;
  transcriptId?: string;
}

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected";

export type RoomEvent =
  | { type: "participantConnected"; participant: Participant }
  | { type: "participantDisconnected"; identity: string }
  | { type: "participantUpdated"; participant: Participant }
  | { type: "trackPublished"; identity: string; track: TrackInfo }
  | { type: "trackUnpublished"; identity: string; trackSid: string }
  | { type: "trackMuted"; identity: string; trackSid: string; muted: boolean }
  | { type: "activeSpeakers"; identities: string[] }
  | { type: "connectionQuality"; identity: string; quality: Quality }
  | { type: "chatMessage"; message: ChatMessage }
  | { type: "reaction"; fromIdentity: string; emoji: string }
  | { type: "caption"; participantIdentity: string; segmentId: string; text: string; final: boolean; source: CaptionSource; voice?: number }
  | ({ type: "onDeviceCaptions" } & OnDeviceCaptionsStatus)
  | { type: "notification"; kind: string }
  | { type: "lobby"; status: LobbyStatus }
  | { type: "deviceUnavailable"; kind: DeviceKind; reason: string }
  | { type: "connectionState"; state: ConnectionState; reason?: string; code?: ErrorCode }
  | { type: "micLevel"; level: number };

export type AppEvent = { type: "openLink"; link: string };

/** Each command's request (`undefined` = the command takes none) and result. */
export interface Commands {
  app_info: [undefined, AppInfo];
  resolve_room: [{ input: string }, RoomRef];
  create_room: [{ server?: string; accessLevel?: AccessLevel }, RoomRef];
  recent_rooms: [undefined, RecentRoom[]];
  get_settings: [undefined, Settings];
  update_settings: [SettingsUpdate, Settings];
  list_devices: [undefined, Devices];
  start_preview: [{ cameraId: string | null; microphoneId: string | null }, void];
  stop_preview: [undefined, void];
  play_test_sound: [{ speakerId: string | null }, void];
  join: [JoinRequest, JoinResult];
  cancel_join: [undefined, void];
  waiting_participants: [undefined, WaitingParticipant[]];
  admit_participant: [{ id: string; allow: boolean }, void];
  mute_participant: [{ identity: string }, void];
  remove_participant: [{ identity: string }, void];
  leave: [undefined, void];
  set_microphone: [{ enabled: boolean }, void];
  set_camera: [{ enabled: boolean }, void];
  select_device: [{ kind: DeviceKind; id: string }, void];
  set_several_voices: [{ identity: string; enabled: boolean }, void];
  send_chat: [{ text: string }, ChatMessage];
  set_hand_raised: [{ raised: boolean }, void];
  send_reaction: [{ emoji: string }, void];
  set_video_subscriptions: [{ tiles: VideoTile[] }, void];
  set_low_bandwidth: [{ mode: LowBandwidthMode }, void];
  list_profiles: [undefined, ProfilesInfo];
  add_profile: [AddProfileRequest, Profile];
  login: [{ server: string; issuer?: string; clientId?: string }, Identity];
  logout: [{ server?: string } | undefined, { revoked: boolean; endSessionUrl: string | null }];
  whoami: [{ server?: string } | undefined, SessionInfo];
  set_pin: [{ server?: string; pin: string }, void];
  unlock_with_pin: [{ server?: string; pin: string }, Identity];
  list_models: [undefined, ModelsInfo];
  install_model: [InstallModelRequest, SpeechModel];
  verify_model: [{ name: string }, SpeechModel];
  remove_model: [{ name: string }, void];
  set_on_device_captions: [{ enabled: boolean }, void];
  list_transcripts: [undefined, TranscriptSummary[]];
  get_transcript: [{ id: string }, Transcript];
  search_transcripts: [{ query: string }, TranscriptHit[]];
  export_transcript: [{ id: string; format: ExportFormat }, { path: string; text: string }];
  delete_transcript: [{ id: string }, void];
}

export type CommandName = keyof Commands;
export type RequestOf<K extends CommandName> = Commands[K][0];
export type ResultOf<K extends CommandName> = Commands[K][1];

/** The subset of `WebSocket` the video lane uses, so the mock can stand in for it. */
export interface VideoSocket {
  binaryType: BinaryType;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  close(): void;
}

export type Unlisten = () => void;

export interface Bridge {
  /** `true` for the development mock, so the UI can say so. */
  readonly isMock: boolean;
  call<K extends CommandName>(cmd: K, request: RequestOf<K>): Promise<ResultOf<K>>;
  onRoomEvent(handler: (event: RoomEvent) => void): Promise<Unlisten>;
  onAppEvent(handler: (event: AppEvent) => void): Promise<Unlisten>;
  openVideoLane(url: string): VideoSocket;
}

/** Turns whatever a command rejected with into an `AppError` (unknown shapes become `internal`). */
export function toAppError(e: unknown): AppError {
  if (typeof e === "object" && e !== null && "code" in e) {
    const code = (e as { code: unknown }).code;
    const message = (e as { message?: unknown }).message;
    if (typeof code === "string" && (ERROR_CODES as readonly string[]).includes(code)) {
      return { code: code as ErrorCode, message: typeof message === "string" ? message : "" };
    }
  }
  if (e instanceof Error) return { code: "internal", message: e.message };
  return { code: "internal", message: typeof e === "string" ? e : JSON.stringify(e) ?? "" };
}

declare global {
  interface Window {
    __TAURI_INTERNALS__?: unknown;
  }
}

/** The Tauri bridge: `invoke` with one argument named `request`, events `room` and `app`. */
async function tauriBridge(): Promise<Bridge> {
  const [{ invoke }, { listen }] = await Promise.all([
    import("@tauri-apps/api/core"),
    import("@tauri-apps/api/event"),
  ]);
  return {
    isMock: false,
    call: (cmd, request) =>
      invoke(cmd, request === undefined ? undefined : { request }) as Promise<ResultOf<typeof cmd>>,
    onRoomEvent: (handler) => listen<RoomEvent>("room", (e) => handler(e.payload)),
    onAppEvent: (handler) => listen<AppEvent>("app", (e) => handler(e.payload)),
    openVideoLane: (url) => new WebSocket(url),
  };
}

/** The bridge for this window: Tauri's when hosted by the app, else the development mock. */
export async function connectBridge(): Promise<Bridge> {
  if (typeof window !== "undefined" && window.__TAURI_INTERNALS__ !== undefined) {
    return tauriBridge();
  }
  const { createMockBridge } = await import("./mock/mockBridge");
  return createMockBridge(new URLSearchParams(window.location.search));
}
