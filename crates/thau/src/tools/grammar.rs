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

use super::spec::ToolSpec;
use crate::error::{Error, Result};
use serde_json::Value;

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

    /// The shortest complete value of `node` (the first in a fixed order among equals). Its
    /// children are compiled before it, so this recursion is over a finite tree.
    fn shortest_value(&self, node: NodeId) -> Vec<u8> {
        // Integer and number ranges with nothing to write are refused when compiling, so
        // their shortest values exist.
        match &self.nodes[node as usize] {
            Node::Any => b"0".to_vec(),
            Node::Str { min, .. } => {
                let mut v = vec![b'"'];
                v.resize(1 + *min as usize, b'a');
                v.push(b'"');
                v
            }
            Node::Lit(lits) => first_shortest(lits.iter().cloned()).unwrap_or_default(),
            &Node::Int { min, max, mult } => int_min_suffix(false, 0, 0, 0, min, max, mult).unwrap_or_default(),
            &Node::Num { min, max } => NumState::fresh().min_suffix(min, max).unwrap_or_default(),
            Node::Obj { keys, values, required } => {
                let mut v = vec![b'{'];
                for (i, k) in keys.iter().enumerate().filter(|(i, _)| required & (1 << i) != 0) {
                    if v.len() > 1 {
                        v.push(b',');
                    }
                    v.extend_from_slice(k);
                    v.push(b':');
                    v.extend(self.shortest_value(values[i]));
                }
                v.push(b'}');
                v
            }
            Node::Arr { item, min, .. } => {
                let item = self.shortest_value(*item);
                let mut v = vec![b'['];
                for i in 0..*min {
                    if i > 0 {
                        v.push(b',');
                    }
                    v.extend_from_slice(&item);
                }
                v.push(b']');
                v
            }
            Node::AnyObj => b"{}".to_vec(),
            Node::Union(members) => first_shortest(members.iter().map(|m| self.shortest_value(*m))).unwrap_or_default(),
        }
    }

    /// The bytes that finish the call from `state` by the shortest way (empty once it is
    /// complete). Among equally short ways it takes the first in a fixed order, and it keeps
    /// to it: after any prefix of its answer, the answer is the rest. So a tokenization of it
    /// shrinks by one token per token fed, which [`super::CallConstraint`] relies on.
    pub fn completion(&self, state: &CallState) -> Vec<u8> {
        let mut out = Vec::new();
        let n = state.len as usize;
        if n == 0 {
            return out;
        }
        let top = state.frames[n - 1];
        // The tool name: what follows it depends on which tool it turns out to be.
        if let (Frame::Lit { pos, alive, .. }, true) =
            (top, n == 2 && matches!(state.frames[0], Frame::Wrapper { phase: 2, .. }))
        {
            self.finish_call(alive, pos as usize, &mut out);
            return out;
        }
        self.finish_frame(&top, &mut out);
        for f in state.frames[..n - 1].iter().rev() {
            let mut parent = *f;
            self.child_done(&mut parent, 0);
            self.finish_frame(&parent, &mut out);
        }
        out
    }

    /// The fewest bytes that finish the call from `state` (0 once it is complete): the length
    /// of [`Self::completion`]. Exact: from any state with `n > 0` bytes to go, some byte the
    /// grammar accepts leaves `n - 1`, and none leaves fewer.
    pub fn remaining(&self, state: &CallState) -> u64 {
        self.completion(state).len() as u64
    }

    /// The bytes the frames below the top add to [`Self::completion`] of `state`; `None`
    /// while the tool name is written (its rest and the call's depend on each other).
    pub fn remaining_below_top(&self, state: &CallState) -> Option<u64> {
        let n = state.len as usize;
        if n == 0 || (n == 2 && matches!(state.frames[0], Frame::Wrapper { phase: 2, .. })) {
            return None;
        }
        let mut top = Vec::new();
        self.finish_frame(&state.frames[n - 1], &mut top);
        Some(self.remaining(state) - top.len() as u64)
    }

    /// [`Self::remaining`] of `state`, faster when it has the same frames below its top as
    /// `base` (whose [`Self::remaining_below_top`] is `below`): then only the top frame is
    /// finished. `scratch` is reused between calls. Masks use this, since most tokens only
    /// move the top frame.
    pub fn remaining_sharing(
        &self,
        base: &CallState,
        below: Option<u64>,
        state: &CallState,
        scratch: &mut Vec<u8>,
    ) -> u64 {
        let n = state.len as usize;
        match below {
            Some(below) if n >= 1 && n == base.len as usize && state.frames[..n - 1] == base.frames[..n - 1] => {
                scratch.clear();
                self.finish_frame(&state.frames[n - 1], scratch);
                below + scratch.len() as u64
            }
            _ => self.remaining(state),
        }
    }

    /// Finish a call whose quoted tool name is one of `alive` and has its first `pos` bytes
    /// written: the rest of the name, `,"arguments":`, the arguments and `}`.
    fn finish_call(&self, alive: u64, pos: usize, out: &mut Vec<u8>) {
        let names = self.lits(self.names);
        let best = (0..self.tools.len())
            .filter(|&i| alive & (1 << i) != 0)
            .min_by_key(|&i| names[i].len() - pos + self.shortest[self.tools[i].args as usize].len());
        if let Some(i) = best {
            out.extend_from_slice(&names[i][pos..]);
            out.extend_from_slice(MIDDLE);
            out.extend_from_slice(&self.shortest[self.tools[i].args as usize]);
            out.push(b'}');
        }
    }

    /// The shortest bytes that finish the value `f` reads, were it the top frame.
    fn finish_frame(&self, f: &Frame, out: &mut Vec<u8>) {
        let value = |n: NodeId| self.shortest[n as usize].as_slice();
        match *f {
            Frame::Empty => {}
            Frame::Wrapper { phase, pos, tool, alive } => match phase {
                0 => {
                    out.extend_from_slice(&PREFIX[pos as usize..]);
                    self.finish_call(alive, 0, out);
                }
                1 | 2 => self.finish_call(alive, 0, out),
                3..=5 => {
                    if phase == 3 {
                        out.extend_from_slice(&MIDDLE[pos as usize..]);
                    }
                    out.extend_from_slice(value(self.tools[tool as usize].args));
                    out.push(b'}');
                }
                6 => out.push(b'}'),
                _ => {}
            },
            Frame::Lit { node, pos, alive } => {
                let lits = self.lits(node);
                let rests = (0..lits.len()).filter(|i| alive & (1 << i) != 0).map(|i| lits[i][pos as usize..].to_vec());
                out.extend(first_shortest(rests).unwrap_or_default());
            }
            Frame::Str { phase, count, min, need, lo, .. } => {
                // Finish the character under way, write characters up to `min`, then `"`.
                let after = match phase {
                    0 => {
                        out.push(b'"');
                        0
                    }
                    1 if need > 0 => {
                        out.push(lo);
                        out.extend(std::iter::repeat_n(0x80, need as usize - 1));
                        count + 1
                    }
                    1 => count,
                    2 => {
                        out.push(b'n');
                        count + 1
                    }
                    p => {
                        out.extend(std::iter::repeat_n(b'0', 7 - p as usize));
                        count + 1
                    }
                };
                out.extend(std::iter::repeat_n(b'a', min.saturating_sub(after) as usize));
                out.push(b'"');
            }
            Frame::Int { node, neg, phase, digits, mag } => {
                if let Node::Int { min, max, mult } = self.nodes[node as usize] {
                    out.extend(int_min_suffix(neg, phase, digits, mag as i128, min, max, mult).unwrap_or_default());
                }
            }
            Frame::Num { node, neg, phase, digits, int, fd, frac } => {
                let (min, max) = match self.nodes[node as usize] {
                    Node::Num { min, max } => (min, max),
                    _ => (None, None),
                };
                out.extend(NumState { neg, phase, digits, int, fd, frac }.min_suffix(min, max).unwrap_or_default());
            }
            Frame::Obj { node, phase, seen, alive, pos } => {
                let Node::Obj { keys, values, required } = &self.nodes[node as usize] else { return };
                let member = |i: usize, from: usize, out: &mut Vec<u8>| {
                    out.extend_from_slice(&keys[i][from..]);
                    out.push(b':');
                    out.extend_from_slice(value(values[i]));
                };
                let missing = |seen: u64| (0..keys.len()).filter(move |i| required & !seen & (1 << i) != 0);
                // After a value: `,` and each required key still missing, then `}`.
                let close = |seen: u64, out: &mut Vec<u8>| {
                    for i in missing(seen) {
                        out.push(b',');
                        member(i, 0, out);
                    }
                    out.push(b'}');
                };
                let cost = |i: usize| keys[i].len() + 1 + value(values[i]).len();
                match phase {
                    0 => out.extend_from_slice(value(node)),
                    // After `{` (nothing seen yet) or `,` (a key must follow).
                    1 | 6 => {
                        let mut first = true;
                        for i in missing(seen) {
                            if !first {
                                out.push(b',');
                            }
                            member(i, 0, out);
                            first = false;
                        }
                        if first && phase == 6 {
                            let unseen = (0..keys.len()).filter(|i| seen & (1 << i) == 0);
                            if let Some(i) = unseen.min_by_key(|&i| cost(i)) {
                                member(i, 0, out);
                            }
                        }
                        out.push(b'}');
                    }
                    // A key under way: each candidate also brings the required keys it leaves.
                    2 => {
                        let total = |i: usize| {
                            keys[i].len() - pos as usize
                                + 1
                                + value(values[i]).len()
                                + missing(seen | 1 << i).map(|k| 1 + cost(k)).sum::<usize>()
                        };
                        let alive = (0..keys.len()).filter(|i| alive & (1 << i) != 0);
                        if let Some(i) = alive.min_by_key(|&i| total(i)) {
                            member(i, pos as usize, out);
                            close(seen | 1 << i, out);
                        }
                    }
                    3 | 4 => {
                        if phase == 3 {
                            out.push(b':');
                        }
                        out.extend_from_slice(value(values[alive.trailing_zeros() as usize]));
                        close(seen, out);
                    }
                    _ => close(seen, out),
                }
            }
            Frame::AnyObj { phase, .. } => out.extend_from_slice(match phase {
                0 => b"{}",
                2 | 3 => b":0}",
                4 => b"0}",
                6 => br#""":0}"#,
                _ => b"}",
            }),
            Frame::Arr { node, phase, count } => {
                let (item, min) = match self.nodes.get(node as usize) {
                    Some(Node::Arr { item, min, .. }) => (*item, *min),
                    _ => (self.any, 0),
                };
                let item = value(item);
                let more = |have: u32, out: &mut Vec<u8>| {
                    for _ in have..min {
                        out.push(b',');
                        out.extend_from_slice(item);
                    }
                    out.push(b']');
                };
                match phase {
                    0 => out.extend_from_slice(value(node)),
                    1 if min == 0 => out.push(b']'),
                    1 | 4 => {
                        out.extend_from_slice(item);
                        more(count + 1, out);
                    }
                    _ => more(count, out),
                }
            }
        }
    }

    fn push(&mut self, n: Node) -> NodeId {
        self.nodes.push(n);
        (self.nodes.len() - 1) as NodeId
    }

    /// The tool names, in registration order.
    pub fn tool_names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|t| t.name.as_str())
    }

    /// Compile a schema met at frame depth `depth` (the wrapper is depth 1).
    fn compile(&mut self, s: &Value, depth: usize) -> std::result::Result<NodeId, String> {
        if depth + 1 > MAX_FRAMES {
            return Err(format!("schemas nested deeper than {} levels cannot be constrained", MAX_FRAMES - 2));
        }
        let Some(obj) = s.as_object() else {
            return match s.as_bool() {
                Some(true) | None => Ok(self.any),
                Some(false) => Err("a `false` schema accepts no value".into()),
            };
        };
        if let Some(c) = obj.get("const") {
            return Ok(self.push(Node::Lit(vec![serde_json::to_vec(c).unwrap_or_default()])));
        }
        if let Some(e) = obj.get("enum") {
            let vals = e.as_array().filter(|a| !a.is_empty()).ok_or("\"enum\" must be a non-empty list")?;
            if vals.len() > MAX_LITERALS {
                return Err(format!("an enum of {} values is over the limit of {MAX_LITERALS}", vals.len()));
            }
            let ts = super::schema::types(s);
            let mut lits: Vec<Vec<u8>> = Vec::new();
            for v in vals {
                if !ts.is_empty() && !ts.iter().any(|t| super::schema::has_type(v, t)) {
                    continue;
                }
                let b = serde_json::to_vec(v).unwrap_or_default();
                if !lits.contains(&b) {
                    lits.push(b);
                }
            }
            if lits.is_empty() {
                return Err("no enum value has the declared type".into());
            }
            return Ok(self.push(Node::Lit(lits)));
        }
        let ts = super::schema::types(s);
        if ts.is_empty() {
            return Ok(self.any);
        }
        let mut members = Vec::new();
        let number = ts.contains(&"number");
        for t in &ts {
            let id = match *t {
                "string" => {
                    let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0).min(u32::MAX as u64) as u32;
                    let max = obj
                        .get("maxLength")
                        .and_then(Value::as_u64)
                        .map_or(self.opts.max_string_chars, |m| m.min(u32::MAX as u64) as u32)
                        .max(min);
                    self.push(Node::Str { min, max })
                }
                "integer" if number => continue,
                "integer" => self.compile_int(obj)?,
                "number" => {
                    let bound = |k: &str, ek: &str| {
                        let inc = obj.get(k).and_then(Value::as_f64).map(|v| (v, false));
                        let exc = obj.get(ek).and_then(Value::as_f64).map(|v| (v, true));
                        (inc, exc)
                    };
                    let (lo, elo) = bound("minimum", "exclusiveMinimum");
                    let (hi, ehi) = bound("maximum", "exclusiveMaximum");
                    let min = match (lo, elo) {
                        (Some(a), Some(b)) => Some(if b.0 >= a.0 { b } else { a }),
                        (a, b) => a.or(b),
                    };
                    let max = match (hi, ehi) {
                        (Some(a), Some(b)) => Some(if b.0 <= a.0 { b } else { a }),
                        (a, b) => a.or(b),
                    };
                    let limit = 10f64.powi(NUM_INT_DIGITS as i32);
                    if let (Some(a), Some(b)) = (min, max) {
                        if a.0 > b.0 || (a.0 == b.0 && (a.1 || b.1)) {
                            return Err(format!("no number lies between {} and {}", a.0, b.0));
                        }
                    }
                    if min.is_some_and(|m| m.0 >= limit) || max.is_some_and(|m| m.0 <= -limit) {
                        return Err(format!("number bounds beyond ±1e{NUM_INT_DIGITS} cannot be constrained"));
                    }
                    // Calls write at most NUM_FRAC_DIGITS fraction digits: bounds closer than
                    // that leave nothing to write (and no call could be finished).
                    if NumState::fresh().min_suffix(min, max).is_none() {
                        return Err(format!(
                            "no number with at most {NUM_FRAC_DIGITS} fraction digits lies within the bounds: widen them"
                        ));
                    }
                    self.push(Node::Num { min, max })
                }
                "boolean" => self.bools,
                "null" => self.null,
                "array" => {
                    let item = match obj.get("items") {
                        Some(i) => self.compile(i, depth + 1)?,
                        None => self.any,
                    };
                    let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0).min(u32::MAX as u64) as u32;
                    let max = obj
                        .get("maxItems")
                        .and_then(Value::as_u64)
                        .map_or(self.opts.max_items, |m| m.min(u32::MAX as u64) as u32)
                        .max(min);
                    self.push(Node::Arr { item, min, max })
                }
                "object" => {
                    let props = obj.get("properties").and_then(Value::as_object);
                    let closed = obj.get("additionalProperties") == Some(&Value::Bool(false));
                    match props {
                        None if !closed => self.any_object(),
                        _ => {
                            let props: Vec<(&String, &Value)> = props.map(|p| p.iter().collect()).unwrap_or_default();
                            if props.len() > MAX_PROPERTIES {
                                return Err(format!(
                                    "{} properties is over the limit of {MAX_PROPERTIES}",
                                    props.len()
                                ));
                            }
                            let mut keys = Vec::new();
                            let mut values = Vec::new();
                            for (k, v) in &props {
                                keys.push(serde_json::to_vec(k).unwrap_or_default());
                                values.push(self.compile(v, depth + 1).map_err(|e| format!("{k}: {e}"))?);
                            }
                            let mut required = 0u64;
                            for r in obj.get("required").and_then(Value::as_array).into_iter().flatten() {
                                let i = props
                                    .iter()
                                    .position(|(k, _)| Some(k.as_str()) == r.as_str())
                                    .ok_or_else(|| format!("\"required\" names {r}, which is not a property"))?;
                                required |= 1 << i;
                            }
                            self.push(Node::Obj { keys, values, required })
                        }
                    }
                }
                other => return Err(format!("unknown type '{other}'")),
            };
            members.push(id);
        }
        Ok(if members.len() == 1 { members[0] } else { self.push(Node::Union(members)) })
    }

    fn any_object(&mut self) -> NodeId {
        self.push(Node::AnyObj)
    }

    fn compile_int(&mut self, obj: &serde_json::Map<String, Value>) -> std::result::Result<NodeId, String> {
        let limit = 10i128.pow(INT_DIGITS as u32) - 1;
        let f = |k: &str| obj.get(k).and_then(Value::as_f64);
        let mut min = -limit;
        let mut max = limit;
        if let Some(m) = f("minimum") {
            min = min.max(m.ceil().max(-1e30) as i128);
        }
        if let Some(m) = f("exclusiveMinimum") {
            min = min.max(m.floor().max(-1e30) as i128 + 1);
        }
        if let Some(m) = f("maximum") {
            max = max.min(m.floor().min(1e30) as i128);
        }
        if let Some(m) = f("exclusiveMaximum") {
            max = max.min(m.ceil().min(1e30) as i128 - 1);
        }
        let mult = match f("multipleOf") {
            None => 1,
            Some(m) if m >= 1.0 && m.fract() == 0.0 && m < 1e18 => m as i128,
            Some(m) => return Err(format!("multipleOf {m} for an integer must be a whole number >= 1")),
        };
        if first_multiple(min, max, mult).is_none() {
            return Err(format!("no integer multiple of {mult} lies in [{min}, {max}]"));
        }
        Ok(self.push(Node::Int { min, max, mult }))
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

    /// The frame that reads a value of `node` whose first byte is `b`, if `b` can start one.
    /// `depth` is the number of frames below it.
    fn value_frame(&self, node: NodeId, b: u8, depth: usize) -> Option<Frame> {
        if depth + 1 > MAX_FRAMES {
            return None;
        }
        // Containers of schema-less values need room for a key and a value inside.
        let room = depth + 3 <= self.opts.max_depth.min(MAX_FRAMES);
        match &self.nodes[node as usize] {
            Node::Any => match b {
                b'"' => Some(Frame::str(0, self.opts.max_string_chars)),
                b'-' | b'0'..=b'9' => {
                    Some(Frame::Num { node, neg: false, phase: 0, digits: 0, int: 0, fd: 0, frac: 0 })
                }
                b't' | b'f' => self.value_frame(self.bools, b, depth),
                b'n' => self.value_frame(self.null, b, depth),
                b'{' if room => Some(Frame::AnyObj { phase: 0, count: 0 }),
                b'[' if room => Some(Frame::Arr { node: u32::MAX, phase: 0, count: 0 }),
                _ => None,
            },
            Node::Str { min, max } => (b == b'"').then(|| Frame::str(*min, *max)),
            Node::Lit(lits) => {
                let alive =
                    lits.iter().enumerate().filter(|(_, l)| l.first() == Some(&b)).fold(0u64, |m, (i, _)| m | 1 << i);
                (alive != 0).then_some(Frame::Lit { node, pos: 0, alive })
            }
            Node::Int { .. } => {
                matches!(b, b'-' | b'0'..=b'9').then_some(Frame::Int { node, neg: false, phase: 0, digits: 0, mag: 0 })
            }
            Node::Num { .. } => matches!(b, b'-' | b'0'..=b'9').then_some(Frame::Num {
                node,
                neg: false,
                phase: 0,
                digits: 0,
                int: 0,
                fd: 0,
                frac: 0,
            }),
            Node::Obj { .. } => (b == b'{').then_some(Frame::Obj { node, phase: 0, seen: 0, alive: 0, pos: 0 }),
            Node::Arr { .. } => (b == b'[').then_some(Frame::Arr { node, phase: 0, count: 0 }),
            Node::AnyObj => (b == b'{' && room).then_some(Frame::AnyObj { phase: 0, count: 0 }),
            Node::Union(members) => members.iter().find_map(|m| self.value_frame(*m, b, depth)),
        }
    }

    fn lits(&self, node: NodeId) -> &[Vec<u8>] {
        match &self.nodes[node as usize] {
            Node::Lit(l) => l,
            _ => &[],
        }
    }

    /// Advance the top frame by one byte.
    fn step_frame(&self, f: &mut Frame, b: u8, depth: usize) -> Out {
        match f {
            Frame::Empty => Out::Reject,
            Frame::Wrapper { phase, pos, tool, alive } => match *phase {
                0 => {
                    if PREFIX[*pos as usize] != b {
                        return Out::Reject;
                    }
                    *pos += 1;
                    if *pos as usize == PREFIX.len() {
                        *phase = 1;
                    }
                    Out::Take
                }
                1 => {
                    let lits = self.lits(self.names);
                    let a = *alive & lits.iter().enumerate().filter(|(_, l)| l[0] == b).fold(0, |m, (i, _)| m | 1 << i);
                    if a == 0 {
                        return Out::Reject;
                    }
                    *phase = 2;
                    Out::Push(Frame::Lit { node: self.names, pos: 0, alive: a })
                }
                3 => {
                    if MIDDLE[*pos as usize] != b {
                        return Out::Reject;
                    }
                    *pos += 1;
                    if *pos as usize == MIDDLE.len() {
                        *phase = 4;
                    }
                    Out::Take
                }
                4 => match self.value_frame(self.tools[*tool as usize].args, b, depth) {
                    Some(child) => {
                        *phase = 5;
                        Out::Push(child)
                    }
                    None => Out::Reject,
                },
                6 if b == b'}' => {
                    *phase = 7;
                    Out::Take
                }
                _ => Out::Reject,
            },
            Frame::Lit { node, pos, alive } => {
                let lits = self.lits(*node);
                let p = *pos as usize;
                let mut next = 0u64;
                let mut complete = None;
                for (i, l) in lits.iter().enumerate() {
                    if *alive & (1 << i) == 0 {
                        continue;
                    }
                    if l.len() == p {
                        complete = Some(i);
                    } else if l[p] == b {
                        next |= 1 << i;
                    }
                }
                if next == 0 {
                    return match complete {
                        Some(i) => Out::PopRetry(i as u32),
                        None => Out::Reject,
                    };
                }
                *alive = next;
                *pos += 1;
                // Done when every survivor is complete (then there is exactly one).
                let p = *pos as usize;
                let mut longer = false;
                let mut done = None;
                for (i, l) in lits.iter().enumerate() {
                    if next & (1 << i) != 0 {
                        if l.len() == p {
                            done = Some(i);
                        } else {
                            longer = true;
                        }
                    }
                }
                match (done, longer) {
                    (Some(i), false) => Out::Done(i as u32),
                    _ => Out::Take,
                }
            }
            Frame::Str { phase, count, min, max, need, lo, hi } => step_str(phase, count, *min, *max, need, lo, hi, b),
            Frame::Int { node, neg, phase, digits, mag } => {
                let Node::Int { min, max, mult } = self.nodes[*node as usize] else { return Out::Reject };
                let viable = |neg: bool, digits: u8, mag: u64| int_viable(neg, digits, mag as i128, min, max, mult);
                let can_end = |neg: bool, digits: u8, mag: u64| {
                    let v = if neg { -(mag as i128) } else { mag as i128 };
                    digits > 0 && v >= min && v <= max && v.rem_euclid(mult) == 0
                };
                match (*phase, b) {
                    (0, b'-') if viable(true, 0, 0) => {
                        *neg = true;
                        *phase = 1;
                        Out::Take
                    }
                    (0 | 1, b'0'..=b'9') => {
                        let d = u64::from(b - b'0');
                        if (*neg && d == 0) || !viable(*neg, 1, d) {
                            return Out::Reject;
                        }
                        *digits = 1;
                        *mag = d;
                        *phase = 2;
                        Out::Take
                    }
                    (2, b'0'..=b'9')
                        if *mag != 0 && *digits < INT_DIGITS && {
                            let m = *mag * 10 + u64::from(b - b'0');
                            viable(*neg, *digits + 1, m)
                        } =>
                    {
                        *mag = *mag * 10 + u64::from(b - b'0');
                        *digits += 1;
                        Out::Take
                    }
                    (2, _) if can_end(*neg, *digits, *mag) => Out::PopRetry(0),
                    _ => Out::Reject,
                }
            }
            Frame::Num { node, neg, phase, digits, int, fd, frac } => {
                let (min, max) = match self.nodes[*node as usize] {
                    Node::Num { min, max } => (min, max),
                    _ => (None, None),
                };
                let mut n = NumState { neg: *neg, phase: *phase, digits: *digits, int: *int, fd: *fd, frac: *frac };
                let consumed = n.push(b);
                if consumed && n.viable(min, max) {
                    (*neg, *phase, *digits, *int, *fd, *frac) = (n.neg, n.phase, n.digits, n.int, n.fd, n.frac);
                    return Out::Take;
                }
                let here = NumState { neg: *neg, phase: *phase, digits: *digits, int: *int, fd: *fd, frac: *frac };
                if here.can_end(min, max) {
                    Out::PopRetry(0)
                } else {
                    Out::Reject
                }
            }
            Frame::Obj { node, phase, seen, alive, pos } => {
                let Node::Obj { keys, values, required } = &self.nodes[*node as usize] else { return Out::Reject };
                let all = if keys.len() == 64 { u64::MAX } else { (1u64 << keys.len()) - 1 };
                let unseen = all & !*seen;
                match (*phase, b) {
                    (0, b'{') => {
                        *phase = 1;
                        Out::Take
                    }
                    (1 | 5, b'}') if *required & !*seen == 0 => Out::Done(0),
                    (1 | 6, b'"') if unseen != 0 => {
                        *phase = 2;
                        *alive = unseen;
                        *pos = 1;
                        Out::Take
                    }
                    (2, _) => {
                        let p = *pos as usize;
                        let next = keys
                            .iter()
                            .enumerate()
                            .filter(|(i, k)| *alive & (1 << i) != 0 && k.len() > p && k[p] == b)
                            .fold(0u64, |m, (i, _)| m | 1 << i);
                        if next == 0 {
                            return Out::Reject;
                        }
                        *alive = next;
                        *pos += 1;
                        if let Some(i) =
                            keys.iter().enumerate().position(|(i, k)| next & (1 << i) != 0 && k.len() == p + 1)
                        {
                            *seen |= 1 << i;
                            *alive = 1 << i;
                            *phase = 3;
                        }
                        Out::Take
                    }
                    (3, b':') => {
                        *phase = 4;
                        Out::Take
                    }
                    (4, _) => {
                        let key = alive.trailing_zeros() as usize;
                        match self.value_frame(values[key], b, depth) {
                            Some(child) => Out::Push(child),
                            None => Out::Reject,
                        }
                    }
                    (5, b',') if unseen != 0 => {
                        *phase = 6;
                        Out::Take
                    }
                    _ => Out::Reject,
                }
            }
            Frame::AnyObj { phase, count } => match (*phase, b) {
                (0, b'{') => {
                    *phase = 1;
                    Out::Take
                }
                (1 | 5, b'}') => Out::Done(0),
                (1 | 6, b'"') => {
                    *phase = 2;
                    Out::Push(Frame::str(0, self.opts.max_string_chars))
                }
                (3, b':') => {
                    *phase = 4;
                    Out::Take
                }
                (4, _) => match self.value_frame(self.any, b, depth) {
                    Some(child) => Out::Push(child),
                    None => Out::Reject,
                },
                (5, b',') if *count < self.opts.max_items => {
                    *phase = 6;
                    Out::Take
                }
                _ => Out::Reject,
            },
            Frame::Arr { node, phase, count } => {
                let (item, min, max) = match self.nodes.get(*node as usize) {
                    Some(Node::Arr { item, min, max }) => (*item, *min, *max),
                    _ => (self.any, 0, self.opts.max_items),
                };
                match (*phase, b) {
                    (0, b'[') => {
                        *phase = 1;
                        Out::Take
                    }
                    (1, b']') if min == 0 => Out::Done(0),
                    (3, b']') if *count >= min => Out::Done(0),
                    (3, b',') if *count < max => {
                        *phase = 4;
                        Out::Take
                    }
                    (1 | 4, _) if *count < max => match self.value_frame(item, b, depth) {
                        Some(child) => {
                            *phase = 2;
                            Out::Push(child)
                        }
                        None => Out::Reject,
                    },
                    _ => Out::Reject,
                }
            }
        }
    }

    /// Tell `parent` that the value it was waiting for ended; `result` is the literal index for
    /// literal children.
    fn child_done(&self, parent: &mut Frame, result: u32) {
        match parent {
            Frame::Wrapper { phase, pos, tool, .. } => {
                if *phase == 2 {
                    *tool = result as u16;
                    *phase = 3;
                    *pos = 0;
                } else {
                    *phase = 6;
                }
            }
            Frame::Obj { phase, .. } => *phase = 5,
            Frame::AnyObj { phase, count } => {
                if *phase == 2 {
                    *phase = 3;
                } else {
                    *phase = 5;
                    *count += 1;
                }
            }
            Frame::Arr { phase, count, .. } => {
                *phase = 3;
                *count += 1;
            }
            _ => {}
        }
    }
}

