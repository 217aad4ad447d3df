//! Fortune files: entries separated by lines holding only `%`. Where a `NAME.u8` (UTF-8) copy
//! sits beside `NAME`, it is read instead; `.dat` index files and subfolders (`off/`) are
//! skipped. Entries are grouped into documents of [`ENTRIES_PER_DOC`], one paragraph each.

use super::sources::RawDoc;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Entries per document: large enough for a language check, small enough for the split.
pub const ENTRIES_PER_DOC: usize = 40;

/// Text of a file: UTF-8, or Latin-1 when it is not valid UTF-8.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
    })
}

/// The entries of one fortune file, each with its inner blank lines removed.
pub fn entries(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    for line in text.lines().chain(std::iter::once("%")) {
        if line.trim_end() == "%" {
            if !cur.is_empty() {
                out.push(cur.join("\n"));
            }
            cur.clear();
        } else if !line.trim().is_empty() {
            cur.push(line);
        }
    }
    out
}

/// Fortune documents from the files directly in `dir`.
pub fn extract(dir: &Path) -> Result<Vec<RawDoc>> {
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.flatten() {
        let p = e.path();
        if !p.is_file() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".dat") || name.starts_with('.') {
            continue;
        }
        match name.strip_suffix(".u8") {
            Some(base) => {
                files.insert(base.to_string(), p);
            }
            None => {
                files.entry(name).or_insert(p);
            }
        }
    }
    let mut docs = Vec::new();
    for (name, path) in files {
        let all = entries(&read_text(&path)?);
        for (k, chunk) in all.chunks(ENTRIES_PER_DOC).enumerate() {
            docs.push(RawDoc { id: format!("{name}#{k}"), text: chunk.join("\n\n") });
        }
    }
    Ok(docs)
}
