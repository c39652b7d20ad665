/** "Set by your IT department", next to a setting IT policy fixed (`Settings.locked`). */

import { t } from "../i18n/i18n";
import { Icon } from "./Icon";

export function LockedMark() {
  return (
    <span class="locked" title={t("settings.locked")}>
      <Icon name="lock" size={14} /> {t("settings.locked")}
    </span>
  );
}
