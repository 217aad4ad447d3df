//! Image generation with Stable Diffusion 1.5 (any SD 1.x/2.x folder in the diffusers layout):
//!
//! ```text
//!  prompt ──► clip_tokenizer ──► CLIP text encoder ──┐ (negative prompt too, for guidance)
//!                                                   ▼
//!  seed ──► noise ──► UNet × steps (scheduler: DDIM, Euler a, Euler, LCM) ──► VAE decode
//!                                                                            │
//!                              png: PNG + text chunks + JSON sidecar ◄───────┘
//! ```
//!
//! `weights` finds the files (local folder or hub), `config` reads their `config.json`s,
//! `pipeline` runs the networks (candle-transformers), `random` makes random-weight pipelines
//! for tests and benchmarks.

pub mod clip_tokenizer;
pub mod config;
pub mod pipeline;
pub mod png;
pub mod random;
pub mod scheduler;
pub mod weights;

pub use clip_tokenizer::ClipTokenizer;
pub use config::PipelineConfig;
pub use pipeline::{ImageMetadata, ImagePipeline, ImageProgress, ImageRequest, ImageResult, LoadOptions, Phase};
pub use scheduler::SchedulerKind;
pub use weights::ModelFiles;
