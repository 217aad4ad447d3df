//! The assistant's memory for OpenAI and Ollama chat clients (`/v1/chat/completions`,
//! `/api/chat`): when the server has a memory database, each request's history is logged for
//! the resolved user (once per turn, however often the client resends it), a "recuerda
//! que…" request is stored, the answer is logged when the engine finishes it, and with
//! `--memory-inject on` relevant memories go into the prompt. The rules are the library's
//! ([`thau::assistant::begin_client_turn`]); this file maps HTTP to them: the
//! `X-Thau-Conversation` header in and out, and the `x_thau` report of a non-streamed answer.

use crate::auth::Caller;
use crate::error::{ApiError, Flavor};
use crate::state::AppState;
use crate::CONVERSATION_HEADER;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use thau::assistant::{begin_client_turn, finish_client_turn, ClientOptions, ClientTurn, ContextOptions};
use thau::infer::Completion;
use thau::tokenizer::Message;

/// A logged client request; empty when the server keeps no memory.
#[derive(Default)]
pub(crate) struct ApiTurn {
    turn: Option<Arc<ClientTurn>>,
    /// The answer's turn id, once logged.
    answer: Arc<OnceLock<i64>>,
}

/// What the engine calls with the finished generation.
pub(crate) type OnDone = Box<dyn FnOnce(&Completion) + Send>;

/// Log `msgs` for the caller's user and build the prompt (with memories when the server
/// injects them): the messages for the model, and the turn to log the answer of.
pub(crate) async fn begin(
    s: &Arc<AppState>,
    caller: &Caller,
    headers: &HeaderMap,
    named_user: Option<&str>,
    msgs: Vec<Message>,
    reserve: usize,
    flavor: Flavor,
) -> Result<(Vec<Message>, ApiTurn), ApiError> {
    if s.memory.is_err() {
        return Ok((msgs, ApiTurn::default()));
    }
    let user = caller.user(named_user, headers, flavor)?;
    let name = match headers.get(CONVERSATION_HEADER).map(HeaderValue::to_str) {
        None => None,
        Some(Ok(v)) => Some(v.trim().to_string()),
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                flavor,
                "X-Thau-Conversation is not ASCII: name it with letters, digits, '-' or '_'",
            ))
        }
    };
    let opts = ClientOptions {
        context: ContextOptions { inject: s.config.memory_inject, ..ContextOptions::default() },
        remember_requests: true,
        reserve,
    };
    let state = s.clone();
    let turn = tokio::task::spawn_blocking(move || {
        let Ok(memory) = &state.memory else { unreachable!("checked above") };
        begin_client_turn(memory, &state.engine(), &state.config.clock, &opts, &user, name.as_deref(), &msgs)
            .map(|t| (t, msgs))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, flavor, format!("memory task failed: {e}")))?
    .map_err(|e| ApiError::from_thau(flavor, e))?;
    Ok(match turn {
        (Some(mut t), msgs) => {
            let prompt = t.prompt.take().unwrap_or(msgs);
            (prompt, ApiTurn { turn: Some(Arc::new(t)), answer: Default::default() })
        }
        (None, msgs) => (msgs, ApiTurn::default()),
    })
}

impl ApiTurn {
    /// Logs the answer when the engine finishes it; `tools`: read its tool calls too. None
    /// when nothing is logged.
    pub(crate) fn on_done(&self, s: &Arc<AppState>, tools: bool) -> Option<OnDone> {
        let turn = self.turn.clone()?;
        let (s, answer) = (s.clone(), self.answer.clone());
        Some(Box::new(move |c: &Completion| {
            let message = if tools {
                let (content, calls) = crate::tools::read(&s, c);
                let mut m = Message::assistant(content);
                m.tool_calls = calls;
                m
            } else {
                Message::assistant(c.text.clone())
            };
            let Ok(memory) = &s.memory else { return };
            match finish_client_turn(memory, &s.config.clock, &turn, &message) {
                Ok(id) => {
                    let _ = answer.set(id);
                }
                // The answer is on its way to the client: the log is what misses it.
                Err(e) => tracing::warn!(error = %e, conversation = %turn.conversation.id, "the answer was not logged"),
            }
        }))
    }

    /// The `x_thau` field of a non-streamed answer: the conversation, the turns logged, what
    /// was remembered and what memory put into the prompt.
    pub(crate) fn report(&self) -> Option<Value> {
        let t = self.turn.as_ref()?;
        Some(json!({"conversation": t.conversation.id, "logged": t.logged, "turn_id": self.answer.get(),
                    "remembered": t.remembered, "memory": t.memory}))
    }

    /// A non-streamed answer `body` with its `x_thau` report, tagged.
    pub(crate) fn answer(&self, mut body: Value) -> Response {
        if let Some(x) = self.report() {
            body["x_thau"] = x;
        }
        self.tag(axum::Json(body).into_response())
    }

    /// `resp` with the `X-Thau-Conversation` header naming the conversation logged.
    pub(crate) fn tag(&self, mut resp: Response) -> Response {
        if let Some(v) = self.turn.as_ref().and_then(|t| HeaderValue::from_str(&t.conversation.id).ok()) {
            resp.headers_mut().insert(CONVERSATION_HEADER, v);
        }
        resp
    }
}
