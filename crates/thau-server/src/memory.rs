//! THAU's memory over HTTP: `/memory/remember`, `/search`, `/recall`, `/log`, `/forget` and
//! `/export`, thin wrappers over [`thau::memory`] on the database of `thau serve --memory PATH`.
//! Every request names its `user` (a user-bound API key is always its own user, see
//! [`crate::auth`]), and sees and changes only that user's memories. The store
//! is one SQLite connection behind a lock, used on blocking threads.

use crate::auth::Caller;
use crate::error::{body, ApiError, Flavor};
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use thau::memory::{recall, Filter, NewMemory, Retriever, SearchMode, SearchOptions};
use thau::tokenizer::Role;
use utoipa::{IntoParams, ToSchema};

const F: Flavor = Flavor::Ollama;

/// Most results one search or recall returns.
const MAX_RESULTS: usize = 1000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RememberRequest {
    /// Whose memory (every request sees only its user's; a user-bound key's own user
    /// whatever this says).
    pub user: Option<String>,
    pub text: String,
    /// fact (default), preference, event, note, ...
    pub kind: Option<String>,
    /// 1 (trivia) to 10 (never forget); default 5.
    pub importance: Option<u8>,
    pub session: Option<String>,
    /// Where it came from (free text).
    pub source: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// When it was learnt: RFC 3339, a date (YYYY-MM-DD), or words ("ayer"); default now.
    pub at: Option<String>,
}

/// Which memories: any of these narrows the set.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct FilterFields {
    pub session: Option<String>,
    /// Only these kinds.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// From this time on: RFC 3339, YYYY-MM-DD, or words ("la semana pasada", "last week").
    pub since: Option<String>,
    /// Before this time (same forms).
    pub until: Option<String>,
}

