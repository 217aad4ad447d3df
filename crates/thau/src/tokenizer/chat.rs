//! The chat format in three spellings: token ids (what THAU's engine runs), a Jinja template
//! (GGUF `tokenizer.chat_template`, HF `tokenizer_config.json`) and a Go template (Ollama).
//! `tests/chat_format.rs` checks the Jinja spelling renders to the same ids.

use super::special::{ASSISTANT, BOS, END, SYSTEM, TOOL, TOOL_CALL, TOOL_CALL_END, USER};
use super::tool_spec::{tools_prompt, ToolSpec};
use super::Tokenizer;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    /// The special token that opens a turn of this role.
    pub fn token(self) -> u32 {
        match self {
            Role::System => SYSTEM,
            Role::User => USER,
            Role::Assistant => ASSISTANT,
            Role::Tool => TOOL,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    /// Parse "system" / "user" / "assistant" / "tool" (case-insensitive).
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "system" => Ok(Role::System),
            "user" => Ok(Role::User),
            "assistant" => Ok(Role::Assistant),
            "tool" => Ok(Role::Tool),
            _ => Err(Error::invalid("role", format!("'{s}' is not a role: use system, user, assistant or tool"))),
        }
    }
}

/// A call the assistant makes to a tool. In the token stream it is
/// `<|tool_call|>{"name": …, "arguments": {…}}<|/tool_call|>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub name: String,
    #[serde(default = "empty_object")]
    pub arguments: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

impl ToolCall {
    pub fn new(name: impl Into<String>, arguments: serde_json::Value) -> Self {
        Self { name: name.into(), arguments }
    }

