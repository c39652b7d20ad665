/**
 * Draws I420 frames on a canvas: WebGL with the YUV → RGB conversion in a fragment shader (three
 * one-byte textures, no conversion on the CPU), else a 2D canvas with the conversion in script.
 * WebCodecs `VideoFrame`s are uploaded as one texture (`texImage2D`) or drawn with `drawImage`,
 * at most at the canvas's size on screen (a large layer in a small tile is scaled down here).
 * `preserveDrawingBuffer` keeps the last picture readable by `toDataURL()` (the end-to-end test).
 */

import { i420ToRgba, type I420Frame, type RgbaFrame } from "./frame";

export interface Renderer {
  readonly kind: "webgl" | "2d";
  draw(frame: I420Frame): void;
  /** Draws a picture the Rust side converted to RGBA (already at the tile's size). */
  drawRgba(frame: RgbaFrame): void;
  /** Draws a decoded picture, at most `maxWidth`x`maxHeight` (device pixels; 0: its own size). */
  drawVideo(frame: VideoFrame, maxWidth: number, maxHeight: number): void;
  dispose(): void;
}

const VERTEX = `
attribute vec2 a_pos;
varying vec2 v_uv;
void main() {
  v_uv = vec2((a_pos.x + 1.0) * 0.5, (1.0 - a_pos.y) * 0.5);
  gl_Position = vec4(a_pos, 0.0, 1.0);
}`;

// BT.601 limited range.
const FRAGMENT = `
precision mediump float;
varying vec2 v_uv;
uniform sampler2D u_y;
uniform sampler2D u_u;
uniform sampler2D u_v;
void main() {
  float y = 1.1643 * (texture2D(u_y, v_uv).r - 0.0627);
  float u = texture2D(u_u, v_uv).r - 0.5020;
  float v = texture2D(u_v, v_uv).r - 0.5020;
  gl_FragColor = vec4(y + 1.5958 * v, y - 0.39173 * u - 0.81290 * v, y + 2.017 * u, 1.0);
}`;

const FRAGMENT_RGB = `
precision mediump float;
varying vec2 v_uv;
uniform sampler2D u_rgb;
void main() {
  gl_FragColor = vec4(texture2D(u_rgb, v_uv).rgb, 1.0);
}`;

/** The canvas size for a `w`x`h` picture in a box of at most `maxW`x`maxH` (aspect kept). */
export function fitSize(w: number, h: number, maxW: number, maxH: number): { width: number; height: number } {
  if (maxW <= 0 || maxH <= 0 || (w <= maxW && h <= maxH)) return { width: w, height: h };
  const k = Math.min(maxW / w, maxH / h);
  return { width: Math.max(2, Math.round(w * k)), height: Math.max(2, Math.round(h * k)) };
}

/** Gives `canvas` this size in pixels, only when it differs (a resize clears it and costs). */
function sizeCanvas(canvas: HTMLCanvasElement, width: number, height: number): void {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
}

function compile(gl: WebGLRenderingContext, type: number, source: string): WebGLShader | null {
  const shader = gl.createShader(type);
  if (!shader) return null;
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
    console.warn("video shader:", gl.getShaderInfoLog(shader));
    gl.deleteShader(shader);
    return null;
  }
  return shader;
}

/**
 * Browsers keep only about 16 live WebGL contexts per page and silently drop the oldest beyond
 * that (a 25-tile grid would lose pictures), so tiles past this many draw with the 2D fallback.
 */
export const MAX_WEBGL_RENDERERS = 12;
let liveWebgl = 0;

