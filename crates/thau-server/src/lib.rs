//! `thau serve`: THAU's HTTP API over the inference [`Engine`](thau::infer::Engine).
//!
//! ```text
//!  HTTP clients ──► axum router ──► queue slot (429 when full) ──► engine thread (one model)
//!   OpenAI /v1/*      │                                                  │
//!   Ollama /api/*     └── SSE / NDJSON ◄── tokio channel ◄── blocking forwarder ◄─┘
//!   THAU /thau/chat (the assistant: memory, tools, conversations), /health, /training/status,
//!        /openapi.json, /docs (Swagger UI served from the binary)
//! ```
//!
//! A client that disconnects cancels its generation; concurrent requests decode together in the
//! engine's batch (see [`thau::infer::Engine`]). Embeddings and `/memory/*` run on blocking
//! threads beside it.

mod api_memory;
pub mod auth;
mod bridge;
mod chat;
mod embeddings;
mod error;
mod learn;
pub use learn::AutoLearn;
mod memory;
mod native;
mod ollama;
mod openai;
mod state;
mod tools;
mod vision;

pub use error::{ApiError, Flavor};

/// The conversation an OpenAI or Ollama client's chat request belongs to: sent by a client
/// that names its own, answered with the id the turn was logged in.
pub const CONVERSATION_HEADER: &str = "x-thau-conversation";
pub use state::{AppState, EmbeddingModel, ServerConfig};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use thau::infer::LiveEngine;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "THAU API", description = "OpenAI- and Ollama-compatible routes plus THAU's own."),
    paths(
        openai::chat_completions, openai::completions, openai::list_models, openai::get_model,
        ollama::generate, ollama::chat, ollama::tags, ollama::ps, ollama::show, ollama::version,
        native::health, native::training_status,
        vision::generate, vision::image_file, vision::openai_generations,
        embeddings::openai_embeddings, embeddings::ollama_embed, embeddings::ollama_embeddings,
        memory::remember, memory::search, memory::recall_route, memory::log, memory::forget, memory::export,
        learn::feedback,
        chat::chat, chat::conversations, chat::conversation,
    ),
    tags((name = "openai", description = "OpenAI-compatible"), (name = "ollama", description = "Ollama-compatible"),
         (name = "thau", description = "THAU's own"))
)]
pub struct ApiDoc;

/// The OpenAPI 3.1 document of every route.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|_| "{}".into())
}

/// All routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let docs = swagger_ui_dist::generate_routes(swagger_ui_dist::ApiDefinition {
        uri_prefix: "/docs",
        api_definition: swagger_ui_dist::OpenApiSource::Uri("/openapi.json"),
        title: Some("THAU API"),
    });
    let api = Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/models/{model}", get(openai::get_model))
        .route("/api/generate", post(ollama::generate))
        .route("/api/chat", post(ollama::chat))
        .route("/api/tags", get(ollama::tags))
        .route("/api/ps", get(ollama::ps))
        .route("/api/show", post(ollama::show))
        .route("/training/status", get(native::training_status))
        .route("/vision/generate", post(vision::generate))
        .route("/vision/image/{file}", get(vision::image_file))
        .route("/v1/images/generations", post(vision::openai_generations))
        .route("/v1/embeddings", post(embeddings::openai_embeddings))
        .route("/api/embed", post(embeddings::ollama_embed))
        .route("/api/embeddings", post(embeddings::ollama_embeddings))
        .route("/memory/remember", post(memory::remember))
        .route("/memory/search", post(memory::search))
        .route("/memory/recall", post(memory::recall_route))
        .route("/memory/log", post(memory::log))
        .route("/memory/forget", post(memory::forget))
        .route("/memory/export", get(memory::export))
        .route("/feedback", post(learn::feedback))
        .route("/thau/chat", post(chat::chat))
        .route("/thau/conversations", get(chat::conversations))
        .route("/thau/conversations/{id}", get(chat::conversation))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    let mut app = Router::new()
        .merge(api)
        .route("/api/version", get(ollama::version))
        .route("/health", get(native::health))
        .route("/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], openapi_json()) }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state.clone())
        .merge(docs);
    if !state.config.cors_origins.is_empty() {
        let origin = if state.config.cors_origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(state.config.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        };
        app = app.layer(
            CorsLayer::new()
                .allow_origin(origin)
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers([
                    header::CONTENT_TYPE,
                    header::AUTHORIZATION,
                    header::HeaderName::from_static(auth::USER_HEADER),
                    header::HeaderName::from_static(CONVERSATION_HEADER),
                ])
                .expose_headers([header::HeaderName::from_static(CONVERSATION_HEADER)]),
        );
    }
    app
}

