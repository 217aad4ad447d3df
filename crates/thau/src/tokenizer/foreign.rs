//! Vocabularies of llama-family GGUF files that THAU did not write, rebuilt as `tokenizers`
//! pipelines that tokenize as llama.cpp does:
//!
//! - `tokenizer.ggml.model = llama` (SentencePiece): spaces become `▁`, one `▁` is put in front
//!   (`add_space_prefix`), then adjacent pieces are merged, best score first, while the merged
//!   piece is in the vocabulary; what is left outside it falls back to `<0xXX>` byte tokens.
//!   That is BPE with one merge for every way to split a piece into two pieces of the
//!   vocabulary, ranked by the piece's score, and byte fallback.
//! - `tokenizer.ggml.model = gpt2` (byte-level BPE) with the pre-tokenizer named by
//!   `tokenizer.ggml.pre`: `gpt-2`, `llama-bpe` (Llama 3's regex, whole words in the
//!   vocabulary taken as they are) or `default` (llama.cpp's default split, also used when
//!   the key is missing).
//!
//! Special tokens come from the file (BOS, EOS, end-of-turn, whether BOS is added), not from
//! THAU's fixed table; so does the chat template.

use super::Tokenizer;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior};

pub use crate::gguf::token_type;

/// Llama 3's pre-tokenizer regex as llama.cpp runs it (case-insensitive contractions spelled out).
const LLAMA3_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// llama.cpp's default BPE split: four regexes applied one after the other.
const DEFAULT_REGEXES: &[&str] = &[
    r"[\p{P}\$\+<=>\^~\|]+",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
    r"\p{N}+",
    r"[0-9][0-9][0-9]",
];

/// Which algorithm the vocabulary is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VocabKind {
    /// SentencePiece pieces with scores (`tokenizer.ggml.model = llama`).
    SentencePiece { add_space_prefix: bool },
    /// Byte-level BPE with merges (`tokenizer.ggml.model = gpt2`) and its pre-tokenizer name.
    ByteLevel { pre: String },
}

/// What a foreign vocabulary says about its special tokens and chat format.
#[derive(Debug, Clone, PartialEq)]
pub struct Foreign {
    pub kind: VocabKind,
    pub bos: Option<u32>,
    /// Whether a prompt starts with BOS (`tokenizer.ggml.add_bos_token`, default true for
    /// SentencePiece and false for byte-level BPE, as in llama.cpp).
    pub add_bos: bool,
    pub eos: Option<u32>,
    /// Tokens that end generation: EOS, end-of-turn and the chat format's turn end.
    pub stops: Vec<u32>,
    /// `tokenizer.chat_template`, as written in the file.
    pub chat_template: Option<String>,
    /// The vocabulary it was built from (saved with a run, see [`VOCAB_FILE`]).
    pub vocab: GgufVocab,
}

/// A GGUF vocabulary as read from `tokenizer.ggml.*`. Also what a run folder keeps beside
/// `tokenizer.json` for an imported model ([`VOCAB_FILE`]), to rebuild the same tokenizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GgufVocab {
    pub model: String,
    pub pre: Option<String>,
    pub tokens: Vec<String>,
    pub types: Vec<i32>,
    /// SentencePiece scores (required for `llama`).
    pub scores: Option<Vec<f32>>,
    /// Byte-level merges in rank order (required for `gpt2`).
    pub merges: Option<Vec<(String, String)>>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub add_bos: Option<bool>,
    pub add_space_prefix: Option<bool>,
    pub chat_template: Option<String>,
}

/// The file beside a run's `tokenizer.json` that holds an imported model's [`GgufVocab`].
pub const VOCAB_FILE: &str = "tokenizer.gguf-vocab.json";

fn incompatible(path: &Path, reason: impl Into<String>, hint: &str) -> Error {
    Error::Incompatible { path: path.to_path_buf(), reason: reason.into(), hint: hint.into() }
}

