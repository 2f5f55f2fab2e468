//! How `gammu-smsd-inject` (gammu 1.42) cuts a TEXT or EMS message into
//! the parts it writes: which coding, which text in which part, and which
//! user data header. Pure: the text comes in as UTF-16 code units (gammu
//! keeps text that way), the local time comes in as fields (the
//! concatenation reference is made from it).
//!
//! Observed rules, reproduced so that the files match byte for byte:
//!
//! - A part holds 140 octets. GSM 7-bit text counts one septet per
//!   UTF-16 unit, two for the ten characters of the extension table
//!   (form feed, `^ { } \ [ ~ ] |` and `€`), whether or not the other
//!   characters exist in the alphabet (the daemon replaces them when it
//!   sends). UCS-2 text counts two octets per unit.
//! - TEXT without `-len` is one part, cut at 160 septets or 70 units.
//!   With `-len` (or `-autolen`) it is split into parts of 153 septets or
//!   67 units behind an 8-bit concatenation header (`05 00 03 …`), or 152
//!   and 66 behind a 16-bit one (`06 08 04 …`) when `-16bit` came after
//!   `-len`. `-autolen` chooses UCS-2 when the text does not come back
//!   unchanged from the 7-bit alphabet, whatever `-unicode` said.
//! - In UCS-2, a cut never separates a surrogate pair, never puts a
//!   combining mark at the start of the next part, and never splits two
//!   regional indicators (a flag).
//! - The reference is the local second plus a bucket of the minute
//!   (`GSM_MakeSMSIDFromTime`); the 16-bit reference's high octet is the
//!   local hour.
//! - EMS with one text is TEXT with `-len`. EMS with several texts or any
//!   `-format` packs the texts one after another (formatting as text
//!   formatting elements in the header, whose position octet is, as in
//!   gammu, the count *after* the text); when that takes more than one
//!   part it is packed again behind a 16-bit header, or an 8-bit one when
//!   `-16bit` was given (gammu's inversion), and every EMS part has
//!   message class 0.
//! - Where gammu 1.42 never finishes (a 7-bit part with one septet left
//!   before an extension character, in EMS), simgate starts the next part.

/// Octets in one part's user data.
const PART_OCTETS: usize = 140;

/// The most parts gammu makes of one message.
pub(crate) const MAX_PARTS: usize = 50;

/// One part as it goes into the outbox file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// The user data header, its length octet first; empty for none.
    pub udh: Vec<u8>,
    /// The text, in UTF-16 code units.
    pub text: Vec<u16>,
    /// UCS-2 (`Unicode_No_Compression`) rather than the 7-bit alphabet.
    pub unicode: bool,
    /// The message class, -1 for none.
    pub class: i8,
    /// gammu's `ReplaceMessage` (only a single-part TEXT keeps it).
    pub replace: u8,
}

/// How TEXT is split (gammu's entry types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextMode {
    /// No `-len`: one part.
    Single,
    /// `-len`: concatenated, coding as asked.
    Long {
        /// 16-bit reference.
        bits16: bool,
    },
    /// `-autolen`: concatenated, coding chosen from the text.
    AutoLong {
        /// 16-bit reference.
        bits16: bool,
    },
}

/// One `-text` of an EMS, with its `-format`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct EmsText {
    /// The text, in UTF-16 code units.
    pub text: Vec<u16>,
    /// The formatting octet of a text formatting element, if formatted.
    pub format: Option<u8>,
}

/// The local time fields the reference is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Clock {
    /// Hour 0-23.
    pub hour: u8,
    /// Minute 0-59.
    pub minute: u8,
    /// Second 0-59.
    pub second: u8,
}

impl Clock {
    /// gammu's 8-bit concatenation reference for this time.
    pub(crate) fn reference(self) -> u8 {
        let bucket = self.minute / 10;
        let offset = match bucket {
            2 | 7 => 60,
            4 | 8 => 120,
            0 | 5 | 9 => 180,
            _ => 0,
        };
        (u16::from(self.second) + offset + u16::from(bucket)) as u8
    }
}

/// The concatenation header kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Concat {
    None,
    Bits8,
    Bits16,
}

