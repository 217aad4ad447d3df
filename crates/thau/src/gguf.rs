//! The GGUF container (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): a header,
//! typed key/value metadata, tensor descriptors, then aligned tensor data.
//!
//! THAU writes version 3 (candle's writer only writes version 2) and reads versions 2 and 3.
//! The reader checks every length and offset against the file before using it, so a
//! truncated or hand-damaged file gives a `Corrupt` error naming it, never a panic.
//!
//! Dimensions are kept row-major here (`[rows, cols]` for a matrix, like candle and
//! safetensors); on disk GGUF lists them innermost first, so they are reversed at the edge.

use crate::error::{Error, Result};
use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// GGUF `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
pub mod token_type {
    pub const NORMAL: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const CONTROL: i32 = 3;
    pub const USER_DEFINED: i32 = 4;
    pub const UNUSED: i32 = 5;
    pub const BYTE: i32 = 6;
}

/// "GGUF" read as a little-endian u32.
const MAGIC: u32 = 0x4655_4747;
/// The version THAU writes.
pub const VERSION: u32 = 3;
/// Tensor data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: usize = 32;
/// Largest nesting of arrays accepted (GGUF files in the wild use 1).
const MAX_DEPTH: usize = 4;
/// GGML's limit on tensor rank.
const MAX_DIMS: usize = 4;

/// Hint for files THAU cannot parse.
const CORRUPT_HINT: &str = "the file is damaged or not a GGUF model: download or export it again";

/// ggml's numeric id of a tensor type (candle keeps its own mapping crate-private).
pub fn dtype_id(dtype: GgmlDType) -> u32 {
    match dtype {
        GgmlDType::F32 => 0,
        GgmlDType::F16 => 1,
        GgmlDType::Q4_0 => 2,
        GgmlDType::Q4_1 => 3,
        GgmlDType::Q5_0 => 6,
        GgmlDType::Q5_1 => 7,
        GgmlDType::Q8_0 => 8,
        GgmlDType::Q8_1 => 9,
        GgmlDType::Q2K => 10,
        GgmlDType::Q3K => 11,
        GgmlDType::Q4K => 12,
        GgmlDType::Q5K => 13,
        GgmlDType::Q6K => 14,
        GgmlDType::Q8K => 15,
        GgmlDType::BF16 => 30,
    }
}

/// The tensor type for a ggml id, `None` for types candle cannot compute with (IQ*, TQ*, …).
pub fn dtype_from_id(id: u32) -> Option<GgmlDType> {
    Some(match id {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        9 => GgmlDType::Q8_1,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        15 => GgmlDType::Q8K,
        30 => GgmlDType::BF16,
        _ => return None,
    })
}

/// Bytes a row-major tensor of `dims` takes in `dtype`, or `None` when the last dimension is
/// not a whole number of blocks or the size overflows.
pub fn tensor_bytes(dims: &[usize], dtype: GgmlDType) -> Option<usize> {
    let cols = *dims.last()?;
    if !cols.is_multiple_of(dtype.block_size()) {
        return None;
    }
    let n = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    (n / dtype.block_size()).checked_mul(dtype.type_size())
}

/// One tensor's descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Row-major dimensions (`[rows, cols]` for a matrix).
    pub dims: Vec<usize>,
    pub dtype: GgmlDType,
    /// Offset from the start of the data section (reader only; the writer computes it).
    pub offset: usize,
}

impl TensorInfo {
    pub fn new(name: impl Into<String>, dims: Vec<usize>, dtype: GgmlDType) -> Self {
        Self { name: name.into(), dims, dtype, offset: 0 }
    }
}

// ---- writing -----------------------------------------------------------------------------

fn value_type(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) -> Result<()> {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => put_str(out, s),
        Value::Array(items) => {
            let ty = items.first().map(value_type).unwrap_or(4);
            if items.iter().any(|i| value_type(i) != ty) {
                return Err(Error::invalid("GGUF metadata", "an array mixes value types"));
            }
            out.extend_from_slice(&ty.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for i in items {
                put_value(out, i)?;
            }
        }
    }
    Ok(())
}

/// Everything before the tensor data: header, metadata, tensor descriptors, padding.
/// Returns the bytes and each tensor's data offset.
fn header_bytes(metadata: &[(String, Value)], tensors: &[TensorInfo]) -> Result<(Vec<u8>, Vec<usize>)> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        put_str(&mut out, k);
        out.extend_from_slice(&value_type(v).to_le_bytes());
        put_value(&mut out, v)?;
    }
    let mut offsets = Vec::with_capacity(tensors.len());
    let mut offset = 0usize;
    for t in tensors {
        let size = tensor_bytes(&t.dims, t.dtype).ok_or_else(|| {
            Error::invalid(
                format!("tensor {}", t.name),
                format!("shape {:?} does not fit {:?} blocks of {}", t.dims, t.dtype, t.dtype.block_size()),
            )
        })?;
        put_str(&mut out, &t.name);
        out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for &d in t.dims.iter().rev() {
            out.extend_from_slice(&(d as u64).to_le_bytes());
        }
        out.extend_from_slice(&dtype_id(t.dtype).to_le_bytes());
        out.extend_from_slice(&(offset as u64).to_le_bytes());
        offsets.push(offset);
        offset += size.next_multiple_of(DEFAULT_ALIGNMENT);
    }
    out.resize(out.len().next_multiple_of(DEFAULT_ALIGNMENT), 0);
    Ok((out, offsets))
}

