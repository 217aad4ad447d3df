//! The packed GEMM against a naive f64 triple loop (all three layouts, odd sizes, with and
//! without accumulate, f32/bf16/f64), thread-count independence, and the fused `linear` op:
//! finite-difference gradients in f64, fused vs reference in f32 and bf16, and a short
//! training run comparing the bf16 and f32 loss trajectories.

use candle_core::{DType, Device, Tensor, Var};
use rand::{rngs::StdRng, Rng, SeedableRng};
use thau::model::ops::gemm::{bf16_available, gemm_nn, gemm_nt, gemm_tn, Precision};
use thau::model::ops::{self};

use crate::common;
use common::{check_against_reference, check_op, randn};

fn rand_vec(rng: &mut StdRng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.gen::<f64>() * 2.0 - 1.0).collect()
}

/// Naive reference with f64 accumulation. Layout 0: y = x·wᵀ; 1: dx = dy·w; 2: dw = dyᵀ·x.
/// (a, b) are the two operands as passed to the gemm function; sizes (n, k, m) as in Linear.
fn naive(layout: usize, a: &[f64], b: &[f64], n: usize, k: usize, m: usize) -> Vec<f64> {
    match layout {
        0 => (0..n * m).map(|e| (0..k).map(|p| a[(e / m) * k + p] * b[(e % m) * k + p]).sum()).collect(),
        1 => (0..n * k).map(|e| (0..m).map(|j| a[(e / k) * m + j] * b[j * k + e % k]).sum()).collect(),
        _ => (0..m * k).map(|e| (0..n).map(|r| a[r * m + e / k] * b[r * k + e % k]).sum()).collect(),
    }
}

/// Run one layout in f32 (or f64 when `f64_mode`), returning the result as f64.
#[allow(clippy::too_many_arguments)]
fn run(
    layout: usize,
    a: &[f64],
    b: &[f64],
    init: &[f64],
    n: usize,
    k: usize,
    m: usize,
    acc: bool,
    prec: Precision,
    f64_mode: bool,
) -> Vec<f64> {
    macro_rules! go {
        ($t:ty) => {{
            let a: Vec<$t> = a.iter().map(|&v| v as $t).collect();
            let b: Vec<$t> = b.iter().map(|&v| v as $t).collect();
            let mut c: Vec<$t> = init.iter().map(|&v| v as $t).collect();
            match layout {
                0 => gemm_nt(&a, &b, &mut c, n, k, m, acc, prec),
                1 => gemm_nn(&a, &b, &mut c, n, m, k, acc, prec),
                _ => gemm_tn(&a, &b, &mut c, n, m, k, acc, prec),
            }
            c.iter().map(|&v| v as f64).collect::<Vec<f64>>()
        }};
    }
    if f64_mode {
        go!(f64)
    } else {
        go!(f32)
    }
}

fn operand_sizes(layout: usize, n: usize, k: usize, m: usize) -> (usize, usize, usize) {
    match layout {
        0 => (n * k, m * k, n * m),
        1 => (n * m, m * k, n * k),
        _ => (n * m, n * k, m * k),
    }
}

fn check_gemm(prec: Precision, f64_mode: bool, tol: f64) {
    let mut rng = StdRng::seed_from_u64(11);
    let sizes = [1usize, 3, 17, 65, 257];
    let mut cases: Vec<(usize, usize, usize)> = Vec::new();
    for &n in &sizes {
        for &k in &sizes {
            for &m in &sizes {
                if n * k * m <= 257 * 257 * 65 {
                    cases.push((n, k, m));
                }
            }
        }
    }
    // Bigger and blocking-edge shapes: > KC, > MC, > NC, not multiples of the tiles.
    cases.extend([(1000, 300, 33), (33, 1000, 300), (300, 33, 1000), (130, 520, 2100), (2100, 70, 40)]);
    for &(n, k, m) in &cases {
        for layout in 0..3 {
            let (la, lb, lc) = operand_sizes(layout, n, k, m);
            let a = rand_vec(&mut rng, la);
            let b = rand_vec(&mut rng, lb);
            let init = rand_vec(&mut rng, lc);
            let want = naive(layout, &a, &b, n, k, m);
            let inner = [k, m, n][layout] as f64;
            for acc in [false, true] {
                let got = run(layout, &a, &b, &init, n, k, m, acc, prec, f64_mode);
                let scale = inner.sqrt();
                for (e, (&g, &w)) in got.iter().zip(&want).enumerate() {
                    let w = if acc { w + init[e] } else { w };
                    assert!(
                        (g - w).abs() <= tol * scale * (1.0 + w.abs()),
                        "{prec:?} f64={f64_mode} layout {layout} (n,k,m)=({n},{k},{m}) acc={acc} elem {e}: {g} vs {w}"
                    );
                }
            }
        }
    }
}

#[test]
fn gemm_f32_matches_naive() {
    check_gemm(Precision::F32, false, 1e-6);
}

#[test]
fn gemm_f64_matches_naive() {
    check_gemm(Precision::F32, true, 1e-14);
}

#[test]
fn gemm_bf16_matches_naive_loosely() {
    // bf16 operands carry 8 significant bits: per-product relative error ≲ 2⁻⁸.
    check_gemm(Precision::Bf16, false, if bf16_available() { 1e-2 } else { 1e-6 });
}

