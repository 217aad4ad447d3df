//! `thau eval tools`: how well a model decides to call tools and fills their arguments, on
//! conversations it has not seen (the held-out split of [`crate::tool_dataset`]).
//!
//! For each example the model writes, greedily, the assistant turn that answers the last user
//! message; the turn is split into text and `<|tool_call|> … <|/tool_call|>` spans, each span
//! parsed as `{"name", "arguments"}` and checked against the offered tool's JSON schema. The
//! report counts
//!
//! - detection (call vs no call): precision, recall, accuracy;
//! - which tool: accuracy of the first call's name where a call was expected, and the share of
//!   all examples whose decision (no tool, or which tool) is right;
//! - arguments: whole-object exact match, and exact match per `tool.key`;
//! - schema validity: emitted calls that parse, name an offered tool and fit its schema;
//! - memory-grounded answers (examples with a [`Grounding`] key): the answer contains the
//!   injected value that answers the question, and none of the unrelated injected memories'.
//!
//! How a turn is generated is the caller's choice, so the same scoring serves both plain greedy
//! decoding and grammar-constrained decoding ([`TurnDecoder`] does either).

use crate::error::{Error, Result};
use crate::infer::{generate_ids_with, GenerateOptions, InferModel, KvState, LogitsConstraint, SamplingOptions};
use crate::tokenizer::{fit_to_context, Message, Tokenizer, ToolCall, END, EOS, TOOL_CALL, TOOL_CALL_END};
use crate::tools::{spec::ToolSpec, CallConstraint, Grammar, GrammarOptions, TokenTrie, ToolChoice};
use crate::train::sft::{Grounding, GroundingKind, SftExample};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Tool-call detection as a binary decision: call or no call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Detection {
    pub true_positive: usize,
    pub false_positive: usize,
    pub false_negative: usize,
    pub true_negative: usize,
    pub precision: f64,
    pub recall: f64,
    pub accuracy: f64,
}

/// Exact matches out of a total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rate {
    pub total: usize,
    pub exact: usize,
    pub rate: f64,
}

impl Rate {
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.exact += ok as usize;
    }
    fn finish(&mut self) {
        self.rate = ratio(self.exact, self.total);
    }
}

/// Results for the requests that expect one tool.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PerTool {
    pub examples: usize,
    /// The model called some tool.
    pub called: usize,
    /// The model's first call names this tool.
    pub right_tool: usize,
    /// Right tool and exactly the expected arguments.
    pub exact_arguments: usize,
}

/// Emitted calls that parse and validate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Validity {
    /// `<|tool_call|>` spans the model wrote.
    pub calls: usize,
    /// Spans that are a JSON object with a string `name` and an object `arguments`.
    pub parsed: usize,
    /// Parsed calls naming an offered tool whose arguments fit its schema.
    pub valid: usize,
    /// Spans the answer's token limit ended before their `<|/tool_call|>` (counted in `calls`,
    /// and invalid unless what was written already parses).
    pub cut: usize,
    pub parse_rate: f64,
    /// `valid / calls`.
    pub valid_rate: f64,
    /// `valid / (calls - cut)`: validity of the calls the model finished.
    pub complete_valid_rate: f64,
}

/// One mistake, for reading what went wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    pub request: String,
    pub expected: Option<Value>,
    pub got: String,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ToolEvalReport {
    pub examples: usize,
    pub detection: Detection,
    /// First call's name right, over examples that expect a call.
    pub tool_accuracy: Rate,
    /// No tool / which tool right, over all examples.
    pub decision_accuracy: Rate,
    /// Right tool with exactly the expected arguments, over examples that expect a call.
    pub arguments_exact: Rate,
    /// Per `tool.key`: the value is exactly the expected one (absent keys count as wrong),
    /// over examples that expect the key and where the model called the right tool.
    pub argument_keys: BTreeMap<String, Rate>,
    pub schema: Validity,
    pub per_tool: BTreeMap<String, PerTool>,
    /// Up to [`MAX_MISSES`] wrong answers.
    pub misses: Vec<Miss>,
    /// Every detection error: a call where none was expected, or text where a call was.
    pub detection_errors: Vec<Miss>,
    /// Memory-grounded answers (absent when no example has a grounding key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grounded: Option<GroundedReport>,
}

