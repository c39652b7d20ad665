//! Opus, the only audio codec LiveKit rooms use: 48 kHz mono, 20 ms frames, in-band FEC so a
//! lost packet can be rebuilt from the next one.

use crate::tone::SAMPLE_RATE;

/// Samples in the 20 ms frame WebRTC sends.
pub const FRAME_SAMPLES_20MS: usize = 960;
/// Largest Opus packet duration (120 ms): the decode buffer size.
const MAX_FRAME_SAMPLES: usize = 5760;
/// RFC 6716 caps a frame at 1275 bytes; 4000 covers repacketized input too.
const MAX_PACKET_BYTES: usize = 4000;
/// Frame sizes Opus accepts at 48 kHz: 2.5, 5, 10, 20, 40, 60 ms.
const VALID_FRAME_SAMPLES: [usize; 6] = [120, 240, 480, 960, 1920, 2880];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpusError {
    #[error("{0} samples is not an Opus frame size at 48 kHz (120, 240, 480, 960, 1920, 2880)")]
    FrameSize(usize),
    #[error("empty Opus packet (use `conceal` for a lost packet)")]
    EmptyPacket,
    #[error("opus: {0}")]
    Codec(String),
}

impl From<opus::Error> for OpusError {
    fn from(e: opus::Error) -> Self {
        OpusError::Codec(e.to_string())
    }
}

/// Encoder settings; the defaults are libwebrtc's for a microphone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusConfig {
    pub bitrate_bps: i32,
    /// In-band forward error correction (`useinbandfec=1` in the SDP, as LiveKit offers).
    pub fec: bool,
    /// Discontinuous transmission: near-silent frames become tiny packets.
    pub dtx: bool,
    /// Loss the encoder plans FEC for; FEC carries nothing while this is 0.
    pub expected_loss_pct: u8,
}

impl Default for OpusConfig {
    fn default() -> Self {
        Self {
            bitrate_bps: 32_000,
            fec: true,
            dtx: false,
            expected_loss_pct: 10,
        }
    }
}

/// 48 kHz mono Opus encoder.
pub struct OpusEncoder {
    inner: opus::Encoder,
}

impl OpusEncoder {
    pub fn new(config: OpusConfig) -> Result<Self, OpusError> {
        let mut inner =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)?;
        inner.set_bitrate(opus::Bitrate::Bits(config.bitrate_bps))?;
        inner.set_inband_fec(config.fec)?;
        inner.set_dtx(config.dtx)?;
        inner.set_packet_loss_perc(i32::from(config.expected_loss_pct.min(100)))?;
        Ok(Self { inner })
    }

    /// Encodes one frame (normally 960 samples, 20 ms) into one packet.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, OpusError> {
        if !VALID_FRAME_SAMPLES.contains(&pcm.len()) {
            return Err(OpusError::FrameSize(pcm.len()));
        }
        Ok(self.inner.encode_vec(pcm, MAX_PACKET_BYTES)?)
    }

    /// Follows the bandwidth estimate.
    pub fn set_bitrate(&mut self, bps: i32) -> Result<(), OpusError> {
        Ok(self.inner.set_bitrate(opus::Bitrate::Bits(bps))?)
    }

    /// Follows the loss receivers report, so FEC spends bits only when it helps.
    pub fn set_expected_loss(&mut self, pct: u8) -> Result<(), OpusError> {
        Ok(self.inner.set_packet_loss_perc(i32::from(pct.min(100)))?)
    }
}

/// 48 kHz mono Opus decoder, with concealment and FEC recovery of lost packets.
pub struct OpusDecoder {
    inner: opus::Decoder,
    /// Duration of the last packet: what a lost packet is assumed to have lasted.
    last_samples: usize,
}

