//! A bilingual (es/en) tool-calling dataset generated from templates, for supervised
//! fine-tuning (`thau train --sft`) and for `thau eval tools`.
//!
//! Each example is a [`SftExample`]: the tools offered (all built-ins, sometimes a subset), an
//! optional earlier exchange, the user's request, and the assistant's answer — a tool call
//! (`generate_image`, `calculator`, `remember`, `recall`, `search_memory`,
//! `current_datetime`) or plain text when no tool is needed. Half of the calls go on with the
//! tool's result and the final answer that uses it ("Aquí tienes tu imagen: images/….png").
//!
//! Requests vary by phrasing (direct, polite, indirect, questions, word problems), language,
//! typos, missing accents and punctuation, politeness around them, and arguments to extract:
//! image subjects (translated to English from a lexicon, since Stable Diffusion 1.5 reads
//! English), styles, sizes ("de 512x768", "horizontal"), seeds, counts, negative prompts;
//! arithmetic in digits or words ("cuánto es doce por siete" → `12 * 7`); facts, times and
//! topics for the memory tools.
//!
//! In training, half of the image, memory and time requests are composed from parts
//! ([`frames`]: how people ask × what they ask for), so each intent has hundreds of wordings
//! instead of a few dozen.
//!
//! No-tool requests include near misses in training: the tools' own words (paint, photo,
//! remember, late) in statements, questions about famous paintings, and requests that turn a
//! tool down, so that a verb alone does not decide a call.
//!
//! The held-out split is written only with phrasings listed as held-out in [`phrasings`], so
//! the evaluation measures wordings the model never trained on. Generation is deterministic:
//! the same seed gives the same files, byte for byte.

mod corpus_chat;
pub mod eval;
mod frames;
mod lexicon;
mod near_miss;
mod phrasings;

pub use corpus_chat::{ChatPair, ChatPool};

use crate::data::synthetic::Rng;
use crate::data::Lang;
use crate::error::{Error, Result};
use crate::tokenizer::{Message, ToolCall};
use crate::tools::spec::{builtin_specs, ToolSpec};
use crate::train::sft::SftExample;
use lexicon::{number_words, Subject};
use phrasings::{Chat, Phrasings, Problem};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};

/// Which phrasings an example may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training phrasings only.
    Train,
    /// Held-out phrasings only (never in training data).
    Heldout,
}

/// How many examples of each split, and the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolDatasetConfig {
    pub train: usize,
    pub heldout: usize,
    pub seed: u64,
}

impl Default for ToolDatasetConfig {
    fn default() -> Self {
        Self { train: 5000, heldout: 500, seed: 1337 }
    }
}

/// What one split contains.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SplitStats {
    pub examples: usize,
    /// Examples by the tool the (last) request calls, "none" when it calls none.
    pub by_tool: BTreeMap<String, usize>,
    pub spanish: usize,
    pub english: usize,
    /// Calls followed by the tool's result and the final answer.
    pub with_result: usize,
    /// Examples that begin with an earlier exchange.
    pub with_history: usize,
    /// Examples offering only some of the built-in tools.
    pub tool_subsets: usize,
    /// Distinct requests (last user messages).
    pub distinct_requests: usize,
}

/// The generated dataset and its statistics.
#[derive(Debug, Clone)]
pub struct ToolDataset {
    pub train: Vec<SftExample>,
    pub heldout: Vec<SftExample>,
    pub stats: ToolDatasetStats,
}

/// Statistics of both splits, written as `stats.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDatasetStats {
    pub seed: u64,
    pub train: SplitStats,
    pub heldout: SplitStats,
    /// Request phrasings available to each split (the two sets are disjoint).
    pub train_phrasings: usize,
    pub heldout_phrasings: usize,
    /// Real exchanges the training split's no-tool requests could also draw from (0: none).
    #[serde(skip_serializing_if = "is_zero")]
    pub corpus_chats: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Generate both splits from the templates alone.
pub fn generate(cfg: &ToolDatasetConfig) -> Result<ToolDataset> {
    generate_with_chat(cfg, &ChatPool::default())
}

