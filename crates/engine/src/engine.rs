//! # engine: Visio Desktop's LiveKit client
//!
//! A pure-Rust LiveKit client: signalling over the `/rtc` WebSocket with the official
//! protobuf types (`livekit-protocol`), two [str0m](https://docs.rs/str0m) peer connections
//! (LiveKit's dual-PC mode), and the media crate's codecs. It has no UI knowledge: the desktop
//! app and `visio join` drive a [`Room`] and consume its [`RoomEvent`] stream.
//!
//! ## Use
//! ```no_run
//! # async fn demo() -> Result<(), engine::EngineError> {
//! use engine::{PublishOptions, Room, RoomEvent, RoomOptions};
//!
//! let options = RoomOptions {
//!     publish: Some(PublishOptions::fake_devices()), // 1280x720 30 fps pattern + 440 Hz tone
//!     ..Default::default()
//! };
//! let (room, mut events) = Room::connect("ws://127.0.0.1:7880", "<token>", options).await?;
//! room.publish_data(b"hello".to_vec(), true, Some("greeting".into()), vec![]).await?;
//! room.send_chat_message("Bonjour").await?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         RoomEvent::ParticipantConnected(p) => println!("{} joined", p.identity),
//!         RoomEvent::VideoFrameReceived { participant_identity, embedded, .. } => {
//!             println!("frame from {participant_identity}, pattern code {embedded:?}")
//!         }
//!         RoomEvent::Disconnected { reason } => { println!("left: {reason}"); break }
//!         _ => {}
//!     }
//! }
//! for t in room.track_stats().await? { println!("{t:?}") }
//! room.disconnect().await;
//! # Ok(()) }
//! ```
//!
//! ## What happens on [`Room::connect`]
//! 1. WebSocket to `<url>/rtc?protocol=16&auto_subscribe=1&sdk=rust`, token in
//!    `Authorization: Bearer`. A refused token gives [`EngineError::Unauthorized`] with the
//!    server's reason (LiveKit answers the upgrade with HTTP 401 and the reason as body); a
//!    closed port [`EngineError::Unreachable`]; something that is not a LiveKit server
//!    [`EngineError::Protocol`] or [`EngineError::Http`]. `connect` returns only once the
//!    JoinResponse arrived (checked: participant with a `PA_` sid, room present).
//! 2. A session task takes over: pings (`ping_req` every `ping_interval`), answers the
//!    server's subscriber offers, announces local tracks (`AddTrackRequest`, the `cid` is the
//!    msid track id of our m-line) and, once every `TrackPublishedResponse` is in, offers the
//!    publisher connection with the `_reliable` / `_lossy` data channels and sendonly media.
//! 3. Each peer connection has its own UDP socket bound to the local address that faces the
//!    server, announced as a host candidate inside the SDP (the room server is ICE-lite and
//!    puts its candidates in its SDP; server trickles are ignored). With `stun:` servers in
//!    the JoinResponse, a STUN Binding from that socket adds a server-reflexive candidate
//!    when a NAT maps it elsewhere (300 ms per try, three tries, both connections at once).
//!
//! ## TLS
//! `wss://` and `https://` URLs use rustls; certificates are always verified, against
//! Mozilla's roots, the system store, and [`RoomOptions::extra_root_certs_pem`] (an IT
//! department's private CA; `visio join --ca-file`). A refused certificate is
//! [`EngineError::Tls`] with rustls' reason (`UnknownIssuer`, `NotValidForName`, ...).
//!
//! ## Reconnection
//! When the signalling socket drops (closed, error, or no pong within `ping_timeout`) the
//! peer connections and media keep running and the engine emits
//! [`RoomEvent::Reconnecting`] per attempt:
//! 1. Resume (`reconnect=1&sid=`): the server answers ReconnectResponse, the session goes on,
//!    a SyncState re-sends what we publish and receive, queued signalling is flushed, and
//!    [`RoomEvent::Reconnected`] `{ resumed: true }` follows. The others never see us leave.
//! 2. Rejoin when the server no longer knows the session (it answers Leave, e.g. after a
//!    restart) or after the 12 s resume window: a new session with new peer connections, our
//!    tracks published again, participants compared with the new list, per-track figures
//!    carried over; `Reconnected { resumed: false }`.
//!
//! Attempts back off from 200 ms to 1 s; after [`RoomOptions::reconnect_timeout`] (30 s)
//! the room ends with [`RoomEvent::Disconnected`] naming the last error. A server Leave
//! with action RESUME or RECONNECT starts the same path. The policy is the sans-I/O
//! `reconnect::Reconnector`, unit-tested without sockets.
//!
//! **ICE restart.** When media stops while signalling stays up (a connected peer
//! connection hears nothing for 6 s, or str0m reports ICE disconnected, which came 23 s
//! after a cut), the engine resumes with LiveKit's `reconnect_reason` (publisher or
//! subscriber failed), offers an ICE restart on its publisher connection, and the server
//! sends an ICE-restart offer for the subscriber one. [`RoomEvent::Reconnecting`] names the
//! ICE restart; [`RoomEvent::Reconnected`] `{ resumed: true }` comes once both connections
//! hear the server again. Without media 15 s later the engine joins again. Measured with
//! the relay cutting UDP only (`tests/resilience.rs`, `media_cut_restarts_ice`): restart
//! 3.7 s after the cut, media back 0.8-1 s after the path returned.
//!
//! **Kept across a rejoin**: a track muted before it comes back muted
//! (`AddTrackRequest.muted`), an unpublished one stays unpublished.
//!
//! ## The event stream
//! [`RoomEvent`]s come on an unbounded tokio mpsc receiver, in signalling order:
//! participants joining/leaving, tracks published/unpublished/muted, tracks subscribed (a
//! remote m-line's msid stream id is LiveKit's `PA_xxx|TR_yyy`, which names its participant
//! and track), every decoded video frame (with the pattern code read back by
//! [`media::read_embedded`] when there is one), data packets, chat and other text streams,
//! active speakers, connection quality, and the final [`RoomEvent::Disconnected`].
//!
//! ## Media
//! - Publishing ([`PublishOptions`]): the synthetic pattern (frame counter and capture time in
//!   Unix milliseconds embedded) encoded VP8, simulcast with LiveKit's rids (`q`, `h`, `f`;
//!   see [`PublishOptions::simulcast`]; the lower layers at LiveKit's 15 (`q`) and 20 (`h`)
//!   fps from a 30 fps camera), paced at its frame rate, keyframe on every PLI/FIR
//!   from the server for the layer asked, layers nobody watches paused on the server's
//!   `SubscribedQualityUpdate` (dynacast); the 440 Hz tone as Opus 20 ms frames. Without
//!   `fake_devices`: the camera (nokhwa) and microphone (cpal, with echo cancellation fed by
//!   [`RoomOptions::playout`]) or a WAV file; a device that cannot be opened is reported with
//!   [`RoomEvent::DeviceUnavailable`] and the rest is published. H264 with
//!   [`PublishOptions::video_codec`].
//! - Threads: the camera's capture, scaling and encoding run on their own thread
//!   (`visio-video-encoder`), so a short-of-CPU machine no longer delays receiving and
//!   decoding behind three encoders. The session loop gets each frame's layers (highest
//!   first) through a 4-frame queue and writes them to str0m; when it falls behind, the
//!   thread skips whole frames before encoding them (never blocks, never breaks references).
//!   Keyframe requests, bitrates, dynacast and mute reach it as messages; it is joined when
//!   the camera is unpublished or the room closes.
//! - Receiving: VP8/VP9 via libvpx and Opus, one decoder per remote track. After a frame
//!   lost for good (str0m reports the gap once NACK retransmissions gave up) the frames that
//!   follow are skipped until a keyframe, asked for with a PLI every 300 ms (libvpx decodes
//!   them without an error, into a corrupt picture); a decode error asks too. Lost audio is
//!   made up for with Opus FEC and concealment, seen in the RTP time (the server numbers
//!   its packets anew, so losses before it leave no gap in the sequence numbers).
//!   [`Room::track_stats`] gives per-track figures:
//!   frames, size, end-to-end latency p50/p95 from the embedded capture time (meaningful when
//!   both ends share a clock), audio samples, RMS and dominant frequency of the last second.
//!
//! ## Visio links
//! The engine speaks LiveKit only: a Visio room link is turned into a LiveKit URL and token
//! by the `visio_api` crate (Visio's REST API) before [`Room::connect`].
//!
//! ## Testing on bad networks
//! `tests/resilience.rs` puts the `netem` crate's UDP relay (seeded loss, delay, jitter)
//! between the clients and the room server (`ServerConfig::announced_udp`), and its TCP
//! proxy in front of the signalling port to cut it. [`TrackStats::nacks`] and
//! [`TrackStats::plis`] show the repairs.
//!
//! Under 10 % loss and 100 ms added between publisher and subscriber (5 % and 50 ms per
//! traversal, `cargo test -p engine --test resilience loss -- --nocapture`): 29-31
//! readable fps of 640x360, no corrupt picture, audio 100 % of real time at 440 Hz
//! (about 60 packets concealed in 10 s).
//!
//! ## Not yet
//! - TURN (UDP/TCP/TLS relays, e.g. `turn-client-proto`): media needs a direct UDP path to
//!   the server.
//! - An ICE restart keeps the UDP sockets: after a change of local address (new network)
//!   the restart fails and the fallback rejoin (new sockets on the address facing the
//!   server) brings media back, 15 s later than a rebind would.
//! - Bitrate following str0m's bandwidth estimate stays opt-in
//!   ([`PublishOptions::follow_bandwidth_estimate`]): it does not help under loss. Measured
//!   with the loss test (`NETEM_BWE=1 cargo test -p engine --test resilience
//!   loss_and_delay -- --nocapture`, 640x360, 10 % loss + 100 ms): 17 readable fps and
//!   latency p50/p95 584/1458 ms with it, against 24 fps and 146/437 ms without (the
//!   estimate reads loss as congestion and frames wait in str0m's pacer); on the same path
//!   without loss both give 29-30 fps and 107-111 ms p50. A loss-tolerant estimate (or
//!   pacing only above the estimate) is the way before it is the default.
//! - 720p simulcast under 10 % loss was not measured reliably: in a debug build on the
//!   busy 2-core machine the publisher itself fell to 17 captures a second.

