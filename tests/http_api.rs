//! The HTTP API (issue #12 §2) against `simgate run` on the emulator, with
//! a real HTTP client over loopback: every endpoint, every refusal, the
//! per-client limit and Idempotency-Key across a restart.
//!
//! The client is hyper-util's: the server is hyper too, but this is its
//! client side over a real socket, and it binds its own source address,
//! which the load test needs to be 50 clients.

use crate::support::{fresh_spool, write_spool_config};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use simgate::emulator::{Emulator, EmulatorConfig, Fault, Profile, Times};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An answer: status, headers, body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Retry-After` header, in seconds.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        self.headers.get("retry-after")?.to_str().ok()?.parse().ok()
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn call(
    address: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{address}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(60), client().request(request))
        .await
        .expect("an answer within 60 s")
        .expect("the request went through");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: body.to_vec(),
    }
}

pub(crate) async fn get(address: SocketAddr, path: &str) -> Answer {
    call(address, Method::GET, path, &[], b"").await
}

pub(crate) async fn post_send(address: SocketAddr, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    call(address, Method::POST, "/sms/send", &all, body.as_bytes()).await
}

pub(crate) fn message(number: &str, text: &str) -> String {
    serde_json::json!({ "number": number, "message": text }).to_string()
}

/// `simgate run --http 127.0.0.1:0` on a spool in `root`, and the address
/// it says it listens on.
struct Gateway {
    root: PathBuf,
    config: PathBuf,
    child: tokio::process::Child,
    address: SocketAddr,
    starts: usize,
}

/// The addresses the daemon logged it listens on, in order.
fn listening(log: &Path) -> Vec<SocketAddr> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|line| line.contains("HTTP API listening"))
        .filter_map(|line| {
            let at = line.find("address=")?;
            line[at + 8..].split_whitespace().next()?.parse().ok()
        })
        .collect()
}

fn spawn(config: &Path, root: &Path) -> tokio::process::Child {
    let log = root.join("stderr.log");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"));
    // Where a gammu-smsdrc's database goes (simgate's TOML names its own).
    command.env("STATE_DIRECTORY", root.join("state"));
    command
        .arg("run")
        .arg("-c")
        .arg(config)
        .arg("--http")
        .arg("127.0.0.1:0")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true);
    command.spawn().expect("start simgate run")
}

impl Gateway {
    async fn start(name: &str, device: &Path, extra: &str) -> Self {
        let root = fresh_spool(name);
        let config = write_spool_config(&root, device, extra);
        Self::start_on(root, config).await
    }

    /// On a configuration file already written in `root`.
    async fn start_on(root: PathBuf, config: PathBuf) -> Self {
        let child = spawn(&config, &root);
        let mut gateway = Self {
            root,
            config,
            child,
            address: "127.0.0.1:1".parse().unwrap(),
            starts: 0,
        };
        gateway.address = gateway.listening().await;
        gateway
    }

    /// Waits for the next "listening" line in the log.
    async fn listening(&mut self) -> SocketAddr {
        let log = self.root.join("simgate.log");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let found = listening(&log);
            if found.len() > self.starts {
                self.starts = found.len();
                return found[self.starts - 1];
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "simgate run exited ({status}): {}\n{}",
                    std::fs::read_to_string(self.root.join("stderr.log")).unwrap_or_default(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no HTTP API after 30 s: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `/health` says ready.
    async fn ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let answer = get(self.address, "/health").await;
            if answer.status == StatusCode::OK {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not ready after 30 s: {}",
                answer.text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the daemon (no clean stop) and starts it again.
    async fn restart(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        self.child = spawn(&self.config, &self.root);
        self.address = self.listening().await;
    }

    async fn stop(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn texts_to(emulator: &Emulator, number: &str) -> Vec<String> {
    emulator
        .sent()
        .iter()
        .filter(|m| m.submit.destination.to_display() == number)
        .filter_map(|m| m.submit.user_data.body.text().map(str::to_owned))
        .collect()
}

async fn emulator() -> Emulator {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    // +CSQ: 20,99 is -73 dBm, 64 % (gammu: 100 * 20 / 31), BER unknown
    // (the emulator does not tell one: gammu says -1).
    emulator.set_rssi(20);
    emulator
}

/// A message sent through the API goes out and answers the original's 200;
/// its status, the signal, health and metrics say what happened; the
/// signal comes from the status poll, not from a command per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_sent_and_every_endpoint_tells_of_it() {
    let emulator = emulator().await;
    let gateway = Gateway::start("http-endpoints", &emulator.path(), "").await;
    gateway.ready().await;
    let address = gateway.address;

    let sent = post_send(address, &[], &message("+4917600000701", "over HTTP")).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text());
    let body = sent.json();
    assert_eq!(body["status"], "sent");
    assert_eq!(body["number"], "+4917600000701");
    let id = body["id"].as_i64().expect("an id");
    assert_eq!(texts_to(&emulator, "+4917600000701"), ["over HTTP"]);
    // Queued as an outbox file would be: it ends in sent/ like one.
    let in_sent: Vec<String> = std::fs::read_dir(gateway.root.join("sent"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(in_sent.len(), 1, "{in_sent:?}");
    assert!(
        in_sent[0].starts_with("OUTC")
            && in_sent[0].ends_with(&format!("_+4917600000701_http{id}.txt")),
        "{in_sent:?}"
    );

    let status = get(address, &format!("/sms/status/{id}")).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text());
    let status = status.json();
    assert_eq!(status["state"], "sent");
    assert_eq!(status["file"], in_sent[0].as_str());
    let history: Vec<&str> = status["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["accepted", "queued", "part 1 sent", "sent"]);

    let csq_before = emulator
        .commands()
        .iter()
        .filter(|c| c.starts_with("AT+CSQ"))
        .count();
    for _ in 0..3 {
        let signal = get(address, "/sms/signal").await;
        assert_eq!(signal.status, StatusCode::OK, "{}", signal.text());
        assert_eq!(
            signal.json(),
            serde_json::json!({ "signal_strength": -73, "signal_percent": 64, "bit_error_rate": -1 })
        );
    }
    let csq_after = emulator
        .commands()
        .iter()
        .filter(|c| c.starts_with("AT+CSQ"))
        .count();
    assert_eq!(csq_before, csq_after, "no AT+CSQ per request");

    let health = get(address, "/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(
        health.json(),
        serde_json::json!({ "live": true, "ready": true, "reasons": [] })
    );

    let metrics = get(address, "/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.headers[hyper::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = metrics.text();
    for line in [
        "simgate_messages_total{outcome=\"sent\"} 1",
        "simgate_messages_total{outcome=\"failed\"} 0",
        "simgate_send_latency_seconds_count 1",
        "simgate_modem_ready 1",
        "simgate_signal_dbm -73",
        "simgate_queue_messages{reason=\"due\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    gateway.stop().await;
}

/// Every refusal is JSON with a clear message: missing fields (the
/// original's words), bad JSON, a bad number, an oversized body, unknown
/// paths and methods, unknown ids. None of them queues anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_in_json_and_queue_nothing() {
    let emulator = emulator().await;
    let gateway = Gateway::start(
        "http-refusals",
        &emulator.path(),
        "[http]\nmax_body_bytes = 1024\n",
    )
    .await;
    let address = gateway.address;
    for (body, status, says) in [
        (
            r#"{"number": "+4917600000702"}"#,
            400,
            "Missing number or message",
        ),
        (r#"{"message": "hi"}"#, 400, "Missing number or message"),
        (
            r#"{"number": "", "message": "hi"}"#,
            400,
            "Missing number or message",
        ),
        (
            r#"{"number": "+4917600000702", "message": ""}"#,
            400,
            "Missing number or message",
        ),
        (
            r#"{"number": "+4917600000702", "message": "hi""#,
            400,
            "The body is not valid JSON",
        ),
        (
            r#"["+4917600000702", "hi"]"#,
            400,
            "The body must be a JSON object",
        ),
        (
            r#"{"number": "not a number", "message": "hi"}"#,
            400,
            "Invalid number",
        ),
        // A text an outbox file cannot carry (the reader ends it at a NUL).
        (
            r#"{"number": "+4917600000702", "message": "a\u0000b"}"#,
            400,
            "The text has U+0000 (NUL) at character 1",
        ),
    ] {
        let answer = post_send(address, &[], body).await;
        assert_eq!(answer.status.as_u16(), status, "{body}: {}", answer.text());
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(error.starts_with(says), "{body}: {error}");
    }
    let big = message("+4917600000702", &"x".repeat(2000));
    let answer = post_send(address, &[], &big).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.json()["error"]
        .as_str()
        .unwrap()
        .contains("1024 bytes"));

    let answer = get(address, "/no/such/thing").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("No such endpoint"));
    let answer = get(address, "/sms/send").await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(answer.json()["error"].is_string());
    let answer = get(address, "/sms/status/999").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.json()["error"], "No message with id 999");
    let answer = get(address, "/sms/status/abc").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.json()["error"].is_string());

    let outbox = std::fs::read_dir(gateway.root.join("outbox"))
        .unwrap()
        .count();
    assert_eq!(outbox, 0, "nothing queued");
    assert!(emulator.sent().is_empty());
    gateway.stop().await;
}

/// With a token, every endpoint but /health wants it; a wrong or missing
/// one gets 401 in JSON with WWW-Authenticate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_the_api() {
    let emulator = emulator().await;
    let gateway = Gateway::start(
        "http-token",
        &emulator.path(),
        "[http]\ntoken = \"s3cret-token\"\n",
    )
    .await;
    gateway.ready().await;
    let address = gateway.address;
    for headers in [
        &[][..],
        &[("authorization", "Bearer wrong")][..],
        &[("authorization", "s3cret-token")][..],
    ] {
        let answer = post_send(address, headers, &message("+4917600000703", "no")).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(answer.headers[hyper::header::WWW_AUTHENTICATE], "Bearer");
        assert!(answer.json()["error"]
            .as_str()
            .unwrap()
            .contains("bearer token"));
        let answer = call(address, Method::GET, "/sms/signal", headers, b"").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        let answer = call(address, Method::GET, "/metrics", headers, b"").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    assert!(emulator.sent().is_empty());
    let good = [("authorization", "Bearer s3cret-token")];
    let answer = post_send(address, &good, &message("+4917600000703", "yes")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let answer = call(address, Method::GET, "/sms/signal", &good, b"").await;
    assert_eq!(answer.status, StatusCode::OK);
    // The scheme in any case, as RFC 9110 §11.1 has it.
    let lower = [("authorization", "bearer s3cret-token")];
    let answer = call(address, Method::GET, "/sms/signal", &lower, b"").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(get(address, "/health").await.status, StatusCode::OK);
    assert_eq!(texts_to(&emulator, "+4917600000703"), ["yes"]);
    gateway.stop().await;
}

/// A message the modem refuses for good answers the original's 500, and
/// its status says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_answers_500() {
    let emulator = emulator().await;
    let gateway = Gateway::start(
        "http-failed",
        &emulator.path(),
        "[send]\nmax_attempts = 1\n",
    )
    .await;
    gateway.ready().await;
    let address = gateway.address;
    emulator.inject_fault(Fault::CmsError {
        code: 42,
        times: Times::Always,
        destination: Some("+4917600000704".to_owned()),
    });
    let answer = post_send(address, &[], &message("+4917600000704", "refused")).await;
    assert_eq!(
        answer.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        answer.text()
    );
    let body = answer.json();
    assert_eq!(body["error"], "Failed to send SMS");
    let id = body["id"].as_i64().unwrap();
    let status = get(address, &format!("/sms/status/{id}")).await.json();
    assert_eq!(status["state"], "failed");
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("+CMS ERROR"),
        "{status}"
    );
    let in_error = std::fs::read_dir(gateway.root.join("error"))
        .unwrap()
        .count();
    assert_eq!(in_error, 1);
    assert!(emulator.sent().is_empty());
    gateway.stop().await;
}

/// A message still going out when the wait runs out answers 202 with its
/// id; its status shows it sent later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_send_answers_202_and_goes_out_later() {
    let emulator = emulator().await;
    let gateway = Gateway::start(
        "http-slow",
        &emulator.path(),
        "[http]\nwait_seconds = \"1s\"\n",
    )
    .await;
    gateway.ready().await;
    let address = gateway.address;
    // The modem takes 5 s to answer AT+CMGS; the API waits 1 s.
    emulator.set_command_latency("AT+CMGS", Duration::from_secs(5));
    let answer = post_send(address, &[], &message("+4917600000705", "slowly")).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["status"], "queued");
    let id = body["id"].as_i64().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = get(address, &format!("/sms/status/{id}")).await.json();
        if status["state"] == "sent" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(texts_to(&emulator, "+4917600000705"), ["slowly"]);
    gateway.stop().await;
}

/// The per-client limit counts in the database: what was queued before a
/// restart still counts after it (429 with Retry-After), refusals for bad
/// input never count, and a retry with an Idempotency-Key answers the
/// first request's outcome without queuing it again, across the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_and_idempotency_keys_survive_a_restart() {
    let emulator = emulator().await;
    let mut gateway = Gateway::start(
        "http-limit",
        &emulator.path(),
        "[http]\nclient_messages_per_hour = 2\n",
    )
    .await;
    gateway.ready().await;
    // Three malformed requests first: they do not count.
    for _ in 0..3 {
        let answer = post_send(gateway.address, &[], r#"{"number": "+4917600000706"}"#).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    }
    let first = post_send(
        gateway.address,
        &[("idempotency-key", "order-1")],
        &message("+4917600000706", "one"),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let first_id = first.json()["id"].as_i64().unwrap();
    let second = post_send(gateway.address, &[], &message("+4917600000706", "two")).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    let third = post_send(gateway.address, &[], &message("+4917600000706", "three")).await;
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.text()
    );
    let retry_after: u64 = third.headers[hyper::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    assert!(third.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("Too many messages"));

    gateway.restart().await;
    gateway.ready().await;
    let after = post_send(gateway.address, &[], &message("+4917600000706", "four")).await;
    assert_eq!(
        after.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        after.text()
    );
    assert!(after.headers.contains_key(hyper::header::RETRY_AFTER));
    // The retry of the first request: its outcome, same id, not resent.
    let retry = post_send(
        gateway.address,
        &[("idempotency-key", "order-1")],
        &message("+4917600000706", "one"),
    )
    .await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text());
    assert_eq!(retry.json()["id"].as_i64(), Some(first_id));
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    // The key with another message is refused.
    let reused = post_send(
        gateway.address,
        &[("idempotency-key", "order-1")],
        &message("+4917600000706", "something else"),
    )
    .await;
    assert_eq!(
        reused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reused.text()
    );
    assert_eq!(texts_to(&emulator, "+4917600000706"), ["one", "two"]);
    gateway.stop().await;
}

/// While the modem is not ready, the signal is 503 with the reason, and
/// health says live but not ready, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signal_is_503_while_the_modem_is_not_ready() {
    let root = std::env::temp_dir().join(format!("simgate-http-absent-dev-{}", std::process::id()));
    let device = root.join("no-such-modem");
    let gateway = Gateway::start("http-not-ready", &device, "").await;
    let address = gateway.address;
    let signal = get(address, "/sms/signal").await;
    assert_eq!(
        signal.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        signal.text()
    );
    assert!(signal.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("The modem is not ready"));
    assert!(signal.headers.contains_key(hyper::header::RETRY_AFTER));
    let health = get(address, "/health").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    let health = health.json();
    assert_eq!(health["live"], true);
    assert_eq!(health["ready"], false);
    assert!(
        health["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("the modem is not ready"),
        "{health}"
    );
    let metrics = get(address, "/metrics").await.text();
    assert!(
        metrics.lines().any(|l| l == "simgate_modem_ready 0"),
        "{metrics}"
    );
    gateway.stop().await;
}

/// `simgate run --http` on an unchanged gammu-smsdrc (which has no [http]
/// section): the API is there all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_runs_beside_an_unchanged_gammu_smsdrc() {
    let emulator = emulator().await;
    let root = fresh_spool("http-gammu");
    std::fs::create_dir_all(root.join("state")).unwrap();
    let config = root.join("gammu-smsdrc");
    std::fs::write(
        &config,
        format!(
            "[gammu]\ndevice = {}\nconnection = at115200\n\n[smsd]\nservice = files\n\
             logfile = {1}/simgate.log\ninboxpath = {1}/inbox/\noutboxpath = {1}/outbox/\n\
             sentsmspath = {1}/sent/\nerrorsmspath = {1}/error/\n",
            emulator.path().display(),
            root.display()
        ),
    )
    .unwrap();
    let gateway = Gateway::start_on(root, config).await;
    gateway.ready().await;
    let answer = post_send(
        gateway.address,
        &[],
        &message("+4917600000707", "beside gammu-smsdrc"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        texts_to(&emulator, "+4917600000707"),
        ["beside gammu-smsdrc"]
    );
    assert!(gateway.root.join("state").read_dir().unwrap().count() > 0);
    gateway.stop().await;
}

/// A gateway (`extra` in its configuration) whose outbox is a small tmpfs,
/// filled: every outbox file it writes fails with "No space left on
/// device" until the returned filler is removed. `None` where this user
/// may not mount (the test says it was skipped).
async fn gateway_on_a_full_outbox(
    test: &str,
    device: &Path,
    extra: &str,
) -> Option<(Gateway, crate::support::Tmpfs, PathBuf)> {
    let root = fresh_spool(test);
    let Some(tmpfs) = crate::support::Tmpfs::mount(&root.join("outbox"), 64) else {
        crate::support::needs_root(test, "mounting a tmpfs needs root (CI runs as root)");
        let _ = std::fs::remove_dir_all(&root);
        return None;
    };
    let config = write_spool_config(&root, device, extra);
    let gateway = Gateway::start_on(root, config).await;
    gateway.ready().await;
    let filler = crate::support::fill(&gateway.root.join("outbox"));
    Some((gateway, tmpfs, filler))
}

/// A request whose outbox file cannot be written (a full disk) answers
/// 500 and does not count against the client's limit: once there is room
/// the client may queue its full share at once, and a retry with the
/// failed request's Idempotency-Key queues the message (once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_file_cannot_be_written_does_not_count() {
    let emulator = emulator().await;
    let Some((gateway, tmpfs, filler)) = gateway_on_a_full_outbox(
        "http-full-limit",
        &emulator.path(),
        "[http]\nclient_messages_per_hour = 2\n",
    )
    .await
    else {
        return;
    };
    let address = gateway.address;
    let keyed = [("idempotency-key", "full-1")];
    for (headers, text) in [
        (&keyed[..], "full 1"),
        (&[][..], "full 2"),
        (&[][..], "full 3"),
    ] {
        let answer = post_send(address, headers, &message("+4917600000708", text)).await;
        assert_eq!(
            answer.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{text}: {}",
            answer.text()
        );
        assert!(
            answer.json()["error"]
                .as_str()
                .unwrap()
                .contains("No space left on device"),
            "{}",
            answer.text()
        );
    }
    std::fs::remove_file(&filler).unwrap();
    let after = post_send(address, &[], &message("+4917600000708", "after room")).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text());
    let retry = post_send(address, &keyed, &message("+4917600000708", "full 1")).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text());
    // Those two were the client's share.
    let over = post_send(address, &[], &message("+4917600000708", "one too many")).await;
    assert_eq!(
        over.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        over.text()
    );
    assert_eq!(
        texts_to(&emulator, "+4917600000708"),
        ["after room", "full 1"]
    );
    drop(tmpfs);
    gateway.stop().await;
}

/// A request whose outbox file cannot be written leaves no message that
/// claims to be accepted: its id is unknown to `/sms/status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_file_cannot_be_written_is_not_accepted() {
    let emulator = emulator().await;
    let Some((gateway, tmpfs, _filler)) =
        gateway_on_a_full_outbox("http-full-status", &emulator.path(), "").await
    else {
        return;
    };
    let address = gateway.address;
    let answer = post_send(address, &[], &message("+4917600000709", "nowhere")).await;
    assert_eq!(
        answer.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        answer.text()
    );
    // The database is fresh: the request was the first, id 1.
    let status = get(address, "/sms/status/1").await;
    assert_eq!(status.status, StatusCode::NOT_FOUND, "{}", status.text());
    assert!(emulator.sent().is_empty());
    drop(tmpfs);
    gateway.stop().await;
}
