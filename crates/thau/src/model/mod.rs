//! The model: ages and presets, configs, the Llama network and its fused ops.

pub mod age;
pub mod config;
pub mod llama;
pub mod ops;

pub use age::{Age, Preset, AGES};
pub use config::{ModelConfig, DEFAULT_VOCAB};
pub use llama::{KvCache, Llama};
