//! Speech recognition with whisper.cpp (through `whisper-rs`), on the CPU, bounded to the
//! threads the caller allows.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

#[derive(Debug, thiserror::Error)]
pub enum RecognizerError {
    #[error(
        "the model {path} could not be loaded ({reason}); check it with `visio models verify`"
    )]
    Model { path: String, reason: String },
    #[error(
        "language {0:?} is not supported (use a Whisper language code such as \"fr\" or \"en\")"
    )]
    Language(String),
    #[error("this English-only model cannot transcribe {0:?}; install a multilingual model")]
    EnglishOnly(String),
    #[error("recognition failed: {0}")]
    Whisper(String),
    /// The caller's stop flag was raised while whisper.cpp was running.
    #[error("recognition stopped")]
    Stopped,
}

/// One recognised stretch of speech; times in milliseconds from the start of the audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

pub struct Recognizer {
    ctx: WhisperContext,
    multilingual: bool,
    threads: usize,
}

impl Recognizer {
    /// Loads a whisper.cpp model file.
    pub fn load(model: &Path, threads: usize) -> Result<Self, RecognizerError> {
        whisper_rs::install_logging_hooks();
        let fail = |reason: String| RecognizerError::Model {
            path: model.display().to_string(),
            reason,
        };
        if !model.is_file() {
            return Err(fail("no such file".into()));
        }
        // whisper.cpp aborts the process on some damaged headers: check the layout first.
        crate::ggml_check::check_model_file(model)
            .map_err(|r| fail(format!("damaged, or not a whisper.cpp model: {r}")))?;
        let ctx = WhisperContext::new_with_params(model, WhisperContextParameters::default())
            .map_err(|e| fail(e.to_string()))?;
        let multilingual = ctx.is_multilingual();
        Ok(Self {
            ctx,
            multilingual,
            threads: threads.max(1),
        })
    }

    /// Transcribes 16 kHz mono audio. `language`: a Whisper code, or `None` to detect it
    /// (English-only models always use English).
    pub fn transcribe(
        &self,
        samples: &[f32],
        language: Option<&str>,
    ) -> Result<Vec<Segment>, RecognizerError> {
        self.run(samples, language, self.threads, false, None, None)
    }

    /// Transcribes one short utterance (live captions) on `threads` threads, with the
    /// encoder's context cut to the audio's length: whisper.cpp otherwise encodes 30 s
    /// whatever the input, which is most of the latency of a 2-3 s utterance. Some accuracy is
    /// traded for that (measured in the captions benchmark).
    pub fn transcribe_utterance(
        &self,
        samples: &[f32],
        language: Option<&str>,
        threads: usize,
    ) -> Result<Vec<Segment>, RecognizerError> {
        self.run(samples, language, threads.max(1), true, None, None)
    }

    /// Working memory for [`Self::transcribe_utterance_until`], kept by a live-captions
    /// worker across utterances: whisper.cpp allocates it per call otherwise (45 ms for
    /// tiny.en on this machine, more for larger models, on every caption). It keeps the
    /// model alive (whisper-rs holds the context by `Arc`).
    pub fn scratch(&self) -> Result<Scratch, RecognizerError> {
        self.ctx
            .create_state()
            .map(Scratch)
            .map_err(|e| RecognizerError::Whisper(e.to_string()))
    }

    /// [`Self::transcribe_utterance`] that gives up with [`RecognizerError::Stopped`] soon
    /// after `stop` is raised (whisper.cpp checks it between graph nodes). Live captions use
    /// it so that shutting down never leaves a thread inside whisper.cpp while the process
    /// exits, and so that a final caption does not wait behind a stale interim one.
    pub fn transcribe_utterance_until(
        &self,
        samples: &[f32],
        language: Option<&str>,
        threads: usize,
        stop: &AtomicBool,
        scratch: &mut Scratch,
    ) -> Result<Vec<Segment>, RecognizerError> {
        self.run(
            samples,
            language,
            threads.max(1),
            true,
            Some(stop),
            Some(&mut scratch.0),
        )
    }

