//! Data packets: user packets, and text streams (`lk.chat`, `lk.transcription`) as
//! StreamHeader / StreamChunk / StreamTrailer packets, encoded and reassembled here.

#![allow(deprecated)] // DataPacket.kind is deprecated but still read by SDKs.

use std::collections::HashMap;

use livekit_protocol as proto;
use livekit_protocol::data_packet::Value;
use livekit_protocol::data_stream as ds;
use prost::Message as _;

/// Topic of chat text streams, as LiveKit's components and the Visio web app use.
pub const CHAT_TOPIC: &str = "lk.chat";
/// Largest chunk of a text stream (LiveKit's `STREAM_CHUNK_SIZE`).
const CHUNK: usize = 15_000;

/// What arrived on a data channel, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Incoming {
    User {
        from_identity: String,
        topic: Option<String>,
        payload: Vec<u8>,
    },
    Text {
        from_identity: String,
        topic: String,
        text: String,
    },
}

/// Reassembles text streams by stream id.
#[derive(Default)]
pub(crate) struct StreamAssembler {
    open: HashMap<String, (String, String, Vec<u8>)>, // id -> (identity, topic, bytes)
}

impl StreamAssembler {
    /// Decodes one data channel message; `None` for what the engine does not surface.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Option<Incoming> {
        let pkt = proto::DataPacket::decode(bytes).ok()?;
        let identity = pkt.participant_identity.clone();
        match pkt.value? {
            Value::User(u) => Some(Incoming::User {
                from_identity: if identity.is_empty() {
                    u.participant_identity
                } else {
                    identity
                },
                topic: u.topic,
                payload: u.payload,
            }),
            Value::ChatMessage(c) => Some(Incoming::Text {
                from_identity: identity,
                topic: CHAT_TOPIC.into(),
                text: c.message,
            }),
            Value::StreamHeader(h) => {
                if !matches!(
                    h.content_header,
                    Some(ds::header::ContentHeader::TextHeader(_))
                ) {
                    return None; // Byte streams (files) come later.
                }
                if let Some(inline) = h.inline_content {
                    if h.compression == 0 {
                        return Some(Incoming::Text {
                            from_identity: identity,
                            topic: h.topic,
                            text: String::from_utf8_lossy(&inline).into_owned(),
                        });
                    }
                    return None;
                }
                if self.open.len() < 64 {
                    self.open
                        .insert(h.stream_id, (identity, h.topic, Vec::new()));
                }
                None
            }
            Value::StreamChunk(c) => {
                if let Some((_, _, buf)) = self.open.get_mut(&c.stream_id) {
                    if buf.len() + c.content.len() <= 1 << 20 {
                        buf.extend_from_slice(&c.content);
                    }
                }
                None
            }
            Value::StreamTrailer(t) => {
                let (from_identity, topic, bytes) = self.open.remove(&t.stream_id)?;
                Some(Incoming::Text {
                    from_identity,
                    topic,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                })
            }
            _ => None,
        }
    }
}

/// A user packet, ready for the `_reliable` or `_lossy` channel.
pub(crate) fn user_packet(
    reliable: bool,
    payload: Vec<u8>,
    topic: Option<String>,
    destinations: Vec<String>,
) -> Vec<u8> {
    proto::DataPacket {
        kind: if reliable {
            proto::data_packet::Kind::Reliable as i32
        } else {
            proto::data_packet::Kind::Lossy as i32
        },
        destination_identities: destinations.clone(),
        value: Some(Value::User(proto::UserPacket {
            payload,
            topic,
            destination_identities: destinations,
            ..Default::default()
        })),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A whole text stream: header, chunks (split on character boundaries), trailer.
pub(crate) fn text_stream(
    stream_id: &str,
    topic: &str,
    text: &str,
    destinations: Vec<String>,
    now_ms: i64,
) -> Vec<Vec<u8>> {
    let packet = |value: Value, dest: Vec<String>| {
        proto::DataPacket {
            kind: proto::data_packet::Kind::Reliable as i32,
            destination_identities: dest,
            value: Some(value),
            ..Default::default()
        }
        .encode_to_vec()
    };
    let mut out = vec![packet(
        Value::StreamHeader(ds::Header {
            stream_id: stream_id.into(),
            timestamp: now_ms,
            topic: topic.into(),
            mime_type: "text/plain".into(),
            total_length: Some(text.len() as u64),
            content_header: Some(ds::header::ContentHeader::TextHeader(ds::TextHeader {
                operation_type: ds::OperationType::Create as i32,
                ..Default::default()
            })),
            ..Default::default()
        }),
        destinations.clone(),
    )];
    let mut rest = text;
    let mut index = 0u64;
    while !rest.is_empty() {
        let mut cut = rest.len().min(CHUNK);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push(packet(
            Value::StreamChunk(ds::Chunk {
                stream_id: stream_id.into(),
                chunk_index: index,
                content: rest.as_bytes()[..cut].to_vec(),
                ..Default::default()
            }),
            destinations.clone(),
        ));
        rest = &rest[cut..];
        index += 1;
    }
    out.push(packet(
        Value::StreamTrailer(ds::Trailer {
            stream_id: stream_id.into(),
            ..Default::default()
        }),
        destinations,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_stream_round_trip() {
        let text = "é".repeat(20_000); // 40 000 bytes: three chunks, none splitting a character
        let packets = text_stream("s1", CHAT_TOPIC, &text, vec![], 1);
        assert_eq!(packets.len(), 5);
        let mut a = StreamAssembler::default();
        let got: Vec<_> = packets.iter().filter_map(|p| a.push(p)).collect();
        assert_eq!(
            got,
            vec![Incoming::Text {
                from_identity: String::new(),
                topic: CHAT_TOPIC.into(),
                text
            }]
        );
    }

    #[test]
    fn user_packet_round_trip_and_garbage() {
        let mut a = StreamAssembler::default();
        let p = user_packet(true, b"hi".to_vec(), Some("t".into()), vec![]);
        assert_eq!(
            a.push(&p),
            Some(Incoming::User {
                from_identity: String::new(),
                topic: Some("t".into()),
                payload: b"hi".to_vec()
            })
        );
        assert_eq!(a.push(&[0xff, 0xff, 0xff]), None);
    }
}
