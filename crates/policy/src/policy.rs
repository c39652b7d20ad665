//! IT policy and user settings for Visio Desktop.
//!
//! An IT department presets and locks the app with a system-wide policy; the user's own choices
//! live in the platform config directory. [`load`] reads both and merges them: **policy always
//! wins**, and every setting the policy fixed is named in [`EffectiveSettings::locked`] so the UI
//! can show it greyed out (the app's `get_settings` returns these names as `locked: string[]`).
//!
//! Where the policy comes from (chosen at compile time):
//! - Linux and other Unix: the TOML file `/etc/visio/policy.toml`, or the file named by the
//!   `VISIO_POLICY_FILE` environment variable (tests, staging).
//! - Windows (`cfg(windows)`): registry key `HKLM\SOFTWARE\Policies\Visio` (Group Policy's
//!   place), values named like the TOML keys; `locked` is a subkey. `VISIO_POLICY_FILE` still
//!   wins when set.
//! - macOS (`cfg(target_os = "macos")`): managed preferences pushed by an MDM profile, read from
//!   `/Library/Managed Preferences/fr.gouv.visio.plist` (the same keys as the TOML file, as a
//!   plist dictionary, converted with `plutil`). `VISIO_POLICY_FILE` still wins when set.
//!
//! Keys (all optional; the README's "IT policy" section is the reference for administrators):
//! `default_server`, `allowed_servers`, `proxy`, `ca_certificates`, `speech_model_url`, and a
//! `[locked]` table of forced settings (`captions`, `lowBandwidth`, `language`, `localServer`,
//! `displayName`, `onDeviceCaptions`, `publishMyCaptions`, `saveTranscripts`).
//!
//! A malformed policy never stops the app: [`load`] returns the built-in defaults together with
//! a [`PolicyError`] naming the file and line, which the app shows (and logs) so IT can fix it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Environment variable naming a policy file to use instead of the platform's.
pub const POLICY_FILE_ENV: &str = "VISIO_POLICY_FILE";

/// The system-wide policy file on Linux.
pub const LINUX_POLICY_FILE: &str = "/etc/visio/policy.toml";

/// Why the policy or the settings could not be read. Shown to the user as is.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policy file exists but is not valid: names the file and the line.
    #[error("IT policy {path}:{line}: {message}")]
    Malformed {
        path: String,
        line: usize,
        message: String,
    },
    /// The policy source could not be read at all (permissions, registry access).
    #[error("IT policy {path} cannot be read: {message}")]
    Unreadable { path: String, message: String },
    /// The user's settings file is broken; user defaults are used instead.
    #[error("settings {path}:{line}: {message}")]
    BadSettings {
        path: String,
        line: usize,
        message: String,
    },
    /// Saving the user's settings failed.
    #[error("cannot save settings to {path}: {message}")]
    Save { path: String, message: String },
    /// The user tried to change a setting IT policy locked.
    #[error("the setting {0} is locked by IT policy")]
    Locked(String),
}

/// Bandwidth mode, as the app's bridge spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LowBandwidthMode {
    #[default]
    Off,
    AudioOnly,
    SpeakerOnly,
}

/// UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Fr,
    En,
}

/// Settings IT can force. Field names are the setting names the UI knows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockedSettings {
    pub captions: Option<bool>,
    pub low_bandwidth: Option<LowBandwidthMode>,
    pub language: Option<Language>,
    pub local_server: Option<bool>,
    pub display_name: Option<String>,
    /// Captions computed on this machine (needs an installed model).
    pub on_device_captions: Option<bool>,
    /// Whether users may send their own microphone's captions to the room.
    pub publish_my_captions: Option<bool>,
    /// Whether on-device captions are kept as an encrypted transcript.
    pub save_transcripts: Option<bool>,
}

