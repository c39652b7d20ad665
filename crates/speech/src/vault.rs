//! Meeting transcripts kept on this machine, encrypted at rest: each transcript is one file,
//! `VTX1` + a random 24-byte nonce + XChaCha20-Poly1305 of its JSON. The 32-byte key comes from
//! a [`KeyProvider`]: the OS keychain (`keychain_key::KeychainKey`, feature `keychain`), or an
//! in-memory key in tests. A file altered or read with another key is refused, never shown.

use std::path::PathBuf;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::{json, Value};

use crate::transcript::{Line, Transcript};

const MAGIC: &[u8; 4] = b"VTX1";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no transcript key: {0}")]
    Key(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} is not a transcript of this vault, or it was altered (authentication failed)")]
    Corrupt(String),
    #[error("invalid transcript name {0:?}")]
    BadName(String),
}

/// Where the transcript key comes from.
pub trait KeyProvider: Send + Sync {
    /// The 32-byte key (created on first use by providers that store one).
    fn key(&self) -> Result<[u8; 32], VaultError>;
}

/// A key held in memory (tests, or a key the caller got elsewhere).
pub struct MemoryKey(pub [u8; 32]);

impl KeyProvider for MemoryKey {
    fn key(&self) -> Result<[u8; 32], VaultError> {
        Ok(self.0)
    }
}

/// A search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub transcript: String,
    pub line: Line,
}

/// The encrypted transcript store.
pub struct Vault<K: KeyProvider> {
    dir: PathBuf,
    keys: K,
}

fn to_json(t: &Transcript) -> Value {
    json!({
        "title": t.title,
        "lines": t.lines.iter().map(|l| json!({
            "speaker": l.speaker, "start_ms": l.start_ms, "end_ms": l.end_ms, "text": l.text,
        })).collect::<Vec<_>>(),
    })
}

