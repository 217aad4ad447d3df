//! Finite-difference gradient checks in f64 for every fused op and for a whole tiny model,
//! plus fused-vs-reference comparisons of forward values and gradients.

use candle_core::{DType, Device, Tensor, Var};
use rand::{rngs::StdRng, Rng, SeedableRng};
use thau::model::ops::{self, RopeTables};
use thau::model::{Llama, ModelConfig};

use crate::common;
use common::{check_against_reference, check_op, randn};

#[test]
fn rms_norm_gradients() {
    let mut rng = StdRng::seed_from_u64(1);
    let x = randn(&mut rng, &[3, 5, 8], 2.0);
    let w = (randn(&mut rng, &[8], 0.5) + 1.0).unwrap();
    let f = |t: &[Tensor]| ops::rms_norm(&t[0], &t[1], 1e-5).unwrap();
    check_op("rms_norm", vec![x.clone(), w.clone()], &f);
    let r = |t: &[Tensor]| ops::rms_norm_reference(&t[0], &t[1], 1e-5).unwrap();
    check_against_reference("rms_norm f64", vec![x.clone(), w.clone()], &f, &r, 1e-12);
    let (x, w) = (x.to_dtype(DType::F32).unwrap(), w.to_dtype(DType::F32).unwrap());
    check_against_reference("rms_norm f32", vec![x, w], &f, &r, 1e-5);
}

#[test]
fn rope_gradients() {
    let mut rng = StdRng::seed_from_u64(2);
    let tables = RopeTables::new(8, 32, 10_000.0);
    let x = randn(&mut rng, &[2, 5, 3, 8], 1.0);
    for pos0 in [0, 7] {
        let tb = tables.clone();
        let f = move |t: &[Tensor]| ops::rope(&t[0], &tb, pos0).unwrap();
        check_op("rope", vec![x.clone()], &f);
        let tb = tables.clone();
        let r = move |t: &[Tensor]| ops::rope_reference(&t[0], &tb, pos0).unwrap();
        check_against_reference("rope", vec![x.clone()], &f, &r, 1e-12);
    }
}

#[test]
fn attention_gradients_gqa() {
    let mut rng = StdRng::seed_from_u64(3);
    // B=2, T=7, H=4, KV=2, D=6: exercises GQA grouping and the causal mask.
    let q = randn(&mut rng, &[2, 7, 4, 6], 1.0);
    let k = randn(&mut rng, &[2, 7, 2, 6], 1.0);
    let v = randn(&mut rng, &[2, 7, 2, 6], 1.0);
    let f = |t: &[Tensor]| ops::causal_attention(&t[0], &t[1], &t[2]).unwrap();
    check_op("attention", vec![q.clone(), k.clone(), v.clone()], &f);
    let r = |t: &[Tensor]| ops::causal_attention_reference(&t[0], &t[1], &t[2]).unwrap();
    check_against_reference("attention f64", vec![q.clone(), k.clone(), v.clone()], &f, &r, 1e-12);
    let f32s: Vec<Tensor> = [q, k, v].iter().map(|t| t.to_dtype(DType::F32).unwrap()).collect();
    check_against_reference("attention f32", f32s, &f, &r, 1e-5);
}

#[test]
fn attention_with_cache_offset_and_multiple_tiles() {
    let mut rng = StdRng::seed_from_u64(4);
    // Tq < Tk: queries at the end of a longer key sequence (KV-cache decoding).
    let q = randn(&mut rng, &[1, 3, 2, 4], 1.0);
    let k = randn(&mut rng, &[1, 9, 1, 4], 1.0);
    let v = randn(&mut rng, &[1, 9, 1, 4], 1.0);
    let f = |t: &[Tensor]| ops::causal_attention(&t[0], &t[1], &t[2]).unwrap();
    check_op("attention offset", vec![q.clone(), k.clone(), v.clone()], &f);
    let r = |t: &[Tensor]| ops::causal_attention_reference(&t[0], &t[1], &t[2]).unwrap();
    check_against_reference("attention offset", vec![q, k, v], &f, &r, 1e-12);
    // T = 150 spans three 64-row tiles (values and gradients vs reference only: FD would be slow).
    let q = randn(&mut rng, &[1, 150, 2, 8], 1.0);
    let k = randn(&mut rng, &[1, 150, 2, 8], 1.0);
    let v = randn(&mut rng, &[1, 150, 2, 8], 1.0);
    check_against_reference("attention tiles", vec![q, k, v], &f, &r, 1e-11);
}

#[test]
fn swiglu_gradients() {
    let mut rng = StdRng::seed_from_u64(5);
    let g = randn(&mut rng, &[4, 9], 3.0);
    let u = randn(&mut rng, &[4, 9], 1.0);
    let f = |t: &[Tensor]| ops::swiglu(&t[0], &t[1]).unwrap();
    check_op("swiglu", vec![g.clone(), u.clone()], &f);
    let r = |t: &[Tensor]| ops::swiglu_reference(&t[0], &t[1]).unwrap();
    check_against_reference("swiglu", vec![g, u], &f, &r, 1e-12);
}

