//! Supervised fine-tuning (SFT) on chat examples, with the loss only on what the assistant
//! says: its text, its tool calls and the `<|end|>` that closes its turn. System prompts, tool
//! lists, user turns and tool results are context, never targets.
//!
//! Each batch row is one example, padded at the end (causal attention: padding after the last
//! real token changes nothing before it). A step's rows are drawn by hashing (seed, step, row),
//! like pretraining batches, so a run is reproducible from its seed. With `replay`, each step
//! also trains on a batch of the run's pretraining text, the same rehearsal that
//! `learn::tune` uses against forgetting.
//!
//! Data on disk is JSONL, one example per line:
//! `{"tools": [ToolSpec…] (optional), "messages": [{"role": "user", "content": "…"}, …]}`.

use super::adamw::{AdamW, AdamWParams};
use super::batch::{splitmix64, train_batch, Batch};
use super::schedule::lr_at;
use super::trainer::optimizer_step;
use crate::checkpoint::{Checkpoint, RunDir};
use crate::data::TokenShard;
use crate::error::{Error, Result};
use crate::model::ops::IGNORE;
use crate::model::{Age, Llama};
use crate::tokenizer::{render_turn, with_tools, Message, Role, Tokenizer, ToolSpec, BOS, PAD};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One training conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftExample {
    /// Tools listed in the system prompt (see [`with_tools`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    pub messages: Vec<Message>,
    /// For a memory-grounded example: what its answer must contain and must not (the
    /// evaluation's key; training ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grounding: Option<Grounding>,
}

impl SftExample {
    /// A conversation with `tools` offered and no grounding key.
    pub fn new(tools: Vec<ToolSpec>, messages: Vec<Message>) -> Self {
        Self { tools, messages, grounding: None }
    }
}

/// What a memory block in the prompt holds for the question after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroundingKind {
    /// A memory answers the question ("Tu perro se llama Rocky.").
    Answer,
    /// Only unrelated memories: the answer says it does not know and uses none of them.
    Unrelated,
    /// Summaries of earlier conversations answer a time question ("¿qué hablamos ayer?").
    Episodes,
}

impl GroundingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answer => "answer",
            Self::Unrelated => "unrelated",
            Self::Episodes => "episodes",
        }
    }
}

/// The key of a memory-grounded example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grounding {
    pub kind: GroundingKind,
    /// The injected value the answer must contain (None for [`GroundingKind::Unrelated`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Values of injected memories that do not answer the question: the answer must contain
    /// none of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unrelated: Vec<String>,
}

/// Read a JSONL file of [`SftExample`]s. Blank lines are skipped; a bad line is an error that
/// names the file and the line.
pub fn read_jsonl(path: &Path) -> Result<Vec<SftExample>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let ex: SftExample = serde_json::from_str(&line).map_err(|e| {
            Error::corrupt(
                path,
                format!("line {}: {e}", i + 1),
                "each line must be {\"messages\": [{\"role\": \"user\", \"content\": \"…\"}, …]}",
            )
        })?;
        if !ex.messages.iter().any(|m| m.role == Role::Assistant) {
            return Err(Error::corrupt(
                path,
                format!("line {}: no assistant message", i + 1),
                "an SFT example needs at least one assistant turn to learn from",
            ));
        }
        out.push(ex);
    }
    if out.is_empty() {
        return Err(Error::corrupt(path, "no examples", "the file is empty: add one JSON example per line"));
    }
    Ok(out)
}

/// Write examples as JSONL, atomically.
pub fn write_jsonl(path: &Path, examples: &[SftExample]) -> Result<()> {
    crate::fs::write_atomic_with(path, |f| {
        let mut w = std::io::BufWriter::new(f);
        for ex in examples {
            let line = serde_json::to_string(ex).map_err(|e| Error::invalid("example", e.to_string()))?;
            writeln!(w, "{line}").map_err(|e| Error::io(path, e))?;
        }
        w.flush().map_err(|e| Error::io(path, e))
    })
}

/// An example as token ids with, for each position, whether predicting that token is trained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    /// `trained[i]`: the loss includes predicting `ids[i]` from `ids[..i]`.
    pub trained: Vec<bool>,
}

