//! The `calculator` tool: exact arithmetic over big rationals with a small recursive-descent
//! parser of its own. Nothing is evaluated as code; `0.1 + 0.2` is exactly `0.3`, `1/3` stays
//! `1/3`, and `2^200` is written out in full.
//!
//! Grammar (whitespace ignored; `×`, `·` and `÷` accepted for `*` and `/`):
//!
//! ```text
//! expr    := term (('+' | '-') term)*
//! term    := unary (('*' | '/') unary)*
//! unary   := ('-' | '+') unary | power
//! power   := postfix (('^' | '**') unary)?        right-associative, so 2^3^2 = 2^9
//! postfix := primary '%'*                          x% = x / 100
//! primary := number | '(' expr ')'
//! number  := digits ('.' digits)? (('e' | 'E') ('+' | '-')? digits)?   or '.' digits
//! ```
//!
//! `-2^2` is `-4`, as in mathematics. Exponents must be whole numbers (a rational raised to a
//! fraction is usually irrational); results are capped in size so a request cannot exhaust
//! memory.

use super::registry::{Tool, ToolContext, ToolOutput};
use super::spec::ToolSpec;
use crate::error::{Error, Result};
use num_bigint::{BigInt, Sign};
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use serde_json::{json, Value};

/// Longest expression accepted, in characters.
pub const MAX_EXPRESSION_CHARS: usize = 4096;
/// Deepest nesting of parentheses and unary signs.
const MAX_DEPTH: usize = 200;
/// Largest number, in bits of numerator plus denominator, any step may produce.
const MAX_BITS: u64 = 1 << 20;
/// Largest magnitude of a literal's decimal exponent (`1e5000` is fine, `1e10000000` is not).
const MAX_LITERAL_EXPONENT: u32 = 100_000;
/// Digits after the point in the approximation shown for non-terminating results.
const APPROX_DIGITS: usize = 12;

/// An exact result and its spellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub value: BigRational,
}

impl Evaluation {
    /// The exact value: an integer, a terminating decimal, or a fraction `p/q`.
    pub fn exact(&self) -> String {
        let v = &self.value;
        if v.is_integer() {
            return v.numer().to_string();
        }
        match terminating_decimal(v) {
            Some(s) => s,
            None => format!("{}/{}", v.numer(), v.denom()),
        }
    }

    /// A decimal approximation rounded to [`APPROX_DIGITS`] places, when the exact value is a
    /// fraction that does not terminate.
    pub fn approximation(&self) -> Option<String> {
        let v = &self.value;
        if v.is_integer() || terminating_decimal(v).is_some() {
            return None;
        }
        Some(rounded_decimal(v, APPROX_DIGITS))
    }

    /// What the tool answers: `"1/3 ≈ 0.333333333333"` or just `"42"`.
    pub fn display(&self) -> String {
        match self.approximation() {
            Some(a) => format!("{} ≈ {a}", self.exact()),
            None => self.exact(),
        }
    }
}

