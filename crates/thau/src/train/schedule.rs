//! Learning-rate schedule: linear warmup, then cosine decay to `min_lr_ratio · lr`
//! (Loshchilov & Hutter 2017, as used by GPT-3, Llama and nanoGPT).

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
