//! Accounts for Visio Desktop: server profiles, login, secrets in the OS keychain, offline
//! PIN unlock.
//!
//! A **profile** is one server and how to sign in to it ([`ServerKind`], [`LoginMethod`]):
//! - a Visio server with OIDC: authorization code + PKCE through the system browser and a
//!   loopback redirect ([`Accounts::begin_oidc_login`] then [`Accounts::finish_oidc_login`]);
//!   the refresh token renews the session silently ([`Accounts::refresh`]);
//! - a Visio server as it is today (session cookie only): the app's login window completes the
//!   ProConnect flow and hands the Django `sessionid` cookie to [`Accounts::login_session_cookie`];
//! - a plain LiveKit server: API key and secret ([`Accounts::add_livekit`]), tokens minted
//!   locally ([`Accounts::livekit_token`]);
//! - the local room server ([`Accounts::add_local`]): no login.
//!
//! **Secrets** (refresh tokens, session cookies, API secrets, the offline verifier) live only in
//! the OS keychain ([`Keychain`], Secret Service / Credential Manager / Keychain through
//! `keyring`), wrapped in `secrecy` types that zeroize on drop. Without a keychain every storing
//! call fails with [`AccountError::NoKeychain`] and nothing is written, not even the profile;
//! a locked one (and its unlock prompt dismissed) gives [`AccountError::KeychainLocked`] and
//! changes nothing either, so the user unlocks it and retries.
//! Profiles (no secrets) are JSON in the config directory.
//!
//! **Offline unlock**: after an online login, [`Accounts::set_pin`] stores an Argon2id verifier
//! of a PIN with the cached identity; [`Accounts::unlock`] checks it without any network. Five
//! wrong PINs lock it until the next online login ([`offline`]).
//!
//! **Using it from the app**: build one [`Accounts`] at start ([`Accounts::from_policy`] with the
//! effective IT policy, which also sets the proxy and extra CA certificates), keep it in the app
//! state (it is `Clone + Send + Sync`, every call is async and touches no UI). At start call
//! [`Accounts::refresh`] for the current profile: `Ok` → online; an error with
//! [`AccountError::is_offline`] → offer the PIN screen ([`Accounts::unlock`]) and retry
//! `refresh` when the network returns; [`AccountError::SessionExpired`] → show the login.
//! Show errors with their `Display` text and [`AccountError::code`].

pub mod error;
pub mod keychain;
pub mod offline;
pub mod oidc;
pub mod profile;

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub use error::{AccountError, Result};
pub use keychain::Keychain;
pub use oidc::{Identity, OidcClient, PendingLogin, Tokens};
pub use profile::{normalize_server, LoginMethod, Profile, ProfileStore, ServerKind};

use offline::OfflineRecord;

