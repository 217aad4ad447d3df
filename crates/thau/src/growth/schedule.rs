//! The age schedule: train an age until its token budget is spent or its validation loss
//! stops improving, grow it into the next age, and so on, unattended and resumable.
//!
//! A schedule file is JSON, for example:
//!
//! ```json
//! { "stages": [
//!     { "age": 0, "preset": "tiny",   "budget": { "tokens": 200000 } },
//!     { "age": 1, "preset": "tiny-2", "budget": { "tokens": 400000 },
//!       "plateau": { "patience": 4, "min_delta": 0.005 }, "method": "preserve", "lr": 0.002 },
//!     { "age": 3, "preset": "tiny-3", "budget": { "steps": 500 }, "warmup_steps": 20 }
//! ] }
//! ```
//!
//! Per stage: `age` (strictly increasing), `preset` (default: the age's), `budget` (`tokens`,
//! `steps` or `minutes`: the most this age trains), optional `plateau` (stop the age once the
//! last `patience` validations have not beaten the best before them by `min_delta`), `method`
//! (`preserve`, default, or `stack`: how the previous age grows into this one), and optional
//! `lr`, `warmup_steps` overriding the command line's. Each age re-warms its learning rate and
//! runs its own cosine schedule; AdamW moments carry over through growth.
//!
//! The schedule is saved as `runs/NAME/schedule.json` when the run starts, and everything the
//! runner decides can be recomputed from the run folder (checkpoints and `metrics.jsonl`), so
//! running the same command again after a kill continues where it stopped.

use super::grow::{grow_run, GrowOutcome, GrowRequest};
use super::plan::GrowthPlan;
use crate::checkpoint::GrowthMethod;
use crate::checkpoint::{Checkpoint, RunDir};
use crate::error::{read_file, Error, Result};
use crate::model::{Age, ModelConfig, Preset};
use crate::train::{
    train, Budget, CorpusSource, MetricsLog, StartInfo, StepMetrics, TrainConfig, TrainObserver, TrainRequest,
};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// When an age has stopped improving.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plateau {
    /// Validations without enough improvement before the age ends.
    pub patience: usize,
    /// Improvement (nats/token) that counts.
    #[serde(default)]
    pub min_delta: f32,
}

impl Plateau {
    /// Whether the last `patience` of `vals` (validation losses in order) failed to beat the
    /// best before them by `min_delta`.
    pub fn reached(&self, vals: &[f32]) -> bool {
        if self.patience == 0 || vals.len() <= self.patience {
            return false;
        }
        let (before, recent) = vals.split_at(vals.len() - self.patience);
        let best_before = before.iter().copied().fold(f32::INFINITY, f32::min);
        recent.iter().all(|&v| v > best_before - self.min_delta)
    }
}

/// One age of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub age: Age,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    pub budget: Budget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plateau: Option<Plateau>,
    #[serde(default)]
    pub method: GrowthMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_steps: Option<u64>,
}

impl Stage {
    /// The preset this stage trains: the one named, else its age's.
    pub fn preset(&self) -> Preset {
        self.preset.unwrap_or(Preset::Age(self.age))
    }
}

/// Ages to train in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub stages: Vec<Stage>,
}

/// The plateau rule of `--schedule auto`.
pub const AUTO_PLATEAU: Plateau = Plateau { patience: 5, min_delta: 0.002 };