/// The shortest of `options`, the first among equals.
fn first_shortest(options: impl Iterator<Item = Vec<u8>>) -> Option<Vec<u8>> {
    options.fold(None, |best: Option<Vec<u8>>, o| match best {
        Some(b) if b.len() <= o.len() => Some(b),
        _ => Some(o),
    })
}

/// The smallest multiple of `k` in `[lo, hi]`.
fn first_multiple(lo: i128, hi: i128, k: i128) -> Option<i128> {
    if lo > hi {
        return None;
    }
    let first = lo + (k - lo.rem_euclid(k)) % k;
    (first <= hi).then_some(first)
}

/// Whether an integer whose text so far is the sign and `digits` digits of value `mag` can
/// still end in `[min, max]` on a multiple of `mult`.
fn int_viable(neg: bool, digits: u8, mag: i128, min: i128, max: i128, mult: i128) -> bool {
    // Magnitude ranges reachable by appending j more digits.
    let mut ranges: Vec<(i128, i128)> = Vec::new();
    if digits == 0 {
        ranges.push((1, 10i128.pow(INT_DIGITS as u32) - 1));
    } else if mag == 0 {
        ranges.push((0, 0));
    } else {
        for j in 0..=(INT_DIGITS - digits) {
            let p = 10i128.pow(j as u32);
            ranges.push((mag * p, mag * p + p - 1));
        }
    }
    ranges.into_iter().any(|(a, b)| {
        let (lo, hi) = if neg { (-b, -a) } else { (a, b) };
        first_multiple(lo.max(min), hi.min(max), mult).is_some()
    })
}

