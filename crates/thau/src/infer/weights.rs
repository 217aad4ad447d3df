//! A weight matrix in one of the storage types the engine runs: f32, f16, or GGML's block
//! quantizations q8_0 and q4_K (bit-compatible with GGUF files: imported tensors keep their
//! numbers; q8_0 is only laid out anew, see [`q8::Q8Matrix`]). Decoding (a few rows) uses our
//! own matrix-vector kernels for f32, f16 and q8_0, and candle's `k_quants::matmul` for q4_K;
//! prefill (more rows) runs every type through our packed GEMM, which widens quantized weights
//! to f32 slice by slice as it packs them.

use super::kernels;
use super::q8::{self, Q8Matrix};
use crate::error::{Error, Result};
use crate::model::ops::gemm::{gemm_nt, gemm_nt_rows, Precision};
use candle_core::quantized::k_quants::{self, BlockQ4K, BlockQ8_0, GgmlType};
use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;
use serde::{Deserialize, Serialize};

/// Storage type of the engine's weight matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightDtype {
    F32,
    F16,
    #[serde(rename = "q8_0")]
    Q8_0,
    #[serde(rename = "q4_k")]
    Q4K,
}

impl WeightDtype {
    pub fn parse(s: &str) -> Result<Self> {
        let names = [
            ("f32", Self::F32),
            ("f16", Self::F16),
            ("q8_0", Self::Q8_0),
            ("q8", Self::Q8_0),
            ("q4_k", Self::Q4K),
            ("q4k", Self::Q4K),
        ];
        crate::error::one_of("dtype", s, &names)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
            Self::Q4K => "q4_k",
        }
    }

    /// Elements per quantization block (a row's length must be a multiple of it).
    pub fn block(self) -> usize {
        match self {
            Self::F32 | Self::F16 => 1,
            Self::Q8_0 => 32,
            Self::Q4K => 256,
        }
    }
}

impl std::str::FromStr for WeightDtype {
    type Err = crate::Error;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A row-major (rows × cols) matrix: y = x · Wᵀ as in a Linear layer.
pub struct Weight {
    pub rows: usize,
    pub cols: usize,
    data: Data,
}

enum Data {
    F32(Vec<f32>),
    F16(Vec<f16>),
    Q8_0(Q8Matrix),
    Q4K(Vec<BlockQ4K>),
}

impl Weight {
    /// Store `w` (rows × cols, f32) as `dtype`. A row length that is not a multiple of the
    /// quantization block falls back to the next finer type (q4_k → q8_0 → f16), as llama.cpp does.
    pub fn from_f32(w: Vec<f32>, rows: usize, cols: usize, dtype: WeightDtype) -> Self {
        assert_eq!(w.len(), rows * cols, "weight has {} elements, expected {rows}×{cols}", w.len());
        let dtype = fallback(dtype, cols);
        let data = match dtype {
            WeightDtype::F32 => Data::F32(w),
            WeightDtype::F16 => Data::F16(w.iter().map(|&v| f16::from_f32(v)).collect()),
            WeightDtype::Q8_0 => Data::Q8_0(Q8Matrix::from_ggml(q8_bytes(&quantize::<BlockQ8_0>(&w)), rows, cols)),
            WeightDtype::Q4K => Data::Q4K(quantize::<BlockQ4K>(&w)),
        };
        Self { rows, cols, data }
    }

