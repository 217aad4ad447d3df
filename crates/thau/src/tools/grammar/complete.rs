//! The shortest completion of a call from any state: each node's shortest value (computed
//! when the grammar is built) and each open frame's shortest way to finish.

use super::*;

impl Grammar {
    /// The shortest complete value of `node` (the first in a fixed order among equals). Its
    /// children are compiled before it, so this recursion is over a finite tree.
    pub(super) fn shortest_value(&self, node: NodeId) -> Vec<u8> {
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
    pub(super) fn finish_call(&self, alive: u64, pos: usize, out: &mut Vec<u8>) {
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
    pub(super) fn finish_frame(&self, f: &Frame, out: &mut Vec<u8>) {
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
}

/// The shortest of `options`, the first among equals.
pub(super) fn first_shortest(options: impl Iterator<Item = Vec<u8>>) -> Option<Vec<u8>> {
    options.fold(None, |best: Option<Vec<u8>>, o| match best {
        Some(b) if b.len() <= o.len() => Some(b),
        _ => Some(o),
    })
}
