//! What a checkpoint records besides tensors.

use crate::train::TrainConfig;
use serde::{Deserialize, Serialize};

/// Progress of one age's training, saved as `state.json` in each checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    pub age: u32,
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
    /// Batches are drawn by hashing (seed, step, micro-batch, row): no RNG state to save.
    pub data_sampling: String,
    pub thau_version: String,
}
