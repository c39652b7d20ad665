//! VP8 and VP9 through libvpx: a real-time encoder (constant bitrate, no lookahead, keyframes
//! on request for PLI/FIR, bitrate following the bandwidth estimate) and a decoder producing
//! [`VideoFrame`]s. VP8 is what this client publishes; VP9 is decoded because the Visio web
//! app publishes it.
//!
//! The only `unsafe` code of the crate lives here, around the libvpx C API.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_long, c_uint, c_ulong};
use std::ptr;

use vpx_sys as ffi;

use crate::frame::VideoFrame;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpxCodec {
    Vp8,
    Vp9,
}

impl VpxCodec {
    fn encoder_iface(self) -> *mut ffi::vpx_codec_iface_t {
        // SAFETY: returns a pointer to a static interface table.
        unsafe {
            match self {
                VpxCodec::Vp8 => ffi::vpx_codec_vp8_cx(),
                VpxCodec::Vp9 => ffi::vpx_codec_vp9_cx(),
            }
        }
    }

    fn decoder_iface(self) -> *mut ffi::vpx_codec_iface_t {
        // SAFETY: as above.
        unsafe {
            match self {
                VpxCodec::Vp8 => ffi::vpx_codec_vp8_dx(),
                VpxCodec::Vp9 => ffi::vpx_codec_vp9_dx(),
            }
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum VpxError {
    #[error("{codec:?}: {call} failed: {message}")]
    Call {
        codec: VpxCodec,
        call: &'static str,
        message: String,
    },
    #[error("{codec:?}: empty packet")]
    EmptyPacket { codec: VpxCodec },
    #[error("{codec:?}: packet of {len} bytes is too large")]
    PacketTooLarge { codec: VpxCodec, len: usize },
    #[error("{codec:?}: decoded image format {format} is not supported")]
    UnsupportedFormat { codec: VpxCodec, format: String },
    #[error("{codec:?}: invalid encoder setting: {reason}")]
    Config { codec: VpxCodec, reason: String },
}

/// libvpx's message for `err`, with the context's detail when it has one.
fn error_message(ctx: *mut ffi::vpx_codec_ctx_t, err: ffi::vpx_codec_err_t) -> String {
    // SAFETY: libvpx returns static or context-owned NUL-terminated strings, or null.
    unsafe {
        let text = ffi::vpx_codec_err_to_string(err);
        let mut message = if text.is_null() {
            format!("{err:?}")
        } else {
            CStr::from_ptr(text).to_string_lossy().into_owned()
        };
        if !ctx.is_null() {
            let detail = ffi::vpx_codec_error_detail(ctx);
            if !detail.is_null() {
                message.push_str(": ");
                message.push_str(&CStr::from_ptr(detail).to_string_lossy());
            }
        }
        message
    }
}

fn check(
    codec: VpxCodec,
    call: &'static str,
    ctx: *mut ffi::vpx_codec_ctx_t,
    err: ffi::vpx_codec_err_t,
) -> Result<(), VpxError> {
    if err == ffi::vpx_codec_err_t::VPX_CODEC_OK {
        Ok(())
    } else {
        Err(VpxError::Call {
            codec,
            call,
            message: error_message(ctx, err),
        })
    }
}

/// A zeroed codec context, the state libvpx expects before `*_init_ver`.
fn zeroed_context() -> Box<ffi::vpx_codec_ctx_t> {
    // SAFETY: every field is a pointer, an integer, a union of pointers, or an enum whose
    // zero value exists (VPX_CODEC_OK).
    Box::new(unsafe { MaybeUninit::zeroed().assume_init() })
}

/// 90 kHz, the RTP video clock: libvpx's rate control reads frame durations in it.
const TIMEBASE_HZ: i64 = 90_000;

/// Encoder settings. [`VpxEncoderConfig::new`] gives libwebrtc's real-time choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpxEncoderConfig {
    pub codec: VpxCodec,
    pub width: u32,
    pub height: u32,
    pub bitrate_bps: u32,
    pub fps: u32,
    /// Encoder threads; 1 leaves the other core to decoding and the UI on small machines.
    pub threads: u32,
    /// At most this many frames between keyframes; receivers ask for others with PLI.
    pub keyframe_interval: u32,
    /// libvpx speed: VP8 takes -16..16 (negative: adaptive), VP9 0..9; higher is faster.
    pub cpu_used: i32,
}

impl VpxEncoderConfig {
    pub fn new(codec: VpxCodec, width: u32, height: u32, bitrate_bps: u32, fps: u32) -> Self {
        Self {
            codec,
            width,
            height,
            bitrate_bps,
            fps,
            threads: 1,
            keyframe_interval: 3000,
            cpu_used: match codec {
                VpxCodec::Vp8 => -6,
                VpxCodec::Vp9 => 7,
            },
        }
    }

    fn validate(&self) -> Result<(), VpxError> {
        let reason =
            if self.width == 0 || self.height == 0 || self.width > 16384 || self.height > 16384 {
                format!("size {}x{}", self.width, self.height)
            } else if self.fps == 0 || self.fps > 240 {
                format!("{} fps", self.fps)
            } else if self.bitrate_bps < 1000 {
                format!("bitrate {} b/s", self.bitrate_bps)
            } else {
                return Ok(());
            };
        Err(VpxError::Config {
            codec: self.codec,
            reason,
        })
    }
}

/// One compressed frame, ready for RTP packetization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    pub data: Vec<u8>,
    pub keyframe: bool,
    pub width: u32,
    pub height: u32,
    /// The capture time of the frame it encodes.
    pub timestamp_us: u64,
}

/// A real-time VP8 or VP9 encoder.
pub struct VpxEncoder {
    config: VpxEncoderConfig,
    ctx: Box<ffi::vpx_codec_ctx_t>,
    /// libvpx keeps a pointer to the configuration: it must stay put while `ctx` lives.
    cfg: Box<ffi::vpx_codec_enc_cfg_t>,
    force_keyframe: bool,
    last_pts: Option<i64>,
}

// SAFETY: the context is owned exclusively and libvpx contexts have no thread affinity;
// `&mut self` on every call keeps use single-threaded.
unsafe impl Send for VpxEncoder {}

impl VpxEncoder {
    pub fn new(config: VpxEncoderConfig) -> Result<Self, VpxError> {
        config.validate()?;
        let codec = config.codec;
        let iface = codec.encoder_iface();
        let mut cfg = Box::new(MaybeUninit::<ffi::vpx_codec_enc_cfg_t>::uninit());
        // SAFETY: `cfg` is valid for writes; libvpx fills every field on success.
        let err = unsafe { ffi::vpx_codec_enc_config_default(iface, cfg.as_mut_ptr(), 0) };
        check(codec, "vpx_codec_enc_config_default", ptr::null_mut(), err)?;
        // SAFETY: initialised by the successful call above.
        let mut cfg: Box<ffi::vpx_codec_enc_cfg_t> =
            unsafe { Box::from_raw(Box::into_raw(cfg).cast()) };
        Self::apply(&config, &mut cfg);

        let mut ctx = zeroed_context();
        // SAFETY: `ctx` and `cfg` are boxed (stable addresses) and outlive the encoder.
        let err = unsafe {
            ffi::vpx_codec_enc_init_ver(
                &mut *ctx,
                iface,
                &*cfg,
                0,
                ffi::VPX_ENCODER_ABI_VERSION as c_int,
            )
        };
        check(codec, "vpx_codec_enc_init", &mut *ctx, err)?;
        let mut encoder = Self {
            config,
            ctx,
            cfg,
            force_keyframe: false,
            last_pts: None,
        };
        encoder.set_controls()?;
        Ok(encoder)
    }

