//! TP-UDL and TP-UD (3GPP TS 23.040 §9.2.3.16, §9.2.3.24): the optional
//! header and the body, in whichever alphabet the DCS names.
//!
//! For GSM 7-bit, TP-UDL counts septets, header included, and the text after
//! a header starts on the next septet boundary (fill bits). For 8-bit, UCS-2
//! and compressed data it counts octets.
//!
//! UCS-2 text is UTF-16 in practice, and a sender's phone may cut a long
//! message inside a surrogate pair (an emoji, say): the first half ends
//! one part, the second begins the next, and neither is a character on its
//! own. Such halves at the edges of a part's text are kept as the UTF-16
//! units they are ([`SplitSurrogates`]) rather than made U+FFFD, so that
//! [`part_texts`] can give each part of a message its text with the pair
//! whole, and the part encodes back as it came. Elsewhere in the text an
//! unpaired half is U+FFFD.

use super::dcs::{Alphabet, DataCodingScheme};
use super::gsm7;
use super::reader::Reader;
use super::udh::{InformationElement, UserDataHeader};
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

/// Halves of surrogate pairs at the edges of UCS-2 text, outside the
/// body's text (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SplitSurrogates {
    /// A low surrogate (U+DC00 to U+DFFF) the text begins with: the second
    /// half of a pair the previous part began.
    pub leading: Option<u16>,
    /// A high surrogate (U+D800 to U+DBFF) the text ends with: the first
    /// half of a pair the next part completes.
    pub trailing: Option<u16>,
}

impl SplitSurrogates {
    /// Neither edge holds half a pair.
    pub fn is_empty(&self) -> bool {
        self.leading.is_none() && self.trailing.is_none()
    }
}

