//! One learning run at a time per run folder: a lock file (`learn/run.lock`, created with
//! `create_new`, so two processes cannot both take it) naming the process that holds it. A
//! lock whose process is gone (a crash, a killed server) is stale and taken over; the file is
//! removed when the holder finishes. `thau status` shows who holds it.

use super::store::learn_dir;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub pid: u32,
    /// Unix ms when the run started.
    pub started_at: i64,
    /// What started it: "thau learn run", "thau learn auto", "thau serve (schedule)".
    pub by: String,
}

/// The held lock; dropping it removes the file.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    info: LockInfo,
}

pub fn lock_path(run: &Path) -> PathBuf {
    learn_dir(run).join("run.lock")
}

/// Whether process `pid` exists (signal 0 checks without sending anything).
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 only checks that the process exists and may be signalled.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn read(path: &Path) -> Option<LockInfo> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// The live holder of the run's lock, if any (a stale lock reads as none).
pub fn holder(run: &Path) -> Option<LockInfo> {
    read(&lock_path(run)).filter(|i| alive(i.pid))
}

impl RunLock {
    /// Take the lock of the run at `run` for `by`, or say who holds it.
    pub fn acquire(run: &Path, by: &str) -> Result<Self> {
        let dir = learn_dir(run);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = lock_path(run);
        let info = LockInfo { pid: std::process::id(), started_at: crate::memory::now_ms(), by: by.to_string() };
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let json = serde_json::to_vec(&info).map_err(|e| Error::invalid("run lock", e.to_string()))?;
                    f.write_all(&json).and_then(|_| f.sync_all()).map_err(|e| Error::io(&path, e))?;
                    return Ok(Self { path, info });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read(&path) {
                    Some(other) if alive(other.pid) => {
                        return Err(Error::Busy {
                            what: format!("learning on {}", run.display()),
                            hint: format!(
                                "a learning run ({}, process {}) started at {} ms is still going; wait for it (`thau status --run {}` shows it)",
                                other.by,
                                other.pid,
                                other.started_at,
                                run.display()
                            ),
                        });
                    }
                    Some(stale) => {
                        tracing::warn!(pid = stale.pid, by = %stale.by, "taking over a stale learning lock");
                        remove(&path)?;
                    }
                    None => {
                        // Unreadable: a holder that crashed between creating and writing it, or
                        // one writing it right now. Only an old file is taken over.
                        let old = std::fs::metadata(&path)
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.elapsed().ok())
                            .is_some_and(|d| d.as_secs() > 60);
                        if !old {
                            return Err(Error::Busy {
                                what: format!("learning on {}", run.display()),
                                hint: format!("{} is being written by another process; try again", path.display()),
                            });
                        }
                        remove(&path)?;
                    }
                },
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::Busy {
            what: format!("learning on {}", run.display()),
            hint: format!("another process took {} at the same time; try again", path.display()),
        })
    }

    pub fn info(&self) -> &LockInfo {
        &self.info
    }
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Only our own lock (a stale-lock takeover by another process replaces the file).
        if read(&self.path).as_ref() == Some(&self.info) {
            if let Err(e) = remove(&self.path) {
                tracing::warn!(error = %e, "could not remove the learning lock");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_stale_locks_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let a = RunLock::acquire(run, "test").unwrap();
        assert_eq!(holder(run).unwrap().pid, std::process::id());
        let e = RunLock::acquire(run, "second").unwrap_err();
        assert!(matches!(e, Error::Busy { .. }), "{e}");
        assert!(e.to_string().contains("test"), "{e}");
        drop(a);
        assert!(holder(run).is_none() && !lock_path(run).exists());
        // A lock left by a process that no longer exists.
        let dead = LockInfo { pid: i32::MAX as u32 - 7, started_at: 1, by: "crashed".into() };
        std::fs::write(lock_path(run), serde_json::to_vec(&dead).unwrap()).unwrap();
        assert!(holder(run).is_none());
        let b = RunLock::acquire(run, "after crash").unwrap();
        assert_eq!(b.info().by, "after crash");
        // A fresh unreadable lock (being written) is not stolen.
        drop(b);
        std::fs::write(lock_path(run), b"").unwrap();
        assert!(matches!(RunLock::acquire(run, "x"), Err(Error::Busy { .. })));
    }
}
