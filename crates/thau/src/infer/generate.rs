//! The decoding loop: prefill the prompt in one pass (reusing cached positions it shares with
//! the previous request), then sample one token at a time, streaming text as soon as it is
//! valid UTF-8 and cannot be the start of a stop string.

use super::model::{InferModel, KvState, Logits};
use super::sampler::{Sampler, SamplingOptions};
use crate::error::{Error, Result};
use crate::tokenizer::{StreamDecoder, Tokenizer};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Limits and sampling for one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampling: SamplingOptions,
    /// Stop when the text contains one of these (the stop string itself is not returned).
    pub stop: Vec<String>,
    /// Stop at the end-of-text or end-of-turn token.
    pub stop_at_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self { max_tokens: 256, sampling: SamplingOptions::default(), stop: Vec::new(), stop_at_eos: true }
    }
}

impl GenerateOptions {
    pub fn validate(&self) -> Result<()> {
        self.sampling.validate()?;
        if self.max_tokens == 0 {
            return Err(Error::invalid("max_tokens", "must be at least 1"));
        }
        if self.stop.iter().any(|s| s.is_empty()) {
            return Err(Error::invalid("stop", "stop strings must not be empty"));
        }
        Ok(())
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// `max_tokens` reached.
    Length,
    /// The model ended its text or turn.
    Eos,
    /// A stop string appeared.
    Stop,
    /// The context window is full.
    ContextFull,
    /// The caller cancelled (or stopped listening).
    Cancelled,
}

/// Token counts and timings of one generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys/values were reused from the previous request.
    pub cached_tokens: usize,
    /// Prompt tokens left out because the prompt did not fit the context.
    pub dropped_tokens: usize,
    pub completion_tokens: usize,
    pub prefill_secs: f64,
    pub decode_secs: f64,
}

impl Usage {
    /// Prompt tokens per second actually computed (cached ones excluded).
    pub fn prefill_tok_per_sec(&self) -> f64 {
        (self.prompt_tokens - self.cached_tokens) as f64 / self.prefill_secs.max(1e-9)
    }
    /// Generated tokens per second after the first.
    pub fn decode_tok_per_sec(&self) -> f64 {
        self.completion_tokens.saturating_sub(1) as f64 / self.decode_secs.max(1e-9)
    }
}

/// The result of one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub tokens: Vec<u32>,
    pub finish: FinishReason,
    pub usage: Usage,
}

/// Token ids of a plain-text prompt: BOS + the text. When it does not fit in `ctx` leaving
/// `reserve` positions for the answer, the oldest text tokens are dropped (BOS kept); returns
/// the ids and how many were dropped.
pub fn text_prompt(tok: &Tokenizer, prompt: &str, ctx: usize, reserve: usize) -> (Vec<u32>, usize) {
    let text = tok.encode(prompt);
    let room = ctx.saturating_sub(reserve.min(ctx / 2).max(1)).saturating_sub(1).max(1);
    let dropped = text.len().saturating_sub(room);
    let mut ids = tok.bos_ids();
    ids.extend_from_slice(&text[dropped..]);
    if dropped > 0 {
        tracing::warn!(
            dropped,
            kept = ids.len(),
            ctx,
            "prompt longer than the context: its oldest tokens were left out"
        );
    }
    (ids, dropped)
}

/// Restricts which tokens may come next, e.g. to keep a tool call valid JSON for its schema
/// (`tools::CallConstraint`). One value serves one generation and follows the tokens chosen.
pub trait LogitsConstraint: Send {
    /// Set the logits of the tokens that may not come next to `-inf`.
    fn mask(&mut self, logits: &mut [f32]);
    /// The token that was chosen (one `mask` allowed).
    fn accept(&mut self, token: u32);
    /// How many tokens the generation may still produce, this one included (the smaller of
    /// what `max_tokens` and the context leave); told before each `mask`. A constraint that
    /// must finish what it opens (a tool call) plans with it.
    fn budget(&mut self, _tokens_left: usize) {}
}

/// A borrowed constraint, so [`generate_ids_with`] can lend one to a [`Decoder`].
struct Lent<'a>(&'a mut dyn LogitsConstraint);

impl LogitsConstraint for Lent<'_> {
    fn mask(&mut self, logits: &mut [f32]) {
        self.0.mask(logits)
    }
    fn accept(&mut self, token: u32) {
        self.0.accept(token)
    }
    fn budget(&mut self, tokens_left: usize) {
        self.0.budget(tokens_left)
    }
}

