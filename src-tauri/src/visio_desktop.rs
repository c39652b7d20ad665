//! # visio-desktop: the Visio desktop app (Tauri 2)
//!
//! The Rust side of the app: it owns the engine's [`engine::Room`], serves the commands and
//! events of `BRIDGE.md` to the web UI (`ui/`, built to `ui/dist`), and sends video to the
//! page over the video lane (a WebSocket on 127.0.0.1 with a per-launch secret, see
//! [`video_lane`]).
//!
//! ## Run
//! ```text
//! visio-desktop [LINK] [--name NAME] [--join] [--fake-devices] [--server URL]
//! visio-desktop visio://127.0.0.1:7880/abc-defg-hij --name Alice --join
//! ```
//! - `LINK`: a Visio link (`https://HOST/abc-defg-hij`), a deep link
//!   (`visio://HOST/abc-defg-hij`; http for a loopback host, https otherwise) or a room code;
//!   the UI opens the pre-join screen for it, or joins at once with `--join`.
//! - A link opened while the app runs (a second launch, a `visio://` deep link from the
//!   desktop) goes to the running app as the `app` event `openLink`; no second window.
//! - `--fake-devices`: the test pattern and a 440 Hz tone as camera and microphone (tests,
//!   demos); otherwise the machine's devices, chosen in pre-join. A missing camera or
//!   microphone leaves the meeting without it, with a message (`deviceUnavailable`).
//! - `--server URL`: the Visio server for bare room codes and new rooms
//!   (default `https://visio.numerique.gouv.fr`).
//! - Settings, recent rooms and server profiles: JSON in `~/.config/visio/`, shared with the
//!   `visio` CLI (`VISIO_DESKTOP_CONFIG_DIR` overrides); IT policy from `/etc/visio/policy.toml`
//!   wins over settings. Secrets only in the OS keychain ([`accounts`]). Logs: `VISIO_LOG=debug`.
//!
//! ## Security
//! The capability file (`capabilities/default.json`) grants the page exactly the app's own
//! commands and event listening: no shell, no file system, no HTTP from the page. The CSP
//! allows scripts from the app only and connections to the IPC and `ws://127.0.0.1`.
//!
//! ## What is real and what is not yet
//! Joining through Visio's REST API (the `visio_api` crate), media, chat, reactions, raised
//! hands (Visio's `toggle-hand/`), adaptive stream (the simulcast layer that fits each tile,
//! unlisted video paused by the server) and the low-bandwidth modes are real. The camera and
//! microphone, the speaker (with a test sound), rooms with a waiting room (the `lobby` event,
//! `cancel_join`; an organiser admits from the meeting) and moderation by the room's
//! organiser (mute, remove) are real. Captions shown are those the room's agents send
//! (`lk.transcription`) and, when the user turns them on, those computed on this machine
//! ([`on_device`]: Whisper models, live captions, encrypted transcripts). Changing devices
//! during a meeting needs an engine API that does not exist yet.
//!
//! Without a GPU the app sets `WEBKIT_DISABLE_DMABUF_RENDERER=1` before WebKit starts (see
//! [`has_render_node`]).

pub mod accounts;
pub mod bridge;
pub mod client;
pub mod links;
pub mod local_media;
pub mod on_device;
pub mod settings;
pub mod video_lane;

use std::sync::Arc;

use bridge::*;
use clap::Parser;
use client::{Client, Launch};
use tauri::{Emitter, Manager, State};

/// The command line (see the crate documentation).
#[derive(Debug, Parser)]
#[command(name = "visio-desktop", version, about = "Visio Desktop")]
pub struct Args {
    /// A Visio link, a visio:// link or a room code to open.
    pub link: Option<String>,
    /// Display name to join with.
    #[arg(long)]
    pub name: Option<String>,
    /// Join the link at once instead of showing the pre-join screen.
    #[arg(long)]
    pub join: bool,
    /// Use the test pattern and tone as camera and microphone.
    #[arg(long)]
    pub fake_devices: bool,
    /// The Visio server for room codes and new rooms.
    #[arg(long)]
    pub server: Option<String>,
    /// Published camera size, WIDTHxHEIGHT (the synthetic camera; default 1280x720).
    #[arg(long, value_parser = parse_size)]
    pub camera_size: Option<(u32, u32)>,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| format!("{s:?} is not WIDTHxHEIGHT"))?;
    let n = |v: &str| v.parse::<u32>().ok().filter(|v| (16..=3840).contains(v));
    match (n(w), n(h)) {
        (Some(w), Some(h)) => Ok((w & !1, h & !1)),
        _ => Err(format!("{s:?} is not a size between 16 and 3840")),
    }
}

