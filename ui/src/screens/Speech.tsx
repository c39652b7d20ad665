/**
 * Speech recognition on this device: whether it can run (the voice-activity model and ONNX
 * Runtime), the installed Whisper models (verify, remove asked twice), installing one (a file on
 * this computer, an address with its SHA-256, or the IT department's address), and the on-device
 * captions settings. Logic in `../speech.ts`.
 */

import { useEffect, useRef, useState } from "preact/hooks";
import { toAppError, type AppError, type ModelsInfo, type SpeechModel } from "../bridge";
import { useApp } from "../app";
import { language, t } from "../i18n/i18n";
import { EMPTY_INSTALL_FORM, formatMegabytes, installRequest, shortSha, type InstallForm } from "../speech";
import { ErrorNotice } from "../components/ErrorNotice";
import { LockedMark } from "../components/LockedMark";

export function SpeechPanel({ onClose }: { onClose: () => void }) {
  const { bridge } = useApp();
  const [info, setInfo] = useState<ModelsInfo | null>(null);
  const [error, setError] = useState<AppError | null>(null);
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);
  const queue = useRef<Promise<void>>(Promise.resolve());
  const panel = useRef<HTMLElement>(null);
  const modelsTitle = useRef<HTMLHeadingElement>(null);
  const messages = useRef<HTMLDivElement>(null);

  async function refresh() {
    try {
      setInfo(await bridge.call("list_models", undefined));
    } catch (e) {
      setError(toAppError(e));
    }
  }

  useEffect(() => {
    void refresh();
    panel.current?.querySelector<HTMLElement>("button, input, select")?.focus();
  }, []);

  // The outcome of an action at the bottom of the panel (install) is brought into view.
  useEffect(() => {
    if (error || notice) messages.current?.scrollIntoView({ block: "nearest" });
  }, [error, notice]);

  /**
   * Runs a command: its message as the notice, the error shown, the list read again. Controls stay
   * enabled meanwhile, so that the focus stays where it is.
   */
  const run: Run = (action) => {
    // One command at a time, in the order asked (a fast second click waits for the first).
    const next = queue.current.then(() => exec(action));
    queue.current = next;
    return next;
  };

  async function exec(action: () => Promise<string | void>) {
    setBusy(true);
    setError(null);
    setNotice("");
    try {
      const message = await action();
      if (message) setNotice(message);
    } catch (e) {
      setError(toAppError(e));
    } finally {
      await refresh();
      setBusy(false);
      // A removed model takes its focused button with it: the focus goes to the list's title.
      requestAnimationFrame(() => {
        if (panel.current && !panel.current.contains(document.activeElement)) modelsTitle.current?.focus();
      });
    }
  }

  return (
    <section
      id="speech-panel"
      ref={panel}
      class="settings-panel speech-panel"
      role="dialog"
      aria-labelledby="speech-title"
      data-testid="speech-panel"
      aria-busy={busy}
      onKeyDown={(e) => {
        if (e.key === "Escape") onClose();
      }}
    >
      <h2 id="speech-title">{t("speech.title")}</h2>
      {info === null ? (
        <p class="hint">{t("speech.loading")}</p>
      ) : (
        <>
          <SpeechStatusLine info={info} />
          <h3 ref={modelsTitle} tabIndex={-1}>
            {t("speech.models")}
          </h3>
          {info.models.length === 0 ? (
            <p class="hint">{t("speech.noModels")}</p>
          ) : (
            <ul class="models">
              {info.models.map((m) => (
                <ModelItem key={m.name} model={m} run={run} />
              ))}
            </ul>
          )}
          <p class="hint detail">{t("speech.dir", { dir: info.dir })}</p>
        </>
      )}
      <div ref={messages}>
        {notice && (
          <p class="notice" role="status" data-testid="speech-notice">
            {notice}
          </p>
        )}
        {error && <ErrorNotice error={error} testid="speech-error" />}
      </div>
      {info !== null && <SpeechSettings models={info.models} run={run} />}
      {info !== null && <InstallModel policyUrl={info.policyUrl} run={run} />}
      <button type="button" class="button primary" onClick={onClose}>
        {t("speech.close")}
      </button>
    </section>
  );
}

type Run = (action: () => Promise<string | void>) => Promise<void>;
type BooleanSetting = "onDeviceCaptions" | "publishMyCaptions" | "saveTranscripts";

function SpeechStatusLine({ info }: { info: ModelsInfo }) {
  const { speech, models } = info;
  const ready = speech.ready && models.length > 0;
  return (
    <div class={`speech-status ${ready ? "ready" : "not-ready"}`} data-testid="speech-status" data-ready={String(speech.ready)}>
      {speech.ready ? (
        <p>
          <strong>{models.length > 0 ? t("speech.ready") : t("speech.readyNoModel")}</strong>
        </p>
      ) : (
        <>
          <p>
            <strong>{t("speech.unavailable")}</strong>
          </p>
          {speech.missing && <p>{t("speech.missing", { what: speech.missing })}</p>}
          <p>{t("speech.unavailableHint")}</p>
        </>
      )}
    </div>
  );
}

