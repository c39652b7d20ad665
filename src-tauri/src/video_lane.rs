//! The video lane: frames from Rust to the webview over a WebSocket on 127.0.0.1
//! (measured 3-4x faster than Tauri's IPC for raw frames, see the stack notes).
//!
//! Two paths, chosen per track at run time:
//! - **Encoded** (the default where the page can): the page announces the codecs its WebCodecs
//!   `VideoDecoder` supports (`{"type":"decoders","codecs":["vp8",...]}`); tracks in those
//!   codecs are sent as the depacketized frames the engine received, every frame in order, and
//!   the engine stops decoding them ([`engine::Room::set_video_decoding`]). A backlog beyond
//!   [`MAX_ENCODED_BACKLOG`] frames is dropped and the stream restarts on a keyframe; the page
//!   asks for keyframes (`{"type":"keyframe","track":"TR_x"}`) when a decoder starts or fails.
//! - **I420** (the fallback: no `VideoDecoder`, an unsupported codec, a decoder that failed, and
//!   the local camera): decoded in Rust, scaled to the tile, latest frame only.
//!   `VISIO_VIDEO_PATH=i420` in the environment keeps every track on it.
//!
//! - Port random, URL carries a per-launch random secret; a connection without it is refused
//!   (HTTP 403 at the upgrade), so no other local process can watch the meeting.
//! - Per track the UI wants (plus `local-camera`), only the **latest** frame is kept; a frame
//!   not yet sent when a newer one arrives is dropped, so a slow page never builds a backlog.
//! - Frames are scaled in Rust to fit the size the UI asked for (never up), keeping the
//!   aspect ratio, then sent as BRIDGE.md's binary message (header + I420 planes).
//! - One page at a time: a new connection takes over from the previous one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

use engine::{EncodedVideoFrame, Room};
use futures_util::{SinkExt, StreamExt};
use media::{VideoCodecKind, VideoFrame};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::{
    handshake::server::{ErrorResponse, Request, Response},
    http::StatusCode,
    Message,
};

/// A frame waiting to be sent: track id, picture, frame counter, target (width, height).
type PendingFrame = (String, Arc<VideoFrame>, u32, (u32, u32));

/// The track id of the self view / preview.
pub const LOCAL_CAMERA: &str = "local-camera";

/// Default size for tracks the UI did not size (the preview before its first request).
const DEFAULT_SIZE: (u32, u32) = (640, 360);

/// Encoded frames waiting for the page, per track, beyond which the page is too slow: the
/// queue is dropped and the track restarts on a keyframe (about a second at 30 fps).
pub const MAX_ENCODED_BACKLOG: usize = 30;

/// A track's encoded frames not yet sent.
#[derive(Default)]
struct EncodedQueue {
    frames: VecDeque<(u32, EncodedVideoFrame)>,
    /// Nothing is queued until a keyframe: the page's decoder cannot start on a delta frame.
    started: bool,
}

struct Slot {
    frame: Arc<VideoFrame>,
    counter: u32,
    sent: bool,
}

#[derive(Default)]
struct Inner {
    /// Wanted size per track; tracks absent here are not forwarded (except local-camera).
    sizes: HashMap<String, (u32, u32)>,
    slots: HashMap<String, Slot>,
    counters: HashMap<String, u32>,
    /// Codecs the connected page decodes itself (its last announcement).
    page_codecs: Vec<VideoCodecKind>,
    /// The page draws decoded pictures from RGBA (its 2D canvas) rather than I420 planes.
    page_rgba: bool,
    /// Tracks on the encoded path, with their queues.
    encoded: HashMap<String, EncodedQueue>,
    /// Each remote track's codec, as seen on its frames.
    codecs: HashMap<String, VideoCodecKind>,
    /// The meeting's room: decoding on/off and keyframe requests.
    room: Option<Weak<Room>>,
}

impl Inner {
    fn room(&self) -> Option<Arc<Room>> {
        self.room.as_ref().and_then(Weak::upgrade)
    }

    /// Moves `track` to the encoded path or back to I420, telling the engine to stop or
    /// resume decoding it.
    fn set_encoded(&mut self, track: &str, encoded: bool) {
        let is = self.encoded.contains_key(track);
        if encoded == is {
            return;
        }
        tracing::debug!(track, encoded, "video lane: path changed");
        if encoded {
            self.encoded
                .insert(track.to_owned(), EncodedQueue::default());
        } else {
            self.encoded.remove(track);
        }
        if let Some(room) = self.room() {
            let _ = room.set_video_decoding(track, !encoded);
            if encoded {
                let _ = room.request_keyframe(track);
            }
        }
    }

