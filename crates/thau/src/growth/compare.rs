//! Compute spent against validation loss, for comparing a grown run with one trained from
//! scratch (bench/growth.sh): training FLOPs from `ModelConfig::train_flops_per_token`
//! (6·N + attention, forward and backward) times tokens, summed over every age of a run.

use crate::checkpoint::RunDir;
use crate::error::{Error, Result};
use crate::model::Age;
use crate::train::MetricsLog;
use serde::Serialize;

/// One validation measurement of a run, with the compute spent before it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CurvePoint {
    pub age: Age,
    /// Training tokens over all ages so far.
    pub tokens: u64,
    /// Training FLOPs over all ages so far (validation and growth not counted).
    pub flops: f64,
    /// Training wall seconds over all ages so far.
    pub seconds: f64,
    pub val_loss: f32,
}

/// A run's validation curve against compute.
#[derive(Debug, Clone, Serialize)]
pub struct RunCurve {
    pub run: String,
    /// (age, preset, training FLOPs per token) of each age.
    pub ages: Vec<(Age, String, f64)>,
    pub points: Vec<CurvePoint>,
}

impl RunCurve {
    /// Read a run folder's ages and metrics.
    pub fn load(run: &RunDir) -> Result<Self> {
        let metrics = MetricsLog::read(&run.metrics_path())?;
        let (mut flops0, mut secs0, mut tokens0) = (0.0f64, 0.0f64, 0u64);
        let (mut ages, mut points) = (Vec::new(), Vec::new());
        for age in run.ages()? {
            let Some(ck) = run.checkpoints(age)?.pop() else { continue };
            let cfg = run.load_config(age)?;
            let state = ck.load_state()?;
            let fpt = cfg.train_flops_per_token(state.config.seq_len);
            ages.push((age, cfg.name.clone(), fpt));
            for m in metrics.iter().filter(|m| m.age == age) {
                if let Some(v) = m.val_loss {
                    points.push(CurvePoint {
                        age,
                        tokens: tokens0 + m.tokens,
                        flops: flops0 + m.tokens as f64 * fpt,
                        seconds: secs0 + m.seconds,
                        val_loss: v,
                    });
                }
            }
            flops0 += state.tokens as f64 * fpt;
            secs0 += state.train_seconds;
            tokens0 += state.tokens;
        }
        if points.is_empty() {
            return Err(Error::not_found(
                run.metrics_path(),
                "the run has no validation losses logged: train it with --eval-every > 0",
            ));
        }
        Ok(Self { run: run.root.display().to_string(), ages, points })
    }

    /// The lowest validation loss the run reached.
    pub fn best(&self) -> f32 {
        self.points.iter().map(|p| p.val_loss).fold(f32::INFINITY, f32::min)
    }

    /// Compute (FLOPs, seconds, tokens) at which the validation loss first reached `target`,
    /// interpolated linearly between the two validations around the crossing.
    pub fn cost_to_reach(&self, target: f32) -> Option<(f64, f64, f64)> {
        let mut prev: Option<&CurvePoint> = None;
        for p in &self.points {
            if p.val_loss <= target {
                return Some(match prev {
                    Some(a) if a.val_loss > p.val_loss => {
                        let t = ((a.val_loss - target) / (a.val_loss - p.val_loss)) as f64;
                        let lerp = |x: f64, y: f64| x + t * (y - x);
                        (lerp(a.flops, p.flops), lerp(a.seconds, p.seconds), lerp(a.tokens as f64, p.tokens as f64))
                    }
                    _ => (p.flops, p.seconds, p.tokens as f64),
                });
            }
            prev = Some(p);
        }
        None
    }
}
