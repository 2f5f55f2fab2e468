//! Smart messages: what gammu 1.42's multipart decoder
//! (`GSM_DecodeMultiPartSMS` with EMS on, as gammu-smsd calls it) makes of a
//! received message, for the `DECODED_PARTS` / `DECODED_<k>_*` variables of
//! `RunOnReceive` (spec §8.3). Pure: decoded parts in, entries out.
//!
//! gammu turns a message into a list of *entries*; gammu-smsd sets
//! `DECODED_PARTS` to their number and, per entry `k` (from 1), either
//! `DECODED_k_TEXT` (text entries), the four `DECODED_k_MMS_*` variables (an
//! MMS notification) or nothing (every other kind, which still counts). A
//! message gammu does not decode gets `DECODED_PARTS=0` and no entries.
//!
//! # What is decoded, and how gammu 1.42 does it
//!
//! gammu first classifies each part's user data header by comparing its raw
//! octets with a fixed table (its "UDH type"). Then:
//!
//! - **EMS path**: when every part's header is a concatenation header or one
//!   gammu does not know ("user UDH"), gammu walks the information elements
//!   of each part. This covers plain concatenated text (one text entry with
//!   the whole text), EMS text formatting (`0x0A`; a new text entry starts
//!   where a formatted range begins after text already read), EMS sounds,
//!   animations and pictures (entries without variables), and 16-bit
//!   application ports (`0x05`): port 9204 (vCard) and 9205 (vCalendar) make
//!   a text entry **without text** (gammu stops reading the body at the port
//!   element, see below), port 2948 (WAP push) decodes the whole message as an
//!   MMS notification.
//! - **MMS notification** (first part's header `05 04 0B 84 23 F0 00 03 …`,
//!   or reached from the EMS path): the parts' user data are joined; octet 1
//!   must be the WSP Push PDU type (`0x06`), octet 2 is taken as the length
//!   of the WSP content type and headers (one octet, never a uintvar, and the
//!   content type is not checked); then gammu scans the MMS headers octet by
//!   octet: `From` (after the address-present token, skipping a charset when
//!   the next octet is below 32), `Subject` (with the charset only when its
//!   value length is exactly 10 and the charset UTF-8), `X-Mms-Content-
//!   Location` and `X-Mms-Message-Size` (big-endian, accumulated over every
//!   occurrence). A message type other than m-notification-ind or a version
//!   outside 1.0–1.2 rejects the whole message. Octets it does not know are
//!   skipped one at a time.
//! - **Nokia long vCalendar / vCard** (first part's header `05 04 00 E4 00 00
//!   00 03 …` or `05 04 23 F4 00 00 00 03 …`, i.e. a port header followed by
//!   an 8-bit concatenation element, in that order): gammu's linked-text
//!   decoder copies the 8-bit octets **as they are into its UTF-16 buffer**,
//!   so the text is pairs of octets read as UTF-16BE (`BE` → `䉅`). The
//!   vCalendar entry sets `DECODED_1_TEXT` to that; the vCard entry has a
//!   different identifier that gammu-smsd ignores (no variable).
//! - **Nokia caller and operator logos** (single part, header exactly
//!   `05 04 15 83 00 00` / `05 04 15 82 00 00`) and **Nokia profiles**
//!   (`05 04 15 8A 00 00 00 03 …`, parts numbered correctly): one entry
//!   without variables.
//! - A concatenated message some of whose parts have another header: the
//!   linked-text decoder, as above.
//!
//! Text reading follows gammu: 8-bit octets are read as UTF-8 (the locale of
//! the daemon; simgate assumes UTF-8 as for inbox files) and a piece of text
//! ends at U+0000 or at an octet that does not decode; each piece is
//! appended where the text so far ends.
//!
//! # Where simgate differs, and what it leaves out
//!
//! - **Text entries without text.** For a vCard or vCalendar on ports
//!   9204/9205 (and some EMS formatting layouts) gammu's entry has no buffer
//!   and gammu-smsd dereferences the null pointer while setting
//!   `DECODED_k_TEXT`, in the child it forked for the hook: the hook never
//!   runs. simgate sets the variable to the empty string
//!   ([`Decoded::Text`] with `text: None`).
//! - **Malformed input** where gammu reads past its buffers, crashes or loops
//!   (a negative text length from an EMS position beyond the text, more than
//!   50 entries) gives no entries here; octets gammu would read beyond the
//!   user data count as 0. MMS values gammu copies into fixed 200/500-octet
//!   fields are kept whole instead of overflowing into the next field.
//! - **Not decoded:** Nokia ringtones (single part on port 5505: gammu gives
//!   one entry without variables when its RTTL parser accepts the tune) and
//!   Siemens OTA files (`//SEO`, class 1, 8-bit, no header): both give no
//!   variables beyond `DECODED_PARTS=1`, and matching them would mean porting
//!   gammu's ringtone and OTA parsers. simgate gives `DECODED_PARTS=0`.
//! - 7-bit text is measured in UTF-16 units, not in septets as gammu's PDU
//!   decoder does (see `crate::spool::inbox`, difference 5).

