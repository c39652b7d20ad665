//! A real microphone through cpal, as an [`AudioSource`] giving 48 kHz mono frames.
//!
//! cpal streams cannot move between threads on every platform, so the stream lives on its
//! own thread; its callback downmixes to mono, converts to 48 kHz when the device runs at
//! another rate and appends to a buffer bounded to one second (a consumer that stalls loses
//! the oldest audio, never grows memory).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use cpal::traits::DeviceTrait;
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};

use crate::device::{find_audio_device, DeviceError, DeviceKind};
use crate::frame::AudioFrame;
use crate::source::{AudioFormat, AudioSource, SourceError};
use crate::tone::SAMPLE_RATE;

/// Most audio kept for a slow consumer.
const MAX_BUFFERED: usize = SAMPLE_RATE as usize;

#[derive(Default)]
struct Captured {
    samples: VecDeque<i16>,
    failed: Option<String>,
}

/// A microphone delivering 20 ms frames at 48 kHz mono.
pub struct MicrophoneSource {
    name: String,
    shared: Arc<Mutex<Captured>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    frame_samples: usize,
}

/// Turns device-rate samples into 48 kHz by linear interpolation, keeping its phase across
/// callbacks so blocks join without clicks.
pub(crate) struct Resampler {
    step: f64,
    pos: f64,
    last: f32,
}

impl Resampler {
    pub(crate) fn new(from_hz: u32, to_hz: u32) -> Self {
        Self {
            step: f64::from(from_hz) / f64::from(to_hz.max(1)),
            pos: 0.0,
            last: 0.0,
        }
    }

    /// Appends the converted `input` to `out`.
    pub(crate) fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if (self.step - 1.0).abs() < 1e-9 {
            out.extend_from_slice(input);
            return;
        }
        // Sample -1 is the previous block's last one.
        let last = self.last;
        let at = |i: isize| if i < 0 { last } else { input[i as usize] };
        let mut pos = self.pos;
        while pos < input.len() as f64 - 1.0 {
            let i = pos.floor();
            let frac = (pos - i) as f32;
            let i = i as isize;
            out.push(at(i) * (1.0 - frac) + at(i + 1) * frac);
            pos += self.step;
        }
        self.pos = pos - input.len() as f64;
        if let Some(&l) = input.last() {
            self.last = l;
        }
    }
}

/// The device configuration to ask for: 48 kHz if offered (mono preferred), else the default.
pub(crate) fn pick_config(
    device: &cpal::Device,
    input: bool,
) -> Result<(StreamConfig, SampleFormat), String> {
    let ranges: Vec<cpal::SupportedStreamConfigRange> = if input {
        device
            .supported_input_configs()
            .map(|r| r.collect())
            .unwrap_or_default()
    } else {
        device
            .supported_output_configs()
            .map(|r| r.collect())
            .unwrap_or_default()
    };
    let good = |f: SampleFormat| matches!(f, SampleFormat::F32 | SampleFormat::I16);
    let rate = cpal::SampleRate(SAMPLE_RATE);
    let mut best: Option<cpal::SupportedStreamConfig> = None;
    for r in ranges {
        if !good(r.sample_format())
            || r.min_sample_rate() > rate
            || r.max_sample_rate() < rate
            || r.channels() == 0
        {
            continue;
        }
        let better = best.as_ref().is_none_or(|b| {
            (r.channels() == 1 && b.channels() != 1)
                || (r.sample_format() == SampleFormat::F32
                    && b.sample_format() != SampleFormat::F32
                    && r.channels() == b.channels())
        });
        if better {
            best = Some(r.with_sample_rate(rate));
        }
    }
    let chosen = match best {
        Some(c) => c,
        None => if input {
            device.default_input_config()
        } else {
            device.default_output_config()
        }
        .map_err(|e| e.to_string())?,
    };
    let format = chosen.sample_format();
    if !good(format) {
        return Err(format!("unsupported sample format {format}"));
    }
    Ok((chosen.config(), format))
}

