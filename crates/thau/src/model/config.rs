//! Model hyperparameters as a plain serde struct with named presets (`tiny`, the ages, the
//! benchmark config). The config is saved as `config.json` beside every checkpoint's weights.

use super::age::{Age, Preset};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Default vocabulary for the age presets. Growth keeps the tokenizer, so every age of a run
/// shares one vocabulary; 16384 byte-level BPE tokens suit a bilingual es/en corpus and keep
/// the embedding a modest share of the youngest model.
pub const DEFAULT_VOCAB: usize = 16384;

/// Llama-architecture hyperparameters. `d_model == n_heads * head_dim` always holds; growth
/// keeps `head_dim` fixed and adds heads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Preset this config came from ("tiny", "age-3", "bench", …), for humans and provenance.
    pub name: String,
    pub vocab_size: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub ffn_hidden: usize,
    pub max_seq_len: usize,
    pub rope_theta: f64,
    pub norm_eps: f64,
    pub tie_embeddings: bool,
}

impl ModelConfig {
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: &str,
        d_model: usize,
        n_layers: usize,
        n_heads: usize,
        n_kv_heads: usize,
        ffn_hidden: usize,
        max_seq_len: usize,
    ) -> Self {
        Self {
            name: name.to_string(),
            vocab_size: DEFAULT_VOCAB,
            d_model,
            n_layers,
            n_heads,
            n_kv_heads,
            head_dim: d_model / n_heads,
            ffn_hidden,
            max_seq_len,
            rope_theta: 10_000.0,
            norm_eps: 1e-5,
            tie_embeddings: true,
        }
    }

    /// A very small model for tests and the quick demo (about 0.2M parameters + embeddings).
    pub fn tiny() -> Self {
        Self { vocab_size: 512, ..Self::new("tiny", 64, 2, 4, 2, 172, 256) }
    }

    /// The second and third rungs of the tiny growth ladder (tests of `thau train --schedule`):
    /// width ×1.5 then ×1.33, kv heads 2 → 2 → 4 (query heads per kv head 2 → 3 → 2).
    pub fn tiny_2() -> Self {
        Self { vocab_size: 512, ..Self::new("tiny-2", 96, 3, 6, 2, 256, 256) }
    }
    pub fn tiny_3() -> Self {
        Self { vocab_size: 512, ..Self::new("tiny-3", 128, 4, 8, 4, 344, 256) }
    }

    /// The demo model: small enough to learn the embedded data in a few minutes on 2 cores.
    /// Its context (512) holds the system prompt listing the six built-in tools, a request and
    /// the call, which the demo fine-tunes it on; RoPE has no learned positions, so the longer
    /// context costs no parameters.
    pub fn demo() -> Self {
        Self { vocab_size: 2048, ..Self::new("demo", 128, 4, 4, 2, 344, 512) }
    }

    /// About 2.2× the demo model (width ×1.5, 5 layers instead of 4): what `demo` grows into
    /// in the growth benchmark (bench/growth.sh).
    pub fn demo_2() -> Self {
        Self { vocab_size: 2048, ..Self::new("demo-2", 192, 5, 6, 2, 448, 512) }
    }

    /// A small model whose every matrix row is a multiple of 256 values, so GGUF export
    /// really quantizes each one (q8_0 blocks are 32, q4_k 256); for export tests.
    pub fn export_test() -> Self {
        Self { vocab_size: 512, ..Self::new("export-test", 256, 2, 4, 2, 512, 256) }
    }

    /// The benchmark config shared with the PyTorch baseline (bench/): 7.36M parameters,
    /// untied output projection as in ../shared/ANCHORS.md.
    pub fn bench() -> Self {
        Self { vocab_size: 8192, tie_embeddings: false, ..Self::new("bench", 256, 4, 4, 4, 688, 256) }
    }

    /// The preset of an age: 0, 1, 3, 6, 12, 15 at about 18M, 50M, 150M, 400M, 1B, 2B
    /// parameters (with the default vocabulary, tied embeddings). head_dim is 64 throughout.
    pub fn age(age: Age) -> Self {
        let name = Preset::Age(age).to_string();
        match age.get() {
            0 => Self::new(&name, 384, 8, 6, 2, 1024, 1024),
            1 => Self::new(&name, 512, 14, 8, 4, 1408, 1024),
            3 => Self::new(&name, 768, 22, 12, 4, 2048, 2048),
            6 => Self::new(&name, 1024, 34, 16, 4, 2816, 2048),
            12 => Self::new(&name, 1536, 39, 24, 8, 4096, 4096),
            15 => Self::new(&name, 2048, 44, 32, 8, 5632, 4096),
            n => unreachable!("Age is checked against the ladder, and {n} is not on it"),
        }
    }

    /// The config of a preset.
    pub fn of(preset: Preset) -> Self {
        match preset {
            Preset::Tiny => Self::tiny(),
            Preset::Tiny2 => Self::tiny_2(),
            Preset::Tiny3 => Self::tiny_3(),
            Preset::Demo => Self::demo(),
            Preset::Demo2 => Self::demo_2(),
            Preset::Bench => Self::bench(),
            Preset::ExportTest => Self::export_test(),
            Preset::Age(a) => Self::age(a),
        }
    }

    /// Look a preset up by name: "tiny", "demo", "bench", "age-N" or just "N" (see [`Preset`]).
    pub fn preset(name: &str) -> Result<Self> {
        name.parse::<Preset>().map(Self::of)
    }

    /// Check internal consistency (used on every config loaded from disk).
    pub fn validate(&self) -> Result<()> {
        let bad = |r: String| Err(Error::invalid(format!("model config '{}'", self.name), r));
        if self.vocab_size == 0 || self.d_model == 0 || self.n_layers == 0 || self.n_heads == 0 || self.ffn_hidden == 0
        {
            return bad("sizes must be positive".into());
        }
        if self.n_heads * self.head_dim != self.d_model {
            return bad(format!("n_heads {} × head_dim {} != d_model {}", self.n_heads, self.head_dim, self.d_model));
        }
        if self.n_kv_heads == 0 || !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return bad(format!("n_heads {} is not a multiple of n_kv_heads {}", self.n_heads, self.n_kv_heads));
        }
        if !self.head_dim.is_multiple_of(2) {
            return bad(format!("head_dim {} must be even for RoPE", self.head_dim));
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if self.max_seq_len == 0 || !positive(self.norm_eps) || !positive(self.rope_theta) {
            return bad("max_seq_len, norm_eps and rope_theta must be positive".into());
        }
        Ok(())
    }

    /// Same tensors and arithmetic apart from `norm_eps`, which function-preserving width
    /// growth rescales (see `growth::width`): a grown age keeps its preset's shapes.
    pub fn same_architecture(&self, other: &Self) -> bool {
        Self { norm_eps: other.norm_eps, ..self.clone() } == *other
    }

    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Exact number of parameters.
    pub fn param_count(&self) -> usize {
        let (c, f) = (self.d_model, self.ffn_hidden);
        let attn = c * c * 2 + c * self.kv_dim() * 2; // q, o, k, v
        let mlp = 3 * c * f;
        let block = attn + mlp + 2 * c; // + two RMSNorm gains
        let emb = self.vocab_size * c;
        let head = if self.tie_embeddings { 0 } else { emb };
        emb + head + self.n_layers * block + c
    }

    /// Parameters outside the embedding table (the usual "N" in FLOP estimates).
    pub fn non_embedding_params(&self) -> usize {
        self.param_count() - self.vocab_size * self.d_model
    }

    /// Training FLOPs per token as in the PaLM/nanoGPT MFU formula: 6·N for the matmuls
    /// (forward + backward; N excludes the input embedding table but includes the output
    /// projection, which a tied model shares) plus 12·L·T·C for attention scores and values.
    pub fn train_flops_per_token(&self, seq_len: usize) -> f64 {
        let n = (self.param_count() - if self.tie_embeddings { 0 } else { self.vocab_size * self.d_model }) as f64;
        6.0 * n + 12.0 * (self.n_layers * seq_len * self.d_model) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_hit_their_sizes() {
        let want = [(0, 18e6), (1, 50e6), (3, 150e6), (6, 400e6), (12, 1e9), (15, 2e9)];
        for (age, n) in want {
            let cfg = ModelConfig::age(Age::new(age).unwrap());
            cfg.validate().unwrap();
            assert_eq!(cfg.head_dim, 64);
            let p = cfg.param_count() as f64;
            assert!((p / n - 1.0).abs() < 0.1, "age {age}: {p} params, want about {n}");
        }
    }

    #[test]
    fn bench_config_matches_the_baseline() {
        // PyTorch side: 7.36M parameters with d 256, 4 layers, SwiGLU 688, vocab 8192, untied.
        let p = ModelConfig::bench().param_count();
        assert_eq!(p, 2 * 8192 * 256 + 4 * (4 * 256 * 256 + 3 * 256 * 688 + 2 * 256) + 256);
        assert_eq!(p, 7_358_720);
    }

    #[test]
    fn presets_by_name() {
        for name in ["tiny", "tiny-2", "tiny-3", "demo", "demo-2", "bench", "export-test", "age-0", "age-15"] {
            let p: Preset = name.parse().unwrap();
            assert_eq!(p.to_string(), name);
            assert_eq!(ModelConfig::of(p).name, name);
        }
        assert_eq!(ModelConfig::preset("3").unwrap().name, "age-3");
        let err = ModelConfig::preset("age-2").unwrap_err().to_string();
        assert!(err.contains("tiny, tiny-2") && err.contains("0, 1, 3, 6, 12, 15"), "{err}");
        assert!(ModelConfig::preset("huge").is_err());
        let mut c = ModelConfig::tiny();
        c.n_kv_heads = 3;
        assert!(c.validate().is_err());
    }
}
