/**
 * A canvas showing one track from the video lane. It counts the frames it drew in `data-frames`
 * (read by the end-to-end test) without re-rendering, and reports its size on screen and whether
 * it is visible to the subscriptions, so the Rust side sends frames that fit and none when hidden.
 */

import { useContext, useEffect, useRef } from "preact/hooks";
import { createContext } from "preact";
import { useApp } from "../app";
import { createRenderer } from "../video/renderer";
import type { VideoSubscriptions } from "../video/subscriptions";

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
    const renderer = createRenderer(el, preferred);
    el.dataset.renderer = renderer.kind;
    let frames = 0;
    let pending: Parameters<typeof renderer.draw>[0] | null = null;
    let raf = 0;
    // Draw at most once per display refresh: the latest frame wins.
    const paint = () => {
      raf = 0;
      if (!pending) return;
      renderer.draw(pending);
      pending = null;
      frames++;
      el.dataset.frames = String(frames);
    };
    const immediate = new URLSearchParams(location.search).get("draw") === "now";
    const detach = lane.attach(props.trackId, (frame) => {
      pending = frame;
      if (immediate) paint();
      else if (raf === 0) raf = requestAnimationFrame(paint);
    });
    return () => {
      detach();
      if (raf !== 0) cancelAnimationFrame(raf);
      renderer.dispose();
    };
  }, [lane, props.trackId]);

  useEffect(() => {
    const el = canvas.current;
    if (!el || !subs || props.trackId === "local-camera") return;
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
