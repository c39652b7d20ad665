/**
 * Line icons drawn as inline SVG: they render the same on every platform (emoji fonts are often
 * missing on Linux desktops) and are always decorative — the button carries the accessible name.
 */

const PATHS = {
  mic: "M9 6a3 3 0 0 1 6 0v5a3 3 0 0 1-6 0zM5 11a7 7 0 0 0 14 0M12 18v3",
  micOff: "M9 6a3 3 0 0 1 6 0v5a3 3 0 0 1-6 0zM5 11a7 7 0 0 0 14 0M12 18v3M4 4l16 16",
  camera: "M3 8a2 2 0 0 1 2-2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2zM15 10l6-3v10l-6-3",
  cameraOff: "M3 8a2 2 0 0 1 2-2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2zM15 10l6-3v10l-6-3M3 3l18 18",
  settings: "M12 9a3 3 0 1 1 0 6a3 3 0 0 1 0-6M12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1L7 17M17 7l2.1-2.1",
  hand: "M8 12V6a1.5 1.5 0 0 1 3 0v5M11 10V4.5a1.5 1.5 0 0 1 3 0V10M14 10V5.5a1.5 1.5 0 0 1 3 0V11M17 11V9a1.5 1.5 0 0 1 3 0v5a7 7 0 0 1-7 7h-1a6 6 0 0 1-5-2.7l-3-4.3a1.5 1.5 0 0 1 2.4-1.8L8 15",
  smile: "M12 3a9 9 0 1 1 0 18a9 9 0 0 1 0-18M8 14a5 5 0 0 0 8 0M9 9.5v1M15 9.5v1",
  captions: "M2 7a2 2 0 0 1 2-2h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2zM10.5 10a2.5 2.5 0 1 0 0 4M17 10a2.5 2.5 0 1 0 0 4",
  deviceCaptions: "M4 4h16v11H4zM2 19h20M10 8a2 2 0 1 0 0 3.5M16 8a2 2 0 1 0 0 3.5",
  leave: "M3 14.5c5-5 13-5 18 0l-2.5 3-3.5-1.5v-2.6a11 11 0 0 0-6 0V16l-3.5 1.5z",
  chat: "M4 5h16v11H9l-5 4z",
  people: "M9 5a3 3 0 1 1 0 6a3 3 0 0 1 0-6M3 20a6 6 0 0 1 12 0M17 6.5a2.5 2.5 0 1 1 0 5M16 14.5a5 5 0 0 1 5 5",
  keyboard: "M2 8a2 2 0 0 1 2-2h16a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2zM6 10h.01M10 10h.01M14 10h.01M18 10h.01M7 14h10",
  pin: "M9 3h6l-1 6 3 3H7l3-3zM12 12v9",
  close: "M6 6l12 12M18 6L6 18",
  lock: "M6 11h12v10H6zM8 11V7a4 4 0 0 1 8 0v4",
  prev: "M15 5l-7 7 7 7",
  next: "M9 5l7 7-7 7",
} as const;

export type IconName = keyof typeof PATHS;

export function Icon({ name, size = 22 }: { name: IconName; size?: number }) {
  return (
    <svg class="icon" width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">
      <path d={PATHS[name]} />
    </svg>
  );
}
