//! Writes whisper.cpp's ggml model file from a CTranslate2 Whisper model.
//!
//! Layout: magic `ggml`, ten i32 hyper-parameters, ftype, the 80x201 mel filter bank (f32),
//! the BPE vocabulary as byte strings, then each tensor: rank, name length, type (0 f32,
//! 1 f16), dims innermost first, name, data. CTranslate2 variables map one-to-one onto OpenAI
//! Whisper's state dict, except that self-attention q/k/v are stacked in `linear_0` and
//! cross-attention k/v in `linear_1`, with no key bias.

use std::collections::HashMap;
use std::path::Path;

use crate::ct2::{self, Ct2Model, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("reading {0}: {1}")]
    Io(String, std::io::Error),
    #[error(transparent)]
    Ct2(#[from] ct2::Ct2Error),
    #[error("this is not a Whisper model: variable {0:?} is missing")]
    Missing(String),
    #[error("this is not a Whisper model: {0}")]
    Shape(String),
    #[error("tokenizer.json is unreadable: {0}")]
    Tokenizer(String),
}

/// Whisper's dimensions, in the order whisper.cpp reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HParams {
    pub n_vocab: usize,
    pub n_audio_ctx: usize,
    pub n_audio_state: usize,
    pub n_audio_head: usize,
    pub n_audio_layer: usize,
    pub n_text_ctx: usize,
    pub n_text_state: usize,
    pub n_text_head: usize,
    pub n_text_layer: usize,
    pub n_mels: usize,
}

/// A tensor to write, in OpenAI Whisper's naming.
struct Out {
    name: String,
    shape: Vec<usize>,
    values: Vec<f32>,
}

/// Converts the directory of a CTranslate2 Whisper model (`model.bin` + `tokenizer.json`).
pub fn convert_ct2_dir(dir: &Path) -> Result<Vec<u8>, ConvertError> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).map_err(|e| ConvertError::Io(p.display().to_string(), e))
    };
    let model = ct2::read(&read("model.bin")?)?;
    let tokenizer = read("tokenizer.json")?;
    convert(&model, &tokenizer)
}

/// Converts a parsed model and its `tokenizer.json` to whisper.cpp's file.
pub fn convert(model: &Ct2Model, tokenizer_json: &[u8]) -> Result<Vec<u8>, ConvertError> {
    let (tensors, hp) = to_openai(model)?;
    let tokens = bpe_tokens(tokenizer_json)?;
    let mel = mel_filters(16_000, 400, hp.n_mels);

    let mut f = Vec::with_capacity(tensors.iter().map(|t| t.values.len() * 2 + 64).sum());
    let i32le = |f: &mut Vec<u8>, v: usize| f.extend((v as i32).to_le_bytes());
    f.extend(0x6767_6d6c_i32.to_le_bytes());
    for v in [
        hp.n_vocab,
        hp.n_audio_ctx,
        hp.n_audio_state,
        hp.n_audio_head,
        hp.n_audio_layer,
        hp.n_text_ctx,
        hp.n_text_state,
        hp.n_text_head,
        hp.n_text_layer,
        hp.n_mels,
    ] {
        i32le(&mut f, v);
    }
    i32le(&mut f, 1); // mostly f16
    i32le(&mut f, hp.n_mels);
    i32le(&mut f, 201);
    for v in &mel {
        f.extend(v.to_le_bytes());
    }
    i32le(&mut f, tokens.len());
    for t in &tokens {
        i32le(&mut f, t.len());
        f.extend(t);
    }
    for t in tensors {
        // whisper.cpp keeps 1-D tensors, conv biases and positional embeddings in f32.
        let keep_f32 = t.shape.len() < 2
            || matches!(
                t.name.as_str(),
                "encoder.conv1.bias"
                    | "encoder.conv2.bias"
                    | "encoder.positional_embedding"
                    | "decoder.positional_embedding"
            );
        i32le(&mut f, t.shape.len());
        i32le(&mut f, t.name.len());
        i32le(&mut f, usize::from(!keep_f32));
        for d in t.shape.iter().rev() {
            i32le(&mut f, *d);
        }
        f.extend(t.name.as_bytes());
        if keep_f32 {
            for v in &t.values {
                f.extend(v.to_le_bytes());
            }
        } else {
            for v in &t.values {
                f.extend(half::f16::from_f32(*v).to_le_bytes());
            }
        }
    }
    Ok(f)
}

