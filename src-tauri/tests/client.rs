//! The app's logic (everything behind the Tauri commands) against the in-process room server,
//! with an engine peer on the other side: join through Visio's API, frames on the video lane
//! at the tile's size, adaptive stream, mute seen by the peer, chat both ways, raised hand,
//! reactions, and the error codes of bad links and unreachable servers. No display needed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use room_server::{RoomServer, ServerConfig};
use tokio::sync::mpsc;
use visio_desktop::bridge::{
    ConnectionState, ErrorCode, JoinRequest, LowBandwidthMode, RoomEvent as UiEvent, VideoTile,
};
use visio_desktop::client::{Client, Launch};
use visio_desktop::settings::Store;

/// A token for the engine peer, as `visio token` mints them (dev keys).
fn token(room: &str, identity: &str) -> String {
    livekit_token::AccessToken::with_api_key("devkey", "secret")
        .with_identity(identity)
        .with_name(identity)
        .with_grants(livekit_token::VideoGrants {
            room_join: true,
            room: room.into(),
            ..Default::default()
        })
        .to_jwt()
        .expect("token")
}

async fn next_ui<T>(
    rx: &mut mpsc::UnboundedReceiver<UiEvent>,
    within: Duration,
    mut f: impl FnMut(&UiEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the UI event in time")
            .expect("events open");
        if let Some(t) = f(&e) {
            return t;
        }
    }
}

async fn next_engine<T>(
    rx: &mut mpsc::UnboundedReceiver<engine::RoomEvent>,
    within: Duration,
    mut f: impl FnMut(&engine::RoomEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the engine event in time")
            .expect("events open");
        if let Some(t) = f(&e) {
            return t;
        }
    }
}

async fn client() -> (Client, mpsc::UnboundedReceiver<UiEvent>) {
    client_with(Launch::default()).await
}