impl Concat {
    /// The header with placeholders, as gammu starts every part.
    fn header(self) -> Vec<u8> {
        match self {
            Self::None => Vec::new(),
            Self::Bits8 => vec![0x05, 0x00, 0x03, 0x00, 0x00, 0xFF],
            Self::Bits16 => vec![0x06, 0x08, 0x04, 0x00, 0x00, 0x00, 0xFF],
        }
    }

    /// Fills in the reference, count and sequence number of every part.
    fn number(self, parts: &mut [Part], clock: Clock) {
        let total = parts.len() as u8;
        for (index, part) in parts.iter_mut().enumerate() {
            let sequence = index as u8 + 1;
            match self {
                Self::None => {}
                Self::Bits8 => {
                    part.udh[3..6].copy_from_slice(&[clock.reference(), total, sequence])
                }
                Self::Bits16 => part.udh[3..7].copy_from_slice(&[
                    clock.hour,
                    clock.reference(),
                    total,
                    sequence,
                ]),
            }
        }
    }
}

/// Why gammu would make no message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PackError {
    /// An EMS without any text.
    #[error("the message is empty (EMS needs a -text)")]
    Empty,
    /// More parts than gammu makes (it would drop the rest silently).
    #[error("the message needs more than {MAX_PARTS} parts")]
    TooLong,
}

/// Whether a unit is one of the extension characters (two septets).
fn is_extension(unit: u16) -> bool {
    matches!(
        unit,
        0x000C | 0x005E | 0x007B | 0x007D | 0x005C | 0x005B | 0x007E | 0x005D | 0x007C | 0x20AC
    )
}

/// How many units of `units` fit in `max` septets, and their septets.
fn fit_septets(units: &[u16], max: usize) -> (usize, usize) {
    let mut septets = 0;
    for (index, &unit) in units.iter().enumerate() {
        let cost = if is_extension(unit) { 2 } else { 1 };
        if septets + cost > max {
            return (index, septets);
        }
        septets += cost;
    }
    (units.len(), septets)
}

/// Whether the text comes back unchanged through gammu's 7-bit alphabet
/// (the `-autolen` test). gammu's table puts U+00B9 where the escape
/// is, so `¹` survives unless the next character's code is an extension
/// code (then the pair reads back as the extension character).
fn survives_gsm7(units: &[u16]) -> bool {
    let code = |unit: u16| -> Option<u8> {
        if unit == 0x00B9 {
            return Some(crate::pdu::gsm7::ESCAPE);
        }
        let ch = char::from_u32(u32::from(unit))?;
        match crate::pdu::gsm7::lookup(ch)? {
            crate::pdu::gsm7::Gsm7Char::Default(code) => Some(code),
            crate::pdu::gsm7::Gsm7Char::Extended(_) => Some(0x80),
        }
    };
    const EXTENSION_CODES: [u8; 10] = [0x0A, 0x14, 0x28, 0x29, 0x2F, 0x3C, 0x3D, 0x3E, 0x40, 0x65];
    for (index, &unit) in units.iter().enumerate() {
        match code(unit) {
            None => return false,
            Some(crate::pdu::gsm7::ESCAPE) => {
                if let Some(next) = units.get(index + 1).and_then(|&next| code(next)) {
                    if EXTENSION_CODES.contains(&next) {
                        return false;
                    }
                }
            }
            Some(_) => {}
        }
    }
    true
}

fn is_combining(unit: u16) -> bool {
    matches!(unit, 0xFE20..=0xFE2F | 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF)
}

/// gammu's adjustment of a UCS-2 cut of `copy` units of `rest` (of which
/// `available` belong to the message).
fn align(mut copy: usize, rest: &[u16], available: usize) -> usize {
    let at = |index: usize| rest.get(index).copied().unwrap_or(0);
    let mut moved = false;
    if copy > 1 && (0xD800..=0xDBFF).contains(&at(copy - 1)) {
        copy -= 1;
        moved = true;
    }
    if !moved && copy > 1 && copy < available && is_combining(at(copy)) {
        copy -= 1;
    }
    if copy > 2
        && copy + 2 < available
        && at(copy - 2) == 0xD83C
        && at(copy) == 0xD83C
        && (0xDDE6..=0xDDFF).contains(&at(copy - 1))
        && (0xDDE6..=0xDDFF).contains(&at(copy + 1))
    {
        copy -= 2;
    }
    copy
}

