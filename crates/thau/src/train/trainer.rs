//! The training loop: AdamW with warmup + cosine, gradient accumulation and clipping,
//! periodic validation, `metrics.jsonl`, and atomic per-age checkpoints that resume exactly.

use super::adamw::{with_f32, AdamW, AdamWParams};
use super::batch::{train_batch, val_batches, Batch};
use super::metrics::{MetricsLog, StepMetrics};
use super::prepare::{prepare, CorpusSource, PreparedCorpus};
use super::schedule::lr_of;
use crate::checkpoint::{Budget, Checkpoint, Extension, Provenance, RunDir, TrainConfig, TrainState};
use crate::data::{SplitConfig, TokenShard};
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
    /// With `resume`, a budget for an age that has finished: beyond the finished one, the age
    /// trains on ([`Extension`]); None keeps the age's own budget.
    pub extend_to: Option<Budget>,
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
    /// Set when this call trains a finished age further.
    pub extension: Option<Extension>,
    /// The age's peak learning rate.
    pub peak_lr: f64,
}

/// The result of a training call.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub state: TrainState,
    pub checkpoint: Checkpoint,
    pub interrupted: bool,
    /// The extension this call started (a finished age trained further), if it started one.
    pub extended: Option<Extension>,
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

/// Train one age of a run (fresh, resumed, grown or extended) until its budget is spent: the
/// four steps below, each its own function.
pub fn train(req: &TrainRequest, obs: &mut dyn TrainObserver) -> Result<TrainSummary> {
    let plan = resolve(req)?;
    let mut session = prepare_session(req, plan)?;
    let interrupted = run_steps(&mut session, obs)?;
    finish(session, interrupted, obs)
}

/// Where an age's training starts.
enum Start {
    /// Random weights.
    Fresh,
    /// The newest checkpoint, with its own hyperparameters.
    Resume(Checkpoint),
    /// The step-0 checkpoint `thau grow` wrote, with this request's hyperparameters.
    Grown(Checkpoint),
}

impl Start {
    fn checkpoint(&self) -> Option<&Checkpoint> {
        match self {
            Start::Fresh => None,
            Start::Resume(ck) | Start::Grown(ck) => Some(ck),
        }
    }
}

/// What a train call will do, decided before any data or weights are loaded.
struct Plan {
    run: RunDir,
    /// The model shape (its vocabulary is the tokenizer's, set once the tokenizer is known).
    preset: ModelConfig,
    start: Start,
    /// The shape saved for a resumed or grown age (checked against `preset`).
    saved_config: Option<ModelConfig>,
    /// The state saved with the start checkpoint, when there is one.
    saved_state: Option<TrainState>,
    cfg: TrainConfig,
    provenance: Option<Provenance>,
    /// Set when a finished age trains on with a larger budget.
    extension: Option<Extension>,
}

