/**
 * Visio's keyboard shortcuts (the same keys as the Visio web app, so habits carry over):
 * Ctrl+D microphone, Ctrl+E camera, hold V to talk, Ctrl+Shift+H hand, Ctrl+Shift+E reactions,
 * Ctrl+Shift+C chat (Ctrl+Shift+M too), Ctrl+Shift+P participants, Ctrl+Shift+F full screen,
 * Ctrl+/ the list of shortcuts, F2 the control bar. Cmd stands for Ctrl on macOS.
 */

export type ShortcutId =
  | "toggle-microphone"
  | "toggle-camera"
  | "raise-hand"
  | "reactions"
  | "toggle-chat"
  | "toggle-participants"
  | "fullscreen"
  | "open-shortcuts"
  | "focus-toolbar"
  | "toggle-captions";

export interface KeyLike {
  key: string;
  code: string;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
}

/** The shortcuts with their key labels, for the help dialog. */
export const SHORTCUTS: ReadonlyArray<{ id: ShortcutId | "push-to-talk"; keys: string }> = [
  { id: "toggle-microphone", keys: "Ctrl+D" },
  { id: "toggle-camera", keys: "Ctrl+E" },
  { id: "push-to-talk", keys: "V" },
  { id: "raise-hand", keys: "Ctrl+Shift+H" },
  { id: "reactions", keys: "Ctrl+Shift+E" },
  { id: "toggle-chat", keys: "Ctrl+Shift+C" },
  { id: "toggle-participants", keys: "Ctrl+Shift+P" },
  { id: "toggle-captions", keys: "Ctrl+Shift+S" },
  { id: "fullscreen", keys: "Ctrl+Shift+F" },
  { id: "open-shortcuts", keys: "Ctrl+/" },
  { id: "focus-toolbar", keys: "F2" },
];

/** The shortcut a key press means, or `null`. Letters are matched by physical key (`code`). */
export function matchShortcut(e: KeyLike): ShortcutId | null {
  const ctrl = e.ctrlKey || e.metaKey;
  if (e.key === "F2" && !ctrl && !e.shiftKey && !e.altKey) return "focus-toolbar";
  if (!ctrl || e.altKey) return null;
  if (e.key === "/" || e.code === "Slash") return e.shiftKey ? null : "open-shortcuts";
  const letter = /^Key([A-Z])$/.exec(e.code)?.[1] ?? e.key.toUpperCase();
  if (!e.shiftKey) {
    if (letter === "D") return "toggle-microphone";
    if (letter === "E") return "toggle-camera";
    return null;
  }
  switch (letter) {
    case "H":
      return "raise-hand";
    case "E":
      return "reactions";
    case "C":
    case "M":
      return "toggle-chat";
    case "P":
      return "toggle-participants";
    case "F":
      return "fullscreen";
    case "S":
      return "toggle-captions";
    default:
      return null;
  }
}

/** Hold V (no modifier, not typing) to talk while muted. */
export function isPushToTalk(e: KeyLike): boolean {
  return e.code === "KeyV" && !e.ctrlKey && !e.metaKey && !e.altKey && !e.shiftKey;
}

/** Key presses in text fields belong to the field, except Ctrl shortcuts. */
export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
}
