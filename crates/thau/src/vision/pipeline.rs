//! Text to image with latent diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis
//! with Latent Diffusion Models"): CLIP encodes the prompt, the UNet removes noise from a latent
//! step by step under classifier-free guidance (Ho & Salimans 2022), the VAE decodes the latent
//! to pixels. The networks are candle-transformers' `stable_diffusion` modules.
//!
//! Shapes: B = 2 with guidance (negative prompt, prompt), else 1; T = 77 text positions;
//! D = text width (768 for SD 1.5); C = 4 latent channels; h×w = image size / 8.

use super::clip_tokenizer::ClipTokenizer;
use super::config::PipelineConfig;
use super::png::{encode_png, free_name, save_with_sidecar, RgbImage};
use super::scheduler::{DiffusionSampler, Noise, SchedulerKind};
use super::weights::ModelFiles;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::clip::text_model::ClipTextTransformer;
use candle_transformers::models::stable_diffusion::unet_2d::UNet2DConditionModel;
use candle_transformers::models::stable_diffusion::vae::AutoEncoderKL;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Smallest and largest image side, in pixels.
pub const MIN_SIDE: usize = 256;
pub const MAX_SIDE: usize = 1024;
/// Most denoising steps per image.
pub const MAX_STEPS: usize = 150;
/// Most images per request.
pub const MAX_COUNT: usize = 64;

/// How a pipeline is loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Weights and activations: F32, F16 or BF16 (the scheduler's arithmetic stays f32).
    pub dtype: DType,
    pub device: Device,
    /// Show hf-hub's download bars (CLI) when the model comes from the hub.
    pub hub_progress: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { dtype: DType::F32, device: Device::Cpu, hub_progress: false }
    }
}

/// One text-to-image request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageRequest {
    pub prompt: String,
    /// What the image should not show (the unconditional side of guidance).
    pub negative_prompt: String,
    /// Denoising steps (1–150).
    pub steps: usize,
    /// Classifier-free guidance scale; at 1 or below guidance is off (and the negative prompt
    /// unused), halving the work per step.
    pub guidance: f64,
    pub width: usize,
    pub height: usize,
    /// Seed of image 0; image i uses seed + i. None: a random seed (reported in the result).
    pub seed: Option<u64>,
    /// Images to make from this prompt.
    pub count: usize,
    pub scheduler: SchedulerKind,
}

impl Default for ImageRequest {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            steps: 25,
            guidance: 7.5,
            width: 512,
            height: 512,
            seed: None,
            count: 1,
            scheduler: SchedulerKind::Ddim,
        }
    }
}

impl ImageRequest {
    /// Check every field, naming the bad one and its allowed range.
    pub fn validate(&self) -> Result<()> {
        if self.prompt.trim().is_empty() {
            return Err(Error::invalid("prompt", "it is empty: describe the image to make"));
        }
        for (what, v) in [("width", self.width), ("height", self.height)] {
            if !(MIN_SIDE..=MAX_SIDE).contains(&v) || v % 8 != 0 {
                return Err(Error::invalid(
                    what,
                    format!("{v}: use {MIN_SIDE} to {MAX_SIDE} pixels in multiples of 8"),
                ));
            }
        }
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return Err(Error::invalid("steps", format!("{}: use 1 to {MAX_STEPS}", self.steps)));
        }
        if !(self.guidance.is_finite() && (0.0..=50.0).contains(&self.guidance)) {
            return Err(Error::invalid("guidance", format!("{}: use 0 to 50 (7.5 is usual)", self.guidance)));
        }
        if !(1..=MAX_COUNT).contains(&self.count) {
            return Err(Error::invalid("count", format!("{}: use 1 to {MAX_COUNT}", self.count)));
        }
        Ok(())
    }

    fn guided(&self) -> bool {
        self.guidance > 1.0
    }
}

