//! `thau serve`: load a model into the engine and serve the HTTP API (crate `thau-server`).

use crate::chat::{load_engine, ModelArgs};
use anyhow::Result;
use clap::Args;
use std::net::{IpAddr, SocketAddr};

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Address to bind; anything but loopback needs --api-key.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,
    /// Port (Ollama's default, so its clients find THAU unchanged).
    #[arg(long, default_value_t = 11434)]
    pub(crate) port: u16,
    /// Require `Authorization: Bearer KEY` (also THAU_API_KEY).
    #[arg(long, env = "THAU_API_KEY", hide_env_values = true)]
    pub(crate) api_key: Option<String>,
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
}

pub(crate) fn serve(a: ServeArgs) -> Result<()> {
    let mut cfg = thau_server::ServerConfig::new(SocketAddr::new(a.host, a.port), a.name);
    cfg.api_key = a.api_key.filter(|k| !k.is_empty());
    cfg.max_queue = a.max_queue;
    cfg.cors_origins = a.cors;
    cfg.run_dir = a.model.run.clone();
    if let Some(dir) = &a.image_model {
        // Check the folder now (files and configs); its weights load on the first image request.
        thau::vision::ModelFiles::from_dir(dir)?;
    }
    cfg.image_model = a.image_model.clone();
    cfg.images_dir = a.images_dir.clone();
    // Check the settings before spending time loading the model.
    cfg.validate()?;
    let engine = load_engine(&a.model)?;
    thau_server::serve_blocking(cfg, engine)
}
