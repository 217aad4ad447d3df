//! RMSNorm (Zhang & Sennrich 2019), fused forward and backward on CPU.
//!
//! y = x / sqrt(mean(x²) + eps) · w, over the last dimension C.
//! Backward, with r = 1/sqrt(mean(x²)+eps), x̂ = x·r, g = dy·w:
//!   dx = r · (g − x̂ · mean(g·x̂)),   dw = Σ_rows dy·x̂.

use super::kernel::{dispatch_float, rows_per_chunk, slice, Elem};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

/// RMSNorm over the last dimension with a backward pass. `x`: (…, C), `w`: (C).
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    if !x.device().is_cpu() {
        return rms_norm_reference(x, w, eps);
    }
    x.contiguous()?.apply_op2(&w.contiguous()?, RmsNorm { eps })
}

/// The same function from basic candle ops (slow; autodiff through candle). Used as the
/// reference in tests and as the path on non-CPU devices.
pub fn rms_norm_reference(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(candle_core::D::Minus1)?; // (…, 1)
    let r = (ms + eps)?.sqrt()?.recip()?;
    x.broadcast_mul(&r)?.broadcast_mul(w)
}

struct RmsNorm {
    eps: f64,
}

fn check(l1: &Layout, l2: &Layout, op: &'static str) -> Result<(usize, usize)> {
    let c = l1.shape().dims().last().copied().unwrap_or(0);
    if l2.shape().dims() != [c] || c == 0 {
        candle_core::bail!("{op}: weight shape {:?} does not match x {:?}", l2.shape(), l1.shape())
    }
    Ok((l1.shape().elem_count() / c, c))
}

fn fwd<T: Elem>(x: &[T], w: &[T], c: usize, eps: f64) -> Vec<T> {
    let mut y = vec![T::zero(); x.len()];
    let eps = T::from(eps).unwrap();
    y.par_chunks_mut(c).zip(x.par_chunks(c)).for_each(|(yr, xr)| {
        let ms = xr.iter().map(|&v| v * v).sum::<T>() / T::from(c).unwrap();
        let r = (ms + eps).sqrt().recip();
        for ((yo, &xv), &wv) in yr.iter_mut().zip(xr).zip(w) {
            *yo = xv * r * wv;
        }
    });
    y
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "thau-rms-norm"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (_, c) = check(l1, l2, self.name())?;
        dispatch_float!(s1, self.name(), |T| {
            let y = fwd::<T>(slice(s1, l1, "rms-norm")?, slice(s2, l2, "rms-norm")?, c, self.eps);
            Ok((T::to_cpu_storage_owned(y), l1.shape().clone()))
        })
    }
    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = x.elem_count();
        let c = w.elem_count();
        let packed = x.apply_op3_no_bwd(w, &dy.contiguous()?, &RmsNormBwd { eps: self.eps })?;
        let dx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
        let dw = packed.narrow(0, n, c)?;
        Ok((Some(dx), Some(dw)))
    }
}

/// Backward kernel: inputs (x, w, dy), output packed [dx (N·C) | dw (C)].
struct RmsNormBwd {
    eps: f64,
}

fn bwd<T: Elem>(x: &[T], w: &[T], dy: &[T], c: usize, eps: f64) -> Vec<T> {
    let rows = x.len() / c;
    let mut out = vec![T::zero(); x.len() + c];
    let (dx, dw) = out.split_at_mut(x.len());
    let eps = T::from(eps).unwrap();
    let cf = T::from(c).unwrap();
    let chunk = rows_per_chunk(rows) * c;
    // Each fixed chunk of rows writes its dx rows and returns its partial dw.
    let partials: Vec<Vec<T>> = dx
        .par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .zip(dy.par_chunks(chunk))
        .map(|((dxc, xc), dyc)| {
            let mut dwp = vec![T::zero(); c];
            for ((dxr, xr), dyr) in dxc.chunks_mut(c).zip(xc.chunks(c)).zip(dyc.chunks(c)) {
                let ms = xr.iter().map(|&v| v * v).sum::<T>() / cf;
                let r = (ms + eps).sqrt().recip();
                let mut dot = T::zero(); // Σ g·x̂
                for i in 0..c {
                    let xh = xr[i] * r;
                    dot += dyr[i] * w[i] * xh;
                    dwp[i] += dyr[i] * xh;
                }
                let mean = dot / cf;
                for i in 0..c {
                    dxr[i] = r * (dyr[i] * w[i] - xr[i] * r * mean);
                }
            }
            dwp
        })
        .collect();
    for p in partials {
        for (a, b) in dw.iter_mut().zip(p) {
            *a += b;
        }
    }
    out
}

impl CustomOp3 for RmsNormBwd {
    fn name(&self) -> &'static str {
        "thau-rms-norm-bwd"
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
        let (_, c) = check(l1, l2, self.name())?;
        dispatch_float!(s1, self.name(), |T| {
            let n = l1.shape().elem_count();
            let out = bwd::<T>(
                slice(s1, l1, "rms-norm-bwd")?,
                slice(s2, l2, "rms-norm-bwd")?,
                slice(s3, l3, "rms-norm-bwd")?,
                c,
                self.eps,
            );
            Ok((T::to_cpu_storage_owned(out), Shape::from(n + c)))
        })
    }
}
