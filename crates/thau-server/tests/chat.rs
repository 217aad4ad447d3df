//! `POST /thau/chat` and the conversation routes in-process, on a manual clock: the assistant
//! scenario of issue 23 through the server (memories and yesterday's episodes in the prompt,
//! asserted on the memory report), users kept apart, feedback on a logged turn found as a
//! gap, unknown or foreign ids refused with nothing written.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::DateTime;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use thau::assistant::Clock;
use thau::checkpoint::TrainState;
use thau::infer::{Engine, InferModel, WeightDtype};
use thau::model::{Age, Llama, ModelConfig};
use thau::tokenizer::Tokenizer;
use thau_server::{router, AppState, ServerConfig};
use tower::ServiceExt;

pub(crate) fn engine() -> Engine {
    let text = thau::data::synthetic::bilingual_corpus(1, 20_000);
    let tok = Tokenizer::train(text.into_iter().map(|d| d.text), 300).unwrap();
    let cfg = ModelConfig { vocab_size: tok.vocab_size(), max_seq_len: 1024, ..ModelConfig::tiny() };
    let llama = Llama::new_random(&cfg, 1, &candle_core::Device::Cpu).unwrap();
    Engine::spawn("tiny", InferModel::from_llama(&llama, WeightDtype::F32).unwrap(), tok).unwrap()
}

const ANA: &str = "sk-ana-chat-0123456789";
const BRUNO: &str = "sk-bruno-chat-0123456789";

/// A request with `key` (user-bound keys make the user; the body's `user` is ignored).
async fn request(app: &Router, key: &str, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// One streamed turn: its events, the last being `done`.
async fn say(app: &Router, key: &str, body: Value) -> Vec<Value> {
    let mut body = body;
    body["max_tokens"] = json!(4);
    body["temperature"] = json!(0);
    let (st, text) = request(app, key, "POST", "/thau/chat", Some(body.clone())).await;
    assert_eq!(st, StatusCode::OK, "{body}: {text}");
    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.last().unwrap()["type"], "done", "{events:?}");
    events
}

fn done(events: &[Value]) -> &Value {
    events.last().unwrap()
}

/// A run folder with a tokenizer and one random checkpoint of the youngest age (`seed`).
fn random_run(run: &std::path::Path) -> (Tokenizer, ModelConfig) {
    let text = thau::data::synthetic::bilingual_corpus(1, 20_000);
    let tok = Tokenizer::train(text.into_iter().map(|d| d.text), 300).unwrap();
    let rd = thau::checkpoint::RunDir::new(run);
    tok.save(&rd.tokenizer_path()).unwrap();
    let cfg = ModelConfig { vocab_size: tok.vocab_size(), max_seq_len: 1024, ..ModelConfig::tiny() };
    rd.save_config(Age::YOUNGEST, &cfg).unwrap();
    save_weights(run, &cfg, 1, 10);
    (tok, cfg)
}

/// New random weights for `run` at `step`, as a kept learning run leaves them.
fn save_weights(run: &std::path::Path, cfg: &ModelConfig, seed: u64, step: u64) {
    let llama = Llama::new_random(cfg, seed, &candle_core::Device::Cpu).unwrap();
    let state = TrainState { step, total_steps: step, ..TrainState::start(Age::YOUNGEST, Default::default(), "test") };
    thau::checkpoint::RunDir::new(run).save_checkpoint(&llama, &[], &state, 3).unwrap();
}

