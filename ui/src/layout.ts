/**
 * The meeting's layout, as pure functions of who is there and how big the window is: which tile
 * goes on the stage (a pinned tile or a screen share), how the others are ordered and paged, and
 * how many columns and rows make the tiles as large as possible.
 */

import type { Participant } from "./bridge";

export interface Size {
  width: number;
  height: number;
}

export interface Rect extends Size {
  x: number;
  y: number;
}

export interface GridOptions {
  /** Tile aspect ratio (width / height). */
  aspect?: number;
  /** Space between tiles, px. */
  gap?: number;
  /** Most tiles on one page. */
  maxPerPage?: number;
  /** Tiles smaller than this are not readable: page instead. */
  minTileWidth?: number;
}

export interface GridLayout {
  columns: number;
  rows: number;
  tileWidth: number;
  tileHeight: number;
  /** Tiles per page. */
  perPage: number;
  pages: number;
}

export const DEFAULT_MAX_PER_PAGE = 25;
const DEFAULTS = { aspect: 16 / 9, gap: 8, maxPerPage: DEFAULT_MAX_PER_PAGE, minTileWidth: 160 };

/** The best columns × rows for exactly `n` tiles in `area` (largest tiles). */
function fit(n: number, area: Size, aspect: number, gap: number): Omit<GridLayout, "perPage" | "pages"> {
  let best = { columns: 1, rows: 1, tileWidth: 0, tileHeight: 0 };
  for (let columns = 1; columns <= n; columns++) {
    const rows = Math.ceil(n / columns);
    const cellW = (area.width - gap * (columns - 1)) / columns;
    const cellH = (area.height - gap * (rows - 1)) / rows;
    if (cellW <= 0 || cellH <= 0) continue;
    const tileWidth = Math.min(cellW, cellH * aspect);
    const tileHeight = tileWidth / aspect;
    if (tileWidth > best.tileWidth) best = { columns, rows, tileWidth, tileHeight };
  }
  return {
    columns: best.columns,
    rows: best.rows,
    tileWidth: Math.floor(best.tileWidth),
    tileHeight: Math.floor(best.tileHeight),
  };
}

/**
 * Columns, rows, tile size and paging for `count` tiles in `area`: as many tiles per page as stay
 * at least `minTileWidth` wide (at most `maxPerPage`, at least one).
 */
export function gridLayout(count: number, area: Size, options: GridOptions = {}): GridLayout {
  const { aspect, gap, maxPerPage, minTileWidth } = { ...DEFAULTS, ...options };
  const total = Math.max(0, Math.floor(count));
  if (total === 0) return { columns: 0, rows: 0, tileWidth: 0, tileHeight: 0, perPage: maxPerPage, pages: 1 };
  let perPage = Math.max(1, Math.min(total, maxPerPage));
  let layout = fit(perPage, area, aspect, gap);
  while (perPage > 1 && layout.tileWidth < minTileWidth) {
    perPage--;
    layout = fit(perPage, area, aspect, gap);
  }
  return { ...layout, perPage, pages: Math.ceil(total / perPage) };
}

/** The items of page `page` (0-based, clamped to the pages there are). */
export function pageItems<T>(items: readonly T[], page: number, perPage: number): T[] {
  const pages = Math.max(1, Math.ceil(items.length / Math.max(1, perPage)));
  const p = Math.min(Math.max(0, Math.floor(page)), pages - 1);
  return items.slice(p * perPage, (p + 1) * perPage);
}

/** One tile: a participant's camera (or avatar) or one of their screen shares. */
export interface TileSpec {
  /** Stable key: the identity for a camera tile, `identity#trackSid` for a screen share. */
  key: string;
  identity: string;
  kind: "camera" | "screen";
  /** The video track shown, or `null` (no camera or camera muted: avatar). */
  trackSid: string | null;
}

export interface Arrangement {
  /** The big tile (pinned, else the newest screen share), or `null` for the plain grid. */
  stage: TileSpec | null;
  /** Every other tile, in display order. */
  others: TileSpec[];
}

export function cameraTile(p: Participant): TileSpec {
  const cam = p.tracks.find((t) => t.kind === "video" && t.source === "camera" && !t.muted);
  return { key: p.identity, identity: p.identity, kind: "camera", trackSid: cam ? cam.sid : null };
}

export function screenTiles(p: Participant): TileSpec[] {
  return p.tracks
    .filter((t) => t.kind === "video" && t.source === "screen_share")
    .map((t) => ({ key: `${p.identity}#${t.sid}`, identity: p.identity, kind: "screen" as const, trackSid: t.sid }));
}

/**
 * Stage and order: the pinned tile goes on stage, else the most recent screen share. Others keep
 * join order with the local participant first, screen shares before cameras; the loudest speakers
 * not on the first page are moved onto its end so whoever talks is seen (`perPage` of the grid).
 */
export function arrangeTiles(
  participants: readonly Participant[],
  opts: { pinned: string | null; activeSpeakers: readonly string[]; perPage?: number },
): Arrangement {
  const ordered = [...participants].sort((a, b) => Number(b.isLocal) - Number(a.isLocal));
  const screens = ordered.flatMap(screenTiles);
  const cameras = ordered.map(cameraTile);
  const all = [...screens, ...cameras];
  let stage: TileSpec | null = null;
  if (opts.pinned !== null) stage = all.find((t) => t.key === opts.pinned) ?? null;
  if (stage === null && screens.length > 0) stage = screens[screens.length - 1] ?? null;
  const others = all.filter((t) => t !== stage);
  const perPage = opts.perPage ?? others.length;
  if (perPage > 0 && others.length > perPage) {
    for (const identity of [...opts.activeSpeakers].reverse()) {
      const at = others.findIndex((t) => t.kind === "camera" && t.identity === identity);
      if (at >= perPage) {
        const [tile] = others.splice(at, 1);
        if (tile) others.splice(perPage - 1, 0, tile);
      }
    }
  }
  return { stage, others };
}

export interface StageLayout {
  stage: Rect;
  /** Where the other tiles go: a column on the right, or a row below on narrow windows. */
  rail: Rect;
  railGrid: GridLayout;
  orientation: "side" | "bottom";
}

/** The stage and its rail of other tiles inside `area`. */
export function stageLayout(count: number, area: Size, gap = 8): StageLayout {
  const side = area.width >= area.height * 1.2 && area.width >= 640;
  if (side) {
    const railWidth = Math.max(160, Math.min(280, Math.floor(area.width * 0.22)));
    const stage = { x: 0, y: 0, width: area.width - railWidth - gap, height: area.height };
    const rail = { x: stage.width + gap, y: 0, width: railWidth, height: area.height };
    const railGrid = gridLayout(count, rail, { maxPerPage: Math.max(1, Math.floor((area.height + gap) / (railWidth / (16 / 9) + gap))), minTileWidth: 120 });
    return { stage, rail, railGrid, orientation: "side" };
  }
  const railHeight = Math.max(90, Math.min(160, Math.floor(area.height * 0.22)));
  const stage = { x: 0, y: 0, width: area.width, height: area.height - railHeight - gap };
  const rail = { x: 0, y: stage.height + gap, width: area.width, height: railHeight };
  const railGrid = gridLayout(count, rail, { maxPerPage: Math.max(1, Math.floor((area.width + gap) / (railHeight * (16 / 9) + gap))), minTileWidth: 120 });
  return { stage, rail, railGrid, orientation: "bottom" };
}
