//! The Llama architecture (Touvron et al. 2023): pre-norm decoder blocks with RMSNorm, rotary
//! position embedding, grouped-query causal attention and a SwiGLU MLP; optional tied
//! input/output embeddings. Tensor names follow Hugging Face's LlamaForCausalLM.
//!
//! Shape legend: B batch, T sequence, C d_model, H query heads, KV key/value heads,
//! D head_dim, F ffn_hidden, V vocab, N = B·T tokens.

use super::config::ModelConfig;
use super::ops::gemm::Precision;
use super::ops::{self, cross_entropy, RopeTables};
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::collections::HashMap;
use std::path::Path;

/// One decoder block's parameters.
pub struct Block {
    pub attn_norm: Var, // (C)
    pub wq: Var,        // (H·D, C)
    pub wk: Var,        // (KV·D, C)
    pub wv: Var,        // (KV·D, C)
    pub wo: Var,        // (C, H·D)
    pub mlp_norm: Var,  // (C)
    pub w_gate: Var,    // (F, C)
    pub w_up: Var,      // (F, C)
    pub w_down: Var,    // (C, F)
}

/// The linear projections of a block, by which adapters (LoRA) attach to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proj {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

/// A trainable change to the blocks' linear layers: `y = x·Wᵀ + delta(layer, proj, x)`
/// (LoRA, see `learn::lora`). The base weights stay untouched until it is merged.
pub trait LinearDelta: Send + Sync {
    /// The extra output (N, out) for input `x` (N, in), or None when that layer has no adapter.
    fn delta(&self, layer: usize, proj: Proj, x: &Tensor) -> candle_core::Result<Option<Tensor>>;
}

/// A Llama model whose parameters are candle `Var`s, so the same struct trains and infers.
pub struct Llama {
    pub cfg: ModelConfig,
    pub embed: Var, // (V, C)
    pub blocks: Vec<Block>,
    pub norm: Var,            // (C)
    pub lm_head: Option<Var>, // (V, C); None when tied to `embed`
    rope: RopeTables,
    /// Precision of the linear layers' matmuls on CPU (weights and accumulation stay f32).
    pub matmul: Precision,
    /// An adapter added to the blocks' projections (None: the plain model).
    pub adapter: Option<std::sync::Arc<dyn LinearDelta>>,
}

/// Per-layer key/value cache for incremental decoding: (B, T_past, KV, D) each.
///
/// With [`Llama::forward_cached`] this is decoding on candle tensors, on any candle device:
/// the building block of inference on a GPU. The CPU engine does not use it (it decodes with
/// the `infer` module's own kernels and quantized weights); a test keeps its incremental
/// logits equal to the full forward's.
#[derive(Default, Clone)]
pub struct KvCache {
    pub layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// Number of positions already cached.
    pub fn len(&self) -> usize {
        self.layers.first().and_then(|l| l.as_ref()).map(|(k, _)| k.dim(1).unwrap_or(0)).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Normal(0, std) samples from a seeded generator (Box–Muller), reproducible everywhere.
fn normal(rng: &mut StdRng, n: usize, std: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = rng.gen();
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let a = 2.0 * std::f64::consts::PI * u2;
        out.push((r * a.cos()) as f32);
        if out.len() < n {
            out.push((r * a.sin()) as f32);
        }
    }
    out
}

/// How a parameter starts out.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// Normal(0, std).
    Normal(f64),
    /// All ones (RMSNorm gains).
    Ones,
}

/// One parameter of the architecture: Hugging Face name, shape and initialisation.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

