//! Sentence embeddings over HTTP: OpenAI's `POST /v1/embeddings` and Ollama's `POST /api/embed`
//! (and its older `POST /api/embeddings`), computed by the memory module's embedding model
//! (`thau serve --embedding-model DIR|HUB_ID`, or `THAU_EMBEDDING_MODEL`). The encoder runs on
//! a blocking thread, one request at a time, so the async runtime keeps serving.

use crate::error::{body, ApiError, Flavor};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use thau::memory::{Embedder, TextRole, EMBEDDING_MODEL_ENV};
use utoipa::ToSchema;

/// `input`: one text or several. (OpenAI also takes token ids; THAU asks for text.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Input {
    One(String),
    #[schema(value_type = Vec<String>)]
    Many(Vec<Value>),
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: Input,
    /// `float` (default) or `base64` (little-endian f32 bytes).
    pub encoding_format: Option<String>,
    /// Must be the model's own size when given (vectors are not shortened).
    pub dimensions: Option<usize>,
    /// Accepted for compatibility; not used.
    #[allow(dead_code)]
    pub user: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmbedRequest {
    pub model: String,
    pub input: Input,
    /// Cut texts longer than the model reads (default true; false refuses them instead).
    pub truncate: Option<bool>,
    pub dimensions: Option<usize>,
    /// Accepted for compatibility: THAU keeps its one model loaded.
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    pub keep_alive: Option<Value>,
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    pub options: Option<Value>,
}

/// The older single-text Ollama form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LegacyEmbeddingsRequest {
    pub model: String,
    pub prompt: String,
}

/// The texts of `input`, checked: at least one, none empty, all strings, at most `max`.
fn texts(flavor: Flavor, input: Input, max: usize) -> Result<Vec<String>, ApiError> {
    let texts = match input {
        Input::One(t) => vec![t],
        Input::Many(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                Value::Number(_) | Value::Array(_) => Err(ApiError::bad_request(
                    flavor,
                    "input holds token ids: THAU's embedding model has its own tokenizer, send the texts as strings",
                )),
                other => Err(ApiError::bad_request(flavor, format!("input[{i}] is {other}, not a string"))),
            })
            .collect::<Result<_, _>>()?,
    };
    if texts.is_empty() {
        return Err(ApiError::bad_request(flavor, "input is empty: send a string or a list of strings"));
    }
    if texts.len() > max {
        return Err(ApiError::bad_request(
            flavor,
            format!("{} inputs in one request; the limit is {max}: split them into several requests", texts.len()),
        ));
    }
    if let Some(i) = texts.iter().position(|t| t.is_empty()) {
        return Err(ApiError::bad_request(flavor, format!("input[{i}] is an empty string: nothing to embed")));
    }
    Ok(texts)
}

/// The loaded model `name` refers to, or a 404 saying what is served / how to load one.
fn model<'a>(s: &'a AppState, flavor: Flavor, name: &str) -> Result<&'a Arc<Embedder>, ApiError> {
    let mut err = match &s.embedder {
        Some(e) if e.is(name) => return Ok(&e.model),
        Some(e) => ApiError::not_found(
            flavor,
            format!("the embedding model '{name}' does not exist: this server embeds with '{}'", e.name),
        ),
        None => ApiError::not_found(
            flavor,
            format!(
                "no embedding model is loaded, so '{name}' cannot embed: start thau serve with \
                 --embedding-model DIR|HUB_ID (a BERT sentence-embedding folder such as all-MiniLM-L6-v2, \
                 or a Hugging Face id) or set {EMBEDDING_MODEL_ENV}"
            ),
        ),
    };
    err.code = Some("model_not_found");
    Err(err)
}

fn check_dimensions(flavor: Flavor, e: &Embedder, dims: Option<usize>) -> Result<(), ApiError> {
    match dims {
        Some(d) if d != e.dim() => Err(ApiError::bad_request(
            flavor,
            format!("dimensions = {d}, but this model's vectors have {} (leave dimensions out)", e.dim()),
        )),
        _ => Ok(()),
    }
}

