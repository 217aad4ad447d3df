//! The engine: one thread owns the model and serves generation requests from a channel,
//! streaming events back on a per-request channel. The chat CLI and the server both drive it;
//! neither touches the model directly.
//!
//! Concurrent requests are decoded in one batch (continuous batching): every step runs one
//! forward pass that computes the next token of each active sequence, so the weights are read
//! once per step rather than once per request. Each sequence keeps its own KV cache and
//! position; a new request is prefilled alone between two steps, then joins the batch.
//!
//! Cancelling: [`Stream::cancel`] (or dropping the [`Stream`]) stops the request after the token
//! being computed; the others go on. Finished requests leave their caches in a small pool, so a
//! chat turn only prefills the new messages.

use super::generate::{text_prompt, Completion, Decoder, FinishReason, GenerateOptions, LogitsConstraint, Step};
use super::model::{InferModel, KvState, Logits};
use super::weights::WeightDtype;
use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::tokenizer::{fit_to_context, Message, Tokenizer};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What to continue.
#[derive(Debug, Clone)]
pub enum Prompt {
    /// Plain text, continued as is (BOS is added).
    Text(String),
    /// A conversation, rendered with the chat format; the model answers as the assistant.
    Chat(Vec<Message>),
    /// Token ids, BOS included.
    Tokens(Vec<u32>),
}

/// One generation request.
#[derive(Debug, Clone)]
pub struct Request {
    pub prompt: Prompt,
    pub options: GenerateOptions,
}

/// What the engine reports while it works on a request.
#[derive(Debug)]
pub enum Event {
    /// The prompt is ready: its length, and what was left out to fit the context.
    Started { prompt_tokens: usize, dropped_messages: usize, dropped_tokens: usize },
    /// A piece of generated text.
    Text(String),
    /// The request finished.
    Done(Completion),
    /// The request failed; the engine goes on with the next.
    Failed(Error),
}

/// The events of one request, and a way to stop it.
pub struct Stream {
    events: Receiver<Event>,
    cancel: Arc<AtomicBool>,
}

impl Stream {
    /// Stop generating after the current token; a `Done` with `Cancelled` follows.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
    /// A handle that cancels this request from elsewhere (a Ctrl-C handler, a closed socket).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }
    /// The next event, or `None` once the request is over.
    pub fn next_event(&self) -> Option<Event> {
        self.events.recv().ok()
    }
    /// Wait for the end, passing each piece of text to `on_text`.
    pub fn wait(self, mut on_text: impl FnMut(&str)) -> Result<Completion> {
        while let Some(ev) = self.next_event() {
            match ev {
                Event::Text(t) => on_text(&t),
                Event::Done(c) => return Ok(c),
                Event::Failed(e) => return Err(e),
                Event::Started { .. } => {}
            }
        }
        Err(Error::invalid("engine", "the engine stopped before finishing the request"))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// What the engine runs, for status lines and the server's model list.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    pub name: String,
    pub cfg: ModelConfig,
    pub dtype: WeightDtype,
    pub weight_bytes: usize,
    /// Most requests decoded together (1: one at a time).
    pub max_batch: usize,
}

/// Most requests [`Engine::spawn`] decodes together.
pub const DEFAULT_MAX_BATCH: usize = 16;

/// Counters the engine thread keeps, readable from any thread.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Requests decoding right now.
    pub active: AtomicUsize,
    /// The most requests ever decoded in one step.
    pub peak_batch: AtomicUsize,
    /// Decoding steps run (forward passes after prefill).
    pub steps: AtomicUsize,
    /// Tokens those steps computed (the sum of their batch sizes).
    pub step_tokens: AtomicUsize,
}

struct Job {
    request: Request,
    /// Restricts the generated tokens (tool calls that must parse), when set.
    constraint: Option<Box<dyn LogitsConstraint>>,
    events: Sender<Event>,
    cancel: Arc<AtomicBool>,
}

/// A model on its own thread.
pub struct Engine {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    tokenizer: Arc<Tokenizer>,
    info: EngineInfo,
    stats: Arc<EngineStats>,
}

impl Engine {
    /// Start the engine thread with `model`, decoding up to [`DEFAULT_MAX_BATCH`] requests
    /// together.
    pub fn spawn(name: impl Into<String>, model: InferModel, tokenizer: Tokenizer) -> Result<Self> {
        Self::spawn_batched(name, model, tokenizer, DEFAULT_MAX_BATCH)
    }

