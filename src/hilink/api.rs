//! The HiLink web API's documents and rules, pure: the requests simgate
//! writes, the answers it reads, what each error code means for the
//! caller, the login hash, and the signal figures in dBm.
//!
//! Every answer is either `<response>…</response>` or
//! `<error><code>N</code>…</error>`; [`answer`] tells them apart.

use super::xml::{self, Element, XmlError};
use crate::pdu::Timestamp;
use sha2::{Digest, Sha256};

/// The stick answered with an error code.
pub const ERROR_SYSTEM_BUSY: u32 = 100_004;
/// The request needs a login.
pub const ERROR_NO_RIGHTS: u32 = 100_003;
/// Login: wrong user name.
pub const ERROR_WRONG_USER: u32 = 108_001;
/// Login: wrong password.
pub const ERROR_WRONG_PASSWORD: u32 = 108_002;
/// Login: already logged in.
pub const ERROR_ALREADY_LOGGED_IN: u32 = 108_003;
/// Login: wrong user name or password.
pub const ERROR_WRONG_CREDENTIALS: u32 = 108_006;
/// Login: too many failures, locked for a while.
pub const ERROR_LOCKED_OUT: u32 = 108_007;
/// The verification token was wrong.
pub const ERROR_WRONG_TOKEN: u32 = 125_001;
/// The session is not (or no longer) valid.
pub const ERROR_WRONG_SESSION: u32 = 125_002;
/// The session and token do not belong together.
pub const ERROR_WRONG_SESSION_TOKEN: u32 = 125_003;
/// SMS: the stick is busy sending.
pub const ERROR_SMS_BUSY: u32 = 113_018;

/// What an error code asks the caller to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Get a new session and token, then try once more.
    NewSession,
    /// Log in, then try once more.
    LogIn,
    /// Wait a little and try again.
    Busy,
    /// The password is wrong: do not try it again until it changes.
    BadCredentials,
    /// Too many failed logins: wait before any further attempt.
    LockedOut,
    /// Anything else: the request failed for its own reasons.
    Other,
}

/// What `code` asks the caller to do.
pub fn classify(code: u32) -> ErrorClass {
    match code {
        ERROR_WRONG_TOKEN | ERROR_WRONG_SESSION | ERROR_WRONG_SESSION_TOKEN => {
            ErrorClass::NewSession
        }
        ERROR_NO_RIGHTS => ErrorClass::LogIn,
        ERROR_SYSTEM_BUSY | ERROR_SMS_BUSY => ErrorClass::Busy,
        ERROR_WRONG_USER | ERROR_WRONG_PASSWORD | ERROR_WRONG_CREDENTIALS => {
            ErrorClass::BadCredentials
        }
        ERROR_LOCKED_OUT => ErrorClass::LockedOut,
        _ => ErrorClass::Other,
    }
}

/// Why an answer is not a usable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// `<error><code>N</code>`.
    #[error("the stick answered error {0}")]
    Code(u32),
    /// Not the XML expected.
    #[error("{0}")]
    Xml(#[from] XmlError),
    /// XML, but neither a response nor an error.
    #[error("the stick answered <{0}>, not <response>")]
    Unexpected(String),
    /// A response without a field it must have.
    #[error("the stick's answer lacks <{0}>")]
    Missing(&'static str),
}

/// The `<response>` of an answer, or the error it carries.
pub fn answer(body: &str) -> Result<Element, AnswerError> {
    let root = xml::parse(body)?;
    match root.name.as_str() {
        "response" => Ok(root),
        "error" => {
            let code = root
                .value("code")
                .and_then(|c| c.trim().parse().ok())
                .ok_or(AnswerError::Missing("code"))?;
            Err(AnswerError::Code(code))
        }
        other => Err(AnswerError::Unexpected(other.to_owned())),
    }
}

/// Whether a response to a POST is the plain `OK`.
pub fn is_ok(response: &Element) -> bool {
    response.text.trim() == "OK"
}

fn number<T: std::str::FromStr>(element: &Element, name: &'static str) -> Result<T, AnswerError> {
    element
        .value(name)
        .and_then(|v| v.trim().parse().ok())
        .ok_or(AnswerError::Missing(name))
}

/// A session: the cookie to send and the first verification token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionToken {
    /// `SessionID=…`, as the `Cookie` header takes it.
    pub cookie: String,
    /// The token for the next POST.
    pub token: String,
}

