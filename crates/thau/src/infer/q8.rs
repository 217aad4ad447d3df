//! q8_0 weights (GGML blocks of 32 signed bytes and an f16 scale) times an activation row.
//!
//! Decoding streams every weight once per token, so the product must keep up with memory. As in
//! llama.cpp, the activation row is quantized to q8_0 too, once per product, and the two rows
//! are multiplied block by block with integer dot products; each block's integer sum is then
//! scaled by both blocks' scales in f32. Every [`Q8Kernel`] computes exactly these numbers (up
//! to the order of the f32 sums), so a machine without the fastest instructions gives the same
//! logits, only slower:
//!
//! - [`Q8Kernel::Vnni`] (AVX-512 VNNI `vpdpbusd`: 32 byte products summed into 8 lanes by one
//!   instruction);
//! - [`Q8Kernel::Avx2`] (`vpmaddubsw` + `vpmaddwd`, llama.cpp's AVX2 scheme);
//! - [`Q8Kernel::Scalar`], which is [`matvec_q8_0_q8_reference`].
//!
//! Both SIMD kernels multiply *unsigned* by *signed* bytes, so a block is fed as |w| and x with
//! w's sign moved onto it: Σ w·x = Σ |w|·(sign(w)·x). x comes from our own quantizer and lies
//! in -127..=127, so negating it cannot overflow; |w| of a stored -128 reads as the unsigned
//! 128, which is exact too, and a pair of products (at most 2·128·127 = 32512) fits the i16
//! that `vpmaddubsw` saturates to.
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

/// y[r] = Σ_c W[r, c] · x[c] for q8_0 weights given as raw GGML blocks (rows × k/32 blocks),
/// with x quantized to q8_0 first (module docs), on the fastest kernel this CPU has.
pub fn matvec_q8_0(blocks: &[u8], x: &[f32], y: &mut [f32]) {
    matvec_q8_0_with(Q8Kernel::best(), blocks, x, y)
}

/// [`matvec_q8_0`] on a given kernel. Panics if the CPU lacks it ([`Q8Kernel::available`]).
pub fn matvec_q8_0_with(kernel: Q8Kernel, blocks: &[u8], x: &[f32], y: &mut [f32]) {
    let k = x.len();
    let rows = y.len();
    assert!(k.is_multiple_of(32), "q8_0 rows must be a multiple of 32, got {k}");
    let row_bytes = k / 32 * Q8_0_BLOCK_BYTES;
    assert_eq!(
        blocks.len(),
        rows * row_bytes,
        "q8_0 weight has {} bytes, expected {rows} rows of {row_bytes}",
        blocks.len()
    );
    assert!(kernel.available(), "this CPU cannot run the {kernel:?} q8_0 kernel");
    let xq = quantize_row_q8_0(x);
    let out = OutPtr(y.as_mut_ptr());
    parallel_for(rows.div_ceil(ROWS_PER_ITEM), |range| {
        let r0 = range.start * ROWS_PER_ITEM;
        let r1 = (range.end * ROWS_PER_ITEM).min(rows);
        // SAFETY: rows r0..r1 belong to this work item only; y outlives the pool call.
        let y = unsafe { std::slice::from_raw_parts_mut(out.at(r0), r1 - r0) };
        let w = &blocks[r0 * row_bytes..r1 * row_bytes];
        match kernel {
            // SAFETY (both): the CPU features were checked above; lengths too.
            #[cfg(target_arch = "x86_64")]
            Q8Kernel::Vnni => unsafe { simd::matvec_q8_0_q8_vnni(w, &xq, y) },
            #[cfg(target_arch = "x86_64")]
            Q8Kernel::Avx2 => unsafe { simd::matvec_q8_0_q8_avx2(w, &xq, y) },
            _ => matvec_q8_0_q8_reference(w, &xq, y),
        }
    });
}

/// Dequantize one row of q8_0 blocks into `out` (k values).
pub fn dequantize_q8_0_row(blocks: &[u8], out: &mut [f32]) {
    for (b, o) in blocks.chunks_exact(Q8_0_BLOCK_BYTES).zip(out.chunks_exact_mut(32)) {
        let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
        for (o, &q) in o.iter_mut().zip(&b[2..]) {
            *o = q as i8 as f32 * d;
        }
    }
}

