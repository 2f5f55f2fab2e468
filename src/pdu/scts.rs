//! Service centre time stamps: TP-SCTS and TP-DT (3GPP TS 23.040
//! §9.2.3.11): seven swapped-BCD octets, the last a time zone in quarter
//! hours with a sign bit.
//!
//! A [`Timestamp`] is always a real date and time. What a network puts into
//! the TP-SCTS of a message is an [`Scts`]: such a time stamp, or seven
//! octets that are none (a month 13, a day 0 or 30 February, an hour 25, a
//! digit beyond 9), kept as they came so that the message itself is not
//! lost for them. What to date such a message by is the receiver's
//! choice; this module has no clock.

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
    /// The time stamp seven octets encode, if they encode a real date and
    /// time.
    pub fn from_octets(octets: [u8; 7]) -> Option<Self> {
        let digits = |octet: u8| {
            let (tens, units) = (octet & 0x0F, octet >> 4);
            (tens <= 9 && units <= 9).then_some(tens * 10 + units)
        };
        let year = digits(octets[0])?;
        let zone = octets[6];
        let (tens, units) = (zone & 0x07, zone >> 4);
        if units > 9 {
            return None;
        }
        let quarters = (tens * 10 + units) as i8;
        let stamp = Self {
            year: if year < 90 { 2000 } else { 1900 } + u16::from(year),
            month: digits(octets[1])?,
            day: digits(octets[2])?,
            hour: digits(octets[3])?,
            minute: digits(octets[4])?,
            second: digits(octets[5])?,
            tz_quarters: if zone & 0x08 != 0 {
                -quarters
            } else {
                quarters
            },
        };
        let valid = crate::calendar::is_date(stamp.year, stamp.month, stamp.day)
            && stamp.hour < 24
            && stamp.minute < 60
            && stamp.second < 60;
        valid.then_some(stamp)
    }

    /// Decodes the seven octets at the reader, which must be a date.
    pub(crate) fn decode(
        reader: &mut Reader<'_>,
        field: &'static str,
    ) -> Result<Self, DecodeError> {
        let octets = reader.take(7, field)?;
        octets
            .try_into()
            .ok()
            .and_then(Self::from_octets)
            .ok_or(DecodeError::InvalidTimestamp { field })
    }

    /// The UTC time `seconds` after 1970-01-01T00:00:00Z, for the years 0
    /// to 9999 (see `crate::calendar::utc_from_unix_seconds`).
    pub fn from_unix_seconds(seconds: i64) -> Self {
        crate::calendar::utc_from_unix_seconds(seconds)
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

/// TP-SCTS as a message carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scts {
    /// A date and time.
    Valid(Timestamp),
    /// Seven octets that are no date and time (see [`Timestamp::from_octets`]),
    /// as they came, so that the PDU encodes back the same.
    Invalid([u8; 7]),
}

impl Scts {
    /// Decodes the seven octets at the reader; only a PDU that ends inside
    /// them is an error.
    pub(crate) fn decode(
        reader: &mut Reader<'_>,
        field: &'static str,
    ) -> Result<Self, DecodeError> {
        let octets: [u8; 7] = reader
            .take(7, field)?
            .try_into()
            .map_err(|_| DecodeError::Truncated { field })?;
        Ok(Timestamp::from_octets(octets).map_or(Self::Invalid(octets), Self::Valid))
    }

    /// Encodes the seven octets.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Valid(stamp) => stamp.encode(out),
            Self::Invalid(octets) => out.extend_from_slice(octets),
        }
    }

    /// The time stamp, if it is one.
    pub fn valid(&self) -> Option<Timestamp> {
        match self {
            Self::Valid(stamp) => Some(*stamp),
            Self::Invalid(_) => None,
        }
    }
}

impl From<Timestamp> for Scts {
    fn from(stamp: Timestamp) -> Self {
        Self::Valid(stamp)
    }
}

/// The time stamp as [`Timestamp`] shows it, or `not a date (<hex>)`.
impl fmt::Display for Scts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Valid(stamp) => stamp.fmt(f),
            Self::Invalid(octets) => {
                f.write_str("not a date (")?;
                for octet in octets {
                    write!(f, "{octet:02X}")?;
                }
                f.write_str(")")
            }
        }
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

    fn scts(octets: &[u8]) -> Result<Scts, DecodeError> {
        Scts::decode(&mut Reader::new(octets), "TP-SCTS")
    }

    #[test]
    fn a_stamp_that_is_no_date_is_kept_as_it_came() {
        for bad in [
            [0x62, 0x31, 0x52, 0x02, 0x10, 0x95, 0x40], // month 13
            [0x62, 0x00, 0x52, 0x02, 0x10, 0x95, 0x40], // month 0
            [0x62, 0x11, 0x00, 0x02, 0x10, 0x95, 0x40], // day 0
            [0x62, 0x11, 0x52, 0x52, 0x10, 0x95, 0x40], // hour 25
            [0x62, 0x11, 0x52, 0x02, 0x06, 0x95, 0x40], // minute 60
            [0x62, 0x11, 0x52, 0x02, 0x10, 0x06, 0x40], // second 60
            [0x6A, 0x11, 0x52, 0x02, 0x10, 0x95, 0x40], // digit A
            [0x62, 0x11, 0x52, 0x02, 0x10, 0x95, 0xA0], // zone digit A
            [0x62, 0x20, 0x03, 0x01, 0x00, 0x00, 0x00], // 2026-02-30
            [0x62, 0x20, 0x92, 0x01, 0x00, 0x00, 0x00], // 2026-02-29
            [0x62, 0x11, 0x13, 0x01, 0x00, 0x00, 0x00], // 2026-11-31
            [0xFF; 7],
        ] {
            let stamp = scts(&bad).unwrap();
            assert_eq!(stamp, Scts::Invalid(bad), "{bad:02X?}");
            assert_eq!(stamp.valid(), None);
            let mut out = Vec::new();
            stamp.encode(&mut out);
            assert_eq!(out, bad, "encodes back as it came");
            assert!(
                matches!(decode(&bad), Err(DecodeError::InvalidTimestamp { .. })),
                "{bad:02X?}"
            );
        }
        let leap = [0x42, 0x20, 0x92, 0x01, 0x00, 0x00, 0x00]; // 2024-02-29
        assert_eq!(scts(&leap).unwrap(), Scts::Valid(decode(&leap).unwrap()));
        assert_eq!(
            scts(&leap).unwrap().to_string(),
            "2024-02-29T10:00:00+00:00"
        );
        assert_eq!(
            Scts::Invalid([0x62, 0x31, 0x52, 0x02, 0x10, 0x95, 0x40]).to_string(),
            "not a date (62315202109540)"
        );
        assert!(matches!(
            scts(&[0x62, 0x11, 0x52]),
            Err(DecodeError::Truncated { field: "TP-SCTS" })
        ));
    }

    #[test]
    fn unix_time_in_utc() {
        for (seconds, text) in [
            (0, "1970-01-01T00:00:00+00:00"),
            (-1, "1969-12-31T23:59:59+00:00"),
            (951_782_400, "2000-02-29T00:00:00+00:00"),
            (1_705_314_601, "2024-01-15T10:30:01+00:00"),
            (4_102_444_799, "2099-12-31T23:59:59+00:00"),
        ] {
            assert_eq!(Timestamp::from_unix_seconds(seconds).to_string(), text);
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