/// Reads `/api/webserver/SesTokInfo`.
pub fn session_token(response: &Element) -> Result<SessionToken, AnswerError> {
    let cookie = response
        .value("SesInfo")
        .ok_or(AnswerError::Missing("SesInfo"))?
        .trim()
        .to_owned();
    let token = response
        .value("TokInfo")
        .ok_or(AnswerError::Missing("TokInfo"))?
        .trim()
        .to_owned();
    Ok(SessionToken { cookie, token })
}

/// The tokens a response header carries: one, or several joined by `#`
/// (after a login the firmware hands out a batch).
pub fn header_tokens(value: &str) -> Vec<String> {
    value
        .split('#')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn sha256_hex(data: &str) -> String {
    Sha256::digest(data.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `<Password>` of a login: password_type 4 hashes the user name, the
/// password and the session's token (base64 of the hex SHA-256 of
/// `user + crate::base64::encode(hex SHA-256 of password) + token`); type 0 (and 3) send
/// the password in base64.
pub fn login_password(password_type: u32, user: &str, password: &str, token: &str) -> String {
    if password_type == 4 {
        let inner = crate::base64::encode(sha256_hex(password).as_bytes());
        crate::base64::encode(sha256_hex(&format!("{user}{inner}{token}")).as_bytes())
    } else {
        crate::base64::encode(password.as_bytes())
    }
}

/// `/api/user/state-login`: whether a login is needed and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginState {
    /// Logged in already (State 0).
    pub logged_in: bool,
    /// The hash the firmware wants (4, or 0).
    pub password_type: u32,
}

/// Reads `/api/user/state-login`.
pub fn login_state(response: &Element) -> Result<LoginState, AnswerError> {
    let state: i32 = number(response, "State")?;
    let password_type = response
        .value("password_type")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(LoginState {
        logged_in: state == 0,
        password_type,
    })
}

/// The `/api/user/login` request.
pub fn login_request(password_type: u32, user: &str, password: &str, token: &str) -> String {
    let hashed = login_password(password_type, user, password, token);
    xml::document(
        "request",
        &[
            ("Username", user),
            ("Password", &hashed),
            ("password_type", &password_type.to_string()),
        ],
    )
}

/// A local date as the stick writes it: `YYYY-MM-DD HH:MM:SS`.
pub fn format_date(stamp: &Timestamp) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second
    )
}

/// Reads `YYYY-MM-DD HH:MM:SS` (the stick's clock, zone unknown: taken as
/// UTC+0). `None` when it is no date.
pub fn parse_date(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let (date, time) = text.split_once(' ')?;
    let mut d = date.split('-').map(|p| p.parse::<u16>().ok());
    let mut t = time.split(':').map(|p| p.parse::<u8>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let (hour, minute, second) = (t.next()??, t.next()??, t.next()??);
    let stamp = Timestamp {
        year,
        month: u8::try_from(month).ok()?,
        day: u8::try_from(day).ok()?,
        hour,
        minute,
        second,
        tz_quarters: 0,
    };
    let valid = crate::calendar::is_date(stamp.year, stamp.month, stamp.day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then_some(stamp)
}

/// The `/api/sms/send-sms` request: one text to one number. `Length` is
/// the text's length in characters as the web UI counts them (UTF-16
/// code units).
pub fn send_request(phone: &str, text: &str, date: &str) -> String {
    let length = text.encode_utf16().count().to_string();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><request>");
    out.push_str("<Index>-1</Index><Phones><Phone>");
    out.push_str(&xml::escape(phone));
    out.push_str("</Phone></Phones><Sca></Sca><Content>");
    out.push_str(&xml::escape(text));
    out.push_str("</Content><Length>");
    out.push_str(&length);
    out.push_str("</Length><Reserved>1</Reserved><Date>");
    out.push_str(&xml::escape(date));
    out.push_str("</Date></request>");
    out
}

/// Where a send stands, from `/api/sms/send-status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendState {
    /// Still going.
    Pending,
    /// Sent to the number.
    Sent,
    /// The stick says it failed.
    Failed,
}

/// Reads `/api/sms/send-status` for a send to `phone`: sent when the number
/// is among `SucPhone`, failed when among `FailPhone`, otherwise pending
/// (the stick clears `Phone` and fills one of the two when it is done).
pub fn send_state(response: &Element, phone: &str) -> SendState {
    let listed = |field: &str| {
        response
            .value(field)
            .is_some_and(|v| v.split([';', ',']).any(|p| same_number(p, phone)))
    };
    if listed("SucPhone") {
        SendState::Sent
    } else if listed("FailPhone") {
        SendState::Failed
    } else {
        SendState::Pending
    }
}

/// Whether two numbers are the same, ignoring spaces and dashes.
pub fn same_number(a: &str, b: &str) -> bool {
    let digits = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
    };
    let (a, b) = (digits(a), digits(b));
    !a.is_empty() && a == b
}

