//! q8_0 weights (GGML blocks of 32 signed bytes and an f16 scale) times an activation row.
//!
//! Decoding streams every weight once per token, so the product must keep up with memory. As in
//! llama.cpp, the activation row is quantized to q8_0 too, once per product, and the two rows
//! are multiplied block by block with integer dot products; each block's integer sum is then
//! scaled by both blocks' scales in f32. Every [`Q8Kernel`] computes exactly these numbers (up
//! to the order of the f32 sums), so a machine without the fastest instructions gives the same
//! logits, only slower:
//!
//! - [`Q8Kernel::Vnni`] (AVX-512 VNNI `vpdpbusd` on 512-bit registers: two blocks, 64 byte
//!   products, per instruction);
//! - [`Q8Kernel::Avx2`] (`vpmaddubsw` + `vpmaddwd`, llama.cpp's AVX2 scheme, one block at a time);
//! - [`Q8Kernel::Scalar`], which is [`matvec_q8_0_q8_reference`].
//!
//! **Layout.** GGML interleaves each block's 2-byte scale with its 32 values (34-byte blocks),
//! so 64-byte vector loads would straddle scales and cache lines. [`Q8Matrix`] keeps the same
//! numbers (and the same 34 bytes per block) split in two arrays: the values of each row
//! contiguous, and the scales apart. The values are stored offset by 128 (u = q + 128, the
//! byte q ^ 0x80), because `vpdpbusd` multiplies an *unsigned* byte by a signed one:
//! Σ q·x = Σ u·x − 128·Σ x. The correction depends on the activation only, so it is computed
//! once per product and is the starting value of every row's integer sum: per 4-byte lane the
//! kernel produces exactly Σ q·x. (The AVX2 kernel instead undoes the offset and uses the sign
//! trick: Σ q·x = Σ |q|·(sign(q)·x); x lies in -127..=127, so negating it cannot overflow.)
//!
//! Quantizing the activation costs accuracy: [`matvec_q8_0_reference`] multiplies the f32
//! activation with the dequantized weights, and the tests bound the difference.

use super::kernels::{parallel_for, OutPtr, ROWS_PER_ITEM};
use half::f16;

/// Bytes of one GGML q8_0 block: an f16 scale `d` then 32 signed bytes; value j = d·q[j].
pub const Q8_0_BLOCK_BYTES: usize = 34;

/// An activation row quantized to q8_0: per 32-value block a scale (the f16 value GGML would
/// store, as f32) and 32 signed bytes in -127..=127.
#[derive(Debug, Clone, PartialEq)]
pub struct Q8Row {
    pub scales: Vec<f32>,
    pub quants: Vec<i8>,
}

/// Quantize `x` (a multiple of 32 values) the way GGML's `quantize_row_q8_0_ref` does: per
/// block d = max|x|/127, q = round(x/d) (half away from zero), d stored as f16.
pub fn quantize_row_q8_0(x: &[f32]) -> Q8Row {
    assert!(x.len().is_multiple_of(32), "q8_0 rows must be a multiple of 32, got {}", x.len());
    let mut scales = Vec::with_capacity(x.len() / 32);
    let mut quants = vec![0i8; x.len()];
    for (block, q) in x.chunks_exact(32).zip(quants.chunks_exact_mut(32)) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        for (q, &v) in q.iter_mut().zip(block) {
            // |v·id| <= 127 up to rounding; the clamp keeps a NaN or an ulp over from wrapping.
            *q = (v * id).round().clamp(-127.0, 127.0) as i8;
        }
        scales.push(f16::from_f32(d).to_f32());
    }
    Q8Row { scales, quants }
}

/// A q8_0 matrix (rows × cols, cols a multiple of 32) in the kernels' layout (module docs):
/// GGML's numbers, values and scales in separate arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct Q8Matrix {
    pub rows: usize,
    pub cols: usize,
    /// rows × cols bytes: value q stored as q + 128 (the byte q ^ 0x80).
    quants: Vec<u8>,
    /// rows × cols/32 block scales.
    scales: Vec<f16>,
}

