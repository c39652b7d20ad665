//! Speech on this machine, for the app: the model store (`list_models`, `install_model`,
//! `verify_model`, `remove_model`), live captions of a meeting computed here
//! ([`DeviceCaptions`], `set_on_device_captions`), and the encrypted transcripts they leave
//! (`list_transcripts`, `search_transcripts`, `get_transcript`, `export_transcript`,
//! `delete_transcript`). The recognition itself is the `captions` and `speech` crates'; no
//! audio leaves the machine.
//!
//! Where things are (each overridable, which tests do):
//! - models: `VISIO_MODELS_DIR`, else `<data>/visio/models` (shared with `visio models`);
//! - transcripts: `VISIO_TRANSCRIPTS_DIR`, else `<data>/visio/transcripts` (shared with
//!   `visio transcripts`), encrypted with a key in the OS keychain;
//! - voice activity: `VISIO_SILERO_VAD`, else `silero_vad.onnx` in the models directory;
//!   ONNX Runtime: `ORT_DYLIB_PATH`, else `libonnxruntime.so*` in the models directory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use captions::{CaptionUpdate, CaptionsConfig, LiveCaptions};
use engine::Room;
use serde::{Deserialize, Serialize};
use speech::keychain_key::KeychainKey;
use speech::models::{ModelError, ModelInfo, ModelStore};
use speech::transcript::{Format, Line, Transcript};
use speech::vault::{Vault, VaultError};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::bridge::{AppError, CaptionSource, ErrorCode, OnDeviceState, RoomEvent};
use crate::client::Emit;

type CmdResult<T> = Result<T, AppError>;

/// Download size limit for `install_model` from a URL.
const MAX_MODEL_BYTES: u64 = 4_000_000_000;

/// How long leaving a meeting waits for the last final captions.
const FLUSH_WITHIN: Duration = Duration::from_secs(8);

fn data_dir(env: &str, leaf: &str) -> PathBuf {
    std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("visio")
            .join(leaf)
    })
}

pub fn models_dir() -> PathBuf {
    data_dir("VISIO_MODELS_DIR", "models")
}

