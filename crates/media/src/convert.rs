//! Colour conversion between RGBA (screens, the UI) and I420 (codecs), and I420 scaling
//! (simulcast layers, UI tiles). All conversions use BT.601 limited range, the convention of
//! libwebrtc and libyuv, so colours match what other LiveKit clients show.

use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPlanarImage, YuvPlanarImageMut, YuvRange,
    YuvStandardMatrix,
};

use crate::frame::VideoFrame;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConvertError {
    #[error("RGBA buffer has {got} bytes, {width}x{height} needs {want}")]
    RgbaSize {
        width: u32,
        height: u32,
        got: usize,
        want: usize,
    },
    #[error("frame dimensions {0}x{1} are empty")]
    Empty(u32, u32),
    #[error("colour conversion failed: {0}")]
    Yuv(String),
}

/// One RGB colour in BT.601 limited-range YUV; the reference the test pattern is drawn with.
pub fn rgb_to_yuv601([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
    let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
    let u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
    let v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
    [y, u, v].map(|c| c.round().clamp(0.0, 255.0) as u8)
}

/// Converts tightly packed RGBA (alpha ignored) to an I420 frame.
pub fn rgba_to_i420(
    rgba: &[u8],
    width: u32,
    height: u32,
    timestamp_us: u64,
) -> Result<VideoFrame, ConvertError> {
    if width == 0 || height == 0 {
        return Err(ConvertError::Empty(width, height));
    }
    let want = width as usize * height as usize * 4;
    if rgba.len() != want {
        return Err(ConvertError::RgbaSize {
            width,
            height,
            got: rgba.len(),
            want,
        });
    }
    let mut frame = VideoFrame::new(width, height, timestamp_us);
    let (cw, y_stride) = (frame.chroma_width(), width);
    let (y, u, v) = frame.planes_mut();
    let mut image = YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: cw,
        v_plane: BufferStoreMut::Borrowed(v),
        v_stride: cw,
        width,
        height,
    };
    yuvutils_rs::rgba_to_yuv420(
        &mut image,
        rgba,
        width * 4,
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
        YuvConversionMode::Balanced,
    )
    .map_err(|e| ConvertError::Yuv(e.to_string()))?;
    Ok(frame)
}

/// Converts an I420 frame to tightly packed RGBA with opaque alpha, for display.
pub fn i420_to_rgba(frame: &VideoFrame) -> Result<Vec<u8>, ConvertError> {
    let mut rgba = vec![0u8; frame.width() as usize * frame.height() as usize * 4];
    i420_to_rgba_into(frame, &mut rgba)?;
    Ok(rgba)
}

/// [`i420_to_rgba`] into `rgba` (width × height × 4 bytes), e.g. after a message header.
pub fn i420_to_rgba_into(frame: &VideoFrame, rgba: &mut [u8]) -> Result<(), ConvertError> {
    let (width, height) = (frame.width(), frame.height());
    let image = YuvPlanarImage {
        y_plane: frame.y(),
        y_stride: width,
        u_plane: frame.u(),
        u_stride: frame.chroma_width(),
        v_plane: frame.v(),
        v_stride: frame.chroma_width(),
        width,
        height,
    };
    yuvutils_rs::yuv420_to_rgba(
        &image,
        rgba,
        width * 4,
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
    )
    .map_err(|e| ConvertError::Yuv(e.to_string()))
}

/// Fixed-point precision of the filter weights.
const WEIGHT_BITS: u32 = 14;
const WEIGHT_ONE: i32 = 1 << WEIGHT_BITS;

/// The source pixels and weights that make one destination pixel.
struct Taps {
    first: usize,
    weights: Vec<i32>,
}

