//! GGUF export and import inside THAU: export → import gives back the same logits (f32 bit
//! for bit) and the same tokenizer; quantized exports stay close; every kind of damaged or
//! foreign file is refused with an error that names it, never a panic.
//!
//! llama.cpp's view of the same files is checked in `export_llamacpp.rs`.

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};
use std::path::{Path, PathBuf};
use thau::export::{export_gguf, GgufDtype};
use thau::gguf::{self as gguf_file, GgufFile, TensorInfo};
use thau::import::read_gguf;
use thau::model::{Llama, ModelConfig};
use thau::tokenizer::Tokenizer;
use thau::Error;

const TRICKY: &[&str] = &[
    "¿Dónde está la estación? ¡Allí!",
    "El niño comió ñoquis con el pingüino.",
    "emoji 😀 y 👩‍👩‍👧‍👦 🇪🇸",
    "multiple   spaces\tand\n\nnewlines\r\n",
    "Números 1234567890 y 3.14159",
    "<|user|> not a special token <|end|>",
];

fn tokenizer() -> Tokenizer {
    let docs = thau::data::synthetic::bilingual_corpus(1, 30_000);
    Tokenizer::train(docs.into_iter().map(|d| d.text), 400).unwrap()
}

/// A random model whose embedding has more rows (512) than the tokenizer has tokens (400),
/// so the GGUF vocabulary gets padded; rows of 64 values (q8_0 fits, q4_k falls back).
fn model(tok: &Tokenizer, tie: bool) -> Llama {
    assert!(tok.vocab_size() < 512);
    let cfg = ModelConfig {
        name: "t".into(),
        vocab_size: 512,
        d_model: 64,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 16,
        ffn_hidden: 128,
        max_seq_len: 64,
        rope_theta: 10_000.0,
        norm_eps: 1e-5,
        tie_embeddings: tie,
    };
    Llama::new_random(&cfg, 11, &Device::Cpu).unwrap()
}

fn logits(m: &Llama, ids: &[u32]) -> Vec<f32> {
    let t = Tensor::new(ids, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    m.forward(&t).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn batch(tok: &Tokenizer) -> Vec<u32> {
    let mut ids = vec![thau::tokenizer::BOS];
    ids.extend(tok.encode("El gato duerme en la casa. The cat sleeps."));
    ids.push(450); // a padding id: real rows, just never produced by the tokenizer
    ids
}

#[test]
fn f32_round_trip_is_exact_and_keeps_the_tokenizer() {
    let tok = tokenizer();
    let dir = tempfile::tempdir().unwrap();
    for tie in [true, false] {
        let src = model(&tok, tie);
        let path = dir.path().join(format!("m-{tie}.gguf"));
        let report = export_gguf(&tok, &src, GgufDtype::F32, &path, "round-trip").unwrap();
        assert!(report.fallbacks.is_empty());
        assert_eq!(report.tensors.iter().any(|(n, _)| n == "output.weight"), !tie);

        let g = read_gguf(&path).unwrap();
        assert_eq!(g.cfg, ModelConfig { name: "imported".into(), ..src.cfg.clone() });
        assert_eq!(g.name, "round-trip");
        assert_eq!(g.chat_template.as_deref(), Some(thau::tokenizer::CHAT_TEMPLATE_JINJA));
        let back = g.to_llama(&Device::Cpu, &path).unwrap();
        let ids = batch(&tok);
        assert_eq!(max_diff(&logits(&src, &ids), &logits(&back, &ids)), 0.0, "tie={tie}");

        // The tokenizer comes back exactly: same JSON, same ids on tricky text.
        assert_eq!(g.tokenizer.to_json().unwrap(), tok.to_json().unwrap());
        assert_eq!(g.tokenizer.vocab_size(), tok.vocab_size());
        for s in TRICKY {
            assert_eq!(g.tokenizer.encode(s), tok.encode(s), "{s:?}");
            assert_eq!(g.tokenizer.encode_with_specials(s), tok.encode_with_specials(s), "{s:?}");
        }
    }
}

#[test]
fn file_layout_keys_and_types() {
    let tok = tokenizer();
    let src = model(&tok, true);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    export_gguf(&tok, &src, GgufDtype::Q8_0, &path, "keys").unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..4], b"GGUF");
    assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 3, "GGUF version 3");
    let f = GgufFile::open(&path).unwrap();
    let get = |k: &str| f.metadata.get(k).unwrap_or_else(|| panic!("key {k} missing"));
    for (k, want) in [
        ("llama.context_length", 64),
        ("llama.embedding_length", 64),
        ("llama.block_count", 2),
        ("llama.feed_forward_length", 128),
        ("llama.attention.head_count", 4),
        ("llama.attention.head_count_kv", 2),
        ("llama.rope.dimension_count", 16),
        ("tokenizer.ggml.bos_token_id", 0),
        ("tokenizer.ggml.eos_token_id", 1),
        ("tokenizer.ggml.eot_token_id", 7),
        ("tokenizer.ggml.padding_token_id", 2),
        ("general.file_type", 7),
    ] {
        assert!(matches!(get(k), Value::U32(v) if *v == want), "{k} = {:?}", get(k));
    }
    assert!(matches!(get("general.architecture"), Value::String(s) if s == "llama"));
    assert!(matches!(get("tokenizer.ggml.model"), Value::String(s) if s == "gpt2"));
    assert!(matches!(get("tokenizer.ggml.pre"), Value::String(s) if s == "gpt-2"));
    assert!(matches!(get("tokenizer.ggml.add_bos_token"), Value::Bool(true)));
    assert!(matches!(get("tokenizer.ggml.add_eos_token"), Value::Bool(false)));
    assert!(matches!(get("llama.rope.freq_base"), Value::F32(v) if *v == 10_000.0));
    let Value::Array(types) = get("tokenizer.ggml.token_type") else { panic!() };
    let Value::Array(tokens) = get("tokenizer.ggml.tokens") else { panic!() };
    assert_eq!(tokens.len(), 512, "padded to the embedding rows");
    let t = |i: usize| match &types[i] {
        Value::I32(t) => *t,
        v => panic!("{v:?}"),
    };
    assert_eq!((t(0), t(7), t(19), t(20), t(399), t(400), t(511)), (3, 3, 3, 1, 1, 5, 5));
    assert!(matches!(&tokens[400], Value::String(s) if s == "<|unused_400|>"));
    for info in &f.tensors {
        let want = if info.dims.len() == 1 { GgmlDType::F32 } else { GgmlDType::Q8_0 };
        assert_eq!(info.dtype, want, "{}", info.name);
    }
    assert!(f.info("output.weight").is_none(), "tied embeddings have no output tensor");
    assert_eq!(f.info("blk.1.attn_k.weight").unwrap().dims, vec![32, 64]);
}

