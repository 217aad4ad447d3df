//! Tool calling over the APIs: OpenAI `tools` / `tool_choice` and Ollama `tools` in, calls in
//! each API's native shape out (OpenAI: `tool_calls` with `arguments` as a JSON string,
//! `finish_reason: "tool_calls"`, streamed as deltas; Ollama: `message.tool_calls` with
//! `arguments` as an object). The server does not run the tools: the client does, and sends
//! the results back as `tool` messages. Calls are grammar-constrained by the request's tool
//! schemas, so they always parse and validate.

use crate::state::AppState;
use serde_json::{json, Value};
use std::sync::Arc;
use thau::infer::{Completion, FinishReason, LogitsConstraint};
use thau::tokenizer::ToolCall;
use thau::tools::{call_constraint, parse_ids, CallSplitter, GrammarOptions, Piece, TokenTrie, ToolChoice, ToolSpec};

/// The tools a request offers and whether it must call one.
#[derive(Debug, Clone)]
pub struct ToolSetup {
    pub specs: Vec<ToolSpec>,
    pub choice: ToolChoice,
    /// Most calls in one answer (OpenAI's `parallel_tool_calls: false` makes it 1).
    pub max_calls: usize,
}

/// One `{"type": "function", "function": {...}}` (OpenAI) or the same object Ollama takes.
fn spec_of(v: &Value) -> Result<ToolSpec, String> {
    let f = v.get("function").unwrap_or(v);
    if let Some(t) = v.get("type").and_then(Value::as_str) {
        if t != "function" {
            return Err(format!("tool of type '{t}' is not supported: declare {{\"type\": \"function\", ...}}"));
        }
    }
    let name = f.get("name").and_then(Value::as_str).ok_or("every tool needs function.name")?;
    thau::tools::check_name(name)?;
    let parameters = f.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    thau::tools::schema::check_parameters(&parameters).map_err(|e| format!("tool '{name}': {e}"))?;
    Ok(ToolSpec {
        name: name.to_string(),
        description: f.get("description").and_then(Value::as_str).unwrap_or_default().to_string(),
        parameters,
    })
}

fn specs_of(tools: Option<&Value>) -> Result<Vec<ToolSpec>, String> {
    let Some(tools) = tools.filter(|t| !t.is_null()) else { return Ok(Vec::new()) };
    let list = tools.as_array().ok_or("tools must be a list of {\"type\": \"function\", \"function\": {...}}")?;
    let specs = list.iter().map(spec_of).collect::<Result<Vec<_>, _>>()?;
    for (i, s) in specs.iter().enumerate() {
        if specs[..i].iter().any(|o| o.name == s.name) {
            return Err(format!("the tool '{}' is declared twice", s.name));
        }
    }
    Ok(specs)
}

/// A `tool_choice` in OpenAI's shape: none, auto (default), required, or
/// `{"type": "function", "function": {"name": …}}`.
pub fn choice_of(choice: Option<&Value>) -> Result<ToolChoice, String> {
    Ok(match choice {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            other => return Err(format!("tool_choice '{other}' is not one of none, auto, required")),
        },
        Some(v) => {
            match v.pointer("/function/name").and_then(Value::as_str) {
                Some(name) => ToolChoice::Named(name.to_string()),
                None => return Err(
                    "tool_choice must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": …}}"
                        .into(),
                ),
            }
        }
    })
}

/// Read `tools` and `tool_choice` (OpenAI's shapes; Ollama's `tools` are the same); `None`
/// when the request offers no tools.
pub fn openai(tools: Option<&Value>, choice: Option<&Value>) -> Result<Option<ToolSetup>, String> {
    let specs = specs_of(tools)?;
    let choice = choice_of(choice)?;
    if specs.is_empty() {
        return match choice {
            ToolChoice::Required | ToolChoice::Named(_) => {
                Err("tool_choice asks for a tool call but no tools are given".into())
            }
            _ => Ok(None),
        };
    }
    if let ToolChoice::Named(n) = &choice {
        if !specs.iter().any(|s| &s.name == n) {
            return Err(format!("tool_choice names '{n}', which is not among the tools"));
        }
    }
    Ok(Some(ToolSetup { specs, choice, max_calls: 8 }))
}

