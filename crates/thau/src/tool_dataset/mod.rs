//! A bilingual (es/en) tool-calling dataset generated from templates, for supervised
//! fine-tuning (`thau train --sft`) and for `thau eval tools`.
//!
//! Each example is a [`SftExample`]: the tools offered (all built-ins, sometimes a subset), an
//! optional earlier exchange, the user's request, and the assistant's answer — a tool call
//! (`generate_image`, `calculator`, `remember`, `recall`, `search_memory`,
//! `current_datetime`) or plain text when no tool is needed. Half of the calls go on with the
//! tool's result and the final answer that uses it ("Aquí tienes tu imagen: images/….png").
//!
//! Requests vary by phrasing (direct, polite, indirect, questions, word problems), language,
//! typos, missing accents and punctuation, politeness around them, and arguments to extract:
//! image subjects (translated to English from a lexicon, since Stable Diffusion 1.5 reads
//! English), styles, sizes ("de 512x768", "horizontal"), seeds, counts, negative prompts;
//! arithmetic in digits or words ("cuánto es doce por siete" → `12 * 7`); facts, times and
//! topics for the memory tools.
//!
//! In training, half of the image, memory and time requests are composed from parts
//! ([`frames`]: how people ask × what they ask for), so each intent has hundreds of wordings
//! instead of a few dozen.
//!
//! No-tool requests include near misses in training: the tools' own words (paint, photo,
//! remember, late) in statements, questions about famous paintings, and requests that turn a
//! tool down, so that a verb alone does not decide a call.
//!
//! Memory-grounded conversations ([`grounded`]) are mixed into training: the memory message a
//! session injects holds the answer ("Tu perro se llama Rocky."), or only unrelated memories,
//! or the summaries of yesterday's conversations. Their held-out set is its own file, so the
//! tool figures of earlier rounds stay comparable.
//!
//! The held-out split is written only with phrasings listed as held-out in [`phrasings`], so
//! the evaluation measures wordings the model never trained on. Generation is deterministic:
//! the same seed gives the same files, byte for byte.

mod arithmetic;
mod conversation;
mod corpus_chat;
pub mod eval;
mod frames;
pub mod grounded;
mod image;
mod lexicon;
mod near_miss;
mod phrasings;
mod results;
mod text;

pub use corpus_chat::{ChatPair, ChatPool};

use crate::data::synthetic::Rng;
use crate::data::Lang;
use crate::error::{Error, Result};
use crate::tokenizer::{Message, ToolCall};
use crate::tools::spec::{builtin_specs, ToolSpec};
use crate::train::sft::SftExample;
use arithmetic::calculator;
use conversation::{call, example, Answer};
use image::image;
use lexicon::{number_words, Subject};
use phrasings::{Chat, Phrasings, Problem};
use results::tool_result;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use text::{fill, lower_first, pick_template, strip_accents, upper_first, wrap};

/// Which phrasings an example may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training phrasings only.
    Train,
    /// Held-out phrasings only (never in training data).
    Heldout,
}

/// How many examples of each split, and the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolDatasetConfig {
    /// Tool (and no-tool) training examples.
    pub train: usize,
    pub heldout: usize,
    /// Memory-grounded conversations mixed into the training split.
    pub grounded_train: usize,
    /// Memory-grounded held-out conversations (their own file).
    pub grounded_heldout: usize,
    pub seed: u64,
}

impl ToolDatasetConfig {
    /// `train` training examples, a fifth of them memory-grounded; `heldout` tool examples and
    /// [`GROUNDED_HELDOUT`] grounded ones held out.
    pub fn new(train: usize, heldout: usize, seed: u64) -> Self {
        let grounded_train = train / 5;
        Self { train: train - grounded_train, heldout, grounded_train, grounded_heldout: GROUNDED_HELDOUT, seed }
    }
}

impl Default for ToolDatasetConfig {
    fn default() -> Self {
        Self::new(5000, 500, 1337)
    }
}

/// Size of the memory-grounded held-out set (the committed evaluation file is this many at
/// seed 1337).
pub const GROUNDED_HELDOUT: usize = 300;