#[test]
fn quantized_exports_stay_close_and_fall_back_where_blocks_do_not_fit() {
    let tok = tokenizer();
    let src = model(&tok, false);
    let ids = batch(&tok);
    let want = logits(&src, &ids);
    let dir = tempfile::tempdir().unwrap();
    for (dtype, tol) in [(GgufDtype::F16, 2e-3), (GgufDtype::Q8_0, 2e-2), (GgufDtype::Q4K, 2e-2)] {
        let path = dir.path().join(format!("{}.gguf", dtype.as_str()));
        let report = export_gguf(&tok, &src, dtype, &path, "q").unwrap();
        if dtype == GgufDtype::Q4K {
            // Rows of 64 and 128 values: no q4_k block of 256 fits, q8_0 is used instead.
            assert_eq!(report.fallbacks.len(), report.tensors.iter().filter(|(n, _)| !n.contains("norm")).count());
            assert!(report.tensors.iter().all(|(n, t)| n.contains("norm") || *t == GgmlDType::Q8_0));
        } else {
            assert!(report.fallbacks.is_empty());
        }
        let back = read_gguf(&path).unwrap().to_llama(&Device::Cpu, &path).unwrap();
        let d = max_diff(&want, &logits(&back, &ids));
        assert!(d > 0.0 && d < tol, "{}: max |diff| {d}", dtype.as_str());
    }
    // q4_k proper on rows of 256.
    let cfg = ModelConfig { d_model: 256, n_heads: 4, head_dim: 64, ffn_hidden: 256, ..src.cfg.clone() };
    let big = Llama::new_random(&cfg, 5, &Device::Cpu).unwrap();
    let path = dir.path().join("q4k.gguf");
    let report = export_gguf(&tok, &big, GgufDtype::Q4K, &path, "q").unwrap();
    assert!(report.fallbacks.is_empty());
    let g = read_gguf(&path).unwrap();
    assert_eq!(g.tensors["model.layers.0.self_attn.q_proj.weight"].dtype(), GgmlDType::Q4K);
    let back = g.to_llama(&Device::Cpu, &path).unwrap();
    // 4-bit weights of a Gaussian matrix: about 10% relative RMS error per weight, and q/k
    // rows back in their places (a misplaced row would be 140% off).
    for ((name, a), (_, b)) in big.named_vars().iter().zip(back.named_vars().iter()) {
        let a: Vec<f32> = a.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = b.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let err: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt();
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(err < 0.15 * norm, "{name}: relative RMS error {}", err / norm);
    }
    let want = logits(&big, &ids);
    let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
    let d = max_diff(&want, &logits(&back, &ids));
    assert!(d < 0.3 * scale, "q4_k: max |diff| {d} on logits up to {scale}");
}

