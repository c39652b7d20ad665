//! Captions sent by room agents (Visio's Kyutai/Deepgram subtitle agent, LiveKit agents) and by
//! other Visio Desktop clients, in the two shapes LiveKit uses:
//! - text streams on [`TRANSCRIPTION_TOPIC`] with the attributes `lk.segment_id`,
//!   `lk.transcribed_track_id` and `lk.transcription_final` (`"true"`/`"false"`; `"1"`/`"0"`
//!   and any case are accepted, since some senders turn a boolean into a string). The final flag may
//!   also arrive with the stream's trailer;
//! - legacy `Transcription` data packets (deprecated, still sent by Visio's agent).
//!
//! Both become one [`Caption`]; [`CaptionState`] keeps the lines to show, the interim text of
//! a segment replaced by its later updates and by its final text.

use std::collections::HashMap;

/// Topic of caption text streams, as LiveKit agents and the Visio web app use.
pub const TRANSCRIPTION_TOPIC: &str = "lk.transcription";
/// Text stream attribute: the segment this text belongs to (stable across its updates).
pub const ATTR_SEGMENT_ID: &str = "lk.segment_id";
/// Text stream attribute: the track whose audio was transcribed.
pub const ATTR_TRANSCRIBED_TRACK_ID: &str = "lk.transcribed_track_id";
/// Text stream attribute: whether this is the segment's final text.
pub const ATTR_TRANSCRIPTION_FINAL: &str = "lk.transcription_final";

/// One caption update: the whole text of a segment so far (interim) or for good (final).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Caption {
    /// Whose speech this is (the owner of the transcribed track when it is known, else the
    /// sender).
    pub participant_identity: String,
    /// The transcribed track, when the sender said.
    pub track_sid: Option<String>,
    pub segment_id: String,
    pub text: String,
    /// `false` while the speaker is still talking: a later update replaces this text.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// Language code when the sender gave one.
    pub language: Option<String>,
}

/// Reads a `lk.transcription_final` attribute value.
pub fn parse_final(value: Option<&str>) -> bool {
    value
        .map(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("true") || v == "1"
        })
        .unwrap_or(false)
}

/// A caption from a `lk.transcription` text stream: `sender` is who sent it, `owner_of` finds
/// the participant owning a track sid (agents send on behalf of the speaker).
pub(crate) fn from_text_stream(
    sender: &str,
    text: &str,
    attributes: &HashMap<String, String>,
    stream_id: &str,
    owner_of: impl Fn(&str) -> Option<String>,
) -> Caption {
    let track_sid = attributes
        .get(ATTR_TRANSCRIBED_TRACK_ID)
        .filter(|t| !t.is_empty())
        .cloned();
    let participant_identity = track_sid
        .as_deref()
        .and_then(&owner_of)
        .unwrap_or_else(|| sender.to_owned());
    Caption {
        participant_identity,
        track_sid,
        segment_id: attributes
            .get(ATTR_SEGMENT_ID)
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| stream_id.to_owned()),
        text: text.trim().to_owned(),
        is_final: parse_final(attributes.get(ATTR_TRANSCRIPTION_FINAL).map(String::as_str)),
        language: None,
    }
}

/// Captions from a legacy Transcription packet, one per segment.
#[allow(deprecated)]
pub(crate) fn from_legacy(t: &livekit_protocol::Transcription, sender: &str) -> Vec<Caption> {
    let who = if t.transcribed_participant_identity.is_empty() {
        sender.to_owned()
    } else {
        t.transcribed_participant_identity.clone()
    };
    t.segments
        .iter()
        .map(|s| Caption {
            participant_identity: who.clone(),
            track_sid: (!t.track_id.is_empty()).then(|| t.track_id.clone()),
            segment_id: s.id.clone(),
            text: s.text.trim().to_owned(),
            is_final: s.r#final,
            language: (!s.language.is_empty()).then(|| s.language.clone()),
        })
        .collect()
}

/// The caption lines to show: one per segment, in order of first appearance, interim text
/// replaced by newer text and by the final text; a final text is never replaced by a late
/// interim one. Keeps the last `capacity` segments.
#[derive(Debug, Clone)]
pub struct CaptionState {
    lines: Vec<Caption>,
    capacity: usize,
}

