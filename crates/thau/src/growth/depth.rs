//! Depth growth: where each block of the grown model comes from.
//!
//! - `preserve` follows LLaMA Pro (Wu et al. 2024, "LLaMA Pro: Progressive LLaMA with Block
//!   Expansion"): new blocks are copies of the block before them with o_proj and down_proj
//!   zeroed. In a pre-norm residual network such a block adds 0 to the residual stream, so it
//!   is the identity, and the gradient reaches its o_proj/down_proj at once (their input is the
//!   copied block's non-zero attention/SwiGLU output), after which the rest of it trains too.
//!   The new blocks are spread evenly between the old ones.
//! - `stack` follows G_stack (Du et al. 2024, "Stacking Your Transformers"): the grown model
//!   repeats the parent's whole stack of blocks (layer j is a full copy of layer j mod L). It
//!   does not preserve the function (the loss jumps, then recovers fast), and is offered
//!   because that paper found it the most token-efficient operator.

use crate::checkpoint::GrowthMethod;

/// Where one child block comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerSource {
    /// The parent's block i, kept (widened).
    Parent(usize),
    /// A copy of the parent's block i with zero o_proj/down_proj: the identity.
    Identity(usize),
    /// A full copy of the parent's block i (G_stack).
    Copy(usize),
}

impl LayerSource {
    pub fn parent_layer(self) -> usize {
        match self {
            LayerSource::Parent(i) | LayerSource::Identity(i) | LayerSource::Copy(i) => i,
        }
    }
}

/// The child's blocks, `child_layers ≥ parent_layers` of them.
pub fn layer_sources(parent_layers: usize, child_layers: usize, method: GrowthMethod) -> Vec<LayerSource> {
    let (l, n) = (parent_layers, child_layers - parent_layers);
    match method {
        GrowthMethod::Stack => {
            (0..child_layers).map(|j| if j < l { LayerSource::Parent(j) } else { LayerSource::Copy(j % l) }).collect()
        }
        GrowthMethod::Preserve => {
            // New block k goes after parent block ⌊(2k+1)·L/(2n)⌋: evenly spaced, centred
            // (several follow one block when n > L).
            let mut after = vec![0usize; l];
            for k in 0..n {
                after[((2 * k + 1) * l / (2 * n)).min(l - 1)] += 1;
            }
            let mut out = Vec::with_capacity(child_layers);
            for (i, &count) in after.iter().enumerate() {
                out.push(LayerSource::Parent(i));
                out.extend(std::iter::repeat_n(LayerSource::Identity(i), count));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_blocks_are_spread_out() {
        use LayerSource::*;
        assert_eq!(
            layer_sources(4, 5, GrowthMethod::Preserve),
            [Parent(0), Parent(1), Parent(2), Identity(2), Parent(3)]
        );
        assert_eq!(
            layer_sources(2, 5, GrowthMethod::Preserve),
            [Parent(0), Identity(0), Parent(1), Identity(1), Identity(1)]
        );
        assert_eq!(layer_sources(3, 5, GrowthMethod::Stack), [Parent(0), Parent(1), Parent(2), Copy(0), Copy(1)]);
        for (l, l2) in [(8, 14), (14, 22), (22, 34), (34, 39), (39, 44), (2, 3), (3, 4)] {
            let s = layer_sources(l, l2, GrowthMethod::Preserve);
            assert_eq!(s.len(), l2);
            let kept: Vec<usize> = s.iter().filter_map(|x| if let Parent(i) = x { Some(*i) } else { None }).collect();
            assert_eq!(kept, (0..l).collect::<Vec<_>>());
        }
    }
}
