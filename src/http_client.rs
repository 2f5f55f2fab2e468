//! The plain HTTP/1.1 client the web devices share (a HiLink stick, an
//! Android phone's app): a new connection per request (the devices' small
//! servers keep none well), a bound on connecting and on the whole
//! exchange, and the one distinction a device needs for a send: the device
//! could not be reached (nothing was sent), or the request went out and no
//! usable answer came (it may have acted on it).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::http::response;
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// The client.
pub(crate) type Http = Client<HttpConnector, Full<Bytes>>;

/// A client whose connections are given up after `timeout`.
pub(crate) fn client(timeout: Duration) -> Http {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(timeout));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector)
}

/// Why an exchange brought no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failed {
    /// No connection: the request did not go out. Why, with its causes.
    Unreachable(String),
    /// The request may have gone out; no whole answer came. Why.
    NoAnswer(String),
}

/// Sends `request` and reads the whole answer, within `timeout`.
pub(crate) async fn exchange(
    http: &Http,
    request: Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<(response::Parts, Bytes), Failed> {
    let exchange = async {
        let response = http.request(request).await.map_err(|error| {
            if error.is_connect() {
                Failed::Unreachable(causes(&error))
            } else {
                Failed::NoAnswer(causes(&error))
            }
        })?;
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|error| Failed::NoAnswer(error.to_string()))?
            .to_bytes();
        Ok((parts, bytes))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Failed::NoAnswer(format!("no answer within {} s", timeout.as_secs())))?
}

/// An error's causes, innermost last ("tcp connect error: Connection
/// refused"), or the error itself when it names none: hyper's own text
/// ("client error (Connect)") says nothing a user can act on.
pub(crate) fn causes(error: &dyn std::error::Error) -> String {
    let mut text = String::new();
    let mut next = error.source();
    while let Some(cause) = next {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    if text.is_empty() {
        error.to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_unreachable_and_a_silent_server_no_answer() {
        // A port nothing listens on: refused, so nothing went out.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let http = client(Duration::from_secs(5));
        let request = |port: u16| {
            Request::get(format!("http://127.0.0.1:{port}/"))
                .body(Full::new(Bytes::new()))
                .unwrap()
        };
        match exchange(&http, request(port), Duration::from_secs(5)).await {
            Err(Failed::Unreachable(why)) => assert!(why.contains("refused"), "{why}"),
            other => panic!("{other:?}"),
        }
        // A server that takes the request and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let (stream, _) = silent.accept().await.unwrap();
            std::future::pending::<()>().await;
            drop(stream);
        });
        match exchange(&http, request(port), Duration::from_millis(300)).await {
            Err(Failed::NoAnswer(why)) => assert!(why.contains("no answer within"), "{why}"),
            other => panic!("{other:?}"),
        }
        held.abort();
    }
}