/// Write a GGUF v3 file atomically (temporary file beside `path`, fsync, rename).
///
/// Tensor data is produced one tensor at a time by `data(i)` and written straight out, so a
/// large model is never held twice in memory. `data(i)` must return exactly the bytes that
/// `tensors[i]`'s shape and type call for.
pub fn write(
    path: &Path,
    metadata: &[(String, Value)],
    tensors: &[TensorInfo],
    mut data: impl FnMut(usize) -> Result<Vec<u8>>,
) -> Result<()> {
    let (header, _) = header_bytes(metadata, tensors)?;
    crate::fs::write_atomic_with(path, |f| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let io = |e| Error::io(path, e);
        w.write_all(&header).map_err(io)?;
        for (i, t) in tensors.iter().enumerate() {
            let bytes = data(i)?;
            let want = tensor_bytes(&t.dims, t.dtype).unwrap_or(0);
            if bytes.len() != want {
                return Err(Error::invalid(
                    format!("tensor {}", t.name),
                    format!("{} data bytes for {:?} {:?}, expected {want}", bytes.len(), t.dims, t.dtype),
                ));
            }
            w.write_all(&bytes).map_err(io)?;
            let pad = bytes.len().next_multiple_of(DEFAULT_ALIGNMENT) - bytes.len();
            w.write_all(&[0u8; DEFAULT_ALIGNMENT][..pad]).map_err(io)?;
        }
        w.flush().map_err(io)
    })
}

// ---- reading -----------------------------------------------------------------------------

/// A parsed GGUF file, memory-mapped: metadata in memory, tensor data read on demand.
pub struct GgufFile {
    pub path: PathBuf,
    pub version: u32,
    pub metadata: HashMap<String, Value>,
    /// Descriptors in file order.
    pub tensors: Vec<TensorInfo>,
    data_start: usize,
    map: memmap2::Mmap,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

/// A bounds-checked little-endian cursor over the file bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            format!("truncated: {what} needs {n} bytes at offset {}, the file has {}", self.pos, self.bytes.len())
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, what: &str) -> std::result::Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }
    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    /// A length or count, which must not promise more items than bytes are left.
    fn len(&mut self, what: &str, min_item_bytes: usize) -> std::result::Result<usize, String> {
        let n = self.u64(what)?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n.saturating_mul(min_item_bytes.max(1) as u64) > left {
            return Err(format!("truncated or damaged: {what} is {n} but only {left} bytes are left"));
        }
        Ok(n as usize)
    }
    fn string(&mut self, what: &str) -> std::result::Result<String, String> {
        let n = self.len(what, 1)?;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }
    fn value(&mut self, ty: u32, depth: usize, what: &str) -> std::result::Result<Value, String> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>(what)?[0]),
            1 => Value::I8(i8::from_le_bytes(self.array(what)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            7 => match self.array::<1>(what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("{what}: {b} is not a boolean")),
            },
            8 => Value::String(self.string(what)?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(format!("{what}: arrays nested deeper than {MAX_DEPTH}"));
                }
                let item_ty = self.u32(what)?;
                let min = match item_ty {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    t => return Err(format!("{what}: unknown array item type {t}")),
                };
                let n = self.len(what, min)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(item_ty, depth + 1, what)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            t => return Err(format!("{what}: unknown value type {t}")),
        })
    }
}

impl GgufFile {
    /// Open and parse a GGUF file's header, metadata and tensor descriptors.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::not_found(path, "give the path of a .gguf file")
            } else {
                Error::io(path, e)
            }
        })?;
        // SAFETY: the map is read-only; a file changed underneath it while open is outside
        // what THAU supports (as with every mmap-based GGUF reader, llama.cpp's included).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let (version, metadata, tensors, data_start) = parse(&map).map_err(|e| match e {
            ParseError::Corrupt(reason) => Error::corrupt(path, reason, CORRUPT_HINT),
            ParseError::Incompatible(reason, hint) => Error::Incompatible { path: path.into(), reason, hint },
        })?;
        Ok(Self { path: path.to_path_buf(), version, metadata, tensors, data_start, map })
    }

    /// A tensor's descriptor by name.
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// A tensor's raw bytes (bounds were checked when the file was opened).
    pub fn raw(&self, info: &TensorInfo) -> &[u8] {
        let start = self.data_start + info.offset;
        let len = tensor_bytes(&info.dims, info.dtype).unwrap_or(0);
        &self.map[start..start + len]
    }

    /// A tensor as a candle `QTensor` in its stored type.
    pub fn qtensor(&self, info: &TensorInfo, device: &Device) -> Result<QTensor> {
        // Copy into a fresh (malloc-aligned) buffer: candle reinterprets the bytes as blocks.
        let bytes = self.raw(info).to_vec();
        candle_core::quantized::ggml_file::qtensor_from_ggml(info.dtype, &bytes, info.dims.clone(), device)
            .map_err(|e| Error::corrupt(&self.path, format!("tensor {}: {e}", info.name), CORRUPT_HINT))
    }
}

