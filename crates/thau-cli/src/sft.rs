//! Tool calling, data to measurement: `thau data tools` (the generated dataset), `thau train
//! --sft` (supervised fine-tuning of a run's age on chat examples), `thau eval tools` (detection,
//! arguments and schema validity on held-out requests), and the demo's fine-tuning step.

use anyhow::{Context, Result};
use candle_core::Device;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use thau::checkpoint::RunDir;
use thau::infer::{InferModel, WeightDtype};
use thau::model::Age;
use thau::tool_dataset::eval::{self as tool_eval, ToolEvalReport, TurnDecoder};
use thau::tool_dataset::{self, ToolDatasetConfig};
use thau::tools::{GrammarOptions, ToolChoice};
use thau::train::sft::{self, SftConfig, SftExample};

/// `thau data tools`: write train.jsonl, heldout.jsonl, grounded-heldout.jsonl and stats.json into `out`.
pub fn data_tools(out: &Path, count: usize, heldout: usize, seed: u64, chat_corpus: Option<&Path>) -> Result<()> {
    let pool = match chat_corpus {
        Some(dir) => {
            let pool = tool_dataset::ChatPool::from_corpus(dir)?;
            println!(
                "{} es / {} en real exchanges from {} for the no-tool requests",
                pool.es.len(),
                pool.en.len(),
                dir.display()
            );
            pool
        }
        None => tool_dataset::ChatPool::default(),
    };
    let d = tool_dataset::generate_with_chat(&ToolDatasetConfig::new(count, heldout, seed), &pool)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    sft::write_jsonl(&out.join("train.jsonl"), &d.train)?;
    sft::write_jsonl(&out.join("heldout.jsonl"), &d.heldout)?;
    sft::write_jsonl(&out.join(GROUNDED_HELDOUT_FILE), &d.grounded_heldout)?;
    thau::fs::write_atomic(&out.join("stats.json"), serde_json::to_string_pretty(&d.stats)?.as_bytes())?;
    let s = &d.stats;
    println!(
        "wrote {} training, {} held-out and {} memory-grounded held-out examples to {} (seed {})",
        s.train.examples,
        s.heldout.examples,
        s.grounded_heldout.examples,
        out.display(),
        s.seed
    );
    for (name, split) in [("train", &s.train), ("heldout", &s.heldout)] {
        let tools: Vec<String> = split.by_tool.iter().map(|(t, n)| format!("{t} {n}")).collect();
        println!(
            "  {name}: {} es / {} en · {} · {} with tool result · {} with earlier turns · {} distinct requests",
            split.spanish,
            split.english,
            tools.join(", "),
            split.with_result,
            split.with_history,
            split.distinct_requests
        );
    }
    println!(
        "  phrasings: {} for training, {} held out (never in train.jsonl)",
        s.train_phrasings, s.heldout_phrasings
    );
    println!("fine-tune with: thau train --run RUN --sft {}", out.join("train.jsonl").display());
    Ok(())
}

fn steps_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!("{what} [{{bar:30.cyan/blue}}] {{pos}}/{{len}} · {{msg}} · ETA {{eta}}"))
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Fine-tune `run`'s age on `examples`; prints and returns the summary line.
pub fn finetune(
    run: &Path,
    age: Option<Age>,
    examples: &[SftExample],
    desc: &str,
    cfg: &SftConfig,
    quiet: bool,
) -> Result<String> {
    let stop = crate::progress::ctrl_c_flag();
    let bar = if quiet { ProgressBar::hidden() } else { steps_bar(cfg.steps, "sft") };
    let (ckpt, summary) = sft::finetune_run(run, age, examples, desc, cfg, &mut |s| {
        bar.set_position(s.step);
        bar.set_message(format!("loss {:.3} · lr {:.2e}", s.loss, s.lr));
        if quiet && (s.step % 10 == 0 || s.step == s.total) {
            eprintln!("sft step {}/{} loss {:.4} lr {:.2e}", s.step, s.total, s.loss, s.lr);
        }
        !stop.load(std::sync::atomic::Ordering::Relaxed)
    })?;
    bar.finish();
    if summary.skipped_too_long > 0 {
        println!(
            "{} of {} examples are longer than --seq-len {} (or the model's context) and were left out",
            summary.skipped_too_long,
            examples.len(),
            cfg.max_seq_len
        );
    }
    let line = format!(
        "fine-tuned age {} for {} steps ({:.0}s) on {} examples: loss {:.3} → {:.3}; checkpoint {}",
        ckpt.age,
        summary.steps,
        summary.seconds,
        summary.examples,
        summary.first_loss,
        summary.last_loss,
        ckpt.dir.display()
    );
    println!("{line}");
    Ok(line)
}