/// The shortest bytes that finish an integer whose text so far is the sign (`neg`; phase 1
/// is "after `-`", phase 0 "nothing yet") and `digits` digits of value `mag`, so that it ends
/// in `[min, max]` on a multiple of `mult`; `None` if it cannot. Of the integers with the
/// fewest digits it writes the smallest, so after any prefix of the answer it gives the rest.
fn int_min_suffix(neg: bool, phase: u8, digits: u8, mag: i128, min: i128, max: i128, mult: i128) -> Option<Vec<u8>> {
    let first = |neg: bool, a: i128, b: i128| {
        let (lo, hi) = if neg { (-b, -a) } else { (a, b) };
        first_multiple(lo.max(min), hi.min(max), mult)
    };
    // The smallest integer of this sign with the fewest digits (`-0` is not written).
    let shortest = |neg: bool| {
        (1..=INT_DIGITS as u32).find_map(|d| {
            let (a, b) = if d == 1 { (i128::from(neg), 9) } else { (10i128.pow(d - 1), 10i128.pow(d) - 1) };
            first(neg, a, b)
        })
    };
    let x = match phase {
        0 => {
            let len = |x: Option<i128>| x.map_or(usize::MAX, |x| x.to_string().len());
            let (pos, negative) = (shortest(false), shortest(true));
            if len(pos) <= len(negative) {
                pos?
            } else {
                negative?
            }
        }
        1 => shortest(true)?,
        _ if mag == 0 => first(neg, 0, 0)?,
        _ => (0..=(INT_DIGITS - digits) as u32).find_map(|j| {
            let p = 10i128.pow(j);
            first(neg, mag * p, mag * p + p - 1)
        })?,
    };
    // The text so far is a prefix of `x`'s.
    let written = match phase {
        0 => 0,
        1 => 1,
        _ => usize::from(neg) + digits as usize,
    };
    x.to_string().as_bytes().get(written..).map(<[u8]>::to_vec)
}

