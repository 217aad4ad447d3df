//! What a checkpoint records besides tensors: the age's progress and the hyperparameters it
//! trains with (plain data here; the training loop, a floor above, reads and writes them).

use crate::error::{Error, Result};
use crate::model::ops::gemm::Precision;
use crate::model::Age;
use serde::{Deserialize, Serialize};

/// How long an age trains.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    Steps(u64),
    Tokens(u64),
    Minutes(f64),
}

/// Optimisation hyperparameters; saved in every checkpoint's state.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub batch_size: usize,
    pub seq_len: usize,
    pub grad_accum: usize,
    pub lr: f64,
    pub min_lr_ratio: f64,
    pub warmup_steps: u64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub adam_eps: f64,
    pub grad_clip: f64,
    pub seed: u64,
    pub eval_every: u64,
    pub eval_batches: usize,
    pub log_every: u64,
    pub checkpoint_every: u64,
    pub keep_checkpoints: usize,
    pub budget: Budget,
    /// Arithmetic of the linear layers' matmuls: f32, or bf16 products with f32 accumulation
    /// and f32 master weights (AVX512_BF16; falls back to f32 on CPUs without it).
    #[serde(default)]
    pub matmul: Precision,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 8,
            seq_len: 256,
            grad_accum: 1,
            lr: 3e-4,
            min_lr_ratio: 0.1,
            warmup_steps: 100,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.95,
            adam_eps: 1e-8,
            grad_clip: 1.0,
            seed: 1337,
            eval_every: 100,
            eval_batches: 8,
            log_every: 10,
            checkpoint_every: 200,
            keep_checkpoints: 2,
            budget: Budget::Steps(1000),
            matmul: Precision::F32,
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, why: &str| Err(Error::invalid(what, why));
        if self.batch_size == 0 || self.seq_len == 0 || self.grad_accum == 0 {
            return bad("--batch-size/--seq-len/--grad-accum", "must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("--lr", "must be a positive number");
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio)
            || !(0.0..1.0).contains(&self.beta1)
            || !(0.0..1.0).contains(&self.beta2)
        {
            return bad("schedule/optimizer", "min_lr_ratio in [0,1], betas in [0,1)");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0 && self.lr * self.weight_decay < 1.0) {
            return bad("--weight-decay", "must be a finite number >= 0 with lr × weight_decay < 1");
        }
        if !(self.adam_eps.is_finite() && self.adam_eps > 0.0) {
            return bad("adam_eps", "must be a positive number");
        }
        if !(self.grad_clip.is_finite() && self.grad_clip >= 0.0) {
            return bad("--grad-clip", "must be a finite number >= 0 (0 turns clipping off)");
        }
        match self.budget {
            Budget::Steps(0) | Budget::Tokens(0) => bad("budget", "train for at least one step/token"),
            Budget::Minutes(m) if !(m.is_finite() && m > 0.0) => bad("--minutes", "must be positive"),
            _ => Ok(()),
        }
    }
    pub fn tokens_per_step(&self) -> u64 {
        (self.batch_size * self.seq_len * self.grad_accum) as u64
    }
}

/// A finished age trained further (`thau train --resume` with a larger budget). From
/// `start_step` on, the learning rate re-warms from `start_lr` (where the finished schedule
/// ended) to the peak over `warmup` steps, then decays again to the floor over the added
/// steps (the training schedule's `lr_of`). Saved in the state, so a kill and resume inside
/// the extension stays on its trajectory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    pub start_step: u64,
    /// The age's step count when it finished.
    pub previous_total: u64,
    pub start_lr: f64,
    pub warmup: u64,
    /// The budget the age trains to now.
    pub budget: Budget,
}

/// Progress of one age's training, saved as `state.json` in each checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    pub age: Age,
    /// Optimizer steps completed.
    pub step: u64,
    /// Total steps of this age's schedule (fixed at the start so a resume keeps the same LR curve).
    pub total_steps: u64,
    /// Training tokens consumed in this age.
    pub tokens: u64,
    pub best_val_loss: Option<f32>,
    pub last_val_loss: Option<f32>,
    pub last_loss: Option<f32>,
    /// Wall-clock seconds spent training this age (all sessions).
    pub train_seconds: f64,
    /// Tokens per second of the last logged interval.
    pub tokens_per_second: Option<f64>,
    pub config: TrainConfig,
    /// Set once the age, finished, was trained further with a larger budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<Extension>,
    /// Batches are drawn by hashing (seed, step, micro-batch, row): no RNG state to save.
    pub data_sampling: String,
    pub thau_version: String,
}

impl TrainState {
    /// The state of an age before its first step: trained with `config`, its data drawn as
    /// `data_sampling` says (or where its weights came from).
    pub fn start(age: Age, config: TrainConfig, data_sampling: impl Into<String>) -> Self {
        Self {
            age,
            step: 0,
            total_steps: 0,
            tokens: 0,
            best_val_loss: None,
            last_val_loss: None,
            last_loss: None,
            train_seconds: 0.0,
            tokens_per_second: None,
            config,
            extension: None,
            data_sampling: data_sampling.into(),
            thau_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}
