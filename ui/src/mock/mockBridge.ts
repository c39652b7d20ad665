/**
 * A development stand-in for the Rust side, loaded (by dynamic import) only when the page runs
 * outside Tauri, e.g. `npm run dev` in a browser: a meeting with a few participants who talk,
 * chat, raise hands and send captions, and synthetic I420 frames on a fake video lane built with
 * the real frame encoder. URL parameters shape it for screenshots:
 * `participants=N`, `screenshare=1`, `nocamera=1`, `nomic=1`, `busy=1`,
 * `locked=language,lowBandwidth`, `lang=en`, `link=…` (launch link), `cameras=all` (every
 * participant has a camera), `lane=ws://…` (a real video lane: the rendering benchmark),
 * `reconnect=1` (reconnecting from 2 s to 12 s), `lost=1` (connection lost for good at 3 s),
 * `waiting=1` (someone waits in the lobby), `admin=1` (the user organises the room: lobby requests
 * and moderation), `devicelost=1` (the camera stops at 2 s), `accounts=1` (a signed-in Visio
 * profile and the local server), `offline=1` (its server unreachable: the PIN `246810` unlocks,
 * five wrong PINs block it).
 * Speech: two installed models; `nospeech=1` (the voice-activity model is missing), `nomodels=1`,
 * `speechpolicy=1` (IT policy gives a model address), `tampered=1` (the first model changed on
 * disk), `devicecaptions=1` (on-device captions on from the start). Transcripts: three saved
 * meetings; `keychainlocked=1` (their key cannot be read), `notranscripts=1`. On-device captions
 * in a meeting send `device` captions of whoever speaks and, when they stop, save a transcript.
 * Room codes starting with `zzz` answer `room_full`, `den` `denied`, `lob` wait in the lobby
 * (admitted after 4 s unless `cancel_join`), and links to a host named
 * `down.example` answer `unreachable`.
 */

import type {
  AppEvent,
  Bridge,
  ChatMessage,
  CommandName,
  Devices,
  ExportFormat,
  ModelsInfo,
  Participant,
  Profile,
  Quality,
  RecentRoom,
  RequestOf,
  ResultOf,
  RoomEvent,
  Settings,
  SpeechModel,
  TrackInfo,
  TranscriptHit,
  TranscriptLine,
  TranscriptSummary,
  VideoSocket,
  VideoTile,
} from "../bridge";
import { normalizeRoomCode } from "../roomCode";
import { encodeFrame, rgbToYuv } from "../video/frame";

const NAMES = [
  "Camille Martin", "Léa Bernard", "Hugo Dubois", "Chloé Thomas", "Louis Robert", "Manon Richard",
  "Nathan Petit", "Inès Durand", "Jules Leroy", "Emma Moreau", "Lucas Simon", "Jade Laurent",
  "Gabriel Lefebvre", "Louise Michel", "Arthur Garcia", "Alice David", "Raphaël Bertrand",
  "Lina Roux", "Adam Vincent", "Rose Fournier", "Paul Morel", "Anna Girard", "Léo André",
  "Zoé Mercier", "Tom Blanc", "Mila Guerin", "Noah Boyer", "Lou Garnier", "Ethan Chevalier",
];

const COLOURS: Array<[number, number, number]> = [
  [0, 0, 145], [225, 0, 15], [24, 117, 60], [200, 140, 0], [110, 68, 90], [0, 99, 203], [160, 60, 0],
];

function err(code: string, message: string): { code: string; message: string } {
  return { code, message };
}

function video(sid: string, source: TrackInfo["source"], muted = false): TrackInfo {
  return { sid, kind: "video", source, muted, width: 1280, height: 720 };
}

function audio(sid: string, muted: boolean): TrackInfo {
  return { sid, kind: "audio", source: "microphone", muted, width: 0, height: 0 };
}

interface StoredTranscript {
  id: string;
  title: string;
  startedAt: string | null;
  lines: TranscriptLine[];
}

/** `[speaker, seconds from the start, text]` lines of a fake meeting. */
function lines(rows: Array<[string, number, string]>): TranscriptLine[] {
  return rows.map(([speaker, s, text]) => ({ speaker, startMs: s * 1000, endMs: s * 1000 + 400 * text.split(" ").length, text }));
}

