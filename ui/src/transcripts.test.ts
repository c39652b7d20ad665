import { describe, expect, it } from "vitest";
import type { TranscriptLine } from "./bridge";
import { formatTimestamp, highlightParts, hitLineIndex, isoDuration } from "./transcripts";

const line = (speaker: string, s: number, text: string): TranscriptLine => ({ speaker, startMs: s * 1000, endMs: s * 1000 + 900, text });

describe("transcripts screen logic", () => {
  it("formats times from the start of the meeting as mm:ss, h:mm:ss past an hour", () => {
    expect(formatTimestamp(0)).toBe("00:00");
    expect(formatTimestamp(999)).toBe("00:00");
    expect(formatTimestamp(65_400)).toBe("01:05");
    expect(formatTimestamp(59 * 60_000 + 59_999)).toBe("59:59");
    expect(formatTimestamp(3_600_000)).toBe("1:00:00");
    expect(formatTimestamp(3_725_000)).toBe("1:02:05");
    expect(formatTimestamp(-5)).toBe("00:00");
    expect(formatTimestamp(Number.NaN)).toBe("00:00");
    expect(isoDuration(65_400)).toBe("PT65S");
  });

  it("highlights every case-insensitive occurrence and gives the text back whole", () => {
    const parts = highlightParts("Le budget, le BUDGET et le Budget annexe", "budget");
    expect(parts.filter((p) => p.match).map((p) => p.text)).toEqual(["budget", "BUDGET", "Budget"]);
    expect(highlightParts("budgétaire", "budget")).toEqual([{ text: "budgétaire", match: false }]);
    expect(parts.map((p) => p.text).join("")).toBe("Le budget, le BUDGET et le Budget annexe");
    expect(parts[0]).toEqual({ text: "Le ", match: false });
    expect(highlightParts("Élise a parlé", "élise")).toEqual([
      { text: "Élise", match: true },
      { text: " a parlé", match: false },
    ]);
  });

  it("highlights nothing for an empty query, a miss or an empty text", () => {
    expect(highlightParts("bonjour", "  ")).toEqual([{ text: "bonjour", match: false }]);
    expect(highlightParts("bonjour", "xyz")).toEqual([{ text: "bonjour", match: false }]);
    expect(highlightParts("", "a")).toEqual([]);
    expect(highlightParts("aaa", "aa")).toEqual([
      { text: "aa", match: true },
      { text: "a", match: false },
    ]);
  });

  it("finds the line a search hit points at", () => {
    const lines = [line("Alice", 1, "bonjour"), line("Bob", 5, "bonjour"), line("Bob", 9, "au revoir")];
    expect(hitLineIndex(lines, line("Bob", 5, "bonjour"))).toBe(1);
    expect(hitLineIndex(lines, line("Bob", 9, "au revoir"))).toBe(2);
    // Times rounded differently: same speaker and text still find it.
    expect(hitLineIndex(lines, { ...line("Bob", 9, "au revoir"), startMs: 9001 })).toBe(2);
    expect(hitLineIndex(lines, line("Carol", 1, "bonjour"))).toBe(-1);
  });
});
