//! The fine-tuning loop of a learning run: supervised steps on the dataset (loss on the
//! assistant's tokens only, via `train::sft`), each averaged with a replay term — the same
//! number of windows of the run's own pretraining shard — so that what the model knew before
//! keeps being rehearsed while it learns the new facts (continual pretraining with replay,
//! Ibrahim et al. 2024). The same loop trains every weight (full fine-tune) or only LoRA
//! adapters, depending on the variables it is given.

use crate::data::TokenShard;
use crate::error::{Error, Result};
use crate::model::Llama;
use crate::train::adamw::{AdamW, AdamWParams};
use crate::train::batch::{splitmix64, train_batch, val_batches, Batch};
use crate::train::schedule::lr_at;
use crate::train::sft::{encode, make_batch, Encoded, SftExample};
use crate::train::{evaluate, optimizer_step};
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

/// Settings of one tuning pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneConfig {
    pub steps: u64,
    pub lr: f64,
    pub warmup_steps: u64,
    pub min_lr_ratio: f64,
    pub batch_size: usize,
    /// Mix a replay batch (same shape) from the training shard into every step.
    pub replay: bool,
    pub grad_clip: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

impl Default for TuneConfig {
    fn default() -> Self {
        Self {
            steps: 100,
            lr: 3e-4,
            warmup_steps: 5,
            min_lr_ratio: 0.1,
            batch_size: 8,
            replay: true,
            grad_clip: 1.0,
            weight_decay: 0.0,
            seed: 1337,
        }
    }
}

/// Examples encoded once, with the ones too long for the model left out.
pub struct Encodings {
    pub rows: Vec<Encoded>,
    pub skipped: usize,
}

impl Encodings {
    pub fn new(model: &Llama, tok: &crate::tokenizer::Tokenizer, examples: &[SftExample]) -> Result<Self> {
        let max = model.cfg.max_seq_len;
        let all: Vec<Encoded> = examples.iter().map(|e| encode(tok, e)).collect();
        let n = all.len();
        let rows: Vec<Encoded> = all.into_iter().filter(|e| e.ids.len() <= max + 1 && e.trained_tokens() > 0).collect();
        if rows.is_empty() {
            return Err(Error::invalid(
                "learning dataset",
                format!("none of its {n} examples fits the model's context of {max} tokens"),
            ));
        }
        Ok(Self { skipped: n - rows.len(), rows })
    }
}

/// A snapshot of variables' values (deep copies), to roll back to.
pub struct Snapshot(Vec<Tensor>);

impl Snapshot {
    pub fn take(vars: &[(String, &Var)]) -> Result<Self> {
        Ok(Self(vars.iter().map(|(_, v)| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?))
    }
    /// Put the saved values back (same variables, same order).
    pub fn restore(&self, vars: &[(String, &Var)]) -> Result<()> {
        for ((_, v), t) in vars.iter().zip(&self.0) {
            v.set(t)?;
        }
        Ok(())
    }
}

/// Train `vars` of `model` for `cfg.steps` steps. `on_step(step, loss)` after each step;
/// `eval_at` lists steps after which `on_eval(step)` is called (for the sweep).
#[allow(clippy::too_many_arguments)]
pub fn tune(
    model: &Llama,
    vars: &[(String, &Var)],
    data: &Encodings,
    replay: Option<&TokenShard>,
    cfg: &TuneConfig,
    eval_at: &[u64],
    on_eval: &mut dyn FnMut(u64) -> Result<()>,
    on_step: &mut dyn FnMut(u64, f32),
) -> Result<f32> {
    let decay: Vec<bool> = vars.iter().map(|(n, v)| v.rank() >= 2 && !n.contains(".lora_")).collect();
    let adam = AdamWParams { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: cfg.weight_decay };
    let mut opt = AdamW::new(adam, vars);
    let rows: Vec<&Encoded> = data.rows.iter().collect();
    let max_seq = model.cfg.max_seq_len;
    let mut last = f32::NAN;
    for step in 0..cfg.steps {
        let picked: Vec<&Encoded> = (0..cfg.batch_size as u64)
            .map(|r| rows[(splitmix64(cfg.seed ^ splitmix64(step ^ splitmix64(r))) % rows.len() as u64) as usize])
            .collect();
        let longest = picked.iter().map(|e| e.ids.len() - 1).max().unwrap_or(1);
        let seq = longest.div_ceil(8).saturating_mul(8).min(max_seq).max(1);
        let mut micro: Vec<Batch> = vec![make_batch(&picked, seq)];
        if let (true, Some(shard)) = (cfg.replay, replay) {
            if shard.len() > seq + 1 {
                micro.push(train_batch(shard, cfg.seed ^ 0x5eed, step, 0, cfg.batch_size, seq)?);
            }
        }
        let lr = lr_at(step, cfg.steps, cfg.warmup_steps, cfg.lr, cfg.min_lr_ratio);
        let out =
            optimizer_step(model, vars, &decay, &mut opt, &micro, (cfg.batch_size, seq), lr, cfg.grad_clip, step)?;
        last = out.loss;
        on_step(step + 1, out.loss);
        if eval_at.contains(&(step + 1)) {
            on_eval(step + 1)?;
        }
    }
    Ok(last)
}

/// The held-out general loss: mean loss over fixed windows of the run's validation shard.
pub struct GeneralEval {
    batches: Vec<Batch>,
    batch: usize,
    seq: usize,
}

impl GeneralEval {
    /// `windows` windows of `seq` tokens (capped to the shard and the model's context).
    pub fn new(val: &TokenShard, windows: usize, seq: usize) -> Result<Self> {
        let seq = seq.min(val.len().saturating_sub(1)).max(1);
        let batch = 4.min(windows.max(1));
        let count = windows.max(1).div_ceil(batch);
        Ok(Self { batches: val_batches(val, count, batch, seq)?, batch, seq })
    }
    pub fn loss(&self, model: &Llama) -> Result<f64> {
        Ok(evaluate(model, &self.batches, self.batch, self.seq)? as f64)
    }
}

/// Mean answer loss (SFT objective) of `model` on encoded examples; NaN-safe.
pub fn answer_loss(model: &Llama, data: &[&Encoded]) -> Result<f64> {
    let dev = model.device();
    let (mut sum, mut count) = (0.0f64, 0usize);
    for chunk in data.chunks(8) {
        let seq = chunk.iter().map(|e| e.ids.len() - 1).max().unwrap_or(1).max(1);
        let b = make_batch(chunk, seq);
        let valid = b.targets.iter().filter(|&&t| t != crate::model::ops::IGNORE).count();
        if valid == 0 {
            continue;
        }
        let ids = Tensor::from_slice(&b.inputs, (chunk.len(), seq), dev)?;
        let tg = Tensor::from_slice(&b.targets, (chunk.len(), seq), dev)?;
        sum += model.eval_loss(&ids, &tg)?.to_scalar::<f32>()? as f64 * valid as f64;
        count += valid;
    }
    Ok(sum / count.max(1) as f64)
}
