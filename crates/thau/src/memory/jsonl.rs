//! Export and import of memories and conversations as JSON Lines: one record per line,
//! `{"type":"memory",...}` or `{"type":"turn",...}`, times as RFC 3339. Vectors are not
//! exported (they belong to a model); import embeds again when a model is loaded.

use super::retrieve::Retriever;
use super::store::{Memory, MemoryStore, NewMemory, Turn};
use crate::error::{Error, Result};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::Path;

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Record {
    Memory {
        user: String,
        text: String,
        kind: String,
        importance: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
        created_at: String,
    },
    Turn {
        user: String,
        /// Turns with the same episode number (within one file) form one episode.
        episode: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
        role: String,
        text: String,
        created_at: String,
    },
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn parse_time(s: &str, line: usize, path: &Path) -> Result<i64> {
    chrono::DateTime::parse_from_rfc3339(s).map(|d| d.timestamp_millis()).map_err(|e| {
        Error::invalid(
            format!("{} line {line}", path.display()),
            format!("created_at '{s}' is not an RFC 3339 time ({e}): write e.g. 2026-01-31T09:30:00Z"),
        )
    })
}

/// Write the memories and turns of `users` (every user when empty) to `out`. Returns
/// (memories, turns) written.
pub fn export(store: &MemoryStore, users: &[String], out: &mut dyn Write) -> Result<(usize, usize)> {
    let users = if users.is_empty() { store.users()? } else { users.to_vec() };
    let io = |e: std::io::Error| Error::io("export output", e);
    let (mut nm, mut nt) = (0, 0);
    for user in &users {
        for m in store.list(user, &Default::default(), None)? {
            let Memory { user, text, kind, importance, session, source, tags, created_at, .. } = m;
            let r =
                Record::Memory { user, text, kind, importance, session, source, tags, created_at: rfc3339(created_at) };
            writeln!(out, "{}", serde_json::to_string(&r).unwrap_or_default()).map_err(io)?;
            nm += 1;
        }
        for ep in store.episodes(user)? {
            for t in store.episode_turns(ep.id)? {
                let Turn { user, role, text, created_at, .. } = t;
                let r = Record::Turn {
                    user,
                    episode: ep.id,
                    session: ep.session.clone(),
                    role,
                    text,
                    created_at: rfc3339(created_at),
                };
                writeln!(out, "{}", serde_json::to_string(&r).unwrap_or_default()).map_err(io)?;
                nt += 1;
            }
        }
    }
    out.flush().map_err(io)?;
    Ok((nm, nt))
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub memories: usize,
    pub turns: usize,
    /// Memories already present (same user, text and time) that were skipped.
    pub duplicates: usize,
}

/// Read an export from `path` into the store, all or nothing: every line is checked before
/// anything is written. `as_user` puts every record under that user instead of its own.
pub fn import(mem: &mut Retriever, path: &Path, as_user: Option<&str>) -> Result<ImportReport> {
    let f = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::not_found(path, "give a file written by `thau memory export`")
        } else {
            Error::io(path, e)
        }
    })?;
    let mut records = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut r: Record = serde_json::from_str(&line).map_err(|e| {
            Error::invalid(
                format!("{} line {}", path.display(), i + 1),
                format!("{e}: each line must be a memory or turn record as `thau memory export` writes"),
            )
        })?;
        if let Some(u) = as_user {
            match &mut r {
                Record::Memory { user, .. } | Record::Turn { user, .. } => *user = u.to_string(),
            }
        }
        records.push((i + 1, r));
    }
    // Validate everything first.
    let mut memories = Vec::new();
    let mut turns = Vec::new();
    for (line, r) in records {
        match r {
            Record::Memory { user, text, kind, importance, session, source, tags, created_at } => {
                let m = NewMemory {
                    user,
                    text,
                    kind,
                    importance,
                    session,
                    source,
                    tags,
                    created_at: Some(parse_time(&created_at, line, path)?),
                };
                m.validate().map_err(|e| Error::invalid(format!("{} line {line}", path.display()), e.to_string()))?;
                memories.push(m);
            }
            Record::Turn { user, episode, session, role, text, created_at } => {
                super::store::validate_user(&user)?;
                crate::tokenizer::Role::parse(&role)
                    .map_err(|e| Error::invalid(format!("{} line {line}", path.display()), e.to_string()))?;
                turns.push((user, episode, session, role, text, parse_time(&created_at, line, path)?));
            }
        }
    }
    let mut report = ImportReport::default();
    let mut fresh = Vec::new();
    for m in memories {
        let exists: bool = mem
            .store()
            .conn()
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM memories WHERE user_id = ?1 AND text = ?2 AND created_at = ?3)",
                params![m.user, m.text, m.created_at],
                |r| r.get(0),
            )
            .map_err(|e| mem.store().err(e))?;
        if exists {
            report.duplicates += 1;
        } else {
            fresh.push(m);
        }
    }
    report.memories = fresh.len();
    mem.remember_many(&fresh)?;
    // Turns: one new episode per (user, episode number) of the file.
    report.turns = turns.len();
    mem.store_mut().with_transaction(|tx| {
        let mut episodes: std::collections::HashMap<(String, i64), i64> = Default::default();
        for (user, ep, session, role, text, at) in &turns {
            let id = match episodes.get(&(user.clone(), *ep)) {
                Some(id) => *id,
                None => {
                    tx.execute(
                        "INSERT INTO episodes (user_id, session_id, started_at, ended_at) VALUES (?1, ?2, ?3, ?3)",
                        params![user, session, at],
                    )
                    .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
                    let id = tx.last_insert_rowid();
                    episodes.insert((user.clone(), *ep), id);
                    id
                }
            };
            tx.execute(
                "UPDATE episodes SET started_at = min(started_at, ?1), ended_at = max(ended_at, ?1) WHERE id = ?2",
                params![at, id],
            )
            .and_then(|_| {
                tx.execute(
                    "INSERT INTO turns (episode_id, user_id, role, text, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, user, role.to_ascii_lowercase(), text, at],
                )
            })
            .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
        }
        Ok(())
    })?;
    Ok(report)
}

/// Export to a file atomically.
pub fn export_to_file(store: &MemoryStore, users: &[String], path: &Path) -> Result<(usize, usize)> {
    let mut counts = (0, 0);
    crate::fs::write_atomic_with(path, |f| {
        let mut w = std::io::BufWriter::new(f);
        counts = export(store, users, &mut w)?;
        Ok(())
    })?;
    Ok(counts)
}
