//! H264 over Cisco's OpenH264 (built from the source the `openh264` crate bundles): decoding
//! what browsers and SDKs publish as H264, and an encoder for publishing it. Bitstreams are
//! Annex B (start codes), as str0m's H264 packetizer and depacketizer use.
//!
//! [`VideoDecoder`] puts libvpx and OpenH264 behind one type so the receiving path picks a
//! decoder by the negotiated codec and nothing else changes.

use openh264::formats::{YUVSlices, YUVSource};

use crate::frame::VideoFrame;
use crate::vpx::{EncodedFrame, VpxCodec, VpxDecoder, VpxError};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum H264Error {
    #[error("openh264: {0}")]
    Codec(String),
    #[error("H264 needs even dimensions, got {0}x{1}")]
    OddSize(u32, u32),
}

fn codec_err(e: openh264::Error) -> H264Error {
    H264Error::Codec(e.to_string())
}

/// An H264 decoder.
pub struct H264Decoder {
    inner: openh264::decoder::Decoder,
}

impl H264Decoder {
    pub fn new() -> Result<Self, H264Error> {
        Ok(Self {
            inner: openh264::decoder::Decoder::new().map_err(codec_err)?,
        })
    }

    /// Decodes one access unit (Annex B). `Ok(None)` while the decoder waits for more
    /// (parameter sets alone, or before the first keyframe).
    pub fn decode(
        &mut self,
        data: &[u8],
        timestamp_us: u64,
    ) -> Result<Option<VideoFrame>, H264Error> {
        let Some(yuv) = self.inner.decode(data).map_err(codec_err)? else {
            return Ok(None);
        };
        let (w, h) = yuv.dimensions();
        let (sy, su, sv) = yuv.strides();
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let copy = |plane: &[u8], stride: usize, width: usize, rows: usize| {
            let mut out = Vec::with_capacity(width * rows);
            for r in 0..rows {
                let line = plane.get(r * stride..r * stride + width).ok_or_else(|| {
                    H264Error::Codec("decoded plane shorter than its size".into())
                })?;
                out.extend_from_slice(line);
            }
            Ok::<_, H264Error>(out)
        };
        let y = copy(yuv.y(), sy, w, h)?;
        let u = copy(yuv.u(), su, cw, ch)?;
        let v = copy(yuv.v(), sv, cw, ch)?;
        VideoFrame::from_planes(w as u32, h as u32, y, u, v, timestamp_us)
            .map(Some)
            .map_err(|e| H264Error::Codec(e.to_string()))
    }
}

/// A real-time H264 encoder (constrained baseline, as WebRTC negotiates).
pub struct H264Encoder {
    inner: openh264::encoder::Encoder,
    bitrate_bps: u32,
    fps: u32,
    force_keyframe: bool,
}

fn encoder(bitrate_bps: u32, fps: u32) -> Result<openh264::encoder::Encoder, H264Error> {
    use openh264::encoder::{BitRate, EncoderConfig, FrameRate, RateControlMode, UsageType};
    let config = EncoderConfig::new()
        .bitrate(BitRate::from_bps(bitrate_bps))
        .max_frame_rate(FrameRate::from_hz(fps.max(1) as f32))
        .usage_type(UsageType::CameraVideoRealTime)
        .rate_control_mode(RateControlMode::Bitrate)
        .skip_frames(false);
    openh264::encoder::Encoder::with_api_config(openh264::OpenH264API::from_source(), config)
        .map_err(codec_err)
}

impl H264Encoder {
    pub fn new(bitrate_bps: u32, fps: u32) -> Result<Self, H264Error> {
        Ok(Self {
            inner: encoder(bitrate_bps, fps)?,
            bitrate_bps,
            fps,
            force_keyframe: true,
        })
    }

    pub fn bitrate_bps(&self) -> u32 {
        self.bitrate_bps
    }

