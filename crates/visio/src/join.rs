//! `visio join URL`: a headless participant. Publishes the synthetic pattern and tone with
//! `--fake-devices`, receives and decodes everything, and with `--json` prints one summary
//! line at exit (`join_ms`, per-track figures, data and chat received).

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use engine::{PublishOptions, Room, RoomEvent, RoomOptions, TrackKind, TrackStats};
use serde_json::{json, Value};

#[derive(clap::Parser)]
pub struct JoinArgs {
    /// LiveKit server URL (`ws://`, `http://`), or a Visio room link
    /// (`https://host/abc-defg-hij`, `visio://host/abc-defg-hij`, a local server's
    /// `http://host:7880/abc-defg-hij`): the token comes from Visio's API, through the
    /// waiting room when the room has one.
    url: String,
    /// Access token; otherwise one is minted from --api-key/--api-secret/--room/--identity.
    #[arg(long, env = "LIVEKIT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[arg(long, env = "LIVEKIT_API_KEY")]
    api_key: Option<String>,
    #[arg(long, env = "LIVEKIT_API_SECRET", hide_env_values = true)]
    api_secret: Option<String>,
    #[arg(long)]
    room: Option<String>,
    #[arg(long)]
    identity: Option<String>,
    /// Display name (minted tokens only).
    #[arg(long)]
    name: Option<String>,
    /// Publish the synthetic pattern (frame counter + capture time embedded) and a 440 Hz tone
    /// instead of the camera and microphone.
    #[arg(long)]
    fake_devices: bool,
    /// Camera to publish (an id from `visio devices`; default: the first camera).
    #[arg(long, value_name = "ID", conflicts_with = "fake_devices")]
    camera: Option<String>,
    /// Microphone to publish (an id from `visio devices`; default: the system's).
    #[arg(long, value_name = "ID", conflicts_with = "fake_devices")]
    microphone: Option<String>,
    /// Play this WAV file as the microphone (any rate and channels; silence after its end).
    #[arg(long, value_name = "FILE")]
    wav: Option<std::path::PathBuf>,
    /// Play the remote audio on this output device (an id from `visio devices`, or
    /// `default`); without it, remote audio is only measured.
    #[arg(long, value_name = "DEVICE")]
    speaker: Option<String>,
    /// Publish only audio (no camera, no pattern).
    #[arg(long)]
    no_video: bool,
    /// Publish nothing, only receive (no device is opened): a viewer, or a benchmark's
    /// receiving side.
    #[arg(long, conflicts_with_all = ["fake_devices", "camera", "microphone", "wav", "no_video", "h264"])]
    subscribe_only: bool,
    /// Receive remote video without decoding it (frames still counted): a benchmark's load
    /// publisher that keeps the server forwarding without spending the machine's CPU.
    #[arg(long)]
    no_decode: bool,
    /// Publish H264 (OpenH264) instead of VP8.
    #[arg(long)]
    h264: bool,
    /// Turn off echo cancellation, noise suppression and gain control on the microphone.
    #[arg(long)]
    raw_audio: bool,
    /// Size of the camera (the fake one, or what to ask a real one for).
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    video_size: (u32, u32),
    /// Let str0m's bandwidth estimate lower the video bitrate (experimental, see the engine docs).
    #[arg(long)]
    follow_bwe: bool,
    /// Publish one video layer at the camera's size and rate instead of LiveKit's simulcast
    /// layers (a benchmark's publisher: every subscriber gets that size at that rate).
    #[arg(long)]
    no_simulcast: bool,
    /// Frame rate of the fake camera.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Leave after this many seconds (default: stay until Ctrl-C or the server ends the session).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Print one JSON summary line at exit instead of a running log.
    #[arg(long)]
    json: bool,
    /// Send this chat message (`lk.chat`) once joined; repeatable.
    #[arg(long = "chat", value_name = "TEXT")]
    chat: Vec<String>,
    /// Send this user data packet (reliable, topic `visio`) once joined; repeatable.
    #[arg(long = "data", value_name = "TEXT")]
    data: Vec<String>,
    /// Say this on the chat to each participant who joins after us (a demo bot's hello;
    /// `{name}` becomes their name).
    #[arg(long, value_name = "TEXT")]
    greet: Option<String>,
    /// Answer every chat message (`Reçu : <text>`), so a demo or a test sees chat both ways.
    #[arg(long)]
    reply: bool,
    /// Trust this certificate authority (PEM file) for `wss`/`https`, on top of the public and
    /// system ones: a private CA in front of the server; repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    ca_files: Vec<std::path::PathBuf>,
    #[command(flatten)]
    captions: crate::captions_cmd::CaptionArgs,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| format!("{s:?} is not WIDTHxHEIGHT"))?;
    let w: u32 = w.parse().map_err(|_| format!("bad width in {s:?}"))?;
    let h: u32 = h.parse().map_err(|_| format!("bad height in {s:?}"))?;
    if w < 16 || h < 16 || w > 4096 || h > 4096 || w % 2 == 1 || h % 2 == 1 {
        return Err(format!("{s:?}: even sizes from 16x16 to 4096x4096"));
    }
    Ok((w, h))
}

