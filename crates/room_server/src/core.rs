//! The media core: every room, participant and peer connection of the server, driven by one
//! task that owns them all. Signalling sessions and UDP readers talk to it through
//! [`CoreMsg`]; it answers on each participant's signalling queue and writes UDP itself.
//!
//! Each participant has two str0m peer connections, as LiveKit's default dual-PC mode: the
//! *publisher* (the client offers, we receive its media and data) and the *subscriber* (we
//! offer, carrying other participants' tracks and the server-side data channels). Media is
//! forwarded frame by frame: str0m depacketizes, and repacketizes per subscriber, so each leg
//! has its own sequence numbers, NACK/RTX and TWCC.

#![allow(deprecated)] // LiveKit marks fields deprecated that today's SDKs still read.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use livekit_protocol as proto;
use livekit_protocol::signal_request::Message as Req;
use livekit_protocol::signal_response::Message as Resp;
use prost::Message as _;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::{ChannelConfig, ChannelId, Reliability};
use str0m::format::CodecExtra;
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, MediaTime, Mid, Rid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::auth::JoinGrant;
use crate::ids;
use crate::quality::{self, LinkStats};
use crate::simulcast::{self, TimeRebase};
use crate::speakers::SpeakerDetector;

/// Protocol version we speak (what `livekit-server` 1.9 announces).
pub const PROTOCOL_VERSION: i32 = 16;
pub const SERVER_VERSION: &str = "1.9.0";

/// Opaque handle of a participant session inside the core.
pub type PKey = u64;

/// What signalling sessions and sockets tell the core.
pub enum CoreMsg {
    Join(Box<JoinRequest>),
    Signal {
        key: PKey,
        msg: Box<Req>,
    },
    /// The signalling socket closed. `left` is true when the client said Leave first.
    Closed {
        key: PKey,
        left: bool,
    },
    Packet(Packet),
    Stats(oneshot::Sender<ServerStats>),
    /// From the Visio API handlers.
    Api(ApiCmd),
}

/// What the Visio API asks of live rooms (LiveKit's RoomService, in effect) and of the room
/// registry. Rooms are named as LiveKit names them (the token's `room` grant).
pub enum ApiCmd {
    /// Sets attributes of a participant (an empty value removes one), as LiveKit's
    /// `UpdateParticipant`; everyone in the room gets a ParticipantUpdate. Replies whether
    /// the participant was found.
    SetAttributes {
        room: String,
        identity: String,
        attributes: HashMap<String, String>,
        reply: oneshot::Sender<bool>,
    },
    /// Server-side mute of a published track, and a MuteTrackRequest to its publisher.
    MuteTrack {
        room: String,
        identity: String,
        track_sid: String,
        reply: oneshot::Sender<Result<(), MuteRefusal>>,
    },
    /// Ends a participant's session with a Leave (reason ParticipantRemoved).
    Remove {
        room: String,
        identity: String,
        reply: oneshot::Sender<bool>,
    },
    /// Whether `identity` is in the room now.
    IsPresent {
        room: String,
        identity: String,
        reply: oneshot::Sender<bool>,
    },
    /// A reliable data packet from the server to the room's admins (`roomAdmin` grant).
    NotifyAdmins { room: String, payload: Vec<u8> },
    /// Runs on the room registry (registered rooms, local sessions, lobby) inside the core
    /// task, so the registry needs no lock; the closure replies on its own channel.
    Registry(Box<dyn FnOnce(&mut crate::registry::Registry) + Send>),
}

/// Why a mute was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuteRefusal {
    ParticipantNotFound,
    TrackNotFound,
}

pub struct JoinRequest {
    pub grant: JoinGrant,
    pub auto_subscribe: bool,
    /// `reconnect=1&sid=PA_...`: resume the session of that participant if it still exists.
    pub resume_sid: Option<String>,
    /// The resume comes because media stopped (LiveKit's `reconnect_reason` publisher or
    /// subscriber failed): the subscriber connection gets an ICE restart offer.
    pub ice_restart: bool,
    pub out: mpsc::UnboundedSender<Resp>,
    pub reply: oneshot::Sender<Result<PKey, String>>,
}

pub struct Packet {
    pub data: Vec<u8>,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub at: Instant,
}

/// Counters for benchmarks and health checks.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ServerStats {
    pub rooms: usize,
    pub participants: usize,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub frames_forwarded: u64,
    /// Video frames that arrived after a loss retransmission could not repair (each costs
    /// the subscribers a wait for a keyframe).
    pub upstream_gaps: u64,
    /// Keyframe requests (PLI) sent to publishers.
    pub keyframe_requests: u64,
    /// Time from a frame's first packet arriving to its hand-off to the subscriber leg
    /// (reassembly + routing), over the last frames forwarded, in microseconds.
    pub forward_latency_p50_us: u64,
    pub forward_latency_p95_us: u64,
}

/// The latest forwarding delays, for [`ServerStats`].
#[derive(Default)]
struct LatencyWindow {
    samples: Vec<u32>,
    next: usize,
}

impl LatencyWindow {
    const SIZE: usize = 4096;

    fn push(&mut self, us: u32) {
        if self.samples.len() < Self::SIZE {
            self.samples.push(us);
        } else {
            self.samples[self.next] = us;
            self.next = (self.next + 1) % Self::SIZE;
        }
    }

