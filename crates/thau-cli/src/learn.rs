//! `thau learn add|questions|gaps|dataset|run|undo|history|schedule` and `thau feedback`:
//! argument parsing and printing; the work is in `thau::learn`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use thau::checkpoint::RunDir;
use thau::learn::{self, Added, LearnMethod, LearnOptions, LearnProgress, LearnStore, MemorySource, Outcome};
use thau::model::Age;

#[derive(Subcommand)]
pub enum LearnCmd {
    /// Add documents (text/markdown files or folders) as knowledge the model should learn.
    Add {
        #[arg(long)]
        run: PathBuf,
        /// Files or folders (.txt, .md, .jsonl with a `text` field), searched recursively.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Generate questions about a topic from the sources, ask the model closed-book, score it.
    Questions {
        #[arg(long)]
        run: PathBuf,
        /// Only passages that mention this (default: every source).
        #[arg(long, default_value = "")]
        topic: String,
        /// How many questions.
        #[arg(short = 'n', long, default_value_t = 20)]
        n: usize,
        /// Also let the model write up to this many questions itself (kept only when grounded).
        #[arg(long, default_value_t = 0)]
        model_questions: usize,
        /// Only generate, do not ask the model.
        #[arg(long)]
        no_score: bool,
        #[command(flatten)]
        mem: MemArgs,
        /// Age to ask (default: the newest).
        #[arg(long)]
        age: Option<Age>,
        #[arg(long)]
        json: bool,
    },
    /// Find knowledge gaps in conversations (memory store) and feedback, grouped by topic.
    Gaps {
        #[arg(long)]
        run: PathBuf,
        #[command(flatten)]
        mem: MemArgs,
        /// Only turns since: RFC 3339, a date, or words ("last week", "ayer").
        #[arg(long)]
        since: Option<String>,
        /// Also flag answers the model finds improbable (perplexity above this).
        #[arg(long)]
        perplexity: Option<f64>,
        /// Group with this sentence-embedding model (default: $THAU_EMBEDDING_MODEL; else word overlap).
        #[arg(long)]
        embedding_model: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Build the learning dataset (questions the model gets wrong → grounded answers) without training.
    Dataset {
        #[arg(long)]
        run: PathBuf,
        #[arg(long, default_value = "")]
        topic: String,
        #[arg(short = 'n', long, default_value_t = 200)]
        n: usize,
        #[command(flatten)]
        mem: MemArgs,
        /// Where to write the JSONL (default: runs/NAME/learn/datasets/preview.jsonl).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// One learning cycle: questions → gaps → dataset → sweep → fine-tune → gate → keep or roll back.
    Run(RunArgs),
    /// Restore the checkpoint the newest kept learning run started from.
    Undo {
        #[arg(long)]
        run: PathBuf,
    },
    /// Every learning run: outcome, data, gate results.
    History {
        #[arg(long)]
        run: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Score the model closed-book on a question file (JSONL: question, answer per line).
    Eval {
        #[arg(long)]
        run: PathBuf,
        /// JSONL questions (`thau learn facts` writes held-out ones).
        #[arg(long)]
        questions: PathBuf,
        #[arg(long)]
        age: Option<Age>,
        #[arg(long)]
        json: bool,
    },
    /// Write the benchmark's invented bilingual facts: documents and held-out paraphrased questions.
    Facts {
        /// Folder to write velmora_es.md, velmora_en.md and heldout.jsonl into.
        #[arg(long)]
        out: PathBuf,
        /// How many invented people (3 facts each, in both languages).
        #[arg(long, default_value_t = 60)]
        people: usize,
        #[arg(long, default_value_t = 11)]
        seed: u64,
    },
    /// Run a learning cycle now if the schedule says one is due, else say why not (for cron;
    /// `thau serve` does the same after feedback arrives). Takes the same options as `run`.
    Auto(RunArgs),
    /// Automatic learning when enough feedback or conversation gaps accumulate (off by default).
    Schedule {
        #[arg(long)]
        run: PathBuf,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        /// New feedback items that make a run due.
        #[arg(long)]
        min_feedback: Option<usize>,
        /// New conversation gaps (in the run's memory.sqlite) that make a run due; 0: feedback only.
        #[arg(long)]
        min_gaps: Option<usize>,
        /// Whose conversations count.
        #[arg(long)]
        user: Option<String>,
        /// Hours between learning runs at least.
        #[arg(long)]
        min_interval_hours: Option<f64>,
    },
}

/// Where conversations are: the memory database and the user.
#[derive(Args, Clone)]
pub struct MemArgs {
    /// Memory database with the conversations (default: the run's memory.sqlite, else
    /// `thau memory`'s default database, when either exists).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Whose conversations.
    #[arg(long, default_value = thau::memory::DEFAULT_USER)]
    user: String,
}

impl MemArgs {
    fn source(&self, run: &Path) -> Option<MemorySource> {
        let db = learn::schedule::conversation_db(run, self.db.as_deref())?;
        Some(MemorySource { db, user: self.user.clone() })
    }
}

#[derive(Args)]
pub struct RunArgs {
    #[arg(long)]
    run: PathBuf,
    /// full (every weight) or lora (low-rank adapters, merged when kept).
    #[arg(long, default_value = "full")]
    method: LearnMethod,
    /// Learning rate (default: chosen by a small sweep).
    #[arg(long)]
    lr: Option<f64>,
    /// Steps (default: chosen by the sweep).
    #[arg(long)]
    steps: Option<u64>,
    #[arg(long, default_value = "")]
    topic: String,
    /// Questions generated for the cycle.
    #[arg(short = 'n', long, default_value_t = 200)]
    n: usize,
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Passes over the dataset the sweep's longest candidate takes.
    #[arg(long, default_value_t = 6.0)]
    epochs: f64,
    /// LoRA rank and alpha.
    #[arg(long, default_value_t = 8)]
    lora_rank: usize,
    #[arg(long, default_value_t = 16.0)]
    lora_alpha: f64,
    /// Do not mix replay of the run's training text into the steps.
    #[arg(long)]
    no_replay: bool,
    /// Knowledge augmentation per gap fact: extra question wordings, cloze restatements and
    /// clozes of the subject's facts in shuffled order (0 0 0, or --no-augment, turns it off).
    #[arg(long, default_value_t = 16)]
    wordings: usize,
    #[arg(long, default_value_t = 4)]
    restatements: usize,
    #[arg(long, default_value_t = 2)]
    permutations: usize,
    #[arg(long)]
    no_augment: bool,
    /// Largest allowed rise of the held-out general loss, in percent.
    #[arg(long, default_value_t = 1.0)]
    max_regression: f64,
    #[command(flatten)]
    mem: MemArgs,
    /// Conversation turns since (RFC 3339, a date, or words).
    #[arg(long)]
    since: Option<String>,
    /// Run only when the schedule says a run is due.
    #[arg(long)]
    if_due: bool,
    #[arg(long)]
    age: Option<Age>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct FeedbackArgs {
    #[arg(long)]
    run: PathBuf,
    /// The assistant turn (memory store turn id; `thau memory log` shows them).
    #[arg(long)]
    turn: i64,
    /// up or down.
    rating: String,
    /// The right answer.
    #[arg(long)]
    correction: Option<String>,
    #[command(flatten)]
    mem: MemArgs,
    #[arg(long)]
    json: bool,
}

fn since_ms(s: &Option<String>) -> Result<i64> {
    match s {
        Some(s) => crate::memory::parse_when("--since", s, false),
        None => Ok(0),
    }
}

pub fn run(cmd: LearnCmd) -> Result<()> {
    match cmd {
        LearnCmd::Add { run, paths } => add(&run, &paths),
        LearnCmd::Questions { run, topic, n, model_questions, no_score, mem, age, json } => {
            questions(&run, &topic, n, model_questions, no_score, &mem, age, json)
        }
        LearnCmd::Gaps { run, mem, since, perplexity, embedding_model, json } => {
            gaps(&run, &mem, since_ms(&since)?, perplexity, embedding_model, json)
        }
        LearnCmd::Dataset { run, topic, n, mem, out } => dataset(&run, &topic, n, &mem, out),
        LearnCmd::Run(a) => learn_run(a),
        LearnCmd::Undo { run } => {
            let rec = learn::history::undo(&run)?;
            println!(
                "undid learning run {}: {} is the newest checkpoint again (the undone one is kept in {})",
                rec.id,
                rec.checkpoint_before.display(),
                rec.undone_to.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
            );
            Ok(())
        }
        LearnCmd::History { run, json } => history(&run, json),
        LearnCmd::Eval { run, questions, age, json } => eval(&run, &questions, age, json),
        LearnCmd::Facts { out, people, seed } => {
            let ps = learn::facts::people(people, seed);
            let (es, en) = learn::facts::documents(&ps);
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            thau::fs::write_atomic(&out.join("velmora_es.md"), es.as_bytes())?;
            thau::fs::write_atomic(&out.join("velmora_en.md"), en.as_bytes())?;
            let lines: Vec<String> =
                learn::facts::paraphrases(&ps).iter().map(serde_json::to_string).collect::<Result<_, _>>()?;
            thau::fs::write_atomic(&out.join("heldout.jsonl"), (lines.join("\n") + "\n").as_bytes())?;
            println!(
                "{} people, {} facts per language, {} held-out questions in {}",
                ps.len(),
                ps.len() * 3,
                lines.len(),
                out.display()
            );
            Ok(())
        }
        LearnCmd::Auto(a) => learn_auto(a),
        LearnCmd::Schedule { run, enable, disable, min_feedback, min_gaps, user, min_interval_hours } => {
            let store = LearnStore::open(&run)?;
            let mut s = learn::schedule::load(&store)?;
            if enable {
                s.enabled = true;
            }
            if disable {
                s.enabled = false;
            }
            if let Some(n) = min_feedback {
                s.min_feedback = n;
            }
            if let Some(h) = min_interval_hours {
                s.min_interval_hours = h;
            }
            if let Some(g) = min_gaps {
                s.min_gaps = g;
            }
            if let Some(u) = user {
                s.user = u;
            }
            learn::schedule::save(&store, &s)?;
            let st = learn::schedule::status(&run, &store, None, thau::memory::now_ms())?;
            println!(
                "automatic learning {}: a run is due after {} new feedback items{}, at least {} h apart — now: {}",
                if s.enabled { "on" } else { "off" },
                s.min_feedback,
                if s.min_gaps > 0 {
                    format!(" or {} new conversation gaps of user {}", s.min_gaps, s.user)
                } else {
                    String::new()
                },
                s.min_interval_hours,
                st.reason
            );
            Ok(())
        }
    }
}

fn add(run: &Path, paths: &[PathBuf]) -> Result<()> {
    let mut store = LearnStore::open(run)?;
    let added = learn::add_paths(&mut store, paths)?;
    let (mut docs, mut passages) = (0, 0);
    for a in &added {
        match a {
            Added::New(d) => {
                docs += 1;
                passages += d.passages;
                println!("added {} ({} passages, id d{})", d.path, d.passages, d.id);
            }
            Added::Duplicate(p) => println!("skipped {p}: the same text is already stored"),
        }
    }
    let total = store.documents()?;
    println!(
        "{docs} documents, {passages} passages added; the run now learns from {} documents ({} passages)",
        total.len(),
        total.iter().map(|d| d.passages).sum::<usize>()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn questions(
    run: &Path,
    topic: &str,
    n: usize,
    model_questions: usize,
    no_score: bool,
    mem: &MemArgs,
    age: Option<Age>,
    json: bool,
) -> Result<()> {
    let store = LearnStore::open(run)?;
    let source = mem.source(run);
    let memory = source.as_ref().map(|m| thau::memory::MemoryStore::open(&m.db)).transpose()?;
    let passages = learn::all_passages(&store, memory.as_ref().map(|m| (m, mem.user.as_str())))?;
    let mut qs = learn::generate_questions(
        &passages,
        &learn::GenerateQuestions { topic: topic.into(), limit: n, ..Default::default() },
    );
    let loaded = if no_score && model_questions == 0 {
        None
    } else {
        Some(RunDir::new(run).load_latest(age, &candle_core::Device::Cpu)?)
    };
    if let (Some((tok, model, _)), true) = (&loaded, model_questions > 0) {
        let infer = thau::infer::InferModel::from_llama(model, thau::infer::WeightDtype::F32)?;
        let topical: Vec<_> =
            passages.iter().filter(|p| topic.is_empty() || learn::text::mentions(&p.text, topic)).collect();
        let mut kept = 0;
        for (i, p) in topical.iter().cycle().take(model_questions * 3).enumerate() {
            if kept >= model_questions {
                break;
            }
            if let Some(q) = learn::selfask::ask_model(&infer, tok, p, i as u64)? {
                qs.push(q);
                kept += 1;
            }
        }
        eprintln!("the model wrote {kept} grounded questions of the {model_questions} asked for");
    }
    if qs.is_empty() {
        bail!(
            "no question could be made{}: add documents with `thau learn add --run {} FILE`",
            if topic.is_empty() { String::new() } else { format!(" about '{topic}'") },
            run.display()
        );
    }
    let Some((tok, model, _)) = loaded.filter(|_| !no_score) else {
        for q in &qs {
            if json {
                println!("{}", serde_json::to_string(q)?);
            } else {
                println!("[{}] {}  →  {}", q.passage, q.question, q.answer);
            }
        }
        return Ok(());
    };
    let scored = learn::score::score_llama(&model, &tok, &qs)?;
    if json {
        for s in &scored {
            println!("{}", serde_json::to_string(s)?);
        }
    } else {
        for s in &scored {
            println!(
                "{} [{}] {}\n    reference: {}   model: {}   (EM {:.0} F1 {:.2} logp {:.2})",
                if s.correct { "✓" } else { "✗ gap" },
                s.question.passage,
                s.question.question,
                s.question.answer,
                if s.prediction.is_empty() { "(nothing)" } else { &s.prediction },
                s.exact_match,
                s.f1,
                s.answer_logprob
            );
        }
    }
    let sum = learn::ScoreSummary::of(&scored);
    eprintln!(
        "{} questions: accuracy {:.1}%, exact match {:.1}%, F1 {:.3}, answer log-likelihood {:.3}; {} gaps",
        sum.questions,
        sum.accuracy * 100.0,
        sum.exact_match * 100.0,
        sum.f1,
        sum.answer_logprob,
        scored.iter().filter(|s| !s.correct).count()
    );
    Ok(())
}

fn gaps(
    run: &Path,
    mem: &MemArgs,
    since: i64,
    perplexity: Option<f64>,
    embedding_model: Option<String>,
    json: bool,
) -> Result<()> {
    let Some(source) = mem.source(run) else {
        bail!("no memory database with conversations: pass --db FILE (the file `thau memory` and `thau chat` write)");
    };
    let memory = thau::memory::MemoryStore::open(&source.db)?;
    let store = LearnStore::open(run)?;
    let embedder = match embedding_model.or_else(|| std::env::var(thau::memory::EMBEDDING_MODEL_ENV).ok()) {
        Some(spec) => {
            Some(thau::memory::Embedder::load(&spec).with_context(|| format!("loading embedding model {spec}"))?)
        }
        None => None,
    };
    let loaded = perplexity.map(|_| RunDir::new(run).load_latest(None, &candle_core::Device::Cpu)).transpose()?;
    let infer = loaded
        .as_ref()
        .map(|(_, m, _)| thau::infer::InferModel::from_llama(m, thau::infer::WeightDtype::F32))
        .transpose()?;
    let opts = learn::gaps::DetectOptions {
        user: source.user.clone(),
        since,
        model: infer.as_ref().zip(loaded.as_ref().map(|(t, _, _)| t)),
        perplexity_threshold: perplexity.unwrap_or(f64::INFINITY),
        embedder: embedder.as_ref(),
        ..Default::default()
    };
    let groups = learn::gaps::report(&memory, &store, &opts)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&groups)?);
        return Ok(());
    }
    if groups.is_empty() {
        println!("no gaps found in {} for user '{}'", source.db.display(), source.user);
        return Ok(());
    }
    println!("{:<32} {:>5}  evidence", "topic", "count");
    for g in &groups {
        let ev: Vec<String> = g.evidence.iter().map(|(s, n)| format!("{} {n}", s.as_str())).collect();
        println!("{:<32} {:>5}  {}", g.topic, g.count, ev.join(", "));
        for gap in g.gaps.iter().take(3) {
            println!(
                "    turn {}: «{}» → «{}»{}",
                gap.turn_id,
                gap.question,
                gap.answer,
                gap.correction.as_ref().map(|c| format!(" (correction: {c})")).unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn dataset(run: &Path, topic: &str, n: usize, mem: &MemArgs, out: Option<PathBuf>) -> Result<()> {
    let (tok, model, _) = RunDir::new(run).load_latest(None, &candle_core::Device::Cpu)?;
    let store = LearnStore::open(run)?;
    let opts = LearnOptions { topic: topic.into(), max_questions: n, memory: mem.source(run), ..Default::default() };
    let prep = learn::run::prepare(&model, &tok, &store, &opts)?;
    let out = out.unwrap_or_else(|| learn::learn_dir(run).join("datasets").join("preview.jsonl"));
    let dir = out.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let stem = out.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "dataset".into());
    let path = prep.dataset.save(&dir, &stem)?;
    let wrong = prep.scored.iter().filter(|s| !s.correct).count();
    println!(
        "{} questions asked, {wrong} gaps; {} conversation gaps ({} unanswered); {} examples written to {} (sources beside it)",
        prep.questions.len(),
        prep.conversation_gaps.len(),
        prep.dataset.unresolved.len(),
        prep.dataset.examples.len(),
        path.display()
    );
    Ok(())
}

fn learn_options(a: &RunArgs) -> Result<LearnOptions> {
    let method = a.method;
    Ok(LearnOptions {
        method,
        age: a.age,
        topic: a.topic.clone(),
        max_questions: a.n,
        lr: a.lr,
        steps: a.steps,
        epochs: a.epochs,
        batch_size: a.batch_size,
        replay: !a.no_replay,
        augment: if a.no_augment {
            learn::AugmentOptions::off()
        } else {
            learn::AugmentOptions {
                questions: a.wordings,
                restatements: a.restatements,
                permutations: a.permutations,
                ..Default::default()
            }
        },
        lora: learn::LoraConfig { rank: a.lora_rank, alpha: a.lora_alpha, ..Default::default() },
        policy: learn::GatePolicy { max_general_regression: a.max_regression / 100.0, ..Default::default() },
        memory: a.mem.source(&a.run),
        since: since_ms(&a.since)?,
        ..Default::default()
    })
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} · {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

fn on_progress(bar: &ProgressBar) -> impl FnMut(LearnProgress) + '_ {
    move |p| match p {
        LearnProgress::Stage(s) => bar.println(s),
        LearnProgress::Step { phase, step, total, loss } => {
            bar.set_prefix(phase);
            bar.set_length(total);
            bar.set_position(step);
            bar.set_message(format!("loss {loss:.3}"));
        }
    }
}

fn learn_run(a: RunArgs) -> Result<()> {
    if a.if_due {
        return learn_auto(a);
    }
    let opts = learn_options(&a)?;
    let bar = progress_bar();
    let rec = learn::learn(&a.run, &opts, &mut on_progress(&bar))?;
    bar.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rec)?);
        return Ok(());
    }
    print_record(&rec);
    Ok(())
}

/// `thau learn auto` (and `run --if-due`): run only when due; exit 0 either way, saying why.
fn learn_auto(a: RunArgs) -> Result<()> {
    let opts = learn_options(&a)?;
    let bar = progress_bar();
    let out = learn::run_if_due(&a.run, &opts, "thau learn auto", &mut on_progress(&bar))?;
    bar.finish_and_clear();
    match out {
        learn::AutoOutcome::NotDue(st) => {
            if a.json {
                println!("{}", serde_json::json!({"ran": false, "schedule": st}));
            } else {
                println!("no learning run due: {}", st.reason);
            }
        }
        learn::AutoOutcome::Busy(h) => {
            if a.json {
                println!("{}", serde_json::json!({"ran": false, "running": h}));
            } else {
                println!("a learning run is already in progress ({}, process {}): not starting another", h.by, h.pid);
            }
        }
        learn::AutoOutcome::Ran(rec) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&rec)?);
            } else {
                print_record(&rec);
            }
        }
    }
    Ok(())
}

