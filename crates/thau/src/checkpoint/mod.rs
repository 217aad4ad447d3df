//! The run folder and its per-age checkpoints.
//!
//! ```text
//! runs/<name>/tokenizer.json
//! runs/<name>/data/{train,val}.bin, shards.json      token shards (see data::shards)
//! runs/<name>/metrics.jsonl                          one line per logged step
//! runs/<name>/age-<N>/config.json                    model hyperparameters
//! runs/<name>/age-<N>/growth.json                    what a grown age grew from (see growth)
//! runs/<name>/age-<N>/step-<S>/model.safetensors     weights (HF names)
//! runs/<name>/age-<N>/step-<S>/optim.safetensors     AdamW moments
//! runs/<name>/age-<N>/step-<S>/state.json            step, tokens, schedule, hyperparameters
//! ```
//!
//! A checkpoint is written into a hidden temporary folder, every file fsynced, then renamed
//! to `step-<S>` in one atomic rename: a `step-*` folder exists only when it is complete, so
//! a crash (even SIGKILL) at any moment leaves the previous checkpoint intact.

mod provenance;
mod run;
mod state;

pub use provenance::{GrowthMethod, Provenance};
pub use run::{Checkpoint, RunDir};
pub use state::{Budget, Extension, TrainConfig, TrainState};