impl Encoded {
    pub fn trained_tokens(&self) -> usize {
        self.trained.iter().filter(|&&t| t).count()
    }
}

/// Token ids of an example (BOS, the turns, tools in the system prompt) and the mask of
/// assistant tokens: everything of an assistant turn after its role token.
pub fn encode(tok: &Tokenizer, ex: &SftExample) -> Encoded {
    let messages = with_tools(&ex.messages, &ex.tools);
    let mut ids = vec![BOS];
    let mut trained = vec![false];
    for m in &messages {
        let turn = render_turn(tok, m);
        let assistant = m.role == Role::Assistant;
        for (j, &id) in turn.iter().enumerate() {
            ids.push(id);
            trained.push(assistant && j > 0);
        }
    }
    Encoded { ids, trained }
}

/// Rows of (inputs, targets), each `seq` long: inputs padded with `<|pad|>`, targets `IGNORE`
/// where not trained or padded. Examples longer than `seq + 1` tokens are cut at the end.
pub fn make_batch(rows: &[&Encoded], seq: usize) -> Batch {
    let mut inputs = Vec::with_capacity(rows.len() * seq);
    let mut targets = Vec::with_capacity(rows.len() * seq);
    for e in rows {
        let n = e.ids.len().min(seq + 1);
        for i in 0..seq {
            if i + 1 < n {
                inputs.push(e.ids[i]);
                targets.push(if e.trained[i + 1] { e.ids[i + 1] } else { IGNORE });
            } else {
                inputs.push(if i < n { e.ids[i] } else { PAD });
                targets.push(IGNORE);
            }
        }
    }
    Batch { inputs, targets }
}

/// Fine-tuning hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftConfig {
    pub steps: u64,
    pub lr: f64,
    pub min_lr_ratio: f64,
    pub warmup_steps: u64,
    pub batch_size: usize,
    /// Longest example (in tokens, minus one) that is trained on; longer ones are skipped.
    pub max_seq_len: usize,
    pub weight_decay: f64,
    pub grad_clip: f64,
    pub seed: u64,
    /// Average every step's loss with a language-modelling batch of the same shape from the
    /// run's pretraining shard (replay), so that fine-tuning on narrow chat data does not wear
    /// away what pretraining taught. Each step does a second forward and backward pass (3.2 s
    /// against 1.3 s per step for `demo-2` at batch 16, seq 512).
    #[serde(default)]
    pub replay: bool,
}

impl Default for SftConfig {
    fn default() -> Self {
        Self {
            steps: 200,
            lr: 3e-4,
            min_lr_ratio: 0.1,
            warmup_steps: 10,
            batch_size: 8,
            max_seq_len: 256,
            weight_decay: 0.0,
            grad_clip: 1.0,
            seed: 1337,
            replay: false,
        }
    }
}

impl SftConfig {
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 {
            return Err(Error::invalid("--steps", "must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid("--lr", format!("{} is not a positive learning rate", self.lr)));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid("--batch-size", "must be at least 1"));
        }
        if self.max_seq_len < 2 {
            return Err(Error::invalid("--seq-len", "must be at least 2"));
        }
        Ok(())
    }
}

/// Progress of one fine-tuning step.
#[derive(Debug, Clone, Copy)]
pub struct SftStep {
    pub step: u64,
    pub total: u64,
    pub loss: f32,
    pub lr: f64,
    pub grad_norm: f32,
}

/// What a fine-tuning run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftSummary {
    pub steps: u64,
    pub examples: usize,
    /// Examples left out because they are longer than `max_seq_len + 1` tokens.
    pub skipped_too_long: usize,
    pub first_loss: f32,
    pub last_loss: f32,
    pub seconds: f64,
}

fn usable(encoded: &[Encoded], max_seq_len: usize) -> (Vec<&Encoded>, usize) {
    let keep: Vec<&Encoded> =
        encoded.iter().filter(|e| e.ids.len() <= max_seq_len + 1 && e.trained_tokens() > 0).collect();
    let skipped = encoded.len() - keep.len();
    (keep, skipped)
}

/// Fine-tune `model` in place on `examples`. `on_step` is called after every step; returning
/// `false` stops early (the weights keep the steps done).
pub fn finetune(
    model: &Llama,
    tok: &Tokenizer,
    examples: &[SftExample],
    cfg: &SftConfig,
    on_step: &mut dyn FnMut(&SftStep) -> bool,
) -> Result<SftSummary> {
    finetune_with_replay(model, tok, examples, cfg, None, on_step)
}

