//! The local camera's capture, scaling and simulcast encoding, off the session loop.
//!
//! Encoding three layers of a 720p camera is the heaviest thing the engine does; done inline
//! it held up the session loop (receiving, decoding, str0m's timers) on a short-of-CPU
//! machine, so received video fell to 13–29 fps. [`VideoWorker`] is the plain, sans-I/O
//! part: given a clock it pulls the source, scales and encodes the layers due and returns
//! one [`EncodedVideo`] per captured frame. [`EncoderThread`] is the edge: a std thread
//! (`visio-video-encoder`) ticking the worker at the camera's rate, taking [`Control`]s and
//! handing frames to the session through a bounded channel. When the session does not drain
//! it, whole frames are skipped before they are captured and encoded (an encoded frame that
//! never reached the network would break the next frames' references): the thread never
//! blocks the session, nor the other way.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use livekit_protocol as proto;
use media::VideoSource;
use tokio::sync::mpsc;

/// Frames waiting for the session loop; more means the loop is behind and frames are dropped.
const QUEUE_FRAMES: usize = 4;

/// The frame rate of a simulcast layer for a camera at `camera_fps`: LiveKit's client SDKs
/// send the low layer at 15 fps and the middle one at 20 (libwebrtc, `VideoPresets.h180` /
/// `h360` of client-sdk-js 1.x), which cuts the lower layers' encoding cost by a third to a
/// half. Never above the camera's own rate.
pub(crate) fn layer_fps(rid: Option<&str>, camera_fps: u32) -> u32 {
    let cap = match rid {
        Some("q") => 15,
        Some("h") => 20,
        _ => camera_fps,
    };
    cap.min(camera_fps).max(1)
}

/// One simulcast layer (or the only one): its rid, size and encoder.
pub(crate) struct Layer {
    pub(crate) rid: Option<&'static str>,
    pub(crate) quality: proto::VideoQuality,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Nominal bitrate (what the layer is announced with).
    pub(crate) bitrate: u32,
    /// Frames per second this layer is encoded at.
    pub(crate) fps: u32,
    pub(crate) encoder: media::VideoEncoder,
    /// Cleared when the server says nobody watches this quality (dynacast).
    pub(crate) enabled: bool,
    /// Frame-rate decimation: a frame is encoded when this reaches the camera's rate.
    credit: u32,
}

impl Layer {
    pub(crate) fn new(
        rid: Option<&'static str>,
        quality: proto::VideoQuality,
        width: u32,
        height: u32,
        bitrate: u32,
        fps: u32,
        encoder: media::VideoEncoder,
    ) -> Self {
        Self {
            rid,
            quality,
            width,
            height,
            bitrate,
            fps,
            encoder,
            enabled: true,
            credit: u32::MAX,
        }
    }
}

/// One layer's share of a captured frame.
#[derive(Debug, Clone)]
pub(crate) struct EncodedLayer {
    pub(crate) rid: Option<&'static str>,
    pub(crate) data: Vec<u8>,
    pub(crate) keyframe: bool,
}

/// Everything encoded from one captured frame, highest layer first: a server switching up
/// must not get a layer's (large) keyframe after the next frame of a lower layer.
#[derive(Debug, Clone)]
pub(crate) struct EncodedVideo {
    /// When the frame was captured (str0m's wallclock for the packets).
    pub(crate) captured: Instant,
    /// RTP time, 90 kHz, from the start of publishing.
    pub(crate) rtp: u64,
    pub(crate) layers: Vec<EncodedLayer>,
    /// The self view's picture of this frame, when one is due ([`crate::SelfView`]).
    pub(crate) self_view: Option<std::sync::Arc<media::VideoFrame>>,
}

/// Frame-rate credit of a stream at `fps` taking frames of a source at `source_fps`: whether
/// it takes this one, spreading the frames it takes evenly. `u32::MAX`: due now (a start, a
/// re-enabled layer, a new source).
fn take_frame(credit: &mut u32, fps: u32, source_fps: u32) -> bool {
    if *credit != u32::MAX && *credit + fps < source_fps {
        *credit += fps;
        return false;
    }
    *credit = if *credit == u32::MAX {
        0
    } else {
        *credit + fps - source_fps
    };
    true
}

