//! Calendar arithmetic, all of it in one place: Unix time to calendar
//! fields in UTC and back, a service centre time stamp with its
//! quarter-hour offset to Unix time, whether fields are a real date, and
//! the day of the week. The counting of days is jiff's (the proleptic
//! Gregorian calendar, no leap seconds); this module maps simgate's
//! [`Timestamp`] onto it, so that no other module does date arithmetic.
//!
//! Its range is the years 0 to 9999: a [`Timestamp`] has no negative
//! years, and jiff none beyond 9999.

use crate::pdu::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::Offset;

/// The earliest Unix time converted to calendar fields:
/// 0000-01-01T00:00:00Z.
pub(crate) const FIRST_SECOND: i64 = -62_167_219_200;

/// The latest Unix time converted to calendar fields:
/// 9999-12-30T22:00:00Z, jiff's last instant (the last one that is a date
/// in every offset).
pub(crate) const LAST_SECOND: i64 = 253_402_207_200;

/// The largest offset a time stamp carries, in quarter hours (23.040
/// §9.2.3.11: two digits and a sign, at most 79 by the spec's tens digit).
pub(crate) const MAX_QUARTERS: i8 = 79;

/// Why a time stamp names no instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CalendarError {
    /// The fields are no date and time of the years 0 to 9999 (a month 13,
    /// 30 February, an hour 24, a year 10000), or the instant is beyond
    /// that range once its offset is applied.
    #[error("{0} is not a date and time between the years 0 and 9999")]
    NotADate(Timestamp),
    /// The offset is beyond what a time stamp can carry.
    #[error("an offset of {quarters} quarter hours is beyond ±79")]
    Offset {
        /// The offset in quarter hours.
        quarters: i8,
    },
}

/// Whether `year`-`month`-`day` is a date of the Gregorian calendar,
/// for the years 0 to 9999.
pub(crate) fn is_date(year: u16, month: u8, day: u8) -> bool {
    date(year, month, day).is_some()
}

/// The calendar fields in UTC of the time `seconds` after
/// 1970-01-01T00:00:00Z; a time before [`FIRST_SECOND`] or after
/// [`LAST_SECOND`] gives that second.
pub(crate) fn utc_from_unix_seconds(seconds: i64) -> Timestamp {
    let seconds = seconds.clamp(FIRST_SECOND, LAST_SECOND);
    // In range by the clamp; the fallback is never taken.
    let instant = jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let fields = Offset::UTC.to_datetime(instant);
    Timestamp {
        // Years 0 to 9999 by the clamp, months 1-12, and so on: every
        // field fits its unsigned type.
        year: fields.year() as u16,
        month: fields.month() as u8,
        day: fields.day() as u8,
        hour: fields.hour() as u8,
        minute: fields.minute() as u8,
        second: fields.second() as u8,
        tz_quarters: 0,
    }
}

/// The local calendar fields of the time `seconds` after the epoch, in
/// the system's time zone (`TZ`, else `/etc/localtime`, else UTC, as the
/// C library reads them), with the offset in `tz_quarters` rounded toward
/// zero, and the exact offset in seconds.
pub(crate) fn local_from_unix_seconds(seconds: i64) -> (Timestamp, i32) {
    let seconds = seconds.clamp(FIRST_SECOND, LAST_SECOND);
    let instant = jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let offset = jiff::tz::TimeZone::system().to_offset(instant);
    let fields = offset.to_datetime(instant);
    let stamp = Timestamp {
        year: fields.year().clamp(0, 9999) as u16,
        month: fields.month() as u8,
        day: fields.day() as u8,
        hour: fields.hour() as u8,
        minute: fields.minute() as u8,
        second: fields.second() as u8,
        tz_quarters: (offset.seconds() / 900).clamp(-79, 79) as i8,
    };
    (stamp, offset.seconds())
}

