//! Unsolicited result codes: the typed [`Urc`]s simgate acts on (27.005
//! §3.4.1 `+CMTI`/`+CMT`/`+CDSI`/`+CDS`, 27.007 §6.9 `+CLIP`, §6.10
//! `RING`, §7.2 and §10.1 registration, §8.3 `+CPIN`), and recognition of
//! vendor chatter (Huawei `^`, ZTE `+Z`, Quectel `+Q`, SIMCom boot lines)
//! that is reported as noise.

use super::fields::{Fields, ParseError};
use super::network::{parse_registration, RegForm, Registration};
use super::sim::{parse_cpin, PinStatus};
use super::sms::{
    parse_cds_header, parse_cdsi, parse_cmt_header, parse_cmti, within_length, StorageIndex,
};
use crate::pdu::hex::decode as decode_hex;

/// `+CLIP: <number>,<type>[,<subaddr>,<satype>[,[<alpha>][,<CLI validity>]]]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Clip {
    /// Calling number (empty when withheld).
    pub number: String,
    /// Type of address octet (145 international).
    pub toa: Option<u8>,
    /// Phonebook name, if the modem looked it up.
    pub alpha: Option<String>,
    /// 0 valid, 1 withheld, 2 unavailable.
    pub validity: Option<u8>,
}

/// Parses `+CLIP:`.
///
/// # Errors
/// Wrong prefix or non-numeric `<type>`/`<CLI validity>`.
pub fn parse_clip(line: &str) -> Result<Clip, ParseError> {
    let f = Fields::of(line, "+CLIP")?;
    Ok(Clip {
        number: f.opt_str(0).unwrap_or_default().to_owned(),
        toa: f.opt_num(1, "type")?,
        alpha: f.opt_str(4).map(str::to_owned),
        validity: f.opt_num(5, "CLI validity")?,
    })
}

/// An unsolicited result code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Urc {
    /// `+CMTI`: an SMS-DELIVER was stored.
    NewMessage(StorageIndex),
    /// `+CMT` and the PDU line after it: an SMS-DELIVER routed directly
    /// (to be acknowledged with `+CNMA` when `+CSMS=1`).
    Deliver {
        /// Phonebook name of the sender, rarely present.
        alpha: Option<String>,
        /// TPDU length in octets.
        length: u16,
        /// SMSC address and TPDU, without octets after `length`
        /// (`within_length`).
        pdu: Vec<u8>,
    },
    /// `+CDS` and the PDU line after it: an SMS-STATUS-REPORT.
    StatusReport {
        /// TPDU length in octets.
        length: u16,
        /// SMSC address and TPDU, without octets after `length`
        /// (`within_length`).
        pdu: Vec<u8>,
    },
    /// `+CDSI`: an SMS-STATUS-REPORT was stored.
    StatusReportStored(StorageIndex),
    /// `RING`: incoming call.
    Ring,
    /// `+CLIP`: calling line identity.
    CallerId(Clip),
    /// `+CREG`/`+CGREG`/`+CEREG`/`+C5GREG` registration change.
    Registration(Registration),
    /// `+CPIN` reported unsolicited (e.g. `READY` after boot).
    SimStatus(PinStatus),
    /// A line received while no command was pending that is none of the
    /// above and not known noise.
    Other(String),
    /// A known unsolicited code that did not parse.
    Malformed {
        /// The line as received (for `+CMT`/`+CDS`, the header line, then
        /// CR LF and the PDU line when there was one).
        line: String,
        /// What is wrong with it.
        error: ParseError,
    },
}

/// A recognised unsolicited line.
#[derive(Debug)]
pub(crate) enum Unsolicited {
    /// Complete in one line.
    Urc(Urc),
    /// The first line of `+CMT`/`+CDS`; the PDU line follows.
    Header(PduHeader),
    /// Vendor chatter.
    Noise,
}

/// A `+CMT`/`+CDS` header waiting for its PDU line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PduHeader {
    line: String,
    alpha: Option<String>,
    length: u16,
    report: bool,
}

