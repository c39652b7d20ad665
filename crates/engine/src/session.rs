//! The session task: one loop owning the signalling socket, both str0m peer connections and
//! their UDP sockets, the local media pipelines and the remote decoders. I/O and time stay in
//! [`Session::run`]; everything else reacts to one input at a time.

#![allow(deprecated)] // LiveKit marks fields deprecated that today's servers still send.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use livekit_protocol as proto;
use livekit_protocol::signal_request::Message as Req;
use livekit_protocol::signal_response::Message as Resp;
use media::{AudioSource, OpusDecoder, OpusEncoder};
use prost::Message as _;
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::{ChannelConfig, ChannelId, Reliability};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use crate::data::{Incoming, StreamAssembler, CHAT_TOPIC};
use crate::encoder::{Control, EncodedVideo, EncoderThread, Layer, VideoWorker};
use crate::reconnect::{Outcome, Reconnector, Step};
use crate::signal::{self, Ws};
use crate::{
    Command, DataKind, EngineError, Percentiles, PublishOptions, RemoteParticipant, RoomEvent,
    RoomOptions, TrackKind, TrackPublication, TrackStats,
};

pub(crate) fn unix_ms() -> u64 {
    unix_us() / 1000
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The server's address, to pick the local interface that faces it.
pub(crate) async fn server_addr(url: &str) -> Result<SocketAddr, EngineError> {
    let u = url::Url::parse(url).map_err(|e| EngineError::InvalidUrl {
        url: url.into(),
        reason: e.to_string(),
    })?;
    let host = u
        .host_str()
        .unwrap_or("localhost")
        .trim_matches(['[', ']'])
        .to_owned();
    let port = u.port_or_known_default().unwrap_or(80);
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| EngineError::Unreachable {
            url: url.into(),
            reason: e.to_string(),
        })?
        .collect();
    found
        .into_iter()
        .next()
        .ok_or_else(|| EngineError::Unreachable {
            url: url.into(),
            reason: "the host name has no address".into(),
        })
}

/// A UDP socket on the local address that routes to `server`.
async fn bind_facing(server: SocketAddr) -> Result<UdpSocket, EngineError> {
    let any: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let probe = UdpSocket::bind(any)
        .await
        .map_err(|e| EngineError::Io(format!("binding a UDP socket: {e}")))?;
    probe
        .connect(server)
        .await
        .map_err(|e| EngineError::Io(format!("no route to {server}: {e}")))?;
    let ip: IpAddr = probe
        .local_addr()
        .map_err(|e| EngineError::Io(e.to_string()))?
        .ip();
    UdpSocket::bind(SocketAddr::new(ip, 0))
        .await
        .map_err(|e| EngineError::Io(format!("binding a UDP socket on {ip}: {e}")))
}

/// One peer connection with its socket.
struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    timeout: Instant,
    pending: Option<SdpPendingOffer>,
    labels: HashMap<ChannelId, String>,
    /// DTLS is up: media can be written (stays set while ICE is down: str0m sends again
    /// once a candidate pair works).
    connected: bool,
    /// Since when ICE has found no working path (consent lost): media is not flowing.
    ice_down_since: Option<Instant>,
    /// When the last datagram arrived. str0m reports ICE down only after its consent checks
    /// timed out (23 s measured); a connected pair hears at least a STUN answer every 3 s,
    /// so a longer silence means the path is gone.
    last_rx: Instant,
}

impl Peer {
    /// `bwe_bps`: enable TWCC bandwidth estimation (publisher with video), starting there.
    async fn new(
        server: SocketAddr,
        now: Instant,
        bwe_bps: Option<u64>,
    ) -> Result<Self, EngineError> {
        let socket = bind_facing(server).await?;
        let local = socket
            .local_addr()
            .map_err(|e| EngineError::Io(e.to_string()))?;
        let mut builder = Rtc::builder().set_stats_interval(Some(Duration::from_secs(1)));
        if let Some(bps) = bwe_bps {
            builder = builder.enable_bwe(Some(Bitrate::bps(bps)));
        }
        let mut rtc = builder.build(now);
        if let Some(bps) = bwe_bps {
            rtc.bwe().set_bitrate(Bitrate::kbps(300), Bitrate::bps(bps));
        }
        let cand = Candidate::host(local, "udp")
            .map_err(|e| EngineError::Io(format!("host candidate {local}: {e}")))?;
        rtc.add_local_candidate(cand);
        Ok(Self {
            rtc,
            socket,
            local,
            timeout: now,
            pending: None,
            labels: HashMap::new(),
            connected: false,
            ice_down_since: None,
            last_rx: now,
        })
    }

    /// Adds the address each STUN server sees us from as a server-reflexive candidate (when
    /// it differs from the host one: a NAT is in between).
    async fn add_server_reflexive(&mut self, stun: &[SocketAddr]) {
        for server in stun.iter().filter(|s| s.is_ipv4() == self.local.is_ipv4()) {
            let Some(mapped) =
                crate::stun::binding(&self.socket, *server, Duration::from_millis(300)).await
            else {
                tracing::debug!(%server, "no STUN answer");
                continue;
            };
            if mapped == self.local {
                continue;
            }
            match Candidate::server_reflexive(mapped, self.local, "udp") {
                Ok(c) => {
                    tracing::debug!(%mapped, "server-reflexive candidate");
                    self.rtc.add_local_candidate(c);
                    return;
                }
                Err(e) => tracing::debug!("server-reflexive candidate {mapped}: {e}"),
            }
        }
    }