use super::dcs::Alphabet;
use super::{Body, SmsDeliver};

/// gammu's `GSM_MAX_MULTI_SMS`: the most entries it has room for.
const MAX_ENTRIES: usize = 50;

/// One entry of gammu's decoding, in the order gammu numbers them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Decoded {
    /// An entry that sets `DECODED_k_TEXT`.
    Text {
        /// Which of gammu's text entries it is.
        kind: TextKind,
        /// The text; `None` where gammu has no buffer (and gammu-smsd
        /// crashes before running the hook); simgate then sets an empty
        /// variable.
        text: Option<String>,
    },
    /// An MMS notification: the four `DECODED_k_MMS_*` variables.
    Mms(MmsNotification),
    /// An entry gammu counts in `DECODED_PARTS` but sets no variable for.
    Silent(SilentKind),
}

/// The kinds of text entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextKind {
    /// Text, concatenated or not (gammu's `ConcatenatedTextLong` and its
    /// variants).
    Concatenated,
    /// A vCard on port 9204 (`NokiaVCARD21Long`).
    VCard,
    /// A vCalendar on port 9205 or as a Nokia long vCalendar
    /// (`NokiaVCALENDAR10Long`).
    VCalendar,
}

/// The kinds of entries without variables.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SilentKind {
    /// An entry gammu counts but never filled in (identifier 0), e.g. after
    /// the body of a vCard on port 9204.
    Empty,
    /// A Nokia long vCard (`NokiaVCARD10Long`) with the text gammu decoded
    /// for it (8-bit octets paired into UTF-16 units).
    NokiaVCard(String),
    /// An EMS predefined sound.
    EmsSound,
    /// An EMS predefined animation.
    EmsPredefinedAnimation,
    /// An EMS animation (8×8 or 16×16 frames).
    EmsAnimation,
    /// An EMS fixed-size picture.
    EmsPicture,
    /// An EMS variable-size picture.
    EmsVariablePicture,
    /// A Nokia caller logo.
    NokiaCallerLogo,
    /// A Nokia operator logo.
    NokiaOperatorLogo,
    /// A Nokia profile (picture, screen saver, ringtone, name).
    NokiaProfile,
}

/// The fields of an MMS notification (m-notification-ind) gammu extracts, as
/// raw octets: gammu passes them to the hook unconverted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MmsNotification {
    /// `From`, e.g. `+420777777777/TYPE=PLMN`; empty when absent.
    pub sender: Vec<u8>,
    /// `Subject`; empty when absent.
    pub title: Vec<u8>,
    /// `X-Mms-Content-Location`, the URL to fetch the message from.
    pub address: Vec<u8>,
    /// `X-Mms-Message-Size` in octets (0 when absent).
    pub size: u64,
}

impl MmsNotification {
    /// `DECODED_k_MMS_SIZE`: gammu prints the size as a C `long`.
    pub fn size_text(&self) -> String {
        (self.size as i64).to_string()
    }
}

/// Decodes the parts of one message (in part order) as gammu-smsd 1.42 does
/// for the hook; an empty result means gammu decodes nothing
/// (`DECODED_PARTS=0`).
pub fn decode(parts: &[&SmsDeliver]) -> Vec<Decoded> {
    let parts: Vec<Part> = parts.iter().map(|sms| Part::new(sms)).collect();
    decode_parts(&parts).unwrap_or_default()
}

/// The `DECODED_PARTS` and `DECODED_<k>_*` variables for `entries`, in the
/// order gammu-smsd sets them. Octets that are not UTF-8 (MMS fields) become
/// U+FFFD.
pub fn environment(entries: &[Decoded]) -> Vec<(String, String)> {
    let mut env = vec![("DECODED_PARTS".to_owned(), entries.len().to_string())];
    for (index, entry) in entries.iter().enumerate() {
        let k = index + 1;
        match entry {
            Decoded::Text { text, .. } => env.push((
                format!("DECODED_{k}_TEXT"),
                text.clone().unwrap_or_default(),
            )),
            Decoded::Mms(mms) => {
                let lossy = |octets: &[u8]| String::from_utf8_lossy(octets).into_owned();
                env.push((format!("DECODED_{k}_MMS_SENDER"), lossy(&mms.sender)));
                env.push((format!("DECODED_{k}_MMS_TITLE"), lossy(&mms.title)));
                env.push((format!("DECODED_{k}_MMS_ADDRESS"), lossy(&mms.address)));
                env.push((format!("DECODED_{k}_MMS_SIZE"), mms.size_text()));
            }
            Decoded::Silent(_) => {}
        }
    }
    env
}

