/**
 * One clock for every tile's drawing: the tiles that have a new picture draw together, in the
 * same animation frame, at most `fps` times a second. Each canvas change makes the webview paint
 * and hand a new picture of the page to the window; tiles drawing on their own clocks (four
 * tiles at 20 fps each, out of step) made that happen on nearly every display refresh, while one
 * clock at 30 Hz does it at most 30 times a second for all of them. Video is at most 30 fps, so
 * no picture is lost, only delayed by at most one tick.
 */

export type Schedule = (callback: (time: number) => void) => number;

export class PaintClock {
  private readonly due = new Set<() => void>();
  private pending = 0;
  private last = Number.NEGATIVE_INFINITY;
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
    if (time - this.last < 1000 / this.fps - 4) {
      this.pending = this.schedule(this.tick);
      return;
    }
    this.last = time;
    this.ticks++;
    const paints = [...this.due];
    this.due.clear();
    for (const paint of paints) paint();
  };
}

/** The clock the meeting's tiles share. */
export const paintClock = new PaintClock(30);
