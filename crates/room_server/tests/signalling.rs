//! The `/rtc` WebSocket spoken directly, as an SDK would, with the official protobuf types:
//! what a joining client receives, pings, participant updates, and refusals.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use livekit_protocol as proto;
use livekit_token::{AccessToken, VideoGrants};
use prost::Message as _;
use room_server::{RoomServer, ServerConfig};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn token(secret: &str, room: &str, identity: &str) -> String {
    AccessToken::with_api_key("devkey", secret)
        .with_identity(identity)
        .with_grants(VideoGrants {
            room_join: true,
            room: room.into(),
            ..Default::default()
        })
        .to_jwt()
        .expect("token")
}

async fn connect(server: &RoomServer, token: &str) -> Result<Ws, tungstenite::Error> {
    connect_query(server, "protocol=16&sdk=rust", token).await
}

async fn connect_query(
    server: &RoomServer,
    query: &str,
    token: &str,
) -> Result<Ws, tungstenite::Error> {
    let mut req = format!("{}/rtc?{query}", server.url())
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

async fn next(ws: &mut Ws) -> proto::signal_response::Message {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Binary(b) = msg {
            let resp = proto::SignalResponse::decode(b.as_ref()).expect("valid protobuf");
            return resp.message.expect("a message");
        }
    }
}

async fn next_matching<T>(
    ws: &mut Ws,
    mut f: impl FnMut(proto::signal_response::Message) -> Option<T>,
) -> T {
    for _ in 0..50 {
        if let Some(t) = f(next(ws).await) {
            return t;
        }
    }
    panic!("expected message not received");
}

/// Sends a ping_req and returns the timestamp the pong_resp echoes.
async fn ping(ws: &mut Ws, timestamp: i64) -> i64 {
    send(
        ws,
        proto::signal_request::Message::PingReq(proto::Ping { timestamp, rtt: 0 }),
    )
    .await;
    next_matching(ws, |m| match m {
        proto::signal_response::Message::PongResp(p) => Some(p.last_ping_timestamp),
        _ => None,
    })
    .await
}

async fn send(ws: &mut Ws, msg: proto::signal_request::Message) {
    let bytes = proto::SignalRequest { message: Some(msg) }.encode_to_vec();
    ws.send(Message::Binary(bytes.into())).await.expect("send");
}

#[tokio::test]
async fn join_response_offer_ping_and_participant_updates() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let mut alice = connect(&server, &token("secret", "r1", "alice"))
        .await
        .expect("alice");

    let proto::signal_response::Message::Join(join) = next(&mut alice).await else {
        panic!("the first message is the JoinResponse");
    };
    let room = join.room.expect("room");
    let me = join.participant.expect("participant");
    assert_eq!(room.name, "r1");
    assert!(room.sid.starts_with("RM_"));
    assert!(me.sid.starts_with("PA_"));
    assert_eq!(me.identity, "alice");
    assert!(join.ping_interval > 0 && join.ping_timeout > join.ping_interval);
    assert!(join.subscriber_primary);
    assert!(join.other_participants.is_empty());

    // The subscriber connection is offered at once, with the server's data channels.
    let offer = next_matching(&mut alice, |m| match m {
        proto::signal_response::Message::Offer(o) => Some(o),
        _ => None,
    })
    .await;
    assert_eq!(offer.r#type, "offer");
    assert!(offer.sdp.contains("m=application"), "{}", offer.sdp);
    assert!(
        offer.sdp.contains("a=candidate"),
        "host candidates in the SDP"
    );

    assert_eq!(ping(&mut alice, 1234).await, 1234);

    // Bob joins: he sees alice; alice gets an update about bob.
    let mut bob = connect(&server, &token("secret", "r1", "bob"))
        .await
        .expect("bob");
    let proto::signal_response::Message::Join(bob_join) = next(&mut bob).await else {
        panic!("JoinResponse");
    };
    assert_eq!(bob_join.other_participants.len(), 1);
    assert_eq!(bob_join.other_participants[0].identity, "alice");
    let update = next_matching(&mut alice, |m| match m {
        proto::signal_response::Message::Update(u)
            if u.participants.iter().any(|p| p.identity == "bob") =>
        {
            Some(u)
        }
        _ => None,
    })
    .await;
    assert!(update.participants[0].sid.starts_with("PA_"));

    // Bob leaves: alice is told he is disconnected.
    send(
        &mut bob,
        proto::signal_request::Message::Leave(proto::LeaveRequest {
            reason: proto::DisconnectReason::ClientInitiated as i32,
            ..Default::default()
        }),
    )
    .await;
    next_matching(&mut alice, |m| match m {
        proto::signal_response::Message::Update(u)
            if u.participants.iter().any(|p| {
                p.identity == "bob"
                    && p.state == proto::participant_info::State::Disconnected as i32
            }) =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    assert_eq!(server.stats().await.expect("stats").participants, 1);
}

#[tokio::test]
async fn refusals_carry_livekit_status_and_reason() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    match connect(&server, &token("wrong", "r1", "eve")).await {
        Err(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 401);
            let body =
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).to_string();
            assert!(body.contains("invalid token"), "{body}");
        }
        other => panic!("expected a 401, got {:?}", other.map(|_| ())),
    }
    // Single-PC mode is answered 404 so SDKs fall back to /rtc.
    let mut req = format!("{}/rtc/v1", server.url())
        .into_client_request()
        .expect("req");
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", token("secret", "r1", "a"))
            .parse()
            .expect("header"),
    );
    match tokio_tungstenite::connect_async(req).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 404),
        other => panic!("expected a 404, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_session_sending_garbage_is_closed_and_others_are_unaffected() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let mut good = connect(&server, &token("secret", "r1", "good"))
        .await
        .expect("good");
    let mut bad = connect(&server, &token("secret", "r1", "bad"))
        .await
        .expect("bad");
    assert!(matches!(
        next(&mut good).await,
        proto::signal_response::Message::Join(_)
    ));
    for i in 0..64u8 {
        if bad
            .send(Message::Binary(
                vec![0xff, 0xff, 0xff, 0xff, 0x0f, i].into(),
            ))
            .await
            .is_err()
        {
            break;
        }
    }
    // The bad session ends.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = bad.next().await {
            if matches!(m, Message::Close(_)) {
                return true;
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    assert!(
        closed,
        "the server closes a session that sends only garbage"
    );
    // The good session still answers pings.
    assert_eq!(ping(&mut good, 7).await, 7);
}

#[tokio::test]
async fn a_dropped_signalling_socket_can_resume_its_session() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let alice_token = token("secret", "r1", "alice");
    let mut alice = connect(&server, &alice_token).await.expect("alice");
    let proto::signal_response::Message::Join(join) = next(&mut alice).await else {
        panic!("JoinResponse");
    };
    let sid = join.participant.expect("participant").sid;
    drop(alice); // no Leave: the network dropped

    let mut resumed = connect_query(&server, &format!("reconnect=1&sid={sid}"), &alice_token)
        .await
        .expect("resume");
    let proto::signal_response::Message::Reconnect(_) = next(&mut resumed).await else {
        panic!("a resume gets a ReconnectResponse, not a new join");
    };
    assert_eq!(server.stats().await.expect("stats").participants, 1);

    // A resume for a session the server does not know asks for a full rejoin.
    let mut stale = connect_query(&server, "reconnect=1&sid=PA_unknown", &alice_token)
        .await
        .expect("stale resume");
    let proto::signal_response::Message::Leave(leave) = next(&mut stale).await else {
        panic!("Leave expected");
    };
    assert_eq!(leave.action, proto::leave_request::Action::Reconnect as i32);
}
