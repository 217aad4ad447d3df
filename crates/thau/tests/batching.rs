//! Batched decoding is a speed-up, never a change of output: the batched forward pass equals
//! one forward per sequence, and greedy answers of requests decoded together equal their
//! answers decoded one at a time, token for token (f32), with cancellation, stop strings and
//! limits applying to each sequence alone.

use candle_core::Device;
use std::sync::atomic::Ordering;
use thau::infer::{
    Completion, Engine, FinishReason, GenerateOptions, InferModel, KvState, Logits, Prompt, Request, SamplingOptions,
    Stream, WeightDtype,
};
use thau::model::{Llama, ModelConfig};
use thau::tokenizer::Tokenizer;

fn tokenizer() -> Tokenizer {
    let text = thau::data::synthetic::bilingual_corpus(1, 20_000);
    Tokenizer::train(text.into_iter().map(|d| d.text), 300).unwrap()
}

fn cfg(vocab: usize) -> ModelConfig {
    ModelConfig {
        name: "batch-test".into(),
        vocab_size: vocab,
        d_model: 128,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 32,
        ffn_hidden: 256,
        max_seq_len: 64,
        rope_theta: 10_000.0,
        norm_eps: 1e-5,
        tie_embeddings: false,
    }
}

fn ids(n: usize, seed: u32, vocab: usize) -> Vec<u32> {
    (0..n as u32).map(|i| (i * 37 + seed * 11 + 5) % vocab as u32).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn batched_forward_equals_one_forward_per_sequence() {
    let cfg = cfg(300);
    let llama = Llama::new_random(&cfg, 11, &Device::Cpu).unwrap();
    let model = InferModel::from_llama(&llama, WeightDtype::F32).unwrap();
    // 3 sequences take the per-row kernel, 7 the tiled one: both must agree with n = 1.
    for n in [3usize, 7] {
        let prompts: Vec<Vec<u32>> = (0..n).map(|i| ids(3 + 4 * i, i as u32, 300)).collect();
        let mut alone: Vec<KvState> = Vec::new();
        let mut batched: Vec<KvState> = Vec::new();
        for p in &prompts {
            let mut c = KvState::default();
            model.forward(p, &mut c, Logits::Last).unwrap();
            alone.push(c.clone());
            batched.push(c);
        }
        for step in 0..3u32 {
            let next: Vec<u32> = (0..n as u32).map(|i| (i * 13 + step * 7 + 1) % 300).collect();
            let mut want = Vec::new();
            for (t, c) in next.iter().zip(alone.iter_mut()) {
                want.extend(model.forward(&[*t], c, Logits::Last).unwrap());
            }
            let mut refs: Vec<&mut KvState> = batched.iter_mut().collect();
            let got = model.forward_batch(&next, &mut refs).unwrap();
            let diff = max_diff(&got, &want);
            assert!(diff < 1e-4, "n={n} step {step}: batched logits differ by {diff}");
        }
        for (a, b) in alone.iter().zip(&batched) {
            assert_eq!(a.tokens(), b.tokens());
        }
    }
    // Bad input is an error, not a panic: mismatched lengths, a full context, a bad id.
    let mut c = KvState::default();
    assert!(model.forward_batch(&[1, 2], &mut [&mut c]).is_err());
    assert!(model.forward_batch(&[300], &mut [&mut c]).is_err());
    let mut full = KvState::default();
    model.forward(&ids(64, 1, 300), &mut full, Logits::Last).unwrap();
    assert!(model.forward_batch(&[1], &mut [&mut full]).is_err());
}

fn greedy(max_tokens: usize) -> GenerateOptions {
    GenerateOptions { max_tokens, sampling: SamplingOptions::greedy(), stop_at_eos: false, ..Default::default() }
}

/// The requests of the test: different prompt lengths, limits and kinds.
fn requests() -> Vec<Request> {
    let texts = [
        "El barco llega al puerto",
        "hola",
        "The quick brown fox jumps over the lazy dog and keeps running",
        "¿Qué día viene después del lunes?",
        "Un dos tres",
        "mañana",
    ];
    let mut out: Vec<Request> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Request { prompt: Prompt::Text(t.to_string()), options: greedy(6 + 3 * i) })
        .collect();
    // Enough tokens to run into the context limit (64) from a long prompt.
    out.push(Request { prompt: Prompt::Tokens(ids(50, 4, 300)), options: greedy(40) });
    // Sampled (not greedy) with a seed: the same seed gives the same text, batched or not.
    let sampled = SamplingOptions { temperature: 0.9, seed: 7, ..SamplingOptions::default() };
    out.push(Request {
        prompt: Prompt::Text("Había una vez".into()),
        options: GenerateOptions { max_tokens: 10, sampling: sampled, stop_at_eos: false, ..Default::default() },
    });
    out
}