fn token(args: &JoinArgs) -> anyhow::Result<Option<String>> {
    if let Some(t) = &args.token {
        return Ok(Some(t.clone()));
    }
    let (Some(key), Some(secret), Some(room), Some(identity)) =
        (&args.api_key, &args.api_secret, &args.room, &args.identity)
    else {
        if visio_api::RoomLink::is_room_link(&args.url) {
            return Ok(None); // A Visio link: the token comes from its API.
        }
        return Err(anyhow!(
            "no token: pass --token, or --api-key, --api-secret, --room and --identity to mint one"
        ));
    };
    livekit_token::AccessToken::with_api_key(key, secret)
        .with_identity(identity)
        .with_name(args.name.as_deref().unwrap_or(identity))
        .with_ttl(Duration::from_secs(6 * 3600))
        .with_grants(livekit_token::VideoGrants {
            room_join: true,
            room: room.clone(),
            ..Default::default()
        })
        .to_jwt()
        .context("minting the token")
        .map(Some)
}

fn track_json(t: &TrackStats) -> Value {
    match t.kind {
        TrackKind::Video => json!({
            "participant": t.participant,
            "track_sid": t.track_sid,
            "kind": "video",
            "codec": t.codec,
            "frames": t.frames,
            "width": t.width,
            "height": t.height,
            "latency_ms": t.latency_ms.map(|l| json!({"p50": l.p50, "p95": l.p95})),
            "counter_regressions": t.counter_regressions,
            "counter_repeats": t.counter_repeats,
        }),
        TrackKind::Audio => json!({
            "participant": t.participant,
            "track_sid": t.track_sid,
            "kind": "audio",
            "codec": t.codec,
            "samples": t.samples,
            "rms": t.rms,
            "dominant_hz": t.dominant_hz,
        }),
    }
}