/// Filter taps for resampling `src` pixels to `dst`: a tent whose width follows the scale
/// factor, so upscaling is bilinear and downscaling averages every source pixel (no
/// aliasing of the moving bar or the code cells).
fn taps(src: usize, dst: usize) -> Vec<Taps> {
    let scale = src as f64 / dst as f64;
    let radius = scale.max(1.0);
    let last = src as isize - 1;
    (0..dst)
        .map(|i| {
            let centre = (i as f64 + 0.5) * scale - 0.5;
            let lo = (centre - radius).floor() as isize;
            let hi = (centre + radius).ceil() as isize;
            let first = lo.clamp(0, last);
            let end = hi.clamp(0, last);
            let mut weights = vec![0f64; (end - first + 1) as usize];
            for j in lo..=hi {
                let w = 1.0 - (j as f64 - centre).abs() / radius;
                if w > 0.0 {
                    weights[(j.clamp(0, last) - first) as usize] += w;
                }
            }
            // Taps at exactly the tent's ends weigh nothing: drop them.
            let skip = weights.iter().take_while(|w| **w == 0.0).count();
            let keep = weights.len() - weights.iter().rev().take_while(|w| **w == 0.0).count();
            let weights = &weights[skip..keep.max(skip)];
            let first = first + skip as isize;
            let total: f64 = weights.iter().sum();
            let mut fixed: Vec<i32> = weights
                .iter()
                .map(|w| (w / total * f64::from(WEIGHT_ONE)).round() as i32)
                .collect();
            // Rounding must not brighten or darken flat areas: put the remainder on the
            // heaviest tap.
            let error = WEIGHT_ONE - fixed.iter().sum::<i32>();
            if let Some(max) = fixed.iter_mut().max() {
                *max += error;
            }
            Taps {
                first: first as usize,
                weights: fixed,
            }
        })
        .collect()
}

fn round_shift(acc: i32) -> u8 {
    ((acc + (WEIGHT_ONE >> 1)) >> WEIGHT_BITS).clamp(0, 255) as u8
}

/// Resamples one plane, vertically then horizontally. The vertical pass runs over whole
/// contiguous rows (a loop the compiler vectorises) and leaves fewer rows for the horizontal
/// pass, whose taps are padded to one fixed count per output pixel so its inner loop has no
/// variable-length slices: a 720p camera frame scaled for two simulcast layers on every frame
/// was 40 % of `visio join`'s CPU with the horizontal pass first over all 720 source rows.
fn scale_plane(src: &[u8], sw: usize, sh: usize, dst: &mut [u8], dw: usize, dh: usize) {
    let vtaps = taps(sh, dh);
    let mut tmp = vec![0u8; sw * dh];
    let mut acc = vec![0i32; sw];
    for (tmp_row, t) in tmp.chunks_exact_mut(sw).zip(&vtaps) {
        acc.fill(0);
        for (k, &w) in t.weights.iter().enumerate() {
            let row = &src[(t.first + k) * sw..(t.first + k + 1) * sw];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += i32::from(p) * w;
            }
        }
        for (out, &a) in tmp_row.iter_mut().zip(&acc) {
            *out = round_shift(a);
        }
    }
    let htaps = taps(sw, dw);
    let n = htaps
        .iter()
        .map(|t| t.weights.len())
        .max()
        .unwrap_or(1)
        .max(1);
    // Every window starts where `n` pixels fit in the row; its weights sit at their offset.
    let mut firsts = Vec::with_capacity(dw);
    let mut weights = vec![0i32; dw * n];
    for (t, w) in htaps.iter().zip(weights.chunks_exact_mut(n)) {
        let first = t.first.min(sw.saturating_sub(n));
        let offset = t.first - first;
        w[offset..offset + t.weights.len()].copy_from_slice(&t.weights);
        firsts.push(first);
    }
    // A tap count known at compile time lets the compiler unroll the inner loop: halving
    // takes 4 taps, quartering 8.
    match n {
        2 => horizontal::<2>(&tmp, sw, dst, dw, &firsts, &weights),
        3 => horizontal::<3>(&tmp, sw, dst, dw, &firsts, &weights),
        4 => horizontal::<4>(&tmp, sw, dst, dw, &firsts, &weights),
        8 => horizontal::<8>(&tmp, sw, dst, dw, &firsts, &weights),
        _ => horizontal_n(&tmp, sw, dst, dw, &firsts, &weights, n),
    }
}

/// The horizontal pass with `N` taps per output pixel.
fn horizontal<const N: usize>(
    tmp: &[u8],
    sw: usize,
    dst: &mut [u8],
    dw: usize,
    firsts: &[usize],
    weights: &[i32],
) {
    for (tmp_row, dst_row) in tmp.chunks_exact(sw).zip(dst.chunks_exact_mut(dw)) {
        for ((out, &first), w) in dst_row.iter_mut().zip(firsts).zip(weights.chunks_exact(N)) {
            let acc: i32 = tmp_row[first..first + N]
                .iter()
                .zip(&w[..N])
                .map(|(&p, &w)| i32::from(p) * w)
                .sum();
            *out = round_shift(acc);
        }
    }
}

