//! OpenAI-compatible routes: `/v1/chat/completions`, `/v1/completions` (JSON or SSE streaming
//! ending in `data: [DONE]`) and `/v1/models`.

use crate::api_memory::ApiTurn;
use crate::auth::Caller;
use crate::bridge;
use crate::error::{body, ApiError, Flavor};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::{stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use thau::infer::{Completion, Event, FinishReason, GenerateOptions, Prompt, Request, SamplingOptions};
use thau::tokenizer::{Message, Role};
use tokio_stream::wrappers::ReceiverStream;
use utoipa::ToSchema;

const F: Flavor = Flavor::OpenAi;

/// `stop`: one string or a list.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// Message content: a string, or a list of parts of which the text ones are used.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    #[schema(value_type = Vec<Object>)]
    Parts(Vec<Value>),
}

impl Content {
    fn text(self) -> Result<String, ApiError> {
        match self {
            Content::Text(t) => Ok(t),
            Content::Parts(parts) => {
                let mut out = String::new();
                for p in parts {
                    match (p.get("type").and_then(Value::as_str), p.get("text").and_then(Value::as_str)) {
                        (Some("text"), Some(t)) => out.push_str(t),
                        (kind, _) => {
                            return Err(ApiError::bad_request(
                                F,
                                format!("content part of type {kind:?} is not supported: send text parts"),
                            ))
                        }
                    }
                }
                Ok(out)
            }
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OpenAiMessage {
    /// system, user, assistant, or tool (developer is taken as system).
    pub role: String,
    pub content: Option<Content>,
    /// An assistant message's calls: `[{"id", "type": "function", "function": {"name", "arguments"}}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tool_calls: Option<Vec<Value>>,
    /// A tool message's call id (accepted; THAU matches results to calls by order).
    #[allow(dead_code)]
    pub tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatCompletionRequest {
    pub model: Option<String>,
    pub messages: Vec<OpenAiMessage>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub max_tokens: Option<usize>,
    pub max_completion_tokens: Option<usize>,
    pub stop: Option<Stop>,
    pub seed: Option<u64>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    /// Functions the model may call: `[{"type": "function", "function": {"name", "description", "parameters"}}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Value>,
    /// "none", "auto" (default), "required", or `{"type": "function", "function": {"name": …}}`.
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<Value>,
    /// false: at most one tool call per answer.
    pub parallel_tool_calls: Option<bool>,
    pub n: Option<usize>,
    pub frequency_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    /// Whose conversation the server logs this as, when it has a memory database (default
    /// "default"; a user-bound key's own user whatever this says).
    pub user: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PromptField {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompletionRequest {
    pub model: Option<String>,
    pub prompt: PromptField,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub max_tokens: Option<usize>,
    pub stop: Option<Stop>,
    pub seed: Option<u64>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub n: Option<usize>,
    pub frequency_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    /// Accepted for compatibility; not used.
    #[allow(dead_code)]
    pub user: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiUsage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
}

impl From<&thau::infer::Usage> for OpenAiUsage {
    fn from(u: &thau::infer::Usage) -> Self {
        Self {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.prompt_tokens + u.completion_tokens,
        }
    }
}

fn finish_reason(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length | FinishReason::ContextFull => "length",
        FinishReason::Eos | FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
}

/// Sampling for OpenAI's parameters: their defaults are temperature 1 and top_p 1.
#[allow(clippy::too_many_arguments)]
fn options(
    s: &AppState,
    temperature: Option<f32>,
    top_p: Option<f32>,
    max_tokens: Option<usize>,
    default_max: usize,
    stop: Option<Stop>,
    seed: Option<u64>,
    presence: (Option<f32>, Option<f32>),
) -> Result<GenerateOptions, ApiError> {
    let ctx = s.engine().info().cfg.max_seq_len;
    let max_tokens = max_tokens.unwrap_or(default_max).min(ctx);
    let penalty = presence.0.unwrap_or(0.0).max(presence.1.unwrap_or(0.0));
    if !(-2.0..=2.0).contains(&penalty) {
        return Err(ApiError::bad_request(F, "frequency_penalty and presence_penalty must be in [-2, 2]"));
    }
    let temperature = temperature.unwrap_or(1.0);
    if temperature > 2.0 {
        return Err(ApiError::bad_request(F, format!("temperature {temperature} is above the maximum of 2")));
    }
    let stop = stop.map(Stop::into_vec).unwrap_or_default();
    if stop.len() > 4 {
        return Err(ApiError::bad_request(F, "at most 4 stop sequences are allowed"));
    }
    let opts = GenerateOptions {
        max_tokens,
        sampling: SamplingOptions {
            temperature,
            top_k: 0,
            top_p: top_p.unwrap_or(1.0),
            min_p: 0.0,
            // OpenAI's penalties are additive; the nearest THAU knob is a mild multiplicative one.
            repetition_penalty: 1.0 + penalty.max(0.0) * 0.1,
            repeat_last_n: 64,
            seed: seed.unwrap_or_else(rand_seed),
        },
        stop,
        stop_at_eos: true,
    };
    opts.validate().map_err(|e| ApiError::from_thau(F, e))?;
    Ok(opts)
}

/// A seed for requests that give none (different per request, like OpenAI's).
pub fn rand_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn check_model(s: &AppState, model: &Option<String>) -> Result<String, ApiError> {
    match model {
        Some(m) if !s.is_model(m) => Err(ApiError::not_found(
            F,
            format!("the model '{m}' does not exist: this server runs '{}' (see GET /v1/models)", s.config.model_name),
        )),
        _ => Ok(s.config.model_name.clone()),
    }
}

fn check_n(n: Option<usize>) -> Result<(), ApiError> {
    match n {
        None | Some(1) => Ok(()),
        Some(n) => Err(ApiError::bad_request(F, format!("n = {n} is not supported: THAU returns one choice (n = 1)"))),
    }
}

fn messages(msgs: Vec<OpenAiMessage>) -> Result<Vec<Message>, ApiError> {
    if msgs.is_empty() {
        return Err(ApiError::bad_request(F, "messages must not be empty"));
    }
    msgs.into_iter()
        .map(|m| {
            let role = match m.role.as_str() {
                "developer" => Role::System,
                r => Role::parse(r).map_err(|e| ApiError::from_thau(F, e))?,
            };
            let content = m.content.map(Content::text).transpose()?.unwrap_or_default();
            let calls = m
                .tool_calls
                .unwrap_or_default()
                .iter()
                .map(crate::tools::call_of)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::bad_request(F, e))?;
            if !calls.is_empty() && role != Role::Assistant {
                return Err(ApiError::bad_request(F, "only assistant messages carry tool_calls"));
            }
            Ok(Message { role, content, tool_calls: calls })
        })
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}-{:x}", rand_seed())
}

/// Collect a whole generation (non-streaming responses).
async fn collect(mut rx: tokio::sync::mpsc::Receiver<Event>) -> Result<Completion, ApiError> {
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Done(c) => return Ok(c),
            Event::Failed(e) => return Err(ApiError::from_thau(F, e)),
            Event::Started { .. } | Event::Text(_) => {}
        }
    }
    Err(ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, F, "the engine stopped before answering"))
}

/// Create a chat completion.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", request_body = ChatCompletionRequest,
    responses((status = 200, description = "A chat.completion object, or SSE chat.completion.chunk events"),
              (status = 400, description = "Invalid request"), (status = 404, description = "Unknown model"),
              (status = 429, description = "Queue full")))]
