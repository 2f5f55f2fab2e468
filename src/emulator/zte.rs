//! A ZTE web stick's `goform` interface (MF823 family) on a loopback port,
//! for tests and users without the stick: written from the interface's
//! documented behaviour (the sticks' own web pages and what users record of
//! them), not from any firmware.
//!
//! What it does as a stick does:
//! - every request must carry a `Referer` of the stick's own pages (HTTP
//!   403 otherwise, counted in [`Snapshot::referer_refused`]);
//! - with a password set, a `LOGIN` (base64 password, or with
//!   [`ZteConfig::salted_login`] the salted SHA-256 of later firmware, salt
//!   `LD`) sets the session cookie; sessions expire when idle; a session
//!   not logged in reads empty values for anything but the login fields
//!   and has every action answered `failure`; five wrong passwords lock
//!   logins for [`ZteConfig::lockout`] (`psw_fail_num_str`,
//!   `login_lock_time` say so);
//! - `SEND_SMS` starts a send that takes `send_time`; the send command's
//!   status (`sms_cmd_status_info`, `sms_cmd=4`) is `1` while it goes, `3`
//!   once sent (the copy then is in storage, tag 2, and the message in
//!   [`Snapshot::network`]) or `2` when the network refused it; with
//!   [`ZteConfig::reports`] a delivery report follows in
//!   `sms_status_rpt_data`;
//! - messages the network delivers ([`ZteEmulator::deliver`]) are stored
//!   (tag 1; a long one with parts missing marked so, as
//!   [`ZteEmulator::deliver_incomplete`]), listed by `sms_data_total` in pages (`page` from 0,
//!   `data_per_page`, `tags` 10 for all or one tag, `order_by` id asc or
//!   desc), deleted by `DELETE_SMS`, marked read by `SET_MSG_READ`;
//!   received and sent messages share `capacity` places
//!   (`sms_capacity_info`), and a message that finds no place is refused
//!   (counted in [`Snapshot::refused`]);
//! - identity, SIM, signal and network fields for the status reads.
//!
//! Faults on request: a reboot (the port refuses connections for a while,
//! sessions are gone, stored messages stay), HTTP 500 answers, slow
//! answers, sessions expired at once, the answer to the next `SEND_SMS`
//! lost after the send began, sends the network refuses, a send status
//! updated late, and a smaller storage.

use super::web::{self, Watched, WebServer};
use crate::zte::api;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The session cookie's name.
const COOKIE: &str = "stok";
/// Wrong passwords before logins are locked.
const MAX_FAILURES: u32 = 5;

/// How the emulated stick starts.
#[derive(Debug, Clone)]
pub struct ZteConfig {
    /// The login password; `None`: no login needed.
    pub password: Option<String>,
    /// Later firmware: the login password is salted with `LD`.
    pub salted_login: bool,
    /// Places for messages, received and sent together.
    pub capacity: u32,
    /// How long a send takes.
    pub send_time: Duration,
    /// How long an idle session lives.
    pub session_lifetime: Duration,
    /// How long logins stay locked after five wrong passwords.
    pub lockout: Duration,
    /// The network sends a delivery report for each message sent.
    pub reports: bool,
}

impl Default for ZteConfig {
    fn default() -> Self {
        Self {
            password: None,
            salted_login: false,
            capacity: 100,
            send_time: Duration::ZERO,
            session_lifetime: Duration::from_secs(300),
            lockout: Duration::from_secs(60),
            reports: false,
        }
    }
}

/// One stored message, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The other party.
    pub number: String,
    /// The text.
    pub text: String,
    /// 0 read, 1 unread, 2 sent.
    pub tag: u32,
    /// `yy,MM,dd,HH,mm,ss,+0`.
    pub date: String,
    /// Every part of a long message has arrived.
    pub complete: bool,
}

/// What the emulated stick holds and did, at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Messages it sent to the network, in order: (number, text).
    pub network: Vec<(String, String)>,
    /// Received messages, by id.
    pub inbox: BTreeMap<u32, StoredMessage>,
    /// Sent copies, by id.
    pub sent_box: BTreeMap<u32, StoredMessage>,
    /// Delivery reports it holds: (id, number, outcome `1` delivered).
    pub reports: Vec<(u32, String, String)>,
    /// Messages the network delivered that found no place.
    pub refused: u32,
    /// Requests by what they asked: `get:FIELD,…` or `set:GOFORM`.
    pub requests: HashMap<String, u32>,
    /// When each `SEND_SMS` arrived.
    pub send_requests: Vec<Instant>,
    /// Requests refused for their `Referer`.
    pub referer_refused: u32,
    /// Successful logins.
    pub logins: u32,
    /// Logins refused for the lockout.
    pub locked_attempts: u32,
}