/// Free and used room of a part being filled (gammu's
/// `GSM_Find_Free_Used_SMS2`): used text, free text, free octets, with
/// gammu's unsigned arithmetic.
fn room(part: &Part) -> (usize, usize, usize) {
    let header = part.udh.len();
    let capacity = PART_OCTETS.saturating_sub(header);
    if part.unicode {
        let used = part.text.len();
        let free_octets = capacity.wrapping_sub(used * 2);
        (used, free_octets / 2, free_octets)
    } else {
        let (_, used) = fit_septets(&part.text, 500);
        let mut used_octets = used * 7 / 8;
        if used_octets * 8 / 7 != used {
            used_octets += 1;
        }
        let free_octets = capacity.wrapping_sub(used_octets);
        (used, (capacity * 8 / 7).wrapping_sub(used), free_octets)
    }
}

/// Parts of a message being packed.
struct Packer {
    parts: Vec<Part>,
    concat: Concat,
    unicode: bool,
    class: i8,
}

impl Packer {
    fn new(concat: Concat, unicode: bool, class: i8) -> Self {
        let mut packer = Self {
            parts: Vec::new(),
            concat,
            unicode,
            class,
        };
        packer.next_part();
        packer
    }

    fn next_part(&mut self) {
        self.parts.push(Part {
            udh: self.concat.header(),
            text: Vec::new(),
            unicode: self.unicode,
            class: self.class,
            replace: 0,
        });
    }

    fn current(&mut self) -> &mut Part {
        self.parts.last_mut().expect("a packer always has a part")
    }

    /// Appends an information element to the header (on a new part when
    /// the current one has exactly its size left); the used text after.
    fn add_element(&mut self, element: &[u8]) -> usize {
        let (_, _, free_octets) = room(self.current());
        if free_octets.wrapping_sub(element.len()) == 0 {
            self.next_part();
        }
        let part = self.current();
        if part.udh.is_empty() {
            part.udh.push(0);
        }
        part.udh.extend_from_slice(element);
        part.udh[0] = part.udh[0].wrapping_add(element.len() as u8);
        room(self.current()).0
    }

    /// Appends as much of `rest` (of which `available` units belong to
    /// the message) as fits; returns (used text after, units taken,
    /// septets or units taken).
    fn add_text(&mut self, rest: &[u16], available: usize) -> (usize, usize, usize) {
        let (_, mut free, _) = room(self.current());
        if free == 0 {
            self.next_part();
            free = room(self.current()).1;
        }
        let unicode = self.unicode;
        let fit = |free: usize| {
            if unicode {
                let copy = align(free.min(available), rest, available);
                (copy, copy)
            } else {
                fit_septets(rest, free)
            }
        };
        let (mut taken, mut counted) = fit(free);
        if taken == 0 && available > 0 {
            // One septet left and an extension character next: gammu 1.42
            // tries the same part again forever; simgate goes on in a new
            // part.
            self.next_part();
            (taken, counted) = fit(room(self.current()).1);
        }
        self.current().text.extend_from_slice(&rest[..taken]);
        (room(self.current()).0, taken, counted)
    }
}