    /// Start the engine thread, decoding up to `max_batch` requests together (1: one at a
    /// time, each to its end, in arrival order).
    pub fn spawn_batched(
        name: impl Into<String>,
        model: InferModel,
        tokenizer: Tokenizer,
        max_batch: usize,
    ) -> Result<Self> {
        if max_batch == 0 {
            return Err(Error::invalid("max_batch", "must be at least 1 (1 = one request at a time)"));
        }
        let info = EngineInfo {
            name: name.into(),
            cfg: model.cfg.clone(),
            dtype: model.dtype(),
            weight_bytes: model.weight_bytes(),
            max_batch,
        };
        let tokenizer = Arc::new(tokenizer);
        let (tx, rx) = mpsc::channel::<Job>();
        let tok = tokenizer.clone();
        let stats = Arc::new(EngineStats::default());
        let counters = stats.clone();
        let thread = std::thread::Builder::new()
            .name("thau-engine".into())
            .spawn(move || serve(model, &tok, rx, max_batch, &counters))
            .map_err(|e| Error::invalid("engine", format!("cannot start the engine thread: {e}")))?;
        Ok(Self { jobs: Some(tx), thread: Some(thread), tokenizer, info, stats })
    }

    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    /// What the engine thread has done so far.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    pub fn tokenizer(&self) -> &Arc<Tokenizer> {
        &self.tokenizer
    }

    /// Queue a request; its events arrive on the returned stream.
    pub fn submit(&self, request: Request) -> Result<Stream> {
        self.submit_job(request, None)
    }

    /// Queue a request whose tokens `constraint` restricts (tool calls that must parse).
    pub fn submit_constrained(&self, request: Request, constraint: Box<dyn LogitsConstraint>) -> Result<Stream> {
        self.submit_job(request, Some(constraint))
    }

    fn submit_job(&self, request: Request, constraint: Option<Box<dyn LogitsConstraint>>) -> Result<Stream> {
        request.options.validate()?;
        let (tx, rx) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let job = Job { request, constraint, events: tx, cancel: cancel.clone() };
        self.jobs
            .as_ref()
            .and_then(|j| j.send(job).ok())
            .ok_or_else(|| Error::invalid("engine", "the engine thread has stopped; restart thau"))?;
        Ok(Stream { events: rx, cancel })
    }

    /// Run a request to the end, passing text pieces to `on_text`.
    pub fn generate(&self, request: Request, on_text: impl FnMut(&str)) -> Result<Completion> {
        self.submit(request)?.wait(on_text)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The engine thread: take jobs until every sender is gone. Up to `max_batch` requests decode
/// together: each step runs one forward pass for the next token of every active sequence
/// (each with its own cache and position). New requests are admitted between steps: prefilled
/// on their own, then they join the batch. With `max_batch` 1 requests run one at a time.
fn serve(model: InferModel, tok: &Tokenizer, jobs: Receiver<Job>, max_batch: usize, stats: &EngineStats) {
    let ctx = model.cfg.max_seq_len;
    let mut idle = CachePool::default();
    let mut active: Vec<Active> = Vec::new();
    loop {
        // Admit: block for work when nothing runs, else take only what is already queued.
        while active.len() < max_batch {
            let job = if active.is_empty() {
                match jobs.recv() {
                    Ok(j) => j,
                    Err(_) => return,
                }
            } else {
                match jobs.try_recv() {
                    Ok(j) => j,
                    Err(_) => break,
                }
            };
            if let Some(a) = admit(&model, tok, &mut idle, job) {
                active.push(a);
            }
        }
        stats.active.store(active.len(), Ordering::Relaxed);
        if active.is_empty() {
            continue;
        }
        // One forward pass for every sequence that needs its next token's logits.
        let tokens: Vec<u32> = active.iter().map(|a| a.next).collect();
        stats.peak_batch.fetch_max(tokens.len(), Ordering::Relaxed);
        stats.steps.fetch_add(1, Ordering::Relaxed);
        stats.step_tokens.fetch_add(tokens.len(), Ordering::Relaxed);
        let mut caches: Vec<&mut KvState> = active.iter_mut().map(|a| &mut a.cache).collect();
        let step = if tokens.len() == 1 {
            model.forward(&tokens, caches[0], Logits::Last)
        } else {
            model.forward_batch(&tokens, &mut caches)
        };
        let logits = match step {
            Ok(l) => l,
            Err(e) => {
                // A failed pass may have left every cache half-written: fail the batch.
                let msg = e.to_string();
                for a in active.drain(..) {
                    let _ = a.job.events.send(Event::Failed(Error::invalid("engine", msg.clone())));
                }
                continue;
            }
        };
        let mut still = Vec::with_capacity(active.len());
        for (mut a, row) in active.drain(..).zip(logits.chunks_exact(model.cfg.vocab_size)) {
            a.decoder.set_logits(row.to_vec());
            match a.step(ctx) {
                Step::Forward(next) => {
                    a.next = next;
                    still.push(a);
                }
                Step::Finished(finish) => a.done(finish, &mut idle),
            }
        }
        active = still;
        stats.active.store(active.len(), Ordering::Relaxed);
    }
}

/// A request being decoded: its own cache, its decoder, and the token whose logits it needs.
struct Active<'t> {
    job: Job,
    cache: KvState,
    decoder: Decoder<'t>,
    next: u32,
    dropped_tokens: usize,
}