    /// libwebrtc's real-time configuration (`libvpx_vp8_encoder.cc`).
    fn apply(config: &VpxEncoderConfig, cfg: &mut ffi::vpx_codec_enc_cfg_t) {
        cfg.g_w = config.width;
        cfg.g_h = config.height;
        cfg.g_threads = config.threads.max(1);
        cfg.g_timebase = ffi::vpx_rational {
            num: 1,
            den: TIMEBASE_HZ as c_int,
        };
        cfg.g_lag_in_frames = 0; // no lookahead: every frame comes out at once
        cfg.g_error_resilient = 0;
        cfg.g_pass = ffi::vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.rc_end_usage = ffi::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = (config.bitrate_bps / 1000).max(1);
        cfg.rc_dropframe_thresh = 0; // frame counters must arrive complete
        cfg.rc_resize_allowed = 0;
        cfg.rc_min_quantizer = 2;
        cfg.rc_max_quantizer = match config.codec {
            VpxCodec::Vp8 => 56,
            VpxCodec::Vp9 => 52,
        };
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        cfg.kf_mode = ffi::vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_min_dist = 0;
        cfg.kf_max_dist = config.keyframe_interval.max(1);
    }

    fn control(&mut self, id: c_int, value: c_int, name: &'static str) -> Result<(), VpxError> {
        // SAFETY: every control set here takes an int (or unsigned int of the same size).
        let err = unsafe { ffi::vpx_codec_control_(&mut *self.ctx, id, value) };
        check(self.config.codec, name, &mut *self.ctx, err)
    }

