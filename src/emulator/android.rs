//! The "SMS Gateway for Android" app's Local Server API on a loopback
//! port, for tests: Basic auth, `POST /message` under a client's id (409
//! when it exists), `GET /message/{id}`, `POST/GET/DELETE /webhooks`, `GET /inbox` (every message received),
//! `GET /`, `GET /device` (its SIMs) and `GET /health` (battery and
//! connection, as set with [`AndroidEmulator::set_info`]); a radio that takes each message through
//! Pending, Processed, Sent and Delivered (or Failed when told); and
//! webhooks posted to what is registered, signed as the app signs them
//! (HMAC-SHA256 over body and `X-Timestamp`), each retried until it is
//! answered 2xx. Faults: the phone offline (connections refused), the
//! answer to the next `POST /message` lost after the message was taken,
//! the next sends failing, every webhook posted twice, received
//! messages' webhooks never posted (`GET /inbox` lists them).

use super::web::{self, Watched, WebServer};
use crate::android::api::{self, ProcessState};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

/// How the emulated phone starts.
#[derive(Debug, Clone)]
pub struct AndroidConfig {
    /// The Local Server's user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// The key webhooks are signed with.
    pub signing_key: String,
    /// How long each step of a send takes (Pending to Processed to Sent
    /// to Delivered).
    pub step: Duration,
    /// How long before a webhook that was not answered 2xx is posted
    /// again.
    pub retry_delay: Duration,
}

impl Default for AndroidConfig {
    fn default() -> Self {
        Self {
            user: "sms".to_owned(),
            password: "secret".to_owned(),
            signing_key: "signing-key".to_owned(),
            step: Duration::from_millis(50),
            retry_delay: Duration::from_millis(200),
        }
    }
}

/// A message the phone holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMessage {
    /// Its recipient.
    pub phone: String,
    /// Its text.
    pub text: String,
    /// Its state.
    pub state: ProcessState,
}

/// What the phone holds and did.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Messages by id.
    pub messages: BTreeMap<String, HeldMessage>,
    /// What went out on the radio: recipient and text, once per send.
    pub network: Vec<(String, String)>,
    /// Webhook registrations: id, event and url.
    pub webhooks: BTreeMap<String, (String, String)>,
    /// Requests by method and path (without the query).
    pub requests: BTreeMap<String, u32>,
    /// `POST /message` answered 409.
    pub conflicts: u32,
    /// Webhooks answered 2xx, by event.
    pub webhooks_taken: BTreeMap<String, u32>,
    /// Webhook posts not answered 2xx (refused, failed or unreachable).
    pub webhooks_refused: u32,
    /// Received messages whose `sms:received` webhook was answered 2xx,
    /// by id.
    pub received_taken: Vec<String>,
    /// Received messages as `GET /inbox` lists them: its id, the
    /// webhook's id, sender, text and time.
    pub inbox: Vec<(String, String, String, String, String)>,
}

/// What the phone says about itself: `GET /health`'s battery and
/// connection checks (the app's documented values) and `GET /device`'s SIMs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneInfo {
    /// `battery:level`, in percent.
    pub battery: i64,
    /// `battery:charging` flags: 1 charging, 2 AC, 4 USB.
    pub charging: i64,
    /// `connection:status`.
    pub online: bool,
    /// `connection:transport` flags: 2 cellular, 4 Wi-Fi, 8 Ethernet.
    pub transport: i64,
    /// `connection:cellular`: 2 to 5 for 2G to 5G.
    pub cellular: i64,
    /// SIMs: `simNumber`, carrier and number.
    pub sims: Vec<(u32, Option<String>, Option<String>)>,
}

impl Default for PhoneInfo {
    fn default() -> Self {
        Self {
            battery: 80,
            charging: 1 | 4,
            online: true,
            transport: 4,
            cellular: 0,
            sims: vec![(1, Some("Emulated Carrier".to_owned()), None)],
        }
    }
}