/// What the session tells the encoder.
pub(crate) enum Control {
    /// Another camera from now on ([`crate::Room::set_camera`]): its frames go through the
    /// same layers (scaled to their sizes), starting with keyframes.
    Source(Box<dyn VideoSource>),
    /// Start pulling the source (the publisher connection is up).
    Start,
    /// A keyframe on this rid's layer, or on all with `None`.
    Keyframe(Option<String>),
    /// A new target bitrate for this rid's layer (`None`: the only layer).
    Bitrate(Option<String>, u32),
    /// Dynacast: encode this quality or not (a re-enabled layer starts with a keyframe).
    Layer(proto::VideoQuality, bool),
    /// A muted camera is not pulled; unmuting starts every layer with a keyframe.
    Mute(bool),
    Stop,
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// The source and the layers' encoders, ticked at the camera's rate. No threads, no sockets.
pub(crate) struct VideoWorker {
    source: Box<dyn VideoSource>,
    layers: Vec<Layer>,
    fps: u32,
    started: Option<Instant>,
    next: Instant,
    muted: bool,
    warned: bool,
    /// The self view asked for, and its frame-rate credit (as a layer's).
    self_view: Option<crate::SelfView>,
    self_view_credit: u32,
}

impl VideoWorker {
    /// `layers` lowest first, as [`crate::session`] plans them.
    pub(crate) fn new(source: Box<dyn VideoSource>, layers: Vec<Layer>, now: Instant) -> Self {
        let fps = source.format().fps.max(1);
        Self {
            source,
            layers,
            fps,
            started: None,
            next: now,
            muted: false,
            warned: false,
            self_view: None,
            self_view_credit: u32::MAX,
        }
    }

    /// Hands back a picture of each frame (or some) for a self view ([`crate::SelfView`]).
    pub(crate) fn with_self_view(mut self, view: Option<crate::SelfView>) -> Self {
        self.self_view = view;
        self
    }

    /// The layer whose scaled picture serves as the self view: the largest enabled one that
    /// fits the view and is at least 3/4 of its width (a smaller one would look blurred).
    fn self_view_layer(&self, frame_w: u32, frame_h: u32) -> Option<usize> {
        let v = self.self_view?;
        let (want, _) = media::fit_size(frame_w, frame_h, v.max_width, v.max_height);
        self.layers
            .iter()
            .enumerate()
            .filter(|(_, l)| l.enabled && l.width <= v.max_width && l.height <= v.max_height)
            .filter(|(_, l)| l.width * 4 >= want * 3)
            .max_by_key(|(_, l)| l.width)
            .map(|(i, _)| i)
    }

    /// Whether the self view's own rate has a picture due on this tick (credit as a layer's).
    fn self_view_due(&mut self) -> bool {
        let Some(v) = self.self_view else {
            return false;
        };
        take_frame(
            &mut self.self_view_credit,
            v.fps.clamp(1, self.fps),
            self.fps,
        )
    }

    /// When [`Self::tick`] has work next (`None`: not started).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.started.map(|_| self.next)
    }

