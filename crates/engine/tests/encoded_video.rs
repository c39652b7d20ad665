//! Encoded video for an app's own decoder (`RoomOptions::encoded_video`): the subscriber gets
//! the depacketized VP8 frames, starting on a keyframe; with decoding turned off for the track
//! the engine decodes nothing; `Room::request_keyframe` brings a new keyframe.

use std::time::Duration;

use engine::{media::VideoCodecKind, PublishOptions, Room, RoomEvent, RoomOptions};
use room_server::{RoomServer, ServerConfig};

mod common;
use common::token;

/// A VP8 keyframe: bit 0 of the first byte clear, then the start code 9d 01 2a and the size.
fn vp8_keyframe_size(data: &[u8]) -> Option<(u16, u16)> {
    if data.len() < 10 || data[0] & 1 != 0 || data[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([data[6], data[7]]) & 0x3fff;
    let h = u16::from_le_bytes([data[8], data[9]]) & 0x3fff;
    Some((w, h))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_frames_start_on_a_keyframe_and_decoding_can_be_skipped() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let url = server.url();
    let (bob, mut events) = Room::connect(
        &url,
        &token("e", "bob"),
        RoomOptions {
            encoded_video: true,
            ..Default::default()
        },
    )
    .await
    .expect("bob joins");
    let (_alice, _alice_events) = Room::connect(
        &url,
        &token("e", "alice"),
        RoomOptions {
            publish: Some(PublishOptions {
                audio: false,
                width: 320,
                height: 180,
                fps: 15,
                simulcast: false,
                // A keyframe now and then only on request: the test's request must be what
                // brings the next one.
                ..PublishOptions::fake_devices()
            }),
            ..Default::default()
        },
    )
    .await
    .expect("alice joins");

    // The first encoded frame of the track is a keyframe of the published size.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (sid, first) = loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(RoomEvent::EncodedVideoReceived(f))) => break (f.track_sid.clone(), f),
            Ok(Some(_)) => {}
            _ => panic!("no encoded frame in time"),
        }
    };
    assert_eq!(first.codec, VideoCodecKind::Vp8);
    assert!(
        first.keyframe,
        "the first frame delivered must be a keyframe"
    );
    assert_eq!(vp8_keyframe_size(&first.data), Some((320, 180)));

    // Decoding off: encoded frames keep coming, decoded ones stop (after those in flight).
    bob.set_video_decoding(&sid, false).expect("sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    while events.try_recv().is_ok() {}
    let (mut encoded, mut decoded, mut deltas) = (0, 0, 0);
    let mut last_time = None;
    let window = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(e)) = tokio::time::timeout_at(window, events.recv()).await {
        match e {
            RoomEvent::EncodedVideoReceived(f) => {
                encoded += 1;
                if !f.keyframe {
                    deltas += 1;
                    assert!(
                        vp8_keyframe_size(&f.data).is_none(),
                        "flag and bitstream agree"
                    );
                }
                if let Some(t) = last_time {
                    assert!(f.rtp_time > t, "RTP time increases");
                }
                last_time = Some(f.rtp_time);
            }
            RoomEvent::VideoFrameReceived { .. } => decoded += 1,
            _ => {}
        }
    }
    assert!(encoded >= 10, "{encoded} encoded frames in 2 s at 15 fps");
    assert!(deltas > 0, "delta frames are delivered too");
    assert_eq!(decoded, 0, "the engine decoded a track it was told not to");

    // A keyframe request brings a keyframe within a second.
    bob.request_keyframe(&sid).expect("sent");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(RoomEvent::EncodedVideoReceived(f))) if f.keyframe => {
                assert_eq!(vp8_keyframe_size(&f.data), Some((320, 180)));
                break;
            }
            Ok(Some(_)) => {}
            _ => panic!("no keyframe after request_keyframe"),
        }
    }

    // Decoding back on: decoded frames return.
    bob.set_video_decoding(&sid, true).expect("sent");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(RoomEvent::VideoFrameReceived { width, height, .. })) => {
                assert_eq!((width, height), (320, 180));
                break;
            }
            Ok(Some(_)) => {}
            _ => panic!("no decoded frame after decoding was turned back on"),
        }
    }
    bob.disconnect().await;
}

/// With simulcast (what every LiveKit publisher sends), a keyframe request from the
/// subscriber reaches the publisher of the forwarded layer and a keyframe comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_request_works_through_simulcast() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let url = server.url();
    let (bob, mut events) = Room::connect(
        &url,
        &token("s", "bob"),
        RoomOptions {
            encoded_video: true,
            ..Default::default()
        },
    )
    .await
    .expect("bob joins");
    let (_alice, _alice_events) = Room::connect(
        &url,
        &token("s", "alice"),
        RoomOptions {
            publish: Some(PublishOptions {
                audio: false,
                width: 640,
                height: 360,
                fps: 15,
                ..PublishOptions::fake_devices()
            }),
            ..Default::default()
        },
    )
    .await
    .expect("alice joins");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let sid = loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(RoomEvent::EncodedVideoReceived(f))) => break f.track_sid.clone(),
            Ok(Some(_)) => {}
            _ => panic!("no encoded frame in time"),
        }
    };
    bob.set_video_decoding(&sid, false).expect("sent");
    // Past the first keyframes of the layers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while events.try_recv().is_ok() {}
    for attempt in 0..3 {
        bob.request_keyframe(&sid).expect("sent");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let mut frames = 0;
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(RoomEvent::EncodedVideoReceived(f))) => {
                    frames += 1;
                    if f.keyframe {
                        bob.disconnect().await;
                        return;
                    }
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        eprintln!("attempt {attempt}: no keyframe among {frames} frames");
    }
    panic!("no keyframe after three requests");
}