/// How answers use the memory block in their prompt ([`crate::tool_dataset::grounded`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroundedReport {
    pub examples: usize,
    /// Answers containing the injected value that answers the question (`exact`: how many),
    /// over the examples where the block holds it.
    pub with_value: Rate,
    /// Answers containing a value of an unrelated injected memory (`exact`: how many), over the
    /// examples that inject unrelated memories.
    pub with_unrelated: Rate,
    /// Right answers per kind: for `answer` and `episodes` the value and no unrelated one; for
    /// `unrelated`, saying it does not know and using no unrelated value.
    pub per_kind: BTreeMap<String, Rate>,
    /// Up to [`MAX_MISSES`] wrong answers.
    pub misses: Vec<Miss>,
}

/// Whether an answer says it does not know ("No lo sé", "I don't know", "no me lo has dicho").
fn says_unknown(text: &str) -> bool {
    let t = crate::memory::fold(text);
    ["no lo se", "don't know", "do not know", "no me lo has", "you haven't told", "you never told"]
        .iter()
        .any(|m| t.contains(m))
}

impl GroundedReport {
    /// Score one answer (`text`: what the model wrote, calls left out) against its key.
    pub fn add(&mut self, request: &str, key: &Grounding, text: &str) {
        use crate::tool_dataset::grounded::contains_value;
        self.examples += 1;
        let found = key.value.as_deref().map(|v| contains_value(text, v));
        if let Some(f) = found {
            self.with_value.add(f);
        }
        let leaked = key.unrelated.iter().any(|v| contains_value(text, v));
        if !key.unrelated.is_empty() {
            self.with_unrelated.add(leaked);
        }
        let right = match key.kind {
            GroundingKind::Unrelated => says_unknown(text) && !leaked,
            _ => found.unwrap_or(false) && !leaked,
        };
        self.per_kind.entry(key.kind.as_str().to_string()).or_default().add(right);
        if !right && self.misses.len() < MAX_MISSES {
            let expected = serde_json::json!({ "value": key.value, "unrelated": key.unrelated });
            self.misses.push(Miss { request: request.to_string(), expected: Some(expected), got: text.to_string() });
        }
    }

    fn finish(&mut self) {
        self.with_value.finish();
        self.with_unrelated.finish();
        for r in self.per_kind.values_mut() {
            r.finish();
        }
    }
}

/// How many wrong answers the report keeps.
pub const MAX_MISSES: usize = 20;

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// An assistant turn as generated, split into its text and its call spans.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedTurn {
    pub text: String,
    /// The text of each `<|tool_call|> … <|/tool_call|>` span (an unclosed last span counts).
    pub call_spans: Vec<String>,
    /// The last span was never closed: the ids ran out inside it.
    pub last_span_open: bool,
}

/// Split generated ids at the tool-call tokens; the turn ends at `<|end|>` or `<|eos|>`.
pub fn split_turn(tok: &Tokenizer, ids: &[u32]) -> GeneratedTurn {
    let mut text = Vec::new();
    let mut spans = Vec::new();
    let mut current: Option<Vec<u32>> = None;
    for &id in ids.iter().take_while(|&&id| id != END && id != EOS) {
        match (id, current.as_mut()) {
            (TOOL_CALL, _) => {
                if let Some(open) = current.take() {
                    spans.push(open);
                }
                current = Some(Vec::new());
            }
            (TOOL_CALL_END, Some(_)) => spans.push(current.take().unwrap_or_default()),
            (_, Some(open)) => open.push(id),
            (_, None) => text.push(id),
        }
    }
    let last_span_open = current.is_some();
    spans.extend(current);
    GeneratedTurn { text: tok.decode(&text), call_spans: spans.iter().map(|s| tok.decode(s)).collect(), last_span_open }
}

/// Parse a call span: a JSON object with a string `name` and an object `arguments`
/// (missing `arguments` means none).
pub fn parse_call(span: &str) -> Option<ToolCall> {
    let v: Value = serde_json::from_str(span.trim()).ok()?;
    let name = v.get("name")?.as_str()?.to_string();
    let arguments = match v.get("arguments") {
        None => Value::Object(Default::default()),
        Some(a @ Value::Object(_)) => a.clone(),
        Some(_) => return None,
    };
    Some(ToolCall { name, arguments })
}