pub async fn chat_completions(
    State(s): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    req: Result<Json<ChatCompletionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(F, req)?;
    let model = check_model(&s, &req.model)?;
    check_n(req.n)?;
    let mut tools =
        crate::tools::openai(req.tools.as_ref(), req.tool_choice.as_ref()).map_err(|e| ApiError::bad_request(F, e))?;
    if let (Some(t), Some(false)) = (tools.as_mut(), req.parallel_tool_calls) {
        t.max_calls = 1;
    }
    let opts = options(
        &s,
        req.temperature,
        req.top_p,
        req.max_completion_tokens.or(req.max_tokens),
        s.engine().info().cfg.max_seq_len,
        req.stop,
        req.seed,
        (req.frequency_penalty, req.presence_penalty),
    )?;
    let msgs = messages(req.messages)?;
    let constraint = match &tools {
        Some(t) => Some(crate::tools::constraint(&s, t).map_err(|e| ApiError::bad_request(F, e.to_string()))?),
        None => None,
    };
    // Logged only once the request is sure to run (checked, and in the queue).
    let slot = s.enqueue(F)?;
    let (mut msgs, logged) =
        crate::api_memory::begin(&s, &caller, &headers, req.user.as_deref(), msgs, opts.max_tokens, F).await?;
    if let Some(t) = &tools {
        msgs = thau::tokenizer::with_tools(&msgs, &t.specs);
    }
    let on_done = logged.on_done(&s, tools.is_some());
    let request = Request { prompt: Prompt::Chat(msgs), options: opts };
    let rx =
        bridge::submit_with(s.engine(), request, constraint, on_done, slot).map_err(|e| ApiError::from_thau(F, e))?;
    let id = new_id("chatcmpl");
    let created = now();
    if tools.is_some() {
        let streamed = match req.stream {
            true => Streamed::Sse { include_usage: req.stream_options.is_some_and(|o| o.include_usage) },
            false => Streamed::No,
        };
        return tool_answer(&s, rx, streamed, id, created, model, &logged).await;
    }
    if !req.stream {
        let c = collect(rx).await?;
        let body = json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": c.text},
                         "logprobs": null, "finish_reason": finish_reason(c.finish)}],
            "usage": OpenAiUsage::from(&c.usage), "system_fingerprint": null,
        });
        return Ok(logged.answer(body));
    }
    let include_usage = req.stream_options.is_some_and(|o| o.include_usage);
    Ok(logged.tag(stream_response(rx, include_usage, move |piece, finish| {
        let delta = match piece {
            Piece::Start => json!({"role": "assistant", "content": ""}),
            Piece::Text(t) => json!({"content": t}),
            Piece::End => json!({}),
        };
        Some(json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]}))
    })))
}

