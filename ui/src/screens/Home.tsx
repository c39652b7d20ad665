/** Home: join by link or room code, recent rooms, create a room, settings. */

import { useEffect, useRef, useState } from "preact/hooks";
import { LOW_BANDWIDTH_MODES, toAppError, type AppError, type Language, type LowBandwidthMode, type RecentRoom } from "../bridge";
import { useApp, useNav } from "../app";
import { formatDateTime, LANGUAGES, t } from "../i18n/i18n";
import { normalizeRoomCode } from "../roomCode";
import { ErrorNotice } from "../components/ErrorNotice";
import { LockedMark } from "../components/LockedMark";
import { AccountsPanel } from "./Accounts";
import { SpeechPanel } from "./Speech";
import { TranscriptsPanel } from "./Transcripts";

type HomePanel = "settings" | "accounts" | "speech" | "transcripts";

/** The header buttons and the panel each opens (one panel at a time). */
const PANEL_BUTTONS: ReadonlyArray<{ panel: HomePanel; testid: string; id: string; label: string }> = [
  { panel: "accounts", testid: "home-accounts-button", id: "accounts-panel", label: "accounts.open" },
  { panel: "speech", testid: "home-speech-button", id: "speech-panel", label: "home.speech" },
  { panel: "transcripts", testid: "home-transcripts-button", id: "transcripts-panel", label: "home.transcripts" },
  { panel: "settings", testid: "home-settings-button", id: "settings-panel", label: "home.settings" },
];

