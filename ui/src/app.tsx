/**
 * The app: which screen shows (home, pre-join, meeting, error), the bridge to the Rust side, the
 * video lane and the settings every screen shares.
 */

import { createContext } from "preact";
import { useCallback, useContext, useEffect, useMemo, useRef, useState } from "preact/hooks";
import {
  toAppError,
  type AppError,
  type AppInfo,
  type Bridge,
  type JoinRequest,
  type JoinResult,
  type OnDeviceCaptionsStatus,
  type RoomEvent,
  type RoomRef,
  type Settings,
  type SettingsUpdate,
} from "./bridge";
import { setLanguage, t } from "./i18n/i18n";
import { VideoLane } from "./video/lane";
import { Home } from "./screens/Home";
import { PreJoin } from "./screens/PreJoin";
import { Meeting } from "./screens/Meeting";
import { ErrorScreen } from "./screens/ErrorScreen";

type RoomListener = (e: RoomEvent) => void;

export interface AppContextValue {
  bridge: Bridge;
  info: AppInfo;
  lane: VideoLane;
  settings: Settings;
  updateSettings(patch: SettingsUpdate): Promise<void>;
  /** Reads the settings again (after a command that saves one, e.g. `set_on_device_captions`). */
  reloadSettings(): Promise<void>;
  /** The last on-device captions state the engine reported (it may come before a screen listens). */
  deviceCaptions(): OnDeviceCaptionsStatus;
  /** The transcript saved when on-device captions last stopped, until the user saw it. */
  savedTranscript: string | null;
  clearSavedTranscript(): void;
  /** Room events to `listener` until the returned function is called. */
  onRoomEvent(listener: RoomListener): () => void;
}

const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const v = useContext(AppContext);
  if (!v) throw new Error("useApp outside the app");
  return v;
}

export type Screen =
  | { name: "home"; error?: AppError }
  | { name: "prejoin"; room: RoomRef; error?: AppError; autoJoin?: boolean }
  | { name: "meeting"; join: JoinResult; request: JoinRequest }
  | { name: "error"; error: AppError; room?: RoomRef; request?: JoinRequest };

export interface Navigation {
  screen: Screen;
  go(screen: Screen): void;
  /** Reads a link or code (Rust resolves the server) and opens its pre-join screen. */
  openLink(input: string, autoJoin?: boolean): Promise<AppError | null>;
}

const NavContext = createContext<Navigation | null>(null);

export function useNav(): Navigation {
  const v = useContext(NavContext);
  if (!v) throw new Error("useNav outside the app");
  return v;
}

