//! Where a pipeline's files are: a local folder in the diffusers layout, or a Hugging Face hub
//! id downloaded (and cached by `hf-hub`) on first use.
//!
//! ```text
//! model/
//!   text_encoder/config.json, model.safetensors            CLIP text transformer
//!   unet/config.json, diffusion_pytorch_model.safetensors  denoiser
//!   vae/config.json, diffusion_pytorch_model.safetensors   latent ↔ pixel autoencoder
//!   tokenizer/vocab.json + merges.txt (or tokenizer.json)  CLIP BPE
//!   scheduler/scheduler_config.json                        noise schedule (optional)
//! ```
//! Half-precision exports (`*.fp16.safetensors`) are used when the full-precision file is absent.
//! A folder without `config.json` files is read as Stable Diffusion 1.5.

use super::config::{read_json, PipelineConfig};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The hub model used when a user asks for Stable Diffusion 1.5 by name.
pub const SD15_HUB_ID: &str = "stable-diffusion-v1-5/stable-diffusion-v1-5";

/// The hint of every "missing file" error.
pub const LAYOUT_HINT: &str =
    "give --model a Stable Diffusion folder in the diffusers layout (text_encoder/, unet/, vae/, \
     tokenizer/ with safetensors), e.g. a download of stable-diffusion-v1-5/stable-diffusion-v1-5, or its hub id \
     when this machine can reach huggingface.co";

/// The files of one pipeline, all present.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The folder (for a hub model, its snapshot in the hub cache).
    pub root: PathBuf,
    /// A short name for metadata: the folder name or the hub id.
    pub name: String,
    pub text_encoder: PathBuf,
    pub unet: PathBuf,
    pub vae: PathBuf,
    pub tokenizer: PathBuf,
    pub config: PipelineConfig,
}

const PARTS: [(&str, &str); 3] =
    [("text_encoder", "model"), ("unet", "diffusion_pytorch_model"), ("vae", "diffusion_pytorch_model")];

impl ModelFiles {
    /// `spec` is an existing folder, else a hub id (`owner/name`).
    pub fn locate(spec: &str, hub_progress: bool) -> Result<Self> {
        let path = Path::new(spec);
        if path.exists() {
            return Self::from_dir(path);
        }
        if looks_like_hub_id(spec) {
            return Self::from_hub(spec, hub_progress);
        }
        Err(Error::not_found(path, LAYOUT_HINT))
    }

    /// A local diffusers-layout folder.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::not_found(dir, LAYOUT_HINT));
        }
        let mut weights = Vec::new();
        for (sub, stem) in PARTS {
            let full = dir.join(sub).join(format!("{stem}.safetensors"));
            let half = dir.join(sub).join(format!("{stem}.fp16.safetensors"));
            weights.push(if full.is_file() {
                full
            } else if half.is_file() {
                half
            } else {
                return Err(Error::not_found(full, LAYOUT_HINT));
            });
        }
        let tokenizer = dir.join("tokenizer");
        if !tokenizer.is_dir() {
            return Err(Error::not_found(&tokenizer, super::clip_tokenizer::TOKENIZER_HINT));
        }
        let config = read_config(dir)?;
        config.validate(dir)?;
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .unwrap_or_else(|| dir.display().to_string());
        let [text_encoder, unet, vae]: [PathBuf; 3] = weights.try_into().expect("three parts");
        Ok(Self { root: dir.to_path_buf(), name, text_encoder, unet, vae, tokenizer, config })
    }

    /// Download (or reuse from the hub cache) what [`from_dir`](Self::from_dir) needs.
    pub fn from_hub(id: &str, progress: bool) -> Result<Self> {
        let hint = format!("check the network and the model id, or download {id} and pass its folder");
        let api = hf_hub::api::sync::ApiBuilder::from_env()
            .with_progress(progress)
            .build()
            .map_err(|e| Error::not_found(id, format!("hub: {e}: {hint}")))?;
        let repo = api.model(id.to_string());
        let get = |f: &str| repo.get(f).map_err(|e| Error::not_found(format!("{id}/{f}"), format!("hub: {e}: {hint}")));
        let mut root = None;
        for f in ["tokenizer/vocab.json", "tokenizer/merges.txt", "scheduler/scheduler_config.json"] {
            let p = get(f)?;
            root = p.parent().and_then(Path::parent).map(Path::to_path_buf);
        }
        for (sub, stem) in PARTS {
            get(&format!("{sub}/config.json"))?;
            // Prefer the half-precision file (half the download); fall back to the full one.
            if get(&format!("{sub}/{stem}.fp16.safetensors")).is_err() {
                get(&format!("{sub}/{stem}.safetensors"))?;
            }
        }
        let root = root.ok_or_else(|| Error::not_found(id, hint.clone()))?;
        let mut files = Self::from_dir(&root)?;
        files.name = id.to_string();
        Ok(files)
    }
}

/// The four configurations of `dir`; a part without `config.json` takes SD 1.5's.
pub fn read_config(dir: &Path) -> Result<PipelineConfig> {
    let mut c = PipelineConfig::sd15();
    let p = dir.join("text_encoder/config.json");
    if p.is_file() {
        c.text_encoder = read_json(&p, "CLIP text encoder")?;
    }
    let p = dir.join("unet/config.json");
    if p.is_file() {
        c.unet = read_json(&p, "UNet")?;
    }
    let p = dir.join("vae/config.json");
    if p.is_file() {
        c.vae = read_json(&p, "VAE")?;
    }
    let p = dir.join("scheduler/scheduler_config.json");
    if p.is_file() {
        c.scheduler = read_json(&p, "scheduler")?;
    }
    Ok(c)
}

fn looks_like_hub_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() == 2
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        && !s.starts_with('.')
}
