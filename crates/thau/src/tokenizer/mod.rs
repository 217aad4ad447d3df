//! Byte-level BPE tokenizer (GPT-2 pre-tokenizer) with fixed special-token ids, built on the
//! `tokenizers` crate so the saved `tokenizer.json` loads in transformers and llama.cpp alike.

mod bpe;
mod foreign;
mod special;
mod stream;

pub use bpe::{Tokenizer, MAX_VOCAB_SIZE, MIN_VOCAB_SIZE};
pub use foreign::{token_type, Foreign, GgufVocab, VocabKind, VOCAB_FILE};
pub use special::{
    ASSISTANT, BOS, END, EOS, NUM_SPECIAL, PAD, SPECIAL_TOKENS, SYSTEM, TOOL, TOOL_CALL, TOOL_CALL_END, TOOL_RESULT,
    TOOL_RESULT_END, USER,
};
pub use stream::StreamDecoder;
