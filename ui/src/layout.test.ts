import { describe, expect, it } from "vitest";
import type { Participant, TrackInfo } from "./bridge";
import { arrangeTiles, gridLayout, pageItems, stageLayout } from "./layout";

const desktop = { width: 1280, height: 720 };

function person(i: number, extra: Partial<Participant> = {}, tracks?: TrackInfo[]): Participant {
  return {
    identity: `p${i}`,
    sid: `PA_${i}`,
    name: `P ${i}`,
    isLocal: false,
    attributes: {},
    handRaisedAt: null,
    tracks: tracks ?? [{ sid: `TR_v${i}`, kind: "video", source: "camera", muted: false, width: 640, height: 360 }],
    quality: "good",
    speaking: false,
    severalVoices: false,
    ...extra,
  };
}

describe("grid layout", () => {
  it("fits 1..30 tiles: enough cells, tiles inside the viewport, pages when needed", () => {
    let previousWidth = Infinity;
    for (let n = 1; n <= 30; n++) {
      const g = gridLayout(n, desktop);
      const onPage = Math.min(n, g.perPage);
      expect(g.columns * g.rows, `n=${n}`).toBeGreaterThanOrEqual(onPage);
      // No empty row or column.
      expect((g.columns - 1) * g.rows, `n=${n}`).toBeLessThan(onPage);
      expect(g.columns * g.tileWidth + (g.columns - 1) * 8, `n=${n}`).toBeLessThanOrEqual(desktop.width);
      expect(g.rows * g.tileHeight + (g.rows - 1) * 8, `n=${n}`).toBeLessThanOrEqual(desktop.height);
      expect(g.tileWidth, `n=${n}`).toBeGreaterThanOrEqual(160);
      expect(Math.abs(g.tileWidth / g.tileHeight - 16 / 9), `n=${n}`).toBeLessThan(0.05);
      expect(g.pages, `n=${n}`).toBe(Math.ceil(n / g.perPage));
      // Tiles never grow as people join.
      expect(g.tileWidth, `n=${n}`).toBeLessThanOrEqual(previousWidth);
      previousWidth = g.tileWidth;
    }
  });

  it("uses known shapes on a 16:9 desktop", () => {
    expect(gridLayout(1, desktop)).toMatchObject({ columns: 1, rows: 1, tileWidth: 1280, tileHeight: 720, pages: 1 });
    expect(gridLayout(2, desktop)).toMatchObject({ columns: 2, rows: 1 });
    expect(gridLayout(4, desktop)).toMatchObject({ columns: 2, rows: 2 });
    expect(gridLayout(9, desktop)).toMatchObject({ columns: 3, rows: 3 });
    expect(gridLayout(25, desktop)).toMatchObject({ columns: 5, rows: 5, perPage: 25, pages: 1 });
    expect(gridLayout(26, desktop)).toMatchObject({ perPage: 25, pages: 2 });
    expect(gridLayout(30, desktop)).toMatchObject({ perPage: 25, pages: 2 });
  });

  it("stacks tiles in a narrow window and pages sooner in a small one", () => {
    expect(gridLayout(3, { width: 400, height: 900 })).toMatchObject({ columns: 1, rows: 3 });
    const small = gridLayout(25, { width: 640, height: 400 });
    expect(small.perPage).toBeLessThan(25);
    expect(small.tileWidth).toBeGreaterThanOrEqual(160);
    expect(small.pages).toBe(Math.ceil(25 / small.perPage));
  });

  it("survives empty and degenerate input", () => {
    expect(gridLayout(0, desktop)).toMatchObject({ columns: 0, rows: 0, pages: 1 });
    const tiny = gridLayout(5, { width: 0, height: 0 });
    expect(tiny.perPage).toBe(1);
    expect(tiny.pages).toBe(5);
  });

  it("pages items, clamping out-of-range pages", () => {
    const items = Array.from({ length: 30 }, (_, i) => i);
    expect(pageItems(items, 0, 25)).toHaveLength(25);
    expect(pageItems(items, 1, 25)).toEqual([25, 26, 27, 28, 29]);
    expect(pageItems(items, 7, 25)).toEqual([25, 26, 27, 28, 29]);
    expect(pageItems(items, -1, 25)[0]).toBe(0);
    expect(pageItems([], 0, 25)).toEqual([]);
  });
});

