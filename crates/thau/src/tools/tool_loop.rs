//! The tool loop: render the conversation with the tools, generate (tool calls constrained by
//! their grammar), read the calls, validate and run them under their timeouts, feed each result
//! back as a `tool` message, and generate again, until the model answers without calling or
//! the round limit forces a plain answer. A call that fails in any way (unreadable, unknown
//! tool, arguments refused, tool error, timeout) is reported to the model as the tool's result
//! and to the caller as an event; the loop goes on.

use crate::error::{Error, Result};
use crate::infer::{
    Completion, Engine, Event, FinishReason, GenerateOptions, LogitsConstraint, Prompt, Request, Usage,
};
use crate::tokenizer::{with_tools, Message, ToolCall, TOOL_CALL, TOOL_CALL_END};
use crate::tools::{
    parse_ids, CallConstraint, CallError, CallSplitter, Grammar, GrammarOptions, Piece, Registry, TokenTrie,
    ToolChoice, ToolOutput, ToolSpec,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Longest tool result put back into the conversation, in characters (the full result still
/// reaches the caller through [`LoopEvent::Result`]).
pub const MAX_RESULT_CHARS: usize = 4000;

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// Sampling and limits of each generation.
    pub generate: GenerateOptions,
    /// For the first generation; later ones are `Auto`, and the last forced one `None`.
    pub choice: ToolChoice,
    /// Most generations that may call tools; after them one more answers without tools.
    pub max_rounds: usize,
    /// Constrain calls by the tools' grammar (on by default; off only to measure without).
    pub constrained: bool,
    /// Caps for unconstrained lengths inside calls.
    pub grammar: GrammarOptions,
    /// With constraints on and `tool_choice` auto, decide call-or-text at each answer's first
    /// token by `<|tool_call|>`'s probability (see `CallConstraint::with_call_threshold`);
    /// for greedy decoding. `None`: the plain decoding decides.
    pub call_threshold: Option<f32>,
}

impl Default for LoopOptions {
    fn default() -> Self {
        Self {
            generate: GenerateOptions::default(),
            choice: ToolChoice::Auto,
            max_rounds: 4,
            constrained: true,
            grammar: GrammarOptions::default(),
            call_threshold: None,
        }
    }
}

/// What the loop reports while it works.
#[derive(Debug)]
pub enum LoopEvent<'a> {
    /// A generation started; older messages were left out to fit the context.
    Started { round: usize, dropped_messages: usize },
    /// Answer text as it is generated (call markup held back).
    Text(&'a str),
    /// A call is about to run.
    Call(&'a ToolCall),
    /// A call finished (or failed).
    Result { call: &'a ToolCall, result: &'a std::result::Result<ToolOutput, CallError> },
    /// A call could not even be read.
    Malformed(&'a CallError),
}

/// What the loop did.
#[derive(Debug, Clone)]
pub struct LoopOutcome {
    /// The messages to append to the conversation: each assistant turn (with its calls), the
    /// tool results, and the final answer.
    pub messages: Vec<Message>,
    /// The final answer's text.
    pub answer: String,
    /// Generations that called tools.
    pub rounds: usize,
    /// How the last generation ended.
    pub finish: FinishReason,
    /// Token counts summed over every generation (times too).
    pub usage: Usage,
}

/// Masks `<|tool_call|>` for conversations with no tools (or `tool_choice: none` without a
/// grammar): the model cannot call what does not exist.
#[derive(Debug, Default)]
pub struct NoCalls;

impl LogitsConstraint for NoCalls {
    fn mask(&mut self, logits: &mut [f32]) {
        for id in [TOOL_CALL, TOOL_CALL_END] {
            if let Some(v) = logits.get_mut(id as usize) {
                *v = f32::NEG_INFINITY;
            }
        }
    }
    fn accept(&mut self, _token: u32) {}
}

/// The text a result (or failure) becomes in the `tool` message the model reads.
pub fn result_message(result: &std::result::Result<ToolOutput, CallError>) -> String {
    let text = match result {
        Ok(out) => out.text.clone(),
        Err(e) => format!("error: {e}"),
    };
    if text.chars().count() > MAX_RESULT_CHARS {
        format!("{}… [cut at {MAX_RESULT_CHARS} characters]", text.chars().take(MAX_RESULT_CHARS).collect::<String>())
    } else {
        text
    }
}

/// Tools can be offered only to a model with THAU's tool-call tokens: a foreign vocabulary
/// (an imported GGUF's) has none, and its ids mean other things.
pub fn require_call_tokens(engine: &Engine) -> Result<()> {
    if engine.tokenizer().foreign().is_some() {
        return Err(Error::invalid(
            "tools",
            format!(
                "model '{}' has its own vocabulary, without THAU's tool-call tokens: chat with it without tools",
                engine.info().name
            ),
        ));
    }
    Ok(())
}

/// The constraint that makes `engine`'s calls parse as calls of `specs`, chosen by `choice`.
pub fn call_constraint(
    engine: &Engine,
    trie: &Arc<TokenTrie>,
    specs: &[ToolSpec],
    choice: ToolChoice,
    grammar: &GrammarOptions,
) -> Result<CallConstraint> {
    require_call_tokens(engine)?;
    CallConstraint::new(Arc::new(Grammar::new(specs, grammar.clone())?), trie.clone(), choice)
}

/// Run the tool loop on `history` (which ends with the user's message). `trie` is the
/// engine tokenizer's [`TokenTrie`] (build it once and keep it; needed when the registry has
/// tools). `cancel`, when set, stops the generation in progress and the loop. With an empty
/// registry it is one plain generation, with calls masked: the one place that drains the
/// engine's events for a chat turn.
///
/// Offering tools needs THAU's call tokens (see [`require_call_tokens`]).
pub fn run_tool_loop(
    engine: &Engine,
    registry: &Registry,
    trie: Option<&Arc<TokenTrie>>,
    history: &[Message],
    opts: &LoopOptions,
    cancel: Option<&AtomicBool>,
    on_event: &mut dyn FnMut(LoopEvent<'_>),
) -> Result<LoopOutcome> {
    let specs = registry.specs();
    let foreign = engine.tokenizer().foreign().is_some();
    if !specs.is_empty() {
        require_call_tokens(engine)?;
    }
    let grammar = if opts.constrained && !specs.is_empty() {
        Some(Arc::new(Grammar::new(specs, opts.grammar.clone())?))
    } else {
        None
    };
    let trie = match (&grammar, trie) {
        (Some(_), None) => {
            return Err(Error::invalid("tools", "constrained tool calls need the vocabulary's TokenTrie"));
        }
        (_, t) => t,
    };
    if let ToolChoice::Named(n) = &opts.choice {
        if registry.get(n).is_none() {
            return Err(Error::invalid(
                "tool_choice",
                format!("no tool is named '{n}'; the tools are {}", registry.names().join(", ")),
            ));
        }
    }
    let mut added: Vec<Message> = Vec::new();
    let mut usage = Usage::default();
    for round in 0..=opts.max_rounds {
        let choice = if specs.is_empty() || round == opts.max_rounds {
            ToolChoice::None
        } else if round == 0 {
            opts.choice.clone()
        } else {
            ToolChoice::Auto
        };
        let mut convo: Vec<Message> = history.to_vec();
        convo.extend(added.iter().cloned());
        let convo = if specs.is_empty() { convo } else { with_tools(&convo, specs) };
        let request = Request { prompt: Prompt::Chat(convo), options: opts.generate.clone() };
        let constraint: Option<Box<dyn LogitsConstraint>> = match (&grammar, trie, &choice) {
            (Some(g), Some(trie), _) => Some(Box::new(
                CallConstraint::new(g.clone(), trie.clone(), choice.clone())?.with_call_threshold(opts.call_threshold),
            )),
            // A foreign vocabulary has no call tokens to mask: its ids mean other things.
            (None, _, ToolChoice::None) if !foreign => Some(Box::new(NoCalls)),
            _ => None,
        };
        let stream = match constraint {
            Some(c) => engine.submit_constrained(request, c)?,
            None => engine.submit(request)?,
        };
        let mut splitter = CallSplitter::default();
        let show = |pieces: Vec<Piece>, on_event: &mut dyn FnMut(LoopEvent<'_>)| {
            for p in pieces {
                if let Piece::Text(t) = p {
                    on_event(LoopEvent::Text(&t));
                }
            }
        };
        let done: Completion = loop {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                stream.cancel();
            }
            match stream.next_event() {
                Some(Event::Started { dropped_messages, .. }) => {
                    on_event(LoopEvent::Started { round, dropped_messages })
                }
                // Without tools the text is shown as written: a foreign vocabulary's ids (and
                // its text) may look like THAU's call markup and mean nothing of the kind.
                Some(Event::Text(t)) if specs.is_empty() => on_event(LoopEvent::Text(&t)),
                Some(Event::Text(t)) => show(splitter.push(&t), on_event),
                Some(Event::Done(c)) => break c,
                Some(Event::Failed(e)) => return Err(e),
                None => return Err(Error::invalid("engine", "the engine stopped before finishing the answer")),
            }
        };
        add_usage(&mut usage, &done.usage);
        if specs.is_empty() {
            added.push(Message::assistant(done.text.clone()));
            return Ok(LoopOutcome { messages: added, answer: done.text, rounds: round, finish: done.finish, usage });
        }
        show(splitter.finish(), on_event);
        let parsed = parse_ids(engine.tokenizer(), &done.tokens);
        if parsed.calls.is_empty() || done.finish == FinishReason::Cancelled {
            added.push(Message::assistant(parsed.content.clone()));
            return Ok(LoopOutcome {
                messages: added,
                answer: parsed.content,
                rounds: round,
                finish: done.finish,
                usage,
            });
        }
        added.push(Message::assistant_calls(parsed.content.clone(), parsed.valid_calls()));
        for call in &parsed.calls {
            let result = match call {
                Err(e) => {
                    on_event(LoopEvent::Malformed(e));
                    Err(e.clone())
                }
                Ok(call) => {
                    on_event(LoopEvent::Call(call));
                    let result = registry.call(&call.name, &call.arguments);
                    on_event(LoopEvent::Result { call, result: &result });
                    result
                }
            };
            added.push(Message::tool(result_message(&result)));
        }
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Ok(LoopOutcome {
                messages: added,
                answer: String::new(),
                rounds: round + 1,
                finish: FinishReason::Cancelled,
                usage,
            });
        }
    }
    // Unreachable: the last round has `ToolChoice::None`, so it returns above.
    Err(Error::invalid("tool loop", "the round limit passed without a final answer"))
}

fn add_usage(total: &mut Usage, u: &Usage) {
    total.prompt_tokens += u.prompt_tokens;
    total.cached_tokens += u.cached_tokens;
    total.dropped_tokens += u.dropped_tokens;
    total.completion_tokens += u.completion_tokens;
    total.prefill_secs += u.prefill_secs;
    total.decode_secs += u.decode_secs;
}