pub mod captions;
mod data;
mod devices;
mod encoder;
mod reconnect;
mod session;
mod signal;
mod stun;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use captions::{Caption, CaptionState, TRANSCRIPTION_TOPIC};
pub use data::CHAT_TOPIC;
pub use livekit_protocol as proto;
/// The media crate (devices, codecs), for callers that list devices or handle frames.
pub use media;
pub use signal::PROTOCOL_VERSION;

/// Why joining or talking to a room failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EngineError {
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the server refused the token (HTTP {status}, invalid token?): {reason}")]
    Unauthorized { status: u16, reason: String },
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("the server answered HTTP {status} instead of a LiveKit WebSocket: {body:?}")]
    Http { status: u16, body: String },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("timed out {what} ({url})")]
    Timeout { what: &'static str, url: String },
    #[error("the server refused the join: {0}")]
    Refused(String),
    /// Kept for compatibility; devices are now opened (see [`RoomEvent::DeviceUnavailable`]).
    #[error("no camera/microphone available")]
    NoDevices,
    #[error("media error: {0}")]
    Media(String),
    #[error("TLS with {url} failed (certificate not trusted? pass the CA with extra_root_certs_pem): {reason}")]
    Tls { url: String, reason: String },
    #[error("invalid CA certificate: {0}")]
    InvalidCertificate(String),
    #[error("network error: {0}")]
    Io(String),
    #[error("the room is disconnected")]
    Disconnected,
    /// A device to switch to could not be opened ([`Room::set_camera`] and co.).
    #[error(transparent)]
    Device(#[from] media::DeviceError),
}

/// How to join.
#[derive(Debug, Clone)]
pub struct RoomOptions {
    /// Subscribe to every remote track (LiveKit's `auto_subscribe`).
    pub auto_subscribe: bool,
    /// What to publish once joined; `None` publishes nothing (data only).
    pub publish: Option<PublishOptions>,
    /// Limit for the WebSocket upgrade and for the JoinResponse, each.
    pub connect_timeout: Duration,
    /// After a lost connection, how long to keep trying (resume, then rejoin) before
    /// [`RoomEvent::Disconnected`].
    pub reconnect_timeout: Duration,
    /// Certificate authorities to trust for `wss`/`https` on top of the public roots and the
    /// system store (PEM, one or more certificates each): an IT department's private CA.
    pub extra_root_certs_pem: Vec<String>,
    /// Emit [`RoomEvent::AudioFrameReceived`] with the decoded PCM of every remote audio
    /// track (for on-device captions); off by default since it is 50 events a second per track.
    pub audio_frames: bool,
    /// Emit [`RoomEvent::LocalAudioFrame`] with every 20 ms of microphone audio as it is sent
    /// (after echo cancellation), so the user's own speech can be captioned (opt-in).
    pub local_audio_frames: bool,
    /// Emit [`RoomEvent::EncodedVideoReceived`] with every depacketized remote video frame, so
    /// an app can decode in its own renderer (a webview's WebCodecs). Frames after a gap are
    /// held back until the next keyframe. Pair with [`Room::set_video_decoding`] to skip the
    /// engine's own decoding of those tracks.
    pub encoded_video: bool,
    /// Play the remote audio (jitter buffer per track, mixed) on a speaker; `None`: silent.
    /// The mix is also the far end of the microphone's echo canceller.
    pub playout: Option<PlayoutOptions>,
    /// Emit [`RoomEvent::LocalVideoFrame`] with the camera's picture as it is published, for
    /// a self view; `None`: off.
    pub local_video_frames: Option<SelfView>,
}

/// The self view the engine hands back ([`RoomOptions::local_video_frames`]): pictures of the
/// camera as it is published, at most this size and rate. Where a simulcast layer already has
/// a fitting size its scaled picture is given (at the layer's rate), so the self view costs
/// no scaling; otherwise the frame is scaled down to fit, at `fps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfView {
    pub max_width: u32,
    pub max_height: u32,
    pub fps: u32,
}

