//! A Huawei HiLink stick's web interface on a loopback port, for tests and
//! users without the stick: written from the interface's documented
//! behaviour, not from any firmware.
//!
//! What it does as a stick does:
//! - sessions from `/api/webserver/SesTokInfo` (a cookie and a token),
//!   which expire when idle; every other request needs a live session
//!   (125002 otherwise); every POST needs a token the session was given
//!   and not used yet (125003 otherwise), and each answer to a POST hands
//!   out the next token in its headers (a batch of three after a login);
//! - with a password set, a login (password_type 4) before anything but
//!   the session and login state (100003), three wrong passwords lock
//!   logins for a while (108007);
//! - `send-sms` starts a send that takes `send_time` (with
//!   `mangle_non_bmp`, emoji become `?` as on some firmware); `send-status` names
//!   the number while it is under way and under `SucPhone` once done; the
//!   message then is in the sent box and in [`HilinkEmulator::network`];
//! - messages the network delivers ([`HilinkEmulator::deliver`]) go to the
//!   inbox, read with `sms-list` in pages of at most 50, deleted with
//!   `delete-sms`; the inbox and sent box share `LocalMax` places, and a
//!   message that finds no place is refused (counted in
//!   [`Snapshot::refused`]): the stick is full;
//! - `sms/config` reads and sets the message settings; with `UseSReport`
//!   on, the network answers each message sent with a delivery report
//!   ([`HilinkConfig::report_delay`] after the send), kept in the inbox
//!   as a message from the number sent to with `SmsType` 7 (delivered) or
//!   8 (not), read, counted and deleted as the messages there are; with
//!   it off, no report comes. One report per message, however many parts
//!   it was sent in;
//! - `sms-count`, `check-notifications`, `device/information`, `pin/status`,
//!   `device/signal`, `monitoring/status`, `net/current-plmn`.
//!
//! Faults on request: a reboot (the port refuses connections for a while,
//! sessions are gone, stored messages stay), HTTP 500 answers, slow
//! answers, sessions expired at once, tokens rejected, "busy" answers, the
//! answer to the next `send-sms` lost after the send began, a
//! smaller `LocalMax`, delivery reports held back until released, and
//! messages the network could not deliver.

use super::web::{self, Watched, WebServer};
use crate::hilink::api;
use crate::hilink::client::TOKEN_HEADER;
use crate::hilink::xml;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the emulated stick starts.
#[derive(Debug, Clone)]
pub struct HilinkConfig {
    /// The login password; `None`: no login needed.
    pub password: Option<String>,
    /// The login name.
    pub user: String,
    /// Places for messages, inbox and sent box together.
    pub local_max: u32,
    /// How long a send takes.
    pub send_time: Duration,
    /// How long an idle session lives.
    pub session_lifetime: Duration,
    /// How long logins stay locked after three wrong passwords.
    pub lockout: Duration,
    /// The firmware replaces characters outside the BMP (emoji) with `?`
    /// in what it sends and keeps, as some firmware does.
    pub mangle_non_bmp: bool,
    /// Whether it asks for delivery reports (`UseSReport`) when it starts.
    pub use_s_report: bool,
    /// How long after a send its delivery report arrives.
    pub report_delay: Duration,
}

impl Default for HilinkConfig {
    fn default() -> Self {
        Self {
            password: None,
            user: "admin".to_owned(),
            local_max: 500,
            send_time: Duration::ZERO,
            session_lifetime: Duration::from_secs(300),
            lockout: Duration::from_secs(60),
            mangle_non_bmp: false,
            use_s_report: false,
            report_delay: Duration::ZERO,
        }
    }
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The other party.
    pub phone: String,
    /// The text.
    pub content: String,
    /// `YYYY-MM-DD HH:MM:SS`.
    pub date: String,
    /// 0 unread, 1 read, 3 sent.
    pub status: u32,
    /// 1 a message; [`api::SMS_TYPE_DELIVERED`] or
    /// [`api::SMS_TYPE_NOT_DELIVERED`] a delivery report.
    pub sms_type: u32,
}

impl StoredMessage {
    /// Whether it is a delivery report.
    pub fn is_report(&self) -> bool {
        matches!(
            self.sms_type,
            api::SMS_TYPE_DELIVERED | api::SMS_TYPE_NOT_DELIVERED
        )
    }
}

