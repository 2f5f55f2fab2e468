//! SMS-STATUS-REPORT (3GPP TS 23.040 §9.2.2.3): the network's word on a
//! message we sent, matched to it by TP-MR and recipient.

use super::dcs::{Alphabet, DataCodingScheme};
use super::reader::Reader;
use super::scts::Scts;
use super::user_data::UserData;
use super::{expect_type, Address, DecodeError, EncodeError};
use std::fmt;

/// What became of the message, in short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryOutcome {
    /// Delivered (or replaced) and done.
    Delivered,
    /// Not yet: the service centre is still trying.
    Pending,
    /// It will not be delivered.
    Failed,
}

/// TP-ST (23.040 §9.2.3.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u8);

impl Status {
    /// The outcome the status code stands for. Reserved values (0x80 and up)
    /// count as failed, as 23.040 says to read them as "service rejected".
    pub fn outcome(self) -> DeliveryOutcome {
        match self.0 {
            0x00..=0x1F => DeliveryOutcome::Delivered,
            0x20..=0x3F => DeliveryOutcome::Pending,
            _ => DeliveryOutcome::Failed,
        }
    }

    /// The meaning 23.040 gives the code, in words.
    pub fn meaning(self) -> &'static str {
        match self.0 {
            0x00 => "received by the recipient",
            0x01 => "forwarded, delivery unconfirmed",
            0x02 => "replaced by the service centre",
            0x03..=0x0F => "delivered (reserved code)",
            0x10..=0x1F => "delivered (service centre specific code)",
            0x20 | 0x60 => "congestion",
            0x21 | 0x61 => "recipient busy",
            0x22 | 0x62 => "no response from recipient",
            0x23 | 0x63 => "service rejected",
            0x24 | 0x44 | 0x64 => "quality of service not available",
            0x25 | 0x65 => "error in recipient",
            0x26..=0x2F => "still trying (reserved code)",
            0x30..=0x3F => "still trying (service centre specific code)",
            0x40 => "remote procedure error",
            0x41 => "incompatible destination",
            0x42 => "connection rejected by recipient",
            0x43 => "not obtainable",
            0x45 => "no interworking available",
            0x46 => "validity period expired",
            0x47 => "deleted by the sender",
            0x48 => "deleted by service centre administration",
            0x49 => "message does not exist",
            0x4A..=0x4F => "permanent error (reserved code)",
            0x50..=0x5F => "permanent error (service centre specific code)",
            0x66..=0x6F => "temporary error, no more attempts (reserved code)",
            0x70..=0x7F => "temporary error, no more attempts (service centre specific code)",
            _ => "reserved code, read as service rejected",
        }
    }

    /// For 0x60-0x7F: the error was temporary but the centre gave up.
    pub fn gave_up_after_temporary_error(self) -> bool {
        (0x60..=0x7F).contains(&self.0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#04x})", self.meaning(), self.0)
    }
}

/// One SMS-STATUS-REPORT TPDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// TP-MMS inverted: the service centre has more messages waiting.
    pub more_messages: bool,
    /// TP-LP: loop prevention.
    pub loop_prevention: bool,
    /// TP-SRQ: a report on an SMS-COMMAND rather than an SMS-SUBMIT.
    pub for_command: bool,
    /// TP-MR of the message this reports on.
    pub message_reference: u8,
    /// TP-RA: the recipient of that message.
    pub recipient: Address,
    /// TP-SCTS: when the service centre received that message (or octets
    /// that are no date).
    pub timestamp: Scts,
    /// TP-DT: when it was delivered, or the state below was reached (or
    /// octets that are no date).
    pub discharge_time: Scts,
    /// TP-ST.
    pub status: Status,
    /// TP-PID, when TP-PI says it is present.
    pub protocol_identifier: Option<u8>,
    /// TP-DCS, when TP-PI says it is present.
    pub dcs: Option<DataCodingScheme>,
    /// TP-UD, when TP-PI says it is present.
    pub user_data: Option<UserData>,
}

