//! THAU's native chat, for the web page and scripts: `POST /thau/chat` runs one turn of a
//! [`thau::assistant::Session`] (the conversation logged, memories and earlier conversations
//! in the prompt, tools run on the server, feedback by turn id) and streams what happens as
//! NDJSON events; `GET /thau/conversations` and `GET /thau/conversations/{id}` list and read
//! the stored conversations. All the rules live in the library; this file maps HTTP to it.
//!
//! Events, one JSON object per line, each with a `type`:
//! `conversation` (id, user_turn) · `remembered` (memory) · `memories` (the memory report) ·
//! `text` (text) · `tool_call` (name, arguments) · `tool_result` (name, text or error) ·
//! `done` (turn_id, conversation, answer, finish, usage, memory) · `error` (message).

use crate::auth::Caller;
use crate::error::{ApiError, Flavor};
use crate::memory::with_memory;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use thau::assistant::{Assistant, AssistantEvent, AssistantOptions, ContextOptions, Reply, Session, Toolbox};
use thau::infer::{GenerateOptions, SamplingOptions};
use thau::tools::{LoopEvent, LoopOptions, Registry, ToolChoice};
use tokio_stream::wrappers::ReceiverStream;
use utoipa::{IntoParams, ToSchema};

const F: Flavor = Flavor::Ollama;

/// One turn of a conversation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// What the person says.
    pub message: String,
    /// Whose conversation (default "default"; a user-bound key's own user whatever this says).
    pub user: Option<String>,
    /// Continue this stored conversation; without it a new one starts.
    pub conversation: Option<String>,
    /// System prompt (default THAU's).
    pub system: Option<String>,
    /// Let the model call the built-in tools (calculator, current_datetime, and the memory
    /// tools when the server has a memory database); default true.
    pub tools: Option<bool>,
    /// Which tool the first generation must call, as OpenAI's `tool_choice`: "auto"
    /// (default), "none", "required", or `{"type": "function", "function": {"name": "generate_image"}}`.
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<Value>,
    /// Put relevant memories and earlier conversations into the prompt; default true.
    pub memory_inject: Option<bool>,
    /// Stream NDJSON events (default) or answer with one JSON object.
    pub stream: Option<bool>,
    pub max_tokens: Option<usize>,
    pub temperature: Option<f32>,
    pub seed: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UserQuery {
    /// Whose conversations (default "default"; a user-bound key's own user whatever this says).
    pub user: Option<String>,
    /// Most conversations to list (default 50).
    pub limit: Option<usize>,
}

/// A blocking call on the library, its error mapped to a status.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> thau::Result<T> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, F, e.to_string()))?
        .map_err(|e| ApiError::from_thau(F, e))
}

/// How long one generate_image call may take (Stable Diffusion on a CPU takes minutes).
const IMAGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20 * 60);

/// The tools of a native chat turn for `user`: generate_image on the server's image model
/// (when it has one), the memory tools on its database, calculator and date.
fn toolbox(s: &Arc<AppState>, user: &str) -> thau::Result<Toolbox> {
    let image = match &s.config.image_model {
        Some(model) => {
            let backend = crate::vision::ServerImages { state: s.clone(), model: model.clone() };
            thau::tools::GenerateImage::new(Arc::new(backend), IMAGE_TIMEOUT)
        }
        None => thau::tools::GenerateImage::unavailable(),
    };
    let memory = match s.config.memory_db.as_deref().filter(|_| s.memory.is_ok()) {
        // The memory tools get a connection of their own; the embedder is shared.
        Some(db) => {
            let store = thau::memory::MemoryStore::open(db)?;
            let embedder = s.embedder.as_ref().map(|e| e.model.clone());
            Some(thau::tools::MemoryAccess::new(thau::memory::Retriever::with_shared_embedder(store, embedder)?, user))
        }
        None => None,
    };
    Ok(Toolbox { registry: Registry::builtins(image, memory)?, trie: crate::tools::trie(s) })
}

/// An assistant event as the JSON line a client reads (None: nothing to send).
fn event_json(ev: AssistantEvent<'_>) -> Option<Value> {
    Some(match ev {
        AssistantEvent::Logged { turn_id, conversation } => {
            json!({"type": "conversation", "id": conversation, "user_turn": turn_id})
        }
        AssistantEvent::Remembered(m) => json!({"type": "remembered", "memory": m}),
        AssistantEvent::Context(r) => json!({"type": "memories", "report": r}),
        AssistantEvent::Loop(LoopEvent::Text(t)) => json!({"type": "text", "text": t}),
        AssistantEvent::Loop(LoopEvent::Call(c)) => {
            json!({"type": "tool_call", "name": c.name, "arguments": c.arguments})
        }
        AssistantEvent::Loop(LoopEvent::Result { call, result }) => match result {
            Ok(out) => {
                let urls: Vec<String> = out.files.iter().map(|f| crate::vision::image_url(f)).collect();
                json!({"type": "tool_result", "name": call.name, "text": out.text, "files": out.files, "urls": urls})
            }
            Err(e) => json!({"type": "tool_result", "name": call.name, "error": e.to_string()}),
        },
        AssistantEvent::Loop(LoopEvent::Malformed(e)) => json!({"type": "tool_result", "error": e.to_string()}),
        AssistantEvent::Loop(LoopEvent::Started { .. }) => return None,
    })
}

fn done_json(r: &Reply) -> Value {
    json!({"type": "done", "turn_id": r.turn_id, "user_turn": r.user_turn, "conversation": r.conversation,
           "answer": r.answer, "finish": r.finish, "rounds": r.rounds, "usage": r.usage, "memory": r.memory,
           "remembered": r.remembered})
}

