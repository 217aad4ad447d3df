//! The tokenizer proper: byte-level BPE (GPT-2 regex pre-tokenizer, no normalizer) trained,
//! saved and loaded through the `tokenizers` crate, with decoding done here from byte tables.
//!
//! Vocabulary layout: ids `0..20` are [`SPECIAL_TOKENS`], ids `20..276` the 256 byte tokens
//! (in the trainer's alphabet order, i.e. sorted by their byte-level character), then merges
//! in rank order.

use super::special::{BOS, END, EOS, NUM_SPECIAL, SPECIAL_TOKENS};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokenizers::models::bpe::{BpeTrainer, BPE};
use tokenizers::models::{ModelWrapper, TrainerWrapper};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::AddedToken;

/// Smallest vocabulary `train` accepts: the specials, the 256 bytes and one merge.
pub const MIN_VOCAB_SIZE: usize = NUM_SPECIAL + 256 + 1;
/// Largest vocabulary `train` accepts.
pub const MAX_VOCAB_SIZE: usize = 262_144;

/// Hint for a missing tokenizer file.
const LOAD_HINT: &str = "run `thau tokenizer train --corpus PATH --out FILE` first";
/// Hint for a tokenizer file that is not one of ours.
const CORRUPT_HINT: &str = "delete it and run `thau tokenizer train --corpus PATH --out FILE` to make a new one";

/// Byte-level BPE tokenizer with fixed special-token ids. Cheap to share: `Clone + Send + Sync`.
#[derive(Clone)]
pub struct Tokenizer {
    /// Recognises special-token strings in the input (chat templates).
    inner: tokenizers::Tokenizer,
    /// Same tokenizer with `encode_special_tokens = true`: special strings are plain text.
    raw: tokenizers::Tokenizer,
    /// Token string per id (byte-level alphabet; specials as written).
    tokens: Vec<String>,
    /// Raw bytes each id decodes to.
    token_bytes: Vec<Vec<u8>>,
    /// Id of the single-byte token for each byte value.
    byte_ids: Vec<u32>,
    /// Merges in rank order.
    merges: Vec<(String, String)>,
    /// Special tokens and chat template of a vocabulary THAU did not make (`None`: THAU's
    /// own, with the fixed ids of [`SPECIAL_TOKENS`]).
    foreign: Option<std::sync::Arc<super::Foreign>>,
    /// For a SentencePiece vocabulary that puts a space in front of a text: `raw` without
    /// that space, for text that continues other text ([`Self::encode_continued`]).
    continued: Option<tokenizers::Tokenizer>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").field("vocab_size", &self.tokens.len()).field("merges", &self.merges.len()).finish()
    }
}

/// The GPT-2 byte-level pre-tokenizer/decoder settings llama.cpp calls `pre = "gpt-2"`.
fn byte_level() -> ByteLevel {
    ByteLevel::new(false, true, true)
}

/// GPT-2's byte -> printable character table (same construction as `tokenizers`).
pub(super) fn bytes_to_chars() -> Vec<char> {
    let mut bs: Vec<u32> = (u32::from(b'!')..=u32::from(b'~')).collect();
    bs.extend(0xA1..=0xAC);
    bs.extend(0xAE..=0xFF);
    let mut table = vec!['\0'; 256];
    for &b in &bs {
        table[b as usize] = char::from_u32(b).unwrap_or('\0');
    }
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            table[b as usize] = char::from_u32(256 + n).unwrap_or('\0');
            n += 1;
        }
    }
    table
}

