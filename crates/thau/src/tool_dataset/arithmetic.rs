//! Calculator requests: expressions in digits or words, word problems, and the exact values
//! they are said with (the results themselves come from the calculator tool).

use super::*;

/// An exact value, kept as a fraction so results print exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Frac(i128, i128);

impl Frac {
    fn int(n: i128) -> Self {
        Frac(n, 1)
    }
    fn apply(self, op: char, o: Frac) -> Frac {
        let Frac(a, b) = self;
        let Frac(c, d) = o;
        let (n, m) = match op {
            '+' => (a * d + c * b, b * d),
            '-' => (a * d - c * b, b * d),
            '*' => (a * c, b * d),
            _ => (a * d, b * c),
        };
        let g = gcd(n.abs(), m.abs()).max(1);
        let s = if m < 0 { -1 } else { 1 };
        Frac(s * n / g, s * m / g)
    }
    /// Integer, or a decimal when the denominator has only the factors 2 and 5 (the expressions
    /// generated never divide otherwise).
    fn show(self) -> String {
        let Frac(n, d) = self;
        if d == 1 {
            return n.to_string();
        }
        let mut scale = 1i128;
        let mut places = 0;
        while (scale * n) % d != 0 && places < 12 {
            scale *= 10;
            places += 1;
        }
        let v = scale * n / d;
        if places == 0 {
            return v.to_string();
        }
        let sign = if v < 0 { "-" } else { "" };
        let v = v.abs();
        let int = v / scale;
        let frac = format!("{:0width$}", v % scale, width = places);
        format!("{sign}{int}.{}", frac.trim_end_matches('0'))
    }
}

pub(super) fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// How an operator is said.
pub(super) fn op_word(r: &mut Rng, lang: Lang, op: char, digits: bool) -> &'static str {
    let symbol = digits && r.below(3) == 0;
    match (op, lang, symbol) {
        ('+', _, true) => "+",
        ('-', _, true) => "-",
        ('*', _, true) => r.pick::<&str>(&["*", "x", "×"]),
        ('/', _, true) => r.pick::<&str>(&["/", "÷"]),
        ('+', Lang::Es, _) => r.pick::<&str>(&["más", "mas", "y"]),
        ('-', Lang::Es, _) => "menos",
        ('*', Lang::Es, _) => r.pick::<&str>(&["por", "multiplicado por", "veces"]),
        ('/', Lang::Es, _) => r.pick::<&str>(&["entre", "dividido entre", "dividido por"]),
        ('+', Lang::En, _) => r.pick::<&str>(&["plus", "and", "+"]),
        ('-', Lang::En, _) => r.pick::<&str>(&["minus", "take away"]),
        ('*', Lang::En, _) => r.pick::<&str>(&["times", "multiplied by"]),
        (_, Lang::En, _) => r.pick::<&str>(&["divided by", "over"]),
        _ => "/",
    }
}

/// A number as said: digits (with a decimal comma in Spanish) or words.
pub(super) fn say(lang: Lang, v: Frac, words: bool) -> String {
    if words && v.1 == 1 && (0..=100).contains(&v.0) {
        return number_words(lang, v.0 as u32);
    }
    let s = v.show();
    if lang == Lang::Es {
        s.replace('.', ",")
    } else {
        s
    }
}

/// A number for an expression: mostly small integers, sometimes larger or with one decimal.
pub(super) fn operand(r: &mut Rng, words: bool) -> Frac {
    match r.below(if words { 2 } else { 6 }) {
        0 => Frac::int(r.range(2, 20) as i128),
        1 => Frac::int(r.range(2, 100) as i128),
        2 | 3 => Frac::int(r.range(10, 999) as i128),
        4 => Frac::int(r.range(1000, 99_999) as i128),
        _ => Frac(r.range(11, 999) as i128, 10).apply('+', Frac::int(0)),
    }
}

