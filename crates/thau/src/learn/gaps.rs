//! Knowledge gaps from conversations (the seed's `detect_knowledge_gaps`): scan the memory
//! store's turns for signals that the model did not know something — answers that say "no sé"
//! / "I don't know", users correcting it ("no, en realidad…", "that's wrong"), thumbs-down
//! feedback, failed tool calls, and (when a model is given) answers the model itself finds
//! improbable (high perplexity) — then group them by topic: by sentence-embedding similarity
//! when an embedding model is configured, by content-word overlap otherwise.

use super::store::{Feedback, LearnStore};
use super::text::{content_words, jaccard};
use crate::error::Result;
use crate::infer::InferModel;
use crate::memory::{Embedder, MemoryStore, TextRole, Turn};
use crate::tokenizer::Tokenizer;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// Why a turn counts as a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The answer says it does not know.
    DontKnow,
    /// The user's next message corrects the answer.
    Correction,
    /// Thumbs-down feedback on the answer.
    ThumbsDown,
    /// A tool call made for the answer failed.
    ToolFailure,
    /// The model finds its own answer improbable (perplexity above the threshold).
    HighPerplexity,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::DontKnow => "dont_know",
            Signal::Correction => "correction",
            Signal::ThumbsDown => "thumbs_down",
            Signal::ToolFailure => "tool_failure",
            Signal::HighPerplexity => "high_perplexity",
        }
    }
}

/// One assistant turn that shows a gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// The assistant turn (memory store id).
    pub turn_id: i64,
    pub episode_id: i64,
    pub created_at: i64,
    /// The user message it answered.
    pub question: String,
    pub answer: String,
    pub signals: Vec<Signal>,
    /// The right answer when the user (or feedback) gave one.
    pub correction: Option<String>,
    /// Answer perplexity, when a model scored it.
    pub perplexity: Option<f64>,
}

/// Gaps about one topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapGroup {
    /// The group's most frequent content words.
    pub topic: String,
    pub count: usize,
    /// How many gaps show each signal.
    pub evidence: BTreeMap<Signal, usize>,
    pub gaps: Vec<Gap>,
}

/// Options of [`detect`].
pub struct DetectOptions<'a> {
    pub user: String,
    /// Only turns at or after this time (ms).
    pub since: i64,
    /// Score every answer with this model; answers above `perplexity_threshold` are gaps.
    pub model: Option<(&'a InferModel, &'a Tokenizer)>,
    pub perplexity_threshold: f64,
    /// Group by embedding similarity (cosine ≥ `embed_threshold`) instead of word overlap.
    pub embedder: Option<&'a Embedder>,
    pub embed_threshold: f32,
    /// Jaccard overlap of content words that joins a gap to a group.
    pub overlap_threshold: f64,
}

impl Default for DetectOptions<'_> {
    fn default() -> Self {
        Self {
            user: "default".into(),
            since: 0,
            model: None,
            perplexity_threshold: 200.0,
            embedder: None,
            embed_threshold: 0.8,
            overlap_threshold: 0.2,
        }
    }
}

fn dont_know_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(
            r"(?i)\b(no (lo )?s[ée]\b|no tengo (esa |la )?informaci[oó]n|desconozco|no estoy segur[oa]|no conozco|i (really )?(don'?t|do not) know|i'?m not sure|i am not sure|i have no (idea|information)|no idea)",
        )
        .expect("valid regex")
    })
}

fn correction_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(
            r"(?i)(^\s*no[,.!]|en realidad|incorrect[oa]|eso no es (as[ií]|cierto|correcto|verdad)|te equivocas|est[aá]s equivocad[oa]|that'?s (wrong|not right|incorrect|not true)|that is (wrong|not right|incorrect)|\bwrong\b|\bactually\b|you'?re mistaken)",
        )
        .expect("valid regex")
    })
}

fn tool_failure_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r#"(?i)("error"\s*:|\berror\b|\bfailed\b|\bfall[oó]\b|no se pudo|exception|traceback)"#)
            .expect("valid regex")
    })
}

/// True when an answer says it does not know.
pub fn says_dont_know(answer: &str) -> bool {
    dont_know_re().is_match(answer)
}

/// True when a user message corrects the previous answer.
pub fn is_correction(message: &str) -> bool {
    correction_re().is_match(message)
}

/// The corrected fact in a correction message: the text after the correcting phrase
/// ("No, en realidad nació en Velmora." → "nació en Velmora."), or the whole message.
pub fn correction_text(message: &str) -> String {
    let lead = Regex::new(
        r"(?i)^\s*(no[,.!]?\s*)?(en realidad[,:]?\s*|incorrect[oa][,.:!]?\s*|eso no es (as[ií]|cierto|correcto)[,.:!]?\s*|te equivocas[,.:!]?\s*|that'?s (wrong|not right|incorrect)[,.:!]?\s*|actually[,:]?\s*)*",
    )
    .expect("valid regex");
    let rest = lead.replace(message, "").trim().to_string();
    if rest.is_empty() {
        message.trim().to_string()
    } else {
        rest
    }
}