impl Snapshot {
    /// Requests in all.
    pub fn total_requests(&self) -> u32 {
        self.requests.values().sum()
    }

    /// Requests that asked for `what` (`get:sms_capacity_info`,
    /// `set:SEND_SMS`).
    pub fn count(&self, what: &str) -> u32 {
        self.requests.get(what).copied().unwrap_or(0)
    }
}

#[derive(Debug)]
struct Sending {
    number: String,
    text: String,
    done_at: Instant,
    fails: bool,
}

#[derive(Debug, Default)]
struct Faults {
    http_500: u32,
    lose_send_answer: bool,
    fail_sends: u32,
    stale_status: bool,
    slow: Option<Duration>,
}

#[derive(Debug)]
struct State {
    config: ZteConfig,
    snapshot: Snapshot,
    /// Live sessions: cookie value → last used.
    sessions: HashMap<String, Instant>,
    next_id: u32,
    next_session: u64,
    sending: Option<Sending>,
    /// `sms_cmd_status_result` of the last send.
    send_status: &'static str,
    failed_logins: u32,
    locked_until: Option<Instant>,
    salt: String,
    faults: Faults,
}

fn date_now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let t = crate::pdu::Timestamp::from_unix_seconds(seconds);
    format!(
        "{:02},{:02},{:02},{:02},{:02},{:02},+0",
        t.year % 100,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second
    )
}

impl State {
    fn used(&self) -> u32 {
        (self.snapshot.inbox.len() + self.snapshot.sent_box.len()) as u32
    }

    fn fresh_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// Finishes a send whose time has come; whether one did.
    fn advance(&mut self, now: Instant) -> bool {
        if self.sending.as_ref().is_none_or(|s| s.done_at > now) {
            return false;
        }
        let sending = self.sending.take().expect("checked");
        if sending.fails {
            self.send_status = "2";
            return true;
        }
        self.snapshot
            .network
            .push((sending.number.clone(), sending.text.clone()));
        if self.used() < self.config.capacity {
            let id = self.fresh_id();
            self.snapshot.sent_box.insert(
                id,
                StoredMessage {
                    number: sending.number.clone(),
                    text: sending.text,
                    tag: 2,
                    date: date_now(),
                    complete: true,
                },
            );
        }
        if self.config.reports {
            let id = self.fresh_id();
            self.snapshot
                .reports
                .push((id, sending.number, "1".to_owned()));
        }
        self.send_status = "3";
        true
    }

    fn locked(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }
}

/// A running emulated ZTE stick.
#[derive(Debug)]
pub struct ZteEmulator {
    server: WebServer,
    state: Arc<Watched<State>>,
}

impl ZteEmulator {
    /// Starts a stick on a free loopback port.
    pub async fn start(config: ZteConfig) -> std::io::Result<Self> {
        let state = Arc::new(Watched::new(State {
            config,
            snapshot: Snapshot::default(),
            sessions: HashMap::new(),
            next_id: 0,
            next_session: 0,
            sending: None,
            send_status: "3",
            failed_logins: 0,
            locked_until: None,
            salt: "5A3F09C1".to_owned(),
            faults: Faults::default(),
        }));
        let server = {
            let state = state.clone();
            WebServer::start(move |request| answer(state.clone(), request)).await?
        };
        Ok(Self { server, state })
    }

