//! ONNX Runtime, loaded at run time (`ort` with `load-dynamic`) from a `libonnxruntime.so`
//! the user or IT provides (the PyPI `onnxruntime` wheel ships one), so nothing is downloaded
//! at build time. Used by the voice-activity detector ([`crate::vad`]) and the speaker
//! embedder ([`crate::diarize`]).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;

/// Environment variable naming the ONNX Runtime library (ort's own name for it).
pub const RUNTIME_ENV: &str = "ORT_DYLIB_PATH";

#[derive(Debug, thiserror::Error, Clone)]
pub enum OnnxError {
    #[error("ONNX Runtime could not be loaded from {path}: {reason} (set {RUNTIME_ENV} to a libonnxruntime.so, e.g. from the PyPI onnxruntime package)")]
    Runtime { path: String, reason: String },
    #[error("the model {path} could not be loaded: {reason}")]
    Model { path: String, reason: String },
    #[error("inference failed: {0}")]
    Run(String),
}

static ENV: OnceLock<Result<Environment, OnnxError>> = OnceLock::new();

/// The process-wide ONNX Runtime (one per process, as ONNX Runtime wants), loaded on first use
/// from `runtime`; later calls reuse it whatever path they pass.
pub fn environment(runtime: &Path) -> Result<Environment, OnnxError> {
    ENV.get_or_init(|| {
        let fail = |reason: String| OnnxError::Runtime {
            path: runtime.display().to_string(),
            reason,
        };
        if !runtime.is_file() {
            return Err(fail("no such file".into()));
        }
        ort::init_from(runtime)
            .map_err(|e| fail(e.to_string()))?
            .with_name("visio-speech")
            .build()
            .map_err(|e| fail(e.to_string()))
    })
    .clone()
}

/// The runtime named by [`RUNTIME_ENV`], if set.
pub fn runtime_from_env() -> Option<PathBuf> {
    std::env::var_os(RUNTIME_ENV).map(PathBuf::from)
}

/// Loads a model on one intra-op thread (the caller runs several sessions side by side).
pub(crate) fn session(runtime: &Path, model: &Path) -> Result<Session, OnnxError> {
    let env = environment(runtime)?;
    let fail = |reason: String| OnnxError::Model {
        path: model.display().to_string(),
        reason,
    };
    if !model.is_file() {
        return Err(fail("no such file".into()));
    }
    Session::builder(&env)
        .map_err(|e| fail(e.to_string()))?
        .with_intra_threads(1)
        .map_err(|e| fail(e.to_string()))?
        .commit_from_file(model)
        .map_err(|e| fail(e.to_string()))
}
