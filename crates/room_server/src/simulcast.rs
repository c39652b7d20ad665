//! Simulcast layer choice and the timestamp rebasing that makes a layer switch look like one
//! continuous stream to the subscriber. Plain functions and types, no media.

use livekit_protocol::{VideoLayer, VideoQuality};

/// LiveKit's rids, lowest first: `q` (LOW), `h` (MEDIUM), `f` (HIGH).
pub fn quality_of_rid(rid: &str) -> VideoQuality {
    match rid {
        "q" | "0" => VideoQuality::Low,
        "h" | "1" => VideoQuality::Medium,
        _ => VideoQuality::High,
    }
}

/// How much smaller than the requested height a layer may be and still be chosen, as in
/// livekit-server (`layerSelectionTolerance`): a 135-row tile takes the 134-row layer.
pub const LAYER_SELECTION_TOLERANCE: f32 = 0.9;

/// The quality a subscriber should get for a requested tile size, by LiveKit's rule
/// (livekit-server's `GetQualityForDimension`): layers are compared by height only, the
/// requested height less [`LAYER_SELECTION_TOLERANCE`], and the smallest layer at least that
/// tall wins, else the largest. `layers` are the publisher's advertised layers.
pub fn quality_for_size(layers: &[VideoLayer], _width: u32, height: u32) -> VideoQuality {
    let mut sorted: Vec<&VideoLayer> = layers.iter().filter(|l| l.height > 0).collect();
    sorted.sort_by_key(|l| l.height);
    let need = (height as f32 * LAYER_SELECTION_TOLERANCE) as u32;
    sorted
        .iter()
        .find(|l| l.height >= need)
        .or(sorted.last())
        .and_then(|l| VideoQuality::try_from(l.quality).ok())
        .unwrap_or(VideoQuality::High)
}

/// Picks, among the rids being received, the best one not above `want`; falls back to the
/// lowest received rid. `None` when nothing is received.
pub fn pick_rid<'a>(received: impl Iterator<Item = &'a str>, want: VideoQuality) -> Option<String> {
    let mut all: Vec<&str> = received.collect();
    all.sort_by_key(|r| quality_of_rid(r) as i32);
    all.iter()
        .rev()
        .find(|r| quality_of_rid(r) as i32 <= want as i32)
        .or(all.first())
        .map(|r| (*r).to_owned())
}

/// Keeps outgoing RTP time continuous across switches between incoming streams whose
/// timestamps have unrelated origins.
#[derive(Debug, Default, Clone, Copy)]
pub struct TimeRebase {
    offset: i64,
    last_out: Option<u64>,
}

impl TimeRebase {
    /// Maps an incoming timestamp to the outgoing one.
    pub fn map(&mut self, incoming: u64) -> u64 {
        let out = (incoming as i64 + self.offset).max(0) as u64;
        self.last_out = Some(out);
        out
    }

    /// Called at a switch: the next `incoming` continues one frame (`step`) after the last
    /// outgoing timestamp.
    pub fn rebase(&mut self, incoming: u64, step: u64) {
        if let Some(last) = self.last_out {
            self.offset = (last + step) as i64 - incoming as i64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(q: VideoQuality, w: u32, h: u32) -> VideoLayer {
        VideoLayer {
            quality: q as i32,
            width: w,
            height: h,
            ..Default::default()
        }
    }

    #[test]
    fn picks_layers_by_size_and_quality() {
        let layers = [
            layer(VideoQuality::Low, 320, 180),
            layer(VideoQuality::Medium, 640, 360),
            layer(VideoQuality::High, 1280, 720),
        ];
        assert_eq!(quality_for_size(&layers, 300, 170), VideoQuality::Low);
        assert_eq!(quality_for_size(&layers, 600, 300), VideoQuality::Medium);
        assert_eq!(quality_for_size(&layers, 1920, 1080), VideoQuality::High);
        // LiveKit's 10 % tolerance: a layer a few rows short of the tile still fits it.
        assert_eq!(quality_for_size(&layers, 320, 199), VideoQuality::Low);
        assert_eq!(quality_for_size(&layers, 320, 202), VideoQuality::Medium);
        // Heights only: a wide tile does not pull a taller layer.
        assert_eq!(quality_for_size(&layers, 400, 180), VideoQuality::Low);
        // The layers a 960x540 publisher sends (odd heights rounded down by the encoder).
        let odd = [
            layer(VideoQuality::Low, 240, 134),
            layer(VideoQuality::Medium, 480, 270),
            layer(VideoQuality::High, 960, 540),
        ];
        assert_eq!(quality_for_size(&odd, 240, 135), VideoQuality::Low);
        assert_eq!(quality_for_size(&odd, 480, 270), VideoQuality::Medium);
        assert_eq!(quality_for_size(&odd, 0, 0), VideoQuality::Low);
        let rids = ["f", "q", "h"];
        assert_eq!(
            pick_rid(rids.into_iter(), VideoQuality::Low).as_deref(),
            Some("q")
        );
        assert_eq!(
            pick_rid(rids.into_iter(), VideoQuality::High).as_deref(),
            Some("f")
        );
        assert_eq!(
            pick_rid(["q"].into_iter(), VideoQuality::High).as_deref(),
            Some("q")
        );
        assert_eq!(
            pick_rid(["h", "f"].into_iter(), VideoQuality::Low).as_deref(),
            Some("h")
        );
        assert_eq!(pick_rid([].into_iter(), VideoQuality::Low), None);
    }

    #[test]
    fn rebase_keeps_time_continuous() {
        let mut r = TimeRebase::default();
        assert_eq!(r.map(1000), 1000);
        assert_eq!(r.map(4000), 4000);
        r.rebase(900_000, 3000);
        assert_eq!(r.map(900_000), 7000);
        assert_eq!(r.map(903_000), 10_000);
    }
}
