//! Inference: a Llama stored for fast batch-1 decoding ([`InferModel`]: f32, f16, q8_0 or q4_K
//! weights, KV cache), the decoding loop (sampling, stop strings, streaming UTF-8), and the
//! [`Engine`] thread that owns a model and serves requests over channels.

mod engine;
mod generate;
pub mod kernels;
mod live;
mod model;
pub mod pool;
pub mod q8;
mod sampler;
mod weights;

pub use engine::{Engine, EngineInfo, EngineStats, Event, Prompt, Request, Stream, DEFAULT_MAX_BATCH};
pub use generate::{
    generate_ids, generate_ids_with, text_prompt, Completion, FinishReason, GenerateOptions, LogitsConstraint, Usage,
};
pub use live::{load_run_engine, read_serving, write_serving, LiveEngine, Served, SERVING_FILE};
pub use model::{InferModel, KvState, Logits};
pub use sampler::{Sampler, SamplingOptions};
pub use weights::{fallback as storable_dtype, Weight, WeightDtype};

use crate::error::Result;
use crate::tokenizer::Tokenizer;
use std::sync::atomic::AtomicBool;

/// Continue the plain-text `prompt` on the calling thread (no engine), calling `on_text` with
/// each piece of text as it is produced.
pub fn generate(
    model: &InferModel,
    tok: &Tokenizer,
    prompt: &str,
    opts: &GenerateOptions,
    mut on_text: impl FnMut(&str),
) -> Result<Completion> {
    let (ids, dropped) = text_prompt(tok, prompt, model.cfg.max_seq_len, opts.max_tokens);
    let mut cache = KvState::default();
    let never = AtomicBool::new(false);
    let mut done = generate_ids(model, tok, &mut cache, &ids, opts, &never, &mut |t| {
        on_text(t);
        true
    })?;
    done.usage.dropped_tokens = dropped;
    Ok(done)
}
