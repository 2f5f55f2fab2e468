//! Webhooks (issue #12 §3) from the real `simgate run` on the emulator to
//! a receiver on loopback: retries with backoff after 500s, the signature
//! checked with the documented scheme, events not configured never
//! posted, and an event queued while the receiver was down posted after a
//! restart of the daemon.

use crate::support::{delivers, fresh_spool, spawn_simgate, write_spool_config};
use hmac::{Hmac, Mac};
use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use simgate::pdu::{Address, Status, StatusReport, Timestamp};
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

pub(crate) const SECRET: &str = "correct horse battery staple";
/// A failure guard only: every wait ends on an event long before.
const GUARD: Duration = Duration::from_secs(90);

/// One request the receiver got, and what it answered.
#[derive(Debug)]
pub(crate) struct Request {
    /// On tokio's clock (paused in some tests).
    pub(crate) at: tokio::time::Instant,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: String,
    pub(crate) answered: u16,
}

impl Request {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// The documented check: HMAC-SHA256 with the secret over
    /// `<X-Simgate-Timestamp>.<body>`, hex, after `sha256=`.
    pub(crate) fn signature_verifies(&self) -> bool {
        let timestamp = &self.headers["x-simgate-timestamp"];
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(self.body.as_bytes());
        let Some(hex) = self.headers["x-simgate-signature"].strip_prefix("sha256=") else {
            return false;
        };
        let Ok(bytes) = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
        else {
            return false;
        };
        mac.verify_slice(&bytes).is_ok()
    }
}

/// A small HTTP/1.1 receiver: answers each request with the next status
/// of `script` (200 once it is used up), one request per connection.
pub(crate) async fn receiver(
    listener: tokio::net::TcpListener,
    script: Vec<u16>,
) -> mpsc::UnboundedReceiver<Request> {
    let (sender, requests) = mpsc::unbounded_channel();
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut data = Vec::new();
            let mut buffer = [0u8; 4096];
            let (head_end, headers) = loop {
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    break (None, BTreeMap::new());
                }
                data.extend_from_slice(&buffer[..n]);
                if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&data[..end]).into_owned();
                    let headers: BTreeMap<String, String> = head
                        .lines()
                        .skip(1)
                        .filter_map(|line| line.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    break (Some(end + 4), headers);
                }
            };
            let Some(head_end) = head_end else { continue };
            let length: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while data.len() < head_end + length {
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buffer[..n]);
            }
            let body = String::from_utf8_lossy(&data[head_end..]).into_owned();
            let status = script.lock().unwrap().pop_front().unwrap_or(200);
            let answer = format!(
                "HTTP/1.1 {status} {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                if status == 200 { "OK" } else { "Nope" }
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
            let _ = sender.send(Request {
                at: tokio::time::Instant::now(),
                headers,
                body,
                answered: status,
            });
        }
    });
    requests
}

fn webhook_config(port: u16, extra: &str) -> String {
    format!(
        "[webhooks]\nurls = [\"http://127.0.0.1:{port}/hook\"]\nsecret = \"{SECRET}\"\n\
         retry_delay = \"300ms\"\nretry_delay_max = \"5s\"\n{extra}"
    )
}

pub(crate) async fn next(requests: &mut mpsc::UnboundedReceiver<Request>) -> Request {
    tokio::time::timeout(GUARD, requests.recv())
        .await
        .expect("no webhook arrived")
        .expect("the receiver stopped")
}

