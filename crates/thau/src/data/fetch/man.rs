//! Man pages (roff with the man and common mdoc macros) to plain prose, without groff.
//!
//! Kept: section headings and body paragraphs with font changes removed and escapes turned
//! into characters. Left out: the synopsis, "see also", translation and colophon sections,
//! no-fill and example blocks (`.nf`/`.EX`, `.Bd -literal`), tables (`.TS`), macro
//! definitions, and `.so` redirection pages.

use super::sources::RawDoc;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Sections whose text is not prose (lower-cased, accents as written).
const SKIP_SECTIONS: &[&str] = &[
    "sinopsis",
    "synopsis",
    "véase también",
    "vease también",
    "véase tambien",
    "vea también",
    "see also",
    "traducción",
    "translation",
    "colofón",
    "colophon",
    "copyright",
    "derechos de autor",
    "autores",
    "autor",
    "author",
    "authors",
    "informar de errores",
    "reporting bugs",
];

/// A named glyph (`\(xx` or `\[name]`) as text.
fn glyph(name: &str) -> &'static str {
    match name {
        "em" => "—",
        "en" => "–",
        "hy" | "mi" | "-" => "-",
        "bu" => "•",
        "aq" | "cq" | "rq'" => "'",
        "oq" => "‘",
        "lq" => "“",
        "rq" => "”",
        "dq" => "\"",
        "co" => "©",
        "rg" => "®",
        "tm" => "™",
        "rs" => "\\",
        "ga" => "`",
        "ti" | "a~" => "~",
        "ha" | "a^" => "^",
        "mu" => "×",
        "de" => "°",
        "pl" => "+",
        ">=" => "≥",
        "<=" => "≤",
        "!=" => "≠",
        "fo" => "«",
        "fc" => "»",
        "Fo" => "«",
        "Fc" => "»",
        "ua" => "↑",
        "da" => "↓",
        "->" => "→",
        "<-" => "←",
        "'a" => "á",
        "'e" => "é",
        "'i" => "í",
        "'o" => "ó",
        "'u" => "ú",
        "'A" => "Á",
        "'E" => "É",
        "'I" => "Í",
        "'O" => "Ó",
        "'U" => "Ú",
        "~n" => "ñ",
        "~N" => "Ñ",
        ":u" => "ü",
        ":U" => "Ü",
        "r?" => "¿",
        "r!" => "¡",
        "ss" => "ß",
        ",c" => "ç",
        "sp" => " ",
        _ => "",
    }
}

/// Expand the escapes of one line of text.
pub fn unescape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut it = line.chars().peekable();
    // Reads `(xx`, `[name]` or one character: the argument of \f, \*, \n, \(.
    fn name(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
        match it.next() {
            Some('(') => it.by_ref().take(2).collect(),
            Some('[') => it.by_ref().take_while(|&c| c != ']').collect(),
            Some(c) => c.to_string(),
            None => String::new(),
        }
    }
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else { break };
        match e {
            '"' | '#' => break, // comment to the end of the line
            'f' | 'F' | 'n' | 'g' | 'k' | 'm' | 'M' | 'Y' | 'V' => {
                if e == 'n' && it.peek().is_some_and(|c| *c == '+' || *c == '-') {
                    it.next();
                }
                name(&mut it);
            }
            '*' => {
                let n = name(&mut it);
                out.push_str(match n.as_str() {
                    "R" => "®",
                    "Tm" => "™",
                    "lq" => "“",
                    "rq" => "”",
                    "Aq" => "'",
                    "Q" => "“",
                    "q" => "”",
                    _ => "",
                });
            }
            '(' => {
                let n: String = it.by_ref().take(2).collect();
                out.push_str(glyph(&n));
            }
            '[' => {
                let n: String = it.by_ref().take_while(|&c| c != ']').collect();
                match n.strip_prefix('u').and_then(|h| u32::from_str_radix(h, 16).ok()).and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(glyph(&n)),
                }
            }
            's' => {
                if it.peek().is_some_and(|c| *c == '+' || *c == '-') {
                    it.next();
                }
                match it.peek() {
                    Some('(') => {
                        it.next();
                        it.next();
                        it.next();
                    }
                    Some('[') | Some('\'') => {
                        let close = if it.next() == Some('[') { ']' } else { '\'' };
                        for c in it.by_ref() {
                            if c == close {
                                break;
                            }
                        }
                    }
                    _ => {
                        while it.peek().is_some_and(char::is_ascii_digit) {
                            it.next();
                        }
                    }
                }
            }
            'h' | 'v' | 'w' | 'l' | 'L' | 'o' | 'X' | 'Z' | 'b' | 'x' | 'D' | 'N' | 'R' | 'S' | 'A' | 'B' | 'C' => {
                if let Some(q) = it.next() {
                    for c in it.by_ref() {
                        if c == q {
                            break;
                        }
                    }
                }
            }
            'e' | '\\' => out.push('\\'),
            '-' => out.push('-'),
            ' ' | '~' | '0' => out.push(' '),
            '&' | '|' | '^' | ':' | '%' | 'c' | ')' | '/' | ',' | '{' | '}' | 'd' | 'u' | 'p' | 'r' | 'z' | 't' => {}
            '.' => out.push('.'),
            '\'' => out.push('\''),
            '`' => out.push('`'),
            other => out.push(other),
        }
    }
    out
}