/// What one split contains.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SplitStats {
    pub examples: usize,
    /// Examples by the tool the (last) request calls, "none" when it calls none.
    pub by_tool: BTreeMap<String, usize>,
    pub spanish: usize,
    pub english: usize,
    /// Calls followed by the tool's result and the final answer.
    pub with_result: usize,
    /// Examples that begin with an earlier exchange.
    pub with_history: usize,
    /// Examples offering only some of the built-in tools.
    pub tool_subsets: usize,
    /// Distinct requests (last user messages).
    pub distinct_requests: usize,
    /// Memory-grounded examples by kind (answer, unrelated, episodes).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub grounded: BTreeMap<String, usize>,
}

/// The generated dataset and its statistics.
#[derive(Debug, Clone)]
pub struct ToolDataset {
    /// Tool examples with the grounded ones mixed in.
    pub train: Vec<SftExample>,
    pub heldout: Vec<SftExample>,
    /// Memory-grounded held-out examples.
    pub grounded_heldout: Vec<SftExample>,
    pub stats: ToolDatasetStats,
}

/// Statistics of both splits, written as `stats.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDatasetStats {
    pub seed: u64,
    pub train: SplitStats,
    pub heldout: SplitStats,
    pub grounded_heldout: SplitStats,
    /// Request phrasings available to each split (the two sets are disjoint).
    pub train_phrasings: usize,
    pub heldout_phrasings: usize,
    /// Real exchanges the training split's no-tool requests could also draw from (0: none).
    #[serde(skip_serializing_if = "is_zero")]
    pub corpus_chats: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Generate both splits from the templates alone.
pub fn generate(cfg: &ToolDatasetConfig) -> Result<ToolDataset> {
    generate_with_chat(cfg, &ChatPool::default())
}

/// Generate both splits; a third of the training split's no-tool requests are near misses
/// ([`near_miss`]), and half of the rest of a language come from `pool` (real exchanges, see
/// [`corpus_chat`]) when it has some for that language. The held-out split draws from neither,
/// so it is the same with or without a pool.
pub fn generate_with_chat(cfg: &ToolDatasetConfig, pool: &ChatPool) -> Result<ToolDataset> {
    if cfg.train + cfg.grounded_train == 0 && cfg.heldout + cfg.grounded_heldout == 0 {
        return Err(Error::invalid("tool dataset size", "both splits are empty: ask for at least one example"));
    }
    let specs = builtin_specs();
    let tools = split_examples(cfg.train, cfg.seed, Split::Train, &specs, pool);
    let no_pool = ChatPool::default();
    let heldout = split_examples(cfg.heldout, cfg.seed ^ 0x4845_4c44_4f55_5421, Split::Heldout, &specs, &no_pool);
    // The grounded examples come from streams of their own, so adding them leaves every tool
    // example (and the tool held-out file) as it was.
    let grounded_train = grounded_examples(cfg.grounded_train, cfg.seed ^ 0x4752_4f55_4e44_4544, Split::Train, &specs);
    let grounded_heldout =
        grounded_examples(cfg.grounded_heldout, cfg.seed ^ 0x4752_4f55_4e44_4844, Split::Heldout, &specs);
    let train = interleave(tools, grounded_train, cfg.seed ^ 0x4d49_58);
    let (train_phrasings, heldout_phrasings) = phrasing_counts();
    let stats = ToolDatasetStats {
        seed: cfg.seed,
        train: split_stats(&train, specs.len()),
        heldout: split_stats(&heldout, specs.len()),
        grounded_heldout: split_stats(&grounded_heldout, specs.len()),
        train_phrasings,
        heldout_phrasings,
        corpus_chats: pool.len(),
    };
    let strip = |v: Vec<(SftExample, Lang)>| v.into_iter().map(|(e, _)| e).collect();
    Ok(ToolDataset { train: strip(train), heldout: strip(heldout), grounded_heldout: strip(grounded_heldout), stats })
}

fn grounded_examples(count: usize, seed: u64, split: Split, specs: &[ToolSpec]) -> Vec<(SftExample, Lang)> {
    let mut r = Rng(seed);
    (0..count).map(|_| grounded::example(&mut r, split, specs)).collect()
}

/// `a` and `b` shuffled together, each keeping its own order (every interleaving equally likely).
fn interleave<T>(a: Vec<T>, b: Vec<T>, seed: u64) -> Vec<T> {
    let mut r = Rng(seed);
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    let (mut left_a, mut left_b) = (a.len(), b.len());
    let mut out = Vec::with_capacity(left_a + left_b);
    while left_a + left_b > 0 {
        let from_a = r.below(left_a + left_b) < left_a;
        let next = if from_a { a.next() } else { b.next() };
        if from_a {
            left_a -= 1;
        } else {
            left_b -= 1;
        }
        out.extend(next);
    }
    out
}

