//! The per-client limit of the HTTP API (`[http]
//! client_messages_per_hour`, 10 as in the original gateway): a client is
//! its peer address. The decision is the daemon's own rate limit
//! ([`crate::daemon::limits`]) over what the client queued in the last
//! hour, so a burst is let through exactly up to the limit and the answer
//! says when the next one may come.

use crate::config::{Limit, LimitScope, LimitUnit, LimitWindow};
use crate::daemon::limits::{self, Counted, Verdict};

/// Whether a client that queued messages at `times` (ms, oldest first,
/// the last hour) may queue one more at `now_ms` under `max` per hour:
/// `None` when it may, else the seconds until it may (for Retry-After,
/// at least 1). `max == 0`: no limit.
pub(crate) fn retry_after(max: u32, times: &[i64], now_ms: i64) -> Option<u64> {
    if max == 0 {
        return None;
    }
    let rule = Limit {
        scope: LimitScope::All,
        unit: LimitUnit::Messages,
        window: LimitWindow::Hour,
        max,
    };
    let history: Vec<Counted> = times
        .iter()
        .map(|&at_ms| Counted {
            at_ms,
            parts: 1,
            same_destination: false,
            same_modem: false,
        })
        .collect();
    match limits::check(&[rule], &history, 1, now_ms, limits::Written::Limits) {
        Verdict::Go => None,
        Verdict::Wait { until_ms, .. } => {
            let wait_ms = until_ms.saturating_sub(now_ms).max(0) as u64;
            Some(wait_ms.div_ceil(1000).max(1))
        }
        // One message is never more than a limit of at least one.
        Verdict::Never { .. } => Some(3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn the_limit_lets_exactly_max_through_and_says_when_the_next_may_come() {
        let mut times = Vec::new();
        for n in 0..10 {
            let now = 1_000 + n * 1_000;
            assert_eq!(retry_after(10, &times, now), None, "message {n}");
            times.push(now);
        }
        // The eleventh waits until the first leaves the hour.
        assert_eq!(retry_after(10, &times, 20_000), Some(3_600 - 19));
        assert_eq!(retry_after(10, &times, 1_000 + HOUR - 1), Some(1));
        // Only what is in the window counts (the caller passes the last
        // hour; an older time is ignored here too).
        assert_eq!(retry_after(10, &times, 1_000 + HOUR), None);
    }

    #[test]
    fn zero_means_no_limit() {
        assert_eq!(retry_after(0, &[1, 2, 3], 4), None);
    }
}
