//! Chat: roles, the chat format (and the same format as Jinja and Go templates for exported
//! files), and fitting a conversation into the model's context.
//!
//! A conversation is rendered as
//!
//! ```text
//! <|bos|><|system|>You are THAU.<|end|><|user|>Hola<|end|><|assistant|>¡Hola!<|end|>
//! ```
//!
//! Role and end tokens are special tokens with fixed ids; message text is encoded with
//! [`Tokenizer::encode`], which never produces special tokens, so a user who types `<|end|>`
//! cannot forge a turn boundary.

pub mod format;
mod session;

pub use format::{
    fit_to_context, render, render_turn, with_tools, ChatFit, ChatStyle, Message, Role, ToolCall, CHAT_TEMPLATE_JINJA,
    OLLAMA_TEMPLATE, STOP_STRINGS,
};
pub use session::{result_message, run_tool_loop, LoopEvent, LoopOptions, LoopOutcome, NoCalls, MAX_RESULT_CHARS};
