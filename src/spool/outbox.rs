//! Outbox file contents (spec §3, §4.5): a `.txt` or `.smsbackup` file to an
//! [`OutgoingMessage`], that message to the [`SmsSubmit`]s to send, and the
//! `MessageReference` rewrite of a sent `.smsbackup` file. Pure: bytes in,
//! values out.
//!
//! # `.txt` files (§3.1)
//!
//! - `FF FE` / `FE FF` at the start: UTF-16LE / UTF-16BE, BOM dropped, as
//!   gammu does. An odd number of octets or an unpaired surrogate is an
//!   error (gammu would send whatever it made of it).
//! - Otherwise UTF-8, **whatever the daemon's locale** (quirk Q5: gammu
//!   decodes with the locale and cuts the text at the first byte it cannot
//!   decode, so in `C` a UTF-8 file lost everything after the first
//!   non-ASCII character). A leading UTF-8 BOM is dropped. Bytes that are not
//!   UTF-8 are an error by default ([`Utf8Fallback::Reject`]): simgate cannot
//!   know which legacy charset the producer meant, and guessing would send
//!   wrong characters without anyone noticing.
//! - gammu ends the text at the first NUL (a `00` byte, or a `00 00` unit in
//!   UTF-16). simgate accepts NULs only as trailing padding and drops them;
//!   a NUL followed by more content (typically UTF-16 without a BOM) is an
//!   error instead of a silently truncated message.
//! - The whole content is the message, exactly as gammu sends it: no
//!   trimming; CR, LF and a final newline are part of the text (§3.1.1
//!   obs: `line1\r\nline2\n` went out as 13 characters).
//! - An empty file (or a lone BOM) is an empty message, as in gammu (§2.1
//!   obs). The daemon's settle check, not this parser, is what keeps a file
//!   that is still being written from being sent (quirk Q1);
//!   [`OutgoingMessage::is_empty`] lets the daemon apply a policy of its own.
//! - Flags from the name: `d` asks for a delivery report, `f` makes a flash
//!   (class 0) message; `b` (a Nokia WAP bookmark in WBXML over WAP push) is
//!   not implemented and gives [`ContentError::WapBookmarkUnsupported`].
//! - The text is planned later, under the daemon's `TransmitFormat`
//!   ([`OutgoingBody::Text`] carries no policy of its own), and always goes
//!   through the phone's SMSC (§3.1.4): `smsc` is `None`.
//! - Files longer than [`MAX_OUTBOX_FILE_BYTES`] are an error. gammu read
//!   the first 65 000 bytes and silently dropped the rest; simgate never
//!   sends part of a file.
//!
//! # `.smsbackup` files (§3.2, §2.7)
//!
//! Read with gammu's INI dialect ([`crate::ini`]): sections whose name starts
//! with `SMSBackup` (any case), in file order, until the first one without a
//! `Number`; each is one part, sent as written: its `UDH`, its `Coding`
//! (`Default`/`Default_No_Compression` → GSM 7-bit, `Unicode`/
//! `Unicode_No_Compression` → UCS-2, `8bit` or missing/unknown → 8-bit), its
//! `Text00`, `Text01`… (hex UTF-16BE for text codings, hex octets for 8-bit),
//! its `Class` (-1 none, 0-3 a class, other values none as in gammu),
//! `PDU = Status_Report` (ask for a delivery report), `ReplySMSC` (TP-RP) and
//! `RejectDuplicates` (TP-RD). The recipient is `NumberUnicode` (hex
//! UTF-16BE) or else `Number`, whose quotes are removed when present (quirk
//! Q29: gammu strips the first and last character blindly); the SMSC is
//! `SMSCUnicode`/`SMSC` of the first part, if any. The file name plays no
//! part. There is no validity field.
//!
//! Fixes over 1.42 (each an error where gammu did something worse):
//! an empty file or one with no usable section (Q12: gammu spun at 100% CPU,
//! or "sent" nothing and ran RunOnSent); two sections with the same name (the
//! shape of 1.42's duplicated sent files, Q9: gammu would look every key up in
//! the first one); parts for different numbers; `Class = 127` (USSD, not a
//! message); the compression codings (gammu set the DCS bit but never
//! compressed); malformed hex or UDH; text longer than one part can carry
//! (gammu cut it at 160 characters).
//!
//! # The `MessageReference` rewrite (§4.5, quirk Q9)
//!
//! [`record_message_references`] sets `MessageReference = N` in the k-th
//! section for the k-th reference, leaving every other byte alone. It never
//! duplicates content (1.42 appended the file to itself) and is idempotent.

use crate::ini::{atoi, parse_bool, Ini, Section};
use crate::pdu::{
    plan_text, Address, AddressError, Alphabet, Body, DataCodingScheme, EncodeError,
    EncodingPolicy, MessageClass, PlanError, SmsSubmit, SubmitOptions, UserData, UserDataHeader,
    Validity,
};

use super::name::{Flags, OutboxKind, OutboxName};

/// The largest outbox file simgate reads, in bytes; the file-system layer
/// checks the size before reading. Far above any sendable message: 255
/// parts of GSM 7-bit text written as UTF-16 take 78 KB, a 255-section
/// `.smsbackup` file about 300 KB.
pub(crate) const MAX_OUTBOX_FILE_BYTES: u64 = 512 * 1024;

// A 10 MB file must be refused from its size alone.
const _: () = assert!(MAX_OUTBOX_FILE_BYTES < 10 * 1024 * 1024);

/// What to do with a `.txt` file that has no BOM and is not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) enum Utf8Fallback {
    /// An error ([`ContentError::InvalidUtf8`]): the file goes to the error
    /// directory.
    #[default]
    Reject,
}

/// How a `.txt` file was decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TextCharset {
    /// UTF-8 (with or without a BOM).
    Utf8,
    /// UTF-16LE after an `FF FE` BOM.
    Utf16Le,
    /// UTF-16BE after an `FE FF` BOM.
    Utf16Be,
}

/// A message read from an outbox file, ready to be turned into PDUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutgoingMessage {
    /// The destination as written (before number normalisation).
    pub recipient: String,
    /// What to send.
    pub body: OutgoingBody,
    /// Ask for a delivery report for every part. For prepared parts this is
    /// in addition to each part's own request.
    pub delivery_report: bool,
    /// The class of a text body; for prepared parts, the first part's class
    /// (each part carries its own).
    pub class: Option<MessageClass>,
    /// A validity period from the file; outbox files have none, so the
    /// daemon applies its configured one.
    pub validity: Option<Validity>,
    /// The SMSC the file asks for; `None`: the configured or the phone's.
    pub smsc: Option<String>,
    /// How a `.txt` file was decoded; `None` for `.smsbackup` files.
    pub charset: Option<TextCharset>,
}

