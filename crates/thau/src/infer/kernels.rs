//! Inference kernels on plain slices: matrix-vector products for f32 and f16 weights, and the
//! small per-token ops (RMSNorm, RoPE, SwiGLU). Decoding one token is bound by how fast the
//! weights stream from memory, so the products read each weight once, four rows at a time,
//! spread over the threads of candle's spinning barrier pool (a wake-up costs about a
//! microsecond, against tens for a rayon join; one token makes about 60 such calls).
//!
//! Every fast kernel has a plain `*_reference` next to it; `tests` compare the two.

use half::f16;

/// Rows per work item handed to a thread.
const ROWS_PER_ITEM: usize = 16;

/// A raw pointer that may be shared with the pool's threads; each thread writes a disjoint
/// range of rows through it.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: only used to write disjoint rows from the pool's threads while the owner waits.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// Run `f(range)` over `0..n_items` on candle's barrier pool (the calling thread helps).
pub fn parallel_for(n_items: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
    candle_core::utils::barrier_pool().execute_chunked(n_items, f)
}

/// Number of threads the pool runs (workers + the calling thread).
pub fn num_threads() -> usize {
    candle_core::utils::barrier_pool().n_workers() + 1
}

/// Weights a matrix-vector kernel can read: one row of `k` elements converts to f32 lanes.
pub trait RowElem: Copy + Send + Sync + 'static {
    fn to_f32(self) -> f32;
}
impl RowElem for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}
impl RowElem for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
}

/// y[r] = Σ_c w[r·k + c] · x[c] for r in 0..rows, with w row-major (rows × k).
pub fn matvec<T: RowElem>(w: &[T], x: &[f32], y: &mut [f32]) {
    let k = x.len();
    let rows = y.len();
    assert_eq!(w.len(), rows * k, "matvec: weight has {} elements, expected {rows}×{k}", w.len());
    let out = OutPtr(y.as_mut_ptr());
    let items = rows.div_ceil(ROWS_PER_ITEM);
    parallel_for(items, |range| {
        let out = out;
        let r0 = range.start * ROWS_PER_ITEM;
        let r1 = (range.end * ROWS_PER_ITEM).min(rows);
        // SAFETY: rows r0..r1 belong to this work item only; y outlives the pool call.
        let y = unsafe { std::slice::from_raw_parts_mut(out.0.add(r0), r1 - r0) };
        matvec_rows(&w[r0 * k..r1 * k], x, y);
    });
}

/// The single-thread body of [`matvec`]: AVX-512 where the CPU has it.
fn matvec_rows<T: RowElem>(w: &[T], x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::model::ops::gemm::avx512_available() {
        // SAFETY: AVX-512F checked at run time; lengths are checked inside.
        unsafe { avx512::matvec_rows(w, x, y) };
        return;
    }
    matvec_reference(w, x, y)
}

