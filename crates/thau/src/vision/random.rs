//! Pipelines with random weights, for tests and benchmarks: no Stable Diffusion weights can be
//! had from the package registries, but the compute of a random SD 1.5 is the real model's,
//! and a tiny random pipeline written in the diffusers layout exercises every file the loader
//! reads.
//!
//! Two candle `VarBuilder` backends:
//! - [`RandomWeights`] makes each tensor when a network asks for it, with the network's own
//!   initialiser (and can keep them for saving);
//! - [`ShapesOnly`] hands out zero-stride views of one zero, so building even the 860M-parameter
//!   UNet costs no memory, and records each tensor's name and shape.

use super::clip_tokenizer::{write_small_tokenizer, ClipTokenizer};
use super::config::PipelineConfig;
use super::pipeline::{ImagePipeline, LoadOptions, Weights};
use crate::error::{Error, Result};
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Tensors made on request with the requesting layer's initialiser.
#[derive(Clone, Default)]
pub struct RandomWeights {
    kept: Option<Arc<Mutex<HashMap<String, Tensor>>>>,
}

impl RandomWeights {
    /// Tensors that are not kept (benchmarks).
    pub fn new() -> Self {
        Self { kept: None }
    }
    /// Tensors kept for [`save`](Self::save).
    pub fn keeping() -> Self {
        Self { kept: Some(Arc::default()) }
    }
    /// Write the kept tensors as one safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let kept = self.kept.as_ref().ok_or_else(|| Error::invalid("random weights", "made without keeping"))?;
        let map = kept.lock().map_err(|_| Error::invalid("random weights", "poisoned"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        candle_core::safetensors::save(&*map, path)?;
        Ok(())
    }
}

impl SimpleBackend for RandomWeights {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        if let Some(kept) = &self.kept {
            if let Some(t) = kept.lock().expect("not poisoned").get(name) {
                return t.to_dtype(dtype);
            }
        }
        // Draw in f32 (the initialisers' native type), store in the asked dtype. Detached: a
        // `Var` would make every forward pass record its graph for backprop, keeping each
        // step's activations alive (an SD 1.5 benchmark grew past 20 GB before this).
        let t = h.var(s, DType::F32, dev)?.as_tensor().detach().to_dtype(dtype)?;
        if let Some(kept) = &self.kept {
            kept.lock().expect("not poisoned").insert(name.to_string(), t.clone());
        }
        Ok(t)
    }
    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("random weights have no tensor {name} of unknown shape")
    }
    fn contains_tensor(&self, name: &str) -> bool {
        // The VAE's attention asks which naming a file uses: write diffusers' current names.
        name.ends_with("to_q.weight")
    }
}

/// A tensor's name and shape, as recorded.
pub type NamedShape = (String, Vec<usize>);

/// Zero-cost stand-ins that record the name and shape of every tensor asked for.
#[derive(Clone, Default)]
pub struct ShapesOnly {
    pub shapes: Arc<Mutex<Vec<NamedShape>>>,
}

impl ShapesOnly {
    /// Parameters asked for so far.
    pub fn parameter_count(&self) -> usize {
        self.shapes.lock().expect("not poisoned").iter().map(|(_, s)| s.iter().product::<usize>()).sum()
    }
    /// The shape of `name`, if it was asked for.
    pub fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        self.shapes.lock().expect("not poisoned").iter().find(|(n, _)| n == name).map(|(_, s)| s.clone())
    }
}

impl SimpleBackend for ShapesOnly {
    fn get(&self, s: Shape, name: &str, _h: Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        // Some layers ask twice for one tensor (candle's VAE attention probes its shape first).
        let mut shapes = self.shapes.lock().expect("not poisoned");
        if !shapes.iter().any(|(n, _)| n == name) {
            shapes.push((name.to_string(), s.dims().to_vec()));
        }
        Tensor::zeros((), dtype, dev)?.broadcast_as(s)
    }
    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("shapes-only weights have no tensor {name} of unknown shape")
    }
    fn contains_tensor(&self, name: &str) -> bool {
        name.ends_with("to_q.weight")
    }
}

/// Words the small test tokenizer spells as whole tokens.
pub const TEST_WORDS: &[&str] = &["a", "photo", "of", "cat", "dog", "red", "blue", "blurry", "ugly"];

