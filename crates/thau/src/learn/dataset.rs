//! The dataset builder: gaps → supervised examples in THAU's chat format (question → grounded
//! answer), each with the ids of the sources it came from. Gap questions bring their siblings
//! (the other questions made from the same sentence) and the fact's variants (more wordings,
//! restatements, permutations: [`super::augment`]), so a fact is taught in many forms (a model
//! that saw one wording rarely answers another). Conversation
//! gaps are taught with the user's correction, or with the passage sentence that best answers
//! them; gaps nothing answers are reported, never invented. Replay of the run's earlier
//! training text is mixed in at training time (see [`super::tune`]), not stored here.

use super::gaps::Gap;
use super::questions::{Question, QuestionKind};
use super::store::{Feedback, Passage};
use super::text::{content_words, sentences};
use crate::error::Result;
use crate::tokenizer::Message;
use crate::train::sft::{write_jsonl, SftExample};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// Where an example came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A self-generated question the model got wrong.
    GapQuestion,
    /// Another question about the same sentence as a gap question.
    Sibling,
    /// A conversation gap answered by the user's correction (message or feedback).
    Correction,
    /// A conversation gap answered by a passage sentence.
    Passage,
    /// Another wording, a restatement or a permutation of a gap question's fact
    /// (knowledge augmentation, see [`super::augment`]).
    Variant,
}

/// One supervised example and its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub example: SftExample,
    pub origin: Origin,
    /// Passage, turn (`turn:<id>`) or feedback (`feedback:<id>`) ids.
    pub sources: Vec<String>,
    /// The sentence the answer is grounded in (groups wordings of one fact).
    pub evidence: String,
}

/// The built dataset.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Dataset {
    pub examples: Vec<Example>,
    /// Conversation gaps no correction or passage answers (turn ids).
    pub unresolved: Vec<i64>,
    /// Feedback rows used.
    pub feedback_ids: Vec<i64>,
}

/// A question → answer example.
pub fn qa_example(question: &str, answer: &str) -> SftExample {
    SftExample::new(Vec::new(), vec![Message::user(question), Message::assistant(answer)])
}

/// The passage sentence that best answers `question`: the most content words in common
/// (at least half of the question's), ties to the earlier sentence.
pub fn best_sentence<'a>(question: &str, passages: &'a [Passage]) -> Option<(&'a Passage, String)> {
    let q = content_words(question);
    if q.is_empty() {
        return None;
    }
    let need = q.len().div_ceil(2);
    let mut best: Option<(usize, &Passage, String)> = None;
    for p in passages {
        for s in sentences(&p.text) {
            let words: HashSet<String> = content_words(&s).into_iter().collect();
            let common = q.iter().filter(|w| words.contains(*w)).count();
            if common >= need && best.as_ref().is_none_or(|(c, _, _)| common > *c) {
                best = Some((common, p, s));
            }
        }
    }
    best.map(|(_, p, s)| (p, s))
}

impl Dataset {
    /// Examples from self-questioning: every gap question and its siblings in `all`.
    pub fn add_questions(&mut self, gaps: &[Question], all: &[Question]) {
        let evidence: HashSet<&str> = gaps.iter().map(|q| q.evidence.as_str()).collect();
        let gap_set: HashSet<(&str, &str)> = gaps.iter().map(|q| (q.question.as_str(), q.answer.as_str())).collect();
        let mut seen = HashSet::new();
        for q in gaps.iter().chain(all.iter().filter(|q| evidence.contains(q.evidence.as_str()))) {
            if !seen.insert((q.question.clone(), q.answer.clone())) {
                continue;
            }
            let origin = if gap_set.contains(&(q.question.as_str(), q.answer.as_str())) {
                Origin::GapQuestion
            } else {
                Origin::Sibling
            };
            self.examples.push(Example {
                example: qa_example(&q.question, &q.answer),
                origin,
                sources: vec![q.passage.clone()],
                evidence: q.evidence.clone(),
            });
        }
    }

