//! The ZTE `goform` web API's requests and answers, pure: the form
//! encoding, the UCS-2 hex message bodies, the firmware's time stamps,
//! the message lists, the storage figures, the command status, the login
//! answers and password encodings, and the signal figures.
//!
//! Every read is a GET of [`GET_PATH`] with `cmd=` one field (or several,
//! comma-separated, with `multi_data=1`); every action a form POST to
//! [`SET_PATH`] with `goformId=`. Answers are flat JSON objects whose
//! values are strings. The firmware refuses requests without a `Referer`
//! of its own web page ([`referer`]).
//!
//! Two firmware generations are known from the sticks' own web pages:
//! the MF823 family sends the login password in base64; later firmware
//! (`WEB_ATTR_IF_SUPPORT_SHA256 = 2`) hands out a salt (`LD`) and wants
//! the upper-case hex SHA-256 of the upper-case hex SHA-256 of the
//! password followed by that salt ([`login_password`]). The same later
//! firmware also signs each POST with an `AD` field derived from its
//! version strings; simgate does not send it, so those sticks may refuse
//! actions (the MF823 family does not ask for it).

use crate::pdu::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Where every read goes.
pub const GET_PATH: &str = "/goform/goform_get_cmd_process";
/// Where every action goes.
pub const SET_PATH: &str = "/goform/goform_set_cmd_process";

/// `sms_cmd` of the send command, for `sms_cmd_status_info`.
pub const CMD_SEND: u32 = 4;
/// `sms_cmd` of the delete command.
pub const CMD_DELETE: u32 = 6;

/// Messages asked for per page of `sms_data_total`.
pub const PAGE_SIZE: u32 = 50;

/// The `Referer` the firmware wants: its own web page.
pub fn referer(base: &str) -> String {
    format!("{}/index.html", base.trim_end_matches('/'))
}

fn unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~')
}