/// A pipeline of `config`'s shape with random weights, built in memory (benchmarks: the real
/// SD 1.5 configuration costs what the real model costs). The tokenizer is the small test one,
/// padded to the text encoder's vocabulary.
pub fn random_pipeline(config: &PipelineConfig, opts: &LoadOptions, scratch: &Path) -> Result<ImagePipeline> {
    write_small_tokenizer(&scratch.join("tokenizer"), TEST_WORDS, config.text_encoder.vocab_size)?;
    let tokenizer = ClipTokenizer::load(&scratch.join("tokenizer"))?;
    let vb = |_: ()| VarBuilder::from_backend(Box::new(RandomWeights::new()), opts.dtype, opts.device.clone());
    let weights = Weights { text_encoder: vb(()), unet: vb(()), vae: vb(()) };
    let paths = [PathBuf::from("random/text_encoder"), PathBuf::from("random/unet"), PathBuf::from("random/vae")];
    ImagePipeline::build(config.clone(), tokenizer, weights, "random", opts, &paths)
}

/// Write a complete diffusers-layout folder with random weights of `config`'s shape: the
/// three networks' `config.json` and safetensors, the scheduler config and a small tokenizer.
/// `config`'s text-encoder vocabulary must hold at least the small tokenizer (about 560 tokens).
pub fn write_random_pipeline(dir: &Path, config: &PipelineConfig) -> Result<()> {
    let vocab = write_small_tokenizer(&dir.join("tokenizer"), TEST_WORDS, config.text_encoder.vocab_size)?;
    if vocab > config.text_encoder.vocab_size {
        return Err(Error::invalid(
            "vocab_size",
            format!("{} is below the test tokenizer's {vocab}", config.text_encoder.vocab_size),
        ));
    }
    let dev = Device::Cpu;
    std::fs::create_dir_all(dir.join("scheduler")).map_err(|e| Error::io(dir, e))?;
    let clip = RandomWeights::keeping();
    candle_transformers::models::clip::text_model::ClipTextTransformer::new(
        VarBuilder::from_backend(Box::new(clip.clone()), DType::F32, dev.clone()).pp("text_model"),
        &config.clip(),
    )?;
    clip.save(&dir.join("text_encoder/model.safetensors"))?;
    write_json(&dir.join("text_encoder/config.json"), &config.text_encoder)?;
    let unet = RandomWeights::keeping();
    candle_transformers::models::stable_diffusion::unet_2d::UNet2DConditionModel::new(
        VarBuilder::from_backend(Box::new(unet.clone()), DType::F32, dev.clone()),
        config.unet.in_channels,
        config.unet.out_channels,
        false,
        config.unet(),
    )?;
    unet.save(&dir.join("unet/diffusion_pytorch_model.safetensors"))?;
    write_json(&dir.join("unet/config.json"), &config.unet)?;
    let vae = RandomWeights::keeping();
    candle_transformers::models::stable_diffusion::vae::AutoEncoderKL::new(
        VarBuilder::from_backend(Box::new(vae.clone()), DType::F32, dev),
        3,
        config.vae.out_channels,
        config.vae(),
    )?;
    vae.save(&dir.join("vae/diffusion_pytorch_model.safetensors"))?;
    write_json(&dir.join("vae/config.json"), &config.vae)?;
    write_json(&dir.join("scheduler/scheduler_config.json"), &config.scheduler)?;
    Ok(())
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::invalid("config", e.to_string()))?;
    crate::fs::write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random weights are plain tensors: no gradient reaches them, so a forward pass records
    /// no graph and frees each activation when it is no longer used.
    #[test]
    fn random_weights_do_not_track_gradients() {
        let init = Init::Randn { mean: 0.0, stdev: 0.02 };
        for dtype in [DType::F32, DType::F16] {
            let w = RandomWeights::new().get(Shape::from((4, 3)), "w", init, dtype, &Device::Cpu).unwrap();
            assert!(!w.is_variable(), "{dtype:?}");
            let y = (w.to_dtype(DType::F32).unwrap() * 2.0).unwrap().sum_all().unwrap();
            let grads = y.backward().unwrap();
            assert!(grads.get(&w).is_none(), "{dtype:?}: a gradient reached the weights");
        }
    }
}