impl PduHeader {
    /// Completes the URC with the PDU line.
    pub(crate) fn complete(self, pdu_line: &str) -> Urc {
        match decode_hex(pdu_line).map(|pdu| within_length(pdu, self.length)) {
            Ok(pdu) if self.report => Urc::StatusReport {
                length: self.length,
                pdu,
            },
            Ok(pdu) => Urc::Deliver {
                alpha: self.alpha,
                length: self.length,
                pdu,
            },
            Err(error) => Urc::Malformed {
                line: format!("{}\r\n{pdu_line}", self.line),
                error: error.into(),
            },
        }
    }

    /// The URC to report when no PDU line came.
    pub(crate) fn fail(self, error: ParseError) -> Urc {
        Urc::Malformed {
            line: self.line,
            error,
        }
    }
}

/// Vendor unsolicited lines with no meaning for simgate, by name (the
/// part before `:`), or whole line for those without a colon.
const NOISE: &[&str] = &[
    // Huawei
    "^RSSI",
    "^HCSQ",
    "^BOOT",
    "^MODE",
    "^DSFLOWRPT",
    "^SRVST",
    "^SIMST",
    "^CURC",
    "^STIN",
    "^NDISSTAT",
    "^RFSWITCH",
    "^ORIG",
    "^CONF",
    "^CONN",
    "^CEND",
    "^EONS",
    "^NWTIME",
    "^CERSSI",
    "^LTERSRP",
    "^ECCLIST",
    "^ACTIVEBAND",
    "^SYSSTART",
    // ZTE
    "+ZEND",
    "+ZPBIC",
    "+ZUSIMR",
    // Quectel
    "+QIND",
    "+QUSIM",
    "RDY",
    // SIMCom
    "*PSUTTZ",
    "*PSNWID",
    "+CIEV",
    "DST",
    "+PACSP",
    "Call Ready",
    "SMS Ready",
    "PB DONE",
    "SMS DONE",
    "NORMAL POWER DOWN",
    "+CFUN",
    // 27.007 reports simgate does not enable on purpose
    "+CTZV",
    "+CTZE",
    "+NITZ",
    "+CGEV",
    "+STIN",
];

/// The name of a line: the part before the first `:`, trimmed.
pub(crate) fn line_name(line: &str) -> &str {
    line.split(':').next().unwrap_or_default().trim()
}

fn typed<T>(line: &str, parsed: Result<T, ParseError>, make: impl FnOnce(T) -> Urc) -> Unsolicited {
    Unsolicited::Urc(match parsed {
        Ok(value) => make(value),
        Err(error) => Urc::Malformed {
            line: line.to_owned(),
            error,
        },
    })
}

