//! The local camera and microphone as the UI sees them outside what the engine publishes: the
//! pre-join preview on the video lane (`local-camera`) and the microphone level (`micLevel`
//! events, ~15 a second).
//!
//! - With the synthetic devices (`--fake-devices`) the preview is the test pattern and the
//!   440 Hz tone; in the meeting the tone's level goes on following the microphone button.
//! - With the machine's devices, the preview opens the chosen camera and microphone (a
//!   missing or busy one is a typed error the pre-join screen explains) and releases them
//!   when the meeting starts, since the engine then owns them.
//! - In the meeting the self view is the engine's ([`engine::RoomEvent::LocalVideoFrame`]:
//!   the camera as it is published, taken from the simulcast layer that fits), not a second
//!   capture here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use media::{AudioSource, DeviceError, VideoFormat, VideoSource};

use crate::video_lane::{VideoLane, LOCAL_CAMERA};

/// Preview size and rate: small, the self view is a small tile.
const PREVIEW: (u32, u32, u32) = (640, 360, 15);

/// The machine's devices opened for the preview, with the ids they were opened with.
#[derive(Default)]
struct Opened {
    camera: Option<(Option<String>, Box<dyn VideoSource>)>,
    mic: Option<(Option<String>, Box<dyn AudioSource>)>,
}

#[derive(Clone)]
pub struct LocalMedia {
    synthetic: bool,
    camera: Arc<AtomicBool>,
    mic: Arc<AtomicBool>,
    opened: Arc<Mutex<Opened>>,
}