impl Active<'_> {
    /// Sample from the logits just set and stream the text.
    fn step(&mut self, ctx: usize) -> Step {
        let events = &self.job.events;
        let mut on_text = |piece: &str| events.send(Event::Text(piece.to_string())).is_ok();
        self.decoder.step(self.cache.len(), ctx, &self.job.cancel, &mut on_text)
    }

    /// Report the completion and give the cache back for the next request to reuse.
    fn done(self, finish: FinishReason, idle: &mut CachePool) {
        let events = &self.job.events;
        let mut on_text = |piece: &str| events.send(Event::Text(piece.to_string())).is_ok();
        let mut c = self.decoder.finish(finish, &mut on_text);
        c.usage.dropped_tokens = self.dropped_tokens;
        let _ = events.send(Event::Done(c));
        idle.put(self.cache);
    }
}

/// Caches of finished requests, kept so a follow-up request (the next turn of a chat) reuses
/// the positions it shares with one of them instead of prefilling them again.
#[derive(Default)]
struct CachePool(Vec<KvState>);

impl CachePool {
    /// How many finished caches are kept (each holds up to a whole context of keys/values).
    const KEEP: usize = 4;

    /// The cache sharing the longest prefix with `prompt` (an empty one when none does).
    fn take(&mut self, prompt: &[u32]) -> KvState {
        let shared = |c: &KvState| c.tokens().iter().zip(prompt).take_while(|(a, b)| a == b).count();
        let best = (0..self.0.len()).max_by_key(|&i| (shared(&self.0[i]), i));
        match best {
            Some(i) if shared(&self.0[i]) > 0 => self.0.remove(i),
            _ => KvState::default(),
        }
    }

    /// Keep `cache` as the most recent; the oldest beyond [`Self::KEEP`] is dropped.
    fn put(&mut self, cache: KvState) {
        self.0.push(cache);
        if self.0.len() > Self::KEEP {
            self.0.remove(0);
        }
    }
}

/// Start a request: tokenize its prompt, prefill it, and sample its first token. Returns the
/// sequence to add to the decode batch, or `None` when it already ended (cancelled while
/// queued, failed, or finished at its first token) and its last event was sent.
fn admit<'t>(model: &InferModel, tok: &'t Tokenizer, idle: &mut CachePool, mut job: Job) -> Option<Active<'t>> {
    if job.cancel.load(Ordering::Relaxed) {
        // Cancelled while queued: report it without computing anything.
        let done = Completion {
            text: String::new(),
            tokens: Vec::new(),
            finish: FinishReason::Cancelled,
            usage: Default::default(),
        };
        let _ = job.events.send(Event::Done(done));
        return None;
    }
    let opts = &job.request.options;
    let ctx = model.cfg.max_seq_len;
    let prompt = match &job.request.prompt {
        Prompt::Text(text) => {
            let (ids, dropped) = text_prompt(tok, text, ctx, opts.max_tokens);
            Ok((ids, 0, dropped))
        }
        Prompt::Chat(messages) => {
            fit_to_context(tok, messages, ctx, opts.max_tokens).map(|f| (f.ids, f.dropped_messages, 0))
        }
        Prompt::Tokens(ids) => Ok((ids.clone(), 0, 0)),
    };
    let (ids, dropped_messages, dropped_tokens) = match prompt {
        Ok(p) => p,
        Err(e) => {
            let _ = job.events.send(Event::Failed(e));
            return None;
        }
    };
    let _ = job.events.send(Event::Started { prompt_tokens: ids.len(), dropped_messages, dropped_tokens });
    let mut cache = idle.take(&ids);
    let decoder = match Decoder::prefill(model, tok, &mut cache, &ids, opts) {
        Ok(mut d) => {
            if let Some(c) = job.constraint.take() {
                d.constrain(c);
            }
            d
        }
        Err(e) => {
            // The cache may be half-written: it is dropped, not reused.
            let _ = job.events.send(Event::Failed(e));
            return None;
        }
    };
    let mut a = Active { job, cache, decoder, next: 0, dropped_tokens };
    match a.step(ctx) {
        Step::Forward(next) => {
            a.next = next;
            Some(a)
        }
        Step::Finished(finish) => {
            a.done(finish, idle);
            None
        }
    }
}
