//! Visio's REST API (`/api/v1.0/`) as the local server serves it, so that a Visio client (the
//! web app, the desktop app, `visio join`) works against it as against a Visio deployment.
//!
//! # Rooms
//! Any valid room code (`abc-defg-hij`) is an *unregistered* public room (Visio's
//! `ALLOW_UNREGISTERED_ROOMS`); its LiveKit room is named after the slug. A *registered* room
//! is created with `POST rooms/ {name, access_level}` and has an id (a UUID, also its LiveKit
//! room name, as in Visio), an access level (`public`, `trusted`, `restricted`) and owners.
//! Room paths accept the id or the slug.
//!
//! # Who is who
//! The local server has no identity provider. The first `POST rooms/` of a client opens a
//! *local session*: an HttpOnly `sessionid` cookie holding a 256-bit random secret, plus a
//! `csrftoken` cookie to send back as `X-CSRFToken` on unsafe requests (as Django wants). The
//! session's user owns the rooms it creates; `users/me/` answers for it. Anyone who can reach
//! the server can open a session and create rooms: the local server trusts its network for
//! that, and only ownership is protected (by the secret).
//!
//! # The lobby
//! `POST rooms/{id}/request-entry/ {username}` answers `{status, id, username, color,
//! livekit}` and sets the HttpOnly `lobbyParticipantId` cookie. Public rooms, logged-in users
//! of trusted rooms and members of restricted rooms are accepted at once; others wait, and
//! the room's admins (LiveKit `roomAdmin`) get the data packet `{"type":"participantWaiting"}`.
//! Admins list `GET waiting-participants/` and decide `POST enter/ {participant_id,
//! allow_entry}`. A waiting participant that stops polling leaves the lobby after 10 s.
//!
//! # In the meeting (LiveKit JWT as `Authorization: Bearer`)
//! `toggle-hand/ {raised}` sets or clears the `handRaisedAt` attribute (ISO 8601);
//! `start-subtitle/` is accepted but no transcription agent runs here yet (the answer says
//! so); `mute-participant/ {participant_identity, track_sid}` and `remove-participant/
//! {participant_identity}` need the `roomAdmin` grant (or an owner's session). The token's
//! signature, expiry and room are checked as Visio does.
//!
//! # Signing in and out
//! `GET authenticate/?returnTo=URL` is where Visio starts its ProConnect login; here it serves a
//! small sign-in page asking for a display name (there is no identity provider). Posting it
//! opens a new local session for that name (the `sessionid` and `csrftoken` cookies, the old
//! session ended, as Django rotates the key at login; `users/me/` answers the name) and
//! redirects to `returnTo` only when it is a path on this server or an absolute URL of the same
//! origin, else to `/` (no open redirect, as Django's `url_has_allowed_host_and_scheme`). The
//! form carries a CSRF token checked against the `csrftoken` cookie (Django's double submit).
//! `GET logout/` (what Visio's web app navigates to; `POST` too) ends the session, clears both
//! cookies and redirects to `/`.
//!
//! Errors are DRF-shaped JSON: `{"detail": ...}`, `{"field": ["..."]}` or Visio's
//! `{"error": ...}` / `{"message": ...}` where Visio uses those.

// Helpers return the finished error response as `Err`, so `?` ends a handler; a response is
// large, but these run once per HTTP request, far from the media path.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use livekit_token::{AccessToken, Claims, VideoGrants};
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;

use crate::core::{ApiCmd, CoreMsg, MuteRefusal};
use crate::registry::{AccessLevel, LobbyStatus, LocalUser, RegisteredRoom, Registry, Role};
use crate::AppState;

/// Visio caches room tokens for 6 hours; tokens are minted with that lifetime.
const TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);
/// Cookie names, as Visio (Django) uses them.
const SESSION_COOKIE: &str = "sessionid";
const CSRF_COOKIE: &str = "csrftoken";
const LOBBY_COOKIE: &str = "lobbyParticipantId";
/// Visio's lobby notification type.
pub const PARTICIPANT_WAITING: &str = "participantWaiting";
/// Django's session lifetime in Visio (12 h), for the cookies' `Max-Age`.
const SESSION_MAX_AGE: u64 = 12 * 3600;

fn livekit_url(state: &AppState, headers: &HeaderMap) -> String {
    if !state.public_url.is_empty() {
        return state.public_url.clone();
    }
    // Same host the client used for the API, so LAN clients get a reachable address.
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("ws://{host}"),
        None => format!("ws://{}", state.http_addr),
    }
}

// ---- responses ------------------------------------------------------------------------------

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn detail(status: StatusCode, msg: &str) -> Response {
    reply(status, json!({ "detail": msg }))
}

fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "No Room matches the given query.")
}