/// A call in a request message: `{"function": {"name", "arguments": string or object}}`.
pub fn call_of(v: &Value) -> Result<ToolCall, String> {
    let f = v.get("function").unwrap_or(v);
    let name = f.get("name").and_then(Value::as_str).ok_or("a tool call needs function.name")?;
    let arguments = match f.get("arguments") {
        None | Some(Value::Null) => json!({}),
        Some(Value::String(s)) if s.trim().is_empty() => json!({}),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| format!("the arguments of the call to '{name}' are not a JSON object"))?,
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err(format!("the arguments of the call to '{name}' must be an object")),
    };
    Ok(ToolCall::new(name, arguments))
}

/// The trie of the engine's vocabulary, built on first use (a few ms for 16k tokens) and kept
/// with the server's state: one engine, one vocabulary.
pub(crate) fn trie(s: &AppState) -> Arc<TokenTrie> {
    s.trie.get_or_init(|| Arc::new(TokenTrie::new(s.engine().tokenizer()))).clone()
}

/// The grammar constraint for a request's tools.
pub fn constraint(s: &AppState, setup: &ToolSetup) -> thau::Result<Box<dyn LogitsConstraint>> {
    let c = call_constraint(&s.engine(), &trie(s), &setup.specs, setup.choice.clone(), &GrammarOptions::default())?;
    Ok(Box::new(c.with_max_calls(setup.max_calls)))
}

/// A finished generation read as an assistant message: text and calls.
pub fn read(s: &AppState, c: &Completion) -> (String, Vec<ToolCall>) {
    let turn = parse_ids(s.engine().tokenizer(), &c.tokens);
    for e in turn.calls.iter().filter_map(|c| c.as_ref().err()) {
        tracing::warn!(error = %e, "an unreadable tool call was left out of the answer");
    }
    (turn.content.clone(), turn.valid_calls())
}

fn call_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("call_{:x}{:04x}", crate::openai::rand_seed() & 0xffff_ffff, N.fetch_add(1, Ordering::Relaxed) & 0xffff)
}

/// OpenAI's `tool_calls`: arguments as a JSON string.
pub fn openai_calls(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|c| {
                json!({"id": call_id(), "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments.to_string()}})
            })
            .collect(),
    )
}

/// Ollama's `tool_calls`: arguments as an object.
pub fn ollama_calls(calls: &[ToolCall]) -> Value {
    Value::Array(calls.iter().map(|c| json!({"function": {"name": c.name, "arguments": c.arguments}})).collect())
}

/// OpenAI's finish reason for an answer that may have called tools.
pub fn openai_finish(f: FinishReason, called: bool) -> &'static str {
    match f {
        FinishReason::Length | FinishReason::ContextFull => "length",
        _ if called => "tool_calls",
        FinishReason::Eos | FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
}

/// What a streamed piece of text became: text to send, and calls that just closed.
#[derive(Debug, Default)]
pub struct StreamCalls {
    splitter: CallSplitter,
    /// Calls sent so far.
    pub count: usize,
}

impl StreamCalls {
    /// Split `text` (or, with `None`, flush at the end) into text and completed calls.
    pub fn push(&mut self, text: Option<&str>) -> (String, Vec<ToolCall>) {
        let pieces = match text {
            Some(t) => self.splitter.push(t),
            None => self.splitter.finish(),
        };
        let mut out = String::new();
        let mut calls = Vec::new();
        for p in pieces {
            match p {
                Piece::Text(t) => out.push_str(&t),
                Piece::Call(Ok(c)) => calls.push(c),
                Piece::Call(Err(e)) => tracing::warn!(error = %e, "an unreadable tool call was left out of the stream"),
            }
        }
        self.count += calls.len();
        (out, calls)
    }

    /// The OpenAI deltas for newly closed calls: a header (id, name) then the arguments.
    pub fn openai_deltas(&self, calls: &[ToolCall]) -> Vec<Value> {
        let first = self.count - calls.len();
        let mut out = Vec::new();
        for (i, c) in calls.iter().enumerate() {
            let index = first + i;
            out.push(json!({"tool_calls": [{"index": index, "id": call_id(), "type": "function",
                                            "function": {"name": c.name, "arguments": ""}}]}));
            out.push(json!({"tool_calls": [{"index": index, "function": {"arguments": c.arguments.to_string()}}]}));
        }
        out
    }
}