    /// The next frame is a keyframe (answering a PLI/FIR).
    pub fn request_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// Changes the target bitrate. OpenH264's wrapper has no live setter, so the encoder is
    /// rebuilt and starts again with a keyframe: callers change it only on real moves.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), H264Error> {
        self.inner = encoder(bps, self.fps)?;
        self.bitrate_bps = bps;
        self.force_keyframe = true;
        Ok(())
    }

    /// Encodes one frame; `Ok(None)` when the encoder skipped it.
    pub fn encode(&mut self, frame: &VideoFrame) -> Result<Option<EncodedFrame>, H264Error> {
        let (w, h) = (frame.width(), frame.height());
        if w % 2 != 0 || h % 2 != 0 {
            return Err(H264Error::OddSize(w, h));
        }
        let (wu, hu) = (w as usize, h as usize);
        let src = YUVSlices::new(
            (frame.y(), frame.u(), frame.v()),
            (wu, hu),
            (wu, wu / 2, wu / 2),
        );
        let keyframe = std::mem::take(&mut self.force_keyframe);
        if keyframe {
            self.inner.force_intra_frame();
        }
        let bits = self.inner.encode(&src).map_err(codec_err)?;
        let data = bits.to_vec();
        if data.is_empty() {
            return Ok(None);
        }
        let keyframe = keyframe
            || matches!(
                bits.frame_type(),
                openh264::encoder::FrameType::IDR | openh264::encoder::FrameType::I
            );
        Ok(Some(EncodedFrame {
            data,
            keyframe,
            width: w,
            height: h,
            timestamp_us: frame.timestamp_us,
        }))
    }
}

/// Which codec a remote video track uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodecKind {
    Vp8,
    Vp9,
    H264,
}

impl VideoCodecKind {
    /// The lowercase name LiveKit and `visio join --json` use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vp8 => "vp8",
            Self::Vp9 => "vp9",
            Self::H264 => "h264",
        }
    }
}

/// An encoder for the codecs the client publishes: VP8 (the default, with simulcast), VP9,
/// or H264.
#[allow(clippy::large_enum_variant)] // one per simulcast layer: boxing buys nothing
pub enum VideoEncoder {
    Vpx(crate::vpx::VpxEncoder),
    H264(H264Encoder),
}

impl VideoEncoder {
    pub fn new(
        kind: VideoCodecKind,
        width: u32,
        height: u32,
        bitrate_bps: u32,
        fps: u32,
    ) -> Result<Self, String> {
        let vpx = |c| {
            let config = crate::vpx::VpxEncoderConfig::new(c, width, height, bitrate_bps, fps);
            crate::vpx::VpxEncoder::new(config)
                .map(Self::Vpx)
                .map_err(|e| e.to_string())
        };
        match kind {
            VideoCodecKind::Vp8 => vpx(VpxCodec::Vp8),
            VideoCodecKind::Vp9 => vpx(VpxCodec::Vp9),
            VideoCodecKind::H264 => H264Encoder::new(bitrate_bps, fps)
                .map(Self::H264)
                .map_err(|e| e.to_string()),
        }
    }

    pub fn bitrate_bps(&self) -> u32 {
        match self {
            Self::Vpx(e) => e.config().bitrate_bps,
            Self::H264(e) => e.bitrate_bps(),
        }
    }

    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), String> {
        match self {
            Self::Vpx(e) => e.set_bitrate(bps).map_err(|e| e.to_string()),
            Self::H264(e) => e.set_bitrate(bps).map_err(|e| e.to_string()),
        }
    }

    pub fn request_keyframe(&mut self) {
        match self {
            Self::Vpx(e) => e.request_keyframe(),
            Self::H264(e) => e.request_keyframe(),
        }
    }

    /// Encodes one frame; `Ok(None)` when the encoder dropped it.
    pub fn encode(&mut self, frame: &VideoFrame) -> Result<Option<EncodedFrame>, String> {
        match self {
            Self::Vpx(e) => e.encode(frame).map_err(|e| e.to_string()),
            Self::H264(e) => e.encode(frame).map_err(|e| e.to_string()),
        }
    }
}

