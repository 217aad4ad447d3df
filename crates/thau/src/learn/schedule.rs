//! The learning schedule (auto-tuning from interactions): when enough new feedback has
//! accumulated since the last learning run, a run is due. Off by default; `thau learn schedule`
//! turns it on, `thau learn run --if-due` (from cron, or after `thau feedback`) starts a run only
//! when one is due, and `thau status` shows where it stands.

use super::history::{self, Outcome};
use super::store::LearnStore;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Settings key in the learning store.
const KEY: &str = "schedule";

/// When a learning run is due.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Schedule {
    pub enabled: bool,
    /// New feedback items (not yet learnt from) that make a run due.
    pub min_feedback: usize,
    /// Hours that must pass after the previous learning run.
    pub min_interval_hours: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Self { enabled: false, min_feedback: 20, min_interval_hours: 24.0 }
    }
}

impl Schedule {
    pub fn validate(&self) -> Result<()> {
        if self.min_feedback == 0 || !(self.min_interval_hours.is_finite() && self.min_interval_hours >= 0.0) {
            return Err(Error::invalid("schedule", "min feedback >= 1 and a non-negative interval in hours"));
        }
        Ok(())
    }
}

/// Where the schedule stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleStatus {
    pub schedule: Schedule,
    /// Feedback no learning run has used yet.
    pub pending_feedback: usize,
    /// Of which thumbs-down or with a correction.
    pub pending_negative: usize,
    /// Learning runs so far, and how many were kept.
    pub runs: usize,
    pub kept: usize,
    /// Unix ms of the newest learning run.
    pub last_run_at: Option<i64>,
    pub due: bool,
    /// One sentence: why it is or is not due.
    pub reason: String,
}

pub fn load(store: &LearnStore) -> Result<Schedule> {
    match store.setting(KEY)? {
        Some(s) => serde_json::from_str(&s).map_err(|e| {
            Error::corrupt(store.path(), format!("schedule setting: {e}"), "set it again with `thau learn schedule`")
        }),
        None => Ok(Schedule::default()),
    }
}

pub fn save(store: &LearnStore, s: &Schedule) -> Result<()> {
    s.validate()?;
    store.set_setting(KEY, &serde_json::to_string(s).map_err(|e| Error::invalid("schedule", e.to_string()))?)
}

/// The schedule of the run at `run`, at time `now` (ms).
pub fn status(run: &Path, store: &LearnStore, now: i64) -> Result<ScheduleStatus> {
    let schedule = load(store)?;
    let pending = store.feedback(0, true)?;
    let negative = pending.iter().filter(|f| f.rating < 0 || f.correction.is_some()).count();
    let records = history::list(run)?;
    let last = records.iter().map(|r| r.created_at).max();
    let hours_since = last.map(|t| (now - t) as f64 / 3.6e6);
    let (due, reason) = if !schedule.enabled {
        (false, "automatic learning is off (`thau learn schedule --enable` turns it on)".to_string())
    } else if pending.len() < schedule.min_feedback {
        (false, format!("{} of {} new feedback items needed", pending.len(), schedule.min_feedback))
    } else if hours_since.is_some_and(|h| h < schedule.min_interval_hours) {
        (
            false,
            format!(
                "the last learning run was {:.1} h ago (minimum {:.1} h)",
                hours_since.unwrap_or(0.0),
                schedule.min_interval_hours
            ),
        )
    } else {
        (true, format!("{} new feedback items (threshold {})", pending.len(), schedule.min_feedback))
    };
    Ok(ScheduleStatus {
        schedule,
        pending_feedback: pending.len(),
        pending_negative: negative,
        runs: records.len(),
        kept: records.iter().filter(|r| r.outcome == Outcome::Kept).count(),
        last_run_at: last,
        due,
        reason,
    })
}
