//! The jitter buffer of one remote audio track: Opus packets go in as they arrive (any order,
//! some missing), 48 kHz PCM comes out at the speaker's pace.
//!
//! - **Reorder**: packets are kept by their extended RTP sequence number and played in order;
//!   one arriving after its turn has passed is dropped (counted as late).
//! - **Conceal**: a missing packet is rebuilt from the next packet's in-band FEC when that one
//!   is already here, else Opus packet loss concealment stands in for it.
//! - **Bounded latency**: playing starts once [`JitterConfig::target_packets`] are buffered;
//!   above [`JitterConfig::max_packets`] the oldest are dropped, so a burst after a stall can
//!   never leave the call permanently late. After a long underrun (the sender stopped or
//!   muted) the buffer refills to the target before playing again.
//!
//! Sans-I/O: no clock. The caller pulls one packet's worth with [`JitterBuffer::pop`]
//! whenever the speaker needs audio.

use std::collections::BTreeMap;

use crate::opus_codec::{OpusDecoder, OpusError, FRAME_SAMPLES_20MS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Packets buffered before playing starts (3 x 20 ms = 60 ms).
    pub target_packets: usize,
    /// Most packets held (10 x 20 ms = 200 ms of added latency at worst).
    pub max_packets: usize,
    /// Concealed packets in a row after which the buffer refills before playing on.
    pub max_concealed: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            target_packets: 3,
            max_packets: 10,
            max_concealed: 5,
        }
    }
}

/// What happened to the packets, for stats and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub decoded: u64,
    /// Lost packets rebuilt from the next packet's FEC.
    pub recovered: u64,
    /// Lost packets replaced by concealment.
    pub concealed: u64,
    /// Packets that came after their turn.
    pub late: u64,
    /// Packets dropped to keep latency bounded.
    pub overflow: u64,
    /// Pops answered with silence while (re)filling.
    pub silent: u64,
}

pub struct JitterBuffer {
    config: JitterConfig,
    packets: BTreeMap<u64, Vec<u8>>,
    next: Option<u64>,
    playing: bool,
    concealed_run: u32,
    decoder: OpusDecoder,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(config: JitterConfig) -> Result<Self, OpusError> {
        Ok(Self {
            config: JitterConfig {
                target_packets: config.target_packets.max(1),
                max_packets: config.max_packets.max(config.target_packets.max(1)),
                max_concealed: config.max_concealed,
            },
            packets: BTreeMap::new(),
            next: None,
            playing: false,
            concealed_run: 0,
            decoder: OpusDecoder::new()?,
            stats: JitterStats::default(),
        })
    }

    /// Adds a packet with its extended sequence number. Empty packets are ignored.
    pub fn push(&mut self, seq: u64, payload: Vec<u8>) {
        if payload.is_empty() {
            return;
        }
        if self.next.is_some_and(|n| seq < n) {
            self.stats.late += 1;
            return;
        }
        self.packets.insert(seq, payload);
        while self.packets.len() > self.config.max_packets {
            if let Some((first, _)) = self.packets.pop_first() {
                self.stats.overflow += 1;
                if self.next.is_some_and(|n| n <= first) {
                    self.next = Some(first + 1);
                }
            }
        }
    }

