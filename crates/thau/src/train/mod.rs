//! Training: the loop, its optimizer, schedule, batches, data preparation and metrics log.

pub mod adamw;
pub mod batch;
pub mod eval;
pub mod metrics;
pub mod plot;
pub mod prepare;
pub mod schedule;
pub mod sft;
pub mod trainer;

pub use crate::checkpoint::{Budget, Extension, TrainConfig};
pub use metrics::{MetricsLog, StepMetrics};
pub use prepare::{prepare, CorpusSource, PreparedCorpus};
pub use trainer::{
    evaluate, optimizer_step, train, Silent, StartInfo, StepOutcome, TrainObserver, TrainRequest, TrainSummary,
};
