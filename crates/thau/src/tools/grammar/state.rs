//! The automaton's state: a fixed stack of `Copy` frames, and how one byte moves the top one.

use super::*;

impl Grammar {
    /// The frame that reads a value of `node` whose first byte is `b`, if `b` can start one.
    /// `depth` is the number of frames below it.
    pub(super) fn value_frame(&self, node: NodeId, b: u8, depth: usize) -> Option<Frame> {
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

    pub(super) fn lits(&self, node: NodeId) -> &[Vec<u8>] {
        match &self.nodes[node as usize] {
            Node::Lit(l) => l,
            _ => &[],
        }
    }

    /// Advance the top frame by one byte.
    pub(super) fn step_frame(&self, f: &mut Frame, b: u8, depth: usize) -> Out {
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
    pub(super) fn child_done(&self, parent: &mut Frame, result: u32) {
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

/// What one byte did to the top frame.
#[derive(Debug, Clone, Copy)]
pub(super) enum Out {
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
pub(super) enum Frame {
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
    pub(super) fn str(min: u32, max: u32) -> Self {
        Frame::Str { phase: 0, count: 0, min, max, need: 0, lo: 0x80, hi: 0xBF }
    }
}

/// Where a call is in the grammar: a copyable stack of frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallState {
    pub(super) len: u8,
    pub(super) frames: [Frame; MAX_FRAMES],
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