/// `application/x-www-form-urlencoded` of `pairs` (also used for queries).
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (n, (name, value)) in pairs.iter().enumerate() {
        if n > 0 {
            out.push('&');
        }
        for (i, part) in [name, value].into_iter().enumerate() {
            if i == 1 {
                out.push('=');
            }
            for byte in part.bytes() {
                if unreserved(byte) {
                    out.push(byte as char);
                } else if byte == b' ' {
                    out.push('+');
                } else {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
        }
    }
    out
}

/// Reads a form (or query): its pairs, in order, decoded. A broken
/// escape is kept as it came.
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    let decode = |part: &str| {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 3 <= bytes.len() => {
                    let digits = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    match u8::from_str_radix(digits, 16) {
                        Ok(byte) => {
                            out.push(byte);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                byte => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => (decode(name), decode(value)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// The query of a read of `fields` (several with `multi_data=1`), with
/// `extra` pairs after them.
pub fn get_query(fields: &[&str], extra: &[(&str, &str)]) -> String {
    let joined = fields.join(",");
    let mut pairs: Vec<(&str, &str)> = vec![("isTest", "false"), ("cmd", &joined)];
    if fields.len() > 1 {
        pairs.push(("multi_data", "1"));
    }
    pairs.extend_from_slice(extra);
    form(&pairs)
}

/// A text as the firmware's message body: each UTF-16 code unit as four
/// upper-case hex digits (characters outside the BMP as their surrogate
/// pair, which is how UCS-2 carries them to a phone).
pub fn encode_body(text: &str) -> String {
    text.encode_utf16()
        .map(|unit| format!("{unit:04X}"))
        .collect()
}

/// A message body back to text. `Err` says why it is none.
pub fn decode_body(hex: &str) -> Result<String, String> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(4) {
        return Err(format!(
            "a body of {} hex digits is not whole UTF-16 units",
            hex.len()
        ));
    }
    let units = (0..hex.len())
        .step_by(4)
        .map(|i| {
            hex.get(i..i + 4)
                .and_then(|unit| u16::from_str_radix(unit, 16).ok())
                .ok_or_else(|| format!("{:?} is not hex", hex.get(i..i + 4).unwrap_or("")))
        })
        .collect::<Result<Vec<u16>, String>>()?;
    String::from_utf16(&units).map_err(|e| format!("not UTF-16: {e}"))
}

/// How the firmware is told to send a text: in the GSM 7-bit alphabet
/// when every character is in it, else as UCS-2.
pub fn encode_type(text: &str) -> &'static str {
    if crate::pdu::gsm7::is_representable(text) {
        "GSM7_default"
    } else {
        "UNICODE"
    }
}

/// A time as the firmware's `sms_time`: `yy;MM;dd;HH;mm;ss;+H` (the zone
/// in hours, as the web page writes it).
pub fn format_time(stamp: &Timestamp) -> String {
    let hours = f64::from(stamp.tz_quarters) / 4.0;
    let zone = if hours.fract() == 0.0 {
        format!("{:+}", hours as i32)
    } else {
        format!("{hours:+}")
    };
    format!(
        "{:02};{:02};{:02};{:02};{:02};{:02};{zone}",
        stamp.year % 100,
        stamp.month,
        stamp.day,
        stamp.hour,
        stamp.minute,
        stamp.second
    )
}

/// Reads a message's `date`: `yy,MM,dd,HH,mm,ss,+Z` (commas or
/// semicolons), the zone in hours (`+8`, `+5.5`) or as `+HHMM`, or
/// missing (UTC). `None` when it is no date.
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let parts: Vec<&str> = text.trim().split([',', ';']).map(str::trim).collect();
    if parts.len() < 6 {
        return None;
    }
    let field = |i: usize| parts[i].parse::<u16>().ok();
    let year = field(0)?;
    let year = if year < 100 { 2000 + year } else { year };
    let small = |i: usize| field(i).and_then(|v| u8::try_from(v).ok());
    let (month, day, hour, minute, second) =
        (small(1)?, small(2)?, small(3)?, small(4)?, small(5)?);
    let tz_quarters = match parts.get(6).filter(|z| !z.is_empty()) {
        None => 0,
        Some(zone) => {
            let negative = zone.starts_with('-');
            let digits = zone.trim_start_matches(['+', '-']);
            let quarters = if digits.len() == 4 && !digits.contains('.') {
                let value: i32 = digits.parse().ok()?;
                (value / 100) * 4 + (value % 100) / 15
            } else {
                let hours: f64 = digits.parse().ok()?;
                (hours * 4.0).round() as i32
            };
            let quarters = i8::try_from(quarters).ok()?;
            if negative {
                -quarters
            } else {
                quarters
            }
        }
    };
    let stamp = Timestamp {
        year,
        month,
        day,
        hour,
        minute,
        second,
        tz_quarters,
    };
    let valid =
        crate::calendar::is_date(year, month, day) && hour < 24 && minute < 60 && second < 60;
    valid.then_some(stamp)
}

/// Why an answer is not what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON without a field it must have (or with it empty: the firmware
    /// answers empty values to a session that is not logged in).
    #[error("the stick's answer lacks {0:?}")]
    Missing(&'static str),
}

/// Reads an answer.
pub fn answer(body: &str) -> Result<Value, AnswerError> {
    serde_json::from_str(body.trim()).map_err(|e| AnswerError::NotJson(e.to_string()))
}

/// A field of an answer, as text (numbers taken too).
pub fn text<'a>(answer: &'a Value, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    match answer.get(name)? {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        _ => None,
    }
}

fn number(answer: &Value, name: &'static str) -> Result<u32, AnswerError> {
    text(answer, name)
        .and_then(|v| v.trim().parse().ok())
        .ok_or(AnswerError::Missing(name))
}

/// Whether an action's answer is `{"result":"success"}`.
pub fn succeeded(answer: &Value) -> bool {
    text(answer, "result").is_some_and(|r| r == "success")
}

/// The form of a send: one text to one number, written at `time`.
pub fn send_form(phone: &str, text: &str, time: &str) -> String {
    let body = encode_body(text);
    form(&[
        ("isTest", "false"),
        ("goformId", "SEND_SMS"),
        ("notCallback", "true"),
        ("Number", phone),
        ("sms_time", time),
        ("MessageBody", &body),
        ("ID", "-1"),
        ("encode_type", encode_type(text)),
    ])
}

/// The form deleting the messages `ids`.
pub fn delete_form(ids: &[u32]) -> String {
    let list = id_list(ids);
    form(&[
        ("isTest", "false"),
        ("goformId", "DELETE_SMS"),
        ("msg_id", &list),
        ("notCallback", "true"),
    ])
}

/// The form marking the messages `ids` read.
pub fn read_form(ids: &[u32]) -> String {
    let list = id_list(ids);
    form(&[
        ("isTest", "false"),
        ("goformId", "SET_MSG_READ"),
        ("msg_id", &list),
        ("tag", "0"),
    ])
}

/// `1;2;3;`, as the firmware takes a list of messages.
fn id_list(ids: &[u32]) -> String {
    ids.iter().map(|id| format!("{id};")).collect()
}

/// Where a command (`sms_cmd_status_info`) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandState {
    /// Still going.
    Pending,
    /// Done (`3`).
    Done,
    /// Failed (`2`).
    Failed,
}

/// Reads `sms_cmd_status_info`.
pub fn command_state(answer: &Value) -> CommandState {
    match text(answer, "sms_cmd_status_result")
        .as_deref()
        .map(str::trim)
    {
        Some("3") => CommandState::Done,
        Some("2") => CommandState::Failed,
        _ => CommandState::Pending,
    }
}

/// The read of a command's state.
pub fn command_query(command: u32) -> String {
    let command = command.to_string();
    get_query(&["sms_cmd_status_info"], &[("sms_cmd", &command)])
}

/// Which messages a list asks for (`tags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tags {
    /// Every message (10): the inbox is those tagged received.
    All,
    /// Sent messages (2).
    Sent,
}

