import { describe, expect, it } from "vitest";
import { isValidRoomCode, looksLikeLink, normalizeRoomCode } from "./roomCode";

describe("room codes are normalised like Visio", () => {
  it("keeps a valid code", () => {
    expect(normalizeRoomCode("abc-defg-hij")).toBe("abc-defg-hij");
  });
  it("forgives case and missing hyphens and spaces", () => {
    expect(normalizeRoomCode("ABCDEFGHIJ")).toBe("abc-defg-hij");
    expect(normalizeRoomCode("  Abc-Defg-Hij ")).toBe("abc-defg-hij");
    expect(normalizeRoomCode("abc defg hij")).toBe("abc-defg-hij");
  });
  it("reads the code at the end of links", () => {
    expect(normalizeRoomCode("https://visio.numerique.gouv.fr/abc-defg-hij?x=1")).toBe("abc-defg-hij");
    expect(normalizeRoomCode("http://127.0.0.1:7880/ABCDEFGHIJ/")).toBe("abc-defg-hij");
    expect(normalizeRoomCode("visio://visio.example.fr/xyz-abcd-efg#top")).toBe("xyz-abcd-efg");
  });
  it("rejects what is not a room code", () => {
    for (const bad of ["", "abc-defg-hi", "ab-cdefg-hij", "abc-defg-hi1", "http://127.0.0.1:7880/", "ws://h/rtc", "abcdefghijk", "é".repeat(10)]) {
      expect(normalizeRoomCode(bad), bad).toBeNull();
    }
  });
  it("validates exactly the pattern", () => {
    expect(isValidRoomCode("abc-defg-hij")).toBe(true);
    expect(isValidRoomCode("ABC-DEFG-HIJ")).toBe(false);
    expect(isValidRoomCode("abcdefghij")).toBe(false);
  });
  it("tells links from bare codes", () => {
    expect(looksLikeLink("https://h/abc-defg-hij")).toBe(true);
    expect(looksLikeLink("visio://h/abc-defg-hij")).toBe(true);
    expect(looksLikeLink("abc-defg-hij")).toBe(false);
  });
});
