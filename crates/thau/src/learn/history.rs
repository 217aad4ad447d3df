//! Versioned learning runs: every `thau learn run` leaves `runs/<name>/learn/runs/<id>.json`
//! (written atomically) saying which data it learnt from, with which settings, what the gate
//! measured and decided, and which checkpoint it started from and wrote. `undo` moves the
//! newest kept run's checkpoint out of the age (into `learn/undone/`, never deleted), so the
//! checkpoint it started from is the newest again.

use super::gate::GateResult;
use super::store::learn_dir;
use crate::checkpoint::RunDir;
use crate::error::{read_file, Error, Result};
use crate::model::Age;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What happened to a learning run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The gate accepted it: its checkpoint is the run's newest.
    Kept,
    /// The gate rejected it: the weights were rolled back, no checkpoint was written.
    RolledBack,
    /// Kept, then undone with `thau learn undo`.
    Undone,
}

/// Fine-tuning method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LearnMethod {
    /// Every weight trains.
    Full,
    /// Low-rank adapters train and are merged into the weights when kept.
    Lora,
}

impl std::str::FromStr for LearnMethod {
    type Err = crate::Error;
    /// `full` or `lora`.
    fn from_str(s: &str) -> crate::Result<Self> {
        crate::error::one_of("--method", s, &[("full", Self::Full), ("lora", Self::Lora)])
    }
}

/// One point of the learning-rate/steps sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub lr: f64,
    pub steps: u64,
    /// Answer loss on the sweep's validation questions (lower is better).
    pub answer_loss: f64,
    /// Held-out general loss after these steps.
    pub general_loss: f64,
    /// Within the general-loss budget and chosen candidates compete on answer loss.
    pub eligible: bool,
}

/// The data a run learnt from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DataSummary {
    /// Supervised examples (question → grounded answer).
    pub examples: usize,
    /// Questions the gate measures (the gaps).
    pub gap_questions: usize,
    /// Passage, turn and feedback ids the examples came from.
    pub sources: Vec<String>,
    /// Feedback rows used.
    pub feedback_ids: Vec<i64>,
    /// Replay windows from the run's training shard mixed into every step.
    pub replay_windows_per_step: usize,
    /// The dataset file (chat-format JSONL).
    pub dataset: PathBuf,
}

/// A learning run's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub outcome: Outcome,
    pub method: LearnMethod,
    pub age: Age,
    /// Learning rate and steps actually used (chosen by the sweep unless given).
    pub lr: f64,
    pub steps: u64,
    pub batch_size: usize,
    pub sweep: Vec<SweepPoint>,
    pub data: DataSummary,
    pub gate: GateResult,
    pub checkpoint_before: PathBuf,
    pub checkpoint_after: Option<PathBuf>,
    /// The trained LoRA adapters (safetensors), for a LoRA run.
    pub adapter: Option<PathBuf>,
    pub seconds: f64,
    /// Set by undo: where the undone checkpoint was moved.
    #[serde(default)]
    pub undone_to: Option<PathBuf>,
}

/// `runs/<name>/learn/runs/`.
pub fn runs_dir(run: &Path) -> PathBuf {
    learn_dir(run).join("runs")
}

/// Every record, oldest first.
pub fn list(run: &Path) -> Result<Vec<RunRecord>> {
    let dir = runs_dir(run);
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let bytes = read_file(p, "")?;
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::corrupt(p, e.to_string(), "move the file out of learn/runs/ to ignore that run"))
        })
        .collect()
}

/// The id the next run gets: `0001`, `0002`, …
pub fn next_id(run: &Path) -> Result<String> {
    let n = list(run)?.iter().filter_map(|r| r.id.parse::<u64>().ok()).max().unwrap_or(0);
    Ok(format!("{:04}", n + 1))
}

/// Write (or rewrite) a record atomically.
pub fn save(run: &Path, rec: &RunRecord) -> Result<PathBuf> {
    let path = runs_dir(run).join(format!("{}.json", rec.id));
    let json = serde_json::to_vec_pretty(rec).map_err(|e| Error::invalid("learning run record", e.to_string()))?;
    crate::fs::write_atomic(&path, &json)?;
    Ok(path)
}

/// Undo the newest kept learning run: its checkpoint leaves the age's `step-*` folders (moved
/// to `learn/undone/<id>-step-S`), so the checkpoint it started from is the newest again.
/// Refuses when the age trained further after that run (undoing would hide that training).
pub fn undo(run: &Path) -> Result<RunRecord> {
    let records = list(run)?;
    let Some(mut rec) = records.into_iter().rev().find(|r| r.outcome == Outcome::Kept) else {
        return Err(Error::invalid("undo", "no kept learning run to undo: `thau learn history` lists them"));
    };
    let after = rec.checkpoint_after.clone().ok_or_else(|| {
        Error::corrupt(
            runs_dir(run).join(format!("{}.json", rec.id)),
            "kept run without a checkpoint",
            "move the record aside",
        )
    })?;
    let rd = RunDir::new(run);
    let latest = rd.latest(rec.age)?;
    if latest.dir != after {
        return Err(Error::invalid(
            "undo",
            format!(
                "the newest checkpoint of age {} is {}, not learning run {}'s ({}): the model trained further since, \
                 so undoing would hide that training; restore by hand if you mean it",
                rec.age,
                latest.dir.display(),
                rec.id,
                after.display()
            ),
        ));
    }
    if !rec.checkpoint_before.is_dir() {
        return Err(Error::not_found(
            &rec.checkpoint_before,
            "the checkpoint this learning run started from is gone, so there is nothing to restore",
        ));
    }
    let undone = learn_dir(run).join("undone");
    std::fs::create_dir_all(&undone).map_err(|e| Error::io(&undone, e))?;
    let name = after.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let dest = undone.join(format!("{}-age{}-{}", rec.id, rec.age, name));
    std::fs::rename(&after, &dest).map_err(|e| Error::io(&after, e))?;
    crate::fs::sync_dir(after.parent().unwrap_or(Path::new(".")))?;
    rec.outcome = Outcome::Undone;
    rec.undone_to = Some(dest);
    save(run, &rec)?;
    if let Ok(store) = super::store::LearnStore::open(run) {
        store.unmark_run(&rec.id)?;
    }
    tracing::info!(id = %rec.id, restored = %rec.checkpoint_before.display(), "learning run undone");
    Ok(rec)
}
