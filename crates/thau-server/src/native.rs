//! THAU's own routes: `/health` and `/training/status`.

use crate::error::{ApiError, Flavor};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Liveness, the model, and how many requests are queued.
#[utoipa::path(get, path = "/health", tag = "thau", responses((status = 200, description = "The server is up")))]
pub async fn health(State(s): State<Arc<AppState>>) -> Json<Value> {
    let engine = s.engine();
    let i = engine.info();
    Json(json!({
        "status": "ok",
        "model": s.config.model_name,
        "weights": i.dtype.as_str(),
        "context": i.cfg.max_seq_len,
        "queued": s.pending.load(Ordering::Relaxed),
        "max_queue": s.config.max_queue,
        "decoding": engine.stats().active.load(Ordering::Relaxed),
        "max_batch": i.max_batch,
        "embedding_model": s.embedder.as_ref().map(|e| e.name.as_str()),
        "memory": s.memory.is_ok(),
        "serving": s.model.served(),
    }))
}

/// The training run's status: what `thau status --json` prints.
#[utoipa::path(get, path = "/training/status", tag = "thau",
    responses((status = 200, description = "Ages, steps, tokens, losses"),
              (status = 404, description = "The server was not started with a run folder")))]
pub async fn training_status(State(s): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let Some(run) = s.config.run_dir.clone() else {
        return Err(ApiError::not_found(
            Flavor::Ollama,
            "this server serves a model file, not a run: start it with --run DIR",
        ));
    };
    let status =
        tokio::task::spawn_blocking(move || thau::learn::status::run_status(&thau::checkpoint::RunDir::new(run)))
            .await
            .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, Flavor::Ollama, e.to_string()))?
            .map_err(|e| ApiError::from_thau(Flavor::Ollama, e))?;
    Ok(Json(serde_json::to_value(status).unwrap_or(Value::Null)))
}