/// Split a macro line's arguments, honouring double quotes.
fn args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Roff source of a man page to prose paragraphs (empty for `.so` redirections).
pub fn roff_to_text(src: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut para = String::new();
    let mut skip_section = false;
    // Inside .nf/.EX, .TS, .de or .Bd -literal: until this macro ends it.
    let mut skip_until: Option<&'static [&'static str]> = None;
    let mut heading_next = false;
    let flush = |para: &mut String, out: &mut Vec<String>| {
        let t = para.split_whitespace().collect::<Vec<_>>().join(" ");
        if !t.is_empty() {
            out.push(t);
        }
        para.clear();
    };
    let push_text = |para: &mut String, text: &str| {
        if !para.is_empty() {
            para.push(' ');
        }
        para.push_str(text);
    };
    let lines: Vec<&str> = src.lines().collect();
    if lines.iter().filter(|l| !l.trim().is_empty() && !l.starts_with(".\\\"")).count() <= 2
        && lines.iter().any(|l| l.starts_with(".so "))
    {
        return String::new();
    }
    for raw in lines {
        let is_control = raw.starts_with('.') || raw.starts_with('\'');
        if is_control {
            let body = raw[1..].trim_start();
            let name_len = body.find(char::is_whitespace).unwrap_or(body.len());
            let (name, rest) = (&body[..name_len], &body[name_len..]);
            if let Some(ends) = skip_until {
                if ends.contains(&name) {
                    skip_until = None;
                }
                continue;
            }
            if name.starts_with('\\') || name.is_empty() {
                continue; // comment or empty request
            }
            let a: Vec<String> = args(rest).iter().map(|x| unescape(x)).collect();
            match name {
                "SH" | "Sh" | "SS" | "Ss" => {
                    flush(&mut para, &mut out);
                    let title = a.join(" ");
                    if title.is_empty() {
                        heading_next = true;
                        continue;
                    }
                    if name.eq_ignore_ascii_case("sh") {
                        skip_section = SKIP_SECTIONS.contains(&title.to_lowercase().as_str());
                    }
                    if !skip_section {
                        out.push(title);
                    }
                }
                "PP" | "LP" | "P" | "Pp" | "sp" | "br" | "RS" | "RE" | "It" | "HP" | "Lp" => {
                    flush(&mut para, &mut out);
                    if name == "It" && !skip_section {
                        push_text(&mut para, &a.join(" "));
                    }
                }
                "TP" | "TQ" => flush(&mut para, &mut out),
                "IP" => {
                    flush(&mut para, &mut out);
                    if let Some(tag) = a.first().filter(|t| !t.trim().is_empty() && *t != "•" && !skip_section) {
                        push_text(&mut para, tag);
                    }
                }
                "nf" | "EX" => skip_until = Some(&["fi", "EE"]),
                "TS" => skip_until = Some(&["TE"]),
                "EQ" => skip_until = Some(&["EN"]),
                "de" | "de1" | "am" | "ig" => skip_until = Some(&[".", ".."]),
                "Bd" if rest.contains("-literal") || rest.contains("-unfilled") => skip_until = Some(&["Ed"]),
                "Dl" | "Fd" | "In" | "Cd" => {}
                // Inline text macros, outside skipped sections.
                "B" | "I" | "SM" | "SB" | "Nm" | "Ar" | "Pa" | "Ev" | "Cm" | "Em" | "Sy" | "Li" | "Va" | "Fn"
                | "Ft" | "Fa" | "Dv" | "Er" | "Ic" | "Tn" | "Ql" | "Sq" | "Dq" | "Pq" | "Nd" | "At" | "Bx" | "Ux"
                | "An" | "BR" | "BI" | "IB" | "IR" | "RB" | "RI" | "Fl" | "Xr"
                    if !skip_section =>
                {
                    let text = match name {
                        "Nd" => format!("- {}", a.join(" ")),
                        "Dq" => format!("“{}”", a.join(" ")),
                        "Sq" | "Ql" => format!("‘{}’", a.join(" ")),
                        "Pq" => format!("({})", a.join(" ")),
                        // Alternating fonts: the pieces touch.
                        "BR" | "BI" | "IB" | "IR" | "RB" | "RI" => a.concat(),
                        "Fl" => format!("-{}", a.join(" ")),
                        "Xr" => match a.as_slice() {
                            [n, s, ..] => format!("{n}({s})"),
                            _ => a.join(" "),
                        },
                        _ => a.join(" "),
                    };
                    push_text(&mut para, &text);
                }
                "UR" | "MT" => {} // the address; the link text follows as plain lines
                _ => {}
            }
            continue;
        }
        if skip_until.is_some() {
            continue;
        }
        let text = unescape(raw);
        if heading_next {
            heading_next = false;
            skip_section = SKIP_SECTIONS.contains(&text.trim().to_lowercase().as_str());
            if !skip_section {
                out.push(text.trim().to_string());
            }
            continue;
        }
        if skip_section {
            continue;
        }
        if text.trim().is_empty() {
            flush(&mut para, &mut out);
        } else {
            push_text(&mut para, text.trim());
        }
    }
    flush(&mut para, &mut out);
    out.join("\n\n")
}