fn print_record(r: &learn::RunRecord) {
    let g = &r.gate;
    println!(
        "learning run {} ({:?}, lr {:e}, {} steps, {} examples, {:.0}s): {}",
        r.id,
        r.method,
        r.lr,
        r.steps,
        r.data.examples,
        r.seconds,
        match r.outcome {
            Outcome::Kept => "KEPT",
            Outcome::RolledBack => "ROLLED BACK",
            Outcome::Undone => "UNDONE",
        }
    );
    println!(
        "  gap questions ({}): accuracy {:.1}% → {:.1}%, answer log-likelihood {:.3} → {:.3}",
        g.before.questions,
        g.before.accuracy * 100.0,
        g.after.accuracy * 100.0,
        g.before.answer_logprob,
        g.after.answer_logprob
    );
    for reason in &g.reasons {
        println!("  - {reason}");
    }
    match &r.checkpoint_after {
        Some(c) => println!(
            "  new checkpoint {} (from {}); `thau learn undo` restores the old one",
            c.display(),
            r.checkpoint_before.display()
        ),
        None => println!("  checkpoint unchanged: {}", r.checkpoint_before.display()),
    }
}

fn history(run: &Path, json: bool) -> Result<()> {
    let recs = learn::history::list(run)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&recs)?);
        return Ok(());
    }
    if recs.is_empty() {
        println!("no learning runs yet: `thau learn run --run {}`", run.display());
    }
    for r in &recs {
        print_record(r);
    }
    Ok(())
}

