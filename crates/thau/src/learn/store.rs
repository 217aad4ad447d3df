//! The learning store of a run: `runs/<name>/learn/learn.sqlite` holds the documents a user
//! added (chunked into passages with stable ids), feedback on conversation turns, and the
//! learning schedule. SQLite (WAL, full fsync) makes every change atomic and durable, as the
//! memory store does; learning-run records are JSON files beside it (see [`super::history`]).
//!
//! ```text
//! runs/<name>/learn/learn.sqlite        documents, passages, feedback, settings
//! runs/<name>/learn/runs/<id>.json      one record per learning run (data, config, gate, checkpoints)
//! ```

use crate::error::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `PRAGMA application_id` of a learning store ("THAL").
const APPLICATION_ID: i32 = 0x5448_414c;
/// Schema version this build writes.
const SCHEMA_VERSION: i32 = 1;

const SCHEMA: &str = r#"
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    id        INTEGER PRIMARY KEY,
    path      TEXT    NOT NULL,
    sha256    TEXT    NOT NULL UNIQUE,
    added_at  INTEGER NOT NULL
);
CREATE TABLE passages (
    id      TEXT    PRIMARY KEY,
    doc_id  INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord     INTEGER NOT NULL,
    text    TEXT    NOT NULL,
    lang    TEXT
);
CREATE INDEX passages_doc ON passages(doc_id, ord);
CREATE TABLE feedback (
    id          INTEGER PRIMARY KEY,
    turn_id     INTEGER NOT NULL,
    user_id     TEXT    NOT NULL,
    rating      INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    correction  TEXT,
    question    TEXT,
    answer      TEXT,
    created_at  INTEGER NOT NULL,
    learned_in  TEXT
);
CREATE INDEX feedback_turn ON feedback(turn_id);
"#;

/// Hint for a damaged or foreign store file.
const CORRUPT_HINT: &str = "move it aside; `thau learn add` creates a new one (documents must be added again)";

/// A passage: a paragraph-sized piece of a source, the unit a question cites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// `d<doc>:p<n>` for documents, `mem:<id>` for memories, `ep:<id>` for episodes.
    pub id: String,
    pub text: String,
    /// `es`, `en`, or None when too short to tell.
    pub lang: Option<String>,
}

/// A document added with `thau learn add`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentInfo {
    pub id: i64,
    pub path: String,
    pub sha256: String,
    pub added_at: i64,
    pub passages: usize,
}

/// Thumbs up or down on one assistant turn, with an optional correction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    pub id: i64,
    /// The memory store's turn id.
    pub turn_id: i64,
    pub user: String,
    /// +1 (up) or -1 (down).
    pub rating: i8,
    pub correction: Option<String>,
    /// The user message the turn answered and the turn's text, copied when the feedback was
    /// given so a learning run can use them even without the memory database.
    pub question: Option<String>,
    pub answer: Option<String>,
    pub created_at: i64,
    /// The learning run that used this feedback, once one has.
    pub learned_in: Option<String>,
}

/// Feedback to record.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewFeedback {
    pub turn_id: i64,
    pub user: String,
    pub rating: i8,
    pub correction: Option<String>,
    pub question: Option<String>,
    pub answer: Option<String>,
}

/// The learning store of one run.
pub struct LearnStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for LearnStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearnStore").field("path", &self.path).finish()
    }
}

/// `runs/<name>/learn/`.
pub fn learn_dir(run: &Path) -> PathBuf {
    run.join("learn")
}

fn db_err(path: &Path, e: rusqlite::Error) -> Error {
    match e {
        rusqlite::Error::SqliteFailure(ref f, _)
            if matches!(f.code, rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) =>
        {
            Error::corrupt(path, e.to_string(), CORRUPT_HINT)
        }
        other => Error::io(path, std::io::Error::other(other.to_string())),
    }
}

impl LearnStore {
    /// Open (creating when missing) the store of the run at `run`. The run folder must exist.
    pub fn open(run: &Path) -> Result<Self> {
        if !run.is_dir() {
            return Err(Error::not_found(
                run,
                "no such run: train one first with `thau train --run DIR --corpus PATH`",
            ));
        }
        let dir = learn_dir(run);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Self::open_file(&dir.join("learn.sqlite"))
    }

    /// Open a store file directly.
    pub fn open_file(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
        let mut s = Self { conn, path: path.to_path_buf() };
        s.init()?;
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_err(&self.path, e)
    }

