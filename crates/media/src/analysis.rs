//! Measurements on decoded media, so that tests and `visio join --json` can say what was
//! received (tone frequency, loudness, picture fidelity) rather than only that bytes arrived.

use std::f64::consts::PI;

use crate::frame::VideoFrame;

/// Root mean square of 16-bit samples as a fraction of full scale: 0 for silence, about
/// 0.707 for a full-scale sine. Empty input is silence.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt() / 32768.0
}

/// Longest analysis window (about 5.5 s at 48 kHz); longer input is truncated.
const MAX_FFT: usize = 1 << 18;
/// Below this there is not one period of a low voice in the window.
const MIN_SAMPLES: usize = 64;
/// Quieter than about -90 dBFS counts as silence.
const SILENCE_RMS: f64 = 3e-5;

/// The frequency in Hz of the strongest spectral peak of mono `samples`, or `None` for
/// silence or too little input. A Hann-windowed FFT with Gaussian interpolation of the peak:
/// a clean tone is found within a fraction of a hertz from one second of audio, within a
/// few hertz from a 20 ms frame.
pub fn dominant_hz(samples: &[i16], sample_rate: u32) -> Option<f64> {
    if samples.len() < MIN_SAMPLES || sample_rate == 0 || rms(samples) < SILENCE_RMS {
        return None;
    }
    let samples = &samples[..samples.len().min(MAX_FFT)];
    let len = samples.len();
    let n = len.next_power_of_two();
    let mean = samples.iter().map(|&s| f64::from(s)).sum::<f64>() / len as f64;
    let mut re = vec![0f64; n];
    let mut im = vec![0f64; n];
    for (i, (&s, r)) in samples.iter().zip(re.iter_mut()).enumerate() {
        let hann = 0.5 - 0.5 * (2.0 * PI * i as f64 / (len - 1) as f64).cos();
        *r = (f64::from(s) - mean) * hann;
    }
    fft(&mut re, &mut im);
    let power: Vec<f64> = re[..n / 2]
        .iter()
        .zip(&im[..n / 2])
        .map(|(r, i)| r * r + i * i)
        .collect();
    let (peak, _) = power
        .iter()
        .enumerate()
        .skip(1)
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    let offset = if peak + 1 < power.len() {
        // Gaussian interpolation: exact for the Gaussian-like main lobe of a Hann window.
        let (a, b, c) = (
            power[peak - 1].max(f64::MIN_POSITIVE).ln(),
            power[peak].max(f64::MIN_POSITIVE).ln(),
            power[peak + 1].max(f64::MIN_POSITIVE).ln(),
        );
        let denom = a - 2.0 * b + c;
        if denom.abs() > f64::EPSILON {
            // Power is the square of magnitude: the log ratios are doubled alike, so the
            // vertex is the same.
            (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
        } else {
            0.0
        }
    } else {
        0.0
    };
    Some((peak as f64 + offset) * f64::from(sample_rate) / n as f64)
}

/// In-place radix-2 FFT; `re.len()` must be a power of two.
fn fft(re: &mut [f64], im: &mut [f64]) {
    let n = re.len();
    if n < 2 {
        return;
    }
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    // One table of twiddles for all stages: no accumulated rounding.
    let twiddles: Vec<(f64, f64)> = (0..n / 2)
        .map(|k| {
            let a = -2.0 * PI * k as f64 / n as f64;
            (a.cos(), a.sin())
        })
        .collect();
    let mut len = 2;
    while len <= n {
        let half = len / 2;
        let step = n / len;
        for start in (0..n).step_by(len) {
            for k in 0..half {
                let (wr, wi) = twiddles[k * step];
                let (a, b) = (start + k, start + k + half);
                let tr = re[b] * wr - im[b] * wi;
                let ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len <<= 1;
    }
}

/// Peak signal-to-noise ratio of the luma planes in dB (infinite when identical), `None`
/// when the sizes differ. 30 dB and more is a good-looking video call.
pub fn psnr_y(reference: &VideoFrame, other: &VideoFrame) -> Option<f64> {
    if (reference.width(), reference.height()) != (other.width(), other.height()) {
        return None;
    }
    let sse: u64 = reference
        .y()
        .iter()
        .zip(other.y())
        .map(|(&a, &b)| u64::from(a.abs_diff(b)).pow(2))
        .sum();
    if sse == 0 {
        return Some(f64::INFINITY);
    }
    let mse = sse as f64 / reference.y().len() as f64;
    Some(10.0 * (255.0 * 255.0 / mse).log10())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, amplitude: f64, rate: u32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (amplitude * 32767.0 * (2.0 * PI * hz * t).sin()).round() as i16
            })
            .collect()
    }

    #[test]
    fn finds_pure_tones_from_one_second() {
        for hz in [97.3, 440.0, 1000.0, 3150.5] {
            let got = dominant_hz(&sine(hz, 0.5, 48_000, 48_000), 48_000).expect("a tone");
            assert!((got - hz).abs() < 0.5, "{hz} Hz read as {got}");
        }
    }

    #[test]
    fn finds_a_tone_in_a_20_ms_frame() {
        let got = dominant_hz(&sine(440.0, 0.5, 48_000, 960), 48_000).expect("a tone");
        assert!((got - 440.0).abs() < 5.0, "got {got}");
    }

    #[test]
    fn strongest_of_two_tones_wins_over_dc() {
        let a = sine(300.0, 0.2, 16_000, 16_000);
        let b = sine(2000.0, 0.5, 16_000, 16_000);
        let mix: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y + 5000).collect();
        let got = dominant_hz(&mix, 16_000).expect("a tone");
        assert!((got - 2000.0).abs() < 0.5, "got {got}");
    }

    #[test]
    fn silence_and_short_input_have_no_frequency() {
        assert_eq!(dominant_hz(&[0; 4800], 48_000), None);
        assert_eq!(dominant_hz(&[1000; 10], 48_000), None);
        assert_eq!(dominant_hz(&sine(440.0, 0.5, 48_000, 960), 0), None);
    }

    #[test]
    fn rms_of_known_signals() {
        assert_eq!(rms(&[]), 0.0);
        assert_eq!(rms(&[0; 100]), 0.0);
        assert!((rms(&[16384, -16384]) - 0.5).abs() < 1e-9);
        let r = rms(&sine(440.0, 1.0, 48_000, 48_000));
        assert!(
            (r - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-3,
            "rms {r}"
        );
    }

    #[test]
    fn psnr_of_known_difference() {
        let a = VideoFrame::new(16, 16, 0);
        let mut b = a.clone();
        assert_eq!(psnr_y(&a, &b), Some(f64::INFINITY));
        b.planes_mut().0.iter_mut().for_each(|p| *p += 1);
        let psnr = psnr_y(&a, &b).expect("same size");
        assert!((psnr - 48.13).abs() < 0.01, "psnr {psnr}");
        assert_eq!(psnr_y(&a, &VideoFrame::new(8, 8, 0)), None);
    }

    #[test]
    fn fft_of_an_impulse_is_flat() {
        let mut re = vec![0.0; 8];
        let mut im = vec![0.0; 8];
        re[0] = 1.0;
        fft(&mut re, &mut im);
        assert!(re.iter().all(|&r| (r - 1.0).abs() < 1e-12));
        assert!(im.iter().all(|&i| i.abs() < 1e-12));
    }
}
