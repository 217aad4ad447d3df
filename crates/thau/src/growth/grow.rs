//! Growing a run: the newest checkpoint of the previous trained age becomes the step-0
//! checkpoint of a new age (`thau grow --run DIR --to-age N`).

use super::plan::GrowthPlan;
use crate::checkpoint::GrowthMethod;
use crate::checkpoint::{Checkpoint, Provenance, RunDir, TrainState};
use crate::data::TokenShard;
use crate::error::{Error, Result};
use crate::model::{Age, ModelConfig, Preset};
use crate::train::adamw::{AdamW, AdamWParams};
use crate::train::batch::val_batches;
use crate::train::{evaluate, TrainConfig};
use candle_core::Device;
use std::path::PathBuf;

/// What to grow.
#[derive(Debug, Clone)]
pub struct GrowRequest {
    pub run: PathBuf,
    pub to_age: Age,
    /// Target preset (default: the preset of `to_age`).
    pub preset: Option<Preset>,
    pub method: GrowthMethod,
    /// Seed of the new random entries (default: the parent's training seed + the new age).
    pub seed: Option<u64>,
    /// Hyperparameters the new age will train with (default: the parent age's).
    pub config: Option<TrainConfig>,
    pub device: Device,
}

/// The result of a growth.
#[derive(Debug, Clone)]
pub struct GrowOutcome {
    pub checkpoint: Checkpoint,
    pub provenance: Provenance,
    pub parent: ModelConfig,
    pub child: ModelConfig,
}

/// The newest age before `to_age` that has a checkpoint.
fn parent_age(run: &RunDir, to_age: Age) -> Result<Age> {
    let mut current = None;
    for age in run.ages()? {
        if !run.checkpoints(age)?.is_empty() {
            current = Some(age);
        }
    }
    let root = run.root.display();
    let current = current.ok_or_else(|| {
        Error::not_found(
            &run.root,
            format!("{root} has no checkpoint to grow from: train its first age with `thau train --run {root}` first"),
        )
    })?;
    if to_age <= current {
        return Err(Error::invalid(
            "--to-age",
            format!(
                "age {to_age} is not after the run's current age {current}: grow to a later age (ages: {})",
                Age::list()
            ),
        ));
    }
    Ok(current)
}

/// Loss of `model` on the run's first two validation windows (None without validation data).
fn val_loss(run: &RunDir, model: &crate::model::Llama) -> Result<Option<f32>> {
    let path = run.data_dir().join("val.bin");
    if !path.exists() {
        return Ok(None);
    }
    let shard = TokenShard::open(&path)?;
    let seq = 64.min(shard.len().saturating_sub(1)).min(model.cfg.max_seq_len);
    if seq < 2 {
        return Ok(None);
    }
    let batches = val_batches(&shard, 1, 2, seq)?;
    Ok(Some(evaluate(model, &batches, 2, seq)?))
}

/// Grow the newest trained age of a run into `to_age`: writes `age-N/config.json`,
/// `age-N/growth.json` and the step-0 checkpoint (weights and AdamW moments), in that order,
/// so a kill at any moment leaves either no checkpoint (grow again) or a complete one.
pub fn grow_run(req: &GrowRequest) -> Result<GrowOutcome> {
    let run = RunDir::new(&req.run);
    let from = parent_age(&run, req.to_age)?;
    let parent_cfg = run.load_config(from)?;
    let ck = run.latest(from)?;
    let parent_state = ck.load_state()?;
    let mut target = ModelConfig::of(req.preset.unwrap_or(Preset::Age(req.to_age)));
    target.vocab_size = parent_cfg.vocab_size;
    let plan = GrowthPlan::new(&parent_cfg, &target, req.method)?;
    let seed = req.seed.unwrap_or(parent_state.config.seed.wrapping_add(req.to_age.get() as u64));

    let parent = ck.load_model(&parent_cfg, &req.device)?;
    let child = plan.grow_model(&parent, seed)?;
    let config = req.config.clone().unwrap_or_else(|| parent_state.config.clone());
    let parent_optim = ck.load_optim(&req.device)?;
    let moments = if parent_optim.is_empty() {
        // An imported model has no optimizer state: the grown age starts with fresh moments.
        let p = AdamWParams {
            beta1: config.beta1,
            beta2: config.beta2,
            eps: config.adam_eps,
            weight_decay: config.weight_decay,
        };
        let vars = child.named_vars();
        AdamW::new(p, &vars).state_tensors(&vars)?
    } else {
        plan.grow_moments(&parent_optim, &req.device)?
    };
    let earlier_steps = run.load_provenance(from)?.map_or(0, |p| p.optimizer_steps);
    let provenance = Provenance {
        parent_age: from,
        parent_step: ck.step,
        parent_preset: parent_cfg.name.clone(),
        parent_tokens: parent_state.tokens,
        method: req.method,
        seed,
        function_preserving: plan.preserves_function(),
        optimizer_steps: if parent_optim.is_empty() { 0 } else { earlier_steps + parent_state.step },
        parent_val_loss: val_loss(&run, &parent)?,
        child_val_loss: val_loss(&run, &child)?,
    };
    tracing::info!(from = from.get(), to = req.to_age.get(), method = %req.method, parent = ?provenance.parent_val_loss, child = ?provenance.child_val_loss, "grown");

    let state = TrainState {
        age: req.to_age,
        step: 0,
        total_steps: 0,
        tokens: 0,
        best_val_loss: None,
        last_val_loss: provenance.child_val_loss,
        last_loss: None,
        train_seconds: 0.0,
        tokens_per_second: None,
        config,
        extension: None,
        data_sampling: parent_state.data_sampling.clone(),
        thau_version: env!("CARGO_PKG_VERSION").into(),
    };
    run.save_config(req.to_age, &plan.child)?;
    run.save_provenance(req.to_age, &provenance)?;
    let checkpoint = run.save_checkpoint(&child, &moments, &state, state.config.keep_checkpoints)?;
    Ok(GrowOutcome { checkpoint, provenance, parent: parent_cfg, child: plan.child })
}