/// What the emulated stick holds and did, at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Messages it sent to the network, in order: (number, text).
    pub network: Vec<(String, String)>,
    /// The inbox, by index.
    pub inbox: BTreeMap<u32, StoredMessage>,
    /// The sent box, by index.
    pub sent_box: BTreeMap<u32, StoredMessage>,
    /// Messages the network delivered that found no place.
    pub refused: u32,
    /// Requests by path.
    pub requests: HashMap<String, u32>,
    /// When each `send-sms` request arrived.
    pub send_requests: Vec<Instant>,
    /// Sessions begun.
    pub sessions: u32,
    /// Successful logins.
    pub logins: u32,
    /// Login attempts refused for lockout.
    pub locked_attempts: u32,
    /// Whether it asks for delivery reports now (`UseSReport`).
    pub use_s_report: bool,
    /// Delivery reports the network sent, held back ones included.
    pub reports_made: u32,
}

impl Snapshot {
    /// Requests in all.
    pub fn total_requests(&self) -> u32 {
        self.requests.values().sum()
    }

    /// The delivery reports in the inbox.
    pub fn reports(&self) -> impl Iterator<Item = &StoredMessage> + '_ {
        self.inbox.values().filter(|m| m.is_report())
    }
}

#[derive(Debug)]
struct Session {
    tokens: VecDeque<String>,
    logged_in: bool,
    last_used: Instant,
}

#[derive(Debug)]
struct Sending {
    phone: String,
    content: String,
    done_at: Instant,
}

/// A delivery report on its way from the network.
#[derive(Debug)]
struct PendingReport {
    phone: String,
    delivered: bool,
    due: Instant,
}

#[derive(Debug, Default)]
struct Faults {
    http_500: u32,
    busy: u32,
    reject_tokens: u32,
    lose_send_answer: bool,
    slow: Option<Duration>,
    /// Reports wait until released.
    hold_reports: bool,
    /// The next this many messages sent are not delivered.
    undelivered: u32,
}

#[derive(Debug)]
struct State {
    config: HilinkConfig,
    snapshot: Snapshot,
    sessions: HashMap<String, Session>,
    next_id: u64,
    next_index: u32,
    sending: Option<Sending>,
    /// (pending phone, succeeded phone, failed phone) for send-status.
    status: (String, String, String),
    failed_logins: u32,
    locked_until: Option<Instant>,
    faults: Faults,
    /// The message settings of `sms/config`, by name.
    sms_config: BTreeMap<String, String>,
    /// Delivery reports on their way, oldest first.
    reports: VecDeque<PendingReport>,
}

impl State {
    fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        // Unpredictable enough for a test, and never reused.
        format!("{:016x}{:08x}", self.next_id, std::process::id())
    }

    fn used(&self) -> u32 {
        (self.snapshot.inbox.len() + self.snapshot.sent_box.len()) as u32
    }

    /// Finishes a send whose time has come; whether one did.
    fn advance(&mut self, now: Instant) -> bool {
        let due = self.sending.as_ref().is_some_and(|s| s.done_at <= now);
        if due {
            let sending = self.sending.take().expect("checked");
            self.snapshot
                .network
                .push((sending.phone.clone(), sending.content.clone()));
            if self.used() < self.config.local_max {
                let index = self.next_index;
                self.next_index += 1;
                self.snapshot.sent_box.insert(
                    index,
                    StoredMessage {
                        phone: sending.phone.clone(),
                        content: sending.content,
                        date: now_date(),
                        status: 3,
                        sms_type: 1,
                    },
                );
            }
            if self.snapshot.use_s_report {
                let delivered = if self.faults.undelivered > 0 {
                    self.faults.undelivered -= 1;
                    false
                } else {
                    true
                };
                self.snapshot.reports_made += 1;
                self.reports.push_back(PendingReport {
                    phone: sending.phone.clone(),
                    delivered,
                    due: now + self.config.report_delay,
                });
            }
            self.status = (String::new(), sending.phone, String::new());
        }
        let mut changed = due;
        while !self.faults.hold_reports && self.reports.front().is_some_and(|r| r.due <= now) {
            let report = self.reports.pop_front().expect("checked");
            self.store_report(&report.phone, report.delivered);
            changed = true;
        }
        changed
    }

    /// Keeps a delivery report in the inbox, as a message from the number
    /// the message went to; refused when the storage is full. Its index.
    fn store_report(&mut self, phone: &str, delivered: bool) -> Option<u32> {
        if self.used() >= self.config.local_max {
            self.snapshot.refused += 1;
            return None;
        }
        let index = self.next_index;
        self.next_index += 1;
        self.snapshot.inbox.insert(
            index,
            StoredMessage {
                phone: phone.to_owned(),
                content: String::new(),
                date: now_date(),
                status: 0,
                sms_type: if delivered {
                    api::SMS_TYPE_DELIVERED
                } else {
                    api::SMS_TYPE_NOT_DELIVERED
                },
            },
        );
        Some(index)
    }
}