/// Evaluate `expression` exactly.
pub fn evaluate(expression: &str) -> Result<Evaluation> {
    let n = expression.chars().count();
    if n > MAX_EXPRESSION_CHARS {
        return Err(Error::invalid(
            "expression",
            format!("{n} characters is over the {MAX_EXPRESSION_CHARS}-character limit: split the calculation"),
        ));
    }
    let mut p = Parser { chars: expression.chars().collect(), pos: 0, depth: 0 };
    p.skip_ws();
    if p.at_end() {
        return Err(Error::invalid("expression", "it is empty: give an arithmetic expression such as 2 + 2"));
    }
    let value = p.expr()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error(format!("unexpected '{}'", p.chars[p.pos])));
    }
    Ok(Evaluation { value })
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).copied()
    }

    fn error(&self, what: impl std::fmt::Display) -> Error {
        Error::invalid("expression", format!("{what} at character {}", self.pos + 1))
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<BigRational> {
        let mut acc = self.term()?;
        loop {
            match self.peek() {
                Some('+') => {
                    self.pos += 1;
                    acc = checked(acc + self.term()?, self)?;
                }
                Some('-' | '−') => {
                    self.pos += 1;
                    acc = checked(acc - self.term()?, self)?;
                }
                _ => return Ok(acc),
            }
        }
    }

    fn term(&mut self) -> Result<BigRational> {
        let mut acc = self.unary()?;
        loop {
            match self.peek() {
                Some('*') if self.chars.get(self.pos + 1) == Some(&'*') => return Ok(acc),
                Some('*' | '×' | '·') => {
                    self.pos += 1;
                    acc = checked(acc * self.unary()?, self)?;
                }
                Some('/' | '÷') => {
                    let at = self.pos;
                    self.pos += 1;
                    let d = self.unary()?;
                    if d.is_zero() {
                        self.pos = at;
                        return Err(self.error("division by zero"));
                    }
                    acc = checked(acc / d, self)?;
                }
                _ => return Ok(acc),
            }
        }
    }

    fn unary(&mut self) -> Result<BigRational> {
        self.enter()?;
        let v = match self.peek() {
            Some('-' | '−') => {
                self.pos += 1;
                -self.unary()?
            }
            Some('+') => {
                self.pos += 1;
                self.unary()?
            }
            _ => self.power()?,
        };
        self.depth -= 1;
        Ok(v)
    }

    fn power(&mut self) -> Result<BigRational> {
        let base = self.postfix()?;
        let op = match self.peek() {
            Some('^') => 1,
            Some('*') if self.chars.get(self.pos + 1) == Some(&'*') => 2,
            _ => return Ok(base),
        };
        let at = self.pos;
        self.pos += op;
        let exp = self.unary()?;
        let here = Parser { chars: Vec::new(), pos: at, depth: 0 };
        pow(&base, &exp).map_err(|why| here.error(why))
    }

    fn postfix(&mut self) -> Result<BigRational> {
        let mut v = self.primary()?;
        while self.peek() == Some('%') {
            self.pos += 1;
            v /= BigRational::from_integer(BigInt::from(100));
        }
        Ok(v)
    }

    fn primary(&mut self) -> Result<BigRational> {
        match self.peek() {
            Some('(') => {
                self.enter()?;
                self.pos += 1;
                let v = self.expr()?;
                if self.peek() != Some(')') {
                    return Err(self.error("missing ')'"));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(v)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some(c) => {
                Err(self.error(format!("unexpected '{c}': only numbers, + - * / ^ % and parentheses are understood")))
            }
            None => Err(self.error("the expression ends too early")),
        }
    }

    fn number(&mut self) -> Result<BigRational> {
        let start = self.pos;
        let digits = |p: &mut Parser| {
            let s = p.pos;
            while p.pos < p.chars.len() && (p.chars[p.pos].is_ascii_digit() || p.chars[p.pos] == '_') {
                p.pos += 1;
            }
            p.chars[s..p.pos].iter().filter(|c| **c != '_').collect::<String>()
        };
        let int = digits(self);
        let mut frac = String::new();
        if self.chars.get(self.pos) == Some(&'.') {
            self.pos += 1;
            frac = digits(self);
        }
        if int.is_empty() && frac.is_empty() {
            self.pos = start;
            return Err(self.error("a number needs digits"));
        }
        let mut exp: i64 = 0;
        if matches!(self.chars.get(self.pos), Some('e' | 'E')) {
            let save = self.pos;
            self.pos += 1;
            let neg = match self.chars.get(self.pos) {
                Some('-') => {
                    self.pos += 1;
                    true
                }
                Some('+') => {
                    self.pos += 1;
                    false
                }
                _ => false,
            };
            let e = digits(self);
            if e.is_empty() {
                self.pos = save;
                return Err(self.error("an exponent needs digits after 'e'"));
            }
            let e: u32 = e
                .parse()
                .ok()
                .filter(|e| *e <= MAX_LITERAL_EXPONENT)
                .ok_or_else(|| self.error(format!("exponent larger than {MAX_LITERAL_EXPONENT}")))?;
            exp = if neg { -i64::from(e) } else { i64::from(e) };
        }
        let mantissa: BigInt = format!("{int}{frac}").parse().unwrap_or_default();
        let scale = exp - frac.len() as i64;
        let ten = BigInt::from(10);
        let v = if scale >= 0 {
            BigRational::from_integer(mantissa * num_traits::pow(ten, scale as usize))
        } else {
            BigRational::new(mantissa, num_traits::pow(ten, (-scale) as usize))
        };
        checked(v, self)
    }
}

fn bits(v: &BigRational) -> u64 {
    v.numer().bits() + v.denom().bits()
}

fn checked(v: BigRational, p: &Parser) -> Result<BigRational> {
    if bits(&v) > MAX_BITS {
        return Err(p.error(format!("a number grew past {MAX_BITS} bits")));
    }
    Ok(v)
}

/// `base ^ exp` for a whole-number `exp`.
fn pow(base: &BigRational, exp: &BigRational) -> std::result::Result<BigRational, String> {
    if !exp.is_integer() {
        return Err(format!(
            "the exponent {} is not a whole number, so the result is not exact (only whole-number powers are supported)",
            Evaluation { value: exp.clone() }.exact()
        ));
    }
    let e = exp.to_integer();
    if base.is_zero() {
        return match e.sign() {
            Sign::Minus => Err("division by zero (0 raised to a negative power)".into()),
            Sign::NoSign => Ok(BigRational::one()),
            Sign::Plus => Ok(BigRational::zero()),
        };
    }
    let mag = e.abs().to_u64().unwrap_or(u64::MAX);
    // |base| == 1 stays small whatever the exponent.
    if base.abs().is_one() {
        return Ok(if base.is_negative() && e.is_odd() { -BigRational::one() } else { BigRational::one() });
    }
    let grown = bits(base).saturating_mul(mag);
    if grown > MAX_BITS {
        return Err(format!("the result would have about {grown} bits, over the {MAX_BITS}-bit limit"));
    }
    let r = num_traits::pow(base.clone(), mag as usize);
    Ok(if e.is_negative() { r.recip() } else { r })
}

/// The exact decimal spelling of `v` when its denominator has no prime factor but 2 and 5.
fn terminating_decimal(v: &BigRational) -> Option<String> {
    let mut d = v.denom().clone();
    let (two, five) = (BigInt::from(2), BigInt::from(5));
    let (mut twos, mut fives) = (0usize, 0usize);
    while (&d % &two).is_zero() {
        d /= &two;
        twos += 1;
    }
    while (&d % &five).is_zero() {
        d /= &five;
        fives += 1;
    }
    if !d.is_one() {
        return None;
    }
    let places = twos.max(fives);
    Some(fixed_point(v, places, false))
}

/// `v` rounded (half away from zero) to `places` digits after the point, trailing zeros cut.
fn rounded_decimal(v: &BigRational, places: usize) -> String {
    fixed_point(v, places, true)
}

fn fixed_point(v: &BigRational, places: usize, round: bool) -> String {
    let scale = num_traits::pow(BigInt::from(10), places);
    let scaled = v.abs() * BigRational::from_integer(scale.clone());
    let n = if round { scaled.round().to_integer() } else { scaled.to_integer() };
    let (int, frac) = n.div_rem(&scale);
    let mut frac = format!("{frac:0>places$}");
    while frac.ends_with('0') {
        frac.pop();
    }
    let sign = if v.is_negative() && !(int.is_zero() && frac.is_empty()) { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// The `calculator` built-in.
#[derive(Debug, Default)]
pub struct Calculator;

impl Tool for Calculator {
    fn spec(&self) -> ToolSpec {
        super::builtin_spec("calculator")
    }

    fn call(&self, args: &Value, _ctx: &ToolContext) -> Result<ToolOutput> {
        let expr = args.get("expression").and_then(Value::as_str).unwrap_or_default();
        let ev = evaluate(expr)?;
        let text = ev.display();
        let mut data = json!({"expression": expr, "result": ev.exact()});
        if let Some(a) = ev.approximation() {
            data["approximation"] = json!(a);
        }
        Ok(ToolOutput { text, data: Some(data), files: Vec::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::evaluate;

    fn calc(s: &str) -> String {
        evaluate(s).map(|e| e.display()).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn exact_results() {
        assert_eq!(calc("2 + 2"), "4");
        assert_eq!(calc("0.1 + 0.2"), "0.3");
        assert_eq!(calc("1/3"), "1/3 ≈ 0.333333333333");
        assert_eq!(calc("2/3"), "2/3 ≈ 0.666666666667");
        assert_eq!(calc("-2^2"), "-4");
        assert_eq!(calc("(-2)^2"), "4");
        assert_eq!(calc("2^3^2"), "512");
        assert_eq!(calc("2**10"), "1024");
        assert_eq!(calc("2^-2"), "0.25");
        assert_eq!(calc("15% * 200"), "30");
        assert_eq!(calc("7 × 6 ÷ 2"), "21");
        assert_eq!(calc("1e3 + .5"), "1000.5");
        assert_eq!(calc("-0.125"), "-0.125");
        assert_eq!(calc("1 - 2 - 3"), "-4");
        assert_eq!(calc("2 * (3 + 4) - 10 / 4"), "11.5");
        assert_eq!(calc("2^100"), "1267650600228229401496703205376");
        assert_eq!(calc("(1/3) * 3"), "1");
        assert_eq!(calc("-1/3"), "-1/3 ≈ -0.333333333333");
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(calc("1/0").contains("division by zero"), "{}", calc("1/0"));
        assert!(calc("1/(2-2)").contains("division by zero"));
        assert!(calc("0^-1").contains("division by zero"));
        assert!(calc("2^0.5").contains("not a whole number"));
        assert!(calc("2 +").contains("ends too early"));
        assert!(calc("(1 + 2").contains("missing ')'"));
        assert!(calc("import os").contains("unexpected 'i'"));
        assert!(calc("").contains("empty"));
        assert!(calc("10^10^10").contains("bits"));
        assert!(calc(&"(".repeat(300)).contains("nesting"));
        assert!(calc("1 2").contains("unexpected '2'"));
    }
}