/// The IT policy as written by the administrator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Server preselected for new users, e.g. `https://visio.numerique.gouv.fr`.
    pub default_server: Option<String>,
    /// When set, only these servers may be used. An entry is an origin (`https://host[:port]`)
    /// or a host pattern with a leading `*.` (`https://*.interieur.gouv.fr`).
    pub allowed_servers: Option<Vec<String>>,
    /// HTTP(S) proxy for every request the app makes (`http://proxy.example:3128`).
    pub proxy: Option<String>,
    /// PEM files of extra CA certificates trusted on top of the system roots.
    #[serde(default)]
    pub ca_certificates: Vec<PathBuf>,
    /// Where the on-device speech model is fetched from (an intranet URL).
    pub speech_model_url: Option<String>,
    /// Settings forced to a value.
    #[serde(default)]
    pub locked: LockedSettings,
}

/// The user's own settings (camelCase JSON in the config directory, as the bridge spells them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub language: Language,
    pub display_name: String,
    pub low_bandwidth: LowBandwidthMode,
    pub captions: bool,
    pub camera_id: Option<String>,
    pub microphone_id: Option<String>,
    pub speaker_id: Option<String>,
    /// Whether the local room server may be started from the app.
    pub local_server: bool,
    /// The server the user last chose; empty means the policy's default.
    pub server: Option<String>,
    /// Captions computed on this machine from each participant's audio.
    pub on_device_captions: bool,
    /// The installed speech model for them; `None`: the best installed.
    pub captions_model: Option<String>,
    /// Send the captions of my own microphone to the room (opt-in).
    pub publish_my_captions: bool,
    /// Keep an encrypted transcript of each meeting's on-device captions.
    pub save_transcripts: bool,
    /// Processor cores on-device captions may use, all participants together; `None`: half
    /// of the machine's (the meeting's video and the UI need the rest).
    pub caption_threads: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            language: Language::Fr,
            display_name: String::new(),
            low_bandwidth: LowBandwidthMode::Off,
            captions: true,
            camera_id: None,
            microphone_id: None,
            speaker_id: None,
            local_server: true,
            server: None,
            on_device_captions: false,
            captions_model: None,
            publish_my_captions: false,
            save_transcripts: true,
            caption_threads: None,
        }
    }
}

/// What the app uses: user settings with the policy applied, plus what is locked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveSettings {
    #[serde(flatten)]
    pub settings: Settings,
    /// Names of settings the policy fixed (e.g. `captions`, `server`).
    pub locked: Vec<String>,
    /// The network side of the policy, for HTTP clients.
    #[serde(skip)]
    pub network: NetworkPolicy,
    /// The speech model URL, when IT set one.
    pub speech_model_url: Option<String>,
    /// Servers allowed by policy (`None`: any).
    pub allowed_servers: Option<Vec<String>>,
}

/// Reads and writes like the settings it carries, so code that used plain settings (the app's
/// client reads `low_bandwidth`, fills in `display_name`) keeps working on the effective ones.
impl std::ops::Deref for EffectiveSettings {
    type Target = Settings;
    fn deref(&self) -> &Settings {
        &self.settings
    }
}

impl std::ops::DerefMut for EffectiveSettings {
    fn deref_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }
}

/// Proxy and CA certificates every HTTP client of the app must use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkPolicy {
    pub proxy: Option<String>,
    pub ca_certificates: Vec<PathBuf>,
}

/// The result of [`load`]: always usable settings, and the problems met on the way.
#[derive(Debug)]
pub struct Loaded {
    pub policy: Policy,
    pub effective: EffectiveSettings,
    /// Problems with the policy or settings files; the app shows them and keeps running.
    pub errors: Vec<PolicyError>,
}

/// Where the user's settings live: `<config dir>/visio/settings.json`.
pub fn user_settings_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("visio").join("settings.json"))
}

