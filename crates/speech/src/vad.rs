//! Voice activity: Silero VAD (the ONNX model the PyPI `silero-vad` package ships) gives a
//! speech probability per 32 ms of 16 kHz audio; [`Segmenter`] turns those into utterances with
//! hysteresis, so captions are recognised per utterance and silence costs no recognition.

use std::path::Path;

use ort::session::Session;
use ort::value::Tensor;

use crate::onnx::{self, OnnxError};

/// Samples per VAD frame at 16 kHz (32 ms), what Silero expects.
pub const FRAME: usize = 512;
/// Samples of the previous frame Silero (v5 and later) wants in front of each frame.
const CONTEXT: usize = 64;

/// Silero VAD on one audio stream (it keeps a recurrent state: one per track).
pub struct SileroVad {
    session: Session,
    state: Vec<f32>,
    context: [f32; CONTEXT],
}

impl SileroVad {
    /// Loads `silero_vad.onnx` with the ONNX Runtime library at `runtime`.
    pub fn load(runtime: &Path, model: &Path) -> Result<Self, OnnxError> {
        let session = onnx::session(runtime, model)?;
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        if !(names.contains(&"input") && names.contains(&"state") && names.contains(&"sr")) {
            return Err(OnnxError::Model {
                path: model.display().to_string(),
                reason: format!("not a Silero VAD model (inputs {names:?})"),
            });
        }
        Ok(Self {
            session,
            state: vec![0.0; 2 * 128],
            context: [0.0; CONTEXT],
        })
    }

    /// Forgets the stream so far.
    pub fn reset(&mut self) {
        self.state.iter_mut().for_each(|s| *s = 0.0);
        self.context = [0.0; CONTEXT];
    }

    /// Speech probability of one frame of [`FRAME`] samples (shorter frames are zero-padded).
    pub fn probability(&mut self, frame: &[f32]) -> Result<f32, OnnxError> {
        let mut input = Vec::with_capacity(CONTEXT + FRAME);
        input.extend_from_slice(&self.context);
        input.extend(frame.iter().take(FRAME));
        input.resize(CONTEXT + FRAME, 0.0);
        self.context.copy_from_slice(&input[FRAME..]);
        let run = |e: ort::Error| OnnxError::Run(e.to_string());
        let x = Tensor::from_array(([1usize, CONTEXT + FRAME], input)).map_err(run)?;
        let state = Tensor::from_array(([2usize, 1, 128], self.state.clone())).map_err(run)?;
        let sr = Tensor::from_array(((), vec![16_000i64])).map_err(run)?;
        let outputs = self
            .session
            .run(ort::inputs!["input" => x, "state" => state, "sr" => sr])
            .map_err(run)?;
        let (_, p) = outputs["output"].try_extract_tensor::<f32>().map_err(run)?;
        let (_, s) = outputs["stateN"].try_extract_tensor::<f32>().map_err(run)?;
        if s.len() == self.state.len() {
            self.state.copy_from_slice(s);
        }
        Ok(p.first().copied().unwrap_or(0.0))
    }
}

/// How speech is told from silence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// Probability at which speech starts.
    pub threshold: f32,
    /// Probability under which silence is counted (hysteresis).
    pub neg_threshold: f32,
    /// Silence that ends an utterance. Every millisecond here is caption latency, unless
    /// the caller recognises the utterance speculatively at [`VadEvent::Pause`].
    pub min_silence_ms: u32,
    /// Silence after which [`VadEvent::Pause`] announces the utterance's likely end (at least
    /// `pad_ms`, so the padded end has arrived). Shorter: earlier captions, more work thrown
    /// away at pauses inside a sentence. At `min_silence_ms` or more there is no pause event.
    pub pause_ms: u32,
    /// Shorter bursts (coughs, clicks) are dropped.
    pub min_speech_ms: u32,
    /// Audio kept before and after the detected speech.
    pub pad_ms: u32,
    /// An utterance is cut here even if the speaker goes on (bounded recognition work).
    pub max_utterance_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            neg_threshold: 0.35,
            min_silence_ms: 300,
            pause_ms: 100,
            min_speech_ms: 250,
            pad_ms: 100,
            max_utterance_ms: 20_000,
        }
    }
}

