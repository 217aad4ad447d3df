//! `thau generate` and `thau chat`: load a model into the engine thread and stream its text.
//!
//! The chat REPL is a front-end over [`thau::assistant::Session`]: the library logs the
//! conversation, recalls memories and earlier conversations into the prompt, runs the tools
//! and takes feedback; this file parses flags and `/commands` (see [`HELP`]) and prints.
//! Ctrl-C stops the answer being written, not the program.

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use thau::assistant::{Assistant, AssistantEvent, AssistantOptions, Clock, ContextOptions, Reply, Session, Toolbox};
use thau::infer::{Engine, FinishReason, GenerateOptions, InferModel, Prompt, Request, SamplingOptions, WeightDtype};
use thau::memory::{MemoryStore, Retriever};
use thau::model::Age;
use thau::tokenizer::{Message, Role};
use thau::tools::{LoopEvent, LoopOptions, Registry, ToolChoice};

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
    #[arg(long, default_value = thau::assistant::DEFAULT_SYSTEM)]
    pub(crate) system: String,
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
    #[command(flatten)]
    pub(crate) memory: MemoryArgs,
    #[command(flatten)]
    pub(crate) tools: ToolArgs,
}

/// Who is talking, and the memory database that keeps their conversations and memories.
#[derive(Args, Debug, Clone)]
pub(crate) struct MemoryArgs {
    /// Whose conversations and memories these are.
    #[arg(long, default_value = thau::memory::DEFAULT_USER)]
    pub(crate) user: String,
    /// Memory database (default: $THAU_HOME/memory.sqlite, else ~/.local/share/thau/memory.sqlite,
    /// used when it exists). Conversations are logged there, and what matters is recalled.
    #[arg(long, value_name = "PATH")]
    pub(crate) memory: Option<PathBuf>,
    /// Chat without the memory database: nothing logged, nothing recalled.
    #[arg(long, conflicts_with = "memory")]
    pub(crate) no_memory: bool,
    /// Continue this stored conversation (see /conversations).
    #[arg(long, value_name = "ID")]
    pub(crate) conversation: Option<String>,
    /// Sentence-embedding model for memory search (a folder or hub id; default:
    /// $THAU_EMBEDDING_MODEL, else full-text search only).
    #[arg(long, value_name = "DIR|HUB_ID")]
    pub(crate) embedding_model: Option<String>,
    /// Put relevant memories and earlier conversations into the prompt: on (default) or off.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = on_off)]
    pub(crate) memory_inject: bool,
    /// Start a manual clock at this time (RFC 3339) instead of the system's; /clock moves it.
    /// For replays and tests.
    #[arg(long, value_name = "TIME", hide = true)]
    pub(crate) clock: Option<String>,
}

pub(crate) fn on_off(s: &str) -> Result<bool, String> {
    thau::error::one_of("setting", s, &[("on", true), ("off", false), ("true", true), ("false", false)])
        .map_err(|e| e.to_string())
}

impl MemoryArgs {
    /// The database to use: --memory, else the default one when it exists; None with --no-memory.
    fn db(&self) -> Option<PathBuf> {
        if self.no_memory {
            return None;
        }
        self.memory.clone().or_else(|| Some(thau::memory::default_db_path()).filter(|p| p.exists()))
    }

    fn embedder(&self) -> Result<Option<Arc<thau::memory::Embedder>>> {
        let e = match &self.embedding_model {
            Some(spec) => {
                Some(thau::memory::Embedder::load(spec).with_context(|| format!("loading --embedding-model {spec}"))?)
            }
            None => thau::memory::Embedder::from_env()?,
        };
        Ok(e.map(Arc::new))
    }

    fn clock(&self) -> Result<Clock> {
        match &self.clock {
            None => Ok(Clock::system()),
            Some(t) => {
                Ok(Clock::manual(chrono::DateTime::parse_from_rfc3339(t).with_context(|| {
                    format!("--clock {t} is not an RFC 3339 time such as 2026-03-02T10:00:00+01:00")
                })?))
            }
        }
    }
}

