/** The meeting's control bar: microphone, camera, devices, hand, reactions, chat, participants, captions, leave. */

import type { ComponentChildren, Ref } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { LOW_BANDWIDTH_MODES, type Devices, type DeviceKind, type LowBandwidthMode, type OnDeviceCaptionsStatus } from "../bridge";
import { useApp } from "../app";
import { t } from "../i18n/i18n";
import { Icon, type IconName } from "./Icon";
import type { Panel } from "../screens/Meeting";

/** Visio's reaction set (the same emoji so Visio web users see the same thing). */
export const REACTION_EMOJIS = ["👍", "👎", "👏", "❤️", "😂", "😮", "🎉"] as const;
/** Visio caps reactions at 10 per second. */
const REACTIONS_PER_SECOND = 10;

export interface ControlBarProps {
  roomCode: string;
  micOn: boolean;
  camOn: boolean;
  handRaised: boolean;
  panel: Panel;
  unread: number;
  captionsOn: boolean;
  /** On-device captions as the engine reported them. */
  deviceCaptions: OnDeviceCaptionsStatus;
  /** IT policy fixed the on-device captions setting. */
  deviceCaptionsLocked: boolean;
  onToggleDeviceCaptions: () => void;
  reactionsOpen: boolean;
  setReactionsOpen: (open: boolean) => void;
  lowBandwidth: LowBandwidthMode;
  onToggleMic: () => void;
  onToggleCamera: () => void;
  onToggleHand: () => void;
  onTogglePanel: (p: Exclude<Panel, null>) => void;
  onToggleCaptions: () => void;
  onLowBandwidth: (m: LowBandwidthMode) => void;
  onShortcuts: () => void;
  onLeave: () => void;
  onError: (e: unknown) => void;
}

function Toggle(props: { testid: string; pressed: boolean; label: string; icon: IconName; onClick: () => void; danger?: boolean; children?: ComponentChildren; controls?: string }) {
  return (
    <button
      type="button"
      class={`control${props.pressed ? " pressed" : ""}${props.danger ? " danger" : ""}`}
      data-testid={props.testid}
      aria-pressed={props.pressed}
      aria-label={props.label}
      aria-controls={props.pressed ? props.controls : undefined}
      title={props.label}
      onClick={props.onClick}
    >
      <Icon name={props.icon} />
      {props.children}
    </button>
  );
}

export function ControlBar(props: ControlBarProps & { barRef: Ref<HTMLDivElement> }) {
  const { bridge } = useApp();
  const [devicesOpen, setDevicesOpen] = useState(false);
  const sent = useRef<number[]>([]);
  const { reactionsOpen, setReactionsOpen } = props;

  // Popovers close on Escape wherever the focus is, and on a click outside them.
  useEffect(() => {
    if (!devicesOpen && !reactionsOpen) return;
    const close = () => {
      setDevicesOpen(false);
      setReactionsOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") close();
    };
    const onPointer = (e: PointerEvent) => {
      if (e.target instanceof Element && !e.target.closest(".popover-anchor")) close();
    };
    window.addEventListener("keydown", onKey);
    window.addEventListener("pointerdown", onPointer);
    return () => {
      window.removeEventListener("keydown", onKey);
      window.removeEventListener("pointerdown", onPointer);
    };
  }, [devicesOpen, reactionsOpen, setReactionsOpen]);

  async function react(emoji: string) {
    const now = Date.now();
    sent.current = sent.current.filter((ts) => now - ts < 1000);
    if (sent.current.length >= REACTIONS_PER_SECOND) return;
    sent.current.push(now);
    try {
      await bridge.call("send_reaction", { emoji });
    } catch (e) {
      props.onError(e);
    }
  }

  return (
    <div class="controlbar" role="toolbar" aria-label={t("controls.toolbar")} ref={props.barRef}>
      <div class="controls-left">
        <span class="room-code">{props.roomCode}</span>
      </div>
      <div class="controls-center">
        <Toggle testid="control-mic" pressed={props.micOn} danger={!props.micOn} label={t("controls.microphone")} icon={props.micOn ? "mic" : "micOff"} onClick={props.onToggleMic} />
        <Toggle testid="control-camera" pressed={props.camOn} danger={!props.camOn} label={t("controls.camera")} icon={props.camOn ? "camera" : "cameraOff"} onClick={props.onToggleCamera} />
        <div class="popover-anchor">
          <Toggle testid="control-devices" pressed={devicesOpen} label={t("controls.devices")} icon="settings" controls="devices-popover" onClick={() => {
              setDevicesOpen(!devicesOpen);
              props.setReactionsOpen(false);
            }} />
          {devicesOpen && <DevicesPopover lowBandwidth={props.lowBandwidth} onLowBandwidth={props.onLowBandwidth} onClose={() => setDevicesOpen(false)} onError={props.onError} />}
        </div>
        <Toggle testid="control-hand" pressed={props.handRaised} label={props.handRaised ? t("controls.lowerHand") : t("controls.raiseHand")} icon="hand" onClick={props.onToggleHand} />
        <div class="popover-anchor">
          <Toggle testid="control-reactions" pressed={props.reactionsOpen} label={t("controls.reactions")} icon="smile" controls="reactions-popover" onClick={() => {
              props.setReactionsOpen(!props.reactionsOpen);
              setDevicesOpen(false);
            }} />
          {props.reactionsOpen && (
            <div
              id="reactions-popover"
              class="popover reactions-popover"
              role="toolbar"
              aria-label={t("controls.reactions")}
              onKeyDown={(e) => {
                if (e.key === "Escape") props.setReactionsOpen(false);
              }}
            >
              {REACTION_EMOJIS.map((emoji) => (
                <button key={emoji} type="button" class="emoji" aria-label={t("controls.sendReaction", { emoji })} onClick={() => void react(emoji)}>
                  {emoji}
                </button>
              ))}
            </div>
          )}
        </div>
        <Toggle testid="control-captions" pressed={props.captionsOn} label={t("controls.captions")} icon="captions" controls="captions-region" onClick={props.onToggleCaptions} />
        <DeviceCaptionsToggle status={props.deviceCaptions} locked={props.deviceCaptionsLocked} onClick={props.onToggleDeviceCaptions} />
        <button type="button" class="control leave" data-testid="control-leave" aria-label={t("controls.leave")} title={t("controls.leave")} onClick={props.onLeave}>
          <Icon name="leave" />
        </button>
      </div>
      <div class="controls-right">
        <Toggle testid="control-chat" pressed={props.panel === "chat"} label={props.unread > 0 ? t("controls.chatUnread", { count: props.unread }) : t("controls.chat")} icon="chat" controls="chat-panel" onClick={() => props.onTogglePanel("chat")}>
          {props.unread > 0 && (
            <span class="unread" data-testid="chat-unread" aria-hidden="true">
              {props.unread > 99 ? "99+" : props.unread}
            </span>
          )}
        </Toggle>
        <Toggle testid="control-participants" pressed={props.panel === "participants"} label={t("controls.participants")} icon="people" controls="participants-panel" onClick={() => props.onTogglePanel("participants")} />
        <Toggle testid="control-shortcuts" pressed={false} label={t("controls.shortcuts")} icon="keyboard" onClick={props.onShortcuts} />
      </div>
    </div>
  );
}

