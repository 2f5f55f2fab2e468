//! The app's Local Server API, pure: what simgate posts and reads, the
//! states a message goes through, the webhook events, and the check of a
//! webhook's signature.
//!
//! Facts this relies on (from the app's source): `POST /message` takes a
//! client-chosen `id` and answers 202 with the message's state, or 409
//! when a message with that id already exists; `GET /message/{id}`
//! answers its state and each recipient's (404 when unknown); `POST
//! /webhooks` with an `id` replaces the registration of that id; the app
//! signs each webhook with HMAC-SHA256 over the body followed by the
//! decimal Unix time it puts in `X-Timestamp`, hex in `X-Signature`, and
//! retries a webhook until it is answered 2xx (15 times by default).

use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The path messages are posted to and read from.
pub const MESSAGE_PATH: &str = "/message";
/// The path webhooks are registered at.
pub const WEBHOOKS_PATH: &str = "/webhooks";
/// The header with the webhook's signature (hex).
pub const SIGNATURE_HEADER: &str = "x-signature";
/// The header with the webhook's time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-timestamp";
/// How far a webhook's time may be from simgate's clock before it is
/// refused as stale (or from the future): the app retries for longer, but
/// each retry is signed afresh.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// The events simgate registers for, each under an id of its own so a
/// registration at start replaces the one of the run before.
pub const EVENTS: [&str; 4] = ["sms:received", "sms:sent", "sms:delivered", "sms:failed"];

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    /// simgate's id for it (see `crate::device::android::message_id`).
    pub id: String,
    /// Its text.
    pub text_message: TextMessage,
    /// Its one recipient.
    pub phone_numbers: Vec<String>,
    /// Ask the network for a delivery report.
    pub with_delivery_report: bool,
}

/// A text message's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextMessage {
    /// The whole text; the phone splits it.
    pub text: String,
}

/// Where a message stands on the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcessState {
    /// Taken, not yet handed to the radio.
    Pending,
    /// Handed to the radio.
    Processed,
    /// The network took it.
    Sent,
    /// The recipient got it.
    Delivered,
    /// It did not go out, or was not delivered.
    Failed,
    /// A state this simgate does not know (a newer app).
    #[serde(other)]
    Unknown,
}

impl ProcessState {
    /// Whether the network has taken the message.
    pub fn went_out(self) -> bool {
        matches!(self, Self::Sent | Self::Delivered)
    }
}

/// One recipient's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientState {
    /// The number.
    pub phone_number: String,
    /// Its state.
    pub state: ProcessState,
    /// Why it failed, when it did.
    #[serde(default)]
    pub error: Option<String>,
}

/// A message's state, as `POST /message` and `GET /message/{id}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageState {
    /// Its id.
    pub id: String,
    /// The message's state as a whole.
    pub state: ProcessState,
    /// Each recipient's.
    #[serde(default)]
    pub recipients: Vec<RecipientState>,
    /// When it reached each state, as the app wrote it.
    #[serde(default)]
    pub states: std::collections::BTreeMap<String, String>,
}

impl MessageState {
    /// The state that counts for simgate's one recipient: the recipient's
    /// when listed, else the message's.
    pub fn of_recipient(&self) -> (ProcessState, Option<&str>) {
        match self.recipients.first() {
            Some(r) => (r.state, r.error.as_deref()),
            None => (self.state, None),
        }
    }
}

/// A webhook registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Its id (simgate's, fixed, so registering again replaces it).
    #[serde(default)]
    pub id: Option<String>,
    /// Where the app posts.
    pub url: String,
    /// The event.
    pub event: String,
}

/// The registrations simgate makes: one per event in [`EVENTS`].
pub fn registrations(url: &str) -> Vec<Webhook> {
    EVENTS
        .iter()
        .map(|event| Webhook {
            id: Some(format!("simgate-{}", event.replace(':', "-"))),
            url: url.to_owned(),
            event: (*event).to_owned(),
        })
        .collect()
}