/// The API key check (`Authorization: Bearer KEY` when the server has keys): 401, or the
/// request goes on knowing its [`auth::Caller`].
async fn require_key(State(s): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let flavor = if req.uri().path().starts_with("/v1/") { Flavor::OpenAi } else { Flavor::Ollama };
    let sent = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match auth::check(&s.config.keys, sent, flavor) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn not_found(req: Request) -> Response {
    let flavor = if req.uri().path().starts_with("/v1/") { Flavor::OpenAi } else { Flavor::Ollama };
    let msg = format!("no route {} {}: see /docs for the API", req.method(), req.uri().path());
    ApiError::not_found(flavor, msg).into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    let flavor = if req.uri().path().starts_with("/v1/") { Flavor::OpenAi } else { Flavor::Ollama };
    let msg = format!("{} is not allowed on {}: see /docs for the API", req.method(), req.uri().path());
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, flavor, msg).into_response()
}

/// [`serve`] on a tokio runtime of its own (for the synchronous CLI).
pub fn serve_blocking(
    config: ServerConfig,
    engine: LiveEngine,
    embedder: Option<EmbeddingModel>,
) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(serve(config, engine, embedder))
}

/// Serve until Ctrl-C or SIGTERM; in-flight requests are finished (streams run to the end)
/// within [`ServerConfig::shutdown_grace`], then cancelled.
pub async fn serve(config: ServerConfig, engine: LiveEngine, embedder: Option<EmbeddingModel>) -> anyhow::Result<()> {
    config.validate()?;
    let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {}: {e} (is another server using the port? try --port)", config.addr)
    })?;
    let addr = listener.local_addr()?;
    let state = AppState::with_embedder(engine, config, embedder);
    follow_weights(&state);
    tracing::info!(%addr, "serving");
    eprintln!("THAU serving '{}' on http://{addr} (docs: http://{addr}/docs)", state.config.model_name);
    let grace = state.config.shutdown_grace;
    let (stopping, mut stop_seen) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stopping.send(true);
    });
    // Requests in flight get `grace` to finish; then the server stops, which drops their
    // connections and so cancels their generations.
    let deadline = async move {
        let _ = stop_seen.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        r = server => r?,
        () = deadline => eprintln!("requests still running after {}s: cancelled", grace.as_secs()),
    }
    Ok(())
}

/// For a server of a run: every [`ServerConfig::reload_every`], swap in the run's new weights
/// if they changed (a kept learning run, `thau learn undo`). Requests keep the weights they
/// started with; a failed load keeps the old ones and says why.
pub fn follow_weights(state: &Arc<AppState>) {
    if !state.model.follows_run() {
        return;
    }
    let state = Arc::downgrade(state);
    tokio::spawn(async move {
        loop {
            let Some(s) = state.upgrade() else { return };
            let every = s.config.reload_every;
            let checked = tokio::task::spawn_blocking(move || s.model.refresh()).await;
            match checked {
                Ok(Ok(Some(served))) => eprintln!(
                    "serving new weights: {}",
                    served.checkpoint.as_deref().map(|c| c.display().to_string()).unwrap_or_default()
                ),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the run's new weights could not be loaded; the old ones stay served")
                }
                Err(e) => tracing::warn!(error = %e, "the weight check stopped"),
            }
            tokio::time::sleep(every).await;
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    eprintln!("shutting down: finishing requests in flight");
}