    /// The stick's address, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        self.state.with(f)
    }

    /// What it holds and did now.
    pub fn snapshot(&self) -> Snapshot {
        // A send whose time has come is a change; the look itself is not.
        self.state.update(|s| s.advance(Instant::now()));
        self.state.read(|s| s.snapshot.clone())
    }

    /// Waits until `done` holds for the snapshot, at most `limit`; whether
    /// it did.
    pub async fn wait_for(&self, limit: Duration, done: impl Fn(&Snapshot) -> bool) -> bool {
        // A send finishes with time, not with a request: look again when
        // the one under way is due.
        self.state
            .wait_for(
                limit,
                |s| s.sending.as_ref().map(|sending| sending.done_at),
                || done(&self.snapshot()),
            )
            .await
    }

    /// The network delivers a message from `number`: stored (dated now),
    /// or refused when the storage is full. Its id.
    pub fn deliver(&self, number: &str, text: &str) -> Option<u32> {
        self.store(number, text, true)
    }

    /// As [`ZteEmulator::deliver`], for a long message of which only some
    /// parts have arrived (`received_all_concat_sms` 0) until
    /// [`ZteEmulator::complete`].
    pub fn deliver_incomplete(&self, number: &str, text: &str) -> Option<u32> {
        self.store(number, text, false)
    }

    /// The missing parts of message `id` arrive: its text is now `text`.
    pub fn complete(&self, id: u32, text: &str) {
        self.with(|s| {
            if let Some(message) = s.snapshot.inbox.get_mut(&id) {
                message.text = text.to_owned();
                message.complete = true;
            }
        });
    }

    fn store(&self, number: &str, text: &str, complete: bool) -> Option<u32> {
        self.with(|s| {
            if s.used() >= s.config.capacity {
                s.snapshot.refused += 1;
                return None;
            }
            let id = s.fresh_id();
            s.snapshot.inbox.insert(
                id,
                StoredMessage {
                    number: number.to_owned(),
                    text: text.to_owned(),
                    tag: 1,
                    date: date_now(),
                    complete,
                },
            );
            Some(id)
        })
    }

    /// Reboots: connections are refused for `down`, sessions are lost,
    /// stored messages stay; a send under way finishes.
    pub async fn reboot(&self, down: Duration) {
        self.server.down().await;
        self.with(|s| {
            s.advance(Instant::now() + Duration::from_secs(3600));
            s.sessions.clear();
        });
        tokio::time::sleep(down).await;
        self.server.up().await;
        self.state.touch();
    }

    /// The next `count` requests are answered HTTP 500, without effect.
    pub fn fail_requests(&self, count: u32) {
        self.with(|s| s.faults.http_500 = count);
    }

    /// Every session expires now.
    pub fn expire_sessions(&self) {
        self.with(|s| s.sessions.clear());
    }

    /// Every answer comes `delay` late (`None`: at once).
    pub fn slow(&self, delay: Option<Duration>) {
        self.with(|s| s.faults.slow = delay);
    }

    /// The next `SEND_SMS` begins its send, then its connection is dropped
    /// without an answer.
    pub fn lose_next_send_answer(&self) {
        self.with(|s| s.faults.lose_send_answer = true);
    }

    /// The network refuses the next `count` sends.
    pub fn fail_sends(&self, count: u32) {
        self.with(|s| s.faults.fail_sends = count);
    }

    /// The next `SEND_SMS` leaves the send status as the last send left
    /// it until this send is done (a status updated late).
    pub fn stale_status_on_next_send(&self) {
        self.with(|s| s.faults.stale_status = true);
    }

    /// Sets the storage's size.
    pub fn set_capacity(&self, places: u32) {
        self.with(|s| s.config.capacity = places);
    }

    /// Stops serving.
    pub async fn stop(&self) {
        self.server.down().await;
    }
}

/// What one request gets.
enum Reply {
    Json(Value),
    Status(StatusCode),
    /// Drop the connection without an answer.
    Lost,
}

async fn answer(state: Arc<Watched<State>>, request: Request<Incoming>) -> web::Answer {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let referer_ok = parts
        .headers
        .get("referer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|r| !host.is_empty() && r.starts_with(&format!("http://{host}/")));
    let session = parts
        .headers
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .map(str::trim)
                .find_map(|c| c.strip_prefix(&format!("{COOKIE}=")))
        })
        .map(str::to_owned);
    let path = parts.uri.path().to_owned();
    let fields = if parts.method == hyper::Method::POST {
        api::parse_form(&body)
    } else {
        api::parse_form(parts.uri.query().unwrap_or(""))
    };
    // Every request is counted in the snapshot: a change.
    let (reply, cookie, delay) = state.with(|s| {
        let delay = s.faults.slow;
        let (reply, cookie) = if referer_ok {
            handle(s, &path, &fields, session)
        } else {
            s.snapshot.referer_refused += 1;
            (Reply::Status(StatusCode::FORBIDDEN), None)
        };
        (reply, cookie, delay)
    });
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = match reply {
        Reply::Json(value) => Response::new(Full::new(Bytes::from(value.to_string()))),
        Reply::Status(status) => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"<html></html>")));
            *response.status_mut() = status;
            response
        }
        Reply::Lost => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "answer lost",
            ))
        }
    };
    if let Some(cookie) = cookie {
        if let Ok(value) = format!("{COOKIE}={cookie}; path=/; HttpOnly").parse() {
            response.headers_mut().insert("set-cookie", value);
        }
    }
    Ok(response)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