/// Vectors and token counts of `texts`, computed on a blocking thread (one request at a time).
/// With `refuse_long`, a text longer than the model reads is an error instead of being cut.
async fn embed(
    s: &Arc<AppState>,
    flavor: Flavor,
    model: Arc<Embedder>,
    texts: Vec<String>,
    refuse_long: bool,
) -> Result<(Vec<Vec<f32>>, Vec<usize>), ApiError> {
    let _slot = s.enqueue(flavor)?;
    let _turn = s
        .embed_lock
        .acquire()
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, flavor, "the server is shutting down"))?;
    let work = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let counts = model.token_counts(&refs)?;
        if refuse_long {
            if let Some(i) = counts.iter().position(|&c| c >= thau::memory::MAX_TOKENS) {
                return Err(thau::Error::invalid(
                    "input",
                    format!(
                        "input[{i}] is longer than the {} tokens the model reads: shorten it or send truncate: true",
                        thau::memory::MAX_TOKENS
                    ),
                ));
            }
        }
        Ok((model.embed(&refs, TextRole::Passage)?, counts))
    });
    work.await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, flavor, format!("embedding task failed: {e}")))?
        .map_err(|e| ApiError::from_thau(flavor, e))
}

/// Create embeddings (OpenAI).
#[utoipa::path(post, path = "/v1/embeddings", tag = "openai", request_body = EmbeddingRequest,
    responses((status = 200, description = "A list of embedding objects and usage"),
              (status = 400, description = "Invalid input"),
              (status = 404, description = "Unknown model, or no embedding model loaded"),
              (status = 429, description = "Queue full")))]
pub async fn openai_embeddings(
    State(s): State<Arc<AppState>>,
    req: Result<Json<EmbeddingRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    const F: Flavor = Flavor::OpenAi;
    let req = body(F, req)?;
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                F,
                format!("encoding_format '{other}' is not known: use float or base64"),
            ))
        }
    };
    let m = model(&s, F, &req.model)?.clone();
    check_dimensions(F, &m, req.dimensions)?;
    let texts = texts(F, req.input, s.config.max_embed_inputs)?;
    let (vectors, counts) = embed(&s, F, m, texts, false).await?;
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let tokens: usize = counts.iter().sum();
    Ok(Json(json!({
        "object": "list", "data": data, "model": req.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })))
}

/// Generate embeddings (Ollama).
#[utoipa::path(post, path = "/api/embed", tag = "ollama", request_body = EmbedRequest,
    responses((status = 200, description = "`embeddings`: one vector per input"),
              (status = 400, description = "Invalid input"),
              (status = 404, description = "Unknown model, or no embedding model loaded")))]
pub async fn ollama_embed(
    State(s): State<Arc<AppState>>,
    req: Result<Json<EmbedRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    const F: Flavor = Flavor::Ollama;
    let started = Instant::now();
    let req = body(F, req)?;
    let m = model(&s, F, &req.model)?.clone();
    check_dimensions(F, &m, req.dimensions)?;
    let texts = texts(F, req.input, s.config.max_embed_inputs)?;
    let (vectors, counts) = embed(&s, F, m, texts, !req.truncate.unwrap_or(true)).await?;
    Ok(Json(json!({
        "model": req.model, "embeddings": vectors,
        "total_duration": started.elapsed().as_nanos() as u64, "load_duration": 0,
        "prompt_eval_count": counts.iter().sum::<usize>(),
    })))
}

/// Generate one embedding (Ollama's older route).
#[utoipa::path(post, path = "/api/embeddings", tag = "ollama", request_body = LegacyEmbeddingsRequest,
    responses((status = 200, description = "`embedding`: the prompt's vector"),
              (status = 400, description = "Invalid input"),
              (status = 404, description = "Unknown model, or no embedding model loaded")))]
pub async fn ollama_embeddings(
    State(s): State<Arc<AppState>>,
    req: Result<Json<LegacyEmbeddingsRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    const F: Flavor = Flavor::Ollama;
    let req = body(F, req)?;
    let m = model(&s, F, &req.model)?.clone();
    let texts = texts(F, Input::One(req.prompt), 1)?;
    let (mut vectors, _) = embed(&s, F, m, texts, false).await?;
    Ok(Json(json!({"embedding": vectors.pop().unwrap_or_default()})))
}