impl Tokenizer {
    /// Rebuild the tokenizer of a llama-family GGUF that THAU did not write (module docs).
    /// `source` names the file in errors.
    pub fn from_gguf_vocab(v: &GgufVocab, source: &Path) -> Result<Self> {
        let corrupt = |reason: String| {
            Error::corrupt(source, reason, "the file's vocabulary is damaged: download or convert it again")
        };
        let n = v.tokens.len();
        if v.types.len() != n {
            return Err(corrupt(format!("{} token types for {n} tokens", v.types.len())));
        }
        for (key, id) in [("bos", v.bos), ("eos", v.eos), ("eot", v.eot)] {
            if let Some(id) = id.filter(|&id| id as usize >= n) {
                return Err(corrupt(format!("tokenizer.ggml.{key}_token_id is {id}, the vocabulary has {n} tokens")));
            }
        }
        let mut vocab = Vocab::with_capacity(n);
        for (id, t) in v.tokens.iter().enumerate() {
            // A repeated string keeps its first id (the later one can still be decoded).
            vocab.entry(t.clone()).or_insert(id as u32);
        }
        let kind =
            match v.model.as_str() {
                "llama" => VocabKind::SentencePiece { add_space_prefix: v.add_space_prefix.unwrap_or(true) },
                "gpt2" => VocabKind::ByteLevel { pre: v.pre.clone().unwrap_or_else(|| "default".into()) },
                other => return Err(incompatible(
                    source,
                    format!("tokenizer model '{other}' is not supported"),
                    "THAU reads SentencePiece (tokenizer.ggml.model = llama) and byte-level BPE (gpt2) vocabularies",
                )),
            };
        let mut tk = match &kind {
            VocabKind::SentencePiece { add_space_prefix } => {
                let scores = v.scores.as_deref().ok_or_else(|| corrupt("tokenizer.ggml.scores is missing".into()))?;
                if scores.len() != n {
                    return Err(corrupt(format!("{} scores for {n} tokens", scores.len())));
                }
                sentencepiece_pipeline(v, scores, vocab.clone(), *add_space_prefix).map_err(corrupt)?
            }
            VocabKind::ByteLevel { pre } => {
                let merges = v.merges.as_deref().ok_or_else(|| corrupt("tokenizer.ggml.merges is missing".into()))?;
                let pre = byte_level_pre(pre).ok_or_else(|| {
                    incompatible(
                        source,
                        format!("pre-tokenizer '{pre}' (tokenizer.ggml.pre) is not supported"),
                        "THAU splits byte-level BPE text as llama.cpp's gpt-2, llama-bpe and default pre-tokenizers do",
                    )
                })?;
                byte_level_pipeline(merges, vocab.clone(), pre).map_err(corrupt)?
            }
        };
        tk.add_special_tokens(
            v.tokens
                .iter()
                .zip(&v.types)
                .filter(|(_, &t)| t == token_type::CONTROL || t == token_type::USER_DEFINED)
                .map(|(s, _)| AddedToken::from(s.clone(), true)),
        )
        .map_err(|e| corrupt(format!("cannot add the special tokens: {e}")))?;

        let b2c = super::bpe::bytes_to_chars();
        let c2b: HashMap<char, u8> = b2c.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        let mut token_bytes = Vec::with_capacity(n);
        for (t, &ty) in v.tokens.iter().zip(&v.types) {
            let bytes = match ty {
                token_type::CONTROL | token_type::UNKNOWN | token_type::UNUSED => Vec::new(),
                token_type::USER_DEFINED => t.as_bytes().to_vec(),
                token_type::BYTE => byte_token(t).map(|b| vec![b]).unwrap_or_else(|| t.as_bytes().to_vec()),
                _ => match kind {
                    VocabKind::SentencePiece { .. } => t.replace('\u{2581}', " ").into_bytes(),
                    // Byte-level: every char stands for one byte; anything else is kept as text.
                    VocabKind::ByteLevel { .. } => t
                        .chars()
                        .map(|c| c2b.get(&c).copied())
                        .collect::<Option<Vec<u8>>>()
                        .unwrap_or_else(|| t.as_bytes().to_vec()),
                },
            };
            token_bytes.push(bytes);
        }
        let fallback = v.types.iter().position(|&t| t == token_type::UNKNOWN).unwrap_or(0) as u32;
        let byte_ids: Vec<u32> = (0..=255u8)
            .map(|b| {
                let name = match kind {
                    VocabKind::SentencePiece { .. } => format!("<0x{b:02X}>"),
                    VocabKind::ByteLevel { .. } => b2c[b as usize].to_string(),
                };
                vocab.get(&name).copied().unwrap_or(fallback)
            })
            .collect();

        let add_bos = v.add_bos.unwrap_or(matches!(kind, VocabKind::SentencePiece { .. })) && v.bos.is_some();
        let mut stops: Vec<u32> = [v.eos, v.eot].into_iter().flatten().collect();
        // Turn ends of the common chat formats, when the vocabulary has them as control tokens.
        for name in ["<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"] {
            if let Some(&id) = vocab.get(name) {
                if v.types[id as usize] == token_type::CONTROL && !stops.contains(&id) {
                    stops.push(id);
                }
            }
        }
        let foreign = Foreign {
            kind,
            bos: v.bos,
            add_bos,
            eos: v.eos,
            stops,
            chat_template: v.chat_template.clone(),
            vocab: v.clone(),
        };
        // Without the space in front: the same pipeline minus the Prepend normalizer.
        let continued = match foreign.kind {
            VocabKind::SentencePiece { add_space_prefix: true } => {
                let mut c = tk.clone();
                let space = Replace::new(" ", "\u{2581}").map_err(|e| corrupt(e.to_string()))?;
                c.with_normalizer(Some(NormalizerWrapper::from(space))).map_err(|e| corrupt(e.to_string()))?;
                Some(c)
            }
            _ => None,
        };
        let merges = v.merges.clone().unwrap_or_default();
        Ok(Tokenizer::from_parts(tk, continued, v.tokens.clone(), token_bytes, byte_ids, merges, Some(foreign)))
    }
}