/// Man page files under `dir` (`.gz` or plain), recursively, in path order.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.flatten() {
        let p = e.path();
        let ft = e.file_type().map_err(|e| Error::io(&p, e))?;
        if ft.is_dir() {
            walk(&p, out)?;
        } else if ft.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

/// One document per man page under `dir` (id: the path relative to it).
pub fn extract(dir: &Path) -> Result<Vec<RawDoc>> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let raw = std::fs::read(&f).map_err(|e| Error::io(&f, e))?;
        let bytes = if f.extension().is_some_and(|x| x == "gz") {
            let mut out = Vec::new();
            if flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).is_err() {
                tracing::warn!(file = %f.display(), "not a gzip file; skipped");
                continue;
            }
            out
        } else {
            raw
        };
        let src = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
        };
        let id = f.strip_prefix(dir).unwrap_or(&f).to_string_lossy().into_owned();
        docs.push(RawDoc { id, text: roff_to_text(&src) });
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            unescape(r"\fBls\fP \-\-all \(em ni\(~no \[u00E1] \*(lqhola\*(rq \s-1x\s0 a\&.b"),
            "ls --all — niño á “hola” x a.b"
        );
        assert_eq!(unescape(r#"texto \" comentario"#), "texto ");
    }

    #[test]
    fn args_with_quotes() {
        assert_eq!(
            args(r#"LS 1 "Septiembre de 2022" "GNU ""x""""#),
            vec!["LS", "1", "Septiembre de 2022", r#"GNU "x""#]
        );
    }
}
