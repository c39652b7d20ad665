//! Access-token checks, with the reasons LiveKit server gives so that SDKs can show them.

use std::collections::HashMap;

use livekit_token::{Claims, TokenVerifier};

/// Why a join was refused. `Display` is the text sent in the HTTP 401 body, as LiveKit does.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no permissions to access the room: missing access token")]
    MissingToken,
    #[error("invalid token: unknown API key {0:?}")]
    UnknownKey(String),
    #[error("invalid token: token is expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("no permissions to access the room: the token grants no roomJoin")]
    NoJoinGrant,
    #[error("no permissions to access the room: the token names no room")]
    NoRoom,
    #[error("no permissions to access the room: the token has no identity")]
    NoIdentity,
}

/// Clock skew tolerated on `exp` and `nbf`, as jsonwebtoken's default validation.
const LEEWAY_SECS: u64 = 60;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// "failed to encode jwt: InvalidSignature" rather than only the outer message.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// API keys and their secrets.
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: HashMap<String, String>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never printed, only the key names.
        f.debug_struct("KeyRing")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    pub fn new(keys: HashMap<String, String>) -> Self {
        Self { keys }
    }

    pub fn single(key: &str, secret: &str) -> Self {
        Self::new(HashMap::from([(key.to_owned(), secret.to_owned())]))
    }

    /// The first key and secret, used to mint tokens for the Visio REST API.
    pub fn any(&self) -> Option<(&str, &str)> {
        let mut keys: Vec<_> = self.keys.iter().collect();
        keys.sort();
        keys.first().map(|(k, s)| (k.as_str(), s.as_str()))
    }

    /// Verifies signature, expiry and the grants needed to join a room.
    pub fn verify_join(&self, token: &str) -> Result<JoinGrant, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::MissingToken);
        }
        let unverified =
            Claims::from_unverified(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let secret = self
            .keys
            .get(&unverified.iss)
            .ok_or_else(|| AuthError::UnknownKey(unverified.iss.clone()))?;
        let claims = TokenVerifier::with_api_key(&unverified.iss, secret)
            .verify(token)
            .map_err(|e| {
                let expired = (unverified.exp as u64) < now_secs().saturating_sub(LEEWAY_SECS);
                if expired {
                    AuthError::Expired
                } else {
                    AuthError::Invalid(error_chain(&e))
                }
            })?;
        if !claims.video.room_join {
            return Err(AuthError::NoJoinGrant);
        }
        if claims.video.room.is_empty() {
            return Err(AuthError::NoRoom);
        }
        if claims.sub.is_empty() {
            return Err(AuthError::NoIdentity);
        }
        Ok(JoinGrant { claims })
    }
}

/// A verified token that allows joining `room()`.
#[derive(Debug, Clone)]
pub struct JoinGrant {
    pub claims: Claims,
}

impl JoinGrant {
    pub fn room(&self) -> &str {
        &self.claims.video.room
    }
    pub fn identity(&self) -> &str {
        &self.claims.sub
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use livekit_token::{AccessToken, VideoGrants};
    use std::time::Duration;

    fn token(secret: &str, grants: VideoGrants, ttl: Duration) -> String {
        AccessToken::with_api_key("devkey", secret)
            .with_identity("alice")
            .with_ttl(ttl)
            .with_grants(grants)
            .to_jwt()
            .expect("token")
    }

    fn join(room: &str) -> VideoGrants {
        VideoGrants {
            room_join: true,
            room: room.into(),
            ..Default::default()
        }
    }

    #[test]
    fn accepts_a_good_token_and_names_the_room() {
        let ring = KeyRing::single("devkey", "secret");
        let grant = ring
            .verify_join(&token("secret", join("r1"), Duration::from_secs(60)))
            .expect("valid");
        assert_eq!(grant.room(), "r1");
        assert_eq!(grant.identity(), "alice");
    }

    #[test]
    fn refuses_wrong_secret_missing_grant_and_garbage() {
        let ring = KeyRing::single("devkey", "secret");
        let bad = ring.verify_join(&token("other", join("r1"), Duration::from_secs(60)));
        assert!(matches!(bad, Err(AuthError::Invalid(_))), "{bad:?}");
        let no_join = ring.verify_join(&token(
            "secret",
            VideoGrants::default(),
            Duration::from_secs(60),
        ));
        assert_eq!(no_join.unwrap_err(), AuthError::NoJoinGrant);
        assert!(matches!(
            ring.verify_join("not.a.token"),
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(ring.verify_join("").unwrap_err(), AuthError::MissingToken);
    }
}
