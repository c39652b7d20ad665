/** One participant's tile (camera or avatar) or one screen share, with its badges. */

import type { LowBandwidthMode, Participant, Quality } from "../bridge";
import { t } from "../i18n/i18n";
import type { TileSpec } from "../layout";
import { micMuted } from "../meeting/state";
import { LOCAL_CAMERA } from "../video/lane";
import { VideoCanvas } from "./VideoCanvas";
import { Icon } from "./Icon";

export interface TileProps {
  spec: TileSpec;
  participant: Participant;
  pinned: boolean;
  onPin: (key: string | null) => void;
  /** Local mic state (the control bar's), which leads the engine's echo. */
  localMicOn?: boolean;
  localCameraOn?: boolean;
  lowBandwidth: LowBandwidthMode;
  /** In speaker-only mode, whether this tile is the one that keeps video. */
  isFocus: boolean;
  size?: { width: number; height: number };
}

const AVATAR_COLOURS = ["#000091", "#6a6af4", "#c9191e", "#18753c", "#b34000", "#716043", "#a558a0", "#0063cb"];

function colourFor(identity: string): string {
  let h = 0;
  for (const ch of identity) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return AVATAR_COLOURS[h % AVATAR_COLOURS.length] ?? "#000091";
}

function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "?") + (parts.length > 1 ? parts[parts.length - 1]?.[0] ?? "" : "")).toUpperCase();
}

export function QualityBars({ quality }: { quality: Quality }) {
  const level = { excellent: 3, good: 2, poor: 1, lost: 0, unknown: -1 }[quality];
  if (level < 0) return null;
  return (
    <span class={`quality q-${quality}`} role="img" aria-label={t(`quality.${quality}`)} title={t(`quality.${quality}`)}>
      {[1, 2, 3].map((i) => (
        <span key={i} class={i <= level ? "on" : ""} />
      ))}
    </span>
  );
}

export function Tile(props: TileProps) {
  const { spec, participant: p } = props;
  const isLocal = p.isLocal;
  const muted = isLocal && props.localMicOn !== undefined ? !props.localMicOn : micMuted(p);
  const hand = p.handRaisedAt !== null;
  const name = isLocal ? t("meeting.you", { name: p.name }) : p.name;
  const screen = spec.kind === "screen";
  const videoAllowed = screen
    ? props.lowBandwidth !== "audio-only"
    : props.lowBandwidth === "off" || (props.lowBandwidth === "speaker-only" && props.isFocus);
  let trackId: string | null = null;
  if (isLocal && !screen) trackId = props.localCameraOn ? LOCAL_CAMERA : null;
  else if (videoAllowed) trackId = spec.trackSid;
  const label = screen ? t("meeting.screenOf", { name: p.name }) : name;

  return (
    <div
      class={`tile${p.speaking && !screen ? " speaking" : ""}${screen ? " screen" : ""}${trackId !== null ? " has-video" : ""}`}
      data-testid="tile"
      data-identity={p.identity}
      data-local={String(isLocal)}
      data-speaking={String(p.speaking)}
      data-hand-raised={String(hand)}
      data-mic-muted={String(muted)}
      data-pinned={String(props.pinned)}
      data-kind={spec.kind}
      style={props.size ? { width: `${props.size.width}px`, height: `${props.size.height}px` } : undefined}
    >
      {trackId !== null ? (
        <VideoCanvas key={trackId} trackId={trackId} label={label} fit={screen ? "contain" : "cover"} mirror={isLocal && !screen} />
      ) : (
        <div class="avatar-wrap">
          <span class="avatar" style={{ background: colourFor(p.identity) }} aria-hidden="true">
            {initials(p.name)}
          </span>
          {!screen && spec.trackSid !== null && !videoAllowed && <span class="sr-only">{t("meeting.videoPaused")}</span>}
        </div>
      )}
      <div class="tile-top">
        {hand && (
          <span class="badge hand" role="img" aria-label={t("meeting.handRaised")} title={t("meeting.handRaised")}>
            <Icon name="hand" size={16} />
          </span>
        )}
        <button
          type="button"
          class={`pin${props.pinned ? " active" : ""}`}
          aria-pressed={props.pinned}
          aria-label={props.pinned ? t("meeting.unpin", { name: label }) : t("meeting.pin", { name: label })}
          title={props.pinned ? t("meeting.unpin", { name: label }) : t("meeting.pin", { name: label })}
          onClick={() => props.onPin(props.pinned ? null : spec.key)}
        >
          <Icon name="pin" size={16} />
        </button>
      </div>
      <div class="tile-bottom">
        {!screen && muted && (
          <span class="badge muted" role="img" aria-label={t("meeting.micMuted")} title={t("meeting.micMuted")}>
            <Icon name="micOff" size={16} />
          </span>
        )}
        <span class="name">{label}</span>
        {!screen && <QualityBars quality={p.quality} />}
      </div>
    </div>
  );
}
