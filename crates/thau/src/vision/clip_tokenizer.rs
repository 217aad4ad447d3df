//! CLIP's tokenizer (Radford et al. 2021): lower-cased byte-level BPE whose word-final pieces
//! end in `</w>`, wrapped in `<|startoftext|>` … `<|endoftext|>` and padded with
//! `<|endoftext|>` to the text encoder's 77 positions.
//!
//! A `tokenizer/` folder may hold any of:
//! - `tokenizer.json` (the `tokenizers` format),
//! - `vocab.json` + `merges.txt` (the diffusers/transformers layout),
//! - `bpe_simple_vocab_16e6.txt[.gz]` (OpenAI's original merges list, which PyPI's
//!   `open-clip-torch` ships; the vocabulary is derived from it as OpenAI's code does).

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Lowercase, Replace, Sequence as NormSeq, NFC};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSeq;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::SplitDelimiterBehavior;

pub const BOS: &str = "<|startoftext|>";
pub const EOS: &str = "<|endoftext|>";
/// The name of OpenAI's merges file.
pub const OPENAI_BPE_FILE: &str = "bpe_simple_vocab_16e6.txt";

/// CLIP's word pattern: contractions, letter runs, single digits, runs of other symbols.
const CLIP_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// A prompt as token ids, padded to the text encoder's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// `max_len` ids: BOS, the prompt's tokens, EOS, then EOS padding.
    pub ids: Vec<u32>,
    /// Tokens of the prompt itself (without BOS/EOS) before truncation.
    pub prompt_tokens: usize,
    /// Whether the prompt was cut to fit.
    pub truncated: bool,
}

/// A loaded CLIP tokenizer.
#[derive(Clone)]
pub struct ClipTokenizer {
    tk: tokenizers::Tokenizer,
    bos: u32,
    eos: u32,
    source: PathBuf,
}

impl std::fmt::Debug for ClipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTokenizer").field("source", &self.source).field("vocab", &self.vocab_size()).finish()
    }
}

/// What to tell a user whose tokenizer folder is missing or empty.
pub const TOKENIZER_HINT: &str =
    "put the model's tokenizer/ folder (vocab.json + merges.txt, or tokenizer.json) there; \
     offline, `pip download --no-deps open-clip-torch==3.3.0` ships open_clip/bpe_simple_vocab_16e6.txt.gz, \
     which THAU reads as it is";

impl ClipTokenizer {
    /// Load from a `tokenizer/` folder, or from one of the files it may hold.
    pub fn load(path: &Path) -> Result<Self> {
        if path.is_file() {
            return Self::from_file(path);
        }
        for name in ["tokenizer.json", "vocab.json", "bpe_simple_vocab_16e6.txt.gz", OPENAI_BPE_FILE] {
            let p = path.join(name);
            if p.is_file() {
                return Self::from_file(&p);
            }
        }
        Err(Error::not_found(path.join("vocab.json"), TOKENIZER_HINT))
    }

