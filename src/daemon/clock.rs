//! The daemon's one clock. Timers run on tokio's clock (which tests can
//! pause); what is recorded and compared with file times is calendar time,
//! from the [`Clock`] the daemon is given: the system's, or one that follows
//! tokio's paused clock in tests, so a test that advances time advances
//! both and no verdict depends on how fast the machine is.

use std::fmt::Debug;
use std::time::{Duration, SystemTime};

/// Where the daemon reads calendar time.
pub trait Clock: Send + Sync + Debug {
    /// Now.
    fn now(&self) -> SystemTime;

    /// Now, in milliseconds since the Unix epoch (what the store keeps).
    fn now_ms(&self) -> i64 {
        to_ms(self.now())
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn to_ms(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Calendar time from milliseconds since the Unix epoch.
pub(crate) fn from_ms(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Calendar time that moves with tokio's clock: starts at the system time
/// it was made at and advances exactly as `tokio::time::Instant` does
/// (paused and advanced in tests).
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    calendar: SystemTime,
    instant: tokio::time::Instant,
}

impl TokioClock {
    /// Starting now.
    pub fn new() -> Self {
        Self::starting_at(SystemTime::now())
    }

    /// Starting at `calendar`.
    pub fn starting_at(calendar: SystemTime) -> Self {
        Self {
            calendar,
            instant: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.calendar + self.instant.elapsed()
    }
}

/// A calendar deadline as a tokio deadline, by `clock`.
pub(crate) fn deadline(clock: &dyn Clock, at: SystemTime) -> tokio::time::Instant {
    let wait = at.duration_since(clock.now()).unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + wait
}

/// How far the calendar may fall behind the monotonic clock between two
/// looks before it counts as set back (NTP steps smaller offsets; the two
/// clocks are read a few microseconds apart).
pub(crate) const SET_BACK_SLACK_MS: i64 = 2_000;

/// Notices the calendar set back while the daemon runs, by comparing it
/// with tokio's monotonic clock, which nothing sets. Only a step back is
/// reported: a step forward cannot be told from a machine that was
/// suspended (the monotonic clock stops meanwhile, the calendar does not).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SetBackWatch {
    calendar_ms: i64,
    at: tokio::time::Instant,
}

impl SetBackWatch {
    /// Looking from the calendar's `calendar_ms` at monotonic `at`.
    pub(crate) fn new(calendar_ms: i64, at: tokio::time::Instant) -> Self {
        Self { calendar_ms, at }
    }

    /// The calendar says `calendar_ms` at monotonic `at`: how far it was
    /// set back since the last look, if further than [`SET_BACK_SLACK_MS`].
    pub(crate) fn look(&mut self, calendar_ms: i64, at: tokio::time::Instant) -> Option<i64> {
        let expected = self.calendar_ms + at.saturating_duration_since(self.at).as_millis() as i64;
        *self = Self::new(calendar_ms, at);
        let behind = expected - calendar_ms;
        (behind > SET_BACK_SLACK_MS).then_some(behind)
    }
}

/// The calendar says `now_ms` and the store's latest record is
/// `latest_ms`: how far the calendar was set back while the daemon was
/// not running, if further than [`SET_BACK_SLACK_MS`].
pub(crate) fn set_back_since(latest_ms: Option<i64>, now_ms: i64) -> Option<i64> {
    let behind = latest_ms? - now_ms;
    (behind > SET_BACK_SLACK_MS).then_some(behind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_calendar_going_back_further_than_the_slack_is_set_back() {
        let start = tokio::time::Instant::now();
        let minute = Duration::from_secs(60);
        let mut watch = SetBackWatch::new(1_000_000, start);
        // Both moved on alike, give or take the slack.
        assert_eq!(watch.look(1_060_000, start + minute), None);
        assert_eq!(watch.look(1_118_500, start + 2 * minute), None);
        // A day back, a minute later.
        assert_eq!(
            watch.look(1_118_500 + 60_000 - 86_400_000, start + 3 * minute),
            Some(86_400_000)
        );
        // From there on, the new calendar is the reference.
        assert_eq!(
            watch.look(1_118_500 + 120_000 - 86_400_000, start + 4 * minute),
            None
        );
        // Forward (an NTP step, or a suspended machine): not reported.
        assert_eq!(watch.look(9_000_000_000, start + 5 * minute), None);
        // A second look at the same moment.
        assert_eq!(watch.look(9_000_000_000, start + 5 * minute), None);
    }

    #[test]
    fn a_store_that_recorded_later_than_now_says_how_far_the_calendar_went_back() {
        assert_eq!(set_back_since(None, 1_000), None);
        assert_eq!(set_back_since(Some(1_000), 1_000), None);
        assert_eq!(set_back_since(Some(2_999), 1_000), None);
        assert_eq!(set_back_since(Some(3_001), 1_000), Some(2_001));
    }

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_moves_with_paused_time() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let clock = TokioClock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + Duration::from_secs(90));
        assert_eq!(clock.now_ms(), 1_800_000_090_000);
        let later = deadline(&clock, start + Duration::from_secs(100));
        assert_eq!(later - tokio::time::Instant::now(), Duration::from_secs(10));
        assert_eq!(from_ms(to_ms(start)), start);
    }
}
