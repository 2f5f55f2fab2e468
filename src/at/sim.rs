//! SIM lock state: `+CPIN: <code>` (3GPP TS 27.007 §8.3) and the remaining
//! PIN/PUK attempts, read with `+CPINR` (27.007 §8.65) or one of the vendor
//! commands that predate it (Huawei `^CPIN`, Quectel `+QPINC`, SIMCom
//! `+SPIC`).

use super::fields::{invalid, unquote, Fields, ParseError};

/// The `<code>` of `+CPIN:`: which password, if any, the modem waits for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PinStatus {
    /// `READY`: no password pending.
    Ready,
    /// `SIM PIN`.
    SimPin,
    /// `SIM PUK`.
    SimPuk,
    /// `PH-SIM PIN`: phone-to-SIM lock.
    PhSimPin,
    /// `PH-FSIM PIN`: phone-to-first-SIM lock.
    PhFsimPin,
    /// `PH-FSIM PUK`.
    PhFsimPuk,
    /// `SIM PIN2`.
    SimPin2,
    /// `SIM PUK2`.
    SimPuk2,
    /// `PH-NET PIN`, `PH-NETSUB PIN`, `PH-SP PIN`, `PH-CORP PIN`, their
    /// PUKs and other personalisation locks, as spelled by the modem.
    Personalisation(String),
    /// Vendor `NOT READY`: the SIM is still initialising.
    NotReady,
    /// Vendor `NOT INSERTED`.
    NotInserted,
    /// Anything else, verbatim.
    Other(String),
}

impl PinStatus {
    fn from_code(code: &str) -> Self {
        let upper = code.to_ascii_uppercase();
        match upper.as_str() {
            "READY" => Self::Ready,
            "SIM PIN" => Self::SimPin,
            "SIM PUK" => Self::SimPuk,
            "PH-SIM PIN" => Self::PhSimPin,
            "PH-FSIM PIN" => Self::PhFsimPin,
            "PH-FSIM PUK" => Self::PhFsimPuk,
            "SIM PIN2" => Self::SimPin2,
            "SIM PUK2" => Self::SimPuk2,
            "NOT READY" => Self::NotReady,
            "NOT INSERTED" | "SIM NOT INSERTED" => Self::NotInserted,
            u if u.starts_with("PH-") => Self::Personalisation(code.to_owned()),
            _ => Self::Other(code.to_owned()),
        }
    }

    /// True when the SIM is unlocked.
    pub fn is_ready(&self) -> bool {
        *self == Self::Ready
    }
}

/// Parses `+CPIN: <code>`.
///
/// # Errors
/// Wrong prefix or empty code.
pub fn parse_cpin(line: &str) -> Result<PinStatus, ParseError> {
    let code = unquote(super::fields::payload(line, "+CPIN")?);
    if code.is_empty() {
        return Err(ParseError::Missing("code"));
    }
    Ok(PinStatus::from_code(code))
}

/// Remaining attempts per password; `None` where the modem did not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PinRetries {
    /// SIM PIN attempts left.
    pub pin: Option<u8>,
    /// SIM PUK attempts left.
    pub puk: Option<u8>,
    /// SIM PIN2 attempts left.
    pub pin2: Option<u8>,
    /// SIM PUK2 attempts left.
    pub puk2: Option<u8>,
}

/// Parses the information lines of any supported retry-counter command:
///
/// - `+CPINR: <code>,<retries>[,<default_retries>]`, one line per code
///   (`SIM PIN`, `SIM PUK`, `SIM PIN2`, `SIM PUK2`; others ignored);
/// - Huawei `^CPIN: <code>,[<times>],<puk_times>,<pin_times>,<puk2_times>,<pin2_times>`;
/// - Quectel `+QPINC: "SC"|"P2",<pin_counter>,<puk_counter>`;
/// - SIMCom `+SPIC: <pin1>,<puk1>,<pin2>,<puk2>`.
///
/// Lines of other shapes are skipped.
///
/// # Errors
/// A recognised line with bad numbers, or no recognised line at all.
pub fn parse_pin_retries<S: AsRef<str>>(lines: &[S]) -> Result<PinRetries, ParseError> {
    let mut r = PinRetries::default();
    let mut seen = false;
    for line in lines.iter().map(AsRef::as_ref) {
        if let Ok(f) = Fields::of(line, "+CPINR") {
            let n = f.opt_num(1, "retries")?;
            match f.str(0, "code")?.to_ascii_uppercase().as_str() {
                "SIM PIN" => r.pin = n,
                "SIM PUK" => r.puk = n,
                "SIM PIN2" => r.pin2 = n,
                "SIM PUK2" => r.puk2 = n,
                _ => {}
            }
        } else if let Ok(f) = Fields::of(line, "^CPIN") {
            r.puk = f.opt_num(2, "puk_times")?;
            r.pin = f.opt_num(3, "pin_times")?;
            r.puk2 = f.opt_num(4, "puk2_times")?;
            r.pin2 = f.opt_num(5, "pin2_times")?;
        } else if let Ok(f) = Fields::of(line, "+QPINC") {
            let (pin, puk) = (f.opt_num(1, "pincounter")?, f.opt_num(2, "pukcounter")?);
            match f.str(0, "facility")? {
                "SC" => (r.pin, r.puk) = (pin, puk),
                "P2" => (r.pin2, r.puk2) = (pin, puk),
                other => return Err(invalid("facility", other)),
            }
        } else if let Ok(f) = Fields::of(line, "+SPIC") {
            r.pin = f.opt_num(0, "pin1")?;
            r.puk = f.opt_num(1, "puk1")?;
            r.pin2 = f.opt_num(2, "pin2")?;
            r.puk2 = f.opt_num(3, "puk2")?;
        } else {
            continue;
        }
        seen = true;
    }
    if seen {
        Ok(r)
    } else {
        Err(ParseError::Prefix("+CPINR"))
    }
}

