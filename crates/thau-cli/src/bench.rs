//! `thau bench train-step`: THAU's full training step (forward, backward, clip, AdamW) on the
//! benchmark config shared with bench/torch_train_step.py, timed step by step.

use anyhow::Result;
use candle_core::Device;
use std::time::Instant;
use thau::model::ops::gemm::Precision;
use thau::model::{Llama, ModelConfig};
use thau::train::adamw::{AdamW, AdamWParams};
use thau::train::batch::{splitmix64, Batch};
use thau::train::optimizer_step;

pub fn train_step(
    steps: usize,
    warmup: usize,
    json: bool,
    threads: Option<usize>,
    matmul: Option<Precision>,
) -> Result<()> {
    if steps == 0 {
        anyhow::bail!("--steps must be at least 1");
    }
    let cfg = ModelConfig::bench();
    let (batch, seq) = (8usize, 256usize);
    let mut model = Llama::new_random(&cfg, 0, &Device::Cpu)?;
    if let Some(m) = matmul {
        model.matmul = m;
    }
    let precision = match model.matmul {
        Precision::Bf16 if thau::model::ops::gemm::bf16_available() => "bf16",
        _ => "f32",
    };
    let vars = model.named_vars();
    let decay: Vec<bool> = vars.iter().map(|(_, v)| v.rank() >= 2).collect();
    let mut opt = AdamW::new(AdamWParams { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 }, &vars);
    let make = |s: u64| Batch {
        inputs: (0..batch * seq)
            .map(|i| (splitmix64(s * 1_000_003 + i as u64) % cfg.vocab_size as u64) as u32)
            .collect(),
        targets: (0..batch * seq)
            .map(|i| (splitmix64(s * 7_000_003 + i as u64) % cfg.vocab_size as u64) as u32)
            .collect(),
    };
    let mut times = Vec::with_capacity(steps);
    for s in 0..(warmup + steps) as u64 {
        let b = [make(s)];
        let t0 = Instant::now();
        optimizer_step(&model, &vars, &decay, &mut opt, &b, (batch, seq), 3e-4, 1.0, s)?;
        if s as usize >= warmup {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    let tok_s = (batch * seq) as f64 / median;
    let flops = cfg.train_flops_per_token(seq) * tok_s / 1e9;
    let threads = threads.unwrap_or_else(candle_core::utils::get_num_threads);
    if json {
        println!(
            "{{\"engine\":\"thau\",\"version\":\"{}\",\"threads\":{threads},\"matmul\":\"{precision}\",\"tok_per_s\":{tok_s:.1},\"step_ms_median\":{:.2},\"params\":{},\"gflops\":{flops:.1}}}",
            env!("CARGO_PKG_VERSION"),
            median * 1e3,
            cfg.param_count()
        );
    } else {
        println!("thau train step ({} params, batch {batch}, seq {seq}, {threads} threads, {precision} matmuls): median {:.1} ms, {tok_s:.0} tok/s, {flops:.1} GFLOP/s", cfg.param_count(), median * 1e3);
    }
    Ok(())
}

/// The two model shapes of the inference benchmark (../shared/verify/README.md: m20 and m100),
/// random weights, vocabulary 8192, context 512.
pub fn bench_config(shape: &str) -> Result<ModelConfig> {
    let base = ModelConfig {
        name: shape.to_string(),
        vocab_size: 8192,
        d_model: 384,
        n_layers: 8,
        n_heads: 6,
        n_kv_heads: 6,
        head_dim: 64,
        ffn_hidden: 1024,
        max_seq_len: 512,
        rope_theta: 10_000.0,
        norm_eps: 1e-5,
        tie_embeddings: false,
    };
    match shape {
        "m20" => Ok(base),
        "m100" => Ok(ModelConfig { d_model: 768, n_layers: 12, n_heads: 12, n_kv_heads: 12, ffn_hidden: 2048, ..base }),
        other => anyhow::bail!("unknown --shape {other}: use m20 or m100"),
    }
}

/// `thau bench make-gguf`: a random model of a benchmark shape, exported as GGUF so THAU and
/// llama.cpp time the very same file.
pub fn make_gguf(shape: &str, dtype: thau::export::GgufDtype, out: &std::path::Path) -> Result<()> {
    let cfg = bench_config(shape)?;
    let text = thau::data::synthetic::bilingual_corpus(1, 400_000);
    let tok = thau::tokenizer::Tokenizer::train(text.into_iter().map(|d| d.text), cfg.vocab_size)?;
    let model = Llama::new_random(&cfg, 7, &Device::Cpu)?;
    thau::export::export_gguf(&tok, &model, dtype, out, shape)?;
    println!("wrote {} ({:.1}M parameters)", out.display(), cfg.param_count() as f64 / 1e6);
    Ok(())
}

/// `thau bench infer`: prefill and decode speed of THAU's engine on a GGUF, measured the way
/// ../shared/verify/bench.py measures llama.cpp: a 128-token prompt, then 128 greedy tokens
/// one at a time, best of two rounds.
pub fn infer(model: &std::path::Path, prompt_tokens: usize, gen_tokens: usize, json: bool) -> Result<()> {
    use thau::infer::{InferModel, KvState, Logits};
    let g = thau::import::read_gguf(model)?;
    let m = InferModel::from_qtensors(&g.cfg, &g.tensors, None)?;
    if prompt_tokens + gen_tokens + 1 > m.cfg.max_seq_len {
        anyhow::bail!("{prompt_tokens} + {gen_tokens} tokens do not fit the context of {}", m.cfg.max_seq_len);
    }
    let prompt: Vec<u32> = (2..2 + prompt_tokens as u32).map(|t| t % m.cfg.vocab_size as u32).collect();
    let argmax = |l: &[f32]| (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap_or(0) as u32;
    let (mut best_pp, mut best_tg) = (0f64, 0f64);
    for _ in 0..2 {
        let mut cache = KvState::default();
        let t0 = Instant::now();
        let logits = m.forward(&prompt, &mut cache, Logits::Last)?;
        best_pp = best_pp.max(prompt_tokens as f64 / t0.elapsed().as_secs_f64());
        let mut tok = argmax(&logits);
        let t0 = Instant::now();
        for _ in 0..gen_tokens {
            tok = argmax(&m.forward(&[tok], &mut cache, Logits::Last)?);
        }
        best_tg = best_tg.max(gen_tokens as f64 / t0.elapsed().as_secs_f64());
    }
    let threads = thau::infer::kernels::num_threads();
    let name = model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if json {
        println!(
            "{}",
            serde_json::json!({"engine": "thau", "file": name, "prefill_tok_s": best_pp, "decode_tok_s": best_tg, "threads": threads})
        );
    } else {
        println!("thau {name}: prefill {best_pp:.0} tok/s, decode {best_tg:.1} tok/s ({threads} thr)");
    }
    Ok(())
}

/// What `thau bench tool-mask` measured for one tokenizer.
#[derive(serde::Serialize)]
struct MaskTiming {
    vocab: usize,
    trie_ms: f64,
    /// Tokens of the timed calls (each timed `reps` times), and how many the mask allowed on
    /// average there.
    tokens: usize,
    mean_allowed: f64,
    /// Mean microseconds per token inside a call: `CallConstraint::mask` over a full row of
    /// logits (which reuses one walk inside a long string), and a fresh walk of the trie
    /// (`TokenTrie::allowed` / `allowed_within`) from the same state, without and with a budget.
    mask_us: f64,
    mask_budgeted_us: f64,
    walk_us: f64,
    walk_budgeted_us: f64,
}

/// `thau bench tool-mask`: the cost of grammar-constrained decoding per token. Three typical
/// calls of the built-in tools are tokenized with `tokenizer`, then fed to a
/// [`CallConstraint`](thau::tools::CallConstraint) one token at a time; before each token
/// `mask` runs on a full row of logits `reps` times, and so does a fresh walk of the trie from
/// the same state, without a token budget and with the budget a 96-token answer leaves
/// (`thau eval tools`' default answer limit).
pub fn tool_mask(tokenizer: &std::path::Path, reps: usize, json: bool) -> Result<()> {
    use std::sync::Arc;
    use thau::infer::LogitsConstraint;
    use thau::tools::{builtin_specs, CallConstraint, Grammar, GrammarOptions, TokenTrie, ToolChoice};
    let tok = thau::tokenizer::Tokenizer::load(tokenizer)?;
    let g = Arc::new(Grammar::new(&builtin_specs(), GrammarOptions::default())?);
    let t0 = Instant::now();
    let trie = Arc::new(TokenTrie::new(&tok));
    let trie_ms = t0.elapsed().as_secs_f64() * 1e3;
    let calls = [
        r#"{"name":"generate_image","arguments":{"prompt":"an astronaut dog on the moon, oil painting","width":768,"height":512,"seed":42}}"#,
        r#"{"name":"calculator","arguments":{"expression":"(135 - 18) * 4 / 3"}}"#,
        r#"{"name":"recall","arguments":{"when":"la semana pasada"}}"#,
    ];
    let reps = reps.max(1);
    let mut logits = vec![0f32; tok.vocab_size()];
    let mut walked = Vec::new();
    let (mut tokens, mut allowed) = (0usize, 0usize);
    // Seconds: [mask, mask budgeted, walk, walk budgeted].
    let mut secs = [0f64; 4];
    let time = |f: &mut dyn FnMut()| {
        let t0 = Instant::now();
        for _ in 0..reps {
            f();
        }
        t0.elapsed().as_secs_f64()
    };
    for call in calls {
        let ids = tok.encode(call);
        // A 96-token answer's budget, or room for the call if a small vocabulary needs more.
        let room = 96.max(ids.len() + 2);
        for budgeted in [false, true] {
            let mut c = CallConstraint::new(g.clone(), trie.clone(), ToolChoice::Auto)?;
            c.accept(thau::tokenizer::TOOL_CALL);
            let mut state = g.start();
            for (i, &id) in ids.iter().enumerate() {
                // Tokens left, this one included (`<|tool_call|>` was the first).
                let left = room - 1 - i;
                secs[2 + budgeted as usize] += time(&mut || {
                    walked.clear();
                    match budgeted {
                        true => trie.allowed_within(&g, &state, left as u64 - 2, &mut walked),
                        false => trie.allowed(&g, &state, &mut walked),
                    }
                });
                secs[budgeted as usize] += time(&mut || {
                    if budgeted {
                        c.budget(left);
                    }
                    logits.fill(0.0);
                    c.mask(&mut logits);
                });
                if !logits[id as usize].is_finite() {
                    anyhow::bail!(
                        "the mask refused token {i} of {call} as {tokenizer:?} splits it: this tokenizer's pieces of the call are not grammatical there; try another tokenizer"
                    );
                }
                let kept = logits.iter().filter(|v| v.is_finite()).count();
                if kept != walked.len() {
                    anyhow::bail!(
                        "at token {i} of {call} the constraint's mask kept {kept} tokens and a fresh walk of the trie {}: the mask's cache is wrong (a bug in THAU, please report it with this tokenizer)",
                        walked.len()
                    );
                }
                if !budgeted {
                    allowed += kept;
                }
                c.accept(id);
                state.feed(&g, trie.bytes_of(id));
            }
            if c.allowed_ids() != Some(vec![thau::tokenizer::TOOL_CALL_END]) {
                anyhow::bail!("{call} did not leave a complete call");
            }
            if !budgeted {
                tokens += ids.len();
            }
        }
    }
    let per = |s: f64| s / (tokens * reps) as f64 * 1e6;
    let m = MaskTiming {
        vocab: tok.vocab_size(),
        trie_ms,
        tokens,
        mean_allowed: allowed as f64 / tokens.max(1) as f64,
        mask_us: per(secs[0]),
        mask_budgeted_us: per(secs[1]),
        walk_us: per(secs[2]),
        walk_budgeted_us: per(secs[3]),
    };
    if json {
        println!("{}", serde_json::to_string(&m)?);
    } else {
        println!(
            "vocab {}: trie {:.1} ms; per token inside a call over {} tokens ({:.0} allowed on average): mask {:.1} µs, budgeted {:.1} µs; a fresh walk {:.1} µs, budgeted {:.1} µs",
            m.vocab, m.trie_ms, m.tokens, m.mean_allowed, m.mask_us, m.mask_budgeted_us, m.walk_us, m.walk_budgeted_us
        );
    }
    Ok(())
}
