//! What the real-model tests share: espeak-ng speech at 48 kHz (as the engine hands decoded
//! audio) and models installed from the registry packages named by the environment.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const SENTENCES: [(&str, &str); 4] = [
    ("en-us", "Please send the budget report before Friday."),
    ("en-us+f3", "The new office opens on Monday morning."),
    ("en-us+m3", "We will review the project plan next week."),
    ("en-us+f2", "Thank you all for joining the meeting today."),
];

pub fn env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).map(PathBuf::from)
}

pub fn espeak_48k(dir: &Path, i: usize, voice: &str, text: &str) -> Vec<i16> {
    let wav = dir.join(format!("s{i}.wav"));
    let ok = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng runs")
        .success();
    assert!(ok);
    let x = speech::audio::read_wav_16k_mono(&wav).expect("wav");
    let y = speech::audio::resample(&x, 16_000, 48_000).expect("resampled");
    y.iter().map(|v| (v * 32767.0) as i16).collect()
}

pub fn install(work: &Path, name: &str) -> Option<PathBuf> {
    install_as(work, name, name, speech::models::Weights::default())
}

/// `model` (tiny.en or base) installed under `name` with its weights stored as `weights`.
pub fn install_as(
    work: &Path,
    model: &str,
    name: &str,
    weights: speech::models::Weights,
) -> Option<PathBuf> {
    let store = speech::models::ModelStore::new(work.join("models"));
    let src = match model {
        "tiny.en" => env("VISIO_WHISPER_CT2_TINY")?,
        _ => {
            let parts = std::env::var("VISIO_WHISPER_CT2_BASE_PARTS").ok()?;
            let dirs: Vec<PathBuf> = parts.split(':').map(PathBuf::from).collect();
            speech::models::join_parts(&dirs, &work.join("base-ct2")).expect("parts")
        }
    };
    Some(
        store
            .install_as(&src, name, None, weights)
            .expect("model installs")
            .path,
    )
}
