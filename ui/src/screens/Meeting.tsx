/**
 * The meeting: the paged grid (or a stage with a rail when something is pinned or shared), the
 * control bar, chat, participants and captions, Visio's shortcuts, and the reconnecting banner.
 */

import { useEffect, useLayoutEffect, useMemo, useReducer, useRef, useState } from "preact/hooks";
import { toAppError, type ErrorCode, type JoinRequest, type JoinResult, type LowBandwidthMode, type Participant, type WaitingParticipant } from "../bridge";
import { useApp, useNav } from "../app";
import { t } from "../i18n/i18n";
import { arrangeTiles, gridLayout, pageItems, stageLayout, type Size, type TileSpec } from "../layout";
import { deviceCaptionsActive, initialMeeting, meetingReducer, type MeetingState } from "../meeting/state";
import { isPushToTalk, isTyping, matchShortcut } from "../shortcuts";
import { VideoSubscriptions } from "../video/subscriptions";
import { SubscriptionsContext } from "../components/VideoCanvas";
import { Tile } from "../components/Tile";
import { ControlBar } from "../components/ControlBar";
import { ChatPanel } from "../components/ChatPanel";
import { ParticipantsPanel, type Moderation } from "../components/ParticipantsPanel";
import { LobbyRequests } from "../components/LobbyRequests";
import { Captions } from "../components/Captions";
import { ShortcutsDialog } from "../components/ShortcutsDialog";
import { Reactions } from "../components/Reactions";
import { Icon } from "../components/Icon";

export type Panel = "chat" | "participants" | null;