fn forbidden() -> Response {
    detail(
        StatusCode::FORBIDDEN,
        "You do not have permission to perform this action.",
    )
}

fn unavailable() -> Response {
    detail(
        StatusCode::SERVICE_UNAVAILABLE,
        "The room server is stopping.",
    )
}

/// The JSON object of a request body, or DRF's parse error.
fn body_object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(detail(
            StatusCode::BAD_REQUEST,
            "Invalid data. Expected a dictionary.",
        )),
        Err(e) => Err(detail(
            StatusCode::BAD_REQUEST,
            &format!("JSON parse error - {e}"),
        )),
    }
}

/// Reads fields of a request body, collecting DRF-style errors (`{"field": ["..."]}`).
struct Fields<'a> {
    body: &'a Map<String, Value>,
    errors: Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(body: &'a Map<String, Value>) -> Self {
        Self {
            body,
            errors: Map::new(),
        }
    }

    fn error(&mut self, name: &str, msg: &str) {
        self.errors.insert(name.into(), json!([msg]));
    }

    fn string(&mut self, name: &str, max: usize) -> Option<String> {
        match self.body.get(name) {
            None | Some(Value::Null) => {
                self.error(name, "This field is required.");
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.error(name, "This field may not be blank.");
                None
            }
            Some(Value::String(s)) if s.chars().count() > max => {
                self.error(
                    name,
                    &format!("Ensure this field has no more than {max} characters."),
                );
                None
            }
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(_) => {
                self.error(name, "Not a valid string.");
                None
            }
        }
    }

    fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.body.get(name) {
            None | Some(Value::Null) => {
                self.error(name, "This field is required.");
                None
            }
            Some(Value::Bool(b)) => Some(*b),
            // DRF's BooleanField also takes these.
            Some(Value::String(s)) if ["true", "1"].contains(&s.to_lowercase().as_str()) => {
                Some(true)
            }
            Some(Value::String(s)) if ["false", "0"].contains(&s.to_lowercase().as_str()) => {
                Some(false)
            }
            Some(_) => {
                self.error(name, "Must be a valid boolean.");
                None
            }
        }
    }

    fn finish(self) -> Result<(), Response> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(reply(StatusCode::BAD_REQUEST, Value::Object(self.errors)))
        }
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

// ---- cookies and callers --------------------------------------------------------------------

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

fn set_cookie(resp: &mut Response, name: &str, value: &str, http_only: bool) {
    set_cookie_for(resp, name, value, http_only, SESSION_MAX_AGE);
}

/// A cookie with `Max-Age` seconds; 0 removes it from the browser.
fn set_cookie_for(resp: &mut Response, name: &str, value: &str, http_only: bool, max_age: u64) {
    let mut c = format!("{name}={value}; Path=/; SameSite=Lax; Max-Age={max_age}");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Runs `f` on the registry inside the core task.
async fn registry<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut Registry) -> T + Send + 'static,
) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    let cmd = ApiCmd::Registry(Box::new(move |r| {
        let _ = tx.send(f(r));
    }));
    state
        .core
        .send(CoreMsg::Api(cmd))
        .await
        .map_err(|_| unavailable())?;
    rx.await.map_err(|_| unavailable())
}

/// Sends a command that answers on a oneshot channel.
async fn ask<T>(
    state: &AppState,
    make: impl FnOnce(oneshot::Sender<T>) -> ApiCmd,
) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    state
        .core
        .send(CoreMsg::Api(make(tx)))
        .await
        .map_err(|_| unavailable())?;
    rx.await.map_err(|_| unavailable())
}

/// The user of the request's local session, if any.
async fn session_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<LocalUser>, Response> {
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    registry(state, move |r| r.user(&secret)).await
}

/// Django's CSRF check for session-authenticated unsafe requests.
fn check_csrf(headers: &HeaderMap, user: &LocalUser) -> Result<(), Response> {
    let sent = headers.get("x-csrftoken").and_then(|v| v.to_str().ok());
    match sent {
        None => Err(detail(
            StatusCode::FORBIDDEN,
            "CSRF Failed: CSRF token missing.",
        )),
        Some(t) if t != user.csrf => Err(detail(
            StatusCode::FORBIDDEN,
            "CSRF Failed: CSRF token incorrect.",
        )),
        Some(_) => Ok(()),
    }
}

/// The verified LiveKit token of `Authorization: Bearer`, or `None` without that header.
fn bearer(state: &AppState, headers: &HeaderMap) -> Result<Option<Claims>, Response> {
    let Some(h) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let h = h.to_str().unwrap_or_default();
    let mut parts = h.split_whitespace();
    let (Some(scheme), Some(token), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(detail(
            StatusCode::UNAUTHORIZED,
            "Authorization header must be: Bearer <token>",
        ));
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(detail(
            StatusCode::UNAUTHORIZED,
            "Authorization header must be: Bearer <token>",
        ));
    }
    state
        .keys
        .verify_join(token)
        .map(|g| Some(g.claims))
        .map_err(|e| {
            detail(
                StatusCode::UNAUTHORIZED,
                &format!("Invalid LiveKit token: {e}"),
            )
        })
}

