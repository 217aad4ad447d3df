//! One person's conversation with THAU, turn by turn: log what they say, keep what they ask
//! to be remembered, assemble the prompt with what memory holds, run the model and its tools,
//! log every answer, call and result, and take feedback on the answers. `thau chat`, the
//! server's native chat route and the web page are front-ends over [`Session::send`].

use super::clock::Clock;
use super::context::{assemble, candidates, ContextOptions, MemoryReport};
use super::remember::remember_request;
use crate::error::{Error, Result};
use crate::infer::{Engine, FinishReason, Usage};
use crate::learn::feedback::record;
use crate::learn::{Feedback, LearnStore};
use crate::memory::{check_conversation_id, log_message, Conversation, Memory, MemoryStore, Retriever};
use crate::tokenizer::{tools_prompt, Message, Role};
use crate::tools::{run_tool_loop, LoopEvent, LoopOptions, Registry, TokenTrie};
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The system prompt when none is given.
pub const DEFAULT_SYSTEM: &str = "Eres THAU, un asistente bilingüe. You are THAU, a bilingual assistant.";

/// The `source` of memories a chat message asked for.
pub const CHAT_SOURCE: &str = "chat";

/// How the assistant answers.
#[derive(Debug, Clone)]
pub struct AssistantOptions {
    pub system: String,
    /// Memories and episodes in the prompt.
    pub context: ContextOptions,
    /// Store "recuerda que…" / "remember that…" requests as memories.
    pub remember_requests: bool,
    /// Generation, tool choice and round limits.
    pub tool_loop: LoopOptions,
}

impl Default for AssistantOptions {
    fn default() -> Self {
        Self {
            system: DEFAULT_SYSTEM.into(),
            context: ContextOptions::default(),
            remember_requests: true,
            tool_loop: LoopOptions::default(),
        }
    }
}

/// The tools a session may run, with the vocabulary trie their grammar needs (built once).
pub struct Toolbox {
    pub registry: Registry,
    pub trie: Arc<TokenTrie>,
}

impl Toolbox {
    /// `registry` for `engine`'s vocabulary; an empty registry offers no tools.
    pub fn new(engine: &Engine, registry: Registry) -> Self {
        Self { registry, trie: Arc::new(TokenTrie::new(engine.tokenizer())) }
    }
}

/// What a session runs on; the front-end owns each part and lends it per turn.
pub struct Assistant<'a> {
    pub engine: &'a Engine,
    /// Tools, when the session may call any.
    pub tools: Option<&'a Toolbox>,
    /// The memory database: conversations, memories, episodes. Without it nothing is logged
    /// or recalled and the conversation lives only in the session.
    pub memory: Option<&'a Mutex<Retriever>>,
    pub clock: &'a Clock,
    pub options: &'a AssistantOptions,
}

