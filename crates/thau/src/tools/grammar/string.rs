//! One byte of a JSON string: strict UTF-8, escapes without lone surrogates, length limits.

use super::*;

/// One byte of a JSON string: strict UTF-8, escapes without lone surrogates, length limits.
#[allow(clippy::too_many_arguments)]
pub(super) fn step_str(
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
