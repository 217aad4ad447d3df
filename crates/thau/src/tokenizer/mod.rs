//! Byte-level BPE tokenizer (GPT-2 pre-tokenizer) with fixed special-token ids, built on the
//! `tokenizers` crate so the saved `tokenizer.json` loads in transformers and llama.cpp alike;
//! and the chat format those ids spell: roles, messages, tool specs and tool calls, the same
//! format as Jinja and Go templates for exported files, and fitting a conversation into a
//! context.
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

mod bpe;
mod chat;
mod foreign;
mod special;
mod stream;
mod tool_spec;

pub use bpe::{Tokenizer, MAX_VOCAB_SIZE, MIN_VOCAB_SIZE};
pub use chat::{
    fit_to_context, render, render_turn, with_tools, ChatFit, ChatStyle, Message, Role, ToolCall, CHAT_TEMPLATE_JINJA,
    OLLAMA_TEMPLATE, STOP_STRINGS,
};
pub use foreign::{token_type, Foreign, GgufVocab, VocabKind, VOCAB_FILE};
pub use special::{
    ASSISTANT, BOS, END, EOS, NUM_SPECIAL, PAD, SPECIAL_TOKENS, SYSTEM, TOOL, TOOL_CALL, TOOL_CALL_END, TOOL_RESULT,
    TOOL_RESULT_END, USER,
};
pub use stream::StreamDecoder;
pub use tool_spec::{tools_prompt, ToolSpec};
