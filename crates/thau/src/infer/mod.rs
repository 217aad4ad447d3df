//! Inference: sampling and autoregressive generation with a KV cache.

mod sampler;

pub use sampler::{Sampler, SamplingOptions};

use crate::error::{Error, Result};
use crate::model::{KvCache, Llama};
use crate::tokenizer::{Tokenizer, BOS, EOS};
use candle_core::Tensor;

/// Limits and sampling for one generation.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampling: SamplingOptions,
    /// Stop at the end-of-text (or end-of-turn) token.
    pub stop_at_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self { max_tokens: 128, sampling: SamplingOptions::default(), stop_at_eos: true }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Length,
    Eos,
    ContextFull,
}

/// Continue `prompt`, calling `on_text` with each complete piece of UTF-8 text as it is
/// produced. Returns the generated text and why it stopped.
pub fn generate(
    model: &Llama,
    tok: &Tokenizer,
    prompt: &str,
    opts: &GenerateOptions,
    mut on_text: impl FnMut(&str),
) -> Result<(String, FinishReason)> {
    opts.sampling.validate()?;
    let mut ids = vec![BOS];
    ids.extend(tok.encode(prompt));
    let ctx = model.cfg.max_seq_len;
    if ids.len() > ctx {
        return Err(Error::invalid(
            "prompt",
            format!("{} tokens do not fit the model's context of {ctx}: shorten the prompt", ids.len()),
        ));
    }
    let mut sampler = Sampler::new(opts.sampling.clone());
    let mut cache = KvCache::default();
    let mut stream = tok.stream_decoder();
    let mut out = String::new();
    let dev = model.device();
    // Prefill the whole prompt in one pass; keep only the last position's logits.
    let input = Tensor::from_slice(&ids, (1, ids.len()), dev)?;
    let mut logits = model.forward_cached(&input, &mut cache, true)?.get(ids.len() - 1)?;
    let mut history = ids.clone();
    let mut reason = FinishReason::Length;
    for _ in 0..opts.max_tokens {
        let next = sampler.sample(&logits.to_vec1::<f32>()?, &history);
        if opts.stop_at_eos && (next == EOS || next == crate::tokenizer::END) {
            reason = FinishReason::Eos;
            break;
        }
        history.push(next);
        if let Some(piece) = stream.push(next) {
            on_text(&piece);
            out.push_str(&piece);
        }
        if cache.len() + 1 > ctx {
            reason = FinishReason::ContextFull;
            break;
        }
        let input = Tensor::from_slice(&[next], (1, 1), dev)?;
        logits = model.forward_cached(&input, &mut cache, true)?.get(0)?;
    }
    if let Some(rest) = stream.finish() {
        on_text(&rest);
        out.push_str(&rest);
    }
    Ok((out, reason))
}