/// A number's text so far, for the bound checks.
#[derive(Debug, Clone, Copy)]
struct NumState {
    neg: bool,
    /// 0 nothing, 1 after '-', 2 integer digits, 3 after '.', 4 fraction digits.
    phase: u8,
    digits: u8,
    int: u64,
    fd: u8,
    frac: u64,
}

impl NumState {
    fn fresh() -> Self {
        NumState { neg: false, phase: 0, digits: 0, int: 0, fd: 0, frac: 0 }
    }

    /// Append `b` if the number's syntax allows it here (bounds are not checked).
    fn push(&mut self, b: u8) -> bool {
        match (self.phase, b) {
            (0, b'-') => {
                self.neg = true;
                self.phase = 1;
            }
            (0 | 1, b'0'..=b'9') => {
                self.int = u64::from(b - b'0');
                self.digits = 1;
                self.phase = 2;
            }
            (2, b'0'..=b'9') if self.int != 0 && self.digits < NUM_INT_DIGITS => {
                self.int = self.int * 10 + u64::from(b - b'0');
                self.digits += 1;
            }
            (2, b'.') => self.phase = 3,
            (3 | 4, b'0'..=b'9') if self.fd < NUM_FRAC_DIGITS => {
                self.frac = self.frac * 10 + u64::from(b - b'0');
                self.fd += 1;
                self.phase = 4;
            }
            _ => return false,
        }
        true
    }