impl LocalMedia {
    /// Starts the (idle) producer on the current tokio runtime; `level` receives mic levels.
    /// `synthetic`: the test pattern and tone instead of the machine's devices.
    pub fn start(
        lane: VideoLane,
        synthetic: bool,
        level: impl Fn(f32) + Send + Sync + 'static,
    ) -> LocalMedia {
        let me = LocalMedia {
            synthetic,
            camera: Arc::default(),
            mic: Arc::default(),
            opened: Arc::default(),
        };
        let producer = me.clone();
        tokio::spawn(async move {
            let (w, h, fps) = PREVIEW;
            let source = media::SyntheticVideoSource::new(w, h, fps);
            let mut tone = media::ToneSource::a440();
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / fps as u64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut counter = 0u32;
            let mut was_on = false;
            loop {
                tick.tick().await;
                let now_us = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_micros() as u64)
                    .unwrap_or(0);
                let on = producer.camera.load(Ordering::Relaxed);
                if on {
                    let frame = if producer.synthetic {
                        Some(source.render(counter, now_us))
                    } else {
                        producer.camera_frame(now_us)
                    };
                    if let Some(frame) = frame {
                        lane.push(LOCAL_CAMERA, Arc::new(frame));
                        counter = counter.wrapping_add(1);
                    }
                } else if was_on {
                    lane.clear(LOCAL_CAMERA);
                }
                was_on = on;
                // One level per tick (15 a second) from the samples of that tick.
                if producer.mic.load(Ordering::Relaxed) {
                    let level_now = if producer.synthetic {
                        let samples = tone.samples((media::SAMPLE_RATE / fps) as usize);
                        // Full-scale sine has RMS 0.707: map it to 1.
                        Some((media::rms(&samples) / 0.707).min(1.0) as f32)
                    } else {
                        producer.mic_level(now_us)
                    };
                    if let Some(l) = level_now {
                        level(l);
                    }
                }
            }
        });
        me
    }

    /// Shows the preview of `camera` and the level of `microphone` (`None`: that one off).
    /// With the machine's devices this opens them, which can block: call it off the async
    /// threads. The first device that cannot be opened is the error; the other one still
    /// previews.
    pub fn preview(
        &self,
        camera: Option<Option<String>>,
        microphone: Option<Option<String>>,
    ) -> Result<(), DeviceError> {
        let mut first_error = None;
        if !self.synthetic {
            let Ok(mut opened) = self.opened.lock() else {
                return Ok(());
            };
            match &camera {
                Some(id) if opened.camera.as_ref().map(|c| &c.0) != Some(id) => {
                    opened.camera = None; // Release the old one before opening another.
                    let (w, h, fps) = PREVIEW;
                    let want = VideoFormat {
                        width: w,
                        height: h,
                        fps,
                    };
                    match media::CameraSource::open(id.as_deref(), want) {
                        Ok(c) => opened.camera = Some((id.clone(), Box::new(c))),
                        Err(e) => first_error = Some(e),
                    }
                }
                Some(_) => {}
                None => opened.camera = None,
            }
            match &microphone {
                Some(id) if opened.mic.as_ref().map(|m| &m.0) != Some(id) => {
                    opened.mic = None;
                    match media::MicrophoneSource::open(id.as_deref()) {
                        Ok(m) => opened.mic = Some((id.clone(), Box::new(m))),
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                Some(_) => {}
                None => opened.mic = None,
            }
        }
        self.camera.store(camera.is_some(), Ordering::Relaxed);
        self.mic.store(microphone.is_some(), Ordering::Relaxed);
        first_error.map_or(Ok(()), Err)
    }

    /// In the meeting: the synthetic level follows the microphone; the machine's devices are
    /// released to the engine.
    pub fn in_meeting(&self, mic_on: bool) {
        // The self view now comes from the engine.
        self.camera.store(false, Ordering::Relaxed);
        if self.synthetic {
            self.mic.store(mic_on, Ordering::Relaxed);
        } else {
            self.off();
        }
    }

    /// In the meeting: the synthetic level follows the microphone button.
    pub fn set_mic(&self, on: bool) {
        if self.synthetic {
            self.mic.store(on, Ordering::Relaxed);
        }
    }

    /// Everything off and released.
    pub fn off(&self) {
        self.camera.store(false, Ordering::Relaxed);
        self.mic.store(false, Ordering::Relaxed);
        if let Ok(mut opened) = self.opened.lock() {
            *opened = Opened::default();
        }
    }

    fn camera_frame(&self, now_us: u64) -> Option<media::VideoFrame> {
        let mut opened = self.opened.lock().ok()?;
        let (_, camera) = opened.camera.as_mut()?;
        match camera.next_frame(now_us) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!("camera preview stopped: {e}");
                opened.camera = None;
                None
            }
        }
    }

    /// The level of what the microphone captured since the last tick.
    fn mic_level(&self, now_us: u64) -> Option<f32> {
        let mut opened = self.opened.lock().ok()?;
        let (_, mic) = opened.mic.as_mut()?;
        let mut samples = vec![];
        loop {
            match mic.next_frame(now_us) {
                Ok(Some(f)) => samples.extend_from_slice(&f.samples),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("microphone preview stopped: {e}");
                    opened.mic = None;
                    return Some(0.0);
                }
            }
        }
        // Speech sits far below full scale: RMS 0.2 (loud speech) reads as full.
        (!samples.is_empty()).then(|| (media::rms(&samples) / 0.2).min(1.0) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a camera on the machine (as here and in CI), asking for one is `CameraMissing`
    /// with the id, the microphone request is still served, and turning both off is fine.
    #[tokio::test]
    async fn a_missing_camera_is_a_clear_error_and_nothing_else_breaks() {
        let lane = VideoLane::start().await.expect("lane");
        let media = LocalMedia::start(lane, false, |_| {});
        let m = media.clone();
        let r = tokio::task::spawn_blocking(move || m.preview(Some(Some("57".into())), None))
            .await
            .expect("task");
        assert_eq!(r, Err(DeviceError::CameraMissing(Some("57".into()))));
        let m = media.clone();
        let r = tokio::task::spawn_blocking(move || m.preview(None, None))
            .await
            .expect("task");
        assert_eq!(r, Ok(()));
        media.off();
    }
}
