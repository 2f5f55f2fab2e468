//! The user data header (3GPP TS 23.040 §9.2.3.24): information elements in
//! front of the text. simgate understands concatenation (8- and 16-bit
//! references) and application port addressing; every other element is kept
//! as raw octets and otherwise ignored.

use super::DecodeError;

/// One information element.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InformationElement {
    /// IEI 0x00 or 0x08: this is part `sequence` of `total` of a long message.
    Concatenation {
        /// Which part of which message.
        part: Concatenation,
        /// Whether the reference is 16-bit (IEI 0x08) rather than 8-bit
        /// (0x00); an 8-bit element carries only the low octet of
        /// [`Concatenation::reference`].
        wide_reference: bool,
    },
    /// IEI 0x04 or 0x05: application port addressing.
    Ports {
        /// Destination port.
        destination: u16,
        /// Originator port.
        source: u16,
        /// Whether the 16-bit form (IEI 0x05) was used.
        wide: bool,
    },
    /// Any other element, or a known one whose content is not valid: kept,
    /// ignored.
    Other {
        /// Information element identifier.
        iei: u8,
        /// Its data.
        data: Vec<u8>,
    },
}

/// Where a part sits in a concatenated message: the reference its parts
/// share, how many there are and which one this is. This is what a part is
/// grouped and ordered by, wherever it is (a header, the store, the
/// daemon); whether the header carried the reference in 8 or 16 bits is
/// the element's business ([`InformationElement::Concatenation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concatenation {
    /// Reference shared by all parts of one message.
    pub reference: u16,
    /// Number of parts, 1-255.
    pub total: u8,
    /// This part's number, 1-based.
    pub sequence: u8,
}

/// A decoded user data header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct UserDataHeader {
    /// The elements in the order they appeared.
    pub elements: Vec<InformationElement>,
}

impl UserDataHeader {
    /// A header that marks one part of a concatenated message, with a
    /// 16-bit reference if `wide_reference`, else its low octet.
    pub fn concatenation(part: Concatenation, wide_reference: bool) -> Self {
        Self {
            elements: vec![InformationElement::Concatenation {
                part,
                wide_reference,
            }],
        }
    }

    /// The concatenation element, if any.
    pub fn concat(&self) -> Option<Concatenation> {
        self.elements.iter().find_map(|element| match element {
            InformationElement::Concatenation { part, .. } => Some(*part),
            _ => None,
        })
    }

    /// The application ports (destination, source), if any.
    pub fn ports(&self) -> Option<(u16, u16)> {
        self.elements.iter().find_map(|element| match element {
            InformationElement::Ports {
                destination,
                source,
                ..
            } => Some((*destination, *source)),
            _ => None,
        })
    }

    /// Decodes the header content (without the UDHL octet in front).
    pub fn decode(content: &[u8]) -> Result<Self, DecodeError> {
        let mut elements = Vec::new();
        let mut rest = content;
        while let [iei, length, tail @ ..] = rest {
            let length = usize::from(*length);
            let data = tail.get(..length).ok_or(DecodeError::UdhElementOverrun {
                iei: *iei,
                length,
                available: tail.len(),
            })?;
            elements.push(Self::element(*iei, data));
            rest = &tail[length..];
        }
        if !rest.is_empty() {
            // One lone octet: an IEI without its length.
            return Err(DecodeError::UdhElementOverrun {
                iei: rest[0],
                length: 0,
                available: 0,
            });
        }
        Ok(Self { elements })
    }

    fn element(iei: u8, data: &[u8]) -> InformationElement {
        let concat = |reference: u16, wide_reference, total: u8, sequence: u8| {
            // 23.040: a part number of 0 or beyond the total means ignore the element.
            (total > 0 && sequence > 0 && sequence <= total).then_some(
                InformationElement::Concatenation {
                    part: Concatenation {
                        reference,
                        total,
                        sequence,
                    },
                    wide_reference,
                },
            )
        };
        let known = match (iei, data) {
            (0x00, &[reference, total, sequence]) => {
                concat(u16::from(reference), false, total, sequence)
            }
            (0x08, &[high, low, total, sequence]) => {
                concat(u16::from_be_bytes([high, low]), true, total, sequence)
            }
            (0x04, &[destination, source]) => Some(InformationElement::Ports {
                destination: u16::from(destination),
                source: u16::from(source),
                wide: false,
            }),
            (0x05, &[d1, d2, s1, s2]) => Some(InformationElement::Ports {
                destination: u16::from_be_bytes([d1, d2]),
                source: u16::from_be_bytes([s1, s2]),
                wide: true,
            }),
            _ => None,
        };
        known.unwrap_or_else(|| InformationElement::Other {
            iei,
            data: data.to_vec(),
        })
    }