/// Waits (polling, with the guard as a failure limit) until `dir` has a
/// file.
async fn wait_for_file(dir: &Path) {
    let start = Instant::now();
    while std::fs::read_dir(dir).unwrap().next().is_none() {
        assert!(
            start.elapsed() < GUARD,
            "nothing appeared in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_log(log: &Path, words: &str) {
    let start = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(words)
    {
        assert!(start.elapsed() < GUARD, "the log never said {words:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn queue(root: &Path, number: &str, text: &str) {
    let outbox = root.join("outbox");
    std::fs::write(outbox.join(".webhook-test"), text).unwrap();
    std::fs::rename(
        outbox.join(".webhook-test"),
        outbox.join(format!("OUT{number}.txt")),
    )
    .unwrap();
}

async fn stop(mut daemon: tokio::process::Child) {
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    tokio::time::timeout(GUARD, daemon.wait())
        .await
        .expect("simgate did not stop on SIGTERM")
        .unwrap();
}

/// The receiver fails the first two attempts with 500: the third, after
/// two waits that double, is taken; all three carry the same event and a
/// signature that verifies. A received message is not posted, since only
/// `sent` is configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_message_is_posted_signed_and_retried_with_backoff() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut requests = receiver(listener, vec![500, 500]).await;
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = fresh_spool("webhooks-retry");
    let config = write_spool_config(
        &root,
        &emulator.path(),
        &webhook_config(port, "events = [\"sent\"]\n"),
    );
    let daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    // A received message first: its event would be queued (and posted)
    // before the sent one, if it were configured.
    emulator
        .inject_deliver(&delivers("+4915100000001", "not for the webhook", 0)[0])
        .unwrap();
    wait_for_file(&root.join("inbox")).await;
    queue(&root, "+4917600000901", "webhook me");
    let mut got = Vec::new();
    loop {
        let request = next(&mut requests).await;
        let accepted = request.answered == 200;
        got.push(request);
        if accepted {
            break;
        }
    }
    assert_eq!(got.len(), 3, "{got:?}");
    for request in &got {
        assert_eq!(request.headers["x-simgate-event"], "sent", "{request:?}");
        assert_eq!(request.headers["content-type"], "application/json");
        assert!(request.signature_verifies(), "{request:?}");
        assert_eq!(request.body, got[0].body);
        assert_eq!(
            request.headers["x-simgate-id"],
            got[0].headers["x-simgate-id"]
        );
    }
    let first_wait = got[1].at - got[0].at;
    let second_wait = got[2].at - got[1].at;
    assert!(first_wait >= Duration::from_millis(300), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(600), "{second_wait:?}");
    let body = got[2].json();
    assert_eq!(body["event"], "sent");
    assert_eq!(body["id"].to_string(), got[2].headers["x-simgate-id"]);
    assert_eq!(body["data"]["number"], "+4917600000901");
    assert_eq!(body["data"]["text"], "webhook me");
    assert_eq!(body["data"]["file"], "OUT+4917600000901.txt");
    assert_eq!(body["data"]["parts"].as_array().unwrap().len(), 1);
    // A signature over another body does not verify.
    let forged = Request {
        body: got[2].body.replace("webhook me", "webhook ME"),
        ..got.pop().unwrap()
    };
    assert!(!forged.signature_verifies());
    stop(daemon).await;
    assert!(requests.try_recv().is_err(), "nothing more was posted");
    let _ = std::fs::remove_dir_all(&root);
}

/// The receiver is down (connection refused) when a message arrives; the
/// daemon is stopped and started again; once the receiver is up, the
/// event queued before the restart arrives, then a message sent, its
/// delivery report (naming it) and a failure after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_queued_while_the_receiver_is_down_survives_a_restart() {
    let port = crate::support::port_for_a_daemon();
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = fresh_spool("webhooks-restart");
    let config = write_spool_config(
        &root,
        &emulator.path(),
        &webhook_config(port, "max_retry_time = \"1h\"\n"),
    );
    let daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    emulator
        .inject_deliver(&delivers("+4915100000002", "while you were away", 0)[0])
        .unwrap();
    wait_for_file(&root.join("inbox")).await;
    // An attempt was made and refused.
    wait_for_log(&root.join("simgate.log"), "webhook not taken").await;
    stop(daemon).await;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let mut requests = receiver(listener, Vec::new()).await;
    let daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    let request = next(&mut requests).await;
    assert!(request.signature_verifies(), "{request:?}");
    assert_eq!(request.headers["x-simgate-event"], "received");
    let body = request.json();
    let received_id = body["id"].clone();
    assert_eq!(body["data"]["number"], "+4915100000002");
    assert_eq!(body["data"]["text"], "while you were away");
    assert_eq!(body["data"]["parts"], 1);
    assert_eq!(body["data"]["complete"], true);
    assert!(body["data"]["files"][0]
        .as_str()
        .unwrap()
        .ends_with("_+4915100000002_00.txt"));

    // A message sent, then its delivery report: `delivered` names it.
    queue(&root, "+4917600000902", "report me");
    let request = next(&mut requests).await;
    let body = request.json();
    assert_eq!(body["event"], "sent", "{body}");
    let reference = body["data"]["parts"][0]["reference"].as_u64().unwrap() as u8;
    let stamp = Timestamp {
        year: 2026,
        month: 12,
        day: 3,
        hour: 21,
        minute: 0,
        second: 0,
        tz_quarters: 4,
    };
    let report = StatusReport {
        more_messages: false,
        loop_prevention: false,
        for_command: false,
        message_reference: reference,
        recipient: Address::parse_number("+4917600000902").unwrap(),
        timestamp: stamp.into(),
        discharge_time: stamp.into(),
        status: Status(0),
        protocol_identifier: None,
        dcs: None,
        user_data: None,
    };
    emulator
        .inject_status_report(&report.encode().unwrap())
        .unwrap();
    let request = next(&mut requests).await;
    assert!(request.signature_verifies(), "{request:?}");
    let body = request.json();
    assert_eq!(body["event"], "delivered", "{body}");
    assert_eq!(body["data"]["number"], "+4917600000902");
    assert_eq!(body["data"]["reference"], reference);
    assert_eq!(body["data"]["outcome"], "delivered");
    assert_eq!(
        body["data"]["message"]["file"], "OUT+4917600000902.txt",
        "{body}"
    );
    assert_eq!(body["data"]["message"]["part"], 1);
    assert_ne!(body["id"], received_id, "each event has its own id");
    // A file the daemon cannot use goes to error/: `failed`.
    let outbox = root.join("outbox");
    std::fs::write(outbox.join(".bad"), "no recipient in this name").unwrap();
    std::fs::rename(outbox.join(".bad"), outbox.join("OUT_+444.txt")).unwrap();
    let request = next(&mut requests).await;
    assert!(request.signature_verifies(), "{request:?}");
    let body = request.json();
    assert_eq!(body["event"], "failed", "{body}");
    assert_eq!(body["data"]["file"], "OUT_+444.txt");
    assert!(
        body["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("underscores"),
        "{body}"
    );
    stop(daemon).await;
    let _ = std::fs::remove_dir_all(&root);
}

/// The monthly budget's warning is a webhook too (`budget_warning`),
/// signed like the others, with the month's counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_warning_is_posted() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut requests = receiver(listener, Vec::new()).await;
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = fresh_spool("webhooks-budget");
    let config = write_spool_config(
        &root,
        &emulator.path(),
        &format!(
            "[budget]\nmonthly_parts = 2\nwarn_percent = 50\n\n{}",
            webhook_config(port, "events = [\"budget_warning\"]\n")
        ),
    );
    let daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    queue(&root, "+4917600000911", "half the budget");
    let request = next(&mut requests).await;
    assert_eq!(request.headers["x-simgate-event"], "budget_warning");
    assert!(request.signature_verifies(), "{request:?}");
    let body = request.json();
    assert_eq!(body["data"]["used"], 1, "{body}");
    assert_eq!(body["data"]["budget"], 2, "{body}");
    assert_eq!(body["data"]["threshold"], 1, "{body}");
    assert!(body["data"]["month"].as_str().unwrap().len() == 7, "{body}");
    stop(daemon).await;
    assert!(requests.try_recv().is_err(), "one warning a month");
    let _ = std::fs::remove_dir_all(&root);
}