    fn input(&mut self, now: Instant, source: SocketAddr, bytes: &[u8]) {
        let Ok(contents) = bytes.try_into() else {
            return;
        };
        self.last_rx = now;
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::debug!("input rejected: {e}");
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pc {
    Publisher,
    Subscriber,
}

/// A track we publish.
struct LocalTrack {
    cid: String,
    kind: MediaKind,
    info: Option<proto::TrackInfo>,
    mid: Option<Mid>,
}

/// A remote track arriving on the subscriber connection.
struct RemoteTrack {
    participant_identity: String,
    track_sid: String,
    kind: TrackKind,
    codec: String,
    video: Option<media::VideoDecoder>,
    audio: Option<OpusDecoder>,
    frames: u64,
    width: u32,
    height: u32,
    last_counter: Option<u32>,
    counter_regressions: u64,
    counter_repeats: u64,
    latencies: VecDeque<f64>,
    samples: u64,
    recent: VecDeque<i16>,
    last_pli: Option<Instant>,
    need_keyframe: bool,
    /// Encoded frames are held back from a gap until the next keyframe.
    encoded_gap: bool,
    /// The simulcast rid the last frame came with, for keyframe requests.
    last_rid: Option<str0m::media::Rid>,
    /// From str0m's ingress statistics (cumulative).
    nacks: u64,
    plis: u64,
    /// Audio: RTP time and length of the last packet decoded, to see lost packets.
    last_audio: Option<(u64, u64)>,
    concealed: u64,
}

impl RemoteTrack {
    fn stats(&self) -> TrackStats {
        let latency_ms = if self.latencies.is_empty() {
            None
        } else {
            let mut v: Vec<f64> = self.latencies.iter().copied().collect();
            v.sort_by(|a, b| a.total_cmp(b));
            let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
            Some(Percentiles {
                p50: at(0.5),
                p95: at(0.95),
            })
        };
        let recent: Vec<i16> = self.recent.iter().copied().collect();
        TrackStats {
            participant: self.participant_identity.clone(),
            track_sid: self.track_sid.clone(),
            kind: self.kind,
            codec: self.codec.clone(),
            frames: self.frames,
            width: self.width,
            height: self.height,
            latency_ms,
            counter_regressions: self.counter_regressions,
            counter_repeats: self.counter_repeats,
            samples: self.samples,
            rms: if recent.is_empty() {
                0.0
            } else {
                media::rms(&recent)
            },
            dominant_hz: if recent.len() >= 4800 {
                media::dominant_hz(&recent, 48_000)
            } else {
                None
            },
            nacks: self.nacks,
            plis: self.plis,
            concealed: self.concealed,
        }
    }
}

/// Lost audio packets in a row made up for by FEC and concealment (100 ms); a longer gap
/// is an outage.
const MAX_CONCEALED_PACKETS: u64 = 5;

/// What the session knows of a layer the encoder thread encodes.
struct LayerInfo {
    rid: Option<&'static str>,
    quality: proto::VideoQuality,
    /// Nominal bitrate, and the one the encoder was last told.
    bitrate: u32,
    current: u32,
    /// Cleared when the server says nobody watches this quality (dynacast).
    enabled: bool,
}

/// The camera track: its encoder thread and the layers it encodes.
struct PublishedVideo {
    thread: EncoderThread,
    layers: Vec<LayerInfo>,
    /// The thread was told to start (once the publisher connection is up).
    started: bool,
}

/// The layers LiveKit clients send for a camera of this size, lowest first.
fn plan_layers(
    width: u32,
    height: u32,
    bitrate: u32,
    simulcast: bool,
) -> Vec<(Option<&'static str>, proto::VideoQuality, u32, u32, u32)> {
    use proto::VideoQuality::{High, Low, Medium};
    let even = |v: u32| (v / 2 * 2).max(16);
    let side = width.max(height);
    if !simulcast || side < 480 {
        return vec![(None, High, width, height, bitrate)];
    }
    if side < 960 {
        return vec![
            (
                Some("q"),
                Low,
                even(width / 2),
                even(height / 2),
                (bitrate / 3).max(100_000),
            ),
            (Some("h"), Medium, width, height, bitrate),
        ];
    }
    vec![
        (
            Some("q"),
            Low,
            even(width / 4),
            even(height / 4),
            (bitrate / 10).max(100_000),
        ),
        (
            Some("h"),
            Medium,
            even(width / 2),
            even(height / 2),
            (bitrate / 3).max(150_000),
        ),
        (Some("f"), High, width, height, bitrate),
    ]
}

/// Our sources: the camera on its encoder thread, the microphone and its encoder here.
struct Publishing {
    opts: PublishOptions,
    video: Option<PublishedVideo>,
    audio: Option<(Box<dyn AudioSource>, OpusEncoder)>,
    /// A device microphone: pulled for whatever it captured, not on a timer.
    audio_live: bool,
    /// Echo cancellation etc. on a device microphone.
    processor: Option<media::AudioProcessor>,
    warned_source: bool,
    next_audio: Instant,
    audio_samples: u64,
    video_muted: bool,
    audio_muted: bool,
}

/// Data waiting for its channel to open: packets, reliable, who to tell.
type QueuedData = (Vec<Vec<u8>>, bool, oneshot::Sender<Result<(), EngineError>>);

pub(crate) struct Session {
    ws: Ws,
    publisher: Peer,
    subscriber: Peer,
    events: mpsc::UnboundedSender<RoomEvent>,
    outbox: Vec<Req>,
    local_sid: String,
    local_identity: String,
    participants: HashMap<String, proto::ParticipantInfo>,
    local_tracks: Vec<LocalTrack>,
    remote: HashMap<Mid, RemoteTrack>,
    publishing: Option<Publishing>,
    publisher_offered: bool,
    reliable: Option<ChannelId>,
    lossy: Option<ChannelId>,
    reliable_open: bool,
    lossy_open: bool,
    queued_data: Vec<QueuedData>,
    assembler: StreamAssembler,
    /// Emit decoded remote audio ([`RoomOptions::audio_frames`]).
    audio_frames: bool,
    /// Emit our microphone's audio ([`RoomOptions::local_audio_frames`]).
    local_audio_frames: bool,
    /// Emit encoded remote video ([`RoomOptions::encoded_video`]).
    encoded_video: bool,
    /// Hand back the camera's pictures ([`RoomOptions::local_video_frames`]).
    self_view: Option<crate::SelfView>,
    /// Remote video tracks not decoded here ([`Room::set_video_decoding`]).
    undecoded: HashSet<String>,
    ping_interval: Duration,
    ping_timeout: Duration,
    next_ping: Instant,
    last_signal: Instant,
    rtt_ms: i64,
    connected_sent: bool,
    ended: Option<String>,
    /// The signalling socket is gone (why): reconnection starts.
    signal_lost: Option<String>,
    /// Media stopped while signalling stayed up: an ICE restart is under way.
    ice_restart: Option<IceRestart>,
    /// The next reconnection skips the resume (an ICE restart did not bring media back).
    force_rejoin: bool,
    /// Kinds we unpublished: not published again by a rejoin.
    unpublished: Vec<MediaKind>,
    /// A publisher renegotiation waits for the answer to the offer in flight.
    renegotiate: bool,
    /// Unpublished tracks' m-lines, to offer as inactive.
    deactivate: Vec<Mid>,
    /// Remote track figures from sessions before a rejoin, merged into [`Self::stats`].
    past_stats: Vec<TrackStats>,
    final_stats: crate::FinalStats,
    /// Remote audio to the speaker ([`RoomOptions::playout`]).
    playout: Option<media::Playout>,
    /// The speaker asked for (switched with [`crate::Room::set_speaker`]), for a rejoin.
    playout_options: Option<crate::PlayoutOptions>,
    /// What to publish again (options, video muted, audio muted) once a rejoin released
    /// this session's devices.
    rejoin_publish: Option<(PublishOptions, bool, bool)>,
}

/// An ICE restart under way (LiveKit's way: resume the signalling with the reason, the
/// server restarts ICE on the subscriber connection, we restart it on the publisher).
struct IceRestart {
    since: Instant,
    reason: proto::ReconnectReason,
    /// The signalling resume is done; waiting for ICE to connect again.
    resumed: bool,
}

/// How long a peer connection's ICE may stay disconnected before its ICE is restarted
/// (str0m reports Disconnected after its consent checks went unanswered for a while).
const ICE_GRACE: Duration = Duration::from_secs(1);
/// A connected peer connection that received nothing for this long lost its path.
const MEDIA_SILENCE: Duration = Duration::from_secs(6);
/// After this long without media despite the restart, join again.
const ICE_RESTART_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the session came from, to resume it or join again.
pub(crate) struct Origin {
    pub target: signal::Target,
    pub token: String,
    pub server: SocketAddr,
    pub options: RoomOptions,
}

/// A reconnection attempt under way: was it a resume, and how it went.
type Attempt = std::pin::Pin<
    Box<dyn std::future::Future<Output = (bool, Result<(Ws, signal::Joined), EngineError>)> + Send>,
>;

impl Session {
    pub(crate) async fn new(
        ws: Ws,
        join: proto::JoinResponse,
        server: SocketAddr,
        options: RoomOptions,
        events: mpsc::UnboundedSender<RoomEvent>,
        final_stats: crate::FinalStats,
    ) -> Result<Self, EngineError> {
        let now = Instant::now();
        // Bandwidth estimation drives the video encoders' bitrates; it starts at the sum of
        // the layers' nominal bitrates (and can only lower them).
        let bwe = options
            .publish
            .as_ref()
            .filter(|o| o.video && o.follow_bandwidth_estimate)
            .map(|o| {
                plan_layers(o.width, o.height, o.video_bitrate_bps, o.simulcast)
                    .iter()
                    .map(|l| u64::from(l.4))
                    .sum::<u64>()
                    + 64_000
            });
        let mut publisher = Peer::new(server, now, bwe).await?;
        let mut subscriber = Peer::new(server, now, None).await?;
        let stun = crate::stun::servers(&join.ice_servers).await;
        if !stun.is_empty() {
            tokio::join!(
                publisher.add_server_reflexive(&stun),
                subscriber.add_server_reflexive(&stun)
            );
        }
        let info = join.participant.clone().unwrap_or_default();
        let ping_interval = Duration::from_secs(join.ping_interval.clamp(1, 60) as u64);
        let ping_timeout = Duration::from_secs(join.ping_timeout.clamp(2, 120) as u64);
        let mut s = Self {
            ws,
            publisher,
            subscriber,
            events,
            outbox: vec![],
            local_sid: info.sid.clone(),
            local_identity: info.identity.clone(),
            participants: HashMap::new(),
            local_tracks: vec![],
            remote: HashMap::new(),
            publishing: None,
            publisher_offered: false,
            reliable: None,
            lossy: None,
            reliable_open: false,
            lossy_open: false,
            queued_data: vec![],
            assembler: StreamAssembler::default(),
            audio_frames: options.audio_frames,
            local_audio_frames: options.local_audio_frames,
            encoded_video: options.encoded_video,
            self_view: options.local_video_frames,
            undecoded: HashSet::new(),
            ping_interval,
            ping_timeout,
            next_ping: now,
            last_signal: now,
            rtt_ms: 0,
            connected_sent: false,
            ended: None,
            signal_lost: None,
            ice_restart: None,
            force_rejoin: false,
            unpublished: vec![],
            renegotiate: false,
            deactivate: vec![],
            past_stats: vec![],
            final_stats,
            playout: None,
            playout_options: options.playout.clone(),
            rejoin_publish: None,
        };
        for p in &join.other_participants {
            s.participant_update(p.clone());
        }
        if let Some(opts) = options.publish.filter(|o| o.video || o.audio) {
            s.start_publishing(opts, now)?;
        } else {
            s.offer_publisher();
        }
        if let Some(po) = &options.playout {
            match crate::devices::open_playout(po) {
                Ok(p) => {
                    // The speaker's mix is what the microphone's echo canceller removes.
                    let far = s.publishing.as_ref().and_then(|p| p.processor.as_ref());
                    p.set_far_end(far.map(|ap| ap.far_end()));
                    s.playout = Some(p);
                }
                Err(reason) => s.emit(RoomEvent::DeviceUnavailable {
                    kind: crate::DeviceUse::Speaker,
                    reason,
                }),
            }
        }
        Ok(s)
    }

    fn emit(&self, e: RoomEvent) {
        let _ = self.events.send(e);
    }

    fn start_publishing(&mut self, opts: PublishOptions, now: Instant) -> Result<(), EngineError> {
        let sources = crate::devices::open_sources(&opts);
        for (kind, reason) in sources.unavailable {
            self.emit(RoomEvent::DeviceUnavailable { kind, reason });
        }
        let codec = crate::devices::codec_kind(opts.video_codec);
        let video = if let Some(src) = sources.video {
            let f = src.format();
            let mut layers = vec![];
            for (rid, quality, width, height, bitrate) in
                plan_layers(f.width, f.height, opts.video_bitrate_bps, opts.simulcast)
            {
                let fps = crate::encoder::layer_fps(rid, f.fps);
                let encoder = media::VideoEncoder::new(codec, width, height, bitrate, fps)
                    .map_err(EngineError::Media)?;
                layers.push(Layer::new(
                    rid, quality, width, height, bitrate, fps, encoder,
                ));
            }
            let cid = format!("TR_visio_video_{:08x}", rand::random::<u32>());
            self.outbox.push(Req::AddTrack(proto::AddTrackRequest {
                cid: cid.clone(),
                name: "camera".into(),
                // The codec we send, as LiveKit clients announce it: the server answers our
                // offer with it alone and tells subscribers the track's mime type.
                simulcast_codecs: vec![proto::SimulcastCodec {
                    codec: codec.name().into(),
                    cid: cid.clone(),
                    ..Default::default()
                }],
                r#type: proto::TrackType::Video as i32,
                source: proto::TrackSource::Camera as i32,
                width: f.width,
                height: f.height,
                // Highest first, as LiveKit clients list them.
                layers: layers
                    .iter()
                    .rev()
                    .map(|l| proto::VideoLayer {
                        quality: l.quality as i32,
                        width: l.width,
                        height: l.height,
                        bitrate: l.bitrate,
                        rid: l.rid.unwrap_or_default().into(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }));
            self.local_tracks.push(LocalTrack {
                cid,
                kind: MediaKind::Video,
                info: None,
                mid: None,
            });
            let info = layers
                .iter()
                .map(|l| LayerInfo {
                    rid: l.rid,
                    quality: l.quality,
                    bitrate: l.bitrate,
                    current: l.bitrate,
                    enabled: true,
                })
                .collect();
            let worker = VideoWorker::new(src, layers, now).with_self_view(self.self_view);
            let thread = EncoderThread::spawn(worker)
                .map_err(|e| EngineError::Media(format!("video encoder thread: {e}")))?;
            Some(PublishedVideo {
                thread,
                layers: info,
                started: false,
            })
        } else {
            None
        };
        let audio = if let Some(src) = sources.audio {
            let enc = OpusEncoder::new(media::OpusConfig::default())
                .map_err(|e| EngineError::Media(e.to_string()))?;
            let cid = format!("TR_visio_audio_{:08x}", rand::random::<u32>());
            self.outbox.push(Req::AddTrack(proto::AddTrackRequest {
                cid: cid.clone(),
                name: "microphone".into(),
                r#type: proto::TrackType::Audio as i32,
                source: proto::TrackSource::Microphone as i32,
                ..Default::default()
            }));
            self.local_tracks.push(LocalTrack {
                cid,
                kind: MediaKind::Audio,
                info: None,
                mid: None,
            });
            Some((src, enc))
        } else {
            None
        };
        self.publishing = Some(Publishing {
            opts,
            video,
            audio,
            audio_live: sources.audio_live,
            processor: sources.processor,
            warned_source: false,
            next_audio: now,
            audio_samples: 0,
            video_muted: false,
            audio_muted: false,
        });
        Ok(())
    }

    /// The publisher offer: data channels, plus our media once every track is accepted.
    fn offer_publisher(&mut self) {
        if self.publisher_offered || self.local_tracks.iter().any(|t| t.info.is_none()) {
            return;
        }
        self.publisher_offered = true;
        let mut api = self.publisher.rtc.sdp_api();
        self.reliable = Some(api.add_channel_with_config(ChannelConfig {
            label: "_reliable".into(),
            ordered: true,
            reliability: Reliability::Reliable,
            ..Default::default()
        }));
        self.lossy = Some(api.add_channel_with_config(ChannelConfig {
            label: "_lossy".into(),
            ordered: false,
            reliability: Reliability::MaxRetransmits { retransmits: 0 },
            ..Default::default()
        }));
        let rids: Vec<&'static str> = self
            .publishing
            .as_ref()
            .and_then(|p| p.video.as_ref())
            .map(|v| v.layers.iter().filter_map(|l| l.rid).collect())
            .unwrap_or_default();
        for t in &mut self.local_tracks {
            let simulcast = (t.kind == MediaKind::Video && rids.len() > 1).then(|| {
                let mut s = str0m::media::Simulcast::new();
                for r in &rids {
                    s.add_send_layer(str0m::media::SimulcastLayer::new(r));
                }
                s
            });
            let mid = api.add_media(
                t.kind,
                Direction::SendOnly,
                Some(self.local_sid.clone()),
                Some(t.cid.clone()),
                simulcast,
            );
            t.mid = Some(mid);
        }
        if let Some((offer, pending)) = api.apply() {
            self.publisher.pending = Some(pending);
            self.outbox.push(Req::Offer(proto::SessionDescription {
                r#type: "offer".into(),
                sdp: offer.to_sdp_string(),
                ..Default::default()
            }));
        }
    }

    // ---- signalling ----------------------------------------------------------------------

    fn signal(&mut self, msg: Resp) {
        match msg {
            Resp::Offer(sd) => {
                let answer = SdpOffer::from_sdp_string(&sd.sdp)
                    .map_err(|e| e.to_string())
                    .and_then(|o| {
                        self.subscriber
                            .rtc
                            .sdp_api()
                            .accept_offer(o)
                            .map_err(|e| e.to_string())
                    });
                match answer {
                    Ok(a) => self.outbox.push(Req::Answer(proto::SessionDescription {
                        r#type: "answer".into(),
                        sdp: a.to_sdp_string(),
                        id: sd.id,
                        ..Default::default()
                    })),
                    Err(e) => tracing::warn!("cannot answer the subscriber offer: {e}"),
                }
            }
            Resp::Answer(sd) => {
                let Some(pending) = self.publisher.pending.take() else {
                    tracing::debug!("publisher answer without an offer");
                    return;
                };
                let res = SdpAnswer::from_sdp_string(&sd.sdp)
                    .map_err(|e| e.to_string())
                    .and_then(|a| {
                        self.publisher
                            .rtc
                            .sdp_api()
                            .accept_answer(pending, a)
                            .map_err(|e| e.to_string())
                    });
                if let Err(e) = res {
                    tracing::warn!("bad publisher answer: {e}");
                }
                if std::mem::take(&mut self.renegotiate) {
                    self.renegotiate_publisher();
                }
            }
            Resp::Trickle(t) => {
                // The room server (and LiveKit) put their candidates in the SDP as well.
                tracing::trace!(candidate = %t.candidate_init, "trickle ignored");
            }
            Resp::Update(u) => {
                for p in u.participants {
                    self.participant_update(p);
                }
            }
            Resp::TrackPublished(tp) => {
                let Some(info) = tp.track else {
                    return;
                };
                if let Some(t) = self.local_tracks.iter_mut().find(|t| t.cid == tp.cid) {
                    t.info = Some(info.clone());
                    self.emit(RoomEvent::LocalTrackPublished(TrackPublication::from_info(
                        &info,
                    )));
                }
                self.offer_publisher();
            }
            Resp::SpeakersChanged(s) => {
                let list = s
                    .speakers
                    .iter()
                    .filter(|sp| sp.active)
                    .map(|sp| (self.identity_of(&sp.sid), sp.level))
                    .collect();
                self.emit(RoomEvent::ActiveSpeakersChanged(list));
            }
            Resp::ConnectionQuality(q) => {
                for u in q.updates {
                    let quality = proto::ConnectionQuality::try_from(u.quality)
                        .map(|q| q.as_str_name().to_owned())
                        .unwrap_or_default();
                    self.emit(RoomEvent::ConnectionQualityChanged {
                        participant_identity: self.identity_of(&u.participant_sid),
                        quality,
                    });
                }
            }
            Resp::Leave(l)
                if l.action == proto::leave_request::Action::Resume as i32
                    || l.action == proto::leave_request::Action::Reconnect as i32 =>
            {
                self.signal_lost = Some(format!(
                    "the server asked us to reconnect ({})",
                    signal::reason_name(l.reason)
                ));
            }
            Resp::Leave(l) => {
                self.ended = Some(format!(
                    "the server asked us to leave ({})",
                    signal::reason_name(l.reason)
                ));
            }
            Resp::PongResp(p) => {
                self.rtt_ms = unix_ms() as i64 - p.last_ping_timestamp;
            }
            Resp::SubscribedQualityUpdate(u) => self.subscribed_qualities(u),
            Resp::Mute(m) => tracing::debug!(?m, "server mute request (local mute not wired)"),
            Resp::TrackUnpublished(u) => {
                self.emit(RoomEvent::LocalTrackUnpublished {
                    track_sid: u.track_sid,
                });
            }
            _ => {}
        }
    }

    /// Shares the estimated bandwidth among the video layers, lowest first (audio keeps its
    /// 32 kb/s), never above each layer's nominal bitrate nor below 50 kb/s.
    fn follow_estimate(&mut self, estimate_bps: u64) {
        let Some(v) = self.publishing.as_mut().and_then(|p| p.video.as_mut()) else {
            return;
        };
        let mut left = estimate_bps.saturating_sub(40_000) * 9 / 10;
        for l in v.layers.iter_mut() {
            let nominal = u64::from(l.bitrate);
            let rate = nominal.min(left).max(50_000);
            left = left.saturating_sub(rate);
            let current = u64::from(l.current);
            if current.abs_diff(rate) * 10 > current {
                tracing::debug!(rid = ?l.rid, from = current, to = rate, "encoder bitrate follows the estimate");
                l.current = rate as u32;
                v.thread
                    .send(Control::Bitrate(l.rid.map(str::to_owned), rate as u32));
            }
        }
    }

    fn set_muted(&mut self, kind: TrackKind, muted: bool) -> Result<(), EngineError> {
        let mk = match kind {
            TrackKind::Video => MediaKind::Video,
            TrackKind::Audio => MediaKind::Audio,
        };
        let sid = self
            .local_tracks
            .iter()
            .find(|t| t.kind == mk)
            .and_then(|t| t.info.as_ref())
            .map(|i| i.sid.clone())
            .ok_or_else(|| EngineError::Media(format!("no published {kind:?} track")))?;
        if let Some(p) = &mut self.publishing {
            match kind {
                TrackKind::Video => {
                    p.video_muted = muted;
                    if let Some(v) = &p.video {
                        v.thread.send(Control::Mute(muted));
                    }
                }
                TrackKind::Audio => p.audio_muted = muted,
            }
        }
        self.outbox
            .push(Req::Mute(proto::MuteTrackRequest { sid, muted }));
        Ok(())
    }

    /// Uses a device [`crate::Room::set_camera`] and co. opened in place of the current one
    /// (which is dropped, so released); remembered for a rejoin.
    fn switch_device(&mut self, device: crate::SwitchedDevice) -> Result<(), EngineError> {
        use crate::SwitchedDevice as D;
        match device {
            D::Camera(id, source) => {
                let Some(p) = self.publishing.as_mut().filter(|p| p.video.is_some()) else {
                    return Err(EngineError::Media("no camera is published".into()));
                };
                if let Some(v) = &p.video {
                    v.thread.send(Control::Source(source));
                }
                p.opts.camera = id;
            }
            D::Microphone(id, source) => {
                let Some(p) = self.publishing.as_mut().filter(|p| p.audio.is_some()) else {
                    return Err(EngineError::Media("no microphone is published".into()));
                };
                if let Some((src, _)) = &mut p.audio {
                    *src = source;
                }
                p.audio_live = true;
                p.warned_source = false;
                p.opts.microphone = id;
                if p.processor.is_none() && p.opts.audio_processing {
                    p.processor = media::AudioProcessor::new(media::ProcessingConfig::default())
                        .inspect_err(|e| tracing::warn!("no echo cancellation: {e}"))
                        .ok();
                    if let (Some(ap), Some(out)) = (&p.processor, &self.playout) {
                        out.set_far_end(Some(ap.far_end()));
                    }
                }
            }
            D::Speaker(id, playout) => {
                if self.playout_options.is_none() {
                    return Err(EngineError::Media("this room plays no audio".into()));
                }
                let far = self.publishing.as_ref().and_then(|p| p.processor.as_ref());
                playout.set_far_end(far.map(|ap| ap.far_end()));
                self.playout = Some(playout);
                self.playout_options = Some(crate::PlayoutOptions { device: id });
            }
        }
        Ok(())
    }

    /// Unpublishes our track of this kind: source released, m-line renegotiated inactive.
    fn unpublish(&mut self, kind: TrackKind) -> Result<(), EngineError> {
        let mk = match kind {
            TrackKind::Video => MediaKind::Video,
            TrackKind::Audio => MediaKind::Audio,
        };
        let idx = self
            .local_tracks
            .iter()
            .position(|t| t.kind == mk && t.mid.is_some())
            .ok_or_else(|| EngineError::Media(format!("no published {kind:?} track")))?;
        let t = self.local_tracks.remove(idx);
        self.deactivate.extend(t.mid);
        if let Some(p) = &mut self.publishing {
            match kind {
                TrackKind::Video => p.video = None,
                TrackKind::Audio => {
                    p.audio = None;
                    p.processor = None;
                }
            }
        }
        self.unpublished.push(mk);
        if self.publisher.pending.is_some() {
            self.renegotiate = true;
        } else {
            self.renegotiate_publisher();
        }
        Ok(())
    }

    /// Offers the publisher connection again: unpublished tracks' m-lines become inactive.
    fn renegotiate_publisher(&mut self) {
        let mids = std::mem::take(&mut self.deactivate);
        if mids.is_empty() {
            return;
        }
        let mut api = self.publisher.rtc.sdp_api();
        for mid in mids {
            api.set_direction(mid, Direction::Inactive);
        }
        if let Some((offer, pending)) = api.apply() {
            self.publisher.pending = Some(pending);
            self.outbox.push(Req::Offer(proto::SessionDescription {
                r#type: "offer".into(),
                sdp: offer.to_sdp_string(),
                ..Default::default()
            }));
        }
    }

    /// Dynacast: stop encoding layers nobody watches, restart (with a keyframe) the others.
    fn subscribed_qualities(&mut self, u: proto::SubscribedQualityUpdate) {
        let ours = self.local_tracks.iter().any(|t| {
            t.info.as_ref().is_some_and(|i| i.sid == u.track_sid) && t.kind == MediaKind::Video
        });
        let Some(v) = self.publishing.as_mut().and_then(|p| p.video.as_mut()) else {
            return;
        };
        if !ours || v.layers.len() < 2 {
            return;
        }
        let qualities = u
            .subscribed_codecs
            .iter()
            .find(|c| c.codec.eq_ignore_ascii_case("vp8"))
            .map(|c| c.qualities.clone())
            .unwrap_or(u.subscribed_qualities);
        for q in qualities {
            if let Some(l) = v.layers.iter_mut().find(|l| l.quality as i32 == q.quality) {
                if q.enabled != l.enabled {
                    v.thread.send(Control::Layer(l.quality, q.enabled));
                }
                l.enabled = q.enabled;
            }
        }
        tracing::debug!(enabled = ?v.layers.iter().map(|l| l.enabled).collect::<Vec<_>>(), "dynacast");
    }

    fn identity_of(&self, sid: &str) -> String {
        if sid == self.local_sid {
            return self.local_identity.clone();
        }
        self.participants
            .get(sid)
            .map(|p| p.identity.clone())
            .unwrap_or_else(|| sid.to_owned())
    }

    fn participant_update(&mut self, p: proto::ParticipantInfo) {
        if p.sid == self.local_sid || p.identity == self.local_identity {
            return;
        }
        let gone = p.state == proto::participant_info::State::Disconnected as i32;
        let old = self.participants.remove(&p.sid);
        if gone {
            if let Some(old) = old {
                for t in &old.tracks {
                    self.emit(RoomEvent::TrackUnpublished {
                        participant_identity: old.identity.clone(),
                        publication: TrackPublication::from_info(t),
                    });
                }
                self.emit(RoomEvent::ParticipantDisconnected(
                    RemoteParticipant::from_info(&old),
                ));
            }
            return;
        }
        match &old {
            None => {
                // Same identity, new session: the old one is gone.
                let replaced: Vec<String> = self
                    .participants
                    .values()
                    .filter(|o| o.identity == p.identity)
                    .map(|o| o.sid.clone())
                    .collect();
                for sid in replaced {
                    if let Some(o) = self.participants.remove(&sid) {
                        self.emit(RoomEvent::ParticipantDisconnected(
                            RemoteParticipant::from_info(&o),
                        ));
                    }
                }
                self.emit(RoomEvent::ParticipantConnected(
                    RemoteParticipant::from_info(&p),
                ));
                for t in &p.tracks {
                    self.emit(RoomEvent::TrackPublished {
                        participant_identity: p.identity.clone(),
                        publication: TrackPublication::from_info(t),
                    });
                }
            }
            Some(old) => {
                for t in &p.tracks {
                    match old.tracks.iter().find(|o| o.sid == t.sid) {
                        None => self.emit(RoomEvent::TrackPublished {
                            participant_identity: p.identity.clone(),
                            publication: TrackPublication::from_info(t),
                        }),
                        Some(o) if o.muted != t.muted => {
                            let (participant_identity, track_sid) =
                                (p.identity.clone(), t.sid.clone());
                            self.emit(if t.muted {
                                RoomEvent::TrackMuted {
                                    participant_identity,
                                    track_sid,
                                }
                            } else {
                                RoomEvent::TrackUnmuted {
                                    participant_identity,
                                    track_sid,
                                }
                            })
                        }
                        Some(_) => {}
                    }
                }
                for o in &old.tracks {
                    if !p.tracks.iter().any(|t| t.sid == o.sid) {
                        self.emit(RoomEvent::TrackUnpublished {
                            participant_identity: p.identity.clone(),
                            publication: TrackPublication::from_info(o),
                        });
                    }
                }
                if old.metadata != p.metadata
                    || old.name != p.name
                    || old.attributes != p.attributes
                {
                    self.emit(RoomEvent::ParticipantMetadataChanged(
                        RemoteParticipant::from_info(&p),
                    ));
                }
            }
        }
        self.participants.insert(p.sid.clone(), p);
    }

    // ---- peer connections ----------------------------------------------------------------

    fn peer(&mut self, pc: Pc) -> &mut Peer {
        match pc {
            Pc::Publisher => &mut self.publisher,
            Pc::Subscriber => &mut self.subscriber,
        }
    }

    /// Polls one peer connection until it only has a timeout to give.
    fn poll(&mut self, pc: Pc) {
        loop {
            let out = match self.peer(pc).rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(?pc, "peer connection failed: {e}");
                    self.ended = Some(format!("{pc:?} peer connection failed: {e}"));
                    return;
                }
            };
            match out {
                Output::Timeout(t) => {
                    self.peer(pc).timeout = t;
                    return;
                }
                Output::Transmit(t) => {
                    let _ = self.peer(pc).socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(ev) => self.rtc_event(pc, ev),
            }
        }
    }

    fn rtc_event(&mut self, pc: Pc, ev: Event) {
        match ev {
            Event::Connected => {
                self.peer(pc).connected = true;
                let need_pub = self.publisher_offered;
                if !self.connected_sent
                    && self.subscriber.connected
                    && (!need_pub || self.publisher.connected)
                {
                    self.connected_sent = true;
                    self.emit(RoomEvent::Connected);
                }
            }
            Event::IceConnectionStateChange(s) => {
                tracing::debug!(?pc, ?s, "ICE state");
                use str0m::IceConnectionState as Ice;
                match s {
                    Ice::Disconnected => {
                        self.peer(pc)
                            .ice_down_since
                            .get_or_insert_with(Instant::now);
                    }
                    Ice::Connected | Ice::Completed => {
                        self.peer(pc).ice_down_since = None;
                        self.media_back();
                    }
                    _ => {}
                }
            }
            Event::MediaAdded(m) if pc == Pc::Subscriber => self.remote_added(m.mid, m.kind),
            Event::MediaIngressStats(st) if pc == Pc::Subscriber => {
                if let Some(t) = self.remote.get_mut(&st.mid) {
                    t.nacks = t.nacks.max(st.nacks);
                    t.plis = t.plis.max(st.plis);
                }
            }
            Event::MediaData(d) if pc == Pc::Subscriber => self.remote_media(d),
            Event::KeyframeRequest(r) if pc == Pc::Publisher => {
                if let Some(v) = self.publishing.as_ref().and_then(|p| p.video.as_ref()) {
                    tracing::debug!(kind = ?r.kind, rid = ?r.rid, "keyframe requested");
                    let rid = r.rid.as_deref().map(str::to_owned);
                    v.thread.send(Control::Keyframe(rid));
                }
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) if pc == Pc::Publisher => {
                self.follow_estimate(estimate.as_u64());
            }
            Event::ChannelOpen(id, label) => {
                if pc == Pc::Publisher {
                    if Some(id) == self.reliable {
                        self.reliable_open = true;
                    }
                    if Some(id) == self.lossy {
                        self.lossy_open = true;
                    }
                }
                self.peer(pc).labels.insert(id, label);
                self.flush_data();
            }
            Event::ChannelClose(id) if pc == Pc::Publisher => {
                if Some(id) == self.reliable {
                    self.reliable_open = false;
                }
                if Some(id) == self.lossy {
                    self.lossy_open = false;
                }
            }
            Event::ChannelData(cd) => {
                let kind = match self.peer(pc).labels.get(&cd.id).map(String::as_str) {
                    Some("_lossy") => DataKind::Lossy,
                    _ => DataKind::Reliable,
                };
                match self.assembler.push(&cd.data) {
                    Some(Incoming::User {
                        from_identity,
                        topic,
                        payload,
                    }) => self.emit(RoomEvent::DataReceived {
                        participant_identity: from_identity,
                        topic,
                        payload,
                        kind,
                    }),
                    Some(Incoming::Text {
                        from_identity,
                        topic,
                        text,
                        attributes,
                        stream_id,
                        ..
                    }) if topic == crate::TRANSCRIPTION_TOPIC => {
                        let c = crate::captions::from_text_stream(
                            &from_identity,
                            &text,
                            &attributes,
                            &stream_id,
                            |track| self.owner_of_track(track),
                        );
                        self.emit(RoomEvent::Caption(c));
                    }
                    Some(Incoming::Transcription {
                        from_identity,
                        transcription,
                    }) => {
                        for c in crate::captions::from_legacy(&transcription, &from_identity) {
                            self.emit(RoomEvent::Caption(c));
                        }
                    }
                    Some(Incoming::Text {
                        from_identity,
                        topic,
                        text,
                        ..
                    }) => self.emit(if topic == CHAT_TOPIC {
                        RoomEvent::ChatMessage {
                            participant_identity: from_identity,
                            text,
                        }
                    } else {
                        RoomEvent::TextStreamReceived {
                            participant_identity: from_identity,
                            topic,
                            text,
                        }
                    }),
                    None => {}
                }
            }
            _ => {}
        }
    }

    /// The identity of the participant publishing this track, if known.
    fn owner_of_track(&self, track_sid: &str) -> Option<String> {
        self.participants
            .values()
            .find(|p| p.tracks.iter().any(|t| t.sid == track_sid))
            .map(|p| p.identity.clone())
            .or_else(|| {
                self.local_tracks
                    .iter()
                    .any(|t| t.info.as_ref().is_some_and(|i| i.sid == track_sid))
                    .then(|| self.local_identity.clone())
            })
    }

    fn remote_added(&mut self, mid: Mid, kind: MediaKind) {
        let Some(m) = self.subscriber.rtc.media(mid) else {
            return;
        };
        if !m.direction().is_receiving() {
            return;
        }
        // LiveKit names a subscribed track with the msid stream id "PA_xxx|TR_yyy".
        let stream = m.stream_id().to_owned();
        let mut parts = stream.split('|');
        let (Some(pa), Some(tr), None) = (parts.next(), parts.next(), parts.next()) else {
            tracing::debug!(%stream, "remote media without a LiveKit stream id");
            return;
        };
        let track_sid = if tr.starts_with("TR") {
            tr.to_owned()
        } else {
            m.track_id().to_owned()
        };
        let participant = self.participants.get(pa);
        let identity = participant
            .map(|p| p.identity.clone())
            .unwrap_or_else(|| pa.to_owned());
        let info = participant
            .and_then(|p| p.tracks.iter().find(|t| t.sid == track_sid))
            .cloned()
            .unwrap_or_else(|| proto::TrackInfo {
                sid: track_sid.clone(),
                r#type: if kind == MediaKind::Video {
                    proto::TrackType::Video as i32
                } else {
                    proto::TrackType::Audio as i32
                },
                ..Default::default()
            });
        self.remote.insert(
            mid,
            RemoteTrack {
                participant_identity: identity.clone(),
                track_sid,
                kind: if kind == MediaKind::Video {
                    TrackKind::Video
                } else {
                    TrackKind::Audio
                },
                codec: String::new(),
                video: None,
                audio: None,
                frames: 0,
                width: 0,
                height: 0,
                last_counter: None,
                counter_regressions: 0,
                counter_repeats: 0,
                latencies: VecDeque::new(),
                samples: 0,
                recent: VecDeque::new(),
                last_pli: None,
                need_keyframe: false,
                encoded_gap: true,
                last_rid: None,
                nacks: 0,
                plis: 0,
                last_audio: None,
                concealed: 0,
            },
        );
        self.emit(RoomEvent::TrackSubscribed {
            participant_identity: identity,
            publication: TrackPublication::from_info(&info),
        });
    }

    fn remote_media(&mut self, d: str0m::media::MediaData) {
        let mid = d.mid;
        let codec = d.params.spec().codec;
        let mut want_pli = false;
        let mut event = None;
        let mut encoded = None;
        let mut gap = false;
        if let Some(t) = self.remote.get_mut(&mid) {
            match codec {
                Codec::Vp8 | Codec::Vp9 | Codec::H264 => {
                    let vc = match codec {
                        Codec::Vp8 => media::VideoCodecKind::Vp8,
                        Codec::Vp9 => media::VideoCodecKind::Vp9,
                        _ => media::VideoCodecKind::H264,
                    };
                    let decode = !self.undecoded.contains(&t.track_sid);
                    t.last_rid = d.rid;
                    if self.encoded_video {
                        let keyframe = d.is_keyframe();
                        if !d.contiguous {
                            t.encoded_gap = true;
                        }
                        if keyframe {
                            t.encoded_gap = false;
                        }
                        if t.encoded_gap {
                            gap = true;
                        } else {
                            encoded =
                                Some(RoomEvent::EncodedVideoReceived(crate::EncodedVideoFrame {
                                    participant_identity: t.participant_identity.clone(),
                                    track_sid: t.track_sid.clone(),
                                    codec: vc,
                                    keyframe,
                                    rtp_time: d.time.numer(),
                                    data: d.data.clone(),
                                }));
                        }
                    }
                    if !decode {
                        t.video = None;
                        t.codec = vc.name().into();
                        t.need_keyframe = false;
                    } else if t.video.as_ref().map(|v| v.kind()) != Some(vc) {
                        t.video = media::VideoDecoder::new(vc).ok();
                        t.codec = vc.name().into();
                    }
                    // After a frame lost for good, the frames that follow reference a
                    // picture we never got: libvpx decodes them without an error into a
                    // corrupt picture. They are skipped until the keyframe asked for below.
                    if !d.contiguous && decode {
                        t.need_keyframe = true;
                    }
                    if d.is_keyframe() {
                        t.need_keyframe = false;
                    }
                    let decoded = match &mut t.video {
                        Some(dec) if decode && !t.need_keyframe => dec.decode(&d.data, unix_us()),
                        _ => Ok(None),
                    };
                    match decoded {
                        Ok(Some(frame)) => {
                            t.frames += 1;
                            t.width = frame.width();
                            t.height = frame.height();
                            // A capture time more than an hour away from now is a misread
                            // that passed the code's CRC: ignore it.
                            let now_ms = unix_ms();
                            let embedded = media::read_embedded(&frame)
                                .filter(|(_, ts)| now_ms.abs_diff(*ts) < 3_600_000);
                            if let Some((counter, ts_ms)) = embedded {
                                match t.last_counter {
                                    Some(c) if counter < c => t.counter_regressions += 1,
                                    Some(c) if counter == c => t.counter_repeats += 1,
                                    _ => {}
                                }
                                t.last_counter = Some(counter);
                                let lat = now_ms as f64 - ts_ms as f64;
                                if t.latencies.len() >= 10_000 {
                                    t.latencies.pop_front();
                                }
                                t.latencies.push_back(lat);
                            }
                            event = Some(RoomEvent::VideoFrameReceived {
                                participant_identity: t.participant_identity.clone(),
                                track_sid: t.track_sid.clone(),
                                width: t.width,
                                height: t.height,
                                embedded,
                                frame: Arc::new(frame),
                            });
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::debug!(track = %t.track_sid, "decode failed: {e}");
                            t.need_keyframe = true;
                        }
                    }
                    let now = Instant::now();
                    if (t.need_keyframe || gap)
                        && t.last_pli
                            .is_none_or(|at| now.duration_since(at) > Duration::from_millis(300))
                    {
                        t.last_pli = Some(now);
                        want_pli = true;
                    }
                }
                Codec::Opus => {
                    if let Some(p) = &self.playout {
                        p.push(&t.track_sid, **d.seq_range.start(), d.data.to_vec());
                    }
                    if t.audio.is_none() {
                        t.audio = OpusDecoder::new().ok();
                        t.codec = "opus".into();
                    }
                    let Some(dec) = &mut t.audio else { return };
                    // Audio is not retransmitted: a lost packet is rebuilt from the FEC the
                    // next one carries, and concealed before that, as the playout's jitter
                    // buffer does, so the decoded stream stays continuous. A longer gap is an
                    // outage, not loss (or DTX silence): nothing is made up for it. Lost
                    // packets show in the RTP time, not the sequence numbers: the server
                    // numbers its packets anew, so a loss before it leaves no gap in them.
                    let time = d.time.rebase(Frequency::FORTY_EIGHT_KHZ).numer();
                    let lost = match t.last_audio {
                        Some((prev, len)) if time > prev && len > 0 => {
                            ((time - prev) / len).saturating_sub(1)
                        }
                        _ => 0,
                    };
                    let mut pcm = vec![];
                    if (1..=MAX_CONCEALED_PACKETS).contains(&lost) {
                        for _ in 1..lost {
                            pcm.extend(dec.conceal().unwrap_or_default());
                        }
                        pcm.extend(dec.recover(&d.data).unwrap_or_default());
                        t.concealed += lost;
                    }
                    if let Ok(decoded) = dec.decode(&d.data) {
                        t.last_audio = Some((time, decoded.len() as u64));
                        pcm.extend(decoded);
                    }
                    if !pcm.is_empty() {
                        t.samples += pcm.len() as u64;
                        if self.audio_frames {
                            event = Some(RoomEvent::AudioFrameReceived {
                                participant_identity: t.participant_identity.clone(),
                                track_sid: t.track_sid.clone(),
                                sample_rate: 48_000,
                                samples: pcm.as_slice().into(),
                            });
                        }
                        t.recent.extend(pcm);
                        while t.recent.len() > 48_000 {
                            t.recent.pop_front();
                        }
                    }
                }
                other => {
                    if t.codec.is_empty() {
                        t.codec = other.to_string().to_lowercase();
                        tracing::warn!(%other, "no decoder for this codec yet");
                    }
                }
            }
        }
        if let Some(e) = event {
            self.emit(e);
        }
        if let Some(e) = encoded {
            self.emit(e);
        }
        if want_pli {
            if let Some(mut w) = self.subscriber.rtc.writer(mid) {
                if let Err(e) = w.request_keyframe(d.rid, KeyframeRequestKind::Pli) {
                    tracing::debug!("keyframe request refused: {e}");
                }
            }
        }
    }

    /// A PLI for a remote track by sid (the app's decoder starts or failed); rate-limited
    /// like the engine's own requests.
    fn request_keyframe(&mut self, track_sid: &str) {
        let now = Instant::now();
        let Some((mid, t)) = self
            .remote
            .iter_mut()
            .find(|(_, t)| t.track_sid == track_sid && t.kind == TrackKind::Video)
        else {
            return;
        };
        if t.last_pli
            .is_some_and(|at| now.duration_since(at) < Duration::from_millis(100))
        {
            return;
        }
        t.last_pli = Some(now);
        let (mid, rid) = (*mid, t.last_rid);
        if let Some(mut w) = self.subscriber.rtc.writer(mid) {
            let _ = w.request_keyframe(rid, KeyframeRequestKind::Pli);
        }
    }

    // ---- data ----------------------------------------------------------------------------

    fn flush_data(&mut self) {
        let queued = std::mem::take(&mut self.queued_data);
        for (packets, reliable, done) in queued {
            self.send_data(packets, reliable, done);
        }
    }

    fn send_data(
        &mut self,
        packets: Vec<Vec<u8>>,
        reliable: bool,
        done: oneshot::Sender<Result<(), EngineError>>,
    ) {
        let (id, open) = if reliable {
            (self.reliable, self.reliable_open)
        } else {
            (self.lossy, self.lossy_open)
        };
        let Some(id) = id.filter(|_| open) else {
            self.queued_data.push((packets, reliable, done));
            return;
        };
        let Some(mut ch) = self.publisher.rtc.channel(id) else {
            self.queued_data.push((packets, reliable, done));
            return;
        };
        for p in &packets {
            if let Err(e) = ch.write(true, p) {
                let _ = done.send(Err(EngineError::Io(format!("data channel: {e}"))));
                return;
            }
        }
        let _ = done.send(Ok(()));
    }

    // ---- local media ---------------------------------------------------------------------

    fn local_mid(&self, kind: MediaKind) -> Option<Mid> {
        self.local_tracks
            .iter()
            .find(|t| t.kind == kind)
            .and_then(|t| t.mid)
    }

    fn next_media_deadline(&self) -> Option<Instant> {
        let p = self.publishing.as_ref()?;
        if !self.publisher.connected {
            return None;
        }
        p.audio.as_ref().map(|_| p.next_audio)
    }

    fn produce_media(&mut self, now: Instant) {
        if !self.publisher.connected {
            return;
        }
        let amid = self.local_mid(MediaKind::Audio);
        let Some(p) = &mut self.publishing else {
            return;
        };
        // The encoder thread starts with the connection: its first frames are keyframes.
        if let Some(v) = p.video.as_mut().filter(|v| !v.started) {
            v.started = true;
            v.thread.send(Control::Start);
        }
        if let (Some((src, enc)), Some(mid)) = (&mut p.audio, amid) {
            // Catch up whole 20 ms frames so audio stays continuous even after a late wake.
            let mut n = 0;
            if p.audio_muted {
                p.next_audio = now + Duration::from_millis(20);
            }
            // A device microphone is drained of what it captured at every wake; synthetic
            // sources give one frame per 20 ms tick.
            while (now >= p.next_audio || p.audio_live) && n < 10 {
                n += 1;
                if now >= p.next_audio {
                    p.next_audio += Duration::from_millis(20);
                }
                let mut frame = match src.next_frame(unix_us()) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(e) => {
                        if !std::mem::replace(&mut p.warned_source, true) {
                            tracing::warn!("microphone: {e}");
                        }
                        break;
                    }
                };
                if let Some(ap) = &mut p.processor {
                    if let Err(e) = ap.process(&mut frame.samples) {
                        tracing::debug!("audio processing skipped: {e}");
                    }
                }
                if self.local_audio_frames {
                    let track_sid = self
                        .local_tracks
                        .iter()
                        .find(|t| t.kind == MediaKind::Audio)
                        .and_then(|t| t.info.as_ref())
                        .map(|i| i.sid.clone())
                        .unwrap_or_default();
                    let _ = self.events.send(RoomEvent::LocalAudioFrame {
                        track_sid,
                        sample_rate: frame.sample_rate,
                        samples: frame.samples.as_slice().into(),
                    });
                }
                let Ok(bytes) = enc.encode(&frame.samples) else {
                    continue;
                };
                let t = MediaTime::new(p.audio_samples, Frequency::FORTY_EIGHT_KHZ);
                p.audio_samples += frame.samples.len() as u64;
                if let Some(w) = self.publisher.rtc.writer(mid) {
                    let pt = w
                        .payload_params()
                        .find(|pp| pp.spec().codec == Codec::Opus)
                        .map(|pp| pp.pt());
                    if let Some(pt) = pt {
                        let _ = w.write(pt, now, t, bytes);
                    }
                }
            }
            if now >= p.next_audio {
                p.next_audio = now + Duration::from_millis(20);
            }
        }
    }

    /// Writes what the encoder thread made of one frame, highest layer first.
    fn write_video(&mut self, mut frame: EncodedVideo) {
        if let Some(pic) = frame.self_view.take() {
            self.emit(RoomEvent::LocalVideoFrame { frame: pic });
        }
        let (Some(mid), Some(p)) = (self.local_mid(MediaKind::Video), &self.publishing) else {
            return;
        };
        if !self.publisher.connected {
            return;
        }
        let t = MediaTime::new(frame.rtp, Frequency::NINETY_KHZ);
        for l in frame.layers {
            let Some(w) = self.publisher.rtc.writer(mid) else {
                return;
            };
            let Some(pt) = crate::devices::video_pt(w.payload_params(), p.opts.video_codec) else {
                return;
            };
            if l.keyframe {
                tracing::trace!(rid = ?l.rid, bytes = l.data.len(), "keyframe sent");
            }
            let w = match l.rid {
                Some(r) => w.rid(r.into()),
                None => w,
            };
            if let Err(e) = w.write(pt, frame.captured, t, l.data) {
                tracing::debug!("video write failed: {e}");
            }
        }
    }

    // ---- the loop ------------------------------------------------------------------------

    async fn flush_outbox(&mut self) -> bool {
        for msg in std::mem::take(&mut self.outbox) {
            if let Err(e) = signal::send(&mut self.ws, msg).await {
                self.signal_lost
                    .get_or_insert(format!("signalling connection lost: {e}"));
                return false;
            }
        }
        true
    }

    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        origin: Origin,
    ) {
        let mut pub_buf = vec![0u8; 2000];
        let mut sub_buf = vec![0u8; 2000];
        let mut commands_open = true;
        let mut reconnector: Option<Reconnector> = None;
        let mut attempt: Option<Attempt> = None;
        loop {
            let now = Instant::now();
            if let Some(reason) = self.signal_lost.take() {
                if reconnector.is_none() && self.ended.is_none() {
                    tracing::info!(%reason, "signalling lost: reconnecting");
                    let r = Reconnector::new(now, origin.options.reconnect_timeout, &reason);
                    self.ice_restart = None;
                    reconnector = Some(
                        if self.peers_failed() || std::mem::take(&mut self.force_rejoin) {
                            r.rejoin_only()
                        } else {
                            r
                        },
                    );
                }
            }
            let mut reconnect_at: Option<Instant> = None;
            if let (Some(r), None) = (&mut reconnector, &attempt) {
                match r.poll(now) {
                    Step::Wait(at) => reconnect_at = Some(at),
                    Step::GiveUp(reason) => {
                        self.ended.get_or_insert(reason);
                    }
                    Step::Resume(n) => {
                        let (why, reason) = match &self.ice_restart {
                            Some(r) => ("restarting the media connection (ICE)", r.reason),
                            None => (
                                "resuming the session",
                                proto::ReconnectReason::RrSignalDisconnected,
                            ),
                        };
                        self.emit(RoomEvent::Reconnecting {
                            attempt: n,
                            reason: why.into(),
                        });
                        let (target, token) = (origin.target.clone(), origin.token.clone());
                        let sid = self.local_sid.clone();
                        attempt = Some(Box::pin(async move {
                            (
                                true,
                                signal::connect(&target, &token, Some((&sid, reason))).await,
                            )
                        }));
                    }
                    Step::Rejoin(n) => {
                        self.emit(RoomEvent::Reconnecting {
                            attempt: n,
                            reason: "joining the room again".into(),
                        });
                        let (target, token) = (origin.target.clone(), origin.token.clone());
                        attempt = Some(Box::pin(async move {
                            (false, signal::connect(&target, &token, None).await)
                        }));
                    }
                }
            }
            if now >= self.next_ping && reconnector.is_none() {
                self.next_ping = now + self.ping_interval;
                self.outbox.push(Req::PingReq(proto::Ping {
                    timestamp: unix_ms() as i64,
                    rtt: self.rtt_ms,
                }));
            }
            if reconnector.is_none() && now.duration_since(self.last_signal) > self.ping_timeout {
                self.signal_lost
                    .get_or_insert("no answer from the server (ping timeout)".into());
            }
            if reconnector.is_none() && self.ended.is_none() && self.signal_lost.is_none() {
                match &self.ice_restart {
                    None => {
                        if let Some(pc) = self.media_lost(now) {
                            let why = format!("{pc:?} media path lost, signalling up");
                            tracing::info!(%why, "restarting ICE");
                            self.ice_restart = Some(IceRestart {
                                since: now,
                                reason: match pc {
                                    Pc::Publisher => proto::ReconnectReason::RrPublisherFailed,
                                    Pc::Subscriber => proto::ReconnectReason::RrSubscriberFailed,
                                },
                                resumed: false,
                            });
                            reconnector = Some(Reconnector::new(
                                now,
                                origin.options.reconnect_timeout,
                                &why,
                            ));
                        }
                    }
                    Some(r) if now.duration_since(r.since) > ICE_RESTART_TIMEOUT => {
                        tracing::info!("no media after the ICE restart: joining again");
                        self.force_rejoin = true;
                        self.signal_lost =
                            Some("no media after an ICE restart (network changed?)".into());
                    }
                    Some(_) => {}
                }
            }
            self.media_back();
            self.produce_media(now);
            for pc in [Pc::Publisher, Pc::Subscriber] {
                if self.peer(pc).timeout <= now {
                    let _ = self.peer(pc).rtc.handle_input(Input::Timeout(now));
                }
                self.poll(pc);
            }
            if reconnector.is_none() {
                self.flush_outbox().await;
            }
            if self.ended.is_some() {
                break;
            }
            let mut deadline = self
                .publisher
                .timeout
                .min(self.subscriber.timeout)
                .min(self.next_ping);
            if let Some(m) = self.next_media_deadline() {
                deadline = deadline.min(m);
            }
            if let Some(at) = reconnect_at {
                deadline = deadline.min(at);
            }
            if self.signal_lost.is_some() {
                deadline = now;
            }
            let deadline = deadline.max(now);
            let signalling = reconnector.is_none();
            let mut encoded = self
                .publishing
                .as_mut()
                .and_then(|p| p.video.as_mut())
                .map(|v| &mut v.thread);
            tokio::select! {
                frame = async {
                    match encoded.as_mut() {
                        Some(t) => t.recv().await,
                        None => std::future::pending().await,
                    }
                } => match frame {
                    Some(frame) => self.write_video(frame),
                    None => {
                        tracing::warn!("the video encoder stopped: no more camera video");
                        if let Some(p) = &mut self.publishing {
                            p.video = None;
                        }
                    }
                },
                (resume, result) = async {
                    match attempt.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                } => {
                    attempt = None;
                    let now = Instant::now();
                    let Some(r) = reconnector.as_mut() else { continue };
                    let outcome = match result {
                        Ok((ws, signal::Joined::Resumed)) => {
                            self.resumed(ws);
                            if self.ice_restart.is_some() {
                                self.restart_publisher_ice();
                            }
                            Outcome::Success
                        }
                        Ok((ws, signal::Joined::Join(join))) => {
                            match self.rejoined(ws, *join, &origin).await {
                                Ok(fresh) => {
                                    self = fresh;
                                    Outcome::Success
                                }
                                Err(e) => Outcome::Failed(e.to_string()),
                            }
                        }
                        Err(EngineError::Refused(why)) if resume => {
                            tracing::info!(%why, "resume refused: joining again");
                            Outcome::SessionGone
                        }
                        Err(e) => Outcome::Failed(e.to_string()),
                    };
                    if r.outcome(now, outcome) {
                        tracing::info!(attempts = r.attempts(), resume, "reconnected");
                        reconnector = None;
                        match &mut self.ice_restart {
                            // Reconnected once media flows again.
                            Some(ir) if resume => {
                                ir.resumed = true;
                                self.media_back();
                            }
                            _ => self.emit(RoomEvent::Reconnected { resumed: resume }),
                        }
                    }
                }
                msg = self.ws.next(), if signalling => {
                    self.last_signal = Instant::now();
                    match msg {
                        Some(Ok(Message::Binary(b))) => match proto::SignalResponse::decode(b.as_ref()) {
                            Ok(proto::SignalResponse { message: Some(m) }) => self.signal(m),
                            Ok(_) => {}
                            Err(e) => tracing::debug!("undecodable signal message: {e}"),
                        },
                        Some(Ok(Message::Close(_))) | None => {
                            self.signal_lost.get_or_insert("the server closed the signalling connection".into());
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            self.signal_lost.get_or_insert(format!("signalling connection lost: {e}"));
                        }
                    }
                }
                r = self.publisher.socket.recv_from(&mut pub_buf) => {
                    if let Ok((n, from)) = r {
                        self.publisher.input(Instant::now(), from, &pub_buf[..n]);
                    }
                }
                r = self.subscriber.socket.recv_from(&mut sub_buf) => {
                    if let Ok((n, from)) = r {
                        self.subscriber.input(Instant::now(), from, &sub_buf[..n]);
                    }
                }
                cmd = commands.recv(), if commands_open => match cmd {
                    None => {
                        commands_open = false;
                        self.leave().await;
                    }
                    Some(Command::Data { packets, reliable, done }) => self.send_data(packets, reliable, done),
                    Some(Command::SetMuted { kind, muted, done }) => {
                        let _ = done.send(self.set_muted(kind, muted));
                    }
                    Some(Command::Unpublish { kind, done }) => {
                        let _ = done.send(self.unpublish(kind));
                    }
                    Some(Command::Stats(tx)) => {
                        let _ = tx.send(self.stats());
                    }
                    Some(Command::Participants(tx)) => {
                        let _ = tx.send(self.participants.values().map(RemoteParticipant::from_info).collect());
                    }
                    Some(Command::TrackSettings(settings)) => {
                        for t in settings {
                            self.outbox.push(Req::TrackSetting(proto::UpdateTrackSettings {
                                track_sids: vec![t.track_sid],
                                disabled: !t.enabled,
                                width: t.width,
                                height: t.height,
                                ..Default::default()
                            }));
                        }
                    }
                    Some(Command::VideoDecoding { track_sid, decode }) => {
                        if decode {
                            if self.undecoded.remove(&track_sid) {
                                self.request_keyframe(&track_sid);
                            }
                        } else {
                            self.undecoded.insert(track_sid);
                        }
                    }
                    Some(Command::RequestKeyframe(track_sid)) => self.request_keyframe(&track_sid),
                    Some(Command::AudioFrames { remote, local }) => {
                        self.audio_frames = remote;
                        self.local_audio_frames = local;
                    }
                    Some(Command::Disconnect(tx)) => {
                        self.leave().await;
                        let _ = tx.send(());
                    }
                    Some(Command::SwitchDevice { device, done }) => {
                        let _ = done.send(self.switch_device(device));
                    }
                },
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
        }
        let reason = self.ended.take().unwrap_or_default();
        if let Ok(mut f) = self.final_stats.lock() {
            *f = Some(self.stats());
        }
        self.publisher.rtc.disconnect();
        self.subscriber.rtc.disconnect();
        for (_, _, done) in self.queued_data.drain(..) {
            let _ = done.send(Err(EngineError::Disconnected));
        }
        self.emit(RoomEvent::Disconnected { reason });
    }

    fn stats(&self) -> Vec<TrackStats> {
        let mut v: Vec<TrackStats> = self.remote.values().map(RemoteTrack::stats).collect();
        // After a rejoin the same participant's track has a new sid: count it as one.
        for old in &self.past_stats {
            match v
                .iter_mut()
                .find(|t| t.participant == old.participant && t.kind == old.kind)
            {
                Some(t) => {
                    t.frames += old.frames;
                    t.samples += old.samples;
                    t.counter_regressions += old.counter_regressions;
                    t.nacks += old.nacks;
                    t.plis += old.plis;
                    t.concealed += old.concealed;
                    t.counter_repeats += old.counter_repeats;
                }
                None => v.push(old.clone()),
            }
        }
        v.sort_by(|a, b| (&a.participant, a.kind as u8).cmp(&(&b.participant, b.kind as u8)));
        v
    }

    /// A peer connection in use whose ICE has been down longer than [`ICE_GRACE`].
    fn media_lost(&self, now: Instant) -> Option<Pc> {
        let down = |p: &Peer| {
            p.connected
                && (p
                    .ice_down_since
                    .is_some_and(|t| now.duration_since(t) >= ICE_GRACE)
                    || now.duration_since(p.last_rx) >= MEDIA_SILENCE)
        };
        if down(&self.publisher) {
            Some(Pc::Publisher)
        } else if down(&self.subscriber) {
            Some(Pc::Subscriber)
        } else {
            None
        }
    }

    /// Both connections hear the server again and ICE works: an ICE restart is over.
    fn media_back(&mut self) {
        let Some(since) = self
            .ice_restart
            .as_ref()
            .filter(|r| r.resumed)
            .map(|r| r.since)
        else {
            return;
        };
        let up = |p: &Peer| p.ice_down_since.is_none() && p.last_rx > since;
        if up(&self.publisher) && up(&self.subscriber) {
            let took = self.ice_restart.take().map(|r| r.since.elapsed());
            tracing::info!(?took, "media back after the ICE restart");
            self.emit(RoomEvent::Reconnected { resumed: true });
        }
    }

    /// New ICE credentials for the publisher connection, offered to the server (the
    /// subscriber's come in the server's next offer). An offer still unanswered went with
    /// the old signalling socket.
    fn restart_publisher_ice(&mut self) {
        if !self.publisher_offered {
            return;
        }
        self.publisher.pending = None;
        let mut api = self.publisher.rtc.sdp_api();
        api.ice_restart(true);
        if let Some((offer, pending)) = api.apply() {
            self.publisher.pending = Some(pending);
            self.outbox.push(Req::Offer(proto::SessionDescription {
                r#type: "offer".into(),
                sdp: offer.to_sdp_string(),
                ..Default::default()
            }));
        }
    }

    /// Whether a peer connection broke for good (only a new session helps then).
    fn peers_failed(&self) -> bool {
        !self.publisher.rtc.is_alive() || !self.subscriber.rtc.is_alive()
    }

    /// The same session goes on over a new signalling socket: tell the server what we
    /// publish and receive (LiveKit's SyncState), then flush what waited.
    fn resumed(&mut self, ws: Ws) {
        self.ws = ws;
        let now = Instant::now();
        self.last_signal = now;
        self.next_ping = now;
        let publish_tracks = self
            .local_tracks
            .iter()
            .filter_map(|t| {
                Some(proto::TrackPublishedResponse {
                    cid: t.cid.clone(),
                    track: Some(t.info.clone()?),
                })
            })
            .collect();
        let track_sids = self.remote.values().map(|t| t.track_sid.clone()).collect();
        self.outbox.insert(
            0,
            Req::SyncState(proto::SyncState {
                subscription: Some(proto::UpdateSubscription {
                    track_sids,
                    subscribe: true,
                    ..Default::default()
                }),
                publish_tracks,
                ..Default::default()
            }),
        );
    }

    /// A new session replaces this one: same options (our tracks are published again), the
    /// participants we knew compared with the new list, the figures so far kept.
    async fn rejoined(
        &mut self,
        ws: Ws,
        mut join: proto::JoinResponse,
        origin: &Origin,
    ) -> Result<Session, EngineError> {
        let others = std::mem::take(&mut join.other_participants);
        // The devices in use now (switched ones included); what we unpublished stays
        // unpublished; what we muted comes back muted.
        let mut options = origin.options.clone();
        if let Some(p) = &self.publishing {
            self.rejoin_publish = Some((p.opts.clone(), p.video_muted, p.audio_muted));
        }
        let (publish, video_muted, audio_muted) = match &self.rejoin_publish {
            Some((o, v, a)) => (Some(o.clone()), *v, *a),
            None => (options.publish.clone(), false, false),
        };
        options.publish = publish;
        options.playout = self.playout_options.clone();
        if let Some(p) = &mut options.publish {
            p.video &= !self.unpublished.contains(&MediaKind::Video);
            p.audio &= !self.unpublished.contains(&MediaKind::Audio);
        }
        // Release the devices first: a camera streams to one reader at a time, so the new
        // session could not open it while this one holds it (a failed attempt keeps what to
        // publish in `rejoin_publish`).
        self.publishing = None;
        self.playout = None;
        let mut fresh = Session::new(
            ws,
            join,
            origin.server,
            options,
            self.events.clone(),
            self.final_stats.clone(),
        )
        .await?;
        fresh.unpublished = self.unpublished.clone();
        if let Some(p) = &mut fresh.publishing {
            p.video_muted = video_muted;
            p.audio_muted = audio_muted;
            if let Some(v) = &p.video {
                v.thread.send(Control::Mute(video_muted));
            }
        }
        for req in &mut fresh.outbox {
            if let Req::AddTrack(a) = req {
                a.muted = if a.r#type == proto::TrackType::Video as i32 {
                    video_muted
                } else {
                    audio_muted
                };
            }
        }
        self.publisher.rtc.disconnect();
        self.subscriber.rtc.disconnect();
        fresh.past_stats = self.stats();
        fresh.participants = std::mem::take(&mut self.participants);
        let still: Vec<String> = others.iter().map(|p| p.identity.clone()).collect();
        for p in others {
            fresh.participant_update(p);
        }
        let gone: Vec<String> = fresh
            .participants
            .values()
            .filter(|p| !still.contains(&p.identity))
            .map(|p| p.sid.clone())
            .collect();
        for sid in gone {
            if let Some(p) = fresh.participants.get(&sid).cloned() {
                fresh.participant_update(proto::ParticipantInfo {
                    state: proto::participant_info::State::Disconnected as i32,
                    ..p
                });
            }
        }
        fresh.queued_data = std::mem::take(&mut self.queued_data);
        Ok(fresh)
    }

    async fn leave(&mut self) {
        self.outbox.push(Req::Leave(proto::LeaveRequest {
            can_reconnect: false,
            reason: proto::DisconnectReason::ClientInitiated as i32,
            action: proto::leave_request::Action::Disconnect as i32,
            ..Default::default()
        }));
        self.flush_outbox().await;
        let _ = self.ws.close(None).await;
        self.ended.get_or_insert("left the room".into());
    }
}
