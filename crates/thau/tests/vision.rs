//! Stable Diffusion without real weights: a tiny random pipeline written in the diffusers
//! layout runs end to end (tokenize → encode → denoise → decode → PNG + sidecar); the real SD
//! 1.5 configuration is checked for shape compatibility without allocating it; the real CLIP
//! vocabulary (fetched by .ci/run) gives CLIP's known ids.

use candle_core::{DType, Tensor};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use thau::vision::png::{read_png, read_png_text};
use thau::vision::random::{write_random_pipeline, ShapesOnly};
use thau::vision::{ClipTokenizer, ImagePipeline, ImageRequest, LoadOptions, PipelineConfig, SchedulerKind};

/// One tiny random pipeline folder for the whole test binary.
fn tiny_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        write_random_pipeline(d.path(), &PipelineConfig::tiny(600)).unwrap();
        d
    })
    .path()
}

fn tiny(dtype: DType) -> ImagePipeline {
    let opts = LoadOptions { dtype, ..Default::default() };
    ImagePipeline::load(tiny_dir().to_str().unwrap(), &opts).unwrap()
}

fn req(prompt: &str) -> ImageRequest {
    ImageRequest { prompt: prompt.into(), steps: 2, width: 256, height: 256, seed: Some(7), ..Default::default() }
}

fn latents(p: &ImagePipeline, r: &ImageRequest, seed: u64) -> Tensor {
    let (text, _) = p.encode_text(&r.prompt, &r.negative_prompt, r.guidance > 1.0).unwrap();
    p.denoise(r, seed, &text, |_, _| {}).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => vec![],
    }
}

#[test]
fn tiny_pipeline_end_to_end_writes_pngs_with_metadata() {
    let p = tiny(DType::F32);
    let out = tempfile::tempdir().unwrap();
    let r = ImageRequest { negative_prompt: "blurry".into(), count: 2, ..req("a photo of a red cat") };
    let mut steps_seen = Vec::new();
    let results = p.generate(&r, out.path(), &mut |pr| steps_seen.push((pr.image, pr.phase, pr.step))).unwrap();
    assert_eq!(results.len(), 2);
    // Progress: every denoising step of both images, then saved.
    let denoise = |img| steps_seen.iter().filter(|s| s.0 == img && s.1 == thau::vision::Phase::Denoising).count();
    assert_eq!((denoise(0), denoise(1)), (2, 2));
    assert_eq!(files_in(out.path()).len(), 4, "two PNGs and two sidecars, no temporaries");
    for (i, res) in results.iter().enumerate() {
        assert!(res.success);
        assert_eq!(res.metadata.seed, 7 + i as u64);
        let img = read_png(&res.path).unwrap();
        assert_eq!((img.width, img.height), (256, 256));
        let text = read_png_text(&res.path).unwrap();
        let get = |k: &str| text.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_default();
        assert_eq!(get("prompt"), "a photo of a red cat");
        assert_eq!(get("negative_prompt"), "blurry");
        assert_eq!(get("seed"), (7 + i).to_string());
        assert_eq!(get("steps"), "2");
        assert_eq!(get("scheduler"), "ddim");
        assert!(get("parameters").contains("Seed: 7") || get("parameters").contains("Seed: 8"));
        let sidecar: serde_json::Value = serde_json::from_slice(&std::fs::read(&res.metadata_path).unwrap()).unwrap();
        assert_eq!(sidecar["prompt"], "a photo of a red cat");
        assert_eq!(sidecar["width"], 256);
        assert_eq!(sidecar["guidance_scale"], 7.5);
        assert_eq!(sidecar["file"], res.path.file_name().unwrap().to_str().unwrap());
        assert!(sidecar["duration_s"].as_f64().unwrap() > 0.0);
        let json: serde_json::Value = serde_json::from_str(&get("thau")).unwrap();
        assert_eq!(json["seed"], sidecar["seed"]);
    }
    // Two images from consecutive seeds differ.
    assert_ne!(read_png(&results[0].path).unwrap(), read_png(&results[1].path).unwrap());
}