/// Generate both splits; a third of the training split's no-tool requests are near misses
/// ([`near_miss`]), and half of the rest of a language come from `pool` (real exchanges, see
/// [`corpus_chat`]) when it has some for that language. The held-out split draws from neither,
/// so it is the same with or without a pool.
pub fn generate_with_chat(cfg: &ToolDatasetConfig, pool: &ChatPool) -> Result<ToolDataset> {
    if cfg.train == 0 && cfg.heldout == 0 {
        return Err(Error::invalid("tool dataset size", "both splits are empty: ask for at least one example"));
    }
    let specs = builtin_specs();
    let train = split_examples(cfg.train, cfg.seed, Split::Train, &specs, pool);
    let no_pool = ChatPool::default();
    let heldout = split_examples(cfg.heldout, cfg.seed ^ 0x4845_4c44_4f55_5421, Split::Heldout, &specs, &no_pool);
    let (train_phrasings, heldout_phrasings) = phrasing_counts();
    let stats = ToolDatasetStats {
        seed: cfg.seed,
        train: split_stats(&train, specs.len()),
        heldout: split_stats(&heldout, specs.len()),
        train_phrasings,
        heldout_phrasings,
        corpus_chats: pool.len(),
    };
    let strip = |v: Vec<(SftExample, Lang)>| v.into_iter().map(|(e, _)| e).collect();
    Ok(ToolDataset { train: strip(train), heldout: strip(heldout), stats })
}

fn split_examples(
    count: usize,
    seed: u64,
    split: Split,
    specs: &[ToolSpec],
    pool: &ChatPool,
) -> Vec<(SftExample, Lang)> {
    let mut r = Rng(seed);
    (0..count).map(|_| example(&mut r, split, specs, pool)).collect()
}

/// The assistant turn a request gets: a tool call, or text.
struct Answer {
    call: Option<ToolCall>,
    /// The text when there is no call; the final answer's text is made from the result.
    text: String,
}

/// What the user asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Intent {
    Image,
    Calculator,
    Remember,
    Recall,
    Search,
    DateTime,
    Chat,
}

/// How often each intent occurs (out of 100): about a third of requests need no tool.
const INTENTS: &[(Intent, usize)] = &[
    (Intent::Image, 24),
    (Intent::Calculator, 14),
    (Intent::Remember, 8),
    (Intent::Recall, 6),
    (Intent::Search, 7),
    (Intent::DateTime, 7),
    (Intent::Chat, 34),
];

fn pick_intent(r: &mut Rng) -> Intent {
    let total: usize = INTENTS.iter().map(|(_, w)| w).sum();
    let mut x = r.below(total);
    for &(intent, w) in INTENTS {
        if x < w {
            return intent;
        }
        x -= w;
    }
    Intent::Chat
}

/// One conversation: maybe an earlier exchange, then the request and its answer (and, for
/// half of the calls, the tool result and final answer).
fn example(r: &mut Rng, split: Split, specs: &[ToolSpec], pool: &ChatPool) -> (SftExample, Lang) {
    let lang = if r.below(2) == 0 { Lang::Es } else { Lang::En };
    let mut messages = Vec::new();
    if r.below(4) == 0 {
        messages.push(Message::system(match lang {
            Lang::Es => {
                *r.pick(&["Eres THAU, un asistente útil.", "Eres THAU. Responde en español.", "Eres un asistente."])
            }
            Lang::En => {
                r.pick::<&str>(&["You are THAU, a helpful assistant.", "You are THAU.", "You are an assistant."])
            }
        }));
    }
    if r.below(6) == 0 {
        // An earlier exchange, complete with its result when it called a tool.
        let intent = pick_intent(r);
        let (user, answer) = request(r, split, lang, intent, pool);
        push_exchange(r, &mut messages, lang, user, answer, true);
    }
    let intent = pick_intent(r);
    let (user, answer) = request(r, split, lang, intent, pool);
    let with_result = r.below(2) == 0;
    push_exchange(r, &mut messages, lang, user, answer, with_result);
    let called: Vec<&str> = messages.iter().flat_map(|m| &m.tool_calls).map(|c| c.name.as_str()).collect();
    let tools = offered_tools(r, specs, &called);
    (SftExample { tools, messages }, lang)
}

