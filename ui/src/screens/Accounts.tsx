/**
 * Accounts and servers: the profiles (Visio, LiveKit with an API key, the local room server),
 * each one's session checked with `whoami`, sign in / sign out, the offline PIN, and the PIN
 * unlock offered when the server cannot be reached. Logic in `../accounts.ts`.
 */

import { useEffect, useRef, useState } from "preact/hooks";
import { toAppError, type AppError, type Profile, type ProfilesInfo, type SessionInfo } from "../bridge";
import { useApp } from "../app";
import { t } from "../i18n/i18n";
import { addServerAction, displayIdentity, pinProblem, profileState, SERVER_KINDS, type AddServerForm, type ServerKind } from "../accounts";
import { ErrorNotice } from "../components/ErrorNotice";

const FIELD_LABELS: Record<"server" | "apiKey" | "apiSecret" | "issuer" | "clientId", string> = {
  server: "accounts.server",
  apiKey: "accounts.apiKey",
  apiSecret: "accounts.apiSecret",
  issuer: "accounts.issuer",
  clientId: "accounts.clientId",
};

export function AccountsPanel({ onClose }: { onClose: () => void }) {
  const { bridge, settings } = useApp();
  const [info, setInfo] = useState<ProfilesInfo>({ profiles: [], current: null });
  const [sessions, setSessions] = useState<Record<string, SessionInfo | AppError>>({});
  const [error, setError] = useState<AppError | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");
  const panel = useRef<HTMLElement>(null);
  const serverLocked = settings.locked.includes("server");

  async function refresh() {
    try {
      const next = await bridge.call("list_profiles", undefined);
      setInfo(next);
      const results: Record<string, SessionInfo | AppError> = {};
      for (const p of next.profiles) {
        if (p.login.type === "none") continue;
        results[p.server] = await bridge.call("whoami", { server: p.server }).catch((e: unknown) => toAppError(e));
      }
      setSessions(results);
    } catch (e) {
      setError(toAppError(e));
    }
  }

  useEffect(() => {
    void refresh();
    panel.current?.querySelector<HTMLElement>("button, input, select")?.focus();
  }, []);

  async function run(action: () => Promise<string | void>) {
    setBusy(true);
    setError(null);
    setNotice("");
    try {
      const message = await action();
      if (message) setNotice(message);
      await refresh();
    } catch (e) {
      setError(toAppError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section
      id="accounts-panel"
      ref={panel}
      class="settings-panel accounts-panel"
      role="dialog"
      aria-labelledby="accounts-title"
      data-testid="accounts-panel"
      onKeyDown={(e) => {
        if (e.key === "Escape") onClose();
      }}
    >
      <h2 id="accounts-title">{t("accounts.title")}</h2>
      {info.profiles.length === 0 ? (
        <p class="hint">{t("accounts.empty")}</p>
      ) : (
        <ul class="profiles">
          {info.profiles.map((p) => (
            <ProfileItem
              key={p.server}
              profile={p}
              current={p.server === info.current}
              result={sessions[p.server]}
              busy={busy}
              run={run}
            />
          ))}
        </ul>
      )}
      {notice && (
        <p class="notice" role="status" data-testid="accounts-notice">
          {notice}
        </p>
      )}
      {error && <ErrorNotice error={error} testid="accounts-error" />}
      {!serverLocked && <AddServer busy={busy} run={run} />}
      <button type="button" class="button primary" onClick={onClose}>
        {t("accounts.close")}
      </button>
    </section>
  );
}

type Run = (action: () => Promise<string | void>) => Promise<void>;

function ProfileItem({ profile, current, result, busy, run }: { profile: Profile; current: boolean; result: SessionInfo | AppError | undefined; busy: boolean; run: Run }) {
  const { bridge } = useApp();
  const state = profileState(profile, result);
  const who = displayIdentity(result && "session" in result ? result.identity : profile.identity);
  const host = (() => {
    try {
      return new URL(profile.server).host;
    } catch {
      return profile.server;
    }
  })();
  const server = profile.server;
  return (
    <li class="profile" data-testid="profile" data-server={server} data-state={state}>
      <p class="profile-title">
        <strong>{host}</strong> · {t(`accounts.kinds.${profile.kind.type}`)}
        {current && <em> ({t("accounts.current")})</em>}
      </p>
      {state === "online" && <p>{t("accounts.signedInAs", { name: who })}</p>}
      {state === "offline" && <p data-testid="profile-offline">{t("accounts.offline")}</p>}
      {state === "signedOut" && <p>{t("accounts.notSignedIn")}</p>}
      {result && !("session" in result) && state !== "offline" && <ErrorNotice error={result} />}
      <div class="row">
        {(state === "signedOut" || state === "locked") && profile.kind.type === "visio" && (
          <button type="button" class="button secondary" disabled={busy} onClick={() => void run(async () => {
            const login = profile.login;
            const id = await bridge.call("login", login.type === "oidc" ? { server, issuer: login.issuer, clientId: login.clientId } : { server });
            return t("accounts.signedInAs", { name: displayIdentity(id) });
          })}>
            {t("accounts.signIn")}
          </button>
        )}
        <button type="button" class="button secondary" data-testid="profile-logout" disabled={busy} onClick={() => void run(async () => {
          await bridge.call("logout", { server });
        })}>
          {t("accounts.signOut")}
        </button>
      </div>
      {state === "online" && profile.login.type !== "none" && <PinForm server={server} busy={busy} run={run} />}
      {state === "offline" && <UnlockForm server={server} busy={busy} run={run} />}
    </li>
  );
}

function PinForm({ server, busy, run }: { server: string; busy: boolean; run: Run }) {
  const { bridge } = useApp();
  const [pin, setPin] = useState("");
  const id = `pin-${server.replace(/\W/g, "-")}`;
  return (
    <form
      class="pin-form"
      onSubmit={(e) => {
        e.preventDefault();
        const problem = pinProblem(pin);
        void run(async () => {
          if (problem) throw { code: problem, message: "" };
          await bridge.call("set_pin", { server, pin });
          setPin("");
          return t("accounts.pinSet");
        });
      }}
    >
      <label for={id}>{t("accounts.pin")}</label>
      <p class="hint" id={`${id}-hint`}>{t("accounts.pinHint")}</p>
      <div class="row">
        <input id={id} type="password" inputMode="numeric" autocomplete="new-password" aria-describedby={`${id}-hint`} value={pin} onInput={(e) => setPin(e.currentTarget.value)} />
        <button type="submit" class="button secondary" disabled={busy || pin === ""}>
          {t("accounts.setPin")}
        </button>
      </div>
    </form>
  );
}

function UnlockForm({ server, busy, run }: { server: string; busy: boolean; run: Run }) {
  const { bridge } = useApp();
  const [pin, setPin] = useState("");
  const id = `unlock-${server.replace(/\W/g, "-")}`;
  return (
    <form
      class="pin-form"
      data-testid="unlock-form"
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          const who = await bridge.call("unlock_with_pin", { server, pin });
          setPin("");
          return t("accounts.unlocked", { name: displayIdentity(who) });
        });
      }}
    >
      <h3>{t("accounts.unlockTitle")}</h3>
      <p class="hint" id={`${id}-hint`}>{t("accounts.unlockHint")}</p>
      <label for={id}>{t("accounts.pin")}</label>
      <div class="row">
        <input id={id} data-testid="unlock-pin" type="password" inputMode="numeric" autocomplete="current-password" aria-describedby={`${id}-hint`} value={pin} onInput={(e) => setPin(e.currentTarget.value)} />
        <button type="submit" class="button primary" data-testid="unlock-button" disabled={busy || pin === ""}>
          {t("accounts.unlock")}
        </button>
      </div>
    </form>
  );
}