    /// The page changed (a new connection, or new codecs): re-decide every known track.
    fn reconsider(&mut self) {
        let tracks: Vec<(String, VideoCodecKind)> =
            self.codecs.iter().map(|(t, c)| (t.clone(), *c)).collect();
        for (track, codec) in tracks {
            let want = self.page_codecs.contains(&codec) && self.sizes.contains_key(&track);
            self.set_encoded(&track, want);
            if let Some(q) = self.encoded.get_mut(&track) {
                // A new page, or a decoder that restarted: begin again on a keyframe.
                q.frames.clear();
                q.started = false;
            }
        }
    }
}

/// Shared between the engine's event pump (producer) and the WebSocket task (consumer).
#[derive(Clone)]
pub struct VideoLane {
    inner: Arc<Mutex<Inner>>,
    wake: Arc<Notify>,
    generation: Arc<std::sync::atomic::AtomicU64>,
    url: String,
    /// Frames sent and dropped (never sent because a newer one replaced them).
    stats: Arc<Mutex<LaneStats>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LaneStats {
    pub sent: u64,
    pub dropped: u64,
    pub bytes: u64,
    /// Of `sent`, encoded frames.
    pub encoded: u64,
}

/// What the page asks on the lane (JSON text messages).
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum PageMessage {
    /// The codecs the page's `VideoDecoder` supports ("vp8", "vp9", "h264"; others ignored),
    /// and how it wants decoded pictures: "rgba" (converted here, put on a 2D canvas as they
    /// come) or "i420" (the default: planes for its WebGL shader).
    Decoders {
        codecs: Vec<String>,
        #[serde(default)]
        pixels: Option<String>,
    },
    /// A decoder started or failed on `track`: it needs a keyframe.
    Keyframe { track: String },
}

fn codec_from_name(name: &str) -> Option<VideoCodecKind> {
    match name {
        "vp8" => Some(VideoCodecKind::Vp8),
        "vp9" => Some(VideoCodecKind::Vp9),
        "h264" => Some(VideoCodecKind::H264),
        _ => None,
    }
}

fn codec_byte(codec: VideoCodecKind) -> u8 {
    match codec {
        VideoCodecKind::Vp8 => 1,
        VideoCodecKind::Vp9 => 2,
        VideoCodecKind::H264 => 3,
    }
}

impl VideoLane {
    /// Binds 127.0.0.1 on a free port and serves the lane from the current tokio runtime.
    pub async fn start() -> std::io::Result<VideoLane> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let secret = format!("{:032x}", rand::random::<u128>());
        let lane = VideoLane {
            inner: Arc::default(),
            wake: Arc::default(),
            generation: Arc::default(),
            url: format!("ws://127.0.0.1:{port}/video?secret={secret}"),
            stats: Arc::default(),
        };
        let l = lane.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let l = l.clone();
                let secret = secret.clone();
                tokio::spawn(async move {
                    // The error type is tungstenite's; its size is not ours to choose.
                    #[allow(clippy::result_large_err)]
                    let check =
                        |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                            let ok = req.uri().path() == "/video"
                                && req.uri().query().is_some_and(|q| {
                                    q.split('&').any(|kv| kv == format!("secret={secret}"))
                                });
                            if ok {
                                Ok(resp)
                            } else {
                                let mut r = ErrorResponse::new(Some("wrong secret".into()));
                                *r.status_mut() = StatusCode::FORBIDDEN;
                                Err(r)
                            }
                        };
                    match tokio_tungstenite::accept_hdr_async(tcp, check).await {
                        Ok(ws) => l.serve(ws).await,
                        Err(e) => tracing::debug!("video lane connection refused: {e}"),
                    }
                });
            }
        });
        Ok(lane)
    }

    /// `ws://127.0.0.1:PORT/video?secret=S`, for `AppInfo.videoLane.url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn stats(&self) -> LaneStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// The tracks the UI shows and at what size (device pixels). Others stop being sent.
    pub fn set_sizes(&self, sizes: HashMap<String, (u32, u32)>) {
        if let Ok(mut i) = self.inner.lock() {
            i.slots
                .retain(|k, _| k == LOCAL_CAMERA || sizes.contains_key(k));
            // A hidden track leaves the encoded path; it is re-decided on its next frame.
            let hidden: Vec<String> = i
                .encoded
                .keys()
                .filter(|k| !sizes.contains_key(*k))
                .cloned()
                .collect();
            for t in hidden {
                i.set_encoded(&t, false);
            }
            let local = i.sizes.get(LOCAL_CAMERA).copied();
            i.sizes = sizes;
            if let (Some(s), false) = (local, i.sizes.contains_key(LOCAL_CAMERA)) {
                i.sizes.insert(LOCAL_CAMERA.into(), s);
            }
        }
    }

    /// Whether `track` goes the encoded path now (the page decodes it).
    pub fn is_encoded(&self, track: &str) -> bool {
        self.inner
            .lock()
            .is_ok_and(|i| i.encoded.contains_key(track))
    }

    /// Whether the UI shows `track` (it asked for it in its subscriptions).
    pub fn is_shown(&self, track: &str) -> bool {
        self.inner.lock().is_ok_and(|i| i.sizes.contains_key(track))
    }

    /// The meeting's room (decoding on/off, keyframe requests), or `None` after it; forgets
    /// the previous meeting's tracks.
    pub fn attach_room(&self, room: Option<Weak<Room>>) {
        if let Ok(mut i) = self.inner.lock() {
            i.room = room;
            i.encoded.clear();
            i.codecs.clear();
        }
    }

    /// Offers an encoded frame of a remote track: queued when the page decodes its codec,
    /// else it only records the track's codec (its decoded frames come through [`push`]).
    ///
    /// [`push`]: VideoLane::push
    pub fn push_encoded(&self, frame: EncodedVideoFrame) {
        let Ok(mut i) = self.inner.lock() else { return };
        let track = frame.track_sid.clone();
        i.codecs.insert(track.clone(), frame.codec);
        let want = i.page_codecs.contains(&frame.codec) && i.sizes.contains_key(&track);
        tracing::trace!(
            track,
            keyframe = frame.keyframe,
            want,
            "video lane: encoded frame"
        );
        i.set_encoded(&track, want);
        let Some(q) = i.encoded.get_mut(&track) else {
            return;
        };
        let mut dropped = 0;
        let mut ask_keyframe = false;
        if !q.started && !frame.keyframe {
            dropped = 1;
            ask_keyframe = true;
        } else if q.frames.len() >= MAX_ENCODED_BACKLOG {
            dropped = q.frames.len() as u64 + 1;
            q.frames.clear();
            q.started = frame.keyframe;
            if frame.keyframe {
                dropped -= 1;
            } else {
                ask_keyframe = true;
            }
        } else {
            q.started = true;
        }
        if q.started && (dropped == 0 || frame.keyframe) {
            let counter = {
                let c = i.counters.entry(track.clone()).or_default();
                *c = c.wrapping_add(1);
                *c
            };
            if let Some(q) = i.encoded.get_mut(&track) {
                q.frames.push_back((counter, frame));
            }
        }
        if ask_keyframe {
            if let Some(room) = i.room() {
                let _ = room.request_keyframe(&track);
            }
        }
        drop(i);
        if dropped > 0 {
            if let Ok(mut st) = self.stats.lock() {
                st.dropped += dropped;
            }
        }
        self.wake.notify_one();
    }

    /// A control message from the page.
    fn on_page_message(&self, text: &str) {
        let msg = match serde_json::from_str::<PageMessage>(text) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("video lane: ignored page message: {e}");
                return;
            }
        };
        let Ok(mut i) = self.inner.lock() else { return };
        match msg {
            PageMessage::Decoders { codecs, pixels } => {
                tracing::debug!(?codecs, ?pixels, "video lane: the page decodes");
                // VISIO_VIDEO_PATH=i420 or =rgba keeps every track on that path (benchmarks,
                // and a way out should a platform's decoder misbehave).
                let forced = std::env::var("VISIO_VIDEO_PATH").ok();
                i.page_rgba = match forced.as_deref() {
                    Some("i420") => false,
                    Some("rgba") => true,
                    _ => pixels.as_deref() == Some("rgba"),
                };
                i.page_codecs = if matches!(forced.as_deref(), Some("i420" | "rgba")) {
                    vec![]
                } else {
                    codecs.iter().filter_map(|c| codec_from_name(c)).collect()
                };
                i.reconsider();
            }
            PageMessage::Keyframe { track } => {
                if i.encoded.contains_key(&track) {
                    if let Some(room) = i.room() {
                        let _ = room.request_keyframe(&track);
                    }
                }
            }
        }
    }

    /// Offers a new frame of `track`; replaces an unsent older one.
    pub fn push(&self, track: &str, frame: Arc<VideoFrame>) {
        let Ok(mut i) = self.inner.lock() else { return };
        if track != LOCAL_CAMERA && (!i.sizes.contains_key(track) || i.encoded.contains_key(track))
        {
            return;
        }
        let counter = {
            let c = i.counters.entry(track.to_owned()).or_default();
            *c = c.wrapping_add(1);
            *c
        };
        let replaced = i.slots.insert(
            track.to_owned(),
            Slot {
                frame,
                counter,
                sent: false,
            },
        );
        if replaced.is_some_and(|s| !s.sent) {
            if let Ok(mut st) = self.stats.lock() {
                st.dropped += 1;
            }
        }
        drop(i);
        self.wake.notify_one();
    }

    /// Forgets a track's last frame (it ended, or the preview stopped).
    pub fn clear(&self, track: &str) {
        if let Ok(mut i) = self.inner.lock() {
            i.slots.remove(track);
        }
    }

    /// The frames to send now: every slot not yet sent, marked sent, and the encoded queues.
    fn take_pending(&self) -> (Vec<PendingFrame>, Vec<(u32, EncodedVideoFrame)>, bool) {
        let Ok(mut i) = self.inner.lock() else {
            return (vec![], vec![], false);
        };
        let Inner {
            sizes,
            slots,
            encoded,
            page_rgba,
            ..
        } = &mut *i;
        let raw = slots
            .iter_mut()
            .filter(|(_, s)| !s.sent)
            .map(|(k, s)| {
                s.sent = true;
                let size = sizes.get(k).copied().unwrap_or(DEFAULT_SIZE);
                (k.clone(), s.frame.clone(), s.counter, size)
            })
            .collect();
        let enc = encoded
            .values_mut()
            .flat_map(|q| q.frames.drain(..))
            .collect();
        (raw, enc, *page_rgba)
    }

    async fn serve<S>(&self, ws: tokio_tungstenite::WebSocketStream<S>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        use std::sync::atomic::Ordering;
        let me = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        // Resend what we have to the new page; it announces its decoders, until then I420.
        if let Ok(mut i) = self.inner.lock() {
            i.slots.values_mut().for_each(|s| s.sent = false);
            i.page_codecs.clear();
            i.page_rgba = false;
            i.reconsider();
        }
        let (mut tx, mut rx) = ws.split();
        loop {
            if self.generation.load(Ordering::SeqCst) != me {
                break; // another page took over
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                // Pages send nothing; a read ends when they close.
                m = rx.next() => match m {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(Message::Text(t))) => self.on_page_message(t.as_str()),
                    _ => continue,
                },
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            }
            let (raw, enc, rgba) = self.take_pending();
            let raw = raw.into_iter().map(|(track, frame, counter, (w, h))| {
                let frame = fit(&frame, w, h);
                if rgba {
                    encode_rgba(&track, &frame, counter)
                } else {
                    encode(&track, &frame, counter)
                }
            });
            let enc = enc.into_iter().map(|(c, f)| encode_encoded(&f, c));
            for (msg, is_encoded) in raw.map(|m| (m, false)).chain(enc.map(|m| (m, true))) {
                let len = msg.len() as u64;
                if tx.send(Message::binary(msg)).await.is_err() {
                    return;
                }
                if let Ok(mut st) = self.stats.lock() {
                    st.sent += 1;
                    st.bytes += len;
                    st.encoded += u64::from(is_encoded);
                }
            }
        }
    }
}

