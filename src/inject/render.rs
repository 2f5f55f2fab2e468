//! The bytes of the outbox files `gammu-smsd-inject` writes for the files
//! backend: one `.smsbackup` file with a section per part (OutboxFormat
//! `detail`, gammu's default), or one `.txt` file per part (`standard`:
//! the text; `unicode`: a UTF-16BE BOM and the text). Pure.
//!
//! Where gammu depends on the locale, simgate writes what gammu writes
//! under a UTF-8 locale such as `C.UTF-8`: text as UTF-8, and the date in
//! the `; Saved` comment in the C locale's `%c` form.

use super::pack::Part;
use crate::pdu::Timestamp;
use crate::spool::inbox::{backup_header, escape, push_backup_text_lines};
use std::fmt::Write as _;

/// What every section of the file repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    /// The recipient, in UTF-16 code units.
    pub number: Vec<u16>,
    /// `-report`: gammu marks it by writing `PDU = Status_Report`.
    pub report: bool,
    /// `-reply`.
    pub reply_via_same_smsc: bool,
}

/// The local time of the injection and its offset from UTC in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    /// Local calendar fields.
    pub time: Timestamp,
    /// Offset from UTC in seconds (0 makes gammu write a `Z`).
    pub utc_offset_seconds: i32,
    /// Day of the week, 0 for Sunday.
    pub weekday: u8,
}

fn units_hex(units: &[u16]) -> String {
    let bytes: Vec<u8> = units.iter().flat_map(|unit| unit.to_be_bytes()).collect();
    crate::pdu::hex::encode(&bytes)
}

/// UTF-8 of UTF-16 units, as gammu converts them (it may cut a surrogate
/// pair between two parts): a lead surrogate at the very end becomes
/// U+FFFD, any other lone surrogate `?`.
pub(crate) fn utf8(units: &[u16]) -> String {
    let mut out = String::new();
    let mut index = 0;
    while index < units.len() {
        let unit = units[index];
        let next = units.get(index + 1).copied();
        index += 1;
        let ch = match (unit, next) {
            (0xD800..=0xDBFF, Some(low @ 0xDC00..=0xDFFF)) => {
                index += 1;
                char::from_u32(
                    0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00),
                )
            }
            (0xD800..=0xDBFF, None) => Some(char::REPLACEMENT_CHARACTER),
            _ => char::from_u32(u32::from(unit)),
        };
        out.push(ch.unwrap_or('?'));
    }
    out
}

/// `YYYYMMDDTHHMMSS`.
fn compact(time: &Timestamp) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}",
        time.year, time.month, time.day, time.hour, time.minute, time.second
    )
}

/// The text as a comment: `; ` lines of at most 76 bytes, a new line at
/// every CR or LF of the text (gammu counts bytes, and may cut inside a
/// UTF-8 sequence, as here).
fn comment(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"; ");
    let mut column = 0;
    for &byte in text.as_bytes() {
        if byte == b'\n' || byte == b'\r' {
            out.extend_from_slice(b"\n; ");
            column = 0;
            continue;
        }
        if column > 75 {
            out.extend_from_slice(b"\n; ");
            column = 0;
        }
        out.push(byte);
        column += 1;
    }
    out.push(b'\n');
}

/// The `.smsbackup` file of all parts.
pub(crate) fn smsbackup(parts: &[Part], envelope: &Envelope, written: &Written) -> Vec<u8> {
    let mut out = Vec::new();
    let stamp = compact(&written.time);
    out.extend_from_slice(backup_header(&written.time, Some(written.weekday)).as_bytes());
    let zone = if written.utc_offset_seconds == 0 {
        "Z"
    } else {
        ""
    };
    let number = utf8(&envelope.number);
    for (index, part) in parts.iter().enumerate() {
        out.extend_from_slice(format!("[SMSBackup{index:03}]\n").as_bytes());
        comment(&mut out, &utf8(&part.text));
        let mut section = String::new();
        let pdu = if envelope.report {
            "Status_Report"
        } else {
            "Submit"
        };
        let _ = write!(
            section,
            "PDU = {pdu}\nDateTime = {stamp}{zone}\r\nState = Sent\n\
             Number = \"{}\"\r\nNumberUnicode = {}\r\nName = \"\"\r\nNameUnicode = \r\n",
            escape(&number),
            units_hex(&envelope.number)
        );
        if !part.udh.is_empty() {
            let _ = writeln!(section, "UDH = {}", crate::pdu::hex::encode(&part.udh));
        }
        push_backup_text_lines(&mut section, &units_hex(&part.text));
        let coding = if part.unicode {
            "Unicode_No_Compression"
        } else {
            "Default_No_Compression"
        };
        let reply = if envelope.reply_via_same_smsc {
            "True"
        } else {
            "False"
        };
        let _ = write!(
            section,
            "Coding = {coding}\nFolder = 1\nLength = {}\nClass = {}\nReplySMSC = {reply}\n\
             RejectDuplicates = False\nReplaceMessage = {}\nMessageReference = 0\n\n",
            part.text.len(),
            part.class,
            part.replace
        );
        out.extend_from_slice(section.as_bytes());
    }
    out
}

/// A `.txt` file of OutboxFormat `standard`: the part's text.
pub(crate) fn standard_txt(part: &Part) -> Vec<u8> {
    utf8(&part.text).into_bytes()
}

/// A `.txt` file of OutboxFormat `unicode`: `FE FF` and UTF-16BE.
pub(crate) fn unicode_txt(part: &Part) -> Vec<u8> {
    let mut out = vec![0xFE, 0xFF];
    out.extend(part.text.iter().flat_map(|unit| unit.to_be_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written() -> Written {
        Written {
            time: Timestamp {
                year: 2026,
                month: 11,
                day: 25,
                hour: 20,
                minute: 47,
                second: 15,
                tz_quarters: 0,
            },
            utc_offset_seconds: 0,
            weekday: 3,
        }
    }

    #[test]
    fn the_flash_fixture_byte_for_byte() {
        let fixture = include_bytes!("../../tests/fixtures/inject/flash.smsbackup");
        let part = Part {
            udh: Vec::new(),
            text: "Flash!".encode_utf16().collect(),
            unicode: false,
            class: 0,
            replace: 0,
        };
        let envelope = Envelope {
            number: "+123456789".encode_utf16().collect(),
            report: false,
            reply_via_same_smsc: false,
        };
        let file = smsbackup(&[part], &envelope, &written());
        assert_eq!(
            String::from_utf8_lossy(&file),
            String::from_utf8_lossy(fixture)
        );
    }

    #[test]
    fn comments_wrap_at_76_bytes_and_at_line_breaks() {
        let mut out = Vec::new();
        comment(&mut out, &format!("{}\nx", "a".repeat(80)));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("; {}\n; aaaa\n; x\n", "a".repeat(76))
        );
    }

    #[test]
    fn offsets_drop_the_z_and_dates_pad_the_day() {
        let mut late = written();
        late.utc_offset_seconds = 3600;
        late.time.day = 3;
        let file = smsbackup(
            &[],
            &Envelope {
                number: vec![],
                report: false,
                reply_via_same_smsc: false,
            },
            &late,
        );
        assert!(String::from_utf8(file)
            .unwrap()
            .contains("(Wed Nov  3 20:47:15 2026)"));
        assert_eq!(
            unicode_txt(&Part {
                udh: vec![],
                text: vec![0x5A, 0xD83D, 0xDE00],
                unicode: true,
                class: -1,
                replace: 0
            }),
            [0xFE, 0xFF, 0x00, 0x5A, 0xD8, 0x3D, 0xDE, 0x00]
        );
    }
}
