//! Causal multi-head attention with grouped-query heads (Ainslie et al. 2023, GQA), fused on
//! CPU: scores, masked softmax and the weighted sum in one op, with a backward pass that
//! recomputes the attention probabilities instead of storing them (as FlashAttention does,
//! Dao et al. 2022): nothing of size T×T outlives the op. While it runs, each worker thread
//! holds a Tq×Tk score buffer (two in the backward).
//!
//! Shapes: q (B, Tq, H, D), k and v (B, Tk, KV, D) with H % KV == 0 and Tk ≥ Tq; query i sits at
//! absolute position Tk − Tq + i and sees keys 0..=that position. Output (B, Tq, H, D).
//! Backward (P = softmax(S), S = s·QKᵀ, O = PV, s = 1/√D):
//!   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(dO ⊙ O)),  dQ = s·dS K,  dK = s·dSᵀ Q.

use super::kernel::{dispatch_float, matmul, slice, Elem, Mat, SendPtr};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, WithDType, D};
use num_traits::Float;
use rayon::prelude::*;

/// Rows per tile: the causal mask lets tile r skip every key after its last query.
const TILE: usize = 64;

/// Causal GQA attention. q: (B, Tq, H, D), k/v: (B, Tk, KV, D) → (B, Tq, H, D).
pub fn causal_attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    let dims = Dims::of(q.shape(), k.shape())?;
    if v.dims() != k.dims() {
        candle_core::bail!("attention: v {:?} must have k's shape {:?}", v.dims(), k.dims())
    }
    if !q.device().is_cpu() {
        return causal_attention_reference(q, k, v);
    }
    let _ = dims;
    q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, Attention)
}

/// Reference from basic ops (also the non-CPU path): explicit mask, softmax, matmuls.
pub fn causal_attention_reference(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    let d = Dims::of(q.shape(), k.shape())?;
    let rep = d.h / d.kv;
    // (B, KV, Tk, D) → (B, H, Tk, D) by repeating each kv head `rep` times.
    let expand = |x: &Tensor| -> Result<Tensor> {
        let x = x.transpose(1, 2)?; // (B, KV, Tk, D)
        let x = x.unsqueeze(2)?.broadcast_as((d.b, d.kv, rep, d.tk, d.d))?;
        x.reshape((d.b, d.h, d.tk, d.d))
    };
    let (kh, vh) = (expand(k)?, expand(v)?);
    let qh = q.transpose(1, 2)?.contiguous()?; // (B, H, Tq, D)
    let scale = 1.0 / (d.d as f64).sqrt();
    let s = (qh.matmul(&kh.t()?.contiguous()?)? * scale)?; // (B, H, Tq, Tk)
    let off = d.tk - d.tq;
    let mask: Vec<f32> =
        (0..d.tq).flat_map(|i| (0..d.tk).map(move |j| if j <= off + i { 0.0 } else { f32::NEG_INFINITY })).collect();
    let mask = Tensor::from_vec(mask, (d.tq, d.tk), q.device())?.to_dtype(q.dtype())?;
    let s = s.broadcast_add(&mask)?;
    let max = s.max_keepdim(D::Minus1)?.detach();
    let e = s.broadcast_sub(&max)?.exp()?;
    let p = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
    let o = p.matmul(&vh.contiguous()?)?; // (B, H, Tq, D)
    o.transpose(1, 2)?.contiguous()
}

#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    tq: usize,
    tk: usize,
    h: usize,
    kv: usize,
    d: usize,
}

impl Dims {
    fn of(q: &Shape, k: &Shape) -> Result<Self> {
        let (b, tq, h, d) = q.dims4()?;
        let (bk, tk, kv, dk) = k.dims4()?;
        if b != bk || d != dk || kv == 0 || h % kv != 0 || tk < tq {
            candle_core::bail!(
                "attention: q {:?} and k {:?} are incompatible (need same B and D, H % KV == 0, Tk >= Tq)",
                q.dims(),
                k.dims()
            )
        }
        Ok(Self { b, tq, tk, h, kv, d })
    }
    fn off(&self) -> usize {
        self.tk - self.tq
    }
}

struct Attention;