/// The content of an outgoing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutgoingBody {
    /// Text to plan: split and encoded by the daemon.
    Text {
        /// The text.
        text: String,
        /// The encoding policy the file asks for; `None`: the daemon's
        /// (`TransmitFormat`).
        policy: Option<EncodingPolicy>,
    },
    /// Parts prepared by the producer, sent exactly as given.
    Parts(Vec<PreparedPart>),
}

/// One physical message of a `.smsbackup` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PreparedPart {
    /// The user data header from the file (`UDH`), kept octet for octet.
    pub header: Option<UserDataHeader>,
    /// Text for GSM 7-bit and UCS-2 parts, octets for 8-bit ones.
    pub body: Body,
    /// From `Coding`.
    pub alphabet: Alphabet,
    /// From `Class`.
    pub class: Option<MessageClass>,
    /// `PDU = Status_Report`: ask for a delivery report.
    pub status_report: bool,
    /// `RejectDuplicates = True`: TP-RD.
    pub reject_duplicates: bool,
    /// `ReplySMSC = True`: TP-RP.
    pub reply_path: bool,
}

/// Why an outbox file cannot be sent. The daemon moves it to the error
/// directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ContentError {
    /// The file is larger than [`MAX_OUTBOX_FILE_BYTES`].
    #[error("the file has {size} bytes; outbox files are limited to {max}")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A `.txt` file without a BOM that is not UTF-8.
    #[error(
        "the text is not valid UTF-8 (byte offset {offset}); save it as UTF-8 or UTF-16 with a BOM"
    )]
    InvalidUtf8 {
        /// Where the first invalid sequence starts.
        offset: usize,
    },
    /// A UTF-16 `.txt` file with an odd number of octets after the BOM.
    #[error("UTF-16 text has an odd number of octets ({0}) after the BOM")]
    OddUtf16Length(usize),
    /// A UTF-16 `.txt` file with an unpaired surrogate.
    #[error("UTF-16 text has an unpaired surrogate at code unit {0}")]
    UnpairedSurrogate(usize),
    /// A NUL followed by more content.
    #[error(
        "the text has a NUL at byte offset {0} followed by more text; is it UTF-16 without a BOM?"
    )]
    EmbeddedNul(usize),
    /// A NUL unit followed by more content in UTF-16 text (after its BOM).
    #[error("the UTF-16 text has a NUL at byte offset {0} followed by more text")]
    EmbeddedUtf16Nul(usize),
    /// The `b` flag.
    #[error("WAP bookmarks (the 'b' flag) are not supported")]
    WapBookmarkUnsupported,
    /// An empty `.smsbackup` file, or one without a `[SMSBackup…]` section
    /// that has a `Number`.
    #[error("the .smsbackup file has no [SMSBackupNNN] section with a Number")]
    NoMessage,
    /// Two taken sections with the same name.
    #[error("section [{0}] appears twice (a file duplicated by gammu 1.42?)")]
    DuplicateSection(String),
    /// A key whose value cannot be used.
    #[error("[{section}] {key}: {reason}")]
    InvalidField {
        /// The section.
        section: String,
        /// The key.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An empty recipient.
    #[error("[{0}] has an empty Number")]
    EmptyRecipient(String),
    /// A part for another number than the first part.
    #[error("[{section}] is for {number:?} but the first part is for {first:?}")]
    MixedRecipients {
        /// The section.
        section: String,
        /// Its number.
        number: String,
        /// The first part's number.
        first: String,
    },
    /// A coding simgate does not send.
    #[error("[{section}] Coding = {coding} is not supported")]
    UnsupportedCoding {
        /// The section.
        section: String,
        /// The coding.
        coding: String,
    },
    /// `Class = 127`: a USSD request, which is not a message.
    #[error("[{0}] is a USSD request (Class = 127), which simgate does not send from the outbox")]
    Ussd(String),
}

/// Why a message cannot be turned into PDUs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SubmitError {
    /// The recipient is not a number an SMS can be addressed to.
    #[error("recipient {recipient:?}: {source}")]
    Recipient {
        /// The recipient.
        recipient: String,
        /// Why.
        source: AddressError,
    },
    /// The SMSC is not a number.
    #[error("SMSC {smsc:?}: {source}")]
    Smsc {
        /// The SMSC.
        smsc: String,
        /// Why.
        source: AddressError,
    },
    /// The text cannot be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A prepared part does not fit one message or does not match its
    /// coding.
    #[error("part {part}: {source}")]
    Encode {
        /// 1-based part number.
        part: usize,
        /// Why.
        source: EncodeError,
    },
}

impl OutgoingMessage {
    /// Whether there is nothing to say: an empty text.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        match &self.body {
            OutgoingBody::Text { text, .. } => text.is_empty(),
            OutgoingBody::Parts(parts) => parts.iter().all(|part| match &part.body {
                Body::Text(text) => text.is_empty(),
                Body::Binary(data) | Body::Compressed(data) => data.is_empty(),
            }),
        }
    }

    /// Whether it is a flash (class 0) message.
    #[cfg(test)]
    pub(crate) fn flash(&self) -> bool {
        self.class == Some(MessageClass::Flash)
    }

    /// The SMSC the file names, as an address.
    pub(crate) fn smsc_address(&self) -> Result<Option<Address>, SubmitError> {
        self.smsc
            .as_deref()
            .map(|smsc| {
                Address::parse_number(smsc).map_err(|source| SubmitError::Smsc {
                    smsc: smsc.to_owned(),
                    source,
                })
            })
            .transpose()
    }

    /// The SMS-SUBMITs to send, in order. A text body is planned under its
    /// own policy or else `policy_default`, and a long one is linked with
    /// `concat_reference`; prepared parts keep their own header (the
    /// reference is not used). A GSM 7-bit prepared part with a character
    /// outside the GSM alphabet goes as UCS-2 when it fits (gammu would
    /// have transliterated it), otherwise it is an error. Every PDU is
    /// checked to encode.
    pub(crate) fn to_submits(
        &self,
        policy_default: EncodingPolicy,
        concat_reference: u16,
    ) -> Result<Vec<SmsSubmit>, SubmitError> {
        let destination =
            Address::parse_number(&self.recipient).map_err(|source| SubmitError::Recipient {
                recipient: self.recipient.clone(),
                source,
            })?;
        let validity = self.validity.unwrap_or_default();
        let submits = match &self.body {
            OutgoingBody::Text { text, policy } => {
                let plan = plan_text(text, policy.unwrap_or(policy_default))?;
                let options = SubmitOptions {
                    class: self.class,
                    validity,
                    status_report: self.delivery_report,
                    concat_reference,
                    ..SubmitOptions::new(destination)
                };
                SmsSubmit::from_plan(&plan, &options)
            }
            OutgoingBody::Parts(parts) => parts
                .iter()
                .map(|part| SmsSubmit {
                    reject_duplicates: part.reject_duplicates,
                    reply_path: part.reply_path,
                    status_report_request: part.status_report || self.delivery_report,
                    message_reference: 0,
                    destination: destination.clone(),
                    protocol_identifier: 0,
                    dcs: DataCodingScheme::decode(DataCodingScheme::encode(
                        lossless_alphabet(part),
                        part.class,
                    )),
                    validity,
                    user_data: UserData {
                        header: part.header.clone(),
                        body: part.body.clone(),
                        split: Default::default(),
                    },
                })
                .collect(),
        };
        for (index, submit) in submits.iter().enumerate() {
            submit.encode(None).map_err(|source| SubmitError::Encode {
                part: index + 1,
                source,
            })?;
        }
        Ok(submits)
    }
}