function AddServer({ busy, run }: { busy: boolean; run: Run }) {
  const { bridge } = useApp();
  const [form, setForm] = useState<AddServerForm>({ kind: "visio", server: "", apiKey: "", apiSecret: "", issuer: "", clientId: "" });
  const set = (patch: Partial<AddServerForm>) => setForm({ ...form, ...patch });
  const field = (name: keyof typeof FIELD_LABELS, type = "text") => (
    <div class="field">
      <label for={`add-${name}`}>{t(FIELD_LABELS[name])}</label>
      <input
        id={`add-${name}`}
        data-testid={`add-${name}`}
        type={type}
        autocomplete="off"
        spellcheck={false}
        value={form[name]}
        onInput={(e) => set({ [name]: e.currentTarget.value })}
      />
    </div>
  );
  return (
    <form
      class="add-server"
      data-testid="add-server"
      onSubmit={(e) => {
        e.preventDefault();
        const action = addServerAction(form);
        void run(async () => {
          if ("error" in action) throw action.error;
          if (action.command === "login") {
            const who = await bridge.call("login", action.request);
            return t("accounts.signedInAs", { name: displayIdentity(who) });
          }
          await bridge.call("add_profile", action.request);
          setForm({ ...form, server: "", apiKey: "", apiSecret: "" });
          return undefined;
        });
      }}
    >
      <h3>{t("accounts.add")}</h3>
      <div class="field">
        <label for="add-kind">{t("accounts.kind")}</label>
        <select id="add-kind" data-testid="add-kind" value={form.kind} onChange={(e) => set({ kind: e.currentTarget.value as ServerKind })}>
          {SERVER_KINDS.map((k) => (
            <option key={k} value={k}>
              {t(`accounts.kinds.${k}`)}
            </option>
          ))}
        </select>
      </div>
      {field("server")}
      {form.kind === "liveKit" && field("apiKey")}
      {form.kind === "liveKit" && field("apiSecret", "password")}
      {form.kind === "visio" && field("issuer")}
      {form.kind === "visio" && form.issuer.trim() !== "" && field("clientId")}
      {form.kind === "visio" && <p class="hint">{t("accounts.signInHint")}</p>}
      <button type="submit" class="button secondary" data-testid="add-submit" disabled={busy}>
        {form.kind === "visio" ? t("accounts.signIn") : t("accounts.add")}
      </button>
    </form>
  );
}