/** On-device captions: pressed while on or starting (a spinner says it is starting); locked by IT policy, it says so. */
function DeviceCaptionsToggle({ status, locked, onClick }: { status: OnDeviceCaptionsStatus; locked: boolean; onClick: () => void }) {
  const starting = status.state === "starting";
  const base = starting ? t("controls.deviceCaptionsStarting") : t("controls.deviceCaptions");
  const label = locked ? t("controls.lockedSuffix", { label: base }) : base;
  return (
    <button
      type="button"
      class={`control${status.state === "on" || starting ? " pressed" : ""}`}
      data-testid="control-device-captions"
      data-state={status.state}
      aria-pressed={status.state === "on" || starting}
      aria-label={label}
      aria-disabled={locked ? "true" : undefined}
      title={label}
      onClick={onClick}
    >
      <Icon name="deviceCaptions" />
      {starting && <span class="control-spinner spinner" aria-hidden="true" />}
    </button>
  );
}

function DevicesPopover(props: { lowBandwidth: LowBandwidthMode; onLowBandwidth: (m: LowBandwidthMode) => void; onClose: () => void; onError: (e: unknown) => void }) {
  const { bridge, settings, updateSettings } = useApp();
  const [devices, setDevices] = useState<Devices | null>(null);
  const root = useRef<HTMLDivElement>(null);
  useEffect(() => {
    bridge.call("list_devices", undefined).then(setDevices, props.onError);
  }, [bridge]);
  useEffect(() => {
    if (devices) root.current?.querySelector<HTMLElement>("select")?.focus();
  }, [devices]);

  const select = async (kind: DeviceKind, id: string) => {
    try {
      await bridge.call("select_device", { kind, id });
      const key = kind === "camera" ? "cameraId" : kind === "microphone" ? "microphoneId" : "speakerId";
      await updateSettings({ [key]: id }).catch(() => undefined);
    } catch (e) {
      props.onError(e);
    }
  };
  const current = { camera: settings.cameraId, microphone: settings.microphoneId, speaker: settings.speakerId };
  const lists: Array<[DeviceKind, Devices["cameras"] | undefined, string]> = [
    ["camera", devices?.cameras, t("prejoin.camera")],
    ["microphone", devices?.microphones, t("prejoin.microphone")],
    ["speaker", devices?.speakers, t("prejoin.speaker")],
  ];
  return (
    <div
      id="devices-popover"
      class="popover devices-popover"
      role="dialog"
      aria-label={t("controls.devices")}
      ref={root}
      onKeyDown={(e) => {
        if (e.key === "Escape") props.onClose();
      }}
    >
      {lists.map(([kind, list, label]) => (
        <div class="field" key={kind}>
          <label for={`pop-${kind}`}>{label}</label>
          <select id={`pop-${kind}`} disabled={!list || list.length === 0} value={current[kind] ?? list?.find((d) => d.isDefault)?.id ?? ""} onChange={(e) => void select(kind, e.currentTarget.value)}>
            {list && list.length === 0 && <option value="">{t("prejoin.noDevice")}</option>}
            {list?.map((d) => (
              <option key={d.id} value={d.id}>
                {d.label}
              </option>
            ))}
          </select>
        </div>
      ))}
      <p class="hint">{t("controls.devicesAtOnce")}</p>
      <div class="field">
        <label for="pop-lowbw">{t("settings.lowBandwidth")}</label>
        <select id="pop-lowbw" value={props.lowBandwidth} disabled={settings.locked.includes("lowBandwidth")} onChange={(e) => props.onLowBandwidth(e.currentTarget.value as LowBandwidthMode)}>
          {LOW_BANDWIDTH_MODES.map((m) => (
            <option key={m} value={m}>
              {t(`settings.lowBandwidthModes.${m}`)}
            </option>
          ))}
        </select>
      </div>
      <button type="button" class="button secondary small" onClick={props.onClose}>
        {t("settings.close")}
      </button>
    </div>
  );
}