    pub(crate) fn control(&mut self, c: Control, now: Instant) {
        match c {
            Control::Source(source) => {
                self.fps = source.format().fps.max(1);
                self.source = source;
                self.warned = false;
                self.self_view_credit = u32::MAX;
                for l in &mut self.layers {
                    l.fps = layer_fps(l.rid, self.fps);
                    l.credit = u32::MAX;
                    l.encoder.request_keyframe();
                }
            }
            Control::Start => {
                if self.started.is_none() {
                    self.started = Some(now);
                    self.next = now;
                }
            }
            Control::Keyframe(rid) => {
                for l in &mut self.layers {
                    if rid.is_none() || rid.as_deref() == l.rid {
                        l.encoder.request_keyframe();
                    }
                }
            }
            Control::Bitrate(rid, bps) => {
                if let Some(l) = self.layers.iter_mut().find(|l| rid.as_deref() == l.rid) {
                    if let Err(e) = l.encoder.set_bitrate(bps) {
                        tracing::debug!("bitrate change refused: {e}");
                    }
                }
            }
            Control::Layer(quality, enabled) => {
                if let Some(l) = self.layers.iter_mut().find(|l| l.quality == quality) {
                    if enabled && !l.enabled {
                        l.encoder.request_keyframe();
                        l.credit = u32::MAX;
                    }
                    l.enabled = enabled;
                }
            }
            Control::Mute(muted) => {
                if self.muted && !muted {
                    for l in &mut self.layers {
                        l.encoder.request_keyframe();
                    }
                }
                self.muted = muted;
            }
            Control::Stop => self.started = None,
        }
    }

    /// Skips the frame due at `now` (the session is behind): nothing captured nor encoded.
    pub(crate) fn skip(&mut self, now: Instant) {
        if self.started.is_some() && now >= self.next {
            let step = Duration::from_micros(1_000_000 / u64::from(self.fps));
            self.next = (self.next + step).max(now + step / 2);
        }
    }

    /// Encodes the frame due at `now`, if any: each enabled layer due at its own rate.
    pub(crate) fn tick(&mut self, now: Instant) -> Option<EncodedVideo> {
        let started = self.started?;
        if now < self.next {
            return None;
        }
        let step = Duration::from_micros(1_000_000 / u64::from(self.fps));
        if self.muted {
            self.next = now + Duration::from_millis(100);
            return None;
        }
        self.next += step;
        if self.next < now {
            self.next = now + step; // fell behind: skip rather than burst
        }
        let frame = match self.source.next_frame(unix_us()) {
            Ok(Some(frame)) => frame,
            Ok(None) => return None,
            Err(e) => {
                if !std::mem::replace(&mut self.warned, true) {
                    tracing::warn!("camera: {e}");
                }
                return None;
            }
        };
        let rtp = now.duration_since(started).as_micros() as u64 * 9 / 100;
        let mut out = EncodedVideo {
            captured: now,
            rtp,
            layers: vec![],
            self_view: None,
        };
        let fps = self.fps;
        // The self view rides on a layer's picture when one fits (at that layer's rate),
        // otherwise it is scaled from the frame at its own rate.
        let view_layer = self.self_view_layer(frame.width(), frame.height());
        for (i, l) in self.layers.iter_mut().enumerate().rev() {
            if !l.enabled {
                continue;
            }
            if !take_frame(&mut l.credit, l.fps, fps) {
                continue;
            }
            let scaled;
            let input = if (l.width, l.height) == (frame.width(), frame.height()) {
                &frame
            } else {
                scaled = media::scale(&frame, l.width, l.height);
                &scaled
            };
            match l.encoder.encode(input) {
                Ok(Some(p)) => out.layers.push(EncodedLayer {
                    rid: l.rid,
                    data: p.data,
                    keyframe: p.keyframe,
                }),
                Ok(None) => {}
                Err(e) => tracing::warn!("encoding failed: {e}"),
            }
            if view_layer == Some(i) {
                out.self_view = Some(std::sync::Arc::new(input.clone()));
            }
        }
        if view_layer.is_none() && self.self_view_due() {
            if let Some(v) = self.self_view {
                let (w, h) =
                    media::fit_size(frame.width(), frame.height(), v.max_width, v.max_height);
                let pic = if (w, h) == (frame.width(), frame.height()) {
                    frame
                } else {
                    media::scale(&frame, w, h)
                };
                out.self_view = Some(std::sync::Arc::new(pic));
            }
        }
        Some(out)
    }
}

/// The encoder's thread and its two channels. Dropping it stops and joins the thread.
pub(crate) struct EncoderThread {
    control: std_mpsc::Sender<Control>,
    frames: mpsc::Receiver<EncodedVideo>,
    handle: Option<JoinHandle<()>>,
}

