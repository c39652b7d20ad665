//! # media: what Visio Desktop captures, encodes, decodes and measures
//!
//! Everything between a device and an RTP payload, for the client engine and `visio join`:
//!
//! | module | concern |
//! |---|---|
//! | [`frame`] | [`VideoFrame`] (I420 + timestamp) and [`AudioFrame`] (i16 PCM + timestamp) |
//! | [`source`] | the [`VideoSource`] and [`AudioSource`] traits that cameras (nokhwa), microphones (cpal) and the synthetic sources implement |
//! | [`pattern`] | [`SyntheticVideoSource`]: a moving test pattern carrying a frame counter and capture time, and [`read_embedded`] to read them back after coding |
//! | [`tone`] | [`ToneSource`]: a sine microphone, 48 kHz mono, 10 or 20 ms frames |
//! | [`vpx`] | VP8/VP9 over libvpx: real-time [`VpxEncoder`] (CBR, keyframe on request, bitrate changes) and [`VpxDecoder`] |
//! | [`opus_codec`] | Opus over libopus: [`OpusEncoder`] (48 kHz mono, FEC) and [`OpusDecoder`] (concealment, FEC recovery) |
//! | [`convert`] | RGBA <-> I420 and I420 scaling |
//! | [`device`] | [`list_devices`] for device menus; [`DeviceError`] (camera missing/busy, microphone/speaker missing) |
//! | [`camera`], [`microphone`], [`wav`] | [`CameraSource`] (nokhwa, V4L2), [`MicrophoneSource`] (cpal, 48 kHz mono), [`WavSource`] |
//! | [`jitter`], [`playout`] | per-track [`JitterBuffer`] (reorder, FEC/PLC, bounded latency), [`Mixer`], [`Playout`] on a cpal speaker |
//! | [`apm`] | [`AudioProcessor`]: WebRTC echo cancellation, noise suppression, gain control; [`FarEnd`] fed by the playout |
//! | [`h264`] | OpenH264 [`H264Encoder`]/[`H264Decoder`]; [`VideoEncoder`]/[`VideoDecoder`] over VP8/VP9/H264 |
//! | [`analysis`] | [`dominant_hz`], [`rms`], [`psnr_y`]: what tests and `--json` summaries report |
//!
//! ## Rules the code keeps
//! - **Sans-I/O and deterministic** (device modules aside: they own a thread per device and
//!   hand its data over through a bounded buffer). No clocks, threads or sockets elsewhere: every
//!   timestamp is passed in by the caller (`now_us`, microseconds on the caller's clock,
//!   Unix time when frames cross machines), so the same inputs give the same outputs and tests
//!   need no sleeping.
//! - **One picture format.** Frames are I420, BT.601 limited range, tightly packed, as
//!   libwebrtc and libyuv use, so colours match what other LiveKit clients show.
//! - **External input never panics.** Packets from the network, planes from devices and RGBA
//!   from the UI are checked; failures are typed errors (`VpxError`, `OpusError`,
//!   `ConvertError`, `FrameError`, `SourceError`).
//! - **Pull sources.** The caller's pacing loop asks a source for its next frame; a device
//!   source hands out what its callback buffered, a synthetic one renders on demand.
//!
//! ## The synthetic pattern
//! Top sixth: 3 rows of 32 black/white cells (1/32 of the width each) holding an 8-bit sync
//! marker `0xA5`, the 32-bit frame counter and the 48-bit capture time in milliseconds (both
//! Gray-coded) and a CRC-8 (exact format in [`pattern`]); middle: eight colour bands (white, yellow, cyan, green, magenta, red, blue, black);
//! bottom third: a white bar moving right by 1/60 of its travel per frame over dark grey.
//! [`read_embedded`] reads the code back from a decoded frame after VP8 at simulcast bitrates
//! and after scaling down to 320x180, and returns `None` rather than a wrong value when the
//! code is damaged. [`pattern::Layout`] tells where each element is, for colour checks.
//!
//! ```
//! use media::{read_embedded, SyntheticVideoSource, VideoSource, VpxCodec, VpxDecoder,
//!             VpxEncoder, VpxEncoderConfig};
//!
//! let mut camera = SyntheticVideoSource::new(640, 360, 30);
//! let config = VpxEncoderConfig::new(VpxCodec::Vp8, 640, 360, 600_000, 30);
//! let mut encoder = VpxEncoder::new(config)?;
//! let mut decoder = VpxDecoder::new(VpxCodec::Vp8)?;
//! let frame = camera.next_frame(1_700_000_000_000_000)?.expect("always a frame");
//! let packet = encoder.encode(&frame)?.expect("no frame dropping");
//! let shown = decoder.decode(&packet.data, packet.timestamp_us)?.expect("a frame");
//! assert_eq!(read_embedded(&shown), Some((0, 1_700_000_000_000)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Audio
//! ```
//! use media::{dominant_hz, AudioSource, OpusConfig, OpusDecoder, OpusEncoder, ToneSource};
//!
//! let mut mic = ToneSource::a440(); // 20 ms frames
//! let mut encoder = OpusEncoder::new(OpusConfig::default())?; // 32 kb/s, FEC on
//! let mut decoder = OpusDecoder::new()?;
//! let mut heard = Vec::new();
//! for i in 0..25 {
//!     let frame = mic.next_frame(i * 20_000)?.expect("always a frame");
//!     heard.extend(decoder.decode(&encoder.encode(&frame.samples)?)?);
//! }
//! let hz = dominant_hz(&heard[4800..], 48_000).expect("a tone");
//! assert!((hz - 440.0).abs() < 5.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! A lost packet is rebuilt with [`OpusDecoder::recover`] from the next packet's FEC data, or
//! concealed with [`OpusDecoder::conceal`] when nothing follows yet.
//!
//! ## Building
//! - libvpx comes from the system: Debian/Ubuntu `libvpx-dev` (found with pkg-config;
//!   `env-libvpx-sys` ships bindings for libvpx 1.3 to 1.13). A static link for release
//!   packages: `VPX_LIB_DIR=/usr/lib/x86_64-linux-gnu VPX_VERSION=1.12.0 VPX_STATIC=1`.
//! - libopus is built from source by the `opus` crate (`opusic-sys`), which needs `cmake`.
//! - Colour conversion is pure Rust (`yuvutils-rs`); scaling is our own separable filter.

