//! Token shards: a corpus tokenised once into `train.bin` / `val.bin`, memory-mapped for
//! training, with a validation split that is stable under reordering of the corpus files.
//!
//! File layout (little endian): a 32-byte header, then the tokens.
//!
//! ```text
//!  0  magic      b"THAUTOK1"
//!  8  version    u32 = 1
//! 12  dtype      u32 = 2 (u16 tokens, vocab <= 65536) or 4 (u32 tokens)
//! 16  count      u64 tokens
//! 24  vocab_size u32 (every token is below it)
//! 28  checksum   u32 FNV-1a 32 of the token bytes
//! 32  tokens     count * dtype bytes
//! ```

use super::corpus::Document;
use crate::error::{Error, Result};
use crate::tokenizer::{Tokenizer, BOS, EOS};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// First 8 bytes of every shard.
const MAGIC: &[u8; 8] = b"THAUTOK1";
/// Shard format version.
const VERSION: u32 = 1;
/// Header size in bytes.
const HEADER: usize = 32;
/// Hint for a damaged shard.
const CORRUPT_HINT: &str = "delete the run's data/ folder and run `thau train` again to re-tokenise";
/// Hint for a missing shard.
const MISSING_HINT: &str = "run `thau train` to tokenise the corpus into shards";
/// Blocks grow paragraph by paragraph until at least this many bytes.
const BLOCK_MIN_BYTES: usize = 2048;
/// A block is not grown past this many bytes if a paragraph boundary allows stopping.
const BLOCK_MAX_BYTES: usize = 4096;

/// FNV-1a 32-bit hash (the shard checksum).
fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Fingerprint of a tokenizer (FNV-1a 64 of its JSON, hex).
pub fn tokenizer_hash(tok: &Tokenizer) -> Result<String> {
    Ok(format!("{:016x}", fnv1a64(&[tok.to_json()?.as_bytes()])))
}

/// FNV-1a 64-bit hash over several byte strings in turn (the split hash).
fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Bytes per token for a vocabulary: 2 when ids fit in u16, else 4.
fn dtype_for(vocab_size: usize) -> u32 {
    if vocab_size <= 65536 {
        2
    } else {
        4
    }
}