impl Schedule {
    /// The ladder that starts at `first` (tiny → tiny-2 → tiny-3, demo → demo-2, or the ages
    /// 0 → 15), each age trained for `budget` (default: 20 tokens per parameter, the
    /// Chinchilla ratio) or until its validation loss plateaus.
    pub fn auto(first: Preset, budget: Option<Budget>) -> Result<Self> {
        let ladder: Vec<Preset> = match first {
            Preset::Tiny => vec![Preset::Tiny, Preset::Tiny2, Preset::Tiny3],
            Preset::Demo => vec![Preset::Demo, Preset::Demo2],
            Preset::Age(Age::YOUNGEST) => Age::all().map(Preset::Age).collect(),
            other => {
                return Err(Error::invalid(
                    "--schedule auto",
                    format!("there is no growth ladder from preset '{other}': use --preset tiny, demo or {}, or a schedule file", Preset::Age(Age::YOUNGEST)),
                ))
            }
        };
        let stages = ladder
            .into_iter()
            .zip(Age::all())
            .map(|(preset, age)| {
                let params = ModelConfig::of(preset).param_count() as u64;
                Ok(Stage {
                    age,
                    preset: Some(preset),
                    budget: budget.unwrap_or(Budget::Tokens(20 * params)),
                    plateau: Some(AUTO_PLATEAU),
                    method: GrowthMethod::Preserve,
                    lr: None,
                    warmup_steps: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { stages })
    }

    /// Read and check a schedule file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_file(path, "give an existing schedule file, or `--schedule auto`")?;
        let s: Self = serde_json::from_slice(&bytes).map_err(|e| {
            Error::corrupt(path, e.to_string(), "see `thau train --help` and growth::schedule for the format")
        })?;
        s.validate().map_err(|e| match e {
            Error::Invalid { reason, .. } => Error::invalid(format!("schedule {}", path.display()), reason),
            e => e,
        })?;
        Ok(s)
    }

    /// Ages increase, presets exist and each grows into the next, numbers are sensible.
    pub fn validate(&self) -> Result<()> {
        let bad = |i: usize, why: String| Err(Error::invalid("schedule", format!("stage {} ({why})", i + 1)));
        if self.stages.is_empty() {
            return Err(Error::invalid("schedule", "it has no stages"));
        }
        let mut prev: Option<(Age, ModelConfig)> = None;
        for (i, st) in self.stages.iter().enumerate() {
            let mut cfg = ModelConfig::of(st.preset());
            match st.budget {
                Budget::Steps(0) | Budget::Tokens(0) => return bad(i, "budget must be at least 1".into()),
                Budget::Minutes(m) if !(m.is_finite() && m > 0.0) => return bad(i, "minutes must be positive".into()),
                _ => {}
            }
            if let Some(p) = st.plateau {
                if p.patience == 0 || !(p.min_delta.is_finite() && p.min_delta >= 0.0) {
                    return bad(i, "plateau needs patience >= 1 and a finite min_delta >= 0".into());
                }
            }
            if st.lr.is_some_and(|lr| !(lr.is_finite() && lr > 0.0)) {
                return bad(i, "lr must be a positive number".into());
            }
            if let Some((age, parent)) = &prev {
                if st.age <= *age {
                    return bad(i, format!("age {} does not come after age {age}", st.age));
                }
                cfg.vocab_size = parent.vocab_size; // a run has one tokenizer
                if let Err(e) = GrowthPlan::new(parent, &cfg, st.method) {
                    return bad(i, e.to_string());
                }
            }
            prev = Some((st.age, cfg));
        }
        Ok(())
    }
}

/// Everything a schedule run needs: the run, its data, and the hyperparameters every age
/// shares (a stage's budget, lr and warmup override them).
#[derive(Debug, Clone)]
pub struct ScheduleRequest {
    pub run: PathBuf,
    pub corpus: CorpusSource,
    pub tokenizer: Option<PathBuf>,
    pub vocab_size: Option<usize>,
    pub config: TrainConfig,
    pub schedule: Schedule,
    pub device: Device,
}

/// How a schedule run ended.
#[derive(Debug, Clone)]
pub struct ScheduleOutcome {
    /// Stopped by the observer (Ctrl-C) before the last stage finished.
    pub interrupted: bool,
    /// The last age trained, and its newest checkpoint.
    pub age: Age,
    pub checkpoint: Option<Checkpoint>,
}

/// The observer of one age: passes everything on and ends the age at a plateau.
struct PlateauWatch<'a> {
    inner: &'a mut dyn TrainObserver,
    plateau: Option<Plateau>,
    vals: Vec<f32>,
    reached: bool,
}

impl TrainObserver for PlateauWatch<'_> {
    fn on_start(&mut self, info: &StartInfo) {
        self.inner.on_start(info)
    }
    fn on_step(&mut self, m: &StepMetrics) {
        self.inner.on_step(m);
        if let (Some(v), Some(p)) = (m.val_loss, self.plateau) {
            self.vals.push(v);
            if p.reached(&self.vals) {
                tracing::info!(age = m.age.get(), step = m.step, "validation loss plateaued: ending this age");
                self.reached = true;
            }
        }
    }
    fn on_checkpoint(&mut self, c: &Checkpoint) {
        self.inner.on_checkpoint(c)
    }
    fn should_stop(&self) -> bool {
        self.reached || self.inner.should_stop()
    }
}

