//! A real camera through nokhwa (V4L2 on Linux), as a [`VideoSource`].
//!
//! nokhwa's camera blocks in `frame()` and cannot move between threads, so it lives on its own
//! capture thread that keeps only the newest picture (a late encoder should skip frames, not
//! queue them). YUYV and NV12 are asked for and converted to I420 here, which needs no JPEG
//! decoder; cameras that only offer MJPEG are reported as unsupported.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use nokhwa::utils::{
    CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};

use crate::device::DeviceError;
use crate::frame::VideoFrame;
use crate::source::{SourceError, VideoFormat, VideoSource};

/// The newest captured frame and whether the device failed.
#[derive(Default)]
struct Slot {
    frame: Option<VideoFrame>,
    failed: Option<String>,
}

/// A camera, opened at the format closest to the one asked.
pub struct CameraSource {
    format: VideoFormat,
    slot: Arc<Mutex<Slot>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    start: std::time::Instant,
}

/// Where a V4L2 camera with this id lives, to tell "missing" from "cannot open".
fn v4l2_path(id: &str) -> Option<std::path::PathBuf> {
    let n: u32 = id.parse().ok()?;
    Some(std::path::PathBuf::from(format!("/dev/video{n}")))
}

fn classify(id: &str, reason: String) -> DeviceError {
    let lower = reason.to_lowercase();
    if lower.contains("busy") || lower.contains("os error 16") {
        DeviceError::CameraBusy(id.to_owned())
    } else if lower.contains("no such file") || lower.contains("os error 2") {
        DeviceError::CameraMissing(Some(id.to_owned()))
    } else {
        DeviceError::Backend {
            device: format!("camera {id}"),
            reason,
        }
    }
}

impl CameraSource {
    /// Opens the camera `id` (see [`crate::list_cameras`]; `None` is the first one) and starts
    /// capturing near `want` (size and frame rate).
    pub fn open(id: Option<&str>, want: VideoFormat) -> Result<Self, DeviceError> {
        let id = match id {
            Some(id) => id.to_owned(),
            None => crate::device::list_cameras()
                .into_iter()
                .next()
                .map(|d| d.id)
                .ok_or(DeviceError::CameraMissing(None))?,
        };
        if cfg!(target_os = "linux") {
            match v4l2_path(&id) {
                Some(p) if p.exists() => {}
                _ => return Err(DeviceError::CameraMissing(Some(id))),
            }
        }
        let index = match id.parse::<u32>() {
            Ok(n) => CameraIndex::Index(n),
            Err(_) => CameraIndex::String(id.clone()),
        };
        let slot = Arc::new(Mutex::new(Slot::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let (slot, stop, id) = (slot.clone(), stop.clone(), id.clone());
            std::thread::Builder::new()
                .name(format!("camera-{id}"))
                .spawn(move || capture(index, want, id, slot, stop, ready_tx))
                .map_err(|e| DeviceError::Backend {
                    device: "camera".into(),
                    reason: e.to_string(),
                })?
        };
        let format = match ready_rx.recv() {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(DeviceError::Backend {
                    device: format!("camera {id}"),
                    reason: "capture thread ended".into(),
                });
            }
        };
        Ok(Self {
            format,
            slot,
            stop,
            thread: Some(thread),
            start: std::time::Instant::now(),
        })
    }
}

fn capture(
    index: CameraIndex,
    want: VideoFormat,
    id: String,
    slot: Arc<Mutex<Slot>>,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<VideoFormat, DeviceError>>,
) {
    let wanted = CameraFormat::new(
        Resolution::new(want.width, want.height),
        FrameFormat::YUYV,
        want.fps,
    );
    let request = RequestedFormat::with_formats(
        RequestedFormatType::Closest(wanted),
        &[FrameFormat::YUYV, FrameFormat::NV12],
    );
    let opened = nokhwa::Camera::new(index, request).and_then(|mut c| {
        c.open_stream()?;
        Ok(c)
    });
    let mut camera = match opened {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(classify(&id, e.to_string())));
            return;
        }
    };
    let cf = camera.camera_format();
    let _ = ready.send(Ok(VideoFormat {
        width: cf.width(),
        height: cf.height(),
        fps: cf.frame_rate(),
    }));
    while !stop.load(Ordering::Relaxed) {
        let result = camera.frame_raw().map(|raw| {
            let (w, h) = (cf.width(), cf.height());
            match cf.format() {
                FrameFormat::NV12 => nv12_to_i420(&raw, w, h),
                _ => yuyv_to_i420(&raw, w, h),
            }
        });
        let Ok(mut s) = slot.lock() else { return };
        match result {
            Ok(Some(frame)) => s.frame = Some(frame),
            Ok(None) => tracing::debug!("camera {id}: short frame skipped"),
            Err(e) => {
                s.failed = Some(e.to_string());
                return;
            }
        }
    }
    let _ = camera.stop_stream();
}