    fn value(&self) -> f64 {
        let v = self.int as f64 + self.frac as f64 / 10f64.powi(self.fd as i32);
        if self.neg {
            -v
        } else {
            v
        }
    }

    /// Magnitude intervals `[a, b]` reachable from this prefix.
    fn reachable(&self) -> Vec<(f64, f64)> {
        let ulp = 10f64.powi(-(NUM_FRAC_DIGITS as i32));
        let int = self.int as f64;
        match self.phase {
            0 | 1 => vec![(0.0, 10f64.powi(NUM_INT_DIGITS as i32) - ulp)],
            2 if self.int == 0 => vec![(0.0, 1.0 - ulp)],
            2 => (0..=(NUM_INT_DIGITS - self.digits))
                .map(|j| {
                    let p = 10f64.powi(j as i32);
                    (int * p, (int + 1.0) * p - ulp)
                })
                .collect(),
            3 => vec![(int, int + 1.0 - ulp)],
            _ => {
                let v = self.value().abs();
                if self.fd < NUM_FRAC_DIGITS {
                    vec![(v, v + 10f64.powi(-(self.fd as i32)) - ulp)]
                } else {
                    vec![(v, v)]
                }
            }
        }
    }

    fn viable(&self, min: Option<(f64, bool)>, max: Option<(f64, bool)>) -> bool {
        self.reachable().into_iter().any(|(a, b)| {
            let (lo, hi) = if self.neg { (-b, -a) } else { (a, b) };
            let above = min.is_none_or(|(m, excl)| if excl { hi > m } else { hi >= m });
            let below = max.is_none_or(|(m, excl)| if excl { lo < m } else { lo <= m });
            above && below
        })
    }

