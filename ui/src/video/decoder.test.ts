import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DECODER_CONFIGS, MAX_ERRORS, supportedCodecs, TrackDecoder, type DecoderCtor } from "./decoder";
import type { Codec, EncodedFrame } from "./frame";

/** A `VideoDecoder` class whose support answers are given per codec string. */
function env(answers: Record<string, boolean | "throw">) {
  return {
    VideoDecoder: {
      isConfigSupported: async (config: VideoDecoderConfig) => {
        const a = answers[config.codec];
        if (a === "throw") throw new TypeError("bad config");
        return { supported: a === true, config };
      },
    },
  };
}

describe("WebCodecs path selection", () => {
  it("uses every codec the decoder supports", async () => {
    expect(await supportedCodecs(env({ vp8: true, "vp09.00.10.08": true, "avc1.42e01f": true }))).toEqual(["vp8", "vp9", "h264"]);
  });

  it("falls back to I420 for codecs it does not support, or that throw", async () => {
    expect(await supportedCodecs(env({ vp8: true, "vp09.00.10.08": "throw", "avc1.42e01f": false }))).toEqual(["vp8"]);
  });

  it("falls back to I420 everywhere without VideoDecoder", async () => {
    expect(await supportedCodecs({})).toEqual([]);
    expect(await supportedCodecs({ VideoDecoder: {} as never })).toEqual([]);
  });

  it("?video=i420 forces the fallback; ?video=webcodecs still needs support", async () => {
    const all = env({ vp8: true, "vp09.00.10.08": true, "avc1.42e01f": true });
    expect(await supportedCodecs(all, "i420")).toEqual([]);
    expect(await supportedCodecs(all, "webcodecs")).toEqual(["vp8", "vp9", "h264"]);
    expect(await supportedCodecs({}, "webcodecs")).toEqual([]);
  });
});

/** Records what the track decoder asks of a `VideoDecoder`. */
class FakeDecoder {
  static instances: FakeDecoder[] = [];
  state: CodecState = "unconfigured";
  decodeQueueSize = 0;
  configured: VideoDecoderConfig | null = null;
  chunks: Array<{ type: string; timestamp: number }> = [];
  constructor(readonly init: VideoDecoderInit) {
    FakeDecoder.instances.push(this);
  }
  configure(c: VideoDecoderConfig) {
    this.configured = c;
    this.state = "configured";
  }
  decode(chunk: { type: string; timestamp: number }) {
    this.chunks.push(chunk);
  }
  close() {
    this.state = "closed";
  }
}

function frame(n: number, keyframe: boolean, codec: Codec = "vp8"): EncodedFrame {
  return { kind: "encoded", trackId: "TR_a", counter: n, codec, keyframe, timestamp: n * 33_333, data: new Uint8Array([n]) };
}

describe("TrackDecoder", () => {
  beforeEach(() => {
    FakeDecoder.instances = [];
    vi.stubGlobal(
      "EncodedVideoChunk",
      class {
        type: string;
        timestamp: number;
        constructor(init: { type: string; timestamp: number }) {
          this.type = init.type;
          this.timestamp = init.timestamp;
        }
      },
    );
  });
  afterEach(() => vi.unstubAllGlobals());

  function make(now = () => 0) {
    const calls = { keyframes: 0, gaveUp: [] as string[], outputs: 0 };
    const d = new TrackDecoder(
      { output: () => calls.outputs++, requestKeyframe: () => calls.keyframes++, giveUp: (c) => calls.gaveUp.push(c) },
      FakeDecoder as unknown as DecoderCtor,
      now,
    );
    return { d, calls };
  }

  it("asks for a keyframe at start, drops deltas until one comes, then decodes in order", () => {
    const { d, calls } = make();
    expect(calls.keyframes).toBe(1);
    d.push(frame(1, false));
    d.push(frame(2, false));
    expect(FakeDecoder.instances).toHaveLength(0);
    expect([d.dropped, calls.keyframes]).toEqual([2, 3]);
    d.push(frame(3, true));
    d.push(frame(4, false));
    const dec = FakeDecoder.instances[0]!;
    expect(dec.configured).toEqual(DECODER_CONFIGS.vp8);
    expect(dec.chunks).toEqual([{ type: "key", timestamp: 99_999 }, { type: "delta", timestamp: 133_332 }]);
    dec.init.output({} as VideoFrame);
    expect(calls.outputs).toBe(1);
  });

  it("restarts on the next keyframe after an error, asking for one", () => {
    const { d, calls } = make();
    d.push(frame(1, true));
    FakeDecoder.instances[0]!.init.error(new DOMException("corrupt"));
    expect(FakeDecoder.instances[0]!.state).toBe("closed");
    const before = calls.keyframes;
    d.push(frame(2, false));
    expect(calls.keyframes).toBe(before + 1);
    d.push(frame(3, true));
    expect(FakeDecoder.instances).toHaveLength(2);
    expect(FakeDecoder.instances[1]!.chunks.map((c) => c.type)).toEqual(["key"]);
    expect(calls.gaveUp).toEqual([]);
  });

  it(`gives the codec up after ${MAX_ERRORS} errors within the window, not when they are spread out`, () => {
    let t = 0;
    const { d, calls } = make(() => t);
    for (let i = 0; i < MAX_ERRORS; i++) {
      d.push(frame(i, true));
      FakeDecoder.instances.at(-1)!.init.error(new DOMException("unsupported"));
      t += 20_000;
    }
    expect(calls.gaveUp).toEqual([]);
    t = 100_000;
    for (let i = 0; i < MAX_ERRORS; i++) {
      d.push(frame(i, true, "h264"));
      FakeDecoder.instances.at(-1)!.init.error(new DOMException("unsupported"));
      t += 100;
    }
    expect(calls.gaveUp).toEqual(["h264"]);
    const n = FakeDecoder.instances.length;
    d.push(frame(9, true, "h264"));
    expect(FakeDecoder.instances.length).toBe(n);
  });

  it("switching codec on a keyframe starts a decoder for the new codec", () => {
    const { d } = make();
    d.push(frame(1, true, "vp8"));
    d.push(frame(2, false, "vp9"));
    expect(FakeDecoder.instances).toHaveLength(1);
    d.push(frame(3, true, "vp9"));
    expect(FakeDecoder.instances).toHaveLength(2);
    expect(FakeDecoder.instances[0]!.state).toBe("closed");
    expect(FakeDecoder.instances[1]!.configured?.codec).toBe("vp09.00.10.08");
  });
});
