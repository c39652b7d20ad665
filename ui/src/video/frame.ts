/**
 * The video lane's binary frame (see `src-tauri/BRIDGE.md`): a 14-byte little-endian header,
 * the track id, then either tightly packed I420 planes (format 1), an encoded frame for the
 * webview's WebCodecs decoder (format 2: codec, keyframe flag, timestamp, bitstream), or the
 * picture as RGBA (format 3, for a 2D canvas). Parsing never trusts the sender: every size is
 * checked against the buffer before a view is made, and a bad frame is a `FrameError`.
 */

export const FRAME_MAGIC = 0x56;
export const FRAME_VERSION = 1;
export const FORMAT_I420 = 1;
export const FORMAT_ENCODED = 2;
export const FORMAT_RGBA = 3;
const HEADER = 14;
/** After the track id of an encoded frame: codec (u8), flags (u8), reserved (u16), timestamp µs (u64). */
const ENCODED_HEADER = 12;

/** Codecs of encoded frames, by their byte on the lane. */
export const CODECS = ["vp8", "vp9", "h264"] as const;
export type Codec = (typeof CODECS)[number];

export interface EncodedFrame {
  kind: "encoded";
  trackId: string;
  counter: number;
  codec: Codec;
  keyframe: boolean;
  /** Presentation time in microseconds (from the RTP time). */
  timestamp: number;
  data: Uint8Array;
}

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

export interface I420Frame {
  kind?: "i420";
  trackId: string;
  width: number;
  height: number;
  /** The sender's frame counter for this track. */
  counter: number;
  y: Uint8Array;
  u: Uint8Array;
  v: Uint8Array;
}

/** A picture already converted to RGBA (alpha 255) by the Rust side. */
export interface RgbaFrame {
  kind: "rgba";
  trackId: string;
  width: number;
  height: number;
  counter: number;
  /** width × height × 4 bytes, a view into the message (no copy). */
  data: Uint8ClampedArray<ArrayBuffer>;
}