    /// Take a GGUF tensor (2-D, GGML dims reversed to rows × cols) as it is when its type is one
    /// the engine runs; other types are dequantized to f32 (or re-quantized to `other` when given).
    pub fn from_qtensor(name: &str, t: &QTensor, other: Option<WeightDtype>) -> Result<Self> {
        let (rows, cols) = t.shape().dims2().map_err(|_| {
            Error::invalid("tensor", format!("{name} has shape {:?}, expected a 2-D matrix", t.shape()))
        })?;
        let raw = t.data()?;
        let blocks = |block: usize| rows * cols / block;
        let data = match t.dtype() {
            GgmlDType::F32 => Data::F32(from_bytes(&raw, rows * cols, name)?),
            GgmlDType::F16 => Data::F16(from_bytes(&raw, rows * cols, name)?),
            GgmlDType::Q8_0 if cols.is_multiple_of(32) => {
                let blocks: Vec<BlockQ8_0> = from_bytes(&raw, blocks(32), name)?;
                Data::Q8_0(Q8Matrix::from_ggml(q8_bytes(&blocks), rows, cols))
            }
            GgmlDType::Q4K if cols.is_multiple_of(256) => Data::Q4K(from_bytes(&raw, blocks(256), name)?),
            _ => {
                let f = t.dequantize(&candle_core::Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
                return Ok(Self::from_f32(f, rows, cols, other.unwrap_or(WeightDtype::F32)));
            }
        };
        Ok(Self { rows, cols, data })
    }

    pub fn dtype(&self) -> WeightDtype {
        match self.data {
            Data::F32(_) => WeightDtype::F32,
            Data::F16(_) => WeightDtype::F16,
            Data::Q8_0(_) => WeightDtype::Q8_0,
            Data::Q4K(_) => WeightDtype::Q4K,
        }
    }

    /// Bytes the weights take in memory.
    pub fn bytes(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len() * 4,
            Data::F16(v) => v.len() * 2,
            Data::Q8_0(m) => m.bytes(),
            Data::Q4K(v) => std::mem::size_of_val(v.as_slice()),
        }
    }

    /// Row `r` as f32 (an embedding lookup).
    pub fn row(&self, r: usize, out: &mut [f32]) {
        assert_eq!(out.len(), self.cols, "a row has {} values, the output {}", self.cols, out.len());
        self.row_slice(r, 0, out)
    }

    /// Columns c0..c0+len of row `r` as f32 into `out` (len values). For the block types c0 and
    /// len must be whole blocks (32 for q8_0, 256 for q4_k).
    pub fn row_slice(&self, r: usize, c0: usize, out: &mut [f32]) {
        let (c, len) = (self.cols, out.len());
        assert!(c0 + len <= c, "row slice {c0}..{} is outside the {c} columns", c0 + len);
        let start = r * c + c0;
        match &self.data {
            Data::F32(v) => out.copy_from_slice(&v[start..start + len]),
            Data::F16(v) => half::slice::HalfFloatSliceExt::convert_to_f32_slice(&v[start..start + len], out),
            Data::Q8_0(m) => m.dequantize(r, c0, out),
            Data::Q4K(v) => {
                assert!(c0.is_multiple_of(256) && len.is_multiple_of(256), "q4_k slices must be whole blocks");
                BlockQ4K::to_float(&v[start / 256..(start + len) / 256], out)
            }
        }
    }

    /// The whole matrix as f32 (tests, export).
    pub fn to_f32(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        for (r, o) in out.chunks_exact_mut(self.cols).enumerate() {
            self.row(r, o);
        }
        out
    }

    /// y (n × rows) = x (n × cols) · Wᵀ.
    pub fn matmul(&self, x: &[f32], n: usize, y: &mut [f32]) -> Result<()> {
        let (rows, cols) = (self.rows, self.cols);
        assert_eq!(x.len(), n * cols, "matmul input has {} elements, expected {n}×{cols}", x.len());
        assert_eq!(y.len(), n * rows, "matmul output has {} elements, expected {n}×{rows}", y.len());
        // A few tokens: one matrix-vector product each (the weights stream from memory per
        // token, which is what decoding costs anyway). More: the GEMM, which for f16 and the
        // block types widens each weight to f32 once per call, slice by slice, as it packs it.
        const FEW: usize = 4;
        match &self.data {
            Data::F32(w) if n <= FEW => each_row(x, y, cols, rows, |xr, yr| kernels::matvec(w, xr, yr)),
            Data::F32(w) => gemm_nt(x, w, y, n, cols, rows, false, Precision::F32),
            Data::F16(w) if n <= FEW => each_row(x, y, cols, rows, |xr, yr| kernels::matvec(w, xr, yr)),
            Data::Q8_0(w) if n <= FEW => each_row(x, y, cols, rows, |xr, yr| q8::matvec_q8_0(w, xr, yr)),
            Data::Q4K(w) if n <= FEW => k_quants::matmul((n, cols, rows), x, w, y)?,
            Data::F16(_) | Data::Q8_0(_) | Data::Q4K(_) => gemm_nt_rows(x, n, cols, rows, y, |j0, c0, nr, kc, out| {
                for (j, o) in out.chunks_exact_mut(kc).take(nr).enumerate() {
                    self.row_slice(j0 + j, c0, o);
                }
            }),
        }
        Ok(())
    }

