//! The app's logic behind every BRIDGE.md command, without Tauri: it owns the engine
//! [`engine::Room`], turns engine events into `room` events, feeds the video lane and tells
//! the server which video to send (adaptive stream). The Tauri commands are thin wrappers,
//! so tests drive this directly against the in-process room server, no display needed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::{PlayoutOptions, PublishOptions, Room, RoomOptions, TrackKind, TrackSetting};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;
use visio_api::{AdminAuth, VisioClient};

use crate::bridge::*;
use crate::links;
use crate::local_media::LocalMedia;
use crate::on_device::{self, DeviceCaptions, MeetingInfo};
use crate::settings::{now_iso, Store};
use crate::video_lane::{VideoLane, LOCAL_CAMERA};

/// Where `room` events go (the Tauri window, or a test's channel).
pub type Emit = Arc<dyn Fn(RoomEvent) + Send + Sync>;

/// How the app was started.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub link: Option<String>,
    pub auto_join: bool,
    pub name: Option<String>,
    /// Size of the published camera (the synthetic pattern), `1280x720` by default.
    pub camera_size: Option<(u32, u32)>,
    pub default_server: Option<String>,
    /// The test pattern and tone instead of the camera and microphone (tests, demos).
    pub fake_devices: bool,
    /// How long to wait in a room's lobby (Visio: 10 minutes).
    pub lobby_timeout: Option<Duration>,
}

/// Device ids of the synthetic camera and microphone (`--fake-devices`).
pub const SYNTHETIC_CAMERA: &str = "synthetic-pattern";
pub const SYNTHETIC_MICROPHONE: &str = "synthetic-tone";

pub struct Client {
    pub store: Store,
    pub lane: VideoLane,
    pub launch: Launch,
    local_media: LocalMedia,
    emit: Emit,
    meeting: tokio::sync::Mutex<Option<Meeting>>,
    low_bandwidth: Mutex<LowBandwidthMode>,
    /// One Visio API client per server, so that its cookies (the session that owns the rooms
    /// created here, the lobby's participant id) last across commands.
    apis: Mutex<HashMap<String, VisioClient>>,
    /// Cancels the `join` waiting in a lobby, if one is.
    lobby: Mutex<Option<CancellationToken>>,
}

struct Meeting {
    room: Arc<Room>,
    pump: tokio::task::JoinHandle<()>,
    shared: Arc<Mutex<Shared>>,
    /// Visio's API of the meeting's server, the room's key there and our LiveKit token
    /// (the Bearer for `toggle-hand/`).
    api: visio_api::VisioClient,
    room_key: String,
    token: String,
    is_admin: bool,
    room_code: String,
    /// On-device captions, when on; the event pump feeds them audio.
    captions: CaptionsSlot,
    emit: Emit,
}

type CaptionsSlot = Arc<Mutex<Option<DeviceCaptions>>>;

/// What the event pump and the commands both read and change.
struct Shared {
    local: Participant,
    remote: HashMap<String, Participant>,
    want_camera: bool,
    want_mic: bool,
    tiles: Vec<VideoTile>,
    mode: LowBandwidthMode,
    speakers: Vec<String>,
    /// What the server was last told per track, to send only changes.
    sent: HashMap<String, TrackSetting>,
}

impl Client {
    /// Must run inside a tokio runtime (it starts the video lane and the local media task).
    pub async fn start(launch: Launch, store: Store, emit: Emit) -> std::io::Result<Client> {
        let lane = VideoLane::start().await?;
        let level_emit = emit.clone();
        let local_media = LocalMedia::start(lane.clone(), launch.fake_devices, move |level| {
            level_emit(RoomEvent::MicLevel { level })
        });
        let low_bandwidth = Mutex::new(store.settings().low_bandwidth);
        Ok(Client {
            store,
            lane,
            launch,
            local_media,
            emit,
            meeting: Default::default(),
            low_bandwidth,
            apis: Default::default(),
            lobby: Default::default(),
        })
    }

    pub fn default_server(&self) -> String {
        self.launch
            .default_server
            .clone()
            .unwrap_or_else(|| links::DEFAULT_SERVER.into())
    }

