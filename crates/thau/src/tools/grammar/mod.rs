//! A byte-level automaton for one tool call, `{"name":"<tool>","arguments":{…}}`, derived from
//! the registered tools' JSON schemas. Constrained decoding feeds it the bytes of candidate
//! tokens and keeps only those it accepts, so every call the model can write parses and
//! validates.
//!
//! The call is written compactly (no whitespace), as `ToolCall::to_json` writes it and the
//! training data has it. Argument keys may come in any order, each once; only declared keys
//! are allowed. Values follow their schema: strings (valid UTF-8, JSON escapes without lone
//! surrogates, `minLength`/`maxLength`), integers (`minimum`/`maximum`/exclusive bounds and
//! `multipleOf`, checked on every prefix so a number that can no longer land in range is cut
//! off), numbers (bounds, no exponent), booleans, null, `enum`/`const` literals, arrays
//! (`items`, `minItems`/`maxItems`), nested objects, and schema-less values (any JSON, depth
//! limited). Lengths without a schema limit are capped by [`GrammarOptions`], so a call always
//! ends.
//!
//! The state is a fixed-size stack of small `Copy` frames (a pushdown automaton): cloning it
//! is a memcpy, which matters because computing a mask steps a copy per vocabulary-trie node.
//! Every reachable state has a completion: a byte is accepted only if the value it extends can
//! still be finished within the schema. [`Grammar::completion`] writes the shortest one, from
//! each node's shortest value (computed when the grammar is built) and each frame's progress,
//! so constrained decoding can close a call before its token budget ends.

use crate::error::{Error, Result};
use crate::tools::spec::ToolSpec;
use serde_json::Value;

mod compile;
mod complete;
mod number;
mod state;
mod string;

use number::{first_multiple, int_min_suffix, int_viable, NumState};
pub use state::CallState;
use state::{Frame, Out};
use string::step_str;

/// Deepest frame stack (wrapper, arguments object, and nesting inside it).
pub const MAX_FRAMES: usize = 12;
/// Most literals an `enum` (or the set of tool names) may have.
pub const MAX_LITERALS: usize = 64;
/// Most properties an object schema may declare.
pub const MAX_PROPERTIES: usize = 64;
/// Digits of an integer (fits i64).
const INT_DIGITS: u8 = 18;
/// Digits before and after the point of a number.
const NUM_INT_DIGITS: u8 = 15;
const NUM_FRAC_DIGITS: u8 = 12;

/// Caps for values whose schema sets none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarOptions {
    /// Longest string, in characters, unless the schema's `maxLength` says otherwise.
    pub max_string_chars: u32,
    /// Most array items (and keys of a schema-less object) unless `maxItems` says otherwise.
    pub max_items: u32,
    /// Schema-less arrays and objects may open only while the frame stack (the call itself
    /// is two frames) stays within this depth; at most [`MAX_FRAMES`].
    pub max_depth: usize,
}

impl Default for GrammarOptions {
    fn default() -> Self {
        Self { max_string_chars: 2000, max_items: 32, max_depth: 8 }
    }
}

type NodeId = u32;

/// A compiled schema.
#[derive(Debug, Clone)]
enum Node {
    /// Any JSON value.
    Any,
    /// A string of `min..=max` characters.
    Str { min: u32, max: u32 },
    /// One of these exact byte strings (compact JSON of enum/const values, true/false, null).
    Lit(Vec<Vec<u8>>),
    /// An integer in `[min, max]` that is a multiple of `mult`.
    Int { min: i128, max: i128, mult: i128 },
    /// A number between the bounds (each `(value, exclusive)`).
    Num { min: Option<(f64, bool)>, max: Option<(f64, bool)> },
    /// An object with these keys (quoted JSON spelling) and value schemas.
    Obj { keys: Vec<Vec<u8>>, values: Vec<NodeId>, required: u64 },
    /// An array of `item`s.
    Arr { item: NodeId, min: u32, max: u32 },
    /// An object with any keys and values (a schema with no `properties`).
    AnyObj,
    /// One of several JSON types, chosen by the first byte.
    Union(Vec<NodeId>),
}

