//! A client of Visio's REST API (`https://HOST/api/v1.0/`): what a desktop client asks a Visio
//! deployment, or Visio Desktop's own room server, before and around a LiveKit session.
//!
//! # What it covers
//! - Room links: [`RoomLink::parse`] reads `https://HOST/abc-defg-hij`,
//!   `http://host:7880/ABCDEFGHIJ` (a local server) and `visio://HOST/abc-defg-hij` (https).
//! - `config/`, `users/me/`, `rooms/{slug}/?username=` (the LiveKit URL and token), room
//!   creation `POST rooms/`.
//! - The lobby: [`VisioClient::wait_for_entry`] polls `request-entry/` every second for up to
//!   10 minutes (cancellable), reporting each status; admins use
//!   [`VisioClient::waiting_participants`] and [`VisioClient::enter`], and learn of arrivals
//!   by the data packet `{"type":"participantWaiting"}` ([`is_participant_waiting`]).
//! - In the meeting, with the LiveKit token as Bearer: [`VisioClient::toggle_hand`]
//!   (the `handRaisedAt` attribute), [`VisioClient::start_subtitle`], and for admins
//!   [`VisioClient::mute_participant`] and [`VisioClient::remove_participant`].
//!
//! # Transport
//! reqwest with rustls: TLS is always verified, against the system's and Mozilla's roots plus
//! any CA certificates IT supplies ([`ClientOptions::extra_ca_pem`]); an explicit proxy may be
//! given, else the usual proxy environment variables apply. A cookie jar keeps Visio's
//! session cookie (restored with [`VisioClient::set_cookie`]) and the lobby's
//! `lobbyParticipantId`; unsafe requests carry `X-CSRFToken` from the `csrftoken` cookie, as
//! Django wants.
//!
//! # Errors
//! Every failure is an [`ApiError`] the UI can explain as it is: not a Visio server, room not
//! found, session expired, permission refused, denied by the lobby, lobby timeout, a server
//! error with its status, unreachable, a TLS failure.
//!
//! ```no_run
//! # async fn demo() -> Result<(), visio_api::ApiError> {
//! let link = visio_api::RoomLink::parse("https://visio.numerique.gouv.fr/abc-defg-hij")?;
//! let client = visio_api::VisioClient::new(&link.server, Default::default())?;
//! let room = client.room(&link.slug, "Alice").await?;
//! if let Some(lk) = room.livekit {
//!     println!("join {} with a token", lk.url);
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use url::Url;

/// The lobby's data packet type, sent by the server to a room's admins.
pub const PARTICIPANT_WAITING: &str = "participantWaiting";
/// How often Visio's web client polls `request-entry/`.
pub const LOBBY_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// When Visio's web client gives up waiting in the lobby.
pub const LOBBY_TIMEOUT: Duration = Duration::from_secs(600);

/// Why a request to Visio failed, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{link:?} is not a Visio room link: {reason}")]
    InvalidLink { link: String, reason: String },
    #[error("{url} is not a Visio server: {reason}")]
    NotVisio { url: String, reason: String },
    #[error("no room {room:?} on this Visio server")]
    RoomNotFound { room: String },
    #[error("not signed in, or the session expired: {detail}")]
    Unauthorized { detail: String },
    #[error("not allowed: {detail}")]
    Forbidden { detail: String },
    #[error("the server refused the request: {detail}")]
    BadRequest { detail: String },
    #[error("not found: {detail}")]
    NotFound { detail: String },
    #[error("an organiser of the room declined your request to join")]
    Denied,
    #[error("nobody let you in after {} minutes in the waiting room", waited.as_secs() / 60)]
    LobbyTimeout { waited: Duration },
    #[error("cancelled")]
    Cancelled,
    #[error("the Visio server failed (HTTP {status}): {detail}")]
    Server { status: u16, detail: String },
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("secure connection to {url} failed (certificate or TLS): {reason}")]
    Tls { url: String, reason: String },
    #[error("{url} did not answer in time")]
    Timeout { url: String },
    #[error("client configuration: {0}")]
    Config(String),
}

/// A room link: the Visio server it lives on and its room code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomLink {
    /// The server's origin (`https://visio.numerique.gouv.fr/`).
    pub server: Url,
    /// The normalised room code (`abc-defg-hij`).
    pub slug: String,
}