/// Issue 23's scenario through the server: two users with their own keys over two days, the
/// memory and yesterday's episodes in the prompt (asserted on the memory report), users kept
/// apart whatever they name, feedback becoming a gap, and new weights served by the running
/// server while a request is in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_chat_remembers_recalls_and_keeps_users_apart() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let (_, model_cfg) = random_run(&run);
    let db = dir.path().join("memory.sqlite");
    let clock = Clock::manual(DateTime::parse_from_rfc3339("2026-03-02T10:00:00+01:00").unwrap());
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "thau-test");
    cfg.memory_db = Some(db.clone());
    cfg.run_dir = Some(run.clone());
    cfg.clock = clock.clone();
    cfg.keys = thau_server::auth::Keys::parse(&format!("{ANA} user:ana\n{BRUNO} user:bruno\n")).unwrap();
    let live = thau::infer::LiveEngine::from_run(&run, None, None, Some(4)).unwrap();
    let state: Arc<AppState> = AppState::with_embedder(live, cfg, None);
    let app = router(state.clone());

    // Day 1.
    let ev = say(&app, ANA, json!({"message": "Recuerda que mi perro se llama Rocky"})).await;
    assert_eq!(ev[0]["type"], "conversation");
    let conv = ev[0]["id"].as_str().unwrap().to_string();
    let rocky = ev.iter().find(|e| e["type"] == "remembered").expect("remembered event")["memory"].clone();
    assert_eq!(rocky["text"], "Mi perro se llama Rocky.");
    assert!(ev.iter().any(|e| e["type"] == "memories"));
    assert_eq!(done(&ev)["conversation"], conv.as_str());
    say(&app, ANA, json!({"conversation": conv, "message": "Hablemos del tiempo en Roma"})).await;
    say(&app, BRUNO, json!({"message": "Me gusta el fútbol"})).await;

    // The conversation routes: ana's list and history, bruno sees neither.
    let (st, text) = request(&app, ANA, "GET", "/thau/conversations", None).await;
    assert_eq!(st, StatusCode::OK);
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(list["conversations"][0]["turns"], 4);
    let (st, text) = request(&app, ANA, "GET", &format!("/thau/conversations/{conv}"), None).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    let history: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(history["messages"][2]["message"]["content"], "Hablemos del tiempo en Roma");
    let (st, _) = request(&app, BRUNO, "GET", &format!("/thau/conversations/{conv}?user=ana"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = request(
        &app,
        BRUNO,
        "POST",
        "/thau/chat",
        Some(json!({"user": "ana", "conversation": conv, "message": "hola"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "bruno cannot continue ana's conversation");

    // Day 2: the memory and yesterday's episode are in the prompt (the report says so).
    clock.set(DateTime::parse_from_rfc3339("2026-03-03T09:30:00+01:00").unwrap()).unwrap();
    let ev = say(&app, ANA, json!({"message": "¿Cómo se llama mi perro?"})).await;
    let report = &done(&ev)["memory"];
    assert_eq!(report["memories"][0]["id"], rocky["id"], "{report}");
    let answer_turn = done(&ev)["turn_id"].as_i64().unwrap();
    let ev = say(&app, ANA, json!({"message": "¿Qué hablamos ayer?"})).await;
    let report = &done(&ev)["memory"];
    assert_eq!(
        report["episodes"][0]["summary"],
        "2026-03-02 10:00–10:00 (4 turns): Recuerda que mi perro se llama Rocky · Hablemos del tiempo en Roma",
        "{report}"
    );
    // Bruno names ana: his key still makes him bruno.
    let ev = say(&app, BRUNO, json!({"user": "ana", "message": "¿Qué hablamos ayer? ¿Cómo se llama mi perro?"})).await;
    let report = &done(&ev)["memory"];
    assert_eq!(report["memories"].as_array().unwrap().len(), 0, "{report}");
    let eps = report["episodes"].as_array().unwrap();
    assert!(eps.len() == 1 && eps[0]["summary"].as_str().unwrap().contains("fútbol"), "{report}");
    // Off by request: nothing injected.
    let ev = say(&app, ANA, json!({"message": "¿Cómo se llama mi perro?", "memory_inject": false})).await;
    assert_eq!(done(&ev)["memory"]["memories"].as_array().unwrap().len(), 0);

    // A thumbs-down with a correction on the logged answer becomes a gap of ana's conversations.
    let (st, text) = request(
        &app,
        ANA,
        "POST",
        "/feedback",
        Some(json!({"turn_id": answer_turn, "rating": "down", "correction": "Tu perro se llama Rocky."})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{text}");
    let store = thau::learn::LearnStore::open(&run).unwrap();
    let memory = thau::memory::MemoryStore::open(&db).unwrap();
    let opts = thau::learn::gaps::DetectOptions { user: "ana".into(), ..Default::default() };
    let gaps = thau::learn::gaps::report(&memory, &store, &opts).unwrap();
    assert!(gaps.iter().any(|g| g.gaps.iter().any(|x| x.turn_id == answer_turn)), "{gaps:?}");

    // Bad input: nothing written.
    let turns = memory.stats(false).unwrap().turns;
    for (body, want) in [
        (json!({"user": "ana", "message": "  "}), StatusCode::BAD_REQUEST),
        (json!({"user": "ana", "conversation": "no such/id", "message": "hola"}), StatusCode::BAD_REQUEST),
        (json!({"user": "ana", "conversation": "c-000000000000", "message": "hola"}), StatusCode::NOT_FOUND),
        (json!({"user": "ana", "message": "hola", "temperature": -1}), StatusCode::BAD_REQUEST),
        (json!({"user": "ana", "message": "hola", "nonsense": 1}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (st, text) = request(&app, ANA, "POST", "/thau/chat", Some(body.clone())).await;
        assert!(
            st == want || (want == StatusCode::UNPROCESSABLE_ENTITY && st.is_client_error()),
            "{body}: {st} {text}"
        );
    }
    assert_eq!(memory.stats(false).unwrap().turns, turns);
    assert!(thau_server::openapi_json().contains("\"/thau/chat\""));

    // New weights arrive (a learning run kept by the gate leaves its checkpoint so) while a
    // request is being answered: the running server's weight check serves them, the request
    // in flight completes on the old ones, and the same seeded request now samples otherwise.
    let sample = json!({"prompt": "hola", "max_tokens": 12, "temperature": 1.0, "seed": 7});
    let (st, before) = request(&app, ANA, "POST", "/v1/completions", Some(sample.clone())).await;
    assert_eq!(st, StatusCode::OK, "{before}");
    // Greedy: this random model repeats one token, so the answer runs to its max_tokens.
    let long = json!({"message": "Cuéntame una historia larga", "max_tokens": 900, "temperature": 0,
                      "stream": false, "tools": false, "memory_inject": false});
    let (app2, long2) = (app.clone(), long.clone());
    let in_flight = tokio::spawn(async move { request(&app2, ANA, "POST", "/thau/chat", Some(long2)).await });
    let t0 = std::time::Instant::now();
    while state.engine().stats().active.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        assert!(t0.elapsed().as_secs() < 30, "the request never started");
        assert!(!in_flight.is_finished(), "the request ended before the swap: {:?}", in_flight.await);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    save_weights(&run, &model_cfg, 2, 20);
    let s2 = state.clone();
    let served = tokio::task::spawn_blocking(move || s2.model.refresh()).await.unwrap().unwrap().expect("swapped");
    assert!(served.checkpoint.as_ref().unwrap().ends_with("step-00000020"), "{served:?}");
    let (st, text) = in_flight.await.unwrap();
    assert_eq!(st, StatusCode::OK, "the request in flight completes: {text}");
    let done: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(done["usage"]["completion_tokens"], 900, "to its end on the old weights: {}", done["usage"]);
    let (_, health) = request(&app, ANA, "GET", "/health", None).await;
    assert!(health.contains("step-00000020"), "{health}");
    let (_, after) = request(&app, ANA, "POST", "/v1/completions", Some(sample)).await;
    let text_of = |v: &str| serde_json::from_str::<Value>(v).unwrap()["choices"][0]["text"].clone();
    assert_ne!(text_of(&before), text_of(&after), "new requests run on the new weights");
}
