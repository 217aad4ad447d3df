//! Getting a run ready to train: tokenizer and token shards, made once and reused.

use crate::checkpoint::RunDir;
use crate::data::{self, Document, ShardStats, SplitConfig, TokenShard};
use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;
use std::path::{Path, PathBuf};

/// Where the training text comes from.
#[derive(Debug, Clone)]
pub enum CorpusSource {
    /// Files or folders of .txt/.md/.jsonl.
    Paths(Vec<PathBuf>),
    /// The embedded, generated bilingual corpus (see data::synthetic), of about this many bytes.
    Synthetic { bytes: usize },
    /// Use what the run already has (resume, or a second age).
    Existing,
}

/// A run's tokenizer and its train/validation shards.
pub struct PreparedCorpus {
    pub tokenizer: Tokenizer,
    pub train: TokenShard,
    pub val: TokenShard,
    pub stats: ShardStats,
}

fn documents(source: &CorpusSource, seed: u64) -> Result<Vec<Document>> {
    match source {
        CorpusSource::Paths(paths) => {
            let files = data::scan_corpus(paths)?;
            tracing::info!(files = files.len(), "reading corpus");
            data::read_documents(&files)
        }
        CorpusSource::Synthetic { bytes } => Ok(data::synthetic::bilingual_corpus(seed, *bytes)),
        CorpusSource::Existing => Err(Error::Corpus {
            reason: "this run has no tokenised data yet: pass --corpus PATH (files or folders of .txt/.md/.jsonl)"
                .into(),
        }),
    }
}

/// Load or build the run's tokenizer and token shards. A run without a tokenizer adopts
/// `tokenizer` when given (from `thau tokenizer train`), else trains one of `vocab_size` on the
/// corpus. `resuming` silences the note that a given corpus is not re-read.
pub fn prepare(
    run: &RunDir,
    source: &CorpusSource,
    tokenizer: Option<&Path>,
    vocab_size: usize,
    split: &SplitConfig,
    resuming: bool,
) -> Result<PreparedCorpus> {
    let tok_path = run.tokenizer_path();
    let data_dir = run.data_dir();
    if let Some(given) = tokenizer {
        let tok = Tokenizer::load(given)?;
        if tok_path.exists() {
            if Tokenizer::load(&tok_path)?.to_json()? != tok.to_json()? {
                return Err(Error::Incompatible {
                    path: tok_path.clone(),
                    reason: format!("the run already has a different tokenizer than {}", given.display()),
                    hint: "a run keeps one tokenizer for life: drop --tokenizer or start a new --run".into(),
                });
            }
        } else {
            std::fs::create_dir_all(&run.root).map_err(|e| Error::io(&run.root, e))?;
            tok.save(&tok_path)?;
        }
    }
    let have_tok = tok_path.exists();
    // shards.json is written last by build_shards: without it the shards are incomplete.
    let have_shards = ["train.bin", "val.bin", "shards.json"].iter().all(|f| data_dir.join(f).exists());
    if have_tok && have_shards {
        if !resuming && !matches!(source, CorpusSource::Existing) {
            tracing::warn!(run = %run.root.display(), "the run already has a tokenizer and token shards: --corpus is ignored (delete the run's data/ folder to re-tokenise)");
        }
    } else {
        let docs = documents(source, split.seed)?;
        if docs.is_empty() {
            return Err(Error::Corpus { reason: "the corpus has no text".into() });
        }
        let tok = if have_tok {
            Tokenizer::load(&tok_path)?
        } else {
            tracing::info!(vocab_size, documents = docs.len(), "training tokenizer");
            let tok = Tokenizer::train(docs.iter().map(|d| d.text.clone()), vocab_size)?;
            tok.save(&tok_path)?;
            tok
        };
        tracing::info!("tokenising corpus into shards");
        data::build_shards(&docs, &tok, &data_dir, split)?;
    }
    let tokenizer = Tokenizer::load(&tok_path)?;
    let train = TokenShard::open(&data_dir.join("train.bin"))?;
    let val = TokenShard::open(&data_dir.join("val.bin"))?;
    let stats = ShardStats::load(&data_dir)?;
    if let Some(want) = &stats.tokenizer_hash {
        if *want != data::tokenizer_hash(&tokenizer)? {
            return Err(Error::Incompatible {
                path: tok_path.clone(),
                reason: "it is not the tokenizer the run's token shards were made with".into(),
                hint: "restore the run's original tokenizer.json (checkpoints were trained with it); \
                       a new tokenizer needs a new --run"
                    .into(),
            });
        }
    }
    if train.vocab_size() != tokenizer.vocab_size() as u32 as usize {
        return Err(Error::Incompatible {
            path: data_dir.join("train.bin"),
            reason: format!(
                "shards were made with vocab {}, tokenizer has {}",
                train.vocab_size(),
                tokenizer.vocab_size()
            ),
            hint: "delete the run's data/ folder to re-tokenise".into(),
        });
    }
    Ok(PreparedCorpus { tokenizer, train, val, stats })
}
