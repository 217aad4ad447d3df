//! Supervised fine-tuning: the loss covers exactly the assistant's tokens, a tiny model learns
//! its examples well enough to answer them greedily (tool calls included), bad files are
//! rejected with the line, a run-level fine-tune adds a checkpoint and keeps its base, and
//! replay keeps training on the pretraining text.

use candle_core::Device;
use serde_json::json;
use std::sync::atomic::AtomicBool;
use thau::infer::{generate_ids, GenerateOptions, InferModel, KvState, SamplingOptions, WeightDtype};
use thau::model::{Age, Llama, ModelConfig};
use thau::tokenizer::{render, Message, Tokenizer, ToolCall, ASSISTANT, END, TOOL_CALL, TOOL_CALL_END};
use thau::tools::builtin_specs;
use thau::train::sft::{self, SftConfig, SftExample};

fn tokenizer() -> Tokenizer {
    let text = thau::data::synthetic::bilingual_corpus(1, 20_000);
    Tokenizer::train(text.into_iter().map(|d| d.text), 400).unwrap()
}

fn cfg(vocab: usize) -> ModelConfig {
    ModelConfig {
        name: "sft-test".into(),
        vocab_size: vocab,
        d_model: 64,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 16,
        ffn_hidden: 128,
        max_seq_len: 192,
        rope_theta: 10_000.0,
        norm_eps: 1e-5,
        tie_embeddings: false,
    }
}

fn examples() -> Vec<SftExample> {
    let calc = builtin_specs().into_iter().filter(|t| t.name == "calculator").collect::<Vec<_>>();
    vec![
        SftExample::new(vec![], vec![Message::user("¿Cómo te llamas?"), Message::assistant("Me llamo THAU.")]),
        SftExample::new(vec![], vec![Message::user("What day is it after Monday?"), Message::assistant("Tuesday.")]),
        SftExample::new(
            calc.clone(),
            vec![
                Message::user("Calcula 12 por 7"),
                Message::assistant_calls("", vec![ToolCall::new("calculator", json!({"expression": "12*7"}))]),
                Message::tool("84"),
                Message::assistant("12 por 7 son 84."),
            ],
        ),
    ]
}

#[test]
fn only_assistant_tokens_are_trained() {
    let tok = tokenizer();
    let ex = &examples()[2];
    let enc = sft::encode(&tok, ex);
    assert_eq!(enc.ids.len(), enc.trained.len());
    // The tool list is in the system prompt, which is context only.
    let text = tok.decode(&enc.ids);
    assert!(text.contains("calculator(expression: string)"), "{text}");
    // Trained tokens are exactly the two assistant turns after their role tokens.
    let mut expected = Vec::new();
    let mut in_assistant = false;
    for (i, &id) in enc.ids.iter().enumerate() {
        if i > 0 && enc.ids[i - 1] == ASSISTANT {
            in_assistant = true;
        }
        expected.push(in_assistant && id != ASSISTANT);
        if id == END {
            in_assistant = false;
        }
    }
    assert_eq!(enc.trained, expected);
    let trained: Vec<u32> = enc.ids.iter().zip(&enc.trained).filter(|(_, &t)| t).map(|(&i, _)| i).collect();
    assert!(trained.contains(&TOOL_CALL) && trained.contains(&TOOL_CALL_END));
    assert_eq!(trained.iter().filter(|&&i| i == END).count(), 2);
    assert!(tok.decode(&trained).contains("{\"name\":\"calculator\",\"arguments\":{\"expression\":\"12*7\"}}"));
    // The tool result is never a target.
    let batch = sft::make_batch(&[&enc], enc.ids.len() - 1);
    let targets: Vec<u32> = batch.targets.iter().copied().filter(|&t| t != thau::model::ops::IGNORE).collect();
    assert_eq!(targets, trained);
}