    fn from_file(path: &Path) -> Result<Self> {
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if name.ends_with(".json") && name != "vocab.json" {
            let tk = tokenizers::Tokenizer::from_file(path)
                .map_err(|e| Error::corrupt(path, e.to_string(), "use the model's own tokenizer.json"))?;
            return Self::wrap(tk, path);
        }
        if name == "vocab.json" {
            let merges_path = path.with_file_name("merges.txt");
            let vocab: std::collections::HashMap<String, u32> =
                serde_json::from_slice(&crate::error::read_file(path, TOKENIZER_HINT)?)
                    .map_err(|e| Error::corrupt(path, format!("not a vocabulary: {e}"), TOKENIZER_HINT))?;
            let text = String::from_utf8(crate::error::read_file(&merges_path, "vocab.json needs its merges.txt")?)
                .map_err(|_| Error::corrupt(&merges_path, "not UTF-8", TOKENIZER_HINT))?;
            let merges = parse_merges(&text, &merges_path, None)?;
            return Self::build(vocab, merges, path);
        }
        // OpenAI's merges list (optionally gzipped).
        let bytes = crate::error::read_file(path, TOKENIZER_HINT)?;
        let text = if name.ends_with(".gz") {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut s)
                .map_err(|e| Error::corrupt(path, format!("not gzip text: {e}"), TOKENIZER_HINT))?;
            s
        } else {
            String::from_utf8(bytes).map_err(|_| Error::corrupt(path, "not UTF-8", TOKENIZER_HINT))?
        };
        // OpenAI's code keeps the first 49152 - 256 - 2 merges, giving a 49408-token vocabulary.
        let merges = parse_merges(&text, path, Some(49152 - 256 - 2))?;
        let vocab = vocab_from_merges(&merges);
        Self::build(vocab.into_iter().enumerate().map(|(i, t)| (t, i as u32)).collect(), merges, path)
    }

    /// The `tokenizers` pipeline CLIP's fast tokenizer uses, over `vocab` and `merges`.
    fn build(
        vocab: std::collections::HashMap<String, u32>,
        merges: Vec<(String, String)>,
        source: &Path,
    ) -> Result<Self> {
        let corrupt = |r: String| Error::corrupt(source, r, TOKENIZER_HINT);
        let bos = *vocab.get(BOS).ok_or_else(|| corrupt(format!("no {BOS} token")))?;
        let eos = *vocab.get(EOS).ok_or_else(|| corrupt(format!("no {EOS} token")))?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab.into_iter().collect::<tokenizers::models::bpe::Vocab>(), merges)
            .end_of_word_suffix("</w>".into())
            .unk_token(EOS.into())
            .build()
            .map_err(|e| corrupt(format!("vocabulary and merges do not form a BPE model: {e}")))?;
        let mut tk = tokenizers::Tokenizer::new(bpe);
        let ws = Replace::new(tokenizers::normalizers::replace::ReplacePattern::Regex(r"\s+".into()), " ")
            .map_err(|e| corrupt(e.to_string()))?;
        tk.with_normalizer(Some(NormSeq::new(vec![NFC.into(), ws.into(), Lowercase.into()])))
            .map_err(|e| corrupt(e.to_string()))?;
        let split = Split::new(SplitPattern::Regex(CLIP_PATTERN.into()), SplitDelimiterBehavior::Removed, true)
            .map_err(|e| corrupt(e.to_string()))?;
        let bl = ByteLevel::new(false, true, false);
        tk.with_pre_tokenizer(Some(PreSeq::new(vec![
            PreTokenizerWrapper::Split(split),
            PreTokenizerWrapper::ByteLevel(bl),
        ])));
        tk.with_decoder(Some(ByteLevel::default()));
        tk.with_post_processor(Some(
            RobertaProcessing::new((EOS.into(), eos), (BOS.into(), bos)).trim_offsets(false).add_prefix_space(false),
        ));
        Ok(Self { tk, bos, eos, source: source.to_path_buf() })
    }

    fn wrap(tk: tokenizers::Tokenizer, source: &Path) -> Result<Self> {
        let id = |t: &str| {
            tk.token_to_id(t)
                .ok_or_else(|| Error::corrupt(source, format!("no {t} token: not a CLIP tokenizer"), TOKENIZER_HINT))
        };
        let (bos, eos) = (id(BOS)?, id(EOS)?);
        Ok(Self { tk, bos, eos, source: source.to_path_buf() })
    }

    pub fn vocab_size(&self) -> usize {
        self.tk.get_vocab_size(true)
    }

    pub fn bos(&self) -> u32 {
        self.bos
    }

    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// The ids of `text` between BOS and EOS, unpadded.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.tk.encode(text, false).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let mut ids = Vec::with_capacity(enc.len() + 2);
        ids.push(self.bos);
        ids.extend(enc.get_ids().iter().copied().filter(|&i| i != self.bos && i != self.eos));
        ids.push(self.eos);
        Ok(ids)
    }

    /// `text` as exactly `max_len` ids: truncated (keeping the final EOS) when longer, padded
    /// with EOS when shorter.
    pub fn encode(&self, text: &str, max_len: usize) -> Result<Tokens> {
        if max_len < 3 {
            return Err(Error::invalid("text length", format!("{max_len} positions cannot hold a prompt")));
        }
        let mut ids = self.encode_plain(text)?;
        let prompt_tokens = ids.len() - 2;
        let truncated = ids.len() > max_len;
        if truncated {
            ids.truncate(max_len - 1);
            ids.push(self.eos);
        }
        ids.resize(max_len, self.eos);
        Ok(Tokens { ids, prompt_tokens, truncated })
    }
}

fn parse_merges(text: &str, path: &Path, keep: Option<usize>) -> Result<Vec<(String, String)>> {
    let mut merges = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if n == 0 && line.starts_with('#') || line.starts_with("\"bpe_simple_vocab") || line.trim().is_empty() {
            continue;
        }
        if keep.is_some_and(|k| merges.len() >= k) {
            break;
        }
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => merges.push((a.to_string(), b.to_string())),
            _ => {
                return Err(Error::corrupt(
                    path,
                    format!("line {} is not a merge (two tokens separated by a space): {line:?}", n + 1),
                    TOKENIZER_HINT,
                ))
            }
        }
    }
    if merges.is_empty() {
        return Err(Error::corrupt(path, "no merges", TOKENIZER_HINT));
    }
    Ok(merges)
}

/// GPT-2's byte → printable character table as (byte, char) pairs in GPT-2's order: the
/// printable bytes first (as themselves), then the others mapped to U+0100 onwards.
pub fn byte_chars() -> Vec<(u8, char)> {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32).chain(0xA1..=0xAC).chain(0xAE..=0xFF).collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    bs.into_iter().zip(cs).map(|(b, c)| (b as u8, char::from_u32(c).expect("table chars are valid"))).collect()
}