/// The alphabet a prepared part goes in: its own, except GSM 7-bit text
/// with a character the alphabet lacks, which goes as UCS-2 when that fits
/// (and otherwise fails to encode with the character named).
fn lossless_alphabet(part: &PreparedPart) -> Alphabet {
    match (&part.body, part.alphabet) {
        (Body::Text(text), Alphabet::Gsm7) if !crate::pdu::gsm7::is_representable(text) => {
            let header = part.header.as_ref().map_or(0, UserDataHeader::encoded_len);
            if header + 2 * text.encode_utf16().count() <= crate::pdu::user_data::MAX_OCTETS {
                Alphabet::Ucs2
            } else {
                Alphabet::Gsm7
            }
        }
        (_, alphabet) => alphabet,
    }
}

/// Reads an outbox file whose name was classified as `name`.
pub(crate) fn parse_outbox(
    name: &OutboxName,
    content: &[u8],
    fallback: Utf8Fallback,
) -> Result<OutgoingMessage, ContentError> {
    match name.kind {
        OutboxKind::Txt => parse_txt(
            content,
            name.recipient.as_deref().unwrap_or_default(),
            name.flags,
            fallback,
        ),
        OutboxKind::SmsBackup => parse_smsbackup(content),
    }
}

fn check_size(content: &[u8]) -> Result<(), ContentError> {
    let size = content.len() as u64;
    if size > MAX_OUTBOX_FILE_BYTES {
        return Err(ContentError::TooLarge {
            size,
            max: MAX_OUTBOX_FILE_BYTES,
        });
    }
    Ok(())
}

/// Reads a `.txt` outbox file for `recipient` (from its name) with the
/// name's `flags`.
pub(crate) fn parse_txt(
    content: &[u8],
    recipient: &str,
    flags: Flags,
    fallback: Utf8Fallback,
) -> Result<OutgoingMessage, ContentError> {
    check_size(content)?;
    if flags.wap_bookmark {
        return Err(ContentError::WapBookmarkUnsupported);
    }
    let (text, charset) = decode_txt(content, fallback)?;
    Ok(OutgoingMessage {
        recipient: recipient.to_owned(),
        body: OutgoingBody::Text { text, policy: None },
        delivery_report: flags.delivery_report,
        class: flags.flash.then_some(MessageClass::Flash),
        validity: None,
        smsc: None,
        charset: Some(charset),
    })
}

/// Decodes the content of a `.txt` file (see the module documentation).
pub(crate) fn decode_txt(
    content: &[u8],
    fallback: Utf8Fallback,
) -> Result<(String, TextCharset), ContentError> {
    match content {
        [0xFF, 0xFE, rest @ ..] => {
            decode_utf16(rest, u16::from_le_bytes).map(|t| (t, TextCharset::Utf16Le))
        }
        [0xFE, 0xFF, rest @ ..] => {
            decode_utf16(rest, u16::from_be_bytes).map(|t| (t, TextCharset::Utf16Be))
        }
        _ => {
            let (bom, rest) = match content {
                [0xEF, 0xBB, 0xBF, rest @ ..] => (3, rest),
                _ => (0, content),
            };
            let rest = strip_trailing_nuls(rest, 1)
                .map_err(|offset| ContentError::EmbeddedNul(bom + offset))?;
            match std::str::from_utf8(rest) {
                Ok(text) => Ok((text.to_owned(), TextCharset::Utf8)),
                Err(error) => match fallback {
                    Utf8Fallback::Reject => Err(ContentError::InvalidUtf8 {
                        offset: bom + error.valid_up_to(),
                    }),
                },
            }
        }
    }
}

/// `data` without its trailing NUL units of `width` octets, or the offset of
/// a NUL that has content after it.
fn strip_trailing_nuls(data: &[u8], width: usize) -> Result<&[u8], usize> {
    let units = data.len() / width;
    let is_nul = |i: usize| data[i * width..(i + 1) * width].iter().all(|&b| b == 0);
    let mut end = units;
    while end > 0 && is_nul(end - 1) {
        end -= 1;
    }
    match (0..end).find(|&i| is_nul(i)) {
        Some(i) => Err(i * width),
        None => Ok(&data[..end * width]),
    }
}

