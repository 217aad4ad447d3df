//! Rotary position embedding (Su et al. 2021, RoFormer) in the "rotate-half" layout that
//! Hugging Face's Llama uses: dimension i is paired with i + D/2.
//!
//! For position p and pair i (θ_i = base^(−2i/D)):
//!   y_i = x_i cos(pθ_i) − x_{i+D/2} sin(pθ_i),   y_{i+D/2} = x_{i+D/2} cos(pθ_i) + x_i sin(pθ_i).
//! The backward is the inverse rotation (sin → −sin).

use super::kernel::{dispatch_float, slice, Elem};
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;
use std::sync::Arc;

/// cos/sin tables for positions 0..max_len, each (max_len, D/2), computed in f64.
#[derive(Debug, Clone)]
pub struct RopeTables {
    pub head_dim: usize,
    pub max_len: usize,
    pub base: f64,
    cos: Arc<Vec<f64>>,
    sin: Arc<Vec<f64>>,
}

impl RopeTables {
    pub fn new(head_dim: usize, max_len: usize, base: f64) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(max_len * half);
        let mut sin = Vec::with_capacity(max_len * half);
        for p in 0..max_len {
            for i in 0..half {
                let theta = base.powf(-2.0 * i as f64 / head_dim as f64);
                let a = p as f64 * theta;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        Self { head_dim, max_len, base, cos: Arc::new(cos), sin: Arc::new(sin) }
    }

    /// Tables as tensors (T, D/2) starting at position `pos0`, for the reference path.
    pub fn tensors(&self, pos0: usize, t: usize, dtype: DType, dev: &candle_core::Device) -> Result<(Tensor, Tensor)> {
        let half = self.head_dim / 2;
        let cos = Tensor::from_slice(&self.cos[pos0 * half..(pos0 + t) * half], (t, half), dev)?.to_dtype(dtype)?;
        let sin = Tensor::from_slice(&self.sin[pos0 * half..(pos0 + t) * half], (t, half), dev)?.to_dtype(dtype)?;
        Ok((cos, sin))
    }
}

/// Apply RoPE to `x`: (B, T, H, D), positions pos0..pos0+T.
pub fn rope(x: &Tensor, tables: &RopeTables, pos0: usize) -> Result<Tensor> {
    let (_, t, _, d) = x.dims4()?;
    if d != tables.head_dim || pos0 + t > tables.max_len {
        candle_core::bail!(
            "rope: head_dim {d} / positions {pos0}..{} do not fit tables (D={}, max_len={})",
            pos0 + t,
            tables.head_dim,
            tables.max_len
        )
    }
    if !x.device().is_cpu() {
        return rope_reference(x, tables, pos0);
    }
    x.contiguous()?.apply_op1(Rope { tables: tables.clone(), pos0, inverse: false })
}

/// Reference from basic ops (also the non-CPU path).
pub fn rope_reference(x: &Tensor, tables: &RopeTables, pos0: usize) -> Result<Tensor> {
    let (_, t, _, d) = x.dims4()?;
    let half = d / 2;
    let (cos, sin) = tables.tensors(pos0, t, x.dtype(), x.device())?; // (T, D/2)
    let cos = cos.unsqueeze(1)?; // (T, 1, D/2)
    let sin = sin.unsqueeze(1)?;
    let x1 = x.narrow(3, 0, half)?; // (B, T, H, D/2)
    let x2 = x.narrow(3, half, half)?;
    let y1 = (x1.broadcast_mul(&cos)? - x2.broadcast_mul(&sin)?)?;
    let y2 = (x2.broadcast_mul(&cos)? + x1.broadcast_mul(&sin)?)?;
    Tensor::cat(&[y1, y2], 3)
}

struct Rope {
    tables: RopeTables,
    pos0: usize,
    inverse: bool,
}

fn apply<T: Elem>(x: &[T], dims: (usize, usize, usize, usize), tb: &RopeTables, pos0: usize, inverse: bool) -> Vec<T> {
    let (_, t, h, d) = dims;
    let half = d / 2;
    let mut y = vec![T::zero(); x.len()];
    let sign = if inverse { -T::one() } else { T::one() };
    // One (b, t) row of H·D values per task: all heads share that position's angles.
    y.par_chunks_mut(h * d).zip(x.par_chunks(h * d)).enumerate().for_each(|(row, (yr, xr))| {
        let p = pos0 + row % t;
        let cos = &tb.cos[p * half..(p + 1) * half];
        let sin = &tb.sin[p * half..(p + 1) * half];
        for (yh, xh) in yr.chunks_mut(d).zip(xr.chunks(d)) {
            for i in 0..half {
                let (c, s) = (T::from(cos[i]).unwrap(), sign * T::from(sin[i]).unwrap());
                let (a, b) = (xh[i], xh[i + half]);
                yh[i] = a * c - b * s;
                yh[i + half] = b * c + a * s;
            }
        }
    });
    y
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "thau-rope"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = l.shape().dims4()?;
        dispatch_float!(s, self.name(), |T| {
            let y = apply::<T>(slice(s, l, "rope")?, dims, &self.tables, self.pos0, self.inverse);
            Ok((T::to_cpu_storage_owned(y), l.shape().clone()))
        })
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let inv = Rope { tables: self.tables.clone(), pos0: self.pos0, inverse: !self.inverse };
        Ok(Some(dy.contiguous()?.apply_op1_no_bwd(&inv)?))
    }
}