    /// The JSON text between the tool-call tokens: `{"name":"…","arguments":{…}}`, keys in
    /// that order, no spaces (what the model is trained to emit).
    pub fn to_json(&self) -> String {
        let name = serde_json::Value::String(self.name.clone());
        format!("{{\"name\":{name},\"arguments\":{}}}", self.arguments)
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// Tool calls of an assistant turn, after its text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into(), tool_calls: Vec::new() }
    }
    /// An assistant turn that calls tools.
    pub fn assistant_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self { role: Role::Assistant, content: content.into(), tool_calls: calls }
    }
    /// A tool's result, sent back to the model.
    pub fn tool(content: impl Into<String>) -> Self {
        Self::new(Role::Tool, content)
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// The chat format as a Jinja template, written into exported GGUF and HF files. It renders
/// BOS itself: llama-cpp-python's chat completion and transformers' `apply_chat_template` add
/// BOS to a conversation only when the template does (checked in tests/export_llamacpp.rs).
///
/// Tools (`tools=[{"type": "function", "function": {...}}]`, or THAU's `ToolSpec`s) are listed
/// as [`with_tools`] does: `tools_prompt` appended to the first system message, or as a new
/// first system message. An assistant message's `tool_calls` (OpenAI's `{"function": {...}}`
/// or THAU's `{"name", "arguments"}`) become `<|tool_call|>{"name":…,"arguments":…}<|/tool_call|>`
/// after its text; arguments given as a JSON string are written as they are (the ids then equal
/// [`render`]'s when the string is compact, as THAU's API sends it), as an object through
/// `tojson` (whose spacing may differ). `tests/chat_format.rs` checks all of it against
/// [`render`] with Jinja2.
pub const CHAT_TEMPLATE_JINJA: &str = r#"{{- bos_token -}}
{%- set ns = namespace(tools='', first_system=-1) -%}
{%- if tools is defined and tools -%}
{%- set ns.tools = 'Herramientas / Tools:' -%}
{%- for t in tools -%}
{%- set f = t['function'] if t['function'] is defined else t -%}
{%- set p = f['parameters'] if f['parameters'] is defined and f['parameters'] else {} -%}
{%- set props = p['properties'] if p['properties'] is defined and p['properties'] else {} -%}
{%- set req = p['required'] if p['required'] is defined and p['required'] else [] -%}
{%- set a = namespace(args=[]) -%}
{%- for optional in [false, true] -%}
{%- for name, s in props|dictsort(true) -%}
{%- if (name not in req) == optional -%}
{%- if s['enum'] is defined -%}{%- set ty = s['enum']|map('tojson')|join('|') -%}
{%- elif s['type'] is defined and s['type'] is string -%}{%- set ty = s['type'] -%}
{%- else -%}{%- set ty = 'any' -%}{%- endif -%}
{%- set a.args = a.args + [name + ('?' if optional else '') + ': ' + ty] -%}
{%- endif -%}
{%- endfor -%}
{%- endfor -%}
{%- set ns.tools = ns.tools + '
- ' + f['name'] + '(' + a.args|join(', ') + ') — ' + (f['description'] if f['description'] is defined and f['description'] else '') -%}
{%- endfor -%}
{%- endif -%}
{%- for message in messages -%}
{%- if message['role'] == 'system' and ns.first_system < 0 -%}{%- set ns.first_system = loop.index0 -%}{%- endif -%}
{%- endfor -%}
{%- if ns.tools and ns.first_system < 0 -%}{{- '<|system|>' + ns.tools + '<|end|>' -}}{%- endif -%}
{%- for message in messages -%}
{%- if message['role'] not in ['system', 'user', 'assistant', 'tool'] -%}
{{- raise_exception('THAU chat roles are system, user, assistant and tool') -}}
{%- endif -%}
{%- set content = message['content'] if message['content'] is string else '' -%}
{%- if ns.tools and loop.index0 == ns.first_system -%}{%- set content = (content + '

' + ns.tools) if content else ns.tools -%}{%- endif -%}
{{- '<|' + message['role'] + '|>' + content -}}
{%- if message['tool_calls'] is defined and message['tool_calls'] -%}
{%- for call in message['tool_calls'] -%}
{%- set f = call['function'] if call['function'] is defined else call -%}
{%- set args = f['arguments'] if f['arguments'] is defined and f['arguments'] is not none else {} -%}
{{- '<|tool_call|>{"name":"' + f['name'] + '","arguments":' -}}
{{- args if args is string else args|tojson -}}
{{- '}<|/tool_call|>' -}}
{%- endfor -%}
{%- endif -%}
{{- '<|end|>' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|assistant|>' -}}{%- endif -%}"#;

/// The chat format as an Ollama (Go) template, for the `Modelfile` beside an exported GGUF:
/// tools listed in the system turn (first system message, or a new one), calls as
/// `<|tool_call|>{"name":…,"arguments":…}<|/tool_call|>` (arguments through Ollama's `json`),
/// tool results as `tool` turns.
pub const OLLAMA_TEMPLATE: &str = r#"{{- $tools := "" }}
{{- if .Tools }}{{ $tools = "Herramientas / Tools:" }}
{{- range .Tools }}{{ $f := .Function }}{{ $req := $f.Parameters.Required }}
{{- $args := "" }}
{{- range $k, $v := $f.Parameters.Properties }}{{ $isreq := false }}{{ range $req }}{{ if eq . $k }}{{ $isreq = true }}{{ end }}{{ end }}
{{- if $isreq }}{{ if $args }}{{ $args = print $args ", " }}{{ end }}{{ $args = print $args $k ": " (or $v.Type "any") }}{{ end }}
{{- end }}
{{- range $k, $v := $f.Parameters.Properties }}{{ $isreq := false }}{{ range $req }}{{ if eq . $k }}{{ $isreq = true }}{{ end }}{{ end }}
{{- if not $isreq }}{{ if $args }}{{ $args = print $args ", " }}{{ end }}{{ $args = print $args $k "?: " (or $v.Type "any") }}{{ end }}
{{- end }}
{{- $tools = print $tools "
- " $f.Name "(" $args ") — " $f.Description }}
{{- end }}{{ end }}
{{- $sys := false }}{{ range .Messages }}{{ if eq .Role "system" }}{{ $sys = true }}{{ end }}{{ end }}
{{- if and $tools (not $sys) }}<|system|>{{ $tools }}<|end|>{{ end }}
{{- $first := true }}
{{- range .Messages }}<|{{ .Role }}|>{{ .Content }}
{{- if and $tools $first (eq .Role "system") }}{{ $first = false }}{{ if .Content }}

{{ end }}{{ $tools }}{{ end }}
{{- range .ToolCalls }}<|tool_call|>{"name":"{{ .Function.Name }}","arguments":{{ json .Function.Arguments }}}<|/tool_call|>{{ end }}<|end|>
{{- end }}<|assistant|>"#;

/// Text that ends an assistant turn, for engines that stop on strings (Ollama `PARAMETER stop`).
pub const STOP_STRINGS: &[&str] = &["<|end|>", "<|eos|>"];

/// How a conversation is spelled for a tokenizer: THAU's role tokens, or for a model from a
/// foreign GGUF the format its chat template names when THAU knows it, else plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatStyle {
    /// `<|bos|><|user|>…<|end|><|assistant|>` with THAU's fixed special ids.
    Thau,
    /// `<|im_start|>user\n…<|im_end|>\n<|im_start|>assistant\n`.
    ChatMl,
    /// `<|start_header_id|>user<|end_header_id|>\n\n…<|eot_id|>` (Llama 3).
    Llama3,
    /// `User: …\nAssistant:` as plain text: the file has no chat template, or one THAU does
    /// not know (the CLI says so). One continuous text: no SentencePiece space between turns.
    Plain,
}

impl ChatStyle {
    /// The style for `tok`: THAU's for its own tokenizers; for a foreign vocabulary, ChatML or
    /// Llama 3 when the chat template uses them and the vocabulary has their special tokens.
    pub fn of(tok: &Tokenizer) -> Self {
        let Some(f) = tok.foreign() else { return Self::Thau };
        let t = f.chat_template.as_deref().unwrap_or("");
        let has = |s: &str| t.contains(s) && tok.token_id(s).is_some();
        if has("<|im_start|>") && has("<|im_end|>") {
            Self::ChatMl
        } else if has("<|start_header_id|>") && has("<|end_header_id|>") && has("<|eot_id|>") {
            Self::Llama3
        } else {
            Self::Plain
        }
    }

    fn special(tok: &Tokenizer, s: &str) -> u32 {
        tok.token_id(s).expect("ChatStyle::of checked the vocabulary has it")
    }

    /// What a conversation starts with.
    fn prefix(self, tok: &Tokenizer) -> Vec<u32> {
        match self {
            Self::Thau => vec![BOS],
            _ => tok.bos_ids(),
        }
    }

    /// One message. Message text goes through [`Tokenizer::encode`], which never produces
    /// special tokens.
    fn turn(self, tok: &Tokenizer, m: &Message) -> Vec<u32> {
        let mut ids = Vec::new();
        match self {
            Self::Thau => return render_turn(tok, m),
            Self::ChatMl => {
                ids.push(Self::special(tok, "<|im_start|>"));
                ids.extend(tok.encode(&format!("{}\n{}", m.role.as_str(), foreign_content(m))));
                ids.push(Self::special(tok, "<|im_end|>"));
                ids.extend(tok.encode("\n"));
            }
            Self::Llama3 => {
                ids.push(Self::special(tok, "<|start_header_id|>"));
                ids.extend(tok.encode(m.role.as_str()));
                ids.push(Self::special(tok, "<|end_header_id|>"));
                ids.extend(tok.encode(&format!("\n\n{}", foreign_content(m))));
                ids.push(Self::special(tok, "<|eot_id|>"));
            }
            Self::Plain => {
                let role = match m.role {
                    Role::System => "System",
                    Role::User => "User",
                    Role::Assistant => "Assistant",
                    Role::Tool => "Tool",
                };
                ids.extend(tok.encode_continued(&format!("{role}: {}\n", foreign_content(m))));
            }
        }
        ids
    }

    /// What makes the model answer as the assistant.
    fn generation_prompt(self, tok: &Tokenizer) -> Vec<u32> {
        match self {
            Self::Thau => vec![ASSISTANT],
            Self::ChatMl => {
                let mut ids = vec![Self::special(tok, "<|im_start|>")];
                ids.extend(tok.encode("assistant\n"));
                ids
            }
            Self::Llama3 => {
                let mut ids = vec![Self::special(tok, "<|start_header_id|>")];
                ids.extend(tok.encode("assistant"));
                ids.push(Self::special(tok, "<|end_header_id|>"));
                ids.extend(tok.encode("\n\n"));
                ids
            }
            Self::Plain => tok.encode_continued("Assistant:"),
        }
    }
}

/// Render `messages` to token ids: BOS, then each turn as `role-token text <|end|>`, then (when
/// `add_generation_prompt`) `<|assistant|>` so the model answers next. Foreign vocabularies:
/// see [`ChatStyle`].
pub fn render(tok: &Tokenizer, messages: &[Message], add_generation_prompt: bool) -> Vec<u32> {
    let style = ChatStyle::of(tok);
    let mut ids = style.prefix(tok);
    for m in messages {
        ids.extend(style.turn(tok, m));
    }
    if add_generation_prompt {
        ids.extend(style.generation_prompt(tok));
    }
    ids
}

/// One turn: `role-token text [<|tool_call|>json<|/tool_call|>]* <|end|>`.
pub fn render_turn(tok: &Tokenizer, m: &Message) -> Vec<u32> {
    let mut ids = vec![m.role.token()];
    ids.extend(tok.encode(&m.content));
    for call in &m.tool_calls {
        ids.push(TOOL_CALL);
        ids.extend(tok.encode(&call.to_json()));
        ids.push(TOOL_CALL_END);
    }
    ids.push(END);
    ids
}

/// A message's text for a foreign chat style, whose tool-call spelling THAU does not know:
/// its calls follow the text as THAU's JSON, one per line.
fn foreign_content(m: &Message) -> String {
    let mut text = m.content.clone();
    for call in &m.tool_calls {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&call.to_json());
    }
    text
}

/// `messages` with the tool list in the system prompt: appended to the first system message,
/// or as a new first system message. No tools: the messages unchanged. Because it is part of a
/// system message, [`fit_to_context`] never drops it.
pub fn with_tools(messages: &[Message], tools: &[ToolSpec]) -> Vec<Message> {
    let mut out = messages.to_vec();
    if tools.is_empty() {
        return out;
    }
    let block = tools_prompt(tools);
    match out.iter_mut().find(|m| m.role == Role::System) {
        // Already there (a caller that budgets the prompt adds the tools itself).
        Some(sys) if sys.content.ends_with(&block) => {}
        Some(sys) if sys.content.is_empty() => sys.content = block,
        Some(sys) => {
            sys.content.push_str("\n\n");
            sys.content.push_str(&block);
        }
        None => out.insert(0, Message::system(block)),
    }
    out
}

/// A conversation cut to fit the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatFit {
    /// The prompt ids, ending with `<|assistant|>`.
    pub ids: Vec<u32>,
    /// How many of the oldest non-system messages were left out to make room.
    pub dropped_messages: usize,
}

/// Render `messages` with a generation prompt so that at least `reserve` tokens are left for
/// the answer in a context of `ctx` tokens. System messages are always kept; the oldest other
/// messages are dropped first. Errors when even the system messages and the last message do
/// not fit.
pub fn fit_to_context(tok: &Tokenizer, messages: &[Message], ctx: usize, reserve: usize) -> Result<ChatFit> {
    if messages.is_empty() {
        return Err(Error::invalid("messages", "the conversation is empty: send at least one message"));
    }
    let budget = ctx.saturating_sub(reserve.min(ctx / 2).max(1));
    let style = ChatStyle::of(tok);
    let (prefix, gen_prompt) = (style.prefix(tok), style.generation_prompt(tok));
    let turns: Vec<Vec<u32>> = messages.iter().map(|m| style.turn(tok, m)).collect();
    let fixed: usize = prefix.len()
        + gen_prompt.len()
        + messages.iter().zip(&turns).filter(|(m, _)| m.role == Role::System).map(|(_, t)| t.len()).sum::<usize>();
    // Walk back from the newest message, keeping non-system turns while they fit.
    let mut used = fixed;
    let mut keep = vec![false; messages.len()];
    for (i, m) in messages.iter().enumerate() {
        keep[i] = m.role == Role::System;
    }
    for i in (0..messages.len()).rev() {
        if messages[i].role == Role::System {
            continue;
        }
        if used + turns[i].len() > budget {
            break;
        }
        used += turns[i].len();
        keep[i] = true;
    }
    let last = messages.len() - 1;
    if !keep[last] || used > budget {
        return Err(Error::invalid(
            "messages",
            format!(
                "the system prompt and the last message need {} tokens but the context holds {ctx} \
                 with {reserve} kept for the answer: shorten them or lower max_tokens",
                fixed + turns[last].len()
            ),
        ));
    }
    // Keep a contiguous tail: once a message is dropped, every older non-system one is too.
    let first_kept = (0..messages.len()).rev().take_while(|&i| keep[i] || messages[i].role == Role::System).last();
    let mut ids = prefix;
    let mut dropped = 0;
    for (i, m) in messages.iter().enumerate() {
        let in_tail = first_kept.is_some_and(|f| i >= f);
        if m.role == Role::System || in_tail {
            ids.extend(&turns[i]);
        } else {
            dropped += 1;
        }
    }
    ids.extend(gen_prompt);
    if dropped > 0 {
        tracing::info!(
            dropped,
            kept_tokens = ids.len(),
            ctx,
            "conversation longer than the context: oldest messages left out"
        );
    }
    Ok(ChatFit { ids, dropped_messages: dropped })
}
