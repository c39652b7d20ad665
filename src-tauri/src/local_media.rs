//! The local camera and microphone as the UI sees them: the self view / pre-join preview on
//! the video lane (`local-camera`) and the microphone level (`micLevel` events, ~15 a second).
//!
//! No camera or microphone is wired into the engine yet, so both are the synthetic devices
//! the engine publishes (the test pattern and the 440 Hz tone): what the user sees here is
//! what the others receive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::video_lane::{VideoLane, LOCAL_CAMERA};

/// Preview size and rate: small, the self view is a small tile.
const PREVIEW: (u32, u32, u32) = (640, 360, 15);

#[derive(Clone)]
pub struct LocalMedia {
    camera: Arc<AtomicBool>,
    mic: Arc<AtomicBool>,
}

impl LocalMedia {
    /// Starts the (idle) producer on the current tokio runtime; `level` receives mic levels.
    pub fn start(lane: VideoLane, level: impl Fn(f32) + Send + Sync + 'static) -> LocalMedia {
        let me = LocalMedia {
            camera: Arc::default(),
            mic: Arc::default(),
        };
        let (camera, mic) = (me.camera.clone(), me.mic.clone());
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
                let on = camera.load(Ordering::Relaxed);
                if on {
                    let now_us = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_micros() as u64)
                        .unwrap_or(0);
                    lane.push(LOCAL_CAMERA, Arc::new(source.render(counter, now_us)));
                    counter = counter.wrapping_add(1);
                } else if was_on {
                    lane.clear(LOCAL_CAMERA);
                }
                was_on = on;
                // One level per tick (15 a second) from the samples of that tick.
                if mic.load(Ordering::Relaxed) {
                    let samples = tone.samples((media::SAMPLE_RATE / fps) as usize);
                    // Full-scale sine has RMS 0.707: map it to 1.
                    level((media::rms(&samples) / 0.707).min(1.0) as f32);
                }
            }
        });
        me
    }

    pub fn set_camera(&self, on: bool) {
        self.camera.store(on, Ordering::Relaxed);
    }

    pub fn set_mic(&self, on: bool) {
        self.mic.store(on, Ordering::Relaxed);
    }
}
