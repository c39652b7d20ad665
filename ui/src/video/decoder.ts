/**
 * The WebCodecs path: which codecs the webview decodes itself (so the Rust side sends encoded
 * frames, far fewer bytes than I420 and no decoding in the app process), and one `VideoDecoder`
 * per track. Where `VideoDecoder` is missing or a codec is not supported, the lane keeps sending
 * I420 for that codec (the fallback), and a decoder that keeps failing gives its codec up.
 */

import { CODECS, type Codec, type EncodedFrame } from "./frame";

/** The configuration checked and used per codec (profiles every WebRTC sender uses). */
export const DECODER_CONFIGS: Record<Codec, VideoDecoderConfig> = {
  vp8: { codec: "vp8", optimizeForLatency: true },
  vp9: { codec: "vp09.00.10.08", optimizeForLatency: true },
  // Constrained baseline 3.1; frames arrive in Annex B, so no `description`.
  h264: { codec: "avc1.42e01f", optimizeForLatency: true },
};

/** What the selection needs of the page: the `VideoDecoder` class, if any. */
export interface DecoderEnv {
  VideoDecoder?: { isConfigSupported(config: VideoDecoderConfig): Promise<VideoDecoderSupport> };
}

/**
 * The codecs to receive encoded. `force` ("i420" or "webcodecs", from `?video=`) lets the
 * benchmark measure each path; "i420" gives none, "webcodecs" still needs support.
 */
export async function supportedCodecs(env: DecoderEnv, force?: string | null): Promise<Codec[]> {
  if (force === "i420") return [];
  const Decoder = env.VideoDecoder;
  if (!Decoder || typeof Decoder.isConfigSupported !== "function") return [];
  const out: Codec[] = [];
  for (const codec of CODECS) {
    try {
      const support = await Decoder.isConfigSupported(DECODER_CONFIGS[codec]);
      if (support.supported === true) out.push(codec);
    } catch {
      // A config the platform rejects outright is unsupported, not an error.
    }
  }
  return out;
}

/** Errors within this window that make a track's codec fall back to I420. */
export const MAX_ERRORS = 3;
export const ERROR_WINDOW_MS = 10_000;

export interface TrackDecoderHooks {
  /** A decoded picture; the receiver owns it and must `close()` it. */
  output(frame: VideoFrame): void;
  /** Ask the sender for a keyframe (decoder start or error). */
  requestKeyframe(): void;
  /** The decoder failed `MAX_ERRORS` times in `ERROR_WINDOW_MS`: stop using this codec. */
  giveUp(codec: Codec, reason: string): void;
}

/** The `VideoDecoder` constructor; injectable for tests. */
export type DecoderCtor = new (init: VideoDecoderInit) => VideoDecoder;

/**
 * One track's decoder. It starts (and restarts after an error) on a keyframe only, asking for
 * one meanwhile; delta frames before it are dropped, since they cannot decode.
 */
export class TrackDecoder {
  private decoder: VideoDecoder | null = null;
  private codec: Codec | null = null;
  private errors: number[] = [];
  private waitingKeyframe = true;
  private gaveUp = false;
  decoded = 0;
  dropped = 0;

  constructor(
    private readonly hooks: TrackDecoderHooks,
    private readonly Ctor: DecoderCtor = VideoDecoder,
    private readonly now: () => number = () => performance.now(),
  ) {
    hooks.requestKeyframe();
  }

  push(frame: EncodedFrame): void {
    if (this.gaveUp) return;
    if (frame.codec !== this.codec || !this.decoder || this.decoder.state === "closed") {
      if (!frame.keyframe) {
        this.drop();
        return;
      }
      this.start(frame.codec);
    }
    if (this.waitingKeyframe) {
      if (!frame.keyframe) {
        this.drop();
        return;
      }
      this.waitingKeyframe = false;
    }
    const decoder = this.decoder;
    if (!decoder) return;
    // A second of backlog in the decoder means the page is too slow: drop until a keyframe.
    if (decoder.decodeQueueSize > 30 && !frame.keyframe) {
      this.waitingKeyframe = true;
      this.drop();
      return;
    }
    try {
      decoder.decode(
        new EncodedVideoChunk({ type: frame.keyframe ? "key" : "delta", timestamp: frame.timestamp, data: frame.data }),
      );
    } catch (e) {
      this.fail(e);
    }
  }

  private drop(): void {
    this.dropped++;
    this.hooks.requestKeyframe();
  }

  private start(codec: Codec): void {
    this.close();
    this.codec = codec;
    this.waitingKeyframe = true;
    const decoder = new this.Ctor({
      output: (f) => {
        this.decoded++;
        this.hooks.output(f);
      },
      error: (e) => this.fail(e),
    });
    try {
      decoder.configure(DECODER_CONFIGS[codec]);
    } catch (e) {
      this.decoder = decoder;
      this.fail(e);
      return;
    }
    this.decoder = decoder;
  }

  private fail(e: unknown): void {
    const codec = this.codec;
    this.close();
    if (!codec) return;
    const t = this.now();
    this.errors = this.errors.filter((at) => t - at < ERROR_WINDOW_MS);
    this.errors.push(t);
    if (this.errors.length >= MAX_ERRORS) {
      this.gaveUp = true;
      this.hooks.giveUp(codec, e instanceof Error ? e.message : String(e));
      return;
    }
    // Restart on the next keyframe, which we ask for now.
    this.codec = null;
    this.waitingKeyframe = true;
    this.hooks.requestKeyframe();
  }

  close(): void {
    const d = this.decoder;
    this.decoder = null;
    if (d && d.state !== "closed") {
      try {
        d.close();
      } catch {
        // Already closed by an error.
      }
    }
  }
}
