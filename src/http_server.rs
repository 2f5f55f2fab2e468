//! How simgate's HTTP listeners (the API, the Android app's webhooks)
//! take connections, so that no client can use up what the daemon needs
//! to send and receive (file descriptors above all):
//!
//! - at most [`Bounds::connections`] connections at a time per listener;
//!   the next ones wait in the kernel's queue until one ends;
//! - a connection that sends no complete request head within
//!   [`Bounds::header_timeout`] is closed, whether it is new or idle
//!   between two requests;
//! - a request's body must arrive within [`BODY_TIMEOUT`] of its head
//!   ([`read_body_in_time`], which each listener reads its bodies with).
//!
//! A stop closes the listener, lets each connection finish the request it
//! is answering, and waits for them.

use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How long a connection may take to send a request head.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request's body may take to arrive after its head.
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections one listener takes, however many descriptors the
/// process may open (a local API and one phone need a handful).
const MOST_CONNECTIONS: u64 = 128;

/// The fewest, however few descriptors the process may open.
const FEWEST_CONNECTIONS: u64 = 4;

/// What one listener allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// Connections open at once.
    pub(crate) connections: usize,
    /// How long a connection may take to send a request head.
    pub(crate) header_timeout: Duration,
}

impl Bounds {
    /// For a listener of this process: see [`connections_for`].
    pub(crate) fn for_this_process() -> Self {
        use nix::sys::resource::{getrlimit, Resource};
        let descriptors = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
        Self {
            connections: connections_for(descriptors),
            header_timeout: HEADER_TIMEOUT,
        }
    }
}

/// The connections one listener may hold when the process may open
/// `descriptors` files: a quarter of them, so that two listeners full of
/// clients leave the daemon half of its descriptors, between
/// [`FEWEST_CONNECTIONS`] and [`MOST_CONNECTIONS`].
pub(crate) fn connections_for(descriptors: u64) -> usize {
    (descriptors / 4).clamp(FEWEST_CONNECTIONS, MOST_CONNECTIONS) as usize
}

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// More than the listener takes.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// The client closed or broke the connection in the middle of it.
    #[error("the body was cut short")]
    CutShort,
    /// It did not all arrive within [`BODY_TIMEOUT`].
    #[error("the body did not arrive within {} s", BODY_TIMEOUT.as_secs())]
    TooSlow,
}

/// Reads a whole body of at most `max` bytes, if it arrives within
/// [`BODY_TIMEOUT`].
pub(crate) async fn read_body_in_time<B>(body: B, max: usize) -> Result<Bytes, BodyError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, max).collect()).await {
        Err(_) => Err(BodyError::TooSlow),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            Err(BodyError::TooLarge(max))
        }
        Ok(Err(_)) => Err(BodyError::CutShort),
    }
}