/// gammu's user data header types (`GSM_DecodeUDHHeader`), as far as the
/// decoder tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UdhType {
    None,
    User,
    Concatenated,
    Concatenated16,
    NokiaRingtone,
    NokiaOperatorLogo,
    NokiaCallerLogo,
    NokiaCalendarLong,
    MmsIndicatorLong,
    NokiaProfileLong,
    NokiaPhonebookLong,
    /// Any other type in gammu's table (voice/fax/e-mail indications, Nokia
    /// WAP, long ringtones and logos): decoded by nothing.
    OtherKnown,
}

/// gammu's table: (type, UDHL, the octets after it).
const UDH_TABLE: &[(UdhType, u8, &[u8])] = &[
    (UdhType::Concatenated, 0x05, &[0x00, 0x03, 0x01, 0x00, 0x00]),
    (UdhType::OtherKnown, 0x04, &[0x01, 0x02, 0x00, 0x00]),
    (UdhType::OtherKnown, 0x04, &[0x01, 0x02, 0x01, 0x00]),
    (UdhType::OtherKnown, 0x04, &[0x01, 0x02, 0x02, 0x00]),
    (UdhType::OtherKnown, 0x04, &[0x01, 0x02, 0x00, 0x01]),
    (UdhType::OtherKnown, 0x04, &[0x01, 0x02, 0x01, 0x01]),
    (UdhType::OtherKnown, 0x04, &[0x01, 0x02, 0x02, 0x01]),
    (
        UdhType::OtherKnown,
        0x08,
        &[0x01, 0x02, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00],
    ),
    (
        UdhType::NokiaRingtone,
        0x06,
        &[0x05, 0x04, 0x15, 0x81, 0x00, 0x00],
    ),
    (
        UdhType::NokiaOperatorLogo,
        0x06,
        &[0x05, 0x04, 0x15, 0x82, 0x00, 0x00],
    ),
    (
        UdhType::NokiaCallerLogo,
        0x06,
        &[0x05, 0x04, 0x15, 0x83, 0x00, 0x00],
    ),
    (
        UdhType::OtherKnown,
        0x06,
        &[0x05, 0x04, 0xC3, 0x4F, 0x00, 0x00],
    ),
    (
        UdhType::NokiaCalendarLong,
        0x0B,
        &[0x05, 0x04, 0x00, 0xE4, 0x00, 0x00, 0x00, 0x03],
    ),
    (
        UdhType::MmsIndicatorLong,
        0x0B,
        &[0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03],
    ),
    (
        UdhType::OtherKnown,
        0x0B,
        &[0x05, 0x04, 0x15, 0x81, 0x00, 0x00, 0x00, 0x03],
    ),
    (
        UdhType::OtherKnown,
        0x0B,
        &[0x05, 0x04, 0x15, 0x82, 0x00, 0x00, 0x00, 0x03],
    ),
    (
        UdhType::NokiaProfileLong,
        0x0B,
        &[0x05, 0x04, 0x15, 0x8A, 0x00, 0x00, 0x00, 0x03],
    ),
    (
        UdhType::NokiaPhonebookLong,
        0x0B,
        &[0x05, 0x04, 0x23, 0xF4, 0x00, 0x00, 0x00, 0x03],
    ),
    (
        UdhType::OtherKnown,
        0x0B,
        &[0x05, 0x04, 0xC3, 0x4F, 0x00, 0x00, 0x00, 0x03],
    ),
    (
        UdhType::Concatenated16,
        0x06,
        &[0x08, 0x04, 0x00, 0x00, 0x00, 0x00],
    ),
];

/// The type gammu gives a raw header (UDHL first; empty for none). Like
/// gammu it compares only the fixed octets: for concatenation headers the
/// reference and part numbers, for the long Nokia headers the concatenation
/// element's content.
fn udh_type(raw: &[u8]) -> UdhType {
    let Some((&udhl, rest)) = raw.split_first() else {
        return UdhType::None;
    };
    for &(kind, length, pattern) in UDH_TABLE {
        if length != udhl {
            continue;
        }
        let compared = match length {
            0x05 | 0x0B => pattern.len().min(usize::from(length) - 3),
            0x06 if rest.first() == Some(&0x08) => 2,
            _ => pattern.len(),
        };
        if rest.len() >= compared && rest[..compared] == pattern[..compared] {
            return kind;
        }
    }
    UdhType::User
}