/// What a turn reports while it runs.
#[derive(Debug)]
pub enum AssistantEvent<'a> {
    /// The user's message was stored: its turn and conversation.
    Logged { turn_id: i64, conversation: &'a str },
    /// A "remember that…" request was stored.
    Remembered(&'a Memory),
    /// The prompt is built: what memory put into it.
    Context(&'a MemoryReport),
    /// The model and its tools at work.
    Loop(LoopEvent<'a>),
}

/// One finished turn.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub answer: String,
    /// The conversation it belongs to (None without a memory database).
    pub conversation: Option<String>,
    /// The user message's turn id.
    pub user_turn: Option<i64>,
    /// The final answer's turn id: what feedback names.
    pub turn_id: Option<i64>,
    /// Every message the turn added after the user's: calls, results, the answer.
    pub messages: Vec<Message>,
    pub finish: FinishReason,
    /// Generations that called tools.
    pub rounds: usize,
    pub usage: Usage,
    pub memory: MemoryReport,
    /// What a "remember that…" request stored.
    pub remembered: Option<Memory>,
}

/// One user's conversation.
#[derive(Debug, Clone)]
pub struct Session {
    user: String,
    conversation: Option<Conversation>,
    /// The turns so far (no system messages), as the model saw them.
    history: Vec<Message>,
    /// Turn ids of `history`'s messages, when logged.
    turn_ids: Vec<Option<i64>>,
    /// When the newest message was logged (ms): the next is logged after it, so a
    /// conversation's turns keep their order even when the clock stands still or steps back.
    last_at: i64,
}

/// The memory database, even after a panic in another holder (its writes are transactions).
pub(super) fn lock(m: &Mutex<Retriever>) -> MutexGuard<'_, Retriever> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    /// A new conversation of `user` (stored with its first message).
    pub fn new(user: &str) -> Result<Self> {
        if user.trim().is_empty() {
            return Err(Error::invalid("user", "it is empty: name the user (--user NAME)"));
        }
        Ok(Self {
            user: user.to_string(),
            conversation: None,
            history: Vec::new(),
            turn_ids: Vec::new(),
            last_at: i64::MIN,
        })
    }

    /// A conversation of `user` that starts from `turns` (a saved one; not logged).
    pub fn from_messages(user: &str, turns: Vec<Message>) -> Result<Self> {
        let mut s = Self::new(user)?;
        s.turn_ids = vec![None; turns.len()];
        s.history = turns.into_iter().filter(|m| m.role != Role::System).collect();
        s.turn_ids.truncate(s.history.len());
        Ok(s)
    }

    /// Reopen `user`'s stored conversation `id` to continue it.
    pub fn open(store: &MemoryStore, user: &str, id: &str) -> Result<Self> {
        check_conversation_id(id)?;
        let conversation = store.conversation(user, id)?;
        let logged = store.conversation_messages(user, id)?;
        Ok(Self {
            user: user.to_string(),
            last_at: logged.last().map_or(i64::MIN, |l| l.created_at),
            conversation: Some(conversation),
            turn_ids: logged.iter().map(|l| Some(l.turn_id)).collect(),
            history: logged.into_iter().map(|l| l.message).collect(),
        })
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn conversation(&self) -> Option<&Conversation> {
        self.conversation.as_ref()
    }

    /// The turns so far, oldest first.
    pub fn history(&self) -> &[Message] {
        &self.history
    }

    /// The id of the newest assistant answer, if it was logged.
    pub fn last_answer_turn(&self) -> Option<i64> {
        self.history.iter().zip(&self.turn_ids).rev().find(|(m, _)| m.role == Role::Assistant).and_then(|(_, id)| *id)
    }

    /// Add a message (logged as `turn_id` at `at`) to the conversation.
    fn push(&mut self, m: Message, turn_id: Option<i64>, at: i64) {
        self.history.push(m);
        self.turn_ids.push(turn_id);
        self.last_at = at;
    }

    /// Leave this conversation: the next message starts a new one.
    pub fn reset(&mut self) {
        self.conversation = None;
        self.history.clear();
        self.turn_ids.clear();
        self.last_at = i64::MIN;
    }

    /// Answer `text`. The user's message is logged before the model runs and every message
    /// after it as it is made; `cancel` stops the answer being written (what was written is
    /// kept and logged).
    pub fn send(
        &mut self,
        a: &Assistant,
        text: &str,
        cancel: Option<&AtomicBool>,
        on_event: &mut dyn FnMut(AssistantEvent<'_>),
    ) -> Result<Reply> {
        if text.trim().is_empty() {
            return Err(Error::invalid("message", "it is empty: say something"));
        }
        let now = a.clock.now();
        let at = now.timestamp_millis().max(self.last_at.saturating_add(1));
        let user_msg = Message::user(text);
        let t0 = Instant::now();
        // Log, remember and retrieve under one hold of the database.
        let (user_turn, remembered, cands) = match a.memory {
            None => {
                self.push(user_msg, None, at);
                (None, None, Default::default())
            }
            Some(m) => {
                let mut r = lock(m);
                let conversation = match &self.conversation {
                    Some(c) => c.clone(),
                    None => r.store().create_conversation(&self.user, None, at)?,
                };
                let (turn, _) = log_message(r.store_mut(), &conversation, &user_msg, at)?;
                // From here the message is in the conversation, whatever fails after it.
                self.push(user_msg, Some(turn.id), at);
                on_event(AssistantEvent::Logged { turn_id: turn.id, conversation: &conversation.id });
                let conversation_id = conversation.id.clone();
                self.conversation = Some(conversation);
                let remembered = match a.options.remember_requests {
                    true => remember_request(&mut r, &self.user, text, Some(&conversation_id), CHAT_SOURCE, at)?,
                    false => None,
                };
                if let Some(m) = &remembered {
                    on_event(AssistantEvent::Remembered(m));
                }
                let mut cands = candidates(&mut r, &self.user, text, &now, Some(&conversation_id), &a.options.context)?;
                // What was just remembered is what this message says: no need to show it back.
                if let Some(m) = &remembered {
                    cands.hits.retain(|h| h.memory.id != m.id);
                }
                (Some(turn.id), remembered, cands)
            }
        };
        // The prompt: system (with the tools), earlier turns, memories, the message.
        let specs = a.tools.map(|t| t.registry.specs()).unwrap_or(&[]);
        let mut system = a.options.system.clone();
        if !specs.is_empty() {
            if !system.is_empty() {
                system.push_str("\n\n");
            }
            system.push_str(&tools_prompt(specs));
        }
        let info = a.engine.info();
        let reserve = a.options.tool_loop.generate.max_tokens;
        let (built, report) =
            assemble(a.engine.tokenizer(), info.cfg.max_seq_len, reserve, Some(system), &self.history, &cands, t0)?;
        on_event(AssistantEvent::Context(&report));
        // The model and its tools (an empty registry: plain text, calls masked).
        let empty;
        let (registry, trie) = match a.tools {
            Some(t) => (&t.registry, Some(&t.trie)),
            None => {
                empty = Registry::new();
                (&empty, None)
            }
        };
        let outcome =
            run_tool_loop(a.engine, registry, trie, &built.messages, &a.options.tool_loop, cancel, &mut |e| {
                on_event(AssistantEvent::Loop(e))
            });
        let outcome = outcome?;
        // Log what the turn added, in order.
        let mut turn_id = None;
        for (i, m) in outcome.messages.iter().enumerate() {
            // Logged when made; at least a ms after the message before, so they sort.
            let when = a.clock.now_ms().max(at + 1 + i as i64);
            let id = match (a.memory, &self.conversation) {
                (Some(mem), Some(c)) => Some(log_message(lock(mem).store_mut(), c, m, when)?.0.id),
                _ => None,
            };
            if m.role == Role::Assistant {
                turn_id = id;
            }
            self.push(m.clone(), id, when);
        }
        Ok(Reply {
            answer: outcome.answer,
            conversation: self.conversation.as_ref().map(|c| c.id.clone()),
            user_turn,
            turn_id,
            messages: outcome.messages,
            finish: outcome.finish,
            rounds: outcome.rounds,
            usage: outcome.usage,
            memory: report,
            remembered,
        })
    }

    /// Rate an answer of this user (`turn`, default the newest): +1 or -1, with the right
    /// answer when it was wrong. Stored in `learn` (the served run's learning store), read
    /// from the same memory database the session logs to.
    pub fn feedback(
        &self,
        memory: &Mutex<Retriever>,
        learn: &LearnStore,
        turn: Option<i64>,
        rating: i8,
        correction: Option<&str>,
    ) -> Result<Feedback> {
        let turn = match turn.or_else(|| self.last_answer_turn()) {
            Some(t) => t,
            None => return Err(Error::invalid("feedback", "there is no answer to rate yet")),
        };
        let r = lock(memory);
        record(learn, Some(r.store()), &self.user, turn, rating, correction)
    }
}
