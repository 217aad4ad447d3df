//! Conversations: what a person reopens and continues. A conversation has an id, a user, a
//! title (the first words of its first message) and its turns, which are stored as the turns
//! of episodes whose session is the conversation's id — so episodic recall ("¿qué hablamos
//! ayer?") and gap detection read them like every other turn, and a conversation resumed
//! after a long silence opens a new episode ([`log_turn`] cuts them).
//!
//! Clients of the OpenAI and Ollama APIs resend the whole history with no id: such a
//! conversation is found again by a *client key* (a hash of its system prompt and first user
//! message, or a name the client chose), and [`log_history`] stores only the messages past
//! those already stored, so resending ten turns stores each once.

use super::episodic::log_turn;
use super::store::{validate_user, Episode, MemoryStore, Turn};
use crate::error::{Error, Result};
use crate::tokenizer::{Message, Role, ToolCall};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most characters of a conversation's title.
pub const TITLE_CHARS: usize = 60;

/// A stored conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub user: String,
    pub title: Option<String>,
    /// The key API clients are found by (see [`client_key`]), if it was made by one.
    pub client_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// How many turns it holds.
    pub turns: usize,
}

/// One stored turn as a chat message, with its id (for feedback) and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedMessage {
    pub turn_id: i64,
    pub created_at: i64,
    pub message: Message,
}

/// The key of a conversation an API client sends without an id: a hash of its system
/// prompt (if any) and its first user message. Two clients that start alike share it; a
/// client that wants its own names it (`X-Thau-Conversation`).
pub fn client_key(messages: &[Message]) -> Option<String> {
    let first_user = messages.iter().find(|m| m.role == Role::User)?;
    let system = messages.iter().take_while(|m| m.role == Role::System).map(|m| m.content.as_str());
    let mut h = Sha256::new();
    for s in system {
        h.update(b"system\0");
        h.update(s.as_bytes());
        h.update(b"\0");
    }
    h.update(b"user\0");
    h.update(first_user.content.as_bytes());
    let digest = h.finalize();
    Some(format!("h-{}", digest[..12].iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// A conversation id a user wrote: letters, digits, `-` and `_`, at most 64.
pub fn check_conversation_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(Error::invalid(
            "conversation id",
            format!("'{id}' is not one: ids are 1–64 letters, digits, '-' or '_' (list them with /conversations)"),
        ));
    }
    Ok(())
}

fn title_of(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= TITLE_CHARS {
        line
    } else {
        format!("{}…", line.chars().take(TITLE_CHARS - 1).collect::<String>())
    }
}

fn new_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    format!("c-{:012x}", rng.gen::<u64>() & 0xffff_ffff_ffff)
}

fn row_to_conversation(r: &rusqlite::Row) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        id: r.get(0)?,
        user: r.get(1)?,
        title: r.get(2)?,
        client_key: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
        turns: r.get::<_, i64>(6)? as usize,
    })
}

const SELECT: &str = "SELECT c.id, c.user_id, c.title, c.client_key, c.created_at, c.updated_at,
    (SELECT count(*) FROM turns t JOIN episodes e ON e.id = t.episode_id WHERE e.session_id = c.id AND e.user_id = c.user_id)
    FROM conversations c";

impl MemoryStore {
    /// Start a conversation of `user` at `at` (ms); `client_key` for one an API client will
    /// resend (see [`client_key`]).
    pub fn create_conversation(&self, user: &str, client_key: Option<&str>, at: i64) -> Result<Conversation> {
        validate_user(user)?;
        let id = new_id();
        self.conn()
            .execute(
                "INSERT INTO conversations (id, user_id, title, client_key, created_at, updated_at) VALUES (?1, ?2, NULL, ?3, ?4, ?4)",
                params![id, user, client_key, at],
            )
            .map_err(|e| self.err(e))?;
        Ok(Conversation {
            id,
            user: user.into(),
            title: None,
            client_key: client_key.map(Into::into),
            created_at: at,
            updated_at: at,
            turns: 0,
        })
    }

