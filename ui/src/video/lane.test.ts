import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Bridge, VideoSocket } from "../bridge";
import { MAX_WEBCODECS_TILES, VideoLane } from "./lane";

/** A lane socket that records the page's control messages. */
class FakeSocket implements VideoSocket {
  binaryType: BinaryType = "blob";
  readyState = 1;
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  sent: unknown[] = [];
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(): void {}
}

function lane(): { lane: VideoLane; socket: FakeSocket } {
  const socket = new FakeSocket();
  const bridge = { openVideoLane: () => socket } as unknown as Bridge;
  return { lane: new VideoLane(bridge, "ws://127.0.0.1:1/lane", null), socket };
}

/** The codecs of the page's last announcement. */
function announced(socket: FakeSocket): unknown {
  const last = socket.sent.filter((m) => (m as { type: string }).type === "decoders").at(-1) as { codecs: string[] } | undefined;
  return last?.codecs;
}

describe("the video lane's path per tile count", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    // A page whose VideoDecoder supports VP8 only.
    vi.stubGlobal("VideoDecoder", {
      isConfigSupported: async (c: VideoDecoderConfig) => ({ supported: c.codec === "vp8", config: c }),
    });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it(`asks for encoded frames up to ${MAX_WEBCODECS_TILES} remote tiles, decoded pictures past them, and back`, async () => {
    const { lane: l, socket } = lane();
    await vi.advanceTimersByTimeAsync(0);
    expect(announced(socket)).toEqual(["vp8"]);

    const detach: (() => void)[] = [];
    // The self view never counts: it always comes decoded.
    detach.push(l.attach("local-camera", () => undefined));
    for (let i = 0; i < MAX_WEBCODECS_TILES; i++) detach.push(l.attach(`TR_${i}`, () => undefined));
    await vi.advanceTimersByTimeAsync(1000);
    expect(l.remoteTiles).toBe(MAX_WEBCODECS_TILES);
    expect(announced(socket)).toEqual(["vp8"]);

    // One more: every track decoded, announced once after the grid settled.
    const before = socket.sent.length;
    detach.push(l.attach("TR_extra", () => undefined));
    expect(socket.sent.length).toBe(before);
    await vi.advanceTimersByTimeAsync(1000);
    expect(announced(socket)).toEqual([]);
    expect(l.decodedCodecs).toEqual([]);

    // A page of the grid re-rendered (all tiles detached and attached again): no change.
    const count = socket.sent.length;
    detach.splice(0).forEach((d) => d());
    detach.push(l.attach("local-camera", () => undefined));
    for (let i = 0; i <= MAX_WEBCODECS_TILES; i++) detach.push(l.attach(`TR_${i}`, () => undefined));
    await vi.advanceTimersByTimeAsync(1000);
    expect(socket.sent.length).toBe(count);

    // Back to few tiles: encoded again.
    detach.pop()?.();
    await vi.advanceTimersByTimeAsync(1000);
    expect(announced(socket)).toEqual(["vp8"]);
    l.close();
  });
});
