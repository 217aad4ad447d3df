//! Where "now" comes from. A conversation's times decide its episodes and what "ayer" means,
//! so every front-end takes them from one clock: the system's, or a manual one that a test
//! (or a replay of old conversations) sets and moves.

use crate::error::{Error, Result};
use chrono::{DateTime, FixedOffset, Local};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A clock; clones share it.
#[derive(Debug, Clone)]
pub struct Clock(Arc<Source>);

#[derive(Debug)]
enum Source {
    System,
    Manual { ms: AtomicI64, zone: FixedOffset },
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The machine's clock, in its local time zone.
    pub fn system() -> Self {
        Self(Arc::new(Source::System))
    }

    /// A clock that stays at `start` until [`Clock::set`] or [`Clock::advance`] moves it; its
    /// zone (the user's, for "ayer") is `start`'s.
    pub fn manual(start: DateTime<FixedOffset>) -> Self {
        Self(Arc::new(Source::Manual { ms: AtomicI64::new(start.timestamp_millis()), zone: *start.offset() }))
    }

    /// Now, with the zone time expressions are read in.
    pub fn now(&self) -> DateTime<FixedOffset> {
        match &*self.0 {
            Source::System => Local::now().fixed_offset(),
            Source::Manual { ms, zone } => {
                DateTime::from_timestamp_millis(ms.load(Ordering::Acquire)).unwrap_or_default().with_timezone(zone)
            }
        }
    }

    /// Now in ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Whether [`Clock::set`] may move it.
    pub fn is_manual(&self) -> bool {
        matches!(&*self.0, Source::Manual { .. })
    }

    /// Move a manual clock to `t`.
    pub fn set(&self, t: DateTime<FixedOffset>) -> Result<()> {
        match &*self.0 {
            Source::System => Err(Error::invalid("clock", "the system clock cannot be set: start with a manual clock")),
            Source::Manual { ms, .. } => {
                ms.store(t.timestamp_millis(), Ordering::Release);
                Ok(())
            }
        }
    }

    /// Move a manual clock forward by `d`.
    pub fn advance(&self, d: chrono::Duration) -> Result<()> {
        self.set(self.now() + d)
    }
}