impl Default for SelfView {
    /// A grid tile: 640x360 at 15 fps.
    fn default() -> Self {
        Self {
            max_width: 640,
            max_height: 360,
            fps: 15,
        }
    }
}

/// Where remote audio is played.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlayoutOptions {
    /// An output device id from [`media::list_audio`]; `None`: the system default.
    pub device: Option<String>,
}

/// The video codec published. VP8 is LiveKit's default and the one simulcast is tuned for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VideoCodec {
    #[default]
    Vp8,
    H264,
}

impl Default for RoomOptions {
    fn default() -> Self {
        Self {
            auto_subscribe: true,
            publish: None,
            connect_timeout: Duration::from_secs(5),
            reconnect_timeout: Duration::from_secs(30),
            extra_root_certs_pem: vec![],
            audio_frames: false,
            local_audio_frames: false,
            encoded_video: false,
            playout: None,
            local_video_frames: None,
        }
    }
}

/// What the local participant publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    /// The synthetic sources (pattern + tone) instead of the camera and microphone.
    pub fake_devices: bool,
    pub video: bool,
    pub audio: bool,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Bitrate of the full-size layer.
    pub video_bitrate_bps: u32,
    /// LiveKit simulcast: rids `q`/`h`/`f` at 1/4, 1/2 and full size when the larger side is
    /// at least 960 px; `q`/`h` at 1/2 and full size from 480 px; one layer below.
    pub simulcast: bool,
    /// Enable str0m's TWCC bandwidth estimation (and with it its pacer) on the publisher and
    /// let the estimate lower the layers' encoder bitrates, lowest layer served first.
    /// Off by default: on this 2-core loopback the estimate fell from 2.1 Mb/s to under
    /// 0.5 Mb/s within two seconds and frames waited in the pacer (latency p50 264 ms against
    /// 5-18 ms without), which needs investigating before it is the default.
    pub follow_bandwidth_estimate: bool,
    /// The camera when not `fake_devices`: an id from [`media::list_cameras`]; `None`: the
    /// first camera. A missing or busy camera is reported with
    /// [`RoomEvent::DeviceUnavailable`] and the rest is published without it.
    pub camera: Option<String>,
    /// The microphone when not `fake_devices`: an id from [`media::list_audio`]; `None`: the
    /// system default.
    pub microphone: Option<String>,
    /// A WAV file played as the microphone (with or without `fake_devices`); once played it
    /// gives silence.
    pub wav: Option<std::path::PathBuf>,
    pub video_codec: VideoCodec,
    /// Echo cancellation, noise suppression and gain control on a real microphone.
    pub audio_processing: bool,
}