/// Fill `p` (Tq × Tk, row-major) with the causal softmax of s·Q Kᵀ for one (b, head).
unsafe fn probs<T: Elem>(dm: Dims, q: Mat<T>, k: Mat<T>, p: &mut [T], scale: T) {
    let (tq, tk, off) = (dm.tq, dm.tk, dm.off());
    let kt = Mat { ptr: k.ptr, rs: k.cs, cs: k.rs }; // Kᵀ: (D × Tk)
    for i0 in (0..tq).step_by(TILE) {
        let i1 = (i0 + TILE).min(tq);
        let ncols = off + i1; // keys visible to the tile's last query
        let qi = Mat { ptr: unsafe { q.ptr.offset(i0 as isize * q.rs) }, ..q };
        unsafe { matmul(i1 - i0, ncols, dm.d, p.as_mut_ptr().add(i0 * tk), tk as isize, 1, false, qi, kt, scale) };
    }
    for i in 0..tq {
        let row = &mut p[i * tk..(i + 1) * tk];
        let last = off + i; // inclusive
        let max = row[..=last].iter().fold(T::neg_infinity(), |m, &x| Float::max(m, x));
        let mut sum = T::zero();
        for x in row[..=last].iter_mut() {
            *x = (*x - max).exp();
            sum += *x;
        }
        let inv = sum.recip();
        row[..=last].iter_mut().for_each(|x| *x *= inv);
        row[last + 1..].iter_mut().for_each(|x| *x = T::zero());
    }
}

fn fwd<T: Elem>(dm: Dims, q: &[T], k: &[T], v: &[T]) -> Vec<T> {
    let mut out = vec![T::zero(); q.len()];
    let optr = SendPtr(out.as_mut_ptr());
    let scale = T::from(1.0 / (dm.d as f64).sqrt()).unwrap();
    let rep = dm.h / dm.kv;
    let (qs, ks) = ((dm.h * dm.d) as isize, (dm.kv * dm.d) as isize);
    (0..dm.b * dm.h).into_par_iter().for_each_init(
        || vec![T::zero(); dm.tq * dm.tk],
        |p, bh| {
            let (b, h) = (bh / dm.h, bh % dm.h);
            let g = h / rep;
            let qo = b * dm.tq * dm.h * dm.d + h * dm.d;
            let ko = b * dm.tk * dm.kv * dm.d + g * dm.d;
            // SAFETY: offsets stay inside the (B, T, heads, D) buffers; each task writes the
            // disjoint (b, h) slice of `out`.
            unsafe {
                let qm = Mat { ptr: q.as_ptr().add(qo), rs: qs, cs: 1 };
                let km = Mat { ptr: k.as_ptr().add(ko), rs: ks, cs: 1 };
                let vm = Mat { ptr: v.as_ptr().add(ko), rs: ks, cs: 1 };
                probs(dm, qm, km, p, scale);
                let off = dm.off();
                for i0 in (0..dm.tq).step_by(TILE) {
                    let i1 = (i0 + TILE).min(dm.tq);
                    let pm = Mat { ptr: p.as_ptr().add(i0 * dm.tk), rs: dm.tk as isize, cs: 1 };
                    let dst = optr.get().add(qo + i0 * dm.h * dm.d);
                    matmul(i1 - i0, dm.d, off + i1, dst, qs, 1, false, pm, vm, T::one());
                }
            }
        },
    );
    out
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "thau-causal-attention"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dm = Dims::of(l1.shape(), l2.shape())?;
        dispatch_float!(s1, self.name(), |T| {
            let o = fwd::<T>(dm, slice(s1, l1, "attention")?, slice(s2, l2, "attention")?, slice(s3, l3, "attention")?);
            Ok((T::to_cpu_storage_owned(o), l1.shape().clone()))
        })
    }
    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        o: &Tensor,
        d_o: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (nq, nk) = (q.elem_count(), k.elem_count());
        // Pack (o, dO) into one tensor so the backward is a single 3-input op.
        let o_do = Tensor::cat(&[o.flatten_all()?, d_o.contiguous()?.flatten_all()?], 0)?;
        let qo = Tensor::cat(&[q.flatten_all()?, o_do], 0)?;
        let packed = qo.apply_op3_no_bwd(k, v, &AttentionBwd { q_shape: q.shape().clone() })?;
        let dq = packed.narrow(0, 0, nq)?.reshape(q.shape())?;
        let dk = packed.narrow(0, nq, nk)?.reshape(k.shape())?;
        let dv = packed.narrow(0, nq + nk, nk)?.reshape(v.shape())?;
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

/// Backward kernel. Inputs: [q | o | dO] flat, k, v. Output: [dq | dk | dv] flat.
struct AttentionBwd {
    q_shape: Shape,
}

