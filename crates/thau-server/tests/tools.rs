//! Tool calls over the APIs, in each client's native shape: OpenAI `tool_calls` with
//! `arguments` as a JSON string and `finish_reason: "tool_calls"` (whole and as stream
//! deltas), Ollama `message.tool_calls` with `arguments` as an object; requests carrying
//! earlier calls and tool results are accepted; bad tool declarations get 400. The model has
//! random weights: `tool_choice` makes it call, the grammar makes the call valid.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use thau::infer::{Engine, InferModel, WeightDtype};
use thau::model::{Llama, ModelConfig};
use thau::tokenizer::Tokenizer;
use thau_server::{router, AppState, ServerConfig};
use tower::ServiceExt;

fn app() -> Router {
    let text = thau::data::synthetic::bilingual_corpus(1, 20_000);
    let tok = Tokenizer::train(text.into_iter().map(|d| d.text), 300).unwrap();
    let cfg = ModelConfig { vocab_size: tok.vocab_size(), max_seq_len: 512, ..ModelConfig::tiny() };
    let llama = Llama::new_random(&cfg, 1, &candle_core::Device::Cpu).unwrap();
    let engine = Engine::spawn("tiny", InferModel::from_llama(&llama, WeightDtype::F32).unwrap(), tok).unwrap();
    router(AppState::new(engine, ServerConfig::new("127.0.0.1:0".parse().unwrap(), "thau-test")))
}

async fn post(app: &Router, uri: &str, body: Value) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status, body.collect().await.unwrap().to_bytes().to_vec())
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(b)))
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather", "description": "weather for a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "enum": ["Lima", "Quito"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7}},
            "required": ["city", "days"]}}})
}