/// A room named in a path: registered, or an unregistered room code.
struct Target {
    registered: Option<RegisteredRoom>,
    slug: String,
}

impl Target {
    /// The LiveKit room name: the id of a registered room, else the slug.
    fn livekit_room(&self) -> &str {
        self.registered
            .as_ref()
            .map(|r| r.id.as_str())
            .unwrap_or(&self.slug)
    }

    fn access_level(&self) -> AccessLevel {
        self.registered
            .as_ref()
            .map(|r| r.access_level)
            .unwrap_or(AccessLevel::Public)
    }

    fn role(&self, user: Option<&LocalUser>) -> Option<Role> {
        self.registered
            .as_ref()
            .and_then(|r| r.role(user.map(|u| u.sub.as_str())))
    }
}

async fn target(state: &AppState, key: &str) -> Result<Target, Response> {
    let key = key.trim().to_owned();
    let slug = room_code::normalize(&key);
    let lookup = slug.clone().unwrap_or_else(|| key.to_lowercase());
    let registered = registry(state, move |r| r.room(&lookup)).await?;
    match (registered, slug) {
        (Some(r), _) => Ok(Target {
            slug: r.slug.clone(),
            registered: Some(r),
        }),
        (None, Some(slug)) => Ok(Target {
            registered: None,
            slug,
        }),
        (None, None) => Err(not_found()),
    }
}

/// The token must be for this room.
fn check_room(claims: &Claims, t: &Target) -> Result<(), Response> {
    if claims.video.room == t.livekit_room() {
        Ok(())
    } else {
        Err(forbidden())
    }
}

/// An admin of the room: a LiveKit token for it with `roomAdmin`, or an owner's or
/// administrator's session (CSRF-checked on unsafe methods). Returns the token's identity
/// when the caller used one.
async fn admin_caller(
    state: &AppState,
    headers: &HeaderMap,
    t: &Target,
    unsafe_method: bool,
) -> Result<Option<String>, Response> {
    if let Some(claims) = bearer(state, headers)? {
        check_room(&claims, t)?;
        if !claims.video.room_admin {
            return Err(forbidden());
        }
        return Ok(Some(claims.sub));
    }
    let Some(user) = session_user(state, headers).await? else {
        return Err(detail(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided.",
        ));
    };
    if unsafe_method {
        check_csrf(headers, &user)?;
    }
    if t.role(Some(&user)).is_some_and(Role::is_admin) {
        Ok(None)
    } else {
        Err(detail(
            StatusCode::FORBIDDEN,
            "You must have privileges on room to perform this action.",
        ))
    }
}

/// A caller with a LiveKit token for this room (Visio's `HasLiveKitRoomAccess`).
fn room_token(state: &AppState, headers: &HeaderMap, t: &Target) -> Result<Claims, Response> {
    let claims = bearer(state, headers)?.ok_or_else(|| {
        detail(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided.",
        )
    })?;
    check_room(&claims, t)?;
    Ok(claims)
}

// ---- tokens ---------------------------------------------------------------------------------

const COLORS: [&str; 6] = [
    "#3d6bce", "#ce3d6b", "#3dce8e", "#ce8e3d", "#8e3dce", "#3dbace",
];

fn color_of(identity: &str) -> &'static str {
    let sum: usize = identity.bytes().map(usize::from).sum();
    COLORS[sum % COLORS.len()]
}

struct Joiner<'a> {
    identity: &'a str,
    name: &'a str,
    color: &'a str,
    role: Option<Role>,
    authenticated: bool,
}

/// `{url, room, token}` for joining `room` as `j`; admins get `roomAdmin`, as in Visio.
fn livekit(
    state: &AppState,
    headers: &HeaderMap,
    room: &str,
    j: &Joiner,
) -> Result<Value, Response> {
    let Some((key, secret)) = state.keys.any() else {
        return Err(detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "No API key is configured.",
        ));
    };
    let token = AccessToken::with_api_key(key, secret)
        .with_identity(j.identity)
        .with_name(j.name)
        .with_ttl(TOKEN_TTL)
        .with_attributes([
            ("color", j.color),
            ("room_role", j.role.map(Role::as_str).unwrap_or("member")),
            (
                "is_authenticated",
                if j.authenticated { "true" } else { "false" },
            ),
        ])
        .with_grants(VideoGrants {
            room_join: true,
            room: room.to_owned(),
            room_admin: j.role.is_some_and(Role::is_admin),
            can_publish: Some(true),
            can_subscribe: Some(true),
            can_publish_data: Some(true),
            can_update_own_metadata: Some(false),
            ..Default::default()
        })
        .to_jwt()
        .map_err(|_| {
            detail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The token could not be minted.",
            )
        })?;
    Ok(json!({ "url": livekit_url(state, headers), "room": room, "token": token }))
}