/// The parts of a TEXT message (or an EMS with one unformatted text).
pub(crate) fn pack_text(
    units: &[u16],
    unicode: bool,
    mode: TextMode,
    class: i8,
    replace: u8,
    clock: Clock,
) -> Result<Vec<Part>, PackError> {
    let (unicode, bits16) = match mode {
        TextMode::Single => (unicode, false),
        TextMode::Long { bits16 } => (unicode, bits16),
        TextMode::AutoLong { bits16 } => (!survives_gsm7(units), bits16),
    };
    let concat_kind = if bits16 {
        Concat::Bits16
    } else {
        Concat::Bits8
    };
    let (length, concat) = match (mode, unicode) {
        (TextMode::Single, true) => (units.len().min(PART_OCTETS / 2), Concat::None),
        (TextMode::Single, false) => (fit_septets(units, PART_OCTETS * 8 / 7).0, Concat::None),
        (_, true) => {
            let concat = if units.len() > 70 {
                concat_kind
            } else {
                Concat::None
            };
            (units.len(), concat)
        }
        (_, false) => {
            let (length, septets) = fit_septets(units, 5000);
            let concat = if septets > 160 {
                concat_kind
            } else {
                Concat::None
            };
            (length, concat)
        }
    };
    let mut packer = Packer::new(concat, unicode, class);
    packer.parts.clear();
    let mut done = 0;
    loop {
        if packer.parts.len() >= MAX_PARTS {
            return Err(PackError::TooLong);
        }
        packer.next_part();
        let (_, taken, _) = packer.add_text(&units[done..], length - done);
        done += taken;
        if done >= length {
            break;
        }
    }
    let mut parts = packer.parts;
    concat.number(&mut parts, clock);
    if let [only] = parts.as_mut_slice() {
        only.replace = replace;
    }
    Ok(parts)
}

/// The parts of an EMS message.
pub(crate) fn pack_ems(
    texts: &[EmsText],
    unicode: bool,
    bits16: bool,
    clock: Clock,
) -> Result<Vec<Part>, PackError> {
    match texts {
        [] => return Err(PackError::Empty),
        [single] if single.format.is_none() => {
            return pack_text(
                &single.text,
                unicode,
                TextMode::Long { bits16 },
                -1,
                0,
                clock,
            )
        }
        _ => {}
    }
    let parts = pack_elements(texts, unicode, Concat::None, clock)?;
    if parts.len() == 1 {
        return Ok(parts);
    }
    let concat = if bits16 {
        Concat::Bits8
    } else {
        Concat::Bits16
    };
    pack_elements(texts, unicode, concat, clock)
}