/// The horizontal pass for any other tap count.
fn horizontal_n(
    tmp: &[u8],
    sw: usize,
    dst: &mut [u8],
    dw: usize,
    firsts: &[usize],
    weights: &[i32],
    n: usize,
) {
    for (tmp_row, dst_row) in tmp.chunks_exact(sw).zip(dst.chunks_exact_mut(dw)) {
        for ((out, &first), w) in dst_row.iter_mut().zip(firsts).zip(weights.chunks_exact(n)) {
            let acc: i32 = tmp_row[first..first + n]
                .iter()
                .zip(w)
                .map(|(&p, &w)| i32::from(p) * w)
                .sum();
            *out = round_shift(acc);
        }
    }
}

/// The largest size within `max_w`x`max_h` with the aspect of `w`x`h`, never larger than it,
/// with even sides (I420's chroma halves them); a zero maximum means no limit.
pub fn fit_size(w: u32, h: u32, max_w: u32, max_h: u32) -> (u32, u32) {
    if max_w == 0 || max_h == 0 || (w <= max_w && h <= max_h) {
        return (w, h);
    }
    let k = f64::min(
        f64::from(max_w) / f64::from(w),
        f64::from(max_h) / f64::from(h),
    );
    let even = |v: f64| ((v as u32) & !1).max(2);
    (even(f64::from(w) * k), even(f64::from(h) * k))
}