fn from_json(v: &Value) -> Option<Transcript> {
    let lines = v["lines"]
        .as_array()?
        .iter()
        .map(|l| {
            Some(Line {
                speaker: l["speaker"].as_str()?.to_owned(),
                start_ms: l["start_ms"].as_u64()?,
                end_ms: l["end_ms"].as_u64()?,
                text: l["text"].as_str()?.to_owned(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Transcript {
        title: v["title"].as_str()?.to_owned(),
        lines,
    })
}

impl<K: KeyProvider> Vault<K> {
    pub fn new(dir: impl Into<PathBuf>, keys: K) -> Self {
        Self {
            dir: dir.into(),
            keys,
        }
    }

    fn path(&self, name: &str) -> Result<PathBuf, VaultError> {
        let ok = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            return Err(VaultError::BadName(name.to_owned()));
        }
        Ok(self.dir.join(format!("{name}.vtx")))
    }

    /// Gets the key now (creating it on first use), so a missing keychain is reported
    /// before work whose result could then not be kept.
    pub fn check_key(&self) -> Result<(), VaultError> {
        self.keys.key().map(|_| ())
    }

    fn cipher(&self) -> Result<XChaCha20Poly1305, VaultError> {
        Ok(XChaCha20Poly1305::new(&self.keys.key()?.into()))
    }

    /// Saves (replaces) a transcript under `name`.
    pub fn save(&self, name: &str, t: &Transcript) -> Result<(), VaultError> {
        let path = self.path(name)?;
        let io = |source| VaultError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let plain = to_json(t).to_string();
        let sealed = self
            .cipher()?
            .encrypt(&nonce, plain.as_bytes())
            .map_err(|_| VaultError::Key("encryption failed".into()))?;
        let mut out = Vec::with_capacity(4 + 24 + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        let tmp = path.with_extension("vtx.tmp");
        std::fs::write(&tmp, out).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// Reads a transcript back.
    pub fn load(&self, name: &str) -> Result<Transcript, VaultError> {
        let path = self.path(name)?;
        let bytes = std::fs::read(&path).map_err(|source| VaultError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let corrupt = || VaultError::Corrupt(path.display().to_string());
        if bytes.len() < 28 || &bytes[..4] != MAGIC {
            return Err(corrupt());
        }
        let nonce = XNonce::from_slice(&bytes[4..28]);
        let plain = self
            .cipher()?
            .decrypt(nonce, &bytes[28..])
            .map_err(|_| corrupt())?;
        let v: Value = serde_json::from_slice(&plain).map_err(|_| corrupt())?;
        from_json(&v).ok_or_else(corrupt)
    }

    /// Deletes the transcript `name` (no key needed).
    pub fn delete(&self, name: &str) -> Result<(), VaultError> {
        let path = self.path(name)?;
        std::fs::remove_file(&path).map_err(|source| VaultError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Names of the stored transcripts, sorted.
    pub fn list(&self) -> Result<Vec<String>, VaultError> {
        let mut names = vec![];
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
            Err(source) => {
                return Err(VaultError::Io {
                    path: self.dir.display().to_string(),
                    source,
                })
            }
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "vtx") {
                if let Some(s) = p.file_stem() {
                    names.push(s.to_string_lossy().into_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Lines whose text or speaker contains `query` (case-insensitive), in every transcript
    /// this key opens; transcripts it cannot open are skipped.
    pub fn search(&self, query: &str) -> Result<Vec<Hit>, VaultError> {
        let q = query.to_lowercase();
        let mut hits = vec![];
        for name in self.list()? {
            let Ok(t) = self.load(&name) else { continue };
            for line in t.lines {
                if line.text.to_lowercase().contains(&q) || line.speaker.to_lowercase().contains(&q)
                {
                    hits.push(Hit {
                        transcript: name.clone(),
                        line,
                    });
                }
            }
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transcript {
        Transcript {
            title: "Point hebdo".into(),
            lines: vec![
                Line {
                    speaker: "Salle A – intervenant 1".into(),
                    start_ms: 0,
                    end_ms: 2_000,
                    text: "Le budget est validé.".into(),
                },
                Line {
                    speaker: "Camille".into(),
                    start_ms: 2_500,
                    end_ms: 4_000,
                    text: "Je prépare le compte rendu.".into(),
                },
            ],
        }
    }

    #[test]
    fn round_trip_encrypted_search_and_tamper() {
        let dir = std::env::temp_dir().join(format!("visio-vault-{}", std::process::id()));
        let v = Vault::new(&dir, MemoryKey([7; 32]));
        v.save("2026-11-23-hebdo", &sample()).expect("saved");
        assert_eq!(v.load("2026-11-23-hebdo").expect("loaded"), sample());
        let raw = std::fs::read(dir.join("2026-11-23-hebdo.vtx")).expect("file");
        assert!(
            !String::from_utf8_lossy(&raw).contains("budget"),
            "plain text on disk"
        );
        let hits = v.search("BUDGET").expect("search");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].line.start_ms, 0);
        assert_eq!(v.search("camille").expect("search").len(), 1);
        assert_eq!(v.list().expect("list"), ["2026-11-23-hebdo"]);
        assert!(matches!(v.delete("../etc"), Err(VaultError::BadName(_))));
        v.save("gone", &sample()).expect("saved");
        v.delete("gone").expect("deleted");
        assert!(matches!(v.load("gone"), Err(VaultError::Io { .. })));

        // Another key cannot read it; an altered byte is refused.
        let other = Vault::new(&dir, MemoryKey([8; 32]));
        assert!(matches!(
            other.load("2026-11-23-hebdo"),
            Err(VaultError::Corrupt(_))
        ));
        assert!(other.search("budget").expect("skips").is_empty());
        let mut bad = raw.clone();
        let n = bad.len() - 1;
        bad[n] ^= 1;
        std::fs::write(dir.join("x.vtx"), bad).expect("write");
        assert!(matches!(v.load("x"), Err(VaultError::Corrupt(_))));
        assert!(matches!(v.load("../etc"), Err(VaultError::BadName(_))));
        std::fs::remove_dir_all(dir).ok();
    }
}
