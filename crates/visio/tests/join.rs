//! `visio join` as a user runs it: two processes through an in-process room server, the JSON
//! summary, and the exit status and message on bad input.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use room_server::{RoomServer, ServerConfig};

fn visio() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_visio"));
    c.env_remove("LIVEKIT_API_KEY")
        .env_remove("LIVEKIT_API_SECRET")
        .env_remove("LIVEKIT_TOKEN")
        .env("VISIO_LOG", "warn");
    c
}

async fn run(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().expect("visio runs"))
        .await
        .expect("join")
}

fn join_args(url: &str, room: &str, identity: &str) -> Vec<String> {
    [
        "join",
        url,
        "--api-key",
        "devkey",
        "--api-secret",
        "secret",
        "--room",
        room,
        "--identity",
        identity,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_to_join_json_summary() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let url = server.url();

    let mut publisher = visio();
    publisher
        .args(join_args(&url, "cli", "alice"))
        .args([
            "--fake-devices",
            "--video-size",
            "640x360",
            "--duration",
            "7",
        ])
        .args(["--chat", "bonjour", "--data", "hello-data"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // The subscriber joins first so that the chat and data sent on join reach it.
    let mut subscriber = visio();
    subscriber
        .args(join_args(&url, "cli", "bob"))
        .args(["--duration", "5", "--json"]);
    let sub = tokio::spawn(run(subscriber));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let publ = tokio::spawn(run(publisher));

    let out = sub.await.expect("subscriber");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    eprintln!("summary: {stdout}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert!(v["join_ms"].as_u64().is_some(), "{v}");
    let tracks = v["tracks"].as_array().expect("tracks");
    let video = tracks.iter().find(|t| t["kind"] == "video").expect("video");
    assert_eq!(video["participant"], "alice");
    assert_eq!(video["codec"], "vp8");
    assert!(video["frames"].as_u64().unwrap_or(0) > 30, "{video}");
    // Simulcast q (320x180) and h (640x360): the server picks h, but see the note in
    // `two_engines_simulcast` (engine tests) on runs that stay on q.
    let size = (video["width"].as_u64(), video["height"].as_u64());
    assert!(
        size == (Some(640), Some(360)) || size == (Some(320), Some(180)),
        "{video}"
    );
    assert_eq!(video["counter_regressions"], 0);
    let p50 = video["latency_ms"]["p50"].as_f64().expect("latency p50");
    let p95 = video["latency_ms"]["p95"].as_f64().expect("latency p95");
    assert!((0.0..500.0).contains(&p50) && p95 >= p50, "{video}");
    let audio = tracks.iter().find(|t| t["kind"] == "audio").expect("audio");
    assert_eq!(audio["codec"], "opus");
    let hz = audio["dominant_hz"].as_f64().expect("a tone");
    assert!((hz - 440.0).abs() < 10.0, "{audio}");
    assert!(audio["samples"].as_u64().unwrap_or(0) > 48_000, "{audio}");
    assert_eq!(v["chat"][0]["text"], "bonjour", "{v}");
    assert_eq!(v["chat"][0]["from"], "alice", "{v}");
    assert_eq!(v["data"][0]["payload"], "hello-data", "{v}");

    let out = publ.await.expect("publisher");
    assert!(out.status.success());
}

#[tokio::test]
async fn bad_input_exits_non_zero_naming_the_cause() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");

    let mut wrong = visio();
    wrong.args([
        "join",
        &server.url(),
        "--api-key",
        "devkey",
        "--api-secret",
        "not-the-secret",
        "--room",
        "r",
        "--identity",
        "x",
        "--duration",
        "1",
    ]);
    let out = run(wrong).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("401") && err.contains("invalid token"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = free.local_addr().expect("addr");
    drop(free);
    let mut unreachable = visio();
    unreachable.args(["join", &format!("ws://{addr}"), "--token", "t"]);
    let out = run(unreachable).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot reach"), "{err}");

    let mut no_token = visio();
    no_token.args(["join", &server.url()]);
    let out = run(no_token).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no token"), "{err}");
}

#[tokio::test]
async fn join_by_visio_link() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let link = format!("http://{}/ABC-DEFG-HIJ", server.http_addr());
    let mut c = visio();
    c.args([
        "join",
        &link,
        "--name",
        "Agent",
        "--duration",
        "1",
        "--json",
    ]);
    let out = run(c).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(v["room"], "abc-defg-hij", "{v}");
}
