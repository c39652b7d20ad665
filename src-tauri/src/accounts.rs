//! Accounts in the app: server profiles, sign-in, sign-out and offline PIN unlock, over the
//! `accounts` crate (secrets only in the OS keychain) and the IT policy (`policy` crate).
//!
//! Sign-in has two paths, chosen by the `login` request:
//! - **OIDC** (a server with native login: `issuer` and `clientId` given): authorization code +
//!   PKCE through the **system browser** and a loopback redirect (RFC 8252); the app never sees
//!   the password.
//! - **Today's Visio** (session cookie only): a second window (label `login`) opens the
//!   server's `authenticate/` page, which runs the ProConnect flow. Each time the window's
//!   `sessionid` cookie changes (Django rotates it at login), it is checked with `users/me/`;
//!   the first one that answers is kept in the keychain, the login's cookies for that server
//!   are deleted from the webview's cookie store (WebKit keeps it on disk) and the window
//!   closes. The window shows remote pages, so it gets no IPC at all (the capability file
//!   names `main` only). It is not incognito: an ephemeral webview gets its own WebKit
//!   context, which WebDriver cannot reach, and the end-to-end test drives this window.
//!   Tested end to end against the room server's local sign-in page
//!   (`tests/e2e/test_login_window.py`).
//!
//! Secrets from the UI (API secret, PIN) arrive as `SecretString`s, are never logged and are
//! zeroized when dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::accounts::{Accounts, Identity, Profile};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, Runtime, State, WebviewUrl, WebviewWindowBuilder};

use crate::bridge::{AppError, CmdResult, ErrorCode};

/// How long a sign-in may take in the browser or the login window.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(600);
/// The login window's label; only one at a time.
const LOGIN_WINDOW: &str = "login";

/// The app's accounts, managed as Tauri state.
pub struct AccountsState {
    pub accounts: Accounts,
    /// The IT policy the accounts were built with (allowed servers, local server lock).
    pub policy: policy::Policy,
}

type St<'a> = State<'a, Arc<AccountsState>>;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfilesInfo {
    pub profiles: Vec<Profile>,
    /// The current profile's server, if any.
    pub current: Option<String>,
}

