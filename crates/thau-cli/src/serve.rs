//! `thau serve`: load a model into the engine and serve the HTTP API (crate `thau-server`).

use crate::chat::{load_engine_batched, ModelArgs};
use anyhow::{Context, Result};
use clap::Args;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use thau::memory::{Embedder, EMBEDDING_MODEL_ENV};

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Address to bind; anything but loopback needs --api-key or --keys.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,
    /// Port (Ollama's default, so its clients find THAU unchanged).
    #[arg(long, default_value_t = 11434)]
    pub(crate) port: u16,
    /// Require `Authorization: Bearer KEY` (also THAU_API_KEY); this key is an admin's: it
    /// may act for any user its requests name.
    #[arg(long, env = "THAU_API_KEY", hide_env_values = true)]
    pub(crate) api_key: Option<String>,
    /// API keys bound to users, one per line: `KEY user:NAME` (always acts as NAME) or
    /// `KEY admin` (may name any user). Keys are compared in constant time and never logged.
    #[arg(long, value_name = "FILE")]
    pub(crate) keys: Option<PathBuf>,
    /// Requests running or waiting at once; more get 429.
    #[arg(long, default_value_t = 16)]
    pub(crate) max_queue: usize,
    /// Allow browser requests from these origins (repeatable; * for any).
    #[arg(long)]
    pub(crate) cors: Vec<String>,
    /// Name clients use for the model (default: thau).
    #[arg(long, default_value = "thau")]
    pub(crate) name: String,
    /// Stable Diffusion folder (diffusers layout) for /vision/generate and /v1/images/generations.
    #[arg(long, env = "THAU_IMAGE_MODEL")]
    pub(crate) image_model: Option<std::path::PathBuf>,
    /// Where the image routes save their PNGs and sidecars.
    #[arg(long, default_value = "images")]
    pub(crate) images_dir: std::path::PathBuf,
    /// Most requests decoded together in one batch (1: one at a time).
    #[arg(long, env = "THAU_MAX_BATCH", default_value_t = thau::infer::DEFAULT_MAX_BATCH)]
    pub(crate) max_batch: usize,
    /// Sentence-embedding model for /v1/embeddings, /api/embed and memory search: a folder
    /// (config.json, tokenizer.json, model.safetensors) or a Hugging Face id (default:
    /// $THAU_EMBEDDING_MODEL; without one, embeddings answer 404 and memory search is full-text).
    #[arg(long)]
    pub(crate) embedding_model: Option<String>,
    /// Memory database of the /memory routes (default: what `thau memory` uses,
    /// $THAU_HOME/memory.sqlite, else ~/.local/share/thau/memory.sqlite).
    #[arg(long)]
    pub(crate) memory: Option<PathBuf>,
    /// Put relevant memories and earlier conversations into the prompts of the OpenAI and
    /// Ollama chat routes: off (default: those clients keep their own context and get the
    /// answers they would without memory) or on. /thau/chat injects unless a request says not to.
    #[arg(long, value_name = "on|off", default_value = "off", value_parser = crate::chat::on_off)]
    pub(crate) memory_inject: bool,
    /// Most texts in one embeddings request.
    #[arg(long, default_value_t = 256)]
    pub(crate) max_embed_inputs: usize,
    /// Seconds requests in flight may take to finish after Ctrl-C / SIGTERM before they are cancelled.
    #[arg(long, default_value_t = 30)]
    pub(crate) shutdown_grace: u64,
}

pub(crate) fn serve(a: ServeArgs) -> Result<()> {
    let mut cfg = thau_server::ServerConfig::new(SocketAddr::new(a.host, a.port), a.name)
        .with_api_key(a.api_key.as_deref().unwrap_or_default());
    if let Some(file) = &a.keys {
        cfg.keys
            .extend(thau_server::auth::Keys::load(file)?)
            .map_err(|e| anyhow::anyhow!("keys file {}: {e}", file.display()))?;
    }
    cfg.max_queue = a.max_queue;
    cfg.cors_origins = a.cors;
    cfg.run_dir = a.model.run.clone();
    if let Some(dir) = &a.image_model {
        // Check the folder now (files and configs); its weights load on the first image request.
        thau::vision::ModelFiles::from_dir(dir)?;
    }
    cfg.image_model = a.image_model.clone();
    cfg.images_dir = a.images_dir.clone();
    cfg.memory_db = Some(a.memory.clone().unwrap_or_else(thau::memory::default_db_path));
    cfg.max_embed_inputs = a.max_embed_inputs;
    cfg.memory_inject = a.memory_inject;
    cfg.shutdown_grace = std::time::Duration::from_secs(a.shutdown_grace);
    // Check the settings before spending time loading the model.
    cfg.validate()?;
    if a.max_batch == 0 {
        anyhow::bail!("--max-batch must be at least 1 (1 = one request at a time)");
    }
    // Same choice as `thau memory`: the option, else THAU_EMBEDDING_MODEL.
    let spec = a.embedding_model.or_else(|| std::env::var(EMBEDDING_MODEL_ENV).ok()).filter(|s| !s.trim().is_empty());
    let embedder = match spec {
        Some(s) => {
            let s = s.trim().to_string();
            let model = Embedder::load(&s).with_context(|| format!("loading embedding model {s}"))?;
            Some(thau_server::EmbeddingModel::new(&s, model))
        }
        None => None,
    };
    // A run is followed: a kept learning run (or `thau learn undo`) is served without a restart.
    let engine = match (&a.model.model, &a.model.run) {
        (None, Some(run)) => thau::infer::LiveEngine::from_run(run, a.model.age, a.model.dtype, Some(a.max_batch))?,
        _ => thau::infer::LiveEngine::fixed(load_engine_batched(&a.model, a.max_batch)?),
    };
    thau_server::serve_blocking(cfg, engine, embedder)
}