/// How an answer is sent.
enum Streamed {
    /// One JSON object.
    No,
    /// Server-sent chunks, with a usage chunk at the end when asked.
    Sse { include_usage: bool },
}

/// The answer to a request that offers tools: an assistant message whose calls are in
/// `tool_calls` (arguments as JSON strings), or the SSE chunks of it (calls as deltas).
async fn tool_answer(
    s: &Arc<AppState>,
    rx: tokio::sync::mpsc::Receiver<Event>,
    streamed: Streamed,
    id: String,
    created: u64,
    model: String,
    logged: &ApiTurn,
) -> Result<Response, ApiError> {
    use crate::tools::{openai_calls, openai_finish, read, StreamCalls};
    let Streamed::Sse { include_usage } = streamed else {
        let c = collect(rx).await?;
        let (content, calls) = read(s, &c);
        let mut message = json!({"role": "assistant", "content": content});
        if !calls.is_empty() {
            message["tool_calls"] = openai_calls(&calls);
            if content.is_empty() {
                message["content"] = Value::Null;
            }
        }
        return Ok(logged.answer(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null,
                         "finish_reason": openai_finish(c.finish, !calls.is_empty())}],
            "usage": OpenAiUsage::from(&c.usage), "system_fingerprint": null,
        })));
    };
    let chunk = move |delta: Value, finish: Option<&str>| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    let mut split = StreamCalls::default();
    let events = ReceiverStream::new(rx).flat_map(move |ev| {
        let mut out: Vec<Value> = Vec::new();
        let mut text_and_calls = |text: Option<&str>, out: &mut Vec<Value>| {
            let (t, calls) = split.push(text);
            if !t.is_empty() {
                out.push(chunk(json!({"content": t}), None));
            }
            for d in split.openai_deltas(&calls) {
                out.push(chunk(d, None));
            }
        };
        match ev {
            Event::Started { .. } => out.push(chunk(json!({"role": "assistant", "content": ""}), None)),
            Event::Text(t) => text_and_calls(Some(&t), &mut out),
            Event::Done(c) => {
                text_and_calls(None, &mut out);
                out.push(chunk(json!({}), Some(openai_finish(c.finish, split.count > 0))));
                if include_usage {
                    let mut u = chunk(json!({}), None);
                    u["choices"] = json!([]);
                    u["usage"] = json!(OpenAiUsage::from(&c.usage));
                    out.push(u);
                }
            }
            Event::Failed(e) => out.push(json!({"error": {"message": e.to_string(), "type": "server_error"}})),
        }
        stream::iter(out)
    });
    let events = events
        .map(|v| Ok::<_, Infallible>(SseEvent::default().data(v.to_string())))
        .chain(stream::iter([Ok(SseEvent::default().data("[DONE]"))]));
    Ok(logged.tag(Sse::new(events).keep_alive(KeepAlive::default()).into_response()))
}

/// What one streamed chunk carries.
enum Piece {
    Start,
    Text(String),
    End,
}

