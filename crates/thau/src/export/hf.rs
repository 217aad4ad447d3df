//! Hugging Face export: a folder that `transformers` (4.x and 5.x) loads as
//! `LlamaForCausalLM` with `AutoTokenizer`, and that llama.cpp's converter could read.
//!
//! ```text
//! OUT/model.safetensors          HF names, f32/f16/bf16, metadata {"format": "pt"}
//! OUT/config.json                LlamaForCausalLM hyperparameters
//! OUT/generation_config.json     BOS/EOS/PAD; generation stops at <|eos|> or <|end|>
//! OUT/tokenizer.json             the run's tokenizer + a post-processor that prepends <|bos|>
//! OUT/tokenizer_config.json      PreTrainedTokenizerFast, special tokens, chat template
//! OUT/special_tokens_map.json
//! ```
//!
//! THAU's weights already use HF names and HF's rotate-half RoPE order, so tensors are
//! written as they are. The folder is built beside OUT under a temporary name and renamed
//! into place, so OUT is either the old folder or the complete new one.

use crate::error::{Error, Result};
use crate::model::{Llama, ModelConfig};
use crate::tokenizer::{Tokenizer, BOS, CHAT_TEMPLATE_JINJA, END, EOS, PAD, SPECIAL_TOKENS};
use candle_core::{DType, Device, Tensor};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Weight type of an HF export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfDtype {
    F32,
    F16,
    Bf16,
}

impl std::str::FromStr for HfDtype {
    type Err = crate::Error;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl HfDtype {
    /// Parse `f32`, `f16` or `bf16` (case-insensitive).
    pub fn parse(s: &str) -> Result<Self> {
        let names = [
            ("f32", Self::F32),
            ("f16", Self::F16),
            ("bf16", Self::Bf16),
            ("float32", Self::F32),
            ("float16", Self::F16),
            ("bfloat16", Self::Bf16),
        ];
        crate::error::one_of("--dtype", s, &names)
    }

    fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::F16 => DType::F16,
            Self::Bf16 => DType::BF16,
        }
    }

    /// The name transformers uses (`torch_dtype`).
    pub fn torch_name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::F16 => "float16",
            Self::Bf16 => "bfloat16",
        }
    }
}

fn special(id: u32) -> &'static str {
    SPECIAL_TOKENS[id as usize]
}

/// `config.json`.
pub fn config_json(cfg: &ModelConfig, dtype: HfDtype) -> Value {
    json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.ffn_hidden,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_scaling": null,
        "attention_bias": false,
        "attention_dropout": 0.0,
        "mlp_bias": false,
        "initializer_range": 0.02,
        "tie_word_embeddings": cfg.tie_embeddings,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "pad_token_id": PAD,
        "torch_dtype": dtype.torch_name(),
        "use_cache": true,
    })
}

/// `generation_config.json`: stop at end of document or end of a chat turn.
pub fn generation_config_json() -> Value {
    json!({ "bos_token_id": BOS, "eos_token_id": [EOS, END], "pad_token_id": PAD })
}

/// `tokenizer_config.json`.
pub fn tokenizer_config_json(cfg: &ModelConfig) -> Value {
    let added: serde_json::Map<String, Value> = SPECIAL_TOKENS
        .iter()
        .enumerate()
        .map(|(id, s)| {
            let t = json!({"content": s, "lstrip": false, "normalized": false, "rstrip": false,
                           "single_word": false, "special": true});
            (id.to_string(), t)
        })
        .collect();
    json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": true,
        "add_eos_token": false,
        "bos_token": special(BOS),
        "eos_token": special(EOS),
        "pad_token": special(PAD),
        "model_max_length": cfg.max_seq_len,
        "clean_up_tokenization_spaces": false,
        "added_tokens_decoder": added,
        "chat_template": CHAT_TEMPLATE_JINJA,
    })
}

/// `special_tokens_map.json`.
pub fn special_tokens_map_json() -> Value {
    json!({ "bos_token": special(BOS), "eos_token": special(EOS), "pad_token": special(PAD) })
}

