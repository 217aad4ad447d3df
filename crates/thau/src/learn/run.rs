//! One learning cycle (`thau learn run`): ask → find gaps → build the dataset → choose the
//! learning rate and steps with a small validation sweep → fine-tune (full or LoRA) with replay
//! → gate → keep the new checkpoint or roll back → record. The checkpoint the cycle started
//! from is never modified or deleted: a kept cycle adds a newer checkpoint beside it, a rolled
//! back one writes none.

use super::augment::{variants, AugmentOptions};
use super::dataset::{Dataset, Example};
use super::gaps::{self, DetectOptions};
use super::gate::{decide, GatePolicy, GateResult};
use super::history::{self, DataSummary, LearnMethod, Outcome, RunRecord, SweepPoint};
use super::lock::RunLock;
use super::lora::{Lora, LoraConfig};
use super::questions::{generate, GenerateQuestions, Question};
use super::score::{score_llama, ScoreSummary, Scored};
use super::sources::all_passages;
use super::store::{learn_dir, LearnStore};
use super::tune::{answer_loss, tune, Encodings, GeneralEval, Snapshot, TuneConfig};
use crate::checkpoint::RunDir;
use crate::data::TokenShard;
use crate::error::{Error, Result};
use crate::memory::MemoryStore;
use crate::model::Age;
use crate::tokenizer::Tokenizer;
use crate::train::adamw::{AdamW, AdamWParams};
use candle_core::{Device, Var};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Conversations to learn from: a memory database and whose turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemorySource {
    pub db: PathBuf,
    pub user: String,
}

/// Settings of a learning cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnOptions {
    pub method: LearnMethod,
    /// Age to learn into (default: the newest trained one).
    pub age: Option<Age>,
    /// Questions only about this (empty: every source).
    pub topic: String,
    /// Questions generated per cycle.
    pub max_questions: usize,
    /// Learning rate and steps; chosen by the sweep when None.
    pub lr: Option<f64>,
    pub steps: Option<u64>,
    /// Learning rates the sweep tries.
    pub sweep_lrs: Vec<f64>,
    /// Passes over the dataset the sweep's longest candidate takes.
    pub epochs: f64,
    pub batch_size: usize,
    /// Mix replay windows of the run's training shard into every step.
    pub replay: bool,
    pub lora: LoraConfig,
    pub policy: GatePolicy,
    pub memory: Option<MemorySource>,
    /// Only conversation turns at or after this time (ms).
    pub since: i64,
    /// Validation windows of the general-loss check.
    pub general_windows: usize,
    /// Knowledge augmentation of the gap questions' facts (off: only the generator's wordings).
    #[serde(default)]
    pub augment: AugmentOptions,
    pub seed: u64,
}

impl Default for LearnOptions {
    fn default() -> Self {
        Self {
            method: LearnMethod::Full,
            age: None,
            topic: String::new(),
            max_questions: 200,
            lr: None,
            steps: None,
            sweep_lrs: vec![3e-4, 1e-3, 3e-3],
            epochs: 6.0,
            batch_size: 8,
            replay: true,
            lora: LoraConfig::default(),
            policy: GatePolicy::default(),
            memory: None,
            since: 0,
            general_windows: 16,
            augment: AugmentOptions::default(),
            seed: 1337,
        }
    }
}

/// LearnProgress events for the CLI.
#[derive(Debug, Clone)]
pub enum LearnProgress {
    /// A stage starts (a sentence).
    Stage(String),
    /// A training step: phase ("sweep lr=…" / "train"), step, total, loss.
    Step { phase: String, step: u64, total: u64, loss: f32 },
}

/// What a cycle found before training: questions, scores, gaps, dataset.
pub struct PreparedCycle {
    pub questions: Vec<Question>,
    pub scored: Vec<Scored>,
    pub conversation_gaps: Vec<gaps::Gap>,
    pub dataset: Dataset,
    /// Questions the gate measures: the wrong self-questions and the conversation gaps.
    pub gate_questions: Vec<Question>,
}

fn open_memory(m: &Option<MemorySource>) -> Result<Option<MemoryStore>> {
    m.as_ref().map(|m| MemoryStore::open(&m.db)).transpose()
}

