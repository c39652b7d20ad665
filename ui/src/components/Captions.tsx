/**
 * Live captions in an `aria-live` region: the latest lines, interim text replaced by the final;
 * captions computed on this machine are marked so (for screen readers too), and a meeting
 * room's voices are named ("Salle A – intervenant 2").
 */

import type { Participant } from "../bridge";
import { t } from "../i18n/i18n";
import type { Caption } from "../meeting/state";

/** Who said a caption: the participant, or one voice of a meeting room ("Salle A – intervenant 2"). */
function speaker(name: string, voice: number | undefined): string {
  return voice ? t("captions.voice", { name, voice }) : name;
}

export function Captions({ on, captions, participants }: { on: boolean; captions: Caption[]; participants: Participant[] }) {
  const names = new Map(participants.map((p) => [p.identity, p.isLocal ? t("chat.me") : p.name]));
  const recent = captions.slice(-3);
  return (
    <div id="captions-region" class={`captions${on ? "" : " hidden"}`} data-testid="captions-region" aria-live="polite" aria-label={t("captions.label")} hidden={!on}>
      {on && recent.length === 0 && <p class="hint">{t("captions.waiting")}</p>}
      {on &&
        recent.map((c) => (
          <p
            key={`${c.source}/${c.identity}/${c.segmentId}`}
            class={`${c.final ? "final" : "interim"} source-${c.source}`}
            data-final={String(c.final)}
            data-source={c.source}
            data-identity={c.identity}
            data-voice={c.voice ?? ""}
          >
            <strong>{speaker(names.get(c.identity) ?? c.identity, c.voice)}</strong>{" "}
            {c.source === "device" && (
              <>
                <span class="caption-source">{t("captions.onDevice")}</span>{" "}
              </>
            )}
            {c.text}
          </p>
        ))}
    </div>
  );
}
