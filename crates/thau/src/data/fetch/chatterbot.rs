//! ChatterBot corpus YAML (`categories:` then `conversations:`, a list of lists of strings),
//! read by a small reader for exactly that shape: plain, single- and double-quoted scalars,
//! plain scalars continued on more-indented lines, and `|` block scalars. One document per
//! file; each conversation a paragraph, one turn a line after a dash. Turns holding code
//! (``` fences) are left out.

use super::sources::RawDoc;
use crate::error::{Error, Result};
use std::path::Path;

/// Unquote a YAML scalar written on one line.
fn scalar(s: &str) -> String {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        let mut out = String::new();
        let mut it = inner.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    } else if let Some(inner) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else {
        s.to_string()
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The conversations of one ChatterBot YAML file.
pub fn conversations(yaml: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut convs: Vec<Vec<String>> = Vec::new();
    let mut in_convs = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if indent(line) == 0 && !line.starts_with('-') {
            in_convs = line.trim_end() == "conversations:";
            continue;
        }
        if !in_convs || line.trim().is_empty() {
            continue;
        }
        let t = line.trim_start();
        let (new_conv, item) = if let Some(r) = t.strip_prefix("- - ") {
            (true, r)
        } else if let Some(r) = t.strip_prefix("- ") {
            (false, r)
        } else {
            continue;
        };
        let item_indent = indent(line) + if new_conv { 4 } else { 2 };
        let mut text = if item.trim() == "|" || item.trim() == ">" {
            // Block scalar: the following more-indented lines, newlines kept.
            let mut block = Vec::new();
            while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) >= item_indent) {
                block.push(lines[i].get(item_indent..).unwrap_or("").trim_end());
                i += 1;
            }
            block.join("\n").trim().to_string()
        } else {
            let mut s = item.trim().to_string();
            // Plain or quoted scalar continued on more-indented lines.
            while i < lines.len()
                && !lines[i].trim().is_empty()
                && indent(lines[i]) >= item_indent
                && !lines[i].trim_start().starts_with("- ")
            {
                s.push(' ');
                s.push_str(lines[i].trim());
                i += 1;
            }
            scalar(&s)
        };
        text = text.trim().to_string();
        if new_conv || convs.is_empty() {
            convs.push(Vec::new());
        }
        convs.last_mut().expect("a conversation was just opened").push(text);
    }
    convs.retain(|c| !c.is_empty());
    convs
}

/// A conversation as a paragraph: one turn a line, after a dash; `None` when a turn holds code.
pub fn dialogue(conv: &[String]) -> Option<String> {
    if conv.iter().any(|t| t.contains("```")) {
        return None;
    }
    Some(
        conv.iter()
            .map(|t| format!("— {}", t.split_whitespace().collect::<Vec<_>>().join(" ")))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// One document per `.yml` file in `dir`.
pub fn extract(dir: &Path) -> Result<Vec<RawDoc>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let yaml = std::fs::read_to_string(&f).map_err(|e| Error::io(&f, e))?;
        let paras: Vec<String> = conversations(&yaml).iter().filter_map(|c| dialogue(c)).collect();
        let id = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        docs.push(RawDoc { id, text: paras.join("\n\n") });
    }
    Ok(docs)
}