fn room_json(t: &Target, role: Option<Role>, livekit: Option<Value>) -> Value {
    let mut v = json!({
        "id": t.registered.as_ref().map(|r| r.id.clone()),
        "name": t.registered.as_ref().map(|r| r.name.clone()).unwrap_or_else(|| t.slug.clone()),
        "slug": t.slug,
        "configuration": {},
        "access_level": t.access_level().as_str(),
        "pin_code": null,
        "is_administrable": role.is_some_and(Role::is_admin),
    });
    if let (Some(lk), Some(obj)) = (livekit, v.as_object_mut()) {
        obj.insert("livekit".into(), lk);
    }
    v
}

fn username_of(raw: Option<&str>) -> String {
    raw.map(|s| s.trim().chars().take(100).collect::<String>())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "Anonymous".into())
}

// ---- handlers -------------------------------------------------------------------------------

pub(crate) async fn config(State(state): State<AppState>, headers: HeaderMap) -> Response {
    Json(json!({
        "livekit": {
            "url": livekit_url(&state, &headers),
            "force_wss_protocol": false,
            "enable_firefox_proxy_workaround": false,
            "default_sources": ["camera", "microphone", "screen_share", "screen_share_audio"],
        },
        "recording": {"is_enabled": false, "available_modes": [], "expiration_days": null},
        "transcript": {"enabled": false},
        "subtitle": {"enabled": false},
        "telephony": {"enabled": false},
        "is_silent_login_enabled": false,
        "use_proconnect_button": false,
        "local_server": true,
    }))
    .into_response()
}

/// `GET users/me/`: the local session's user, else 401 as Visio answers anonymous callers.
pub(crate) async fn users_me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session_user(&state, &headers).await {
        Err(r) => r,
        Ok(None) => detail(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided.",
        ),
        Ok(Some(u)) => {
            let full = u.name.clone().unwrap_or_else(|| "Local user".into());
            let short = full.split_whitespace().next().unwrap_or("Local").to_owned();
            Json(json!({
                "id": u.sub,
                "sub": u.sub,
                "email": null,
                "full_name": full,
                "short_name": short,
                "language": null,
                "timezone": "UTC",
            }))
            .into_response()
        }
    }
}

// ---- sign-in page and logout ----------------------------------------------------------------

/// The longest display name accepted on the sign-in page (Visio's `full_name` is 100).
const MAX_NAME: usize = 100;

/// Where to go after signing in: `raw` when it is a path on this server (`/…`, not `//…`) or
/// an absolute http(s) URL whose host and port are the request's `Host`; else `/`.
fn safe_return_to(raw: Option<&str>, host: Option<&str>) -> String {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return "/".into();
    };
    // Browsers read `\` as `/` and drop control characters: refuse both outright.
    if raw.contains('\\') || raw.chars().any(char::is_control) {
        return "/".into();
    }
    if raw.starts_with('/') {
        return if raw.starts_with("//") {
            "/".into()
        } else {
            raw.to_owned()
        };
    }
    let (Ok(url), Some(host)) = (url::Url::parse(raw), host) else {
        return "/".into();
    };
    let authority = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return "/".into(),
    };
    let same_origin = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && authority.eq_ignore_ascii_case(host);
    if same_origin {
        url.to_string()
    } else {
        "/".into()
    }
}

/// Text for HTML content and attribute values.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn sign_in_page(return_to: &str, csrf: &str, name: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!(r#"<p id="error" role="alert">{}</p>"#, html_escape(e)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Sign in to the local Visio server</title>
<style>body{{font:16px system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}}
input,button{{font:inherit;padding:.5rem;margin:.25rem 0;width:100%;box-sizing:border-box}}
#error{{color:#b00020}}</style></head>
<body><main><h1>Sign in</h1>
<p>This local room server has no identity provider: the name you give is how others see you.</p>
{error}<form method="post" action="/api/v1.0/authenticate/">
<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">
<input type="hidden" name="returnTo" value="{return_to}">
<label for="name">Your name</label>
<input id="name" name="name" autocomplete="name" maxlength="{MAX_NAME}" required value="{name}">
<button id="submit" type="submit">Sign in</button>
</form></main></body></html>
"#,
        csrf = html_escape(csrf),
        return_to = html_escape(return_to),
        name = html_escape(name),
    )
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn redirect(location: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    } else {
        resp.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/"));
    }
    resp
}