    /// Stack matrices with the same column count row-wise ([A; B; C]), so one product computes
    /// all three (fused q/k/v and gate/up projections: one pass over x, one pool wake-up).
    pub fn concat_rows(parts: Vec<Weight>) -> Result<Weight> {
        let cols = parts[0].cols;
        let dtype = parts[0].dtype();
        if parts.iter().any(|p| p.cols != cols || p.dtype() != dtype) {
            // Mixed storage (a fallback hit one part only): store all as f32.
            let rows = parts.iter().map(|p| p.rows).sum();
            if parts.iter().any(|p| p.cols != cols) {
                return Err(Error::invalid("weights", "fused matrices must have the same number of columns"));
            }
            let mut all = Vec::with_capacity(rows * cols);
            parts.iter().for_each(|p| all.extend(p.to_f32()));
            return Ok(Weight::from_f32(all, rows, cols, WeightDtype::F32));
        }
        let rows = parts.iter().map(|p| p.rows).sum();
        fn cat<T: Clone + 'static>(parts: Vec<Weight>) -> Vec<T> {
            parts.into_iter().flat_map(|p| p.into_vec::<T>()).collect()
        }
        let data = match dtype {
            WeightDtype::F32 => Data::F32(cat(parts)),
            WeightDtype::F16 => Data::F16(cat(parts)),
            WeightDtype::Q8_0 => {
                let mats: Vec<&Q8Matrix> = parts
                    .iter()
                    .map(|p| match &p.data {
                        Data::Q8_0(m) => m,
                        _ => unreachable!("all parts checked to be q8_0"),
                    })
                    .collect();
                Data::Q8_0(Q8Matrix::concat_rows(&mats))
            }
            WeightDtype::Q4K => Data::Q4K(cat(parts)),
        };
        Ok(Weight { rows, cols, data })
    }

    /// The same matrix moved to memory backed by huge pages where the OS allows (see
    /// [`huge_copy`]); done once per final matrix when a model is assembled.
    pub fn into_huge_pages(self) -> Self {
        let data = match self.data {
            Data::F32(v) => Data::F32(huge_copy(&v)),
            Data::F16(v) => Data::F16(huge_copy(&v)),
            Data::Q8_0(m) => Data::Q8_0(m.map_arrays(huge_copy, huge_copy)),
            Data::Q4K(v) => Data::Q4K(huge_copy(&v)),
        };
        Self { data, ..self }
    }

    fn into_vec<T: 'static>(self) -> Vec<T> {
        let any: Box<dyn std::any::Any> = match self.data {
            Data::F32(v) => Box::new(v),
            Data::F16(v) => Box::new(v),
            Data::Q8_0(m) => Box::new(m),
            Data::Q4K(v) => Box::new(v),
        };
        *any.downcast::<Vec<T>>().expect("concat_rows checked the storage types match")
    }
}

/// The type a row of `cols` elements can really be stored as.
pub fn fallback(mut dtype: WeightDtype, cols: usize) -> WeightDtype {
    while !cols.is_multiple_of(dtype.block()) {
        dtype = match dtype {
            WeightDtype::Q4K => WeightDtype::Q8_0,
            _ => WeightDtype::F16,
        };
    }
    dtype
}

fn quantize<T: GgmlType>(w: &[f32]) -> Vec<T> {
    let mut blocks = vec![T::zeros(); w.len() / T::BLCK_SIZE];
    T::from_float(w, &mut blocks);
    blocks
}

/// A copy of `src` in memory the kernel is asked to back with 2 MiB pages (Linux
/// `MADV_HUGEPAGE`, before the pages are first touched). Decoding streams every weight once per
/// token; with 4 KiB pages that is a TLB miss every 4 KiB, which costs measurable bandwidth.
fn huge_copy<T: Clone>(src: &[T]) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(src.len());
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = std::mem::size_of_val(src);
        let start = v.as_ptr() as usize;
        let (lo, hi) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
        if hi > lo {
            // SAFETY: [lo, hi) lies inside v's allocation; madvise only changes how the kernel
            // backs those pages, never their contents. A failure just means small pages.
            unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE) };
        }
    }
    v.extend_from_slice(src);
    v
}