/// The read of one page (0-based) of the stick's own storage
/// (`mem_store=1`), oldest first when `oldest_first`.
pub fn list_query(tags: Tags, page: u32, per_page: u32, oldest_first: bool) -> String {
    let page = page.to_string();
    let per_page = per_page.to_string();
    let tags = match tags {
        Tags::All => "10",
        Tags::Sent => "2",
    };
    let order = if oldest_first {
        "order by id asc"
    } else {
        "order by id desc"
    };
    get_query(
        &["sms_data_total"],
        &[
            ("page", &page),
            ("data_per_page", &per_page),
            ("mem_store", "1"),
            ("tags", tags),
            ("order_by", order),
        ],
    )
}

/// The read of the delivery reports (newest first, one page).
pub fn reports_query(per_page: u32) -> String {
    let per_page = per_page.to_string();
    get_query(
        &["sms_status_rpt_data"],
        &[("page", "0"), ("data_per_page", &per_page)],
    )
}

/// One message of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its id (what delete and set-read take).
    pub id: u32,
    /// The other party.
    pub number: String,
    /// The body as it came (UCS-2 hex).
    pub body: String,
    /// 0 read, 1 unread (both received), 2 sent, 3 not sent, 4 draft.
    pub tag: u32,
    /// The firmware's `yy,MM,dd,HH,mm,ss,+Z`.
    pub date: String,
    /// Every part of a long message has arrived (`received_all_concat_sms`,
    /// true when the firmware does not say).
    pub complete: bool,
}

impl Message {
    /// Whether it was received (rather than sent or drafted).
    pub fn received(&self) -> bool {
        self.tag <= 1
    }
}

/// Reads a list (`sms_data_total`, `sms_status_rpt_data`). A message
/// without an id cannot be deleted and is an error (nothing is skipped
/// silently).
pub fn message_list(answer: &Value) -> Result<Vec<Message>, AnswerError> {
    let Some(messages) = answer.get("messages").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    messages
        .iter()
        .map(|m| {
            let field = |name: &str| {
                text(m, name)
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_default()
            };
            Ok(Message {
                id: number(m, "id")?,
                number: field("number"),
                body: field("content"),
                tag: field("tag").parse().unwrap_or(1),
                date: field("date"),
                complete: field("received_all_concat_sms") != "0",
            })
        })
        .collect()
}

/// `sms_capacity_info`: the stick's own storage (its SIM's is not used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capacity {
    /// Places in all.
    pub total: u32,
    /// Received messages held.
    pub received: u32,
    /// Sent messages held.
    pub sent: u32,
    /// Drafts held.
    pub drafts: u32,
}

impl Capacity {
    /// Places used.
    pub fn used(&self) -> u32 {
        self.received + self.sent + self.drafts
    }
}

