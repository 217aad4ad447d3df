//! Finding corpus files and reading them into documents: `.txt`/`.md` files are one document
//! each, `.jsonl` files one document per line (its `text` field).

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// File extensions read as corpus (compared case-insensitively).
pub const EXTENSIONS: &[&str] = &["txt", "md", "jsonl"];

/// Hint for a corpus path that does not exist.
const MISSING_HINT: &str = "check the --corpus path; it must be a .txt/.md/.jsonl file or a folder holding some";

/// One unit of training text and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// `"path"` for a whole file, `"path:line"` for a line of a `.jsonl` file.
    pub source: String,
    /// The text itself (never empty).
    pub text: String,
}

/// Lower-cased extension of `path` if it is one we read.
fn corpus_extension(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    EXTENSIONS.contains(&ext.as_str()).then_some(ext)
}

/// True for names starting with a dot (hidden files and folders).
fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// Collect corpus files under `dir`, recursively, skipping hidden entries.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        if is_hidden(&path) {
            continue;
        }
        // Follow symlinks: `metadata` (not `file_type`) so a linked folder is walked.
        let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        if meta.is_dir() {
            walk(&path, out)?;
        } else if meta.is_file() && corpus_extension(&path).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

/// Expand files and folders (recursively) into a sorted, de-duplicated list of corpus files.
pub fn scan_corpus(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::not_found(p, MISSING_HINT)
            } else {
                Error::io(p, e)
            }
        })?;
        if meta.is_dir() {
            walk(p, &mut files)?;
        } else if corpus_extension(p).is_some() {
            // A file named explicitly is read even if hidden.
            files.push(p.clone());
        } else {
            tracing::warn!(path = %p.display(), "skipping corpus file with an extension that is not .txt/.md/.jsonl");
        }
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Corpus {
            reason: format!(
                "no usable files in [{}]: corpus files must end in .{} (hidden files and folders are skipped)",
                names.join(", "),
                EXTENSIONS.join(", .")
            ),
        });
    }
    Ok(files)
}

/// Split a text into documents: the whole text is one document unless it is empty.
pub fn documents_from_text(source: &str, text: &str) -> Vec<Document> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    vec![Document { source: source.to_string(), text: text.to_string() }]
}

/// Read corpus files (as given by [`scan_corpus`]) into documents, in file order.
pub fn read_documents(files: &[PathBuf]) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    for path in files {
        let bytes = crate::error::read_file(path, MISSING_HINT)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::corrupt(
                path,
                format!("not valid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
                "convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`) or remove it from the corpus",
            )
        })?;
        let source = path.display().to_string();
        if corpus_extension(path).as_deref() == Some("jsonl") {
            read_jsonl(&source, &text, &mut docs)?;
        } else {
            docs.extend(documents_from_text(&source, &text));
        }
    }
    Ok(docs)
}

/// One document per non-blank line of a `.jsonl` file, from its string field `text`.
fn read_jsonl(source: &str, text: &str, docs: &mut Vec<Document>) -> Result<()> {
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{source}:{}", i + 1);
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| Error::Corpus {
            reason: format!(
                "{at}: not valid JSON ({e}); each line of a .jsonl file must be an object like {{\"text\": \"...\"}}"
            ),
        })?;
        let body = value.get("text").and_then(|t| t.as_str()).ok_or_else(|| Error::Corpus {
            reason: format!("{at}: expected an object with a string field \"text\""),
        })?;
        docs.extend(documents_from_text(&at, body));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn scan_finds_files_recursively_sorted_skipping_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(&d.join("b.txt"), "b");
        write(&d.join("a/deep/c.MD"), "c");
        write(&d.join("a/x.JsonL"), "{\"text\":\"x\"}");
        write(&d.join("a/skip.csv"), "no");
        write(&d.join(".hidden/h.txt"), "no");
        write(&d.join("a/.h.txt"), "no");
        let files = scan_corpus(&[d.to_path_buf()]).unwrap();
        let rel: Vec<_> = files.iter().map(|f| f.strip_prefix(d).unwrap().to_path_buf()).collect();
        assert_eq!(rel, vec![PathBuf::from("a/deep/c.MD"), PathBuf::from("a/x.JsonL"), PathBuf::from("b.txt")]);
        // The same file twice (folder + file) is listed once.
        let again = scan_corpus(&[d.to_path_buf(), d.join("b.txt")]).unwrap();
        assert_eq!(again.len(), 3);
    }

    #[test]
    fn scan_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = scan_corpus(std::slice::from_ref(&missing)).unwrap_err();
        assert!(matches!(err, Error::NotFound { ref path, .. } if *path == missing), "{err}");
        write(&dir.path().join("data.csv"), "x");
        let err = scan_corpus(&[dir.path().to_path_buf()]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Corpus { .. }));
        assert!(msg.contains(&dir.path().display().to_string()) && msg.contains(".jsonl"), "{msg}");
    }

    #[test]
    fn read_txt_md_and_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(&d.join("a.txt"), "Hola mundo.\n");
        write(&d.join("b.md"), "   \n");
        write(&d.join("c.jsonl"), "{\"text\":\"uno\"}\n\n{\"text\":\"\",\"x\":1}\n{\"text\":\"dos\"}\n");
        let files = scan_corpus(&[d.to_path_buf()]).unwrap();
        let docs = read_documents(&files).unwrap();
        let got: Vec<_> = docs.iter().map(|d| (d.source.rsplit('/').next().unwrap(), d.text.as_str())).collect();
        assert_eq!(got, vec![("a.txt", "Hola mundo.\n"), ("c.jsonl:1", "uno"), ("c.jsonl:4", "dos")]);
    }

    #[test]
    fn read_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.jsonl");
        write(&bad, "{\"text\":\"ok\"}\n{not json}\n");
        let msg = read_documents(std::slice::from_ref(&bad)).unwrap_err().to_string();
        assert!(msg.contains("bad.jsonl:2") && msg.contains("not valid JSON"), "{msg}");
        write(&bad, "{\"text\":3}\n");
        let msg = read_documents(std::slice::from_ref(&bad)).unwrap_err().to_string();
        assert!(msg.contains("bad.jsonl:1") && msg.contains("\"text\""), "{msg}");
        let latin1 = dir.path().join("l.txt");
        std::fs::write(&latin1, b"ni\xf1o").unwrap();
        let err = read_documents(std::slice::from_ref(&latin1)).unwrap_err();
        assert!(matches!(err, Error::Corrupt { ref path, .. } if *path == latin1), "{err}");
    }

    #[test]
    fn documents_from_text_skips_empty() {
        assert!(documents_from_text("x", " \n\t").is_empty());
        assert_eq!(documents_from_text("x", "hi")[0].source, "x");
    }
}
