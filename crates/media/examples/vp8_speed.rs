//! VP8 real-time speed settings side by side: encoding time per frame and quality (PSNR of Y)
//! of the synthetic pattern with camera-like noise, at 1280x720 1.5 Mb/s (the full layer) and
//! 640x360 500 kb/s (the middle one), 30 fps, one thread. Prints a table; asserts nothing.
//!
//!     cargo run --release -p media --example vp8_speed

use std::time::Instant;

use media::vpx::{VpxCodec, VpxDecoder, VpxEncoder, VpxEncoderConfig};
use media::{psnr_y, SyntheticVideoSource, VideoFrame};

/// The pattern plus ±6 of luma noise, as a camera's sensor adds (an encoder's worst case).
fn noisy(src: &SyntheticVideoSource, n: u32, seed: &mut u64) -> VideoFrame {
    let f = src.render(n, u64::from(n) * 33_333);
    let (w, h) = (f.width(), f.height());
    let mut y = f.y().to_vec();
    for p in &mut y {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let d = (*seed % 13) as i16 - 6;
        *p = (*p as i16 + d).clamp(0, 255) as u8;
    }
    VideoFrame::from_planes(w, h, y, f.u().to_vec(), f.v().to_vec(), f.timestamp_us)
        .expect("planes")
}

fn main() {
    let frames = 150u32;
    println!("| size | cpu_used | encode ms/frame (p50) | PSNR Y dB | kbit/s |");
    println!("|---|---|---|---|---|");
    for (w, h, bitrate) in [(1280, 720, 1_500_000), (640, 360, 500_000)] {
        let src = SyntheticVideoSource::new(w, h, 30);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let input: Vec<VideoFrame> = (0..frames).map(|n| noisy(&src, n, &mut seed)).collect();
        for speed in [-6, -8, -10, -12, -16] {
            let mut cfg = VpxEncoderConfig::new(VpxCodec::Vp8, w, h, bitrate, 30);
            cfg.cpu_used = speed;
            let mut enc = VpxEncoder::new(cfg).expect("encoder");
            let mut dec = VpxDecoder::new(VpxCodec::Vp8).expect("decoder");
            let (mut times, mut psnr, mut bytes) = (vec![], vec![], 0usize);
            for f in &input {
                let t = Instant::now();
                let out = enc.encode(f).expect("encode");
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                if let Some(p) = out {
                    bytes += p.data.len();
                    if let Ok(Some(d)) = dec.decode(&p.data, 0) {
                        psnr.extend(psnr_y(f, &d));
                    }
                }
            }
            // The first second settles the rate control.
            let settled = &mut times[30..];
            settled.sort_by(f64::total_cmp);
            let p50 = settled[settled.len() / 2];
            let mean_psnr = psnr[30..].iter().sum::<f64>() / (psnr.len() - 30) as f64;
            let kbps = bytes as f64 * 8.0 / (f64::from(frames) / 30.0) / 1000.0;
            println!("| {w}x{h} | {speed} | {p50:.2} | {mean_psnr:.1} | {kbps:.0} |");
        }
    }
    println!("rerun: cargo run --release -p media --example vp8_speed");
}
