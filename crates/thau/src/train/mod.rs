//! Training: the loop, its optimizer, schedule, batches, data preparation and metrics log.

pub mod adamw;
pub mod batch;
pub mod metrics;
pub mod prepare;
pub mod schedule;
pub mod sft;
pub mod trainer;

pub use metrics::{MetricsLog, StepMetrics};
pub use prepare::{prepare, CorpusSource, Prepared};
pub use trainer::{
    evaluate, optimizer_step, train, Budget, Silent, StartInfo, StepOutcome, TrainConfig, TrainObserver, TrainRequest,
    TrainSummary,
};