/// What the segmenter saw; positions in samples at 16 kHz from the start of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech started (already padded back by `pad_ms`).
    Start { at: u64 },
    /// The utterance `[start, end)` ended (padded); `end` may lie a little in the future of
    /// what was pushed, callers clamp it.
    End { start: u64, end: u64 },
    /// `pause_ms` of silence in an utterance long enough to keep: if the silence lasts, the
    /// `End` that follows has these very bounds, so the caller can start recognising now
    /// and have the text ready when the end is confirmed.
    Pause { start: u64, end: u64 },
    /// Speech came back after a `Pause`: the utterance goes on, the pause was not its end.
    Resume,
}

/// Turns per-frame probabilities into utterances.
#[derive(Debug, Clone)]
pub struct Segmenter {
    cfg: VadConfig,
    pos: u64,
    start: Option<u64>,
    silence_since: Option<u64>,
    paused: bool,
}

fn ms(n: u32) -> u64 {
    u64::from(n) * 16
}

impl Segmenter {
    pub fn new(cfg: VadConfig) -> Self {
        Self {
            cfg,
            pos: 0,
            start: None,
            silence_since: None,
            paused: false,
        }
    }

    /// Whether an utterance is open.
    pub fn in_speech(&self) -> bool {
        self.start.is_some()
    }

    /// Start of the open utterance.
    pub fn speech_start(&self) -> Option<u64> {
        self.start
    }

    /// Feeds the probability of the next frame of `len` samples.
    pub fn push(&mut self, probability: f32, len: usize) -> Option<VadEvent> {
        let frame_start = self.pos;
        self.pos += len as u64;
        let pad = ms(self.cfg.pad_ms);
        match self.start {
            None => {
                if probability >= self.cfg.threshold {
                    let at = frame_start.saturating_sub(pad);
                    self.start = Some(at);
                    self.silence_since = None;
                    return Some(VadEvent::Start { at });
                }
                None
            }
            Some(start) => {
                if probability >= self.cfg.threshold {
                    self.silence_since = None;
                    if std::mem::take(&mut self.paused) {
                        return Some(VadEvent::Resume);
                    }
                } else if probability < self.cfg.neg_threshold && self.silence_since.is_none() {
                    self.silence_since = Some(frame_start);
                }
                let too_long = self.pos - start >= ms(self.cfg.max_utterance_ms);
                let ended = self
                    .silence_since
                    .filter(|s| self.pos - s >= ms(self.cfg.min_silence_ms));
                if ended.is_none() && !too_long {
                    let pause = ms(self.cfg.pause_ms.max(self.cfg.pad_ms));
                    let silent = self.silence_since.filter(|s| self.pos - s >= pause);
                    if let Some(s) = silent.filter(|_| !self.paused) {
                        if s.saturating_sub(start + pad) >= ms(self.cfg.min_speech_ms) {
                            self.paused = true;
                            return Some(VadEvent::Pause {
                                start,
                                end: s + pad,
                            });
                        }
                    }
                    return None;
                }
                let end = ended.map(|s| s + pad).unwrap_or(self.pos);
                self.start = None;
                self.silence_since = None;
                self.paused = false;
                if too_long && ended.is_none() {
                    // Cut, and go on with a new utterance at once.
                    self.start = Some(self.pos);
                }
                let speech = ended.unwrap_or(self.pos).saturating_sub(start + pad);
                (speech >= ms(self.cfg.min_speech_ms)).then_some(VadEvent::End { start, end })
            }
        }
    }

    /// Ends the stream: an open utterance ends here.
    pub fn finish(&mut self) -> Option<VadEvent> {
        let start = self.start.take()?;
        self.paused = false;
        let end = self.silence_since.take().unwrap_or(self.pos);
        (end.saturating_sub(start) >= ms(self.cfg.min_speech_ms)).then_some(VadEvent::End {
            start,
            end: self.pos.min(end + ms(self.cfg.pad_ms)),
        })
    }
}

