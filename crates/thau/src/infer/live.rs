//! A served model that follows its run. When a learning run is kept (or `thau learn undo`
//! restores the weights before one), the run's newest checkpoint of the served age changes;
//! [`LiveEngine::refresh`] sees that, loads the new weights into a new [`Engine`] and makes it
//! the one new requests get. Requests already running keep the engine they started on (they
//! hold it), finish on those weights, and the old engine goes away with the last of them.
//!
//! Which checkpoint is served is written, atomically, to the run's `serving.json` whenever
//! the weights are loaded or swapped, so `thau status --run R` can say it from another
//! process.

use super::engine::{Engine, DEFAULT_MAX_BATCH};
use super::model::InferModel;
use super::weights::WeightDtype;
use crate::checkpoint::RunDir;
use crate::error::{Error, Result};
use crate::model::Age;
use candle_core::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// The file in a run folder that says which checkpoint a server serves.
pub const SERVING_FILE: &str = "serving.json";

/// What a server is serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Served {
    /// The engine's name (the run and age, or the model file's).
    pub model: String,
    /// The checkpoint folder the weights came from (None: a model file, which never changes).
    pub checkpoint: Option<PathBuf>,
    pub age: Option<Age>,
    /// When these weights were loaded (ms since the epoch).
    pub loaded_at: i64,
    /// How many times the weights were swapped since the server started.
    pub swaps: u64,
    /// The serving process.
    pub pid: u32,
}

impl Served {
    /// Whether the serving process is still running (Linux: its /proc entry; None elsewhere).
    pub fn process_running(&self) -> Option<bool> {
        cfg!(target_os = "linux").then(|| Path::new(&format!("/proc/{}", self.pid)).exists())
    }
}

/// Where a live engine reloads from.
#[derive(Debug, Clone)]
struct RunSource {
    run: PathBuf,
    age: Age,
    dtype: WeightDtype,
    max_batch: usize,
}

/// The engine new requests get, swapped when the run's weights change.
pub struct LiveEngine {
    current: RwLock<Arc<Engine>>,
    served: Mutex<Served>,
    source: Option<RunSource>,
    /// One reload at a time; holds the checkpoint that last failed to load, so a bad one is
    /// not loaded again every check (a newer one is).
    reloading: Mutex<Option<PathBuf>>,
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    since.as_millis() as i64
}

/// The engine for `run`'s newest checkpoint of `age` (default: its newest trained age), and
/// the checkpoint folder it was loaded from.
pub fn load_run_engine(
    run: &Path,
    age: Option<Age>,
    dtype: WeightDtype,
    max_batch: usize,
) -> Result<(Engine, PathBuf, Age)> {
    let rd = RunDir::new(run);
    let age = match age {
        Some(a) => a,
        None => rd.latest_age()?,
    };
    let checkpoint = rd.latest(age)?;
    let tok = crate::tokenizer::Tokenizer::load(&rd.tokenizer_path())?;
    let cfg = rd.load_config(age)?;
    let llama = checkpoint.load_model(&cfg, &Device::Cpu)?;
    let model = InferModel::from_llama(&llama, dtype)?;
    drop(llama);
    let engine = Engine::spawn_batched(format!("{}:{}", run.display(), age.dir_name()), model, tok, max_batch)?;
    Ok((engine, checkpoint.dir, age))
}

impl LiveEngine {
    /// An engine that never changes (a model file, or one built in memory).
    pub fn fixed(engine: Engine) -> Self {
        let served = Served {
            model: engine.info().name.clone(),
            checkpoint: None,
            age: None,
            loaded_at: now_ms(),
            swaps: 0,
            pid: std::process::id(),
        };
        Self {
            current: RwLock::new(Arc::new(engine)),
            served: Mutex::new(served),
            source: None,
            reloading: Mutex::new(None),
        }
    }

    /// Serve `run`'s newest checkpoint of `age` (default: the newest trained age), following
    /// it as it changes; `serving.json` says so.
    pub fn from_run(
        run: &Path,
        age: Option<Age>,
        dtype: Option<WeightDtype>,
        max_batch: Option<usize>,
    ) -> Result<Self> {
        let dtype = dtype.unwrap_or(WeightDtype::F32);
        let max_batch = max_batch.unwrap_or(DEFAULT_MAX_BATCH);
        let (engine, checkpoint, age) = load_run_engine(run, age, dtype, max_batch)?;
        let served = Served {
            model: engine.info().name.clone(),
            checkpoint: Some(checkpoint),
            age: Some(age),
            loaded_at: now_ms(),
            swaps: 0,
            pid: std::process::id(),
        };
        let source = RunSource { run: run.to_path_buf(), age, dtype, max_batch };
        write_serving(run, &served)?;
        Ok(Self {
            current: RwLock::new(Arc::new(engine)),
            served: Mutex::new(served),
            source: Some(source),
            reloading: Mutex::new(None),
        })
    }

    /// The engine a new request runs on. Hold it for the whole request: a swap does not
    /// touch it.
    pub fn engine(&self) -> Arc<Engine> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What is served now.
    pub fn served(&self) -> Served {
        self.served.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether the weights can change (a run, not a model file).
    pub fn follows_run(&self) -> bool {
        self.source.is_some()
    }

    /// Serve the run's newest checkpoint of the served age if it is not the one served now:
    /// Some(what is served after the swap), or None when nothing changed (or the engine is
    /// fixed). On an error the old weights stay served, and that checkpoint is not tried
    /// again until a newer one appears.
    pub fn refresh(&self) -> Result<Option<Served>> {
        let Some(src) = &self.source else { return Ok(None) };
        let mut failed = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let newest = RunDir::new(&src.run).latest(src.age)?.dir;
        let old = self.served();
        if old.checkpoint.as_deref() == Some(newest.as_path()) || failed.as_deref() == Some(newest.as_path()) {
            return Ok(None);
        }
        let (engine, checkpoint, _) = match load_run_engine(&src.run, Some(src.age), src.dtype, src.max_batch) {
            Ok(loaded) => loaded,
            Err(e) => {
                *failed = Some(newest);
                return Err(e);
            }
        };
        let served = Served {
            model: engine.info().name.clone(),
            checkpoint: Some(checkpoint),
            age: Some(src.age),
            loaded_at: now_ms(),
            swaps: old.swaps + 1,
            pid: std::process::id(),
        };
        let retired =
            std::mem::replace(&mut *self.current.write().unwrap_or_else(|e| e.into_inner()), Arc::new(engine));
        *self.served.lock().unwrap_or_else(|e| e.into_inner()) = served.clone();
        // The new weights are served whether or not the record can be written.
        if let Err(e) = write_serving(&src.run, &served) {
            tracing::warn!(error = %e, "cannot record which checkpoint is served");
        }
        tracing::info!(from = ?old.checkpoint, to = ?served.checkpoint, "serving new weights");
        // The old engine finishes the requests holding it, then stops with the last of them.
        drop(retired);
        Ok(Some(served))
    }
}

/// Record, atomically, what a server serves from `run`.
pub fn write_serving(run: &Path, served: &Served) -> Result<()> {
    let json = serde_json::to_vec_pretty(served).map_err(|e| Error::invalid("serving record", e.to_string()))?;
    crate::fs::write_atomic(&run.join(SERVING_FILE), &json)
}

/// What the last server of `run` said it serves (None: no server has served it).
pub fn read_serving(run: &Path) -> Result<Option<Served>> {
    let path = run.join(SERVING_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::corrupt(&path, e.to_string(), "delete it: the server writes it again when it loads weights")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, e)),
    }
}
