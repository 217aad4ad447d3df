//! Mean token cross-entropy from logits, fused on CPU (log-softmax never materialised).
//!
//! loss = (1/N') Σ_valid [logsumexp(z_n) − z_n[t_n]], over rows whose target is not
//! [`IGNORE`] (N' of them). Backward: dz_n = g/N' · (softmax(z_n) − onehot(t_n)), zero on
//! ignored rows.
//!
//! When the logits require a gradient, the forward pass writes softmax − onehot into a buffer
//! while it has the exponentials at hand, and the backward only scales it: one pass of `exp`
//! over the (N, V) logits instead of two.

use super::kernel::{dispatch_float, rows_per_chunk, slice, Elem};
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor, WithDType};
use num_traits::{Float, Zero};
use rayon::prelude::*;
use std::sync::Mutex;

/// Target id that contributes no loss and no gradient (prompt tokens in fine-tuning, padding).
pub const IGNORE: u32 = u32::MAX;

fn check_targets(logits: &Tensor, targets: &Tensor) -> Result<()> {
    let (n, _) = logits.dims2()?;
    if targets.dims() != [n] || targets.dtype() != DType::U32 {
        candle_core::bail!("cross_entropy: targets must be u32 ({n}), got {:?} {:?}", targets.dtype(), targets.dims())
    }
    Ok(())
}

/// Mean cross-entropy. `logits`: (N, V) float, `targets`: (N) u32. Returns a scalar.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check_targets(logits, targets)?;
    if !logits.device().is_cpu() {
        return cross_entropy_reference(logits, targets);
    }
    let op =
        CrossEntropy { scale: None, keep_grad: logits.is_variable() || logits.track_op(), saved: Mutex::new(None) };
    logits.contiguous()?.apply_op2(&targets.contiguous()?, op)
}

/// [`cross_entropy`] for evaluation: never prepares a gradient (saves an N×V buffer).
pub fn cross_entropy_eval(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check_targets(logits, targets)?;
    if !logits.device().is_cpu() {
        return cross_entropy_reference(&logits.detach(), targets);
    }
    let op = CrossEntropy { scale: None, keep_grad: false, saved: Mutex::new(None) };
    logits.detach().contiguous()?.apply_op2_no_bwd(&targets.contiguous()?, &op)
}

