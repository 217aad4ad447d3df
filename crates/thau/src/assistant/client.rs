//! Chat clients that keep the conversation themselves: the OpenAI and Ollama APIs resend the
//! whole history with every request, and run tools on their side. The server still keeps
//! the assistant's memory for them, with the same rules as [`super::Session`]:
//! - every turn is logged for the resolved user, once (the conversation is the one the
//!   client names, else the one keyed by its system prompt and first message; see
//!   [`log_client_history`]);
//! - a "recuerda que… / remember that…" request is stored as a memory;
//! - with injection on (a server option, off by default so such clients get unchanged
//!   answers), relevant memories and earlier conversations go into the prompt in the same
//!   marked block, before the newest user message, and are reported.
//!
//! [`begin_client_turn`] runs before generation, [`finish_client_turn`] logs the answer.

use super::clock::Clock;
use super::context::{assemble, candidates, ContextOptions, MemoryReport};
use super::remember::remember_request;
use super::session::lock;
use crate::error::Result;
use crate::infer::Engine;
use crate::memory::{
    check_conversation_id, client_key, log_client_history, log_message, Conversation, Memory, Retriever,
};
use crate::tokenizer::{Message, Role};
use serde::Serialize;
use std::sync::Mutex;
use std::time::Instant;

/// The `source` of memories an API client's message asked for.
pub const API_SOURCE: &str = "api";

/// What the assistant does around an API client's request.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Memories and episodes in the prompt (`inject: false` leaves the messages as sent).
    pub context: ContextOptions,
    /// Store "recuerda que…" / "remember that…" requests as memories.
    pub remember_requests: bool,
    /// Tokens kept free for the answer when the prompt is rebuilt with memories.
    pub reserve: usize,
}

/// A client request, logged: what the model reads and what to report.
#[derive(Debug, Clone, Serialize)]
pub struct ClientTurn {
    pub conversation: Conversation,
    /// Turn ids this request stored (the messages the conversation did not hold yet).
    pub logged: Vec<i64>,
    /// What a "remember that…" request stored.
    pub remembered: Option<Memory>,
    /// The prompt rebuilt with the memory block (None: the messages as sent).
    #[serde(skip)]
    pub prompt: Option<Vec<Message>>,
    /// What memory put into the prompt (None when injection is off).
    pub memory: Option<MemoryReport>,
    /// When this request's messages were logged (ms); the answer is logged after it.
    #[serde(skip)]
    at: i64,
}

/// Log `messages` (a client's whole history, ending with the new message) for `user` in the
/// conversation `name`d by the client or keyed by its start, store an explicit memory
/// request, and, when `opts` injects, rebuild the prompt with the relevant memories and
/// episodes. None when the messages hold no user message (nothing to log a conversation by).
pub fn begin_client_turn(
    memory: &Mutex<Retriever>,
    engine: &Engine,
    clock: &Clock,
    opts: &ClientOptions,
    user: &str,
    name: Option<&str>,
    messages: &[Message],
) -> Result<Option<ClientTurn>> {
    if let Some(n) = name {
        check_conversation_id(n)?;
    }
    let Some(key) = name.map(str::to_string).or_else(|| client_key(messages)) else {
        return Ok(None);
    };
    let now = clock.now();
    let at = now.timestamp_millis();
    let t0 = Instant::now();
    let mut r = lock(memory);
    let (conversation, written) = log_client_history(r.store_mut(), user, &key, messages, at)?;
    let at = written.last().map_or(at, |t| t.created_at);
    let newest = messages.last().filter(|m| m.role == Role::User);
    // Only a message this request logged can ask for a memory: a resent one already did.
    let remembered = match newest.filter(|_| opts.remember_requests && !written.is_empty()) {
        Some(m) => remember_request(&mut r, user, &m.content, Some(&conversation.id), API_SOURCE, at)?,
        None => None,
    };
    let (prompt, report) = match newest.filter(|_| opts.context.inject) {
        None => (None, None),
        Some(m) => {
            let mut cands = candidates(&mut r, user, &m.content, &now, Some(&conversation.id), &opts.context)?;
            if let Some(m) = &remembered {
                cands.hits.retain(|h| h.memory.id != m.id);
            }
            drop(r);
            // The client's leading system messages are the pinned system prompt.
            let lead = messages.iter().take_while(|m| m.role == Role::System).count();
            let system = (lead > 0)
                .then(|| messages[..lead].iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n\n"));
            let ctx = engine.info().cfg.max_seq_len;
            let (built, report) =
                assemble(engine.tokenizer(), ctx, opts.reserve, system, &messages[lead..], &cands, t0)?;
            (Some(built.messages), Some(report))
        }
    };
    Ok(Some(ClientTurn {
        conversation,
        logged: written.iter().map(|t| t.id).collect(),
        remembered,
        prompt,
        memory: report,
        at,
    }))
}

/// Log the model's answer to `turn` (text and tool calls); returns its turn id, the id
/// feedback names.
pub fn finish_client_turn(
    memory: &Mutex<Retriever>,
    clock: &Clock,
    turn: &ClientTurn,
    answer: &Message,
) -> Result<i64> {
    let at = clock.now_ms().max(turn.at + 1);
    Ok(log_message(lock(memory).store_mut(), &turn.conversation, answer, at)?.0.id)
}