/// A decoder for any video codec LiveKit rooms carry (AV1 aside).
pub enum VideoDecoder {
    Vpx(VpxDecoder),
    H264(H264Decoder),
}

impl VideoDecoder {
    pub fn new(kind: VideoCodecKind) -> Result<Self, String> {
        match kind {
            VideoCodecKind::Vp8 => VpxDecoder::new(VpxCodec::Vp8).map(Self::Vpx),
            VideoCodecKind::Vp9 => VpxDecoder::new(VpxCodec::Vp9).map(Self::Vpx),
            VideoCodecKind::H264 => {
                return H264Decoder::new()
                    .map(Self::H264)
                    .map_err(|e| e.to_string())
            }
        }
        .map_err(|e: VpxError| e.to_string())
    }

    pub fn kind(&self) -> VideoCodecKind {
        match self {
            Self::Vpx(d) if d.codec() == VpxCodec::Vp9 => VideoCodecKind::Vp9,
            Self::Vpx(_) => VideoCodecKind::Vp8,
            Self::H264(_) => VideoCodecKind::H264,
        }
    }

    /// Decodes one whole frame from the network; `Ok(None)` while waiting for a keyframe.
    pub fn decode(&mut self, data: &[u8], timestamp_us: u64) -> Result<Option<VideoFrame>, String> {
        match self {
            Self::Vpx(d) => d.decode(data, timestamp_us).map_err(|e| e.to_string()),
            Self::H264(d) => d.decode(data, timestamp_us).map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::{read_embedded, SyntheticVideoSource};
    use crate::source::VideoSource;

    #[test]
    fn the_pattern_survives_h264() {
        let mut cam = SyntheticVideoSource::new(640, 360, 30);
        let mut enc = H264Encoder::new(800_000, 30).expect("encoder");
        let mut dec = VideoDecoder::new(VideoCodecKind::H264).expect("decoder");
        let t0 = 1_700_000_000_000_000u64;
        let mut decoded = 0;
        let mut bytes = 0;
        for i in 0..60u64 {
            let f = cam
                .next_frame(t0 + i * 33_333)
                .ok()
                .flatten()
                .expect("frame");
            let Some(p) = enc.encode(&f).expect("encode") else {
                continue;
            };
            assert_eq!(p.keyframe, i == 0, "frame {i}");
            bytes += p.data.len();
            if let Some(shown) = dec.decode(&p.data, p.timestamp_us).expect("decode") {
                assert_eq!((shown.width(), shown.height()), (640, 360));
                let (counter, ts) = read_embedded(&shown).expect("embedded code");
                assert_eq!(u64::from(counter), i);
                assert_eq!(ts, (t0 + i * 33_333) / 1000);
                assert!(crate::psnr_y(&f, &shown).is_some_and(|p| p > 30.0));
                decoded += 1;
            }
        }
        assert!(decoded >= 58, "{decoded}");
        // 800 kb/s over 2 s is 200 kB; allow the first keyframe's cost and rate control slack.
        assert!(bytes < 400_000, "{bytes} bytes");
        enc.request_keyframe();
        let f = cam.next_frame(t0).ok().flatten().expect("frame");
        assert!(enc.encode(&f).expect("encode").is_some_and(|p| p.keyframe));
        // Garbage from the network is an error or nothing, never a panic.
        let _ = dec.decode(&[0, 0, 0, 1, 0x65, 0xff, 0x00], 0);
        assert!(matches!(
            enc.encode(&crate::frame::VideoFrame::new(15, 9, 0)),
            Err(H264Error::OddSize(15, 9))
        ));
        assert_eq!(dec.kind(), VideoCodecKind::H264);
    }
}