    fn can_end(&self, min: Option<(f64, bool)>, max: Option<(f64, bool)>) -> bool {
        if self.phase != 2 && self.phase != 4 {
            return false;
        }
        let v = self.value();
        min.is_none_or(|(m, excl)| if excl { v > m } else { v >= m })
            && max.is_none_or(|(m, excl)| if excl { v < m } else { v <= m })
    }

    /// The shortest bytes that finish this number within the bounds (`None` if none can).
    ///
    /// Every finished number has a shape: some more integer digits, then maybe a point and
    /// fraction digits. For each shape the candidates form a grid (step `10^-F` for `F`
    /// fraction digits) in one interval, so the grid point nearest zero within the bounds is
    /// the one to try (and its neighbours, for rounding); each is fed to a copy of the state,
    /// so the answer agrees with what the automaton accepts, floating-point edges included.
    fn min_suffix(&self, min: Option<(f64, bool)>, max: Option<(f64, bool)>) -> Option<Vec<u8>> {
        if self.can_end(min, max) {
            return Some(Vec::new());
        }
        let mut best: Option<Vec<u8>> = None;
        if self.phase == 0 {
            let mut neg = *self;
            if neg.push(b'-') && neg.viable(min, max) {
                best = neg.min_suffix(min, max).map(|rest| [b"-".as_slice(), &rest].concat());
            }
        }
        // Bounds on the magnitude.
        let (lo, hi) = if self.neg { (max.map(|(m, e)| (-m, e)), min.map(|(m, e)| (-m, e))) } else { (min, max) };
        let pow = |e: u32| 10u128.pow(e);
        // (first and last grid index, fraction digits).
        let mut shapes: Vec<(u128, u128, u32)> = Vec::new();
        match self.phase {
            0 | 1 => {
                for j in 1..=NUM_INT_DIGITS as u32 {
                    let (a, b) = if j == 1 { (0, 9) } else { (pow(j - 1), pow(j) - 1) };
                    for f in 0..=NUM_FRAC_DIGITS as u32 {
                        shapes.push((a * pow(f), (b + 1) * pow(f) - 1, f));
                    }
                }
            }
            2 => {
                let int = u128::from(self.int);
                let most = if self.int == 0 { 0 } else { (NUM_INT_DIGITS - self.digits) as u32 };
                for j in 0..=most {
                    let (a, b) = (int * pow(j), int * pow(j) + pow(j) - 1);
                    for f in 0..=NUM_FRAC_DIGITS as u32 {
                        shapes.push((a * pow(f), (b + 1) * pow(f) - 1, f));
                    }
                }
            }
            _ => {
                let (fd, base) = (self.fd as u32, u128::from(self.int) * pow(self.fd as u32) + u128::from(self.frac));
                for e in 0..=(NUM_FRAC_DIGITS as u32 - fd) {
                    shapes.push((base * pow(e), base * pow(e) + pow(e) - 1, fd + e));
                }
            }
        }
        for (first, last, f) in shapes {
            let scale = 10f64.powi(f as i32);
            let mut k = first;
            if let Some((m, excl)) = lo {
                let x = m * scale;
                let mut c = x.ceil();
                if excl && c == x {
                    c += 1.0;
                }
                if c > last as f64 {
                    continue;
                }
                if c > k as f64 {
                    k = c as u128;
                }
            }
            if hi.is_some_and(|(m, _)| (k as f64) > m * scale + 1.0) {
                continue;
            }
            for k in [k.saturating_sub(1).max(first), k, k + 1] {
                if k > last {
                    continue;
                }
                let Some(suffix) = self.suffix_for(k, f) else { continue };
                if best.as_ref().is_some_and(|b| suffix.len() >= b.len()) {
                    continue;
                }
                let mut n = *self;
                if suffix.iter().all(|&b| n.push(b) && n.viable(min, max)) && n.can_end(min, max) {
                    best = Some(suffix);
                }
            }
        }
        best
    }