    /// Examples from knowledge-augmentation variants (see [`super::augment::variants`]).
    pub fn add_variants(&mut self, variants: &[Question]) {
        for q in variants {
            self.examples.push(Example {
                example: qa_example(&q.question, &q.answer),
                origin: Origin::Variant,
                sources: vec![q.passage.clone()],
                evidence: q.evidence.clone(),
            });
        }
    }

    /// Examples from conversation gaps: the correction when there is one, else the best
    /// passage sentence; unanswerable gaps go to `unresolved`.
    pub fn add_conversation_gaps(&mut self, gaps: &[Gap], passages: &[Passage]) {
        for g in gaps {
            if g.question.trim().is_empty() {
                self.unresolved.push(g.turn_id);
                continue;
            }
            if let Some(c) = &g.correction {
                self.examples.push(Example {
                    example: qa_example(&g.question, c),
                    origin: Origin::Correction,
                    sources: vec![format!("turn:{}", g.turn_id)],
                    evidence: c.clone(),
                });
            } else if let Some((p, s)) = best_sentence(&g.question, passages) {
                self.examples.push(Example {
                    example: qa_example(&g.question, &s),
                    origin: Origin::Passage,
                    sources: vec![format!("turn:{}", g.turn_id), p.id.clone()],
                    evidence: s,
                });
            } else {
                self.unresolved.push(g.turn_id);
            }
        }
    }

    /// Examples from feedback corrections not already taught through a conversation gap.
    pub fn add_feedback(&mut self, feedback: &[Feedback]) {
        let taught: HashSet<String> = self.examples.iter().flat_map(|e| e.sources.clone()).collect();
        for f in feedback {
            let (Some(c), Some(q)) = (&f.correction, &f.question) else { continue };
            self.feedback_ids.push(f.id);
            if taught.contains(&format!("turn:{}", f.turn_id)) {
                continue;
            }
            self.examples.push(Example {
                example: qa_example(q, c),
                origin: Origin::Correction,
                sources: vec![format!("feedback:{}", f.id), format!("turn:{}", f.turn_id)],
                evidence: c.clone(),
            });
        }
    }

    /// The gate's questions from conversation gaps: those taught with a short answer.
    pub fn conversation_questions(&self) -> Vec<Question> {
        self.examples
            .iter()
            .filter(|e| matches!(e.origin, Origin::Correction | Origin::Passage))
            .filter_map(|e| {
                let q = e.example.messages.first()?.content.clone();
                let a = e.example.messages.get(1)?.content.clone();
                Some(Question {
                    question: q,
                    answer: a,
                    passage: e.sources.last().cloned().unwrap_or_default(),
                    evidence: e.evidence.clone(),
                    kind: QuestionKind::Conversation,
                    lang: String::new(),
                })
            })
            .collect()
    }

    pub fn sft_examples(&self) -> Vec<SftExample> {
        self.examples.iter().map(|e| e.example.clone()).collect()
    }

    /// Every source id, sorted, once.
    pub fn sources(&self) -> Vec<String> {
        let mut s: Vec<String> = self.examples.iter().flat_map(|e| e.sources.clone()).collect();
        s.sort();
        s.dedup();
        s
    }

    /// Write `<stem>.jsonl` (the SFT examples, one per line, as `thau` fine-tuning reads them)
    /// and `<stem>.sources.json` (each example's origin and sources), atomically.
    pub fn save(&self, dir: &Path, stem: &str) -> Result<std::path::PathBuf> {
        let path = dir.join(format!("{stem}.jsonl"));
        write_jsonl(&path, &self.sft_examples())?;
        let meta: Vec<serde_json::Value> = self
            .examples
            .iter()
            .map(|e| serde_json::json!({"origin": e.origin, "sources": e.sources, "evidence": e.evidence}))
            .collect();
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| crate::Error::invalid("dataset", e.to_string()))?;
        crate::fs::write_atomic(&dir.join(format!("{stem}.sources.json")), &json)?;
        Ok(path)
    }
}
