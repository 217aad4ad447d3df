//! Inference kernels on plain slices: matrix-vector products for f32 and f16 weights (q8_0 in
//! [`super::q8`]), a tiled kernel for many tokens at once (prefill), and the small per-token ops
//! (RMSNorm, RoPE, SwiGLU). Decoding one token is bound by how fast the weights stream from memory, so the
//! products read each weight once, four rows at a time, spread over the threads by
//! [`parallel_for`] (about 40 calls per token).
//!
//! Every fast kernel has a plain `*_reference` next to it; `tests` compare the two.

use half::f16;

/// Rows per work item handed to a thread.
pub(super) const ROWS_PER_ITEM: usize = 16;

/// A raw pointer that may be shared with the pool's threads; each thread writes a disjoint
/// range of rows through it.
#[derive(Clone, Copy)]
pub(super) struct OutPtr(pub(super) *mut f32);
// SAFETY: only used to write disjoint rows from the pool's threads while the owner waits.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The element at `offset`. A method (not `.0`) so closures capture the whole `OutPtr`,
    /// which is `Sync`, rather than its raw-pointer field, which is not.
    pub(super) fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// Which threads run [`parallel_for`]: THAU's own pool (default, see [`super::pool`]), or for
/// comparison `THAU_POOL=rayon` or `THAU_POOL=spin` (candle's barrier pool). Idle machine
/// (bench infer, 2 threads): own and spin decode alike and 10–25% faster than rayon (m20 q8_0
/// 975/1035/791 tok/s own/spin/rayon). Under load 6–9 spin collapses (15–19 tok/s m20 f32)
/// while own keeps 50–69 and rayon 68–92: own is the balance.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Threads {
    Own,
    Rayon,
    Spin,
}

fn threads_kind() -> Threads {
    static KIND: std::sync::OnceLock<Threads> = std::sync::OnceLock::new();
    *KIND.get_or_init(|| match std::env::var("THAU_POOL").as_deref() {
        Ok("rayon") => Threads::Rayon,
        Ok("spin") => Threads::Spin,
        _ => Threads::Own,
    })
}

/// Run `f(range)` over `0..n_items`, split into about eight ranges per thread.
pub fn parallel_for(n_items: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
    if n_items == 0 {
        return;
    }
    match threads_kind() {
        Threads::Own => super::pool::Pool::global().run(n_items, &f),
        Threads::Spin => candle_core::utils::barrier_pool().execute_chunked(n_items, f),
        Threads::Rayon => {
            use rayon::prelude::*;
            let chunk = n_items.div_ceil(rayon::current_num_threads() * 8).max(1);
            (0..n_items.div_ceil(chunk)).into_par_iter().for_each(|c| f(c * chunk..n_items.min((c + 1) * chunk)));
        }
    }
}

/// Number of threads the kernels run on.
pub fn num_threads() -> usize {
    match threads_kind() {
        Threads::Own => super::pool::Pool::global().threads(),
        Threads::Spin => candle_core::utils::barrier_pool().n_workers() + 1,
        Threads::Rayon => rayon::current_num_threads(),
    }
}

/// Weights a matrix-vector kernel can read: one row of `k` elements converts to f32 lanes.
pub trait RowElem: Copy + Send + Sync + 'static {
    fn to_f32(self) -> f32;
    /// The AVX-512 body of [`matvec`] for this type.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and F16C.
    #[cfg(target_arch = "x86_64")]
    unsafe fn matvec_rows_avx512(w: &[Self], x: &[f32], y: &mut [f32]);
}
impl RowElem for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[cfg(target_arch = "x86_64")]
    unsafe fn matvec_rows_avx512(w: &[Self], x: &[f32], y: &mut [f32]) {
        // SAFETY: forwarded from the caller.
        unsafe { avx512::matvec_rows_f32(w, x, y) }
    }
}
impl RowElem for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    #[cfg(target_arch = "x86_64")]
    unsafe fn matvec_rows_avx512(w: &[Self], x: &[f32], y: &mut [f32]) {
        // SAFETY: forwarded from the caller.
        unsafe { avx512::matvec_rows_f16(w, x, y) }
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
        let r0 = range.start * ROWS_PER_ITEM;
        let r1 = (range.end * ROWS_PER_ITEM).min(rows);
        // SAFETY: rows r0..r1 belong to this work item only; y outlives the pool call.
        let y = unsafe { std::slice::from_raw_parts_mut(out.at(r0), r1 - r0) };
        matvec_rows(&w[r0 * k..r1 * k], x, y);
    });
}

