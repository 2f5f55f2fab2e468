//! SMS-DELIVER (3GPP TS 23.040 §9.2.2.1): a message from the network.
//! Decoding is the main job; encoding exists so the modem emulator and the
//! tests can make realistic incoming PDUs.

use super::dcs::{Alphabet, DataCodingScheme};
use super::plan::Plan;
use super::reader::Reader;
use super::scts::{Scts, Timestamp};
use super::udh::{Concatenation, UserDataHeader};
use super::user_data::UserData;
use super::{expect_type, Address, DecodeError, EncodeError};

/// One SMS-DELIVER TPDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsDeliver {
    /// TP-MMS inverted: the service centre has more messages waiting.
    pub more_messages: bool,
    /// TP-LP: loop prevention.
    pub loop_prevention: bool,
    /// TP-RP: a reply path is set.
    pub reply_path: bool,
    /// TP-SRI: the sender asked for a status report.
    pub status_report_indication: bool,
    /// TP-OA: who sent it (a number, or text such as `Telegram`).
    pub originator: Address,
    /// TP-PID.
    pub protocol_identifier: u8,
    /// TP-DCS.
    pub dcs: DataCodingScheme,
    /// TP-SCTS: when the service centre received it, or octets that are
    /// no date.
    pub timestamp: Scts,
    /// TP-UD and its header.
    pub user_data: UserData,
}

impl SmsDeliver {
    /// The SMS-DELIVERs a service centre hands on for a planned text from
    /// `originator`, all stamped `timestamp`: one per part, linked by
    /// `reference` (cut to 8 bits unless the plan asks for 16) when there
    /// are several. What the emulator's network, the demo and the tests
    /// send to a modem; [`SmsSubmit::from_plan`](super::SmsSubmit::from_plan)
    /// is the sending side.
    pub fn from_plan(
        plan: &Plan,
        originator: &Address,
        timestamp: Timestamp,
        reference: u16,
    ) -> Vec<Self> {
        let total = plan.parts.len();
        let dcs = DataCodingScheme::decode(DataCodingScheme::encode(plan.alphabet, None));
        plan.parts
            .iter()
            .enumerate()
            .map(|(index, body)| Self {
                more_messages: false,
                loop_prevention: false,
                reply_path: false,
                status_report_indication: false,
                originator: originator.clone(),
                protocol_identifier: 0,
                dcs,
                timestamp: Scts::Valid(timestamp),
                user_data: UserData {
                    header: (total > 1).then(|| {
                        UserDataHeader::concatenation(
                            Concatenation {
                                reference: if plan.wide_reference {
                                    reference
                                } else {
                                    reference & 0xFF
                                },
                                total: total as u8,
                                sequence: index as u8 + 1,
                            },
                            plan.wide_reference,
                        )
                    }),
                    body: body.clone(),
                    split: Default::default(),
                },
            })
            .collect()
    }

    /// Decodes a TPDU (no SMSC in front).
    pub fn decode(tpdu: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(tpdu);
        let first = expect_type(&mut reader, 0x00, "SMS-DELIVER")?;
        let originator = Address::decode_tp(&mut reader, "TP-OA")?;
        let protocol_identifier = reader.u8("TP-PID")?;
        let dcs = DataCodingScheme::decode(reader.u8("TP-DCS")?);
        let timestamp = Scts::decode(&mut reader, "TP-SCTS")?;
        let user_data = UserData::decode(&mut reader, &dcs, first & 0x40 != 0)?;
        Ok(Self {
            more_messages: first & 0x04 == 0,
            loop_prevention: first & 0x08 != 0,
            reply_path: first & 0x80 != 0,
            status_report_indication: first & 0x20 != 0,
            originator,
            protocol_identifier,
            dcs,
            timestamp,
            user_data,
        })
    }

