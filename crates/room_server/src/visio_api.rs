//! The part of Visio's REST API (`/api/v1.0/`) a client needs to join a room, served by the
//! local server so that a Visio link to it works like one to a Visio deployment. Rooms are
//! "unregistered" rooms (Visio's `ALLOW_UNREGISTERED_ROOMS`): any valid slug can be joined.
//! Room codes are read and normalised by the `room_code` crate, shared with the client.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use livekit_token::{AccessToken, VideoGrants};
use serde_json::json;

use crate::AppState;

/// Visio caches room tokens for 6 hours; tokens are minted with that lifetime.
const TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);

fn livekit_url(state: &AppState, headers: &HeaderMap) -> String {
    if !state.public_url.is_empty() {
        return state.public_url.clone();
    }
    // Same host the client used for the API, so LAN clients get a reachable address.
    match headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        Some(host) => format!("ws://{host}"),
        None => format!("ws://{}", state.http_addr),
    }
}

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

pub(crate) async fn users_me() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"detail": "Authentication credentials were not provided."})),
    )
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"detail": "No Room matches the given query."})),
    )
        .into_response()
}

/// `GET rooms/{slug}/?username=NAME`.
pub(crate) async fn room(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(slug) = room_code::normalize(&slug) else {
        return not_found();
    };
    let username = query
        .get("username")
        .map(|s| s.trim().chars().take(100).collect::<String>())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "Anonymous".into());
    let Some((key, secret)) = state.keys.any() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no API key configured").into_response();
    };
    let identity = uuid_like();
    let color = COLORS[identity.as_bytes()[0] as usize % COLORS.len()];
    let token = AccessToken::with_api_key(key, secret)
        .with_identity(&identity)
        .with_name(&username)
        .with_ttl(TOKEN_TTL)
        .with_attributes([
            ("color", color),
            ("room_role", "member"),
            ("is_authenticated", "false"),
        ])
        .with_grants(VideoGrants {
            room_join: true,
            room: slug.clone(),
            can_publish: Some(true),
            can_subscribe: Some(true),
            can_publish_data: Some(true),
            can_update_own_metadata: Some(false),
            ..Default::default()
        })
        .to_jwt();
    let Ok(token) = token else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "token could not be minted",
        )
            .into_response();
    };
    Json(json!({
        "id": null,
        "name": slug,
        "slug": slug,
        "configuration": {},
        "access_level": "public",
        "pin_code": null,
        "livekit": {
            "url": livekit_url(&state, &headers),
            "room": slug,
            "token": token,
        },
    }))
    .into_response()
}

const COLORS: [&str; 6] = [
    "#3d6bce", "#ce3d6b", "#3dce8e", "#ce8e3d", "#8e3dce", "#3dbace",
];

fn uuid_like() -> String {
    let s = crate::ids::secret(32).to_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}
