import { describe, expect, it } from "vitest";
import { encodeEncodedFrame, encodeFrame, encodeRgbaFrame, FrameError, i420ToRgba, parseFrame, parseLaneMessage, rgbToYuv, type I420Frame } from "./frame";

function makeFrame(width: number, height: number, trackId = "TR_abc"): I420Frame {
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const y = new Uint8Array(width * height).map((_, i) => (i * 7) & 0xff);
  const u = new Uint8Array(cw * ch).map((_, i) => (i * 3 + 1) & 0xff);
  const v = new Uint8Array(cw * ch).map((_, i) => (i * 5 + 2) & 0xff);
  return { trackId, width, height, counter: 4_000_000_123, y, u, v };
}

describe("video-lane frames", () => {
  it("round-trip a constructed frame, odd sizes and UTF-8 ids included", () => {
    for (const [w, h, id] of [[64, 36, "TR_abc"], [33, 17, "local-camera"], [1, 1, "piste-é"]] as const) {
      const f = makeFrame(w, h, id);
      const parsed = parseFrame(encodeFrame(f));
      expect(parsed.trackId).toBe(id);
      expect([parsed.width, parsed.height, parsed.counter]).toEqual([w, h, 4_000_000_123]);
      expect(Array.from(parsed.y)).toEqual(Array.from(f.y));
      expect(Array.from(parsed.u)).toEqual(Array.from(f.u));
      expect(Array.from(parsed.v)).toEqual(Array.from(f.v));
    }
  });

  it("lays the header out as BRIDGE.md says", () => {
    const bytes = new Uint8Array(encodeFrame(makeFrame(4, 2, "ab")));
    expect(Array.from(bytes.slice(0, 16))).toEqual([0x56, 1, 1, 0, 4, 0, 2, 0, 0x7b, 0x28, 0x6b, 0xee, 2, 0, 97, 98]);
    expect(bytes.length).toBe(16 + 8 + 2 + 2);
  });

  it("rejects bad frames with an error, never a crash", () => {
    const good = new Uint8Array(encodeFrame(makeFrame(8, 8)));
    const mutate = (f: (b: Uint8Array) => void) => {
      const b = good.slice();
      f(b);
      return b.buffer;
    };
    const cases: Array<[string, ArrayBuffer, RegExp]> = [
      ["empty", new ArrayBuffer(0), /too short/],
      ["short header", good.slice(0, 13).buffer, /too short/],
      ["bad magic", mutate((b) => (b[0] = 0x57)), /bad magic/],
      ["version", mutate((b) => (b[1] = 2)), /version/],
      ["format", mutate((b) => (b[2] = 9)), /format/],
      ["zero width", mutate((b) => { b[4] = 0; b[5] = 0; }), /empty frame/],
      ["id past end", mutate((b) => { b[12] = 0xff; b[13] = 0xff; }), /track id/],
      ["truncated planes", good.slice(0, good.length - 1).buffer, /needs/],
      ["extra bytes", new Uint8Array([...good, 0]).buffer, /needs/],
      ["bad utf-8 id", mutate((b) => { b[14] = 0xff; }), /UTF-8/],
    ];
    for (const [name, buf, msg] of cases) {
      expect(() => parseFrame(buf), name).toThrow(FrameError);
      expect(() => parseFrame(buf), name).toThrow(msg);
    }
  });

  it("reads RGBA pictures (format 3) as a view, and refuses a wrong size", () => {
    const data = new Uint8ClampedArray(3 * 2 * 4).map((_, i) => (i * 11) & 0xff);
    const buf = encodeRgbaFrame({ trackId: "local-camera", width: 3, height: 2, counter: 9, data });
    expect(Array.from(new Uint8Array(buf, 0, 8))).toEqual([0x56, 1, 3, 0, 3, 0, 2, 0]);
    const f = parseLaneMessage(buf);
    expect(f.kind).toBe("rgba");
    if (f.kind !== "rgba") return;
    expect([f.trackId, f.width, f.height, f.counter]).toEqual(["local-camera", 3, 2, 9]);
    expect(Array.from(f.data)).toEqual(Array.from(data));
    expect(f.data.buffer).toBe(buf);
    const bytes = new Uint8Array(buf);
    expect(() => parseLaneMessage(bytes.slice(0, bytes.length - 1).buffer)).toThrow(/RGBA frame needs/);
    expect(() => parseLaneMessage(new Uint8Array([...bytes, 0]).buffer)).toThrow(/RGBA frame needs/);
    expect(() => parseFrame(buf)).toThrow(/unsupported format 3/);
  });

  it("converts BT.601 limited range back to the colours it was made from", () => {
    const colours: Array<[number, number, number]> = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0], [128, 64, 200]];
    for (const rgb of colours) {
      const [y, u, v] = rgbToYuv(...rgb);
      const f: I420Frame = { trackId: "t", width: 2, height: 2, counter: 0, y: new Uint8Array(4).fill(y), u: new Uint8Array([u]), v: new Uint8Array([v]) };
      const out = new Uint8ClampedArray(16);
      i420ToRgba(f, out);
      for (let i = 0; i < 3; i++) expect(Math.abs((out[i] ?? 0) - rgb[i]!)).toBeLessThanOrEqual(3);
      expect(out[3]).toBe(255);
    }
  });

  it("round-trips an encoded frame and lays its header out as BRIDGE.md says", () => {
    const data = new Uint8Array([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01]);
    const buf = encodeEncodedFrame({ trackId: "TR_v", counter: 9, codec: "vp9", keyframe: true, timestamp: 2 ** 40 + 5, data });
    const bytes = new Uint8Array(buf);
    expect(Array.from(bytes.slice(0, 4))).toEqual([0x56, 1, 2, 0]);
    expect(Array.from(bytes.slice(18, 22))).toEqual([2, 1, 0, 0]);
    expect(bytes.length).toBe(14 + 4 + 12 + data.length);
    const f = parseLaneMessage(buf);
    expect(f.kind).toBe("encoded");
    if (f.kind !== "encoded") return;
    expect([f.trackId, f.counter, f.codec, f.keyframe, f.timestamp]).toEqual(["TR_v", 9, "vp9", true, 2 ** 40 + 5]);
    expect(Array.from(f.data)).toEqual(Array.from(data));
    // An I420-only reader refuses it clearly.
    expect(() => parseFrame(buf)).toThrow(/unsupported format 2/);
    const delta = parseLaneMessage(encodeEncodedFrame({ trackId: "t", counter: 1, codec: "h264", keyframe: false, timestamp: 0, data }));
    expect(delta.kind === "encoded" && [delta.codec, delta.keyframe]).toEqual(["h264", false]);
  });

  it("rejects bad encoded frames with an error", () => {
    const good = new Uint8Array(
      encodeEncodedFrame({ trackId: "TR_v", counter: 1, codec: "vp8", keyframe: false, timestamp: 33_000, data: new Uint8Array([1, 2, 3]) }),
    );
    const mutate = (f: (b: Uint8Array) => void) => {
      const b = good.slice();
      f(b);
      return b.buffer;
    };
    const cases: Array<[string, ArrayBuffer, RegExp]> = [
      ["no codec header", good.slice(0, 14 + 4 + 5).buffer, /header runs past/],
      ["no data", good.slice(0, 14 + 4 + 12).buffer, /no data/],
      ["codec 0", mutate((b) => (b[18] = 0)), /unknown codec 0/],
      ["codec 9", mutate((b) => (b[18] = 9)), /unknown codec 9/],
      ["huge timestamp", mutate((b) => (b[29] = 0xff)), /timestamp/],
      ["id past end", mutate((b) => { b[12] = 0xff; b[13] = 0xff; }), /track id/],
    ];
    for (const [name, buf, msg] of cases) {
      expect(() => parseLaneMessage(buf), name).toThrow(FrameError);
      expect(() => parseLaneMessage(buf), name).toThrow(msg);
    }
  });
});
