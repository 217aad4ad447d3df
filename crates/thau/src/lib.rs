//! # THAU: grow your own bilingual LLM from nothing
//!
//! The modules are floors of one building: each uses only the floors below it (and, where no
//! cycle forms, the other modules of its own floor). Read it bottom up, as a model's life goes:
//!
//! ```text
//!  14  export · import      GGUF / Hugging Face out; GGUF in (a foreign model becomes a run)
//!  13  learn · assistant    self-questions, gaps, feedback, gated fine-tunes, undo; run status ·
//!                           the assistant session: conversations, memory in the prompt, tools, feedback
//!  12  tool_dataset         bilingual tool-calling conversations (targets from the real tools) + eval
//!  11  tools                built-ins, user tools, call grammar, constrained calls, the tool loop
//!  10  memory · vision      long-term facts and episodes (SQLite, BM25 + embeddings) · Stable Diffusion
//!   9  infer                batch-1 decoding (f32/f16/q8_0/q4_K), sampling, the batching engine
//!   8  growth               age N → age N+1 keeping the function; the age schedule
//!   7  train                AdamW loop, SFT, loss evaluation, metrics and plots
//!   6  data                 corpus fetch and cleaning, token shards (mmap), the demo corpus
//!   5  checkpoint           run folder, atomic per-age checkpoints, what they record
//!   4  model                Llama config presets and network; ops with fused backward
//!   3  tokenizer            byte-level BPE, special tokens, the chat format and tool specs
//!   2  gguf                 the GGUF container, read and written
//!   1  fs                   crash-safe writes
//!   0  error                one error type: whose fault, what to do next
//! ```
//!
//! [`LAYERS`] spells the same order, and a test reads every `crate::…` path in the sources
//! and fails on one that points up a floor or closes a cycle. The library does all the
//! compute; the `thau` binary (crate `thau-cli`) and the server (`thau-server`) only parse,
//! call the library and print.

pub mod assistant;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod export;
pub mod fs;
pub mod gguf;
pub mod growth;
pub mod import;
pub mod infer;
pub mod learn;
pub mod memory;
pub mod model;
pub mod tokenizer;
pub mod tool_dataset;
pub mod tools;
pub mod train;
pub mod vision;

/// The floors of [`crate`], bottom first: a module may use any module on a lower floor and,
/// when no cycle forms, the others on its own floor. The layering test checks the sources
/// against this list, and that every top-level module is on exactly one floor.
pub const LAYERS: &[&[&str]] = &[
    &["error"],
    &["fs"],
    &["gguf"],
    &["tokenizer"],
    &["model"],
    &["checkpoint"],
    &["data"],
    &["train"],
    &["growth"],
    &["infer"],
    &["memory", "vision"],
    &["tools"],
    &["tool_dataset"],
    &["learn", "assistant"],
    &["export", "import"],
];

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
