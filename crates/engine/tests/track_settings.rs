//! Adaptive stream against the in-process room server: `Room::set_track_settings` makes the
//! server switch a subscriber to the simulcast layer that fits, and stop and restart a track.

use std::time::Duration;

use engine::{PublishOptions, Room, RoomEvent, RoomOptions, TrackSetting};
use room_server::{RoomServer, ServerConfig};
use tokio::sync::mpsc::UnboundedReceiver;

mod common;
use common::token;

/// Frame sizes received within `window`, with the track they came on.
async fn frames_within(
    events: &mut UnboundedReceiver<RoomEvent>,
    window: Duration,
) -> Vec<(String, u32, u32)> {
    let mut seen = vec![];
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let RoomEvent::VideoFrameReceived {
            track_sid,
            width,
            height,
            ..
        } = e
        {
            seen.push((track_sid, width, height));
        }
    }
    seen
}

/// Waits until frames of `size` arrive (the server switches on a keyframe of that layer).
async fn wait_for_size(events: &mut UnboundedReceiver<RoomEvent>, size: (u32, u32)) -> String {
    let mut sizes = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(RoomEvent::VideoFrameReceived {
                track_sid,
                width,
                height,
                ..
            })) => {
                sizes.insert((width, height));
                if (width, height) == size {
                    return track_sid;
                }
            }
            Ok(Some(_)) => {}
            _ => panic!("no {size:?} frames in time; sizes seen: {sizes:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_follows_tile_size_and_disabled_tracks_stop() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let url = server.url();
    let (bob, mut bob_events) = Room::connect(&url, &token("a", "bob"), RoomOptions::default())
        .await
        .expect("bob joins");
    let (_alice, _alice_events) = Room::connect(
        &url,
        &token("a", "alice"),
        RoomOptions {
            // 960x540: three layers q 240x134, h 480x270, f 960x540.
            publish: Some(PublishOptions {
                audio: false,
                width: 960,
                height: 540,
                video_bitrate_bps: 1_000_000,
                ..PublishOptions::fake_devices()
            }),
            ..Default::default()
        },
    )
    .await
    .expect("alice joins");

    // By default the subscriber gets the top layer.
    let sid = wait_for_size(&mut bob_events, (960, 540)).await;

    // A small tile: the quarter layer.
    bob.set_track_settings(vec![TrackSetting {
        track_sid: sid.clone(),
        enabled: true,
        width: 240,
        height: 135,
    }])
    .expect("settings sent");
    wait_for_size(&mut bob_events, (240, 134)).await;

    // Off-screen: after a grace period for frames in flight, nothing arrives.
    bob.set_track_settings(vec![TrackSetting {
        track_sid: sid.clone(),
        enabled: false,
        width: 0,
        height: 0,
    }])
    .expect("settings sent");
    frames_within(&mut bob_events, Duration::from_millis(700)).await;
    let while_disabled = frames_within(&mut bob_events, Duration::from_secs(2)).await;
    assert!(
        while_disabled.is_empty(),
        "{} frames arrived for a disabled track",
        while_disabled.len()
    );

    // Back on screen as a big tile: the top layer again.
    bob.set_track_settings(vec![TrackSetting {
        track_sid: sid.clone(),
        enabled: true,
        width: 960,
        height: 540,
    }])
    .expect("settings sent");
    assert_eq!(wait_for_size(&mut bob_events, (960, 540)).await, sid);
    bob.disconnect().await;
}