/// Reads the policy and the user's settings and merges them. Never fails: problems are in
/// [`Loaded::errors`] and the safe defaults are used for what could not be read.
pub fn load() -> Loaded {
    let mut errors = Vec::new();
    let policy = match read_platform_policy() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("{e}");
            errors.push(e);
            Policy::default()
        }
    };
    let settings = match user_settings_path() {
        Some(path) => match read_settings(&path) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("{e}");
                errors.push(e);
                Settings::default()
            }
        },
        None => Settings::default(),
    };
    let effective = merge(&policy, settings);
    Loaded {
        policy,
        effective,
        errors,
    }
}

/// Reads the policy from the platform's source (see the crate doc). No policy: empty policy.
pub fn read_platform_policy() -> Result<Policy, PolicyError> {
    if let Some(path) = std::env::var_os(POLICY_FILE_ENV) {
        return read_policy_file(Path::new(&path));
    }
    platform::read()
}

/// Parses a TOML policy file. A missing file is an empty policy.
pub fn read_policy_file(path: &Path) -> Result<Policy, PolicyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Policy::default()),
        Err(e) => {
            return Err(PolicyError::Unreadable {
                path: path.display().to_string(),
                message: e.to_string(),
            })
        }
    };
    parse_policy(&text, &path.display().to_string())
}

/// Parses policy TOML; `origin` names the source in errors.
pub fn parse_policy(text: &str, origin: &str) -> Result<Policy, PolicyError> {
    let policy: Policy = toml::from_str(text).map_err(|e| PolicyError::Malformed {
        path: origin.to_string(),
        line: line_of(text, e.span().map(|s| s.start)),
        message: e.message().to_string(),
    })?;
    validate(&policy).map_err(|(key, message)| PolicyError::Malformed {
        path: origin.to_string(),
        line: line_of(text, text.find(&key)),
        message,
    })?;
    Ok(policy)
}

/// Values TOML accepts but the app cannot use: caught here so IT sees them at once.
fn validate(p: &Policy) -> Result<(), (String, String)> {
    let url_ok = |s: &str| url::Url::parse(s).is_ok_and(|u| u.has_host());
    if let Some(s) = &p.default_server {
        if !url_ok(s) {
            return Err((
                "default_server".into(),
                format!("default_server {s:?} is not a URL"),
            ));
        }
    }
    if let Some(s) = &p.proxy {
        if !url_ok(s) {
            return Err(("proxy".into(), format!("proxy {s:?} is not a URL")));
        }
    }
    for s in p.allowed_servers.iter().flatten() {
        if !url_ok(&s.replace("*.", "wildcard.")) {
            return Err((
                "allowed_servers".into(),
                format!("allowed_servers entry {s:?} is not a URL"),
            ));
        }
    }
    Ok(())
}

fn line_of(text: &str, offset: Option<usize>) -> usize {
    match offset {
        Some(o) => text[..o.min(text.len())].matches('\n').count() + 1,
        None => 1,
    }
}

/// Reads the user's settings; a missing file gives the defaults.
pub fn read_settings(path: &Path) -> Result<Settings, PolicyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
        Err(e) => {
            return Err(PolicyError::BadSettings {
                path: path.display().to_string(),
                line: 1,
                message: e.to_string(),
            })
        }
    };
    serde_json::from_str(&text).map_err(|e| PolicyError::BadSettings {
        path: path.display().to_string(),
        line: e.line(),
        message: e.to_string(),
    })
}

/// Saves the user's settings, refusing changes to locked settings.
pub fn save_settings(path: &Path, policy: &Policy, settings: &Settings) -> Result<(), PolicyError> {
    let merged = merge(policy, settings.clone());
    if let Some(name) = merged
        .locked
        .iter()
        .find(|name| differs(settings, &merged.settings, name))
    {
        return Err(PolicyError::Locked(name.clone()));
    }
    let save_err = |e: &dyn std::fmt::Display| PolicyError::Save {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| save_err(&e))?;
    }
    let json = serde_json::to_string_pretty(settings).map_err(|e| save_err(&e))?;
    // Write then rename, so a crash never leaves half a file.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(|e| save_err(&e))?;
    std::fs::rename(&tmp, path).map_err(|e| save_err(&e))
}

