//! The image routes in-process, over a tiny random Stable Diffusion pipeline: THAU's and
//! OpenAI's shapes, the saved files, path traversal, limits, and the server without a model.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::OnceLock;
use thau::infer::{Engine, InferModel, WeightDtype};
use thau::model::{Llama, ModelConfig};
use thau::tokenizer::Tokenizer;
use thau_server::{router, AppState, ServerConfig};
use tower::ServiceExt;

fn engine() -> Engine {
    let text = thau::data::synthetic::bilingual_corpus(1, 5_000);
    let tok = Tokenizer::train(text.into_iter().map(|d| d.text), 300).unwrap();
    let cfg = ModelConfig { vocab_size: tok.vocab_size(), max_seq_len: 1024, ..ModelConfig::tiny() };
    let llama = Llama::new_random(&cfg, 1, &candle_core::Device::Cpu).unwrap();
    Engine::spawn("tiny", InferModel::from_llama(&llama, WeightDtype::F32).unwrap(), tok).unwrap()
}

fn tiny_model() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        thau::vision::random::write_random_pipeline(d.path(), &thau::vision::PipelineConfig::tiny(600)).unwrap();
        d
    })
    .path()
}

fn app(images: &Path, with_model: bool) -> Router {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "thau-test");
    cfg.image_model = with_model.then(|| tiny_model().to_path_buf());
    cfg.images_dir = images.to_path_buf();
    cfg.image_max_side = 512;
    cfg.image_max_count = 2;
    router(AppState::new(engine(), cfg))
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::HOST, "localhost:11434");
    let req = req.body(body.map_or(Body::empty(), |b| Body::from(b.to_string()))).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status, body.collect().await.unwrap().to_bytes().to_vec(), parts.headers)
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(b)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vision_generate_saves_and_serves_images() {
    let images = tempfile::tempdir().unwrap();
    let app = app(images.path(), true);
    let body = json!({"prompt": "a photo of a cat", "negative_prompt": "blurry", "num_inference_steps": 2,
                      "guidance_scale": 5.0, "width": 256, "height": 256, "seed": 11});
    let (st, b, _) = call(&app, "POST", "/vision/generate", Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v = json_of(&b);
    assert_eq!(v["success"], true);
    assert_eq!(v["seed"], 11);
    assert_eq!(v["steps"], 2);
    assert_eq!(v["negative_prompt"], "blurry");
    assert_eq!(v["images"].as_array().unwrap().len(), 1);
    let url = v["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("/vision/image/thau-") && url.ends_with(".png"), "{url}");
    let (st, png, h) = call(&app, "GET", &url, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "image/png");
    assert_eq!(&png[1..4], b"PNG");
    let (st, side, _) = call(&app, "GET", &url.replace(".png", ".json"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json_of(&side)["prompt"], "a photo of a cat");
    assert_eq!(std::fs::read_dir(images.path()).unwrap().count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_images_in_both_formats() {
    let images = tempfile::tempdir().unwrap();
    let app = app(images.path(), true);
    let body =
        json!({"prompt": "a red dog", "n": 2, "size": "256x256", "response_format": "b64_json", "steps": 1, "seed": 3});
    let (st, b, _) = call(&app, "POST", "/v1/images/generations", Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v = json_of(&b);
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD.decode(data[0]["b64_json"].as_str().unwrap()).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(v["created"].as_u64().unwrap() > 0);

    let body = json!({"prompt": "a red dog", "size": "256x264", "steps": 1, "guidance_scale": 1.0});
    let (st, b, _) = call(&app, "POST", "/v1/images/generations", Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let url = json_of(&b)["data"][0]["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("http://localhost:11434/vision/image/"), "{url}");
    let (st, _, _) = call(&app, "GET", url.trim_start_matches("http://localhost:11434"), None).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_limits_are_4xx_without_files() {
    let images = tempfile::tempdir().unwrap();
    let app = app(images.path(), true);
    let openai = |body: Value| call(&app, "POST", "/v1/images/generations", Some(body));
    for (body, needle) in [
        (json!({"prompt": "a cat", "size": "1024x1024"}), "larger than this server allows"),
        (json!({"prompt": "a cat", "size": "big"}), "WIDTHxHEIGHT"),
        (json!({"prompt": "a cat", "size": "300x256"}), "multiples of 8"),
        (json!({"prompt": "a cat", "n": 3}), "at most 2"),
        (json!({"prompt": "a cat", "response_format": "gif"}), "url or b64_json"),
        (json!({"prompt": ""}), "prompt"),
    ] {
        let (st, b, _) = openai(body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {}", String::from_utf8_lossy(&b));
        let v = json_of(&b);
        assert!(v["error"]["message"].as_str().unwrap().contains(needle), "{body}: {v}");
    }
    for body in [
        json!({"prompt": "a cat", "num_inference_steps": 0}),
        json!({"prompt": "a cat", "num_inference_steps": 500}),
        json!({"prompt": "a cat", "width": 100}),
        json!({"prompt": "a cat", "scheduler": "plms"}),
        json!({"negative_prompt": "no prompt field"}),
    ] {
        let (st, b, _) = call(&app, "POST", "/vision/generate", Some(body.clone())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {}", String::from_utf8_lossy(&b));
        assert!(json_of(&b)["error"].is_string());
    }
    assert_eq!(std::fs::read_dir(images.path()).unwrap().count(), 0, "bad requests must write nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_files_cannot_escape_the_images_folder() {
    let root = tempfile::tempdir().unwrap();
    let images = root.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(root.path().join("secret.png"), b"secret").unwrap();
    std::fs::write(images.join(".hidden.png"), b"hidden").unwrap();
    let app = app(&images, false);
    for uri in [
        "/vision/image/..%2Fsecret.png",
        "/vision/image/%2E%2E%2Fsecret.png",
        "/vision/image/.hidden.png",
        "/vision/image/..",
        "/vision/image/secret.txt",
    ] {
        let (st, b, _) = call(&app, "GET", uri, None).await;
        assert!(st == StatusCode::BAD_REQUEST || st == StatusCode::NOT_FOUND, "{uri}: {st}");
        assert!(!String::from_utf8_lossy(&b).contains("secret\""), "{uri}");
        assert_ne!(b, b"secret");
        assert_ne!(b, b"hidden");
    }
    let (st, _, _) = call(&app, "GET", "/vision/image/../secret.png", None).await;
    assert_ne!(st, StatusCode::OK);
    let (st, _, _) = call(&app, "GET", "/vision/image/missing.png", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_image_model_the_routes_say_how_to_configure_one() {
    let images = tempfile::tempdir().unwrap();
    let app = app(images.path(), false);
    let (st, b, _) = call(&app, "POST", "/vision/generate", Some(json!({"prompt": "a cat"}))).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(json_of(&b)["error"].as_str().unwrap().contains("--image-model"));
    let (st, b, _) = call(&app, "POST", "/v1/images/generations", Some(json!({"prompt": "a cat"}))).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(json_of(&b)["error"]["message"].as_str().unwrap().contains("--image-model"));
    // The routes are in the OpenAPI document.
    let (_, doc, _) = call(&app, "GET", "/openapi.json", None).await;
    let doc = json_of(&doc);
    for p in ["/vision/generate", "/vision/image/{file}", "/v1/images/generations"] {
        assert!(doc["paths"][p].is_object(), "{p} missing from /openapi.json");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_chat_draws_with_the_servers_image_model() {
    let dir = tempfile::tempdir().unwrap();
    let body = || {
        json!({"message": "Dibuja un gato", "stream": false, "max_tokens": 48, "temperature": 0, "seed": 1,
               "tool_choice": {"type": "function", "function": {"name": "generate_image"}}})
    };
    // The model is made to call generate_image; the call runs on the server's pipeline.
    let (st, b, _) = call(&app(dir.path(), true), "POST", "/thau/chat", Some(body())).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v: Value = serde_json::from_slice(&b).unwrap();
    let events = v["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["type"] == "tool_call" && e["name"] == "generate_image"), "{v}");
    let result = events.iter().find(|e| e["type"] == "tool_result").expect("a tool result");
    match result["urls"].as_array() {
        // The random model's arguments were within the server's limits: the images are served.
        Some(urls) => {
            assert!(!urls.is_empty(), "{result}");
            for u in urls {
                let (st, png, _) = call(&app(dir.path(), true), "GET", u.as_str().unwrap(), None).await;
                assert_eq!(st, StatusCode::OK);
                assert!(png.starts_with(b"\x89PNG"));
            }
        }
        // Or they were not (a random model's prompt may be empty, its size too large), and the
        // server's limits or the image request's checks said so: the pipeline was reached.
        None => {
            let e = result["error"].as_str().unwrap();
            assert!(e.starts_with("generate_image failed: invalid") && !e.contains("--image-model"), "{result}");
        }
    }
    // Without an image model the tool says how to get one.
    let (st, b, _) = call(&app(dir.path(), false), "POST", "/thau/chat", Some(body())).await;
    assert_eq!(st, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    let result = v["events"].as_array().unwrap().iter().find(|e| e["type"] == "tool_result").cloned().unwrap();
    assert!(result["error"].as_str().unwrap().contains("--image-model"), "{result}");
    // A tool call cannot be demanded with tools off.
    let mut off = body();
    off["tools"] = json!(false);
    let (st, _, _) = call(&app(dir.path(), true), "POST", "/thau/chat", Some(off)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}
