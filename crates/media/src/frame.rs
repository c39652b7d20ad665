//! Raw media: an I420 video frame and a block of PCM audio.

use std::fmt;

/// A video picture in I420 (YUV 4:2:0, 8 bits, BT.601 limited range), the format every
/// encoder, decoder and the UI path exchange, so no stage has to guess.
///
/// Planes are tightly packed (stride = plane width). The fields are private so that the plane
/// sizes always match the dimensions: the codec wrappers hand these buffers to C code.
#[derive(Clone, PartialEq, Eq)]
pub struct VideoFrame {
    width: u32,
    height: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    /// Capture time in microseconds on the caller's clock (Unix time when frames travel
    /// between machines, so that latency can be measured end to end).
    pub timestamp_us: u64,
}

/// Why planes were refused by [`VideoFrame::from_planes`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame dimensions {0}x{1} are empty")]
    Empty(u32, u32),
    #[error("{plane} plane has {got} bytes, {width}x{height} I420 needs {want}")]
    PlaneSize {
        plane: &'static str,
        width: u32,
        height: u32,
        got: usize,
        want: usize,
    },
}

/// Luma value of black in limited range.
pub const Y_BLACK: u8 = 16;
/// Luma value of white in limited range.
pub const Y_WHITE: u8 = 235;
/// Chroma value of a grey (no colour).
pub const UV_NEUTRAL: u8 = 128;

impl VideoFrame {
    /// A black frame. Dimensions of zero are raised to one so the frame is always valid.
    pub fn new(width: u32, height: u32, timestamp_us: u64) -> Self {
        let width = width.max(1);
        let height = height.max(1);
        let (cw, ch) = chroma_size(width, height);
        Self {
            width,
            height,
            y: vec![Y_BLACK; width as usize * height as usize],
            u: vec![UV_NEUTRAL; cw * ch],
            v: vec![UV_NEUTRAL; cw * ch],
            timestamp_us,
        }
    }

