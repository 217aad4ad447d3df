//! AdamW (Loshchilov & Hutter 2019, decoupled weight decay) as one fused pass per parameter,
//! parallel over chunks. Moments live in plain `Vec<f32>` so they save and load exactly.

use crate::error::{Error, Result};
use candle_core::{Tensor, Var};
use rayon::prelude::*;
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
}

const CHUNK: usize = 1 << 14;

/// Read a contiguous f32 tensor as a Vec.
pub(crate) fn to_vec_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

impl AdamW {
    pub fn new(params: AdamWParams, vars: &[(String, &Var)]) -> Self {
        let names = vars.iter().map(|(n, _)| n.clone()).collect();
        let zeros: Vec<Vec<f32>> = vars.iter().map(|(_, v)| vec![0.0; v.elem_count()]).collect();
        Self { params, names, m: zeros.clone(), v: zeros }
    }

    /// One update at 1-based step `t` with learning rate `lr`. `grads[i]` is the (already
    /// clipped) gradient of `vars[i]`; `decay[i]` says whether weight decay applies.
    pub fn step(&mut self, vars: &[(String, &Var)], grads: &[Vec<f32>], decay: &[bool], lr: f64, t: u64) -> Result<()> {
        let p = self.params;
        let bc1 = 1.0 - p.beta1.powi(t as i32);
        let bc2 = 1.0 - p.beta2.powi(t as i32);
        let (b1, b2, eps) = (p.beta1 as f32, p.beta2 as f32, p.eps as f32);
        let step_size = (lr / bc1) as f32;
        let inv_sqrt_bc2 = (1.0 / bc2.sqrt()) as f32;
        for (i, (_, var)) in vars.iter().enumerate() {
            let mut w = to_vec_f32(var.as_tensor())?;
            let wd = if decay[i] { (1.0 - lr * p.weight_decay) as f32 } else { 1.0 };
            let g = &grads[i];
            w.par_chunks_mut(CHUNK)
                .zip(self.m[i].par_chunks_mut(CHUNK))
                .zip(self.v[i].par_chunks_mut(CHUNK))
                .zip(g.par_chunks(CHUNK))
                .for_each(|(((w, m), v), g)| {
                    for j in 0..w.len() {
                        m[j] = b1 * m[j] + (1.0 - b1) * g[j];
                        v[j] = b2 * v[j] + (1.0 - b2) * g[j] * g[j];
                        let denom = v[j].sqrt() * inv_sqrt_bc2 + eps;
                        w[j] = w[j] * wd - step_size * m[j] / denom;
                    }
                });
            var.set(&Tensor::from_vec(w, var.shape(), var.device())?)?;
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
                    Error::corrupt(source, format!("optimizer tensor {key} is missing"), "delete this step folder to resume from the previous checkpoint")
                })?;
                let data = to_vec_f32(&t)?;
                if data.len() != slot.len() {
                    return Err(Error::corrupt(source, format!("optimizer tensor {key} has {} values, expected {}", data.len(), slot.len()), "delete this step folder"));
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
            opt.step(&vars, &[g.clone()], &[true], lr, t).unwrap();
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
