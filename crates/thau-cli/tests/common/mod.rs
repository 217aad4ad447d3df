//! Helpers shared by the CLI test files: the binary, the small golden corpus, and checks that a
//! command succeeded or failed cleanly.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `thau` binary under test, with warnings-only logging.
pub fn thau() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_thau"));
    c.env("THAU_LOG", "warn");
    // A home of its own, so no test reads or writes the memory database of whoever runs them.
    c.env("THAU_HOME", std::env::temp_dir().join(format!("thau-tests-home-{}", std::process::id())));
    c
}

/// The tokenizer golden corpus: small bilingual text that trains a tiny run in seconds.
pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../thau/tests/golden/tokenizer/corpus.txt")
}

/// Assert the command succeeded, showing its output when it did not.
pub fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "thau failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A clean failure: non-zero exit, a message with every `needle`, and no panic.
pub fn fails_with(out: Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("expected error: {}", err.trim());
    assert!(!out.status.success(), "expected failure, got success: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    for n in needles {
        assert!(err.contains(n), "error should mention {n:?}: {err}");
    }
}