export function Home({ initialError }: { initialError?: AppError | undefined }) {
  const { bridge, info, savedTranscript, clearSavedTranscript } = useApp();
  const { openLink, go } = useNav();
  const [input, setInput] = useState("");
  const [error, setError] = useState<AppError | null>(initialError ?? null);
  const [busy, setBusy] = useState(false);
  const [recent, setRecent] = useState<RecentRoom[]>([]);
  const [panel, setPanel] = useState<HomePanel | null>(null);
  /** The transcript the transcripts panel opens on (the one just saved). */
  const [openTranscript, setOpenTranscript] = useState<string | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const buttons = useRef<HTMLDivElement>(null);

  useEffect(() => {
    bridge.call("recent_rooms", undefined).then(setRecent, (e: unknown) => console.warn("recent_rooms:", e));
    inputRef.current?.focus();
  }, [bridge]);

  /** Closes the panel and gives the focus back to the button that opened it. */
  const closePanel = (which: HomePanel) => {
    setPanel(null);
    const testid = PANEL_BUTTONS.find((b) => b.panel === which)?.testid;
    buttons.current?.querySelector<HTMLElement>(`[data-testid="${testid}"]`)?.focus();
  };

  async function join(value: string) {
    const trimmed = value.trim();
    if (normalizeRoomCode(trimmed) === null) {
      setError({ code: "invalid_link", message: trimmed.slice(0, 200) });
      inputRef.current?.focus();
      return;
    }
    setBusy(true);
    const e = await openLink(trimmed);
    setBusy(false);
    if (e) setError(e);
  }

  /** A new room; with a waiting room it is registered on the server and we administer it. */
  async function create(withLobby = false) {
    setBusy(true);
    try {
      const room = await bridge.call("create_room", withLobby ? { server: info.defaultServer, accessLevel: "restricted" } : { server: info.defaultServer });
      go({ name: "prejoin", room });
    } catch (e) {
      setError(toAppError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="screen home" aria-labelledby="home-title">
      <header class="home-header">
        <div class="brand" aria-hidden="true">
          <span class="marianne" />
          <span>{t("app.name")}</span>
        </div>
        <div class="header-actions" ref={buttons}>
          {PANEL_BUTTONS.map((b) => (
            <button
              key={b.panel}
              type="button"
              class="button secondary"
              data-testid={b.testid}
              aria-expanded={panel === b.panel}
              aria-controls={b.id}
              onClick={() => {
                setOpenTranscript(null);
                setPanel(panel === b.panel ? null : b.panel);
              }}
            >
              {t(b.label)}
            </button>
          ))}
        </div>
      </header>
      {savedTranscript !== null && (
        <div class="notice home-notice" role="status" data-testid="home-transcript-saved">
          <span>{t("home.transcriptSaved")}</span>
          <button
            type="button"
            class="button small secondary"
            onClick={() => {
              setOpenTranscript(savedTranscript);
              setPanel("transcripts");
              clearSavedTranscript();
            }}
          >
            {t("home.openTranscript")}
          </button>
          <button type="button" class="button small secondary" onClick={clearSavedTranscript}>
            {t("home.dismiss")}
          </button>
        </div>
      )}
      <section class="home-main">
        <h1 id="home-title">{t("home.title")}</h1>
        <p class="lead">{t("home.subtitle")}</p>
        <form
          class="join-form"
          onSubmit={(e) => {
            e.preventDefault();
            void join(input);
          }}
        >
          <label for="home-link">{t("home.linkLabel")}</label>
          <p id="home-link-hint" class="hint">{t("home.linkHint")}</p>
          <div class="row">
            <input
              id="home-link"
              ref={inputRef}
              data-testid="home-link-input"
              type="text"
              autocomplete="off"
              spellcheck={false}
              aria-describedby="home-link-hint"
              aria-invalid={error?.code === "invalid_link"}
              value={input}
              onInput={(e) => {
                setInput(e.currentTarget.value);
                if (error) setError(null);
              }}
              placeholder={t("home.linkPlaceholder")}
            />
            <button type="submit" class="button primary" data-testid="home-join-button" disabled={busy || input.trim() === ""}>
              {t("home.join")}
            </button>
          </div>
        </form>
        {error && <ErrorNotice error={error} testid="home-error" />}
        <div class="or">{t("home.or")}</div>
        <button type="button" class="button secondary" data-testid="home-create-button" disabled={busy} onClick={() => void create()}>
          {t("home.create")}
        </button>
        <button type="button" class="button secondary" data-testid="home-create-lobby-button" disabled={busy} onClick={() => void create(true)}>
          {t("home.createWithLobby")}
        </button>
        <section class="recent" aria-labelledby="recent-title">
          <h2 id="recent-title">{t("home.recent")}</h2>
          {recent.length === 0 ? (
            <p class="hint">{t("home.noRecent")}</p>
          ) : (
            <ul>
              {recent.map((r) => (
                <li key={r.link}>
                  <button type="button" class="recent-room" data-testid="recent-room" onClick={() => void join(r.link)} disabled={busy}>
                    <span class="code">{r.roomCode}</span>
                    <span class="meta">
                      {new URL(r.server).host} · {formatDateTime(r.lastJoinedAt)}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </section>
      </section>
      {panel === "settings" && <SettingsPanel onClose={() => closePanel("settings")} />}
      {panel === "accounts" && <AccountsPanel onClose={() => closePanel("accounts")} />}
      {panel === "speech" && <SpeechPanel onClose={() => closePanel("speech")} />}
      {panel === "transcripts" && <TranscriptsPanel initialId={openTranscript} onClose={() => closePanel("transcripts")} />}
      <footer class="home-footer">{t("app.version", { version: info.version })}</footer>
    </main>
  );
}

function SettingsPanel({ onClose }: { onClose: () => void }) {
  const { settings, updateSettings } = useApp();
  const [error, setError] = useState<AppError | null>(null);
  const [name, setName] = useState(settings.displayName);
  const locked = (k: string) => settings.locked.includes(k);
  const panel = useRef<HTMLElement>(null);

  useEffect(() => {
    panel.current?.querySelector<HTMLElement>("select, input, button")?.focus();
  }, []);

  const save = (patch: Parameters<typeof updateSettings>[0]) => updateSettings(patch).catch((e: unknown) => setError(toAppError(e)));

  return (
    <section
      id="settings-panel"
      ref={panel}
      class="settings-panel"
      role="dialog"
      aria-labelledby="settings-title"
      onKeyDown={(e) => {
        if (e.key === "Escape") onClose();
      }}
    >
      <h2 id="settings-title">{t("settings.title")}</h2>
      <div class="field">
        <label for="set-language">
          {t("settings.language")} {locked("language") && <LockedMark />}
        </label>
        <select
          id="set-language"
          value={settings.language}
          disabled={locked("language")}
          onChange={(e) => void save({ language: e.currentTarget.value as Language })}
        >
          {LANGUAGES.map((l) => (
            <option key={l} value={l}>
              {t(`settings.languages.${l}`)}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="set-name">
          {t("settings.displayName")} {locked("displayName") && <LockedMark />}
        </label>
        <input
          id="set-name"
          type="text"
          value={name}
          disabled={locked("displayName")}
          maxLength={80}
          onInput={(e) => setName(e.currentTarget.value)}
          onBlur={() => name.trim() !== settings.displayName && void save({ displayName: name.trim() })}
        />
      </div>
      <fieldset class="field" disabled={locked("lowBandwidth")}>
        <legend>
          {t("settings.lowBandwidth")} {locked("lowBandwidth") && <LockedMark />}
        </legend>
        <p class="hint">{t("settings.lowBandwidthHint")}</p>
        {LOW_BANDWIDTH_MODES.map((m: LowBandwidthMode) => (
          <label key={m} class="radio">
            <input type="radio" name="lowbw" value={m} checked={settings.lowBandwidth === m} onChange={() => void save({ lowBandwidth: m })} />
            {t(`settings.lowBandwidthModes.${m}`)}
          </label>
        ))}
      </fieldset>
      <div class="field">
        <label class="checkbox">
          <input type="checkbox" checked={settings.captions} disabled={locked("captions")} onChange={(e) => void save({ captions: e.currentTarget.checked })} />
          {t("settings.captions")} {locked("captions") && <LockedMark />}
        </label>
      </div>
      {error && <ErrorNotice error={error} />}
      <button type="button" class="button primary" onClick={onClose}>
        {t("settings.close")}
      </button>
    </section>
  );
}