/// Reads `sms_capacity_info`.
pub fn capacity(answer: &Value) -> Result<Capacity, AnswerError> {
    let optional = |name: &str| {
        text(answer, name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(Capacity {
        total: number(answer, "sms_nv_total")?,
        received: number(answer, "sms_nv_rev_total")?,
        sent: optional("sms_nv_send_total"),
        drafts: optional("sms_nv_draftbox_total"),
    })
}

/// What a login answer (`result`) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAnswer {
    /// Logged in (`0`, or `4`: already).
    Done,
    /// Someone else is logged in (`2`).
    OtherUser,
    /// Wrong password (`3`).
    BadPassword,
    /// Refused for another reason (`1`, `5`, anything else).
    Refused,
}

/// Reads a login answer.
pub fn login_answer(answer: &Value) -> LoginAnswer {
    match text(answer, "result").as_deref().map(str::trim) {
        Some("0" | "4") => LoginAnswer::Done,
        Some("2") => LoginAnswer::OtherUser,
        Some("3") => LoginAnswer::BadPassword,
        _ => LoginAnswer::Refused,
    }
}

fn sha256_upper_hex(data: &str) -> String {
    Sha256::digest(data.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// The `password` of a login: with a salt (`LD`, later firmware) the
/// upper-case hex SHA-256 of (upper-case hex SHA-256 of the password,
/// then the salt); without one (the MF823 family) the password in base64.
pub fn login_password(password: &str, salt: Option<&str>) -> String {
    match salt.map(str::trim).filter(|s| !s.is_empty()) {
        Some(salt) => sha256_upper_hex(&format!("{}{salt}", sha256_upper_hex(password))),
        None => crate::base64::encode(password.as_bytes()),
    }
}

/// The login form.
pub fn login_form(password: &str, salt: Option<&str>) -> String {
    let encoded = login_password(password, salt);
    form(&[
        ("isTest", "false"),
        ("goformId", "LOGIN"),
        ("password", &encoded),
    ])
}

/// The fields read before a login: the salt, and the lockout counters.
pub const LOGIN_FIELDS: [&str; 3] = ["LD", "psw_fail_num_str", "login_lock_time"];

/// What the stick says before a login.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoginInfo {
    /// The salt (later firmware), if any.
    pub salt: Option<String>,
    /// Attempts left before the lockout, where it says.
    pub attempts_left: Option<u32>,
    /// Seconds left of a lockout, where it says (0: none).
    pub locked_for: Option<u64>,
}

/// Reads the [`LOGIN_FIELDS`].
pub fn login_info(answer: &Value) -> LoginInfo {
    let parse = |name: &str| text(answer, name).and_then(|v| v.trim().parse::<i64>().ok());
    LoginInfo {
        salt: text(answer, "LD")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()),
        attempts_left: parse("psw_fail_num_str").and_then(|v| u32::try_from(v).ok()),
        locked_for: parse("login_lock_time").map(|v| u64::try_from(v).unwrap_or(0)),
    }
}

impl LoginInfo {
    /// Seconds logins stay locked, when they are.
    pub fn locked(&self) -> Option<u64> {
        match (self.attempts_left, self.locked_for) {
            (Some(0), Some(seconds)) if seconds > 0 => Some(seconds),
            (Some(0), _) => Some(300),
            _ => None,
        }
    }
}

/// The status fields simgate reads.
pub const STATUS_FIELDS: [&str; 9] = [
    "modem_main_state",
    "pin_status",
    "network_type",
    "sub_network_type",
    "network_provider",
    "signalbar",
    "rssi",
    "rscp",
    "lte_rsrp",
];

/// The identity fields simgate reads.
pub const IDENTITY_FIELDS: [&str; 4] = ["imei", "hw_version", "wa_inner_version", "cr_version"];

/// The SIM as `modem_main_state` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimState {
    /// Ready.
    Ready,
    /// No SIM.
    Missing,
    /// Waits for its PIN.
    Pin,
    /// Waits for its PUK.
    Puk,
    /// Still starting, or a state simgate does not know.
    Other,
}

/// The stick's state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    /// `modem_main_state` as it came.
    pub modem_state: String,
    /// Registered to a network (`None`: it does not say).
    pub registered: Option<bool>,
    /// The network's name.
    pub operator: Option<String>,
    /// The signal.
    pub signal: crate::hilink::api::Signal,
    /// The signal in bars (0 to 5).
    pub bars: Option<u8>,
}