/// gammu's `SMS_Coding_*` as far as the decoder cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    /// GSM 7-bit text.
    Default,
    /// UCS-2 text.
    Unicode,
    /// 8-bit data.
    Eight,
    /// Compressed data, or gammu's `-1` after an application port element.
    Other,
}

/// One part as gammu's decoder sees it.
struct Part {
    /// The header with its UDHL octet; empty without one.
    udh: Vec<u8>,
    coding: Coding,
    /// Text as UTF-16 units (text codings), as the part carried them.
    units: Vec<u16>,
    /// Data octets (8-bit and compressed).
    octets: Vec<u8>,
}

impl Part {
    fn new(sms: &SmsDeliver) -> Self {
        let udh = sms
            .user_data
            .header
            .as_ref()
            .map(|header| header.encode())
            .unwrap_or_default();
        let (coding, units, octets) = match &sms.user_data.body {
            Body::Text(_) => {
                let coding = if sms.dcs.alphabet == Alphabet::Ucs2 {
                    Coding::Unicode
                } else {
                    Coding::Default
                };
                // The units as they came: halves of a pair split between
                // parts join again in the linked text, as in gammu.
                let units = sms.user_data.text_units().unwrap_or_default();
                (coding, units, Vec::new())
            }
            Body::Binary(data) => (Coding::Eight, Vec::new(), data.clone()),
            Body::Compressed(data) => (Coding::Other, Vec::new(), data.clone()),
        };
        Self {
            udh,
            coding,
            units,
            octets,
        }
    }

    /// gammu's `Length`: octets for data, UTF-16 units for text.
    fn length(&self) -> usize {
        match self.coding {
            Coding::Default | Coding::Unicode => self.units.len(),
            Coding::Eight | Coding::Other => self.octets.len(),
        }
    }

    /// The UDH octet at `index` (0 beyond the header).
    fn udh_at(&self, index: usize) -> u8 {
        self.udh.get(index).copied().unwrap_or(0)
    }

    /// The first `length` octets of gammu's text buffer (`memcpy(…, Text,
    /// Length)`): the data, or the text as UTF-16BE.
    fn raw_octets(&self) -> Vec<u8> {
        match self.coding {
            Coding::Eight | Coding::Other => self.octets.clone(),
            Coding::Default | Coding::Unicode => self
                .units
                .iter()
                .flat_map(|unit| unit.to_be_bytes())
                .take(self.units.len())
                .collect(),
        }
    }
}

/// Why gammu's decoder gives up (returns FALSE, or would crash).
struct Fail;

fn decode_parts(parts: &[Part]) -> Result<Vec<Decoded>, Fail> {
    if parts.is_empty() {
        return Err(Fail);
    }
    let types: Vec<UdhType> = parts.iter().map(|part| udh_type(&part.udh)).collect();
    let ems = types.iter().all(|kind| {
        matches!(
            kind,
            UdhType::Concatenated | UdhType::Concatenated16 | UdhType::User
        )
    });
    if ems {
        return Ems::default().decode(parts, &types);
    }
    let single = parts.len() == 1;
    match types[0] {
        // gammu 1.42 also decodes a single Nokia ringtone here when its RTTL
        // parser accepts it; not modelled (see the module documentation).
        UdhType::NokiaCallerLogo if single => {
            Ok(vec![Decoded::Silent(SilentKind::NokiaCallerLogo)])
        }
        UdhType::NokiaOperatorLogo if single => {
            Ok(vec![Decoded::Silent(SilentKind::NokiaOperatorLogo)])
        }
        UdhType::NokiaProfileLong => {
            let numbered = parts
                .iter()
                .zip(&types)
                .enumerate()
                .all(|(i, (part, kind))| {
                    *kind == UdhType::NokiaProfileLong
                        && usize::from(part.udh_at(11)) == i + 1
                        && usize::from(part.udh_at(10)) == parts.len()
                });
            if numbered {
                Ok(vec![Decoded::Silent(SilentKind::NokiaProfile)])
            } else {
                Err(Fail)
            }
        }
        UdhType::Concatenated | UdhType::Concatenated16 => Ok(vec![Decoded::Text {
            kind: TextKind::Concatenated,
            text: Some(linked_text(parts)?),
        }]),
        UdhType::NokiaCalendarLong => Ok(vec![Decoded::Text {
            kind: TextKind::VCalendar,
            text: Some(linked_text(parts)?),
        }]),
        UdhType::NokiaPhonebookLong => Ok(vec![Decoded::Silent(SilentKind::NokiaVCard(
            linked_text(parts)?,
        ))]),
        UdhType::MmsIndicatorLong => mms_indication(parts, &types).map(|mms| vec![mms]),
        _ => Err(Fail),
    }
}