impl PublishOptions {
    /// The test pattern at 1280x720 30 fps and the 440 Hz tone.
    pub fn fake_devices() -> Self {
        Self {
            fake_devices: true,
            video: true,
            audio: true,
            width: 1280,
            height: 720,
            fps: 30,
            video_bitrate_bps: 1_500_000,
            simulcast: true,
            follow_bandwidth_estimate: false,
            camera: None,
            microphone: None,
            wav: None,
            video_codec: VideoCodec::Vp8,
            audio_processing: true,
        }
    }

    /// The default camera and microphone at 1280x720 30 fps.
    pub fn devices() -> Self {
        Self {
            fake_devices: false,
            ..Self::fake_devices()
        }
    }
}

/// What a [`RoomEvent::DeviceUnavailable`] device was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceUse {
    Camera,
    Microphone,
    Speaker,
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackKind {
    Audio,
    Video,
}

/// A published track as the room knows it (LiveKit's `TrackInfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackPublication {
    pub sid: String,
    pub name: String,
    pub kind: TrackKind,
    pub source: String,
    pub muted: bool,
    pub mime_type: String,
    pub width: u32,
    pub height: u32,
}

impl TrackPublication {
    pub(crate) fn from_info(t: &proto::TrackInfo) -> Self {
        Self {
            sid: t.sid.clone(),
            name: t.name.clone(),
            kind: if t.r#type == proto::TrackType::Video as i32 {
                TrackKind::Video
            } else {
                TrackKind::Audio
            },
            source: proto::TrackSource::try_from(t.source)
                .map(|s| s.as_str_name().to_owned())
                .unwrap_or_default(),
            muted: t.muted,
            mime_type: t.mime_type.clone(),
            width: t.width,
            height: t.height,
        }
    }
}

/// Another participant in the room.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteParticipant {
    pub sid: String,
    pub identity: String,
    pub name: String,
    pub metadata: String,
    pub attributes: std::collections::HashMap<String, String>,
    pub tracks: Vec<TrackPublication>,
}

impl RemoteParticipant {
    pub(crate) fn from_info(p: &proto::ParticipantInfo) -> Self {
        Self {
            sid: p.sid.clone(),
            identity: p.identity.clone(),
            name: p.name.clone(),
            metadata: p.metadata.clone(),
            attributes: p.attributes.clone(),
            tracks: p.tracks.iter().map(TrackPublication::from_info).collect(),
        }
    }
}

