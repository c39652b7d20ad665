//! Connection quality as LiveKit reports it (EXCELLENT/GOOD/POOR/LOST with a MOS-like score),
//! from the packet loss and round-trip time str0m measures on each leg.

use std::time::Duration;

use livekit_protocol::ConnectionQuality;

/// What the last stats interval showed for one participant: the worse of its legs.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct LinkStats {
    /// Fraction of packets lost, 0.0..=1.0.
    pub loss: f32,
    pub rtt: Option<Duration>,
}

impl LinkStats {
    /// Keeps the worse of two observations.
    pub fn worst(self, other: LinkStats) -> LinkStats {
        LinkStats {
            loss: self.loss.max(other.loss),
            rtt: match (self.rtt, other.rtt) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

/// Thresholds close to LiveKit's: audio stays fine below 2 % loss, usable below 8 %.
pub fn classify(stats: LinkStats, connected: bool) -> (ConnectionQuality, f32) {
    if !connected {
        return (ConnectionQuality::Lost, 0.0);
    }
    let rtt_ms = stats.rtt.map(|r| r.as_millis() as f32).unwrap_or(0.0);
    // A rough MOS: 4.5 at best, minus penalties for loss and delay.
    let score = (4.5 - stats.loss * 30.0 - (rtt_ms - 150.0).max(0.0) / 400.0).clamp(1.0, 4.5);
    let quality = if score >= 4.0 {
        ConnectionQuality::Excellent
    } else if score >= 3.0 {
        ConnectionQuality::Good
    } else {
        ConnectionQuality::Poor
    };
    (quality, score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_delay_lower_the_quality() {
        let ms = |v| Some(Duration::from_millis(v));
        let q = |loss, rtt| classify(LinkStats { loss, rtt }, true).0;
        assert_eq!(q(0.0, ms(20)), ConnectionQuality::Excellent);
        assert_eq!(q(0.03, ms(20)), ConnectionQuality::Good);
        assert_eq!(q(0.10, ms(20)), ConnectionQuality::Poor);
        assert_eq!(q(0.0, ms(600)), ConnectionQuality::Good);
        assert_eq!(
            classify(LinkStats::default(), false).0,
            ConnectionQuality::Lost
        );
        let w = LinkStats {
            loss: 0.1,
            rtt: None,
        }
        .worst(LinkStats {
            loss: 0.0,
            rtt: ms(5),
        });
        assert_eq!(
            w,
            LinkStats {
                loss: 0.1,
                rtt: ms(5)
            }
        );
    }
}
