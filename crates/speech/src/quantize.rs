//! Rewrites a whisper.cpp model's weight matrices as 8-bit blocks (ggml `Q8_0`).
//!
//! Why: live captions run Whisper on one core per utterance, and on a laptop CPU the base
//! model's encoder and decoder are bound by the f16 matrix products. Q8_0 (32 weights share one
//! f16 scale, each weight an i8) halves the bytes read and lets ggml use integer dot products
//! (AVX2/AVX-512 VNNI, NEON), with a word error rate that stays where f16's is (measured in
//! `tests/quantize_real_model.rs`).
//!
//! The file layout is the one [`crate::ggml`] writes: the header, mel filters and vocabulary are
//! copied unchanged, `ftype` becomes 7 (mostly Q8_0), and every 2-D f16 tensor whisper.cpp
//! creates with the weight type becomes Q8_0 (the four it keeps in f32, the 3-D convolution
//! kernels and all 1-D tensors stay as they are), which is what whisper.cpp's own `quantize`
//! tool produces. The input is untrusted (a file a user or IT gave): it is checked with
//! [`crate::ggml_check`] first and read with bounds everywhere.

use half::f16;

/// ggml's tensor type numbers used here.
const TYPE_F32: i32 = 0;
const TYPE_F16: i32 = 1;
const TYPE_Q8_0: i32 = 8;
/// whisper.cpp's file type "mostly Q8_0".
const FTYPE_Q8_0: i32 = 7;
/// Weights per Q8_0 block; a block is one f16 scale and 32 i8.
const BLOCK: usize = 32;

/// Tensors whisper.cpp keeps in f32 whatever the file type (it creates them so).
const KEEP: [&str; 4] = [
    "encoder.conv1.bias",
    "encoder.conv2.bias",
    "encoder.positional_embedding",
    "decoder.positional_embedding",
];

#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    #[error("not a complete whisper.cpp model: {0}")]
    Damaged(String),
    #[error("this model is already quantised (file type {0}); only f16 models are quantised")]
    NotF16(i32),
    #[error("tensor {name} has rows of {row} weights, not a multiple of 32")]
    Row { name: String, row: usize },
}

/// What [`quantize_q8_0`] did, for the caller to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantizeReport {
    pub tensors_quantized: usize,
    pub bytes_before: usize,
    pub bytes_after: usize,
}

struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], QuantizeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| QuantizeError::Damaged(format!("the file ends inside {what}")))?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn i32(&mut self, what: &str) -> Result<i32, QuantizeError> {
        let b = self.bytes(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn count(&mut self, what: &str) -> Result<usize, QuantizeError> {
        let v = self.i32(what)?;
        usize::try_from(v).map_err(|_| QuantizeError::Damaged(format!("{what} is {v}")))
    }
}

/// Whether `model` (a whisper.cpp file) says its weights are f16 (file type 1).
pub fn is_f16(model: &[u8]) -> bool {
    model.get(44..48) == Some(&1i32.to_le_bytes()[..])
}

/// One row of f32 weights as Q8_0 blocks (ggml's reference rounding: scale = max |w| / 127).
fn quantize_row(row: &[f32], out: &mut Vec<u8>) {
    for block in row.chunks(BLOCK) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend(f16::from_f32(d).to_le_bytes());
        for v in block {
            out.push((v * id).round().clamp(-128.0, 127.0) as i8 as u8);
        }
    }
}

