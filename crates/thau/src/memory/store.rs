//! The memory database: one SQLite file (WAL journal, full fsync on commit) holding memories,
//! conversation episodes and turns, their embeddings, and FTS5 full-text indexes that match
//! Spanish text without accents (`remove_diacritics 2`: "cancion" finds "canción").
//!
//! The file is marked with `PRAGMA application_id` and its schema version with
//! `PRAGMA user_version`; migrations run in one transaction each. A file that is not SQLite,
//! is another program's SQLite database, or is damaged is refused with its path and what to
//! do next; THAU never rewrites a file it does not recognise.

use super::text::fts_query;
use crate::error::{Error, Result};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `PRAGMA application_id` of a THAU memory database ("THAU" in ASCII).
pub const APPLICATION_ID: i32 = 0x5448_4155;
/// The schema version this build writes; older files are migrated on open.
pub const SCHEMA_VERSION: i32 = 2;

/// Migrations: entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // v1: memories, episodes, turns, their FTS5 indexes, settings.
    r#"
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE memories (
        id          INTEGER PRIMARY KEY,
        user_id     TEXT    NOT NULL,
        session_id  TEXT,
        kind        TEXT    NOT NULL,
        text        TEXT    NOT NULL,
        importance  INTEGER NOT NULL CHECK (importance BETWEEN 1 AND 10),
        created_at  INTEGER NOT NULL,
        accessed_at INTEGER NOT NULL,
        source      TEXT,
        tags        TEXT    NOT NULL DEFAULT '[]',
        embed_model TEXT,
        embedding   BLOB
    );
    CREATE INDEX memories_user_time ON memories(user_id, created_at);
    CREATE VIRTUAL TABLE memories_fts USING fts5(
        text, content='memories', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
    CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER memories_au AFTER UPDATE OF text ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TABLE episodes (
        id         INTEGER PRIMARY KEY,
        user_id    TEXT    NOT NULL,
        session_id TEXT,
        title      TEXT,
        started_at INTEGER NOT NULL,
        ended_at   INTEGER NOT NULL
    );
    CREATE INDEX episodes_user_time ON episodes(user_id, started_at);
    CREATE TABLE turns (
        id         INTEGER PRIMARY KEY,
        episode_id INTEGER NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
        user_id    TEXT    NOT NULL,
        role       TEXT    NOT NULL,
        text       TEXT    NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX turns_user_time ON turns(user_id, created_at);
    CREATE INDEX turns_episode ON turns(episode_id);
    CREATE VIRTUAL TABLE turns_fts USING fts5(
        text, content='turns', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
    CREATE TRIGGER turns_ai AFTER INSERT ON turns BEGIN
        INSERT INTO turns_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER turns_ad AFTER DELETE ON turns BEGIN
        INSERT INTO turns_fts(turns_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    "#,
    // v2: conversations (what a person reopens; their turns are those of the episodes whose
    // session is the conversation's id) and the tool calls of assistant turns.
    r#"
    CREATE TABLE conversations (
        id         TEXT    PRIMARY KEY,
        user_id    TEXT    NOT NULL,
        title      TEXT,
        client_key TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX conversations_user_time ON conversations(user_id, updated_at);
    CREATE INDEX conversations_key ON conversations(user_id, client_key);
    CREATE INDEX episodes_session ON episodes(session_id);
    ALTER TABLE turns ADD COLUMN calls TEXT;
    "#,
];

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Where `thau memory` keeps its database when `--db` is not given: `$THAU_HOME/memory.sqlite`,
/// else `$XDG_DATA_HOME/thau/memory.sqlite`, else `~/.local/share/thau/memory.sqlite`.
pub fn default_db_path() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let dir = env("THAU_HOME")
        .or_else(|| env("XDG_DATA_HOME").map(|d| d.join("thau")))
        .or_else(|| env("HOME").map(|h| h.join(".local/share/thau")))
        .unwrap_or_else(|| PathBuf::from(".thau"));
    dir.join("memory.sqlite")
}

/// A memory to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewMemory {
    pub user: String,
    pub text: String,
    /// What sort of memory: "fact", "preference", "event", "note", ... (free text).
    pub kind: String,
    /// 1 (trivia) to 10 (never forget).
    pub importance: u8,
    pub session: Option<String>,
    pub source: Option<String>,
    pub tags: Vec<String>,
    /// When it was learnt (ms since the epoch); `None` means now.
    pub created_at: Option<i64>,
}

impl NewMemory {
    /// A "fact" of importance 5 for `user`, learnt now.
    pub fn new(user: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            text: text.into(),
            kind: "fact".into(),
            importance: 5,
            session: None,
            source: None,
            tags: Vec::new(),
            created_at: None,
        }
    }
    pub fn importance(mut self, importance: u8) -> Self {
        self.importance = importance;
        self
    }
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }
    pub fn created_at(mut self, ms: i64) -> Self {
        self.created_at = Some(ms);
        self
    }

    /// Refuse what the database would refuse, with a message that says how to fix it.
    pub fn validate(&self) -> Result<()> {
        validate_user(&self.user)?;
        if self.text.trim().is_empty() {
            return Err(Error::invalid("memory text", "it is empty: give the text to remember"));
        }
        if self.text.len() > MAX_TEXT_BYTES {
            return Err(Error::invalid(
                "memory text",
                format!(
                    "{} bytes is over the {MAX_TEXT_BYTES}-byte limit: split it into several memories",
                    self.text.len()
                ),
            ));
        }
        if !(1..=10).contains(&self.importance) {
            return Err(Error::invalid("importance", format!("{} is outside 1..=10", self.importance)));
        }
        if self.kind.trim().is_empty() {
            return Err(Error::invalid("kind", "it is empty: use e.g. fact, preference, event or note"));
        }
        Ok(())
    }
}