fn result(word: &str) -> Reply {
    Reply::Json(json!({ "result": word }))
}

/// The request's effect and answer; a new session cookie, if any.
fn handle(
    s: &mut State,
    path: &str,
    fields: &[(String, String)],
    session: Option<String>,
) -> (Reply, Option<String>) {
    let now = Instant::now();
    s.advance(now);
    let key = if path == api::SET_PATH {
        format!("set:{}", field(fields, "goformId"))
    } else {
        format!("get:{}", field(fields, "cmd"))
    };
    *s.snapshot.requests.entry(key).or_insert(0) += 1;
    if s.faults.http_500 > 0 {
        s.faults.http_500 -= 1;
        return (Reply::Status(StatusCode::INTERNAL_SERVER_ERROR), None);
    }
    let lifetime = s.config.session_lifetime;
    s.sessions.retain(|_, last| now - *last < lifetime);
    let logged_in = s.config.password.is_none()
        || session
            .as_ref()
            .is_some_and(|id| s.sessions.get_mut(id).map(|last| *last = now).is_some());
    match path {
        api::GET_PATH => (Reply::Json(read(s, fields, logged_in, now)), None),
        api::SET_PATH => act(s, fields, logged_in, now),
        _ => (Reply::Status(StatusCode::NOT_FOUND), None),
    }
}

fn messages_json(list: &[(u32, &StoredMessage)]) -> Value {
    let messages: Vec<Value> = list
        .iter()
        .map(|(id, m)| {
            json!({
                "id": id.to_string(),
                "number": m.number,
                "content": api::encode_body(&m.text),
                "tag": m.tag.to_string(),
                "date": m.date,
                "draft_group_id": "",
                "received_all_concat_sms": if m.complete { "1" } else { "0" },
            })
        })
        .collect();
    json!({ "messages": messages })
}

/// A GET: the fields asked for.
fn read(s: &mut State, fields: &[(String, String)], logged_in: bool, now: Instant) -> Value {
    let cmd = field(fields, "cmd");
    let public = |name: &str| {
        matches!(
            name,
            "loginfo"
                | "LD"
                | "psw_fail_num_str"
                | "login_lock_time"
                | "modem_main_state"
                | "pin_status"
        )
    };
    if !logged_in && !cmd.split(',').all(public) {
        // What a session without a login reads: nothing.
        let mut empty = Map::new();
        for name in cmd.split(',') {
            empty.insert(name.to_owned(), Value::String(String::new()));
        }
        return Value::Object(empty);
    }
    let number =
        |name: &str, default: usize| -> usize { field(fields, name).parse().unwrap_or(default) };
    match cmd {
        "sms_capacity_info" => {
            let received = s.snapshot.inbox.len();
            let sent = s.snapshot.sent_box.len();
            json!({
                "sms_nv_total": s.config.capacity.to_string(),
                "sms_nv_rev_total": received.to_string(),
                "sms_nv_send_total": sent.to_string(),
                "sms_nv_draftbox_total": "0",
                "sms_sim_total": "0",
                "sms_sim_rev_total": "0",
                "sms_sim_send_total": "0",
                "sms_sim_draftbox_total": "0",
            })
        }
        "sms_data_total" => {
            let page = number("page", 0);
            let per_page = number("data_per_page", 20).clamp(1, 500);
            let tags = field(fields, "tags");
            let descending = field(fields, "order_by").contains("desc");
            let mut all: Vec<(u32, &StoredMessage)> = s
                .snapshot
                .inbox
                .iter()
                .chain(s.snapshot.sent_box.iter())
                .map(|(id, m)| (*id, m))
                .filter(|(_, m)| tags == "10" || tags == m.tag.to_string())
                .collect();
            all.sort_by_key(|(id, _)| *id);
            if descending {
                all.reverse();
            }
            let chosen: Vec<(u32, &StoredMessage)> = all
                .into_iter()
                .skip(page * per_page)
                .take(per_page)
                .collect();
            messages_json(&chosen)
        }
        "sms_status_rpt_data" => {
            let per_page = number("data_per_page", 10).clamp(1, 500);
            let date = date_now();
            let reports: Vec<Value> = s
                .snapshot
                .reports
                .iter()
                .rev()
                .take(per_page)
                .map(|(id, number, outcome)| {
                    json!({ "id": id.to_string(), "number": number, "content": outcome, "date": date })
                })
                .collect();
            json!({ "messages": reports })
        }
        "sms_cmd_status_info" => {
            let status = match field(fields, "sms_cmd") {
                "4" => s.send_status,
                _ => "3",
            };
            json!({ "sms_cmd": field(fields, "sms_cmd"), "sms_cmd_status_result": status })
        }
        _ => {
            let locked = s.locked(now);
            let mut out = Map::new();
            for name in cmd.split(',') {
                let value = match name {
                    "loginfo" => if logged_in { "ok" } else { "" }.to_owned(),
                    "LD" if s.config.salted_login => s.salt.clone(),
                    "psw_fail_num_str" => if locked.is_some() {
                        0
                    } else {
                        MAX_FAILURES - s.failed_logins
                    }
                    .to_string(),
                    "login_lock_time" => locked.map_or(-1, |d| d.as_secs() as i64 + 1).to_string(),
                    "modem_main_state" => "modem_init_complete".to_owned(),
                    "pin_status" => "0".to_owned(),
                    "network_type" => "LTE".to_owned(),
                    "network_provider" => "Emulated Net".to_owned(),
                    "signalbar" => "4".to_owned(),
                    "rssi" => "-67".to_owned(),
                    "lte_rsrp" => "-95".to_owned(),
                    "imei" => "864000000000018".to_owned(),
                    "hw_version" => "MF823".to_owned(),
                    "wa_inner_version" => "BD_EMULATED_MF823V1.0.0B01".to_owned(),
                    _ => String::new(),
                };
                out.insert(name.to_owned(), Value::String(value));
            }
            Value::Object(out)
        }
    }
}

