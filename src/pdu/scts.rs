//! Service centre time stamps: TP-SCTS and TP-DT (3GPP TS 23.040
//! §9.2.3.11): seven swapped-BCD octets, the last a time zone in quarter
//! hours with a sign bit.

use super::reader::Reader;
use super::DecodeError;
use std::fmt;

/// A time stamp as the service centre wrote it, in its own time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Full year (two digits on the air: 00-89 are 2000-2089, 90-99 1990s).
    pub year: u16,
    /// Month 1-12.
    pub month: u8,
    /// Day 1-31.
    pub day: u8,
    /// Hour 0-23.
    pub hour: u8,
    /// Minute 0-59.
    pub minute: u8,
    /// Second 0-59.
    pub second: u8,
    /// Offset from UTC in quarter hours, -79 to +79.
    pub tz_quarters: i8,
}

impl Timestamp {
    /// Decodes the seven octets at the reader.
    pub(crate) fn decode(
        reader: &mut Reader<'_>,
        field: &'static str,
    ) -> Result<Self, DecodeError> {
        let octets = reader.take(7, field)?;
        let digits = |index: usize| -> Result<u8, DecodeError> {
            let octet = octets[index];
            let (tens, units) = (octet & 0x0F, octet >> 4);
            if tens > 9 || units > 9 {
                return Err(DecodeError::InvalidTimestamp { field });
            }
            Ok(tens * 10 + units)
        };
        let year = digits(0)?;
        let zone = octets[6];
        let (tens, units) = (zone & 0x07, zone >> 4);
        if units > 9 {
            return Err(DecodeError::InvalidTimestamp { field });
        }
        let quarters = (tens * 10 + units) as i8;
        let stamp = Self {
            year: if year < 90 { 2000 } else { 1900 } + u16::from(year),
            month: digits(1)?,
            day: digits(2)?,
            hour: digits(3)?,
            minute: digits(4)?,
            second: digits(5)?,
            tz_quarters: if zone & 0x08 != 0 {
                -quarters
            } else {
                quarters
            },
        };
        let valid = (1..=12).contains(&stamp.month)
            && (1..=31).contains(&stamp.day)
            && stamp.hour < 24
            && stamp.minute < 60
            && stamp.second < 60;
        if valid {
            Ok(stamp)
        } else {
            Err(DecodeError::InvalidTimestamp { field })
        }
    }

    /// Encodes as the seven octets of TP-SCTS.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let swap = |value: u8| ((value % 10) << 4) | ((value / 10) % 10);
        out.push(swap((self.year % 100) as u8));
        for value in [self.month, self.day, self.hour, self.minute, self.second] {
            out.push(swap(value));
        }
        let magnitude = self.tz_quarters.unsigned_abs().min(79);
        let sign = if self.tz_quarters < 0 { 0x08 } else { 0 };
        out.push(swap(magnitude) | sign);
    }

    /// The offset from UTC in minutes.
    pub fn offset_minutes(&self) -> i32 {
        i32::from(self.tz_quarters) * 15
    }
}

/// ISO 8601 with the sender's offset, e.g. `2026-11-25T20:01:59+01:00`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = self.offset_minutes();
        let sign = if offset < 0 { '-' } else { '+' };
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            sign,
            offset.abs() / 60,
            offset.abs() % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(octets: &[u8]) -> Result<Timestamp, DecodeError> {
        Timestamp::decode(&mut Reader::new(octets), "SCTS")
    }

    /// 23.040 §9.2.3.11: semi-octets swapped; zone bit 3 of the first digit is the sign.
    #[test]
    fn positive_and_negative_zones() {
        let t = decode(&[0x62, 0x11, 0x52, 0x02, 0x10, 0x95, 0x40]).unwrap();
        assert_eq!(t.to_string(), "2026-11-25T20:01:59+01:00");
        let t = decode(&[0x62, 0x11, 0x52, 0x02, 0x10, 0x95, 0x0A]).unwrap();
        assert_eq!(t.tz_quarters, -20);
        assert_eq!(t.to_string(), "2026-11-25T20:01:59-05:00");
        // +05:45 (Nepal) is 23 quarters.
        let t = decode(&[0x62, 0x11, 0x52, 0x02, 0x10, 0x95, 0x32]).unwrap();
        assert_eq!(t.to_string(), "2026-11-25T20:01:59+05:45");
        // -03:30 (Newfoundland) is 14 quarters with the sign bit.
        let t = decode(&[0x62, 0x11, 0x52, 0x02, 0x10, 0x95, 0x49]).unwrap();
        assert_eq!(t.to_string(), "2026-11-25T20:01:59-03:30");
    }

    #[test]
    fn encode_round_trips() {
        for quarters in [-48, -14, -1, 0, 1, 23, 56] {
            let t = Timestamp {
                year: 2031,
                month: 2,
                day: 28,
                hour: 23,
                minute: 59,
                second: 0,
                tz_quarters: quarters,
            };
            let mut out = Vec::new();
            t.encode(&mut out);
            assert_eq!(decode(&out).unwrap(), t);
        }
    }

    #[test]
    fn bad_stamps_are_errors() {
        assert!(matches!(
            decode(&[0x62, 0x11, 0x52, 0x02, 0x10, 0x95]),
            Err(DecodeError::Truncated { .. })
        ));
        for bad in [
            [0x6A, 0x11, 0x52, 0x02, 0x10, 0x95, 0x40], // digit A
            [0x62, 0x31, 0x52, 0x02, 0x10, 0x95, 0x40], // month 13
            [0x62, 0x11, 0x52, 0x52, 0x10, 0x95, 0x40], // hour 25
            [0x62, 0x11, 0x52, 0x02, 0x10, 0x95, 0xA0], // zone digit A
        ] {
            assert!(
                matches!(decode(&bad), Err(DecodeError::InvalidTimestamp { .. })),
                "{bad:02X?}"
            );
        }
    }
}
