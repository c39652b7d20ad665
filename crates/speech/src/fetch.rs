//! A model from a URL IT provides (or the policy's `speech_model_url`): `visio models install
//! --from-url`, and the app's Speech settings. Only on the user's or IT's request, never on its
//! own. (Feature `fetch`.)
//!
//! The SHA-256 is required: it is what makes a model from the network trustworthy. TLS is
//! verified (rustls, the system and public roots, plus the policy's and `--ca-file` CAs);
//! plain `http` is accepted only on loopback (a local mirror, tests). The body is streamed
//! into a hidden file in the models directory, counted against a size limit and hashed on
//! the way; only when the hash matches is it handed to [`ModelStore::install`], which renames
//! it into place. A partial, oversized or wrong download is removed, never left as a model.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::models::{ModelError, ModelInfo, ModelStore};

/// Why no model was installed; nothing is left behind in any case.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request itself is not acceptable (bad checksum text, URL, scheme, CA, proxy).
    #[error("{0}")]
    Refused(String),
    /// The server could not be reached, or the transfer broke.
    #[error("{0}")]
    Unreachable(String),
    /// The server answered, but not with the announced model (HTTP error, too large,
    /// checksum mismatch).
    #[error("{0}")]
    BadModel(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Install(#[from] ModelError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What to fetch and under which limits.
pub struct FetchModel {
    pub url: String,
    pub sha256: String,
    pub name: String,
    pub max_bytes: u64,
    /// PEM texts of extra certificate authorities.
    pub extra_ca_pem: Vec<String>,
    pub proxy: Option<String>,
    /// How the installed model's weights are stored (see [`crate::models::Weights`]).
    pub weights: crate::models::Weights,
}

/// Removes the download file however the fetch ends.
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Downloads, checks and installs the model; see the module doc.
pub async fn install_from_url(
    store: &ModelStore,
    dir: &Path,
    f: &FetchModel,
) -> Result<ModelInfo, FetchError> {
    let expected = f.sha256.trim().to_ascii_lowercase();
    if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FetchError::Refused(
            "the SHA-256 must be 64 hexadecimal digits (the model's checksum as IT announces it)"
                .into(),
        ));
    }
    let url = reqwest::Url::parse(&f.url)
        .map_err(|_| FetchError::Refused(format!("{:?} is not a URL", f.url)))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(FetchError::Refused(format!(
                "{url}: plain http is refused for models except on loopback; use https"
            )))
        }
        s => {
            return Err(FetchError::Refused(format!(
                "{url}: unsupported scheme {s:?} (https only)"
            )))
        }
    }
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::limited(5));
    for pem in &f.extra_ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| FetchError::Refused(format!("a CA certificate is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(FetchError::Refused(
                "a CA file holds no PEM certificate".into(),
            ));
        }
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    if let Some(p) = &f.proxy {
        let proxy =
            reqwest::Proxy::all(p).map_err(|e| FetchError::Refused(format!("proxy {p:?}: {e}")))?;
        builder = builder.proxy(proxy);
    }
    let client = builder
        .build()
        .map_err(|e| FetchError::Refused(format!("setting up the HTTP client: {e}")))?;
    let mut resp = client.get(url.clone()).send().await.map_err(|e| {
        // reqwest's top-level message hides the cause (refused, TLS, DNS): give the chain.
        let mut msg = format!("cannot reach {url}");
        let mut src: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        FetchError::Unreachable(msg)
    })?;
    if !resp.status().is_success() {
        return Err(FetchError::BadModel(format!(
            "{url} answered HTTP {}: no model installed",
            resp.status()
        )));
    }
    let limit_mb = f.max_bytes / 1_000_000;
    if let Some(len) = resp.content_length().filter(|&l| l > f.max_bytes) {
        return Err(FetchError::BadModel(format!(
            "{url} is {} MB, over the {limit_mb} MB limit: not downloaded",
            len / 1_000_000
        )));
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let partial = Partial(dir.join(format!(".{}.download", f.name)));
    let mut file = std::fs::File::create(&partial.0).map_err(io(&partial.0))?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    loop {
        let chunk = resp.chunk().await.map_err(|e| {
            FetchError::Unreachable(format!("downloading {url} (after {size} bytes): {e}"))
        })?;
        let Some(chunk) = chunk else { break };
        size += chunk.len() as u64;
        if size > f.max_bytes {
            return Err(FetchError::BadModel(format!(
                "{url} sent more than the {limit_mb} MB limit: download stopped"
            )));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).map_err(io(&partial.0))?;
    }
    file.sync_all().map_err(io(&partial.0))?;
    drop(file);
    let found: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if found != expected {
        return Err(FetchError::BadModel(format!(
            "{url}: SHA-256 mismatch, expected {expected}, got {found} ({size} bytes): \
             the file is damaged or not the one announced; nothing installed"
        )));
    }
    Ok(store.install_as(&partial.0, &f.name, Some(&expected), f.weights)?)
}