impl OpusDecoder {
    pub fn new() -> Result<Self, OpusError> {
        Ok(Self {
            inner: opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)?,
            last_samples: FRAME_SAMPLES_20MS,
        })
    }

    /// Decodes one packet from the network.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, OpusError> {
        if packet.is_empty() {
            return Err(OpusError::EmptyPacket);
        }
        let mut out = vec![0i16; MAX_FRAME_SAMPLES];
        let n = self.inner.decode(packet, &mut out, false)?;
        out.truncate(n);
        self.last_samples = n;
        Ok(out)
    }

    /// Stands in for a lost packet without any data (packet loss concealment).
    pub fn conceal(&mut self) -> Result<Vec<i16>, OpusError> {
        let mut out = vec![0i16; self.last_samples];
        let n = self.inner.decode(&[], &mut out, false)?;
        out.truncate(n);
        Ok(out)
    }

    /// Rebuilds the packet lost just before `next_packet` from the FEC data it carries
    /// (concealment when it carries none). Then decode `next_packet` itself as usual.
    pub fn recover(&mut self, next_packet: &[u8]) -> Result<Vec<i16>, OpusError> {
        if next_packet.is_empty() {
            return self.conceal();
        }
        let mut out = vec![0i16; self.last_samples];
        let n = self.inner.decode(next_packet, &mut out, true)?;
        out.truncate(n);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{dominant_hz, rms};
    use crate::tone::ToneSource;

    /// One second of the 440 Hz tone through Opus, packets in order.
    fn round_trip(config: OpusConfig) -> (Vec<i16>, Vec<i16>, Vec<Vec<u8>>) {
        let mut tone = ToneSource::a440();
        let mut enc = OpusEncoder::new(config).expect("encoder");
        let mut dec = OpusDecoder::new().expect("decoder");
        let (mut input, mut output, mut packets) = (vec![], vec![], vec![]);
        for _ in 0..50 {
            let pcm = tone.samples(FRAME_SAMPLES_20MS);
            let packet = enc.encode(&pcm).expect("encode");
            output.extend(dec.decode(&packet).expect("decode"));
            input.extend(pcm);
            packets.push(packet);
        }
        (input, output, packets)
    }

    #[test]
    fn tone_survives_opus() {
        let (input, output, packets) = round_trip(OpusConfig::default());
        assert_eq!(output.len(), 48_000);
        // Skip the codec's start-up.
        let steady = &output[4_800..];
        let hz = dominant_hz(steady, SAMPLE_RATE).expect("a tone");
        assert!((hz - 440.0).abs() <= 5.0, "decoded {hz} Hz");
        let (a, b) = (rms(&input[4_800..]), rms(steady));
        assert!((b - a).abs() / a < 0.1, "rms in {a:.3}, out {b:.3}");
        // 32 kb/s over 20 ms is 80 bytes a packet on average.
        let bytes: usize = packets.iter().map(Vec::len).sum();
        assert!((2_000..=6_000).contains(&bytes), "{bytes} bytes in 1 s");
    }

    #[test]
    fn a_lost_packet_is_rebuilt_from_fec() {
        let mut tone = ToneSource::a440();
        let mut enc = OpusEncoder::new(OpusConfig::default()).expect("encoder");
        let mut dec = OpusDecoder::new().expect("decoder");
        let packets: Vec<Vec<u8>> = (0..30)
            .map(|_| enc.encode(&tone.samples(960)).expect("encode"))
            .collect();
        for p in &packets[..20] {
            dec.decode(p).expect("decode");
        }
        // Packet 20 is lost; 21 carries a low-rate copy of it.
        let rebuilt = dec.recover(&packets[21]).expect("fec");
        assert_eq!(rebuilt.len(), 960);
        let hz = dominant_hz(&rebuilt, SAMPLE_RATE).expect("a tone");
        assert!((hz - 440.0).abs() <= 10.0, "rebuilt {hz} Hz");
        assert!(rms(&rebuilt) > 0.2, "rebuilt rms {}", rms(&rebuilt));
        assert_eq!(dec.decode(&packets[21]).map(|s| s.len()), Ok(960));
        let concealed = dec.conceal().expect("plc");
        assert_eq!(concealed.len(), 960);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut enc = OpusEncoder::new(OpusConfig::default()).expect("encoder");
        assert_eq!(enc.encode(&[0; 1000]), Err(OpusError::FrameSize(1000)));
        let mut dec = OpusDecoder::new().expect("decoder");
        assert_eq!(dec.decode(&[]), Err(OpusError::EmptyPacket));
        // TOC code 3 needs a frame-count byte.
        assert!(matches!(dec.decode(&[0x03]), Err(OpusError::Codec(_))));
        assert!(enc.set_bitrate(64_000).is_ok());
        assert!(enc.set_expected_loss(200).is_ok());
    }
}
