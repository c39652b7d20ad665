//! Server settings: where to listen, which addresses to announce, and the API keys.
//!
//! `--dev` mirrors `livekit-server --dev` (127.0.0.1:7880, key `devkey`, secret `secret`).
//! Otherwise keys come from the environment (`LIVEKIT_KEYS="key: secret"` or
//! `LIVEKIT_API_KEY`/`LIVEKIT_API_SECRET`) or from a keys file; when none exist, a key and
//! secret are generated on first run and written with 0600 permissions.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::auth::KeyRing;

/// LiveKit's default single UDP port for WebRTC (`rtc.udp_port`).
pub const DEFAULT_UDP_PORT: u16 = 7882;
/// LiveKit's default signalling port.
pub const DEFAULT_HTTP_PORT: u16 = 7880;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// HTTP/WebSocket address (signalling and the Visio REST API).
    pub bind: SocketAddr,
    /// UDP port for all peer connections; 0 picks a free one (tests).
    pub udp_port: u16,
    /// Addresses to bind the UDP port on and to announce as ICE host candidates.
    /// Empty: loopback only when `bind` is loopback, otherwise every interface address.
    pub rtc_ips: Vec<IpAddr>,
    /// Announce this address as the media candidate instead of the UDP socket's own: a relay,
    /// port mapping or loss simulator (the `netem` crate) in front of the port. Only with a
    /// single media address.
    pub announced_udp: Option<SocketAddr>,
    pub keys: KeyRing,
    /// How long an empty room is kept (LiveKit: `empty_timeout`, 5 minutes).
    pub empty_timeout: Duration,
    /// How long a room is kept after its last participant left (`departure_timeout`, 20 s).
    pub departure_timeout: Duration,
    /// URL that clients should use to reach this server, as given in the Visio API's
    /// `livekit.url`; derived from `bind` when empty.
    pub public_url: String,
}

impl ServerConfig {
    /// The configuration of `livekit-server --dev`.
    pub fn dev() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_HTTP_PORT),
            udp_port: DEFAULT_UDP_PORT,
            rtc_ips: vec![],
            announced_udp: None,
            keys: KeyRing::single("devkey", "secret"),
            empty_timeout: Duration::from_secs(300),
            departure_timeout: Duration::from_secs(20),
            public_url: String::new(),
        }
    }

    /// A configuration for tests: ephemeral ports on loopback, dev keys.
    pub fn ephemeral() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            udp_port: 0,
            ..Self::dev()
        }
    }

    /// The addresses whose UDP port carries media.
    pub fn media_ips(&self) -> Vec<IpAddr> {
        if !self.rtc_ips.is_empty() {
            return self.rtc_ips.clone();
        }
        if self.bind.ip().is_loopback() {
            return vec![self.bind.ip()];
        }
        let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
            .map(|ifs| {
                ifs.into_iter()
                    .map(|i| i.ip())
                    .filter(|ip| ip.is_ipv4())
                    .collect()
            })
            .unwrap_or_default();
        if ips.is_empty() {
            ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        ips.sort();
        ips.dedup();
        ips
    }
}

/// Reads keys from the environment, then from `path`; generates and stores a pair in `path`
/// when neither has any.
pub fn load_or_create_keys(path: &Path) -> anyhow::Result<KeyRing> {
    if let Some(keys) = keys_from_env() {
        return Ok(KeyRing::new(keys));
    }
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the keys file {}", path.display()))?;
        let keys = parse_keys_file(&text)
            .with_context(|| format!("parsing the keys file {}", path.display()))?;
        return Ok(KeyRing::new(keys));
    }
    let key = format!("API{}", crate::ids::secret(12));
    let secret = crate::ids::secret(43);
    write_private(path, &format!("[keys]\n{key} = \"{secret}\"\n"))?;
    tracing::info!(path = %path.display(), key = %key, "generated an API key and secret");
    Ok(KeyRing::single(&key, &secret))
}

/// The default keys file: `$XDG_CONFIG_HOME/visio/server-keys.toml` or next to the binary.
pub fn default_keys_path(config_dir: Option<PathBuf>) -> PathBuf {
    config_dir
        .unwrap_or_else(|| PathBuf::from("."))
        .join("visio")
        .join("server-keys.toml")
}

fn keys_from_env() -> Option<HashMap<String, String>> {
    if let Ok(list) = std::env::var("LIVEKIT_KEYS") {
        // LiveKit's format: "key1: secret1, key2: secret2" (also accepts newlines).
        let keys: HashMap<_, _> = list
            .split([',', '\n'])
            .filter_map(|pair| {
                let (k, s) = pair.split_once(':')?;
                Some((k.trim().to_owned(), s.trim().to_owned()))
            })
            .filter(|(k, s)| !k.is_empty() && !s.is_empty())
            .collect();
        if !keys.is_empty() {
            return Some(keys);
        }
    }
    match (
        std::env::var("LIVEKIT_API_KEY"),
        std::env::var("LIVEKIT_API_SECRET"),
    ) {
        (Ok(k), Ok(s)) if !k.is_empty() && !s.is_empty() => Some(HashMap::from([(k, s)])),
        _ => None,
    }
}

fn parse_keys_file(text: &str) -> anyhow::Result<HashMap<String, String>> {
    #[derive(serde::Deserialize)]
    struct File {
        keys: HashMap<String, String>,
    }
    let file: File = toml::from_str(text)?;
    if file.keys.is_empty() {
        bail!("the [keys] table is empty");
    }
    Ok(file.keys)
}

/// Creates `path` readable by its owner only (0600), then writes `text`.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_private_and_reloaded() {
        let dir = std::env::temp_dir().join(format!("visio-keys-{}", crate::ids::secret(8)));
        let path = dir.join("keys.toml");
        // Environment keys would take precedence; this test relies on none being set.
        if keys_from_env().is_some() {
            return;
        }
        let first = load_or_create_keys(&path).expect("created");
        let second = load_or_create_keys(&path).expect("reloaded");
        assert_eq!(first.any(), second.any());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn bad_keys_file_is_a_clear_error() {
        let err = parse_keys_file("keys = 3").unwrap_err();
        assert!(!err.to_string().is_empty());
        assert!(parse_keys_file("[keys]\n").is_err());
    }
}