export function Meeting({ join, request }: { join: JoinResult; request: JoinRequest }) {
  const { bridge, settings, onRoomEvent, reloadSettings, deviceCaptions } = useApp();
  const { go } = useNav();
  // On-device captions may have started during `join`, before this screen listened.
  const [state, dispatch] = useReducer(meetingReducer, join, (j) => initialMeeting(j, deviceCaptions()));
  const [micOn, setMicOn] = useState(request.micOn);
  const [camOn, setCamOn] = useState(request.cameraOn);
  const [panel, setPanel] = useState<Panel>(null);
  const [captionsOn, setCaptionsOn] = useState(settings.captions);
  const [pinned, setPinned] = useState<string | null>(null);
  const [page, setPage] = useState(0);
  const [lowBandwidth, setLowBandwidth] = useState<LowBandwidthMode>(settings.lowBandwidth);
  const [showShortcuts, setShowShortcuts] = useState(false);
  const [reactionsOpen, setReactionsOpen] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  /** A passing piece of good news (e.g. the transcript was saved), in a status banner. */
  const [info, setInfo] = useState<string | null>(null);
  const [waitingSeen, setWaitingSeen] = useState(0);
  /** The organiser's view of the lobby. */
  const [waiting, setWaiting] = useState<WaitingParticipant[]>([]);
  const pttActive = useRef(false);
  const toolbar = useRef<HTMLDivElement>(null);

  const subs = useMemo(
    () => new VideoSubscriptions((tiles) => bridge.call("set_video_subscriptions", { tiles })),
    [bridge],
  );
  useEffect(() => () => subs.dispose(), [subs]);

  useEffect(
    () =>
      onRoomEvent((e) => {
        if (e.type === "connectionState" && e.state === "disconnected") {
          if (e.code) go({ name: "error", error: { code: e.code, message: e.reason ?? "" }, room: { server: "", roomCode: join.roomCode, link: join.link }, request });
          else go({ name: "home" });
          return;
        }
        if (e.type === "deviceUnavailable") {
          // The meeting goes on without the device: say which and why.
          setNotice(t(`meeting.deviceLost.${e.kind}`));
          if (e.kind === "camera") setCamOn(false);
          if (e.kind === "microphone") setMicOn(false);
          return;
        }
        if (e.type === "onDeviceCaptions") {
          dispatch(e);
          if (e.state === "failed") {
            setNotice(e.code ? errorText(e.code) : `${t("meeting.deviceCaptionsFailed")} ${e.reason ?? ""}`.trim());
          } else if (e.state === "off" && e.transcriptId) {
            setInfo(t("meeting.transcriptSaved"));
          }
          return;
        }
        if (e.type === "micLevel") {
          // Straight to the style: 15 updates a second need no re-render.
          toolbar.current?.querySelector<HTMLElement>('[data-testid="control-mic"]')?.style.setProperty("--level", String(Math.max(0, Math.min(1, e.level))));
          return;
        }
        dispatch(e);
      }),
    [onRoomEvent, go, join, request],
  );

  useEffect(() => {
    if (settings.lowBandwidth !== "off") void bridge.call("set_low_bandwidth", { mode: settings.lowBandwidth }).catch(() => undefined);
  }, [bridge, settings.lowBandwidth]);

  // The organiser's lobby: asked when someone arrives, then every 3 s while people wait (they
  // may give up, or another organiser may answer).
  const refreshWaiting = useMemo(
    () => () => {
      if (!join.isAdmin) return;
      bridge.call("waiting_participants", undefined).then(setWaiting, (e: unknown) => console.warn("waiting_participants:", e));
    },
    [bridge, join.isAdmin],
  );
  useEffect(() => refreshWaiting(), [refreshWaiting, state.waitingNotices]);
  useEffect(() => {
    if (waiting.length === 0) return;
    const timer = setInterval(refreshWaiting, 3000);
    return () => clearInterval(timer);
  }, [refreshWaiting, waiting.length]);
  const answerLobby = (id: string, allow: boolean) => {
    setWaiting((w) => w.filter((x) => x.id !== id));
    bridge.call("admit_participant", { id, allow }).then(refreshWaiting, (e: unknown) => {
      showError(e);
      refreshWaiting();
    });
  };
  const moderation: Moderation | undefined = join.isAdmin
    ? {
        mute: (identity) => void bridge.call("mute_participant", { identity }).catch(showError),
        remove: (identity) => void bridge.call("remove_participant", { identity }).catch(showError),
      }
    : undefined;

  const showError = (e: unknown) => setNotice(errorText(toAppError(e).code));
  const deviceCaptionsLocked = settings.locked.includes("onDeviceCaptions");

  const actions = {
    async toggleMic(force?: boolean) {
      const next = force ?? !micOn;
      setMicOn(next);
      dispatch({ type: "ui/localTrackMuted", source: "microphone", muted: !next });
      try {
        await bridge.call("set_microphone", { enabled: next });
      } catch (e) {
        setMicOn(!next);
        dispatch({ type: "ui/localTrackMuted", source: "microphone", muted: next });
        showError(e);
      }
    },
    async toggleCamera() {
      const next = !camOn;
      setCamOn(next);
      dispatch({ type: "ui/localTrackMuted", source: "camera", muted: !next });
      try {
        await bridge.call("set_camera", { enabled: next });
      } catch (e) {
        setCamOn(!next);
        dispatch({ type: "ui/localTrackMuted", source: "camera", muted: next });
        showError(e);
      }
    },
    async toggleHand() {
      const local = state.participants.find((p) => p.isLocal);
      const raised = !(local?.handRaisedAt ?? null);
      dispatch({ type: "ui/localUpdated", patch: { handRaisedAt: raised ? new Date().toISOString() : null } });
      try {
        await bridge.call("set_hand_raised", { raised });
      } catch (e) {
        dispatch({ type: "ui/localUpdated", patch: { handRaisedAt: raised ? null : new Date().toISOString() } });
        showError(e);
      }
    },
    /** On-device captions on or off for this meeting (the command also saves the setting). */
    async toggleDeviceCaptions() {
      if (deviceCaptionsLocked) return showError({ code: "not_allowed", message: "" });
      const before = state.deviceCaptions;
      const next = !deviceCaptionsActive(before);
      dispatch({ type: "ui/deviceCaptionsRequested", enabled: next });
      // Turning them on means wanting to read them.
      if (next) setCaptionsOn(true);
      try {
        await bridge.call("set_on_device_captions", { enabled: next });
        void reloadSettings().catch(() => undefined);
      } catch (e) {
        dispatch({ type: "ui/deviceCaptionsRestored", status: before });
        showError(e);
      }
    },
    togglePanel(p: Exclude<Panel, null>) {
      const next = panel === p ? null : p;
      setPanel(next);
      dispatch({ type: "ui/chatOpen", open: next === "chat" });
    },
    async setLowBandwidth(mode: LowBandwidthMode) {
      setLowBandwidth(mode);
      try {
        await bridge.call("set_low_bandwidth", { mode });
      } catch (e) {
        showError(e);
      }
    },
    async leave() {
      try {
        await bridge.call("leave", undefined);
      } catch (e) {
        console.warn("leave:", e);
      }
      go({ name: "home" });
    },
  };

  // Visio's shortcuts, and hold V to talk.
  useEffect(() => {
    const down = (e: KeyboardEvent) => {
      const id = matchShortcut(e);
      if (id === null) {
        if (isPushToTalk(e) && !e.repeat && !isTyping(e.target) && !micOn && !pttActive.current) {
          pttActive.current = true;
          void actions.toggleMic(true);
        }
        return;
      }
      e.preventDefault();
      switch (id) {
        case "toggle-microphone":
          return void actions.toggleMic();
        case "toggle-camera":
          return void actions.toggleCamera();
        case "raise-hand":
          return void actions.toggleHand();
        case "toggle-chat":
          return actions.togglePanel("chat");
        case "toggle-participants":
          return actions.togglePanel("participants");
        case "reactions":
          return setReactionsOpen((o) => !o);
        case "toggle-captions":
          return setCaptionsOn((c) => !c);
        case "open-shortcuts":
          return setShowShortcuts(true);
        case "fullscreen":
          if (document.fullscreenElement) void document.exitFullscreen().catch(() => undefined);
          else void document.documentElement.requestFullscreen().catch(() => undefined);
          return;
        case "focus-toolbar":
          return toolbar.current?.querySelector<HTMLElement>("button")?.focus();
      }
    };
    const up = (e: KeyboardEvent) => {
      if (e.code === "KeyV" && pttActive.current) {
        pttActive.current = false;
        void actions.toggleMic(false);
      }
    };
    window.addEventListener("keydown", down);
    window.addEventListener("keyup", up);
    return () => {
      window.removeEventListener("keydown", down);
      window.removeEventListener("keyup", up);
    };
  });

  useEffect(() => {
    if (notice === null) return;
    const timer = setTimeout(() => setNotice(null), 6000);
    return () => clearTimeout(timer);
  }, [notice]);
  useEffect(() => {
    if (info === null) return;
    const timer = setTimeout(() => setInfo(null), 6000);
    return () => clearTimeout(timer);
  }, [info]);

  const local = state.participants.find((p) => p.isLocal);
  const handRaised = (local?.handRaisedAt ?? null) !== null;

  return (
    <SubscriptionsContext.Provider value={subs}>
      <main class="screen meeting" data-testid="meeting-root" aria-label={t("meeting.label", { room: state.roomCode })}>
        {state.connection === "reconnecting" && (
          <div class="banner" role="status" data-testid="banner-reconnecting">
            <span class="spinner" aria-hidden="true" /> {t("meeting.reconnecting")}
          </div>
        )}
        {notice && (
          <div class="banner warn" role="alert">
            {notice}
          </div>
        )}
        {info && (
          <div class="banner" role="status" data-testid="meeting-info">
            {info}
          </div>
        )}
        <LobbyRequests waiting={waiting} onAnswer={answerLobby} />
        {!join.isAdmin && state.waitingNotices > waitingSeen && (
          <div class="banner" role="status">
            {t("meeting.waiting")}{" "}
            <button type="button" class="button small secondary" onClick={() => setWaitingSeen(state.waitingNotices)}>
              {t("meeting.dismiss")}
            </button>
          </div>
        )}
        <div class="meeting-body">
          <Stage
            state={state}
            pinned={pinned}
            onPin={setPinned}
            page={page}
            setPage={setPage}
            micOn={micOn}
            camOn={camOn}
            lowBandwidth={lowBandwidth}
          />
          {panel === "chat" && <ChatPanel messages={state.chat} onClose={() => actions.togglePanel("chat")} />}
          {panel === "participants" && (
            <ParticipantsPanel
              participants={state.participants}
              micOn={micOn}
              pinned={pinned}
              onPin={setPinned}
              onClose={() => actions.togglePanel("participants")}
              moderation={moderation}
              onSeveralVoices={(identity, enabled) => void bridge.call("set_several_voices", { identity, enabled }).catch(showError)}
            />
          )}
        </div>
        <Reactions reactions={state.reactions} participants={state.participants} onDone={(id) => dispatch({ type: "ui/reactionDone", id })} />
        <Captions on={captionsOn} captions={state.captions} participants={state.participants} />
        <ControlBar
          barRef={toolbar}
          roomCode={state.roomCode}
          micOn={micOn}
          camOn={camOn}
          handRaised={handRaised}
          panel={panel}
          unread={state.unread}
          captionsOn={captionsOn}
          deviceCaptions={state.deviceCaptions}
          deviceCaptionsLocked={deviceCaptionsLocked}
          onToggleDeviceCaptions={() => void actions.toggleDeviceCaptions()}
          reactionsOpen={reactionsOpen}
          setReactionsOpen={setReactionsOpen}
          lowBandwidth={lowBandwidth}
          onToggleMic={() => void actions.toggleMic()}
          onToggleCamera={() => void actions.toggleCamera()}
          onToggleHand={() => void actions.toggleHand()}
          onTogglePanel={actions.togglePanel}
          onToggleCaptions={() => setCaptionsOn(!captionsOn)}
          onLowBandwidth={(m) => void actions.setLowBandwidth(m)}
          onShortcuts={() => setShowShortcuts(true)}
          onLeave={() => void actions.leave()}
          onError={showError}
        />
        {showShortcuts && <ShortcutsDialog onClose={() => setShowShortcuts(false)} />}
      </main>
    </SubscriptionsContext.Provider>
  );
}

