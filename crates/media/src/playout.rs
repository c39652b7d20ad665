//! Audio out: every remote audio track through its own [`JitterBuffer`], mixed, and played by
//! a cpal output device whose callback is the clock that pulls the mix. Each mixed block is
//! also handed to the echo canceller's [`FarEnd`] just before it is played.
//!
//! [`Playout`] is what the engine holds: [`Playout::push`] from the network side,
//! [`Playout::remove`] when a track goes; the speaker thread calls [`Mixer::mix`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use cpal::traits::DeviceTrait;
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};

use crate::apm::{FarEnd, BLOCK};
use crate::device::{find_audio_device, DeviceError, DeviceKind};
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats};
use crate::microphone::{pick_config, Resampler};
use crate::tone::SAMPLE_RATE;

struct TrackOut {
    jitter: JitterBuffer,
    pcm: VecDeque<i16>,
}

/// The jitter buffers of all remote tracks and their mix.
pub struct Mixer {
    config: JitterConfig,
    tracks: HashMap<String, TrackOut>,
    far_end: Option<FarEnd>,
    /// Samples mixed so far (what the speaker has asked for).
    mixed: u64,
}

impl Mixer {
    pub fn new(config: JitterConfig) -> Self {
        Self {
            config,
            tracks: HashMap::new(),
            far_end: None,
            mixed: 0,
        }
    }

    /// Sends everything mixed from now on to the echo canceller too.
    pub fn set_far_end(&mut self, far_end: Option<FarEnd>) {
        self.far_end = far_end;
    }