/// The frame scaled to fit in `w`x`h` ([`media::fit_size`]: aspect kept, even sides, never
/// enlarged; 0: as it is).
pub fn fit(frame: &Arc<VideoFrame>, w: u32, h: u32) -> Arc<VideoFrame> {
    let size = media::fit_size(frame.width(), frame.height(), w, h);
    if size == (frame.width(), frame.height()) {
        return frame.clone();
    }
    Arc::new(media::scale(frame, size.0, size.1))
}

/// BRIDGE.md's 14-byte header and the track id: magic, version, `format`, a reserved byte,
/// width and height (0 for encoded frames), the frame counter and the id's length, in a buffer
/// with room for `payload` more bytes.
fn message(format: u8, track: &str, w: usize, h: usize, counter: u32, payload: usize) -> Vec<u8> {
    // An id longer than its u16 length field is cut, so the message stays readable.
    let id = &track.as_bytes()[..track.len().min(u16::MAX as usize)];
    let mut out = Vec::with_capacity(14 + id.len() + payload);
    out.extend_from_slice(&[0x56, 1, format, 0]);
    out.extend_from_slice(&(w.min(u16::MAX as usize) as u16).to_le_bytes());
    out.extend_from_slice(&(h.min(u16::MAX as usize) as u16).to_le_bytes());
    out.extend_from_slice(&counter.to_le_bytes());
    out.extend_from_slice(&(id.len() as u16).to_le_bytes());
    out.extend_from_slice(id);
    out
}