fn pack_elements(
    texts: &[EmsText],
    unicode: bool,
    concat: Concat,
    clock: Clock,
) -> Result<Vec<Part>, PackError> {
    let mut packer = Packer::new(concat, unicode, 0);
    for entry in texts {
        let mut done = 0;
        loop {
            if packer.parts.len() > MAX_PARTS {
                return Err(PackError::TooLong);
            }
            if packer.current().udh.len() > PART_OCTETS {
                return Err(PackError::TooLong);
            }
            if let Some(format) = entry.format {
                packer.add_element(&[0x0A, 0x03, 0x00, 0x00, format]);
                if room(packer.current()).1 == 0 {
                    continue;
                }
            }
            let rest = &entry.text[done..];
            let (used, taken, counted) = packer.add_text(rest, rest.len());
            if entry.format.is_some() {
                let udh = &mut packer.current().udh;
                let end = udh.len();
                udh[end - 3] = used as u8;
                udh[end - 2] = counted as u8;
            }
            done += taken;
            if done == entry.text.len() {
                break;
            }
        }
    }
    if packer.parts.len() > MAX_PARTS {
        return Err(PackError::TooLong);
    }
    let mut parts = packer.parts;
    concat.number(&mut parts, clock);
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(text: &str) -> Vec<u16> {
        text.encode_utf16().collect()
    }

    const CLOCK: Clock = Clock {
        hour: 21,
        minute: 27,
        second: 33,
    };

    fn long_text() -> Vec<u16> {
        let text: String = (0..11)
            .map(|i| format!("Part of a long message number {i:03}. "))
            .collect();
        units(&text[..360])
    }

    #[test]
    fn references_follow_gammus_minute_buckets() {
        // Observed: 21:27:33 gave 0x5F.
        assert_eq!(CLOCK.reference(), 0x5F);
        let at = |minute, second| {
            Clock {
                hour: 0,
                minute,
                second,
            }
            .reference()
        };
        assert_eq!(at(0, 0), 180);
        assert_eq!(at(15, 10), 11);
        assert_eq!(at(45, 59), 59 + 120 + 4);
        assert_eq!(at(59, 59), 59 + 180 + 5);
    }

    #[test]
    fn long_text_splits_as_observed() {
        let parts = pack_text(
            &long_text(),
            false,
            TextMode::Long { bits16: false },
            -1,
            0,
            CLOCK,
        )
        .unwrap();
        let lengths: Vec<usize> = parts.iter().map(|p| p.text.len()).collect();
        assert_eq!(lengths, [153, 153, 54]);
        assert_eq!(parts[1].udh, [0x05, 0x00, 0x03, 0x5F, 0x03, 0x02]);
        let parts = pack_text(
            &long_text(),
            false,
            TextMode::Long { bits16: true },
            -1,
            0,
            CLOCK,
        )
        .unwrap();
        let lengths: Vec<usize> = parts.iter().map(|p| p.text.len()).collect();
        assert_eq!(lengths, [152, 152, 56]);
        assert_eq!(parts[0].udh, [0x06, 0x08, 0x04, 0x15, 0x5F, 0x03, 0x01]);
    }

    #[test]
    fn single_text_is_cut_at_one_part() {
        let parts = pack_text(&long_text(), false, TextMode::Single, -1, 3, CLOCK).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].text.len(), 160);
        assert!(parts[0].udh.is_empty());
        assert_eq!(parts[0].replace, 3);
        // Extension characters take two septets.
        let euros = units(&"€".repeat(100));
        let parts = pack_text(&euros, false, TextMode::Single, -1, 0, CLOCK).unwrap();
        assert_eq!(parts[0].text.len(), 80);
    }

    #[test]
    fn ucs2_cuts_keep_surrogate_pairs_together() {
        let mut text = units(&"a".repeat(66));
        text.extend(units("😀 and more text beyond the first part"));
        let parts = pack_text(&text, true, TextMode::Long { bits16: false }, -1, 0, CLOCK).unwrap();
        assert_eq!(parts[0].text.len(), 66);
        assert_eq!(parts[1].text[0], 0xD83D);
    }

    #[test]
    fn autolen_picks_the_coding_from_the_text() {
        let auto = TextMode::AutoLong { bits16: false };
        assert!(pack_text(&units("Zkouška"), false, auto, -1, 0, CLOCK).unwrap()[0].unicode);
        assert!(!pack_text(&units("plain [x] €"), true, auto, -1, 0, CLOCK).unwrap()[0].unicode);
        assert!(survives_gsm7(&units("¹a")));
        assert!(!survives_gsm7(&units("¹(")));
    }

    #[test]
    fn ems_formatting_and_its_inverted_16_bit_choice() {
        // Observed: EMS -text bold -format b -text " plain".
        let texts = [
            EmsText {
                text: units("bold"),
                format: Some(0x13),
            },
            EmsText {
                text: units(" plain"),
                format: None,
            },
        ];
        let parts = pack_ems(&texts, false, false, CLOCK).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].udh, [0x05, 0x0A, 0x03, 0x04, 0x04, 0x13]);
        assert_eq!(parts[0].class, 0);
        // Observed: two long texts give a 16-bit header without -16bit.
        let texts = [
            EmsText {
                text: long_text(),
                format: None,
            },
            EmsText {
                text: units("more"),
                format: None,
            },
        ];
        let parts = pack_ems(&texts, false, false, CLOCK).unwrap();
        let lengths: Vec<usize> = parts.iter().map(|p| p.text.len()).collect();
        assert_eq!(lengths, [152, 152, 60]);
        assert_eq!(parts[2].udh, [0x06, 0x08, 0x04, 0x15, 0x5F, 0x03, 0x03]);
        let parts = pack_ems(&texts, false, true, CLOCK).unwrap();
        let lengths: Vec<usize> = parts.iter().map(|p| p.text.len()).collect();
        assert_eq!(lengths, [153, 153, 58]);
        assert_eq!(pack_ems(&[], false, false, CLOCK), Err(PackError::Empty));
        // gammu 1.42 loops forever here (one septet left, then `€`).
        let texts = [
            EmsText {
                text: units(&"a".repeat(152)),
                format: None,
            },
            EmsText {
                text: units("€ and more"),
                format: None,
            },
        ];
        let parts = pack_ems(&texts, false, false, CLOCK).unwrap();
        let all: Vec<u16> = parts.iter().flat_map(|p| p.text.clone()).collect();
        assert_eq!(all, units(&format!("{}€ and more", "a".repeat(152))));
    }
}