/// The longest memory text accepted (64 KiB): memories are facts, not documents.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The user of a request or command that names none.
pub const DEFAULT_USER: &str = "default";

/// A user name must say something.
pub fn validate_user(user: &str) -> Result<()> {
    if user.trim().is_empty() {
        return Err(Error::invalid("user", "it is empty: pass --user NAME (or leave it out for 'default')"));
    }
    Ok(())
}

/// A memory to insert with, optionally, its vector and the id of the model that made it.
pub type ToInsert = (NewMemory, Option<(String, Vec<f32>)>);

/// A stored memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub id: i64,
    pub user: String,
    pub text: String,
    pub kind: String,
    pub importance: u8,
    pub session: Option<String>,
    pub source: Option<String>,
    pub tags: Vec<String>,
    pub created_at: i64,
    pub accessed_at: i64,
}

/// Which memories an operation applies to, besides the user (always required).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    pub session: Option<String>,
    /// Any of these kinds (empty: every kind).
    pub kinds: Vec<String>,
    /// Created at or after (ms).
    pub since: Option<i64>,
    /// Created before (ms).
    pub until: Option<i64>,
}

impl Filter {
    /// `AND ...` clauses over table alias `m`, with their parameters appended to `params`.
    pub(crate) fn sql(&self, params: &mut Vec<rusqlite::types::Value>) -> String {
        use rusqlite::types::Value;
        let mut sql = String::new();
        if let Some(s) = &self.session {
            params.push(Value::Text(s.clone()));
            sql += &format!(" AND m.session_id = ?{}", params.len());
        }
        if !self.kinds.is_empty() {
            let mut marks = Vec::new();
            for k in &self.kinds {
                params.push(Value::Text(k.clone()));
                marks.push(format!("?{}", params.len()));
            }
            sql += &format!(" AND m.kind IN ({})", marks.join(","));
        }
        if let Some(t) = self.since {
            params.push(Value::Integer(t));
            sql += &format!(" AND m.created_at >= ?{}", params.len());
        }
        if let Some(t) = self.until {
            params.push(Value::Integer(t));
            sql += &format!(" AND m.created_at < ?{}", params.len());
        }
        sql
    }

    pub fn matches(&self, session: Option<&str>, kind: &str, created_at: i64) -> bool {
        self.session.as_deref().is_none_or(|s| session == Some(s))
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind))
            && self.since.is_none_or(|t| created_at >= t)
            && self.until.is_none_or(|t| created_at < t)
    }
}

/// Counts for `thau memory stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub path: PathBuf,
    pub schema_version: i32,
    pub users: usize,
    pub memories: usize,
    pub memories_with_vectors: usize,
    pub embedding_models: Vec<String>,
    pub episodes: usize,
    pub turns: usize,
    pub file_bytes: u64,
}

/// One conversation turn as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub id: i64,
    pub episode_id: i64,
    pub user: String,
    pub role: String,
    pub text: String,
    pub created_at: i64,
}

