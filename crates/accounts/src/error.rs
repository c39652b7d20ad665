//! Errors the UI can explain: each has a stable [`AccountError::code`] and a sentence.

/// Everything that can go wrong with profiles, logins and secrets.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{input:?} is not a valid server address: {reason}")]
    BadUrl { input: String, reason: String },
    #[error("{what} is unreachable: {reason}")]
    Unreachable { what: String, reason: String },
    #[error("{server} is not a Visio server ({reason})")]
    NotVisio { server: String, reason: String },
    #[error("the server {0} is not allowed by IT policy")]
    NotAllowed(String),
    #[error("the identity provider refused the login: {0}")]
    Provider(String),
    #[error("the login answer does not belong to this login attempt (wrong state)")]
    WrongState,
    #[error("the ID token was not issued for this login attempt (wrong nonce)")]
    WrongNonce,
    #[error("the identity token is not valid: {0}")]
    BadToken(String),
    #[error("the session has expired: sign in again")]
    SessionExpired,
    #[error("not signed in to {0}")]
    NotLoggedIn(String),
    #[error("no profile for {0}: run a login first")]
    NoProfile(String),
    #[error("the login timed out waiting for the browser")]
    LoginTimeout,
    #[error("no OS keychain is available ({0}); nothing secret was stored")]
    NoKeychain(String),
    #[error("the OS keychain is locked ({0}): unlock it in your password manager (or sign in to the desktop again) and retry; nothing was changed")]
    KeychainLocked(String),
    #[error("the OS keychain failed: {0}")]
    Keychain(String),
    #[error("wrong PIN ({remaining} attempts left before offline unlock is locked)")]
    WrongPin { remaining: u32 },
    #[error("offline unlock is locked after too many wrong PINs: sign in online to unlock it")]
    OfflineLocked,
    #[error("no offline PIN is set for this profile: sign in online, then set a PIN")]
    NoOfflinePin,
    #[error("the PIN must have at least {0} characters")]
    WeakPin(usize),
    #[error("cannot save the profiles in {path}: {reason}")]
    Store { path: String, reason: String },
    #[error("{0}")]
    Invalid(String),
}

impl AccountError {
    /// A stable code for the UI (matches the bridge's `ErrorCode` spelling where one exists).
    pub fn code(&self) -> &'static str {
        match self {
            AccountError::BadUrl { .. } => "invalid_link",
            AccountError::Unreachable { .. } => "unreachable",
            AccountError::NotVisio { .. } => "protocol",
            AccountError::NotAllowed(_) => "not_allowed",
            AccountError::Provider(_) => "provider",
            AccountError::WrongState => "wrong_state",
            AccountError::WrongNonce => "wrong_nonce",
            AccountError::BadToken(_) => "bad_token",
            AccountError::SessionExpired => "session_expired",
            AccountError::NotLoggedIn(_) | AccountError::NoProfile(_) => "not_logged_in",
            AccountError::LoginTimeout => "timeout",
            AccountError::NoKeychain(_) => "no_keychain",
            AccountError::KeychainLocked(_) => "keychain_locked",
            AccountError::Keychain(_) => "keychain",
            AccountError::WrongPin { .. } => "wrong_pin",
            AccountError::OfflineLocked => "offline_locked",
            AccountError::NoOfflinePin => "no_offline_pin",
            AccountError::WeakPin(_) => "weak_pin",
            AccountError::Store { .. } => "internal",
            AccountError::Invalid(_) => "internal",
        }
    }

    /// Whether the failure means "no network / provider down": the app may offer offline unlock.
    pub fn is_offline(&self) -> bool {
        matches!(self, AccountError::Unreachable { .. })
    }

    pub(crate) fn unreachable(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        AccountError::Unreachable {
            what: what.to_string(),
            reason: e.to_string(),
        }
    }
}

pub type Result<T, E = AccountError> = std::result::Result<T, E>;
