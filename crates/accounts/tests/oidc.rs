//! OIDC against a real provider (npm `oidc-provider`, `tests/oidc/provider.js`) on loopback:
//! code + PKCE exchange, ID token verification, refresh, revocation, and the attacks a native
//! app must refuse (wrong state, wrong nonce, tampered ID token). The provider's login form is
//! posted with an HTTP client here; the CLI test (`tests/accounts`) uses headless Chromium.
//! Needs `make js-deps` (the provider's node modules).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use accounts::{AccountError, OidcClient, PendingLogin};
use base64::Engine;
use secrecy::ExposeSecret;

const CLIENT_ID: &str = "visio-desktop";

struct Provider {
    child: Child,
    issuer: String,
    /// Kept open: node dies on EPIPE if its stdout is closed.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider() -> Provider {
    // Read at run time (cargo test sets it): a test binary reused from a build in another
    // checkout of the same target directory would otherwise look there.
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let dir = std::path::Path::new(&manifest).join("../../tests/oidc");
    assert!(
        dir.join("node_modules/oidc-provider").exists(),
        "tests/oidc/node_modules missing: run `make js-deps`"
    );
    let mut child = Command::new("node")
        .arg("provider.js")
        .arg("0")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let issuer = line
        .trim()
        .strip_prefix("ISSUER ")
        .expect("provider prints its issuer")
        .to_string();
    Provider {
        child,
        issuer,
        _stdout: stdout,
    }
}

fn http() -> reqwest::Client {
    accounts::http_client(&Default::default()).unwrap()
}

/// A user agent for the provider's dev login: signs in as `login`, consents, and returns the
/// redirect to the app's loopback callback without following it.
async fn sign_in(authorize_url: &str, login: &str) -> String {
    let ua = reqwest::Client::builder()
        .cookie_store(true)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = url::Url::parse(authorize_url).unwrap();
    for _ in 0..12 {
        let resp = ua.get(url.clone()).send().await.unwrap();
        if resp.status().is_redirection() {
            let loc = resp.headers()["location"].to_str().unwrap().to_string();
            let next = url.join(&loc).unwrap();
            if next.path() == "/callback" {
                return next.to_string();
            }
            url = next;
            continue;
        }
        let html = resp.text().await.unwrap();
        let action = html
            .split("action=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("no form on {url}: {html}"));
        let form: Vec<(&str, &str)> = if html.contains("value=\"login\"") {
            vec![("prompt", "login"), ("login", login), ("password", "any")]
        } else {
            vec![("prompt", "consent")]
        };
        let resp = ua
            .post(url.join(action).unwrap())
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_redirection(),
            "form post answered {}",
            resp.status()
        );
        url = url
            .join(resp.headers()["location"].to_str().unwrap())
            .unwrap();
    }
    panic!("the provider never redirected to the callback");
}

async fn deliver(callback: String) {
    let resp = reqwest::get(&callback).await.unwrap();
    assert!(
        resp.text().await.unwrap().contains("Sign"),
        "the loopback page answers"
    );
}