impl Tokenizer {
    /// Train a byte-level BPE on `texts` up to `vocab_size` tokens; same texts, same bytes out.
    ///
    /// Pairs seen fewer than twice are never merged, so a tiny corpus may yield a smaller
    /// vocabulary than asked for (logged as a warning); read it back with [`Self::vocab_size`].
    pub fn train<I: Iterator<Item = String> + Send>(texts: I, vocab_size: usize) -> Result<Self> {
        if !(MIN_VOCAB_SIZE..=MAX_VOCAB_SIZE).contains(&vocab_size) {
            return Err(Error::invalid(
                "vocab size",
                format!(
                    "{vocab_size} is outside {MIN_VOCAB_SIZE}..={MAX_VOCAB_SIZE} \
                     ({NUM_SPECIAL} special tokens + 256 byte tokens + at least one merge); \
                     pick a --vocab-size in that range"
                ),
            ));
        }
        let specials = SPECIAL_TOKENS.iter().map(|s| AddedToken::from(*s, true)).collect();
        let trainer = BpeTrainer::builder()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(specials)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let mut trainer = TrainerWrapper::BpeTrainer(trainer);
        let mut tk = tokenizers::Tokenizer::new(BPE::default());
        tk.with_pre_tokenizer(Some(byte_level()));
        tk.with_decoder(Some(byte_level()));
        let bytes_seen = AtomicUsize::new(0);
        let texts = texts.inspect(|t| {
            bytes_seen.fetch_add(t.len(), Ordering::Relaxed);
        });
        tk.train(&mut trainer, texts).map_err(|e| Error::Tokenizer(format!("training failed: {e}")))?;
        if bytes_seen.load(Ordering::Relaxed) == 0 {
            return Err(Error::Corpus {
                reason: "no text to train the tokenizer on: give a corpus with some text in it".into(),
            });
        }
        // Go through JSON so a trained tokenizer is exactly what `load` would give back.
        let json =
            tk.to_string(true).map_err(|e| Error::Tokenizer(format!("cannot serialise the trained tokenizer: {e}")))?;
        let tok = Self::from_json(&json, Path::new("<trained tokenizer>"))?;
        if tok.vocab_size() < vocab_size {
            tracing::warn!(
                asked = vocab_size,
                got = tok.vocab_size(),
                "corpus too small to fill the vocabulary; the tokenizer is smaller than asked"
            );
        }
        tracing::info!(vocab_size = tok.vocab_size(), merges = tok.merges.len(), "tokenizer trained");
        Ok(tok)
    }

    /// Load a `tokenizer.json` written by [`Self::save`], checking it is one of ours.
    ///
    /// An imported model's tokenizer (a [`super::VOCAB_FILE`] beside `path`) is rebuilt from
    /// the GGUF vocabulary kept there.
    pub fn load(path: &Path) -> Result<Self> {
        let vocab_file = path.with_file_name(super::VOCAB_FILE);
        if vocab_file.exists() {
            let bytes = crate::error::read_file(&vocab_file, LOAD_HINT)?;
            let v: super::GgufVocab = serde_json::from_slice(&bytes).map_err(|e| {
                Error::corrupt(&vocab_file, format!("not an imported vocabulary: {e}"), "import the model again")
            })?;
            return Self::from_gguf_vocab(&v, &vocab_file);
        }
        let bytes = crate::error::read_file(path, LOAD_HINT)?;
        let json = std::str::from_utf8(&bytes)
            .map_err(|e| Error::corrupt(path, format!("not UTF-8 text: {e}"), CORRUPT_HINT))?;
        Self::from_json(json, path)
    }

