//! The types of BRIDGE.md, serialised exactly as the UI expects them (camelCase fields,
//! events tagged by `type`). Keep in step with `BRIDGE.md` and `ui/src/bridge.ts`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The stable error codes the UI translates (`error.<code>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidLink,
    Unreachable,
    Unauthorized,
    RoomFull,
    Denied,
    CameraBusy,
    CameraMissing,
    MicrophoneMissing,
    SpeakerMissing,
    /// Nobody admitted us from the waiting room in time.
    LobbyTimeout,
    /// The user cancelled (leaving the waiting room).
    Cancelled,
    NoKeychain,
    /// The OS keychain is locked: unlock it and retry (nothing was changed).
    KeychainLocked,
    /// IT policy forbids this server or this setting change.
    NotAllowed,
    /// The server refused the saved session: sign in again.
    SessionExpired,
    /// The sign-in did not complete (provider refused, wrong state/nonce, bad token, timeout).
    LoginFailed,
    WrongPin,
    /// Five wrong PINs: offline unlock waits for the next online sign-in.
    OfflineLocked,
    NoOfflinePin,
    WeakPin,
    /// No speech model installed (or not the one chosen).
    ModelMissing,
    /// A speech model that is damaged, of an unknown format, or not the one announced.
    ModelInvalid,
    /// The voice-activity model or ONNX Runtime is missing.
    SpeechUnavailable,
    TranscriptMissing,
    NotConnected,
    Protocol,
    Internal,
}

/// What a failing command rejects with: a code for the sentence, a detail for small print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<engine::EngineError> for AppError {
    fn from(e: engine::EngineError) -> Self {
        use engine::EngineError as E;
        let code = match &e {
            E::InvalidUrl { .. } => ErrorCode::InvalidLink,
            E::Unreachable { .. } | E::Timeout { .. } | E::Io(_) => ErrorCode::Unreachable,
            E::Unauthorized { .. } | E::InvalidToken(_) => ErrorCode::Unauthorized,
            E::Http { status: 401, .. } => ErrorCode::Unauthorized,
            E::Http { status: 403, .. } => ErrorCode::Denied,
            // A web server without Visio's API (404, 405, ...): not a Visio server.
            E::Http { .. } | E::Protocol(_) => ErrorCode::Protocol,
            E::Refused(reason) if reason.to_ascii_lowercase().contains("full") => {
                ErrorCode::RoomFull
            }
            E::Refused(_) => ErrorCode::Denied,
            E::NoDevices => ErrorCode::CameraMissing,
            E::Device(d) => return d.clone().into(),
            E::Disconnected => ErrorCode::NotConnected,
            _ => ErrorCode::Internal,
        };
        AppError::new(code, e.to_string())
    }
}

impl From<media::DeviceError> for AppError {
    fn from(e: media::DeviceError) -> Self {
        use media::DeviceError as E;
        let code = match &e {
            E::CameraMissing(_) => ErrorCode::CameraMissing,
            E::CameraBusy(_) => ErrorCode::CameraBusy,
            E::MicrophoneMissing(_) => ErrorCode::MicrophoneMissing,
            E::SpeakerMissing(_) => ErrorCode::SpeakerMissing,
            _ => ErrorCode::Internal,
        };
        AppError::new(code, e.to_string())
    }
}

impl From<accounts::AccountError> for AppError {
    fn from(e: accounts::AccountError) -> Self {
        use accounts::AccountError as E;
        let code = match &e {
            E::BadUrl { .. } => ErrorCode::InvalidLink,
            E::Unreachable { .. } => ErrorCode::Unreachable,
            E::NotVisio { .. } => ErrorCode::Protocol,
            E::NotAllowed(_) => ErrorCode::NotAllowed,
            E::Provider(_) | E::WrongState | E::WrongNonce | E::BadToken(_) | E::LoginTimeout => {
                ErrorCode::LoginFailed
            }
            E::SessionExpired | E::NotLoggedIn(_) | E::NoProfile(_) => ErrorCode::SessionExpired,
            E::NoKeychain(_) => ErrorCode::NoKeychain,
            E::KeychainLocked(_) => ErrorCode::KeychainLocked,
            E::WrongPin { .. } => ErrorCode::WrongPin,
            E::OfflineLocked => ErrorCode::OfflineLocked,
            E::NoOfflinePin => ErrorCode::NoOfflinePin,
            E::WeakPin(_) => ErrorCode::WeakPin,
            E::Keychain(_) | E::Store { .. } | E::Invalid(_) => ErrorCode::Internal,
        };
        AppError::new(code, e.to_string())
    }
}