#[test]
fn modelfile_names_the_file_template_and_stops() {
    let cfg = ModelConfig::tiny();
    let m = thau::export::modelfile("thau-q8_0.gguf", &cfg).unwrap();
    assert!(m.contains("\nFROM ./thau-q8_0.gguf\n"), "{m}");
    assert!(m.contains(&format!("TEMPLATE \"\"\"{}\"\"\"", thau::tokenizer::OLLAMA_TEMPLATE)));
    for s in thau::tokenizer::STOP_STRINGS {
        assert!(m.contains(&format!("PARAMETER stop \"{s}\"")), "{m}");
    }
    assert!(m.contains(&format!("PARAMETER num_ctx {}", cfg.max_seq_len)));
}

// ---- damaged and foreign files ----------------------------------------------------------

/// A good f32 export to damage.
fn good_file(dir: &Path) -> (PathBuf, Vec<u8>) {
    let tok = tokenizer();
    let path = dir.join("good.gguf");
    export_gguf(&tok, &model(&tok, true), GgufDtype::F32, &path, "good").unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// Rewrite the good file with edited metadata and tensor descriptors (data copied as is).
fn rewrite(
    src: &Path,
    out: &Path,
    edit_meta: impl Fn(&mut Vec<(String, Value)>),
    edit_tensors: impl Fn(&mut Vec<TensorInfo>),
) {
    let f = GgufFile::open(src).unwrap();
    let mut meta: Vec<(String, Value)> = f.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    meta.sort_by(|a, b| a.0.cmp(&b.0));
    edit_meta(&mut meta);
    let mut tensors = f.tensors.clone();
    edit_tensors(&mut tensors);
    gguf_file::write(out, &meta, &tensors, |i| {
        let t = &tensors[i];
        let n = gguf_file::tensor_bytes(&t.dims, t.dtype).unwrap();
        let mut raw = f.info(&t.name).map(|o| f.raw(o).to_vec()).unwrap_or_default();
        raw.resize(n, 0);
        Ok(raw)
    })
    .unwrap();
}

/// Edits of a file's metadata list.
type MetaEdit<'a> = &'a dyn Fn(&mut Vec<(String, Value)>);

fn set(meta: &mut [(String, Value)], key: &str, v: Value) {
    meta.iter_mut().find(|(k, _)| k == key).unwrap_or_else(|| panic!("{key}")).1 = v;
}

#[track_caller]
fn assert_err(path: &Path, want: &str, needle: &str) {
    let err = match read_gguf(path) {
        Ok(_) => panic!("{}: accepted, expected a {want} error", path.display()),
        Err(e) => e,
    };
    let kind = match &err {
        Error::Corrupt { .. } => "corrupt",
        Error::Incompatible { .. } => "incompatible",
        Error::NotFound { .. } => "not found",
        _ => "other",
    };
    let msg = err.to_string();
    assert_eq!(kind, want, "{msg}");
    assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    assert!(msg.contains(&path.display().to_string()), "{msg:?} should name the file");
}

#[test]
fn broken_files_are_refused_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (good, bytes) = good_file(dir.path());
    let p = |name: &str| dir.path().join(name);
    let write = |name: &str, b: &[u8]| {
        std::fs::write(p(name), b).unwrap();
        p(name)
    };

    assert_err(&p("missing.gguf"), "not found", "missing.gguf");
    let mut bad = bytes.clone();
    bad[..4].copy_from_slice(b"GGML");
    assert_err(&write("magic.gguf", &bad), "corrupt", "magic");
    let mut v1 = bytes.clone();
    v1[4] = 1;
    assert_err(&write("v1.gguf", &v1), "incompatible", "version 1");
    assert_err(&write("empty.gguf", b""), "corrupt", "truncated");
    assert_err(&write("header.gguf", &bytes[..30]), "corrupt", "truncated");
    assert_err(&write("meta.gguf", &bytes[..2000]), "corrupt", "truncated");
    assert_err(&write("data.gguf", &bytes[..bytes.len() - 100]), "corrupt", "truncated");
    std::fs::write(p("text.gguf"), "this is not a model").unwrap();
    assert_err(&p("text.gguf"), "corrupt", "magic");

    // Every cut through the file is an error, never a panic.
    for cut in (0..bytes.len()).step_by(bytes.len() / 97) {
        let path = write("cut.gguf", &bytes[..cut]);
        assert!(read_gguf(&path).is_err(), "cut at {cut}");
    }
    // Bytes flipped in the header region: errors or (harmless values) a model, no panic.
    for i in (0..4000.min(bytes.len())).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0xA5;
        let _ = read_gguf(&write("flip.gguf", &b));
    }

    let edit = |name: &str, m: MetaEdit, t: &dyn Fn(&mut Vec<TensorInfo>)| {
        rewrite(&good, &p(name), m, t);
        p(name)
    };
    let keep = |_: &mut Vec<TensorInfo>| {};
    let path = edit("arch.gguf", &|m| set(m, "general.architecture", Value::String("gptj".into())), &keep);
    assert_err(&path, "incompatible", "architecture 'gptj'");
    for key in ["llama.embedding_length", "llama.block_count", "tokenizer.ggml.tokens", "tokenizer.ggml.merges"] {
        let path = edit("key.gguf", &|m| m.retain(|(k, _)| k != key), &keep);
        assert_err(&path, "corrupt", key);
    }
    let path = edit("ffn.gguf", &|m| set(m, "llama.feed_forward_length", Value::U32(96)), &keep);
    assert_err(&path, "corrupt", "blk.0.ffn_gate.weight has shape [128, 64] but the metadata implies [96, 64]");
    let path = edit("shape.gguf", &|_| {}, &|t| {
        t.iter_mut().find(|t| t.name == "blk.1.attn_v.weight").unwrap().dims = vec![64, 64]
    });
    assert_err(&path, "corrupt", "blk.1.attn_v.weight");
    let path = edit("gone.gguf", &|_| {}, &|t| t.retain(|t| t.name != "blk.0.ffn_down.weight"));
    assert_err(&path, "corrupt", "blk.0.ffn_down.weight is missing");
    let path = edit("extra.gguf", &|_| {}, &|t| t.push(TensorInfo::new("rope_freqs.weight", vec![8], GgmlDType::F32)));
    assert_err(&path, "incompatible", "rope_freqs.weight");
    // A SentencePiece model needs scores; unknown tokenizers and pre-tokenizers are refused.
    let path = edit("spm.gguf", &|m| set(m, "tokenizer.ggml.model", Value::String("llama".into())), &keep);
    assert_err(&path, "corrupt", "tokenizer.ggml.scores is missing");
    let path = edit("bert.gguf", &|m| set(m, "tokenizer.ggml.model", Value::String("bert".into())), &keep);
    assert_err(&path, "incompatible", "tokenizer model 'bert'");
    let other_specials = |m: &mut Vec<(String, Value)>| {
        let Some((_, Value::Array(toks))) = m.iter_mut().find(|(k, _)| k == "tokenizer.ggml.tokens") else { panic!() };
        toks[0] = Value::String("<|begin_of_text|>".into());
    };
    let path = edit(
        "pre.gguf",
        &|m| {
            other_specials(m);
            set(m, "tokenizer.ggml.pre", Value::String("qwen9".into()))
        },
        &keep,
    );
    assert_err(&path, "incompatible", "pre-tokenizer 'qwen9'");
    // Other special tokens: read as a foreign byte-level vocabulary with the file's BOS.
    let path = edit("specials.gguf", &other_specials, &keep);
    let g = read_gguf(&path).unwrap();
    assert!(g.tokenizer.foreign().is_some());
    assert_eq!(g.tokenizer.encode("hola"), tokenizer().encode("hola"));
    let path = edit(
        "vocab.gguf",
        &|m| {
            let Some((_, Value::Array(toks))) = m.iter_mut().find(|(k, _)| k == "tokenizer.ggml.tokens") else {
                panic!()
            };
            toks.pop();
        },
        &keep,
    );
    assert_err(&path, "corrupt", "tokenizer.ggml.tokens has 511 entries");
    let path = edit("heads.gguf", &|m| set(m, "llama.attention.head_count_kv", Value::U32(3)), &keep);
    assert_err(&path, "corrupt", "n_kv_heads");
}

