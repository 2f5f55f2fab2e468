//! SMS-SUBMIT (3GPP TS 23.040 §9.2.2.2): what simgate sends with AT+CMGS.
//! Encoding for sending, decoding for tests and for messages a modem has
//! stored.

use super::dcs::{Alphabet, DataCodingScheme, MessageClass};
use super::plan::Plan;
use super::reader::Reader;
use super::udh::{Concatenation, UserDataHeader};
use super::user_data::UserData;
use super::validity::Validity;
use super::{expect_type, hex, Address, DecodeError, EncodeError};

/// One SMS-SUBMIT TPDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSubmit {
    /// TP-RD: the service centre should reject a duplicate of an unsent message.
    pub reject_duplicates: bool,
    /// TP-RP: reply path requested.
    pub reply_path: bool,
    /// TP-SRR: a status report is requested.
    pub status_report_request: bool,
    /// TP-MR. Most modems put their own counter here and report it in +CMGS.
    pub message_reference: u8,
    /// TP-DA.
    pub destination: Address,
    /// TP-PID (0 for ordinary messages).
    pub protocol_identifier: u8,
    /// TP-DCS.
    pub dcs: DataCodingScheme,
    /// TP-VP.
    pub validity: Validity,
    /// TP-UD and its header.
    pub user_data: UserData,
}

/// A PDU ready for a modem: the SMSC field followed by the TPDU. Only
/// [`SmsSubmit::encode`] makes one, so its length always matches its
/// octets and fits `AT+CMGS`; code elsewhere reads it:
///
/// ```compile_fail,E0451
/// // A length that does not match the octets cannot be made.
/// let pdu = simgate::pdu::EncodedPdu { bytes: vec![0x00], tpdu_length: 300 };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPdu {
    bytes: Vec<u8>,
    tpdu_length: usize,
}

impl EncodedPdu {
    /// The SMSC address field, then the TPDU.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Octets of the TPDU alone: the length AT+CMGS takes.
    pub fn tpdu_length(&self) -> usize {
        self.tpdu_length
    }

    /// The PDU as hex, as written after the AT+CMGS prompt.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    /// The TPDU without the SMSC field.
    pub fn tpdu(&self) -> &[u8] {
        &self.bytes[self.bytes.len() - self.tpdu_length..]
    }
}

/// What every part of one outgoing message shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOptions {
    /// Where it goes.
    pub destination: Address,
    /// Message class; `Some(MessageClass::Flash)` for a flash message.
    pub class: Option<MessageClass>,
    /// Validity period.
    pub validity: Validity,
    /// Ask for a delivery report.
    pub status_report: bool,
    /// TP-MR to put in each part (modems usually replace it).
    pub message_reference: u8,
    /// Concatenation reference shared by the parts of a long message; only
    /// its low 8 bits are used unless the plan was made for 16-bit
    /// references ([`plan_text_wide`](super::plan::plan_text_wide)).
    pub concat_reference: u16,
}

impl SubmitOptions {
    /// Options with defaults: no class, no validity field, no report,
    /// reference 0.
    pub fn new(destination: Address) -> Self {
        Self {
            destination,
            class: None,
            validity: Validity::Absent,
            status_report: false,
            message_reference: 0,
            concat_reference: 0,
        }
    }
}

impl SmsSubmit {
    /// The TPDUs for every part of a plan, with a concatenation header when
    /// there is more than one part.
    pub fn from_plan(plan: &Plan, options: &SubmitOptions) -> Vec<Self> {
        let total = plan.parts.len();
        let dcs = DataCodingScheme::decode(DataCodingScheme::encode(plan.alphabet, options.class));
        plan.parts
            .iter()
            .enumerate()
            .map(|(index, body)| {
                let header = (total > 1).then(|| {
                    UserDataHeader::concatenation(
                        Concatenation {
                            reference: if plan.wide_reference {
                                options.concat_reference
                            } else {
                                options.concat_reference & 0xFF
                            },
                            total: total as u8,
                            sequence: index as u8 + 1,
                        },
                        plan.wide_reference,
                    )
                });
                Self {
                    reject_duplicates: false,
                    reply_path: false,
                    status_report_request: options.status_report,
                    message_reference: options.message_reference,
                    destination: options.destination.clone(),
                    protocol_identifier: 0,
                    dcs,
                    validity: options.validity,
                    user_data: UserData {
                        header,
                        body: body.clone(),
                        split: Default::default(),
                    },
                }
            })
            .collect()
    }

    /// Encodes with an SMSC address in front (`None`: a zero length octet,
    /// so the modem uses the SIM's SMSC).
    pub fn encode(&self, smsc: Option<&Address>) -> Result<EncodedPdu, EncodeError> {
        let mut bytes = Vec::with_capacity(176);
        Address::encode_smsc(smsc, &mut bytes);
        let smsc_length = bytes.len();
        let first = 0x01
            | u8::from(self.reject_duplicates) << 2
            | self.validity.format_bits()
            | u8::from(self.status_report_request) << 5
            | u8::from(self.user_data.header.is_some()) << 6
            | u8::from(self.reply_path) << 7;
        bytes.push(first);
        bytes.push(self.message_reference);
        self.destination.encode_tp(&mut bytes);
        bytes.push(self.protocol_identifier);
        bytes.push(self.dcs.raw);
        self.validity.encode(&mut bytes);
        self.user_data.encode(self.body_alphabet(), &mut bytes)?;
        Ok(EncodedPdu {
            tpdu_length: bytes.len() - smsc_length,
            bytes,
        })
    }

    /// Decodes a TPDU (no SMSC in front).
    pub fn decode(tpdu: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(tpdu);
        let first = expect_type(&mut reader, 0x01, "SMS-SUBMIT")?;
        let message_reference = reader.u8("TP-MR")?;
        let destination = Address::decode_tp(&mut reader, "TP-DA")?;
        let protocol_identifier = reader.u8("TP-PID")?;
        let dcs = DataCodingScheme::decode(reader.u8("TP-DCS")?);
        let validity = Validity::decode(&mut reader, first)?;
        let user_data = UserData::decode(&mut reader, &dcs, first & 0x40 != 0)?;
        Ok(Self {
            reject_duplicates: first & 0x04 != 0,
            reply_path: first & 0x80 != 0,
            status_report_request: first & 0x20 != 0,
            message_reference,
            destination,
            protocol_identifier,
            dcs,
            validity,
            user_data,
        })
    }

    /// The alphabet the body is written in: compressed data goes as octets.
    fn body_alphabet(&self) -> Alphabet {
        if self.dcs.compressed {
            Alphabet::Eight
        } else {
            self.dcs.alphabet
        }
    }
}