/// Ask, score and build the dataset (no training).
pub fn prepare(
    model: &crate::model::Llama,
    tok: &Tokenizer,
    store: &LearnStore,
    opts: &LearnOptions,
) -> Result<PreparedCycle> {
    let memory = open_memory(&opts.memory)?;
    let user = opts.memory.as_ref().map(|m| m.user.clone()).unwrap_or_else(|| "default".into());
    let passages = all_passages(store, memory.as_ref().map(|m| (m, user.as_str())))?;
    let questions = generate(
        &passages,
        &GenerateQuestions { topic: opts.topic.clone(), limit: opts.max_questions, ..Default::default() },
    );
    let scored = score_llama(model, tok, &questions)?;
    let wrong: Vec<Question> = scored.iter().filter(|s| !s.correct).map(|s| s.question.clone()).collect();
    let feedback = store.feedback(0, true)?;
    let conversation_gaps = match &memory {
        Some(m) => {
            gaps::detect(m, &feedback, &DetectOptions { user: user.clone(), since: opts.since, ..Default::default() })?
        }
        None => Vec::new(),
    };
    let mut dataset = Dataset::default();
    dataset.add_questions(&wrong, &questions);
    dataset.add_variants(&variants(&wrong, &passages, &questions, &opts.augment));
    dataset.add_conversation_gaps(&conversation_gaps, &passages);
    dataset.add_feedback(&feedback);
    let mut gate_questions = wrong;
    gate_questions.extend(dataset.conversation_questions());
    Ok(PreparedCycle { questions, scored, conversation_gaps, dataset, gate_questions })
}

/// Split examples for the sweep: one wording of each fact that has several is held out (to
/// measure whether the fact, not the wording, was learnt); the rest train.
fn sweep_split(examples: &[Example]) -> (Vec<usize>, Vec<usize>) {
    let mut by_fact: std::collections::BTreeMap<&str, Vec<usize>> = std::collections::BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        by_fact.entry(e.evidence.as_str()).or_default().push(i);
    }
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for idx in by_fact.values() {
        if idx.len() >= 2 {
            held.push(idx[idx.len() - 1]);
            train.extend(&idx[..idx.len() - 1]);
        } else {
            train.extend(idx);
        }
    }
    if held.is_empty() {
        // Nothing to hold out: measure on the training examples themselves.
        held = train.clone();
    }
    train.sort_unstable();
    held.sort_unstable();
    (train, held)
}

/// Open a shard of the run if it exists.
fn shard(run: &RunDir, name: &str) -> Result<Option<TokenShard>> {
    let p = run.data_dir().join(name);
    p.exists().then(|| TokenShard::open(&p)).transpose()
}

/// Run one learning cycle on the run at `run`, holding its lock (one run at a time; another
/// running one is an [`Error::Busy`]).
pub fn learn(run: &Path, opts: &LearnOptions, progress: &mut dyn FnMut(LearnProgress)) -> Result<RunRecord> {
    let lock = RunLock::acquire(run, "thau learn run")?;
    learn_locked(run, opts, &lock, progress)
}

