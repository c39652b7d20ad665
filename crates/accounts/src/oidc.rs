//! OpenID Connect for a native app (RFC 8252): authorization code + PKCE (S256) through the
//! system browser, answered on a loopback redirect `http://127.0.0.1:PORT/callback` served here.
//!
//! Checked on every login: the `state` of the answer, then the ID token's signature against the
//! provider's JWKS, its issuer, audience, expiry and `nonce`. Refresh tokens renew the session
//! silently; logout revokes the refresh token where the provider has a revocation endpoint and
//! gives the end-session URL for the browser.

use std::time::{Duration, SystemTime};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

use crate::error::{AccountError, Result};

/// Who signed in, as the ID token says. Not secret; cached for offline use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub sub: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The issuer (OIDC) or server (session cookie) that vouched for this identity.
    pub issuer: String,
}

/// Tokens from a login or a refresh. Secrets stay wrapped; `Debug` prints them redacted.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// The raw ID token (already verified), when the response carried one.
    pub id_token: Option<SecretString>,
    pub expires_at: Option<SystemTime>,
    pub identity: Option<Identity>,
}

/// Endpoints from the discovery document that `CoreProviderMetadata` does not model.
#[derive(Debug, Clone, Default, Deserialize)]
struct ExtraMetadata {
    revocation_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// An OIDC provider as discovered, with this app's public client id.
#[derive(Debug, Clone)]
pub struct OidcClient {
    http: reqwest::Client,
    issuer: IssuerUrl,
    client_id: ClientId,
    scopes: Vec<String>,
    metadata: CoreProviderMetadata,
    extra: ExtraMetadata,
}

/// A login in progress: the URL to open in the browser and the loopback listener that will
/// receive the answer. Drop it to cancel.
#[derive(Debug)]
pub struct PendingLogin {
    /// Open this in the system browser.
    pub authorize_url: Url,
    /// The loopback redirect (`http://127.0.0.1:PORT/callback`).
    pub redirect_uri: Url,
    listener: TcpListener,
    state: CsrfToken,
    nonce: Nonce,
    pkce_verifier: PkceCodeVerifier,
}

impl OidcClient {
    /// Fetches the provider's discovery document and JWKS. `http` must not follow redirects
    /// (see [`crate::http_client`]).
    pub async fn discover(http: &reqwest::Client, issuer: &str, client_id: &str) -> Result<Self> {
        let issuer_url = IssuerUrl::new(issuer.to_string()).map_err(|e| AccountError::BadUrl {
            input: issuer.into(),
            reason: e.to_string(),
        })?;
        let metadata = CoreProviderMetadata::discover_async(issuer_url.clone(), http)
            .await
            .map_err(|e| match e {
                openidconnect::DiscoveryError::Request(e) => AccountError::unreachable(
                    format!("identity provider {issuer}"),
                    error_chain(&e),
                ),
                other => AccountError::Provider(format!(
                    "discovery at {issuer}: {}",
                    error_chain(&other)
                )),
            })?;
        // The two optional endpoints, from the same document (a second small request).
        let doc = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let extra = match http.get(&doc).send().await {
            Ok(r) => r.json::<ExtraMetadata>().await.unwrap_or_default(),
            Err(_) => ExtraMetadata::default(),
        };
        Ok(OidcClient {
            http: http.clone(),
            issuer: issuer_url,
            client_id: ClientId::new(client_id.to_string()),
            scopes: vec![
                "openid".into(),
                "profile".into(),
                "email".into(),
                "offline_access".into(),
            ],
            metadata,
            extra,
        })
    }

    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    fn client(&self) -> Client {
        CoreClient::from_provider_metadata(self.metadata.clone(), self.client_id.clone(), None)
    }

