/**
 * Pre-join: camera preview, microphone level, device choice, test sound, display name, and join
 * with camera and microphone on or off. A missing or busy device is explained and joining without
 * it stays possible.
 */

import { useEffect, useRef, useState } from "preact/hooks";
import { toAppError, type AppError, type Devices, type DeviceKind, type JoinRequest, type RoomRef } from "../bridge";
import { useApp, useNav } from "../app";
import { t } from "../i18n/i18n";
import { VideoCanvas } from "../components/VideoCanvas";
import { ErrorNotice } from "../components/ErrorNotice";
import { Icon } from "../components/Icon";

const DEVICE_ERRORS = ["camera_busy", "camera_missing", "microphone_missing"];

export function PreJoin({ room, autoJoin, initialError }: { room: RoomRef; autoJoin: boolean; initialError?: AppError | undefined }) {
  const { bridge, settings, updateSettings, onRoomEvent } = useApp();
  const { go } = useNav();
  const [devices, setDevices] = useState<Devices | null>(null);
  const [cameraId, setCameraId] = useState<string | null>(settings.cameraId);
  const [micId, setMicId] = useState<string | null>(settings.microphoneId);
  const [speakerId, setSpeakerId] = useState<string | null>(settings.speakerId);
  const [cameraOn, setCameraOn] = useState(initialError?.code !== "camera_busy" && initialError?.code !== "camera_missing");
  const [micOn, setMicOn] = useState(initialError?.code !== "microphone_missing");
  const [name, setName] = useState(settings.displayName);
  const [error, setError] = useState<AppError | null>(initialError ?? null);
  const [joining, setJoining] = useState(false);
  const [testing, setTesting] = useState(false);
  /** `join` is waiting in the room's lobby for an organiser. */
  const [inLobby, setInLobby] = useState(false);
  const meter = useRef<HTMLDivElement>(null);
  const nameRef = useRef<HTMLInputElement>(null);

  const hasCamera = (devices?.cameras.length ?? 1) > 0;
  const hasMic = (devices?.microphones.length ?? 1) > 0;

  useEffect(() => {
    bridge.call("list_devices", undefined).then(
      (d) => {
        setDevices(d);
        const pick = (list: Devices["cameras"], current: string | null) =>
          list.find((x) => x.id === current)?.id ?? list.find((x) => x.isDefault)?.id ?? list[0]?.id ?? null;
        setCameraId(pick(d.cameras, settings.cameraId));
        setMicId(pick(d.microphones, settings.microphoneId));
        setSpeakerId(pick(d.speakers, settings.speakerId));
        if (d.cameras.length === 0) setCameraOn(false);
        if (d.microphones.length === 0) setMicOn(false);
      },
      (e: unknown) => setError(toAppError(e)),
    );
    nameRef.current?.focus();
    // Settings are read once on entry; later changes here are the user's.
  }, [bridge]);

  // The preview follows the chosen devices and toggles.
  useEffect(() => {
    if (devices === null) return;
    const cam = cameraOn && hasCamera ? cameraId : null;
    const mic = micOn && hasMic ? micId : null;
    bridge.call("start_preview", { cameraId: cam, microphoneId: mic }).then(
      () => setError((e) => (e && DEVICE_ERRORS.includes(e.code) && e !== initialError ? null : e)),
      (e: unknown) => {
        const err = toAppError(e);
        setError(err);
        if (err.code === "camera_busy" || err.code === "camera_missing") setCameraOn(false);
        if (err.code === "microphone_missing") setMicOn(false);
      },
    );
  }, [bridge, devices, cameraId, micId, cameraOn, micOn, hasCamera, hasMic, initialError]);

  useEffect(() => () => void bridge.call("stop_preview", undefined).catch(() => undefined), [bridge]);

  useEffect(
    () =>
      onRoomEvent((e) => {
        if (e.type === "lobby") setInLobby(e.status === "waiting");
        if (e.type !== "micLevel" || !meter.current) return;
        const level = Math.max(0, Math.min(1, e.level));
        meter.current.style.setProperty("--level", String(level));
        meter.current.setAttribute("aria-valuenow", String(Math.round(level * 100)));
      }),
    [onRoomEvent],
  );

  async function join() {
    const displayName = name.trim();
    if (displayName === "") {
      nameRef.current?.focus();
      setError(null);
      return;
    }
    setJoining(true);
    const request: JoinRequest = {
      link: room.link,
      displayName,
      cameraOn: cameraOn && hasCamera,
      micOn: micOn && hasMic,
      cameraId,
      microphoneId: micId,
      speakerId,
    };
    try {
      if (displayName !== settings.displayName && !settings.locked.includes("displayName")) {
        await updateSettings({ displayName }).catch(() => undefined);
      }
      await bridge.call("stop_preview", undefined).catch(() => undefined);
      const result = await bridge.call("join", request);
      go({ name: "meeting", join: result, request });
    } catch (e) {
      const err = toAppError(e);
      setJoining(false);
      setInLobby(false);
      if (err.code === "cancelled") {
        // The user left the waiting room: back to this screen, ready to try again.
        return;
      }
      if (DEVICE_ERRORS.includes(err.code)) {
        setError(err);
        if (err.code === "microphone_missing") setMicOn(false);
        else setCameraOn(false);
      } else {
        go({ name: "error", error: err, room, request });
      }
    }
  }

  useEffect(() => {
    if (autoJoin && devices !== null) void join();
    // Only once, when the devices are known.
  }, [autoJoin, devices]);

  async function testSound() {
    setTesting(true);
    try {
      await bridge.call("play_test_sound", { speakerId });
    } catch (e) {
      setError(toAppError(e));
    } finally {
      setTimeout(() => setTesting(false), 1500);
    }
  }

  const select = (kind: DeviceKind, id: string) => {
    if (kind === "camera") setCameraId(id);
    if (kind === "microphone") setMicId(id);
    if (kind === "speaker") setSpeakerId(id);
    const key = kind === "camera" ? "cameraId" : kind === "microphone" ? "microphoneId" : "speakerId";
    void updateSettings({ [key]: id }).catch(() => undefined);
  };

  if (inLobby) {
    return (
      <main class="screen center lobby" aria-labelledby="lobby-title" data-testid="prejoin-lobby">
        <span class="spinner large" aria-hidden="true" />
        <h1 id="lobby-title">{t("prejoin.lobbyTitle")}</h1>
        <p role="status">{t("prejoin.lobbyHint", { room: room.roomCode })}</p>
        <button type="button" class="button secondary" data-testid="prejoin-lobby-cancel" onClick={() => void bridge.call("cancel_join", undefined).catch(() => undefined)}>
          {t("prejoin.lobbyCancel")}
        </button>
      </main>
    );
  }

  const deviceError = error && DEVICE_ERRORS.includes(error.code) ? error : null;
  const otherError = error && !deviceError ? error : null;

  return (
    <main class="screen prejoin" aria-labelledby="prejoin-title">
      <h1 id="prejoin-title">{t("prejoin.title", { room: room.roomCode })}</h1>
      <p class="hint">{new URL(room.server).host}</p>
      <div class="prejoin-body">
        <div class="preview-column">
          <div class="preview">
            {cameraOn && hasCamera ? (
              <VideoCanvas trackId="local-camera" label={t("prejoin.preview")} testid="prejoin-preview" mirror />
            ) : (
              <div class="preview-off">
                <canvas data-testid="prejoin-preview" data-frames="0" aria-hidden="true" class="video hidden" />
                <p>{hasCamera ? t("prejoin.cameraOff") : t("prejoin.noCamera")}</p>
              </div>
            )}
            <div class="preview-toggles">
              <button
                type="button"
                class={`round ${micOn ? "" : "off"}`}
                data-testid="prejoin-mic-toggle"
                aria-pressed={micOn}
                disabled={!hasMic}
                aria-label={micOn ? t("controls.micOff") : t("controls.micOn")}
                title={micOn ? t("controls.micOff") : t("controls.micOn")}
                onClick={() => setMicOn(!micOn)}
              >
                <Icon name={micOn ? "mic" : "micOff"} />
              </button>
              <button
                type="button"
                class={`round ${cameraOn ? "" : "off"}`}
                data-testid="prejoin-camera-toggle"
                aria-pressed={cameraOn}
                disabled={!hasCamera}
                aria-label={cameraOn ? t("controls.cameraOff") : t("controls.cameraOn")}
                title={cameraOn ? t("controls.cameraOff") : t("controls.cameraOn")}
                onClick={() => setCameraOn(!cameraOn)}
              >
                <Icon name={cameraOn ? "camera" : "cameraOff"} />
              </button>
            </div>
          </div>
          <div class="meter-row">
            <span id="mic-meter-label">{t("prejoin.micLevel")}</span>
            <div
              ref={meter}
              class={`meter ${micOn && hasMic ? "" : "inactive"}`}
              data-testid="prejoin-mic-meter"
              role="meter"
              aria-labelledby="mic-meter-label"
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={0}
            >
              <div class="meter-fill" />
            </div>
          </div>
          {deviceError && <ErrorNotice error={deviceError} testid="prejoin-error" />}
          {!hasCamera && !deviceError && <p class="notice">{t("prejoin.noCameraHint")}</p>}
          {!hasMic && !deviceError && <p class="notice">{t("prejoin.noMicHint")}</p>}
        </div>
        <form
          class="prejoin-form"
          onSubmit={(e) => {
            e.preventDefault();
            void join();
          }}
        >
          <label for="prejoin-name">{t("prejoin.name")}</label>
          <input
            id="prejoin-name"
            ref={nameRef}
            data-testid="prejoin-name-input"
            type="text"
            maxLength={80}
            required
            autocomplete="name"
            value={name}
            disabled={settings.locked.includes("displayName")}
            onInput={(e) => setName(e.currentTarget.value)}
          />
          <DeviceSelect kind="camera" label={t("prejoin.camera")} testid="prejoin-camera-select" list={devices?.cameras} value={cameraId} onChange={select} />
          <DeviceSelect kind="microphone" label={t("prejoin.microphone")} testid="prejoin-mic-select" list={devices?.microphones} value={micId} onChange={select} />
          <div class="row">
            <DeviceSelect kind="speaker" label={t("prejoin.speaker")} testid="prejoin-speaker-select" list={devices?.speakers} value={speakerId} onChange={select} />
            <button type="button" class="button secondary test-sound" data-testid="prejoin-test-sound" onClick={() => void testSound()} disabled={testing}>
              {testing ? t("prejoin.testingSound") : t("prejoin.testSound")}
            </button>
          </div>
          {otherError && <ErrorNotice error={otherError} testid="prejoin-error" />}
          <p class="hint">
            {t(cameraOn && hasCamera ? "prejoin.joinWithCamera" : "prejoin.joinWithoutCamera")} · {t(micOn && hasMic ? "prejoin.joinWithMic" : "prejoin.joinWithoutMic")}
          </p>
          <div class="row">
            <button type="button" class="button secondary" onClick={() => go({ name: "home" })}>
              {t("prejoin.back")}
            </button>
            <button type="submit" class="button primary" data-testid="prejoin-join-button" disabled={joining || name.trim() === ""}>
              {joining ? t("prejoin.joining") : t("prejoin.join")}
            </button>
          </div>
        </form>
      </div>
    </main>
  );
}

function DeviceSelect(props: {
  kind: DeviceKind;
  label: string;
  testid: string;
  list: Devices["cameras"] | undefined;
  value: string | null;
  onChange: (kind: DeviceKind, id: string) => void;
}) {
  const id = `device-${props.kind}`;
  const empty = props.list !== undefined && props.list.length === 0;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <select id={id} data-testid={props.testid} value={props.value ?? ""} disabled={!props.list || empty} onChange={(e) => props.onChange(props.kind, e.currentTarget.value)}>
        {empty && <option value="">{t("prejoin.noDevice")}</option>}
        {props.list?.map((d) => (
          <option key={d.id} value={d.id}>
            {d.label}
            {d.isDefault ? ` (${t("prejoin.default")})` : ""}
          </option>
        ))}
      </select>
    </div>
  );
}