    /// Encodes the header including its UDHL octet.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0];
        for element in &self.elements {
            match element {
                InformationElement::Concatenation {
                    part: c,
                    wide_reference: true,
                } => {
                    out.extend_from_slice(&[0x08, 4]);
                    out.extend_from_slice(&c.reference.to_be_bytes());
                    out.extend_from_slice(&[c.total, c.sequence]);
                }
                InformationElement::Concatenation {
                    part: c,
                    wide_reference: false,
                } => out.extend_from_slice(&[0x00, 3, c.reference as u8, c.total, c.sequence]),
                InformationElement::Ports {
                    destination,
                    source,
                    wide: false,
                } => out.extend_from_slice(&[0x04, 2, *destination as u8, *source as u8]),
                InformationElement::Ports {
                    destination,
                    source,
                    ..
                } => {
                    out.extend_from_slice(&[0x05, 4]);
                    out.extend_from_slice(&destination.to_be_bytes());
                    out.extend_from_slice(&source.to_be_bytes());
                }
                InformationElement::Other { iei, data } => {
                    out.extend_from_slice(&[*iei, data.len() as u8]);
                    out.extend_from_slice(data);
                }
            }
        }
        out[0] = (out.len() - 1) as u8;
        out
    }

    /// Length in octets including the UDHL octet.
    pub fn encoded_len(&self) -> usize {
        self.encode().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenation_8_and_16_bit() {
        let h = UserDataHeader::decode(&[0x00, 0x03, 0xEF, 0x02, 0x01]).unwrap();
        assert_eq!(
            h.concat(),
            Some(Concatenation {
                reference: 0xEF,
                total: 2,
                sequence: 1
            })
        );
        assert!(matches!(
            h.elements[0],
            InformationElement::Concatenation {
                wide_reference: false,
                ..
            }
        ));
        assert_eq!(h.encode(), [0x05, 0x00, 0x03, 0xEF, 0x02, 0x01]);
        let h = UserDataHeader::decode(&[0x08, 0x04, 0x12, 0x34, 0x03, 0x03]).unwrap();
        assert_eq!(
            h.elements,
            [InformationElement::Concatenation {
                part: Concatenation {
                    reference: 0x1234,
                    total: 3,
                    sequence: 3
                },
                wide_reference: true
            }]
        );
        assert_eq!(h.encode()[1..], [0x08, 0x04, 0x12, 0x34, 0x03, 0x03]);
    }

    #[test]
    fn ports_and_unknown_elements() {
        // WAP push: 16-bit ports 2948 <- 9200, preceded by an unknown IE.
        let h = UserDataHeader::decode(&[0x70, 0x01, 0xAA, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0])
            .unwrap();
        assert_eq!(h.ports(), Some((2948, 9200)));
        assert_eq!(h.concat(), None);
        assert_eq!(
            h.elements[0],
            InformationElement::Other {
                iei: 0x70,
                data: vec![0xAA]
            }
        );
        let h = UserDataHeader::decode(&[0x04, 0x02, 0x10, 0x20]).unwrap();
        assert_eq!(h.ports(), Some((0x10, 0x20)));
    }

    #[test]
    fn invalid_concatenation_is_ignored() {
        for bad in [
            [0x00, 0x03, 0x01, 0x02, 0x00],
            [0x00, 0x03, 0x01, 0x02, 0x03],
            [0x00, 0x03, 0x01, 0x00, 0x00],
        ] {
            let h = UserDataHeader::decode(&bad).unwrap();
            assert_eq!(h.concat(), None);
        }
        // Wrong length for a known IEI: kept as Other.
        let h = UserDataHeader::decode(&[0x00, 0x02, 0x01, 0x02]).unwrap();
        assert!(matches!(
            h.elements[0],
            InformationElement::Other { iei: 0, .. }
        ));
    }

    #[test]
    fn overruns_are_errors() {
        assert!(matches!(
            UserDataHeader::decode(&[0x00, 0x03, 0x01, 0x02]),
            Err(DecodeError::UdhElementOverrun {
                iei: 0,
                length: 3,
                available: 2
            })
        ));
        assert!(matches!(
            UserDataHeader::decode(&[0x00, 0x03, 0x01, 0x02, 0x01, 0x24]),
            Err(DecodeError::UdhElementOverrun { iei: 0x24, .. })
        ));
        assert_eq!(UserDataHeader::decode(&[]).unwrap().elements.len(), 0);
    }
}
