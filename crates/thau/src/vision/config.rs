//! The `config.json` files of a diffusers-layout Stable Diffusion folder (text encoder, UNet,
//! VAE, scheduler) as plain serde structs, checked and turned into candle-transformers'
//! configurations. The SD 1.5 presets are the values of runwayml/stable-diffusion-v1-5, so a
//! folder without config files still loads the model most people have.

use crate::error::{Error, Result};
use candle_transformers::models::clip::text_model::{Activation, ClipTextConfig};
use candle_transformers::models::stable_diffusion::unet_2d::{BlockConfig, UNet2DConditionModelConfig};
use candle_transformers::models::stable_diffusion::vae::AutoEncoderKLConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `text_encoder/config.json` (transformers' `CLIPTextModel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextEncoderConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "quick_gelu")]
    pub hidden_act: String,
    #[serde(default)]
    pub projection_dim: usize,
}

fn quick_gelu() -> String {
    "quick_gelu".into()
}

/// A value diffusers writes either once for every block or once per block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerBlock {
    One(usize),
    Each(Vec<usize>),
}

impl PerBlock {
    fn get(&self, i: usize) -> Option<usize> {
        match self {
            PerBlock::One(v) => Some(*v),
            PerBlock::Each(v) => v.get(i).copied(),
        }
    }
}

/// `unet/config.json` (diffusers' `UNet2DConditionModel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UNetConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub block_out_channels: Vec<usize>,
    pub down_block_types: Vec<String>,
    pub up_block_types: Vec<String>,
    pub layers_per_block: usize,
    pub cross_attention_dim: usize,
    pub attention_head_dim: PerBlock,
    #[serde(default = "one_per_block")]
    pub transformer_layers_per_block: PerBlock,
    pub norm_num_groups: usize,
    #[serde(default = "eps_1e5")]
    pub norm_eps: f64,
    #[serde(default = "yes")]
    pub flip_sin_to_cos: bool,
    #[serde(default)]
    pub freq_shift: f64,
    #[serde(default = "one")]
    pub downsample_padding: usize,
    #[serde(default = "one_f")]
    pub mid_block_scale_factor: f64,
    #[serde(default)]
    pub center_input_sample: bool,
    #[serde(default)]
    pub use_linear_projection: bool,
    #[serde(default = "silu")]
    pub act_fn: String,
}

/// `vae/config.json` (diffusers' `AutoencoderKL`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub latent_channels: usize,
    pub block_out_channels: Vec<usize>,
    pub layers_per_block: usize,
    pub norm_num_groups: usize,
    /// Latents are divided by this before decoding (SD 1.5: 0.18215).
    #[serde(default = "sd_scaling")]
    pub scaling_factor: f64,
    #[serde(default = "yes")]
    pub use_quant_conv: bool,
    #[serde(default = "yes")]
    pub use_post_quant_conv: bool,
    #[serde(default = "silu")]
    pub act_fn: String,
}

/// `scheduler/scheduler_config.json`: the noise schedule the UNet was trained with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseScheduleConfig {
    #[serde(default = "beta_start")]
    pub beta_start: f64,
    #[serde(default = "beta_end")]
    pub beta_end: f64,
    /// `scaled_linear` (SD), `linear`, or `squaredcos_cap_v2`.
    #[serde(default = "scaled_linear")]
    pub beta_schedule: String,
    #[serde(default = "thousand")]
    pub num_train_timesteps: usize,
    #[serde(default = "one")]
    pub steps_offset: usize,
    /// `epsilon` (SD 1.5) or `v_prediction` (SD 2.x 768).
    #[serde(default = "epsilon")]
    pub prediction_type: String,
    #[serde(default)]
    pub set_alpha_to_one: bool,
}

fn one_per_block() -> PerBlock {
    PerBlock::One(1)
}
fn eps_1e5() -> f64 {
    1e-5
}
fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn one_f() -> f64 {
    1.0
}
fn silu() -> String {
    "silu".into()
}
fn sd_scaling() -> f64 {
    0.18215
}
fn beta_start() -> f64 {
    0.00085
}
fn beta_end() -> f64 {
    0.012
}
fn scaled_linear() -> String {
    "scaled_linear".into()
}
fn thousand() -> usize {
    1000
}
fn epsilon() -> String {
    "epsilon".into()
}

impl Default for NoiseScheduleConfig {
    fn default() -> Self {
        Self {
            beta_start: beta_start(),
            beta_end: beta_end(),
            beta_schedule: scaled_linear(),
            num_train_timesteps: thousand(),
            steps_offset: 1,
            prediction_type: epsilon(),
            set_alpha_to_one: false,
        }
    }
}

/// The four configurations of one pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineConfig {
    pub text_encoder: TextEncoderConfig,
    pub unet: UNetConfig,
    pub vae: VaeConfig,
    pub scheduler: NoiseScheduleConfig,
}