#[test]
fn gemm_is_independent_of_thread_count() {
    let mut rng = StdRng::seed_from_u64(12);
    // Many rows (split into row blocks) and few rows (one row block whose column panels are
    // split across the threads).
    for (n, k, m) in [(700, 300, 520), (100, 300, 520)] {
        for prec in [Precision::F32, Precision::Bf16] {
            for layout in 0..3 {
                let (la, lb, lc) = operand_sizes(layout, n, k, m);
                let (a, b, init) = (rand_vec(&mut rng, la), rand_vec(&mut rng, lb), rand_vec(&mut rng, lc));
                let results: Vec<Vec<f64>> = [1, 2, 3]
                    .iter()
                    .map(|&t| {
                        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
                        pool.install(|| run(layout, &a, &b, &init, n, k, m, true, prec, false))
                    })
                    .collect();
                assert!(
                    results.windows(2).all(|w| w[0] == w[1]),
                    "{prec:?} layout {layout} (n,k,m)=({n},{k},{m}): results depend on thread count"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The fused op

#[test]
fn linear_gradients_f64() {
    let mut rng = StdRng::seed_from_u64(1);
    let x = randn(&mut rng, &[2, 3, 5], 1.0);
    let w = randn(&mut rng, &[7, 5], 1.0);
    let f = |t: &[Tensor]| ops::linear(&t[0], &t[1]).unwrap();
    check_op("linear", vec![x.clone(), w.clone()], &f);
    let r = |t: &[Tensor]| ops::linear_reference(&t[0], &t[1]).unwrap();
    check_against_reference("linear f64", vec![x, w], &f, &r, 1e-12);
    // 2-D input too.
    let x = randn(&mut rng, &[4, 5], 1.0);
    let w = randn(&mut rng, &[3, 5], 1.0);
    check_op("linear 2d", vec![x, w], &f);
}

#[test]
fn linear_f32_matches_reference() {
    let mut rng = StdRng::seed_from_u64(2);
    for (b, t, k, m) in [(2, 33, 65, 47), (3, 100, 256, 688), (1, 17, 300, 1)] {
        let x = randn(&mut rng, &[b, t, k], 1.0).to_dtype(DType::F32).unwrap();
        let w = randn(&mut rng, &[m, k], 0.1).to_dtype(DType::F32).unwrap();
        let f = |t: &[Tensor]| ops::linear_with(&t[0], &t[1], Precision::F32).unwrap();
        let r = |t: &[Tensor]| ops::linear_reference(&t[0], &t[1]).unwrap();
        check_against_reference("linear f32", vec![x, w], &f, &r, 1e-5);
    }
}

#[test]
fn linear_bf16_matches_reference_loosely() {
    let mut rng = StdRng::seed_from_u64(3);
    let x = randn(&mut rng, &[3, 100, 256], 1.0).to_dtype(DType::F32).unwrap();
    let w = randn(&mut rng, &[688, 256], 0.1).to_dtype(DType::F32).unwrap();
    let f = |t: &[Tensor]| ops::linear_with(&t[0], &t[1], Precision::Bf16).unwrap();
    let r = |t: &[Tensor]| ops::linear_reference(&t[0], &t[1]).unwrap();
    check_against_reference("linear bf16", vec![x, w], &f, &r, 1e-2);
}

#[test]
fn linear_rejects_bad_shapes() {
    let x = Tensor::zeros((2, 5), DType::F32, &Device::Cpu).unwrap();
    let w = Tensor::zeros((3, 4), DType::F32, &Device::Cpu).unwrap();
    assert!(ops::linear(&x, &w).is_err());
    assert!(ops::linear_reference(&x, &w).is_err());
}

/// A small 3-layer MLP regression trained 50 steps with plain SGD, once with f32 products and
/// once with bf16 ones: the loss trajectories stay within 1e-2 (relative) of each other.
#[test]
fn bf16_training_trajectory_tracks_f32() {
    let train = |prec: Precision| -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(4);
        let (n, d, h) = (256, 64, 128);
        let x = randn(&mut rng, &[n, d], 1.0).to_dtype(DType::F32).unwrap();
        // A learnable target: a random teacher network.
        let teacher = randn(&mut rng, &[d, d], (3.0 / d as f64).sqrt()).to_dtype(DType::F32).unwrap();
        let target = ops::linear_reference(&x, &teacher).unwrap().tanh().unwrap();
        let ws: Vec<Var> = [(h, d), (h, h), (d, h)]
            .iter()
            .map(|&(o, i)| {
                Var::from_tensor(&randn(&mut rng, &[o, i], (3.0 / i as f64).sqrt()).to_dtype(DType::F32).unwrap())
                    .unwrap()
            })
            .collect();
        let mut losses = Vec::new();
        for _ in 0..50 {
            let h1 = ops::linear_with(&x, ws[0].as_tensor(), prec).unwrap().gelu().unwrap();
            let h2 = ops::linear_with(&h1, ws[1].as_tensor(), prec).unwrap().gelu().unwrap();
            let y = ops::linear_with(&h2, ws[2].as_tensor(), prec).unwrap();
            let loss = (y - &target).unwrap().sqr().unwrap().mean_all().unwrap();
            losses.push(loss.to_scalar::<f32>().unwrap());
            let g = loss.backward().unwrap();
            for w in &ws {
                let gw = g.get(w.as_tensor()).unwrap();
                w.set(&(w.as_tensor() - (gw * 0.5).unwrap()).unwrap()).unwrap();
            }
        }
        losses
    };
    let f = train(Precision::F32);
    let b = train(Precision::Bf16);
    assert!(f[49] < f[0] * 0.9, "training did not progress: {} → {}", f[0], f[49]);
    let mut worst = 0.0f32;
    for (i, (x, y)) in f.iter().zip(&b).enumerate() {
        worst = worst.max(((x - y) / x).abs());
        assert!(((x - y) / x).abs() < 1e-2, "step {i}: f32 loss {x} vs bf16 {y}");
    }
    eprintln!("loss f32 {} → {}, bf16 {} → {}, worst relative gap {worst:e}", f[0], f[49], b[0], b[49]);
}
