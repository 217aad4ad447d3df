//! The training loop: AdamW with warmup + cosine, gradient accumulation and clipping,
//! periodic validation, `metrics.jsonl`, and atomic per-age checkpoints that resume exactly.

use super::adamw::{with_f32, AdamW, AdamWParams};
use super::batch::{train_batch, val_batches, Batch};
use super::metrics::{MetricsLog, StepMetrics};
use super::prepare::{prepare, CorpusSource, PreparedCorpus};
use super::schedule::lr_at;
use crate::checkpoint::{Budget, Checkpoint, RunDir, TrainConfig, TrainState};
use crate::data::SplitConfig;
use crate::error::{Error, Result};
use crate::model::{Age, Llama, ModelConfig, Preset};
use candle_core::{Device, Tensor};

use std::path::PathBuf;
use std::time::Instant;

/// Everything `train` needs.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub run: PathBuf,
    pub age: Age,
    /// Model preset; defaults to the age's preset.
    pub preset: Option<Preset>,
    pub corpus: CorpusSource,
    /// A tokenizer file for a run that has none yet (else one is trained on the corpus).
    pub tokenizer: Option<PathBuf>,
    /// Vocabulary size when the run has no tokenizer yet (default: the preset's).
    pub vocab_size: Option<usize>,
    pub config: TrainConfig,
    pub resume: bool,
    pub device: Device,
}

/// Events the caller (CLI progress bar, server) can observe; all methods have defaults.
pub trait TrainObserver {
    fn on_start(&mut self, _info: &StartInfo) {}
    fn on_step(&mut self, _m: &StepMetrics) {}
    fn on_checkpoint(&mut self, _c: &Checkpoint) {}
    /// Polled once per step; returning true saves a checkpoint and stops cleanly.
    fn should_stop(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Silent;
impl TrainObserver for Silent {}

/// What is known when the loop starts.
#[derive(Debug, Clone)]
pub struct StartInfo {
    pub age: Age,
    pub model: ModelConfig,
    pub params: usize,
    pub start_step: u64,
    /// None while a `--minutes` budget is still being converted into steps.
    pub total_steps: Option<u64>,
    pub train_tokens: usize,
    pub val_tokens: usize,
    pub resumed_from: Option<PathBuf>,
}

/// The result of a training call.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub state: TrainState,
    pub checkpoint: Checkpoint,
    pub interrupted: bool,
}

/// Mean loss over fixed validation batches.
pub fn evaluate(model: &Llama, batches: &[Batch], batch: usize, seq: usize) -> Result<f32> {
    let mut sum = 0.0f64;
    for b in batches {
        let dev = model.device();
        let ids = Tensor::from_slice(&b.inputs, (batch, seq), dev)?;
        let tg = Tensor::from_slice(&b.targets, (batch, seq), dev)?;
        sum += model.eval_loss(&ids, &tg)?.to_scalar::<f32>()? as f64;
    }
    Ok((sum / batches.len().max(1) as f64) as f32)
}

/// Loss and gradient norm (before clipping) of one optimizer step.
#[derive(Debug, Clone, Copy)]
pub struct StepOutcome {
    pub loss: f32,
    pub grad_norm: f32,
}

/// One optimizer step at 0-based `step`: forward and backward over the micro-batches
/// (gradients averaged), global-norm clipping, AdamW update. Shared by the trainer and the
/// benchmark so both measure the same work.
#[allow(clippy::too_many_arguments)]
pub fn optimizer_step(
    model: &Llama,
    vars: &[(String, &candle_core::Var)],
    decay: &[bool],
    opt: &mut AdamW,
    micro: &[Batch],
    (batch, seq): (usize, usize),
    lr: f64,
    grad_clip: f64,
    step: u64,
) -> Result<StepOutcome> {
    let dev = model.device();
    let mut grads: Vec<Option<Tensor>> = vec![None; vars.len()];
    let mut loss_sum = 0.0f64;
    for b in micro {
        let ids = Tensor::from_slice(&b.inputs, (batch, seq), dev)?;
        let tg = Tensor::from_slice(&b.targets, (batch, seq), dev)?;
        let loss = model.loss(&ids, &tg)?;
        loss_sum += loss.to_scalar::<f32>()? as f64;
        let store = if micro.len() == 1 { loss.backward()? } else { (loss / micro.len() as f64)?.backward()? };
        for (acc, (name, var)) in grads.iter_mut().zip(vars) {
            match store.get(var.as_tensor()) {
                Some(g) => {
                    *acc = Some(match acc.take() {
                        Some(a) => (a + g)?,
                        None => g.clone(),
                    })
                }
                None => tracing::debug!(param = %name, "no gradient"),
            }
        }
    }
    let loss = (loss_sum / micro.len().max(1) as f64) as f32;
    if !loss.is_finite() {
        return Err(Error::Diverged { step, loss });
    }
    let grads: Vec<Tensor> = grads
        .into_iter()
        .zip(vars)
        .map(|(g, (_, v))| match g {
            Some(g) => Ok(g.contiguous()?),
            None => Ok(v.as_tensor().zeros_like()?),
        })
        .collect::<Result<_>>()?;
    // Global gradient norm in f64, summed in a fixed order (deterministic).
    let mut sq = 0.0f64;
    for g in &grads {
        sq += with_f32(g, |s| s.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>())?;
    }
    let norm = sq.sqrt();
    if !norm.is_finite() {
        // Never apply (or checkpoint) a NaN/inf update: the last checkpoint stays good.
        return Err(Error::Diverged { step, loss: f32::NAN });
    }
    let g_scale = if grad_clip > 0.0 && norm > grad_clip { (grad_clip / (norm + 1e-6)) as f32 } else { 1.0 };
    opt.step(vars, &grads, g_scale, decay, lr, step + 1)?;
    Ok(StepOutcome { loss, grad_norm: norm as f32 })
}

/// Names of the hyperparameters whose values differ between two configs.
fn differing_fields(a: &TrainConfig, b: &TrainConfig) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return Vec::new();
    };
    a.iter().filter(|(k, v)| b.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect()
}

