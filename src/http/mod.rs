//! The HTTP API of the original gateway, on axum (hyper, on the daemon's
//! own tokio runtime): `POST /sms/send`, `GET /sms/signal`, with
//! `GET /sms/status/{id}`, `GET /health` and `GET /metrics` beside them.
//! Off unless `[http] listen` (or `simgate run --http`) names an address.
//!
//! A message sent here is queued as an outbox file, exactly as `simgate
//! send` queues one, so the daemon takes it through the same state
//! machine, limits, destinations and hooks; the answer waits (up to
//! `wait_seconds`) for the daemon to say the message ended, which it
//! publishes in-process ([`crate::daemon::published`]). Signal and
//! metrics come from the daemon's latest snapshot, never from a command
//! to the modem. What the API records (the per-client limit, keys) is in
//! the database, written from threads of its own ([`worker`]); the
//! daemon's loop never waits for a request.
//!
//! - `request`: what a request says, and every refusal (pure).
//! - `limit`: the per-client limit (pure).
//! - `metrics`: the Prometheus text (pure).
//! - `routes`: the handlers.
//! - `worker`: the threads for the database and the files.
//! - `unavailable`: the answers while the daemon waits for room on a full
//!   disk.
//!
//! Connections are taken as every listener of the daemon takes them
//! ([`crate::http_server`]): a bounded number, none left silent.

mod health;
mod limit;
mod metrics;
mod request;
mod routes;
mod unavailable;
mod worker;

use crate::config::Config;
use crate::daemon::published::Published;
use crate::http_server;
use crate::store::StoreError;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Why the HTTP API could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The address cannot be listened on.
    #[error("cannot listen for HTTP on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The token file cannot be read or is empty.
    #[error("cannot read the HTTP token from {}: {reason}", path.display())]
    Token {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The database.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Threads for the API's database work and file writes.
const WORKER_THREADS: usize = 2;

/// How long a stop waits for the requests in flight.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The running API.
pub(crate) struct Server {
    stopping: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// What every handler shares.
pub(crate) struct Api {
    config: Arc<Config>,
    token: Option<String>,
    worker: worker::Worker,
    published: Published,
    stopping: watch::Receiver<bool>,
}

/// The token in effect: `[http] token`, or the content of `token_file`.
fn token(config: &Config) -> Result<Option<String>, HttpError> {
    let Some(path) = &config.http.token_file else {
        return Ok(config.http.token.clone());
    };
    let error = |reason: String| HttpError::Token {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let token = crate::config::http_token(&text)
        .ok_or_else(|| error("it must hold one token without spaces".to_owned()))?;
    Ok(Some(token.to_owned()))
}

/// Listens on `[http] listen` and serves the API until [`Server::stop`].
pub(crate) async fn start(
    config: Arc<Config>,
    database: &Path,
    published: Published,
) -> Result<Option<Server>, HttpError> {
    let Some(Bound {
        listener,
        address: bound,
        token,
    }) = bind(&config).await?
    else {
        return Ok(None);
    };
    if !bound.ip().is_loopback() && token.is_none() {
        tracing::warn!(address = %bound, "the HTTP API listens beyond loopback without a token: anyone who reaches it can send messages (set [http] token_file)");
    }
    let worker = worker::Worker::start(database, WORKER_THREADS)?;
    let (stopping, stop_seen) = watch::channel(false);
    let api = Arc::new(Api {
        config,
        token,
        worker,
        published,
        stopping: stop_seen.clone(),
    });
    let router = routes::router(api);
    let (task, connections) = serve_router(listener, router, stop_seen);
    tracing::info!(address = %bound, connections, "HTTP API listening");
    Ok(Some(Server { stopping, task }))
}

/// While the daemon waits for room on a full disk: listens on `[http]
/// listen` and answers every request 503 with `reason` until
/// [`Server::stop`] ([`unavailable`]).
pub(crate) async fn start_unavailable(
    config: &Config,
    reason: &str,
) -> Result<Option<Server>, HttpError> {
    let Some(Bound {
        listener,
        address: bound,
        token,
    }) = bind(config).await?
    else {
        return Ok(None);
    };
    let (stopping, stop_seen) = watch::channel(false);
    let router = unavailable::router(
        token,
        format!("the disk under the database is full: {reason}"),
    );
    let (task, _) = serve_router(listener, router, stop_seen);
    tracing::info!(address = %bound, "HTTP API listening: it answers 503 until there is room on the disk");
    Ok(Some(Server { stopping, task }))
}

/// The API's socket, listening.
struct Bound {
    listener: tokio::net::TcpListener,
    /// Where it listens (the port chosen, for port 0).
    address: SocketAddr,
    /// The token in effect.
    token: Option<String>,
}

/// Listens on `[http] listen` with the token in effect; `None` when the
/// API is off.
async fn bind(config: &Config) -> Result<Option<Bound>, HttpError> {
    let Some(address) = config.http.listen else {
        return Ok(None);
    };
    let token = token(config)?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| HttpError::Bind { address, source })?;
    Ok(Some(Bound {
        address: listener.local_addr().unwrap_or(address),
        listener,
        token,
    }))
}

/// Serves `router` on `listener` until `stop` says so, each request
/// knowing its peer; the task, and how many connections it takes at once.
fn serve_router(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
) -> (tokio::task::JoinHandle<()>, usize) {
    let service_for = move |peer: SocketAddr| {
        let router = router.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            tower_service::Service::call(&mut router.clone(), request)
        })
    };
    let bounds = http_server::Bounds::for_this_process();
    let task = tokio::spawn(http_server::serve(
        listener,
        bounds,
        service_for,
        async move {
            stopped(&mut stop).await;
        },
    ));
    (task, bounds.connections)
}

/// Completes once the API is told to stop.
pub(crate) async fn stopped(stopping: &mut watch::Receiver<bool>) {
    while !*stopping.borrow_and_update() {
        if stopping.changed().await.is_err() {
            return;
        }
    }
}

impl Server {
    /// Stops listening; requests waiting for an outcome answer 202 at once.
    pub(crate) async fn stop(self) {
        let _ = self.stopping.send(true);
        let mut task = self.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_file_trimmed_and_a_bad_file_stops_the_start() {
        let dir = std::env::temp_dir().join(format!("simgate-http-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = Config::default();
        assert_eq!(token(&config).unwrap(), None);
        config.http.token = Some("inline".into());
        assert_eq!(token(&config).unwrap().as_deref(), Some("inline"));
        let file = dir.join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        config.http.token = None;
        config.http.token_file = Some(file.clone());
        assert_eq!(token(&config).unwrap().as_deref(), Some("from-file"));
        for bad in ["", "two words\n"] {
            std::fs::write(&file, bad).unwrap();
            let error = token(&config).unwrap_err().to_string();
            assert!(error.contains(&file.display().to_string()), "{error}");
        }
        config.http.token_file = Some(dir.join("missing"));
        assert!(matches!(token(&config), Err(HttpError::Token { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