/// Generate a continuation of `prompt` (token ids, BOS included), reusing whatever prefix of
/// it `cache` already holds. `on_text` receives each piece of text; returning false cancels.
pub fn generate_ids(
    model: &InferModel,
    tok: &Tokenizer,
    cache: &mut KvState,
    prompt: &[u32],
    opts: &GenerateOptions,
    cancel: &AtomicBool,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<Completion> {
    generate_ids_with(model, tok, cache, prompt, opts, None, cancel, on_text)
}

/// [`generate_ids`] with the next-token choice restricted by `constraint`.
#[allow(clippy::too_many_arguments)]
pub fn generate_ids_with(
    model: &InferModel,
    tok: &Tokenizer,
    cache: &mut KvState,
    prompt: &[u32],
    opts: &GenerateOptions,
    constraint: Option<&mut dyn LogitsConstraint>,
    cancel: &AtomicBool,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<Completion> {
    let mut dec = Decoder::prefill(model, tok, cache, prompt, opts)?;
    if let Some(c) = constraint {
        dec.constrain(Box::new(Lent(c)));
    }
    loop {
        match dec.step(cache.len(), model.cfg.max_seq_len, cancel, on_text) {
            Step::Forward(next) => dec.set_logits(model.forward(&[next], cache, Logits::Last)?),
            Step::Finished(finish) => return Ok(dec.finish(finish, on_text)),
        }
    }
}

/// The most likely token that is not masked out, if any.
fn best_allowed(logits: &[f32]) -> Option<u32> {
    let mut best: Option<usize> = None;
    for (i, &v) in logits.iter().enumerate() {
        if v > f32::NEG_INFINITY && best.is_none_or(|b| v > logits[b]) {
            best = Some(i);
        }
    }
    best.map(|b| b as u32)
}

/// What a [`Decoder`] needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Run this token through the model (appending it to the sequence's cache) and hand the
    /// logits to [`Decoder::set_logits`].
    Forward(u32),
    /// The generation is over.
    Finished(FinishReason),
}

/// One generation as a state machine: sampling, stop strings and streaming, with the model's
/// forward passes left to the caller, so the engine can run one pass for many sequences.
pub(crate) struct Decoder<'t> {
    tok: &'t Tokenizer,
    opts: GenerateOptions,
    sampler: Sampler,
    stream: StreamDecoder<'t>,
    stops: StopScanner,
    history: Vec<u32>,
    text: String,
    tokens: Vec<u32>,
    usage: Usage,
    /// Logits of the next position (V).
    logits: Vec<f32>,
    step: usize,
    decode_start: Instant,
    /// Restricts the tokens sampled (tool calls), when set.
    constraint: Option<Box<dyn LogitsConstraint + 't>>,
}

impl<'t> Decoder<'t> {
    /// Validate, then prefill `prompt` into `cache` (reusing the prefix it shares with it).
    pub(crate) fn prefill(
        model: &InferModel,
        tok: &'t Tokenizer,
        cache: &mut KvState,
        prompt: &[u32],
        opts: &GenerateOptions,
    ) -> Result<Self> {
        opts.validate()?;
        let ctx = model.cfg.max_seq_len;
        if prompt.is_empty() {
            return Err(Error::invalid("prompt", "the prompt has no tokens"));
        }
        if prompt.len() > ctx {
            return Err(Error::invalid(
                "prompt",
                format!("{} tokens do not fit the model's context of {ctx}: shorten the prompt", prompt.len()),
            ));
        }
        // Reuse the cached prefix, but always run at least the last prompt token for its logits.
        let common = cache.tokens().iter().zip(prompt).take_while(|(a, b)| a == b).count().min(prompt.len() - 1);
        cache.truncate(common);
        let mut usage = Usage { prompt_tokens: prompt.len(), cached_tokens: common, ..Usage::default() };
        let t0 = Instant::now();
        let logits = model.forward(&prompt[common..], cache, Logits::Last)?;
        usage.prefill_secs = t0.elapsed().as_secs_f64();
        Ok(Self {
            tok,
            opts: opts.clone(),
            sampler: Sampler::new(opts.sampling.clone()),
            stream: tok.stream_decoder(),
            stops: StopScanner::new(opts.stop.clone()),
            history: prompt.to_vec(),
            text: String::new(),
            tokens: Vec::new(),
            usage,
            logits,
            step: 0,
            decode_start: Instant::now(),
            constraint: None,
        })
    }