fn get<'a>(m: &'a Ct2Model, name: &str) -> Result<&'a Tensor, ConvertError> {
    m.get(name)
        .ok_or_else(|| ConvertError::Missing(name.to_owned()))
}

fn count_layers(m: &Ct2Model, side: &str) -> usize {
    let prefix = format!("{side}/layer_");
    m.variables
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix))
        .filter_map(|rest| rest.split('/').next()?.parse::<usize>().ok())
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
}

/// Collects tensors under OpenAI names, slicing stacked projections by rows.
struct Mapper<'a> {
    m: &'a Ct2Model,
    out: Vec<Out>,
}

impl<'a> Mapper<'a> {
    fn put(
        &mut self,
        name: String,
        t: &Tensor,
        rows: Option<(usize, usize)>,
    ) -> Result<(), ConvertError> {
        let values = t.to_f32();
        let (shape, values) = match rows {
            None => (t.shape.clone(), values),
            Some((from, to)) => {
                let row: usize = t.shape.iter().skip(1).product();
                let mut shape = t.shape.clone();
                match shape.first_mut() {
                    Some(first) if to <= *first => *first = to - from,
                    _ => {
                        return Err(ConvertError::Shape(format!(
                            "{name}: rows {from}..{to} of {:?}",
                            t.shape
                        )))
                    }
                }
                (shape, values[from * row..to * row].to_vec())
            }
        };
        self.out.push(Out {
            name,
            shape,
            values,
        });
        Ok(())
    }

    fn var(&self, name: &str) -> Result<&'a Tensor, ConvertError> {
        get(self.m, name)
    }

    fn lin(&mut self, dst: &str, src: &str) -> Result<(), ConvertError> {
        let (w, b) = (
            self.var(&format!("{src}/weight"))?,
            self.var(&format!("{src}/bias"))?,
        );
        self.put(format!("{dst}.weight"), w, None)?;
        self.put(format!("{dst}.bias"), b, None)
    }

    fn ln(&mut self, dst: &str, src: &str) -> Result<(), ConvertError> {
        let (g, b) = (
            self.var(&format!("{src}/gamma"))?,
            self.var(&format!("{src}/beta"))?,
        );
        self.put(format!("{dst}.weight"), g, None)?;
        self.put(format!("{dst}.bias"), b, None)
    }

    /// Self-attention: q, k, v stacked in one projection; the key has no bias.
    fn qkv(&mut self, dst: &str, src: &str, d: usize) -> Result<(), ConvertError> {
        let (w, b) = (
            self.var(&format!("{src}/weight"))?,
            self.var(&format!("{src}/bias"))?,
        );
        self.put(format!("{dst}.query.weight"), w, Some((0, d)))?;
        self.put(format!("{dst}.query.bias"), b, Some((0, d)))?;
        self.put(format!("{dst}.key.weight"), w, Some((d, 2 * d)))?;
        self.put(format!("{dst}.value.weight"), w, Some((2 * d, 3 * d)))?;
        self.put(format!("{dst}.value.bias"), b, Some((2 * d, 3 * d)))
    }

    /// A block's self-attention: layer norm, stacked q/k/v, output projection.
    fn self_attention(&mut self, p: &str, s: &str, d: usize) -> Result<(), ConvertError> {
        self.ln(
            &format!("{p}.attn_ln"),
            &format!("{s}/self_attention/layer_norm"),
        )?;
        self.qkv(
            &format!("{p}.attn"),
            &format!("{s}/self_attention/linear_0"),
            d,
        )?;
        self.lin(
            &format!("{p}.attn.out"),
            &format!("{s}/self_attention/linear_1"),
        )
    }

    /// A block's feed-forward part: layer norm and two projections.
    fn mlp(&mut self, p: &str, s: &str) -> Result<(), ConvertError> {
        self.ln(&format!("{p}.mlp_ln"), &format!("{s}/ffn/layer_norm"))?;
        self.lin(&format!("{p}.mlp.0"), &format!("{s}/ffn/linear_0"))?;
        self.lin(&format!("{p}.mlp.2"), &format!("{s}/ffn/linear_1"))
    }

    /// Cross-attention: k, v stacked; the key has no bias.
    fn kv(&mut self, dst: &str, src: &str, d: usize) -> Result<(), ConvertError> {
        let (w, b) = (
            self.var(&format!("{src}/weight"))?,
            self.var(&format!("{src}/bias"))?,
        );
        self.put(format!("{dst}.key.weight"), w, Some((0, d)))?;
        self.put(format!("{dst}.value.weight"), w, Some((d, 2 * d)))?;
        self.put(format!("{dst}.value.bias"), b, Some((d, 2 * d)))
    }
}