fn ids(fields: &[(String, String)]) -> Vec<u32> {
    field(fields, "msg_id")
        .split(';')
        .filter_map(|id| id.trim().parse().ok())
        .collect()
}

/// A POST: the action's effect and answer.
fn act(
    s: &mut State,
    fields: &[(String, String)],
    logged_in: bool,
    now: Instant,
) -> (Reply, Option<String>) {
    let goform = field(fields, "goformId");
    if goform == "LOGIN" {
        return log_in(s, field(fields, "password"), now);
    }
    if !logged_in {
        return (result("failure"), None);
    }
    let reply = match goform {
        "SEND_SMS" => {
            if s.sending.is_some() {
                return (result("failure"), None);
            }
            let Ok(text) = api::decode_body(field(fields, "MessageBody")) else {
                return (result("failure"), None);
            };
            let number = field(fields, "Number").to_owned();
            if number.is_empty() || api::parse_time(field(fields, "sms_time")).is_none() {
                return (result("failure"), None);
            }
            s.snapshot.send_requests.push(now);
            let fails = s.faults.fail_sends > 0;
            if fails {
                s.faults.fail_sends -= 1;
            }
            s.sending = Some(Sending {
                number,
                text,
                done_at: now + s.config.send_time,
                fails,
            });
            if !std::mem::take(&mut s.faults.stale_status) {
                s.send_status = "1";
            }
            if std::mem::take(&mut s.faults.lose_send_answer) {
                return (Reply::Lost, None);
            }
            result("success")
        }
        "DELETE_SMS" => {
            for id in ids(fields) {
                s.snapshot.inbox.remove(&id);
                s.snapshot.sent_box.remove(&id);
            }
            result("success")
        }
        "SET_MSG_READ" => {
            for id in ids(fields) {
                if let Some(message) = s.snapshot.inbox.get_mut(&id) {
                    message.tag = 0;
                }
            }
            result("success")
        }
        _ => result("failure"),
    };
    (reply, None)
}

/// `LOGIN`: the answer, and the new session's cookie.
fn log_in(s: &mut State, password: &str, now: Instant) -> (Reply, Option<String>) {
    if s.locked(now).is_some() {
        s.snapshot.locked_attempts += 1;
        return (result("1"), None);
    }
    let salt = s.config.salted_login.then(|| s.salt.clone());
    let right = s
        .config
        .password
        .as_deref()
        .is_some_and(|p| api::login_password(p, salt.as_deref()) == password);
    if !right {
        s.failed_logins += 1;
        if s.failed_logins >= MAX_FAILURES {
            s.failed_logins = 0;
            s.locked_until = Some(now + s.config.lockout);
        }
        return (result("3"), None);
    }
    s.failed_logins = 0;
    s.snapshot.logins += 1;
    s.next_session += 1;
    let id = format!("{:016x}{:08x}", s.next_session, std::process::id());
    s.sessions.insert(id.clone(), now);
    // A salt is used once.
    s.salt = format!("{:08X}", s.next_session.wrapping_mul(0x9E37_79B9));
    (result("0"), Some(id))
}
