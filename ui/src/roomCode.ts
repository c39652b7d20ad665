/**
 * Visio room codes (`abc-defg-hij`), read from what a user types or pastes the way Visio's web
 * client and the Rust `room_code` crate do: the last path segment of a link, case and missing
 * hyphens forgiven. Checked here so a typo is caught before anything is asked of the server.
 */

const PATTERN = /^[a-z]{3}-[a-z]{4}-[a-z]{3}$/;

/** Exactly Visio's pattern `[a-z]{3}-[a-z]{4}-[a-z]{3}`. */
export function isValidRoomCode(code: string): boolean {
  return PATTERN.test(code);
}

/** The normalised room code in a link or typed code, or `null` when there is none. */
export function normalizeRoomCode(input: string): string | null {
  const beforeQuery = input.trim().split(/[?#]/)[0] ?? "";
  const segments = beforeQuery.replace(/\/+$/, "").split("/");
  const last = segments[segments.length - 1] ?? "";
  const letters = last.replace(/[-\s]/g, "").toLowerCase();
  if (!/^[a-z]{10}$/.test(letters)) return null;
  // Hyphens, when typed, must be at Visio's places.
  if (last.includes("-") && !isValidRoomCode(last.toLowerCase())) return null;
  return `${letters.slice(0, 3)}-${letters.slice(3, 7)}-${letters.slice(7, 10)}`;
}

/** `true` when the input names a server as well as a room (a link rather than a bare code). */
export function looksLikeLink(input: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(input.trim());
}