fn check_arguments(args: &Value) {
    assert!(["Lima", "Quito"].contains(&args["city"].as_str().unwrap()), "{args}");
    assert!((1..=7).contains(&args["days"].as_i64().unwrap()), "{args}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_and_ollama_clients_get_tool_calls_in_their_shapes() {
    let app = app();
    let messages = json!([{"role": "user", "content": "¿Qué tiempo hace en Lima?"}]);
    // OpenAI, whole answer.
    let (st, b) = post(
        &app,
        "/v1/chat/completions",
        json!({"messages": messages, "tools": [weather_tool()],
        "tool_choice": "required", "parallel_tool_calls": false, "max_tokens": 200, "seed": 1}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v = json_of(&b);
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
    assert_eq!(choice["message"]["tool_calls"].as_array().unwrap().len(), 1, "parallel_tool_calls: false");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    check_arguments(&args);

    // OpenAI, streamed: the call arrives as deltas that add up to the same shape.
    let (st, b) = post(&app, "/v1/chat/completions", json!({"messages": messages, "tools": [weather_tool()],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "parallel_tool_calls": false, "max_tokens": 200,
        "seed": 2, "stream": true})).await;
    assert_eq!(st, StatusCode::OK);
    let text = String::from_utf8(b).unwrap();
    let data: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(*data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| json_of(d.as_bytes())).collect();
    let (mut name, mut arguments, mut finish) = (String::new(), String::new(), None);
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        if let Some(tc) = c["choices"][0]["delta"]["tool_calls"].as_array() {
            assert_eq!(tc[0]["index"], 0);
            name.push_str(tc[0]["function"]["name"].as_str().unwrap_or_default());
            arguments.push_str(tc[0]["function"]["arguments"].as_str().unwrap_or_default());
        }
        if let Some(f) = c["choices"][0]["finish_reason"].as_str() {
            finish = Some(f.to_string());
        }
    }
    assert_eq!(name, "get_weather");
    check_arguments(&serde_json::from_str(&arguments).unwrap());
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    assert!(!text.contains("<|tool_call|>"), "call markup leaked into content: {text}");

    // Ollama: arguments as an object.
    let (st, b) = post(
        &app,
        "/api/chat",
        json!({"model": "thau-test", "messages": messages, "tools": [weather_tool()],
        "tool_choice": "required", "stream": false, "options": {"num_predict": 200, "seed": 3}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v = json_of(&b);
    assert_eq!(v["done"], true);
    let call = &v["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "get_weather");
    check_arguments(&call["arguments"]);
    // Ollama streamed: one line carries the calls, the last is done.
    let (st, b) = post(
        &app,
        "/api/chat",
        json!({"model": "thau-test", "messages": messages, "tools": [weather_tool()],
        "tool_choice": "required", "options": {"num_predict": 200, "seed": 4}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let lines: Vec<Value> = String::from_utf8(b).unwrap().lines().map(|l| json_of(l.as_bytes())).collect();
    assert_eq!(lines.last().unwrap()["done"], true);
    let with_calls: Vec<&Value> = lines.iter().filter(|l| l["message"]["tool_calls"].is_array()).collect();
    assert_eq!(with_calls.len(), 1);
    check_arguments(&with_calls[0]["message"]["tool_calls"][0]["function"]["arguments"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earlier_calls_and_results_are_accepted_and_bad_tools_refused() {
    let app = app();
    // A conversation that already holds a call and its result, in both APIs' shapes.
    let openai = json!([
        {"role": "user", "content": "¿Qué tiempo hace en Lima?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Lima\",\"days\":1}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 °C, nublado"}
    ]);
    let (st, b) = post(
        &app,
        "/v1/chat/completions",
        json!({"messages": openai, "tools": [weather_tool()],
        "tool_choice": "none", "max_tokens": 5}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v = json_of(&b);
    assert_ne!(v["choices"][0]["finish_reason"], "tool_calls");
    assert!(v["choices"][0]["message"].get("tool_calls").is_none());
    let ollama = json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Quito", "days": 2}}}]},
        {"role": "tool", "content": "20 °C"}
    ]);
    let (st, _) = post(
        &app,
        "/api/chat",
        json!({"model": "thau-test", "messages": ollama, "stream": false,
        "options": {"num_predict": 3}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);

    let bad = |tools: Value, choice: Value| json!({"messages": [{"role": "user", "content": "x"}], "tools": tools, "tool_choice": choice, "max_tokens": 3});
    for (tools, choice, why) in [
        (json!([{"type": "function", "function": {"name": "a b"}}]), Value::Null, "not a valid tool name"),
        (json!([{"type": "retrieval"}]), Value::Null, "not supported"),
        (json!([weather_tool(), weather_tool()]), Value::Null, "declared twice"),
        (json!([weather_tool()]), json!({"type": "function", "function": {"name": "nope"}}), "not among the tools"),
        (json!([weather_tool()]), json!("sometimes"), "not one of"),
        (json!([]), json!("required"), "no tools"),
        (
            json!([{"type": "function", "function": {"name": "t", "parameters": {"type": "object",
            "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 2}}}}}]),
            Value::Null,
            "integer",
        ),
    ] {
        let (st, b) = post(&app, "/v1/chat/completions", bad(tools, choice)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{why}: {}", String::from_utf8_lossy(&b));
        let msg = json_of(&b)["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains(why), "{why}: {msg}");
    }
    let wrong_args = json!([{"role": "assistant", "tool_calls": [{"function": {"name": "x", "arguments": "[1]"}}]}]);
    let (st, _) = post(&app, "/v1/chat/completions", json!({"messages": wrong_args})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[path = "../../thau/tests/common/foreign_gguf.rs"]
mod foreign_gguf;

/// A model from a GGUF THAU did not write (its own vocabulary, ChatML template) chats over
/// both APIs; tools, which need THAU's tool-call tokens, get a 400 that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_vocabulary_chats_but_refuses_tools() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spm.gguf");
    foreign_gguf::write(&path);
    let g = thau::import::read_gguf(&path).unwrap();
    let model = InferModel::from_qtensors(&g.cfg, &g.tensors, None).unwrap();
    let engine = Engine::spawn(g.name.clone(), model, g.tokenizer).unwrap();
    let app = router(AppState::new(engine, ServerConfig::new("127.0.0.1:0".parse().unwrap(), "thau-test")));
    let messages = json!([{"role": "user", "content": "hola mundo"}]);

    let (status, body) =
        post(&app, "/v1/chat/completions", json!({"messages": messages, "max_tokens": 4, "temperature": 0})).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert!(json_of(&body)["choices"][0]["message"]["content"].is_string());
    let (status, body) =
        post(&app, "/v1/chat/completions", json!({"messages": messages, "max_tokens": 4, "tools": [weather_tool()]}))
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("own vocabulary"), "{}", String::from_utf8_lossy(&body));
    let (status, body) = post(
        &app,
        "/api/chat",
        json!({"model": "thau-test", "messages": messages, "stream": false, "tools": [weather_tool()]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("own vocabulary"), "{}", String::from_utf8_lossy(&body));
}