/// Maps CTranslate2 variables to OpenAI names, in the order OpenAI's state dict lists them.
fn to_openai(m: &Ct2Model) -> Result<(Vec<Out>, HParams), ConvertError> {
    let embed = get(m, "decoder/embeddings/weight")?;
    let [n_vocab, d] = embed.shape[..] else {
        return Err(ConvertError::Shape("token embedding is not 2-D".into()));
    };
    let heads = |side: &str| -> Result<usize, ConvertError> {
        let name = format!("{side}/num_heads");
        get(m, &name)?
            .scalar()
            .and_then(|v| usize::try_from(v).ok())
            .filter(|v| *v > 0 && d % v == 0)
            .ok_or(ConvertError::Shape(format!(
                "{name} is not a divisor of {d}"
            )))
    };
    let enc_pos = get(m, "encoder/position_encodings/encodings")?;
    let dec_pos = get(m, "decoder/position_encodings/encodings")?;
    let conv1 = get(m, "encoder/conv1/weight")?;
    let hp = HParams {
        n_vocab,
        n_audio_ctx: enc_pos.shape.first().copied().unwrap_or(0),
        n_audio_state: d,
        n_audio_head: heads("encoder")?,
        n_audio_layer: count_layers(m, "encoder"),
        n_text_ctx: dec_pos.shape.first().copied().unwrap_or(0),
        n_text_state: d,
        n_text_head: heads("decoder")?,
        n_text_layer: count_layers(m, "decoder"),
        n_mels: conv1.shape.get(1).copied().unwrap_or(0),
    };
    if hp.n_audio_layer == 0 || hp.n_text_layer == 0 || hp.n_mels == 0 {
        return Err(ConvertError::Shape(format!("{hp:?}")));
    }

    let mut x = Mapper { m, out: vec![] };
    x.lin("encoder.conv1", "encoder/conv1")?;
    x.lin("encoder.conv2", "encoder/conv2")?;
    x.put("encoder.positional_embedding".into(), enc_pos, None)?;
    for i in 0..hp.n_audio_layer {
        let (s, p) = (format!("encoder/layer_{i}"), format!("encoder.blocks.{i}"));
        x.self_attention(&p, &s, d)?;
        x.mlp(&p, &s)?;
    }
    x.ln("encoder.ln_post", "encoder/layer_norm")?;
    x.put("decoder.token_embedding.weight".into(), embed, None)?;
    x.put("decoder.positional_embedding".into(), dec_pos, None)?;
    for i in 0..hp.n_text_layer {
        let (s, p) = (format!("decoder/layer_{i}"), format!("decoder.blocks.{i}"));
        x.self_attention(&p, &s, d)?;
        x.ln(
            &format!("{p}.cross_attn_ln"),
            &format!("{s}/attention/layer_norm"),
        )?;
        x.lin(
            &format!("{p}.cross_attn.query"),
            &format!("{s}/attention/linear_0"),
        )?;
        x.kv(
            &format!("{p}.cross_attn"),
            &format!("{s}/attention/linear_1"),
            d,
        )?;
        x.lin(
            &format!("{p}.cross_attn.out"),
            &format!("{s}/attention/linear_2"),
        )?;
        x.mlp(&p, &s)?;
    }
    x.ln("decoder.ln", "decoder/layer_norm")?;
    let mut out = x.out;
    // Conv biases are [n, 1] in whisper.cpp.
    for t in out.iter_mut() {
        if t.name == "encoder.conv1.bias" || t.name == "encoder.conv2.bias" {
            t.shape.push(1);
        }
    }
    Ok((out, hp))
}

/// GPT-2's byte-to-unicode table, inverted: the printable stand-in character of each byte.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut bs: Vec<u32> = (u32::from(b'!')..=u32::from(b'~'))
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    bs.into_iter()
        .zip(cs)
        .filter_map(|(b, c)| Some((char::from_u32(c)?, b as u8)))
        .collect()
}

