//! Webhooks (issue 12 §3): what simgate POSTs to the configured URLs when
//! a message is received, sent, delivered (a status report) or failed,
//! and how a receiver checks it came from simgate. Pure: the event kinds,
//! the URL check, the payload, the signature and the retry schedule.
//! [`client`] is the thin HTTP shell; the queue lives in the store and the
//! task that drains it in the daemon.
//!
//! # The request
//!
//! `POST <url>` with `Content-Type: application/json` and
//!
//! - `X-Simgate-Event`: the event kind (`received`, `sent`, `delivered`,
//!   `failed`);
//! - `X-Simgate-Id`: the event's id, the same for every URL and every
//!   attempt: a receiver that saw it already drops the repeat (delivery
//!   is at least once);
//! - `X-Simgate-Timestamp`: the Unix time of this attempt, in seconds;
//! - `X-Simgate-Signature`: `sha256=` and the lower-case hex HMAC-SHA256,
//!   keyed with the configured secret, of the timestamp, a `.`, and the
//!   body exactly as sent (`<timestamp>.<body>`).
//!
//! A receiver recomputes the HMAC over the timestamp header, `.` and the
//! raw body, compares it with the header in constant time, and refuses a
//! timestamp too far from its clock (five minutes, say) so a captured
//! request cannot be replayed later.
//!
//! The body is `{"id": …, "event": …, "time": …, "data": {…}}` with
//! `time` the event's time (RFC 3339, UTC) and `data` the facts the hooks
//! get (see [`EVENTS`] and the README).

pub(crate) mod client;

use hmac::{Hmac, Mac};
use std::time::Duration;

/// Every event kind, in the order check-config lists them. A new kind is
/// one more name here; the daemon posts it with
/// `Daemon::webhook(name, data)`.
pub(crate) const EVENTS: &[&str] = &["received", "sent", "delivered", "failed", "budget_warning"];

/// A message arrived (its inbox files are written).
pub(crate) const RECEIVED: &str = EVENTS[0];
/// A message went out (its file is in sent/).
pub(crate) const SENT: &str = EVENTS[1];
/// A status report arrived for a message sent earlier.
pub(crate) const DELIVERED: &str = EVENTS[2];
/// A message could not be sent (its file is in error/).
pub(crate) const FAILED: &str = EVENTS[3];
/// The month's parts reached the budget's warning threshold (`[budget]`).
pub(crate) const BUDGET_WARNING: &str = EVENTS[4];

/// An `http://` URL split for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    /// Host (name, IPv4, or `[IPv6]`).
    pub host: String,
    /// Port (80 when absent).
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UrlError {
    /// `https://`: this build has no TLS.
    #[error(
        "https is not supported: simgate posts webhooks over plain http (put a local \
         TLS-terminating proxy in front, or use a receiver on the same host or network)"
    )]
    Https,
    /// Not `http://host[:port][/path]`.
    #[error("not an http URL of the form http://host[:port]/path")]
    Malformed,
}

/// Checks and splits an `http://` URL.
pub(crate) fn parse_url(url: &str) -> Result<HttpUrl, UrlError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(UrlError::Https);
    }
    if !lower.starts_with("http://") {
        return Err(UrlError::Malformed);
    }
    let rest = &url["http://".len()..];
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') || path.chars().any(char::is_whitespace) {
        return Err(UrlError::Malformed);
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            (host, port.parse().map_err(|_| UrlError::Malformed)?)
        }
        _ => (authority, 80),
    };
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err(UrlError::Malformed);
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Ok(HttpUrl {
        host: host.to_owned(),
        port,
        path,
    })
}

/// The `X-Simgate-Signature` value for `body` sent at `timestamp`.
pub(crate) fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256={hex}")
}

/// How long to wait after the `attempt`th failed attempt (1 for the
/// first): `first`, doubled each time, at most `max`.
pub(crate) fn backoff(attempt: u32, first: Duration, max: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(32);
    first.saturating_mul(1u32 << doublings.min(31)).min(max)
}

/// What to do after a failed attempt: the next attempt's time, or `None`
/// to give up because the next try would come later than `max_retry_time`
/// after the event (times in milliseconds).
pub(crate) fn next_attempt(
    created_ms: i64,
    now_ms: i64,
    attempts: u32,
    first: Duration,
    max: Duration,
    max_retry_time: Duration,
) -> Option<i64> {
    let next = now_ms.saturating_add(backoff(attempts, first, max).as_millis() as i64);
    (next <= created_ms.saturating_add(max_retry_time.as_millis() as i64)).then_some(next)
}

/// The body of an event.
pub(crate) fn body(id: i64, event: &str, unix_seconds: i64, data: &serde_json::Value) -> String {
    let t = crate::calendar::utc_from_unix_seconds(unix_seconds);
    let time = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    serde_json::json!({
        "id": id,
        "event": event,
        "time": time,
        "data": data,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_plain_http() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/hook?x=1"),
            Ok(HttpUrl {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/hook?x=1".into()
            })
        );
        assert_eq!(
            parse_url("HTTP://example.org"),
            Ok(HttpUrl {
                host: "example.org".into(),
                port: 80,
                path: "/".into()
            })
        );
        assert_eq!(parse_url("http://[::1]:9/").unwrap().host, "[::1]");
        assert_eq!(parse_url("http://[::1]/").unwrap().port, 80);
        assert_eq!(parse_url("https://example.org/"), Err(UrlError::Https));
        for bad in [
            "ftp://x/",
            "http://",
            "http://:80/",
            "http://a:b/",
            "http://u@h/",
            "x",
        ] {
            assert_eq!(parse_url(bad), Err(UrlError::Malformed), "{bad}");
        }
    }

    #[test]
    fn the_signature_is_rfc_4231s_hmac_over_timestamp_dot_body() {
        // RFC 4231 test case 2 (key "Jefe"): the HMAC is the standard one.
        let direct = {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").unwrap();
            mac.update(b"what do ya want for nothing?");
            mac.finalize().into_bytes()
        };
        let hex: String = direct.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // The header signs "<timestamp>.<body>".
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(b"1764800000.{\"a\":1}");
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            signature(b"s3cret", 1_764_800_000, b"{\"a\":1}"),
            format!("sha256={expected}")
        );
        assert_ne!(
            signature(b"s3cret", 1_764_800_001, b"{\"a\":1}"),
            signature(b"s3cret", 1_764_800_000, b"{\"a\":1}")
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_gives_up_after_the_retry_time() {
        let first = Duration::from_secs(10);
        let max = Duration::from_secs(3600);
        let delays: Vec<u64> = (1..=11).map(|n| backoff(n, first, max).as_secs()).collect();
        assert_eq!(
            delays,
            [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(backoff(u32::MAX, first, max), max);
        let day = Duration::from_secs(86_400);
        assert_eq!(next_attempt(0, 1_000, 1, first, max, day), Some(11_000));
        assert_eq!(
            next_attempt(0, 86_390_000, 1, first, max, day),
            Some(86_400_000)
        );
        assert_eq!(next_attempt(0, 86_391_000, 1, first, max, day), None);
    }

    #[test]
    fn bodies_carry_id_event_time_and_data() {
        let body = body(
            7,
            SENT,
            1_764_797_253,
            &serde_json::json!({"file": "OUT.txt"}),
        );
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["id"], 7);
        assert_eq!(value["event"], "sent");
        assert_eq!(value["time"], "2025-12-03T21:27:33Z");
        assert_eq!(value["data"]["file"], "OUT.txt");
    }
}
