//! Closed-book scoring: ask the model each question in THAU's chat format (no passage in the
//! prompt), decode greedily, and compare with the reference answer by exact match, token F1
//! and containment; also the answer log-likelihood, the mean log-probability of the reference
//! answer's tokens given the question. For small models that rarely produce the exact span,
//! the log-likelihood moves long before accuracy does, so it is the most informative of the
//! three (and what the gate falls back to when accuracy ties).

use super::questions::Question;
use super::text::{contains_answer, exact_match, token_f1};
use crate::error::Result;
use crate::infer::{generate_ids, GenerateOptions, InferModel, KvState, Logits, SamplingOptions, WeightDtype};
use crate::model::Llama;
use crate::tokenizer::{render, Message, Tokenizer, END};
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;

/// Tokens a closed-book answer may take.
pub const ANSWER_TOKENS: usize = 24;

/// One question asked closed-book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub question: Question,
    /// What the model answered.
    pub prediction: String,
    pub exact_match: f64,
    pub f1: f64,
    /// The reference answer appears in the prediction as whole words (after normalisation).
    pub correct: bool,
    /// Mean log-probability (nats) of the reference answer's tokens and the closing `<|end|>`.
    pub answer_logprob: f64,
}

/// Means over a question set.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ScoreSummary {
    pub questions: usize,
    /// Share of questions answered correctly (containment or exact match), 0..1.
    pub accuracy: f64,
    pub exact_match: f64,
    pub f1: f64,
    pub answer_logprob: f64,
}

impl ScoreSummary {
    pub fn of(scored: &[Scored]) -> Self {
        let n = scored.len().max(1) as f64;
        Self {
            questions: scored.len(),
            accuracy: scored.iter().filter(|s| s.correct).count() as f64 / n,
            exact_match: scored.iter().map(|s| s.exact_match).sum::<f64>() / n,
            f1: scored.iter().map(|s| s.f1).sum::<f64>() / n,
            answer_logprob: scored.iter().map(|s| s.answer_logprob).sum::<f64>() / n,
        }
    }
}

/// The prompt a question is asked with: `<|bos|><|user|>question<|end|><|assistant|>`. The
/// dataset builder teaches answers after exactly this prompt.
pub fn question_prompt(tok: &Tokenizer, question: &str) -> Vec<u32> {
    render(tok, &[Message::user(question)], true)
}

/// Mean log-probability of `answer` (and `<|end|>`) after `prompt`, from every-position logits.
pub fn answer_logprob(model: &InferModel, tok: &Tokenizer, prompt: &[u32], answer: &str) -> Result<f64> {
    let mut answer_ids = tok.encode(answer);
    answer_ids.push(END);
    let ctx = model.cfg.max_seq_len;
    let mut ids = prompt.to_vec();
    ids.extend(&answer_ids);
    if ids.len() > ctx {
        // Keep the answer whole: drop the oldest prompt tokens.
        ids.drain(..ids.len() - ctx);
    }
    let start = ids.len() - answer_ids.len();
    let v = model.cfg.vocab_size;
    let logits = model.forward(&ids, &mut KvState::default(), Logits::All)?;
    let mut sum = 0.0f64;
    for (i, &target) in answer_ids.iter().enumerate() {
        let row = &logits[(start + i - 1) * v..(start + i) * v];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = max as f64 + row.iter().map(|&x| ((x - max) as f64).exp()).sum::<f64>().ln();
        sum += row[target as usize] as f64 - lse;
    }
    Ok(sum / answer_ids.len() as f64)
}

/// The model's greedy closed-book answer to `question`.
pub fn answer(model: &InferModel, tok: &Tokenizer, question: &str) -> Result<String> {
    let prompt = question_prompt(tok, question);
    let opts = GenerateOptions {
        max_tokens: ANSWER_TOKENS,
        sampling: SamplingOptions::greedy(),
        stop: vec!["\n".into()],
        stop_at_eos: true,
    };
    let never = AtomicBool::new(false);
    let done = generate_ids(model, tok, &mut KvState::default(), &prompt, &opts, &never, &mut |_| true)?;
    Ok(done.text.trim().to_string())
}

/// Ask every question closed-book and score the answers.
pub fn score(model: &InferModel, tok: &Tokenizer, questions: &[Question]) -> Result<Vec<Scored>> {
    questions
        .iter()
        .map(|q| {
            let prediction = answer(model, tok, &q.question)?;
            let prompt = question_prompt(tok, &q.question);
            Ok(Scored {
                exact_match: exact_match(&prediction, &q.answer),
                f1: token_f1(&prediction, &q.answer),
                correct: contains_answer(&prediction, &q.answer),
                answer_logprob: answer_logprob(model, tok, &prompt, &q.answer)?,
                prediction,
                question: q.clone(),
            })
        })
        .collect()
}

/// [`score`] for a training model (converted once to the inference layout, f32).
pub fn score_llama(model: &Llama, tok: &Tokenizer, questions: &[Question]) -> Result<Vec<Scored>> {
    let m = InferModel::from_llama(model, WeightDtype::F32)?;
    score(&m, tok, questions)
}
