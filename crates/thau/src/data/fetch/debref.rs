//! The Debian Reference as plain text (`debian-reference.LANG.txt.gz`): numbered headings at
//! the left margin, body paragraphs indented and wrapped. One document per section of one or
//! two levels (`1.`, `1.4.`); wrapped lines are joined; tables, shell transcripts and tables
//! of contents are left out.

use super::sources::RawDoc;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// The heading number and title of a left-margin line like `1.4.9. Título`.
fn heading(line: &str) -> Option<(usize, &str)> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let mut levels = 0;
    let mut rest = line;
    loop {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || !rest[digits..].starts_with('.') {
            break;
        }
        levels += 1;
        rest = &rest[digits + 1..];
    }
    (levels > 0 && rest.starts_with(' ')).then(|| (levels, rest.trim()))
}

/// A line of a table or a shell transcript.
fn is_code(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('|') || t.starts_with("+-") || t.starts_with("$ ") || t.starts_with("# ") || t.starts_with("% ")
}

/// A line of a table of contents or a list of tables/figures.
fn is_toc(line: &str) -> bool {
    let t = line.trim_start();
    heading(t).is_some()
        || ["Tabla ", "Table ", "Figura ", "Figure ", "Ejemplo ", "Example "]
            .iter()
            .any(|w| t.strip_prefix(w).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit())))
}

/// Documents from the text of the reference.
pub fn documents(text: &str) -> Vec<RawDoc> {
    let mut docs = Vec::new();
    let mut id = String::from("preface");
    let mut paras: Vec<String> = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    let close_block = |block: &mut Vec<&str>, paras: &mut Vec<String>| {
        if !block.is_empty() {
            let code = block.iter().any(|l| is_code(l));
            // A numbered list item is prose; a block of numbered lines is a table of contents.
            let toc = block.iter().filter(|l| is_toc(l)).count() * 2 > block.len();
            // Deeper indentation than body text marks literal blocks.
            let literal = block.iter().all(|l| l.starts_with("      "));
            if !code && !toc && !literal {
                paras.push(block.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "));
            }
        }
        block.clear();
    };
    for line in text.lines() {
        if let Some((levels, title)) = heading(line) {
            close_block(&mut block, &mut paras);
            if levels <= 2 {
                if paras.len() > 1 {
                    docs.push(RawDoc { id: format!("{id}#{}", docs.len()), text: paras.join("\n\n") });
                }
                paras.clear();
                id = line.split_whitespace().next().unwrap_or("").to_string();
            }
            paras.push(title.to_string());
        } else if line.trim().is_empty() {
            close_block(&mut block, &mut paras);
        } else {
            block.push(line);
        }
    }
    close_block(&mut block, &mut paras);
    if paras.len() > 1 {
        docs.push(RawDoc { id: format!("{id}#{}", docs.len()), text: paras.join("\n\n") });
    }
    docs
}

/// Read the gzipped reference at `path`.
pub fn extract(path: &Path) -> Result<Vec<RawDoc>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(f)
        .read_to_string(&mut text)
        .map_err(|e| Error::corrupt(path, format!("not gzipped UTF-8 text: {e}"), "delete the cached package"))?;
    Ok(documents(&text))
}