impl Status {
    /// The SIM's state.
    pub fn sim(&self) -> SimState {
        match self.modem_state.trim() {
            "modem_init_complete" => SimState::Ready,
            "modem_sim_undetected" | "modem_undetected" | "modem_sim_destroy" => SimState::Missing,
            "modem_waitpin" => SimState::Pin,
            "modem_waitpuk" => SimState::Puk,
            _ => SimState::Other,
        }
    }
}

/// Reads the [`STATUS_FIELDS`]. The signal figures are plain dBm (RSCP,
/// on 3G, is taken as the received signal).
pub fn status(answer: &Value) -> Status {
    let value = |name: &str| {
        text(answer, name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let dbm = |name: &str| value(name).and_then(|v| crate::hilink::api::signal_value(&v));
    let network = value("sub_network_type").or_else(|| value("network_type"));
    let registered = network.map(|n| {
        let n = n.to_ascii_lowercase().replace(' ', "_");
        !(n.contains("no_service") || n.contains("limited_service") || n == "0")
    });
    Status {
        modem_state: value("modem_main_state").unwrap_or_default(),
        registered,
        operator: value("network_provider"),
        signal: crate::hilink::api::Signal {
            rssi: dbm("rssi").or_else(|| dbm("rscp")),
            rsrp: dbm("lte_rsrp"),
            ..Default::default()
        },
        bars: value("signalbar").and_then(|v| v.parse().ok()),
    }
}

/// Model, firmware and IMEI.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// The hardware version (the closest the API has to a model name).
    pub hardware: String,
    /// The firmware version.
    pub firmware: String,
    /// Its IMEI.
    pub imei: Option<String>,
}

/// Reads the [`IDENTITY_FIELDS`].
pub fn identity(answer: &Value) -> Identity {
    let value = |name: &str| {
        text(answer, name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let imei = value("imei");
    Identity {
        hardware: value("hw_version"),
        firmware: value("wa_inner_version"),
        imei: (!imei.is_empty()).then_some(imei),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_round_trip_and_escape_what_they_must() {
        let encoded = form(&[("a b", "x&y=z;"), ("MessageBody", "00480069")]);
        assert_eq!(encoded, "a+b=x%26y%3Dz%3B&MessageBody=00480069");
        assert_eq!(
            parse_form(&encoded),
            vec![
                ("a b".to_owned(), "x&y=z;".to_owned()),
                ("MessageBody".to_owned(), "00480069".to_owned())
            ]
        );
        assert_eq!(
            parse_form("x=%zz&y"),
            vec![
                ("x".to_owned(), "%zz".to_owned()),
                ("y".to_owned(), String::new())
            ]
        );
        assert_eq!(
            get_query(&["a", "b"], &[]),
            "isTest=false&cmd=a%2Cb&multi_data=1"
        );
    }

    #[test]
    fn bodies_are_utf16_units_in_hex() {
        assert_eq!(encode_body("Hi"), "00480069");
        assert_eq!(encode_body("ж😀"), "0436D83DDE00");
        for text in ["", "Grüße", "你好 😀 – ok"] {
            assert_eq!(decode_body(&encode_body(text)).unwrap(), text);
        }
        assert!(decode_body("004").is_err());
        assert!(decode_body("00G8").is_err());
        assert!(decode_body("D83D").is_err(), "a lone surrogate");
        assert_eq!(encode_type("Hello {}"), "GSM7_default");
        assert_eq!(encode_type("Привет"), "UNICODE");
    }

    #[test]
    fn times_as_the_firmware_writes_them() {
        let stamp = Timestamp {
            year: 2024,
            month: 3,
            day: 1,
            hour: 10,
            minute: 11,
            second: 12,
            tz_quarters: 8,
        };
        assert_eq!(format_time(&stamp), "24;03;01;10;11;12;+2");
        assert_eq!(parse_time("24,03,01,10,11,12,+2"), Some(stamp));
        assert_eq!(parse_time("24;03;01;10;11;12;+0200"), Some(stamp));
        let india = parse_time("25,09,29,07,42,56,+5.5").unwrap();
        assert_eq!(india.tz_quarters, 22);
        assert_eq!(format_time(&india), "25;09;29;07;42;56;+5.5");
        assert_eq!(parse_time("24,02,30,10,11,12,+8"), None);
        assert_eq!(parse_time("24,03,01"), None);
        assert_eq!(
            parse_time("24,03,01,10,11,12").map(|t| t.tz_quarters),
            Some(0)
        );
    }

    #[test]
    fn lists_capacity_and_command_states() {
        let list = answer(
            r#"{"messages":[{"id":"7","number":"+491511","content":"00480069","tag":"1","date":"24,03,01,10,11,12,+8","draft_group_id":"","received_all_concat_sms":"0"},
                {"id":"8","number":"+491512","content":"","tag":"2","date":""}]}"#,
        )
        .unwrap();
        let messages = message_list(&list).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(
            (messages[0].id, messages[0].received(), messages[0].complete),
            (7, true, false)
        );
        assert_eq!(
            (
                messages[1].tag,
                messages[1].received(),
                messages[1].complete
            ),
            (2, false, true)
        );
        assert!(message_list(&answer(r#"{"messages":[{"number":"1"}]}"#).unwrap()).is_err());
        assert!(message_list(&answer(r#"{"messages":[]}"#).unwrap())
            .unwrap()
            .is_empty());

        let full = answer(r#"{"sms_nv_total":"100","sms_nv_rev_total":"70","sms_nv_send_total":"12","sms_nv_draftbox_total":"0"}"#).unwrap();
        assert_eq!(capacity(&full).unwrap().used(), 82);
        let logged_out = answer(r#"{"sms_nv_total":"","sms_nv_rev_total":""}"#).unwrap();
        assert_eq!(
            capacity(&logged_out),
            Err(AnswerError::Missing("sms_nv_total"))
        );

        let state = |v: &str| {
            command_state(
                &answer(&format!(
                    r#"{{"sms_cmd":"4","sms_cmd_status_result":"{v}"}}"#
                ))
                .unwrap(),
            )
        };
        assert_eq!(state("3"), CommandState::Done);
        assert_eq!(state("2"), CommandState::Failed);
        assert_eq!(state("1"), CommandState::Pending);
    }

    #[test]
    fn logins_in_both_firmware_generations() {
        assert_eq!(login_password("admin", None), "YWRtaW4=");
        assert_eq!(login_password("admin", Some("")), "YWRtaW4=");
        let salted = login_password("admin", Some("ABC123"));
        assert_eq!(salted.len(), 64);
        assert_eq!(
            salted,
            sha256_upper_hex(&format!("{}ABC123", sha256_upper_hex("admin")))
        );
        assert!(salted
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        let result = |v: &str| login_answer(&answer(&format!(r#"{{"result":"{v}"}}"#)).unwrap());
        assert_eq!(result("0"), LoginAnswer::Done);
        assert_eq!(result("4"), LoginAnswer::Done);
        assert_eq!(result("3"), LoginAnswer::BadPassword);
        assert_eq!(result("2"), LoginAnswer::OtherUser);
        assert_eq!(result("1"), LoginAnswer::Refused);
        let locked = login_info(
            &answer(r#"{"LD":"","psw_fail_num_str":"0","login_lock_time":"120"}"#).unwrap(),
        );
        assert_eq!((locked.salt.as_deref(), locked.locked()), (None, Some(120)));
        let open = login_info(
            &answer(r#"{"LD":"XY","psw_fail_num_str":"5","login_lock_time":"-1"}"#).unwrap(),
        );
        assert_eq!((open.salt.as_deref(), open.locked()), (Some("XY"), None));
    }

    #[test]
    fn status_signal_and_sim() {
        let lte = status(&answer(r#"{"modem_main_state":"modem_init_complete","network_type":"LTE","sub_network_type":"","network_provider":"Emu","signalbar":"4","rssi":"","rscp":"","lte_rsrp":"-95"}"#).unwrap());
        assert_eq!(lte.sim(), SimState::Ready);
        assert_eq!(lte.registered, Some(true));
        assert_eq!(lte.signal.dbm(), None);
        assert_eq!(lte.signal.percent(), Some(46));
        let umts = status(&answer(r#"{"modem_main_state":"modem_waitpin","network_type":"NO_SERVICE","rssi":"","rscp":"-80"}"#).unwrap());
        assert_eq!(umts.sim(), SimState::Pin);
        assert_eq!(umts.registered, Some(false));
        assert_eq!(umts.signal.dbm(), Some(-80));
        let none = status(&answer("{}").unwrap());
        assert_eq!(
            (none.registered, none.operator.clone(), none.sim()),
            (None, None, SimState::Other)
        );
    }
}