/// Train one age of a run (fresh or resumed) until its budget is spent.
pub fn train(req: &TrainRequest, obs: &mut dyn TrainObserver) -> Result<TrainSummary> {
    let run = RunDir::new(&req.run);
    // An age that already has a config (a grown age, or a resume) keeps its preset by default.
    let saved_preset = run.config_path(req.age).exists().then(|| run.load_config(req.age)).transpose()?;
    let preset = match (req.preset, saved_preset) {
        (Some(p), _) => p,
        (None, Some(saved)) => saved.name.parse()?,
        (None, None) => Preset::Age(req.age),
    };
    let preset = ModelConfig::of(preset);
    let existing = run.checkpoints(req.age)?;
    // A grown age (`thau grow`) starts from the step-0 checkpoint growth wrote, with this
    // request's hyperparameters, instead of from random weights.
    let provenance = run.load_provenance(req.age)?;
    let grown_start = !req.resume && provenance.is_some() && existing.len() == 1 && existing[0].step == 0;

    // ---- resume or fresh start ------------------------------------------------------------
    let resume_from = if req.resume || grown_start {
        Some(existing.last().cloned().ok_or_else(|| {
            Error::not_found(
                run.age_dir(req.age).join("step-*"),
                "there is nothing to resume: run the same command without --resume",
            )
        })?)
    } else {
        if let Some(last) = existing.last() {
            return Err(Error::invalid(
                format!("run {}", run.root.display()),
                format!("age {} already has checkpoints (latest step {}): pass --resume to continue it, or choose a new --run", req.age, last.step),
            ));
        }
        None
    };
    let saved_state = resume_from.as_ref().map(|ck| ck.load_state()).transpose()?;
    let cfg = match &saved_state {
        Some(st) if req.resume => st.config.clone(),
        _ => req.config.clone(),
    };
    if req.resume {
        let ignored = differing_fields(&cfg, &req.config);
        if !ignored.is_empty() {
            tracing::warn!(
                ignored = %ignored.join(", "),
                "resuming with the checkpoint's hyperparameters; these command-line values differ and are ignored \
                 (an age's budget and schedule are fixed when it starts)"
            );
        }
    }
    cfg.validate()?;
    if cfg.seq_len > preset.max_seq_len {
        return Err(Error::invalid(
            "--seq-len",
            format!(
                "{} exceeds the model's context of {} positions (preset {})",
                cfg.seq_len, preset.max_seq_len, preset.name
            ),
        ));
    }

    let split = SplitConfig { val_fraction: 0.05, seed: cfg.seed };
    // A resume reuses the run's shards; the corpus is only read again if they were deleted.
    let PreparedCorpus { tokenizer, train: train_shard, val: val_shard, .. } = prepare(
        &run,
        &req.corpus,
        req.tokenizer.as_deref(),
        req.vocab_size.unwrap_or(preset.vocab_size),
        &split,
        resume_from.is_some(),
    )?;

    let mut mcfg = preset.clone();
    mcfg.vocab_size = tokenizer.vocab_size();
    let (mut model, mut state, mut opt);
    let dev = &req.device;
    let adam = AdamWParams { beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.adam_eps, weight_decay: cfg.weight_decay };
    match (&resume_from, saved_state) {
        (Some(ck), Some(saved_state)) => {
            let saved = run.load_config(req.age)?;
            // Growth rescales norm_eps (growth::width), so only the shapes must match.
            if !saved.same_architecture(&mcfg) {
                return Err(Error::Incompatible {
                    path: run.config_path(req.age),
                    reason: format!(
                        "age {} was trained as preset '{}' ({} layers, d_model {}), not '{}'",
                        req.age, saved.name, saved.n_layers, saved.d_model, mcfg.name
                    ),
                    hint: format!("resume with --preset {} or start a new --run", saved.name),
                });
            }
            mcfg = saved;
            model = ck.load_model(&mcfg, dev)?;
            state = saved_state;
            if grown_start {
                state.config = cfg.clone();
            }
            opt = AdamW::new(adam, &model.named_vars());
            opt.load_state(ck.load_optim(dev)?, &ck.optim_path())?;
            // Moments carried over by growth keep their bias correction (see growth::plan).
            opt.step_offset = provenance.as_ref().map_or(0, |p| p.optimizer_steps);
            tracing::info!(step = state.step, dir = %ck.dir.display(), "resuming");
        }
        _ => {
            model = Llama::new_random(&mcfg, cfg.seed, dev)?;
            run.save_config(req.age, &mcfg)?;
            opt = AdamW::new(adam, &model.named_vars());
            state = TrainState {
                age: req.age,
                step: 0,
                total_steps: 0,
                tokens: 0,
                best_val_loss: None,
                last_val_loss: None,
                last_loss: None,
                train_seconds: 0.0,
                tokens_per_second: None,
                config: cfg.clone(),
                data_sampling: "stateless: window start = splitmix64(seed, step, micro, row)".into(),
                thau_version: env!("CARGO_PKG_VERSION").into(),
            };
        }
    }
    model.matmul = cfg.matmul;
    let mut log = MetricsLog::open(&run.metrics_path())?;
    log.truncate_after(req.age, state.step)?;

    let tps = cfg.tokens_per_step();
    let fixed_total = match cfg.budget {
        Budget::Steps(n) => Some(n),
        Budget::Tokens(n) => Some(n.div_ceil(tps)),
        Budget::Minutes(_) => (state.total_steps > 0).then_some(state.total_steps),
    };
    if let Some(t) = fixed_total {
        state.total_steps = t;
    }
    // With a time budget, the step count is fixed after timing the first steps (inside warmup,
    // where the LR does not depend on the total) and then saved, so resumes keep the curve.
    // The first step of a session (allocation, page faults) is not timed.
    let measure_steps = cfg.warmup_steps.clamp(2, 6);
    let session_first_step = state.step;

    let vars = model.named_vars();
    let decay: Vec<bool> = vars.iter().map(|(_, v)| v.rank() >= 2).collect();
    let val = if cfg.eval_every > 0 {
        let seq = cfg.seq_len.min(val_shard.len().saturating_sub(1));
        if seq < 2 {
            tracing::warn!("validation split too small to evaluate; skipping validation");
            None
        } else {
            Some((val_batches(&val_shard, cfg.eval_batches.max(1), cfg.batch_size, seq)?, seq))
        }
    } else {
        None
    };

    obs.on_start(&StartInfo {
        age: req.age,
        model: mcfg.clone(),
        params: mcfg.param_count(),
        start_step: state.step,
        total_steps: (state.total_steps > 0).then_some(state.total_steps),
        train_tokens: train_shard.len(),
        val_tokens: val_shard.len(),
        resumed_from: resume_from.as_ref().map(|c| c.dir.clone()),
    });

    let session_start = Instant::now();
    let seconds_before = state.train_seconds;
    let mut interval_start = Instant::now();
    let mut interval_tokens = 0u64;
    let mut last_ckpt: Option<Checkpoint> = resume_from.clone();
    let mut interrupted = false;
    let mut timing_start: Option<(Instant, u64)> = None;

    loop {
        if state.total_steps > 0 && state.step >= state.total_steps {
            break;
        }
        if obs.should_stop() {
            interrupted = true;
            break;
        }
        if state.total_steps == 0 && state.step > session_first_step && timing_start.is_none() {
            timing_start = Some((Instant::now(), state.step));
        }
        if let (0, Budget::Minutes(m), Some((t0, s0))) = (state.total_steps, cfg.budget, timing_start) {
            let timed = state.step - s0;
            if timed + 1 >= measure_steps {
                // Time left in the budget (earlier sessions included), divided by this session's
                // measured step time. Validation and checkpoint time are not included, so the
                // wall time runs over by their share (the 3-minute demo took 205 s in one clean run).
                let per_step = t0.elapsed().as_secs_f64() / timed.max(1) as f64;
                let left = (m * 60.0 - state.train_seconds).max(0.0);
                state.total_steps = state.step + ((left / per_step).floor() as u64).max(1);
                tracing::info!(total_steps = state.total_steps, "time budget converted to steps");
            }
        }
        let step = state.step;
        let lr = lr_at(
            step,
            if state.total_steps > 0 { state.total_steps } else { u64::MAX },
            cfg.warmup_steps,
            cfg.lr,
            cfg.min_lr_ratio,
        );

        let micro: Vec<Batch> = (0..cfg.grad_accum as u64)
            .map(|m| train_batch(&train_shard, cfg.seed, step, m, cfg.batch_size, cfg.seq_len))
            .collect::<Result<_>>()?;
        let out = optimizer_step(
            &model,
            &vars,
            &decay,
            &mut opt,
            &micro,
            (cfg.batch_size, cfg.seq_len),
            lr,
            cfg.grad_clip,
            step,
        )?;
        let (loss, norm) = (out.loss, out.grad_norm);
        state.step += 1;
        state.tokens += tps;
        interval_tokens += tps;
        state.last_loss = Some(loss);

        // ---- evaluate, log, checkpoint --------------------------------------------------------
        let last = state.total_steps > 0 && state.step >= state.total_steps;
        let mut val_loss = None;
        if let Some((batches, seq)) = &val {
            if state.step % cfg.eval_every == 0 || last {
                let v = evaluate(&model, batches, cfg.batch_size, *seq)?;
                val_loss = Some(v);
                state.last_val_loss = Some(v);
                if state.best_val_loss.is_none_or(|b| v < b) {
                    state.best_val_loss = Some(v);
                }
            }
        }
        state.train_seconds = seconds_before + session_start.elapsed().as_secs_f64();
        if state.step % cfg.log_every.max(1) == 0 || last || val_loss.is_some() {
            let secs = interval_start.elapsed().as_secs_f64();
            let tok_s = interval_tokens as f64 / secs.max(1e-9);
            state.tokens_per_second = Some(tok_s);
            let m = StepMetrics {
                age: req.age,
                step: state.step,
                tokens: state.tokens,
                loss,
                val_loss,
                lr,
                grad_norm: norm,
                tokens_per_second: tok_s,
                seconds: state.train_seconds,
                total_steps: (state.total_steps > 0).then_some(state.total_steps),
            };
            log.append(&m)?;
            obs.on_step(&m);
            interval_start = Instant::now();
            interval_tokens = 0;
        }
        if (cfg.checkpoint_every > 0 && state.step % cfg.checkpoint_every == 0) || last {
            let ck = run.save_checkpoint(&model, &opt.state_tensors(&vars)?, &state, cfg.keep_checkpoints)?;
            obs.on_checkpoint(&ck);
            last_ckpt = Some(ck);
        }
    }
    // Always leave a checkpoint of where we stopped (interrupt, or budget met before any save).
    let need_save = last_ckpt.as_ref().is_none_or(|c| c.step != state.step);
    if need_save {
        let ck = run.save_checkpoint(&model, &opt.state_tensors(&vars)?, &state, cfg.keep_checkpoints)?;
        obs.on_checkpoint(&ck);
        last_ckpt = Some(ck);
    }
    Ok(TrainSummary { state, checkpoint: last_ckpt.expect("a checkpoint was just saved"), interrupted })
}
