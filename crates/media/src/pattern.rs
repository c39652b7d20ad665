//! The synthetic camera: a moving test pattern that carries its own frame counter and capture
//! time, so a receiver can check order, loss and end-to-end latency from decoded pixels alone.
//!
//! Layout, every position a fraction of the frame size so the pattern survives scaling:
//! - top sixth: the code, 3 rows of 32 cells (white 1, black 0), 96 bits read row by row,
//!   most significant bit first: an 8-bit sync marker ([`SYNC`]), the 32-bit frame counter
//!   and the 48-bit capture time in milliseconds, both Gray-coded (`n ^ (n >> 1)`), then a
//!   CRC-8 (polynomial 0x07, initial 0) of those 10 coded bytes, so a garbled frame reads as
//!   `None`, never as a wrong number;
//! - middle half: eight vertical colour bands ([`BANDS_RGB`]);
//! - bottom third: a dark grey zone in which a white bar moves right by 1/60 of its travel
//!   each frame ([`Layout::bar`]).
//!
//! Cells are 1/32 of the width: 40 px at 1280x720, 10 px at 320x180, large enough to stay
//! black or white through VP8 at simulcast bitrates.

use crate::convert::rgb_to_yuv601;
use crate::frame::{VideoFrame, UV_NEUTRAL, Y_BLACK, Y_WHITE};
use crate::source::{SourceError, VideoFormat, VideoSource};

/// Code cells per row.
pub const CODE_COLUMNS: u32 = 32;
/// Rows of code cells.
pub const CODE_ROWS: u32 = 3;
/// A code cell is 1/18 of the height: square cells on 16:9 frames.
const CELL_HEIGHT_DIVISOR: u32 = 18;
/// Marks a frame as carrying a code; its bits also calibrate black and white.
pub const SYNC: u8 = 0xA5;
/// Capture times are carried modulo 2^48 ms (about 8900 years).
pub const TIMESTAMP_MASK_MS: u64 = (1 << 48) - 1;
/// The bar takes this many frames to cross the frame, then starts again at the left.
pub const BAR_PERIOD: u32 = 60;

/// The colour bands, left to right: white, yellow, cyan, green, magenta, red, blue, black.
pub const BANDS_RGB: [[u8; 3]; 8] = [
    [255, 255, 255],
    [255, 255, 0],
    [0, 255, 255],
    [0, 255, 0],
    [255, 0, 255],
    [255, 0, 0],
    [0, 0, 255],
    [0, 0, 0],
];
/// Background of the bar zone.
pub const BAR_ZONE_RGB: [u8; 3] = [64, 64, 64];
/// The moving bar.
pub const BAR_RGB: [u8; 3] = [255, 255, 255];

const CODE_BITS: usize = (CODE_COLUMNS * CODE_ROWS) as usize;
/// Light and dark cells must differ this much in luma for a code to be trusted.
const MIN_CONTRAST: f64 = 48.0;

/// A half-open rectangle of luma pixels, `x0..x1` by `y0..y1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl Rect {
    /// The central part, without `1/divisor` of the size on each side (at least one pixel
    /// kept): where to sample so that edges blurred by coding or scaling do not count.
    pub fn inner(&self, divisor: u32) -> Rect {
        let dx = (self.x1 - self.x0) / divisor;
        let dy = (self.y1 - self.y0) / divisor;
        let mut r = Rect {
            x0: self.x0 + dx,
            y0: self.y0 + dy,
            x1: self.x1 - dx,
            y1: self.y1 - dy,
        };
        if r.x0 >= r.x1 {
            r.x1 = r.x0 + 1;
        }
        if r.y0 >= r.y1 {
            r.y1 = r.y0 + 1;
        }
        r
    }

    pub fn centre(&self) -> (u32, u32) {
        ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)
    }
}

/// Where each element of the pattern sits in a frame of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
}

impl Layout {
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// `total * num / den` without overflow.
    fn frac(total: u32, num: u32, den: u32) -> u32 {
        (u64::from(total) * u64::from(num) / u64::from(den)) as u32
    }

    /// Code cell `index` (0..96), row by row.
    pub fn code_cell(&self, index: u32) -> Rect {
        let (col, row) = (index % CODE_COLUMNS, index / CODE_COLUMNS);
        Rect {
            x0: Self::frac(self.width, col, CODE_COLUMNS),
            x1: Self::frac(self.width, col + 1, CODE_COLUMNS),
            y0: Self::frac(self.height, row, CELL_HEIGHT_DIVISOR),
            y1: Self::frac(self.height, row + 1, CELL_HEIGHT_DIVISOR),
        }
    }