/// Write `tokens` (all below `vocab_size`) as a shard file, atomically.
pub fn write_shard(path: &Path, tokens: &[u32], vocab_size: usize) -> Result<()> {
    if vocab_size == 0 || vocab_size > u32::MAX as usize {
        return Err(Error::invalid("shard vocab size", format!("{vocab_size} must be in 1..=2^32-1")));
    }
    if let Some((i, &t)) = tokens.iter().enumerate().find(|(_, &t)| t as usize >= vocab_size) {
        return Err(Error::invalid(
            "shard tokens",
            format!("token {t} at position {i} is not below the vocab size {vocab_size} ({})", path.display()),
        ));
    }
    let dtype = dtype_for(vocab_size);
    let mut body = Vec::with_capacity(tokens.len() * dtype as usize);
    if dtype == 2 {
        for &t in tokens {
            body.extend_from_slice(&(t as u16).to_le_bytes());
        }
    } else {
        for &t in tokens {
            body.extend_from_slice(&t.to_le_bytes());
        }
    }
    let mut bytes = Vec::with_capacity(HEADER + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&dtype.to_le_bytes());
    bytes.extend_from_slice(&(tokens.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&(vocab_size as u32).to_le_bytes());
    bytes.extend_from_slice(&fnv1a32(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    crate::fs::write_atomic(path, &bytes)
}

/// A memory-mapped, validated token shard.
#[derive(Debug)]
pub struct TokenShard {
    path: PathBuf,
    mmap: memmap2::Mmap,
    /// Bytes per token (2 or 4).
    width: usize,
    len: usize,
    vocab_size: usize,
}

impl TokenShard {
    /// Map a shard and check its header, length, checksum and that every token is in range.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::not_found(path, MISSING_HINT)
            } else {
                Error::io(path, e)
            }
        })?;
        // SAFETY: the map is read-only and THAU only ever replaces shards by atomic rename,
        // never writes into an existing one, so the mapped bytes do not change under us.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let corrupt = |reason: String| Error::corrupt(path, reason, CORRUPT_HINT);
        if mmap.len() < HEADER {
            return Err(corrupt(format!("{} bytes, shorter than the {HEADER}-byte header", mmap.len())));
        }
        let u32_at = |o: usize| u32::from_le_bytes([mmap[o], mmap[o + 1], mmap[o + 2], mmap[o + 3]]);
        if &mmap[..8] != MAGIC {
            return Err(corrupt("bad magic, not a THAU token shard".into()));
        }
        let version = u32_at(8);
        if version != VERSION {
            return Err(corrupt(format!("shard version {version}, this THAU reads version {VERSION}")));
        }
        let dtype = u32_at(12);
        let mut count_bytes = [0u8; 8];
        count_bytes.copy_from_slice(&mmap[16..24]);
        let count = u64::from_le_bytes(count_bytes);
        let vocab_size = u32_at(24) as usize;
        let checksum = u32_at(28);
        if dtype != 2 && dtype != 4 {
            return Err(corrupt(format!("token width {dtype} bytes, expected 2 or 4")));
        }
        if vocab_size == 0 || (dtype == 2 && vocab_size > 65536) {
            return Err(corrupt(format!("vocab size {vocab_size} does not fit {dtype}-byte tokens")));
        }
        let expected =
            usize::try_from(count).ok().and_then(|c| c.checked_mul(dtype as usize)).and_then(|b| b.checked_add(HEADER));
        if expected != Some(mmap.len()) {
            return Err(corrupt(format!(
                "header says {count} tokens of {dtype} bytes but the file is {} bytes (truncated?)",
                mmap.len()
            )));
        }
        let body = &mmap[HEADER..];
        let actual = fnv1a32(body);
        if actual != checksum {
            return Err(corrupt(format!("checksum mismatch: header {checksum:08x}, data {actual:08x}")));
        }
        let shard = Self { path: path.to_path_buf(), width: dtype as usize, len: count as usize, vocab_size, mmap };
        let max = shard.max_token();
        if let Some(max) = max.filter(|&m| m as usize >= vocab_size) {
            return Err(shard.corrupt(format!("token {max} is not below the vocab size {vocab_size}")));
        }
        Ok(shard)
    }

    /// A Corrupt error about this shard.
    fn corrupt(&self, reason: String) -> Error {
        Error::corrupt(&self.path, reason, CORRUPT_HINT)
    }

    /// Largest token id, `None` for an empty shard.
    fn max_token(&self) -> Option<u32> {
        let body = &self.mmap[HEADER..];
        if self.width == 2 {
            body.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))).max()
        } else {
            body.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).max()
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the shard holds no tokens.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Vocabulary size the shard was written for; every token is below it.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The file this shard was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Token at position `i`. Panics if `i >= len()`, like slice indexing.
    pub fn get(&self, i: usize) -> u32 {
        assert!(i < self.len, "token index {i} out of range for a shard of {} tokens", self.len);
        let o = HEADER + i * self.width;
        let m = &self.mmap;
        if self.width == 2 {
            u32::from(u16::from_le_bytes([m[o], m[o + 1]]))
        } else {
            u32::from_le_bytes([m[o], m[o + 1], m[o + 2], m[o + 3]])
        }
    }

    /// Append tokens `start..start + len` to `out`. Panics if the range is past the end.
    pub fn copy_range(&self, start: usize, len: usize, out: &mut Vec<u32>) {
        let end = start.checked_add(len).filter(|&e| e <= self.len);
        assert!(end.is_some(), "range {start}+{len} out of range for a shard of {} tokens", self.len);
        let bytes = &self.mmap[HEADER + start * self.width..HEADER + (start + len) * self.width];
        out.reserve(len);
        if self.width == 2 {
            out.extend(bytes.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))));
        } else {
            out.extend(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        }
    }

    /// All tokens as a vector.
    pub fn to_vec(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len);
        self.copy_range(0, self.len, &mut out);
        out
    }
}

/// How the corpus is split into training and validation text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Fraction of blocks (of about 2-4 KB) that go to validation, in `[0, 1)`.
    pub val_fraction: f64,
    /// Seed mixed into the block hash; another seed gives another split.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self { val_fraction: 0.05, seed: 0 }
    }
}

/// What `build_shards` made; saved as `shards.json` beside the shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardStats {
    /// Documents read.
    pub documents: usize,
    /// Blocks (paragraph groups of about 2-4 KB) in each split.
    pub train_blocks: usize,
    pub val_blocks: usize,
    /// Tokens in each shard, BOS/EOS included.
    pub train_tokens: u64,
    pub val_tokens: u64,
    /// UTF-8 bytes of text in each split (for bits per byte).
    pub train_bytes: u64,
    pub val_bytes: u64,
    /// Vocabulary size of the tokenizer used.
    pub vocab_size: usize,
    /// Corpus files (document sources without `:line`), in first-seen order.
    pub files: Vec<String>,
    /// The split that was used.
    pub val_fraction: f64,
    pub seed: u64,
    /// FNV-1a 64 of the tokenizer's JSON, so a tokenizer swapped under the shards is caught.
    #[serde(default)]
    pub tokenizer_hash: Option<String>,
}

