/** The list of keyboard shortcuts (Ctrl+/). */

import { useEffect, useRef } from "preact/hooks";
import { t } from "../i18n/i18n";
import { SHORTCUTS } from "../shortcuts";

export function ShortcutsDialog({ onClose }: { onClose: () => void }) {
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    close.current?.focus();
    return () => before?.focus();
  }, []);
  return (
    <div class="modal-backdrop" onClick={onClose}>
      <div
        class="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="shortcuts-title"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => {
          if (e.key === "Escape") onClose();
        }}
      >
        <h2 id="shortcuts-title">{t("shortcuts.title")}</h2>
        <dl class="shortcuts">
          {SHORTCUTS.map((s) => (
            <div key={s.id}>
              <dt>
                <kbd>{s.keys}</kbd>
              </dt>
              <dd>{t(`shortcuts.${s.id}`)}</dd>
            </div>
          ))}
        </dl>
        <button type="button" class="button primary" ref={close} onClick={onClose}>
          {t("settings.close")}
        </button>
      </div>
    </div>
  );
}
