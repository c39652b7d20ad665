//! Switching devices in a meeting, with real audio devices: a private PulseAudio server whose
//! null sinks serve as two microphones (`mic` plays 440 Hz, `mic2` 880 Hz) and two speakers
//! (`spk`, `spk2`), reached by cpal through ALSA's `pulse` plugin.
//!
//! Alice publishes her microphone and plays the room; Bob publishes the synthetic 440 Hz
//! tone. Alice switches microphone: Bob hears 880 Hz instead of 440 without her leaving.
//! She switches speaker: Bob's tone now plays on `spk2` and no longer on `spk`. A device that
//! is not there is a clear error and changes nothing. (No camera here: the camera switch is
//! tested on the encoder's sans-I/O worker.)
//!
//! Skipped (with a message) when `pulseaudio` is not installed.

use std::time::{Duration, Instant};

use engine::{EngineError, PlayoutOptions, PublishOptions, Room, RoomOptions, TrackKind};
use room_server::{RoomServer, ServerConfig};

#[path = "../../media/tests/pulse/mod.rs"]
mod pulse;
use pulse::{pactl, play_tone, pulse, record};

mod common;
use common::token;

/// The dominant frequency Bob hears from Alice's microphone, once it is within 10 Hz of `hz`
/// (polled for up to `within`); the last value seen otherwise.
async fn heard(bob: &Room, hz: f64, within: Duration) -> Option<f64> {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        let stats = bob.track_stats().await.expect("stats");
        last = stats
            .iter()
            .find(|t| t.participant == "alice" && t.kind == TrackKind::Audio && t.rms > 0.05)
            .and_then(|t| t.dominant_hz);
        if last.is_some_and(|f| (f - hz).abs() < 10.0) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    last
}

fn tone_at(samples: &[i16]) -> (f64, f64) {
    let tail = &samples[samples.len().saturating_sub(48_000)..];
    (
        media::dominant_hz(tail, 48_000).unwrap_or(0.0),
        media::rms(tail),
    )
}

// The sound server's guard is held on purpose for the whole test: its default devices are
// process-wide state.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microphone_and_speaker_switch_without_leaving() {
    let Some(_pulse) = pulse() else { return };
    assert!(pactl(&["set-default-source", "mic.monitor"]));
    assert!(pactl(&["set-default-sink", "spk"]));
    let _a = play_tone("mic", 440.0, 40.0);
    let _b = play_tone("mic2", 880.0, 40.0);

    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let url = server.url();
    let bob_opts = RoomOptions {
        publish: Some(PublishOptions {
            video: false,
            ..PublishOptions::fake_devices()
        }),
        ..Default::default()
    };
    let (bob, _bob_events) = Room::connect(&url, &token("sw", "bob"), bob_opts)
        .await
        .expect("bob joins");
    let alice_opts = RoomOptions {
        publish: Some(PublishOptions {
            video: false,
            microphone: Some("pulse".into()),
            // The far end is a 440 Hz tone too: no canceller between the test and its tones.
            audio_processing: false,
            ..PublishOptions::devices()
        }),
        playout: Some(PlayoutOptions {
            device: Some("pulse".into()),
        }),
        ..Default::default()
    };
    let (alice, _alice_events) = Room::connect(&url, &token("sw", "alice"), alice_opts)
        .await
        .expect("alice joins");

    let first = heard(&bob, 440.0, Duration::from_secs(15)).await;
    println!("bob hears alice's first microphone at {first:?} Hz");
    assert!(first.is_some_and(|f| (f - 440.0).abs() < 10.0), "{first:?}");

    // Another microphone, in the meeting.
    assert!(pactl(&["set-default-source", "mic2.monitor"]));
    let t = Instant::now();
    alice
        .set_microphone(Some("pulse".into()))
        .await
        .expect("switched");
    let second = heard(&bob, 880.0, Duration::from_secs(10)).await;
    println!(
        "after the switch bob hears {second:?} Hz ({} ms after the call)",
        t.elapsed().as_millis()
    );
    assert!(
        second.is_some_and(|f| (f - 880.0).abs() < 10.0),
        "{second:?}"
    );

    // A microphone that is not there: a clear error, and the current one goes on.
    let missing = alice
        .set_microphone(Some("no-such-microphone".into()))
        .await;
    println!("switching to a missing microphone: {missing:?}");
    assert!(
        matches!(
            missing,
            Err(EngineError::Device(media::DeviceError::MicrophoneMissing(
                _
            )))
        ),
        "{missing:?}"
    );
    let still = heard(&bob, 880.0, Duration::from_secs(5)).await;
    assert!(still.is_some_and(|f| (f - 880.0).abs() < 10.0), "{still:?}");
    // No camera published: nothing to switch, said so.
    let camera = alice.set_camera(None).await;
    assert!(matches!(camera, Err(EngineError::Media(_))), "{camera:?}");

    // Another speaker: Bob's tone moves from spk to spk2.
    let before = record("spk", 1.5).join().expect("recording");
    let (hz, level) = tone_at(&before);
    println!("before the switch spk plays {hz:.0} Hz at rms {level:.3}");
    assert!((hz - 440.0).abs() < 10.0 && level > 0.05, "{hz} {level}");
    assert!(pactl(&["set-default-sink", "spk2"]));
    alice
        .set_speaker(Some("pulse".into()))
        .await
        .expect("speaker switched");
    // ALSA's pulse plugin fills about 2 s before it plays.
    let new = record("spk2", 5.0);
    let old = record("spk", 5.0);
    let (new, old) = (new.join().expect("spk2"), old.join().expect("spk"));
    let (hz, level) = tone_at(&new);
    let (_, old_level) = tone_at(&old);
    println!("after the switch spk2 plays {hz:.0} Hz at rms {level:.3}; spk rms {old_level:.4}");
    assert!((hz - 440.0).abs() < 10.0 && level > 0.05, "{hz} {level}");
    assert!(
        old_level < 0.01,
        "the old speaker still plays: rms {old_level}"
    );

    alice.disconnect().await;
    bob.disconnect().await;
}
