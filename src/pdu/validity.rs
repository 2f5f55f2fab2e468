//! TP-VP, the validity period of an SMS-SUBMIT (3GPP TS 23.040 §9.2.3.12).

use super::reader::Reader;
use super::scts::Timestamp;
use super::DecodeError;

/// How long the service centre keeps trying to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Validity {
    /// No TP-VP field: the service centre's default.
    #[default]
    Absent,
    /// Relative, in the one-octet code of §9.2.3.12.1.
    Relative(u8),
    /// Enhanced format: the seven octets, kept raw.
    Enhanced([u8; 7]),
    /// Absolute time.
    Absolute(Timestamp),
}

impl Validity {
    /// The shortest relative period that lasts at least `minutes` (capped at
    /// the maximum, 63 weeks).
    pub fn relative_minutes(minutes: u32) -> Self {
        let code = match minutes {
            0..=720 => minutes.div_ceil(5).max(1) - 1,
            721..=1440 => 143 + (minutes - 720).div_ceil(30),
            1441..=43_200 => 166 + minutes.div_ceil(1440),
            _ => (192 + minutes.div_ceil(10_080)).min(255),
        };
        Self::Relative(code as u8)
    }

    /// Minutes a relative code stands for.
    pub fn minutes(code: u8) -> u32 {
        let code = u32::from(code);
        match code {
            0..=143 => (code + 1) * 5,
            144..=167 => 720 + (code - 143) * 30,
            168..=196 => (code - 166) * 1440,
            _ => (code - 192) * 10_080,
        }
    }

    /// The TP-VPF bits (3..4 of the first octet) for this period.
    pub(crate) fn format_bits(&self) -> u8 {
        match self {
            Self::Absent => 0x00,
            Self::Enhanced(_) => 0x08,
            Self::Relative(_) => 0x10,
            Self::Absolute(_) => 0x18,
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Absent => {}
            Self::Relative(code) => out.push(*code),
            Self::Enhanced(octets) => out.extend_from_slice(octets),
            Self::Absolute(stamp) => stamp.encode(out),
        }
    }

    pub(crate) fn decode(reader: &mut Reader<'_>, first_octet: u8) -> Result<Self, DecodeError> {
        Ok(match first_octet & 0x18 {
            0x00 => Self::Absent,
            0x10 => Self::Relative(reader.u8("TP-VP")?),
            0x08 => {
                let mut octets = [0; 7];
                octets.copy_from_slice(reader.take(7, "TP-VP")?);
                Self::Enhanced(octets)
            }
            _ => Self::Absolute(Timestamp::decode(reader, "TP-VP")?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The four ranges of 23.040 §9.2.3.12.1 at their edges.
    #[test]
    fn relative_codes() {
        assert_eq!(Validity::minutes(0), 5);
        assert_eq!(Validity::minutes(143), 720);
        assert_eq!(Validity::minutes(144), 750);
        assert_eq!(Validity::minutes(167), 1440);
        assert_eq!(Validity::minutes(168), 2 * 1440);
        assert_eq!(Validity::minutes(196), 30 * 1440);
        assert_eq!(Validity::minutes(197), 5 * 10_080);
        assert_eq!(Validity::minutes(255), 63 * 10_080);
    }

    #[test]
    fn relative_from_minutes_rounds_up() {
        for code in 0..=255u8 {
            assert_eq!(
                Validity::relative_minutes(Validity::minutes(code)),
                Validity::Relative(code)
            );
        }
        assert_eq!(Validity::relative_minutes(0), Validity::Relative(0));
        assert_eq!(Validity::relative_minutes(6), Validity::Relative(1));
        assert_eq!(
            Validity::relative_minutes(24 * 60 * 7),
            Validity::Relative(173)
        );
        assert_eq!(
            Validity::relative_minutes(u32::MAX),
            Validity::Relative(255)
        );
    }
}