/// [`finetune`], with `replay` the pretraining shard that `cfg.replay` draws its batches from
/// (required when `cfg.replay` is set). The reported loss is then the mean of the chat loss and
/// the replay loss.
pub fn finetune_with_replay(
    model: &Llama,
    tok: &Tokenizer,
    examples: &[SftExample],
    cfg: &SftConfig,
    replay: Option<&TokenShard>,
    on_step: &mut dyn FnMut(&SftStep) -> bool,
) -> Result<SftSummary> {
    cfg.validate()?;
    let replay = match (cfg.replay, replay) {
        (false, _) => None,
        (true, Some(shard)) => Some(shard),
        (true, None) => {
            return Err(Error::invalid(
                "--replay",
                "no pretraining shard was given to replay from: pass the run's data/train.bin, or turn replay off",
            ));
        }
    };
    let max_seq = cfg.max_seq_len.min(model.cfg.max_seq_len);
    if let Some(shard) = replay {
        if shard.vocab_size() != model.cfg.vocab_size {
            return Err(Error::invalid(
                "--replay",
                format!(
                    "{} was written with a {}-token vocabulary, the model has {}: replay needs the run's own shard",
                    shard.path().display(),
                    shard.vocab_size(),
                    model.cfg.vocab_size
                ),
            ));
        }
        if shard.len() <= max_seq + 1 {
            return Err(Error::invalid(
                "--replay",
                format!(
                    "{} has {} tokens, too few for windows of --seq-len {max_seq}: lower --seq-len or pretrain on more text",
                    shard.path().display(),
                    shard.len()
                ),
            ));
        }
    }
    let encoded: Vec<Encoded> = examples.iter().map(|e| encode(tok, e)).collect();
    let (rows, skipped) = usable(&encoded, max_seq);
    if rows.is_empty() {
        return Err(Error::invalid(
            "examples",
            format!("none of the {} examples fits in {max_seq} tokens with an assistant turn: raise --seq-len (the model's context is {}) or shorten them", examples.len(), model.cfg.max_seq_len),
        ));
    }
    if skipped > 0 {
        tracing::warn!(skipped, max_seq, "examples longer than the sequence length are left out");
    }
    let vars = model.named_vars();
    let decay: Vec<bool> = vars.iter().map(|(_, v)| v.rank() >= 2).collect();
    let adam = AdamWParams { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: cfg.weight_decay };
    let mut opt = AdamW::new(adam, &vars);
    let start = Instant::now();
    let (mut first, mut last) = (f32::NAN, f32::NAN);
    let mut done = 0;
    for step in 0..cfg.steps {
        let picked: Vec<&Encoded> = (0..cfg.batch_size as u64)
            .map(|r| rows[(splitmix64(cfg.seed ^ splitmix64(step ^ splitmix64(r))) % rows.len() as u64) as usize])
            .collect();
        // Pad only to this step's longest row (rounded up to 8), not to max_seq.
        let longest = picked.iter().map(|e| e.ids.len() - 1).max().unwrap_or(1);
        let seq = longest.div_ceil(8).saturating_mul(8).min(max_seq).max(1);
        let mut micro = vec![make_batch(&picked, seq)];
        if let Some(shard) = replay {
            // Text windows as long as this step's chat rows (the shard is longer, checked above).
            micro.push(train_batch(shard, cfg.seed ^ 0x5eed, step, 0, cfg.batch_size, seq)?);
        }
        let lr = lr_at(step, cfg.steps, cfg.warmup_steps, cfg.lr, cfg.min_lr_ratio);
        let out =
            optimizer_step(model, &vars, &decay, &mut opt, &micro, (cfg.batch_size, seq), lr, cfg.grad_clip, step)?;
        if step == 0 {
            first = out.loss;
        }
        last = out.loss;
        done = step + 1;
        let info = SftStep { step: step + 1, total: cfg.steps, loss: out.loss, lr, grad_norm: out.grad_norm };
        tracing::debug!(step = info.step, loss = info.loss, "sft step");
        if !on_step(&info) {
            break;
        }
    }
    Ok(SftSummary {
        steps: done,
        examples: rows.len(),
        skipped_too_long: skipped,
        first_loss: first,
        last_loss: last,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Mean cross-entropy over the assistant tokens of `examples` (the SFT objective, no update).
/// Examples longer than `max_seq_len + 1` tokens are left out.
pub fn sft_loss(model: &Llama, tok: &Tokenizer, examples: &[SftExample], max_seq_len: usize) -> Result<f32> {
    let encoded: Vec<Encoded> = examples.iter().map(|e| encode(tok, e)).collect();
    let (rows, _) = usable(&encoded, max_seq_len.min(model.cfg.max_seq_len));
    if rows.is_empty() {
        return Err(Error::invalid("examples", "no example fits in the sequence length"));
    }
    let dev = model.device();
    let (mut sum, mut count) = (0.0f64, 0usize);
    for chunk in rows.chunks(8) {
        let seq = chunk.iter().map(|e| e.ids.len() - 1).max().unwrap_or(1).max(1);
        let b = make_batch(chunk, seq);
        let valid = b.targets.iter().filter(|&&t| t != IGNORE).count();
        if valid == 0 {
            continue;
        }
        let ids = Tensor::from_slice(&b.inputs, (chunk.len(), seq), dev)?;
        let tg = Tensor::from_slice(&b.targets, (chunk.len(), seq), dev)?;
        let loss = model.eval_loss(&ids, &tg)?.to_scalar::<f32>()?;
        sum += loss as f64 * valid as f64;
        count += valid;
    }
    Ok((sum / count.max(1) as f64) as f32)
}

/// The record of a fine-tuning run, saved as `sft.json` in the checkpoint it produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SftRecord {
    /// The checkpoint fine-tuned from.
    pub base: PathBuf,
    /// Where the examples came from (a file path or a description).
    pub data: String,
    pub config: SftConfig,
    pub summary: SftSummary,
}

/// Fine-tune the latest checkpoint of `age` (the run's newest age when `None`) of the run at
/// `run` and save the result as a new checkpoint of that age (step = base step + steps done),
/// with `sft.json` beside it. Older checkpoints are kept, so the base can be restored.
pub fn finetune_run(
    run: &Path,
    age: Option<Age>,
    examples: &[SftExample],
    data: &str,
    cfg: &SftConfig,
    on_step: &mut dyn FnMut(&SftStep) -> bool,
) -> Result<(Checkpoint, SftSummary)> {
    let run = RunDir::new(run);
    let age = match age {
        Some(a) => a,
        None => run.latest_age()?,
    };
    let base = run.latest(age)?;
    let mcfg = run.load_config(age)?;
    let tok = Tokenizer::load(&run.tokenizer_path())?;
    let model = base.load_model(&mcfg, &Device::Cpu)?;
    let shard = if cfg.replay {
        let path = run.data_dir().join("train.bin");
        if !path.exists() {
            return Err(Error::invalid(
                "--replay",
                format!(
                    "the run has no pretraining shard to replay ({} is missing): train the run on a corpus first, or fine-tune without --replay",
                    path.display()
                ),
            ));
        }
        Some(TokenShard::open(&path)?)
    } else {
        None
    };
    let summary = finetune_with_replay(&model, &tok, examples, cfg, shard.as_ref(), on_step)?;
    let mut state = base.load_state()?;
    state.step += summary.steps;
    state.total_steps = state.total_steps.max(state.step);
    state.last_loss = Some(summary.last_loss);
    state.train_seconds += summary.seconds;
    // Fresh optimizer moments: the fine-tuning run's are not a continuation of pretraining's.
    let optim = AdamW::new(AdamWParams { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.0 }, &model.named_vars())
        .state_tensors(&model.named_vars())?;
    let ck = run.save_checkpoint(&model, &optim, &state, usize::MAX)?;
    let record =
        SftRecord { base: base.dir.clone(), data: data.to_string(), config: cfg.clone(), summary: summary.clone() };
    let json = serde_json::to_vec_pretty(&record).map_err(|e| Error::invalid("sft record", e.to_string()))?;
    crate::fs::write_atomic(&ck.dir.join("sft.json"), &json)?;
    Ok((ck, summary))
}
