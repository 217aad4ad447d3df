//! Image routes: THAU's `POST /vision/generate` (the seed's fields), `GET /vision/image/{file}`,
//! and OpenAI's `POST /v1/images/generations`. Generation runs on tokio's blocking pool, one
//! image request at a time (the pipeline is loaded on first use and kept); each request holds
//! a place in the server's queue, so a full queue answers 429.

use crate::error::{body, ApiError, Flavor};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use thau::vision::{ImagePipeline, ImageRequest, ImageResult, LoadOptions, SchedulerKind};
use utoipa::ToSchema;

/// The image pipeline, loaded on the first image request.
#[derive(Default)]
pub struct VisionState {
    pipeline: Mutex<Option<Arc<ImagePipeline>>>,
}

impl VisionState {
    /// The loaded pipeline, loading it from `model` on first use (call on a blocking thread).
    fn get(&self, model: &std::path::Path) -> thau::Result<Arc<ImagePipeline>> {
        let mut slot = self.pipeline.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = slot.as_ref() {
            return Ok(p.clone());
        }
        let p = Arc::new(ImagePipeline::load(&model.to_string_lossy(), &LoadOptions::default())?);
        *slot = Some(p.clone());
        Ok(p)
    }
}

/// `POST /vision/generate`: the seed's `generate_image` fields.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GenerateBody {
    pub prompt: String,
    #[serde(default)]
    pub negative_prompt: Option<String>,
    /// Denoising steps (1-150, default 25).
    #[serde(default)]
    pub num_inference_steps: Option<usize>,
    /// Classifier-free guidance (default 7.5).
    #[serde(default)]
    pub guidance_scale: Option<f64>,
    #[serde(default)]
    pub width: Option<usize>,
    #[serde(default)]
    pub height: Option<usize>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// Images to make (default 1).
    #[serde(default)]
    pub count: Option<usize>,
    /// ddim (default), euler-a, euler, lcm.
    #[serde(default)]
    pub scheduler: Option<String>,
}

/// `POST /v1/images/generations` (OpenAI), plus THAU's optional extras.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OpenAiImageBody {
    pub prompt: String,
    /// Accepted and ignored: the server has one image model.
    #[serde(default)]
    #[allow(dead_code)]
    pub model: Option<String>,
    #[serde(default)]
    pub n: Option<usize>,
    /// "WIDTHxHEIGHT", default "512x512".
    #[serde(default)]
    pub size: Option<String>,
    /// "url" (default) or "b64_json".
    #[serde(default)]
    pub response_format: Option<String>,
    #[serde(default)]
    pub negative_prompt: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub steps: Option<usize>,
    #[serde(default)]
    pub guidance_scale: Option<f64>,
}

fn no_model(flavor: Flavor) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        flavor,
        "image generation is not configured: start the server with --image-model DIR \
         (a Stable Diffusion folder in the diffusers layout: text_encoder/, unet/, vae/, tokenizer/)",
    )
}

/// The server's own limits on an image request (size, count), then the library's checks.
fn check(s: &AppState, req: &ImageRequest) -> thau::Result<()> {
    let max = s.config.image_max_side;
    if req.width > max || req.height > max {
        return Err(thau::Error::invalid(
            "image size",
            format!("{}x{} is larger than this server allows ({max}x{max})", req.width, req.height),
        ));
    }
    if req.count > s.config.image_max_count {
        return Err(thau::Error::invalid(
            "image count",
            format!(
                "{} images asked for; this server makes at most {} per request",
                req.count, s.config.image_max_count
            ),
        ));
    }
    req.validate()
}

/// The URL `/vision/image/{file}` serves a saved image at.
pub(crate) fn image_url(path: &std::path::Path) -> String {
    format!("/vision/image/{}", path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default())
}

/// The server's image model as the `generate_image` tool of `/thau/chat`: loaded on first
/// use like the image routes, held to the same limits, its images saved where
/// `/vision/image/{file}` serves them.
pub(crate) struct ServerImages {
    pub state: Arc<AppState>,
    pub model: std::path::PathBuf,
}

impl thau::tools::ImageBackend for ServerImages {
    fn name(&self) -> String {
        format!("sd15 ({})", self.model.display())
    }

    fn generate(&self, req: &ImageRequest, _ctx: &thau::tools::ToolContext) -> thau::Result<Vec<std::path::PathBuf>> {
        check(&self.state, req)?;
        let pipeline = self.state.vision.get(&self.model)?;
        let made = pipeline.generate(req, &self.state.config.images_dir, &mut |_| {})?;
        Ok(made.into_iter().map(|m| m.path).collect())
    }
}

/// Check the server's own limits, then run `req` on the blocking pool.
async fn run(s: &Arc<AppState>, req: ImageRequest, flavor: Flavor) -> Result<Vec<ImageResult>, ApiError> {
    let Some(model) = s.config.image_model.clone() else {
        return Err(no_model(flavor));
    };
    check(s, &req).map_err(|e| ApiError::from_thau(flavor, e))?;
    let slot = s.enqueue(flavor)?;
    let state = s.clone();
    let dir = s.config.images_dir.clone();
    let res = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let pipeline = state.vision.get(&model)?;
        pipeline.generate(&req, &dir, &mut |_| {})
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, flavor, format!("image worker failed: {e}")))?;
    res.map_err(|e| {
        tracing::error!(error = %e, "image generation failed");
        ApiError::from_thau(flavor, e)
    })
}