#[test]
fn a_tiny_model_learns_its_examples_including_a_tool_call() {
    let tok = tokenizer();
    let model = Llama::new_random(&cfg(tok.vocab_size()), 7, &Device::Cpu).unwrap();
    let data = examples();
    let before = sft::sft_loss(&model, &tok, &data, 192).unwrap();
    let config = SftConfig { steps: 150, lr: 3e-3, warmup_steps: 5, batch_size: 4, ..SftConfig::default() };
    let mut seen = 0;
    let summary = sft::finetune(&model, &tok, &data, &config, &mut |s| {
        seen += 1;
        assert!(s.loss.is_finite());
        true
    })
    .unwrap();
    assert_eq!((summary.steps, seen), (150, 150));
    let after = sft::sft_loss(&model, &tok, &data, 192).unwrap();
    assert!(after < 0.1 * before, "SFT loss {before} -> {after}");
    // Greedy answers reproduce the training answers, the tool call included.
    let infer = InferModel::from_llama(&model, WeightDtype::F32).unwrap();
    let opts =
        GenerateOptions { max_tokens: 120, sampling: SamplingOptions::greedy(), stop: vec![], stop_at_eos: true };
    let call_prompt = render(&tok, &thau::tokenizer::with_tools(&data[2].messages[..1], &data[2].tools), true);
    let out =
        generate_ids(&infer, &tok, &mut KvState::default(), &call_prompt, &opts, &AtomicBool::new(false), &mut |_| {
            true
        })
        .unwrap();
    assert!(out.text.contains("{\"name\":\"calculator\",\"arguments\":{\"expression\":\"12*7\"}}"), "{:?}", out.text);
    let name_prompt = render(&tok, &data[0].messages[..1], true);
    let out =
        generate_ids(&infer, &tok, &mut KvState::default(), &name_prompt, &opts, &AtomicBool::new(false), &mut |_| {
            true
        })
        .unwrap();
    assert_eq!(out.text.trim(), "Me llamo THAU.");
}

#[test]
fn bad_files_name_the_line_and_bad_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.jsonl");
    sft::write_jsonl(&p, &examples()).unwrap();
    assert_eq!(sft::read_jsonl(&p).unwrap(), examples());
    std::fs::write(&p, "{\"messages\": [{\"role\": \"user\", \"content\": \"hola\"}, {\"role\": \"assistant\", \"content\": \"hola\"}]}\n{not json\n").unwrap();
    let e = sft::read_jsonl(&p).unwrap_err().to_string();
    assert!(e.contains("line 2"), "{e}");
    std::fs::write(&p, "{\"messages\": [{\"role\": \"user\", \"content\": \"hola\"}]}\n").unwrap();
    assert!(sft::read_jsonl(&p).unwrap_err().to_string().contains("no assistant message"));
    std::fs::write(&p, "\n").unwrap();
    assert!(sft::read_jsonl(&p).is_err());
    std::fs::write(&p, "{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}\n").unwrap();
    assert!(sft::read_jsonl(&p).is_err());

    let tok = tokenizer();
    let model = Llama::new_random(&cfg(tok.vocab_size()), 7, &Device::Cpu).unwrap();
    let bad = SftConfig { lr: f64::NAN, ..SftConfig::default() };
    assert!(sft::finetune(&model, &tok, &examples(), &bad, &mut |_| true).is_err());
    let short = SftConfig { max_seq_len: 4, ..SftConfig::default() };
    let e = sft::finetune(&model, &tok, &examples(), &short, &mut |_| true).unwrap_err().to_string();
    assert!(e.contains("--seq-len"), "{e}");
}

#[test]
fn finetuning_a_run_adds_a_checkpoint_and_keeps_its_base() {
    use thau::checkpoint::{RunDir, TrainState};
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let tok = tokenizer();
    tok.save(&run.tokenizer_path()).unwrap();
    let mcfg = cfg(tok.vocab_size());
    run.save_config(Age::YOUNGEST, &mcfg).unwrap();
    let model = Llama::new_random(&mcfg, 3, &Device::Cpu).unwrap();
    let state = TrainState { step: 40, total_steps: 40, ..TrainState::start(Age::YOUNGEST, Default::default(), "") };
    let base = run.save_checkpoint(&model, &[], &state, 2).unwrap();
    let config = SftConfig { steps: 3, batch_size: 2, ..SftConfig::default() };
    // This run has no pretraining shard: replay is refused, naming the missing file.
    let replay = SftConfig { replay: true, ..config.clone() };
    let e = sft::finetune_run(dir.path(), None, &examples(), "test examples", &replay, &mut |_| true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("train.bin") && e.contains("without --replay"), "{e}");
    let (ck, summary) =
        sft::finetune_run(dir.path(), None, &examples(), "test examples", &config, &mut |_| true).unwrap();
    assert_eq!((ck.age, ck.step, summary.steps), (Age::YOUNGEST, 43, 3));
    let steps: Vec<u64> = run.checkpoints(Age::YOUNGEST).unwrap().iter().map(|c| c.step).collect();
    assert_eq!(steps, vec![40, 43], "the base checkpoint is kept");
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(ck.dir.join("sft.json")).unwrap()).unwrap();
    assert_eq!(record["data"], "test examples");
    assert_eq!(record["base"], serde_json::json!(base.dir));
    // The new weights differ from the base and load back.
    let tuned = ck.load_model(&mcfg, &Device::Cpu).unwrap();
    let a = base
        .load_model(&mcfg, &Device::Cpu)
        .unwrap()
        .embed
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let b = tuned.embed.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_ne!(a, b);
}