function ModelItem({ model, run }: { model: SpeechModel; run: Run }) {
  const { bridge, settings } = useApp();
  const [confirm, setConfirm] = useState(false);
  useEffect(() => {
    if (!confirm) return;
    const timer = setTimeout(() => setConfirm(false), 5000);
    return () => clearTimeout(timer);
  }, [confirm]);
  const name = model.name;
  const inUse = settings.captionsModel === name;
  return (
    <li class="model" data-testid="model" data-name={name}>
      <p class="model-title">
        <strong>{name}</strong>
        {inUse && <em> ({t("speech.inUse")})</em>}
      </p>
      <p class="meta">
        {t("speech.size", { size: formatMegabytes(model.size, language()) })} · <span title={model.sha256}>{t("speech.sha", { sha: shortSha(model.sha256) })}</span>
      </p>
      <div class="row">
        <button
          type="button"
          class="button small secondary"
          data-testid="model-verify"
          aria-label={t("speech.verifyLabel", { name })}
          onClick={() =>
            void run(async () => {
              const checked = await bridge.call("verify_model", { name });
              return t("speech.verified", { name: checked.name });
            })
          }
        >
          {t("speech.verify")}
        </button>
        <button
          type="button"
          class={`button small ${confirm ? "danger" : "secondary"}`}
          data-testid="model-remove"
          aria-label={confirm ? t("speech.removeConfirmLabel", { name }) : t("speech.removeLabel", { name })}
          onClick={() => {
            if (!confirm) return setConfirm(true);
            setConfirm(false);
            void run(async () => {
              await bridge.call("remove_model", { name });
              return t("speech.removed", { name });
            });
          }}
        >
          {confirm ? t("speech.removeConfirm") : t("speech.remove")}
        </button>
      </div>
    </li>
  );
}

function InstallModel({ policyUrl, run }: { policyUrl: string | null; run: Run }) {
  const { bridge } = useApp();
  const [form, setForm] = useState<InstallForm>(EMPTY_INSTALL_FORM);
  const [installing, setInstalling] = useState(false);
  const set = (patch: Partial<InstallForm>) => setForm({ ...form, ...patch });
  const fromPolicy = form.fromPolicy && policyUrl !== null;
  return (
    <form
      class="install-model"
      aria-labelledby="install-title"
      onSubmit={(e) => {
        e.preventDefault();
        if (installing) return;
        const built = installRequest({ ...form, fromPolicy });
        setInstalling(true);
        void run(async () => {
          if ("error" in built) throw built.error;
          const model = await bridge.call("install_model", built.request);
          setForm(EMPTY_INSTALL_FORM);
          return t("speech.installed", { name: model.name, size: formatMegabytes(model.size, language()) });
        }).finally(() => setInstalling(false));
      }}
    >
      <h3 id="install-title">{t("speech.install")}</h3>
      <p class="hint">{t("speech.installHint")}</p>
      <div class="field">
        <label for="model-name">{t("speech.name")}</label>
        <p class="hint" id="model-name-hint">{t("speech.nameHint")}</p>
        <input
          id="model-name"
          data-testid="model-install-name"
          type="text"
          autocomplete="off"
          spellcheck={false}
          aria-describedby="model-name-hint"
          value={form.name}
          onInput={(e) => set({ name: e.currentTarget.value })}
        />
      </div>
      {policyUrl !== null && (
        <div class="field">
          <label class="checkbox">
            <input type="checkbox" data-testid="model-install-policy" checked={form.fromPolicy} aria-describedby="model-policy-hint" onChange={(e) => set({ fromPolicy: e.currentTarget.checked })} />
            {t("speech.fromPolicy")}
          </label>
          <p class="hint detail" id="model-policy-hint">{t("speech.policyFrom", { url: policyUrl })}</p>
        </div>
      )}
      {!fromPolicy && (
        <>
          <div class="field">
            <label for="model-path">{t("speech.path")}</label>
            <input
              id="model-path"
              data-testid="model-install-path"
              type="text"
              autocomplete="off"
              spellcheck={false}
              placeholder={t("speech.pathPlaceholder")}
              value={form.path}
              onInput={(e) => set({ path: e.currentTarget.value })}
            />
          </div>
          <p class="or small">{t("speech.or")}</p>
          <div class="field">
            <label for="model-url">{t("speech.url")}</label>
            <input
              id="model-url"
              data-testid="model-install-url"
              type="text"
              inputMode="url"
              autocomplete="off"
              spellcheck={false}
              placeholder={t("speech.urlPlaceholder")}
              value={form.url}
              onInput={(e) => set({ url: e.currentTarget.value })}
            />
          </div>
        </>
      )}
      <div class="field">
        <label for="model-sha256">{t("speech.sha256")}</label>
        <p class="hint" id="model-sha256-hint">{t("speech.sha256Hint")}</p>
        <input
          id="model-sha256"
          data-testid="model-install-sha256"
          type="text"
          autocomplete="off"
          spellcheck={false}
          aria-describedby="model-sha256-hint"
          class="mono"
          value={form.sha256}
          onInput={(e) => set({ sha256: e.currentTarget.value })}
        />
      </div>
      <button type="submit" class="button secondary" data-testid="model-install-submit" aria-busy={installing}>
        {installing ? t("speech.installing") : t("speech.submit")}
      </button>
    </form>
  );
}

