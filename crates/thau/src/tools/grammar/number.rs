//! Integers and numbers, byte by byte: which prefixes can still end inside the schema's
//! bounds (and on its `multipleOf`), and the shortest digits that finish one.

use super::*;

/// The smallest multiple of `k` in `[lo, hi]`.
pub(super) fn first_multiple(lo: i128, hi: i128, k: i128) -> Option<i128> {
    if lo > hi {
        return None;
    }
    let first = lo + (k - lo.rem_euclid(k)) % k;
    (first <= hi).then_some(first)
}

/// Whether an integer whose text so far is the sign and `digits` digits of value `mag` can
/// still end in `[min, max]` on a multiple of `mult`.
pub(super) fn int_viable(neg: bool, digits: u8, mag: i128, min: i128, max: i128, mult: i128) -> bool {
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
pub(super) fn int_min_suffix(
    neg: bool,
    phase: u8,
    digits: u8,
    mag: i128,
    min: i128,
    max: i128,
    mult: i128,
) -> Option<Vec<u8>> {
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
pub(super) struct NumState {
    pub(super) neg: bool,
    /// 0 nothing, 1 after '-', 2 integer digits, 3 after '.', 4 fraction digits.
    pub(super) phase: u8,
    pub(super) digits: u8,
    pub(super) int: u64,
    pub(super) fd: u8,
    pub(super) frac: u64,
}

impl NumState {
    pub(super) fn fresh() -> Self {
        NumState { neg: false, phase: 0, digits: 0, int: 0, fd: 0, frac: 0 }
    }

    /// Append `b` if the number's syntax allows it here (bounds are not checked).
    pub(super) fn push(&mut self, b: u8) -> bool {
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

    pub(super) fn value(&self) -> f64 {
        let v = self.int as f64 + self.frac as f64 / 10f64.powi(self.fd as i32);
        if self.neg {
            -v
        } else {
            v
        }
    }

    /// Magnitude intervals `[a, b]` reachable from this prefix.
    pub(super) fn reachable(&self) -> Vec<(f64, f64)> {
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

    pub(super) fn viable(&self, min: Option<(f64, bool)>, max: Option<(f64, bool)>) -> bool {
        self.reachable().into_iter().any(|(a, b)| {
            let (lo, hi) = if self.neg { (-b, -a) } else { (a, b) };
            let above = min.is_none_or(|(m, excl)| if excl { hi > m } else { hi >= m });
            let below = max.is_none_or(|(m, excl)| if excl { lo < m } else { lo <= m });
            above && below
        })
    }

    pub(super) fn can_end(&self, min: Option<(f64, bool)>, max: Option<(f64, bool)>) -> bool {
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
    pub(super) fn min_suffix(&self, min: Option<(f64, bool)>, max: Option<(f64, bool)>) -> Option<Vec<u8>> {
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
    pub(super) fn suffix_for(&self, k: u128, f: u32) -> Option<Vec<u8>> {
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
