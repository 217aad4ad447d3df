//! Context assembly for one turn: which long-term memories and which earlier conversations
//! go into the prompt, and the report of what went in. Retrieval is hybrid (BM25 + the
//! sentence embedding when a model is loaded) with a relevance threshold, so memories that
//! share no word and little meaning with the message stay out; a message with a time
//! expression ("¿qué hablamos ayer?", "last Monday") brings the summaries of that time's
//! episodes. The query is embedded once per turn.

use crate::error::Result;
use crate::memory::{
    episode_summary, parse_time_range, BuiltContext, ContextWindow, Hit, Memory, MemoryStore, Retriever, SearchOptions,
    TextRole, TimeRange,
};
use crate::tokenizer::{Message, Tokenizer};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// How much memory a turn's prompt may carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextOptions {
    /// Put memories and episodes into the prompt at all.
    pub inject: bool,
    /// Most memories considered.
    pub memories: usize,
    /// A memory that matched no word of the message goes in only when its embedding's
    /// cosine with the message's reaches this.
    pub min_cosine: f32,
    /// Most episode summaries for a time question.
    pub episodes: usize,
}

impl Default for ContextOptions {
    fn default() -> Self {
        Self { inject: true, memories: 5, min_cosine: 0.85, episodes: 6 }
    }
}

/// A memory that went into the prompt, and why it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsedMemory {
    pub id: i64,
    pub text: String,
    pub importance: u8,
    pub created_at: i64,
    /// Fused retrieval score.
    pub score: f64,
    /// Whether it shared words with the message.
    pub matched_words: bool,
    pub cosine: Option<f32>,
}

/// An earlier conversation whose summary went into the prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsedEpisode {
    pub id: i64,
    pub conversation: Option<String>,
    pub started_at: i64,
    pub ended_at: i64,
    /// The deterministic summary the model read.
    pub summary: String,
}

/// What a turn's prompt was built from: the memory report every front-end shows (`x_thau`
/// in the API, `/stats` in `thau chat`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    pub memories: Vec<UsedMemory>,
    pub episodes: Vec<UsedEpisode>,
    /// The time expression of the message, resolved.
    pub time_range: Option<TimeRange>,
    /// Relevant memories and episodes found but left out: the memory budget was full.
    pub left_out: usize,
    /// Oldest turns not in the prompt as themselves.
    pub dropped_turns: usize,
    /// Whether they were summarised.
    pub summarized: bool,
    /// What was cut, in a sentence for the person (None when everything fit).
    pub notice: Option<String>,
    /// Time to embed the message (once per turn), ms; 0 without an embedding model.
    pub query_embedding_ms: f64,
    /// Time for everything else: search, episodes, building the prompt, ms.
    pub assembly_ms: f64,
}

/// What retrieval found for one message, before the token budget decides what fits.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    pub hits: Vec<Hit>,
    pub episodes: Vec<UsedEpisode>,
    pub time_range: Option<TimeRange>,
    pub query_embedding_ms: f64,
    pub search_ms: f64,
}

impl Candidates {
    /// The memories, best first, for the prompt.
    pub fn memories(&self) -> Vec<Memory> {
        self.hits.iter().map(|h| h.memory.clone()).collect()
    }

    /// The episode summaries, in order, for the prompt.
    pub fn summaries(&self) -> Vec<String> {
        self.episodes.iter().map(|e| e.summary.clone()).collect()
    }
}