function fakeTranscripts(now: number): StoredTranscript[] {
  return [
    {
      id: "tr-ddd-equi-pex-1",
      title: "Réunion ddd-equi-pex",
      startedAt: new Date(now - 3600e3 - 1800e3).toISOString(),
      lines: lines([
        ["Camille Martin", 4, "Bonjour à toutes et à tous, merci d’être là."],
        ["Camille Martin", 9, "Nous allons commencer par le point budgétaire puis passer aux questions."],
        ["Léa Bernard", 21, "Le budget 2026 est en hausse de trois pour cent sur le fonctionnement."],
        ["Hugo Dubois", 37, "Est-ce que cela comprend le renouvellement des postes de travail ?"],
        ["Léa Bernard", 44, "Oui, le renouvellement est inclus dans l’enveloppe informatique."],
        ["Dominique Agent", 58, "Je propose d’envoyer le détail du budget par écrit avant vendredi."],
        ["Camille Martin", 71, "Très bien. Passons aux questions diverses."],
        ["Chloé Thomas", 83, "La formation à Visio est prévue le douze décembre."],
        ["Camille Martin", 3725, "Merci à tous, bonne fin de journée."],
      ]),
    },
    {
      id: "tr-hbd-ossi-erq-1",
      title: "Point hebdomadaire hbd-ossi-erq",
      startedAt: new Date(now - 86400e3 * 2).toISOString(),
      lines: lines([
        ["Louis Robert", 2, "On fait un tour de table rapide ?"],
        ["Manon Richard", 8, "De mon côté, la migration de la messagerie avance bien."],
        ["Dominique Agent", 19, "J’ai relu la note sur le budget, deux remarques à intégrer."],
        ["Louis Robert", 33, "Merci, on en reparle jeudi."],
      ]),
    },
    {
      id: "tr-import-1",
      title: "Atelier accessibilité",
      startedAt: null,
      lines: lines([["Inès Durand", 5, "Les sous-titres aident aussi les personnes qui suivent sans le son."]]),
    },
  ];
}

const DEVICE_PHRASES = [
  "Je partage l’écran dans un instant.",
  "Pouvez-vous répéter la dernière question ?",
  "Le compte rendu sera envoyé demain matin.",
  "Je suis d’accord avec cette proposition.",
  "Il faudra valider le budget avec la direction.",
];

function clock(ms: number, sep: string): string {
  const two = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${two(Math.floor(ms / 3600000))}:${two(Math.floor(ms / 60000) % 60)}:${two(Math.floor(ms / 1000) % 60)}${sep}${two(ms % 1000, 3)}`;
}

/** The export formats as the Rust `speech` crate writes them. */
function exportText(t: StoredTranscript, format: ExportFormat): string {
  switch (format) {
    case "md":
      return [`# ${t.title}`, "", ...t.lines.map((l) => `**${l.speaker}** (${clock(l.startMs, ".").slice(0, 8)}) : ${l.text}`)].join("\n") + "\n";
    case "vtt":
      return ["WEBVTT", "", ...t.lines.flatMap((l) => [`${clock(l.startMs, ".")} --> ${clock(l.endMs, ".")}`, `<v ${l.speaker}>${l.text}`, ""])].join("\n");
    case "srt":
      return t.lines.flatMap((l, i) => [String(i + 1), `${clock(l.startMs, ",")} --> ${clock(l.endMs, ",")}`, `${l.speaker}: ${l.text}`, ""]).join("\n");
  }
}

/** A fake SHA-256 from a string (64 hex digits, stable). */
function fakeSha(seed: string): string {
  let h = 0x811c9dc5;
  let out = "";
  while (out.length < 64) {
    for (const c of seed + out.length) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
    out += h.toString(16).padStart(8, "0");
  }
  return out.slice(0, 64);
}

class FakeLane implements VideoSocket {
  binaryType: BinaryType = "blob";
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  private timer: ReturnType<typeof setInterval>;
  private counters = new Map<string, number>();

  constructor(private readonly mock: MockBridge) {
    this.timer = setInterval(() => this.tick(), 1000 / 15);
  }