/// The answer to `AT+CRSM` (restricted SIM access, 27.007 §8.18): the
/// status words and the data read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SimFileAnswer {
    /// `<sw1>`: 144 (0x90) is success.
    pub sw1: u8,
    /// `<sw2>`.
    pub sw2: u8,
    /// `<response>`, decoded from hex; empty when absent.
    pub data: Vec<u8>,
}

impl SimFileAnswer {
    /// Whether the SIM answered "normal ending" (`90 00`, or `91 xx`).
    pub fn is_ok(&self) -> bool {
        self.sw1 == 0x90 || self.sw1 == 0x91
    }
}

/// EF_SMSS (`6F43`): the SMS status file, whose first octet is the TP-MR
/// the modem used last (3GPP TS 31.102 §4.2.9, TS 51.011 §10.5.7).
pub const EF_SMSS: u16 = 0x6F43;

/// EF_ICCID (`2FE2`): the SIM's serial number, readable without the PIN
/// (TS 102 221 §13.2).
pub const EF_ICCID: u16 = 0x2FE2;

/// Parses `+CRSM: <sw1>,<sw2>[,<response>]`.
///
/// # Errors
/// Wrong prefix, missing status words, or a response that is not hex.
pub fn parse_crsm(line: &str) -> Result<SimFileAnswer, ParseError> {
    let fields = Fields::of(line, "+CRSM")?;
    let data = match fields.opt_str(2) {
        Some(hex) => crate::pdu::hex::decode(hex)?,
        None => Vec::new(),
    };
    Ok(SimFileAnswer {
        sw1: fields.num(0, "sw1")?,
        sw2: fields.num(1, "sw2")?,
        data,
    })
}

/// The ICCID from the answer lines of one of the commands modems use to
/// report it (`+CCID`, `+ICCID`, `+QCCID`, `^ICCID`, or a bare line of
/// digits): 18 to 22 digits, a trailing `F` filler dropped.
pub fn parse_iccid(lines: &[String]) -> Option<String> {
    lines.iter().find_map(|line| {
        let value = ["+CCID", "+ICCID", "+QCCID", "^ICCID"]
            .iter()
            .find_map(|prefix| super::fields::payload(line, prefix).ok())
            .unwrap_or_else(|| line.trim());
        iccid_digits(unquote(value))
    })
}

/// The ICCID stored in EF_ICCID: BCD with swapped nibbles, `F` filler.
pub fn iccid_from_ef(data: &[u8]) -> Option<String> {
    let text: String = data
        .iter()
        .flat_map(|b| [b & 0x0F, b >> 4])
        .map(|nibble| char::from_digit(u32::from(nibble), 16).unwrap_or('F'))
        .collect();
    iccid_digits(&text)
}

