//! A served model that follows its run: new weights (a kept learning run) are swapped in for
//! new requests while a request already running finishes on the old ones; removing them
//! (`thau learn undo`) swaps the old ones back; `serving.json` says what is served.

use candle_core::Device;
use thau::checkpoint::{RunDir, TrainState};
use thau::infer::{read_serving, Engine, GenerateOptions, LiveEngine, Prompt, Request, SamplingOptions};
use thau::model::{Age, Llama, ModelConfig};
use thau::tokenizer::Tokenizer;

fn state(step: u64) -> TrainState {
    TrainState { step, total_steps: step, ..TrainState::start(Age::YOUNGEST, Default::default(), "") }
}

/// The ids sampled for a fixed prompt with a fixed seed, `n` tokens, EOS ignored: the same
/// weights give the same ids, other weights (other logits) others.
fn greedy(engine: &Engine, n: usize) -> Vec<u32> {
    request(engine, n).wait(|_| {}).unwrap().tokens
}

fn request(engine: &Engine, n: usize) -> thau::infer::Stream {
    let options = GenerateOptions {
        max_tokens: n,
        sampling: SamplingOptions {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            seed: 7,
            ..SamplingOptions::default()
        },
        stop_at_eos: false,
        ..GenerateOptions::default()
    };
    engine.submit(Request { prompt: Prompt::Text("hola mundo".into()), options }).unwrap()
}

#[test]
fn a_live_engine_swaps_in_new_weights_and_lets_running_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let text = thau::data::synthetic::bilingual_corpus(1, 20_000);
    let tok = Tokenizer::train(text.into_iter().map(|d| d.text), 300).unwrap();
    tok.save(&run.tokenizer_path()).unwrap();
    let cfg = ModelConfig { vocab_size: tok.vocab_size(), max_seq_len: 256, ..ModelConfig::tiny() };
    run.save_config(Age::YOUNGEST, &cfg).unwrap();
    let first = run.save_checkpoint(&Llama::new_random(&cfg, 1, &Device::Cpu).unwrap(), &[], &state(10), 3).unwrap();

    let live = LiveEngine::from_run(dir.path(), None, None, Some(2)).unwrap();
    assert!(live.follows_run());
    assert_eq!(live.served().checkpoint.as_deref(), Some(first.dir.as_path()));
    assert_eq!(read_serving(dir.path()).unwrap().unwrap(), live.served(), "serving.json says what is served");
    assert!(live.refresh().unwrap().is_none(), "nothing changed");
    let old = live.engine();
    let before = greedy(&old, 12);

    // A request is running when the new weights arrive.
    let running = request(&old, 150);
    assert!(matches!(running.next_event(), Some(thau::infer::Event::Started { .. })), "the request is admitted");
    let second = run.save_checkpoint(&Llama::new_random(&cfg, 2, &Device::Cpu).unwrap(), &[], &state(20), 3).unwrap();
    drop(old);
    let served = live.refresh().unwrap().expect("new weights are swapped in");
    assert_eq!(served.checkpoint.as_deref(), Some(second.dir.as_path()));
    assert_eq!(served.swaps, 1);
    assert_eq!(read_serving(dir.path()).unwrap().unwrap(), served);
    let done = running.wait(|_| {}).unwrap();
    assert_eq!(done.tokens.len(), 150, "the running request finished on the weights it started with");
    let after = greedy(&live.engine(), 12);
    assert_ne!(before, after, "new requests run on the new weights");

    // Undo: the newest checkpoint is the first again, and it is served again.
    std::fs::remove_dir_all(&second.dir).unwrap();
    let served = live.refresh().unwrap().expect("the old weights come back");
    assert_eq!(served.checkpoint.as_deref(), Some(first.dir.as_path()));
    assert_eq!(greedy(&live.engine(), 12), before);

    // Weights that cannot be loaded leave the served ones serving.
    let broken = run.save_checkpoint(&Llama::new_random(&cfg, 3, &Device::Cpu).unwrap(), &[], &state(30), 3).unwrap();
    std::fs::write(broken.dir.join("model.safetensors"), b"not weights").unwrap();
    assert!(live.refresh().is_err());
    assert!(live.refresh().unwrap().is_none(), "a checkpoint that failed is not loaded again");
    assert_eq!(live.served().checkpoint.as_deref(), Some(first.dir.as_path()));
    assert_eq!(greedy(&live.engine(), 12), before);

    // A fixed engine never changes.
    let llama = Llama::new_random(&cfg, 1, &Device::Cpu).unwrap();
    let model = thau::infer::InferModel::from_llama(&llama, thau::infer::WeightDtype::F32).unwrap();
    let fixed = LiveEngine::fixed(Engine::spawn("fixed", model, tok).unwrap());
    assert!(!fixed.follows_run() && fixed.refresh().unwrap().is_none());
}
