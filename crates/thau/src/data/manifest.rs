//! `MANIFEST.json`: where each source of a fetched corpus came from (package, version,
//! license, sha256 of the package and of the text) and what it holds (bytes, documents,
//! language, what cleaning removed), plus the sources that were skipped and why.

use super::clean::{CleanStats, Lang};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Manifest format version.
pub const MANIFEST_VERSION: u32 = 1;

/// One split file of a source (`train/NAME.jsonl` or `val/NAME.jsonl`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitFile {
    /// Path relative to the corpus folder.
    pub file: String,
    pub documents: usize,
    /// UTF-8 bytes of clean text (the `text` fields, not the JSON around them).
    pub bytes: u64,
    /// sha256 of the file as written (`sha256sum` checks it).
    pub sha256: String,
}

/// Everything known about one fetched source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntry {
    pub name: String,
    pub language: Lang,
    /// Package client: `apt`, `pip` or `npm`.
    pub client: String,
    pub package: String,
    pub version: String,
    pub license: String,
    /// Where in the package the text came from.
    pub path_in_package: String,
    /// The downloaded package file, its size and sha256.
    pub package_file: String,
    pub package_bytes: u64,
    pub package_sha256: String,
    /// Version of THAU's extractor and cleaner for this source; a change re-extracts.
    pub extractor_version: u32,
    /// sha256 of the clean documents' texts in order, each followed by a NUL byte.
    pub text_sha256: String,
    /// Clean text bytes and documents, both splits together.
    pub bytes: u64,
    pub documents: usize,
    pub train: SplitFile,
    pub val: SplitFile,
    pub cleaning: CleanStats,
}

/// Bytes and documents per language, over all sources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LangTotals {
    pub bytes: u64,
    pub documents: usize,
    pub train_bytes: u64,
    pub val_bytes: u64,
    pub sources: usize,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// How the corpus is meant to be used.
    pub usage: String,
    /// Fraction of each source's documents held out for validation (by hash of the id).
    pub val_fraction: f64,
    pub sources: BTreeMap<String, SourceEntry>,
    /// Sources asked for that could not be fetched this time, with the reason.
    #[serde(default)]
    pub skipped: BTreeMap<String, String>,
    pub totals: BTreeMap<Lang, LangTotals>,
}

impl Manifest {
    /// File name inside a corpus folder.
    pub const FILE: &'static str = "MANIFEST.json";

    pub fn new(val_fraction: f64) -> Self {
        Self {
            version: MANIFEST_VERSION,
            usage: "train on train/ (`thau train --corpus DIR/train`); val/ is held out for evaluation and never \
                    overlaps train/ (documents split by hash, paragraphs deduplicated across both)"
                .into(),
            val_fraction,
            sources: BTreeMap::new(),
            skipped: BTreeMap::new(),
            totals: BTreeMap::new(),
        }
    }

    /// Read `dir/MANIFEST.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(Self::FILE);
        let bytes = crate::error::read_file(&path, "run `thau data fetch --out DIR` to make a corpus folder")?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::corrupt(&path, format!("bad JSON: {e}"), "delete it and run `thau data fetch` again"))
    }

    /// Recompute the per-language totals from the sources.
    pub fn update_totals(&mut self) {
        self.totals.clear();
        for s in self.sources.values() {
            let t = self.totals.entry(s.language).or_default();
            t.bytes += s.bytes;
            t.documents += s.documents;
            t.train_bytes += s.train.bytes;
            t.val_bytes += s.val.bytes;
            t.sources += 1;
        }
    }

    /// Write `dir/MANIFEST.json` atomically, totals updated.
    pub fn save(&mut self, dir: &Path) -> Result<()> {
        self.update_totals();
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid("manifest", format!("cannot serialise: {e}")))?;
        crate::fs::write_atomic(&dir.join(Self::FILE), json.as_bytes())
    }
}

impl Manifest {
    /// Each source's split files with whether they still match their recorded sha256.
    pub fn verify_files(&self, dir: &Path) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for s in self.sources.values() {
            for f in [&s.train, &s.val] {
                let ok = crate::data::fetch::sha256_file(&dir.join(&f.file)).is_ok_and(|h| h == f.sha256);
                out.push((f.file.clone(), ok));
            }
        }
        out
    }
}
