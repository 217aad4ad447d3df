//! Fused CPU ops with a real backward pass. candle 0.11's own fused `rms_norm`, `rope` and
//! `softmax_last_dim` have no backward (gradients silently stop), so training uses these.
//! Each op has a `*_reference` built from basic candle ops: the slow reference the tests
//! compare against, and the path on non-CPU devices.

pub(crate) mod kernel;

mod attention;
mod cross_entropy;
pub mod gemm;
mod linear;
mod rmsnorm;
mod rope;
mod swiglu;

pub use attention::{causal_attention, causal_attention_reference};
pub use cross_entropy::{cross_entropy, cross_entropy_eval, cross_entropy_reference, IGNORE};
pub use linear::{linear, linear_reference, linear_with};
pub use rmsnorm::{rms_norm, rms_norm_reference};
pub use rope::{rope, rope_reference, RopeTables};
pub use swiglu::{swiglu, swiglu_reference};