impl From<visio_api::ApiError> for AppError {
    fn from(e: visio_api::ApiError) -> Self {
        use visio_api::ApiError as E;
        let code = match &e {
            E::InvalidLink { .. } | E::RoomNotFound { .. } => ErrorCode::InvalidLink,
            E::NotVisio { .. } => ErrorCode::Protocol,
            E::Unauthorized { .. } => ErrorCode::Unauthorized,
            E::Forbidden { .. } | E::Denied => ErrorCode::Denied,
            E::LobbyTimeout { .. } => ErrorCode::LobbyTimeout,
            E::Cancelled => ErrorCode::Cancelled,
            E::Unreachable { .. } | E::Timeout { .. } | E::Tls { .. } => ErrorCode::Unreachable,
            _ => ErrorCode::Internal,
        };
        AppError::new(code, e.to_string())
    }
}

pub type CmdResult<T> = Result<T, AppError>;

/// The settings' enums are the policy crate's: one definition for the app, the CLI and IT.
pub use policy::{Language, LowBandwidthMode};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoLaneInfo {
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub version: String,
    pub locale: Language,
    pub launch_link: Option<String>,
    pub auto_join: bool,
    pub default_server: String,
    pub video_lane: VideoLaneInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomRef {
    pub server: String,
    pub room_code: String,
    pub link: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentRoom {
    pub server: String,
    pub room_code: String,
    pub link: String,
    pub last_joined_at: String,
}

/// `get_settings`: the user's settings with the IT policy applied, and the names of the
/// settings the policy locked (the policy crate's type, so the app and `visio policy` agree).
pub type Settings = policy::EffectiveSettings;

/// `update_settings`: only the fields present change. A present `null` clears a device.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsPatch {
    pub language: Option<Language>,
    pub display_name: Option<String>,
    pub low_bandwidth: Option<LowBandwidthMode>,
    pub captions: Option<bool>,
    #[serde(default, with = "double_option")]
    pub camera_id: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub microphone_id: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub speaker_id: Option<Option<String>>,
    pub on_device_captions: Option<bool>,
    #[serde(default, with = "double_option")]
    pub captions_model: Option<Option<String>>,
    pub publish_my_captions: Option<bool>,
    pub save_transcripts: Option<bool>,
    #[serde(default, with = "double_option_u32")]
    pub caption_threads: Option<Option<u32>>,
}

/// [`double_option`] for a number.
mod double_option_u32 {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
        Option::<u32>::deserialize(d).map(Some)
    }
}

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub id: String,
    pub label: String,
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Devices {
    pub cameras: Vec<Device>,
    pub microphones: Vec<Device>,
    pub speakers: Vec<Device>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    Excellent,
    Good,
    Poor,
    Lost,
    Unknown,
}

