//! Tools: the call grammar accepts exactly the calls that parse and validate, its fast mask
//! equals a brute-force one, a random-weight model under constraints only ever writes valid
//! calls, and the registry, built-ins and user tools report every failure clearly.

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use thau::infer::{
    generate_ids_with, GenerateOptions, InferModel, KvState, LogitsConstraint, SamplingOptions, WeightDtype,
};
use thau::model::{Llama, ModelConfig};
use thau::tokenizer::{
    Message, Role, Tokenizer, ToolCall, ASSISTANT, BOS, END, NUM_SPECIAL, TOOL_CALL, TOOL_CALL_END, USER,
};
use thau::tools::{
    builtin_specs, parse_ids, parse_text, parse_tools, run_tool_loop, schema, Calculator, CallConstraint, CallError,
    CurrentDatetime, GenerateImage, Grammar, GrammarOptions, ImageBackend, LoopEvent, LoopOptions, MemoryAccess,
    Registry, TokenTrie, Tool, ToolChoice, ToolContext, ToolOutput, ToolSpec,
};

/// A tool whose schema uses every construct the grammar knows.
fn kitchen_sink() -> ToolSpec {
    ToolSpec {
        name: "kitchen_sink".into(),
        description: "exercises the grammar".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "mode": {"type": "string", "enum": ["fast", "slow", "ñandú \"q\""]},
                "level": {"type": "integer", "enum": [1, 10, 100]},
                "ratio": {"type": "number", "minimum": -2.5, "maximum": 3.25},
                "temp": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "step": {"type": "integer", "minimum": -40, "maximum": 95, "multipleOf": 5},
                "flag": {"type": "boolean"},
                "nothing": {"type": "null"},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 4}, "minItems": 1, "maxItems": 3},
                "point": {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                          "required": ["x", "y"]},
                "extra": {"type": "object"},
                "anything": {},
                "either": {"type": ["string", "integer", "null"]},
                "code": {"type": "string", "minLength": 2, "maxLength": 3}
            },
            "required": ["mode", "step"]
        }),
    }
}

fn specs() -> Vec<ToolSpec> {
    let mut s = builtin_specs();
    s.push(kitchen_sink());
    s
}

fn grammar() -> Grammar {
    Grammar::new(&specs(), GrammarOptions { max_string_chars: 40, max_items: 4, max_depth: 7 }).unwrap()
}

fn accepts(g: &Grammar, text: &str) -> bool {
    let mut s = g.start();
    s.feed(g, text.as_bytes()) && s.is_complete()
}

/// True when `text` is a valid prefix (the grammar has not refused any byte yet).
fn prefix_ok(g: &Grammar, text: &[u8]) -> bool {
    g.start().feed(g, text)
}

/// Parse and validate a call the way the tool loop does.
fn check_call(text: &str, specs: &[ToolSpec]) -> Result<(), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("{text}: not JSON: {e}"))?;
    let name = v["name"].as_str().ok_or(format!("{text}: no name"))?;
    let spec = specs.iter().find(|s| s.name == name).ok_or(format!("{text}: unknown tool"))?;
    let errs = schema::validate(&v["arguments"], &spec.parameters, "arguments");
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!("{text}: {errs:?}"))
    }
}