/// `thau train --sft FILE`: the command's hyperparameters as an [`SftConfig`].
pub fn train_sft(a: &crate::TrainArgs, file: &Path) -> Result<()> {
    let examples = sft::read_jsonl(file)?;
    let steps = a.steps.unwrap_or_else(|| (examples.len() as u64).div_ceil(a.batch_size as u64).max(1));
    let cfg = SftConfig {
        steps,
        lr: a.lr,
        min_lr_ratio: a.min_lr_ratio,
        warmup_steps: a.warmup.min(steps / 10),
        batch_size: a.batch_size,
        max_seq_len: a.seq_len,
        weight_decay: a.weight_decay,
        grad_clip: a.grad_clip,
        seed: a.seed,
        replay: a.replay,
    };
    finetune(&a.run, a.age, &examples, &file.display().to_string(), &cfg, a.quiet)?;
    Ok(())
}

/// Options of `thau eval tools`.
#[derive(clap::Args)]
pub struct EvalToolsArgs {
    /// Run folder with a trained (and fine-tuned) age.
    #[arg(long)]
    pub run: PathBuf,
    /// Age to evaluate (default: the newest trained age).
    #[arg(long)]
    pub age: Option<Age>,
    /// Held-out examples (JSONL of `thau data tools`; default: generated, 500, seed 1337).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Evaluate only the first N examples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Grammar-constrained decoding of tool calls.
    #[arg(long, value_enum, default_value_t = OnOff::Off)]
    pub constrained: OnOff,
    /// With --constrained on: open a call at the turn's first token only when the model gives
    /// `<|tool_call|>` at least this probability (0.5: the likelier of call and text), instead
    /// of comparing it with the single likeliest text token as plain greedy decoding does.
    #[arg(long, value_name = "P")]
    pub call_threshold: Option<f32>,
    /// Longest answer, in tokens.
    #[arg(long, default_value_t = 96)]
    pub max_tokens: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// The held-out examples an evaluation uses.
fn eval_examples(data: Option<&Path>) -> Result<Vec<SftExample>> {
    Ok(match data {
        Some(p) => sft::read_jsonl(p)?,
        None => {
            tool_dataset::generate(&ToolDatasetConfig { grounded_heldout: 0, ..ToolDatasetConfig::new(0, 500, 1337) })?
                .heldout
        }
    })
}

/// Score `run`'s model on `examples`.
pub fn score(
    run: &Path,
    age: Option<Age>,
    examples: &[SftExample],
    max_tokens: usize,
    constrained: Option<Option<f32>>,
    device: &Device,
) -> Result<ToolEvalReport> {
    let (tok, model, _) = RunDir::new(run).load_latest(age, device)?;
    let model = InferModel::from_llama(&model, WeightDtype::F32)?;
    score_model(&model, &tok, examples, max_tokens, constrained)
}

/// The evaluation's decoder: greedy, with calls free (`None`) or grammar-constrained with
/// `tool_choice` auto (`Some(call_threshold)`).
pub fn turn_decoder<'a>(
    model: &'a InferModel,
    tok: &'a thau::tokenizer::Tokenizer,
    max_tokens: usize,
    constrained: Option<Option<f32>>,
) -> TurnDecoder<'a> {
    match constrained {
        Some(p) => TurnDecoder::constrained(model, tok, max_tokens, GrammarOptions::default(), ToolChoice::Auto)
            .with_call_threshold(p),
        None => TurnDecoder::free(model, tok, max_tokens),
    }
}