/// This client in the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalParticipant {
    pub sid: String,
    pub identity: String,
    pub name: String,
}

/// Whether a data packet came reliably (`_reliable`) or not (`_lossy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    Reliable,
    Lossy,
}

/// Everything the UI or CLI is told, in order.
#[derive(Debug, Clone)]
pub enum RoomEvent {
    /// Both peer connections that are in use are up.
    Connected,
    ParticipantConnected(RemoteParticipant),
    ParticipantDisconnected(RemoteParticipant),
    ParticipantMetadataChanged(RemoteParticipant),
    TrackPublished {
        participant_identity: String,
        publication: TrackPublication,
    },
    TrackUnpublished {
        participant_identity: String,
        publication: TrackPublication,
    },
    TrackMuted {
        participant_identity: String,
        track_sid: String,
    },
    TrackUnmuted {
        participant_identity: String,
        track_sid: String,
    },
    /// Media of a remote track started arriving on the subscriber connection.
    TrackSubscribed {
        participant_identity: String,
        publication: TrackPublication,
    },
    /// Our own track was accepted by the server.
    LocalTrackPublished(TrackPublication),
    /// The server confirmed that our track is no longer published ([`Room::unpublish_track`]).
    LocalTrackUnpublished {
        track_sid: String,
    },
    /// A remote video frame was decoded. `embedded` is the synthetic pattern's
    /// (frame counter, capture time in Unix ms) when the picture carries one.
    VideoFrameReceived {
        participant_identity: String,
        track_sid: String,
        width: u32,
        height: u32,
        embedded: Option<(u32, u64)>,
        frame: Arc<media::VideoFrame>,
    },
    DataReceived {
        participant_identity: String,
        topic: Option<String>,
        payload: Vec<u8>,
        kind: DataKind,
    },
    /// A chat message (`lk.chat` text stream, or a legacy ChatMessage packet).
    ChatMessage {
        participant_identity: String,
        text: String,
    },
    /// A caption (a `lk.transcription` text stream update or a legacy Transcription packet),
    /// attributed to the participant whose track was transcribed. Keep them in a
    /// [`CaptionState`] to show interim text replaced by the final one.
    Caption(Caption),
    /// Decoded audio of a remote track (48 kHz mono, 20 ms per Opus frame), only with
    /// [`RoomOptions::audio_frames`].
    AudioFrameReceived {
        participant_identity: String,
        track_sid: String,
        sample_rate: u32,
        samples: Arc<[i16]>,
    },
    /// Our microphone's audio as the engine sends it (48 kHz mono, 20 ms), only with
    /// [`RoomOptions::local_audio_frames`]; `track_sid` is the local audio track's sid.
    LocalAudioFrame {
        track_sid: String,
        sample_rate: u32,
        samples: Arc<[i16]>,
    },
    /// Our camera's picture as it is published (scaled to the [`SelfView`] asked for), only
    /// with [`RoomOptions::local_video_frames`]. None come while the camera is muted.
    LocalVideoFrame {
        frame: Arc<media::VideoFrame>,
    },
    /// A remote video frame as it arrived (depacketized, not decoded), only with
    /// [`RoomOptions::encoded_video`].
    EncodedVideoReceived(EncodedVideoFrame),
    /// Any other text stream.
    TextStreamReceived {
        participant_identity: String,
        topic: String,
        text: String,
    },
    /// Identities speaking now, loudest first, with their level (0..1).
    ActiveSpeakersChanged(Vec<(String, f32)>),
    ConnectionQualityChanged {
        participant_identity: String,
        quality: String,
    },
    /// The connection to the server was lost and the engine is trying to get it back
    /// (`attempt` counts from 1 within one outage). Media may stop until `Reconnected`.
    Reconnecting {
        attempt: u32,
        reason: String,
    },
    /// Back in the room. `resumed`: the same session continued (signalling resumed, the
    /// others never saw us leave); otherwise a new session was joined and our tracks
    /// published again (the others saw us leave and come back).
    Reconnected {
        resumed: bool,
    },
    /// A device asked for could not be opened (camera missing or busy, no microphone, no
    /// speaker) or stopped; the session goes on without it.
    DeviceUnavailable {
        kind: DeviceUse,
        reason: String,
    },
    /// The session ended; no more events follow.
    Disconnected {
        reason: String,
    },
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
}