fn split_examples(
    count: usize,
    seed: u64,
    split: Split,
    specs: &[ToolSpec],
    pool: &ChatPool,
) -> Vec<(SftExample, Lang)> {
    let mut r = Rng(seed);
    (0..count).map(|_| example(&mut r, split, specs, pool)).collect()
}

/// Every set of tool-request phrasings (word problems and chit-chat are separate lists).
const REQUEST_SETS: [&Phrasings; 9] = [
    &phrasings::IMAGE,
    &phrasings::IMAGE_COUNT,
    &phrasings::CALC,
    &phrasings::REMEMBER,
    &phrasings::RECALL,
    &phrasings::SEARCH,
    &phrasings::SEARCH_LIMIT,
    &phrasings::TIME,
    &phrasings::DATE,
];

/// Phrasings each split can draw from (requests, word problems and chit-chat).
fn phrasing_counts() -> (usize, usize) {
    let sets = REQUEST_SETS;
    let train = sets.iter().map(|s| s.es.len() + s.en.len()).sum::<usize>()
        + phrasings::PROBLEMS_ES.len()
        + phrasings::PROBLEMS_EN.len()
        + phrasings::CHAT_ES.len()
        + phrasings::CHAT_EN.len();
    let heldout = sets.iter().map(|s| s.es_heldout.len() + s.en_heldout.len()).sum::<usize>()
        + phrasings::PROBLEMS_ES_HELDOUT.len()
        + phrasings::PROBLEMS_EN_HELDOUT.len()
        + phrasings::CHAT_ES_HELDOUT.len()
        + phrasings::CHAT_EN_HELDOUT.len();
    let grounded = grounded::phrasing_counts();
    (train + grounded.0, heldout + grounded.1)
}

/// A conversation as plain text for a pretraining corpus: the tool list, then one line per
/// turn (`user: …`, `assistant: …`, calls as their JSON, `tool: …`). Mixed into pretraining,
/// it teaches the tokenizer the tool names and the JSON of calls (so the tool list in the
/// system prompt costs far fewer tokens) and the model the shape of a call before fine-tuning.
pub fn as_plain_text(ex: &SftExample) -> String {
    let mut out = crate::tools::tools_prompt(&ex.tools);
    for m in &ex.messages {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(m.role.as_str());
        out.push_str(": ");
        out.push_str(&m.content);
        for c in &m.tool_calls {
            if !m.content.is_empty() {
                out.push(' ');
            }
            out.push_str(&c.to_json());
        }
    }
    out
}

/// The user message the evaluation asks about (the last one) and the assistant turn that answers
/// it: its index in `messages`.
pub fn target_turn(ex: &SftExample) -> Option<usize> {
    let last_user = ex.messages.iter().rposition(|m| m.role == crate::tokenizer::Role::User)?;
    let next = last_user + 1;
    (next < ex.messages.len() && ex.messages[next].role == crate::tokenizer::Role::Assistant).then_some(next)
}

fn split_stats(examples: &[(SftExample, Lang)], all_tools: usize) -> SplitStats {
    let mut s = SplitStats { examples: examples.len(), ..SplitStats::default() };
    let mut requests = HashSet::new();
    for (ex, lang) in examples {
        let Some(t) = target_turn(ex) else { continue };
        let tool = ex.messages[t].tool_calls.first().map(|c| c.name.clone()).unwrap_or_else(|| "none".into());
        *s.by_tool.entry(tool).or_default() += 1;
        let user = &ex.messages[t - 1].content;
        requests.insert(user.clone());
        match lang {
            Lang::Es => s.spanish += 1,
            Lang::En => s.english += 1,
        }
        if ex.messages.get(t + 1).is_some_and(|m| m.role == crate::tokenizer::Role::Tool) {
            s.with_result += 1;
        }
        if ex.messages[..t - 1].iter().any(|m| m.role == crate::tokenizer::Role::User) {
            s.with_history += 1;
        }
        if ex.tools.len() < all_tools {
            s.tool_subsets += 1;
        }
        if let Some(g) = &ex.grounding {
            *s.grounded.entry(g.kind.as_str().to_string()).or_default() += 1;
        }
    }
    s.distinct_requests = requests.len();
    s
}

#[cfg(test)]
mod tests;
