/** Everyone in the room: raised hands first, with microphone state and a pin button. */

import type { Participant } from "../bridge";
import { t } from "../i18n/i18n";
import { micMuted } from "../meeting/state";
import { QualityBars } from "./Tile";
import { Icon } from "./Icon";

export function ParticipantsPanel(props: { participants: Participant[]; micOn: boolean; pinned: string | null; onPin: (k: string | null) => void; onClose: () => void }) {
  const sorted = [...props.participants].sort((a, b) => {
    const ha = a.handRaisedAt ?? "";
    const hb = b.handRaisedAt ?? "";
    if (ha !== hb) return ha === "" ? 1 : hb === "" ? -1 : ha.localeCompare(hb);
    if (a.isLocal !== b.isLocal) return a.isLocal ? -1 : 1;
    return a.name.localeCompare(b.name);
  });
  return (
    <aside id="participants-panel" class="side-panel" data-testid="participants-panel" aria-labelledby="participants-title">
      <header>
        <h2 id="participants-title">{t("participants.title", { count: props.participants.length })}</h2>
        <button type="button" class="close" aria-label={t("participants.close")} title={t("participants.close")} onClick={props.onClose}>
          <Icon name="close" size={18} />
        </button>
      </header>
      <ul class="people">
        {sorted.map((p) => {
          const muted = p.isLocal ? !props.micOn : micMuted(p);
          const pinned = props.pinned === p.identity;
          return (
            <li key={p.identity} data-identity={p.identity}>
              <span class="person-name">
                {p.isLocal ? t("meeting.you", { name: p.name }) : p.name}
                {p.handRaisedAt && (
                  <span class="badge hand" role="img" aria-label={t("meeting.handRaised")}>
                    <Icon name="hand" size={16} />
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
            </li>
          );
        })}
      </ul>
    </aside>
  );
}
