//! SMS-DELIVER (3GPP TS 23.040 §9.2.2.1): a message from the network.
//! Decoding is the main job; encoding exists so the modem emulator and the
//! tests can make realistic incoming PDUs.

use super::dcs::{Alphabet, DataCodingScheme};
use super::reader::Reader;
use super::scts::Timestamp;
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
    /// TP-SCTS: when the service centre received it.
    pub timestamp: Timestamp,
    /// TP-UD and its header.
    pub user_data: UserData,
}

impl SmsDeliver {
    /// Decodes a TPDU (no SMSC in front).
    pub fn decode(tpdu: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(tpdu);
        let first = expect_type(&mut reader, 0x00, "SMS-DELIVER")?;
        let originator = Address::decode_tp(&mut reader, "TP-OA")?;
        let protocol_identifier = reader.u8("TP-PID")?;
        let dcs = DataCodingScheme::decode(reader.u8("TP-DCS")?);
        let timestamp = Timestamp::decode(&mut reader, "TP-SCTS")?;
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