#[test]
fn broken_safetensors_are_refused() {
    let tok = tokenizer();
    let src = model(&tok, true);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hf");
    thau::export::export_hf(&tok, &src, thau::export::HfDtype::F32, &out, false).unwrap();
    let st = out.join("model.safetensors");
    let bytes = std::fs::read(&st).unwrap();
    let back = Llama::load(&src.cfg, &st, &Device::Cpu).unwrap();
    let ids = batch(&tok);
    assert_eq!(max_diff(&logits(&src, &ids), &logits(&back, &ids)), 0.0);
    for (what, b) in [
        ("truncated", bytes[..bytes.len() - 10].to_vec()),
        ("header only", bytes[..100].to_vec()),
        ("garbage", b"\xff\xff\xff\xff\xff\xff\xff\x7fnot safetensors".to_vec()),
        ("empty", Vec::new()),
    ] {
        std::fs::write(&st, &b).unwrap();
        let err = Llama::load(&src.cfg, &st, &Device::Cpu).map(|_| ()).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{what}: {err}");
    }
    // Weights of another shape than config.json says.
    std::fs::write(&st, &bytes).unwrap();
    let other = ModelConfig { ffn_hidden: 96, ..src.cfg.clone() };
    let err = Llama::load(&other, &st, &Device::Cpu).map(|_| ()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }) && err.to_string().contains("mlp.gate_proj"), "{err}");
}