async fn login(
    client: &OidcClient,
    pending: PendingLogin,
    url: String,
) -> accounts::Result<accounts::Tokens> {
    let driver = tokio::spawn(async move { deliver(sign_in(&url, "alice").await).await });
    let result = client.finish(pending, Duration::from_secs(30)).await;
    driver.await.unwrap();
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_login_refresh_revoke_and_tampered_id_token() {
    let provider = start_provider();
    let client = OidcClient::discover(&http(), &provider.issuer, CLIENT_ID)
        .await
        .unwrap();
    let pending = client.begin().await.unwrap();
    let url = pending.authorize_url.to_string();
    let q: std::collections::HashMap<_, _> =
        pending.authorize_url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(
        q["redirect_uri"].starts_with("http://127.0.0.1:")
            && q["redirect_uri"].ends_with("/callback")
    );
    let nonce = q["nonce"].clone();

    let tokens = login(&client, pending, url).await.expect("login succeeds");
    let id = tokens.identity.clone().unwrap();
    assert_eq!(id.sub, "alice");
    assert_eq!(id.email.as_deref(), Some("alice@example.gouv.fr"));
    assert_eq!(id.name.as_deref(), Some("Test User alice"));
    assert_eq!(id.issuer, provider.issuer);
    let refresh = tokens.refresh_token.expect("a refresh token");
    let raw = tokens.id_token.unwrap().expose_secret().to_string();

    // The ID token verifies again with its nonce, and not with another one.
    assert_eq!(client.verify_id_token(&raw, Some(&nonce)).unwrap(), id);
    assert!(matches!(
        client.verify_id_token(&raw, Some("other")),
        Err(AccountError::WrongNonce)
    ));
    // Tampered payload (another subject), signature kept: refused.
    let parts: Vec<&str> = raw.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = String::from_utf8(b64.decode(parts[1]).unwrap()).unwrap();
    assert!(payload.contains("\"sub\":\"alice\""));
    let forged = b64.encode(payload.replace("\"sub\":\"alice\"", "\"sub\":\"admin\""));
    let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
    match client.verify_id_token(&tampered, Some(&nonce)) {
        Err(AccountError::BadToken(msg)) => assert!(msg.contains("ignature"), "{msg}"),
        other => panic!("tampered token accepted or wrong error: {other:?}"),
    }
    // An ID token for another client (audience) is refused too.
    let other = OidcClient::discover(&http(), &provider.issuer, "someone-else")
        .await
        .unwrap();
    assert!(
        matches!(other.verify_id_token(&raw, Some(&nonce)), Err(AccountError::BadToken(m)) if m.contains("audience"))
    );

    // Silent refresh; the provider rotates the refresh token.
    let renewed = client.refresh(&refresh).await.expect("refresh works");
    assert_eq!(
        renewed.identity.as_ref().map(|i| i.sub.as_str()),
        Some("alice")
    );
    let rotated = renewed.refresh_token.expect("rotated refresh token");
    assert_ne!(rotated.expose_secret(), refresh.expose_secret());
    assert!(!renewed.access_token.expose_secret().is_empty());

    // Logout: revoked at the provider, and the token no longer refreshes.
    assert!(client.revoke(&rotated).await.unwrap());
    assert!(matches!(
        client.refresh(&rotated).await,
        Err(AccountError::SessionExpired)
    ));
    let end = client.end_session_url().expect("end-session endpoint");
    assert!(
        end.as_str().starts_with(&provider.issuer)
            && end.as_str().contains("client_id=visio-desktop")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_state_is_rejected() {
    let provider = start_provider();
    let client = OidcClient::discover(&http(), &provider.issuer, CLIENT_ID)
        .await
        .unwrap();
    let pending = client.begin().await.unwrap();
    let url = pending.authorize_url.to_string();
    let driver = tokio::spawn(async move {
        let callback = sign_in(&url, "alice").await;
        let mut cb = url::Url::parse(&callback).unwrap();
        let pairs: Vec<(String, String)> = cb
            .query_pairs()
            .map(|(k, v)| {
                let forged = k == "state";
                (
                    k.into_owned(),
                    if forged {
                        "forged-state".into()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        cb.query_pairs_mut().clear().extend_pairs(pairs);
        deliver(cb.to_string()).await;
    });
    let result = client.finish(pending, Duration::from_secs(30)).await;
    driver.await.unwrap();
    assert!(
        matches!(result, Err(AccountError::WrongState)),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_nonce_is_rejected() {
    let provider = start_provider();
    let client = OidcClient::discover(&http(), &provider.issuer, CLIENT_ID)
        .await
        .unwrap();
    let pending = client.begin().await.unwrap();
    // A request whose nonce is not the one this login will check (a replayed/injected answer).
    let mut url = pending.authorize_url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let forged = k == "nonce";
            (
                k.into_owned(),
                if forged {
                    "injected-nonce".into()
                } else {
                    v.into_owned()
                },
            )
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let result = login(&client, pending, url.to_string()).await;
    assert!(
        matches!(result, Err(AccountError::WrongNonce)),
        "{result:?}"
    );
}

#[tokio::test]
async fn unreachable_provider_and_bad_issuer_are_explained() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = OidcClient::discover(&http(), &format!("http://127.0.0.1:{port}"), CLIENT_ID)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unreachable", "{err}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    let err = OidcClient::discover(&http(), "not a url", CLIENT_ID)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_link", "{err}");
}

#[tokio::test]
async fn login_times_out_when_the_browser_never_comes_back() {
    let provider = start_provider();
    let client = OidcClient::discover(&http(), &provider.issuer, CLIENT_ID)
        .await
        .unwrap();
    let pending = client.begin().await.unwrap();
    let err = client
        .finish(pending, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, AccountError::LoginTimeout));
}
