/** Reactions floating up over the meeting (still, when the user prefers reduced motion). */

import { useEffect } from "preact/hooks";
import type { Participant } from "../bridge";
import { t } from "../i18n/i18n";
import type { FloatingReaction } from "../meeting/state";

const SHOW_MS = 3000;

function Bubble({ r, name, onDone }: { r: FloatingReaction; name: string; onDone: (id: number) => void }) {
  useEffect(() => {
    const timer = setTimeout(() => onDone(r.id), SHOW_MS);
    return () => clearTimeout(timer);
  }, [r.id, onDone]);
  return (
    <li class="reaction" style={{ left: `${10 + ((r.id * 37) % 60)}%` }}>
      <span class="emoji" aria-hidden="true">{r.emoji}</span>
      <span class="who">{name}</span>
      <span class="sr-only">{t("meeting.reactionFrom", { name, emoji: r.emoji })}</span>
    </li>
  );
}

export function Reactions({ reactions, participants, onDone }: { reactions: FloatingReaction[]; participants: Participant[]; onDone: (id: number) => void }) {
  const names = new Map(participants.map((p) => [p.identity, p.isLocal ? t("chat.me") : p.name]));
  return (
    <ul class="reactions" aria-live="polite">
      {reactions.map((r) => (
        <Bubble key={r.id} r={r} name={names.get(r.identity) ?? r.identity} onDone={onDone} />
      ))}
    </ul>
  );
}
