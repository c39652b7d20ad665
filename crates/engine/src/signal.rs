//! The signalling WebSocket: URL building, the upgrade with the token, the JoinResponse, and
//! turning every way that can fail into an [`EngineError`] that names the cause.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use livekit_protocol as proto;
use livekit_protocol::signal_request::Message as Req;
use livekit_protocol::signal_response::Message as Resp;
use prost::Message as _;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::EngineError;

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Protocol version announced to the server (the room server speaks 16, as livekit-server 1.9).
pub const PROTOCOL_VERSION: u32 = 16;

/// `ws(s)://host[:port]/prefix/rtc?...` from what a user gives (`http`, `https`, `ws`, `wss`).
pub(crate) fn rtc_url(url: &str, auto_subscribe: bool) -> Result<url::Url, EngineError> {
    let mut u = url::Url::parse(url).map_err(|e| EngineError::InvalidUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    let scheme = match u.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(EngineError::InvalidUrl {
                url: url.to_owned(),
                reason: format!("scheme {other:?} (expected ws, wss, http or https)"),
            })
        }
    };
    if u.host_str().is_none() {
        return Err(EngineError::InvalidUrl {
            url: url.to_owned(),
            reason: "no host".into(),
        });
    }
    u.set_scheme(scheme).ok();
    let path = format!("{}/rtc", u.path().trim_end_matches('/'));
    u.set_path(&path);
    u.set_query(None);
    u.query_pairs_mut()
        .append_pair("protocol", &PROTOCOL_VERSION.to_string())
        .append_pair("auto_subscribe", if auto_subscribe { "1" } else { "0" })
        .append_pair("sdk", "rust")
        .append_pair("adaptive_stream", "0");
    Ok(u)
}

/// What the server answered on a new signalling socket.
pub(crate) enum Joined {
    /// A new session.
    Join(Box<proto::JoinResponse>),
    /// `reconnect=1`: the session goes on (ReconnectResponse; its ICE servers are the ones
    /// already in use).
    Resumed,
}

/// How to reach the server: where, and which certificate authorities to trust for `wss`.
#[derive(Clone)]
pub(crate) struct Target {
    pub url: String,
    pub auto_subscribe: bool,
    pub timeout: Duration,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Target {
    pub(crate) fn new(url: &str, options: &crate::RoomOptions) -> Result<Self, EngineError> {
        let secure = rtc_url(url, options.auto_subscribe)?.scheme() == "wss";
        Ok(Self {
            url: url.to_owned(),
            auto_subscribe: options.auto_subscribe,
            timeout: options.connect_timeout,
            tls: if secure {
                Some(crate::tls::client_config(&options.extra_root_certs_pem)?)
            } else {
                None
            },
        })
    }
}

/// Opens the WebSocket and waits for the JoinResponse (or, resuming the session `resume_sid`,
/// the ReconnectResponse; a server that no longer knows it answers Leave:
/// [`EngineError::Refused`]).
pub(crate) async fn connect(
    target: &Target,
    token: &str,
    resume: Option<(&str, proto::ReconnectReason)>,
) -> Result<(Ws, Joined), EngineError> {
    let (url, timeout) = (target.url.as_str(), target.timeout);
    let mut u = rtc_url(url, target.auto_subscribe)?;
    if let Some((sid, reason)) = resume {
        u.query_pairs_mut()
            .append_pair("reconnect", "1")
            .append_pair("sid", sid)
            .append_pair("reconnect_reason", &(reason as i32).to_string());
    }
    let mut req = u
        .as_str()
        .into_client_request()
        .map_err(|e| EngineError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    let bearer = format!("Bearer {token}").parse().map_err(|_| {
        EngineError::InvalidToken("the token has characters not allowed in an HTTP header".into())
    })?;
    req.headers_mut().insert("Authorization", bearer);

    let connector = target.tls.clone().map(tokio_tungstenite::Connector::Rustls);
    let attempt = tokio::time::timeout(
        timeout,
        tokio_tungstenite::connect_async_tls_with_config(req, None, true, connector),
    )
    .await;
    let mut ws = match attempt {
        Err(_) => {
            return Err(EngineError::Timeout {
                what: "connecting the signalling WebSocket",
                url: url.to_owned(),
            })
        }
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return Err(upgrade_error(url, e)),
    };

    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next()).await;
        let msg = match next {
            Err(_) => {
                return Err(EngineError::Timeout {
                    what: "waiting for the JoinResponse",
                    url: url.to_owned(),
                })
            }
            Ok(None) => {
                return Err(EngineError::Protocol(
                    "the server closed the signalling socket before the JoinResponse".into(),
                ))
            }
            Ok(Some(Err(e))) => {
                return Err(EngineError::Protocol(format!(
                    "signalling socket failed before the JoinResponse: {e}"
                )))
            }
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Binary(b) => {
                let resp = proto::SignalResponse::decode(b.as_ref()).map_err(|e| {
                    EngineError::Protocol(format!(
                        "the server sent a message that is not a LiveKit SignalResponse: {e}"
                    ))
                })?;
                match resp.message {
                    Some(Resp::Join(j)) => {
                        validate_join(&j)?;
                        return Ok((ws, Joined::Join(Box::new(j))));
                    }
                    Some(Resp::Reconnect(_)) if resume.is_some() => {
                        return Ok((ws, Joined::Resumed));
                    }
                    Some(Resp::Leave(l)) => {
                        return Err(EngineError::Refused(format!(
                            "the server sent Leave instead of a JoinResponse (reason {})",
                            reason_name(l.reason)
                        )))
                    }
                    _ => {} // Messages before the JoinResponse are discarded, as the SDKs do.
                }
            }
            Message::Text(t) => {
                return Err(EngineError::Protocol(format!(
                    "the server sent text where LiveKit sends protobuf: {:?}",
                    t.chars().take(80).collect::<String>()
                )))
            }
            Message::Close(c) => {
                return Err(EngineError::Protocol(format!(
                    "the server closed the signalling socket before the JoinResponse ({c:?})"
                )))
            }
            _ => {}
        }
    }
}