/// The Unix time of the instant a time stamp names: its fields read in
/// its own offset (`2024-01-15T11:30:00+01:00` is 1705314600).
pub(crate) fn unix_seconds(stamp: &Timestamp) -> Result<i64, CalendarError> {
    let not_a_date = CalendarError::NotADate(*stamp);
    if stamp.tz_quarters.unsigned_abs() > MAX_QUARTERS.unsigned_abs() {
        return Err(CalendarError::Offset {
            quarters: stamp.tz_quarters,
        });
    }
    let offset =
        Offset::from_seconds(i32::from(stamp.tz_quarters) * 15 * 60).map_err(|_| not_a_date)?;
    let [hour, minute, second] = [stamp.hour, stamp.minute, stamp.second]
        .map(|field| i8::try_from(field).unwrap_or(i8::MAX));
    let fields = date(stamp.year, stamp.month, stamp.day)
        .and_then(|date| {
            DateTime::new(
                date.year(),
                date.month(),
                date.day(),
                hour,
                minute,
                second,
                0,
            )
            .ok()
        })
        .ok_or(not_a_date)?;
    let instant = offset.to_timestamp(fields).map_err(|_| not_a_date)?;
    Ok(instant.as_second())
}

/// The day of the week of the time stamp's own date (in its own offset),
/// 0 for Sunday to 6 for Saturday.
pub(crate) fn weekday_from_sunday(stamp: &Timestamp) -> Result<u8, CalendarError> {
    let date = date(stamp.year, stamp.month, stamp.day).ok_or(CalendarError::NotADate(*stamp))?;
    Ok(date.weekday().to_sunday_zero_offset() as u8)
}