#[test]
fn grammar_accepts_valid_calls_and_refuses_the_rest() {
    let g = grammar();
    let ok = [
        r#"{"name":"calculator","arguments":{"expression":"2+2"}}"#,
        r#"{"name":"current_datetime","arguments":{}}"#,
        r#"{"name":"generate_image","arguments":{"prompt":"un perro astronauta","width":512,"height":768}}"#,
        r#"{"name":"generate_image","arguments":{"height":256,"prompt":"x","guidance":7.5,"count":4}}"#,
        r#"{"name":"remember","arguments":{"text":"a\"b\\c\u00e9\n","importance":10}}"#,
        r#"{"name":"kitchen_sink","arguments":{"mode":"ñandú \"q\"","step":-40}}"#,
        r#"{"name":"kitchen_sink","arguments":{"step":95,"mode":"fast","level":10,"ratio":-2.5,"temp":0.5}}"#,
        r#"{"name":"kitchen_sink","arguments":{"mode":"slow","step":0,"tags":["a","bcd"],"point":{"y":-3,"x":0}}}"#,
        r#"{"name":"kitchen_sink","arguments":{"mode":"slow","step":5,"extra":{"k":[1,{"z":null}],"e":"é"},"anything":[true,false,-0.25]}}"#,
        r#"{"name":"kitchen_sink","arguments":{"mode":"slow","step":5,"either":null,"code":"ab","flag":true,"nothing":null}}"#,
        r#"{"name":"kitchen_sink","arguments":{"mode":"slow","step":5,"either":"x"}}"#,
        r#"{"name":"kitchen_sink","arguments":{"mode":"slow","step":5,"either":-12}}"#,
    ];
    for t in ok {
        assert!(accepts(&g, t), "refused a valid call: {t}");
        check_call(t, &specs()).unwrap();
    }
    let bad: [&str; 26] = [
        r#"{ "name":"calculator","arguments":{"expression":"2+2"}}"#, // whitespace: not the trained format
        r#"{"name":"calc","arguments":{}}"#,                          // unknown tool
        r#"{"name":"calculator","arguments":{}}"#,                    // required argument missing
        r#"{"name":"calculator","arguments":{"expression":2}}"#,      // wrong type
        r#"{"name":"calculator","arguments":{"expression":"1","expression":"2"}}"#, // duplicate key
        r#"{"name":"calculator","arguments":{"expression":"1","x":1}}"#, // undeclared key
        r#"{"name":"current_datetime","arguments":{"tz":"UTC"}}"#,
        r#"{"name":"generate_image","arguments":{"prompt":"x","width":513}}"#, // not a multiple of 8
        r#"{"name":"generate_image","arguments":{"prompt":"x","width":2000}}"#, // above maximum
        r#"{"name":"generate_image","arguments":{"prompt":"x","width":0512}}"#, // leading zero
        r#"{"name":"generate_image","arguments":{"prompt":"x","width":512.0}}"#, // integer written as float
        r#"{"name":"generate_image","arguments":{"prompt":"x","guidance":31}}"#,
        r#"{"name":"generate_image","arguments":{"prompt":"x","guidance":1e1}}"#, // no exponents
        r#"{"name":"remember","arguments":{"text":"x","importance":0}}"#,
        r#"{"name":"remember","arguments":{"text":"x","importance":11}}"#,
        r#"{"name":"remember","arguments":{"text":"\ud800"}}"#, // lone surrogate
        "{\"name\":\"remember\",\"arguments\":{\"text\":\"a\tb\"}}", // raw control character
        r#"{"name":"kitchen_sink","arguments":{"mode":"medium","step":0}}"#, // not in the enum
        r#"{"name":"kitchen_sink","arguments":{"mode":"fast","step":3}}"#, // not a multiple of 5
        r#"{"name":"kitchen_sink","arguments":{"mode":"fast","step":-45}}"#, // below minimum
        r#"{"name":"kitchen_sink","arguments":{"mode":"fast","step":0,"level":2}}"#,
        r#"{"name":"kitchen_sink","arguments":{"mode":"fast","step":0,"temp":1}}"#, // exclusive bound
        r#"{"name":"kitchen_sink","arguments":{"mode":"fast","step":0,"tags":[]}}"#, // minItems
        r#"{"name":"kitchen_sink","arguments":{"mode":"fast","step":0,"tags":["abcde"]}}"#, // maxLength
        r#"{"name":"kitchen_sink","arguments":{"mode":"fast","step":0,"code":"a"}}"#, // minLength
        r#"{"name":"kitchen_sink","arguments":{"mode":"fast","step":0,"point":{"x":1}}}"#, // nested required
    ];
    for t in bad {
        assert!(!accepts(&g, t), "accepted an invalid call: {t}");
    }
    // Invalid UTF-8 inside a string, and bytes after the end.
    let mut b = br#"{"name":"remember","arguments":{"text":"#.to_vec();
    assert!(prefix_ok(&g, &b));
    b.extend_from_slice(b"\"\xC3\xA9\xFF");
    assert!(!prefix_ok(&g, &b));
    assert!(!prefix_ok(&g, br#"{"name":"current_datetime","arguments":{}}}"#));
    // A width prefix that can no longer reach [64, 1024] is cut at the digit.
    assert!(prefix_ok(&g, br#"{"name":"generate_image","arguments":{"width":102"#));
    assert!(!prefix_ok(&g, br#"{"name":"generate_image","arguments":{"width":1025"#));
    assert!(!prefix_ok(&g, br#"{"name":"generate_image","arguments":{"width":2000"#));
    // Named choice: only that tool.
    let mut s = g.start_named("calculator").unwrap();
    assert!(!s.feed(&g, br#"{"name":"remember""#));
    assert!(g.start_named("nope").is_err());
}

#[test]
fn schemas_that_cannot_be_constrained_are_refused_with_the_tool_named() {
    let bad = |params: Value| {
        let spec = ToolSpec { name: "t".into(), description: String::new(), parameters: params };
        Grammar::new(&[spec], GrammarOptions::default()).unwrap_err().to_string()
    };
    assert!(bad(json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 4}}}))
        .contains("tool 't'"));
    assert!(bad(
        json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 4, "multipleOf": 5}}})
    )
    .contains("multiple of 5"));
    let narrow = json!({"type": "object", "properties": {"x": {"type": "number",
        "exclusiveMinimum": 0.1, "exclusiveMaximum": 0.1000000000001}}});
    assert!(bad(narrow).contains("fraction digits"));
    assert!(bad(json!({"type": "string"})).contains("object"));
    let deep =
        (0..12).fold(json!({"type": "string"}), |inner, _| json!({"type": "object", "properties": {"a": inner}}));
    assert!(bad(deep).contains("nested"));
}

/// A byte-level BPE trained on text like the calls and chats it will see.
fn tokenizer() -> Tokenizer {
    let mut texts = Vec::new();
    for s in specs() {
        texts.push(format!(r#"{{"name":"{}","arguments":{{}}}}"#, s.name));
        texts.push(s.parameters.to_string());
    }
    for i in 0..60 {
        texts.push(format!(
            r#"{{"name":"generate_image","arguments":{{"prompt":"un perro astronauta {i}","width":{}}}}} Hola, ¿qué tal? Hello there, résumé ñandú"#,
            64 + 8 * i
        ));
    }
    Tokenizer::train(texts.into_iter(), 700).unwrap()
}

#[test]
fn fast_mask_equals_brute_force_on_many_states() {
    let tok = tokenizer();
    let trie = Arc::new(TokenTrie::new(&tok));
    let g = Arc::new(grammar());
    let prefixes: [&str; 12] = [
        "",
        r#"{"name":""#,
        r#"{"name":"generate_image","arguments":{"#,
        r#"{"name":"generate_image","arguments":{"prompt":"un pe"#,
        r#"{"name":"generate_image","arguments":{"prompt":"x","width":1"#,
        r#"{"name":"generate_image","arguments":{"prompt":"x","guidance":7."#,
        r#"{"name":"remember","arguments":{"text":"a\u00"#,
        r#"{"name":"kitchen_sink","arguments":{"mode":"ñ"#,
        r#"{"name":"kitchen_sink","arguments":{"level":1"#,
        r#"{"name":"kitchen_sink","arguments":{"step":-"#,
        r#"{"name":"kitchen_sink","arguments":{"extra":{"k":[1,"#,
        r#"{"name":"kitchen_sink","arguments":{"tags":["ab","#,
    ];
    for p in prefixes {
        let mut c = CallConstraint::new(g.clone(), trie.clone(), ToolChoice::Auto).unwrap();
        c.accept(TOOL_CALL);
        for id in tok.encode(p) {
            c.accept(id);
        }
        assert!(c.in_call(), "{p}");
        let fast = c.allowed_ids().unwrap();
        let slow = c.allowed_slow(&tok).unwrap();
        assert_eq!(fast, slow, "masks differ after {p:?}");
        assert!(!fast.is_empty(), "no token continues {p:?}");
    }
}

/// Under a budget the fast mask (which reuses what the frames below the top add) equals a
/// slow reference: every token the grammar allows, fed alone, kept when the call can still be
/// finished after it in the tokens left ([`TokenTrie::tokens_to_finish`]).
#[test]
fn budget_mask_equals_a_slow_reference() {
    let tok = tokenizer();
    let trie = Arc::new(TokenTrie::new(&tok));
    // What the frames below a string add changes when a token (`","`) ends one string and
    // opens the next: an array that needs three items, and a schema-less object's value
    // followed by a key (which needs `:` and a value).
    let mut all = specs();
    all.push(ToolSpec {
        name: "names".into(),
        description: "three names at least".into(),
        parameters: json!({
            "type": "object",
            "properties": {"names": {"type": "array", "items": {"type": "string"}, "minItems": 3}},
            "required": ["names"]
        }),
    });
    assert!(tok.encode(r#"",""#).len() == 1, "the test needs a token for \",\"");
    let g = Arc::new(Grammar::new(&all, GrammarOptions { max_string_chars: 40, max_items: 4, max_depth: 7 }).unwrap());
    let mut compared = 0;
    for p in [
        "",
        r#"{"name":"gen"#,
        r#"{"name":"generate_image","arguments":{"#,
        r#"{"name":"generate_image","arguments":{"prompt":"un pe"#,
        r#"{"name":"generate_image","arguments":{"prompt":"x","width":1"#,
        r#"{"name":"generate_image","arguments":{"prompt":"x","guidance":7."#,
        r#"{"name":"kitchen_sink","arguments":{"mode":"fast","step":-"#,
        r#"{"name":"kitchen_sink","arguments":{"code":"\u00"#,
        r#"{"name":"kitchen_sink","arguments":{"extra":{"k":[1,"#,
        r#"{"name":"kitchen_sink","arguments":{"tags":["ab","#,
        r#"{"name":"kitchen_sink","arguments":{"point":{"x":1"#,
        r#"{"name":"names","arguments":{"names":["a"#,
        r#"{"name":"kitchen_sink","arguments":{"mode":"fast","step":0,"extra":{"k":"a"#,
    ] {
        let mut state = g.start();
        assert!(state.feed(&g, p.as_bytes()), "{p}");
        let need = trie.tokens_to_finish(&g, &state) as usize;
        // The shortcut the mask takes (the frames below the top reused) agrees with the
        // completion after every token the grammar allows.
        let below = g.remaining_below_top(&state);
        let mut scratch = Vec::new();
        for id in NUM_SPECIAL as u32..tok.vocab_size() as u32 {
            let mut s = state;
            if s.feed(&g, tok.token_bytes(id).unwrap()) {
                assert_eq!(g.remaining_sharing(&state, below, &s, &mut scratch), g.remaining(&s), "{p:?} + {id}");
            }
        }
        for left in [need + 1, need + 2, need + 3, need + 6, need + 20, 5000] {
            let mut c = CallConstraint::new(g.clone(), trie.clone(), ToolChoice::Auto).unwrap();
            c.accept(TOOL_CALL);
            for id in tok.encode(p) {
                c.accept(id);
            }
            c.budget(left);
            let fast = c.allowed_ids().unwrap();
            let grammatical = c.allowed_slow(&tok).unwrap();
            let mut slow: Vec<u32> = grammatical
                .iter()
                .copied()
                .filter(|&id| {
                    let mut s = state;
                    assert!(s.feed(&g, tok.token_bytes(id).unwrap()));
                    trie.tokens_to_finish(&g, &s) + 2 <= left as u64
                })
                .collect();
            if slow.is_empty() {
                slow = grammatical.clone();
            }
            assert_eq!(fast, slow, "after {p:?} with {left} tokens left");
            if slow.len() < grammatical.len() {
                compared += 1;
            }
        }
    }
    // The budget did cut tokens in many of the cases compared.
    assert!(compared >= 10, "{compared}");
}

#[test]
fn the_string_cache_equals_walking_the_trie() {
    // Inside a long string the mask reuses one walk of the trie (`CallState::string_body_key`).
    // Walk calls token by token and compare every mask with a fresh walk from the same state,
    // without a budget and with budgets from generous to the tightest, near a string's
    // `minLength` and `maxLength` too, where the cache must not be used.
    let tok = tokenizer();
    let trie = Arc::new(TokenTrie::new(&tok));
    let mut all = specs();
    all.push(ToolSpec {
        name: "note".into(),
        description: "a note of 12 to 60 characters".into(),
        parameters: json!({
            "type": "object",
            "properties": {"text": {"type": "string", "minLength": 12, "maxLength": 60}, "n": {"type": "integer"}},
            "required": ["text", "n"]
        }),
    });
    let g = Arc::new(Grammar::new(&all, GrammarOptions { max_string_chars: 300, max_items: 4, max_depth: 7 }).unwrap());
    let longest =
        (NUM_SPECIAL as u32..tok.vocab_size() as u32).map(|id| tok.token_bytes(id).unwrap().len()).max().unwrap();
    assert!((4..24).contains(&longest), "the test wants tokens of several bytes, shorter than the note: {longest}");
    let calls = [
        r#"{"name":"generate_image","arguments":{"prompt":"un perro astronauta en la luna, \"óleo\" con ñandú y résumé\n, hello there; un perro astronauta 12","negative_prompt":"borroso","width":512}}"#.to_string(),
        format!(r#"{{"name":"note","arguments":{{"text":"{}","n":3}}}}"#, "Hola, ¿qué tal? ñandú perro ".repeat(2)),
        r#"{"name":"note","arguments":{"text":"short one ok","n":1}}"#.to_string(),
        r#"{"name":"kitchen_sink","arguments":{"mode":"fast","step":5,"tags":["ab"],"anything":"un perro astronauta muy largo y muy feliz"}}"#.to_string(),
    ];
    let (mut compared, mut hits) = (0, 0);
    for call in &calls {
        let ids = tok.encode(call);
        check_call(call, &all).unwrap();
        // None: no budget; otherwise the slack above what the call still needs.
        for slack in [None, Some(0usize), Some(1), Some(3), Some(400)] {
            let mut c = CallConstraint::new(g.clone(), trie.clone(), ToolChoice::Auto).unwrap();
            c.accept(TOOL_CALL);
            let mut state = g.start();
            for (i, &id) in ids.iter().enumerate() {
                let mut walked = Vec::new();
                let left = slack.map(|k| trie.tokens_to_finish(&g, &state) as usize + 2 + k);
                match left {
                    Some(left) => {
                        c.budget(left);
                        trie.allowed_within(&g, &state, left as u64 - 2, &mut walked);
                        if walked.is_empty() {
                            trie.allowed(&g, &state, &mut walked);
                        }
                    }
                    None => trie.allowed(&g, &state, &mut walked),
                }
                walked.sort_unstable();
                let cached = c.allowed_ids().unwrap();
                assert_eq!(cached, walked, "{call}: token {i}, {left:?} tokens left");
                compared += 1;
                c.accept(id);
                assert!(state.feed(&g, tok.token_bytes(id).unwrap()), "{call}");
            }
            assert!(state.is_complete() && c.allowed_ids() == Some(vec![TOOL_CALL_END]), "{call}");
            hits += c.string_cache_hits();
        }
    }
    // At least a third of all the masks (keys and numbers included) came from the cache.
    assert!(hits * 3 >= compared, "{hits} cache hits in {compared} masks");
}

/// With a call threshold, the first token of an auto turn is a binary decision: a call when
/// `<|tool_call|>` holds at least that probability, text otherwise, whatever the single
/// likeliest token is; later tokens (and other choices) are untouched.
#[test]
fn call_threshold_decides_call_or_text_by_probability_mass() {
    let tok = tokenizer();
    let trie = Arc::new(TokenTrie::new(&tok));
    let g = Arc::new(grammar());
    let fresh = |choice: ToolChoice, p: Option<f32>| {
        CallConstraint::new(g.clone(), trie.clone(), choice).unwrap().with_call_threshold(p)
    };
    let v = tok.vocab_size();
    // 40% on <|tool_call|>, 60% spread evenly over the text tokens: greedy picks the call.
    let spread = |call_mass: f32| {
        let text = (v - NUM_SPECIAL) as f32;
        let mut l = vec![f32::NEG_INFINITY; v];
        l[TOOL_CALL as usize] = call_mass.ln();
        for x in l.iter_mut().skip(NUM_SPECIAL) {
            *x = ((1.0 - call_mass) / text).ln();
        }
        l
    };
    let argmax = |l: &[f32]| (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap() as u32;
    let mut plain = spread(0.4);
    fresh(ToolChoice::Auto, None).mask(&mut plain);
    assert_eq!(argmax(&plain), TOOL_CALL);
    let mut decided = spread(0.4);
    fresh(ToolChoice::Auto, Some(0.5)).mask(&mut decided);
    assert!(decided[TOOL_CALL as usize] == f32::NEG_INFINITY && argmax(&decided) as usize >= NUM_SPECIAL);
    // 60% on the call: only the call is left.
    let mut call = spread(0.6);
    fresh(ToolChoice::Auto, Some(0.5)).mask(&mut call);
    assert_eq!((0..v).filter(|&i| call[i].is_finite()).collect::<Vec<_>>(), vec![TOOL_CALL as usize]);
    // Only the first token is decided; `none` and `required` keep their own rules.
    let mut c = fresh(ToolChoice::Auto, Some(0.5));
    c.accept(tok.encode("Hola")[0]);
    let mut later = spread(0.4);
    c.mask(&mut later);
    assert!(later[TOOL_CALL as usize].is_finite());
    let mut none = spread(0.9);
    fresh(ToolChoice::None, Some(0.5)).mask(&mut none);
    assert_eq!(none[TOOL_CALL as usize], f32::NEG_INFINITY);
    let mut required = spread(0.1);
    fresh(ToolChoice::Required, Some(0.5)).mask(&mut required);
    assert_eq!(argmax(&required), TOOL_CALL);
}

/// Pick uniformly among allowed tokens until the call closes: every call must parse and
/// validate (the grammar has no dead ends and admits only valid calls).
#[test]
fn random_walks_through_the_mask_always_give_valid_calls() {
    let tok = tokenizer();
    let trie = Arc::new(TokenTrie::new(&tok));
    let g = Arc::new(grammar());
    let all = specs();
    let mut rng = StdRng::seed_from_u64(7);
    let mut by_tool = std::collections::BTreeMap::new();
    for walk in 0..300 {
        let choice = if walk % 5 == 0 { ToolChoice::Named("kitchen_sink".into()) } else { ToolChoice::Required };
        let mut c = CallConstraint::new(g.clone(), trie.clone(), choice).unwrap();
        let mut ids = Vec::new();
        let mut logits = vec![0f32; tok.vocab_size()];
        for step in 0..5000 {
            logits.iter_mut().for_each(|v| *v = 0.0);
            c.mask(&mut logits);
            let allowed: Vec<u32> = (0..logits.len() as u32).filter(|&i| logits[i as usize] == 0.0).collect();
            assert!(!allowed.is_empty(), "walk {walk}: dead end after {:?}", tok.decode(&ids));
            let next = allowed[rng.gen_range(0..allowed.len())];
            c.accept(next);
            ids.push(next);
            if next == TOOL_CALL_END {
                break;
            }
            assert!(step < 4999, "walk {walk}: the call never closed");
        }
        assert_eq!(ids[0], TOOL_CALL);
        let body = tok.decode(&ids[1..ids.len() - 1]);
        check_call(&body, &all).unwrap();
        *by_tool
            .entry(serde_json::from_str::<Value>(&body).unwrap()["name"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    // The walks reached every tool.
    assert_eq!(by_tool.len(), all.len(), "{by_tool:?}");
}

/// `completion` is a shortest way to finish the call: at every state of random walks it
/// finishes a valid call, some accepted byte lowers its length by one and none by more, it
/// is empty exactly when the call is complete, and after its first byte it is its own rest.
/// Hand-written shortest completions (of bounded numbers, multiples, minimum lengths and
/// items, nested required keys) have its length.
#[test]
fn remaining_is_the_exact_shortest_completion() {
    let g = grammar();
    let all = specs();
    let ks = r#"{"name":"kitchen_sink","arguments":{"#;
    for (prefix, rest) in [
        (ks.to_string(), r#""mode":"fast","step":0}}"#),
        (format!(r#"{ks}"mode":"fast","temp":0"#), r#".1,"step":0}}"#),
        (format!(r#"{ks}"mode":"fast","ratio":3.2"#), r#","step":0}}"#),
        (format!(r#"{ks}"mode":"fast","ratio":-2.5"#), r#","step":0}}"#),
        (format!(r#"{ks}"step":-"#), r#"5,"mode":"fast"}}"#),
        (format!(r#"{ks}"step":9"#), r#"0,"mode":"fast"}}"#),
        (format!(r#"{ks}"level":"#), r#"1,"mode":"fast","step":0}}"#),
        (format!(r#"{ks}"code":""#), r#"ab","mode":"fast","step":0}}"#),
        (format!(r#"{ks}"code":"\u00"#), r#"00a","mode":"fast","step":0}}"#),
        (format!(r#"{ks}"tags":["#), r#"""],"mode":"fast","step":0}}"#),
        (format!(r#"{ks}"point":{{"#), r#""x":0,"y":0},"mode":"fast","step":0}}"#),
        (format!(r#"{ks}"extra":{{"k":[1,"#), r#"0]},"mode":"fast","step":0}}"#),
        (format!(r#"{ks}"mode":"fast","step":0,"#), r#""level":1}}"#),
    ] {
        let mut s = g.start();
        assert!(s.feed(&g, prefix.as_bytes()), "{prefix}");
        let whole = format!("{prefix}{rest}");
        assert!(accepts(&g, &whole), "{whole}");
        check_call(&whole, &all).unwrap();
        assert_eq!(g.remaining(&s), rest.len() as u64, "after {prefix}");
        let shortest = String::from_utf8(g.completion(&s)).unwrap();
        assert!(accepts(&g, &format!("{prefix}{shortest}")), "{prefix}{shortest}");
        check_call(&format!("{prefix}{shortest}"), &all).unwrap();
    }
    let states = walk_checking_completions(&g, &all, "kitchen_sink", 120, 5);
    assert!(states > 3000, "{states}");
}

/// Random byte walks through `g` (every third one calling `named`) that check, at every
/// state, that `completion` is exact, keeps to itself and finishes a valid call. Returns the
/// number of states checked.
fn walk_checking_completions(g: &Grammar, all: &[ToolSpec], named: &str, walks: usize, seed: u64) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut states = 0;
    for walk in 0..walks {
        let mut s = if walk % 3 == 0 { g.start_named(named).unwrap() } else { g.start() };
        let mut bytes = Vec::new();
        loop {
            let r = g.remaining(&s);
            let next: Vec<(u8, u64)> = (0..=255u8)
                .filter_map(|b| {
                    let mut t = s;
                    t.step(g, b).then(|| (b, g.remaining(&t)))
                })
                .collect();
            if s.is_complete() {
                assert_eq!(r, 0);
                assert!(next.is_empty());
                break;
            }
            let context = String::from_utf8_lossy(&bytes).to_string();
            assert!(r > 0, "0 to go before the call is complete: {context}");
            assert_eq!(next.iter().map(|&(_, n)| n).min(), Some(r - 1), "after {context}");
            // It keeps to itself, and it finishes a valid call.
            let rest = g.completion(&s);
            let mut after = s;
            assert!(after.step(g, rest[0]));
            assert_eq!(g.completion(&after), rest[1..], "after {context}");
            let mut whole = s;
            assert!(whole.feed(g, &rest) && whole.is_complete(), "after {context}");
            if walk % 4 == 0 && bytes.len() % 9 == 0 {
                let mut call = bytes.clone();
                call.extend(rest);
                check_call(&String::from_utf8(call).unwrap(), all).unwrap();
            }
            states += 1;
            let (b, _) = next[rng.gen_range(0..next.len())];
            assert!(s.step(g, b));
            bytes.push(b);
        }
        check_call(&String::from_utf8(bytes).unwrap(), all).unwrap();
    }
    states
}

/// Numbers whose shortest value is not `0`: narrow and exclusive bounds, negative ranges,
/// large multiples. The completion writes a shortest valid value (of those, the smallest
/// integer, or the number nearest zero), and random walks into them keep it exact.
#[test]
fn completions_of_tightly_bounded_numbers() {
    let numbers = ToolSpec {
        name: "numbers".into(),
        description: "tight bounds".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "narrow": {"type": "number", "exclusiveMinimum": 0.5, "exclusiveMaximum": 0.5001},
                "neg": {"type": "number", "minimum": -7.25, "maximum": -7.2},
                "big": {"type": "integer", "minimum": 1000, "multipleOf": 7},
                "negint": {"type": "integer", "maximum": -30, "multipleOf": 4},
                "farneg": {"type": "number", "maximum": -1000.5},
                "tiny": {"type": "number", "minimum": 0.000123, "maximum": 0.000124}
            },
            "required": ["narrow", "neg", "big", "negint", "farneg", "tiny"]
        }),
    };
    let all = vec![numbers];
    let g = Grammar::new(&all, GrammarOptions { max_string_chars: 8, max_items: 3, max_depth: 5 }).unwrap();
    let shortest = String::from_utf8(g.completion(&g.start())).unwrap();
    // serde_json keeps properties sorted by name.
    assert_eq!(
        shortest,
        r#"{"name":"numbers","arguments":{"big":1001,"farneg":-1001,"narrow":0.50001,"neg":-7.2,"negint":-96,"tiny":0.000123}}"#
    );
    check_call(&shortest, &all).unwrap();
    let states = walk_checking_completions(&g, &all, "numbers", 60, 8);
    assert!(states > 1000, "{states}");
}

/// With a token budget, a call is opened only with room to finish it, and every call opened
/// is finished before the budget runs out: random walks through the mask (favouring a call,
/// so calls start late too) end with complete, valid calls only, whatever the budget. The
/// same walks without a budget leave calls open, so the test can fail.
#[test]
fn a_budget_closes_every_call_in_time() {
    let tok = tokenizer();
    // Every byte is a token of its own, so a call can always be finished a byte a token.
    let singles: std::collections::BTreeSet<u8> = (NUM_SPECIAL as u32..tok.vocab_size() as u32)
        .filter_map(|id| tok.token_bytes(id).filter(|b| b.len() == 1).map(|b| b[0]))
        .collect();
    assert_eq!(singles.len(), 256);
    let trie = Arc::new(TokenTrie::new(&tok));
    let all = specs();
    let g = Arc::new(grammar());
    // The count the budget keeps to drops by exactly one along its own tokenization, so a
    // call within budget always has a token that keeps it there.
    let vocab: std::collections::HashSet<&[u8]> =
        (NUM_SPECIAL as u32..tok.vocab_size() as u32).filter_map(|id| tok.token_bytes(id)).collect();
    let mut rng = StdRng::seed_from_u64(9);
    for _ in 0..60 {
        let mut s = g.start();
        while !s.is_complete() {
            let rest = g.completion(&s);
            let n = trie.tokens_to_finish(&g, &s);
            let first = (1..=rest.len()).rev().find(|&k| vocab.contains(&rest[..k])).unwrap();
            let mut t = s;
            assert!(t.feed(&g, &rest[..first]));
            assert_eq!(trie.tokens_to_finish(&g, &t), n - 1, "{:?}", String::from_utf8_lossy(&rest));
            let ok: Vec<u8> = (0..=255u8).filter(|&b| s.clone().step(&g, b)).collect();
            assert!(s.step(&g, ok[rng.gen_range(0..ok.len())]));
        }
    }
    let shortest = trie.tokens_to_finish(&g, &g.start()) as usize;
    assert!(shortest < g.remaining(&g.start()) as usize / 2, "{shortest} tokens");
    let mut rng = StdRng::seed_from_u64(3);
    let (mut cut_without, mut closed_with) = (0, 0);
    for walk in 0..160u64 {
        let budget = rng.gen_range(1..shortest + 60);
        let choice = match walk % 4 {
            0 => ToolChoice::Named("kitchen_sink".into()),
            1 => ToolChoice::Required,
            _ => ToolChoice::Auto,
        };
        for budgeted in [true, false] {
            let mut c = CallConstraint::new(g.clone(), trie.clone(), choice.clone()).unwrap();
            let mut ids = Vec::new();
            let mut logits = vec![0f32; tok.vocab_size()];
            let mut walk_rng = StdRng::seed_from_u64(walk);
            while ids.len() < budget {
                if budgeted {
                    c.budget(budget - ids.len());
                }
                logits.iter_mut().for_each(|v| *v = 0.0);
                c.mask(&mut logits);
                let allowed: Vec<u32> = (0..logits.len() as u32).filter(|&i| logits[i as usize] == 0.0).collect();
                let next = if allowed.contains(&TOOL_CALL) && walk_rng.gen_range(0..3) == 0 {
                    TOOL_CALL
                } else {
                    allowed[walk_rng.gen_range(0..allowed.len())]
                };
                c.accept(next);
                ids.push(next);
                if next == END || next == thau::tokenizer::EOS {
                    break;
                }
            }
            let mut open: Option<usize> = None;
            let mut closed = 0;
            for (i, &id) in ids.iter().enumerate() {
                if id == TOOL_CALL {
                    open = Some(i);
                } else if id == TOOL_CALL_END {
                    let start = open.take().expect("a close without an open");
                    check_call(&tok.decode(&ids[start + 1..i]), &all).unwrap();
                    closed += 1;
                }
            }
            let forced = matches!(choice, ToolChoice::Named(_) | ToolChoice::Required);
            let needs = match &choice {
                ToolChoice::Named(n) => trie.tokens_to_finish(&g, &g.start_named(n).unwrap()) as usize,
                _ => shortest,
            };
            let room = budget >= needs + 2;
            if budgeted {
                closed_with += closed;
                if room || !forced {
                    assert!(
                        open.is_none(),
                        "walk {walk} (budget {budget}): a call was left open: {:?}",
                        tok.decode(&ids)
                    );
                }
                if forced && room {
                    assert!(closed >= 1, "walk {walk} (budget {budget}): the required call is missing");
                }
            } else if open.is_some() {
                cut_without += 1;
            }
        }
    }
    assert!(closed_with > 60, "only {closed_with} calls closed under budgets");
    assert!(cut_without > 20, "only {cut_without} walks cut a call without a budget");
}

fn random_model(tok: &Tokenizer, seed: u64) -> InferModel {
    let cfg = ModelConfig {
        name: "tools-test".into(),
        vocab_size: tok.vocab_size(),
        d_model: 64,
        n_layers: 1,
        n_heads: 2,
        n_kv_heads: 1,
        head_dim: 32,
        ffn_hidden: 128,
        max_seq_len: 1024,
        rope_theta: 10_000.0,
        norm_eps: 1e-5,
        tie_embeddings: true,
    };
    let llama = Llama::new_random(&cfg, seed, &candle_core::Device::Cpu).unwrap();
    InferModel::from_llama(&llama, WeightDtype::F32).unwrap()
}

/// A random-weight model, sampled at temperature 1 with tool_choice=required: every call it
/// writes is complete, parses and validates.
/// The tokens `model` samples (temperature 1, `seed`) after `prompt` under `constraint`.
fn sample_constrained(
    model: &InferModel,
    tok: &Tokenizer,
    prompt: &[u32],
    constraint: &mut CallConstraint,
    max_tokens: usize,
    seed: u64,
) -> Vec<u32> {
    let opts = GenerateOptions {
        max_tokens,
        sampling: SamplingOptions { temperature: 1.0, seed, ..SamplingOptions::greedy() },
        stop: Vec::new(),
        stop_at_eos: true,
    };
    let never = AtomicBool::new(false);
    let c = constraint as &mut dyn LogitsConstraint;
    generate_ids_with(model, tok, &mut KvState::default(), prompt, &opts, Some(c), &never, &mut |_| true)
        .unwrap()
        .tokens
}

#[test]
fn a_random_model_under_constraints_only_writes_valid_calls() {
    let tok = tokenizer();
    let trie = Arc::new(TokenTrie::new(&tok));
    let g =
        Arc::new(Grammar::new(&specs(), GrammarOptions { max_string_chars: 12, max_items: 3, max_depth: 5 }).unwrap());
    let all = specs();
    let model = random_model(&tok, 3);
    let mut prompt = vec![BOS, USER];
    prompt.extend(tok.encode("Genera una imagen de un perro astronauta"));
    prompt.extend([END, ASSISTANT]);
    let mut calls = 0;
    for seed in 0..12 {
        let choice = if seed % 3 == 0 { ToolChoice::Named("kitchen_sink".into()) } else { ToolChoice::Required };
        let mut c = CallConstraint::new(g.clone(), trie.clone(), choice).unwrap().with_max_calls(2);
        let ids = &sample_constrained(&model, &tok, &prompt, &mut c, 900, seed);
        assert_eq!(ids[0], TOOL_CALL, "seed {seed}: required choice must open a call");
        // Split into calls; each must be closed and valid.
        let mut i = 0;
        while i < ids.len() {
            assert_eq!(ids[i], TOOL_CALL, "seed {seed}: text between calls: {}", tok.decode(ids));
            let end = ids[i..].iter().position(|&t| t == TOOL_CALL_END).map(|p| p + i);
            let Some(end) = end else { panic!("seed {seed}: unclosed call: {}", tok.decode(&ids[i..])) };
            check_call(&tok.decode(&ids[i + 1..end]), &all).unwrap();
            calls += 1;
            i = end + 1;
        }
    }
    assert!(calls >= 12);
}

/// The decoder tells the constraint its budget: with `max_tokens` barely above the shortest
/// call, a random model still closes every call it opens, and each parses and validates.
#[test]
fn a_short_max_tokens_still_closes_the_call() {
    let tok = tokenizer();
    let trie = Arc::new(TokenTrie::new(&tok));
    let g = Arc::new(grammar());
    let all = specs();
    let model = random_model(&tok, 4);
    let mut prompt = vec![BOS, USER];
    prompt.extend(tok.encode("Dibuja un gato"));
    prompt.extend([END, ASSISTANT]);
    let shortest = trie.tokens_to_finish(&g, &g.start_named("kitchen_sink").unwrap()) as usize;
    for seed in 0..10u64 {
        let choice = if seed % 2 == 0 { ToolChoice::Named("kitchen_sink".into()) } else { ToolChoice::Required };
        let mut c = CallConstraint::new(g.clone(), trie.clone(), choice).unwrap();
        let max_tokens = shortest + 2 + 3 * seed as usize;
        let ids = &sample_constrained(&model, &tok, &prompt, &mut c, max_tokens, seed);
        assert!(ids.len() <= max_tokens);
        let end = ids.iter().position(|&t| t == TOOL_CALL_END);
        let Some(end) = end else { panic!("seed {seed}: the call was cut: {}", tok.decode(ids)) };
        assert_eq!(ids[0], TOOL_CALL);
        check_call(&tok.decode(&ids[1..end]), &all).unwrap();
    }
}

#[test]
fn tool_choice_none_and_auto_masks() {
    let tok = tokenizer();
    let trie = Arc::new(TokenTrie::new(&tok));
    let g = Arc::new(grammar());
    let mut logits = vec![0f32; tok.vocab_size()];
    let mut none = CallConstraint::new(g.clone(), trie.clone(), ToolChoice::None).unwrap();
    none.mask(&mut logits);
    assert_eq!(logits[TOOL_CALL as usize], f32::NEG_INFINITY);
    assert_eq!(logits[END as usize], 0.0);
    let mut logits = vec![0f32; tok.vocab_size()];
    let mut auto = CallConstraint::new(g.clone(), trie.clone(), ToolChoice::Auto).unwrap();
    auto.mask(&mut logits);
    assert_eq!(logits[TOOL_CALL as usize], 0.0);
    assert_eq!(logits[TOOL_CALL_END as usize], f32::NEG_INFINITY);
    let mut logits = vec![0f32; tok.vocab_size()];
    let mut req = CallConstraint::new(g, trie, ToolChoice::Required).unwrap();
    req.mask(&mut logits);
    assert_eq!(logits.iter().filter(|v| **v == 0.0).count(), 1);
    assert_eq!(logits[TOOL_CALL as usize], 0.0);
}

// ---- registry, built-ins, user tools, parser, loop -------------------------------------------

use std::path::PathBuf;
use std::time::Duration;
use thau::infer::Engine;
use thau::vision::ImageRequest;

/// A tool that sleeps, fails or panics on request.
struct Flaky;

impl Tool for Flaky {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "flaky".into(),
            description: "misbehaves".into(),
            parameters: json!({"type": "object", "properties": {"how": {"type": "string", "enum": ["sleep", "fail", "panic", "ok"]}}, "required": ["how"]}),
        }
    }
    fn timeout(&self) -> Option<Duration> {
        // Room for the panic hook to print a backtrace before the unwind reaches the registry,
        // even on a loaded CI machine (2 s was not always enough); "sleep" outlasts it.
        Some(Duration::from_secs(15))
    }
    fn call(&self, args: &Value, _ctx: &ToolContext) -> thau::Result<ToolOutput> {
        match args["how"].as_str() {
            Some("sleep") => {
                std::thread::sleep(Duration::from_secs(60));
                Ok(ToolOutput::text("late"))
            }
            Some("fail") => Err(thau::Error::invalid("how", "asked to fail")),
            Some("panic") => panic!("asked to panic"),
            _ => Ok(ToolOutput::text("fine")),
        }
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(Calculator)).unwrap();
    r.register(Arc::new(CurrentDatetime)).unwrap();
    r.register(Arc::new(Flaky)).unwrap();
    r
}

#[test]
fn the_registry_reports_every_failure_and_goes_on() {
    let r = registry();
    assert_eq!(r.call("calculator", &json!({"expression": "0.1 + 0.2"})).unwrap().text, "0.3");
    assert!(r.call("current_datetime", &json!({})).unwrap().text.contains("UTC"));
    let err = |name: &str, args: Value| r.call(name, &args).unwrap_err();
    let e = err("weather", json!({}));
    assert!(matches!(e, CallError::UnknownTool { .. }));
    assert!(e.to_string().contains("calculator, current_datetime, flaky"), "{e}");
    let e = err("calculator", json!({"expr": "1"}));
    assert!(e.to_string().contains("'expression' is missing"), "{e}");
    let e = err("calculator", json!({"expression": "1/0"}));
    assert!(matches!(e, CallError::Failed { .. }) && e.to_string().contains("division by zero"), "{e}");
    assert!(matches!(err("flaky", json!({"how": "sleep"})), CallError::TimedOut { .. }));
    assert!(err("flaky", json!({"how": "fail"})).to_string().contains("asked to fail"));
    assert!(err("flaky", json!({"how": "panic"})).to_string().contains("crashed"));
    assert!(err("flaky", json!({"how": "dance"})).to_string().contains("not one of"));
    assert_eq!(r.call("flaky", &json!({"how": "ok"})).unwrap().text, "fine");
    // Names are checked, duplicates refused.
    let mut r = registry();
    assert!(r.register(Arc::new(Calculator)).unwrap_err().to_string().contains("already registered"));
}

#[test]
fn memory_tools_store_search_and_recall() {
    let dir = tempfile::tempdir().unwrap();
    let store = thau::memory::MemoryStore::open(&dir.path().join("m.sqlite")).unwrap();
    let retriever = thau::memory::Retriever::new(store, None).unwrap();
    let access = MemoryAccess::new(retriever, "ana");
    let mut r = Registry::new();
    for t in access.tools() {
        r.register(t).unwrap();
    }
    let saved = r.call("remember", &json!({"text": "Mi perro se llama Toby", "importance": 8})).unwrap();
    assert!(saved.text.starts_with("saved memory #"), "{}", saved.text);
    let found = r.call("search_memory", &json!({"query": "perro"})).unwrap();
    assert_eq!(found.text, "1. Mi perro se llama Toby");
    let none = r.call("search_memory", &json!({"query": "gato"})).unwrap();
    assert!(none.text.contains("No memories"), "{}", none.text);
    let today = r.call("recall", &json!({"when": "hoy"})).unwrap();
    assert!(today.text.contains("Mi perro se llama Toby"), "{}", today.text);
    assert!(r.call("remember", &json!({"text": "   "})).unwrap_err().to_string().contains("empty"));
}

struct FileBackend(PathBuf);

impl ImageBackend for FileBackend {
    fn name(&self) -> String {
        "test".into()
    }
    fn generate(&self, req: &ImageRequest, _ctx: &ToolContext) -> thau::Result<Vec<PathBuf>> {
        (0..req.count)
            .map(|i| {
                let p = self.0.join(format!("{}-{i}.png", req.seed.unwrap()));
                std::fs::write(&p, format!("{}x{} {}", req.width, req.height, req.prompt)).unwrap();
                Ok(p)
            })
            .collect()
    }
}

#[test]
fn generate_image_answers_with_the_saved_paths() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Registry::new();
    r.register(Arc::new(GenerateImage::new(Arc::new(FileBackend(dir.path().into())), Duration::from_secs(5)))).unwrap();
    let out = r.call("generate_image", &json!({"prompt": "a dog astronaut", "seed": 7, "count": 2})).unwrap();
    assert_eq!(out.files.len(), 2);
    assert_eq!(out.text.lines().count(), 2);
    assert_eq!(std::fs::read_to_string(&out.files[0]).unwrap(), "512x512 a dog astronaut");
    let mut r = Registry::new();
    r.register(Arc::new(GenerateImage::unavailable())).unwrap();
    let e = r.call("generate_image", &json!({"prompt": "x"})).unwrap_err();
    assert!(e.to_string().contains("--image-model"), "{e}");
}

#[test]
fn user_tools_run_allowed_commands_and_http_endpoints_only() {
    // Commands: argv only, allow-listed, killed at their timeout.
    let file = r#"
        allow_commands = ["/bin/echo", "/bin/sleep"]
        [[tool]]
        name = "echo"
        description = "say it"
        parameters = { type = "object", properties = { text = { type = "string" } }, required = ["text"] }
        command = { program = "/bin/echo", args = ["said:", "{text}"] }
        [[tool]]
        name = "nap"
        timeout_secs = 0.3
        parameters = { type = "object", properties = {} }
        command = { program = "/bin/sleep", args = ["5"] }
    "#;
    let mut r = Registry::new();
    for t in parse_tools(file, true).unwrap() {
        r.register(t).unwrap();
    }
    let out = r.call("echo", &json!({"text": "hola; rm -rf / $(id)"})).unwrap();
    assert_eq!(out.text, "said: hola; rm -rf / $(id)");
    let e = r.call("nap", &json!({})).unwrap_err();
    assert!(e.to_string().contains("timeout") || matches!(e, CallError::TimedOut { .. }), "{e}");
    let refused = r#"{"tool": [{"name": "rm", "command": {"program": "/bin/rm", "args": ["-rf", "{path}"]}}]}"#;
    let e = parse_tools(refused, false).err().unwrap();
    assert!(e.contains("not in allow_commands"), "{e}");
    assert!(parse_tools(r#"{"tool": [{"name": "x"}]}"#, false).err().unwrap().contains("neither http nor command"));
    assert!(parse_tools(r#"{"tool": [{"name": "x y", "http": {"url": "http://a"}}]}"#, false).is_err());
    assert!(parse_tools(r#"{"tools": [], "surprise": 1}"#, false).is_err());

    // HTTP: a one-shot server on a local port gets the arguments as a JSON body.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Read, Write};
        let (mut sock, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(sock.try_clone().unwrap());
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let reply = format!("{{\"got\":{}}}", String::from_utf8(body).unwrap());
        write!(sock, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}", reply.len()).unwrap();
    });
    let file = format!(
        r#"{{"tool": [{{"name": "weather", "parameters": {{"type": "object", "properties": {{"city": {{"type": "string"}}}}}},
            "http": {{"url": "http://127.0.0.1:{port}/w"}}}}]}}"#
    );
    let mut r = Registry::new();
    for t in parse_tools(&file, false).unwrap() {
        r.register(t).unwrap();
    }
    let out = r.call("weather", &json!({"city": "Lima"})).unwrap();
    server.join().unwrap();
    assert_eq!(out.data.unwrap(), json!({"got": {"city": "Lima"}}));
}

#[test]
fn calls_are_parsed_from_ids_and_text_and_malformed_ones_say_why() {
    let tok = tokenizer();
    let call = ToolCall::new("calculator", json!({"expression": "2+2"}));
    let mut ids = tok.encode("Voy a calcular. ");
    ids.push(TOOL_CALL);
    ids.extend(tok.encode(&call.to_json()));
    ids.push(TOOL_CALL_END);
    ids.push(TOOL_CALL);
    ids.extend(tok.encode(r#"{"name":"calculator","arguments":{"expression":"#));
    ids.push(TOOL_CALL_END);
    ids.push(TOOL_CALL);
    ids.extend(tok.encode(r#"{"name":"x"}"#));
    let turn = parse_ids(&tok, &ids);
    assert_eq!(turn.content, "Voy a calcular.");
    assert_eq!(turn.calls.len(), 3);
    assert_eq!(turn.calls[0].as_ref().unwrap(), &call);
    assert!(turn.calls[1].as_ref().unwrap_err().to_string().contains("not valid JSON"));
    assert!(turn.calls[2].as_ref().unwrap_err().to_string().contains("cut off"));
    // Text spelling (streams, other engines): OpenAI-style string arguments are accepted.
    let t = parse_text(
        r#"ok<|tool_call|>{"name": "calculator", "arguments": "{\"expression\": \"1\"}"}<|/tool_call|><|end|>"#,
    );
    assert_eq!(t.content, "ok");
    assert_eq!(t.calls[0].as_ref().unwrap().arguments, json!({"expression": "1"}));
    assert!(parse_text("<|tool_call|>[1]<|/tool_call|>").calls[0].is_err());
    assert!(parse_text(r#"<|tool_call|>{"arguments":{}}<|/tool_call|>"#).calls[0]
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("no \"name\""));
}

/// The loop with a random-weight model forced to call: each call runs (or fails) and its result
/// comes back as a tool message; the last round answers without tools.
#[test]
fn the_tool_loop_runs_calls_feeds_results_back_and_ends_with_an_answer() {
    let tok = tokenizer();
    let trie = Arc::new(TokenTrie::new(&tok));
    let engine = Engine::spawn("random", random_model(&tok, 5), tok).unwrap();
    let r = registry();
    let opts = LoopOptions {
        generate: GenerateOptions {
            max_tokens: 120,
            sampling: SamplingOptions { temperature: 1.0, seed: 3, ..SamplingOptions::greedy() },
            stop: Vec::new(),
            stop_at_eos: true,
        },
        choice: ToolChoice::Named("flaky".into()),
        max_rounds: 2,
        constrained: true,
        grammar: GrammarOptions { max_string_chars: 8, max_items: 2, max_depth: 4 },
        call_threshold: None,
    };
    let history = vec![Message::user("¿Cuánto es 2+2?")];
    let mut calls = Vec::new();
    let mut results = 0;
    let out = run_tool_loop(&engine, &r, Some(&trie), &history, &opts, None, &mut |ev| match ev {
        LoopEvent::Call(c) => calls.push(c.clone()),
        LoopEvent::Result { .. } => results += 1,
        _ => {}
    })
    .unwrap();
    assert!(out.rounds >= 1 && out.rounds <= 2);
    assert_eq!(calls[0].name, "flaky", "the named choice forces the first call");
    assert_eq!(calls.len(), results);
    let tool_msgs = out.messages.iter().filter(|m| m.role == Role::Tool).count();
    assert_eq!(tool_msgs, calls.len());
    let last = out.messages.last().unwrap();
    assert_eq!(last.role, Role::Assistant);
    assert!(last.tool_calls.is_empty());
    // An unknown named tool is refused up front.
    let bad = LoopOptions { choice: ToolChoice::Named("nope".into()), ..opts };
    assert!(run_tool_loop(&engine, &r, Some(&trie), &history, &bad, None, &mut |_| {}).is_err());
}

/// generate_image on the real Stable Diffusion pipeline (tiny random weights): the call's
/// arguments reach the pipeline and the answer names the saved PNG.
#[test]
fn generate_image_runs_the_vision_pipeline() {
    use thau::vision::{random::write_random_pipeline, ImagePipeline, LoadOptions, PipelineConfig};
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("sd");
    write_random_pipeline(&model, &PipelineConfig::tiny(600)).unwrap();
    let pipeline = ImagePipeline::load(model.to_str().unwrap(), &LoadOptions::default()).unwrap();
    let backend = thau::tools::VisionBackend::new(pipeline, dir.path().join("images")).unwrap();
    let mut r = Registry::new();
    r.register(Arc::new(GenerateImage::new(Arc::new(backend), Duration::from_secs(120)))).unwrap();
    let out = r
        .call(
            "generate_image",
            &json!({"prompt": "a photo of a dog", "width": 256, "height": 256, "steps": 2, "seed": 5}),
        )
        .unwrap();
    assert_eq!(out.files.len(), 1);
    assert!(out.files[0].starts_with(dir.path().join("images")) && out.files[0].extension().unwrap() == "png");
    assert!(std::fs::read(&out.files[0]).unwrap().starts_with(b"\x89PNG"));
    assert_eq!(out.text, out.files[0].display().to_string());
}

/// The CLI's chat, the server's native chat and the demo all register the built-ins through
/// `Registry::builtins`: in the order every training example lists them.
#[test]
fn builtins_are_registered_in_the_order_training_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = thau::memory::MemoryStore::open(&dir.path().join("m.sqlite")).unwrap();
    let access = thau::tools::MemoryAccess::new(thau::memory::Retriever::new(store, None).unwrap(), "ana");
    let all = thau::tools::Registry::builtins(thau::tools::GenerateImage::unavailable(), Some(access)).unwrap();
    assert_eq!(all.specs(), thau::tools::builtin_specs().as_slice());
    let bare = thau::tools::Registry::builtins(thau::tools::GenerateImage::unavailable(), None).unwrap();
    assert_eq!(bare.names(), ["generate_image", "calculator", "current_datetime"]);
}