#[derive(Debug, Clone)]
struct ToolEntry {
    name: String,
    args: NodeId,
}

/// The call grammar for a set of tools.
#[derive(Debug, Clone)]
pub struct Grammar {
    nodes: Vec<Node>,
    tools: Vec<ToolEntry>,
    /// `Lit` node of the quoted tool names.
    names: NodeId,
    any: NodeId,
    bools: NodeId,
    null: NodeId,
    opts: GrammarOptions,
    /// The shortest complete value of each node (see [`Grammar::completion`]).
    shortest: Vec<Vec<u8>>,
}

const PREFIX: &[u8] = br#"{"name":"#;
const MIDDLE: &[u8] = br#","arguments":"#;
impl Grammar {
    /// Compile the call grammar for `tools`. Errors name the tool and the schema part THAU
    /// cannot constrain (an empty integer range, too many enum values, nesting too deep).
    pub fn new(tools: &[ToolSpec], opts: GrammarOptions) -> Result<Self> {
        if tools.is_empty() {
            return Err(Error::invalid("tools", "no tools to call: register at least one"));
        }
        if tools.len() > MAX_LITERALS {
            return Err(Error::invalid(
                "tools",
                format!("{} tools is over the limit of {MAX_LITERALS} per request", tools.len()),
            ));
        }
        let mut g = Grammar {
            nodes: Vec::new(),
            tools: Vec::new(),
            names: 0,
            any: 0,
            bools: 0,
            null: 0,
            opts,
            shortest: Vec::new(),
        };
        g.any = g.push(Node::Any);
        g.bools = g.push(Node::Lit(vec![b"true".to_vec(), b"false".to_vec()]));
        g.null = g.push(Node::Lit(vec![b"null".to_vec()]));
        let mut names = Vec::new();
        for t in tools {
            if g.tools.iter().any(|e| e.name == t.name) {
                return Err(Error::invalid("tools", format!("the tool name '{}' is declared twice", t.name)));
            }
            let args = g
                .compile(&t.parameters, 2)
                .map_err(|why| Error::invalid(format!("parameters of tool '{}'", t.name), why))?;
            if !matches!(g.nodes[args as usize], Node::Obj { .. } | Node::AnyObj) {
                return Err(Error::invalid(
                    format!("parameters of tool '{}'", t.name),
                    "the arguments must be an object schema: {\"type\":\"object\",\"properties\":{…}}",
                ));
            }
            names.push(serde_json::to_vec(&t.name).unwrap_or_default());
            g.tools.push(ToolEntry { name: t.name.clone(), args });
        }
        g.names = g.push(Node::Lit(names));
        g.shortest = (0..g.nodes.len()).map(|n| g.shortest_value(n as NodeId)).collect();
        Ok(g)
    }

    fn push(&mut self, n: Node) -> NodeId {
        self.nodes.push(n);
        (self.nodes.len() - 1) as NodeId
    }

    /// The tool names, in registration order.
    pub fn tool_names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|t| t.name.as_str())
    }

    /// The state before the first byte of a call to any of the tools.
    pub fn start(&self) -> CallState {
        self.start_masked(if self.tools.len() == 64 { u64::MAX } else { (1u64 << self.tools.len()) - 1 })
    }

    /// The state before the first byte of a call to the tool `name`.
    pub fn start_named(&self, name: &str) -> Result<CallState> {
        let i = self.tools.iter().position(|t| t.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.tool_names().collect();
            Error::invalid("tool_choice", format!("no tool is named '{name}'; the tools are {}", known.join(", ")))
        })?;
        Ok(self.start_masked(1 << i))
    }

    fn start_masked(&self, alive: u64) -> CallState {
        let mut s = CallState { len: 1, frames: [Frame::Empty; MAX_FRAMES] };
        s.frames[0] = Frame::Wrapper { phase: 0, pos: 0, tool: 0, alive };
        s
    }
}
