/** Home: join by link or room code, recent rooms, create a room, settings. */

import { useEffect, useRef, useState } from "preact/hooks";
import { LOW_BANDWIDTH_MODES, toAppError, type AppError, type Language, type LowBandwidthMode, type RecentRoom } from "../bridge";
import { useApp, useNav } from "../app";
import { LANGUAGES, language, t } from "../i18n/i18n";
import { normalizeRoomCode } from "../roomCode";
import { ErrorNotice } from "../components/ErrorNotice";
import { Icon } from "../components/Icon";
import { AccountsPanel } from "./Accounts";

export function Home({ initialError }: { initialError?: AppError | undefined }) {
  const { bridge, info } = useApp();
  const { openLink, go } = useNav();
  const [input, setInput] = useState("");
  const [error, setError] = useState<AppError | null>(initialError ?? null);
  const [busy, setBusy] = useState(false);
  const [recent, setRecent] = useState<RecentRoom[]>([]);
  const [showSettings, setShowSettings] = useState(false);
  const [showAccounts, setShowAccounts] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    bridge.call("recent_rooms", undefined).then(setRecent, (e: unknown) => console.warn("recent_rooms:", e));
    inputRef.current?.focus();
  }, [bridge]);

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
        <div class="header-actions">
          <button
            type="button"
            class="button secondary"
            data-testid="home-accounts-button"
            aria-expanded={showAccounts}
            aria-controls="accounts-panel"
            onClick={() => {
              setShowSettings(false);
              setShowAccounts(!showAccounts);
            }}
          >
            {t("accounts.open")}
          </button>
          <button
            type="button"
            class="button secondary"
            data-testid="home-settings-button"
            aria-expanded={showSettings}
            aria-controls="settings-panel"
            onClick={() => {
              setShowAccounts(false);
              setShowSettings(!showSettings);
            }}
          >
            {t("home.settings")}
          </button>
        </div>
      </header>
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
                      {new URL(r.server).host} · {formatDate(r.lastJoinedAt)}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </section>
      </section>
      {showSettings && <SettingsPanel onClose={() => setShowSettings(false)} />}
      {showAccounts && <AccountsPanel onClose={() => setShowAccounts(false)} />}
      <footer class="home-footer">{t("app.version", { version: info.version })}</footer>
    </main>
  );
}

function formatDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleString(language() === "fr" ? "fr-FR" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
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

function LockedMark() {
  return (
    <span class="locked" title={t("settings.locked")}>
      <Icon name="lock" size={14} /> {t("settings.locked")}
    </span>
  );
}