/// Language-modelling loss of `model` on the first windows of `tokens`.
fn text_loss(model: &Llama, tokens: &[u32], seq: usize) -> f32 {
    let rows = 8;
    let mut ids = Vec::new();
    let mut tg = Vec::new();
    for r in 0..rows {
        let w = &tokens[r * seq..r * seq + seq + 1];
        ids.extend_from_slice(&w[..seq]);
        tg.extend_from_slice(&w[1..]);
    }
    let ids = candle_core::Tensor::from_slice(&ids, (rows, seq), &Device::Cpu).unwrap();
    let tg = candle_core::Tensor::from_slice(&tg, (rows, seq), &Device::Cpu).unwrap();
    model.eval_loss(&ids, &tg).unwrap().to_scalar::<f32>().unwrap()
}

/// With replay, fine-tuning also trains on the pretraining text: the text's loss ends well
/// below that of the same fine-tune without replay. Replay without a shard is an error.
#[test]
fn replay_keeps_training_on_the_pretraining_text() {
    let tok = tokenizer();
    let text = thau::data::synthetic::bilingual_corpus(2, 40_000);
    let tokens: Vec<u32> = text.iter().flat_map(|d| tok.encode(&d.text)).collect();
    assert!(tokens.len() > 2_000, "{} tokens", tokens.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.bin");
    thau::data::write_shard(&path, &tokens, tok.vocab_size()).unwrap();
    let shard = thau::data::TokenShard::open(&path).unwrap();
    let mcfg = cfg(tok.vocab_size());
    let config = SftConfig { steps: 60, lr: 3e-3, warmup_steps: 5, batch_size: 4, ..SftConfig::default() };
    let tune = |replay: bool| {
        let model = Llama::new_random(&mcfg, 5, &Device::Cpu).unwrap();
        let cfg = SftConfig { replay, ..config.clone() };
        sft::finetune_with_replay(&model, &tok, &examples(), &cfg, Some(&shard), &mut |_| true).unwrap();
        text_loss(&model, &tokens, 64)
    };
    let (plain, replayed) = (tune(false), tune(true));
    assert!(replayed < plain - 0.5, "text loss with replay {replayed:.3}, without {plain:.3}");
    let model = Llama::new_random(&mcfg, 5, &Device::Cpu).unwrap();
    let cfg = SftConfig { replay: true, ..config };
    let e = sft::finetune_with_replay(&model, &tok, &examples(), &cfg, None, &mut |_| true).unwrap_err().to_string();
    assert!(e.contains("--replay"), "{e}");
    // A shard of another vocabulary, or too short for the windows, is refused.
    let other = dir.path().join("other.bin");
    thau::data::write_shard(&other, &tokens, tok.vocab_size() + 1).unwrap();
    let other = thau::data::TokenShard::open(&other).unwrap();
    let e = sft::finetune_with_replay(&model, &tok, &examples(), &cfg, Some(&other), &mut |_| true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("vocabulary"), "{e}");
    let short = dir.path().join("short.bin");
    thau::data::write_shard(&short, &tokens[..100], tok.vocab_size()).unwrap();
    let short = thau::data::TokenShard::open(&short).unwrap();
    let e = sft::finetune_with_replay(&model, &tok, &examples(), &cfg, Some(&short), &mut |_| true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("too few"), "{e}");
}