/// The run's `tokenizer.json` with a post-processor that prepends `<|bos|>` when special
/// tokens are requested, so `AutoTokenizer(text)` gives the ids THAU and llama.cpp feed the
/// model (`add_bos_token` alone is ignored by `PreTrainedTokenizerFast`).
pub fn tokenizer_json(tok: &Tokenizer) -> Result<String> {
    let mut v: Value =
        serde_json::from_str(&tok.to_json()?).map_err(|e| Error::Tokenizer(format!("tokenizer JSON: {e}")))?;
    let bos = special(BOS);
    v["post_processor"] = json!({
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {bos: {"id": bos, "ids": [BOS], "tokens": [bos]}},
    });
    serde_json::to_string_pretty(&v).map_err(|e| Error::Tokenizer(format!("tokenizer JSON: {e}")))
}

/// True when `dir` exists and has any entry.
fn non_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|mut rd| rd.next().is_some()).unwrap_or(false)
}

/// Check `out` may be written: it must not exist as a file, nor as a non-empty folder unless
/// `force`. Called before any work so a refused export costs nothing.
pub fn check_out_dir(out: &Path, force: bool) -> Result<()> {
    if out.is_file() {
        return Err(Error::invalid("--out", format!("{} is a file; give a folder path", out.display())));
    }
    if non_empty_dir(out) && !force {
        return Err(Error::invalid(
            "--out",
            format!("{} exists and is not empty: choose another folder or pass --force to replace it", out.display()),
        ));
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut s = serde_json::to_vec_pretty(v).unwrap_or_default();
    s.push(b'\n');
    s
}

/// Export `model` and its tokenizer as an HF folder at `out` (see the module docs).
/// Refuses a non-empty `out` unless `force`; returns the folder.
pub fn export_hf(tok: &Tokenizer, model: &Llama, dtype: HfDtype, out: &Path, force: bool) -> Result<PathBuf> {
    super::gguf::refuse_foreign(tok)?;
    let cfg = &model.cfg;
    cfg.validate()?;
    check_out_dir(out, force)?;
    if tok.vocab_size() > cfg.vocab_size {
        return Err(Error::invalid(
            "export",
            format!(
                "the tokenizer has {} tokens but the model only {} embedding rows",
                tok.vocab_size(),
                cfg.vocab_size
            ),
        ));
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "hf".into());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = (|| -> Result<()> {
        let tensors = model
            .named_vars()
            .into_iter()
            .map(|(n, v)| Ok((n, v.as_tensor().to_device(&Device::Cpu)?.to_dtype(dtype.dtype())?)))
            .collect::<Result<Vec<(String, Tensor)>>>()?;
        // Streamed to the file tensor by tensor: no whole-file buffer for a large model.
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        let st = tmp.join("model.safetensors");
        safetensors::tensor::serialize_to_file(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta), &st)
            .map_err(|e| Error::invalid("safetensors", e.to_string()))?;
        drop(tensors);
        std::fs::File::open(&st).and_then(|f| f.sync_all()).map_err(|e| Error::io(&st, e))?;
        write_synced(&tmp.join("config.json"), &pretty(&config_json(cfg, dtype)))?;
        write_synced(&tmp.join("generation_config.json"), &pretty(&generation_config_json()))?;
        write_synced(&tmp.join("tokenizer.json"), tokenizer_json(tok)?.as_bytes())?;
        write_synced(&tmp.join("tokenizer_config.json"), &pretty(&tokenizer_config_json(cfg)))?;
        write_synced(&tmp.join("special_tokens_map.json"), &pretty(&special_tokens_map_json()))?;
        crate::fs::sync_dir(&tmp)?;
        // Move an old folder aside first, so a crash leaves either it or the new one at `out`.
        let aside = parent.join(format!(".{name}.old-{}", std::process::id()));
        let had_old = out.exists();
        if had_old {
            std::fs::rename(out, &aside).map_err(|e| Error::io(out, e))?;
        }
        std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
        crate::fs::sync_dir(parent)?;
        if had_old {
            let _ = std::fs::remove_dir_all(&aside);
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.map(|_| out.to_path_buf())
}
