//! The small HTTP/1.1 server the web-device emulators share (the HiLink
//! stick, the ZTE stick, the Android phone): one loopback port, each
//! connection served by the emulator's answer function, and the port
//! taken down (connections refused, as a rebooting device does) and
//! brought back on the same address. Also [`Watched`], an emulator's
//! state with the change counter the tests wait on, so a wait ends as soon
//! as what it waits for happened and a look at the state is not a change.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What answers one request: a response, or an error that drops the
/// connection without one.
pub(crate) type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

/// A server on a loopback port.
pub(crate) struct WebServer {
    address: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
    serve: Arc<dyn Fn(TcpListener) -> JoinHandle<()> + Send + Sync>,
}

impl std::fmt::Debug for WebServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebServer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl WebServer {
    /// Serves `answer` on a free loopback port.
    pub(crate) async fn start<F, Fut>(answer: F) -> std::io::Result<Self>
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Answer> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let serve = Arc::new(move |listener: TcpListener| {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let answer = answer.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(answer);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                    while connections.try_join_next().is_some() {}
                }
            })
        });
        let server = Self {
            address,
            task: Mutex::new(Some(serve(listener))),
            serve,
        };
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops serving: connections are refused from now on.
    pub(crate) async fn down(&self) {
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Whether it serves (connections are taken).
    pub(crate) fn serving(&self) -> bool {
        self.task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Stops serving at once, from within a request too (the connection
    /// serving it ends with it).
    pub(crate) fn abort(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    /// Serves again on the same address.
    pub(crate) async fn up(&self) {
        let listener = loop {
            match TcpListener::bind(self.address).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let task = (self.serve)(listener);
        if let Some(old) = self
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task)
        {
            old.abort();
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

/// An emulator's state behind a lock, with the change counter its
/// waiters watch. A change ([`Watched::with`], [`Watched::update`] when it
/// changed something, [`Watched::touch`]) wakes them; a read
/// ([`Watched::read`], a snapshot) does not, so a waiter that looks at
/// the state never wakes itself.
#[derive(Debug)]
pub(crate) struct Watched<S> {
    state: Mutex<S>,
    changed: watch::Sender<u64>,
}

impl<S> Watched<S> {
    pub(crate) fn new(state: S) -> Self {
        Self {
            state: Mutex::new(state),
            changed: watch::channel(0).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the state: waiters look again.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        let result = f(&mut self.lock());
        self.touch();
        result
    }

    /// Runs `f`, which says whether it changed anything; only then do
    /// waiters look again.
    pub(crate) fn update(&self, f: impl FnOnce(&mut S) -> bool) -> bool {
        let changed = f(&mut self.lock());
        if changed {
            self.touch();
        }
        changed
    }

    /// Reads the state: not a change.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.lock())
    }

    /// Something outside the state changed (the server went down or came
    /// back): waiters look again.
    pub(crate) fn touch(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Waits until `done` holds, looking again at every change and at the
    /// moment `due` names (when the state next changes with time alone,
    /// such as a send that takes a while), at most `limit`; whether it
    /// did.
    pub(crate) async fn wait_for(
        &self,
        limit: Duration,
        due: impl Fn(&S) -> Option<std::time::Instant>,
        done: impl Fn() -> bool,
    ) -> bool {
        let mut changes = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if done() {
                return true;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return false;
            }
            // A moment already past (a clock that lags) is looked at a
            // millisecond later, not in a spin.
            let wake = self
                .read(&due)
                .map_or(deadline, |at| {
                    tokio::time::Instant::from_std(at).max(now + Duration::from_millis(1))
                })
                .min(deadline);
            let _ = tokio::time::timeout_at(wake, changes.changed()).await;
        }
    }
}