/// Where generation is, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The text encoder is running.
    Encoding,
    /// `step` of `steps` UNet steps are done.
    Denoising,
    /// The VAE is decoding.
    Decoding,
    /// The image file has been written.
    Saved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImageProgress {
    /// Image being made (0-based) and how many the request makes.
    pub image: usize,
    pub images: usize,
    pub phase: Phase,
    pub step: usize,
    pub steps: usize,
}

/// How an image was made: the PNG's text chunks and its JSON sidecar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageMetadata {
    pub prompt: String,
    pub negative_prompt: String,
    pub steps: usize,
    pub guidance_scale: f64,
    pub width: usize,
    pub height: usize,
    pub seed: u64,
    pub scheduler: SchedulerKind,
    pub model: String,
    pub dtype: String,
    /// Seconds for this image (its share of text encoding, denoising, decoding, saving).
    pub duration_s: f64,
    /// Whether the prompt was cut to CLIP's 77 tokens (the image ignores the rest).
    pub prompt_truncated: bool,
    /// RFC 3339 time of creation.
    pub created: String,
    pub software: String,
}

/// One image made: the seed's result shape (`success`, `path`, …) with the metadata flattened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageResult {
    pub success: bool,
    pub path: PathBuf,
    pub metadata_path: PathBuf,
    #[serde(flatten)]
    pub metadata: ImageMetadata,
}

/// A loaded Stable Diffusion pipeline. `Send + Sync`: it can live in a worker thread or
/// behind a mutex in a server.
pub struct ImagePipeline {
    text_encoder: ClipTextTransformer,
    unet: UNet2DConditionModel,
    vae: AutoEncoderKL,
    tokenizer: ClipTokenizer,
    config: PipelineConfig,
    dtype: DType,
    device: Device,
    name: String,
}

impl std::fmt::Debug for ImagePipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImagePipeline").field("model", &self.name).field("dtype", &self.dtype).finish()
    }
}

/// The three networks' weights, however they are provided.
pub struct Weights<'a> {
    pub text_encoder: VarBuilder<'a>,
    pub unet: VarBuilder<'a>,
    pub vae: VarBuilder<'a>,
}

impl ImagePipeline {
    /// Load `spec`: a diffusers-layout folder, or a hub id fetched on first use.
    pub fn load(spec: &str, opts: &LoadOptions) -> Result<Self> {
        let files = ModelFiles::locate(spec, opts.hub_progress)?;
        Self::from_files(&files, opts)
    }