fn finish_all(streams: Vec<Stream>) -> Vec<Completion> {
    streams.into_iter().map(|s| s.wait(|_| {}).unwrap()).collect()
}

#[test]
fn concurrent_requests_decode_together_with_the_same_answers() {
    let tok = tokenizer();
    let cfg = cfg(tok.vocab_size());
    let llama = Llama::new_random(&cfg, 21, &Device::Cpu).unwrap();
    let model = || InferModel::from_llama(&llama, WeightDtype::F32).unwrap();
    // Reference: one request at a time, each to its end.
    let serial = Engine::spawn_batched("serial", model(), tok.clone(), 1).unwrap();
    let want: Vec<Completion> = requests().into_iter().map(|r| serial.generate(r, |_| {}).unwrap()).collect();
    assert_eq!(serial.stats().peak_batch.load(Ordering::Relaxed), 1);
    assert!(want.iter().any(|c| c.finish == FinishReason::ContextFull), "one request must hit the context");
    drop(serial);

    let batched = Engine::spawn_batched("batched", model(), tok.clone(), 8).unwrap();
    // All at once: they decode together (the engine admits what is queued between steps).
    let streams: Vec<Stream> = requests().into_iter().map(|r| batched.submit(r).unwrap()).collect();
    let got = finish_all(streams);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.tokens, w.tokens, "request {i}: batched tokens differ from one-at-a-time");
        assert_eq!(g.text, w.text, "request {i}");
        assert_eq!(g.finish, w.finish, "request {i}");
        assert_eq!(g.usage.completion_tokens, w.usage.completion_tokens, "request {i}");
    }
    let peak = batched.stats().peak_batch.load(Ordering::Relaxed);
    assert!(peak > 1, "the requests never shared a step (peak batch {peak})");

    // Cancelling one request mid-batch stops it alone; a stop string ends only its sequence;
    // a request that arrives while others decode joins them. Streamed text equals the result.
    let long = |t: &str| Request { prompt: Prompt::Text(t.into()), options: greedy(40) };
    let a = batched.submit(long("El barco llega al puerto")).unwrap();
    // `b` holds the engine at its second token until it has been cancelled, so the cancel
    // lands mid-generation however fast the engine runs and however busy the machine is.
    let (release, held) = std::sync::mpsc::channel();
    let b = batched.submit_constrained(long("hola"), Box::new(HoldAtSecondToken { masks: 0, held })).unwrap();
    match b.next_event() {
        Some(thau::infer::Event::Started { .. }) => b.cancel(),
        other => panic!("expected Started, got {other:?}"),
    }
    let _ = release.send(());
    let stop_at: String = want[0].text.chars().skip(2).take(2).collect();
    let c = if stop_at.trim().is_empty() {
        None
    } else {
        let opts = GenerateOptions { stop: vec![stop_at.clone()], ..greedy(6) };
        Some((
            batched.submit(Request { prompt: Prompt::Text("El barco llega al puerto".into()), options: opts }).unwrap(),
            stop_at,
        ))
    };
    let mut streamed = String::new();
    let a = a.wait(|t| streamed.push_str(t)).unwrap();
    assert_eq!(streamed, a.text);
    let b = b.wait(|_| {}).unwrap();
    assert_eq!(b.finish, FinishReason::Cancelled);
    assert!(b.usage.completion_tokens < 40);
    // `a` decoded beside the others yet equals the serial engine's first 6 tokens and more.
    assert_eq!(a.tokens[..want[0].tokens.len()], want[0].tokens[..]);
    if let Some((c, stop)) = c {
        let c = c.wait(|_| {}).unwrap();
        assert_eq!(c.finish, FinishReason::Stop);
        assert_eq!(c.text, want[0].text[..want[0].text.find(&stop).unwrap()]);
    }
    // A request cancelled before it starts is answered without computing anything.
    let s = batched.submit(long("x")).unwrap();
    s.cancel();
    let c = s.wait(|_| {}).unwrap();
    assert!(c.finish == FinishReason::Cancelled);
    // The engine goes back to idle (it updates its counter right after the last Done).
    let t0 = std::time::Instant::now();
    while batched.stats().active.load(Ordering::Relaxed) != 0 {
        assert!(t0.elapsed().as_secs() < 10, "the engine still reports active requests");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // max_batch 0 is refused.
    assert!(Engine::spawn_batched("x", model(), tok, 0).is_err());
}

/// Allows every token, and waits at the second token's mask until the test releases it.
struct HoldAtSecondToken {
    masks: usize,
    held: std::sync::mpsc::Receiver<()>,
}

impl thau::infer::LogitsConstraint for HoldAtSecondToken {
    fn mask(&mut self, _logits: &mut [f32]) {
        self.masks += 1;
        if self.masks == 2 {
            let _ = self.held.recv();
        }
    }
    fn accept(&mut self, _token: u32) {}
}