/// All built-ins, or (one time in five) a subset of two to four that includes those called.
fn offered_tools(r: &mut Rng, specs: &[ToolSpec], called: &[&str]) -> Vec<ToolSpec> {
    if r.below(5) != 0 {
        return specs.to_vec();
    }
    let want = r.range(2, 4).min(specs.len());
    let mut chosen: Vec<usize> = Vec::new();
    for name in called {
        if let Some(i) = specs.iter().position(|s| s.name == *name).filter(|i| !chosen.contains(i)) {
            chosen.push(i);
        }
    }
    while chosen.len() < want {
        let i = r.below(specs.len());
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    chosen.into_iter().map(|i| specs[i].clone()).collect()
}

/// Append the user's request and the assistant's answer; for a call, when `with_result`, also
/// the tool's result and the final answer built from it.
fn push_exchange(
    r: &mut Rng,
    messages: &mut Vec<Message>,
    lang: Lang,
    user: String,
    answer: Answer,
    with_result: bool,
) {
    messages.push(Message::user(user));
    match answer.call {
        None => messages.push(Message::assistant(answer.text)),
        Some(call) => {
            let (result, final_text) = tool_result(r, lang, &call);
            messages.push(Message::assistant_calls(String::new(), vec![call]));
            if with_result {
                messages.push(Message::tool(result));
                messages.push(Message::assistant(final_text));
            }
        }
    }
}

/// A request of `intent` in `lang` with the phrasings of `split`, and its answer. In training,
/// one tool request in eight follows a near-miss statement ("Mi tío pinta barcos los domingos.
/// Dibuja…"), so that what decides a call is the request, not the words around it.
fn request(r: &mut Rng, split: Split, lang: Lang, intent: Intent, pool: &ChatPool) -> (String, Answer) {
    let (user, answer) = request_alone(r, split, lang, intent, pool);
    if split == Split::Train && answer.call.is_some() && r.below(8) == 0 {
        return (format!("{}. {user}", near_miss::statement(r, lang)), answer);
    }
    (user, answer)
}

fn request_alone(r: &mut Rng, split: Split, lang: Lang, intent: Intent, pool: &ChatPool) -> (String, Answer) {
    match intent {
        Intent::Image => image(r, split, lang),
        Intent::Calculator => calculator(r, split, lang),
        Intent::Remember => {
            let fact = lexicon::fact(r, lang);
            let mut args = Map::new();
            args.insert("text".into(), json!(fact));
            let importance = if r.below(4) == 0 { Some(r.range(1, 10)) } else { None };
            let mut user = fill(r, split, lang, &phrasings::REMEMBER, &fact);
            if let Some(i) = importance {
                args.insert("importance".into(), json!(i));
                user.push_str(&match lang {
                    Lang::Es => format!(" (importancia {i})"),
                    Lang::En => format!(" (importance {i})"),
                });
            }
            (user, call("remember", args))
        }
        Intent::Recall => {
            let when = lexicon::when(r, lang);
            let user = fill(r, split, lang, &phrasings::RECALL, &when);
            (user, call("recall", Map::from_iter([("when".to_string(), json!(when))])))
        }
        Intent::Search => {
            let topic = lexicon::topic(r, lang);
            let mut args = Map::from_iter([("query".to_string(), json!(topic))]);
            let user = if r.below(5) == 0 {
                let n = r.range(2, 5);
                args.insert("limit".into(), json!(n));
                let template = pick_template(r, split, lang, &phrasings::SEARCH_LIMIT);
                let n = if r.below(2) == 0 { n.to_string() } else { number_words(lang, n as u32) };
                wrap(r, lang, &template, &[("{x}", topic), ("{n}", &n)])
            } else {
                fill(r, split, lang, &phrasings::SEARCH, topic)
            };
            (user, call("search_memory", args))
        }
        Intent::DateTime => {
            let set = if r.below(2) == 0 { &phrasings::TIME } else { &phrasings::DATE };
            (fill(r, split, lang, set, ""), call("current_datetime", Map::new()))
        }
        Intent::Chat => chat(r, split, lang, pool),
    }
}

fn call(name: &str, arguments: Map<String, Value>) -> Answer {
    Answer { call: Some(ToolCall { name: name.into(), arguments: Value::Object(arguments) }), text: String::new() }
}

/// The phrasings of `set` for `lang` and `split`.
fn templates(split: Split, lang: Lang, set: &Phrasings) -> &'static [&'static str] {
    match (split, lang) {
        (Split::Train, Lang::Es) => set.es,
        (Split::Train, Lang::En) => set.en,
        (Split::Heldout, Lang::Es) => set.es_heldout,
        (Split::Heldout, Lang::En) => set.en_heldout,
    }
}

/// A phrasing of `set`: in training, half of them composed from parts ([`frames`]) when the
/// set has frames; otherwise one of its fixed wordings.
fn pick_template(r: &mut Rng, split: Split, lang: Lang, set: &Phrasings) -> String {
    if let (Split::Train, Some(frame)) = (split, set.frame) {
        if r.below(2) == 0 {
            return frames::compose(r, lang, frame);
        }
    }
    r.pick::<&str>(templates(split, lang, set)).to_string()
}

/// A phrasing of `set` with `x` in its slot, wrapped and roughened.
fn fill(r: &mut Rng, split: Split, lang: Lang, set: &Phrasings, x: &str) -> String {
    let template = pick_template(r, split, lang, set);
    wrap(r, lang, &template, &[("{x}", x)])
}