/// Score a model's answers to the last request of each example, decoded greedily.
pub fn score_model(
    model: &InferModel,
    tok: &thau::tokenizer::Tokenizer,
    examples: &[SftExample],
    max_tokens: usize,
    constrained: Option<Option<f32>>,
) -> Result<ToolEvalReport> {
    let mut decoder = turn_decoder(model, tok, max_tokens, constrained);
    let bar = steps_bar(examples.len() as u64, "eval");
    let report = tool_eval::evaluate_tools(
        tok,
        examples,
        model.cfg.max_seq_len,
        max_tokens,
        |prompt, ex| decoder.turn(prompt, &ex.tools),
        |done, _| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    Ok(report)
}

/// `thau eval tools`.
pub fn eval_tools(a: EvalToolsArgs, device: &Device) -> Result<()> {
    let mut examples = eval_examples(a.data.as_deref())?;
    if let Some(n) = a.limit {
        examples.truncate(n);
    }
    if let Some(p) = a.call_threshold {
        if a.constrained == OnOff::Off {
            anyhow::bail!(
                "--call-threshold {p} needs --constrained on (the threshold is part of the constrained decoding)"
            );
        }
        if !(p > 0.0 && p < 1.0) {
            anyhow::bail!("--call-threshold {p}: give a probability between 0 and 1, e.g. 0.5");
        }
    }
    let constrained = (a.constrained == OnOff::On).then_some(a.call_threshold);
    let r = score(&a.run, a.age, &examples, a.max_tokens, constrained, device)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_report(&r);
    }
    Ok(())
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

pub fn print_report(r: &ToolEvalReport) {
    let d = &r.detection;
    println!("{} held-out examples", r.examples);
    println!(
        "detection (call vs no call): accuracy {} · precision {} · recall {}  (tp {} fp {} fn {} tn {})",
        pct(d.accuracy),
        pct(d.precision),
        pct(d.recall),
        d.true_positive,
        d.false_positive,
        d.false_negative,
        d.true_negative
    );
    println!(
        "which tool: {} of expected calls · decision (none or which tool) right: {}",
        pct(r.tool_accuracy.rate),
        pct(r.decision_accuracy.rate)
    );
    println!("arguments exactly right: {} of expected calls", pct(r.arguments_exact.rate));
    println!(
        "schema: {} calls emitted, {} parse ({}), {} valid ({}); {} cut by --max-tokens, {} of the finished calls valid",
        r.schema.calls,
        r.schema.parsed,
        pct(r.schema.parse_rate),
        r.schema.valid,
        pct(r.schema.valid_rate),
        r.schema.cut,
        pct(r.schema.complete_valid_rate)
    );
    println!("{:<18} {:>8} {:>8} {:>10} {:>10}", "expected", "examples", "called", "right tool", "exact args");
    for (t, p) in &r.per_tool {
        println!("{:<18} {:>8} {:>8} {:>10} {:>10}", t, p.examples, p.called, p.right_tool, p.exact_arguments);
    }
    println!("per argument (where the right tool was called):");
    for (k, v) in &r.argument_keys {
        println!("  {:<32} {:>6} / {:<6} {}", k, v.exact, v.total, pct(v.rate));
    }
    if let Some(g) = &r.grounded {
        print_grounded(g);
    }
    if !r.misses.is_empty() {
        println!("some misses:");
        for m in r.misses.iter().take(8) {
            let want = m.expected.as_ref().map(|e| e.to_string()).unwrap_or("no call".into());
            println!("  {:?}\n     expected {want}\n     got {}", m.request, m.got);
        }
    }
}

/// The memory-grounded held-out file `thau data tools` and the demo write beside heldout.jsonl.
pub const GROUNDED_HELDOUT_FILE: &str = "grounded-heldout.jsonl";

fn print_grounded(g: &tool_eval::GroundedReport) {
    println!(
        "memory-grounded answers ({} examples): the injected value in {} ({} of {}); a value of an unrelated \
         injected memory in {} ({} of {})",
        g.examples,
        pct(g.with_value.rate),
        g.with_value.exact,
        g.with_value.total,
        pct(g.with_unrelated.rate),
        g.with_unrelated.exact,
        g.with_unrelated.total
    );
    for (kind, r) in &g.per_kind {
        println!("  {kind:<10} {:>4} / {:<4} {}", r.exact, r.total, pct(r.rate));
    }
    for m in g.misses.iter().take(4) {
        let want = m.expected.as_ref().map(|e| e.to_string()).unwrap_or_default();
        println!("  {:?}\n     expected {want}\n     got {}", m.request, m.got);
    }
}

/// How the demo decodes tool calls: grammar-constrained, calling when the model gives a call
/// at least even odds at the turn's first token.
const DEMO_CONSTRAINTS: Option<Option<f32>> = Some(Some(0.5));

/// The requests the demo shows after fine-tuning (one per kind, plus one that needs no tool).
pub const DEMO_TOOL_PROMPTS: &[&str] = &[
    "Genera una imagen de un perro astronauta",
    "Draw a red dragon in watercolor",
    "¿Cuánto es 12 por 7?",
    "Recuerda que mi perro se llama Rocky",
    "¿Qué hora es?",
    "Hola, ¿qué tal?",
];

/// One assistant turn for `request` with all built-in tools offered, decoded by `decoder`: its
/// text and the calls it makes, as shown to the user.
pub fn answer_with_tools(
    decoder: &mut TurnDecoder,
    tok: &thau::tokenizer::Tokenizer,
    ctx: usize,
    request: &str,
) -> Result<String> {
    let ex = SftExample::new(
        thau::tools::builtin_specs(),
        vec![thau::tokenizer::Message::user(request), thau::tokenizer::Message::assistant("")],
    );
    let (prompt, _) = tool_eval::target_prompt(tok, &ex, ctx, 96)?;
    let ids = decoder.turn(&prompt, &ex.tools)?;
    let turn = tool_eval::split_turn(tok, &ids);
    let mut out = turn.text.trim().to_string();
    for span in &turn.call_spans {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&match tool_eval::parse_call(span) {
            Some(c) => format!("[calls {}({})]", c.name, c.arguments),
            None => format!("[malformed call: {span}]"),
        });
    }
    Ok(out)
}

