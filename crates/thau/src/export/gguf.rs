//! GGUF export for llama.cpp and Ollama: architecture `llama`, tokenizer `gpt2` (byte-level
//! BPE, `pre = "gpt-2"`), every key llama.cpp reads (../shared/verify/README.md lists them),
//! q/k rows in llama.cpp's RoPE order, and an Ollama `Modelfile` beside the file.
//!
//! Choices that users would notice:
//! - **Stopping.** `eos_token_id` is `<|eos|>` (end of document, as for plain completion) and
//!   `eot_token_id` is `<|end|>` (end of a chat turn). llama.cpp treats both as end-of-generation
//!   tokens, so `llama-cli`, llama-cpp-python's chat completion and Ollama all stop after an
//!   assistant turn; the Modelfile also lists both as `PARAMETER stop` strings.
//! - **Vocabulary padding.** The embedding may have more rows than the tokenizer has tokens;
//!   the token list is padded with `<|unused_ID|>` placeholders of type UNUSED so llama.cpp's
//!   `n_vocab` equals the rows. Those ids are never produced by the tokenizer.
//! - **Quantization fallback.** A matrix whose rows are not a whole number of blocks
//!   (Q8_0: 32 values, Q4_K: 256) is stored in the next finer type (Q4_K → Q8_0 → F16), and
//!   the report lists every such tensor. RMSNorm gains are always F32, as in llama.cpp.
//!
//! Quantization itself is candle's port of ggml's reference quantizers
//! (`quantize_row_q8_0_ref`, `quantize_row_q4_K_ref`); tests compare llama.cpp's logits.

use super::names::{hf_to_gguf, permute_rope_rows, rope_heads, RopeOrder};
use crate::error::{Error, Result};
use crate::gguf::{self as gguf_file, token_type, TensorInfo};
use crate::model::{Llama, ModelConfig};
use crate::tokenizer::{
    Tokenizer, BOS, CHAT_TEMPLATE_JINJA, END, EOS, NUM_SPECIAL, OLLAMA_TEMPLATE, PAD, STOP_STRINGS,
};
use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use std::path::{Path, PathBuf};

/// The weight type of an exported GGUF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgufDtype {
    F32,
    F16,
    Q8_0,
    /// Every matrix in Q4_K (llama.cpp's "Q4_K_S" file type).
    Q4K,
}

impl std::str::FromStr for GgufDtype {
    type Err = crate::Error;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl GgufDtype {
    /// Parse `f32`, `f16`, `q8_0` or `q4_k` (case-insensitive).
    pub fn parse(s: &str) -> Result<Self> {
        let names = [
            ("f32", Self::F32),
            ("f16", Self::F16),
            ("q8_0", Self::Q8_0),
            ("q4_k", Self::Q4K),
            ("q4k", Self::Q4K),
            ("q4_k_s", Self::Q4K),
        ];
        crate::error::one_of("--dtype", s, &names)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
            Self::Q4K => "q4_k",
        }
    }

    /// llama.cpp's `general.file_type` (`llama_ftype`).
    pub fn file_type(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q8_0 => 7,
            Self::Q4K => 14,
        }
    }

    /// Types to try for a matrix, preferred first; the last always fits.
    fn matrix_types(self) -> &'static [GgmlDType] {
        match self {
            Self::F32 => &[GgmlDType::F32],
            Self::F16 => &[GgmlDType::F16],
            Self::Q8_0 => &[GgmlDType::Q8_0, GgmlDType::F16],
            Self::Q4K => &[GgmlDType::Q4K, GgmlDType::Q8_0, GgmlDType::F16],
        }
    }
}