/// Packed YUYV 4:2:2 to I420 (chroma of each row pair averaged). `None` if `raw` is short.
pub fn yuyv_to_i420(raw: &[u8], width: u32, height: u32) -> Option<VideoFrame> {
    let (w, h) = (width as usize & !1, height as usize & !1);
    if w == 0 || h == 0 || raw.len() < width as usize * 2 * h {
        return None;
    }
    let stride = width as usize * 2;
    let mut y = vec![0u8; w * h];
    let mut u = vec![0u8; w / 2 * h / 2];
    let mut v = vec![0u8; w / 2 * h / 2];
    for row in 0..h {
        let line = &raw[row * stride..row * stride + w * 2];
        for (x, px) in line.chunks_exact(2).enumerate() {
            y[row * w + x] = px[0];
        }
    }
    for row in 0..h / 2 {
        let a = &raw[2 * row * stride..];
        let b = &raw[(2 * row + 1) * stride..];
        for x in 0..w / 2 {
            let i = x * 4;
            u[row * w / 2 + x] = (u16::from(a[i + 1]) + u16::from(b[i + 1])).div_ceil(2) as u8;
            v[row * w / 2 + x] = (u16::from(a[i + 3]) + u16::from(b[i + 3])).div_ceil(2) as u8;
        }
    }
    VideoFrame::from_planes(w as u32, h as u32, y, u, v, 0).ok()
}

/// NV12 (Y plane, then interleaved UV) to I420. `None` if `raw` is short.
pub fn nv12_to_i420(raw: &[u8], width: u32, height: u32) -> Option<VideoFrame> {
    let (w, h) = (width as usize & !1, height as usize & !1);
    let luma = width as usize * height as usize;
    if w == 0 || h == 0 || raw.len() < luma + width as usize * h / 2 {
        return None;
    }
    let mut y = Vec::with_capacity(w * h);
    for row in 0..h {
        y.extend_from_slice(&raw[row * width as usize..row * width as usize + w]);
    }
    let mut u = Vec::with_capacity(w * h / 4);
    let mut v = Vec::with_capacity(w * h / 4);
    for row in 0..h / 2 {
        let line = &raw[luma + row * width as usize..luma + row * width as usize + w];
        for px in line.chunks_exact(2) {
            u.push(px[0]);
            v.push(px[1]);
        }
    }
    VideoFrame::from_planes(w as u32, h as u32, y, u, v, 0).ok()
}

impl VideoSource for CameraSource {
    fn format(&self) -> VideoFormat {
        self.format
    }

    fn next_frame(&mut self, now_us: u64) -> Result<Option<VideoFrame>, SourceError> {
        let mut s = self
            .slot
            .lock()
            .map_err(|_| SourceError::Device("camera thread panicked".into()))?;
        if let Some(reason) = &s.failed {
            return Err(SourceError::Disconnected(reason.clone()));
        }
        Ok(s.frame.take().map(|mut f| {
            f.timestamp_us = now_us;
            f
        }))
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        tracing::debug!("camera closed after {:?}", self.start.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_camera_is_a_typed_error() {
        let want = VideoFormat {
            width: 640,
            height: 360,
            fps: 30,
        };
        // No /dev/video99 on any ordinary machine; these CI machines have no camera at all.
        match CameraSource::open(Some("99"), want) {
            Err(DeviceError::CameraMissing(Some(id))) => assert_eq!(id, "99"),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a camera at /dev/video99?"),
        }
        let e = DeviceError::CameraMissing(Some("99".into()));
        assert_eq!(e.to_string(), "no camera found named \"99\"");
        if crate::device::list_cameras().is_empty() {
            assert_eq!(
                CameraSource::open(None, want).err(),
                Some(DeviceError::CameraMissing(None))
            );
        }
        assert_eq!(
            classify("0", "Device or resource busy (os error 16)".into()),
            DeviceError::CameraBusy("0".into())
        );
    }

    #[test]
    fn yuyv_and_nv12_convert_to_i420() {
        // 4x2 YUYV: Y ramps, U=100/110 on the two rows (averaged), V=200.
        let raw = [
            10, 100, 20, 200, 30, 100, 40, 200, //
            50, 110, 60, 200, 70, 110, 80, 200,
        ];
        let f = yuyv_to_i420(&raw, 4, 2).expect("frame");
        assert_eq!(f.y(), &[10, 20, 30, 40, 50, 60, 70, 80]);
        assert_eq!(f.u(), &[105, 105]);
        assert_eq!(f.v(), &[200, 200]);
        assert!(yuyv_to_i420(&raw[..10], 4, 2).is_none());
        let nv12 = [1, 2, 3, 4, 5, 6, 7, 8, 90, 91, 92, 93];
        let f = nv12_to_i420(&nv12, 4, 2).expect("frame");
        assert_eq!((f.u(), f.v()), (&[90u8, 92][..], &[91u8, 93][..]));
    }
}
