//! `cargo fuzz run model_files` (from crates/speech): the two model formats the app reads from
//! files a user or an IT URL provides, before any native code sees them: whisper.cpp's layout
//! check (`ggml_check`), the Q8_0 quantiser (`quantize`) and the CTranslate2 reader (`ct2::read`, then conversion).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = speech::ggml_check::check(std::io::Cursor::new(data), data.len() as u64);
    let _ = speech::quantize::quantize_q8_0(data);
    if let Ok(model) = speech::ct2::read(data) {
        let _ = speech::ggml::convert(&model, b"{}");
    }
});
