//! Grammar-constrained decoding of tool calls. Outside a call the model writes freely (unless
//! `tool_choice` says otherwise); once it emits `<|tool_call|>`, only tokens whose bytes keep
//! the call a valid prefix of the [`Grammar`] may follow, then `<|/tool_call|>`, then another
//! call or the end of the turn. So every call the model writes parses and validates.
//!
//! The mask is computed by walking a trie of every token's bytes with copies of the grammar
//! state, pruning a subtree as soon as its prefix is refused: tokens sharing a prefix share
//! the work. [`CallConstraint::allowed_slow`] is the reference (each token fed separately)
//! that the tests compare it with. Inside a long string the mask is the same from token to
//! token (until the length limit comes near), so one walk serves the whole string
//! ([`CallState::string_body_key`]); only the budget is checked again at each token.
//!
//! The decoder tells the constraint how many tokens the generation may still produce
//! ([`LogitsConstraint::budget`]). A call then opens only if the shortest call fits, and
//! inside a call a token is allowed only if the call can still be finished after it, with
//! `<|/tool_call|>`, in the tokens left. What a call still needs is counted in tokens: the
//! greedy tokenization of [`Grammar::completion`] (the shortest way to finish it, which keeps
//! to itself as it is followed, so its count drops by one with each of its tokens). So a call
//! is never cut by `max_tokens` or the context: the model is steered to close it in time.

use super::grammar::{CallState, Grammar};
use crate::infer::LogitsConstraint;
use crate::tokenizer::{Tokenizer, END, EOS, NUM_SPECIAL, TOOL_CALL, TOOL_CALL_END, TOOL_RESULT, TOOL_RESULT_END};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// Never call a tool (`<|tool_call|>` is masked out).
    None,
    /// The model decides.
    #[default]
    Auto,
    /// The answer starts with a call to some tool.
    Required,
    /// The answer starts with a call to this tool.
    Named(String),
}

impl ToolChoice {
    /// Parse "none" / "auto" / "required" / a tool name.
    pub fn parse(s: &str) -> Self {
        match s {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" | "any" => ToolChoice::Required,
            name => ToolChoice::Named(name.to_string()),
        }
    }
}

impl std::str::FromStr for ToolChoice {
    type Err = std::convert::Infallible;
    /// `none`, `auto`, `required` (or `any`), else the name of the tool to call.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

/// Every non-special token's bytes in a trie, built once per tokenizer.
#[derive(Debug)]
pub struct TokenTrie {
    /// Children of node `n`: `child_bytes/child_nodes[child_start[n]..child_start[n + 1]]`.
    child_start: Vec<u32>,
    child_bytes: Vec<u8>,
    child_nodes: Vec<u32>,
    /// Tokens whose bytes end at node `n`: `tokens[token_start[n]..token_start[n + 1]]`.
    token_start: Vec<u32>,
    tokens: Vec<u32>,
    /// Bytes of token `id`: `bytes[bytes_start[id]..bytes_start[id + 1]]` (empty for specials).
    bytes_start: Vec<u32>,
    bytes: Vec<u8>,
    vocab_size: usize,
    /// Every byte is a token of its own (true of byte-level BPE), so a text of `n` bytes
    /// takes at most `n` tokens.
    every_byte: bool,
    /// Bytes of the longest token.
    longest: usize,
}

impl TokenTrie {
    /// The trie of `tok`'s vocabulary (special tokens left out: they are handled by id).
    pub fn new(tok: &Tokenizer) -> Self {
        // Build with per-node child lists, then flatten (children in byte order).
        let mut kids: Vec<Vec<(u8, u32)>> = vec![Vec::new()];
        let mut ends: Vec<Vec<u32>> = vec![Vec::new()];
        for id in NUM_SPECIAL as u32..tok.vocab_size() as u32 {
            let Some(bytes) = tok.token_bytes(id).filter(|b| !b.is_empty()) else { continue };
            let mut n = 0usize;
            for &b in bytes {
                n = match kids[n].iter().find(|(c, _)| *c == b) {
                    Some(&(_, next)) => next as usize,
                    None => {
                        kids.push(Vec::new());
                        ends.push(Vec::new());
                        let next = kids.len() - 1;
                        kids[n].push((b, next as u32));
                        next
                    }
                };
            }
            ends[n].push(id);
        }
        let mut t = TokenTrie {
            child_start: Vec::with_capacity(kids.len() + 1),
            child_bytes: Vec::new(),
            child_nodes: Vec::new(),
            token_start: Vec::with_capacity(kids.len() + 1),
            tokens: Vec::new(),
            bytes_start: vec![0],
            bytes: Vec::new(),
            vocab_size: tok.vocab_size(),
            every_byte: kids[0].len() == 256 && kids[0].iter().all(|&(_, c)| !ends[c as usize].is_empty()),
            longest: 0,
        };
        for id in 0..tok.vocab_size() as u32 {
            if id as usize >= NUM_SPECIAL {
                t.bytes.extend_from_slice(tok.token_bytes(id).unwrap_or_default());
            }
            t.longest = t.longest.max(t.bytes.len() - *t.bytes_start.last().unwrap_or(&0) as usize);
            t.bytes_start.push(t.bytes.len() as u32);
        }
        for (k, e) in kids.iter_mut().zip(&ends) {
            k.sort_unstable();
            t.child_start.push(t.child_bytes.len() as u32);
            t.token_start.push(t.tokens.len() as u32);
            for &(b, c) in k.iter() {
                t.child_bytes.push(b);
                t.child_nodes.push(c);
            }
            t.tokens.extend(e);
        }
        t.child_start.push(t.child_bytes.len() as u32);
        t.token_start.push(t.tokens.len() as u32);
        t
    }