fn host_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}

/// `GET authenticate/?returnTo=URL`: the local sign-in page; it sets a `csrftoken` cookie
/// for the form when the browser has none.
pub(crate) async fn authenticate_page(
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let return_to = safe_return_to(query.get("returnTo").map(String::as_str), host_of(&headers));
    let existing = cookie(&headers, CSRF_COOKIE).filter(|c| !c.is_empty());
    let csrf = existing.clone().unwrap_or_else(|| crate::ids::secret(32));
    let mut resp = html(StatusCode::OK, sign_in_page(&return_to, &csrf, "", None));
    if existing.is_none() {
        set_cookie(&mut resp, CSRF_COOKIE, &csrf, false);
    }
    resp
}

/// `POST authenticate/` (form: `name`, `returnTo`, `csrfmiddlewaretoken`): a new local session
/// for `name`, then the redirect to `returnTo` when it is safe.
pub(crate) async fn authenticate_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let return_to = safe_return_to(form.get("returnTo").map(String::as_str), host_of(&headers));
    let sent = form.get("csrfmiddlewaretoken").map(String::as_str);
    let expected = cookie(&headers, CSRF_COOKIE);
    if sent.is_none() || sent != expected.as_deref() {
        return html(
            StatusCode::FORBIDDEN,
            sign_in_page(
                &return_to,
                &crate::ids::secret(32),
                "",
                Some("The form expired or came from elsewhere (CSRF check failed): reload the page and sign in again."),
            ),
        );
    }
    let raw_name = form.get("name").map(|n| n.trim()).unwrap_or_default();
    let csrf = expected.unwrap_or_default();
    if raw_name.is_empty() || raw_name.chars().count() > MAX_NAME {
        let shown: String = raw_name.chars().take(MAX_NAME).collect();
        return html(
            StatusCode::BAD_REQUEST,
            sign_in_page(
                &return_to,
                &csrf,
                &shown,
                Some(&format!("Enter a name of 1 to {MAX_NAME} characters.")),
            ),
        );
    }
    let name = raw_name.to_owned();
    let old = cookie(&headers, SESSION_COOKIE);
    let opened = registry(&state, move |r| {
        if let Some(old) = old {
            r.end_session(&old);
        }
        r.sign_in(Some(name))
    })
    .await;
    let (secret, user) = match opened {
        Ok(v) => v,
        Err(r) => return r,
    };
    tracing::info!(sub = %user.sub, "local sign-in");
    let mut resp = redirect(&return_to);
    set_cookie(&mut resp, SESSION_COOKIE, &secret, true);
    set_cookie(&mut resp, CSRF_COOKIE, &user.csrf, false);
    resp
}

/// `GET` or `POST logout/`: ends the caller's local session and clears its cookies.
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        match registry(&state, move |r| r.end_session(&secret)).await {
            Ok(true) => tracing::info!("local sign-out"),
            Ok(false) => {}
            Err(r) => return r,
        }
    }
    let mut resp = redirect("/");
    set_cookie_for(&mut resp, SESSION_COOKIE, "", true, 0);
    set_cookie_for(&mut resp, CSRF_COOKIE, "", false, 0);
    resp
}

/// `GET rooms/{slug}/?username=NAME`.
pub(crate) async fn room(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    room_inner(state, headers, key, query)
        .await
        .unwrap_or_else(|r| r)
}

async fn room_inner(
    state: AppState,
    headers: HeaderMap,
    key: String,
    query: HashMap<String, String>,
) -> Result<Response, Response> {
    let t = target(&state, &key).await?;
    let user = session_user(&state, &headers).await?;
    let role = t.role(user.as_ref());
    let username = username_of(query.get("username").map(String::as_str));
    // As Visio: the token is given to public rooms, to logged-in users of trusted rooms and
    // to members; others go through the lobby.
    let direct = match t.access_level() {
        AccessLevel::Public => true,
        AccessLevel::Trusted => user.is_some(),
        AccessLevel::Restricted => role.is_some(),
    };
    let lk = if direct {
        let identity = user
            .as_ref()
            .map(|u| u.sub.clone())
            .unwrap_or_else(crate::ids::uuid_v4);
        Some(livekit(
            &state,
            &headers,
            t.livekit_room(),
            &Joiner {
                identity: &identity,
                name: &username,
                color: color_of(&identity),
                role,
                authenticated: user.is_some(),
            },
        )?)
    } else {
        None
    };
    Ok(Json(room_json(&t, role, lk)).into_response())
}

