//! Bad input to the app's on-device speech, against the in-process room server: no model, a
//! model that is not one, a damaged model, wrong sources and names, a missing transcript. Each
//! gives its error code, saves nothing, and a meeting goes on as before. (The working path, with
//! the real model and keychain, is `tests/e2e/test_speech.py`.)
//!
//! One test function: the model and transcript directories are process-wide settings.

use std::sync::Arc;
use std::time::Duration;

use room_server::{RoomServer, ServerConfig};
use tokio::sync::mpsc;
use visio_desktop::bridge::{ErrorCode, JoinRequest, OnDeviceState, RoomEvent as UiEvent};
use visio_desktop::client::{Client, Launch};
use visio_desktop::on_device::{self, InstallModelRequest};
use visio_desktop::settings::Store;

fn request(name: &str) -> InstallModelRequest {
    InstallModelRequest {
        name: name.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_models_and_transcripts_give_clear_errors_and_the_meeting_goes_on() {
    let base = std::env::temp_dir().join(format!("visio-on-device-{}", std::process::id()));
    let (models, transcripts) = (base.join("models"), base.join("transcripts"));
    std::fs::create_dir_all(&base).expect("dir");
    std::env::set_var("VISIO_MODELS_DIR", &models);
    std::env::set_var("VISIO_TRANSCRIPTS_DIR", &transcripts);

    let (tx, mut ui) = mpsc::unbounded_channel();
    let app = Client::start(
        Launch {
            camera_size: Some((320, 180)),
            fake_devices: true,
            ..Default::default()
        },
        Store::at(&base.join("config")),
        Arc::new(move |e| {
            let _ = tx.send(e);
        }),
    )
    .await
    .expect("client starts");

    // No model: refused, and the setting stays off.
    let e = app.set_on_device_captions(true).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ModelMissing, "{e:?}");
    assert!(!app.settings().on_device_captions);
    let listed = on_device::list_models(None).expect("lists");
    assert!(listed.models.is_empty());

    // Wrong sources and names.
    let policy = policy::NetworkPolicy::default();
    let garbage = base.join("notes.txt");
    std::fs::write(&garbage, "not a model").expect("write");
    for (req, code) in [
        (
            InstallModelRequest {
                path: Some(garbage.display().to_string()),
                ..request("tiny")
            },
            ErrorCode::ModelInvalid,
        ),
        (
            InstallModelRequest {
                path: Some(base.join("absent.bin").display().to_string()),
                ..request("tiny")
            },
            ErrorCode::ModelInvalid,
        ),
        (
            InstallModelRequest {
                path: Some(garbage.display().to_string()),
                ..request("../escape")
            },
            ErrorCode::ModelInvalid,
        ),
        (
            InstallModelRequest {
                url: Some("https://models.example/base.bin".into()),
                ..request("base")
            },
            ErrorCode::ModelInvalid,
        ),
        (
            InstallModelRequest {
                url: Some("http://models.example/base.bin".into()),
                sha256: Some("ab".repeat(32)),
                ..request("base")
            },
            ErrorCode::NotAllowed,
        ),
        (
            InstallModelRequest {
                from_policy: true,
                sha256: Some("ab".repeat(32)),
                ..request("base")
            },
            ErrorCode::NotAllowed,
        ),
        (
            InstallModelRequest {
                path: Some(garbage.display().to_string()),
                url: Some("https://models.example/base.bin".into()),
                ..request("base")
            },
            ErrorCode::ModelInvalid,
        ),
    ] {
        let what = format!("{req:?}");
        let e = on_device::install_model(req, &policy, None)
            .await
            .expect_err(&what);
        assert_eq!(e.code, code, "{what}: {e:?}");
    }
    assert!(on_device::list_models(None)
        .expect("lists")
        .models
        .is_empty());

    // A file with whisper.cpp's magic and nothing behind it is refused at install (whisper.cpp
    // itself would abort the process on it).
    let fake = base.join("fake.bin");
    let mut bytes = 0x6767_6d6c_u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[7; 64]);
    std::fs::write(&fake, &bytes).expect("write");
    let e = on_device::install_model(
        InstallModelRequest {
            path: Some(fake.display().to_string()),
            ..request("broken")
        },
        &policy,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::ModelInvalid, "{e:?}");
    // The same file found in the models directory (damaged after install): verify names it,
    // and loading it in a meeting fails cleanly (below).
    std::fs::create_dir_all(&models).expect("dir");
    std::fs::write(models.join("broken.bin"), &bytes).expect("write");
    std::fs::write(
        models.join("broken.bin.sha256"),
        format!("{}  broken.bin\n", "0".repeat(64)),
    )
    .expect("write");
    let e = on_device::verify_model("broken".into()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ModelInvalid, "{e:?}");
    let e = on_device::verify_model("absent".into()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ModelMissing, "{e:?}");

    // Transcripts that are not there.
    for id in ["../../etc/passwd", "2026-01-01T00-00-00-abc-defg-hij"] {
        let e = on_device::delete_transcript(id).unwrap_err();
        assert_eq!(e.code, ErrorCode::TranscriptMissing, "{id}: {e:?}");
        let e = on_device::get_transcript(id.into()).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::TranscriptMissing, "{id}: {e:?}");
    }

    // In a meeting, the damaged model fails to load: an `onDeviceCaptions` failed event with
    // its code, and the meeting goes on (chat still works). Needs the VAD and ONNX Runtime
    // (`make test` sets them); without them the failure is `speech_unavailable`.
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    app.join(JoinRequest {
        link: format!("http://{}/bad-mode-lsx", server.http_addr()),
        display_name: "Alice".into(),
        camera_on: false,
        mic_on: true,
        camera_id: None,
        microphone_id: None,
        speaker_id: None,
    })
    .await
    .expect("joins");
    let expected = if on_device::speech_runtime().is_ok() {
        ErrorCode::ModelInvalid
    } else {
        ErrorCode::SpeechUnavailable
    };
    let e = app.set_on_device_captions(true).await.unwrap_err();
    assert_eq!(e.code, expected, "{e:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    if expected == ErrorCode::ModelInvalid {
        loop {
            let ev = tokio::time::timeout_at(deadline, ui.recv())
                .await
                .expect("the failed event in time")
                .expect("events open");
            if let UiEvent::OnDeviceCaptions {
                state: OnDeviceState::Failed,
                code,
                ..
            } = ev
            {
                assert_eq!(code, Some(ErrorCode::ModelInvalid));
                break;
            }
        }
    }
    assert!(
        !app.settings().on_device_captions,
        "not left on after failing"
    );
    // Telling a meeting room's voices apart needs the speaker embedder: without it, a clear
    // error; a participant who is not there, another.
    std::env::set_var("VISIO_SPEAKER_EMBEDDER", base.join("absent-embedder.onnx"));
    let e = app.set_several_voices("salle-a", true).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::SpeechUnavailable, "{e:?}");
    assert!(e.message.contains("embedder.int8.onnx"), "{e:?}");
    let e = app.set_several_voices("salle-a", false).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Internal, "no such participant: {e:?}");
    let sent = app
        .send_chat("toujours là")
        .await
        .expect("the meeting goes on");
    assert_eq!(sent.text, "toujours là");
    app.leave().await;
    let _ = std::fs::remove_dir_all(&base);
}