/// The product with the activation left in f32: dequantize the weights, multiply in f32.
/// What [`matvec_q8_0`] approximates (the tests bound the difference).
pub fn matvec_q8_0_reference(blocks: &[u8], x: &[f32], y: &mut [f32]) {
    let row_bytes = x.len() / 32 * Q8_0_BLOCK_BYTES;
    let mut row = vec![0f32; x.len()];
    for (r, out) in y.iter_mut().enumerate() {
        dequantize_q8_0_row(&blocks[r * row_bytes..(r + 1) * row_bytes], &mut row);
        *out = row.iter().zip(x).map(|(a, b)| a * b).sum();
    }
}

/// Integer dot product of one q8_0 weight block's 32 bytes with 32 activation bytes.
pub fn block_dot_reference(w: &[u8], x: &[i8]) -> i32 {
    w.iter().zip(x).map(|(&a, &b)| a as i8 as i32 * b as i32).sum()
}

/// Plain reference for every [`Q8Kernel`]: per block the exact integer dot, scaled by the
/// weight's and the activation's scale, summed in block order.
pub fn matvec_q8_0_q8_reference(blocks: &[u8], x: &Q8Row, y: &mut [f32]) {
    let nb = x.scales.len();
    let row_bytes = nb * Q8_0_BLOCK_BYTES;
    for (r, out) in y.iter_mut().enumerate() {
        let row = &blocks[r * row_bytes..(r + 1) * row_bytes];
        *out = row
            .chunks_exact(Q8_0_BLOCK_BYTES)
            .enumerate()
            .map(|(b, blk)| {
                let dw = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
                block_dot_reference(&blk[2..], &x.quants[b * 32..(b + 1) * 32]) as f32 * (dw * x.scales[b])
            })
            .sum();
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{Q8Row, Q8_0_BLOCK_BYTES as B};
    use std::arch::x86_64::*;

    /// The f16 scale at `p` as f32 (F16C).
    #[inline]
    #[target_feature(enable = "avx,f16c")]
    unsafe fn scale(p: *const u8) -> f32 {
        // SAFETY: the caller points p at a block's two scale bytes.
        unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(std::ptr::read_unaligned(p as *const u16) as i32))) }
    }

    /// The sum of 8 f32 lanes.
    #[inline]
    #[target_feature(enable = "avx")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }

    /// Σ w·x over 32 bytes into 8 i32 lanes (VNNI): |w| (unsigned) times x with w's sign.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    fn block_dot_vnni(w: __m256i, x: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(x, w))
    }

    /// Σ w·x over 32 bytes into 8 i32 lanes (AVX2): byte pairs into i16 (no saturation, see
    /// the module docs), then i16 pairs into i32.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn block_dot_avx2(w: __m256i, x: __m256i) -> __m256i {
        let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
        _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))
    }

    /// The integer dot of one weight block's 32 bytes with 32 activation bytes through a
    /// kernel's block product (for the exact comparison with the reference).
    ///
    /// # Safety
    /// The CPU must run `kernel` ([`super::Q8Kernel::available`]).
    #[cfg(test)]
    pub unsafe fn block_dot_i32(kernel: super::Q8Kernel, w: &[u8; 32], x: &[i8; 32]) -> i32 {
        // SAFETY: both arrays hold 32 bytes; the caller checked the CPU.
        unsafe {
            let (wv, xv) =
                (_mm256_loadu_si256(w.as_ptr() as *const __m256i), _mm256_loadu_si256(x.as_ptr() as *const __m256i));
            let d = match kernel {
                super::Q8Kernel::Vnni => block_dot_vnni(wv, xv),
                super::Q8Kernel::Avx2 => block_dot_avx2(wv, xv),
                super::Q8Kernel::Scalar => unreachable!("no SIMD block product"),
            };
            let mut lanes = [0i32; 8];
            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, d);
            lanes.iter().sum()
        }
    }

    /// The combined scales d_w·d_x of 8 consecutive weight blocks starting at `p`, with `dx`
    /// the activation's 8 scales: one gather of the 8 f16 scales (4 bytes read at each block
    /// start, the low 2 used), one conversion, one product. Per block that replaces a scalar
    /// load, conversion, product and broadcast: 9.2 against 7.6 Gweights/s on one Xeon core at 2.8 GHz
    /// (`kernels::speed::matvec_bandwidth`, release, 16384 × 2048). The sums are the same, in
    /// the same order (llama.cpp's: per block d_w·d_x times the 8 lanes, then one lane sum).
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn scales8(p: *const u8, dx: __m256) -> __m256 {
        const B32: i32 = B as i32;
        let offsets = _mm256_setr_epi32(0, B32, 2 * B32, 3 * B32, 4 * B32, 5 * B32, 6 * B32, 7 * B32);
        // SAFETY: the caller points p at the first of 8 whole blocks (8·34 bytes); each lane
        // reads 4 bytes at a block's start.
        let raw = unsafe { _mm256_i32gather_epi32::<1>(p as *const i32, offsets) };
        // Bytes 0 and 1 of each 32-bit lane, packed into the low 128 bits as 8 u16.
        #[rustfmt::skip]
        let low16 = _mm256_setr_epi8(
            0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,
            0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,
        );
        let packed = _mm256_permute4x64_epi64::<0b1000>(_mm256_shuffle_epi8(raw, low16));
        _mm256_mul_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(packed)), dx)
    }

    /// The row loop of one kernel, for R weight rows at a time (4, then 1 for the rest), which
    /// share each load of an activation block. Per block and row: one integer dot, one
    /// conversion to f32 and one FMA with the two scales' product, which comes (8 blocks at a
    /// time, see [`scales8`]) from a lane permute. A macro so each kernel's block product is
    /// inlined into its own loop.
    macro_rules! q8_rows {
        ($name:ident, $rows:ident, $features:literal, $dot:ident) => {
            /// # Safety
            /// The CPU must have the features named; `w` holds `y.len()` rows of `x`'s blocks.
            #[target_feature(enable = $features)]
            pub unsafe fn $name(w: &[u8], x: &Q8Row, y: &mut [f32]) {
                let nb = x.scales.len();
                let rows = y.len();
                let row_bytes = nb * B;
                assert!(w.len() >= rows * row_bytes && x.quants.len() == nb * 32);
                let mut r = 0;
                // SAFETY: each call reads whole rows r.. of w, asserted above.
                unsafe {
                    while r + 4 <= rows {
                        $rows::<4>(w.as_ptr().add(r * row_bytes), row_bytes, x, &mut y[r..r + 4]);
                        r += 4;
                    }
                    while r < rows {
                        $rows::<1>(w.as_ptr().add(r * row_bytes), row_bytes, x, &mut y[r..r + 1]);
                        r += 1;
                    }
                }
            }

            /// R rows starting at `base`, `row_bytes` apart, into `out` (R values).
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn $rows<const R: usize>(base: *const u8, row_bytes: usize, x: &Q8Row, out: &mut [f32]) {
                let nb = x.scales.len();
                let (xq, xd) = (x.quants.as_ptr(), x.scales.as_ptr());
                let mut acc = [_mm256_setzero_ps(); R];
                // SAFETY: every pointer stays within the R rows of nb blocks and x's nb blocks
                // (the caller's contract).
                unsafe {
                    let mut g = 0;
                    while g + 8 <= nb {
                        let dx = _mm256_loadu_ps(xd.add(g));
                        let sc: [__m256; R] = std::array::from_fn(|j| scales8(base.add(j * row_bytes + g * B), dx));
                        for i in 0..8 {
                            let xv = _mm256_loadu_si256(xq.add((g + i) * 32) as *const __m256i);
                            let lane = _mm256_set1_epi32(i as i32);
                            for j in 0..R {
                                let p = base.add(j * row_bytes + (g + i) * B + 2);
                                let dot = $dot(_mm256_loadu_si256(p as *const __m256i), xv);
                                let d = _mm256_permutevar8x32_ps(sc[j], lane);
                                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), d, acc[j]);
                            }
                        }
                        g += 8;
                    }
                    for blk in g..nb {
                        let xv = _mm256_loadu_si256(xq.add(blk * 32) as *const __m256i);
                        let dx = *xd.add(blk);
                        for j in 0..R {
                            let p = base.add(j * row_bytes + blk * B);
                            let dot = $dot(_mm256_loadu_si256(p.add(2) as *const __m256i), xv);
                            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(scale(p) * dx), acc[j]);
                        }
                    }
                }
                for (o, a) in out.iter_mut().zip(acc) {
                    *o = hsum(a);
                }
            }
        };
    }
    q8_rows!(matvec_q8_0_q8_vnni, rows_vnni, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni", block_dot_vnni);
    q8_rows!(matvec_q8_0_q8_avx2, rows_avx2, "avx2,fma,f16c", block_dot_avx2);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

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

    /// The kernels this CPU runs: always Scalar, the SIMD ones where present.
    fn kernels() -> Vec<Q8Kernel> {
        let ks: Vec<Q8Kernel> = Q8Kernel::ALL.into_iter().filter(|k| k.available()).collect();
        eprintln!("q8_0 kernels on this CPU: {ks:?}");
        ks
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
        // Extremes included: |-128| as unsigned 128 times ±127, and zeros.
        let mut cases: Vec<([u8; 32], [i8; 32])> =
            vec![([0x80; 32], [127; 32]), ([0x80; 32], [-127; 32]), ([0x7f; 32], [-127; 32]), ([0; 32], [-127; 32])];
        cases.push((std::array::from_fn(|i| if i % 2 == 0 { 0x80 } else { 0x7f }), std::array::from_fn(|_| -127)));
        for s in 0..300u32 {
            let w: [u8; 32] =
                std::array::from_fn(|i| ((i as u32).wrapping_mul(2654435761) ^ s.wrapping_mul(40503)) as u8);
            let x: [i8; 32] = std::array::from_fn(|i| (((i as u32 * 97 + s * 31) % 255) as i32 - 127) as i8);
            cases.push((w, x));
        }
        for (w, x) in &cases {
            let want: i32 = w.iter().zip(x).map(|(&a, &b)| i32::from(a as i8) * i32::from(b)).sum();
            assert_eq!(block_dot_reference(w, x), want);
        }
        #[cfg(target_arch = "x86_64")]
        for kernel in kernels().into_iter().filter(|&k| k != Q8Kernel::Scalar) {
            for (w, x) in &cases {
                // SAFETY: `kernels` lists only what this CPU runs.
                let fast = unsafe { simd::block_dot_i32(kernel, w, x) };
                assert_eq!(fast, block_dot_reference(w, x), "{kernel:?}: w={w:?} x={x:?}");
            }
        }
    }

    #[test]
    fn every_kernel_matches_the_integer_reference() {
        // Row counts around the 4-row step and the 16-row work item; blocks below, at and
        // around the 8-block scale groups (1, 3, 5, 8, 12, 15, 32, 33).
        let shapes =
            [(1, 32), (3, 32), (5, 96), (7, 160), (6, 256), (9, 1056), (17, 96), (37, 384), (5, 480), (64, 1024)];
        for kernel in kernels() {
            for &(rows, k) in &shapes {
                let w = q8_blocks(rows, k);
                let x = data(k, 4);
                let xq = quantize_row_q8_0(&x);
                let mut fast = vec![f32::NAN; rows];
                matvec_q8_0_with(kernel, &w, &x, &mut fast);
                let mut want = vec![0.0; rows];
                matvec_q8_0_q8_reference(&w, &xq, &mut want);
                // Only the order of the f32 sums differs: bound by the sum of |block terms|.
                let row_bytes = k / 32 * Q8_0_BLOCK_BYTES;
                for (r, (a, b)) in fast.iter().zip(&want).enumerate() {
                    let mag: f32 = w[r * row_bytes..(r + 1) * row_bytes]
                        .chunks_exact(Q8_0_BLOCK_BYTES)
                        .enumerate()
                        .map(|(i, blk)| {
                            let dw = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
                            (block_dot_reference(&blk[2..], &xq.quants[i * 32..(i + 1) * 32]) as f32
                                * dw
                                * xq.scales[i])
                                .abs()
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
            let w = q8_blocks(rows, k);
            let x = data(k, 4);
            let mut fast = vec![0.0; rows];
            matvec_q8_0(&w, &x, &mut fast);
            let mut exact = vec![0.0; rows];
            matvec_q8_0_reference(&w, &x, &mut exact);
            let row_bytes = k / 32 * Q8_0_BLOCK_BYTES;
            let mut deq = vec![0f32; k];
            for r in 0..rows {
                dequantize_q8_0_row(&w[r * row_bytes..(r + 1) * row_bytes], &mut deq);
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
        let w = q8_blocks(rows, k);
        let q = candle_core::quantized::QTensor::new(
            candle_core::quantized::QStorage::from_data(
                std::borrow::Cow::Borrowed(&w),
                &candle_core::Device::Cpu,
                candle_core::quantized::GgmlDType::Q8_0,
            )
            .unwrap(),
            (rows, k),
        )
        .unwrap();
        let theirs = q.dequantize(&candle_core::Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut ours = vec![0f32; rows * k];
        for r in 0..rows {
            dequantize_q8_0_row(&w[r * k / 32 * 34..(r + 1) * k / 32 * 34], &mut ours[r * k..(r + 1) * k]);
        }
        assert_eq!(ours, theirs);
    }

    #[test]
    #[should_panic(expected = "multiple of 32")]
    fn rows_must_be_whole_blocks() {
        matvec_q8_0(&[0u8; 34], &[0.0; 33], &mut [0.0]);
    }
}
