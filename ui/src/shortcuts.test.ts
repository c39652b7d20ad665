import { describe, expect, it } from "vitest";
import { isPushToTalk, matchShortcut, type KeyLike } from "./shortcuts";

const key = (code: string, mods: Partial<KeyLike> = {}, k?: string): KeyLike => ({
  key: k ?? code.replace(/^Key/, "").toLowerCase(),
  code,
  ctrlKey: false,
  metaKey: false,
  shiftKey: false,
  altKey: false,
  ...mods,
});

describe("Visio's keyboard shortcuts", () => {
  it("maps Ctrl and Ctrl+Shift letters as Visio does", () => {
    expect(matchShortcut(key("KeyD", { ctrlKey: true }))).toBe("toggle-microphone");
    expect(matchShortcut(key("KeyE", { ctrlKey: true }))).toBe("toggle-camera");
    expect(matchShortcut(key("KeyE", { metaKey: true }))).toBe("toggle-camera");
    expect(matchShortcut(key("KeyH", { ctrlKey: true, shiftKey: true }, "H"))).toBe("raise-hand");
    expect(matchShortcut(key("KeyE", { ctrlKey: true, shiftKey: true }, "E"))).toBe("reactions");
    expect(matchShortcut(key("KeyC", { ctrlKey: true, shiftKey: true }, "C"))).toBe("toggle-chat");
    expect(matchShortcut(key("KeyP", { ctrlKey: true, shiftKey: true }, "P"))).toBe("toggle-participants");
    expect(matchShortcut(key("KeyF", { ctrlKey: true, shiftKey: true }, "F"))).toBe("fullscreen");
    expect(matchShortcut(key("Slash", { ctrlKey: true }, "/"))).toBe("open-shortcuts");
    expect(matchShortcut(key("F2", {}, "F2"))).toBe("focus-toolbar");
  });
  it("follows the physical key on AZERTY keyboards", () => {
    // On AZERTY the key labelled A sits where QWERTY has Q: the code decides.
    expect(matchShortcut(key("KeyD", { ctrlKey: true }, "d"))).toBe("toggle-microphone");
  });
  it("ignores plain letters and unknown combinations", () => {
    expect(matchShortcut(key("KeyD"))).toBeNull();
    expect(matchShortcut(key("KeyD", { ctrlKey: true, altKey: true }))).toBeNull();
    expect(matchShortcut(key("KeyZ", { ctrlKey: true }))).toBeNull();
  });
  it("holds V to talk, only without modifiers", () => {
    expect(isPushToTalk(key("KeyV"))).toBe(true);
    expect(isPushToTalk(key("KeyV", { ctrlKey: true }))).toBe(false);
  });
});
