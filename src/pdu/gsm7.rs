//! The GSM 7-bit default alphabet and its extension table (3GPP TS 23.038
//! §6.2.1 and §6.2.1.1), and septet packing (3GPP TS 23.040 §9.2.3.24).
//!
//! A character maps to one septet, or to two (ESC 0x1B then a code from the
//! extension table). Septets are packed little-endian into octets, possibly
//! starting after fill bits so that text after a user data header begins on a
//! septet boundary.

/// The escape septet that selects the extension table.
pub const ESCAPE: u8 = 0x1B;

/// The default alphabet, indexed by septet. 0x1B (escape) decodes as a
/// space when it stands alone, as 23.038 says for an unknown extension.
const DEFAULT_ALPHABET: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: the septet after ESC, and the character it stands for.
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'), // form feed (page break)
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// How one character is written in the GSM 7-bit alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gsm7Char {
    /// One septet of the default alphabet.
    Default(u8),
    /// ESC followed by this septet of the extension table (costs 2 septets).
    Extended(u8),
}

impl Gsm7Char {
    /// Septets this character occupies.
    pub fn septets(self) -> usize {
        match self {
            Self::Default(_) => 1,
            Self::Extended(_) => 2,
        }
    }
}

/// Marks an entry of [`LATIN1`] that the alphabet lacks.
const ABSENT: u8 = 0xFF;
/// Marks an entry of [`LATIN1`] that sits in the extension table.
const EXTENDED: u8 = 0x80;

/// Reverse table for U+0000..U+00FF, where most text lives: the septet,
/// `EXTENDED | code` for extension characters, or `ABSENT`. Built at compile
/// time from the two tables above so they stay the one source of truth.
const LATIN1: [u8; 256] = {
    let mut table = [ABSENT; 256];
    let mut code = 0;
    while code < 128 {
        let ch = DEFAULT_ALPHABET[code] as u32;
        // Skip the escape slot, whose placeholder is a space.
        if ch < 256 && code != ESCAPE as usize {
            table[ch as usize] = code as u8;
        }
        code += 1;
    }
    let mut index = 0;
    while index < EXTENSION.len() {
        let (code, ch) = EXTENSION[index];
        if (ch as u32) < 256 {
            table[ch as usize] = EXTENDED | code;
        }
        index += 1;
    }
    table
};

/// The septet(s) for `ch`, or `None` when the alphabet lacks it.
pub fn lookup(ch: char) -> Option<Gsm7Char> {
    match u32::from(ch) {
        latin1 @ 0..=0xFF => match LATIN1[latin1 as usize] {
            ABSENT => None,
            entry if entry & EXTENDED != 0 => Some(Gsm7Char::Extended(entry & 0x7F)),
            code => Some(Gsm7Char::Default(code)),
        },
        _ => match ch {
            '€' => Some(Gsm7Char::Extended(0x65)),
            'Δ' => Some(Gsm7Char::Default(0x10)),
            'Φ' => Some(Gsm7Char::Default(0x12)),
            'Γ' => Some(Gsm7Char::Default(0x13)),
            'Λ' => Some(Gsm7Char::Default(0x14)),
            'Ω' => Some(Gsm7Char::Default(0x15)),
            'Π' => Some(Gsm7Char::Default(0x16)),
            'Ψ' => Some(Gsm7Char::Default(0x17)),
            'Σ' => Some(Gsm7Char::Default(0x18)),
            'Θ' => Some(Gsm7Char::Default(0x19)),
            'Ξ' => Some(Gsm7Char::Default(0x1A)),
            _ => None,
        },
    }
}

/// Whether every character of `text` exists in the default alphabet or its
/// extension table.
pub fn is_representable(text: &str) -> bool {
    text.chars().all(|c| lookup(c).is_some())
}

/// The septets of `text`, or the first character that has none.
pub fn to_septets(text: &str) -> Result<Vec<u8>, char> {
    let mut septets = Vec::with_capacity(text.len());
    for ch in text.chars() {
        match lookup(ch).ok_or(ch)? {
            Gsm7Char::Default(code) => septets.push(code),
            Gsm7Char::Extended(code) => septets.extend_from_slice(&[ESCAPE, code]),
        }
    }
    Ok(septets)
}

/// Text from septets. An escape followed by a code the extension table lacks
/// shows the default-alphabet character for that code (23.038 §6.2.1.1); an
/// escape at the very end shows as a space.
pub fn from_septets(septets: &[u8]) -> String {
    let mut text = String::with_capacity(septets.len());
    let mut iter = septets.iter().map(|s| s & 0x7F);
    while let Some(septet) = iter.next() {
        if septet != ESCAPE {
            text.push(DEFAULT_ALPHABET[usize::from(septet)]);
            continue;
        }
        match iter.next() {
            Some(code) => text.push(
                EXTENSION
                    .iter()
                    .find(|(c, _)| *c == code)
                    .map_or(DEFAULT_ALPHABET[usize::from(code)], |&(_, ch)| ch),
            ),
            None => text.push(' '),
        }
    }
    text
}