type AppState<'a> = State<'a, Arc<Client>>;

#[tauri::command]
fn app_info(c: AppState<'_>) -> AppInfo {
    c.app_info()
}

#[tauri::command]
fn resolve_room(c: AppState<'_>, request: ResolveRequest) -> CmdResult<RoomRef> {
    c.resolve_room(&request.input)
}

#[tauri::command]
async fn create_room(c: AppState<'_>, request: Option<CreateRoomRequest>) -> CmdResult<RoomRef> {
    let r = request.unwrap_or_default();
    c.create_room(r.server, r.access_level).await
}

#[tauri::command]
fn recent_rooms(c: AppState<'_>) -> Vec<RecentRoom> {
    c.store.recent_rooms()
}

#[tauri::command]
fn get_settings(c: AppState<'_>) -> Settings {
    c.settings()
}

#[tauri::command]
async fn update_settings(c: AppState<'_>, request: SettingsPatch) -> CmdResult<Settings> {
    let mode = request.low_bandwidth;
    let s = c.store.update_settings(request)?;
    if let Some(mode) = mode {
        c.set_low_bandwidth(mode).await?;
    }
    Ok(s)
}

#[tauri::command]
fn list_devices(c: AppState<'_>) -> Devices {
    c.list_devices()
}

#[tauri::command]
async fn start_preview(c: AppState<'_>, request: Option<PreviewRequest>) -> CmdResult<()> {
    c.start_preview(request.unwrap_or_default()).await
}

#[tauri::command]
async fn stop_preview(c: AppState<'_>) -> CmdResult<()> {
    c.stop_preview().await;
    Ok(())
}

#[tauri::command]
async fn play_test_sound(c: AppState<'_>, request: Option<TestSoundRequest>) -> CmdResult<()> {
    c.play_test_sound(request.and_then(|r| r.speaker_id)).await
}

#[tauri::command]
async fn join(c: AppState<'_>, request: JoinRequest) -> CmdResult<JoinResult> {
    c.join(request).await
}

#[tauri::command]
fn cancel_join(c: AppState<'_>) {
    c.cancel_join()
}

#[tauri::command]
async fn waiting_participants(c: AppState<'_>) -> CmdResult<Vec<WaitingParticipant>> {
    c.waiting_participants().await
}

#[tauri::command]
async fn admit_participant(c: AppState<'_>, request: AdmitRequest) -> CmdResult<()> {
    c.admit_participant(&request.id, request.allow).await
}

#[tauri::command]
async fn mute_participant(c: AppState<'_>, request: ParticipantRequest) -> CmdResult<()> {
    c.mute_participant(&request.identity).await
}

#[tauri::command]
async fn remove_participant(c: AppState<'_>, request: ParticipantRequest) -> CmdResult<()> {
    c.remove_participant(&request.identity).await
}

#[tauri::command]
async fn leave(c: AppState<'_>) -> CmdResult<()> {
    c.leave().await;
    Ok(())
}

#[tauri::command]
async fn set_microphone(c: AppState<'_>, request: EnabledRequest) -> CmdResult<()> {
    c.set_microphone(request.enabled).await
}

#[tauri::command]
async fn set_camera(c: AppState<'_>, request: EnabledRequest) -> CmdResult<()> {
    c.set_camera(request.enabled).await
}

