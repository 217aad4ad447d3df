//! What every handler shares: the engine, the server's settings, and the request queue.

use crate::error::{ApiError, Flavor};
use axum::http::StatusCode;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use thau::infer::{Engine, LiveEngine};
use thau::memory::{Embedder, MemoryStore, Retriever};

/// Settings of `thau serve`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    /// The API keys, one of which every route but /health and the docs requires as
    /// `Authorization: Bearer KEY`; each acts as its user or as an admin (see [`crate::auth`]).
    /// None: any caller, naming any user (loopback only).
    pub keys: crate::auth::Keys,
    /// Requests waiting for or running on the engine at once; more get 429.
    pub max_queue: usize,
    /// Origins allowed by CORS (`*` for any); none means no CORS headers.
    pub cors_origins: Vec<String>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Run folder whose training status /training/status reports.
    pub run_dir: Option<PathBuf>,
    /// The model's name in /v1/models and /api/tags.
    pub model_name: String,
    /// Stable Diffusion folder (diffusers layout) for the image routes; none: they answer 503.
    pub image_model: Option<PathBuf>,
    /// Where the image routes save PNGs and sidecars (and serve them from).
    pub images_dir: PathBuf,
    /// Largest image side the image routes accept (the library's own limit is 1024).
    pub image_max_side: usize,
    /// Most images one image request may ask for.
    pub image_max_count: usize,
    /// Memory database of the /memory routes; `None` turns them off (503).
    pub memory_db: Option<PathBuf>,
    /// Most texts one embeddings request may carry.
    pub max_embed_inputs: usize,
    /// After Ctrl-C / SIGTERM, how long requests in flight may take to finish before they are
    /// cancelled.
    pub shutdown_grace: std::time::Duration,
    /// Settings of the learning runs the schedule starts after feedback (with `run_dir`).
    pub learn_options: thau::learn::LearnOptions,
    /// Put relevant memories and earlier conversations into the prompts of the OpenAI and
    /// Ollama chat routes (`--memory-inject on`). Off by default: those clients manage their
    /// own context and get the answers they would get without memory. The native chat
    /// route chooses per request (on by default).
    pub memory_inject: bool,
    /// How often a server of a run checks whether the run's weights changed (a kept
    /// learning run, `thau learn undo`) and swaps them in.
    pub reload_every: std::time::Duration,
    /// Where "now" comes from for conversations and "ayer" (the system clock; tests set a
    /// manual one).
    pub clock: thau::assistant::Clock,
}

impl ServerConfig {
    /// Accept `key` as an admin key (`--api-key`); an empty key adds nothing.
    pub fn with_api_key(mut self, key: &str) -> Self {
        if !key.is_empty() {
            self.keys.add(key, crate::auth::Role::Admin);
        }
        self
    }

    pub fn new(addr: SocketAddr, model_name: impl Into<String>) -> Self {
        Self {
            addr,
            keys: Default::default(),
            max_queue: 16,
            cors_origins: Vec::new(),
            max_body_bytes: 4 << 20,
            run_dir: None,
            model_name: model_name.into(),
            image_model: None,
            images_dir: PathBuf::from("images"),
            image_max_side: 1024,
            image_max_count: 4,
            memory_db: None,
            max_embed_inputs: 256,
            shutdown_grace: std::time::Duration::from_secs(30),
            learn_options: thau::learn::LearnOptions::default(),
            memory_inject: false,
            reload_every: std::time::Duration::from_secs(2),
            clock: thau::assistant::Clock::system(),
        }
    }

    /// Refuse settings that would expose the model unprotected.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.addr.ip().is_loopback() && self.keys.is_empty() {
            anyhow::bail!(
                "binding to {} exposes the server beyond this machine: set an API key with --api-key \
                 (or THAU_API_KEY) or keys per user with --keys FILE, or bind to 127.0.0.1",
                self.addr
            );
        }
        if self.max_queue == 0 {
            anyhow::bail!("--max-queue must be at least 1");
        }
        if self.max_embed_inputs == 0 {
            anyhow::bail!("--max-embed-inputs must be at least 1");
        }
        Ok(())
    }
}