/// A webhook as the app posts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody {
    /// The delivery's id (the same on every retry).
    #[serde(default)]
    pub id: String,
    /// The event.
    pub event: String,
    /// What it is about.
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// What a webhook says, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message arrived.
    Received {
        /// The app's id for it.
        message_id: String,
        /// The sender.
        sender: String,
        /// The whole text.
        text: String,
        /// When, as the app wrote it.
        received_at: String,
    },
    /// A sent message changed state.
    State {
        /// simgate's id for it.
        message_id: String,
        /// Its recipient, where the app says.
        phone: Option<String>,
        /// When, as the app wrote it.
        at: String,
        /// Its new state.
        state: ProcessState,
        /// Why it failed, when it did.
        reason: Option<String>,
    },
    /// Another event (simgate did not register for it).
    Other(String),
}

/// A webhook body that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable webhook: {0}")]
pub struct WebhookError(pub String);

/// Reads a webhook's body.
pub fn parse_event(body: &[u8]) -> Result<Event, WebhookError> {
    let body: WebhookBody =
        serde_json::from_slice(body).map_err(|e| WebhookError(e.to_string()))?;
    let field = |name: &str| {
        body.payload
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let message_id = || field("messageId").ok_or_else(|| WebhookError("no messageId".to_owned()));
    let state = |state| -> Result<Event, WebhookError> {
        Ok(Event::State {
            message_id: message_id()?,
            phone: field("recipient").or_else(|| field("phoneNumber")),
            at: ["sentAt", "deliveredAt", "failedAt"]
                .iter()
                .find_map(|name| field(name))
                .unwrap_or_default(),
            state,
            reason: field("reason"),
        })
    };
    match body.event.as_str() {
        "sms:received" => Ok(Event::Received {
            message_id: message_id()?,
            sender: field("sender")
                .or_else(|| field("phoneNumber"))
                .ok_or_else(|| WebhookError("no sender".to_owned()))?,
            text: field("message").ok_or_else(|| WebhookError("no message".to_owned()))?,
            received_at: field("receivedAt").unwrap_or_default(),
        }),
        "sms:sent" => state(ProcessState::Sent),
        "sms:delivered" => state(ProcessState::Delivered),
        "sms:failed" => state(ProcessState::Failed),
        other => Ok(Event::Other(other.to_owned())),
    }
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Signature` or no `X-Timestamp`.
    #[error("the webhook is not signed")]
    Unsigned,
    /// `X-Timestamp` is no number.
    #[error("the webhook's time {0:?} is no number")]
    BadTimestamp(String),
    /// Signed too long ago (or ahead of simgate's clock).
    #[error("the webhook was signed {0} s away from now: stale")]
    Stale(i64),
    /// The signature does not match the body, the time and the key.
    #[error("the webhook's signature does not match")]
    Mismatch,
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key` (the hmac crate, as
/// for simgate's own webhooks).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The signature the app puts on `body` sent at `timestamp`: lowercase
/// hex of HMAC-SHA256 over the body followed by the timestamp's digits.
pub fn sign(key: &str, body: &[u8], timestamp: &str) -> String {
    let mut message = body.to_vec();
    message.extend_from_slice(timestamp.as_bytes());
    crate::pdu::hex::encode(&hmac_sha256(key.as_bytes(), &message)).to_ascii_lowercase()
}

/// Checks a webhook: signed (both headers), signed within
/// [`MAX_SKEW_SECONDS`] of `now`, and by `key`. The comparison takes the
/// same time wherever the signatures differ.
pub fn verify(
    key: &str,
    body: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Unsigned);
    };
    let seconds: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp(timestamp.to_owned()))?;
    let skew = now.saturating_sub(seconds);
    if skew.abs() > MAX_SKEW_SECONDS {
        return Err(SignatureError::Stale(skew));
    }
    let expected = sign(key, body, timestamp.trim());
    let given = signature.trim().to_ascii_lowercase();
    let differ = expected.len() != given.len()
        || expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0;
    if differ {
        return Err(SignatureError::Mismatch);
    }
    Ok(())
}

