import { describe, expect, it } from "vitest";
import { PaintClock } from "./paintClock";

/** A display refreshing at 60 Hz, driven by hand. */
function display() {
  let queued: Array<(t: number) => void> = [];
  let now = 0;
  return {
    schedule: (cb: (t: number) => void) => {
      queued.push(cb);
      return queued.length;
    },
    refresh() {
      now += 1000 / 60;
      const q = queued;
      queued = [];
      for (const cb of q) cb(now);
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
    expect(clock.ticks).toBe(30);
    expect(drawn.filter((x) => x === "a").length).toBe(30);
    expect(drawn.filter((x) => x === "b").length).toBe(30);
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