    /// Whether the model knows other languages than English.
    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    fn run(
        &self,
        samples: &[f32],
        language: Option<&str>,
        threads: usize,
        fit_context: bool,
        stop: Option<&AtomicBool>,
        scratch: Option<&mut WhisperState>,
    ) -> Result<Vec<Segment>, RecognizerError> {
        if stop.is_some_and(|s| s.load(Ordering::Acquire)) {
            return Err(RecognizerError::Stopped);
        }
        let lang = match language {
            Some(l) => {
                if whisper_rs::get_lang_id(l).is_none() {
                    return Err(RecognizerError::Language(l.to_owned()));
                }
                if !self.multilingual && l != "en" {
                    return Err(RecognizerError::EnglishOnly(l.to_owned()));
                }
                Some(l)
            }
            None if self.multilingual => None,
            None => Some("en"),
        };
        let mut own;
        let state = match scratch {
            Some(s) => s,
            None => {
                own = self
                    .ctx
                    .create_state()
                    .map_err(|e| RecognizerError::Whisper(e.to_string()))?;
                &mut own
            }
        };
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(threads as i32);
        params.set_language(lang);
        params.set_detect_language(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        // Whisper needs at least one second; pad short clips with silence.
        let mut padded;
        let audio = if samples.len() < 16_000 {
            padded = samples.to_vec();
            padded.resize(16_100, 0.0);
            &padded[..]
        } else {
            samples
        };
        if fit_context {
            // 1500 encoder positions cover 30 s: 50 per second, plus a margin.
            let ctx = (audio.len() / 320 + 64).min(1500);
            params.set_audio_ctx(ctx as i32);
            params.set_no_context(true);
            params.set_single_segment(true);
            // Speech is at most about 4 tokens a second: a bound stops a hallucination loop
            // (seen on robotic voices) from holding a worker for the whole 448-token context.
            let secs = audio.len() / 16_000 + 1;
            params.set_max_tokens((24 + 8 * secs).min(224) as i32);
        }
        if let Some(stop) = stop {
            // whisper-rs's closure-based `set_abort_callback_safe` hands whisper.cpp a pointer
            // of another type than its trampoline reads, so the plain C callback is used.
            // SAFETY: `stop` outlives `state.full` (it borrows from the caller for the whole
            // call) and `abort_on_flag` only reads it atomically.
            unsafe {
                params.set_abort_callback(Some(abort_on_flag));
                params.set_abort_callback_user_data(stop as *const AtomicBool as *mut _);
            }
        }
        let result = state.full(params, audio);
        if stop.is_some_and(|s| s.load(Ordering::Acquire)) {
            return Err(RecognizerError::Stopped);
        }
        result.map_err(|e| RecognizerError::Whisper(e.to_string()))?;
        let mut out = vec![];
        for i in 0..state.full_n_segments() {
            let Some(seg) = state.get_segment(i) else {
                continue;
            };
            let text = seg
                .to_str_lossy()
                .map_err(|e| RecognizerError::Whisper(e.to_string()))?
                .trim()
                .to_owned();
            if text.is_empty() {
                continue;
            }
            // whisper.cpp timestamps are in 10 ms units.
            out.push(Segment {
                start_ms: seg.start_timestamp().max(0) as u64 * 10,
                end_ms: seg.end_timestamp().max(0) as u64 * 10,
                text,
            });
        }
        Ok(out)
    }
}

/// See [`Recognizer::scratch`].
pub struct Scratch(WhisperState);

/// whisper.cpp's abort callback: `data` is the `AtomicBool` given in
/// [`Recognizer::transcribe_utterance_until`].
unsafe extern "C" fn abort_on_flag(data: *mut std::ffi::c_void) -> bool {
    // SAFETY: set only by `run`, pointing at an `AtomicBool` alive during `state.full`.
    unsafe { (*(data as *const AtomicBool)).load(Ordering::Acquire) }
}
