/** An inline error: the translated, actionable sentence first, the technical detail in small print. */

import type { AppError } from "../bridge";
import { t } from "../i18n/i18n";

export function ErrorNotice({ error, testid }: { error: AppError; testid?: string }) {
  return (
    <div class="error-notice" role="alert" data-testid={testid} data-code={error.code}>
      <p class="title">{t(`error.${error.code}.title`)}</p>
      <p>{t(`error.${error.code}.action`)}</p>
      {error.message && <p class="detail">{error.message}</p>}
    </div>
  );
}