    /// Packets waiting.
    pub fn depth(&self) -> usize {
        self.packets.len()
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The next packet's worth of audio (normally 960 samples): decoded, rebuilt, concealed,
    /// or silence while the buffer fills.
    pub fn pop(&mut self) -> Vec<i16> {
        if !self.playing {
            if self.packets.len() < self.config.target_packets {
                self.stats.silent += 1;
                return vec![0; FRAME_SAMPLES_20MS];
            }
            self.playing = true;
            self.concealed_run = 0;
            // Resume at the oldest buffered packet (after a refill the gap is not loss).
            self.next = self.packets.keys().next().copied();
        }
        let Some(seq) = self.next else {
            self.playing = false;
            return vec![0; FRAME_SAMPLES_20MS];
        };
        self.next = Some(seq + 1);
        if let Some(p) = self.packets.remove(&seq) {
            self.concealed_run = 0;
            return match self.decoder.decode(&p) {
                Ok(pcm) => {
                    self.stats.decoded += 1;
                    pcm
                }
                Err(e) => {
                    tracing::debug!("undecodable audio packet {seq}: {e}");
                    self.conceal()
                }
            };
        }
        if let Some(next) = self.packets.get(&(seq + 1)) {
            if let Ok(pcm) = self.decoder.recover(next) {
                self.stats.recovered += 1;
                self.concealed_run = 0;
                return pcm;
            }
        }
        self.concealed_run += 1;
        if self.packets.is_empty() && self.concealed_run > self.config.max_concealed {
            // The stream stopped: wait for it to refill rather than concealing forever.
            self.playing = false;
            self.stats.silent += 1;
            return vec![0; FRAME_SAMPLES_20MS];
        }
        self.conceal()
    }

    fn conceal(&mut self) -> Vec<i16> {
        self.stats.concealed += 1;
        self.decoder
            .conceal()
            .unwrap_or_else(|_| vec![0; FRAME_SAMPLES_20MS])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{dominant_hz, rms};
    use crate::opus_codec::{OpusConfig, OpusEncoder};
    use crate::tone::{ToneSource, SAMPLE_RATE};

    fn packets(n: usize) -> Vec<Vec<u8>> {
        let mut tone = ToneSource::a440();
        let mut enc = OpusEncoder::new(OpusConfig::default()).expect("encoder");
        (0..n)
            .map(|_| enc.encode(&tone.samples(960)).expect("encode"))
            .collect()
    }

    #[test]
    fn reordered_packets_play_in_order() {
        let p = packets(50);
        let mut jb = JitterBuffer::new(JitterConfig::default()).expect("jb");
        let mut heard = vec![];
        // Pairs swapped: 1,0,3,2,... arriving one per pop.
        for i in (0..50).step_by(2) {
            jb.push(1000 + i as u64 + 1, p[i + 1].clone());
            heard.extend(jb.pop());
            jb.push(1000 + i as u64, p[i].clone());
            heard.extend(jb.pop());
        }
        while jb.depth() > 0 {
            heard.extend(jb.pop());
        }
        let s = jb.stats();
        assert_eq!(
            (s.decoded, s.concealed, s.recovered, s.late),
            (50, 0, 0, 0),
            "{s:?}"
        );
        // In-order decoding gives exactly the clean decode of the stream.
        let mut dec = OpusDecoder::new().expect("dec");
        let clean: Vec<i16> = p.iter().flat_map(|x| dec.decode(x).expect("d")).collect();
        let silent = s.silent as usize * 960;
        assert!(heard[..silent].iter().all(|&x| x == 0));
        assert_eq!(&heard[silent..], &clean[..]);
    }

    #[test]
    fn lost_packets_are_rebuilt_or_concealed_and_the_tone_stays() {
        let p = packets(100);
        let mut jb = JitterBuffer::new(JitterConfig::default()).expect("jb");
        let mut heard = vec![];
        for (i, pkt) in p.iter().enumerate() {
            // Every 10th packet is lost; packet 55 and 56 both lost (FEC cannot rebuild 55).
            if i % 10 == 5 || i == 56 {
                heard.extend(jb.pop());
                continue;
            }
            jb.push(i as u64, pkt.clone());
            heard.extend(jb.pop());
        }
        for _ in 0..5 {
            heard.extend(jb.pop());
        }
        let s = jb.stats();
        assert_eq!(s.decoded, 89, "{s:?}");
        // 5, 15, ..., 95 and 56 rebuilt from the next packet's FEC; 55 (its successor lost
        // too) concealed; the pops after the end conceal as well.
        assert_eq!(s.recovered, 10, "{s:?}");
        assert!(s.concealed >= 1, "{s:?}");
        // Continuous: after the start, no 20 ms stretch is silent, and it is still 440 Hz.
        let start = heard.iter().position(|&x| x != 0).expect("sound");
        let body = &heard[start + 4_800..start + 90 * 960];
        for chunk in body.chunks(960) {
            // Concealment fades (rms 0.09 measured against 0.35 for the tone) but is not silence.
            assert!(rms(chunk) > 0.05, "a silent gap: rms {}", rms(chunk));
        }
        let hz = dominant_hz(body, SAMPLE_RATE).expect("tone");
        assert!((hz - 440.0).abs() < 5.0, "{hz}");
    }

    #[test]
    fn latency_is_bounded_and_late_packets_dropped() {
        let p = packets(40);
        let mut jb = JitterBuffer::new(JitterConfig::default()).expect("jb");
        // A burst of 30 packets after a stall: only max_packets are kept.
        for (i, pkt) in p.iter().enumerate().take(30) {
            jb.push(i as u64, pkt.clone());
        }
        assert_eq!(jb.depth(), 10);
        assert_eq!(jb.stats().overflow, 20);
        jb.pop(); // plays packet 20
        jb.push(3, p[3].clone()); // long gone
        assert_eq!(jb.stats().late, 1);
        for _ in 0..9 {
            jb.pop();
        }
        assert_eq!(jb.stats().decoded, 10);
        // The sender stops: a few concealed packets, then silence until it refills.
        let quiet: Vec<Vec<i16>> = (0..10).map(|_| jb.pop()).collect();
        assert_eq!(jb.stats().concealed, 5);
        assert!(quiet[9].iter().all(|&x| x == 0));
        // It comes back (after a gap in numbering): playing resumes after the refill.
        for (k, i) in (30..33).enumerate() {
            jb.push(100 + k as u64, p[i].clone());
        }
        jb.pop();
        assert_eq!(jb.stats().decoded, 11);
        // Garbage does not panic and is concealed.
        jb.push(103, vec![0x03]);
        jb.pop();
        jb.pop();
        jb.pop();
        assert!(jb.stats().concealed >= 6);
    }
}
