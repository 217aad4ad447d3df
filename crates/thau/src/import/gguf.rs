//! Reading a llama-architecture GGUF back into THAU: model config, tokenizer and weights
//! (under HF names, q/k rows back in rotate-half order), and turning it into a run folder.
//!
//! What is accepted: architecture `llama` with RoPE over the whole head, no RoPE scaling;
//! tokenizer `gpt2` (byte-level BPE) whose special tokens are THAU's (ids 0..20) — every GGUF
//! `thau export gguf` writes — and the vocabularies of standard llama-family files:
//! SentencePiece (`llama`) and byte-level BPE with their own special tokens (see
//! [`crate::tokenizer::GgufVocab`]). Other tokenizers are refused with an `Incompatible` error.
//!
//! Quantized weights stay in their stored type: moving q/k rows back to HF order moves whole
//! quantized rows, which is exact. [`GgufModel::to_llama`] dequantizes to f32.

use crate::checkpoint::{Checkpoint, RunDir, TrainState};
use crate::error::{Error, Result};
use crate::export::names::{gguf_to_hf, permute_rope_rows, rope_heads, RopeOrder};
use crate::gguf::token_type;
use crate::gguf::{GgufFile, TensorInfo};
use crate::model::llama::param_specs;
use crate::model::{Age, Llama, ModelConfig};
use crate::tokenizer::{GgufVocab, Tokenizer, NUM_SPECIAL, SPECIAL_TOKENS};
use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::QTensor;
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// A GGUF model read into THAU's terms.
pub struct GgufModel {
    pub cfg: ModelConfig,
    pub tokenizer: Tokenizer,
    /// Weights by HF name in their stored GGUF type; q/k rows in HF rotate-half order.
    pub tensors: HashMap<String, QTensor>,
    /// `tokenizer.chat_template`, if the file has one.
    pub chat_template: Option<String>,
    /// `general.name` (the file stem when absent).
    pub name: String,
}

impl std::fmt::Debug for GgufModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufModel").field("name", &self.name).field("cfg", &self.cfg).finish()
    }
}

/// Typed access to the metadata with errors that name the file and the key.
struct Meta<'a> {
    file: &'a GgufFile,
}

impl Meta<'_> {
    fn corrupt(&self, reason: String) -> Error {
        Error::corrupt(&self.file.path, reason, "the file is not a complete llama GGUF: export or download it again")
    }
    fn get(&self, key: &str) -> Option<&Value> {
        self.file.metadata.get(key)
    }
    fn need(&self, key: &str) -> Result<&Value> {
        self.get(key).ok_or_else(|| self.corrupt(format!("required key {key} is missing")))
    }
    fn as_usize(&self, key: &str, v: &Value) -> Result<usize> {
        let n: Option<u64> = match v {
            Value::U8(x) => Some(*x as u64),
            Value::U16(x) => Some(*x as u64),
            Value::U32(x) => Some(*x as u64),
            Value::U64(x) => Some(*x),
            Value::I8(x) => u64::try_from(*x).ok(),
            Value::I16(x) => u64::try_from(*x).ok(),
            Value::I32(x) => u64::try_from(*x).ok(),
            Value::I64(x) => u64::try_from(*x).ok(),
            _ => None,
        };
        n.and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.corrupt(format!("{key} is {v:?}, expected a non-negative integer")))
    }
    fn usize(&self, key: &str) -> Result<usize> {
        self.as_usize(key, self.need(key)?)
    }
    fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        self.get(key).map(|v| self.as_usize(key, v)).transpose()
    }
    /// A float stored as f32, read back as the shortest decimal that rounds to it, so that
    /// 1e-5 written as f32 comes back as exactly 1e-5.
    fn f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::F32(x)) => Ok(format!("{x}").parse::<f64>().ok()),
            Some(Value::F64(x)) => Ok(Some(*x)),
            Some(v) => Err(self.corrupt(format!("{key} is {v:?}, expected a float"))),
        }
    }
    fn str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.corrupt(format!("{key} is {v:?}, expected a string"))),
        }
    }
    fn array(&self, key: &str) -> Result<&Vec<Value>> {
        match self.need(key)? {
            Value::Array(a) => Ok(a),
            v => Err(self.corrupt(format!("{key} is a {:?}, expected an array", std::mem::discriminant(v)))),
        }
    }
    fn strings(&self, key: &str) -> Result<Vec<String>> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(self.corrupt(format!("{key}[{i}] is not a string"))),
            })
            .collect()
    }
}

