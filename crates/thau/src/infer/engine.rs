//! The engine: one thread owns the model and its KV cache and serves generation requests from a
//! channel, one at a time, streaming events back on a per-request channel. The chat CLI and the
//! server both drive it; neither touches the model directly.
//!
//! Cancelling: [`Stream::cancel`] (or dropping the [`Stream`]) stops the request after the token
//! being computed; the engine then takes the next request. The cache keeps the last request's
//! positions, so a chat turn only prefills the new messages.

use super::generate::{generate_ids_with, text_prompt, Completion, FinishReason, GenerateOptions, LogitsConstraint};
use super::model::{InferModel, KvState};
use super::weights::WeightDtype;
use crate::chat::{fit_to_context, Message};
use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::tokenizer::Tokenizer;
use std::sync::atomic::{AtomicBool, Ordering};
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
}

struct Job {
    request: Request,
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
}

impl Engine {
    /// Start the engine thread with `model`.
    pub fn spawn(name: impl Into<String>, model: InferModel, tokenizer: Tokenizer) -> Result<Self> {
        let info = EngineInfo {
            name: name.into(),
            cfg: model.cfg.clone(),
            dtype: model.dtype(),
            weight_bytes: model.weight_bytes(),
        };
        let tokenizer = Arc::new(tokenizer);
        let (tx, rx) = mpsc::channel::<Job>();
        let tok = tokenizer.clone();
        let thread = std::thread::Builder::new()
            .name("thau-engine".into())
            .spawn(move || serve(model, &tok, rx))
            .map_err(|e| Error::invalid("engine", format!("cannot start the engine thread: {e}")))?;
        Ok(Self { jobs: Some(tx), thread: Some(thread), tokenizer, info })
    }

    pub fn info(&self) -> &EngineInfo {
        &self.info
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

/// The engine thread: take jobs until every sender is gone.
fn serve(model: InferModel, tok: &Tokenizer, jobs: Receiver<Job>) {
    let mut cache = KvState::default();
    for mut job in jobs {
        if job.cancel.load(Ordering::Relaxed) {
            // Cancelled while queued: report it without computing anything.
            let done = Completion {
                text: String::new(),
                tokens: Vec::new(),
                finish: FinishReason::Cancelled,
                usage: Default::default(),
            };
            let _ = job.events.send(Event::Done(done));
            continue;
        }
        let result = run_job(&model, tok, &mut cache, &mut job);
        let last = match result {
            Ok(c) => Event::Done(c),
            Err(e) => {
                // A failed forward pass may have left the cache half-written.
                cache.clear();
                Event::Failed(e)
            }
        };
        let _ = job.events.send(last);
    }
}

fn run_job(model: &InferModel, tok: &Tokenizer, cache: &mut KvState, job: &mut Job) -> Result<Completion> {
    let opts = &job.request.options;
    let ctx = model.cfg.max_seq_len;
    let (ids, dropped_messages, dropped_tokens) = match &job.request.prompt {
        Prompt::Text(text) => {
            let (ids, dropped) = text_prompt(tok, text, ctx, opts.max_tokens);
            (ids, 0, dropped)
        }
        Prompt::Chat(messages) => {
            let fit = fit_to_context(tok, messages, ctx, opts.max_tokens)?;
            (fit.ids, fit.dropped_messages, 0)
        }
        Prompt::Tokens(ids) => (ids.clone(), 0, 0),
    };
    let _ = job.events.send(Event::Started { prompt_tokens: ids.len(), dropped_messages, dropped_tokens });
    let mut on_text = |piece: &str| job.events.send(Event::Text(piece.to_string())).is_ok();
    let constraint = job.constraint.as_deref_mut().map(|c| c as &mut dyn LogitsConstraint);
    let mut done = generate_ids_with(model, tok, cache, &ids, opts, constraint, &job.cancel, &mut on_text)?;
    done.usage.dropped_tokens = dropped_tokens;
    Ok(done)
}