    /// One Opus packet of `track` with its extended RTP sequence number.
    pub fn push(&mut self, track: &str, seq: u64, payload: Vec<u8>) {
        if !self.tracks.contains_key(track) {
            match JitterBuffer::new(self.config) {
                Ok(jitter) => {
                    self.tracks.insert(
                        track.to_owned(),
                        TrackOut {
                            jitter,
                            pcm: VecDeque::new(),
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!("no decoder for {track}: {e}");
                    return;
                }
            }
        }
        if let Some(t) = self.tracks.get_mut(track) {
            t.jitter.push(seq, payload);
        }
    }

    pub fn remove(&mut self, track: &str) {
        self.tracks.remove(track);
    }

    pub fn stats(&self, track: &str) -> Option<JitterStats> {
        self.tracks.get(track).map(|t| t.jitter.stats())
    }

    /// Samples mixed since the start.
    pub fn mixed_samples(&self) -> u64 {
        self.mixed
    }

    /// The next `n` samples of the mix (48 kHz mono), saturating rather than wrapping.
    pub fn mix(&mut self, n: usize) -> Vec<i16> {
        let mut acc = vec![0i32; n];
        for t in self.tracks.values_mut() {
            while t.pcm.len() < n {
                t.pcm.extend(t.jitter.pop());
            }
            for (a, s) in acc.iter_mut().zip(t.pcm.drain(..n)) {
                *a += i32::from(s);
            }
        }
        let out: Vec<i16> = acc
            .iter()
            .map(|a| (*a).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16)
            .collect();
        if let Some(f) = &mut self.far_end {
            f.render(&out);
        }
        self.mixed += n as u64;
        out
    }
}

/// The mixer shared by the network side and the speaker, plus the speaker when one is open.
pub struct Playout {
    mixer: Arc<Mutex<Mixer>>,
    speaker: Option<Speaker>,
}

impl Playout {
    /// Opens the output device `id` (`None`: the system default) and starts playing.
    pub fn open(id: Option<&str>, config: JitterConfig) -> Result<Self, DeviceError> {
        let mixer = Arc::new(Mutex::new(Mixer::new(config)));
        let speaker = Speaker::open(id, mixer.clone())?;
        Ok(Self {
            mixer,
            speaker: Some(speaker),
        })
    }

    /// A playout without a device, pulled by the caller (tests, recording).
    pub fn detached(config: JitterConfig) -> Self {
        Self {
            mixer: Arc::new(Mutex::new(Mixer::new(config))),
            speaker: None,
        }
    }

    pub fn mixer(&self) -> Arc<Mutex<Mixer>> {
        self.mixer.clone()
    }

    pub fn push(&self, track: &str, seq: u64, payload: Vec<u8>) {
        if let Ok(mut m) = self.mixer.lock() {
            m.push(track, seq, payload);
        }
    }

    pub fn remove(&self, track: &str) {
        if let Ok(mut m) = self.mixer.lock() {
            m.remove(track);
        }
    }

    pub fn set_far_end(&self, far_end: Option<FarEnd>) {
        if let Ok(mut m) = self.mixer.lock() {
            m.set_far_end(far_end);
        }
    }

    /// The device's name, when playing to one.
    pub fn device_name(&self) -> Option<&str> {
        self.speaker.as_ref().map(|s| s.name.as_str())
    }

    /// Why the device stopped, if it did.
    pub fn failure(&self) -> Option<String> {
        self.speaker
            .as_ref()
            .and_then(|s| s.failed.lock().ok().and_then(|f| f.clone()))
    }
}

/// A cpal output stream on its own thread, pulling from the mixer.
struct Speaker {
    name: String,
    failed: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Speaker {
    fn open(id: Option<&str>, mixer: Arc<Mutex<Mixer>>) -> Result<Self, DeviceError> {
        let device = find_audio_device(DeviceKind::Speaker, id)?;
        let name = device.name().unwrap_or_else(|_| "speaker".into());
        let failed = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let backend = |reason: String| DeviceError::Backend {
            device: format!("speaker {name}"),
            reason,
        };
        let thread = {
            let (failed, stop) = (failed.clone(), stop.clone());
            std::thread::Builder::new()
                .name("speaker".into())
                .spawn(move || run_output(device, mixer, failed, stop, ready_tx))
                .map_err(|e| backend(e.to_string()))?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => {
                let _ = thread.join();
                return Err(backend(reason));
            }
            Err(_) => return Err(backend("playout thread ended".into())),
        }
        Ok(Self {
            name,
            failed,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run_output(
    device: cpal::Device,
    mixer: Arc<Mutex<Mixer>>,
    failed: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    // A 20 ms device buffer keeps the speaker's pulls regular (ALSA's default through the
    // pulse plugin pulled in bursts of several hundred ms, overflowing the jitter buffers);
    // devices refusing it get their default.
    let stream = pick_config(&device, false).and_then(|(config, format)| {
        let build = |config: &StreamConfig| match format {
            SampleFormat::I16 => {
                build_output::<i16>(&device, config, mixer.clone(), failed.clone())
            }
            _ => build_output::<f32>(&device, config, mixer.clone(), failed.clone()),
        };
        let small = StreamConfig {
            buffer_size: cpal::BufferSize::Fixed(config.sample_rate.0 / 50),
            ..config.clone()
        };
        build(&small).or_else(|_| build(&config))
    });
    crate::device::hold_stream(stream, &ready, &stop);
}

fn build_output<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    mixer: Arc<Mutex<Mixer>>,
    failed: Arc<Mutex<Option<String>>>,
) -> Result<cpal::Stream, String>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels.max(1));
    let mut resampler = Resampler::new(SAMPLE_RATE, config.sample_rate.0);
    let mut pending: VecDeque<f32> = VecDeque::new();
    let mut block = Vec::new();
    device
        .build_output_stream(
            config,
            move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
                let frames = data.len() / channels;
                while pending.len() < frames {
                    let mixed = match mixer.lock() {
                        Ok(mut m) => m.mix(BLOCK),
                        Err(_) => vec![0; BLOCK],
                    };
                    let as_f32: Vec<f32> = mixed.iter().map(|s| f32::from(*s) / 32768.0).collect();
                    block.clear();
                    resampler.push(&as_f32, &mut block);
                    pending.extend(block.iter().copied());
                }
                for frame in data.chunks_mut(channels) {
                    let v = pending.pop_front().unwrap_or(0.0);
                    for s in frame {
                        *s = T::from_sample(v);
                    }
                }
            },
            move |e| {
                if let Ok(mut f) = failed.lock() {
                    *f = Some(e.to_string());
                }
            },
            None,
        )
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::dominant_hz;
    use crate::opus_codec::{OpusConfig, OpusEncoder};
    use crate::tone::ToneSource;

    #[test]
    fn two_tracks_are_mixed() {
        let mut mixer = Mixer::new(JitterConfig::default());
        let mut a = (
            ToneSource::new(440.0, 0.3, 20),
            OpusEncoder::new(OpusConfig::default()).expect("enc"),
        );
        let mut b = (
            ToneSource::new(1000.0, 0.3, 20),
            OpusEncoder::new(OpusConfig::default()).expect("enc"),
        );
        let mut out = vec![];
        for i in 0..50u64 {
            let pa = a.1.encode(&a.0.samples(960)).expect("a");
            let pb = b.1.encode(&b.0.samples(960)).expect("b");
            mixer.push("A", i, pa);
            mixer.push("B", 7000 + i, pb);
            out.extend(mixer.mix(480));
            out.extend(mixer.mix(480));
        }
        let tail = &out[out.len() - 24_000..];
        // Both tones are in the mix: removing one's band leaves the other dominant.
        let hz = dominant_hz(tail, SAMPLE_RATE).expect("tone");
        assert!(
            (hz - 440.0).abs() < 5.0 || (hz - 1000.0).abs() < 5.0,
            "{hz}"
        );
        let power = |f: f64| {
            let w = 2.0 * std::f64::consts::PI * f / f64::from(SAMPLE_RATE);
            let (mut re, mut im) = (0.0, 0.0);
            for (k, s) in tail.iter().enumerate() {
                re += f64::from(*s) * (w * k as f64).cos();
                im += f64::from(*s) * (w * k as f64).sin();
            }
            (re * re + im * im).sqrt() / tail.len() as f64
        };
        let (p440, p1000, p700) = (power(440.0), power(1000.0), power(700.0));
        assert!(
            p440 > 20.0 * p700 && p1000 > 20.0 * p700,
            "{p440} {p1000} {p700}"
        );
        assert_eq!(mixer.mixed_samples(), 48_000);
        assert_eq!(mixer.stats("A").map(|s| s.decoded), Some(48));
        mixer.remove("A");
        assert!(mixer.stats("A").is_none());
    }
}