impl FilterFields {
    fn is_empty(&self) -> bool {
        self.session.is_none() && self.kinds.is_empty() && self.since.is_none() && self.until.is_none()
    }
    fn filter(&self, now: &DateTime<FixedOffset>) -> Result<Filter, ApiError> {
        Ok(Filter {
            session: self.session.clone(),
            kinds: self.kinds.clone(),
            since: self.since.as_deref().map(|s| when("since", s, false, now)).transpose()?,
            until: self.until.as_deref().map(|s| when("until", s, true, now)).transpose()?,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SearchRequest {
    pub user: Option<String>,
    pub query: String,
    /// How many memories (default 5, at most 1000).
    pub k: Option<usize>,
    /// hybrid (default), fulltext or vector.
    pub mode: Option<String>,
    #[serde(flatten)]
    pub filter: FilterFields,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallRequest {
    pub user: Option<String>,
    /// A question with a time expression: "¿qué hablamos ayer?", "what did we discuss last week?".
    pub question: String,
    /// Most turns (and memories) to return (default 50, at most 1000).
    pub limit: Option<usize>,
    /// "Now" as RFC 3339; its offset is the user's time zone for "ayer" (default: the server's clock and zone).
    pub now: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogRequest {
    pub user: Option<String>,
    /// user (default), assistant, system or tool.
    pub role: Option<String>,
    pub text: String,
    pub session: Option<String>,
    /// When it was said (RFC 3339, a date, or words); default now.
    pub at: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgetRequest {
    pub user: Option<String>,
    /// One memory by id.
    pub id: Option<i64>,
    /// Every memory of the user (and, with `turns`, every conversation).
    #[serde(default)]
    pub all: bool,
    /// Also delete conversations in the filtered time range / session.
    #[serde(default)]
    pub turns: bool,
    #[serde(flatten)]
    pub filter: FilterFields,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Whose memories and conversations.
    pub user: Option<String>,
}

/// Whose memory a request reaches: a user-bound key's own user, else the one it names.
fn user(caller: &Caller, named: Option<&str>, headers: &HeaderMap) -> Result<String, ApiError> {
    caller.named_user(named, headers, F)
}

/// A time as the client wrote it (see `thau::memory::parse_instant`), relative to the server's clock.
fn when(field: &str, s: &str, end: bool, now: &DateTime<FixedOffset>) -> Result<i64, ApiError> {
    thau::memory::parse_instant(field, s, end, now).map_err(|e| ApiError::from_thau(F, e))
}

fn limit(field: &str, v: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match v.unwrap_or(default) {
        0 => Err(ApiError::bad_request(F, format!("{field} must be at least 1"))),
        n if n > MAX_RESULTS => {
            Err(ApiError::bad_request(F, format!("{field} = {n} is over the limit of {MAX_RESULTS}")))
        }
        n => Ok(n),
    }
}

/// 503 when the server has no memory database (saying why), else Ok.
pub(crate) fn available(s: &AppState) -> Result<(), ApiError> {
    match &s.memory {
        Ok(_) => Ok(()),
        Err(why) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, F, why.clone())),
    }
}

/// Run `f` on the memory store on a blocking thread; 503 when the server has none.
pub(crate) async fn with_memory<T: Send + 'static>(
    s: &Arc<AppState>,
    f: impl FnOnce(&mut Retriever) -> thau::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    available(s)?;
    let s = s.clone();
    tokio::task::spawn_blocking(move || {
        let Ok(lock) = &s.memory else { unreachable!("checked above") };
        let mut mem = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut mem)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, F, format!("memory task failed: {e}")))?
    .map_err(|e| ApiError::from_thau(F, e))
}

/// Store a memory (embedded when the server has an embedding model); it is on disk when this answers.
#[utoipa::path(post, path = "/memory/remember", tag = "thau", request_body = RememberRequest,
    responses((status = 200, description = "The stored memory, with its id"),
              (status = 400, description = "Invalid input (empty text or user, importance outside 1..=10, bad time)"),
              (status = 503, description = "The server has no memory database")))]
pub async fn remember(
    State(s): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    req: Result<Json<RememberRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let r = body(F, req)?;
    let now = s.config.clock.now();
    let m = NewMemory {
        user: user(&caller, r.user.as_deref(), &headers)?,
        text: r.text,
        kind: r.kind.unwrap_or_else(|| "fact".into()),
        importance: r.importance.unwrap_or(5),
        session: r.session,
        source: r.source,
        tags: r.tags,
        created_at: Some(match r.at.as_deref() {
            Some(a) => when("at", a, false, &now)?,
            None => now.timestamp_millis(),
        }),
    };
    m.validate().map_err(|e| ApiError::from_thau(F, e))?;
    let (stored, semantic) = with_memory(&s, move |mem| Ok((mem.remember(&m)?, mem.semantic()))).await?;
    Ok(Json(json!({"memory": stored, "semantic": semantic})))
}

/// Find a user's memories: BM25 and sentence-embedding similarity fused, weighted by importance and recency.
#[utoipa::path(post, path = "/memory/search", tag = "thau", request_body = SearchRequest,
    responses((status = 200, description = "`hits`: memories with their score and ranks"),
              (status = 400, description = "Invalid input (vector mode without an embedding model, bad k or time)"),
              (status = 503, description = "The server has no memory database")))]
pub async fn search(
    State(s): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    req: Result<Json<SearchRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let r = body(F, req)?;
    let user = user(&caller, r.user.as_deref(), &headers)?;
    let mode = SearchMode::parse(r.mode.as_deref().unwrap_or("hybrid")).map_err(|e| ApiError::from_thau(F, e))?;
    if r.query.trim().is_empty() {
        return Err(ApiError::bad_request(F, "query is empty: say what to look for"));
    }
    let opts = SearchOptions {
        k: limit("k", r.k, 5)?,
        mode,
        filter: r.filter.filter(&s.config.clock.now())?,
        ..SearchOptions::default()
    };
    let query = r.query;
    let (hits, semantic) = with_memory(&s, move |mem| {
        let hits = mem.search(&user, &query, &opts)?;
        mem.store().touch(&hits.iter().map(|h| h.memory.id).collect::<Vec<_>>())?;
        Ok((hits, mem.semantic()))
    })
    .await?;
    Ok(Json(json!({"hits": hits, "semantic": semantic})))
}

/// What was said at a time: the question's time expression (Spanish or English) resolved to a range, its topic, the turns and memories of then.
#[utoipa::path(post, path = "/memory/recall", tag = "thau", request_body = RecallRequest,
    responses((status = 200, description = "The range, topic, turns, memories and episodes"),
              (status = 400, description = "Invalid input"),
              (status = 503, description = "The server has no memory database")))]
