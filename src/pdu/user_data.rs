//! TP-UDL and TP-UD (3GPP TS 23.040 §9.2.3.16, §9.2.3.24): the optional
//! header and the body, in whichever alphabet the DCS names.
//!
//! For GSM 7-bit, TP-UDL counts septets, header included, and the text after
//! a header starts on the next septet boundary (fill bits). For 8-bit, UCS-2
//! and compressed data it counts octets.

use super::dcs::{Alphabet, DataCodingScheme};
use super::gsm7;
use super::reader::Reader;
use super::udh::UserDataHeader;
use super::{DecodeError, EncodeError};

/// Most septets in one message's user data.
pub const MAX_SEPTETS: usize = 160;
/// Most octets in one message's user data.
pub const MAX_OCTETS: usize = 140;

/// The body of a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Body {
    /// Text (GSM 7-bit or UCS-2 on the air).
    Text(String),
    /// 8-bit data.
    Binary(Vec<u8>),
    /// Compressed data (23.042), which simgate does not decompress.
    Compressed(Vec<u8>),
}

impl Body {
    /// The text, for text bodies.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// Decoded user data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserData {
    /// The header, when TP-UDHI is set.
    pub header: Option<UserDataHeader>,
    /// The body.
    pub body: Body,
}

/// Septets that a header of `header_octets` octets (UDHL included) takes,
/// fill bits included, and those fill bits.
pub(crate) fn header_septets(header_octets: usize) -> (usize, u8) {
    let fill = ((7 - (header_octets * 8) % 7) % 7) as u8;
    ((header_octets * 8 + usize::from(fill)) / 7, fill)
}

impl UserData {
    /// Reads TP-UDL and TP-UD.
    pub(crate) fn decode(
        reader: &mut Reader<'_>,
        dcs: &DataCodingScheme,
        has_header: bool,
    ) -> Result<Self, DecodeError> {
        let udl = usize::from(reader.u8("TP-UDL")?);
        let septets = dcs.alphabet == Alphabet::Gsm7 && !dcs.compressed;
        let (max, octets) = if septets {
            (MAX_SEPTETS, gsm7::packed_len(udl, 0))
        } else {
            (MAX_OCTETS, udl)
        };
        if udl > max {
            return Err(DecodeError::UserDataTooLong { udl, max });
        }
        let available = reader.rest();
        let data = available
            .get(..octets)
            .ok_or(DecodeError::UserDataBeyondPdu {
                needed: octets,
                available: available.len(),
            })?;
        if available.len() > octets {
            return Err(DecodeError::TrailingData(available.len() - octets));
        }
        let (header, body_octets) = match (has_header, data) {
            (false, _) => (None, data),
            (true, []) => return Err(DecodeError::UdhBeyondUserData { udhl: 0, udl }),
            (true, [udhl, rest @ ..]) => {
                let udhl = usize::from(*udhl);
                let content = rest
                    .get(..udhl)
                    .ok_or(DecodeError::UdhBeyondUserData { udhl, udl })?;
                (Some(UserDataHeader::decode(content)?), &rest[udhl..])
            }
        };
        let header_octets = header.as_ref().map_or(0, |_| usize::from(data[0]) + 1);
        let body = if septets {
            let (used, fill) = header_septets(header_octets);
            let count = udl
                .checked_sub(used)
                .ok_or(DecodeError::UdhBeyondUserData {
                    udhl: header_octets.saturating_sub(1),
                    udl,
                })?;
            // The fill bits belong to the first octet after the header.
            let septets =
                gsm7::unpack(body_octets, fill, count).ok_or(DecodeError::UserDataBeyondPdu {
                    needed: gsm7::packed_len(count, fill),
                    available: body_octets.len(),
                })?;
            Body::Text(gsm7::from_septets(&septets))
        } else if dcs.compressed {
            Body::Compressed(body_octets.to_vec())
        } else if dcs.alphabet == Alphabet::Ucs2 {
            Body::Text(decode_ucs2(body_octets)?)
        } else {
            Body::Binary(body_octets.to_vec())
        };
        Ok(Self { header, body })
    }

    /// Writes TP-UDL and TP-UD for `alphabet`.
    pub(crate) fn encode(&self, alphabet: Alphabet, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let header = self
            .header
            .as_ref()
            .map(UserDataHeader::encode)
            .unwrap_or_default();
        match (&self.body, alphabet) {
            (Body::Text(text), Alphabet::Gsm7) => {
                let septets = gsm7::to_septets(text).map_err(EncodeError::NotGsm7)?;
                let (used, fill) = header_septets(header.len());
                let udl = used + septets.len();
                if udl > MAX_SEPTETS {
                    return Err(EncodeError::UserDataTooLong {
                        units: udl,
                        max: MAX_SEPTETS,
                    });
                }
                out.push(udl as u8);
                out.extend_from_slice(&header);
                out.extend_from_slice(&gsm7::pack(&septets, fill));
            }
            (Body::Text(text), Alphabet::Ucs2) => {
                let start = out.len();
                out.push(0);
                out.extend_from_slice(&header);
                for unit in text.encode_utf16() {
                    out.extend_from_slice(&unit.to_be_bytes());
                }
                finish_octets(out, start)?;
            }
            (Body::Binary(data) | Body::Compressed(data), Alphabet::Eight) => {
                let start = out.len();
                out.push(0);
                out.extend_from_slice(&header);
                out.extend_from_slice(data);
                finish_octets(out, start)?;
            }
            _ => return Err(EncodeError::BodyDoesNotMatchAlphabet(alphabet)),
        }
        Ok(())
    }
}

/// Fills in the UDL octet at `start` for octet-counted user data.
fn finish_octets(out: &mut [u8], start: usize) -> Result<(), EncodeError> {
    let udl = out.len() - start - 1;
    if udl > MAX_OCTETS {
        return Err(EncodeError::UserDataTooLong {
            units: udl,
            max: MAX_OCTETS,
        });
    }
    out[start] = udl as u8;
    Ok(())
}

/// UTF-16BE to text; an unpaired surrogate becomes U+FFFD.
fn decode_ucs2(octets: &[u8]) -> Result<String, DecodeError> {
    if !octets.len().is_multiple_of(2) {
        return Err(DecodeError::OddUcs2Length(octets.len()));
    }
    let units = octets
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    Ok(char::decode_utf16(units)
        .map(|unit| unit.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fill_bits() {
        // A 6-octet concatenation header (UDHL 5) takes 7 septets with 1 fill bit.
        assert_eq!(header_septets(6), (7, 1));
        // A 7-octet header (16-bit reference) takes 8 septets, no fill.
        assert_eq!(header_septets(7), (8, 0));
        assert_eq!(header_septets(0), (0, 0));
    }

    #[test]
    fn ucs2_surrogates() {
        assert_eq!(decode_ucs2(&[0xD8, 0x3D, 0xDE, 0x00]).unwrap(), "😀");
        assert_eq!(decode_ucs2(&[0xD8, 0x3D, 0x00, 0x41]).unwrap(), "\u{FFFD}A");
        assert_eq!(decode_ucs2(&[0x00]), Err(DecodeError::OddUcs2Length(1)));
    }
}
