//! Helpers the engine's integration tests share (each test file includes this as `mod common`).

// Each test binary uses its own subset.
#![allow(dead_code)]

use livekit_token::{AccessToken, VideoGrants};

/// The API key every test server is configured with (`ServerConfig`'s dev key).
pub const API_KEY: &str = "devkey";

/// A join token for `identity` in `room`, signed with the dev secret `"secret"`.
pub fn token(room: &str, identity: &str) -> String {
    token_signed("secret", room, identity)
}

/// A join token signed with `secret` (a wrong one tests the server's refusal).
pub fn token_signed(secret: &str, room: &str, identity: &str) -> String {
    AccessToken::with_api_key(API_KEY, secret)
        .with_identity(identity)
        .with_grants(VideoGrants {
            room_join: true,
            room: room.into(),
            ..Default::default()
        })
        .to_jwt()
        .expect("token")
}
