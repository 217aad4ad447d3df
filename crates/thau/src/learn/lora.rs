//! LoRA (Hu et al. 2021): low-rank adapters on a block's projections. Each adapted weight
//! W (out, in) gets trainable A (r, in) and B (out, r) and computes
//! `y = x·Wᵀ + (α/r)·(x·Aᵀ)·Bᵀ`; B starts at zero, so an attached adapter changes nothing
//! until it trains. Only A and B train (a few percent of the parameters), the base weights stay
//! as they were, and [`Lora::merge`] folds `W ← W + (α/r)·B·A` in for inference and saving —
//! or the adapter is simply dropped, which is what makes it the cheap, reversible option.
//!
//! Shapes: N tokens, r rank, `in`/`out` the projection's input and output widths.

use crate::error::{Error, Result};
use crate::model::llama::{LinearDelta, Proj};
use crate::model::Llama;
use candle_core::{DType, Tensor, Var};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Which projections get adapters, their rank and scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    pub rank: usize,
    /// The update is scaled by alpha / rank.
    pub alpha: f64,
    pub targets: Vec<Proj>,
    pub seed: u64,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 16.0,
            targets: vec![Proj::Q, Proj::K, Proj::V, Proj::O, Proj::Gate, Proj::Up, Proj::Down],
            seed: 7,
        }
    }
}

/// The adapters of one model.
pub struct Lora {
    pub cfg: LoraConfig,
    /// alpha / rank.
    pub scale: f64,
    /// (layer, projection) → (A (r, in), B (out, r)).
    pairs: BTreeMap<(usize, Proj), (Var, Var)>,
}

/// The base weight of a projection.
fn weight(model: &Llama, layer: usize, p: Proj) -> &Var {
    let b = &model.blocks[layer];
    match p {
        Proj::Q => &b.wq,
        Proj::K => &b.wk,
        Proj::V => &b.wv,
        Proj::O => &b.wo,
        Proj::Gate => &b.w_gate,
        Proj::Up => &b.w_up,
        Proj::Down => &b.w_down,
    }
}

/// The Hugging Face-style name of a projection's weight, without `.weight`.
fn proj_name(layer: usize, p: Proj) -> String {
    let (group, name) = match p {
        Proj::Q => ("self_attn", "q_proj"),
        Proj::K => ("self_attn", "k_proj"),
        Proj::V => ("self_attn", "v_proj"),
        Proj::O => ("self_attn", "o_proj"),
        Proj::Gate => ("mlp", "gate_proj"),
        Proj::Up => ("mlp", "up_proj"),
        Proj::Down => ("mlp", "down_proj"),
    };
    format!("model.layers.{layer}.{group}.{name}")
}

impl Lora {
    /// Fresh adapters for `model`: A ~ N(0, 1/in) (seeded), B = 0, in the model's dtype.
    pub fn new(model: &Llama, cfg: LoraConfig) -> Result<Self> {
        if cfg.rank == 0 || !(cfg.alpha.is_finite() && cfg.alpha > 0.0) || cfg.targets.is_empty() {
            return Err(Error::invalid("lora", "rank >= 1, alpha > 0 and at least one target projection"));
        }
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let dtype = model.embed.dtype();
        let dev = model.device().clone();
        let mut pairs = BTreeMap::new();
        for layer in 0..model.blocks.len() {
            for &p in &cfg.targets {
                let (out, inp) = weight(model, layer, p).as_tensor().dims2()?;
                let std = 1.0 / (inp as f64).sqrt();
                let a: Vec<f64> = (0..cfg.rank * inp)
                    .map(|_| {
                        // Box–Muller from the seeded generator (reproducible everywhere).
                        let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
                        let u2: f64 = rng.gen();
                        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * std
                    })
                    .collect();
                let a = Tensor::from_vec(a, (cfg.rank, inp), &dev)?.to_dtype(dtype)?; // (r, in)
                let b = Tensor::zeros((out, cfg.rank), dtype, &dev)?; // (out, r)
                pairs.insert((layer, p), (Var::from_tensor(&a)?, Var::from_tensor(&b)?));
            }
        }
        let scale = cfg.alpha / cfg.rank as f64;
        Ok(Self { cfg, scale, pairs })
    }

    /// The trainable parameters, named `<projection>.lora_A` / `.lora_B`.
    pub fn named_vars(&self) -> Vec<(String, &Var)> {
        let mut out = Vec::with_capacity(self.pairs.len() * 2);
        for ((layer, p), (a, b)) in &self.pairs {
            let n = proj_name(*layer, *p);
            out.push((format!("{n}.lora_A"), a));
            out.push((format!("{n}.lora_B"), b));
        }
        out
    }

    /// Trainable parameter count.
    pub fn param_count(&self) -> usize {
        self.pairs.values().map(|(a, b)| a.elem_count() + b.elem_count()).sum()
    }

    /// Attach to `model` (replacing any adapter it had): its forward now adds the deltas.
    pub fn attach(self: &Arc<Self>, model: &mut Llama) {
        model.adapter = Some(self.clone() as Arc<dyn LinearDelta>);
    }

    /// Fold the adapters into `model`'s weights, `W ← W + scale·B·A`, and detach them.
    pub fn merge(&self, model: &mut Llama) -> Result<()> {
        for ((layer, p), (a, b)) in &self.pairs {
            let w = weight(model, *layer, *p);
            let delta = (b.as_tensor().matmul(a.as_tensor())? * self.scale)?; // (out, in)
            let merged = (w.as_tensor() + delta.to_dtype(w.dtype())?)?;
            w.set(&merged)?;
        }
        model.adapter = None;
        Ok(())
    }

    /// The adapters as safetensors bytes (kept with a learning run's record).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let tensors: Vec<(String, Tensor)> = self
            .named_vars()
            .into_iter()
            .map(|(n, v)| Ok((n, v.as_tensor().to_dtype(DType::F32)?)))
            .collect::<Result<_>>()?;
        let mut meta = std::collections::HashMap::new();
        meta.insert("lora".to_string(), serde_json::to_string(&self.cfg).unwrap_or_default());
        crate::model::llama::tensors_to_safetensors(&tensors, meta)
    }
}

impl LinearDelta for Lora {
    fn delta(&self, layer: usize, proj: Proj, x: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let Some((a, b)) = self.pairs.get(&(layer, proj)) else { return Ok(None) };
        let xa = crate::model::ops::linear(x, a.as_tensor())?; // (N, r)
        let y = crate::model::ops::linear(&xa, b.as_tensor())?; // (N, out)
        Ok(Some((y * self.scale)?))
    }
}
