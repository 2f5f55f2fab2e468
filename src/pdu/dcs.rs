//! TP-DCS, the data coding scheme (3GPP TS 23.038 §4): which alphabet the
//! user data is in, the message class, compression and message waiting
//! indications.

/// The alphabet of the user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alphabet {
    /// GSM 7-bit default alphabet, packed.
    Gsm7,
    /// 8-bit data, shown to no one: ports, WAP push, binary payloads.
    Eight,
    /// UCS-2 (in practice UTF-16BE, surrogate pairs included).
    Ucs2,
}

/// The message class (23.038 §4, bits 1..0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageClass {
    /// Class 0: flash, shown at once and not stored.
    Flash,
    /// Class 1: mobile equipment specific.
    Me,
    /// Class 2: SIM specific.
    Sim,
    /// Class 3: terminal equipment specific.
    Te,
}

impl MessageClass {
    /// The class number, 0 to 3.
    pub fn number(self) -> u8 {
        match self {
            Self::Flash => 0,
            Self::Me => 1,
            Self::Sim => 2,
            Self::Te => 3,
        }
    }

    /// The class for a number 0 to 3 (higher bits ignored).
    pub fn from_number(number: u8) -> Self {
        match number & 0x03 {
            0 => Self::Flash,
            1 => Self::Me,
            2 => Self::Sim,
            _ => Self::Te,
        }
    }
}

/// What a message waiting indication announces (23.038 §4, groups 1100-1110).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndicationKind {
    /// Voicemail waiting.
    Voicemail,
    /// Fax waiting.
    Fax,
    /// E-mail waiting.
    Email,
    /// Something else waiting.
    Other,
}

/// A message waiting indication carried in the DCS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaitingIndication {
    /// Whether the indication is being set (true) or cleared.
    pub active: bool,
    /// What is waiting.
    pub kind: IndicationKind,
    /// Group 1100: the message may be discarded after updating the indicator.
    pub discard: bool,
}

/// Why simgate keeps user data as the octets that came instead of reading
/// text from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Undecoded {
    /// Compressed (3GPP TS 23.042).
    #[error("the user data is compressed (3GPP TS 23.042), which simgate does not decompress")]
    Compressed,
    /// A reserved alphabet or coding group: the DCS octet.
    #[error("data coding scheme {0:#04x} is reserved")]
    Reserved(u8),
}

/// A decoded TP-DCS octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataCodingScheme {
    /// The raw octet.
    pub raw: u8,
    /// Alphabet of the user data.
    pub alphabet: Alphabet,
    /// Message class, when the scheme names one.
    pub class: Option<MessageClass>,
    /// The text is compressed (23.042); simgate does not decompress it.
    pub compressed: bool,
    /// A message waiting indication, for groups 1100-1110.
    pub waiting: Option<WaitingIndication>,
    /// The alphabet or the coding group is reserved. 23.038 tells a
    /// receiver to read such user data as GSM 7-bit text, but text in an
    /// alphabet nobody defined is not measured in septets either: simgate
    /// keeps it as 8-bit data (as gammu 1.42 does), octets as they came.
    pub reserved: bool,
}

impl DataCodingScheme {
    /// Decodes a DCS octet. Every value decodes: reserved groups and the
    /// reserved alphabet are flagged in `reserved` and read as 8-bit data
    /// (see there).
    pub fn decode(raw: u8) -> Self {
        let mut dcs = Self {
            raw,
            alphabet: Alphabet::Gsm7,
            class: None,
            compressed: false,
            waiting: None,
            reserved: false,
        };
        match raw >> 4 {
            // General data coding (00xx) and automatic deletion (01xx).
            0x0..=0x7 => {
                dcs.compressed = raw & 0x20 != 0;
                if raw & 0x10 != 0 {
                    dcs.class = Some(MessageClass::from_number(raw));
                }
                dcs.alphabet = match (raw >> 2) & 0x03 {
                    0 => Alphabet::Gsm7,
                    1 => Alphabet::Eight,
                    2 => Alphabet::Ucs2,
                    _ => {
                        dcs.reserved = true;
                        Alphabet::Eight
                    }
                };
            }
            0x8..=0xB => {
                dcs.reserved = true;
                dcs.alphabet = Alphabet::Eight;
            }
            group @ 0xC..=0xE => {
                dcs.alphabet = if group == 0xE {
                    Alphabet::Ucs2
                } else {
                    Alphabet::Gsm7
                };
                dcs.waiting = Some(WaitingIndication {
                    active: raw & 0x08 != 0,
                    kind: match raw & 0x03 {
                        0 => IndicationKind::Voicemail,
                        1 => IndicationKind::Fax,
                        2 => IndicationKind::Email,
                        _ => IndicationKind::Other,
                    },
                    discard: group == 0xC,
                });
            }
            _ => {
                dcs.alphabet = if raw & 0x04 != 0 {
                    Alphabet::Eight
                } else {
                    Alphabet::Gsm7
                };
                dcs.class = Some(MessageClass::from_number(raw));
            }
        }
        dcs
    }