/// Every parameter of `cfg`, in the order of [`Llama::named_vars`]. This table is the one
/// place that lists the architecture's tensors.
pub fn param_specs(cfg: &ModelConfig) -> Vec<ParamSpec> {
    let (c, kv, f, v) = (cfg.d_model, cfg.kv_dim(), cfg.ffn_hidden, cfg.vocab_size);
    // N(0, 0.02) for matrices; the residual output projections (o, down) scaled by 1/√(2L)
    // as in GPT-2; RMSNorm gains at 1.
    let std = Init::Normal(0.02);
    let proj = Init::Normal(0.02 / (2.0 * cfg.n_layers as f64).sqrt());
    let spec = |name: String, shape: &[usize], init: Init| ParamSpec { name, shape: shape.to_vec(), init };
    let mut out = vec![spec("model.embed_tokens.weight".into(), &[v, c], std)];
    for i in 0..cfg.n_layers {
        let p = format!("model.layers.{i}");
        out.push(spec(format!("{p}.input_layernorm.weight"), &[c], Init::Ones));
        out.push(spec(format!("{p}.self_attn.q_proj.weight"), &[c, c], std));
        out.push(spec(format!("{p}.self_attn.k_proj.weight"), &[kv, c], std));
        out.push(spec(format!("{p}.self_attn.v_proj.weight"), &[kv, c], std));
        out.push(spec(format!("{p}.self_attn.o_proj.weight"), &[c, c], proj));
        out.push(spec(format!("{p}.post_attention_layernorm.weight"), &[c], Init::Ones));
        out.push(spec(format!("{p}.mlp.gate_proj.weight"), &[f, c], std));
        out.push(spec(format!("{p}.mlp.up_proj.weight"), &[f, c], std));
        out.push(spec(format!("{p}.mlp.down_proj.weight"), &[c, f], proj));
    }
    out.push(spec("model.norm.weight".into(), &[c], Init::Ones));
    if !cfg.tie_embeddings {
        out.push(spec("lm_head.weight".into(), &[v, c], std));
    }
    out
}

impl Block {
    /// The block's parameters in [`param_specs`] order.
    fn vars(&self) -> [&Var; 9] {
        [
            &self.attn_norm,
            &self.wq,
            &self.wk,
            &self.wv,
            &self.wo,
            &self.mlp_norm,
            &self.w_gate,
            &self.w_up,
            &self.w_down,
        ]
    }
}

impl Llama {
    /// Assemble a model from its parameters in [`param_specs`] order (shapes already checked).
    fn from_ordered(cfg: &ModelConfig, vars: Vec<Var>) -> Self {
        let mut it = vars.into_iter();
        let mut next = || it.next().expect("one var per parameter spec");
        let embed = next();
        let blocks = (0..cfg.n_layers)
            .map(|_| Block {
                attn_norm: next(),
                wq: next(),
                wk: next(),
                wv: next(),
                wo: next(),
                mlp_norm: next(),
                w_gate: next(),
                w_up: next(),
                w_down: next(),
            })
            .collect();
        let norm = next();
        let lm_head = if cfg.tie_embeddings { None } else { Some(next()) };
        Self {
            cfg: cfg.clone(),
            embed,
            blocks,
            norm,
            lm_head,
            rope: RopeTables::new(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta),
            matmul: Precision::F32,
            adapter: None,
        }
    }