impl Default for CaptionState {
    fn default() -> Self {
        Self::with_capacity(200)
    }
}

impl CaptionState {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            lines: Vec::new(),
            capacity: capacity.max(1),
        }
    }

    /// Applies an update; returns whether the visible lines changed.
    pub fn apply(&mut self, c: Caption) -> bool {
        if let Some(line) = self.lines.iter_mut().find(|l| {
            l.segment_id == c.segment_id && l.participant_identity == c.participant_identity
        }) {
            if line.is_final && !c.is_final {
                return false;
            }
            if *line == c {
                return false;
            }
            *line = c;
            return true;
        }
        self.lines.push(c);
        if self.lines.len() > self.capacity {
            self.lines.remove(0);
        }
        true
    }

    /// Every line, oldest first.
    pub fn lines(&self) -> &[Caption] {
        &self.lines
    }

    /// The final lines of one participant, oldest first.
    pub fn finals_of<'a>(&'a self, identity: &'a str) -> impl Iterator<Item = &'a Caption> + 'a {
        self.lines
            .iter()
            .filter(move |l| l.is_final && l.participant_identity == identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(who: &str, seg: &str, text: &str, fin: bool) -> Caption {
        Caption {
            participant_identity: who.into(),
            track_sid: None,
            segment_id: seg.into(),
            text: text.into(),
            is_final: fin,
            language: None,
        }
    }

    #[test]
    fn interim_replaced_by_final_and_never_back() {
        let mut s = CaptionState::default();
        assert!(s.apply(cap("alice", "s1", "bon", false)));
        assert!(s.apply(cap("bob", "s1", "hello", false)));
        assert!(s.apply(cap("alice", "s1", "bonjour à", false)));
        assert!(s.apply(cap("alice", "s1", "Bonjour à tous.", true)));
        assert!(
            !s.apply(cap("alice", "s1", "bonjour", false)),
            "late interim ignored"
        );
        assert!(
            !s.apply(cap("alice", "s1", "Bonjour à tous.", true)),
            "repeat"
        );
        let texts: Vec<_> = s.lines().iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["Bonjour à tous.", "hello"]);
        assert_eq!(s.finals_of("alice").count(), 1);
        assert_eq!(s.finals_of("bob").count(), 0);
    }

    #[test]
    fn capacity_drops_oldest() {
        let mut s = CaptionState::with_capacity(2);
        for i in 0..3 {
            s.apply(cap("a", &i.to_string(), "x", true));
        }
        let ids: Vec<_> = s.lines().iter().map(|l| l.segment_id.as_str()).collect();
        assert_eq!(ids, ["1", "2"]);
    }

    #[test]
    fn text_stream_attributes() {
        let attrs: HashMap<String, String> = [
            (ATTR_SEGMENT_ID, "SG_1"),
            (ATTR_TRANSCRIBED_TRACK_ID, "TR_a"),
            (ATTR_TRANSCRIPTION_FINAL, "True"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let owner = |t: &str| (t == "TR_a").then(|| "alice".to_owned());
        let c = from_text_stream("agent", " Hi ", &attrs, "stream", owner);
        assert_eq!(c, {
            let mut e = cap("alice", "SG_1", "Hi", true);
            e.track_sid = Some("TR_a".into());
            e
        });
        // No attributes: the sender speaks, the stream id is the segment, interim.
        let c = from_text_stream("bob", "x", &HashMap::new(), "st", |_| None);
        assert_eq!(c, cap("bob", "st", "x", false));
        assert!(parse_final(Some("1")) && parse_final(Some(" TRUE")));
        assert!(!parse_final(Some("false")) && !parse_final(Some("yes")) && !parse_final(None));
    }

    #[test]
    #[allow(deprecated)]
    fn legacy_packet() {
        let t = livekit_protocol::Transcription {
            transcribed_participant_identity: "alice".into(),
            track_id: "TR_a".into(),
            segments: vec![livekit_protocol::TranscriptionSegment {
                id: "s".into(),
                text: "Salut".into(),
                start_time: 0,
                end_time: 1,
                r#final: true,
                language: "fr".into(),
            }],
        };
        let c = from_legacy(&t, "agent");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].participant_identity, "alice");
        assert_eq!(c[0].language.as_deref(), Some("fr"));
        assert!(c[0].is_final);
    }
}