#[test]
fn cross_entropy_gradients_and_ignore() {
    let mut rng = StdRng::seed_from_u64(6);
    let z = randn(&mut rng, &[6, 11], 3.0);
    let t = Tensor::new(&[0u32, 10, 3, 3, 7, 1], &Device::Cpu).unwrap();
    let tt = t.clone();
    let f = move |x: &[Tensor]| ops::cross_entropy(&x[0], &tt).unwrap();
    check_op("cross_entropy", vec![z.clone()], &f);
    let tt = t.clone();
    let r = move |x: &[Tensor]| ops::cross_entropy_reference(&x[0], &tt).unwrap();
    check_against_reference("cross_entropy", vec![z.clone()], &f, &r, 1e-12);
    // Ignored rows contribute neither loss nor gradient.
    let ti = Tensor::new(&[0u32, ops::IGNORE, 3, ops::IGNORE, 7, 1], &Device::Cpu).unwrap();
    let zv = Var::from_tensor(&z).unwrap();
    let loss = ops::cross_entropy(zv.as_tensor(), &ti).unwrap();
    let keep = Tensor::new(&[0u32, 2, 4, 5], &Device::Cpu).unwrap();
    let sub = z.index_select(&keep, 0).unwrap();
    let want = ops::cross_entropy_reference(&sub, &Tensor::new(&[0u32, 3, 7, 1], &Device::Cpu).unwrap()).unwrap();
    assert!((loss.to_scalar::<f64>().unwrap() - want.to_scalar::<f64>().unwrap()).abs() < 1e-12);
    let masked = ops::cross_entropy_reference(&z, &ti).unwrap();
    assert!((masked.to_scalar::<f64>().unwrap() - want.to_scalar::<f64>().unwrap()).abs() < 1e-12);
    let g = loss.backward().unwrap().get(zv.as_tensor()).unwrap().to_vec2::<f64>().unwrap();
    assert!(g[1].iter().chain(g[3].iter()).all(|&x| x == 0.0));
    // A second backward over the same graph recomputes the gradient (the forward's saved
    // buffer is used once): both must agree.
    let zv = Var::from_tensor(&z).unwrap();
    let loss = (ops::cross_entropy(zv.as_tensor(), &t).unwrap() * 3.0).unwrap();
    let first = loss.backward().unwrap().get(zv.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let second = loss.backward().unwrap().get(zv.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    for (a, b) in first.iter().zip(&second) {
        assert!((a - b).abs() < 1e-14, "{a} vs {b}");
    }
    // Out-of-range targets are an error, not a panic.
    let bad = Tensor::new(&[0u32, 11, 3, 3, 7, 1], &Device::Cpu).unwrap();
    assert!(ops::cross_entropy(&z, &bad).is_err());
}

fn tiny_f64() -> (Llama, Tensor, Tensor) {
    let cfg = ModelConfig { vocab_size: 37, max_seq_len: 16, ..ModelConfig::tiny() };
    let model = Llama::new_random(&cfg, 7, &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap();
    let mut rng = StdRng::seed_from_u64(8);
    let ids: Vec<u32> = (0..2 * 6).map(|_| rng.gen_range(0..37)).collect();
    let tg: Vec<u32> = (0..2 * 6).map(|_| rng.gen_range(0..37)).collect();
    let ids = Tensor::from_vec(ids, (2, 6), &Device::Cpu).unwrap();
    let tg = Tensor::from_vec(tg, (2, 6), &Device::Cpu).unwrap();
    (model, ids, tg)
}

/// Whole-model check: for a sample of elements of every parameter, the backward gradient of
/// the loss matches central differences.
#[test]
fn whole_tiny_model_gradients() {
    let (model, ids, tg) = tiny_f64();
    let loss = model.loss(&ids, &tg).unwrap();
    let grads = loss.backward().unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let eps = 1e-6;
    for (name, var) in model.named_vars() {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient"))
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let base = var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for _ in 0..6 {
            let j = rng.gen_range(0..base.len());
            let eval = |delta: f64| {
                let mut x = base.clone();
                x[j] += delta;
                var.set(&Tensor::from_vec(x, var.shape(), &Device::Cpu).unwrap()).unwrap();
                let l = model.loss(&ids, &tg).unwrap().to_scalar::<f64>().unwrap();
                var.set(&Tensor::from_vec(base.clone(), var.shape(), &Device::Cpu).unwrap()).unwrap();
                l
            };
            let numeric = (eval(eps) - eval(-eps)) / (2.0 * eps);
            let err = (numeric - g[j]).abs() / (1e-4 + numeric.abs().max(g[j].abs()));
            assert!(
                err < 1e-5 || (numeric - g[j]).abs() < 1e-9,
                "{name}[{j}]: numeric {numeric:e} vs backward {:e}",
                g[j]
            );
        }
    }
}

/// Every parameter of an f32 model receives a non-zero gradient (catches ops that silently
/// stop gradients, like candle's fused rms_norm).
#[test]
fn every_parameter_gets_a_gradient() {
    for tied in [true, false] {
        let cfg = ModelConfig { vocab_size: 50, tie_embeddings: tied, ..ModelConfig::tiny() };
        let model = Llama::new_random(&cfg, 3, &Device::Cpu).unwrap();
        let ids = Tensor::from_vec((0..32u32).map(|i| i % 50).collect::<Vec<_>>(), (2, 16), &Device::Cpu).unwrap();
        let tg =
            Tensor::from_vec((0..32u32).map(|i| (i * 7 + 1) % 50).collect::<Vec<_>>(), (2, 16), &Device::Cpu).unwrap();
        let grads = model.loss(&ids, &tg).unwrap().backward().unwrap();
        for (name, var) in model.named_vars() {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient"));
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0 && norm.is_finite(), "{name}: gradient norm {norm}");
        }
    }
}

/// The fused model's logits equal a model built only from reference ops.
#[test]
fn fused_model_matches_reference_ops() {
    let (model, ids, _) = tiny_f64();
    let fused = model.forward(&ids).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let reference = model.forward_reference(&ids).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    for (a, b) in fused.iter().zip(&reference) {
        assert!((a - b).abs() < 1e-10, "{a} vs {b}");
    }
}
