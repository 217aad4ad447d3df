//! The learning schedule (auto-tuning from interactions): when enough new feedback or new
//! conversation gaps have accumulated since the last learning run, a run is due. Off by
//! default; `thau learn schedule` turns it on. [`run_if_due`] starts the run: `thau learn auto`
//! (from cron) and `thau serve` (in a background thread after feedback arrives) call it; one
//! run at a time ([`super::lock`]); `thau status` shows where it stands.

use super::gaps::{self, DetectOptions};
use super::history::{self, Outcome, RunRecord};
use super::lock::{self, LockInfo, RunLock};
use super::run::{learn_locked, LearnOptions, LearnProgress, MemorySource};
use super::store::LearnStore;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Settings key in the learning store.
const KEY: &str = "schedule";

/// Settings key of the last automatic run that failed.
const FAILED_KEY: &str = "schedule_last_failure";

/// When a learning run is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LearnSchedule {
    pub enabled: bool,
    /// New feedback items (not yet learnt from) that make a run due.
    pub min_feedback: usize,
    /// New conversation gaps (since the last run, in the run's `memory.sqlite`) that make a
    /// run due; 0 counts feedback only.
    pub min_gaps: usize,
    /// Whose conversations count (the memory store's user).
    pub user: String,
    /// Hours that must pass after the previous learning run (or failed automatic attempt).
    pub min_interval_hours: f64,
}

impl Default for LearnSchedule {
    fn default() -> Self {
        Self { enabled: false, min_feedback: 20, min_gaps: 20, user: "default".into(), min_interval_hours: 24.0 }
    }
}

impl LearnSchedule {
    pub fn validate(&self) -> Result<()> {
        if self.min_feedback == 0 || !(self.min_interval_hours.is_finite() && self.min_interval_hours >= 0.0) {
            return Err(Error::invalid(
                "schedule",
                "min feedback >= 1 and a non-negative interval in hours (min gaps 0 counts feedback only)",
            ));
        }
        if self.user.trim().is_empty() {
            return Err(Error::invalid("schedule", "the user whose conversations count must not be empty"));
        }
        Ok(())
    }
}

/// An automatic run that failed (kept so a broken setup is not retried on every feedback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Unix ms.
    pub at: i64,
    pub error: String,
}

/// Where the schedule stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleStatus {
    pub schedule: LearnSchedule,
    /// Feedback no learning run has used yet.
    pub pending_feedback: usize,
    /// Of which thumbs-down or with a correction.
    pub pending_negative: usize,
    /// Conversation gaps since the last run (None: the run has no memory.sqlite).
    pub pending_gaps: Option<usize>,
    /// Learning runs so far, and how many were kept.
    pub runs: usize,
    pub kept: usize,
    /// Unix ms of the newest learning run.
    pub last_run_at: Option<i64>,
    pub due: bool,
    /// One sentence: why it is or is not due.
    pub reason: String,
    /// The learning run in progress, if any.
    pub running: Option<LockInfo>,
    /// The last automatic run that failed, if it came after the last recorded run.
    pub last_failure: Option<Failure>,
}

/// The memory database whose conversations feed `run`'s learning: `explicit` (what `thau
/// serve --memory` or `--db` names) when given, else the run's `memory.sqlite`, else `thau
/// memory`'s default database, whichever exists. The one rule for the CLI, the server and
/// the schedule, so feedback, gaps and learning runs read the database the assistant writes.
pub fn conversation_db(run: &Path, explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    [run.join("memory.sqlite"), crate::memory::default_db_path()].into_iter().find(|p| p.exists())
}

pub fn load(store: &LearnStore) -> Result<LearnSchedule> {
    match store.setting(KEY)? {
        Some(s) => serde_json::from_str(&s).map_err(|e| {
            Error::corrupt(store.path(), format!("schedule setting: {e}"), "set it again with `thau learn schedule`")
        }),
        None => Ok(LearnSchedule::default()),
    }
}

pub fn save(store: &LearnStore, s: &LearnSchedule) -> Result<()> {
    s.validate()?;
    store.set_setting(KEY, &serde_json::to_string(s).map_err(|e| Error::invalid("schedule", e.to_string()))?)
}