/// The date, if it is one of the years 0 to 9999.
fn date(year: u16, month: u8, day: u8) -> Option<Date> {
    if year > 9999 {
        return None;
    }
    Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The hand-written arithmetic this module replaced, kept as the oracle
    /// the property tests compare it with: `Timestamp::from_unix_seconds`
    /// and `days_in_month` from `pdu/scts.rs`, `days_from_civil` from
    /// `spool/inbox.rs`, as they were.
    mod oracle {
        use crate::pdu::Timestamp;

        pub(super) fn days_in_month(year: u16, month: u8) -> u8 {
            match month {
                2 if year.is_multiple_of(4)
                    && (!year.is_multiple_of(100) || year.is_multiple_of(400)) =>
                {
                    29
                }
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            }
        }

        pub(super) fn from_unix_seconds(seconds: i64) -> Timestamp {
            let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
            let z = days + 719_468;
            let era = z.div_euclid(146_097);
            let day_of_era = z - era * 146_097;
            let year_of_era =
                (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
            let day_of_year =
                day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
            let mp = (5 * day_of_year + 2) / 153;
            let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u8;
            let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
            let year = (year_of_era + era * 400 + i64::from(month <= 2)) as u16;
            Timestamp {
                year,
                month,
                day,
                hour: (rest / 3600) as u8,
                minute: (rest % 3600 / 60) as u8,
                second: (rest % 60) as u8,
                tz_quarters: 0,
            }
        }

        pub(super) fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
            let year = if month <= 2 { year - 1 } else { year };
            let era = year.div_euclid(400);
            let year_of_era = year - era * 400;
            let month = i64::from(month);
            let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5
                + i64::from(day)
                - 1;
            let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
            era * 146_097 + day_of_era - 719_468
        }

        /// `fields_as_utc` of `spool/inbox.rs` less the offset, as
        /// `time_variables` computed the epoch seconds of a time stamp.
        pub(super) fn unix_seconds(time: &Timestamp) -> i64 {
            days_from_civil(i64::from(time.year), time.month, time.day) * 86_400
                + i64::from(time.hour) * 3600
                + i64::from(time.minute) * 60
                + i64::from(time.second)
                - i64::from(time.tz_quarters) * 15 * 60
        }

        /// `saved_line` of `spool/inbox.rs`: 0 for Sunday.
        pub(super) fn weekday(time: &Timestamp) -> u8 {
            let days = days_from_civil(i64::from(time.year), time.month, time.day);
            (days + 4).rem_euclid(7) as u8
        }
    }

    fn stamp(fields: (u16, u8, u8, u8, u8, u8), tz_quarters: i8) -> Timestamp {
        let (year, month, day, hour, minute, second) = fields;
        Timestamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
            tz_quarters,
        }
    }

    #[test]
    fn the_range_ends_are_what_the_constants_say() {
        assert_eq!(
            utc_from_unix_seconds(FIRST_SECOND).to_string(),
            "0000-01-01T00:00:00+00:00"
        );
        assert_eq!(
            utc_from_unix_seconds(LAST_SECOND).to_string(),
            "9999-12-30T22:00:00+00:00"
        );
        assert_eq!(jiff::Timestamp::MAX.as_second(), LAST_SECOND);
        // Beyond them, the ends.
        assert_eq!(
            utc_from_unix_seconds(FIRST_SECOND - 1),
            utc_from_unix_seconds(FIRST_SECOND)
        );
        assert_eq!(
            utc_from_unix_seconds(i64::MAX),
            utc_from_unix_seconds(LAST_SECOND)
        );
        assert_eq!(
            utc_from_unix_seconds(i64::MIN),
            utc_from_unix_seconds(FIRST_SECOND)
        );
    }

    #[test]
    fn known_dates() {
        for (seconds, text, weekday) in [
            (0, "1970-01-01T00:00:00+00:00", 4),
            (-1, "1969-12-31T23:59:59+00:00", 3),
            (951_782_400, "2000-02-29T00:00:00+00:00", 2),
            (1_705_314_601, "2024-01-15T10:30:01+00:00", 1),
            (4_102_444_799, "2099-12-31T23:59:59+00:00", 4),
            (4_107_542_400, "2100-03-01T00:00:00+00:00", 1),
            (-2_203_891_200, "1900-03-01T00:00:00+00:00", 4),
            (-62_162_121_600, "0000-02-29T00:00:00+00:00", 2),
        ] {
            let stamp = utc_from_unix_seconds(seconds);
            assert_eq!(stamp.to_string(), text);
            assert_eq!(unix_seconds(&stamp), Ok(seconds), "{text}");
            assert_eq!(weekday_from_sunday(&stamp), Ok(weekday), "{text}");
        }
    }

    #[test]
    fn an_offset_is_applied() {
        // 23.040: the fields are local time; the offset says how far ahead of UTC.
        let plus_one = stamp((2024, 1, 15, 11, 30, 1), 4);
        assert_eq!(unix_seconds(&plus_one), Ok(1_705_314_601));
        let nepal = stamp((2024, 1, 15, 16, 15, 1), 23);
        assert_eq!(unix_seconds(&nepal), Ok(1_705_314_601));
        let newfoundland = stamp((2024, 1, 15, 7, 0, 1), -14);
        assert_eq!(unix_seconds(&newfoundland), Ok(1_705_314_601));
        // Across midnight and a year.
        let early = stamp((2025, 1, 1, 0, 30, 0), 8);
        assert_eq!(
            utc_from_unix_seconds(unix_seconds(&early).unwrap()).to_string(),
            "2024-12-31T22:30:00+00:00"
        );
    }

    #[test]
    fn what_is_no_date() {
        for (year, month, day) in [
            (2026, 2, 29),
            (2100, 2, 29),
            (1900, 2, 29),
            (2026, 2, 30),
            (2026, 4, 31),
            (2026, 13, 1),
            (2026, 0, 1),
            (2026, 1, 0),
            (2026, 1, 32),
            (2026, 255, 1),
            (10_000, 1, 1),
            (u16::MAX, 1, 1),
        ] {
            assert!(!is_date(year, month, day), "{year}-{month}-{day}");
            let no_date = stamp((year, month, day, 0, 0, 0), 0);
            assert_eq!(
                unix_seconds(&no_date),
                Err(CalendarError::NotADate(no_date))
            );
            assert!(weekday_from_sunday(&no_date).is_err());
        }
        for (year, month, day) in [(2024, 2, 29), (2000, 2, 29), (0, 2, 29), (9999, 12, 31)] {
            assert!(is_date(year, month, day), "{year}-{month}-{day}");
        }
        for (hour, minute, second) in [(24, 0, 0), (0, 60, 0), (0, 0, 60), (200, 0, 0)] {
            let no_time = stamp((2026, 1, 1, hour, minute, second), 0);
            assert_eq!(
                unix_seconds(&no_time),
                Err(CalendarError::NotADate(no_time))
            );
        }
        let too_far = stamp((2026, 1, 1, 0, 0, 0), 80);
        assert_eq!(
            unix_seconds(&too_far),
            Err(CalendarError::Offset { quarters: 80 })
        );
        assert_eq!(
            unix_seconds(&stamp((2026, 1, 1, 0, 0, 0), -128)),
            Err(CalendarError::Offset { quarters: -128 })
        );
        // A date whose instant is beyond jiff's last one.
        let last = stamp((9999, 12, 31, 23, 0, 0), -4);
        assert_eq!(unix_seconds(&last), Err(CalendarError::NotADate(last)));
    }

    /// Every day of the months of the years 1582 to 2500 (the Gregorian
    /// calendar's first years, the leap rules of 1700, 1800, 1900, 2000,
    /// 2100 and 2400), against the old arithmetic.
    #[test]
    fn every_date_of_nine_centuries_agrees_with_the_old_arithmetic() {
        for year in 1582..=2500u16 {
            for month in 1..=12u8 {
                for day in 0..=32u8 {
                    let old = (1..=oracle::days_in_month(year, month)).contains(&day);
                    assert_eq!(is_date(year, month, day), old, "{year}-{month}-{day}");
                    if old {
                        let noon = stamp((year, month, day, 12, 0, 0), 0);
                        assert_eq!(unix_seconds(&noon), Ok(oracle::unix_seconds(&noon)));
                        assert_eq!(weekday_from_sunday(&noon), Ok(oracle::weekday(&noon)));
                    }
                }
            }
        }
    }

    /// Any second of the years 0 to 9999.
    fn any_second() -> impl Strategy<Value = i64> {
        FIRST_SECOND..=LAST_SECOND
    }

    /// Seconds where the calendar turns: near 1 March and 1 January of a
    /// year, leap or not.
    fn turning_second() -> impl Strategy<Value = i64> {
        (0u16..=9998, prop::bool::ANY, -86_400i64..=86_400)
            .prop_map(|(year, march, around)| {
                let month = if march { 3 } else { 1 };
                oracle::days_from_civil(i64::from(year), month, 1) * 86_400 + around
            })
            .prop_filter("in range", |s| (FIRST_SECOND..=LAST_SECOND).contains(s))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn unix_to_fields_agrees_with_the_old_arithmetic(seconds in any_second()) {
            prop_assert_eq!(utc_from_unix_seconds(seconds), oracle::from_unix_seconds(seconds));
        }

        #[test]
        fn unix_to_fields_agrees_where_the_calendar_turns(seconds in turning_second()) {
            prop_assert_eq!(utc_from_unix_seconds(seconds), oracle::from_unix_seconds(seconds));
        }

        #[test]
        fn unix_seconds_round_trip(seconds in prop_oneof![any_second(), turning_second()]) {
            let fields = utc_from_unix_seconds(seconds);
            prop_assert_eq!(unix_seconds(&fields), Ok(seconds));
            prop_assert_eq!(weekday_from_sunday(&fields), Ok(oracle::weekday(&fields)));
        }

        /// Time stamps with any offset a network can send: the same
        /// instant as the old arithmetic, and fields that are a date
        /// exactly when the old check said so.
        #[test]
        fn time_stamps_agree_with_the_old_arithmetic(
            fields in (0u16..=9999, 0u8..=13, 0u8..=32, 0u8..24, 0u8..60, 0u8..60),
            quarters in -MAX_QUARTERS..=MAX_QUARTERS,
        ) {
            let (year, month, day, ..) = fields;
            let old_valid = (1..=12).contains(&month)
                && (1..=oracle::days_in_month(year, month)).contains(&day);
            prop_assert_eq!(is_date(year, month, day), old_valid);
            let time = stamp(fields, quarters);
            let old = oracle::unix_seconds(&time);
            match unix_seconds(&time) {
                Ok(seconds) => {
                    prop_assert!(old_valid);
                    prop_assert_eq!(seconds, old);
                }
                // Only a non-date, or an instant past jiff's last one.
                Err(_) => prop_assert!(!old_valid || old > LAST_SECOND, "{}", time),
            }
        }

        /// Read in UTC, the fields of an instant are the fields it came from.
        #[test]
        fn fields_round_trip(
            fields in (0u16..=9998, 1u8..=12, 1u8..=31, 0u8..24, 0u8..60, 0u8..60),
        ) {
            let (year, month, day, ..) = fields;
            prop_assume!(is_date(year, month, day));
            let time = stamp(fields, 0);
            prop_assert_eq!(utc_from_unix_seconds(unix_seconds(&time).unwrap()), time);
        }
    }
}
