//! A tiny llama-family GGUF that THAU did not export, written by hand (no Python needed):
//! a SentencePiece vocabulary (`<unk> <s> </s>`, 256 `<0xXX>` byte tokens, a few scored
//! pieces) with ChatML's control tokens and template, and random f32 weights. Shared by
//! `tests/import_foreign.rs` and the CLI tests (`#[path]` include), which also damage it.

#![allow(dead_code)]

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::GgmlDType;
use std::path::Path;
use thau::gguf::{self as gguf_file, TensorInfo};

pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + \
     message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// Pieces beyond the byte tokens, best score first.
pub const PIECES: &[&str] =
    &["▁h", "▁ho", "la", "▁hola", "▁m", "un", "do", "▁mun", "▁mundo", "▁the", "▁e", "▁el", "▁n", "i", "ñ", "o"];

/// Metadata and tensors of the file (edit them to damage it, then [`write`]).
pub struct ForeignGguf {
    pub meta: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    pub data: Vec<Vec<u8>>,
}

pub fn tokens() -> (Vec<String>, Vec<i32>, Vec<f32>) {
    let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
    let mut types = vec![2, 3, 3];
    let mut scores = vec![0.0, 0.0, 0.0];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
        scores.push(0.0);
    }
    for (i, p) in PIECES.iter().enumerate() {
        tokens.push(p.to_string());
        types.push(1);
        scores.push(-(i as f32));
    }
    for (i, c) in "▁holamundthe".chars().enumerate() {
        if !tokens.contains(&c.to_string()) {
            tokens.push(c.to_string());
            types.push(1);
            scores.push(-100.0 - i as f32);
        }
    }
    for s in ["<|im_start|>", "<|im_end|>"] {
        tokens.push(s.into());
        types.push(3);
        scores.push(0.0);
    }
    (tokens, types, scores)
}

/// Deterministic values in about [-scale, scale].
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

pub fn build() -> ForeignGguf {
    let (tokens, types, scores) = tokens();
    let (n_vocab, d, layers, heads, kv_heads, ffn, ctx) =
        (tokens.len(), 64usize, 2usize, 4usize, 2usize, 128usize, 128u32);
    let hd = d / heads;
    let s = |v: &str| Value::String(v.into());
    let meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), s("llama")),
        ("general.name".into(), s("hand-made-spm")),
        ("llama.context_length".into(), Value::U32(ctx)),
        ("llama.embedding_length".into(), Value::U32(d as u32)),
        ("llama.block_count".into(), Value::U32(layers as u32)),
        ("llama.feed_forward_length".into(), Value::U32(ffn as u32)),
        ("llama.attention.head_count".into(), Value::U32(heads as u32)),
        ("llama.attention.head_count_kv".into(), Value::U32(kv_heads as u32)),
        ("llama.attention.layer_norm_rms_epsilon".into(), Value::F32(1e-5)),
        ("llama.rope.freq_base".into(), Value::F32(10000.0)),
        ("general.file_type".into(), Value::U32(0)),
        ("tokenizer.ggml.model".into(), s("llama")),
        ("tokenizer.ggml.tokens".into(), Value::Array(tokens.iter().map(|t| s(t)).collect())),
        ("tokenizer.ggml.token_type".into(), Value::Array(types.iter().map(|&t| Value::I32(t)).collect())),
        ("tokenizer.ggml.scores".into(), Value::Array(scores.iter().map(|&v| Value::F32(v)).collect())),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.unknown_token_id".into(), Value::U32(0)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(true)),
        ("tokenizer.chat_template".into(), s(CHATML_TEMPLATE)),
    ];
    let mut tensors = Vec::new();
    let mut data = Vec::new();
    let mut seed = 0;
    let mut add = |name: String, dims: Vec<usize>, scale: f32, offset: f32| {
        seed += 1;
        let v: Vec<f32> = values(dims.iter().product(), seed, scale).into_iter().map(|x| x + offset).collect();
        data.push(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
        tensors.push(TensorInfo::new(name, dims, GgmlDType::F32));
    };
    add("token_embd.weight".into(), vec![n_vocab, d], 1.0, 0.0);
    for i in 0..layers {
        let m = |cols: usize, gain: f32| gain / (cols as f32).sqrt();
        add(format!("blk.{i}.attn_norm.weight"), vec![d], 0.2, 1.0);
        add(format!("blk.{i}.attn_q.weight"), vec![d, d], m(d, 3.0), 0.0);
        add(format!("blk.{i}.attn_k.weight"), vec![kv_heads * hd, d], m(d, 3.0), 0.0);
        add(format!("blk.{i}.attn_v.weight"), vec![kv_heads * hd, d], m(d, 1.5), 0.0);
        add(format!("blk.{i}.attn_output.weight"), vec![d, d], m(d, 1.5), 0.0);
        add(format!("blk.{i}.ffn_norm.weight"), vec![d], 0.2, 1.0);
        add(format!("blk.{i}.ffn_gate.weight"), vec![ffn, d], m(d, 1.5), 0.0);
        add(format!("blk.{i}.ffn_up.weight"), vec![ffn, d], m(d, 1.5), 0.0);
        add(format!("blk.{i}.ffn_down.weight"), vec![d, ffn], m(ffn, 1.5), 0.0);
    }
    add("output_norm.weight".into(), vec![d], 0.2, 1.0);
    add("output.weight".into(), vec![n_vocab, d], 8.0 / (d as f32).sqrt(), 0.0);
    ForeignGguf { meta, tensors, data }
}

impl ForeignGguf {
    /// Replace (or add) a metadata value.
    pub fn set(&mut self, key: &str, v: Value) -> &mut Self {
        match self.meta.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = v,
            None => self.meta.push((key.into(), v)),
        }
        self
    }

    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.meta.retain(|(k, _)| k != key);
        self
    }

    pub fn write(&self, path: &Path) {
        gguf_file::write(path, &self.meta, &self.tensors, |i| Ok(self.data[i].clone())).unwrap();
    }
}

/// Write the good file to `path`.
pub fn write(path: &Path) {
    build().write(path)
}