    /// The bytes that take this number's text to the magnitude `k * 10^-f` (spelled with
    /// exactly `f` fraction digits), if its text so far is a prefix of that spelling.
    fn suffix_for(&self, k: u128, f: u32) -> Option<Vec<u8>> {
        let p = 10u128.pow(f);
        let mut full = (k / p).to_string();
        if f > 0 {
            full.push('.');
            full.push_str(&format!("{:0width$}", k % p, width = f as usize));
        }
        let mut spelled = String::new();
        if self.phase >= 2 {
            spelled = self.int.to_string();
        }
        if self.phase >= 3 {
            spelled.push('.');
        }
        if self.phase == 4 {
            spelled.push_str(&format!("{:0width$}", self.frac, width = self.fd as usize));
        }
        full.strip_prefix(spelled.as_str()).map(|rest| rest.as_bytes().to_vec())
    }
}

/// One byte of a JSON string: strict UTF-8, escapes without lone surrogates, length limits.
#[allow(clippy::too_many_arguments)]
fn step_str(
    phase: &mut u8,
    count: &mut u32,
    min: u32,
    max: u32,
    need: &mut u8,
    lo: &mut u8,
    hi: &mut u8,
    b: u8,
) -> Out {
    match *phase {
        0 if b == b'"' => {
            *phase = 1;
            Out::Take
        }
        1 if *need > 0 => {
            if b < *lo || b > *hi {
                return Out::Reject;
            }
            *need -= 1;
            (*lo, *hi) = (0x80, 0xBF);
            if *need == 0 {
                *count += 1;
            }
            Out::Take
        }
        1 => {
            if b == b'"' {
                return if *count >= min { Out::Done(0) } else { Out::Reject };
            }
            if *count >= max {
                return Out::Reject;
            }
            let (n, l, h) = match b {
                b'\\' => {
                    *phase = 2;
                    return Out::Take;
                }
                0x00..=0x1F => return Out::Reject,
                0x20..=0x7F => {
                    *count += 1;
                    return Out::Take;
                }
                0xC2..=0xDF => (1, 0x80, 0xBF),
                0xE0 => (2, 0xA0, 0xBF),
                0xE1..=0xEC | 0xEE | 0xEF => (2, 0x80, 0xBF),
                0xED => (2, 0x80, 0x9F),
                0xF0 => (3, 0x90, 0xBF),
                0xF1..=0xF3 => (3, 0x80, 0xBF),
                0xF4 => (3, 0x80, 0x8F),
                _ => return Out::Reject,
            };
            (*need, *lo, *hi) = (n, l, h);
            Out::Take
        }
        2 => match b {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                *phase = 1;
                *count += 1;
                Out::Take
            }
            b'u' => {
                *phase = 3;
                Out::Take
            }
            _ => Out::Reject,
        },
        // \uXXXX: phases 3..=6 read the four hex digits; `lo` remembers a leading 'd'.
        3..=6 => {
            if !b.is_ascii_hexdigit() {
                return Out::Reject;
            }
            if *phase == 3 {
                *lo = u8::from(b == b'd' || b == b'D');
            } else if *phase == 4 && *lo == 1 && matches!(b, b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F') {
                // D800–DFFF: a surrogate, which serde_json rejects alone.
                return Out::Reject;
            }
            if *phase == 6 {
                *phase = 1;
                *count += 1;
                *lo = 0x80;
            } else {
                *phase += 1;
            }
            Out::Take
        }
        _ => Out::Reject,
    }
}

