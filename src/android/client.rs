//! One conversation with the app's Local Server over plain HTTP: Basic
//! auth on every request, JSON both ways. Each request opens its own
//! connection, so a refused connection always means the request never
//! reached the phone, and a request that went out with no answer is told
//! apart ([`AndroidError::NoAnswer`]): the phone may have acted on it.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request};
use std::time::Duration;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AndroidError {
    /// No connection: the request never reached the phone.
    #[error("cannot reach the phone at {url}: {reason}")]
    Unreachable {
        /// The phone's address.
        url: String,
        /// Why.
        reason: String,
    },
    /// The request went out but no complete answer came: the phone may
    /// have acted on it.
    #[error("no answer from the phone to {path}: {reason}")]
    NoAnswer {
        /// The request.
        path: String,
        /// Why.
        reason: String,
    },
    /// The app refused the user or password (401).
    #[error("the app refused the user or password (HTTP 401); see its Local Server settings")]
    Unauthorized,
    /// Another HTTP status than expected.
    #[error("the phone answered HTTP {status} to {path}: {body}")]
    Http {
        /// The request.
        path: String,
        /// The status.
        status: u16,
        /// What it said (its `message`, shortened).
        body: String,
    },
}

/// An answer: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

/// A client for one phone.
#[derive(Debug)]
pub struct Client {
    base: String,
    authorization: String,
    timeout: Duration,
    http: crate::http_client::Http,
}

impl Client {
    /// A client for the phone at `base` (`http://PHONE:8080`).
    pub fn new(base: &str, user: &str, password: &str, timeout: Duration) -> Self {
        let http = crate::http_client::client(timeout);
        Self {
            base: base.trim_end_matches('/').to_owned(),
            authorization: format!(
                "Basic {}",
                crate::base64::encode(format!("{user}:{password}").as_bytes())
            ),
            timeout,
            http,
        }
    }

    /// The phone's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// One request; any status is an answer, except 401.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        json: Option<String>,
    ) -> Result<Answer, AndroidError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("Authorization", &self.authorization);
        if json.is_some() {
            request = request.header("Content-Type", "application/json; charset=utf-8");
        }
        let request = request
            .body(Full::new(Bytes::from(json.unwrap_or_default())))
            .map_err(|e| AndroidError::Unreachable {
                url: self.base.clone(),
                reason: e.to_string(),
            })?;
        let (parts, body) = crate::http_client::exchange(&self.http, request, self.timeout)
            .await
            .map_err(|failed| match failed {
                crate::http_client::Failed::Unreachable(reason) => AndroidError::Unreachable {
                    url: self.base.clone(),
                    reason,
                },
                crate::http_client::Failed::NoAnswer(reason) => AndroidError::NoAnswer {
                    path: path.to_owned(),
                    reason,
                },
            })?;
        let answer = Answer {
            status: parts.status.as_u16(),
            body,
        };
        if answer.status == 401 {
            return Err(AndroidError::Unauthorized);
        }
        Ok(answer)
    }

    /// The error for an answer with a status not expected.
    pub fn unexpected(path: &str, answer: &Answer) -> AndroidError {
        let text = String::from_utf8_lossy(&answer.body);
        let message = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(200).collect());
        AndroidError::Http {
            path: path.to_owned(),
            status: answer.status,
            body: message,
        }
    }
}