/// Why `call` does not fit the tools offered (`None` when it does).
pub fn check_call(call: &ToolCall, tools: &[ToolSpec]) -> Option<String> {
    let Some(spec) = tools.iter().find(|t| t.name == call.name) else {
        return Some(format!("'{}' is not an offered tool", call.name));
    };
    schema_error(&call.arguments, &spec.parameters, "arguments")
}

/// The first way `v` breaks `schema` (the keywords the built-in tools use: type, properties,
/// required, additionalProperties false, enum, minimum, maximum, multipleOf).
fn schema_error(v: &Value, schema: &Value, path: &str) -> Option<String> {
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            _ => true,
        };
        if !ok {
            return Some(format!("{path}: expected {t}, got {v}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            return Some(format!("{path}: {v} is not one of {}", Value::Array(options.clone())));
        }
    }
    if let Some(x) = v.as_f64() {
        let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
        if bound("minimum").is_some_and(|m| x < m) || bound("maximum").is_some_and(|m| x > m) {
            return Some(format!("{path}: {x} is out of range"));
        }
        if bound("multipleOf").is_some_and(|m| m > 0.0 && (x / m).fract() != 0.0) {
            return Some(format!("{path}: {x} is not a multiple of {}", schema["multipleOf"]));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for req in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if let Some(k) = req.as_str().filter(|k| !obj.contains_key(*k)) {
                return Some(format!("{path}: missing required '{k}'"));
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(sub) => {
                    if let Some(e) = schema_error(val, sub, &format!("{path}.{k}")) {
                        return Some(e);
                    }
                }
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Some(format!("{path}: unknown argument '{k}'"))
                }
                None => {}
            }
        }
    }
    None
}

/// The prompt for an example's target turn (the answer to its last user message), with the
/// example's tools in the system prompt, fitted to `ctx` leaving `reserve` tokens.
pub fn target_prompt(tok: &Tokenizer, ex: &SftExample, ctx: usize, reserve: usize) -> Result<(Vec<u32>, usize)> {
    let target = crate::tool_dataset::target_turn(ex).ok_or_else(|| {
        Error::invalid("tool evaluation example", "it has no assistant answer after its last user message")
    })?;
    let messages: Vec<Message> = crate::tokenizer::with_tools(&ex.messages[..target], &ex.tools);
    let fit = fit_to_context(tok, &messages, ctx, reserve)?;
    Ok((fit.ids, target))
}

