//! # THAU: grow your own bilingual LLM from nothing
//!
//! The modules follow the pipeline a model goes through:
//!
//! ```text
//!  corpus files ──► data (scan, clean, shards) ──► tokenizer (byte-level BPE)
//!        │                                              │
//!        └──────────────► token shards (mmap) ◄─────────┘
//!                              │
//!                              ▼
//!   model (Llama: RMSNorm, RoPE, SwiGLU, GQA; ops with fused backward)
//!                              │
//!                              ▼
//!   train (AdamW, warmup+cosine, clipping, accumulation) ──► checkpoint (age-N/, atomic)
//!                              │   ▲
//!                              │   └── growth (age N → age N+1, function-preserving)
//!                              │
//!                              ▼
//!   infer (sampling, generation) · eval (loss, perplexity, bits per byte) · plot
//! ```
//!
//! The library does all the compute; the `thau` binary (crate `thau-cli`) only parses
//! arguments and draws progress bars.

pub mod chat;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod eval;
pub mod export;
pub mod fs;
pub mod growth;
pub mod import;
pub mod infer;
pub mod learn;
pub mod memory;
pub mod model;
pub mod plot;
pub mod status;
pub mod tokenizer;
pub mod tool_eval;
pub mod tools;
pub mod train;
pub mod vision;

pub use error::{Error, Result};

/// The compute device by name: "cpu" (default), or "cuda" / "cuda:N" with the `cuda` feature.
pub fn device(name: &str) -> Result<candle_core::Device> {
    match name {
        "cpu" => Ok(candle_core::Device::Cpu),
        n if n == "cuda" || n.starts_with("cuda:") => {
            let ordinal = n
                .strip_prefix("cuda:")
                .map(|o| o.parse::<usize>())
                .transpose()
                .map_err(|_| Error::invalid("--device", format!("'{n}': use cuda or cuda:N")))?;
            if cfg!(feature = "cuda") {
                Ok(candle_core::Device::new_cuda(ordinal.unwrap_or(0))?)
            } else {
                Err(Error::invalid(
                    "--device",
                    "this thau was built without CUDA: rebuild with `cargo build --release --features cuda`",
                ))
            }
        }
        other => Err(Error::invalid("--device", format!("'{other}' is unknown; use cpu or cuda[:N]"))),
    }
}