/// `/api/sms/sms-count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SmsCount {
    /// Messages in the stick's inbox.
    pub inbox: u32,
    /// Messages in its sent box.
    pub outbox: u32,
    /// Drafts.
    pub drafts: u32,
    /// Unread in the inbox.
    pub unread: u32,
    /// How many it can keep in all (`LocalMax`; 500 when it does not say).
    pub max: u32,
}

impl SmsCount {
    /// Messages stored in all.
    pub fn used(&self) -> u32 {
        self.inbox + self.outbox + self.drafts
    }
}

/// Reads `/api/sms/sms-count`.
pub fn sms_count(response: &Element) -> Result<SmsCount, AnswerError> {
    let optional = |name: &str| {
        response
            .value(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(SmsCount {
        inbox: number(response, "LocalInbox")?,
        outbox: optional("LocalOutbox"),
        drafts: optional("LocalDraft"),
        unread: optional("LocalUnread"),
        max: response
            .value("LocalMax")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(500),
    })
}

/// The boxes of the message list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Box {
    /// Received messages.
    Inbox = 1,
    /// Sent messages.
    Sent = 2,
}

/// How many messages one list request asks for (the firmware's most).
pub const PAGE_SIZE: u32 = 50;

/// The `/api/sms/sms-list` request for one page (1-based), oldest first
/// when `oldest_first`.
pub fn list_request(box_type: Box, page: u32, count: u32, oldest_first: bool) -> String {
    xml::document(
        "request",
        &[
            ("PageIndex", &page.to_string()),
            ("ReadCount", &count.to_string()),
            ("BoxType", &(box_type as u8).to_string()),
            ("SortType", "0"),
            ("Ascending", if oldest_first { "1" } else { "0" }),
            ("UnreadPreferred", "0"),
        ],
    )
}

/// One message of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its index on the stick (what delete and set-read take).
    pub index: u32,
    /// The other party.
    pub phone: String,
    /// The text.
    pub content: String,
    /// The stick's `YYYY-MM-DD HH:MM:SS`.
    pub date: String,
    /// 0 unread, 1 read, 2 unsent, 3 sent.
    pub status: u32,
    /// What it is (`SmsType`): 1 a single message, 2 a long one, 5
    /// Unicode, and in the inbox [`SMS_TYPE_DELIVERED`] or
    /// [`SMS_TYPE_NOT_DELIVERED`] for a delivery report.
    pub sms_type: u32,
}

/// The `SmsType` of a delivery report saying the message was delivered.
pub const SMS_TYPE_DELIVERED: u32 = 7;
/// The `SmsType` of a delivery report saying it was not.
pub const SMS_TYPE_NOT_DELIVERED: u32 = 8;

impl Message {
    /// For a delivery report, whether it says delivered; `None` for a
    /// message.
    pub fn report_outcome(&self) -> Option<bool> {
        match self.sms_type {
            SMS_TYPE_DELIVERED => Some(true),
            SMS_TYPE_NOT_DELIVERED => Some(false),
            _ => None,
        }
    }
}

/// Reads one page of `/api/sms/sms-list`. A message without an index
/// cannot be deleted and is an error (nothing is skipped silently).
pub fn message_list(response: &Element) -> Result<Vec<Message>, AnswerError> {
    let Some(messages) = response.child("Messages") else {
        return Ok(Vec::new());
    };
    messages
        .all("Message")
        .map(|m| {
            Ok(Message {
                index: number(m, "Index")?,
                phone: m.value("Phone").unwrap_or("").trim().to_owned(),
                content: m.value("Content").unwrap_or("").to_owned(),
                date: m.value("Date").unwrap_or("").trim().to_owned(),
                status: m
                    .value("Smstat")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0),
                sms_type: m
                    .value("SmsType")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(1),
            })
        })
        .collect()
}