/// gammu's `GSM_DecodeLinkedText`: 8-bit octets copied as they are into a
/// UTF-16BE buffer, text up to its first U+0000 appended as UTF-16.
fn linked_text(parts: &[Part]) -> Result<String, Fail> {
    let mut buffer: Option<Vec<u8>> = None;
    for part in parts {
        match part.coding {
            Coding::Eight => buffer
                .get_or_insert_with(Vec::new)
                .extend_from_slice(&part.octets),
            Coding::Default | Coding::Unicode => {
                let text = buffer.get_or_insert_with(Vec::new);
                for unit in part.units.iter().take_while(|unit| **unit != 0) {
                    text.extend_from_slice(&unit.to_be_bytes());
                }
            }
            Coding::Other => {}
        }
    }
    // No part with a coding gammu copies: it writes the terminator through
    // a null pointer.
    let mut buffer = buffer.ok_or(Fail)?;
    // The terminator, and (for an odd length) what follows it, taken as 0.
    buffer.extend_from_slice(&[0, 0, 0]);
    let units: Vec<u16> = buffer
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .take_while(|unit| *unit != 0)
        .collect();
    Ok(String::from_utf16_lossy(&units))
}

/// gammu's entry identifiers during EMS decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Id {
    #[default]
    Unset,
    Text,
    VCard,
    VCalendar,
    Sound,
    PredefinedAnimation,
    Animation,
    FixedPicture,
    VariablePicture,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    id: Id,
    /// gammu's UTF-16 buffer up to its first U+0000; `None` while it is a
    /// null pointer.
    buffer: Option<Vec<u16>>,
}

/// The state of gammu's `GSM_DecodeEMSMultiPartSMS`.
struct Ems {
    entries: Vec<Entry>,
    /// `EntriesNum`: the index of the current entry.
    current: usize,
}

impl Default for Ems {
    fn default() -> Self {
        Self {
            entries: vec![Entry::default()],
            current: 0,
        }
    }
}

impl Ems {
    fn entry(&mut self) -> &mut Entry {
        &mut self.entries[self.current]
    }

    /// `EntriesNum++`.
    fn advance(&mut self) -> Result<(), Fail> {
        self.current += 1;
        if self.current >= MAX_ENTRIES {
            return Err(Fail);
        }
        self.entries.push(Entry::default());
        Ok(())
    }