fn differs(a: &Settings, b: &Settings, name: &str) -> bool {
    match name {
        "captions" => a.captions != b.captions,
        "lowBandwidth" => a.low_bandwidth != b.low_bandwidth,
        "language" => a.language != b.language,
        "localServer" => a.local_server != b.local_server,
        "displayName" => a.display_name != b.display_name,
        "onDeviceCaptions" => a.on_device_captions != b.on_device_captions,
        "publishMyCaptions" => a.publish_my_captions != b.publish_my_captions,
        "saveTranscripts" => a.save_transcripts != b.save_transcripts,
        // The server is corrected, not refused: a disallowed choice falls back to the default.
        _ => false,
    }
}

/// Applies the policy over the user's settings.
pub fn merge(policy: &Policy, mut settings: Settings) -> EffectiveSettings {
    let mut locked = Vec::new();
    let l = &policy.locked;
    if let Some(v) = l.captions {
        settings.captions = v;
        locked.push("captions".to_string());
    }
    if let Some(v) = l.low_bandwidth {
        settings.low_bandwidth = v;
        locked.push("lowBandwidth".to_string());
    }
    if let Some(v) = l.language {
        settings.language = v;
        locked.push("language".to_string());
    }
    if let Some(v) = l.local_server {
        settings.local_server = v;
        locked.push("localServer".to_string());
    }
    if let Some(v) = &l.display_name {
        settings.display_name = v.clone();
        locked.push("displayName".to_string());
    }
    if let Some(v) = l.on_device_captions {
        settings.on_device_captions = v;
        locked.push("onDeviceCaptions".to_string());
    }
    if let Some(v) = l.publish_my_captions {
        settings.publish_my_captions = v;
        locked.push("publishMyCaptions".to_string());
    }
    if let Some(v) = l.save_transcripts {
        settings.save_transcripts = v;
        locked.push("saveTranscripts".to_string());
    }
    let allowed = |s: &str| server_allowed(policy, s);
    match &settings.server {
        Some(s) if allowed(s) => {}
        _ => settings.server = policy.default_server.clone(),
    }
    // One allowed server means the user has no choice: show it locked.
    if policy
        .allowed_servers
        .as_ref()
        .is_some_and(|a| a.len() == 1)
    {
        locked.push("server".to_string());
    }
    EffectiveSettings {
        settings,
        locked,
        network: NetworkPolicy {
            proxy: policy.proxy.clone(),
            ca_certificates: policy.ca_certificates.clone(),
        },
        speech_model_url: policy.speech_model_url.clone(),
        allowed_servers: policy.allowed_servers.clone(),
    }
}

/// Whether the policy allows a server URL. Compares scheme, host and port; `*.` patterns match
/// any subdomain (not the bare domain). No `allowed_servers`: every server is allowed.
pub fn server_allowed(policy: &Policy, server: &str) -> bool {
    let Some(list) = &policy.allowed_servers else {
        return true;
    };
    let Ok(url) = url::Url::parse(server) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    list.iter().any(|entry| {
        let (wild, entry_url) = match entry.find("*.") {
            Some(_) => (true, entry.replacen("*.", "wildcard.", 1)),
            None => (false, entry.clone()),
        };
        let Ok(e) = url::Url::parse(&entry_url) else {
            return false;
        };
        let Some(ehost) = e.host_str() else {
            return false;
        };
        let host_ok = if wild {
            let suffix = &ehost["wildcard".len()..]; // ".interieur.gouv.fr"
            host.ends_with(suffix) && host.len() > suffix.len()
        } else {
            host.eq_ignore_ascii_case(ehost)
        };
        host_ok
            && e.scheme() == url.scheme()
            && e.port_or_known_default() == url.port_or_known_default()
    })
}

/// A map of the TOML keys to values, as a platform reader assembles it before parsing.
type Values = BTreeMap<String, toml::Value>;