/// Roughen the template's own words (typos, accents, case, punctuation), add politeness, then
/// fill the slots: the arguments themselves stay exactly as the call has them.
fn wrap(r: &mut Rng, lang: Lang, template: &str, slots: &[(&str, &str)]) -> String {
    let mut t = roughen(r, lang, template);
    if r.below(4) == 0 {
        let prefix = *r.pick(match lang {
            Lang::Es => phrasings::PREFIX_ES,
            Lang::En => phrasings::PREFIX_EN,
        });
        t = format!("{prefix}{}", lower_first(&t));
    }
    if r.below(5) == 0 {
        let suffix = *r.pick(match lang {
            Lang::Es => phrasings::SUFFIX_ES,
            Lang::En => phrasings::SUFFIX_EN,
        });
        t = match t.strip_suffix('?') {
            Some(body) => format!("{body}{suffix}?"),
            None => format!("{}{suffix}", t.trim_end_matches('.')),
        };
    }
    for (slot, value) in slots {
        t = t.replace(slot, value);
    }
    t
}

/// Lowercase the first letter (after any ¿ or ¡), except the English pronoun "I".
fn lower_first(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut done = false;
    for (i, ch) in s.char_indices() {
        if !done && ch.is_alphabetic() {
            done = true;
            let is_i = ch == 'I' && s[i + 1..].starts_with([' ', '\'']);
            if !is_i && !s[i..].starts_with("THAU") {
                out.extend(ch.to_lowercase());
                continue;
            }
        }
        out.push(ch);
    }
    out
}

/// Typos and sloppiness people type: missing accents and opening marks, lowercase, a swapped,
/// dropped or doubled letter in one word of the template (never inside a slot).
fn roughen(r: &mut Rng, lang: Lang, template: &str) -> String {
    let mut t = template.to_string();
    if lang == Lang::Es && r.below(5) == 0 {
        t = strip_accents(&t);
    }
    if r.below(6) == 0 {
        t = t.replace(['¿', '¡'], "");
        t = lower_first(&t);
    }
    if r.below(8) == 0 {
        t = t.trim_end_matches(['?', '!', '.']).to_string();
    }
    if r.below(8) == 0 {
        t = typo(r, &t);
    }
    t
}

fn strip_accents(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' => 'u',
            'Á' => 'A',
            'É' => 'E',
            'Í' => 'I',
            'Ó' => 'O',
            'Ú' => 'U',
            other => other,
        })
        .collect()
}

/// One typo in one word of at least four letters outside the slots.
fn typo(r: &mut Rng, s: &str) -> String {
    let words: Vec<&str> = s.split(' ').collect();
    let candidates: Vec<usize> = (0..words.len())
        .filter(|&i| !words[i].contains('{') && words[i].chars().filter(|c| c.is_alphabetic()).count() >= 4)
        .collect();
    if candidates.is_empty() {
        return s.to_string();
    }
    let i = *r.pick(&candidates);
    let mut chars: Vec<char> = words[i].chars().collect();
    let letters: Vec<usize> = (0..chars.len()).filter(|&k| chars[k].is_alphabetic()).collect();
    let k = letters[r.below(letters.len() - 1)];
    match r.below(3) {
        0 if chars.get(k + 1).is_some_and(|c| c.is_alphabetic()) => chars.swap(k, k + 1),
        1 => {
            chars.remove(k);
        }
        _ => chars.insert(k, chars[k]),
    }
    let typed: String = chars.into_iter().collect();
    words.iter().enumerate().map(|(j, w)| if j == i { typed.as_str() } else { w }).collect::<Vec<_>>().join(" ")
}

