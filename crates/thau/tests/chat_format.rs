//! The exported Jinja chat template renders a conversation (tools in the system prompt, tool
//! calls in assistant turns, tool results) to the same token ids as THAU's own `render` of
//! `with_tools(...)`. Needs a Python with jinja2 (the verify venv, `$THAU_VERIFY_PYTHON`);
//! skipped loudly without one unless `THAU_REQUIRE_VERIFY=1`.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use thau::tokenizer::{render, with_tools, Message, Tokenizer, ToolCall, CHAT_TEMPLATE_JINJA};
use thau::tools::builtin_specs;

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("THAU_VERIFY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-verify/bin/python"));
    let ok = Command::new(&p).args(["-c", "import jinja2"]).output().is_ok_and(|o| o.status.success());
    if ok {
        return Some(p);
    }
    if std::env::var("THAU_REQUIRE_VERIFY").as_deref() == Ok("1") {
        panic!("THAU_REQUIRE_VERIFY=1 but {} cannot import jinja2", p.display());
    }
    eprintln!("\n!!!!! SKIPPED: no Python with jinja2 at {} (set THAU_VERIFY_PYTHON) !!!!!\n", p.display());
    None
}

/// Render with Jinja2 as transformers and llama-cpp-python do (trim_blocks, lstrip_blocks).
fn jinja(python: &Path, messages: &Value, tools: &Value) -> String {
    let script = r#"
import json, sys, jinja2
env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
def raise_exception(m): raise Exception(m)
env.globals["raise_exception"] = raise_exception
args = json.loads(sys.stdin.read())
t = env.from_string(args["template"])
kw = {"messages": args["messages"], "bos_token": "<|bos|>", "add_generation_prompt": True}
if args["tools"] is not None: kw["tools"] = args["tools"]
sys.stdout.write(json.dumps(t.render(**kw)))
"#;
    let input = json!({"template": CHAT_TEMPLATE_JINJA, "messages": messages, "tools": tools}).to_string();
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "jinja2 failed:\n{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn tokenizer() -> Tokenizer {
    let texts = [
        "Hola, ¿qué tal? Hello there. {\"name\":\"calculator\",\"arguments\":{\"expression\":\"2+2\"}} 4 images/a.png",
    ];
    Tokenizer::train(texts.iter().map(|s| s.to_string()).cycle().take(20), 400).unwrap()
}

/// Messages as an OpenAI client sends them back: call arguments as compact JSON strings.
fn openai_messages(msgs: &[Message]) -> Value {
    Value::Array(
        msgs.iter()
            .map(|m| {
                let mut v = json!({"role": m.role.as_str(), "content": m.content});
                if !m.tool_calls.is_empty() {
                    v["tool_calls"] = m
                        .tool_calls
                        .iter()
                        .map(|c| {
                            json!({"id": "call_1", "type": "function",
                                         "function": {"name": c.name, "arguments": c.arguments.to_string()}})
                        })
                        .collect();
                    if m.content.is_empty() {
                        v["content"] = Value::Null;
                    }
                }
                v
            })
            .collect(),
    )
}

#[test]
fn the_jinja_template_renders_tools_calls_and_results_like_render() {
    let Some(py) = python() else { return };
    let tok = tokenizer();
    let specs = builtin_specs();
    let tools: Value = specs.iter().map(|s| json!({"type": "function", "function": s})).collect();
    let calls = vec![
        ToolCall::new("calculator", json!({"expression": "2+2"})),
        ToolCall::new("generate_image", json!({"prompt": "un perro \"astronauta\"", "width": 512})),
    ];
    let cases: Vec<(Vec<Message>, bool)> = vec![
        // No tools: the plain chat format.
        (
            vec![
                Message::system("Eres THAU."),
                Message::user("Hola"),
                Message::assistant("¡Hola!"),
                Message::user("¿Y?"),
            ],
            false,
        ),
        // Tools, a system message, calls with and without text, results, a final answer.
        (
            vec![
                Message::system("Eres THAU."),
                Message::user("¿Cuánto es 2+2? Y dibuja un perro."),
                Message::assistant_calls("", calls.clone()),
                Message::tool("4"),
                Message::tool("images/a.png"),
                Message::assistant("2+2 = 4; la imagen está en images/a.png"),
                Message::user("Gracias"),
                Message::assistant_calls("Calculo:", calls[..1].to_vec()),
                Message::tool("error: division by zero"),
            ],
            true,
        ),
        // Tools without a system message (a new first one), and an empty system message.
        (vec![Message::user("hora?")], true),
        (vec![Message::system(""), Message::user("hora?")], true),
    ];
    for (msgs, with) in cases {
        let ours = render(&tok, &if with { with_tools(&msgs, &specs) } else { msgs.clone() }, true);
        let text = jinja(&py, &openai_messages(&msgs), &if with { tools.clone() } else { Value::Null });
        let theirs = tok.encode_with_specials(&text);
        assert_eq!(theirs, ours, "Jinja rendered:\n{text}\nTHAU:\n{}", tok.decode(&ours));
    }
    // THAU's own message shape (tool_calls as {name, arguments} objects) renders too.
    let msgs = vec![Message::user("2+2"), Message::assistant_calls("", calls[..1].to_vec())];
    let text = jinja(&py, &serde_json::to_value(&msgs).unwrap(), &Value::Null);
    assert!(
        text.contains("<|tool_call|>{\"name\":\"calculator\",\"arguments\":{\"expression\": \"2+2\"}}<|/tool_call|>"),
        "{text}"
    );
}