/// The prompt of a turn and what memory put into it: `system` pinned, `history` (ending with
/// the new message) fitted into `ctx` tokens less `reserve` with the oldest turns summarised,
/// and the candidates' memories and episode summaries (as many as their budget holds) in a
/// marked block right before the newest message, so everything before it stays a cacheable
/// prefix. `started` is when the turn's retrieval began (the report's timings).
pub fn assemble(
    tok: &Tokenizer,
    ctx: usize,
    reserve: usize,
    system: Option<String>,
    history: &[Message],
    cands: &Candidates,
    started: Instant,
) -> Result<(BuiltContext, MemoryReport)> {
    let mut window = ContextWindow::new(ctx, reserve);
    if let Some(s) = system {
        window = window.with_system(s);
    }
    for m in history {
        window.push_message(m.clone());
    }
    let built = window.build(tok, &cands.memories(), &cands.summaries())?;
    let report = MemoryReport {
        memories: cands.hits[..built.memories_used]
            .iter()
            .map(|h| UsedMemory {
                id: h.memory.id,
                text: h.memory.text.clone(),
                importance: h.memory.importance,
                created_at: h.memory.created_at,
                score: h.score,
                matched_words: h.fulltext_rank.is_some(),
                cosine: h.cosine,
            })
            .collect(),
        episodes: cands.episodes[..built.episodes_used].to_vec(),
        time_range: cands.time_range.clone(),
        left_out: cands.hits.len() + cands.episodes.len() - built.memories_used - built.episodes_used,
        dropped_turns: built.dropped_turns,
        summarized: built.summarized,
        notice: built.notice.clone(),
        query_embedding_ms: cands.query_embedding_ms,
        assembly_ms: (started.elapsed().as_secs_f64() * 1e3 - cands.query_embedding_ms).max(0.0),
    };
    Ok((built, report))
}

/// Whether a search hit is relevant enough to show the model.
pub fn is_relevant(hit: &Hit, min_cosine: f32) -> bool {
    hit.fulltext_rank.is_some() || hit.cosine.is_some_and(|c| c >= min_cosine)
}

/// Find what `user`'s memory holds for `message` at `now`: relevant memories and, for a
/// time question, that time's episodes (`skip_conversation`'s own are left out: they are in
/// the prompt already).
pub fn candidates(
    retriever: &mut Retriever,
    user: &str,
    message: &str,
    now: &DateTime<FixedOffset>,
    skip_conversation: Option<&str>,
    opts: &ContextOptions,
) -> Result<Candidates> {
    if !opts.inject {
        return Ok(Candidates::default());
    }
    let t0 = Instant::now();
    let qvec = match retriever.embedder() {
        Some(e) => Some(e.embed_one(message, TextRole::Query)?),
        None => None,
    };
    let query_embedding_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let search = SearchOptions { k: opts.memories, now: Some(now.timestamp_millis()), ..SearchOptions::default() };
    let hits: Vec<Hit> = retriever
        .search_with_vector(user, message, qvec.as_deref(), &search)?
        .into_iter()
        .filter(|h| is_relevant(h, opts.min_cosine))
        .collect();
    let time_range = parse_time_range(message, now);
    let episodes = match &time_range {
        Some(r) => episodes_in(retriever.store(), user, r, now, skip_conversation, opts.episodes)?,
        None => Vec::new(),
    };
    Ok(Candidates { hits, episodes, time_range, query_embedding_ms, search_ms: t1.elapsed().as_secs_f64() * 1e3 })
}

/// The episodes of `user` that overlap `range`, oldest first, summarised.
fn episodes_in(
    store: &MemoryStore,
    user: &str,
    range: &TimeRange,
    now: &DateTime<FixedOffset>,
    skip_conversation: Option<&str>,
    limit: usize,
) -> Result<Vec<UsedEpisode>> {
    let mut out = Vec::new();
    for e in store.episodes(user)? {
        if e.ended_at < range.start || e.started_at >= range.end {
            continue;
        }
        if skip_conversation.is_some() && e.session.as_deref() == skip_conversation {
            continue;
        }
        let turns = store.episode_turns(e.id)?;
        if turns.is_empty() {
            continue;
        }
        out.push(UsedEpisode {
            id: e.id,
            conversation: e.session.clone(),
            started_at: e.started_at,
            ended_at: e.ended_at,
            summary: episode_summary(&e, &turns, now.offset()),
        });
    }
    // The most recent `limit`, kept in time order.
    let extra = out.len().saturating_sub(limit);
    out.drain(..extra);
    Ok(out)
}
