//! SMS PDUs (3GPP TS 23.040, 23.038): pure functions over bytes, no I/O, no
//! clock.
//!
//! - `plan` turns text into parts (GSM 7-bit or UCS-2, concatenated when
//!   long) and [`SmsSubmit`] encodes each part for AT+CMGS.
//! - [`SmsDeliver`] and [`StatusReport`] decode what the network sends, which
//!   is untrusted input: every malformed PDU gives a [`DecodeError`], never a
//!   panic. What is odd but still a message decodes, the odd part kept as it
//!   came for the receiver to deal with: a time stamp that is no date
//!   ([`Scts::Invalid`]), half of a surrogate pair at the edge of a part's
//!   text ([`SplitSurrogates`], joined again by [`part_texts`]), user data in
//!   an alphabet simgate does not decode ([`Undecoded`]).
//! - [`split_smsc`] removes the SMSC address modems put in front of a TPDU.

mod address;
mod dcs;
mod deliver;
pub mod gsm7;
pub mod hex;
mod plan;
mod reader;
mod scts;
pub mod smart;
mod status_report;
mod submit;
mod udh;
pub(crate) mod user_data;
mod validity;

pub use address::{Address, AddressError, TypeOfNumber, MAX_DIGITS};
pub use dcs::{
    Alphabet, DataCodingScheme, IndicationKind, MessageClass, Undecoded, WaitingIndication,
};
pub use deliver::SmsDeliver;
pub use hex::HexError;
pub use plan::{
    plan_binary, plan_text, plan_text_wide, EncodingPolicy, Plan, PlanError, MAX_PARTS,
};
pub use scts::{Scts, Timestamp};
pub use status_report::{DeliveryOutcome, Status, StatusReport};
pub use submit::{EncodedPdu, SmsSubmit, SubmitOptions};
pub use udh::{Concatenation, InformationElement, UserDataHeader};
pub use user_data::{part_texts, Body, SplitSurrogates, UserData, MAX_OCTETS, MAX_SEPTETS};
pub use validity::Validity;

use reader::Reader;

/// Why octets are not a valid PDU. Each variant names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The hex text of a PDU is not hex.
    #[error("PDU is not valid hex: {0}")]
    Hex(#[from] HexError),
    /// The PDU ended inside a field.
    #[error("PDU ends inside {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// TP-MTI is 11, reserved.
    #[error("message type indicator 3 is reserved")]
    ReservedMessageType,
    /// A different message type than the caller asked for.
    #[error("expected {expected}, found message type indicator {found}")]
    UnexpectedMessageType {
        /// What was asked for.
        expected: &'static str,
        /// The TP-MTI found (0-3).
        found: u8,
    },
    /// An address longer than 20 semi-octets.
    #[error("{field} is {semi_octets} semi-octets long; at most 20 are allowed")]
    AddressTooLong {
        /// The address field.
        field: &'static str,
        /// The length it claimed.
        semi_octets: usize,
    },
    /// A time stamp with a non-decimal digit or an impossible date or time.
    #[error("{field} is not a valid time stamp")]
    InvalidTimestamp {
        /// The time stamp field.
        field: &'static str,
    },
    /// TP-UDL beyond what one message can carry.
    #[error("user data length {udl} exceeds the maximum of {max}")]
    UserDataTooLong {
        /// TP-UDL.
        udl: usize,
        /// 160 septets or 140 octets.
        max: usize,
    },
    /// TP-UDL claims more data than the PDU has.
    #[error("user data needs {needed} octets but only {available} remain")]
    UserDataBeyondPdu {
        /// Octets TP-UDL implies.
        needed: usize,
        /// Octets present.
        available: usize,
    },
    /// The header length is beyond TP-UDL.
    #[error("user data header length {udhl} does not fit user data length {udl}")]
    UdhBeyondUserData {
        /// TP-UDHL.
        udhl: usize,
        /// TP-UDL.
        udl: usize,
    },
    /// An information element runs past the end of the header.
    #[error(
        "information element {iei:#04x} claims {length} octets but the header has {available} left"
    )]
    UdhElementOverrun {
        /// Its identifier.
        iei: u8,
        /// Its claimed length.
        length: usize,
        /// Octets left in the header.
        available: usize,
    },
    /// UCS-2 data with an odd number of octets.
    #[error("UCS-2 text has an odd number of octets ({0})")]
    OddUcs2Length(usize),
    /// Octets after the end of the user data.
    #[error("{0} octets follow the end of the user data")]
    TrailingData(usize),
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Text with a character the GSM 7-bit alphabet lacks, in a 7-bit part.
    #[error("{0:?} is not in the GSM 7-bit alphabet")]
    NotGsm7(char),
    /// More user data than one message carries.
    #[error("user data of {units} exceeds the maximum of {max}")]
    UserDataTooLong {
        /// Septets or octets.
        units: usize,
        /// 160 septets or 140 octets.
        max: usize,
    },
    /// A text body with an 8-bit DCS, or binary data with a text DCS.
    #[error("the body does not match the {0:?} alphabet")]
    BodyDoesNotMatchAlphabet(Alphabet),
}