/// The single-thread body of [`matvec`]: AVX-512 where the CPU has it.
fn matvec_rows<T: RowElem>(w: &[T], x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::model::ops::gemm::avx512_available() && is_x86_feature_detected!("f16c") {
        // SAFETY: AVX-512F and F16C checked at run time; lengths are checked inside.
        unsafe { T::matvec_rows_avx512(w, x, y) };
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
    use std::arch::x86_64::*;

    /// `matvec_rows` for each weight type: a macro, so each body has its load instruction inline
    /// (a generic helper with its own target feature was not inlined: a call per 16 weights).
    macro_rules! matvec_rows {
        ($name:ident, $t:ty, |$p:ident| $load:expr) => {
            /// Four rows at a time share each load of x; the tail of k (< 16) goes scalar.
            #[target_feature(enable = "avx512f,f16c")]
            pub unsafe fn $name(w: &[$t], x: &[f32], y: &mut [f32]) {
                let k = x.len();
                let rows = y.len();
                assert!(w.len() >= rows * k);
                let k16 = k / 16 * 16;
                let wp = w.as_ptr();
                let xp = x.as_ptr();
                // `$load` is written out in place, not called as a closure: a closure need not
                // inherit the target features and may become a call per 16 weights.
                let mut r = 0;
                // SAFETY: every pointer below stays within w (rows × k) and x (k), asserted above.
                unsafe {
                    while r + 4 <= rows {
                        let (w0, w1, w2, w3) =
                            (wp.add(r * k), wp.add((r + 1) * k), wp.add((r + 2) * k), wp.add((r + 3) * k));
                        let (mut a0, mut a1, mut a2, mut a3) =
                            (_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps());
                        let mut c = 0;
                        while c < k16 {
                            let xv = _mm512_loadu_ps(xp.add(c));
                            a0 = _mm512_fmadd_ps(
                                {
                                    let $p = w0.add(c);
                                    $load
                                },
                                xv,
                                a0,
                            );
                            a1 = _mm512_fmadd_ps(
                                {
                                    let $p = w1.add(c);
                                    $load
                                },
                                xv,
                                a1,
                            );
                            a2 = _mm512_fmadd_ps(
                                {
                                    let $p = w2.add(c);
                                    $load
                                },
                                xv,
                                a2,
                            );
                            a3 = _mm512_fmadd_ps(
                                {
                                    let $p = w3.add(c);
                                    $load
                                },
                                xv,
                                a3,
                            );
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
                            a0 = _mm512_fmadd_ps(
                                {
                                    let $p = w0.add(c);
                                    $load
                                },
                                _mm512_loadu_ps(xp.add(c)),
                                a0,
                            );
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
        };
    }
    matvec_rows!(matvec_rows_f32, f32, |p| _mm512_loadu_ps(p));
    matvec_rows!(matvec_rows_f16, f16, |p| _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)));

    /// See [`super::attn_scores`]; q.len() is a multiple of 16 and `scores` holds len values.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn attn_scores(q: &[f32], keys: &[f32], stride: usize, scale: f32, scores: &mut [f32]) {
        let hd = q.len();
        let (qp, kp) = (q.as_ptr(), keys.as_ptr());
        // SAFETY: the caller checked keys holds every position's hd values.
        unsafe {
            for (t, s) in scores.iter_mut().enumerate() {
                let k = kp.add(t * stride);
                let (mut a0, mut a1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
                let mut c = 0;
                while c + 32 <= hd {
                    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(qp.add(c)), _mm512_loadu_ps(k.add(c)), a0);
                    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(qp.add(c + 16)), _mm512_loadu_ps(k.add(c + 16)), a1);
                    c += 32;
                }
                if c < hd {
                    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(qp.add(c)), _mm512_loadu_ps(k.add(c)), a0);
                }
                *s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) * scale;
            }
        }
    }

    /// See [`super::attn_values`]; out.len() is a multiple of 16, at most 256 (16 registers).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn attn_values(p: &[f32], values: &[f32], stride: usize, out: &mut [f32]) {
        let hd = out.len();
        let mut acc = [_mm512_setzero_ps(); 16];
        let vp = values.as_ptr();
        // SAFETY: the caller checked values holds every position's hd values, hd <= 256.
        unsafe {
            for (t, &w) in p.iter().enumerate() {
                let v = vp.add(t * stride);
                let wv = _mm512_set1_ps(w);
                for (j, a) in acc.iter_mut().take(hd / 16).enumerate() {
                    *a = _mm512_fmadd_ps(wv, _mm512_loadu_ps(v.add(j * 16)), *a);
                }
            }
            for (j, a) in acc.iter().take(hd / 16).enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(j * 16), *a);
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