    /// The bytes of token `id` (empty for special and unknown ids).
    pub fn bytes_of(&self, id: u32) -> &[u8] {
        match (self.bytes_start.get(id as usize), self.bytes_start.get(id as usize + 1)) {
            (Some(&a), Some(&b)) => &self.bytes[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Vocabulary size of the tokenizer it was built from.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Every token whose bytes `state` accepts in full, pushed to `out` (unordered).
    pub fn allowed(&self, g: &Grammar, state: &CallState, out: &mut Vec<u32>) {
        self.walk(g, 0, state, &mut |_, ends| out.extend_from_slice(ends));
    }

    /// [`Self::allowed`], keeping only the tokens after which the call can be finished in at
    /// most `most` more tokens ([`Self::tokens_to_finish`]).
    pub fn allowed_within(&self, g: &Grammar, state: &CallState, most: u64, out: &mut Vec<u32>) {
        let below = g.remaining_below_top(state);
        let mut w = Within { most, base: *state, below, scratch: Vec::new() };
        self.walk(g, 0, state, &mut |after, ends| {
            if self.fits(g, after, &mut w) {
                out.extend_from_slice(ends);
            }
        });
    }

    /// [`Self::allowed`], each token with the bytes ([`Grammar::remaining`]) that finish the
    /// call after it.
    fn allowed_with_remaining(&self, g: &Grammar, state: &CallState, out: &mut Vec<(u32, u64)>) {
        let below = g.remaining_below_top(state);
        let mut scratch = Vec::new();
        self.walk(g, 0, state, &mut |after, ends| {
            let left = g.remaining_sharing(state, below, after, &mut scratch);
            out.extend(ends.iter().map(|&id| (id, left)));
        });
    }

    /// Tokens that finish the call from `state`: the greedy longest-match tokenization of its
    /// shortest completion. An upper bound on the fewest, and the bound the budget keeps to.
    pub fn tokens_to_finish(&self, g: &Grammar, state: &CallState) -> u64 {
        self.count_tokens(&g.completion(state))
    }

    /// Tokens in the greedy longest-match tokenization of `bytes` (`u64::MAX` if a byte is no
    /// token of its own and cannot be covered).
    pub fn count_tokens(&self, bytes: &[u8]) -> u64 {
        let (mut at, mut count) = (0, 0u64);
        while at < bytes.len() {
            let (mut node, mut longest) = (0usize, 0);
            for (k, &b) in bytes[at..].iter().enumerate() {
                let (a, e) = (self.child_start[node] as usize, self.child_start[node + 1] as usize);
                match self.child_bytes[a..e].binary_search(&b) {
                    Ok(i) => node = self.child_nodes[a + i] as usize,
                    Err(_) => break,
                }
                if self.token_start[node] < self.token_start[node + 1] {
                    longest = k + 1;
                }
            }
            if longest == 0 {
                return u64::MAX;
            }
            at += longest;
            count += 1;
        }
        count
    }

    /// Walk the subtrie under `node` from `state`, calling `found(state after, tokens)` for the
    /// tokens that end at each node whose bytes the grammar accepts.
    fn walk(&self, g: &Grammar, node: usize, state: &CallState, found: &mut dyn FnMut(&CallState, &[u32])) {
        let (a, b) = (self.child_start[node] as usize, self.child_start[node + 1] as usize);
        for i in a..b {
            let mut s = *state;
            if s.step(g, self.child_bytes[i]) {
                let c = self.child_nodes[i] as usize;
                let ends = &self.tokens[self.token_start[c] as usize..self.token_start[c + 1] as usize];
                // Tokens ending here share the state, so one check serves them all; a longer
                // token may still fit where this one does not, so the walk goes on regardless.
                if !ends.is_empty() {
                    found(&s, ends);
                }
                self.walk(g, c, &s, found);
            }
        }
    }

    /// Whether the call can be finished from `state` in at most `most` tokens. When every
    /// byte is a token, bytes bound tokens from above, so the tokenization is needed only when
    /// the bytes do not fit.
    fn fits(&self, g: &Grammar, state: &CallState, w: &mut Within) -> bool {
        (self.every_byte && g.remaining_sharing(&w.base, w.below, state, &mut w.scratch) <= w.most)
            || self.tokens_to_finish(g, state) <= w.most
    }
}

/// The budget of one mask: at most `most` tokens may finish the call after a token, and the
/// states reached share `base`'s frames below the top more often than not.
struct Within {
    most: u64,
    base: CallState,
    below: Option<u64>,
    scratch: Vec<u8>,
}

/// Where the current assistant turn is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Free text (a call may open unless the choice is `None`).
    Free,
    /// The turn must open with a call.
    MustOpen,
    /// Inside a call.
    InCall,
    /// A call just closed: another call or the end of the turn.
    AfterCall,
    /// A token outside the mask was forced in; stop constraining.
    Broken,
}

/// The constraint for one generation: [`LogitsConstraint`] for the decoding loop.
#[derive(Debug)]
pub struct CallConstraint {
    grammar: Arc<Grammar>,
    trie: Arc<TokenTrie>,
    choice: ToolChoice,
    mode: Mode,
    state: CallState,
    calls: usize,
    max_calls: usize,
    /// With `tool_choice` auto: decide at the turn's first token between a call and text by
    /// the probability of `<|tool_call|>` against this threshold (see [`Self::with_call_threshold`]).
    call_threshold: Option<f32>,
    /// No token of the turn has been accepted yet.
    at_start: bool,
    /// Tokens the generation may still produce, this one included (see [`Self::budget`]).
    tokens_left: Option<usize>,
    /// Tokens of the shortest call ([`TokenTrie::tokens_to_finish`] at its start).
    shortest_call: u64,
    /// Scratch: allowed token ids, and a per-id flag.
    allowed: Vec<u32>,
    keep: Vec<bool>,
    /// Inside a long string, what one walk of the trie found there, by
    /// [`CallState::string_body_key`]: the tokens allowed and the bytes each leaves to finish
    /// the call. The next tokens of the same string reuse it instead of walking again.
    string_cache: Option<(CallState, Vec<(u32, u64)>)>,
    string_cache_hits: usize,
}

impl CallConstraint {
    /// A constraint for an assistant turn with these tools; a named `choice` must name one.
    pub fn new(grammar: Arc<Grammar>, trie: Arc<TokenTrie>, choice: ToolChoice) -> crate::Result<Self> {
        let state = match &choice {
            ToolChoice::Named(n) => grammar.start_named(n)?,
            _ => grammar.start(),
        };
        let mode = match choice {
            ToolChoice::Required | ToolChoice::Named(_) => Mode::MustOpen,
            ToolChoice::None | ToolChoice::Auto => Mode::Free,
        };
        let shortest_call = trie.tokens_to_finish(&grammar, &state);
        Ok(Self {
            shortest_call,
            tokens_left: None,
            grammar,
            trie,
            choice,
            mode,
            state,
            calls: 0,
            max_calls: 8,
            call_threshold: None,
            at_start: true,
            allowed: Vec::new(),
            keep: Vec::new(),
            string_cache: None,
            string_cache_hits: 0,
        })
    }

    /// With `tool_choice` auto, make the call-or-text decision at the turn's first token as a
    /// binary one: the turn opens with a call when the model gives `<|tool_call|>` at least
    /// probability `p` (of the tokens allowed there), and with text otherwise.
    ///
    /// Greedy decoding alone compares `<|tool_call|>` with the single likeliest text token, so
    /// a model that puts 40% on calling and spreads 60% over the many ways an answer can start
    /// calls anyway. Meant for greedy decoding (`p = 0.5` is the binary argmax); sampling
    /// already calls with the model's probability.
    pub fn with_call_threshold(mut self, p: Option<f32>) -> Self {
        self.call_threshold = p;
        self
    }

    /// The probability of `<|tool_call|>` among the tokens `logits` leaves finite.
    fn call_probability(logits: &[f32]) -> f32 {
        let Some(&call) = logits.get(TOOL_CALL as usize) else { return 0.0 };
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if !call.is_finite() || !max.is_finite() {
            return 0.0;
        }
        let total: f32 = logits.iter().filter(|v| v.is_finite()).map(|&v| (v - max).exp()).sum();
        (call - max).exp() / total
    }

    /// At most this many calls in one turn (then the turn must end); default 8.
    pub fn with_max_calls(mut self, n: usize) -> Self {
        self.max_calls = n.max(1);
        self
    }

    /// Whether a call opened now could be finished within the budget: `<|tool_call|>`, the
    /// shortest call and `<|/tool_call|>`.
    fn room_for_a_call(&self) -> bool {
        self.tokens_left.is_none_or(|left| left as u64 >= self.shortest_call + 2)
    }

    /// True while a call is open.
    pub fn in_call(&self) -> bool {
        self.mode == Mode::InCall
    }

    fn fresh_state(&self) -> CallState {
        match &self.choice {
            ToolChoice::Named(n) => self.grammar.start_named(n).unwrap_or_else(|_| self.grammar.start()),
            _ => self.grammar.start(),
        }
    }

    /// The token ids allowed next, sorted (fast path). Special ids are decided by mode;
    /// `None` means "every token except the forbidden specials" (free text).
    pub fn allowed_ids(&mut self) -> Option<Vec<u32>> {
        match self.mode {
            Mode::Free | Mode::Broken => None,
            Mode::MustOpen => Some(vec![TOOL_CALL]),
            Mode::AfterCall if self.calls >= self.max_calls || !self.room_for_a_call() => Some(vec![EOS, END]),
            Mode::AfterCall => Some(vec![EOS, END, TOOL_CALL]),
            Mode::InCall if self.state.is_complete() => Some(vec![TOOL_CALL_END]),
            Mode::InCall => {
                self.allowed.clear();
                let mut out = std::mem::take(&mut self.allowed);
                // Inside a long string the mask is the same token after token: reuse it.
                let key = self.state.string_body_key(self.trie.longest).filter(|_| self.trie.every_byte);
                match (key, self.tokens_left) {
                    (Some(key), _) => self.allowed_in_string(key, &mut out),
                    // After this token: the rest of the call and `<|/tool_call|>`.
                    (None, Some(left)) => {
                        let most = (left as u64).saturating_sub(2);
                        self.trie.allowed_within(&self.grammar, &self.state, most, &mut out);
                        if out.is_empty() {
                            // Only when the call was opened without room (a forced call on a
                            // tiny budget): write on, the call will be cut.
                            self.trie.allowed(&self.grammar, &self.state, &mut out);
                        }
                    }
                    (None, None) => self.trie.allowed(&self.grammar, &self.state, &mut out),
                }
                out.sort_unstable();
                let ids = out.clone();
                self.allowed = out;
                Some(ids)
            }
        }
    }

    /// [`Self::allowed_ids`] inside a long string, where the state's [`CallState::string_body_key`]
    /// is `key`: from the string's cache (filled by one walk when the key is new). With a
    /// budget, a token whose remaining bytes fit is in (every byte is a token, so bytes bound
    /// tokens); otherwise its tokens are counted, as [`TokenTrie::allowed_within`] does.
    fn allowed_in_string(&mut self, key: CallState, out: &mut Vec<u32>) {
        match &self.string_cache {
            Some((k, _)) if *k == key => self.string_cache_hits += 1,
            _ => {
                let mut found = Vec::new();
                self.trie.allowed_with_remaining(&self.grammar, &self.state, &mut found);
                self.string_cache = Some((key, found));
            }
        }
        let Some((_, found)) = &self.string_cache else { return };
        match self.tokens_left {
            None => out.extend(found.iter().map(|&(id, _)| id)),
            Some(left) => {
                // After this token: the rest of the call and `<|/tool_call|>`.
                let most = (left as u64).saturating_sub(2);
                let (g, trie) = (&*self.grammar, &*self.trie);
                out.extend(
                    found
                        .iter()
                        .filter(|&&(id, bytes)| {
                            bytes <= most || {
                                let mut after = self.state;
                                after.feed(g, trie.bytes_of(id)) && trie.tokens_to_finish(g, &after) <= most
                            }
                        })
                        .map(|&(id, _)| id),
                );
                if out.is_empty() {
                    // As in `allowed_ids`: a call opened without room writes on.
                    out.extend(found.iter().map(|&(id, _)| id));
                }
            }
        }
    }

    /// How many masks inside a string reused the string's cache (see [`Self::allowed_ids`]).
    pub fn string_cache_hits(&self) -> usize {
        self.string_cache_hits
    }

    /// The same set as [`Self::allowed_ids`], by feeding every token's bytes to a copy of the
    /// state one by one: the slow reference for tests.
    pub fn allowed_slow(&self, tok: &Tokenizer) -> Option<Vec<u32>> {
        if self.mode != Mode::InCall || self.state.is_complete() {
            return None;
        }
        let mut out = Vec::new();
        for id in NUM_SPECIAL as u32..tok.vocab_size() as u32 {
            let Some(bytes) = tok.token_bytes(id).filter(|b| !b.is_empty()) else { continue };
            let mut s = self.state;
            if s.feed(&self.grammar, bytes) {
                out.push(id);
            }
        }
        Some(out)
    }

    fn forbidden_in_free_text(&self) -> &'static [u32] {
        match self.choice {
            ToolChoice::None => &[TOOL_CALL, TOOL_CALL_END, TOOL_RESULT, TOOL_RESULT_END],
            _ => &[TOOL_CALL_END, TOOL_RESULT, TOOL_RESULT_END],
        }
    }
}

impl LogitsConstraint for CallConstraint {
    fn mask(&mut self, logits: &mut [f32]) {
        if self.mode == Mode::Free {
            let room = self.room_for_a_call();
            for &id in self.forbidden_in_free_text().iter().chain(if room { &[][..] } else { &[TOOL_CALL][..] }) {
                if let Some(v) = logits.get_mut(id as usize) {
                    *v = f32::NEG_INFINITY;
                }
            }
            if let (Some(p), true, ToolChoice::Auto) = (self.call_threshold, self.at_start, &self.choice) {
                let call = room && Self::call_probability(logits) >= p;
                for (id, v) in logits.iter_mut().enumerate() {
                    if (id == TOOL_CALL as usize) != call {
                        *v = f32::NEG_INFINITY;
                    }
                }
            }
            return;
        }
        let Some(ids) = self.allowed_ids() else { return };
        self.keep.clear();
        self.keep.resize(logits.len(), false);
        for &id in &ids {
            if let Some(k) = self.keep.get_mut(id as usize) {
                *k = true;
            }
        }
        for (v, keep) in logits.iter_mut().zip(&self.keep) {
            if !keep {
                *v = f32::NEG_INFINITY;
            }
        }
    }

    fn budget(&mut self, tokens_left: usize) {
        self.tokens_left = Some(tokens_left);
    }

    fn accept(&mut self, token: u32) {
        self.at_start = false;
        self.mode = match (self.mode, token) {
            (Mode::Broken, _) => Mode::Broken,
            (Mode::Free | Mode::MustOpen | Mode::AfterCall, TOOL_CALL) if self.choice != ToolChoice::None => {
                self.state = self.fresh_state();
                Mode::InCall
            }
            (Mode::Free, _) => Mode::Free,
            (Mode::InCall, TOOL_CALL_END) if self.state.is_complete() => {
                self.calls += 1;
                Mode::AfterCall
            }
            (Mode::InCall, t) if (t as usize) >= NUM_SPECIAL => {
                if self.state.feed(&self.grammar, self.trie.bytes_of(t)) {
                    Mode::InCall
                } else {
                    Mode::Broken
                }
            }
            // AfterCall then END/EOS ends the turn; anything else was forced past the mask.
            (Mode::AfterCall, END | EOS) => Mode::AfterCall,
            _ => {
                tracing::warn!(token, "a token outside the tool-call grammar was chosen; constraint lifted");
                Mode::Broken
            }
        };
    }
}