    fn init(&mut self) -> Result<()> {
        let p = self.path.clone();
        self.conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| db_err(&p, e))?;
        let app: i32 = self.conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(|e| db_err(&p, e))?;
        let objects: i64 =
            self.conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).map_err(|e| db_err(&p, e))?;
        if app != APPLICATION_ID && (app != 0 || objects > 0) {
            return Err(Error::corrupt(
                &p,
                format!("not a THAU learning store (application_id {app:#x})"),
                CORRUPT_HINT,
            ));
        }
        let _: String = self.conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(|e| db_err(&p, e))?;
        self.conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;").map_err(|e| db_err(&p, e))?;
        let version: i32 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| db_err(&p, e))?;
        if version > SCHEMA_VERSION {
            return Err(Error::Incompatible {
                path: p,
                reason: format!("learning store version {version} is newer than this thau's {SCHEMA_VERSION}"),
                hint: "upgrade thau".into(),
            });
        }
        if version == 0 {
            let tx = self.conn.transaction().map_err(|e| db_err(&p, e))?;
            tx.execute_batch(SCHEMA).map_err(|e| db_err(&p, e))?;
            tx.execute_batch(&format!("PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={SCHEMA_VERSION}"))
                .map_err(|e| db_err(&p, e))?;
            tx.commit().map_err(|e| db_err(&p, e))?;
        }
        Ok(())
    }

    // ---- documents and passages ----------------------------------------------------------

    /// Store a document's passages in one transaction. Returns None when a document with the
    /// same content (sha256) is already stored. A different version of a file already added
    /// from the same path replaces the old one.
    pub fn add_document(
        &mut self,
        path: &str,
        sha256: &str,
        passages: &[(String, Option<String>)],
    ) -> Result<Option<DocumentInfo>> {
        let p = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_err(&p, e))?;
        let exists: Option<i64> = tx
            .query_row("SELECT id FROM documents WHERE sha256 = ?1", [sha256], |r| r.get(0))
            .optional()
            .map_err(|e| db_err(&p, e))?;
        if exists.is_some() {
            return Ok(None);
        }
        tx.execute("DELETE FROM documents WHERE path = ?1", [path]).map_err(|e| db_err(&p, e))?;
        let now = crate::memory::now_ms();
        tx.execute("INSERT INTO documents (path, sha256, added_at) VALUES (?1, ?2, ?3)", params![path, sha256, now])
            .map_err(|e| db_err(&p, e))?;
        let id = tx.last_insert_rowid();
        for (i, (text, lang)) in passages.iter().enumerate() {
            tx.execute(
                "INSERT INTO passages (id, doc_id, ord, text, lang) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![format!("d{id}:p{}", i + 1), id, i as i64, text, lang],
            )
            .map_err(|e| db_err(&p, e))?;
        }
        tx.commit().map_err(|e| db_err(&p, e))?;
        Ok(Some(DocumentInfo { id, path: path.into(), sha256: sha256.into(), added_at: now, passages: passages.len() }))
    }

    /// Every stored document with its passage count.
    pub fn documents(&self) -> Result<Vec<DocumentInfo>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT d.id, d.path, d.sha256, d.added_at, (SELECT count(*) FROM passages p WHERE p.doc_id = d.id)
                 FROM documents d ORDER BY d.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(DocumentInfo {
                    id: r.get(0)?,
                    path: r.get(1)?,
                    sha256: r.get(2)?,
                    added_at: r.get(3)?,
                    passages: r.get::<_, i64>(4)? as usize,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every document passage, in document and position order.
    pub fn passages(&self) -> Result<Vec<Passage>> {
        let mut st =
            self.conn.prepare("SELECT id, text, lang FROM passages ORDER BY doc_id, ord").map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok(Passage { id: r.get(0)?, text: r.get(1)?, lang: r.get(2)? }))
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    // ---- feedback ------------------------------------------------------------------------

    /// Record feedback (durable when this returns).
    pub fn add_feedback(&self, f: &NewFeedback) -> Result<Feedback> {
        if f.rating != 1 && f.rating != -1 {
            return Err(Error::invalid("rating", format!("{} is not up (+1) or down (-1)", f.rating)));
        }
        if f.turn_id <= 0 {
            return Err(Error::invalid("turn", format!("{} is not a turn id (they start at 1)", f.turn_id)));
        }
        let correction = f.correction.as_deref().map(str::trim).filter(|c| !c.is_empty());
        if correction.is_some_and(|c| c.len() > 16 * 1024) {
            return Err(Error::invalid("correction", "longer than 16 KiB: keep it to the right answer"));
        }
        let now = crate::memory::now_ms();
        self.conn
            .execute(
                "INSERT INTO feedback (turn_id, user_id, rating, correction, question, answer, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![f.turn_id, f.user, f.rating, correction, f.question, f.answer, now],
            )
            .map_err(|e| self.err(e))?;
        Ok(Feedback {
            id: self.conn.last_insert_rowid(),
            turn_id: f.turn_id,
            user: f.user.clone(),
            rating: f.rating,
            correction: correction.map(str::to_string),
            question: f.question.clone(),
            answer: f.answer.clone(),
            created_at: now,
            learned_in: None,
        })
    }

    /// Feedback since `since` (ms), oldest first; `unlearned` keeps only what no learning run used.
    pub fn feedback(&self, since: i64, unlearned: bool) -> Result<Vec<Feedback>> {
        let sql = format!(
            "SELECT id, turn_id, user_id, rating, correction, question, answer, created_at, learned_in FROM feedback
             WHERE created_at >= ?1 {} ORDER BY created_at, id",
            if unlearned { "AND learned_in IS NULL" } else { "" }
        );
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map([since], |r| {
                Ok(Feedback {
                    id: r.get(0)?,
                    turn_id: r.get(1)?,
                    user: r.get(2)?,
                    rating: r.get::<_, i64>(3)? as i8,
                    correction: r.get(4)?,
                    question: r.get(5)?,
                    answer: r.get(6)?,
                    created_at: r.get(7)?,
                    learned_in: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Mark feedback as used by a learning run (or clear the mark with None, on undo).
    pub fn mark_feedback(&self, ids: &[i64], run_id: Option<&str>) -> Result<()> {
        for id in ids {
            self.conn
                .execute("UPDATE feedback SET learned_in = ?1 WHERE id = ?2", params![run_id, id])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Clear the mark of every feedback used by `run_id` (undo).
    pub fn unmark_run(&self, run_id: &str) -> Result<usize> {
        self.conn
            .execute("UPDATE feedback SET learned_in = NULL WHERE learned_in = ?1", [run_id])
            .map_err(|e| self.err(e))
    }

    // ---- settings ------------------------------------------------------------------------

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
