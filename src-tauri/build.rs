//! Generates the `allow-<command>` permissions for the app's own commands, so that the
//! capability file grants the UI exactly the commands of BRIDGE.md and nothing else.
fn main() {
    let commands = &[
        "app_info",
        "resolve_room",
        "create_room",
        "recent_rooms",
        "get_settings",
        "update_settings",
        "list_devices",
        "start_preview",
        "stop_preview",
        "play_test_sound",
        "join",
        "leave",
        "set_microphone",
        "set_camera",
        "select_device",
        "set_several_voices",
        "send_chat",
        "set_hand_raised",
        "send_reaction",
        "set_video_subscriptions",
        "set_low_bandwidth",
        "list_profiles",
        "add_profile",
        "login",
        "logout",
        "whoami",
        "set_pin",
        "unlock_with_pin",
        "list_models",
        "install_model",
        "verify_model",
        "remove_model",
        "set_on_device_captions",
        "list_transcripts",
        "get_transcript",
        "search_transcripts",
        "export_transcript",
        "delete_transcript",
    ];
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("tauri build script");
}
