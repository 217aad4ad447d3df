//! The model: config presets, the Llama network and its fused ops.

pub mod config;
pub mod llama;
pub mod ops;

pub use config::{ModelConfig, AGES, DEFAULT_VOCAB};
pub use llama::{KvCache, Llama};