    /// Load from located files.
    pub fn from_files(files: &ModelFiles, opts: &LoadOptions) -> Result<Self> {
        let tokenizer = ClipTokenizer::load(&files.tokenizer)?;
        let mmap = |p: &Path| -> Result<VarBuilder<'static>> {
            // SAFETY: the weights are memory-mapped read-only; THAU never writes model files
            // while reading them.
            unsafe { VarBuilder::from_mmaped_safetensors(&[p], opts.dtype, &opts.device) }
                .map_err(|e| Error::corrupt(p, e.to_string(), "not a safetensors file: download the model again"))
        };
        let weights =
            Weights { text_encoder: mmap(&files.text_encoder)?, unet: mmap(&files.unet)?, vae: mmap(&files.vae)? };
        let paths = [files.text_encoder.clone(), files.unet.clone(), files.vae.clone()];
        Self::build(files.config.clone(), tokenizer, weights, &files.name, opts, &paths)
    }

    /// Build from `weights` (any backend: safetensors, random, in memory). `paths` name the
    /// three parts in errors.
    pub fn build(
        config: PipelineConfig,
        tokenizer: ClipTokenizer,
        weights: Weights<'_>,
        name: &str,
        opts: &LoadOptions,
        paths: &[PathBuf; 3],
    ) -> Result<Self> {
        config.validate(Path::new(name))?;
        if opts.dtype == DType::BF16 && opts.device.is_cpu() {
            return Err(Error::invalid(
                "dtype",
                "bf16 has no CPU matmul in candle 0.11 (the convolutions need one): use f16 or f32 on CPU, bf16 on CUDA",
            ));
        }
        if !matches!(opts.dtype, DType::F32 | DType::F16 | DType::BF16) {
            return Err(Error::invalid("dtype", format!("{:?}: use f32, f16 or bf16", opts.dtype)));
        }
        if tokenizer.vocab_size() > config.text_encoder.vocab_size {
            return Err(Error::Incompatible {
                path: paths[0].clone(),
                reason: format!(
                    "the tokenizer has {} tokens but the text encoder only {}",
                    tokenizer.vocab_size(),
                    config.text_encoder.vocab_size
                ),
                hint: "use the tokenizer/ folder that came with the model".into(),
            });
        }
        let mismatch = |p: &PathBuf, e: candle_core::Error| Error::Incompatible {
            path: p.clone(),
            reason: format!("the weights do not match config.json: {e}"),
            hint: "the folder mixes files of different models: download it again".into(),
        };
        let span = tracing::info_span!("load", model = name);
        let _g = span.enter();
        let t0 = Instant::now();
        let text_encoder = ClipTextTransformer::new(weights.text_encoder.pp("text_model"), &config.clip())
            .map_err(|e| mismatch(&paths[0], e))?;
        // candle 0.11's sliced attention stacks the slices into the wrong rank, so attention
        // runs over all heads at once (see `denoise` for how large images bound its memory).
        let unet = UNet2DConditionModel::new(
            weights.unet,
            config.unet.in_channels,
            config.unet.out_channels,
            false,
            config.unet(),
        )
        .map_err(|e| mismatch(&paths[1], e))?;
        let vae = AutoEncoderKL::new(weights.vae, 3, config.vae.out_channels, config.vae())
            .map_err(|e| mismatch(&paths[2], e))?;
        tracing::info!(seconds = t0.elapsed().as_secs_f64(), dtype = ?opts.dtype, "image pipeline loaded");
        Ok(Self {
            text_encoder,
            unet,
            vae,
            tokenizer,
            config,
            dtype: opts.dtype,
            device: opts.device.clone(),
            name: name.to_string(),
        })
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn tokenizer(&self) -> &ClipTokenizer {
        &self.tokenizer
    }

    /// Text conditioning: (B, T, D) — the negative prompt's row first when guided — and whether
    /// the prompt was truncated to fit.
    pub fn encode_text(&self, prompt: &str, negative: &str, guided: bool) -> Result<(Tensor, bool)> {
        let max = self.config.text_encoder.max_position_embeddings;
        let pos = self.tokenizer.encode(prompt, max)?;
        if pos.truncated {
            tracing::warn!(tokens = pos.prompt_tokens, max = max - 2, "prompt truncated to CLIP's length");
        }
        let mut rows = vec![pos.ids];
        if guided {
            let neg = self.tokenizer.encode(negative, max)?;
            if neg.truncated {
                tracing::warn!(tokens = neg.prompt_tokens, max = max - 2, "negative prompt truncated to CLIP's length");
            }
            rows.insert(0, neg.ids);
        }
        let b = rows.len();
        let ids = Tensor::from_vec(rows.concat(), (b, max), &self.device)?; // (B, T)
        let emb = self.text_encoder.forward_with_mask(&ids, usize::MAX)?; // (B, T, D)
        Ok((emb, pos.truncated))
    }

    /// The latent size for an image size.
    fn latent_shape(&self, width: usize, height: usize) -> [usize; 4] {
        let f = self.config.vae_scale_factor();
        [1, self.config.vae.latent_channels, height / f, width / f]
    }

    /// Run the denoising loop from the noise of `seed`: the final latents (1, C, h, w), f32.
    /// `text` comes from [`encode_text`](Self::encode_text) with the same `guided`.
    pub fn denoise(
        &self,
        req: &ImageRequest,
        seed: u64,
        text: &Tensor,
        mut on_step: impl FnMut(usize, usize),
    ) -> Result<Tensor> {
        let sampler = DiffusionSampler::new(req.scheduler, &self.config.scheduler, req.steps)?;
        let mut noise = Noise::new(seed);
        let shape = self.latent_shape(req.width, req.height);
        let mut x = (noise.tensor(&shape, &self.device)? * sampler.init_noise_sigma())?; // (1, C, h, w)
        let guided = req.guided();
        let text = text.to_dtype(self.dtype)?;
        let n = sampler.timesteps().len();
        // Self-attention over h·w positions holds B·heads·(h·w)² scores: above 64×64 latents
        // (512×512 pixels) the two guidance rows run one at a time to halve that peak.
        let split = guided && shape[2] * shape[3] > 64 * 64;
        for (i, &t) in sampler.timesteps().iter().enumerate() {
            let out = if split {
                let input = sampler.scale_model_input(&x, i)?.to_dtype(self.dtype)?; // (1, C, h, w)
                let u = self.unet.forward(&input, t, &text.narrow(0, 0, 1)?)?;
                let c = self.unet.forward(&input, t, &text.narrow(0, 1, 1)?)?;
                Tensor::cat(&[&u, &c], 0)?.to_dtype(DType::F32)? // (2, C, h, w)
            } else {
                let input = if guided { Tensor::cat(&[&x, &x], 0)? } else { x.clone() }; // (B, C, h, w)
                let input = sampler.scale_model_input(&input, i)?.to_dtype(self.dtype)?;
                self.unet.forward(&input, t, &text)?.to_dtype(DType::F32)? // (B, C, h, w)
            };
            let out = if guided {
                let uncond = out.narrow(0, 0, 1)?; // (1, C, h, w)
                let cond = out.narrow(0, 1, 1)?;
                (&uncond + ((cond - &uncond)? * req.guidance)?)?
            } else {
                out
            };
            x = sampler.step(&out, i, &x, &mut noise)?;
            on_step(i + 1, n);
        }
        Ok(x)
    }

    /// Latents (1, C, h, w) to an RGB image.
    pub fn decode(&self, latents: &Tensor) -> Result<RgbImage> {
        let z = (latents / self.config.vae.scaling_factor)?.to_dtype(self.dtype)?;
        let img = self.vae.decode(&z)?.to_dtype(DType::F32)?; // (1, 3, H, W) in [-1, 1]
        let (_, _, h, w) = img.dims4()?;
        let img = ((img / 2.0)? + 0.5)?.clamp(0f32, 1f32)?;
        let img = (img * 255.0)?.round()?.squeeze(0)?.permute((1, 2, 0))?; // (H, W, 3)
        let pixels = img.to_dtype(DType::U8)?.flatten_all()?.to_vec1::<u8>()?;
        Ok(RgbImage { width: w, height: h, pixels })
    }

    /// Make `req.count` images and save each as PNG + JSON sidecar in `out_dir`. The request
    /// is checked before any work; a failure leaves no partial file behind.
    pub fn generate(
        &self,
        req: &ImageRequest,
        out_dir: &Path,
        progress: &mut dyn FnMut(&ImageProgress),
    ) -> Result<Vec<ImageResult>> {
        req.validate()?;
        let base_seed = req.seed.unwrap_or_else(|| u64::from(rand::random::<u32>()));
        let images = req.count;
        progress(&ImageProgress { image: 0, images, phase: Phase::Encoding, step: 0, steps: req.steps });
        let t_text = Instant::now();
        let (text, truncated) = self.encode_text(&req.prompt, &req.negative_prompt, req.guided())?;
        let text_s = t_text.elapsed().as_secs_f64() / images as f64;
        let mut out = Vec::with_capacity(images);
        for image in 0..images {
            let t0 = Instant::now();
            let seed = base_seed.wrapping_add(image as u64);
            let span = tracing::info_span!("image", seed, image);
            let _g = span.enter();
            let latents = self.denoise(req, seed, &text, |step, steps| {
                progress(&ImageProgress { image, images, phase: Phase::Denoising, step, steps })
            })?;
            progress(&ImageProgress { image, images, phase: Phase::Decoding, step: req.steps, steps: req.steps });
            let rgb = self.decode(&latents)?;
            let now = chrono::Local::now();
            let mut meta = ImageMetadata {
                prompt: req.prompt.clone(),
                negative_prompt: if req.guided() { req.negative_prompt.clone() } else { String::new() },
                steps: req.steps,
                guidance_scale: req.guidance,
                width: req.width,
                height: req.height,
                seed,
                scheduler: req.scheduler,
                model: self.name.clone(),
                dtype: format!("{:?}", self.dtype).to_lowercase(),
                duration_s: 0.0,
                prompt_truncated: truncated,
                created: now.to_rfc3339(),
                software: format!("THAU {}", env!("CARGO_PKG_VERSION")),
            };
            meta.duration_s = ((t0.elapsed().as_secs_f64() + text_s) * 1000.0).round() / 1000.0;
            let stem = format!("thau-{}-{seed}", now.format("%Y%m%d-%H%M%S"));
            let (png_path, json_path) = free_name(out_dir, &stem);
            let png = encode_png(&rgb, &text_chunks(&meta))?;
            let mut sidecar =
                serde_json::to_value(&meta).map_err(|e| Error::invalid("image metadata", e.to_string()))?;
            if let Some(m) = sidecar.as_object_mut() {
                let file = png_path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
                m.insert("file".into(), file.into());
            }
            save_with_sidecar(&png_path, &json_path, &png, &sidecar)?;
            tracing::info!(path = %png_path.display(), seconds = meta.duration_s, "image saved");
            progress(&ImageProgress { image, images, phase: Phase::Saved, step: req.steps, steps: req.steps });
            out.push(ImageResult { success: true, path: png_path, metadata_path: json_path, metadata: meta });
        }
        Ok(out)
    }

    /// Several requests one after the other (the seed's `generate_batch`). Every request is
    /// checked before the first image is made.
    pub fn generate_batch(
        &self,
        reqs: &[ImageRequest],
        out_dir: &Path,
        progress: &mut dyn FnMut(usize, &ImageProgress),
    ) -> Result<Vec<ImageResult>> {
        for (i, r) in reqs.iter().enumerate() {
            r.validate().map_err(|e| Error::invalid(format!("request {}", i + 1), e.to_string()))?;
        }
        let mut all = Vec::new();
        for (i, r) in reqs.iter().enumerate() {
            all.extend(self.generate(r, out_dir, &mut |p| progress(i, p))?);
        }
        Ok(all)
    }
}