/// What was received on one remote track.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrackStats {
    pub participant: String,
    pub track_sid: String,
    pub kind: TrackKind,
    pub codec: String,
    /// Video: frames decoded.
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    /// Video: capture-to-decode time from the embedded timestamps, when frames carry them.
    pub latency_ms: Option<Percentiles>,
    /// Video: frames whose embedded counter went backwards (reordering).
    pub counter_regressions: u64,
    /// Video: frames carrying the same counter as the previous one (the same capture shown
    /// twice, as when the server switches simulcast layers on that frame).
    pub counter_repeats: u64,
    /// Audio: samples decoded (48 kHz mono).
    pub samples: u64,
    /// Audio: RMS of the last second as a fraction of full scale (0.707: full-scale sine).
    pub rms: f64,
    /// Audio: dominant frequency of the last second.
    pub dominant_hz: Option<f64>,
    /// Retransmission requests (NACK) we sent for this track: lost packets asked again.
    pub nacks: u64,
    /// Keyframe requests (PLI) we sent for this track.
    pub plis: u64,
    /// Audio: lost packets made up for by Opus FEC or concealment (counted in `samples`).
    pub concealed: u64,
}

/// One depacketized remote video frame ([`RoomEvent::EncodedVideoReceived`]).
#[derive(Debug, Clone)]
pub struct EncodedVideoFrame {
    pub participant_identity: String,
    pub track_sid: String,
    pub codec: media::VideoCodecKind,
    /// A keyframe decodes on its own; the frames after it need it.
    pub keyframe: bool,
    /// RTP timestamp (90 kHz clock), for the decoder's timestamps.
    pub rtp_time: u64,
    /// VP8/VP9 frame, or H264 access unit in Annex B (start codes).
    pub data: Arc<[u8]>,
}

pub(crate) type FinalStats = Arc<std::sync::Mutex<Option<Vec<TrackStats>>>>;

pub(crate) enum Command {
    Data {
        packets: Vec<Vec<u8>>,
        reliable: bool,
        done: oneshot::Sender<Result<(), EngineError>>,
    },
    Stats(oneshot::Sender<Vec<TrackStats>>),
    SetMuted {
        kind: TrackKind,
        muted: bool,
        done: oneshot::Sender<Result<(), EngineError>>,
    },
    Participants(oneshot::Sender<Vec<RemoteParticipant>>),
    Unpublish {
        kind: TrackKind,
        done: oneshot::Sender<Result<(), EngineError>>,
    },
    TrackSettings(Vec<TrackSetting>),
    VideoDecoding {
        track_sid: String,
        decode: bool,
    },
    RequestKeyframe(String),
    AudioFrames {
        remote: bool,
        local: bool,
    },
    Disconnect(oneshot::Sender<()>),
    /// A device opened by [`Room::set_camera`] and co., to use from now on.
    SwitchDevice {
        device: SwitchedDevice,
        done: oneshot::Sender<Result<(), EngineError>>,
    },
}

/// What [`Command::SwitchDevice`] carries: the device's id and the opened device.
pub(crate) enum SwitchedDevice {
    Camera(Option<String>, Box<dyn media::VideoSource>),
    Microphone(Option<String>, Box<dyn media::AudioSource>),
    Speaker(Option<String>, media::Playout),
}

/// What the UI wants of one remote track (LiveKit's `UpdateTrackSettings`): the server picks
/// the simulcast layer that fits `width`x`height` and sends nothing while `enabled` is false.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSetting {
    pub track_sid: String,
    pub enabled: bool,
    /// Wanted size in pixels; 0x0 leaves the layer choice to the server (highest).
    pub width: u32,
    pub height: u32,
}

/// A joined room. Dropping it ends the session without a Leave; prefer [`Room::disconnect`].
pub struct Room {
    name: String,
    sid: String,
    local: LocalParticipant,
    /// What we publish, for the format a switched camera is opened with.
    publish: Option<PublishOptions>,
    /// The figures at the end of the session, for [`Room::track_stats`] after it ended.
    final_stats: FinalStats,
    commands: mpsc::UnboundedSender<Command>,
}

