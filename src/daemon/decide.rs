//! The daemon's small decisions, pure and tested here: when the receiving
//! storage is worth a warning, which call is a new one, and the words of
//! the status line.

use crate::device::{DeviceState, Radio};
use crate::store::Counts;

/// How full (in percent) the receiving storage may stay after a read
/// before simgate warns.
pub(crate) const NEARLY_FULL_PERCENT: u32 = 80;

/// How empty (in percent) the receiving storage must become before simgate
/// warns again when it fills.
pub(crate) const DRAINED_PERCENT: u32 = 60;

/// Whether to warn that the receiving storage is nearly full, with `used`
/// of `total` in use and `warned` whether it was reported and has not
/// drained since; returns that and the new `warned`. It warns once when it
/// reaches [`NEARLY_FULL_PERCENT`], and again only after it has drained
/// below [`DRAINED_PERCENT`] (just below the mark, one more message or one
/// fewer must not warn again). Any counts a device reports, without
/// overflow.
pub(crate) fn storage_warning(used: u32, total: u32, warned: bool) -> (bool, bool) {
    let share = |percent: u32| u64::from(total) * u64::from(percent);
    let used_share = u64::from(used) * 100;
    let nearly_full = total > 0 && used_share >= share(NEARLY_FULL_PERCENT);
    let drained = used_share < share(DRAINED_PERCENT);
    if nearly_full {
        (!warned, true)
    } else {
        (false, warned && !drained)
    }
}

/// How long after a call another ring is the same call (RING repeats every
/// few seconds; gammu handles at most one call per 5 s).
pub(crate) const SAME_CALL_MS: i64 = 5_000;

/// Lets each call through once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CallGate {
    last_ms: Option<i64>,
}

impl CallGate {
    /// Whether a call noticed at `now_ms` is a new one (and notes it).
    pub(crate) fn admit(&mut self, now_ms: i64) -> bool {
        if self
            .last_ms
            .is_some_and(|last| now_ms - last < SAME_CALL_MS)
        {
            return false;
        }
        self.last_ms = Some(now_ms);
        true
    }
}

/// The radio, in words.
pub(crate) fn radio_words(radio: &Radio) -> String {
    let signal = radio.signal_dbm.map_or("signal unknown".to_owned(), |dbm| {
        format!("signal {dbm} dBm")
    });
    let registration = match radio.registered {
        Some(true) => "registered",
        Some(false) => "not registered",
        None => "registration unknown",
    };
    format!("{signal}, {registration}")
}

/// One line of state for `systemctl status`.
pub(crate) fn status_line(
    state: &DeviceState,
    counts: &Counts,
    received: u64,
    undecodable: u64,
    radio: &str,
) -> String {
    let device = match state {
        DeviceState::Ready(_) => "modem ready",
        DeviceState::Connecting { .. } => "modem connecting",
        DeviceState::Suspended => "modem released (SIGUSR1)",
        DeviceState::Stopped => "modem stopped",
    };
    format!(
        "{device}; queue {}, sent {}, failed {}, ambiguous {}; received {received}, undecodable {undecodable}; {radio}",
        counts.queued, counts.sent, counts.failed, counts.ambiguous
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearly_full_warning_comes_once_until_drained() {
        assert_eq!(storage_warning(23, 30, false), (false, false));
        assert_eq!(storage_warning(24, 30, false), (true, true));
        assert_eq!(storage_warning(25, 30, true), (false, true));
        // Hovering just below the mark: no new warning.
        assert_eq!(storage_warning(23, 30, true), (false, true));
        assert_eq!(storage_warning(24, 30, true), (false, true));
        // Drained below 60 %: the next fill warns again.
        assert_eq!(storage_warning(17, 30, true), (false, false));
        assert_eq!(storage_warning(24, 30, false), (true, true));
        // No storage, and counts no real device has, without overflow.
        assert_eq!(storage_warning(0, 0, false), (false, false));
        assert_eq!(storage_warning(u32::MAX, u32::MAX, false), (true, true));
        assert_eq!(
            storage_warning(u32::MAX / 2, u32::MAX, true),
            (false, false)
        );
    }

    #[test]
    fn a_ringing_call_is_one_call() {
        let mut gate = CallGate::default();
        assert!(gate.admit(1_000));
        assert!(!gate.admit(4_000), "RING again");
        assert!(!gate.admit(5_999));
        assert!(gate.admit(6_000), "a new call");
    }

    #[test]
    fn the_status_line_says_it_all() {
        let counts = Counts {
            queued: 2,
            sent: 10,
            failed: 1,
            ambiguous: 0,
            cancelled: 3,
        };
        let radio = radio_words(&Radio {
            signal_dbm: Some(-79),
            registered: Some(true),
            ..Radio::default()
        });
        assert_eq!(radio, "signal -79 dBm, registered");
        assert_eq!(
            status_line(&DeviceState::Suspended, &counts, 7, 1, &radio),
            "modem released (SIGUSR1); queue 2, sent 10, failed 1, ambiguous 0; received 7, undecodable 1; signal -79 dBm, registered"
        );
        assert_eq!(
            radio_words(&Radio::default()),
            "signal unknown, registration unknown"
        );
    }
}