/// The settings `/api/sms/config` takes back, with the value each has when
/// the stick does not say: where messages are kept, their validity, the
/// SMSC, delivery reports, whether sent messages are kept, priority.
const SMS_CONFIG_FIELDS: [(&str, &str); 6] = [
    ("SaveMode", "0"),
    ("Validity", "10752"),
    ("Sca", ""),
    ("UseSReport", "0"),
    ("SendType", "1"),
    ("Priority", "0"),
];

/// Whether `/api/sms/config` says delivery reports are asked for
/// (`UseSReport`); `None` when it does not say.
pub fn reports_asked(config: &Element) -> Option<bool> {
    match config.value("UseSReport").map(str::trim) {
        Some("1") => Some(true),
        Some("0") => Some(false),
        _ => None,
    }
}

/// The `/api/sms/config` request that asks for delivery reports or not,
/// every other setting as the stick gave it in `current`.
pub fn report_config_request(current: &Element, reports: bool) -> String {
    let fields: Vec<(&str, &str)> = SMS_CONFIG_FIELDS
        .iter()
        .map(|&(name, default)| match name {
            "UseSReport" => (name, if reports { "1" } else { "0" }),
            _ => (name, current.value(name).map_or(default, str::trim)),
        })
        .collect();
    xml::document("request", &fields)
}

/// The request naming one message (delete-sms, set-read).
pub fn index_request(index: u32) -> String {
    xml::document("request", &[("Index", &index.to_string())])
}

/// A signal figure such as `-95dBm`, `>=-51dBm`, `9dB` or `-11.5dB`, in
/// whole units (rounded towards zero); `None` when empty or unreadable.
pub fn signal_value(text: &str) -> Option<i32> {
    let digits = text
        .trim()
        .trim_start_matches(['>', '<', '='])
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .trim();
    if let Ok(value) = digits.parse::<i32>() {
        return Some(value);
    }
    digits.parse::<f64>().ok().map(|v| v.trunc() as i32)
}

/// `/api/device/signal`, in dBm and dB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Signal {
    /// RSSI, dBm.
    pub rssi: Option<i32>,
    /// RSRP (LTE), dBm.
    pub rsrp: Option<i32>,
    /// RSRQ (LTE), dB.
    pub rsrq: Option<i32>,
    /// SINR (LTE), dB.
    pub sinr: Option<i32>,
}

/// Reads `/api/device/signal`.
pub fn signal(response: &Element) -> Signal {
    let read = |name: &str| response.value(name).and_then(signal_value);
    Signal {
        rssi: read("rssi"),
        rsrp: read("rsrp"),
        rsrq: read("rsrq"),
        sinr: read("sinr"),
    }
}

impl Signal {
    /// The received signal in dBm: RSSI where given, as `AT+CSQ` reports
    /// it for an AT modem.
    pub fn dbm(&self) -> Option<i32> {
        self.rssi
    }

    /// The signal as a percentage: RSSI from -113 dBm (0 %) to -51 dBm
    /// (100 %), the range `AT+CSQ` spans; RSRP from -140 to -44 dBm when
    /// only that is given.
    pub fn percent(&self) -> Option<u8> {
        let scale = |value: i32, low: i32, high: i32| {
            let clamped = value.clamp(low, high);
            ((clamped - low) * 100 / (high - low)) as u8
        };
        match (self.rssi, self.rsrp) {
            (Some(rssi), _) => Some(scale(rssi, -113, -51)),
            (None, Some(rsrp)) => Some(scale(rsrp, -140, -44)),
            (None, None) => None,
        }
    }
}

/// What `/api/monitoring/status` says of SIM and network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// `SimStatus` 1: a SIM is present and usable.
    pub sim_ready: Option<bool>,
    /// `ServiceStatus` 2: the network offers service.
    pub registered: Option<bool>,
}

/// Reads `/api/monitoring/status`.
pub fn status(response: &Element) -> Status {
    let read = |name: &str| {
        response
            .value(name)
            .and_then(|v| v.trim().parse::<u32>().ok())
    };
    Status {
        sim_ready: read("SimStatus").map(|s| s == 1),
        registered: read("ServiceStatus").map(|s| s == 2),
    }
}

/// What `/api/device/information` says of the stick.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Information {
    /// `DeviceName`, such as `E3372h-153`.
    pub model: String,
    /// `SoftwareVersion`.
    pub firmware: String,
    /// `Imei`.
    pub imei: Option<String>,
}