pub fn run(args: JoinArgs, started: Instant) -> anyhow::Result<()> {
    let token = token(&args)?;
    let publish = (!args.subscribe_only).then(|| PublishOptions {
        fake_devices: args.fake_devices,
        video: !args.no_video,
        width: args.video_size.0,
        height: args.video_size.1,
        fps: args.fps.clamp(1, 60),
        follow_bandwidth_estimate: args.follow_bwe,
        simulcast: !args.no_simulcast,
        camera: args.camera.clone(),
        microphone: args.microphone.clone(),
        wav: args.wav.clone(),
        video_codec: if args.h264 {
            engine::VideoCodec::H264
        } else {
            engine::VideoCodec::Vp8
        },
        audio_processing: !args.raw_audio,
        ..PublishOptions::fake_devices()
    });
    let playout = args.speaker.as_ref().map(|s| engine::PlayoutOptions {
        device: (s != "default").then(|| s.clone()),
    });
    // Which devices were asked for, to say what the room gets without them.
    let mut publishing = (!args.no_video && !args.subscribe_only, !args.subscribe_only);
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let mut extra_root_certs_pem = vec![];
        for path in &args.ca_files {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading the CA file {}", path.display()))?;
            extra_root_certs_pem.push(pem);
        }
        let mut captions = crate::captions_cmd::Captions::start(&args.captions)?;
        let options = RoomOptions {
            publish,
            extra_root_certs_pem,
            audio_frames: captions.wants_audio(),
            local_audio_frames: captions.wants_local_audio(),
            playout,
            ..Default::default()
        };
        let (url, token) = match token {
            Some(t) => (args.url.clone(), t),
            None => {
                let name = args
                    .name
                    .clone()
                    .or(args.identity.clone())
                    .unwrap_or_else(|| "Visio Desktop".into());
                let cancel = tokio_util::sync::CancellationToken::new();
                let mut told = false;
                let r = visio_api::resolve(
                    &args.url,
                    &name,
                    visio_api::ClientOptions::default(),
                    &cancel,
                    |p| {
                        if p.status == visio_api::LobbyStatus::Waiting && !told {
                            told = true;
                            eprintln!(
                                "visio: waiting in the lobby of {} until an organiser lets you in \
                                 (up to 10 minutes)",
                                args.url
                            );
                        }
                    },
                )
                .await
                .with_context(|| format!("asking Visio for room {}", args.url))?;
                if told {
                    eprintln!("visio: admitted");
                }
                (r.livekit.url, r.livekit.token)
            }
        };
        let (room, mut events) = Room::connect(&url, &token, options)
            .await
            .with_context(|| format!("joining {url}"))?;
        let human = !args.json;
        captions.set_local_identity(&room.local_participant().identity);
        if human {
            println!(
                "joined room {:?} as {} ({}) in {} ms",
                room.name(),
                room.local_participant().identity,
                room.local_participant().sid,
                started.elapsed().as_millis()
            );
        }
        let mut sends = Box::pin(async {
            for text in &args.chat {
                room.send_chat_message(text).await?;
            }
            for text in &args.data {
                room.publish_data(text.as_bytes().to_vec(), true, Some("visio".into()), vec![])
                    .await?;
            }
            Ok::<(), engine::EngineError>(())
        });
        let mut sends_done = args.chat.is_empty() && args.data.is_empty();
        let end = args
            .duration
            .map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s.max(0.0)));
        let mut join_ms: Option<u128> = None;
        // Each outage: when it began (ms since start), attempts, how long until back, resumed.
        let mut reconnections: Vec<Value> = vec![];
        let mut unavailable: Vec<Value> = vec![];
        let mut outage: Option<(std::time::Instant, u32)> = None;
        let mut chat = vec![];
        let mut data = vec![];
        let mut ended: Option<String> = None;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                r = &mut sends, if !sends_done => {
                    sends_done = true;
                    if let Err(e) = r {
                        eprintln!("visio: sending failed: {e}");
                    }
                }
                Some(u) = captions.next() => {
                    captions.on_update(u, human);
                    captions.publish_own(&room).await;
                }
                ev = events.recv() => {
                    let Some(ev) = ev else { break };
                    if captions.on_event(&ev, human) {
                        continue;
                    }
                    if args.no_decode {
                        if let RoomEvent::TrackSubscribed { publication, .. } = &ev {
                            if publication.kind == TrackKind::Video {
                                let _ = room.set_video_decoding(&publication.sid, false);
                            }
                        }
                    }
                    match ev {
                        RoomEvent::VideoFrameReceived { participant_identity, width, height, .. } => {
                            if join_ms.is_none() {
                                join_ms = Some(started.elapsed().as_millis());
                                if human {
                                    println!("first frame from {participant_identity} ({width}x{height}) after {} ms", join_ms.unwrap_or_default());
                                }
                            }
                        }
                        RoomEvent::ChatMessage { participant_identity, text } => {
                            if human { println!("chat {participant_identity}: {text}"); }
                            if args.reply {
                                let answer: String = format!("Reçu : {text}").chars().take(2000).collect();
                                if let Err(e) = room.send_chat_message(&answer).await {
                                    eprintln!("visio: reply failed: {e}");
                                }
                            }
                            chat.push(json!({"from": participant_identity, "text": text}));
                        }
                        RoomEvent::DataReceived { participant_identity, topic, payload, .. } => {
                            if human { println!("data from {participant_identity} topic {topic:?}: {} bytes", payload.len()); }
                            data.push(json!({
                                "from": participant_identity,
                                "topic": topic,
                                "payload": String::from_utf8_lossy(&payload),
                            }));
                        }
                        RoomEvent::Reconnecting { attempt, reason } => {
                            if human { println!("reconnecting (attempt {attempt}): {reason}"); }
                            let at = outage.map(|o| o.0).unwrap_or_else(std::time::Instant::now);
                            outage = Some((at, attempt));
                        }
                        RoomEvent::Reconnected { resumed } => {
                            let (at, attempts) = outage.take().unwrap_or((std::time::Instant::now(), 0));
                            if human { println!("reconnected ({}) after {} ms", if resumed { "resumed" } else { "joined again" }, at.elapsed().as_millis()); }
                            reconnections.push(json!({
                                "at_ms": at.duration_since(started).as_millis(),
                                "attempts": attempts,
                                "took_ms": at.elapsed().as_millis(),
                                "resumed": resumed,
                            }));
                        }
                        RoomEvent::DeviceUnavailable { kind, reason } => {
                            match kind {
                                engine::DeviceUse::Camera => publishing.0 = false,
                                engine::DeviceUse::Microphone => publishing.1 = false,
                                engine::DeviceUse::Speaker => {}
                            }
                            let rest = match publishing {
                                _ if kind == engine::DeviceUse::Speaker => "remote audio is not played",
                                (true, true) => "publishing the rest",
                                (true, false) => "publishing the camera only",
                                (false, true) => "publishing the microphone only",
                                (false, false) => "publishing nothing (receive only)",
                            };
                            eprintln!("visio: {reason}: {rest}");
                            unavailable.push(json!({"device": kind, "reason": reason}));
                        }
                        RoomEvent::Disconnected { reason } => {
                            ended = Some(reason);
                            break;
                        }
                        RoomEvent::ParticipantConnected(p) if args.greet.is_some() => {
                            if human { println!("{} joined", p.identity); }
                            let name = if p.name.is_empty() { &p.identity } else { &p.name };
                            let hello = args.greet.as_deref().unwrap_or_default().replace("{name}", name);
                            if let Err(e) = room.send_chat_message(&hello).await {
                                eprintln!("visio: greeting failed: {e}");
                            }
                        }
                        other => {
                            if human {
                                print_event(&other);
                            }
                        }
                    }
                }
                _ = async { tokio::time::sleep_until(end.unwrap_or_else(tokio::time::Instant::now)).await }, if end.is_some() => break,
                _ = &mut ctrl_c => break,
            }
        }
        drop(sends);
        captions.finish(human);
        captions.publish_own(&room).await;
        let stats = room.track_stats().await.unwrap_or_default();
        let room_name = room.name().to_owned();
        let identity = room.local_participant().identity.clone();
        if ended.is_none() {
            room.disconnect().await;
        }
        if args.json {
            let summary = json!({
                "join_ms": join_ms,
                "room": room_name,
                "identity": identity,
                "tracks": stats.iter().map(track_json).collect::<Vec<_>>(),
                "chat": chat,
                "data": data,
                "reconnections": reconnections,
                "captions": captions.json(),
                "captions_published": captions.published_json(),
                "devices_unavailable": unavailable,
            });
            println!("{summary}");
        } else {
            for t in &stats {
                println!("{}", track_json(t));
            }
        }
        match ended {
            Some(reason) => Err(anyhow!("the session ended: {reason}")),
            None => Ok(()),
        }
    })
}

