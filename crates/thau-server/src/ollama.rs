//! Ollama-compatible routes: `/api/generate` and `/api/chat` (NDJSON streaming by default, a
//! final object with `done`, `done_reason` and durations in nanoseconds), `/api/tags`,
//! `/api/show`, `/api/ps`, `/api/version`.

use crate::api_memory::ApiTurn;
use crate::auth::Caller;
use crate::bridge;
use crate::error::{body, ApiError, Flavor};
use crate::state::{AppState, QueueSlot};
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use thau::infer::{Completion, Event, FinishReason, GenerateOptions, Prompt, Request, SamplingOptions};
use thau::tokenizer::{Message, Role};
use tokio_stream::wrappers::ReceiverStream;
use utoipa::ToSchema;

const F: Flavor = Flavor::Ollama;

/// Ollama's `options` (the ones THAU uses; others are accepted and ignored).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Options {
    /// Most tokens to generate; -1 = until the context is full.
    pub num_predict: Option<i64>,
    pub temperature: Option<f32>,
    pub top_k: Option<i64>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub seed: Option<i64>,
    pub stop: Option<Vec<String>>,
    pub repeat_penalty: Option<f32>,
    pub repeat_last_n: Option<i64>,
    /// Context size: at most the model's own (the engine cannot extend it).
    pub num_ctx: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GenerateRequest {
    pub model: String,
    #[serde(default)]
    pub prompt: String,
    pub system: Option<String>,
    /// Continue the prompt as plain text instead of answering it as a chat turn.
    #[serde(default)]
    pub raw: bool,
    pub stream: Option<bool>,
    pub options: Option<Options>,
    /// Structured output ("json" or a schema): not supported yet, refused with 400.
    #[schema(value_type = Option<Object>)]
    pub format: Option<Value>,
    /// Accepted for compatibility: THAU keeps its one model loaded.
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    pub keep_alive: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OllamaMessage {
    pub role: String,
    #[serde(default)]
    pub content: String,
    /// An assistant message's calls: `[{"function": {"name", "arguments": {…}}}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tool_calls: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatRequest {
    pub model: String,
    #[serde(default)]
    pub messages: Vec<OllamaMessage>,
    pub stream: Option<bool>,
    pub options: Option<Options>,
    /// Functions the model may call: `[{"type": "function", "function": {"name", "description", "parameters"}}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Value>,
    /// THAU extension (Ollama has none): OpenAI's `tool_choice`, "auto" when left out.
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<Value>,
    /// Structured output ("json" or a schema): not supported yet, refused with 400.
    #[schema(value_type = Option<Object>)]
    pub format: Option<Value>,
    /// Accepted for compatibility: THAU keeps its one model loaded.
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    pub keep_alive: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ShowRequest {
    #[serde(alias = "name")]
    pub model: String,
}

fn check_format(format: &Option<Value>) -> Result<(), ApiError> {
    match format {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.is_empty() => Ok(()),
        Some(_) => {
            Err(ApiError::bad_request(F, "format (structured JSON output) is not supported by THAU yet: leave it out"))
        }
    }
}

fn check_model(s: &AppState, model: &str) -> Result<(), ApiError> {
    if model.is_empty() {
        return Err(ApiError::bad_request(F, "model is required"));
    }
    if !s.is_model(model) {
        return Err(ApiError::not_found(F, format!("model '{model}' not found, try pulling it first")));
    }
    Ok(())
}

fn options(s: &AppState, o: Option<Options>) -> Result<GenerateOptions, ApiError> {
    let o = o.unwrap_or_default();
    let ctx = s.engine().info().cfg.max_seq_len;
    if let Some(n) = o.num_ctx {
        if n < 1 {
            return Err(ApiError::bad_request(F, format!("num_ctx {n} must be positive")));
        }
    }
    let max_tokens = match o.num_predict {
        None => ctx,
        Some(n) if n < 0 => ctx,
        Some(0) => return Err(ApiError::bad_request(F, "num_predict must be at least 1 (or -1 for no limit)")),
        Some(n) => (n as usize).min(ctx),
    };
    let d = SamplingOptions::default();
    let nonneg = |v: Option<i64>, what: &str, default: usize| match v {
        Some(n) if n < 0 => Err(ApiError::bad_request(F, format!("{what} must not be negative"))),
        Some(n) => Ok(n as usize),
        None => Ok(default),
    };
    let opts = GenerateOptions {
        max_tokens,
        sampling: SamplingOptions {
            temperature: o.temperature.unwrap_or(d.temperature),
            top_k: nonneg(o.top_k, "top_k", d.top_k)?,
            top_p: o.top_p.unwrap_or(d.top_p),
            min_p: o.min_p.unwrap_or(d.min_p),
            repetition_penalty: o.repeat_penalty.unwrap_or(d.repetition_penalty),
            repeat_last_n: nonneg(o.repeat_last_n, "repeat_last_n", d.repeat_last_n)?,
            seed: match o.seed {
                Some(s) => s as u64,
                None => crate::openai::rand_seed(),
            },
        },
        stop: o.stop.unwrap_or_default(),
        stop_at_eos: true,
    };
    opts.validate().map_err(|e| ApiError::from_thau(F, e))?;
    Ok(opts)
}

/// Now, in RFC 3339 UTC with nanoseconds, as Ollama writes `created_at`.
fn created_at() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn done_reason(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length | FinishReason::ContextFull => "length",
        _ => "stop",
    }
}

/// The final object's statistics (durations in nanoseconds).
fn stats(c: &Completion, started: Instant) -> Value {
    let ns = |s: f64| (s * 1e9) as u64;
    json!({
        "done_reason": done_reason(c.finish),
        "total_duration": started.elapsed().as_nanos() as u64,
        "load_duration": 0,
        "prompt_eval_count": c.usage.prompt_tokens - c.usage.cached_tokens,
        "prompt_eval_duration": ns(c.usage.prefill_secs),
        "eval_count": c.usage.completion_tokens,
        "eval_duration": ns(c.usage.decode_secs),
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// Where an answer goes: the model name the client used, streamed or one object, the
/// conversation turn it is logged as, and its place in the queue.
struct Answer {
    model: String,
    stream: bool,
    logged: ApiTurn,
    slot: QueueSlot,
}

/// Run a request and answer in Ollama's format, as NDJSON lines or one object.
async fn respond(
    s: Arc<AppState>,
    prompt: Prompt,
    opts: GenerateOptions,
    chat: bool,
    answer: Answer,
) -> Result<Response, ApiError> {
    let Answer { model, stream, logged, slot } = answer;
    let started = Instant::now();
    let on_done = logged.on_done(&s, false);
    let mut rx = bridge::submit_with(s.engine(), Request { prompt, options: opts }, None, on_done, slot)
        .map_err(|e| ApiError::from_thau(F, e))?;
    let piece = move |model: &str, text: &str, done: bool| {
        let base = json!({"model": model, "created_at": created_at(), "done": done});
        if chat {
            merge(base, json!({"message": {"role": "assistant", "content": text}}))
        } else {
            merge(base, json!({"response": text}))
        }
    };
    if !stream {
        let mut text = String::new();
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::Text(t) => text.push_str(&t),
                Event::Done(c) => return Ok(logged.answer(merge(piece(&model, &text, true), stats(&c, started)))),
                Event::Failed(e) => return Err(ApiError::from_thau(F, e)),
                Event::Started { .. } => {}
            }
        }
        return Err(ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            F,
            "the engine stopped before answering",
        ));
    }
    let lines = ReceiverStream::new(rx).filter_map(move |ev| {
        let v = match ev {
            Event::Started { .. } => None,
            Event::Text(t) => Some(piece(&model, &t, false)),
            Event::Done(c) => Some(merge(piece(&model, "", true), stats(&c, started))),
            Event::Failed(e) => Some(json!({"error": e.to_string()})),
        };
        futures_util::future::ready(v.map(|v| Ok::<_, std::convert::Infallible>(format!("{v}\n"))))
    });
    Ok(logged.tag(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(lines)).into_response()))
}