#[test]
fn same_seed_same_image_other_seed_other_image() {
    let p = tiny(DType::F32);
    for kind in SchedulerKind::ALL {
        let r = ImageRequest { scheduler: kind, ..req("a photo of a cat") };
        let (a, b, c) = (latents(&p, &r, 1), latents(&p, &r, 1), latents(&p, &r, 2));
        assert_eq!(a.dims(), &[1, 4, 32, 32]);
        assert_eq!(max_diff(&a, &b), 0.0, "{kind}: same seed must give the same latents");
        assert!(max_diff(&a, &c) > 1e-3, "{kind}: another seed must give other latents");
        assert!(a.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|v| v.is_finite()), "{kind}");
    }
    assert_eq!(p.decode(&latents(&p, &req("a cat"), 3)).unwrap(), p.decode(&latents(&p, &req("a cat"), 3)).unwrap());
}

#[test]
fn guidance_and_negative_prompt_change_the_latents() {
    let p = tiny(DType::F32);
    let base = req("a photo of a red cat");
    let l = latents(&p, &base, 5);
    let stronger = latents(&p, &ImageRequest { guidance: 12.0, ..base.clone() }, 5);
    let negative = latents(&p, &ImageRequest { negative_prompt: "ugly blurry dog".into(), ..base.clone() }, 5);
    let unguided = latents(&p, &ImageRequest { guidance: 1.0, ..base.clone() }, 5);
    let other_prompt = latents(&p, &req("a blue dog"), 5);
    assert!(max_diff(&l, &stronger) > 1e-4, "guidance scale had no effect");
    assert!(max_diff(&l, &negative) > 1e-4, "negative prompt had no effect");
    assert!(max_diff(&l, &unguided) > 1e-4);
    assert!(max_diff(&l, &other_prompt) > 1e-4, "prompt had no effect");
    // Without guidance the negative prompt is not used at all.
    let unguided_neg = latents(&p, &ImageRequest { guidance: 1.0, negative_prompt: "ugly".into(), ..base }, 5);
    assert_eq!(max_diff(&unguided, &unguided_neg), 0.0);
}

#[test]
fn sizes_that_are_multiples_of_8_but_not_64_work() {
    let p = tiny(DType::F32);
    let r = ImageRequest { width: 264, height: 320, steps: 1, ..req("a cat") };
    let l = latents(&p, &r, 1);
    assert_eq!(l.dims(), &[1, 4, 40, 33]);
    let img = p.decode(&l).unwrap();
    assert_eq!((img.width, img.height, img.pixels.len()), (264, 320, 264 * 320 * 3));
}

#[test]
fn half_precision_runs_on_cpu() {
    let full = tiny(DType::F32);
    let r = req("a photo of a cat");
    let reference = latents(&full, &r, 9);
    let dtype = DType::F16;
    let p = tiny(dtype);
    let l = latents(&p, &r, 9);
    assert!(l.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|v| v.is_finite()), "{dtype:?}");
    // Same weights rounded: close to f32, not identical.
    let d = max_diff(&l, &reference);
    assert!(d < 0.5, "{dtype:?} drifts {d} from f32");
    let img = p.decode(&l).unwrap();
    assert_eq!(img.pixels.len(), 256 * 256 * 3);
    // candle 0.11 has no bf16 matmul on CPU: a clear error instead of one deep in a conv.
    let opts = LoadOptions { dtype: DType::BF16, ..Default::default() };
    let e = ImagePipeline::load(tiny_dir().to_str().unwrap(), &opts).unwrap_err().to_string();
    assert!(e.contains("bf16") && e.contains("f16"), "{e}");
}

