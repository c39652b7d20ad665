/**
 * The video lane: one WebSocket from the Rust side carrying the latest frame of each track the UI
 * asked for. Frames are parsed once and handed to whichever canvas shows that track; a frame that
 * does not parse is counted and dropped, and a dropped connection is reopened.
 */

import type { Bridge, VideoSocket } from "../bridge";
import { parseFrame, type I420Frame } from "./frame";

export type FrameSink = (frame: I420Frame) => void;

export class VideoLane {
  private socket: VideoSocket | null = null;
  private readonly sinks = new Map<string, Set<FrameSink>>();
  private closed = false;
  private retry: ReturnType<typeof setTimeout> | null = null;
  /** Frames received, and frames rejected by the parser. */
  received = 0;
  rejected = 0;

  constructor(private readonly bridge: Bridge, private readonly url: string) {
    this.open();
    // Counters for benchmarks and diagnostics (no frame data).
    (globalThis as { __visioLane?: VideoLane }).__visioLane = this;
  }

  private open(): void {
    if (this.closed) return;
    let socket: VideoSocket;
    try {
      socket = this.bridge.openVideoLane(this.url);
    } catch (e) {
      console.warn("video lane:", e);
      this.scheduleReopen();
      return;
    }
    socket.binaryType = "arraybuffer";
    socket.onmessage = (ev) => this.onMessage(ev.data);
    socket.onclose = () => {
      if (this.socket === socket) this.socket = null;
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
    let frame: I420Frame;
    try {
      frame = parseFrame(data);
    } catch (e) {
      if (this.rejected++ === 0) console.warn("video lane: frame dropped:", e);
      return;
    }
    this.received++;
    const sinks = this.sinks.get(frame.trackId);
    if (sinks) for (const sink of sinks) sink(frame);
  }

  /** Sends `trackId`'s frames to `sink` until the returned function is called. */
  attach(trackId: string, sink: FrameSink): () => void {
    let set = this.sinks.get(trackId);
    if (!set) {
      set = new Set();
      this.sinks.set(trackId, set);
    }
    set.add(sink);
    return () => {
      set?.delete(sink);
      if (set?.size === 0) this.sinks.delete(trackId);
    };
  }

  close(): void {
    this.closed = true;
    if (this.retry !== null) clearTimeout(this.retry);
    this.socket?.close();
    this.socket = null;
  }
}