/** An error code as the meeting's banner says it: what happened, then what to do. */
function errorText(code: ErrorCode): string {
  return `${t(`error.${code}.title`)} ${t(`error.${code}.action`)}`;
}

function useSize(ref: { current: HTMLElement | null }): Size {
  const [size, setSize] = useState<Size>({ width: 0, height: 0 });
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setSize({ width: el.clientWidth, height: el.clientHeight });
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
  return size;
}

function Stage(props: {
  state: MeetingState;
  pinned: string | null;
  onPin: (k: string | null) => void;
  page: number;
  setPage: (p: number) => void;
  micOn: boolean;
  camOn: boolean;
  lowBandwidth: LowBandwidthMode;
}) {
  const { state, pinned } = props;
  const area = useRef<HTMLDivElement>(null);
  const size = useSize(area);
  const byIdentity = useMemo(() => new Map(state.participants.map((p) => [p.identity, p])), [state.participants]);

  // The first pass gives the tile count, the second the grid that fits it; room is kept for the
  // pager only when there is more than one page.
  const first = arrangeTiles(state.participants, { pinned, activeSpeakers: state.activeSpeakers });
  const PAD = 16;
  const PAGER = 44;
  const fitIn = (reserve: number) => {
    const usable = { width: Math.max(0, size.width - PAD), height: Math.max(0, size.height - PAD - reserve) };
    const stage = first.stage ? stageLayout(first.others.length, usable) : null;
    return { stage, grid: stage ? stage.railGrid : gridLayout(first.others.length, usable) };
  };
  let fitted = fitIn(0);
  if (fitted.grid.pages > 1) fitted = fitIn(PAGER);
  const { stage, grid } = fitted;
  const { stage: stageTile, others } = arrangeTiles(state.participants, { pinned, activeSpeakers: state.activeSpeakers, perPage: grid.perPage });
  const pages = Math.max(1, Math.ceil(others.length / Math.max(1, grid.perPage)));
  const page = Math.min(props.page, pages - 1);
  const visible = pageItems(others, page, grid.perPage);
  const focusIdentity = pinned ?? state.activeSpeakers[0] ?? null;

  useEffect(() => {
    if (props.page !== page) props.setPage(page);
  }, [page, props]);

  const renderTile = (spec: TileSpec, tileSize?: Size) => {
    const p: Participant | undefined = byIdentity.get(spec.identity);
    if (!p) return null;
    return (
      <Tile
        key={spec.key}
        spec={spec}
        participant={p}
        pinned={pinned === spec.key}
        onPin={props.onPin}
        localMicOn={p.isLocal ? props.micOn : undefined}
        localCameraOn={p.isLocal ? props.camOn : undefined}
        lowBandwidth={props.lowBandwidth}
        isFocus={spec.kind === "screen" || spec.key === pinned || spec.identity === focusIdentity}
        size={tileSize}
      />
    );
  };

  return (
    <section class={`stage-area${stage ? ` with-stage ${stage.orientation}` : ""}`} ref={area} aria-label={t("meeting.participantsGrid")}>
      {stage && stageTile && (
        <div class="stage" style={{ width: `${stage.stage.width}px`, height: `${stage.stage.height}px` }}>
          {renderTile(stageTile)}
        </div>
      )}
      <div class="grid-wrap">
      <div
        class="grid"
        style={{
          gridTemplateColumns: `repeat(${Math.max(1, grid.columns)}, ${grid.tileWidth}px)`,
          gridAutoRows: `${grid.tileHeight}px`,
          ...(stage ? { width: `${stage.rail.width}px`, height: `${stage.rail.height}px` } : {}),
        }}
      >
        {visible.map((spec) => renderTile(spec, { width: grid.tileWidth, height: grid.tileHeight }))}
      </div>
      {pages > 1 && (
        <nav class="pager" aria-label={t("meeting.pages")}>
          <button type="button" class="button small" data-testid="grid-prev-page" disabled={page === 0} onClick={() => props.setPage(page - 1)} aria-label={t("meeting.prevPage")}>
            <Icon name="prev" size={18} />
          </button>
          <span aria-live="polite">{t("meeting.pageOf", { page: page + 1, pages })}</span>
          <button type="button" class="button small" data-testid="grid-next-page" disabled={page >= pages - 1} onClick={() => props.setPage(page + 1)} aria-label={t("meeting.nextPage")}>
            <Icon name="next" size={18} />
          </button>
        </nav>
      )}
      </div>
    </section>
  );
}
