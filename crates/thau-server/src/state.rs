//! What every handler shares: the engine, the server's settings, and the request queue.

use crate::error::{ApiError, Flavor};
use axum::http::StatusCode;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use thau::infer::Engine;

/// Settings of `thau serve`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    /// Required as `Authorization: Bearer KEY` on every route but /health and the docs.
    pub api_key: Option<String>,
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
}

impl ServerConfig {
    pub fn new(addr: SocketAddr, model_name: impl Into<String>) -> Self {
        Self {
            addr,
            api_key: None,
            max_queue: 16,
            cors_origins: Vec::new(),
            max_body_bytes: 4 << 20,
            run_dir: None,
            model_name: model_name.into(),
            image_model: None,
            images_dir: PathBuf::from("images"),
            image_max_side: 1024,
            image_max_count: 4,
        }
    }

    /// Refuse settings that would expose the model unprotected.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.addr.ip().is_loopback() && self.api_key.as_deref().is_none_or(str::is_empty) {
            anyhow::bail!(
                "binding to {} exposes the server beyond this machine: set an API key with --api-key \
                 (or THAU_API_KEY), or bind to 127.0.0.1",
                self.addr
            );
        }
        if self.max_queue == 0 {
            anyhow::bail!("--max-queue must be at least 1");
        }
        Ok(())
    }
}

pub struct AppState {
    pub engine: Engine,
    pub config: ServerConfig,
    /// Requests holding a queue slot (running or waiting for the engine).
    pub pending: AtomicUsize,
    /// Unix seconds when the server started (the model's `created`).
    pub started: u64,
    /// The image pipeline, loaded on first use.
    pub vision: crate::vision::VisionState,
}

impl AppState {
    pub fn new(engine: Engine, config: ServerConfig) -> Arc<Self> {
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Arc::new(Self { engine, config, pending: AtomicUsize::new(0), started, vision: Default::default() })
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

/// A place in the queue, given back when dropped (when the generation ends or is cancelled).
pub struct QueueSlot(Arc<AppState>);

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}
