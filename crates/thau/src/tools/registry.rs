//! The [`Tool`] trait and the [`Registry`] that validates calls against each tool's schema
//! and runs them on their own thread under a deadline. Whatever goes wrong (an unknown name,
//! arguments the schema refuses, a tool error, a panic, a timeout) comes back as a
//! [`CallError`] whose message is meant for the model and the user alike: the tool loop feeds
//! it back and goes on.

use super::schema;
use super::spec::ToolSpec;
use crate::error::{Error, Result};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// What a tool returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolOutput {
    /// The result as text, for the model and the user.
    pub text: String,
    /// The same result as structured data, when there is some.
    pub data: Option<Value>,
    /// Files the tool wrote (generated images).
    pub files: Vec<PathBuf>,
}

impl ToolOutput {
    /// A plain-text result.
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), ..Self::default() }
    }
}

/// What a running tool may consult: its deadline and whether the caller gave up on it.
#[derive(Debug, Clone)]
pub struct ToolContext {
    pub deadline: Instant,
    cancel: Arc<AtomicBool>,
}

impl ToolContext {
    /// A context with `timeout` from now.
    pub fn new(timeout: Duration) -> Self {
        Self { deadline: Instant::now() + timeout, cancel: Arc::new(AtomicBool::new(false)) }
    }

    /// Time left before the deadline (zero once past it).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// True once the caller stopped waiting (timeout): long tools should check and stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }
}

/// A function the model can call.
pub trait Tool: Send + Sync {
    /// Name, description and JSON-schema parameters.
    fn spec(&self) -> ToolSpec;
    /// Run with arguments that already passed the schema. Runs on its own thread; the
    /// registry stops waiting at the deadline (`ctx`), so a tool that can block should honour
    /// [`ToolContext::remaining`].
    fn call(&self, args: &Value, ctx: &ToolContext) -> Result<ToolOutput>;
    /// Longest this tool may run; `None` uses the registry's default.
    fn timeout(&self) -> Option<Duration> {
        None
    }
}

/// Why a call produced no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The call could not be read (bad JSON, no closing token): the raw text and why.
    Malformed {
        raw: String,
        reason: String,
    },
    UnknownTool {
        name: String,
        known: Vec<String>,
    },
    BadArguments {
        name: String,
        problems: Vec<String>,
    },
    Failed {
        name: String,
        message: String,
    },
    TimedOut {
        name: String,
        after: Duration,
    },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Malformed { reason, .. } => write!(f, "the tool call could not be read: {reason}"),
            CallError::UnknownTool { name, known } => {
                write!(f, "there is no tool named '{name}'; the tools are: {}", known.join(", "))
            }
            CallError::BadArguments { name, problems } => {
                write!(f, "wrong arguments for {name}: {}", problems.join("; "))
            }
            CallError::Failed { name, message } => write!(f, "{name} failed: {message}"),
            CallError::TimedOut { name, after } => {
                write!(f, "{name} did not finish within {:.1} s and was abandoned", after.as_secs_f64())
            }
        }
    }
}

/// Tools by name, in registration order.
pub struct Registry {
    tools: Vec<Arc<dyn Tool>>,
    specs: Vec<ToolSpec>,
    default_timeout: Duration,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("tools", &self.names())
            .field("default_timeout", &self.default_timeout)
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `name` is usable as a tool name: 1–64 of `[A-Za-z0-9_-]`, not starting with a digit
/// or `-` (what OpenAI accepts, minus the dot).
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok_char) {
        return Err(format!("'{name}' is not a valid tool name: use 1-64 letters, digits, '_' or '-'"));
    }
    if name.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        return Err(format!("'{name}' is not a valid tool name: start it with a letter or '_'"));
    }
    Ok(())
}

impl Registry {
    /// An empty registry whose tools get 30 s unless they say otherwise.
    pub fn new() -> Self {
        Self { tools: Vec::new(), specs: Vec::new(), default_timeout: Duration::from_secs(30) }
    }