function SpeechSettings({ models, run }: { models: SpeechModel[]; run: Run }) {
  const { bridge, settings, updateSettings, reloadSettings } = useApp();
  const locked = (k: string) => settings.locked.includes(k);
  const [pendingModel, setPendingModel] = useState<{ value: string | null } | null>(null);
  const current = pendingModel ? pendingModel.value : settings.captionsModel;
  // What the user just asked, shown until the settings say what was saved (refused: back as it was).
  const [pending, setPending] = useState<Partial<Record<BooleanSetting, boolean>>>({});
  const checkbox = (testid: string, key: BooleanSetting, label: string, hint: string, onChange: (on: boolean) => Promise<unknown>) => (
    <div class="field">
      <label class="checkbox">
        <input
          type="checkbox"
          data-testid={testid}
          checked={pending[key] ?? settings[key]}
          disabled={locked(key)}
          aria-describedby={`${testid}-hint`}
          onChange={(e) => {
            const on = e.currentTarget.checked;
            setPending((p) => ({ ...p, [key]: on }));
            void run(async () => {
              await onChange(on);
            }).finally(() =>
              setPending((p) => {
                const { [key]: _, ...rest } = p;
                return rest;
              }),
            );
          }}
        />
        {t(label)} {locked(key) && <LockedMark />}
      </label>
      <p class="hint" id={`${testid}-hint`}>{t(hint)}</p>
    </div>
  );
  return (
    <fieldset class="speech-settings">
      <legend>{t("speech.settings")}</legend>
      {checkbox("setting-on-device-captions", "onDeviceCaptions", "speech.onDeviceCaptions", "speech.onDeviceCaptionsHint", async (on) => {
        // The command checks a model and the runtime are there, and starts them in a meeting.
        try {
          await bridge.call("set_on_device_captions", { enabled: on });
        } finally {
          await reloadSettings();
        }
      })}
      {checkbox("setting-publish-my-captions", "publishMyCaptions", "speech.publishMyCaptions", "speech.publishMyCaptionsHint", (on) => updateSettings({ publishMyCaptions: on }))}
      {checkbox("setting-save-transcripts", "saveTranscripts", "speech.saveTranscripts", "speech.saveTranscriptsHint", (on) => updateSettings({ saveTranscripts: on }))}
      <div class="field">
        <label for="captions-model">
          {t("speech.captionsModel")} {locked("captionsModel") && <LockedMark />}
        </label>
        <select
          id="captions-model"
          data-testid="setting-captions-model"
          value={current ?? ""}
          disabled={locked("captionsModel")}
          onChange={(e) => {
            const value = e.currentTarget.value === "" ? null : e.currentTarget.value;
            setPendingModel({ value });
            void run(() => updateSettings({ captionsModel: value })).finally(() => setPendingModel(null));
          }}
        >
          <option value="">{t("speech.bestModel")}</option>
          {models.map((m) => (
            <option key={m.name} value={m.name}>
              {m.name}
            </option>
          ))}
          {current !== null && !models.some((m) => m.name === current) && <option value={current}>{t("speech.notInstalled", { name: current })}</option>}
        </select>
      </div>
      <div class="field">
        <label for="caption-threads">
          {t("speech.captionThreads")} {locked("captionThreads") && <LockedMark />}
        </label>
        <select
          id="caption-threads"
          data-testid="setting-caption-threads"
          value={settings.captionThreads === null ? "" : String(settings.captionThreads)}
          disabled={locked("captionThreads")}
          aria-describedby="caption-threads-hint"
          onChange={(e) => {
            const v = e.currentTarget.value;
            void run(() => updateSettings({ captionThreads: v === "" ? null : Number(v) }));
          }}
        >
          <option value="">{t("speech.captionThreadsAuto")}</option>
          {[1, 2, 4, 8].map((n) => (
            <option key={n} value={String(n)}>
              {n}
            </option>
          ))}
        </select>
        <p class="hint" id="caption-threads-hint">{t("speech.captionThreadsHint")}</p>
      </div>
    </fieldset>
  );
}