    pub fn app_info(&self) -> AppInfo {
        AppInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            locale: self.store.settings().language,
            launch_link: self.launch.link.clone(),
            auto_join: self.launch.auto_join,
            default_server: self.default_server(),
            video_lane: VideoLaneInfo {
                url: self.lane.url().into(),
            },
        }
    }

    pub fn resolve_room(&self, input: &str) -> CmdResult<RoomRef> {
        links::resolve(input, &self.default_server())
    }

    /// A new room: without an access level a fresh random code (any valid code is a room);
    /// with one, registered on the server, which makes this app its administrator.
    pub async fn create_room(
        &self,
        server: Option<String>,
        access_level: Option<visio_api::AccessLevel>,
    ) -> CmdResult<RoomRef> {
        let server = server.unwrap_or_else(|| self.default_server());
        let fresh = links::resolve(&room_code::random(), &server)?;
        let Some(level) = access_level else {
            return Ok(fresh);
        };
        let api = self.api_for(&fresh.link)?;
        let room = api.create_room(None, level).await?;
        links::resolve(&room.slug, &server)
    }

    /// The API client of the server of `link`, the same one each time.
    fn api_for(&self, link: &str) -> CmdResult<VisioClient> {
        let link = visio_api::RoomLink::parse(link)?;
        let mut apis = self.apis.lock().map_err(internal)?;
        if let Some(api) = apis.get(link.server.as_str()) {
            return Ok(api.clone());
        }
        let api = VisioClient::new(&link.server, Default::default())?;
        apis.insert(link.server.to_string(), api.clone());
        Ok(api)
    }

    pub fn settings(&self) -> Settings {
        let mut s = self.store.settings();
        if s.display_name.is_empty() {
            if let Some(n) = &self.launch.name {
                s.display_name = n.clone();
            }
        }
        s
    }

    /// The machine's cameras, microphones and speakers; with `--fake-devices` the synthetic
    /// camera and microphone (what is then published) and the real speakers.
    pub fn list_devices(&self) -> Devices {
        let entry = |d: media::DeviceInfo| Device {
            id: d.id,
            label: d.label,
            is_default: d.default,
        };
        let speakers = media::list_audio(media::DeviceKind::Speaker)
            .into_iter()
            .map(entry)
            .collect();
        if self.launch.fake_devices {
            return Devices {
                cameras: vec![Device {
                    id: SYNTHETIC_CAMERA.into(),
                    label: "Mire de test (caméra simulée)".into(),
                    is_default: true,
                }],
                microphones: vec![Device {
                    id: SYNTHETIC_MICROPHONE.into(),
                    label: "Tonalité 440 Hz (micro simulé)".into(),
                    is_default: true,
                }],
                speakers,
            };
        }
        Devices {
            cameras: media::list_cameras().into_iter().map(entry).collect(),
            microphones: media::list_audio(media::DeviceKind::Microphone)
                .into_iter()
                .map(entry)
                .collect(),
            speakers,
        }
    }

    /// A short 440 Hz tone on `speaker` (`None`: the system default) through the same
    /// playout path as the meeting's audio (Opus, jitter buffer, mixer, cpal). Returns once
    /// the device is open; the tone plays on its own thread.
    pub async fn play_test_sound(&self, speaker: Option<String>) -> CmdResult<()> {
        tokio::task::spawn_blocking(move || {
            let playout = media::Playout::open(speaker.as_deref(), TEST_SOUND_JITTER)?;
            for (seq, packet) in test_sound_packets()?.into_iter().enumerate() {
                playout.push("test-sound", seq as u64, packet);
            }
            // ALSA's pulse plugin buffers up to about 2 s before it plays: keep the device
            // open long enough for the whole tone, away from the command.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2500));
                if let Some(f) = playout.failure() {
                    tracing::warn!("test sound: the speaker failed: {f}");
                }
                drop(playout);
            });
            Ok(())
        })
        .await
        .map_err(internal)?
    }

    /// The pre-join preview of the chosen camera and microphone (`null`: that one off). A
    /// device that cannot be opened is its error code; the other one still previews.
    pub async fn start_preview(&self, req: PreviewRequest) -> CmdResult<()> {
        let media = self.local_media.clone();
        tokio::task::spawn_blocking(move || {
            media.preview(req.camera_id.map(Some), req.microphone_id.map(Some))
        })
        .await
        .map_err(internal)??;
        Ok(())
    }

    pub async fn stop_preview(&self) {
        // In a meeting the (synthetic) self view stays as the camera/mic are.
        let m = self.meeting.lock().await;
        let wants = m
            .as_ref()
            .and_then(|m| m.shared.lock().ok().map(|s| (s.want_camera, s.want_mic)));
        match wants {
            Some((_, mic)) => self.local_media.in_meeting(mic),
            None => self.local_media.off(),
        }
    }

    pub async fn join(&self, req: JoinRequest) -> CmdResult<JoinResult> {
        let room_ref = self.resolve_room(&req.link)?;
        let name = req.display_name.trim();
        if name.is_empty() {
            return Err(AppError::new(
                ErrorCode::Internal,
                "a display name is needed",
            ));
        }
        (self.emit)(RoomEvent::ConnectionState {
            state: ConnectionState::Connecting,
            reason: None,
            code: None,
        });
        let link = visio_api::RoomLink::parse(&room_ref.link)?;
        let api = self.api_for(&room_ref.link)?;
        let visio_room = api.room(&link.slug, name).await?;
        let access = match visio_room.livekit.clone() {
            Some(access) => access,
            None => self.wait_in_lobby(&api, visio_room.key(), name).await?,
        };
        let mut slot = self.meeting.lock().await;
        if let Some(old) = slot.take() {
            old.leave().await;
        }
        // The machine's devices go to the engine, which opens them now.
        self.local_media.in_meeting(req.mic_on);
        let (room, events) =
            Room::connect(&access.url, &access.token, self.room_options(&req)).await?;
        let room = Arc::new(room);
        self.lane.attach_room(Some(Arc::downgrade(&room)));
        let lp = room.local_participant().clone();
        let remote: HashMap<String, Participant> = room
            .remote_participants()
            .await?
            .iter()
            .map(|p| (p.identity.clone(), Participant::remote(p)))
            .collect();
        let shared = Arc::new(Mutex::new(Shared {
            local: Participant {
                identity: lp.identity.clone(),
                sid: lp.sid.clone(),
                name: if lp.name.is_empty() {
                    name.to_owned()
                } else {
                    lp.name.clone()
                },
                is_local: true,
                attributes: HashMap::new(),
                hand_raised_at: None,
                tracks: vec![],
                quality: Quality::Unknown,
                speaking: false,
                several_voices: false,
            },
            remote,
            want_camera: req.camera_on,
            want_mic: req.mic_on,
            tiles: vec![],
            mode: *self.low_bandwidth.lock().map_err(internal)?,
            speakers: vec![],
            sent: HashMap::new(),
        }));
        let _ = self.store.add_recent(&room_ref, now_iso());
        let captions: CaptionsSlot = Arc::default();
        let pump = tokio::spawn(pump(
            events,
            room.clone(),
            shared.clone(),
            self.lane.clone(),
            self.emit.clone(),
            captions.clone(),
        ));
        let result = {
            let s = shared.lock().map_err(internal)?;
            JoinResult {
                room_name: room.name().to_owned(),
                room_code: room_ref.room_code.clone(),
                link: room_ref.link.clone(),
                is_admin: visio_room.is_administrable,
                local: s.local.clone(),
                participants: s.remote.values().cloned().collect(),
            }
        };
        apply_subscriptions(&room, &shared, &self.lane);
        *slot = Some(Meeting {
            room,
            pump,
            shared,
            api,
            room_key: visio_room.key().to_owned(),
            token: access.token,
            is_admin: visio_room.is_administrable,
            room_code: room_ref.room_code.clone(),
            captions,
            emit: self.emit.clone(),
        });
        if self.store.settings().on_device_captions {
            // In the background: loading a model takes a moment, and a missing one must not
            // stop the meeting (the UI hears of it by the `onDeviceCaptions` event).
            if let Some(m) = slot.as_ref() {
                let start = m.captions_starter(&self.store.settings());
                tokio::spawn(async move {
                    let _ = start.await;
                });
            }
        }
        Ok(result)
    }

    /// What to publish and where to play: the chosen camera and microphone (the synthetic
    /// ones with `--fake-devices` or when chosen), the chosen speaker.
    fn room_options(&self, req: &JoinRequest) -> RoomOptions {
        let (w, h) = self.launch.camera_size.unwrap_or((1280, 720));
        let fake = self.launch.fake_devices
            || req.camera_id.as_deref() == Some(SYNTHETIC_CAMERA)
            || req.microphone_id.as_deref() == Some(SYNTHETIC_MICROPHONE);
        let base = if fake {
            PublishOptions::fake_devices()
        } else {
            PublishOptions::devices()
        };
        RoomOptions {
            publish: Some(PublishOptions {
                width: w,
                height: h,
                camera: req.camera_id.clone().filter(|_| !fake),
                microphone: req.microphone_id.clone().filter(|_| !fake),
                ..base
            }),
            // The synthetic devices are for tests and demos, which run without sound.
            playout: (!fake).then(|| PlayoutOptions {
                device: req.speaker_id.clone(),
            }),
            // For the video lane's WebCodecs path (it picks the path per track).
            encoded_video: true,
            // The self view: the camera as published, from the layer that fits a tile.
            local_video_frames: Some(engine::SelfView::default()),
            ..Default::default()
        }
    }

    /// Waits in the lobby until admitted (the LiveKit access), refused (`denied`), timed out
    /// (`lobby_timeout`) or cancelled by [`Client::cancel_join`] (`cancelled`).
    async fn wait_in_lobby(
        &self,
        api: &VisioClient,
        room_key: &str,
        name: &str,
    ) -> CmdResult<visio_api::LiveKitAccess> {
        let cancel = CancellationToken::new();
        if let Some(old) = self.lobby.lock().map_err(internal)?.replace(cancel.clone()) {
            old.cancel();
        }
        (self.emit)(RoomEvent::Lobby {
            status: visio_api::LobbyStatus::Waiting,
        });
        let limit = self
            .launch
            .lobby_timeout
            .unwrap_or(visio_api::LOBBY_TIMEOUT);
        let result = api
            .wait_for_entry(
                room_key,
                name,
                visio_api::LOBBY_POLL_INTERVAL,
                limit,
                &cancel,
                |_| {},
            )
            .await;
        // Done waiting: drop our token, not the one of a join that replaced this one.
        cancel.cancel();
        if let Ok(mut l) = self.lobby.lock() {
            l.take_if(|c| c.is_cancelled());
        }
        let status = match &result {
            Ok(_) => visio_api::LobbyStatus::Accepted,
            Err(visio_api::ApiError::Denied) => visio_api::LobbyStatus::Denied,
            Err(_) => visio_api::LobbyStatus::Unknown,
        };
        (self.emit)(RoomEvent::Lobby { status });
        Ok(result?)
    }

    /// Stops waiting in the lobby: the pending `join` fails with `cancelled`.
    pub fn cancel_join(&self) {
        if let Some(c) = self.lobby.lock().ok().and_then(|mut l| l.take()) {
            c.cancel();
        }
    }

    /// The lobby of the meeting's room (administrators).
    pub async fn waiting_participants(&self) -> CmdResult<Vec<WaitingParticipant>> {
        self.with_admin(async |m| {
            let list = m
                .api
                .waiting_participants(&m.room_key, AdminAuth::Bearer(&m.token))
                .await?;
            Ok(list
                .into_iter()
                .filter(|p| p.status == visio_api::LobbyStatus::Waiting)
                .map(|p| WaitingParticipant {
                    id: p.id,
                    name: p.username,
                })
                .collect())
        })
        .await
    }

    /// Admits (or refuses) someone waiting in the lobby (administrators).
    pub async fn admit_participant(&self, id: &str, allow: bool) -> CmdResult<()> {
        self.with_admin(async |m| {
            m.api
                .enter(&m.room_key, id, allow, AdminAuth::Bearer(&m.token))
                .await?;
            Ok(())
        })
        .await
    }

    /// Mutes another participant's microphone (administrators).
    pub async fn mute_participant(&self, identity: &str) -> CmdResult<()> {
        self.with_admin(async |m| {
            let track = {
                let s = m.shared.lock().map_err(internal)?;
                let p = s.remote.get(identity).ok_or_else(|| {
                    AppError::new(ErrorCode::NotConnected, format!("{identity} is not here"))
                })?;
                p.tracks
                    .iter()
                    .find(|t| t.kind == TrackKind::Audio && t.source != "screen_share_audio")
                    .map(|t| t.sid.clone())
                    .ok_or_else(|| {
                        AppError::new(
                            ErrorCode::MicrophoneMissing,
                            format!("{identity} publishes no microphone"),
                        )
                    })?
            };
            m.api
                .mute_participant(&m.room_key, AdminAuth::Bearer(&m.token), identity, &track)
                .await?;
            Ok(())
        })
        .await
    }

    /// Removes another participant from the meeting (administrators).
    pub async fn remove_participant(&self, identity: &str) -> CmdResult<()> {
        self.with_admin(async |m| {
            m.api
                .remove_participant(&m.room_key, AdminAuth::Bearer(&m.token), identity)
                .await?;
            Ok(())
        })
        .await
    }

    async fn with_admin<T>(&self, f: impl AsyncFnOnce(&Meeting) -> CmdResult<T>) -> CmdResult<T> {
        self.with_meeting(async |m| {
            if !m.is_admin {
                return Err(AppError::new(
                    ErrorCode::Denied,
                    "only an organiser of the room can do this",
                ));
            }
            f(m).await
        })
        .await
    }

    pub async fn leave(&self) {
        if let Some(m) = self.meeting.lock().await.take() {
            m.leave().await;
        }
        self.lane.set_sizes(HashMap::new());
        self.lane.clear(LOCAL_CAMERA);
        self.local_media.off();
    }

    /// Turns on-device captions on or off: saved as the setting, and applied at once in a
    /// meeting. Turning them on checks first that a model and the speech runtime are here.
    pub async fn set_on_device_captions(&self, enabled: bool) -> CmdResult<()> {
        if enabled {
            let s = self.store.settings();
            on_device::choose_model(s.captions_model.as_deref())?;
            on_device::speech_runtime()
                .map_err(|m| AppError::new(ErrorCode::SpeechUnavailable, m))?;
        }
        self.store.update_settings(SettingsPatch {
            on_device_captions: Some(enabled),
            ..Default::default()
        })?;
        let m = self.meeting.lock().await;
        let Some(m) = m.as_ref() else { return Ok(()) };
        if enabled {
            let running = m.captions.lock().map(|c| c.is_some()).unwrap_or(false);
            if running {
                return Ok(());
            }
            let started = m.captions_starter(&self.store.settings()).await;
            if started.is_err() {
                // Not left on: the next meeting would fail the same way.
                let _ = self.store.update_settings(SettingsPatch {
                    on_device_captions: Some(false),
                    ..Default::default()
                });
            }
            started
        } else {
            stop_device_captions(&m.captions, &m.room, &m.emit).await;
            Ok(())
        }
    }

    async fn with_meeting<T>(&self, f: impl AsyncFnOnce(&Meeting) -> CmdResult<T>) -> CmdResult<T> {
        let m = self.meeting.lock().await;
        let m = m
            .as_ref()
            .ok_or_else(|| AppError::new(ErrorCode::NotConnected, "not in a meeting"))?;
        f(m).await
    }

    pub async fn set_microphone(&self, enabled: bool) -> CmdResult<()> {
        self.set_local(TrackKind::Audio, enabled).await?;
        self.local_media.set_mic(enabled);
        Ok(())
    }

    pub async fn set_camera(&self, enabled: bool) -> CmdResult<()> {
        self.set_local(TrackKind::Video, enabled).await?;
        if !enabled {
            // The engine sends no more pictures: none of the last one is shown when it is back.
            self.lane.clear(LOCAL_CAMERA);
        }
        Ok(())
    }

    /// In a meeting, publishes (or plays on) the device chosen instead of the current one;
    /// outside one, or with the synthetic devices, the choice is for the next join.
    pub async fn switch_device(&self, kind: &str, id: &str) -> CmdResult<()> {
        if self.launch.fake_devices || id == SYNTHETIC_CAMERA || id == SYNTHETIC_MICROPHONE {
            return Ok(());
        }
        // Not holding the meeting while the device opens (it can take a second).
        let Some(room) = self.meeting.lock().await.as_ref().map(|m| m.room.clone()) else {
            return Ok(());
        };
        let id = Some(id.to_owned());
        let r = match kind {
            "camera" => room.set_camera(id).await,
            "microphone" => room.set_microphone(id).await,
            _ => room.set_speaker(id).await,
        };
        match r {
            // Joined without that device (it was missing then): the choice is for next time.
            Err(engine::EngineError::Media(why)) => {
                tracing::info!("{kind} not switched in this meeting: {why}");
                Ok(())
            }
            r => r.map_err(AppError::from),
        }
    }

    async fn set_local(&self, kind: TrackKind, enabled: bool) -> CmdResult<()> {
        self.with_meeting(async |m| {
            let published = {
                let mut s = m.shared.lock().map_err(internal)?;
                match kind {
                    TrackKind::Audio => s.want_mic = enabled,
                    TrackKind::Video => s.want_camera = enabled,
                }
                s.local.tracks.iter().any(|t| t.kind == kind)
            };
            // Not yet published: the pump applies the wish when the server accepts the track.
            if published {
                m.room.set_muted(kind, !enabled).await?;
                set_local_muted(&m.shared, kind, !enabled);
            }
            Ok(())
        })
        .await
    }

    pub async fn send_chat(&self, text: &str) -> CmdResult<ChatMessage> {
        let text = text.trim();
        if text.is_empty() {
            return Err(AppError::new(ErrorCode::Internal, "empty message"));
        }
        self.with_meeting(async |m| {
            m.room.send_chat_message(text).await?;
            let (identity, name) = {
                let s = m.shared.lock().map_err(internal)?;
                (s.local.identity.clone(), s.local.name.clone())
            };
            Ok(ChatMessage {
                id: format!("{:016x}", rand::random::<u64>()),
                from_identity: identity,
                from_name: name,
                text: text.to_owned(),
                timestamp: unix_ms(),
                is_local: true,
            })
        })
        .await
    }

    pub async fn send_reaction(&self, emoji: &str) -> CmdResult<()> {
        if emoji.is_empty() || emoji.chars().count() > 8 {
            return Err(AppError::new(ErrorCode::Internal, "not a reaction emoji"));
        }
        let payload = serde_json::json!({"type": "reactionReceived", "data": {"emoji": emoji}});
        self.with_meeting(async |m| {
            m.room
                .publish_data(payload.to_string().into_bytes(), true, None, vec![])
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn set_hand_raised(&self, raised: bool) -> CmdResult<()> {
        self.with_meeting(async |m| {
            let current = m
                .shared
                .lock()
                .map_err(internal)?
                .local
                .hand_raised_at
                .is_some();
            if current == raised {
                return Ok(());
            }
            m.api.toggle_hand(&m.room_key, &m.token, raised).await?;
            // The engine reports attribute changes of others only: tell our UI ourselves.
            let me = {
                let mut s = m.shared.lock().map_err(internal)?;
                s.local.hand_raised_at = raised.then(now_iso);
                s.local.clone()
            };
            (self.emit)(RoomEvent::ParticipantUpdated { participant: me });
            Ok(())
        })
        .await
    }

    pub async fn set_video_subscriptions(&self, tiles: Vec<VideoTile>) -> CmdResult<()> {
        let m = self.meeting.lock().await;
        match m.as_ref() {
            Some(m) => {
                m.shared.lock().map_err(internal)?.tiles = tiles;
                apply_subscriptions(&m.room, &m.shared, &self.lane);
            }
            // Before joining only the self view exists.
            None => self.lane.set_sizes(HashMap::new()),
        }
        Ok(())
    }

    pub async fn set_low_bandwidth(&self, mode: LowBandwidthMode) -> CmdResult<()> {
        *self.low_bandwidth.lock().map_err(internal)? = mode;
        let m = self.meeting.lock().await;
        if let Some(m) = m.as_ref() {
            m.shared.lock().map_err(internal)?.mode = mode;
            apply_subscriptions(&m.room, &m.shared, &self.lane);
        }
        Ok(())
    }

    /// Marks a participant as a meeting room whose microphone carries several voices (or no
    /// longer): on-device captions then tell the voices apart ("intervenant N"). Needs the
    /// speaker embedder (`speech_unavailable` otherwise); kept for the meeting, applied when
    /// captions start if they are off.
    pub async fn set_several_voices(&self, identity: &str, enabled: bool) -> CmdResult<()> {
        if enabled && on_device::speaker_embedder().is_none() {
            return Err(AppError::new(
                ErrorCode::SpeechUnavailable,
                format!(
                    "telling voices apart needs the speaker embedder (embedder.int8.onnx in {})",
                    on_device::models_dir().display()
                ),
            ));
        }
        self.with_meeting(async |m| {
            let updated = {
                let mut s = m.shared.lock().map_err(internal)?;
                let p = s.remote.get_mut(identity).ok_or_else(|| {
                    AppError::new(ErrorCode::Internal, format!("no participant {identity:?}"))
                })?;
                p.several_voices = enabled;
                p.clone()
            };
            if let Some(c) = m.captions.lock().map_err(internal)?.as_ref() {
                c.set_several_voices(identity, enabled)?;
            }
            (self.emit)(RoomEvent::ParticipantUpdated {
                participant: updated,
            });
            Ok(())
        })
        .await
    }

    /// Per remote track figures from the engine (benchmarks, diagnostics).
    pub async fn track_stats(&self) -> CmdResult<Vec<engine::TrackStats>> {
        self.with_meeting(async |m| Ok(m.room.track_stats().await?))
            .await
    }
}

impl Meeting {
    /// A future that loads the model and starts on-device captions for this meeting.
    fn captions_starter(
        &self,
        settings: &Settings,
    ) -> impl std::future::Future<Output = CmdResult<()>> + Send + 'static {
        let shared = self.shared.clone();
        let local_identity = shared
            .lock()
            .map(|s| s.local.identity.clone())
            .unwrap_or_default();
        let names: on_device::Names = Arc::new(move |id| {
            let s = shared.lock().ok()?;
            if s.local.identity == id {
                Some(s.local.name.clone())
            } else {
                s.remote.get(id).map(|p| p.name.clone())
            }
        });
        let several_voices = self
            .shared
            .lock()
            .map(|s| {
                s.remote
                    .values()
                    .filter(|p| p.several_voices)
                    .map(|p| p.identity.clone())
                    .collect()
            })
            .unwrap_or_default();
        let info = MeetingInfo {
            several_voices,
            room: self.room.clone(),
            room_code: self
                .room_code
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect(),
            local_identity,
            names,
            publish_mine: settings.publish_my_captions,
            save_transcript: settings.save_transcripts,
            threads: settings.caption_threads,
        };
        let model = settings.captions_model.clone();
        let (slot, emit, room) = (self.captions.clone(), self.emit.clone(), self.room.clone());
        async move {
            use crate::bridge::OnDeviceState as S;
            emit(on_device::state_event(S::Starting, None, None));
            let publish_mine = info.publish_mine;
            let started = {
                let emit = emit.clone();
                tokio::task::spawn_blocking(move || {
                    DeviceCaptions::start(model.as_deref(), info, emit)
                })
                .await
                .map_err(internal)
                .and_then(|r| r)
            };
            match started {
                Ok(c) => {
                    if let Ok(mut s) = slot.lock() {
                        *s = Some(c);
                    }
                    room.set_audio_frames(true, publish_mine)?;
                    emit(on_device::state_event(S::On, None, None));
                    Ok(())
                }
                Err(e) => {
                    tracing::warn!("on-device captions not started: {e}");
                    emit(on_device::state_event(S::Failed, Some(&e), None));
                    Err(e)
                }
            }
        }
    }

    async fn leave(self) {
        stop_device_captions(&self.captions, &self.room, &self.emit).await;
        self.pump.abort();
        let _ = self.pump.await;
        match Arc::try_unwrap(self.room) {
            Ok(room) => room.disconnect().await,
            Err(room) => drop(room),
        }
    }
}

/// Stops on-device captions, if on: the last captions are finished and the transcript saved.
async fn stop_device_captions(slot: &CaptionsSlot, room: &Room, emit: &Emit) {
    use crate::bridge::OnDeviceState as S;
    let Some(c) = slot.lock().ok().and_then(|mut s| s.take()) else {
        return;
    };
    let _ = room.set_audio_frames(false, false);
    match tokio::task::spawn_blocking(move || c.stop()).await {
        Ok(Ok(id)) => emit(on_device::state_event(S::Off, None, id)),
        Ok(Err(e)) => {
            tracing::warn!("transcript not saved: {e}");
            emit(on_device::state_event(S::Failed, Some(&e), None));
        }
        Err(e) => tracing::warn!("on-device captions did not stop cleanly: {e}"),
    }
}

/// The whole test sound is pushed at once: the jitter buffer must hold all of it.
const TEST_SOUND_JITTER: media::JitterConfig = media::JitterConfig {
    target_packets: 3,
    max_packets: 32,
    max_concealed: 5,
};

/// The test sound: 600 ms of a 440 Hz tone at a comfortable level, as 20 ms Opus packets,
/// fading in and out so that it does not click.
fn test_sound_packets() -> CmdResult<Vec<Vec<u8>>> {
    const FRAME: usize = media::SAMPLE_RATE as usize / 50;
    const FRAMES: usize = 30;
    let mut tone = media::ToneSource::new(440.0, 0.3, 20);
    let mut encoder = media::OpusEncoder::new(Default::default()).map_err(internal)?;
    let ramp = FRAME * 5;
    (0..FRAMES)
        .map(|i| {
            let mut pcm = tone.samples(FRAME);
            for (j, s) in pcm.iter_mut().enumerate() {
                let at = i * FRAME + j;
                let gain = (at.min(FRAME * FRAMES - at) as f32 / ramp as f32).min(1.0);
                *s = (*s as f32 * gain) as i16;
            }
            encoder.encode(&pcm).map_err(internal)
        })
        .collect()
}

fn internal<E: std::fmt::Display>(e: E) -> AppError {
    AppError::new(ErrorCode::Internal, e.to_string())
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn set_local_muted(shared: &Mutex<Shared>, kind: TrackKind, muted: bool) {
    if let Ok(mut s) = shared.lock() {
        for t in s.local.tracks.iter_mut().filter(|t| t.kind == kind) {
            t.muted = muted;
        }
    }
}

/// Tells the server which remote video to send at what size, and the lane what to forward:
/// the UI's tiles, filtered by the low-bandwidth mode; every other video track disabled.
fn apply_subscriptions(room: &Room, shared: &Mutex<Shared>, lane: &VideoLane) {
    let Ok(mut s) = shared.lock() else { return };
    let wanted: Vec<VideoTile> = match s.mode {
        LowBandwidthMode::Off => s.tiles.clone(),
        LowBandwidthMode::AudioOnly => vec![],
        LowBandwidthMode::SpeakerOnly => {
            // The loudest remote speaker's video; before anyone spoke, the first tile.
            let owner = |sid: &str| {
                s.remote
                    .values()
                    .find(|p| p.tracks.iter().any(|t| t.sid == sid))
                    .map(|p| p.identity.clone())
            };
            let speaker = s.speakers.iter().find(|i| s.remote.contains_key(*i));
            let pick = s
                .tiles
                .iter()
                .find(|t| speaker.is_some() && owner(&t.track_sid).as_ref() == speaker)
                .or(s.tiles.first());
            pick.cloned().into_iter().collect()
        }
    };
    let video_tracks: Vec<String> = s
        .remote
        .values()
        .flat_map(|p| p.tracks.iter())
        .filter(|t| t.kind == TrackKind::Video)
        .map(|t| t.sid.clone())
        .collect();
    let mut changes = vec![];
    for sid in video_tracks {
        let setting = match wanted.iter().find(|t| t.track_sid == sid) {
            Some(t) => TrackSetting {
                track_sid: sid.clone(),
                enabled: true,
                width: t.width,
                height: t.height,
            },
            None => TrackSetting {
                track_sid: sid.clone(),
                enabled: false,
                width: 0,
                height: 0,
            },
        };
        if s.sent.get(&sid) != Some(&setting) {
            s.sent.insert(sid, setting.clone());
            changes.push(setting);
        }
    }
    lane.set_sizes(
        wanted
            .iter()
            .map(|t| (t.track_sid.clone(), (t.width, t.height)))
            .collect(),
    );
    drop(s);
    if !changes.is_empty() {
        let _ = room.set_track_settings(changes);
    }
}

/// Engine events to `room` events, frames to the lane, until the session ends.
async fn pump(
    mut events: UnboundedReceiver<engine::RoomEvent>,
    room: Arc<Room>,
    shared: Arc<Mutex<Shared>>,
    lane: VideoLane,
    emit: Emit,
    captions: CaptionsSlot,
) {
    use engine::RoomEvent as E;
    while let Some(e) = events.recv().await {
        let out: Vec<RoomEvent> = match e {
            E::AudioFrameReceived {
                participant_identity,
                track_sid,
                sample_rate,
                samples,
            } => {
                if let Some(c) = captions.lock().ok().as_deref().and_then(Option::as_ref) {
                    c.push(&participant_identity, &track_sid, sample_rate, &samples);
                }
                continue;
            }
            E::LocalAudioFrame {
                track_sid,
                sample_rate,
                samples,
            } => {
                if let Some(c) = captions.lock().ok().as_deref().and_then(Option::as_ref) {
                    if c.wants_local_audio() {
                        c.push(c.local_identity(), &track_sid, sample_rate, &samples);
                    }
                }
                continue;
            }
            E::VideoFrameReceived {
                track_sid, frame, ..
            } => {
                lane.push(&track_sid, frame);
                continue;
            }
            E::EncodedVideoReceived(frame) => {
                lane.push_encoded(frame);
                continue;
            }
            E::LocalVideoFrame { frame } => {
                lane.push(LOCAL_CAMERA, frame);
                continue;
            }
            E::Connected => vec![RoomEvent::ConnectionState {
                state: ConnectionState::Connected,
                reason: None,
                code: None,
            }],
            E::ParticipantConnected(p) => {
                let p = Participant::remote(&p);
                if let Ok(mut s) = shared.lock() {
                    s.remote.insert(p.identity.clone(), p.clone());
                }
                apply_subscriptions(&room, &shared, &lane);
                vec![RoomEvent::ParticipantConnected { participant: p }]
            }
            E::ParticipantDisconnected(p) => {
                if let Ok(mut s) = shared.lock() {
                    if let Some(old) = s.remote.remove(&p.identity) {
                        for t in &old.tracks {
                            lane.clear(&t.sid);
                            s.sent.remove(&t.sid);
                        }
                    }
                }
                vec![RoomEvent::ParticipantDisconnected {
                    identity: p.identity,
                }]
            }
            E::ParticipantMetadataChanged(p) => {
                let Ok(mut s) = shared.lock() else { continue };
                let updated = if p.identity == s.local.identity {
                    s.local.name = p.name.clone();
                    s.local.hand_raised_at = hand_raised_at(&p.attributes);
                    s.local.attributes = p.attributes.clone();
                    s.local.clone()
                } else {
                    let mut fresh = Participant::remote(&p);
                    if let Some(old) = s.remote.get(&p.identity) {
                        fresh.quality = old.quality.clone();
                        fresh.speaking = old.speaking;
                        fresh.several_voices = old.several_voices;
                    }
                    s.remote.insert(p.identity.clone(), fresh.clone());
                    fresh
                };
                vec![RoomEvent::ParticipantUpdated {
                    participant: updated,
                }]
            }
            E::TrackPublished {
                participant_identity,
                publication,
            } => {
                let track = TrackInfo::from(&publication);
                if let Ok(mut s) = shared.lock() {
                    if let Some(p) = s.remote.get_mut(&participant_identity) {
                        p.tracks.retain(|t| t.sid != track.sid);
                        p.tracks.push(track.clone());
                    }
                }
                apply_subscriptions(&room, &shared, &lane);
                vec![RoomEvent::TrackPublished {
                    identity: participant_identity,
                    track,
                }]
            }
            E::TrackUnpublished {
                participant_identity,
                publication,
            } => {
                if let Ok(mut s) = shared.lock() {
                    if let Some(p) = s.remote.get_mut(&participant_identity) {
                        p.tracks.retain(|t| t.sid != publication.sid);
                    }
                    s.sent.remove(&publication.sid);
                }
                if let Some(c) = captions.lock().ok().as_deref().and_then(Option::as_ref) {
                    c.end_track(&publication.sid);
                }
                lane.clear(&publication.sid);
                vec![RoomEvent::TrackUnpublished {
                    identity: participant_identity,
                    track_sid: publication.sid,
                }]
            }
            E::TrackMuted {
                participant_identity,
                track_sid,
            } => track_muted(&shared, participant_identity, track_sid, true),
            E::TrackUnmuted {
                participant_identity,
                track_sid,
            } => track_muted(&shared, participant_identity, track_sid, false),
            E::LocalTrackPublished(publication) => {
                let mut track = TrackInfo::from(&publication);
                let (identity, muted) = {
                    let Ok(s) = shared.lock() else { continue };
                    let want_on = match track.kind {
                        TrackKind::Audio => s.want_mic,
                        TrackKind::Video => s.want_camera,
                    };
                    (s.local.identity.clone(), !want_on)
                };
                if muted {
                    // Joined with this device off: mute as soon as the engine can (right after
                    // the server accepted the track it may not be ready yet, so retry briefly).
                    let (room, kind) = (room.clone(), track.kind);
                    tokio::spawn(async move {
                        for _ in 0..25 {
                            match room.set_muted(kind, true).await {
                                Ok(()) => return,
                                Err(e) => tracing::debug!("mute {kind:?} on publish: {e}"),
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                        tracing::warn!("could not mute {kind:?} after publishing it");
                    });
                }
                track.muted = muted;
                if let Ok(mut s) = shared.lock() {
                    s.local.tracks.retain(|t| t.sid != track.sid);
                    s.local.tracks.push(track.clone());
                }
                vec![RoomEvent::TrackPublished { identity, track }]
            }
            E::DataReceived {
                participant_identity,
                topic: None,
                payload,
                ..
            } => visio_notification(&participant_identity, &payload)
                .into_iter()
                .collect(),
            E::ChatMessage {
                participant_identity,
                text,
            } => {
                let name = shared
                    .lock()
                    .ok()
                    .and_then(|s| s.remote.get(&participant_identity).map(|p| p.name.clone()))
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| participant_identity.clone());
                vec![RoomEvent::ChatMessage {
                    message: ChatMessage {
                        id: format!("{:016x}", rand::random::<u64>()),
                        from_identity: participant_identity,
                        from_name: name,
                        text,
                        timestamp: unix_ms(),
                        is_local: false,
                    },
                }]
            }
            E::ActiveSpeakersChanged(list) => {
                let identities: Vec<String> = list.into_iter().map(|(i, _)| i).collect();
                let speaker_only = {
                    let Ok(mut s) = shared.lock() else { continue };
                    s.speakers = identities.clone();
                    let ids = identities.clone();
                    for p in s.remote.values_mut() {
                        p.speaking = ids.contains(&p.identity);
                    }
                    let me = s.local.identity.clone();
                    s.local.speaking = ids.contains(&me);
                    s.mode == LowBandwidthMode::SpeakerOnly
                };
                if speaker_only {
                    apply_subscriptions(&room, &shared, &lane);
                }
                vec![RoomEvent::ActiveSpeakers { identities }]
            }
            E::ConnectionQualityChanged {
                participant_identity,
                quality,
            } => {
                let quality = Quality::from_engine(&quality);
                if let Ok(mut s) = shared.lock() {
                    if let Some(p) = s.remote.get_mut(&participant_identity) {
                        p.quality = quality.clone();
                    } else if s.local.identity == participant_identity {
                        s.local.quality = quality.clone();
                    }
                }
                vec![RoomEvent::ConnectionQuality {
                    identity: participant_identity,
                    quality,
                }]
            }
            E::Reconnecting { reason, .. } => vec![RoomEvent::ConnectionState {
                state: ConnectionState::Reconnecting,
                reason: Some(reason),
                code: None,
            }],
            E::Reconnected { .. } => vec![RoomEvent::ConnectionState {
                state: ConnectionState::Connected,
                reason: None,
                code: None,
            }],
            E::Caption(c) => vec![RoomEvent::Caption {
                participant_identity: c.participant_identity,
                segment_id: c.segment_id,
                text: c.text,
                is_final: c.is_final,
                source: CaptionSource::Room,
                voice: None,
            }],
            E::DeviceUnavailable { kind, reason } => {
                vec![RoomEvent::DeviceUnavailable { kind, reason }]
            }
            E::Disconnected { reason } => {
                let lower = reason.to_ascii_lowercase();
                let code = if ["removed", "kick", "denied", "duplicate"]
                    .iter()
                    .any(|w| lower.contains(w))
                {
                    ErrorCode::Denied
                } else {
                    ErrorCode::Unreachable
                };
                emit(RoomEvent::ConnectionState {
                    state: ConnectionState::Disconnected,
                    reason: Some(reason),
                    code: Some(code),
                });
                break;
            }
            _ => continue,
        };
        for e in out {
            emit(e);
        }
    }
}

fn track_muted(
    shared: &Mutex<Shared>,
    identity: String,
    track_sid: String,
    muted: bool,
) -> Vec<RoomEvent> {
    if let Ok(mut s) = shared.lock() {
        if let Some(p) = s.remote.get_mut(&identity) {
            for t in p.tracks.iter_mut().filter(|t| t.sid == track_sid) {
                t.muted = muted;
            }
        }
    }
    vec![RoomEvent::TrackMuted {
        identity,
        track_sid,
        muted,
    }]
}

/// Visio's JSON data packets without topic: reactions, and notifications by `type`.
fn visio_notification(from: &str, payload: &[u8]) -> Option<RoomEvent> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let kind = v.get("type")?.as_str()?;
    if kind == "reactionReceived" {
        let emoji = v.get("data")?.get("emoji")?.as_str()?;
        return Some(RoomEvent::Reaction {
            from_identity: from.to_owned(),
            emoji: emoji.chars().take(8).collect(),
        });
    }
    Some(RoomEvent::Notification {
        kind: kind.chars().take(64).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visio_packets() {
        match visio_notification(
            "bob",
            br#"{"type":"reactionReceived","data":{"emoji":"\ud83d\udc4d"}}"#,
        ) {
            Some(RoomEvent::Reaction {
                from_identity,
                emoji,
            }) => {
                assert_eq!(from_identity, "bob");
                assert_eq!(emoji, "👍");
            }
            other => panic!("{other:?}"),
        }
        match visio_notification("a", br#"{"type":"participantWaiting"}"#) {
            Some(RoomEvent::Notification { kind }) => assert_eq!(kind, "participantWaiting"),
            other => panic!("{other:?}"),
        }
        assert!(visio_notification("a", b"\xff not json").is_none());
    }

    /// The test sound decodes, through the meeting's playout mixer, to a 440 Hz tone of the
    /// planned length and level.
    #[test]
    fn test_sound_is_a_440_hz_tone_through_the_playout_path() {
        let packets = test_sound_packets().expect("encoded");
        assert_eq!(packets.len(), 30, "600 ms in 20 ms packets");
        let playout = media::Playout::detached(TEST_SOUND_JITTER);
        for (seq, p) in packets.into_iter().enumerate() {
            playout.push("t", seq as u64, p);
        }
        let mixer = playout.mixer();
        let mut m = mixer.lock().expect("mixer");
        // Past the fade-in and the jitter buffer's start, the steady part of the tone.
        let _ = m.mix(media::SAMPLE_RATE as usize / 5);
        let steady = m.mix(media::SAMPLE_RATE as usize / 5);
        let hz = media::dominant_hz(&steady, media::SAMPLE_RATE).expect("a tone");
        assert!((hz - 440.0).abs() < 5.0, "{hz} Hz");
        let rms = media::rms(&steady);
        assert!(
            (0.15..0.3).contains(&rms),
            "0.3 amplitude gives RMS 0.21: {rms}"
        );
    }
}