export function App({ bridge }: { bridge: Bridge }) {
  const [boot, setBoot] = useState<{ info: AppInfo; lane: VideoLane; settings: Settings } | AppError | null>(null);
  const [settings, setSettings] = useState<Settings | null>(null);
  const [screen, setScreen] = useState<Screen>({ name: "home" });
  const screenRef = useRef(screen);
  screenRef.current = screen;
  const listeners = useMemo(() => new Set<RoomListener>(), []);
  const deviceCaptions = useRef<OnDeviceCaptionsStatus>({ state: "off" });
  const [savedTranscript, setSavedTranscript] = useState<string | null>(null);

  useEffect(() => {
    let unlisten: (() => void) | null = null;
    bridge
      .onRoomEvent((e) => {
        if (e.type === "onDeviceCaptions") {
          const { type: _, ...status } = e;
          deviceCaptions.current = status;
          // Kept here: the transcript is named when captions stop, often as the meeting ends.
          if (e.state === "off" && e.transcriptId) setSavedTranscript(e.transcriptId);
        }
        listeners.forEach((l) => l(e));
      })
      .then((u) => (unlisten = u), (e: unknown) => console.warn(e));
    return () => unlisten?.();
  }, [bridge, listeners]);

  const pendingLink = useRef<string | null>(null);
  const go = useCallback((s: Screen) => {
    // Back home after a meeting: a link that arrived meanwhile opens now.
    const link = pendingLink.current;
    if (s.name === "home" && link !== null) {
      pendingLink.current = null;
      bridge.call("resolve_room", { input: link }).then(
        (room) => setScreen({ name: "prejoin", room }),
        (e: unknown) => setScreen({ name: "home", error: toAppError(e) }),
      );
      return;
    }
    setScreen(s);
  }, [bridge]);

  const openLink = useCallback(
    async (input: string, autoJoin = false): Promise<AppError | null> => {
      try {
        const room = await bridge.call("resolve_room", { input });
        setScreen({ name: "prejoin", room, autoJoin });
        return null;
      } catch (e) {
        return toAppError(e);
      }
    },
    [bridge],
  );

  useEffect(() => {
    (async () => {
      try {
        const [info, s] = await Promise.all([bridge.call("app_info", undefined), bridge.call("get_settings", undefined)]);
        setLanguage(s.language ?? info.locale);
        const lane = new VideoLane(bridge, info.videoLane.url);
        setSettings(s);
        setBoot({ info, lane, settings: s });
        if (info.launchLink) {
          const e = await openLink(info.launchLink, info.autoJoin);
          if (e) setScreen({ name: "error", error: e });
        }
      } catch (e) {
        setBoot(toAppError(e));
      }
    })();
  }, [bridge, openLink]);

  useEffect(() => {
    let unlisten: (() => void) | null = null;
    bridge
      .onAppEvent(async (e) => {
        if (e.type !== "openLink") return;
        // A link opened during a meeting must not drop the meeting: it waits for the user.
        if (screenRef.current.name === "meeting") {
          pendingLink.current = e.link;
          return;
        }
        const err = await openLink(e.link);
        if (err) setScreen({ name: "home", error: err });
      })
      .then((u) => (unlisten = u), (e: unknown) => console.warn(e));
    return () => unlisten?.();
  }, [bridge, openLink]);

  const ctx = useMemo<AppContextValue | null>(() => {
    if (boot === null || "code" in boot || settings === null) return null;
    return {
      bridge,
      info: boot.info,
      lane: boot.lane,
      settings,
      async updateSettings(patch) {
        const next = await bridge.call("update_settings", patch);
        setLanguage(next.language);
        setSettings(next);
      },
      async reloadSettings() {
        setSettings(await bridge.call("get_settings", undefined));
      },
      deviceCaptions: () => deviceCaptions.current,
      savedTranscript,
      clearSavedTranscript: () => setSavedTranscript(null),
      onRoomEvent(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
  }, [boot, settings, bridge, listeners, savedTranscript]);

  const nav = useMemo<Navigation>(() => ({ screen, go, openLink }), [screen, go, openLink]);

  if (boot !== null && "code" in boot) {
    return (
      <main class="screen center" data-testid="error-screen" data-code={boot.code}>
        <h1>{t("app.startFailed")}</h1>
        <p data-testid="error-message">{t(`error.${boot.code}.title`)}</p>
        <p class="detail">{boot.message}</p>
      </main>
    );
  }
  if (ctx === null) {
    return (
      <main class="screen center" aria-busy="true">
        <p>{t("app.loading")}</p>
      </main>
    );
  }
  return (
    <AppContext.Provider value={ctx}>
      <NavContext.Provider value={nav}>
        {bridge.isMock && screen.name !== "meeting" && <p class="mock-flag">{t("app.mock")}</p>}
        {screen.name === "home" && <Home initialError={screen.error} />}
        {screen.name === "prejoin" && <PreJoin key={screen.room.link} room={screen.room} autoJoin={screen.autoJoin === true} initialError={screen.error} />}
        {screen.name === "meeting" && <Meeting key={screen.join.link} join={screen.join} request={screen.request} />}
        {screen.name === "error" && <ErrorScreen error={screen.error} room={screen.room} request={screen.request} />}
      </NavContext.Provider>
    </AppContext.Provider>
  );
}
