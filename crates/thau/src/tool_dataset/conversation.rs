//! One example conversation: the intent drawn, the tools offered, an optional earlier
//! exchange, the request and the assistant's answer (a call or plain text).

use super::*;

/// The assistant turn a request gets: a tool call, or text.
pub(super) struct Answer {
    call: Option<ToolCall>,
    /// The text when there is no call; the final answer's text is made from the result.
    text: String,
}

/// What the user asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Intent {
    Image,
    Calculator,
    Remember,
    Recall,
    Search,
    DateTime,
    Chat,
}

/// How often each intent occurs (out of 100): about a third of requests need no tool.
pub(super) const INTENTS: &[(Intent, usize)] = &[
    (Intent::Image, 24),
    (Intent::Calculator, 14),
    (Intent::Remember, 8),
    (Intent::Recall, 6),
    (Intent::Search, 7),
    (Intent::DateTime, 7),
    (Intent::Chat, 34),
];

pub(super) fn pick_intent(r: &mut Rng) -> Intent {
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
pub(super) fn example(r: &mut Rng, split: Split, specs: &[ToolSpec], pool: &ChatPool) -> (SftExample, Lang) {
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
    (SftExample::new(tools, messages), lang)
}

/// All built-ins, or (one time in five) a subset of two to four that includes those called.
pub(super) fn offered_tools(r: &mut Rng, specs: &[ToolSpec], called: &[&str]) -> Vec<ToolSpec> {
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
pub(super) fn push_exchange(
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
pub(super) fn request(r: &mut Rng, split: Split, lang: Lang, intent: Intent, pool: &ChatPool) -> (String, Answer) {
    let (user, answer) = request_alone(r, split, lang, intent, pool);
    if split == Split::Train && answer.call.is_some() && r.below(8) == 0 {
        return (format!("{}. {user}", near_miss::statement(r, lang)), answer);
    }
    (user, answer)
}

pub(super) fn request_alone(
    r: &mut Rng,
    split: Split,
    lang: Lang,
    intent: Intent,
    pool: &ChatPool,
) -> (String, Answer) {
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

pub(super) fn call(name: &str, arguments: Map<String, Value>) -> Answer {
    Answer { call: Some(ToolCall { name: name.into(), arguments: Value::Object(arguments) }), text: String::new() }
}

/// Something said that needs no tool, and its answer. In training, a third are near misses
/// ([`near_miss`]: tool words in statements and questions), and half of the rest come from
/// `pool` when it has exchanges in `lang`.
pub(super) fn chat(r: &mut Rng, split: Split, lang: Lang, pool: &ChatPool) -> (String, Answer) {
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