pub(crate) fn reason_name(r: i32) -> String {
    proto::DisconnectReason::try_from(r)
        .map(|r| r.as_str_name().to_owned())
        .unwrap_or_else(|_| r.to_string())
}

fn validate_join(j: &proto::JoinResponse) -> Result<(), EngineError> {
    let p = j.participant.as_ref().ok_or_else(|| {
        EngineError::Protocol("JoinResponse without the local participant".into())
    })?;
    if !p.sid.starts_with("PA_") {
        return Err(EngineError::Protocol(format!(
            "JoinResponse participant sid {:?} lacks the PA_ prefix",
            p.sid
        )));
    }
    if j.room.is_none() {
        return Err(EngineError::Protocol(
            "JoinResponse without the room".into(),
        ));
    }
    Ok(())
}

fn upgrade_error(url: &str, e: tungstenite::Error) -> EngineError {
    match e {
        tungstenite::Error::Http(resp) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                .unwrap_or_default();
            match status {
                401 | 403 => EngineError::Unauthorized {
                    status,
                    reason: if body.is_empty() {
                        "no reason given".into()
                    } else {
                        body
                    },
                },
                _ => EngineError::Http {
                    status,
                    body: body.chars().take(200).collect(),
                },
            }
        }
        tungstenite::Error::Io(io) if is_tls_error(&io) => EngineError::Tls {
            url: url.to_owned(),
            reason: io.to_string(),
        },
        tungstenite::Error::Tls(e) => EngineError::Tls {
            url: url.to_owned(),
            reason: e.to_string(),
        },
        tungstenite::Error::Io(io) => EngineError::Unreachable {
            url: url.to_owned(),
            reason: io.to_string(),
        },
        tungstenite::Error::Url(u) => EngineError::InvalidUrl {
            url: url.to_owned(),
            reason: u.to_string(),
        },
        other => EngineError::Protocol(format!(
            "the server at {url} does not speak the LiveKit WebSocket protocol: {other}"
        )),
    }
}

/// rustls reports a refused certificate as an I/O error wrapping its own error.
fn is_tls_error(io: &std::io::Error) -> bool {
    io.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

/// Sends one request; a failure means the socket is gone.
pub(crate) async fn send(ws: &mut Ws, msg: Req) -> Result<(), tungstenite::Error> {
    let bytes = proto::SignalRequest { message: Some(msg) }.encode_to_vec();
    ws.send(Message::Binary(bytes.into())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = rtc_url("http://127.0.0.1:7880", true).unwrap();
        assert_eq!(
            u.as_str(),
            "ws://127.0.0.1:7880/rtc?protocol=16&auto_subscribe=1&sdk=rust&adaptive_stream=0"
        );
        let u = rtc_url("ws://h/prefix/", false).unwrap();
        assert!(u.as_str().starts_with("ws://h/prefix/rtc?"));
        assert!(matches!(
            rtc_url("ftp://h", true),
            Err(EngineError::InvalidUrl { .. })
        ));
        assert!(matches!(
            rtc_url("not a url", true),
            Err(EngineError::InvalidUrl { .. })
        ));
    }
}