/// The utterances of a whole recording as `[start, end)` sample ranges.
pub fn utterances(
    vad: &mut SileroVad,
    samples: &[f32],
    cfg: VadConfig,
) -> Result<Vec<(usize, usize)>, OnnxError> {
    vad.reset();
    let mut seg = Segmenter::new(cfg);
    let mut out = vec![];
    let clamp = |v: u64| (v as usize).min(samples.len());
    for frame in samples.chunks(FRAME) {
        let p = vad.probability(frame)?;
        if let Some(VadEvent::End { start, end }) = seg.push(p, frame.len()) {
            out.push((clamp(start), clamp(end)));
        }
    }
    if let Some(VadEvent::End { start, end }) = seg.finish() {
        out.push((clamp(start), clamp(end)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seg: &mut Segmenter, probs: &[f32]) -> Vec<VadEvent> {
        probs.iter().filter_map(|&p| seg.push(p, FRAME)).collect()
    }

    #[test]
    fn hysteresis_and_padding() {
        let mut s = Segmenter::new(VadConfig::default());
        // 5 silent frames, 20 speech frames (640 ms) with a 0.4 dip that does not end it, then
        // silence: the end comes once 300 ms (10 frames) of silence passed.
        let mut probs = vec![0.1; 5];
        probs.extend(vec![0.9; 10]);
        probs.push(0.4);
        probs.extend(vec![0.9; 9]);
        probs.extend(vec![0.05; 12]);
        let ev = run(&mut s, &probs);
        let f = FRAME as u64;
        let bounds = (5 * f - 1600, 25 * f + 1600);
        assert_eq!(
            ev,
            vec![
                VadEvent::Start { at: bounds.0 },
                // 128 ms (4 frames) into the silence: the likely end, with the same bounds.
                VadEvent::Pause {
                    start: bounds.0,
                    end: bounds.1
                },
                VadEvent::End {
                    start: bounds.0,
                    end: bounds.1
                }
            ]
        );
        assert!(!s.in_speech());
    }

    #[test]
    fn a_pause_inside_a_sentence_resumes() {
        let mut s = Segmenter::new(VadConfig::default());
        let mut probs = vec![0.9; 20];
        probs.extend(vec![0.05; 6]); // 192 ms: a pause, not an end
        probs.extend(vec![0.9; 10]);
        probs.extend(vec![0.05; 12]);
        let ev = run(&mut s, &probs);
        let kinds: Vec<&str> = ev
            .iter()
            .map(|e| match e {
                VadEvent::Start { .. } => "start",
                VadEvent::Pause { .. } => "pause",
                VadEvent::Resume => "resume",
                VadEvent::End { .. } => "end",
            })
            .collect();
        assert_eq!(kinds, ["start", "pause", "resume", "pause", "end"]);
        let (VadEvent::Pause { start, end }, VadEvent::End { start: s2, end: e2 }) = (ev[3], ev[4])
        else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (start, end),
            (s2, e2),
            "the last pause announced the end's bounds"
        );
        // Too little speech before the silence: no pause (its end would be dropped anyway).
        let mut s = Segmenter::new(VadConfig::default());
        let ev = run(&mut s, &[0.9, 0.9, 0.9, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]);
        assert!(
            !ev.iter().any(|e| matches!(e, VadEvent::Pause { .. })),
            "{ev:?}"
        );
    }

    #[test]
    fn short_bursts_dropped_and_long_speech_cut() {
        let cfg = VadConfig {
            max_utterance_ms: 1_000,
            ..Default::default()
        };
        let mut s = Segmenter::new(cfg);
        let mut probs = vec![0.9; 3]; // 96 ms: a click
        probs.extend(vec![0.0; 15]);
        let ev = run(&mut s, &probs);
        assert_eq!(ev.len(), 1, "a start, but no utterance: {ev:?}");
        let ev = run(&mut s, &[0.9; 70]); // 2.2 s of speech: cut twice at 1 s
        let ends = ev
            .iter()
            .filter(|e| matches!(e, VadEvent::End { .. }))
            .count();
        assert_eq!(ends, 2, "{ev:?}");
        assert!(matches!(s.finish(), Some(VadEvent::End { .. })));
    }
}