    /// The built-in tools in the order of [`builtin_specs`](super::builtin_specs), the order
    /// every training example lists them (`thau data tools`), so the system prompt reads as in
    /// training: `image`, the memory tools on `memory` when given, calculator, current_datetime.
    pub fn builtins(image: super::GenerateImage, memory: Option<Arc<super::MemoryAccess>>) -> Result<Self> {
        let mut r = Self::new();
        r.register(Arc::new(image))?;
        for t in memory.map(|m| m.tools()).unwrap_or_default() {
            r.register(t)?;
        }
        r.register(Arc::new(super::Calculator))?;
        r.register(Arc::new(super::CurrentDatetime))?;
        Ok(r)
    }

    /// Set the timeout of tools that do not declare their own.
    pub fn with_default_timeout(mut self, t: Duration) -> Self {
        self.default_timeout = t;
        self
    }

    /// Add a tool. Refuses a bad or duplicate name and a schema THAU cannot check.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Result<()> {
        let spec = tool.spec();
        check_name(&spec.name).map_err(|e| Error::invalid("tool name", e))?;
        if self.get(&spec.name).is_some() {
            return Err(Error::invalid(
                "tool name",
                format!("a tool named '{}' is already registered: give the new one another name", spec.name),
            ));
        }
        schema::check_parameters(&spec.parameters)
            .map_err(|e| Error::invalid(format!("parameters of tool '{}'", spec.name), e))?;
        self.specs.push(spec);
        self.tools.push(tool);
        Ok(())
    }

    /// Remove the tool `name`; true when there was one.
    pub fn unregister(&mut self, name: &str) -> bool {
        match self.specs.iter().position(|s| s.name == name) {
            Some(i) => {
                self.specs.remove(i);
                self.tools.remove(i);
                true
            }
            None => false,
        }
    }

    /// The specs of every tool, in registration order (what the prompt lists).
    pub fn specs(&self) -> &[ToolSpec] {
        &self.specs
    }

    pub fn names(&self) -> Vec<String> {
        self.specs.iter().map(|s| s.name.clone()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.specs.iter().position(|s| s.name == name).map(|i| &self.tools[i])
    }

    /// Check a call's name and arguments against the registry.
    pub fn validate(&self, name: &str, args: &Value) -> std::result::Result<&Arc<dyn Tool>, CallError> {
        let Some(i) = self.specs.iter().position(|s| s.name == name) else {
            return Err(CallError::UnknownTool { name: name.to_string(), known: self.names() });
        };
        let problems: Vec<String> =
            schema::validate(args, &self.specs[i].parameters, "arguments").iter().map(|e| e.to_string()).collect();
        if !problems.is_empty() {
            return Err(CallError::BadArguments { name: name.to_string(), problems });
        }
        Ok(&self.tools[i])
    }

    /// Validate, then run the tool on its own thread; give up at its timeout.
    pub fn call(&self, name: &str, args: &Value) -> std::result::Result<ToolOutput, CallError> {
        let tool = self.validate(name, args)?.clone();
        let timeout = tool.timeout().unwrap_or(self.default_timeout);
        let ctx = ToolContext::new(timeout);
        let cancel = ctx.cancel.clone();
        let (tx, rx) = mpsc::channel();
        let args = args.clone();
        let spawned = std::thread::Builder::new().name(format!("thau-tool-{name}")).spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tool.call(&args, &ctx)));
            let _ = tx.send(r);
        });
        if let Err(e) = spawned {
            return Err(CallError::Failed { name: name.to_string(), message: format!("cannot start a thread: {e}") });
        }
        let t0 = Instant::now();
        match rx.recv_timeout(timeout) {
            Ok(Ok(Ok(out))) => {
                tracing::debug!(tool = name, secs = t0.elapsed().as_secs_f64(), "tool call finished");
                Ok(out)
            }
            Ok(Ok(Err(e))) => Err(CallError::Failed { name: name.to_string(), message: e.to_string() }),
            Ok(Err(panic)) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(tool = name, panic = %what, "a tool panicked");
                Err(CallError::Failed { name: name.to_string(), message: format!("the tool crashed ({what})") })
            }
            Err(_) => {
                cancel.store(true, Ordering::Relaxed);
                tracing::warn!(tool = name, secs = timeout.as_secs_f64(), "tool call timed out");
                Err(CallError::TimedOut { name: name.to_string(), after: timeout })
            }
        }
    }
}
