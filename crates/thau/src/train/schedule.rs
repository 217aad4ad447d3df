//! Learning-rate schedule: linear warmup, then cosine decay to `min_lr_ratio · lr`
//! (Loshchilov & Hutter 2017, as used by GPT-3, Llama and nanoGPT); and, for an age trained
//! further after it finished, a short re-warm from where the rate ended back to the peak and
//! a new cosine decay over the added steps (the re-warm and re-decay of Ibrahim et al. 2024,
//! "Simple and Scalable Strategies to Continually Pre-train Large Language Models").

use crate::checkpoint::{Extension, TrainConfig};

/// Learning rate for optimizer step `step` (0-based) of `total` steps.
pub fn lr_at(step: u64, total: u64, warmup: u64, lr: f64, min_lr_ratio: f64) -> f64 {
    let min_lr = lr * min_lr_ratio;
    if warmup > 0 && step < warmup {
        return lr * (step + 1) as f64 / warmup as f64;
    }
    if step >= total {
        return min_lr;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = (step - warmup.min(step)) as f64 / span;
    min_lr + 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()) * (lr - min_lr)
}

/// The learning rate of `step` in an age of `total` steps trained with `cfg`: [`lr_at`]; with
/// an extension, the finished schedule before its first step, then its re-warm from
/// `start_lr` to the peak over `warmup` steps and a cosine decay to the floor at `total`.
pub fn lr_of(step: u64, total: u64, cfg: &TrainConfig, extension: Option<&Extension>) -> f64 {
    let Some(e) = extension else {
        return lr_at(step, total, cfg.warmup_steps, cfg.lr, cfg.min_lr_ratio);
    };
    if step < e.start_step {
        return lr_at(step, e.previous_total, cfg.warmup_steps, cfg.lr, cfg.min_lr_ratio);
    }
    let (local, span) = (step - e.start_step, total.saturating_sub(e.start_step));
    if local < e.warmup {
        return e.start_lr + (cfg.lr - e.start_lr) * (local + 1) as f64 / e.warmup as f64;
    }
    // The decay after the re-warm is the first schedule's, on the extension's own steps.
    lr_at(local, span, e.warmup, cfg.lr, cfg.min_lr_ratio)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Budget;

    #[test]
    fn warmup_then_cosine() {
        assert!((lr_at(0, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-12);
        assert!((lr_at(9, 100, 10, 1.0, 0.1) - 1.0).abs() < 1e-12);
        assert!((lr_at(10, 100, 10, 1.0, 0.1) - 1.0).abs() < 1e-12);
        let mid = lr_at(55, 100, 10, 1.0, 0.1);
        assert!((mid - 0.55).abs() < 1e-9, "{mid}");
        assert!((lr_at(100, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-12);
        let mut prev = f64::INFINITY;
        for s in 10..100 {
            let l = lr_at(s, 100, 10, 1.0, 0.1);
            assert!(l <= prev + 1e-15);
            prev = l;
        }
    }

    #[test]
    fn an_extension_rewarms_then_decays_over_the_added_steps() {
        let cfg = TrainConfig { lr: 1.0, min_lr_ratio: 0.1, warmup_steps: 10, ..TrainConfig::default() };
        // The first schedule ends at 100 steps; the extension adds 100 more.
        let end = lr_of(99, 100, &cfg, None);
        let e =
            Extension { start_step: 100, previous_total: 100, start_lr: end, warmup: 10, budget: Budget::Steps(200) };
        assert_eq!(lr_of(50, 200, &cfg, Some(&e)), lr_of(50, 100, &cfg, None), "before the extension nothing moves");
        // The re-warm starts one step above where the rate ended and reaches the peak.
        let first = lr_of(100, 200, &cfg, Some(&e));
        assert!((first - (end + (1.0 - end) / 10.0)).abs() < 1e-12, "{first}");
        assert!((lr_of(109, 200, &cfg, Some(&e)) - 1.0).abs() < 1e-12);
        // Then it decays, monotonically, to the floor at the new total.
        let mut prev = f64::INFINITY;
        for step in 110..200 {
            let l = lr_of(step, 200, &cfg, Some(&e));
            assert!(l <= prev + 1e-15 && l >= 0.1 - 1e-12, "step {step}: {l}");
            prev = l;
        }
        assert!((lr_of(200, 200, &cfg, Some(&e)) - 0.1).abs() < 1e-12);
        // Half-way through the decay it is half-way between peak and floor.
        assert!((lr_of(155, 200, &cfg, Some(&e)) - 0.55).abs() < 1e-9);
    }
}