pub struct AppState {
    /// The served model; a run's is swapped when its weights change (see [`AppState::engine`]).
    pub model: LiveEngine,
    pub config: ServerConfig,
    /// Requests holding a queue slot (running or waiting for the engine).
    pub pending: AtomicUsize,
    /// Unix seconds when the server started (the model's `created`).
    pub started: u64,
    /// The image pipeline, loaded on first use.
    pub vision: crate::vision::VisionState,
    /// The sentence-embedding model of /v1/embeddings, /api/embed and memory search.
    pub embedder: Option<EmbeddingModel>,
    /// The /memory routes' store, or why it is not available.
    pub memory: Result<Mutex<Retriever>, String>,
    /// One embedding computation at a time: the encoder already uses every core.
    pub embed_lock: tokio::sync::Semaphore,
    /// Learning runs the schedule starts after feedback (`POST /feedback`).
    pub auto_learn: Arc<crate::learn::AutoLearn>,
    /// The engine vocabulary's trie for constrained tool calls, built on first use.
    pub trie: std::sync::OnceLock<Arc<thau::tools::TokenTrie>>,
}

/// A loaded embedding model and the name clients call it by.
pub struct EmbeddingModel {
    pub name: String,
    pub model: Arc<Embedder>,
}

impl EmbeddingModel {
    /// `model` loaded from `spec` (a folder or a hub id); clients call it by the folder's name
    /// (its parent's for a `model/` folder) or by the hub id.
    pub fn new(spec: &str, model: Embedder) -> Self {
        let path = std::path::Path::new(spec);
        let name = if path.exists() {
            let base = |p: &std::path::Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
            match base(path).as_deref() {
                Some("model") => path.parent().and_then(base),
                other => other.map(str::to_string),
            }
            .unwrap_or_else(|| model.id().to_string())
        } else {
            spec.to_string()
        };
        Self { name, model: Arc::new(model) }
    }

    /// Whether a client's `model` names this one (Ollama clients add `:latest`).
    pub fn is(&self, name: &str) -> bool {
        name == self.name || name == self.model.id() || name.strip_suffix(":latest") == Some(self.name.as_str())
    }
}

impl AppState {
    /// State without an embedding model (memory search is full-text only).
    pub fn new(engine: Engine, config: ServerConfig) -> Arc<Self> {
        Self::with_embedder(LiveEngine::fixed(engine), config, None)
    }

    /// The engine a new request runs on: hold it until the request ends (a swap of the
    /// weights leaves it to finish).
    pub fn engine(&self) -> Arc<Engine> {
        self.model.engine()
    }

    /// State with an embedding model for the embeddings routes and memory search. The memory
    /// database is opened here; when it cannot be, the /memory routes say why (503) and the
    /// rest of the server works.
    pub fn with_embedder(model: LiveEngine, config: ServerConfig, embedder: Option<EmbeddingModel>) -> Arc<Self> {
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let memory = open_memory(&config, embedder.as_ref());
        Arc::new(Self {
            model,
            config,
            pending: AtomicUsize::new(0),
            started,
            embedder,
            memory,
            embed_lock: tokio::sync::Semaphore::new(1),
            vision: Default::default(),
            auto_learn: Default::default(),
            trie: Default::default(),
        })
    }

    /// Take a place in the engine's queue, or 429 when it is full.
    pub fn enqueue(self: &Arc<Self>, flavor: Flavor) -> Result<QueueSlot, ApiError> {
        let max = self.config.max_queue;
        let taken = self.pending.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1));
        match taken {
            Ok(_) => Ok(QueueSlot(self.clone())),
            Err(n) => {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    flavor,
                    format!("the server is busy ({n} requests queued, the limit is {max}): retry shortly"),
                );
                e.retry_after = Some(1 + n as u64 / 4);
                Err(e)
            }
        }
    }

    /// Whether `name` (as a client sent it) is the served model. Ollama clients add `:latest`.
    pub fn is_model(&self, name: &str) -> bool {
        let served = &self.config.model_name;
        name.is_empty() || name == served || name.strip_suffix(":latest") == Some(served.as_str())
    }
}

/// The memory database of `config`, or why it is not available. Kept out of line: inlined
/// into [`AppState::with_embedder`], rustc 1.95 at opt-level 2 (non-incremental) emitted an
/// aligned SSE store at an offset only 8-aligned on its error path, and the process died
/// with SIGSEGV on a damaged database file.
#[inline(never)]
fn open_memory(config: &ServerConfig, embedder: Option<&EmbeddingModel>) -> Result<Mutex<Retriever>, String> {
    let Some(path) = &config.memory_db else {
        return Err("memory is off: start thau serve with --memory PATH".to_string());
    };
    let opened = MemoryStore::open(path)
        .and_then(|store| Retriever::with_shared_embedder(store, embedder.map(|e| e.model.clone())));
    match opened {
        Ok(r) => Ok(Mutex::new(r)),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "memory database unavailable");
            Err(format!("the memory database is unavailable: {e}"))
        }
    }
}

/// A place in the queue, given back when dropped (when the generation ends or is cancelled).
pub struct QueueSlot(Arc<AppState>);

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}