pub fn feedback(a: FeedbackArgs) -> Result<()> {
    let rating = learn::feedback::parse_rating(&a.rating)?;
    let store = LearnStore::open(&a.run)?;
    let source = a.mem.source(&a.run);
    let memory = source.as_ref().map(|m| thau::memory::MemoryStore::open(&m.db)).transpose()?;
    if memory.is_none() {
        eprintln!("note: no memory database found, so the turn's text is not stored with the rating (pass --db FILE)");
    }
    let f = learn::feedback::record(&store, memory.as_ref(), &a.mem.user, a.turn, rating, a.correction.as_deref())?;
    let st = learn::schedule::status(&a.run, &store, source.as_ref().map(|m| m.db.as_path()), thau::memory::now_ms())?;
    if a.json {
        println!("{}", serde_json::json!({"feedback": f, "schedule": st}));
    } else {
        println!(
            "recorded thumbs {} on turn {} (feedback {}){}; learning schedule: {}",
            if f.rating > 0 { "up" } else { "down" },
            f.turn_id,
            f.id,
            if f.correction.is_some() { " with a correction" } else { "" },
            st.reason
        );
    }
    Ok(())
}

fn eval(run: &Path, questions: &Path, age: Option<Age>, json: bool) -> Result<()> {
    let text = std::fs::read_to_string(questions).with_context(|| format!("reading {}", questions.display()))?;
    let mut qs = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not JSON", questions.display(), i + 1))?;
        let (Some(q), Some(a)) = (v["question"].as_str(), v["answer"].as_str()) else {
            bail!("{}:{}: each line needs \"question\" and \"answer\" strings", questions.display(), i + 1);
        };
        qs.push(learn::Question {
            question: q.into(),
            answer: a.into(),
            passage: v["passage"].as_str().unwrap_or("").into(),
            evidence: String::new(),
            kind: learn::QuestionKind::Wh,
            lang: v["lang"].as_str().unwrap_or("").into(),
        });
    }
    if qs.is_empty() {
        bail!("{} has no questions", questions.display());
    }
    let (tok, model, age) = RunDir::new(run).load_latest(age, &candle_core::Device::Cpu)?;
    let scored = learn::score::score_llama(&model, &tok, &qs)?;
    let sum = learn::ScoreSummary::of(&scored);
    if json {
        println!("{}", serde_json::json!({"age": age, "summary": sum, "scored": scored}));
    } else {
        println!(
            "{} questions (age {age}): accuracy {:.1}%, exact match {:.1}%, F1 {:.3}, answer log-likelihood {:.3}",
            sum.questions,
            sum.accuracy * 100.0,
            sum.exact_match * 100.0,
            sum.f1,
            sum.answer_logprob
        );
    }
    Ok(())
}