impl MicrophoneSource {
    /// Opens the microphone `id` (see [`crate::list_audio`]; `None` is the system default).
    pub fn open(id: Option<&str>) -> Result<Self, DeviceError> {
        let device = find_audio_device(DeviceKind::Microphone, id)?;
        let name = device.name().unwrap_or_else(|_| "microphone".into());
        let shared = Arc::new(Mutex::new(Captured::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let backend = |reason: String| DeviceError::Backend {
            device: format!("microphone {name}"),
            reason,
        };
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("microphone".into())
                .spawn(move || run_input(device, shared, stop, ready_tx))
                .map_err(|e| backend(e.to_string()))?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => {
                let _ = thread.join();
                return Err(backend(reason));
            }
            Err(_) => return Err(backend("capture thread ended".into())),
        }
        Ok(Self {
            name,
            shared,
            stop,
            thread: Some(thread),
            frame_samples: 960,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

fn run_input(
    device: cpal::Device,
    shared: Arc<Mutex<Captured>>,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let stream = pick_config(&device, true).and_then(|(config, format)| match format {
        SampleFormat::I16 => build_input::<i16>(&device, &config, shared.clone()),
        _ => build_input::<f32>(&device, &config, shared.clone()),
    });
    crate::device::hold_stream(stream, &ready, &stop);
}

fn build_input<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    shared: Arc<Mutex<Captured>>,
) -> Result<cpal::Stream, String>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let mut resampler = Resampler::new(config.sample_rate.0, SAMPLE_RATE);
    let mut mono = Vec::new();
    let mut out = Vec::new();
    let failed = shared.clone();
    device
        .build_input_stream(
            config,
            move |data: &[T], _: &cpal::InputCallbackInfo| {
                mono.clear();
                mono.extend(data.chunks(channels).map(|c| {
                    c.iter().map(|s| s.to_sample::<f32>()).sum::<f32>() / channels as f32
                }));
                out.clear();
                resampler.push(&mono, &mut out);
                if let Ok(mut s) = shared.lock() {
                    s.samples
                        .extend(out.iter().map(|x| (x.clamp(-1.0, 1.0) * 32767.0) as i16));
                    let excess = s.samples.len().saturating_sub(MAX_BUFFERED);
                    s.samples.drain(..excess);
                }
            },
            move |e| {
                if let Ok(mut s) = failed.lock() {
                    s.failed = Some(e.to_string());
                }
            },
            None,
        )
        .map_err(|e| e.to_string())
}

impl AudioSource for MicrophoneSource {
    fn format(&self) -> AudioFormat {
        AudioFormat {
            sample_rate: SAMPLE_RATE,
            channels: 1,
            frame_samples: self.frame_samples,
        }
    }

    fn next_frame(&mut self, now_us: u64) -> Result<Option<AudioFrame>, SourceError> {
        let mut s = self
            .shared
            .lock()
            .map_err(|_| SourceError::Device("microphone callback panicked".into()))?;
        if let Some(reason) = &s.failed {
            return Err(SourceError::Disconnected(reason.clone()));
        }
        if s.samples.len() < self.frame_samples {
            return Ok(None);
        }
        let samples: Vec<i16> = s.samples.drain(..self.frame_samples).collect();
        Ok(Some(AudioFrame {
            samples,
            sample_rate: SAMPLE_RATE,
            channels: 1,
            timestamp_us: now_us,
        }))
    }
}

impl Drop for MicrophoneSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_the_tone_and_the_length() {
        let input: Vec<f32> = (0..44_100)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 44_100.0).sin() * 0.5)
            .collect();
        let mut r = Resampler::new(44_100, 48_000);
        let mut out = Vec::new();
        for block in input.chunks(441) {
            r.push(block, &mut out);
        }
        assert!((out.len() as i64 - 48_000).abs() < 5, "{}", out.len());
        let pcm: Vec<i16> = out.iter().map(|x| (x * 32767.0) as i16).collect();
        let hz = crate::dominant_hz(&pcm, SAMPLE_RATE).expect("a tone");
        assert!((hz - 440.0).abs() < 2.0, "{hz}");
    }
}
