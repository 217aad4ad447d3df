//! THAU's self-learning route: `POST /feedback` records thumbs up or down (and an optional
//! correction) on an assistant turn of the memory store, in the served run's learning store,
//! and answers with the learning schedule (whether enough feedback has accumulated for a
//! learning run).

use crate::error::{ApiError, Flavor};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use utoipa::ToSchema;

/// Feedback on one assistant turn.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FeedbackRequest {
    /// The assistant turn's id in the memory store.
    pub turn_id: i64,
    /// "up" or "down".
    pub rating: String,
    /// The right answer, when the turn was wrong.
    #[serde(default)]
    pub correction: Option<String>,
    /// Whose conversation (default "default").
    #[serde(default)]
    pub user: Option<String>,
}

/// Record feedback on a turn (stored durably before the reply).
#[utoipa::path(post, path = "/feedback", tag = "thau", request_body = FeedbackRequest,
    responses((status = 200, description = "Recorded: the feedback and the learning schedule"),
              (status = 400, description = "Bad rating, unknown turn or not an assistant turn"),
              (status = 404, description = "The server was not started with a run folder")))]
pub async fn feedback(
    State(s): State<Arc<AppState>>,
    req: Result<Json<FeedbackRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = req.map_err(|r| ApiError::from_json(Flavor::Ollama, r))?;
    let Some(run) = s.config.run_dir.clone() else {
        return Err(ApiError::not_found(Flavor::Ollama, "feedback needs a run: start the server with --run DIR"));
    };
    let out = tokio::task::spawn_blocking(move || -> thau::Result<Value> {
        let rating = thau::learn::feedback::parse_rating(&req.rating)?;
        let store = thau::learn::LearnStore::open(&run)?;
        // The conversations live in the run's memory database, else in `thau memory`'s default one.
        let db = [run.join("memory.sqlite"), thau::memory::default_db_path()].into_iter().find(|p| p.exists());
        let memory = db.map(|p| thau::memory::MemoryStore::open(&p)).transpose()?;
        let user = req.user.as_deref().unwrap_or("default");
        let f = thau::learn::feedback::record(
            &store,
            memory.as_ref(),
            user,
            req.turn_id,
            rating,
            req.correction.as_deref(),
        )?;
        let schedule = thau::learn::schedule::status(&run, &store, thau::memory::now_ms())?;
        Ok(json!({"feedback": f, "learning": schedule}))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, Flavor::Ollama, e.to_string()))?
    .map_err(|e| ApiError::from_thau(Flavor::Ollama, e))?;
    Ok(Json(out))
}