#[test]
fn bad_requests_are_clear_errors_and_write_nothing() {
    let p = tiny(DType::F32);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("images");
    let cases: Vec<(ImageRequest, &str)> = vec![
        (ImageRequest { width: 250, ..req("a cat") }, "width"),
        (ImageRequest { height: 260, ..req("a cat") }, "height"),
        (ImageRequest { width: 2048, ..req("a cat") }, "width"),
        (ImageRequest { steps: 0, ..req("a cat") }, "steps"),
        (ImageRequest { steps: 151, ..req("a cat") }, "steps"),
        (ImageRequest { guidance: f64::NAN, ..req("a cat") }, "guidance"),
        (ImageRequest { count: 0, ..req("a cat") }, "count"),
        (req("   "), "prompt"),
    ];
    for (r, field) in cases {
        let e = p.generate(&r, &dir, &mut |_| {}).unwrap_err().to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
    assert!(!dir.exists(), "nothing may be written for a bad request");
    // A batch with one bad request makes no image at all.
    let e = p.generate_batch(&[req("a cat"), req("")], &dir, &mut |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("request 2"), "{e}");
    assert!(!dir.exists());
}

#[test]
fn long_prompts_are_truncated_and_say_so() {
    let p = tiny(DType::F32);
    let out = tempfile::tempdir().unwrap();
    let long = "a photo of a red cat ".repeat(30);
    let r = ImageRequest { steps: 1, ..req(&long) };
    let res = p.generate(&r, out.path(), &mut |_| {}).unwrap();
    assert!(res[0].metadata.prompt_truncated);
    let short = p.generate(&ImageRequest { steps: 1, ..req("a cat") }, out.path(), &mut |_| {}).unwrap();
    assert!(!short[0].metadata.prompt_truncated);
}

/// Copy the tiny folder so a test can damage its copy.
fn copy_tiny(to: &Path) {
    for sub in ["text_encoder", "unet", "vae", "tokenizer", "scheduler"] {
        std::fs::create_dir_all(to.join(sub)).unwrap();
        for f in std::fs::read_dir(tiny_dir().join(sub)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(sub).join(f.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn missing_and_mismatched_files_are_named() {
    let load = |d: &Path| {
        ImagePipeline::load(d.to_str().unwrap(), &LoadOptions::default()).map(|_| ()).unwrap_err().to_string()
    };
    let tmp = tempfile::tempdir().unwrap();
    let e = load(&tmp.path().join("nope"));
    assert!(e.contains("nope") && e.contains("diffusers layout"), "{e}");

    let d = tmp.path().join("no-unet");
    copy_tiny(&d);
    std::fs::remove_file(d.join("unet/diffusion_pytorch_model.safetensors")).unwrap();
    let e = load(&d);
    assert!(e.contains("unet/diffusion_pytorch_model.safetensors") && e.contains("not found"), "{e}");

    let d = tmp.path().join("no-tokenizer");
    copy_tiny(&d);
    std::fs::remove_dir_all(d.join("tokenizer")).unwrap();
    assert!(load(&d).contains("tokenizer"));

    // A VAE config that does not describe the VAE weights.
    let d = tmp.path().join("mismatch");
    copy_tiny(&d);
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("vae/config.json")).unwrap()).unwrap();
    cfg["block_out_channels"] = serde_json::json!([16, 16, 32, 64]);
    std::fs::write(d.join("vae/config.json"), cfg.to_string()).unwrap();
    let e = load(&d);
    assert!(e.contains("vae") && e.contains("do not match"), "{e}");

    // A UNet whose cross-attention width is not the text encoder's.
    let d = tmp.path().join("cross");
    copy_tiny(&d);
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("unet/config.json")).unwrap()).unwrap();
    cfg["cross_attention_dim"] = serde_json::json!(768);
    std::fs::write(d.join("unet/config.json"), cfg.to_string()).unwrap();
    assert!(load(&d).contains("cross_attention_dim"));

    // Truncated weights.
    let d = tmp.path().join("truncated");
    copy_tiny(&d);
    let f = d.join("text_encoder/model.safetensors");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let e = load(&d);
    assert!(e.contains("model.safetensors"), "{e}");
}

/// The real SD 1.5 architecture builds from THAU's config with the parameter counts of the
/// published model, and the diffusers tensor names and shapes — without allocating 1.1 G
/// parameters.
#[test]
fn sd15_configuration_has_the_published_shapes() {
    use candle_nn::VarBuilder;
    use candle_transformers::models::clip::text_model::ClipTextTransformer;
    use candle_transformers::models::stable_diffusion::{unet_2d::UNet2DConditionModel, vae::AutoEncoderKL};
    let cfg = PipelineConfig::sd15();
    cfg.validate(Path::new("sd15")).unwrap();
    assert_eq!(cfg.vae_scale_factor(), 8);
    let dev = candle_core::Device::Cpu;
    let vb = |s: &ShapesOnly| VarBuilder::from_backend(Box::new(s.clone()), DType::F32, dev.clone());

    let clip = ShapesOnly::default();
    ClipTextTransformer::new(vb(&clip).pp("text_model"), &cfg.clip()).unwrap();
    assert_eq!(clip.parameter_count(), 123_060_480);
    assert_eq!(clip.shape_of("text_model.embeddings.token_embedding.weight"), Some(vec![49408, 768]));

    let unet = ShapesOnly::default();
    UNet2DConditionModel::new(vb(&unet), 4, 4, false, cfg.unet()).unwrap();
    assert_eq!(unet.parameter_count(), 859_520_964);
    assert_eq!(
        unet.shape_of("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"),
        Some(vec![320, 768])
    );
    assert_eq!(unet.shape_of("mid_block.resnets.0.conv1.weight"), Some(vec![1280, 1280, 3, 3]));
    assert_eq!(unet.shape_of("up_blocks.3.resnets.2.conv_shortcut.weight"), Some(vec![320, 640, 1, 1]));

    let vae = ShapesOnly::default();
    AutoEncoderKL::new(vb(&vae), 3, 3, cfg.vae()).unwrap();
    assert_eq!(vae.parameter_count(), 83_653_863);
    assert_eq!(vae.shape_of("decoder.conv_out.weight"), Some(vec![3, 128, 3, 3]));
    assert_eq!(vae.shape_of("post_quant_conv.weight"), Some(vec![4, 4, 1, 1]));
}

/// A folder without config.json files is read as SD 1.5, and a diffusers SD 1.5
/// `unet/config.json` (as published) parses to the same configuration.
#[test]
fn published_sd15_config_files_parse() {
    let unet = r#"{
      "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.6.0", "act_fn": "silu",
      "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false,
      "cross_attention_dim": 768,
      "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
      "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
      "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
      "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
    }"#;
    let vae = r#"{
      "_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
      "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
      "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3,
      "sample_size": 512,
      "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]
    }"#;
    let clip = r#"{
      "architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
      "eos_token_id": 2, "hidden_act": "quick_gelu", "hidden_size": 768, "initializer_factor": 1.0,
      "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
      "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 12,
      "num_hidden_layers": 12, "pad_token_id": 1, "projection_dim": 768, "torch_dtype": "float32",
      "vocab_size": 49408
    }"#;
    let sched = r#"{
      "_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
      "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
      "trained_betas": null, "clip_sample": false
    }"#;
    let d = tempfile::tempdir().unwrap();
    for (sub, file, text) in [
        ("unet", "config.json", unet),
        ("vae", "config.json", vae),
        ("text_encoder", "config.json", clip),
        ("scheduler", "scheduler_config.json", sched),
    ] {
        std::fs::create_dir_all(d.path().join(sub)).unwrap();
        std::fs::write(d.path().join(sub).join(file), text).unwrap();
    }
    let parsed = thau::vision::weights::read_config(d.path()).unwrap();
    assert_eq!(parsed, PipelineConfig::sd15());
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(thau::vision::weights::read_config(empty.path()).unwrap(), PipelineConfig::sd15());
}