impl PhoneInfo {
    fn health(&self) -> serde_json::Value {
        let check = |value: i64, unit: &str| {
            serde_json::json!({"status": "pass", "observedValue": value,
                "observedUnit": unit, "description": ""})
        };
        serde_json::json!({"status": "pass", "version": "emulated", "releaseId": 1,
        "checks": {
            "battery:level": check(self.battery, "percent"),
            "battery:charging": check(self.charging, "flags"),
            "connection:status": check(i64::from(self.online), "Yes/No"),
            "connection:transport": check(self.transport, "flags"),
            "connection:cellular": check(self.cellular, "index"),
        }})
    }

    fn device(&self) -> serde_json::Value {
        let sims: Vec<serde_json::Value> = self
            .sims
            .iter()
            .map(|(slot, carrier, number)| {
                serde_json::json!({"slotIndex": slot.saturating_sub(1), "simNumber": slot,
                    "carrierName": carrier, "phoneNumber": number, "iccid": null})
            })
            .collect();
        serde_json::json!([{"id": "emulated-device", "name": "Emulated/Pixel",
            "createdAt": "2026-01-01T00:00:00.000+00:00", "simCards": sims}])
    }
}

#[derive(Debug, Default)]
struct Faults {
    lose_post_answer: bool,
    offline_after_lost_answer: bool,
    fail_sends: u32,
    duplicate_webhooks: bool,
    drop_received_webhooks: bool,
}

#[derive(Debug)]
struct State {
    config: AndroidConfig,
    info: PhoneInfo,
    snapshot: Snapshot,
    faults: Faults,
    next_incoming: u32,
}

/// A running emulated phone.
#[derive(Debug)]
pub struct AndroidEmulator {
    server: Arc<WebServer>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The server, for a request that takes the phone offline.
    server: OnceLock<Weak<WebServer>>,
    state: Watched<State>,
    http: HttpClient<HttpConnector, Full<Bytes>>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn iso_now() -> String {
    jiff::Timestamp::from_second(now())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl AndroidEmulator {
    /// Starts a phone on a free loopback port.
    pub async fn start(config: AndroidConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            server: OnceLock::new(),
            state: Watched::new(State {
                config,
                info: PhoneInfo::default(),
                snapshot: Snapshot::default(),
                faults: Faults::default(),
                next_incoming: 0,
            }),
            http: HttpClient::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build(HttpConnector::new()),
        });
        let server = {
            let shared = shared.clone();
            Arc::new(WebServer::start(move |request| answer(shared.clone(), request)).await?)
        };
        let _ = shared.server.set(Arc::downgrade(&server));
        Ok(Self { server, shared })
    }