pub fn transcripts_dir() -> PathBuf {
    data_dir("VISIO_TRANSCRIPTS_DIR", "transcripts")
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeechModel {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

impl From<ModelInfo> for SpeechModel {
    fn from(m: ModelInfo) -> Self {
        Self {
            name: m.name,
            size: m.size,
            sha256: m.sha256,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeechStatus {
    pub ready: bool,
    pub missing: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelsInfo {
    pub dir: String,
    pub models: Vec<SpeechModel>,
    pub speech: SpeechStatus,
    pub policy_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallModelRequest {
    pub name: String,
    pub path: Option<String>,
    pub url: Option<String>,
    pub sha256: Option<String>,
    #[serde(default)]
    pub from_policy: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptLine {
    pub speaker: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

impl From<Line> for TranscriptLine {
    fn from(l: Line) -> Self {
        Self {
            speaker: l.speaker,
            start_ms: l.start_ms,
            end_ms: l.end_ms,
            text: l.text,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptSummary {
    pub id: String,
    pub title: String,
    pub lines: usize,
    pub started_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptView {
    pub id: String,
    pub title: String,
    pub lines: Vec<TranscriptLine>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptHit {
    pub id: String,
    pub title: String,
    pub line: TranscriptLine,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exported {
    pub path: String,
    pub text: String,
}

impl From<ModelError> for AppError {
    fn from(e: ModelError) -> Self {
        let code = match &e {
            ModelError::NotInstalled(_) => ErrorCode::ModelMissing,
            ModelError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorCode::ModelInvalid
            }
            ModelError::Io { .. } => ErrorCode::Internal,
            _ => ErrorCode::ModelInvalid,
        };
        AppError::new(code, e.to_string())
    }
}

impl From<VaultError> for AppError {
    fn from(e: VaultError) -> Self {
        let code = match &e {
            VaultError::Key(m) if m.contains("locked") => ErrorCode::KeychainLocked,
            VaultError::Key(_) => ErrorCode::NoKeychain,
            VaultError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorCode::TranscriptMissing
            }
            VaultError::BadName(_) => ErrorCode::TranscriptMissing,
            VaultError::Corrupt(_) | VaultError::Io { .. } => ErrorCode::Internal,
        };
        AppError::new(code, e.to_string())
    }
}

impl From<speech::fetch::FetchError> for AppError {
    fn from(e: speech::fetch::FetchError) -> Self {
        use speech::fetch::FetchError as E;
        match e {
            E::Install(m) => m.into(),
            E::Unreachable(m) => AppError::new(ErrorCode::Unreachable, m),
            E::Refused(m) => AppError::new(ErrorCode::NotAllowed, m),
            E::BadModel(m) => AppError::new(ErrorCode::ModelInvalid, m),
            e @ E::Io { .. } => AppError::new(ErrorCode::Internal, e.to_string()),
        }
    }
}

fn blocking_failed(e: tokio::task::JoinError) -> AppError {
    AppError::new(ErrorCode::Internal, e.to_string())
}

/// The voice-activity model and ONNX Runtime, or what is missing.
pub fn speech_runtime() -> Result<(PathBuf, PathBuf), String> {
    let dir = models_dir();
    let runtime = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            std::fs::read_dir(&dir)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|p| {
                    p.file_name()
                        .and_then(|f| f.to_str())
                        .is_some_and(|f| f.starts_with("libonnxruntime.so"))
                })
        });
    let vad = std::env::var_os("VISIO_SILERO_VAD")
        .map(PathBuf::from)
        .or_else(|| Some(dir.join("silero_vad.onnx")))
        .filter(|p| p.is_file());
    match (runtime, vad) {
        (Some(r), Some(v)) => Ok((r, v)),
        (r, v) => {
            let mut missing = vec![];
            if v.is_none() {
                missing.push(format!(
                    "the voice-activity model (silero_vad.onnx in {})",
                    dir.display()
                ));
            }
            if r.is_none() {
                missing.push(format!(
                    "ONNX Runtime (libonnxruntime.so in {})",
                    dir.display()
                ));
            }
            Err(missing.join(" and "))
        }
    }
}

/// The speaker embedder that tells the voices of a meeting room's microphone apart
/// (`VISIO_SPEAKER_EMBEDDER`, else `embedder.int8.onnx` in the models directory), if here.
pub fn speaker_embedder() -> Option<PathBuf> {
    std::env::var_os("VISIO_SPEAKER_EMBEDDER")
        .map(PathBuf::from)
        .or_else(|| Some(models_dir().join("embedder.int8.onnx")))
        .filter(|p| p.is_file())
}

pub fn list_models(policy_url: Option<String>) -> CmdResult<ModelsInfo> {
    let dir = models_dir();
    let models = ModelStore::new(&dir).list()?;
    let runtime = speech_runtime();
    Ok(ModelsInfo {
        dir: dir.display().to_string(),
        models: models.into_iter().map(SpeechModel::from).collect(),
        speech: SpeechStatus {
            ready: runtime.is_ok(),
            missing: runtime.err(),
        },
        policy_url,
    })
}

/// Installs from a local file or folder, or downloads (with the SHA-256 IT announced).
pub async fn install_model(
    req: InstallModelRequest,
    network: &policy::NetworkPolicy,
    policy_url: Option<String>,
) -> CmdResult<SpeechModel> {
    let dir = models_dir();
    let store = ModelStore::new(&dir);
    let url = match (&req.path, &req.url, req.from_policy) {
        (Some(path), None, false) => {
            let (path, name, sha) = (PathBuf::from(path), req.name.clone(), req.sha256.clone());
            return tokio::task::spawn_blocking(move || {
                store
                    .install(
                        &path,
                        &name,
                        sha.as_deref().filter(|s| !s.trim().is_empty()),
                    )
                    .map(SpeechModel::from)
                    .map_err(AppError::from)
            })
            .await
            .map_err(blocking_failed)?;
        }
        (None, Some(url), false) => url.clone(),
        (None, None, true) => policy_url.ok_or_else(|| {
            AppError::new(
                ErrorCode::NotAllowed,
                "the IT policy gives no speech model URL (speech_model_url)",
            )
        })?,
        _ => {
            return Err(AppError::new(
                ErrorCode::ModelInvalid,
                "give one source: a local path, a URL, or the IT department's URL",
            ))
        }
    };
    let sha256 = req
        .sha256
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::ModelInvalid,
                "a download needs the model's SHA-256, as your IT department announces it",
            )
        })?;
    let mut extra_ca_pem = vec![];
    for path in &network.ca_certificates {
        extra_ca_pem.push(std::fs::read_to_string(path).map_err(|e| {
            AppError::new(
                ErrorCode::Internal,
                format!("reading the policy's CA file {}: {e}", path.display()),
            )
        })?);
    }
    let fetch = speech::fetch::FetchModel {
        url,
        sha256,
        name: req.name.clone(),
        max_bytes: MAX_MODEL_BYTES,
        extra_ca_pem,
        proxy: network.proxy.clone(),
        weights: speech::models::Weights::default(),
    };
    Ok(speech::fetch::install_from_url(&store, &dir, &fetch)
        .await?
        .into())
}

pub async fn verify_model(name: String) -> CmdResult<SpeechModel> {
    tokio::task::spawn_blocking(move || {
        ModelStore::new(models_dir())
            .verify(&name)
            .map(SpeechModel::from)
            .map_err(AppError::from)
    })
    .await
    .map_err(blocking_failed)?
}

pub fn remove_model(name: &str) -> CmdResult<()> {
    let store = ModelStore::new(models_dir());
    let info = store
        .list()?
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| AppError::from(ModelError::NotInstalled(name.to_owned())))?;
    let sidecar = info.path.with_extension("bin.sha256");
    std::fs::remove_file(&info.path)
        .map_err(|e| AppError::new(ErrorCode::Internal, format!("{}: {e}", info.path.display())))?;
    let _ = std::fs::remove_file(sidecar);
    Ok(())
}

/// The model to caption with: the chosen one, else the best installed for a 2-core machine.
pub fn choose_model(chosen: Option<&str>) -> CmdResult<PathBuf> {
    let models = ModelStore::new(models_dir()).list()?;
    if let Some(name) = chosen {
        return models
            .into_iter()
            .find(|m| m.name == name)
            .map(|m| m.path)
            .ok_or_else(|| AppError::from(ModelError::NotInstalled(name.to_owned())));
    }
    let rank = |n: &str| {
        ["base", "small", "tiny", "medium", "large"]
            .iter()
            .position(|k| n.contains(k))
            .unwrap_or(9)
    };
    models
        .into_iter()
        .min_by_key(|m| rank(&m.name))
        .map(|m| m.path)
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::ModelMissing,
                format!("no speech model in {}", models_dir().display()),
            )
        })
}

fn vault() -> Vault<KeychainKey> {
    Vault::new(transcripts_dir(), KeychainKey::default())
}

/// `2026-11-23T14-05-33-abc-defg-hij` → `2026-11-23T14:05:33`.
fn started_at(id: &str) -> Option<String> {
    let b = id.as_bytes();
    let ok = b.len() >= 19
        && b[..19].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    ok.then(|| format!("{}:{}:{}", &id[..13], &id[14..16], &id[17..19]))
}

pub async fn list_transcripts() -> CmdResult<Vec<TranscriptSummary>> {
    tokio::task::spawn_blocking(|| {
        let v = vault();
        v.check_key()?;
        let mut out = vec![];
        for id in v.list()? {
            let Ok(t) = v.load(&id) else { continue };
            out.push(TranscriptSummary {
                started_at: started_at(&id),
                title: t.title,
                lines: t.lines.len(),
                id,
            });
        }
        out.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(out)
    })
    .await
    .map_err(blocking_failed)?
}

pub async fn get_transcript(id: String) -> CmdResult<TranscriptView> {
    tokio::task::spawn_blocking(move || {
        let t = vault().load(&id)?;
        Ok(TranscriptView {
            id,
            title: t.title,
            lines: t.lines.into_iter().map(TranscriptLine::from).collect(),
        })
    })
    .await
    .map_err(blocking_failed)?
}

pub async fn search_transcripts(query: String) -> CmdResult<Vec<TranscriptHit>> {
    if query.trim().is_empty() {
        return Ok(vec![]);
    }
    tokio::task::spawn_blocking(move || {
        let v = vault();
        v.check_key()?;
        let mut titles: HashMap<String, String> = HashMap::new();
        let mut hits = vec![];
        for h in v.search(query.trim())? {
            let title = match titles.get(&h.transcript) {
                Some(t) => t.clone(),
                None => {
                    let t = v.load(&h.transcript).map(|t| t.title).unwrap_or_default();
                    titles.insert(h.transcript.clone(), t.clone());
                    t
                }
            };
            hits.push(TranscriptHit {
                id: h.transcript,
                title,
                line: h.line.into(),
            });
        }
        Ok(hits)
    })
    .await
    .map_err(blocking_failed)?
}

/// Writes the transcript, decrypted since the user asked for it, into `dir` (Downloads).
pub async fn export_transcript(id: String, format: &str, dir: PathBuf) -> CmdResult<Exported> {
    let fmt: Format = format
        .parse()
        .map_err(|e: String| AppError::new(ErrorCode::Internal, e))?;
    let ext = match fmt {
        Format::Markdown => "md",
        Format::WebVtt => "vtt",
        Format::Srt => "srt",
    };
    tokio::task::spawn_blocking(move || {
        let t = vault().load(&id)?;
        let text = t.render(fmt);
        std::fs::create_dir_all(&dir)
            .map_err(|e| AppError::new(ErrorCode::Internal, format!("{}: {e}", dir.display())))?;
        let path = dir.join(format!("{id}.{ext}"));
        std::fs::write(&path, &text)
            .map_err(|e| AppError::new(ErrorCode::Internal, format!("{}: {e}", path.display())))?;
        Ok(Exported {
            path: path.display().to_string(),
            text,
        })
    })
    .await
    .map_err(blocking_failed)?
}

pub fn delete_transcript(id: &str) -> CmdResult<()> {
    Ok(vault().delete(id)?)
}

/// Display names by identity (a transcript names speakers, not identities).
pub type Names = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What a meeting's on-device captions need to know about it.
pub struct MeetingInfo {
    pub room: Arc<Room>,
    pub room_code: String,
    pub local_identity: String,
    /// Display names by identity, kept current by the meeting's event pump.
    pub names: Names,
    pub publish_mine: bool,
    pub save_transcript: bool,
    /// Cores the user allows for captions (`None`: half the machine's).
    pub threads: Option<u32>,
    /// Participants whose microphone carries several voices (meeting rooms), as marked.
    pub several_voices: Vec<String>,
}

/// Live captions of one meeting, computed here. The event pump feeds it audio; captions go
/// to the UI (source `device`), ours to the room when the user opted in, and finals into
/// the meeting's transcript, saved encrypted when they stop.
pub struct DeviceCaptions {
    live: Option<LiveCaptions>,
    forward: Option<tokio::task::JoinHandle<()>>,
    lines: Arc<Mutex<Vec<Line>>>,
    info: MeetingInfo,
    /// When captions started (UTC, ISO 8601).
    started: String,
}

impl DeviceCaptions {
    /// Loads the model and starts (slow: call off the async runtime's threads).
    pub fn start(chosen_model: Option<&str>, info: MeetingInfo, emit: Emit) -> CmdResult<Self> {
        let model = choose_model(chosen_model)?;
        let (runtime, vad) =
            speech_runtime().map_err(|m| AppError::new(ErrorCode::SpeechUnavailable, m))?;
        let mut config = CaptionsConfig::new(model, runtime, vad);
        config.speaker_embedder = speaker_embedder();
        // The cores the user allows, else half: the meeting's video and the UI need the rest.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        config.threads = match info.threads {
            Some(n) => (n as usize).clamp(1, cores),
            None => (cores / 2).max(1),
        };
        let several = info.several_voices.clone();
        let (live, updates) = LiveCaptions::start(config).map_err(|e| {
            let code = match &e {
                captions::CaptionsError::Onnx(_) | captions::CaptionsError::NoSpeakerModel => {
                    ErrorCode::SpeechUnavailable
                }
                captions::CaptionsError::Recognizer(_) => ErrorCode::ModelInvalid,
            };
            AppError::new(code, e.to_string())
        })?;
        // Meeting rooms marked before captions started.
        for who in several {
            if let Err(e) = live.set_several_voices(&who, true) {
                tracing::info!("voices of {who} not told apart: {e}");
            }
        }
        let lines = Arc::new(Mutex::new(vec![]));
        let forward = tokio::spawn(forward(
            updates,
            emit,
            lines.clone(),
            info.room.clone(),
            info.local_identity.clone(),
            info.names.clone(),
            info.publish_mine,
            Instant::now(),
        ));
        Ok(Self {
            live: Some(live),
            forward: Some(forward),
            lines,
            info,
            started: crate::settings::now_iso(),
        })
    }

    /// Decoded audio of a remote participant's track, or ours (`identity` = the local one).
    pub fn push(&self, identity: &str, track_sid: &str, rate: u32, samples: &[i16]) {
        if let Some(live) = &self.live {
            live.push(identity, track_sid, rate, samples);
        }
    }

    /// Marks `identity`'s microphone as carrying several voices (a meeting room), or no
    /// longer: its final captions and transcript lines then name the voice.
    pub fn set_several_voices(&self, identity: &str, several: bool) -> CmdResult<()> {
        let Some(live) = &self.live else {
            return Ok(());
        };
        live.set_several_voices(identity, several)
            .map_err(|e| AppError::new(ErrorCode::SpeechUnavailable, e.to_string()))
    }

    pub fn end_track(&self, track_sid: &str) {
        if let Some(live) = &self.live {
            live.end_track(track_sid);
        }
    }

    pub fn local_identity(&self) -> &str {
        &self.info.local_identity
    }

    /// Whether our own microphone is captioned (only to publish it: the user opted in).
    pub fn wants_local_audio(&self) -> bool {
        self.info.publish_mine
    }

    /// Finishes the last utterances, stops the workers, and saves the transcript (when
    /// wanted and not empty). Returns the transcript's id. Blocks: call off the runtime.
    pub fn stop(mut self) -> CmdResult<Option<String>> {
        if let Some(live) = self.live.take() {
            if !live.flush(FLUSH_WITHIN) {
                tracing::warn!("on-device captions: the last captions were not done in time");
            }
            drop(live);
        }
        // The forwarder ends once the workers' channel closes (dropped with `live`).
        if let Some(f) = self.forward.take() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !f.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            f.abort();
        }
        let lines = self.lines.lock().map(|l| l.clone()).unwrap_or_default();
        if !self.info.save_transcript || lines.is_empty() {
            return Ok(None);
        }
        // `2026-11-23T14-05-33-abc-defg-hij`: sortable, and a valid vault name.
        let stamp: String = self
            .started
            .chars()
            .take(19)
            .map(|c| if c == ':' { '-' } else { c })
            .collect();
        let id = format!("{stamp}-{}", self.info.room_code);
        let when = self
            .started
            .chars()
            .take(16)
            .collect::<String>()
            .replace('T', " ");
        let transcript = Transcript {
            title: format!("{} — {when} UTC", self.info.room_code),
            lines,
        };
        vault().save(&id, &transcript)?;
        Ok(Some(id))
    }
}

/// Caption updates → the UI, the room (ours, opted in) and the transcript (finals).
#[allow(clippy::too_many_arguments)]
async fn forward(
    mut updates: UnboundedReceiver<CaptionUpdate>,
    emit: Emit,
    lines: Arc<Mutex<Vec<Line>>>,
    room: Arc<Room>,
    local_identity: String,
    names: Names,
    publish_mine: bool,
    t0: Instant,
) {
    while let Some(u) = updates.recv().await {
        let c = u.caption;
        if c.text.is_empty() {
            continue;
        }
        let mine = c.participant_identity == local_identity;
        if mine && publish_mine {
            if let Err(e) = captions::publish(&room, &c).await {
                tracing::debug!("our caption not sent: {e}");
            }
        }
        if c.is_final {
            // Meeting time of the utterance: it ended `latency` ago.
            let end = t0.elapsed().saturating_sub(Duration::from_secs_f64(
                u.latency_ms.unwrap_or(0.0) / 1000.0,
            ));
            let end_ms = end.as_millis() as u64;
            let start_ms = end_ms.saturating_sub(u.end_ms.saturating_sub(u.start_ms));
            let name = names(&c.participant_identity)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| c.participant_identity.clone());
            if let Ok(mut l) = lines.lock() {
                l.push(Line {
                    speaker: match u.voice {
                        Some(v) => speech::diarize::speaker_label(&name, v),
                        None => name,
                    },
                    start_ms,
                    end_ms,
                    text: c.text.clone(),
                });
            }
        }
        emit(RoomEvent::Caption {
            participant_identity: c.participant_identity,
            segment_id: c.segment_id,
            text: c.text,
            is_final: c.is_final,
            source: CaptionSource::Device,
            voice: u.voice.map(|v| v as u32 + 1),
        });
    }
}