/// Scales a frame to `width` x `height` (zero is raised to one), keeping its timestamp.
pub fn scale(frame: &VideoFrame, width: u32, height: u32) -> VideoFrame {
    let mut out = VideoFrame::new(width, height, frame.timestamp_us);
    if (out.width(), out.height()) == (frame.width(), frame.height()) {
        return frame.clone();
    }
    let (sw, sh) = (frame.width() as usize, frame.height() as usize);
    let (scw, sch) = (
        frame.chroma_width() as usize,
        frame.chroma_height() as usize,
    );
    let (dw, dh) = (out.width() as usize, out.height() as usize);
    let (dcw, dch) = (out.chroma_width() as usize, out.chroma_height() as usize);
    let (y, u, v) = out.planes_mut();
    scale_plane(frame.y(), sw, sh, y, dw, dh);
    scale_plane(frame.u(), scw, sch, u, dcw, dch);
    scale_plane(frame.v(), scw, sch, v, dcw, dch);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_size_keeps_aspect_even_sides_and_never_enlarges() {
        assert_eq!(fit_size(1280, 720, 320, 320), (320, 180));
        assert_eq!(fit_size(1280, 720, 640, 640), (640, 360));
        assert_eq!(fit_size(320, 180, 140, 140), (140, 78));
        assert_eq!(fit_size(1280, 720, 4000, 4000), (1280, 720));
        assert_eq!(fit_size(1280, 720, 0, 0), (1280, 720), "no limit");
    }
    use crate::analysis::psnr_y;
    use crate::pattern::{self, Layout, BANDS_RGB, BAR_RGB};

    fn pattern_frame(w: u32, h: u32, counter: u32, ts_ms: u64) -> VideoFrame {
        let mut f = VideoFrame::new(w, h, ts_ms * 1000);
        pattern::draw(&mut f, counter, ts_ms);
        f
    }

    fn rgba_at(rgba: &[u8], width: u32, (x, y): (u32, u32)) -> [u8; 3] {
        let i = (y as usize * width as usize + x as usize) * 4;
        [rgba[i], rgba[i + 1], rgba[i + 2]]
    }

    #[test]
    fn reference_colours() {
        assert_eq!(rgb_to_yuv601([0, 0, 0]), [16, 128, 128]);
        assert_eq!(rgb_to_yuv601([255, 255, 255]), [235, 128, 128]);
        assert_eq!(rgb_to_yuv601([0, 0, 255]), [41, 240, 110]);
    }

    #[test]
    fn pattern_to_rgba_shows_the_band_colours() {
        let f = pattern_frame(1280, 720, 5, 1000);
        let rgba = i420_to_rgba(&f).expect("conversion");
        assert_eq!(rgba.len(), 1280 * 720 * 4);
        let layout = Layout::new(1280, 720);
        for (i, want) in BANDS_RGB.iter().enumerate() {
            let got = rgba_at(&rgba, 1280, layout.band(i as u32).centre());
            for c in 0..3 {
                assert!(
                    got[c].abs_diff(want[c]) <= 3,
                    "band {i}: got {got:?}, want {want:?}"
                );
            }
        }
        assert_eq!(rgba_at(&rgba, 1280, layout.bar(5).centre()), BAR_RGB);
        assert!(rgba.chunks_exact(4).all(|p| p[3] == 255));
    }

    #[test]
    fn rgba_round_trip_keeps_the_pattern_and_its_code() {
        let f = pattern_frame(640, 360, 1234, 1_700_000_000_000);
        let rgba = i420_to_rgba(&f).expect("to rgba");
        let back = rgba_to_i420(&rgba, 640, 360, f.timestamp_us).expect("to i420");
        assert_eq!(back.timestamp_us, f.timestamp_us);
        let psnr = psnr_y(&f, &back).expect("same size");
        assert!(psnr > 40.0, "round trip PSNR {psnr:.1} dB");
        assert_eq!(
            pattern::read_embedded(&back),
            Some((1234, 1_700_000_000_000))
        );
    }

    #[test]
    fn rgba_input_is_checked() {
        assert_eq!(
            rgba_to_i420(&[0; 15], 2, 2, 0),
            Err(ConvertError::RgbaSize {
                width: 2,
                height: 2,
                got: 15,
                want: 16
            })
        );
        assert_eq!(rgba_to_i420(&[], 0, 2, 0), Err(ConvertError::Empty(0, 2)));
    }

    #[test]
    fn downscaled_pattern_keeps_code_and_colours() {
        let f = pattern_frame(1280, 720, 42, 9_876_543_210);
        for (w, h) in [(640, 360), (320, 180), (960, 540)] {
            let s = scale(&f, w, h);
            assert_eq!(
                (s.width(), s.height(), s.timestamp_us),
                (w, h, f.timestamp_us)
            );
            assert_eq!(
                pattern::read_embedded(&s),
                Some((42, 9_876_543_210)),
                "{w}x{h}"
            );
            let layout = Layout::new(w, h);
            for (i, rgb) in BANDS_RGB.iter().enumerate() {
                let r = layout.band(i as u32).inner(4);
                let got = s.mean_yuv(r.x0, r.y0, r.x1, r.y1).expect("inside");
                let want = rgb_to_yuv601(*rgb);
                for c in 0..3 {
                    assert!(
                        (got[c] - f64::from(want[c])).abs() < 1.0,
                        "{w}x{h} band {i}: {got:?} vs {want:?}"
                    );
                }
            }
            let bar = layout.bar(42).inner(4);
            let got = s.mean_yuv(bar.x0, bar.y0, bar.x1, bar.y1).expect("inside");
            assert!((got[0] - 235.0).abs() < 1.0, "{w}x{h} bar luma {}", got[0]);
        }
    }

    #[test]
    fn upscale_then_downscale_is_close_to_the_original() {
        let f = pattern_frame(320, 180, 7, 77);
        let up = scale(&f, 1280, 720);
        assert_eq!(pattern::read_embedded(&up), Some((7, 77)));
        let back = scale(&up, 320, 180);
        let psnr = psnr_y(&f, &back).expect("same size");
        assert!(psnr > 30.0, "PSNR {psnr:.1} dB");
    }

    #[test]
    fn same_size_is_a_copy_and_flat_stays_flat() {
        let f = pattern_frame(64, 36, 1, 1);
        assert_eq!(scale(&f, 64, 36), f);
        let mut flat = VideoFrame::new(100, 60, 0);
        flat.planes_mut().0.fill(77);
        let s = scale(&flat, 37, 23);
        assert!(s.y().iter().all(|&p| p == 77));
        assert!(s.u().iter().all(|&p| p == 128));
    }

    #[test]
    fn taps_of_a_halving_are_the_1_3_3_1_filter() {
        let t = taps(8, 4);
        assert_eq!(t[1].first, 1);
        assert_eq!(t[1].weights, vec![2048, 6144, 6144, 2048]);
        // Edge taps fold the outside onto the border pixel.
        assert_eq!(t[0].first, 0);
        assert_eq!(t[0].weights.iter().sum::<i32>(), WEIGHT_ONE);
    }
}