/// A chat answer with tools offered: calls go in `message.tool_calls` (arguments as objects);
/// streamed, text pieces come first and the calls in one chunk before the final one.
async fn tool_respond(
    s: Arc<AppState>,
    msgs: Vec<Message>,
    tools: &crate::tools::ToolSetup,
    opts: GenerateOptions,
    c: Box<dyn thau::infer::LogitsConstraint>,
    answer: Answer,
) -> Result<Response, ApiError> {
    let Answer { model, stream, logged, slot } = answer;
    use crate::tools::{ollama_calls, read, StreamCalls};
    let started = Instant::now();
    let prompt = Prompt::Chat(thau::tokenizer::with_tools(&msgs, &tools.specs));
    let on_done = logged.on_done(&s, true);
    let mut rx = bridge::submit_with(s.engine(), Request { prompt, options: opts }, Some(c), on_done, slot)
        .map_err(|e| ApiError::from_thau(F, e))?;
    let message = |content: &str, calls: &[thau::tokenizer::ToolCall]| {
        let mut m = json!({"role": "assistant", "content": content});
        if !calls.is_empty() {
            m["tool_calls"] = ollama_calls(calls);
        }
        m
    };
    if !stream {
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::Done(c) => {
                    let (content, calls) = read(&s, &c);
                    let base = json!({"model": model, "created_at": created_at(), "done": true,
                                      "message": message(&content, &calls)});
                    return Ok(logged.answer(merge(base, stats(&c, started))));
                }
                Event::Failed(e) => return Err(ApiError::from_thau(F, e)),
                Event::Text(_) | Event::Started { .. } => {}
            }
        }
        return Err(ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            F,
            "the engine stopped before answering",
        ));
    }
    let mut split = StreamCalls::default();
    let lines = ReceiverStream::new(rx).flat_map(move |ev| {
        let mut out = Vec::new();
        let mut chunk = |text: Option<&str>, out: &mut Vec<Value>| {
            let (t, calls) = split.push(text);
            if !t.is_empty() || !calls.is_empty() {
                out.push(json!({"model": model, "created_at": created_at(), "done": false,
                                "message": message(&t, &calls)}));
            }
        };
        match ev {
            Event::Started { .. } => {}
            Event::Text(t) => chunk(Some(&t), &mut out),
            Event::Done(c) => {
                chunk(None, &mut out);
                let base = json!({"model": model, "created_at": created_at(), "done": true,
                                  "message": {"role": "assistant", "content": ""}});
                out.push(merge(base, stats(&c, started)));
            }
            Event::Failed(e) => out.push(json!({"error": e.to_string()})),
        }
        futures_util::stream::iter(out.into_iter().map(|v| Ok::<_, std::convert::Infallible>(format!("{v}\n"))))
    });
    Ok(logged.tag(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(lines)).into_response()))
}

