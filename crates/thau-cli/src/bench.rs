//! `thau bench train-step`: THAU's full training step (forward, backward, clip, AdamW) on the
//! benchmark config shared with bench/torch_train_step.py, timed step by step.

use anyhow::Result;
use candle_core::Device;
use std::time::Instant;
use thau::model::ops::gemm::Precision;
use thau::model::{Llama, ModelConfig};
use thau::train::adamw::{AdamW, AdamWParams};
use thau::train::batch::{splitmix64, Batch};
use thau::train::optimizer_step;

pub fn train_step(
    steps: usize,
    warmup: usize,
    json: bool,
    threads: Option<usize>,
    matmul: Option<Precision>,
) -> Result<()> {
    if steps == 0 {
        anyhow::bail!("--steps must be at least 1");
    }
    let cfg = ModelConfig::bench();
    let (batch, seq) = (8usize, 256usize);
    let mut model = Llama::new_random(&cfg, 0, &Device::Cpu)?;
    if let Some(m) = matmul {
        model.matmul = m;
    }
    let precision = match model.matmul {
        Precision::Bf16 if thau::model::ops::gemm::bf16_available() => "bf16",
        _ => "f32",
    };
    let vars = model.named_vars();
    let decay: Vec<bool> = vars.iter().map(|(_, v)| v.rank() >= 2).collect();
    let mut opt = AdamW::new(AdamWParams { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 }, &vars);
    let make = |s: u64| Batch {
        inputs: (0..batch * seq)
            .map(|i| (splitmix64(s * 1_000_003 + i as u64) % cfg.vocab_size as u64) as u32)
            .collect(),
        targets: (0..batch * seq)
            .map(|i| (splitmix64(s * 7_000_003 + i as u64) % cfg.vocab_size as u64) as u32)
            .collect(),
    };
    let mut times = Vec::with_capacity(steps);
    for s in 0..(warmup + steps) as u64 {
        let b = [make(s)];
        let t0 = Instant::now();
        optimizer_step(&model, &vars, &decay, &mut opt, &b, (batch, seq), 3e-4, 1.0, s)?;
        if s as usize >= warmup {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    let tok_s = (batch * seq) as f64 / median;
    let flops = cfg.train_flops_per_token(seq) * tok_s / 1e9;
    let threads = threads.unwrap_or_else(candle_core::utils::get_num_threads);
    if json {
        println!(
            "{{\"engine\":\"thau\",\"version\":\"{}\",\"threads\":{threads},\"matmul\":\"{precision}\",\"tok_per_s\":{tok_s:.1},\"step_ms_median\":{:.2},\"params\":{},\"gflops\":{flops:.1}}}",
            env!("CARGO_PKG_VERSION"),
            median * 1e3,
            cfg.param_count()
        );
    } else {
        println!("thau train step ({} params, batch {batch}, seq {seq}, {threads} threads, {precision} matmuls): median {:.1} ms, {tok_s:.0} tok/s, {flops:.1} GFLOP/s", cfg.param_count(), median * 1e3);
    }
    Ok(())
}
