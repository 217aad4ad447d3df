//! Golden tokenizer files (llama.cpp's `ggml-vocab-*.inp/.out` idea): training on the committed
//! `tests/golden/tokenizer/corpus.txt` at vocab 512 must reproduce `tokenizer.json` byte for
//! byte, and encoding each line of `input.txt` must give the ids in `expected.txt`.
//!
//! After an intended change (new tokenizer settings, a `tokenizers` upgrade that changes its
//! output), regenerate the golden files with:
//!
//! ```text
//! THAU_BLESS=1 cargo test --workspace --test main tokenizer_golden
//! ```
//!
//! and review the diff before committing it.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use thau::tokenizer::Tokenizer;

/// Vocabulary size of the golden tokenizer.
const VOCAB: usize = 512;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tokenizer")
}

fn bless() -> bool {
    std::env::var("THAU_BLESS").is_ok_and(|v| v == "1")
}

fn read(name: &str) -> Result<String> {
    let p = dir().join(name);
    std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
}

/// Input cases: one per line (split on '\n' only, so tabs and spaces are kept).
fn input_lines() -> Result<Vec<String>> {
    let text = read("input.txt")?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.split('\n').map(str::to_string).collect())
}

/// Train on the golden corpus, one paragraph per training text.
fn train() -> Result<Tokenizer> {
    let corpus = read("corpus.txt")?;
    let paragraphs: Vec<String> = corpus.split("\n\n").map(str::to_string).collect();
    Ok(Tokenizer::train(paragraphs.into_iter(), VOCAB)?)
}

fn format_ids(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
}

#[test]
fn tokenizer_matches_golden_files() -> Result<()> {
    let trained = train()?;
    assert_eq!(trained.vocab_size(), VOCAB);
    let json = trained.to_json()?;
    let lines = input_lines()?;
    let expected_now: String = lines.iter().map(|l| format_ids(&trained.encode(l)) + "\n").collect();
    if bless() {
        trained.save(&dir().join("tokenizer.json"))?;
        std::fs::write(dir().join("expected.txt"), &expected_now)?;
        eprintln!("THAU_BLESS=1: rewrote tokenizer.json and expected.txt in {}", dir().display());
    }

    // Training is reproducible down to the byte.
    let golden_json = read("tokenizer.json")?;
    assert!(
        json == golden_json,
        "training on corpus.txt no longer reproduces tokenizer.json; if intended, rerun with THAU_BLESS=1"
    );

    // The committed file loads, re-saves identically and encodes to the golden ids.
    let golden = Tokenizer::load(&dir().join("tokenizer.json"))?;
    assert_eq!(golden.to_json()?, golden_json);
    let expected = read("expected.txt")?;
    let expected: Vec<&str> = expected.strip_suffix('\n').unwrap_or(&expected).split('\n').collect();
    assert_eq!(expected.len(), lines.len(), "expected.txt and input.txt differ in line count");
    for (line, want) in lines.iter().zip(&expected) {
        let got = format_ids(&golden.encode(line));
        assert_eq!(&got, want, "ids changed for {line:?}");
    }
    Ok(())
}

#[test]
fn golden_inputs_round_trip() -> Result<()> {
    // Trained, not loaded, so this test never races a THAU_BLESS rewrite of the file.
    let tok = train()?;
    for line in input_lines()? {
        let ids = tok.encode(&line);
        assert_eq!(tok.decode(&ids), line);
        assert!(ids.iter().all(|&id| id >= 20), "special id injected by {line:?}");
    }
    let corpus = read("corpus.txt")?;
    assert_eq!(tok.decode(&tok.encode(&corpus)), corpus);
    Ok(())
}