    /// Colour band `index` (0..8).
    pub fn band(&self, index: u32) -> Rect {
        let n = BANDS_RGB.len() as u32;
        Rect {
            x0: Self::frac(self.width, index, n),
            x1: Self::frac(self.width, index + 1, n),
            y0: Self::frac(self.height, CODE_ROWS, CELL_HEIGHT_DIVISOR),
            y1: Self::frac(self.height, 2, 3),
        }
    }

    /// The zone the bar moves in.
    pub fn bar_zone(&self) -> Rect {
        Rect {
            x0: 0,
            x1: self.width,
            y0: Self::frac(self.height, 2, 3),
            y1: self.height,
        }
    }

    /// The bar in frame `counter`: 1/16 of the width, moving right by 1/[`BAR_PERIOD`] of
    /// its travel each frame.
    pub fn bar(&self, counter: u32) -> Rect {
        let bar_width = (self.width / 16).max(1);
        let travel = self.width.saturating_sub(bar_width);
        let x0 = Self::frac(travel, counter % BAR_PERIOD, BAR_PERIOD);
        Rect {
            x0,
            x1: x0 + bar_width,
            ..self.bar_zone()
        }
    }
}

/// Fills a rectangle of luma pixels, and the chroma samples it covers, with one colour.
fn paint(frame: &mut VideoFrame, r: Rect, [y, u, v]: [u8; 3]) {
    let (w, h) = (frame.width(), frame.height());
    let (cw, ch) = (frame.chroma_width(), frame.chroma_height());
    let (x0, x1, y0, y1) = (r.x0.min(w), r.x1.min(w), r.y0.min(h), r.y1.min(h));
    let (cx0, cx1) = ((x0 / 2).min(cw), x1.div_ceil(2).min(cw));
    let (cy0, cy1) = ((y0 / 2).min(ch), y1.div_ceil(2).min(ch));
    let (yp, up, vp) = frame.planes_mut();
    for row in y0..y1 {
        let start = (row * w) as usize;
        yp[start + x0 as usize..start + x1 as usize].fill(y);
    }
    for row in cy0..cy1 {
        let start = (row * cw) as usize;
        up[start + cx0 as usize..start + cx1 as usize].fill(u);
        vp[start + cx0 as usize..start + cx1 as usize].fill(v);
    }
}