/// `add_profile`: a plain LiveKit server (key + secret) or the local room server. A Visio
/// server is added by signing in to it (`login`).
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum AddProfileRequest {
    #[serde(rename_all = "camelCase")]
    LiveKit {
        server: String,
        api_key: String,
        api_secret: SecretString,
    },
    Local {
        server: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    pub server: String,
    /// OIDC issuer and client id: native login through the system browser.
    pub issuer: Option<String>,
    pub client_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerRequest {
    /// The profile's server; `None`: the current profile.
    pub server: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PinRequest {
    pub server: Option<String>,
    pub pin: SecretString,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogoutResult {
    pub revoked: bool,
    /// Open it to end the identity provider's browser session too.
    pub end_session_url: Option<String>,
}

/// `whoami`: who is signed in to a profile, and whether the server confirmed it now.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub profile: Profile,
    pub identity: Option<Identity>,
    /// `online`: refreshed now; `offline`: server or provider unreachable, the cached identity
    /// is shown and the PIN can unlock; the UI offers the PIN screen.
    pub session: SessionState,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    Online,
    Offline,
}

#[tauri::command]
pub fn list_profiles(a: St<'_>) -> CmdResult<ProfilesInfo> {
    Ok(ProfilesInfo {
        profiles: a.accounts.profiles()?,
        current: a.accounts.profile(None).ok().map(|p| p.server),
    })
}

#[tauri::command]
pub async fn add_profile(a: St<'_>, request: AddProfileRequest) -> CmdResult<Profile> {
    match request {
        AddProfileRequest::LiveKit {
            server,
            api_key,
            api_secret,
        } => Ok(a
            .accounts
            .add_livekit(&server, api_key.trim(), api_secret)
            .await?),
        AddProfileRequest::Local { server } => {
            let allowed = a.policy.locked.local_server.unwrap_or(true);
            Ok(a.accounts.add_local(&server, allowed)?)
        }
    }
}

#[tauri::command]
pub async fn login<R: Runtime>(
    app: AppHandle<R>,
    a: St<'_>,
    request: LoginRequest,
) -> CmdResult<Identity> {
    match (&request.issuer, &request.client_id) {
        (Some(issuer), Some(client_id)) => {
            let login = a
                .accounts
                .begin_oidc_login(&request.server, issuer, client_id)
                .await?;
            open_browser(login.authorize_url().as_str())?;
            Ok(a.accounts.finish_oidc_login(login, LOGIN_TIMEOUT).await?)
        }
        (None, None) => login_window(&app, &a, &request.server).await,
        _ => Err(AppError::new(
            ErrorCode::Internal,
            "issuer and clientId go together",
        )),
    }
}

#[tauri::command]
pub async fn logout(a: St<'_>, request: Option<ServerRequest>) -> CmdResult<LogoutResult> {
    let r = request.unwrap_or_default();
    let out = a.accounts.logout(r.server.as_deref()).await?;
    Ok(LogoutResult {
        revoked: out.revoked,
        end_session_url: out.end_session_url.map(|u| u.to_string()),
    })
}

#[tauri::command]
pub async fn whoami(a: St<'_>, request: Option<ServerRequest>) -> CmdResult<SessionInfo> {
    let r = request.unwrap_or_default();
    let profile = a.accounts.profile(r.server.as_deref())?;
    match a.accounts.refresh(Some(&profile.server)).await {
        Ok(s) => Ok(SessionInfo {
            identity: s.identity,
            profile: s.profile,
            session: SessionState::Online,
            reason: None,
        }),
        Err(e) if e.is_offline() => Ok(SessionInfo {
            identity: profile.identity.clone(),
            profile,
            session: SessionState::Offline,
            reason: Some(e.to_string()),
        }),
        Err(e) => Err(e.into()),
    }
}

#[tauri::command]
pub async fn set_pin(a: St<'_>, request: PinRequest) -> CmdResult<()> {
    check_pin(&request.pin)?;
    Ok(a.accounts
        .set_pin(request.server.as_deref(), request.pin)
        .await?)
}

#[tauri::command]
pub async fn unlock_with_pin(a: St<'_>, request: PinRequest) -> CmdResult<Identity> {
    Ok(a.accounts
        .unlock(request.server.as_deref(), request.pin)
        .await?)
}

/// The shortest offline PIN accepted: it guards cached identity, not the account itself
/// (five tries, then an online login is needed).
pub const MIN_PIN_LEN: usize = 6;

fn check_pin(pin: &SecretString) -> CmdResult<()> {
    if pin.expose_secret().chars().count() < MIN_PIN_LEN {
        return Err(::accounts::AccountError::WeakPin(MIN_PIN_LEN).into());
    }
    Ok(())
}

/// The system browser: `$VISIO_BROWSER URL` when set (tests, kiosks), else the desktop's.
fn open_browser(url: &str) -> CmdResult<()> {
    let fail = |e: std::io::Error| {
        AppError::new(
            ErrorCode::LoginFailed,
            format!("cannot open the browser: {e}"),
        )
    };
    match std::env::var_os("VISIO_BROWSER") {
        Some(cmd) => std::process::Command::new(cmd)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .spawn()
            .map(|_| ())
            .map_err(fail),
        None => webbrowser::open(url).map_err(fail),
    }
}

/// The page that starts Visio's login and comes back to the server when it is done.
pub fn login_url(origin: &str) -> CmdResult<url::Url> {
    let mut url = url::Url::parse(&format!("{origin}/api/v1.0/authenticate/"))
        .map_err(|e| AppError::new(ErrorCode::InvalidLink, e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("returnTo", &format!("{origin}/"));
    Ok(url)
}

/// Today's Visio: the login window, then the session cookie into the keychain.
async fn login_window<R: Runtime>(
    app: &AppHandle<R>,
    state: &AccountsState,
    server: &str,
) -> CmdResult<Identity> {
    let accounts = &state.accounts;
    let origin = ::accounts::normalize_server(server)?;
    // Before any window: a bad, forbidden or non-Visio server, or no keychain, fails here.
    if !policy::server_allowed(&state.policy, &origin) {
        return Err(::accounts::AccountError::NotAllowed(origin).into());
    }
    accounts.probe_visio(&origin).await?;
    accounts.keychain_usable().await?;
    if let Some(old) = app.get_webview_window(LOGIN_WINDOW) {
        let _ = old.destroy();
    }
    let origin_url = url::Url::parse(&origin)
        .map_err(|e| AppError::new(ErrorCode::InvalidLink, e.to_string()))?;
    let window =
        WebviewWindowBuilder::new(app, LOGIN_WINDOW, WebviewUrl::External(login_url(&origin)?))
            .title("Visio")
            .inner_size(520.0, 720.0)
            .build()
            .map_err(|e| AppError::new(ErrorCode::Internal, format!("login window: {e}")))?;
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    window.on_window_event(move |e| {
        if matches!(e, tauri::WindowEvent::Destroyed) {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let started = Instant::now();
    let mut tried: Option<String> = None;
    let outcome = loop {
        if closed.load(Ordering::SeqCst) {
            break Err(AppError::new(
                ErrorCode::Cancelled,
                "the login window was closed",
            ));
        }
        if started.elapsed() > LOGIN_TIMEOUT {
            break Err(::accounts::AccountError::LoginTimeout.into());
        }
        // A cookie read must not run on the event loop thread (it deadlocks on Windows).
        let cookies = window
            .cookies_for_url(origin_url.clone())
            .unwrap_or_default();
        if let Some(c) = cookies.iter().find(|c| c.name() == "sessionid") {
            // Django sets a session before the login (OIDC state) and rotates it at login:
            // try each new value once; a 401 means the login is not done yet.
            let fingerprint = fingerprint(c.value());
            if tried.as_deref() != Some(fingerprint.as_str()) {
                tried = Some(fingerprint);
                let cookie = SecretString::from(c.value().to_string());
                match accounts.login_session_cookie(&origin, cookie).await {
                    Ok(identity) => break Ok(identity),
                    Err(::accounts::AccountError::SessionExpired) => {}
                    Err(e) => break Err(e.into()),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // The session now lives in the keychain only: take it (and the login's other cookies for
    // this server) out of the webview's cookie store, which WebKit keeps on disk.
    for c in window.cookies_for_url(origin_url).unwrap_or_default() {
        if let Err(e) = window.delete_cookie(c.clone()) {
            tracing::warn!(cookie = c.name(), "could not delete a login cookie: {e}");
        }
    }
    let _ = window.destroy();
    outcome
}

/// A short non-secret tag of a cookie value, to tell values apart without keeping them.
fn fingerprint(value: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_url_returns_to_the_server() {
        let u = login_url("https://visio.example").unwrap();
        assert_eq!(
            u.as_str(),
            "https://visio.example/api/v1.0/authenticate/?returnTo=https%3A%2F%2Fvisio.example%2F"
        );
    }

    #[test]
    fn requests_from_the_ui_parse_and_secrets_stay_hidden() {
        let r: AddProfileRequest = serde_json::from_str(
            r#"{"kind":"liveKit","server":"https://lk.example","apiKey":"K","apiSecret":"s3cr3t"}"#,
        )
        .unwrap();
        let AddProfileRequest::LiveKit { api_secret, .. } = r else {
            panic!("liveKit")
        };
        assert_eq!(api_secret.expose_secret(), "s3cr3t");
        assert!(!format!("{api_secret:?}").contains("s3cr3t"));
        let p: PinRequest = serde_json::from_str(r#"{"pin":"123"}"#).unwrap();
        assert_eq!(
            check_pin(&p.pin).unwrap_err().code,
            ErrorCode::WeakPin,
            "too short"
        );
        assert!(serde_json::from_str::<AddProfileRequest>(r#"{"kind":"visio"}"#).is_err());
    }
}
