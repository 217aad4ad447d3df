//! AdamW (Loshchilov & Hutter 2019, decoupled weight decay) as one fused pass per parameter,
//! parallel over chunks. Moments live in plain `Vec<f32>` so they save and load exactly.

use crate::error::{Error, Result};
use candle_core::{CpuStorage, InplaceOp1, Layout, Storage, Tensor, Var};
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
pub struct AdamWParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// First and second moments of every parameter, in the model's `named_vars` order.
pub struct AdamW {
    pub params: AdamWParams,
    names: Vec<String>,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    /// Steps the moments had already taken before step 1 of this optimizer (moments carried
    /// over by growth): bias correction uses `t + step_offset`.
    pub step_offset: u64,
}

const CHUNK: usize = 1 << 14;

/// Read a contiguous f32 tensor as a Vec.
pub(crate) fn to_vec_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// Run `f` on the f32 values of `t` without copying them when `t` is a contiguous CPU tensor
/// (a copy otherwise).
pub fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    {
        let (storage, layout) = t.storage_and_layout();
        if let (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) = (&*storage, layout.contiguous_offsets()) {
            return Ok(f(&v[a..b]));
        }
    }
    Ok(f(&to_vec_f32(t)?))
}

/// The fused update of one parameter, applied in place to the weight's own storage.
struct Update<'a> {
    g: &'a [f32],
    m: RefCell<&'a mut [f32]>,
    v: RefCell<&'a mut [f32]>,
    c: Coeffs,
}

/// The scalars of one update (Copy, so the parallel workers share them freely).
#[derive(Clone, Copy)]
struct Coeffs {
    /// Multiplier on the gradient (global-norm clipping).
    g_scale: f32,
    b1: f32,
    b2: f32,
    eps: f32,
    step_size: f32,
    inv_sqrt_bc2: f32,
    decay: f32,
}

impl Update<'_> {
    fn apply(&self, w: &mut [f32]) {
        let (mut m, mut v) = (self.m.borrow_mut(), self.v.borrow_mut());
        let u = self.c;
        w.par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(self.g.par_chunks(CHUNK))
            .for_each(|(((w, m), v), g)| {
                for j in 0..w.len() {
                    let gj = g[j] * u.g_scale;
                    m[j] = u.b1 * m[j] + (1.0 - u.b1) * gj;
                    v[j] = u.b2 * v[j] + (1.0 - u.b2) * gj * gj;
                    let denom = v[j].sqrt() * u.inv_sqrt_bc2 + u.eps;
                    w[j] = w[j] * u.decay - u.step_size * m[j] / denom;
                }
            });
    }
}

impl InplaceOp1 for Update<'_> {
    fn name(&self) -> &'static str {
        "thau-adamw"
    }
    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        match (storage, layout.contiguous_offsets()) {
            (CpuStorage::F32(w), Some((a, b))) if b - a == self.g.len() => {
                self.apply(&mut w[a..b]);
                Ok(())
            }
            _ => candle_core::bail!("adamw: parameters must be contiguous f32 of the gradient's size"),
        }
    }
}

impl AdamW {
    pub fn new(params: AdamWParams, vars: &[(String, &Var)]) -> Self {
        let names = vars.iter().map(|(n, _)| n.clone()).collect();
        let zeros: Vec<Vec<f32>> = vars.iter().map(|(_, v)| vec![0.0; v.elem_count()]).collect();
        Self { params, names, m: zeros.clone(), v: zeros, step_offset: 0 }
    }