/// Packs septets into octets, the first septet starting `fill_bits` (0..7)
/// bits into the first octet.
pub fn pack(septets: &[u8], fill_bits: u8) -> Vec<u8> {
    let total_bits = usize::from(fill_bits) + septets.len() * 7;
    let mut out = vec![0u8; total_bits.div_ceil(8)];
    let mut bit = usize::from(fill_bits);
    for &septet in septets {
        let value = u16::from(septet & 0x7F) << (bit % 8);
        out[bit / 8] |= value as u8;
        if let Some(next) = out.get_mut(bit / 8 + 1) {
            *next |= (value >> 8) as u8;
        }
        bit += 7;
    }
    out
}

/// Unpacks `count` septets from octets after `fill_bits` fill bits; `None`
/// when the octets hold fewer bits than that.
pub fn unpack(octets: &[u8], fill_bits: u8, count: usize) -> Option<Vec<u8>> {
    let needed_bits = usize::from(fill_bits) + count * 7;
    if needed_bits > octets.len() * 8 {
        return None;
    }
    let mut septets = Vec::with_capacity(count);
    let mut bit = usize::from(fill_bits);
    for _ in 0..count {
        let low = u16::from(octets[bit / 8]);
        let high = u16::from(octets.get(bit / 8 + 1).copied().unwrap_or(0));
        septets.push((((high << 8 | low) >> (bit % 8)) & 0x7F) as u8);
        bit += 7;
    }
    Some(septets)
}

/// Octets needed to hold `septets` septets after `fill_bits` fill bits.
pub fn packed_len(septets: usize, fill_bits: u8) -> usize {
    (usize::from(fill_bits) + septets * 7).div_ceil(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_code_round_trips() {
        for code in 0u8..128 {
            if code == ESCAPE {
                continue;
            }
            let ch = DEFAULT_ALPHABET[usize::from(code)];
            // Space appears once at 0x20; the escape slot also shows as space.
            assert_eq!(lookup(ch), Some(Gsm7Char::Default(code)), "{code:#x}");
        }
    }

    /// The fast lookup agrees with a plain search of both tables for every
    /// character up to U+2FFF.
    #[test]
    fn lookup_matches_the_tables() {
        for ch in (0..0x3000).filter_map(char::from_u32) {
            let slow = EXTENSION
                .iter()
                .find(|(_, c)| *c == ch)
                .map(|&(code, _)| Gsm7Char::Extended(code))
                .or_else(|| {
                    DEFAULT_ALPHABET
                        .iter()
                        .enumerate()
                        .find(|&(code, &c)| c == ch && code != usize::from(ESCAPE))
                        .map(|(code, _)| Gsm7Char::Default(code as u8))
                });
            assert_eq!(lookup(ch), slow, "{ch:?}");
        }
    }

    #[test]
    fn extension_characters_cost_two() {
        for &(code, ch) in &EXTENSION {
            assert_eq!(lookup(ch), Some(Gsm7Char::Extended(code)));
            assert_eq!(to_septets(&ch.to_string()).unwrap(), vec![ESCAPE, code]);
        }
        assert_eq!(to_septets("a€").unwrap().len(), 3);
    }

    #[test]
    fn characters_outside_the_alphabet() {
        for ch in ['ç', '`', 'á', 'Ж', '😀', '\t', 'ê'] {
            assert_eq!(lookup(ch), None, "{ch:?}");
        }
        assert_eq!(to_septets("abç"), Err('ç'));
    }

    #[test]
    fn unknown_escape_shows_the_base_character() {
        assert_eq!(from_septets(&[ESCAPE, 0x41]), "A");
        assert_eq!(from_septets(&[0x41, ESCAPE]), "A ");
        assert_eq!(from_septets(&[ESCAPE, ESCAPE]), " ");
    }

    /// 23.040 §9.2.3.24 example shape: "hellohello" packs to E8329BFD4697D9EC37.
    #[test]
    fn packs_the_classic_example() {
        let septets = to_septets("hellohello").unwrap();
        let packed = pack(&septets, 0);
        assert_eq!(
            packed,
            [0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]
        );
        assert_eq!(unpack(&packed, 0, 10).unwrap(), septets);
    }

    #[test]
    fn fill_bits_shift_the_stream() {
        let septets = to_septets("Hi").unwrap();
        for fill in 0..7 {
            let packed = pack(&septets, fill);
            assert_eq!(packed.len(), packed_len(2, fill));
            assert_eq!(unpack(&packed, fill, 2).unwrap(), septets);
        }
        assert_eq!(unpack(&[0xFF], 0, 2), None);
    }
}