/// Training examples the demo fine-tunes on, and held-out ones it reports on.
const DEMO_SFT_EXAMPLES: usize = 4000;
const DEMO_EVAL_EXAMPLES: usize = 200;
/// Conversations (as plain text) mixed into the demo's pretraining corpus: about a fifth of it.
const DEMO_PRETRAIN_CONVERSATIONS: usize = 400;

fn demo_dataset(chat: &tool_dataset::ChatPool) -> Result<tool_dataset::ToolDataset> {
    let cfg = ToolDatasetConfig::new(DEMO_SFT_EXAMPLES, DEMO_EVAL_EXAMPLES, 1337);
    Ok(tool_dataset::generate_with_chat(&cfg, chat)?)
}

/// The real exchanges of the demo's fetched corpus for the no-tool requests (`thau data tools
/// --chat-corpus`), or none when it has no ChatterBot dialogues (offline, `--synthetic`).
pub fn demo_chat_pool(corpus_dir: Option<&Path>) -> tool_dataset::ChatPool {
    let Some(dir) = corpus_dir else { return tool_dataset::ChatPool::default() };
    match tool_dataset::ChatPool::from_corpus(dir) {
        Ok(pool) => {
            println!(
                "(The tool lesson's no-tool requests also draw on {} es / {} en real exchanges of the ChatterBot dialogues there.)",
                pool.es.len(),
                pool.en.len()
            );
            pool
        }
        Err(e) => {
            println!("(No real dialogues for the tool lesson's no-tool requests, templates only: {e})");
            tool_dataset::ChatPool::default()
        }
    }
}

