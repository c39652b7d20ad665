//! Microphone processing with WebRTC's audio processing module (the one browsers use):
//! echo cancellation against what the speaker plays, noise suppression and automatic gain.
//!
//! The module works on 10 ms blocks (480 samples at 48 kHz). The speaker side hands every
//! block it plays to [`FarEnd::render`] (from the playout thread: [`FarEnd`] is a cheap clone
//! sharing the same module), the microphone side runs its frames through
//! [`AudioProcessor::process`] before encoding.

use webrtc_audio_processing as apm;

/// Samples in one processing block (10 ms at 48 kHz).
pub const BLOCK: usize = apm::NUM_SAMPLES_PER_FRAME as usize;

/// Which stages run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingConfig {
    pub echo_cancellation: bool,
    pub noise_suppression: bool,
    pub gain_control: bool,
}

impl Default for ProcessingConfig {
    /// Everything on, as a browser does for a microphone track.
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: true,
            gain_control: true,
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProcessingError {
    #[error("audio processing: {0}")]
    Module(String),
    #[error("{0} samples is not a whole number of 10 ms blocks (480 samples)")]
    BlockSize(usize),
}

/// The microphone side.
pub struct AudioProcessor {
    inner: apm::Processor,
    block: Vec<f32>,
}

/// The speaker side: what is played out, so its echo can be removed from the microphone.
#[derive(Clone)]
pub struct FarEnd {
    inner: apm::Processor,
    block: Vec<f32>,
}

fn to_f32(src: &[i16], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f32::from(*s) / 32768.0;
    }
}

impl AudioProcessor {
    pub fn new(config: ProcessingConfig) -> Result<Self, ProcessingError> {
        let mut inner = apm::Processor::new(&apm::InitializationConfig {
            num_capture_channels: 1,
            num_render_channels: 1,
            ..Default::default()
        })
        .map_err(|e| ProcessingError::Module(e.to_string()))?;
        inner.set_config(apm::Config {
            echo_cancellation: config.echo_cancellation.then_some(apm::EchoCancellation {
                suppression_level: apm::EchoCancellationSuppressionLevel::High,
                // Device and network delays are unknown and move: let the module find them.
                enable_extended_filter: true,
                enable_delay_agnostic: true,
                stream_delay_ms: None,
            }),
            noise_suppression: config.noise_suppression.then_some(apm::NoiseSuppression {
                suppression_level: apm::NoiseSuppressionLevel::High,
            }),
            gain_control: config.gain_control.then_some(apm::GainControl {
                mode: apm::GainControlMode::AdaptiveDigital,
                target_level_dbfs: 3,
                compression_gain_db: 9,
                enable_limiter: true,
            }),
            enable_high_pass_filter: true,
            ..Default::default()
        });
        Ok(Self {
            inner,
            block: vec![0.0; BLOCK],
        })
    }

    /// A handle for the playout side.
    pub fn far_end(&self) -> FarEnd {
        FarEnd {
            inner: self.inner.clone(),
            block: vec![0.0; BLOCK],
        }
    }

    /// Processes microphone audio in place (a multiple of 480 samples: 10 or 20 ms frames).
    pub fn process(&mut self, samples: &mut [i16]) -> Result<(), ProcessingError> {
        if !samples.len().is_multiple_of(BLOCK) {
            return Err(ProcessingError::BlockSize(samples.len()));
        }
        for chunk in samples.chunks_exact_mut(BLOCK) {
            to_f32(chunk, &mut self.block);
            self.inner
                .process_capture_frame(&mut self.block)
                .map_err(|e| ProcessingError::Module(e.to_string()))?;
            for (d, s) in chunk.iter_mut().zip(&self.block) {
                *d = (s.clamp(-1.0, 1.0) * 32767.0) as i16;
            }
        }
        Ok(())
    }

    /// Echo return loss enhancement the module reports, in dB, once it has converged.
    pub fn erle_db(&self) -> Option<f64> {
        self.inner.get_stats().echo_return_loss_enhancement
    }
}

impl FarEnd {
    /// Tells the module what the speaker is about to play (480-sample blocks; a trailing
    /// partial block is ignored).
    pub fn render(&mut self, samples: &[i16]) {
        for chunk in samples.chunks_exact(BLOCK) {
            to_f32(chunk, &mut self.block);
            if let Err(e) = self.inner.process_render_frame(&mut self.block) {
                tracing::debug!("far-end block refused: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::rms;
    use crate::tone::ToneSource;

    /// The far end plays a 440 Hz tone (plus a quieter 1 kHz one, so the signal is not a single
    /// sinusoid); the microphone hears it 30 ms later at 40 % level, and nothing else. After
    /// 3 s of convergence the processed microphone must be far quieter than the raw echo.
    /// Measured here: see the printed figure (`cargo test -p media echo -- --nocapture`).
    #[test]
    fn echo_of_the_far_end_is_removed() {
        let mut ap = AudioProcessor::new(ProcessingConfig {
            echo_cancellation: true,
            noise_suppression: false,
            gain_control: false,
        })
        .expect("apm");
        let mut far = ap.far_end();
        let mut a = ToneSource::new(440.0, 0.3, 10);
        let mut b = ToneSource::new(1000.0, 0.1, 10);
        let delay = 3; // blocks of 10 ms
        let mut history: std::collections::VecDeque<Vec<i16>> = Default::default();
        let (mut raw_tail, mut out_tail) = (vec![], vec![]);
        for i in 0..600 {
            let block: Vec<i16> = a
                .samples(BLOCK)
                .iter()
                .zip(b.samples(BLOCK))
                .map(|(x, y)| x.saturating_add(y))
                .collect();
            far.render(&block);
            history.push_back(block);
            let mut mic: Vec<i16> = if history.len() > delay {
                let old = history.pop_front().unwrap_or_default();
                old.iter().map(|s| (f32::from(*s) * 0.4) as i16).collect()
            } else {
                vec![0; BLOCK]
            };
            let raw = mic.clone();
            ap.process(&mut mic).expect("process");
            if i >= 300 {
                raw_tail.extend(raw);
                out_tail.extend(mic);
            }
        }
        let (r, o) = (rms(&raw_tail), rms(&out_tail).max(1e-6));
        let reduction_db = 20.0 * (r / o).log10();
        println!(
            "echo reduction: {reduction_db:.1} dB (raw rms {r:.4}, processed {o:.5}, module ERLE {:?})",
            ap.erle_db()
        );
        assert!(reduction_db > 20.0, "only {reduction_db:.1} dB");
        assert_eq!(
            ap.process(&mut [0; 100]),
            Err(ProcessingError::BlockSize(100))
        );
    }
}