impl PipelineConfig {
    /// Stable Diffusion 1.5 (runwayml/stable-diffusion-v1-5): CLIP ViT-L/14 text encoder
    /// (123M parameters), UNet (860M), VAE (84M).
    pub fn sd15() -> Self {
        let down = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"];
        let up = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"];
        Self {
            text_encoder: TextEncoderConfig {
                vocab_size: 49408,
                hidden_size: 768,
                intermediate_size: 3072,
                num_attention_heads: 12,
                num_hidden_layers: 12,
                max_position_embeddings: 77,
                hidden_act: quick_gelu(),
                projection_dim: 768,
            },
            unet: UNetConfig {
                in_channels: 4,
                out_channels: 4,
                block_out_channels: vec![320, 640, 1280, 1280],
                down_block_types: down.iter().map(|s| s.to_string()).collect(),
                up_block_types: up.iter().map(|s| s.to_string()).collect(),
                layers_per_block: 2,
                cross_attention_dim: 768,
                attention_head_dim: PerBlock::One(8),
                transformer_layers_per_block: PerBlock::One(1),
                norm_num_groups: 32,
                norm_eps: 1e-5,
                flip_sin_to_cos: true,
                freq_shift: 0.0,
                downsample_padding: 1,
                mid_block_scale_factor: 1.0,
                center_input_sample: false,
                use_linear_projection: false,
                act_fn: silu(),
            },
            vae: VaeConfig {
                in_channels: 3,
                out_channels: 3,
                latent_channels: 4,
                block_out_channels: vec![128, 256, 512, 512],
                layers_per_block: 2,
                norm_num_groups: 32,
                scaling_factor: sd_scaling(),
                use_quant_conv: true,
                use_post_quant_conv: true,
                act_fn: silu(),
            },
            scheduler: NoiseScheduleConfig::default(),
        }
    }

    /// A pipeline small enough to run end to end in a test in well under a second per step:
    /// the SD 1.5 architecture (cross-attention blocks, 8× VAE) at a fraction of the width.
    pub fn tiny(vocab_size: usize) -> Self {
        let mut c = Self::sd15();
        c.text_encoder = TextEncoderConfig {
            vocab_size,
            hidden_size: 32,
            intermediate_size: 64,
            num_attention_heads: 4,
            num_hidden_layers: 2,
            max_position_embeddings: 77,
            hidden_act: quick_gelu(),
            projection_dim: 32,
        };
        c.unet.block_out_channels = vec![32, 64];
        c.unet.down_block_types = vec!["CrossAttnDownBlock2D".into(), "DownBlock2D".into()];
        c.unet.up_block_types = vec!["UpBlock2D".into(), "CrossAttnUpBlock2D".into()];
        c.unet.layers_per_block = 1;
        c.unet.cross_attention_dim = 32;
        c.unet.attention_head_dim = PerBlock::One(2);
        c.unet.norm_num_groups = 8;
        c.vae.block_out_channels = vec![8, 8, 16, 16];
        c.vae.layers_per_block = 1;
        c.vae.norm_num_groups = 4;
        c
    }

    /// How many pixels one latent cell covers on a side (8 for SD).
    pub fn vae_scale_factor(&self) -> usize {
        1 << self.vae.block_out_channels.len().saturating_sub(1)
    }