    /// Fresh weights drawn from a seeded generator, as [`param_specs`] says.
    pub fn new_random(cfg: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let vars = param_specs(cfg)
            .into_iter()
            .map(|p| -> Result<Var> {
                let n = p.shape.iter().product();
                Ok(match p.init {
                    Init::Normal(std) => Var::from_vec(normal(&mut rng, n, std), p.shape, device)?,
                    Init::Ones => Var::ones(p.shape, DType::F32, device)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::from_ordered(cfg, vars))
    }

    /// Every parameter with its Hugging Face name, in a fixed order.
    pub fn named_vars(&self) -> Vec<(String, &Var)> {
        let mut vars: Vec<&Var> = vec![&self.embed];
        for b in &self.blocks {
            vars.extend(b.vars());
        }
        vars.push(&self.norm);
        vars.extend(self.lm_head.as_ref());
        param_specs(&self.cfg).into_iter().map(|p| p.name).zip(vars).collect()
    }

    /// Build from named tensors (as loaded from safetensors), checking every name and shape.
    pub fn from_tensors(cfg: &ModelConfig, mut tensors: HashMap<String, Tensor>, source: &Path) -> Result<Self> {
        cfg.validate()?;
        let hint = "the weights do not match config.json; re-export or retrain this age";
        let vars = param_specs(cfg)
            .into_iter()
            .map(|p| -> Result<Var> {
                let t = tensors
                    .remove(&p.name)
                    .ok_or_else(|| Error::corrupt(source, format!("tensor {} is missing", p.name), hint))?;
                if t.dims() != p.shape.as_slice() {
                    let reason = format!("tensor {} has shape {:?}, expected {:?}", p.name, t.dims(), p.shape);
                    return Err(Error::corrupt(source, reason, hint));
                }
                Ok(Var::from_tensor(&t.to_dtype(DType::F32)?)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::from_ordered(cfg, vars))
    }

    /// Load weights from a safetensors file.
    pub fn load(cfg: &ModelConfig, path: &Path, device: &Device) -> Result<Self> {
        let bytes = crate::error::read_file(path, "train this age first with `thau train`")?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| {
            Error::corrupt(
                path,
                e.to_string(),
                "the weights file is damaged; resume from an earlier checkpoint or retrain",
            )
        })?;
        Self::from_tensors(cfg, tensors, path)
    }

    /// The weights as safetensors bytes (HF names), with `metadata` in the header.
    pub fn to_safetensors(&self, metadata: HashMap<String, String>) -> Result<Vec<u8>> {
        let tensors: Vec<(String, Tensor)> =
            self.named_vars().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
        tensors_to_safetensors(&tensors, metadata)
    }

    /// A copy of the model with every parameter in `dtype` (f64 for gradient checks).
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        let vars = self
            .named_vars()
            .into_iter()
            .map(|(_, v)| Ok(Var::from_tensor(&v.as_tensor().to_dtype(dtype)?)?))
            .collect::<Result<Vec<_>>>()?;
        let mut model = Self::from_ordered(&self.cfg, vars);
        model.matmul = self.matmul;
        Ok(model)
    }

    pub fn device(&self) -> &Device {
        self.embed.device()
    }

    /// Training forward: `ids` (B, T) u32 → logits (N, V).
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let mut cache = KvCache::default();
        self.forward_cached(ids, &mut cache, false)
    }

    /// Mean cross-entropy of predicting `targets` (B, T) from `ids` (B, T).
    pub fn loss(&self, ids: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let logits = self.forward(ids)?; // (N, V)
        Ok(cross_entropy(&logits, &targets.flatten_all()?)?)
    }

    /// Mean cross-entropy for evaluation (no gradient buffers are prepared).
    pub fn eval_loss(&self, ids: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let logits = self.forward(ids)?; // (N, V)
        Ok(ops::cross_entropy_eval(&logits, &targets.flatten_all()?)?)
    }

    /// Forward with a KV cache: `ids` (B, T) at positions cache.len()..; appends to the
    /// cache when `update` is set. Returns logits (N, V). Training calls it with an empty
    /// cache; incremental decoding with it is the device-agnostic (GPU) inference path.
    pub fn forward_cached(&self, ids: &Tensor, cache: &mut KvCache, update: bool) -> Result<Tensor> {
        self.forward_impl(ids, cache, update, true)
    }

    /// The same forward built only from the basic-op references of every fused op (slow):
    /// the end-to-end reference the fused model is tested against.
    pub fn forward_reference(&self, ids: &Tensor) -> Result<Tensor> {
        self.forward_impl(ids, &mut KvCache::default(), false, false)
    }

    fn forward_impl(&self, ids: &Tensor, cache: &mut KvCache, update: bool, fused: bool) -> Result<Tensor> {
        let rms_norm = if fused { ops::rms_norm } else { ops::rms_norm_reference };
        let rope = if fused { ops::rope } else { ops::rope_reference };
        let causal_attention = if fused { ops::causal_attention } else { ops::causal_attention_reference };
        let swiglu = if fused { ops::swiglu } else { ops::swiglu_reference };
        let prec = self.matmul;
        let linear = |x: &Tensor, w: &Var| -> candle_core::Result<Tensor> {
            if fused {
                ops::linear_with(x, w.as_tensor(), prec)
            } else {
                ops::linear_reference(x, w.as_tensor())
            }
        };
        // A block's projection: the base linear plus the adapter's delta, when one is attached.
        let proj = |x: &Tensor, w: &Var, layer: usize, p: Proj| -> candle_core::Result<Tensor> {
            let y = linear(x, w)?;
            match self.adapter.as_ref().map(|a| a.delta(layer, p, x)).transpose()?.flatten() {
                Some(d) => y + d,
                None => Ok(y),
            }
        };
        let cfg = &self.cfg;
        let (b, t) = ids.dims2()?;
        let pos0 = cache.len();
        if pos0 + t > cfg.max_seq_len {
            return Err(Error::invalid(
                "sequence",
                format!("{} positions exceed the model's max_seq_len {}", pos0 + t, cfg.max_seq_len),
            ));
        }
        if cache.layers.len() != cfg.n_layers {
            cache.layers = vec![None; cfg.n_layers];
        }
        let (h, kvh, d, c) = (cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.d_model);
        let mut x = self.embed.as_tensor().embedding(&ids.flatten_all()?)?; // (N, C)
        for (l, (blk, slot)) in self.blocks.iter().zip(cache.layers.iter_mut()).enumerate() {
            let hn = rms_norm(&x, blk.attn_norm.as_tensor(), cfg.norm_eps)?; // (N, C)
            let q = proj(&hn, &blk.wq, l, Proj::Q)?.reshape((b, t, h, d))?; // (B, T, H, D)
            let k = proj(&hn, &blk.wk, l, Proj::K)?.reshape((b, t, kvh, d))?; // (B, T, KV, D)
            let v = proj(&hn, &blk.wv, l, Proj::V)?.reshape((b, t, kvh, d))?; // (B, T, KV, D)
            let q = rope(&q, &self.rope, pos0)?;
            let k = rope(&k, &self.rope, pos0)?;
            let (k, v) = match slot.as_ref() {
                Some((pk, pv)) => (Tensor::cat(&[pk, &k], 1)?, Tensor::cat(&[pv, &v], 1)?), // (B, Tk, KV, D)
                None => (k, v),
            };
            if update {
                // Detached: the cache must not keep every decoding step's autograd graph alive.
                *slot = Some((k.detach(), v.detach()));
            }
            let a = causal_attention(&q, &k, &v)?.reshape((b * t, c))?; // (N, C)
            x = (x + proj(&a, &blk.wo, l, Proj::O)?)?;
            let hn = rms_norm(&x, blk.mlp_norm.as_tensor(), cfg.norm_eps)?; // (N, C)
            let g = proj(&hn, &blk.w_gate, l, Proj::Gate)?; // (N, F)
            let u = proj(&hn, &blk.w_up, l, Proj::Up)?; // (N, F)
            x = (x + proj(&swiglu(&g, &u)?, &blk.w_down, l, Proj::Down)?)?; // (N, C)
        }
        let x = rms_norm(&x, self.norm.as_tensor(), cfg.norm_eps)?; // (N, C)
        let head = self.lm_head.as_ref().unwrap_or(&self.embed);
        Ok(linear(&x, head)?) // (N, V)
    }
}

/// Serialise named tensors to safetensors bytes.
pub fn tensors_to_safetensors(tensors: &[(String, Tensor)], metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let views: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| Error::invalid("safetensors", e.to_string()))
}
