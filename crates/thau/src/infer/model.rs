//! The inference-time Llama: the same network as [`crate::model::Llama`], stored for fast
//! batch-1 decoding instead of training. Weights are plain slices (f32, f16, q8_0, q4_K), the
//! q/k/v and gate/up projections are fused into one matrix each, the KV cache is a growable
//! position-major buffer, and nothing goes through autograd tensors.
//!
//! Shapes below: n = tokens in this call, d = d_model, kv = n_kv_heads·head_dim, f = ffn_hidden,
//! V = vocab size, P = positions already cached.

use super::kernels::{self, parallel_for};
use super::weights::{Weight, WeightDtype};
use crate::error::{Error, Result};
use crate::model::{Llama, ModelConfig};
use candle_core::quantized::QTensor;
use std::collections::HashMap;

/// One transformer block's weights.
struct Block {
    attn_norm: Vec<f32>,
    /// [q; k; v]: (d + 2·kv) × d
    wqkv: Weight,
    /// d × d
    wo: Weight,
    ffn_norm: Vec<f32>,
    /// [gate; up]: 2f × d
    w_gate_up: Weight,
    /// d × f
    w_down: Weight,
}

/// A Llama ready for inference.
pub struct InferModel {
    pub cfg: ModelConfig,
    /// V × d
    embed: Weight,
    blocks: Vec<Block>,
    norm: Vec<f32>,
    /// V × d; `None` when the output projection is tied to the embedding.
    lm_head: Option<Weight>,
    /// cos/sin of every position, (max_seq_len × head_dim/2) each.
    rope_cos: Vec<f32>,
    rope_sin: Vec<f32>,
}

/// The keys and values of the positions seen so far, and the tokens they came from (so a
/// later prompt that starts the same way reuses them).
#[derive(Default, Clone)]
pub struct KvState {
    /// Per layer: keys and values, position-major (P × kv) each.
    layers: Vec<(Vec<f32>, Vec<f32>)>,
    tokens: Vec<u32>,
}

impl KvState {
    /// Positions cached.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
    /// The tokens whose keys and values are cached.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
    /// Forget every position from `len` on.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.tokens.len() {
            return;
        }
        let kv = self.layers.first().map(|(k, _)| k.len() / self.tokens.len()).unwrap_or(0);
        for (k, v) in &mut self.layers {
            k.truncate(len * kv);
            v.truncate(len * kv);
        }
        self.tokens.truncate(len);
    }
    pub fn clear(&mut self) {
        self.truncate(0)
    }
}

/// Which positions' logits a forward pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Only the last position's (V): what generation needs.
    Last,
    /// Every position's (n × V): for scoring and verification.
    All,
}

impl InferModel {
    /// Convert a training model, storing its matrices as `dtype` (norms stay f32).
    pub fn from_llama(model: &Llama, dtype: WeightDtype) -> Result<Self> {
        let mut tensors = HashMap::new();
        for (name, var) in model.named_vars() {
            let t = var.as_tensor().to_dtype(candle_core::DType::F32)?;
            let dims = t.dims().to_vec();
            tensors.insert(name, (t.flatten_all()?.to_vec1::<f32>()?, dims));
        }
        Self::build(&model.cfg, |name, rows, cols| {
            let (v, dims) = tensors.remove(name).ok_or_else(|| missing(name))?;
            check_shape(name, &dims, rows, cols)?;
            Ok(match cols {
                0 => Parsed::Vector(v),
                _ => Parsed::Matrix(Weight::from_f32(v, rows, cols, dtype)),
            })
        })
    }