/// Read a file on the blocking pool (the server's tokio has no `fs` feature).
async fn read_file(path: std::path::PathBuf) -> std::io::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || std::fs::read(path)).await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// Make images from a prompt; the first image's result (`success`, `path`, metadata) at the
/// top level as the seed returned it, every image under `images`, each with its `url`.
#[utoipa::path(post, path = "/vision/generate", tag = "thau", request_body = GenerateBody,
    responses((status = 200, description = "The images were made and saved"),
              (status = 400, description = "Bad prompt, size, steps or guidance"),
              (status = 503, description = "The server has no image model (--image-model)")))]
pub async fn generate(
    State(s): State<Arc<AppState>>,
    b: Result<Json<GenerateBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let f = Flavor::Ollama;
    let b = body(f, b)?;
    let d = ImageRequest::default();
    let scheduler = match b.scheduler.as_deref() {
        None => SchedulerKind::default(),
        Some(k) => k.parse().map_err(|e| ApiError::from_thau(f, e))?,
    };
    let req = ImageRequest {
        prompt: b.prompt,
        negative_prompt: b.negative_prompt.unwrap_or_default(),
        steps: b.num_inference_steps.unwrap_or(d.steps),
        guidance: b.guidance_scale.unwrap_or(d.guidance),
        width: b.width.unwrap_or(d.width),
        height: b.height.unwrap_or(d.height),
        seed: b.seed,
        count: b.count.unwrap_or(1),
        scheduler,
    };
    let results = run(&s, req, f).await?;
    let images: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
            v["url"] = image_url(&r.path).into();
            v
        })
        .collect();
    let mut top = images.first().cloned().unwrap_or_else(|| json!({"success": false}));
    top["images"] = Value::Array(images);
    Ok(Json(top))
}

/// Whether `name` is a plain file name THAU writes (no path, no hidden file).
fn plain_image_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && (name.ends_with(".png") || name.ends_with(".json"))
}

/// An image (or its `.json` sidecar) from the server's images folder, by plain file name.
#[utoipa::path(get, path = "/vision/image/{file}", tag = "thau",
    params(("file" = String, Path, description = "File name as /vision/generate returned it")),
    responses((status = 200, description = "The PNG or its JSON sidecar"),
              (status = 400, description = "Not a plain image file name"),
              (status = 404, description = "No such image")))]
pub async fn image_file(State(s): State<Arc<AppState>>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let f = Flavor::Ollama;
    if !plain_image_name(&file) {
        return Err(ApiError::bad_request(f, format!("{file:?} is not an image file name (NAME.png or NAME.json)")));
    }
    let path = s.config.images_dir.join(&file);
    let bytes = match read_file(path.clone()).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(f, format!("no image {file}")));
        }
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read image");
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, f, "cannot read the image"));
        }
    };
    let kind = if file.ends_with(".png") { "image/png" } else { "application/json" };
    Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
}

/// OpenAI's image generation: `data[i].url` (served by `/vision/image/`) or `data[i].b64_json`.
#[utoipa::path(post, path = "/v1/images/generations", tag = "openai", request_body = OpenAiImageBody,
    responses((status = 200, description = "The images"),
              (status = 400, description = "Bad prompt, size, n or response_format"),
              (status = 503, description = "The server has no image model (--image-model)")))]
pub async fn openai_generations(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    b: Result<Json<OpenAiImageBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let f = Flavor::OpenAi;
    let b = body(f, b)?;
    let format = b.response_format.as_deref().unwrap_or("url");
    if format != "url" && format != "b64_json" {
        return Err(ApiError::bad_request(f, format!("response_format {format:?}: use url or b64_json")));
    }
    let size = b.size.as_deref().unwrap_or("512x512");
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.trim().parse::<usize>().ok()?, h.trim().parse::<usize>().ok()?)))
        .ok_or_else(|| ApiError::bad_request(f, format!("size {size:?}: use WIDTHxHEIGHT such as 512x512")))?;
    let d = ImageRequest::default();
    let req = ImageRequest {
        prompt: b.prompt,
        negative_prompt: b.negative_prompt.unwrap_or_default(),
        steps: b.steps.unwrap_or(d.steps),
        guidance: b.guidance_scale.unwrap_or(d.guidance),
        width: w,
        height: h,
        seed: b.seed,
        count: b.n.unwrap_or(1),
        scheduler: SchedulerKind::default(),
    };
    let prompt = req.prompt.clone();
    let results = run(&s, req, f).await?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string);
    let mut data = Vec::new();
    for r in &results {
        let item = if format == "b64_json" {
            let bytes = read_file(r.path.clone()).await.map_err(|e| {
                tracing::error!(path = %r.path.display(), error = %e, "cannot read the new image");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, f, "cannot read the new image")
            })?;
            json!({"b64_json": base64::engine::general_purpose::STANDARD.encode(bytes), "revised_prompt": prompt})
        } else {
            let rel = image_url(&r.path);
            let url = host.as_ref().map_or(rel.clone(), |h| format!("http://{h}{rel}"));
            json!({"url": url, "revised_prompt": prompt})
        };
        data.push(item);
    }
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Ok(Json(json!({"created": created, "data": data})))
}

#[cfg(test)]
mod tests {
    use super::plain_image_name;

    #[test]
    fn only_plain_names_pass() {
        assert!(plain_image_name("thau-20261129-101010-7.png"));
        assert!(plain_image_name("thau-20261129-101010-7.json"));
        for bad in ["../secret.png", "..", ".hidden.png", "a/b.png", "a\\b.png", "x.txt", "", "%2e%2e.png", "a b.png"] {
            assert!(!plain_image_name(bad), "{bad}");
        }
    }
}