    /// Check the four configurations against each other and against what candle's
    /// implementation supports. `dir` names the model in errors.
    pub fn validate(&self, dir: &Path) -> Result<()> {
        let bad = |what: &str, reason: String| Error::Incompatible {
            path: dir.join(what),
            reason,
            hint: "use a Stable Diffusion 1.x/2.x folder in the diffusers layout".into(),
        };
        let t = &self.text_encoder;
        if t.hidden_act != "quick_gelu" {
            return Err(bad(
                "text_encoder/config.json",
                format!("hidden_act {:?} (only quick_gelu is supported)", t.hidden_act),
            ));
        }
        if t.num_attention_heads == 0 || !t.hidden_size.is_multiple_of(t.num_attention_heads) {
            return Err(bad("text_encoder/config.json", "hidden_size is not a multiple of num_attention_heads".into()));
        }
        if t.max_position_embeddings < 3 {
            return Err(bad("text_encoder/config.json", "max_position_embeddings must be at least 3".into()));
        }
        let u = &self.unet;
        let n = u.block_out_channels.len();
        if n == 0 || u.down_block_types.len() != n || u.up_block_types.len() != n {
            return Err(bad(
                "unet/config.json",
                format!(
                    "{} block_out_channels, {} down blocks, {} up blocks: they must be as many",
                    n,
                    u.down_block_types.len(),
                    u.up_block_types.len()
                ),
            ));
        }
        for (i, d) in u.down_block_types.iter().enumerate() {
            let up = &u.up_block_types[n - 1 - i];
            let ok = matches!(
                (d.as_str(), up.as_str()),
                ("CrossAttnDownBlock2D", "CrossAttnUpBlock2D") | ("DownBlock2D", "UpBlock2D")
            );
            if !ok {
                return Err(bad("unet/config.json", format!("down block {i} is {d} but its up block is {up}")));
            }
        }
        for (i, &c) in u.block_out_channels.iter().enumerate() {
            let heads = u
                .attention_head_dim
                .get(i)
                .ok_or_else(|| bad("unet/config.json", format!("no attention_head_dim for block {i}")))?;
            if u.transformer_layers_per_block.get(i).is_none() {
                return Err(bad("unet/config.json", format!("no transformer_layers_per_block for block {i}")));
            }
            if heads == 0 || c % heads != 0 || c % u.norm_num_groups != 0 {
                return Err(bad(
                    "unet/config.json",
                    format!(
                        "block {i}: {c} channels are not a multiple of {heads} heads and {} groups",
                        u.norm_num_groups
                    ),
                ));
            }
        }
        if u.act_fn != "silu" || self.vae.act_fn != "silu" {
            return Err(bad("unet/config.json", "only act_fn silu is supported".into()));
        }
        if u.cross_attention_dim != t.hidden_size {
            return Err(bad(
                "unet/config.json",
                format!(
                    "cross_attention_dim {} differs from the text encoder's hidden_size {}",
                    u.cross_attention_dim, t.hidden_size
                ),
            ));
        }
        let v = &self.vae;
        if v.latent_channels != u.in_channels || u.in_channels != u.out_channels {
            return Err(bad(
                "vae/config.json",
                format!(
                    "latent_channels {} but the UNet takes {} and gives {} channels",
                    v.latent_channels, u.in_channels, u.out_channels
                ),
            ));
        }
        if v.out_channels != 3 || v.block_out_channels.is_empty() {
            return Err(bad("vae/config.json", "the VAE must decode to 3 (RGB) channels".into()));
        }
        if v.block_out_channels.iter().any(|c| c % v.norm_num_groups != 0) {
            return Err(bad("vae/config.json", "block_out_channels are not multiples of norm_num_groups".into()));
        }
        if !(v.scaling_factor.is_finite() && v.scaling_factor > 0.0) {
            return Err(bad("vae/config.json", format!("scaling_factor {}", v.scaling_factor)));
        }
        let s = &self.scheduler;
        if !matches!(s.beta_schedule.as_str(), "scaled_linear" | "linear" | "squaredcos_cap_v2") {
            return Err(bad("scheduler/scheduler_config.json", format!("beta_schedule {:?}", s.beta_schedule)));
        }
        if !matches!(s.prediction_type.as_str(), "epsilon" | "v_prediction") {
            return Err(bad("scheduler/scheduler_config.json", format!("prediction_type {:?}", s.prediction_type)));
        }
        if s.num_train_timesteps < 2 || !(s.beta_start > 0.0 && s.beta_end < 1.0 && s.beta_start <= s.beta_end) {
            return Err(bad("scheduler/scheduler_config.json", "betas or num_train_timesteps out of range".into()));
        }
        Ok(())
    }

    /// candle-transformers' CLIP text configuration.
    pub fn clip(&self) -> ClipTextConfig {
        let t = &self.text_encoder;
        ClipTextConfig {
            vocab_size: t.vocab_size,
            embed_dim: t.hidden_size,
            activation: Activation::QuickGelu,
            intermediate_size: t.intermediate_size,
            max_position_embeddings: t.max_position_embeddings,
            pad_with: None,
            num_hidden_layers: t.num_hidden_layers,
            num_attention_heads: t.num_attention_heads,
            projection_dim: t.projection_dim,
        }
    }

    /// candle-transformers' UNet configuration (call [`validate`](Self::validate) first).
    pub fn unet(&self) -> UNet2DConditionModelConfig {
        let u = &self.unet;
        let blocks = (0..u.block_out_channels.len())
            .map(|i| BlockConfig {
                out_channels: u.block_out_channels[i],
                use_cross_attn: (u.down_block_types[i] == "CrossAttnDownBlock2D")
                    .then(|| u.transformer_layers_per_block.get(i).unwrap_or(1)),
                // diffusers' SD 1.x configs call the number of heads `attention_head_dim`;
                // candle takes the value as diffusers writes it.
                attention_head_dim: u.attention_head_dim.get(i).unwrap_or(8),
            })
            .collect();
        UNet2DConditionModelConfig {
            center_input_sample: u.center_input_sample,
            flip_sin_to_cos: u.flip_sin_to_cos,
            freq_shift: u.freq_shift,
            blocks,
            layers_per_block: u.layers_per_block,
            downsample_padding: u.downsample_padding,
            mid_block_scale_factor: u.mid_block_scale_factor,
            norm_num_groups: u.norm_num_groups,
            norm_eps: u.norm_eps,
            cross_attention_dim: u.cross_attention_dim,
            sliced_attention_size: None,
            use_linear_projection: u.use_linear_projection,
        }
    }

    /// candle-transformers' VAE configuration.
    pub fn vae(&self) -> AutoEncoderKLConfig {
        let v = &self.vae;
        AutoEncoderKLConfig {
            block_out_channels: v.block_out_channels.clone(),
            layers_per_block: v.layers_per_block,
            latent_channels: v.latent_channels,
            norm_num_groups: v.norm_num_groups,
            use_quant_conv: v.use_quant_conv,
            use_post_quant_conv: v.use_post_quant_conv,
        }
    }
}

/// Read one `config.json`-like file into `T`.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let bytes = crate::error::read_file(path, "")?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(path, format!("not a {what} config: {e}"), "download the model folder again"))
}