/// `POST rooms/ {name, access_level}`: a registered room owned by the caller's local session,
/// opened by this request when the caller has none.
pub(crate) async fn create_room(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create_room_inner(state, headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn create_room_inner(
    state: AppState,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let body = body_object(&body)?;
    let mut f = Fields::new(&body);
    // The name is the room code; a new one is drawn when none is given.
    let slug = match body.get("name") {
        None | Some(Value::Null) => Some(room_code::random()),
        Some(Value::String(s)) => {
            let s = room_code::normalize(s);
            if s.is_none() {
                f.error("name", "Enter a room code like abc-defg-hij.");
            }
            s
        }
        Some(_) => {
            f.error("name", "Not a valid string.");
            None
        }
    };
    let access_level = match body.get("access_level") {
        None | Some(Value::Null) => Some(AccessLevel::Public),
        Some(v) => match serde_json::from_value::<AccessLevel>(v.clone()) {
            Ok(a) => Some(a),
            Err(_) => {
                f.error(
                    "access_level",
                    &format!("\"{}\" is not a valid choice.", v.as_str().unwrap_or("?")),
                );
                None
            }
        },
    };
    f.finish()?;
    let (Some(slug), Some(access_level)) = (slug, access_level) else {
        return Err(detail(StatusCode::BAD_REQUEST, "Invalid request."));
    };

    let existing = session_user(&state, &headers).await?;
    if let Some(u) = &existing {
        check_csrf(&headers, u)?;
    }
    let new_session = existing.is_none();
    let slug2 = slug.clone();
    let (created, user, secret) = registry(&state, move |r| {
        let (secret, user) = match existing {
            Some(u) => (None, u),
            None => {
                let (s, u) = r.create_session();
                (Some(s), u)
            }
        };
        let created = r.create_room(&slug2, &slug2, access_level, &user.sub);
        (created, user, secret)
    })
    .await?;
    let Ok(room) = created else {
        return Err(reply(
            StatusCode::BAD_REQUEST,
            json!({"slug": ["Room with this Slug already exists."]}),
        ));
    };
    let t = Target {
        slug: room.slug.clone(),
        registered: Some(room),
    };
    let lk = livekit(
        &state,
        &headers,
        t.livekit_room(),
        &Joiner {
            identity: &user.sub,
            name: "Local user",
            color: color_of(&user.sub),
            role: Some(Role::Owner),
            authenticated: true,
        },
    )?;
    let mut resp = (
        StatusCode::CREATED,
        Json(room_json(&t, Some(Role::Owner), Some(lk))),
    )
        .into_response();
    if new_session {
        if let Some(secret) = secret {
            set_cookie(&mut resp, SESSION_COOKIE, &secret, true);
        }
        set_cookie(&mut resp, CSRF_COOKIE, &user.csrf, false);
    }
    Ok(resp)
}

/// `POST rooms/{id}/request-entry/ {username}`.
pub(crate) async fn request_entry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    request_entry_inner(state, headers, key, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn request_entry_inner(
    state: AppState,
    headers: HeaderMap,
    key: String,
    body: Bytes,
) -> Result<Response, Response> {
    let body = body_object(&body)?;
    let mut f = Fields::new(&body);
    let username = f.string("username", 255);
    f.finish()?;
    let username = username_of(username.as_deref());
    let t = target(&state, &key).await?;
    let user = session_user(&state, &headers).await?;
    if let Some(u) = &user {
        check_csrf(&headers, u)?;
    }
    let role = t.role(user.as_ref());
    let bypass = match t.access_level() {
        AccessLevel::Public => true,
        AccessLevel::Trusted => user.is_some(),
        AccessLevel::Restricted => user.is_some() && role.is_some(),
    };
    let participant_id = cookie(&headers, LOBBY_COOKIE)
        .filter(|c| is_uuid(c))
        .unwrap_or_else(crate::ids::uuid_v4);
    let (room, pid, name) = (
        t.livekit_room().to_owned(),
        participant_id.clone(),
        username.clone(),
    );
    let color = color_of(&participant_id);
    let outcome = registry(&state, move |r| {
        r.request_entry(&room, &pid, &name, color, bypass, Instant::now())
    })
    .await?;
    if outcome.newly_waiting {
        let payload = json!({ "type": PARTICIPANT_WAITING })
            .to_string()
            .into_bytes();
        let cmd = ApiCmd::NotifyAdmins {
            room: t.livekit_room().to_owned(),
            payload,
        };
        state
            .core
            .send(CoreMsg::Api(cmd))
            .await
            .map_err(|_| unavailable())?;
    }
    let entry = outcome.entry;
    let lk = if entry.status == LobbyStatus::Accepted {
        let identity = user
            .as_ref()
            .map(|u| u.sub.clone())
            .unwrap_or_else(|| participant_id.clone());
        Some(livekit(
            &state,
            &headers,
            t.livekit_room(),
            &Joiner {
                identity: &identity,
                name: &username,
                color: &entry.color,
                role,
                authenticated: user.is_some(),
            },
        )?)
    } else {
        None
    };
    let mut v = serde_json::to_value(&entry).unwrap_or_else(|_| json!({}));
    if let Some(obj) = v.as_object_mut() {
        obj.insert("livekit".into(), lk.unwrap_or(Value::Null));
    }
    let mut resp = Json(v).into_response();
    if cookie(&headers, LOBBY_COOKIE).as_deref() != Some(participant_id.as_str()) {
        set_cookie(&mut resp, LOBBY_COOKIE, &participant_id, true);
    }
    Ok(resp)
}

/// `GET rooms/{id}/waiting-participants/` (admins).
pub(crate) async fn waiting_participants(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let run = async {
        let t = target(&state, &key).await?;
        admin_caller(&state, &headers, &t, false).await?;
        if t.access_level() == AccessLevel::Public {
            return Ok(Json(json!({ "participants": [] })).into_response());
        }
        let room = t.livekit_room().to_owned();
        let list = registry(&state, move |r| r.waiting(&room, Instant::now())).await?;
        Ok::<_, Response>(Json(json!({ "participants": list })).into_response())
    };
    run.await.unwrap_or_else(|r| r)
}

/// `POST rooms/{id}/enter/ {participant_id, allow_entry}` (admins).
pub(crate) async fn enter(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let run = async {
        let body = body_object(&body)?;
        let mut f = Fields::new(&body);
        let pid = f.string("participant_id", 36);
        let allow = f.boolean("allow_entry");
        if pid.as_deref().is_some_and(|p| !is_uuid(p)) {
            f.error("participant_id", "Must be a valid UUID.");
        }
        f.finish()?;
        let (Some(pid), Some(allow)) = (pid, allow) else {
            return Err(detail(StatusCode::BAD_REQUEST, "Invalid request."));
        };
        let t = target(&state, &key).await?;
        admin_caller(&state, &headers, &t, true).await?;
        if t.access_level() == AccessLevel::Public {
            return Err(reply(
                StatusCode::NOT_FOUND,
                json!({"message": "Room has no lobby system."}),
            ));
        }
        let room = t.livekit_room().to_owned();
        let pid = pid.to_lowercase();
        let found = registry(&state, move |r| {
            r.decide(&room, &pid, allow, Instant::now())
        })
        .await?;
        if found {
            Ok(Json(json!({"message": "Participant was updated."})).into_response())
        } else {
            Err(reply(
                StatusCode::NOT_FOUND,
                json!({"message": "Participant not found."}),
            ))
        }
    };
    run.await.unwrap_or_else(|r| r)
}

/// `POST rooms/{id}/toggle-hand/ {raised}`: the caller's `handRaisedAt` attribute.
pub(crate) async fn toggle_hand(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let run = async {
        let t = target(&state, &key).await?;
        let claims = room_token(&state, &headers, &t)?;
        let body = body_object(&body)?;
        let mut f = Fields::new(&body);
        let raised = f.boolean("raised");
        f.finish()?;
        let raised_at = if raised == Some(true) {
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
        } else {
            String::new()
        };
        let room = t.livekit_room().to_owned();
        let found = ask(&state, |reply| ApiCmd::SetAttributes {
            room,
            identity: claims.sub.clone(),
            attributes: HashMap::from([("handRaisedAt".to_owned(), raised_at)]),
            reply,
        })
        .await?;
        if found {
            Ok(Json(json!({"status": "success"})).into_response())
        } else {
            Err(reply(
                StatusCode::NOT_FOUND,
                json!({"error": "Participant not found"}),
            ))
        }
    };
    run.await.unwrap_or_else(|r| r)
}

/// `POST rooms/{id}/start-subtitle/`: accepted, but no transcription agent runs here yet.
pub(crate) async fn start_subtitle(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let run = async {
        let t = target(&state, &key).await?;
        room_token(&state, &headers, &t)?;
        Ok::<_, Response>(
            Json(json!({
                "status": "success",
                "agent": false,
                "detail": "Subtitles were requested, but this local server runs no transcription agent yet: no subtitles will appear.",
            }))
            .into_response(),
        )
    };
    run.await.unwrap_or_else(|r| r)
}

/// `POST rooms/{id}/mute-participant/ {participant_identity, track_sid}` (admins).
pub(crate) async fn mute_participant(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let run = async {
        let t = target(&state, &key).await?;
        let caller = admin_caller(&state, &headers, &t, true).await?;
        let body = body_object(&body)?;
        let mut f = Fields::new(&body);
        let identity = f.string("participant_identity", 255);
        let track_sid = f.string("track_sid", 255);
        f.finish()?;
        let (Some(identity), Some(track_sid)) = (identity, track_sid) else {
            return Err(detail(StatusCode::BAD_REQUEST, "Invalid request."));
        };
        let room = t.livekit_room().to_owned();
        // As Visio: a token proves access was granted, not that the caller is in the meeting.
        if let Some(caller) = caller {
            let r = room.clone();
            let present = ask(&state, |reply| ApiCmd::IsPresent {
                room: r,
                identity: caller,
                reply,
            })
            .await?;
            if !present {
                return Err(reply(
                    StatusCode::FORBIDDEN,
                    json!({"error": "Could not verify caller presence"}),
                ));
            }
        }
        let result = ask(&state, |reply| ApiCmd::MuteTrack {
            room,
            identity,
            track_sid,
            reply,
        })
        .await?;
        match result {
            Ok(()) => Ok(Json(json!({"status": "success"})).into_response()),
            Err(MuteRefusal::ParticipantNotFound) => Err(reply(
                StatusCode::NOT_FOUND,
                json!({"error": "Participant not found"}),
            )),
            Err(MuteRefusal::TrackNotFound) => Err(reply(
                StatusCode::NOT_FOUND,
                json!({"error": "Track not found"}),
            )),
        }
    };
    run.await.unwrap_or_else(|r| r)
}

/// `POST rooms/{id}/remove-participant/ {participant_identity}` (admins).
pub(crate) async fn remove_participant(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let run = async {
        let t = target(&state, &key).await?;
        admin_caller(&state, &headers, &t, true).await?;
        let body = body_object(&body)?;
        let mut f = Fields::new(&body);
        let identity = f.string("participant_identity", 255);
        f.finish()?;
        let Some(identity) = identity else {
            return Err(detail(StatusCode::BAD_REQUEST, "Invalid request."));
        };
        let room = t.livekit_room().to_owned();
        let found = ask(&state, |reply| ApiCmd::Remove {
            room,
            identity,
            reply,
        })
        .await?;
        if found {
            Ok(Json(json!({"status": "success"})).into_response())
        } else {
            Err(reply(
                StatusCode::NOT_FOUND,
                json!({"error": "Participant not found"}),
            ))
        }
    };
    run.await.unwrap_or_else(|r| r)
}

/// Unknown paths under `/api/v1.0/` answer JSON, as DRF does.
pub(crate) async fn api_not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Not found.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_cookies() {
        assert!(is_uuid(&crate::ids::uuid_v4()));
        assert!(!is_uuid("not-a-uuid"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lobbyParticipantId=xyz; csrftoken=\"t\""),
        );
        assert_eq!(cookie(&h, LOBBY_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, CSRF_COOKIE).as_deref(), Some("t"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn return_to_stays_on_this_server() {
        let host = Some("127.0.0.1:7880");
        let ok = |u: &str| assert_eq!(safe_return_to(Some(u), host), u, "{u}");
        let refused = |u: &str| assert_eq!(safe_return_to(Some(u), host), "/", "{u}");
        ok("/");
        ok("/abc-defg-hij?x=1");
        ok("http://127.0.0.1:7880/");
        ok("http://127.0.0.1:7880/abc-defg-hij");
        refused("//evil.example/");
        refused("/\\evil.example/");
        refused("https://evil.example/");
        refused("http://127.0.0.1:7881/");
        refused("http://127.0.0.1:7880@evil.example/");
        refused("http://user@127.0.0.1:7880/");
        refused("javascript:alert(1)");
        refused("/\tx");
        refused("evil.example");
        assert_eq!(safe_return_to(None, host), "/");
        assert_eq!(safe_return_to(Some("http://127.0.0.1:7880/"), None), "/");
        assert_eq!(
            safe_return_to(Some("http://VISIO.example/r"), Some("visio.example")),
            "http://visio.example/r"
        );
    }

    #[test]
    fn sign_in_page_escapes_what_it_echoes() {
        let page = sign_in_page("/\"><script>", "tok", "<b>", Some("<i>"));
        assert!(!page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>"));
        assert!(page.contains(r#"value="/&quot;&gt;&lt;script&gt;""#));
        assert!(page.contains(r#"name="csrfmiddlewaretoken" value="tok""#));
    }

    #[test]
    fn bodies_give_drf_errors() {
        let bad = body_object(&Bytes::from_static(b"{nope")).unwrap_err();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let list = body_object(&Bytes::from_static(b"[1]")).unwrap_err();
        assert_eq!(list.status(), StatusCode::BAD_REQUEST);
        let m = body_object(&Bytes::from_static(br#"{"raised": "yes"}"#)).expect("object");
        let mut f = Fields::new(&m);
        assert_eq!(f.boolean("raised"), None);
        assert_eq!(f.string("username", 10), None);
        assert_eq!(f.errors["username"], json!(["This field is required."]));
        assert_eq!(f.errors["raised"], json!(["Must be a valid boolean."]));
    }
}