fn now_date() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    api::format_date(&crate::pdu::Timestamp::from_unix_seconds(seconds))
}

/// A running emulated HiLink stick.
#[derive(Debug)]
pub struct HilinkEmulator {
    server: WebServer,
    state: Arc<Watched<State>>,
}

impl HilinkEmulator {
    /// Starts a stick on a free loopback port.
    pub async fn start(config: HilinkConfig) -> std::io::Result<Self> {
        let sms_config = [
            ("SaveMode", "0"),
            ("Validity", "10752"),
            ("Sca", "+491710760000"),
            ("UseSReport", if config.use_s_report { "1" } else { "0" }),
            ("SendType", "1"),
            ("Priority", "0"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        let state = Arc::new(Watched::new(State {
            snapshot: Snapshot {
                use_s_report: config.use_s_report,
                ..Snapshot::default()
            },
            config,
            sessions: HashMap::new(),
            next_id: 0,
            next_index: 40_000,
            sending: None,
            status: Default::default(),
            failed_logins: 0,
            locked_until: None,
            faults: Faults::default(),
            sms_config,
            reports: VecDeque::new(),
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

    /// The network delivers a message from `phone`: stored in the inbox
    /// (dated now), or refused when the storage is full. Its index.
    pub fn deliver(&self, phone: &str, text: &str) -> Option<u32> {
        self.with(|s| {
            if s.used() >= s.config.local_max {
                s.snapshot.refused += 1;
                return None;
            }
            let index = s.next_index;
            s.next_index += 1;
            s.snapshot.inbox.insert(
                index,
                StoredMessage {
                    phone: phone.to_owned(),
                    content: text.to_owned(),
                    date: now_date(),
                    status: 0,
                    sms_type: 1,
                },
            );
            Some(index)
        })
    }

    /// The network sends a delivery report for a message to `phone`
    /// (whether or not one was sent or asked for). Its index.
    pub fn deliver_report(&self, phone: &str, delivered: bool) -> Option<u32> {
        self.with(|s| s.store_report(phone, delivered))
    }

    /// Delivery reports wait on the network until
    /// [`HilinkEmulator::release_reports`].
    pub fn hold_reports(&self) {
        self.with(|s| s.faults.hold_reports = true);
    }

    /// Delivery reports held back arrive, in the order they were made.
    pub fn release_reports(&self) {
        self.with(|s| {
            s.faults.hold_reports = false;
            s.advance(Instant::now());
        });
    }

    /// The next `count` messages sent are not delivered: their reports say
    /// so.
    pub fn undelivered(&self, count: u32) {
        self.with(|s| s.faults.undelivered = count);
    }

    /// Reboots: connections are refused for `down`, sessions are lost,
    /// stored messages stay; a send under way finishes.
    pub async fn reboot(&self, down: Duration) {
        self.server.down().await;
        self.with(|s| {
            s.advance(Instant::now() + Duration::from_secs(3600));
            s.sessions.clear();
            s.status = Default::default();
        });
        tokio::time::sleep(down).await;
        self.server.up().await;
    }

    /// The next `count` requests are answered HTTP 500, without effect.
    pub fn fail_requests(&self, count: u32) {
        self.with(|s| s.faults.http_500 = count);
    }

    /// The next `count` requests are answered "busy" (100004).
    pub fn busy(&self, count: u32) {
        self.with(|s| s.faults.busy = count);
    }

    /// The next `count` POSTs have their token rejected (125003).
    pub fn reject_tokens(&self, count: u32) {
        self.with(|s| s.faults.reject_tokens = count);
    }

    /// Every session expires now.
    pub fn expire_sessions(&self) {
        self.with(|s| s.sessions.clear());
    }

    /// Every answer comes `delay` late (`None`: at once).
    pub fn slow(&self, delay: Option<Duration>) {
        self.with(|s| s.faults.slow = delay);
    }

    /// The next `send-sms` begins its send, then its connection is
    /// dropped without an answer.
    pub fn lose_next_send_answer(&self) {
        self.with(|s| s.faults.lose_send_answer = true);
    }

    /// Sets the storage's size.
    pub fn set_local_max(&self, places: u32) {
        self.with(|s| s.config.local_max = places);
    }

    /// Stops serving.
    pub async fn stop(&self) {
        self.server.down().await;
    }
}

/// What one request gets.
enum Reply {
    Xml(String),
    Error(u32),
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
    let path = parts.uri.path().to_owned();
    let cookie = parts
        .headers
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .map(str::trim)
                .find_map(|c| c.strip_prefix("SessionID="))
        })
        .map(str::to_owned);
    let token = parts
        .headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let post = parts.method == hyper::Method::POST;
    // Every request is counted in the snapshot: a change.
    let (reply, new_tokens, delay) = state.with(|s| {
        *s.snapshot.requests.entry(path.clone()).or_insert(0) += 1;
        let delay = s.faults.slow;
        let (reply, tokens) = handle(s, &path, post, cookie.as_deref(), token, &body);
        (reply, tokens, delay)
    });
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let text = match reply {
        Reply::Xml(text) => text,
        Reply::Error(code) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><error><code>{code}</code><message></message></error>"
        ),
        Reply::Status(status) => {
            let mut response = Response::new(Full::new(Bytes::from_static(
                b"<html><body>Internal Server Error</body></html>",
            )));
            *response.status_mut() = status;
            return Ok(response);
        }
        Reply::Lost => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "answer lost",
            ))
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(text)));
    if let Some(tokens) = new_tokens {
        if let Ok(value) = tokens.parse() {
            response.headers_mut().insert(TOKEN_HEADER, value);
        }
    }
    Ok(response)
}

