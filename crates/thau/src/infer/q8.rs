//! q8_0 weights (GGML blocks of 32 signed bytes and an f16 scale) times an activation row.
//!
//! Decoding streams every weight once per token, so the product must keep up with memory. The
//! fast path quantizes the activation row to q8_0 too, once per product (as llama.cpp does), and
//! multiplies the two rows block by block with integer dot products (AVX-512 VNNI `vpdpbusd`:
//! 32 byte products summed into 8 lanes by one instruction). Each block's integer sum is then
//! scaled by both blocks' scales in f32. Without VNNI the weights are widened to f32 instead
//! (exact up to f32 rounding, slower).
//!
//! `vpdpbusd` multiplies *unsigned* by *signed* bytes, so a block is fed as |w| and x with w's
//! sign moved onto it: Σ w·x = Σ |w|·(sign(w)·x). x comes from our own quantizer and lies in
//! -127..=127, so negating it cannot overflow; |w| of a stored -128 reads as the unsigned 128,
//! which is exact too.

use super::kernels::{parallel_for, OutPtr, ROWS_PER_ITEM};
use half::f16;

/// Bytes of one GGML q8_0 block: an f16 scale `d` then 32 signed bytes; value j = d·q[j].
pub const Q8_0_BLOCK_BYTES: usize = 34;

/// An activation row quantized to q8_0: per 32-value block a scale (the f16 value GGML would
/// store, as f32) and 32 signed bytes.
pub struct Q8Row {
    pub scales: Vec<f32>,
    pub quants: Vec<i8>,
}

/// Quantize `x` (a multiple of 32 values) the way GGML's `quantize_row_q8_0` does: per block
/// d = max|x|/127, q = round(x/d) (half away from zero), d stored as f16.
pub fn quantize_row_q8_0(x: &[f32]) -> Q8Row {
    assert!(x.len().is_multiple_of(32), "q8_0 rows must be a multiple of 32, got {}", x.len());
    let mut scales = Vec::with_capacity(x.len() / 32);
    let mut quants = vec![0i8; x.len()];
    for (block, q) in x.chunks_exact(32).zip(quants.chunks_exact_mut(32)) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        for (q, &v) in q.iter_mut().zip(block) {
            *q = (v * id).round() as i8;
        }
        scales.push(f16::from_f32(d).to_f32());
    }
    Q8Row { scales, quants }
}

/// Whether the integer kernel runs on this CPU.
pub fn vnni_available() -> bool {
    static A: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    #[cfg(target_arch = "x86_64")]
    return *A.get_or_init(|| {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni")
            && is_x86_feature_detected!("f16c")
    });
    #[cfg(not(target_arch = "x86_64"))]
    return *A.get_or_init(|| false);
}