/// A conversation: a run of turns in one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub id: i64,
    pub user: String,
    pub session: Option<String>,
    pub title: Option<String>,
    pub started_at: i64,
    pub ended_at: i64,
}

/// The SQLite memory database.
pub struct MemoryStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("path", &self.path).finish()
    }
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

impl MemoryStore {
    /// Open `path`, creating it (and its folder) when missing, migrating an older schema.
    pub fn open(path: &Path) -> Result<Self> {
        check_header(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| db_error(path, e))?;
        let mut store = Self { conn, path: path.to_path_buf() };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }

    fn configure(&mut self) -> Result<()> {
        let p = self.path.clone();
        self.conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| db_error(&p, e))?;
        // Reading the schema is the first thing that touches the file: a damaged header or
        // a file that is not a database fails here, before anything is written.
        let app_id: i32 =
            self.conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(|e| db_error(&p, e))?;
        let tables: i64 =
            self.conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).map_err(|e| db_error(&p, e))?;
        if app_id != APPLICATION_ID && (app_id != 0 || tables > 0) {
            return Err(Error::corrupt(
                &p,
                format!(
                    "it is a SQLite database of another program (application_id {app_id:#x}, {tables} schema objects)"
                ),
                "THAU leaves it untouched: pass another file with --db",
            ));
        }
        // WAL: readers do not block the writer; synchronous=FULL: a commit is on disk when
        // it returns, so an acknowledged `remember` survives a crash or power loss.
        let mode: String =
            self.conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(|e| db_error(&p, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %p.display(), mode, "could not switch the memory database to WAL");
        }
        self.conn
            .execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;")
            .map_err(|e| db_error(&p, e))?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<()> {
        let p = self.path.clone();
        let version: i32 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| db_error(&p, e))?;
        if version > SCHEMA_VERSION {
            return Err(Error::Incompatible {
                path: p,
                reason: format!("schema version {version} is newer than this thau's {SCHEMA_VERSION}"),
                hint: "upgrade thau, or export with the newer one and import here".into(),
            });
        }
        for (v, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction().map_err(|e| db_error(&p, e))?;
            tx.execute_batch(sql).map_err(|e| db_error(&p, e))?;
            tx.execute_batch(&format!("PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={}", v + 1))
                .map_err(|e| db_error(&p, e))?;
            tx.commit().map_err(|e| db_error(&p, e))?;
            tracing::info!(path = %p.display(), version = v + 1, "memory database migrated");
        }
        Ok(())
    }

    /// Insert a memory (with its embedding, when there is one) in one durable transaction.
    pub fn insert(&self, m: &NewMemory, embedding: Option<(&str, &[f32])>) -> Result<Memory> {
        m.validate()?;
        let now = now_ms();
        let created = m.created_at.unwrap_or(now);
        let tags = serde_json::to_string(&m.tags).unwrap_or_else(|_| "[]".into());
        let (model, blob) = match embedding {
            Some((model, v)) => (Some(model), Some(vec_to_blob(v))),
            None => (None, None),
        };
        self.conn
            .execute(
                "INSERT INTO memories (user_id, session_id, kind, text, importance, created_at, accessed_at, source, tags, embed_model, embedding)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10)",
                params![m.user, m.session, m.kind, m.text, m.importance, created, m.source, tags, model, blob],
            )
            .map_err(|e| self.err(e))?;
        let id = self.conn.last_insert_rowid();
        Ok(Memory {
            id,
            user: m.user.clone(),
            text: m.text.clone(),
            kind: m.kind.clone(),
            importance: m.importance,
            session: m.session.clone(),
            source: m.source.clone(),
            tags: m.tags.clone(),
            created_at: created,
            accessed_at: created,
        })
    }

    /// Insert many memories in one transaction (import, benchmarks). Returns their ids.
    pub fn insert_many(&mut self, items: &[ToInsert]) -> Result<Vec<i64>> {
        for (m, _) in items {
            m.validate()?;
        }
        let p = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_error(&p, e))?;
        let mut ids = Vec::with_capacity(items.len());
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO memories (user_id, session_id, kind, text, importance, created_at, accessed_at, source, tags, embed_model, embedding)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(|e| db_error(&p, e))?;
            let now = now_ms();
            for (m, e) in items {
                let tags = serde_json::to_string(&m.tags).unwrap_or_else(|_| "[]".into());
                let (model, blob) = match e {
                    Some((model, v)) => (Some(model.as_str()), Some(vec_to_blob(v))),
                    None => (None, None),
                };
                st.execute(params![
                    m.user,
                    m.session,
                    m.kind,
                    m.text,
                    m.importance,
                    m.created_at.unwrap_or(now),
                    m.source,
                    tags,
                    model,
                    blob
                ])
                .map_err(|e| db_error(&p, e))?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit().map_err(|e| db_error(&p, e))?;
        Ok(ids)
    }

    /// `user`'s memory whose text is exactly `text`, if there is one (the oldest).
    pub fn find_text(&self, user: &str, text: &str) -> Result<Option<Memory>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.user_id = ?1 AND m.text = ?2 ORDER BY m.id LIMIT 1"
            ))
            .and_then(|mut st| st.query_row(params![user, text], row_to_memory).optional())
            .map_err(|e| self.err(e))
    }

    /// The memories with these ids that belong to `user`, in the order of `ids`.
    pub fn get_many(&self, user: &str, ids: &[i64]) -> Result<Vec<Memory>> {
        let mut out = Vec::with_capacity(ids.len());
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.id = ?1 AND m.user_id = ?2"))
            .map_err(|e| self.err(e))?;
        for &id in ids {
            if let Some(m) = st.query_row(params![id, user], row_to_memory).optional().map_err(|e| self.err(e))? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Every memory of `user` that passes `filter`, oldest first.
    pub fn list(&self, user: &str, filter: &Filter, limit: Option<usize>) -> Result<Vec<Memory>> {
        let mut args = vec![rusqlite::types::Value::Text(user.to_string())];
        let cond = filter.sql(&mut args);
        let lim = limit.map(|l| format!(" LIMIT {l}")).unwrap_or_default();
        let sql = format!(
            "SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.user_id = ?1{cond} ORDER BY m.created_at, m.id{lim}"
        );
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st.query_map(rusqlite::params_from_iter(args), row_to_memory).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Full-text (BM25) search over `user`'s memories, best first. `query` is free text; it
    /// is turned into an FTS5 query of its words, so no user input is parsed as FTS5 syntax.
    pub fn search_fulltext(&self, user: &str, query: &str, filter: &Filter, k: usize) -> Result<Vec<FtsHit>> {
        self.search_fulltext_meta(user, query, filter, k)
    }

    pub(crate) fn search_fulltext_meta(
        &self,
        user: &str,
        query: &str,
        filter: &Filter,
        k: usize,
    ) -> Result<Vec<FtsHit>> {
        let Some(fts) = fts_query(query) else { return Ok(Vec::new()) };
        let mut args = vec![rusqlite::types::Value::Text(fts), rusqlite::types::Value::Text(user.to_string())];
        let cond = filter.sql(&mut args);
        let sql = format!(
            "SELECT m.id, bm25(memories_fts) AS s, m.importance, m.created_at FROM memories_fts JOIN memories m ON m.id = memories_fts.rowid
             WHERE memories_fts MATCH ?1 AND m.user_id = ?2{cond} ORDER BY s LIMIT {k}"
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok(FtsHit { id: r.get(0)?, bm25: r.get(1)?, importance: r.get(2)?, created_at: r.get(3)? })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Every stored vector of `user` made by `model`: (id, session, kind, created_at, vector).
    pub(crate) fn load_vectors(&self, user: &str, model: &str) -> Result<Vec<VectorRow>> {
        let mut st = self
            .conn
            .prepare("SELECT id, session_id, kind, created_at, importance, embedding, text FROM memories WHERE user_id = ?1 AND embed_model = ?2 AND embedding IS NOT NULL ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![user, model], |r| {
                let blob: Vec<u8> = r.get(5)?;
                Ok(VectorRow {
                    id: r.get(0)?,
                    session: r.get(1)?,
                    kind: r.get(2)?,
                    created_at: r.get(3)?,
                    importance: r.get(4)?,
                    vector: blob_to_vec(&blob),
                    text: r.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Memories of `user` without a vector from `model` (to embed them: `reembed`).
    pub(crate) fn missing_vectors(&self, user: &str, model: &str, limit: usize) -> Result<Vec<(i64, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT id, text FROM memories WHERE user_id = ?1 AND (embed_model IS NULL OR embed_model != ?2) ORDER BY id LIMIT ?3")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![user, model, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    pub(crate) fn set_vectors(&mut self, model: &str, rows: &[(i64, Vec<f32>)]) -> Result<()> {
        let p = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_error(&p, e))?;
        {
            let mut st = tx
                .prepare("UPDATE memories SET embed_model = ?1, embedding = ?2 WHERE id = ?3")
                .map_err(|e| db_error(&p, e))?;
            for (id, v) in rows {
                st.execute(params![model, vec_to_blob(v), id]).map_err(|e| db_error(&p, e))?;
            }
        }
        tx.commit().map_err(|e| db_error(&p, e))
    }

    /// Mark memories as used now (what recency weighting reads).
    pub fn touch(&self, ids: &[i64]) -> Result<()> {
        let now = now_ms();
        let mut st =
            self.conn.prepare_cached("UPDATE memories SET accessed_at = ?1 WHERE id = ?2").map_err(|e| self.err(e))?;
        for id in ids {
            st.execute(params![now, id]).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Delete one memory of `user`. Returns whether it existed.
    pub fn forget_id(&self, user: &str, id: i64) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM memories WHERE id = ?1 AND user_id = ?2", params![id, user])
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Delete every memory of `user` that passes `filter` (all of them for the default
    /// filter), and with `turns` also their conversation episodes in that time range, in one
    /// transaction. Returns how many memories went.
    pub fn forget(&mut self, user: &str, filter: &Filter, turns: bool) -> Result<usize> {
        validate_user(user)?;
        let p = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_error(&p, e))?;
        let mut args = vec![rusqlite::types::Value::Text(user.to_string())];
        let cond = filter.sql(&mut args);
        let n = tx
            .execute(
                &format!("DELETE FROM memories WHERE id IN (SELECT m.id FROM memories m WHERE m.user_id = ?1{cond})"),
                rusqlite::params_from_iter(args),
            )
            .map_err(|e| db_error(&p, e))?;
        if turns && filter.kinds.is_empty() {
            let mut args = vec![rusqlite::types::Value::Text(user.to_string())];
            let mut cond = String::new();
            if let Some(s) = &filter.session {
                args.push(rusqlite::types::Value::Text(s.clone()));
                cond += &format!(" AND session_id = ?{}", args.len());
            }
            if let Some(t) = filter.since {
                args.push(rusqlite::types::Value::Integer(t));
                cond += &format!(" AND started_at >= ?{}", args.len());
            }
            if let Some(t) = filter.until {
                args.push(rusqlite::types::Value::Integer(t));
                cond += &format!(" AND started_at < ?{}", args.len());
            }
            tx.execute(&format!("DELETE FROM episodes WHERE user_id = ?1{cond}"), rusqlite::params_from_iter(args))
                .map_err(|e| db_error(&p, e))?;
            // A conversation whose every episode went is gone too.
            tx.execute(
                "DELETE FROM conversations WHERE user_id = ?1 AND NOT EXISTS
                 (SELECT 1 FROM episodes e WHERE e.session_id = conversations.id AND e.user_id = ?1)",
                [user],
            )
            .map_err(|e| db_error(&p, e))?;
        }
        tx.commit().map_err(|e| db_error(&p, e))?;
        Ok(n)
    }

    /// Counts of what the file holds; `check` also runs SQLite's integrity check.
    pub fn stats(&self, check: bool) -> Result<Stats> {
        let count = |sql: &str| -> Result<usize> {
            self.conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as usize).map_err(|e| self.err(e))
        };
        if check {
            let res: String =
                self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| self.err(e))?;
            if res != "ok" {
                return Err(Error::corrupt(&self.path, format!("integrity check: {res}"), CORRUPT_HINT));
            }
            self.conn
                .execute("INSERT INTO memories_fts(memories_fts) VALUES ('integrity-check')", [])
                .map_err(|e| self.err(e))?;
        }
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT embed_model FROM memories WHERE embed_model IS NOT NULL")
            .map_err(|e| self.err(e))?;
        let models = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(Stats {
            path: self.path.clone(),
            schema_version: self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.err(e))?,
            users: count("SELECT count(*) FROM (SELECT user_id FROM memories UNION SELECT user_id FROM episodes)")?,
            memories: count("SELECT count(*) FROM memories")?,
            memories_with_vectors: count("SELECT count(*) FROM memories WHERE embedding IS NOT NULL")?,
            embedding_models: models,
            episodes: count("SELECT count(*) FROM episodes")?,
            turns: count("SELECT count(*) FROM turns")?,
            file_bytes: std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0),
        })
    }

    /// Counts per user (for stats of one user).
    pub fn count_user(&self, user: &str) -> Result<(usize, usize)> {
        let m: i64 = self
            .conn
            .query_row("SELECT count(*) FROM memories WHERE user_id = ?1", [user], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let t: i64 = self
            .conn
            .query_row("SELECT count(*) FROM turns WHERE user_id = ?1", [user], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok((m as usize, t as usize))
    }

    /// Every user id with memories or episodes.
    pub fn users(&self) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT user_id FROM memories UNION SELECT user_id FROM episodes ORDER BY 1")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// SQLite's counter that moves when another connection commits (to refresh caches).
    pub(crate) fn data_version(&self) -> Result<i64> {
        self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    // ---- episodes and turns ----------------------------------------------------------

    /// Start a conversation episode for `user` at `at` (ms).
    pub fn start_episode(&self, user: &str, session: Option<&str>, title: Option<&str>, at: i64) -> Result<Episode> {
        validate_user(user)?;
        self.conn
            .execute(
                "INSERT INTO episodes (user_id, session_id, title, started_at, ended_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![user, session, title, at],
            )
            .map_err(|e| self.err(e))?;
        Ok(Episode {
            id: self.conn.last_insert_rowid(),
            user: user.into(),
            session: session.map(Into::into),
            title: title.map(Into::into),
            started_at: at,
            ended_at: at,
        })
    }

    /// Append a turn to an episode of `user` (durably); the episode's end time follows it.
    pub fn add_turn(&mut self, user: &str, episode_id: i64, role: &str, text: &str, at: i64) -> Result<Turn> {
        crate::tokenizer::Role::parse(role)?;
        let p = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_error(&p, e))?;
        let n = tx
            .execute(
                "UPDATE episodes SET ended_at = max(ended_at, ?1), started_at = min(started_at, ?1) WHERE id = ?2 AND user_id = ?3",
                params![at, episode_id, user],
            )
            .map_err(|e| db_error(&p, e))?;
        if n == 0 {
            return Err(Error::invalid(
                "episode",
                format!("episode {episode_id} does not exist for user '{user}': start one first"),
            ));
        }
        tx.execute(
            "INSERT INTO turns (episode_id, user_id, role, text, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![episode_id, user, role.to_ascii_lowercase(), text, at],
        )
        .map_err(|e| db_error(&p, e))?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(|e| db_error(&p, e))?;
        Ok(Turn {
            id,
            episode_id,
            user: user.into(),
            role: role.to_ascii_lowercase(),
            text: text.into(),
            created_at: at,
        })
    }

    /// Turns of `user` in `[since, until)`, oldest first; with `query`, only turns whose text
    /// matches its words (full-text, accent-insensitive).
    pub fn turns_between(
        &self,
        user: &str,
        since: i64,
        until: i64,
        query: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Turn>> {
        let fts = query.and_then(fts_query);
        let (sql, args): (String, Vec<rusqlite::types::Value>) = match fts {
            Some(q) => (
                format!("SELECT t.id, t.episode_id, t.user_id, t.role, t.text, t.created_at FROM turns_fts JOIN turns t ON t.id = turns_fts.rowid
                 WHERE turns_fts MATCH ?1 AND t.user_id = ?2 AND t.created_at >= ?3 AND t.created_at < ?4 ORDER BY t.created_at, t.id LIMIT {limit}"),
                vec![q.into(), user.to_string().into(), since.into(), until.into()],
            ),
            None => (
                format!("SELECT t.id, t.episode_id, t.user_id, t.role, t.text, t.created_at FROM turns t
                 WHERE t.user_id = ?1 AND t.created_at >= ?2 AND t.created_at < ?3 ORDER BY t.created_at, t.id LIMIT {limit}"),
                vec![user.to_string().into(), since.into(), until.into()],
            ),
        };
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = st.query_map(rusqlite::params_from_iter(args), row_to_turn).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Episodes of `user`, oldest first.
    pub fn episodes(&self, user: &str) -> Result<Vec<Episode>> {
        let mut st = self
            .conn
            .prepare("SELECT id, user_id, session_id, title, started_at, ended_at FROM episodes WHERE user_id = ?1 ORDER BY started_at, id")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([user], row_to_episode).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Every turn of an episode, oldest first.
    pub fn episode_turns(&self, episode_id: i64) -> Result<Vec<Turn>> {
        let mut st = self
            .conn
            .prepare("SELECT id, episode_id, user_id, role, text, created_at FROM turns WHERE episode_id = ?1 ORDER BY created_at, id")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([episode_id], row_to_turn).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Run `f` inside one transaction (import).
    pub(crate) fn with_transaction<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction) -> Result<T>) -> Result<T> {
        let p = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_error(&p, e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| db_error(&p, e))?;
        Ok(out)
    }
}

/// A full-text match: the memory id, its BM25 score (lower is better, as SQLite reports it)
/// and what ranking weights read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FtsHit {
    pub id: i64,
    pub bm25: f64,
    pub importance: u8,
    pub created_at: i64,
}

/// A stored vector with the fields the vector search filters on.
#[derive(Debug, Clone)]
pub(crate) struct VectorRow {
    pub id: i64,
    pub session: Option<String>,
    pub kind: String,
    pub created_at: i64,
    pub importance: u8,
    pub vector: Vec<f32>,
    pub text: String,
}

const MEMORY_COLUMNS: &str =
    "m.id, m.user_id, m.text, m.kind, m.importance, m.session_id, m.source, m.tags, m.created_at, m.accessed_at";

/// A turn from `id, episode_id, user_id, role, text, created_at`.
fn row_to_turn(r: &rusqlite::Row) -> rusqlite::Result<Turn> {
    Ok(Turn {
        id: r.get(0)?,
        episode_id: r.get(1)?,
        user: r.get(2)?,
        role: r.get(3)?,
        text: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// An episode from `id, user_id, session_id, title, started_at, ended_at`.
fn row_to_episode(r: &rusqlite::Row) -> rusqlite::Result<Episode> {
    Ok(Episode {
        id: r.get(0)?,
        user: r.get(1)?,
        session: r.get(2)?,
        title: r.get(3)?,
        started_at: r.get(4)?,
        ended_at: r.get(5)?,
    })
}

fn row_to_memory(r: &rusqlite::Row) -> rusqlite::Result<Memory> {
    let tags: String = r.get(7)?;
    Ok(Memory {
        id: r.get(0)?,
        user: r.get(1)?,
        text: r.get(2)?,
        kind: r.get(3)?,
        importance: r.get(4)?,
        session: r.get(5)?,
        source: r.get(6)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        created_at: r.get(8)?,
        accessed_at: r.get(9)?,
    })
}

pub(crate) fn vec_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn blob_to_vec(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// What to do about a damaged file.
pub const CORRUPT_HINT: &str = "THAU did not change it; move it aside (keep it: `sqlite3 FILE .recover` may save its \
     contents), then run the command again to start a new one, or `thau memory import` an export";

/// Map a SQLite error on `path` to the library error, naming the file and what to do.
pub(crate) fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ffi::ErrorCode;
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::NotADatabase => {
                return Error::corrupt(path, "not a SQLite database", CORRUPT_HINT);
            }
            ErrorCode::DatabaseCorrupt => {
                return Error::corrupt(path, format!("damaged SQLite database: {e}"), CORRUPT_HINT)
            }
            ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied => {
                return Error::io(
                    path,
                    std::io::Error::other(format!(
                        "{e}: check the file and its folder are writable, or pass another --db"
                    )),
                )
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return Error::io(
                    path,
                    std::io::Error::other(format!("{e}: another process holds the database; try again")),
                )
            }
            ErrorCode::DiskFull => {
                return Error::io(path, std::io::Error::other(format!("{e}: free some disk space and try again")))
            }
            _ => {}
        }
    }
    Error::io(path, std::io::Error::other(e.to_string()))
}

/// Refuse a non-empty file that does not start with SQLite's header before SQLite sees it.
fn check_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    if path.is_dir() {
        return Err(Error::invalid(
            "--db",
            format!("{} is a folder: give a file such as memory.sqlite", path.display()),
        ));
    }
    let mut head = [0u8; 16];
    let n = f.read(&mut head).map_err(|e| Error::io(path, e))?;
    if n == 0 {
        return Ok(());
    }
    if n < 16 || &head != SQLITE_MAGIC {
        return Err(Error::corrupt(path, "not a SQLite database (wrong header)", CORRUPT_HINT));
    }
    Ok(())
}
