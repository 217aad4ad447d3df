//! `POST /feedback` in-process: stored tied to the memory store's turn, with the schedule in
//! the reply; bad ratings, unknown turns and a server without a run are client errors (an
//! unknown turn, or another user's, is 404).

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use thau::infer::{Engine, InferModel, WeightDtype};
use thau::model::Age;
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

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
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
    // A turn the user does not have (none, or another user's) is not found.
    let (s, _) = post(&app, "/feedback", json!({"turn_id": 424242, "rating": "up", "user": "ana"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = post(&app, "/feedback", json!({"turn_id": a.id, "rating": "up", "user": "bruno"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = post(&app, "/feedback", json!({"rating": "up"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "missing turn_id");

    let (s, v) = post(&self::app(None), "/feedback", json!({"turn_id": 1, "rating": "up"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(thau_server::openapi_json().contains("\"/feedback\""));
}

/// A tiny run trained briefly, with invented facts to learn and a memory store with one
/// assistant turn to give feedback on.
fn tiny_run(dir: &std::path::Path) -> (std::path::PathBuf, i64) {
    use thau::train::{Budget, CorpusSource, Silent, TrainConfig, TrainRequest};
    let run = dir.join("run");
    let req = TrainRequest {
        run: run.clone(),
        age: Age::YOUNGEST,
        preset: Some("tiny".parse().unwrap()),
        corpus: CorpusSource::Synthetic { bytes: 60_000 },
        tokenizer: None,
        vocab_size: Some(400),
        config: TrainConfig {
            batch_size: 8,
            seq_len: 64,
            lr: 3e-3,
            warmup_steps: 5,
            eval_every: 0,
            log_every: 10,
            checkpoint_every: 1000,
            budget: Budget::Steps(30),
            seed: 3,
            ..TrainConfig::default()
        },
        resume: false,
        extend_to: None,
        device: candle_core::Device::Cpu,
    };
    thau::train::train(&req, &mut Silent).unwrap();
    let mut store = thau::learn::LearnStore::open(&run).unwrap();
    let (es, _) = thau::learn::facts::documents(&thau::learn::facts::people(2, 5));
    thau::learn::add_text(&mut store, "velmora.md", &es).unwrap();
    let mut m = thau::memory::MemoryStore::open(&run.join("memory.sqlite")).unwrap();
    let ep = m.start_episode("default", None, None, 1000).unwrap();
    m.add_turn("default", ep.id, "user", "¿Dónde nació Aldo?", 1000).unwrap();
    let a = m.add_turn("default", ep.id, "assistant", "En Marte.", 2000).unwrap();
    (run, a.id)
}

#[tokio::test]
async fn feedback_over_the_threshold_starts_a_learning_run_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let (run, turn) = tiny_run(dir.path());
    // The server follows the run, as `thau serve --run` does.
    let engine = thau::infer::LiveEngine::from_run(&run, None, None, Some(2)).unwrap();
    let started_on = engine.served().checkpoint.unwrap();
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "thau-test");
    cfg.run_dir = Some(run.clone());
    cfg.learn_options =
        thau::learn::LearnOptions { lr: Some(1e-3), steps: Some(8), max_questions: 8, ..Default::default() };
    let state = AppState::with_embedder(engine, cfg, None);
    let app = router(state.clone());
    let store = thau::learn::LearnStore::open(&run).unwrap();
    let fb = json!({"turn_id": turn, "rating": "down"});

    // Off (the default): no run.
    let (s, v) = post(&app, "/feedback", fb.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["auto_learning"]["started"], false, "{v}");

    // On, under the threshold: no run.
    let mut sch = thau::learn::schedule::load(&store).unwrap();
    sch.enabled = true;
    sch.min_feedback = 3;
    sch.min_gaps = 0;
    sch.min_interval_hours = 0.0;
    thau::learn::schedule::save(&store, &sch).unwrap();
    let (_, v) = post(&app, "/feedback", fb.clone()).await;
    assert_eq!(v["auto_learning"]["started"], false, "{v}");
    assert_eq!(v["learning"]["due"], false, "{v}");

    // Over it: the reply comes at once, the run goes on in the background and is recorded.
    let (s, v) = post(&app, "/feedback", fb.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["auto_learning"]["started"], true, "{v}");
    state.auto_learn.join();
    let hist = thau::learn::history::list(&run).unwrap();
    assert_eq!(hist.len(), 1, "{:?}", state.auto_learn.last());
    let last = state.auto_learn.last().unwrap();
    assert_eq!(last["run"], hist[0].id.as_str(), "{last}");
    assert_eq!(last["checkpoint"], json!(hist[0].checkpoint_after), "{last}");
    assert!(!state.auto_learn.running() && thau::learn::lock::holder(&run).is_none());
    // The weight check (what the running server does every few seconds) serves a kept run's
    // weights without a restart; a rolled-back run leaves the served ones.
    let swapped = state.model.refresh().unwrap();
    let (_, health) = get(&app, "/health").await;
    match &hist[0].checkpoint_after {
        Some(kept) => {
            assert_eq!(swapped.unwrap().checkpoint.as_ref(), Some(kept));
            assert_eq!(health["serving"]["checkpoint"], json!(kept), "{health}");
        }
        None => {
            assert!(swapped.is_none());
            assert_eq!(health["serving"]["checkpoint"], json!(started_on), "{health}");
        }
    }
    // The server still answers.
    let (s, _) = post(&app, "/v1/completions", json!({"model": "thau-test", "prompt": "a", "max_tokens": 2})).await;
    assert_eq!(s, StatusCode::OK);
}