/// Reference from basic ops (also the non-CPU path), with the same [`IGNORE`] rule.
pub fn cross_entropy_reference(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let t = targets.to_vec1::<u32>()?;
    let valid = t.iter().filter(|&&x| x != IGNORE).count();
    let mask: Vec<f32> = t.iter().map(|&x| if x == IGNORE { 0.0 } else { 1.0 }).collect();
    let safe: Vec<u32> = t.iter().map(|&x| if x == IGNORE { 0 } else { x }).collect();
    let dev = logits.device();
    let mask = Tensor::from_vec(mask, (t.len(), 1), dev)?.to_dtype(logits.dtype())?;
    let safe = Tensor::from_vec(safe, (t.len(), 1), dev)?;
    let max = logits.max_keepdim(1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(1)?.log()?; // (N, 1)
    let picked = shifted.gather(&safe, 1)?; // (N, 1)
    ((lse - picked)? * mask)?.sum_all()? / valid.max(1) as f64
}

/// `scale: None` = forward (loss); `Some(g)` = backward (dlogits for upstream gradient g).
struct CrossEntropy {
    scale: Option<f64>,
    /// Forward also computes (softmax − onehot)/N' into `saved` for the backward.
    keep_grad: bool,
    saved: Mutex<Option<CpuStorage>>,
}

/// Write `scale · (softmax(row) − onehot(target))` into `g`; returns the row's loss
/// `logsumexp(row) − row[target]`. One pass of `exp` serves both.
fn row_grad<T: Elem>(row: &[T], target: u32, scale: T, g: &mut [T]) -> T {
    let max = row.iter().fold(T::neg_infinity(), |m, &x| Float::max(m, x));
    let mut sum = T::zero();
    for (gi, &x) in g.iter_mut().zip(row) {
        *gi = (x - max).exp();
        sum += *gi;
    }
    let k = scale / sum;
    g.iter_mut().for_each(|x| *x *= k);
    g[target as usize] -= scale;
    sum.ln() + max - row[target as usize]
}

/// The row's loss `logsumexp(row) − row[target]` alone.
fn row_loss<T: Elem>(row: &[T], target: u32) -> T {
    let max = row.iter().fold(T::neg_infinity(), |m, &x| Float::max(m, x));
    row.iter().map(|&x| (x - max).exp()).sum::<T>().ln() + max - row[target as usize]
}

/// Rows whose target is not [`IGNORE`], after checking every target is inside the vocab.
fn valid_rows(t: &[u32], v: usize) -> Result<usize> {
    if let Some(&bad) = t.iter().find(|&&x| x != IGNORE && x as usize >= v) {
        candle_core::bail!("cross_entropy: target {bad} out of range for vocab {v}")
    }
    Ok(t.iter().filter(|&&x| x != IGNORE).count())
}

/// Mean loss, and with `grad` the gradient (softmax − onehot)/N' of every row (zero on
/// ignored rows). Partial sums over fixed row chunks keep the result thread-count independent.
fn forward<T: Elem>(z: &[T], t: &[u32], v: usize, grad: Option<&mut [T]>) -> Result<T> {
    let valid = valid_rows(t, v)?;
    let inv_valid = T::from(1.0 / valid.max(1) as f64).unwrap();
    let chunk = rows_per_chunk(t.len());
    let partial: Vec<T> = match grad {
        None => z
            .par_chunks(chunk * v)
            .zip(t.par_chunks(chunk))
            .map(|(zc, tc)| zc.chunks(v).zip(tc).filter(|(_, &t)| t != IGNORE).map(|(row, &t)| row_loss(row, t)).sum())
            .collect(),
        Some(grad) => grad
            .par_chunks_mut(chunk * v)
            .zip(z.par_chunks(chunk * v))
            .zip(t.par_chunks(chunk))
            .map(|((gc, zc), tc)| {
                let mut sum = T::zero();
                for ((g, row), &target) in gc.chunks_mut(v).zip(zc.chunks(v)).zip(tc) {
                    if target == IGNORE {
                        g.iter_mut().for_each(|x| *x = T::zero());
                    } else {
                        sum += row_grad(row, target, inv_valid, g);
                    }
                }
                sum
            })
            .collect(),
    };
    let sum = partial.into_iter().fold(T::zero(), |s, p| s + p);
    Ok(if valid == 0 { T::zero() } else { sum * inv_valid })
}

/// Gradient of the mean loss times the upstream gradient `g` (used when the forward's saved
/// buffer is gone, e.g. a second backward over the same graph).
fn backward<T: Elem>(z: &[T], t: &[u32], v: usize, g: f64) -> Result<Vec<T>> {
    let valid = valid_rows(t, v)?.max(1);
    let scale = T::from(g / valid as f64).unwrap();
    let mut dz = vec![T::zero(); z.len()];
    dz.par_chunks_mut(v).zip(z.par_chunks(v)).zip(t.par_iter()).for_each(|((d, row), &target)| {
        if target != IGNORE {
            row_grad(row, target, scale, d);
        }
    });
    Ok(dz)
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "thau-cross-entropy"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (_, v) = l1.shape().dims2()?;
        let t: &[u32] = slice(s2, l2, "cross-entropy")?;
        dispatch_float!(s1, self.name(), |T| {
            let z: &[T] = slice(s1, l1, "cross-entropy")?;
            match self.scale {
                None if self.keep_grad => {
                    let mut g = vec![T::zero(); z.len()];
                    let loss = forward(z, t, v, Some(&mut g))?;
                    *self.saved.lock().expect("cross-entropy buffer lock") = Some(T::to_cpu_storage_owned(g));
                    Ok((T::to_cpu_storage_owned(vec![loss]), Shape::from(())))
                }
                None => Ok((T::to_cpu_storage_owned(vec![forward(z, t, v, None)?]), Shape::from(()))),
                Some(g) => Ok((T::to_cpu_storage_owned(backward(z, t, v, g)?), l1.shape().clone())),
            }
        })
    }
    fn bwd(&self, z: &Tensor, t: &Tensor, _res: &Tensor, dloss: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = dloss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        if let Some(saved) = self.saved.lock().expect("cross-entropy buffer lock").take() {
            // The forward already holds (softmax − onehot)/N'; scale by the upstream gradient.
            let grad = match saved {
                CpuStorage::F32(v) => Tensor::from_vec(v, z.shape(), z.device())?,
                CpuStorage::F64(v) => Tensor::from_vec(v, z.shape(), z.device())?,
                other => candle_core::bail!(
                    "cross_entropy: unexpected saved dtype {:?}",
                    candle_core::backend::BackendStorage::dtype(&other)
                ),
            };
            return Ok((Some(if g == 1.0 { grad } else { (grad * g)? }), None));
        }
        let op = CrossEntropy { scale: Some(g), keep_grad: false, saved: Mutex::new(None) };
        Ok((Some(z.apply_op2_no_bwd(t, &op)?), None))
    }
}
