//! Tools the model can call: what it is told about them ([`spec`]), and (in the modules beside
//! it) the tools themselves, the registry, the call parser and constrained decoding.
//!
//! The wire format of a call inside an assistant turn is
//! `<|tool_call|>{"name": "...", "arguments": {...}}<|/tool_call|>` (special tokens), and a
//! tool's result comes back as a `tool` turn (see [`crate::chat::format`]).

pub mod spec;

pub use spec::{builtin_specs, tools_prompt, ToolSpec};
