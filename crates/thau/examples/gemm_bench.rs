//! GFLOP/s of THAU's packed GEMM (f32 and bf16) vs candle's matmul for the three products of a
//! Linear layer. Run once per thread count, e.g.
//!
//! ```text
//! CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 cargo run --release -p thau --example gemm_bench
//! CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=2 cargo run --release -p thau --example gemm_bench
//! ```
//!
//! Optional args: N K M1,M2,... (default 2048 256 688,256,8192). Each cell is the median of 7
//! timed rounds (each round ≥ ~0.15 s), with the candidates interleaved round by round so
//! machine noise hits them alike.

use candle_core::{Device, Tensor};
use std::time::Instant;
use thau::model::ops::gemm::{bf16_available, gemm_nn, gemm_nt, gemm_tn, Precision};

fn rand_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Seconds per call: run `f` until ≥ 0.15 s have passed.
fn time(f: &mut dyn FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut reps = 0;
    while start.elapsed().as_secs_f64() < 0.15 {
        f();
        reps += 1;
    }
    start.elapsed().as_secs_f64() / reps as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(2048);
    let k: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(256);
    let ms: Vec<usize> =
        args.get(3).map(|s| s.split(',').map(|x| x.parse().unwrap()).collect()).unwrap_or(vec![688, 256, 8192]);
    println!(
        "threads: rayon {} (CANDLE_NUM_THREADS={}), bf16 kernel: {}",
        rayon::current_num_threads(),
        std::env::var("CANDLE_NUM_THREADS").unwrap_or_default(),
        bf16_available()
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "product (N,K,M)", "candle", "thau f32", "thau bf16", "f32/cndl", "bf16/f32"
    );
    let dev = Device::Cpu;
    for &m in &ms {
        let x = rand_vec(n * k, 1);
        let w = rand_vec(m * k, 2);
        let dy = rand_vec(n * m, 3);
        let xt = Tensor::from_slice(&x, (n, k), &dev)?;
        let wt = Tensor::from_slice(&w, (m, k), &dev)?;
        let dyt = Tensor::from_slice(&dy, (n, m), &dev)?;
        let flops = 2.0 * (n * k * m) as f64 / 1e9;
        for layout in ["fwd  y=x·wT", "dx   dy·w", "dw   dyT·x"] {
            let mut out = vec![
                0f32;
                if layout.starts_with("dw") {
                    m * k
                } else if layout.starts_with("dx") {
                    n * k
                } else {
                    n * m
                }
            ];
            let run_thau = |prec: Precision, out: &mut Vec<f32>| match &layout[..2] {
                "fw" => gemm_nt(&x, &w, out, n, k, m, false, prec),
                "dx" => gemm_nn(&dy, &w, out, n, m, k, false, prec),
                _ => gemm_tn(&dy, &x, out, n, m, k, false, prec),
            };
            let run_candle = || -> Tensor {
                match &layout[..2] {
                    "fw" => xt.matmul(&wt.t().unwrap()).unwrap(),
                    "dx" => dyt.matmul(&wt).unwrap(),
                    _ => dyt.t().unwrap().matmul(&xt).unwrap(),
                }
            };
            let (mut tc, mut tf, mut tb) = (vec![], vec![], vec![]);
            for _ in 0..7 {
                tc.push(time(&mut || {
                    std::hint::black_box(run_candle());
                }));
                tf.push(time(&mut || run_thau(Precision::F32, &mut out)));
                tb.push(time(&mut || run_thau(Precision::Bf16, &mut out)));
            }
            let (c, f, b) = (flops / median(tc), flops / median(tf), flops / median(tb));
            println!(
                "{:<28} {:>10.1} {:>10.1} {:>10.1} {:>8.2}x {:>8.2}x",
                format!("{layout} ({n},{k},{m})"),
                c,
                f,
                b,
                f / c,
                b / f
            );
        }
    }
    Ok(())
}
