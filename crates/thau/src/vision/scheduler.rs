//! Samplers: how the denoising loop walks from pure noise to a clean latent, given the noise
//! schedule the UNet was trained with.
//!
//! - DDIM (Song et al. 2020, "Denoising Diffusion Implicit Models"), deterministic (eta = 0).
//! - Euler and Euler ancestral (Karras et al. 2022, "Elucidating the Design Space of
//!   Diffusion-Based Generative Models"; ancestral noise as in k-diffusion).
//! - LCM (Luo et al. 2023, "Latent Consistency Models"): 2–8 steps, for LCM-distilled weights.
//!
//! candle-transformers has DDIM and Euler ancestral too, but its ancestral step draws noise from
//! the CPU's thread-local RNG, which cannot be seeded; here every random draw comes from one
//! seeded [`Noise`] stream, so the same seed gives the same image.
//!
//! Shapes: latents are (B, C, H, W) f32; the coefficients are f64 scalars.

use super::config::NoiseScheduleConfig;
use crate::error::{Error, Result};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The sampler of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SchedulerKind {
    /// Deterministic DDIM: the SD 1.5 default.
    #[default]
    Ddim,
    /// Euler with fresh noise each step: more varied, often sharper at 20–30 steps.
    EulerA,
    /// Deterministic Euler.
    Euler,
    /// Latent consistency sampling: 2–8 steps with LCM-distilled weights (LCM-LoRA merged).
    Lcm,
}

impl SchedulerKind {
    pub const ALL: [SchedulerKind; 4] = [Self::Ddim, Self::EulerA, Self::Euler, Self::Lcm];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ddim => "ddim",
            Self::EulerA => "euler-a",
            Self::Euler => "euler",
            Self::Lcm => "lcm",
        }
    }
}

impl std::str::FromStr for SchedulerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "ddim" => Ok(Self::Ddim),
            "euler-a" | "euler-ancestral" | "euler-ancestral-discrete" => Ok(Self::EulerA),
            "euler" | "euler-discrete" => Ok(Self::Euler),
            "lcm" => Ok(Self::Lcm),
            other => Err(Error::invalid("scheduler", format!("'{other}': use ddim, euler-a, euler or lcm"))),
        }
    }
}

impl std::fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A seeded stream of standard normal numbers (ChaCha8, Box–Muller): the initial latents and
/// every ancestral step's noise come from here, in order.
pub struct Noise {
    rng: rand_chacha::ChaCha8Rng,
    spare: Option<f64>,
}

impl Noise {
    pub fn new(seed: u64) -> Self {
        Self { rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed), spare: None }
    }

    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // u1 in (0, 1] so ln(u1) is finite.
        let u1: f64 = 1.0 - self.rng.gen::<f64>();
        let u2: f64 = self.rng.gen::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }

    /// A tensor of standard normal f32 values.
    pub fn tensor(&mut self, shape: &[usize], device: &Device) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.normal() as f32).collect();
        Ok(Tensor::from_vec(v, shape, device)?)
    }
}

/// What the UNet predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prediction {
    Epsilon,
    V,
}

/// One sampler, set up for a number of steps.
pub struct DiffusionSampler {
    kind: SchedulerKind,
    prediction: Prediction,
    /// ᾱ_t for every training timestep t.
    alphas_cumprod: Vec<f64>,
    /// ᾱ used after the last step (DDIM's `final_alpha_cumprod`).
    final_alpha_cumprod: f64,
    /// The timesteps the UNet is run at, from noisy to clean.
    timesteps: Vec<f64>,
    /// Euler samplers: σ at each timestep, then 0.
    sigmas: Vec<f64>,
}