fn ok() -> Reply {
    Reply::Xml("<?xml version=\"1.0\" encoding=\"UTF-8\"?><response>OK</response>".to_owned())
}

fn response(fields: &[(&str, String)]) -> Reply {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    Reply::Xml(xml::document("response", &fields))
}

/// The request's effect and answer; the tokens for the answer's header.
fn handle(
    s: &mut State,
    path: &str,
    post: bool,
    cookie: Option<&str>,
    token: Option<String>,
    body: &str,
) -> (Reply, Option<String>) {
    let now = Instant::now();
    s.advance(now);
    if s.faults.http_500 > 0 {
        s.faults.http_500 -= 1;
        return (Reply::Status(StatusCode::INTERNAL_SERVER_ERROR), None);
    }
    if s.faults.busy > 0 {
        s.faults.busy -= 1;
        return (Reply::Error(api::ERROR_SYSTEM_BUSY), None);
    }
    if path == "/api/webserver/SesTokInfo" {
        let id = s.fresh_id();
        let token = s.fresh_id();
        s.sessions.insert(
            id.clone(),
            Session {
                tokens: VecDeque::from([token.clone()]),
                logged_in: false,
                last_used: now,
            },
        );
        s.snapshot.sessions += 1;
        return (
            response(&[("SesInfo", format!("SessionID={id}")), ("TokInfo", token)]),
            None,
        );
    }
    let lifetime = s.config.session_lifetime;
    s.sessions
        .retain(|_, session| now - session.last_used < lifetime);
    let Some(id) = cookie
        .filter(|id| s.sessions.contains_key(*id))
        .map(str::to_owned)
    else {
        return (Reply::Error(api::ERROR_WRONG_SESSION), None);
    };
    let mut next_tokens = None;
    if post {
        let rejected = s.faults.reject_tokens > 0;
        if rejected {
            s.faults.reject_tokens -= 1;
        }
        let session = s.sessions.get_mut(&id).expect("checked");
        session.last_used = now;
        let position = token
            .as_deref()
            .and_then(|t| session.tokens.iter().position(|known| known == t));
        let Some(position) = position.filter(|_| !rejected) else {
            return (Reply::Error(api::ERROR_WRONG_SESSION_TOKEN), None);
        };
        session.tokens.remove(position);
        let fresh = s.fresh_id();
        let session = s.sessions.get_mut(&id).expect("checked");
        session.tokens.push_back(fresh.clone());
        next_tokens = Some(fresh);
    } else {
        s.sessions.get_mut(&id).expect("checked").last_used = now;
    }
    let logged_in = s.config.password.is_none() || s.sessions[&id].logged_in;
    let reply = match path {
        "/api/user/state-login" => response(&[
            ("State", if logged_in { "0" } else { "-1" }.to_owned()),
            ("Username", String::new()),
            ("password_type", "4".to_owned()),
        ]),
        "/api/user/login" if post => {
            let (reply, batch) = log_in(s, &id, token.as_deref().unwrap_or(""), body, now);
            if let Some(batch) = batch {
                next_tokens = Some(batch);
            }
            reply
        }
        _ if !logged_in => Reply::Error(api::ERROR_NO_RIGHTS),
        _ => serve_api(s, path, post, body, now),
    };
    (reply, next_tokens)
}