/// The character GPT-2's table maps each byte to, indexed by byte.
fn char_of_byte() -> [char; 256] {
    let mut t = ['\0'; 256];
    for (b, c) in byte_chars() {
        t[b as usize] = c;
    }
    t
}

/// CLIP's vocabulary in id order: the 256 byte characters, the same with `</w>`, one token per
/// merge, then BOS and EOS.
pub fn vocab_from_merges(merges: &[(String, String)]) -> Vec<String> {
    let bytes: Vec<String> = byte_chars().into_iter().map(|(_, c)| String::from(c)).collect();
    let mut vocab = bytes.clone();
    vocab.extend(bytes.iter().map(|b| format!("{b}</w>")));
    vocab.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
    vocab.push(BOS.into());
    vocab.push(EOS.into());
    vocab
}

/// Write a small CLIP-format tokenizer folder (`vocab.json` + `merges.txt`): the byte tokens,
/// the merges that spell `words`, and the special tokens, padded with unused tokens to
/// `vocab_size` when that is larger (so ids match a text encoder of that size). For tests and
/// benchmarks that run random weights.
pub fn write_small_tokenizer(dir: &Path, words: &[&str], vocab_size: usize) -> Result<usize> {
    let table = char_of_byte();
    let mut merges: Vec<(String, String)> = Vec::new();
    for w in words {
        let chars: Vec<String> = w.to_lowercase().bytes().map(|b| table[b as usize].to_string()).collect();
        let mut acc = chars[0].clone();
        for (i, c) in chars.iter().enumerate().skip(1) {
            let piece = if i + 1 == chars.len() { format!("{c}</w>") } else { c.clone() };
            let m = (acc.clone(), piece.clone());
            if !merges.contains(&m) {
                merges.push(m);
            }
            acc = format!("{acc}{piece}");
        }
    }
    let mut vocab = vocab_from_merges(&merges);
    let specials = vocab.split_off(vocab.len() - 2);
    let mut k = 0;
    while vocab.len() + 2 < vocab_size {
        vocab.push(format!("<|unused{k}|>"));
        k += 1;
    }
    vocab.extend(specials);
    let map: serde_json::Map<String, serde_json::Value> =
        vocab.iter().enumerate().map(|(i, t)| (t.clone(), serde_json::Value::from(i))).collect();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let json = serde_json::to_vec(&map).map_err(|e| Error::invalid("vocabulary", e.to_string()))?;
    crate::fs::write_atomic(&dir.join("vocab.json"), &json)?;
    let mut text = String::from("#version: 0.2\n");
    for (a, b) in &merges {
        text.push_str(&format!("{a} {b}\n"));
    }
    crate::fs::write_atomic(&dir.join("merges.txt"), text.as_bytes())?;
    Ok(vocab.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_matches_gpt2() {
        assert_eq!(byte_chars().len(), 256);
        let t = char_of_byte();
        assert_eq!(t[b'a' as usize], 'a');
        assert_eq!(t[b' ' as usize], 'Ġ');
        // "a</w>" is CLIP id 320: 256 + the position of 'a' in GPT-2's order.
        let vocab = vocab_from_merges(&[]);
        assert_eq!(vocab.iter().position(|v| v == "a</w>"), Some(320));
    }

    #[test]
    fn small_tokenizer_round_trip_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let n = write_small_tokenizer(dir.path(), &["cat", "photo"], 600).unwrap();
        assert_eq!(n, 600);
        let tk = ClipTokenizer::load(dir.path()).unwrap();
        assert_eq!(tk.vocab_size(), 600);
        assert_eq!((tk.bos(), tk.eos()), (598, 599));
        let t = tk.encode("A  Photo of a CAT", 77).unwrap();
        assert_eq!(t.ids.len(), 77);
        assert!(!t.truncated);
        // photo</w>, of (2 byte tokens), a</w>, cat</w> — whole words where merges exist.
        assert_eq!(t.ids[0], 598);
        assert_eq!(t.ids[1], 320);
        assert_eq!(t.prompt_tokens, 6);
        assert_eq!(t.ids[t.prompt_tokens + 1], 599);
        assert!(t.ids[t.prompt_tokens + 1..].iter().all(|&i| i == 599));
        let long = "cat ".repeat(100);
        let t = tk.encode(&long, 77).unwrap();
        assert!(t.truncated);
        assert_eq!(t.prompt_tokens, 100);
        assert_eq!(t.ids.len(), 77);
        assert_eq!(*t.ids.last().unwrap(), 599);
    }

    #[test]
    fn missing_folder_names_what_to_put_there() {
        let dir = tempfile::tempdir().unwrap();
        let e = ClipTokenizer::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("vocab.json") && e.contains("open-clip-torch"), "{e}");
    }
}
