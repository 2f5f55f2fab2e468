//! SMS information lines in PDU mode (3GPP TS 27.005): `+CMGS` (§3.5.1),
//! `+CMGL` (§3.4.2), `+CMGR` (§3.4.3), `+CPMS` (§3.2.2), `+CSCA`
//! (§3.3.1) and the new-message indications `+CMTI`, `+CMT`, `+CDSI`,
//! `+CDS` (§3.4.1).
//!
//! PDUs are hex-decoded into bytes, SMSC address included as the modem
//! sends it, and cut to the SMSC field and the `<length>` octets of TPDU
//! the modem announced ([`within_length`]): some modems pad the PDU line
//! after the message (with `FF`, sometimes `00`), and that padding is not
//! part of what arrived. Decoding the TPDU is the `pdu` module's job.

use super::fields::{invalid, list, Fields, ParseError};
use crate::pdu::hex::decode as decode_hex;

/// Message status `<stat>` in PDU mode (27.005 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// 0: received, unread.
    ReceivedUnread = 0,
    /// 1: received, read.
    ReceivedRead = 1,
    /// 2: stored, unsent.
    StoredUnsent = 2,
    /// 3: stored, sent.
    StoredSent = 3,
    /// 4: all messages (a `+CMGL` filter, never a message's own status).
    All = 4,
}

impl MessageStatus {
    /// Maps the numeric `<stat>`.
    pub fn from_code(code: u8) -> Option<Self> {
        use MessageStatus::*;
        [ReceivedUnread, ReceivedRead, StoredUnsent, StoredSent, All]
            .get(usize::from(code))
            .copied()
    }
}

/// Parses `+CMGS: <mr>[,<scts>]` into the TP-Message-Reference.
///
/// # Errors
/// Wrong prefix or `<mr>` not in 0..=255.
pub fn parse_cmgs(line: &str) -> Result<u8, ParseError> {
    Fields::of(line, "+CMGS")?.num(0, "mr")
}

/// A message read from storage with `+CMGL` or `+CMGR`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoredMessage {
    /// Storage index (for `+CMGR`, the index the caller asked for).
    pub index: u32,
    /// Message status.
    pub status: MessageStatus,
    /// Phonebook alphanumeric name of the sender, rarely present.
    pub alpha: Option<String>,
    /// `<length>`: TPDU length in octets, SMSC address excluded.
    pub length: u16,
    /// The PDU as sent by the modem (SMSC address, then TPDU), without
    /// octets after `length` (`within_length`).
    pub pdu: Vec<u8>,
}

/// `pdu` (SMSC field, then TPDU) cut after the SMSC field and `length`
/// octets of TPDU: the `<length>` a modem lists with a message is
/// authoritative, and octets after it are padding (gammu 1.42 accepts only
/// `FF` padding and stops reading every message at any other). Left whole
/// when `length` cannot be measured against it: 0 (an empty slot on some
/// modems), an SMSC length beyond the PDU, or more octets than there are
/// (the decoder then reports what is missing).
pub(super) fn within_length(mut pdu: Vec<u8>, length: u16) -> Vec<u8> {
    let end = pdu
        .first()
        .map(|smsc| 1 + usize::from(*smsc) + usize::from(length));
    if let Some(end) = end.filter(|&end| length > 0 && end < pdu.len()) {
        pdu.truncate(end);
    }
    pdu
}

fn status(f: &Fields<'_>, i: usize) -> Result<MessageStatus, ParseError> {
    let code = f.num(i, "stat")?;
    MessageStatus::from_code(code).ok_or_else(|| invalid("stat", &code.to_string()))
}