/// A message a modem hands us: SMS-DELIVER or SMS-STATUS-REPORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text or data message.
    Deliver(SmsDeliver),
    /// A delivery report for a message we sent.
    StatusReport(StatusReport),
}

impl Incoming {
    /// Decodes a mobile-terminated TPDU (no SMSC in front).
    pub fn decode(tpdu: &[u8]) -> Result<Self, DecodeError> {
        match tpdu.first().map(|first| first & 0x03) {
            None => Err(DecodeError::Truncated {
                field: "first octet",
            }),
            Some(0) => SmsDeliver::decode(tpdu).map(Self::Deliver),
            Some(2) => StatusReport::decode(tpdu).map(Self::StatusReport),
            Some(3) => Err(DecodeError::ReservedMessageType),
            Some(found) => Err(DecodeError::UnexpectedMessageType {
                expected: "SMS-DELIVER or SMS-STATUS-REPORT",
                found,
            }),
        }
    }
}

/// Splits the SMSC address (24.011 RP address, length in octets) off the
/// front of a PDU as modems list it; returns it (or `None` for length 0) and
/// the TPDU.
pub fn split_smsc(pdu: &[u8]) -> Result<(Option<Address>, &[u8]), DecodeError> {
    let mut reader = Reader::new(pdu);
    let smsc = Address::decode_smsc(&mut reader)?;
    Ok((smsc, reader.rest()))
}

/// Whether a PDU as a device lists it from storage (SMSC field, then TPDU)
/// is an SMS-SUBMIT, by its message type indicator (01): one of the user's
/// own messages, stored sent or unsent, not one the network delivered. In a
/// storage TP-MTI 01 can mean nothing else (an SMS-SUBMIT-REPORT is never
/// stored). Reads the first octet only: a PDU too short to tell is not.
pub fn is_stored_submit(pdu: &[u8]) -> bool {
    split_smsc(pdu).is_ok_and(|(_, tpdu)| tpdu.first().is_some_and(|first| first & 0x03 == 1))
}

/// Reads the message type indicator and checks it, for the decoders.
pub(crate) fn expect_type(
    reader: &mut Reader<'_>,
    expected_mti: u8,
    expected: &'static str,
) -> Result<u8, DecodeError> {
    let first = reader.u8("first octet")?;
    match first & 0x03 {
        mti if mti == expected_mti => Ok(first),
        3 => Err(DecodeError::ReservedMessageType),
        found => Err(DecodeError::UnexpectedMessageType { expected, found }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_submit_is_told_by_its_message_type() {
        let to = Address::parse_number("+4915100000001").unwrap();
        let plan = plan_text("mine", EncodingPolicy::Auto).unwrap();
        let submit = SmsSubmit::from_plan(&plan, &SubmitOptions::new(to.clone()))[0]
            .encode(None)
            .unwrap();
        assert!(is_stored_submit(submit.bytes()));
        let with_smsc = SmsSubmit::from_plan(&plan, &SubmitOptions::new(to.clone()))[0]
            .encode(Some(&to))
            .unwrap();
        assert!(is_stored_submit(with_smsc.bytes()));
        // SMSC field, then first octets of a DELIVER (00, 04), a status
        // report (06), a reserved type (03).
        for first in [0x00, 0x04, 0x06, 0x03] {
            assert!(!is_stored_submit(&[0x00, first, 0x00]), "{first:#04x}");
        }
        // Nothing to tell by: no TPDU, an SMSC length beyond the PDU.
        assert!(!is_stored_submit(&[0x00]));
        assert!(!is_stored_submit(&[]));
        assert!(!is_stored_submit(&[0x07, 0x91, 0x01]));
    }
}
