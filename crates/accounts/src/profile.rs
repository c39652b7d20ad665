//! Server profiles: which servers the user signed in to and how. Stored as JSON in the config
//! directory (`<config>/visio/profiles.json`); nothing secret is ever in it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{AccountError, Result};
use crate::oidc::Identity;

/// What kind of server a profile points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerKind {
    /// A Visio (La Suite Meet) server: its REST API gives LiveKit tokens.
    Visio,
    /// A plain LiveKit server: tokens are minted locally with the API key and the secret kept
    /// in the keychain.
    #[serde(rename_all = "camelCase")]
    LiveKit { api_key: String },
    /// The local/LAN room server (`visio serve`): its Visio API subset gives tokens, no login.
    Local,
}

/// How the user signs in to a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LoginMethod {
    None,
    /// OIDC authorization code + PKCE; the refresh token is in the keychain.
    #[serde(rename_all = "camelCase")]
    Oidc {
        issuer: String,
        client_id: String,
    },
    /// Today's Visio: the Django `sessionid` cookie (in the keychain) from the app's login window.
    SessionCookie,
}

/// One server the user uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The server's origin (`https://host[:port]`); also the profile's id.
    pub server: String,
    pub kind: ServerKind,
    pub login: LoginMethod,
    /// Who is signed in (not secret; shown in the UI and offline).
    pub identity: Option<Identity>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ProfilesFile {
    current: Option<String>,
    profiles: Vec<Profile>,
}

/// Checks a server address and returns its origin, the profile id.
pub fn normalize_server(input: &str) -> Result<String> {
    let bad = |reason: &str| AccountError::BadUrl {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = input.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(bad(&format!("scheme {other:?} is not http or https"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials do not belong in a server address"));
    }
    Ok(url.origin().ascii_serialization())
}

/// The profiles file.
#[derive(Debug, Clone)]
pub struct ProfileStore {
    path: PathBuf,
}

impl ProfileStore {
    /// `dir` is the app's config directory (`<config>/visio`).
    pub fn new(dir: &Path) -> Self {
        ProfileStore {
            path: dir.join("profiles.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<ProfilesFile> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| self.err(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ProfilesFile::default()),
            Err(e) => Err(self.err(e)),
        }
    }

    fn write(&self, file: &ProfilesFile) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        let json = serde_json::to_string_pretty(file).map_err(|e| self.err(e))?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(|e| self.err(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.err(e))
    }

    fn err(&self, e: impl std::fmt::Display) -> AccountError {
        AccountError::Store {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    pub fn list(&self) -> Result<Vec<Profile>> {
        Ok(self.read()?.profiles)
    }

    /// The profile for `server`, or the current one when `None`.
    pub fn get(&self, server: Option<&str>) -> Result<Profile> {
        let file = self.read()?;
        let id = match server {
            Some(s) => normalize_server(s)?,
            None => file
                .current
                .clone()
                .or_else(|| file.profiles.first().map(|p| p.server.clone()))
                .ok_or_else(|| AccountError::NoProfile("any server".into()))?,
        };
        file.profiles
            .into_iter()
            .find(|p| p.server == id)
            .ok_or(AccountError::NoProfile(id))
    }

    /// Adds or replaces a profile and makes it current.
    pub fn put(&self, profile: Profile) -> Result<()> {
        let mut file = self.read()?;
        file.current = Some(profile.server.clone());
        match file
            .profiles
            .iter_mut()
            .find(|p| p.server == profile.server)
        {
            Some(p) => *p = profile,
            None => file.profiles.push(profile),
        }
        self.write(&file)
    }

    pub fn remove(&self, server: &str) -> Result<()> {
        let mut file = self.read()?;
        file.profiles.retain(|p| p.server != server);
        if file.current.as_deref() == Some(server) {
            file.current = file.profiles.first().map(|p| p.server.clone());
        }
        self.write(&file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_are_normalized_or_refused() {
        assert_eq!(
            normalize_server("visio.numerique.gouv.fr").unwrap(),
            "https://visio.numerique.gouv.fr"
        );
        assert_eq!(
            normalize_server("http://127.0.0.1:7880/abc-defg-hij").unwrap(),
            "http://127.0.0.1:7880"
        );
        assert_eq!(
            normalize_server("HTTPS://Visio.Example:443/").unwrap(),
            "https://visio.example"
        );
        for bad in [
            "ftp://x.example",
            "http://",
            "http://user:pw@x.example",
            "https://exa mple.fr",
            "",
        ] {
            let e = normalize_server(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_link", "{bad}: {e}");
        }
    }

    #[test]
    fn profiles_round_trip_with_current() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(dir.path());
        assert_eq!(store.get(None).unwrap_err().code(), "not_logged_in");
        let a = Profile {
            server: "https://a.example".into(),
            kind: ServerKind::LiveKit {
                api_key: "APIkey".into(),
            },
            login: LoginMethod::None,
            identity: None,
        };
        let b = Profile {
            server: "https://b.example".into(),
            kind: ServerKind::Visio,
            login: LoginMethod::Oidc {
                issuer: "https://idp.example".into(),
                client_id: "visio".into(),
            },
            identity: None,
        };
        store.put(a.clone()).unwrap();
        store.put(b.clone()).unwrap();
        assert_eq!(store.get(None).unwrap(), b);
        assert_eq!(store.get(Some("a.example")).unwrap(), a);
        store.remove("https://b.example").unwrap();
        assert_eq!(store.get(None).unwrap(), a);
        assert_eq!(store.list().unwrap().len(), 1);
    }
}
