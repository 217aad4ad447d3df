//! `/memory/*` and the embeddings routes in-process: every route, per-user isolation, and every
//! error status. With `THAU_TEST_EMBEDDING_MODEL` (all-MiniLM-L6-v2, fetched by `.ci/run`) the
//! embeddings are real and search is hybrid; without it, memory runs full-text only and the
//! embeddings routes must say how to load a model.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use base64::Engine as _;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::path::Path;
use thau::infer::{Engine, InferModel, WeightDtype};
use thau::memory::Embedder;
use thau::model::{Llama, ModelConfig};
use thau::tokenizer::Tokenizer;
use thau_server::{router, AppState, EmbeddingModel, ServerConfig};
use tower::ServiceExt;

fn engine() -> Engine {
    let text = thau::data::synthetic::bilingual_corpus(1, 5_000);
    let tok = Tokenizer::train(text.into_iter().map(|d| d.text), 280).unwrap();
    let cfg = ModelConfig { vocab_size: tok.vocab_size(), max_seq_len: 64, ..ModelConfig::tiny() };
    let llama = Llama::new_random(&cfg, 1, &candle_core::Device::Cpu).unwrap();
    Engine::spawn("tiny", InferModel::from_llama(&llama, WeightDtype::F32).unwrap(), tok).unwrap()
}

/// The test embedding model, when `THAU_TEST_EMBEDDING_MODEL` names one.
fn embedding_model() -> Option<EmbeddingModel> {
    let path = std::env::var("THAU_TEST_EMBEDDING_MODEL").ok().filter(|p| !p.is_empty());
    match path {
        Some(p) => Some(EmbeddingModel::new(&p, Embedder::load(&p).expect("THAU_TEST_EMBEDDING_MODEL does not load"))),
        None => {
            assert!(
                std::env::var("THAU_REQUIRE_MODELS").as_deref() != Ok("1"),
                "THAU_REQUIRE_MODELS=1 but THAU_TEST_EMBEDDING_MODEL is not set: run .ci/run"
            );
            eprintln!(
                "\n!!!!! THAU_TEST_EMBEDDING_MODEL not set: embeddings checks skipped, memory full-text only !!!!!\n"
            );
            None
        }
    }
}

fn app(db: Option<&Path>, embedder: Option<EmbeddingModel>, f: impl FnOnce(&mut ServerConfig)) -> Router {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "thau-test");
    cfg.memory_db = db.map(Path::to_path_buf);
    f(&mut cfg);
    router(AppState::with_embedder(thau::infer::LiveEngine::fixed(engine()), cfg, embedder))
}

async fn send(app: &Router, method: &str, uri: &str, body: Body) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
    let req =
        Request::builder().method(method).uri(uri).header(header::CONTENT_TYPE, "application/json").body(body).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status, body.collect().await.unwrap().to_bytes().to_vec(), parts.headers)
}

async fn post(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    let (st, b, _) = send(app, "POST", uri, Body::from(body.to_string())).await;
    (
        st,
        serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&b))),
    )
}