fn iccid_digits(text: &str) -> Option<String> {
    let text = text.trim().trim_end_matches(['F', 'f']);
    ((18..=22).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_files_and_serial_numbers() {
        let smss = parse_crsm("+CRSM: 144,0,\"2AFE\"").unwrap();
        assert!(smss.is_ok());
        assert_eq!(smss.data, [0x2A, 0xFE]);
        let denied = parse_crsm("+CRSM: 106,130").unwrap();
        assert!(!denied.is_ok() && denied.data.is_empty());
        assert!(parse_crsm("+CRSM: 144,0,\"2X\"").is_err());
        assert!(parse_crsm("+CSQ: 1,2").is_err());
        let lines = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        for answer in [
            "+CCID: \"89490200001234567890\"",
            "+ICCID: 89490200001234567890",
            "+QCCID: 89490200001234567890F",
            "89490200001234567890",
        ] {
            assert_eq!(
                parse_iccid(&lines(&[answer])).as_deref(),
                Some("89490200001234567890"),
                "{answer}"
            );
        }
        assert_eq!(parse_iccid(&lines(&["+CCID: 12"])), None);
        assert_eq!(parse_iccid(&lines(&["ERROR"])), None);
        assert_eq!(
            iccid_from_ef(&[0x98, 0x94, 0x20, 0x00, 0x00, 0x21, 0x43, 0x65, 0x87, 0x09]).as_deref(),
            Some("89490200001234567890")
        );
        assert_eq!(
            iccid_from_ef(&[0x98, 0x94, 0x20, 0x00, 0x00, 0x21, 0x43, 0x65, 0x87, 0xF9]).as_deref(),
            Some("8949020000123456789")
        );
    }

    #[test]
    fn cpin() {
        assert_eq!(parse_cpin("+CPIN: READY"), Ok(PinStatus::Ready));
        assert!(parse_cpin("+CPIN: READY").unwrap().is_ready());
        assert_eq!(parse_cpin("+CPIN: SIM PIN"), Ok(PinStatus::SimPin));
        assert_eq!(parse_cpin("+CPIN: SIM PUK2"), Ok(PinStatus::SimPuk2));
        assert_eq!(parse_cpin("+CPIN: PH-SIM PIN"), Ok(PinStatus::PhSimPin));
        assert_eq!(parse_cpin(r#"+CPIN: "SIM PUK""#), Ok(PinStatus::SimPuk));
        assert_eq!(
            parse_cpin("+CPIN: PH-NET PIN"),
            Ok(PinStatus::Personalisation("PH-NET PIN".into()))
        );
        assert_eq!(parse_cpin("+CPIN: NOT READY"), Ok(PinStatus::NotReady));
        assert_eq!(
            parse_cpin("+CPIN: NOT INSERTED"),
            Ok(PinStatus::NotInserted)
        );
        assert_eq!(
            parse_cpin("+CPIN: BLOCKED"),
            Ok(PinStatus::Other("BLOCKED".into()))
        );
        assert_eq!(parse_cpin("+CPIN:"), Err(ParseError::Missing("code")));
        assert!(parse_cpin("+CPINR: SIM PIN,3,3").is_err());
    }

    #[test]
    fn cpinr_lines() {
        let lines = [
            "+CPINR: SIM PIN,3,3",
            "+CPINR: SIM PUK,10,10",
            "+CPINR: SIM PIN2,2,3",
            "+CPINR: SIM PUK2,10,10",
        ];
        let r = parse_pin_retries(&lines).unwrap();
        assert_eq!(
            r,
            PinRetries {
                pin: Some(3),
                puk: Some(10),
                pin2: Some(2),
                puk2: Some(10)
            }
        );
        let r = parse_pin_retries(&[r#"+CPINR: "SIM PIN",1,3"#, "+CPINR: PH-NET PIN,3,3"]).unwrap();
        assert_eq!((r.pin, r.puk), (Some(1), None));
    }

    #[test]
    fn vendor_forms() {
        let r = parse_pin_retries(&["^CPIN: SIM PIN,3,10,3,10,2"]).unwrap();
        assert_eq!(
            r,
            PinRetries {
                pin: Some(3),
                puk: Some(10),
                pin2: Some(2),
                puk2: Some(10)
            }
        );
        let r = parse_pin_retries(&["^CPIN: READY,,10,3,10,3"]).unwrap();
        assert_eq!((r.pin, r.puk), (Some(3), Some(10)));
        let r = parse_pin_retries(&[r#"+QPINC: "SC",3,10"#, r#"+QPINC: "P2",2,10"#]).unwrap();
        assert_eq!(
            r,
            PinRetries {
                pin: Some(3),
                puk: Some(10),
                pin2: Some(2),
                puk2: Some(10)
            }
        );
        let r = parse_pin_retries(&["+SPIC: 3,10,3,10"]).unwrap();
        assert_eq!(
            r,
            PinRetries {
                pin: Some(3),
                puk: Some(10),
                pin2: Some(3),
                puk2: Some(10)
            }
        );
    }

    #[test]
    fn retries_errors() {
        assert!(parse_pin_retries::<&str>(&[]).is_err());
        assert!(parse_pin_retries(&["OK"]).is_err());
        assert!(parse_pin_retries(&["+SPIC: x"]).is_err());
        assert!(parse_pin_retries(&["+CPINR: SIM PIN,300"]).is_err());
        assert!(parse_pin_retries(&[r#"+QPINC: "XX",3,10"#]).is_err());
    }
}
