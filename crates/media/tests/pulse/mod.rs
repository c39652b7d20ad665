//! A private PulseAudio server with null sinks for tests with real audio devices, reached by
//! cpal through ALSA's `pulse` plugin (Debian `pulseaudio`, `pulseaudio-utils`,
//! `libasound2-plugins`). Shared by the media crate's device tests and the engine's (which
//! include this file with `#[path]`).
//!
//! Sinks: `mic` and `mic2` (their monitors serve as microphones), `spk` and `spk2` (speakers).
//! cpal reaches them all as the ALSA device `pulse`: which one is chosen with
//! `pactl set-default-source` / `set-default-sink` before a device is opened.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use media::ToneSource;

pub struct Pulse {
    dir: PathBuf,
    daemon: Child,
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One sound server for the whole test binary; tests take turns (they share default devices).
pub fn pulse() -> Option<std::sync::MutexGuard<'static, Option<Pulse>>> {
    static SERVER: OnceLock<Mutex<Option<Pulse>>> = OnceLock::new();
    let server = SERVER.get_or_init(|| Mutex::new(start_pulse()));
    let guard = server.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        eprintln!("SKIPPED: no PulseAudio server (apt install pulseaudio pulseaudio-utils libasound2-plugins)");
        return None;
    }
    Some(guard)
}

fn start_pulse() -> Option<Pulse> {
    let dir = std::env::temp_dir().join(format!("visio-pulse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    // Everything the daemon and the clients look up goes to the private directory: the socket
    // ($XDG_RUNTIME_DIR/pulse/native), the cookie and state ($HOME). Set once, before any
    // audio client exists in this process.
    std::env::set_var("XDG_RUNTIME_DIR", &dir);
    std::env::set_var("PULSE_RUNTIME_PATH", dir.join("pulse"));
    std::env::set_var("HOME", &dir);
    std::env::set_var(
        "PULSE_SERVER",
        format!("unix:{}", dir.join("pulse/native").display()),
    );
    let daemon = Command::new("pulseaudio")
        .args([
            "--daemonize=no",
            "--system=false",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "-n",
            "--load=module-native-protocol-unix auth-anonymous=1",
            "--load=module-null-sink sink_name=mic rate=48000 channels=1",
            "--load=module-null-sink sink_name=spk rate=48000 channels=1",
            "--load=module-null-sink sink_name=mic2 rate=48000 channels=1",
            "--load=module-null-sink sink_name=spk2 rate=48000 channels=1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let pulse = Pulse { dir, daemon };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if pactl(&["info"]) {
            return Some(pulse);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

pub fn pactl(args: &[&str]) -> bool {
    Command::new("pactl")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn tone_bytes(hz: f64, seconds: f64) -> Vec<u8> {
    ToneSource::new(hz, 0.5, 20)
        .samples((48_000.0 * seconds) as usize)
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect()
}

/// Records `seconds` of the sink `sink`'s monitor with parec, 48 kHz mono.
pub fn record(sink: &str, seconds: f64) -> std::thread::JoinHandle<Vec<i16>> {
    let mut child = Command::new("parec")
        .args([
            &format!("--device={sink}.monitor"),
            "--raw",
            "--format=s16le",
            "--rate=48000",
            "--channels=1",
            "--latency-msec=20",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("parec");
    let mut out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        let want = (48_000.0 * seconds) as usize * 2;
        let mut bytes = vec![0u8; want];
        let mut got = 0;
        while got < want {
            match out.read(&mut bytes[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        bytes[..got]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    })
}

/// Plays `hz` into the sink `sink` in real time (so the null sink drops nothing) for `seconds`
/// with pacat, on a thread; join it to wait for the end.
pub fn play_tone(sink: &str, hz: f64, seconds: f64) -> std::thread::JoinHandle<()> {
    let mut player = Command::new("pacat")
        .args([
            &format!("--device={sink}"),
            "--raw",
            "--format=s16le",
            "--rate=48000",
            "--channels=1",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("pacat");
    let mut stdin = player.stdin.take().expect("stdin");
    std::thread::spawn(move || {
        let start = Instant::now();
        for (i, chunk) in tone_bytes(hz, seconds).chunks(1920).enumerate() {
            if stdin.write_all(chunk).is_err() {
                break;
            }
            // 20 ms a chunk, paced on the clock rather than by sleeping a fixed time.
            let due = start + Duration::from_millis(20 * (i as u64 + 1));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        drop(stdin);
        let _ = player.kill();
        let _ = player.wait();
    })
}