fn incompatible(path: &Path, reason: impl Into<String>, hint: impl Into<String>) -> Error {
    Error::Incompatible { path: path.to_path_buf(), reason: reason.into(), hint: hint.into() }
}

/// The model config the metadata describes (shapes are checked against tensors later).
fn read_config(m: &Meta, file: &GgufFile) -> Result<ModelConfig> {
    let path = &file.path;
    let arch = m
        .str("general.architecture")?
        .ok_or_else(|| m.corrupt("required key general.architecture is missing".into()))?;
    if arch != "llama" {
        return Err(incompatible(
            path,
            format!("architecture '{arch}' is not supported"),
            "THAU imports Llama-architecture GGUF files (general.architecture = llama) only",
        ));
    }
    if let Some(kind) = m.str("llama.rope.scaling.type")? {
        if kind != "none" {
            return Err(incompatible(path, format!("RoPE scaling '{kind}'"), "THAU's Llama has plain RoPE only"));
        }
    }
    let d_model = m.usize("llama.embedding_length")?;
    let n_heads = m.usize("llama.attention.head_count")?;
    let n_kv_heads = m.opt_usize("llama.attention.head_count_kv")?.unwrap_or(n_heads);
    if n_heads == 0 {
        return Err(m.corrupt("llama.attention.head_count is 0".into()));
    }
    let head_dim = m.opt_usize("llama.attention.key_length")?.unwrap_or(d_model / n_heads);
    for key in ["llama.attention.value_length", "llama.rope.dimension_count"] {
        if let Some(v) = m.opt_usize(key)? {
            if v != head_dim {
                return Err(incompatible(
                    path,
                    format!("{key} is {v} but the head size is {head_dim}"),
                    "THAU's Llama applies RoPE to whole heads with equal key and value sizes",
                ));
            }
        }
    }
    let emb = file.info("token_embd.weight").ok_or_else(|| m.corrupt("tensor token_embd.weight is missing".into()))?;
    let norm_eps = m
        .f64("llama.attention.layer_norm_rms_epsilon")?
        .ok_or_else(|| m.corrupt("required key llama.attention.layer_norm_rms_epsilon is missing".into()))?;
    let cfg = ModelConfig {
        name: "imported".into(),
        vocab_size: emb.dims[0],
        d_model,
        n_layers: m.usize("llama.block_count")?,
        n_heads,
        n_kv_heads,
        head_dim,
        ffn_hidden: m.usize("llama.feed_forward_length")?,
        max_seq_len: m.usize("llama.context_length")?,
        rope_theta: m.f64("llama.rope.freq_base")?.unwrap_or(10_000.0),
        norm_eps,
        tie_embeddings: file.info("output.weight").is_none(),
    };
    cfg.validate().map_err(|e| m.corrupt(format!("the hyperparameters are inconsistent: {e}")))?;
    Ok(cfg)
}

