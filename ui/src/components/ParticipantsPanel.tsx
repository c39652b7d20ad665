/**
 * Everyone in the room: raised hands first in the order they were raised (numbered, so the
 * organiser gives the floor in turn), with microphone state and a pin button; a participant can
 * be marked as a meeting room whose microphone carries several voices (on-device captions then
 * name each voice); an organiser can also mute a participant's microphone or remove them
 * (asked twice).
 */

import { useEffect, useState } from "preact/hooks";
import type { Participant } from "../bridge";
import { t } from "../i18n/i18n";
import { micMuted, raisedHands } from "../meeting/state";
import { QualityBars } from "./Tile";
import { Icon } from "./Icon";

export interface Moderation {
  mute(identity: string): void;
  remove(identity: string): void;
}

export function ParticipantsPanel(props: {
  participants: Participant[];
  micOn: boolean;
  pinned: string | null;
  onPin: (k: string | null) => void;
  onClose: () => void;
  /** Present when the user administers the room. */
  moderation?: Moderation | undefined;
  /** Marks a participant as a meeting room with several voices on its microphone. */
  onSeveralVoices?: ((identity: string, enabled: boolean) => void) | undefined;
}) {
  const hands = raisedHands(props.participants);
  const handOrder = new Map(hands.map((p, i) => [p.identity, i + 1]));
  const sorted = [...props.participants].sort((a, b) => {
    const ha = handOrder.get(a.identity) ?? Infinity;
    const hb = handOrder.get(b.identity) ?? Infinity;
    if (ha !== hb) return ha - hb;
    if (a.isLocal !== b.isLocal) return a.isLocal ? -1 : 1;
    return a.name.localeCompare(b.name);
  });
  const [confirmRemove, setConfirmRemove] = useState<string | null>(null);
  useEffect(() => {
    if (confirmRemove === null) return;
    const timer = setTimeout(() => setConfirmRemove(null), 5000);
    return () => clearTimeout(timer);
  }, [confirmRemove]);
  return (
    <aside id="participants-panel" class="side-panel" data-testid="participants-panel" aria-labelledby="participants-title">
      <header>
        <h2 id="participants-title">{t("participants.title", { count: props.participants.length })}</h2>
        <button type="button" class="close" aria-label={t("participants.close")} title={t("participants.close")} onClick={props.onClose}>
          <Icon name="close" size={18} />
        </button>
      </header>
      {hands.length > 0 && <p class="hands-summary" data-testid="raised-hands-count">{t("participants.handsUp", { count: hands.length })}</p>}
      <ul class="people">
        {sorted.map((p) => {
          const muted = p.isLocal ? !props.micOn : micMuted(p);
          const pinned = props.pinned === p.identity;
          const turn = handOrder.get(p.identity);
          return (
            <li key={p.identity} data-identity={p.identity} data-hand-order={turn ?? ""}>
              <span class="person-name">
                {p.isLocal ? t("meeting.you", { name: p.name }) : p.name}
                {turn !== undefined && (
                  <span class="badge hand" role="img" aria-label={t("participants.handTurn", { turn })}>
                    <Icon name="hand" size={16} />
                    <span aria-hidden="true">{turn}</span>
                  </span>
                )}
              </span>
              <QualityBars quality={p.quality} />
              <span role="img" aria-label={muted ? t("meeting.micMuted") : t("meeting.micOn")}>
                <Icon name={muted ? "micOff" : "mic"} size={18} />
              </span>
              <button
                type="button"
                class={`pin${pinned ? " active" : ""}`}
                aria-pressed={pinned}
                aria-label={pinned ? t("meeting.unpin", { name: p.name }) : t("meeting.pin", { name: p.name })}
                onClick={() => props.onPin(pinned ? null : p.identity)}
              >
                <Icon name="pin" size={16} />
              </button>
              {props.onSeveralVoices && !p.isLocal && (
                <button
                  type="button"
                  class={`pin${p.severalVoices ? " active" : ""}`}
                  data-testid="participant-several-voices"
                  aria-pressed={p.severalVoices}
                  aria-label={t("participants.severalVoices", { name: p.name })}
                  title={t("participants.severalVoices", { name: p.name })}
                  onClick={() => props.onSeveralVoices?.(p.identity, !p.severalVoices)}
                >
                  <Icon name="people" size={16} />
                </button>
              )}
              {props.moderation && !p.isLocal && (
                <>
                  <button
                    type="button"
                    class="pin"
                    data-testid="participant-mute"
                    disabled={muted}
                    aria-label={t("participants.mute", { name: p.name })}
                    title={t("participants.mute", { name: p.name })}
                    onClick={() => props.moderation?.mute(p.identity)}
                  >
                    <Icon name="micOff" size={16} />
                  </button>
                  <button
                    type="button"
                    class={`button small ${confirmRemove === p.identity ? "danger" : "secondary"}`}
                    data-testid="participant-remove"
                    aria-label={confirmRemove === p.identity ? t("participants.removeConfirm", { name: p.name }) : t("participants.remove", { name: p.name })}
                    onClick={() => {
                      if (confirmRemove === p.identity) {
                        setConfirmRemove(null);
                        props.moderation?.remove(p.identity);
                      } else setConfirmRemove(p.identity);
                    }}
                  >
                    {confirmRemove === p.identity ? t("participants.removeConfirmShort") : t("participants.removeShort")}
                  </button>
                </>
              )}
            </li>
          );
        })}
      </ul>
    </aside>
  );
}
