//! Stopping live captions with real models: the SIGSEGV at the end of
//! `visio join --captions`. Alone in its test binary, so the captions threads it counts are
//! its own. Needs `VISIO_WHISPER_CT2_TINY`, `ORT_DYLIB_PATH`, `VISIO_SILERO_VAD` (`make test`).

mod common;

use std::time::{Duration, Instant};

use captions::{CaptionsConfig, LiveCaptions};
use common::{env, espeak_48k, install, SENTENCES};

/// Names of this process's threads that belong to live captions.
fn caption_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .map(|n| n.trim().to_owned())
                .filter(|n| n.starts_with("captions-"))
                .collect()
        })
        .unwrap_or_default()
}

/// `visio join --captions` died with SIGSEGV when its time was up while a worker was still
/// inside whisper.cpp: the process exited (tearing down whisper.cpp's and ONNX Runtime's
/// globals) under a running recognition. Dropping [`LiveCaptions`] now interrupts the
/// recognition and joins every thread, so nothing of captions runs when `main` returns.
#[test]
fn dropping_interrupts_recognition_and_joins_threads() {
    let (Some(runtime), Some(vad)) = (env("ORT_DYLIB_PATH"), env("VISIO_SILERO_VAD")) else {
        eprintln!("ORT_DYLIB_PATH / VISIO_SILERO_VAD not set: run through `make test`");
        return;
    };
    let work = std::env::temp_dir().join(format!("visio-drop-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("dir");
    let Some(model) = install(&work, "tiny.en") else {
        eprintln!("VISIO_WHISPER_CT2_TINY not set");
        return;
    };
    // One long utterance: the four sentences back to back, 48 kHz.
    let mut speech: Vec<i16> = vec![0; 24_000];
    for (i, (_, text)) in SENTENCES.iter().enumerate() {
        speech.extend(espeak_48k(&work, i, "en-us", text));
    }
    speech.extend(std::iter::repeat_n(0, 48_000));
    // How long the final of that utterance takes uninterrupted, on this machine now.
    let x: Vec<f32> = speech.iter().map(|&v| f32::from(v) / 32768.0).collect();
    let x16 = speech::audio::resample(&x, 48_000, 16_000).expect("16 kHz");
    let rec = speech::recognizer::Recognizer::load(&model, 2).expect("model");
    let t = Instant::now();
    let text = rec.transcribe_utterance(&x16, Some("en"), 2).expect("text");
    let whole = t.elapsed();
    drop(rec);
    assert!(!text.is_empty());

    let mut c = CaptionsConfig::new(&model, &runtime, &vad);
    c.language = Some("en".into());
    let (live, _rx) = LiveCaptions::start(c).expect("starts");
    // (A thread names itself once it runs.)
    let t = Instant::now();
    while caption_threads().len() < 3 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        caption_threads().len(),
        3,
        "two workers and the ingest thread"
    );
    // Faster than real time: the final job is queued at once and a worker takes it.
    for chunk in speech.chunks(960) {
        live.push("alice", "TR_alice", 48_000, chunk);
    }
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    drop(live);
    let stopped = t.elapsed();
    eprintln!("uninterrupted recognition {whole:?}; drop returned after {stopped:?}");
    assert!(caption_threads().is_empty(), "{:?}", caption_threads());
    // whisper.cpp checks the stop flag between graph nodes: far sooner than the recognition
    // would end (margin for a busy machine).
    assert!(
        stopped < whole / 2 + Duration::from_millis(200),
        "{stopped:?} vs {whole:?}"
    );
    std::fs::remove_dir_all(work).ok();
}