describe("tile arrangement", () => {
  const people = [person(1), person(0, { isLocal: true }), person(2), person(3)];

  it("puts the local participant first and no stage without pin or share", () => {
    const a = arrangeTiles(people, { pinned: null, activeSpeakers: [] });
    expect(a.stage).toBeNull();
    expect(a.others.map((t) => t.identity)).toEqual(["p0", "p1", "p2", "p3"]);
    expect(a.others[1]?.trackSid).toBe("TR_v1");
  });

  it("shows a muted camera as an avatar (no track)", () => {
    const muted = person(5, {}, [{ sid: "TR_v5", kind: "video", source: "camera", muted: true, width: 0, height: 0 }]);
    expect(arrangeTiles([muted], { pinned: null, activeSpeakers: [] }).others[0]?.trackSid).toBeNull();
  });

  it("puts the pinned tile on the stage", () => {
    const a = arrangeTiles(people, { pinned: "p2", activeSpeakers: [] });
    expect(a.stage?.identity).toBe("p2");
    expect(a.others.map((t) => t.identity)).toEqual(["p0", "p1", "p3"]);
  });

  it("puts the newest screen share on the stage, other shares in the rail", () => {
    const share = (sid: string): TrackInfo => ({ sid, kind: "video", source: "screen_share", muted: false, width: 1920, height: 1080 });
    const sharers = [person(0, { isLocal: true }), person(1, {}, [share("TR_s1")]), person(2, {}, [share("TR_s2")])];
    const a = arrangeTiles(sharers, { pinned: null, activeSpeakers: [] });
    expect(a.stage).toMatchObject({ kind: "screen", identity: "p2", trackSid: "TR_s2", key: "p2#TR_s2" });
    expect(a.others.map((t) => t.key)).toEqual(["p1#TR_s1", "p0", "p1", "p2"]);
    // Pinning a camera takes the stage from the share.
    const pinned = arrangeTiles(sharers, { pinned: "p1", activeSpeakers: [] });
    expect(pinned.stage?.key).toBe("p1");
    expect(pinned.others.map((t) => t.key)).toContain("p2#TR_s2");
  });

  it("ignores a pin on someone who left", () => {
    expect(arrangeTiles(people, { pinned: "gone", activeSpeakers: [] }).stage).toBeNull();
  });

  it("brings an active speaker from a later page onto the first", () => {
    const many = Array.from({ length: 30 }, (_, i) => person(i, { isLocal: i === 0 }));
    const a = arrangeTiles(many, { pinned: null, activeSpeakers: ["p28"], perPage: 25 });
    expect(a.others.slice(0, 25).map((t) => t.identity)).toContain("p28");
    expect(a.others).toHaveLength(30);
    expect(new Set(a.others.map((t) => t.key)).size).toBe(30);
    // A speaker already on the first page stays where it is.
    const b = arrangeTiles(many, { pinned: null, activeSpeakers: ["p3"], perPage: 25 });
    expect(b.others[3]?.identity).toBe("p3");
  });
});

describe("stage layout", () => {
  it("puts the rail beside the stage on wide windows and below on narrow ones", () => {
    const wide = stageLayout(6, desktop);
    expect(wide.orientation).toBe("side");
    expect(wide.stage.width + wide.rail.width).toBeLessThanOrEqual(desktop.width);
    expect(wide.railGrid.columns).toBe(1);
    expect(wide.railGrid.perPage * wide.railGrid.tileHeight).toBeLessThanOrEqual(desktop.height);
    expect(wide.railGrid.pages).toBe(Math.ceil(6 / wide.railGrid.perPage));
    const narrow = stageLayout(6, { width: 600, height: 900 });
    expect(narrow.orientation).toBe("bottom");
    expect(narrow.stage.height + narrow.rail.height).toBeLessThanOrEqual(900);
    expect(narrow.railGrid.rows).toBe(1);
  });
});