enum ParseError {
    Corrupt(String),
    Incompatible(String, String),
}

impl From<String> for ParseError {
    fn from(s: String) -> Self {
        ParseError::Corrupt(s)
    }
}

type Parsed = (u32, HashMap<String, Value>, Vec<TensorInfo>, usize);

fn parse(bytes: &[u8]) -> std::result::Result<Parsed, ParseError> {
    let mut c = Cursor { bytes, pos: 0 };
    let magic = c.u32("magic")?;
    if magic != MAGIC {
        return Err(ParseError::Corrupt(format!(
            "bad magic {:02x?}: a GGUF file starts with \"GGUF\"",
            magic.to_le_bytes()
        )));
    }
    let version = c.u32("version")?;
    if version != 2 && version != 3 {
        return Err(ParseError::Incompatible(
            format!("GGUF version {version}"),
            "THAU reads GGUF versions 2 and 3: convert the file with a current llama.cpp".into(),
        ));
    }
    let n_tensors = c.len("tensor count", 8 + 4 + 8 + 8)?;
    let n_kv = c.len("metadata count", 8 + 4 + 1)?;
    let mut metadata = HashMap::with_capacity(n_kv);
    for i in 0..n_kv {
        let key = c.string(&format!("metadata key {i}"))?;
        let ty = c.u32(&format!("type of {key}"))?;
        let v = c.value(ty, 0, &key)?;
        if metadata.insert(key.clone(), v).is_some() {
            return Err(ParseError::Corrupt(format!("metadata key {key} appears twice")));
        }
    }
    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(Value::U32(a)) if a.is_power_of_two() => *a as usize,
        Some(v) => return Err(ParseError::Corrupt(format!("general.alignment {v:?} is not a power of two u32"))),
    };
    let mut tensors = Vec::with_capacity(n_tensors);
    for i in 0..n_tensors {
        let name = c.string(&format!("tensor {i} name"))?;
        let n_dims = c.u32(&format!("tensor {name} rank"))? as usize;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(ParseError::Corrupt(format!("tensor {name} has {n_dims} dimensions (1..={MAX_DIMS})")));
        }
        let mut dims = Vec::with_capacity(n_dims);
        for _ in 0..n_dims {
            dims.push(c.u64(&format!("tensor {name} dimensions"))? as usize);
        }
        dims.reverse();
        if dims.contains(&0) {
            return Err(ParseError::Corrupt(format!("tensor {name} has an empty dimension {dims:?}")));
        }
        let ty = c.u32(&format!("tensor {name} type"))?;
        let dtype = dtype_from_id(ty).ok_or_else(|| {
            ParseError::Incompatible(
                format!("tensor {name} has ggml type {ty}, which THAU cannot compute with"),
                "re-quantize the model to f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0 or a k-quant (q2_k..q6_k)"
                    .into(),
            )
        })?;
        let offset = c.u64(&format!("tensor {name} offset"))? as usize;
        if !offset.is_multiple_of(alignment) {
            return Err(ParseError::Corrupt(format!("tensor {name} offset {offset} is not aligned to {alignment}")));
        }
        if tensors.iter().any(|t: &TensorInfo| t.name == name) {
            return Err(ParseError::Corrupt(format!("tensor {name} appears twice")));
        }
        tensors.push(TensorInfo { name, dims, dtype, offset });
    }
    let data_start = c.pos.next_multiple_of(alignment);
    for t in &tensors {
        let size = tensor_bytes(&t.dims, t.dtype).ok_or_else(|| {
            ParseError::Corrupt(format!(
                "tensor {} shape {:?} is not a whole number of {:?} blocks",
                t.name, t.dims, t.dtype
            ))
        })?;
        let end = data_start.checked_add(t.offset).and_then(|s| s.checked_add(size));
        match end {
            Some(end) if end <= bytes.len() => {}
            _ => {
                return Err(ParseError::Corrupt(format!(
                    "truncated: tensor {} needs {size} bytes at offset {}, the file has {}",
                    t.name,
                    data_start.saturating_add(t.offset),
                    bytes.len()
                )))
            }
        }
    }
    Ok((version, metadata, tensors, data_start))
}
