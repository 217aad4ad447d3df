//! `thau generate` and `thau chat`: load a model into the engine thread and stream its text.
//!
//! The chat REPL keeps the conversation (the engine reuses the cached positions of earlier
//! turns), takes `/commands` (see [`HELP`]), and Ctrl-C stops the answer being written, not
//! the program.

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use thau::checkpoint::RunDir;
use thau::infer::{
    Engine, Event, FinishReason, GenerateOptions, InferModel, Prompt, Request, SamplingOptions, WeightDtype,
};
use thau::model::Age;
use thau::tokenizer::{Message, Role};
use thau::tools::{run_tool_loop, LoopEvent, LoopOptions, Registry, TokenTrie, ToolChoice};

/// Which model to load.
#[derive(Args, Debug, Clone)]
pub(crate) struct ModelArgs {
    /// Run folder with a trained age.
    #[arg(long, conflicts_with = "model")]
    pub(crate) run: Option<PathBuf>,
    /// Age to use (default: the newest trained age).
    #[arg(long)]
    pub(crate) age: Option<Age>,
    /// A GGUF file (exported by THAU, or a llama-family model with a byte-level BPE tokenizer).
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    /// Weight storage in memory: f32, f16, q8_0 or q4_k (default: f32 for a run, the file's own
    /// types for a GGUF).
    #[arg(long)]
    pub(crate) dtype: Option<WeightDtype>,
}

/// Sampling and limits, shared by `generate` and `chat`.
#[derive(Args, Debug, Clone)]
pub(crate) struct SamplingArgs {
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    pub(crate) max_tokens: usize,
    /// Sampling temperature; 0 = greedy.
    #[arg(long, default_value_t = 0.8)]
    pub(crate) temperature: f32,
    /// Sample among the k most likely tokens (0 = all).
    #[arg(long, default_value_t = 40)]
    pub(crate) top_k: usize,
    /// Nucleus sampling: smallest set of tokens reaching this probability (1 = off).
    #[arg(long, default_value_t = 0.95)]
    pub(crate) top_p: f32,
    /// Drop tokens less likely than this fraction of the most likely one (0 = off).
    #[arg(long, default_value_t = 0.05)]
    pub(crate) min_p: f32,
    /// Penalise recently seen tokens (1 = off).
    #[arg(long, default_value_t = 1.1)]
    pub(crate) repeat_penalty: f32,
    /// How many recent tokens the penalty looks at (0 = all).
    #[arg(long, default_value_t = 64)]
    pub(crate) repeat_last_n: usize,
    /// Sampling seed: same seed, same text.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Stop when this text appears (repeatable).
    #[arg(long)]
    pub(crate) stop: Vec<String>,
}

