//! Paths inside a run folder and atomic checkpoint save/load.

use super::state::TrainState;
use crate::error::{read_file, Error, Result};
use crate::model::{Age, Llama, ModelConfig};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A run folder (`runs/<name>`).
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

/// One complete checkpoint folder.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub age: Age,
    pub step: u64,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn tokenizer_path(&self) -> PathBuf {
        self.root.join("tokenizer.json")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    pub fn age_dir(&self, age: Age) -> PathBuf {
        self.root.join(age.dir_name())
    }
    pub fn config_path(&self, age: Age) -> PathBuf {
        self.age_dir(age).join("config.json")
    }

    /// Ages that have a config.json, ascending.
    pub fn ages(&self) -> Result<Vec<Age>> {
        let mut ages = Vec::new();
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::not_found(
                    &self.root,
                    "no such run; start one with `thau train --run DIR --corpus PATH`",
                ))
            }
            Err(e) => return Err(Error::io(&self.root, e)),
        };
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&self.root, e))?;
            if let Some(age) = entry.file_name().to_str().and_then(Age::from_dir_name) {
                if entry.path().join("config.json").exists() {
                    ages.push(age);
                }
            }
        }
        ages.sort_unstable();
        Ok(ages)
    }

    /// The model config saved for an age.
    pub fn load_config(&self, age: Age) -> Result<ModelConfig> {
        let path = self.config_path(age);
        let bytes = read_file(
            &path,
            &format!(
                "age {age} has not been trained in {}: run `thau train --run {} --age {age}`",
                self.root.display(),
                self.root.display()
            ),
        )?;
        let cfg: ModelConfig = serde_json::from_slice(&bytes).map_err(|e| {
            Error::corrupt(&path, e.to_string(), "restore it from a backup or delete the age folder and retrain")
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Write an age's config.json (atomic).
    pub fn save_config(&self, age: Age, cfg: &ModelConfig) -> Result<()> {
        let json = serde_json::to_vec_pretty(cfg).map_err(|e| Error::invalid("config", e.to_string()))?;
        crate::fs::write_atomic(&self.config_path(age), &json)
    }

    /// Complete checkpoints of an age, oldest first.
    pub fn checkpoints(&self, age: Age) -> Result<Vec<Checkpoint>> {
        let dir = self.age_dir(age);
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name();
            if let Some(step) = name.to_str().and_then(|n| n.strip_prefix("step-")).and_then(|n| n.parse::<u64>().ok())
            {
                out.push(Checkpoint { dir: entry.path(), age, step });
            }
        }
        out.sort_by_key(|c| c.step);
        Ok(out)
    }

    /// The newest checkpoint of an age, or a NotFound error that says what to run.
    pub fn latest(&self, age: Age) -> Result<Checkpoint> {
        self.checkpoints(age)?.pop().ok_or_else(|| {
            Error::not_found(
                self.age_dir(age).join("step-*"),
                format!(
                    "age {age} has no checkpoint yet: run `thau train --run {} --age {age}` first",
                    self.root.display()
                ),
            )
        })
    }

    /// The newest age that has a checkpoint.
    pub fn latest_age(&self) -> Result<Age> {
        for age in self.ages()?.into_iter().rev() {
            if !self.checkpoints(age)?.is_empty() {
                return Ok(age);
            }
        }
        Err(Error::not_found(&self.root, "this run has no checkpoint yet: run `thau train` first"))
    }

    /// The run's tokenizer and the newest weights of `age` (default: the newest trained age),
    /// for generation and evaluation. Returns the age used.
    pub fn load_latest(&self, age: Option<Age>, device: &Device) -> Result<(crate::tokenizer::Tokenizer, Llama, Age)> {
        let age = match age {
            Some(a) => a,
            None => self.latest_age()?,
        };
        let tok = crate::tokenizer::Tokenizer::load(&self.tokenizer_path())?;
        let cfg = self.load_config(age)?;
        let model = self.latest(age)?.load_model(&cfg, device)?;
        Ok((tok, model, age))
    }

    /// Save a checkpoint atomically and keep only the newest `keep` of this age.
    pub fn save_checkpoint(
        &self,
        model: &Llama,
        optim: &[(String, Tensor)],
        state: &TrainState,
        keep: usize,
    ) -> Result<Checkpoint> {
        let age_dir = self.age_dir(state.age);
        let final_dir = age_dir.join(format!("step-{:08}", state.step));
        let tmp = age_dir.join(format!(".tmp-step-{:08}-{}", state.step, std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        // One metadata key only: safetensors writes a HashMap in arbitrary order, and a
        // checkpoint must be byte-for-byte reproducible from the same seed and data.
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        write_synced(&tmp.join("model.safetensors"), &model.to_safetensors(meta.clone())?)?;
        write_synced(&tmp.join("optim.safetensors"), &crate::model::llama::tensors_to_safetensors(optim, meta)?)?;
        let json = serde_json::to_vec_pretty(state).map_err(|e| Error::invalid("state", e.to_string()))?;
        write_synced(&tmp.join("state.json"), &json)?;
        crate::fs::sync_dir(&tmp)?;
        // Same step saved twice (e.g. a final save right after a periodic one): move the old
        // folder aside first, so a kill at any point leaves one complete `step-S`.
        let aside = age_dir.join(format!(".tmp-step-{:08}-old-{}", state.step, std::process::id()));
        let replaced = final_dir.exists();
        if replaced {
            std::fs::rename(&final_dir, &aside).map_err(|e| Error::io(&final_dir, e))?;
        }
        std::fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
        crate::fs::sync_dir(&age_dir)?;
        if replaced {
            let _ = std::fs::remove_dir_all(&aside);
        }
        // Retention: rename a pruned folder out of the `step-*` namespace before deleting it, so
        // a half-deleted checkpoint is never mistaken for a complete one. A failed prune only
        // costs disk space: warn and go on.
        let all = self.checkpoints(state.age)?;
        if all.len() > keep.max(1) {
            for old in &all[..all.len() - keep.max(1)] {
                let doomed = age_dir.join(format!(".tmp-step-{:08}-pruned", old.step));
                let res = std::fs::rename(&old.dir, &doomed).and_then(|_| std::fs::remove_dir_all(&doomed));
                if let Err(e) = res {
                    tracing::warn!(dir = %old.dir.display(), error = %e, "could not delete an old checkpoint");
                }
            }
        }
        // Leftover temp folders of killed runs are garbage.
        if let Ok(rd) = std::fs::read_dir(&age_dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(".tmp-step-") && e.path() != tmp {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(Checkpoint { dir: final_dir, age: state.age, step: state.step })
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

impl Checkpoint {
    pub fn model_path(&self) -> PathBuf {
        self.dir.join("model.safetensors")
    }
    pub fn optim_path(&self) -> PathBuf {
        self.dir.join("optim.safetensors")
    }
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn load_state(&self) -> Result<TrainState> {
        let path = self.state_path();
        let bytes =
            read_file(&path, "the checkpoint is incomplete; delete this step folder to fall back to the previous one")?;
        let st: TrainState = serde_json::from_slice(&bytes).map_err(|e| {
            Error::corrupt(&path, e.to_string(), "delete this step folder to fall back to the previous checkpoint")
        })?;
        if st.step != self.step || st.age != self.age {
            return Err(Error::corrupt(
                &path,
                format!("records age {} step {}, folder says age {} step {}", st.age, st.step, self.age, self.step),
                "delete this step folder",
            ));
        }
        Ok(st)
    }

    pub fn load_model(&self, cfg: &ModelConfig, device: &Device) -> Result<Llama> {
        Llama::load(cfg, &self.model_path(), device)
    }

    /// Optimizer tensors by name.
    pub fn load_optim(&self, device: &Device) -> Result<HashMap<String, Tensor>> {
        let path = self.optim_path();
        let bytes = read_file(&path, "the checkpoint is incomplete; delete this step folder")?;
        candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| {
            Error::corrupt(&path, e.to_string(), "delete this step folder to fall back to the previous checkpoint")
        })
    }
}