    fn set_controls(&mut self) -> Result<(), VpxError> {
        use ffi::vp8e_enc_control_id as id;
        // Keyframes may take this % of a frame's bit budget (libwebrtc's MaxIntraTarget).
        let max_intra_pct = (600 / 2 * self.config.fps / 10).max(300) as c_int;
        self.control(
            id::VP8E_SET_CPUUSED as c_int,
            self.config.cpu_used,
            "VP8E_SET_CPUUSED",
        )?;
        self.control(
            id::VP8E_SET_MAX_INTRA_BITRATE_PCT as c_int,
            max_intra_pct,
            "VP8E_SET_MAX_INTRA_BITRATE_PCT",
        )?;
        match self.config.codec {
            VpxCodec::Vp8 => {
                self.control(
                    id::VP8E_SET_NOISE_SENSITIVITY as c_int,
                    0,
                    "VP8E_SET_NOISE_SENSITIVITY",
                )?;
                self.control(
                    id::VP8E_SET_STATIC_THRESHOLD as c_int,
                    1,
                    "VP8E_SET_STATIC_THRESHOLD",
                )?;
                self.control(
                    id::VP8E_SET_TOKEN_PARTITIONS as c_int,
                    0,
                    "VP8E_SET_TOKEN_PARTITIONS",
                )?;
            }
            VpxCodec::Vp9 => {
                // Cyclic refresh: libwebrtc's choice for real-time VP9.
                self.control(id::VP9E_SET_AQ_MODE as c_int, 3, "VP9E_SET_AQ_MODE")?;
                self.control(id::VP9E_SET_ROW_MT as c_int, 1, "VP9E_SET_ROW_MT")?;
                self.control(
                    id::VP9E_SET_NOISE_SENSITIVITY as c_int,
                    0,
                    "VP9E_SET_NOISE_SENSITIVITY",
                )?;
                let tile_columns = (self.config.threads.max(1).ilog2()) as c_int;
                self.control(
                    id::VP9E_SET_TILE_COLUMNS as c_int,
                    tile_columns,
                    "VP9E_SET_TILE_COLUMNS",
                )?;
            }
        }
        Ok(())
    }

    pub fn config(&self) -> &VpxEncoderConfig {
        &self.config
    }

    /// Makes the next frame a keyframe (a receiver sent PLI or FIR).
    pub fn request_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// Follows the bandwidth estimate; takes effect from the next frame.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), VpxError> {
        let new = VpxEncoderConfig {
            bitrate_bps: bps,
            ..self.config
        };
        new.validate()?;
        self.cfg.rc_target_bitrate = (bps / 1000).max(1);
        // SAFETY: `cfg` is boxed and outlives the context, which keeps a pointer to it.
        let err = unsafe { ffi::vpx_codec_enc_config_set(&mut *self.ctx, &*self.cfg) };
        check(
            self.config.codec,
            "vpx_codec_enc_config_set",
            &mut *self.ctx,
            err,
        )?;
        self.config = new;
        Ok(())
    }