/// CLIP's real vocabulary (OpenAI's merges file, which `.ci/run` fetches from PyPI's
/// open-clip-torch into .cache/) gives CLIP's known ids.
#[test]
fn real_clip_vocabulary_gives_known_ids() {
    let path = std::env::var_os("THAU_TEST_CLIP_VOCAB").filter(|p| !p.is_empty());
    let Some(path) = path else {
        assert!(
            std::env::var("THAU_REQUIRE_MODELS").as_deref() != Ok("1"),
            "THAU_REQUIRE_MODELS=1 but THAU_TEST_CLIP_VOCAB is not set: run .ci/run"
        );
        eprintln!("\n!!!!! SKIPPED: THAU_TEST_CLIP_VOCAB not set (run .ci/run to fetch CLIP's vocabulary) !!!!!\n");
        return;
    };
    let tk = ClipTokenizer::load(Path::new(&path)).unwrap();
    assert_eq!(tk.vocab_size(), 49408);
    let t = tk.encode("a photo of a cat", 77).unwrap();
    assert_eq!(&t.ids[..7], &[49406, 320, 1125, 539, 320, 2368, 49407]);
    assert!(t.ids[7..].iter().all(|&i| i == 49407));
    // Case and spacing do not matter to CLIP; punctuation is its own token.
    assert_eq!(tk.encode_plain("A  Photo of a CAT").unwrap(), vec![49406, 320, 1125, 539, 320, 2368, 49407]);
    assert_eq!(tk.encode_plain("cat!").unwrap(), vec![49406, 2368, 256, 49407]);
    let long = tk.encode(&"cat ".repeat(80), 77).unwrap();
    assert!(long.truncated && long.prompt_tokens == 80 && long.ids[76] == 49407);
}