fn decode_utf16(data: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, ContentError> {
    if !data.len().is_multiple_of(2) {
        return Err(ContentError::OddUtf16Length(data.len()));
    }
    let data = strip_trailing_nuls(data, 2)
        .map_err(|offset| ContentError::EmbeddedUtf16Nul(offset + 2))?;
    let units = data.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    let mut text = String::with_capacity(data.len() / 2);
    for decoded in char::decode_utf16(units) {
        match decoded {
            Ok(c) => text.push(c),
            // The position in code units: those decoded so far.
            Err(_) => return Err(ContentError::UnpairedSurrogate(text.encode_utf16().count())),
        }
    }
    Ok(text)
}

/// The sections gammu takes from a backup file, in order: `[SMSBackup…]`
/// (any case) until the first one without `Number`.
fn taken_sections(ini: &Ini) -> Vec<&Section> {
    ini.sections()
        .iter()
        .filter(|s| {
            s.name
                .get(..9)
                .is_some_and(|head| head.eq_ignore_ascii_case("SMSBackup"))
        })
        .take_while(|s| s.get("Number").is_some())
        .collect()
}

/// Reads a `.smsbackup` outbox file (see the module documentation).
pub(crate) fn parse_smsbackup(content: &[u8]) -> Result<OutgoingMessage, ContentError> {
    check_size(content)?;
    let text = String::from_utf8_lossy(content);
    let ini = Ini::parse(&text);
    let sections = taken_sections(&ini);
    if sections.is_empty() {
        return Err(ContentError::NoMessage);
    }
    for (index, section) in sections.iter().enumerate() {
        if sections[..index]
            .iter()
            .any(|earlier| earlier.name.eq_ignore_ascii_case(&section.name))
        {
            return Err(ContentError::DuplicateSection(section.name.clone()));
        }
    }
    let mut recipient: Option<String> = None;
    let mut parts = Vec::with_capacity(sections.len());
    for section in &sections {
        let number = backup_text(section, "Number", "NumberUnicode")?.unwrap_or_default();
        if number.is_empty() {
            return Err(ContentError::EmptyRecipient(section.name.clone()));
        }
        match &recipient {
            None => recipient = Some(number),
            Some(first) if *first != number => {
                return Err(ContentError::MixedRecipients {
                    section: section.name.clone(),
                    number,
                    first: first.clone(),
                })
            }
            Some(_) => {}
        }
        parts.push(backup_part(section)?);
    }
    let first = &sections[0];
    let smsc = backup_text(first, "SMSC", "SMSCUnicode")?.filter(|smsc| !smsc.is_empty());
    Ok(OutgoingMessage {
        recipient: recipient.unwrap_or_default(),
        delivery_report: parts.iter().any(|part| part.status_report),
        class: parts[0].class,
        body: OutgoingBody::Parts(parts),
        validity: None,
        smsc,
        charset: None,
    })
}

fn invalid(section: &Section, key: &'static str, reason: impl Into<String>) -> ContentError {
    ContentError::InvalidField {
        section: section.name.clone(),
        key,
        reason: reason.into(),
    }
}

/// One section as a part.
fn backup_part(section: &Section) -> Result<PreparedPart, ContentError> {
    let alphabet = match section.get("Coding") {
        Some("Default" | "Default_No_Compression") => Alphabet::Gsm7,
        Some("Unicode" | "Unicode_No_Compression") => Alphabet::Ucs2,
        Some(coding @ ("Default_Compression" | "Unicode_Compression")) => {
            return Err(ContentError::UnsupportedCoding {
                section: section.name.clone(),
                coding: coding.to_owned(),
            })
        }
        _ => Alphabet::Eight,
    };
    let mut hex = String::new();
    for index in 0.. {
        match section.get(&format!("Text{index:02}")) {
            Some(line) => hex.push_str(line),
            None => break,
        }
    }
    let octets =
        crate::pdu::hex::decode(&hex).map_err(|e| invalid(section, "Text00", e.to_string()))?;
    let body = match alphabet {
        Alphabet::Eight => Body::Binary(octets),
        _ => {
            if octets.len() % 2 != 0 {
                return Err(invalid(
                    section,
                    "Text00",
                    "text is not whole UTF-16 code units (4 hex digits each)",
                ));
            }
            let units = octets
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            Body::Text(
                char::decode_utf16(units)
                    .collect::<Result<String, _>>()
                    .map_err(|_| invalid(section, "Text00", "unpaired UTF-16 surrogate"))?,
            )
        }
    };
    let header = match section.get("UDH") {
        None => None,
        Some(value) => Some(parse_udh(value).map_err(|reason| invalid(section, "UDH", reason))?),
    };
    let class = match section.get("Class").map(atoi) {
        None | Some(-1) => None,
        Some(127) => return Err(ContentError::Ussd(section.name.clone())),
        Some(class @ 0..=3) => Some(MessageClass::from_number(class as u8)),
        // gammu sets no class bits for other values.
        Some(_) => None,
    };
    let flag = |key| section.get(key).and_then(parse_bool).unwrap_or(false);
    Ok(PreparedPart {
        header,
        body,
        alphabet,
        class,
        status_report: section.get("PDU") == Some("Status_Report"),
        reject_duplicates: flag("RejectDuplicates"),
        reply_path: flag("ReplySMSC"),
    })
}

/// A `UDH` value: hex of the whole header, length octet first. Must decode
/// and re-encode to the same octets, so the part goes out as written.
fn parse_udh(value: &str) -> Result<UserDataHeader, String> {
    let octets = crate::pdu::hex::decode(value).map_err(|e| e.to_string())?;
    let Some((&udhl, content)) = octets.split_first() else {
        return Err("empty header".into());
    };
    if usize::from(udhl) != content.len() {
        return Err(format!(
            "header length octet says {udhl} but {} octets follow",
            content.len()
        ));
    }
    let header = UserDataHeader::decode(content).map_err(|e| e.to_string())?;
    if header.encode() != octets {
        return Err("header does not re-encode to the same octets".into());
    }
    Ok(header)
}

/// gammu's `ReadBackupText`: `<unicode_key>` as hex UTF-16BE if present,
/// else `<key>` with surrounding quotes removed (when present) and `\n`,
/// `\r`, `\\` decoded.
fn backup_text(
    section: &Section,
    key: &'static str,
    unicode_key: &'static str,
) -> Result<Option<String>, ContentError> {
    if let Some(hex) = section.get(unicode_key) {
        let octets = crate::pdu::hex::decode(hex)
            .map_err(|e| invalid(section, unicode_key, e.to_string()))?;
        if octets.len() % 2 != 0 {
            return Err(invalid(section, unicode_key, "not whole UTF-16 code units"));
        }
        let units = octets
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
        let text = char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| invalid(section, unicode_key, "unpaired UTF-16 surrogate"))?;
        return Ok(Some(text));
    }
    let Some(value) = section.get(key) else {
        return Ok(None);
    };
    let value = value.strip_prefix('"').unwrap_or(value);
    let value = value.strip_suffix('"').unwrap_or(value);
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Ok(Some(out))
}

/// Why a `.smsbackup` file cannot record its message references.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RewriteError {
    /// More references than parts.
    #[error("{references} message references for a file with {sections} parts")]
    TooManyReferences {
        /// References given.
        references: usize,
        /// Parts in the file.
        sections: usize,
    },
}

/// One line of a file with its terminator (`\r\n`, `\n`, `\r` or none).
struct Line<'a> {
    content: &'a [u8],
    terminator: &'a [u8],
}

fn lines(text: &[u8]) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        let terminator_len = match (text[i], text.get(i + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r' | b'\n', _) => 1,
            _ => {
                i += 1;
                continue;
            }
        };
        out.push(Line {
            content: &text[start..i],
            terminator: &text[i..i + terminator_len],
        });
        i += terminator_len;
        start = i;
    }
    if start < text.len() {
        out.push(Line {
            content: &text[start..],
            terminator: b"",
        });
    }
    out
}