/// Builds the HTTP client every request of this crate uses: rustls with the system's roots plus
/// the policy's extra CA certificates, the policy's proxy (never for loopback), and no redirects
/// (OIDC endpoints must not be redirected; RFC 6749 §10 / openidconnect's advice).
pub fn http_client(network: &policy::NetworkPolicy) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("visio-desktop/", env!("CARGO_PKG_VERSION")));
    for path in &network.ca_certificates {
        let pem = std::fs::read(path).map_err(|e| {
            AccountError::Invalid(format!(
                "CA certificate {} from IT policy: {e}",
                path.display()
            ))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            AccountError::Invalid(format!(
                "CA certificate {} from IT policy: {e}",
                path.display()
            ))
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some(proxy) = &network.proxy {
        let p = reqwest::Proxy::all(proxy)
            .map_err(|e| AccountError::Invalid(format!("proxy {proxy:?} from IT policy: {e}")))?
            .no_proxy(reqwest::NoProxy::from_string("localhost,127.0.0.1,::1"));
        builder = builder.proxy(p);
    }
    builder
        .build()
        .map_err(|e| AccountError::Invalid(format!("HTTP client: {e}")))
}

/// The result of a refresh: who is signed in, and the fresh access token when the login kind
/// has one (OIDC).
#[derive(Debug)]
pub struct Session {
    pub profile: Profile,
    pub identity: Option<Identity>,
    pub access_token: Option<SecretString>,
}

/// What logout did.
#[derive(Debug)]
pub struct LogoutOutcome {
    /// The refresh token was revoked at the provider, or (session-cookie login) the server
    /// ended the session at `logout/`.
    pub revoked: bool,
    /// Open this in the browser to end the provider's own session (RP-initiated logout).
    pub end_session_url: Option<url::Url>,
    /// Why revocation did not happen, when it could not (provider unreachable...).
    pub note: Option<String>,
}

/// An OIDC login in progress for a profile (see [`Accounts::begin_oidc_login`]).
#[derive(Debug)]
pub struct OidcLogin {
    pub pending: PendingLogin,
    server: String,
    client: OidcClient,
    client_id: String,
}

impl OidcLogin {
    /// The URL to open in the system browser.
    pub fn authorize_url(&self) -> &url::Url {
        &self.pending.authorize_url
    }
}

/// Profiles, logins and secrets. Cheap to clone; share one per app.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: ProfileStore,
    keychain: Keychain,
    http: reqwest::Client,
    policy: policy::Policy,
}

/// Keychain item names: `<server origin>|<what>`.
fn item(server: &str, what: &str) -> String {
    format!("{server}|{what}")
}
const REFRESH: &str = "refresh_token";
const COOKIE: &str = "session_cookie";
const API_SECRET: &str = "api_secret";
const OFFLINE: &str = "offline";

impl Accounts {
    /// `config_dir` is the app's config directory (`<config>/visio`).
    pub fn new(config_dir: &Path, keychain: Keychain, policy: policy::Policy) -> Result<Self> {
        let network = policy::merge(&policy, policy::Settings::default()).network;
        Ok(Accounts {
            store: ProfileStore::new(config_dir),
            keychain,
            http: http_client(&network)?,
            policy,
        })
    }

    /// The platform config directory and keychain, with the given policy.
    pub fn from_policy(policy: policy::Policy) -> Result<Self> {
        Self::new(&default_config_dir()?, Keychain::default(), policy)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn profiles(&self) -> Result<Vec<Profile>> {
        self.store.list()
    }

    /// The profile for `server`, or the current one.
    pub fn profile(&self, server: Option<&str>) -> Result<Profile> {
        self.store.get(server)
    }

    fn allowed(&self, server: &str) -> Result<String> {
        let origin = normalize_server(server)?;
        if !policy::server_allowed(&self.policy, &origin) {
            return Err(AccountError::NotAllowed(origin));
        }
        Ok(origin)
    }

    /// Fails early with `NoKeychain`/`KeychainLocked` before a flow whose result must be stored
    /// (the app calls it before opening its login window).
    pub async fn keychain_usable(&self) -> Result<()> {
        self.check_keychain().await
    }

    async fn check_keychain(&self) -> Result<()> {
        self.keychain.ensure_usable().await?;
        self.keychain.get("availability-check").await.map(|_| ())
    }

    /// Checks that `server` speaks Visio's API (`GET /api/v1.0/config/` answers a JSON object).
    pub async fn probe_visio(&self, server: &str) -> Result<()> {
        let origin = normalize_server(server)?;
        let url = format!("{origin}/api/v1.0/config/");
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| AccountError::unreachable(&origin, oidc::error_chain(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(AccountError::NotVisio {
                server: origin,
                reason: format!("{url} answered HTTP {status}"),
            });
        }
        match resp.json::<serde_json::Value>().await {
            Ok(v) if v.is_object() => Ok(()),
            _ => Err(AccountError::NotVisio {
                server: origin,
                reason: format!("{url} is not Visio's configuration"),
            }),
        }
    }

    /// Starts an OIDC login for a Visio server: checks policy, keychain and the server, then
    /// discovers the provider. Open [`OidcLogin::authorize_url`] in the system browser, then
    /// call [`Accounts::finish_oidc_login`].
    pub async fn begin_oidc_login(
        &self,
        server: &str,
        issuer: &str,
        client_id: &str,
    ) -> Result<OidcLogin> {
        let origin = self.allowed(server)?;
        self.check_keychain().await?;
        self.probe_visio(&origin).await?;
        let client = OidcClient::discover(&self.http, issuer, client_id).await?;
        let pending = client.begin().await?;
        tracing::debug!(server = %origin, issuer, "login started");
        Ok(OidcLogin {
            pending,
            server: origin,
            client,
            client_id: client_id.to_string(),
        })
    }

    /// Waits for the browser's answer, verifies it, stores the refresh token in the keychain
    /// and the profile on disk. An online login also re-enables a locked offline unlock.
    pub async fn finish_oidc_login(&self, login: OidcLogin, timeout: Duration) -> Result<Identity> {
        let OidcLogin {
            pending,
            server,
            client,
            client_id,
        } = login;
        let tokens = client.finish(pending, timeout).await?;
        let identity = tokens
            .identity
            .clone()
            .ok_or_else(|| AccountError::BadToken("no identity in the ID token".into()))?;
        let refresh = tokens.refresh_token.as_ref().ok_or_else(|| {
            AccountError::Provider(
                "the provider gave no refresh token (offline_access refused?)".into(),
            )
        })?;
        self.keychain.set(&item(&server, REFRESH), refresh).await?;
        self.reset_offline(&server, &identity).await?;
        self.store.put(Profile {
            server: server.clone(),
            kind: ServerKind::Visio,
            login: LoginMethod::Oidc {
                issuer: client.issuer().to_string(),
                client_id,
            },
            identity: Some(identity.clone()),
        })?;
        tracing::info!(server = %server, sub = %identity.sub, "signed in");
        Ok(identity)
    }

    /// Keeps today's Visio session cookie (`sessionid`) after checking it with `users/me/`.
    pub async fn login_session_cookie(
        &self,
        server: &str,
        cookie: SecretString,
    ) -> Result<Identity> {
        let origin = self.allowed(server)?;
        self.check_keychain().await?;
        self.probe_visio(&origin).await?;
        let identity = self.check_cookie(&origin, &cookie).await?;
        self.keychain.set(&item(&origin, COOKIE), &cookie).await?;
        self.reset_offline(&origin, &identity).await?;
        self.store.put(Profile {
            server: origin,
            kind: ServerKind::Visio,
            login: LoginMethod::SessionCookie,
            identity: Some(identity.clone()),
        })?;
        Ok(identity)
    }

    /// The stored session cookie of a profile, for the Visio API client.
    pub async fn session_cookie(&self, server: &str) -> Result<Option<SecretString>> {
        self.keychain
            .get(&item(&normalize_server(server)?, COOKIE))
            .await
    }

    async fn check_cookie(&self, origin: &str, cookie: &SecretString) -> Result<Identity> {
        let url = format!("{origin}/api/v1.0/users/me/");
        let resp = self
            .http
            .get(&url)
            .header(
                reqwest::header::COOKIE,
                format!("sessionid={}", cookie.expose_secret()),
            )
            .send()
            .await
            .map_err(|e| AccountError::unreachable(origin, oidc::error_chain(&e)))?;
        match resp.status().as_u16() {
            200 => {}
            401 | 403 => return Err(AccountError::SessionExpired),
            s => {
                return Err(AccountError::NotVisio {
                    server: origin.into(),
                    reason: format!("{url} answered HTTP {s}"),
                })
            }
        }
        let me: serde_json::Value = resp.json().await.map_err(|e| AccountError::NotVisio {
            server: origin.into(),
            reason: format!("users/me/: {e}"),
        })?;
        let s = |k: &str| me.get(k).and_then(|v| v.as_str()).map(str::to_string);
        Ok(Identity {
            sub: s("id")
                .or_else(|| s("sub"))
                .ok_or_else(|| AccountError::NotVisio {
                    server: origin.into(),
                    reason: "users/me/ has no id".into(),
                })?,
            name: s("full_name").or_else(|| s("short_name")),
            email: s("email"),
            issuer: origin.to_string(),
        })
    }

    /// Adds a plain LiveKit server: the secret goes to the keychain first, then the profile.
    pub async fn add_livekit(
        &self,
        server: &str,
        api_key: &str,
        api_secret: SecretString,
    ) -> Result<Profile> {
        let origin = self.allowed(server)?;
        if api_key.trim().is_empty() || api_secret.expose_secret().is_empty() {
            return Err(AccountError::Invalid(
                "the API key and secret must not be empty".into(),
            ));
        }
        self.check_keychain().await?;
        self.keychain
            .set(&item(&origin, API_SECRET), &api_secret)
            .await?;
        let profile = Profile {
            server: origin,
            kind: ServerKind::LiveKit {
                api_key: api_key.trim().to_string(),
            },
            login: LoginMethod::None,
            identity: None,
        };
        self.store.put(profile.clone())?;
        Ok(profile)
    }

    /// Adds the local/LAN room server (no secret; refused when IT disabled it).
    pub fn add_local(&self, server: &str, local_server_enabled: bool) -> Result<Profile> {
        if !local_server_enabled {
            return Err(AccountError::NotAllowed(
                "the local room server (disabled by IT policy)".into(),
            ));
        }
        let origin = self.allowed(server)?;
        let profile = Profile {
            server: origin,
            kind: ServerKind::Local,
            login: LoginMethod::None,
            identity: None,
        };
        self.store.put(profile.clone())?;
        Ok(profile)
    }

    /// Mints a LiveKit access token for a LiveKit profile with the secret from the keychain.
    pub async fn livekit_token(
        &self,
        server: &str,
        room: &str,
        identity: &str,
        name: &str,
    ) -> Result<SecretString> {
        let profile = self.store.get(Some(server))?;
        let ServerKind::LiveKit { api_key } = &profile.kind else {
            return Err(AccountError::Invalid(format!(
                "{} is not a LiveKit server profile",
                profile.server
            )));
        };
        let secret = self
            .keychain
            .get(&item(&profile.server, API_SECRET))
            .await?
            .ok_or_else(|| AccountError::NotLoggedIn(profile.server.clone()))?;
        let jwt = livekit_token::AccessToken::with_api_key(api_key, secret.expose_secret())
            .with_identity(identity)
            .with_name(name)
            .with_ttl(Duration::from_secs(6 * 3600))
            .with_grants(livekit_token::VideoGrants {
                room_join: true,
                room: room.to_string(),
                ..Default::default()
            })
            .to_jwt()
            .map_err(|e| AccountError::Invalid(format!("minting the token: {e}")))?;
        Ok(SecretString::from(jwt))
    }

    /// Renews the session of a profile online: OIDC refresh (storing a rotated refresh token)
    /// or a session-cookie check. Fails with `Unreachable` when offline (the app then offers
    /// [`Accounts::unlock`]) and `SessionExpired` when the provider refused the session.
    pub async fn refresh(&self, server: Option<&str>) -> Result<Session> {
        let mut profile = self.store.get(server)?;
        let origin = profile.server.clone();
        match profile.login.clone() {
            LoginMethod::Oidc { issuer, client_id } => {
                let rt = self
                    .keychain
                    .get(&item(&origin, REFRESH))
                    .await?
                    .ok_or_else(|| AccountError::NotLoggedIn(origin.clone()))?;
                let client = OidcClient::discover(&self.http, &issuer, &client_id).await?;
                let tokens = client.refresh(&rt).await?;
                if let Some(new_rt) = &tokens.refresh_token {
                    self.keychain.set(&item(&origin, REFRESH), new_rt).await?;
                }
                if let Some(id) = &tokens.identity {
                    if profile.identity.as_ref() != Some(id) {
                        profile.identity = Some(id.clone());
                        self.store.put(profile.clone())?;
                    }
                }
                tracing::debug!(server = %origin, "session refreshed");
                Ok(Session {
                    identity: profile.identity.clone(),
                    profile,
                    access_token: Some(tokens.access_token),
                })
            }
            LoginMethod::SessionCookie => {
                let cookie = self
                    .keychain
                    .get(&item(&origin, COOKIE))
                    .await?
                    .ok_or_else(|| AccountError::NotLoggedIn(origin.clone()))?;
                let identity = self.check_cookie(&origin, &cookie).await?;
                Ok(Session {
                    profile,
                    identity: Some(identity),
                    access_token: None,
                })
            }
            LoginMethod::None => Ok(Session {
                identity: None,
                profile,
                access_token: None,
            }),
        }
    }

    /// Sets (or replaces) the offline PIN of a signed-in profile.
    pub async fn set_pin(&self, server: Option<&str>, pin: SecretString) -> Result<()> {
        let profile = self.store.get(server)?;
        let identity = profile
            .identity
            .clone()
            .ok_or_else(|| AccountError::NotLoggedIn(profile.server.clone()))?;
        let what = match profile.login {
            LoginMethod::Oidc { .. } => REFRESH,
            LoginMethod::SessionCookie => COOKIE,
            LoginMethod::None => return Err(AccountError::NotLoggedIn(profile.server.clone())),
        };
        if self
            .keychain
            .get(&item(&profile.server, what))
            .await?
            .is_none()
        {
            return Err(AccountError::NotLoggedIn(profile.server.clone()));
        }
        let record = tokio::task::spawn_blocking(move || OfflineRecord::new(&pin, identity))
            .await
            .map_err(|e| AccountError::Invalid(e.to_string()))??;
        self.keychain
            .set(&item(&profile.server, OFFLINE), &record.to_secret()?)
            .await
    }

    /// Unlocks offline with the PIN: no network involved. Each attempt's outcome is written to
    /// the keychain before it is reported.
    pub async fn unlock(&self, server: Option<&str>, pin: SecretString) -> Result<Identity> {
        let profile = self.store.get(server)?;
        let key = item(&profile.server, OFFLINE);
        let stored = self
            .keychain
            .get(&key)
            .await?
            .ok_or(AccountError::NoOfflinePin)?;
        let mut record = OfflineRecord::from_secret(&stored)?;
        let (record, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = record.check(&pin);
            (record, outcome)
        })
        .await
        .map_err(|e| AccountError::Invalid(e.to_string()))?;
        self.keychain.set(&key, &record.to_secret()?).await?;
        match outcome {
            Ok(true) => {
                tracing::info!(server = %profile.server, "unlocked offline");
                Ok(record.identity.clone())
            }
            Ok(false) => {
                tracing::warn!(server = %profile.server, failures = record.failures, "wrong offline PIN");
                if record.locked {
                    // The fifth wrong PIN: say so now, the next attempt will be refused.
                    Err(AccountError::WrongPin { remaining: 0 })
                } else {
                    Err(AccountError::WrongPin {
                        remaining: offline::MAX_FAILURES - record.failures,
                    })
                }
            }
            Err(e) => Err(e),
        }
    }

    /// After an online login: clear the wrong-PIN counter and lock, keep the verifier.
    async fn reset_offline(&self, server: &str, identity: &Identity) -> Result<()> {
        let key = item(server, OFFLINE);
        let Some(stored) = self.keychain.get(&key).await? else {
            return Ok(());
        };
        match OfflineRecord::from_secret(&stored) {
            Ok(mut record) if record.identity.sub == identity.sub => {
                record.failures = 0;
                record.locked = false;
                record.identity = identity.clone();
                self.keychain.set(&key, &record.to_secret()?).await
            }
            // Someone else signed in, or the record is damaged: the old PIN must not unlock.
            _ => self.keychain.delete(&key).await,
        }
    }

    /// Signs out: revokes the refresh token where the provider allows, removes every secret
    /// of the profile from the keychain and the profile itself. Local removal happens even
    /// when the provider is unreachable.
    pub async fn logout(&self, server: Option<&str>) -> Result<LogoutOutcome> {
        let profile = self.store.get(server)?;
        let origin = profile.server.clone();
        let mut outcome = LogoutOutcome {
            revoked: false,
            end_session_url: None,
            note: None,
        };
        if let LoginMethod::Oidc { issuer, client_id } = &profile.login {
            if let Some(rt) = self.keychain.get(&item(&origin, REFRESH)).await? {
                match OidcClient::discover(&self.http, issuer, client_id).await {
                    Ok(client) => {
                        match client.revoke(&rt).await {
                            Ok(r) => outcome.revoked = r,
                            Err(e) => outcome.note = Some(e.to_string()),
                        }
                        outcome.end_session_url = client.end_session_url();
                    }
                    Err(e) => outcome.note = Some(e.to_string()),
                }
            }
        }
        if profile.login == LoginMethod::SessionCookie {
            // Today's Visio: end the Django session on the server too (`GET logout/`, as its
            // web app does); a redirect or success means it is gone.
            if let Some(cookie) = self.keychain.get(&item(&origin, COOKIE)).await? {
                match self.end_server_session(&origin, &cookie).await {
                    Ok(()) => outcome.revoked = true,
                    Err(e) => outcome.note = Some(e.to_string()),
                }
            }
        }
        for what in [REFRESH, COOKIE, API_SECRET, OFFLINE] {
            self.keychain.delete(&item(&origin, what)).await?;
        }
        self.store.remove(&origin)?;
        tracing::info!(server = %origin, revoked = outcome.revoked, "signed out");
        Ok(outcome)
    }
}

impl Accounts {
    async fn end_server_session(&self, origin: &str, cookie: &SecretString) -> Result<()> {
        let url = format!("{origin}/api/v1.0/logout/");
        let resp = self
            .http
            .get(&url)
            .header(
                reqwest::header::COOKIE,
                format!("sessionid={}", cookie.expose_secret()),
            )
            .send()
            .await
            .map_err(|e| AccountError::unreachable(origin, oidc::error_chain(&e)))?;
        let status = resp.status();
        if status.is_success() || status.is_redirection() {
            Ok(())
        } else {
            Err(AccountError::NotVisio {
                server: origin.into(),
                reason: format!("{url} answered HTTP {status}"),
            })
        }
    }
}

/// `<platform config dir>/visio` (`~/.config/visio` on Linux).
pub fn default_config_dir() -> Result<PathBuf> {
    dirs::config_dir()
        .map(|d| d.join("visio"))
        .ok_or_else(|| AccountError::Invalid("no config directory on this system".into()))
}