/// The model `f16_model` (a whisper.cpp file with ftype 1) with its weight matrices in Q8_0.
pub fn quantize_q8_0(f16_model: &[u8]) -> Result<(Vec<u8>, QuantizeReport), QuantizeError> {
    crate::ggml_check::check(std::io::Cursor::new(f16_model), f16_model.len() as u64)
        .map_err(QuantizeError::Damaged)?;
    let mut c = Cursor {
        data: f16_model,
        at: 0,
    };
    // Magic and ten hyper-parameters, then the file type.
    c.bytes(44, "the header")?;
    let ftype_at = c.at;
    let ftype = c.i32("the file type")?;
    if ftype != 1 {
        return Err(QuantizeError::NotF16(ftype));
    }
    let n_mel = c.count("the mel filter count")?;
    let n_fft = c.count("the mel filter length")?;
    let mel = n_mel
        .checked_mul(n_fft)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| QuantizeError::Damaged("mel filters too large".into()))?;
    c.bytes(mel, "the mel filters")?;
    let n_vocab = c.count("the vocabulary size")?;
    for _ in 0..n_vocab {
        let len = c.count("a token's length")?;
        c.bytes(len, "a token")?;
    }
    let mut out = Vec::with_capacity(f16_model.len() / 2 + c.at);
    out.extend_from_slice(&f16_model[..ftype_at]);
    out.extend(FTYPE_Q8_0.to_le_bytes());
    out.extend_from_slice(&f16_model[ftype_at + 4..c.at]);
    let mut tensors_quantized = 0;
    while c.at < f16_model.len() {
        let n_dims = c.count("a tensor's rank")?;
        let name_len = c.count("a tensor's name length")?;
        let ttype = c.i32("a tensor's type")?;
        let mut dims = Vec::with_capacity(n_dims);
        if n_dims > 4 {
            return Err(QuantizeError::Damaged(format!("a tensor of rank {n_dims}")));
        }
        for _ in 0..n_dims {
            dims.push(c.count("a tensor's dimension")?);
        }
        let name = String::from_utf8_lossy(c.bytes(name_len, "a tensor's name")?).into_owned();
        let elem = match ttype {
            TYPE_F32 => 4usize,
            TYPE_F16 => 2,
            t => return Err(QuantizeError::Damaged(format!("{name} has type {t}"))),
        };
        let size = dims
            .iter()
            .try_fold(elem, |n, d| n.checked_mul(*d))
            .ok_or_else(|| QuantizeError::Damaged(format!("{name} is too large")))?;
        let data = c.bytes(size, "a tensor's data")?;
        let quantize = ttype == TYPE_F16 && n_dims == 2 && !KEEP.contains(&name.as_str());
        out.extend((n_dims as i32).to_le_bytes());
        out.extend((name_len as i32).to_le_bytes());
        out.extend((if quantize { TYPE_Q8_0 } else { ttype }).to_le_bytes());
        for d in &dims {
            out.extend((*d as i32).to_le_bytes());
        }
        out.extend(name.as_bytes());
        if !quantize {
            out.extend_from_slice(data);
            continue;
        }
        let row = dims.first().copied().unwrap_or(0);
        if row == 0 || row % BLOCK != 0 {
            return Err(QuantizeError::Row { name, row });
        }
        let values: Vec<f32> = data
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        for r in values.chunks(row) {
            quantize_row(r, &mut out);
        }
        tensors_quantized += 1;
    }
    let report = QuantizeReport {
        tensors_quantized,
        bytes_before: f16_model.len(),
        bytes_after: out.len(),
    };
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_keeps_each_weight_within_half_a_step() {
        let row: Vec<f32> = (0..64).map(|i| ((i as f32) * 0.37).sin() * 0.8).collect();
        let mut out = vec![];
        quantize_row(&row, &mut out);
        assert_eq!(out.len(), 2 * 34);
        for (b, block) in out.chunks(34).zip(row.chunks(32)) {
            let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!((d - amax / 127.0).abs() < 1e-4, "scale {d}");
            for (q, w) in b[2..].iter().zip(block) {
                let back = (*q as i8) as f32 * d;
                assert!(
                    (back - w).abs() <= d * 0.51 + 1e-6,
                    "{w} came back as {back}"
                );
            }
        }
        // An all-zero block has scale 0 and zero weights, not NaN.
        let mut z = vec![];
        quantize_row(&[0.0; 32], &mut z);
        assert!(z.iter().all(|b| *b == 0));
    }

    #[test]
    fn damaged_or_already_quantised_input_is_refused() {
        assert!(matches!(
            quantize_q8_0(b"ggml and nothing else"),
            Err(QuantizeError::Damaged(_))
        ));
        assert!(matches!(quantize_q8_0(&[]), Err(QuantizeError::Damaged(_))));
    }
}
