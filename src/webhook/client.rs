//! The HTTP side of webhooks: one POST over plain HTTP/1.1 (hyper's
//! client on tokio, connections kept alive between posts), with a time
//! limit. Nothing else: what to post and what an answer means is decided
//! by the caller.

use super::HttpUrl;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Why a post did not get an answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostError {
    /// No answer within the time limit.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The request could not be made or the connection failed.
    #[error("{0}")]
    Request(String),
}

/// A client with a pool of kept-alive connections.
#[derive(Clone)]
pub(crate) struct Client {
    inner: HyperClient<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Client {
    /// A new client.
    pub(crate) fn new() -> Self {
        Self {
            inner: HyperClient::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// POSTs `body` to `url` with `headers`; the answer's status code.
    pub(crate) async fn post(
        &self,
        url: &HttpUrl,
        headers: &[(&str, String)],
        body: String,
        limit: Duration,
    ) -> Result<u16, PostError> {
        let uri = format!("http://{}:{}{}", url.host, url.port, url.path);
        let mut request = hyper::Request::post(uri).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| PostError::Request(e.to_string()))?;
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| PostError::Request(error_chain(&e)))?;
            let status = response.status().as_u16();
            // Read the answer to its end so the connection can be reused.
            let _ = response.into_body().collect().await;
            Ok(status)
        };
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| PostError::Timeout(limit))?
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