/// BRIDGE.md's binary message: 14-byte header, the track id, then Y, U, V tightly packed.
pub fn encode(track: &str, frame: &VideoFrame, counter: u32) -> Vec<u8> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let (cw, ch) = (
        frame.chroma_width() as usize,
        frame.chroma_height() as usize,
    );
    let mut out = message(1, track, w, h, counter, w * h + 2 * cw * ch);
    // Planes may carry a stride wider than the picture: copy row by row.
    for (plane, pw, ph) in [(frame.y(), w, h), (frame.u(), cw, ch), (frame.v(), cw, ch)] {
        let stride = plane.len().checked_div(ph).unwrap_or(pw);
        for row in 0..ph {
            let start = row * stride;
            out.extend_from_slice(&plane[start..start + pw]);
        }
    }
    out
}

/// BRIDGE.md's RGBA message (format 3): the 14-byte header, the track id, then the picture as
/// RGBA (alpha 255), converted here with SIMD (yuvutils) so the page only copies it to its
/// canvas (`putImageData`): no conversion in script, no WebGL (software GL where there is no GPU).
pub fn encode_rgba(track: &str, frame: &VideoFrame, counter: u32) -> Vec<u8> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let mut out = message(3, track, w, h, counter, w * h * 4);
    let head = out.len();
    out.resize(head + w * h * 4, 255);
    if media::i420_to_rgba_into(frame, &mut out[head..]).is_err() {
        // A picture whose planes do not match its size: sent as opaque grey, not garbage.
        out[head..].fill(128);
    }
    out
}