impl Q8Matrix {
    /// From raw GGML q8_0 blocks (rows × cols/32 blocks of 34 bytes).
    pub fn from_ggml(blocks: &[u8], rows: usize, cols: usize) -> Self {
        assert!(cols.is_multiple_of(32), "q8_0 rows must be a multiple of 32, got {cols}");
        assert_eq!(
            blocks.len(),
            rows * cols / 32 * Q8_0_BLOCK_BYTES,
            "q8_0 weight has {} bytes, expected {rows} rows of {} blocks",
            blocks.len(),
            cols / 32
        );
        let mut quants = Vec::with_capacity(rows * cols);
        let mut scales = Vec::with_capacity(rows * cols / 32);
        for b in blocks.chunks_exact(Q8_0_BLOCK_BYTES) {
            scales.push(f16::from_le_bytes([b[0], b[1]]));
            quants.extend(b[2..].iter().map(|&q| q ^ 0x80));
        }
        Self { rows, cols, quants, scales }
    }

    /// Back to raw GGML q8_0 blocks (byte for byte what [`Self::from_ggml`] was given).
    pub fn to_ggml(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.scales.len() * Q8_0_BLOCK_BYTES);
        for (d, q) in self.scales.iter().zip(self.quants.chunks_exact(32)) {
            out.extend(d.to_le_bytes());
            out.extend(q.iter().map(|&u| u ^ 0x80));
        }
        out
    }

    /// Bytes the matrix takes in memory (as many as in GGML's layout).
    pub fn bytes(&self) -> usize {
        self.quants.len() + 2 * self.scales.len()
    }

    /// Columns c0..c0+out.len() of row `r`, dequantized; c0 and the length whole blocks.
    pub fn dequantize(&self, r: usize, c0: usize, out: &mut [f32]) {
        assert!(c0.is_multiple_of(32) && out.len().is_multiple_of(32), "q8_0 slices must be whole blocks");
        assert!(c0 + out.len() <= self.cols, "q8_0 slice {c0}..{} outside {} columns", c0 + out.len(), self.cols);
        let start = r * self.cols + c0;
        let q = &self.quants[start..start + out.len()];
        let d = &self.scales[start / 32..(start + out.len()) / 32];
        for ((o, q), d) in out.chunks_exact_mut(32).zip(q.chunks_exact(32)).zip(d) {
            let d = d.to_f32();
            for (o, &u) in o.iter_mut().zip(q) {
                *o = (u ^ 0x80) as i8 as f32 * d;
            }
        }
    }

    /// Rows of several matrices with the same column count, stacked.
    pub fn concat_rows(parts: &[&Q8Matrix]) -> Self {
        let cols = parts[0].cols;
        assert!(parts.iter().all(|p| p.cols == cols), "stacked q8_0 matrices need equal column counts");
        Self {
            rows: parts.iter().map(|p| p.rows).sum(),
            cols,
            quants: parts.iter().flat_map(|p| p.quants.iter().copied()).collect(),
            scales: parts.iter().flat_map(|p| p.scales.iter().copied()).collect(),
        }
    }

    /// The same matrix with its arrays copied by `copy` (the engine's huge-page copy).
    pub fn map_arrays(self, copy_u8: impl Fn(&[u8]) -> Vec<u8>, copy_f16: impl Fn(&[f16]) -> Vec<f16>) -> Self {
        Self { quants: copy_u8(&self.quants), scales: copy_f16(&self.scales), ..self }
    }
}

/// How [`matvec_q8_0`] multiplies: the fastest this CPU has ([`Q8Kernel::best`]), or one
/// chosen for a test or a comparison ([`matvec_q8_0_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Q8Kernel {
    /// AVX-512 VNNI integer dots (with AVX-512BW/VL and F16C).
    Vnni,
    /// AVX2 integer dots (with FMA and F16C).
    Avx2,
    /// Plain Rust: [`matvec_q8_0_q8_reference`].
    Scalar,
}