impl RoomLink {
    /// Reads `https://HOST/abc-defg-hij`, `http://HOST:PORT/abc-defg-hij` or
    /// `visio://HOST/abc-defg-hij` (https); other case or missing hyphens are normalised.
    pub fn parse(link: &str) -> Result<Self, ApiError> {
        let invalid = |reason: &str| ApiError::InvalidLink {
            link: link.to_owned(),
            reason: reason.to_owned(),
        };
        let u = Url::parse(link.trim()).map_err(|e| invalid(&e.to_string()))?;
        let scheme = match u.scheme() {
            "https" | "visio" => "https",
            "http" => "http",
            _ => {
                return Err(invalid(
                    "a Visio link starts with https://, http:// or visio://",
                ))
            }
        };
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host"))?;
        let last = u
            .path_segments()
            .and_then(|mut s| s.rfind(|p| !p.is_empty()))
            .ok_or_else(|| invalid("no room code (…/abc-defg-hij)"))?;
        let slug =
            room_code::normalize(last).ok_or_else(|| invalid("no room code (…/abc-defg-hij)"))?;
        let origin = match u.port() {
            Some(p) => format!("{scheme}://{host}:{p}/"),
            None => format!("{scheme}://{host}/"),
        };
        let server = Url::parse(&origin).map_err(|e| invalid(&e.to_string()))?;
        Ok(Self { server, slug })
    }

    /// Whether `link` looks like a room link (so a CLI can tell it from a LiveKit URL).
    pub fn is_room_link(link: &str) -> bool {
        Self::parse(link).is_ok()
    }
}

/// How the client reaches the server; IT policy supplies CAs and proxy.
#[derive(Clone)]
pub struct ClientOptions {
    /// PEM CA certificates trusted in addition to the system's.
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// An explicit proxy URL (`http://proxy:3128`); `None` uses the environment's.
    pub proxy: Option<String>,
    /// Per-request time limit.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            extra_ca_pem: vec![],
            proxy: None,
            timeout: Duration::from_secs(20),
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A proxy URL may carry credentials: never printed.
        f.debug_struct("ClientOptions")
            .field("extra_ca_pem", &self.extra_ca_pem.len())
            .field("proxy", &self.proxy.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What `rooms/{slug}/` and the lobby hand out to join a LiveKit room.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct LiveKitAccess {
    pub url: String,
    pub room: String,
    pub token: String,
}

impl std::fmt::Debug for LiveKitAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never printed.
        f.debug_struct("LiveKitAccess")
            .field("url", &self.url)
            .field("room", &self.room)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    Public,
    Trusted,
    Restricted,
}

/// A room as Visio describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Room {
    /// `None` for an unregistered room (any valid code is one).
    pub id: Option<String>,
    pub name: String,
    pub slug: String,
    pub access_level: AccessLevel,
    #[serde(default)]
    pub is_administrable: bool,
    /// Present when the caller may join directly; absent when it must use the lobby.
    pub livekit: Option<LiveKitAccess>,
}

impl Room {
    /// What the room's other endpoints are called with: the id, else the slug.
    pub fn key(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.slug)
    }
}

/// The signed-in user (`users/me/`).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LobbyStatus {
    Waiting,
    Accepted,
    Denied,
    Unknown,
}

/// A participant in the lobby (`request-entry/`, `waiting-participants/`).
#[derive(Debug, Clone, Deserialize)]
pub struct LobbyParticipant {
    pub id: String,
    pub username: String,
    pub status: LobbyStatus,
    #[serde(default)]
    pub color: String,
    #[serde(default)]
    pub livekit: Option<LiveKitAccess>,
}

/// The answer to `start-subtitle/`.
#[derive(Debug, Clone, Deserialize)]
pub struct SubtitleStart {
    pub status: String,
    /// `Some(false)` from a server that accepted but runs no transcription agent.
    #[serde(default)]
    pub agent: Option<bool>,
    #[serde(default)]
    pub detail: Option<String>,
}

/// How an admin proves it: Visio's session, or the LiveKit token of the meeting
/// (`roomAdmin` grant).
#[derive(Clone, Copy)]
pub enum AdminAuth<'a> {
    Session,
    Bearer(&'a str),
}

/// Whether a data packet is Visio's lobby notification to admins.
pub fn is_participant_waiting(payload: &[u8]) -> bool {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
        .is_some_and(|t| t == PARTICIPANT_WAITING)
}

/// A Visio server's API.
#[derive(Clone)]
pub struct VisioClient {
    server: Url,
    api: Url,
    http: reqwest::Client,
    jar: Arc<Jar>,
}

