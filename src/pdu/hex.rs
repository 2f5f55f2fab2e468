//! Hexadecimal text as modems print PDUs: two uppercase digits an octet.
//!
//! AT+CMGL/AT+CMGR hand PDUs over as hex, and AT+CMGS takes them that way;
//! this module owns the conversion in both directions and its errors.

use std::fmt::Write as _;

/// Why a hex string is not a sequence of octets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum HexError {
    /// Hex text must hold two digits an octet.
    #[error("hex text has an odd number of digits ({0})")]
    OddLength(usize),
    /// A character that is not a hex digit.
    #[error("invalid hex digit {found:?} at offset {offset}")]
    InvalidDigit {
        /// Byte offset of the offending character.
        offset: usize,
        /// The character found there.
        found: char,
    },
}

/// Decodes hex text (either case, surrounding whitespace ignored) to octets.
pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
    let lead = text.len() - text.trim_start().len();
    let trimmed = text.trim();
    if let Some((offset, found)) = trimmed.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(HexError::InvalidDigit {
            offset: lead + offset,
            found,
        });
    }
    let digits = trimmed.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(HexError::OddLength(digits.len()));
    }
    Ok(digits
        .chunks_exact(2)
        .map(|pair| nibble(pair[0]) << 4 | nibble(pair[1]))
        .collect())
}

/// The value of one ASCII hex digit (already validated).
fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// Encodes octets as uppercase hex, as modems expect after AT+CMGS.
pub fn encode(octets: &[u8]) -> String {
    let mut out = String::with_capacity(octets.len() * 2);
    for octet in octets {
        let _ = write!(out, "{octet:02X}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_case() {
        assert_eq!(decode("00aBff").unwrap(), vec![0x00, 0xAB, 0xFF]);
        assert_eq!(encode(&[0x00, 0xAB, 0xFF]), "00ABFF");
        assert_eq!(decode("  0102\r\n").unwrap(), vec![1, 2]);
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(decode("abc"), Err(HexError::OddLength(3)));
        assert!(matches!(
            decode("0x12"),
            Err(HexError::InvalidDigit {
                offset: 1,
                found: 'x'
            })
        ));
        assert_eq!(
            decode("0G"),
            Err(HexError::InvalidDigit {
                offset: 1,
                found: 'G'
            })
        );
        assert!(matches!(
            decode("é1"),
            Err(HexError::InvalidDigit { offset: 0, .. })
        ));
    }
}
