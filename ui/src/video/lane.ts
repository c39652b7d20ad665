/**
 * The video lane: one WebSocket from the Rust side carrying, per track the UI asked for, either
 * the latest I420 frame or every encoded frame (the WebCodecs path, decoded here by one
 * `VideoDecoder` per track). On open the page tells Rust which codecs it decodes
 * (`{"type":"decoders","codecs":[...]}`); Rust sends I420 for any other codec (the fallback).
 * Decoders ask for keyframes (`{"type":"keyframe","track":...}`) when they start or fail, and a
 * codec whose decoder keeps failing is withdrawn, so its tracks fall back to I420. Past
 * [`MAX_WEBCODECS_TILES`] remote tiles the page asks for decoded pictures for every track instead
 * (see there). A message that does not parse is counted and dropped, and a dropped connection is
 * reopened.
 */

import type { Bridge, VideoSocket } from "../bridge";
import { parseLaneMessage, type Codec, type EncodedFrame, type I420Frame, type RgbaFrame } from "./frame";
import { supportedCodecs, TrackDecoder } from "./decoder";

/**
 * A picture ready to draw: I420 planes, RGBA pixels, or a decoded `VideoFrame` the sink must
 * `close()`.
 */
export type Drawable =
  | { kind: "i420"; frame: I420Frame }
  | { kind: "rgba"; frame: RgbaFrame }
  | { kind: "video"; frame: VideoFrame };

/**
 * Remote tiles beyond which every track comes decoded (RGBA) rather than encoded. Drawing a
 * WebCodecs `VideoFrame` costs the page's main thread more than putting RGBA pixels, and past
 * this many tiles the paint clock falls behind: measured with `make bench-app`'s rendering on
 * 2 cores, 360p30 tiles, WebCodecs against RGBA: 4 tiles 55 % / 66 % of a core, both 30 fps;
 * 6 tiles 79 % / 77 %, both 30 fps; 9 tiles 66-75 % at 13-27 fps drawn / 80 % at 30 fps.
 */
export const MAX_WEBCODECS_TILES = 6;

/** Quiet time before a change of the tile count re-decides the path (a grid re-render detaches
 * and attaches its tiles in one go). */
const REVIEW_DELAY_MS = 250;

/** The track id of the self view, drawn from pictures the engine sends (never encoded). */
export const LOCAL_CAMERA = "local-camera";

/** How the page wants pictures the Rust side decodes: RGBA for 2D canvases, I420 for WebGL. */
export type Pixels = "rgba" | "i420";

export type FrameSink = (frame: Drawable) => void;

/** A lane socket that can also carry the page's control messages (a real WebSocket can). */
type ControlSocket = VideoSocket & { readonly readyState?: number; send?(data: string): void };

export class VideoLane {
  private socket: ControlSocket | null = null;
  private readonly sinks = new Map<string, Set<FrameSink>>();
  private readonly decoders = new Map<string, TrackDecoder>();
  private closed = false;
  private retry: ReturnType<typeof setTimeout> | null = null;
  /** The codecs decoded here; `null` until the check finished. */
  private codecs: Codec[] | null = null;
  /** Few enough remote tiles for the WebCodecs path (see [`MAX_WEBCODECS_TILES`]). */
  private fewTiles = true;
  private review: ReturnType<typeof setTimeout> | null = null;
  /** Frames received, frames rejected by the parser, encoded frames among those received. */
  received = 0;
  rejected = 0;
  encoded = 0;

  constructor(
    private readonly bridge: Bridge,
    private readonly url: string,
    force: string | null = new URLSearchParams(globalThis.location?.search ?? "").get("video"),
    private readonly pixels: Pixels = "rgba",
  ) {
    void supportedCodecs(globalThis as { VideoDecoder?: typeof VideoDecoder }, force).then((codecs) => {
      this.codecs = codecs;
      this.announce();
    });
    this.open();
    // Counters for benchmarks and diagnostics (no frame data).
    (globalThis as { __visioLane?: VideoLane }).__visioLane = this;
  }

  /** The codecs this page decodes now (empty: everything comes decoded). */
  get decodedCodecs(): readonly Codec[] {
    return this.fewTiles ? (this.codecs ?? []) : [];
  }

  private send(message: object): void {
    const s = this.socket;
    // The mock's fake lane cannot send: it only ever sends I420.
    if (!s || s.readyState !== 1 || typeof s.send !== "function") return;
    try {
      s.send(JSON.stringify(message));
    } catch {
      // The socket closed meanwhile; it is reopened and announced again.
    }
  }