impl std::fmt::Debug for VisioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisioClient")
            .field("server", &self.server.as_str())
            .finish_non_exhaustive()
    }
}

/// Classifies a transport failure: TLS, timeout or unreachable.
fn transport_error(url: &str, e: &reqwest::Error) -> ApiError {
    let mut chain = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        src = s.source();
    }
    let lower = chain.to_lowercase();
    if e.is_timeout() {
        ApiError::Timeout {
            url: url.to_owned(),
        }
    } else if [
        "certificate",
        "tls",
        "handshake",
        "unknownissuer",
        "ssl",
        "corrupt message",
    ]
    .iter()
    .any(|k| lower.contains(k))
    {
        ApiError::Tls {
            url: url.to_owned(),
            reason: chain,
        }
    } else {
        ApiError::Unreachable {
            url: url.to_owned(),
            reason: chain,
        }
    }
}

/// The `detail` (or `error`, `message`, or field errors) of a DRF error body.
fn error_detail(v: &Value) -> String {
    for k in ["detail", "error", "message"] {
        if let Some(s) = v.get(k).and_then(Value::as_str) {
            return s.to_owned();
        }
    }
    match v {
        Value::Object(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| {
                let msgs = match v {
                    Value::Array(a) => a
                        .iter()
                        .map(|x| {
                            x.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| x.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                    other => other.to_string(),
                };
                format!("{k}: {msgs}")
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

impl VisioClient {
    /// A client of the Visio server at `server` (its origin, `https://HOST/`).
    pub fn new(server: &Url, opts: ClientOptions) -> Result<Self, ApiError> {
        if !matches!(server.scheme(), "https" | "http") || server.host_str().is_none() {
            return Err(ApiError::Config(format!(
                "{server} is not an http(s) server address"
            )));
        }
        let mut server = server.clone();
        server.set_path("/");
        server.set_query(None);
        server.set_fragment(None);
        let api = server
            .join("api/v1.0/")
            .map_err(|e| ApiError::Config(e.to_string()))?;
        let jar = Arc::new(Jar::default());
        let mut b = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("VisioDesktop/", env!("CARGO_PKG_VERSION")))
            .https_only(false)
            .redirect(reqwest::redirect::Policy::limited(5));
        for pem in &opts.extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ApiError::Config(format!("a CA certificate is not valid PEM: {e}")))?;
            if certs.is_empty() {
                return Err(ApiError::Config(
                    "a CA certificate file holds no certificate".into(),
                ));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if let Some(p) = &opts.proxy {
            // The proxy URL may carry credentials: the error never repeats it.
            let proxy = reqwest::Proxy::all(p)
                .map_err(|_| ApiError::Config("the proxy address is not a valid URL".into()))?;
            b = b.proxy(proxy);
        }
        let http = b
            .build()
            .map_err(|e| ApiError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            server,
            api,
            http,
            jar,
        })
    }

    /// The server's origin.
    pub fn server(&self) -> &Url {
        &self.server
    }

    /// Puts a cookie in the jar for this server, e.g. Visio's session cookie from the keychain.
    pub fn set_cookie(&self, name: &str, value: &str) {
        let secure = if self.server.scheme() == "https" {
            "; Secure"
        } else {
            ""
        };
        self.jar
            .add_cookie_str(&format!("{name}={value}; Path=/{secure}"), &self.server);
    }

    /// A cookie the server set (the session cookie, to keep it in the keychain).
    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.jar.cookies(&self.api)?;
        let s = header.to_str().ok()?.to_owned();
        s.split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    fn endpoint(&self, path: &str) -> Result<Url, ApiError> {
        self.api
            .join(path)
            .map_err(|e| ApiError::Config(format!("bad API path {path:?}: {e}")))
    }

    /// Sends a request; answers the JSON body of a 2xx, or the error for the rest.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> Result<(StatusCode, Value), ApiError> {
        let url = self.endpoint(path)?;
        let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        let mut req = self
            .http
            .request(method, url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if !query.is_empty() {
            req = req.query(query);
        }
        if unsafe_method {
            if let Some(csrf) = self.cookie("csrftoken") {
                req = req
                    .header("X-CSRFToken", csrf)
                    .header(reqwest::header::REFERER, self.server.as_str());
            }
        }
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let shown = url
            .as_str()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        let resp = req.send().await.map_err(|e| transport_error(&shown, &e))?;
        let status = resp.status();
        let json_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error(&shown, &e))?;
        let parsed = serde_json::from_slice::<Value>(&bytes).ok();
        let not_visio = |what: &str| ApiError::NotVisio {
            url: self.server.to_string(),
            reason: format!("{shown} answered HTTP {} with {what}", status.as_u16()),
        };
        let v = match (json_type, parsed) {
            (true, Some(v)) => v,
            (_, _) if status.is_server_error() => {
                return Err(ApiError::Server {
                    status: status.as_u16(),
                    detail: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                })
            }
            (_, _) => return Err(not_visio("something that is not JSON")),
        };
        if status.is_success() {
            return Ok((status, v));
        }
        let detail = error_detail(&v);
        Err(match status {
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized { detail },
            StatusCode::FORBIDDEN => ApiError::Forbidden { detail },
            StatusCode::BAD_REQUEST => ApiError::BadRequest { detail },
            StatusCode::NOT_FOUND => ApiError::NotFound { detail },
            s => ApiError::Server {
                status: s.as_u16(),
                detail,
            },
        })
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, what: &str, v: Value) -> Result<T, ApiError> {
        serde_json::from_value(v).map_err(|e| ApiError::NotVisio {
            url: self.server.to_string(),
            reason: format!("its {what} answer is not Visio's: {e}"),
        })
    }

    /// `GET config/`: the deployment's settings (LiveKit URL, enabled features). A server
    /// whose answer lacks `livekit.url` is not a Visio server.
    pub async fn config(&self) -> Result<Value, ApiError> {
        let (_, v) = self
            .call(Method::GET, "config/", &[], None, None)
            .await
            .map_err(|e| match e {
                ApiError::NotFound { .. } => ApiError::NotVisio {
                    url: self.server.to_string(),
                    reason: "it has no /api/v1.0/config/".into(),
                },
                e => e,
            })?;
        if v.pointer("/livekit/url").and_then(Value::as_str).is_none() {
            return Err(ApiError::NotVisio {
                url: self.server.to_string(),
                reason: "its config/ has no livekit.url".into(),
            });
        }
        Ok(v)
    }

    /// `GET users/me/`: the signed-in user; [`ApiError::Unauthorized`] when anonymous or
    /// when the session expired.
    pub async fn me(&self) -> Result<User, ApiError> {
        let (_, v) = self.call(Method::GET, "users/me/", &[], None, None).await?;
        self.parse("users/me/", v)
    }

    fn room_not_found(slug: &str) -> impl Fn(ApiError) -> ApiError + '_ {
        // DRF's "No Room matches the given query." (or a bare "Not found."); other 404s
        // (an absent participant) stay what they are.
        move |e| match e {
            ApiError::NotFound { detail }
                if detail.contains("No Room") || detail == "Not found." =>
            {
                ApiError::RoomNotFound {
                    room: slug.to_owned(),
                }
            }
            e => e,
        }
    }

    /// `GET rooms/{slug}/?username=`: the room, with a LiveKit URL and token when the caller
    /// may join directly.
    pub async fn room(&self, slug_or_id: &str, username: &str) -> Result<Room, ApiError> {
        let path = format!("rooms/{}/", path_segment(slug_or_id)?);
        let (_, v) = self
            .call(Method::GET, &path, &[("username", username)], None, None)
            .await
            .map_err(Self::room_not_found(slug_or_id))?;
        self.parse("rooms/", v)
    }

    /// `POST rooms/ {name, access_level}`: creates a room owned by the signed-in user (on the
    /// local room server, by a local session opened on the way). `name` is the room code;
    /// `None` lets the server draw one.
    pub async fn create_room(
        &self,
        name: Option<&str>,
        access_level: AccessLevel,
    ) -> Result<Room, ApiError> {
        let mut body = json!({ "access_level": access_level });
        if let (Some(n), Some(obj)) = (name, body.as_object_mut()) {
            obj.insert("name".into(), json!(n));
        }
        let (_, v) = self
            .call(Method::POST, "rooms/", &[], Some(body), None)
            .await?;
        self.parse("rooms/", v)
    }

    /// One `POST rooms/{id}/request-entry/ {username}`.
    pub async fn request_entry(
        &self,
        room: &str,
        username: &str,
    ) -> Result<LobbyParticipant, ApiError> {
        let path = format!("rooms/{}/request-entry/", path_segment(room)?);
        let (_, v) = self
            .call(
                Method::POST,
                &path,
                &[],
                Some(json!({ "username": username })),
                None,
            )
            .await
            .map_err(Self::room_not_found(room))?;
        self.parse("request-entry/", v)
    }

    /// Waits in the lobby: asks every `interval` (Visio: 1 s) until accepted (the LiveKit
    /// access), denied ([`ApiError::Denied`]), `limit` passed ([`ApiError::LobbyTimeout`];
    /// Visio: 10 minutes) or `cancel` fired ([`ApiError::Cancelled`]). `on_status` sees
    /// every answer, for a "waiting for an organiser" display.
    pub async fn wait_for_entry(
        &self,
        room: &str,
        username: &str,
        interval: Duration,
        limit: Duration,
        cancel: &CancellationToken,
        mut on_status: impl FnMut(&LobbyParticipant),
    ) -> Result<LiveKitAccess, ApiError> {
        let started = Instant::now();
        loop {
            let answer = tokio::select! {
                a = self.request_entry(room, username) => a?,
                _ = cancel.cancelled() => return Err(ApiError::Cancelled),
            };
            on_status(&answer);
            match answer.status {
                LobbyStatus::Accepted => {
                    return answer.livekit.ok_or_else(|| ApiError::NotVisio {
                        url: self.server.to_string(),
                        reason: "an accepted lobby answer without livekit access".into(),
                    })
                }
                LobbyStatus::Denied => return Err(ApiError::Denied),
                LobbyStatus::Waiting | LobbyStatus::Unknown => {}
            }
            if started.elapsed() + interval > limit {
                return Err(ApiError::LobbyTimeout {
                    waited: started.elapsed(),
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = cancel.cancelled() => return Err(ApiError::Cancelled),
            }
        }
    }

    /// `GET rooms/{id}/waiting-participants/` (admins).
    pub async fn waiting_participants(
        &self,
        room: &str,
        auth: AdminAuth<'_>,
    ) -> Result<Vec<LobbyParticipant>, ApiError> {
        let path = format!("rooms/{}/waiting-participants/", path_segment(room)?);
        let (_, v) = self
            .call(Method::GET, &path, &[], None, bearer_of(auth))
            .await
            .map_err(Self::room_not_found(room))?;
        let list = v.get("participants").cloned().unwrap_or(Value::Null);
        self.parse("waiting-participants/", list)
    }

    /// `POST rooms/{id}/enter/ {participant_id, allow_entry}` (admins): admits or denies.
    pub async fn enter(
        &self,
        room: &str,
        participant_id: &str,
        allow: bool,
        auth: AdminAuth<'_>,
    ) -> Result<(), ApiError> {
        let path = format!("rooms/{}/enter/", path_segment(room)?);
        let body = json!({ "participant_id": participant_id, "allow_entry": allow });
        self.call(Method::POST, &path, &[], Some(body), bearer_of(auth))
            .await?;
        Ok(())
    }

    /// `POST rooms/{id}/toggle-hand/ {raised}` with the meeting's LiveKit token: the server
    /// sets (or clears) the caller's `handRaisedAt` attribute, seen by everyone.
    pub async fn toggle_hand(
        &self,
        room: &str,
        livekit_token: &str,
        raised: bool,
    ) -> Result<(), ApiError> {
        let path = format!("rooms/{}/toggle-hand/", path_segment(room)?);
        self.call(
            Method::POST,
            &path,
            &[],
            Some(json!({ "raised": raised })),
            Some(livekit_token),
        )
        .await
        .map_err(Self::room_not_found(room))?;
        Ok(())
    }

    /// `POST rooms/{id}/start-subtitle/` with the meeting's LiveKit token.
    pub async fn start_subtitle(
        &self,
        room: &str,
        livekit_token: &str,
    ) -> Result<SubtitleStart, ApiError> {
        let path = format!("rooms/{}/start-subtitle/", path_segment(room)?);
        let (_, v) = self
            .call(
                Method::POST,
                &path,
                &[],
                Some(json!({})),
                Some(livekit_token),
            )
            .await
            .map_err(Self::room_not_found(room))?;
        self.parse("start-subtitle/", v)
    }

    /// `POST rooms/{id}/mute-participant/ {participant_identity, track_sid}` (admins).
    pub async fn mute_participant(
        &self,
        room: &str,
        auth: AdminAuth<'_>,
        participant_identity: &str,
        track_sid: &str,
    ) -> Result<(), ApiError> {
        let path = format!("rooms/{}/mute-participant/", path_segment(room)?);
        let body = json!({ "participant_identity": participant_identity, "track_sid": track_sid });
        self.call(Method::POST, &path, &[], Some(body), bearer_of(auth))
            .await?;
        Ok(())
    }

    /// `POST rooms/{id}/remove-participant/ {participant_identity}` (admins).
    pub async fn remove_participant(
        &self,
        room: &str,
        auth: AdminAuth<'_>,
        participant_identity: &str,
    ) -> Result<(), ApiError> {
        let path = format!("rooms/{}/remove-participant/", path_segment(room)?);
        let body = json!({ "participant_identity": participant_identity });
        self.call(Method::POST, &path, &[], Some(body), bearer_of(auth))
            .await?;
        Ok(())
    }
}

fn bearer_of(auth: AdminAuth<'_>) -> Option<&str> {
    match auth {
        AdminAuth::Session => None,
        AdminAuth::Bearer(t) => Some(t),
    }
}

/// A room slug or id as one path segment: letters, digits and hyphens only.
fn path_segment(s: &str) -> Result<&str, ApiError> {
    if !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(s)
    } else {
        Err(ApiError::RoomNotFound { room: s.to_owned() })
    }
}

/// What joining a room link needs: the LiveKit URL, room and token.
#[derive(Debug, Clone)]
pub struct JoinInfo {
    pub slug: String,
    pub room: Room,
    pub livekit: LiveKitAccess,
}

/// Resolves a room link to LiveKit access as `username`, through the lobby when the room has
/// one (`on_lobby` sees each lobby answer; `cancel` stops waiting).
pub async fn resolve(
    link: &str,
    username: &str,
    opts: ClientOptions,
    cancel: &CancellationToken,
    on_lobby: impl FnMut(&LobbyParticipant),
) -> Result<JoinInfo, ApiError> {
    let l = RoomLink::parse(link)?;
    let client = VisioClient::new(&l.server, opts)?;
    resolve_with(&client, &l.slug, username, cancel, on_lobby).await
}

/// [`resolve`] with an existing client (its session cookie, CAs and proxy).
pub async fn resolve_with(
    client: &VisioClient,
    slug: &str,
    username: &str,
    cancel: &CancellationToken,
    on_lobby: impl FnMut(&LobbyParticipant),
) -> Result<JoinInfo, ApiError> {
    let room = client.room(slug, username).await?;
    let livekit = match &room.livekit {
        Some(lk) => lk.clone(),
        None => {
            client
                .wait_for_entry(
                    room.key(),
                    username,
                    LOBBY_POLL_INTERVAL,
                    LOBBY_TIMEOUT,
                    cancel,
                    on_lobby,
                )
                .await?
        }
    };
    Ok(JoinInfo {
        slug: room.slug.clone(),
        room,
        livekit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_links() {
        let l = RoomLink::parse("https://visio.numerique.gouv.fr/abc-defg-hij").expect("link");
        assert_eq!(l.server.as_str(), "https://visio.numerique.gouv.fr/");
        assert_eq!(l.slug, "abc-defg-hij");
        let l = RoomLink::parse("http://127.0.0.1:7880/ABCDEFGHIJ/").expect("local link");
        assert_eq!(l.server.as_str(), "http://127.0.0.1:7880/");
        assert_eq!(l.slug, "abc-defg-hij");
        let l = RoomLink::parse("visio://visio.example.fr/abc-defg-hij").expect("visio scheme");
        assert_eq!(l.server.as_str(), "https://visio.example.fr/");
        for bad in [
            "http://127.0.0.1:7880/",
            "http://h/ab-cdefg-hij",
            "ws://h/abc-defg-hij",
            "not a link",
            "",
        ] {
            assert!(
                matches!(RoomLink::parse(bad), Err(ApiError::InvalidLink { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn notifications_and_details() {
        assert!(is_participant_waiting(br#"{"type":"participantWaiting"}"#));
        assert!(!is_participant_waiting(br#"{"type":"reactionReceived"}"#));
        assert!(!is_participant_waiting(b"\xff"));
        assert_eq!(error_detail(&json!({"detail": "x"})), "x");
        assert_eq!(
            error_detail(&json!({"raised": ["This field is required."]})),
            "raised: This field is required."
        );
        assert!(path_segment("abc-defg-hij").is_ok());
        assert!(path_segment("../admin").is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let lk = LiveKitAccess {
            url: "ws://h".into(),
            room: "r".into(),
            token: "SECRET".into(),
        };
        assert!(!format!("{lk:?}").contains("SECRET"));
        let o = ClientOptions {
            proxy: Some("http://user:SECRET@proxy".into()),
            ..Default::default()
        };
        assert!(!format!("{o:?}").contains("SECRET"));
    }
}
