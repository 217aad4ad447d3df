//! A growth plan: how every tensor of a grown (child) model is made from the parent's, for any
//! pair of presets whose shapes only grow (width with `width`, depth with `depth`). The same
//! plan grows the weights and the AdamW moments, so training continues with its statistics.

use super::depth::{layer_sources, LayerSource};
use super::width::{grow_matrix, Fill, IndexMap, Normal, WidthMap};
use crate::checkpoint::GrowthMethod;
use crate::error::{Error, Result};
use crate::model::llama::{param_specs, Init};
use crate::model::{Llama, ModelConfig};
use crate::train::batch::splitmix64;
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// Parent → child, checked: the child config (with its rescaled `norm_eps`), the width maps
/// and the source of every block.
#[derive(Debug, Clone)]
pub struct GrowthPlan {
    pub parent: ModelConfig,
    /// The target preset's shapes, with `norm_eps = parent ε · C/C'` (see `width`).
    pub child: ModelConfig,
    pub method: GrowthMethod,
    pub width: WidthMap,
    pub layers: Vec<LayerSource>,
}

/// How one child tensor is made from one parent tensor.
struct Rule {
    parent: String,
    rows: IndexMap,
    /// None for a vector (RMSNorm gain).
    cols: Option<IndexMap>,
    /// Multiplier on copied entries (RMSNorm gains: √(C/C')).
    scale: f32,
    /// Fill for new entries of the weights.
    fill: Fill,
    /// A new tensor in the child (identity/copied block): moments start at zero.
    new_param: bool,
    /// Weight is all zeros (o_proj/down_proj of an identity block).
    zero: bool,
}

impl GrowthPlan {
    /// Plan the growth of `parent` into `target`'s shapes, or say why it is not a growth.
    pub fn new(parent: &ModelConfig, target: &ModelConfig, method: GrowthMethod) -> Result<Self> {
        parent.validate()?;
        target.validate()?;
        let what = format!("growth {} → {}", parent.name, target.name);
        let same = |field: &str, a: String, b: String| -> Result<()> {
            if a == b {
                Ok(())
            } else {
                Err(Error::invalid(&what, format!("{field} differs ({a} vs {b}); growth keeps it")))
            }
        };
        same("vocab_size", parent.vocab_size.to_string(), target.vocab_size.to_string())?;
        same("rope_theta", parent.rope_theta.to_string(), target.rope_theta.to_string())?;
        same("tie_embeddings", parent.tie_embeddings.to_string(), target.tie_embeddings.to_string())?;
        if target.n_layers < parent.n_layers {
            return Err(Error::invalid(
                &what,
                format!("the target has fewer layers ({} < {}): not a growth", target.n_layers, parent.n_layers),
            ));
        }
        let width = WidthMap::new(parent, target)?;
        let mut child = target.clone();
        child.norm_eps = parent.norm_eps * parent.d_model as f64 / target.d_model as f64;
        child.max_seq_len = target.max_seq_len.max(parent.max_seq_len);
        let layers = layer_sources(parent.n_layers, target.n_layers, method);
        Ok(Self { parent: parent.clone(), child, method, width, layers })
    }

    /// Whether the child computes exactly the parent's function.
    pub fn preserves_function(&self) -> bool {
        self.method == GrowthMethod::Preserve
    }

    fn rule(&self, child_name: &str, init: Init) -> Result<Rule> {
        let w = &self.width;
        let vocab: IndexMap = (0..self.child.vocab_size).map(Some).collect();
        let std = match init {
            Init::Normal(s) => s,
            Init::Ones => 0.0,
        };
        let gain = |parent: String, new_param: bool| Rule {
            parent,
            rows: w.resid.clone(),
            cols: None,
            scale: w.gain_scale as f32,
            fill: Fill::Const(w.gain_scale as f32),
            new_param,
            zero: false,
        };
        let matrix = |parent: String, rows: IndexMap, cols: IndexMap, fill: Fill| Rule {
            parent,
            rows,
            cols: Some(cols),
            scale: 1.0,
            fill,
            new_param: false,
            zero: false,
        };
        match child_name {
            "model.embed_tokens.weight" => return Ok(matrix(child_name.into(), vocab, w.resid.clone(), Fill::Zero)),
            "lm_head.weight" => return Ok(matrix(child_name.into(), vocab, w.resid.clone(), Fill::Normal(std))),
            "model.norm.weight" => return Ok(gain(child_name.into(), false)),
            _ => {}
        }
        let bad = || Error::invalid("growth", format!("unexpected tensor {child_name}"));
        let rest = child_name.strip_prefix("model.layers.").ok_or_else(bad)?;
        let (j, suffix) = rest.split_once('.').ok_or_else(bad)?;
        let j: usize = j.parse().map_err(|_| bad())?;
        let src = *self.layers.get(j).ok_or_else(bad)?;
        let parent = format!("model.layers.{}.{suffix}", src.parent_layer());
        let new_param = !matches!(src, LayerSource::Parent(_));
        let (q_rows, kv_rows) = (w.head_rows(&w.q_heads), w.head_rows(&w.kv_heads));
        let mut rule = match suffix {
            "input_layernorm.weight" | "post_attention_layernorm.weight" => gain(parent, new_param),
            "self_attn.q_proj.weight" => matrix(parent, q_rows, w.resid.clone(), Fill::Normal(std)),
            "self_attn.k_proj.weight" | "self_attn.v_proj.weight" => {
                matrix(parent, kv_rows, w.resid.clone(), Fill::Normal(std))
            }
            "self_attn.o_proj.weight" => matrix(parent, w.resid.clone(), q_rows, Fill::Zero),
            "mlp.gate_proj.weight" | "mlp.up_proj.weight" => {
                matrix(parent, w.ffn.clone(), w.resid.clone(), Fill::Normal(std))
            }
            "mlp.down_proj.weight" => matrix(parent, w.resid.clone(), w.ffn.clone(), Fill::Zero),
            _ => return Err(bad()),
        };
        rule.new_param = new_param;
        rule.zero = matches!(src, LayerSource::Identity(_))
            && matches!(suffix, "self_attn.o_proj.weight" | "mlp.down_proj.weight");
        Ok(rule)
    }