/// Score `examples`: `generate(prompt_ids, example)` returns the ids of the model's turn (up to
/// its end token, which may be left out). `on_progress(done, total)` after each example.
pub fn evaluate_tools(
    tok: &Tokenizer,
    examples: &[SftExample],
    ctx: usize,
    reserve: usize,
    mut generate: impl FnMut(&[u32], &SftExample) -> Result<Vec<u32>>,
    mut on_progress: impl FnMut(usize, usize),
) -> Result<ToolEvalReport> {
    if examples.is_empty() {
        return Err(Error::invalid("tool evaluation set", "it has no examples"));
    }
    let mut rep = ToolEvalReport { examples: examples.len(), ..ToolEvalReport::default() };
    for (i, ex) in examples.iter().enumerate() {
        let (prompt, target) = target_prompt(tok, ex, ctx, reserve)?;
        let ids = generate(&prompt, ex)?;
        let turn = split_turn(tok, &ids);
        let expected = ex.messages[target].tool_calls.first();
        // Schema validity of everything emitted.
        let mut calls = Vec::new();
        rep.schema.cut += turn.last_span_open as usize;
        for span in &turn.call_spans {
            rep.schema.calls += 1;
            if let Some(c) = parse_call(span) {
                rep.schema.parsed += 1;
                if check_call(&c, &ex.tools).is_none() {
                    rep.schema.valid += 1;
                }
                calls.push(c);
            }
        }
        let called = !turn.call_spans.is_empty();
        let got = calls.first();
        match (expected.is_some(), called) {
            (true, true) => rep.detection.true_positive += 1,
            (false, true) => rep.detection.false_positive += 1,
            (true, false) => rep.detection.false_negative += 1,
            (false, false) => rep.detection.true_negative += 1,
        }
        let right_decision = match (expected, got) {
            (None, _) => !called,
            (Some(e), Some(g)) => e.name == g.name,
            (Some(_), None) => false,
        };
        rep.decision_accuracy.add(right_decision);
        if let Some(e) = expected {
            let right_tool = got.is_some_and(|g| g.name == e.name);
            let exact = right_tool && got.is_some_and(|g| g.arguments == e.arguments);
            rep.tool_accuracy.add(right_tool);
            rep.arguments_exact.add(exact);
            let t = rep.per_tool.entry(e.name.clone()).or_default();
            t.examples += 1;
            t.called += called as usize;
            t.right_tool += right_tool as usize;
            t.exact_arguments += exact as usize;
            if let (true, Some(g), Some(want)) = (right_tool, got, e.arguments.as_object()) {
                for (k, v) in want {
                    rep.argument_keys.entry(format!("{}.{k}", e.name)).or_default().add(g.arguments.get(k) == Some(v));
                }
            }
        } else {
            let t = rep.per_tool.entry("none".into()).or_default();
            t.examples += 1;
            t.called += called as usize;
            t.right_tool += (!called) as usize;
            t.exact_arguments += (!called) as usize;
        }
        if let Some(key) = &ex.grounding {
            let g = rep.grounded.get_or_insert_with(GroundedReport::default);
            g.add(&ex.messages[target - 1].content, key, turn.text.trim());
        }
        let all_right = right_decision && expected.is_none_or(|e| got.is_some_and(|g| g.arguments == e.arguments));
        let detected_wrong = called != expected.is_some();
        if (!all_right && rep.misses.len() < MAX_MISSES) || detected_wrong {
            let got = match (&turn.call_spans[..], turn.text.trim()) {
                ([], text) => format!("text: {text}"),
                (spans, _) => format!("calls: {}", spans.join(" | ")),
            };
            let miss = Miss {
                request: ex.messages[target - 1].content.clone(),
                expected: expected.map(|e| serde_json::json!({"name": e.name, "arguments": e.arguments})),
                got,
            };
            if detected_wrong {
                rep.detection_errors.push(miss.clone());
            }
            if !all_right && rep.misses.len() < MAX_MISSES {
                rep.misses.push(miss);
            }
        }
        on_progress(i + 1, examples.len());
    }
    let d = &mut rep.detection;
    d.precision = ratio(d.true_positive, d.true_positive + d.false_positive);
    d.recall = ratio(d.true_positive, d.true_positive + d.false_negative);
    d.accuracy = ratio(d.true_positive + d.true_negative, examples.len());
    rep.tool_accuracy.finish();
    rep.decision_accuracy.finish();
    rep.arguments_exact.finish();
    for r in rep.argument_keys.values_mut() {
        r.finish();
    }
    rep.schema.parse_rate = ratio(rep.schema.parsed, rep.schema.calls);
    rep.schema.valid_rate = ratio(rep.schema.valid, rep.schema.calls);
    rep.schema.complete_valid_rate = ratio(rep.schema.valid, rep.schema.calls - rep.schema.cut);
    if let Some(g) = rep.grounded.as_mut() {
        g.finish();
    }
    Ok(rep)
}

/// Writes the assistant turn of an evaluation prompt greedily, with the calls free or
/// grammar-constrained ([`CallConstraint`], one grammar per distinct set of offered tools).
pub struct TurnDecoder<'a> {
    model: &'a InferModel,
    tok: &'a Tokenizer,
    opts: GenerateOptions,
    constrained: Option<Constrained>,
}

struct Constrained {
    trie: Arc<TokenTrie>,
    options: GrammarOptions,
    choice: ToolChoice,
    call_threshold: Option<f32>,
    /// Compiled grammars by the offered tools' names.
    grammars: HashMap<Vec<String>, Arc<Grammar>>,
}

impl<'a> TurnDecoder<'a> {
    /// Plain greedy decoding of at most `max_tokens` tokens.
    pub fn free(model: &'a InferModel, tok: &'a Tokenizer, max_tokens: usize) -> Self {
        let opts = GenerateOptions { max_tokens, sampling: SamplingOptions::greedy(), ..Default::default() };
        Self { model, tok, opts, constrained: None }
    }

    /// Greedy decoding whose calls follow the offered tools' grammar, with `choice` deciding
    /// whether a call must (or may not) come.
    pub fn constrained(
        model: &'a InferModel,
        tok: &'a Tokenizer,
        max_tokens: usize,
        options: GrammarOptions,
        choice: ToolChoice,
    ) -> Self {
        let trie = Arc::new(TokenTrie::new(tok));
        let constrained = Some(Constrained { trie, options, choice, call_threshold: None, grammars: HashMap::new() });
        Self { constrained, ..Self::free(model, tok, max_tokens) }
    }

