//! Function-preserving width growth: a wider residual stream, more attention heads (head_dim
//! fixed, grouped-query kv heads included) and more SwiGLU units, for any growth factor.
//!
//! The parent's units keep their weights; every new unit is *fresh* rather than a Net2Net
//! duplicate (Chen et al. 2016, "Net2Net"; bert2BERT, Chen et al. 2022, and LEMON, Wang et
//! al. 2023, duplicate and split): its incoming weights are random (N(0, 0.02), seeded) and its
//! outgoing weights are zero, the "zero the output, randomise the input" choice LEMON and
//! HyperCloning (Samragh et al. 2024) use to keep the function while breaking symmetry. That
//! makes non-integer factors exact (no unit is split into unequal shares) and needs no noise.
//!
//! Why the logits stay the same (parent width C, child C' ≥ C):
//! - **Residual stream.** New embedding columns and new rows of o_proj/down_proj are zero, so
//!   the child's residual is x' = [x, 0] at every layer.
//! - **RMSNorm.** mean(x'²) = (C/C')·mean(x²). With gains g' = g·√(C/C') and ε' = ε·C/C',
//!   x'ᵢ·g'ᵢ / √(mean(x'²) + ε') = xᵢ·gᵢ·√(C/C') / √((C/C')(mean(x²) + ε)) = xᵢ·gᵢ / √(mean(x²) + ε),
//!   exactly; the new dimensions' outputs are 0·g' = 0. The child's `norm_eps` therefore
//!   becomes ε·C/C' (not its preset's), which is why configs compare with `same_architecture`.
//! - **Matrices that read the residual** (q/k/v/gate/up, an untied lm_head): new input columns
//!   multiply zeros, so they may be random, and are: that is what lets gradient reach the new
//!   dimensions. Tied embeddings are both reader and writer: their new columns must be 0.
//! - **New heads and FFN units** compute something, but their o_proj/down_proj columns are 0.
//! - **GQA.** Query head h reads kv head h / (H/KV). When the group size changes (age 0 has 3
//!   query heads per kv head, age 1 has 2), each parent kv head is copied into as many child kv
//!   slots as its query heads need, and the query heads are placed (o_proj columns moved with
//!   them) so that each still reads a copy of its own kv head.
//!
//! The gradients of the old parameters are unchanged at the moment of growth (the backward
//! pass sees the same numbers), which is why their AdamW moments carry over (see `plan`).

use crate::error::{Error, Result};
use crate::model::ModelConfig;

/// Where each child index comes from: `Some(i)` = the parent's index i, `None` = new.
pub type IndexMap = Vec<Option<usize>>;

/// Index maps of a width growth, one per axis a tensor can have.
#[derive(Debug, Clone)]
pub struct WidthMap {
    /// Residual-stream dimensions (C'): the first C are the parent's.
    pub resid: IndexMap,
    /// Query heads (H'): child head → parent head.
    pub q_heads: IndexMap,
    /// Key/value heads (KV'): child kv head → parent kv head (copies allowed).
    pub kv_heads: IndexMap,
    /// SwiGLU units (F'): the first F are the parent's.
    pub ffn: IndexMap,
    pub head_dim: usize,
    /// √(C/C'): the factor on RMSNorm gains (and ε is multiplied by C/C').
    pub gain_scale: f64,
}

/// `0..old` then `new - old` new entries.
fn prefix(old: usize, new: usize) -> IndexMap {
    (0..new).map(|i| (i < old).then_some(i)).collect()
}