function webglRenderer(canvas: HTMLCanvasElement): Renderer | null {
  if (liveWebgl >= MAX_WEBGL_RENDERERS) return null;
  const opts: WebGLContextAttributes = { preserveDrawingBuffer: true, antialias: false, alpha: false, depth: false };
  const gl = canvas.getContext("webgl", opts) as WebGLRenderingContext | null;
  if (!gl) return null;
  const vs = compile(gl, gl.VERTEX_SHADER, VERTEX);
  const fs = compile(gl, gl.FRAGMENT_SHADER, FRAGMENT);
  const program = gl.createProgram();
  if (!vs || !fs || !program) return null;
  gl.attachShader(program, vs);
  gl.attachShader(program, fs);
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) return null;
  // The RGB program for VideoFrames shares the vertex shader and the quad.
  const fsRgb = compile(gl, gl.FRAGMENT_SHADER, FRAGMENT_RGB);
  const rgbProgram = gl.createProgram();
  if (!fsRgb || !rgbProgram) return null;
  gl.attachShader(rgbProgram, vs);
  gl.attachShader(rgbProgram, fsRgb);
  gl.bindAttribLocation(rgbProgram, 0, "a_pos");
  gl.bindAttribLocation(program, 0, "a_pos");
  gl.linkProgram(program);
  gl.linkProgram(rgbProgram);
  if (!gl.getProgramParameter(rgbProgram, gl.LINK_STATUS)) return null;
  gl.useProgram(program);
  const buffer = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  const pos = 0;
  gl.enableVertexAttribArray(pos);
  gl.vertexAttribPointer(pos, 2, gl.FLOAT, false, 0, 0);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  const textures = (["u_y", "u_u", "u_v"] as const).map((name, unit) => {
    const tex = gl.createTexture();
    gl.activeTexture(gl.TEXTURE0 + unit);
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    gl.uniform1i(gl.getUniformLocation(program, name), unit);
    return tex;
  });
  const rgbTexture = gl.createTexture();
  gl.activeTexture(gl.TEXTURE3);
  gl.bindTexture(gl.TEXTURE_2D, rgbTexture);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.useProgram(rgbProgram);
  gl.uniform1i(gl.getUniformLocation(rgbProgram, "u_rgb"), 3);
  gl.useProgram(program);
  // Textures are allocated once per size and then only overwritten (cheaper in software GL).
  const allocated = [0, 0, 0].map(() => ({ w: 0, h: 0 }));
  const upload = (unit: number, w: number, h: number, data: Uint8Array) => {
    gl.activeTexture(gl.TEXTURE0 + unit);
    gl.bindTexture(gl.TEXTURE_2D, textures[unit] ?? null);
    const a = allocated[unit];
    if (a && a.w === w && a.h === h) {
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, w, h, gl.LUMINANCE, gl.UNSIGNED_BYTE, data);
    } else {
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.LUMINANCE, w, h, 0, gl.LUMINANCE, gl.UNSIGNED_BYTE, data);
      if (a) {
        a.w = w;
        a.h = h;
      }
    }
  };
  // An RGB picture at `width`x`height`: `upload` fills the RGB texture, bound on its unit.
  const drawRgb = (width: number, height: number, upload: () => void) => {
    sizeCanvas(canvas, width, height);
    gl.useProgram(rgbProgram);
    gl.viewport(0, 0, width, height);
    gl.activeTexture(gl.TEXTURE3);
    gl.bindTexture(gl.TEXTURE_2D, rgbTexture);
    upload();
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  };
  liveWebgl++;
  let disposed = false;
  return {
    kind: "webgl",
    draw(frame) {
      sizeCanvas(canvas, frame.width, frame.height);
      gl.useProgram(program);
      gl.viewport(0, 0, frame.width, frame.height);
      const cw = Math.ceil(frame.width / 2);
      const ch = Math.ceil(frame.height / 2);
      upload(0, frame.width, frame.height, frame.y);
      upload(1, cw, ch, frame.u);
      upload(2, cw, ch, frame.v);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    },
    drawRgba(frame) {
      drawRgb(frame.width, frame.height, () =>
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, frame.width, frame.height, 0, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.length)),
      );
    },
    drawVideo(frame, maxWidth, maxHeight) {
      const size = fitSize(frame.displayWidth, frame.displayHeight, maxWidth, maxHeight);
      drawRgb(size.width, size.height, () => gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, frame));
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      liveWebgl--;
      for (const t of textures) gl.deleteTexture(t);
      gl.deleteTexture(rgbTexture);
      gl.deleteBuffer(buffer);
      gl.deleteProgram(program);
      gl.deleteProgram(rgbProgram);
      // Give the context back now rather than at garbage collection.
      gl.getExtension("WEBGL_lose_context")?.loseContext();
    },
  };
}

function canvas2dRenderer(canvas: HTMLCanvasElement): Renderer {
  const ctx = canvas.getContext("2d", { alpha: false });
  let image: ImageData | null = null;
  return {
    kind: "2d",
    draw(frame) {
      if (!ctx) return;
      sizeCanvas(canvas, frame.width, frame.height);
      if (!image || image.width !== frame.width || image.height !== frame.height) {
        image = ctx.createImageData(frame.width, frame.height);
      }
      i420ToRgba(frame, image.data);
      ctx.putImageData(image, 0, 0);
    },
    drawRgba(frame) {
      if (!ctx) return;
      sizeCanvas(canvas, frame.width, frame.height);
      // The pixels are a view into the lane's message: no copy before the canvas's own.
      ctx.putImageData(new ImageData(frame.data, frame.width, frame.height), 0, 0);
    },
    drawVideo(frame, maxWidth, maxHeight) {
      if (!ctx) return;
      const size = fitSize(frame.displayWidth, frame.displayHeight, maxWidth, maxHeight);
      sizeCanvas(canvas, size.width, size.height);
      ctx.drawImage(frame, 0, 0, size.width, size.height);
    },
    dispose() {
      image = null;
    },
  };
}

/** WebGL when the platform has it (and `?renderer=2d` does not ask otherwise), else 2D. */
export function createRenderer(canvas: HTMLCanvasElement, prefer: "webgl" | "2d" = "webgl"): Renderer {
  return (prefer === "webgl" ? webglRenderer(canvas) : null) ?? canvas2dRenderer(canvas);
}