/// Plain reference for [`matvec`].
pub fn matvec_reference<T: RowElem>(w: &[T], x: &[f32], y: &mut [f32]) {
    let k = x.len();
    for (r, out) in y.iter_mut().enumerate() {
        *out = w[r * k..(r + 1) * k].iter().zip(x).map(|(&a, &b)| a.to_f32() * b).sum();
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::RowElem;
    use half::f16;
    use std::any::TypeId;
    use std::arch::x86_64::*;

    /// Load 16 weights starting at `p` as f32 lanes.
    #[inline(always)]
    unsafe fn load16<T: RowElem>(p: *const T) -> __m512 {
        // SAFETY (caller): p points at 16 readable elements.
        unsafe {
            if TypeId::of::<T>() == TypeId::of::<f16>() {
                _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i))
            } else {
                _mm512_loadu_ps(p as *const f32)
            }
        }
    }

    /// Four rows at a time share each load of x; the tail of k (< 16) goes scalar.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn matvec_rows<T: RowElem>(w: &[T], x: &[f32], y: &mut [f32]) {
        let k = x.len();
        let rows = y.len();
        assert!(w.len() >= rows * k);
        let k16 = k / 16 * 16;
        let wp = w.as_ptr();
        let xp = x.as_ptr();
        let mut r = 0;
        // SAFETY: every pointer below stays within w (rows × k) and x (k), asserted above.
        unsafe {
            while r + 4 <= rows {
                let (w0, w1, w2, w3) = (wp.add(r * k), wp.add((r + 1) * k), wp.add((r + 2) * k), wp.add((r + 3) * k));
                let (mut a0, mut a1, mut a2, mut a3) =
                    (_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps());
                let mut c = 0;
                while c < k16 {
                    let xv = _mm512_loadu_ps(xp.add(c));
                    a0 = _mm512_fmadd_ps(load16(w0.add(c)), xv, a0);
                    a1 = _mm512_fmadd_ps(load16(w1.add(c)), xv, a1);
                    a2 = _mm512_fmadd_ps(load16(w2.add(c)), xv, a2);
                    a3 = _mm512_fmadd_ps(load16(w3.add(c)), xv, a3);
                    c += 16;
                }
                let mut s = [
                    _mm512_reduce_add_ps(a0),
                    _mm512_reduce_add_ps(a1),
                    _mm512_reduce_add_ps(a2),
                    _mm512_reduce_add_ps(a3),
                ];
                for c in k16..k {
                    let xv = *xp.add(c);
                    s[0] += (*w0.add(c)).to_f32() * xv;
                    s[1] += (*w1.add(c)).to_f32() * xv;
                    s[2] += (*w2.add(c)).to_f32() * xv;
                    s[3] += (*w3.add(c)).to_f32() * xv;
                }
                y[r..r + 4].copy_from_slice(&s);
                r += 4;
            }
            while r < rows {
                let w0 = wp.add(r * k);
                let mut a0 = _mm512_setzero_ps();
                let mut c = 0;
                while c < k16 {
                    a0 = _mm512_fmadd_ps(load16(w0.add(c)), _mm512_loadu_ps(xp.add(c)), a0);
                    c += 16;
                }
                let mut s = _mm512_reduce_add_ps(a0);
                for c in k16..k {
                    s += (*w0.add(c)).to_f32() * *xp.add(c);
                }
                y[r] = s;
                r += 1;
            }
        }
    }
}

/// RMSNorm of each row of `x` (rows × c) into `out`: x / sqrt(mean(x²) + eps) · w.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let c = w.len();
    for (row, o) in x.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
        let ms = row.iter().map(|v| v * v).sum::<f32>() / c as f32;
        let r = 1.0 / (ms + eps).sqrt();
        for ((o, &v), &g) in o.iter_mut().zip(row).zip(w) {
            *o = v * r * g;
        }
    }
}

/// Rotate-half RoPE in place on `x` (heads × head_dim) at one position, with that position's
/// cos/sin rows (head_dim/2 each): dimension i pairs with i + head_dim/2.
pub fn rope(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
    let half = head_dim / 2;
    for head in x.chunks_exact_mut(head_dim) {
        let (a, b) = head.split_at_mut(half);
        for i in 0..half {
            let (x0, x1) = (a[i], b[i]);
            a[i] = x0 * cos[i] - x1 * sin[i];
            b[i] = x1 * cos[i] + x0 * sin[i];
        }
    }
}

/// SwiGLU: out = silu(gate) · up, elementwise.
pub fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = g / (1.0 + (-g).exp()) * u;
    }
}

/// Dot product written so the compiler vectorises it (eight independent sums).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (ca, cb) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += ca[i] * cb[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// out += a · v (elementwise), vectorised.
#[inline]
pub fn axpy(a: f32, v: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(v) {
        *o += a * x;
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

    #[test]
    fn matvec_matches_reference_f32_and_f16() {
        // Odd sizes exercise the 4-row and 16-column tails and the work-item split.
        for &(rows, k) in &[(1, 1), (3, 17), (37, 64), (101, 383), (64, 1024)] {
            let w = data(rows * k, 1);
            let x = data(k, 2);
            let mut fast = vec![0.0; rows];
            let mut slow = vec![0.0; rows];
            matvec(&w, &x, &mut fast);
            matvec_reference(&w, &x, &mut slow);
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "f32 {rows}x{k}: {a} vs {b}");
            }
            let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
            matvec(&wh, &x, &mut fast);
            matvec_reference(&wh, &x, &mut slow);
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "f16 {rows}x{k}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn rope_is_a_rotation() {
        let mut x = data(2 * 8, 3);
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>();
        let before = norm(&x);
        let (cos, sin): (Vec<f32>, Vec<f32>) = (0..4).map(|i| ((i as f32 * 0.3).cos(), (i as f32 * 0.3).sin())).unzip();
        rope(&mut x, 8, &cos, &sin);
        assert!((norm(&x) - before).abs() < 1e-4);
    }
}