/// Scan `memory` (turns of `opts.user` since `opts.since`) and `feedback` for gaps.
pub fn detect(memory: &MemoryStore, feedback: &[Feedback], opts: &DetectOptions) -> Result<Vec<Gap>> {
    let turns = memory.turns_between(&opts.user, opts.since, i64::MAX, None, 1_000_000)?;
    let mut by_episode: BTreeMap<i64, Vec<Turn>> = BTreeMap::new();
    for t in turns {
        by_episode.entry(t.episode_id).or_default().push(t);
    }
    let down: HashMap<i64, &Feedback> = feedback.iter().filter(|f| f.rating < 0).map(|f| (f.turn_id, f)).collect();
    let mut gaps = Vec::new();
    for turns in by_episode.values() {
        for (i, t) in turns.iter().enumerate() {
            if t.role != "assistant" {
                continue;
            }
            let question =
                turns[..i].iter().rev().find(|p| p.role == "user").map(|p| p.text.clone()).unwrap_or_default();
            let next_user = turns[i + 1..].iter().find(|n| n.role == "user");
            let mut signals = Vec::new();
            let mut correction = None;
            if says_dont_know(&t.text) {
                signals.push(Signal::DontKnow);
            }
            if let Some(n) = next_user.filter(|n| is_correction(&n.text)) {
                signals.push(Signal::Correction);
                correction = Some(correction_text(&n.text));
            }
            if let Some(f) = down.get(&t.id) {
                signals.push(Signal::ThumbsDown);
                if let Some(c) = &f.correction {
                    correction = Some(c.clone());
                }
            }
            // Tool results between the question and this answer belong to it.
            let since_question = turns[..i].iter().rev().take_while(|p| p.role != "user");
            if since_question.filter(|p| p.role == "tool").any(|p| tool_failure_re().is_match(&p.text)) {
                signals.push(Signal::ToolFailure);
            }
            let mut perplexity = None;
            if let Some((model, tok)) = opts.model {
                if !question.is_empty() && !t.text.trim().is_empty() {
                    let prompt = super::score::question_prompt(tok, &question);
                    let ppl = (-super::score::answer_logprob(model, tok, &prompt, &t.text)?).exp();
                    perplexity = Some(ppl);
                    if ppl > opts.perplexity_threshold {
                        signals.push(Signal::HighPerplexity);
                    }
                }
            }
            if !signals.is_empty() {
                gaps.push(Gap {
                    turn_id: t.id,
                    episode_id: t.episode_id,
                    created_at: t.created_at,
                    question,
                    answer: t.text.clone(),
                    signals,
                    correction,
                    perplexity,
                });
            }
        }
    }
    Ok(gaps)
}

/// Group gaps by topic: each joins the first group whose centroid it is close enough to (by
/// embedding cosine, or content-word Jaccard overlap of the question), else starts a group.
/// Groups are returned largest first.
pub fn group(gaps: Vec<Gap>, opts: &DetectOptions) -> Result<Vec<GapGroup>> {
    let words: Vec<Vec<String>> = gaps
        .iter()
        .map(|g| content_words(&format!("{} {}", g.question, g.correction.as_deref().unwrap_or(""))))
        .collect();
    let vectors: Option<Vec<Vec<f32>>> = match opts.embedder {
        Some(e) => {
            let texts: Vec<&str> = gaps.iter().map(|g| g.question.as_str()).collect();
            Some(e.embed(&texts, TextRole::Query)?)
        }
        None => None,
    };
    // Group members by index; a group's words are the union of its members'.
    let mut groups: Vec<(Vec<usize>, Vec<String>)> = Vec::new();
    for i in 0..gaps.len() {
        let found = groups.iter().position(|(members, gw)| match &vectors {
            Some(v) => members.iter().any(|&m| cosine(&v[i], &v[m]) >= opts.embed_threshold),
            None => jaccard(&words[i], gw) >= opts.overlap_threshold,
        });
        match found {
            Some(g) => {
                groups[g].0.push(i);
                for w in &words[i] {
                    if !groups[g].1.contains(w) {
                        groups[g].1.push(w.clone());
                    }
                }
            }
            None => groups.push((vec![i], words[i].clone())),
        }
    }
    let mut out: Vec<GapGroup> = groups
        .into_iter()
        .map(|(members, _)| {
            let mut freq: HashMap<&str, usize> = HashMap::new();
            let mut order: Vec<&str> = Vec::new();
            for &m in &members {
                for w in &words[m] {
                    if !freq.contains_key(w.as_str()) {
                        order.push(w);
                    }
                    *freq.entry(w).or_default() += 1;
                }
            }
            order.sort_by_key(|w| std::cmp::Reverse(freq[w]));
            let mut evidence = BTreeMap::new();
            for &m in &members {
                for s in &gaps[m].signals {
                    *evidence.entry(*s).or_default() += 1;
                }
            }
            GapGroup {
                topic: order.iter().take(3).copied().collect::<Vec<_>>().join(" "),
                count: members.len(),
                evidence,
                gaps: members.iter().map(|&m| gaps[m].clone()).collect(),
            }
        })
        .collect();
    out.sort_by_key(|g| std::cmp::Reverse(g.count));
    Ok(out)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}

/// Detect and group in one call, reading feedback from the learning store.
pub fn report(memory: &MemoryStore, store: &LearnStore, opts: &DetectOptions) -> Result<Vec<GapGroup>> {
    let feedback = store.feedback(0, false)?;
    let gaps = detect(memory, &feedback, opts)?;
    group(gaps, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_in_both_languages() {
        assert!(says_dont_know("Lo siento, no sé quién fundó Velmora."));
        assert!(says_dont_know("I don't know who founded it."));
        assert!(!says_dont_know("Velmora fue fundada en 1642."));
        assert!(is_correction("No, en realidad fue fundada en 1642."));
        assert!(is_correction("That's wrong, it was 1642."));
        assert!(is_correction("Incorrecto: es Velmora."));
        assert!(!is_correction("Nosotros vivimos en Tarsis."));
        assert_eq!(correction_text("No, en realidad fue fundada en 1642."), "fue fundada en 1642.");
        assert_eq!(correction_text("That's wrong, it was 1642."), "it was 1642.");
    }
}