impl Q8Kernel {
    pub const ALL: [Q8Kernel; 3] = [Q8Kernel::Vnni, Q8Kernel::Avx2, Q8Kernel::Scalar];

    /// Whether this CPU runs the kernel (checked at run time).
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        return match self {
            Q8Kernel::Vnni => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
                    && is_x86_feature_detected!("f16c")
            }
            Q8Kernel::Avx2 => {
                is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
            }
            Q8Kernel::Scalar => true,
        };
        #[cfg(not(target_arch = "x86_64"))]
        return self == Q8Kernel::Scalar;
    }

    /// The fastest kernel this CPU runs (detected once).
    pub fn best() -> Self {
        static K: std::sync::OnceLock<Q8Kernel> = std::sync::OnceLock::new();
        *K.get_or_init(|| Self::ALL.into_iter().find(|k| k.available()).unwrap_or(Q8Kernel::Scalar))
    }
}

/// y[r] = Σ_c W[r, c] · x[c], with x quantized to q8_0 first (module docs), on the fastest
/// kernel this CPU has.
pub fn matvec_q8_0(w: &Q8Matrix, x: &[f32], y: &mut [f32]) {
    matvec_q8_0_with(Q8Kernel::best(), w, x, y)
}

/// [`matvec_q8_0`] on a given kernel. Panics if the CPU lacks it ([`Q8Kernel::available`]).
pub fn matvec_q8_0_with(kernel: Q8Kernel, w: &Q8Matrix, x: &[f32], y: &mut [f32]) {
    let (rows, k) = (w.rows, w.cols);
    assert_eq!(x.len(), k, "q8_0 product: input has {} values, the weight {k} columns", x.len());
    assert_eq!(y.len(), rows, "q8_0 product: output has {} values, the weight {rows} rows", y.len());
    assert!(kernel.available(), "this CPU cannot run the {kernel:?} q8_0 kernel");
    let xq = quantize_row_q8_0(x);
    #[cfg(target_arch = "x86_64")]
    let xv = (kernel == Q8Kernel::Vnni).then(|| simd::VnniRow::new(&xq));
    let out = OutPtr(y.as_mut_ptr());
    parallel_for(rows.div_ceil(ROWS_PER_ITEM), |range| {
        let r0 = range.start * ROWS_PER_ITEM;
        let r1 = (range.end * ROWS_PER_ITEM).min(rows);
        // SAFETY: rows r0..r1 belong to this work item only; y outlives the pool call.
        let y = unsafe { std::slice::from_raw_parts_mut(out.at(r0), r1 - r0) };
        match kernel {
            // SAFETY (both): the CPU features were checked above; the row range lies in w.
            #[cfg(target_arch = "x86_64")]
            Q8Kernel::Vnni => unsafe { simd::matvec_vnni(w, r0, xv.as_ref().expect("prepared above"), y) },
            #[cfg(target_arch = "x86_64")]
            Q8Kernel::Avx2 => unsafe { simd::matvec_avx2(w, r0, &xq, y) },
            _ => rows_reference(w, r0, &xq, y),
        }
    });
}

/// The product with the activation left in f32: dequantize the weights, multiply in f32.
/// What [`matvec_q8_0`] approximates (the tests bound the difference).
pub fn matvec_q8_0_reference(w: &Q8Matrix, x: &[f32], y: &mut [f32]) {
    let mut row = vec![0f32; w.cols];
    for (r, out) in y.iter_mut().enumerate() {
        w.dequantize(r, 0, &mut row);
        *out = row.iter().zip(x).map(|(a, b)| a * b).sum();
    }
}

/// Integer dot product of one q8_0 weight block's 32 values with 32 activation bytes.
pub fn block_dot_reference(w: &[i8], x: &[i8]) -> i32 {
    w.iter().zip(x).map(|(&a, &b)| a as i32 * b as i32).sum()
}