/// `<0xAB>` → 0xAB.
fn byte_token(t: &str) -> Option<u8> {
    let hex = t.strip_prefix("<0x")?.strip_suffix('>')?;
    (hex.len() == 2).then(|| u8::from_str_radix(hex, 16).ok()).flatten()
}

/// The SentencePiece merge rules: every split of a normal piece into two normal pieces, best
/// score first (ties: lower id of the merged piece first).
fn sentencepiece_merges(tokens: &[String], types: &[i32], scores: &[f32]) -> Vec<(String, String)> {
    let normal: HashMap<&str, u32> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| types[*i] == token_type::NORMAL || types[*i] == token_type::USER_DEFINED)
        .map(|(i, t)| (t.as_str(), i as u32))
        .collect();
    let mut ranked: Vec<(f32, u32, usize, &str, &str)> = Vec::new();
    for (id, t) in tokens.iter().enumerate() {
        if types[id] != token_type::NORMAL {
            continue;
        }
        for (cut, _) in t.char_indices().skip(1) {
            let (a, b) = t.split_at(cut);
            if normal.contains_key(a) && normal.contains_key(b) {
                ranked.push((scores[id], id as u32, cut, a, b));
            }
        }
    }
    ranked.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    ranked.into_iter().map(|(_, _, _, a, b)| (a.to_string(), b.to_string())).collect()
}

fn sentencepiece_pipeline(
    v: &GgufVocab,
    scores: &[f32],
    vocab: Vocab,
    add_space_prefix: bool,
) -> std::result::Result<tokenizers::Tokenizer, String> {
    let merges = sentencepiece_merges(&v.tokens, &v.types, scores);
    let mut builder = BPE::builder().vocab_and_merges(vocab, merges).byte_fallback(true);
    if let Some(unk) = v.types.iter().position(|&t| t == token_type::UNKNOWN) {
        builder = builder.unk_token(v.tokens[unk].clone());
    }
    let bpe = builder.build().map_err(|e| format!("the pieces do not form a tokenizer: {e}"))?;
    let mut tk = tokenizers::Tokenizer::new(bpe);
    let mut norms: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        norms.push(Prepend::new("\u{2581}".into()).into());
    }
    norms.push(Replace::new(" ", "\u{2581}").map_err(|e| e.to_string())?.into());
    tk.with_normalizer(Some(NormalizerSequence::new(norms))).map_err(|e| e.to_string())?;
    let decoders: Vec<DecoderWrapper> = vec![
        DecoderWrapper::Replace(Replace::new("\u{2581}", " ").map_err(|e| e.to_string())?),
        ByteFallback::new().into(),
        Fuse::new().into(),
        Strip::new(' ', usize::from(add_space_prefix), 0).into(),
    ];
    tk.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(tk)
}

/// The pre-tokenizer llama.cpp uses for `tokenizer.ggml.pre`, and whether whole words found in
/// the vocabulary skip the merges; `None` for names THAU does not know.
fn byte_level_pre(pre: &str) -> Option<(PreTokenizerWrapper, bool)> {
    let split = |re: &str| -> Option<PreTokenizerWrapper> {
        Some(Split::new(SplitPattern::Regex(re.into()), SplitDelimiterBehavior::Isolated, false).ok()?.into())
    };
    let bytes_only: PreTokenizerWrapper = ByteLevel::new(false, true, false).into();
    match pre {
        "gpt-2" => Some((ByteLevel::new(false, true, true).into(), false)),
        "llama-bpe" | "llama3" | "llama-v3" => {
            Some((PreSequence::new(vec![split(LLAMA3_REGEX)?, bytes_only]).into(), true))
        }
        "default" => {
            let mut seq = DEFAULT_REGEXES.iter().map(|re| split(re)).collect::<Option<Vec<_>>>()?;
            seq.push(bytes_only);
            Some((PreSequence::new(seq).into(), false))
        }
        _ => None,
    }
}