impl WidthMap {
    /// The maps from `parent` to `child` widths, or why no function-preserving map exists.
    pub fn new(parent: &ModelConfig, child: &ModelConfig) -> Result<Self> {
        let bad = |why: String| {
            Err(Error::invalid(format!("growth {} → {}", parent.name, child.name), format!("{why}: not a growth")))
        };
        if child.d_model < parent.d_model || child.ffn_hidden < parent.ffn_hidden || child.n_heads < parent.n_heads {
            return bad(format!(
                "the target is narrower (d_model {} → {}, ffn {} → {}, heads {} → {})",
                parent.d_model, child.d_model, parent.ffn_hidden, child.ffn_hidden, parent.n_heads, child.n_heads
            ));
        }
        if child.head_dim != parent.head_dim {
            return bad(format!("head_dim changes ({} → {}); growth adds heads", parent.head_dim, child.head_dim));
        }
        let (rep, rep2) = (parent.n_heads / parent.n_kv_heads, child.n_heads / child.n_kv_heads);
        // Each parent kv head serves `rep` query heads; one child kv slot serves `rep2`.
        let copies = rep.div_ceil(rep2);
        if parent.n_kv_heads * copies > child.n_kv_heads {
            return bad(format!(
                "{} kv heads with {rep} query heads each need {} kv heads at {rep2} query heads per kv head, the target has {}",
                parent.n_kv_heads,
                parent.n_kv_heads * copies,
                child.n_kv_heads
            ));
        }
        // Parent kv head g → child kv slots g·copies .. g·copies + copies; the rest are new.
        let kv_heads: IndexMap =
            (0..child.n_kv_heads).map(|s| (s < parent.n_kv_heads * copies).then_some(s / copies)).collect();
        // Parent query head h = g·rep + i goes to copy i / rep2 of kv head g, position i % rep2.
        let mut q_heads: IndexMap = vec![None; child.n_heads];
        for h in 0..parent.n_heads {
            let (g, i) = (h / rep, h % rep);
            let slot = g * copies + i / rep2;
            q_heads[slot * rep2 + i % rep2] = Some(h);
        }
        Ok(Self {
            resid: prefix(parent.d_model, child.d_model),
            q_heads,
            kv_heads,
            ffn: prefix(parent.ffn_hidden, child.ffn_hidden),
            head_dim: parent.head_dim,
            gain_scale: (parent.d_model as f64 / child.d_model as f64).sqrt(),
        })
    }

    /// Row map of a head-major projection (q or k/v): child row p·D + e ← parent row h·D + e.
    pub fn head_rows(&self, heads: &IndexMap) -> IndexMap {
        let d = self.head_dim;
        heads.iter().flat_map(|h| (0..d).map(move |e| h.map(|h| h * d + e))).collect()
    }
}

/// How the entries a map marks as new are filled.
#[derive(Debug, Clone, Copy)]
pub enum Fill {
    Zero,
    /// A constant (new RMSNorm gains: √(C/C'), like the rescaled old ones).
    Const(f32),
    /// N(0, std) from the given generator.
    Normal(f64),
}

/// Grow a row-major (R, C) matrix to (R', C') = (rows.len(), cols.len()): an entry whose row
/// and column both map to the parent is copied (times `scale`), any other is `fill`ed.
pub fn grow_matrix(
    parent: &[f32],
    parent_cols: usize,
    rows: &IndexMap,
    cols: &IndexMap,
    scale: f32,
    fill: Fill,
    rng: &mut Normal,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * cols.len());
    for r in rows {
        for c in cols {
            out.push(match (r, c) {
                (Some(r), Some(c)) => parent[r * parent_cols + c] * scale,
                _ => match fill {
                    Fill::Zero => 0.0,
                    Fill::Const(x) => x,
                    Fill::Normal(std) => rng.sample(std),
                },
            });
        }
    }
    out
}

/// A seeded N(0, σ) stream (SplitMix64 + Box–Muller): the same growth seed gives the same
/// child on every machine, so a killed `thau train --schedule` regrows identically.
pub struct Normal {
    state: u64,
    spare: Option<f64>,
}

impl Normal {
    pub fn new(seed: u64) -> Self {
        Self { state: seed, spare: None }
    }
    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn sample(&mut self, std: f64) -> f32 {
        if let Some(z) = self.spare.take() {
            return (z * std) as f32;
        }
        let u1 = self.uniform().max(f64::EPSILON);
        let a = 2.0 * std::f64::consts::PI * self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        self.spare = Some(r * a.sin());
        (r * a.cos() * std) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Age;

    fn cfg(h: usize, kv: usize) -> ModelConfig {
        ModelConfig { n_heads: h, n_kv_heads: kv, d_model: h * 64, ..ModelConfig::age(Age::new(0).unwrap()) }
    }

    /// Every parent query head lands on a child slot whose kv head is a copy of its own.
    #[test]
    fn query_heads_keep_their_kv_head() {
        for ((h, kv), (h2, kv2)) in
            [((6, 2), (8, 4)), ((8, 4), (12, 4)), ((16, 4), (24, 8)), ((4, 2), (6, 2)), ((6, 2), (8, 4))]
        {
            let m = WidthMap::new(&cfg(h, kv), &cfg(h2, kv2)).unwrap();
            let mut seen = vec![false; h];
            for (p, src) in m.q_heads.iter().enumerate() {
                if let Some(src) = src {
                    assert!(!seen[*src]);
                    seen[*src] = true;
                    assert_eq!(m.kv_heads[p / (h2 / kv2)], Some(src / (h / kv)), "{h}/{kv} → {h2}/{kv2}");
                }
            }
            assert!(seen.iter().all(|&s| s));
        }
        // 3 query heads per kv head need 2 slots of 2 each: 4 kv heads, and the target has 3.
        assert!(WidthMap::new(&cfg(6, 2), &cfg(6, 3)).is_err());
    }
}