/// An image request: subject, maybe a style, size, seed, count or things to leave out.
fn image(r: &mut Rng, split: Split, lang: Lang) -> (String, Answer) {
    let Subject { es, en } = lexicon::subject(r);
    let mut said = match lang {
        Lang::Es => es,
        Lang::En => en.clone(),
    };
    let mut prompt = en;
    let mut args = Map::new();
    if r.below(3) == 0 {
        let (s_es, s_en, style) = *r.pick(lexicon::STYLES);
        said = format!("{said} {}", if lang == Lang::Es { s_es } else { s_en });
        prompt = format!("{prompt}, {style}");
    }
    match r.below(8) {
        0 | 1 => {
            let (w, h) = (*r.pick(lexicon::SIZES), *r.pick(lexicon::SIZES));
            let how = match (lang, r.below(3)) {
                (Lang::Es, 0) => format!("de {w}x{h}"),
                (Lang::Es, 1) => format!("de {w} por {h}"),
                (Lang::Es, _) => format!("en {w}x{h}"),
                (Lang::En, 0) => format!("at {w}x{h}"),
                (Lang::En, 1) => format!("{w} by {h}"),
                (Lang::En, _) => format!("in {w}x{h}"),
            };
            said = format!("{said} {how}");
            args.insert("width".into(), json!(w));
            args.insert("height".into(), json!(h));
        }
        2 => {
            let (o_es, o_en, (w, h)) = *r.pick(lexicon::ORIENTATIONS);
            said = match lang {
                Lang::Es => format!("{said}, {o_es}"),
                Lang::En => format!("{said}, {o_en}"),
            };
            args.insert("width".into(), json!(w));
            args.insert("height".into(), json!(h));
        }
        _ => {}
    }
    if r.below(8) == 0 {
        let (n_es, n_en, neg) = *r.pick(lexicon::NEGATIVES);
        said = format!("{said} {}", if lang == Lang::Es { n_es } else { n_en });
        args.insert("negative_prompt".into(), json!(neg));
    }
    if r.below(8) == 0 {
        let seed = if r.below(2) == 0 { r.range(1, 99) } else { r.range(100, 99_999) };
        said = match (lang, r.below(2)) {
            (Lang::Es, 0) => format!("{said} con semilla {seed}"),
            (Lang::Es, _) => format!("{said}, seed {seed}"),
            (Lang::En, 0) => format!("{said} with seed {seed}"),
            (Lang::En, _) => format!("{said}, seed {seed}"),
        };
        args.insert("seed".into(), json!(seed));
    }
    if r.below(12) == 0 {
        let steps = *r.pick(&[20, 25, 30, 40, 50]);
        said = match lang {
            Lang::Es => format!("{said} con {steps} pasos"),
            Lang::En => format!("{said} with {steps} steps"),
        };
        args.insert("steps".into(), json!(steps));
    }
    args.insert("prompt".into(), json!(prompt));
    let user = if r.below(8) == 0 {
        let n = r.range(2, 4);
        args.insert("count".into(), json!(n));
        let n = if r.below(2) == 0 { n.to_string() } else { number_words(lang, n as u32) };
        let template = pick_template(r, split, lang, &phrasings::IMAGE_COUNT);
        wrap(r, lang, &template, &[("{x}", &said), ("{n}", &n)])
    } else {
        fill(r, split, lang, &phrasings::IMAGE, &said)
    };
    (user, call("generate_image", args))
}

/// An exact value, kept as a fraction so results print exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Frac(i128, i128);

impl Frac {
    fn int(n: i128) -> Self {
        Frac(n, 1)
    }
    fn apply(self, op: char, o: Frac) -> Frac {
        let Frac(a, b) = self;
        let Frac(c, d) = o;
        let (n, m) = match op {
            '+' => (a * d + c * b, b * d),
            '-' => (a * d - c * b, b * d),
            '*' => (a * c, b * d),
            _ => (a * d, b * c),
        };
        let g = gcd(n.abs(), m.abs()).max(1);
        let s = if m < 0 { -1 } else { 1 };
        Frac(s * n / g, s * m / g)
    }
    /// Integer, or a decimal when the denominator has only the factors 2 and 5 (the expressions
    /// generated never divide otherwise).
    fn show(self) -> String {
        let Frac(n, d) = self;
        if d == 1 {
            return n.to_string();
        }
        let mut scale = 1i128;
        let mut places = 0;
        while (scale * n) % d != 0 && places < 12 {
            scale *= 10;
            places += 1;
        }
        let v = scale * n / d;
        if places == 0 {
            return v.to_string();
        }
        let sign = if v < 0 { "-" } else { "" };
        let v = v.abs();
        let int = v / scale;
        let frac = format!("{:0width$}", v % scale, width = places);
        format!("{sign}{int}.{}", frac.trim_end_matches('0'))
    }
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// How an operator is said.
fn op_word(r: &mut Rng, lang: Lang, op: char, digits: bool) -> &'static str {
    let symbol = digits && r.below(3) == 0;
    match (op, lang, symbol) {
        ('+', _, true) => "+",
        ('-', _, true) => "-",
        ('*', _, true) => r.pick::<&str>(&["*", "x", "×"]),
        ('/', _, true) => r.pick::<&str>(&["/", "÷"]),
        ('+', Lang::Es, _) => r.pick::<&str>(&["más", "mas", "y"]),
        ('-', Lang::Es, _) => "menos",
        ('*', Lang::Es, _) => r.pick::<&str>(&["por", "multiplicado por", "veces"]),
        ('/', Lang::Es, _) => r.pick::<&str>(&["entre", "dividido entre", "dividido por"]),
        ('+', Lang::En, _) => r.pick::<&str>(&["plus", "and", "+"]),
        ('-', Lang::En, _) => r.pick::<&str>(&["minus", "take away"]),
        ('*', Lang::En, _) => r.pick::<&str>(&["times", "multiplied by"]),
        (_, Lang::En, _) => r.pick::<&str>(&["divided by", "over"]),
        _ => "/",
    }
}

/// A number as said: digits (with a decimal comma in Spanish) or words.
fn say(lang: Lang, v: Frac, words: bool) -> String {
    if words && v.1 == 1 && (0..=100).contains(&v.0) {
        return number_words(lang, v.0 as u32);
    }
    let s = v.show();
    if lang == Lang::Es {
        s.replace('.', ",")
    } else {
        s
    }
}