    /// Wraps tightly packed planes, checking their sizes (planes often come from outside:
    /// a camera, a decoder, the network).
    pub fn from_planes(
        width: u32,
        height: u32,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
        timestamp_us: u64,
    ) -> Result<Self, FrameError> {
        if width == 0 || height == 0 {
            return Err(FrameError::Empty(width, height));
        }
        let (cw, ch) = chroma_size(width, height);
        let luma = width as usize * height as usize;
        for (plane, got, want) in [
            ("Y", y.len(), luma),
            ("U", u.len(), cw * ch),
            ("V", v.len(), cw * ch),
        ] {
            if got != want {
                return Err(FrameError::PlaneSize {
                    plane,
                    width,
                    height,
                    got,
                    want,
                });
            }
        }
        Ok(Self {
            width,
            height,
            y,
            u,
            v,
            timestamp_us,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Width of the U and V planes (rounded up, as libvpx and libyuv do for odd sizes).
    pub fn chroma_width(&self) -> u32 {
        self.width.div_ceil(2)
    }

    pub fn chroma_height(&self) -> u32 {
        self.height.div_ceil(2)
    }

    pub fn y(&self) -> &[u8] {
        &self.y
    }

    pub fn u(&self) -> &[u8] {
        &self.u
    }

    pub fn v(&self) -> &[u8] {
        &self.v
    }

    /// The three planes for writing; their sizes cannot change through slices.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        (&mut self.y, &mut self.u, &mut self.v)
    }

    /// Luma at (x, y); `None` outside the picture.
    pub fn luma_at(&self, x: u32, y: u32) -> Option<u8> {
        if x >= self.width || y >= self.height {
            return None;
        }
        self.y
            .get(y as usize * self.width as usize + x as usize)
            .copied()
    }

    /// (Y, U, V) at luma coordinates (x, y); `None` outside the picture.
    pub fn yuv_at(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        let luma = self.luma_at(x, y)?;
        let ci = (y / 2) as usize * self.chroma_width() as usize + (x / 2) as usize;
        Some([luma, *self.u.get(ci)?, *self.v.get(ci)?])
    }

    /// Mean (Y, U, V) over a rectangle of luma coordinates, clipped to the picture; `None`
    /// when nothing is left. Averages are how tests compare colours after lossy coding.
    pub fn mean_yuv(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> Option<[f64; 3]> {
        let (x1, y1) = (x1.min(self.width), y1.min(self.height));
        if x0 >= x1 || y0 >= y1 {
            return None;
        }
        let mut sum = [0u64; 3];
        for y in y0..y1 {
            for x in x0..x1 {
                let p = self.yuv_at(x, y)?;
                for (s, c) in sum.iter_mut().zip(p) {
                    *s += u64::from(c);
                }
            }
        }
        let n = f64::from((x1 - x0) * (y1 - y0));
        Some(sum.map(|s| s as f64 / n))
    }
}

impl fmt::Debug for VideoFrame {
    // Planes are megabytes: print the shape only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VideoFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("timestamp_us", &self.timestamp_us)
            .finish_non_exhaustive()
    }
}

/// (width, height) of each chroma plane.
pub(crate) fn chroma_size(width: u32, height: u32) -> (usize, usize) {
    (width.div_ceil(2) as usize, height.div_ceil(2) as usize)
}

/// A block of interleaved 16-bit PCM, the unit the microphone, Opus and playout exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct AudioFrame {
    pub samples: Vec<i16>,
    pub sample_rate: u32,
    pub channels: u16,
    /// Capture time of the first sample, in microseconds on the caller's clock.
    pub timestamp_us: u64,
}

impl AudioFrame {
    /// Samples per channel.
    pub fn samples_per_channel(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    /// Duration in microseconds.
    pub fn duration_us(&self) -> u64 {
        if self.sample_rate == 0 {
            return 0;
        }
        self.samples_per_channel() as u64 * 1_000_000 / u64::from(self.sample_rate)
    }
}

impl fmt::Debug for AudioFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioFrame")
            .field("samples", &self.samples.len())
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .field("timestamp_us", &self.timestamp_us)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_frame_is_black_with_rounded_up_chroma() {
        let f = VideoFrame::new(5, 3, 7);
        assert_eq!((f.chroma_width(), f.chroma_height()), (3, 2));
        assert_eq!(f.y().len(), 15);
        assert_eq!(f.u().len(), 6);
        assert_eq!(f.yuv_at(4, 2), Some([Y_BLACK, UV_NEUTRAL, UV_NEUTRAL]));
        assert_eq!(f.yuv_at(5, 0), None);
        assert_eq!(f.timestamp_us, 7);
    }

    #[test]
    fn from_planes_rejects_wrong_sizes() {
        let err = VideoFrame::from_planes(4, 4, vec![0; 16], vec![0; 3], vec![0; 4], 0);
        assert_eq!(
            err,
            Err(FrameError::PlaneSize {
                plane: "U",
                width: 4,
                height: 4,
                got: 3,
                want: 4
            })
        );
        assert_eq!(
            VideoFrame::from_planes(0, 4, vec![], vec![], vec![], 0),
            Err(FrameError::Empty(0, 4))
        );
        let ok = VideoFrame::from_planes(4, 2, vec![9; 8], vec![1; 2], vec![2; 2], 0);
        assert_eq!(ok.map(|f| f.yuv_at(3, 1)), Ok(Some([9, 1, 2])));
    }

    #[test]
    fn mean_yuv_clips_to_the_picture() {
        let mut f = VideoFrame::new(4, 4, 0);
        f.planes_mut().0[..4].fill(200);
        assert_eq!(f.mean_yuv(0, 0, 100, 1), Some([200.0, 128.0, 128.0]));
        assert_eq!(f.mean_yuv(0, 0, 4, 2), Some([108.0, 128.0, 128.0]));
        assert_eq!(f.mean_yuv(4, 0, 8, 2), None);
    }

    #[test]
    fn audio_frame_duration() {
        let a = AudioFrame {
            samples: vec![0; 960],
            sample_rate: 48_000,
            channels: 1,
            timestamp_us: 0,
        };
        assert_eq!(a.duration_us(), 20_000);
        assert_eq!(a.samples_per_channel(), 960);
    }
}