/// Decoded user data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserData {
    /// The header, when TP-UDHI is set.
    pub header: Option<UserDataHeader>,
    /// The body.
    pub body: Body,
    /// Halves of surrogate pairs before and after a UCS-2 body's text;
    /// empty for every other body.
    pub split: SplitSurrogates,
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
        let mut split = SplitSurrogates::default();
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
            let text;
            (text, split) = decode_ucs2(body_octets)?;
            Body::Text(text)
        } else {
            Body::Binary(body_octets.to_vec())
        };
        Ok(Self {
            header,
            body,
            split,
        })
    }

    /// The text as UTF-16 units, halves of pairs at its edges included: as
    /// a UCS-2 part carried it. `None` for bodies that are not text.
    pub fn text_units(&self) -> Option<Vec<u16>> {
        let text = self.body.text()?;
        let mut units = Vec::with_capacity(text.len() + 2);
        units.extend(self.split.leading);
        units.extend(text.encode_utf16());
        units.extend(self.split.trailing);
        Some(units)
    }

    /// Writes TP-UDL and TP-UD for `alphabet`.
    pub(crate) fn encode(&self, alphabet: Alphabet, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let header = self
            .header
            .as_ref()
            .map(UserDataHeader::encode)
            .unwrap_or_default();
        if !self.split.is_empty() && alphabet != Alphabet::Ucs2 {
            return Err(EncodeError::BodyDoesNotMatchAlphabet(alphabet));
        }
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
            (Body::Text(_), Alphabet::Ucs2) => {
                let start = out.len();
                out.push(0);
                out.extend_from_slice(&header);
                for unit in self.text_units().unwrap_or_default() {
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

fn is_high_surrogate(unit: u16) -> bool {
    (0xD800..=0xDBFF).contains(&unit)
}

fn is_low_surrogate(unit: u16) -> bool {
    (0xDC00..=0xDFFF).contains(&unit)
}

/// UTF-16BE to text, with half a pair at either edge set apart; any other
/// unpaired surrogate becomes U+FFFD.
fn decode_ucs2(octets: &[u8]) -> Result<(String, SplitSurrogates), DecodeError> {
    if !octets.len().is_multiple_of(2) {
        return Err(DecodeError::OddUcs2Length(octets.len()));
    }
    let units: Vec<u16> = octets
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect();
    let mut split = SplitSurrogates::default();
    let mut units = units.as_slice();
    if let [first, rest @ ..] = units {
        if is_low_surrogate(*first) {
            split.leading = Some(*first);
            units = rest;
        }
    }
    if let [rest @ .., last] = units {
        if is_high_surrogate(*last) {
            split.trailing = Some(*last);
            units = rest;
        }
    }
    let text = char::decode_utf16(units.iter().copied())
        .map(|unit| unit.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    Ok((text, split))
}

/// Whether `next` is the part right after `part` in one concatenated
/// message: same reference and total, the next sequence number.
/// (The width of the reference counts too: an 8-bit and a 16-bit
/// reference of the same value are different messages.)
fn follows(part: &UserData, next: &UserData) -> bool {
    let concat = |user_data: &UserData| {
        user_data
            .header
            .as_ref()?
            .elements
            .iter()
            .find_map(|element| match element {
                InformationElement::Concatenation {
                    part,
                    wide_reference,
                } => Some((*part, *wide_reference)),
                _ => None,
            })
    };
    match (concat(part), concat(next)) {
        (Some((a, a_wide)), Some((b, b_wide))) => {
            (a.reference, a_wide, a.total) == (b.reference, b_wide, b.total)
                && u16::from(a.sequence) + 1 == u16::from(b.sequence)
        }
        _ => false,
    }
}

/// The text of each part of one message (its user data in part order;
/// `None` where a part has none, e.g. a status report without user data),
/// with every surrogate pair split between a part and the one right after
/// it moved whole into the part where it starts, and any other half of a
/// pair as U+FFFD where it is. Each text is valid on its own; joined, they
/// are the message's text. `None` for parts without text.
pub fn part_texts(parts: &[Option<&UserData>]) -> Vec<Option<String>> {
    let mut texts = Vec::with_capacity(parts.len());
    // The low surrogate of this part that the previous part took.
    let mut taken = false;
    for (index, part) in parts.iter().enumerate() {
        let Some((user_data, text)) = part.and_then(|u| Some((u, u.body.text()?))) else {
            texts.push(None);
            taken = false;
            continue;
        };
        let mut out = String::with_capacity(text.len() + 8);
        if user_data.split.leading.is_some() && !taken {
            out.push(char::REPLACEMENT_CHARACTER);
        }
        out.push_str(text);
        taken = false;
        if let Some(high) = user_data.split.trailing {
            let next = parts.get(index + 1).copied().flatten();
            let low = next
                .filter(|next| next.body.text().is_some() && follows(user_data, next))
                .and_then(|next| next.split.leading);
            let pair = low.and_then(|low| char::decode_utf16([high, low]).next()?.ok());
            out.push(pair.unwrap_or(char::REPLACEMENT_CHARACTER));
            taken = pair.is_some();
        }
        texts.push(Some(out));
    }
    texts
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

    /// UCS-2 user data of `units`, behind `header` (with its UDHL), decoded.
    fn ucs2(units: &[u16], header: Option<&[u8]>) -> UserData {
        let mut octets = header.unwrap_or_default().to_vec();
        octets.extend(units.iter().flat_map(|unit| unit.to_be_bytes()));
        let mut tpdu = vec![octets.len() as u8];
        tpdu.extend_from_slice(&octets);
        let dcs = DataCodingScheme::decode(0x08);
        UserData::decode(&mut Reader::new(&tpdu), &dcs, header.is_some()).unwrap()
    }

    fn encoded(user_data: &UserData) -> Vec<u8> {
        let mut out = Vec::new();
        user_data.encode(Alphabet::Ucs2, &mut out).unwrap();
        out
    }

    const GRIN: [u16; 2] = [0xD83D, 0xDE00];

    #[test]
    fn halves_of_a_pair_at_the_edges_are_kept() {
        let a = 'a' as u16;
        let first = ucs2(&[a, a, GRIN[0]], Some(&[5, 0, 3, 9, 2, 1]));
        assert_eq!(first.body, Body::Text("aa".into()));
        assert_eq!(
            first.split,
            SplitSurrogates {
                leading: None,
                trailing: Some(GRIN[0])
            }
        );
        let second = ucs2(&[GRIN[1], a], Some(&[5, 0, 3, 9, 2, 2]));
        assert_eq!(second.body, Body::Text("a".into()));
        assert_eq!(second.split.leading, Some(GRIN[1]));
        assert_eq!(second.split.trailing, None);
        // Both edges, and a part that is nothing but half a pair.
        let both = ucs2(&[GRIN[1], a, GRIN[0]], None);
        assert_eq!(both.body, Body::Text("a".into()));
        assert_eq!(
            (both.split.leading, both.split.trailing),
            (Some(GRIN[1]), Some(GRIN[0]))
        );
        let alone = ucs2(&[GRIN[0]], None);
        assert_eq!(
            (alone.body.text(), alone.split.trailing),
            (Some(""), Some(GRIN[0]))
        );
        // Inside the text an unpaired half is U+FFFD, as before.
        let inside = ucs2(&[a, GRIN[0], a, GRIN[1], a], None);
        assert_eq!(inside.body, Body::Text("a\u{FFFD}a\u{FFFD}a".into()));
        assert!(inside.split.is_empty());
        // A whole pair at an edge is text.
        let whole = ucs2(&[GRIN[0], GRIN[1]], None);
        assert_eq!(
            (whole.body.text(), whole.split.is_empty()),
            (Some("😀"), true)
        );
        // The units encode back as they came.
        for user_data in [&first, &second, &both, &alone] {
            let again = UserData::decode(
                &mut Reader::new(&encoded(user_data)),
                &DataCodingScheme::decode(0x08),
                user_data.header.is_some(),
            )
            .unwrap();
            assert_eq!(&again, user_data);
        }
        assert_eq!(first.text_units(), Some(vec![a, a, GRIN[0]]));
        assert_eq!(second.text_units(), Some(vec![GRIN[1], a]));
        // Half a pair is only UCS-2: other alphabets refuse it.
        let mut out = Vec::new();
        assert_eq!(
            first.encode(Alphabet::Gsm7, &mut out),
            Err(EncodeError::BodyDoesNotMatchAlphabet(Alphabet::Gsm7))
        );
    }

    #[test]
    fn a_pair_split_between_parts_joins_the_part_where_it_starts() {
        let text = |units: &[u16]| String::from_utf16(units).unwrap();
        let zh: Vec<u16> = "Ж".repeat(66).encode_utf16().collect();
        let first = ucs2(
            &[zh.as_slice(), &[GRIN[0]]].concat(),
            Some(&[5, 0, 3, 9, 3, 1]),
        );
        let second = ucs2(
            &[&[GRIN[1]], text_units(" mid ").as_slice(), &[GRIN[0]]].concat(),
            Some(&[5, 0, 3, 9, 3, 2]),
        );
        let third = ucs2(
            &[&[GRIN[1]], text_units(" end").as_slice()].concat(),
            Some(&[5, 0, 3, 9, 3, 3]),
        );
        let texts = part_texts(&[Some(&first), Some(&second), Some(&third)]);
        assert_eq!(
            texts,
            [
                Some(format!("{}😀", text(&zh))),
                Some(" mid 😀".to_owned()),
                Some(" end".to_owned())
            ]
        );
        let joined: String = texts.iter().flatten().map(String::as_str).collect();
        assert_eq!(joined, format!("{}😀 mid 😀 end", text(&zh)));
        // The middle part missing (written after the timeout): each half
        // alone is U+FFFD where it is.
        assert_eq!(
            part_texts(&[Some(&first), Some(&third)]),
            [
                Some(format!("{}\u{FFFD}", text(&zh))),
                Some("\u{FFFD} end".to_owned())
            ]
        );
        // Parts of another message, or no part before: not joined.
        let other = ucs2(&[GRIN[1], 'x' as u16], Some(&[5, 0, 3, 8, 3, 2]));
        assert_eq!(
            part_texts(&[Some(&first), Some(&other)])[1],
            Some("\u{FFFD}x".to_owned())
        );
        assert_eq!(
            part_texts(&[Some(&third)]),
            [Some("\u{FFFD} end".to_owned())]
        );
        // Parts without text stay without.
        let data = UserData {
            header: None,
            body: Body::Binary(vec![1]),
            split: SplitSurrogates::default(),
        };
        assert_eq!(part_texts(&[Some(&data), None]), [None, None]);
    }

    fn text_units(text: &str) -> Vec<u16> {
        text.encode_utf16().collect()
    }

    #[test]
    fn ucs2_surrogates() {
        let text = |octets: &[u8]| decode_ucs2(octets).unwrap().0;
        assert_eq!(text(&[0xD8, 0x3D, 0xDE, 0x00]), "😀");
        assert_eq!(text(&[0xD8, 0x3D, 0x00, 0x41]), "\u{FFFD}A");
        assert_eq!(decode_ucs2(&[0x00]), Err(DecodeError::OddUcs2Length(1)));
    }
}