/// [`learn`] for a caller that already holds the run's lock.
pub fn learn_locked(
    run: &Path,
    opts: &LearnOptions,
    _lock: &RunLock,
    progress: &mut dyn FnMut(LearnProgress),
) -> Result<RunRecord> {
    let t0 = Instant::now();
    let rd = RunDir::new(run);
    let age = match opts.age {
        Some(a) => a,
        None => rd.latest_age()?,
    };
    let base = rd.latest(age)?;
    let mcfg = rd.load_config(age)?;
    let tok = Tokenizer::load(&rd.tokenizer_path())?;
    let mut model = base.load_model(&mcfg, &Device::Cpu)?;
    let store = LearnStore::open(run)?;
    let id = history::next_id(run)?;

    // ---- ask and find the gaps -------------------------------------------------------------
    progress(LearnProgress::Stage("asking the model closed-book questions about its sources".into()));
    let prep = prepare(&model, &tok, &store, opts)?;
    if prep.questions.is_empty() && prep.conversation_gaps.is_empty() {
        return Err(Error::invalid(
            "learning sources",
            format!(
                "no question could be made{}: add documents with `thau learn add --run {} FILE`",
                if opts.topic.is_empty() { String::new() } else { format!(" about '{}'", opts.topic) },
                run.display()
            ),
        ));
    }
    if prep.dataset.examples.is_empty() || prep.gate_questions.is_empty() {
        return Err(Error::invalid(
            "learning run",
            format!(
                "nothing to learn: the model answers all {} questions correctly and no conversation gap has an answer",
                prep.questions.len()
            ),
        ));
    }
    let datasets = learn_dir(run).join("datasets");
    let dataset_path = prep.dataset.save(&datasets, &id)?;
    let before_scores: Vec<Scored> = {
        let wrong: Vec<Scored> = prep.scored.iter().filter(|s| !s.correct).cloned().collect();
        let conv: Vec<Question> = prep.gate_questions[wrong.len()..].to_vec();
        let mut all = wrong;
        all.extend(score_llama(&model, &tok, &conv)?);
        all
    };
    let before = ScoreSummary::of(&before_scores);

    // ---- data for training and the general check -------------------------------------------
    let val = shard(&rd, "val.bin")?.ok_or_else(|| {
        Error::not_found(
            rd.data_dir().join("val.bin"),
            "the gate needs the run's validation shard to check forgetting: run `thau train` on this run first",
        )
    })?;
    let train_shard = if opts.replay { shard(&rd, "train.bin")? } else { None };
    if opts.replay && train_shard.is_none() {
        tracing::warn!("the run has no data/train.bin: learning without replay");
    }
    let general = GeneralEval::new(&val, opts.general_windows, 128.min(mcfg.max_seq_len))?;
    let general_before = general.loss(&model)?;
    let examples = prep.dataset.sft_examples();
    let all_enc = Encodings::new(&model, &tok, &examples)?;

    // The base weights, to roll back to (and to restart every sweep candidate from).
    let base_vars = model.named_vars().into_iter().map(|(n, v)| (n, v.clone())).collect::<Vec<(String, Var)>>();
    let base_refs: Vec<(String, &Var)> = base_vars.iter().map(|(n, v)| (n.clone(), v)).collect();
    let base_snapshot = Snapshot::take(&base_refs)?;
    let lora = match opts.method {
        LearnMethod::Lora => {
            let l = Arc::new(Lora::new(&model, opts.lora.clone())?);
            l.attach(&mut model);
            Some(l)
        }
        LearnMethod::Full => None,
    };
    let trainable: Vec<(String, &Var)> = match &lora {
        Some(l) => l.named_vars(),
        None => base_refs.clone(),
    };
    let trainable_snapshot = Snapshot::take(&trainable)?;

    // ---- sweep -------------------------------------------------------------------------------
    let n = examples.len().max(1);
    let auto_steps = ((opts.epochs * n as f64 / opts.batch_size as f64).ceil() as u64).clamp(20, 600);
    let mut sweep = Vec::new();
    let (lr, steps) = match (opts.lr, opts.steps) {
        (Some(lr), Some(steps)) => (lr, steps),
        _ => {
            let max_steps = opts.steps.unwrap_or(auto_steps);
            let lrs = match opts.lr {
                Some(lr) => vec![lr],
                None => opts.sweep_lrs.clone(),
            };
            let (train_idx, held_idx) = sweep_split(&prep.dataset.examples);
            let train_ex: Vec<_> = train_idx.iter().map(|&i| examples[i].clone()).collect();
            let held_ex: Vec<_> = held_idx.iter().map(|&i| examples[i].clone()).collect();
            let train_enc = Encodings::new(&model, &tok, &train_ex)?;
            let held_enc = Encodings::new(&model, &tok, &held_ex)?;
            let held_refs: Vec<_> = held_enc.rows.iter().collect();
            let checkpoints =
                if opts.steps.is_some() { vec![max_steps] } else { vec![max_steps / 3, 2 * max_steps / 3, max_steps] };
            for &lr in &lrs {
                progress(LearnProgress::Stage(format!("sweep: lr {lr:e}, up to {max_steps} steps")));
                trainable_snapshot.restore(&trainable)?;
                let cfg = TuneConfig {
                    steps: max_steps,
                    lr,
                    batch_size: opts.batch_size,
                    replay: opts.replay,
                    seed: opts.seed,
                    ..TuneConfig::default()
                };
                let mut points = Vec::new();
                let phase = format!("sweep lr={lr:e}");
                let res = tune(
                    &model,
                    &trainable,
                    &train_enc,
                    train_shard.as_ref(),
                    &cfg,
                    &checkpoints,
                    &mut |step| {
                        let answer = answer_loss(&model, &held_refs)?;
                        let gl = general.loss(&model)?;
                        let ok = answer.is_finite()
                            && gl.is_finite()
                            && (gl - general_before) / general_before <= opts.policy.max_general_regression;
                        points.push(SweepPoint {
                            lr,
                            steps: step,
                            answer_loss: answer,
                            general_loss: gl,
                            eligible: ok,
                        });
                        Ok(())
                    },
                    &mut |step, loss| {
                        progress(LearnProgress::Step { phase: phase.clone(), step, total: max_steps, loss })
                    },
                );
                match res {
                    Ok(_) => {}
                    Err(Error::Diverged { step, .. }) => {
                        tracing::info!(lr, step, "sweep candidate diverged");
                        points.push(SweepPoint {
                            lr,
                            steps: step,
                            answer_loss: f64::NAN,
                            general_loss: f64::NAN,
                            eligible: false,
                        });
                    }
                    Err(e) => return Err(e),
                }
                sweep.extend(points);
            }
            let best = sweep
                .iter()
                .filter(|p| p.eligible)
                .min_by(|a, b| a.answer_loss.total_cmp(&b.answer_loss))
                .copied()
                .or_else(|| {
                    sweep
                        .iter()
                        .filter(|p| p.answer_loss.is_finite())
                        .min_by(|a, b| a.answer_loss.total_cmp(&b.answer_loss))
                        .copied()
                });
            match best {
                Some(p) => (p.lr, p.steps),
                None => (lrs[0], max_steps),
            }
        }
    };

    // ---- the learning run itself ------------------------------------------------------------
    progress(LearnProgress::Stage(format!("learning: lr {lr:e}, {steps} steps on {} examples", examples.len())));
    trainable_snapshot.restore(&trainable)?;
    let cfg = TuneConfig {
        steps,
        lr,
        batch_size: opts.batch_size,
        replay: opts.replay,
        seed: opts.seed,
        ..TuneConfig::default()
    };
    let trained =
        tune(&model, &trainable, &all_enc, train_shard.as_ref(), &cfg, &[], &mut |_| Ok(()), &mut |step, loss| {
            progress(LearnProgress::Step { phase: "learn".into(), step, total: steps, loss })
        });
    let diverged = match trained {
        Ok(_) => None,
        Err(Error::Diverged { step, loss }) => Some((step, loss)),
        Err(e) => {
            base_snapshot.restore(&base_refs)?;
            return Err(e);
        }
    };

    // ---- gate ---------------------------------------------------------------------------------
    progress(LearnProgress::Stage("gate: asking the gap questions again and checking the held-out loss".into()));
    let mut adapter_path = None;
    let gate: GateResult = match diverged {
        Some((step, loss)) => {
            let mut g = decide(opts.policy, before, ScoreSummary::default(), general_before, f64::NAN);
            g.accepted = false;
            g.reasons.insert(
                0,
                format!("training diverged at step {step} (loss {loss}): the learning rate {lr:e} is too high"),
            );
            g
        }
        None => {
            if let Some(l) = &lora {
                let path = super::history::runs_dir(run).join(format!("{id}.lora.safetensors"));
                crate::fs::write_atomic(&path, &l.to_safetensors()?)?;
                adapter_path = Some(path);
                l.merge(&mut model)?;
            }
            let after_scores = score_llama(&model, &tok, &prep.gate_questions)?;
            let general_after = general.loss(&model)?;
            decide(opts.policy, before, ScoreSummary::of(&after_scores), general_before, general_after)
        }
    };

    // ---- keep or roll back ----------------------------------------------------------------
    let mut checkpoint_after = None;
    let outcome = if gate.accepted {
        let mut state = base.load_state()?;
        state.step += steps;
        state.total_steps = state.total_steps.max(state.step);
        let vars = model.named_vars();
        let optim = AdamW::new(AdamWParams { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.0 }, &vars)
            .state_tensors(&vars)?;
        let ck = rd.save_checkpoint(&model, &optim, &state, usize::MAX)?;
        let note = serde_json::json!({"learning_run": id, "base": base.dir, "record": history::runs_dir(run).join(format!("{id}.json"))});
        crate::fs::write_atomic(&ck.dir.join("learn.json"), note.to_string().as_bytes())?;
        store.mark_feedback(&prep.dataset.feedback_ids, Some(&id))?;
        checkpoint_after = Some(ck.dir);
        Outcome::Kept
    } else {
        base_snapshot.restore(&base_refs)?;
        Outcome::RolledBack
    };
    let rec = RunRecord {
        id,
        created_at: crate::memory::now_ms(),
        outcome,
        method: opts.method,
        age,
        lr,
        steps,
        batch_size: opts.batch_size,
        sweep,
        data: DataSummary {
            examples: examples.len(),
            gap_questions: prep.gate_questions.len(),
            sources: prep.dataset.sources(),
            feedback_ids: prep.dataset.feedback_ids.clone(),
            replay_windows_per_step: if opts.replay && train_shard.is_some() { opts.batch_size } else { 0 },
            dataset: dataset_path,
        },
        gate,
        checkpoint_before: base.dir.clone(),
        checkpoint_after,
        adapter: adapter_path,
        seconds: t0.elapsed().as_secs_f64(),
        undone_to: None,
    };
    history::save(run, &rec)?;
    Ok(rec)
}