#[tauri::command]
async fn select_device(c: AppState<'_>, request: SelectDeviceRequest) -> CmdResult<()> {
    let d = c.list_devices();
    let list = match request.kind.as_str() {
        "camera" => &d.cameras,
        "microphone" => &d.microphones,
        "speaker" => &d.speakers,
        other => {
            return Err(AppError::new(
                ErrorCode::Internal,
                format!("unknown device kind {other:?}"),
            ))
        }
    };
    if list.iter().any(|x| x.id == request.id) {
        // In a meeting the engine switches to it at once.
        c.switch_device(&request.kind, &request.id).await
    } else {
        Err(AppError::new(
            match request.kind.as_str() {
                "camera" => ErrorCode::CameraMissing,
                "microphone" => ErrorCode::MicrophoneMissing,
                _ => ErrorCode::SpeakerMissing,
            },
            format!("no {} with id {:?}", request.kind, request.id),
        ))
    }
}

#[tauri::command]
async fn set_several_voices(c: AppState<'_>, request: SeveralVoicesRequest) -> CmdResult<()> {
    c.set_several_voices(&request.identity, request.enabled)
        .await
}

#[tauri::command]
async fn send_chat(c: AppState<'_>, request: ChatRequest) -> CmdResult<ChatMessage> {
    c.send_chat(&request.text).await
}

#[tauri::command]
async fn set_hand_raised(c: AppState<'_>, request: HandRequest) -> CmdResult<()> {
    c.set_hand_raised(request.raised).await
}

#[tauri::command]
async fn send_reaction(c: AppState<'_>, request: ReactionRequest) -> CmdResult<()> {
    c.send_reaction(&request.emoji).await
}

#[tauri::command]
async fn set_video_subscriptions(
    c: AppState<'_>,
    request: VideoSubscriptionsRequest,
) -> CmdResult<()> {
    c.set_video_subscriptions(request.tiles).await
}

#[tauri::command]
async fn set_low_bandwidth(c: AppState<'_>, request: LowBandwidthRequest) -> CmdResult<()> {
    c.set_low_bandwidth(request.mode).await
}

#[derive(serde::Deserialize)]
struct NameRequest {
    name: String,
}

#[derive(serde::Deserialize)]
struct IdRequest {
    id: String,
}

#[derive(serde::Deserialize)]
struct QueryRequest {
    query: String,
}

#[derive(serde::Deserialize)]
struct ExportRequest {
    id: String,
    format: String,
}

#[derive(serde::Deserialize)]
struct EnabledRequest {
    enabled: bool,
}

#[tauri::command]
fn list_models(c: AppState<'_>) -> CmdResult<on_device::ModelsInfo> {
    on_device::list_models(c.settings().speech_model_url.clone())
}

#[tauri::command]
async fn install_model(
    c: AppState<'_>,
    request: on_device::InstallModelRequest,
) -> CmdResult<on_device::SpeechModel> {
    let s = c.settings();
    on_device::install_model(request, &s.network, s.speech_model_url.clone()).await
}

#[tauri::command]
async fn verify_model(request: NameRequest) -> CmdResult<on_device::SpeechModel> {
    on_device::verify_model(request.name).await
}

#[tauri::command]
fn remove_model(request: NameRequest) -> CmdResult<()> {
    on_device::remove_model(&request.name)
}

#[tauri::command]
async fn set_on_device_captions(c: AppState<'_>, request: EnabledRequest) -> CmdResult<()> {
    c.set_on_device_captions(request.enabled).await
}

#[tauri::command]
async fn list_transcripts() -> CmdResult<Vec<on_device::TranscriptSummary>> {
    on_device::list_transcripts().await
}

#[tauri::command]
async fn get_transcript(request: IdRequest) -> CmdResult<on_device::TranscriptView> {
    on_device::get_transcript(request.id).await
}

#[tauri::command]
async fn search_transcripts(request: QueryRequest) -> CmdResult<Vec<on_device::TranscriptHit>> {
    on_device::search_transcripts(request.query).await
}

#[tauri::command]
async fn export_transcript(request: ExportRequest) -> CmdResult<on_device::Exported> {
    // `VISIO_EXPORT_DIR` for tests; the user's Downloads folder otherwise.
    let dir = std::env::var_os("VISIO_EXPORT_DIR")
        .map(std::path::PathBuf::from)
        .or_else(dirs::download_dir)
        .or_else(dirs::home_dir)
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    on_device::export_transcript(request.id, &request.format, dir).await
}