/// Copy raw little-endian GGUF bytes into typed blocks, checking the length.
fn from_bytes<T: Clone + 'static>(raw: &[u8], count: usize, name: &str) -> Result<Vec<T>> {
    let size = std::mem::size_of::<T>();
    if raw.len() != count * size {
        return Err(Error::invalid(
            "tensor",
            format!("{name} holds {} bytes, its shape and type need {}", raw.len(), count * size),
        ));
    }
    let mut out: Vec<T> = Vec::with_capacity(count);
    // SAFETY: T is one of f32, f16, BlockQ8_0, BlockQ4K: plain #[repr(C)] data for which every
    // bit pattern is valid; the byte length was checked and the destination is freshly allocated.
    unsafe {
        std::ptr::copy_nonoverlapping(raw.as_ptr(), out.as_mut_ptr() as *mut u8, count * size);
        out.set_len(count);
    }
    Ok(out)
}

/// Run `f` on each (input row, output row) pair.
fn each_row(x: &[f32], y: &mut [f32], cols: usize, rows: usize, mut f: impl FnMut(&[f32], &mut [f32])) {
    for (xr, yr) in x.chunks_exact(cols).zip(y.chunks_exact_mut(rows)) {
        f(xr, yr)
    }
}

/// The raw GGML bytes of q8_0 blocks.
fn q8_bytes(blocks: &[BlockQ8_0]) -> &[u8] {
    const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == q8::Q8_0_BLOCK_BYTES);
    // SAFETY: BlockQ8_0 is #[repr(C)] {f16, [i8; 32]}: 34 bytes with no padding (asserted), the
    // GGML layout; reading it as bytes is always valid.
    unsafe { std::slice::from_raw_parts(blocks.as_ptr() as *const u8, std::mem::size_of_val(blocks)) }
}

#[cfg(test)]
mod tests {
    use super::super::kernels::test_data as data;
    use super::*;

    /// Every storage type's product, on both sides of the matrix-vector / GEMM switch and
    /// across the GEMM's 256-column slices and 32-row panels, equals the plain sum over the
    /// weights the type actually stores (its f32 widening).
    #[test]
    fn matmul_matches_the_stored_weights_for_every_type() {
        let shapes = [(1, 40, 256), (4, 33, 512), (5, 64, 768), (13, 70, 512), (40, 200, 1024)];
        for dtype in [WeightDtype::F32, WeightDtype::F16, WeightDtype::Q8_0, WeightDtype::Q4K] {
            for &(n, rows, cols) in &shapes {
                let w = Weight::from_f32(data(rows * cols, 3), rows, cols, dtype);
                assert_eq!(w.dtype(), dtype);
                let wide = w.to_f32();
                let x = data(n * cols, 4);
                let mut y = vec![0f32; n * rows];
                w.matmul(&x, n, &mut y).unwrap();
                // q8_0 and q4_k decoding quantize the activation as llama.cpp does, so few-token
                // products carry that error (bounded in q8.rs's tests); the GEMM uses x as is.
                let tol = match dtype {
                    WeightDtype::Q8_0 | WeightDtype::Q4K if n <= 4 => 0.05,
                    _ => 1e-3,
                };
                for i in 0..n {
                    for r in 0..rows {
                        let want: f64 = (0..cols).map(|c| wide[r * cols + c] as f64 * x[i * cols + c] as f64).sum();
                        let got = y[i * rows + r] as f64;
                        assert!(
                            (got - want).abs() <= tol * (1.0 + want.abs()),
                            "{dtype:?} n={n} {rows}x{cols} [{i},{r}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn row_slices_join_into_the_row() {
        for dtype in [WeightDtype::F16, WeightDtype::Q8_0, WeightDtype::Q4K] {
            let w = Weight::from_f32(data(3 * 768, 9), 3, 768, dtype);
            let mut whole = vec![0f32; 768];
            w.row(2, &mut whole);
            let mut joined = vec![0f32; 768];
            for c0 in (0..768).step_by(256) {
                w.row_slice(2, c0, &mut joined[c0..c0 + 256]);
            }
            assert_eq!(whole, joined, "{dtype:?}");
        }
    }
}
