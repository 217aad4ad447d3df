//! Incremental detokenisation for streaming generation: bytes are held back until they form
//! complete UTF-8 characters, so a multi-byte character split across tokens is never torn.

use super::Tokenizer;

/// Turns ids into text one at a time; concatenating every `push` and `finish` result gives
/// exactly [`Tokenizer::decode`] of all the ids.
#[derive(Debug)]
pub struct StreamDecoder<'a> {
    tok: &'a Tokenizer,
    /// Bytes of an incomplete character waiting for the next token.
    pending: Vec<u8>,
}

impl<'a> StreamDecoder<'a> {
    /// A decoder with nothing pending.
    pub fn new(tok: &'a Tokenizer) -> Self {
        Self { tok, pending: Vec::new() }
    }

    /// Add one token; returns the text that is now complete, if any (unknown ids are skipped).
    pub fn push(&mut self, id: u32) -> Option<String> {
        if let Some(bytes) = self.tok.token_bytes(id) {
            self.pending.extend_from_slice(bytes);
        }
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // An incomplete character at the end: wait for more bytes.
                        None => {
                            self.pending.drain(..valid);
                            break;
                        }
                        // Bytes that can never become valid: replace them as `decode` does.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Flush what is left; an incomplete trailing character becomes U+FFFD.
    pub fn finish(&mut self) -> Option<String> {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        (!out.is_empty()).then_some(out)
    }

    /// True when bytes of an incomplete character are held back.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}