/// Parses the information lines of `AT+CMGL=<stat>`: each
/// `+CMGL: <index>,<stat>,[<alpha>],<length>` header followed by its PDU
/// line. One result per header, so a single corrupt message does not hide
/// the others; a broken entry whose index is known is reported as
/// [`ParseError::Entry`] so that it can still be deleted. Lines that are
/// neither a header nor the PDU after one are skipped.
pub fn parse_cmgl<S: AsRef<str>>(lines: &[S]) -> Vec<Result<StoredMessage, ParseError>> {
    let mut out = Vec::new();
    let mut lines = lines.iter().map(AsRef::as_ref).peekable();
    while let Some(line) = lines.next() {
        let Ok(f) = Fields::of(line, "+CMGL") else {
            continue;
        };
        let pdu = lines.next_if(|l| Fields::of(l, "+CMGL").is_err());
        out.push(f.num(0, "index").and_then(|index| {
            cmgl_entry(&f, index, pdu).map_err(|error| ParseError::Entry {
                index,
                error: Box::new(error),
                line: pdu.map(str::to_owned),
            })
        }));
    }
    out
}

fn cmgl_entry(f: &Fields<'_>, index: u32, pdu: Option<&str>) -> Result<StoredMessage, ParseError> {
    let length = f.num(3, "length")?;
    Ok(StoredMessage {
        index,
        status: status(f, 1)?,
        alpha: f.opt_str(2).map(str::to_owned),
        length,
        pdu: within_length(decode_hex(pdu.ok_or(ParseError::MissingPdu)?)?, length),
    })
}

/// Parses the information lines of `AT+CMGR=<index>`:
/// `+CMGR: <stat>,[<alpha>],<length>` and the PDU line.
///
/// # Errors
/// No header (an empty slot answers with no lines on most modems), a bad
/// header, or a missing or malformed PDU line.
pub fn parse_cmgr<S: AsRef<str>>(index: u32, lines: &[S]) -> Result<StoredMessage, ParseError> {
    let mut lines = lines.iter().map(AsRef::as_ref);
    let f = lines
        .by_ref()
        .find_map(|l| Fields::of(l, "+CMGR").ok())
        .ok_or(ParseError::Prefix("+CMGR"))?;
    let length = f.num(2, "length")?;
    Ok(StoredMessage {
        index,
        status: status(&f, 0)?,
        alpha: f.opt_str(1).map(str::to_owned),
        length,
        pdu: within_length(
            decode_hex(lines.next().ok_or(ParseError::MissingPdu)?)?,
            length,
        ),
    })
}

/// One message storage in a `+CPMS` answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoryUsage {
    /// Storage name (`"SM"`, `"ME"`, `"MT"`, ...); `None` in the answer
    /// to the set command, which gives counts only.
    pub memory: Option<String>,
    /// Messages stored.
    pub used: u32,
    /// Capacity.
    pub total: u32,
}

/// The three shapes of a `+CPMS:` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cpms {
    /// Set (`+CPMS: 3,30,3,30,3,30`) or read
    /// (`+CPMS: "SM",3,30,"SM",3,30,"SM",3,30`) answer: `<mem1>`..`<mem3>`.
    Usage(Vec<MemoryUsage>),
    /// Test answer `+CPMS: ("SM","ME"),("SM","ME"),("SM")`: the storages
    /// supported for `<mem1>`, `<mem2>`, `<mem3>`.
    Supported(Vec<Vec<String>>),
}

/// Parses any `+CPMS:` line, telling the shapes apart by their fields.
///
/// # Errors
/// Wrong prefix, no fields, an incomplete group, or bad numbers.
pub fn parse_cpms(line: &str) -> Result<Cpms, ParseError> {
    let f = Fields::of(line, "+CPMS")?;
    let first = f.raw(0).ok_or(ParseError::Missing("mem1"))?;
    if first.starts_with('(') {
        return (0..f.len())
            .map(|i| list(f.raw(i).unwrap_or("()")))
            .collect::<Result<_, _>>()
            .map(Cpms::Supported);
    }
    let named = !first.bytes().all(|b| b.is_ascii_digit());
    let width = if named { 3 } else { 2 };
    if f.len() % width != 0 {
        return Err(ParseError::Missing("total"));
    }
    (0..f.len())
        .step_by(width)
        .map(|i| {
            let n = usize::from(named);
            Ok(MemoryUsage {
                memory: named.then(|| f.opt_str(i).unwrap_or_default().to_owned()),
                used: f.num(i + n, "used")?,
                total: f.num(i + n + 1, "total")?,
            })
        })
        .collect::<Result<_, _>>()
        .map(Cpms::Usage)
}

