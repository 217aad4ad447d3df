//! What a grown age grew from: `age-N/growth.json`, written by `thau grow` (or
//! `thau train --schedule`) just before the age's step-0 checkpoint.

use super::run::RunDir;
use crate::error::{read_file, Error, Result};
use crate::growth::Method;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Provenance of a grown age.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub parent_age: u32,
    /// The parent checkpoint's step and its preset.
    pub parent_step: u64,
    pub parent_preset: String,
    /// Tokens the parent age had trained on when it was grown.
    pub parent_tokens: u64,
    pub method: Method,
    /// Seed of the new weights' random entries.
    pub seed: u64,
    /// True when the grown model computes exactly the parent's function (`preserve`).
    pub function_preserving: bool,
    /// AdamW steps behind the carried moments (every earlier age): the grown age's bias
    /// correction continues from here instead of treating the moments as fresh.
    pub optimizer_steps: u64,
    /// Loss of parent and child on the run's first validation windows, measured at growth.
    pub parent_val_loss: Option<f32>,
    pub child_val_loss: Option<f32>,
}

impl RunDir {
    pub fn provenance_path(&self, age: u32) -> PathBuf {
        self.age_dir(age).join("growth.json")
    }

    /// The provenance of `age`, or None when the age was trained from fresh weights.
    pub fn load_provenance(&self, age: u32) -> Result<Option<Provenance>> {
        let path = self.provenance_path(age);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = read_file(&path, "")?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::corrupt(&path, e.to_string(), format!("delete age-{age}/ and grow it again with `thau grow`"))
        })
    }

    /// Write `age-N/growth.json` atomically.
    pub fn save_provenance(&self, age: u32, p: &Provenance) -> Result<()> {
        let json = serde_json::to_vec_pretty(p).map_err(|e| Error::invalid("provenance", e.to_string()))?;
        std::fs::create_dir_all(self.age_dir(age)).map_err(|e| Error::io(self.age_dir(age), e))?;
        crate::fs::write_atomic(&self.provenance_path(age), &json)
    }
}
