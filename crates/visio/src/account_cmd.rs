//! `visio login/logout/pin/unlock/whoami/policy`: the accounts and IT policy crates driven
//! from a terminal, so tests (and admins) can run every flow without the app. Secrets (PIN,
//! API secret, session cookie) are read from standard input, never from arguments.

use std::io::BufRead;
use std::time::Duration;

use accounts::{AccountError, Accounts};
use anyhow::Context;
use clap::{Args, Parser};
use secrecy::SecretString;
use zeroize::Zeroize;

#[derive(Parser)]
pub struct LoginArgs {
    /// The server: a Visio server (`https://visio.example`), a LiveKit server, or the local one.
    server: String,
    /// OIDC issuer of the Visio server's identity provider (native login with PKCE).
    #[arg(long, requires = "client_id")]
    issuer: Option<String>,
    /// This app's OIDC client id at that provider.
    #[arg(long)]
    client_id: Option<String>,
    /// A plain LiveKit server: the API secret is read from stdin.
    #[arg(long, requires = "api_key", conflicts_with_all = ["issuer", "session_cookie", "local"])]
    livekit: bool,
    #[arg(long)]
    api_key: Option<String>,
    /// Today's Visio: the `sessionid` cookie from a browser login, read from stdin.
    #[arg(long, conflicts_with_all = ["issuer", "local"])]
    session_cookie: bool,
    /// The local/LAN room server (no login).
    #[arg(long, conflicts_with = "issuer")]
    local: bool,
    /// How long to wait for the browser, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

#[derive(Args)]
pub struct ServerArg {
    /// The profile's server; default: the current profile.
    server: Option<String>,
}

fn account_err(e: AccountError) -> anyhow::Error {
    anyhow::anyhow!("{e} [{}]", e.code())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn open_accounts() -> anyhow::Result<(Accounts, policy::Loaded)> {
    let loaded = policy::load();
    for e in &loaded.errors {
        eprintln!("visio: warning: {e}");
    }
    let accounts = Accounts::from_policy(loaded.policy.clone()).map_err(account_err)?;
    Ok((accounts, loaded))
}

/// One line from stdin as a secret; the buffer is wiped.
fn read_secret(what: &str) -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from standard input"))?;
    let value = line.trim_end_matches(['\r', '\n']).to_string();
    line.zeroize();
    if value.is_empty() {
        anyhow::bail!("no {what} on standard input");
    }
    Ok(SecretString::from(value))
}

/// Opens the system browser: `$VISIO_BROWSER URL` when set (tests, kiosks), else the desktop's.
fn open_browser(url: &str) -> anyhow::Result<()> {
    match std::env::var_os("VISIO_BROWSER") {
        Some(cmd) => {
            std::process::Command::new(cmd)
                .arg(url)
                .stdin(std::process::Stdio::null())
                .spawn()
                .context("starting $VISIO_BROWSER")?;
        }
        None => webbrowser::open(url).context("opening the system browser")?,
    }
    Ok(())
}

pub fn login(args: LoginArgs) -> anyhow::Result<()> {
    let (accounts, loaded) = open_accounts()?;
    let rt = runtime()?;
    rt.block_on(async move {
        if args.livekit {
            let key = args.api_key.as_deref().unwrap_or_default();
            let secret = read_secret("API secret")?;
            let p = accounts.add_livekit(&args.server, key, secret).await.map_err(account_err)?;
            println!("LiveKit server {} added (API key {key}; the secret is in the keychain)", p.server);
        } else if args.session_cookie {
            let cookie = read_secret("session cookie")?;
            let id = accounts.login_session_cookie(&args.server, cookie).await.map_err(account_err)?;
            println!("signed in to {} as {}", accounts::normalize_server(&args.server).map_err(account_err)?, id.sub);
        } else if args.local {
            let p = accounts
                .add_local(&args.server, loaded.effective.settings.local_server)
                .map_err(account_err)?;
            println!("local room server {} added", p.server);
        } else {
            let (Some(issuer), Some(client_id)) = (&args.issuer, &args.client_id) else {
                anyhow::bail!("say how to sign in: --issuer URL --client-id ID, --session-cookie, --livekit or --local");
            };
            let login = accounts.begin_oidc_login(&args.server, issuer, client_id).await.map_err(account_err)?;
            eprintln!("Opening the browser to sign in (if nothing opens, visit this address):\n  {}", login.authorize_url());
            open_browser(login.authorize_url().as_str())?;
            let id = accounts
                .finish_oidc_login(login, Duration::from_secs(args.timeout))
                .await
                .map_err(account_err)?;
            println!(
                "signed in as {} ({})",
                id.name.as_deref().unwrap_or(&id.sub),
                id.email.as_deref().unwrap_or("no email")
            );
        }
        anyhow::Ok(())
    })
}

pub fn logout(args: ServerArg) -> anyhow::Result<()> {
    let (accounts, _) = open_accounts()?;
    let out = runtime()?
        .block_on(accounts.logout(args.server.as_deref()))
        .map_err(account_err)?;
    println!("signed out; refresh token revoked: {}", out.revoked);
    if let Some(note) = out.note {
        println!("note: {note}");
    }
    if let Some(url) = out.end_session_url {
        println!("to end the identity provider's browser session too, open: {url}");
    }
    Ok(())
}

pub fn set_pin(args: ServerArg) -> anyhow::Result<()> {
    let (accounts, _) = open_accounts()?;
    let pin = read_secret("PIN")?;
    runtime()?
        .block_on(accounts.set_pin(args.server.as_deref(), pin))
        .map_err(account_err)?;
    println!("offline PIN set");
    Ok(())
}

pub fn unlock(args: ServerArg) -> anyhow::Result<()> {
    let (accounts, _) = open_accounts()?;
    let pin = read_secret("PIN")?;
    let id = runtime()?
        .block_on(accounts.unlock(args.server.as_deref(), pin))
        .map_err(account_err)?;
    println!("unlocked offline as {}", id.sub);
    Ok(())
}

/// Prints who is signed in; refreshes the session online, or says it is offline.
pub fn whoami(args: ServerArg) -> anyhow::Result<()> {
    let (accounts, _) = open_accounts()?;
    let profile = accounts
        .profile(args.server.as_deref())
        .map_err(account_err)?;
    let rt = runtime()?;
    let (session, identity, reason) = match rt.block_on(accounts.refresh(Some(&profile.server))) {
        Ok(s) => ("online", s.identity, None),
        Err(e) if e.is_offline() => ("offline", profile.identity.clone(), Some(e.to_string())),
        Err(e) => return Err(account_err(e)),
    };
    let out = serde_json::json!({
        "server": profile.server,
        "kind": profile.kind,
        "login": profile.login,
        "identity": identity,
        "session": session,
        "reason": reason,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Prints the effective settings (policy over user settings) and what is locked.
pub fn policy() -> anyhow::Result<()> {
    let loaded = policy::load();
    for e in &loaded.errors {
        eprintln!("visio: warning: {e}");
    }
    let mut out = serde_json::to_value(&loaded.effective)?;
    out["proxy"] = serde_json::json!(loaded.policy.proxy);
    out["caCertificates"] = serde_json::json!(loaded.policy.ca_certificates);
    out["errors"] = serde_json::json!(loaded
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>());
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