fn print_event(e: &RoomEvent) {
    match e {
        RoomEvent::Connected => println!("media connected"),
        RoomEvent::ParticipantConnected(p) => println!("{} joined", p.identity),
        RoomEvent::ParticipantDisconnected(p) => println!("{} left", p.identity),
        RoomEvent::TrackPublished {
            participant_identity,
            publication,
        } => println!(
            "{participant_identity} published {:?} {} ({})",
            publication.kind, publication.sid, publication.mime_type
        ),
        RoomEvent::TrackUnpublished {
            participant_identity,
            publication,
        } => println!("{participant_identity} unpublished {}", publication.sid),
        RoomEvent::TrackSubscribed {
            participant_identity,
            publication,
        } => println!(
            "receiving {:?} {} from {participant_identity}",
            publication.kind, publication.sid
        ),
        RoomEvent::TrackMuted {
            participant_identity,
            track_sid,
        } => println!("{participant_identity} muted {track_sid}"),
        RoomEvent::TrackUnmuted {
            participant_identity,
            track_sid,
        } => println!("{participant_identity} unmuted {track_sid}"),
        RoomEvent::LocalTrackPublished(t) => println!("published {:?} {}", t.kind, t.sid),
        RoomEvent::TextStreamReceived {
            participant_identity,
            topic,
            text,
        } => println!("{topic} {participant_identity}: {text}"),
        _ => {}
    }
}
