//! Identity and memory on the OpenAI and Ollama chat routes, in-process on a manual clock:
//! user-bound keys act as their user whatever a request names, an admin key may name any;
//! every turn a client resends is stored once (10 resends), a named conversation
//! (`X-Thau-Conversation`) is continued, a regenerated answer forks a new conversation,
//! "recuerda que…" is remembered, and `--memory-inject on` puts the memory in the prompt
//! (reported in `x_thau`) while off leaves the messages as sent.

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use chrono::DateTime;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::path::Path;
use thau::assistant::Clock;
use thau_server::auth::Keys;
use thau_server::{router, AppState, ServerConfig};
use tower::ServiceExt;

const ANA: &str = "sk-ana-0123456789abcdef";
const BRUNO: &str = "sk-bruno-0123456789abcdef";
const ADMIN: &str = "sk-admin-0123456789abcdef";

fn app(db: &Path, clock: &Clock, inject: bool) -> Router {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "thau-test");
    cfg.memory_db = Some(db.to_path_buf());
    cfg.clock = clock.clone();
    cfg.memory_inject = inject;
    cfg.keys = Keys::parse(&format!("{ANA} user:ana\n{BRUNO} user:bruno\n{ADMIN} admin\n")).unwrap();
    router(AppState::new(crate::chat::engine(), cfg))
}

async fn call(
    app: &Router,
    key: &str,
    method: &str,
    uri: &str,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {key}"));
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let req = req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string()))).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&bytes).into_owned())
}