    /// The phone's address, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// What it holds and did now.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.state.read(|s| s.snapshot.clone())
    }

    /// Waits until `done` holds for the snapshot, at most `limit`; whether
    /// it did.
    pub async fn wait_for(&self, limit: Duration, done: impl Fn(&Snapshot) -> bool) -> bool {
        // Everything that happens is a change: nothing falls due with
        // time alone.
        self.shared
            .state
            .wait_for(limit, |_| None, || done(&self.snapshot()))
            .await
    }

    /// A message arrives from `sender`: the app posts `sms:received` to
    /// what is registered for it, until answered 2xx. Its id.
    pub fn deliver(&self, sender: &str, text: &str) -> String {
        let at = iso_now();
        let (id, dropped) = self.shared.state.with(|s| {
            s.next_incoming += 1;
            // As the app: a 32-bit hash, hex in the webhook, signed
            // decimal in the inbox list.
            let hash = s.next_incoming.wrapping_mul(0x9E37_79B9);
            let id = format!("{hash:x}");
            s.snapshot.inbox.push((
                format!("text:{}", hash as i32),
                id.clone(),
                sender.to_owned(),
                text.to_owned(),
                at.clone(),
            ));
            (id, s.faults.drop_received_webhooks)
        });
        if dropped {
            return id;
        }
        let payload = serde_json::json!({
            "messageId": id,
            "message": text,
            "sender": sender,
            "phoneNumber": sender,
            "simNumber": 1,
            "receivedAt": at,
        });
        post_webhooks(self.shared.clone(), "sms:received", payload);
        id
    }

    /// `sms:received` webhooks from now on are never posted (the app gave
    /// them up); the messages are in `GET /inbox` only.
    pub fn drop_received_webhooks(&self, on: bool) {
        self.shared
            .state
            .with(|s| s.faults.drop_received_webhooks = on);
    }

    /// The phone goes offline (Wi-Fi lost, app stopped): connections are
    /// refused and no webhook is posted until [`AndroidEmulator::online`].
    /// Messages it holds stay, and are sent meanwhile.
    pub async fn offline(&self) {
        self.server.down().await;
        self.shared.state.touch();
    }

    /// The phone is back on the same address.
    pub async fn online(&self) {
        self.server.up().await;
        self.shared.state.touch();
    }

    /// The next `POST /message` takes the message, then drops the
    /// connection without an answer.
    pub fn lose_next_post_answer(&self) {
        self.shared.state.with(|s| s.faults.lose_post_answer = true);
    }

    /// As [`AndroidEmulator::lose_next_post_answer`], and the phone goes
    /// offline at that moment, until [`AndroidEmulator::online`]: the
    /// message cannot be asked about, only posted again.
    pub fn lose_next_post_answer_then_go_offline(&self) {
        self.shared.state.with(|s| {
            s.faults.lose_post_answer = true;
            s.faults.offline_after_lost_answer = true;
        });
    }

    /// What the phone says about its battery, network and SIMs from now on.
    pub fn set_info(&self, info: PhoneInfo) {
        self.shared.state.with(|s| s.info = info);
    }

    /// The next `count` sends fail on the radio.
    pub fn fail_sends(&self, count: u32) {
        self.shared.state.with(|s| s.faults.fail_sends = count);
    }

    /// Every webhook from now on is posted twice.
    pub fn duplicate_webhooks(&self, on: bool) {
        self.shared.state.with(|s| s.faults.duplicate_webhooks = on);
    }

    /// Stops serving.
    pub async fn stop(&self) {
        self.offline().await;
    }
}