/// A number for an expression: mostly small integers, sometimes larger or with one decimal.
fn operand(r: &mut Rng, words: bool) -> Frac {
    match r.below(if words { 2 } else { 6 }) {
        0 => Frac::int(r.range(2, 20) as i128),
        1 => Frac::int(r.range(2, 100) as i128),
        2 | 3 => Frac::int(r.range(10, 999) as i128),
        4 => Frac::int(r.range(1000, 99_999) as i128),
        _ => Frac(r.range(11, 999) as i128, 10).apply('+', Frac::int(0)),
    }
}

/// A calculation: spoken expression, or a word problem.
fn calculator(r: &mut Rng, split: Split, lang: Lang) -> (String, Answer) {
    let problems: &[Problem] = match (split, lang) {
        (Split::Train, Lang::Es) => phrasings::PROBLEMS_ES,
        (Split::Train, Lang::En) => phrasings::PROBLEMS_EN,
        (Split::Heldout, Lang::Es) => phrasings::PROBLEMS_ES_HELDOUT,
        (Split::Heldout, Lang::En) => phrasings::PROBLEMS_EN_HELDOUT,
    };
    if r.below(6) == 0 {
        let p = r.pick(problems);
        let (a, b) = match p.op {
            '/' => {
                let b = r.range(2, 9);
                (b * r.range(2, 12), b)
            }
            '-' => {
                let a = r.range(10, 200);
                (a, r.range(1, a - 1))
            }
            _ => (r.range(2, 50), r.range(2, 30)),
        };
        let words = r.below(3) == 0;
        let (sa, sb) = (say(lang, Frac::int(a as i128), words), say(lang, Frac::int(b as i128), words));
        let user = wrap(r, lang, p.text, &[("{a}", &sa), ("{b}", &sb)]);
        let expr = format!("{a} {} {b}", p.op);
        return (user, call("calculator", Map::from_iter([("expression".to_string(), json!(expr))])));
    }
    let words = r.below(3) == 0;
    let (spoken, expr) = match r.below(10) {
        // a op b op c
        0 | 1 => {
            let ops = [*r.pick(&['+', '-', '*']), *r.pick(&['+', '-', '*'])];
            let xs = [operand(r, words), operand(r, words), operand(r, words)];
            let spoken = format!(
                "{} {} {} {} {}",
                say(lang, xs[0], words),
                op_word(r, lang, ops[0], !words),
                say(lang, xs[1], words),
                op_word(r, lang, ops[1], !words),
                say(lang, xs[2], words)
            );
            (spoken, format!("{} {} {} {} {}", xs[0].show(), ops[0], xs[1].show(), ops[1], xs[2].show()))
        }
        // (a + b) * c, said as "the sum of a and b times c"
        2 => {
            let xs = [operand(r, words), operand(r, words), operand(r, words)];
            let (a, b, c) = (say(lang, xs[0], words), say(lang, xs[1], words), say(lang, xs[2], words));
            let spoken = match lang {
                Lang::Es => format!("la suma de {a} y {b} multiplicada por {c}"),
                Lang::En => format!("the sum of {a} and {b} times {c}"),
            };
            (spoken, format!("({} + {}) * {}", xs[0].show(), xs[1].show(), xs[2].show()))
        }
        // a squared
        3 => {
            let a = Frac::int(r.range(2, 40) as i128);
            let spoken = match lang {
                Lang::Es => format!("{} al cuadrado", say(lang, a, words)),
                Lang::En => format!("{} squared", say(lang, a, words)),
            };
            (spoken, format!("{}^2", a.show()))
        }
        // p% of a
        4 => {
            let p = *r.pick(&[5, 10, 15, 20, 25, 30, 50, 75]);
            let a = Frac::int(r.range(2, 100) as i128 * 10);
            let spoken = match lang {
                Lang::Es => format!("el {p}% de {}", say(lang, a, false)),
                Lang::En => format!("{p}% of {}", say(lang, a, false)),
            };
            (spoken, format!("{p}% * {}", a.show()))
        }
        // a op b
        _ => {
            let op = *r.pick(&['+', '-', '*', '/']);
            let (a, b) = if op == '/' {
                let b = Frac::int(*r.pick(&[2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 25]) as i128);
                (Frac::int(b.0 * r.range(2, if words { 10 } else { 200 }) as i128), b)
            } else {
                (operand(r, words), operand(r, words))
            };
            let spoken = format!("{} {} {}", say(lang, a, words), op_word(r, lang, op, !words), say(lang, b, words));
            (spoken, format!("{} {op} {}", a.show(), b.show()))
        }
    };
    let user = fill(r, split, lang, &phrasings::CALC, &spoken);
    (user, call("calculator", Map::from_iter([("expression".to_string(), json!(expr))])))
}