    /// 90 kHz presentation time, strictly increasing as libvpx requires even if the caller's
    /// clock stalls.
    fn next_pts(&mut self, timestamp_us: u64) -> i64 {
        let pts = (i128::from(timestamp_us) * i128::from(TIMEBASE_HZ) / 1_000_000)
            .min(i128::from(i64::MAX / 2)) as i64;
        let pts = match self.last_pts {
            Some(last) if pts <= last => last + 1,
            _ => pts,
        };
        self.last_pts = Some(pts);
        pts
    }

    /// Encodes one frame. Timestamps should advance at the capture rate: rate control reads
    /// frame durations from them. A frame of another size restarts the encoder at that size
    /// (the camera or the simulcast layer changed), which begins with a keyframe.
    pub fn encode(&mut self, frame: &VideoFrame) -> Result<Option<EncodedFrame>, VpxError> {
        if (frame.width(), frame.height()) != (self.config.width, self.config.height) {
            let resized = VpxEncoderConfig {
                width: frame.width(),
                height: frame.height(),
                ..self.config
            };
            *self = Self::new(resized)?;
        }
        let codec = self.config.codec;
        let (w, h) = (frame.width(), frame.height());
        let mut img = MaybeUninit::<ffi::vpx_image_t>::zeroed();
        // SAFETY: `vpx_img_wrap` only fills `img` and computes plane pointers from the luma
        // buffer; the chroma pointers and strides are then set to the frame's own planes,
        // whose sizes `VideoFrame` guarantees. libvpx reads the image (it never writes the
        // input) and copies it before `vpx_codec_encode` returns, as there is no lookahead.
        let img = unsafe {
            let wrapped = ffi::vpx_img_wrap(
                img.as_mut_ptr(),
                ffi::vpx_img_fmt::VPX_IMG_FMT_I420,
                w,
                h,
                1,
                frame.y().as_ptr().cast_mut(),
            );
            if wrapped.is_null() {
                return Err(VpxError::Call {
                    codec,
                    call: "vpx_img_wrap",
                    message: format!("cannot wrap a {w}x{h} image"),
                });
            }
            let mut img = img.assume_init();
            img.planes[0] = frame.y().as_ptr().cast_mut();
            img.planes[1] = frame.u().as_ptr().cast_mut();
            img.planes[2] = frame.v().as_ptr().cast_mut();
            img.stride[0] = w as c_int;
            img.stride[1] = frame.chroma_width() as c_int;
            img.stride[2] = frame.chroma_width() as c_int;
            img
        };
        let pts = self.next_pts(frame.timestamp_us);
        let duration = (TIMEBASE_HZ / i64::from(self.config.fps.max(1))) as c_ulong;
        let flags = if self.force_keyframe {
            ffi::VPX_EFLAG_FORCE_KF as c_long
        } else {
            0
        };
        // SAFETY: `img` points into `frame`, alive for the call; see above.
        let err = unsafe {
            ffi::vpx_codec_encode(
                &mut *self.ctx,
                &img,
                pts,
                duration,
                flags,
                ffi::VPX_DL_REALTIME as c_ulong,
            )
        };
        check(codec, "vpx_codec_encode", &mut *self.ctx, err)?;
        self.force_keyframe = false;

        let mut data = Vec::new();
        let mut keyframe = false;
        let mut iter: ffi::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: iterating the packets of the last encode; each stays valid until the
            // next call on the context, and is copied out at once.
            let pkt = unsafe { ffi::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if pkt.is_null() {
                break;
            }
            // SAFETY: non-null packet from libvpx; `frame` is the active union member for
            // frame packets, and `buf`/`sz` describe a buffer libvpx owns.
            unsafe {
                if (*pkt).kind != ffi::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                    continue;
                }
                let f = (*pkt).data.frame;
                if !f.buf.is_null() && f.sz > 0 {
                    data.extend_from_slice(std::slice::from_raw_parts(
                        f.buf.cast::<u8>(),
                        f.sz as usize,
                    ));
                }
                keyframe |= f.flags & ffi::VPX_FRAME_IS_KEY != 0;
            }
        }
        if data.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedFrame {
            data,
            keyframe,
            width: w,
            height: h,
            timestamp_us: frame.timestamp_us,
        }))
    }
}

