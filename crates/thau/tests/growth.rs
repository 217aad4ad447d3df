//! Growth between ages keeps what the model computes: for every preset transition the grown
//! model's logits equal the parent's (f32, max |Δ| ≤ 1e-4), each operator alone does too, the
//! new parameters receive gradient, and AdamW moments land where their weights went.
//!
//! The real ages 0 → 1 → 3 are grown at full size. Ages 3 → 6 → 12 → 15 (400M to 2B
//! parameters, 12 GB of f32 for the last pair alone) are grown on configs with the same
//! heads, kv heads and layers, head_dim 8 instead of 64, FFN width / 8, vocab 256: the same
//! head mapping and depth plan on smaller matrices; `plan::tests` checks that every real
//! preset pair plans to exactly the target preset's shapes.

use candle_core::{Device, Tensor};
use std::collections::HashMap;
use thau::growth::{GrowthMethod, GrowthPlan};
use thau::model::{Age, Llama, ModelConfig};
use thau::train::adamw::{AdamW, AdamWParams};
use thau::train::batch::Batch;
use thau::train::optimizer_step;

const TOL: f32 = 1e-4;

/// A parent that is not at its initialisation: random RMSNorm gains and a larger residual
/// branch, so a wrong gain or ε rescaling would show.
fn parent(cfg: &ModelConfig, seed: u64) -> Llama {
    let m = Llama::new_random(cfg, seed, &Device::Cpu).unwrap();
    let mut s = seed;
    for (name, var) in m.named_vars() {
        let gain = name.ends_with("norm.weight");
        let out_proj = name.contains("o_proj") || name.contains("down_proj");
        map_var(var, |x| {
            s = thau::train::batch::splitmix64(s);
            let u = (s >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
            if gain {
                0.5 + u // gains in [0.5, 1.5)
            } else if out_proj {
                8.0 * x
            } else {
                x
            }
        });
    }
    m
}

/// Replace every value of a parameter by `f(value)`.
fn map_var(var: &candle_core::Var, mut f: impl FnMut(f32) -> f32) {
    let v: Vec<f32> =
        var.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap().into_iter().map(&mut f).collect();
    var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap()).unwrap();
}

