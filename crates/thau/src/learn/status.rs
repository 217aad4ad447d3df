//! `thau status`: what a run has learned so far (the seed's `get_training_stats`).

use crate::checkpoint::RunDir;
use crate::error::Result;
use crate::model::Age;
use crate::train::MetricsLog;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize)]
pub struct AgeStatus {
    pub age: Age,
    pub preset: String,
    pub params: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub step: u64,
    pub total_steps: u64,
    pub tokens: u64,
    pub last_loss: Option<f32>,
    pub best_val_loss: Option<f32>,
    pub train_seconds: f64,
    pub tokens_per_second: Option<f64>,
    pub last_checkpoint: Option<PathBuf>,
    pub complete: bool,
    /// "age 0 step 400 (preserve)" for an age grown from an earlier one.
    pub grown_from: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    pub run: PathBuf,
    pub vocab_size: Option<usize>,
    pub train_tokens: Option<u64>,
    pub val_tokens: Option<u64>,
    pub ages: Vec<AgeStatus>,
    pub total_tokens: u64,
    pub logged_steps: usize,
    /// Self-learning: learning runs so far and whether one is due (None before `thau learn`).
    pub learning: Option<super::ScheduleStatus>,
    /// What the last `thau serve` of this run served (None: never served).
    pub serving: Option<crate::infer::Served>,
    /// Whether that server is still running (None where this cannot be told).
    pub server_running: Option<bool>,
}

/// Collect the status of a run folder.
pub fn run_status(run: &RunDir) -> Result<RunStatus> {
    let mut ages = Vec::new();
    for age in run.ages()? {
        let cfg = run.load_config(age)?;
        let last = run.checkpoints(age)?.pop();
        let st = last.as_ref().map(|c| c.load_state()).transpose()?;
        let grown_from = run
            .load_provenance(age)?
            .map(|p| format!("age {} step {} ({}, {})", p.parent_age, p.parent_step, p.parent_preset, p.method));
        ages.push(AgeStatus {
            age,
            preset: cfg.name.clone(),
            params: cfg.param_count(),
            d_model: cfg.d_model,
            n_layers: cfg.n_layers,
            step: st.as_ref().map_or(0, |s| s.step),
            total_steps: st.as_ref().map_or(0, |s| s.total_steps),
            tokens: st.as_ref().map_or(0, |s| s.tokens),
            last_loss: st.as_ref().and_then(|s| s.last_loss),
            best_val_loss: st.as_ref().and_then(|s| s.best_val_loss),
            train_seconds: st.as_ref().map_or(0.0, |s| s.train_seconds),
            tokens_per_second: st.as_ref().and_then(|s| s.tokens_per_second),
            last_checkpoint: last.map(|c| c.dir),
            complete: st.as_ref().is_some_and(|s| s.total_steps > 0 && s.step >= s.total_steps),
            grown_from,
        });
    }
    let vocab_size = crate::tokenizer::Tokenizer::load(&run.tokenizer_path()).ok().map(|t| t.vocab_size());
    let shards = crate::data::ShardStats::load(&run.data_dir()).ok();
    // Advisory: a damaged record is logged, not fatal (the server writes it again).
    let serving = crate::infer::read_serving(&run.root).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read which checkpoint is served");
        None
    });
    Ok(RunStatus {
        run: run.root.clone(),
        vocab_size,
        train_tokens: shards.as_ref().map(|s| s.train_tokens),
        val_tokens: shards.as_ref().map(|s| s.val_tokens),
        total_tokens: ages.iter().map(|a| a.tokens).sum(),
        ages,
        logged_steps: MetricsLog::read(&run.metrics_path())?.len(),
        learning: learning_status(&run.root),
        server_running: serving.as_ref().and_then(|s| s.process_running()),
        serving,
    })
}

/// The learning schedule of a run that has a learning store (a damaged one is logged, not fatal).
fn learning_status(run: &std::path::Path) -> Option<super::ScheduleStatus> {
    if !super::learn_dir(run).join("learn.sqlite").exists() {
        return None;
    }
    let st = super::LearnStore::open(run)
        .and_then(|store| super::schedule::status(run, &store, None, crate::memory::now_ms()));
    st.map_err(|e| tracing::warn!(error = %e, "could not read the learning store")).ok()
}