/// Something said that needs no tool, and its answer. In training, a third are near misses
/// ([`near_miss`]: tool words in statements and questions), and half of the rest come from
/// `pool` when it has exchanges in `lang`.
fn chat(r: &mut Rng, split: Split, lang: Lang, pool: &ChatPool) -> (String, Answer) {
    if split == Split::Train && r.below(3) == 0 {
        let m = near_miss::near_miss(r, lang);
        let slots: Vec<(&str, &str)> = m.slots.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let user = wrap(r, lang, &m.template, &slots);
        return (user, Answer { call: None, text: m.answer });
    }
    let real = pool.of(lang);
    if split == Split::Train && !real.is_empty() && r.below(2) == 0 {
        let c = r.pick(real);
        let user = wrap(r, lang, &c.user, &[]);
        return (user, Answer { call: None, text: c.answer.clone() });
    }
    let set: &[Chat] = match (split, lang) {
        (Split::Train, Lang::Es) => phrasings::CHAT_ES,
        (Split::Train, Lang::En) => phrasings::CHAT_EN,
        (Split::Heldout, Lang::Es) => phrasings::CHAT_ES_HELDOUT,
        (Split::Heldout, Lang::En) => phrasings::CHAT_EN_HELDOUT,
    };
    let c = r.pick(set);
    let (x, y) = if c.user.contains("capital") {
        let (es, en, cap) = *r.pick(lexicon::CAPITALS);
        match lang {
            Lang::Es => (es.to_string(), cap.to_string()),
            Lang::En => (en.to_string(), lexicon::capital_en(cap).to_string()),
        }
    } else {
        let s = lexicon::subject(r);
        // "los dibujos de un perro" reads better without the article: "de perros" is not
        // generated, so keep the subject as is.
        (if lang == Lang::Es { s.es } else { s.en }, String::new())
    };
    let user = wrap(r, lang, c.user, &[("{x}", &x)]);
    let text = c.answer.replace("{x}", &x).replace("{y}", &y);
    (user, Answer { call: None, text })
}

/// A plausible result of `call` and the final answer that uses it.
fn tool_result(r: &mut Rng, lang: Lang, call: &ToolCall) -> (String, String) {
    let arg = |k: &str| call.arguments.get(k).cloned().unwrap_or(Value::Null);
    match call.name.as_str() {
        "generate_image" => {
            let count = arg("count").as_u64().unwrap_or(1);
            let stamp = format!("20261129-{:02}{:02}{:02}", r.range(8, 22), r.below(60), r.below(60));
            let paths: Vec<String> = (1..=count).map(|i| format!("images/{stamp}-{i}.png")).collect();
            let list = paths.join(", ");
            let text = match (lang, count, r.below(2)) {
                (Lang::Es, 1, 0) => format!("Aquí tienes tu imagen: {list}"),
                (Lang::Es, 1, _) => format!("Listo, la imagen está en {list}"),
                (Lang::Es, _, _) => format!("Aquí tienes tus imágenes: {list}"),
                (Lang::En, 1, 0) => format!("Here is your image: {list}"),
                (Lang::En, 1, _) => format!("Done! The image is saved at {list}"),
                (Lang::En, _, _) => format!("Here are your images: {list}"),
            };
            (paths.join("\n"), text)
        }
        "calculator" => {
            let expr = arg("expression").as_str().unwrap_or_default().to_string();
            // What the calculator tool itself prints, so a target never disagrees with it.
            let v = crate::tools::evaluate(&expr)
                .map(|e| e.display())
                .unwrap_or_else(|e| panic!("the generator wrote `{expr}`, which the calculator refuses: {e}"));
            let text = match (lang, r.below(2)) {
                (Lang::Es, 0) => format!("El resultado es {}.", v.replace('.', ",")),
                (Lang::Es, _) => format!("{expr} = {v}"),
                (Lang::En, 0) => format!("The result is {v}."),
                (Lang::En, _) => format!("{expr} = {v}"),
            };
            (v, text)
        }
        "remember" => {
            let id = r.range(1, 400);
            let text = match lang {
                Lang::Es => r.pick::<&str>(&["Entendido, lo recordaré.", "Hecho, lo he guardado.", "Anotado."]),
                Lang::En => r.pick::<&str>(&["Got it, I'll remember that.", "Done, I saved it.", "Noted."]),
            };
            (format!("saved memory #{id}"), text.to_string())
        }
        "recall" => {
            let topic = lexicon::topic(r, lang);
            let when = arg("when").as_str().unwrap_or_default().to_string();
            let day = r.range(1, 28);
            let when = upper_first(&when);
            match lang {
                Lang::Es => (format!("2026-11-{day:02}: hablamos de {topic}"), format!("{when} hablamos de {topic}.")),
                Lang::En => {
                    (format!("2026-11-{day:02}: we talked about {topic}"), format!("{when} we talked about {topic}."))
                }
            }
        }
        "search_memory" => {
            let fact = lexicon::fact(r, lang);
            let text = match lang {
                Lang::Es => format!("Me dijiste que {fact}."),
                Lang::En => format!("You told me that {fact}."),
            };
            (format!("1. {fact}"), text)
        }
        _ => {
            let (h, m, d) = (r.range(0, 23), r.below(60), r.range(1, 30));
            let (result, text) = match lang {
                Lang::Es => {
                    (format!("2026-11-{d:02} {h:02}:{m:02}"), format!("Son las {h:02}:{m:02} del {d} de noviembre."))
                }
                Lang::En => (format!("2026-11-{d:02} {h:02}:{m:02}"), format!("It is {h:02}:{m:02} on November {d}.")),
            };
            (result, text)
        }
    }
}