/// `+CSCA: <sca>,<tosca>`: the service centre address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceCentre {
    /// The number, UCS-2 hex decoded when the modem used `+CSCS="UCS2"`.
    pub number: String,
    /// Type of address octet (145 international, 129 unknown/national).
    pub toa: Option<u8>,
}

impl ServiceCentre {
    /// True for an international number (type-of-number bits `001`, as in
    /// 145, or a leading `+`).
    pub fn is_international(&self) -> bool {
        self.number.starts_with('+') || self.toa.is_some_and(|t| t & 0x70 == 0x10)
    }
}

/// Decodes a UCS-2 hex string when every character is a dialling digit
/// (`0-9 + * #`); a plain number never decodes that way.
fn ucs2_number(s: &str) -> Option<String> {
    if s.len() < 8 || !s.len().is_multiple_of(4) {
        return None;
    }
    let bytes = decode_hex(s).ok()?;
    bytes
        .chunks_exact(2)
        .map(|u| match (u[0], char::from(u[1])) {
            (0, c @ ('0'..='9' | '+' | '*' | '#')) => Some(c),
            _ => None,
        })
        .collect()
}

/// Parses `+CSCA: "<sca>",<tosca>`.
///
/// # Errors
/// Wrong prefix, empty number, or a bad `<tosca>`.
pub fn parse_csca(line: &str) -> Result<ServiceCentre, ParseError> {
    let f = Fields::of(line, "+CSCA")?;
    let raw = f.str(0, "sca")?;
    Ok(ServiceCentre {
        number: ucs2_number(raw).unwrap_or_else(|| raw.to_owned()),
        toa: f.opt_num(1, "tosca")?,
    })
}

/// `<mem>,<index>` of `+CMTI` and `+CDSI`: where a new message was stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorageIndex {
    /// Storage name, e.g. `"SM"`, `"ME"`, `"SR"`.
    pub memory: String,
    /// Index in that storage.
    pub index: u32,
}

fn storage_index(line: &str, prefix: &'static str) -> Result<StorageIndex, ParseError> {
    let f = Fields::of(line, prefix)?;
    Ok(StorageIndex {
        memory: f.str(0, "mem")?.to_owned(),
        index: f.num(1, "index")?,
    })
}

/// Parses `+CMTI: <mem>,<index>` (new SMS-DELIVER stored).
///
/// # Errors
/// Wrong prefix or missing/invalid fields.
pub fn parse_cmti(line: &str) -> Result<StorageIndex, ParseError> {
    storage_index(line, "+CMTI")
}

/// Parses `+CDSI: <mem>,<index>` (new SMS-STATUS-REPORT stored).
///
/// # Errors
/// Wrong prefix or missing/invalid fields.
pub fn parse_cdsi(line: &str) -> Result<StorageIndex, ParseError> {
    storage_index(line, "+CDSI")
}

/// Parses the header `+CMT: [<alpha>],<length>` of a routed SMS-DELIVER;
/// returns `(alpha, length)`. The PDU follows on the next line.
///
/// # Errors
/// Wrong prefix or bad `<length>`.
pub fn parse_cmt_header(line: &str) -> Result<(Option<String>, u16), ParseError> {
    let f = Fields::of(line, "+CMT")?;
    Ok((f.opt_str(0).map(str::to_owned), f.num(1, "length")?))
}

