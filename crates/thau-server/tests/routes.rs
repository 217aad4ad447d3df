//! Every route in-process (no socket): status codes, body shapes each API's clients expect, and
//! every error path a client can trigger.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use thau::infer::{Engine, InferModel, WeightDtype};
use thau::model::{Llama, ModelConfig};
use thau::tokenizer::Tokenizer;
use thau_server::{router, AppState, ServerConfig};
use tower::ServiceExt;

fn engine() -> Engine {
    let text = thau::data::synthetic::bilingual_corpus(1, 20_000);
    let tok = Tokenizer::train(text.into_iter().map(|d| d.text), 300).unwrap();
    let cfg = ModelConfig { vocab_size: tok.vocab_size(), max_seq_len: 128, ..ModelConfig::tiny() };
    let llama = Llama::new_random(&cfg, 1, &candle_core::Device::Cpu).unwrap();
    Engine::spawn("tiny", InferModel::from_llama(&llama, WeightDtype::F32).unwrap(), tok).unwrap()
}

fn app_with(f: impl FnOnce(&mut ServerConfig)) -> (Router, Arc<AppState>) {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "thau-test");
    f(&mut cfg);
    let state = AppState::new(engine(), cfg);
    (router(state.clone()), state)
}

fn app() -> Router {
    app_with(|_| {}).0
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
    let req = Request::builder().method(method).uri(uri).header(header::CONTENT_TYPE, "application/json");
    let req = req.body(body.map_or(Body::empty(), |b| Body::from(b.to_string()))).unwrap();
    raw(app, req).await
}

async fn raw(app: &Router, req: Request<Body>) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status, body.collect().await.unwrap().to_bytes().to_vec(), parts.headers)
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(b)))
}

/// OpenAI's error shape, with the expected status.
fn openai_error(status: StatusCode, got: (StatusCode, Vec<u8>, axum::http::HeaderMap), want: StatusCode) {
    let _ = status;
    assert_eq!(got.0, want, "{}", String::from_utf8_lossy(&got.1));
    let v = json_of(&got.1);
    assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(v["error"]["type"].is_string(), "{v}");
}