    fn percentile(&self, p: f64) -> u64 {
        if self.samples.is_empty() {
            return 0;
        }
        let mut v = self.samples.clone();
        v.sort_unstable();
        let i = ((v.len() - 1) as f64 * p).round() as usize;
        u64::from(v[i])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Pc {
    Publisher,
    Subscriber,
}

struct Room {
    sid: String,
    name: String,
    created: SystemTime,
    members: Vec<PKey>,
    empty_since: Option<Instant>,
    speakers: SpeakerDetector,
}

struct UpTrack {
    info: proto::TrackInfo,
    mid: Mid,
    kind: MediaKind,
    /// Rids seen recently and when, to fall back when a layer stops (bandwidth, dynacast).
    rids_seen: Vec<(Rid, Instant)>,
    /// When a keyframe was last asked for, per rid (`None` without simulcast): a
    /// subscriber's PLIs on one layer must not starve the request that starts a switch.
    last_keyframe_request: Vec<(Option<Rid>, Instant)>,
    /// Qualities last announced to the publisher in a SubscribedQualityUpdate.
    announced: Option<Vec<bool>>,
}

impl UpTrack {
    /// Simulcast layers received in the last 1.5 s: a paused layer drops out of the choice.
    fn live_rids(&self, now: Instant) -> Vec<Rid> {
        self.rids_seen
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(*at) < Duration::from_millis(1500))
            .map(|(r, _)| *r)
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DownState {
    ToOpen,
    Negotiating(Mid),
    Open(Mid),
    ToStop(Mid),
    NegotiatingStop(Mid),
}

struct DownTrack {
    from: PKey,
    /// The publisher's participant sid, for the `PA_x|TR_y` stream id clients expect.
    from_sid: String,
    track_sid: String,
    kind: MediaKind,
    state: DownState,
    /// Quality the subscriber asked for (UpdateTrackSettings); HIGH by default.
    want: proto::VideoQuality,
    disabled: bool,
    /// The incoming rid being forwarded, once a keyframe started it.
    current: Option<Rid>,
    /// Whether a keyframe is needed before forwarding video (start, switch, loss).
    waiting_keyframe: bool,
    rebase: TimeRebase,
    step: u64,
    last_in_time: Option<u64>,
    /// Arrival of the last frame forwarded, so a switch never goes back to an older frame.
    last_forwarded_at: Option<Instant>,
    /// The wallclock given with the last frame written. str0m queues a leg's frames by
    /// wallclock, and a frame repaired by retransmission has a later arrival than the frames
    /// after it that waited for it: written in one burst, it would be sent after them, and the
    /// subscriber (whose sequence numbers are ours, without gaps) would decode frames out of
    /// order without noticing. So the wallclock never goes back.
    last_wallclock: Option<Instant>,
    /// Target-layer keyframes skipped as older than the last forwarded frame. On a slow
    /// machine a large keyframe can always finish after the next small frame; after a few
    /// the switch takes one anyway rather than never switching up.
    older_keyframes_skipped: u32,
}

impl DownTrack {
    fn new(from: PKey, from_sid: &str, track_sid: &str, kind: MediaKind) -> Self {
        Self {
            from,
            from_sid: from_sid.to_owned(),
            track_sid: track_sid.to_owned(),
            kind,
            state: DownState::ToOpen,
            want: proto::VideoQuality::High,
            disabled: false,
            current: None,
            waiting_keyframe: kind.is_video(),
            rebase: TimeRebase::default(),
            step: 3000,
            last_in_time: None,
            last_forwarded_at: None,
            last_wallclock: None,
            older_keyframes_skipped: 0,
        }
    }

    fn mid(&self) -> Option<Mid> {
        match self.state {
            DownState::ToOpen => None,
            DownState::Negotiating(m)
            | DownState::Open(m)
            | DownState::ToStop(m)
            | DownState::NegotiatingStop(m) => Some(m),
        }
    }
}

/// Reliable data held for a participant whose subscriber channel is not open yet, bounded so
/// a participant that never finishes connecting cannot make the server hoard memory.
#[derive(Default)]
struct DataBacklog {
    packets: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl DataBacklog {
    const MAX_PACKETS: usize = 256;
    const MAX_BYTES: usize = 1 << 20;

    /// Keeps the newest packets within the bounds (the oldest go first).
    fn push(&mut self, bytes: &[u8]) {
        if bytes.len() > Self::MAX_BYTES {
            return;
        }
        self.bytes += bytes.len();
        self.packets.push_back(bytes.to_vec());
        while self.packets.len() > Self::MAX_PACKETS || self.bytes > Self::MAX_BYTES {
            match self.packets.pop_front() {
                Some(old) => self.bytes -= old.len(),
                None => break,
            }
        }
    }

    fn take(&mut self) -> VecDeque<Vec<u8>> {
        self.bytes = 0;
        std::mem::take(&mut self.packets)
    }
}

struct Participant {
    key: PKey,
    room: String,
    info: proto::ParticipantInfo,
    grant: JoinGrant,
    out: mpsc::UnboundedSender<Resp>,
    auto_subscribe: bool,
    publisher: Rtc,
    subscriber: Rtc,
    pub_timeout: Instant,
    sub_timeout: Instant,
    pending: Vec<(String, proto::TrackInfo)>,
    tracks: Vec<UpTrack>,
    pub_channels: HashMap<ChannelId, bool>,
    sub_reliable: Option<ChannelId>,
    sub_lossy: Option<ChannelId>,
    /// Reliable packets for this participant that arrived before its subscriber's `_reliable`
    /// channel opened (a chat message or caption sent while they join), sent once it opens.
    sub_backlog: DataBacklog,
    sub_pending: Option<SdpPendingOffer>,
    down: Vec<DownTrack>,
    /// Loss and RTT seen on either leg since the last quality report.
    link: LinkStats,
    /// When the signalling socket was lost; the session is kept a while for a resume.
    signal_lost: Option<Instant>,
    /// The next subscriber offer restarts ICE (the client resumed because media stopped).
    sub_ice_restart: bool,
    gone: bool,
}

impl Participant {
    fn rtc(&mut self, pc: Pc) -> &mut Rtc {
        match pc {
            Pc::Publisher => &mut self.publisher,
            Pc::Subscriber => &mut self.subscriber,
        }
    }

    fn send(&self, msg: Resp) {
        // A closed queue means the socket is gone; the Closed message will follow.
        let _ = self.out.send(msg);
    }

    fn bump_version(&mut self) {
        self.info.version += 1;
    }
}

/// Actions produced while polling one peer connection, applied afterwards to the others.
/// Short-lived, so the size of `MediaData` inline is cheaper than a box per frame.
#[allow(clippy::large_enum_variant)]
enum Action {
    MediaAdded {
        from: PKey,
        mid: Mid,
        kind: MediaKind,
    },
    MediaInactive {
        from: PKey,
        mid: Mid,
    },
    Media {
        from: PKey,
        data: MediaData,
    },
    KeyframeRequest {
        to: PKey,
        track_sid: String,
        rid: Option<Rid>,
    },
    Data {
        from: PKey,
        reliable: bool,
        payload: Vec<u8>,
    },
    Connected {
        key: PKey,
        pc: Pc,
    },
    Dead {
        key: PKey,
    },
}

pub struct CoreConfig {
    pub candidates: Vec<SocketAddr>,
    pub sockets: HashMap<SocketAddr, Arc<UdpSocket>>,
    pub departure_timeout: Duration,
}

pub struct Core {
    cfg: CoreConfig,
    rooms: HashMap<String, Room>,
    parts: HashMap<PKey, Participant>,
    /// `(source, destination) -> owner`, so most packets skip the `accepts` scan.
    routes: HashMap<(SocketAddr, SocketAddr), (PKey, Pc)>,
    /// STUN checks no peer connection accepted yet: a client answering the subscriber offer
    /// starts checking over UDP at once, and on loopback its first check beats the answer
    /// (sent over the WebSocket) to the core. Replayed when an answer or offer is applied,
    /// so the connection does not wait for the client's first retransmit (about 50 ms of
    /// every join, measured by `make bench-engine`).
    parked_stun: VecDeque<Packet>,
    next_key: PKey,
    stats: ServerStats,
    latency: LatencyWindow,
    last_housekeeping: Instant,
    last_quality: Instant,
    registry: crate::registry::Registry,
}

/// How long a session whose signalling dropped is kept for a resume.
const RESUME_WINDOW: Duration = Duration::from_secs(15);
/// Keyframe requests to a publisher are spaced at least this much.
const KEYFRAME_SPACING: Duration = Duration::from_millis(300);
/// Unaccepted STUN checks kept for a replay: how many and for how long (a client retransmits
/// its checks anyway; this only saves the first wait).
const PARKED_STUN_MAX: usize = 64;
const PARKED_STUN_AGE: Duration = Duration::from_secs(1);

/// A STUN message by its header (RFC 5389: two zero bits, then the magic cookie).
fn is_stun(data: &[u8]) -> bool {
    data.len() >= 20 && data[0] < 2 && data[4..8] == [0x21, 0x12, 0xA4, 0x42]
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn is_keyframe(data: &MediaData) -> bool {
    match data.codec_extra {
        CodecExtra::Vp8(e) => e.is_keyframe,
        CodecExtra::H264(e) => e.is_keyframe,
        CodecExtra::Av1(e) => e.is_keyframe,
        // VP9 uncompressed header: frame_marker(2) profile(2) show_existing(1) frame_type(1);
        // frame_type 0 is a key frame (profiles 0-2).
        CodecExtra::Vp9(_) => data
            .data
            .first()
            .is_some_and(|b| b >> 6 == 0b10 && b & 0b1000 == 0 && b & 0b100 == 0),
        _ => true,
    }
}

impl Core {
    pub fn new(cfg: CoreConfig) -> Self {
        let now = Instant::now();
        Self {
            cfg,
            rooms: HashMap::new(),
            parts: HashMap::new(),
            routes: HashMap::new(),
            parked_stun: VecDeque::new(),
            next_key: 1,
            stats: ServerStats::default(),
            latency: LatencyWindow::default(),
            last_housekeeping: now,
            last_quality: now,
            registry: crate::registry::Registry::default(),
        }
    }

    /// Runs until every sender of `rx` is dropped.
    pub async fn run(mut self, mut rx: mpsc::Receiver<CoreMsg>) {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => self.handle(m),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            for _ in 0..256 {
                match rx.try_recv() {
                    Ok(m) => self.handle(m),
                    Err(_) => break,
                }
            }
            self.drive(Instant::now());
        }
    }

    fn next_deadline(&self) -> Instant {
        let mut t = self.last_housekeeping + Duration::from_millis(200);
        for p in self.parts.values() {
            t = t.min(p.pub_timeout).min(p.sub_timeout);
        }
        t
    }

    pub(crate) fn handle(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Join(req) => self.join(*req),
            CoreMsg::Signal { key, msg } => self.signal(key, *msg),
            CoreMsg::Closed { key, left } => {
                if left {
                    self.remove(key, None);
                } else if let Some(p) = self.parts.get_mut(&key) {
                    // A resume replaced the socket that closed: the session's own is fine.
                    if p.out.is_closed() {
                        p.signal_lost = Some(Instant::now());
                    }
                }
            }
            CoreMsg::Packet(p) => self.packet(p),
            CoreMsg::Stats(reply) => {
                let mut s = self.stats.clone();
                s.rooms = self.rooms.len();
                s.participants = self.parts.len();
                s.forward_latency_p50_us = self.latency.percentile(0.5);
                s.forward_latency_p95_us = self.latency.percentile(0.95);
                let _ = reply.send(s);
            }
            CoreMsg::Api(cmd) => self.api(cmd),
        }
    }

    /// The participant with `identity` in LiveKit room `room`.
    fn find(&self, room: &str, identity: &str) -> Option<PKey> {
        self.members(room).into_iter().find(|k| {
            self.parts
                .get(k)
                .is_some_and(|p| p.info.identity == identity)
        })
    }

    fn api(&mut self, cmd: ApiCmd) {
        match cmd {
            ApiCmd::SetAttributes {
                room,
                identity,
                attributes,
                reply,
            } => {
                let found = self.find(&room, &identity);
                if let Some(p) = found.and_then(|k| self.parts.get_mut(&k)) {
                    for (k, v) in attributes {
                        if v.is_empty() {
                            p.info.attributes.remove(&k);
                        } else {
                            p.info.attributes.insert(k, v);
                        }
                    }
                    p.bump_version();
                    let key = p.key;
                    self.broadcast_participant(key);
                }
                let _ = reply.send(found.is_some());
            }
            ApiCmd::MuteTrack {
                room,
                identity,
                track_sid,
                reply,
            } => {
                let result = match self.find(&room, &identity) {
                    None => Err(MuteRefusal::ParticipantNotFound),
                    Some(key) => self.server_mute(key, &track_sid),
                };
                let _ = reply.send(result);
            }
            ApiCmd::Remove {
                room,
                identity,
                reply,
            } => {
                let found = self.find(&room, &identity);
                if let Some(k) = found {
                    self.remove(k, Some(proto::DisconnectReason::ParticipantRemoved));
                }
                let _ = reply.send(found.is_some());
            }
            ApiCmd::IsPresent {
                room,
                identity,
                reply,
            } => {
                let _ = reply.send(self.find(&room, &identity).is_some());
            }
            ApiCmd::NotifyAdmins { room, payload } => {
                let packet = proto::DataPacket {
                    kind: proto::data_packet::Kind::Reliable as i32,
                    value: Some(proto::data_packet::Value::User(proto::UserPacket {
                        payload,
                        ..Default::default()
                    })),
                    ..Default::default()
                };
                let bytes = packet.encode_to_vec();
                let admins: Vec<PKey> = self
                    .members(&room)
                    .into_iter()
                    .filter(|k| {
                        self.parts
                            .get(k)
                            .is_some_and(|p| p.grant.claims.video.room_admin)
                    })
                    .collect();
                for k in admins {
                    self.send_data(k, true, &bytes);
                }
            }
            ApiCmd::Registry(f) => f(&mut self.registry),
        }
    }

    /// Marks a track muted as its publisher would, and asks the publisher to stop sending.
    fn server_mute(&mut self, key: PKey, track_sid: &str) -> Result<(), MuteRefusal> {
        let p = self
            .parts
            .get_mut(&key)
            .ok_or(MuteRefusal::ParticipantNotFound)?;
        p.tracks
            .iter()
            .find(|t| t.info.sid == track_sid)
            .ok_or(MuteRefusal::TrackNotFound)?;
        p.send(Resp::Mute(proto::MuteTrackRequest {
            sid: track_sid.to_owned(),
            muted: true,
        }));
        if let Some(t) = p
            .tracks
            .iter_mut()
            .find(|t| t.info.sid == track_sid && !t.info.muted)
        {
            t.info.muted = true;
            p.bump_version();
            self.broadcast_participant(key);
        }
        Ok(())
    }

    fn members(&self, room: &str) -> Vec<PKey> {
        self.rooms
            .get(room)
            .map(|r| r.members.clone())
            .unwrap_or_default()
    }

    // ---- joining and leaving -------------------------------------------------------------

    fn new_rtc(&self, now: Instant) -> Rtc {
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .enable_bwe(None)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(now);
        for c in &self.cfg.candidates {
            if let Ok(cand) = Candidate::host(*c, "udp") {
                rtc.add_local_candidate(cand);
            }
        }
        rtc
    }

    fn join(&mut self, req: JoinRequest) {
        let now = Instant::now();
        let room_name = req.grant.room().to_owned();
        let identity = req.grant.identity().to_owned();

        // Resume: the client kept its peer connections and only lost signalling.
        if let Some(sid) = &req.resume_sid {
            let existing = self.members(&room_name).into_iter().find(|k| {
                self.parts
                    .get(k)
                    .is_some_and(|p| &p.info.sid == sid && p.info.identity == identity)
            });
            match existing {
                Some(key) => {
                    if let Some(p) = self.parts.get_mut(&key) {
                        p.out = req.out;
                        p.signal_lost = None;
                        p.sub_ice_restart |= req.ice_restart;
                        p.send(Resp::Reconnect(proto::ReconnectResponse {
                            ice_servers: vec![],
                            client_configuration: None,
                            ..Default::default()
                        }));
                    }
                    let _ = req.reply.send(Ok(key));
                    return;
                }
                None => {
                    let _ = req
                        .reply
                        .send(Err("participant not found; join again".into()));
                    return;
                }
            }
        }

        // A second session with the same identity replaces the first, as in LiveKit.
        let dup: Vec<PKey> = self
            .members(&room_name)
            .into_iter()
            .filter(|k| {
                self.parts
                    .get(k)
                    .is_some_and(|p| p.info.identity == identity)
            })
            .collect();
        for k in dup {
            self.remove(k, Some(proto::DisconnectReason::DuplicateIdentity));
        }

        let room = self.rooms.entry(room_name.clone()).or_insert_with(|| Room {
            sid: ids::room_sid(),
            name: room_name.clone(),
            created: SystemTime::now(),
            members: vec![],
            empty_since: None,
            speakers: SpeakerDetector::default(),
        });
        room.empty_since = None;
        let key = self.next_key;
        self.next_key += 1;
        room.members.push(key);

        let claims = &req.grant.claims;
        let video = &claims.video;
        let info = proto::ParticipantInfo {
            sid: ids::participant_sid(),
            identity: identity.clone(),
            name: claims.name.clone(),
            metadata: claims.metadata.clone(),
            attributes: claims.attributes.clone(),
            state: proto::participant_info::State::Joined as i32,
            joined_at: now_ms() / 1000,
            joined_at_ms: now_ms(),
            version: 1,
            kind: if video.agent {
                proto::participant_info::Kind::Agent as i32
            } else {
                proto::participant_info::Kind::Standard as i32
            },
            permission: Some(proto::ParticipantPermission {
                can_subscribe: video.can_subscribe(),
                can_publish: video.can_publish(),
                can_publish_data: video.can_publish_data(),
                hidden: video.hidden,
                recorder: video.recorder,
                can_update_metadata: video.can_update_own_metadata(),
                agent: video.agent,
                ..Default::default()
            }),
            ..Default::default()
        };

        let mut p = Participant {
            key,
            room: room_name.clone(),
            info,
            grant: req.grant,
            out: req.out,
            auto_subscribe: req.auto_subscribe,
            publisher: self.new_rtc(now),
            subscriber: self.new_rtc(now),
            pub_timeout: now,
            sub_timeout: now,
            pending: vec![],
            tracks: vec![],
            pub_channels: HashMap::new(),
            sub_reliable: None,
            sub_lossy: None,
            sub_backlog: DataBacklog::default(),
            sub_pending: None,
            down: vec![],
            link: LinkStats::default(),
            signal_lost: None,
            sub_ice_restart: false,
            gone: false,
        };

        let others: Vec<proto::ParticipantInfo> = self
            .members(&room_name)
            .iter()
            .filter(|k| **k != key)
            .filter_map(|k| self.parts.get(k))
            .filter(|o| !o.info.permission.as_ref().is_some_and(|pm| pm.hidden))
            .map(|o| o.info.clone())
            .collect();
        let room_info = self.room_info(&room_name);
        p.send(Resp::Join(proto::JoinResponse {
            room: Some(room_info),
            participant: Some(p.info.clone()),
            other_participants: others,
            server_version: SERVER_VERSION.into(),
            ice_servers: vec![],
            subscriber_primary: true,
            ping_timeout: 15,
            ping_interval: 5,
            server_info: Some(proto::ServerInfo {
                edition: proto::server_info::Edition::Standard as i32,
                version: SERVER_VERSION.into(),
                protocol: PROTOCOL_VERSION,
                node_id: "visio-local".into(),
                ..Default::default()
            }),
            ..Default::default()
        }));

        // The subscriber connection starts with the server's data channels, so data can flow
        // before anyone publishes media.
        {
            let mut api = p.subscriber.sdp_api();
            api.add_channel_with_config(ChannelConfig {
                label: "_reliable".into(),
                ordered: true,
                reliability: Reliability::Reliable,
                ..Default::default()
            });
            api.add_channel_with_config(ChannelConfig {
                label: "_lossy".into(),
                ordered: false,
                reliability: Reliability::MaxRetransmits { retransmits: 0 },
                ..Default::default()
            });
            if let Some((offer, pending)) = api.apply() {
                p.sub_pending = Some(pending);
                p.send(Resp::Offer(proto::SessionDescription {
                    r#type: "offer".into(),
                    sdp: offer.to_sdp_string(),
                    ..Default::default()
                }));
            }
        }

        // Existing tracks, for auto-subscribe.
        if p.auto_subscribe && p.grant.claims.video.can_subscribe() {
            for k in self.members(&room_name) {
                if let Some(o) = self.parts.get(&k) {
                    for t in &o.tracks {
                        p.down
                            .push(DownTrack::new(k, &o.info.sid, &t.info.sid, t.kind));
                    }
                }
            }
        }
        tracing::info!(room = %room_name, identity = %identity, sid = %p.info.sid, "participant joined");
        self.parts.insert(key, p);
        let _ = req.reply.send(Ok(key));
        self.broadcast_participant(key);
        self.announce_qualities(&room_name);
    }

    fn room_info(&self, name: &str) -> proto::Room {
        let Some(room) = self.rooms.get(name) else {
            return proto::Room::default();
        };
        let created = room
            .created
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        proto::Room {
            sid: room.sid.clone(),
            name: room.name.clone(),
            empty_timeout: 300,
            departure_timeout: self.cfg.departure_timeout.as_secs() as u32,
            creation_time: created / 1000,
            creation_time_ms: created,
            num_participants: room.members.len() as u32,
            num_publishers: room
                .members
                .iter()
                .filter(|k| self.parts.get(k).is_some_and(|p| !p.tracks.is_empty()))
                .count() as u32,
            ..Default::default()
        }
    }

    /// Removes a participant; `reason` set means the server ends the session and tells it.
    fn remove(&mut self, key: PKey, reason: Option<proto::DisconnectReason>) {
        let Some(mut p) = self.parts.remove(&key) else {
            return;
        };
        if let Some(reason) = reason {
            p.send(Resp::Leave(proto::LeaveRequest {
                can_reconnect: false,
                reason: reason as i32,
                action: proto::leave_request::Action::Disconnect as i32,
                ..Default::default()
            }));
        }
        p.publisher.disconnect();
        p.subscriber.disconnect();
        self.routes.retain(|_, (k, _)| *k != key);
        tracing::info!(room = %p.room, identity = %p.info.identity, "participant left");
        if let Some(room) = self.rooms.get_mut(&p.room) {
            room.members.retain(|k| *k != key);
            room.speakers.forget(&p.info.sid);
            if room.members.is_empty() {
                room.empty_since = Some(Instant::now());
            }
        }
        // Others stop receiving its tracks.
        for k in self.members(&p.room) {
            if let Some(o) = self.parts.get_mut(&k) {
                for d in o.down.iter_mut().filter(|d| d.from == key) {
                    d.state = match d.state {
                        DownState::Open(m) | DownState::Negotiating(m) => DownState::ToStop(m),
                        s => s,
                    };
                }
                o.down
                    .retain(|d| d.state != DownState::ToOpen || d.from != key);
            }
        }
        p.info.state = proto::participant_info::State::Disconnected as i32;
        p.info.tracks.clear();
        p.bump_version();
        let update = Resp::Update(proto::ParticipantUpdate {
            participants: vec![p.info.clone()],
        });
        for k in self.members(&p.room) {
            if let Some(o) = self.parts.get(&k) {
                o.send(update.clone());
            }
        }
    }

    /// Sends the participant's current info to everyone in its room (itself included).
    fn broadcast_participant(&mut self, key: PKey) {
        let Some(p) = self.parts.get_mut(&key) else {
            return;
        };
        p.info.tracks = p.tracks.iter().map(|t| t.info.clone()).collect();
        let hidden = p.info.permission.as_ref().is_some_and(|pm| pm.hidden);
        let update = Resp::Update(proto::ParticipantUpdate {
            participants: vec![p.info.clone()],
        });
        let room = p.room.clone();
        for k in self.members(&room) {
            if hidden && k != key {
                continue;
            }
            if let Some(o) = self.parts.get(&k) {
                o.send(update.clone());
            }
        }
    }

    // ---- signalling ----------------------------------------------------------------------

    fn signal(&mut self, key: PKey, msg: Req) {
        let described = matches!(msg, Req::Offer(_) | Req::Answer(_));
        self.signal_inner(key, msg);
        if described && !self.parked_stun.is_empty() {
            self.replay_parked_stun(Instant::now());
        }
    }

    fn signal_inner(&mut self, key: PKey, msg: Req) {
        let Some(p) = self.parts.get_mut(&key) else {
            return;
        };
        match msg {
            Req::Offer(sd) => {
                // Clients built for single-PC mode also offer receive-only m-lines on the
                // publisher connection; answering them inactive keeps media off that path.
                // Video is answered with the codec the client prefers (VP9 for Visio's web app).
                tracing::trace!(identity = %p.info.identity, sdp = %sd.sdp, "publisher offer");
                let asked: HashMap<String, String> = p
                    .pending
                    .iter()
                    .filter_map(|(cid, info)| {
                        let codec = info.mime_type.split('/').nth(1)?;
                        Some((cid.clone(), codec.to_owned()))
                    })
                    .collect();
                let sdp = crate::sdp::keep_preferred_video_codec(
                    &crate::sdp::recvonly_to_inactive(&sd.sdp),
                    |track_id| asked.get(track_id).cloned(),
                );
                let answer = SdpOffer::from_sdp_string(&sdp)
                    .map_err(|e| e.to_string())
                    .and_then(|o| {
                        p.publisher
                            .sdp_api()
                            .accept_offer(o)
                            .map_err(|e| e.to_string())
                    });
                match answer {
                    Ok(a) => p.send(Resp::Answer(proto::SessionDescription {
                        r#type: "answer".into(),
                        sdp: a.to_sdp_string(),
                        id: sd.id,
                        ..Default::default()
                    })),
                    Err(e) => {
                        tracing::warn!(identity = %p.info.identity, "bad publisher offer: {e}")
                    }
                }
            }
            Req::Answer(sd) => {
                let Some(pending) = p.sub_pending.take() else {
                    tracing::debug!("answer without a pending offer");
                    return;
                };
                let res = SdpAnswer::from_sdp_string(&sd.sdp)
                    .map_err(|e| e.to_string())
                    .and_then(|a| {
                        p.subscriber
                            .sdp_api()
                            .accept_answer(pending, a)
                            .map_err(|e| e.to_string())
                    });
                if let Err(e) = res {
                    tracing::warn!(identity = %p.info.identity, "bad subscriber answer: {e}");
                    return;
                }
                for d in &mut p.down {
                    if let DownState::Negotiating(m) = d.state {
                        d.state = DownState::Open(m);
                        d.waiting_keyframe = d.kind.is_video();
                        p.out
                            .send(Resp::TrackSubscribed(proto::TrackSubscribed {
                                track_sid: d.track_sid.clone(),
                            }))
                            .ok();
                    }
                }
                p.down
                    .retain(|d| !matches!(d.state, DownState::NegotiatingStop(_)));
                // New subscriptions want a keyframe right away.
                let wanted: Vec<(PKey, String)> = p
                    .down
                    .iter()
                    .filter(|d| d.waiting_keyframe)
                    .map(|d| (d.from, d.track_sid.clone()))
                    .collect();
                for (from, sid) in wanted {
                    self.request_keyframe(from, &sid, None);
                }
            }
            Req::Trickle(t) => {
                #[derive(serde::Deserialize)]
                struct Init {
                    candidate: String,
                }
                let pc = if t.target == proto::SignalTarget::Subscriber as i32 {
                    Pc::Subscriber
                } else {
                    Pc::Publisher
                };
                if let Ok(init) = serde_json::from_str::<Init>(&t.candidate_init) {
                    let line = init.candidate.trim_start_matches("a=");
                    if let Ok(c) = Candidate::from_sdp_string(line) {
                        p.rtc(pc).add_remote_candidate(c);
                    }
                }
            }
            Req::AddTrack(add) => self.add_track(key, add),
            Req::Mute(m) => {
                if let Some(t) = p.tracks.iter_mut().find(|t| t.info.sid == m.sid) {
                    if t.info.muted != m.muted {
                        t.info.muted = m.muted;
                        p.bump_version();
                        self.broadcast_participant(key);
                    }
                }
            }
            Req::Subscription(s) => {
                let mut sids = s.track_sids.clone();
                for pt in &s.participant_tracks {
                    sids.extend(pt.track_sids.iter().cloned());
                }
                self.update_subscription(key, &sids, s.subscribe);
            }
            Req::TrackSetting(s) => {
                self.update_track_settings(key, &s);
            }
            Req::UpdateLayers(_) => {}
            Req::Leave(_) => self.remove(key, None),
            Req::Ping(ts) => p.send(Resp::Pong(ts)),
            Req::PingReq(ping) => p.send(Resp::PongResp(proto::Pong {
                last_ping_timestamp: ping.timestamp,
                timestamp: now_ms(),
            })),
            Req::UpdateMetadata(u) => {
                if !p.grant.claims.video.can_update_own_metadata() {
                    p.send(Resp::RequestResponse(proto::RequestResponse {
                        request_id: u.request_id,
                        reason: proto::request_response::Reason::NotAllowed as i32,
                        message: "does not have permission to update own metadata".into(),
                        ..Default::default()
                    }));
                    return;
                }
                if !u.name.is_empty() {
                    p.info.name = u.name;
                }
                if !u.metadata.is_empty() {
                    p.info.metadata = u.metadata;
                }
                for (k, v) in u.attributes {
                    if v.is_empty() {
                        p.info.attributes.remove(&k);
                    } else {
                        p.info.attributes.insert(k, v);
                    }
                }
                p.bump_version();
                p.send(Resp::RequestResponse(proto::RequestResponse {
                    request_id: u.request_id,
                    reason: proto::request_response::Reason::Ok as i32,
                    ..Default::default()
                }));
                self.broadcast_participant(key);
            }
            Req::SyncState(_) | Req::Simulate(_) | Req::SubscriptionPermission(_) => {}
            _ => {}
        }
    }

    fn add_track(&mut self, key: PKey, add: proto::AddTrackRequest) {
        let Some(p) = self.parts.get_mut(&key) else {
            return;
        };
        let video = &p.grant.claims.video;
        if !video.can_publish() {
            p.send(Resp::RequestResponse(proto::RequestResponse {
                reason: proto::request_response::Reason::NotAllowed as i32,
                message: "does not have permission to publish".into(),
                ..Default::default()
            }));
            return;
        }
        let mut layers = add.layers.clone();
        if layers.is_empty() {
            if let Some(c) = add.simulcast_codecs.first() {
                layers = c.layers.clone();
            }
        }
        let mime = add
            .simulcast_codecs
            .first()
            .map(|c| c.codec.clone())
            .filter(|c| !c.is_empty())
            .map(|c| {
                if c.contains('/') {
                    c
                } else if add.r#type == proto::TrackType::Audio as i32 {
                    format!("audio/{c}")
                } else {
                    format!("video/{c}")
                }
            })
            .unwrap_or_default();
        let info = proto::TrackInfo {
            sid: ids::track_sid(),
            name: add.name.clone(),
            r#type: add.r#type,
            muted: add.muted,
            width: add.width,
            height: add.height,
            simulcast: layers.len() > 1,
            disable_dtx: add.disable_dtx,
            source: add.source,
            layers,
            mime_type: mime,
            stereo: add.stereo,
            disable_red: add.disable_red,
            stream: add.stream.clone(),
            ..Default::default()
        };
        p.pending.retain(|(cid, _)| cid != &add.cid);
        p.pending.push((add.cid.clone(), info.clone()));
        p.send(Resp::TrackPublished(proto::TrackPublishedResponse {
            cid: add.cid,
            track: Some(info),
        }));
    }

    fn update_subscription(&mut self, key: PKey, sids: &[String], subscribe: bool) {
        let room = match self.parts.get(&key) {
            Some(p) => p.room.clone(),
            None => return,
        };
        let mut found: Vec<(PKey, UpTrackRef)> = vec![];
        for k in self.members(&room) {
            if k == key {
                continue;
            }
            if let Some(o) = self.parts.get(&k) {
                for t in o.tracks.iter().filter(|t| sids.contains(&t.info.sid)) {
                    found.push((k, UpTrackRef::of(&o.info.sid, t)));
                }
            }
        }
        let Some(p) = self.parts.get_mut(&key) else {
            return;
        };
        for (from, t) in found {
            let existing = p.down.iter_mut().find(|d| d.track_sid == t.sid);
            match (existing, subscribe) {
                (None, true) => p
                    .down
                    .push(DownTrack::new(from, &t.from_sid, &t.sid, t.kind)),
                (Some(d), false) => {
                    d.state = match d.state {
                        DownState::Open(m) | DownState::Negotiating(m) => DownState::ToStop(m),
                        s => s,
                    };
                }
                _ => {}
            }
        }
        p.down.retain(|d| {
            !(d.state == DownState::ToOpen && !subscribe && sids.contains(&d.track_sid))
        });
    }

    fn update_track_settings(&mut self, key: PKey, s: &proto::UpdateTrackSettings) {
        let Some(room) = self.parts.get(&key).map(|p| p.room.clone()) else {
            return;
        };
        // Layers of the tracks named, to turn a requested size into a quality.
        let mut layers: HashMap<String, Vec<proto::VideoLayer>> = HashMap::new();
        for k in self.members(&room) {
            if let Some(o) = self.parts.get(&k) {
                for t in &o.tracks {
                    if s.track_sids.contains(&t.info.sid) {
                        layers.insert(t.info.sid.clone(), t.info.layers.clone());
                    }
                }
            }
        }
        let mut keyframes = vec![];
        if let Some(p) = self.parts.get_mut(&key) {
            for d in p
                .down
                .iter_mut()
                .filter(|d| s.track_sids.contains(&d.track_sid))
            {
                d.disabled = s.disabled;
                let want = if s.width > 0 || s.height > 0 {
                    simulcast::quality_for_size(
                        layers.get(&d.track_sid).map(Vec::as_slice).unwrap_or(&[]),
                        s.width,
                        s.height,
                    )
                } else {
                    proto::VideoQuality::try_from(s.quality).unwrap_or(proto::VideoQuality::High)
                };
                if want != d.want {
                    d.want = want;
                    keyframes.push((d.from, d.track_sid.clone()));
                }
                if !s.disabled && d.current.is_none() {
                    d.waiting_keyframe = d.kind.is_video();
                    keyframes.push((d.from, d.track_sid.clone()));
                }
            }
        }
        self.announce_qualities(&room);
        for (from, sid) in keyframes {
            let rid = self.target_rid(key, from, &sid);
            self.request_keyframe(from, &sid, rid);
        }
    }

    /// The rid a subscriber should be receiving for a track, given what the publisher sends.
    fn target_rid(&self, sub: PKey, from: PKey, sid: &str) -> Option<Rid> {
        let want = self
            .parts
            .get(&sub)?
            .down
            .iter()
            .find(|d| d.track_sid == sid)?
            .want;
        let up = self
            .parts
            .get(&from)?
            .tracks
            .iter()
            .find(|t| t.info.sid == sid)?;
        let live = up.live_rids(Instant::now());
        simulcast::pick_rid(live.iter().map(|r| r.as_ref()), want).map(|r| Rid::from(r.as_str()))
    }

    /// Tells each simulcast publisher which qualities anyone watches (dynacast), when that
    /// changes, so unwatched layers are paused at the source.
    fn announce_qualities(&mut self, room: &str) {
        let members = self.members(room);
        let mut wanted: HashMap<String, [bool; 3]> = HashMap::new();
        for k in &members {
            if let Some(p) = self.parts.get(k) {
                let watching = |d: &&DownTrack| {
                    d.kind.is_video()
                        && !d.disabled
                        && matches!(
                            d.state,
                            DownState::ToOpen | DownState::Negotiating(_) | DownState::Open(_)
                        )
                };
                for d in p.down.iter().filter(watching) {
                    let q = (d.want as usize).min(2);
                    wanted.entry(d.track_sid.clone()).or_default()[q] = true;
                }
            }
        }
        for k in &members {
            let Some(p) = self.parts.get_mut(k) else {
                continue;
            };
            let mut msgs = vec![];
            for t in p.tracks.iter_mut().filter(|t| t.info.simulcast) {
                let w = wanted.get(&t.info.sid).copied().unwrap_or_default();
                // A watched quality keeps the layers below it alive too, for quick fallback.
                let top = w.iter().rposition(|b| *b);
                let enabled: Vec<bool> = (0..3).map(|i| top.is_some_and(|t| i <= t)).collect();
                if t.announced.as_ref() == Some(&enabled) {
                    continue;
                }
                t.announced = Some(enabled.clone());
                let qualities: Vec<proto::SubscribedQuality> = enabled
                    .iter()
                    .enumerate()
                    .map(|(i, e)| proto::SubscribedQuality {
                        quality: i as i32,
                        enabled: *e,
                    })
                    .collect();
                let codec = t
                    .info
                    .mime_type
                    .split('/')
                    .nth(1)
                    .unwrap_or("vp8")
                    .to_lowercase();
                msgs.push(Resp::SubscribedQualityUpdate(
                    proto::SubscribedQualityUpdate {
                        track_sid: t.info.sid.clone(),
                        subscribed_qualities: qualities.clone(),
                        subscribed_codecs: vec![proto::SubscribedCodec { codec, qualities }],
                    },
                ));
            }
            for m in msgs {
                p.send(m);
            }
        }
    }

    fn request_keyframe(&mut self, from: PKey, track_sid: &str, rid: Option<Rid>) {
        let Some(p) = self.parts.get_mut(&from) else {
            return;
        };
        let Some(t) = p.tracks.iter_mut().find(|t| t.info.sid == track_sid) else {
            return;
        };
        if !t.kind.is_video() {
            return;
        }
        let now = Instant::now();
        let recent = |r: &(Option<Rid>, Instant)| {
            r.0 == rid && now.saturating_duration_since(r.1) < KEYFRAME_SPACING
        };
        if t.last_keyframe_request.iter().any(recent) {
            return;
        }
        t.last_keyframe_request.retain(|(r, _)| *r != rid);
        t.last_keyframe_request.push((rid, now));
        let mid = t.mid;
        let rids: Vec<Option<Rid>> = match rid {
            Some(r) => vec![Some(r)],
            None if t.rids_seen.is_empty() => vec![None],
            None => t.rids_seen.iter().map(|(r, _)| Some(*r)).collect(),
        };
        if let Some(mut w) = p.publisher.writer(mid) {
            for r in rids {
                if w.request_keyframe(r, KeyframeRequestKind::Pli).is_ok() {
                    self.stats.keyframe_requests += 1;
                }
            }
        }
    }

    // ---- network -------------------------------------------------------------------------

    fn packet(&mut self, pkt: Packet) {
        self.stats.packets_in += 1;
        self.stats.bytes_in += pkt.data.len() as u64;
        self.route_packet(pkt);
    }

    /// Replays the parked STUN checks (after a description was applied).
    fn replay_parked_stun(&mut self, now: Instant) {
        let parked = std::mem::take(&mut self.parked_stun);
        for mut pkt in parked {
            if now.saturating_duration_since(pkt.at) <= PARKED_STUN_AGE {
                pkt.at = now;
                self.route_packet(pkt);
            }
        }
    }

    fn route_packet(&mut self, pkt: Packet) {
        let Ok(contents) = pkt.data.as_slice().try_into() else {
            return; // Not STUN/DTLS/RTP: garbage on the port is dropped.
        };
        let input = Input::Receive(
            pkt.at,
            Receive {
                proto: Protocol::Udp,
                source: pkt.source,
                destination: pkt.destination,
                contents,
            },
        );
        let route = (pkt.source, pkt.destination);
        let mut target = self.routes.get(&route).copied().filter(|(k, pc)| {
            self.parts
                .get_mut(k)
                .is_some_and(|p| p.rtc(*pc).accepts(&input))
        });
        if target.is_none() {
            'scan: for (k, p) in self.parts.iter_mut() {
                for pc in [Pc::Publisher, Pc::Subscriber] {
                    if p.rtc(pc).accepts(&input) {
                        target = Some((*k, pc));
                        break 'scan;
                    }
                }
            }
            if let Some(t) = target {
                self.routes.insert(route, t);
            }
        }
        let Some((key, pc)) = target else {
            tracing::trace!(source = %pkt.source, "no session accepts this datagram");
            if is_stun(&pkt.data) {
                if self.parked_stun.len() >= PARKED_STUN_MAX {
                    self.parked_stun.pop_front();
                }
                self.parked_stun.push_back(pkt);
            }
            return;
        };
        if let Some(p) = self.parts.get_mut(&key) {
            if let Err(e) = p.rtc(pc).handle_input(input) {
                tracing::debug!(identity = %p.info.identity, "input rejected: {e}");
            }
            match pc {
                Pc::Publisher => p.pub_timeout = pkt.at,
                Pc::Subscriber => p.sub_timeout = pkt.at,
            }
        }
    }

    /// Advances time, negotiates, and polls every peer connection until all are idle.
    pub(crate) fn drive(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_housekeeping) >= Duration::from_millis(200) {
            self.housekeeping(now);
        }
        let keys: Vec<PKey> = self.parts.keys().copied().collect();
        for k in &keys {
            if let Some(p) = self.parts.get_mut(k) {
                if p.pub_timeout <= now {
                    let _ = p.publisher.handle_input(Input::Timeout(now));
                }
                if p.sub_timeout <= now {
                    let _ = p.subscriber.handle_input(Input::Timeout(now));
                }
            }
        }
        for _round in 0..8 {
            let mut actions = vec![];
            for k in &keys {
                self.negotiate_subscriber(*k);
                for pc in [Pc::Publisher, Pc::Subscriber] {
                    self.poll(*k, pc, &mut actions);
                }
            }
            if actions.is_empty() {
                break;
            }
            for a in actions {
                self.apply(a);
            }
        }
    }