    /// Sample the next token from the current logits, stream its text, and say what is next.
    /// `cached` is how many positions the sequence's cache holds, `ctx` the model's context.
    pub(crate) fn step(
        &mut self,
        cached: usize,
        ctx: usize,
        cancel: &AtomicBool,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Step {
        if self.step >= self.opts.max_tokens {
            return Step::Finished(FinishReason::Length);
        }
        if cancel.load(Ordering::Relaxed) {
            return Step::Finished(FinishReason::Cancelled);
        }
        let next = match self.constraint.as_deref_mut() {
            None => self.sampler.sample(&self.logits, &self.history),
            Some(c) => {
                // This token and, while the context has room, one per position left.
                c.budget((self.opts.max_tokens - self.step).min((ctx + 1).saturating_sub(cached)));
                c.mask(&mut self.logits);
                let Some(best) = best_allowed(&self.logits) else {
                    tracing::warn!("the logits constraint allows no token; ending the generation");
                    return Step::Finished(FinishReason::Eos);
                };
                // The sampler may land on a masked token only through rounding at the tail.
                let mut next = self.sampler.sample(&self.logits, &self.history);
                if self.logits[next as usize] == f32::NEG_INFINITY {
                    next = best;
                }
                c.accept(next);
                next
            }
        };
        if self.opts.stop_at_eos && self.tok.is_end(next) {
            return Step::Finished(FinishReason::Eos);
        }
        self.step += 1;
        self.history.push(next);
        self.tokens.push(next);
        if let Some(piece) = self.stream.push(next) {
            let (out, hit) = self.stops.push(&piece);
            self.text.push_str(&out);
            if !(out.is_empty() || on_text(&out)) {
                return Step::Finished(FinishReason::Cancelled);
            }
            if hit {
                return Step::Finished(FinishReason::Stop);
            }
        }
        if self.step == self.opts.max_tokens {
            return Step::Finished(FinishReason::Length);
        }
        if cached + 1 > ctx {
            return Step::Finished(FinishReason::ContextFull);
        }
        Step::Forward(next)
    }

    /// Restrict every token sampled from now on by `c`.
    pub(crate) fn constrain(&mut self, c: Box<dyn LogitsConstraint + 't>) {
        self.constraint = Some(c);
    }

    /// The logits of the token last returned by [`Step::Forward`].
    pub(crate) fn set_logits(&mut self, logits: Vec<f32>) {
        self.logits = logits;
    }

    /// Flush what is held back (incomplete characters, possible stop-string starts) and return
    /// the completion.
    pub(crate) fn finish(mut self, mut finish: FinishReason, on_text: &mut dyn FnMut(&str) -> bool) -> Completion {
        if finish != FinishReason::Stop {
            let mut rest = self.stream.finish().unwrap_or_default();
            let (out, hit) = self.stops.push(&rest);
            rest = out;
            if hit {
                finish = FinishReason::Stop;
            } else {
                rest.push_str(&self.stops.finish());
            }
            self.text.push_str(&rest);
            if !rest.is_empty() {
                on_text(&rest);
            }
        }
        self.usage.completion_tokens = self.tokens.len();
        self.usage.decode_secs = self.decode_start.elapsed().as_secs_f64();
        Completion { text: self.text, tokens: self.tokens, finish, usage: self.usage }
    }
}

/// Holds back text that might be the start of a stop string until it is sure either way.
struct StopScanner {
    stops: Vec<String>,
    pending: String,
}

impl StopScanner {
    fn new(stops: Vec<String>) -> Self {
        Self { stops, pending: String::new() }
    }

    /// Add `piece`; returns the text now safe to emit and whether a stop string was hit (the
    /// text returned then ends right before it, and the rest is discarded).
    fn push(&mut self, piece: &str) -> (String, bool) {
        if self.stops.is_empty() {
            return (piece.to_string(), false);
        }
        self.pending.push_str(piece);
        if let Some(at) = self.stops.iter().filter_map(|s| self.pending.find(s.as_str())).min() {
            let out = self.pending[..at].to_string();
            self.pending.clear();
            return (out, true);
        }
        // Keep the longest tail of pending that is a prefix of some stop string.
        let keep = self
            .stops
            .iter()
            .map(|s| {
                (1..s.len().min(self.pending.len() + 1))
                    .rev()
                    .find(|&l| {
                        self.pending.is_char_boundary(self.pending.len() - l)
                            && s.starts_with(&self.pending[self.pending.len() - l..])
                    })
                    .unwrap_or(0)
            })
            .max()
            .unwrap_or(0);
        let out = self.pending[..self.pending.len() - keep].to_string();
        self.pending.drain(..self.pending.len() - keep);
        (out, false)
    }

    /// Whatever is still held back (generation ended without a stop string).
    fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::StopScanner;

    #[test]
    fn stop_strings_split_across_pieces() {
        let stops = vec!["</s>".to_string(), "\n\nUser:".to_string()];
        let mut s = StopScanner::new(stops.clone());
        let mut out = String::new();
        let mut hit = false;
        for piece in ["Hola", " mundo", "<", "/", "s>", "never"] {
            let (o, h) = s.push(piece);
            out.push_str(&o);
            if h {
                hit = true;
                break;
            }
        }
        assert!(hit);
        assert_eq!(out, "Hola mundo");
        // A partial match that turns out not to be one is released.
        let mut s = StopScanner::new(stops.clone());
        let (a, _) = s.push("x\n\nUse");
        let (b, h) = s.push("d it");
        assert!(!h);
        assert_eq!(a + &b + &s.finish(), "x\n\nUsed it");
        // Multi-byte text next to a partial match.
        let stops = vec!["ñu".to_string()];
        let mut s = StopScanner::new(stops.clone());
        let (a, _) = s.push("añ");
        let (b, h) = s.push("o");
        assert!(!h);
        assert_eq!(a + &b, "año");
    }
}
