//! Import of models made elsewhere: llama-architecture GGUF files into THAU's model, tokenizer
//! and run folder.

pub mod gguf;

pub use gguf::{import_gguf, read_gguf, GgufModel};
