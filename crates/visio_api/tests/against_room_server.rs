//! The client against the in-process room server, with engine clients in the room: raised
//! hands, the lobby, moderation, and every kind of bad input.

use std::time::Duration;

use engine::{Room, RoomEvent, RoomOptions};
use room_server::{RoomServer, ServerConfig};
use tokio::sync::mpsc::UnboundedReceiver;
use visio_api::{AccessLevel, AdminAuth, ApiError, ClientOptions, RoomLink, VisioClient};

async fn server() -> (RoomServer, VisioClient) {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let link = format!("http://{}/abc-defg-hij", server.http_addr());
    let l = RoomLink::parse(&link).expect("link");
    let client = VisioClient::new(&l.server, ClientOptions::default()).expect("client");
    (server, client)
}

/// Waits for an event `f` accepts; the machine is busy, so the limit is generous.
async fn wait_for<T>(
    events: &mut UnboundedReceiver<RoomEvent>,
    mut f: impl FnMut(&RoomEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("the event in time")
            .expect("the event stream open");
        if let Some(t) = f(&e) {
            return t;
        }
    }
}

async fn join(access: &visio_api::LiveKitAccess) -> (Room, UnboundedReceiver<RoomEvent>) {
    Room::connect(&access.url, &access.token, RoomOptions::default())
        .await
        .expect("joins")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raised_hand_is_seen_by_the_other_participant() {
    let (_server, client) = server().await;
    let alice = client.room("abc-defg-hij", "Alice").await.expect("room");
    assert_eq!(alice.slug, "abc-defg-hij");
    assert_eq!(alice.access_level, AccessLevel::Public);
    let alice_lk = alice.livekit.clone().expect("public room gives a token");
    let bob_lk = client
        .room("ABCDEFGHIJ", "Bob")
        .await
        .expect("room")
        .livekit
        .expect("token");
    assert_eq!(
        alice_lk.room, bob_lk.room,
        "the normalised code names one room"
    );

    let (a, _a_events) = join(&alice_lk).await;
    let (_b, mut b_events) = join(&bob_lk).await;
    let alice_identity = a.local_participant().identity.clone();

    client
        .toggle_hand(alice.key(), &alice_lk.token, true)
        .await
        .expect("hand raised");
    let raised_at = wait_for(&mut b_events, |e| match e {
        RoomEvent::ParticipantMetadataChanged(p) if p.identity == alice_identity => {
            p.attributes.get("handRaisedAt").cloned()
        }
        _ => None,
    })
    .await;
    // An ISO 8601 timestamp of now, as Visio's Python isoformat().
    assert!(
        raised_at.starts_with("20") && raised_at.contains('T'),
        "{raised_at}"
    );
    assert!(raised_at.ends_with("+00:00"), "{raised_at}");

    client
        .toggle_hand(alice.key(), &alice_lk.token, false)
        .await
        .expect("hand lowered");
    wait_for(&mut b_events, |e| match e {
        RoomEvent::ParticipantMetadataChanged(p)
            if p.identity == alice_identity && !p.attributes.contains_key("handRaisedAt") =>
        {
            Some(())
        }
        _ => None,
    })
    .await;

    // A token for another room is refused, and a garbage token is unauthorized.
    let other = client
        .room("zzz-zzzz-zzz", "Eve")
        .await
        .expect("room")
        .livekit
        .expect("token");
    let wrong_room = client.toggle_hand(alice.key(), &other.token, true).await;
    assert!(
        matches!(wrong_room, Err(ApiError::Forbidden { .. })),
        "{wrong_room:?}"
    );
    let garbage = client.toggle_hand(alice.key(), "not.a.jwt", true).await;
    match garbage {
        Err(ApiError::Unauthorized { detail }) => {
            assert!(detail.contains("Invalid LiveKit token"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    // A valid token whose participant is not in the room.
    let absent = client.toggle_hand("zzz-zzzz-zzz", &other.token, true).await;
    match absent {
        Err(ApiError::NotFound { detail }) => assert!(detail.contains("Participant"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_room_lobby_admit_and_deny() {
    let (server, owner) = server().await;
    let room = owner
        .create_room(None, AccessLevel::Restricted)
        .await
        .expect("room created");
    assert_eq!(room.access_level, AccessLevel::Restricted);
    assert!(room.is_administrable);
    let id = room.id.clone().expect("a registered room has an id");
    assert!(
        owner.cookie("sessionid").is_some(),
        "the owner holds a session"
    );
    let me = owner.me().await.expect("the session's user");
    let owner_lk = room.livekit.clone().expect("the owner's token");
    let (admin, mut admin_events) = join(&owner_lk).await;
    assert_eq!(admin.local_participant().identity, me.id);
    // Server data reaches the admin once its data channels are up.
    wait_for(&mut admin_events, |e| {
        matches!(e, RoomEvent::Connected).then_some(())
    })
    .await;

    // A guest (its own cookie jar) is sent to the lobby.
    let guest = VisioClient::new(owner.server(), ClientOptions::default()).expect("client");
    assert!(matches!(
        guest.me().await,
        Err(ApiError::Unauthorized { .. })
    ));
    let seen = guest.room(&room.slug, "Guest").await.expect("room");
    assert!(
        seen.livekit.is_none(),
        "restricted: no token for a stranger"
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    let (status_tx, mut status_rx) = tokio::sync::mpsc::unbounded_channel();
    let guest2 = guest.clone();
    let slug = room.slug.clone();
    let waiting = tokio::spawn(async move {
        visio_api::resolve_with(&guest2, &slug, "Guest", &cancel, |p| {
            let _ = status_tx.send((p.status, p.id.clone()));
        })
        .await
    });
    let (status, lobby_id) = tokio::time::timeout(Duration::from_secs(20), status_rx.recv())
        .await
        .expect("a lobby answer")
        .expect("open");
    assert_eq!(status, visio_api::LobbyStatus::Waiting);
    assert_eq!(
        guest.cookie("lobbyParticipantId").as_deref(),
        Some(lobby_id.as_str()),
        "the jar keeps the lobby's HttpOnly cookie for the next polls"
    );

    // The admin is told, lists the lobby and admits the guest.
    wait_for(&mut admin_events, |e| match e {
        RoomEvent::DataReceived { payload, .. } if visio_api::is_participant_waiting(payload) => {
            Some(())
        }
        _ => None,
    })
    .await;
    let list = owner
        .waiting_participants(&id, AdminAuth::Session)
        .await
        .expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].id.as_str(), list[0].username.as_str()),
        (lobby_id.as_str(), "Guest")
    );
    // By the meeting's token too.
    let by_token = owner
        .waiting_participants(&id, AdminAuth::Bearer(&owner_lk.token))
        .await
        .expect("list by token");
    assert_eq!(by_token.len(), 1);
    owner
        .enter(&id, &lobby_id, true, AdminAuth::Session)
        .await
        .expect("admitted");
    let joined = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the lobby ends")
        .expect("task")
        .expect("admitted with a token");
    assert_eq!(joined.livekit.room, id);
    let (g, _g_events) = join(&joined.livekit).await;
    assert_eq!(
        g.local_participant().identity,
        lobby_id,
        "lobby id is the identity"
    );
    wait_for(&mut admin_events, |e| match e {
        RoomEvent::ParticipantConnected(p) if p.identity == lobby_id => Some(()),
        _ => None,
    })
    .await;

    // A guest is no admin; a denied guest is told so.
    let not_admin = guest
        .enter(
            &id,
            &lobby_id,
            true,
            AdminAuth::Bearer(&joined.livekit.token),
        )
        .await;
    assert!(
        matches!(not_admin, Err(ApiError::Forbidden { .. })),
        "{not_admin:?}"
    );
    let stranger = VisioClient::new(owner.server(), ClientOptions::default()).expect("client");
    let first = stranger.request_entry(&id, "Eve").await.expect("waiting");
    owner
        .enter(&id, &first.id, false, AdminAuth::Session)
        .await
        .expect("denied");
    let cancel = tokio_util::sync::CancellationToken::new();
    let denied = stranger
        .wait_for_entry(
            &id,
            "Eve",
            Duration::from_millis(200),
            Duration::from_secs(5),
            &cancel,
            |_| {},
        )
        .await;
    assert!(matches!(denied, Err(ApiError::Denied)), "{denied:?}");

    // Waiting can be cancelled, and times out.
    let late = VisioClient::new(owner.server(), ClientOptions::default()).expect("client");
    let cancel = tokio_util::sync::CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        c2.cancel();
    });
    let r = late
        .wait_for_entry(
            &id,
            "Late",
            Duration::from_millis(200),
            Duration::from_secs(60),
            &cancel,
            |_| {},
        )
        .await;
    assert!(matches!(r, Err(ApiError::Cancelled)), "{r:?}");
    let r = late
        .wait_for_entry(
            &id,
            "Late",
            Duration::from_millis(200),
            Duration::from_secs(1),
            &tokio_util::sync::CancellationToken::new(),
            |_| {},
        )
        .await;
    assert!(matches!(r, Err(ApiError::LobbyTimeout { .. })), "{r:?}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_mutes_and_removes() {
    let (_server, owner) = server().await;
    let room = owner
        .create_room(Some("MO-DROOMABC"), AccessLevel::Public)
        .await;
    // Not a room code: refused with the field named.
    match room {
        Err(ApiError::BadRequest { detail }) => assert!(detail.contains("name"), "{detail}"),
        other => panic!("{other:?}"),
    }
    let room = owner
        .create_room(Some("MODROOMABC"), AccessLevel::Public)
        .await
        .expect("created");
    assert_eq!(room.slug, "mod-room-abc");
    let dup = owner
        .create_room(Some("mod-room-abc"), AccessLevel::Public)
        .await;
    assert!(matches!(dup, Err(ApiError::BadRequest { .. })), "{dup:?}");
    let id = room.id.clone().expect("id");
    let admin_lk = room.livekit.clone().expect("token");
    let (_admin, mut admin_events) = join(&admin_lk).await;

    let member = VisioClient::new(owner.server(), ClientOptions::default()).expect("client");
    let bob_lk = member
        .room(&room.slug, "Bob")
        .await
        .expect("public room")
        .livekit
        .expect("token");
    let (bob, mut bob_events) = Room::connect(
        &bob_lk.url,
        &bob_lk.token,
        RoomOptions {
            publish: Some(engine::PublishOptions {
                width: 320,
                height: 180,
                ..engine::PublishOptions::fake_devices()
            }),
            ..RoomOptions::default()
        },
    )
    .await
    .expect("bob joins");
    let bob_id = bob.local_participant().identity.clone();
    let track_sid = wait_for(&mut admin_events, |e| match e {
        RoomEvent::TrackPublished {
            participant_identity,
            publication,
        } if participant_identity == &bob_id => Some(publication.sid.clone()),
        _ => None,
    })
    .await;

    // Bob is no admin.
    let r = member
        .mute_participant(&id, AdminAuth::Bearer(&bob_lk.token), &bob_id, &track_sid)
        .await;
    assert!(matches!(r, Err(ApiError::Forbidden { .. })), "{r:?}");
    let r = owner
        .mute_participant(
            &id,
            AdminAuth::Bearer(&admin_lk.token),
            "nobody",
            &track_sid,
        )
        .await;
    assert!(matches!(r, Err(ApiError::NotFound { .. })), "{r:?}");

    owner
        .mute_participant(&id, AdminAuth::Bearer(&admin_lk.token), &bob_id, &track_sid)
        .await
        .expect("muted");
    wait_for(&mut admin_events, |e| match e {
        RoomEvent::TrackMuted {
            participant_identity,
            track_sid: sid,
        } if participant_identity == &bob_id && sid == &track_sid => Some(()),
        _ => None,
    })
    .await;

    let sub = owner
        .start_subtitle(&id, &admin_lk.token)
        .await
        .expect("accepted");
    assert_eq!(sub.agent, Some(false));
    assert!(sub
        .detail
        .unwrap_or_default()
        .contains("no transcription agent"));

    owner
        .remove_participant(&id, AdminAuth::Session, &bob_id)
        .await
        .expect("removed");
    wait_for(&mut admin_events, |e| match e {
        RoomEvent::ParticipantDisconnected(p) if p.identity == bob_id => Some(()),
        _ => None,
    })
    .await;
    wait_for(&mut bob_events, |e| match e {
        RoomEvent::Disconnected { .. } => Some(()),
        _ => None,
    })
    .await;
    let again = owner
        .remove_participant(&id, AdminAuth::Session, &bob_id)
        .await;
    assert!(matches!(again, Err(ApiError::NotFound { .. })), "{again:?}");
}

/// A plain HTTP server that answers every request with `status` and `body`.
async fn plain_server(status: &'static str, content_type: &'static str, body: &'static str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn errors_the_ui_can_explain() {
    // A web server that is not Visio.
    let port = plain_server(
        "200 OK",
        "text/html",
        "<html><body>Welcome to nginx!</body></html>",
    )
    .await;
    let link = format!("http://127.0.0.1:{port}/abc-defg-hij");
    let cancel = tokio_util::sync::CancellationToken::new();
    let r = visio_api::resolve(&link, "A", ClientOptions::default(), &cancel, |_| {}).await;
    match r {
        Err(e @ ApiError::NotVisio { .. }) => {
            assert!(e.to_string().contains("is not a Visio server"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let l = RoomLink::parse(&link).expect("link");
    let c = VisioClient::new(&l.server, ClientOptions::default()).expect("client");
    assert!(matches!(c.config().await, Err(ApiError::NotVisio { .. })));

    // A JSON API that is not Visio's either.
    let port = plain_server("200 OK", "application/json", "{\"hello\": 1}").await;
    let c = VisioClient::new(
        &url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url"),
        ClientOptions::default(),
    )
    .expect("client");
    assert!(matches!(c.config().await, Err(ApiError::NotVisio { .. })));
    assert!(matches!(
        c.room("abc-defg-hij", "A").await,
        Err(ApiError::NotVisio { .. })
    ));

    // A failing server.
    let port = plain_server("502 Bad Gateway", "text/html", "<h1>502</h1>").await;
    let c = VisioClient::new(
        &url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url"),
        ClientOptions::default(),
    )
    .expect("client");
    match c.room("abc-defg-hij", "A").await {
        Err(ApiError::Server { status, .. }) => assert_eq!(status, 502),
        other => panic!("{other:?}"),
    }

    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let c = VisioClient::new(
        &url::Url::parse(&format!("http://127.0.0.1:{closed}/")).expect("url"),
        ClientOptions::default(),
    )
    .expect("client");
    assert!(matches!(
        c.config().await,
        Err(ApiError::Unreachable { .. })
    ));

    // https to a server speaking plain HTTP: a TLS failure, not a crash.
    let port = plain_server("200 OK", "text/html", "plain").await;
    let c = VisioClient::new(
        &url::Url::parse(&format!("https://127.0.0.1:{port}/")).expect("url"),
        ClientOptions::default(),
    )
    .expect("client");
    let r = c.config().await;
    assert!(matches!(r, Err(ApiError::Tls { .. })), "{r:?}");

    // Bad client configuration is refused up front.
    let bad_ca = ClientOptions {
        extra_ca_pem: vec![
            b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n".to_vec(),
        ],
        ..Default::default()
    };
    assert!(matches!(
        VisioClient::new(
            &url::Url::parse("https://visio.example/").expect("url"),
            bad_ca
        ),
        Err(ApiError::Config(_))
    ));
    // Unknown rooms on the real thing.
    let (_server, client) = server().await;
    let r = client.room("not-a-code", "A").await;
    assert!(matches!(r, Err(ApiError::RoomNotFound { .. })), "{r:?}");
    let r = client.room("../../etc", "A").await;
    assert!(matches!(r, Err(ApiError::RoomNotFound { .. })), "{r:?}");
}