fn byte_level_pipeline(
    merges: &[(String, String)],
    vocab: Vocab,
    (pre, ignore_merges): (PreTokenizerWrapper, bool),
) -> std::result::Result<tokenizers::Tokenizer, String> {
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges.to_vec())
        .ignore_merges(ignore_merges)
        .build()
        .map_err(|e| format!("the vocabulary and merges do not form a BPE model: {e}"))?;
    let mut tk = tokenizers::Tokenizer::new(bpe);
    tk.with_pre_tokenizer(Some(pre));
    tk.with_decoder(Some(ByteLevel::new(false, true, true)));
    Ok(tk)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small SentencePiece vocabulary: specials, the 256 byte tokens, letters and a few pieces.
    fn spm() -> (Vec<String>, Vec<i32>, Vec<f32>) {
        let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
        let mut types = vec![token_type::UNKNOWN, token_type::CONTROL, token_type::CONTROL];
        let mut scores = vec![0.0, 0.0, 0.0];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(token_type::BYTE);
            scores.push(0.0);
        }
        for (i, p) in ["▁h", "▁ho", "la", "▁hola", "▁m", "un", "do", "▁mun", "▁mundo", "▁the"].iter().enumerate()
        {
            tokens.push(p.to_string());
            types.push(token_type::NORMAL);
            scores.push(-(i as f32));
        }
        for (i, c) in "▁holamundthe".chars().enumerate() {
            if !tokens.contains(&c.to_string()) {
                tokens.push(c.to_string());
                types.push(token_type::NORMAL);
                scores.push(-100.0 - i as f32);
            }
        }
        (tokens, types, scores)
    }

    fn vocab(tokens: &[String], types: &[i32], scores: &[f32]) -> GgufVocab {
        GgufVocab {
            model: "llama".into(),
            pre: None,
            tokens: tokens.to_vec(),
            types: types.to_vec(),
            scores: Some(scores.to_vec()),
            merges: None,
            bos: Some(1),
            eos: Some(2),
            eot: None,
            add_bos: None,
            add_space_prefix: None,
            chat_template: None,
        }
    }

    #[test]
    fn sentencepiece_merges_best_score_first_and_falls_back_to_bytes() {
        let (tokens, types, scores) = spm();
        let tok = Tokenizer::from_gguf_vocab(&vocab(&tokens, &types, &scores), Path::new("t.gguf")).unwrap();
        let id = |s: &str| tokens.iter().position(|t| t == s).unwrap() as u32;
        assert_eq!(tok.encode("hola mundo"), vec![id("▁hola"), id("▁mundo")]);
        // 'ñ' is not a piece: its two UTF-8 bytes come out as byte tokens.
        assert_eq!(tok.encode("hola ñ"), vec![id("▁hola"), id("▁"), id("<0xC3>"), id("<0xB1>")]);
        assert_eq!(tok.decode(&tok.encode("hola ñ")), " hola ñ");
        assert_eq!(tok.bos_ids(), vec![1]);
        assert!(tok.is_end(2) && !tok.is_end(1));
        // Continued text gets no space in front; spaces inside still become '▁'.
        assert_eq!(tok.encode_continued("la mundo"), vec![id("la"), id("▁mundo")]);
        assert_eq!(tok.encode_continued(" hola"), vec![id("▁hola")]);
    }

    #[test]
    fn unknown_tokenizer_models_and_pre_tokenizers_are_refused() {
        let (tokens, types, scores) = spm();
        let mut v = vocab(&tokens, &types, &scores);
        v.model = "bert".into();
        let e = Tokenizer::from_gguf_vocab(&v, Path::new("t.gguf")).unwrap_err().to_string();
        assert!(e.contains("'bert'"), "{e}");
        v.model = "gpt2".into();
        v.pre = Some("qwen9".into());
        v.merges = Some(vec![]);
        let e = Tokenizer::from_gguf_vocab(&v, Path::new("t.gguf")).unwrap_err().to_string();
        assert!(e.contains("qwen9"), "{e}");
        v.model = "llama".into();
        v.scores = None;
        let e = Tokenizer::from_gguf_vocab(&v, Path::new("t.gguf")).unwrap_err().to_string();
        assert!(e.contains("scores"), "{e}");
    }
}
