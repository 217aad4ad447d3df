//! Tools the model can call: the [`Tool`] trait and [`Registry`] (schema validation, timeouts),
//! the built-ins (calculator, date and time, memory, image generation), tools users declare in
//! a file (HTTP endpoints, allow-listed commands), the parser of calls in generated text,
//! grammar-constrained decoding so the calls the model writes always parse and validate, and
//! the tool loop that runs the calls of a conversation and feeds their results back.
//!
//! A call is written in an assistant turn as
//!
//! ```text
//! <|tool_call|>{"name":"calculator","arguments":{"expression":"2+2"}}<|/tool_call|>
//! ```
//!
//! and its result comes back as a `tool` turn.

mod calculator;
mod constrain;
mod datetime;
mod grammar;
mod image;
mod memory;
mod parse;
mod registry;
pub mod schema;
pub mod spec;
mod tool_loop;
mod user;

pub use calculator::{evaluate, Calculator, Evaluation};
pub use constrain::{CallConstraint, TokenTrie, ToolChoice};
pub use datetime::CurrentDatetime;
pub use grammar::{CallState, Grammar, GrammarOptions};
pub use image::{image_request, GenerateImage, ImageBackend, VisionBackend};
pub use memory::{MemoryAccess, Recall, Remember, SearchMemory};
pub use parse::{parse_call_json, parse_ids, parse_text, CallSplitter, ParsedTurn, Piece, CALL_CLOSE, CALL_OPEN};
pub use registry::{check_name, CallError, Registry, Tool, ToolContext, ToolOutput};
pub use spec::{builtin_specs, tools_prompt, ToolSpec};
pub use tool_loop::{
    call_constraint, require_call_tokens, result_message, run_tool_loop, LoopEvent, LoopOptions, LoopOutcome, NoCalls,
    MAX_RESULT_CHARS,
};
pub use user::{load_tools_file, parse_tools, UserTool, MAX_OUTPUT_BYTES};

/// The spec of the built-in tool `name` (one of [`builtin_specs`]).
pub(crate) fn builtin_spec(name: &str) -> ToolSpec {
    builtin_specs().into_iter().find(|s| s.name == name).unwrap_or_else(|| ToolSpec {
        name: name.to_string(),
        description: String::new(),
        parameters: serde_json::json!({"type": "object", "properties": {}}),
    })
}
