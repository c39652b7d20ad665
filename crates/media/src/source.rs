//! What a camera or a microphone is to the rest of the client: something polled for its
//! next frame. Real devices (nokhwa, cpal) and the synthetic sources used in tests and demos
//! implement the same traits, so the publishing path cannot tell them apart.

use crate::frame::{AudioFrame, VideoFrame};

/// The nominal shape of a video source, known before the first frame so that encoders and
/// track announcements (width, height, simulcast layers) can be set up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFormat {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// The nominal shape of an audio source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFormat {
    pub sample_rate: u32,
    pub channels: u16,
    /// Samples per channel in each frame (480 for 10 ms at 48 kHz, 960 for 20 ms).
    pub frame_samples: usize,
}

/// Why a source could not deliver.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The device went away (unplugged, taken by another application, permission revoked).
    #[error("media device disconnected: {0}")]
    Disconnected(String),
    /// A finite source (a file) has nothing more.
    #[error("media source ended")]
    Ended,
    #[error("media device error: {0}")]
    Device(String),
}

/// A camera, a screen, or a synthetic picture.
///
/// Pull-based and clock-free: the caller's pacing loop asks for a frame and passes the
/// current time, so sources stay deterministic under test and the caller owns scheduling.
pub trait VideoSource: Send {
    fn format(&self) -> VideoFormat;

    /// The newest frame not yet returned, stamped with `now_us` unless the device gives a
    /// better capture time; `Ok(None)` when nothing new has been captured since the last call.
    fn next_frame(&mut self, now_us: u64) -> Result<Option<VideoFrame>, SourceError>;
}

/// A microphone, a file, or a synthetic tone.
///
/// Same contract as [`VideoSource`]: a device-backed source buffers what its callback
/// captured and hands out whole frames of [`AudioFormat::frame_samples`].
pub trait AudioSource: Send {
    fn format(&self) -> AudioFormat;

    /// The next frame of audio, or `Ok(None)` when less than a frame is buffered.
    fn next_frame(&mut self, now_us: u64) -> Result<Option<AudioFrame>, SourceError>;
}