/// Plain reference for every [`Q8Kernel`]: per block the exact integer dot, scaled by the
/// weight's and the activation's scale, summed in block order.
pub fn matvec_q8_0_q8_reference(w: &Q8Matrix, x: &Q8Row, y: &mut [f32]) {
    rows_reference(w, 0, x, y)
}

/// [`matvec_q8_0_q8_reference`] for rows r0..r0+y.len().
fn rows_reference(w: &Q8Matrix, r0: usize, x: &Q8Row, y: &mut [f32]) {
    let nb = w.cols / 32;
    for (i, out) in y.iter_mut().enumerate() {
        let r = r0 + i;
        *out = (0..nb)
            .map(|b| {
                let q: Vec<i8> = w.quants[(r * nb + b) * 32..][..32].iter().map(|&u| (u ^ 0x80) as i8).collect();
                let dw = w.scales[r * nb + b].to_f32();
                block_dot_reference(&q, &x.quants[b * 32..(b + 1) * 32]) as f32 * (dw * x.scales[b])
            })
            .sum();
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{Q8Matrix, Q8Row};
    use std::arch::x86_64::*;

    /// The sum of 8 f32 lanes.
    #[inline]
    #[target_feature(enable = "avx")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }

    /// Σ w·x over 32 signed bytes into 8 i32 lanes (AVX2): |w| times x with w's sign, byte
    /// pairs into i16 (no saturation: at most 2·128·127), then i16 pairs into i32.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn block_dot_avx2(w: __m256i, x: __m256i) -> __m256i {
        let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
        _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))
    }

    /// Rows r0..r0+y.len() of `w` times `x` (AVX2), one block and one row at a time.
    ///
    /// # Safety
    /// The CPU must have AVX2, FMA and F16C; the rows must lie in `w`, and `x` match its columns.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn matvec_avx2(w: &Q8Matrix, r0: usize, x: &Q8Row, y: &mut [f32]) {
        let nb = w.cols / 32;
        assert!((r0 + y.len()) * nb <= w.scales.len() && x.quants.len() == nb * 32);
        let flip = _mm256_set1_epi8(-128);
        for (i, out) in y.iter_mut().enumerate() {
            let r = r0 + i;
            let mut acc = _mm256_setzero_ps();
            for b in 0..nb {
                // SAFETY: block b of row r and of x lie inside the arrays (asserted above).
                let (wv, xv) = unsafe {
                    (
                        _mm256_loadu_si256(w.quants.as_ptr().add((r * nb + b) * 32) as *const __m256i),
                        _mm256_loadu_si256(x.quants.as_ptr().add(b * 32) as *const __m256i),
                    )
                };
                let dot = block_dot_avx2(_mm256_xor_si256(wv, flip), xv);
                let d = w.scales[r * nb + b].to_f32() * x.scales[b];
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(d), acc);
            }
            *out = hsum(acc);
        }
    }

    /// The activation prepared for [`matvec_vnni`], once per product: its values, scales and
    /// offset corrections padded to whole groups of 16 blocks (8 pairs), with zeros.
    pub struct VnniRow {
        /// The quantized values, 64 bytes (two blocks) per pair.
        quants: Vec<i8>,
        /// Per pair, 16 i32 lanes: -128 times the sum of the 4 values each lane covers, the
        /// starting value that turns Σ u·x into Σ q·x (module docs).
        corr: Vec<i32>,
        /// Block scales.
        scales: Vec<f32>,
        /// Real blocks (before padding).
        blocks: usize,
    }

    impl VnniRow {
        pub fn new(x: &Q8Row) -> Self {
            let blocks = x.scales.len();
            let groups = blocks.div_ceil(16);
            let mut quants = x.quants.clone();
            quants.resize(groups * 16 * 32, 0);
            let mut scales = x.scales.clone();
            scales.resize(groups * 16, 0.0);
            let corr = quants.chunks_exact(4).map(|lane| -128 * lane.iter().map(|&v| v as i32).sum::<i32>()).collect();
            Self { quants, corr, scales, blocks }
        }
    }

    /// Rows r0..r0+y.len() of `w` times the prepared activation, 4 rows at a time (they share
    /// each activation load), then 1. Per pair of blocks and row: one 64-byte load, one
    /// `vpdpbusd` starting from the correction, one conversion, one lane permute of the
    /// scales (computed 16 blocks at a time), and two 8-lane FMAs, block after block.
    ///
    /// # Safety
    /// The CPU must have AVX-512F/BW, VNNI and F16C; the rows must lie in `w`, and `x` be
    /// prepared from an activation with w's columns.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c,avx2,fma")]
    pub unsafe fn matvec_vnni(w: &Q8Matrix, r0: usize, x: &VnniRow, y: &mut [f32]) {
        let nb = w.cols / 32;
        assert!((r0 + y.len()) * nb <= w.scales.len() && x.blocks == nb);
        let mut i = 0;
        // SAFETY: forwarded (rows inside w, asserted).
        unsafe {
            while i + 4 <= y.len() {
                rows_vnni::<4>(w, r0 + i, x, &mut y[i..i + 4]);
                i += 4;
            }
            while i < y.len() {
                rows_vnni::<1>(w, r0 + i, x, &mut y[i..i + 1]);
                i += 1;
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c,avx2,fma")]
    unsafe fn rows_vnni<const R: usize>(w: &Q8Matrix, r: usize, x: &VnniRow, out: &mut [f32]) {
        let nb = x.blocks;
        let pairs = nb.div_ceil(2);
        let base: [*const u8; R] = std::array::from_fn(|j| w.quants.as_ptr().wrapping_add((r + j) * nb * 32));
        let sbase: [*const u16; R] =
            std::array::from_fn(|j| w.scales.as_ptr().wrapping_add((r + j) * nb) as *const u16);
        let mut acc = [_mm256_setzero_ps(); R];
        let mut sc = [_mm512_setzero_ps(); R];
        // Pair i of a group: lanes 0-7 take block 2i's scale, lanes 8-15 block 2i+1's.
        let idxs: [__m512i; 8] = std::array::from_fn(|i| {
            let (lo, hi) = (_mm256_set1_epi32(2 * i as i32), _mm256_set1_epi32(2 * i as i32 + 1));
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
        });
        // SAFETY: every weight access is masked to the nb blocks of rows r..r+R (inside w, the
        // caller's contract); the activation arrays are padded to whole groups.
        unsafe {
            for p in 0..pairs {
                let (g, i) = (p / 8, p % 8);
                if i == 0 {
                    // The 16 (or fewer, at the end) combined scales d_w·d_x of this group.
                    let left = nb - 16 * g;
                    let mask: __mmask16 = if left >= 16 { 0xffff } else { (1u16 << left) - 1 };
                    let dx = _mm512_loadu_ps(x.scales.as_ptr().add(16 * g));
                    for j in 0..R {
                        let raw = _mm256_maskz_loadu_epi16(mask, sbase[j].add(16 * g) as *const i16);
                        sc[j] = _mm512_mul_ps(_mm512_cvtph_ps(raw), dx);
                    }
                }
                let idx = idxs[i];
                let xv = _mm512_loadu_si512(x.quants.as_ptr().add(64 * p) as *const _);
                let corr = _mm512_loadu_si512(x.corr.as_ptr().add(16 * p) as *const _);
                let wmask: __mmask64 = if 2 * p + 1 < nb { u64::MAX } else { u32::MAX as u64 };
                for j in 0..R {
                    let wv = _mm512_maskz_loadu_epi8(wmask, base[j].add(64 * p) as *const i8);
                    let dot = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(corr, wv, xv));
                    let d = _mm512_permutexvar_ps(idx, sc[j]);
                    // Block 2p, then block 2p+1, into one 8-lane sum: llama.cpp's order, so
                    // the f32 results are its own bit for bit.
                    acc[j] = _mm256_fmadd_ps(_mm512_castps512_ps256(dot), _mm512_castps512_ps256(d), acc[j]);
                    acc[j] = _mm256_fmadd_ps(high(dot), high(d), acc[j]);
                }
            }
        }
        for (o, a) in out.iter_mut().zip(acc) {
            *o = hsum(a);
        }
    }

    /// Lanes 8-15.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn high(v: __m512) -> __m256 {
        _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))
    }

    /// The integer dot of 32 stored bytes (values + 128) with 32 activation bytes through each
    /// kernel's block product (for the exact comparison with the reference).
    ///
    /// # Safety
    /// The CPU must run `kernel` ([`super::Q8Kernel::available`]).
    #[cfg(test)]
    pub unsafe fn block_dot_i32(kernel: super::Q8Kernel, u: &[u8; 32], x: &[i8; 32]) -> i32 {
        // SAFETY: both arrays hold 32 bytes; the caller checked the CPU.
        unsafe {
            let mut lanes = [0i32; 16];
            match kernel {
                super::Q8Kernel::Vnni => vnni_lanes(u, x, &mut lanes),
                super::Q8Kernel::Avx2 => {
                    let (wv, xv) = (
                        _mm256_loadu_si256(u.as_ptr() as *const __m256i),
                        _mm256_loadu_si256(x.as_ptr() as *const __m256i),
                    );
                    let d = block_dot_avx2(_mm256_xor_si256(wv, _mm256_set1_epi8(-128)), xv);
                    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, d);
                }
                super::Q8Kernel::Scalar => unreachable!("no SIMD block product"),
            }
            lanes.iter().sum()
        }
    }

    #[cfg(test)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni_lanes(u: &[u8; 32], x: &[i8; 32], lanes: &mut [i32; 16]) {
        let row = VnniRow::new(&Q8Row { scales: vec![1.0], quants: x.to_vec() });
        // SAFETY: the activation is padded to 512 bytes; 32 weight bytes are read (mask).
        unsafe {
            let xv = _mm512_loadu_si512(row.quants.as_ptr() as *const _);
            let corr = _mm512_loadu_si512(row.corr.as_ptr() as *const _);
            let wv = _mm512_maskz_loadu_epi8(u32::MAX as u64, u.as_ptr() as *const i8);
            _mm512_storeu_si512(lanes.as_mut_ptr() as *mut _, _mm512_dpbusd_epi32(corr, wv, xv));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kernels::test_data as data;
    use super::*;

    /// q8_0 blocks with varied scales and values (including -128, 127 and 0), as raw GGML bytes.
    fn q8_blocks(rows: usize, k: usize) -> Vec<u8> {
        let vals = data(rows * k, 9);
        let mut out = Vec::new();
        for (b, chunk) in vals.chunks(32).enumerate() {
            out.extend(f16::from_f32(0.01 + (b % 7) as f32 * 0.003).to_le_bytes());
            out.extend(chunk.iter().enumerate().map(|(j, v)| match (b + j) % 53 {
                0 => 0x80u8,
                1 => 0x7f,
                2 => 0,
                _ => ((v * 127.0) as i8) as u8,
            }));
        }
        out
    }

    fn q8_matrix(rows: usize, k: usize) -> Q8Matrix {
        Q8Matrix::from_ggml(&q8_blocks(rows, k), rows, k)
    }

    /// The kernels this CPU runs: always Scalar, the SIMD ones where present.
    fn kernels() -> Vec<Q8Kernel> {
        let ks: Vec<Q8Kernel> = Q8Kernel::ALL.into_iter().filter(|k| k.available()).collect();
        eprintln!("q8_0 kernels on this CPU: {ks:?}");
        ks
    }

    #[test]
    fn the_kernel_layout_keeps_ggmls_bytes() {
        let blocks = q8_blocks(5, 96);
        let m = Q8Matrix::from_ggml(&blocks, 5, 96);
        assert_eq!(m.to_ggml(), blocks);
        assert_eq!(m.bytes(), blocks.len());
        let both = Q8Matrix::concat_rows(&[&m, &q8_matrix(2, 96)]);
        assert_eq!(both.rows, 7);
        assert_eq!(both.to_ggml()[..blocks.len()], blocks[..]);
    }

    #[test]
    fn activation_quantization_is_ggmls() {
        // Same bytes as candle's port of GGML's quantize_row_q8_0 (scales, rounding, zeros).
        let mut x = data(32 * 9, 3);
        x[64..96].fill(0.0);
        x[100] = 5.0;
        x[140] = -7.5;
        let ours = quantize_row_q8_0(&x);
        use candle_core::quantized::k_quants::{BlockQ8_0, GgmlType};
        let mut theirs = vec![BlockQ8_0::zeros(); 9];
        BlockQ8_0::from_float(&x, &mut theirs);
        // SAFETY: BlockQ8_0 is GGML's 34-byte {f16 d, [i8; 32]} block with no padding.
        let bytes = unsafe { std::slice::from_raw_parts(theirs.as_ptr() as *const u8, 9 * Q8_0_BLOCK_BYTES) };
        for (b, t) in bytes.chunks_exact(Q8_0_BLOCK_BYTES).enumerate() {
            assert_eq!(ours.scales[b], f16::from_le_bytes([t[0], t[1]]).to_f32(), "block {b} scale");
            let q: Vec<i8> = t[2..].iter().map(|&v| v as i8).collect();
            assert_eq!(&ours.quants[b * 32..(b + 1) * 32], &q[..], "block {b} values");
        }
        assert!(ours.quants.iter().all(|&q| q != i8::MIN), "the activation never holds -128");
        assert_eq!(ours.scales[2], 0.0, "an all-zero block has scale 0");
    }

    #[test]
    fn integer_block_dots_are_exact() {
        // Extremes included: -128 (stored as 0) and 127 times ±127, and zeros.
        let mut cases: Vec<([i8; 32], [i8; 32])> =
            vec![([-128; 32], [127; 32]), ([-128; 32], [-127; 32]), ([127; 32], [-127; 32]), ([0; 32], [-127; 32])];
        cases.push((std::array::from_fn(|i| if i % 2 == 0 { -128 } else { 127 }), std::array::from_fn(|_| -127)));
        for s in 0..300u32 {
            let w: [i8; 32] =
                std::array::from_fn(|i| ((i as u32).wrapping_mul(2654435761) ^ s.wrapping_mul(40503)) as u8 as i8);
            let x: [i8; 32] = std::array::from_fn(|i| (((i as u32 * 97 + s * 31) % 255) as i32 - 127) as i8);
            cases.push((w, x));
        }
        for (w, x) in &cases {
            let want: i32 = w.iter().zip(x).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum();
            assert_eq!(block_dot_reference(w, x), want);
        }
        #[cfg(target_arch = "x86_64")]
        for kernel in kernels().into_iter().filter(|&k| k != Q8Kernel::Scalar) {
            for (w, x) in &cases {
                let stored: [u8; 32] = std::array::from_fn(|i| w[i] as u8 ^ 0x80);
                // SAFETY: `kernels` lists only what this CPU runs.
                let fast = unsafe { simd::block_dot_i32(kernel, &stored, x) };
                assert_eq!(fast, block_dot_reference(w, x), "{kernel:?}: w={w:?} x={x:?}");
            }
        }
    }

    #[test]
    fn every_kernel_matches_the_integer_reference() {
        // Row counts around the 4-row step and the 16-row work item; blocks odd and even,
        // below, at and around the 16-block scale groups (1, 3, 5, 8, 15, 16, 17, 32, 33).
        let shapes = [
            (1, 32),
            (3, 32),
            (5, 96),
            (7, 160),
            (6, 256),
            (9, 1056),
            (17, 96),
            (37, 384),
            (5, 480),
            (4, 512),
            (6, 544),
            (64, 1024),
        ];
        for kernel in kernels() {
            for &(rows, k) in &shapes {
                let w = q8_matrix(rows, k);
                let x = data(k, 4);
                let xq = quantize_row_q8_0(&x);
                let mut fast = vec![f32::NAN; rows];
                matvec_q8_0_with(kernel, &w, &x, &mut fast);
                let mut want = vec![0.0; rows];
                matvec_q8_0_q8_reference(&w, &xq, &mut want);
                // Only the order of the f32 sums differs: bound by the sum of |block terms|.
                let ggml = w.to_ggml();
                let row_bytes = k / 32 * Q8_0_BLOCK_BYTES;
                for (r, (a, b)) in fast.iter().zip(&want).enumerate() {
                    let mag: f32 = ggml[r * row_bytes..(r + 1) * row_bytes]
                        .chunks_exact(Q8_0_BLOCK_BYTES)
                        .enumerate()
                        .map(|(i, blk)| {
                            let dw = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
                            let q: Vec<i8> = blk[2..].iter().map(|&v| v as i8).collect();
                            (block_dot_reference(&q, &xq.quants[i * 32..(i + 1) * 32]) as f32 * dw * xq.scales[i]).abs()
                        })
                        .sum();
                    assert!((a - b).abs() <= 1e-6 * (mag + 1e-3), "{kernel:?} q8_0 {rows}x{k} row {r}: {a} vs {b}");
                }
            }
        }
        assert!(Q8Kernel::best().available());
        assert!(Q8Kernel::Scalar.available());
    }

    #[test]
    fn quantizing_the_activation_costs_little() {
        // Per element x̂ = q·d16 with q = round(x/d), d = max|x_block|/127 and d16 = d rounded to
        // f16 (relative error <= 2^-11), so |x - x̂| <= d/2 + 127·d·2^-11 = e_block, and
        // |Σ w·(x - x̂)| <= Σ_blocks e_block · Σ|w_block|: the bound tested (the error seen is
        // far below it: errors of different signs cancel).
        for &(rows, k) in &[(5, 96), (37, 384), (64, 1024)] {
            let w = q8_matrix(rows, k);
            let x = data(k, 4);
            let mut fast = vec![0.0; rows];
            matvec_q8_0(&w, &x, &mut fast);
            let mut exact = vec![0.0; rows];
            matvec_q8_0_reference(&w, &x, &mut exact);
            let mut deq = vec![0f32; k];
            for r in 0..rows {
                w.dequantize(r, 0, &mut deq);
                let bound: f32 = deq
                    .chunks_exact(32)
                    .zip(x.chunks_exact(32))
                    .map(|(wb, xb)| {
                        let d = xb.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
                        d * (0.5 + 127.0 / 2048.0) * wb.iter().map(|v| v.abs()).sum::<f32>()
                    })
                    .sum();
                let bound = bound * 1.001 + 1e-5;
                assert!((fast[r] - exact[r]).abs() <= bound, "q8_0 {rows}x{k} row {r}: {} vs {}", fast[r], exact[r]);
            }
        }
    }

    #[test]
    fn dequantization_is_candles() {
        let (rows, k) = (7, 96);
        let blocks = q8_blocks(rows, k);
        let q = candle_core::quantized::QTensor::new(
            candle_core::quantized::QStorage::from_data(
                std::borrow::Cow::Borrowed(&blocks),
                &candle_core::Device::Cpu,
                candle_core::quantized::GgmlDType::Q8_0,
            )
            .unwrap(),
            (rows, k),
        )
        .unwrap();
        let theirs = q.dequantize(&candle_core::Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let w = Q8Matrix::from_ggml(&blocks, rows, k);
        let mut ours = vec![0f32; rows * k];
        for r in 0..rows {
            w.dequantize(r, 0, &mut ours[r * k..(r + 1) * k]);
        }
        assert_eq!(ours, theirs);
        let mut tail = vec![0f32; 64];
        w.dequantize(3, 32, &mut tail);
        assert_eq!(tail, theirs[3 * k + 32..4 * k]);
    }

    #[test]
    #[should_panic(expected = "multiple of 32")]
    fn rows_must_be_whole_blocks() {
        Q8Matrix::from_ggml(&[0u8; 34], 1, 33);
    }
}
