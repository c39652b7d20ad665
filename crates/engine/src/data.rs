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
        /// Header attributes, merged with the trailer's.
        attributes: HashMap<String, String>,
        stream_id: String,
        /// `false` for the text so far of a caption stream still open (interim progress).
        complete: bool,
    },
    /// A legacy Transcription packet.
    Transcription {
        from_identity: String,
        transcription: proto::Transcription,
    },
}

/// A text stream being received.
struct OpenStream {
    identity: String,
    topic: String,
    attributes: HashMap<String, String>,
    bytes: Vec<u8>,
}

/// Reassembles text streams by stream id.
#[derive(Default)]
pub(crate) struct StreamAssembler {
    open: HashMap<String, OpenStream>,
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
                attributes: HashMap::new(),
                stream_id: c.id,
                complete: true,
            }),
            Value::Transcription(t) => Some(Incoming::Transcription {
                from_identity: identity,
                transcription: t,
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
                            attributes: h.attributes,
                            stream_id: h.stream_id,
                            complete: true,
                        });
                    }
                    return None;
                }
                if self.open.len() < 64 {
                    self.open.insert(
                        h.stream_id,
                        OpenStream {
                            identity,
                            topic: h.topic,
                            attributes: h.attributes,
                            bytes: Vec::new(),
                        },
                    );
                }
                None
            }
            Value::StreamChunk(c) => {
                let s = self.open.get_mut(&c.stream_id)?;
                if s.bytes.len() + c.content.len() <= 1 << 20 {
                    s.bytes.extend_from_slice(&c.content);
                }
                // Caption streams are written word by word while the speaker talks: show
                // the text so far. Other streams are surfaced whole.
                (s.topic == crate::captions::TRANSCRIPTION_TOPIC).then(|| Incoming::Text {
                    from_identity: s.identity.clone(),
                    topic: s.topic.clone(),
                    text: String::from_utf8_lossy(&s.bytes).into_owned(),
                    attributes: s.attributes.clone(),
                    stream_id: c.stream_id.clone(),
                    complete: false,
                })
            }
            Value::StreamTrailer(t) => {
                let mut s = self.open.remove(&t.stream_id)?;
                s.attributes.extend(t.attributes);
                Some(Incoming::Text {
                    from_identity: s.identity,
                    topic: s.topic,
                    text: String::from_utf8_lossy(&s.bytes).into_owned(),
                    attributes: s.attributes,
                    stream_id: t.stream_id,
                    complete: true,
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
    attributes: HashMap<String, String>,
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
            attributes,
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
        let attributes: HashMap<String, String> = [("k".to_owned(), "v".to_owned())].into();
        let packets = text_stream("s1", CHAT_TOPIC, &text, attributes.clone(), vec![], 1);
        assert_eq!(packets.len(), 5);
        let mut a = StreamAssembler::default();
        let got: Vec<_> = packets.iter().filter_map(|p| a.push(p)).collect();
        assert_eq!(
            got,
            vec![Incoming::Text {
                from_identity: String::new(),
                topic: CHAT_TOPIC.into(),
                text,
                attributes,
                stream_id: "s1".into(),
                complete: true,
            }]
        );
    }

    #[test]
    fn caption_stream_progress_then_trailer_attributes() {
        let topic = crate::captions::TRANSCRIPTION_TOPIC;
        let packets = text_stream("s2", topic, "hello", HashMap::new(), vec![], 1);
        let mut a = StreamAssembler::default();
        let got: Vec<_> = packets.iter().filter_map(|p| a.push(p)).collect();
        assert_eq!(
            got.len(),
            2,
            "one progress update per chunk, then the whole text"
        );
        assert!(matches!(&got[0], Incoming::Text { complete: false, text, .. } if text == "hello"));
        assert!(matches!(&got[1], Incoming::Text { complete: true, .. }));
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
