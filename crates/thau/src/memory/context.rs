//! Short-term memory: the conversation window that goes into the model's context. It always
//! keeps the system prompt and the tool definitions, inserts retrieved long-term memories
//! (within their own token budget), and when the conversation no longer fits it summarises
//! or drops the oldest turns *explicitly*: the result says how many turns went and, when
//! summarised, puts a marked summary where they were. Nothing is cut silently from the front.
//!
//! Token counts are those of [`crate::tokenizer::render`]: one role token, the text, one end token
//! per message, plus BOS and the generation prompt.

use super::store::Memory;
use super::text::first_words;
use crate::error::{Error, Result};
use crate::tokenizer::{fit_to_context, Message, Role, Tokenizer};

/// What to do with turns that no longer fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Leave them out (the window reports how many).
    Drop,
    /// Replace them by one system message with the first words of each user turn.
    Summarize,
}

/// A token-budgeted conversation window (the seed's `update_context(role, text)`).
#[derive(Debug, Clone)]
pub struct ContextWindow {
    system: Option<String>,
    tools: Option<String>,
    turns: Vec<Message>,
    /// The model's context length in tokens.
    pub ctx: usize,
    /// Tokens kept free for the answer.
    pub reserve: usize,
    /// Most tokens the retrieved-memories message may take.
    pub memory_budget: usize,
    /// Most tokens a summary of dropped turns may take.
    pub summary_budget: usize,
    pub overflow: Overflow,
}

/// The messages to render and what was done to fit them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltContext {
    /// System prompt, tools, summary (if any), the kept turns oldest first, and before the
    /// last of them the memories (if any).
    pub messages: Vec<Message>,
    /// The rendered prompt ids, ending with `<|assistant|>`.
    pub ids: Vec<u32>,
    /// Oldest turns that are not in `messages` as themselves.
    pub dropped_turns: usize,
    /// Whether they were summarised (rather than simply left out).
    pub summarized: bool,
    /// How many retrieved memories fit in their budget (the first ones given).
    pub memories_used: usize,
    /// How many episode summaries fit after them (the first ones given).
    pub episodes_used: usize,
    /// A sentence saying what was left out, for the user (None when everything fit).
    pub notice: Option<String>,
}

/// Marks the memories message so a reader (and the model) can tell it from the system prompt.
pub const MEMORIES_HEADER: &str = "Recuerdos relevantes / Relevant memories:";
/// Opens the episode summaries inside the memories message.
pub const EPISODES_HEADER: &str = "Conversaciones anteriores / Earlier conversations:";
/// Opens a summary of dropped turns.
pub const SUMMARY_HEADER: &str = "Resumen / Summary";

impl ContextWindow {
    /// An empty window for a model with `ctx` tokens of context, keeping `reserve` for the
    /// answer; memories may take up to a quarter of the context, a summary up to an eighth.
    pub fn new(ctx: usize, reserve: usize) -> Self {
        Self {
            system: None,
            tools: None,
            turns: Vec::new(),
            ctx,
            reserve,
            memory_budget: ctx / 4,
            summary_budget: ctx / 8,
            overflow: Overflow::Summarize,
        }
    }

    pub fn with_system(mut self, system: impl Into<String>) -> Self {
        self.system = Some(system.into());
        self
    }

    /// Tool definitions (e.g. their JSON schemas) as text; always kept, after the system prompt.
    pub fn with_tools(mut self, tools: impl Into<String>) -> Self {
        self.tools = Some(tools.into());
        self
    }