impl ShardStats {
    /// File name of the stats inside a shard folder.
    pub const FILE: &'static str = "shards.json";

    /// Read `dir/shards.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(Self::FILE);
        let bytes = crate::error::read_file(&path, MISSING_HINT)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(&path, format!("bad JSON: {e}"), CORRUPT_HINT))
    }

    /// Write `dir/shards.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(Self::FILE);
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid("shard stats", format!("cannot serialise: {e}")))?;
        crate::fs::write_atomic(&path, json.as_bytes())
    }
}

/// Cut `text` into contiguous blocks at paragraph boundaries, each about 2-4 KB.
///
/// A cut goes just before a line that follows a blank line and starts with a non-space
/// character, where the GPT-2 pre-tokenizer always splits, so tokenising the blocks one by
/// one gives the same tokens as tokenising the whole text.
fn blocks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    let mut prev_blank = false;
    for line in text.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        let starts_word = line.chars().next().is_some_and(|c| !c.is_whitespace());
        let size = pos - start;
        if prev_blank && starts_word && size >= BLOCK_MIN_BYTES {
            out.push(&text[start..pos]);
            start = pos;
        } else if size >= BLOCK_MAX_BYTES && starts_word && pos > start {
            // A very long paragraph: cut at a line start to keep blocks near the target.
            out.push(&text[start..pos]);
            start = pos;
        }
        prev_blank = blank;
        pos += line.len();
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// True when a block goes to validation: a stable hash of (seed, text) below the fraction.
fn is_val(block: &str, split: &SplitConfig) -> bool {
    let h = fnv1a64(&[&split.seed.to_le_bytes(), block.as_bytes()]);
    let u = (h >> 11) as f64 / (1u64 << 53) as f64;
    u < split.val_fraction
}

