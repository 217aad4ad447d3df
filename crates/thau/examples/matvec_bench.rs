//! Decode-sized matrix-vector products (weights far larger than the caches) for every weight
//! type the engine stores, as weights/s and bytes/s: what one decoded token costs per weight.
//!
//! ```text
//! cargo run --release -p thau --example matvec_bench            # all cores
//! RAYON_NUM_THREADS=1 cargo run --release -p thau --example matvec_bench
//! ```
//!
//! Optional args: ROWS COLS (default 16384 2048, 33.5M weights). Each figure is the best of 8
//! calls after a warm-up; the types run in turn, so compare them within one run.

use half::f16;
use std::time::Instant;
use thau::infer::kernels;
use thau::infer::q8::{matvec_q8_0_with, Q8Kernel, Q8Matrix};

/// Best of `reps` timings of `f`, as weights per second for `n` weights.
fn rate(n: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            n as f64 / t.elapsed().as_secs_f64()
        })
        .fold(0f64, f64::max)
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (rows, k) = match args[..] {
        [r, c] if c % 32 == 0 => (r, c),
        _ => (16384, 2048),
    };
    let n = rows * k;
    let w: Vec<f32> = (0..n).map(|i| ((i % 13) as f32 - 6.0) * 0.01).collect();
    let x: Vec<f32> = (0..k).map(|i| ((i % 7) as f32 - 3.0) * 0.1).collect();
    let mut y = vec![0f32; rows];
    println!("{rows} x {k}, {} threads", kernels::num_threads());
    let report = |name: &str, wps: f64, bytes_per_weight: f64| {
        println!("{name:12} {:6.2} Gweights/s {:5.1} GB/s", wps / 1e9, wps * bytes_per_weight / 1e9)
    };
    report("f32", rate(n, 8, || kernels::matvec(&w, &x, &mut y)), 4.0);
    let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    report("f16", rate(n, 8, || kernels::matvec(&wh, &x, &mut y)), 2.0);
    let mut ggml = Vec::with_capacity(n / 32 * 34);
    for (b, chunk) in w.chunks(32).enumerate() {
        ggml.extend(f16::from_f32(0.01 + (b % 5) as f32 * 0.001).to_le_bytes());
        ggml.extend(chunk.iter().map(|v| ((v * 1000.0) as i8) as u8));
    }
    let q8 = Q8Matrix::from_ggml(&ggml, rows, k);
    for kernel in Q8Kernel::ALL.into_iter().filter(|k| k.available()) {
        let r = rate(n, 8, || matvec_q8_0_with(kernel, &q8, &x, &mut y));
        report(&format!("q8_0 {kernel:?}"), r, 34.0 / 32.0);
    }
}