    /// One update at 1-based step `t` with learning rate `lr`. `grads[i]` is the gradient of
    /// `vars[i]`, multiplied by `g_scale` (global-norm clipping) as it is read; `decay[i]`
    /// says whether weight decay applies. On CPU the weights are updated in place.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        vars: &[(String, &Var)],
        grads: &[Tensor],
        g_scale: f32,
        decay: &[bool],
        lr: f64,
        t: u64,
    ) -> Result<()> {
        let p = self.params;
        let t = (t + self.step_offset).min(i32::MAX as u64) as i32;
        let bc1 = 1.0 - p.beta1.powi(t);
        let bc2 = 1.0 - p.beta2.powi(t);
        for (i, (name, var)) in vars.iter().enumerate() {
            if grads[i].elem_count() != var.elem_count() {
                return Err(Error::invalid(
                    "gradient",
                    format!("{name}: {} values for {} parameters", grads[i].elem_count(), var.elem_count()),
                ));
            }
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            with_f32(&grads[i], |g| -> Result<()> {
                let up = Update {
                    g,
                    m: RefCell::new(m),
                    v: RefCell::new(v),
                    c: Coeffs {
                        g_scale,
                        b1: p.beta1 as f32,
                        b2: p.beta2 as f32,
                        eps: p.eps as f32,
                        step_size: (lr / bc1) as f32,
                        inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
                        decay: if decay[i] { (1.0 - lr * p.weight_decay) as f32 } else { 1.0 },
                    },
                };
                if var.device().is_cpu() && var.dtype() == candle_core::DType::F32 && var.is_contiguous() {
                    var.as_tensor().inplace_op1(&up)?;
                } else {
                    let mut w = to_vec_f32(var.as_tensor())?;
                    up.apply(&mut w);
                    var.set(&Tensor::from_vec(w, var.shape(), var.device())?)?;
                }
                Ok(())
            })??;
        }
        Ok(())
    }

    /// Moments as named tensors (`m.<param>`, `v.<param>`) for the checkpoint.
    pub fn state_tensors(&self, vars: &[(String, &Var)]) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(2 * vars.len());
        for (i, (name, var)) in vars.iter().enumerate() {
            out.push((format!("m.{name}"), Tensor::from_slice(&self.m[i], var.shape(), var.device())?));
            out.push((format!("v.{name}"), Tensor::from_slice(&self.v[i], var.shape(), var.device())?));
        }
        Ok(out)
    }

    /// Restore moments saved by [`state_tensors`]; every parameter must be present.
    pub fn load_state(&mut self, mut tensors: HashMap<String, Tensor>, source: &std::path::Path) -> Result<()> {
        for (i, name) in self.names.iter().enumerate() {
            for (prefix, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}.{name}");
                let t = tensors.remove(&key).ok_or_else(|| {
                    Error::corrupt(
                        source,
                        format!("optimizer tensor {key} is missing"),
                        "delete this step folder to resume from the previous checkpoint",
                    )
                })?;
                let data = to_vec_f32(&t)?;
                if data.len() != slot.len() {
                    return Err(Error::corrupt(
                        source,
                        format!("optimizer tensor {key} has {} values, expected {}", data.len(), slot.len()),
                        "delete this step folder",
                    ));
                }
                *slot = data;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Compare against the textbook scalar formula for a few steps.
    #[test]
    fn matches_reference_formula() {
        let var = Var::from_vec(vec![0.5f32, -1.0, 2.0], 3, &Device::Cpu).unwrap();
        let vars = vec![("w".to_string(), &var)];
        let p = AdamWParams { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 };
        let mut opt = AdamW::new(p, &vars);
        let (mut w, mut m, mut v) = ([0.5f64, -1.0, 2.0], [0.0f64; 3], [0.0f64; 3]);
        for t in 1..=5u64 {
            let g: Vec<f32> = w.iter().map(|x| (2.0 * x + 0.3) as f32).collect();
            let lr = 0.01;
            let gt = Tensor::from_slice(&g, 3, &Device::Cpu).unwrap();
            opt.step(&vars, &[gt], 1.0, &[true], lr, t).unwrap();
            for j in 0..3 {
                let gj = g[j] as f64;
                m[j] = 0.9 * m[j] + 0.1 * gj;
                v[j] = 0.95 * v[j] + 0.05 * gj * gj;
                let mh = m[j] / (1.0 - 0.9f64.powi(t as i32));
                let vh = v[j] / (1.0 - 0.95f64.powi(t as i32));
                w[j] = w[j] * (1.0 - lr * 0.1) - lr * mh / (vh.sqrt() + 1e-8);
            }
        }
        let got = var.as_tensor().to_vec1::<f32>().unwrap();
        for j in 0..3 {
            assert!((got[j] as f64 - w[j]).abs() < 1e-5, "{got:?} vs {w:?}");
        }
    }
}