    /// Starts a login: binds the loopback listener on a free port and builds the authorization
    /// URL with fresh `state`, `nonce` and PKCE challenge.
    pub async fn begin(&self) -> Result<PendingLogin> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
            AccountError::Invalid(format!("cannot open the login callback port: {e}"))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| AccountError::Invalid(e.to_string()))?
            .port();
        let redirect = format!("http://127.0.0.1:{port}/callback");
        let redirect_url =
            RedirectUrl::new(redirect.clone()).map_err(|e| AccountError::Invalid(e.to_string()))?;
        let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client().set_redirect_uri(redirect_url);
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in &self.scopes {
            request = request.add_scope(Scope::new(s.clone()));
        }
        // offline_access needs consent by the spec; providers then show their consent screen.
        let (url, state, nonce) = request
            .add_prompt(openidconnect::core::CoreAuthPrompt::Consent)
            .url();
        Ok(PendingLogin {
            authorize_url: url,
            redirect_uri: Url::parse(&redirect)
                .map_err(|e| AccountError::Invalid(e.to_string()))?,
            listener,
            state,
            nonce,
            pkce_verifier,
        })
    }

    /// Waits for the browser to come back to the loopback redirect, checks `state`, exchanges
    /// the code with the PKCE verifier and verifies the ID token (signature, issuer, audience,
    /// expiry, nonce).
    pub async fn finish(&self, pending: PendingLogin, timeout: Duration) -> Result<Tokens> {
        let PendingLogin {
            redirect_uri,
            listener,
            state,
            nonce,
            pkce_verifier,
            ..
        } = pending;
        let params = tokio::time::timeout(timeout, wait_for_callback(&listener, state.secret()))
            .await
            .map_err(|_| AccountError::LoginTimeout)??;
        drop(listener);
        let redirect_url = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| AccountError::Invalid(e.to_string()))?;
        let client = self.client().set_redirect_uri(redirect_url);
        let response = client
            .exchange_code(AuthorizationCode::new(params))
            .map_err(|e| AccountError::Provider(e.to_string()))?
            .set_pkce_verifier(pkce_verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| token_error(self.issuer(), e))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| AccountError::BadToken("the provider sent no ID token".into()))?;
        let identity = self.verify(id_token, Some(&nonce))?;
        Ok(Tokens {
            access_token: SecretString::from(response.access_token().secret().clone()),
            refresh_token: response
                .refresh_token()
                .map(|t| SecretString::from(t.secret().clone())),
            id_token: Some(SecretString::from(id_token.to_string())),
            expires_at: response.expires_in().map(|d| SystemTime::now() + d),
            identity: Some(identity),
        })
    }

    /// Verifies a raw ID token against this provider (signature, issuer, audience, expiry) and,
    /// when given, the login's nonce.
    pub fn verify_id_token(&self, raw: &str, nonce: Option<&str>) -> Result<Identity> {
        let token: CoreIdToken = raw
            .parse()
            .map_err(|e| AccountError::BadToken(format!("not a JWT: {e}")))?;
        let nonce = nonce.map(|n| Nonce::new(n.to_string()));
        self.verify(&token, nonce.as_ref())
    }

    fn verify(&self, token: &CoreIdToken, nonce: Option<&Nonce>) -> Result<Identity> {
        let client = self.client();
        let verifier = client.id_token_verifier();
        let result = match nonce {
            Some(n) => token.claims(&verifier, n),
            // Refreshed ID tokens carry no nonce (OIDC Core 12.2).
            None => token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
        };
        let claims = result.map_err(|e| match e {
            openidconnect::ClaimsVerificationError::InvalidNonce(_) => AccountError::WrongNonce,
            other => AccountError::BadToken(error_chain(&other)),
        })?;
        Ok(Identity {
            sub: claims.subject().to_string(),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.to_string()),
            email: claims.email().map(|e| e.to_string()),
            issuer: claims.issuer().to_string(),
        })
    }

    /// Exchanges a refresh token for fresh tokens. The provider may rotate the refresh token:
    /// store [`Tokens::refresh_token`] when present.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<Tokens> {
        let client = self.client();
        let rt = RefreshToken::new(refresh_token.expose_secret().to_string());
        let response = client
            .exchange_refresh_token(&rt)
            .map_err(|e| AccountError::Provider(e.to_string()))?
            .request_async(&self.http)
            .await
            .map_err(|e| token_error(self.issuer(), e))?;
        let identity = match response.id_token() {
            Some(t) => Some(self.verify(t, None)?),
            None => None,
        };
        Ok(Tokens {
            access_token: SecretString::from(response.access_token().secret().clone()),
            refresh_token: response
                .refresh_token()
                .map(|t| SecretString::from(t.secret().clone())),
            id_token: response
                .id_token()
                .map(|t| SecretString::from(t.to_string())),
            expires_at: response.expires_in().map(|d| SystemTime::now() + d),
            identity,
        })
    }

    /// Revokes a refresh token (RFC 7009). `Ok(false)`: the provider has no revocation endpoint.
    /// Posted directly (the `oauth2` helper insists on HTTPS even for a loopback provider);
    /// plain HTTP is accepted only for loopback endpoints.
    pub async fn revoke(&self, refresh_token: &SecretString) -> Result<bool> {
        let Some(endpoint) = &self.extra.revocation_endpoint else {
            return Ok(false);
        };
        let url = Url::parse(endpoint)
            .map_err(|e| AccountError::Provider(format!("revocation endpoint: {e}")))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !loopback {
            return Err(AccountError::Provider(
                "the revocation endpoint is not HTTPS".into(),
            ));
        }
        let resp = self
            .http
            .post(url)
            .form(&[
                ("token", refresh_token.expose_secret()),
                ("token_type_hint", "refresh_token"),
                ("client_id", self.client_id.as_str()),
            ])
            .send()
            .await
            .map_err(|e| AccountError::unreachable(self.issuer(), error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(AccountError::Provider(format!(
                "revocation answered HTTP {}",
                resp.status()
            )));
        }
        Ok(true)
    }

    /// The provider's end-session URL (RP-initiated logout) for the browser, identified by
    /// `client_id` so no token rides in the URL. `None` when the provider has none.
    pub fn end_session_url(&self) -> Option<Url> {
        let mut url = Url::parse(self.extra.end_session_endpoint.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("client_id", self.client_id.as_str());
        Some(url)
    }
}

fn token_error<RE: std::error::Error + 'static>(
    issuer: &str,
    e: RequestTokenError<
        RE,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> AccountError {
    match e {
        RequestTokenError::Request(e) => {
            AccountError::unreachable(format!("identity provider {issuer}"), error_chain(&e))
        }
        RequestTokenError::ServerResponse(r) => match r.error() {
            openidconnect::core::CoreErrorResponseType::InvalidGrant => {
                AccountError::SessionExpired
            }
            other => AccountError::Provider(format!(
                "{}{}",
                other.as_ref(),
                r.error_description()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )),
        },
        other => AccountError::Provider(error_chain(&other)),
    }
}

/// The error and its sources on one line ("error sending request: connection refused").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

const PAGE_OK: &str = "<!doctype html><meta charset=utf-8><title>Visio</title><h1>Signed in</h1><p>You can close this window and return to Visio.</p>";
const PAGE_FAIL: &str = "<!doctype html><meta charset=utf-8><title>Visio</title><h1>Sign-in failed</h1><p>Return to Visio for details.</p>";

/// Serves the loopback redirect until a `/callback` request arrives; returns its `code` once
/// `state` matched. Other paths (a browser's favicon request) get 404 and the wait goes on.
async fn wait_for_callback(listener: &TcpListener, expected_state: &str) -> Result<String> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|e| AccountError::Invalid(format!("login callback: {e}")))?;
        let mut buf = Vec::with_capacity(2048);
        let mut chunk = [0u8; 2048];
        // Request head only; capped so a stray client cannot make us buffer without end.
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
        if !matches!(read, Ok(Ok(()))) {
            continue;
        }
        let head = String::from_utf8_lossy(&buf);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        let Ok(url) = Url::parse(&format!("http://127.0.0.1{target}")) else {
            respond(&mut stream, 400, PAGE_FAIL).await;
            continue;
        };
        if url.path() != "/callback" {
            respond(&mut stream, 404, "not found").await;
            continue;
        }
        let param = |k: &str| {
            url.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(err) = param("error") {
            respond(&mut stream, 200, PAGE_FAIL).await;
            let desc = param("error_description")
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            return Err(AccountError::Provider(format!("{err}{desc}")));
        }
        // Constant-time enough for a 22-byte random value compared once per login.
        if param("state").as_deref() != Some(expected_state) {
            respond(&mut stream, 200, PAGE_FAIL).await;
            return Err(AccountError::WrongState);
        }
        let Some(code) = param("code") else {
            respond(&mut stream, 200, PAGE_FAIL).await;
            return Err(AccountError::Provider(
                "the answer has no authorization code".into(),
            ));
        };
        respond(&mut stream, 200, PAGE_OK).await;
        return Ok(code);
    }
}

async fn respond(stream: &mut tokio::net::TcpStream, status: u16, body: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(msg.as_bytes()).await;
    let _ = stream.shutdown().await;
}