/// The demo's pretraining files: its text (`base`, or the generated corpus written out) and
/// tool-calling conversations as plain text, so the run's tokenizer learns the tool list and
/// the JSON of calls (with the tokenizer of the text alone, the six tools' list takes most of
/// the context) and the model sees their shape before fine-tuning.
pub fn demo_corpus_with_tools(run: &Path, base: Option<&Path>, chat: &tool_dataset::ChatPool) -> Result<Vec<PathBuf>> {
    let write = |path: &Path, texts: &mut dyn Iterator<Item = String>| -> Result<()> {
        let mut out = String::new();
        for t in texts {
            out.push_str(&serde_json::to_string(&serde_json::json!({ "text": t }))?);
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
    };
    let base = match base {
        Some(p) => p.to_path_buf(),
        None => {
            let p = run.join("demo-corpus.jsonl");
            write(&p, &mut thau::data::bilingual_corpus(1337, 1_500_000).into_iter().map(|d| d.text))?;
            p
        }
    };
    let tools = run.join("demo-tool-conversations.jsonl");
    let data = demo_dataset(chat)?;
    write(&tools, &mut data.train.iter().take(DEMO_PRETRAIN_CONVERSATIONS).map(tool_dataset::as_plain_text))?;
    println!(
        "(Plus {DEMO_PRETRAIN_CONVERSATIONS} generated tool-calling conversations as plain text, so it knows their words before fine-tuning.)\n"
    );
    Ok(vec![base, tools])
}

/// The demo's second phase: fine-tune the freshly pretrained age 0 for about `minutes` on the
/// generated tool-calling conversations, show what it answers, and score it on held-out
/// phrasings. `tok_per_sec` (pretraining's) sizes the step count to the time budget.
pub fn demo_tools(
    run: &Path,
    minutes: f64,
    tok_per_sec: f64,
    chat: &tool_dataset::ChatPool,
    image: &DemoImage,
    device: &Device,
) -> Result<()> {
    let data = demo_dataset(chat)?;
    let dir = run.join("tools");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    sft::write_jsonl(&dir.join("train.jsonl"), &data.train)?;
    sft::write_jsonl(&dir.join("heldout.jsonl"), &data.heldout)?;
    sft::write_jsonl(&dir.join(GROUNDED_HELDOUT_FILE), &data.grounded_heldout)?;
    let rd = RunDir::new(run);
    let tok = thau::tokenizer::Tokenizer::load(&rd.tokenizer_path())?;
    let ctx = rd.load_config(Age::YOUNGEST)?.max_seq_len;
    // Size the run to the budget from pretraining's speed and the examples' length: a step of
    // SFT processes about batch × (mean length + padding) tokens.
    let lens: Vec<usize> = data.train.iter().map(|e| sft::encode(&tok, e).ids.len()).collect();
    let fitting: Vec<usize> = lens.iter().copied().filter(|&l| l <= ctx + 1).collect();
    let mean = fitting.iter().sum::<usize>() as f64 / fitting.len().max(1) as f64;
    let batch = 16;
    let per_step = batch as f64 * mean * 1.25;
    let steps = ((minutes * 60.0 * tok_per_sec / per_step) as u64).clamp(10, 20_000);
    println!(
        "\nTeaching it to call tools: {} generated es/en conversations (mean {mean:.0} tokens, {} longer than the \
         context of {ctx} left out), {steps} steps of supervised fine-tuning (about {minutes} minutes).",
        data.train.len(),
        lens.len() - fitting.len(),
    );
    let cfg = SftConfig {
        steps,
        lr: 2e-3,
        min_lr_ratio: 0.1,
        warmup_steps: (steps / 20).max(5),
        batch_size: batch,
        max_seq_len: ctx,
        weight_decay: 0.0,
        grad_clip: 1.0,
        seed: 1337,
        replay: false,
    };
    finetune(run, Some(Age::YOUNGEST), &data.train, "the demo's generated tool-calling conversations", &cfg, false)?;
    let (tok, model, _) = rd.load_latest(Some(Age::YOUNGEST), device)?;
    let model = InferModel::from_llama(&model, WeightDtype::F32)?;
    let ctx = model.cfg.max_seq_len;
    println!("\nWith the six built-in tools offered in the system prompt (calls grammar-constrained):");
    let mut decoder = turn_decoder(&model, &tok, 96, DEMO_CONSTRAINTS);
    for p in DEMO_TOOL_PROMPTS {
        println!("> {p}\n  {}", answer_with_tools(&mut decoder, &tok, ctx, p)?);
    }
    drop(decoder);
    let r = score_model(&model, &tok, &data.heldout, 96, DEMO_CONSTRAINTS)?;
    println!(
        "\nOn {} held-out requests worded unlike any it trained on: detection accuracy {} (precision {}, recall {}), \
         right tool {}, exact arguments {}, {} of its calls schema-valid (constraints on).",
        r.examples,
        pct(r.detection.accuracy),
        pct(r.detection.precision),
        pct(r.detection.recall),
        pct(r.tool_accuracy.rate),
        pct(r.arguments_exact.rate),
        pct(r.schema.valid_rate)
    );
    let g = score_model(&model, &tok, &data.grounded_heldout, 96, DEMO_CONSTRAINTS)?;
    if let Some(g) = &g.grounded {
        println!(
            "With memories injected as a conversation does, on {} held-out questions: the answer holds the remembered \
             value in {} and a value of an unrelated memory in {}.",
            g.examples,
            pct(g.with_value.rate),
            pct(g.with_unrelated.rate)
        );
    }
    println!(
        "Full reports: `thau eval tools --run {0} --data {1} --constrained on` (and --data {2}).",
        run.display(),
        dir.join("heldout.jsonl").display(),
        dir.join(GROUNDED_HELDOUT_FILE).display()
    );
    demo_image_request(model, tok, run, image)
}

/// The request the demo runs through the tool loop, executing the call.
pub const DEMO_IMAGE_REQUEST: &str = "Genera una imagen de un perro astronauta";

/// How the demo's image request is answered.
pub struct DemoImage {
    /// A Stable Diffusion folder or hub id; `None`: the tiny random-weight pipeline.
    pub model: Option<PathBuf>,
    /// The first generation's tool choice (`auto`: the model decides).
    pub choice: ToolChoice,
}

/// Width, height, steps and count the tiny random-weight pipeline draws at most: it is a
/// stand-in that shows the call reaching a real pipeline, not a picture worth waiting for.
const PREVIEW_MAX_SIDE: usize = 256;
const PREVIEW_MAX_STEPS: usize = 4;

/// The tiny random-weight pipeline, with requests cut down to a quick preview.
struct PreviewBackend(thau::tools::VisionBackend);

impl thau::tools::ImageBackend for PreviewBackend {
    fn name(&self) -> String {
        format!(
            "{} (preview: at most {PREVIEW_MAX_SIDE}×{PREVIEW_MAX_SIDE}, {PREVIEW_MAX_STEPS} steps, one image)",
            self.0.name()
        )
    }
    fn generate(&self, req: &thau::vision::ImageRequest, ctx: &thau::tools::ToolContext) -> thau::Result<Vec<PathBuf>> {
        let r = thau::vision::ImageRequest {
            width: req.width.min(PREVIEW_MAX_SIDE),
            height: req.height.min(PREVIEW_MAX_SIDE),
            steps: req.steps.min(PREVIEW_MAX_STEPS),
            count: 1,
            ..req.clone()
        };
        self.0.generate(&r, ctx)
    }
}

/// Run [`DEMO_IMAGE_REQUEST`] through the chat's tool loop (constrained decoding, the six
/// built-ins registered), so a `generate_image` call really draws: with `image.model` when
/// given, else with a tiny random-weight Stable Diffusion pipeline written into the run.
fn demo_image_request(model: InferModel, tok: thau::tokenizer::Tokenizer, run: &Path, image: &DemoImage) -> Result<()> {
    use std::sync::Arc;
    use thau::tokenizer::Message;
    use thau::tools::{run_tool_loop, GenerateImage, LoopEvent, LoopOptions, Registry, VisionBackend};
    use thau::vision::{ImagePipeline, LoadOptions};
    let images = run.join("images");
    let backend: Arc<dyn thau::tools::ImageBackend> = match &image.model {
        Some(spec) => {
            let spec = spec.to_str().context("--image-model must be a UTF-8 path or hub id")?;
            println!("\nLoading the image model {spec} for generate_image…");
            let p = ImagePipeline::load(spec, &LoadOptions::default())
                .with_context(|| format!("loading the image model --image-model {spec}"))?;
            Arc::new(VisionBackend::new(p, &images)?)
        }
        None => {
            let dir = run.join("tiny-sd");
            thau::vision::random::write_random_pipeline(&dir, &thau::vision::PipelineConfig::tiny(600))?;
            let p = ImagePipeline::load(&dir.display().to_string(), &LoadOptions::default())?;
            println!(
                "\nNo Stable Diffusion weights given (--image-model or THAU_IMAGE_MODEL), so generate_image runs a \
                 tiny random-weight pipeline ({}): the image is noise, the call and the file are real.",
                dir.display()
            );
            Arc::new(PreviewBackend(VisionBackend::new(p, &images)?))
        }
    };
    let timeout = std::time::Duration::from_secs(600);
    let store = thau::memory::MemoryStore::open(&run.join("memory.db"))?;
    let access = thau::tools::MemoryAccess::new(thau::memory::Retriever::new(store, None)?, "demo");
    let registry = Registry::builtins(GenerateImage::new(backend, timeout), Some(access))?;
    let engine = thau::infer::Engine::spawn_batched("demo", model, tok, 1)?;
    let trie = Arc::new(thau::tools::TokenTrie::new(engine.tokenizer()));
    let opts = LoopOptions {
        generate: thau::infer::GenerateOptions {
            max_tokens: 240,
            sampling: thau::infer::SamplingOptions::greedy(),
            ..Default::default()
        },
        choice: image.choice.clone(),
        max_rounds: 1,
        // With strings of at most 48 characters, any generate_image call fits in 240 tokens
        // (two strings, eight keys, numbers of at most 28 characters), even one a barely
        // trained model is made to write (`--tool-choice`); the demo's prompts are a few words.
        grammar: thau::tools::GrammarOptions { max_string_chars: 48, max_items: 4, ..Default::default() },
        call_threshold: DEMO_CONSTRAINTS.flatten(),
        ..LoopOptions::default()
    };
    let choice = match &image.choice {
        ToolChoice::Auto => "the model decides".to_string(),
        ToolChoice::None => "no tools".to_string(),
        ToolChoice::Required => "a call required".to_string(),
        ToolChoice::Named(n) => format!("a call to {n} required"),
    };
    println!("\nThrough the tool loop ({choice}, calls grammar-constrained):\n> {DEMO_IMAGE_REQUEST}");
    let out =
        run_tool_loop(&engine, &registry, Some(&trie), &[Message::user(DEMO_IMAGE_REQUEST)], &opts, None, &mut |ev| {
            match ev {
                LoopEvent::Call(c) => println!("  call: {}({})", c.name, c.arguments),
                LoopEvent::Result { result: Ok(out), .. } => {
                    for f in &out.files {
                        println!("  saved: {}", f.display());
                    }
                    if out.files.is_empty() {
                        println!("  result: {}", out.text);
                    }
                }
                LoopEvent::Result { result: Err(e), .. } => println!("  the call failed: {e}"),
                LoopEvent::Malformed(e) => println!("  malformed call: {e}"),
                _ => {}
            }
        })?;
    let answer: String = out.answer.trim().chars().take(300).collect();
    let more = if out.answer.trim().chars().count() > 300 { "…" } else { "" };
    println!("  answer: {answer}{more}");
    Ok(())
}
