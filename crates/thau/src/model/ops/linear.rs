//! Linear layer without bias, fused on CPU over the packed AVX-512 GEMM in [`super::gemm`].
//!
//! y = x · wᵀ with x (…, K), w (M, K) (PyTorch/HF layout) → y (…, M). Flattening x to
//! (N, K) and dy to (N, M), the backward is dx = dy · w and dw = dyᵀ · x.

use super::gemm::{gemm_nn_new, gemm_nt_new, gemm_tn_new, Precision};
use super::kernel::{dispatch_float, slice};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, WithDType};

/// x (…, K) · wᵀ with w (M, K) → (…, M), with a backward pass. f32 products use the precision
/// chosen by `THAU_MATMUL` (see [`Precision::from_env`]); f64 always runs in f64.
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    linear_with(x, w, Precision::from_env())
}

/// [`linear`] with an explicit precision for the f32 products (forward and both gradients).
pub fn linear_with(x: &Tensor, w: &Tensor, precision: Precision) -> Result<Tensor> {
    check(x.shape(), w.shape())?;
    if !x.device().is_cpu() {
        return linear_reference(x, w);
    }
    x.contiguous()?.apply_op2(&w.contiguous()?, Linear { precision })
}

/// The same function from basic candle ops (autodiff through candle's matmul). Used as the
/// reference in tests and as the path on non-CPU devices.
pub fn linear_reference(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    check(x.shape(), w.shape())?;
    x.broadcast_matmul(&w.t()?)
}

/// (N, K, M) of a product, or an error for mismatched shapes.
fn check(x: &Shape, w: &Shape) -> Result<(usize, usize, usize)> {
    let (m, k) = w.dims2()?;
    let xk = x.dims().last().copied();
    if x.rank() < 1 || xk != Some(k) {
        candle_core::bail!("linear: x {:?} does not end in K = {k} of w {:?}", x.dims(), w.dims())
    }
    Ok((x.elem_count() / k.max(1), k, m))
}

/// The output shape: x's with the last dimension replaced by `m`.
fn out_shape(x: &Shape, m: usize) -> Shape {
    let mut d = x.dims().to_vec();
    *d.last_mut().expect("rank checked") = m;
    Shape::from(d)
}

struct Linear {
    precision: Precision,
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "thau-linear"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, k, m) = check(l1.shape(), l2.shape())?;
        dispatch_float!(s1, self.name(), |T| {
            let y = gemm_nt_new::<T>(slice(s1, l1, "linear")?, slice(s2, l2, "linear")?, n, k, m, self.precision);
            Ok((T::to_cpu_storage_owned(y), out_shape(l1.shape(), m)))
        })
    }
    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dx = dy.apply_op2_no_bwd(w, &LinearGradX { precision: self.precision })?;
        let dw = dy.apply_op2_no_bwd(x, &LinearGradW { precision: self.precision })?;
        Ok((Some(dx), Some(dw)))
    }
}

/// dx = dy · w. Inputs (dy (…, M), w (M, K)) → (…, K).
struct LinearGradX {
    precision: Precision,
}

impl CustomOp2 for LinearGradX {
    fn name(&self) -> &'static str {
        "thau-linear-grad-x"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (m, k) = l2.shape().dims2()?;
        if l1.shape().dims().last().copied() != Some(m) {
            candle_core::bail!("linear-grad-x: dy {:?} does not end in M of w {:?}", l1.shape(), l2.shape())
        }
        let n = l1.shape().elem_count() / m.max(1);
        dispatch_float!(s1, self.name(), |T| {
            let dx = gemm_nn_new::<T>(
                slice(s1, l1, "linear-grad-x")?,
                slice(s2, l2, "linear-grad-x")?,
                n,
                m,
                k,
                self.precision,
            );
            Ok((T::to_cpu_storage_owned(dx), out_shape(l1.shape(), k)))
        })
    }
}

/// dw = dyᵀ · x. Inputs (dy (…, M), x (…, K)) → (M, K).
struct LinearGradW {
    precision: Precision,
}

impl CustomOp2 for LinearGradW {
    fn name(&self) -> &'static str {
        "thau-linear-grad-w"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let m = l1.shape().dims().last().copied().unwrap_or(0);
        let k = l2.shape().dims().last().copied().unwrap_or(0);
        let n = l1.shape().elem_count() / m.max(1);
        if m == 0 || k == 0 || l2.shape().elem_count() != n * k {
            candle_core::bail!("linear-grad-w: dy {:?} and x {:?} disagree", l1.shape(), l2.shape())
        }
        dispatch_float!(s1, self.name(), |T| {
            let dw = gemm_tn_new::<T>(
                slice(s1, l1, "linear-grad-w")?,
                slice(s2, l2, "linear-grad-w")?,
                n,
                m,
                k,
                self.precision,
            );
            Ok((T::to_cpu_storage_owned(dw), Shape::from((m, k))))
        })
    }
}