/// Posts `event` with `payload` to every webhook registered for it, each
/// signed afresh and retried until answered 2xx (twice when told).
fn post_webhooks(shared: Arc<Shared>, event: &str, payload: serde_json::Value) {
    let (targets, twice) = shared.state.read(|s| {
        let targets: Vec<(String, String)> = s
            .snapshot
            .webhooks
            .iter()
            .filter(|(_, (e, _))| e == event)
            .map(|(id, (_, url))| (id.clone(), url.clone()))
            .collect();
        (targets, s.faults.duplicate_webhooks)
    });
    for (webhook_id, url) in targets {
        for copy in 0..if twice { 2 } else { 1 } {
            let body = serde_json::json!({
                "id": format!("{webhook_id}-{}-{copy}", payload["messageId"].as_str().unwrap_or("")),
                "webhookId": webhook_id,
                "event": event,
                "deviceId": "emulated",
                "payload": payload,
            })
            .to_string();
            tokio::spawn(post_until_taken(
                shared.clone(),
                url.clone(),
                event.to_owned(),
                body,
                payload["messageId"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
}

async fn post_until_taken(
    shared: Arc<Shared>,
    url: String,
    event: String,
    body: String,
    message_id: String,
) {
    loop {
        let (key, retry) = shared
            .state
            .read(|s| (s.config.signing_key.clone(), s.config.retry_delay));
        let offline = !shared
            .server
            .get()
            .and_then(Weak::upgrade)
            .is_some_and(|server| server.serving());
        if offline {
            // An offline phone posts nothing either; it tries again later.
            tokio::time::sleep(retry).await;
            continue;
        }
        let timestamp = now().to_string();
        let signature = api::sign(&key, body.as_bytes(), &timestamp);
        let request = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header("Content-Type", "application/json")
            .header("X-Timestamp", &timestamp)
            .header("X-Signature", signature)
            .body(Full::new(Bytes::from(body.clone())));
        let Ok(request) = request else { return };
        let taken =
            match tokio::time::timeout(Duration::from_secs(60), shared.http.request(request)).await
            {
                Ok(Ok(response)) => response.status().is_success(),
                _ => false,
            };
        if taken {
            shared.state.with(|s| {
                *s.snapshot.webhooks_taken.entry(event.clone()).or_insert(0) += 1;
                if event == "sms:received" {
                    s.snapshot.received_taken.push(message_id.clone());
                }
            });
            return;
        }
        shared.state.with(|s| s.snapshot.webhooks_refused += 1);
        tokio::time::sleep(retry).await;
    }
}

/// The radio: takes message `id` through its states, one step at a time,
/// with the webhooks the app posts.
async fn radio(shared: Arc<Shared>, id: String, report: bool) {
    let step = shared.state.read(|s| s.config.step);
    let set = |state: ProcessState| {
        shared.state.with(|s| {
            if let Some(m) = s.snapshot.messages.get_mut(&id) {
                m.state = state;
            }
        })
    };
    tokio::time::sleep(step).await;
    set(ProcessState::Processed);
    tokio::time::sleep(step).await;
    let (failed, phone, text) = shared.state.with(|s| {
        let failed = s.faults.fail_sends > 0;
        if failed {
            s.faults.fail_sends -= 1;
        }
        let m = s.snapshot.messages.get(&id).cloned();
        let (phone, text) = m.map(|m| (m.phone, m.text)).unwrap_or_default();
        if !failed {
            s.snapshot.network.push((phone.clone(), text.clone()));
        }
        (failed, phone, text)
    });
    let _ = text;
    if failed {
        set(ProcessState::Failed);
        post_webhooks(
            shared.clone(),
            "sms:failed",
            serde_json::json!({"messageId": id, "recipient": phone, "phoneNumber": phone,
                "failedAt": iso_now(), "reason": "RESULT_ERROR_NO_SERVICE"}),
        );
        return;
    }
    set(ProcessState::Sent);
    post_webhooks(
        shared.clone(),
        "sms:sent",
        serde_json::json!({"messageId": id, "recipient": phone, "phoneNumber": phone,
            "partsCount": 1, "sentAt": iso_now()}),
    );
    if !report {
        return;
    }
    tokio::time::sleep(step).await;
    set(ProcessState::Delivered);
    post_webhooks(
        shared,
        "sms:delivered",
        serde_json::json!({"messageId": id, "recipient": phone, "phoneNumber": phone,
            "deliveredAt": iso_now()}),
    );
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response
}

fn message_json(id: &str, m: &HeldMessage) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "deviceId": "emulated",
        "state": m.state,
        "isHashed": false,
        "isEncrypted": false,
        "recipients": [{"phoneNumber": m.phone, "state": m.state, "error": null}],
        "states": {},
    })
}

/// The lost answer: the connection is dropped.
fn lost() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "answer lost on purpose",
    )
}

