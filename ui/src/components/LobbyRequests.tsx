/** For the room's organiser: who waits in the lobby, each with admit and refuse. */

import type { WaitingParticipant } from "../bridge";
import { t } from "../i18n/i18n";

export function LobbyRequests(props: { waiting: WaitingParticipant[]; onAnswer: (id: string, allow: boolean) => void }) {
  if (props.waiting.length === 0) return null;
  return (
    <section class="banner lobby-requests" data-testid="lobby-requests" aria-labelledby="lobby-requests-title">
      <h2 id="lobby-requests-title">{t("lobby.title", { count: props.waiting.length })}</h2>
      <ul>
        {props.waiting.map((w) => (
          <li key={w.id} data-testid="lobby-request" data-id={w.id}>
            <span class="person-name">{w.name}</span>
            <button type="button" class="button small primary" data-testid="lobby-admit" aria-label={t("lobby.admit", { name: w.name })} onClick={() => props.onAnswer(w.id, true)}>
              {t("lobby.admitShort")}
            </button>
            <button type="button" class="button small secondary" data-testid="lobby-deny" aria-label={t("lobby.deny", { name: w.name })} onClick={() => props.onAnswer(w.id, false)}>
              {t("lobby.denyShort")}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
