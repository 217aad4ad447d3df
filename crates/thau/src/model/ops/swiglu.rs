//! SwiGLU activation (Shazeer 2020, "GLU Variants Improve Transformer"), fused on CPU:
//! y = silu(g) · u with silu(g) = g·σ(g).
//! Backward: dg = dy · u · σ(g) · (1 + g·(1 − σ(g))),  du = dy · silu(g).

use super::kernel::{dispatch_float, slice, Elem};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use num_traits::{One, Zero};
use rayon::prelude::*;

const CHUNK: usize = 4096;

/// silu(gate) · up, elementwise; both of the same shape.
pub fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if gate.dims() != up.dims() {
        candle_core::bail!("swiglu: gate {:?} and up {:?} differ", gate.dims(), up.dims())
    }
    if !gate.device().is_cpu() {
        return swiglu_reference(gate, up);
    }
    gate.contiguous()?.apply_op2(&up.contiguous()?, SwiGlu)
}

/// Reference from basic ops (also the non-CPU path).
pub fn swiglu_reference(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    let sig = (gate.neg()?.exp()? + 1.0)?.recip()?;
    (gate * sig)? * up
}

fn sigmoid<T: Elem>(x: T) -> T {
    (T::one() + (-x).exp()).recip()
}

struct SwiGlu;

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "thau-swiglu"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        dispatch_float!(s1, self.name(), |T| {
            let (g, u): (&[T], &[T]) = (slice(s1, l1, "swiglu")?, slice(s2, l2, "swiglu")?);
            let mut y = vec![T::zero(); g.len()];
            y.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(u.par_chunks(CHUNK)).for_each(|((y, g), u)| {
                for i in 0..y.len() {
                    y[i] = g[i] * sigmoid(g[i]) * u[i];
                }
            });
            Ok((T::to_cpu_storage_owned(y), l1.shape().clone()))
        })
    }
    fn bwd(&self, g: &Tensor, u: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = g.elem_count();
        let packed = g.apply_op3_no_bwd(u, &dy.contiguous()?, &SwiGluBwd)?;
        Ok((Some(packed.narrow(0, 0, n)?.reshape(g.shape())?), Some(packed.narrow(0, n, n)?.reshape(u.shape())?)))
    }
}

/// Backward kernel: (g, u, dy) → [dg | du].
struct SwiGluBwd;

impl CustomOp3 for SwiGluBwd {
    fn name(&self) -> &'static str {
        "thau-swiglu-bwd"
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
        dispatch_float!(s1, self.name(), |T| {
            let (g, u, dy): (&[T], &[T], &[T]) =
                (slice(s1, l1, "swiglu-bwd")?, slice(s2, l2, "swiglu-bwd")?, slice(s3, l3, "swiglu-bwd")?);
            let n = g.len();
            let mut out = vec![T::zero(); 2 * n];
            let (dg, du) = out.split_at_mut(n);
            dg.par_chunks_mut(CHUNK).zip(du.par_chunks_mut(CHUNK)).enumerate().for_each(|(c, (dg, du))| {
                let o = c * CHUNK;
                for i in 0..dg.len() {
                    let (gv, uv, d) = (g[o + i], u[o + i], dy[o + i]);
                    let s = sigmoid(gv);
                    dg[i] = d * uv * s * (T::one() + gv * (T::one() - s));
                    du[i] = d * gv * s;
                }
            });
            Ok((T::to_cpu_storage_owned(out), Shape::from(2 * n)))
        })
    }
}
