//! Errors in the shape each API's clients expect: OpenAI's `{"error": {"message", "type",
//! "code"}}`, Ollama's `{"error": "..."}`, and THAU's own routes like Ollama's. Every failure a
//! client can cause is a 4xx; 5xx is kept for the engine itself failing.

use axum::extract::rejection::JsonRejection;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Which API a route belongs to, for the error body's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenAi,
    Ollama,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub flavor: Flavor,
    /// Seconds a client should wait before retrying (429).
    pub retry_after: Option<u64>,
    /// OpenAI's machine-readable `code` (e.g. `model_not_found`).
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, flavor: Flavor, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), flavor, retry_after: None, code: None }
    }
    pub fn bad_request(flavor: Flavor, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, flavor, message)
    }
    pub fn not_found(flavor: Flavor, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, flavor, message)
    }

    /// A library error, by whose fault it is: bad input (invalid values, prompts that cannot
    /// fit) is the client's (400); a conversation or turn the user does not have is 404; a
    /// learning run already going is a conflict to retry later (409); a damaged or
    /// incompatible file on the server, a tokenizer or corpus problem, a failed fetch or
    /// computation is ours (500). Every
    /// variant is named, so a new one must be placed here.
    pub fn from_thau(flavor: Flavor, e: thau::Error) -> Self {
        use thau::Error as E;
        let status = match &e {
            E::Invalid { .. } => StatusCode::BAD_REQUEST,
            E::Unknown { .. } => StatusCode::NOT_FOUND,
            E::Busy { .. } => StatusCode::CONFLICT,
            E::Io { .. }
            | E::NotFound { .. }
            | E::Corrupt { .. }
            | E::Incompatible { .. }
            | E::Fetch { .. }
            | E::Tokenizer(_)
            | E::Corpus { .. }
            | E::Candle(_)
            | E::Diverged { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, flavor, e.to_string())
    }

    /// A body that is not JSON, or not the JSON this route takes.
    pub fn from_json(flavor: Flavor, r: JsonRejection) -> Self {
        let status = match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, flavor, format!("invalid request body: {}", r.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.flavor {
            Flavor::OpenAi => {
                let kind = match self.status.as_u16() {
                    401 => "authentication_error",
                    404 => "not_found_error",
                    429 => "rate_limit_error",
                    s if s >= 500 => "server_error",
                    _ => "invalid_request_error",
                };
                json!({"error": {"message": self.message, "type": kind, "param": null, "code": self.code}})
            }
            Flavor::Ollama => json!({"error": self.message}),
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, s.into());
        }
        resp
    }
}

/// Parse an extracted JSON body, turning a rejection into this API's error shape.
pub fn body<T>(flavor: Flavor, r: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    r.map(|Json(t)| t).map_err(|e| ApiError::from_json(flavor, e))
}