  private announce(): void {
    if (this.codecs !== null) this.send({ type: "decoders", codecs: this.decodedCodecs, pixels: this.pixels });
  }

  private open(): void {
    if (this.closed) return;
    let socket: ControlSocket;
    try {
      socket = this.bridge.openVideoLane(this.url);
    } catch (e) {
      console.warn("video lane:", e);
      this.scheduleReopen();
      return;
    }
    socket.binaryType = "arraybuffer";
    socket.onmessage = (ev) => this.onMessage(ev.data);
    socket.onopen = () => this.announce();
    socket.onclose = () => {
      if (this.socket === socket) this.socket = null;
      // A new connection starts every stream on a keyframe: start the decoders afresh.
      for (const d of this.decoders.values()) d.close();
      this.decoders.clear();
      this.scheduleReopen();
    };
    socket.onerror = () => undefined;
    this.socket = socket;
  }

  private scheduleReopen(): void {
    if (this.closed || this.retry !== null) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.open();
    }, 1000);
  }

  private onMessage(data: unknown): void {
    if (!(data instanceof ArrayBuffer)) {
      this.rejected++;
      return;
    }
    let frame: I420Frame | EncodedFrame | RgbaFrame;
    try {
      frame = parseLaneMessage(data);
    } catch (e) {
      if (this.rejected++ === 0) console.warn("video lane: frame dropped:", e);
      return;
    }
    this.received++;
    if (frame.kind === "encoded") {
      this.encoded++;
      // Sent before the page asked for decoded pictures: the decoded ones follow.
      if (this.fewTiles) this.decoderFor(frame.trackId)?.push(frame);
      return;
    }
    this.deliver(frame.trackId, frame.kind === "rgba" ? { kind: "rgba", frame } : { kind: "i420", frame });
  }

  private deliver(trackId: string, d: Drawable): void {
    const sinks = this.sinks.get(trackId);
    if (!sinks || sinks.size === 0) {
      if (d.kind === "video") d.frame.close();
      return;
    }
    if (d.kind !== "video") {
      for (const sink of sinks) sink(d);
      return;
    }
    // Each sink owns its own reference to the picture.
    for (const sink of sinks) sink({ kind: "video", frame: d.frame.clone() });
    d.frame.close();
  }

  private decoderFor(trackId: string): TrackDecoder | null {
    let d = this.decoders.get(trackId);
    if (d) return d;
    if (!this.sinks.has(trackId) || typeof VideoDecoder === "undefined") return null;
    d = new TrackDecoder({
      output: (frame) => this.deliver(trackId, { kind: "video", frame }),
      requestKeyframe: () => this.send({ type: "keyframe", track: trackId }),
      giveUp: (codec, reason) => {
        console.warn(`video lane: ${codec} decoding failed (${reason}); falling back to I420`);
        this.codecs = (this.codecs ?? []).filter((c) => c !== codec);
        this.announce();
      },
    });
    this.decoders.set(trackId, d);
    return d;
  }

  /** Sends `trackId`'s frames to `sink` until the returned function is called. */
  attach(trackId: string, sink: FrameSink): () => void {
    let set = this.sinks.get(trackId);
    if (!set) {
      set = new Set();
      this.sinks.set(trackId, set);
    }
    set.add(sink);
    this.scheduleReview();
    return () => {
      set?.delete(sink);
      if (set?.size === 0) {
        this.sinks.delete(trackId);
        this.decoders.get(trackId)?.close();
        this.decoders.delete(trackId);
        this.scheduleReview();
      }
    };
  }

  /** Remote tracks with a tile now. */
  get remoteTiles(): number {
    let n = 0;
    for (const id of this.sinks.keys()) if (id !== LOCAL_CAMERA) n++;
    return n;
  }

  private scheduleReview(): void {
    if (this.closed) return;
    if (this.review !== null) clearTimeout(this.review);
    this.review = setTimeout(() => {
      this.review = null;
      const few = this.remoteTiles <= MAX_WEBCODECS_TILES;
      if (few === this.fewTiles) return;
      this.fewTiles = few;
      // Decoded pictures from now on: free the decoders (new ones start on a keyframe later).
      if (!few) {
        for (const d of this.decoders.values()) d.close();
        this.decoders.clear();
      }
      this.announce();
    }, REVIEW_DELAY_MS);
  }

  close(): void {
    this.closed = true;
    if (this.retry !== null) clearTimeout(this.retry);
    if (this.review !== null) clearTimeout(this.review);
    for (const d of this.decoders.values()) d.close();
    this.decoders.clear();
    this.socket?.close();
    this.socket = null;
  }
}
