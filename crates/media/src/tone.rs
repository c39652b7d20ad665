//! The synthetic microphone: a sine tone whose frequency a receiver can check after Opus,
//! the network and the jitter buffer.

use std::f64::consts::PI;

use crate::frame::AudioFrame;
use crate::source::{AudioFormat, AudioSource, SourceError};

/// The WebRTC audio rate: Opus, capture and playout all run at it.
pub const SAMPLE_RATE: u32 = 48_000;

/// A continuous mono sine at 48 kHz, cut into 10 ms or 20 ms frames.
#[derive(Debug, Clone)]
pub struct ToneSource {
    frequency_hz: f64,
    amplitude: f64,
    frame_samples: usize,
    /// Samples produced so far: the phase comes from it, so frames join without clicks
    /// and the tone never drifts.
    position: u64,
}

impl ToneSource {
    /// `amplitude` is a fraction of full scale (clamped to 0..=1); `frame_ms` is 10 or 20
    /// (anything else is taken as 20, the Opus frame size used by WebRTC).
    pub fn new(frequency_hz: f64, amplitude: f64, frame_ms: u32) -> Self {
        let frame_ms = if frame_ms == 10 { 10 } else { 20 };
        Self {
            frequency_hz,
            amplitude: amplitude.clamp(0.0, 1.0),
            frame_samples: (SAMPLE_RATE / 1000 * frame_ms) as usize,
            position: 0,
        }
    }

    /// The conventional test tone: 440 Hz at half scale in 20 ms frames.
    pub fn a440() -> Self {
        Self::new(440.0, 0.5, 20)
    }

    pub fn frequency_hz(&self) -> f64 {
        self.frequency_hz
    }

    /// The next `n` samples of the tone.
    pub fn samples(&mut self, n: usize) -> Vec<i16> {
        let step = 2.0 * PI * self.frequency_hz / f64::from(SAMPLE_RATE);
        let start = self.position;
        self.position += n as u64;
        (0..n as u64)
            .map(|i| {
                // Reduced modulo one period before scaling, so precision does not decay
                // over hours of audio.
                let period = f64::from(SAMPLE_RATE) / self.frequency_hz;
                let k = (start + i) as f64 % period;
                (self.amplitude * 32767.0 * (step * k).sin()).round() as i16
            })
            .collect()
    }
}

impl AudioSource for ToneSource {
    fn format(&self) -> AudioFormat {
        AudioFormat {
            sample_rate: SAMPLE_RATE,
            channels: 1,
            frame_samples: self.frame_samples,
        }
    }

    /// Always has a frame: the caller's pacing decides the rate.
    fn next_frame(&mut self, now_us: u64) -> Result<Option<AudioFrame>, SourceError> {
        Ok(Some(AudioFrame {
            samples: self.samples(self.frame_samples),
            sample_rate: SAMPLE_RATE,
            channels: 1,
            timestamp_us: now_us,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{dominant_hz, rms};

    #[test]
    fn frames_have_the_requested_size_and_time() {
        let mut ten = ToneSource::new(1000.0, 0.5, 10);
        assert_eq!(ten.format().frame_samples, 480);
        let f = ten.next_frame(123).ok().flatten().expect("a frame");
        assert_eq!(
            (f.samples.len(), f.sample_rate, f.channels, f.timestamp_us),
            (480, 48_000, 1, 123)
        );
        assert_eq!(f.duration_us(), 10_000);
        let mut twenty = ToneSource::a440();
        assert_eq!(twenty.format().frame_samples, 960);
        let f = twenty.next_frame(0).ok().flatten().expect("a frame");
        assert_eq!(f.samples.len(), 960);
    }

    #[test]
    fn frames_join_into_one_continuous_tone() {
        let mut framed = ToneSource::new(440.0, 0.5, 10);
        let mut joined = Vec::new();
        for i in 0..100 {
            let f = framed
                .next_frame(i * 10_000)
                .ok()
                .flatten()
                .expect("a frame");
            joined.extend(f.samples);
        }
        let whole = ToneSource::new(440.0, 0.5, 10).samples(48_000);
        assert_eq!(joined, whole);
        let hz = dominant_hz(&joined, SAMPLE_RATE).expect("a tone");
        assert!((hz - 440.0).abs() < 0.5, "{hz}");
        let level = rms(&joined);
        assert!((level - 0.5 / 2f64.sqrt()).abs() < 1e-3, "{level}");
        // Starts at zero phase and peaks at the amplitude.
        assert_eq!(joined[0], 0);
        let peak = joined.iter().copied().max().unwrap_or(0);
        assert!((16_300..=16_384).contains(&peak), "{peak}");
    }

    #[test]
    fn odd_arguments_are_tamed() {
        let mut t = ToneSource::new(440.0, 7.0, 33);
        assert_eq!(t.format().frame_samples, 960);
        assert!(t.samples(48_000).iter().all(|s| s.unsigned_abs() <= 32767));
    }
}