#[cfg(not(any(windows, target_os = "macos")))]
mod platform {
    use super::*;
    pub fn read() -> Result<Policy, PolicyError> {
        read_policy_file(Path::new(LINUX_POLICY_FILE))
    }
    #[allow(dead_code)]
    fn _unused(_: Values) {}
}

#[cfg(target_os = "macos")]
mod platform {
    use super::*;
    /// Managed preferences for the app's domain, as an MDM profile installs them.
    const MANAGED: &str = "/Library/Managed Preferences/fr.gouv.visio.plist";
    pub fn read() -> Result<Policy, PolicyError> {
        let path = Path::new(MANAGED);
        if !path.exists() {
            return Ok(Policy::default());
        }
        // `plutil` ships with macOS; its JSON rendering of the plist maps 1:1 to the TOML keys.
        let out = std::process::Command::new("/usr/bin/plutil")
            .args(["-convert", "json", "-o", "-"])
            .arg(path)
            .output()
            .map_err(|e| PolicyError::Unreadable {
                path: MANAGED.into(),
                message: e.to_string(),
            })?;
        let values: Values =
            serde_json::from_slice(&out.stdout).map_err(|e| PolicyError::Malformed {
                path: MANAGED.into(),
                line: e.line(),
                message: e.to_string(),
            })?;
        from_values(values, MANAGED)
    }
}

#[cfg(windows)]
mod platform {
    use super::*;
    use winreg::enums::HKEY_LOCAL_MACHINE;
    use winreg::RegKey;
    const KEY: &str = r"SOFTWARE\Policies\Visio";

    /// Registry values: REG_SZ for strings, REG_MULTI_SZ for lists, REG_DWORD for booleans;
    /// the `locked` subkey holds the forced settings.
    pub fn read() -> Result<Policy, PolicyError> {
        let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
        let Ok(key) = hklm.open_subkey(KEY) else {
            return Ok(Policy::default());
        };
        let mut values = read_key(&key);
        if let Ok(sub) = key.open_subkey("locked") {
            let locked: toml::Table = read_key(&sub).into_iter().collect();
            values.insert("locked".into(), toml::Value::Table(locked));
        }
        from_values(values, &format!(r"HKLM\{KEY}"))
    }

    fn read_key(key: &RegKey) -> Values {
        let mut out = Values::new();
        for (name, value) in key.enum_values().flatten() {
            let v = match value.vtype {
                winreg::enums::RegType::REG_DWORD => key
                    .get_value::<u32, _>(&name)
                    .map(|n| toml::Value::Boolean(n != 0))
                    .ok(),
                winreg::enums::RegType::REG_MULTI_SZ => key
                    .get_value::<Vec<String>, _>(&name)
                    .map(|l| toml::Value::Array(l.into_iter().map(toml::Value::String).collect()))
                    .ok(),
                _ => key
                    .get_value::<String, _>(&name)
                    .map(toml::Value::String)
                    .ok(),
            };
            if let Some(v) = v {
                out.insert(name, v);
            }
        }
        out
    }
}

