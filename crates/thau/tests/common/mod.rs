//! Shared test harness: finite-difference gradient checks (f64) and fused-vs-reference
//! comparisons for ops with a backward pass.

#![allow(dead_code)]

pub mod foreign_gguf;

use candle_core::{DType, Device, Tensor, Var};
use rand::{rngs::StdRng, Rng, SeedableRng};

pub fn randn(rng: &mut StdRng, shape: &[usize], scale: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| (rng.gen::<f64>() * 2.0 - 1.0) * scale).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

pub fn objective(out: &Tensor, r: &Tensor) -> Tensor {
    (out * r).unwrap().sum_all().unwrap()
}

/// Central differences on every input element vs the analytic gradient (f64).
pub fn check_op(name: &str, inputs: Vec<Tensor>, f: &dyn Fn(&[Tensor]) -> Tensor) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&ts);
    let mut rng = StdRng::seed_from_u64(99);
    let r = randn(&mut rng, out.dims(), 1.0);
    let grads = objective(&out, &r).backward().unwrap();
    let eps = 1e-6;
    for (i, var) in vars.iter().enumerate() {
        let analytic = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{name}: input {i} got no gradient"));
        assert_eq!(analytic.dims(), var.as_tensor().dims(), "{name}: gradient {i} shape");
        let analytic = analytic.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let base = var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let mut worst = 0.0f64;
        for j in 0..base.len() {
            let eval = |delta: f64| {
                let mut x = base.clone();
                x[j] += delta;
                let xs: Vec<Tensor> =
                    ts.iter()
                        .enumerate()
                        .map(|(k, t)| {
                            if k == i {
                                Tensor::from_vec(x.clone(), t.shape(), &Device::Cpu).unwrap()
                            } else {
                                t.clone()
                            }
                        })
                        .collect();
                objective(&f(&xs), &r).to_scalar::<f64>().unwrap()
            };
            let numeric = (eval(eps) - eval(-eps)) / (2.0 * eps);
            worst = worst.max((numeric - analytic[j]).abs() / (1.0 + numeric.abs()));
        }
        assert!(worst < 1e-6, "{name}: input {i} worst relative gradient error {worst:e}");
    }
}

/// Output and gradients of `fused` vs `reference`, relative tolerance `tol`.
pub fn check_against_reference(
    name: &str,
    inputs: Vec<Tensor>,
    fused: &dyn Fn(&[Tensor]) -> Tensor,
    reference: &dyn Fn(&[Tensor]) -> Tensor,
    tol: f64,
) {
    let run = |f: &dyn Fn(&[Tensor]) -> Tensor| {
        let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let out = f(&ts);
        let mut rng = StdRng::seed_from_u64(5);
        let r = randn(&mut rng, out.dims(), 1.0).to_dtype(out.dtype()).unwrap();
        let g = objective(&out, &r).backward().unwrap();
        let grads: Vec<Vec<f64>> = vars
            .iter()
            .map(|v| {
                g.get(v.as_tensor()).unwrap().to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap()
            })
            .collect();
        (out.dims().to_vec(), out.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap(), grads)
    };
    let (d1, o1, g1) = run(fused);
    let (d2, o2, g2) = run(reference);
    assert_eq!(d1, d2, "{name}: output shape");
    let close = |a: &[f64], b: &[f64], what: &str| {
        assert_eq!(a.len(), b.len());
        let bmax = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol * (1.0 + bmax), "{name} {what}: {x} vs {y}");
        }
    };
    close(&o1, &o2, "output");
    for (i, (a, b)) in g1.iter().zip(&g2).enumerate() {
        close(a, b, &format!("grad of input {i}"));
    }
}
