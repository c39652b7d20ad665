//! Audio input for recognition: WAV files of any common format, down-mixed to mono and
//! resampled to Whisper's 16 kHz.

use std::path::Path;

use rubato::{FftFixedIn, Resampler};

/// Whisper's input rate.
pub const WHISPER_RATE: u32 = 16_000;

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path} is not a readable WAV file: {reason}")]
    Wav { path: String, reason: String },
    #[error("{0} holds no audio")]
    Empty(String),
    #[error("resampling from {0} Hz failed: {1}")]
    Resample(u32, String),
}

/// Reads a WAV (8/16/24/32-bit integer or 32-bit float, any rate, any channel count) as mono
/// 16 kHz f32 samples.
pub fn read_wav_16k_mono(path: &Path) -> Result<Vec<f32>, AudioError> {
    let err = |reason: String| AudioError::Wav {
        path: path.display().to_string(),
        reason,
    };
    let mut reader = hound::WavReader::open(path).map_err(|e| err(e.to_string()))?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(err("zero channels or sample rate".into()));
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| err(e.to_string()))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?
        }
    };
    let channels = usize::from(spec.channels);
    let mono: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    if mono.is_empty() {
        return Err(AudioError::Empty(path.display().to_string()));
    }
    resample(&mono, spec.sample_rate, WHISPER_RATE)
}

/// Resamples mono audio (FFT resampler; keeps the length in proportion).
pub fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    if from == to {
        return Ok(input.to_vec());
    }
    let fail = |e: String| AudioError::Resample(from, e);
    let chunk = 1024;
    let mut r = FftFixedIn::<f32>::new(from as usize, to as usize, chunk, 2, 1)
        .map_err(|e| fail(e.to_string()))?;
    let delay = r.output_delay();
    let expected = (input.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let mut out = Vec::with_capacity(expected + delay + chunk);
    let mut pos = 0;
    while pos + chunk <= input.len() {
        let block = r
            .process(&[&input[pos..pos + chunk]], None)
            .map_err(|e| fail(e.to_string()))?;
        out.extend_from_slice(&block[0]);
        pos += chunk;
    }
    // The tail, then silence to flush the resampler's delay.
    // (rubato refuses an empty partial block: a length that is a multiple of the chunk.)
    if pos < input.len() {
        let tail = r
            .process_partial(Some(&[&input[pos..]]), None)
            .map_err(|e| fail(e.to_string()))?;
        out.extend_from_slice(&tail[0]);
    }
    while out.len() < expected + delay {
        let flush = r
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| fail(e.to_string()))?;
        if flush[0].is_empty() {
            break;
        }
        out.extend_from_slice(&flush[0]);
    }
    let end = (delay + expected).min(out.len());
    Ok(out[delay.min(end)..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, rate: u32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    /// Zero crossings per second of a tone are twice its frequency, whatever the rate.
    fn crossings_hz(s: &[f32], rate: u32) -> f32 {
        let n = s.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count();
        n as f32 * rate as f32 / s.len() as f32
    }

    #[test]
    fn resampling_keeps_length_and_pitch() {
        let input = tone(440.0, 22_050, 2.0);
        let out = resample(&input, 22_050, WHISPER_RATE).expect("resampled");
        assert!((out.len() as i64 - 32_000).abs() <= 2, "{}", out.len());
        assert!((crossings_hz(&out, WHISPER_RATE) - 440.0).abs() < 3.0);
        // A length that is a whole number of the resampler's blocks (once refused).
        let out = resample(&input[..3 * 1024], 16_000, 48_000).expect("resampled");
        assert_eq!(out.len(), 9 * 1024);
    }

    #[test]
    fn wav_files_of_other_formats_are_converted_and_bad_ones_refused() {
        let dir = std::env::temp_dir().join(format!("visio-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("stereo48k.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).expect("create");
        for s in tone(300.0, 48_000, 1.0) {
            let v = (s * 32767.0) as i16;
            w.write_sample(v).expect("l");
            w.write_sample(v).expect("r");
        }
        w.finalize().expect("finalize");
        let mono = read_wav_16k_mono(&path).expect("read");
        assert!((mono.len() as i64 - 16_000).abs() <= 2);
        assert!((crossings_hz(&mono, WHISPER_RATE) - 300.0).abs() < 3.0);
        let junk = dir.join("junk.wav");
        std::fs::write(&junk, b"RIFF....WAVEjunk").expect("write");
        assert!(matches!(
            read_wav_16k_mono(&junk),
            Err(AudioError::Wav { .. })
        ));
        assert!(read_wav_16k_mono(&dir.join("missing.wav")).is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
