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

    /// Time that nothing sets and that goes on while the machine is
    /// suspended, from a fixed origin: what tells the calendar set forward
    /// or back from time that passed. A clock on tokio's time measures it
    /// from an instant of its own runtime: an origin shared by the process
    /// was read by whichever runtime came first, and a paused runtime
    /// made earlier saw its steady time stand still (saturated at zero)
    /// while its calendar moved, a calendar step that never was.
    fn steady(&self) -> Duration;
}

/// tokio's clock since the first call in the process: steady, but
/// stopped while the machine is suspended (the system clock's fallback;
/// the process has one runtime then).
fn tokio_steady() -> Duration {
    static ORIGIN: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(tokio::time::Instant::now).elapsed()
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

    /// Linux's `CLOCK_BOOTTIME`: monotonic, and counting a suspend
    /// (tokio's clock on a kernel without it, older than 2.6.39).
    fn steady(&self) -> Duration {
        use nix::time::{clock_gettime, ClockId};
        clock_gettime(ClockId::CLOCK_BOOTTIME).map_or_else(|_| tokio_steady(), Duration::from)
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

    fn steady(&self) -> Duration {
        self.instant.elapsed()
    }
}

/// A calendar deadline as a tokio deadline, by `clock`.
pub(crate) fn deadline(clock: &dyn Clock, at: SystemTime) -> tokio::time::Instant {
    let wait = at.duration_since(clock.now()).unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + wait
}

/// How far the calendar may move from the steady clock between two looks
/// before it counts as set (NTP slews smaller offsets; a leap second is
/// one; the two clocks are read a few microseconds apart).
pub(crate) const STEP_SLACK_MS: i64 = 2_000;

/// Notices the calendar set forward or back while the daemon runs, by
/// comparing it with [`Clock::steady`], which nothing sets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CalendarWatch {
    calendar_ms: i64,
    steady: Duration,
}

impl CalendarWatch {
    /// Looking from the calendar's `calendar_ms` at steady time `steady`.
    pub(crate) fn new(calendar_ms: i64, steady: Duration) -> Self {
        Self {
            calendar_ms,
            steady,
        }
    }

    /// Looking at `clock` now.
    pub(crate) fn of(clock: &dyn Clock) -> Self {
        Self::new(clock.now_ms(), clock.steady())
    }

    /// The calendar says `calendar_ms` at steady time `steady`: by how
    /// much it was set since the last look (forward positive, back
    /// negative), if by more than [`STEP_SLACK_MS`].
    pub(crate) fn look(&mut self, calendar_ms: i64, steady: Duration) -> Option<i64> {
        let passed = steady.saturating_sub(self.steady).as_millis() as i64;
        let step = calendar_ms - (self.calendar_ms + passed);
        *self = Self::new(calendar_ms, steady);
        (step.abs() > STEP_SLACK_MS).then_some(step)
    }
}

/// The calendar says `now_ms` and the store's latest record is
/// `latest_ms`: by how much the calendar was set back while the daemon was
/// not running (negative), if by more than [`STEP_SLACK_MS`]. (A step
/// forward cannot be told from the time the daemon was stopped.)
pub(crate) fn set_back_since(latest_ms: Option<i64>, now_ms: i64) -> Option<i64> {
    let step = now_ms - latest_ms?;
    (step < -STEP_SLACK_MS).then_some(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calendar_set_forward_or_back_further_than_the_slack_is_a_step() {
        let minute = Duration::from_secs(60);
        let day = 86_400_000;
        let mut watch = CalendarWatch::new(1_000_000, minute);
        // Both moved on alike, give or take the slack.
        assert_eq!(watch.look(1_060_000, 2 * minute), None);
        assert_eq!(watch.look(1_118_500, 3 * minute), None);
        // A day back, a minute later.
        assert_eq!(watch.look(1_178_500 - day, 4 * minute), Some(-day));
        // From there on, the new calendar is the reference.
        assert_eq!(watch.look(1_238_500 - day, 5 * minute), None);
        // A day forward (NTP's first answer on a machine without a clock).
        assert_eq!(watch.look(1_298_500, 6 * minute), Some(day));
        // A second look at the same moment.
        assert_eq!(watch.look(1_298_500, 6 * minute), None);
        // A machine suspended for a day: the steady clock went on too.
        let resumed = 6 * minute + Duration::from_millis(day as u64);
        assert_eq!(watch.look(1_298_500 + day, resumed), None);
    }

    #[test]
    fn the_system_clocks_steady_time_moves_on() {
        let first = SystemClock.steady();
        std::thread::sleep(Duration::from_millis(5));
        assert!(SystemClock.steady() >= first + Duration::from_millis(5));
        assert!(first > Duration::ZERO);
    }

    #[test]
    fn a_store_that_recorded_later_than_now_says_how_far_the_calendar_went_back() {
        assert_eq!(set_back_since(None, 1_000), None);
        assert_eq!(set_back_since(Some(1_000), 1_000), None);
        assert_eq!(set_back_since(Some(2_999), 1_000), None);
        assert_eq!(set_back_since(Some(3_001), 1_000), Some(-2_001));
    }

    /// A paused runtime made before another read its clock: its clock's
    /// steady time still moves exactly with its own paused time.
    #[test]
    fn a_tokio_clock_s_steady_time_is_its_own_runtime_s() {
        let runtime = |paused| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(paused)
                .build()
                .unwrap()
        };
        let paused = runtime(true);
        let clock = paused.block_on(async { TokioClock::new() });
        // Real time passes; another runtime reads a clock later.
        std::thread::sleep(Duration::from_millis(2));
        runtime(false).block_on(async { TokioClock::new().steady() });
        paused.block_on(async {
            let before = clock.steady();
            tokio::time::advance(Duration::from_secs(90)).await;
            assert_eq!(clock.steady() - before, Duration::from_secs(90));
        });
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
