//! Export for other engines: GGUF (llama.cpp, Ollama) and Hugging Face folders
//! (transformers), plus the name/RoPE-layout mapping that import shares. The GGUF container
//! itself is [`crate::gguf`].

pub mod gguf;
pub mod hf;
pub mod names;

pub use gguf::{export_gguf, modelfile, modelfile_path, write_modelfile, GgufDtype, GgufReport};
pub use hf::{export_hf, HfDtype};
