//! Reader for CTranslate2's `model.bin`: u32 version, name, u32 revision, u32 variable count,
//! then per variable a name, u8 rank, u32 dims, u8 dtype, u32 byte count and the raw data;
//! then aliases. Strings are a u16 length (terminating NUL included) and the bytes. Every
//! length is checked against the file, so a truncated or hostile file is an error, not a panic.

use std::collections::BTreeMap;

/// Element types, with CTranslate2's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
}

impl DType {
    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub data: Vec<u8>,
}

impl Tensor {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f32 (floats converted, integers cast).
    pub fn to_f32(&self) -> Vec<f32> {
        let chunks = self.data.chunks_exact(self.dtype.size());
        match self.dtype {
            DType::F32 => chunks
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F16 => chunks
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DType::I8 => chunks.map(|c| f32::from(c[0] as i8)).collect(),
            DType::I16 => chunks
                .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])))
                .collect(),
            DType::I32 => chunks
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
        }
    }

    /// The single value of a rank-0 (or one-element) tensor, as an integer.
    pub fn scalar(&self) -> Option<i64> {
        (self.len() == 1).then(|| self.to_f32()[0] as i64)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Ct2Error {
    #[error("the model file ends early (at byte {0}); it is truncated or not a CTranslate2 model")]
    Truncated(usize),
    #[error("unsupported CTranslate2 format version {0}")]
    Version(u32),
    #[error("variable {name:?} has an unknown element type {code}")]
    DType { name: String, code: u8 },
    #[error("variable {name:?}: {bytes} bytes do not fit its shape {shape:?}")]
    Size {
        name: String,
        shape: Vec<usize>,
        bytes: usize,
    },
    #[error("a name in the model file is not UTF-8")]
    Name,
}

#[derive(Debug, Clone)]
pub struct Ct2Model {
    pub spec: String,
    pub revision: u32,
    pub variables: BTreeMap<String, Tensor>,
    pub aliases: BTreeMap<String, String>,
}

impl Ct2Model {
    /// A variable by name, following aliases.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.variables.get(name).or_else(|| {
            self.aliases
                .get(name)
                .and_then(|target| self.variables.get(target))
        })
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    o: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Ct2Error> {
        let end = self.o.checked_add(n).ok_or(Ct2Error::Truncated(self.o))?;
        let s = self.b.get(self.o..end).ok_or(Ct2Error::Truncated(self.o))?;
        self.o = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Ct2Error> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Ct2Error> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, Ct2Error> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn string(&mut self) -> Result<String, Ct2Error> {
        let n = usize::from(self.u16()?);
        let s = self.take(n)?;
        let s = s.strip_suffix(&[0]).unwrap_or(s);
        String::from_utf8(s.to_vec()).map_err(|_| Ct2Error::Name)
    }
}

/// Parses a whole `model.bin`.
pub fn read(bytes: &[u8]) -> Result<Ct2Model, Ct2Error> {
    let mut c = Cursor { b: bytes, o: 0 };
    let version = c.u32()?;
    if !(3..=6).contains(&version) {
        return Err(Ct2Error::Version(version));
    }
    let spec = c.string()?;
    let revision = c.u32()?;
    let count = c.u32()?;
    let mut variables = BTreeMap::new();
    for _ in 0..count {
        let name = c.string()?;
        let rank = c.u8()?;
        let mut shape = Vec::with_capacity(usize::from(rank));
        for _ in 0..rank {
            shape.push(c.u32()? as usize);
        }
        let code = c.u8()?;
        let dtype = DType::from_code(code).ok_or_else(|| Ct2Error::DType {
            name: name.clone(),
            code,
        })?;
        let nbytes = c.u32()? as usize;
        let expected = shape
            .iter()
            .try_fold(dtype.size(), |acc, d| acc.checked_mul(*d));
        if expected != Some(nbytes) {
            return Err(Ct2Error::Size {
                name,
                shape,
                bytes: nbytes,
            });
        }
        let data = c.take(nbytes)?.to_vec();
        variables.insert(name, Tensor { shape, dtype, data });
    }
    let mut aliases = BTreeMap::new();
    // Older files end without an alias table.
    if c.o < bytes.len() {
        let n = c.u32()?;
        for _ in 0..n {
            let alias = c.string()?;
            let target = c.string()?;
            aliases.insert(alias, target);
        }
    }
    Ok(Ct2Model {
        spec,
        revision,
        variables,
        aliases,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a model.bin in memory: `(name, shape, dtype code, data)`.
    pub(crate) fn build(vars: &[(&str, &[u32], u8, Vec<u8>)]) -> Vec<u8> {
        fn s(out: &mut Vec<u8>, v: &str) {
            out.extend(((v.len() + 1) as u16).to_le_bytes());
            out.extend(v.as_bytes());
            out.push(0);
        }
        let mut out = vec![];
        out.extend(6u32.to_le_bytes());
        s(&mut out, "WhisperSpec");
        out.extend(3u32.to_le_bytes());
        out.extend((vars.len() as u32).to_le_bytes());
        for (name, shape, code, data) in vars {
            s(&mut out, name);
            out.push(shape.len() as u8);
            for d in *shape {
                out.extend(d.to_le_bytes());
            }
            out.push(*code);
            out.extend((data.len() as u32).to_le_bytes());
            out.extend(data);
        }
        out.extend(1u32.to_le_bytes());
        s(&mut out, "shared");
        s(&mut out, "a");
        out
    }

    #[test]
    fn reads_variables_scalars_and_aliases() {
        let f16: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect();
        let bytes = build(&[
            ("a", &[2], 4, f16),
            ("heads", &[], 3, 6i32.to_le_bytes().to_vec()),
        ]);
        let m = read(&bytes).expect("valid");
        assert_eq!(m.spec, "WhisperSpec");
        assert_eq!(m.get("a").map(Tensor::to_f32), Some(vec![1.5, -2.0]));
        assert_eq!(m.get("shared").map(|t| t.shape.clone()), Some(vec![2]));
        assert_eq!(m.get("heads").and_then(Tensor::scalar), Some(6));
    }

    #[test]
    fn truncated_and_inconsistent_files_are_errors() {
        let bytes = build(&[("a", &[4], 0, vec![0; 16])]);
        for cut in [0, 3, 10, 30, bytes.len() - 8] {
            assert!(read(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let lying = build(&[("a", &[4], 0, vec![0; 12])]);
        assert!(matches!(read(&lying), Err(Ct2Error::Size { .. })));
        let huge = build(&[("a", &[u32::MAX, u32::MAX, u32::MAX], 0, vec![])]);
        assert!(read(&huge).is_err());
        let mut bad_version = bytes.clone();
        bad_version[0] = 99;
        assert_eq!(read(&bad_version).unwrap_err(), Ct2Error::Version(99));
    }
}