/// The BPE vocabulary of a Hugging Face `tokenizer.json`, as byte strings indexed by id.
fn bpe_tokens(tokenizer_json: &[u8]) -> Result<Vec<Vec<u8>>, ConvertError> {
    let json: serde_json::Value = serde_json::from_slice(tokenizer_json)
        .map_err(|e| ConvertError::Tokenizer(e.to_string()))?;
    let vocab = json
        .pointer("/model/vocab")
        .and_then(|v| v.as_object())
        .ok_or_else(|| ConvertError::Tokenizer("no model.vocab".into()))?;
    let to_byte = unicode_to_byte();
    let mut tokens: Vec<Option<Vec<u8>>> = vec![];
    for (text, id) in vocab {
        let id = id
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < 1_000_000)
            .ok_or_else(|| ConvertError::Tokenizer(format!("bad id for {text:?}")))?;
        let bytes: Option<Vec<u8>> = text.chars().map(|c| to_byte.get(&c).copied()).collect();
        let bytes = bytes
            .ok_or_else(|| ConvertError::Tokenizer(format!("{text:?} is not byte-level BPE")))?;
        if tokens.len() <= id {
            tokens.resize(id + 1, None);
        }
        tokens[id] = Some(bytes);
    }
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.ok_or_else(|| ConvertError::Tokenizer(format!("token id {i} is missing"))))
        .collect()
}

/// Whisper's (librosa's Slaney-style) mel filter bank, `n_mels x (n_fft/2+1)`, row-major.
pub fn mel_filters(sample_rate: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    let hz_to_mel = |f: f64| {
        if f >= min_log_hz {
            min_log_mel + (f.max(1e-10) / min_log_hz).ln() / logstep
        } else {
            f / f_sp
        }
    };
    let mel_to_hz = |m: f64| {
        if m >= min_log_mel {
            min_log_hz * (logstep * (m - min_log_mel)).exp()
        } else {
            f_sp * m
        }
    };
    let n_freq = n_fft / 2 + 1;
    let nyquist = f64::from(sample_rate) / 2.0;
    let fft_freqs: Vec<f64> = (0..n_freq)
        .map(|i| nyquist * i as f64 / (n_freq - 1) as f64)
        .collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(nyquist));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut w = vec![0f32; n_mels * n_freq];
    for i in 0..n_mels {
        let norm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (j, f) in fft_freqs.iter().enumerate() {
            let lower = -(mel_f[i] - f) / (mel_f[i + 1] - mel_f[i]);
            let upper = (mel_f[i + 2] - f) / (mel_f[i + 2] - mel_f[i + 1]);
            w[i * n_freq + j] = (lower.min(upper).max(0.0) * norm) as f32;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_filters_are_triangles_that_cover_the_band() {
        let w = mel_filters(16_000, 400, 80);
        assert_eq!(w.len(), 80 * 201);
        // Each filter is non-negative with a single peak, and the first ones sit low.
        for i in 0..80 {
            let row = &w[i * 201..(i + 1) * 201];
            assert!(row.iter().all(|v| *v >= 0.0));
            assert!(row.iter().any(|v| *v > 0.0), "filter {i} is empty");
        }
        let peak = |i: usize| {
            let row = &w[i * 201..(i + 1) * 201];
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(j, _)| j)
                .unwrap_or(0)
        };
        assert!(peak(0) < peak(40) && peak(40) < peak(79));
    }

    #[test]
    fn byte_level_bpe_round_trips_every_byte() {
        let map = unicode_to_byte();
        assert_eq!(map.len(), 256);
        assert_eq!(map.get(&'Ġ'), Some(&b' '));
        assert_eq!(map.get(&'a'), Some(&b'a'));
        let tok = br#"{"model":{"vocab":{"a":1,"\u0120b":0}}}"#;
        assert_eq!(
            bpe_tokens(tok).expect("ok"),
            vec![b" b".to_vec(), b"a".to_vec()]
        );
        assert!(
            bpe_tokens(br#"{"model":{"vocab":{"a":2}}}"#).is_err(),
            "gaps are errors"
        );
        assert!(bpe_tokens(b"not json").is_err());
    }

    #[test]
    fn a_model_that_is_not_whisper_is_refused() {
        let bytes = crate::ct2::tests::build(&[("x", &[1], 0, vec![0; 4])]);
        let m = ct2::read(&bytes).expect("valid ct2");
        assert!(matches!(
            convert(&m, br#"{"model":{"vocab":{"a":0}}}"#),
            Err(ConvertError::Missing(_))
        ));
    }
}
