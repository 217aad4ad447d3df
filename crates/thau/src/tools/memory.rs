//! The memory tools: `remember` (store a fact), `search_memory` (hybrid BM25 + embedding
//! search) and `recall` (what was said or learnt at a time: "ayer", "last week"), over one
//! open [`Retriever`] shared by the three, for one user.

use super::registry::{Tool, ToolContext, ToolOutput};
use super::spec::ToolSpec;
use crate::error::{Error, Result};
use crate::memory::{recall, NewMemory, Retriever, SearchOptions};
use chrono::{Local, TimeZone};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// How many turns and memories `recall` lists at most.
const RECALL_LIMIT: usize = 10;
/// Longest excerpt of one remembered turn in a `recall` answer, in characters.
const EXCERPT_CHARS: usize = 200;

/// The store the memory tools share, and whose memories they are.
pub struct MemoryAccess {
    retriever: Mutex<Retriever>,
    user: String,
    session: Option<String>,
}

impl std::fmt::Debug for MemoryAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryAccess").field("user", &self.user).field("session", &self.session).finish()
    }
}

impl MemoryAccess {
    /// Memory tools act on `user`'s memories in `retriever` (store + optional embedder).
    pub fn new(retriever: Retriever, user: impl Into<String>) -> Arc<Self> {
        Arc::new(Self { retriever: Mutex::new(retriever), user: user.into(), session: None })
    }

    /// Like [`Self::new`], tagging new memories with a session id.
    pub fn with_session(retriever: Retriever, user: impl Into<String>, session: impl Into<String>) -> Arc<Self> {
        Arc::new(Self { retriever: Mutex::new(retriever), user: user.into(), session: Some(session.into()) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Retriever>> {
        self.retriever.lock().map_err(|_| {
            Error::invalid("memory", "a previous memory call crashed; restart the chat to reopen the store")
        })
    }

    /// The three tools, sharing this access.
    pub fn tools(self: &Arc<Self>) -> Vec<Arc<dyn Tool>> {
        vec![Arc::new(Remember(self.clone())), Arc::new(Recall(self.clone())), Arc::new(SearchMemory(self.clone()))]
    }
}

fn date(ms: i64) -> String {
    Local.timestamp_millis_opt(ms).single().map(|d| d.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

fn excerpt(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > EXCERPT_CHARS {
        format!("{}…", s.chars().take(EXCERPT_CHARS).collect::<String>())
    } else {
        s.to_string()
    }
}

/// `remember{text, importance?}`.
#[derive(Debug)]
pub struct Remember(Arc<MemoryAccess>);

impl Tool for Remember {
    fn spec(&self) -> ToolSpec {
        super::builtin_spec("remember")
    }

    fn call(&self, args: &Value, _ctx: &ToolContext) -> Result<ToolOutput> {
        let text = args.get("text").and_then(Value::as_str).unwrap_or_default();
        let importance = args.get("importance").and_then(Value::as_u64).unwrap_or(5).clamp(1, 10) as u8;
        let mut m = NewMemory::new(&self.0.user, text).importance(importance).kind("fact");
        m.source = Some("tool:remember".into());
        if let Some(s) = &self.0.session {
            m = m.session(s.clone());
        }
        let stored = self.0.lock()?.remember(&m)?;
        Ok(ToolOutput {
            text: format!("saved memory #{}", stored.id),
            data: Some(json!({"id": stored.id, "text": stored.text, "importance": stored.importance})),
            files: Vec::new(),
        })
    }
}

/// `search_memory{query, limit?}`.
#[derive(Debug)]
pub struct SearchMemory(Arc<MemoryAccess>);

impl Tool for SearchMemory {
    fn spec(&self) -> ToolSpec {
        super::builtin_spec("search_memory")
    }

    fn call(&self, args: &Value, _ctx: &ToolContext) -> Result<ToolOutput> {
        let query = args.get("query").and_then(Value::as_str).unwrap_or_default();
        let k = args.get("limit").and_then(Value::as_u64).unwrap_or(5).clamp(1, 50) as usize;
        let hits = self.0.lock()?.search(&self.0.user, query, &SearchOptions { k, ..SearchOptions::default() })?;
        if hits.is_empty() {
            return Ok(ToolOutput {
                text: format!("No hay recuerdos sobre «{query}» / No memories about \"{query}\"."),
                data: Some(json!({"query": query, "memories": []})),
                files: Vec::new(),
            });
        }
        let lines: Vec<String> =
            hits.iter().enumerate().map(|(i, h)| format!("{}. {}", i + 1, h.memory.text)).collect();
        let data: Vec<Value> = hits
            .iter()
            .map(|h| json!({"id": h.memory.id, "text": h.memory.text, "created_at": h.memory.created_at, "score": h.score}))
            .collect();
        Ok(ToolOutput {
            text: lines.join("\n"),
            data: Some(json!({"query": query, "memories": data})),
            files: Vec::new(),
        })
    }
}

/// `recall{when}`: a time expression or a question with one ("¿qué hablamos ayer?").
#[derive(Debug)]
pub struct Recall(Arc<MemoryAccess>);

impl Tool for Recall {
    fn spec(&self) -> ToolSpec {
        super::builtin_spec("recall")
    }

    fn call(&self, args: &Value, _ctx: &ToolContext) -> Result<ToolOutput> {
        let when = args.get("when").and_then(Value::as_str).unwrap_or_default();
        let r = {
            let mem = self.0.lock()?;
            recall(mem.store(), &self.0.user, when, &Local::now(), RECALL_LIMIT)?
        };
        let mut lines = Vec::new();
        if let Some(range) = &r.range {
            lines.push(format!("{} ({} → {}):", range.expression, date(range.start), date(range.end)));
        } else {
            lines.push(format!("Sin fecha reconocida en «{when}» / No date recognised; by topic:"));
        }
        for t in &r.turns {
            lines.push(format!("{} {}: {}", date(t.created_at), t.role, excerpt(&t.text)));
        }
        for m in &r.memories {
            lines.push(format!("{} memory: {}", date(m.created_at), excerpt(&m.text)));
        }
        if r.turns.is_empty() && r.memories.is_empty() {
            lines.push("Nada guardado de entonces / Nothing stored from then.".into());
        }
        let data = json!({
            "range": r.range.as_ref().map(|x| json!({"start": x.start, "end": x.end, "expression": x.expression})),
            "topic": r.topic,
            "turns": r.turns.iter().map(|t| json!({"role": t.role, "text": t.text, "at": t.created_at})).collect::<Vec<_>>(),
            "memories": r.memories.iter().map(|m| json!({"id": m.id, "text": m.text, "at": m.created_at})).collect::<Vec<_>>(),
        });
        Ok(ToolOutput { text: lines.join("\n"), data: Some(data), files: Vec::new() })
    }
}