impl DiffusionSampler {
    /// Set up `kind` for `steps` steps over the schedule `cfg`.
    pub fn new(kind: SchedulerKind, cfg: &NoiseScheduleConfig, steps: usize) -> Result<Self> {
        let t_train = cfg.num_train_timesteps;
        if steps == 0 || steps > t_train {
            return Err(Error::invalid("steps", format!("{steps}: use 1 to {t_train}")));
        }
        let betas: Vec<f64> = match cfg.beta_schedule.as_str() {
            "linear" => linspace(cfg.beta_start, cfg.beta_end, t_train),
            "squaredcos_cap_v2" => (0..t_train)
                .map(|i| {
                    let f = |t: f64| ((t + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
                    let (t1, t2) = (i as f64 / t_train as f64, (i + 1) as f64 / t_train as f64);
                    (1.0 - f(t2) / f(t1)).min(0.999)
                })
                .collect(),
            _ => linspace(cfg.beta_start.sqrt(), cfg.beta_end.sqrt(), t_train).into_iter().map(|b| b * b).collect(),
        };
        let mut alphas_cumprod = Vec::with_capacity(t_train);
        let mut acc = 1.0;
        for b in betas {
            acc *= 1.0 - b;
            alphas_cumprod.push(acc);
        }
        let prediction = if cfg.prediction_type == "v_prediction" { Prediction::V } else { Prediction::Epsilon };
        let final_alpha_cumprod = if cfg.set_alpha_to_one { 1.0 } else { alphas_cumprod[0] };
        let ratio = t_train / steps;
        let timesteps: Vec<f64> = match kind {
            // "leading" spacing with diffusers' steps_offset, as SD 1.5's DDIM uses.
            SchedulerKind::Ddim => {
                (0..steps).rev().map(|i| ((i * ratio + cfg.steps_offset).min(t_train - 1)) as f64).collect()
            }
            // "linspace" spacing (diffusers' default for the Euler schedulers): fractional
            // timesteps, σ interpolated between training timesteps.
            SchedulerKind::EulerA | SchedulerKind::Euler => {
                let mut t = linspace(0.0, (t_train - 1) as f64, steps);
                t.reverse();
                t
            }
            // LCM: `steps` of the 50 timesteps LCM was distilled on, evenly skipped.
            SchedulerKind::Lcm => {
                let original = 50.min(t_train);
                let c = t_train / original;
                let origin: Vec<usize> = (1..=original).map(|i| i * c - 1).collect();
                let skip = (original / steps).max(1);
                origin.iter().rev().step_by(skip).take(steps).map(|&t| t as f64).collect()
            }
        };
        let sigmas = match kind {
            SchedulerKind::EulerA | SchedulerKind::Euler => {
                let train_sigmas: Vec<f64> = alphas_cumprod.iter().map(|a| ((1.0 - a) / a).sqrt()).collect();
                let mut s: Vec<f64> = timesteps.iter().map(|&t| interp(t, &train_sigmas)).collect();
                s.push(0.0);
                s
            }
            _ => Vec::new(),
        };
        Ok(Self { kind, prediction, alphas_cumprod, final_alpha_cumprod, timesteps, sigmas })
    }

    pub fn kind(&self) -> SchedulerKind {
        self.kind
    }

    /// The timesteps the UNet runs at, from noisy to clean.
    pub fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    /// Scale of the initial Gaussian latents.
    pub fn init_noise_sigma(&self) -> f64 {
        match self.kind {
            // Euler with "linspace" spacing: σ_max (diffusers scales by sqrt(σ_max² + 1) only
            // for "leading"/"trailing" spacing).
            SchedulerKind::EulerA | SchedulerKind::Euler => self.sigmas[0],
            SchedulerKind::Ddim | SchedulerKind::Lcm => 1.0,
        }
    }

    /// Scale the latents before the UNet at step `i` (Euler: x / sqrt(σ² + 1)).
    pub fn scale_model_input(&self, x: &Tensor, i: usize) -> Result<Tensor> {
        Ok(match self.kind {
            SchedulerKind::EulerA | SchedulerKind::Euler => (x / (self.sigmas[i].powi(2) + 1.0).sqrt())?,
            SchedulerKind::Ddim | SchedulerKind::Lcm => x.clone(),
        })
    }

    fn alpha(&self, t: f64) -> f64 {
        self.alphas_cumprod[(t.round() as usize).min(self.alphas_cumprod.len() - 1)]
    }

    /// (x̂₀, ε̂) from the UNet's output at ᾱ.
    fn split(&self, out: &Tensor, x: &Tensor, alpha: f64) -> Result<(Tensor, Tensor)> {
        let (sa, sb) = (alpha.sqrt(), (1.0 - alpha).sqrt());
        Ok(match self.prediction {
            Prediction::Epsilon => (((x - (out * sb)?)? / sa)?, out.clone()),
            Prediction::V => (((x * sa)? - (out * sb)?)?, ((out * sa)? + (x * sb)?)?),
        })
    }

    /// One denoising step: the latents before step `i` and the (guided) UNet output give the
    /// latents after it. Ancestral samplers draw their noise from `noise`.
    pub fn step(&self, out: &Tensor, i: usize, x: &Tensor, noise: &mut Noise) -> Result<Tensor> {
        let t = self.timesteps[i];
        let last = i + 1 == self.timesteps.len();
        match self.kind {
            SchedulerKind::Ddim => {
                let a = self.alpha(t);
                let prev = t - (self.alphas_cumprod.len() / self.timesteps.len()) as f64;
                let a_prev = if prev >= 0.0 { self.alpha(prev) } else { self.final_alpha_cumprod };
                let (x0, eps) = self.split(out, x, a)?;
                Ok(((x0 * a_prev.sqrt())? + (eps * (1.0 - a_prev).sqrt())?)?)
            }
            SchedulerKind::Euler | SchedulerKind::EulerA => {
                let (s_from, s_to) = (self.sigmas[i], self.sigmas[i + 1]);
                // x̂₀ in σ-space: x - σ ε̂ (epsilon), or from v.
                let x0 = match self.prediction {
                    Prediction::Epsilon => (x - (out * s_from)?)?,
                    Prediction::V => {
                        let c = s_from * s_from + 1.0;
                        ((out * (-s_from / c.sqrt()))? + (x / c)?)?
                    }
                };
                let d = ((x - &x0)? / s_from)?; // dx/dσ
                if self.kind == SchedulerKind::Euler {
                    return Ok((x + (d * (s_to - s_from))?)?);
                }
                let s_up = (s_to * s_to * (s_from * s_from - s_to * s_to) / (s_from * s_from)).max(0.0).sqrt();
                let s_down = (s_to * s_to - s_up * s_up).max(0.0).sqrt();
                let x = (x + (d * (s_down - s_from))?)?;
                if s_up == 0.0 {
                    return Ok(x);
                }
                let z = noise.tensor(x.dims(), x.device())?;
                Ok((x + (z * s_up)?)?)
            }
            SchedulerKind::Lcm => {
                let a = self.alpha(t);
                let (x0, _) = self.split(out, x, a)?;
                // Consistency-model boundary conditions (σ_data = 0.5, timestep scaling 10).
                let (sd2, st) = (0.25, t * 10.0);
                let c_skip = sd2 / (st * st + sd2);
                let c_out = st / (st * st + sd2).sqrt();
                let denoised = ((x0 * c_out)? + (x * c_skip)?)?;
                if last {
                    return Ok(denoised);
                }
                let a_prev = self.alpha(self.timesteps[i + 1]);
                let z = noise.tensor(x.dims(), x.device())?;
                Ok(((denoised * a_prev.sqrt())? + (z * (1.0 - a_prev).sqrt())?)?)
            }
        }
    }
}

fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    match n {
        0 => vec![],
        1 => vec![a],
        _ => (0..n).map(|i| a + (b - a) * i as f64 / (n - 1) as f64).collect(),
    }
}

/// `ys` at fractional index `x` (linear interpolation between neighbours).
fn interp(x: f64, ys: &[f64]) -> f64 {
    let x = x.clamp(0.0, (ys.len() - 1) as f64);
    let i = x.floor() as usize;
    if i + 1 >= ys.len() {
        return ys[ys.len() - 1];
    }
    let f = x - i as f64;
    ys[i] * (1.0 - f) + ys[i + 1] * f
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_transformers::models::stable_diffusion::ddim::DDIMSchedulerConfig;
    use candle_transformers::models::stable_diffusion::euler_ancestral_discrete::{
        EulerAncestralDiscreteScheduler, EulerAncestralDiscreteSchedulerConfig,
    };
    use candle_transformers::models::stable_diffusion::schedulers::{SchedulerConfig, TimestepSpacing};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    /// THAU's DDIM against candle-transformers' (the reference) over a whole 20-step walk.
    #[test]
    fn ddim_matches_candle() {
        let cfg = NoiseScheduleConfig::default();
        let ours = DiffusionSampler::new(SchedulerKind::Ddim, &cfg, 20).unwrap();
        let mut reference = DDIMSchedulerConfig::default().build(20).unwrap();
        let ts: Vec<f64> = reference.timesteps().iter().map(|&t| t as f64).collect();
        assert_eq!(ours.timesteps(), &ts[..]);
        let mut noise = Noise::new(1);
        let mut a = noise.tensor(&[1, 4, 8, 8], &Device::Cpu).unwrap();
        let mut b = a.clone();
        for (i, &t) in reference.timesteps().to_vec().iter().enumerate() {
            let eps = noise.tensor(&[1, 4, 8, 8], &Device::Cpu).unwrap();
            a = ours.step(&eps, i, &a, &mut noise).unwrap();
            b = reference.step(&eps, t, &b).unwrap();
        }
        assert!(max_diff(&a, &b) < 1e-4, "{}", max_diff(&a, &b));
    }

    /// Euler ancestral σs and input scaling against candle's (same "linspace" spacing).
    #[test]
    fn euler_sigmas_match_candle() {
        let cfg = NoiseScheduleConfig::default();
        let ours = DiffusionSampler::new(SchedulerKind::EulerA, &cfg, 25).unwrap();
        let rc =
            EulerAncestralDiscreteSchedulerConfig { timestep_spacing: TimestepSpacing::Linspace, ..Default::default() };
        let reference = EulerAncestralDiscreteScheduler::new(25, rc).unwrap();
        use candle_transformers::models::stable_diffusion::schedulers::Scheduler;
        assert!((ours.init_noise_sigma() - reference.init_noise_sigma()).abs() < 1e-9);
        let x = Tensor::ones((1, 4, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        for (i, &t) in reference.timesteps().iter().enumerate() {
            // candle truncates linspace timesteps to integers; compare where they agree.
            if (ours.timesteps()[i] - t as f64).abs() < 1e-9 {
                let a = ours.scale_model_input(&x, i).unwrap();
                let b = reference.scale_model_input(x.clone(), t).unwrap();
                assert!(max_diff(&a, &b) < 1e-6);
            }
        }
    }

    #[test]
    fn every_sampler_reaches_a_clean_latent_from_a_perfect_denoiser() {
        // A denoiser that knows x0 exactly (the target is all zeros, so ε̂ = x / sqrt(1-ᾱ) for
        // DDIM/LCM, x / σ for Euler) must end near zero.
        let cfg = NoiseScheduleConfig::default();
        for kind in SchedulerKind::ALL {
            // DDIM's "leading" spacing puts a single step at t = 1, where pure noise is not
            // what the model expects: one-step DDIM is not a meaningful sampler.
            let steps_list: &[usize] = if kind == SchedulerKind::Ddim { &[4, 20] } else { &[1, 4, 20] };
            for &steps in steps_list {
                let s = DiffusionSampler::new(kind, &cfg, steps).unwrap();
                let mut noise = Noise::new(7);
                let mut x = (noise.tensor(&[1, 4, 4, 4], &Device::Cpu).unwrap() * s.init_noise_sigma()).unwrap();
                for i in 0..s.timesteps().len() {
                    let eps = match kind {
                        SchedulerKind::Euler | SchedulerKind::EulerA => (&x / s.sigmas[i]).unwrap(),
                        _ => (&x / (1.0 - s.alpha(s.timesteps()[i])).sqrt()).unwrap(),
                    };
                    x = s.step(&eps, i, &x, &mut noise).unwrap();
                }
                let m = x
                    .abs()
                    .unwrap()
                    .max_keepdim(3)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .max(0)
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(m < 0.2, "{kind} at {steps} steps ends at |x| {m}");
            }
        }
    }

    #[test]
    fn noise_is_seeded_and_standard_normal() {
        let a = Noise::new(42).tensor(&[10_000], &Device::Cpu).unwrap().to_vec1::<f32>().unwrap();
        let b = Noise::new(42).tensor(&[10_000], &Device::Cpu).unwrap().to_vec1::<f32>().unwrap();
        let c = Noise::new(43).tensor(&[10_000], &Device::Cpu).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let var = a.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / a.len() as f32;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
    }

    #[test]
    fn bad_steps_and_names_are_errors() {
        assert!(DiffusionSampler::new(SchedulerKind::Ddim, &NoiseScheduleConfig::default(), 0).is_err());
        assert!("plms".parse::<SchedulerKind>().unwrap_err().to_string().contains("euler-a"));
        assert_eq!("Euler_A".parse::<SchedulerKind>().unwrap(), SchedulerKind::EulerA);
    }
}