async fn answer(shared: Arc<Shared>, request: Request<Incoming>) -> web::Answer {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let method = parts.method.clone();
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (expected, lose) = shared.state.with(|s| {
        *s.snapshot
            .requests
            .entry(format!("{method} {path}"))
            .or_insert(0) += 1;
        let credentials = format!("{}:{}", s.config.user, s.config.password);
        let lose = method == Method::POST && path == "/message" && s.faults.lose_post_answer;
        if lose {
            s.faults.lose_post_answer = false;
        }
        (basic(&credentials), lose)
    });
    if path == "/health" {
        return Ok(json(StatusCode::OK, shared.state.read(|s| s.info.health())));
    }
    if authorization != expected {
        return Ok(json(StatusCode::UNAUTHORIZED, serde_json::json!({})));
    }
    let reply = match (&method, path.as_str()) {
        (&Method::GET, "/") => json(
            StatusCode::OK,
            serde_json::json!({"status": "ok", "model": "Emulated Pixel"}),
        ),
        (&Method::GET, "/device") => json(StatusCode::OK, shared.state.read(|s| s.info.device())),
        (&Method::POST, "/message" | "/messages") => {
            let request: api::SendRequest = match serde_json::from_slice(&body) {
                Ok(request) => request,
                Err(error) => {
                    return Ok(json(
                        StatusCode::BAD_REQUEST,
                        serde_json::json!({"message": error.to_string()}),
                    ))
                }
            };
            let taken = shared.state.with(|s| {
                if s.snapshot.messages.contains_key(&request.id) {
                    s.snapshot.conflicts += 1;
                    return None;
                }
                let held = HeldMessage {
                    phone: request.phone_numbers.first().cloned().unwrap_or_default(),
                    text: request.text_message.text.clone(),
                    state: ProcessState::Pending,
                };
                s.snapshot.messages.insert(request.id.clone(), held.clone());
                Some(held)
            });
            match taken {
                None => json(
                    StatusCode::CONFLICT,
                    serde_json::json!({"message": format!("message with id {} already exists", request.id)}),
                ),
                Some(held) => {
                    tokio::spawn(radio(
                        shared.clone(),
                        request.id.clone(),
                        request.with_delivery_report,
                    ));
                    if lose {
                        let offline = shared
                            .state
                            .with(|s| std::mem::take(&mut s.faults.offline_after_lost_answer));
                        if offline {
                            // Aborting the server ends this connection too:
                            // no answer.
                            if let Some(server) = shared.server.get().and_then(Weak::upgrade) {
                                server.abort();
                            }
                        }
                        return Err(lost());
                    }
                    json(StatusCode::ACCEPTED, message_json(&request.id, &held))
                }
            }
        }
        (&Method::GET, p) if p.starts_with("/message/") || p.starts_with("/messages/") => {
            let id = p.rsplit('/').next().unwrap_or("");
            match shared.state.read(|s| s.snapshot.messages.get(id).cloned()) {
                Some(m) => json(StatusCode::OK, message_json(id, &m)),
                None => json(StatusCode::NOT_FOUND, serde_json::json!({})),
            }
        }
        (&Method::POST, "/webhooks" | "/webhook") => {
            match serde_json::from_slice::<api::Webhook>(&body) {
                Ok(webhook) => {
                    let id = webhook.id.clone().unwrap_or_else(|| "generated".to_owned());
                    shared.state.with(|s| {
                        s.snapshot
                            .webhooks
                            .insert(id.clone(), (webhook.event.clone(), webhook.url.clone()))
                    });
                    json(
                        StatusCode::CREATED,
                        serde_json::json!({"id": id, "url": webhook.url, "event": webhook.event}),
                    )
                }
                Err(error) => json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"message": error.to_string()}),
                ),
            }
        }
        (&Method::GET, "/inbox") => {
            let list: Vec<_> = shared.state.read(|s| {
                s.snapshot
                    .inbox
                    .iter()
                    .map(|(id, _, sender, text, at)| {
                        serde_json::json!({"id": id, "type": "SMS", "sender": sender,
                            "recipient": null, "simNumber": 1, "contentPreview": text,
                            "createdAt": at, "attachments": []})
                    })
                    .collect()
            });
            json(StatusCode::OK, serde_json::Value::Array(list))
        }
        (&Method::GET, "/webhooks") => {
            let list: Vec<_> = shared.state.read(|s| {
                s.snapshot
                    .webhooks
                    .iter()
                    .map(|(id, (event, url))| serde_json::json!({"id": id, "event": event, "url": url}))
                    .collect()
            });
            json(StatusCode::OK, serde_json::Value::Array(list))
        }
        (&Method::DELETE, p) if p.starts_with("/webhooks/") => {
            let id = p.rsplit('/').next().unwrap_or("").to_owned();
            shared
                .state
                .update(|s| s.snapshot.webhooks.remove(&id).is_some());
            json(StatusCode::NO_CONTENT, serde_json::json!({}))
        }
        _ => json(StatusCode::NOT_FOUND, serde_json::json!({})),
    };
    Ok(reply)
}

/// The `Authorization` header for `user:password`.
fn basic(credentials: &str) -> String {
    format!("Basic {}", crate::base64::encode(credentials.as_bytes()))
}
