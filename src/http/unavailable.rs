//! The HTTP API while the daemon's work waits for room on a full disk
//! ([`crate::daemon::room`]): the address stays answered, every request
//! with 503 and why, so a backend and its monitoring see the reason and
//! when to ask again, not a refused connection. `GET /health` keeps its
//! usual shape (live, not ready, the reason); every other request needs
//! the token as usual, then gets the reason as its error.

use super::request::{self, ApiError};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

/// Seconds a client is told to wait before it asks again (the daemon
/// looks for room every second).
const ASK_AGAIN_AFTER: u64 = 10;

/// What every answer needs.
struct Closed {
    token: Option<String>,
    reason: String,
}

/// Every path: `/health`, and the refusal for the rest.
pub(super) fn router(token: Option<String>, reason: String) -> Router {
    Router::new()
        .route("/health", get(health))
        .fallback(refuse)
        .with_state(Arc::new(Closed { token, reason }))
}

async fn health(State(closed): State<Arc<Closed>>) -> Response {
    let body = json!({ "live": true, "ready": false, "reasons": [closed.reason] });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, ASK_AGAIN_AFTER.into());
    response
}

async fn refuse(State(closed): State<Arc<Closed>>, headers: HeaderMap) -> ApiError {
    if let Err(refused) = request::authorised(
        closed.token.as_deref(),
        headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
    ) {
        return refused;
    }
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: closed.reason.clone(),
        retry_after: Some(ASK_AGAIN_AFTER),
    }
}