/// A THAU/Ollama-shaped error with this status.
async fn fails(app: &Router, uri: &str, body: Value, want: StatusCode) -> String {
    let (st, v) = post(app, uri, body.clone()).await;
    assert_eq!(st, want, "{uri} {body}: {v}");
    v["error"].as_str().unwrap_or_else(|| panic!("{uri}: error is not a string: {v}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_routes_store_search_recall_forget_and_export_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("memory.sqlite");
    let embedder = embedding_model();
    let semantic = embedder.is_some();
    let app = app(Some(&db), embedder, |_| {});

    // remember
    let facts = [
        ("ana", "Mi perro se llama Rex y es un golden retriever.", 7),
        ("ana", "Soy alérgica a los cacahuetes.", 9),
        ("ana", "I work as a nurse at the city hospital.", 5),
        ("ben", "Mi perro se llama Toby.", 5),
    ];
    let mut ids = Vec::new();
    for (user, text, importance) in facts {
        let (st, v) =
            post(&app, "/memory/remember", json!({"user": user, "text": text, "importance": importance})).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["memory"]["user"], user);
        assert_eq!(v["memory"]["importance"], importance);
        assert_eq!(v["semantic"], semantic);
        ids.push(v["memory"]["id"].as_i64().unwrap());
    }
    let (st, v) = post(
        &app,
        "/memory/remember",
        json!({"user": "ana", "text": "Viajé a Lisboa.", "kind": "event", "at": "2026-11-20T10:00:00Z",
               "tags": ["viaje"], "session": "s1", "source": "chat"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["memory"]["created_at"], 1_795_168_800_000i64);
    assert_eq!(v["memory"]["tags"], json!(["viaje"]));
    for (body, what) in [
        (json!({"user": "ana", "text": "  "}), "empty"),
        (json!({"user": " ", "text": "x"}), "user"),
        (json!({"user": "ana", "text": "x", "importance": 11}), "importance"),
        (json!({"user": "ana", "text": "x", "at": "the day after never"}), "not a time"),
        (json!({"user": "ana", "text": "x", "importanc": 3}), "importanc"),
        (json!({"user": "ana", "text": 5}), "invalid"),
        (json!({"text": "x"}), "user"),
        (json!({"user": "ana", "text": "x".repeat(70_000)}), "limit"),
    ] {
        let msg = fails(&app, "/memory/remember", body, StatusCode::BAD_REQUEST).await;
        assert!(msg.contains(what), "expected '{what}' in: {msg}");
    }
    let (st, b, _) = send(&app, "POST", "/memory/remember", Body::from("{not json")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(serde_json::from_slice::<Value>(&b).unwrap()["error"].is_string());

    // search: accent- and case-insensitive full text; only the asking user's memories.
    let (st, v) =
        post(&app, "/memory/search", json!({"user": "ana", "query": "ALERGICA cacahuetes", "mode": "fulltext"})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["hits"][0]["memory"]["id"], ids[1]);
    let (_, v) = post(&app, "/memory/search", json!({"user": "ben", "query": "perro", "k": 10})).await;
    let hits = v["hits"].as_array().unwrap();
    assert!(!hits.is_empty() && hits.iter().all(|h| h["memory"]["user"] == "ben"), "{v}");
    let (_, v) = post(&app, "/memory/search", json!({"user": "carla", "query": "perro"})).await;
    assert_eq!(v["hits"], json!([]));
    let (_, v) = post(
        &app,
        "/memory/search",
        json!({"user": "ana", "query": "Lisboa", "kinds": ["event"], "since": "2026-11-19"}),
    )
    .await;
    assert_eq!(v["hits"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = post(&app, "/memory/search", json!({"user": "ana", "query": "Lisboa", "until": "2026-11-19"})).await;
    assert_eq!(v["hits"], json!([]));
    if semantic {
        // A paraphrase with no shared word: only the vectors find it.
        // (The final order also weighs importance, so look at the cosine ranking itself.)
        let (st, v) =
            post(&app, "/memory/search", json!({"user": "ana", "query": "What is my job?", "mode": "vector", "k": 4}))
                .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let best = v["hits"].as_array().unwrap().iter().find(|h| h["vector_rank"] == 1).expect("a vector-ranked hit");
        assert_eq!(best["memory"]["id"], ids[2], "{v}");
        assert!(v["hits"].as_array().unwrap().iter().all(|h| h["fulltext_rank"].is_null()), "vector mode only: {v}");
    } else {
        let msg = fails(
            &app,
            "/memory/search",
            json!({"user": "ana", "query": "job", "mode": "vector"}),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(msg.contains("embedding model"), "{msg}");
    }
    for (body, what) in [
        (json!({"user": "ana", "query": " "}), "query"),
        (json!({"user": "ana", "query": "x", "mode": "psychic"}), "psychic"),
        (json!({"user": "ana", "query": "x", "k": 0}), "k"),
        (json!({"user": "ana", "query": "x", "k": 5000}), "limit"),
        (json!({"user": "ana", "query": "x", "since": "sometime"}), "since"),
        (json!({"user": "ana", "query": "x", "k": -1}), "invalid"),
    ] {
        let msg = fails(&app, "/memory/search", body, StatusCode::BAD_REQUEST).await;
        assert!(msg.contains(what), "expected '{what}' in: {msg}");
    }

    // log + recall: "¿qué hablamos ayer?" resolved in the caller's zone.
    for (at, role, text) in [
        ("2026-11-28T18:00:00+01:00", "user", "Mañana salgo de viaje a Oporto."),
        ("2026-11-28T18:00:05+01:00", "assistant", "¡Buen viaje a Oporto!"),
        ("2026-11-25T09:00:00+01:00", "user", "Hoy hablé del trabajo."),
    ] {
        let (st, v) = post(&app, "/memory/log", json!({"user": "ana", "role": role, "text": text, "at": at})).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert!(v["episode"].as_i64().is_some());
    }
    let (st, v) =
        post(&app, "/memory/log", json!({"user": "ben", "text": "Fui al cine.", "at": "2026-11-28T20:00:00+01:00"}))
            .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    fails(&app, "/memory/log", json!({"user": "ana", "role": "narrator", "text": "x"}), StatusCode::BAD_REQUEST).await;
    fails(&app, "/memory/log", json!({"user": "ana", "text": ""}), StatusCode::BAD_REQUEST).await;
    let now = "2026-11-29T10:00:00+01:00";
    let (st, v) =
        post(&app, "/memory/recall", json!({"user": "ana", "question": "¿qué hablamos ayer?", "now": now})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["range"]["expression"], "ayer");
    let turns = v["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2, "{v}");
    assert!(turns.iter().all(|t| t["user"] == "ana" && t["text"].as_str().unwrap().contains("Oporto")));
    let (_, v) =
        post(&app, "/memory/recall", json!({"user": "ben", "question": "what did we discuss yesterday?", "now": now}))
            .await;
    let turns = v["turns"].as_array().unwrap();
    assert!(turns.len() == 1 && turns[0]["text"] == "Fui al cine.", "ben sees his turn and none of ana's: {v}");
    let (_, v) = post(
        &app,
        "/memory/recall",
        json!({"user": "ana", "question": "what did we talk about 4 days ago?", "now": now}),
    )
    .await;
    assert_eq!(v["turns"][0]["text"], "Hoy hablé del trabajo.", "{v}");
    fails(
        &app,
        "/memory/recall",
        json!({"user": "ana", "question": "ayer", "now": "yesterday-ish"}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    fails(&app, "/memory/recall", json!({"user": "ana", "question": ""}), StatusCode::BAD_REQUEST).await;
    fails(&app, "/memory/recall", json!({"user": "ana", "question": "ayer", "limit": 0}), StatusCode::BAD_REQUEST)
        .await;

    // export: JSON lines of one user only.
    let (st, b, h) = send(&app, "GET", "/memory/export?user=ana", Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "application/x-ndjson");
    let lines: Vec<Value> = String::from_utf8(b).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().filter(|l| l["type"] == "memory").count(), 4);
    assert_eq!(lines.iter().filter(|l| l["type"] == "turn").count(), 3);
    assert!(lines.iter().all(|l| l["user"] == "ana"));
    for uri in ["/memory/export", "/memory/export?user=", "/memory/export?user=%20"] {
        let (st, b, _) = send(&app, "GET", uri, Body::empty()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{uri}");
        assert!(serde_json::from_slice::<Value>(&b).unwrap()["error"].as_str().unwrap().contains("user"));
    }

    // forget: one by id (only the owner's), by filter, everything.
    let msg = fails(&app, "/memory/forget", json!({"user": "ben", "id": ids[0]}), StatusCode::NOT_FOUND).await;
    assert!(msg.contains(&ids[0].to_string()), "{msg}");
    let (st, v) = post(&app, "/memory/forget", json!({"user": "ana", "id": ids[0]})).await;
    assert_eq!((st, v["forgotten"].as_i64()), (StatusCode::OK, Some(1)));
    fails(&app, "/memory/forget", json!({"user": "ana", "id": ids[0]}), StatusCode::NOT_FOUND).await;
    fails(&app, "/memory/forget", json!({"user": "ana"}), StatusCode::BAD_REQUEST).await;
    fails(&app, "/memory/forget", json!({"user": "ana", "id": 1, "all": true}), StatusCode::BAD_REQUEST).await;
    fails(&app, "/memory/forget", json!({"user": "ana", "kinds": ["event"], "until": "soon"}), StatusCode::BAD_REQUEST)
        .await;
    let (_, v) = post(&app, "/memory/forget", json!({"user": "ana", "kinds": ["event"]})).await;
    assert_eq!(v["forgotten"], 1);
    let (_, v) = post(&app, "/memory/forget", json!({"user": "ana", "all": true})).await;
    assert_eq!(v["forgotten"], 2);
    let (_, b, _) = send(&app, "GET", "/memory/export?user=ana", Body::empty()).await;
    assert!(b.is_empty(), "all of ana's memories and turns are gone: {}", String::from_utf8_lossy(&b));
    let (_, v) = post(&app, "/memory/search", json!({"user": "ben", "query": "Toby"})).await;
    assert_eq!(v["hits"].as_array().unwrap().len(), 1, "ben's memory survives ana's forget: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_routes_without_a_database_or_key_say_why() {
    // No database configured: 503 naming the option.
    let app_off = app(None, None, |_| {});
    let msg =
        fails(&app_off, "/memory/remember", json!({"user": "a", "text": "x"}), StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(msg.contains("--memory"), "{msg}");
    let (st, _, _) = send(&app_off, "GET", "/memory/export?user=a", Body::empty()).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    // A damaged database file is refused (and left alone), the rest of the server still works.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("memory.sqlite");
    std::fs::write(&bad, b"this is not a database, it is a shopping list").unwrap();
    let app_bad = app(Some(&bad), None, |_| {});
    let msg =
        fails(&app_bad, "/memory/search", json!({"user": "a", "query": "x"}), StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(msg.contains("memory.sqlite"), "{msg}");
    assert_eq!(std::fs::read(&bad).unwrap(), b"this is not a database, it is a shopping list");
    let (st, b, _) = send(&app_bad, "GET", "/health", Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<Value>(&b).unwrap()["memory"], false);
    // With an API key, memory needs it like every other route.
    let db = dir.path().join("ok.sqlite");
    let keyed = app(Some(&db), None, |c| c.keys.add("k3y", thau_server::auth::Role::Admin));
    fails(&keyed, "/memory/remember", json!({"user": "a", "text": "x"}), StatusCode::UNAUTHORIZED).await;
    let req = Request::builder()
        .method("POST")
        .uri("/memory/remember")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, "Bearer k3y")
        .body(Body::from(json!({"user": "a", "text": "x"}).to_string()))
        .unwrap();
    assert_eq!(keyed.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);
    // The docs list every memory route.
    let doc: Value = serde_json::from_str(&thau_server::openapi_json()).unwrap();
    for p in [
        "/memory/remember",
        "/memory/search",
        "/memory/recall",
        "/memory/log",
        "/memory/forget",
        "/memory/export",
        "/v1/embeddings",
        "/api/embed",
        "/api/embeddings",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from /openapi.json");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_in_both_formats_or_a_clear_error_without_a_model() {
    // No model: 404 in each API's shape, saying how to configure one.
    let none = app(None, None, |_| {});
    let (st, v) = post(&none, "/v1/embeddings", json!({"model": "text-embedding-3-small", "input": "hola"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["code"], "model_not_found");
    assert!(v["error"]["message"].as_str().unwrap().contains("--embedding-model"), "{v}");
    let msg =
        fails(&none, "/api/embed", json!({"model": "nomic-embed-text", "input": "hola"}), StatusCode::NOT_FOUND).await;
    assert!(msg.contains("THAU_EMBEDDING_MODEL"), "{msg}");
    fails(&none, "/api/embeddings", json!({"model": "nomic-embed-text", "prompt": "hola"}), StatusCode::NOT_FOUND)
        .await;
    let (st, _) = post(&none, "/v1/embeddings", json!({"input": "hola"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "model is required");

    let Some(em) = embedding_model() else { return };
    let name = em.name.clone();
    let dim = em.model.dim();
    let app = app(None, Some(em), |c| c.max_embed_inputs = 3);
    let (st, v) = post(&app, "/v1/models", json!({})).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    assert!(v["error"]["message"].is_string(), "405 in OpenAI's shape: {v}");
    let (_, b, _) = send(&app, "GET", "/v1/models", Body::empty()).await;
    let models: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(models["data"][0]["id"], "thau-test");
    assert_eq!(models["data"][1]["id"], name.as_str());

    let texts = ["The cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue grew by 12 percent."];
    let (st, v) = post(&app, "/v1/embeddings", json!({"model": name, "input": texts})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "list");
    let vecs: Vec<Vec<f32>> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            assert_eq!(d["index"], i);
            assert_eq!(d["object"], "embedding");
            d["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
        })
        .collect();
    assert_eq!(vecs.len(), 3);
    assert!(vecs.iter().all(|v| v.len() == dim));
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(cos(&vecs[0], &vecs[1]) > cos(&vecs[0], &vecs[2]) + 0.3, "paraphrases are closer");
    let tokens = v["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(tokens > 15 && v["usage"]["total_tokens"] == tokens, "{}", v["usage"]);
    // base64: the same numbers as little-endian f32.
    let (st, v) =
        post(&app, "/v1/embeddings", json!({"model": name, "input": texts[0], "encoding_format": "base64"})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let bytes = base64::engine::general_purpose::STANDARD.decode(v["data"][0]["embedding"].as_str().unwrap()).unwrap();
    let decoded: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(decoded.len(), dim);
    assert!(decoded.iter().zip(&vecs[0]).all(|(a, b)| (a - b).abs() < 1e-6));
    // OpenAI-shaped errors.
    for (body, want) in [
        (json!({"model": name, "input": []}), StatusCode::BAD_REQUEST),
        (json!({"model": name, "input": ""}), StatusCode::BAD_REQUEST),
        (json!({"model": name, "input": [1, 2, 3]}), StatusCode::BAD_REQUEST),
        (json!({"model": name, "input": [[1, 2]]}), StatusCode::BAD_REQUEST),
        (json!({"model": name, "input": ["a", {"x": 1}]}), StatusCode::BAD_REQUEST),
        (json!({"model": name, "input": ["a", "b", "c", "d"]}), StatusCode::BAD_REQUEST),
        (json!({"model": name, "input": "a", "encoding_format": "hex"}), StatusCode::BAD_REQUEST),
        (json!({"model": name, "input": "a", "dimensions": 7}), StatusCode::BAD_REQUEST),
        (json!({"model": name, "input": 42}), StatusCode::BAD_REQUEST),
        (json!({"model": "text-embedding-3-small", "input": "a"}), StatusCode::NOT_FOUND),
    ] {
        let (st, v) = post(&app, "/v1/embeddings", body.clone()).await;
        assert_eq!(st, want, "{body}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert!(v["error"]["type"].is_string(), "{v}");
    }
    // Ollama: /api/embed (one or many, `:latest` accepted), truncate=false refuses long text.
    let (st, v) = post(&app, "/api/embed", json!({"model": format!("{name}:latest"), "input": texts[0]})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let one: Vec<f32> = v["embeddings"][0].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    assert!(cos(&one, &vecs[0]) > 0.9999);
    assert!(v["prompt_eval_count"].as_u64().unwrap() > 3 && v["total_duration"].as_u64().unwrap() > 0);
    let (_, v) = post(&app, "/api/embed", json!({"model": name, "input": [texts[1], texts[2]]})).await;
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 2);
    let long = "palabra ".repeat(2000);
    let (st, _) = post(&app, "/api/embed", json!({"model": name, "input": long})).await;
    assert_eq!(st, StatusCode::OK, "truncated by default");
    let msg =
        fails(&app, "/api/embed", json!({"model": name, "input": long, "truncate": false}), StatusCode::BAD_REQUEST)
            .await;
    assert!(msg.contains("truncate"), "{msg}");
    fails(&app, "/api/embed", json!({"model": name, "input": []}), StatusCode::BAD_REQUEST).await;
    fails(&app, "/api/embed", json!({"model": "all-minilm", "input": "x"}), StatusCode::NOT_FOUND).await;
    let (st, v) = post(&app, "/api/embeddings", json!({"model": name, "prompt": texts[0]})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["embedding"].as_array().unwrap().len(), dim);
}
