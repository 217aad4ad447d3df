//! The `generate_image` tool: turns the call's arguments into a vision [`ImageRequest`] and
//! hands it to an [`ImageBackend`] (the Stable Diffusion pipeline of `thau::vision`), answering
//! with the paths of the saved images.

use super::registry::{Tool, ToolContext, ToolOutput};
use super::spec::ToolSpec;
use crate::error::{Error, Result};
use crate::vision::ImageRequest;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The request a `generate_image` call's (schema-checked) arguments describe; unset values
/// take the pipeline's defaults, and the seed, when not given, is drawn from the clock so the
/// answer can report it.
pub fn image_request(args: &Value) -> ImageRequest {
    let d = ImageRequest::default();
    let u = |k: &str, d: usize| args.get(k).and_then(Value::as_u64).map_or(d, |v| v as usize);
    let seed = args.get("seed").and_then(Value::as_u64).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    });
    ImageRequest {
        prompt: args.get("prompt").and_then(Value::as_str).unwrap_or_default().to_string(),
        negative_prompt: args.get("negative_prompt").and_then(Value::as_str).unwrap_or_default().to_string(),
        width: u("width", d.width),
        height: u("height", d.height),
        steps: u("steps", d.steps),
        guidance: args.get("guidance").and_then(Value::as_f64).unwrap_or(d.guidance),
        seed: Some(seed),
        count: u("count", d.count),
        ..d
    }
}

/// Something that draws images and saves them (the vision pipeline; a tiny random-weight
/// pipeline in tests).
pub trait ImageBackend: Send + Sync {
    /// A name for logs and the answer ("sd15 (runs/sd)").
    fn name(&self) -> String;
    /// Draw `req.count` images, save them, return their paths. Should give up once
    /// `ctx.cancelled()`.
    fn generate(&self, req: &ImageRequest, ctx: &ToolContext) -> Result<Vec<PathBuf>>;
}

/// The Stable Diffusion pipeline of [`crate::vision`] as a backend: images and their JSON
/// sidecars are saved in `out_dir`.
pub struct VisionBackend {
    pipeline: crate::vision::ImagePipeline,
    out_dir: PathBuf,
}

impl VisionBackend {
    /// Save into `out_dir` (created when missing).
    pub fn new(pipeline: crate::vision::ImagePipeline, out_dir: impl Into<PathBuf>) -> Result<Self> {
        let out_dir = out_dir.into();
        std::fs::create_dir_all(&out_dir).map_err(|e| Error::io(&out_dir, e))?;
        Ok(Self { pipeline, out_dir })
    }
}

impl ImageBackend for VisionBackend {
    fn name(&self) -> String {
        self.pipeline.name().to_string()
    }

    /// The pipeline cannot be interrupted between steps from here: past the deadline the
    /// registry stops waiting and the images still being made are saved when they finish.
    fn generate(&self, req: &ImageRequest, _ctx: &ToolContext) -> Result<Vec<PathBuf>> {
        let made = self.pipeline.generate(req, &self.out_dir, &mut |_| {})?;
        Ok(made.into_iter().map(|m| m.path).collect())
    }
}

/// The `generate_image` built-in.
#[derive(Clone)]
pub struct GenerateImage {
    backend: Option<Arc<dyn ImageBackend>>,
    timeout: Duration,
}

impl std::fmt::Debug for GenerateImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateImage").field("backend", &self.backend.as_ref().map(|b| b.name())).finish()
    }
}

impl GenerateImage {
    /// With a backend; images may take `timeout` (Stable Diffusion on a CPU takes minutes).
    pub fn new(backend: Arc<dyn ImageBackend>, timeout: Duration) -> Self {
        Self { backend: Some(backend), timeout }
    }

    /// Without a backend: every call answers that no image model is loaded (so the model
    /// learns why, and the user how to fix it).
    pub fn unavailable() -> Self {
        Self { backend: None, timeout: Duration::from_secs(1) }
    }
}

impl Tool for GenerateImage {
    fn spec(&self) -> ToolSpec {
        super::builtin_spec("generate_image")
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.timeout)
    }

    fn call(&self, args: &Value, ctx: &ToolContext) -> Result<ToolOutput> {
        let Some(backend) = &self.backend else {
            return Err(Error::invalid(
                "generate_image",
                "no image model is loaded: start the chat with --image-model DIR (a Stable Diffusion folder)",
            ));
        };
        let req = image_request(args);
        tracing::info!(backend = %backend.name(), prompt = %req.prompt, width = req.width, height = req.height, "generating images");
        let files = backend.generate(&req, ctx)?;
        if files.is_empty() {
            return Err(Error::invalid("generate_image", "the image model produced no image"));
        }
        let list: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        // One path a line: the shape the tool-calling training data gives image results.
        let text = list.join("\n");
        Ok(ToolOutput {
            text,
            data: Some(
                json!({"paths": list, "prompt": req.prompt, "seed": req.seed, "width": req.width, "height": req.height}),
            ),
            files,
        })
    }
}