    fn decode(mut self, parts: &[Part], types: &[UdhType]) -> Result<Vec<Decoded>, Fail> {
        // gammu's `int UPI`: a count that may go below zero.
        let mut upi: i32 = 1;
        for part in parts {
            let mut pos: i64 = 0;
            let mut coding = part.coding;
            let mut w = 1;
            let length = part.length() as i64;
            while w < part.udh.len() {
                if self.current + 1 >= MAX_ENTRIES {
                    return Err(Fail);
                }
                let start = i64::from(part.udh_at(w + 2));
                match part.udh_at(w) {
                    0x05 => {
                        // Application data: gammu stops reading this part's
                        // body as text.
                        coding = Coding::Other;
                        self.add_text(part, coding, &mut pos, length)?;
                        let port = u16::from_be_bytes([part.udh_at(w + 2), part.udh_at(w + 3)]);
                        match port {
                            0x23F4 => self.entry().id = Id::VCard,
                            0x23F5 => self.entry().id = Id::VCalendar,
                            0x0B84 => return mms_indication(parts, types).map(|mms| vec![mms]),
                            _ => {}
                        }
                    }
                    0x0A => {
                        if start > pos {
                            if self.entry().id != Id::Unset {
                                self.advance()?;
                            }
                            self.add_text(part, coding, &mut pos, start)?;
                        }
                        self.entry().id = Id::Text;
                    }
                    iei @ (0x0B | 0x0D | 0x10 | 0x11) => {
                        if start > pos {
                            self.add_text(part, coding, &mut pos, start)?;
                        }
                        if self.entry().id != Id::Unset {
                            self.advance()?;
                        }
                        self.entry().id = match iei {
                            0x0B => Id::Sound,
                            0x0D => Id::PredefinedAnimation,
                            _ => Id::FixedPicture,
                        };
                    }
                    0x0E | 0x0F => {
                        if start > pos {
                            self.add_text(part, coding, &mut pos, start)?;
                        }
                        self.advance()?;
                        self.entry().id = Id::Animation;
                    }
                    0x12 => {
                        if start > pos {
                            self.add_text(part, coding, &mut pos, start)?;
                        }
                        if upi == 1 {
                            self.entry().id = Id::VariablePicture;
                        } else {
                            upi -= 1;
                        }
                    }
                    0x13 => upi = i32::from(part.udh_at(w + 2)),
                    // Concatenation, object distribution indicator, and
                    // elements gammu does not know.
                    _ => {}
                }
                w += usize::from(part.udh_at(w + 1)) + 2;
            }
            self.add_text(part, coding, &mut pos, length)?;
        }
        // `if (SMS->Number > 0) EntriesNum++`: the current entry counts.
        Ok(self
            .entries
            .into_iter()
            .map(|entry| match (entry.id, entry.buffer) {
                (Id::Unset, _) => Decoded::Silent(SilentKind::Empty),
                (Id::Text | Id::VCard | Id::VCalendar, buffer) => Decoded::Text {
                    kind: match entry.id {
                        Id::VCard => TextKind::VCard,
                        Id::VCalendar => TextKind::VCalendar,
                        _ => TextKind::Concatenated,
                    },
                    text: buffer.map(|units| String::from_utf16_lossy(&units)),
                },
                (Id::Sound, _) => Decoded::Silent(SilentKind::EmsSound),
                (Id::PredefinedAnimation, _) => Decoded::Silent(SilentKind::EmsPredefinedAnimation),
                (Id::Animation, _) => Decoded::Silent(SilentKind::EmsAnimation),
                (Id::FixedPicture, _) => Decoded::Silent(SilentKind::EmsPicture),
                (Id::VariablePicture, _) => Decoded::Silent(SilentKind::EmsVariablePicture),
            })
            .collect())
    }

    /// gammu's `AddEMSText` with `Len = end - Pos`: appends that many units
    /// (octets for 8-bit data, from octet `2 * pos`) of the part's body to
    /// the current text entry.
    fn add_text(
        &mut self,
        part: &Part,
        coding: Coding,
        pos: &mut i64,
        end: i64,
    ) -> Result<(), Fail> {
        let len = end - *pos;
        if len == 0 {
            return Ok(());
        }
        if !matches!(self.entry().id, Id::Unset | Id::Text) {
            self.advance()?;
        }
        let piece = match coding {
            // A negative length: gammu reallocates to a negative size or
            // copies ~2^64 octets.
            Coding::Default | Coding::Unicode | Coding::Eight if len < 0 => return Err(Fail),
            Coding::Default | Coding::Unicode => {
                let start = *pos as usize;
                Some(
                    (start..start + len as usize)
                        .map(|index| part.units.get(index).copied().unwrap_or(0))
                        .take_while(|unit| *unit != 0)
                        .collect::<Vec<u16>>(),
                )
            }
            Coding::Eight => Some(utf8_piece(&part.octets, *pos as usize * 2, len as usize)),
            Coding::Other => None,
        };
        let entry = self.entry();
        if let Some(piece) = piece {
            entry.buffer.get_or_insert_with(Vec::new).extend(piece);
        }
        if entry.buffer.is_some() {
            *pos += len;
            entry.id = Id::Text;
        }
        Ok(())
    }
}

/// gammu's `EncodeUnicode` of `len` octets from `start` as the text gammu
/// keeps: characters up to the first NUL or octet sequence that is not
/// UTF-8. A character that starts before `len` is read whole.
fn utf8_piece(octets: &[u8], start: usize, len: usize) -> Vec<u16> {
    let tail = octets.get(start..).unwrap_or_default();
    let mut out = Vec::new();
    let mut read = 0;
    while read < len {
        let lead = tail.get(read).copied().unwrap_or(0);
        let width = match lead {
            0x01..=0x7F => 1,
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => break,
        };
        let Some(ch) = tail
            .get(read..read + width)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|text| text.chars().next())
        else {
            break;
        };
        let mut units = [0; 2];
        out.extend_from_slice(ch.encode_utf16(&mut units));
        read += width;
    }
    out
}

