//! `metrics.jsonl`: one JSON object per logged step, appended as training goes.

use crate::error::{Error, Result};
use crate::model::Age;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One logged step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub age: Age,
    pub step: u64,
    pub tokens: u64,
    pub loss: f32,
    pub val_loss: Option<f32>,
    pub lr: f64,
    pub grad_norm: f32,
    pub tokens_per_second: f64,
    /// Training seconds of this age so far.
    pub seconds: f64,
    pub total_steps: Option<u64>,
}

pub struct MetricsLog {
    path: PathBuf,
}

impl MetricsLog {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self { path: path.to_path_buf() })
    }

    /// Read every record (skipping a torn last line left by a killed process).
    pub fn read(path: &Path) -> Result<Vec<StepMetrics>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(path, e)),
        };
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str(line) {
                Ok(m) => out.push(m),
                Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
                Err(e) => {
                    // Metrics are only a log: a damaged line must not block training or status.
                    tracing::warn!(file = %path.display(), line = i + 1, error = %e, "skipping an unreadable metrics line");
                }
            }
        }
        Ok(out)
    }

    /// Drop records of `age` after `step` (they belong to a run that was killed after its last
    /// checkpoint and will be recomputed on resume). Rewrites the file atomically.
    pub fn truncate_after(&mut self, age: Age, step: u64) -> Result<()> {
        let all = Self::read(&self.path)?;
        let keep: Vec<&StepMetrics> = all.iter().filter(|m| !(m.age == age && m.step > step)).collect();
        let torn = std::fs::read(&self.path).map(|b| !b.is_empty() && !b.ends_with(b"\n")).unwrap_or(false);
        if keep.len() == all.len() && !torn {
            return Ok(());
        }
        let mut buf = Vec::new();
        for m in keep {
            serde_json::to_writer(&mut buf, m).map_err(|e| Error::invalid("metrics", e.to_string()))?;
            buf.push(b'\n');
        }
        crate::fs::write_atomic(&self.path, &buf)
    }

    pub fn append(&mut self, m: &StepMetrics) -> Result<()> {
        let mut line = serde_json::to_vec(m).map_err(|e| Error::invalid("metrics", e.to_string()))?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        f.write_all(&line).map_err(|e| Error::io(&self.path, e))
    }
}
