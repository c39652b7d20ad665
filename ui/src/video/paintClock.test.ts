import { describe, expect, it } from "vitest";
import { FrameQueue, PaintClock } from "./paintClock";

/** A display driven by hand: each refresh comes `interval(i)` ms after the last (60 Hz by default). */
function display(interval: (i: number) => number = () => 1000 / 60) {
  let queued: Array<(t: number) => void> = [];
  let refreshes = 0;
  return {
    now: 0,
    schedule: (cb: (t: number) => void) => {
      queued.push(cb);
      return queued.length;
    },
    refresh() {
      this.now += interval(refreshes++);
      const q = queued;
      queued = [];
      for (const cb of q) cb(this.now);
    },
  };
}

describe("paint clock", () => {
  it("draws every tile with a new picture in one tick, at most 30 times a second", () => {
    const d = display();
    const clock = new PaintClock(30, d.schedule);
    const drawn: string[] = [];
    const a = () => drawn.push("a");
    const b = () => drawn.push("b");
    // Four tiles at 20 fps out of step would ask on most refreshes; here every refresh.
    for (let i = 0; i < 60; i++) {
      clock.request(a);
      clock.request(b);
      clock.request(a); // asked twice before the tick: drawn once
      d.refresh();
    }
    // The first tick at once, then every other refresh.
    expect(clock.ticks).toBe(31);
    expect(drawn.filter((x) => x === "a").length).toBe(31);
    expect(drawn.filter((x) => x === "b").length).toBe(31);
  });

  it("keeps about 30 ticks a second when animation frames come late and irregular", () => {
    // A busy page: frames every 20-30 ms instead of 16.7.
    const d = display((i) => (i % 2 === 0 ? 20 : 30));
    const clock = new PaintClock(30, d.schedule);
    let n = 0;
    const paint = () => n++;
    for (let i = 0; i < 200; i++) {
      clock.request(paint);
      d.refresh();
    }
    const rate = (clock.ticks * 1000) / d.now;
    expect(rate).toBeGreaterThan(26);
    expect(rate).toBeLessThanOrEqual(31);
    expect(n).toBe(clock.ticks);
  });

  it("does not tick when nothing is due, and forgets a cancelled paint", () => {
    const d = display();
    const clock = new PaintClock(30, d.schedule);
    let n = 0;
    const p = () => n++;
    for (let i = 0; i < 10; i++) d.refresh();
    expect(clock.ticks).toBe(0);
    clock.request(p);
    clock.cancel(p);
    d.refresh();
    d.refresh();
    expect([n, clock.ticks]).toEqual([0, 0]);
    clock.request(p);
    d.refresh();
    expect(n).toBe(1);
  });
});

describe("frame queue", () => {
  it("keeps the two newest pictures, oldest first, and hands back the one pushed out", () => {
    const q = new FrameQueue<number>(2);
    expect(q.push(1)).toBeUndefined();
    expect(q.push(2)).toBeUndefined();
    expect(q.push(3)).toBe(1);
    expect(q.size).toBe(2);
    expect(q.take()).toBe(2);
    expect(q.take()).toBe(3);
    expect(q.take()).toBeUndefined();
    q.push(4);
    q.push(5);
    expect(q.drain()).toEqual([4, 5]);
    expect(q.size).toBe(0);
  });
});
