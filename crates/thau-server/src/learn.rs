//! THAU's self-learning route: `POST /feedback` records thumbs up or down (and an optional
//! correction) on an assistant turn of the server's memory database (`--memory`, where the
//! conversations are logged), in the served run's learning store,
//! and answers with the learning schedule (whether enough feedback has accumulated for a
//! learning run). When the schedule is on and a run is due, the run starts on a background
//! thread (never on the request path; one at a time, under the run's lock). A kept run's new
//! checkpoint is swapped in by the server's weight check ([`crate::follow_weights`]) between
//! requests; `/health` says which checkpoint is served.

use crate::auth::Caller;
use crate::error::{ApiError, Flavor};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

/// The server's automatic learning: whether a run is going and what the last one did.
#[derive(Debug, Default)]
pub struct AutoLearn {
    running: AtomicBool,
    last: Mutex<Option<Value>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl AutoLearn {
    /// Whether this server's background learning run is going.
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// What the last background run did (None before the first).
    pub fn last(&self) -> Option<Value> {
        self.last.lock().map(|l| l.clone()).unwrap_or(None)
    }

    /// Wait for the background run, if one is going (tests, shutdown).
    pub fn join(&self) {
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// Start a learning run on `run` in a background thread if none is going; false if one is.
    fn start(self: &Arc<Self>, run: PathBuf, opts: thau::learn::LearnOptions) -> bool {
        if self.running.swap(true, Ordering::AcqRel) {
            return false;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new().name("thau-learn".into()).spawn(move || {
            let out = thau::learn::run_if_due(&run, &opts, "thau serve (schedule)", &mut |_| {});
            let note = match out {
                Ok(thau::learn::AutoOutcome::Ran(rec)) => {
                    let kept = rec.checkpoint_after.as_ref().map(|c| {
                        format!("new weights in {}: the server swaps them in at its next weight check", c.display())
                    });
                    match &kept {
                        Some(k) => tracing::info!(run = %rec.id, "learning run kept: {k}"),
                        None => tracing::info!(run = %rec.id, reasons = ?rec.gate.reasons, "learning run rolled back"),
                    }
                    json!({"run": rec.id, "outcome": rec.outcome, "checkpoint": rec.checkpoint_after, "message": kept})
                }
                Ok(thau::learn::AutoOutcome::NotDue(st)) => json!({"outcome": "not_due", "message": st.reason}),
                Ok(thau::learn::AutoOutcome::Busy(h)) => {
                    json!({"outcome": "busy", "message": format!("another learning run is going ({})", h.by)})
                }
                Err(e) => {
                    tracing::warn!(error = %e, "automatic learning run failed");
                    json!({"outcome": "failed", "message": e.to_string()})
                }
            };
            if let Ok(mut l) = me.last.lock() {
                *l = Some(note);
            }
            me.running.store(false, Ordering::Release);
        });
        match spawned {
            Ok(h) => {
                if let Ok(mut t) = self.thread.lock() {
                    *t = Some(h);
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the learning thread");
                self.running.store(false, Ordering::Release);
                false
            }
        }
    }
}

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
    /// Whose conversation (default "default"; a user-bound key's own user whatever this says).
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
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    req: Result<Json<FeedbackRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = req.map_err(|r| ApiError::from_json(Flavor::Ollama, r))?;
    let user = caller.user(req.user.as_deref(), &headers, Flavor::Ollama)?;
    let Some(run) = s.config.run_dir.clone() else {
        return Err(ApiError::not_found(Flavor::Ollama, "feedback needs a run: start the server with --run DIR"));
    };
    let auto_run = run.clone();
    let state = s.clone();
    let (out, schedule_user) = tokio::task::spawn_blocking(move || -> thau::Result<(Value, String)> {
        let rating = thau::learn::feedback::parse_rating(&req.rating)?;
        let store = thau::learn::LearnStore::open(&run)?;
        let user = user.as_str();
        // The turn is read from the database this server logs conversations to (`--memory`);
        // a server without one falls back to the run's or the default database.
        let served = state.memory.as_ref().ok().map(|m| m.lock().unwrap_or_else(|e| e.into_inner()));
        let fallback = match &served {
            Some(_) => None,
            None => thau::learn::schedule::conversation_db(&run, None)
                .map(|p| thau::memory::MemoryStore::open(&p))
                .transpose()?,
        };
        let memory = served.as_ref().map(|r| r.store()).or(fallback.as_ref());
        let f = thau::learn::feedback::record(&store, memory, user, req.turn_id, rating, req.correction.as_deref())?;
        drop(served);
        let db = thau::learn::schedule::conversation_db(&run, state.config.memory_db.as_deref());
        let schedule = thau::learn::schedule::status(&run, &store, db.as_deref(), state.config.clock.now_ms())?;
        let user = schedule.schedule.user.clone();
        Ok((json!({"feedback": f, "learning": schedule}), user))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, Flavor::Ollama, e.to_string()))?
    .map_err(|e| ApiError::from_thau(Flavor::Ollama, e))?;
    let mut out = out;
    // The learning run reads the conversations where this server logs them.
    let mut opts = s.config.learn_options.clone();
    if let (None, Some(db)) = (&opts.memory, &s.config.memory_db) {
        opts.memory = Some(thau::learn::MemorySource { db: db.clone(), user: schedule_user });
    }
    let started = out["learning"]["due"].as_bool() == Some(true) && s.auto_learn.start(auto_run, opts);
    out["auto_learning"] = json!({"started": started, "running": s.auto_learn.running(), "last": s.auto_learn.last()});
    Ok(Json(out))
}
