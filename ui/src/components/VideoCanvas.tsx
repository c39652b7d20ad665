/**
 * A canvas showing one track from the video lane. It counts the frames it drew in `data-frames`
 * (read by the end-to-end test) without re-rendering, and reports its size on screen and whether
 * it is visible to the subscriptions, so the Rust side sends frames that fit and none when hidden.
 */

import { useContext, useEffect, useRef } from "preact/hooks";
import { createContext } from "preact";
import { useApp } from "../app";
import { createRenderer, type Renderer } from "../video/renderer";
import type { VideoSubscriptions } from "../video/subscriptions";
import { LOCAL_CAMERA, type Drawable } from "../video/lane";
import { FrameQueue, paintClock } from "../video/paintClock";

/** The meeting's subscriptions; absent on the pre-join screen (local preview only). */
export const SubscriptionsContext = createContext<VideoSubscriptions | null>(null);

const preferred: "webgl" | "2d" =
  typeof location !== "undefined" && new URLSearchParams(location.search).get("renderer") === "2d" ? "2d" : "webgl";

export function VideoCanvas(props: { trackId: string; label: string; fit?: "cover" | "contain"; testid?: string; mirror?: boolean }) {
  const { lane } = useApp();
  const subs = useContext(SubscriptionsContext);
  const canvas = useRef<HTMLCanvasElement>(null);

  useEffect(() => {
    const el = canvas.current;
    if (!el) return;
    // Made on the first picture, by its kind: decoded VideoFrames draw cheapest with 2D
    // `drawImage` (measured: 3.8 against 6+ CPU ms per frame through a WebGL texture in
    // software GL), I420 planes with the WebGL shader. Either renderer draws both kinds, so a
    // track that falls back from one path to the other keeps its canvas.
    let renderer: Renderer | null = null;
    let frames = 0;
    // The canvas's size comes from a ResizeObserver, not a layout query per frame; `data-path`
    // is written when it changes (`data-frames` every frame: tests and benchmarks count it).
    let box = { width: 0, height: 0 };
    const measure = () => {
      const r = el.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      box = { width: Math.round(r.width * dpr), height: Math.round(r.height * dpr) };
    };
    measure();
    const sized = new ResizeObserver(measure);
    sized.observe(el);
    let path = "";
    const pending = new FrameQueue<Drawable>(2);
    const release = (d: Drawable | undefined) => {
      if (d?.kind === "video") d.frame.close();
    };
    // Drawn on the tiles' shared clock (at most 30 times a second, all tiles together), one
    // picture a tick, oldest first: a second one waits for the next tick.
    const paint = () => {
      const d = pending.take();
      if (!d) return;
      if (pending.size > 0) paintClock.request(paint);
      if (!renderer) {
        renderer = createRenderer(el, d.kind === "i420" ? preferred : "2d");
        el.dataset.renderer = renderer.kind;
      }
      if (d.kind === "i420") {
        renderer.draw(d.frame);
      } else if (d.kind === "rgba") {
        renderer.drawRgba(d.frame);
      } else {
        // Decoded pictures are drawn no larger than the canvas is on screen.
        try {
          renderer.drawVideo(d.frame, box.width, box.height);
        } finally {
          d.frame.close();
        }
      }
      frames++;
      el.dataset.frames = String(frames);
      const p = d.kind === "video" ? "webcodecs" : d.kind;
      if (p !== path) {
        path = p;
        el.dataset.path = p;
      }
    };
    const immediate = new URLSearchParams(location.search).get("draw") === "now";
    const detach = lane.attach(props.trackId, (frame) => {
      release(pending.push(frame));
      if (immediate) paint();
      else paintClock.request(paint);
    });
    return () => {
      detach();
      sized.disconnect();
      paintClock.cancel(paint);
      pending.drain().forEach(release);
      renderer?.dispose();
    };
  }, [lane, props.trackId]);

  useEffect(() => {
    const el = canvas.current;
    if (!el || !subs || props.trackId === LOCAL_CAMERA) return;
    const handle = subs.register();
    let visible = false;
    let width = 0;
    let height = 0;
    const report = () => handle.update({ trackSid: props.trackId, width, height, visible });
    const resize = new ResizeObserver(() => {
      const r = el.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      width = Math.round(r.width * dpr);
      height = Math.round(r.height * dpr);
      report();
    });
    const seen = new IntersectionObserver((entries) => {
      for (const e of entries) visible = e.isIntersecting;
      report();
    });
    resize.observe(el);
    seen.observe(el);
    return () => {
      resize.disconnect();
      seen.disconnect();
      handle.release();
    };
  }, [subs, props.trackId]);

  return (
    <canvas
      ref={canvas}
      class={`video ${props.fit ?? "cover"}${props.mirror ? " mirror" : ""}`}
      data-testid={props.testid ?? "tile-canvas"}
      data-track-sid={props.trackId}
      data-frames="0"
      role="img"
      aria-label={props.label}
    />
  );
}