/// Step 1: the preset, where training starts, the hyperparameters and the budget.
fn resolve(req: &TrainRequest) -> Result<Plan> {
    let run = RunDir::new(&req.run);
    // An age that already has a config (a grown age, or a resume) keeps its preset by default.
    let saved = run.config_path(req.age).exists().then(|| run.load_config(req.age)).transpose()?;
    let preset = match (req.preset, &saved) {
        (Some(p), _) => p,
        (None, Some(saved)) => saved.name.parse()?,
        (None, None) => Preset::Age(req.age),
    };
    let preset = ModelConfig::of(preset);
    let existing = run.checkpoints(req.age)?;
    let provenance = run.load_provenance(req.age)?;
    let start = match existing.last() {
        // A grown age (`thau grow`) starts from the step-0 checkpoint growth wrote.
        Some(ck) if !req.resume && provenance.is_some() && existing.len() == 1 && ck.step == 0 => {
            Start::Grown(ck.clone())
        }
        Some(ck) if req.resume => Start::Resume(ck.clone()),
        None if req.resume => {
            return Err(Error::not_found(
                run.age_dir(req.age).join("step-*"),
                "there is nothing to resume: run the same command without --resume",
            ))
        }
        Some(last) => {
            return Err(Error::invalid(
                format!("run {}", run.root.display()),
                format!(
                    "age {} already has checkpoints (latest step {}): pass --resume to continue it (with a larger \
                     --steps/--tokens/--minutes to train a finished age further), or choose a new --run",
                    req.age, last.step
                ),
            ))
        }
        None => Start::Fresh,
    };
    // A resumed or grown age keeps its saved shape: only norm_eps may differ (growth rescales it).
    let saved_config = match start {
        Start::Fresh => None,
        Start::Resume(_) | Start::Grown(_) => {
            // A checkpoint without its age's config.json: load_config names the missing file.
            let saved = match saved {
                Some(saved) => saved,
                None => run.load_config(req.age)?,
            };
            let wanted = ModelConfig { vocab_size: saved.vocab_size, ..preset.clone() };
            if !saved.same_architecture(&wanted) {
                return Err(Error::Incompatible {
                    path: run.config_path(req.age),
                    reason: format!(
                        "age {} was trained as preset '{}' ({} layers, d_model {}), not '{}'",
                        req.age, saved.name, saved.n_layers, saved.d_model, preset.name
                    ),
                    hint: format!("resume with --preset {} or start a new --run", saved.name),
                });
            }
            Some(saved)
        }
    };
    let saved_state = start.checkpoint().map(|ck| ck.load_state()).transpose()?;
    let (mut cfg, mut extension) = (req.config.clone(), None);
    if let (Start::Resume(_), Some(st)) = (&start, &saved_state) {
        cfg = st.config.clone();
        extension = extension_of(st, req.extend_to)?;
        if let Some(e) = &extension {
            cfg.budget = e.budget;
        }
        let ignored: Vec<String> =
            differing_fields(&cfg, &req.config).into_iter().filter(|f| f != "budget" || extension.is_none()).collect();
        if !ignored.is_empty() {
            tracing::warn!(
                ignored = %ignored.join(", "),
                "resuming with the checkpoint's hyperparameters; these command-line values differ and are ignored \
                 (an age's hyperparameters are fixed when it starts; only a finished age's budget can grow)"
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
    Ok(Plan { run, preset, start, saved_config, saved_state, cfg, provenance, extension })
}

/// The extension of a finished age that `budget` asks for: None when the age is still
/// training (its budget is fixed until it finishes) or no budget was given; an error when the
/// budget does not go beyond what the age already trained.
fn extension_of(st: &TrainState, budget: Option<Budget>) -> Result<Option<Extension>> {
    let finished = st.total_steps > 0 && st.step >= st.total_steps;
    let Some(budget) = budget.filter(|_| finished) else { return Ok(None) };
    let tps = st.config.tokens_per_step();
    let (beyond, new_total) = match budget {
        Budget::Steps(n) => (n > st.step, n),
        Budget::Tokens(n) => (n.div_ceil(tps) > st.step, n.div_ceil(tps)),
        // The step count is measured again by timing the first steps of the extension.
        Budget::Minutes(m) => (m * 60.0 > st.train_seconds + 1.0, 0),
    };
    if !beyond {
        return Err(Error::invalid(
            "budget",
            format!(
                "age {} finished at step {} ({} tokens, {:.1} minutes); to train it further give a larger budget, \
                 e.g. --steps {}",
                st.age,
                st.step,
                st.tokens,
                st.train_seconds / 60.0,
                st.step * 2
            ),
        ));
    }
    // A short re-warm: the age's warmup, at most a tenth of the added steps.
    let added = new_total.saturating_sub(st.step);
    let warmup = if added > 0 { st.config.warmup_steps.min(added / 10) } else { st.config.warmup_steps }.max(1);
    let start_lr = lr_of(st.step.saturating_sub(1), st.total_steps, &st.config, st.extension.as_ref());
    Ok(Some(Extension { start_step: st.step, previous_total: st.total_steps, start_lr, warmup, budget }))
}

/// Everything the step loop works on.
struct Session {
    run: RunDir,
    cfg: TrainConfig,
    model: Llama,
    opt: AdamW,
    state: TrainState,
    log: MetricsLog,
    train_shard: TokenShard,
    /// Fixed validation batches and their sequence length (None: no validation).
    val: Option<(Vec<Batch>, usize)>,
    start_info: StartInfo,
    /// The newest checkpoint of this session, or the one it started from (so an unchanged age
    /// is not saved again).
    last_checkpoint: Option<Checkpoint>,
}

/// Step 2: shards and tokenizer, the model and optimizer (fresh or loaded), the step count of
/// the budget, and the validation batches.
fn prepare_session(req: &TrainRequest, plan: Plan) -> Result<Session> {
    let Plan { run, preset, start, saved_config, saved_state, cfg, provenance, extension } = plan;
    let split = SplitConfig { val_fraction: 0.05, seed: cfg.seed };
    // A resume reuses the run's shards; the corpus is only read again if they were deleted.
    let PreparedCorpus { tokenizer, train: train_shard, val: val_shard, .. } = prepare(
        &run,
        &req.corpus,
        req.tokenizer.as_deref(),
        req.vocab_size.unwrap_or(preset.vocab_size),
        &split,
        start.checkpoint().is_some(),
    )?;

    let mut mcfg = preset;
    mcfg.vocab_size = tokenizer.vocab_size();
    let (model, mut state, mut opt);
    let dev = &req.device;
    let adam = AdamWParams { beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.adam_eps, weight_decay: cfg.weight_decay };
    match (start.checkpoint(), saved_config, saved_state) {
        (Some(ck), Some(saved), Some(saved_state)) => {
            if saved.vocab_size != tokenizer.vocab_size() {
                return Err(Error::Incompatible {
                    path: run.tokenizer_path(),
                    reason: format!(
                        "the run's tokenizer has {} tokens but age {} was trained with {}",
                        tokenizer.vocab_size(),
                        req.age,
                        saved.vocab_size
                    ),
                    hint: "restore the tokenizer this run was trained with, or start a new --run".into(),
                });
            }
            mcfg = saved;
            model = ck.load_model(&mcfg, dev)?;
            state = saved_state;
            if matches!(start, Start::Grown(_)) {
                state.config = cfg.clone();
            }
            if let Some(e) = extension {
                state.config.budget = e.budget;
                state.total_steps = 0;
                state.extension = Some(e);
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
            state =
                TrainState::start(req.age, cfg.clone(), "stateless: window start = splitmix64(seed, step, micro, row)");
        }
    }
    let mut model = model;
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
    let last_checkpoint = start.checkpoint().cloned();
    let start_info = StartInfo {
        age: req.age,
        model: mcfg.clone(),
        params: mcfg.param_count(),
        start_step: state.step,
        total_steps: (state.total_steps > 0).then_some(state.total_steps),
        train_tokens: train_shard.len(),
        val_tokens: val_shard.len(),
        resumed_from: last_checkpoint.as_ref().map(|c| c.dir.clone()),
        extension,
        peak_lr: cfg.lr,
    };
    Ok(Session { run, cfg, model, opt, state, log, train_shard, val, start_info, last_checkpoint })
}

/// Step 3: optimizer steps until the budget is spent or the observer asks to stop, with
/// validation, the metrics log and periodic checkpoints. Returns whether it was interrupted.
fn run_steps(s: &mut Session, obs: &mut dyn TrainObserver) -> Result<bool> {
    obs.on_start(&s.start_info);
    let cfg = s.cfg.clone();
    let tps = cfg.tokens_per_step();
    let vars = s.model.named_vars();
    let decay: Vec<bool> = vars.iter().map(|(_, v)| v.rank() >= 2).collect();
    // With a time budget, the step count is fixed after timing the first steps (inside warmup,
    // where the LR does not depend on the total) and then saved, so resumes keep the curve.
    // The first step of a session (allocation, page faults) is not timed.
    let measure_steps = cfg.warmup_steps.clamp(2, 6);
    let session_first_step = s.state.step;
    let session_start = Instant::now();
    let seconds_before = s.state.train_seconds;
    let mut interval_start = Instant::now();
    let mut interval_tokens = 0u64;
    let mut timing_start: Option<(Instant, u64)> = None;

    loop {
        let state = &mut s.state;
        if state.total_steps > 0 && state.step >= state.total_steps {
            return Ok(false);
        }
        if obs.should_stop() {
            return Ok(true);
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
        let total = if state.total_steps > 0 { state.total_steps } else { u64::MAX };
        let lr = lr_of(step, total, &cfg, state.extension.as_ref());

        let micro: Vec<Batch> = (0..cfg.grad_accum as u64)
            .map(|m| train_batch(&s.train_shard, cfg.seed, step, m, cfg.batch_size, cfg.seq_len))
            .collect::<Result<_>>()?;
        let out = optimizer_step(
            &s.model,
            &vars,
            &decay,
            &mut s.opt,
            &micro,
            (cfg.batch_size, cfg.seq_len),
            lr,
            cfg.grad_clip,
            step,
        )?;
        let state = &mut s.state;
        state.step += 1;
        state.tokens += tps;
        interval_tokens += tps;
        state.last_loss = Some(out.loss);

        // ---- evaluate, log, checkpoint --------------------------------------------------------
        let last = state.total_steps > 0 && state.step >= state.total_steps;
        let mut val_loss = None;
        if let Some((batches, seq)) = &s.val {
            if state.step.is_multiple_of(cfg.eval_every) || last {
                let v = evaluate(&s.model, batches, cfg.batch_size, *seq)?;
                val_loss = Some(v);
                state.last_val_loss = Some(v);
                if state.best_val_loss.is_none_or(|b| v < b) {
                    state.best_val_loss = Some(v);
                }
            }
        }
        state.train_seconds = seconds_before + session_start.elapsed().as_secs_f64();
        if state.step.is_multiple_of(cfg.log_every.max(1)) || last || val_loss.is_some() {
            let secs = interval_start.elapsed().as_secs_f64();
            let tok_s = interval_tokens as f64 / secs.max(1e-9);
            state.tokens_per_second = Some(tok_s);
            let m = StepMetrics {
                age: state.age,
                step: state.step,
                tokens: state.tokens,
                loss: out.loss,
                val_loss,
                lr,
                grad_norm: out.grad_norm,
                tokens_per_second: tok_s,
                seconds: state.train_seconds,
                total_steps: (state.total_steps > 0).then_some(state.total_steps),
            };
            s.log.append(&m)?;
            obs.on_step(&m);
            interval_start = Instant::now();
            interval_tokens = 0;
        }
        if (cfg.checkpoint_every > 0 && state.step.is_multiple_of(cfg.checkpoint_every)) || last {
            let ck = s.run.save_checkpoint(&s.model, &s.opt.state_tensors(&vars)?, state, cfg.keep_checkpoints)?;
            obs.on_checkpoint(&ck);
            s.last_checkpoint = Some(ck);
        }
    }
}

/// Step 4: always leave a checkpoint of where training stopped (an interrupt, or a budget met
/// before any save), and report.
fn finish(s: Session, interrupted: bool, obs: &mut dyn TrainObserver) -> Result<TrainSummary> {
    let checkpoint = match s.last_checkpoint {
        Some(ck) if ck.step == s.state.step => ck,
        _ => {
            let vars = s.model.named_vars();
            let ck = s.run.save_checkpoint(&s.model, &s.opt.state_tensors(&vars)?, &s.state, s.cfg.keep_checkpoints)?;
            obs.on_checkpoint(&ck);
            ck
        }
    };
    Ok(TrainSummary { state: s.state, checkpoint, interrupted, extended: s.start_info.extension })
}