/// What one byte did to the top frame.
#[derive(Debug, Clone, Copy)]
enum Out {
    /// Consumed; the frame goes on.
    Take,
    /// Consumed, and the frame's value is complete (its result for the parent).
    Done(u32),
    /// A value starts: push this frame and feed it the same byte.
    Push(Frame),
    /// Not consumed; the frame's value ended before this byte: pop and feed the parent.
    PopRetry(u32),
    Reject,
}

/// One level of the automaton's stack. Small and `Copy`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Frame {
    Empty,
    /// `{"name":` (0), name (1, 2 while the literal runs), `,"arguments":` (3), arguments
    /// (4, 5 while they run), `}` (6), complete (7).
    Wrapper {
        phase: u8,
        pos: u8,
        tool: u16,
        alive: u64,
    },
    Lit {
        node: NodeId,
        pos: u16,
        alive: u64,
    },
    /// 0 before `"`, 1 body, 2 after `\`, 3..=6 `\u` digits.
    Str {
        phase: u8,
        count: u32,
        min: u32,
        max: u32,
        need: u8,
        lo: u8,
        hi: u8,
    },
    Int {
        node: NodeId,
        neg: bool,
        phase: u8,
        digits: u8,
        mag: u64,
    },
    Num {
        node: NodeId,
        neg: bool,
        phase: u8,
        digits: u8,
        int: u64,
        fd: u8,
        frac: u64,
    },
    /// 0 before `{`, 1 after `{`, 2 key, 3 before `:`, 4 value, 5 after a value, 6 after `,`.
    Obj {
        node: NodeId,
        phase: u8,
        seen: u64,
        alive: u64,
        pos: u16,
    },
    AnyObj {
        phase: u8,
        count: u32,
    },
    /// 0 before `[`, 1 after `[`, 2 item, 3 after an item, 4 after `,`.
    Arr {
        node: NodeId,
        phase: u8,
        count: u32,
    },
}

impl Frame {
    fn str(min: u32, max: u32) -> Self {
        Frame::Str { phase: 0, count: 0, min, max, need: 0, lo: 0x80, hi: 0xBF }
    }
}

/// Where a call is in the grammar: a copyable stack of frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallState {
    len: u8,
    frames: [Frame; MAX_FRAMES],
}

impl CallState {
    /// Feed one byte; false (and the state is then meaningless) when the grammar refuses it.
    pub fn step(&mut self, g: &Grammar, b: u8) -> bool {
        loop {
            let depth = self.len as usize;
            if depth == 0 {
                return false;
            }
            match g.step_frame(&mut self.frames[depth - 1], b, depth) {
                Out::Take => return true,
                Out::Push(f) => {
                    if depth >= MAX_FRAMES {
                        return false;
                    }
                    self.frames[depth] = f;
                    self.len += 1;
                }
                Out::Done(r) => {
                    self.len -= 1;
                    if depth >= 2 {
                        g.child_done(&mut self.frames[depth - 2], r);
                    }
                    return true;
                }
                Out::PopRetry(r) => {
                    self.len -= 1;
                    if depth < 2 {
                        return false;
                    }
                    g.child_done(&mut self.frames[depth - 2], r);
                }
                Out::Reject => return false,
            }
        }
    }

    /// Feed bytes; false when any is refused.
    pub fn feed(&mut self, g: &Grammar, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.step(g, b))
    }

    /// A key for what any `longest` bytes do from here, when that does not depend on how many
    /// characters of the current string are written: inside a string's body (no escape or
    /// multi-byte character half-read), with at least `minLength` characters written and
    /// `maxLength` at least `longest` characters away. Such bytes are then accepted or refused,
    /// and leave the same shortest completion, whatever that count is. The key is this state
    /// with the count set to `minLength` and the unused frames cleared; `None` elsewhere.
    pub fn string_body_key(&self, longest: usize) -> Option<CallState> {
        let top = (self.len as usize).checked_sub(1)?;
        match self.frames[top] {
            Frame::Str { phase: 1, count, min, max, need: 0, .. }
                if count >= min && max.saturating_sub(count) as usize >= longest =>
            {
                let mut key = CallState { len: self.len, frames: [Frame::Empty; MAX_FRAMES] };
                key.frames[..top].copy_from_slice(&self.frames[..top]);
                key.frames[top] = Frame::Str { phase: 1, count: min, min, max, need: 0, lo: 0x80, hi: 0xBF };
                Some(key)
            }
            _ => None,
        }
    }

    /// True once the whole call (closing `}` included) has been read.
    pub fn is_complete(&self) -> bool {
        self.len == 1 && matches!(self.frames[0], Frame::Wrapper { phase: 7, .. })
    }
}