    /// Decide call-or-text at the turn's first token by `<|tool_call|>`'s probability
    /// ([`CallConstraint::with_call_threshold`]); only for a constrained decoder.
    pub fn with_call_threshold(mut self, p: Option<f32>) -> Self {
        if let Some(c) = &mut self.constrained {
            c.call_threshold = p;
        }
        self
    }

    /// The ids of the turn that follows `prompt` (ending with `<|assistant|>`) when `tools` are
    /// offered. A constrained decoder with no tools offered masks calls out altogether.
    pub fn turn(&mut self, prompt: &[u32], tools: &[ToolSpec]) -> Result<Vec<u32>> {
        let mut constraint: Option<Box<dyn LogitsConstraint>> = match &mut self.constrained {
            None => None,
            Some(_) if tools.is_empty() => Some(Box::new(crate::tools::NoCalls)),
            Some(c) => {
                let key: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
                let grammar = match c.grammars.get(&key) {
                    Some(g) => g.clone(),
                    None => {
                        let g = Arc::new(Grammar::new(tools, c.options.clone())?);
                        c.grammars.insert(key, g.clone());
                        g
                    }
                };
                let constraint = CallConstraint::new(grammar, c.trie.clone(), c.choice.clone())?;
                Some(Box::new(constraint.with_call_threshold(c.call_threshold)))
            }
        };
        let never = AtomicBool::new(false);
        let mut cache = KvState::default();
        let done = generate_ids_with(
            self.model,
            self.tok,
            &mut cache,
            prompt,
            &self.opts,
            constraint.as_deref_mut().map(|c| c as &mut dyn LogitsConstraint),
            &never,
            &mut |_| true,
        )?;
        Ok(done.tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::Message;
    use crate::tools::builtin_specs;
    use serde_json::json;

    fn tok() -> Tokenizer {
        let text = "Genera una imagen de un perro astronauta. {\"name\":\"calculator\",\"arguments\":{}} Hola";
        Tokenizer::train(std::iter::repeat_n(text.to_string(), 20), 300).unwrap()
    }

    fn example(request: &str, call: Option<ToolCall>) -> SftExample {
        let answer = match call {
            Some(c) => Message::assistant_calls("", vec![c]),
            None => Message::assistant("¡Hola!"),
        };
        SftExample::new(builtin_specs(), vec![Message::user(request), answer])
    }

    /// The ids a model would emit for `text` then `calls` (each as a tool-call span).
    fn emit(tok: &Tokenizer, text: &str, spans: &[&str]) -> Vec<u32> {
        let mut ids = tok.encode(text);
        for s in spans {
            ids.push(TOOL_CALL);
            ids.extend(tok.encode(s));
            ids.push(TOOL_CALL_END);
        }
        ids.push(END);
        ids
    }

    #[test]
    fn grounded_answers_are_scored_on_the_value_and_the_unrelated_ones() {
        let t = tok();
        let grounded = |kind, value: Option<&str>, unrelated: &[&str]| {
            let mut ex = example("¿Cómo se llama mi perro?", None);
            ex.messages.insert(0, Message::system("Recuerdos relevantes / Relevant memories:\n- [2026-12-06] x"));
            ex.grounding = Some(Grounding {
                kind,
                value: value.map(String::from),
                unrelated: unrelated.iter().map(|s| s.to_string()).collect(),
            });
            ex
        };
        let examples = vec![
            grounded(GroundingKind::Answer, Some("Rocky"), &["Luna"]),
            grounded(GroundingKind::Answer, Some("Rocky"), &[]),
            grounded(GroundingKind::Unrelated, None, &["Luna", "Lima"]),
            grounded(GroundingKind::Episodes, Some("Roma"), &[]),
            example("Hola", None),
        ];
        // The answers a model gave, in order: right; the unrelated value instead; an unrelated
        // value where it should not know; right; no key.
        let answers = ["Tu perro se llama rocky.", "Se llama Luna.", "Vives en Lima.", "Hablamos de Roma.", "Hola"];
        let mut i = 0;
        let r = evaluate_tools(
            &t,
            &examples,
            4096,
            32,
            |_, _| {
                i += 1;
                Ok(emit(&t, answers[i - 1], &[]))
            },
            |_, _| {},
        )
        .unwrap();
        let g = r.grounded.unwrap();
        assert_eq!(g.examples, 4);
        assert_eq!((g.with_value.exact, g.with_value.total), (2, 3));
        assert_eq!((g.with_unrelated.exact, g.with_unrelated.total), (1, 2));
        assert_eq!(g.per_kind["answer"].exact, 1);
        assert_eq!(g.per_kind["unrelated"].exact, 0);
        // An invented value where it should not know is wrong even when it leaks nothing.
        let invented =
            evaluate_tools(&t, &examples[2..3], 4096, 32, |_, _| Ok(emit(&t, "Se llama Max.", &[])), |_, _| {})
                .unwrap()
                .grounded
                .unwrap();
        assert_eq!((invented.per_kind["unrelated"].exact, invented.with_unrelated.exact), (0, 0));
        let unknown = evaluate_tools(&t, &examples[2..3], 4096, 32, |_, _| Ok(emit(&t, "No lo sé.", &[])), |_, _| {})
            .unwrap()
            .grounded
            .unwrap();
        assert_eq!(unknown.per_kind["unrelated"].exact, 1);
        assert_eq!(g.per_kind["episodes"].exact, 1);
        assert_eq!(g.misses.len(), 2);
        // Without keys there is no grounded report.
        let plain = evaluate_tools(&t, &examples[4..], 4096, 32, |_, _| Ok(emit(&t, "Hola", &[])), |_, _| {}).unwrap();
        assert!(plain.grounded.is_none());
    }

    #[test]
    fn turns_split_parse_and_validate() {
        let t = tok();
        let turn = split_turn(&t, &emit(&t, "ok ", &[r#"{"name":"calculator","arguments":{"expression":"1+1"}}"#]));
        assert_eq!(turn.text, "ok ");
        let call = parse_call(&turn.call_spans[0]).unwrap();
        assert_eq!(call, ToolCall::new("calculator", json!({"expression": "1+1"})));
        let specs = builtin_specs();
        assert!(check_call(&call, &specs).is_none());
        // An unclosed span still counts as an attempted call.
        let mut ids = t.encode("x");
        ids.push(TOOL_CALL);
        ids.extend(t.encode("{\"name\""));
        assert_eq!(split_turn(&t, &ids).call_spans, vec!["{\"name\"".to_string()]);
        assert!(parse_call("{\"name\"").is_none() && parse_call("{\"name\":\"a\",\"arguments\":3}").is_none());
        let bad = |name: &str, args: Value| check_call(&ToolCall::new(name, args), &specs);
        assert!(bad("nope", json!({})).unwrap().contains("not an offered tool"));
        assert!(bad("calculator", json!({})).unwrap().contains("expression"));
        assert!(bad("generate_image", json!({"prompt": "a cat", "width": 100})).unwrap().contains("width"));
        assert!(bad("generate_image", json!({"prompt": "a cat", "width": 513})).unwrap().contains("multiple"));
        assert!(bad("generate_image", json!({"prompt": 3})).unwrap().contains("string"));
        assert!(bad("remember", json!({"text": "x", "importance": 11})).is_some());
        assert!(bad("generate_image", json!({"prompt": "a cat", "width": 512, "count": 2})).is_none());
    }

    #[test]
    fn report_counts_each_outcome() {
        let t = tok();
        let img = ToolCall::new("generate_image", json!({"prompt": "an astronaut dog", "width": 512}));
        let calc = ToolCall::new("calculator", json!({"expression": "12 * 7"}));
        let examples = vec![
            example("dibuja", Some(img.clone())),       // right tool, one argument wrong
            example("cuenta", Some(calc.clone())),      // exact
            example("cuenta otra", Some(calc.clone())), // no call: false negative
            example("hola", None),                      // true negative
            example("adiós", None),                     // false positive, malformed call
        ];
        let answers = [
            emit(&t, "", &[r#"{"name":"generate_image","arguments":{"prompt":"an astronaut dog","width":768}}"#]),
            emit(&t, "", &[&calc.to_json()]),
            emit(&t, "no sé", &[]),
            emit(&t, "¡Hola!", &[]),
            emit(&t, "", &["{\"name\":"]),
        ];
        let mut i = 0;
        let mut seen = 0;
        let r = evaluate_tools(
            &t,
            &examples,
            4096,
            64,
            |prompt, _| {
                assert_eq!(*prompt.last().unwrap(), crate::tokenizer::ASSISTANT);
                i += 1;
                Ok(answers[i - 1].clone())
            },
            |done, total| {
                seen = done;
                assert_eq!(total, 5);
            },
        )
        .unwrap();
        assert_eq!(seen, 5);
        let d = r.detection;
        assert_eq!((d.true_positive, d.false_positive, d.false_negative, d.true_negative), (2, 1, 1, 1));
        assert!((d.precision - 2.0 / 3.0).abs() < 1e-9 && (d.recall - 2.0 / 3.0).abs() < 1e-9);
        assert!((d.accuracy - 0.6).abs() < 1e-9);
        assert_eq!((r.tool_accuracy.exact, r.tool_accuracy.total), (2, 3));
        assert_eq!((r.decision_accuracy.exact, r.decision_accuracy.total), (3, 5));
        assert_eq!((r.arguments_exact.exact, r.arguments_exact.total), (1, 3));
        assert_eq!(r.argument_keys["generate_image.prompt"].exact, 1);
        assert_eq!(r.argument_keys["generate_image.width"].exact, 0);
        assert_eq!((r.schema.calls, r.schema.parsed, r.schema.valid), (3, 2, 2));
        assert_eq!(r.per_tool["none"].called, 1);
        assert_eq!(r.misses.len(), 3);
        // The false call and the missed call, not the call with wrong arguments.
        assert_eq!(r.detection_errors.len(), 2);
        assert_eq!(r.detection_errors.iter().filter(|m| m.expected.is_none()).count(), 1);
    }

    /// An untrained model's calls, decoded with the grammar constraint and a call required:
    /// every call it writes is finished, parses and fits its tool's schema; decoded freely, it
    /// writes nothing of the kind.
    #[test]
    fn constrained_calls_of_an_untrained_model_are_schema_valid() {
        use crate::infer::{InferModel, WeightDtype};
        use crate::model::{Llama, ModelConfig};
        let t = tok();
        let cfg = ModelConfig { vocab_size: t.vocab_size(), max_seq_len: 2048, ..ModelConfig::tiny() };
        let llama = Llama::new_random(&cfg, 7, &candle_core::Device::Cpu).unwrap();
        let model = InferModel::from_llama(&llama, WeightDtype::F32).unwrap();
        let tools: Vec<ToolSpec> =
            builtin_specs().into_iter().filter(|s| s.name == "calculator" || s.name == "generate_image").collect();
        let examples: Vec<SftExample> = ["Genera una imagen de un perro", "Hola", "¿Cuánto es 2 más 2?"]
            .iter()
            .map(|r| SftExample { tools: tools.clone(), ..example(r, None) })
            .collect();
        let opts = GrammarOptions { max_string_chars: 12, ..GrammarOptions::default() };
        let mut dec = TurnDecoder::constrained(&model, &t, 400, opts, ToolChoice::Required);
        let r = evaluate_tools(&t, &examples, cfg.max_seq_len, 400, |p, ex| dec.turn(p, &ex.tools), |_, _| {}).unwrap();
        let v = r.schema;
        assert_eq!(r.detection.true_negative + r.detection.false_negative, 0, "a call is required: {r:?}");
        // The decoder's budget closes every call before the answer limit: none is cut.
        assert!(v.calls >= examples.len() && v.cut == 0, "{v:?}");
        assert_eq!(v.valid, v.calls, "{r:?}");
        assert_eq!(v.valid_rate, 1.0);
        // The same model unconstrained: no valid call (it may not even open one).
        let mut free = TurnDecoder::free(&model, &t, 64);
        let r = evaluate_tools(&t, &examples, cfg.max_seq_len, 64, |p, ex| free.turn(p, &ex.tools), |_, _| {}).unwrap();
        assert_eq!(r.schema.valid, 0, "{:?}", r.schema);
        // No tools offered: the constrained decoder never opens a call.
        let bare: Vec<SftExample> = examples.iter().map(|e| SftExample { tools: vec![], ..e.clone() }).collect();
        let mut dec = TurnDecoder::constrained(&model, &t, 32, GrammarOptions::default(), ToolChoice::Required);
        let r = evaluate_tools(&t, &bare, cfg.max_seq_len, 32, |p, ex| dec.turn(p, &ex.tools), |_, _| {}).unwrap();
        assert_eq!(r.schema.calls, 0);
    }
}