/// The SSE answer to a streaming request: the chunks `chunk` makes for the start and each piece
/// of text, a last chunk with the finish reason, then (when asked) a usage chunk with no
/// choices, then `data: [DONE]`.
fn stream_response(
    rx: tokio::sync::mpsc::Receiver<Event>,
    include_usage: bool,
    chunk: impl Fn(Piece, Option<&str>) -> Option<Value> + Send + 'static,
) -> Response {
    let events = ReceiverStream::new(rx).flat_map(move |ev| {
        let out: Vec<Value> = match ev {
            Event::Started { .. } => chunk(Piece::Start, None).into_iter().collect(),
            Event::Text(t) => chunk(Piece::Text(t), None).into_iter().collect(),
            Event::Done(c) => {
                let mut v: Vec<Value> = chunk(Piece::End, Some(finish_reason(c.finish))).into_iter().collect();
                if let Some(mut u) = chunk(Piece::End, None).filter(|_| include_usage) {
                    u["choices"] = json!([]);
                    u["usage"] = json!(OpenAiUsage::from(&c.usage));
                    v.push(u);
                }
                v
            }
            Event::Failed(e) => vec![json!({"error": {"message": e.to_string(), "type": "server_error"}})],
        };
        stream::iter(out)
    });
    let events = events
        .map(|v| Ok::<_, Infallible>(SseEvent::default().data(v.to_string())))
        .chain(stream::iter([Ok(SseEvent::default().data("[DONE]"))]));
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// Create a text completion (the legacy endpoint: continues the prompt as plain text).
#[utoipa::path(post, path = "/v1/completions", tag = "openai", request_body = CompletionRequest,
    responses((status = 200, description = "A text_completion object, or SSE chunks"),
              (status = 400, description = "Invalid request"), (status = 404, description = "Unknown model")))]
pub async fn completions(
    State(s): State<Arc<AppState>>,
    req: Result<Json<CompletionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(F, req)?;
    let model = check_model(&s, &req.model)?;
    check_n(req.n)?;
    let prompt = match req.prompt {
        PromptField::One(p) => p,
        PromptField::Many(mut v) if v.len() == 1 => v.remove(0),
        PromptField::Many(_) => return Err(ApiError::bad_request(F, "send one prompt per request")),
    };
    // OpenAI's default for this endpoint is 16 tokens.
    let opts = options(
        &s,
        req.temperature,
        req.top_p,
        req.max_tokens,
        16,
        req.stop,
        req.seed,
        (req.frequency_penalty, req.presence_penalty),
    )?;
    let slot = s.enqueue(F)?;
    let rx = bridge::submit(s.engine(), Request { prompt: Prompt::Text(prompt), options: opts }, slot)
        .map_err(|e| ApiError::from_thau(F, e))?;
    let id = new_id("cmpl");
    let created = now();
    if !req.stream {
        let c = collect(rx).await?;
        return Ok(Json(json!({
            "id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": 0, "text": c.text, "logprobs": null, "finish_reason": finish_reason(c.finish)}],
            "usage": OpenAiUsage::from(&c.usage),
        }))
        .into_response());
    }
    let include_usage = req.stream_options.is_some_and(|o| o.include_usage);
    Ok(stream_response(rx, include_usage, move |piece, finish| {
        let text = match piece {
            Piece::Start => return None,
            Piece::Text(t) => t,
            Piece::End => String::new(),
        };
        Some(json!({"id": id, "object": "text_completion", "created": created, "model": model,
                    "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}]}))
    }))
}

fn model_object(s: &AppState) -> Value {
    json!({"id": s.config.model_name, "object": "model", "created": s.started, "owned_by": "thau"})
}

/// List the served model (and the embedding model, when one is loaded).
#[utoipa::path(get, path = "/v1/models", tag = "openai", responses((status = 200, description = "A list of models")))]
pub async fn list_models(State(s): State<Arc<AppState>>) -> Json<Value> {
    let mut data = vec![model_object(&s)];
    if let Some(e) = &s.embedder {
        data.push(json!({"id": e.name, "object": "model", "created": s.started, "owned_by": "thau"}));
    }
    Json(json!({"object": "list", "data": data}))
}

/// Describe one model.
#[utoipa::path(get, path = "/v1/models/{model}", tag = "openai",
    params(("model" = String, Path, description = "Model name")),
    responses((status = 200, description = "The model"), (status = 404, description = "Unknown model")))]
pub async fn get_model(State(s): State<Arc<AppState>>, Path(model): Path<String>) -> Result<Json<Value>, ApiError> {
    if let Some(e) = s.embedder.as_ref().filter(|e| e.is(&model)) {
        return Ok(Json(json!({"id": e.name, "object": "model", "created": s.started, "owned_by": "thau"})));
    }
    check_model(&s, &Some(model))?;
    Ok(Json(model_object(&s)))
}