    /// Build from GGUF-style tensors under Hugging Face names, in HF (rotate-half) layout.
    /// Quantized tensors the engine runs (q8_0, q4_K) are used as they are; other types are
    /// dequantized, or re-quantized to `dtype` when it is given.
    pub fn from_qtensors(
        cfg: &ModelConfig,
        tensors: &HashMap<String, QTensor>,
        dtype: Option<WeightDtype>,
    ) -> Result<Self> {
        Self::build(cfg, |name, rows, cols| {
            let t = tensors.get(name).ok_or_else(|| missing(name))?;
            check_shape(name, t.shape().dims(), rows, cols)?;
            if cols == 0 {
                return Ok(Parsed::Vector(t.dequantize(&candle_core::Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?));
            }
            let w = Weight::from_qtensor(name, t, dtype)?;
            Ok(match dtype {
                Some(d) if d != w.dtype() => Parsed::Matrix(Weight::from_f32(w.to_f32(), rows, cols, d)),
                _ => Parsed::Matrix(w),
            })
        })
    }

    /// Assemble from a getter that returns each named tensor as a vector (cols = 0) or matrix.
    fn build(cfg: &ModelConfig, mut get: impl FnMut(&str, usize, usize) -> Result<Parsed>) -> Result<Self> {
        cfg.validate()?;
        let (d, kv, f, v) = (cfg.d_model, cfg.kv_dim(), cfg.ffn_hidden, cfg.vocab_size);
        let mut vector = |name: &str, len: usize| -> Result<Vec<f32>> {
            match get(name, len, 0)? {
                Parsed::Vector(x) => Ok(x),
                Parsed::Matrix(_) => unreachable!("cols = 0 asks for a vector"),
            }
        };
        let mut blocks = Vec::with_capacity(cfg.n_layers);
        let mut norms = Vec::new();
        for i in 0..cfg.n_layers {
            let p = format!("model.layers.{i}");
            norms.push((
                vector(&format!("{p}.input_layernorm.weight"), d)?,
                vector(&format!("{p}.post_attention_layernorm.weight"), d)?,
            ));
        }
        let norm = vector("model.norm.weight", d)?;
        let mut matrix = |name: &str, rows: usize, cols: usize| -> Result<Weight> {
            match get(name, rows, cols)? {
                Parsed::Matrix(w) => Ok(w),
                Parsed::Vector(_) => unreachable!("cols > 0 asks for a matrix"),
            }
        };
        for (i, (attn_norm, ffn_norm)) in norms.into_iter().enumerate() {
            let p = format!("model.layers.{i}");
            let wqkv = Weight::concat_rows(vec![
                matrix(&format!("{p}.self_attn.q_proj.weight"), d, d)?,
                matrix(&format!("{p}.self_attn.k_proj.weight"), kv, d)?,
                matrix(&format!("{p}.self_attn.v_proj.weight"), kv, d)?,
            ])?;
            let wo = matrix(&format!("{p}.self_attn.o_proj.weight"), d, d)?;
            let w_gate_up = Weight::concat_rows(vec![
                matrix(&format!("{p}.mlp.gate_proj.weight"), f, d)?,
                matrix(&format!("{p}.mlp.up_proj.weight"), f, d)?,
            ])?;
            let w_down = matrix(&format!("{p}.mlp.down_proj.weight"), d, f)?;
            blocks.push(Block {
                attn_norm,
                wqkv: wqkv.into_huge_pages(),
                wo: wo.into_huge_pages(),
                ffn_norm,
                w_gate_up: w_gate_up.into_huge_pages(),
                w_down: w_down.into_huge_pages(),
            });
        }
        let embed = matrix("model.embed_tokens.weight", v, d)?.into_huge_pages();
        let lm_head = if cfg.tie_embeddings { None } else { Some(matrix("lm_head.weight", v, d)?.into_huge_pages()) };
        let half = cfg.head_dim / 2;
        let (mut rope_cos, mut rope_sin) =
            (Vec::with_capacity(cfg.max_seq_len * half), Vec::with_capacity(cfg.max_seq_len * half));
        for p in 0..cfg.max_seq_len {
            for i in 0..half {
                // Same formula, in f64, as the training model's tables.
                let a = p as f64 * cfg.rope_theta.powf(-2.0 * i as f64 / cfg.head_dim as f64);
                rope_cos.push(a.cos() as f32);
                rope_sin.push(a.sin() as f32);
            }
        }
        Ok(Self { cfg: cfg.clone(), embed, blocks, norm, lm_head, rope_cos, rope_sin })
    }

    /// Storage type of the big matrices (the first block's attention projection).
    pub fn dtype(&self) -> WeightDtype {
        self.blocks.first().map(|b| b.wqkv.dtype()).unwrap_or(self.embed.dtype())
    }

    /// Bytes the weights take in memory.
    pub fn weight_bytes(&self) -> usize {
        let b: usize = self
            .blocks
            .iter()
            .map(|b| {
                b.wqkv.bytes()
                    + b.wo.bytes()
                    + b.w_gate_up.bytes()
                    + b.w_down.bytes()
                    + 4 * (b.attn_norm.len() + b.ffn_norm.len())
            })
            .sum();
        b + self.embed.bytes() + self.lm_head.as_ref().map_or(0, |w| w.bytes()) + 4 * self.norm.len()
    }

    /// Run `tokens` after the positions in `cache`, append their keys/values to it, and return
    /// logits (see [`Logits`]).
    pub fn forward(&self, tokens: &[u32], cache: &mut KvState, which: Logits) -> Result<Vec<f32>> {
        let cfg = &self.cfg;
        let (n, p0) = (tokens.len(), cache.len());
        if n == 0 {
            return Err(Error::invalid("tokens", "nothing to run: the input has no tokens"));
        }
        if p0 + n > cfg.max_seq_len {
            return Err(Error::invalid(
                "tokens",
                format!("{} positions do not fit the model's context of {}", p0 + n, cfg.max_seq_len),
            ));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= cfg.vocab_size) {
            return Err(Error::invalid(
                "tokens",
                format!("token id {bad} is outside the vocabulary of {}", cfg.vocab_size),
            ));
        }
        let (d, kv, f, hd) = (cfg.d_model, cfg.kv_dim(), cfg.ffn_hidden, cfg.head_dim);
        let eps = cfg.norm_eps as f32;
        if cache.layers.len() != self.blocks.len() {
            cache.layers = vec![(Vec::new(), Vec::new()); self.blocks.len()];
            cache.tokens.clear();
        }
        // x: n × d, the residual stream.
        let mut x = vec![0f32; n * d];
        for (i, &t) in tokens.iter().enumerate() {
            self.embed.row(t as usize, &mut x[i * d..(i + 1) * d]);
        }
        let mut h = vec![0f32; n * d];
        let mut qkv = vec![0f32; n * (d + 2 * kv)];
        let mut att = vec![0f32; n * d];
        let mut proj = vec![0f32; n * d];
        let mut gate_up = vec![0f32; n * 2 * f];
        let mut act = vec![0f32; n * f];
        let half = hd / 2;
        for (block, (kcache, vcache)) in self.blocks.iter().zip(cache.layers.iter_mut()) {
            kernels::rms_norm(&x, &block.attn_norm, eps, &mut h);
            block.wqkv.matmul(&h, n, &mut qkv)?;
            // Rotate q and k of each position, then append k, v to the cache.
            for (i, row) in qkv.chunks_exact_mut(d + 2 * kv).enumerate() {
                let p = p0 + i;
                let (cos, sin) = (&self.rope_cos[p * half..(p + 1) * half], &self.rope_sin[p * half..(p + 1) * half]);
                let (q, rest) = row.split_at_mut(d);
                kernels::rope(q, hd, cos, sin);
                kernels::rope(&mut rest[..kv], hd, cos, sin);
                kcache.extend_from_slice(&rest[..kv]);
                vcache.extend_from_slice(&rest[kv..]);
            }
            // Query i sees positions 0..=p0+i (causal).
            let spans: Vec<Span> = (0..n).map(|i| (kcache.as_slice(), vcache.as_slice(), p0 + i + 1)).collect();
            self.attention(&qkv, &spans, &mut att);
            block.wo.matmul(&att, n, &mut proj)?;
            x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
            kernels::rms_norm(&x, &block.ffn_norm, eps, &mut h);
            block.w_gate_up.matmul(&h, n, &mut gate_up)?;
            for (gu, a) in gate_up.chunks_exact(2 * f).zip(act.chunks_exact_mut(f)) {
                kernels::swiglu(&gu[..f], &gu[f..], a);
            }
            block.w_down.matmul(&act, n, &mut proj)?;
            x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
        }
        cache.tokens.extend_from_slice(tokens);
        // Final norm and output projection of the positions asked for.
        let rows = match which {
            Logits::Last => &x[(n - 1) * d..],
            Logits::All => &x[..],
        };
        let m = rows.len() / d;
        let mut normed = vec![0f32; m * d];
        kernels::rms_norm(rows, &self.norm, eps, &mut normed);
        let mut logits = vec![0f32; m * cfg.vocab_size];
        self.lm_head.as_ref().unwrap_or(&self.embed).matmul(&normed, m, &mut logits)?;
        Ok(logits)
    }

    /// One decoding step for several independent sequences: `tokens[i]` is appended to
    /// `caches[i]` (each at its own position), and the logits of every one are returned
    /// (n × V, row i for sequence i). The weight products run once for all n rows; attention
    /// runs per sequence over its own cache. Row i equals what [`Self::forward`] of
    /// `tokens[i]` alone on `caches[i]` returns, up to the summation order of the matrix
    /// kernel chosen for n rows.
    pub fn forward_batch(&self, tokens: &[u32], caches: &mut [&mut KvState]) -> Result<Vec<f32>> {
        let cfg = &self.cfg;
        let n = tokens.len();
        if n == 0 || n != caches.len() {
            return Err(Error::invalid(
                "tokens",
                format!("a batched step needs one token per sequence ({n} tokens, {} caches)", caches.len()),
            ));
        }
        for (&t, cache) in tokens.iter().zip(caches.iter()) {
            if cache.len() + 1 > cfg.max_seq_len {
                return Err(Error::invalid(
                    "tokens",
                    format!("{} positions do not fit the model's context of {}", cache.len() + 1, cfg.max_seq_len),
                ));
            }
            if t as usize >= cfg.vocab_size {
                return Err(Error::invalid(
                    "tokens",
                    format!("token id {t} is outside the vocabulary of {}", cfg.vocab_size),
                ));
            }
        }
        let (d, kv, f, hd) = (cfg.d_model, cfg.kv_dim(), cfg.ffn_hidden, cfg.head_dim);
        let eps = cfg.norm_eps as f32;
        for cache in caches.iter_mut() {
            if cache.layers.len() != self.blocks.len() {
                cache.layers = vec![(Vec::new(), Vec::new()); self.blocks.len()];
                cache.tokens.clear();
            }
        }
        // Position of each sequence's new token.
        let pos: Vec<usize> = caches.iter().map(|c| c.len()).collect();
        // x: n × d, one residual row per sequence.
        let mut x = vec![0f32; n * d];
        for (i, &t) in tokens.iter().enumerate() {
            self.embed.row(t as usize, &mut x[i * d..(i + 1) * d]);
        }
        let mut h = vec![0f32; n * d];
        let mut qkv = vec![0f32; n * (d + 2 * kv)];
        let mut att = vec![0f32; n * d];
        let mut proj = vec![0f32; n * d];
        let mut gate_up = vec![0f32; n * 2 * f];
        let mut act = vec![0f32; n * f];
        let half = hd / 2;
        for (l, block) in self.blocks.iter().enumerate() {
            kernels::rms_norm(&x, &block.attn_norm, eps, &mut h);
            block.wqkv.matmul(&h, n, &mut qkv)?;
            // Rotate q and k at each sequence's own position; append k, v to its cache.
            for ((row, &p), cache) in qkv.chunks_exact_mut(d + 2 * kv).zip(&pos).zip(caches.iter_mut()) {
                let (cos, sin) = (&self.rope_cos[p * half..(p + 1) * half], &self.rope_sin[p * half..(p + 1) * half]);
                let (q, rest) = row.split_at_mut(d);
                kernels::rope(q, hd, cos, sin);
                kernels::rope(&mut rest[..kv], hd, cos, sin);
                let (kc, vc) = &mut cache.layers[l];
                kc.extend_from_slice(&rest[..kv]);
                vc.extend_from_slice(&rest[kv..]);
            }
            let spans: Vec<Span> = caches
                .iter()
                .zip(&pos)
                .map(|(c, &p)| (c.layers[l].0.as_slice(), c.layers[l].1.as_slice(), p + 1))
                .collect();
            self.attention(&qkv, &spans, &mut att);
            block.wo.matmul(&att, n, &mut proj)?;
            x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
            kernels::rms_norm(&x, &block.ffn_norm, eps, &mut h);
            block.w_gate_up.matmul(&h, n, &mut gate_up)?;
            for (gu, a) in gate_up.chunks_exact(2 * f).zip(act.chunks_exact_mut(f)) {
                kernels::swiglu(&gu[..f], &gu[f..], a);
            }
            block.w_down.matmul(&act, n, &mut proj)?;
            x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
        }
        for (cache, &t) in caches.iter_mut().zip(tokens) {
            cache.tokens.push(t);
        }
        let mut normed = vec![0f32; n * d];
        kernels::rms_norm(&x, &self.norm, eps, &mut normed);
        let mut logits = vec![0f32; n * cfg.vocab_size];
        self.lm_head.as_ref().unwrap_or(&self.embed).matmul(&normed, n, &mut logits)?;
        Ok(logits)
    }

    /// GQA attention of n queries (inside `qkv`, n × (d + 2kv)): query i attends over the
    /// first `spans[i].2` positions of the keys and values `spans[i].0`, `spans[i].1`
    /// (position-major, P × kv each), into `out` (n × d). One work item per (query, head).
    fn attention(&self, qkv: &[f32], spans: &[Span], out: &mut [f32]) {
        let cfg = &self.cfg;
        let (d, kv, hd) = (cfg.d_model, cfg.kv_dim(), cfg.head_dim);
        let (heads, group) = (cfg.n_heads, cfg.n_heads / cfg.n_kv_heads);
        let scale = 1.0 / (hd as f32).sqrt();
        let n = spans.len();
        let out_ptr = OutPtr(out.as_mut_ptr());
        parallel_for(n * heads, |range| {
            let mut scores = Vec::new();
            for item in range {
                let (i, head) = (item / heads, item % heads);
                let (kcache, vcache, len) = spans[i];
                let g = head / group;
                let q = &qkv[i * (d + 2 * kv) + head * hd..][..hd];
                kernels::attn_scores(q, &kcache[g * hd..], kv, len, scale, &mut scores);
                let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
                let mut sum = 0.0;
                for s in scores.iter_mut() {
                    *s = (*s - max).exp();
                    sum += *s;
                }
                let inv = 1.0 / sum;
                scores.iter_mut().for_each(|s| *s *= inv);
                // SAFETY: (i, head) owns out[i·d + head·hd ..][..hd]; no other item writes it.
                let o = unsafe { std::slice::from_raw_parts_mut(out_ptr.at(i * d + head * hd), hd) };
                kernels::attn_values(&scores, &vcache[g * hd..], kv, o);
            }
        });
    }
}

/// The keys and values one query attends over (position-major, P × kv each), and how many
/// positions of them it sees.
type Span<'a> = (&'a [f32], &'a [f32], usize);

/// A raw output pointer shared by attention work items that write disjoint slices.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: see `attention`: each work item writes its own slice while the caller waits.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The element at `offset`. A method (not `.0`) so closures capture the whole `OutPtr`,
    /// which is `Sync`, rather than its raw-pointer field, which is not.
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

enum Parsed {
    Vector(Vec<f32>),
    Matrix(Weight),
}

fn missing(name: &str) -> Error {
    Error::invalid("weights", format!("tensor {name} is missing: the file is not a complete Llama model"))
}

fn check_shape(name: &str, dims: &[usize], rows: usize, cols: usize) -> Result<()> {
    let want: Vec<usize> = if cols == 0 { vec![rows] } else { vec![rows, cols] };
    if dims != want.as_slice() {
        return Err(Error::invalid("weights", format!("tensor {name} has shape {dims:?}, the config needs {want:?}")));
    }
    Ok(())
}
