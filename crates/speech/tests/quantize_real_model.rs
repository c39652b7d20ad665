//! Q8_0 quantisation on the real models: tiny.en (`VISIO_WHISPER_CT2_TINY`) and, when its
//! parts are there, the multilingual base (`VISIO_WHISPER_CT2_BASE_PARTS`), both converted by
//! this crate, then quantised. Side by side in one run (the machine is noisy): each sentence is
//! recognised as live captions do it (one thread, the encoder context fitted to the utterance)
//! by the f16 and the Q8_0 model in turn. Asserts that the quantised file is about half the size,
//! loads, and recognises espeak-ng speech within the same WER bound as f16; prints the WER and
//! the median time per utterance of each.
//!
//! Rerun with figures: `make bench-speech` (release), or
//! `VISIO_WHISPER_CT2_TINY=... cargo test --release -p speech --test quantize_real_model -- --nocapture`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const SENTENCES: [&str; 4] = [
    "The meeting will start at ten o'clock.",
    "Please send the report to the whole team before Friday.",
    "We need a decision on the budget for next year.",
    "Can everyone hear me clearly on this call?",
];

/// The f16 models' bounds on espeak English, utterance by utterance (tiny.en 17-33 %, base about
/// 7 %, see transcribe_real_speech.rs and base_multilingual_real.rs); Q8_0 must meet the same.
const TINY_BOUND: f64 = 0.40;
const BASE_BOUND: f64 = 0.25;

fn espeak(dir: &Path, i: usize, text: &str) -> Vec<f32> {
    let wav = dir.join(format!("s{i}.wav"));
    let ok = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng runs")
        .success();
    assert!(ok);
    speech::audio::read_wav_16k_mono(&wav).expect("wav")
}

/// (WER over all sentences, median ms per utterance) of one model.
fn run(model: &Path, speech: &[Vec<f32>], rounds: usize) -> (f64, f64) {
    let rec = speech::recognizer::Recognizer::load(model, 1).expect("model loads");
    let mut times = vec![];
    let mut heard = vec![];
    for round in 0..rounds {
        for s in speech {
            let t = Instant::now();
            let segs = rec
                .transcribe_utterance(s, Some("en"), 1)
                .expect("recognised");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            if round == 0 {
                heard.push(
                    segs.into_iter()
                        .map(|s| s.text)
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let wer = speech::wer::word_error_rate(&SENTENCES.join(" "), &heard.join(" "));
    (wer, times[times.len() / 2])
}

fn compare(work: &Path, name: &str, f16_model: &Path, bound: f64, speech: &[Vec<f32>]) {
    let bytes = std::fs::read(f16_model).expect("f16 model");
    let (q8, report) = speech::quantize::quantize_q8_0(&bytes).expect("quantised");
    assert!(report.tensors_quantized > 10, "{report:?}");
    let ratio = report.bytes_after as f64 / report.bytes_before as f64;
    assert!((0.45..0.65).contains(&ratio), "size ratio {ratio:.2}");
    // Quantising again is refused: the file is no longer f16.
    assert!(matches!(
        speech::quantize::quantize_q8_0(&q8),
        Err(speech::quantize::QuantizeError::NotF16(7))
    ));
    let q8_path = work.join(format!("{name}-q8_0.bin"));
    std::fs::write(&q8_path, &q8).expect("written");
    speech::ggml_check::check(std::io::Cursor::new(&q8), q8.len() as u64).expect("layout");
    // Alternate f16 and Q8_0 so that both see the same machine.
    let (mut f16_ms, mut q8_ms) = (vec![], vec![]);
    let (mut f16_wer, mut q8_wer) = (0.0, 0.0);
    for _ in 0..2 {
        let (w, t) = run(f16_model, speech, 1);
        f16_wer = w;
        f16_ms.push(t);
        let (w, t) = run(&q8_path, speech, 1);
        q8_wer = w;
        q8_ms.push(t);
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "{name}: f16 {:.0} MB, WER {:.1} %, {:.0} ms per utterance | Q8_0 {:.0} MB, WER {:.1} %, {:.0} ms per utterance ({:.2}x)",
        report.bytes_before as f64 / 1e6,
        f16_wer * 100.0,
        best(&f16_ms),
        report.bytes_after as f64 / 1e6,
        q8_wer * 100.0,
        best(&q8_ms),
        best(&q8_ms) / best(&f16_ms),
    );
    assert!(f16_wer < bound, "{name} f16 WER {f16_wer:.2}");
    assert!(q8_wer < bound, "{name} Q8_0 WER {q8_wer:.2} over {bound}");
}

#[test]
fn q8_0_models_are_half_the_size_and_as_accurate() {
    let Some(tiny) = std::env::var_os("VISIO_WHISPER_CT2_TINY").map(PathBuf::from) else {
        eprintln!("VISIO_WHISPER_CT2_TINY is not set: run through `make test`");
        return;
    };
    let work = std::env::temp_dir().join(format!("visio-q8-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("dir");
    let speech: Vec<Vec<f32>> = SENTENCES
        .iter()
        .enumerate()
        .map(|(i, t)| espeak(&work, i, t))
        .collect();
    let store = speech::models::ModelStore::new(work.join("models"));
    let f16 = speech::models::Weights::AsGiven;
    let model = store
        .install_as(&tiny, "tiny.en", None, f16)
        .expect("converted");
    compare(&work, "tiny.en", &model.path, TINY_BOUND, &speech);
    if let Ok(parts) = std::env::var("VISIO_WHISPER_CT2_BASE_PARTS") {
        let dirs: Vec<PathBuf> = parts.split(':').map(PathBuf::from).collect();
        let ct2 = speech::models::join_parts(&dirs, &work.join("base-ct2")).expect("joined");
        let base = store
            .install_as(&ct2, "base", None, f16)
            .expect("converted");
        std::fs::remove_dir_all(&ct2).ok();
        compare(&work, "base", &base.path, BASE_BOUND, &speech);
    }
    std::fs::remove_dir_all(work).ok();
}
