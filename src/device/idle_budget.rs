//! A web stick's request budget while idle: one small request per check
//! interval (issue 13: at most 12 a minute with the default 5 s).
//!
//! The poller of a HiLink or ZTE stick asks for its message count once per
//! `check_interval`; the daemon's status refresh (`status_interval`) reads
//! the signal and network with requests of its own. Each of those takes
//! the place of one of the poller's next checks ([`IdleBudget::spent`],
//! [`IdleBudget::check_now`]), so the two together stay at one request per
//! interval. A check gives way at most [`MAX_GIVEN_WAY`] times in a row
//! and the debt is capped at that, so a status refresh more frequent than
//! the checks can delay reception by that many intervals but never stop
//! it.

use std::sync::Mutex;

/// The most checks in a row that give way to status requests.
const MAX_GIVEN_WAY: u32 = 2;

/// Status requests not yet paid for by a skipped check, and the checks
/// skipped in a row.
#[derive(Debug, Default)]
pub(crate) struct IdleBudget {
    state: Mutex<Turns>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Turns {
    owed: u32,
    given_way: u32,
}

impl Turns {
    /// `requests` more were made outside the checks.
    fn spent(self, requests: u32) -> Self {
        Self {
            owed: self.owed.saturating_add(requests).min(MAX_GIVEN_WAY),
            ..self
        }
    }

    /// Whether this turn's check is made, and the turns after it.
    fn check(self) -> (bool, Self) {
        if self.owed > 0 && self.given_way < MAX_GIVEN_WAY {
            (
                false,
                Self {
                    owed: self.owed - 1,
                    given_way: self.given_way + 1,
                },
            )
        } else {
            (
                true,
                Self {
                    owed: self.owed,
                    given_way: 0,
                },
            )
        }
    }
}

impl IdleBudget {
    /// A status read made `requests` requests of its own.
    pub(crate) fn spent(&self, requests: u32) {
        let mut turns = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *turns = turns.spent(requests);
    }

    /// Whether the poller's check due now is made (`false`: it gives way
    /// to a status request made since).
    pub(crate) fn check_now(&self) -> bool {
        let mut turns = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (check, next) = turns.check();
        *turns = next;
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(budget: &IdleBudget, turns: usize) -> Vec<bool> {
        (0..turns).map(|_| budget.check_now()).collect()
    }

    #[test]
    fn with_nothing_spent_every_turn_checks() {
        let budget = IdleBudget::default();
        assert_eq!(checks(&budget, 4), [true; 4]);
    }

    #[test]
    fn each_status_request_takes_the_place_of_one_check() {
        let budget = IdleBudget::default();
        budget.spent(2);
        assert_eq!(checks(&budget, 4), [false, false, true, true]);
        budget.spent(1);
        assert_eq!(checks(&budget, 2), [false, true]);
    }

    #[test]
    fn a_minute_of_default_timings_stays_at_twelve_requests() {
        // 5 s checks, a status read of two requests every 60 s: the
        // HiLink stick's default idle minute.
        let budget = IdleBudget::default();
        let mut requests = 0;
        for turn in 0..12 * 10 {
            if turn % 12 == 0 {
                budget.spent(2);
                requests += 2;
            }
            if budget.check_now() {
                requests += 1;
            }
        }
        assert_eq!(requests, 12 * 10);
    }

    #[test]
    fn status_reads_more_frequent_than_checks_never_stop_them() {
        let budget = IdleBudget::default();
        let mut made = 0;
        for _ in 0..30 {
            budget.spent(3);
            if budget.check_now() {
                made += 1;
            }
        }
        assert_eq!(made, 10, "one check in MAX_GIVEN_WAY + 1");
    }
}
