//! `visio models` and `visio transcribe`: model management and transcription of recorded
//! audio, with the same pipeline the meeting captions use.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use speech::models::ModelStore;
use speech::transcript::{Format, Transcript};

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
    /// folder or model.bin). Nothing is downloaded.
    Install {
        source: PathBuf,
        /// Name to install it under (e.g. tiny.en, base).
        #[arg(long)]
        name: String,
        /// Refuse the source unless its SHA-256 is this (as announced by IT).
        #[arg(long)]
        sha256: Option<String>,
    },
    /// Recheck a model's SHA-256 against the one recorded at install.
    Verify { name: String },
}

pub fn models(args: ModelsArgs) -> anyhow::Result<()> {
    let store = ModelStore::new(args.models_dir.unwrap_or_else(default_models_dir));
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
            source,
            name,
            sha256,
        } => {
            let m = store.install(&source, &name, sha256.as_deref())?;
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
    /// Split speakers of a shared microphone (not available yet).
    #[arg(long)]
    diarize: bool,
    /// CPU threads for recognition.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

pub fn transcribe(args: TranscribeArgs) -> anyhow::Result<()> {
    if args.diarize {
        anyhow::bail!("--diarize is not available yet; transcribe without it");
    }
    let path = PathBuf::from(&args.model);
    let model = if path.is_file() {
        path
    } else {
        let store = ModelStore::new(args.models_dir.clone().unwrap_or_else(default_models_dir));
        store
            .verify(&args.model)
            .with_context(|| {
                format!(
                    "model {:?}: install it with `visio models install`",
                    args.model
                )
            })?
            .path
    };
    let samples = speech::audio::read_wav_16k_mono(&args.file)?;
    let rec = speech::recognizer::Recognizer::load(&model, args.threads)?;
    let segments = rec.transcribe(&samples, args.lang.as_deref())?;
    let title = args
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    print!(
        "{}",
        Transcript::from_segments(&title, "Intervenant", &segments).render(args.format)
    );
    Ok(())
}