/// BRIDGE.md's encoded message (format 2): the 14-byte header with a 0x0 size, the track id,
/// codec, flags (bit 0: keyframe), two reserved bytes, the timestamp in µs (u64), the bitstream.
pub fn encode_encoded(frame: &EncodedVideoFrame, counter: u32) -> Vec<u8> {
    let mut out = message(2, &frame.track_sid, 0, 0, counter, 12 + frame.data.len());
    out.extend_from_slice(&[codec_byte(frame.codec), u8::from(frame.keyframe), 0, 0]);
    // RTP video time is 90 kHz.
    out.extend_from_slice(&(frame.rtp_time.saturating_mul(100) / 9).to_le_bytes());
    out.extend_from_slice(&frame.data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(w: u32, h: u32) -> Arc<VideoFrame> {
        Arc::new(media::SyntheticVideoSource::new(w, h, 30).render(0, 0))
    }

    #[test]
    fn message_layout() {
        let f = pattern(64, 36);
        let m = encode("TR_x", &f, 7);
        assert_eq!(&m[..4], &[0x56, 1, 1, 0]);
        assert_eq!(u16::from_le_bytes([m[4], m[5]]), 64);
        assert_eq!(u16::from_le_bytes([m[6], m[7]]), 36);
        assert_eq!(u32::from_le_bytes([m[8], m[9], m[10], m[11]]), 7);
        assert_eq!(u16::from_le_bytes([m[12], m[13]]), 4);
        assert_eq!(&m[14..18], b"TR_x");
        assert_eq!(m.len(), 18 + 64 * 36 + 2 * 32 * 18);
        assert_eq!(&m[18..18 + 64], &f.y()[..64]);
    }

    #[test]
    fn fit_keeps_aspect_and_never_enlarges() {
        let f = pattern(1280, 720);
        let s = fit(&f, 320, 320);
        assert_eq!((s.width(), s.height()), (320, 180));
        let s = fit(&f, 4000, 4000);
        assert_eq!((s.width(), s.height()), (1280, 720));
    }

    #[tokio::test]
    async fn refuses_without_secret_and_sends_latest_only() {
        let lane = VideoLane::start().await.unwrap();
        let url = lane.url().to_owned();
        let wrong = url.replace("secret=", "secret=x");
        assert!(tokio_tungstenite::connect_async(&wrong).await.is_err());
        let bare = url.split('?').next().unwrap().to_owned();
        assert!(tokio_tungstenite::connect_async(&bare).await.is_err());

        lane.set_sizes([("TR_a".to_owned(), (320, 180))].into());
        // Three frames before anyone reads: only the last survives.
        for _ in 0..3 {
            lane.push("TR_a", pattern(640, 360));
        }
        lane.push("TR_unlisted", pattern(640, 360));
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let m = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .into_data();
        assert_eq!(u16::from_le_bytes([m[4], m[5]]), 320);
        assert_eq!(u32::from_le_bytes([m[8], m[9], m[10], m[11]]), 3);
        assert_eq!(&m[14..18], b"TR_a");
        assert_eq!(lane.stats().dropped, 2);
        // Nothing else is pending: the unlisted track never comes.
        let more = tokio::time::timeout(std::time::Duration::from_millis(600), ws.next()).await;
        assert!(more.is_err(), "unexpected message {more:?}");
    }

    fn encoded(track: &str, n: u8, keyframe: bool) -> EncodedVideoFrame {
        EncodedVideoFrame {
            participant_identity: "alice".into(),
            track_sid: track.into(),
            codec: VideoCodecKind::Vp8,
            keyframe,
            rtp_time: 90_000 + 3000 * n as u64,
            data: vec![n; 10 + n as usize].into(),
        }
    }

    async fn next_binary(
        ws: &mut tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    ) -> Option<Vec<u8>> {
        loop {
            match tokio::time::timeout(std::time::Duration::from_millis(600), ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => return Some(b.to_vec()),
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }

    #[test]
    fn rgba_message_carries_the_picture_converted() {
        let f = pattern(64, 36);
        let m = encode_rgba("local-camera", &f, 5);
        assert_eq!(&m[..8], &[0x56, 1, 3, 0, 64, 0, 36, 0]);
        assert_eq!(u32::from_le_bytes([m[8], m[9], m[10], m[11]]), 5);
        let head = 14 + "local-camera".len();
        assert_eq!(m.len(), head + 64 * 36 * 4);
        assert_eq!(&m[head..], &media::i420_to_rgba(&f).unwrap()[..]);
        assert!(m[head..].chunks(4).all(|px| px[3] == 255), "opaque");
    }

    #[tokio::test]
    async fn a_page_asking_for_rgba_gets_rgba() {
        let lane = VideoLane::start().await.unwrap();
        let (mut ws, _) = tokio_tungstenite::connect_async(lane.url()).await.unwrap();
        ws.send(Message::text(
            r#"{"type":"decoders","codecs":[],"pixels":"rgba"}"#,
        ))
        .await
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        lane.set_sizes([(LOCAL_CAMERA.to_owned(), (320, 180))].into());
        lane.push(LOCAL_CAMERA, pattern(640, 360));
        let m = next_binary(&mut ws).await.expect("a frame");
        assert_eq!(&m[..8], &[0x56, 1, 3, 0, 64, 1, 180, 0], "RGBA, 320x180");
        assert_eq!(m.len(), 14 + LOCAL_CAMERA.len() + 320 * 180 * 4);
    }

    #[test]
    fn encoded_message_layout() {
        let m = encode_encoded(&encoded("TR_e", 3, true), 42);
        assert_eq!(&m[..8], &[0x56, 1, 2, 0, 0, 0, 0, 0]);
        assert_eq!(u32::from_le_bytes([m[8], m[9], m[10], m[11]]), 42);
        assert_eq!(u16::from_le_bytes([m[12], m[13]]), 4);
        assert_eq!(&m[14..18], b"TR_e");
        assert_eq!(&m[18..22], &[1, 1, 0, 0]);
        let ts = u64::from_le_bytes(m[22..30].try_into().unwrap());
        assert_eq!(ts, 1_100_000, "99000 at 90 kHz is 1.1 s");
        assert_eq!(&m[30..], &[3u8; 13][..]);
    }

    #[tokio::test]
    async fn encoded_path_follows_the_page_and_starts_on_a_keyframe() {
        let lane = VideoLane::start().await.unwrap();
        lane.set_sizes([("TR_e".to_owned(), (320, 180))].into());
        let (mut ws, _) = tokio_tungstenite::connect_async(lane.url()).await.unwrap();

        // Before the page says it decodes VP8, an encoded frame is not sent (I420 is).
        lane.push_encoded(encoded("TR_e", 0, true));
        assert!(next_binary(&mut ws).await.is_none());
        lane.push("TR_e", pattern(640, 360));
        let m = next_binary(&mut ws).await.expect("an I420 frame");
        assert_eq!(m[2], 1);

        // Garbage from the page is ignored; the announcement switches the track.
        ws.send(Message::text("{not json")).await.unwrap();
        ws.send(Message::text(
            r#"{"type":"decoders","codecs":["vp8","av1"]}"#,
        ))
        .await
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // A delta frame first: dropped (the page's decoder needs a keyframe).
        lane.push_encoded(encoded("TR_e", 1, false));
        for n in 2..6 {
            lane.push_encoded(encoded("TR_e", n, n == 2));
        }
        // Decoded frames of an encoded track are no longer forwarded.
        lane.push("TR_e", pattern(640, 360));
        let mut got = vec![];
        while let Some(m) = next_binary(&mut ws).await {
            got.push(m);
        }
        assert_eq!(got.len(), 4, "frames 2..6, every one, in order");
        for (k, m) in got.iter().enumerate() {
            assert_eq!(m[2], 2, "format 2");
            assert_eq!(m[18], 1, "vp8");
            assert_eq!(m[19], u8::from(k == 0), "keyframe flag");
            assert_eq!(m[30], k as u8 + 2, "payload of frame {}", k + 2);
        }
        assert!(lane.stats().encoded >= 4);

        // The page withdraws VP8 (its decoder failed): back to I420.
        ws.send(Message::text(r#"{"type":"decoders","codecs":[]}"#))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        lane.push_encoded(encoded("TR_e", 11, true));
        lane.push("TR_e", pattern(640, 360));
        let m = next_binary(&mut ws).await.expect("I420 again");
        assert_eq!(m[2], 1);
        assert!(next_binary(&mut ws).await.is_none());
    }

    #[tokio::test]
    async fn a_backlog_restarts_the_track_on_a_keyframe() {
        // No page connected: nothing drains the queue.
        let lane = VideoLane::start().await.unwrap();
        lane.set_sizes([("TR_e".to_owned(), (320, 180))].into());
        lane.inner
            .lock()
            .unwrap()
            .page_codecs
            .push(VideoCodecKind::Vp8);
        lane.push_encoded(encoded("TR_e", 0, true));
        for n in 1..MAX_ENCODED_BACKLOG as u8 {
            lane.push_encoded(encoded("TR_e", n, false));
        }
        let queued = |lane: &VideoLane| lane.inner.lock().unwrap().encoded["TR_e"].frames.len();
        assert_eq!(queued(&lane), MAX_ENCODED_BACKLOG);
        assert_eq!(lane.stats().dropped, 0);
        // One more: the whole queue goes, and deltas wait for a keyframe.
        lane.push_encoded(encoded("TR_e", 100, false));
        assert_eq!(queued(&lane), 0);
        assert_eq!(lane.stats().dropped, MAX_ENCODED_BACKLOG as u64 + 1);
        lane.push_encoded(encoded("TR_e", 101, false));
        assert_eq!(queued(&lane), 0);
        lane.push_encoded(encoded("TR_e", 102, true));
        lane.push_encoded(encoded("TR_e", 103, false));
        let i = lane.inner.lock().unwrap();
        let q: Vec<(bool, u8)> = i.encoded["TR_e"]
            .frames
            .iter()
            .map(|(_, f)| (f.keyframe, f.data[0]))
            .collect();
        assert_eq!(q, vec![(true, 102), (false, 103)]);
    }
}