    fn poll(&mut self, key: PKey, pc: Pc, actions: &mut Vec<Action>) {
        let Some(p) = self.parts.get_mut(&key) else {
            return;
        };
        loop {
            if !p.rtc(pc).is_alive() {
                if !p.gone {
                    p.gone = true;
                    actions.push(Action::Dead { key });
                }
                return;
            }
            let out = match p.rtc(pc).poll_output() {
                Ok(o) => o,
                Err(e) => {
                    tracing::debug!(identity = %p.info.identity, "poll failed: {e}");
                    p.rtc(pc).disconnect();
                    continue;
                }
            };
            match out {
                Output::Timeout(t) => {
                    match pc {
                        Pc::Publisher => p.pub_timeout = t,
                        Pc::Subscriber => p.sub_timeout = t,
                    }
                    return;
                }
                Output::Transmit(t) => {
                    if let Some(sock) = self.cfg.sockets.get(&t.source) {
                        self.stats.packets_out += 1;
                        self.stats.bytes_out += t.contents.len() as u64;
                        let _ = sock.try_send_to(&t.contents, t.destination);
                    }
                }
                Output::Event(ev) => match ev {
                    Event::Connected => actions.push(Action::Connected { key, pc }),
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                        tracing::debug!(identity = %p.info.identity, ?pc, "ICE disconnected");
                    }
                    Event::MediaAdded(m) if pc == Pc::Publisher && m.direction.is_receiving() => {
                        actions.push(Action::MediaAdded {
                            from: key,
                            mid: m.mid,
                            kind: m.kind,
                        })
                    }
                    Event::MediaChanged(m)
                        if pc == Pc::Publisher && !m.direction.is_receiving() =>
                    {
                        actions.push(Action::MediaInactive {
                            from: key,
                            mid: m.mid,
                        })
                    }
                    Event::MediaData(data) if pc == Pc::Publisher => {
                        actions.push(Action::Media { from: key, data })
                    }
                    Event::KeyframeRequest(req) if pc == Pc::Subscriber => {
                        if let Some(d) = p.down.iter().find(|d| d.mid() == Some(req.mid)) {
                            actions.push(Action::KeyframeRequest {
                                to: d.from,
                                track_sid: d.track_sid.clone(),
                                rid: d.current,
                            });
                        }
                    }
                    Event::PeerStats(s) => {
                        let loss = match pc {
                            Pc::Publisher => s.ingress_loss_fraction,
                            Pc::Subscriber => s.egress_loss_fraction,
                        };
                        p.link = p.link.worst(LinkStats {
                            loss: loss.unwrap_or(0.0),
                            rtt: s.rtt,
                        });
                    }
                    Event::ChannelOpen(id, label) => match pc {
                        Pc::Publisher => {
                            p.pub_channels.insert(id, label != "_lossy");
                        }
                        Pc::Subscriber => {
                            if label == "_lossy" {
                                p.sub_lossy = Some(id);
                            } else if label == "_reliable" {
                                p.sub_reliable = Some(id);
                                if let Some(mut ch) = p.subscriber.channel(id) {
                                    for bytes in p.sub_backlog.take() {
                                        let _ = ch.write(true, &bytes);
                                    }
                                }
                            }
                        }
                    },
                    Event::ChannelData(cd) if pc == Pc::Publisher => {
                        let reliable = p.pub_channels.get(&cd.id).copied().unwrap_or(true);
                        actions.push(Action::Data {
                            from: key,
                            reliable,
                            payload: cd.data,
                        })
                    }
                    _ => {}
                },
            }
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Connected { key, pc } => {
                let mut changed = false;
                if let Some(p) = self.parts.get_mut(&key) {
                    tracing::debug!(identity = %p.info.identity, ?pc, "peer connection up");
                    if p.info.state != proto::participant_info::State::Active as i32 {
                        p.info.state = proto::participant_info::State::Active as i32;
                        p.bump_version();
                        changed = true;
                    }
                }
                if changed {
                    self.broadcast_participant(key);
                }
            }
            Action::Dead { key } => self.remove(key, None),
            Action::MediaAdded { from, mid, kind } => self.media_added(from, mid, kind),
            Action::MediaInactive { from, mid } => self.media_inactive(from, mid),
            Action::Media { from, data } => self.forward(from, data),
            Action::KeyframeRequest { to, track_sid, rid } => {
                self.request_keyframe(to, &track_sid, rid)
            }
            Action::Data {
                from,
                reliable,
                payload,
            } => self.route_data(from, reliable, &payload),
        }
    }

    fn media_added(&mut self, from: PKey, mid: Mid, kind: MediaKind) {
        let Some(p) = self.parts.get_mut(&from) else {
            return;
        };
        let track_id = p.publisher.media(mid).map(|m| m.track_id().to_owned());
        let negotiated = negotiated_mime(&p.publisher, mid);
        let want_type = if kind.is_audio() {
            proto::TrackType::Audio
        } else {
            proto::TrackType::Video
        } as i32;
        let idx = track_id
            .as_ref()
            .and_then(|tid| p.pending.iter().position(|(cid, _)| cid == tid))
            .or_else(|| p.pending.iter().position(|(_, i)| i.r#type == want_type));
        let Some(idx) = idx else {
            tracing::warn!(identity = %p.info.identity, %mid, "media without AddTrackRequest");
            return;
        };
        let (_, mut info) = p.pending.remove(idx);
        info.mid = mid.to_string();
        if let Some(mime) = negotiated {
            info.mime_type = mime;
        }
        let up = UpTrack {
            info,
            mid,
            kind,
            rids_seen: vec![],
            last_keyframe_request: vec![],
            announced: None,
        };
        tracing::info!(identity = %p.info.identity, track = %up.info.sid, ?kind, "track published");
        let room = p.room.clone();
        let track_ref = UpTrackRef::of(&p.info.sid, &up);
        p.tracks.push(up);
        p.info.is_publisher = true;
        p.bump_version();
        self.broadcast_participant(from);
        for k in self.members(&room) {
            if k == from {
                continue;
            }
            if let Some(o) = self.parts.get_mut(&k) {
                if o.auto_subscribe && o.grant.claims.video.can_subscribe() {
                    o.down.push(DownTrack::new(
                        from,
                        &track_ref.from_sid,
                        &track_ref.sid,
                        kind,
                    ));
                }
            }
        }
        self.announce_qualities(&room);
    }

    fn media_inactive(&mut self, from: PKey, mid: Mid) {
        let Some(p) = self.parts.get_mut(&from) else {
            return;
        };
        let Some(idx) = p.tracks.iter().position(|t| t.mid == mid) else {
            return;
        };
        let t = p.tracks.remove(idx);
        p.send(Resp::TrackUnpublished(proto::TrackUnpublishedResponse {
            track_sid: t.info.sid.clone(),
        }));
        p.bump_version();
        let room = p.room.clone();
        self.broadcast_participant(from);
        for k in self.members(&room) {
            if let Some(o) = self.parts.get_mut(&k) {
                for d in o.down.iter_mut().filter(|d| d.track_sid == t.info.sid) {
                    d.state = match d.state {
                        DownState::Open(m) | DownState::Negotiating(m) => DownState::ToStop(m),
                        s => s,
                    };
                }
                o.down
                    .retain(|d| !(d.track_sid == t.info.sid && d.state == DownState::ToOpen));
            }
        }
    }

    /// Starts an offer on a participant's subscriber connection when tracks were added or
    /// removed and no offer is outstanding.
    fn negotiate_subscriber(&mut self, key: PKey) {
        let Some(p) = self.parts.get_mut(&key) else {
            return;
        };
        if p.sub_pending.is_some() || p.signal_lost.is_some() {
            return;
        }
        if !p.sub_ice_restart
            && !p
                .down
                .iter()
                .any(|d| matches!(d.state, DownState::ToOpen | DownState::ToStop(_)))
        {
            return;
        }
        let mut api = p.subscriber.sdp_api();
        if std::mem::take(&mut p.sub_ice_restart) {
            tracing::info!(identity = %p.info.identity, "subscriber ICE restart");
            // The server's candidates stay the same: only the credentials change.
            api.ice_restart(true);
        }
        let mut opened = vec![];
        for (i, d) in p.down.iter().enumerate() {
            match d.state {
                DownState::ToOpen => opened.push(i),
                DownState::ToStop(m) => api.stop_media(m),
                _ => {}
            }
        }
        // Stream ids carry the publisher's participant sid, as LiveKit's "PA_x|TR_y".
        let mut mids = vec![];
        for i in &opened {
            let d = &p.down[*i];
            let stream = format!("{}|{}", d.from_sid, d.track_sid);
            let mid = api.add_media(
                d.kind,
                Direction::SendOnly,
                Some(stream),
                Some(d.track_sid.clone()),
                None,
            );
            mids.push(mid);
        }
        let applied = api.apply();
        for (i, mid) in opened.iter().zip(mids) {
            p.down[*i].state = DownState::Negotiating(mid);
        }
        for d in &mut p.down {
            if let DownState::ToStop(m) = d.state {
                d.state = DownState::NegotiatingStop(m);
            }
        }
        if let Some((offer, pending)) = applied {
            p.sub_pending = Some(pending);
            p.send(Resp::Offer(proto::SessionDescription {
                r#type: "offer".into(),
                sdp: offer.to_sdp_string(),
                ..Default::default()
            }));
        }
    }

    // ---- forwarding ----------------------------------------------------------------------

    fn forward(&mut self, from: PKey, data: MediaData) {
        let now = Instant::now();
        let Some(p) = self.parts.get_mut(&from) else {
            return;
        };
        let Some(t) = p.tracks.iter_mut().find(|t| t.mid == data.mid) else {
            return;
        };
        if let Some(rid) = data.rid {
            match t.rids_seen.iter_mut().find(|(r, _)| *r == rid) {
                Some(e) => e.1 = now,
                None => t.rids_seen.push((rid, now)),
            }
        }
        let sid = t.info.sid.clone();
        let is_audio = t.kind.is_audio();
        let muted = t.info.muted;
        let psid = p.info.sid.clone();
        let room = p.room.clone();
        // Worked out once per frame for every subscriber.
        let live_rids = t.live_rids(now);
        // A frame was lost for good upstream: what follows references a picture subscribers
        // will never get, so they wait for the next keyframe (asked for below). Forwarding it
        // would show a corrupt picture: subscribers cannot see the gap, since each leg
        // numbers its packets anew.
        let upstream_gap = !data.contiguous && !is_audio;
        if upstream_gap {
            self.stats.upstream_gaps += 1;
            self.request_keyframe(from, &sid, data.rid);
        }
        if is_audio {
            if let (Some(level), Some(r)) = (data.ext_vals.audio_level, self.rooms.get_mut(&room)) {
                if !muted {
                    r.speakers.observe(&psid, level, now);
                }
            }
        }
        if muted {
            return;
        }
        let keyframe = !is_audio && is_keyframe(&data);
        let mut want_keyframe: Vec<Option<Rid>> = vec![];
        for k in self.members(&room) {
            if k == from {
                continue;
            }
            let Some(o) = self.parts.get_mut(&k) else {
                continue;
            };
            let Some(d) = o.down.iter_mut().find(|d| d.track_sid == sid) else {
                continue;
            };
            let DownState::Open(mid) = d.state else {
                continue;
            };
            if d.disabled {
                continue;
            }
            let time = data.time.numer();
            if let Some(rid) = data.rid {
                // Simulcast: choose the layer, switch on a keyframe of the target layer.
                let target = simulcast::pick_rid(live_rids.iter().map(|r| r.as_ref()), d.want)
                    .map(|r| Rid::from(r.as_str()));
                if d.current != target {
                    // Layers are sent together: a keyframe that started arriving more than
                    // half a frame before the last forwarded frame shows an older picture.
                    let not_older = d
                        .last_forwarded_at
                        .is_none_or(|at| data.network_time + Duration::from_millis(15) >= at);
                    if target == Some(rid) && keyframe && !not_older {
                        d.older_keyframes_skipped += 1;
                    }
                    let take = not_older || d.older_keyframes_skipped > 2;
                    if target == Some(rid) && keyframe && take {
                        tracing::debug!(track = %sid, from = ?d.current, to = %rid, "layer switch");
                        d.older_keyframes_skipped = 0;
                        d.current = Some(rid);
                        d.rebase.rebase(time, d.step);
                        d.waiting_keyframe = false;
                    } else {
                        if target.is_some() && !want_keyframe.contains(&target) {
                            want_keyframe.push(target);
                        }
                        if d.current != Some(rid) {
                            continue;
                        }
                    }
                } else if d.current != Some(rid) {
                    continue;
                }
            }
            if upstream_gap && !keyframe {
                d.waiting_keyframe = true;
            }
            if d.waiting_keyframe && !is_audio {
                if keyframe {
                    d.waiting_keyframe = false;
                } else {
                    if !want_keyframe.contains(&data.rid) {
                        want_keyframe.push(data.rid);
                    }
                    continue;
                }
            }
            if let Some(last) = d.last_in_time {
                if d.current == data.rid && time > last && time - last < 90_000 {
                    d.step = time - last;
                }
            }
            d.last_in_time = Some(time);
            let out_time = MediaTime::new(d.rebase.map(time), data.time.frequency());
            let Some(writer) = o.subscriber.writer(mid) else {
                continue;
            };
            let Some(pt) = writer.match_params(data.params) else {
                continue;
            };
            let mut writer = writer;
            if let Some(level) = data.ext_vals.audio_level {
                writer = writer.audio_level(level, data.ext_vals.voice_activity.unwrap_or(false));
            }
            let wallclock = d
                .last_wallclock
                .map_or(data.network_time, |w| w.max(data.network_time));
            d.last_wallclock = Some(wallclock);
            if let Err(e) = writer.write(pt, wallclock, out_time, data.data.clone()) {
                tracing::debug!("write failed: {e}");
            } else {
                d.last_forwarded_at = Some(data.network_time);
                self.stats.frames_forwarded += 1;
                let waited = now.saturating_duration_since(data.network_time);
                self.latency
                    .push(waited.as_micros().min(u128::from(u32::MAX)) as u32);
            }
        }
        for rid in want_keyframe {
            self.request_keyframe(from, &sid, rid);
        }
    }

    fn route_data(&mut self, from: PKey, reliable: bool, payload: &[u8]) {
        let Some(p) = self.parts.get(&from) else {
            return;
        };
        if !p.grant.claims.video.can_publish_data() {
            return;
        }
        let Ok(mut packet) = proto::DataPacket::decode(payload) else {
            tracing::debug!(identity = %p.info.identity, "malformed data packet dropped");
            return;
        };
        // The server, not the sender, says who sent it.
        packet.participant_identity = p.info.identity.clone();
        packet.participant_sid = p.info.sid.clone();
        let mut dest: Vec<String> = packet.destination_identities.clone();
        if let Some(proto::data_packet::Value::User(u)) = &mut packet.value {
            u.participant_identity = p.info.identity.clone();
            u.participant_sid = p.info.sid.clone();
            dest.extend(u.destination_identities.iter().cloned());
            let sids = u.destination_sids.clone();
            for k in self.members(&p.room) {
                if let Some(o) = self.parts.get(&k) {
                    if sids.contains(&o.info.sid) {
                        dest.push(o.info.identity.clone());
                    }
                }
            }
        }
        let bytes = packet.encode_to_vec();
        let room = p.room.clone();
        for k in self.members(&room) {
            if k == from {
                continue;
            }
            let send = match self.parts.get(&k) {
                Some(o) => dest.is_empty() || dest.contains(&o.info.identity),
                None => false,
            };
            if send {
                self.send_data(k, reliable, &bytes);
            }
        }
    }

    fn send_data(&mut self, key: PKey, reliable: bool, bytes: &[u8]) {
        let Some(o) = self.parts.get_mut(&key) else {
            return;
        };
        let id = if reliable {
            o.sub_reliable
        } else {
            o.sub_lossy
        };
        match id.and_then(|id| o.subscriber.channel(id)) {
            Some(mut ch) => {
                let _ = ch.write(true, bytes);
            }
            // Not open yet (still joining): reliable data waits for it, lossy data is dropped
            // as it would be on the wire.
            None if reliable => o.sub_backlog.push(bytes),
            None => {}
        }
    }

    // ---- periodic work -------------------------------------------------------------------

    fn housekeeping(&mut self, now: Instant) {
        self.last_housekeeping = now;
        // Sessions whose signalling did not come back.
        let lost: Vec<PKey> = self
            .parts
            .values()
            .filter(|p| {
                p.signal_lost
                    .is_some_and(|t| now.saturating_duration_since(t) > RESUME_WINDOW)
            })
            .map(|p| p.key)
            .collect();
        for k in lost {
            self.remove(k, None);
        }
        // Empty rooms go after the departure timeout.
        let departure = self.cfg.departure_timeout;
        self.rooms.retain(|name, r| {
            let keep = r
                .empty_since
                .is_none_or(|t| now.saturating_duration_since(t) < departure);
            if !keep {
                tracing::info!(room = %name, "room closed");
            }
            keep
        });
        // Active speakers.
        let names: Vec<String> = self.rooms.keys().cloned().collect();
        // Dynacast: layers nobody watches are paused at the publisher (sent on change only).
        for name in &names {
            self.announce_qualities(name);
        }
        for name in &names {
            let changes = match self.rooms.get_mut(name) {
                Some(r) => r.speakers.changes(now),
                None => continue,
            };
            if changes.is_empty() {
                continue;
            }
            let msg = Resp::SpeakersChanged(proto::SpeakersChanged {
                speakers: changes
                    .into_iter()
                    .map(|c| proto::SpeakerInfo {
                        sid: c.sid,
                        level: c.level,
                        active: c.active,
                    })
                    .collect(),
            });
            for k in self.members(name) {
                if let Some(p) = self.parts.get(&k) {
                    p.send(msg.clone());
                }
            }
        }
        // Connection quality every 5 s.
        if now.saturating_duration_since(self.last_quality) >= Duration::from_secs(5) {
            self.last_quality = now;
            for name in &names {
                let updates: Vec<proto::ConnectionQualityInfo> = self
                    .members(name)
                    .iter()
                    .filter_map(|k| self.parts.get(k))
                    .map(|p| {
                        let connected = p.signal_lost.is_none() && p.subscriber.is_connected();
                        let (quality, score) = quality::classify(p.link, connected);
                        proto::ConnectionQualityInfo {
                            participant_sid: p.info.sid.clone(),
                            quality: quality as i32,
                            score,
                        }
                    })
                    .collect();
                for k in self.members(name) {
                    if let Some(p) = self.parts.get_mut(&k) {
                        p.link = LinkStats::default();
                    }
                }
                let msg = Resp::ConnectionQuality(proto::ConnectionQualityUpdate { updates });
                for k in self.members(name) {
                    if let Some(p) = self.parts.get(&k) {
                        p.send(msg.clone());
                    }
                }
            }
        }
    }
}

/// The codec a publisher's m-line carries, as LiveKit names it in `TrackInfo.mime_type`:
/// the first payload type the client offered that we also support.
fn negotiated_mime(rtc: &Rtc, mid: Mid) -> Option<String> {
    use str0m::format::Codec;
    let media = rtc.media(mid)?;
    let config = rtc.codec_config();
    let codec = media.remote_pts().iter().find_map(|pt| {
        config
            .params()
            .iter()
            .find(|p| p.pt() == *pt)
            .map(|p| p.spec().codec)
    })?;
    Some(
        match codec {
            Codec::Opus => "audio/opus",
            Codec::Vp8 => "video/VP8",
            Codec::Vp9 => "video/VP9",
            Codec::H264 => "video/H264",
            Codec::H265 => "video/H265",
            Codec::Av1 => "video/AV1",
            _ => return None,
        }
        .to_owned(),
    )
}

/// What a subscription needs to know of a published track.
struct UpTrackRef {
    from_sid: String,
    sid: String,
    kind: MediaKind,
}

impl UpTrackRef {
    fn of(from_sid: &str, t: &UpTrack) -> Self {
        Self {
            from_sid: from_sid.to_owned(),
            sid: t.info.sid.clone(),
            kind: t.kind,
        }
    }
}

#[cfg(test)]
mod parked_stun_tests {
    use super::{is_stun, DataBacklog};

    #[test]
    fn data_backlog_keeps_the_newest_within_its_bounds() {
        let mut b = DataBacklog::default();
        for i in 0..300u32 {
            b.push(&i.to_be_bytes());
        }
        let kept: Vec<_> = b.take().into_iter().collect();
        assert_eq!(kept.len(), DataBacklog::MAX_PACKETS);
        assert_eq!(kept[0], 44u32.to_be_bytes());
        assert_eq!(kept.last().unwrap(), &299u32.to_be_bytes());
        assert!(b.take().is_empty(), "taken once");
        let big = vec![0u8; DataBacklog::MAX_BYTES / 2 + 1];
        b.push(&big);
        b.push(&big);
        b.push(b"x");
        let kept = b.take();
        assert_eq!(kept.len(), 2, "the older big packet made room");
        b.push(&vec![0u8; DataBacklog::MAX_BYTES + 1]);
        assert!(b.take().is_empty(), "a packet over the bound is not kept");
    }

    #[test]
    fn tells_stun_from_other_datagrams() {
        let mut binding = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        binding.extend([0u8; 12]);
        assert!(is_stun(&binding));
        assert!(!is_stun(&binding[..19]), "shorter than a STUN header");
        let mut rtp = binding.clone();
        rtp[0] = 0x80;
        assert!(!is_stun(&rtp), "RTP version 2");
        let mut dtls = binding.clone();
        dtls[0] = 22;
        assert!(!is_stun(&dtls), "DTLS handshake");
        let mut no_cookie = binding;
        no_cookie[4] = 0;
        assert!(!is_stun(&no_cookie));
    }
}