/// Ollama's error shape.
fn ollama_error(got: (StatusCode, Vec<u8>, axum::http::HeaderMap), want: StatusCode) {
    assert_eq!(got.0, want, "{}", String::from_utf8_lossy(&got.1));
    assert!(json_of(&got.1)["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_routes() {
    let app = app();
    let (st, b, _) = call(&app, "GET", "/v1/models", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json_of(&b)["data"][0]["id"], "thau-test");
    let (st, _, _) = call(&app, "GET", "/v1/models/thau-test", None).await;
    assert_eq!(st, StatusCode::OK);
    openai_error(StatusCode::OK, call(&app, "GET", "/v1/models/gpt-9", None).await, StatusCode::NOT_FOUND);

    let chat = json!({"model": "thau-test", "messages": [{"role": "system", "content": "Eres THAU."},
        {"role": "user", "content": [{"type": "text", "text": "¿Qué tal?"}]}], "max_tokens": 5, "temperature": 0, "seed": 1});
    let (st, b, _) = call(&app, "POST", "/v1/chat/completions", Some(chat.clone())).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v = json_of(&b);
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert!(["length", "stop"].contains(&v["choices"][0]["finish_reason"].as_str().unwrap()));
    let usage = &v["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 4);
    assert!(usage["completion_tokens"].as_u64().unwrap() <= 5);
    let text = v["choices"][0]["message"]["content"].as_str().unwrap().to_string();

    // Streaming: the same greedy text arrives as SSE chunks, then [DONE].
    let mut s = chat.clone();
    s["stream"] = json!(true);
    s["stream_options"] = json!({"include_usage": true});
    let (st, b, h) = call(&app, "POST", "/v1/chat/completions", Some(s)).await;
    assert_eq!(st, StatusCode::OK);
    assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/event-stream"));
    let body = String::from_utf8(b).unwrap();
    let datas: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(*datas.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = datas[..datas.len() - 1].iter().map(|d| json_of(d.as_bytes())).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    let streamed: String =
        chunks.iter().filter_map(|c| c["choices"].get(0).and_then(|ch| ch["delta"]["content"].as_str())).collect();
    assert_eq!(streamed, text);
    assert!(chunks.last().unwrap()["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let (st, b, _) = call(
        &app,
        "POST",
        "/v1/completions",
        Some(json!({"model": "thau-test", "prompt": "El barco", "max_tokens": 4})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json_of(&b)["object"], "text_completion");

    // Errors a client can cause: all 4xx in OpenAI's shape.
    let bad = |patch: Value| {
        let mut c = chat.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    for (req, want) in [
        (bad(json!({"model": "nope"})), StatusCode::NOT_FOUND),
        (bad(json!({"messages": []})), StatusCode::BAD_REQUEST),
        (bad(json!({"messages": [{"role": "wizard", "content": "hi"}]})), StatusCode::BAD_REQUEST),
        (bad(json!({"temperature": 7})), StatusCode::BAD_REQUEST),
        (bad(json!({"top_p": 0})), StatusCode::BAD_REQUEST),
        (bad(json!({"n": 3})), StatusCode::BAD_REQUEST),
        (bad(json!({"max_tokens": "many"})), StatusCode::BAD_REQUEST),
        (bad(json!({"stop": ["a", "b", "c", "d", "e"]})), StatusCode::BAD_REQUEST),
        (
            bad(json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        openai_error(StatusCode::OK, call(&app, "POST", "/v1/chat/completions", Some(req)).await, want);
    }
    let broken = Request::post("/v1/chat/completions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{oops"))
        .unwrap();
    openai_error(StatusCode::OK, raw(&app, broken).await, StatusCode::BAD_REQUEST);
    openai_error(StatusCode::OK, call(&app, "GET", "/v1/nothing", None).await, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_routes() {
    let app = app();
    let (st, b, _) = call(&app, "GET", "/api/tags", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json_of(&b)["models"][0]["name"], "thau-test:latest");
    let (_, b, _) = call(&app, "GET", "/api/version", None).await;
    assert!(json_of(&b)["version"].is_string());
    let (_, b, _) = call(&app, "GET", "/api/ps", None).await;
    assert_eq!(json_of(&b)["models"][0]["model"], "thau-test:latest");
    let (st, b, _) = call(&app, "POST", "/api/show", Some(json!({"model": "thau-test:latest"}))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json_of(&b)["model_info"]["general.architecture"], "llama");

    let gen = json!({"model": "thau-test", "prompt": "Hola", "stream": false, "options": {"num_predict": 4, "temperature": 0}});
    let (st, b, _) = call(&app, "POST", "/api/generate", Some(gen.clone())).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v = json_of(&b);
    assert_eq!(v["done"], true);
    assert!(v["eval_count"].as_u64().unwrap() <= 4);
    assert!(v["total_duration"].as_u64().unwrap() > 0);
    let mut streamed = gen.clone();
    streamed["stream"] = json!(true);
    let (st, b, h) = call(&app, "POST", "/api/generate", Some(streamed)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "application/x-ndjson");
    let lines: Vec<Value> = String::from_utf8(b).unwrap().lines().map(|l| json_of(l.as_bytes())).collect();
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert!(last["done_reason"].is_string());
    let text: String = lines.iter().filter_map(|l| l["response"].as_str()).collect();
    assert_eq!(text, v["response"].as_str().unwrap());

    let chat = json!({"model": "thau-test", "messages": [{"role": "user", "content": "¿Qué tal?"}], "stream": false, "options": {"num_predict": 3}});
    let (st, b, _) = call(&app, "POST", "/api/chat", Some(chat)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json_of(&b)["message"]["role"], "assistant");
    // An empty prompt only "loads" the model.
    let (_, b, _) = call(&app, "POST", "/api/generate", Some(json!({"model": "thau-test"}))).await;
    assert_eq!(json_of(&b)["done_reason"], "load");

    for (uri, req, want) in [
        ("/api/generate", json!({"model": "llama3", "prompt": "x"}), StatusCode::NOT_FOUND),
        ("/api/generate", json!({"model": "", "prompt": "x"}), StatusCode::BAD_REQUEST),
        (
            "/api/generate",
            json!({"model": "thau-test", "prompt": "x", "options": {"num_predict": 0}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/generate",
            json!({"model": "thau-test", "prompt": "x", "options": {"top_k": -3}}),
            StatusCode::BAD_REQUEST,
        ),
        ("/api/generate", json!({"model": "thau-test", "prompt": "x", "format": "json"}), StatusCode::BAD_REQUEST),
        ("/api/generate", json!({"model": "thau-test", "prompt": 5}), StatusCode::BAD_REQUEST),
        (
            "/api/chat",
            json!({"model": "thau-test", "messages": [{"role": "robot", "content": "x"}]}),
            StatusCode::BAD_REQUEST,
        ),
        ("/api/show", json!({"model": "other"}), StatusCode::NOT_FOUND),
    ] {
        ollama_error(call(&app, "POST", uri, Some(req)).await, want);
    }
    ollama_error(call(&app, "GET", "/api/nothing", None).await, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thau_routes_docs_limits_and_keys() {
    let (app, _) = app_with(|c| {
        c.keys.add("s3cret", thau_server::auth::Role::Admin);
        c.max_body_bytes = 1000;
    });
    let (st, b, _) = call(&app, "GET", "/health", None).await;
    assert_eq!(st, StatusCode::OK, "health needs no key");
    assert_eq!(json_of(&b)["status"], "ok");
    let (st, b, h) = call(&app, "GET", "/docs/", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(h[header::CONTENT_TYPE].to_str().unwrap().contains("html"));
    assert!(!String::from_utf8_lossy(&b).contains("cdn"), "docs must work offline");
    let (st, b, _) = call(&app, "GET", "/openapi.json", None).await;
    assert_eq!(st, StatusCode::OK);
    let doc = json_of(&b);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for p in ["/v1/chat/completions", "/api/chat", "/api/generate", "/health"] {
        assert!(doc["paths"][p].is_object(), "{p} missing from the OpenAPI document");
    }
    // Without the key: 401 in each API's shape; with it: through.
    openai_error(StatusCode::OK, call(&app, "GET", "/v1/models", None).await, StatusCode::UNAUTHORIZED);
    ollama_error(call(&app, "GET", "/api/tags", None).await, StatusCode::UNAUTHORIZED);
    let authed = Request::get("/v1/models").header(header::AUTHORIZATION, "Bearer s3cret").body(Body::empty()).unwrap();
    assert_eq!(raw(&app, authed).await.0, StatusCode::OK);
    let wrong = Request::get("/v1/models").header(header::AUTHORIZATION, "Bearer nope").body(Body::empty()).unwrap();
    assert_eq!(raw(&app, wrong).await.0, StatusCode::UNAUTHORIZED);
    // A body over the limit is refused before it is parsed.
    let big = json!({"model": "thau-test", "prompt": "x".repeat(5000)});
    let req = Request::post("/api/generate")
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big.to_string()))
        .unwrap();
    ollama_error(raw(&app, req).await, StatusCode::PAYLOAD_TOO_LARGE);
    // No run folder: /training/status says how to get one.
    let req =
        Request::get("/training/status").header(header::AUTHORIZATION, "Bearer s3cret").body(Body::empty()).unwrap();
    ollama_error(raw(&app, req).await, StatusCode::NOT_FOUND);
    // A non-loopback address without a key is refused at start-up.
    let open = ServerConfig::new("0.0.0.0:8080".parse().unwrap(), "x");
    assert!(open.validate().unwrap_err().to_string().contains("--api-key"));
    assert!(open.with_api_key("s3cret-enough").validate().is_ok(), "a key makes it safe to bind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429_and_a_dropped_client_frees_its_slot() {
    let (app, state) = app_with(|c| c.max_queue = 1);
    // The only place in the queue is taken (as a running generation takes it), so a request
    // gets 429 with Retry-After. Taking the place directly, instead of with a long generation,
    // keeps this independent of how fast the engine runs: a random model may end a
    // "generate until the context is full" request early, at its end-of-sequence token.
    let slot = state.enqueue(thau_server::Flavor::OpenAi).unwrap();
    let (st, _, h) = call(&app, "POST", "/v1/completions", Some(json!({"prompt": "y"}))).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key(header::RETRY_AFTER));
    drop(slot);
    // A long streaming request takes the place while nobody reads its body; dropping the
    // response (a client hanging up) cancels the generation and frees the place.
    let long = json!({"model": "thau-test", "prompt": "x", "raw": true, "options": {"num_predict": -1}});
    let req = Request::post("/api/generate")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(long.to_string()))
        .unwrap();
    let held = app.clone().oneshot(req).await.unwrap();
    assert_eq!(held.status(), StatusCode::OK);
    drop(held);
    for _ in 0..200 {
        if state.pending.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(state.pending.load(std::sync::atomic::Ordering::Relaxed), 0);
    let (st, _, _) = call(&app, "POST", "/v1/completions", Some(json!({"prompt": "y", "max_tokens": 2}))).await;
    assert_eq!(st, StatusCode::OK);
}