  private tick(): void {
    if (!this.onmessage) return;
    for (const [trackId, size, colour] of this.mock.wantedFrames()) {
      const n = (this.counters.get(trackId) ?? 0) + 1;
      this.counters.set(trackId, n);
      const data = synthFrame(trackId, size.width, size.height, n, colour);
      this.onmessage(new MessageEvent("message", { data }));
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** Colour bars with a moving white bar, like the engine's synthetic source. */
function synthFrame(trackId: string, width: number, height: number, n: number, colour: [number, number, number]): ArrayBuffer {
  const w = Math.max(2, Math.min(640, width)) & ~1;
  const h = Math.max(2, Math.min(360, height)) & ~1;
  const cw = w / 2;
  const ch = h / 2;
  const y = new Uint8Array(w * h);
  const u = new Uint8Array(cw * ch);
  const v = new Uint8Array(cw * ch);
  const [by, bu, bv] = rgbToYuv(...colour);
  const [ly, lu, lv] = rgbToYuv(colour[0] / 2 + 100, colour[1] / 2 + 100, colour[2] / 2 + 100);
  const bar = Math.floor(((n * 4) % w) / 2) * 2;
  const barW = Math.max(4, Math.floor(w / 24)) & ~1;
  for (let row = 0; row < h; row++) {
    const lower = row > h * 0.7;
    for (let col = 0; col < w; col++) {
      const inBar = col >= bar && col < bar + barW;
      y[row * w + col] = inBar ? 235 : lower ? ly : by;
    }
  }
  for (let row = 0; row < ch; row++) {
    const lower = row > ch * 0.7;
    for (let col = 0; col < cw; col++) {
      const inBar = col * 2 >= bar && col * 2 < bar + barW;
      u[row * cw + col] = inBar ? 128 : lower ? lu : bu;
      v[row * cw + col] = inBar ? 128 : lower ? lv : bv;
    }
  }
  return encodeFrame({ trackId, width: w, height: h, counter: n, y, u, v });
}

class MockBridge implements Bridge {
  readonly isMock = true;
  private roomHandlers = new Set<(e: RoomEvent) => void>();
  private appHandlers = new Set<(e: AppEvent) => void>();
  private timers: Array<ReturnType<typeof setInterval>> = [];
  private participants: Participant[] = [];
  private subscriptions: VideoTile[] = [];
  private previewOn = false;
  private localCamera = false;
  private localMic = false;
  private localName = "";
  private lobbyCancel: (() => void) | null = null;
  private waitingList: Array<{ id: string; name: string }> = [];
  private settings: Settings;
  private recent: RecentRoom[];
  private devices: Devices;
  private profiles: Profile[] = [];
  private wrongPins = 0;
  private models: SpeechModel[];
  private transcripts: StoredTranscript[];
  private roomCode = "";
  private meetingStart = 0;
  private deviceTimer: ReturnType<typeof setInterval> | null = null;
  private deviceLines: TranscriptLine[] = [];

  constructor(private readonly params: URLSearchParams) {
    const locked = (params.get("locked") ?? "").split(",").filter((s) => s.length > 0);
    this.settings = {
      language: params.get("lang") === "en" ? "en" : "fr",
      displayName: "Dominique Agent",
      lowBandwidth: "off",
      captions: false,
      cameraId: null,
      microphoneId: null,
      speakerId: null,
      onDeviceCaptions: params.get("devicecaptions") !== null,
      captionsModel: null,
      captionThreads: null,
      publishMyCaptions: false,
      saveTranscripts: true,
      locked,
    };
    this.models = params.get("nomodels")
      ? []
      : [
          { name: "whisper-base-fr", size: 147_951_465, sha256: fakeSha("whisper-base-fr") },
          { name: "whisper-small", size: 487_601_967, sha256: fakeSha("whisper-small") },
        ];
    this.transcripts = params.get("notranscripts") ? [] : fakeTranscripts(Date.now());
    if (params.get("accounts")) {
      const identity = { sub: "u-42", name: "Dominique Agent", email: "dominique.agent@interieur.gouv.fr", issuer: "https://visio.numerique.gouv.fr" };
      this.profiles = [
        { server: "https://visio.numerique.gouv.fr", kind: { type: "visio" }, login: { type: "sessionCookie" }, identity },
        { server: "http://127.0.0.1:7880", kind: { type: "local" }, login: { type: "none" }, identity: null },
      ];
    }
    const now = Date.now();
    this.recent = [
      { server: "https://visio.numerique.gouv.fr", roomCode: "ddd-equi-pex", link: "https://visio.numerique.gouv.fr/ddd-equi-pex", lastJoinedAt: new Date(now - 3600e3).toISOString() },
      { server: "https://visio.numerique.gouv.fr", roomCode: "hbd-ossi-erq", link: "https://visio.numerique.gouv.fr/hbd-ossi-erq", lastJoinedAt: new Date(now - 86400e3 * 2).toISOString() },
    ];
    this.devices = {
      cameras: params.get("nocamera") ? [] : [
        { id: "cam-1", label: "Caméra intégrée", isDefault: true },
        { id: "cam-2", label: "Logitech C920", isDefault: false },
      ],
      microphones: params.get("nomic") ? [] : [
        { id: "mic-1", label: "Microphone interne", isDefault: true },
        { id: "mic-2", label: "Casque Jabra", isDefault: false },
      ],
      speakers: [
        { id: "spk-1", label: "Haut-parleurs internes", isDefault: true },
        { id: "spk-2", label: "Casque Jabra", isDefault: false },
      ],
    };
  }

  async call<K extends CommandName>(cmd: K, request: RequestOf<K>): Promise<ResultOf<K>> {
    await new Promise((r) => setTimeout(r, 30));
    return this.handle(cmd, request) as ResultOf<K>;
  }

  private emit(e: RoomEvent): void {
    for (const h of this.roomHandlers) h(e);
  }

  private resolve(input: string): { server: string; roomCode: string; link: string } {
    const code = normalizeRoomCode(input);
    if (code === null) throw err("invalid_link", `not a Visio link or room code: ${input.slice(0, 80)}`);
    const m = /^[a-z]+:\/\/([^/]+)/i.exec(input.trim());
    const host = m?.[1] ?? "visio.numerique.gouv.fr";
    if (host === "down.example") throw err("unreachable", `connect to https://${host}: connection refused`);
    const server = `https://${host}`;
    return { server, roomCode: code, link: `${server}/${code}` };
  }

  private handle(cmd: CommandName, request: unknown): unknown {
    const req = request as Record<string, unknown>;
    switch (cmd) {
      case "app_info":
        return {
          version: "0.1.0-mock",
          locale: this.settings.language,
          launchLink: this.params.get("link"),
          autoJoin: false,
          defaultServer: "https://visio.numerique.gouv.fr",
          videoLane: { url: this.params.get("lane") ?? "mock://video" },
        };
      case "resolve_room":
        return this.resolve(String(req.input));
      case "create_room": {
        const letters = Array.from({ length: 10 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("");
        return this.resolve(letters);
      }
      case "recent_rooms":
        return this.recent;
      case "get_settings":
        return this.settings;
      case "update_settings": {
        const patch = { ...req };
        for (const k of this.settings.locked) delete patch[k];
        this.settings = { ...this.settings, ...patch };
        return this.settings;
      }
      case "list_profiles":
        return { profiles: this.profiles, current: this.profiles[0]?.server ?? null };
      case "whoami": {
        const p = this.profiles.find((x) => x.server === req?.server) ?? this.profiles[0];
        if (!p) throw err("session_expired", "no profile");
        const offline = this.params.get("offline") && p.kind.type === "visio";
        return { profile: p, identity: p.identity, session: offline ? "offline" : "online", reason: offline ? `${p.server} is unreachable: connection refused` : null };
      }
      case "unlock_with_pin": {
        const p = this.profiles.find((x) => x.server === req.server) ?? this.profiles[0];
        if (this.wrongPins >= 5) throw err("offline_locked", "");
        if (req.pin !== "246810") {
          this.wrongPins++;
          throw err("wrong_pin", `wrong PIN (${5 - this.wrongPins} attempts left before offline unlock is locked)`);
        }
        return p?.identity;
      }
      case "set_pin":
        if (String(req.pin).length < 6) throw err("weak_pin", "");
        return undefined;
      case "login": {
        const server = String(req.server).replace(/\/+$/, "");
        if (!/^https?:\/\/[^/\s]+$/.test(server)) throw err("invalid_link", `"${server}" is not a valid server address`);
        const identity = { sub: "u-42", name: "Dominique Agent", email: null, issuer: server };
        this.profiles = [...this.profiles.filter((x) => x.server !== server), { server, kind: { type: "visio" }, login: { type: "sessionCookie" }, identity }];
        return identity;
      }
      case "add_profile": {
        const server = String(req.server);
        const kind: Profile["kind"] = req.kind === "local" ? { type: "local" } : { type: "liveKit", apiKey: String(req.apiKey) };
        const p: Profile = { server, kind, login: { type: "none" }, identity: null };
        this.profiles = [...this.profiles.filter((x) => x.server !== server), p];
        return p;
      }
      case "logout":
        this.profiles = this.profiles.filter((x) => x.server !== req?.server);
        return { revoked: false, endSessionUrl: null };
      case "list_devices":
        return this.devices;
      case "start_preview":
        if (req.cameraId !== null && this.devices.cameras.length === 0) throw err("camera_missing", "no video device");
        if (req.cameraId === "cam-2" && this.params.get("busy")) throw err("camera_busy", "/dev/video1: device or resource busy");
        this.previewOn = req.cameraId !== null;
        this.startMicLevel();
        return undefined;
      case "stop_preview":
        this.previewOn = false;
        return undefined;
      case "play_test_sound":
        return undefined;
      case "join": {
        const r = req as unknown as RequestOf<"join">;
        if (!this.resolve(r.link).roomCode.startsWith("lob")) return this.join(r);
        this.emit({ type: "lobby", status: "waiting" });
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => {
            this.lobbyCancel = null;
            this.emit({ type: "lobby", status: "accepted" });
            try {
              resolve(this.join(r));
            } catch (e) {
              reject(e);
            }
          }, 4000);
          this.lobbyCancel = () => {
            clearTimeout(timer);
            this.emit({ type: "lobby", status: "unknown" });
            reject(err("cancelled", "cancelled"));
          };
        });
      }
      case "cancel_join":
        this.lobbyCancel?.();
        this.lobbyCancel = null;
        return undefined;
      case "waiting_participants":
        return this.waitingList;
      case "admit_participant":
        this.waitingList = this.waitingList.filter((w) => w.id !== req.id);
        return undefined;
      case "mute_participant": {
        const p = this.participants.find((x) => x.identity === req.identity);
        const mic = p?.tracks.find((t) => t.source === "microphone");
        if (p && mic) this.emit({ type: "trackMuted", identity: p.identity, trackSid: mic.sid, muted: true });
        return undefined;
      }
      case "remove_participant":
        this.participants = this.participants.filter((x) => x.identity !== req.identity);
        this.emit({ type: "participantDisconnected", identity: String(req.identity) });
        return undefined;
      case "leave":
        this.stopMeeting();
        return undefined;
      case "set_microphone":
        if (req.enabled === true && this.devices.microphones.length === 0) throw err("microphone_missing", "no audio input device");
        this.localMic = req.enabled === true;
        return undefined;
      case "set_camera":
        if (req.enabled === true && this.devices.cameras.length === 0) throw err("camera_missing", "no video device");
        this.localCamera = req.enabled === true;
        return undefined;
      case "select_device":
        return undefined;
      case "set_several_voices": {
        const p = this.participants.find((x) => x.identity === req.identity && !x.isLocal);
        if (!p) throw err("internal", `no participant ${String(req.identity)}`);
        p.severalVoices = req.enabled === true;
        this.emit({ type: "participantUpdated", participant: { ...p } });
        return undefined;
      }
      case "send_chat": {
        const text = String(req.text);
        const msg: ChatMessage = { id: `m${Date.now()}`, fromIdentity: "me", fromName: this.localName, text, timestamp: Date.now(), isLocal: true };
        setTimeout(() => this.botSays(`Bien reçu : « ${text.slice(0, 40)} »`), 800);
        return msg;
      }
      case "set_hand_raised":
        return undefined;
      case "send_reaction":
        this.emit({ type: "reaction", fromIdentity: "me", emoji: String(req.emoji) });
        return undefined;
      case "set_video_subscriptions":
        this.subscriptions = (req.tiles as VideoTile[]) ?? [];
        return undefined;
      case "set_low_bandwidth":
        this.lowBandwidth = String(req.mode);
        return undefined;
      case "list_models":
        return this.modelsInfo();
      case "install_model":
        return this.installModel(req as unknown as RequestOf<"install_model">);
      case "verify_model": {
        const m = this.models.find((x) => x.name === req.name);
        if (!m) throw err("model_missing", `${String(req.name)}: not installed`);
        if (this.params.get("tampered") && m === this.models[0]) throw err("model_invalid", `${m.name}.bin: SHA-256 is ${fakeSha("tampered")}, expected ${m.sha256}`);
        return m;
      }
      case "remove_model":
        this.models = this.models.filter((x) => x.name !== req.name);
        if (this.settings.captionsModel === req.name) this.settings = { ...this.settings, captionsModel: null };
        return undefined;
      case "set_on_device_captions": {
        const enabled = req.enabled === true;
        if (this.settings.locked.includes("onDeviceCaptions")) throw err("not_allowed", "onDeviceCaptions is set by IT policy");
        if (enabled) this.speechProblem();
        this.settings = { ...this.settings, onDeviceCaptions: enabled };
        if (this.timers.length > 0) {
          if (enabled) this.startDeviceCaptions();
          else this.stopDeviceCaptions();
        }
        return undefined;
      }
      case "list_transcripts":
        this.keychain();
        return this.transcripts
          .map((x): TranscriptSummary => ({ id: x.id, title: x.title, lines: x.lines.length, startedAt: x.startedAt }))
          .sort((a, b) => (b.startedAt ?? "").localeCompare(a.startedAt ?? ""));
      case "get_transcript": {
        this.keychain();
        const x = this.transcript(String(req.id));
        return { id: x.id, title: x.title, lines: x.lines };
      }
      case "search_transcripts": {
        this.keychain();
        const q = String(req.query).trim().toLowerCase();
        if (q === "") return [];
        return this.transcripts.flatMap((x) =>
          x.lines.filter((l) => l.text.toLowerCase().includes(q) || l.speaker.toLowerCase().includes(q)).map((line): TranscriptHit => ({ id: x.id, title: x.title, line })),
        );
      }
      case "export_transcript": {
        this.keychain();
        const x = this.transcript(String(req.id));
        const format = req.format as ExportFormat;
        const slug = x.title.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "").toLowerCase();
        const folder = this.settings.language === "fr" ? "Téléchargements" : "Downloads";
        return { path: `/home/dominique/${folder}/${slug}.${format}`, text: exportText(x, format) };
      }
      case "delete_transcript":
        this.transcripts = this.transcripts.filter((x) => x.id !== req.id);
        return undefined;
    }
    return undefined;
  }

  private modelsInfo(): ModelsInfo {
    const noSpeech = this.params.get("nospeech") !== null;
    return {
      dir: "/home/dominique/.local/share/visio-desktop/models",
      models: this.models,
      speech: { ready: !noSpeech, missing: noSpeech ? "silero_vad.onnx (voice-activity model)" : null },
      policyUrl: this.params.get("speechpolicy") ? "https://modeles.interieur.gouv.fr/whisper/ggml-small-fr.bin" : null,
    };
  }

  /** What keeps on-device captions from starting, as `set_on_device_captions` rejects. */
  private speechProblem(): void {
    const info = this.modelsInfo();
    if (!info.speech.ready) throw err("speech_unavailable", `${info.speech.missing} not found`);
    if (info.models.length === 0) throw err("model_missing", `no model in ${info.dir}`);
  }

  private installModel(req: RequestOf<"install_model">): Promise<SpeechModel> {
    const name = req.name;
    if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name)) throw err("model_invalid", `bad model name "${name}"`);
    let size = 75_538_270;
    if ("path" in req) {
      if (!/(\.bin|ct2[^/]*\/?|whisper[^/]*\/?)$/i.test(req.path)) throw err("model_invalid", `${req.path}: unknown format (neither a whisper.cpp file nor a CTranslate2 model)`);
      if (/medium/i.test(req.path)) size = 1_533_763_059;
      if (req.sha256 !== undefined && /^0+$/.test(req.sha256)) throw err("model_invalid", `${req.path}: checksum mismatch: expected ${req.sha256}, found ${fakeSha(req.path)}`);
    } else {
      const url = "fromPolicy" in req ? this.modelsInfo().policyUrl : req.url;
      if (url === null) throw err("not_allowed", "IT policy gives no speechModelUrl");
      if (/^https?:\/\/down\.example/.test(url)) throw err("unreachable", `${url}: connection refused`);
      if (!/^[0-9a-f]{64}$/i.test(req.sha256.trim())) throw err("model_invalid", "the SHA-256 must be 64 hexadecimal digits");
      if (/^0+$/.test(req.sha256.trim())) throw err("model_invalid", `checksum mismatch: expected ${req.sha256}, found ${fakeSha(url)}`);
      size = 487_601_967;
    }
    const model: SpeechModel = { name, size, sha256: fakeSha(name + size) };
    this.models = [...this.models.filter((x) => x.name !== name), model].sort((a, b) => a.name.localeCompare(b.name));
    // A download or a conversion takes a moment.
    return new Promise((r) => setTimeout(() => r(model), 600));
  }

  private keychain(): void {
    if (this.params.get("keychainlocked")) throw err("keychain_locked", "org.freedesktop.Secret.Error.IsLocked: the collection is locked");
  }

  private transcript(id: string): StoredTranscript {
    const x = this.transcripts.find((t) => t.id === id);
    if (!x) throw err("transcript_missing", `no transcript ${id}`);
    return x;
  }

  /** On-device captions in the meeting: `starting`, `on`, then a `device` caption of whoever speaks every 2.5 s. */
  private startDeviceCaptions(): void {
    if (this.deviceTimer !== null) return;
    this.emit({ type: "onDeviceCaptions", state: "starting" });
    let n = 0;
    this.deviceTimer = setInterval(() => {
      n++;
      if (n === 1) return this.emit({ type: "onDeviceCaptions", state: "on" });
      const speaker = this.participants[n % Math.max(1, this.participants.length)];
      const identity = n % 3 === 0 && this.localMic ? "me" : speaker?.identity;
      if (!identity) return;
      const name = identity === "me" ? this.localName : speaker?.name ?? identity;
      const text = DEVICE_PHRASES[n % DEVICE_PHRASES.length] ?? "";
      const segmentId = `dev-${n}`;
      const startMs = Date.now() - this.meetingStart;
      this.emit({ type: "caption", participantIdentity: identity, segmentId, text: text.split(" ").slice(0, 3).join(" "), final: false, source: "device" });
      // A meeting room (marked in the participants panel): its two voices take turns.
      const voice = speaker?.severalVoices && identity === speaker.identity ? 1 + (n % 2) : undefined;
      setTimeout(() => {
        if (this.deviceTimer === null) return;
        this.emit({ type: "caption", participantIdentity: identity, segmentId, text, final: true, source: "device", ...(voice ? { voice } : {}) });
        const speakerLabel = voice ? `${name} – intervenant ${voice}` : name;
        this.deviceLines.push({ speaker: speakerLabel, startMs, endMs: Date.now() - this.meetingStart, text });
      }, 500);
    }, 1200);
  }

  /** Stops them: `off`, naming the transcript saved when there is one to keep. */
  private stopDeviceCaptions(): void {
    if (this.deviceTimer === null) return;
    clearInterval(this.deviceTimer);
    this.deviceTimer = null;
    let transcriptId: string | undefined;
    if (this.settings.saveTranscripts && this.deviceLines.length > 0) {
      transcriptId = `tr-${this.roomCode}-${Date.now()}`;
      this.transcripts = [{ id: transcriptId, title: `Réunion ${this.roomCode}`, startedAt: new Date(this.meetingStart).toISOString(), lines: this.deviceLines }, ...this.transcripts];
    }
    this.deviceLines = [];
    this.emit(transcriptId ? { type: "onDeviceCaptions", state: "off", transcriptId } : { type: "onDeviceCaptions", state: "off" });
  }

  private micTimer: ReturnType<typeof setInterval> | null = null;

  private startMicLevel(): void {
    if (this.micTimer !== null) return;
    let phase = 0;
    this.micTimer = setInterval(() => {
      phase += 1;
      const level = Math.max(0, Math.sin(phase / 3) * 0.5 + 0.35 + Math.random() * 0.15);
      const inMeetingMuted = this.timers.length > 0 && !this.localMic;
      this.emit({ type: "micLevel", level: inMeetingMuted ? 0 : Math.min(1, level) });
    }, 1000 / 15);
  }

  private botSays(text: string): void {
    const bot = this.participants[0];
    if (!bot) return;
    this.emit({
      type: "chatMessage",
      message: { id: `b${Date.now()}${Math.random()}`, fromIdentity: bot.identity, fromName: bot.name, text, timestamp: Date.now(), isLocal: false },
    });
  }

  private join(req: RequestOf<"join">): unknown {
    const { roomCode, link } = this.resolve(req.link);
    if (roomCode.startsWith("zzz")) throw err("room_full", "room has reached its participant limit");
    if (roomCode.startsWith("den")) throw err("denied", "lobby: entry refused");
    this.localName = req.displayName;
    this.localCamera = req.cameraOn;
    this.localMic = req.micOn;
    const count = Math.max(1, Math.min(60, Number(this.params.get("participants") ?? "5") || 5));
    const qualities: Quality[] = ["excellent", "good", "excellent", "poor", "good"];
    this.participants = Array.from({ length: count - 1 }, (_, i) => {
      const tracks: TrackInfo[] = [audio(`TR_a${i}`, i % 3 === 1)];
      if (i % 4 !== 3 || this.params.get("cameras") === "all") tracks.push(video(`TR_v${i}`, "camera"));
      if (i === 1 && this.params.get("screenshare")) tracks.push(video(`TR_s${i}`, "screen_share"));
      return {
        identity: `user-${i}`,
        sid: `PA_${i}`,
        name: NAMES[i % NAMES.length] ?? `P${i}`,
        isLocal: false,
        attributes: {},
        // Hands raised a minute ago (user-2) and, for an organiser, ten seconds ago (user-0).
        handRaisedAt: i === 2 ? new Date(Date.now() - 60e3).toISOString() : i === 0 && this.params.get("admin") ? new Date(Date.now() - 10e3).toISOString() : null,
        tracks,
        quality: qualities[i % qualities.length] ?? "good",
        speaking: false,
        severalVoices: false,
      };
    });
    const local: Participant = {
      identity: "me",
      sid: "PA_me",
      name: req.displayName,
      isLocal: true,
      attributes: {},
      handRaisedAt: null,
      tracks: [audio("TR_me_a", !req.micOn), video("TR_me_v", "camera", !req.cameraOn)],
      quality: "excellent",
      speaking: false,
      severalVoices: false,
    };
    this.roomCode = roomCode;
    this.meetingStart = Date.now();
    this.startMeeting();
    if (this.settings.onDeviceCaptions) {
      // Started by the engine as the meeting starts, or reported as failed.
      setTimeout(() => {
        try {
          this.speechProblem();
          this.startDeviceCaptions();
        } catch (e) {
          const { code, message } = e as { code: "model_missing" | "speech_unavailable"; message: string };
          this.emit({ type: "onDeviceCaptions", state: "failed", code, reason: message });
        }
      }, 300);
    }
    return { roomName: roomCode, roomCode, link, isAdmin: this.params.get("admin") !== null, local, participants: this.participants };
  }

  private startMeeting(): void {
    let tick = 0;
    this.timers.push(
      setInterval(() => {
        tick++;
        const n = this.participants.length;
        if (n === 0) return;
        const speaker = this.participants[Math.floor(tick / 2) % n];
        this.emit({ type: "activeSpeakers", identities: speaker ? [speaker.identity] : [] });
        if (tick === 3) this.botSays("Bonjour à toutes et à tous !");
        if (tick % 5 === 0 && speaker) {
          const seg = `seg-${Math.floor(tick / 5)}`;
          const words = "Nous allons commencer par le point budgétaire puis passer aux questions".split(" ");
          this.emit({ type: "caption", participantIdentity: speaker.identity, segmentId: seg, text: words.slice(0, 5).join(" "), final: false, source: "room" });
          setTimeout(() => this.emit({ type: "caption", participantIdentity: speaker.identity, segmentId: seg, text: words.join(" ") + ".", final: true, source: "room" }), 700);
        }
        if (tick === 6) this.emit({ type: "reaction", fromIdentity: this.participants[0]?.identity ?? "", emoji: "👏" });
        if (this.params.get("reconnect") && tick === 2) this.emit({ type: "connectionState", state: "reconnecting" });
        if (this.params.get("reconnect") && tick === 12) this.emit({ type: "connectionState", state: "connected" });
        if (this.params.get("lost") && tick === 3) this.emit({ type: "connectionState", state: "disconnected", reason: "signalling closed, resume failed after 15 s", code: "not_connected" });
        if (this.params.get("waiting") && tick === 2) {
          this.waitingList = [
            { id: "lobby-1", name: "Dominique Martin" },
            { id: "lobby-2", name: "Sacha Leroy" },
          ];
          this.emit({ type: "notification", kind: "participantWaiting" });
        }
        if (this.params.get("devicelost") && tick === 2) this.emit({ type: "deviceUnavailable", kind: "camera", reason: "/dev/video0: No such device" });
      }, 1000),
    );
  }

  private stopMeeting(): void {
    this.stopDeviceCaptions();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.participants = [];
    this.subscriptions = [];
  }

  /** Tracks to send now with their sizes: the subscribed remote ones, and the local camera. */
  wantedFrames(): Array<[string, { width: number; height: number }, [number, number, number]]> {
    const out: Array<[string, { width: number; height: number }, [number, number, number]]> = [];
    if (this.previewOn || this.localCamera) out.push(["local-camera", { width: 320, height: 180 }, [70, 70, 80]]);
    for (const tile of this.subscriptions) {
      const i = Number(/\d+/.exec(tile.trackSid)?.[0] ?? 0);
      out.push([tile.trackSid, { width: Math.min(tile.width, 320), height: Math.min(tile.height, 180) }, COLOURS[i % COLOURS.length] ?? [0, 0, 145]]);
    }
    return out;
  }

  lastSubscriptions(): VideoTile[] {
    return this.subscriptions;
  }

  lastLowBandwidth(): string {
    return this.lowBandwidth;
  }

  private lowBandwidth = "off";

  async onRoomEvent(handler: (event: RoomEvent) => void): Promise<() => void> {
    this.roomHandlers.add(handler);
    return () => this.roomHandlers.delete(handler);
  }

  async onAppEvent(handler: (event: AppEvent) => void): Promise<() => void> {
    this.appHandlers.add(handler);
    return () => this.appHandlers.delete(handler);
  }

  /** A real lane when `lane=ws://...` is given (the rendering benchmark), else synthetic frames. */
  openVideoLane(url: string): VideoSocket {
    return url.startsWith("ws://") ? new WebSocket(url) : new FakeLane(this);
  }
}

declare global {
  interface Window {
    /** What the mock was last asked, for the screenshot checks. */
    __visioMock?: { subscriptions: () => VideoTile[]; lowBandwidth: () => string };
  }
}

export function createMockBridge(params: URLSearchParams): Bridge {
  const bridge = new MockBridge(params);
  window.__visioMock = { subscriptions: () => bridge.lastSubscriptions(), lowBandwidth: () => bridge.lastLowBandwidth() };
  return bridge;
}