/// Parses the header `+CDS: <length>` of a routed SMS-STATUS-REPORT.
/// The PDU follows on the next line.
///
/// # Errors
/// Wrong prefix or bad `<length>`.
pub fn parse_cds_header(line: &str) -> Result<u16, ParseError> {
    Fields::of(line, "+CDS")?.num(0, "length")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDU: &str =
        "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";

    #[test]
    fn cmgs() {
        assert_eq!(parse_cmgs("+CMGS: 12"), Ok(12));
        assert_eq!(parse_cmgs(r#"+CMGS: 255,"24/01/01,12:00:00+04""#), Ok(255));
        assert!(parse_cmgs("+CMGS: 256").is_err());
        assert!(parse_cmgs("+CMGS:").is_err());
    }

    #[test]
    fn cmgl_entries() {
        let lines = [
            "+CMGL: 0,1,,39".to_owned(),
            PDU.to_owned(),
            r#"+CMGL: 3,0,"Mum",39"#.to_owned(),
            PDU.to_lowercase(),
        ];
        let list = parse_cmgl(&lines);
        assert_eq!(list.len(), 2);
        let first = list[0].as_ref().unwrap();
        assert_eq!(
            (first.index, first.status, first.length),
            (0, MessageStatus::ReceivedRead, 39)
        );
        assert_eq!(first.pdu.len(), PDU.len() / 2);
        assert_eq!(first.pdu[..2], [0x07, 0x91]);
        let second = list[1].as_ref().unwrap();
        assert_eq!((second.index, second.alpha.as_deref()), (3, Some("Mum")));
        assert_eq!(second.pdu, first.pdu);
        assert!(parse_cmgl::<&str>(&[]).is_empty());
    }

    #[test]
    fn cmgl_broken_entries_do_not_hide_others() {
        let lines = [
            "+CMGL: 1,0,,3",
            "0011ZZ",
            "+CMGL: 2,9,,1",
            "00",
            "+CMGL: 4,0,,1",
            "+CMGL: 5,0,,1",
            "0001",
            "+CMGL: x",
        ];
        let list = parse_cmgl(&lines);
        assert_eq!(list.len(), 5);
        let index_of = |r: &Result<StoredMessage, ParseError>| match r {
            Err(ParseError::Entry { index, .. }) => Some(*index),
            _ => None,
        };
        assert_eq!(index_of(&list[0]), Some(1));
        assert_eq!(index_of(&list[1]), Some(2));
        assert!(
            matches!(&list[0], Err(ParseError::Entry { line: Some(line), .. }) if line == "0011ZZ"),
            "the broken PDU line is kept: {:?}",
            list[0]
        );
        assert!(
            matches!(&list[2], Err(ParseError::Entry { index: 4, error, line: None }) if **error == ParseError::MissingPdu)
        );
        assert_eq!(list[3].as_ref().unwrap().pdu, [0, 1]);
        assert!(matches!(
            list[4],
            Err(ParseError::Invalid { field: "index", .. })
        ));
    }

    #[test]
    fn cmgr() {
        let m = parse_cmgr(7, &["+CMGR: 0,,39", PDU]).unwrap();
        assert_eq!(
            (m.index, m.status, m.length),
            (7, MessageStatus::ReceivedUnread, 39)
        );
        assert_eq!(
            parse_cmgr(7, &["+CMGR: 0,,39"]),
            Err(ParseError::MissingPdu)
        );
        assert_eq!(parse_cmgr::<&str>(7, &[]), Err(ParseError::Prefix("+CMGR")));
        assert_eq!(
            parse_cmgr(7, &["+CMGR: 0,,39", "ABC"]),
            Err(ParseError::Hex(crate::pdu::HexError::OddLength(3)))
        );
        assert!(parse_cmgr(7, &["+CMGR: 5,,39", PDU]).is_err());
    }

    /// `PDU` (30 TPDU octets behind an 8-octet SMSC field) with `pad`
    /// appended, as hex.
    fn padded(pad: &str) -> String {
        format!("{PDU}{pad}")
    }

    #[test]
    fn padding_after_the_listed_length_is_cut() {
        let exact = decode_hex(PDU).unwrap();
        for pad in ["FF", "FFFFFFFFFFFFFFFFFFFF", "00", "0000FF12"] {
            let lines = ["+CMGL: 2,0,,30".to_owned(), padded(pad)];
            let listed = parse_cmgl(&lines).remove(0).unwrap();
            assert_eq!(listed.pdu, exact, "+CMGL padded with {pad}");
            let read = parse_cmgr(2, &["+CMGR: 0,,30".to_owned(), padded(pad)]).unwrap();
            assert_eq!(read.pdu, exact, "+CMGR padded with {pad}");
        }
    }

    #[test]
    fn a_pdu_is_not_cut_where_the_length_cannot_be_right() {
        let exact = decode_hex(PDU).unwrap();
        let whole = decode_hex(&padded("FFFF")).unwrap();
        // Longer than the PDU: the decoder says what is missing.
        let m = parse_cmgr(1, &["+CMGR: 0,,60", PDU]).unwrap();
        assert_eq!(m.pdu, exact);
        // 0 says nothing (Siemens lists empty slots so).
        let m = parse_cmgr(1, &["+CMGR: 0,,0".to_owned(), padded("FFFF")]).unwrap();
        assert_eq!(m.pdu, whole);
        // An SMSC length beyond the PDU: nothing to measure from.
        let line = format!("FF{}", &PDU[2..]);
        let m = parse_cmgr(1, &["+CMGR: 0,,10", line.as_str()]).unwrap();
        assert_eq!(m.pdu, decode_hex(&line).unwrap());
    }

    #[test]
    fn cpms_shapes() {
        let usage = |m: Option<&str>, used, total| MemoryUsage {
            memory: m.map(Into::into),
            used,
            total,
        };
        assert_eq!(
            parse_cpms("+CPMS: 3,30,3,30,3,30").unwrap(),
            Cpms::Usage(vec![
                usage(None, 3, 30),
                usage(None, 3, 30),
                usage(None, 3, 30)
            ])
        );
        assert_eq!(
            parse_cpms(r#"+CPMS: "SM",1,50,"ME",0,23,"SM",1,50"#).unwrap(),
            Cpms::Usage(vec![
                usage(Some("SM"), 1, 50),
                usage(Some("ME"), 0, 23),
                usage(Some("SM"), 1, 50)
            ])
        );
        assert_eq!(
            parse_cpms(r#"+CPMS: ("SM","ME"),("SM","ME"),("SM")"#).unwrap(),
            Cpms::Supported(vec![
                vec!["SM".into(), "ME".into()],
                vec!["SM".into(), "ME".into()],
                vec!["SM".into()]
            ])
        );
        for bad in [
            "+CPMS:",
            "+CPMS: 3,30,3",
            r#"+CPMS: "SM",1"#,
            r#"+CPMS: "SM",a,b"#,
            "+CPMS: (\"SM\"",
            "+CPMS: (\"SM\"),x",
        ] {
            assert!(parse_cpms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn csca() {
        let c = parse_csca(r#"+CSCA: "+491710760000",145"#).unwrap();
        assert_eq!((c.number.as_str(), c.toa), ("+491710760000", Some(145)));
        assert!(c.is_international());
        let c = parse_csca(r#"+CSCA: "002B003400390031003700310030003700360030003000300030",145"#)
            .unwrap();
        assert_eq!(c.number, "+491710760000");
        let c = parse_csca(r#"+CSCA: "01710760000",129"#).unwrap();
        assert!(!c.is_international());
        let c = parse_csca(r#"+CSCA: "00491710760000""#).unwrap();
        assert_eq!((c.number.as_str(), c.toa), ("00491710760000", None));
        assert!(parse_csca(r#"+CSCA: "",145"#).is_err());
        assert!(parse_csca(r#"+CSCA: "+49",999"#).is_err());
    }

    #[test]
    fn indications() {
        assert_eq!(
            parse_cmti(r#"+CMTI: "SM",3"#).unwrap(),
            StorageIndex {
                memory: "SM".into(),
                index: 3
            }
        );
        assert_eq!(parse_cdsi(r#"+CDSI: "SR",12"#).unwrap().index, 12);
        assert!(parse_cmti(r#"+CMTI: "SM""#).is_err());
        assert!(parse_cmti(r#"+CDSI: "SM",1"#).is_err());
        assert_eq!(parse_cmt_header("+CMT: ,24").unwrap(), (None, 24));
        assert_eq!(
            parse_cmt_header(r#"+CMT: "Bob",24"#).unwrap(),
            (Some("Bob".into()), 24)
        );
        assert_eq!(parse_cds_header("+CDS: 25"), Ok(25));
        assert!(parse_cds_header("+CDS:").is_err());
        assert!(parse_cmt_header("+CMT: 24").is_err());
    }
}