/// Serves HTTP/1 on `listener` within `bounds` until `stop` completes,
/// each connection with the service `service_for` makes for its peer;
/// then waits for the requests being answered. Dropping the future
/// closes every connection at once.
pub(crate) async fn serve<F, S, B>(
    listener: TcpListener,
    bounds: Bounds,
    service_for: F,
    stop: impl Future<Output = ()>,
) where
    F: Fn(SocketAddr) -> S,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let places = Arc::new(Semaphore::new(bounds.connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(bounds.header_timeout);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        while connections.try_join_next().is_some() {}
        // A place first, then the connection: beyond the bound, clients
        // wait in the kernel's queue, not in the daemon's descriptors.
        let place = tokio::select! {
            () = &mut stop => break,
            place = places.clone().acquire_owned() => place.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    wait_after_accept_error(&error).await;
                    continue;
                }
            },
        };
        let connection =
            graceful.watch(http.serve_connection(TokioIo::new(stream), service_for(peer)));
        connections.spawn(async move {
            let _ = connection.await;
            drop(place);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    while connections.join_next().await.is_some() {}
}

/// After a failed accept: nothing for a connection the peer gave up
/// (the next accept may succeed at once); a second, logged, for anything
/// else (out of descriptors: waiting lets the daemon's other work close
/// some).
async fn wait_after_accept_error(error: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(%error, "cannot take an HTTP connection; trying again in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    #[test]
    fn a_listener_takes_a_quarter_of_the_descriptors_within_bounds() {
        assert_eq!(connections_for(1024), 128);
        assert_eq!(connections_for(524_288), 128);
        assert_eq!(connections_for(256), 64);
        assert_eq!(connections_for(64), 16);
        assert_eq!(connections_for(8), 4);
        assert_eq!(connections_for(0), 4);
    }

    /// A server on loopback answering "hello" to every request, and the
    /// way to stop it.
    async fn hello_server(
        bounds: Bounds,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = |_peer| {
            hyper::service::service_fn(|_request: Request<Incoming>| async {
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
            })
        };
        let task = tokio::spawn(serve(listener, bounds, service, async {
            let _ = stopped.await;
        }));
        (address, stop, task)
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

    /// Reads one response (the server sends it whole) and returns it.
    async fn response(stream: &mut TcpStream) -> String {
        let mut buffer = vec![0; 1024];
        let n = stream.read(&mut buffer).await.unwrap();
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }

    /// Whether the server closes `stream` within 100 s (of paused time:
    /// a server that never closes it fails the test instead of hanging).
    async fn closed_by_server(stream: &mut TcpStream) -> bool {
        let mut byte = [0; 1];
        let read = tokio::time::timeout(Duration::from_secs(100), stream.read(&mut byte)).await;
        matches!(read, Ok(Ok(0) | Err(_)))
    }

    /// Asserts that (paused) time went on by `expected` since `start`, to
    /// within a second.
    fn took_about(start: tokio::time::Instant, expected: Duration) {
        let took = start.elapsed();
        assert!(
            took >= expected && took < expected + Duration::from_secs(1),
            "took {took:?}, not {expected:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_silent_when_new_or_between_requests_is_closed_in_time() {
        let bounds = Bounds {
            connections: 8,
            header_timeout: Duration::from_secs(5),
        };
        let (address, _stop, _task) = hello_server(bounds).await;
        let start = tokio::time::Instant::now();
        let mut silent = TcpStream::connect(address).await.unwrap();
        assert!(closed_by_server(&mut silent).await);
        took_about(start, bounds.header_timeout);

        let mut kept_alive = TcpStream::connect(address).await.unwrap();
        kept_alive.write_all(GET).await.unwrap();
        assert!(response(&mut kept_alive).await.contains("hello"));
        let answered = tokio::time::Instant::now();
        assert!(closed_by_server(&mut kept_alive).await);
        took_about(answered, bounds.header_timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn connections_beyond_the_bound_wait_until_one_ends() {
        let bounds = Bounds {
            connections: 2,
            header_timeout: Duration::from_secs(5),
        };
        let (address, _stop, _task) = hello_server(bounds).await;
        let start = tokio::time::Instant::now();
        let mut first = TcpStream::connect(address).await.unwrap();
        let mut second = TcpStream::connect(address).await.unwrap();
        // The third is queued by the kernel, and answered only once a
        // silent one has been closed for its silence.
        let mut third = TcpStream::connect(address).await.unwrap();
        third.write_all(GET).await.unwrap();
        assert!(response(&mut third).await.contains("hello"));
        took_about(start, bounds.header_timeout);
        assert!(closed_by_server(&mut first).await);
        assert!(closed_by_server(&mut second).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_closes_the_listener_and_waits_for_nothing_idle() {
        let bounds = Bounds {
            connections: 4,
            header_timeout: Duration::from_secs(3600),
        };
        let (address, stop, task) = hello_server(bounds).await;
        let mut idle = TcpStream::connect(address).await.unwrap();
        idle.write_all(GET).await.unwrap();
        assert!(response(&mut idle).await.contains("hello"));
        stop.send(()).unwrap();
        task.await.unwrap();
        assert!(closed_by_server(&mut idle).await);
        assert!(TcpStream::connect(address).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_is_read_whole_refused_when_too_large_and_given_up_when_too_slow() {
        let whole = read_body_in_time(Full::new(Bytes::from("12345")), 5).await;
        assert_eq!(whole.unwrap(), Bytes::from("12345"));
        let large = read_body_in_time(Full::new(Bytes::from("123456")), 5).await;
        assert_eq!(large.unwrap_err(), BodyError::TooLarge(5));
        // A body whose first part came and whose rest never does.
        use futures_util::stream::{self, StreamExt};
        use hyper::body::Frame;
        let first = || Ok::<_, std::io::Error>(Frame::data(Bytes::from("12")));
        let stalled =
            http_body_util::StreamBody::new(stream::iter([first()]).chain(stream::pending()));
        let start = tokio::time::Instant::now();
        let slow = read_body_in_time(stalled, 5).await;
        assert_eq!(slow.unwrap_err(), BodyError::TooSlow);
        took_about(start, BODY_TIMEOUT);
        let broken = stream::iter([first(), Err(std::io::ErrorKind::ConnectionReset.into())]);
        let cut = read_body_in_time(http_body_util::StreamBody::new(broken), 5).await;
        assert_eq!(cut.unwrap_err(), BodyError::CutShort);
    }
}