#[tauri::command]
fn delete_transcript(request: IdRequest) -> CmdResult<()> {
    on_device::delete_transcript(&request.id)
}

/// The app with every command registered, on any Tauri runtime (tests use the mock one).
pub fn builder<R: tauri::Runtime>(args: Args) -> tauri::Builder<R> {
    let launch = Launch {
        link: args.link,
        auto_join: args.join,
        name: args.name,
        camera_size: args.camera_size,
        default_server: args.server,
        fake_devices: args.fake_devices,
        lobby_timeout: None,
    };
    tauri::Builder::<R>::new()
        .setup(move |app| {
            let handle = app.handle().clone();
            let emit: client::Emit = Arc::new(move |e: RoomEvent| {
                let _ = handle.emit("room", e);
            });
            let store = settings::Store::from_env();
            // Profiles live beside the settings; the keychain is the OS's.
            let accounts = ::accounts::Accounts::new(
                store.dir(),
                ::accounts::Keychain::default(),
                store.policy().clone(),
            )?;
            app.manage(Arc::new(accounts::AccountsState {
                accounts,
                policy: store.policy().clone(),
            }));
            let client = tauri::async_runtime::block_on(Client::start(launch, store, emit))?;
            app.manage(Arc::new(client));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            app_info,
            resolve_room,
            create_room,
            recent_rooms,
            get_settings,
            update_settings,
            list_devices,
            start_preview,
            stop_preview,
            play_test_sound,
            join,
            cancel_join,
            waiting_participants,
            admit_participant,
            mute_participant,
            remove_participant,
            leave,
            set_microphone,
            set_camera,
            select_device,
            set_several_voices,
            send_chat,
            set_hand_raised,
            send_reaction,
            set_video_subscriptions,
            set_low_bandwidth,
            list_models,
            install_model,
            verify_model,
            remove_model,
            set_on_device_captions,
            list_transcripts,
            get_transcript,
            search_transcripts,
            export_transcript,
            delete_transcript,
            accounts::list_profiles,
            accounts::add_profile,
            accounts::login,
            accounts::logout,
            accounts::whoami,
            accounts::set_pin,
            accounts::unlock_with_pin,
        ])
}

/// Without a GPU (no `/dev/dri/renderD*`), WebKitGTK's DMA-BUF renderer draws 3-5x slower
/// than its shared-memory one (measured with `ui/scripts/bench_render.py`): choose the
/// latter, unless the user set `WEBKIT_DISABLE_DMABUF_RENDERER` themselves. Must run before
/// WebKit starts and before any other thread exists (it changes the environment).
fn software_rendering_without_gpu() {
    const VAR: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";
    if std::env::var_os(VAR).is_none() && !has_render_node(std::path::Path::new("/dev/dri")) {
        std::env::set_var(VAR, "1");
    }
}

/// Whether `dri` holds a GPU render node (`renderD128`, ...).
pub fn has_render_node(dri: &std::path::Path) -> bool {
    std::fs::read_dir(dri)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        })
        .unwrap_or(false)
}

/// Runs the app (the `visio-desktop` binary).
pub fn run() {
    software_rendering_without_gpu();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VISIO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let args = Args::parse();
    let result = builder::<tauri::Wry>(args)
        // A second launch (or a visio:// link clicked on the desktop) hands its link to this
        // one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            if let Some(link) = links::link_in_args(argv) {
                let _ = app.emit("app", AppEvent::OpenLink { link });
            }
            if let Some(w) = app.get_webview_window("main") {
                let _ = w.set_focus();
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("visio-desktop: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_nodes_are_found_only_when_present() {
        let dir = std::env::temp_dir().join(format!("visio-dri-{}", rand::random::<u64>()));
        assert!(!has_render_node(&dir), "no /dev/dri at all");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("card0"), b"").expect("card0");
        assert!(
            !has_render_node(&dir),
            "a display card without a render node"
        );
        std::fs::write(dir.join("renderD128"), b"").expect("renderD128");
        assert!(has_render_node(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