/// A non-streamed OpenAI chat completion: the answer's text and its `x_thau` report.
async fn openai(app: &Router, key: &str, body: Value) -> (String, Value) {
    let mut body = body;
    body["max_tokens"] = json!(3);
    if body.get("temperature").is_none() {
        body["temperature"] = json!(0);
    }
    let (st, h, text) = call(app, key, "POST", "/v1/chat/completions", &[], Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let x = v["x_thau"].clone();
    assert_eq!(h["x-thau-conversation"].to_str().unwrap(), x["conversation"].as_str().unwrap());
    (v["choices"][0]["message"]["content"].as_str().unwrap().to_string(), x)
}

async fn get(app: &Router, key: &str, uri: &str) -> (StatusCode, Value) {
    let (st, _, text) = call(app, key, "GET", uri, &[], None).await;
    (st, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn api_clients_are_logged_once_per_turn_for_the_user_their_key_names() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("memory.sqlite");
    let clock = Clock::manual(DateTime::parse_from_rfc3339("2026-03-02T10:00:00+01:00").unwrap());
    let plain = app(&db, &clock, false);

    // Ana's key, though the body names bruno: stored as ana's, and her request remembered.
    let system = json!({"role": "system", "content": "Eres THAU."});
    let mut history = vec![system.clone(), json!({"role": "user", "content": "Recuerda que mi perro se llama Rocky"})];
    let (answer, x) = openai(&plain, ANA, json!({"messages": history, "user": "bruno"})).await;
    assert_eq!(x["remembered"]["user"], "ana", "{x}");
    assert_eq!(x["remembered"]["text"], "Mi perro se llama Rocky.");
    assert!(x["memory"].is_null(), "injection is off by default: {x}");
    assert!(x["turn_id"].is_i64(), "the answer is logged before the reply: {x}");
    let conv = x["conversation"].as_str().unwrap().to_string();
    let rocky = x["remembered"]["id"].clone();

    // The client resends its growing history ten times: each turn is stored once.
    history.push(json!({"role": "assistant", "content": answer}));
    for i in 0..10 {
        history.push(json!({"role": "user", "content": format!("Mensaje número {i}")}));
        let (answer, x) = openai(&plain, ANA, json!({"messages": history})).await;
        assert_eq!(x["conversation"], conv.as_str(), "resend {i}");
        assert_eq!(x["logged"].as_array().unwrap().len(), 1, "only the new message is stored: {x}");
        assert!(x["remembered"].is_null());
        history.push(json!({"role": "assistant", "content": answer}));
        clock.advance(chrono::Duration::minutes(1)).unwrap();
    }
    let (st, v) = get(&plain, ANA, &format!("/thau/conversations/{conv}")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let stored: Vec<&str> =
        v["messages"].as_array().unwrap().iter().map(|m| m["message"]["content"].as_str().unwrap()).collect();
    let sent: Vec<&str> = history[1..].iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(stored, sent, "the conversation holds each turn once, in order");

    // Regenerating the last answer (the history cut back) forks a new conversation; the
    // stored one is left as it was.
    // (Sampled, so the regenerated answer differs from the stored one.)
    let regenerate = json!({"messages": history[..history.len() - 1], "temperature": 1.0, "seed": 11});
    let (_, x) = openai(&plain, ANA, regenerate).await;
    assert_ne!(x["conversation"], conv.as_str());
    assert_eq!(x["logged"].as_array().unwrap().len(), history.len() - 2, "{x}");
    let (_, v) = get(&plain, ANA, &format!("/thau/conversations/{conv}")).await;
    assert_eq!(v["messages"].as_array().unwrap().len(), stored.len());
    // The full history again, one message on: it goes back to the conversation it continues.
    let mut more = history.clone();
    more.push(json!({"role": "user", "content": "¿Seguimos?"}));
    let (_, x) = openai(&plain, ANA, json!({"messages": more})).await;
    assert_eq!(x["conversation"], conv.as_str(), "{x}");
    assert_eq!(x["logged"].as_array().unwrap().len(), 1, "{x}");
    // Asked again in another chat, the memory is the one already stored.
    let again = json!([{"role": "user", "content": "Recuerda que mi perro se llama Rocky"}]);
    let (_, x) = openai(&plain, ANA, json!({"messages": again})).await;
    assert_eq!(x["remembered"]["id"], rocky, "not stored twice: {x}");

    // Bruno's key sees none of it, whatever user it names; an admin names ana.
    let (st, _) = get(&plain, BRUNO, &format!("/thau/conversations/{conv}?user=ana")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, v) = get(&plain, BRUNO, "/thau/conversations?user=ana").await;
    assert_eq!(v["conversations"].as_array().unwrap().len(), 0, "{v}");
    let search = json!({"user": "ana", "query": "perro Rocky", "mode": "fulltext"});
    let (_, _, text) = call(&plain, BRUNO, "POST", "/memory/search", &[], Some(search.clone())).await;
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["hits"].as_array().unwrap().len(), 0, "{text}");
    let (_, _, text) = call(&plain, ADMIN, "POST", "/memory/search", &[], Some(search.clone())).await;
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["hits"][0]["memory"]["text"], "Mi perro se llama Rocky.");
    let (_, v) = get(&plain, ADMIN, "/thau/conversations?user=ana").await;
    assert_eq!(v["conversations"].as_array().unwrap().len(), 3, "{v}");
    let (st, _, _) = call(&plain, "sk-nobody-0123456789abcdef", "POST", "/memory/search", &[], Some(search)).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // Ollama's chat with a conversation named by the client, resent: continued, not doubled.
    let named = [("x-thau-conversation", "mi-chat")];
    let mut msgs = vec![json!({"role": "user", "content": "Hablemos de Roma"})];
    for _ in 0..2 {
        let body = json!({"model": "thau-test", "messages": msgs, "stream": false, "options": {"num_predict": 3, "temperature": 0}});
        let (st, h, text) = call(&plain, BRUNO, "POST", "/api/chat", &named, Some(body)).await;
        assert_eq!(st, StatusCode::OK, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(h["x-thau-conversation"], v["x_thau"]["conversation"].as_str().unwrap());
        msgs.push(v["message"].clone());
        msgs.push(json!({"role": "user", "content": "¿Y el Coliseo?"}));
    }
    let (_, v) = get(&plain, BRUNO, "/thau/conversations").await;
    let list = v["conversations"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["client_key"], "mi-chat");
    assert_eq!(list[0]["turns"], 4, "two questions, two answers: {v}");
    let (st, _, text) = call(
        &plain,
        BRUNO,
        "POST",
        "/api/chat",
        &[("x-thau-conversation", "no such/id")],
        Some(json!({"model": "thau-test", "messages": msgs, "stream": false})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");

    // A streamed answer is logged too, once the stream has ended.
    let body = json!({"messages": [{"role": "user", "content": "Cuéntame algo"}], "stream": true, "max_tokens": 3});
    let (st, h, _) = call(&plain, BRUNO, "POST", "/v1/chat/completions", &[], Some(body)).await;
    assert_eq!(st, StatusCode::OK);
    let streamed = h["x-thau-conversation"].to_str().unwrap().to_string();
    let (_, v) = get(&plain, BRUNO, &format!("/thau/conversations/{streamed}")).await;
    let roles: Vec<&str> =
        v["messages"].as_array().unwrap().iter().map(|m| m["message"]["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant"], "{v}");

    // --memory-inject on: the next day, ana's question brings the Rocky memory into the
    // prompt (reported), bruno's does not.
    clock.set(DateTime::parse_from_rfc3339("2026-03-03T09:30:00+01:00").unwrap()).unwrap();
    let injecting = app(&db, &clock, true);
    let ask = json!({"messages": [{"role": "user", "content": "¿Cómo se llama mi perro?"}]});
    let (_, x) = openai(&injecting, ANA, ask.clone()).await;
    assert_eq!(x["memory"]["memories"][0]["text"], "Mi perro se llama Rocky.", "{x}");
    let (_, x) = openai(&injecting, BRUNO, ask.clone()).await;
    assert_eq!(x["memory"]["memories"].as_array().unwrap().len(), 0, "{x}");
    let (_, x) = openai(&plain, ANA, ask).await;
    assert!(x["memory"].is_null(), "{x}");
}
