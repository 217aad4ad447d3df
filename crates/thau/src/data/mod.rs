//! Corpus in, token shards out: fetch and clean the bilingual starter corpus, find and read
//! corpus files, tokenise them into memory-mapped shards with a stable train/validation split,
//! and the built-in bilingual demo corpus.

pub mod clean;
mod corpus;
pub mod fetch;
pub mod manifest;
mod shards;
pub mod synthetic;

pub use clean::Lang;
pub use corpus::{documents_from_text, read_documents, scan_corpus, Document, EXTENSIONS};
pub use manifest::Manifest;
pub use shards::{build_shards, tokenizer_hash, write_shard, ShardStats, SplitConfig, TokenShard};
pub use synthetic::bilingual_corpus;