/// Recognises an unsolicited line; `None` for lines of unknown kind.
pub(crate) fn classify(line: &str) -> Option<Unsolicited> {
    let name = line_name(line).to_ascii_uppercase();
    Some(match name.as_str() {
        "+CMTI" => typed(line, parse_cmti(line), Urc::NewMessage),
        "+CDSI" => typed(line, parse_cdsi(line), Urc::StatusReportStored),
        "+CMT" | "+CDS" => {
            let header = if name == "+CDS" {
                parse_cds_header(line).map(|length| (None, length))
            } else {
                parse_cmt_header(line)
            };
            match header {
                Ok((alpha, length)) => Unsolicited::Header(PduHeader {
                    line: line.to_owned(),
                    alpha,
                    length,
                    report: name == "+CDS",
                }),
                Err(error) => Unsolicited::Urc(Urc::Malformed {
                    line: line.to_owned(),
                    error,
                }),
            }
        }
        "RING" => Unsolicited::Urc(Urc::Ring),
        "+CLIP" => typed(line, parse_clip(line), Urc::CallerId),
        "+CREG" | "+CGREG" | "+CEREG" | "+C5GREG" => typed(
            line,
            parse_registration(line, RegForm::Unsolicited),
            Urc::Registration,
        ),
        "+CPIN" => typed(line, parse_cpin(line), Urc::SimStatus),
        n if NOISE.iter().any(|k| k.eq_ignore_ascii_case(n)) => Unsolicited::Noise,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::at::network::RegStatus;

    fn urc(line: &str) -> Urc {
        match classify(line) {
            Some(Unsolicited::Urc(u)) => u,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn clip() {
        let c = parse_clip(r#"+CLIP: "+4912345",145,"",,"Alice",0"#).unwrap();
        assert_eq!(c.number, "+4912345");
        assert_eq!(
            (c.toa, c.alpha.as_deref(), c.validity),
            (Some(145), Some("Alice"), Some(0))
        );
        let c = parse_clip(r#"+CLIP: "",128,,,,1"#).unwrap();
        assert_eq!((c.number.as_str(), c.validity), ("", Some(1)));
        assert!(parse_clip("+CLIP: \"1\",x").is_err());
    }

    #[test]
    fn typed_urcs() {
        assert_eq!(
            urc(r#"+CMTI: "SM",3"#),
            Urc::NewMessage(StorageIndex {
                memory: "SM".into(),
                index: 3
            })
        );
        assert_eq!(
            urc(r#"+CDSI: "SR",1"#),
            Urc::StatusReportStored(StorageIndex {
                memory: "SR".into(),
                index: 1
            })
        );
        assert_eq!(urc("RING"), Urc::Ring);
        assert!(matches!(urc(r#"+CLIP: "+4912345",145"#), Urc::CallerId(_)));
        assert!(matches!(urc("+CREG: 1"), Urc::Registration(r) if r.status == RegStatus::Home));
        assert!(
            matches!(urc("+CEREG: 5,\"00FA\",\"0A1B2C3\",7"), Urc::Registration(r) if r.status == RegStatus::Roaming)
        );
        assert_eq!(urc("+CPIN: READY"), Urc::SimStatus(PinStatus::Ready));
        assert!(matches!(urc("+CMTI: SM"), Urc::Malformed { .. }));
        assert!(matches!(urc("+CMT: x"), Urc::Malformed { .. }));
    }

    #[test]
    fn two_line_headers() {
        let Some(Unsolicited::Header(h)) = classify("+CMT: ,3") else {
            panic!()
        };
        assert_eq!(
            h.clone().complete("000102"),
            Urc::Deliver {
                alpha: None,
                length: 3,
                pdu: vec![0, 1, 2]
            }
        );
        assert!(matches!(
            h.complete("0G"),
            Urc::Malformed {
                error: ParseError::Hex(_),
                ..
            }
        ));
        let Some(Unsolicited::Header(h)) = classify("+CDS: 2") else {
            panic!()
        };
        assert_eq!(
            h.complete("0A0B"),
            Urc::StatusReport {
                length: 2,
                pdu: vec![10, 11]
            }
        );
    }

    #[test]
    fn routed_pdus_are_cut_to_their_length() {
        let Some(Unsolicited::Header(h)) = classify("+CMT: ,3") else {
            panic!()
        };
        assert_eq!(
            h.complete("00010203FFFFFF"),
            Urc::Deliver {
                alpha: None,
                length: 3,
                pdu: vec![0, 1, 2, 3]
            }
        );
        let Some(Unsolicited::Header(h)) = classify("+CDS: 2") else {
            panic!()
        };
        assert_eq!(
            h.complete("00AABB00"),
            Urc::StatusReport {
                length: 2,
                pdu: vec![0, 0xAA, 0xBB]
            }
        );
    }

    #[test]
    fn noise_and_unknown() {
        for line in [
            "^RSSI:15",
            "^BOOT:12345,0,0,0,75",
            "+QIND: SMS DONE",
            "Call Ready",
            "SMS Ready",
            "DST: 1",
            "+ZPBIC: 1,1",
            "*PSUTTZ: 2024,1,1",
            "RDY",
            "^HCSQ:\"LTE\",50,40,120,20",
        ] {
            assert!(matches!(classify(line), Some(Unsolicited::Noise)), "{line}");
        }
        for line in [
            "+CSQ: 1,1",
            "867322035101234",
            "Quectel",
            "^SYSINFO:2,3,0,5,1",
            "",
        ] {
            assert!(classify(line).is_none(), "{line}");
        }
    }
}
