//! Addresses: TP-DA, TP-OA, TP-RA and the SMSC address (3GPP TS 23.040
//! §9.1.2.5, 24.011 §8.2.5.1).
//!
//! A phone number is written as semi-octets (BCD, low nibble first, an F
//! filler when the count is odd) after a type-of-address octet. An
//! alphanumeric sender (TON 5) is GSM 7-bit text packed into the same field.

use super::gsm7;
use super::reader::Reader;
use super::DecodeError;

/// Most digits a destination may have (TP-DA holds at most 10 octets).
pub const MAX_DIGITS: usize = 20;

/// Type of number (bits 6..4 of the type-of-address octet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeOfNumber {
    /// 0: the network decides; used for national numbers and short codes.
    Unknown,
    /// 1: international, shown with a leading `+`.
    International,
    /// 2: national.
    National,
    /// 3: network specific.
    NetworkSpecific,
    /// 4: subscriber number.
    Subscriber,
    /// 5: alphanumeric, GSM 7-bit packed.
    Alphanumeric,
    /// 6: abbreviated.
    Abbreviated,
    /// 7: reserved for extension.
    Reserved,
}

impl TypeOfNumber {
    fn from_bits(bits: u8) -> Self {
        match bits & 0x07 {
            0 => Self::Unknown,
            1 => Self::International,
            2 => Self::National,
            3 => Self::NetworkSpecific,
            4 => Self::Subscriber,
            5 => Self::Alphanumeric,
            6 => Self::Abbreviated,
            _ => Self::Reserved,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Self::Unknown => 0,
            Self::International => 1,
            Self::National => 2,
            Self::NetworkSpecific => 3,
            Self::Subscriber => 4,
            Self::Alphanumeric => 5,
            Self::Abbreviated => 6,
            Self::Reserved => 7,
        }
    }
}

/// A decoded or to-be-encoded address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// Type of number.
    pub ton: TypeOfNumber,
    /// Numbering plan identification (bits 3..0): 1 is E.164, 0 unknown.
    pub npi: u8,
    /// Digits (`0-9`, `*`, `#`, `a`-`c`) without `+`, or the text of an
    /// alphanumeric sender.
    pub value: String,
}

/// Why a number cannot be used as a destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Nothing left after removing separators.
    #[error("the number is empty")]
    Empty,
    /// A character that is neither a digit, `*`, `#` nor a separator.
    #[error("the number contains {0:?}; only digits, '*', '#', a leading '+' and the separators space, '-', '.', '(' and ')' are allowed")]
    InvalidCharacter(char),
    /// More digits than TP-DA can hold.
    #[error("the number has {0} digits; at most 20 fit in an SMS address")]
    TooLong(usize),
    /// An alphanumeric address that the GSM alphabet cannot write, or too long.
    #[error("alphanumeric address {0:?} is not GSM 7-bit text of at most 11 characters")]
    InvalidAlphanumeric(String),
}

