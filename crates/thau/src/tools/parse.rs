//! Reading tool calls out of a generated assistant turn, from its token ids (exact: the
//! `<|tool_call|>` / `<|/tool_call|>` special ids cannot be forged by text) or from its text
//! (for streaming and for text produced elsewhere). A call that cannot be read becomes a
//! [`CallError::Malformed`] naming why, never a panic or a silent drop.

use super::registry::CallError;
use crate::tokenizer::{Tokenizer, ToolCall, END, EOS, NUM_SPECIAL, TOOL_CALL, TOOL_CALL_END};
use serde_json::Value;

/// Opens a call in text.
pub const CALL_OPEN: &str = "<|tool_call|>";
/// Closes a call in text.
pub const CALL_CLOSE: &str = "<|/tool_call|>";

/// An assistant turn split into its text and its calls.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedTurn {
    /// The text outside calls (special tokens left out), trimmed.
    pub content: String,
    /// Each call in order, or why it could not be read.
    pub calls: Vec<Result<ToolCall, CallError>>,
}

impl ParsedTurn {
    /// The calls that could be read.
    pub fn valid_calls(&self) -> Vec<ToolCall> {
        self.calls.iter().filter_map(|c| c.as_ref().ok().cloned()).collect()
    }
}

/// Split generated ids (the assistant turn, without its role token) into text and calls.
pub fn parse_ids(tok: &Tokenizer, ids: &[u32]) -> ParsedTurn {
    let mut content = Vec::new();
    let mut calls = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let id = ids[i];
        if id == TOOL_CALL {
            let start = i + 1;
            let end = ids[start..].iter().position(|&t| t == TOOL_CALL_END || t == TOOL_CALL).map(|p| start + p);
            let body: Vec<u32> =
                ids[start..end.unwrap_or(ids.len())].iter().copied().filter(|&t| t as usize >= NUM_SPECIAL).collect();
            let raw = tok.decode(&body);
            calls.push(match end {
                Some(e) if ids[e] == TOOL_CALL_END => parse_call_json(&raw),
                _ => Err(CallError::Malformed {
                    reason: format!(
                        "the call was cut off before {CALL_CLOSE} (the answer hit its token limit?): {}",
                        clip(&raw)
                    ),
                    raw,
                }),
            });
            i = match end {
                Some(e) if ids[e] == TOOL_CALL_END => e + 1,
                Some(e) => e,
                None => ids.len(),
            };
            continue;
        }
        if id == END || id == EOS {
            break;
        }
        if id as usize >= NUM_SPECIAL {
            content.push(id);
        }
        i += 1;
    }
    ParsedTurn { content: tok.decode(&content).trim().to_string(), calls }
}

/// Split generated text (special tokens written as their strings) into text and calls.
pub fn parse_text(text: &str) -> ParsedTurn {
    let mut splitter = CallSplitter::default();
    let mut pieces = splitter.push(text);
    pieces.extend(splitter.finish());
    let mut content = String::new();
    let mut calls = Vec::new();
    for p in pieces {
        match p {
            Piece::Text(t) => content.push_str(&t),
            Piece::Call(c) => calls.push(c),
        }
    }
    let content = content.split("<|end|>").next().unwrap_or_default().trim().to_string();
    ParsedTurn { content, calls }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Read `{"name": ..., "arguments": {...}}`. Lenient in what it takes (whitespace, key order,
/// arguments as a JSON string holding an object as OpenAI sends them, `parameters` for
/// `arguments`, no arguments at all), strict in what it returns.
pub fn parse_call_json(raw: &str) -> Result<ToolCall, CallError> {
    let bad = |reason: String| CallError::Malformed { raw: raw.to_string(), reason };
    let v: Value = serde_json::from_str(raw.trim())
        .map_err(|e| bad(format!("it is not valid JSON ({e}): {}", clip(raw.trim()))))?;
    let Value::Object(mut obj) = v else {
        return Err(bad(format!("expected a JSON object {{\"name\": …, \"arguments\": {{…}}}}, got {}", clip(raw))));
    };
    let name = match obj.remove("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n,
        Some(other) => return Err(bad(format!("\"name\" must be a non-empty string, got {other}"))),
        None => return Err(bad("the call has no \"name\"".into())),
    };
    let args =
        obj.remove("arguments").or_else(|| obj.remove("parameters")).unwrap_or(Value::Object(Default::default()));
    let arguments = match args {
        Value::Object(_) => args,
        Value::Null => Value::Object(Default::default()),
        Value::String(s) => match serde_json::from_str::<Value>(&s) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err(bad(format!("\"arguments\" must be a JSON object, got the string {}", clip(&s)))),
        },
        other => return Err(bad(format!("\"arguments\" must be a JSON object, got {}", clip(&other.to_string())))),
    };
    Ok(ToolCall { name, arguments })
}

/// A piece of a streamed turn: text to show, or a call that just closed.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Call(Result<ToolCall, CallError>),
}

/// Splits streamed text into plain text and calls, holding back text that may be the start of
/// a `<|tool_call|>` marker until it is sure.
#[derive(Debug, Default)]
pub struct CallSplitter {
    pending: String,
    in_call: bool,
}

impl CallSplitter {
    /// True while a call is open (its text is being held).
    pub fn in_call(&self) -> bool {
        self.in_call
    }

    /// Add text; returns what is now certain.
    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        self.pending.push_str(text);
        let mut out = Vec::new();
        loop {
            if self.in_call {
                let Some(at) = self.pending.find(CALL_CLOSE) else { break };
                let body: String = self.pending[..at].to_string();
                self.pending.drain(..at + CALL_CLOSE.len());
                self.in_call = false;
                out.push(Piece::Call(parse_call_json(&body)));
            } else if let Some(at) = self.pending.find(CALL_OPEN) {
                if at > 0 {
                    out.push(Piece::Text(self.pending[..at].to_string()));
                }
                self.pending.drain(..at + CALL_OPEN.len());
                self.in_call = true;
            } else {
                // Keep the longest tail that could begin a marker.
                let keep = (1..CALL_OPEN.len().min(self.pending.len() + 1))
                    .rev()
                    .find(|&l| {
                        let cut = self.pending.len() - l;
                        self.pending.is_char_boundary(cut) && CALL_OPEN.starts_with(&self.pending[cut..])
                    })
                    .unwrap_or(0);
                let cut = self.pending.len() - keep;
                if cut > 0 {
                    out.push(Piece::Text(self.pending[..cut].to_string()));
                    self.pending.drain(..cut);
                }
                break;
            }
        }
        out
    }

    /// The end of the stream: held text is released, an open call is malformed.
    pub fn finish(&mut self) -> Vec<Piece> {
        let rest = std::mem::take(&mut self.pending);
        if std::mem::take(&mut self.in_call) {
            return vec![Piece::Call(Err(CallError::Malformed {
                reason: format!("the call was cut off before {CALL_CLOSE} (the answer hit its token limit?)"),
                raw: rest,
            }))];
        }
        if rest.is_empty() {
            Vec::new()
        } else {
            vec![Piece::Text(rest)]
        }
    }
}