/// Attention scores of one query head over `len` cached positions: `scores[t] = scale · q·k_t`
/// with `k_t = keys[t·stride..][..q.len()]` (the cache is position-major, one head's slice per
/// position). AVX-512 where the CPU has it and the head size is a multiple of 16.
pub fn attn_scores(q: &[f32], keys: &[f32], stride: usize, len: usize, scale: f32, scores: &mut Vec<f32>) {
    let hd = q.len();
    assert!(len == 0 || keys.len() >= (len - 1) * stride + hd, "attn_scores: keys too short");
    scores.clear();
    #[cfg(target_arch = "x86_64")]
    if hd.is_multiple_of(16) && crate::model::ops::gemm::avx512_available() {
        scores.resize(len, 0.0);
        // SAFETY: AVX-512F checked; bounds asserted above.
        unsafe { avx512::attn_scores(q, keys, stride, scale, scores) };
        return;
    }
    scores.extend((0..len).map(|t| dot(q, &keys[t * stride..][..hd]) * scale));
}

/// `out = Σ_t p[t] · v_t` with `v_t = values[t·stride..][..out.len()]`: the weighted sum of
/// one head's cached values.
pub fn attn_values(p: &[f32], values: &[f32], stride: usize, out: &mut [f32]) {
    let hd = out.len();
    assert!(p.is_empty() || values.len() >= (p.len() - 1) * stride + hd, "attn_values: values too short");
    #[cfg(target_arch = "x86_64")]
    if hd.is_multiple_of(16) && hd <= 256 && crate::model::ops::gemm::avx512_available() {
        // SAFETY: AVX-512F checked; bounds asserted above.
        unsafe { avx512::attn_values(p, values, stride, out) };
        return;
    }
    out.fill(0.0);
    for (t, &w) in p.iter().enumerate() {
        axpy(w, &values[t * stride..][..hd], out);
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

/// Deterministic test values in [-1, 1] (a hash of the index and `seed`), shared by the
/// engine's kernel tests.
#[cfg(test)]
pub(super) fn test_data(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32 / 1000.0 - 1.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::test_data as data;
    use super::*;

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
    fn attention_kernels_match_plain_loops() {
        for &(hd, len, stride) in &[(64, 1, 64), (64, 37, 192), (48, 5, 100), (16, 9, 16), (24, 3, 30)] {
            let q = data(hd, 1);
            let keys = data(len * stride, 2);
            let mut fast = Vec::new();
            attn_scores(&q, &keys, stride, len, 0.125, &mut fast);
            let slow: Vec<f32> = (0..len)
                .map(|t| q.iter().zip(&keys[t * stride..][..hd]).map(|(a, b)| a * b).sum::<f32>() * 0.125)
                .collect();
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "scores hd={hd} len={len}: {a} vs {b}");
            }
            let p = data(len, 3);
            let mut out = vec![9.0; hd];
            attn_values(&p, &keys, stride, &mut out);
            for (i, o) in out.iter().enumerate() {
                let want: f32 = (0..len).map(|t| p[t] * keys[t * stride + i]).sum();
                assert!((o - want).abs() <= 1e-5 * (1.0 + want.abs()), "values hd={hd} len={len}: {o} vs {want}");
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