impl Drop for VpxEncoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` and is destroyed once.
        unsafe {
            ffi::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// A VP8 or VP9 decoder.
pub struct VpxDecoder {
    codec: VpxCodec,
    ctx: Box<ffi::vpx_codec_ctx_t>,
}

// SAFETY: as for the encoder.
unsafe impl Send for VpxDecoder {}

impl VpxDecoder {
    pub fn new(codec: VpxCodec) -> Result<Self, VpxError> {
        let cfg = ffi::vpx_codec_dec_cfg_t {
            threads: 1,
            w: 0,
            h: 0,
        };
        let mut ctx = zeroed_context();
        // SAFETY: `ctx` is boxed; libvpx copies `cfg` during init.
        let err = unsafe {
            ffi::vpx_codec_dec_init_ver(
                &mut *ctx,
                codec.decoder_iface(),
                &cfg,
                0,
                ffi::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        check(codec, "vpx_codec_dec_init", &mut *ctx, err)?;
        Ok(Self { codec, ctx })
    }

    pub fn codec(&self) -> VpxCodec {
        self.codec
    }

    /// Decodes one whole frame from the network (any bytes: corrupt input is an error, and
    /// a keyframe is needed after one). `Ok(None)` when the data held no frame to show.
    pub fn decode(
        &mut self,
        data: &[u8],
        timestamp_us: u64,
    ) -> Result<Option<VideoFrame>, VpxError> {
        let codec = self.codec;
        if data.is_empty() {
            return Err(VpxError::EmptyPacket { codec });
        }
        let len = c_uint::try_from(data.len()).map_err(|_| VpxError::PacketTooLarge {
            codec,
            len: data.len(),
        })?;
        // SAFETY: `data` is valid for `len` bytes for the duration of the call.
        let err = unsafe {
            ffi::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, ptr::null_mut(), 0)
        };
        check(codec, "vpx_codec_decode", &mut *self.ctx, err)?;
        let mut shown = None;
        let mut iter: ffi::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: iterating the images of the last decode.
            let img = unsafe { ffi::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
            if img.is_null() {
                break;
            }
            // SAFETY: non-null image owned by the decoder, valid until the next decode.
            shown = Some(unsafe { image_to_frame(codec, &*img, timestamp_us) }?);
        }
        Ok(shown)
    }
}

impl Drop for VpxDecoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe {
            ffi::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// Copies a decoded image into an I420 frame. 4:2:2, 4:4:0 and 4:4:4 (VP9 profile 1) are
/// subsampled to 4:2:0; high bit depth (profiles 2 and 3) is refused.
///
/// # Safety
/// `img` must be a valid image returned by libvpx whose planes are readable.
unsafe fn image_to_frame(
    codec: VpxCodec,
    img: &ffi::vpx_image_t,
    timestamp_us: u64,
) -> Result<VideoFrame, VpxError> {
    use ffi::vpx_img_fmt as fmt;
    let unsupported = || VpxError::UnsupportedFormat {
        codec,
        format: format!("{:?} ({} bits)", img.fmt, img.bit_depth),
    };
    match img.fmt {
        fmt::VPX_IMG_FMT_I420
        | fmt::VPX_IMG_FMT_YV12
        | fmt::VPX_IMG_FMT_I422
        | fmt::VPX_IMG_FMT_I444
        | fmt::VPX_IMG_FMT_I440 => {}
        _ => return Err(unsupported()),
    }
    let (w, h) = (img.d_w, img.d_h);
    let (xs, ys) = (img.x_chroma_shift, img.y_chroma_shift);
    if w == 0 || h == 0 || xs > 1 || ys > 1 || img.stride[..3].iter().any(|&s| s <= 0) {
        return Err(unsupported());
    }
    let row = |p: usize, r: usize, cols: usize| {
        // SAFETY: by the caller's promise, plane `p` has rows of `stride[p]` bytes, each with
        // at least `cols` visible bytes; callers stay within the visible rows.
        unsafe { std::slice::from_raw_parts(img.planes[p].add(r * img.stride[p] as usize), cols) }
    };

    let mut y = Vec::with_capacity(w as usize * h as usize);
    for r in 0..h as usize {
        y.extend_from_slice(row(0, r, w as usize));
    }
    let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
    // Source chroma size, to clamp when subsampling odd sizes.
    let (scw, sch) = (
        (w as usize + xs as usize) >> xs,
        (h as usize + ys as usize) >> ys,
    );
    let mut planes = [Vec::with_capacity(cw * ch), Vec::with_capacity(cw * ch)];
    for (plane, p) in planes.iter_mut().zip([1usize, 2]) {
        for cy in 0..ch {
            let sr = ((cy << 1) >> ys).min(sch - 1);
            let src = row(p, sr, scw);
            if xs == 1 {
                plane.extend_from_slice(&src[..cw]);
            } else {
                plane.extend((0..cw).map(|cx| src[(cx << 1).min(scw - 1)]));
            }
        }
    }
    let [u, v] = planes;
    VideoFrame::from_planes(w, h, y, u, v, timestamp_us).map_err(|e| VpxError::UnsupportedFormat {
        codec,
        format: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::psnr_y;
    use crate::convert::{rgb_to_yuv601, scale};
    use crate::pattern::{read_embedded, Layout, SyntheticVideoSource, BANDS_RGB};
    use crate::source::VideoSource;

    const FRAME_US: u64 = 33_333;
    /// An arbitrary Unix time, so timestamps use all 41 bits they need today.
    const START_US: u64 = 1_760_000_000_000_000;

    fn frames(w: u32, h: u32, n: u32) -> Vec<VideoFrame> {
        let mut src = SyntheticVideoSource::new(w, h, 30);
        (0..n)
            .map(|i| {
                src.next_frame(START_US + u64::from(i) * FRAME_US)
                    .ok()
                    .flatten()
                    .expect("synthetic frames never fail")
            })
            .collect()
    }

    /// Encodes and decodes `input`, checking every decoded frame carries its counter and
    /// capture time; returns the encoded frames and the decoded ones.
    fn round_trip(
        codec: VpxCodec,
        input: &[VideoFrame],
        bitrate_bps: u32,
    ) -> (Vec<EncodedFrame>, Vec<VideoFrame>) {
        let (w, h) = (input[0].width(), input[0].height());
        let mut enc =
            VpxEncoder::new(VpxEncoderConfig::new(codec, w, h, bitrate_bps, 30)).expect("encoder");
        let mut dec = VpxDecoder::new(codec).expect("decoder");
        let (mut encoded, mut decoded) = (vec![], vec![]);
        for (i, frame) in input.iter().enumerate() {
            let e = enc
                .encode(frame)
                .expect("encode")
                .expect("no frame dropping");
            let d = dec
                .decode(&e.data, e.timestamp_us)
                .expect("decode")
                .expect("a shown frame");
            assert_eq!(
                (d.width(), d.height(), d.timestamp_us),
                (w, h, frame.timestamp_us)
            );
            assert_eq!(
                read_embedded(&d),
                Some((i as u32, frame.timestamp_us / 1000)),
                "{codec:?} {w}x{h} at {bitrate_bps} b/s, frame {i}"
            );
            encoded.push(e);
            decoded.push(d);
        }
        (encoded, decoded)
    }

    #[test]
    fn vp8_720p_at_1500_kbps_keeps_counters_timestamps_and_colours() {
        let input = frames(1280, 720, 30);
        let (encoded, decoded) = round_trip(VpxCodec::Vp8, &input, 1_500_000);
        assert!(encoded[0].keyframe);
        assert!(encoded[1..].iter().all(|e| !e.keyframe));
        // About one second at 1.5 Mb/s, keyframe included.
        let bytes: usize = encoded.iter().map(|e| e.data.len()).sum();
        assert!((10_000..=280_000).contains(&bytes), "{bytes} bytes");

        let last = decoded.last().expect("frames");
        let psnr = psnr_y(&input[29], last).expect("same size");
        assert!(psnr > 30.0, "PSNR {psnr:.1} dB");
        let layout = Layout::new(1280, 720);
        for band in [0usize, 3, 5, 6] {
            let r = layout.band(band as u32).inner(4);
            let got = last.mean_yuv(r.x0, r.y0, r.x1, r.y1).expect("inside");
            let want = rgb_to_yuv601(BANDS_RGB[band]);
            for c in 0..3 {
                assert!(
                    (got[c] - f64::from(want[c])).abs() < 4.0,
                    "band {band}: {got:?} vs {want:?}"
                );
            }
        }
        let bar = layout.bar(29).inner(4);
        let luma = last
            .mean_yuv(bar.x0, bar.y0, bar.x1, bar.y1)
            .expect("inside")[0];
        assert!(luma > 220.0, "bar luma {luma}");
    }

    #[test]
    fn vp8_simulcast_sizes_keep_the_code() {
        let big = frames(1280, 720, 15);
        for (w, h, bps) in [(640, 360, 500_000), (320, 180, 150_000)] {
            let small: Vec<VideoFrame> = big.iter().map(|f| scale(f, w, h)).collect();
            round_trip(VpxCodec::Vp8, &small, bps);
        }
    }

    #[test]
    fn code_survives_heavy_quantisation() {
        // Noise starves the encoder: it runs at its coarsest quantiser.
        let big = frames(1280, 720, 10);
        let small = add_noise(big.iter().map(|f| scale(f, 320, 180)).collect());
        let (encoded, _) = round_trip(VpxCodec::Vp8, &small, 60_000);
        // At 60 kb/s the ten frames get 2.5 kB; noise makes them need more than that.
        let bytes: usize = encoded.iter().map(|e| e.data.len()).sum();
        assert!(bytes > 2_500, "{bytes} bytes: the encoder was not starved");
    }

    #[test]
    fn vp9_round_trip() {
        let input = frames(640, 360, 10);
        let (encoded, decoded) = round_trip(VpxCodec::Vp9, &input, 800_000);
        assert!(encoded[0].keyframe);
        let psnr = psnr_y(&input[9], &decoded[9]).expect("same size");
        assert!(psnr > 30.0, "PSNR {psnr:.1} dB");
    }

    #[test]
    fn keyframe_on_request_only() {
        let input = frames(320, 180, 12);
        let mut enc = VpxEncoder::new(VpxEncoderConfig::new(VpxCodec::Vp8, 320, 180, 300_000, 30))
            .expect("encoder");
        let mut keys = vec![];
        for (i, f) in input.iter().enumerate() {
            if i == 7 {
                enc.request_keyframe();
            }
            keys.push(enc.encode(f).expect("encode").expect("frame").keyframe);
        }
        let want: Vec<bool> = (0..12).map(|i| i == 0 || i == 7).collect();
        assert_eq!(keys, want);
        // A decoder that joins at the requested keyframe decodes from there.
        let mut late = VpxDecoder::new(VpxCodec::Vp8).expect("decoder");
        enc.request_keyframe();
        let e = enc.encode(&input[0]).expect("encode").expect("frame");
        let d = late.decode(&e.data, 0).expect("decode").expect("shown");
        assert_eq!(read_embedded(&d), Some((0, START_US / 1000)));
    }

    /// Frames with fresh noise each time: unlike the pattern, they use every bit given.
    fn noisy_frames(w: u32, h: u32, n: u32) -> Vec<VideoFrame> {
        add_noise(frames(w, h, n))
    }

    fn add_noise(frames: Vec<VideoFrame>) -> Vec<VideoFrame> {
        let mut seed = 0x2545_f491u32;
        frames
            .into_iter()
            .map(|mut f| {
                for p in f.planes_mut().0.iter_mut() {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    *p = p.saturating_add((seed >> 28) as u8);
                }
                f
            })
            .collect()
    }

    #[test]
    fn bitrate_follows_the_estimate() {
        let input = noisy_frames(640, 360, 60);
        let mut enc = VpxEncoder::new(VpxEncoderConfig::new(
            VpxCodec::Vp8,
            640,
            360,
            1_000_000,
            30,
        ))
        .expect("encoder");
        let mut sizes = vec![];
        for (i, f) in input.iter().enumerate() {
            if i == 30 {
                enc.set_bitrate(150_000).expect("set bitrate");
            }
            sizes.push(enc.encode(f).expect("encode").expect("frame").data.len());
        }
        // Compare steady states, away from the first keyframe and the switch.
        let high: usize = sizes[10..30].iter().sum();
        let low: usize = sizes[40..60].iter().sum();
        // 1 Mb/s and 150 kb/s over 20 frames at 30 fps: 83 kB and 12.5 kB.
        assert!((60_000..=110_000).contains(&high), "high {high} bytes");
        assert!((5_000..=22_000).contains(&low), "low {low} bytes");
        assert_eq!(enc.config().bitrate_bps, 150_000);
        assert!(matches!(enc.set_bitrate(10), Err(VpxError::Config { .. })));
    }

    #[test]
    fn a_new_frame_size_restarts_with_a_keyframe() {
        let mut enc = VpxEncoder::new(VpxEncoderConfig::new(VpxCodec::Vp8, 640, 360, 500_000, 30))
            .expect("encoder");
        let mut dec = VpxDecoder::new(VpxCodec::Vp8).expect("decoder");
        let big = frames(640, 360, 3);
        let small = frames(320, 180, 3);
        for f in big.iter().chain(&small) {
            let e = enc.encode(f).expect("encode").expect("frame");
            let d = dec
                .decode(&e.data, f.timestamp_us)
                .expect("decode")
                .expect("shown");
            assert_eq!((d.width(), d.height()), (f.width(), f.height()));
        }
        assert_eq!((enc.config().width, enc.config().height), (320, 180));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(
            VpxEncoder::new(VpxEncoderConfig::new(VpxCodec::Vp8, 0, 360, 500_000, 30)),
            Err(VpxError::Config { .. })
        ));
        for codec in [VpxCodec::Vp8, VpxCodec::Vp9] {
            let mut dec = VpxDecoder::new(codec).expect("decoder");
            assert_eq!(dec.decode(&[], 0), Err(VpxError::EmptyPacket { codec }));
            let garbage: Vec<u8> = (0..500u32).map(|i| (i * 97 % 251) as u8).collect();
            assert!(
                matches!(dec.decode(&garbage, 0), Err(VpxError::Call { .. })),
                "{codec:?}"
            );
            // A valid stream still decodes after garbage.
            let input = frames(320, 180, 1);
            let mut enc = VpxEncoder::new(VpxEncoderConfig::new(codec, 320, 180, 300_000, 30))
                .expect("encoder");
            let e = enc.encode(&input[0]).expect("encode").expect("frame");
            let d = dec.decode(&e.data, 1).expect("decode").expect("shown");
            assert_eq!(read_embedded(&d), Some((0, START_US / 1000)));
        }
    }

    #[test]
    fn pts_stays_increasing_when_the_clock_stalls() {
        let mut enc = VpxEncoder::new(VpxEncoderConfig::new(VpxCodec::Vp8, 64, 36, 100_000, 30))
            .expect("encoder");
        assert_eq!(enc.next_pts(1_000_000), 90_000);
        assert_eq!(enc.next_pts(1_000_000), 90_001);
        assert_eq!(enc.next_pts(0), 90_002);
        assert_eq!(enc.next_pts(2_000_000), 180_000);
    }
}