impl StatusReport {
    /// Decodes a TPDU (no SMSC in front).
    pub fn decode(tpdu: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(tpdu);
        let first = expect_type(&mut reader, 0x02, "SMS-STATUS-REPORT")?;
        let message_reference = reader.u8("TP-MR")?;
        let recipient = Address::decode_tp(&mut reader, "TP-RA")?;
        let timestamp = Scts::decode(&mut reader, "TP-SCTS")?;
        let discharge_time = Scts::decode(&mut reader, "TP-DT")?;
        let status = Status(reader.u8("TP-ST")?);
        let mut report = Self {
            more_messages: first & 0x04 == 0,
            loop_prevention: first & 0x08 != 0,
            for_command: first & 0x20 != 0,
            message_reference,
            recipient,
            timestamp,
            discharge_time,
            status,
            protocol_identifier: None,
            dcs: None,
            user_data: None,
        };
        if reader.is_empty() {
            return Ok(report);
        }
        // TP-PI (§9.2.3.27): bit 0 PID, bit 1 DCS, bit 2 UDL follow.
        let indicator = reader.u8("TP-PI")?;
        if indicator & 0x01 != 0 {
            report.protocol_identifier = Some(reader.u8("TP-PID")?);
        }
        if indicator & 0x02 != 0 {
            report.dcs = Some(DataCodingScheme::decode(reader.u8("TP-DCS")?));
        }
        if indicator & 0x04 != 0 {
            let dcs = report.dcs.unwrap_or_else(|| DataCodingScheme::decode(0));
            report.user_data = Some(UserData::decode(&mut reader, &dcs, first & 0x40 != 0)?);
        }
        // Octets after a TP-PI without TP-UDL are padding that some service
        // centres add; they carry nothing, so they are ignored.
        Ok(report)
    }

    /// Encodes as a TPDU (no SMSC in front), for the emulator and tests.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        let has_header = self
            .user_data
            .as_ref()
            .is_some_and(|ud| ud.header.is_some());
        out.push(
            0x02 | u8::from(!self.more_messages) << 2
                | u8::from(self.loop_prevention) << 3
                | u8::from(self.for_command) << 5
                | u8::from(has_header) << 6,
        );
        out.push(self.message_reference);
        self.recipient.encode_tp(&mut out);
        self.timestamp.encode(&mut out);
        self.discharge_time.encode(&mut out);
        out.push(self.status.0);
        let indicator = u8::from(self.protocol_identifier.is_some())
            | u8::from(self.dcs.is_some()) << 1
            | u8::from(self.user_data.is_some()) << 2;
        if indicator != 0 {
            out.push(indicator);
            out.extend(self.protocol_identifier);
            out.extend(self.dcs.map(|dcs| dcs.raw));
            if let Some(user_data) = &self.user_data {
                let alphabet = self.dcs.map_or(Alphabet::Gsm7, |dcs| dcs.alphabet);
                user_data.encode(alphabet, &mut out)?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_stamps_that_are_no_date_do_not_lose_the_report() {
        let month_13 = [0x62, 0x31, 0x52, 0x02, 0x10, 0x95, 0x40];
        let hour_25 = [0x62, 0x11, 0x52, 0x52, 0x10, 0x95, 0x40];
        let report = StatusReport {
            more_messages: false,
            loop_prevention: false,
            for_command: false,
            message_reference: 42,
            recipient: Address::parse_number("+4917612345678").unwrap(),
            timestamp: Scts::Invalid(month_13),
            discharge_time: Scts::Invalid(hour_25),
            status: Status(0),
            protocol_identifier: None,
            dcs: None,
            user_data: None,
        };
        let tpdu = report.encode().unwrap();
        assert_eq!(tpdu[11..25], [month_13, hour_25].concat());
        let decoded = StatusReport::decode(&tpdu).unwrap();
        assert_eq!(decoded, report);
        assert_eq!(decoded.status.outcome(), DeliveryOutcome::Delivered);
    }
}