/// The corpus file a document came from (`"a.jsonl:3"` -> `"a.jsonl"`).
fn source_file(source: &str) -> &str {
    match source.rsplit_once(':') {
        Some((file, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => file,
        _ => source,
    }
}

/// Tokenise `docs` into `out_dir/{train,val}.bin` and `out_dir/shards.json`.
///
/// Each run of consecutive blocks of a document that land in the same split is written as
/// BOS + tokens + EOS. Output is deterministic and each block's split does not depend on the
/// order of the documents.
pub fn build_shards(docs: &[Document], tok: &Tokenizer, out_dir: &Path, split: &SplitConfig) -> Result<ShardStats> {
    if !(0.0..1.0).contains(&split.val_fraction) {
        return Err(Error::invalid(
            "validation fraction",
            format!("{} must be at least 0 and below 1", split.val_fraction),
        ));
    }
    // (document index, block text, goes to val), in corpus order.
    let mut all: Vec<(usize, &str, bool)> = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        for b in blocks(&doc.text) {
            all.push((d, b, is_val(b, split)));
        }
    }
    if all.is_empty() {
        return Err(Error::Corpus {
            reason: "the corpus has no text: add .txt/.md/.jsonl files with some text in them".into(),
        });
    }
    if !all.iter().any(|b| b.2) {
        if let Some(last) = all.last_mut() {
            last.2 = true;
        }
        tracing::warn!(
            val_fraction = split.val_fraction,
            "no block fell into the validation split; using the corpus's last block for validation"
        );
    }
    if all.iter().all(|b| b.2) {
        return Err(Error::Corpus {
            reason: format!(
                "corpus too small: its {} block(s) of text all went to validation, none left to train on; \
                 add more text or lower the validation fraction",
                all.len()
            ),
        });
    }

    let encoded: Vec<Vec<u32>> = all.par_iter().map(|(_, text, _)| tok.encode(text)).collect();

    let mut train = Vec::new();
    let mut val = Vec::new();
    let (mut train_bytes, mut val_bytes, mut train_blocks, mut val_blocks) = (0u64, 0u64, 0usize, 0usize);
    for (i, ((doc, text, to_val), ids)) in all.iter().zip(&encoded).enumerate() {
        let first_of_run = i == 0 || all[i - 1].0 != *doc || all[i - 1].2 != *to_val;
        let last_of_run = i + 1 == all.len() || all[i + 1].0 != *doc || all[i + 1].2 != *to_val;
        let (out, bytes, count) = if *to_val {
            (&mut val, &mut val_bytes, &mut val_blocks)
        } else {
            (&mut train, &mut train_bytes, &mut train_blocks)
        };
        if first_of_run {
            out.push(BOS);
        }
        out.extend_from_slice(ids);
        if last_of_run {
            out.push(EOS);
        }
        *bytes += text.len() as u64;
        *count += 1;
    }

    let mut files: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for doc in docs {
        let f = source_file(&doc.source);
        if seen.insert(f) {
            files.push(f.to_string());
        }
    }
    let stats = ShardStats {
        documents: docs.len(),
        train_blocks,
        val_blocks,
        train_tokens: train.len() as u64,
        val_tokens: val.len() as u64,
        train_bytes,
        val_bytes,
        vocab_size: tok.vocab_size(),
        files,
        val_fraction: split.val_fraction,
        seed: split.seed,
        tokenizer_hash: Some(tokenizer_hash(tok)?),
    };
    write_shard(&out_dir.join("train.bin"), &train, tok.vocab_size())?;
    write_shard(&out_dir.join("val.bin"), &val, tok.vocab_size())?;
    stats.save(out_dir)?;
    tracing::info!(
        train_tokens = stats.train_tokens,
        val_tokens = stats.val_tokens,
        dir = %out_dir.display(),
        "token shards written"
    );
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::documents_from_text;

    fn tiny_tokenizer() -> Tokenizer {
        let text = "hola mundo hello world el gato the cat ".repeat(50);
        Tokenizer::train(std::iter::once(text), 300).unwrap()
    }

    #[test]
    fn shard_round_trip_u16_and_u32() {
        let dir = tempfile::tempdir().unwrap();
        for (vocab, width) in [(300usize, 2u32), (65536, 2), (70000, 4)] {
            let p = dir.path().join(format!("s{vocab}.bin"));
            let tokens: Vec<u32> = (0..1000).map(|i| (i * 7919) % vocab as u32).collect();
            write_shard(&p, &tokens, vocab).unwrap();
            let s = TokenShard::open(&p).unwrap();
            assert_eq!(s.len(), 1000);
            assert_eq!(s.vocab_size(), vocab);
            assert_eq!(s.width as u32, width);
            assert_eq!(s.to_vec(), tokens);
            assert_eq!(s.get(999), tokens[999]);
            let mut out = vec![42];
            s.copy_range(10, 5, &mut out);
            assert_eq!(out[1..], tokens[10..15]);
            assert_eq!(std::fs::metadata(&p).unwrap().len(), 32 + 1000 * u64::from(width));
        }
        let empty = dir.path().join("e.bin");
        write_shard(&empty, &[], 300).unwrap();
        assert!(TokenShard::open(&empty).unwrap().is_empty());
        assert!(write_shard(&empty, &[300], 300).is_err());
    }

    #[test]
    fn corrupt_shards_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.bin");
        write_shard(&p, &[1, 2, 3, 4], 10).unwrap();
        let good = std::fs::read(&p).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("short header", good[..20].to_vec()),
            ("bad magic", [b"NOTTHAU!".as_slice(), &good[8..]].concat()),
            ("version", {
                let mut b = good.clone();
                b[8] = 9;
                b
            }),
            ("dtype", {
                let mut b = good.clone();
                b[12] = 3;
                b
            }),
            ("truncated", good[..good.len() - 1].to_vec()),
            ("extra bytes", [good.as_slice(), &[0, 0]].concat()),
            ("flipped token", {
                let mut b = good.clone();
                b[33] ^= 1;
                b
            }),
            ("count", {
                let mut b = good.clone();
                b[16] = 5;
                b
            }),
        ];
        for (what, bytes) in cases {
            std::fs::write(&p, &bytes).unwrap();
            let err = TokenShard::open(&p).unwrap_err();
            assert!(matches!(err, Error::Corrupt { .. }), "{what}: {err}");
            assert!(err.to_string().contains("thau train"), "{what}: {err}");
        }
        // A token out of range with a matching checksum is caught too.
        let mut b = good.clone();
        b[32] = 11;
        let sum = fnv1a32(&b[32..]);
        b[28..32].copy_from_slice(&sum.to_le_bytes());
        std::fs::write(&p, &b).unwrap();
        assert!(TokenShard::open(&p).unwrap_err().to_string().contains("not below"));
        let missing = TokenShard::open(&dir.path().join("none.bin")).unwrap_err();
        assert!(matches!(missing, Error::NotFound { .. }));
    }

    #[test]
    fn blocks_cover_text_and_respect_paragraphs() {
        let para = "Una frase corta para el bloque. ".repeat(10);
        let text: String = (0..40).map(|i| format!("{i} {para}\n\n")).collect();
        let bs = blocks(&text);
        assert_eq!(bs.concat(), text);
        assert!(bs.len() > 3);
        for b in &bs[..bs.len() - 1] {
            assert!(b.len() >= BLOCK_MIN_BYTES && b.len() <= BLOCK_MAX_BYTES + para.len() + 8, "{}", b.len());
            assert!(b.ends_with("\n\n"));
        }
        let long = "x".repeat(100) + "\n";
        let text = long.repeat(200);
        let bs = blocks(&text);
        assert_eq!(bs.concat(), text);
        assert!(bs.iter().all(|b| b.len() <= BLOCK_MAX_BYTES + long.len()));
        assert!(blocks("").is_empty());
    }

    #[test]
    fn build_shards_deterministic_and_order_independent() {
        let tok = tiny_tokenizer();
        let docs = crate::data::bilingual_corpus(7, 60_000);
        let split = SplitConfig { val_fraction: 0.1, seed: 3 };
        let d1 = tempfile::tempdir().unwrap();
        let s1 = build_shards(&docs, &tok, d1.path(), &split).unwrap();
        let d2 = tempfile::tempdir().unwrap();
        build_shards(&docs, &tok, d2.path(), &split).unwrap();
        for f in ["train.bin", "val.bin", "shards.json"] {
            assert_eq!(std::fs::read(d1.path().join(f)).unwrap(), std::fs::read(d2.path().join(f)).unwrap(), "{f}");
        }
        assert_eq!(ShardStats::load(d1.path()).unwrap(), s1);
        let total: u64 = docs.iter().map(|d| d.text.len() as u64).sum();
        assert_eq!(s1.train_bytes + s1.val_bytes, total);
        assert!(s1.val_blocks > 0 && s1.train_blocks > s1.val_blocks);
        let train = TokenShard::open(&d1.path().join("train.bin")).unwrap();
        assert_eq!(train.len() as u64, s1.train_tokens);
        assert_eq!(train.get(0), BOS);
        assert_eq!(train.get(train.len() - 1), EOS);

        // Reversing the document order keeps the same bytes in each split.
        let mut rev = docs.clone();
        rev.reverse();
        let d3 = tempfile::tempdir().unwrap();
        let s3 = build_shards(&rev, &tok, d3.path(), &split).unwrap();
        assert_eq!((s3.train_bytes, s3.val_bytes), (s1.train_bytes, s1.val_bytes));
        assert_eq!((s3.train_tokens, s3.val_tokens), (s1.train_tokens, s1.val_tokens));
    }

    #[test]
    fn tokens_decode_back_to_the_text() {
        let tok = tiny_tokenizer();
        let docs = documents_from_text("one.txt", "Hola, ¿qué tal?\n\nHello there.\n");
        let dir = tempfile::tempdir().unwrap();
        let split = SplitConfig { val_fraction: 0.0, seed: 0 };
        // A single block: it must go to validation and leave nothing to train on.
        let err = build_shards(&docs, &tok, dir.path(), &split).unwrap_err();
        assert!(err.to_string().contains("corpus too small"), "{err}");
        let mut docs = docs;
        docs.extend(documents_from_text("two.jsonl:4", "Second document, segundo documento."));
        let stats = build_shards(&docs, &tok, dir.path(), &split).unwrap();
        assert_eq!(stats.files, vec!["one.txt".to_string(), "two.jsonl".to_string()]);
        let train = TokenShard::open(&dir.path().join("train.bin")).unwrap().to_vec();
        let val = TokenShard::open(&dir.path().join("val.bin")).unwrap().to_vec();
        assert_eq!(tok.decode(&train[1..train.len() - 1]), docs[0].text);
        assert_eq!(tok.decode(&val[1..val.len() - 1]), docs[1].text);
        assert_eq!(stats.val_bytes, docs[1].text.len() as u64);
    }

    #[test]
    fn bad_val_fraction_and_empty_corpus() {
        let tok = tiny_tokenizer();
        let dir = tempfile::tempdir().unwrap();
        let docs = documents_from_text("a", "text");
        assert!(build_shards(&docs, &tok, dir.path(), &SplitConfig { val_fraction: 1.0, seed: 0 }).is_err());
        assert!(build_shards(&[], &tok, dir.path(), &SplitConfig::default()).is_err());
    }
}