/// gammu's `GSM_DecodeMMSIndication`.
fn mms_indication(parts: &[Part], types: &[UdhType]) -> Result<Decoded, Fail> {
    let mut data = Vec::new();
    for (i, (part, kind)) in parts.iter().zip(types).enumerate() {
        match kind {
            UdhType::MmsIndicatorLong => {
                if usize::from(part.udh_at(11)) != i + 1
                    || usize::from(part.udh_at(10)) != parts.len()
                {
                    return Err(Fail);
                }
            }
            UdhType::User => {}
            _ => return Err(Fail),
        }
        data.extend(part.raw_octets());
    }
    let length = data.len();
    let at = |index: usize| data.get(index).copied().unwrap_or(0);
    // A C string from `index`, ending at NUL or at the end of the data.
    let c_string = |index: usize| -> Vec<u8> {
        data.get(index..)
            .unwrap_or_default()
            .iter()
            .copied()
            .take_while(|octet| *octet != 0)
            .collect()
    };
    let mut mms = MmsNotification::default();
    // Octet 0: WSP transaction ID; octet 1: PDU type, Push only.
    if at(1) != 0x06 {
        return Err(Fail);
    }
    let mut i = 3 + usize::from(at(2));
    while i < length {
        match at(i) {
            // X-Mms-Message-Type: m-notification-ind only.
            0x8C => {
                i += 1;
                if at(i) != 0x82 {
                    return Err(Fail);
                }
            }
            // X-Mms-Transaction-Id and the encoded strings gammu skips: up
            // to the NUL.
            0x98 | 0x81 | 0x82 | 0x84 | 0x97 | 0x93 | 0x9A | 0xA6 | 0xB5 | 0xB6 => {
                while at(i) != 0 && i < length {
                    i += 1;
                }
            }
            // X-Mms-MMS-Version: 1.0 to 1.2.
            0x8D => {
                i += 1;
                if !(0x90..=0x92).contains(&at(i)) {
                    return Err(Fail);
                }
            }
            // From: value length, address-present token, [charset], text.
            0x89 => {
                i += 1;
                if at(i) == 0 {
                    i += 1;
                    continue;
                }
                if at(i + 1) == 0x80 {
                    mms.sender = if at(i + 2) < 32 {
                        c_string(i + 4)
                    } else {
                        c_string(i + 2)
                    };
                }
                i += usize::from(at(i));
            }
            // Subject.
            0x96 => {
                if at(i + 1) == 0x0A && at(i + 2) == 0xEA {
                    mms.title = c_string(i + 3);
                    i += mms.title.len() + 3;
                } else {
                    mms.title = c_string(i + 1);
                    i += mms.title.len() + 1;
                }
            }
            // X-Mms-Message-Size: Long-integer, accumulated.
            0x8E => {
                i += 1;
                let count = usize::from(at(i));
                for j in i + 1..i + 1 + count {
                    mms.size = (mms.size << 8).wrapping_add(u64::from(at(j)));
                }
                i += count;
            }
            // X-Mms-Content-Location.
            0x83 => {
                mms.address = c_string(i + 1);
                i += mms.address.len() + 1;
            }
            // Value-length fields and Long-integers gammu skips.
            0x87 | 0x88 | 0x9D | 0xA0 | 0xA1 | 0xA4 | 0xAA | 0xAC | 0xB2 | 0x85 | 0x9F | 0x8B
            | 0x9E | 0xB7 | 0xB8 | 0xB9 | 0xBD | 0xBE => {
                i += 1;
                i += usize::from(at(i));
            }
            // One-octet values gammu skips (the class included).
            0x8A | 0xAD | 0xAF | 0xB3 | 0x86 | 0x8F | 0x90 | 0x91 | 0x92 | 0x94 | 0x95 | 0x99
            | 0x9B | 0x9C | 0xA2 | 0xA3 | 0xA5 | 0xA7 | 0xA8 | 0xA9 | 0xAB | 0xB1 | 0xB4 | 0xBA
            | 0xBB | 0xBC | 0xBF => i += 1,
            _ => {}
        }
        i += 1;
    }
    Ok(Decoded::Mms(mms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::{Address, DataCodingScheme, Timestamp, UserData, UserDataHeader};

    fn deliver(dcs: u8, udh: &[u8], body: Body) -> SmsDeliver {
        SmsDeliver {
            more_messages: false,
            loop_prevention: false,
            reply_path: false,
            status_report_indication: false,
            originator: Address::parse_number("+420777000001").unwrap(),
            protocol_identifier: 0,
            dcs: DataCodingScheme::decode(dcs),
            timestamp: Timestamp::from_octets([0x52, 0x10, 0x12, 0x41, 0, 0, 0x80])
                .unwrap()
                .into(),
            user_data: UserData {
                header: (!udh.is_empty()).then(|| UserDataHeader::decode(udh).unwrap()),
                body,
                split: Default::default(),
            },
        }
    }

    #[test]
    fn a_pair_split_between_parts_is_whole_in_the_linked_text() {
        // gammu joins the parts' UTF-16 units; so does simgate, halves of
        // pairs at the edges included.
        let mut first = deliver(0x08, &[0, 3, 0x55, 2, 1], Body::Text("Ж".repeat(66)));
        first.user_data.split.trailing = Some(0xD83D);
        let mut second = deliver(0x08, &[0, 3, 0x55, 2, 2], Body::Text(" end".into()));
        second.user_data.split.leading = Some(0xDE00);
        assert_eq!(
            decode(&[&first, &second]),
            [Decoded::Text {
                kind: TextKind::Concatenated,
                text: Some(format!("{}😀 end", "Ж".repeat(66)))
            }]
        );
    }

    #[test]
    fn udh_types_follow_gammus_table() {
        assert_eq!(udh_type(&[]), UdhType::None);
        assert_eq!(udh_type(&[5, 0, 3, 9, 2, 1]), UdhType::Concatenated);
        assert_eq!(udh_type(&[6, 8, 4, 1, 2, 2, 1]), UdhType::Concatenated16);
        assert_eq!(
            udh_type(&[11, 5, 4, 0x0B, 0x84, 0x23, 0xF0, 0, 3, 7, 2, 1]),
            UdhType::MmsIndicatorLong
        );
        // Port 2948 without concatenation is not in the table.
        assert_eq!(udh_type(&[6, 5, 4, 0x0B, 0x84, 0x23, 0xF0]), UdhType::User);
        assert_eq!(
            udh_type(&[6, 5, 4, 0x15, 0x83, 0, 0]),
            UdhType::NokiaCallerLogo
        );
        // The source port must be 0.
        assert_eq!(udh_type(&[6, 5, 4, 0x15, 0x83, 0x15, 0x83]), UdhType::User);
    }

    #[test]
    fn plain_messages_decode_to_nothing() {
        let sms = deliver(0, &[], Body::Text("hi".into()));
        assert_eq!(decode(&[&sms]), vec![]);
        assert_eq!(environment(&[]), vec![("DECODED_PARTS".into(), "0".into())]);
        assert_eq!(decode(&[]), vec![]);
    }

    #[test]
    fn concatenated_text_is_one_entry() {
        let a = deliver(0, &[0, 3, 1, 2, 1], Body::Text("ab\0x".into()));
        let b = deliver(0, &[0, 3, 1, 2, 2], Body::Text("cd".into()));
        assert_eq!(
            decode(&[&a, &b]),
            vec![Decoded::Text {
                kind: TextKind::Concatenated,
                text: Some("abcd".into())
            }]
        );
    }

    #[test]
    fn linked_text_pairs_octets() {
        assert_eq!(
            linked_text(&[Part {
                udh: vec![],
                coding: Coding::Eight,
                units: vec![],
                octets: b"BEG".to_vec(),
            }])
            .ok(),
            Some("\u{4245}\u{4700}".to_owned())
        );
    }

    #[test]
    fn truncated_mms_never_panics() {
        let mut body = vec![0x01, 0x06, 0x02, 0xBE, 0x84];
        body.extend_from_slice(&[0x8C, 0x82, 0x98, b'1', 0, 0x8D, 0x92, 0x89, 0x05, 0x80]);
        body.extend_from_slice(b"+1\0\x96T\0\x8E\x02\x01\x02\x83http://x\0");
        let full = deliver(
            4,
            &[5, 4, 0x0B, 0x84, 0x23, 0xF0],
            Body::Binary(body.clone()),
        );
        let Decoded::Mms(mms) = &decode(&[&full])[0] else {
            panic!("not an MMS notification");
        };
        assert_eq!(mms.size, 258);
        for cut in 0..body.len() {
            for &fill in &[0x00, 0x80, 0x8E, 0xFF] {
                let mut data = body[..cut].to_vec();
                data.push(fill);
                let sms = deliver(4, &[5, 4, 0x0B, 0x84, 0x23, 0xF0], Body::Binary(data));
                let _ = environment(&decode(&[&sms]));
            }
        }
    }

    #[test]
    fn a_picture_count_of_zero_does_not_underflow() {
        // Found by the smart_decode fuzz target: an EMS user prompt
        // indicator (0x13) of 0, then a variable picture (0x12).
        let sms = deliver(
            4,
            &[0x13, 1, 0, 0x12, 0, 0x12, 0],
            Body::Binary(b"x".to_vec()),
        );
        let _ = environment(&decode(&[&sms]));
    }
}
