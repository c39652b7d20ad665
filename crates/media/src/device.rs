//! The machine's cameras, microphones and speakers, for the app's device menus, and the typed
//! errors a missing, unplugged or busy device gives so that the caller can carry on without it.
//!
//! Ids are what [`crate::CameraSource::open`], [`crate::MicrophoneSource::open`] and
//! [`crate::Speaker::open`] take back: the V4L2 index for cameras (`"0"` is `/dev/video0`),
//! the audio backend's device name for microphones and speakers (cpal gives no other stable id).

use cpal::traits::{DeviceTrait, HostTrait};

/// Which kind of device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Camera,
    Microphone,
    Speaker,
}

/// One entry of a device menu.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    pub kind: DeviceKind,
    /// What to pass back to open the device.
    pub id: String,
    /// What to show the user.
    pub label: String,
    /// The system's default for this kind (the first camera for cameras).
    pub default: bool,
}

/// Why a device could not be opened or stopped delivering. Each is recoverable: the caller
/// joins without that device and tells the user.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DeviceError {
    #[error("no camera found{}", for_id(.0))]
    CameraMissing(Option<String>),
    #[error("the camera {0} is busy (used by another application)")]
    CameraBusy(String),
    #[error("no microphone found{}", for_id(.0))]
    MicrophoneMissing(Option<String>),
    #[error("no speaker found{}", for_id(.0))]
    SpeakerMissing(Option<String>),
    #[error("cannot read the audio file {path}: {reason}")]
    File { path: String, reason: String },
    /// Anything else the device layer reported (permissions, unsupported formats...).
    #[error("{device}: {reason}")]
    Backend { device: String, reason: String },
}

fn for_id(id: &Option<String>) -> String {
    id.as_ref()
        .map(|i| format!(" named {i:?}"))
        .unwrap_or_default()
}

/// Every camera, microphone and speaker, cameras first. A backend that cannot be queried
/// (no V4L2, no sound server) just contributes nothing.
pub fn list_devices() -> Vec<DeviceInfo> {
    let mut all = list_cameras();
    all.extend(list_audio(DeviceKind::Microphone));
    all.extend(list_audio(DeviceKind::Speaker));
    all
}

/// The cameras nokhwa sees (V4L2 on Linux, Media Foundation on Windows, AVFoundation on macOS).
pub fn list_cameras() -> Vec<DeviceInfo> {
    match nokhwa::query(nokhwa::utils::ApiBackend::Auto) {
        Ok(cams) => cams
            .iter()
            .enumerate()
            .map(|(i, c)| DeviceInfo {
                kind: DeviceKind::Camera,
                id: c.index().as_string(),
                label: c.human_name(),
                default: i == 0,
            })
            .collect(),
        Err(e) => {
            tracing::debug!("no camera backend: {e}");
            vec![]
        }
    }
}

/// Microphones (`DeviceKind::Microphone`) or speakers (`DeviceKind::Speaker`) of cpal's
/// default host (ALSA on Linux, which reaches PulseAudio/PipeWire through its `pulse` and
/// `default` devices).
pub fn list_audio(kind: DeviceKind) -> Vec<DeviceInfo> {
    let host = cpal::default_host();
    let (devices, default) = match kind {
        DeviceKind::Microphone => (
            host.input_devices().map(|d| d.collect::<Vec<_>>()),
            host.default_input_device().and_then(|d| d.name().ok()),
        ),
        DeviceKind::Speaker => (
            host.output_devices().map(|d| d.collect::<Vec<_>>()),
            host.default_output_device().and_then(|d| d.name().ok()),
        ),
        DeviceKind::Camera => return list_cameras(),
    };
    let devices = match devices {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!("no audio devices: {e}");
            return vec![];
        }
    };
    devices
        .iter()
        .filter_map(|d| d.name().ok())
        .map(|name| DeviceInfo {
            kind,
            default: default.as_deref() == Some(name.as_str()),
            label: name.clone(),
            id: name,
        })
        .collect()
}

/// The cpal device named `id`, or the default one.
pub(crate) fn find_audio_device(
    kind: DeviceKind,
    id: Option<&str>,
) -> Result<cpal::Device, DeviceError> {
    let missing = || match kind {
        DeviceKind::Speaker => DeviceError::SpeakerMissing(id.map(str::to_owned)),
        _ => DeviceError::MicrophoneMissing(id.map(str::to_owned)),
    };
    let host = cpal::default_host();
    match id {
        None => match kind {
            DeviceKind::Speaker => host.default_output_device(),
            _ => host.default_input_device(),
        }
        .ok_or_else(missing),
        Some(id) => {
            let devices = match kind {
                DeviceKind::Speaker => host.output_devices(),
                _ => host.input_devices(),
            }
            .map_err(|_| missing())?;
            devices
                .into_iter()
                .find(|d| d.name().ok().as_deref() == Some(id))
                .ok_or_else(missing)
        }
    }
}

/// Starts a cpal stream on its device thread, reports whether it started, and keeps it alive
/// until `stop` is set (cpal streams are not `Send`, so the thread that built one holds it).
pub(crate) fn hold_stream(
    stream: Result<cpal::Stream, String>,
    ready: &std::sync::mpsc::Sender<Result<(), String>>,
    stop: &std::sync::atomic::AtomicBool,
) {
    use cpal::traits::StreamTrait;
    let stream = match stream.and_then(|s| s.play().map(|_| s).map_err(|e| e.to_string())) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(stream);
}
