//! The special tokens. Their ids are fixed forever (index in [`SPECIAL_TOKENS`] == id), so
//! checkpoints, chat templates and exported GGUF files agree across tokenizer retrains.

/// Every special token, in id order: `SPECIAL_TOKENS[id]` is the token with that id.
pub const SPECIAL_TOKENS: &[&str] = &[
    "<|bos|>",
    "<|eos|>",
    "<|pad|>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|tool|>",
    "<|end|>",
    "<|tool_call|>",
    "<|/tool_call|>",
    "<|tool_result|>",
    "<|/tool_result|>",
    "<|reserved_0|>",
    "<|reserved_1|>",
    "<|reserved_2|>",
    "<|reserved_3|>",
    "<|reserved_4|>",
    "<|reserved_5|>",
    "<|reserved_6|>",
    "<|reserved_7|>",
];

/// Number of special tokens; the 256 byte tokens start at this id.
pub const NUM_SPECIAL: usize = 20;

/// Beginning of a document.
pub const BOS: u32 = 0;
/// End of a document.
pub const EOS: u32 = 1;
/// Padding.
pub const PAD: u32 = 2;
/// Start of a system turn.
pub const SYSTEM: u32 = 3;
/// Start of a user turn.
pub const USER: u32 = 4;
/// Start of an assistant turn.
pub const ASSISTANT: u32 = 5;
/// Start of a tool turn.
pub const TOOL: u32 = 6;
/// End of a chat turn.
pub const END: u32 = 7;
/// Opens a tool call.
pub const TOOL_CALL: u32 = 8;
/// Closes a tool call.
pub const TOOL_CALL_END: u32 = 9;
/// Opens a tool result.
pub const TOOL_RESULT: u32 = 10;
/// Closes a tool result.
pub const TOOL_RESULT_END: u32 = 11;

// The table and the count must agree; checked at compile time.
const _: () = assert!(SPECIAL_TOKENS.len() == NUM_SPECIAL);