/// Builds a policy from key/value pairs read from the registry or a plist.
#[cfg(any(windows, target_os = "macos"))]
fn from_values(values: Values, origin: &str) -> Result<Policy, PolicyError> {
    let table: toml::Table = values.into_iter().collect();
    let text = toml::to_string(&table).map_err(|e| PolicyError::Unreadable {
        path: origin.into(),
        message: e.to_string(),
    })?;
    parse_policy(&text, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
default_server = "https://visio.numerique.gouv.fr"
allowed_servers = ["https://visio.numerique.gouv.fr", "https://*.interieur.gouv.fr"]
proxy = "http://proxy.example:3128"
ca_certificates = ["/etc/visio/ca/root.pem"]
speech_model_url = "https://intranet.example/models/tiny.bin"

[locked]
captions = false
lowBandwidth = "audio-only"
localServer = false
"#;

    #[test]
    fn policy_wins_and_locked_names_are_reported() {
        let policy = parse_policy(SAMPLE, "policy.toml").unwrap();
        let user = Settings {
            captions: true,
            local_server: true,
            language: Language::En,
            server: Some("https://evil.example".into()),
            ..Settings::default()
        };
        let eff = merge(&policy, user);
        assert!(!eff.settings.captions);
        assert!(!eff.settings.local_server);
        assert_eq!(eff.settings.low_bandwidth, LowBandwidthMode::AudioOnly);
        assert_eq!(
            eff.settings.language,
            Language::En,
            "not locked: the user's choice"
        );
        assert_eq!(
            eff.settings.server.as_deref(),
            Some("https://visio.numerique.gouv.fr")
        );
        assert_eq!(eff.locked, vec!["captions", "lowBandwidth", "localServer"]);
        assert_eq!(
            eff.network.proxy.as_deref(),
            Some("http://proxy.example:3128")
        );
        let json = serde_json::to_value(&eff).unwrap();
        assert_eq!(json["lowBandwidth"], "audio-only");
        assert_eq!(json["locked"][0], "captions");
    }

    #[test]
    fn allowed_servers_match_origin_and_wildcards() {
        let policy = parse_policy(SAMPLE, "p").unwrap();
        assert!(server_allowed(
            &policy,
            "https://visio.numerique.gouv.fr/abc-defg-hij"
        ));
        assert!(server_allowed(&policy, "https://visio.interieur.gouv.fr"));
        assert!(!server_allowed(&policy, "https://interieur.gouv.fr"));
        assert!(!server_allowed(&policy, "https://evilinterieur.gouv.fr"));
        assert!(!server_allowed(&policy, "http://visio.numerique.gouv.fr"));
        assert!(!server_allowed(
            &policy,
            "https://visio.numerique.gouv.fr:8443"
        ));
        assert!(!server_allowed(&policy, "not a url"));
        assert!(server_allowed(&Policy::default(), "http://127.0.0.1:7880"));
    }

    #[test]
    fn malformed_policy_names_file_and_line() {
        let text = "default_server = \"https://a.example\"\n\n[locked]\ncaptions = \"maybe\"\n";
        let err = parse_policy(text, "/etc/visio/policy.toml").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("IT policy /etc/visio/policy.toml:4:"),
            "{msg}"
        );

        let err = parse_policy("[locked]\ncamera = false\n", "p.toml").unwrap_err();
        assert!(err.to_string().contains("p.toml:2:"), "{err}");
        assert!(err.to_string().contains("camera"), "{err}");

        let err = parse_policy("x = 1\nproxy = \"not a url\"\n", "p.toml").unwrap_err();
        assert!(
            err.to_string().contains("p.toml:1:"),
            "unknown key first: {err}"
        );
        let err = parse_policy("proxy = \"not a url\"\n", "p.toml").unwrap_err();
        assert!(err.to_string().contains("p.toml:1: proxy"), "{err}");
    }

    #[test]
    fn settings_round_trip_and_locked_changes_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("visio/settings.json");
        let policy = parse_policy(SAMPLE, "p").unwrap();
        let mut s = Settings {
            display_name: "Camille".into(),
            captions: false,
            local_server: false,
            low_bandwidth: LowBandwidthMode::AudioOnly,
            ..Settings::default()
        };
        save_settings(&path, &policy, &s).unwrap();
        assert_eq!(read_settings(&path).unwrap(), s);
        s.captions = true;
        let err = save_settings(&path, &policy, &s).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the setting captions is locked by IT policy"
        );
        assert!(!read_settings(&path).unwrap().captions, "file unchanged");

        std::fs::write(&path, "{\n \"captions\": 3\n}").unwrap();
        let err = read_settings(&path).unwrap_err();
        assert!(err.to_string().contains("settings.json:2:"), "{err}");
    }
}
