//! Export for other engines: GGUF (llama.cpp, Ollama) and Hugging Face folders
//! (transformers), plus the GGUF container and the name/RoPE-layout mapping that import
//! shares.

pub mod gguf;
pub mod gguf_file;
pub mod hf;
pub mod names;

pub use gguf::{export_gguf, modelfile, modelfile_path, write_modelfile, GgufDtype, GgufReport};
pub use hf::{export_hf, HfDtype};