fn bwd<T: Elem>(dm: Dims, q: &[T], o: &[T], d_o: &[T], k: &[T], v: &[T]) -> Vec<T> {
    let (nq, nk) = (q.len(), k.len());
    let mut out = vec![T::zero(); nq + 2 * nk];
    let base = SendPtr(out.as_mut_ptr());
    let scale = T::from(1.0 / (dm.d as f64).sqrt()).unwrap();
    let rep = dm.h / dm.kv;
    let (qs, ks) = ((dm.h * dm.d) as isize, (dm.kv * dm.d) as isize);
    let (tq, tk, off, d) = (dm.tq, dm.tk, dm.off(), dm.d);
    // One task per (b, kv head): it owns dK/dV of that head and dQ of its query heads.
    (0..dm.b * dm.kv).into_par_iter().for_each_init(
        || (vec![T::zero(); tq * tk], vec![T::zero(); tq * tk], vec![T::zero(); tq]),
        |(p, ds, rowdot), bg| {
            let (b, g) = (bg / dm.kv, bg % dm.kv);
            let ko = b * tk * dm.kv * d + g * d;
            // SAFETY: all views stay inside their (B, T, heads, D) buffers; dQ rows of heads
            // g·rep..(g+1)·rep and dK/dV of head g of batch b belong to this task alone.
            unsafe {
                let km = Mat { ptr: k.as_ptr().add(ko), rs: ks, cs: 1 };
                let vm = Mat { ptr: v.as_ptr().add(ko), rs: ks, cs: 1 };
                let dk = base.get().add(nq + ko);
                let dv = base.get().add(nq + nk + ko);
                for h in g * rep..(g + 1) * rep {
                    let qo = b * tq * dm.h * d + h * d;
                    let qm = Mat { ptr: q.as_ptr().add(qo), rs: qs, cs: 1 };
                    let dom = Mat { ptr: d_o.as_ptr().add(qo), rs: qs, cs: 1 };
                    probs(dm, qm, km, p, scale);
                    for (i, rd) in rowdot.iter_mut().enumerate() {
                        let r = qo + i * dm.h * d;
                        *rd = (0..d).map(|x| d_o[r + x] * o[r + x]).sum();
                    }
                    // dP = dO Vᵀ, tile by tile over the visible keys, then dS in place.
                    let vt = Mat { ptr: vm.ptr, rs: 1, cs: ks };
                    for i0 in (0..tq).step_by(TILE) {
                        let i1 = (i0 + TILE).min(tq);
                        let lhs = Mat { ptr: dom.ptr.offset(i0 as isize * qs), ..dom };
                        matmul(
                            i1 - i0,
                            off + i1,
                            d,
                            ds.as_mut_ptr().add(i0 * tk),
                            tk as isize,
                            1,
                            false,
                            lhs,
                            vt,
                            T::one(),
                        );
                    }
                    for (i, &rd) in rowdot.iter().enumerate() {
                        let last = off + i;
                        for j in 0..tk {
                            let x = i * tk + j;
                            ds[x] = if j <= last { p[x] * (ds[x] - rd) } else { T::zero() };
                        }
                    }
                    // dQ_h = s · dS K (query tile i sees keys < off + i1).
                    for i0 in (0..tq).step_by(TILE) {
                        let i1 = (i0 + TILE).min(tq);
                        let lhs = Mat { ptr: ds.as_ptr().add(i0 * tk), rs: tk as isize, cs: 1 };
                        matmul(i1 - i0, d, off + i1, base.get().add(qo + i0 * dm.h * d), qs, 1, false, lhs, km, scale);
                    }
                    // dK_g += s · dSᵀ Q_h and dV_g += Pᵀ dO_h; key tile j sees queries i ≥ j − off.
                    for j0 in (0..tk).step_by(TILE) {
                        let j1 = (j0 + TILE).min(tk);
                        let i_start = j0.saturating_sub(off);
                        if i_start >= tq {
                            continue;
                        }
                        let n_i = tq - i_start;
                        let dst_k = dk.offset(j0 as isize * ks);
                        let dst_v = dv.offset(j0 as isize * ks);
                        let dst_t = Mat { ptr: ds.as_ptr().add(i_start * tk + j0), rs: 1, cs: tk as isize };
                        let p_t = Mat { ptr: p.as_ptr().add(i_start * tk + j0), rs: 1, cs: tk as isize };
                        let q_i = Mat { ptr: qm.ptr.offset(i_start as isize * qs), ..qm };
                        let do_i = Mat { ptr: dom.ptr.offset(i_start as isize * qs), ..dom };
                        matmul(j1 - j0, d, n_i, dst_k, ks, 1, true, dst_t, q_i, scale);
                        matmul(j1 - j0, d, n_i, dst_v, ks, 1, true, p_t, do_i, T::one());
                    }
                }
            }
        },
    );
    out
}

impl CustomOp3 for AttentionBwd {
    fn name(&self) -> &'static str {
        "thau-causal-attention-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dm = Dims::of(&self.q_shape, l2.shape())?;
        let nq = self.q_shape.elem_count();
        dispatch_float!(s1, self.name(), |T| {
            let packed: &[T] = slice(s1, l1, "attention-bwd")?;
            let (q, rest) = packed.split_at(nq);
            let (o, d_o) = rest.split_at(nq);
            let out = bwd::<T>(dm, q, o, d_o, slice(s2, l2, "attention-bwd")?, slice(s3, l3, "attention-bwd")?);
            let n = out.len();
            Ok((T::to_cpu_storage_owned(out), Shape::from(n)))
        })
    }
}
