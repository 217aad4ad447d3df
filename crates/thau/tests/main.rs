//! Every integration test of `thau` in one binary: each file below is a module, so the
//! crate and candle are linked once instead of once per file.

mod assistant;
mod batching;
mod chat_format;
mod common;
mod data_fetch;
mod engine;
mod export_gguf;
mod export_hf;
mod export_llamacpp;
mod gradients;
mod growth;
mod import_foreign;
mod inference;
mod layers;
mod learn;
mod linear;
mod live;
mod memory;
mod memory_bench;
mod memory_e5;
mod memory_embed;
mod sft;
mod tokenizer_golden;
mod tools;
mod training;
mod vision;