/// The schedule of the run at `run`, at time `now` (ms); gaps are counted in `memory` (see
/// [`conversation_db`]).
pub fn status(run: &Path, store: &LearnStore, memory: Option<&Path>, now: i64) -> Result<ScheduleStatus> {
    let schedule = load(store)?;
    let pending = store.feedback(0, true)?;
    let negative = pending.iter().filter(|f| f.rating < 0 || f.correction.is_some()).count();
    let records = history::list(run)?;
    let last = records.iter().map(|r| r.created_at).max();
    let failure: Option<Failure> = store
        .setting(FAILED_KEY)?
        .and_then(|s| serde_json::from_str::<Failure>(&s).ok())
        .filter(|f| last.is_none_or(|l| f.at > l));
    let pending_gaps = match conversation_db(run, memory).filter(|p| p.exists()) {
        Some(db) => {
            let m = crate::memory::MemoryStore::open(&db)?;
            let opts = DetectOptions { user: schedule.user.clone(), since: last.unwrap_or(0), ..Default::default() };
            Some(gaps::detect(&m, &pending, &opts)?.len())
        }
        None => None,
    };
    let running = lock::holder(run);
    let attempt = last.max(failure.as_ref().map(|f| f.at));
    let hours_since = attempt.map(|t| (now - t) as f64 / 3.6e6);
    let by_feedback = pending.len() >= schedule.min_feedback;
    let by_gaps = schedule.min_gaps > 0 && pending_gaps.is_some_and(|g| g >= schedule.min_gaps);
    let counts = match pending_gaps {
        Some(g) if schedule.min_gaps > 0 => format!(
            "{} of {} new feedback items, {g} of {} new conversation gaps",
            pending.len(),
            schedule.min_feedback,
            schedule.min_gaps
        ),
        _ => format!("{} of {} new feedback items", pending.len(), schedule.min_feedback),
    };
    let (due, reason) = if let Some(r) = &running {
        (false, format!("a learning run is in progress ({}, process {})", r.by, r.pid))
    } else if !schedule.enabled {
        (false, "automatic learning is off (`thau learn schedule --enable` turns it on)".to_string())
    } else if !(by_feedback || by_gaps) {
        (false, format!("not enough yet: {counts}"))
    } else if hours_since.is_some_and(|h| h < schedule.min_interval_hours) {
        (
            false,
            format!(
                "the last learning run{} was {:.1} h ago (minimum {:.1} h)",
                if failure.is_some() { " (failed)" } else { "" },
                hours_since.unwrap_or(0.0),
                schedule.min_interval_hours
            ),
        )
    } else {
        (true, format!("due: {counts}"))
    };
    Ok(ScheduleStatus {
        schedule,
        pending_feedback: pending.len(),
        pending_negative: negative,
        pending_gaps,
        runs: records.len(),
        kept: records.iter().filter(|r| r.outcome == Outcome::Kept).count(),
        last_run_at: last,
        due,
        reason,
        running,
        last_failure: failure,
    })
}

/// What [`run_if_due`] did.
#[derive(Debug)]
pub enum AutoOutcome {
    /// Nothing: the schedule says why.
    NotDue(ScheduleStatus),
    /// Another learning run holds the lock.
    Busy(LockInfo),
    /// A learning run ran (kept or rolled back: see the record).
    Ran(Box<RunRecord>),
}

/// Start a learning run on `run` if the schedule says one is due, holding the run's lock for
/// it (`by` says who started it). Conversations come from `opts`' memory source, else from
/// [`conversation_db`] (the schedule's user). A run that fails is remembered, so
/// the schedule waits its interval before trying again, and the error is returned.
pub fn run_if_due(
    run: &Path,
    opts: &LearnOptions,
    by: &str,
    progress: &mut dyn FnMut(LearnProgress),
) -> Result<AutoOutcome> {
    let store = LearnStore::open(run)?;
    let memory = conversation_db(run, opts.memory.as_ref().map(|m| m.db.as_path()));
    let st = status(run, &store, memory.as_deref(), crate::memory::now_ms())?;
    if let Some(r) = st.running {
        return Ok(AutoOutcome::Busy(r));
    }
    if !st.due {
        return Ok(AutoOutcome::NotDue(st));
    }
    let lock = match RunLock::acquire(run, by) {
        Ok(l) => l,
        Err(Error::Busy { .. }) => match lock::holder(run) {
            Some(h) => return Ok(AutoOutcome::Busy(h)),
            None => {
                return Err(Error::Busy { what: format!("learning on {}", run.display()), hint: "try again".into() })
            }
        },
        Err(e) => return Err(e),
    };
    let mut opts = opts.clone();
    if opts.memory.is_none() {
        opts.memory = memory.map(|db| MemorySource { db, user: st.schedule.user.clone() });
    }
    let res = learn_locked(run, &opts, &lock, progress);
    drop(lock);
    match res {
        Ok(rec) => Ok(AutoOutcome::Ran(Box::new(rec))),
        Err(e) => {
            let f = Failure { at: crate::memory::now_ms(), error: e.to_string() };
            let json = serde_json::to_string(&f).map_err(|e| Error::invalid("schedule", e.to_string()))?;
            store.set_setting(FAILED_KEY, &json)?;
            Err(e)
        }
    }
}