/// y[r] = Σ_c W[r, c] · x[c] for q8_0 weights given as raw GGML blocks (rows × k/32 blocks).
/// With VNNI: x is quantized to q8_0 and the products are integer (see the module docs); else
/// the weights are dequantized on the fly and multiplied in f32.
pub fn matvec_q8_0(blocks: &[u8], x: &[f32], y: &mut [f32]) {
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
    let xq = vnni_available().then(|| quantize_row_q8_0(x));
    let out = OutPtr(y.as_mut_ptr());
    parallel_for(rows.div_ceil(ROWS_PER_ITEM), |range| {
        let r0 = range.start * ROWS_PER_ITEM;
        let r1 = (range.end * ROWS_PER_ITEM).min(rows);
        // SAFETY: rows r0..r1 belong to this work item only; y outlives the pool call.
        let y = unsafe { std::slice::from_raw_parts_mut(out.at(r0), r1 - r0) };
        let w = &blocks[r0 * row_bytes..r1 * row_bytes];
        #[cfg(target_arch = "x86_64")]
        if let Some(xq) = &xq {
            // SAFETY: VNNI and friends checked by `vnni_available`; lengths checked above.
            unsafe { avx512::matvec_q8_0_q8_rows(w, xq, y) };
            return;
        }
        let _ = &xq;
        #[cfg(target_arch = "x86_64")]
        if crate::model::ops::gemm::avx512_available() {
            // SAFETY: AVX-512F checked at run time; lengths checked above.
            unsafe { avx512::matvec_q8_0_rows(w, x, y) };
            return;
        }
        matvec_q8_0_reference(w, x, y);
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

/// Plain reference for the f32 path of [`matvec_q8_0`]: dequantize, multiply in f32.
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

/// Plain reference for the integer path of [`matvec_q8_0`]: per block the exact integer dot,
/// scaled by the weight's and the activation's scale, summed in block order.
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
pub(crate) mod avx512 {
    use super::{Q8Row, Q8_0_BLOCK_BYTES as B};
    use std::arch::x86_64::*;

    /// The f16 scale at `p` as f32 (F16C).
    #[inline]
    #[target_feature(enable = "avx512f,f16c")]
    unsafe fn scale(p: *const u8) -> f32 {
        // SAFETY: the caller points p at a block's two scale bytes.
        unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(std::ptr::read_unaligned(p as *const u16) as i32))) }
    }

    /// Σ w·x over 32 bytes into 8 i32 lanes: |w| (unsigned) times x with w's sign (signed).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn block_dot(w: __m256i, x: __m256i) -> __m256i {
        let neg = _mm256_movepi8_mask(w);
        let sx = _mm256_mask_sub_epi8(x, neg, _mm256_setzero_si256(), x);
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), sx)
    }

    /// The integer dot of one weight block's 32 bytes with 32 activation bytes, through
    /// [`block_dot`] (for the exact comparison with the reference).
    ///
    /// # Safety
    /// The CPU must have what `vnni_available` checks.
    #[cfg(test)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn block_dot_i32(w: &[u8; 32], x: &[i8; 32]) -> i32 {
        // SAFETY: both arrays hold 32 bytes.
        unsafe {
            let d = block_dot(
                _mm256_loadu_si256(w.as_ptr() as *const __m256i),
                _mm256_loadu_si256(x.as_ptr() as *const __m256i),
            );
            let mut lanes = [0i32; 8];
            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, d);
            lanes.iter().sum()
        }
    }

    /// Four weight rows at a time share each load of an activation block; per block and row:
    /// one integer dot, one conversion to f32, one FMA with the two scales' product.
    ///
    /// # Safety
    /// The CPU must have what `vnni_available` checks.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
    pub unsafe fn matvec_q8_0_q8_rows(w: &[u8], x: &Q8Row, y: &mut [f32]) {
        let nb = x.scales.len();
        let rows = y.len();
        let row_bytes = nb * B;
        assert!(w.len() >= rows * row_bytes && x.quants.len() == nb * 32);
        let (xq, xd) = (x.quants.as_ptr(), x.scales.as_ptr());
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
        unsafe fn hsum(v: __m256) -> f32 {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
        }
        // SAFETY: every pointer stays within w (rows × nb blocks) and x (nb blocks), asserted above.
        unsafe {
            let mut r = 0;
            while r + 4 <= rows {
                let base = w.as_ptr().add(r * row_bytes);
                let mut a = [_mm256_setzero_ps(); 4];
                for blk in 0..nb {
                    let xv = _mm256_loadu_si256(xq.add(blk * 32) as *const __m256i);
                    let dx = *xd.add(blk);
                    for (j, acc) in a.iter_mut().enumerate() {
                        let p = base.add(j * row_bytes + blk * B);
                        let dot = block_dot(_mm256_loadu_si256(p.add(2) as *const __m256i), xv);
                        *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(scale(p) * dx), *acc);
                    }
                }
                for (out, acc) in y[r..r + 4].iter_mut().zip(a) {
                    *out = hsum(acc);
                }
                r += 4;
            }
            while r < rows {
                let base = w.as_ptr().add(r * row_bytes);
                let mut acc = _mm256_setzero_ps();
                for blk in 0..nb {
                    let p = base.add(blk * B);
                    let xv = _mm256_loadu_si256(xq.add(blk * 32) as *const __m256i);
                    let dot = block_dot(_mm256_loadu_si256(p.add(2) as *const __m256i), xv);
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(scale(p) * *xd.add(blk)), acc);
                }
                y[r] = hsum(acc);
                r += 1;
            }
        }
    }

    /// Without VNNI: four q8_0 rows at a time, each 32-value block widened to f32 in
    /// registers, multiplied with x, and scaled by the block's d into one accumulator per row.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn matvec_q8_0_rows(w: &[u8], x: &[f32], y: &mut [f32]) {
        let k = x.len();
        let nb = k / 32;
        let rows = y.len();
        assert!(w.len() >= rows * nb * B);
        let xp = x.as_ptr();
        // SAFETY: every pointer stays within w (rows × nb blocks) and x (k), asserted above.
        unsafe {
            #[inline]
            #[target_feature(enable = "avx512f")]
            unsafe fn block(b: *const u8, x0: __m512, x1: __m512, acc: __m512) -> __m512 {
                unsafe {
                    let d = _mm512_set1_ps(half::f16::from_bits(u16::from_le_bytes([*b, *b.add(1)])).to_f32());
                    let q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(b.add(2) as *const __m128i)));
                    let q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(b.add(18) as *const __m128i)));
                    let t = _mm512_fmadd_ps(q1, x1, _mm512_mul_ps(q0, x0));
                    _mm512_fmadd_ps(t, d, acc)
                }
            }
            let row_bytes = nb * B;
            let mut r = 0;
            while r + 4 <= rows {
                let base = w.as_ptr().add(r * row_bytes);
                let mut a = [_mm512_setzero_ps(); 4];
                for blk in 0..nb {
                    let x0 = _mm512_loadu_ps(xp.add(blk * 32));
                    let x1 = _mm512_loadu_ps(xp.add(blk * 32 + 16));
                    for (j, acc) in a.iter_mut().enumerate() {
                        *acc = block(base.add(j * row_bytes + blk * B), x0, x1, *acc);
                    }
                }
                for (out, acc) in y[r..r + 4].iter_mut().zip(a) {
                    *out = _mm512_reduce_add_ps(acc);
                }
                r += 4;
            }
            while r < rows {
                let base = w.as_ptr().add(r * row_bytes);
                let mut a = _mm512_setzero_ps();
                for blk in 0..nb {
                    a = block(
                        base.add(blk * B),
                        _mm512_loadu_ps(xp.add(blk * 32)),
                        _mm512_loadu_ps(xp.add(blk * 32 + 16)),
                        a,
                    );
                }
                y[r] = _mm512_reduce_add_ps(a);
                r += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    /// q8_0 blocks with varied scales and values (including -128 and 127), as raw GGML bytes.
    fn q8_blocks(rows: usize, k: usize) -> Vec<u8> {
        let vals = data(rows * k, 9);
        let mut out = Vec::new();
        for (b, chunk) in vals.chunks(32).enumerate() {
            out.extend(f16::from_f32(0.01 + (b % 7) as f32 * 0.003).to_le_bytes());
            out.extend(chunk.iter().enumerate().map(|(j, v)| match (b + j) % 53 {
                0 => 0x80u8,
                1 => 0x7f,
                _ => ((v * 127.0) as i8) as u8,
            }));
        }
        out
    }

    #[test]
    fn activation_quantization_is_ggmls() {
        // Same bytes as candle's port of GGML's quantize_row_q8_0 (scales, rounding, zeros).
        let mut x = data(32 * 9, 3);
        x[64..96].fill(0.0);
        x[100] = 5.0;
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
    }

    #[test]
    fn integer_block_dot_is_exact() {
        #[cfg(target_arch = "x86_64")]
        if vnni_available() {
            // Extremes included: |-128| as unsigned 128 times ±127.
            let mut cases: Vec<([u8; 32], [i8; 32])> = vec![([0x80; 32], [127; 32]), ([0x80; 32], [-127; 32])];
            cases.push(([0x7f; 32], [-127; 32]));
            for s in 0..200u32 {
                let w: [u8; 32] = std::array::from_fn(|i| (i as u32 * 2654435761 ^ s * 40503) as u8);
                let x: [i8; 32] = std::array::from_fn(|i| (((i as u32 * 97 + s * 31) % 255) as i32 - 127) as i8);
                cases.push((w, x));
            }
            for (w, x) in &cases {
                // SAFETY: checked by vnni_available.
                let fast = unsafe { avx512::block_dot_i32(w, x) };
                assert_eq!(fast, block_dot_reference(w, x), "w={w:?} x={x:?}");
            }
            return;
        }
        eprintln!("no AVX-512 VNNI on this CPU: the integer kernel is not used here");
    }

    #[test]
    fn q8_matvec_matches_its_references() {
        for &(rows, k) in &[(1, 32), (5, 64), (37, 384), (64, 1024)] {
            let w = q8_blocks(rows, k);
            let x = data(k, 4);
            let mut fast = vec![0.0; rows];
            matvec_q8_0(&w, &x, &mut fast);
            let mut want = vec![0.0; rows];
            if vnni_available() {
                matvec_q8_0_q8_reference(&w, &quantize_row_q8_0(&x), &mut want);
            } else {
                matvec_q8_0_reference(&w, &x, &mut want);
            }
            for (a, b) in fast.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "q8_0 {rows}x{k}: {a} vs {b}");
            }
            // Quantizing x costs little: within a few tenths of a percent of the f32 product.
            let mut exact = vec![0.0; rows];
            matvec_q8_0_reference(&w, &x, &mut exact);
            let scale = exact.iter().fold(1f32, |m, v| m.max(v.abs()));
            for (a, b) in fast.iter().zip(&exact) {
                assert!((a - b).abs() <= 1e-2 * scale, "q8_0 {rows}x{k} vs f32 activations: {a} vs {b}");
            }
            #[cfg(target_arch = "x86_64")]
            if crate::model::ops::gemm::avx512_available() {
                let mut widened = vec![0.0; rows];
                // SAFETY: AVX-512F checked.
                unsafe { avx512::matvec_q8_0_rows(&w, &x, &mut widened) };
                for (a, b) in widened.iter().zip(&exact) {
                    assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "widened q8_0 {rows}x{k}: {a} vs {b}");
                }
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
}
