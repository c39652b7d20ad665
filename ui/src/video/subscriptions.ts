/**
 * Which remote video the UI wants: every mounted tile canvas reports its track, its size in device
 * pixels and whether it is on screen; the set is sent with `set_video_subscriptions` (debounced,
 * only when it changed) so tracks off-screen, on another page or in a hidden window get no video.
 */

import type { VideoTile } from "../bridge";
import { LOCAL_CAMERA } from "./lane";

export interface TileReport {
  trackSid: string;
  width: number;
  height: number;
  visible: boolean;
}

/** The subscription list from the tiles' reports (largest size wins when a track shows twice). */
export function subscriptionList(reports: Iterable<TileReport>, pageHidden: boolean): VideoTile[] {
  if (pageHidden) return [];
  const bySid = new Map<string, VideoTile>();
  for (const r of reports) {
    if (!r.visible || r.width <= 0 || r.height <= 0 || r.trackSid === LOCAL_CAMERA) continue;
    const prev = bySid.get(r.trackSid);
    const w = Math.round(r.width);
    const h = Math.round(r.height);
    if (!prev || w * h > prev.width * prev.height) bySid.set(r.trackSid, { trackSid: r.trackSid, width: w, height: h });
  }
  return [...bySid.values()].sort((a, b) => a.trackSid.localeCompare(b.trackSid));
}

export class VideoSubscriptions {
  private readonly reports = new Map<number, TileReport>();
  private nextId = 1;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private last = "";
  private readonly onVisibility = () => this.schedule();

  constructor(private readonly send: (tiles: VideoTile[]) => Promise<void>, private readonly delayMs = 150) {
    document.addEventListener("visibilitychange", this.onVisibility);
  }

  /** A tile's handle: update its report, and release it when the tile goes. */
  register(): { update: (r: TileReport) => void; release: () => void } {
    const id = this.nextId++;
    return {
      update: (r) => {
        this.reports.set(id, r);
        this.schedule();
      },
      release: () => {
        this.reports.delete(id);
        this.schedule();
      },
    };
  }

  private schedule(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.delayMs);
  }

  /** Sends the current list now if it changed. */
  flush(): void {
    const tiles = subscriptionList(this.reports.values(), document.visibilityState === "hidden");
    const key = JSON.stringify(tiles);
    if (key === this.last) return;
    this.last = key;
    this.send(tiles).catch((e: unknown) => console.warn("set_video_subscriptions:", e));
  }

  dispose(): void {
    document.removeEventListener("visibilitychange", this.onVisibility);
    if (this.timer !== null) clearTimeout(this.timer);
  }
}
