//! Turning [`PublishOptions`] and [`PlayoutOptions`] into media sources and a speaker.
//!
//! Devices that cannot be opened are not fatal: each is reported (what it was for and why)
//! and the session publishes what it has, as a browser joins with the microphone only when
//! the camera is busy.

use media::{AudioSource, VideoFormat, VideoSource};
use str0m::format::{Codec, PayloadParams};
use str0m::media::Pt;

use crate::{DeviceUse, PlayoutOptions, PublishOptions, VideoCodec};

/// What [`open_sources`] could open.
pub(crate) struct Sources {
    pub video: Option<Box<dyn VideoSource>>,
    pub audio: Option<Box<dyn AudioSource>>,
    /// The audio source is a device (drained as it captures), not a synthetic one.
    pub audio_live: bool,
    pub processor: Option<media::AudioProcessor>,
    pub unavailable: Vec<(DeviceUse, String)>,
}

/// Opens the camera/microphone (or the synthetic pattern/tone, or the WAV file) asked for.
pub(crate) fn open_sources(o: &PublishOptions) -> Sources {
    let mut s = Sources {
        video: None,
        audio: None,
        audio_live: false,
        processor: None,
        unavailable: vec![],
    };
    if o.video {
        if o.fake_devices {
            s.video = Some(Box::new(media::SyntheticVideoSource::new(
                o.width, o.height, o.fps,
            )));
        } else {
            let want = VideoFormat {
                width: o.width,
                height: o.height,
                fps: o.fps,
            };
            match media::CameraSource::open(o.camera.as_deref(), want) {
                Ok(c) => s.video = Some(Box::new(c)),
                Err(e) => s.unavailable.push((DeviceUse::Camera, e.to_string())),
            }
        }
    }
    if o.audio {
        if let Some(path) = &o.wav {
            match media::WavSource::open(path, false) {
                Ok(w) => s.audio = Some(Box::new(w)),
                Err(e) => s.unavailable.push((DeviceUse::Microphone, e.to_string())),
            }
        } else if o.fake_devices {
            s.audio = Some(Box::new(media::ToneSource::a440()));
        } else {
            match media::MicrophoneSource::open(o.microphone.as_deref()) {
                Ok(m) => {
                    s.audio = Some(Box::new(m));
                    s.audio_live = true;
                    if o.audio_processing {
                        match media::AudioProcessor::new(media::ProcessingConfig::default()) {
                            Ok(p) => s.processor = Some(p),
                            Err(e) => tracing::warn!("no echo cancellation: {e}"),
                        }
                    }
                }
                Err(e) => s.unavailable.push((DeviceUse::Microphone, e.to_string())),
            }
        }
    }
    s
}

pub(crate) fn open_playout(o: &PlayoutOptions) -> Result<media::Playout, String> {
    media::Playout::open(o.device.as_deref(), media::JitterConfig::default())
        .map_err(|e| e.to_string())
}

pub(crate) fn codec_kind(c: VideoCodec) -> media::VideoCodecKind {
    match c {
        VideoCodec::Vp8 => media::VideoCodecKind::Vp8,
        VideoCodec::H264 => media::VideoCodecKind::H264,
    }
}

/// The payload type to send `codec` with. For H264, the variant every WebRTC stack decodes:
/// packetization mode 1, constrained baseline (42e01f), preferred over the others offered.
pub(crate) fn video_pt<'a>(
    params: impl Iterator<Item = &'a PayloadParams>,
    codec: VideoCodec,
) -> Option<Pt> {
    let want = match codec {
        VideoCodec::Vp8 => Codec::Vp8,
        VideoCodec::H264 => Codec::H264,
    };
    params
        .filter(|pp| pp.spec().codec == want)
        .max_by_key(|pp| {
            let f = pp.spec().format;
            (
                f.packetization_mode == Some(1),
                f.profile_level_id == Some(0x42e01f),
            )
        })
        .map(|pp| pp.pt())
}
