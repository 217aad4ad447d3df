//! Knowledge sources: documents a user adds (text and markdown, chunked into passages),
//! long-term memories and conversation episodes from the memory store. Every passage has a
//! stable id so a question can cite where its answer came from.

use super::store::{DocumentInfo, LearnStore, Passage};
use crate::data::clean::detect_language;
use crate::error::Result;
use crate::memory::MemoryStore;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// A passage grows sentence by sentence up to this many bytes.
pub const MAX_PASSAGE_BYTES: usize = 700;

/// What `thau learn add` did with each file.
#[derive(Debug, Clone, PartialEq)]
pub enum Added {
    /// Stored with this many passages.
    New(DocumentInfo),
    /// The same content was already stored.
    Duplicate(String),
}

/// Split a text into passages: markdown syntax removed, one passage per paragraph, a long
/// paragraph cut at sentence ends into pieces of at most [`MAX_PASSAGE_BYTES`] (a single longer
/// sentence stays whole).
pub fn chunk(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut para: Vec<String> = Vec::new();
    let mut in_code = false;
    let flush = |para: &mut Vec<String>, out: &mut Vec<String>| {
        let joined = para.join(" ");
        para.clear();
        let joined = joined.split_whitespace().collect::<Vec<_>>().join(" ");
        if joined.is_empty() {
            return;
        }
        let mut cur = String::new();
        for s in super::text::sentences(&joined) {
            if !cur.is_empty() && cur.len() + 1 + s.len() > MAX_PASSAGE_BYTES {
                out.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(&s);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    };
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_code = !in_code;
            flush(&mut para, &mut out);
            continue;
        }
        if in_code {
            continue;
        }
        if t.is_empty() || t.starts_with('#') || t.starts_with('|') || t == "---" {
            flush(&mut para, &mut out);
            // A heading is a paragraph of its own only as context for what follows: drop it.
            continue;
        }
        let t = t.trim_start_matches(['-', '*', '+', '>']).trim_start();
        let t = t.replace("**", "").replace('`', "");
        para.push(t);
    }
    flush(&mut para, &mut out);
    out
}

/// Add files or folders (recursively: .txt, .md, .jsonl with a `text` field) to the store.
pub fn add_paths(store: &mut LearnStore, paths: &[PathBuf]) -> Result<Vec<Added>> {
    let files = crate::data::scan_corpus(paths)?;
    let docs = crate::data::read_documents(&files)?;
    let mut out = Vec::new();
    for d in docs {
        out.push(add_text(store, &d.source, &d.text)?);
    }
    Ok(out)
}

/// Add one text under the name `source`.
pub fn add_text(store: &mut LearnStore, source: &str, text: &str) -> Result<Added> {
    let sha = format!("{:x}", Sha256::digest(text.as_bytes()));
    let passages: Vec<(String, Option<String>)> =
        chunk(text).into_iter().map(|p| (p.clone(), detect_language(&p).map(|l| l.code().to_string()))).collect();
    Ok(match store.add_document(source, &sha, &passages)? {
        Some(info) => {
            tracing::info!(source, passages = info.passages, "document added");
            Added::New(info)
        }
        None => Added::Duplicate(source.to_string()),
    })
}

/// Every passage a run can learn from: its documents, plus (when a memory store is given)
/// the user's long-term memories (`mem:<id>`) and conversation episodes (`ep:<id>`, the
/// episode's turns as "role: text" lines).
pub fn all_passages(store: &LearnStore, memory: Option<(&MemoryStore, &str)>) -> Result<Vec<Passage>> {
    let mut out = store.passages()?;
    if let Some((mem, user)) = memory {
        for m in mem.list(user, &crate::memory::Filter::default(), None)? {
            out.push(Passage {
                id: format!("mem:{}", m.id),
                lang: detect_language(&m.text).map(|l| l.code().into()),
                text: m.text,
            });
        }
        for ep in mem.episodes(user)? {
            let turns = mem.episode_turns(ep.id)?;
            let text = turns.iter().map(|t| format!("{}: {}", t.role, t.text)).collect::<Vec<_>>().join("\n");
            if !text.is_empty() {
                out.push(Passage {
                    id: format!("ep:{}", ep.id),
                    lang: detect_language(&text).map(|l| l.code().into()),
                    text,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_drops_markdown_and_splits_long_paragraphs() {
        let long = "Frase número uno es larga. ".repeat(40);
        let md = format!("# Título\n\nVelmora es un pueblo.\nTiene un río.\n\n```\ncode here\n```\n- **Ana** nació en 1901.\n\n{long}");
        let c = chunk(&md);
        assert_eq!(c[0], "Velmora es un pueblo. Tiene un río.");
        assert_eq!(c[1], "Ana nació en 1901.");
        assert!(c.len() >= 4, "{c:?}");
        assert!(c[2..].iter().all(|p| p.len() <= MAX_PASSAGE_BYTES));
        assert!(!c.iter().any(|p| p.contains("code here") || p.contains('#')));
    }
}