/// Validation losses of `age` logged up to `step`, in order.
fn val_history(run: &RunDir, age: Age, step: u64) -> Result<Vec<f32>> {
    Ok(MetricsLog::read(&run.metrics_path())?
        .into_iter()
        .filter(|m| m.age == age && m.step <= step)
        .filter_map(|m| m.val_loss)
        .collect())
}

/// The schedule a run follows: the one saved in the run, else `given` (then saved).
fn settle_schedule(run: &RunDir, given: &Schedule) -> Result<Schedule> {
    let path = run.root.join("schedule.json");
    if path.exists() {
        let saved = Schedule::load(&path)?;
        if saved != *given {
            tracing::warn!(file = %path.display(), "the run already follows this saved schedule; the given one is ignored");
        }
        return Ok(saved);
    }
    given.validate()?;
    let json = serde_json::to_vec_pretty(given).map_err(|e| Error::invalid("schedule", e.to_string()))?;
    crate::fs::write_atomic(&path, &json)?;
    Ok(given.clone())
}

/// Train every stage in turn, growing between them. `on_grow` hears of each growth.
pub fn run_schedule(
    req: &ScheduleRequest,
    obs: &mut dyn TrainObserver,
    on_grow: &mut dyn FnMut(&GrowOutcome),
) -> Result<ScheduleOutcome> {
    let run = RunDir::new(&req.run);
    let schedule = settle_schedule(&run, &req.schedule)?;
    let mut outcome = ScheduleOutcome { interrupted: false, age: schedule.stages[0].age, checkpoint: None };
    for (i, st) in schedule.stages.iter().enumerate() {
        let mut cfg = req.config.clone();
        cfg.budget = st.budget;
        cfg.lr = st.lr.unwrap_or(cfg.lr);
        cfg.warmup_steps = st.warmup_steps.unwrap_or(cfg.warmup_steps);
        // Each age draws its own batches (batches hash seed and step, and steps restart).
        cfg.seed = req.config.seed.wrapping_add(st.age.get() as u64);
        outcome.age = st.age;
        if i > 0 && run.checkpoints(st.age)?.is_empty() {
            let grown = grow_run(&GrowRequest {
                run: req.run.clone(),
                to_age: st.age,
                preset: Some(st.preset()),
                method: st.method,
                seed: None,
                config: Some(cfg.clone()),
                device: req.device.clone(),
            })?;
            on_grow(&grown);
        }
        let existing = run.checkpoints(st.age)?;
        if let Some(last) = existing.last() {
            let state = last.load_state()?;
            let budget_spent = state.total_steps > 0 && state.step >= state.total_steps;
            let plateaued = st
                .plateau
                .is_some_and(|p| val_history(&run, st.age, last.step).map(|v| p.reached(&v)).unwrap_or(false));
            if budget_spent || plateaued {
                outcome.checkpoint = Some(last.clone());
                continue;
            }
        }
        let mut watch = PlateauWatch { inner: obs, plateau: st.plateau, vals: Vec::new(), reached: false };
        if let Some(last) = existing.last() {
            watch.vals = val_history(&run, st.age, last.step)?;
        }
        let summary = train(
            &TrainRequest {
                run: req.run.clone(),
                age: st.age,
                preset: Some(st.preset()),
                corpus: req.corpus.clone(),
                tokenizer: req.tokenizer.clone(),
                vocab_size: req.vocab_size,
                config: cfg,
                resume: !existing.is_empty(),
                extend_to: None,
                device: req.device.clone(),
            },
            &mut watch,
        )?;
        outcome.checkpoint = Some(summary.checkpoint.clone());
        if summary.interrupted && !watch.reached {
            outcome.interrupted = true;
            return Ok(outcome);
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plateau_rule() {
        let p = Plateau { patience: 2, min_delta: 0.01 };
        assert!(!p.reached(&[3.0, 2.9]));
        assert!(!p.reached(&[3.0, 2.9, 2.8, 2.7]));
        assert!(p.reached(&[3.0, 2.9, 2.895, 2.92]));
        assert!(!p.reached(&[3.0, 2.9, 2.95, 2.85]));
    }

    #[test]
    fn auto_ladders_are_valid() {
        for first in [Preset::Tiny, Preset::Demo, Preset::Age(Age::YOUNGEST)] {
            Schedule::auto(first, Some(Budget::Steps(10))).unwrap().validate().unwrap();
        }
        assert!(Schedule::auto(Preset::Bench, None).is_err());
    }
}