/// Every set of tool-request phrasings (word problems and chit-chat are separate lists).
const REQUEST_SETS: [&Phrasings; 9] = [
    &phrasings::IMAGE,
    &phrasings::IMAGE_COUNT,
    &phrasings::CALC,
    &phrasings::REMEMBER,
    &phrasings::RECALL,
    &phrasings::SEARCH,
    &phrasings::SEARCH_LIMIT,
    &phrasings::TIME,
    &phrasings::DATE,
];

/// Phrasings each split can draw from (requests, word problems and chit-chat).
fn phrasing_counts() -> (usize, usize) {
    let sets = REQUEST_SETS;
    let train = sets.iter().map(|s| s.es.len() + s.en.len()).sum::<usize>()
        + phrasings::PROBLEMS_ES.len()
        + phrasings::PROBLEMS_EN.len()
        + phrasings::CHAT_ES.len()
        + phrasings::CHAT_EN.len();
    let heldout = sets.iter().map(|s| s.es_heldout.len() + s.en_heldout.len()).sum::<usize>()
        + phrasings::PROBLEMS_ES_HELDOUT.len()
        + phrasings::PROBLEMS_EN_HELDOUT.len()
        + phrasings::CHAT_ES_HELDOUT.len()
        + phrasings::CHAT_EN_HELDOUT.len();
    (train, heldout)
}

/// A conversation as plain text for a pretraining corpus: the tool list, then one line per
/// turn (`user: …`, `assistant: …`, calls as their JSON, `tool: …`). Mixed into pretraining,
/// it teaches the tokenizer the tool names and the JSON of calls (so the tool list in the
/// system prompt costs far fewer tokens) and the model the shape of a call before fine-tuning.
pub fn as_plain_text(ex: &SftExample) -> String {
    let mut out = crate::tools::tools_prompt(&ex.tools);
    for m in &ex.messages {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(m.role.as_str());
        out.push_str(": ");
        out.push_str(&m.content);
        for c in &m.tool_calls {
            if !m.content.is_empty() {
                out.push(' ');
            }
            out.push_str(&c.to_json());
        }
    }
    out
}

/// The user message the evaluation asks about (the last one) and the assistant turn that answers
/// it: its index in `messages`.
pub fn target_turn(ex: &SftExample) -> Option<usize> {
    let last_user = ex.messages.iter().rposition(|m| m.role == crate::tokenizer::Role::User)?;
    let next = last_user + 1;
    (next < ex.messages.len() && ex.messages[next].role == crate::tokenizer::Role::Assistant).then_some(next)
}

fn split_stats(examples: &[(SftExample, Lang)], all_tools: usize) -> SplitStats {
    let mut s = SplitStats { examples: examples.len(), ..SplitStats::default() };
    let mut requests = HashSet::new();
    for (ex, lang) in examples {
        let Some(t) = target_turn(ex) else { continue };
        let tool = ex.messages[t].tool_calls.first().map(|c| c.name.clone()).unwrap_or_else(|| "none".into());
        *s.by_tool.entry(tool).or_default() += 1;
        let user = &ex.messages[t - 1].content;
        requests.insert(user.clone());
        match lang {
            Lang::Es => s.spanish += 1,
            Lang::En => s.english += 1,
        }
        if ex.messages.get(t + 1).is_some_and(|m| m.role == crate::tokenizer::Role::Tool) {
            s.with_result += 1;
        }
        if ex.messages[..t - 1].iter().any(|m| m.role == crate::tokenizer::Role::User) {
            s.with_history += 1;
        }
        if ex.tools.len() < all_tools {
            s.tool_subsets += 1;
        }
    }
    s.distinct_requests = requests.len();
    s
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