/// `/api/user/login`: the reply, and a batch of tokens after a login.
fn log_in(
    s: &mut State,
    id: &str,
    token: &str,
    body: &str,
    now: Instant,
) -> (Reply, Option<String>) {
    if s.locked_until.is_some_and(|until| until > now) {
        s.snapshot.locked_attempts += 1;
        return (Reply::Error(api::ERROR_LOCKED_OUT), None);
    }
    let Ok(request) = xml::parse(body) else {
        return (Reply::Error(100_005), None);
    };
    let expected = s
        .config
        .password
        .as_deref()
        .map(|password| api::login_password(4, &s.config.user, password, token));
    let right = request.value("Username") == Some(s.config.user.as_str())
        && request.value("password_type") == Some("4")
        && expected.is_some_and(|e| request.value("Password") == Some(e.as_str()));
    if !right {
        s.failed_logins += 1;
        if s.failed_logins >= 3 {
            s.failed_logins = 0;
            s.locked_until = Some(now + s.config.lockout);
            return (Reply::Error(api::ERROR_LOCKED_OUT), None);
        }
        return (Reply::Error(api::ERROR_WRONG_CREDENTIALS), None);
    }
    s.failed_logins = 0;
    s.snapshot.logins += 1;
    let batch: Vec<String> = (0..3).map(|_| s.fresh_id()).collect();
    let session = s.sessions.get_mut(id).expect("live session");
    session.logged_in = true;
    session.tokens = batch.iter().cloned().collect();
    (ok(), Some(batch.join("#")))
}

