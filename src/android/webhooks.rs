//! The small HTTP server the app posts its webhooks to: each one is
//! checked (signed by the key, fresh; [`super::api::verify`]), read, and
//! handed to whoever takes the [`Delivery`]s; its answer waits for that
//! one's word. 2xx only once it said the event is recorded; otherwise
//! 503, and the app posts it again later. Unsigned, stale or wrongly
//! signed webhooks get 401 and change nothing; an unreadable body, 400.

use super::api::{self, Event};
use crate::http_server::{self, read_body_in_time, BodyError, Bounds};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The largest body taken (a long text is a few kB).
const MAX_BODY: usize = 256 * 1024;

/// One checked webhook, waiting for its handler's word.
#[derive(Debug)]
pub struct Delivery {
    /// What it says.
    pub event: Event,
    /// `true` once it is recorded (the app is answered 2xx), `false` when
    /// it could not be (503, and the app tries again).
    pub done: oneshot::Sender<bool>,
}

/// What the server needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The signing key.
    pub key: String,
    /// The path it takes webhooks on.
    pub path: String,
    /// How long a webhook waits for its handler before 503.
    pub wait: Duration,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Answers one request.
async fn answer(
    settings: Arc<Settings>,
    deliveries: mpsc::Sender<Delivery>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let reply = |status: StatusCode, text: &str| {
        let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
        *response.status_mut() = status;
        Ok(response)
    };
    if request.method() != Method::POST || request.uri().path() != settings.path {
        return reply(StatusCode::NOT_FOUND, "not here");
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let timestamp = header(api::TIMESTAMP_HEADER);
    let signature = header(api::SIGNATURE_HEADER);
    let body = match read_body_in_time(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(error @ BodyError::TooSlow) => {
            return reply(StatusCode::REQUEST_TIMEOUT, &error.to_string())
        }
        Err(error) => return reply(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    if let Err(error) = api::verify(
        &settings.key,
        &body,
        timestamp.as_deref(),
        signature.as_deref(),
        now(),
    ) {
        tracing::warn!(%error, "a webhook refused: is simgate's signing_key the app's?");
        return reply(StatusCode::UNAUTHORIZED, &error.to_string());
    }
    let event = match api::parse_event(&body) {
        Ok(Event::Other(event)) => {
            tracing::debug!(event, "a webhook simgate has no use for");
            return reply(StatusCode::OK, "ignored");
        }
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, "an unreadable webhook");
            return reply(StatusCode::BAD_REQUEST, &error.to_string());
        }
    };
    let (done, word) = oneshot::channel();
    if deliveries.send(Delivery { event, done }).await.is_err() {
        return reply(StatusCode::SERVICE_UNAVAILABLE, "simgate is stopping");
    }
    match tokio::time::timeout(settings.wait, word).await {
        Ok(Ok(true)) => reply(StatusCode::OK, "recorded"),
        _ => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "not recorded yet; try again",
        ),
    }
}

/// Binds `address`.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Serves webhooks on `listener` until the task is aborted, taking
/// connections as every listener of the daemon does
/// ([`crate::http_server`]).
pub fn serve(
    listener: TcpListener,
    settings: Settings,
    deliveries: mpsc::Sender<Delivery>,
) -> JoinHandle<()> {
    let settings = Arc::new(settings);
    let service_for = move |_peer| {
        let settings = settings.clone();
        let deliveries = deliveries.clone();
        hyper::service::service_fn(move |request| {
            answer(settings.clone(), deliveries.clone(), request)
        })
    };
    tokio::spawn(http_server::serve(
        listener,
        Bounds::for_this_process(),
        service_for,
        std::future::pending(),
    ))
}
