//! The Rust half of `ui/scripts/bench_render.py`: the app's video lane fed the way the meeting
//! feeds it, so both paths cost what they cost in the app.
//!
//! N remote VP8 tracks (`TR_v0`..) replay a pre-encoded two-second clip of the synthetic pattern
//! at `--fps`. Every frame is offered to the lane encoded, as the engine does; for tracks the page
//! does not decode itself (I420 path) this process also decodes it with libvpx and the lane scales
//! it to the tile, as the app does. Networking and SRTP are left out: they cost the same on both
//! paths. The lane URL is printed on the first line of stdout; each stdin line is the tiles'
//! sizes as JSON (`{"TR_v0":[w,h],...}`). Runs until stdin closes.
//!
//!     cargo run --release -p visio-desktop --example lane_bench -- --tracks 9 --width 640 --height 360

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use engine::EncodedVideoFrame;
use media::vpx::{VpxCodec, VpxEncoder, VpxEncoderConfig};
use media::{SyntheticVideoSource, VideoCodecKind, VideoDecoder};
use visio_desktop::video_lane::VideoLane;

fn arg(name: &str, default: u32) -> u32 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Two seconds of the pattern, a keyframe every second (a decoder starting mid-stream waits at
/// most that long; the lane has no room to send keyframe requests to).
fn clip(w: u32, h: u32, fps: u32) -> Vec<(bool, Arc<[u8]>)> {
    let bitrate = if w >= 1280 { 1_700_000 } else { 600_000 };
    let mut config = VpxEncoderConfig::new(VpxCodec::Vp8, w, h, bitrate, fps);
    config.keyframe_interval = fps;
    let Ok(mut enc) = VpxEncoder::new(config) else {
        eprintln!("lane_bench: no VP8 encoder");
        std::process::exit(2);
    };
    let src = SyntheticVideoSource::new(w, h, fps);
    let mut out = vec![];
    for n in 0..2 * fps {
        let t = u64::from(n) * 1_000_000 / u64::from(fps);
        if let Ok(Some(f)) = enc.encode(&src.render(n, t)) {
            out.push((f.keyframe, Arc::from(f.data)));
        }
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (tracks, w, h, fps) = (
        arg("--tracks", 1),
        arg("--width", 1280),
        arg("--height", 720),
        arg("--fps", 30).max(1),
    );
    let clip = clip(w, h, fps);
    if clip.is_empty() || !clip[0].0 {
        eprintln!("lane_bench: the clip does not start on a keyframe");
        std::process::exit(2);
    }
    let lane = match VideoLane::start().await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lane_bench: {e}");
            std::process::exit(2);
        }
    };
    println!("{}", lane.url());
    let ids: Vec<String> = (0..tracks).map(|i| format!("TR_v{i}")).collect();

    let sizes_lane = lane.clone();
    let (done_tx, mut done) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<HashMap<String, (u32, u32)>>(&line) {
                Ok(sizes) => sizes_lane.set_sizes(sizes),
                Err(e) => eprintln!("lane_bench: bad sizes line: {e}"),
            }
        }
        let _ = done_tx.send(());
    });

    let mut decoders: Vec<Option<VideoDecoder>> = ids.iter().map(|_| None).collect();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(fps)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = &mut done => break,
            _ = tick.tick() => {}
        }
        let (keyframe, data) = &clip[(n % clip.len() as u64) as usize];
        for (i, id) in ids.iter().enumerate() {
            lane.push_encoded(EncodedVideoFrame {
                participant_identity: format!("user-{i}"),
                track_sid: id.clone(),
                codec: VideoCodecKind::Vp8,
                keyframe: *keyframe,
                rtp_time: n * 90_000 / u64::from(fps),
                data: data.clone(),
            });
            // The I420 path: the engine decodes what the page does not (tracks not shown are
            // not received at all in the app).
            if lane.is_encoded(id) || !lane.is_shown(id) {
                decoders[i] = None;
                continue;
            }
            let dec = decoders[i].get_or_insert_with(|| {
                VideoDecoder::new(VideoCodecKind::Vp8).unwrap_or_else(|e| {
                    eprintln!("lane_bench: {e}");
                    std::process::exit(2)
                })
            });
            if let Ok(Some(frame)) = dec.decode(data, n * 1_000_000 / u64::from(fps)) {
                lane.push(id, Arc::new(frame));
            }
        }
        n += 1;
    }
    let s = lane.stats();
    eprintln!(
        "lane_bench: sent {} ({} encoded), dropped {}, {} MB",
        s.sent,
        s.encoded,
        s.dropped,
        s.bytes / 1_000_000
    );
}