    /// Why user data in this scheme is not read as text, when it is not:
    /// it is then kept as it came ([`Alphabet::Eight`] for reserved
    /// schemes, [`Body::Compressed`](super::Body::Compressed) when
    /// compressed).
    pub fn undecoded(&self) -> Option<Undecoded> {
        if self.reserved {
            Some(Undecoded::Reserved(self.raw))
        } else if self.compressed {
            Some(Undecoded::Compressed)
        } else {
            None
        }
    }

    /// The DCS octet for an uncompressed message in `alphabet`, with a class
    /// when one is given (general data coding group).
    pub fn encode(alphabet: Alphabet, class: Option<MessageClass>) -> u8 {
        let alphabet_bits = match alphabet {
            Alphabet::Gsm7 => 0x00,
            Alphabet::Eight => 0x04,
            Alphabet::Ucs2 => 0x08,
        };
        match class {
            None => alphabet_bits,
            Some(class) => 0x10 | alphabet_bits | class.number(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn general_group() {
        let d = DataCodingScheme::decode(0x00);
        assert_eq!(
            (d.alphabet, d.class, d.compressed),
            (Alphabet::Gsm7, None, false)
        );
        assert_eq!(DataCodingScheme::decode(0x08).alphabet, Alphabet::Ucs2);
        assert_eq!(DataCodingScheme::decode(0x04).alphabet, Alphabet::Eight);
        let flash = DataCodingScheme::decode(0x10);
        assert_eq!(flash.class, Some(MessageClass::Flash));
        assert_eq!(
            DataCodingScheme::decode(0x18).class,
            Some(MessageClass::Flash)
        );
        assert_eq!(DataCodingScheme::decode(0x18).alphabet, Alphabet::Ucs2);
        assert!(DataCodingScheme::decode(0x20).compressed);
        // Automatic deletion group behaves the same.
        assert_eq!(DataCodingScheme::decode(0x48).alphabet, Alphabet::Ucs2);
    }

    #[test]
    fn class_group() {
        let d = DataCodingScheme::decode(0xF0);
        assert_eq!(
            (d.alphabet, d.class),
            (Alphabet::Gsm7, Some(MessageClass::Flash))
        );
        let d = DataCodingScheme::decode(0xF6);
        assert_eq!(
            (d.alphabet, d.class),
            (Alphabet::Eight, Some(MessageClass::Sim))
        );
    }

    #[test]
    fn waiting_indications() {
        let d = DataCodingScheme::decode(0xC8);
        assert_eq!(
            d.waiting,
            Some(WaitingIndication {
                active: true,
                kind: IndicationKind::Voicemail,
                discard: true
            })
        );
        let d = DataCodingScheme::decode(0xE2);
        assert_eq!(d.alphabet, Alphabet::Ucs2);
        assert_eq!(
            d.waiting.map(|w| (w.active, w.kind)),
            Some((false, IndicationKind::Email))
        );
        assert!(DataCodingScheme::decode(0x90).reserved);
    }

    #[test]
    fn reserved_schemes_are_read_as_octets() {
        // 23.038 would read these as GSM 7-bit; the length of text in an
        // alphabet nobody defined is not known in septets, and gammu 1.42
        // reads them as 8-bit data too.
        for raw in [0x0C, 0x1C, 0x2C, 0x4C, 0x7F, 0x80, 0x94, 0xAA, 0xBF] {
            let d = DataCodingScheme::decode(raw);
            assert!(d.reserved, "{raw:#04x}");
            assert_eq!(d.alphabet, Alphabet::Eight, "{raw:#04x}");
            assert_eq!(d.undecoded(), Some(Undecoded::Reserved(raw)));
        }
        assert_eq!(
            DataCodingScheme::decode(0x1C).class,
            Some(MessageClass::Flash)
        );
        assert_eq!(
            Undecoded::Reserved(0x80).to_string(),
            "data coding scheme 0x80 is reserved"
        );
    }

    #[test]
    fn what_simgate_does_not_decode() {
        for raw in [0x20, 0x28, 0x24, 0x30, 0x68] {
            let d = DataCodingScheme::decode(raw);
            assert_eq!(d.undecoded(), Some(Undecoded::Compressed), "{raw:#04x}");
        }
        assert_eq!(
            Undecoded::Compressed.to_string(),
            "the user data is compressed (3GPP TS 23.042), which simgate does not decompress"
        );
        for raw in [0x00, 0x04, 0x08, 0x10, 0x48, 0xC8, 0xE0, 0xF0, 0xF4] {
            assert_eq!(
                DataCodingScheme::decode(raw).undecoded(),
                None,
                "{raw:#04x}"
            );
        }
    }

    #[test]
    fn encode_round_trips() {
        for alphabet in [Alphabet::Gsm7, Alphabet::Eight, Alphabet::Ucs2] {
            for class in [None, Some(MessageClass::Flash), Some(MessageClass::Te)] {
                let d = DataCodingScheme::decode(DataCodingScheme::encode(alphabet, class));
                assert_eq!((d.alphabet, d.class), (alphabet, class));
            }
        }
    }
}
