//! Active-speaker detection from the RFC 6464 audio-level header extension, as a plain state
//! machine fed with levels and the current time, so it can be tested without media.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A level above this (in -dBov, so lower is louder) counts as speech. LiveKit uses 35.
const ACTIVE_DBOV: f32 = 40.0;
/// Levels older than this no longer keep a speaker active.
const HOLD: Duration = Duration::from_millis(600);

#[derive(Debug, Default)]
pub struct SpeakerDetector {
    /// Smoothed loudness per participant sid, 0.0 (silence) to 1.0, and when it was last loud.
    levels: HashMap<String, (f32, Instant)>,
    /// The set last reported.
    reported: HashMap<String, f32>,
}

/// One change in the active-speaker set, in LiveKit's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerChange {
    pub sid: String,
    pub level: f32,
    pub active: bool,
}

impl SpeakerDetector {
    /// Feeds one audio-level value (`-dBov`, 0..=127 where 0 is loudest).
    pub fn observe(&mut self, sid: &str, dbov: i8, now: Instant) {
        let dbov = f32::from(dbov).abs();
        if dbov > ACTIVE_DBOV {
            return;
        }
        let linear = 10f32.powf(-dbov / 20.0);
        let entry = self.levels.entry(sid.to_owned()).or_insert((linear, now));
        entry.0 = entry.0 * 0.7 + linear * 0.3;
        entry.1 = now;
    }

    pub fn forget(&mut self, sid: &str) {
        self.levels.remove(sid);
    }

    /// The speakers whose state changed since the last call: newly active ones with their
    /// level, and those that stopped with `active: false`. Empty when nothing changed.
    pub fn changes(&mut self, now: Instant) -> Vec<SpeakerChange> {
        self.levels
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < HOLD);
        let mut out = Vec::new();
        for (sid, (level, _)) in &self.levels {
            let level = level.clamp(0.0, 1.0);
            let old = self.reported.get(sid);
            if old.is_none_or(|o| (o - level).abs() > 0.1) {
                out.push(SpeakerChange {
                    sid: sid.clone(),
                    level,
                    active: true,
                });
            }
        }
        for sid in self.reported.keys() {
            if !self.levels.contains_key(sid) {
                out.push(SpeakerChange {
                    sid: sid.clone(),
                    level: 0.0,
                    active: false,
                });
            }
        }
        if !out.is_empty() {
            self.reported = self
                .levels
                .iter()
                .map(|(s, (l, _))| (s.clone(), l.clamp(0.0, 1.0)))
                .collect();
        }
        out.sort_by(|a, b| b.level.total_cmp(&a.level));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loud_speaker_becomes_active_then_inactive() {
        let mut d = SpeakerDetector::default();
        let t0 = Instant::now();
        for i in 0..10 {
            d.observe("PA_a", -10, t0 + Duration::from_millis(i * 20));
            d.observe("PA_b", -90, t0 + Duration::from_millis(i * 20));
        }
        let c = d.changes(t0 + Duration::from_millis(200));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].sid, "PA_a");
        assert!(c[0].active && c[0].level > 0.2);
        assert!(d.changes(t0 + Duration::from_millis(300)).is_empty());
        let c = d.changes(t0 + Duration::from_secs(2));
        assert_eq!(
            c,
            vec![SpeakerChange {
                sid: "PA_a".into(),
                level: 0.0,
                active: false
            }]
        );
    }
}