/// The PNG text chunks of an image: one per field, an A1111-style `parameters` line that other
/// image tools show, and the whole record as JSON.
fn text_chunks(m: &ImageMetadata) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![
        ("prompt".into(), m.prompt.clone()),
        ("negative_prompt".into(), m.negative_prompt.clone()),
        ("steps".into(), m.steps.to_string()),
        ("guidance_scale".into(), m.guidance_scale.to_string()),
        ("width".into(), m.width.to_string()),
        ("height".into(), m.height.to_string()),
        ("seed".into(), m.seed.to_string()),
        ("scheduler".into(), m.scheduler.to_string()),
        ("model".into(), m.model.clone()),
        ("dtype".into(), m.dtype.clone()),
        ("duration_s".into(), m.duration_s.to_string()),
        ("Software".into(), m.software.clone()),
        ("Creation Time".into(), m.created.clone()),
    ];
    v.push((
        "parameters".into(),
        format!(
            "{}\nNegative prompt: {}\nSteps: {}, Sampler: {}, CFG scale: {}, Seed: {}, Size: {}x{}, Model: {}",
            m.prompt, m.negative_prompt, m.steps, m.scheduler, m.guidance_scale, m.seed, m.width, m.height, m.model
        ),
    ));
    v.push(("thau".into(), serde_json::to_string(m).unwrap_or_default()));
    v
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<ImagePipeline>();
}