impl EncoderThread {
    pub(crate) fn spawn(mut worker: VideoWorker) -> std::io::Result<Self> {
        let (control, controls) = std_mpsc::channel();
        let (tx, frames) = mpsc::channel(QUEUE_FRAMES);
        let handle = std::thread::Builder::new()
            .name("visio-video-encoder".into())
            .spawn(move || {
                let mut skipped = 0u64;
                loop {
                    let now = Instant::now();
                    let wait = worker.deadline().map_or(Duration::from_secs(3600), |d| {
                        d.saturating_duration_since(now)
                    });
                    match controls.recv_timeout(wait) {
                        Ok(Control::Stop) | Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                        Ok(c) => worker.control(c, Instant::now()),
                        Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                    }
                    let now = Instant::now();
                    if worker.deadline().is_some_and(|d| d <= now) && tx.capacity() == 0 {
                        worker.skip(now);
                        skipped += 1;
                        tracing::debug!(skipped, "session loop behind: video frame skipped");
                        continue;
                    }
                    let Some(frame) = worker.tick(now) else {
                        continue;
                    };
                    // This thread is the only sender and it saw room: the frame fits.
                    if tx.try_send(frame).is_err() {
                        break; // the session is gone
                    }
                }
            })?;
        Ok(Self {
            control,
            frames,
            handle: Some(handle),
        })
    }

    pub(crate) fn send(&self, c: Control) {
        let _ = self.control.send(c);
    }

    /// The next encoded frame (cancel-safe, for the session's `select!`).
    pub(crate) async fn recv(&mut self) -> Option<EncodedVideo> {
        self.frames.recv().await
    }
}

