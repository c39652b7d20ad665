//! The video lane: decoded frames from Rust to the webview over a WebSocket on 127.0.0.1
//! (measured 3-4x faster than Tauri's IPC for raw frames, see the stack notes).
//!
//! - Port random, URL carries a per-launch random secret; a connection without it is refused
//!   (HTTP 403 at the upgrade), so no other local process can watch the meeting.
//! - Per track the UI wants (plus `local-camera`), only the **latest** frame is kept; a frame
//!   not yet sent when a newer one arrives is dropped, so a slow page never builds a backlog.
//! - Frames are scaled in Rust to fit the size the UI asked for (never up), keeping the
//!   aspect ratio, then sent as BRIDGE.md's binary message (header + I420 planes).
//! - One page at a time: a new connection takes over from the previous one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use media::VideoFrame;
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
            let local = i.sizes.get(LOCAL_CAMERA).copied();
            i.sizes = sizes;
            if let (Some(s), false) = (local, i.sizes.contains_key(LOCAL_CAMERA)) {
                i.sizes.insert(LOCAL_CAMERA.into(), s);
            }
        }
    }

    /// Offers a new frame of `track`; replaces an unsent older one.
    pub fn push(&self, track: &str, frame: Arc<VideoFrame>) {
        let Ok(mut i) = self.inner.lock() else { return };
        if track != LOCAL_CAMERA && !i.sizes.contains_key(track) {
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

    /// The frames to send now: every slot not yet sent, marked sent.
    fn take_pending(&self) -> Vec<PendingFrame> {
        let Ok(mut i) = self.inner.lock() else {
            return vec![];
        };
        let Inner { sizes, slots, .. } = &mut *i;
        slots
            .iter_mut()
            .filter(|(_, s)| !s.sent)
            .map(|(k, s)| {
                s.sent = true;
                let size = sizes.get(k).copied().unwrap_or(DEFAULT_SIZE);
                (k.clone(), s.frame.clone(), s.counter, size)
            })
            .collect()
    }

    async fn serve<S>(&self, ws: tokio_tungstenite::WebSocketStream<S>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        use std::sync::atomic::Ordering;
        let me = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        // Resend what we have to the new page.
        if let Ok(mut i) = self.inner.lock() {
            i.slots.values_mut().for_each(|s| s.sent = false);
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
                    _ => continue,
                },
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            }
            for (track, frame, counter, (w, h)) in self.take_pending() {
                let msg = encode(&track, &fit(&frame, w, h), counter);
                let len = msg.len() as u64;
                if tx.send(Message::binary(msg)).await.is_err() {
                    return;
                }
                if let Ok(mut st) = self.stats.lock() {
                    st.sent += 1;
                    st.bytes += len;
                }
            }
        }
    }
}

/// The frame scaled to fit in `w`x`h`, aspect kept, even sizes, never enlarged.
pub fn fit(frame: &Arc<VideoFrame>, w: u32, h: u32) -> Arc<VideoFrame> {
    let (fw, fh) = (frame.width(), frame.height());
    if w == 0 || h == 0 || (w >= fw && h >= fh) {
        return frame.clone();
    }
    let k = (w as f64 / fw as f64).min(h as f64 / fh as f64);
    let even = |v: f64| ((v as u32) & !1).max(2);
    let (tw, th) = (even(fw as f64 * k), even(fh as f64 * k));
    if (tw, th) == (fw, fh) {
        return frame.clone();
    }
    Arc::new(media::scale(frame, tw, th))
}

/// BRIDGE.md's binary message: 14-byte header, the track id, then Y, U, V tightly packed.
pub fn encode(track: &str, frame: &VideoFrame, counter: u32) -> Vec<u8> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let (cw, ch) = (
        frame.chroma_width() as usize,
        frame.chroma_height() as usize,
    );
    let id = track.as_bytes();
    let mut out = Vec::with_capacity(14 + id.len() + w * h + 2 * cw * ch);
    out.extend_from_slice(&[0x56, 1, 1, 0]);
    out.extend_from_slice(&(w.min(u16::MAX as usize) as u16).to_le_bytes());
    out.extend_from_slice(&(h.min(u16::MAX as usize) as u16).to_le_bytes());
    out.extend_from_slice(&counter.to_le_bytes());
    out.extend_from_slice(&(id.len() as u16).to_le_bytes());
    out.extend_from_slice(id);
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
}