/// The type one tensor of `dims` gets: 1-D tensors F32, matrices the first of the file
/// type's choices whose block divides the row length.
pub fn tensor_type(dims: &[usize], dtype: GgufDtype) -> GgmlDType {
    if dims.len() < 2 {
        return GgmlDType::F32;
    }
    let cols = dims[dims.len() - 1];
    let types = dtype.matrix_types();
    types.iter().copied().find(|t| cols.is_multiple_of(t.block_size())).unwrap_or(types[types.len() - 1])
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct GgufReport {
    pub path: PathBuf,
    pub bytes: u64,
    /// GGUF tensor names and their stored types, in file order.
    pub tensors: Vec<(String, GgmlDType)>,
    /// Tensors stored in a finer type than asked, with the reason.
    pub fallbacks: Vec<String>,
}

/// The `tokenizer.ggml.tokens` list: every token string, padded to `n_vocab` with unused
/// placeholders, and each token's type.
fn vocab_lists(tok: &Tokenizer, n_vocab: usize) -> Result<(Vec<String>, Vec<i32>)> {
    if tok.vocab_size() > n_vocab {
        return Err(Error::invalid(
            "export",
            format!(
                "the tokenizer has {} tokens but the model's embedding only {n_vocab} rows: \
                 the run's tokenizer does not belong to these weights",
                tok.vocab_size()
            ),
        ));
    }
    let mut tokens = Vec::with_capacity(n_vocab);
    let mut types = Vec::with_capacity(n_vocab);
    for id in 0..n_vocab as u32 {
        match tok.id_to_token(id) {
            Some(t) => {
                tokens.push(t);
                types.push(if (id as usize) < NUM_SPECIAL { token_type::CONTROL } else { token_type::NORMAL });
            }
            None => {
                let t = format!("<|unused_{id}|>");
                if tok.token_id(&t).is_some() {
                    return Err(Error::invalid("export", format!("the vocabulary already has a token {t:?}")));
                }
                tokens.push(t);
                types.push(token_type::UNUSED);
            }
        }
    }
    Ok((tokens, types))
}

/// Every metadata key of the file, in writing order.
pub fn metadata(tok: &Tokenizer, cfg: &ModelConfig, dtype: GgufDtype, name: &str) -> Result<Vec<(String, Value)>> {
    let (tokens, types) = vocab_lists(tok, cfg.vocab_size)?;
    let merges = tok.merges().into_iter().map(|(a, b)| Value::String(format!("{a} {b}"))).collect();
    let u32v = |x: usize| Value::U32(x as u32);
    let kv = |k: &str, v: Value| (k.to_string(), v);
    Ok(vec![
        kv("general.architecture", Value::String("llama".into())),
        kv("general.name", Value::String(name.into())),
        kv("general.file_type", Value::U32(dtype.file_type())),
        kv("general.quantization_version", Value::U32(2)),
        kv("llama.vocab_size", u32v(cfg.vocab_size)),
        kv("llama.context_length", u32v(cfg.max_seq_len)),
        kv("llama.embedding_length", u32v(cfg.d_model)),
        kv("llama.block_count", u32v(cfg.n_layers)),
        kv("llama.feed_forward_length", u32v(cfg.ffn_hidden)),
        kv("llama.attention.head_count", u32v(cfg.n_heads)),
        kv("llama.attention.head_count_kv", u32v(cfg.n_kv_heads)),
        kv("llama.attention.key_length", u32v(cfg.head_dim)),
        kv("llama.attention.value_length", u32v(cfg.head_dim)),
        kv("llama.attention.layer_norm_rms_epsilon", Value::F32(cfg.norm_eps as f32)),
        kv("llama.rope.freq_base", Value::F32(cfg.rope_theta as f32)),
        kv("llama.rope.dimension_count", u32v(cfg.head_dim)),
        kv("tokenizer.ggml.model", Value::String("gpt2".into())),
        kv("tokenizer.ggml.pre", Value::String("gpt-2".into())),
        kv("tokenizer.ggml.tokens", Value::Array(tokens.into_iter().map(Value::String).collect())),
        kv("tokenizer.ggml.token_type", Value::Array(types.into_iter().map(Value::I32).collect())),
        kv("tokenizer.ggml.merges", Value::Array(merges)),
        kv("tokenizer.ggml.bos_token_id", Value::U32(BOS)),
        kv("tokenizer.ggml.eos_token_id", Value::U32(EOS)),
        kv("tokenizer.ggml.eot_token_id", Value::U32(END)),
        kv("tokenizer.ggml.padding_token_id", Value::U32(PAD)),
        kv("tokenizer.ggml.add_bos_token", Value::Bool(true)),
        kv("tokenizer.ggml.add_eos_token", Value::Bool(false)),
        kv("tokenizer.chat_template", Value::String(CHAT_TEMPLATE_JINJA.into())),
    ])
}

/// Row-major f32 values of a tensor as little-endian bytes.
fn f32_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let v = t.to_device(&Device::Cpu)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Ok(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// Export `model` (with its run's tokenizer) as a GGUF v3 file at `out`, written atomically.
/// `name` becomes `general.name`.
pub fn export_gguf(tok: &Tokenizer, model: &Llama, dtype: GgufDtype, out: &Path, name: &str) -> Result<GgufReport> {
    refuse_foreign(tok)?;
    let cfg = &model.cfg;
    cfg.validate()?;
    let meta = metadata(tok, cfg, dtype, name)?;
    let vars = model.named_vars();
    let mut infos = Vec::with_capacity(vars.len());
    let mut fallbacks = Vec::new();
    for (hf, var) in &vars {
        let gname = hf_to_gguf(hf).ok_or_else(|| Error::invalid("export", format!("no GGUF name for tensor {hf}")))?;
        let dims = var.dims().to_vec();
        let ty = tensor_type(&dims, dtype);
        let wanted = dtype.matrix_types()[0];
        if dims.len() >= 2 && ty != wanted {
            let why = format!(
                "{gname} stored as {ty:?}: its rows of {} values are not a multiple of {:?}'s block of {}",
                dims[dims.len() - 1],
                wanted,
                wanted.block_size()
            );
            tracing::warn!("{why}");
            fallbacks.push(why);
        }
        infos.push(TensorInfo::new(gname, dims, ty));
    }
    let (h, kvh, d) = (cfg.n_heads, cfg.n_kv_heads, cfg.head_dim);
    gguf_file::write(out, &meta, &infos, |i| {
        let (hf, var) = &vars[i];
        let info = &infos[i];
        let mut bytes = f32_bytes(var.as_tensor())?;
        if let Some(heads) = rope_heads(hf, h, kvh) {
            bytes = permute_rope_rows(&bytes, heads, d, RopeOrder::HfToGguf);
        }
        if info.dtype == GgmlDType::F32 {
            return Ok(bytes);
        }
        let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let t = Tensor::from_vec(values, info.dims.as_slice(), &Device::Cpu)?;
        let q = QTensor::quantize(&t, info.dtype)?;
        Ok(q.data()?.into_owned())
    })?;
    let bytes = std::fs::metadata(out).map_err(|e| Error::io(out, e))?.len();
    tracing::info!(path = %out.display(), bytes, dtype = dtype.as_str(), "GGUF written");
    Ok(GgufReport {
        path: out.to_path_buf(),
        bytes,
        tensors: infos.into_iter().map(|t| (t.name, t.dtype)).collect(),
        fallbacks,
    })
}

/// The Ollama `Modelfile` for a GGUF named `gguf_file_name` in the same folder.
pub fn modelfile(gguf_file_name: &str, cfg: &ModelConfig) -> Result<String> {
    if OLLAMA_TEMPLATE.contains("\"\"\"") {
        return Err(Error::invalid("chat template", "the Ollama template must not contain \"\"\""));
    }
    let mut s = format!(
        "# Ollama model file written by `thau export gguf`.\n\
         # Create the model with: ollama create thau -f Modelfile\n\
         FROM ./{gguf_file_name}\n\
         TEMPLATE \"\"\"{OLLAMA_TEMPLATE}\"\"\"\n"
    );
    for stop in STOP_STRINGS {
        s.push_str(&format!("PARAMETER stop {}\n", serde_json::Value::String(stop.to_string())));
    }
    s.push_str(&format!("PARAMETER num_ctx {}\n", cfg.max_seq_len));
    Ok(s)
}

/// Write `Modelfile` beside the GGUF at `gguf` (atomically); returns its path.
pub fn write_modelfile(gguf: &Path, cfg: &ModelConfig) -> Result<PathBuf> {
    let file_name = gguf
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::invalid("--out", format!("{} has no UTF-8 file name", gguf.display())))?;
    let path = modelfile_path(gguf);
    crate::fs::write_atomic(&path, modelfile(file_name, cfg)?.as_bytes())?;
    Ok(path)
}

/// Where [`write_modelfile`] puts the Modelfile for `gguf`.
pub fn modelfile_path(gguf: &Path) -> PathBuf {
    gguf.parent().unwrap_or(Path::new("")).join("Modelfile")
}

/// Exports write THAU's own vocabulary format (byte-level BPE, THAU's special tokens): a run
/// imported from a GGUF with another vocabulary cannot be written back that way.
pub(super) fn refuse_foreign(tok: &crate::tokenizer::Tokenizer) -> crate::error::Result<()> {
    match tok.foreign() {
        None => Ok(()),
        Some(f) => Err(crate::error::Error::invalid(
            "export",
            format!(
                "this model's vocabulary ({:?}) came from a GGUF that THAU did not write; exporting it is not \
                 supported: use the original file",
                f.kind
            ),
        )),
    }
}