    /// The conversation `id` of `user`. Another user's conversation is as unknown as one that
    /// does not exist.
    pub fn conversation(&self, user: &str, id: &str) -> Result<Conversation> {
        check_conversation_id(id)?;
        self.conn()
            .query_row(&format!("{SELECT} WHERE c.id = ?1 AND c.user_id = ?2"), params![id, user], row_to_conversation)
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| {
                Error::unknown("conversation", id, format!("user '{user}' has no such conversation: list them first"))
            })
    }

    /// `user`'s conversations with this client key, most recently active first (at most 50).
    pub fn conversations_by_key(&self, user: &str, key: &str) -> Result<Vec<Conversation>> {
        let mut st = self
            .conn()
            .prepare(&format!(
                "{SELECT} WHERE c.user_id = ?1 AND c.client_key = ?2 ORDER BY c.updated_at DESC, c.id DESC LIMIT 50"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map(params![user, key], row_to_conversation).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// `user`'s conversations, most recently active first.
    pub fn conversations(&self, user: &str, limit: usize) -> Result<Vec<Conversation>> {
        let mut st = self
            .conn()
            .prepare(&format!("{SELECT} WHERE c.user_id = ?1 ORDER BY c.updated_at DESC, c.id LIMIT ?2"))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map(params![user, limit as i64], row_to_conversation).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Every turn of `user`'s conversation `id` as messages, oldest first.
    pub fn conversation_messages(&self, user: &str, id: &str) -> Result<Vec<LoggedMessage>> {
        self.conversation(user, id)?;
        let mut st = self
            .conn()
            .prepare(
                "SELECT t.id, t.role, t.text, t.calls, t.created_at FROM turns t JOIN episodes e ON e.id = t.episode_id
                 WHERE e.session_id = ?1 AND e.user_id = ?2 ORDER BY t.created_at, t.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![id, user], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (turn_id, role, text, calls, created_at) = row.map_err(|e| self.err(e))?;
            let role = Role::parse(&role)?;
            let tool_calls: Vec<ToolCall> = match calls {
                Some(c) => serde_json::from_str(&c).map_err(|e| {
                    Error::corrupt(
                        self.path(),
                        format!("turn {turn_id}'s tool calls: {e}"),
                        crate::memory::CORRUPT_HINT,
                    )
                })?,
                None => Vec::new(),
            };
            let mut message = Message::new(role, text);
            message.tool_calls = tool_calls;
            out.push(LoggedMessage { turn_id, created_at, message });
        }
        Ok(out)
    }

    /// Store a turn's tool calls (an assistant turn that called tools).
    fn set_turn_calls(&self, turn_id: i64, calls: &[ToolCall]) -> Result<()> {
        let json = serde_json::to_string(calls).map_err(|e| Error::invalid("tool calls", e.to_string()))?;
        self.conn()
            .execute("UPDATE turns SET calls = ?1 WHERE id = ?2", params![json, turn_id])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn touch_conversation(&self, c: &Conversation, first_user_text: Option<&str>, at: i64) -> Result<()> {
        let title = first_user_text.filter(|_| c.title.is_none()).map(title_of);
        self.conn()
            .execute(
                "UPDATE conversations SET updated_at = max(updated_at, ?1), title = coalesce(title, ?2) WHERE id = ?3",
                params![at, title, c.id],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// Log one message of conversation `c` at `at` (ms): the turn (with its tool calls), cut into
/// episodes by [`log_turn`]; the conversation's title is its first user message.
pub fn log_message(store: &mut MemoryStore, c: &Conversation, m: &Message, at: i64) -> Result<(Turn, Episode)> {
    let (turn, episode) = log_turn(store, &c.user, Some(&c.id), m.role.as_str(), &m.content, at)?;
    if !m.tool_calls.is_empty() {
        store.set_turn_calls(turn.id, &m.tool_calls)?;
    }
    store.touch_conversation(c, (m.role == Role::User).then_some(m.content.as_str()), at)?;
    Ok((turn, episode))
}

fn log_all(store: &mut MemoryStore, c: &Conversation, messages: &[&Message], at: i64) -> Result<Vec<Turn>> {
    messages.iter().map(|m| Ok(log_message(store, c, m, at)?.0)).collect()
}

/// How many of `history`'s turns (system messages skipped) `stored` already holds, or None
/// when `stored` is not the start of them.
fn already_stored(stored: &[LoggedMessage], turns: &[&Message]) -> Option<usize> {
    let same = stored.len() <= turns.len()
        && stored.iter().zip(turns).all(|(s, m)| s.message.role == m.role && s.message.content == m.content);
    same.then_some(stored.len())
}

/// Log the messages of `history` that `c` does not hold yet (system messages are the
/// client's setup, not turns, and are skipped): a client that resends the whole
/// conversation each time has each message stored once. Refused, with nothing written, when
/// the stored turns are not the start of `history` (another conversation with the same key).
/// Returns the turns written.
pub fn log_history(store: &mut MemoryStore, c: &Conversation, history: &[Message], at: i64) -> Result<Vec<Turn>> {
    let stored = store.conversation_messages(&c.user, &c.id)?;
    let turns: Vec<&Message> = history.iter().filter(|m| m.role != Role::System).collect();
    let Some(done) = already_stored(&stored, &turns) else {
        return Err(Error::invalid(
            "conversation",
            format!(
                "the messages sent do not continue conversation '{}' ({} turns stored): name another with X-Thau-Conversation",
                c.id,
                stored.len()
            ),
        ));
    };
    log_all(store, c, &turns[done..], at)
}

/// Log the history an API client resent, under `user`'s conversation with `key` (the name
/// the client gave it, or [`client_key`] of the history): only the messages past those
/// stored. A history that continues no stored conversation with that key (the client
/// regenerated or edited an answer, or another chat starts alike) opens a new one with the
/// same key; a later request goes to the conversation whose stored turns it continues. A
/// name that is the id of a conversation of `user` made elsewhere (the native chat) continues
/// that one. New turns
/// are logged at `at`, or just after the newest stored one when that is later. Returns the
/// conversation and the turns written.
pub fn log_client_history(
    store: &mut MemoryStore,
    user: &str,
    key: &str,
    history: &[Message],
    at: i64,
) -> Result<(Conversation, Vec<Turn>)> {
    validate_user(user)?;
    let mut found = store.conversations_by_key(user, key)?;
    // The conversation whose id the name is, too (its forks carry the name as their key).
    match store.conversation(user, key) {
        Ok(c) if !found.iter().any(|f| f.id == c.id) => found.push(c),
        Ok(_) | Err(Error::Unknown { .. } | Error::Invalid { .. }) => {}
        Err(e) => return Err(e),
    }
    let turns: Vec<&Message> = history.iter().filter(|m| m.role != Role::System).collect();
    // The one this history continues: two chats that start alike share a key, and each
    // request goes back to its own (the longest stored start of it).
    let mut best: Option<(Conversation, Vec<LoggedMessage>)> = None;
    for c in found {
        let stored = store.conversation_messages(user, &c.id)?;
        let longer = best.as_ref().is_none_or(|(_, b)| stored.len() > b.len());
        if already_stored(&stored, &turns).is_some() && longer {
            best = Some((c, stored));
        }
    }
    if let Some((c, stored)) = best {
        // After the stored turns even if the clock says otherwise, so they keep their order.
        let at = stored.last().map_or(at, |l| at.max(l.created_at + 1));
        let written = log_all(store, &c, &turns[stored.len()..], at)?;
        return Ok((c, written));
    }
    let c = store.create_conversation(user, Some(key), at)?;
    let written = log_all(store, &c, &turns, at)?;
    Ok((c, written))
}
