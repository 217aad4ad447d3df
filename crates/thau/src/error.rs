//! One error type for the library. Every variant that concerns a file names it, and the
//! message ends with what the user can do next (the `hint`), as llm.c's `---> HINT` does.

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- files and I/O -------------------------------------------------------------
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} not found: {hint}")]
    NotFound { path: PathBuf, hint: String },
    /// A record a user named (a conversation, a turn) that this user does not have: unknown,
    /// or another user's (the two read the same, so one user cannot probe another's ids).
    #[error("{what} '{id}' not found: {hint}")]
    Unknown { what: String, id: String, hint: String },
    #[error("{path} is corrupt or not a THAU file ({reason}): {hint}")]
    Corrupt { path: PathBuf, reason: String, hint: String },

    // ---- inputs --------------------------------------------------------------------
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("corpus problem: {reason}")]
    Corpus { reason: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("{path} is incompatible: {reason}: {hint}")]
    Incompatible { path: PathBuf, reason: String, hint: String },
    /// A corpus source that could not be downloaded or unpacked (`thau data fetch`).
    #[error("source {source_name}: {reason}: {hint}")]
    Fetch { source_name: String, reason: String, hint: String },

    /// Something that runs one at a time is already running (a learning run).
    #[error("{what} is busy: {hint}")]
    Busy { what: String, hint: String },

    // ---- compute -------------------------------------------------------------------
    #[error("tensor: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("training diverged at step {step}: loss is {loss}; lower --lr or check the data")]
    Diverged { step: u64, loss: f32 },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), reason: reason.into() }
    }
    pub fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Corrupt { path: path.into(), reason: reason.into(), hint: hint.into() }
    }
    pub fn fetch(source_name: impl Into<String>, reason: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Fetch { source_name: source_name.into(), reason: reason.into(), hint: hint.into() }
    }
    pub fn not_found(path: impl Into<PathBuf>, hint: impl Into<String>) -> Self {
        Error::NotFound { path: path.into(), hint: hint.into() }
    }
    pub fn unknown(what: impl Into<String>, id: impl std::fmt::Display, hint: impl Into<String>) -> Self {
        Error::Unknown { what: what.into(), id: id.to_string(), hint: hint.into() }
    }
}

/// The value a user named `s` among `choices` (case-insensitive), or an error for `what`
/// that lists what may be given: the one rule behind every named choice (dtypes, methods,
/// layouts). A value may appear under several names; the first is the one listed, the others
/// are accepted aliases.
pub fn one_of<T: Copy + PartialEq>(what: &str, s: &str, choices: &[(&str, T)]) -> Result<T> {
    let wanted = s.trim().to_ascii_lowercase();
    if let Some((_, v)) = choices.iter().find(|(name, _)| *name == wanted) {
        return Ok(*v);
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, (name, v)) in choices.iter().enumerate() {
        if !choices[..i].iter().any(|(_, w)| w == v) {
            names.push(name);
        }
    }
    let list = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    };
    Err(Error::invalid(what, format!("'{s}' is unknown; use {list}")))
}

/// Read a whole file, mapping "not found" to an error with a hint.
pub fn read_file(path: &std::path::Path, hint: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::not_found(path, hint)
        } else {
            Error::io(path, e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::one_of;

    #[test]
    fn one_of_names_every_choice_once() {
        let choices = [("f32", 0), ("f16", 1), ("float16", 1), ("q8_0", 2)];
        assert_eq!(one_of("--dtype", " F16 ", &choices).unwrap(), 1);
        assert_eq!(one_of("--dtype", "float16", &choices).unwrap(), 1);
        let err = one_of("--dtype", "q3", &choices).unwrap_err().to_string();
        assert_eq!(err, "invalid --dtype: 'q3' is unknown; use f32, f16 or q8_0");
        assert!(one_of("--x", "b", &[("a", 0)]).unwrap_err().to_string().ends_with("use a"));
    }
}