/// A calculation: spoken expression, or a word problem.
pub(super) fn calculator(r: &mut Rng, split: Split, lang: Lang) -> (String, Answer) {
    let problems: &[Problem] = match (split, lang) {
        (Split::Train, Lang::Es) => phrasings::PROBLEMS_ES,
        (Split::Train, Lang::En) => phrasings::PROBLEMS_EN,
        (Split::Heldout, Lang::Es) => phrasings::PROBLEMS_ES_HELDOUT,
        (Split::Heldout, Lang::En) => phrasings::PROBLEMS_EN_HELDOUT,
    };
    if r.below(6) == 0 {
        let p = r.pick(problems);
        let (a, b) = match p.op {
            '/' => {
                let b = r.range(2, 9);
                (b * r.range(2, 12), b)
            }
            '-' => {
                let a = r.range(10, 200);
                (a, r.range(1, a - 1))
            }
            _ => (r.range(2, 50), r.range(2, 30)),
        };
        let words = r.below(3) == 0;
        let (sa, sb) = (say(lang, Frac::int(a as i128), words), say(lang, Frac::int(b as i128), words));
        let user = wrap(r, lang, p.text, &[("{a}", &sa), ("{b}", &sb)]);
        let expr = format!("{a} {} {b}", p.op);
        return (user, call("calculator", Map::from_iter([("expression".to_string(), json!(expr))])));
    }
    let words = r.below(3) == 0;
    let (spoken, expr) = match r.below(10) {
        // a op b op c
        0 | 1 => {
            let ops = [*r.pick(&['+', '-', '*']), *r.pick(&['+', '-', '*'])];
            let xs = [operand(r, words), operand(r, words), operand(r, words)];
            let spoken = format!(
                "{} {} {} {} {}",
                say(lang, xs[0], words),
                op_word(r, lang, ops[0], !words),
                say(lang, xs[1], words),
                op_word(r, lang, ops[1], !words),
                say(lang, xs[2], words)
            );
            (spoken, format!("{} {} {} {} {}", xs[0].show(), ops[0], xs[1].show(), ops[1], xs[2].show()))
        }
        // (a + b) * c, said as "the sum of a and b times c"
        2 => {
            let xs = [operand(r, words), operand(r, words), operand(r, words)];
            let (a, b, c) = (say(lang, xs[0], words), say(lang, xs[1], words), say(lang, xs[2], words));
            let spoken = match lang {
                Lang::Es => format!("la suma de {a} y {b} multiplicada por {c}"),
                Lang::En => format!("the sum of {a} and {b} times {c}"),
            };
            (spoken, format!("({} + {}) * {}", xs[0].show(), xs[1].show(), xs[2].show()))
        }
        // a squared
        3 => {
            let a = Frac::int(r.range(2, 40) as i128);
            let spoken = match lang {
                Lang::Es => format!("{} al cuadrado", say(lang, a, words)),
                Lang::En => format!("{} squared", say(lang, a, words)),
            };
            (spoken, format!("{}^2", a.show()))
        }
        // p% of a
        4 => {
            let p = *r.pick(&[5, 10, 15, 20, 25, 30, 50, 75]);
            let a = Frac::int(r.range(2, 100) as i128 * 10);
            let spoken = match lang {
                Lang::Es => format!("el {p}% de {}", say(lang, a, false)),
                Lang::En => format!("{p}% of {}", say(lang, a, false)),
            };
            (spoken, format!("{p}% * {}", a.show()))
        }
        // a op b
        _ => {
            let op = *r.pick(&['+', '-', '*', '/']);
            let (a, b) = if op == '/' {
                let b = Frac::int(*r.pick(&[2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 25]) as i128);
                (Frac::int(b.0 * r.range(2, if words { 10 } else { 200 }) as i128), b)
            } else {
                (operand(r, words), operand(r, words))
            };
            let spoken = format!("{} {} {}", say(lang, a, words), op_word(r, lang, op, !words), say(lang, b, words));
            (spoken, format!("{} {op} {}", a.show(), b.show()))
        }
    };
    let user = fill(r, split, lang, &phrasings::CALC, &spoken);
    (user, call("calculator", Map::from_iter([("expression".to_string(), json!(expr))])))
}