    /// Encodes as a TPDU (no SMSC in front).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(176);
        out.push(
            u8::from(!self.more_messages) << 2
                | u8::from(self.loop_prevention) << 3
                | u8::from(self.status_report_indication) << 5
                | u8::from(self.user_data.header.is_some()) << 6
                | u8::from(self.reply_path) << 7,
        );
        self.originator.encode_tp(&mut out);
        out.push(self.protocol_identifier);
        out.push(self.dcs.raw);
        self.timestamp.encode(&mut out);
        let alphabet = if self.dcs.compressed {
            Alphabet::Eight
        } else {
            self.dcs.alphabet
        };
        self.user_data.encode(alphabet, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::{plan_text, EncodingPolicy};

    #[test]
    fn a_planned_text_becomes_linked_delivers() {
        let text = "a text long enough for three parts, ".repeat(12);
        let plan = plan_text(&text, EncodingPolicy::Auto).unwrap();
        let from = Address::parse_number("+4915100000001").unwrap();
        let stamp = Timestamp {
            year: 2026,
            month: 11,
            day: 25,
            hour: 20,
            minute: 1,
            second: 0,
            tz_quarters: -8,
        };
        let parts = SmsDeliver::from_plan(&plan, &from, stamp, 0x1234);
        assert_eq!(parts.len(), 3);
        let mut joined = String::new();
        for (index, part) in parts.iter().enumerate() {
            let decoded = SmsDeliver::decode(&part.encode().unwrap()).unwrap();
            let concat = decoded.user_data.header.as_ref().unwrap().concat().unwrap();
            assert_eq!(
                (concat.reference, concat.total, concat.sequence),
                (0x34, 3, index as u8 + 1)
            );
            assert_eq!(decoded.originator, from);
            assert_eq!(decoded.timestamp, Scts::Valid(stamp));
            joined.push_str(decoded.user_data.body.text().unwrap());
        }
        assert_eq!(joined, text);
        let single = plan_text("hi", EncodingPolicy::Auto).unwrap();
        let single = SmsDeliver::from_plan(&single, &from, stamp, 7);
        assert_eq!(single.len(), 1);
        assert!(single[0].user_data.header.is_none());
    }

    #[test]
    fn a_time_stamp_that_is_no_date_does_not_lose_the_message() {
        let plan = plan_text("sent on the 13th month", EncodingPolicy::Auto).unwrap();
        let from = Address::parse_number("+4915100000001").unwrap();
        let stamp = Timestamp::from_unix_seconds(0);
        let mut deliver = SmsDeliver::from_plan(&plan, &from, stamp, 0).remove(0);
        assert_eq!(deliver.timestamp, Scts::Valid(stamp));
        let month_13 = [0x62, 0x31, 0x52, 0x02, 0x10, 0x95, 0x40];
        deliver.timestamp = Scts::Invalid(month_13);
        let tpdu = deliver.encode().unwrap();
        assert!(tpdu.windows(7).any(|octets| octets == month_13));
        let decoded = SmsDeliver::decode(&tpdu).unwrap();
        assert_eq!(decoded, deliver);
        assert_eq!(
            decoded.user_data.body.text(),
            Some("sent on the 13th month")
        );
    }

    #[test]
    fn user_data_in_a_reserved_scheme_is_kept_as_octets() {
        let data = vec![0xE8, 0x34, 0x00, 0x41];
        let plan = crate::pdu::plan_binary(&data).unwrap();
        let from = Address::parse_number("+4915100000001").unwrap();
        let mut deliver =
            SmsDeliver::from_plan(&plan, &from, Timestamp::from_unix_seconds(0), 0).remove(0);
        for raw in [0x0C, 0x80, 0xB3] {
            deliver.dcs = DataCodingScheme { raw, ..deliver.dcs };
            let tpdu = deliver.encode().unwrap();
            let decoded = SmsDeliver::decode(&tpdu).unwrap();
            assert_eq!(decoded.dcs.raw, raw);
            assert_eq!(
                decoded.user_data.body,
                crate::pdu::Body::Binary(data.clone()),
                "{raw:#04x}: four octets, not four septets of text"
            );
        }
    }
}
