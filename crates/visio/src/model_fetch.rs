//! `visio models install --from-url URL --sha256 HEX`: a model from a URL IT provides (or the
//! policy's `speech_model_url`). Only on the user's or IT's request, never on its own.
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

use anyhow::{anyhow, bail, Context};
use sha2::{Digest, Sha256};
use speech::models::{ModelInfo, ModelStore};

/// What to fetch and under which limits.
pub struct FetchModel {
    pub url: String,
    pub sha256: String,
    pub name: String,
    pub max_bytes: u64,
    /// PEM texts of extra certificate authorities.
    pub extra_ca_pem: Vec<String>,
    pub proxy: Option<String>,
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
) -> anyhow::Result<ModelInfo> {
    let expected = f.sha256.trim().to_ascii_lowercase();
    if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--sha256 must be 64 hexadecimal digits (the model's SHA-256 as IT announces it)");
    }
    let url = reqwest::Url::parse(&f.url).with_context(|| format!("{:?} is not a URL", f.url))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => bail!("{url}: plain http is refused for models except on loopback; use https"),
        s => bail!("{url}: unsupported scheme {s:?} (https only)"),
    }
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::limited(5));
    for pem in &f.extra_ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| anyhow!("a CA certificate is not valid PEM: {e}"))?;
        if certs.is_empty() {
            bail!("a CA file holds no PEM certificate");
        }
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    if let Some(p) = &f.proxy {
        builder = builder.proxy(reqwest::Proxy::all(p).with_context(|| format!("proxy {p:?}"))?);
    }
    let client = builder.build().context("setting up the HTTP client")?;
    let mut resp = client.get(url.clone()).send().await.map_err(|e| {
        // reqwest's top-level message hides the cause (refused, TLS, DNS): give the chain.
        let mut msg = format!("cannot reach {url}");
        let mut src: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        anyhow!(msg)
    })?;
    if !resp.status().is_success() {
        bail!("{url} answered HTTP {}: no model installed", resp.status());
    }
    let limit_mb = f.max_bytes / 1_000_000;
    if let Some(len) = resp.content_length().filter(|&l| l > f.max_bytes) {
        bail!(
            "{url} is {} MB, over the {limit_mb} MB limit (--max-size-mb): not downloaded",
            len / 1_000_000
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let partial = Partial(dir.join(format!(".{}.download", f.name)));
    let mut file = std::fs::File::create(&partial.0)
        .with_context(|| format!("creating {}", partial.0.display()))?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    loop {
        let chunk = resp
            .chunk()
            .await
            .with_context(|| format!("downloading {url} (after {size} bytes)"))?;
        let Some(chunk) = chunk else { break };
        size += chunk.len() as u64;
        if size > f.max_bytes {
            bail!("{url} sent more than the {limit_mb} MB limit (--max-size-mb): download stopped");
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .with_context(|| format!("writing {}", partial.0.display()))?;
    }
    file.sync_all()
        .with_context(|| format!("writing {}", partial.0.display()))?;
    drop(file);
    let found: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if found != expected {
        bail!(
            "{url}: SHA-256 mismatch, expected {expected}, got {found} ({size} bytes): \
             the file is damaged or not the one announced; nothing installed"
        );
    }
    Ok(store.install(&partial.0, &f.name, Some(&expected))?)
}
