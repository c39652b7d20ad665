//! Visio room links (`https://visio.numerique.gouv.fr/abc-defg-hij`, or a local room server's
//! `http://host:7880/abc-defg-hij`): the room code is read from the link and Visio's REST API
//! (`GET /api/v1.0/rooms/{slug}/?username=NAME`) gives the LiveKit URL and a token.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::EngineError;

/// What Visio's API returns to join a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisioRoom {
    pub slug: String,
    pub livekit_url: String,
    pub livekit_room: String,
    pub token: String,
}

/// The room code of a Visio link (`abc-defg-hij`, also written without hyphens or in upper
/// case), or `None` when the link's last path segment is not one.
pub fn room_code(link: &str) -> Option<String> {
    url::Url::parse(link).ok()?;
    room_code::normalize(link)
}

/// Asks the Visio API behind `link` for a token to its room, as `username`.
pub async fn resolve(link: &str, username: &str) -> Result<VisioRoom, EngineError> {
    let invalid = |reason: &str| EngineError::InvalidUrl {
        url: link.to_owned(),
        reason: reason.to_owned(),
    };
    let u = url::Url::parse(link).map_err(|e| invalid(&e.to_string()))?;
    let slug = room_code(link).ok_or_else(|| invalid("not a Visio room link (…/abc-defg-hij)"))?;
    match u.scheme() {
        "http" => {}
        "https" => return Err(invalid("https Visio links need TLS, not in this build yet")),
        _ => return Err(invalid("a Visio link starts with http:// or https://")),
    }
    let host = u.host_str().ok_or_else(|| invalid("no host"))?.to_owned();
    let port = u.port().unwrap_or(80);
    let mut path = u.clone();
    path.set_path(&format!("/api/v1.0/rooms/{slug}/"));
    path.set_query(None);
    path.query_pairs_mut().append_pair("username", username);
    let target = format!("{}?{}", path.path(), path.query().unwrap_or_default());

    let unreachable = |e: String| EngineError::Unreachable {
        url: link.to_owned(),
        reason: e,
    };
    let io = async {
        let mut s = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let req = format!(
            "GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let mut buf = vec![];
        s.take(1 << 20)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok::<Vec<u8>, EngineError>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .map_err(|_| EngineError::Timeout {
            what: "asking the Visio API for the room",
            url: link.to_owned(),
        })??;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| EngineError::Protocol("the Visio API answered something not HTTP".into()))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| EngineError::Protocol("the Visio API answered something not HTTP".into()))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(EngineError::Protocol(
            "chunked answers from the Visio API are not supported yet".into(),
        ));
    }
    if status != 200 {
        return Err(EngineError::Http {
            status,
            body: body.chars().take(200).collect(),
        });
    }
    let v: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| EngineError::Protocol(format!("the Visio API answer is not JSON: {e}")))?;
    let field = |k: &str| {
        v["livekit"][k]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| EngineError::Protocol(format!("the Visio API answer lacks livekit.{k}")))
    };
    Ok(VisioRoom {
        slug,
        livekit_url: field("url")?,
        livekit_room: field("room")?,
        token: field("token")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_codes() {
        assert_eq!(
            room_code("https://visio.numerique.gouv.fr/abc-defg-hij").as_deref(),
            Some("abc-defg-hij")
        );
        assert_eq!(
            room_code("http://127.0.0.1:7880/ABCDEFGHIJ/").as_deref(),
            Some("abc-defg-hij")
        );
        assert_eq!(room_code("http://127.0.0.1:7880/"), None);
        assert_eq!(room_code("http://h/ab-cdefg-hij"), None);
        assert_eq!(room_code("ws://h/rtc"), None);
    }
}