/// One entry of the app's list of received messages (`GET /inbox`); for
/// a text message `contentPreview` is its whole text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxEntry {
    /// The app's id for it (`text:` and a number for a text message).
    pub id: String,
    /// `SMS`, `DATA_SMS`, `MMS`...
    #[serde(rename = "type")]
    pub kind: String,
    /// The sender.
    pub sender: String,
    /// The text.
    pub content_preview: String,
    /// When it arrived, as the app wrote it.
    pub created_at: String,
}

/// The `messageId` the app's `sms:received` webhook gives the message an
/// inbox entry lists as `id`: the entry's `text:` number (a signed 32-bit
/// hash) written as unsigned hex. Other ids stay as they are.
pub fn webhook_message_id(inbox_id: &str) -> String {
    match inbox_id
        .strip_prefix("text:")
        .and_then(|n| n.parse::<i32>().ok())
    {
        Some(hash) => format!("{:x}", hash as u32),
        None => inbox_id.to_owned(),
    }
}

/// The phone's health (`GET /health`): the app's overall status, its
/// battery and its connection, where it says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    /// `pass`, `warn` or `fail`.
    pub status: String,
    /// Battery level in percent.
    pub battery_percent: Option<i64>,
    /// Whether it is charging or on a charger (`battery:charging` is a
    /// set of flags: 1 charging, 2 AC charger, 4 USB charger).
    pub charging: Option<bool>,
    /// Whether it has an internet connection (`connection:status`).
    pub online: Option<bool>,
    /// The network it is connected over (`connection:transport`, and
    /// `connection:cellular` for a mobile network).
    pub network: Option<String>,
}

impl Health {
    /// What `status` and the metrics show of the phone, with its `sims`.
    pub fn phone_status(&self, sims: Vec<crate::device::SimCard>) -> crate::device::PhoneStatus {
        crate::device::PhoneStatus {
            battery_percent: self
                .battery_percent
                .and_then(|p| u8::try_from(p.clamp(0, 100)).ok()),
            charging: self.charging,
            online: self.online,
            network: self.network.clone(),
            sims,
        }
    }
}

/// Reads `GET /health`'s answer.
pub fn health(body: &[u8]) -> Option<Health> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let observed = |name: &str| {
        value
            .get("checks")
            .and_then(|c| c.get(name))
            .and_then(|c| c.get("observedValue"))
            .and_then(serde_json::Value::as_i64)
    };
    Some(Health {
        status: value.get("status")?.as_str()?.to_owned(),
        battery_percent: observed("battery:level"),
        charging: observed("battery:charging").map(|flags| flags & 0b111 != 0),
        online: observed("connection:status").map(|v| v != 0),
        network: observed("connection:transport")
            .map(|transport| network_name(transport, observed("connection:cellular"))),
    })
}

/// The app's transport flags (0 none, 1 unknown, 2 cellular, 4 Wi-Fi,
/// 8 Ethernet) and cellular type (2 to 5: 2G to 5G) in words.
fn network_name(transport: i64, cellular: Option<i64>) -> String {
    match transport {
        0 => "none".to_owned(),
        t if t & 4 != 0 => "wifi".to_owned(),
        t if t & 8 != 0 => "ethernet".to_owned(),
        t if t & 2 != 0 => match cellular {
            Some(generation @ 2..=5) => format!("cellular {generation}G"),
            _ => "cellular".to_owned(),
        },
        _ => "unknown".to_owned(),
    }
}