    /// Save as a standard HF `tokenizer.json` (pretty JSON), atomically.
    /// An imported model's vocabulary is written beside it too ([`super::VOCAB_FILE`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(f) = &self.foreign {
            let v = serde_json::to_vec(&f.vocab).map_err(|e| Error::Tokenizer(format!("cannot serialise: {e}")))?;
            crate::fs::write_atomic(&path.with_file_name(super::VOCAB_FILE), &v)?;
        }
        let json = self.to_json()?;
        crate::fs::write_atomic(path, json.as_bytes())
    }

    /// The pretty `tokenizer.json` text.
    pub fn to_json(&self) -> Result<String> {
        self.inner.to_string(true).map_err(|e| Error::Tokenizer(format!("cannot serialise the tokenizer: {e}")))
    }

    /// Build from `tokenizer.json` text; `path` only names the source in errors.
    fn from_json(json: &str, path: &Path) -> Result<Self> {
        let corrupt = |reason: String| Error::corrupt(path, reason, CORRUPT_HINT);
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| corrupt(format!("not valid JSON: {e}")))?;
        check_pipeline(&value).map_err(corrupt)?;
        let merges = parse_merges(&value).map_err(corrupt)?;
        let inner: tokenizers::Tokenizer =
            json.parse().map_err(|e| corrupt(format!("not a tokenizers tokenizer.json: {e}")))?;
        if !matches!(inner.get_model(), ModelWrapper::BPE(_)) {
            return Err(corrupt("the model is not BPE".into()));
        }

        let added = inner.get_added_tokens_decoder();
        if added.len() != NUM_SPECIAL {
            return Err(corrupt(format!(
                "expected exactly {NUM_SPECIAL} added (special) tokens, found {}",
                added.len()
            )));
        }
        for (id, s) in SPECIAL_TOKENS.iter().enumerate() {
            let id = id as u32;
            match added.get(&id) {
                Some(t) if t.content == *s && t.special => {}
                Some(t) => {
                    return Err(corrupt(format!(
                        "id {id} is {:?} (special: {}), expected special token {s}",
                        t.content, t.special
                    )))
                }
                None => return Err(corrupt(format!("special token {s} (id {id}) is missing"))),
            }
            if inner.token_to_id(s) != Some(id) {
                return Err(corrupt(format!("special token {s} maps to {:?}, expected id {id}", inner.token_to_id(s))));
            }
        }

        let n = inner.get_vocab_size(true);
        if !(NUM_SPECIAL + 256..=MAX_VOCAB_SIZE).contains(&n) {
            return Err(corrupt(format!(
                "vocabulary of {n} tokens is outside {}..={MAX_VOCAB_SIZE}",
                NUM_SPECIAL + 256
            )));
        }
        let b2c = bytes_to_chars();
        let c2b: HashMap<char, u8> = b2c.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        let mut tokens = Vec::with_capacity(n);
        let mut token_bytes = Vec::with_capacity(n);
        for id in 0..n as u32 {
            let tok =
                inner.id_to_token(id).ok_or_else(|| corrupt(format!("ids are not contiguous: id {id} is missing")))?;
            let bytes = if (id as usize) < NUM_SPECIAL {
                tok.as_bytes().to_vec()
            } else {
                tok.chars()
                    .map(|c| c2b.get(&c).copied())
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| corrupt(format!("token {id} {tok:?} is not in the byte-level alphabet")))?
            };
            tokens.push(tok);
            token_bytes.push(bytes);
        }
        let mut byte_ids = Vec::with_capacity(256);
        for (b, c) in b2c.iter().enumerate() {
            let id = inner
                .token_to_id(&c.to_string())
                .ok_or_else(|| corrupt(format!("byte token for 0x{b:02x} ({c:?}) is missing")))?;
            byte_ids.push(id);
        }

        let mut raw = inner.clone();
        raw.set_encode_special_tokens(true);
        Ok(Self { inner, raw, tokens, token_bytes, byte_ids, merges, foreign: None, continued: None })
    }

    /// Assemble from a built pipeline and its tables (see `foreign.rs`); `continued` is the
    /// pipeline without a space put in front of the text, where it differs.
    pub(super) fn from_parts(
        inner: tokenizers::Tokenizer,
        continued: Option<tokenizers::Tokenizer>,
        tokens: Vec<String>,
        token_bytes: Vec<Vec<u8>>,
        byte_ids: Vec<u32>,
        merges: Vec<(String, String)>,
        foreign: Option<super::Foreign>,
    ) -> Self {
        let mut raw = inner.clone();
        raw.set_encode_special_tokens(true);
        let continued = continued.map(|mut c| {
            c.set_encode_special_tokens(true);
            c
        });
        let foreign = foreign.map(std::sync::Arc::new);
        Self { inner, raw, tokens, token_bytes, byte_ids, merges, foreign, continued }
    }

    /// What a foreign vocabulary says about its special tokens and chat template; `None` for
    /// THAU's own tokenizers.
    pub fn foreign(&self) -> Option<&super::Foreign> {
        self.foreign.as_deref()
    }

    /// The ids a prompt starts with: THAU's `<|bos|>`, or a foreign vocabulary's BOS when it
    /// asks for one.
    pub fn bos_ids(&self) -> Vec<u32> {
        match &self.foreign {
            None => vec![BOS],
            Some(f) => f.bos.filter(|_| f.add_bos).into_iter().collect(),
        }
    }

    /// Whether generating `id` ends the answer (EOS or an end of turn).
    pub fn is_end(&self, id: u32) -> bool {
        match &self.foreign {
            None => id == EOS || id == END,
            Some(f) => f.stops.contains(&id),
        }
    }

    /// Rebuild a tokenizer from its token list (id = position) and merges in rank order, as a
    /// GGUF file stores them (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`); `special[id]`
    /// marks control tokens. The result must pass the same checks as a loaded
    /// `tokenizer.json` (THAU's special tokens at their fixed ids); for THAU's own exports it
    /// is exactly the tokenizer that was exported. `source` names the file in errors.
    pub fn from_vocab(tokens: &[String], special: &[bool], merges: &[(String, String)], source: &Path) -> Result<Self> {
        let corrupt = |reason: String| Error::corrupt(source, reason, "export the model again");
        if special.len() != tokens.len() {
            return Err(corrupt(format!("{} special flags for {} tokens", special.len(), tokens.len())));
        }
        let mut vocab = tokenizers::models::bpe::Vocab::with_capacity(tokens.len());
        for (id, t) in tokens.iter().enumerate() {
            if vocab.insert(t.clone(), id as u32).is_some() {
                return Err(corrupt(format!("token {t:?} appears twice in the vocabulary")));
            }
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges.to_vec())
            .build()
            .map_err(|e| corrupt(format!("vocabulary and merges do not form a BPE model: {e}")))?;
        let mut tk = tokenizers::Tokenizer::new(bpe);
        tk.with_pre_tokenizer(Some(byte_level()));
        tk.with_decoder(Some(byte_level()));
        tk.add_special_tokens(
            tokens.iter().zip(special).filter(|(_, &s)| s).map(|(t, _)| AddedToken::from(t.clone(), true)),
        )
        .map_err(|e| corrupt(format!("cannot add the special tokens: {e}")))?;
        let json = tk.to_string(true).map_err(|e| corrupt(format!("cannot serialise the tokenizer: {e}")))?;
        Self::from_json(&json, source)
    }

    /// Encode raw text: special-token strings in it are plain text, never control tokens.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.encode_inner(&self.raw, text)
    }

    /// [`Self::encode`] for text that continues text encoded before it: the same, except that
    /// a SentencePiece vocabulary puts no space in front (llama.cpp puts one only at the start
    /// of a text and after a special token).
    pub fn encode_continued(&self, text: &str) -> Vec<u32> {
        match &self.continued {
            Some(c) => self.encode_inner(c, text),
            None => self.encode(text),
        }
    }

    /// Encode text in which special-token strings (`<|user|>`, ...) become their ids.
    pub fn encode_with_specials(&self, text: &str) -> Vec<u32> {
        self.encode_inner(&self.inner, text)
    }

    /// Run one of the two `tokenizers` pipelines; on an (unexpected) error fall back to bytes.
    fn encode_inner(&self, tk: &tokenizers::Tokenizer, text: &str) -> Vec<u32> {
        match tk.encode_fast(text, false) {
            Ok(enc) => enc.get_ids().to_vec(),
            Err(e) => {
                tracing::error!(error = %e, "tokenizer failed; encoding the text byte by byte");
                text.bytes().map(|b| self.byte_ids[b as usize]).collect()
            }
        }
    }

    /// Decode to text; specials appear as their strings, invalid UTF-8 becomes U+FFFD.
    ///
    /// Exact inverse of [`Self::encode`] on any UTF-8 string. Unknown ids are skipped.
    pub fn decode(&self, ids: &[u32]) -> String {
        match String::from_utf8(self.decode_bytes(ids)) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// The raw bytes `ids` stand for (specials as their UTF-8 strings); unknown ids skipped.
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            if let Some(b) = self.token_bytes(id) {
                out.extend_from_slice(b);
            }
        }
        out
    }

    /// The raw bytes one token stands for, `None` for an id outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.token_bytes.get(id as usize).map(Vec::as_slice)
    }

    /// Number of tokens, specials included; every id is below this.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// Id of a token given as its raw BPE string (or a special token's string).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Raw BPE token string (byte-level alphabet, e.g. `Ġthe`) for GGUF export.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.tokens.get(id as usize).cloned()
    }

    /// Id of the single-byte token for byte `b`.
    pub fn byte_id(&self, b: u8) -> u32 {
        self.byte_ids[b as usize]
    }

    /// Merges in rank order, for GGUF export.
    pub fn merges(&self) -> Vec<(String, String)> {
        self.merges.clone()
    }

    /// The underlying `tokenizers` tokenizer (recognises special tokens).
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Incremental decoder for streaming generation.
    pub fn stream_decoder(&self) -> super::StreamDecoder<'_> {
        super::StreamDecoder::new(self)
    }
}

