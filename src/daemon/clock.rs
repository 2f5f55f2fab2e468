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

#[cfg(test)]
mod tests {
    use super::*;

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