    /// The child's tensors, in `param_specs` order, made by `make(rule, parent tensor, seed)`.
    fn each_tensor(
        &self,
        parent: &HashMap<String, Tensor>,
        mut make: impl FnMut(&Rule, &[f32], usize) -> Vec<f32>,
        device: &Device,
        prefix: &str,
    ) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for spec in param_specs(&self.child) {
            let rule = self.rule(&spec.name, spec.init)?;
            let key = format!("{prefix}{}", rule.parent);
            let p =
                parent.get(&key).ok_or_else(|| Error::invalid("growth", format!("the parent has no tensor {key}")))?;
            let parent_cols = if rule.cols.is_some() { p.dim(1)? } else { 1 };
            let data = p.flatten_all()?.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
            let values = make(&rule, &data, parent_cols);
            out.push((spec.name.clone(), Tensor::from_vec(values, spec.shape.as_slice(), device)?));
        }
        Ok(out)
    }

    /// The grown model. New random entries come from `seed` (and the tensor's name), so the
    /// same parent and seed always give the same child.
    pub fn grow_model(&self, parent: &Llama, seed: u64) -> Result<Llama> {
        if !parent.cfg.same_architecture(&self.parent) {
            return Err(Error::invalid("growth", format!("the model is not a '{}'", self.parent.name)));
        }
        let tensors: HashMap<String, Tensor> =
            parent.named_vars().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
        let grown = self.each_tensor(
            &tensors,
            |rule, data, parent_cols| {
                let mut rng = Normal::new(seed ^ name_hash(&rule.parent) ^ 0x6772_6f77);
                let cols = rule.cols.clone().unwrap_or(vec![Some(0)]);
                let mut v = grow_matrix(data, parent_cols, &rule.rows, &cols, rule.scale, rule.fill, &mut rng);
                if rule.zero {
                    v.iter_mut().for_each(|x| *x = 0.0);
                }
                v
            },
            parent.device(),
            "",
        )?;
        let mut model = Llama::from_tensors(&self.child, grown.into_iter().collect(), Path::new("<grown model>"))?;
        model.matmul = parent.matmul;
        Ok(model)
    }

    /// Grown AdamW moments (`m.<name>`, `v.<name>` as the trainer saves them): the parent's
    /// entries carried to their new places, zero for every new entry and new block. A
    /// gradient of an RMSNorm gain scales by 1/√(C/C') when the gain scales by √(C/C'), so
    /// its m and v are rescaled to match.
    pub fn grow_moments(&self, parent: &HashMap<String, Tensor>, device: &Device) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for (which, power) in [("m.", 1), ("v.", 2)] {
            let grown = self.each_tensor(
                parent,
                |rule, data, parent_cols| {
                    let cols = rule.cols.clone().unwrap_or(vec![Some(0)]);
                    if rule.new_param {
                        return vec![0.0; rule.rows.len() * cols.len()];
                    }
                    let scale = if rule.cols.is_none() { (1.0 / rule.scale).powi(power) } else { 1.0 };
                    grow_matrix(data, parent_cols, &rule.rows, &cols, scale, Fill::Zero, &mut Normal::new(0))
                },
                device,
                which,
            )?;
            out.extend(grown.into_iter().map(|(n, t)| (format!("{which}{n}"), t)));
        }
        Ok(out)
    }
}

/// A stable 64-bit hash of a tensor name (seeds its new entries).
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| splitmix64(h ^ b as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Age;

    /// Every preset transition plans to exactly the target preset's shapes.
    #[test]
    fn every_preset_transition_has_a_valid_plan() {
        let mut ladders: Vec<Vec<ModelConfig>> = vec![
            Age::all().map(ModelConfig::age).collect(),
            vec![ModelConfig::tiny(), ModelConfig::tiny_2(), ModelConfig::tiny_3()],
            vec![ModelConfig::demo(), ModelConfig::demo_2()],
        ];
        for ladder in &mut ladders {
            for pair in ladder.windows(2) {
                for method in [GrowthMethod::Preserve, GrowthMethod::Stack] {
                    let plan = GrowthPlan::new(&pair[0], &pair[1], method).unwrap();
                    assert!(plan.child.same_architecture(&pair[1]));
                    // Rule shapes equal the target's tensor shapes.
                    for spec in param_specs(&pair[1]) {
                        let rule = plan.rule(&spec.name, spec.init).unwrap();
                        let shape: Vec<usize> =
                            std::iter::once(rule.rows.len()).chain(rule.cols.as_ref().map(|c| c.len())).collect();
                        assert_eq!(shape, spec.shape, "{} → {}: {}", pair[0].name, pair[1].name, spec.name);
                    }
                }
            }
        }
        assert!(GrowthPlan::new(
            &ModelConfig::age(Age::new(1).unwrap()),
            &ModelConfig::age(Age::new(0).unwrap()),
            GrowthMethod::Preserve
        )
        .is_err());
        assert!(GrowthPlan::new(&ModelConfig::tiny(), &ModelConfig::age(Age::new(0).unwrap()), GrowthMethod::Preserve)
            .is_err());
    }
}