impl Drop for EncoderThread {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
        self.frames.close();
        if let Some(h) = self.handle.take() {
            // At most one frame's encoding away.
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::{SyntheticVideoSource, VideoCodecKind};
    use proto::VideoQuality::{High, Low, Medium};

    fn layer(rid: &'static str, q: proto::VideoQuality, w: u32, h: u32) -> Layer {
        let fps = layer_fps(Some(rid), 30);
        let enc = media::VideoEncoder::new(VideoCodecKind::Vp8, w, h, 300_000, fps).unwrap();
        Layer::new(Some(rid), q, w, h, 300_000, fps, enc)
    }

    fn worker() -> VideoWorker {
        let src = Box::new(SyntheticVideoSource::new(320, 180, 30));
        let layers = vec![
            layer("q", Low, 80, 46),
            layer("h", Medium, 160, 90),
            layer("f", High, 320, 180),
        ];
        VideoWorker::new(src, layers, Instant::now())
    }

    /// Ticks one second of camera time; frames per rid and keyframes per rid.
    fn second(w: &mut VideoWorker, t0: Instant) -> (Vec<EncodedVideo>, [usize; 3], [usize; 3]) {
        let mut out = vec![];
        let (mut n, mut k) = ([0; 3], [0; 3]);
        for i in 0..30u64 {
            if let Some(f) = w.tick(t0 + Duration::from_micros(i * 33_334)) {
                for l in &f.layers {
                    let idx = ["q", "h", "f"]
                        .iter()
                        .position(|r| Some(*r) == l.rid)
                        .unwrap();
                    n[idx] += 1;
                    k[idx] += usize::from(l.keyframe);
                }
                out.push(f);
            }
        }
        (out, n, k)
    }

    #[test]
    fn lower_layers_at_livekit_rates() {
        assert_eq!(layer_fps(Some("q"), 30), 15);
        assert_eq!(layer_fps(Some("h"), 30), 20);
        assert_eq!(layer_fps(Some("f"), 30), 30);
        assert_eq!(layer_fps(Some("q"), 10), 10);
        assert_eq!(layer_fps(None, 24), 24);
    }

    #[test]
    fn encodes_each_layer_at_its_rate_highest_first() {
        let mut w = worker();
        let t0 = Instant::now();
        assert!(w.tick(t0).is_none(), "nothing before Start");
        w.control(Control::Start, t0);
        let (frames, n, k) = second(&mut w, t0);
        assert_eq!(frames.len(), 30);
        assert_eq!(n, [15, 20, 30], "q at 15, h at 20, f at 30 fps");
        assert_eq!(k, [1, 1, 1], "each layer starts with one keyframe");
        let first = &frames[0];
        let rids: Vec<_> = first.layers.iter().map(|l| l.rid.unwrap()).collect();
        assert_eq!(rids, ["f", "h", "q"]);
        assert!(first
            .layers
            .iter()
            .all(|l| l.keyframe && !l.data.is_empty()));
        // RTP time at 90 kHz from the start, 3000 ticks a frame.
        assert_eq!(frames[0].rtp, 0);
        assert!(
            (frames[3].rtp as i64 - 9000).abs() < 10,
            "{}",
            frames[3].rtp
        );
    }

    #[test]
    fn keyframes_bitrate_dynacast_and_mute() {
        let mut w = worker();
        let t0 = Instant::now();
        w.control(Control::Start, t0);
        second(&mut w, t0);
        let t1 = t0 + Duration::from_secs(1);
        w.control(Control::Keyframe(Some("h".into())), t1);
        w.control(Control::Bitrate(Some("f".into()), 150_000), t1);
        assert_eq!(w.layers[2].encoder.bitrate_bps(), 150_000);
        let (_, _, k) = second(&mut w, t1);
        assert_eq!(k, [0, 1, 0], "the keyframe went to the layer asked for");

        let t2 = t1 + Duration::from_secs(1);
        w.control(Control::Layer(High, false), t2);
        w.control(Control::Layer(Low, false), t2);
        let (_, n, _) = second(&mut w, t2);
        assert_eq!(n, [0, 20, 0], "disabled layers are not encoded");

        let t3 = t2 + Duration::from_secs(1);
        w.control(Control::Layer(High, true), t3);
        let (frames, n, k) = second(&mut w, t3);
        assert_eq!(
            (n[2], k[2]),
            (30, 1),
            "a re-enabled layer starts with a keyframe"
        );
        assert!(frames[0].layers[0].keyframe && frames[0].layers[0].rid == Some("f"));

        let t4 = t3 + Duration::from_secs(1);
        w.control(Control::Mute(true), t4);
        assert!(
            second(&mut w, t4).0.is_empty(),
            "a muted camera gives nothing"
        );
        let t5 = t4 + Duration::from_secs(2);
        w.control(Control::Mute(false), t5);
        let (_, n, k) = second(&mut w, t5 + Duration::from_millis(100));
        assert_eq!(n, [0, 20, 30]);
        assert_eq!(k, [0, 1, 1], "unmuting starts the layers with keyframes");
    }

    #[test]
    fn another_camera_goes_through_the_same_layers_from_a_keyframe() {
        let mut w = worker();
        let t0 = Instant::now();
        w.control(Control::Start, t0);
        second(&mut w, t0);
        // A 640x360 camera at 15 fps in place of the 320x180 one at 30.
        let t1 = t0 + Duration::from_secs(1);
        w.control(
            Control::Source(Box::new(SyntheticVideoSource::new(640, 360, 15))),
            t1,
        );
        let mut frames = vec![];
        for i in 0..15u64 {
            frames.extend(w.tick(t1 + Duration::from_micros(i * 66_667)));
        }
        let n = |rid| {
            frames
                .iter()
                .flat_map(|f| &f.layers)
                .filter(|l| l.rid == Some(rid))
                .count()
        };
        assert_eq!(
            (n("q"), n("h"), n("f")),
            (15, 15, 15),
            "every layer at the new 15 fps"
        );
        assert!(
            frames[0].layers.iter().all(|l| l.keyframe),
            "keyframes first"
        );
        assert!(frames[1].layers.iter().all(|l| !l.keyframe));
        // The layers keep their sizes: the full one decodes at 320x180.
        let mut dec = media::VideoDecoder::new(VideoCodecKind::Vp8).unwrap();
        let full = frames[0]
            .layers
            .iter()
            .find(|l| l.rid == Some("f"))
            .unwrap();
        let img = dec.decode(&full.data, 0).unwrap().unwrap();
        assert_eq!((img.width(), img.height()), (320, 180));
    }

    #[test]
    fn self_view_rides_on_a_fitting_layer_or_is_scaled_at_its_rate() {
        let view = |w, h, fps| {
            Some(crate::SelfView {
                max_width: w,
                max_height: h,
                fps,
            })
        };
        let sizes = |frames: &[EncodedVideo]| -> Vec<(u32, u32)> {
            frames
                .iter()
                .filter_map(|f| f.self_view.as_ref())
                .map(|p| (p.width(), p.height()))
                .collect()
        };
        // 160x90 is the h layer's size: its 20 pictures a second, no extra scaling.
        let mut w = worker().with_self_view(view(160, 90, 15));
        let t0 = Instant::now();
        w.control(Control::Start, t0);
        let (frames, _, _) = second(&mut w, t0);
        assert_eq!(sizes(&frames), vec![(160, 90); 20]);
        assert!(
            frames[0].self_view.is_some(),
            "a picture from the first frame on"
        );
        // Nobody watches h (dynacast): scaled from the frame, at the view's 15 fps.
        let t1 = t0 + Duration::from_secs(1);
        w.control(Control::Layer(Medium, false), t1);
        let (frames, _, _) = second(&mut w, t1);
        assert_eq!(sizes(&frames), vec![(160, 90); 15]);
        // A view no layer fits, of another aspect: scaled at its 10 fps, the camera's aspect
        // kept (140x140 gives 140x78; q's 80 px would be blurred in it).
        let mut w = worker().with_self_view(view(140, 140, 10));
        w.control(Control::Start, t0);
        let (frames, _, _) = second(&mut w, t0);
        assert_eq!(sizes(&frames), vec![(140, 78); 10]);
        // Muted: no picture; without a view asked for: none either.
        w.control(Control::Mute(true), t1);
        assert!(second(&mut w, t1).0.iter().all(|f| f.self_view.is_none()));
        let mut w = worker();
        w.control(Control::Start, t0);
        assert!(sizes(&second(&mut w, t0).0).is_empty());
    }

    #[tokio::test]
    async fn thread_drops_whole_frames_when_not_drained_and_stops() {
        let mut t = EncoderThread::spawn(worker()).unwrap();
        t.send(Control::Start);
        // Nobody drains for half a second: the queue holds 4 frames, the rest are skipped.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut got = vec![];
        while let Ok(f) = t.frames.try_recv() {
            got.push(f);
        }
        assert_eq!(got.len(), QUEUE_FRAMES, "the rest were skipped, not queued");
        assert_eq!(got[0].layers.len(), 3);
        assert!(got[0].layers.iter().all(|l| l.keyframe));
        // Drained again, frames keep coming at the camera's rate.
        for _ in 0..10 {
            let f = tokio::time::timeout(Duration::from_secs(2), t.recv()).await;
            got.push(f.unwrap().unwrap());
        }
        // Every frame encoded reached us: the full layer decodes in order and carries the
        // pattern's consecutive counters (a frame encoded then dropped would leave a gap).
        let mut dec = media::VideoDecoder::new(VideoCodecKind::Vp8).unwrap();
        let mut counters = vec![];
        for f in &got {
            let full = f.layers.iter().find(|l| l.rid == Some("f")).unwrap();
            let img = dec.decode(&full.data, 0).unwrap().unwrap();
            counters.push(media::read_embedded(&img).map(|(c, _)| c));
        }
        let want: Vec<Option<u32>> = (0..got.len() as u32).map(Some).collect();
        assert_eq!(counters, want);
        let start = Instant::now();
        let thread = t
            .handle
            .as_ref()
            .unwrap()
            .thread()
            .name()
            .map(str::to_owned);
        assert_eq!(thread.as_deref(), Some("visio-video-encoder"));
        drop(t); // joins
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
