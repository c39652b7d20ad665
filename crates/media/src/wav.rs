//! A WAV file as microphone: the same [`AudioSource`] as a real one, for demos, tests and
//! feeding known speech to captioning. Any rate and channel count is read (8/16/24/32-bit
//! integer or float) and turned into 48 kHz mono; after the end the file starts again when
//! looping, else the source gives silence (a published track should not vanish mid-call).

use crate::device::DeviceError;
use crate::frame::AudioFrame;
use crate::microphone::Resampler;
use crate::source::{AudioFormat, AudioSource, SourceError};
use crate::tone::SAMPLE_RATE;

/// A decoded WAV file played as 20 ms frames.
pub struct WavSource {
    samples: Vec<i16>,
    position: usize,
    looping: bool,
}

impl WavSource {
    /// Reads the whole file (a file that cannot be read or decoded is a [`DeviceError::File`]).
    pub fn open(path: &std::path::Path, looping: bool) -> Result<Self, DeviceError> {
        let err = |reason: String| DeviceError::File {
            path: path.display().to_string(),
            reason,
        };
        let reader = hound::WavReader::open(path).map_err(|e| err(e.to_string()))?;
        let spec = reader.spec();
        let channels = usize::from(spec.channels.max(1));
        let interleaved: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => reader
                .into_samples::<f32>()
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?,
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
                reader
                    .into_samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect::<Result<_, _>>()
                    .map_err(|e| err(e.to_string()))?
            }
        };
        let mono: Vec<f32> = interleaved
            .chunks(channels)
            .map(|c| c.iter().sum::<f32>() / channels as f32)
            .collect();
        if mono.is_empty() {
            return Err(err("no audio in the file".into()));
        }
        let mut at48 = Vec::with_capacity(mono.len());
        Resampler::new(spec.sample_rate, SAMPLE_RATE).push(&mono, &mut at48);
        Ok(Self {
            samples: at48
                .iter()
                .map(|x| (x.clamp(-1.0, 1.0) * 32767.0) as i16)
                .collect(),
            position: 0,
            looping,
        })
    }

    /// Duration of the file at 48 kHz, in samples.
    pub fn len_samples(&self) -> usize {
        self.samples.len()
    }

    /// Whether the whole file has been played once (and not looping).
    pub fn finished(&self) -> bool {
        !self.looping && self.position >= self.samples.len()
    }
}

impl AudioSource for WavSource {
    fn format(&self) -> AudioFormat {
        AudioFormat {
            sample_rate: SAMPLE_RATE,
            channels: 1,
            frame_samples: 960,
        }
    }

    fn next_frame(&mut self, now_us: u64) -> Result<Option<AudioFrame>, SourceError> {
        let mut samples = Vec::with_capacity(960);
        while samples.len() < 960 {
            if self.position >= self.samples.len() {
                if self.looping {
                    self.position = 0;
                } else {
                    samples.resize(960, 0);
                    break;
                }
            }
            let take = (960 - samples.len()).min(self.samples.len() - self.position);
            samples.extend_from_slice(&self.samples[self.position..self.position + take]);
            self.position += take;
        }
        Ok(Some(AudioFrame {
            samples,
            sample_rate: SAMPLE_RATE,
            channels: 1,
            timestamp_us: now_us,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::dominant_hz;

    #[test]
    fn a_stereo_44k_file_plays_as_48k_mono() {
        let dir = std::env::temp_dir().join(format!("visio-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("tone.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).expect("create");
        for i in 0..44_100 {
            let s = (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / 44_100.0).sin();
            let v = (s * 16_000.0) as i16;
            w.write_sample(v).expect("l");
            w.write_sample(v).expect("r");
        }
        w.finalize().expect("finalize");

        let mut src = WavSource::open(&path, false).expect("open");
        assert!((src.len_samples() as i64 - 48_000).abs() < 5);
        let mut heard = Vec::new();
        for i in 0..60 {
            let f = src.next_frame(i * 20_000).ok().flatten().expect("a frame");
            assert_eq!(f.samples.len(), 960);
            heard.extend(f.samples);
        }
        let hz = dominant_hz(&heard[..48_000], SAMPLE_RATE).expect("tone");
        assert!((hz - 440.0).abs() < 2.0, "{hz}");
        // After the end: silence, and finished.
        assert!(heard[49_000..].iter().all(|&s| s == 0));
        assert!(src.finished());

        let bad = dir.join("not.wav");
        std::fs::write(&bad, b"RIFF garbage").expect("write");
        assert!(matches!(
            WavSource::open(&bad, false),
            Err(DeviceError::File { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