/// Chat with THAU: one turn, logged, with memory and tools.
#[utoipa::path(post, path = "/thau/chat", tag = "thau", request_body = ChatRequest,
    responses((status = 200, description = "application/x-ndjson events (see the module docs), or one JSON object with stream: false"),
              (status = 400, description = "Empty message, bad settings or conversation id"),
              (status = 404, description = "The user has no such conversation"),
              (status = 429, description = "The queue is full")))]
pub async fn chat(
    State(s): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    req: Result<Json<ChatRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = req.map_err(|r| ApiError::from_json(F, r))?;
    let user = caller.user(req.user.as_deref(), &headers, F)?;
    if req.message.trim().is_empty() {
        return Err(ApiError::bad_request(F, "message is empty: say something"));
    }
    if req.conversation.is_some() {
        crate::memory::available(&s)?;
    }
    let mut generate = GenerateOptions::default();
    if let Some(n) = req.max_tokens {
        generate.max_tokens = n;
    }
    if let Some(t) = req.temperature {
        generate.sampling.temperature = t;
    }
    generate.sampling.seed = req.seed.unwrap_or_else(crate::openai::rand_seed);
    if generate.sampling.temperature == 0.0 {
        generate.sampling = SamplingOptions { seed: generate.sampling.seed, ..SamplingOptions::greedy() };
    }
    generate.validate().map_err(|e| ApiError::from_thau(F, e))?;
    let choice = crate::tools::choice_of(req.tool_choice.as_ref()).map_err(|e| ApiError::bad_request(F, e))?;
    if req.tools == Some(false) && !matches!(choice, ToolChoice::Auto | ToolChoice::None) {
        return Err(ApiError::bad_request(F, "tool_choice asks for a tool call but tools is false"));
    }
    let options = AssistantOptions {
        system: req.system.clone().unwrap_or_else(|| thau::assistant::DEFAULT_SYSTEM.into()),
        context: ContextOptions { inject: req.memory_inject.unwrap_or(true), ..ContextOptions::default() },
        remember_requests: true,
        tool_loop: LoopOptions { generate, choice, ..LoopOptions::default() },
    };
    // Open the session before answering, so an unknown conversation is a 404, not a stream.
    let state = s.clone();
    let (u, conv) = (user.clone(), req.conversation.clone());
    let session = blocking(move || match (&conv, &state.memory) {
        (Some(id), Ok(m)) => Session::open(m.lock().unwrap_or_else(|e| e.into_inner()).store(), &u, id),
        _ => Session::new(&u),
    })
    .await?;
    let with_tools = req.tools.unwrap_or(true);
    let slot = s.enqueue(F)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Value>(64);
    let state = s.clone();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let mut session = session;
        let toolbox = match with_tools.then(|| toolbox(&state, &user)).transpose() {
            Ok(t) => t,
            Err(e) => {
                let _ = tx.blocking_send(json!({"type": "error", "message": e.to_string()}));
                return;
            }
        };
        let clock = state.config.clock.clone();
        // The whole turn (every tool round) runs on one set of weights.
        let engine = state.engine();
        let a = Assistant {
            engine: &engine,
            tools: toolbox.as_ref(),
            memory: state.memory.as_ref().ok(),
            clock: &clock,
            options: &options,
        };
        let cancel = AtomicBool::new(false);
        let out = session.send(&a, &req.message, Some(&cancel), &mut |ev| {
            if let Some(v) = event_json(ev) {
                // The client left: stop writing the answer.
                if tx.blocking_send(v).is_err() {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
        });
        let last = match out {
            Ok(r) => done_json(&r),
            Err(e) => json!({"type": "error", "message": e.to_string()}),
        };
        let _ = tx.blocking_send(last);
    });
    if req.stream == Some(false) {
        let mut rx = rx;
        let mut events = Vec::new();
        while let Some(v) = rx.recv().await {
            events.push(v);
        }
        let last = events.pop().unwrap_or(Value::Null);
        if last["type"] == "error" {
            return Err(ApiError::bad_request(F, last["message"].as_str().unwrap_or_default()));
        }
        let mut out = last;
        out["events"] = Value::Array(events);
        return Ok(Json(out).into_response());
    }
    let lines =
        futures_util::StreamExt::map(ReceiverStream::new(rx), |v| Ok::<_, std::convert::Infallible>(format!("{v}\n")));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(lines)).into_response())
}

/// The user's stored conversations, most recent first.
#[utoipa::path(get, path = "/thau/conversations", tag = "thau", params(UserQuery),
    responses((status = 200, description = "id, title, turns, created_at, updated_at of each"),
              (status = 503, description = "The server has no memory database")))]
pub async fn conversations(
    State(s): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    q: Result<Query<UserQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(F, e.body_text()))?;
    let user = caller.user(q.user.as_deref(), &headers, F)?;
    let list = with_memory(&s, move |r| r.store().conversations(&user, q.limit.unwrap_or(50).min(1000))).await?;
    Ok(Json(json!({"conversations": list})))
}

/// One conversation's turns, with the ids feedback names.
#[utoipa::path(get, path = "/thau/conversations/{id}", tag = "thau", params(("id" = String, Path), UserQuery),
    responses((status = 200, description = "The conversation and its messages"),
              (status = 404, description = "The user has no such conversation"),
              (status = 503, description = "The server has no memory database")))]
pub async fn conversation(
    State(s): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<UserQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(F, e.body_text()))?;
    let user = caller.user(q.user.as_deref(), &headers, F)?;
    let (c, messages) = with_memory(&s, move |r| {
        Ok((r.store().conversation(&user, &id)?, r.store().conversation_messages(&user, &id)?))
    })
    .await?;
    Ok(Json(json!({"conversation": c, "messages": messages})))
}