impl SamplingArgs {
    pub(crate) fn options(&self) -> GenerateOptions {
        GenerateOptions {
            max_tokens: self.max_tokens,
            sampling: SamplingOptions {
                temperature: self.temperature,
                top_k: self.top_k,
                top_p: self.top_p,
                min_p: self.min_p,
                repetition_penalty: self.repeat_penalty,
                repeat_last_n: self.repeat_last_n,
                seed: self.seed,
            },
            stop: self.stop.clone(),
            stop_at_eos: true,
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct GenerateArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Text to continue.
    #[arg(long)]
    pub(crate) prompt: String,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
    /// Print prompt/decode speeds to stderr at the end.
    #[arg(long)]
    pub(crate) verbose: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ChatArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// System prompt.
    #[arg(long, default_value = "Eres THAU, un asistente bilingüe. You are THAU, a bilingual assistant.")]
    pub(crate) system: String,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
    #[command(flatten)]
    pub(crate) tools: ToolArgs,
}

/// Tools the model may call. Off unless one of these flags asks for them.
#[derive(Args, Debug, Clone)]
pub(crate) struct ToolArgs {
    /// Let the model call the built-in tools: calculator and current_datetime, plus remember /
    /// recall / search_memory with --memory and generate_image with --image-model.
    #[arg(long)]
    pub(crate) tools: bool,
    /// Offer no tools at all (overrides the other tool flags).
    #[arg(long, conflicts_with = "tools")]
    pub(crate) no_tools: bool,
    /// Also offer the tools declared in this JSON or TOML file (HTTP endpoints, allow-listed
    /// commands). Implies --tools.
    #[arg(long, value_name = "FILE")]
    pub(crate) tools_file: Option<PathBuf>,
    /// Stable Diffusion folder for generate_image. Implies --tools.
    #[arg(long, value_name = "DIR")]
    pub(crate) image_model: Option<PathBuf>,
    /// Where generate_image saves its images (PNG + JSON sidecar).
    #[arg(long, value_name = "DIR", default_value = "images")]
    pub(crate) image_dir: PathBuf,
    /// Memory database for remember / recall / search_memory. Implies --tools.
    #[arg(long, value_name = "PATH")]
    pub(crate) memory: Option<PathBuf>,
    /// Whose memories the memory tools use.
    #[arg(long, default_value = "default")]
    pub(crate) user: String,
    /// Most rounds of tool calls before the model must answer.
    #[arg(long, default_value_t = 4)]
    pub(crate) max_tool_rounds: usize,
    /// Seconds a tool may run (generate_image: ten times this).
    #[arg(long, default_value_t = 30)]
    pub(crate) tool_timeout: u64,
    /// Let the model write calls without the grammar constraint (to measure the difference).
    #[arg(long)]
    pub(crate) unconstrained_tools: bool,
}

impl ToolArgs {
    fn wanted(&self) -> bool {
        !self.no_tools
            && (self.tools || self.tools_file.is_some() || self.image_model.is_some() || self.memory.is_some())
    }

    /// The registry the flags describe, or `None` when tools are off.
    fn registry(&self) -> Result<Option<Registry>> {
        if !self.wanted() {
            return Ok(None);
        }
        let timeout = std::time::Duration::from_secs(self.tool_timeout.max(1));
        // The built-ins in the order of `builtin_specs`, the order the tool list has in
        // every training example (`thau data tools`), so the system prompt reads as in training.
        let mut r = Registry::new().with_default_timeout(timeout);
        let image = match &self.image_model {
            Some(dir) => image_backend(dir, &self.image_dir, timeout * 10)?,
            None => thau::tools::GenerateImage::unavailable(),
        };
        r.register(Arc::new(image))?;
        if let Some(path) = &self.memory {
            let store = thau::memory::MemoryStore::open(path)?;
            let embedder = thau::memory::Embedder::from_env()?;
            let access = thau::tools::MemoryAccess::new(thau::memory::Retriever::new(store, embedder)?, &self.user);
            for t in access.tools() {
                r.register(t)?;
            }
        }
        r.register(Arc::new(thau::tools::Calculator))?;
        r.register(Arc::new(thau::tools::CurrentDatetime))?;
        if let Some(file) = &self.tools_file {
            for t in thau::tools::load_tools_file(file)? {
                r.register(t).with_context(|| format!("registering the tools of {}", file.display()))?;
            }
        }
        Ok(Some(r))
    }
}

/// generate_image backed by the Stable Diffusion folder (or hub id) `model`.
fn image_backend(model: &Path, out: &Path, timeout: std::time::Duration) -> Result<thau::tools::GenerateImage> {
    let spec = model.to_str().context("--image-model must be a UTF-8 path or hub id")?;
    eprintln!("loading the image model {spec}…");
    let pipeline = thau::vision::ImagePipeline::load(spec, &thau::vision::LoadOptions::default())
        .with_context(|| format!("loading the image model --image-model {spec}"))?;
    let backend = thau::tools::VisionBackend::new(pipeline, out)?;
    Ok(thau::tools::GenerateImage::new(Arc::new(backend), timeout))
}

/// Load the model named by `args` into an engine thread.
pub(crate) fn load_engine(args: &ModelArgs) -> Result<Engine> {
    load_engine_batched(args, thau::infer::DEFAULT_MAX_BATCH)
}

/// [`load_engine`] decoding up to `max_batch` requests together.
pub(crate) fn load_engine_batched(args: &ModelArgs, max_batch: usize) -> Result<Engine> {
    let dtype = args.dtype;
    if let Some(path) = &args.model {
        return load_gguf(path, dtype, max_batch);
    }
    let Some(run) = &args.run else { bail!("say which model to use: --run DIR (a THAU run) or --model FILE.gguf") };
    let (tok, llama, age) = RunDir::new(run).load_latest(args.age, &candle_core::Device::Cpu)?;
    let model = InferModel::from_llama(&llama, dtype.unwrap_or(WeightDtype::F32))?;
    drop(llama);
    Ok(Engine::spawn_batched(format!("{}:{}", run.display(), age.dir_name()), model, tok, max_batch)?)
}

fn load_gguf(path: &Path, dtype: Option<WeightDtype>, max_batch: usize) -> Result<Engine> {
    let g = thau::import::read_gguf(path)?;
    if let Some(f) = g.tokenizer.foreign() {
        let style = thau::tokenizer::ChatStyle::of(&g.tokenizer);
        let template = match (&f.chat_template, style) {
            (None, _) => "the file has no chat template".to_string(),
            (Some(_), thau::tokenizer::ChatStyle::Plain) => {
                "its chat template is not one THAU knows (ChatML, Llama 3)".to_string()
            }
            (Some(_), s) => format!("chat format {s:?} from its template"),
        };
        eprintln!("note: {} has its own vocabulary ({:?}); {template}", path.display(), f.kind);
        if style == thau::tokenizer::ChatStyle::Plain {
            eprintln!("note: chat turns are written as plain text (\"User: …\\nAssistant:\")");
        }
    }
    let model = InferModel::from_qtensors(&g.cfg, &g.tensors, dtype)?;
    Ok(Engine::spawn_batched(g.name.clone(), model, g.tokenizer, max_batch)?)
}

/// Describe the loaded model in one line.
fn describe(engine: &Engine) -> String {
    let i = engine.info();
    format!(
        "{} · {} layers, d_model {}, context {} · {} weights, {:.1} MB",
        i.name,
        i.cfg.n_layers,
        i.cfg.d_model,
        i.cfg.max_seq_len,
        i.dtype.as_str(),
        i.weight_bytes as f64 / 1e6
    )
}

pub(crate) fn generate(a: GenerateArgs) -> Result<()> {
    let engine = load_engine(&a.model)?;
    let opts = a.sampling.options();
    print!("{}", a.prompt);
    std::io::stdout().flush()?;
    let done = engine.generate(Request { prompt: Prompt::Text(a.prompt.clone()), options: opts }, |piece| {
        print!("{piece}");
        let _ = std::io::stdout().flush();
    })?;
    println!();
    if done.usage.dropped_tokens > 0 {
        eprintln!(
            "(the prompt was longer than the context: its first {} tokens were left out)",
            done.usage.dropped_tokens
        );
    }
    if a.verbose {
        eprintln!("{}", speed_line(&done.usage));
    }
    Ok(())
}

fn speed_line(u: &thau::infer::Usage) -> String {
    format!(
        "prompt {} tokens ({} cached) at {:.0} tok/s · {} generated at {:.1} tok/s",
        u.prompt_tokens,
        u.cached_tokens,
        u.prefill_tok_per_sec(),
        u.completion_tokens,
        u.decode_tok_per_sec()
    )
}

pub(crate) const HELP: &str = "\
commands:
  /reset                 forget the conversation (keeps the system prompt)
  /system TEXT           set the system prompt (and reset)
  /save FILE             save the conversation and settings as JSON
  /load FILE             load a conversation saved with /save
  /set KEY VALUE         temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n,
                         max_tokens, seed
  /show                  print the settings
  /stats                 print the speed of the last answer
  /help                  this text
  /quit, /exit           leave (so does Ctrl-D)
Ctrl-C stops the answer being written.";

/// What /save writes.
#[derive(Serialize, Deserialize)]
struct Saved {
    messages: Vec<Message>,
    options: GenerateOptions,
}

pub(crate) fn chat(a: ChatArgs) -> Result<()> {
    let registry = a.tools.registry()?;
    let engine = load_engine(&a.model)?;
    if registry.is_some() && engine.tokenizer().foreign().is_some() {
        bail!(
            "{} has its own vocabulary, without THAU's tool-call tokens: chat with it without the tool flags",
            engine.info().name
        );
    }
    let trie = registry.as_ref().map(|_| Arc::new(TokenTrie::new(engine.tokenizer())));
    let mut opts = a.sampling.options();
    // Ctrl-C cancels the answer in flight; at the prompt it leaves.
    let current: Arc<Mutex<Option<Arc<AtomicBool>>>> = Arc::new(Mutex::new(None));
    {
        let current = current.clone();
        ctrlc::set_handler(move || match current.lock().ok().and_then(|c| c.clone()) {
            Some(flag) => flag.store(true, Ordering::Relaxed),
            None => {
                println!();
                std::process::exit(130)
            }
        })
        .context("installing the Ctrl-C handler")?;
    }
    eprintln!("{}", describe(&engine));
    if let Some(r) = &registry {
        eprintln!("Tools: {}", r.names().join(", "));
    }
    eprintln!("Type a message, or /help. Ctrl-C stops an answer; Ctrl-D leaves.");
    let mut messages = vec![Message::system(a.system.clone())];
    let mut last_usage = None;
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        print!("\n> ");
        std::io::stdout().flush()?;
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            println!();
            return Ok(());
        }
        let input = line.trim_end_matches(['\n', '\r']);
        if input.trim().is_empty() {
            continue;
        }
        if let Some(cmd) = input.strip_prefix('/') {
            match command(cmd, &mut messages, &mut opts, last_usage.as_ref()) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => eprintln!("{e:#}"),
            }
            continue;
        }
        messages.push(Message::user(input));
        if let (Some(r), Some(trie)) = (&registry, &trie) {
            let flag = Arc::new(AtomicBool::new(false));
            *current.lock().unwrap() = Some(flag.clone());
            let opts = LoopOptions {
                generate: opts.clone(),
                choice: ToolChoice::Auto,
                max_rounds: a.tools.max_tool_rounds,
                constrained: !a.tools.unconstrained_tools,
                ..LoopOptions::default()
            };
            let outcome = run_tool_loop(&engine, r, trie, &messages, &opts, Some(&flag), &mut show_event);
            *current.lock().unwrap() = None;
            match outcome {
                Ok(o) => {
                    println!("{}", if o.finish == FinishReason::Cancelled { " [stopped]" } else { "" });
                    messages.extend(o.messages);
                    last_usage = Some(o.usage);
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    messages.pop();
                }
            }
            continue;
        }
        let stream = engine.submit(Request { prompt: Prompt::Chat(messages.clone()), options: opts.clone() })?;
        *current.lock().unwrap() = Some(stream.cancel_flag());
        let mut answer = String::new();
        let outcome = loop {
            match stream.next_event() {
                Some(Event::Started { dropped_messages, .. }) if dropped_messages > 0 => {
                    eprintln!("(the conversation is longer than the context: the {dropped_messages} oldest messages are left out)")
                }
                Some(Event::Started { .. }) => {}
                Some(Event::Text(t)) => {
                    print!("{t}");
                    std::io::stdout().flush()?;
                    answer.push_str(&t);
                }
                Some(Event::Done(c)) => break Ok(c),
                Some(Event::Failed(e)) => break Err(e),
                None => bail!("the engine stopped"),
            }
        };
        *current.lock().unwrap() = None;
        match outcome {
            Ok(c) => {
                if c.finish == FinishReason::Cancelled {
                    println!(" [stopped]");
                } else {
                    println!();
                }
                messages.push(Message::assistant(c.text.clone()));
                last_usage = Some(c.usage);
            }
            Err(e) => {
                eprintln!("error: {e}");
                messages.pop();
            }
        }
    }
}

