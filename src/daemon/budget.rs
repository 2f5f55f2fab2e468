//! The monthly budget (`[budget]`), decided purely: which calendar month
//! `now` is in (the system's time zone, as a bill is), and whether a
//! message of some parts may go given what the month has used: go, go and
//! warn (the warning threshold is reached for the first time this month),
//! wait for the next month, or never (it needs more than a whole budget).

use crate::config::BudgetSettings;
use jiff::tz::TimeZone;
use std::time::SystemTime;

/// What a message waiting for the budget has as its reason; a reload
/// that changes the budget makes those messages due again.
pub(crate) const HELD_REASON: &str = "the monthly budget is used up";

/// A calendar month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Month {
    /// Its first instant, in milliseconds since the Unix epoch.
    pub(crate) start_ms: i64,
    /// The next month's first instant.
    pub(crate) next_start_ms: i64,
    /// `YYYY-MM`, for people.
    pub(crate) label: String,
}

/// The month `now` is in, in time zone `zone`.
pub(crate) fn month_of(now: SystemTime, zone: &TimeZone) -> Month {
    let instant = jiff::Timestamp::try_from(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let local = instant.to_zoned_datetime(zone.clone());
    let first = local.date().first_of_month();
    let start_of = |date: jiff::civil::Date| {
        // A day that starts in a gap (a jump at midnight) starts at the
        // gap's end: jiff's start_of_day handles it.
        date.to_zoned_datetime(zone.clone())
            .and_then(|day| day.start_of_day())
            .map_or(instant.as_millisecond(), |day| {
                day.timestamp().as_millisecond()
            })
    };
    let next = first
        .checked_add(jiff::Span::new().months(1))
        .unwrap_or(jiff::civil::Date::MAX);
    Month {
        start_ms: start_of(first),
        next_start_ms: start_of(next),
        label: format!("{:04}-{:02}", first.year(), first.month()),
    }
}

/// Whether a message may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It may.
    Go,
    /// It may, and with it the month reaches the warning threshold for the
    /// first time.
    GoAndWarn {
        /// Parts used once it has gone.
        used: u64,
        /// The threshold, in parts.
        threshold: u64,
    },
    /// It would go over the budget: it waits for the next month.
    Wait {
        /// Why, starting with [`HELD_REASON`].
        reason: String,
    },
    /// It needs more parts than a whole month's budget.
    Never {
        /// Why.
        reason: String,
    },
}

/// The warning threshold of `budget` parts at `percent`, in parts
/// (rounded up: 80% of 3 parts is 3).
pub(crate) fn threshold(budget: u32, percent: u8) -> u64 {
    (u64::from(budget) * u64::from(percent)).div_ceil(100)
}

/// Whether a message of `parts` may go when the month has used `used`
/// parts and its warning was `warned` already.
pub(crate) fn check(settings: &BudgetSettings, used: u64, parts: u32, warned: bool) -> Verdict {
    let Some(budget) = settings.monthly_parts else {
        return Verdict::Go;
    };
    if parts > budget {
        return Verdict::Never {
            reason: format!(
                "it needs {parts} parts, more than the whole monthly budget (budget.monthly_parts = {budget})"
            ),
        };
    }
    let after = used + u64::from(parts);
    if after > u64::from(budget) {
        return Verdict::Wait {
            reason: format!("{HELD_REASON} ({used} of {budget} parts sent; it needs {parts})"),
        };
    }
    let threshold = threshold(budget, settings.warn_percent);
    if !warned && after >= threshold {
        return Verdict::GoAndWarn {
            used: after,
            threshold,
        };
    }
    Verdict::Go
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(rfc3339: &str) -> SystemTime {
        let stamp: jiff::Timestamp = rfc3339.parse().unwrap();
        UNIX_EPOCH + Duration::from_millis(stamp.as_millisecond() as u64)
    }

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    fn budget(parts: u32, percent: u8) -> BudgetSettings {
        BudgetSettings {
            monthly_parts: Some(parts),
            warn_percent: percent,
        }
    }

    #[test]
    fn a_month_runs_from_local_midnight_on_the_first() {
        // Berlin's rules as a POSIX TZ string: no tzdata needed.
        let berlin = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        // 23:30 UTC on 31 December is already January in Berlin.
        let month = month_of(at("2026-12-31T23:30:00Z"), &berlin);
        assert_eq!(month.label, "2027-01");
        assert_eq!(month.start_ms, ms("2026-12-31T23:00:00Z"));
        assert_eq!(month.next_start_ms, ms("2027-01-31T23:00:00Z"));
        // March: the clocks go forward on its last Sunday, so April
        // starts at 22:00 UTC.
        let march = month_of(at("2027-03-15T12:00:00Z"), &berlin);
        assert_eq!(march.start_ms, ms("2027-02-28T23:00:00Z"));
        assert_eq!(march.next_start_ms, ms("2027-03-31T22:00:00Z"));
        let utc = month_of(at("2028-02-29T12:00:00Z"), &TimeZone::UTC);
        assert_eq!(utc.label, "2028-02");
        assert_eq!(utc.next_start_ms - utc.start_ms, 29 * 86_400_000);
    }

    #[test]
    fn no_budget_lets_everything_go() {
        let none = BudgetSettings::default();
        assert_eq!(check(&none, u64::MAX / 2, 10, false), Verdict::Go);
    }

    #[test]
    fn the_warning_comes_once_when_the_threshold_is_reached() {
        let b = budget(10, 80);
        assert_eq!(check(&b, 0, 7, false), Verdict::Go);
        assert_eq!(
            check(&b, 7, 1, false),
            Verdict::GoAndWarn {
                used: 8,
                threshold: 8
            }
        );
        assert_eq!(check(&b, 7, 1, true), Verdict::Go);
        // Jumping over the threshold warns too.
        assert_eq!(
            check(&b, 5, 4, false),
            Verdict::GoAndWarn {
                used: 9,
                threshold: 8
            }
        );
    }

    #[test]
    fn the_budget_is_a_hard_stop_counted_in_parts() {
        let b = budget(10, 80);
        assert!(matches!(check(&b, 9, 1, true), Verdict::Go));
        match check(&b, 9, 2, true) {
            Verdict::Wait { reason } => {
                assert!(reason.starts_with(HELD_REASON), "{reason}");
                assert!(reason.contains("9 of 10 parts"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(check(&b, 10, 1, true), Verdict::Wait { .. }));
        assert!(matches!(check(&b, 0, 11, false), Verdict::Never { .. }));
    }

    #[test]
    fn the_threshold_rounds_up() {
        assert_eq!(threshold(3, 80), 3);
        assert_eq!(threshold(1000, 80), 800);
        assert_eq!(threshold(1000, 100), 1000);
        assert_eq!(threshold(7, 1), 1);
    }
}
