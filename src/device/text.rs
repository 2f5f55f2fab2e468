//! The bridge between the daemon's PDUs and devices that take and give
//! whole texts (web sticks, phone apps): the parts the daemon planned,
//! decoded back to recipient and text; a received text, made into the
//! SMS-DELIVER PDUs a modem would have given; a delivery outcome, made
//! into an SMS-STATUS-REPORT. The PDUs made are always the same for the
//! same input, so a message or report handed over twice is recorded once.

use super::{DeviceError, FailureKind};
use crate::pdu::{
    self, Address, Body, EncodedPdu, EncodingPolicy, Scts, SmsDeliver, SmsSubmit, StatusReport,
};

fn permanent(message: impl Into<String>) -> DeviceError {
    DeviceError {
        kind: FailureKind::Permanent,
        message: message.into(),
    }
}

/// The parts of one message the daemon planned, decoded: recipient and
/// whole text. `device` names the device in the error for binary parts.
pub(crate) fn whole_text(
    parts: &[EncodedPdu],
    device: &str,
) -> Result<(String, String), DeviceError> {
    let submits = parts
        .iter()
        .map(|pdu| SmsSubmit::decode(pdu.tpdu()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| permanent(format!("cannot read the part: {e}")))?;
    let Some(first) = submits.first() else {
        return Err(permanent("a message without parts"));
    };
    if submits
        .iter()
        .any(|s| !matches!(s.user_data.body, Body::Text(_)))
    {
        return Err(permanent(format!(
            "{device} sends text only; binary and compressed messages cannot go through it"
        )));
    }
    if first.dcs.class.is_some() {
        tracing::warn!(
            "{device} sends every message as an ordinary one: the message class (flash) is not kept"
        );
    }
    let user_data: Vec<_> = submits.iter().map(|s| Some(&s.user_data)).collect();
    let text: String = pdu::part_texts(&user_data).into_iter().flatten().collect();
    Ok((first.destination.to_display(), text))
}

/// The concatenation reference and part count of a planned part, when it
/// is part of a long message.
pub(crate) fn concatenation(part: &EncodedPdu) -> Option<(u16, u8)> {
    SmsSubmit::decode(part.tpdu())
        .ok()
        .and_then(|s| s.user_data.header.and_then(|h| h.concat()))
        .map(|c| (c.reference, c.total))
}

/// An address for a sender as a device names it: a number, else a name.
pub(crate) fn sender_address(sender: &str) -> Result<Address, String> {
    Address::parse_number(sender)
        .or_else(|_| Address::alphanumeric(sender))
        .map_err(|error| format!("sender {sender:?}: {error}"))
}

/// A PDU as the daemon takes it: no SMSC address, then the TPDU.
fn without_smsc(tpdu: Vec<u8>) -> Vec<u8> {
    let mut pdu = Vec::with_capacity(tpdu.len() + 1);
    pdu.push(0);
    pdu.extend_from_slice(&tpdu);
    pdu
}

/// A received text as the SMS-DELIVER PDUs of its parts (SMSC field, then
/// TPDU), from `sender` at `seconds` since 1970, the parts joined by
/// `reference`.
pub(crate) fn delivers(
    sender: &str,
    text: &str,
    seconds: i64,
    reference: u16,
) -> Result<Vec<Vec<u8>>, String> {
    let originator = sender_address(sender)?;
    let plan = pdu::plan_text_wide(text, EncodingPolicy::Auto).map_err(|e| e.to_string())?;
    let timestamp = pdu::Timestamp::from_unix_seconds(seconds);
    SmsDeliver::from_plan(&plan, &originator, timestamp, reference)
        .iter()
        .map(|deliver| {
            deliver
                .encode()
                .map(without_smsc)
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// A delivery outcome for the part sent with TP-MR `reference` to
/// `recipient`, at `seconds` since 1970, as an SMS-STATUS-REPORT PDU
/// (SMSC field, then TPDU): delivered (TP-ST 0) or failed for good
/// (TP-ST 0x40, "remote procedure error", the device giving no reason
/// the network did).
pub(crate) fn status_report(
    reference: u8,
    recipient: &str,
    seconds: i64,
    delivered: bool,
) -> Result<Vec<u8>, String> {
    status_report_with(
        reference,
        recipient,
        seconds,
        if delivered { 0x00 } else { 0x40 },
    )
}

/// As [`status_report`], with the TP-ST the device gave (a modem
/// ModemManager owns tells the network's own).
pub(crate) fn status_report_with(
    reference: u8,
    recipient: &str,
    seconds: i64,
    status: u8,
) -> Result<Vec<u8>, String> {
    let recipient = Address::parse_number(recipient).map_err(|e| e.to_string())?;
    let when = Scts::Valid(pdu::Timestamp::from_unix_seconds(seconds));
    let report = StatusReport {
        more_messages: false,
        loop_prevention: false,
        for_command: false,
        message_reference: reference,
        recipient,
        timestamp: when,
        discharge_time: when,
        status: pdu::Status(status),
        protocol_identifier: None,
        dcs: None,
        user_data: None,
    };
    report.encode().map(without_smsc).map_err(|e| e.to_string())
}

/// Whether the daemon asked for a delivery report on the message these
/// parts make (the first part's TP-SRR).
pub(crate) fn wants_report(parts: &[EncodedPdu]) -> bool {
    parts
        .first()
        .and_then(|pdu| pdu::SmsSubmit::decode(pdu.tpdu()).ok())
        .is_some_and(|submit| submit.status_report_request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::{DeliveryOutcome, Incoming, SubmitOptions};

    fn planned(text: &str, to: &str) -> Vec<EncodedPdu> {
        let plan = pdu::plan_text(text, EncodingPolicy::Auto).unwrap();
        let mut options = SubmitOptions::new(Address::parse_number(to).unwrap());
        options.concat_reference = 7;
        SmsSubmit::from_plan(&plan, &options)
            .iter()
            .map(|s| s.encode(None).unwrap())
            .collect()
    }

    #[test]
    fn the_parts_decode_to_the_whole_text() {
        let long = "Grüße 😀 ".repeat(30);
        let parts = planned(&long, "+4915112345678");
        assert!(parts.len() > 1);
        assert_eq!(
            whole_text(&parts, "it").unwrap(),
            ("+4915112345678".to_owned(), long)
        );
        assert_eq!(concatenation(&parts[1]).map(|c| c.0), Some(7));
        let short = planned("hello", "012345");
        assert_eq!(concatenation(&short[0]), None);
        assert_eq!(
            whole_text(&short, "it").unwrap(),
            ("012345".to_owned(), "hello".to_owned())
        );
    }

    #[test]
    fn a_text_becomes_the_same_delivers_each_time() {
        let text = "ж".repeat(100);
        let first = delivers("+4915112345678", &text, 1_709_287_872, 9).unwrap();
        assert_eq!(
            first,
            delivers("+4915112345678", &text, 1_709_287_872, 9).unwrap()
        );
        assert_eq!(first.len(), 2);
        let mut joined = String::new();
        for pdu in &first {
            let (_, tpdu) = pdu::split_smsc(pdu).unwrap();
            let Incoming::Deliver(deliver) = Incoming::decode(tpdu).unwrap() else {
                panic!("not a deliver");
            };
            assert_eq!(deliver.originator.to_display(), "+4915112345678");
            joined.push_str(deliver.user_data.body.text().unwrap());
        }
        assert_eq!(joined, text);
        assert!(delivers("a sender name far too long for an address", "hi", 0, 1).is_err());
    }

    #[test]
    fn outcomes_become_status_reports() {
        for (delivered, outcome) in [
            (true, DeliveryOutcome::Delivered),
            (false, DeliveryOutcome::Failed),
        ] {
            let pdu = status_report(42, "+4915112345678", 1_709_287_872, delivered).unwrap();
            let (_, tpdu) = pdu::split_smsc(&pdu).unwrap();
            let Incoming::StatusReport(report) = Incoming::decode(tpdu).unwrap() else {
                panic!("not a report");
            };
            assert_eq!(report.message_reference, 42);
            assert_eq!(report.recipient.to_display(), "+4915112345678");
            assert_eq!(report.status.outcome(), outcome);
        }
    }
}