fn ids(cfg: &ModelConfig, b: usize, t: usize) -> Tensor {
    let v: Vec<u32> = (0..b * t).map(|i| ((i * 7919 + 13) % cfg.vocab_size) as u32).collect();
    Tensor::from_vec(v, (b, t), &Device::Cpu).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

/// Grow `from` into `to` and compare logits on a fixed batch; returns the child.
fn check_preserved(from: &ModelConfig, to: &ModelConfig, seed: u64) -> Llama {
    let p = parent(from, seed);
    let plan = GrowthPlan::new(from, to, GrowthMethod::Preserve).unwrap();
    let child = plan.grow_model(&p, 7).unwrap();
    assert!(child.cfg.same_architecture(to), "{} → {}: the child has the target's shapes", from.name, to.name);
    let x = ids(from, 2, 12.min(from.max_seq_len));
    let (a, b) = (p.forward(&x).unwrap(), child.forward(&x).unwrap());
    let d = max_abs_diff(&a, &b);
    let scale = a.abs().unwrap().max_keepdim(1).unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap();
    eprintln!("{} → {}: max |Δlogit| {d:.2e} (logits ~{scale:.2})", from.name, to.name);
    assert!(d <= TOL, "{} → {}: logits differ by {d}", from.name, to.name);
    child
}

/// An age preset with head_dim 8 (same heads, kv heads and layers), FFN / 8, vocab 256.
fn scaled(age: u32) -> ModelConfig {
    let c = ModelConfig::age(Age::new(age).unwrap());
    ModelConfig {
        name: format!("age-{age}-scaled"),
        vocab_size: 256,
        head_dim: 8,
        d_model: c.n_heads * 8,
        ffn_hidden: c.ffn_hidden / 8,
        max_seq_len: 64,
        ..c
    }
}

#[test]
fn tiny_and_demo_ladders_keep_their_logits() {
    let tiny = check_preserved(&ModelConfig::tiny(), &ModelConfig::tiny_2(), 1);
    // Grow the grown model again: ε and gains compound correctly.
    let plan = GrowthPlan::new(&tiny.cfg, &ModelConfig::tiny_3(), GrowthMethod::Preserve).unwrap();
    let grandchild = plan.grow_model(&tiny, 9).unwrap();
    let x = ids(&tiny.cfg, 2, 12);
    assert!(max_abs_diff(&tiny.forward(&x).unwrap(), &grandchild.forward(&x).unwrap()) <= TOL);
    check_preserved(&ModelConfig::tiny_2(), &ModelConfig::tiny_3(), 2);
    check_preserved(&ModelConfig::demo(), &ModelConfig::demo_2(), 3);
    // An untied output projection (bench preset's choice) grows too.
    let untied = |c: ModelConfig| ModelConfig { tie_embeddings: false, ..c };
    check_preserved(&untied(ModelConfig::tiny()), &untied(ModelConfig::tiny_2()), 4);
}

#[test]
fn every_age_transition_keeps_its_logits() {
    for pair in thau::model::AGES.windows(2) {
        check_preserved(&scaled(pair[0]), &scaled(pair[1]), pair[0] as u64);
    }
    // The two youngest transitions at their real sizes (18M → 50M → 151M parameters).
    for (a, b) in [(0, 1), (1, 3)] {
        let (from, to) = (ModelConfig::age(Age::new(a).unwrap()), ModelConfig::age(Age::new(b).unwrap()));
        let child = check_preserved(&from, &to, 11);
        assert_eq!(child.cfg.param_count(), to.param_count());
        assert!((child.cfg.norm_eps - from.norm_eps * from.d_model as f64 / to.d_model as f64).abs() < 1e-15);
    }
}

#[test]
fn each_operator_alone_keeps_the_logits() {
    let t = ModelConfig::tiny();
    let mk = |name: &str, f: &dyn Fn(&mut ModelConfig)| {
        let mut c = ModelConfig { name: name.into(), ..t.clone() };
        f(&mut c);
        c
    };
    // One axis at a time (d_model is n_heads · head_dim, so the residual grows with the heads).
    let wider_ffn = mk("ffn", &|c| c.ffn_hidden = 250);
    let more_heads = mk("heads", &|c| {
        c.n_heads = 6;
        c.d_model = 96;
    });
    let more_kv = mk("kv", &|c| c.n_kv_heads = 4); // 2 query heads per kv head → 1
    let deeper = mk("depth", &|c| c.n_layers = 5); // 2 → 5: several identity blocks per gap
    let longer = mk("context", &|c| c.max_seq_len = 512);
    for to in [&wider_ffn, &more_heads, &more_kv, &deeper, &longer] {
        check_preserved(&t, to, 5);
    }
}

#[test]
fn stacking_changes_the_function_but_keeps_the_shapes() {
    let (from, to) = (ModelConfig::tiny(), ModelConfig::tiny_2());
    let p = parent(&from, 1);
    let plan = GrowthPlan::new(&from, &to, GrowthMethod::Stack).unwrap();
    assert!(!plan.preserves_function());
    let child = plan.grow_model(&p, 7).unwrap();
    assert!(child.cfg.same_architecture(&to));
    let x = ids(&from, 2, 12);
    assert!(max_abs_diff(&p.forward(&x).unwrap(), &child.forward(&x).unwrap()) > 1e-3);
}

/// Gradient of the loss for each parameter of `m`.
fn gradients(m: &Llama) -> HashMap<String, Vec<f32>> {
    let x = ids(&m.cfg, 2, 16);
    let y = Tensor::from_vec(
        x.flatten_all()
            .unwrap()
            .to_vec1::<u32>()
            .unwrap()
            .iter()
            .map(|v| (v * 31 + 5) % m.cfg.vocab_size as u32)
            .collect::<Vec<_>>(),
        (2, 16),
        &Device::Cpu,
    )
    .unwrap();
    let g = m.loss(&x, &y).unwrap().backward().unwrap();
    m.named_vars()
        .into_iter()
        .map(|(n, v)| (n, g.get(v.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect()
}

/// Which entries of each child tensor are new: grow a parent whose every weight is NaN.
fn new_entries(plan: &GrowthPlan) -> HashMap<String, Vec<bool>> {
    let p = Llama::new_random(&plan.parent, 1, &Device::Cpu).unwrap();
    for (_, v) in p.named_vars() {
        map_var(v, |_| f32::NAN);
    }
    let c = plan.grow_model(&p, 1).unwrap();
    c.named_vars()
        .into_iter()
        .map(|(n, v)| {
            (n, v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| !x.is_nan()).collect())
        })
        .collect()
}

#[test]
fn new_parameters_receive_gradient() {
    let (from, to) = (ModelConfig::tiny(), ModelConfig::tiny_2());
    let plan = GrowthPlan::new(&from, &to, GrowthMethod::Preserve).unwrap();
    let child = plan.grow_model(&parent(&from, 3), 7).unwrap();
    let fresh = new_entries(&plan);
    let new_block = |name: &str| {
        // Blocks inserted by depth growth are new as a whole.
        plan.layers.iter().enumerate().any(|(j, s)| {
            matches!(s, thau::growth::LayerSource::Identity(_)) && name.starts_with(&format!("model.layers.{j}."))
        })
    };
    let norm_on = |g: &[f32], mask: &dyn Fn(usize) -> bool| -> f32 {
        g.iter().enumerate().filter(|(i, _)| mask(*i)).map(|(_, x)| x * x).sum::<f32>().sqrt()
    };
    // At the moment of growth, the zero-initialised outputs (the "gates") get gradient.
    let g0 = gradients(&child);
    for (name, g) in &g0 {
        let gate = name.contains("o_proj") || name.contains("down_proj") || name.contains("embed_tokens");
        if gate {
            let whole = new_block(name);
            let n = norm_on(g, &|i| whole || fresh[name][i]);
            assert!(n > 0.0, "{name}: no gradient on its new entries right after growth");
        }
    }
    // One AdamW step later every new entry of every tensor is learning.
    let vars = child.named_vars();
    let decay: Vec<bool> = vars.iter().map(|(_, v)| v.rank() >= 2).collect();
    let mut opt = AdamW::new(AdamWParams { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.0 }, &vars);
    let x: Vec<u32> = (0..32u32).map(|i| (i * 37 + 1) % 512).collect();
    let y: Vec<u32> = (0..32u32).map(|i| (i * 11 + 3) % 512).collect();
    let micro = [Batch { inputs: x, targets: y }];
    optimizer_step(&child, &vars, &decay, &mut opt, &micro, (2, 16), 1e-2, 0.0, 0).unwrap();
    let g1 = gradients(&child);
    let mut checked = 0;
    for (name, g) in &g1 {
        let whole = new_block(name);
        if !whole && !fresh[name].iter().any(|&f| f) {
            continue;
        }
        let n = norm_on(g, &|i| whole || fresh[name][i]);
        assert!(n > 0.0, "{name}: its new entries get no gradient");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} tensors had new entries");
}

#[test]
fn moments_follow_their_weights() {
    let (from, to) = (ModelConfig::tiny(), ModelConfig::tiny_2());
    let plan = GrowthPlan::new(&from, &to, GrowthMethod::Preserve).unwrap();
    let p = Llama::new_random(&from, 2, &Device::Cpu).unwrap();
    // Moments equal to the weights themselves (v: their squares) make the mapping visible.
    let mut optim = HashMap::new();
    for (n, v) in p.named_vars() {
        optim.insert(format!("m.{n}"), v.as_tensor().clone());
        optim.insert(format!("v.{n}"), v.as_tensor().sqr().unwrap());
    }
    let parent_for_weights = Llama::from_tensors(
        &from,
        p.named_vars().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect(),
        std::path::Path::new("x"),
    )
    .unwrap();
    let child = plan.grow_model(&parent_for_weights, 7).unwrap();
    let moments: HashMap<String, Tensor> = plan.grow_moments(&optim, &Device::Cpu).unwrap().into_iter().collect();
    let fresh = new_entries(&plan);
    let s = plan.width.gain_scale as f32;
    for (name, w) in child.named_vars() {
        let w = w.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let m = moments[&format!("m.{name}")].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let is_gain = name.ends_with("norm.weight");
        let new_block = plan.layers.iter().enumerate().any(|(j, src)| {
            !matches!(src, thau::growth::LayerSource::Parent(_)) && name.starts_with(&format!("model.layers.{j}."))
        });
        for i in 0..w.len() {
            let want = if new_block || fresh[&name][i] {
                0.0
            } else if is_gain {
                w[i] / (s * s) // weight scaled by s, moment by 1/s
            } else {
                w[i]
            };
            assert!((m[i] - want).abs() <= 1e-6 * want.abs().max(1.0), "{name}[{i}]: moment {} want {want}", m[i]);
        }
    }
}