/// An app with the synthetic devices (this machine has no camera or microphone).
async fn client_with(launch: Launch) -> (Client, mpsc::UnboundedReceiver<UiEvent>) {
    let dir = std::env::temp_dir().join(format!("visio-desktop-it-{}", rand::random::<u64>()));
    let (tx, rx) = mpsc::unbounded_channel();
    let c = Client::start(
        Launch {
            camera_size: Some((320, 180)),
            fake_devices: true,
            ..launch
        },
        Store::at(&dir),
        Arc::new(move |e| {
            let _ = tx.send(e);
        }),
    )
    .await
    .expect("client starts");
    (c, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meeting_through_the_app_logic() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let http = format!("http://{}", server.http_addr());
    let code = "app-test-roo";
    // The peer publishes a 640x360 pattern (no simulcast below 480 px wide... it has q/h).
    let (bob, mut bob_events) = engine::Room::connect(
        &server.url(),
        &token(code, "bob"),
        engine::RoomOptions {
            publish: Some(engine::PublishOptions {
                width: 640,
                height: 360,
                video_bitrate_bps: 600_000,
                ..engine::PublishOptions::fake_devices()
            }),
            ..Default::default()
        },
    )
    .await
    .expect("bob joins");

    let (app, mut ui) = client().await;
    let joined = app
        .join(JoinRequest {
            link: format!("{http}/{code}"),
            display_name: "Alice".into(),
            camera_on: true,
            mic_on: true,
            camera_id: None,
            microphone_id: None,
            speaker_id: None,
        })
        .await
        .expect("alice joins through the Visio API");
    assert_eq!(joined.room_code, code);
    assert_eq!(joined.local.name, "Alice");
    assert!(joined.local.is_local);
    assert_eq!(app.store.recent_rooms()[0].room_code, code);

    // Bob's video track, from the join result or a later event.
    let bob_video = match joined
        .participants
        .iter()
        .find(|p| p.identity == "bob")
        .and_then(|p| p.tracks.iter().find(|t| t.kind == engine::TrackKind::Video))
    {
        Some(t) => t.sid.clone(),
        None => {
            next_ui(&mut ui, Duration::from_secs(10), |e| match e {
                UiEvent::TrackPublished { identity, track }
                    if identity == "bob" && track.kind == engine::TrackKind::Video =>
                {
                    Some(track.sid.clone())
                }
                _ => None,
            })
            .await
        }
    };

    // The UI shows bob in a 320x320 tile: frames come scaled to fit, on the lane.
    app.set_video_subscriptions(vec![VideoTile {
        track_sid: bob_video.clone(),
        width: 320,
        height: 320,
    }])
    .await
    .expect("subscriptions");
    let (mut lane, _) = tokio_tungstenite::connect_async(app.lane.url())
        .await
        .expect("lane opens");
    let mut counters = vec![];
    let mut local_frames = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while counters.len() < 10 {
        let m = tokio::time::timeout_at(deadline, lane.next())
            .await
            .expect("frames on the lane in time")
            .expect("lane open")
            .expect("lane message")
            .into_data();
        assert_eq!(&m[..3], &[0x56, 1, 1]);
        let n = u16::from_le_bytes([m[12], m[13]]) as usize;
        let id = std::str::from_utf8(&m[14..14 + n])
            .expect("utf-8 id")
            .to_owned();
        let (w, h) = (
            u16::from_le_bytes([m[4], m[5]]),
            u16::from_le_bytes([m[6], m[7]]),
        );
        if id == "local-camera" {
            local_frames += 1;
            continue;
        }
        assert_eq!(id, bob_video);
        assert!(w <= 320 && h <= 180, "scaled to fit the tile: {w}x{h}");
        assert_eq!(
            m.len(),
            14 + n
                + w as usize * h as usize
                + 2 * (w as usize).div_ceil(2) * (h as usize).div_ceil(2)
        );
        counters.push(u32::from_le_bytes([m[8], m[9], m[10], m[11]]));
    }
    assert!(counters.windows(2).all(|c| c[0] < c[1]), "{counters:?}");
    assert!(local_frames > 0, "the self view is on the lane");

    // Bob sees alice's microphone muted, then unmuted.
    app.set_microphone(false).await.expect("mute");
    next_engine(&mut bob_events, Duration::from_secs(10), |e| {
        matches!(e, engine::RoomEvent::TrackMuted { participant_identity, .. } if participant_identity != "bob")
            .then_some(())
    })
    .await;
    app.set_microphone(true).await.expect("unmute");
    next_engine(&mut bob_events, Duration::from_secs(10), |e| {
        matches!(e, engine::RoomEvent::TrackUnmuted { .. }).then_some(())
    })
    .await;

    // Chat both ways.
    let sent = app.send_chat("Bonjour Bob").await.expect("chat sent");
    assert!(sent.is_local);
    assert_eq!(sent.from_name, "Alice");
    let text = next_engine(&mut bob_events, Duration::from_secs(10), |e| match e {
        engine::RoomEvent::ChatMessage { text, .. } => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(text, "Bonjour Bob");
    bob.send_chat_message("Salut Alice")
        .await
        .expect("bob chats");
    let m = next_ui(&mut ui, Duration::from_secs(10), |e| match e {
        UiEvent::ChatMessage { message } => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        (m.from_identity.as_str(), m.text.as_str()),
        ("bob", "Salut Alice")
    );
    assert!(!m.is_local);

    // A reaction in Visio's packet format reaches bob.
    app.send_reaction("👏").await.expect("reaction");
    let payload = next_engine(&mut bob_events, Duration::from_secs(10), |e| match e {
        engine::RoomEvent::DataReceived { payload, .. } => Some(payload.clone()),
        _ => None,
    })
    .await;
    let v: serde_json::Value = serde_json::from_slice(&payload).expect("json");
    assert_eq!(v["type"], "reactionReceived");
    assert_eq!(v["data"]["emoji"], "👏");

    // Raised hand: bob sees `handRaisedAt`, the app tells its UI too.
    app.set_hand_raised(true).await.expect("hand raised");
    let at = next_engine(&mut bob_events, Duration::from_secs(10), |e| match e {
        engine::RoomEvent::ParticipantMetadataChanged(p) => p
            .attributes
            .get("handRaisedAt")
            .filter(|v| !v.is_empty())
            .cloned(),
        _ => None,
    })
    .await;
    assert!(at.starts_with("20"), "an ISO time: {at}");
    let local = next_ui(&mut ui, Duration::from_secs(10), |e| match e {
        UiEvent::ParticipantUpdated { participant } if participant.is_local => {
            participant.hand_raised_at.clone()
        }
        _ => None,
    })
    .await;
    assert!(local.starts_with("20"), "an ISO time: {local}");

    // Audio-only: the lane stops carrying bob's video.
    app.set_low_bandwidth(LowBandwidthMode::AudioOnly)
        .await
        .expect("audio only");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let quiet_until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(Ok(m))) = tokio::time::timeout_at(quiet_until, lane.next()).await {
        let m = m.into_data();
        let n = u16::from_le_bytes([m[12], m[13]]) as usize;
        assert_eq!(
            &m[14..14 + n],
            b"local-camera",
            "remote video in audio-only mode"
        );
    }

    app.leave().await;
    next_engine(&mut bob_events, Duration::from_secs(10), |e| {
        matches!(e, engine::RoomEvent::ParticipantDisconnected(_)).then_some(())
    })
    .await;
    assert_eq!(
        app.send_chat("anyone?").await.unwrap_err().code,
        ErrorCode::NotConnected
    );
    bob.disconnect().await;
}

#[tokio::test]
async fn bad_links_and_unreachable_servers_have_their_code() {
    let (app, _ui) = client().await;
    let join = |link: &str| JoinRequest {
        link: link.into(),
        display_name: "Alice".into(),
        camera_on: false,
        mic_on: false,
        camera_id: None,
        microphone_id: None,
        speaker_id: None,
    };
    let e = app.join(join("not a link")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidLink);
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = app
        .join(join(&format!("http://127.0.0.1:{port}/abc-defg-hij")))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Unreachable, "{e:?}");
    // The app keeps working after errors.
    assert_eq!(
        app.resolve_room("ABCDEFGHIJ").unwrap().room_code,
        "abc-defg-hij"
    );
}

fn join_request(link: &str, name: &str) -> JoinRequest {
    JoinRequest {
        link: link.into(),
        display_name: name.into(),
        camera_on: false,
        mic_on: true,
        camera_id: None,
        microphone_id: None,
        speaker_id: None,
    }
}

/// Captions a room agent sends on `lk.transcription` for bob's microphone reach the UI as
/// bob's, the interim text first, then the final text of the same segment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_captions_reach_the_ui_attributed_to_the_speaker() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let code = "cap-tion-sss";
    let (bob, _bob_events) = engine::Room::connect(
        &server.url(),
        &token(code, "bob"),
        engine::RoomOptions {
            publish: Some(engine::PublishOptions {
                video: false,
                ..engine::PublishOptions::fake_devices()
            }),
            ..Default::default()
        },
    )
    .await
    .expect("bob joins");
    let (app, mut ui) = client().await;
    let joined = app
        .join(join_request(
            &format!("http://{}/{code}", server.http_addr()),
            "Alice",
        ))
        .await
        .expect("alice joins");
    let bob_audio = match joined
        .participants
        .iter()
        .find(|p| p.identity == "bob")
        .and_then(|p| p.tracks.iter().find(|t| t.kind == engine::TrackKind::Audio))
    {
        Some(t) => t.sid.clone(),
        None => {
            next_ui(&mut ui, Duration::from_secs(10), |e| match e {
                UiEvent::TrackPublished { identity, track }
                    if identity == "bob" && track.kind == engine::TrackKind::Audio =>
                {
                    Some(track.sid.clone())
                }
                _ => None,
            })
            .await
        }
    };
    let (agent, mut agent_events) =
        engine::Room::connect(&server.url(), &token(code, "agent"), Default::default())
            .await
            .expect("the agent joins");
    next_engine(&mut agent_events, Duration::from_secs(10), |e| {
        matches!(e, engine::RoomEvent::Connected).then_some(())
    })
    .await;
    let attrs = |final_: bool| {
        [
            ("lk.segment_id", "SG_1"),
            ("lk.transcribed_track_id", bob_audio.as_str()),
            (
                "lk.transcription_final",
                if final_ { "true" } else { "false" },
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    };
    agent
        .send_text_with_attributes(
            engine::TRANSCRIPTION_TOPIC,
            "Bonjour à",
            attrs(false),
            vec![],
        )
        .await
        .expect("interim sent");
    agent
        .send_text_with_attributes(
            engine::TRANSCRIPTION_TOPIC,
            "Bonjour à tous.",
            attrs(true),
            vec![],
        )
        .await
        .expect("final sent");
    // Interim updates (the engine may repeat one as the stream ends), then the final text.
    let mut seen = vec![];
    while !seen
        .last()
        .is_some_and(|c: &(String, String, String, bool)| c.3)
    {
        let c = next_ui(&mut ui, Duration::from_secs(10), |e| match e {
            UiEvent::Caption {
                participant_identity,
                segment_id,
                text,
                is_final,
                source: visio_desktop::bridge::CaptionSource::Room,
                voice: None,
            } => Some((
                participant_identity.clone(),
                segment_id.clone(),
                text.clone(),
                *is_final,
            )),
            _ => None,
        })
        .await;
        seen.push(c);
    }
    let bob_says = |text: &str, f: bool| ("bob".to_owned(), "SG_1".to_owned(), text.to_owned(), f);
    assert_eq!(seen[0], bob_says("Bonjour à", false), "{seen:?}");
    assert_eq!(
        seen.last(),
        Some(&bob_says("Bonjour à tous.", true)),
        "the speaker is bob (the transcribed track's owner), not the agent that sent them"
    );
    assert!(
        seen[..seen.len() - 1]
            .iter()
            .all(|c| c == &bob_says("Bonjour à", false)),
        "{seen:?}"
    );
    app.leave().await;
    agent.disconnect().await;
    bob.disconnect().await;
}

/// A room with a waiting room, created by one app (its organiser): a guest app waits in the
/// lobby, the organiser is told, lists and admits them; then mutes and removes them. Other
/// guests are refused, time out or cancel, each with its own code; a guest cannot moderate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lobby_admission_and_moderation_between_two_apps() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let http = format!("http://{}", server.http_addr());
    let (owner, mut owner_ui) = client().await;
    let room = owner
        .create_room(Some(http.clone()), Some(visio_api::AccessLevel::Restricted))
        .await
        .expect("a registered room");
    assert!(room.link.starts_with(&http), "{room:?}");
    let joined = owner
        .join(join_request(&room.link, "Organiser"))
        .await
        .expect("the organiser joins directly");
    assert!(joined.is_admin, "the creator administers the room");
    // Server data reaches the organiser once its data channels are up.
    next_ui(&mut owner_ui, Duration::from_secs(15), |e| {
        matches!(
            e,
            UiEvent::ConnectionState {
                state: ConnectionState::Connected,
                ..
            }
        )
        .then_some(())
    })
    .await;

    // The guest waits: its join is pending and its UI is told.
    let (guest, mut guest_ui) = client().await;
    let guest = Arc::new(guest);
    let g = guest.clone();
    let link = room.link.clone();
    let pending = tokio::spawn(async move { g.join(join_request(&link, "Invitée")).await });
    next_ui(&mut guest_ui, Duration::from_secs(10), |e| match e {
        UiEvent::Lobby { status } => (*status == visio_api::LobbyStatus::Waiting).then_some(()),
        _ => None,
    })
    .await;
    next_ui(&mut owner_ui, Duration::from_secs(15), |e| match e {
        UiEvent::Notification { kind } => (kind == "participantWaiting").then_some(()),
        _ => None,
    })
    .await;
    let waiting = owner.waiting_participants().await.expect("the lobby");
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0].name, "Invitée");
    assert!(!pending.is_finished(), "still waiting until admitted");
    owner
        .admit_participant(&waiting[0].id, true)
        .await
        .expect("admitted");
    let guest_joined = tokio::time::timeout(Duration::from_secs(20), pending)
        .await
        .expect("the guest gets in")
        .expect("task")
        .expect("joined");
    assert!(!guest_joined.is_admin);
    let guest_identity = guest_joined.local.identity.clone();
    assert!(owner
        .waiting_participants()
        .await
        .expect("lobby")
        .is_empty());

    // A guest cannot moderate.
    let e = guest
        .remove_participant(&joined.local.identity)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Denied);

    // The organiser mutes the guest's microphone once the organiser's app knows it.
    next_ui(&mut owner_ui, Duration::from_secs(15), |e| match e {
        UiEvent::TrackPublished { identity, track }
            if identity == &guest_identity && track.kind == engine::TrackKind::Audio =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    owner
        .mute_participant(&guest_identity)
        .await
        .expect("muted");
    next_ui(&mut owner_ui, Duration::from_secs(15), |e| match e {
        UiEvent::TrackMuted {
            identity, muted, ..
        } if identity == &guest_identity => muted.then_some(()),
        _ => None,
    })
    .await;
    // Unknown participants get a clear error, and the app goes on.
    let e = owner.mute_participant("nobody").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::NotConnected);

    // Removed: the guest's meeting ends with `denied`.
    owner
        .remove_participant(&guest_identity)
        .await
        .expect("removed");
    let code = next_ui(&mut guest_ui, Duration::from_secs(15), |e| match e {
        UiEvent::ConnectionState {
            state: ConnectionState::Disconnected,
            code,
            ..
        } => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(code, Some(ErrorCode::Denied));

    // Refused.
    let (refused, _) = client().await;
    let refused = Arc::new(refused);
    let r = refused.clone();
    let link = room.link.clone();
    let pending = tokio::spawn(async move { r.join(join_request(&link, "Refusé")).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let id = loop {
        let list = owner.waiting_participants().await.expect("lobby");
        if let Some(p) = list.iter().find(|p| p.name == "Refusé") {
            break p.id.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the guest in the lobby"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    owner.admit_participant(&id, false).await.expect("denied");
    let e = tokio::time::timeout(Duration::from_secs(20), pending)
        .await
        .expect("answer in time")
        .expect("task")
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Denied, "{e:?}");

    // Nobody answers: a short lobby limit gives `lobby_timeout`.
    let (late, _) = client_with(Launch {
        lobby_timeout: Some(Duration::from_secs(2)),
        ..Default::default()
    })
    .await;
    let e = late
        .join(join_request(&room.link, "Patient"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::LobbyTimeout, "{e:?}");

    // The user leaves the waiting room.
    let (quitter, mut quitter_ui) = client().await;
    let quitter = Arc::new(quitter);
    let q = quitter.clone();
    let link = room.link.clone();
    let pending = tokio::spawn(async move { q.join(join_request(&link, "Pressé")).await });
    next_ui(&mut quitter_ui, Duration::from_secs(10), |e| {
        matches!(e, UiEvent::Lobby { .. }).then_some(())
    })
    .await;
    quitter.cancel_join();
    let e = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("cancelled at once")
        .expect("task")
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Cancelled, "{e:?}");
    owner.leave().await;
}
