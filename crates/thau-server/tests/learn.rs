//! `POST /feedback` in-process: stored tied to the memory store's turn, with the schedule in
//! the reply; bad ratings, unknown turns and a server without a run are client errors.

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

fn app(run: Option<std::path::PathBuf>) -> Router {
    let text = thau::data::synthetic::bilingual_corpus(1, 20_000);
    let tok = Tokenizer::train(text.into_iter().map(|d| d.text), 300).unwrap();
    let cfg = ModelConfig { vocab_size: tok.vocab_size(), max_seq_len: 64, ..ModelConfig::tiny() };
    let llama = Llama::new_random(&cfg, 1, &candle_core::Device::Cpu).unwrap();
    let engine = Engine::spawn("tiny", InferModel::from_llama(&llama, WeightDtype::F32).unwrap(), tok).unwrap();
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "thau-test");
    cfg.run_dir = run;
    router(AppState::new(engine, cfg))
}

async fn post(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn feedback_is_stored_with_its_turn() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let mut m = thau::memory::MemoryStore::open(&run.join("memory.sqlite")).unwrap();
    let ep = m.start_episode("ana", None, None, 1000).unwrap();
    let q = m.add_turn("ana", ep.id, "user", "¿Dónde nació Aldo?", 1000).unwrap();
    let a = m.add_turn("ana", ep.id, "assistant", "En Marte.", 2000).unwrap();
    drop(m);
    let app = app(Some(run.clone()));

    let (s, v) =
        post(&app, "/feedback", json!({"turn_id": a.id, "rating": "down", "correction": "En Tarsis.", "user": "ana"}))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["feedback"]["question"], "¿Dónde nació Aldo?");
    assert_eq!(v["feedback"]["answer"], "En Marte.");
    assert_eq!(v["feedback"]["rating"], -1);
    assert_eq!(v["learning"]["pending_feedback"], 1);
    assert_eq!(v["learning"]["schedule"]["enabled"], false);
    let stored = thau::learn::LearnStore::open(&run).unwrap().feedback(0, false).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].turn_id, stored[0].correction.as_deref()), (a.id, Some("En Tarsis.")));

    let (s, v) = post(&app, "/feedback", json!({"turn_id": a.id, "rating": "meh", "user": "ana"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("meh"));
    let (s, v) = post(&app, "/feedback", json!({"turn_id": q.id, "rating": "up", "user": "ana"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a user turn: {v}");
    let (s, _) = post(&app, "/feedback", json!({"turn_id": 424242, "rating": "up", "user": "ana"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = post(&app, "/feedback", json!({"rating": "up"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "missing turn_id");

    let (s, v) = post(&self::app(None), "/feedback", json!({"turn_id": 1, "rating": "up"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(thau_server::openapi_json().contains("\"/feedback\""));
}