pub async fn recall_route(
    State(s): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    req: Result<Json<RecallRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let r = body(F, req)?;
    let user = user(&caller, r.user.as_deref(), &headers)?;
    if r.question.trim().is_empty() {
        return Err(ApiError::bad_request(F, "question is empty: ask e.g. \"¿qué hablamos ayer?\""));
    }
    let limit = limit("limit", r.limit, 50)?;
    let now = match r.now.as_deref() {
        None => s.config.clock.now(),
        Some(t) => DateTime::parse_from_rfc3339(t).map_err(|e| {
            ApiError::bad_request(F, format!("now '{t}' is not an RFC 3339 time ({e}): e.g. 2026-11-29T10:00:00+01:00"))
        })?,
    };
    let question = r.question;
    let found = with_memory(&s, move |mem| recall(mem.store(), &user, &question, &now, limit)).await?;
    Ok(Json(serde_json::to_value(found).unwrap_or(Value::Null)))
}

/// Add a conversation turn to the user's episodic log (a new conversation starts after 30 idle minutes).
#[utoipa::path(post, path = "/memory/log", tag = "thau", request_body = LogRequest,
    responses((status = 200, description = "The stored turn and its conversation"),
              (status = 400, description = "Invalid input (unknown role, empty text, bad time)"),
              (status = 503, description = "The server has no memory database")))]
pub async fn log(
    State(s): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    req: Result<Json<LogRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let r = body(F, req)?;
    let user = user(&caller, r.user.as_deref(), &headers)?;
    let role = Role::parse(r.role.as_deref().unwrap_or("user")).map_err(|e| ApiError::from_thau(F, e))?;
    if r.text.trim().is_empty() {
        return Err(ApiError::bad_request(F, "text is empty: nothing to log"));
    }
    let now = s.config.clock.now();
    let at = match r.at.as_deref() {
        Some(a) => when("at", a, false, &now)?,
        None => now.timestamp_millis(),
    };
    let (session, text) = (r.session, r.text);
    let (turn, episode) = with_memory(&s, move |mem| {
        let (turn, ep) = thau::memory::log_turn(mem.store_mut(), &user, session.as_deref(), role.as_str(), &text, at)?;
        Ok((turn, ep.id))
    })
    .await?;
    Ok(Json(json!({"turn": turn, "episode": episode})))
}

/// Delete memories of a user: one (`id`), all (`all`), or those passing the filters.
#[utoipa::path(post, path = "/memory/forget", tag = "thau", request_body = ForgetRequest,
    responses((status = 200, description = "`forgotten`: how many memories were deleted"),
              (status = 400, description = "Nothing to forget was named, or id combined with other filters"),
              (status = 404, description = "The user has no memory with that id"),
              (status = 503, description = "The server has no memory database")))]
pub async fn forget(
    State(s): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    req: Result<Json<ForgetRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let r = body(F, req)?;
    let user = user(&caller, r.user.as_deref(), &headers)?;
    match (r.id, r.all, r.filter.is_empty()) {
        (Some(id), false, true) => {
            let u = user.clone();
            if with_memory(&s, move |mem| mem.forget_id(&u, id)).await? {
                Ok(Json(json!({"forgotten": 1})))
            } else {
                Err(ApiError::not_found(F, format!("{user} has no memory #{id}: /memory/search shows ids")))
            }
        }
        (None, true, true) | (None, false, false) => {
            let filter = r.filter.filter(&s.config.clock.now())?;
            let turns = r.turns || r.all;
            let n = with_memory(&s, move |mem| mem.forget(&user, &filter, turns)).await?;
            Ok(Json(json!({"forgotten": n})))
        }
        (None, false, true) => Err(ApiError::bad_request(
            F,
            "say what to forget: \"id\": N, \"all\": true, or filters (session, kinds, since, until)",
        )),
        _ => Err(ApiError::bad_request(F, "id cannot be combined with all or filters")),
    }
}

/// A user's memories and conversations as JSON Lines (what `thau memory import` reads).
#[utoipa::path(get, path = "/memory/export", tag = "thau", params(ExportQuery),
    responses((status = 200, description = "application/x-ndjson: one memory or turn per line"),
              (status = 400, description = "No user given"),
              (status = 503, description = "The server has no memory database")))]
pub async fn export(
    State(s): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) =
        q.map_err(|e| ApiError::bad_request(F, format!("{}: call /memory/export?user=NAME", e.body_text())))?;
    let user = user(&caller, q.user.as_deref(), &headers)?;
    let lines = with_memory(&s, move |mem| {
        let mut out = Vec::new();
        thau::memory::export(mem.store(), &[user], &mut out)?;
        Ok(out)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], lines).into_response())
}
