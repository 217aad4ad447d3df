//! Evaluating a model on any text: loss, perplexity and bits per byte. Bits per byte divide
//! the total negative log-likelihood by the UTF-8 size of the text, so models with different
//! tokenizers compare fairly.

use crate::error::{Error, Result};
use crate::model::ops::cross_entropy_eval;
use crate::model::Llama;
use crate::tokenizer::{Tokenizer, BOS};
use candle_core::Tensor;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub tokens: usize,
    pub bytes: usize,
    /// Mean cross-entropy per token (nats).
    pub loss: f64,
    pub perplexity: f64,
    pub bits_per_byte: f64,
}

/// Score `text` in consecutive windows of at most `seq_len` predicted tokens.
pub fn evaluate_text(model: &Llama, tok: &Tokenizer, text: &str, seq_len: usize) -> Result<EvalReport> {
    let mut ids = vec![BOS];
    ids.extend(tok.encode(text));
    if ids.len() < 2 {
        return Err(Error::invalid("evaluation text", "it is empty; give a file with some text"));
    }
    let seq = seq_len.min(model.cfg.max_seq_len).max(1);
    let mut nll = 0.0f64;
    let mut count = 0usize;
    let mut start = 0;
    while start + 1 < ids.len() {
        let end = (start + seq).min(ids.len() - 1);
        let n = end - start;
        let x = Tensor::from_slice(&ids[start..end], (1, n), model.device())?;
        let y = Tensor::from_slice(&ids[start + 1..end + 1], n, model.device())?;
        let loss = cross_entropy_eval(&model.forward(&x)?, &y)?.to_scalar::<f32>()? as f64;
        nll += loss * n as f64;
        count += n;
        start = end;
    }
    let bytes = text.len();
    let loss = nll / count as f64;
    Ok(EvalReport {
        tokens: count,
        bytes,
        loss,
        perplexity: loss.exp(),
        bits_per_byte: nll / std::f64::consts::LN_2 / bytes.max(1) as f64,
    })
}