/// The phone's SIMs from `GET /device` (a list of one device; the
/// `simCards` of app versions that report them, none from older ones).
pub fn sim_cards(body: &[u8]) -> Vec<crate::device::SimCard> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let text = |card: &serde_json::Value, key: &str| {
        card.get(key)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    value
        .as_array()
        .and_then(|devices| devices.first())
        .and_then(|device| device.get("simCards"))
        .and_then(serde_json::Value::as_array)
        .map(|cards| {
            cards
                .iter()
                .filter_map(|card| {
                    Some(crate::device::SimCard {
                        slot: u32::try_from(card.get("simNumber")?.as_u64()?).ok()?,
                        carrier: text(card, "carrierName"),
                        number: text(card, "phoneNumber"),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The seconds since 1970 in an ISO 8601 time the app wrote
/// (`2024-03-01T10:11:12.000+01:00`), if it is one.
pub fn parse_time(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    fn reference_signature(key: &str, body: &[u8], timestamp: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(body);
        mac.update(timestamp.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn the_signature_matches_an_independent_hmac() {
        let body = r#"{"event":"sms:received","payload":{"message":"Grüße"}}"#.as_bytes();
        for key in ["k3y", "", &"x".repeat(100)] {
            assert_eq!(
                sign(key, body, "1700000000"),
                reference_signature(key, body, "1700000000")
            );
        }
        // RFC 4231 test case 2.
        assert_eq!(
            crate::pdu::hex::encode(&hmac_sha256(b"Jefe", b"what do ya want for nothing?"))
                .to_ascii_lowercase(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_webhook_is_taken_only_signed_fresh_and_by_the_key() {
        let body = b"{}";
        let now = 1_700_000_000;
        let good = reference_signature("key", body, "1700000000");
        assert_eq!(
            verify("key", body, Some("1700000000"), Some(&good), now),
            Ok(())
        );
        assert_eq!(
            verify(
                "key",
                body,
                Some("1700000000"),
                Some(&good.to_uppercase()),
                now + 10
            ),
            Ok(())
        );
        assert_eq!(
            verify("key", body, None, Some(&good), now),
            Err(SignatureError::Unsigned)
        );
        assert_eq!(
            verify("key", body, Some("1700000000"), None, now),
            Err(SignatureError::Unsigned)
        );
        assert_eq!(
            verify("other", body, Some("1700000000"), Some(&good), now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("key", b"{ }", Some("1700000000"), Some(&good), now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("key", body, Some("1700000000"), Some(&good), now + 301),
            Err(SignatureError::Stale(301))
        );
        assert!(matches!(
            verify("key", body, Some("soon"), Some(&good), now),
            Err(SignatureError::BadTimestamp(_))
        ));
    }

    #[test]
    fn webhook_events_are_read() {
        let received = br#"{"id":"w1","webhookId":"simgate-sms-received","deviceId":"d",
            "event":"sms:received","payload":{"messageId":"m1","message":"hi","sender":"+4915112345678",
            "phoneNumber":"+4915112345678","simNumber":1,"receivedAt":"2024-03-01T10:11:12.000+01:00"}}"#;
        assert_eq!(
            parse_event(received).unwrap(),
            Event::Received {
                message_id: "m1".to_owned(),
                sender: "+4915112345678".to_owned(),
                text: "hi".to_owned(),
                received_at: "2024-03-01T10:11:12.000+01:00".to_owned(),
            }
        );
        let failed = br#"{"event":"sms:failed","payload":{"messageId":"sg-1","phoneNumber":"1","reason":"no service"}}"#;
        assert_eq!(
            parse_event(failed).unwrap(),
            Event::State {
                message_id: "sg-1".to_owned(),
                phone: Some("1".to_owned()),
                at: String::new(),
                state: ProcessState::Failed,
                reason: Some("no service".to_owned()),
            }
        );
        assert_eq!(
            parse_event(br#"{"event":"system:ping","payload":{}}"#).unwrap(),
            Event::Other("system:ping".to_owned())
        );
        assert!(parse_event(b"not json").is_err());
        assert!(parse_event(br#"{"event":"sms:sent","payload":{}}"#).is_err());
        assert_eq!(
            parse_time("2024-03-01T10:11:12.000+01:00"),
            Some(1_709_284_272)
        );
    }

    #[test]
    fn an_inbox_entry_names_the_message_as_its_webhook_does() {
        assert_eq!(webhook_message_id("text:-1"), "ffffffff");
        assert_eq!(webhook_message_id("text:255"), "ff");
        assert_eq!(webhook_message_id("in-3"), "in-3");
        let list: Vec<InboxEntry> = serde_json::from_slice(
            br#"[{"id":"text:17","type":"SMS","sender":"+491","recipient":null,"simNumber":1,
            "contentPreview":"hello","createdAt":"2024-03-01T10:11:12.000+01:00","attachments":[]}]"#,
        )
        .unwrap();
        assert_eq!(list[0].content_preview, "hello");
        assert_eq!(list[0].kind, "SMS");
    }

    #[test]
    fn states_and_requests_are_the_app_s_json() {
        let answer = br#"{"id":"sg-1","deviceId":"d","state":"Processed","isHashed":false,
            "isEncrypted":false,"recipients":[{"phoneNumber":"+491","state":"Sent","error":null}],
            "states":{"Pending":"2024-01-01T00:00:00Z"}}"#;
        let state: MessageState = serde_json::from_slice(answer).unwrap();
        assert_eq!(state.of_recipient(), (ProcessState::Sent, None));
        let odd: MessageState =
            serde_json::from_slice(br#"{"id":"x","state":"Cancelled"}"#).unwrap();
        assert_eq!(odd.of_recipient(), (ProcessState::Unknown, None));
        let request = SendRequest {
            id: "sg-1".to_owned(),
            text_message: TextMessage {
                text: "hi".to_owned(),
            },
            phone_numbers: vec!["+491".to_owned()],
            with_delivery_report: true,
        };
        let json: serde_json::Value = serde_json::to_value(&request).unwrap();
        assert_eq!(json["textMessage"]["text"], "hi");
        assert_eq!(json["phoneNumbers"][0], "+491");
        assert_eq!(json["withDeliveryReport"], true);
        let health = health(
            br#"{"status":"pass","version":"1.0","checks":{"battery:level":{"status":"pass",
            "observedValue":87,"observedUnit":"percent","description":""},"battery:charging":
            {"status":"pass","observedValue":0,"observedUnit":"flags","description":""}}}"#,
        )
        .unwrap();
        assert_eq!(health.battery_percent, Some(87));
        assert_eq!(health.charging, Some(false));
        assert_eq!((health.online, health.network), (None, None));
    }

    /// The app's connection checks and charging flags (its documented
    /// values), and the SIMs of `GET /device`.
    #[test]
    fn connection_charging_and_sims_are_read() {
        let body = |transport: i64, cellular: i64, charging: i64| {
            format!(
                r#"{{"status":"pass","checks":{{"connection:status":{{"observedValue":1}},
                "connection:transport":{{"observedValue":{transport}}},
                "connection:cellular":{{"observedValue":{cellular}}},
                "battery:charging":{{"observedValue":{charging}}}}}}}"#
            )
        };
        let read = |t, c, ch| health(body(t, c, ch).as_bytes()).unwrap();
        assert_eq!(read(4, 0, 4).network.as_deref(), Some("wifi"));
        assert_eq!(read(4, 0, 4).charging, Some(true), "USB charger");
        assert_eq!(read(2, 4, 0).network.as_deref(), Some("cellular 4G"));
        assert_eq!(read(2, 4, 0).charging, Some(false));
        assert_eq!(read(2, 1, 0).network.as_deref(), Some("cellular"));
        assert_eq!(read(8, 0, 5).network.as_deref(), Some("ethernet"));
        assert_eq!(read(0, 0, 0).network.as_deref(), Some("none"));
        assert_eq!(read(0, 0, 0).online, Some(true));
        let sims = sim_cards(
            br#"[{"id":"d","name":"x/y","simCards":[{"slotIndex":0,"simNumber":1,
            "phoneNumber":"+4917","carrierName":"Carrier","iccid":null},
            {"slotIndex":1,"simNumber":2,"phoneNumber":null,"carrierName":""}]}]"#,
        );
        assert_eq!(sims.len(), 2);
        assert_eq!(
            (
                sims[0].slot,
                sims[0].carrier.as_deref(),
                sims[0].number.as_deref()
            ),
            (1, Some("Carrier"), Some("+4917"))
        );
        assert_eq!((sims[1].slot, sims[1].carrier.as_deref()), (2, None));
        assert!(
            sim_cards(br#"[{"id":"d","name":"x/y"}]"#).is_empty(),
            "older apps"
        );
        assert!(sim_cards(b"not json").is_empty());
        assert_eq!(registrations("http://h/x").len(), 4);
    }
}