    pub fn with_overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Append a turn (the seed's `update_context(role, text)`).
    pub fn push(&mut self, role: Role, text: impl Into<String>) {
        self.turns.push(Message::new(role, text));
    }

    /// Append a turn as a message (an assistant turn keeps its tool calls).
    pub fn push_message(&mut self, m: Message) {
        self.turns.push(m);
    }

    pub fn turns(&self) -> &[Message] {
        &self.turns
    }

    /// Build the prompt: the fixed messages; a summary of the oldest turns when not all fit;
    /// the newest turns that fit; and, right before the last turn (the newest user message),
    /// one memory message with as many of `memories` and then of `episodes` (summaries of
    /// earlier conversations, one line each) as fit in `memory_budget`, each list in the order
    /// given, best first. The memory message comes last so that everything before it (system
    /// prompt, tools, earlier turns) is the same from one turn to the next, and an engine's
    /// prefix cache keeps it.
    pub fn build(&self, tok: &Tokenizer, memories: &[Memory], episodes: &[String]) -> Result<BuiltContext> {
        if self.turns.is_empty() {
            return Err(Error::invalid("conversation", "it has no turns yet: push the user's message first"));
        }
        // Same budget rule as `fit_to_context`, so its check below drops nothing.
        let budget = self.ctx.saturating_sub(self.reserve.min(self.ctx / 2).max(1));
        let cost = |m: &Message| tok.encode(&m.content).len() + 2;
        let mut fixed: Vec<Message> = Vec::new();
        if let Some(s) = &self.system {
            fixed.push(Message::system(s.clone()));
        }
        if let Some(t) = &self.tools {
            fixed.push(Message::system(t.clone()));
        }
        let mut used = 2 + fixed.iter().map(cost).sum::<usize>();
        let last = self.turns.last().map(cost).unwrap_or(0);
        if used + last > budget {
            return Err(Error::invalid(
                "conversation",
                format!(
                    "the system prompt, tools and last message need {} tokens but {budget} are available \
                     ({} context, {} kept for the answer): shorten them",
                    used + last,
                    self.ctx,
                    self.reserve
                ),
            ));
        }
        // Memories, then episodes: as many as fit in their budget and leave room for the last turn.
        let (memory_msg, memories_used, episodes_used) =
            memory_message(tok, memories, episodes, self.memory_budget.min(budget - used - last));
        if let Some(m) = &memory_msg {
            used += cost(m);
        }
        // Turns: newest first while they fit. When not all fit and they are to be summarised,
        // the summary's budget is set aside first.
        let total: usize = self.turns.iter().map(cost).sum();
        let room = if used + total <= budget || self.overflow == Overflow::Drop {
            budget - used
        } else {
            (budget - used - last).saturating_sub(self.summary_budget) + last
        };
        let mut first_kept = self.turns.len();
        let mut turns_cost = 0;
        for i in (0..self.turns.len()).rev() {
            let c = cost(&self.turns[i]);
            if turns_cost + c > room {
                break;
            }
            turns_cost += c;
            first_kept = i;
        }
        used += turns_cost;
        let dropped = first_kept;
        let mut summarized = false;
        let mut summary_msg = None;
        if dropped > 0 && self.overflow == Overflow::Summarize {
            let room = self.summary_budget.min(budget - used);
            if let Some(msg) = summarize(tok, &self.turns[..dropped], room) {
                used += cost(&msg);
                summary_msg = Some(msg);
                summarized = true;
            }
        }
        let mut messages = fixed;
        messages.extend(summary_msg);
        let newest = self.turns.len() - 1;
        messages.extend(self.turns[first_kept..newest].iter().cloned());
        messages.extend(memory_msg);
        messages.push(self.turns[newest].clone());
        let fit = fit_to_context(tok, &messages, self.ctx, self.reserve)?;
        debug_assert_eq!(fit.dropped_messages, 0);
        debug_assert!(used <= budget);
        let notice = (dropped > 0).then(|| {
            if summarized {
                format!("{dropped} oldest turns no longer fit in the {}-token context and were summarised", self.ctx)
            } else {
                format!("{dropped} oldest turns no longer fit in the {}-token context and were left out", self.ctx)
            }
        });
        if let Some(n) = &notice {
            tracing::info!(dropped, summarized, "{n}");
        }
        Ok(BuiltContext {
            messages,
            ids: fit.ids,
            dropped_turns: dropped,
            summarized,
            memories_used,
            episodes_used,
            notice,
        })
    }
}

/// The memory message: [`MEMORIES_HEADER`] and a line per memory (with the date it was
/// learnt), then [`EPISODES_HEADER`] and a line per episode (each header only when its list
/// has a line), as many of each (in order) as
/// fit in `room` tokens. Returns it (None when nothing fits or there is nothing) and how many
/// memories and episodes it holds.
fn memory_message(
    tok: &Tokenizer,
    memories: &[Memory],
    episodes: &[String],
    room: usize,
) -> (Option<Message>, usize, usize) {
    let fits = |text: &str| tok.encode(text).len() + 2 <= room;
    let lines: Vec<String> = memories.iter().map(|m| memory_line(m.created_at, &m.text)).collect();
    let (mut n_mem, mut n_ep) = (0, 0);
    let mut text = String::new();
    while n_mem < lines.len() {
        let candidate = memory_block(&lines[..n_mem + 1], &[]);
        if !fits(&candidate) {
            break;
        }
        text = candidate;
        n_mem += 1;
    }
    while n_ep < episodes.len() {
        let candidate = memory_block(&lines[..n_mem], &episodes[..n_ep + 1]);
        if !fits(&candidate) {
            break;
        }
        text = candidate;
        n_ep += 1;
    }
    ((n_mem + n_ep > 0).then(|| Message::system(text)), n_mem, n_ep)
}

/// One memory as the memory message lists it: `- [2026-12-06] Mi perro se llama Rocky.`
/// (the date it was learnt, UTC).
pub fn memory_line(created_at_ms: i64, text: &str) -> String {
    let date = chrono::DateTime::from_timestamp_millis(created_at_ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    format!("- [{date}] {text}")
}

/// The text of the memory message: [`MEMORIES_HEADER`] and the memory lines (from
/// [`memory_line`]), then [`EPISODES_HEADER`] and a line per episode summary, each header only
/// when its list has a line. The tool dataset's memory-grounded conversations are written with
/// it, so the model learns on exactly what a session injects.
pub fn memory_block(memory_lines: &[String], episodes: &[String]) -> String {
    let mut text = String::new();
    if !memory_lines.is_empty() {
        text.push_str(MEMORIES_HEADER);
        for l in memory_lines {
            text.push('\n');
            text.push_str(l);
        }
    }
    if !episodes.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(EPISODES_HEADER);
        for e in episodes {
            text.push_str("\n- ");
            text.push_str(e);
        }
    }
    text
}

/// Words of each user turn a summary keeps.
const SUMMARY_WORDS: usize = 16;

/// An extractive summary of `turns` within `room` tokens: the header, then the first words
/// of each user turn (newest kept when they do not all fit). `None` if not even the header fits.
fn summarize(tok: &Tokenizer, turns: &[Message], room: usize) -> Option<Message> {
    let header = format!("{SUMMARY_HEADER} ({} turns):", turns.len());
    let lines: Vec<String> = turns
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| format!("- user: {}", first_words(&m.content, SUMMARY_WORDS)))
        .collect();
    let fits = |text: &str| tok.encode(text).len() + 2 <= room;
    if !fits(&header) {
        return None;
    }
    // Keep the newest lines that fit, in their original order.
    let mut kept: Vec<&String> = Vec::new();
    let mut text = header.clone();
    for line in lines.iter().rev() {
        let mut parts = vec![header.clone()];
        parts.push(line.clone());
        parts.extend(kept.iter().map(|s| s.to_string()));
        let candidate = parts.join("\n");
        if !fits(&candidate) {
            break;
        }
        kept.insert(0, line);
        text = candidate;
    }
    Some(Message::system(text))
}