/// CRC-8 (polynomial 0x07), enough to reject a frame whose code was damaged.
fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in bytes {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Gray code: consecutive values differ in one bit, so from one frame to the next a single
/// counter cell changes. Real-time encoders skip blocks whose change looks small (libvpx VP9
/// misses a black and a white cell trading places); fewer changing cells, fewer misses.
fn gray(n: u64) -> u64 {
    n ^ (n >> 1)
}

fn from_gray(mut g: u64) -> u64 {
    let mut shift = 1;
    while shift < 64 {
        g ^= g >> shift;
        shift <<= 1;
    }
    g
}

/// The Gray-coded counter and timestamp bytes, as drawn and as the CRC covers them.
fn payload(counter: u32, ts_ms: u64) -> [u8; 10] {
    let mut p = [0u8; 10];
    p[..4].copy_from_slice(&(gray(u64::from(counter)) as u32).to_be_bytes());
    p[4..].copy_from_slice(&gray(ts_ms & TIMESTAMP_MASK_MS).to_be_bytes()[2..]);
    p
}

/// The 96 code bits, most significant first in each field.
fn code_bits(counter: u32, ts_ms: u64) -> [bool; CODE_BITS] {
    let mut bytes = [0u8; 12];
    bytes[0] = SYNC;
    let p = payload(counter, ts_ms);
    bytes[1..11].copy_from_slice(&p);
    bytes[11] = crc8(&p);
    let mut bits = [false; CODE_BITS];
    for (i, bit) in bits.iter_mut().enumerate() {
        *bit = bytes[i / 8] & (0x80 >> (i % 8)) != 0;
    }
    bits
}

/// Writes the code for `counter` and `ts_ms` (taken modulo 2^48) into the top of `frame`.
pub fn embed(frame: &mut VideoFrame, counter: u32, ts_ms: u64) {
    let layout = Layout::new(frame.width(), frame.height());
    for (i, bit) in code_bits(counter, ts_ms).into_iter().enumerate() {
        let y = if bit { Y_WHITE } else { Y_BLACK };
        paint(
            frame,
            layout.code_cell(i as u32),
            [y, UV_NEUTRAL, UV_NEUTRAL],
        );
    }
}

/// Draws the whole pattern for frame `counter` captured at `ts_ms`.
pub fn draw(frame: &mut VideoFrame, counter: u32, ts_ms: u64) {
    let layout = Layout::new(frame.width(), frame.height());
    for (i, rgb) in BANDS_RGB.iter().enumerate() {
        paint(frame, layout.band(i as u32), rgb_to_yuv601(*rgb));
    }
    paint(frame, layout.bar_zone(), rgb_to_yuv601(BAR_ZONE_RGB));
    paint(frame, layout.bar(counter), rgb_to_yuv601(BAR_RGB));
    embed(frame, counter, ts_ms);
}

/// Reads back `(counter, capture time in ms)` from a frame drawn by [`draw`] or [`embed`],
/// after any lossy coding or scaling that keeps cells recognisable. `None` when the frame
/// carries no code or the code is damaged.
pub fn read_embedded(frame: &VideoFrame) -> Option<(u32, u64)> {
    // Below two pixels per cell nothing reliable is left.
    if frame.width() < CODE_COLUMNS * 2 || frame.height() < CELL_HEIGHT_DIVISOR * 2 {
        return None;
    }
    let layout = Layout::new(frame.width(), frame.height());
    let mut levels = [0f64; CODE_BITS];
    for (i, level) in levels.iter_mut().enumerate() {
        let r = layout.code_cell(i as u32).inner(4);
        *level = frame.mean_yuv(r.x0, r.y0, r.x1, r.y1)?[0];
    }
    // Calibrate on the sync marker rather than trusting fixed levels: decoders and scalers
    // shift brightness a little.
    let (mut light, mut dark) = ((0.0, 0), (0.0, 0));
    for (i, level) in levels.iter().take(8).enumerate() {
        if SYNC & (0x80 >> i) != 0 {
            light = (light.0 + level, light.1 + 1);
        } else {
            dark = (dark.0 + level, dark.1 + 1);
        }
    }
    let (light, dark) = (light.0 / f64::from(light.1), dark.0 / f64::from(dark.1));
    if light - dark < MIN_CONTRAST {
        return None;
    }
    let threshold = (light + dark) / 2.0;
    let mut bytes = [0u8; 12];
    for (i, level) in levels.iter().enumerate() {
        if *level > threshold {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
    }
    if bytes[0] != SYNC || crc8(&bytes[1..11]) != bytes[11] {
        return None;
    }
    let counter = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let mut ts = [0u8; 8];
    ts[2..].copy_from_slice(&bytes[5..11]);
    Some((
        from_gray(u64::from(counter)) as u32,
        from_gray(u64::from_be_bytes(ts)),
    ))
}

/// A stand-in camera producing the pattern, one frame per call, counting from 0.
#[derive(Debug, Clone)]
pub struct SyntheticVideoSource {
    format: VideoFormat,
    counter: u32,
}

impl SyntheticVideoSource {
    pub fn new(width: u32, height: u32, fps: u32) -> Self {
        Self {
            format: VideoFormat {
                width: width.max(1),
                height: height.max(1),
                fps,
            },
            counter: 0,
        }
    }

    /// The counter the next frame will carry.
    pub fn next_counter(&self) -> u32 {
        self.counter
    }

    /// Frame `counter` captured at `now_us`, without advancing the source.
    pub fn render(&self, counter: u32, now_us: u64) -> VideoFrame {
        let mut frame = VideoFrame::new(self.format.width, self.format.height, now_us);
        draw(&mut frame, counter, now_us / 1000);
        frame
    }
}

impl VideoSource for SyntheticVideoSource {
    fn format(&self) -> VideoFormat {
        self.format
    }

    /// Always has a frame: the caller's pacing decides the frame rate.
    fn next_frame(&mut self, now_us: u64) -> Result<Option<VideoFrame>, SourceError> {
        let frame = self.render(self.counter, now_us);
        self.counter = self.counter.wrapping_add(1);
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_colour(frame: &VideoFrame, r: Rect, rgb: [u8; 3], tolerance: f64) {
        let inner = r.inner(4);
        let got = frame
            .mean_yuv(inner.x0, inner.y0, inner.x1, inner.y1)
            .expect("rectangle inside the frame");
        let want = rgb_to_yuv601(rgb);
        for c in 0..3 {
            assert!(
                (got[c] - f64::from(want[c])).abs() <= tolerance,
                "rect {r:?}: got {got:?}, want {want:?} (rgb {rgb:?})"
            );
        }
    }

    #[test]
    fn reads_back_what_was_drawn_including_extremes() {
        for (counter, ts) in [
            (0u32, 0u64),
            (1, 1_700_000_000_123),
            (u32::MAX, TIMESTAMP_MASK_MS),
            (0x5555_AAAA, 0x0000_8000_0000_0001),
        ] {
            let mut f = VideoFrame::new(1280, 720, 0);
            draw(&mut f, counter, ts);
            assert_eq!(read_embedded(&f), Some((counter, ts)), "{counter} {ts}");
        }
    }

    #[test]
    fn timestamp_is_carried_modulo_2_pow_48() {
        let mut f = VideoFrame::new(640, 360, 0);
        draw(&mut f, 3, (1 << 48) + 42);
        assert_eq!(read_embedded(&f), Some((3, 42)));
    }

    #[test]
    fn bands_and_bar_have_their_colours() {
        let mut f = VideoFrame::new(1280, 720, 0);
        draw(&mut f, 10, 0);
        let layout = Layout::new(1280, 720);
        for (i, rgb) in BANDS_RGB.iter().enumerate() {
            assert_colour(&f, layout.band(i as u32), *rgb, 0.0);
        }
        assert_eq!(rgb_to_yuv601(BANDS_RGB[0]), [235, 128, 128]);
        assert_eq!(rgb_to_yuv601(BANDS_RGB[5]), [81, 90, 240]);
        let bar = layout.bar(10);
        assert_eq!((bar.x0, bar.x1), (200, 280));
        assert_colour(&f, bar, BAR_RGB, 0.0);
        // Where the bar was 30 frames earlier is background now.
        assert_colour(&f, layout.bar(40), BAR_ZONE_RGB, 0.0);
    }

    #[test]
    fn bar_moves_across_and_wraps() {
        let layout = Layout::new(1280, 720);
        assert_eq!(layout.bar(0).x0, 0);
        assert_eq!(layout.bar(59).x1, 1280 - 20);
        assert_eq!(layout.bar(60), layout.bar(0));
        assert!(layout.bar(1).x0 > layout.bar(0).x0);
    }

    #[test]
    fn damaged_or_missing_codes_read_as_none() {
        assert_eq!(read_embedded(&VideoFrame::new(1280, 720, 0)), None);
        assert_eq!(read_embedded(&VideoFrame::new(40, 20, 0)), None);

        let mut f = VideoFrame::new(1280, 720, 0);
        draw(&mut f, 77, 123_456);
        // Flip one counter bit: the CRC no longer matches.
        let cell = Layout::new(1280, 720).code_cell(20);
        let flipped = if f.luma_at(cell.x0, cell.y0) == Some(Y_WHITE) {
            Y_BLACK
        } else {
            Y_WHITE
        };
        paint(&mut f, cell, [flipped, UV_NEUTRAL, UV_NEUTRAL]);
        assert_eq!(read_embedded(&f), None);
    }

    #[test]
    fn source_counts_frames_and_stamps_the_given_time() {
        let mut src = SyntheticVideoSource::new(320, 180, 30);
        assert_eq!(
            src.format(),
            VideoFormat {
                width: 320,
                height: 180,
                fps: 30
            }
        );
        for i in 0..3u32 {
            let now_us = 5_000_000 + u64::from(i) * 33_333;
            let f = src.next_frame(now_us).ok().flatten().expect("a frame");
            assert_eq!((f.width(), f.height(), f.timestamp_us), (320, 180, now_us));
            assert_eq!(read_embedded(&f), Some((i, now_us / 1000)));
        }
        assert_eq!(src.next_counter(), 3);
    }

    #[test]
    fn gray_code_round_trips_and_counting_flips_one_cell() {
        for n in [0u64, 1, 2, 3, 1000, u64::from(u32::MAX), TIMESTAMP_MASK_MS] {
            assert_eq!(from_gray(gray(n)), n);
        }
        for counter in [0u32, 1, 7, 255, 65_535] {
            let (a, b) = (code_bits(counter, 5), code_bits(counter + 1, 5));
            let changed = (8..40).filter(|&i| a[i] != b[i]).count();
            assert_eq!(changed, 1, "counter {counter}");
        }
    }

    #[test]
    fn crc8_known_value() {
        // CRC-8/SMBUS check value.
        assert_eq!(crc8(b"123456789"), 0xF4);
    }
}