pub mod analysis;
pub mod apm;
pub mod camera;
pub mod convert;
pub mod device;
pub mod frame;
pub mod h264;
pub mod jitter;
pub mod microphone;
pub mod opus_codec;
pub mod pattern;
pub mod playout;
pub mod source;
pub mod tone;
pub mod vpx;
pub mod wav;

pub use analysis::{dominant_hz, psnr_y, rms};
pub use apm::{AudioProcessor, FarEnd, ProcessingConfig, ProcessingError};
pub use camera::CameraSource;
pub use convert::{fit_size, i420_to_rgba, i420_to_rgba_into, rgba_to_i420, scale, ConvertError};
pub use device::{list_audio, list_cameras, list_devices, DeviceError, DeviceInfo, DeviceKind};
pub use frame::{AudioFrame, FrameError, VideoFrame};
pub use h264::{H264Decoder, H264Encoder, H264Error, VideoCodecKind, VideoDecoder, VideoEncoder};
pub use jitter::{JitterBuffer, JitterConfig, JitterStats};
pub use microphone::MicrophoneSource;
pub use opus_codec::{OpusConfig, OpusDecoder, OpusEncoder, OpusError};
pub use pattern::{read_embedded, SyntheticVideoSource};
pub use playout::{Mixer, Playout};
pub use source::{AudioFormat, AudioSource, SourceError, VideoFormat, VideoSource};
pub use tone::{ToneSource, SAMPLE_RATE};
pub use vpx::{EncodedFrame, VpxCodec, VpxDecoder, VpxEncoder, VpxEncoderConfig, VpxError};
pub use wav::WavSource;
