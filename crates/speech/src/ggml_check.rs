//! Checks that a file is a whole whisper.cpp model before whisper.cpp reads it.
//!
//! whisper.cpp trusts its input: a damaged header aborts the process (`GGML_ASSERT`, seen with
//! an unknown quantisation type), and a wrong tensor type indexes past its type table. A
//! desktop app must not die because a model file is damaged, so the whole layout is walked
//! here first, reading only headers and skipping tensor data: the hyper-parameters, the mel
//! filters, the vocabulary, and each tensor's rank, name, type and size against what is left
//! of the file.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Elements per block and bytes per block of the ggml tensor types a whisper.cpp model may
/// hold (F32, F16, the usual quantisations, BF16).
fn type_block(t: i32) -> Option<(u64, u64)> {
    Some(match t {
        0 => (1, 4),
        1 => (1, 2),
        2 => (32, 18),
        3 => (32, 20),
        6 => (32, 22),
        7 => (32, 24),
        8 => (32, 34),
        10 => (256, 84),
        11 => (256, 110),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210),
        30 => (1, 2),
        _ => return None,
    })
}

/// File types (`ftype % 1000`) whisper.cpp maps to a weight type.
fn known_ftype(f: i32) -> bool {
    matches!(f, 0..=3 | 7..=14 | 24)
}

struct Reader<R> {
    inner: R,
    left: u64,
}

impl<R: Read + Seek> Reader<R> {
    fn i32(&mut self, what: &str) -> Result<i32, String> {
        let mut b = [0u8; 4];
        self.take(4, what)?;
        self.inner
            .read_exact(&mut b)
            .map_err(|e| format!("{what}: {e}"))?;
        Ok(i32::from_le_bytes(b))
    }

    fn take(&mut self, n: u64, what: &str) -> Result<(), String> {
        if n > self.left {
            return Err(format!("the file ends inside {what}"));
        }
        self.left -= n;
        Ok(())
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), String> {
        self.take(n, what)?;
        let n = i64::try_from(n).map_err(|_| format!("{what} is too large"))?;
        self.inner
            .seek(SeekFrom::Current(n))
            .map_err(|e| format!("{what}: {e}"))?;
        Ok(())
    }

    fn count(&mut self, what: &str, max: i32) -> Result<u64, String> {
        let v = self.i32(what)?;
        if v <= 0 || v > max {
            return Err(format!("{what} is {v}, not a whisper.cpp value"));
        }
        Ok(v as u64)
    }
}

/// `Ok` when `path` is a complete whisper.cpp model; else what is wrong with it.
pub fn check_model_file(path: &Path) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    check(BufReader::new(file), len)
}