/// Check the JSON declares the exact pipeline we rely on (GPT-2 byte level, no normalizer).
fn check_pipeline(v: &serde_json::Value) -> std::result::Result<(), String> {
    if !v["normalizer"].is_null() {
        return Err("it has a normalizer; THAU tokenizers have none".into());
    }
    let is_byte_level = |part: &str| {
        let p = &v[part];
        p["type"] == "ByteLevel" && p["add_prefix_space"] != true && p["use_regex"] != false
    };
    if !is_byte_level("pre_tokenizer") {
        return Err("pre_tokenizer is not ByteLevel(add_prefix_space=false, use_regex=true)".into());
    }
    if v["decoder"]["type"] != "ByteLevel" {
        return Err("decoder is not ByteLevel".into());
    }
    if v["model"]["type"] != "BPE" {
        return Err("model is not BPE".into());
    }
    Ok(())
}

/// Read `model.merges`, accepting both `["a", "b"]` pairs and legacy `"a b"` strings.
fn parse_merges(v: &serde_json::Value) -> std::result::Result<Vec<(String, String)>, String> {
    let list = v["model"]["merges"].as_array().ok_or_else(|| "model.merges is missing or not a list".to_string())?;
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let pair = match m {
                serde_json::Value::Array(p) if p.len() == 2 => {
                    p[0].as_str().zip(p[1].as_str()).map(|(a, b)| (a.to_string(), b.to_string()))
                }
                serde_json::Value::String(s) => s.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())),
                _ => None,
            };
            pair.ok_or_else(|| format!("merge {i} is not a pair of strings: {m}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::{StreamDecoder, BOS, EOS, PAD};
    use rand::{Rng, SeedableRng};

    /// Tricky strings every tokenizer must round-trip exactly.
    const TRICKY: &[&str] = &[
        "",
        " ",
        "  leading spaces",
        "trailing spaces   ",
        "¿Dónde está la estación? ¡Allí!",
        "El niño comió ñoquis con el pingüino en Aragón.",
        "Ü ü É é À à Ç ç Œ œ ß",
        "tabs\there\tand\t\tthere",
        "windows\r\nline\r\nendings\r\n",
        "\n\n\nblank lines\n\n",
        "emoji 😀 and ZWJ 👩‍👩‍👧‍👦 and flags 🇪🇸🇬🇧 and skin 👍🏽",
        "日本語のテキストと中文文本",
        "fn main() { println!(\"{}\", 1 + 2); }\n    let x = vec![1, 2, 3];",
        "   \t  \n  mixed whitespace runs  \u{a0}\u{3000} ",
        "<|bos|> user text <|user|> with <|end|> specials <|eos|>",
        "<|reserved_7|><|/tool_result|>",
        "\u{0}\u{1}\u{7f} control chars \u{feff}",
        "Numbers 1234567890 and 3.14159 y 1.000,50 €",
        "I'm, you're, they'll, it's, we'd — ‘quotes’ “dobles” «comillas»",
    ];

    fn corpus() -> Vec<String> {
        let mut texts: Vec<String> = TRICKY.iter().map(|s| s.to_string()).collect();
        for i in 0..200 {
            texts.push(format!(
                "El gato número {i} duerme en la casa. The cat number {i} sleeps in the house. \
                 ¿Qué hora es? What time is it? La niña canta; the girl sings.\n"
            ));
        }
        texts
    }

    fn trained(vocab: usize) -> Tokenizer {
        Tokenizer::train(corpus().into_iter(), vocab).unwrap()
    }

    fn random_string(rng: &mut impl Rng) -> String {
        let len = rng.gen_range(0..40);
        (0..len)
            .map(|_| match rng.gen_range(0..6) {
                0 => rng.gen_range(' '..='~'),
                1 => *['á', 'é', 'í', 'ó', 'ú', 'ñ', '¿', '¡', 'ü', 'Ñ'].get(rng.gen_range(0..10)).unwrap_or(&'a'),
                2 => *[' ', '\n', '\t', '\r'].get(rng.gen_range(0..4)).unwrap_or(&' '),
                3 => rng.gen_range('\u{4e00}'..='\u{9fff}'),
                4 => rng.gen_range('\u{1f300}'..='\u{1faff}'),
                _ => rng.gen::<char>(),
            })
            .collect()
    }

    #[test]
    fn special_tokens_have_fixed_ids() {
        let tok = trained(400);
        for (i, s) in SPECIAL_TOKENS.iter().enumerate() {
            assert_eq!(tok.token_id(s), Some(i as u32), "{s}");
            assert_eq!(tok.id_to_token(i as u32).as_deref(), Some(*s));
        }
        assert_eq!((BOS, EOS, PAD), (0, 1, 2));
        assert_eq!(tok.token_id("<|end|>"), Some(crate::tokenizer::END));
        // The 256 byte tokens follow the specials.
        let mut byte_ids: Vec<u32> = (0..=255u8).map(|b| tok.byte_id(b)).collect();
        byte_ids.sort_unstable();
        assert_eq!(byte_ids, (NUM_SPECIAL as u32..NUM_SPECIAL as u32 + 256).collect::<Vec<_>>());
        assert_eq!(tok.vocab_size(), 400);
        assert_eq!(tok.merges().len(), 400 - NUM_SPECIAL - 256);
    }

    #[test]
    fn round_trip_tricky_strings() {
        let tok = trained(500);
        for s in TRICKY {
            let ids = tok.encode(s);
            assert_eq!(tok.decode(&ids), *s, "{s:?} -> {ids:?}");
            let ids = tok.encode_with_specials(s);
            assert_eq!(tok.decode(&ids), *s, "with specials: {s:?}");
            // Our decode agrees with the tokenizers pipeline.
            assert_eq!(tok.inner().decode(&ids, false).unwrap(), *s);
        }
        assert!(tok.encode("").is_empty());
    }

    #[test]
    fn round_trip_random_utf8() {
        let tok = trained(500);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1234);
        for _ in 0..2000 {
            let s = random_string(&mut rng);
            assert_eq!(tok.decode(&tok.encode(&s)), s, "{s:?}");
        }
    }

    #[test]
    fn encode_never_injects_specials() {
        let tok = trained(500);
        for s in SPECIAL_TOKENS.iter().map(|s| s.to_string()).chain(TRICKY.iter().map(|s| s.to_string())) {
            let ids = tok.encode(&s);
            assert!(ids.iter().all(|&id| id as usize >= NUM_SPECIAL), "{s:?} -> {ids:?}");
        }
        let chat = "<|user|>hola<|end|><|assistant|>";
        assert_eq!(tok.encode_with_specials(chat)[0], crate::tokenizer::USER);
        let ids = tok.encode_with_specials(chat);
        assert_eq!(*ids.last().unwrap_or(&0), crate::tokenizer::ASSISTANT);
        assert!(ids.contains(&crate::tokenizer::END));
        assert_eq!(tok.decode(&[BOS, EOS]), "<|bos|><|eos|>");
    }

    #[test]
    fn training_is_deterministic() {
        let a = trained(450).to_json().unwrap();
        let b = trained(450).to_json().unwrap();
        assert_eq!(a, b);
        // Save -> load -> save is byte-identical too.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokenizer.json");
        trained(450).save(&p).unwrap();
        let loaded = Tokenizer::load(&p).unwrap();
        assert_eq!(loaded.to_json().unwrap(), a);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), a);
        assert_eq!(loaded.encode("El gato número 7"), trained(450).encode("El gato número 7"));
    }

    #[test]
    fn stream_decoder_matches_decode() {
        let tok = trained(300);
        let texts = ["👩‍👩‍👧‍👦 ¿qué? 日本 ñandú 😀", "plain ascii", ""];
        for text in texts {
            // Byte tokens only: every multi-byte char is split across tokens.
            let ids: Vec<u32> = text.bytes().map(|b| tok.byte_id(b)).collect();
            let mut sd: StreamDecoder = tok.stream_decoder();
            let mut out = String::new();
            for &id in &ids {
                if let Some(piece) = sd.push(id) {
                    assert!(!piece.contains(char::REPLACEMENT_CHARACTER), "{piece:?}");
                    out.push_str(&piece);
                }
            }
            assert!(!sd.has_pending());
            out.extend(sd.finish());
            assert_eq!(out, text);
            assert_eq!(out, tok.decode(&ids));
        }
        // Arbitrary id sequences (invalid UTF-8 included) agree with lossy decode.
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..500 {
            let ids: Vec<u32> = (0..rng.gen_range(0..12)).map(|_| rng.gen_range(0..tok.vocab_size() as u32)).collect();
            let mut sd = tok.stream_decoder();
            let mut out: String = ids.iter().filter_map(|&id| sd.push(id)).collect();
            out.extend(sd.finish());
            assert_eq!(out, tok.decode(&ids), "{ids:?}");
        }
    }

    #[test]
    fn vocab_size_limits() {
        for bad in [0, MIN_VOCAB_SIZE - 1, MAX_VOCAB_SIZE + 1] {
            let err = Tokenizer::train(corpus().into_iter(), bad).unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }), "{bad}: {err}");
        }
        assert!(Tokenizer::train(corpus().into_iter(), MIN_VOCAB_SIZE).is_ok());
        let err = Tokenizer::train(std::iter::empty(), 300).unwrap_err();
        assert!(matches!(err, Error::Corpus { .. }), "{err}");
        // Too little text to fill the vocabulary gives a smaller, still valid tokenizer.
        let small = Tokenizer::train(std::iter::once("abab abab".to_string()), 1000).unwrap();
        assert!(small.vocab_size() < 1000 && small.vocab_size() > NUM_SPECIAL + 256);
    }

    #[test]
    fn load_rejects_missing_and_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let err = Tokenizer::load(&missing).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }) && err.to_string().contains("thau tokenizer train"), "{err}");

        let good = trained(300).to_json().unwrap();
        let p = dir.path().join("t.json");
        let cases: Vec<(&str, String)> = vec![
            ("not json", "{ nope".to_string()),
            ("truncated", good[..good.len() / 2].to_string()),
            ("renamed special", good.replacen("\"<|eos|>\"", "\"<|EOS|>\"", 2)),
            (
                "swapped specials",
                good.replace("\"<|bos|>\"", "\"<|tmp|>\"")
                    .replace("\"<|eos|>\"", "\"<|bos|>\"")
                    .replace("\"<|tmp|>\"", "\"<|eos|>\""),
            ),
            ("normalizer", good.replacen("\"normalizer\": null", "\"normalizer\": {\"type\": \"Lowercase\"}", 1)),
            ("prefix space", good.replacen("\"add_prefix_space\": false", "\"add_prefix_space\": true", 1)),
            ("not utf8", String::from_utf8_lossy(b"\xff\xfe").into_owned()),
        ];
        for (what, text) in cases {
            assert_ne!(text, good, "{what}: the corruption did not apply");
            std::fs::write(&p, text).unwrap();
            let err = Tokenizer::load(&p).unwrap_err();
            assert!(matches!(err, Error::Corrupt { .. }), "{what}: {err}");
        }
        std::fs::write(&p, b"\xff\xfe{}").unwrap();
        assert!(matches!(Tokenizer::load(&p).unwrap_err(), Error::Corrupt { .. }));
    }

    #[test]
    fn tokenizer_is_send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone>() {}
        assert_traits::<Tokenizer>();
    }
}
