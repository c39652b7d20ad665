/** A meeting that could not start or was lost for good: what happened and what to do next. */

import { useEffect, useRef } from "preact/hooks";
import type { AppError, JoinRequest, RoomRef } from "../bridge";
import { useNav } from "../app";
import { t } from "../i18n/i18n";

export function ErrorScreen({ error, room, request }: { error: AppError; room?: RoomRef | undefined; request?: JoinRequest | undefined }) {
  const { go } = useNav();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const canRetry = room !== undefined && ["unreachable", "not_connected", "room_full", "internal", "protocol"].includes(error.code);
  const withoutDevice = room !== undefined && ["camera_busy", "camera_missing", "microphone_missing"].includes(error.code);
  return (
    <main class="screen center error-screen" data-testid="error-screen" data-code={error.code} aria-labelledby="error-title">
      <div class="card">
        <span class="error-icon" aria-hidden="true">!</span>
        <h1 id="error-title" ref={heading} tabIndex={-1}>
          {t(`error.${error.code}.title`)}
        </h1>
        <p data-testid="error-message" class="error-action">
          {t(`error.${error.code}.action`)}
        </p>
        {error.message && (
          <details>
            <summary>{t("error.details")}</summary>
            <p class="detail">{error.message}</p>
          </details>
        )}
        <div class="row">
          {canRetry && room && (
            <button type="button" class="button primary" onClick={() => go({ name: "prejoin", room })}>
              {t("error.retry")}
            </button>
          )}
          {withoutDevice && room && (
            <button type="button" class="button primary" onClick={() => go({ name: "prejoin", room, error })}>
              {t(error.code === "microphone_missing" ? "error.joinWithoutMic" : "error.joinWithoutCamera")}
            </button>
          )}
          <button type="button" class="button secondary" data-testid="error-back-button" onClick={() => go({ name: "home" })}>
            {t("error.back")}
          </button>
        </div>
        {request && <p class="hint">{t("error.room", { room: room?.roomCode ?? "" })}</p>}
      </div>
    </main>
  );
}