fn trim_ascii(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes {
        if first.is_ascii_whitespace() {
            bytes = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = bytes {
        if last.is_ascii_whitespace() {
            bytes = rest;
        } else {
            break;
        }
    }
    bytes
}

/// What a line is, as [`Ini::parse`] sees it.
enum LineKind<'a> {
    /// `[name]`.
    Header(&'a [u8]),
    /// An invalid header: entries after it belong to no section.
    BadHeader,
    /// `key = value` with the trimmed key.
    Entry(&'a [u8]),
    /// Comment, blank, or no `=`.
    Other,
}

fn line_kind(content: &[u8]) -> LineKind<'_> {
    let mut line = trim_ascii(content);
    while let Some(rest) = line.strip_prefix(b"\xEF\xBB\xBF") {
        line = trim_ascii(rest);
    }
    if let Some(rest) = line.strip_prefix(b"[") {
        return match rest.iter().position(|&b| b == b']') {
            Some(end) if end > 0 => LineKind::Header(&rest[..end]),
            _ => LineKind::BadHeader,
        };
    }
    if line.starts_with(b";") || line.starts_with(b"#") {
        return LineKind::Other;
    }
    match line.iter().position(|&b| b == b'=') {
        Some(eq) => LineKind::Entry(trim_ascii(&line[..eq])),
        None => LineKind::Other,
    }
}

/// Writes `MessageReference = N` into the k-th part's section of a
/// `.smsbackup` file for the k-th of `references` (the parts sent so far),
/// replacing that section's existing `MessageReference` lines or adding one
/// after its last entry. Every other byte stays as it was; running it twice
/// gives the same file.
pub(crate) fn record_message_references(
    original: &[u8],
    references: &[u8],
) -> Result<Vec<u8>, RewriteError> {
    let text = String::from_utf8_lossy(original);
    let ini = Ini::parse(&text);
    let taken: Vec<String> = taken_sections(&ini)
        .iter()
        .map(|s| s.name.to_ascii_lowercase())
        .collect();
    if references.len() > taken.len() {
        return Err(RewriteError::TooManyReferences {
            references: references.len(),
            sections: taken.len(),
        });
    }
    let lines = lines(original);
    // The reference for the section each line belongs to, if any; and the
    // index of the last entry line of each part's section.
    let mut current: Option<usize> = None;
    let mut seen = vec![false; taken.len()];
    let mut owner: Vec<Option<usize>> = Vec::with_capacity(lines.len());
    let mut has_line = vec![false; references.len()];
    let mut last_entry: Vec<Option<usize>> = vec![None; references.len()];
    for (index, line) in lines.iter().enumerate() {
        match line_kind(line.content) {
            LineKind::Header(name) => {
                let name = String::from_utf8_lossy(name).to_ascii_lowercase();
                // Only the first section of a taken name is the part.
                current = taken
                    .iter()
                    .position(|t| *t == name)
                    .filter(|&part| !std::mem::replace(&mut seen[part], true))
                    .filter(|&part| part < references.len());
            }
            LineKind::BadHeader => current = None,
            LineKind::Entry(key) => {
                if let Some(part) = current {
                    last_entry[part] = Some(index);
                    if key.eq_ignore_ascii_case(b"MessageReference") {
                        has_line[part] = true;
                        owner.push(Some(part));
                        continue;
                    }
                }
            }
            LineKind::Other => {}
        }
        owner.push(None);
    }
    let mut out = Vec::with_capacity(original.len() + 32 * references.len());
    for (index, line) in lines.iter().enumerate() {
        match owner[index] {
            Some(part) => {
                out.extend_from_slice(format!("MessageReference = {}", references[part]).as_bytes())
            }
            None => out.extend_from_slice(line.content),
        }
        let missing: Vec<usize> = (0..references.len())
            .filter(|&part| !has_line[part] && last_entry[part] == Some(index))
            .collect();
        if missing.is_empty() {
            out.extend_from_slice(line.terminator);
            continue;
        }
        // gammu writes this key with a bare LF; so does simgate.
        out.extend_from_slice(if line.terminator.is_empty() {
            b"\n"
        } else {
            line.terminator
        });
        for part in missing {
            out.extend_from_slice(format!("MessageReference = {}\n", references[part]).as_bytes());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::{Concatenation, InformationElement};
    use crate::spool::name::classify_outbox_name;

    const PLAIN: &[u8] = include_bytes!("../../tests/fixtures/inject/plain.smsbackup");
    const UNICODE: &[u8] = include_bytes!("../../tests/fixtures/inject/unicode.smsbackup");
    const LONG: &[u8] = include_bytes!("../../tests/fixtures/inject/long.smsbackup");
    const FLASH: &[u8] = include_bytes!("../../tests/fixtures/inject/flash.smsbackup");
    const REPORT: &[u8] = include_bytes!("../../tests/fixtures/inject/report.smsbackup");
    const STAR: &[u8] = include_bytes!("../../tests/fixtures/inject/star.smsbackup");
    const LONG_STANDARD: [&[u8]; 3] = [
        include_bytes!("../../tests/fixtures/inject/long-standard.0.txt"),
        include_bytes!("../../tests/fixtures/inject/long-standard.1.txt"),
        include_bytes!("../../tests/fixtures/inject/long-standard.2.txt"),
    ];
    const UNICODE_FORMAT: &[u8] = include_bytes!("../../tests/fixtures/inject/unicode-format.txt");
    const NAMES: &str = include_str!("../../tests/fixtures/inject/names.txt");

    fn long_text() -> String {
        (0..11)
            .map(|i| format!("Part of a long message number {i:03}. "))
            .collect::<String>()[..360]
            .to_owned()
    }

    fn parts(message: &OutgoingMessage) -> &[PreparedPart] {
        match &message.body {
            OutgoingBody::Parts(parts) => parts,
            other => panic!("expected parts, got {other:?}"),
        }
    }

    fn single_text(message: &OutgoingMessage) -> (&str, Alphabet) {
        let parts = parts(message);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].header, None);
        (parts[0].body.text().unwrap(), parts[0].alphabet)
    }

    fn txt(content: &[u8]) -> Result<String, ContentError> {
        decode_txt(content, Utf8Fallback::Reject).map(|(text, _)| text)
    }

    #[test]
    fn inject_plain() {
        let message = parse_smsbackup(PLAIN).unwrap();
        assert_eq!(message.recipient, "+123456789");
        assert_eq!(
            single_text(&message),
            ("Hello from simgate", Alphabet::Gsm7)
        );
        assert!(!message.delivery_report && !message.flash());
        assert_eq!((message.smsc.as_deref(), message.validity), (None, None));
        let submits = message.to_submits(EncodingPolicy::Auto, 0).unwrap();
        assert_eq!(submits.len(), 1);
        assert_eq!(submits[0].dcs.raw, 0x00);
        assert_eq!(submits[0].destination.to_display(), "+123456789");
    }

    #[test]
    fn inject_unicode() {
        let message = parse_smsbackup(UNICODE).unwrap();
        assert_eq!(message.recipient, "+420777123456");
        assert_eq!(single_text(&message), ("Zkouška € 😀 Ж", Alphabet::Ucs2));
        let submits = message.to_submits(EncodingPolicy::Gsm7, 0).unwrap();
        assert_eq!(submits[0].dcs.raw, 0x08);
    }

    #[test]
    fn inject_long_keeps_the_files_headers() {
        let message = parse_smsbackup(LONG).unwrap();
        let parts = parts(&message);
        assert_eq!(parts.len(), 3);
        let mut text = String::new();
        for (index, part) in parts.iter().enumerate() {
            assert_eq!(part.alphabet, Alphabet::Gsm7);
            let header = part.header.as_ref().unwrap();
            let concat = header.concat().unwrap();
            assert_eq!((concat.total, concat.sequence), (3, index as u8 + 1));
            assert!(matches!(
                header.elements[..],
                [InformationElement::Concatenation {
                    wide_reference: false,
                    ..
                }]
            ));
            text.push_str(part.body.text().unwrap());
        }
        assert_eq!(text, long_text());
        let lengths: Vec<usize> = parts.iter().map(|p| p.body.text().unwrap().len()).collect();
        assert_eq!(lengths, [153, 153, 54]);
        // The file's reference (0x24 in this run: read it from the file) is
        // used, not the one passed in.
        let reference = parts[0]
            .header
            .as_ref()
            .unwrap()
            .concat()
            .unwrap()
            .reference;
        let submits = message.to_submits(EncodingPolicy::Auto, 0x99).unwrap();
        for (submit, part) in submits.iter().zip(parts) {
            assert_eq!(submit.user_data.header, part.header);
            assert_eq!(
                submit
                    .user_data
                    .header
                    .as_ref()
                    .unwrap()
                    .concat()
                    .unwrap()
                    .reference,
                reference
            );
            let pdu = submit.encode(None).unwrap();
            let decoded = SmsSubmit::decode(pdu.tpdu()).unwrap();
            assert_eq!(decoded.user_data.body, part.body);
        }
    }

    #[test]
    fn inject_flash_and_report() {
        let flash = parse_smsbackup(FLASH).unwrap();
        assert!(flash.flash());
        assert_eq!(parts(&flash)[0].class, Some(MessageClass::Flash));
        assert_eq!(single_text(&flash).0, "Flash!");
        let submits = flash.to_submits(EncodingPolicy::Auto, 0).unwrap();
        assert_eq!(submits[0].dcs.class, Some(MessageClass::Flash));
        assert!(!submits[0].status_report_request);

        let report = parse_smsbackup(REPORT).unwrap();
        assert!(report.delivery_report && !report.flash());
        assert!(parts(&report)[0].status_report);
        assert_eq!(single_text(&report).0, "report msg");
        let submits = report.to_submits(EncodingPolicy::Auto, 0).unwrap();
        assert!(submits[0].status_report_request);
        assert_eq!(submits[0].encode(None).unwrap().bytes()[1] & 0x20, 0x20);
    }

    #[test]
    fn inject_star_recipient() {
        let message = parse_smsbackup(STAR).unwrap();
        assert_eq!(message.recipient, "*101#");
        assert_eq!(single_text(&message).0, "star");
    }

    #[test]
    fn inject_names_parse() {
        for line in NAMES.lines() {
            let (fixture, name) = line.split_once(' ').unwrap();
            let parsed = classify_outbox_name(name).unwrap().unwrap();
            assert_eq!(parsed.priority, Some('C'), "{name}");
            let expected = if fixture.starts_with("star") {
                "*101#"
            } else if fixture.starts_with("unicode.") {
                "+420777123456"
            } else {
                "+123456789"
            };
            match parsed.kind {
                OutboxKind::Txt => assert_eq!(parsed.recipient.as_deref(), Some(expected)),
                OutboxKind::SmsBackup => assert_eq!(parsed.recipient, None),
            }
        }
    }

    #[test]
    fn inject_standard_and_unicode_formats() {
        let name = classify_outbox_name("OUTC20261125_203133_00_+123456789_sms0.txt")
            .unwrap()
            .unwrap();
        let texts: Vec<String> = LONG_STANDARD
            .iter()
            .map(|content| {
                let message = parse_outbox(&name, content, Utf8Fallback::Reject).unwrap();
                assert_eq!(message.charset, Some(TextCharset::Utf8));
                match message.body {
                    OutgoingBody::Text { text, policy: None } => text,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert_eq!(texts.concat(), long_text());
        let message = parse_outbox(&name, UNICODE_FORMAT, Utf8Fallback::Reject).unwrap();
        assert_eq!(message.recipient, "+123456789");
        assert_eq!(message.charset, Some(TextCharset::Utf16Be));
        assert_eq!(
            message.body,
            OutgoingBody::Text {
                text: "Zkouška €".into(),
                policy: None
            }
        );
    }

    #[test]
    fn txt_charsets() {
        assert_eq!(txt(b"line1\r\nline2\n").unwrap(), "line1\r\nline2\n");
        assert_eq!(txt("Zkouška €".as_bytes()).unwrap(), "Zkouška €");
        assert_eq!(txt(b"\xEF\xBB\xBFhi").unwrap(), "hi");
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        for unit in "Zkouška 😀\n".encode_utf16() {
            le.extend_from_slice(&unit.to_le_bytes());
            be.extend_from_slice(&unit.to_be_bytes());
        }
        assert_eq!(
            decode_txt(&le, Utf8Fallback::Reject).unwrap(),
            ("Zkouška 😀\n".into(), TextCharset::Utf16Le)
        );
        assert_eq!(
            decode_txt(&be, Utf8Fallback::Reject).unwrap(),
            ("Zkouška 😀\n".into(), TextCharset::Utf16Be)
        );
        // Trailing NUL padding is dropped.
        le.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(txt(&le).unwrap(), "Zkouška 😀\n");
        assert_eq!(txt(b"abc\0\0").unwrap(), "abc");
    }

    /// A UTF-16 file (it has a BOM) with a `00 00` unit and then more text
    /// was refused asking "is it UTF-16 without a BOM?": misleading, the
    /// BOM is there. The hint stays for a file without one.
    #[test]
    fn a_nul_in_utf16_text_is_not_blamed_on_a_missing_bom() {
        for content in [
            &b"\xFE\xFF\x00h\x00i\x00\x00\x00j"[..],
            b"\xFF\xFEh\x00\x00\x00j\x00",
        ] {
            let message = txt(content).unwrap_err().to_string();
            assert!(!message.contains("without a BOM"), "{message}");
            assert!(
                message.contains("UTF-16") && message.contains("NUL"),
                "{message}"
            );
        }
        let message = txt(b"h\0i\0").unwrap_err().to_string();
        assert!(message.contains("UTF-16 without a BOM?"), "{message}");
    }

    #[test]
    fn txt_errors() {
        assert_eq!(txt(b"\xFF\xFEa"), Err(ContentError::OddUtf16Length(1)));
        assert_eq!(
            txt(b"\xFE\xFF\x00a\xD8\x3D\x00b"),
            Err(ContentError::UnpairedSurrogate(1))
        );
        assert_eq!(
            txt(b"\xFF\xFE\x00\xDC"),
            Err(ContentError::UnpairedSurrogate(0))
        );
        // UTF-16 without a BOM.
        assert_eq!(txt(b"h\0i\0"), Err(ContentError::EmbeddedNul(1)));
        assert_eq!(
            txt(b"\xFE\xFF\x00a\x00\x00\x00b"),
            Err(ContentError::EmbeddedUtf16Nul(4))
        );
        // §3.1.1 obs: a Latin-2 file.
        assert_eq!(
            txt(b"LATIN1: Zkou\xB9ka end"),
            Err(ContentError::InvalidUtf8 { offset: 12 })
        );
        assert!(matches!(
            parse_txt(
                b"Title,http://x",
                "+1",
                Flags {
                    wap_bookmark: true,
                    ..Flags::default()
                },
                Utf8Fallback::Reject
            ),
            Err(ContentError::WapBookmarkUnsupported)
        ));
    }

    #[test]
    fn empty_txt_is_an_empty_message() {
        for content in [&b""[..], b"\xFF\xFE", b"\xFE\xFF", b"\xEF\xBB\xBF"] {
            let message = parse_txt(content, "+1", Flags::default(), Utf8Fallback::Reject).unwrap();
            assert!(message.is_empty());
            let submits = message.to_submits(EncodingPolicy::Auto, 0).unwrap();
            assert_eq!(submits.len(), 1);
        }
    }

    #[test]
    fn txt_flags() {
        let name = classify_outbox_name("OUT+420777123456.txtdf")
            .unwrap()
            .unwrap();
        let message = parse_outbox(&name, b"hi", Utf8Fallback::Reject).unwrap();
        assert!(message.delivery_report && message.flash());
        assert_eq!(message.smsc, None);
        let submits = message.to_submits(EncodingPolicy::Auto, 7).unwrap();
        assert!(submits[0].status_report_request);
        assert_eq!(submits[0].dcs.class, Some(MessageClass::Flash));
        // A long text takes the reference it is given.
        let message = parse_txt(
            "a".repeat(200).as_bytes(),
            "+1",
            Flags::default(),
            Utf8Fallback::Reject,
        )
        .unwrap();
        let submits = message.to_submits(EncodingPolicy::Auto, 0x1234).unwrap();
        assert_eq!(submits.len(), 2);
        assert_eq!(
            submits[1].user_data.header.as_ref().unwrap().concat(),
            Some(Concatenation {
                reference: 0x34,
                total: 2,
                sequence: 2
            })
        );
    }

    #[test]
    fn size_limit() {
        let big = vec![b'a'; MAX_OUTBOX_FILE_BYTES as usize + 1];
        let expected = Err(ContentError::TooLarge {
            size: MAX_OUTBOX_FILE_BYTES + 1,
            max: MAX_OUTBOX_FILE_BYTES,
        });
        assert_eq!(
            parse_txt(&big, "+1", Flags::default(), Utf8Fallback::Reject),
            expected
        );
        assert_eq!(parse_smsbackup(&big), expected);
    }

    #[test]
    fn broken_backups_are_errors() {
        assert_eq!(parse_smsbackup(b""), Err(ContentError::NoMessage));
        assert_eq!(
            parse_smsbackup(b"[SMSBackup000]\nText00 = 0041\n"),
            Err(ContentError::NoMessage)
        );
        assert_eq!(
            parse_smsbackup(b"[Other]\nNumber = \"+1\"\n"),
            Err(ContentError::NoMessage)
        );
        let duplicated = [PLAIN, PLAIN].concat();
        assert_eq!(
            parse_smsbackup(&duplicated),
            Err(ContentError::DuplicateSection("SMSBackup000".into()))
        );
        assert!(matches!(
            parse_smsbackup(b"[SMSBackup000]\nNumber = \"+1\"\nText00 = 00Z1\n"),
            Err(ContentError::InvalidField { key: "Text00", .. })
        ));
        assert!(matches!(
            parse_smsbackup(b"[SMSBackup000]\nNumber = \"+1\"\nCoding = Unicode\nText00 = 004\n"),
            Err(ContentError::InvalidField { key: "Text00", .. })
        ));
        assert!(matches!(
            parse_smsbackup(b"[SMSBackup000]\nNumber = \"+1\"\nCoding = Unicode\nText00 = D800\n"),
            Err(ContentError::InvalidField { key: "Text00", .. })
        ));
        assert!(matches!(
            parse_smsbackup(b"[SMSBackup000]\nNumber = \"+1\"\nUDH = 06000301\n"),
            Err(ContentError::InvalidField { key: "UDH", .. })
        ));
        assert_eq!(
            parse_smsbackup(b"[SMSBackup000]\nNumber = \"\"\n"),
            Err(ContentError::EmptyRecipient("SMSBackup000".into()))
        );
        assert!(matches!(
            parse_smsbackup(b"[SMSBackup000]\nNumber = \"+1\"\n[SMSBackup001]\nNumber = \"+2\"\n"),
            Err(ContentError::MixedRecipients { .. })
        ));
        assert_eq!(
            parse_smsbackup(b"[SMSBackup000]\nNumber = \"*101#\"\nClass = 127\nCoding = 8bit\n"),
            Err(ContentError::Ussd("SMSBackup000".into()))
        );
        assert!(matches!(
            parse_smsbackup(b"[SMSBackup000]\nNumber = \"+1\"\nCoding = Default_Compression\n"),
            Err(ContentError::UnsupportedCoding { .. })
        ));
    }

    #[test]
    fn backup_fields() {
        let file = b"junk before\n[smsbackup7]\nNumber = +420 777\nSMSC = \"+420603052000\"\n\
            Coding = 8bit\nText00 = 0102\nText01 = 03\nText03 = FF\nUDH = 06050423F40000\n\
            Class = 1\nReplySMSC = True\nRejectDuplicates = yes\n\
            [SMSBackup8]\nNumberUnicode = 002B0034003200300020003700370037\nNumber = \"+9\"\n\
            Coding = Default\nText00 = 00410042\nClass = 9\nPDU = Status_Report\n\
            [SMSBackup9]\nText00 = 0041\n[SMSBackup10]\nNumber = \"+420 777\"\n";
        let message = parse_smsbackup(file).unwrap();
        // Quotes are optional (Q29); NumberUnicode wins over Number.
        assert_eq!(message.recipient, "+420 777");
        assert_eq!(message.smsc.as_deref(), Some("+420603052000"));
        assert!(message.delivery_report);
        let parts = parts(&message);
        // Reading stops at the first section without Number.
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body, Body::Binary(vec![1, 2, 3]));
        assert_eq!(parts[0].alphabet, Alphabet::Eight);
        assert_eq!(
            parts[0].header.as_ref().unwrap().elements,
            [InformationElement::Ports {
                destination: 0x23F4,
                source: 0,
                wide: true
            }]
        );
        assert_eq!(parts[0].class, Some(MessageClass::Me));
        assert!(parts[0].reply_path && parts[0].reject_duplicates && !parts[0].status_report);
        assert_eq!(parts[1].body, Body::Text("AB".into()));
        assert_eq!((parts[1].alphabet, parts[1].class), (Alphabet::Gsm7, None));
        assert!(parts[1].status_report);
        let submits = message.to_submits(EncodingPolicy::Auto, 0).unwrap();
        assert!(submits[0].reply_path && submits[0].reject_duplicates);
        assert!(submits.iter().all(|s| s.status_report_request));
        assert_eq!(
            message.smsc_address().unwrap().unwrap().value,
            "420603052000"
        );
        // Escapes in quoted values.
        let message =
            parse_smsbackup(b"[SMSBackup000]\nNumber = \"+1\\\\2\"\nSMSC = \"\"\n").unwrap();
        assert_eq!(
            (message.recipient.as_str(), message.smsc.as_deref()),
            ("+1\\2", None)
        );
        assert!(message.is_empty());
    }

    #[test]
    fn default_coding_with_non_gsm_text() {
        // Fits as UCS-2: sent losslessly as UCS-2.
        let message =
            parse_smsbackup(b"[SMSBackup000]\nNumber = \"+1\"\nCoding = Default\nText00 = 0416\n")
                .unwrap();
        let submits = message.to_submits(EncodingPolicy::Gsm7, 0).unwrap();
        assert_eq!(submits[0].dcs.alphabet, Alphabet::Ucs2);
        assert_eq!(submits[0].user_data.body, Body::Text("Ж".into()));
        // Does not fit: an error naming the character.
        let hex: String = "0061".repeat(100) + "0416";
        let file = format!("[SMSBackup000]\nNumber = \"+1\"\nCoding = Default\nText00 = {hex}\n");
        assert_eq!(
            parse_smsbackup(file.as_bytes())
                .unwrap()
                .to_submits(EncodingPolicy::Auto, 0),
            Err(SubmitError::Encode {
                part: 1,
                source: EncodeError::NotGsm7('Ж')
            })
        );
        // Too long for one part.
        let hex: String = "0061".repeat(161);
        let file = format!("[SMSBackup000]\nNumber = \"+1\"\nCoding = Default\nText00 = {hex}\n");
        assert!(matches!(
            parse_smsbackup(file.as_bytes())
                .unwrap()
                .to_submits(EncodingPolicy::Auto, 0),
            Err(SubmitError::Encode {
                source: EncodeError::UserDataTooLong { .. },
                ..
            })
        ));
        // A recipient that is not a number.
        let message = parse_smsbackup(b"[SMSBackup000]\nNumber = \"abc\"\n").unwrap();
        assert!(matches!(
            message.to_submits(EncodingPolicy::Auto, 0),
            Err(SubmitError::Recipient { .. })
        ));
    }

    fn reference_lines(file: &[u8]) -> Vec<String> {
        String::from_utf8_lossy(file)
            .lines()
            .filter(|l| l.starts_with("MessageReference"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn rewrite_sets_each_sections_reference() {
        let once = record_message_references(LONG, &[14, 13]).unwrap();
        assert_eq!(
            reference_lines(&once),
            [
                "MessageReference = 14",
                "MessageReference = 13",
                "MessageReference = 0"
            ]
        );
        assert_eq!(once.len(), LONG.len() + 2);
        let all = record_message_references(&once, &[14, 13, 255]).unwrap();
        assert_eq!(
            reference_lines(&all),
            [
                "MessageReference = 14",
                "MessageReference = 13",
                "MessageReference = 255"
            ]
        );
        // Idempotent, and still the same message.
        assert_eq!(
            record_message_references(&all, &[14, 13, 255]).unwrap(),
            all
        );
        assert_eq!(
            parse_smsbackup(&all).unwrap(),
            parse_smsbackup(LONG).unwrap()
        );
        // No references: unchanged.
        assert_eq!(record_message_references(LONG, &[]).unwrap(), LONG);
        // Only the reference line changed; CRLF/LF endings elsewhere kept.
        let plain = record_message_references(PLAIN, &[7]).unwrap();
        let before =
            String::from_utf8_lossy(PLAIN).replace("MessageReference = 0", "MessageReference = 7");
        assert_eq!(String::from_utf8_lossy(&plain), before);
        assert_eq!(
            record_message_references(PLAIN, &[1, 2]),
            Err(RewriteError::TooManyReferences {
                references: 2,
                sections: 1
            })
        );
    }

    #[test]
    fn rewrite_adds_a_missing_line() {
        let file = b"; c\r\n[SMSBackup000]\r\nNumber = \"+1\"\r\nText00 = 0041\r\n\r\n[SMSBackup001]\nNumber = \"+1\"";
        let once = record_message_references(file, &[3, 4]).unwrap();
        assert_eq!(
            String::from_utf8(once.clone()).unwrap(),
            "; c\r\n[SMSBackup000]\r\nNumber = \"+1\"\r\nText00 = 0041\r\nMessageReference = 3\n\r\n\
             [SMSBackup001]\nNumber = \"+1\"\nMessageReference = 4\n"
        );
        assert_eq!(record_message_references(&once, &[3, 4]).unwrap(), once);
        // Several lines in one section all get the value; other sections and
        // non-UTF-8 comments are untouched.
        let file = b"[SMSBackup000]\n; \xB9\nNumber = \"+1\"\nmessagereference = 1\nMessageReference=2\n[Other]\nMessageReference = 9\n";
        let out = record_message_references(file, &[5]).unwrap();
        assert_eq!(
            out,
            b"[SMSBackup000]\n; \xB9\nNumber = \"+1\"\nMessageReference = 5\nMessageReference = 5\n[Other]\nMessageReference = 9\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn rewrite_is_idempotent_and_keeps_the_message(
            references in proptest::collection::vec(proptest::num::u8::ANY, 0..=3),
        ) {
            let once = record_message_references(LONG, &references).unwrap();
            proptest::prop_assert_eq!(&record_message_references(&once, &references).unwrap(), &once);
            proptest::prop_assert_eq!(parse_smsbackup(&once).unwrap(), parse_smsbackup(LONG).unwrap());
            let lines = reference_lines(&once);
            proptest::prop_assert_eq!(lines.len(), 3);
            for (line, reference) in lines.iter().zip(&references) {
                proptest::prop_assert_eq!(line, &format!("MessageReference = {reference}"));
            }
        }
    }
}
