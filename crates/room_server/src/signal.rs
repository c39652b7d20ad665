//! The `/rtc` WebSocket: checks the token before upgrading (a bad one gets LiveKit's 401 with a
//! reason), then relays protobuf `SignalRequest`s to the core and `SignalResponse`s back.

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use livekit_protocol as proto;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use crate::auth::{AuthError, JoinGrant};
use crate::core::{CoreMsg, JoinRequest};
use crate::AppState;

/// Frames that fail to decode in a row before the session is closed.
const MAX_BAD_FRAMES: u32 = 16;

fn token_from(headers: &HeaderMap, query: &HashMap<String, String>) -> String {
    if let Some(v) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return t.trim().to_owned();
        }
    }
    query.get("access_token").cloned().unwrap_or_default()
}

fn check(
    state: &AppState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<JoinGrant, AuthError> {
    state.keys.verify_join(&token_from(headers, query))
}

fn unauthorized(e: AuthError) -> Response {
    (StatusCode::UNAUTHORIZED, e.to_string()).into_response()
}

/// `GET /rtc/validate`: what SDKs call after a failed upgrade to learn why.
pub async fn validate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match check(&state, &headers, &query) {
        Ok(_) => (StatusCode::OK, "success").into_response(),
        Err(e) => unauthorized(e),
    }
}

/// `GET /rtc/v1`: single peer connection mode is not offered; a 404 makes SDKs fall back to
/// `/rtc`, exactly as with LiveKit servers older than 1.9.
pub async fn v1_not_supported() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found").into_response()
}

pub async fn rtc(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let grant = match check(&state, &headers, &query) {
        Ok(g) => g,
        Err(e) => {
            tracing::info!("join refused: {e}");
            return unauthorized(e);
        }
    };
    let auto_subscribe = query
        .get("auto_subscribe")
        .is_none_or(|v| v != "0" && v != "false");
    let resume_sid = (query
        .get("reconnect")
        .is_some_and(|v| v == "1" || v == "true"))
    .then(|| query.get("sid").cloned())
    .flatten();
    // LiveKit's ReconnectReason: 2 publisher failed, 3 subscriber failed, 4 switch candidate.
    let ice_restart = query
        .get("reconnect_reason")
        .is_some_and(|r| matches!(r.as_str(), "2" | "3" | "4"));
    ws.max_message_size(1 << 20).on_upgrade(move |socket| {
        session(
            state,
            socket,
            grant,
            auto_subscribe,
            resume_sid,
            ice_restart,
        )
    })
}

async fn session(
    state: AppState,
    socket: WebSocket,
    grant: JoinGrant,
    auto_subscribe: bool,
    resume_sid: Option<String>,
    ice_restart: bool,
) {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    let (reply_tx, reply_rx) = oneshot::channel();
    let join = JoinRequest {
        grant,
        auto_subscribe,
        resume_sid,
        ice_restart,
        out: out_tx,
        reply: reply_tx,
    };
    if state
        .core
        .send(CoreMsg::Join(Box::new(join)))
        .await
        .is_err()
    {
        return;
    }
    let key = match reply_rx.await {
        Ok(Ok(k)) => k,
        Ok(Err(reason)) => {
            // Resume of an unknown session: tell the client to join again.
            let leave = proto::SignalResponse {
                message: Some(proto::signal_response::Message::Leave(
                    proto::LeaveRequest {
                        action: proto::leave_request::Action::Reconnect as i32,
                        reason: proto::DisconnectReason::StateMismatch as i32,
                        can_reconnect: true,
                        ..Default::default()
                    },
                )),
            };
            tracing::info!("resume refused: {reason}");
            let _ = sink
                .send(Message::Binary(leave.encode_to_vec().into()))
                .await;
            return;
        }
        Err(_) => return,
    };

    let mut left = false;
    let mut bad_frames = 0u32;
    loop {
        tokio::select! {
            out = out_rx.recv() => {
                let Some(msg) = out else { break };
                let leaving = matches!(msg, proto::signal_response::Message::Leave(_));
                let bytes = proto::SignalResponse { message: Some(msg) }.encode_to_vec();
                if sink.send(Message::Binary(bytes.into())).await.is_err() {
                    break;
                }
                if leaving {
                    left = true;
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            }
            incoming = stream.next() => {
                let Some(Ok(frame)) = incoming else { break };
                let bytes = match frame {
                    Message::Binary(b) => b,
                    Message::Close(_) => break,
                    _ => continue,
                };
                match proto::SignalRequest::decode(bytes.as_ref()) {
                    Ok(proto::SignalRequest { message: Some(msg) }) => {
                        bad_frames = 0;
                        left |= matches!(msg, proto::signal_request::Message::Leave(_));
                        if state.core.send(CoreMsg::Signal { key, msg: Box::new(msg) }).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        bad_frames += 1;
                        tracing::debug!("malformed signal frame dropped: {e}");
                        if bad_frames >= MAX_BAD_FRAMES {
                            tracing::info!("closing a session that sends only malformed frames");
                            break;
                        }
                    }
                }
            }
        }
    }
    // Dropped first, so the core can tell this socket's end from that of one a resume
    // already replaced.
    drop(out_rx);
    let _ = state.core.send(CoreMsg::Closed { key, left }).await;
}
