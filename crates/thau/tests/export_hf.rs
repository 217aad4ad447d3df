//! The Hugging Face folder: every file transformers needs, weights that load back to the same
//! logits, a tokenizer.json that prepends BOS like llama.cpp, and safe replacement rules.
//! (transformers itself runs in the opt-in test in `export_llamacpp.rs`.)

use candle_core::{DType, Device, Tensor};
use std::path::Path;
use thau::export::{export_hf, HfDtype};
use thau::model::{Llama, ModelConfig};
use thau::tokenizer::{Tokenizer, BOS, END, EOS, PAD};

fn tokenizer() -> Tokenizer {
    let docs = thau::data::synthetic::bilingual_corpus(2, 20_000);
    Tokenizer::train(docs.into_iter().map(|d| d.text), 350).unwrap()
}

fn model(tok: &Tokenizer, tie: bool) -> Llama {
    let cfg = ModelConfig { vocab_size: tok.vocab_size() + 10, tie_embeddings: tie, ..ModelConfig::tiny() };
    Llama::new_random(&cfg, 4, &Device::Cpu).unwrap()
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn logits(m: &Llama, ids: &[u32]) -> Vec<f32> {
    let t = Tensor::new(ids, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    m.forward(&t).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn hf_folder_has_everything_and_loads_back() {
    let tok = tokenizer();
    let dir = tempfile::tempdir().unwrap();
    for tie in [true, false] {
        let src = model(&tok, tie);
        let out = dir.path().join(format!("hf-{tie}"));
        export_hf(&tok, &src, HfDtype::F32, &out, false).unwrap();

        let cfg = read_json(&out.join("config.json"));
        assert_eq!(cfg["architectures"], serde_json::json!(["LlamaForCausalLM"]));
        assert_eq!(cfg["model_type"], "llama");
        assert_eq!(cfg["tie_word_embeddings"], tie);
        assert_eq!(cfg["vocab_size"], src.cfg.vocab_size);
        assert_eq!(cfg["head_dim"], src.cfg.head_dim);
        assert_eq!(cfg["num_key_value_heads"], src.cfg.n_kv_heads);
        assert_eq!(cfg["rope_theta"], src.cfg.rope_theta);
        assert_eq!(cfg["max_position_embeddings"], src.cfg.max_seq_len);
        assert_eq!((cfg["bos_token_id"].clone(), cfg["eos_token_id"].clone()), (BOS.into(), EOS.into()));
        let gen = read_json(&out.join("generation_config.json"));
        assert_eq!(gen["eos_token_id"], serde_json::json!([EOS, END]));
        assert_eq!(gen["pad_token_id"], PAD);
        let tc = read_json(&out.join("tokenizer_config.json"));
        assert_eq!(tc["tokenizer_class"], "PreTrainedTokenizerFast");
        assert_eq!(tc["add_bos_token"], true);
        assert_eq!(tc["bos_token"], "<|bos|>");
        assert_eq!(tc["chat_template"], thau::tokenizer::CHAT_TEMPLATE_JINJA);
        assert!(out.join("special_tokens_map.json").exists());

        // Weights: HF names, metadata format=pt, no lm_head when tied, same logits.
        let st = std::fs::read(out.join("model.safetensors")).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&st).unwrap();
        assert_eq!(meta.metadata().as_ref().and_then(|m| m.get("format")).map(String::as_str), Some("pt"));
        assert_eq!(meta.tensors().contains_key("lm_head.weight"), !tie);
        let back = Llama::load(&src.cfg, &out.join("model.safetensors"), &Device::Cpu).unwrap();
        let ids = [BOS, 30, 31, 300, 355];
        assert_eq!(logits(&src, &ids), logits(&back, &ids));

        // tokenizer.json: THAU's tokenizer (loads as one), plus BOS with special tokens.
        let hf_tok = tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
        let text = "¿Qué hora es? What time is it? 😀";
        let with = hf_tok.encode(text, true).unwrap().get_ids().to_vec();
        let without = hf_tok.encode(text, false).unwrap().get_ids().to_vec();
        assert_eq!(without, tok.encode(text));
        assert_eq!(with[0], BOS);
        assert_eq!(with[1..], without[..]);
        assert_eq!(Tokenizer::load(&out.join("tokenizer.json")).unwrap().encode(text), tok.encode(text));
    }
}

#[test]
fn hf_dtypes_and_replacement_rules() {
    let tok = tokenizer();
    let src = model(&tok, true);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hf");
    export_hf(&tok, &src, HfDtype::Bf16, &out, false).unwrap();
    let st = candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).unwrap();
    assert!(st.values().all(|t| t.dtype() == DType::BF16));
    assert_eq!(read_json(&out.join("config.json"))["torch_dtype"], "bfloat16");

    // A non-empty folder is kept unless --force; with it, replaced completely.
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let err = export_hf(&tok, &src, HfDtype::F16, &out, false).unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    assert!(out.join("keep.txt").exists());
    export_hf(&tok, &src, HfDtype::F16, &out, true).unwrap();
    assert!(!out.join("keep.txt").exists());
    assert_eq!(read_json(&out.join("config.json"))["torch_dtype"], "float16");
    // An empty folder is fine; a file is not; no temporary folders are left behind.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    export_hf(&tok, &src, HfDtype::F32, &empty, false).unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(export_hf(&tok, &src, HfDtype::F32, &file, true).is_err());
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    assert!(HfDtype::parse("int8").is_err());
}
