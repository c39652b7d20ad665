/**
 * One clock for every tile's drawing: the tiles that have a new picture draw together, in the
 * same animation frame, at most `fps` times a second. Each canvas change makes the webview paint
 * and hand a new picture of the page to the window; tiles drawing on their own clocks (four
 * tiles at 20 fps each, out of step) made that happen on nearly every display refresh, while one
 * clock at 30 Hz does it at most 30 times a second for all of them. Video is at most 30 fps: a
 * tile keeps up to two pictures ([`FrameQueue`]), so two that arrive within one tick (network
 * jitter) are drawn on two ticks instead of the first being lost.
 */

export type Schedule = (callback: (time: number) => void) => number;

export class PaintClock {
  private readonly due = new Set<() => void>();
  private pending = 0;
  /** When the next tick is due: a grid of `1000 / fps` ms, so that animation frames coming
   * late (a busy page) are caught up on rather than halving the rate. */
  private next = Number.NEGATIVE_INFINITY;
  /** Ticks that drew something (for tests and diagnostics). */
  ticks = 0;

  constructor(
    private readonly fps = 30,
    private readonly schedule: Schedule = (cb) => requestAnimationFrame(cb),
  ) {}

  /** Calls `paint` on the next tick (once, however often it is asked before then). */
  request(paint: () => void): void {
    this.due.add(paint);
    if (this.pending === 0) this.pending = this.schedule(this.tick);
  }

  /** Forgets a paint asked for (its canvas went away). */
  cancel(paint: () => void): void {
    this.due.delete(paint);
  }

  private readonly tick = (time: number): void => {
    this.pending = 0;
    if (this.due.size === 0) return;
    // A few ms of slack: at 60 Hz refreshes come every 16.7 ms, so 30 Hz is every other one.
    const period = 1000 / this.fps;
    if (time < this.next - 4) {
      this.pending = this.schedule(this.tick);
      return;
    }
    // On the grid; after a long pause, half a period from now at the earliest (no burst).
    this.next = Math.max(this.next + period, time + period / 2);
    this.ticks++;
    const paints = [...this.due];
    this.due.clear();
    for (const paint of paints) paint();
  };
}

/** The clock the meeting's tiles share. */
export const paintClock = new PaintClock(30);

/**
 * A tile's pictures waiting for the clock: at most `depth`, oldest first; a picture pushed into
 * a full queue pushes the oldest out (returned, for the caller to release).
 */
export class FrameQueue<T> {
  private readonly items: T[] = [];

  constructor(private readonly depth = 2) {}

  get size(): number {
    return this.items.length;
  }

  /** Queues `frame`; returns the picture dropped to make room, if any. */
  push(frame: T): T | undefined {
    this.items.push(frame);
    return this.items.length > this.depth ? this.items.shift() : undefined;
  }

  /** The oldest picture, to draw now. */
  take(): T | undefined {
    return this.items.shift();
  }

  /** Everything still queued (to release it). */
  drain(): T[] {
    return this.items.splice(0);
  }
}