/// Generate a completion for a prompt.
#[utoipa::path(post, path = "/api/generate", tag = "ollama", request_body = GenerateRequest,
    responses((status = 200, description = "NDJSON stream, or one object with stream: false"),
              (status = 400, description = "Invalid request"), (status = 404, description = "Unknown model")))]
pub async fn generate(
    State(s): State<Arc<AppState>>,
    req: Result<Json<GenerateRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(F, req)?;
    check_model(&s, &req.model)?;
    check_format(&req.format)?;
    let model = req.model.clone();
    if req.prompt.is_empty() && req.system.is_none() {
        // Ollama answers an empty prompt by (re)loading the model; THAU's is always loaded.
        return Ok(Json(
            json!({"model": model, "created_at": created_at(), "response": "", "done": true, "done_reason": "load"}),
        )
        .into_response());
    }
    let opts = options(&s, req.options)?;
    let prompt = if req.raw {
        Prompt::Text(req.prompt)
    } else {
        let mut msgs = Vec::new();
        if let Some(sys) = req.system {
            msgs.push(Message::system(sys));
        }
        msgs.push(Message::user(req.prompt));
        Prompt::Chat(msgs)
    };
    let answer = Answer { model, stream: req.stream.unwrap_or(true), logged: ApiTurn::default(), slot: s.enqueue(F)? };
    respond(s, prompt, opts, false, answer).await
}

/// Generate the next message of a chat.
#[utoipa::path(post, path = "/api/chat", tag = "ollama", request_body = ChatRequest,
    responses((status = 200, description = "NDJSON stream, or one object with stream: false"),
              (status = 400, description = "Invalid request"), (status = 404, description = "Unknown model")))]