impl Address {
    /// Parses a user-supplied number: a leading `+` makes it international
    /// (TON 1, NPI 1); anything else, national numbers and short codes alike,
    /// is sent as TON unknown with NPI E.164 (0x81) and left to the network,
    /// as phones and gammu do. Spaces, dashes, dots and parentheses are
    /// removed.
    pub fn parse_number(input: &str) -> Result<Self, AddressError> {
        let trimmed = input.trim();
        let (international, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(rest.len());
        for ch in rest.chars() {
            match ch {
                '0'..='9' | '*' | '#' => digits.push(ch),
                ' ' | '-' | '.' | '(' | ')' => {}
                other => return Err(AddressError::InvalidCharacter(other)),
            }
        }
        if digits.is_empty() {
            return Err(AddressError::Empty);
        }
        if digits.len() > MAX_DIGITS {
            return Err(AddressError::TooLong(digits.len()));
        }
        let ton = if international {
            TypeOfNumber::International
        } else {
            TypeOfNumber::Unknown
        };
        Ok(Self {
            ton,
            npi: 1,
            value: digits,
        })
    }

    /// An alphanumeric address (TON 5), as sent by banks and services.
    pub fn alphanumeric(text: &str) -> Result<Self, AddressError> {
        match gsm7::to_septets(text) {
            Ok(septets) if !septets.is_empty() && septets.len() <= 11 => Ok(Self {
                ton: TypeOfNumber::Alphanumeric,
                npi: 0,
                value: text.to_owned(),
            }),
            _ => Err(AddressError::InvalidAlphanumeric(text.to_owned())),
        }
    }

    /// The type-of-address octet.
    pub fn type_octet(&self) -> u8 {
        0x80 | self.ton.bits() << 4 | (self.npi & 0x0F)
    }

    /// The address as people write it: `+` before international numbers.
    pub fn to_display(&self) -> String {
        match self.ton {
            TypeOfNumber::International => format!("+{}", self.value),
            _ => self.value.clone(),
        }
    }

    /// Encodes as TP-DA/TP-OA/TP-RA: length in semi-octets, type, value.
    pub(crate) fn encode_tp(&self, out: &mut Vec<u8>) {
        if self.ton == TypeOfNumber::Alphanumeric {
            let septets = gsm7::to_septets(&self.value).unwrap_or_default();
            let packed = gsm7::pack(&septets, 0);
            // The length counts the semi-octets that carry septet bits.
            out.push(((septets.len() * 7).div_ceil(4)) as u8);
            out.push(self.type_octet());
            out.extend_from_slice(&packed);
        } else {
            out.push(self.value.len() as u8);
            out.push(self.type_octet());
            push_bcd(&self.value, out);
        }
    }

    /// Encodes as an SMSC address (24.011): length in octets including the
    /// type octet. `None` encodes as a single 0 octet: use the SIM's SMSC.
    pub(crate) fn encode_smsc(smsc: Option<&Self>, out: &mut Vec<u8>) {
        match smsc {
            None => out.push(0),
            Some(address) => {
                out.push(1 + address.value.len().div_ceil(2) as u8);
                out.push(address.type_octet());
                push_bcd(&address.value, out);
            }
        }
    }

    /// Decodes TP-DA/TP-OA/TP-RA.
    pub(crate) fn decode_tp(
        reader: &mut Reader<'_>,
        field: &'static str,
    ) -> Result<Self, DecodeError> {
        let semi_octets = usize::from(reader.u8(field)?);
        if semi_octets > MAX_DIGITS {
            return Err(DecodeError::AddressTooLong { field, semi_octets });
        }
        let type_octet = reader.u8(field)?;
        let body = reader.take(semi_octets.div_ceil(2), field)?;
        Ok(Self::from_parts(type_octet, body, semi_octets))
    }

    /// Decodes the SMSC address in front of a PDU from a modem; `None` when
    /// its length is 0.
    pub(crate) fn decode_smsc(reader: &mut Reader<'_>) -> Result<Option<Self>, DecodeError> {
        let octets = usize::from(reader.u8("SMSC address")?);
        if octets == 0 {
            return Ok(None);
        }
        if octets > 12 {
            return Err(DecodeError::AddressTooLong {
                field: "SMSC address",
                semi_octets: (octets - 1) * 2,
            });
        }
        let type_octet = reader.u8("SMSC address")?;
        let body = reader.take(octets - 1, "SMSC address")?;
        Ok(Some(Self::from_parts(type_octet, body, body.len() * 2)))
    }

    fn from_parts(type_octet: u8, body: &[u8], semi_octets: usize) -> Self {
        let ton = TypeOfNumber::from_bits(type_octet >> 4);
        let value = if ton == TypeOfNumber::Alphanumeric {
            let septets = semi_octets * 4 / 7;
            let mut unpacked = gsm7::unpack(body, 0, septets).unwrap_or_default();
            // Fill bits, not an '@' (gammu too reads no '@' there).
            if last_septet_may_be_fill(semi_octets) && unpacked.last() == Some(&0) {
                unpacked.pop();
            }
            gsm7::from_septets(&unpacked)
        } else {
            read_bcd(body, semi_octets)
        };
        Self {
            ton,
            npi: type_octet & 0x0F,
            value,
        }
    }
}

/// Whether the last septet of an alphanumeric address `semi_octets` long
/// may be fill rather than a character. The length is even, so it may
/// count whole octets (as many SMSCs write it) rather than the semi-octets
/// that carry septet bits (23.040 §9.1.2.5); and one septet fewer would
/// need exactly those octets, leaving 7 fill bits, which read as one more
/// septet. In the lengths an address may have (at most 20) that is 14
/// alone: 7 characters (49 bits) sent in 7 octets, the octets and length
/// of 8 characters whose last one is septet 0 ('@').
fn last_septet_may_be_fill(semi_octets: usize) -> bool {
    let septets = semi_octets * 4 / 7;
    semi_octets.is_multiple_of(2)
        && septets > 0
        && 2 * ((septets - 1) * 7).div_ceil(8) == semi_octets
}

/// Semi-octet code of one digit (23.040 §9.1.2.3).
fn bcd_code(digit: char) -> u8 {
    match digit {
        '0'..='9' => digit as u8 - b'0',
        '*' => 0xA,
        '#' => 0xB,
        'a' => 0xC,
        'b' => 0xD,
        _ => 0xE,
    }
}

fn push_bcd(digits: &str, out: &mut Vec<u8>) {
    let codes: Vec<u8> = digits.chars().map(bcd_code).collect();
    for pair in codes.chunks(2) {
        let high = pair.get(1).copied().unwrap_or(0xF);
        out.push(high << 4 | pair[0]);
    }
}

/// Reads `count` semi-octets; an F filler (or any F) ends the number.
fn read_bcd(body: &[u8], count: usize) -> String {
    const DIGITS: &[u8; 15] = b"0123456789*#abc";
    body.iter()
        .flat_map(|octet| [octet & 0x0F, octet >> 4])
        .take(count)
        .take_while(|&code| code != 0xF)
        .map(|code| char::from(DIGITS[usize::from(code)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(address: &Address) -> Vec<u8> {
        let mut out = Vec::new();
        address.encode_tp(&mut out);
        out
    }

    #[test]
    fn international_numbers() {
        let a = Address::parse_number("+49 176-123.456 78").unwrap();
        assert_eq!(a.ton, TypeOfNumber::International);
        assert_eq!(a.value, "4917612345678");
        assert_eq!(a.to_display(), "+4917612345678");
        assert_eq!(
            encode(&a),
            [0x0D, 0x91, 0x94, 0x71, 0x16, 0x32, 0x54, 0x76, 0xF8]
        );
    }

    #[test]
    fn national_and_short_codes_use_unknown_ton() {
        let a = Address::parse_number("(030) 1234").unwrap();
        assert_eq!((a.ton, a.type_octet()), (TypeOfNumber::Unknown, 0x81));
        assert_eq!(a.value, "0301234");
        let short = Address::parse_number("1234").unwrap();
        assert_eq!(encode(&short), [0x04, 0x81, 0x21, 0x43]);
        let service = Address::parse_number("*100#").unwrap();
        assert_eq!(encode(&service), [0x05, 0x81, 0x1A, 0x00, 0xFB]);
    }

    #[test]
    fn bad_numbers_are_errors() {
        assert_eq!(Address::parse_number(""), Err(AddressError::Empty));
        assert_eq!(Address::parse_number("+"), Err(AddressError::Empty));
        assert_eq!(Address::parse_number(" - "), Err(AddressError::Empty));
        assert_eq!(
            Address::parse_number("+49abc"),
            Err(AddressError::InvalidCharacter('a'))
        );
        assert_eq!(
            Address::parse_number("1+2"),
            Err(AddressError::InvalidCharacter('+'))
        );
        assert_eq!(
            Address::parse_number("123456789012345678901"),
            Err(AddressError::TooLong(21))
        );
        assert!(Address::parse_number("12345678901234567890").is_ok());
    }

    #[test]
    fn alphanumeric_round_trip() {
        let a = Address::alphanumeric("Telegram").unwrap();
        let bytes = encode(&a);
        // 8 septets = 56 bits = 14 semi-octets.
        assert_eq!(&bytes[..2], &[0x0E, 0xD0]);
        let mut reader = Reader::new(&bytes);
        assert_eq!(Address::decode_tp(&mut reader, "OA").unwrap(), a);
        assert!(Address::alphanumeric("this is far too long").is_err());
        assert!(Address::alphanumeric("Ж").is_err());
    }

    /// An originator field: TON 5 with `semi_octets` as its length and
    /// `name` packed after it.
    fn alphanumeric_field(name: &str, semi_octets: usize) -> Vec<u8> {
        let mut field = vec![semi_octets as u8, 0xD0];
        field.extend(gsm7::pack(&gsm7::to_septets(name).unwrap(), 0));
        assert_eq!(field.len() - 2, semi_octets.div_ceil(2), "{name:?}");
        field
    }

    fn decoded(field: &[u8]) -> String {
        Address::decode_tp(&mut Reader::new(field), "OA")
            .unwrap()
            .value
    }

    /// The two lengths in use for `characters` septets: the semi-octets
    /// that carry septet bits (23.040), and the whole octets (many SMSCs).
    fn both_lengths(characters: usize) -> [usize; 2] {
        [
            (characters * 7).div_ceil(4),
            2 * (characters * 7).div_ceil(8),
        ]
    }

    #[test]
    fn alphanumeric_senders_decode_with_either_length() {
        let all = "MyBank12345";
        for characters in 1..=all.len() {
            let name = &all[..characters];
            for semi_octets in both_lengths(characters) {
                let field = alphanumeric_field(name, semi_octets);
                assert_eq!(decoded(&field), name, "length {semi_octets}");
            }
        }
    }

    /// Reference vectors, from python-gammu 1.42's DecodePDU: it reads
    /// `MyBank1` from both lengths, 13 and 14.
    #[test]
    fn a_seven_character_sender_has_no_trailing_at_sign() {
        let exact = [0x0D, 0xD0, 0xCD, 0xBC, 0x30, 0xEC, 0x5E, 0xC7, 0x00];
        assert_eq!(decoded(&exact), "MyBank1");
        let mut whole_octets = exact;
        whole_octets[0] = 0x0E;
        assert_eq!(decoded(&whole_octets), "MyBank1");
    }

    /// A name that ends in '@' (septet 0) keeps it, with its exact length
    /// and, for seven characters, with the length in whole octets too.
    /// Eight characters ending in '@' at their exact length (14) are the
    /// same octets as seven characters at the length in whole octets: that
    /// one is read as seven (as gammu does, which stops at any '@').
    #[test]
    fn names_ending_in_an_at_sign_keep_it() {
        let all = "Bank56789@";
        for characters in 1..=11 {
            let name = format!("{}@", &all[..characters - 1]);
            let [exact, whole_octets] = both_lengths(characters);
            let field = alphanumeric_field(&name, exact);
            let expected = if characters == 8 {
                name.trim_end_matches('@')
            } else {
                &name
            };
            assert_eq!(decoded(&field), expected, "length {exact}");
            if characters == 7 {
                let field = alphanumeric_field(&name, whole_octets);
                assert_eq!(decoded(&field), name, "length {whole_octets}");
            }
        }
    }

    /// Only a length of 14 semi-octets leaves a whole septet of fill when it
    /// counts whole octets (7 characters, 49 bits, 56 sent).
    #[test]
    fn fourteen_is_the_only_length_with_a_septet_of_fill() {
        let ambiguous: Vec<usize> = (0..=MAX_DIGITS)
            .filter(|&l| last_septet_may_be_fill(l))
            .collect();
        assert_eq!(ambiguous, [14]);
    }

    /// What simgate encodes (the exact length) it decodes, for every name
    /// of 1 to 11 characters; and the other form decodes alike.
    #[test]
    fn the_encoder_and_the_decoder_agree() {
        let all = "Sender 9012";
        for characters in 1..=all.len() {
            let address = Address::alphanumeric(&all[..characters]).unwrap();
            let field = encode(&address);
            assert_eq!(usize::from(field[0]), both_lengths(characters)[0]);
            assert_eq!(
                Address::decode_tp(&mut Reader::new(&field), "OA").unwrap(),
                address
            );
        }
    }

    #[test]
    fn smsc_encoding() {
        let mut out = Vec::new();
        Address::encode_smsc(None, &mut out);
        assert_eq!(out, [0]);
        out.clear();
        let smsc = Address::parse_number("+491710760000").unwrap();
        Address::encode_smsc(Some(&smsc), &mut out);
        assert_eq!(out, [0x07, 0x91, 0x94, 0x71, 0x01, 0x67, 0x00, 0x00]);
        let mut reader = Reader::new(&out);
        assert_eq!(Address::decode_smsc(&mut reader).unwrap(), Some(smsc));
    }

    #[test]
    fn decode_errors() {
        let mut reader = Reader::new(&[0x0B, 0x91, 0x94]);
        assert!(matches!(
            Address::decode_tp(&mut reader, "OA"),
            Err(DecodeError::Truncated { field: "OA" })
        ));
        let mut reader = Reader::new(&[0x16, 0x91]);
        assert!(matches!(
            Address::decode_tp(&mut reader, "OA"),
            Err(DecodeError::AddressTooLong { .. })
        ));
    }
}