impl Quality {
    /// From the engine's LiveKit quality name (`EXCELLENT`, `GOOD`, `POOR`, `LOST`).
    pub fn from_engine(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "excellent" => Quality::Excellent,
            "good" => Quality::Good,
            "poor" => Quality::Poor,
            "lost" => Quality::Lost,
            _ => Quality::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackInfo {
    pub sid: String,
    pub kind: engine::TrackKind,
    pub source: String,
    pub muted: bool,
    pub width: u32,
    pub height: u32,
}

impl From<&engine::TrackPublication> for TrackInfo {
    fn from(t: &engine::TrackPublication) -> Self {
        TrackInfo {
            sid: t.sid.clone(),
            kind: t.kind,
            // LiveKit's `CAMERA`, `SCREEN_SHARE_AUDIO` ... as BRIDGE.md's lowercase names.
            source: match t.source.to_ascii_lowercase().as_str() {
                s @ ("camera" | "microphone" | "screen_share" | "screen_share_audio") => s.into(),
                _ => "unknown".into(),
            },
            muted: t.muted,
            width: t.width,
            height: t.height,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub identity: String,
    pub sid: String,
    pub name: String,
    pub is_local: bool,
    pub attributes: HashMap<String, String>,
    pub hand_raised_at: Option<String>,
    pub tracks: Vec<TrackInfo>,
    pub quality: Quality,
    pub speaking: bool,
    /// Marked as a meeting room whose microphone carries several voices: on-device captions
    /// and the transcript name each voice ("intervenant N").
    pub several_voices: bool,
}

impl Participant {
    pub fn remote(p: &engine::RemoteParticipant) -> Self {
        Participant {
            identity: p.identity.clone(),
            sid: p.sid.clone(),
            name: p.name.clone(),
            is_local: false,
            hand_raised_at: hand_raised_at(&p.attributes),
            attributes: p.attributes.clone(),
            tracks: p.tracks.iter().map(TrackInfo::from).collect(),
            quality: Quality::Unknown,
            speaking: false,
            several_voices: false,
        }
    }
}

/// Visio's raised hand: the `handRaisedAt` attribute (ISO time), empty when lowered.
pub fn hand_raised_at(attributes: &HashMap<String, String>) -> Option<String> {
    attributes
        .get("handRaisedAt")
        .filter(|s| !s.is_empty())
        .cloned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub id: String,
    pub from_identity: String,
    pub from_name: String,
    pub text: String,
    pub timestamp: u64,
    pub is_local: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinResult {
    pub room_name: String,
    pub room_code: String,
    pub link: String,
    /// The user administers this room (its owner): lobby admission and moderation.
    pub is_admin: bool,
    pub local: Participant,
    pub participants: Vec<Participant>,
}

/// Who computed a caption: the room's agents, or this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptionSource {
    Room,
    Device,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDeviceState {
    Starting,
    On,
    Off,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionState {
    Connecting,
    Connected,
    Reconnecting,
    Disconnected,
}

/// The `room` event payloads.
#[derive(Debug, Clone, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum RoomEvent {
    ParticipantConnected {
        participant: Participant,
    },
    ParticipantDisconnected {
        identity: String,
    },
    ParticipantUpdated {
        participant: Participant,
    },
    TrackPublished {
        identity: String,
        track: TrackInfo,
    },
    TrackUnpublished {
        identity: String,
        track_sid: String,
    },
    TrackMuted {
        identity: String,
        track_sid: String,
        muted: bool,
    },
    ActiveSpeakers {
        identities: Vec<String>,
    },
    ConnectionQuality {
        identity: String,
        quality: Quality,
    },
    ChatMessage {
        message: ChatMessage,
    },
    Reaction {
        from_identity: String,
        emoji: String,
    },
    Caption {
        participant_identity: String,
        segment_id: String,
        text: String,
        #[serde(rename = "final")]
        is_final: bool,
        source: CaptionSource,
        /// Which voice of a meeting room's microphone spoke (1, 2, ...: "intervenant N"), on
        /// final device captions of a participant marked with `set_several_voices`.
        #[serde(skip_serializing_if = "Option::is_none")]
        voice: Option<u32>,
    },
    /// On-device captions started, stopped (with the transcript saved, if any) or failed.
    OnDeviceCaptions {
        state: OnDeviceState,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<ErrorCode>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        transcript_id: Option<String>,
    },
    Notification {
        kind: String,
    },
    /// `join` is waiting in the room's lobby until an organiser admits us (`cancel_join`).
    Lobby {
        status: visio_api::LobbyStatus,
    },
    /// A camera, microphone or speaker could not be opened or stopped; the meeting goes on.
    DeviceUnavailable {
        kind: engine::DeviceUse,
        reason: String,
    },
    ConnectionState {
        state: ConnectionState,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<ErrorCode>,
    },
    MicLevel {
        level: f32,
    },
}

/// The `app` event payloads.
#[derive(Debug, Clone, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum AppEvent {
    OpenLink { link: String },
}

// Requests.

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveRequest {
    pub input: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoomRequest {
    pub server: Option<String>,
    /// Register the room with this access level (`restricted`: a waiting room); the
    /// creator becomes its administrator.
    pub access_level: Option<visio_api::AccessLevel>,
}

/// Someone in the lobby, for an administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingParticipant {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmitRequest {
    pub id: String,
    pub allow: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantRequest {
    pub identity: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewRequest {
    pub camera_id: Option<String>,
    pub microphone_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestSoundRequest {
    pub speaker_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    pub link: String,
    pub display_name: String,
    pub camera_on: bool,
    pub mic_on: bool,
    pub camera_id: Option<String>,
    pub microphone_id: Option<String>,
    pub speaker_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnabledRequest {
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectDeviceRequest {
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeveralVoicesRequest {
    pub identity: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatRequest {
    pub text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandRequest {
    pub raised: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactionRequest {
    pub emoji: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoTile {
    pub track_sid: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoSubscriptionsRequest {
    pub tiles: Vec<VideoTile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LowBandwidthRequest {
    pub mode: LowBandwidthMode,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_shaped_as_bridge_md_says() {
        let e = RoomEvent::TrackMuted {
            identity: "bob".into(),
            track_sid: "TR_1".into(),
            muted: true,
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"type": "trackMuted", "identity": "bob", "trackSid": "TR_1", "muted": true})
        );
        let e = RoomEvent::Caption {
            participant_identity: "a".into(),
            segment_id: "s".into(),
            text: "hi".into(),
            is_final: false,
            source: CaptionSource::Device,
            voice: None,
        };
        assert_eq!(serde_json::to_value(&e).unwrap()["final"], false);
        assert_eq!(serde_json::to_value(&e).unwrap()["source"], "device");
        let e = RoomEvent::OnDeviceCaptions {
            state: OnDeviceState::Failed,
            code: Some(ErrorCode::ModelMissing),
            reason: Some("no model".into()),
            transcript_id: None,
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"type": "onDeviceCaptions", "state": "failed", "code": "model_missing", "reason": "no model"})
        );
        let e = RoomEvent::ConnectionState {
            state: ConnectionState::Disconnected,
            reason: None,
            code: Some(ErrorCode::Unreachable),
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"type": "connectionState", "state": "disconnected", "code": "unreachable"})
        );
        let e = AppEvent::OpenLink {
            link: "visio://h/abc-defg-hij".into(),
        };
        assert_eq!(serde_json::to_value(&e).unwrap()["type"], "openLink");
    }

    #[test]
    fn settings_patch_tells_null_from_missing() {
        let p: SettingsPatch =
            serde_json::from_str(r#"{"cameraId": null, "lowBandwidth": "audio-only"}"#).unwrap();
        assert_eq!(p.camera_id, Some(None));
        assert_eq!(p.microphone_id, None);
        assert_eq!(p.low_bandwidth, Some(LowBandwidthMode::AudioOnly));
    }

    #[test]
    fn engine_errors_get_their_code() {
        let e: AppError = engine::EngineError::Unreachable {
            url: "u".into(),
            reason: "refused".into(),
        }
        .into();
        assert_eq!(e.code, ErrorCode::Unreachable);
        assert!(e.message.contains("refused"));
        let e: AppError = engine::EngineError::Refused("room is full".into()).into();
        assert_eq!(e.code, ErrorCode::RoomFull);
        assert_eq!(
            serde_json::to_value(AppError::new(ErrorCode::InvalidLink, "x")).unwrap(),
            serde_json::json!({"code": "invalid_link", "message": "x"})
        );
    }
}
