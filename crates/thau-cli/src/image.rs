//! `thau image`: text to image with Stable Diffusion (library: `thau::vision`), one progress
//! bar step per denoising step; and `thau bench sd`, the timing behind bench/sd.sh.

use anyhow::{bail, Context, Result};
use candle_core::DType;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Instant;
use thau::vision::{ImagePipeline, ImageRequest, LoadOptions, Phase, PipelineConfig, SchedulerKind};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ImageDtype {
    F32,
    F16,
    Bf16,
}

impl From<ImageDtype> for DType {
    fn from(d: ImageDtype) -> Self {
        match d {
            ImageDtype::F32 => DType::F32,
            ImageDtype::F16 => DType::F16,
            ImageDtype::Bf16 => DType::BF16,
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct ImageArgs {
    /// What the image should show (CLIP reads the first 75 tokens).
    #[arg(required_unless_present = "batch")]
    pub(crate) prompt: Option<String>,
    /// A file of prompts, one per line (# comments and blank lines skipped); a line that is a
    /// JSON object sets that image's own fields (prompt, negative_prompt, steps, guidance,
    /// width, height, seed, count, scheduler) over the command's options.
    #[arg(long, conflicts_with = "prompt")]
    pub(crate) batch: Option<PathBuf>,
    /// What the image should not show.
    #[arg(long, default_value = "")]
    pub(crate) negative: String,
    /// Denoising steps (1-150).
    #[arg(long, default_value_t = 25)]
    pub(crate) steps: usize,
    /// Classifier-free guidance scale (1 turns guidance off: twice as fast, no negative prompt).
    #[arg(long, default_value_t = 7.5)]
    pub(crate) guidance: f64,
    /// Width in pixels (256-1024, a multiple of 8).
    #[arg(long, default_value_t = 512)]
    pub(crate) width: usize,
    /// Height in pixels (256-1024, a multiple of 8).
    #[arg(long, default_value_t = 512)]
    pub(crate) height: usize,
    /// Seed of the first image (image i uses seed + i); random when not given.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Images per prompt.
    #[arg(long, default_value_t = 1)]
    pub(crate) count: usize,
    /// Folder for the PNGs and their .json sidecars.
    #[arg(long, default_value = "images")]
    pub(crate) out: PathBuf,
    /// Stable Diffusion folder in the diffusers layout (text_encoder/, unet/, vae/, tokenizer/),
    /// or a hub id such as stable-diffusion-v1-5/stable-diffusion-v1-5 (downloaded once).
    #[arg(long, env = "THAU_IMAGE_MODEL")]
    pub(crate) model: Option<String>,
    /// Sampler: ddim, euler-a, euler, or lcm (for LCM-distilled weights, 2-8 steps).
    #[arg(long, default_value = "ddim")]
    pub(crate) scheduler: SchedulerKind,
    /// Weights and activations: f32, f16 (half the memory), bf16 (CUDA only).
    #[arg(long, value_enum, default_value_t = ImageDtype::F32)]
    pub(crate) dtype: ImageDtype,
    /// Print the results as JSON lines instead of sentences.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn image(a: ImageArgs, device: &candle_core::Device) -> Result<()> {
    let scheduler = a.scheduler;
    let base = ImageRequest {
        prompt: a.prompt.clone().unwrap_or_default(),
        negative_prompt: a.negative.clone(),
        steps: a.steps,
        guidance: a.guidance,
        width: a.width,
        height: a.height,
        seed: a.seed,
        count: a.count,
        scheduler,
    };
    let reqs = match &a.batch {
        Some(file) => read_batch(file, &base)?,
        None => vec![base],
    };
    // Check every request before spending time loading the model.
    for (i, r) in reqs.iter().enumerate() {
        r.validate()
            .with_context(|| if reqs.len() > 1 { format!("request {}", i + 1) } else { "the request".into() })?;
    }
    let Some(model) = a.model.as_deref() else {
        bail!(
            "no image model: pass --model DIR, a Stable Diffusion folder in the diffusers layout \
             (text_encoder/, unet/, vae/, tokenizer/), or --model stable-diffusion-v1-5/stable-diffusion-v1-5 \
             to download it (also THAU_IMAGE_MODEL)"
        );
    };
    let opts = LoadOptions { dtype: a.dtype.into(), device: device.clone(), hub_progress: !a.json };
    let t0 = Instant::now();
    eprintln!("loading {model} ({:?})", opts.dtype);
    let pipeline = ImagePipeline::load(model, &opts)?;
    eprintln!("loaded in {:.1}s", t0.elapsed().as_secs_f64());
    let bar = if a.json { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} steps · {msg} · {elapsed} (ETA {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let total = reqs.len();
    for (ri, r) in reqs.iter().enumerate() {
        let prompt_tokens =
            pipeline.tokenizer().encode(&r.prompt, pipeline.config().text_encoder.max_position_embeddings)?;
        if prompt_tokens.truncated {
            eprintln!(
                "warning: the prompt has {} tokens; CLIP reads the first {}, the rest is ignored",
                prompt_tokens.prompt_tokens,
                pipeline.config().text_encoder.max_position_embeddings - 2
            );
        }
        let results = pipeline.generate(r, &a.out, &mut |p| {
            let which = if total > 1 { format!("prompt {}/{total} ", ri + 1) } else { String::new() };
            bar.set_prefix(format!("{which}image {}/{}", p.image + 1, p.images));
            bar.set_length(p.steps as u64);
            match p.phase {
                Phase::Encoding => bar.set_message("encoding the prompt"),
                Phase::Denoising => {
                    if p.step == 1 {
                        bar.reset_elapsed();
                        bar.reset_eta();
                    }
                    bar.set_position(p.step as u64);
                    bar.set_message("denoising");
                }
                Phase::Decoding => bar.set_message("decoding"),
                Phase::Saved => {}
            }
        })?;
        for res in &results {
            if a.json {
                println!("{}", serde_json::to_string(res)?);
            } else {
                bar.println(format!(
                    "{} (seed {}, {} steps, {:.1}s)",
                    res.path.display(),
                    res.metadata.seed,
                    res.metadata.steps,
                    res.metadata.duration_s
                ));
            }
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// The requests of a `--batch` file, each starting from `base`.
fn read_batch(file: &Path, base: &ImageRequest) -> Result<Vec<ImageRequest>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read --batch {}", file.display()))?;
    let mut reqs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let r = if line.starts_with('{') {
            let mut v = serde_json::to_value(base)?;
            let over: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{} line {}: not a JSON object", file.display(), n + 1))?;
            let (Some(v_obj), Some(over)) = (v.as_object_mut(), over.as_object()) else {
                bail!("{} line {}: expected a JSON object", file.display(), n + 1);
            };
            for (k, val) in over {
                if !v_obj.contains_key(k) {
                    bail!("{} line {}: unknown field {k:?}", file.display(), n + 1);
                }
                v_obj.insert(k.clone(), val.clone());
            }
            serde_json::from_value(v).with_context(|| format!("{} line {}", file.display(), n + 1))?
        } else {
            ImageRequest { prompt: line.to_string(), ..base.clone() }
        };
        reqs.push(r);
    }
    if reqs.is_empty() {
        bail!("{} has no prompts (one per line)", file.display());
    }
    Ok(reqs)
}

/// `thau bench sd`: the real SD 1.5 networks with random weights, timed per UNet step, VAE
/// decode and text encoding at one size and dtype.
pub(crate) fn bench_sd(size: usize, steps: usize, dtype: ImageDtype, json: bool) -> Result<()> {
    let cfg = PipelineConfig::sd15();
    let opts = LoadOptions { dtype: dtype.into(), ..Default::default() };
    let scratch = tempfile_dir()?;
    let t0 = Instant::now();
    let p = thau::vision::random::random_pipeline(&cfg, &opts, &scratch)?;
    let load_s = t0.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&scratch);
    let req =
        ImageRequest { prompt: "a photo of a cat".into(), steps, width: size, height: size, ..Default::default() };
    let t = Instant::now();
    let (text, _) = p.encode_text(&req.prompt, "", true)?;
    let text_s = t.elapsed().as_secs_f64();
    let mut marks = vec![Instant::now()];
    let latents = p.denoise(&req, 1, &text, |_, _| marks.push(Instant::now()))?;
    let step_s: Vec<f64> = marks.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    let t = Instant::now();
    p.decode(&latents)?;
    let vae_s = t.elapsed().as_secs_f64();
    // The first step warms caches and allocations; report the median of the others.
    let mut rest: Vec<f64> = if step_s.len() > 1 { step_s[1..].to_vec() } else { step_s.clone() };
    rest.sort_by(f64::total_cmp);
    let unet_s = rest[rest.len() / 2];
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let per_image_20 = text_s + 20.0 * unet_s + vae_s;
    let v = serde_json::json!({
        "size": size, "dtype": format!("{:?}", DType::from(dtype)).to_lowercase(), "threads": threads,
        "steps_timed": steps, "unet_step_s": unet_s, "unet_steps_s": step_s, "vae_decode_s": vae_s,
        "text_encode_s": text_s, "per_image_20_steps_s": per_image_20, "build_s": load_s,
    });
    if json {
        println!("{v}");
    } else {
        println!(
            "SD 1.5 (random weights) {size}x{size} {:?}: {unet_s:.2} s per UNet step (batch 2, guided), \
             VAE decode {vae_s:.2} s, text {text_s:.2} s → {per_image_20:.0} s per 20-step image",
            DType::from(dtype)
        );
    }
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("thau-bench-sd-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
