//! Entry points for fuzzing the signalling path with no sockets: bytes become `SignalRequest`
//! frames and datagrams fed to a core holding two joined participants. Used by the cargo-fuzz
//! target in `crates/room_server/fuzz` and by a stable-toolchain test over random inputs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use livekit_protocol as proto;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use crate::auth::JoinGrant;
use crate::core::{Core, CoreConfig, CoreMsg, JoinRequest, Packet};

fn grant(identity: &str) -> JoinGrant {
    JoinGrant {
        claims: livekit_token::Claims {
            sub: identity.into(),
            video: livekit_token::VideoGrants {
                room_join: true,
                room: "fuzz".into(),
                can_update_own_metadata: Some(true),
                ..Default::default()
            },
            ..Default::default()
        },
    }
}

/// Splits `data` into length-prefixed records; each is a signal frame from one of two
/// participants or a datagram on the media port. Must never panic.
pub fn signal_script(data: &[u8]) {
    let local: SocketAddr = ([127, 0, 0, 1], 7882).into();
    let mut core = Core::new(CoreConfig {
        candidates: vec![local],
        sockets: Default::default(),
        departure_timeout: Duration::from_secs(20),
    });
    let mut keys = vec![];
    let mut outs = vec![];
    for who in ["alice", "bob"] {
        let (out, out_rx) = mpsc::unbounded_channel();
        let (reply, mut reply_rx) = oneshot::channel();
        core.handle(CoreMsg::Join(Box::new(JoinRequest {
            grant: grant(who),
            auto_subscribe: true,
            resume_sid: None,
            ice_restart: false,
            out,
            reply,
        })));
        outs.push(out_rx);
        if let Ok(Ok(k)) = reply_rx.try_recv() {
            keys.push(k);
        }
    }
    let mut now = Instant::now();
    let mut rest = data;
    while rest.len() >= 2 {
        let tag = rest[0];
        let len = usize::from(rest[1]).min(rest.len() - 2);
        let body = &rest[2..2 + len];
        rest = &rest[2 + len..];
        let key = keys[usize::from(tag & 1) % keys.len()];
        match tag % 4 {
            0 | 1 => {
                if let Ok(proto::SignalRequest { message: Some(msg) }) =
                    proto::SignalRequest::decode(body)
                {
                    core.handle(CoreMsg::Signal {
                        key,
                        msg: Box::new(msg),
                    });
                }
            }
            2 => core.handle(CoreMsg::Packet(Packet {
                data: body.to_vec(),
                source: ([127, 0, 0, 1], 40000 + u16::from(tag)).into(),
                destination: local,
                at: now,
            })),
            _ => core.handle(CoreMsg::Closed {
                key,
                left: tag & 0x80 != 0,
            }),
        }
        now += Duration::from_millis(u64::from(tag % 50));
        core.drive(now);
    }
    for mut o in outs {
        while o.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn record(tag: u8, msg: proto::signal_request::Message) -> Vec<u8> {
        let body = proto::SignalRequest { message: Some(msg) }.encode_to_vec();
        let mut v = vec![tag, body.len().min(255) as u8];
        v.extend_from_slice(&body[..body.len().min(255)]);
        v
    }

    /// Valid messages with random fields, then random bytes: no panic, whatever arrives.
    #[test]
    fn random_scripts_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7615);
        let seeds: Vec<Vec<u8>> = vec![
            record(0, proto::signal_request::Message::Offer(proto::SessionDescription {
                r#type: "offer".into(),
                sdp: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\n".into(),
                ..Default::default()
            })),
            record(1, proto::signal_request::Message::Answer(proto::SessionDescription {
                r#type: "answer".into(),
                sdp: "garbage".into(),
                ..Default::default()
            })),
            record(0, proto::signal_request::Message::AddTrack(proto::AddTrackRequest {
                cid: "x".into(),
                r#type: 1,
                ..Default::default()
            })),
            record(0, proto::signal_request::Message::Trickle(proto::TrickleRequest {
                candidate_init: "{\"candidate\":\"candidate:1 1 udp 1 1.2.3.4 5 typ host\"}".into(),
                target: 0,
                ..Default::default()
            })),
            record(1, proto::signal_request::Message::Mute(proto::MuteTrackRequest {
                sid: "TR_x".into(),
                muted: true,
            })),
            record(0, proto::signal_request::Message::UpdateMetadata(
                proto::UpdateParticipantMetadata {
                    name: "n".into(),
                    ..Default::default()
                },
            )),
            record(1, proto::signal_request::Message::TrackSetting(proto::UpdateTrackSettings {
                track_sids: vec!["TR_x".into()],
                width: 10,
                ..Default::default()
            })),
        ];
        for round in 0..400 {
            let mut script = vec![];
            for _ in 0..rng.random_range(1..8) {
                if rng.random_bool(0.5) {
                    let mut s = seeds[rng.random_range(0..seeds.len())].clone();
                    if round % 2 == 1 && s.len() > 3 {
                        let i = rng.random_range(2..s.len());
                        s[i] = rng.random();
                    }
                    script.extend(s);
                } else {
                    let len = rng.random_range(0..64);
                    script.push(rng.random());
                    script.push(len as u8);
                    script.extend((0..len).map(|_| rng.random::<u8>()));
                }
            }
            signal_script(&script);
        }
    }
}
