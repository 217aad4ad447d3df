//! Short-term memory: the conversation window that goes into the model's context. It always
//! keeps the system prompt and the tool definitions, inserts retrieved long-term memories
//! (within their own token budget), and when the conversation no longer fits it summarises
//! or drops the oldest turns *explicitly*: the result says how many turns went and, when
//! summarised, puts a marked summary where they were. Nothing is cut silently from the front.
//!
//! Token counts are those of [`crate::tokenizer::render`]: one role token, the text, one end token
//! per message, plus BOS and the generation prompt.

use super::store::Memory;
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
    /// System prompt, tools, memories, summary (if any), then the kept turns, oldest first.
    pub messages: Vec<Message>,
    /// The rendered prompt ids, ending with `<|assistant|>`.
    pub ids: Vec<u32>,
    /// Oldest turns that are not in `messages` as themselves.
    pub dropped_turns: usize,
    /// Whether they were summarised (rather than simply left out).
    pub summarized: bool,
    /// How many retrieved memories fit in their budget.
    pub memories_used: usize,
    /// A sentence saying what was left out, for the user (None when everything fit).
    pub notice: Option<String>,
}

/// Marks the memories message so a reader (and the model) can tell it from the system prompt.
pub const MEMORIES_HEADER: &str = "Recuerdos relevantes / Relevant memories:";
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

    pub fn turns(&self) -> &[Message] {
        &self.turns
    }

    /// Build the prompt: fixed messages, up to `memory_budget` tokens of `memories` (in the
    /// order given, best first), then as many of the newest turns as fit.
    pub fn build(&self, tok: &Tokenizer, memories: &[Memory]) -> Result<BuiltContext> {
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
        // Memories: as many as fit in their budget and leave room for the last turn.
        let mut memories_used = 0;
        if !memories.is_empty() {
            let room = self.memory_budget.min(budget - used - last);
            let mut text = String::from(MEMORIES_HEADER);
            for m in memories {
                let date = chrono::DateTime::from_timestamp_millis(m.created_at)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default();
                let candidate = format!("{text}\n- [{date}] {}", m.text);
                if tok.encode(&candidate).len() + 2 > room {
                    break;
                }
                text = candidate;
                memories_used += 1;
            }
            if memories_used > 0 {
                let msg = Message::system(text);
                used += cost(&msg);
                fixed.push(msg);
            }
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
        messages.extend(self.turns[first_kept..].iter().cloned());
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
        Ok(BuiltContext { messages, ids: fit.ids, dropped_turns: dropped, summarized, memories_used, notice })
    }
}

/// An extractive summary of `turns` within `room` tokens: the header, then the first words
/// of each user turn (newest kept when they do not all fit). `None` if not even the header fits.
fn summarize(tok: &Tokenizer, turns: &[Message], room: usize) -> Option<Message> {
    let header = format!("{SUMMARY_HEADER} ({} turns):", turns.len());
    let lines: Vec<String> = turns
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| {
            let words: Vec<&str> = m.content.split_whitespace().collect();
            let mut s = words.iter().take(16).copied().collect::<Vec<_>>().join(" ");
            if words.len() > 16 {
                s.push('…');
            }
            format!("- user: {s}")
        })
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