/// [`check_model_file`] on any seekable reader of `len` bytes.
pub fn check<R: Read + Seek>(inner: R, len: u64) -> Result<(), String> {
    let mut r = Reader { inner, left: len };
    if r.i32("the magic number")? != 0x6767_6d6c {
        return Err("not a whisper.cpp (ggml) file".into());
    }
    let names = [
        ("n_vocab", 1 << 20),
        ("n_audio_ctx", 1 << 16),
        ("n_audio_state", 1 << 16),
        ("n_audio_head", 1 << 10),
        ("n_audio_layer", 1 << 10),
        ("n_text_ctx", 1 << 16),
        ("n_text_state", 1 << 16),
        ("n_text_head", 1 << 10),
        ("n_text_layer", 1 << 10),
        ("n_mels", 1 << 10),
    ];
    for (name, max) in names {
        r.count(name, max)?;
    }
    let ftype = r.i32("ftype")?;
    if ftype < 0 || !known_ftype(ftype % 1000) {
        return Err(format!("unknown weight type {ftype}"));
    }
    let n_mel = r.count("the mel filters' rows", 1 << 10)?;
    let n_fft = r.count("the mel filters' columns", 1 << 16)?;
    r.skip(n_mel * n_fft * 4, "the mel filters")?;
    let n_vocab = r.count("the vocabulary size", 1 << 20)?;
    for _ in 0..n_vocab {
        let n = r.i32("a token's length")?;
        if !(0..=1024).contains(&n) {
            return Err(format!("a token of {n} bytes"));
        }
        r.skip(n as u64, "a token")?;
    }
    let mut tensors = 0;
    while r.left > 0 {
        let what = format!("tensor {tensors}");
        let n_dims = r.i32(&what)?;
        let name_len = r.i32(&what)?;
        let ttype = r.i32(&what)?;
        if !(1..=4).contains(&n_dims) || !(1..=512).contains(&name_len) {
            return Err(format!("{what}: rank {n_dims}, name of {name_len} bytes"));
        }
        let (block, bytes) =
            type_block(ttype).ok_or_else(|| format!("{what}: unknown tensor type {ttype}"))?;
        let mut elements: u64 = 1;
        for _ in 0..n_dims {
            let d = r.count(&what, i32::MAX)?;
            elements = elements
                .checked_mul(d)
                .filter(|&e| e <= len)
                .ok_or_else(|| format!("{what}: more elements than the file holds"))?;
        }
        if !elements.is_multiple_of(block) {
            return Err(format!("{what}: {elements} elements in blocks of {block}"));
        }
        r.skip(name_len as u64, &what)?;
        r.skip(elements / block * bytes, &what)?;
        tensors += 1;
    }
    if tensors == 0 {
        return Err("no tensors".into());
    }
    Ok(())
}

/// A tiny but well-formed file: header, 2x3 mel filters, 2 tokens, one f32 and one f16
/// tensor (for tests of code that handles model files without running them).
#[cfg(test)]
pub(crate) fn tiny() -> Vec<u8> {
    let mut f = vec![];
    let i = |f: &mut Vec<u8>, v: i32| f.extend(v.to_le_bytes());
    i(&mut f, 0x6767_6d6c);
    for v in [2, 4, 8, 1, 1, 4, 8, 1, 1, 2, 1] {
        i(&mut f, v);
    }
    i(&mut f, 2);
    i(&mut f, 3);
    f.extend([0u8; 24]);
    i(&mut f, 2);
    for t in [b"a".as_slice(), b"bc"] {
        i(&mut f, t.len() as i32);
        f.extend(t);
    }
    for (ty, size) in [(0, 4), (1, 2)] {
        i(&mut f, 2);
        i(&mut f, 3);
        i(&mut f, ty);
        i(&mut f, 2);
        i(&mut f, 3);
        f.extend(b"w.x");
        f.extend(vec![0u8; 6 * size]);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn run(b: &[u8]) -> Result<(), String> {
        check(Cursor::new(b), b.len() as u64)
    }

    #[test]
    fn whole_models_pass_and_damage_is_named() {
        let good = tiny();
        run(&good).expect("well-formed");
        let cut = &good[..good.len() - 1];
        assert!(
            run(cut).unwrap_err().contains("ends inside"),
            "{:?}",
            run(cut)
        );
        let mut ftype = good.clone();
        ftype[44..48].copy_from_slice(&0x0707_0707_i32.to_le_bytes());
        assert!(run(&ftype).unwrap_err().contains("weight type"));
        let mut ttype = good.clone();
        // The last tensor: 3 header words, 2 dims, a 3-byte name, 6 f16 values; its type is word 3.
        let at = good.len() - (12 + 8 + 3 + 12) + 8;
        ttype[at..at + 4].copy_from_slice(&99_i32.to_le_bytes());
        assert!(
            run(&ttype).unwrap_err().contains("tensor type 99"),
            "{:?}",
            run(&ttype)
        );
        let mut not = good.clone();
        not[0] = b'x';
        assert!(run(&not).unwrap_err().contains("not a whisper.cpp"));
        assert!(run(&good[..60]).is_err());
        // Anything at all never panics.
        let mut x: u32 = 1;
        for n in 0..2000 {
            let mut b = good.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = x as usize % b.len();
                b[i] = (x >> 8) as u8;
            }
            b.truncate(b.len() - n % 7);
            let _ = run(&b);
        }
    }
}