fn serve_api(s: &mut State, path: &str, post: bool, body: &str, now: Instant) -> Reply {
    let request = if post { xml::parse(body).ok() } else { None };
    let value = |name: &str| request.as_ref().and_then(|r| r.value(name)).unwrap_or("");
    match (path, post) {
        ("/api/device/information", false) => response(&[
            ("DeviceName", "E3372h-153".to_owned()),
            ("SerialNumber", "EMULATED0001".to_owned()),
            ("Imei", "866000000000017".to_owned()),
            ("HardwareVersion", "CL2E3372HM".to_owned()),
            ("SoftwareVersion", "22.333.01.00.00".to_owned()),
            ("ProductFamily", "LTE".to_owned()),
        ]),
        ("/api/pin/status", false) => response(&[
            ("SimState", "257".to_owned()),
            ("PinOptState", "258".to_owned()),
            ("SimPinTimes", "3".to_owned()),
        ]),
        ("/api/device/signal", false) => response(&[
            ("rssi", "-67dBm".to_owned()),
            ("rsrp", "-95dBm".to_owned()),
            ("rsrq", "-11dB".to_owned()),
            ("sinr", "9dB".to_owned()),
            ("mode", "7".to_owned()),
        ]),
        ("/api/monitoring/status", false) => response(&[
            ("ConnectionStatus", "901".to_owned()),
            ("SignalIcon", "4".to_owned()),
            ("SimStatus", "1".to_owned()),
            ("ServiceStatus", "2".to_owned()),
            ("CurrentNetworkType", "19".to_owned()),
        ]),
        ("/api/net/current-plmn", false) => response(&[
            ("State", "0".to_owned()),
            ("FullName", "Emulated Net".to_owned()),
            ("ShortName", "EmuNet".to_owned()),
            ("Numeric", "00101".to_owned()),
        ]),
        ("/api/monitoring/check-notifications", false) => {
            let unread = s.snapshot.inbox.values().filter(|m| m.status == 0).count();
            response(&[
                ("UnreadMessage", unread.to_string()),
                (
                    "SmsStorageFull",
                    u32::from(s.used() >= s.config.local_max).to_string(),
                ),
            ])
        }
        ("/api/sms/sms-count", false) => {
            let unread = s.snapshot.inbox.values().filter(|m| m.status == 0).count();
            response(&[
                ("LocalUnread", unread.to_string()),
                ("LocalInbox", s.snapshot.inbox.len().to_string()),
                ("LocalOutbox", s.snapshot.sent_box.len().to_string()),
                ("LocalDraft", "0".to_owned()),
                ("LocalMax", s.config.local_max.to_string()),
                ("SimMax", "0".to_owned()),
                ("NewMsg", unread.to_string()),
            ])
        }
        ("/api/sms/config", false) => {
            let mut fields: Vec<(&str, String)> = s
                .sms_config
                .iter()
                .map(|(name, value)| (name.as_str(), value.clone()))
                .collect();
            fields.push(("pagesize", "20".to_owned()));
            fields.push(("maxphone", "50".to_owned()));
            response(&fields)
        }
        ("/api/sms/config", true) => {
            let Some(request) = &request else {
                return Reply::Error(100_005);
            };
            for (name, value) in s.sms_config.iter_mut() {
                if let Some(given) = request.value(name) {
                    *value = given.trim().to_owned();
                }
            }
            s.snapshot.use_s_report = s.sms_config["UseSReport"] == "1";
            ok()
        }
        ("/api/sms/send-status", false) => response(&[
            ("Phone", s.status.0.clone()),
            ("SucPhone", s.status.1.clone()),
            ("FailPhone", s.status.2.clone()),
            ("TotalCount", u32::from(!s.status.0.is_empty()).to_string()),
            ("CurIndex", "0".to_owned()),
        ]),
        ("/api/sms/send-sms", true) => {
            if s.sending.is_some() {
                return Reply::Error(api::ERROR_SMS_BUSY);
            }
            let Some(request) = &request else {
                return Reply::Error(100_005);
            };
            let phone = request
                .child("Phones")
                .and_then(|p| p.value("Phone"))
                .unwrap_or("")
                .to_owned();
            let mut content = request.value("Content").unwrap_or("").to_owned();
            if s.config.mangle_non_bmp {
                content = content
                    .chars()
                    .map(|c| if u32::from(c) > 0xFFFF { '?' } else { c })
                    .collect();
            }
            if phone.is_empty() {
                return Reply::Error(114_001);
            }
            s.snapshot.send_requests.push(now);
            s.sending = Some(Sending {
                phone: phone.clone(),
                content,
                done_at: now + s.config.send_time,
            });
            s.status = (phone, String::new(), String::new());
            if std::mem::take(&mut s.faults.lose_send_answer) {
                return Reply::Lost;
            }
            ok()
        }
        ("/api/sms/sms-list", true) => {
            let page: usize = value("PageIndex").parse().unwrap_or(1).max(1);
            let count: usize = value("ReadCount")
                .parse::<usize>()
                .unwrap_or(20)
                .clamp(1, 50);
            let ascending = value("Ascending") == "1";
            let source = if value("BoxType") == "2" {
                &s.snapshot.sent_box
            } else {
                &s.snapshot.inbox
            };
            let mut indexes: Vec<u32> = source.keys().copied().collect();
            if !ascending {
                indexes.reverse();
            }
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><response>");
            let chosen: Vec<u32> = indexes
                .into_iter()
                .skip((page - 1) * count)
                .take(count)
                .collect();
            out.push_str(&format!("<Count>{}</Count><Messages>", chosen.len()));
            for index in chosen {
                let m = &source[&index];
                out.push_str(&format!(
                    "<Message><Smstat>{}</Smstat><Index>{index}</Index><Phone>{}</Phone><Content>{}</Content><Date>{}</Date><Sca></Sca><SaveType>4</SaveType><Priority>0</Priority><SmsType>{}</SmsType></Message>",
                    m.status,
                    xml::escape(&m.phone),
                    xml::escape(&m.content),
                    m.date,
                    m.sms_type
                ));
            }
            out.push_str("</Messages></response>");
            Reply::Xml(out)
        }
        ("/api/sms/delete-sms", true) => {
            let Ok(index) = value("Index").parse::<u32>() else {
                return Reply::Error(100_005);
            };
            let removed = s.snapshot.inbox.remove(&index).is_some()
                || s.snapshot.sent_box.remove(&index).is_some();
            if removed {
                ok()
            } else {
                Reply::Error(113_036)
            }
        }
        ("/api/sms/set-read", true) => {
            let Ok(index) = value("Index").parse::<u32>() else {
                return Reply::Error(100_005);
            };
            match s.snapshot.inbox.get_mut(&index) {
                Some(message) => {
                    message.status = 1;
                    ok()
                }
                None => Reply::Error(113_036),
            }
        }
        _ => Reply::Error(100_002),
    }
}