/// Reads `/api/device/information`.
pub fn information(response: &Element) -> Information {
    let read = |name: &str| response.value(name).unwrap_or("").trim().to_owned();
    let imei = read("Imei");
    Information {
        model: read("DeviceName"),
        firmware: read("SoftwareVersion"),
        imei: (!imei.is_empty()).then_some(imei),
    }
}

/// The operator's name from `/api/net/current-plmn` (`FullName`, else
/// `ShortName`, else `Numeric`).
pub fn operator(response: &Element) -> Option<String> {
    ["FullName", "ShortName", "Numeric"]
        .iter()
        .filter_map(|n| response.value(n))
        .map(str::trim)
        .find(|v| !v.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_responses_are_told_apart() {
        let error = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><error><code>125002</code><message></message></error>";
        assert_eq!(answer(error), Err(AnswerError::Code(125_002)));
        assert_eq!(classify(125_002), ErrorClass::NewSession);
        assert_eq!(classify(125_003), ErrorClass::NewSession);
        assert_eq!(classify(100_003), ErrorClass::LogIn);
        assert_eq!(classify(100_004), ErrorClass::Busy);
        assert_eq!(classify(108_007), ErrorClass::LockedOut);
        assert_eq!(classify(108_006), ErrorClass::BadCredentials);
        assert_eq!(classify(114_001), ErrorClass::Other);
        let ok = answer("<response>OK</response>").unwrap();
        assert!(is_ok(&ok));
        assert!(matches!(
            answer("<html><body>Internal Server Error</body></html>"),
            Err(AnswerError::Unexpected(_))
        ));
    }

    #[test]
    fn the_login_hash_matches_an_independently_computed_vector() {
        // Computed with coreutils:
        //   inner=$(printf %s secret | sha256sum | cut -c1-64 | tr -d '\n' | base64 -w0)
        //   printf %s "admin${inner}TOKEN123" | sha256sum | cut -c1-64 | tr -d '\n' | base64 -w0
        assert_eq!(
            login_password(4, "admin", "secret", "TOKEN123"),
            "M2U0ZjQxZWZmNDQzYzcwODE3ZWY2MGFhOWVkOWJiNDM4MDc2YmRmMDVmM2M4Mzc2NWY2NGFjNzA1YzFlNjFiOQ=="
        );
        assert_eq!(login_password(0, "admin", "secret", "x"), "c2VjcmV0");
    }

    #[test]
    fn session_and_header_tokens() {
        let response =
            answer("<response><SesInfo>SessionID=abc123</SesInfo><TokInfo>t0</TokInfo></response>")
                .unwrap();
        let session = session_token(&response).unwrap();
        assert_eq!(session.cookie, "SessionID=abc123");
        assert_eq!(session.token, "t0");
        assert_eq!(header_tokens("a#b#"), vec!["a", "b"]);
        assert_eq!(header_tokens(" t1 "), vec!["t1"]);
    }

    #[test]
    fn signal_figures_in_dbm_and_percent() {
        assert_eq!(signal_value("-95dBm"), Some(-95));
        assert_eq!(signal_value(">=-51dBm"), Some(-51));
        assert_eq!(signal_value("<=-113dBm"), Some(-113));
        assert_eq!(signal_value("9dB"), Some(9));
        assert_eq!(signal_value("-11.5dB"), Some(-11));
        assert_eq!(signal_value(""), None);
        assert_eq!(signal_value("unknown"), None);
        let s = signal(
            &answer("<response><rssi>-67dBm</rssi><rsrp>-95dBm</rsrp><rsrq>-11dB</rsrq><sinr>9dB</sinr></response>")
                .unwrap(),
        );
        assert_eq!(
            s,
            Signal {
                rssi: Some(-67),
                rsrp: Some(-95),
                rsrq: Some(-11),
                sinr: Some(9)
            }
        );
        assert_eq!(s.dbm(), Some(-67));
        assert_eq!(s.percent(), Some(74)); // (-67 + 113) * 100 / 62
        let lte_only = Signal {
            rsrp: Some(-140),
            ..Signal::default()
        };
        assert_eq!(lte_only.percent(), Some(0));
        assert_eq!(
            Signal {
                rssi: Some(-40),
                ..Signal::default()
            }
            .percent(),
            Some(100)
        );
    }

    #[test]
    fn send_status_per_recipient() {
        let pending = answer("<response><Phone>+4915112345678</Phone><SucPhone></SucPhone><FailPhone></FailPhone><TotalCount>1</TotalCount><CurIndex>0</CurIndex></response>").unwrap();
        assert_eq!(send_state(&pending, "+4915112345678"), SendState::Pending);
        let sent = answer("<response><Phone></Phone><SucPhone>+4915112345678</SucPhone><FailPhone></FailPhone></response>").unwrap();
        assert_eq!(send_state(&sent, "+4915112345678"), SendState::Sent);
        let failed = answer("<response><Phone></Phone><SucPhone></SucPhone><FailPhone>+49 151 12345678</FailPhone></response>").unwrap();
        assert_eq!(send_state(&failed, "+4915112345678"), SendState::Failed);
    }

    #[test]
    fn counts_lists_and_dates() {
        let count = sms_count(&answer("<response><LocalUnread>1</LocalUnread><LocalInbox>3</LocalInbox><LocalOutbox>2</LocalOutbox><LocalDraft>0</LocalDraft><LocalMax>500</LocalMax></response>").unwrap()).unwrap();
        assert_eq!(count.inbox, 3);
        assert_eq!(count.used(), 5);
        assert_eq!(count.max, 500);
        let list = message_list(&answer("<response><Count>1</Count><Messages><Message><Smstat>0</Smstat><Index>40001</Index><Phone>+491</Phone><Content>hi &amp; bye</Content><Date>2024-02-29 23:59:58</Date></Message></Messages></response>").unwrap()).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].index, 40001);
        assert_eq!(list[0].content, "hi & bye");
        assert_eq!(list[0].report_outcome(), None, "no SmsType: a message");
        let date = parse_date(&list[0].date).unwrap();
        assert_eq!((date.year, date.month, date.day), (2024, 2, 29));
        assert_eq!(format_date(&date), "2024-02-29 23:59:58");
        assert_eq!(parse_date("2023-02-29 10:00:00"), None);
        assert_eq!(parse_date("yesterday"), None);
        assert!(message_list(
            &answer(
                "<response><Messages><Message><Phone>1</Phone></Message></Messages></response>"
            )
            .unwrap()
        )
        .is_err());
    }

    #[test]
    fn the_send_request_counts_utf16_units_and_escapes() {
        let request = send_request("+491", "a<b 😀", "2024-01-01 00:00:00");
        let root = xml::parse(&request).unwrap();
        assert_eq!(root.child("Phones").unwrap().value("Phone"), Some("+491"));
        assert_eq!(root.value("Content"), Some("a<b 😀"));
        assert_eq!(root.value("Length"), Some("6"));
    }

    #[test]
    fn reports_are_told_from_messages_and_asked_for_in_the_config() {
        let list = message_list(&answer("<response><Messages><Message><Smstat>0</Smstat><Index>40003</Index><Phone>+491</Phone><Content></Content><Date>2024-02-29 23:59:58</Date><SmsType>7</SmsType></Message><Message><Index>40004</Index><Phone>+491</Phone><SmsType>8</SmsType></Message><Message><Index>40005</Index><Phone>+491</Phone><SmsType>2</SmsType></Message></Messages></response>").unwrap()).unwrap();
        let outcomes: Vec<Option<bool>> = list.iter().map(Message::report_outcome).collect();
        assert_eq!(outcomes, vec![Some(true), Some(false), None]);

        let current = answer("<response><SaveMode>3</SaveMode><Validity>255</Validity><Sca>+49171076000</Sca><UseSReport>0</UseSReport><SendType>1</SendType><Priority>0</Priority><pagesize>20</pagesize></response>").unwrap();
        assert_eq!(reports_asked(&current), Some(false));
        let request = xml::parse(&report_config_request(&current, true)).unwrap();
        assert_eq!(reports_asked(&request), Some(true));
        assert_eq!(request.value("SaveMode"), Some("3"));
        assert_eq!(request.value("Validity"), Some("255"));
        assert_eq!(request.value("Sca"), Some("+49171076000"));
        assert_eq!(
            request.value("pagesize"),
            None,
            "only what the request takes"
        );
        let bare = answer("<response><UseSReport>x</UseSReport></response>").unwrap();
        assert_eq!(reports_asked(&bare), None);
        let request = xml::parse(&report_config_request(&bare, false)).unwrap();
        assert_eq!(request.value("Validity"), Some("10752"));
        assert_eq!(request.value("UseSReport"), Some("0"));
    }
}