impl Room {
    /// Joins: returns once the server accepted us (JoinResponse); media and data set up in
    /// the background, reported as [`RoomEvent`]s.
    pub async fn connect(
        url: &str,
        token: &str,
        options: RoomOptions,
    ) -> Result<(Room, mpsc::UnboundedReceiver<RoomEvent>), EngineError> {
        let target = signal::Target::new(url, &options)?;
        let (ws, joined) = signal::connect(&target, token, None).await?;
        let signal::Joined::Join(join) = joined else {
            return Err(EngineError::Protocol("ReconnectResponse to a join".into()));
        };
        let server_addr = session::server_addr(url).await?;
        let origin = session::Origin {
            target,
            token: token.to_owned(),
            server: server_addr,
            options: options.clone(),
        };
        let info = join.participant.clone().unwrap_or_default();
        let room_info = join.room.clone().unwrap_or_default();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let final_stats = FinalStats::default();
        let publish = options.publish.clone();
        let s = session::Session::new(
            ws,
            *join,
            server_addr,
            options,
            events_tx,
            final_stats.clone(),
        )
        .await?;
        tokio::spawn(s.run(cmd_rx, origin));
        Ok((
            Room {
                final_stats,
                publish,
                name: room_info.name,
                sid: room_info.sid,
                local: LocalParticipant {
                    sid: info.sid,
                    identity: info.identity,
                    name: info.name,
                },
                commands: cmd_tx,
            },
            events_rx,
        ))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn sid(&self) -> &str {
        &self.sid
    }

    pub fn local_participant(&self) -> &LocalParticipant {
        &self.local
    }

    /// The other participants now.
    pub async fn remote_participants(&self) -> Result<Vec<RemoteParticipant>, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Participants(tx))
            .map_err(|_| EngineError::Disconnected)?;
        rx.await.map_err(|_| EngineError::Disconnected)
    }

    /// Sends a user packet on `_reliable` (or `_lossy`), to everyone or to `destinations`
    /// (identities). Waits until the publisher data channel is open.
    pub async fn publish_data(
        &self,
        payload: Vec<u8>,
        reliable: bool,
        topic: Option<String>,
        destinations: Vec<String>,
    ) -> Result<(), EngineError> {
        let packets = vec![data::user_packet(reliable, payload, topic, destinations)];
        self.send_packets(packets, reliable).await
    }

    /// Sends a text stream on `topic` (for chat, [`CHAT_TOPIC`]).
    pub async fn send_text(
        &self,
        topic: &str,
        text: &str,
        destinations: Vec<String>,
    ) -> Result<(), EngineError> {
        self.send_text_with_attributes(topic, text, Default::default(), destinations)
            .await
    }

    /// Sends a text stream with attributes (captions on [`TRANSCRIPTION_TOPIC`] carry
    /// `lk.segment_id`, `lk.transcribed_track_id`, `lk.transcription_final`).
    pub async fn send_text_with_attributes(
        &self,
        topic: &str,
        text: &str,
        attributes: std::collections::HashMap<String, String>,
        destinations: Vec<String>,
    ) -> Result<(), EngineError> {
        let id = format!("{:032x}", rand::random::<u128>());
        let packets = data::text_stream(
            &id,
            topic,
            text,
            attributes,
            destinations,
            session::unix_ms() as i64,
        );
        self.send_packets(packets, true).await
    }

    /// A chat message to the room, as the Visio web app sends them (`lk.chat`).
    pub async fn send_chat_message(&self, text: &str) -> Result<(), EngineError> {
        self.send_text(CHAT_TOPIC, text, vec![]).await
    }

    async fn send_packets(&self, packets: Vec<Vec<u8>>, reliable: bool) -> Result<(), EngineError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Data {
                packets,
                reliable,
                done: tx,
            })
            .map_err(|_| EngineError::Disconnected)?;
        rx.await.map_err(|_| EngineError::Disconnected)?
    }

    /// Mutes or unmutes our published track of this kind: nothing is encoded or sent while
    /// muted, and the others get `TrackMuted` / `TrackUnmuted`.
    pub async fn set_muted(&self, kind: TrackKind, muted: bool) -> Result<(), EngineError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::SetMuted {
                kind,
                muted,
                done: tx,
            })
            .map_err(|_| EngineError::Disconnected)?;
        rx.await.map_err(|_| EngineError::Disconnected)?
    }

    /// Stops publishing our track of this kind (LiveKit's `unpublishTrack`): its source
    /// (camera, microphone) is released, the publisher connection renegotiates the track's
    /// m-line as inactive, the server sends TrackUnpublished (our
    /// [`RoomEvent::LocalTrackUnpublished`]) and the others get [`RoomEvent::TrackUnpublished`].
    /// It stays unpublished across a rejoin.
    pub async fn unpublish_track(&self, kind: TrackKind) -> Result<(), EngineError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Unpublish { kind, done: tx })
            .map_err(|_| EngineError::Disconnected)?;
        rx.await.map_err(|_| EngineError::Disconnected)?
    }

    /// Adaptive stream: asks the server for the layer fitting each listed track's size, and
    /// to pause (`enabled: false`) video nobody looks at. Fire and forget: the server applies
    /// settings in order, and tracks not yet subscribed keep theirs until they are.
    pub fn set_track_settings(&self, settings: Vec<TrackSetting>) -> Result<(), EngineError> {
        self.commands
            .send(Command::TrackSettings(settings))
            .map_err(|_| EngineError::Disconnected)
    }

    /// Whether the engine decodes a remote video track (default: yes). An app that renders
    /// [`RoomEvent::EncodedVideoReceived`] itself turns it off to save the decoding; turning it
    /// back on asks for a keyframe.
    pub fn set_video_decoding(&self, track_sid: &str, decode: bool) -> Result<(), EngineError> {
        self.commands
            .send(Command::VideoDecoding {
                track_sid: track_sid.to_owned(),
                decode,
            })
            .map_err(|_| EngineError::Disconnected)
    }

    /// Turns [`RoomOptions::audio_frames`] and [`RoomOptions::local_audio_frames`] on or off
    /// during the session: on-device captions the user switches on in a meeting.
    pub fn set_audio_frames(&self, remote: bool, local: bool) -> Result<(), EngineError> {
        self.commands
            .send(Command::AudioFrames { remote, local })
            .map_err(|_| EngineError::Disconnected)
    }

    /// Asks the sender of a remote video track for a keyframe (PLI), e.g. when an app's own
    /// decoder starts or failed. Unknown tracks are ignored.
    pub fn request_keyframe(&self, track_sid: &str) -> Result<(), EngineError> {
        self.commands
            .send(Command::RequestKeyframe(track_sid.to_owned()))
            .map_err(|_| EngineError::Disconnected)
    }

    /// Publishes `camera` (an id from [`media::list_cameras`]; `None`: the first camera)
    /// instead of the current one, without leaving: the new camera is opened first at the
    /// published size and rate (a missing or busy one is [`EngineError::Device`] and the
    /// current camera goes on), then its frames take the place of the old one's in the same
    /// simulcast layers, starting with keyframes; the old camera is released. A rejoin later
    /// opens the new one.
    pub async fn set_camera(&self, camera: Option<String>) -> Result<(), EngineError> {
        let o = self.switchable(|o| o.video, "camera")?;
        let want = media::VideoFormat {
            width: o.width,
            height: o.height,
            fps: o.fps,
        };
        let id = camera.clone();
        let source = tokio::task::spawn_blocking(move || {
            media::CameraSource::open(id.as_deref(), want)
                .map(|c| Box::new(c) as Box<dyn media::VideoSource>)
        })
        .await
        .map_err(|e| EngineError::Media(e.to_string()))??;
        self.switch(SwitchedDevice::Camera(camera, source)).await
    }

    /// Publishes `microphone` (an id from [`media::list_audio`]; `None`: the system default)
    /// instead of the current one, as [`Room::set_camera`] does; echo cancellation goes on
    /// with the new one.
    pub async fn set_microphone(&self, microphone: Option<String>) -> Result<(), EngineError> {
        self.switchable(|o| o.audio && o.wav.is_none(), "microphone")?;
        let id = microphone.clone();
        let source = tokio::task::spawn_blocking(move || {
            media::MicrophoneSource::open(id.as_deref())
                .map(|m| Box::new(m) as Box<dyn media::AudioSource>)
        })
        .await
        .map_err(|e| EngineError::Media(e.to_string()))??;
        self.switch(SwitchedDevice::Microphone(microphone, source))
            .await
    }

    /// Plays the room on `speaker` (an id from [`media::list_audio`]; `None`: the system
    /// default) from now on; it is opened first, and the old one plays until then. Only in a
    /// room joined with [`RoomOptions::playout`].
    pub async fn set_speaker(&self, speaker: Option<String>) -> Result<(), EngineError> {
        let id = speaker.clone();
        let playout = tokio::task::spawn_blocking(move || {
            media::Playout::open(id.as_deref(), media::JitterConfig::default())
        })
        .await
        .map_err(|e| EngineError::Media(e.to_string()))??;
        self.switch(SwitchedDevice::Speaker(speaker, playout)).await
    }

    /// The publish options, if they publish this kind from a device that can be switched.
    fn switchable(
        &self,
        kind: impl Fn(&PublishOptions) -> bool,
        what: &str,
    ) -> Result<&PublishOptions, EngineError> {
        match &self.publish {
            Some(o) if kind(o) && !o.fake_devices => Ok(o),
            Some(o) if kind(o) => Err(EngineError::Media(format!(
                "the synthetic {what} cannot be switched"
            ))),
            _ => Err(EngineError::Media(format!("no {what} is published"))),
        }
    }

    async fn switch(&self, device: SwitchedDevice) -> Result<(), EngineError> {
        let (done, rx) = oneshot::channel();
        self.commands
            .send(Command::SwitchDevice { device, done })
            .map_err(|_| EngineError::Disconnected)?;
        rx.await.map_err(|_| EngineError::Disconnected)?
    }

    /// Per remote track figures so far (after the session ended: as they were at its end).
    pub async fn track_stats(&self) -> Result<Vec<TrackStats>, EngineError> {
        let ended = || {
            self.final_stats
                .lock()
                .ok()
                .and_then(|s| s.clone())
                .ok_or(EngineError::Disconnected)
        };
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Stats(tx)).is_err() {
            return ended();
        }
        match rx.await {
            Ok(v) => Ok(v),
            Err(_) => ended(),
        }
    }

    /// Leaves cleanly: LeaveRequest, then the peer connections close.
    pub async fn disconnect(self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Disconnect(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
        }
    }
}