/// The tokenizer from `tokenizer.ggml.*`: THAU's own byte-level BPE (its special tokens at
/// their fixed ids) as exported, anything else as a foreign vocabulary (module docs).
fn read_tokenizer(m: &Meta, file: &GgufFile, n_vocab: usize) -> Result<Tokenizer> {
    let path = &file.path;
    let model = m
        .str("tokenizer.ggml.model")?
        .ok_or_else(|| m.corrupt("required key tokenizer.ggml.model is missing".into()))?;
    let mut tokens = m.strings("tokenizer.ggml.tokens")?;
    if tokens.len() != n_vocab {
        return Err(m.corrupt(format!(
            "tokenizer.ggml.tokens has {} entries but token_embd.weight has {n_vocab} rows",
            tokens.len()
        )));
    }
    let types: Vec<i32> = match m.get("tokenizer.ggml.token_type") {
        None => vec![token_type::NORMAL; tokens.len()],
        Some(_) => m
            .array("tokenizer.ggml.token_type")?
            .iter()
            .map(|v| match v {
                Value::I32(t) => Ok(*t),
                Value::U32(t) => Ok(*t as i32),
                _ => Err(m.corrupt("tokenizer.ggml.token_type holds non-integers".into())),
            })
            .collect::<Result<_>>()?,
    };
    if types.len() != tokens.len() {
        return Err(m.corrupt(format!("{} token types for {} tokens", types.len(), tokens.len())));
    }
    let merges = match m.get("tokenizer.ggml.merges") {
        None => None,
        Some(_) => Some(
            m.strings("tokenizer.ggml.merges")?
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    s.split_once(' ')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .ok_or_else(|| m.corrupt(format!("merge {i} {s:?} is not two tokens separated by a space")))
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    let thau_specials = model == "gpt2"
        && tokens.len() >= NUM_SPECIAL
        && tokens.iter().zip(SPECIAL_TOKENS).all(|(t, s)| t == s)
        && types[..NUM_SPECIAL].iter().all(|&t| t == token_type::CONTROL)
        && m.opt_usize("tokenizer.ggml.bos_token_id")?.is_none_or(|id| id == crate::tokenizer::BOS as usize)
        && m.opt_usize("tokenizer.ggml.eos_token_id")?.is_none_or(|id| id == crate::tokenizer::EOS as usize);
    if !thau_specials {
        return read_foreign_tokenizer(m, model, &tokens, &types, merges.as_deref(), path);
    }
    let merges = merges.ok_or_else(|| m.corrupt("required key tokenizer.ggml.merges is missing".into()))?;
    // Unused placeholders pad the list to the embedding rows: they are not tokenizer tokens.
    while types.len() > NUM_SPECIAL && tokens.len() > NUM_SPECIAL && types[tokens.len() - 1] == token_type::UNUSED {
        tokens.pop();
    }
    let special: Vec<bool> = (0..tokens.len()).map(|i| types[i] == token_type::CONTROL).collect();
    Tokenizer::from_vocab(&tokens, &special, &merges, path)
}

/// A vocabulary THAU did not write (SentencePiece, or byte-level BPE with other specials).
fn read_foreign_tokenizer(
    m: &Meta,
    model: &str,
    tokens: &[String],
    types: &[i32],
    merges: Option<&[(String, String)]>,
    path: &Path,
) -> Result<Tokenizer> {
    let scores = match m.get("tokenizer.ggml.scores") {
        None => None,
        Some(_) => Some(
            m.array("tokenizer.ggml.scores")?
                .iter()
                .map(|v| match v {
                    Value::F32(x) => Ok(*x),
                    Value::F64(x) => Ok(*x as f32),
                    _ => Err(m.corrupt("tokenizer.ggml.scores holds non-floats".into())),
                })
                .collect::<Result<Vec<f32>>>()?,
        ),
    };
    let id = |key: &str| -> Result<Option<u32>> { Ok(m.opt_usize(key)?.map(|v| u32::try_from(v).unwrap_or(u32::MAX))) };
    let flag = |key: &str| -> Result<Option<bool>> {
        match m.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(m.corrupt(format!("{key} is {v:?}, expected true or false"))),
        }
    };
    let v = GgufVocab {
        model: model.to_string(),
        pre: m.str("tokenizer.ggml.pre")?.map(str::to_string),
        tokens: tokens.to_vec(),
        types: types.to_vec(),
        scores,
        merges: merges.map(<[_]>::to_vec),
        bos: id("tokenizer.ggml.bos_token_id")?,
        eos: id("tokenizer.ggml.eos_token_id")?,
        eot: id("tokenizer.ggml.eot_token_id")?,
        add_bos: flag("tokenizer.ggml.add_bos_token")?,
        add_space_prefix: flag("tokenizer.ggml.add_space_prefix")?,
        chat_template: m.str("tokenizer.chat_template")?.map(str::to_string),
    };
    Tokenizer::from_gguf_vocab(&v, path)
}

/// Read `path`: config, tokenizer and weights (on the CPU), every shape checked against the
/// config.
pub fn read_gguf(path: &Path) -> Result<GgufModel> {
    let device = &Device::Cpu;
    let file = GgufFile::open(path)?;
    let m = Meta { file: &file };
    let cfg = read_config(&m, &file)?;
    let tokenizer = read_tokenizer(&m, &file, cfg.vocab_size)?;
    let specs = param_specs(&cfg);
    let mut by_hf: HashMap<String, &TensorInfo> = HashMap::new();
    for t in &file.tensors {
        let hf = gguf_to_hf(&t.name).ok_or_else(|| {
            incompatible(
                path,
                format!("tensor {} is not part of a plain Llama", t.name),
                "THAU's Llama has no such weight",
            )
        })?;
        by_hf.insert(hf, t);
    }
    let mut tensors = HashMap::with_capacity(specs.len());
    for spec in &specs {
        let gname = crate::export::names::hf_to_gguf(&spec.name).unwrap_or_default();
        let info = by_hf.remove(&spec.name).ok_or_else(|| m.corrupt(format!("tensor {gname} is missing")))?;
        if info.dims != spec.shape {
            return Err(m.corrupt(format!(
                "tensor {gname} has shape {:?} but the metadata implies {:?}",
                info.dims, spec.shape
            )));
        }
        let q = match rope_heads(&spec.name, cfg.n_heads, cfg.n_kv_heads) {
            None => file.qtensor(info, device)?,
            Some(heads) => {
                let bytes = permute_rope_rows(file.raw(info), heads, cfg.head_dim, RopeOrder::GgufToHf);
                candle_core::quantized::ggml_file::qtensor_from_ggml(info.dtype, &bytes, info.dims.clone(), device)?
            }
        };
        tensors.insert(spec.name.clone(), q);
    }
    if let Some(extra) = by_hf.keys().next() {
        return Err(m.corrupt(format!("unexpected tensor {extra} for this configuration")));
    }
    let chat_template = m.str("tokenizer.chat_template")?.map(str::to_string);
    let name = match m.str("general.name")? {
        Some(n) => n.to_string(),
        None => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    Ok(GgufModel { cfg, tokenizer, tensors, chat_template, name })
}

impl GgufModel {
    /// The model with every weight dequantized to f32.
    pub fn to_llama(&self, device: &Device, source: &Path) -> Result<Llama> {
        let tensors = self
            .tensors
            .iter()
            .map(|(n, q)| Ok((n.clone(), q.dequantize(device)?)))
            .collect::<Result<HashMap<String, Tensor>>>()?;
        Llama::from_tensors(&self.cfg, tensors, source)
    }
}

/// Convert the GGUF at `path` into a new run folder: `tokenizer.json`, `age-0/config.json`
/// and one checkpoint `age-0/step-00000000` (f32 weights, no optimizer state), which
/// `thau generate --run` and `thau chat --run` load like any trained run.
pub fn import_gguf(path: &Path, run: &RunDir, device: &Device) -> Result<Checkpoint> {
    if std::fs::read_dir(&run.root).map(|mut rd| rd.next().is_some()).unwrap_or(false) {
        return Err(Error::invalid(
            "--run",
            format!("{} exists and is not empty: import into a new run folder", run.root.display()),
        ));
    }
    let g = read_gguf(path)?;
    let model = g.to_llama(device, path)?;
    g.tokenizer.save(&run.tokenizer_path())?;
    run.save_config(Age::YOUNGEST, &g.cfg)?;
    let state = TrainState::start(
        Age::YOUNGEST,
        crate::train::TrainConfig::default(),
        format!("imported from {} ({})", path.display(), g.name),
    );
    run.save_checkpoint(&model, &[], &state, 1)
}
