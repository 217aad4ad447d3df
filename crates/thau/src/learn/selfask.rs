//! Questions the model writes itself (Self-Instruct, Wang et al. 2023; self-questioning, Chen
//! et al. 2025): it is shown a passage and asked for a question and its answer; a pair is kept
//! only when the answer is a span of the passage (so it is grounded and checkable) and is not
//! already in the question. Small models rarely manage this; the count kept says whether the
//! model is capable yet.

use super::questions::{Question, QuestionKind};
use super::store::Passage;
use super::text::normalize_answer;
use crate::error::Result;
use crate::infer::{generate_ids, GenerateOptions, InferModel, KvState, SamplingOptions};
use crate::tokenizer::{render, Message, Tokenizer};
use std::sync::atomic::AtomicBool;

/// Split "¿…? Respuesta: …" / "Q: …? A: …" into a question and an answer.
pub fn parse_pair(text: &str) -> Option<(String, String)> {
    let end = text.find('?')?;
    let q = text[..=end].trim();
    let q = q.trim_start_matches(|c: char| !c.is_alphanumeric() && c != '¿').trim();
    let q = ["Pregunta:", "Question:", "Q:", "P:"]
        .iter()
        .fold(q.to_string(), |q, p| q.trim_start_matches(p).trim().to_string());
    let mut a = text[end + 1..].trim();
    for p in ["Respuesta:", "Answer:", "A:", "R:", "-"] {
        a = a.trim_start_matches(p).trim();
    }
    let a = a.lines().next().unwrap_or("").trim().trim_end_matches('.').trim();
    (!q.is_empty() && !a.is_empty()).then(|| (q, a.to_string()))
}

/// The model's own question about `passage`, kept when its answer is a span of the passage.
pub fn ask_model(model: &InferModel, tok: &Tokenizer, passage: &Passage, seed: u64) -> Result<Option<Question>> {
    let es = passage.lang.as_deref() != Some("en");
    let instruction = if es {
        format!("Lee el texto y escribe una pregunta sobre él y su respuesta.\n\nTexto: {}\n\nPregunta:", passage.text)
    } else {
        format!("Read the text and write a question about it and its answer.\n\nText: {}\n\nQuestion:", passage.text)
    };
    let prompt = render(tok, &[Message::user(instruction)], true);
    if prompt.len() + 48 > model.cfg.max_seq_len {
        return Ok(None);
    }
    let opts = GenerateOptions {
        max_tokens: 48,
        sampling: SamplingOptions { temperature: 0.7, seed, ..SamplingOptions::default() },
        stop: Vec::new(),
        stop_at_eos: true,
    };
    let never = AtomicBool::new(false);
    let out = generate_ids(model, tok, &mut KvState::default(), &prompt, &opts, &never, &mut |_| true)?;
    let Some((question, answer)) = parse_pair(&out.text) else { return Ok(None) };
    let na = normalize_answer(&answer);
    let grounded = !na.is_empty() && format!(" {} ", normalize_answer(&passage.text)).contains(&format!(" {na} "));
    let leaks = normalize_answer(&question).contains(&na);
    Ok((grounded && !leaks).then(|| Question {
        question,
        answer,
        passage: passage.id.clone(),
        evidence: passage.text.clone(),
        kind: QuestionKind::Model,
        lang: if es { "es".into() } else { "en".into() },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_in_both_languages() {
        assert_eq!(
            parse_pair(" ¿Dónde nació Ana? Respuesta: Velmora.\nmás"),
            Some(("¿Dónde nació Ana?".into(), "Velmora".into()))
        );
        assert_eq!(
            parse_pair("Q: Where was Ana born? A: Velmora"),
            Some(("Where was Ana born?".into(), "Velmora".into()))
        );
        assert_eq!(parse_pair("no question here"), None);
    }
}