pub async fn chat(
    State(s): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    req: Result<Json<ChatRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(F, req)?;
    check_model(&s, &req.model)?;
    check_format(&req.format)?;
    let model = req.model.clone();
    if req.messages.is_empty() {
        return Ok(Json(json!({"model": model, "created_at": created_at(),
            "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "load"}))
        .into_response());
    }
    let opts = options(&s, req.options)?;
    let tools =
        crate::tools::openai(req.tools.as_ref(), req.tool_choice.as_ref()).map_err(|e| ApiError::bad_request(F, e))?;
    let msgs = req
        .messages
        .into_iter()
        .map(|m| {
            let role = Role::parse(&m.role).map_err(|e| ApiError::from_thau(F, e))?;
            let calls = m
                .tool_calls
                .unwrap_or_default()
                .iter()
                .map(crate::tools::call_of)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::bad_request(F, e))?;
            Ok(Message { role, content: m.content, tool_calls: calls })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let constraint = match &tools {
        Some(t) => Some(crate::tools::constraint(&s, t).map_err(|e| ApiError::bad_request(F, e.to_string()))?),
        None => None,
    };
    // Logged only once the request is sure to run (checked, and in the queue). Ollama's chat
    // has no user field: the caller's key, else the X-Thau-User header.
    let slot = s.enqueue(F)?;
    let (msgs, logged) = crate::api_memory::begin(&s, &caller, &headers, None, msgs, opts.max_tokens, F).await?;
    let answer = Answer { model, stream: req.stream.unwrap_or(true), logged, slot };
    match (tools, constraint) {
        (Some(t), Some(c)) => tool_respond(s, msgs, &t, opts, c, answer).await,
        _ => respond(s, Prompt::Chat(msgs), opts, true, answer).await,
    }
}

fn details(s: &AppState) -> Value {
    let engine = s.engine();
    let i = engine.info();
    json!({
        "parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
        "parameter_size": format!("{:.1}M", i.cfg.param_count() as f64 / 1e6),
        "quantization_level": i.dtype.as_str().to_uppercase(),
    })
}

fn model_entry(s: &AppState) -> Value {
    let name = format!("{}:latest", s.config.model_name);
    json!({
        "name": name, "model": name, "modified_at": created_at(),
        "size": s.engine().info().weight_bytes, "digest": digest(s), "details": details(s),
    })
}

/// A stable identifier of the served model (not a content hash: the weights are not re-read).
fn digest(s: &AppState) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.config.model_name.hash(&mut h);
    s.engine().info().weight_bytes.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// List local models.
#[utoipa::path(get, path = "/api/tags", tag = "ollama", responses((status = 200, description = "The models")))]
pub async fn tags(State(s): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"models": [model_entry(&s)]}))
}

/// List running models.
#[utoipa::path(get, path = "/api/ps", tag = "ollama", responses((status = 200, description = "The loaded models")))]
pub async fn ps(State(s): State<Arc<AppState>>) -> Json<Value> {
    let mut m = model_entry(&s);
    m["size_vram"] = json!(0);
    m["expires_at"] = json!("9999-12-31T23:59:59Z");
    Json(json!({"models": [m]}))
}

/// Show a model's details, template and parameters.
#[utoipa::path(post, path = "/api/show", tag = "ollama", request_body = ShowRequest,
    responses((status = 200, description = "Model information"), (status = 404, description = "Unknown model")))]
pub async fn show(
    State(s): State<Arc<AppState>>,
    req: Result<Json<ShowRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let req = body(F, req)?;
    check_model(&s, &req.model)?;
    let engine = s.engine();
    let cfg = &engine.info().cfg;
    let params = thau::tokenizer::STOP_STRINGS.iter().map(|t| format!("stop \"{t}\"")).collect::<Vec<_>>().join("\n");
    Ok(Json(json!({
        "modelfile": format!("FROM {}\nTEMPLATE \"\"\"{}\"\"\"\n{}\n", s.config.model_name, thau::tokenizer::OLLAMA_TEMPLATE,
            params.lines().map(|l| format!("PARAMETER {l}")).collect::<Vec<_>>().join("\n")),
        "parameters": params,
        "template": thau::tokenizer::OLLAMA_TEMPLATE,
        "details": details(&s),
        "model_info": {
            "general.architecture": "llama",
            "general.parameter_count": cfg.param_count(),
            "llama.context_length": cfg.max_seq_len,
            "llama.embedding_length": cfg.d_model,
            "llama.block_count": cfg.n_layers,
            "llama.feed_forward_length": cfg.ffn_hidden,
            "llama.attention.head_count": cfg.n_heads,
            "llama.attention.head_count_kv": cfg.n_kv_heads,
            "llama.rope.freq_base": cfg.rope_theta,
            "llama.vocab_size": cfg.vocab_size,
        },
        "capabilities": ["completion", "tools"],
        "modified_at": created_at(),
    })))
}

/// The server's version.
#[utoipa::path(get, path = "/api/version", tag = "ollama", responses((status = 200, description = "The version")))]
pub async fn version() -> Json<Value> {
    Json(json!({"version": env!("CARGO_PKG_VERSION")}))
}

#[cfg(test)]
mod tests {
    #[test]
    fn created_at_is_rfc3339_utc_with_nanoseconds() {
        let t = super::created_at();
        assert_eq!(t.len(), "2026-11-25T10:20:30.123456789Z".len(), "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        let parsed = chrono::DateTime::parse_from_rfc3339(&t).unwrap();
        let age = chrono::Utc::now().signed_duration_since(parsed);
        assert!(age >= chrono::TimeDelta::zero() && age < chrono::TimeDelta::seconds(60), "{t}");
    }
}
