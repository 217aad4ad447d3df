//! What a grown age grew from: `age-N/growth.json`, written by `thau grow` (or
//! `thau train --schedule`) just before the age's step-0 checkpoint.

use super::run::RunDir;
use crate::error::{read_file, Error, Result};
use crate::model::Age;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Growth operator family (recorded here; the growth stage, above this floor, applies it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrowthMethod {
    /// Function-preserving: identity blocks (LLaMA Pro) and zero-output new units.
    #[default]
    Preserve,
    /// G_stack depth stacking (not function-preserving) with the same width growth.
    Stack,
}

impl std::fmt::Display for GrowthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GrowthMethod::Preserve => "preserve",
            GrowthMethod::Stack => "stack",
        })
    }
}

impl std::str::FromStr for GrowthMethod {
    type Err = Error;
    /// `preserve` or `stack`.
    fn from_str(s: &str) -> Result<Self> {
        crate::error::one_of("--method", s, &[("preserve", Self::Preserve), ("stack", Self::Stack)])
    }
}

/// Provenance of a grown age.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub parent_age: Age,
    /// The parent checkpoint's step and its preset.
    pub parent_step: u64,
    pub parent_preset: String,
    /// Tokens the parent age had trained on when it was grown.
    pub parent_tokens: u64,
    pub method: GrowthMethod,
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
    pub fn provenance_path(&self, age: Age) -> PathBuf {
        self.age_dir(age).join("growth.json")
    }

    /// The provenance of `age`, or None when the age was trained from fresh weights.
    pub fn load_provenance(&self, age: Age) -> Result<Option<Provenance>> {
        let path = self.provenance_path(age);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = read_file(&path, "")?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::corrupt(
                &path,
                e.to_string(),
                format!("delete {}/ and grow it again with `thau grow`", age.dir_name()),
            )
        })
    }

    /// Write `age-N/growth.json` atomically.
    pub fn save_provenance(&self, age: Age, p: &Provenance) -> Result<()> {
        let json = serde_json::to_vec_pretty(p).map_err(|e| Error::invalid("provenance", e.to_string()))?;
        std::fs::create_dir_all(self.age_dir(age)).map_err(|e| Error::io(self.age_dir(age), e))?;
        crate::fs::write_atomic(&self.provenance_path(age), &json)
    }
}