/// The `onDeviceCaptions` event.
pub fn state_event(
    state: OnDeviceState,
    error: Option<&AppError>,
    transcript_id: Option<String>,
) -> RoomEvent {
    RoomEvent::OnDeviceCaptions {
        state,
        code: error.map(|e| e.code),
        reason: error.map(|e| e.message.clone()),
        transcript_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_ids_give_their_start() {
        assert_eq!(
            started_at("2026-11-23T14-05-33-abc-defg-hij").as_deref(),
            Some("2026-11-23T14:05:33")
        );
        assert_eq!(started_at("meeting"), None);
        assert_eq!(started_at("2026-11-23X14-05-33"), None);
    }

    #[test]
    fn errors_map_to_codes() {
        let e: AppError = ModelError::NotInstalled("base".into()).into();
        assert_eq!(e.code, ErrorCode::ModelMissing);
        let e: AppError = ModelError::UnknownFormat("x".into()).into();
        assert_eq!(e.code, ErrorCode::ModelInvalid);
        let e: AppError = VaultError::Key("the OS keychain is locked; unlock it".into()).into();
        assert_eq!(e.code, ErrorCode::KeychainLocked);
        let e: AppError = VaultError::Key("no OS keychain is available".into()).into();
        assert_eq!(e.code, ErrorCode::NoKeychain);
        let e: AppError = VaultError::BadName("../x".into()).into();
        assert_eq!(e.code, ErrorCode::TranscriptMissing);
        assert_eq!(
            delete_transcript("../etc").unwrap_err().code,
            ErrorCode::TranscriptMissing
        );
    }
}
