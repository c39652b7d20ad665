/**
 * The logic of the transcripts screen, apart from its markup so that it is tested on its own:
 * timestamps, the parts of a line that match a search (the same rule as `search_transcripts`:
 * case-insensitive), which line of a transcript a search hit points at, and the export buttons.
 */

import type { ExportFormat, TranscriptLine } from "./bridge";

/** How long the search box waits after the last key before asking. */
export const SEARCH_DEBOUNCE_MS = 250;

/**
 * A time from the start of the meeting as `mm:ss` (`h:mm:ss` from one hour on); negative or
 * invalid times show as `00:00`.
 */
export function formatTimestamp(ms: number): string {
  const total = Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

/** A time as an ISO 8601 duration, for `<time datetime>` (e.g. `PT1M5S`). */
export function isoDuration(ms: number): string {
  const total = Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
  return `PT${total}S`;
}

export interface TextPart {
  text: string;
  match: boolean;
}

/**
 * `text` cut into the parts that match `query` (case-insensitive, every occurrence) and those that
 * do not, in order; the parts joined give `text` back. An empty query matches nothing.
 */
export function highlightParts(text: string, query: string): TextPart[] {
  const q = query.trim();
  if (q === "" || text === "") return text === "" ? [] : [{ text, match: false }];
  const parts: TextPart[] = [];
  // Lower-casing can change a string's length (e.g. "İ"): compare character by character on
  // strings of the same length, else fall back to no highlight rather than cut in the wrong place.
  const hay = text.toLowerCase();
  const needle = q.toLowerCase();
  if (hay.length !== text.length) return [{ text, match: false }];
  let from = 0;
  for (;;) {
    const at = hay.indexOf(needle, from);
    if (at < 0) break;
    if (at > from) parts.push({ text: text.slice(from, at), match: false });
    parts.push({ text: text.slice(at, at + needle.length), match: true });
    from = at + needle.length;
  }
  if (from < text.length) parts.push({ text: text.slice(from), match: false });
  return parts;
}

/** The index of the line a hit points at in its transcript (same speaker, start and text), or -1. */
export function hitLineIndex(lines: TranscriptLine[], hit: TranscriptLine): number {
  const exact = lines.findIndex((l) => l.startMs === hit.startMs && l.speaker === hit.speaker && l.text === hit.text);
  if (exact >= 0) return exact;
  // The transcript may have been re-read with a rounding of its times: same speaker and text.
  return lines.findIndex((l) => l.speaker === hit.speaker && l.text === hit.text);
}

/** The i18n key of each export button. */
export const EXPORT_LABELS: Record<ExportFormat, string> = {
  md: "transcripts.exportMd",
  vtt: "transcripts.exportVtt",
  srt: "transcripts.exportSrt",
};