/// Tools the model may call. Off unless one of these flags asks for them.
#[derive(Args, Debug, Clone)]
pub(crate) struct ToolArgs {
    /// Let the model call the built-in tools: calculator and current_datetime, plus remember /
    /// recall / search_memory when a memory database is in use and generate_image with
    /// --image-model.
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
        !self.no_tools && (self.tools || self.tools_file.is_some() || self.image_model.is_some())
    }

    /// The registry the flags describe, or `None` when tools are off. `memory`: the
    /// database and user the memory tools work on.
    fn registry(&self, memory: Option<(thau::memory::Retriever, &str)>) -> Result<Option<Registry>> {
        if !self.wanted() {
            return Ok(None);
        }
        let timeout = std::time::Duration::from_secs(self.tool_timeout.max(1));
        let image = match &self.image_model {
            Some(dir) => image_backend(dir, &self.image_dir, timeout * 10)?,
            None => thau::tools::GenerateImage::unavailable(),
        };
        let memory = memory.map(|(retriever, user)| thau::tools::MemoryAccess::new(retriever, user));
        let mut r = Registry::builtins(image, memory)?.with_default_timeout(timeout);
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
    Ok(thau::infer::load_run_engine(run, args.age, dtype.unwrap_or(WeightDtype::F32), max_batch)?.0)
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
  /reset                 start a new conversation (keeps the system prompt)
  /system TEXT           set the system prompt (and start a new conversation)
  /conversations         list your stored conversations
  /open ID               continue a stored conversation
  /memories              what THAU remembers about you (newest first)
  /good, /bad            rate the last answer (feeds the learning loop; needs --run)
  /fix TEXT              say what the right answer was (a thumbs-down with the correction)
  /save FILE             save the conversation and settings as JSON
  /load FILE             load a conversation saved with /save
  /set KEY VALUE         temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n,
                         max_tokens, seed
  /show                  print the settings
  /stats                 the last answer: speed, and the memories and conversations it used
  /help                  this text
  /quit, /exit           leave (so does Ctrl-D)
Ctrl-C stops the answer being written.";

/// What /save writes.
#[derive(Serialize, Deserialize)]
struct Saved {
    messages: Vec<Message>,
    options: GenerateOptions,
}

/// Everything a chat holds between turns.
struct Chat {
    engine: Engine,
    toolbox: Option<Toolbox>,
    memory: Option<Mutex<Retriever>>,
    learn: Option<PathBuf>,
    memory_db: Option<PathBuf>,
    clock: Clock,
    options: AssistantOptions,
    session: Session,
    last: Option<Reply>,
}

pub(crate) fn chat(a: ChatArgs) -> Result<()> {
    let db = a.memory.db();
    let embedder = match &db {
        Some(_) => a.memory.embedder()?,
        None => None,
    };
    let open = |path: &Path| -> Result<Retriever> {
        let store = MemoryStore::open(path)?;
        Ok(Retriever::with_shared_embedder(store, embedder.clone())?)
    };
    let memory = db.as_deref().map(open).transpose()?;
    // The memory tools (only when tools are on) get a connection of their own to the same database.
    let tool_memory = match &db {
        Some(path) if a.tools.wanted() => Some((open(path)?, a.memory.user.as_str())),
        _ => None,
    };
    let registry = a.tools.registry(tool_memory)?;
    let engine = load_engine(&a.model)?;
    if registry.is_some() {
        thau::tools::require_call_tokens(&engine)?;
    }
    let toolbox = registry.map(|r| Toolbox::new(&engine, r));
    let session = match (&a.memory.conversation, &memory) {
        (Some(id), Some(r)) => Session::open(r.store(), &a.memory.user, id)?,
        (Some(_), None) => bail!("--conversation needs the memory database: pass --memory PATH"),
        (None, _) => Session::new(&a.memory.user)?,
    };
    let options = AssistantOptions {
        system: a.system.clone(),
        context: ContextOptions { inject: a.memory.memory_inject, ..ContextOptions::default() },
        remember_requests: true,
        tool_loop: LoopOptions {
            generate: a.sampling.options(),
            choice: ToolChoice::Auto,
            max_rounds: a.tools.max_tool_rounds,
            constrained: !a.tools.unconstrained_tools,
            ..LoopOptions::default()
        },
    };
    let mut chat = Chat {
        engine,
        toolbox,
        memory: memory.map(Mutex::new),
        learn: a.model.run.clone(),
        memory_db: db.clone(),
        clock: a.memory.clock()?,
        options,
        session,
        last: None,
    };
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
    eprintln!("{}", describe(&chat.engine));
    if let Some(t) = &chat.toolbox {
        eprintln!("Tools: {}", t.registry.names().join(", "));
    }
    match (&db, chat.session.conversation()) {
        (Some(p), Some(c)) => {
            eprintln!("Memory: {} · user {} · continuing {} ({} turns)", p.display(), a.memory.user, c.id, c.turns)
        }
        (Some(p), None) => eprintln!("Memory: {} · user {}", p.display(), a.memory.user),
        (None, _) => eprintln!("Memory: off (nothing is logged; pass --memory PATH to keep conversations)"),
    }
    eprintln!("Type a message, or /help. Ctrl-C stops an answer; Ctrl-D leaves.");
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
            match chat.command(cmd) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => eprintln!("{e:#}"),
            }
            continue;
        }
        let flag = Arc::new(AtomicBool::new(false));
        *current.lock().unwrap() = Some(flag.clone());
        let assistant = Assistant {
            engine: &chat.engine,
            tools: chat.toolbox.as_ref(),
            memory: chat.memory.as_ref(),
            clock: &chat.clock,
            options: &chat.options,
        };
        let outcome = chat.session.send(&assistant, input, Some(&flag), &mut show_event);
        *current.lock().unwrap() = None;
        match outcome {
            Ok(r) => {
                println!("{}", if r.finish == FinishReason::Cancelled { " [stopped]" } else { "" });
                chat.last = Some(r);
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
}

/// Print what a turn does: answer text as it streams, what was remembered, each call and its
/// result, and what was cut from the context.
fn show_event(ev: AssistantEvent<'_>) {
    match ev {
        AssistantEvent::Logged { .. } => {}
        AssistantEvent::Remembered(m) => eprintln!("(remembered #{}: {})", m.id, m.text),
        AssistantEvent::Context(r) => {
            if let Some(n) = &r.notice {
                eprintln!("({n})");
            }
        }
        AssistantEvent::Loop(LoopEvent::Started { dropped_messages, .. }) if dropped_messages > 0 => {
            eprintln!(
                "(the conversation is longer than the context: the {dropped_messages} oldest messages are left out)"
            )
        }
        AssistantEvent::Loop(LoopEvent::Started { .. }) => {}
        AssistantEvent::Loop(LoopEvent::Text(t)) => {
            print!("{t}");
            let _ = std::io::stdout().flush();
        }
        AssistantEvent::Loop(LoopEvent::Call(c)) => println!("\n[tool] {}({})", c.name, c.arguments),
        AssistantEvent::Loop(LoopEvent::Result { call, result }) => match result {
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
        AssistantEvent::Loop(LoopEvent::Malformed(e)) => println!("\n[tool] {e}"),
    }
}

/// The date and time of `ms` in `clock`'s zone, to the minute.
fn when(clock: &Clock, ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.with_timezone(clock.now().offset()).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

impl Chat {
    fn retriever(&self) -> Result<std::sync::MutexGuard<'_, Retriever>> {
        match &self.memory {
            Some(m) => Ok(m.lock().unwrap_or_else(|e| e.into_inner())),
            None => bail!("memory is off: start thau chat with --memory PATH"),
        }
    }

    fn rate(&self, rating: i8, correction: Option<&str>) -> Result<()> {
        let Some(memory) = &self.memory else { bail!("feedback needs the memory database: start with --memory PATH") };
        let Some(run) = &self.learn else { bail!("feedback feeds a run's learning: start thau chat with --run DIR") };
        let store = thau::learn::LearnStore::open(run)?;
        let f = self.session.feedback(memory, &store, None, rating, correction)?;
        let db = self.memory_db.as_deref();
        let schedule = thau::learn::schedule::status(run, &store, db, self.clock.now_ms())?;
        println!("(feedback #{} on turn {} recorded · learning: {})", f.id, f.turn_id, schedule.reason);
        Ok(())
    }

    /// Run one /command; `Ok(true)` means leave.
    fn command(&mut self, cmd: &str) -> Result<bool> {
        let (name, rest) = cmd.split_once(char::is_whitespace).unwrap_or((cmd, ""));
        let rest = rest.trim();
        match name {
            "quit" | "exit" | "q" => return Ok(true),
            "help" | "?" => println!("{HELP}"),
            "reset" => {
                self.session.reset();
                println!("(conversation cleared)");
            }
            "system" => {
                if rest.is_empty() {
                    bail!("usage: /system TEXT");
                }
                self.options.system = rest.to_string();
                self.session.reset();
                println!("(system prompt set; conversation cleared)");
            }
            "conversations" => {
                let list = self.retriever()?.store().conversations(self.session.user(), 50)?;
                if list.is_empty() {
                    println!("(no stored conversations)");
                }
                for c in list {
                    let here = self.session.conversation().is_some_and(|s| s.id == c.id);
                    println!(
                        "{}{}  {}  {} turns  {}",
                        if here { "* " } else { "  " },
                        c.id,
                        when(&self.clock, c.updated_at),
                        c.turns,
                        c.title.unwrap_or_default()
                    );
                }
            }
            "open" => {
                if rest.is_empty() {
                    bail!("usage: /open ID (see /conversations)");
                }
                let session = Session::open(self.retriever()?.store(), self.session.user(), rest)?;
                println!("(continuing {rest}: {} turns)", session.history().len());
                for m in session.history().iter().rev().take(4).rev() {
                    println!("  {}: {}", m.role.as_str(), thau::memory::first_words(&m.content, 24));
                }
                self.session = session;
            }
            "memories" => {
                let list =
                    self.retriever()?.store().list(self.session.user(), &thau::memory::Filter::default(), Some(20))?;
                if list.is_empty() {
                    println!("(no memories yet: say \"recuerda que…\" / \"remember that…\")");
                }
                for m in list {
                    println!("#{} [{}] ({}) {}", m.id, when(&self.clock, m.created_at), m.importance, m.text);
                }
            }
            "good" | "bad" => self.rate(if name == "good" { 1 } else { -1 }, None)?,
            "fix" => {
                if rest.is_empty() {
                    bail!("usage: /fix THE RIGHT ANSWER");
                }
                self.rate(-1, Some(rest))?;
            }
            "clock" => {
                let t = chrono::DateTime::parse_from_rfc3339(rest)
                    .with_context(|| format!("'{rest}' is not an RFC 3339 time"))?;
                self.clock.set(t)?;
                println!("(clock: {t})");
            }
            "save" => {
                if rest.is_empty() {
                    bail!("usage: /save FILE");
                }
                let mut messages = vec![Message::system(self.options.system.clone())];
                messages.extend(self.session.history().iter().cloned());
                let saved = Saved { messages, options: self.options.tool_loop.generate.clone() };
                thau::fs::write_atomic(Path::new(rest), serde_json::to_string_pretty(&saved)?.as_bytes())?;
                println!("(saved {} messages to {rest})", saved.messages.len());
            }
            "load" => {
                if rest.is_empty() {
                    bail!("usage: /load FILE");
                }
                let bytes = std::fs::read(rest).with_context(|| format!("reading {rest}"))?;
                let saved: Saved = serde_json::from_slice(&bytes)
                    .with_context(|| format!("{rest} is not a conversation saved with /save"))?;
                saved.options.validate()?;
                let n = saved.messages.len();
                let (system, turns): (Vec<Message>, Vec<Message>) =
                    saved.messages.into_iter().partition(|m| m.role == Role::System);
                if let Some(s) = system.into_iter().next() {
                    self.options.system = s.content;
                }
                self.session = Session::from_messages(self.session.user(), turns)?;
                self.options.tool_loop.generate = saved.options;
                println!("(loaded {n} messages from {rest})");
            }
            "set" => {
                let (key, value) = rest.split_once(char::is_whitespace).context("usage: /set KEY VALUE")?;
                set(&mut self.options.tool_loop.generate, key, value.trim())?;
            }
            "show" => println!("{}", serde_json::to_string_pretty(&self.options.tool_loop.generate)?),
            "stats" => match &self.last {
                Some(r) => {
                    println!("{}", speed_line(&r.usage));
                    println!("{}", memory_line(&r.memory));
                    if let Some(t) = r.turn_id {
                        println!("answer: turn {t} of conversation {}", r.conversation.as_deref().unwrap_or("?"));
                    }
                }
                None => println!("(no answer yet)"),
            },
            other => bail!("unknown command /{other}: try /help"),
        }
        Ok(false)
    }
}

/// The memory report of a turn in a few lines.
fn memory_line(r: &thau::assistant::MemoryReport) -> String {
    let mut out = format!(
        "memory: {} memories, {} earlier conversations in the prompt (query embedding {:.1} ms, assembly {:.1} ms)",
        r.memories.len(),
        r.episodes.len(),
        r.query_embedding_ms,
        r.assembly_ms
    );
    for m in &r.memories {
        out.push_str(&format!("\n  memory #{}: {}", m.id, m.text));
    }
    for e in &r.episodes {
        out.push_str(&format!("\n  episode #{}: {}", e.id, e.summary));
    }
    if r.left_out > 0 {
        out.push_str(&format!("\n  {} more relevant ones did not fit in the memory budget", r.left_out));
    }
    if let Some(n) = &r.notice {
        out.push_str(&format!("\n  {n}"));
    }
    out
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