/** Chroma plane size for a luma size (each ⌈w/2⌉ × ⌈h/2⌉). */
export function chromaSize(width: number, height: number): { width: number; height: number } {
  return { width: Math.ceil(width / 2), height: Math.ceil(height / 2) };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/** Reads one I420 frame; the planes are views into `buffer` (no copy). */
export function parseFrame(buffer: ArrayBuffer): I420Frame {
  const frame = parseLaneMessage(buffer);
  if (frame.kind === "encoded") throw new FrameError(`unsupported format ${FORMAT_ENCODED}`);
  if (frame.kind === "rgba") throw new FrameError(`unsupported format ${FORMAT_RGBA}`);
  return frame;
}

/** Reads one lane message of any format; planes, pixels and bitstream are views into `buffer`. */
export function parseLaneMessage(buffer: ArrayBuffer): I420Frame | EncodedFrame | RgbaFrame {
  if (!(buffer instanceof ArrayBuffer)) throw new FrameError("frame is not binary");
  if (buffer.byteLength < HEADER) throw new FrameError(`frame too short: ${buffer.byteLength} bytes`);
  const view = new DataView(buffer);
  const magic = view.getUint8(0);
  if (magic !== FRAME_MAGIC) throw new FrameError(`bad magic 0x${magic.toString(16)}`);
  const version = view.getUint8(1);
  if (version !== FRAME_VERSION) throw new FrameError(`unsupported version ${version}`);
  const format = view.getUint8(2);
  if (format !== FORMAT_I420 && format !== FORMAT_ENCODED && format !== FORMAT_RGBA) {
    throw new FrameError(`unsupported format ${format}`);
  }
  const width = view.getUint16(4, true);
  const height = view.getUint16(6, true);
  const counter = view.getUint32(8, true);
  const idLength = view.getUint16(12, true);
  if (HEADER + idLength > buffer.byteLength) throw new FrameError("track id runs past the frame");
  let trackId: string;
  try {
    trackId = utf8.decode(new Uint8Array(buffer, HEADER, idLength));
  } catch {
    throw new FrameError("track id is not UTF-8");
  }
  if (trackId.length === 0) throw new FrameError("empty track id");
  const start = HEADER + idLength;
  if (format === FORMAT_ENCODED) {
    if (start + ENCODED_HEADER > buffer.byteLength) throw new FrameError("encoded frame header runs past the frame");
    const codecByte = view.getUint8(start);
    const codec = CODECS[codecByte - 1];
    if (!codec) throw new FrameError(`unknown codec ${codecByte}`);
    const flags = view.getUint8(start + 1);
    const timestamp = Number(view.getBigUint64(start + 4, true));
    if (!Number.isSafeInteger(timestamp)) throw new FrameError("timestamp out of range");
    const dataStart = start + ENCODED_HEADER;
    if (dataStart >= buffer.byteLength) throw new FrameError("encoded frame has no data");
    return {
      kind: "encoded",
      trackId,
      counter,
      codec,
      keyframe: (flags & 1) === 1,
      timestamp,
      data: new Uint8Array(buffer, dataStart),
    };
  }
  if (width === 0 || height === 0) throw new FrameError(`empty frame ${width}x${height}`);
  if (format === FORMAT_RGBA) {
    const expected = start + width * height * 4;
    if (buffer.byteLength !== expected) {
      throw new FrameError(`${width}x${height} RGBA frame needs ${expected} bytes, got ${buffer.byteLength}`);
    }
    return { kind: "rgba", trackId, width, height, counter, data: new Uint8ClampedArray(buffer, start, width * height * 4) };
  }
  const c = chromaSize(width, height);
  const ySize = width * height;
  const cSize = c.width * c.height;
  const expected = start + ySize + 2 * cSize;
  if (buffer.byteLength !== expected) {
    throw new FrameError(`${width}x${height} frame needs ${expected} bytes, got ${buffer.byteLength}`);
  }
  return {
    kind: "i420",
    trackId,
    width,
    height,
    counter,
    y: new Uint8Array(buffer, start, ySize),
    u: new Uint8Array(buffer, start + ySize, cSize),
    v: new Uint8Array(buffer, start + ySize + cSize, cSize),
  };
}

/**
 * A lane message with its header written (format, size, counter, track id) and room for
 * `payload` bytes after the id; returns the buffer, a byte view and where the payload starts.
 */
function laneMessage(format: number, trackId: string, width: number, height: number, counter: number, payload: number) {
  const id = utf8Encoder.encode(trackId);
  if (width > 0xffff || height > 0xffff || id.length > 0xffff) throw new FrameError("frame too large");
  const buffer = new ArrayBuffer(HEADER + id.length + payload);
  const view = new DataView(buffer);
  view.setUint8(0, FRAME_MAGIC);
  view.setUint8(1, FRAME_VERSION);
  view.setUint8(2, format);
  view.setUint16(4, width, true);
  view.setUint16(6, height, true);
  view.setUint32(8, counter >>> 0, true);
  view.setUint16(12, id.length, true);
  const bytes = new Uint8Array(buffer);
  bytes.set(id, HEADER);
  return { buffer, view, bytes, start: HEADER + id.length };
}

/** Writes one encoded frame in the lane's format (the tests and the benchmark's lane). */
export function encodeEncodedFrame(frame: Omit<EncodedFrame, "kind">): ArrayBuffer {
  const m = laneMessage(FORMAT_ENCODED, frame.trackId, 0, 0, frame.counter, ENCODED_HEADER + frame.data.length);
  m.view.setUint8(m.start, CODECS.indexOf(frame.codec) + 1);
  m.view.setUint8(m.start + 1, frame.keyframe ? 1 : 0);
  m.view.setBigUint64(m.start + 4, BigInt(frame.timestamp), true);
  m.bytes.set(frame.data, m.start + ENCODED_HEADER);
  return m.buffer;
}

/** Writes one RGBA frame in the lane's format (the tests). */
export function encodeRgbaFrame(frame: Omit<RgbaFrame, "kind">): ArrayBuffer {
  if (frame.data.length !== frame.width * frame.height * 4) throw new FrameError("pixels do not match the frame size");
  const m = laneMessage(FORMAT_RGBA, frame.trackId, frame.width, frame.height, frame.counter, frame.data.length);
  m.bytes.set(frame.data, m.start);
  return m.buffer;
}

/** Writes one frame in the lane's format (used by the mock lane and the tests). */
export function encodeFrame(frame: I420Frame): ArrayBuffer {
  const c = chromaSize(frame.width, frame.height);
  const ySize = frame.width * frame.height;
  const cSize = c.width * c.height;
  if (frame.y.length !== ySize || frame.u.length !== cSize || frame.v.length !== cSize) {
    throw new FrameError("plane sizes do not match the frame size");
  }
  const m = laneMessage(FORMAT_I420, frame.trackId, frame.width, frame.height, frame.counter, ySize + 2 * cSize);
  m.bytes.set(frame.y, m.start);
  m.bytes.set(frame.u, m.start + ySize);
  m.bytes.set(frame.v, m.start + ySize + cSize);
  return m.buffer;
}

/** BT.601 limited range YUV → RGB for one pixel (the 2D fallback and the tests use it). */
export function yuvToRgb(y: number, u: number, v: number): [number, number, number] {
  const c = 1.164 * (y - 16);
  const d = u - 128;
  const e = v - 128;
  const clamp = (x: number) => (x < 0 ? 0 : x > 255 ? 255 : Math.round(x));
  return [clamp(c + 1.596 * e), clamp(c - 0.392 * d - 0.813 * e), clamp(c + 2.017 * d)];
}

/** RGB → BT.601 limited range YUV (the mock's synthetic pictures). */
export function rgbToYuv(r: number, g: number, b: number): [number, number, number] {
  const y = 16 + 0.257 * r + 0.504 * g + 0.098 * b;
  const u = 128 - 0.148 * r - 0.291 * g + 0.439 * b;
  const v = 128 + 0.439 * r - 0.368 * g - 0.071 * b;
  return [Math.round(y), Math.round(u), Math.round(v)];
}

/** Converts a frame to RGBA pixels (the 2D-canvas fallback when WebGL is missing). */
export function i420ToRgba(frame: I420Frame, out: Uint8ClampedArray): void {
  const { width, height } = frame;
  const cw = Math.ceil(width / 2);
  for (let row = 0; row < height; row++) {
    const crow = (row >> 1) * cw;
    for (let col = 0; col < width; col++) {
      const ci = crow + (col >> 1);
      const [r, g, b] = yuvToRgb(frame.y[row * width + col] ?? 0, frame.u[ci] ?? 128, frame.v[ci] ?? 128);
      const o = (row * width + col) * 4;
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
      out[o + 3] = 255;
    }
  }
}