/// Print what the tool loop does: answer text as it streams, each call and its result.
fn show_event(ev: LoopEvent<'_>) {
    match ev {
        LoopEvent::Started { dropped_messages, .. } if dropped_messages > 0 => {
            eprintln!(
                "(the conversation is longer than the context: the {dropped_messages} oldest messages are left out)"
            )
        }
        LoopEvent::Started { .. } => {}
        LoopEvent::Text(t) => {
            print!("{t}");
            let _ = std::io::stdout().flush();
        }
        LoopEvent::Call(c) => println!("\n[tool] {}({})", c.name, c.arguments),
        LoopEvent::Result { call, result } => match result {
            Ok(out) => {
                for f in &out.files {
                    println!("[{}] saved {}", call.name, f.display());
                }
                if out.files.is_empty() {
                    println!("[{}] → {}", call.name, out.text);
                }
            }
            Err(e) => println!("[{}] error: {e}", call.name),
        },
        LoopEvent::Malformed(e) => println!("\n[tool] {e}"),
    }
}

/// Run one /command; `Ok(true)` means leave.
fn command(
    cmd: &str,
    messages: &mut Vec<Message>,
    opts: &mut GenerateOptions,
    last: Option<&thau::infer::Usage>,
) -> Result<bool> {
    let (name, rest) = cmd.split_once(char::is_whitespace).unwrap_or((cmd, ""));
    let rest = rest.trim();
    match name {
        "quit" | "exit" | "q" => return Ok(true),
        "help" | "?" => println!("{HELP}"),
        "reset" => {
            messages.retain(|m| m.role == Role::System);
            println!("(conversation cleared)");
        }
        "system" => {
            if rest.is_empty() {
                bail!("usage: /system TEXT");
            }
            *messages = vec![Message::system(rest)];
            println!("(system prompt set; conversation cleared)");
        }
        "save" => {
            if rest.is_empty() {
                bail!("usage: /save FILE");
            }
            let saved = Saved { messages: messages.clone(), options: opts.clone() };
            thau::fs::write_atomic(Path::new(rest), serde_json::to_string_pretty(&saved)?.as_bytes())?;
            println!("(saved {} messages to {rest})", messages.len());
        }
        "load" => {
            if rest.is_empty() {
                bail!("usage: /load FILE");
            }
            let bytes = std::fs::read(rest).with_context(|| format!("reading {rest}"))?;
            let saved: Saved = serde_json::from_slice(&bytes)
                .with_context(|| format!("{rest} is not a conversation saved with /save"))?;
            saved.options.validate()?;
            *messages = saved.messages;
            *opts = saved.options;
            println!("(loaded {} messages from {rest})", messages.len());
        }
        "set" => {
            let (key, value) = rest.split_once(char::is_whitespace).context("usage: /set KEY VALUE")?;
            set(opts, key, value.trim())?;
        }
        "show" => println!("{}", serde_json::to_string_pretty(opts)?),
        "stats" => match last {
            Some(u) => println!("{}", speed_line(u)),
            None => println!("(no answer yet)"),
        },
        other => bail!("unknown command /{other}: try /help"),
    }
    Ok(false)
}

/// Change one setting, validating the result before keeping it.
fn set(opts: &mut GenerateOptions, key: &str, value: &str) -> Result<()> {
    let mut new = opts.clone();
    let s = &mut new.sampling;
    let bad = || format!("'{value}' is not a valid value for {key}");
    match key {
        "temperature" => s.temperature = value.parse().with_context(bad)?,
        "top_k" => s.top_k = value.parse().with_context(bad)?,
        "top_p" => s.top_p = value.parse().with_context(bad)?,
        "min_p" => s.min_p = value.parse().with_context(bad)?,
        "repeat_penalty" => s.repetition_penalty = value.parse().with_context(bad)?,
        "repeat_last_n" => s.repeat_last_n = value.parse().with_context(bad)?,
        "seed" => s.seed = value.parse().with_context(bad)?,
        "max_tokens" => new.max_tokens = value.parse().with_context(bad)?,
        _ => bail!("unknown setting {key}: try temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, max_tokens, seed"),
    }
    new.validate()?;
    *opts = new;
    println!("({key} = {value})");
    Ok(())
}
