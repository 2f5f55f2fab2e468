//! What to do after a send attempt failed: retry later, give up, or record
//! an ambiguous send. Pure: the caller passes the failure kind, the attempts
//! so far, the message's age and the policy.

use crate::device::FailureKind;
use std::time::Duration;

/// Retry limits and spacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Attempts before giving up (gammu's MaxRetries, which 1.42 ignores).
    pub max_attempts: u32,
    /// Age after which a message is no longer retried.
    pub max_age: Duration,
    /// Delay after the first failure; doubles after each.
    pub initial_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            max_age: Duration::from_secs(24 * 3600),
            initial_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
        }
    }
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// Wait for the modem to come back, then try again without counting an
    /// attempt against the message (the modem, not the message, failed).
    WaitForDevice,
    /// As [`Decision::WaitForDevice`], but the device holds the message:
    /// it is tried again through that device only.
    WaitForHolder,
    /// Not counted against the message: this modem failed it, and another
    /// modem that could send it has not tried and failed it yet (see
    /// [`left_to_another`]). The message is due at once, for the others.
    TryElsewhere,
    /// Give up: move to error/ with this reason.
    Fail(String),
    /// A part may have gone out: record it as ambiguous (and move to error/
    /// unless the policy resends).
    Ambiguous(String),
}

impl RetryPolicy {
    /// Decides after a failure of `kind` with `reason`, when the message has
    /// had `attempts` attempts (this one included) and is `age` old;
    /// `elsewhere`: another modem could still send it ([`left_to_another`]),
    /// which spares it a transient failure.
    pub(crate) fn decide(
        &self,
        kind: FailureKind,
        reason: &str,
        attempts: u32,
        age: Duration,
        elsewhere: bool,
    ) -> Decision {
        match kind {
            FailureKind::Ambiguous => Decision::Ambiguous(reason.to_owned()),
            FailureKind::Permanent => Decision::Fail(format!("permanent error: {reason}")),
            FailureKind::ModemState => Decision::WaitForDevice,
            FailureKind::Held => Decision::WaitForHolder,
            FailureKind::Transient if elsewhere => Decision::TryElsewhere,
            FailureKind::Transient => match self.again_after(reason, attempts, age) {
                Ok(delay) => Decision::RetryAfter(delay),
                Err(reason) => Decision::Fail(reason),
            },
        }
    }

    /// Whether a message that had `attempts` attempts and is `age` old,
    /// the last failed with `reason`, is tried again: after which delay
    /// (doubling with each attempt up to the longest), or `Err` with why
    /// not (past `max_attempts` or `max_age`).
    pub(crate) fn again_after(
        &self,
        reason: &str,
        attempts: u32,
        age: Duration,
    ) -> Result<Duration, String> {
        if attempts >= self.max_attempts {
            return Err(format!("gave up after {attempts} attempts: {reason}"));
        }
        if age >= self.max_age {
            return Err(format!(
                "gave up after {} s in the queue: {reason}",
                age.as_secs()
            ));
        }
        let exponent = attempts.saturating_sub(1).min(20);
        Ok(self
            .initial_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay))
    }

    /// How long a modem of several waits after its `failures`-th transient
    /// send failure in a row: the first retry delay, doubling with each
    /// further failure up to the longest; a send that succeeds starts the
    /// count again. Meanwhile the other modems take the queue.
    pub(crate) fn modem_hold(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        self.initial_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay)
    }
}

/// Whether a transient failure of a message on modem `this` is left to
/// another modem instead of being counted against the message: the first
/// time `this` fails it, as long as one of `others` (the other modems that
/// could send it, by their routes and its binding) has not failed it yet.
/// `failed` lists the modems that failed it before. Every other failure
/// counts, as it does with one modem: a message goes to another modem at
/// once instead of using up an attempt, and only a second failure on the
/// same modem (the others away meanwhile), or a failure on each modem
/// that could send it, counts against `max_attempts`.
pub(crate) fn left_to_another(this: &str, failed: &[String], others: &[String]) -> bool {
    let tried = |modem: &str| failed.iter().any(|f| f == modem);
    !tried(this) && others.iter().any(|other| other != this && !tried(other))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_back_off_until_the_limits() {
        let policy = RetryPolicy {
            max_attempts: 4,
            ..RetryPolicy::default()
        };
        let young = Duration::from_secs(60);
        let delays: Vec<Decision> = (1..=3)
            .map(|n| policy.decide(FailureKind::Transient, "congestion", n, young, false))
            .collect();
        assert_eq!(
            delays,
            [30, 60, 120].map(|s| Decision::RetryAfter(Duration::from_secs(s)))
        );
        assert_eq!(
            policy.decide(FailureKind::Transient, "congestion", 4, young, false),
            Decision::Fail("gave up after 4 attempts: congestion".to_owned())
        );
        let old = Duration::from_secs(25 * 3600);
        assert!(matches!(
            policy.decide(FailureKind::Transient, "x", 1, old, false),
            Decision::Fail(_)
        ));
        let capped = RetryPolicy::default().decide(FailureKind::Transient, "x", 9, young, false);
        assert_eq!(capped, Decision::RetryAfter(Duration::from_secs(3600)));
    }

    #[test]
    fn other_kinds() {
        let policy = RetryPolicy::default();
        let age = Duration::ZERO;
        assert!(
            matches!(policy.decide(FailureKind::Permanent, "unassigned number", 1, age, true), Decision::Fail(r) if r.contains("unassigned"))
        );
        assert_eq!(
            policy.decide(FailureKind::ModemState, "SIM busy", 1, age, true),
            Decision::WaitForDevice
        );
        assert_eq!(
            policy.decide(FailureKind::Held, "the phone cannot be asked", 1, age, true),
            Decision::WaitForHolder
        );
        assert!(matches!(
            policy.decide(FailureKind::Ambiguous, "timeout after PDU", 1, age, true),
            Decision::Ambiguous(_)
        ));
    }

    #[test]
    fn a_transient_failure_another_modem_could_take_is_not_counted() {
        let policy = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        };
        let age = Duration::ZERO;
        assert_eq!(
            policy.decide(FailureKind::Transient, "HTTP 500", 1, age, true),
            Decision::TryElsewhere
        );
        // Past max_attempts it would have failed: that is what is spared.
        assert!(matches!(
            policy.decide(FailureKind::Transient, "HTTP 500", 1, age, false),
            Decision::Fail(_)
        ));
        // An ambiguous send stays with its own rules.
        assert!(matches!(
            policy.decide(FailureKind::Ambiguous, "no answer", 1, age, true),
            Decision::Ambiguous(_)
        ));
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_failure_is_left_to_another_modem_once_per_modem() {
        let others = names(&["b", "c"]);
        // The first failure, with others untried: theirs.
        assert!(left_to_another("a", &[], &others));
        // `b` failed it too, `c` has not: still spared.
        assert!(left_to_another("b", &names(&["a"]), &names(&["a", "c"])));
        // Every other modem failed it: counted.
        assert!(!left_to_another(
            "c",
            &names(&["a", "b"]),
            &names(&["a", "b"])
        ));
        // The same modem again (the others away or busy): counted.
        assert!(!left_to_another("a", &names(&["a"]), &others));
        // No other modem could take it (one modem, a prefix, a binding).
        assert!(!left_to_another("a", &[], &[]));
        assert!(!left_to_another("a", &[], &names(&["a"])));
    }

    #[test]
    fn a_failing_modem_waits_longer_each_time_up_to_the_longest() {
        let policy = RetryPolicy {
            initial_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(100),
            ..RetryPolicy::default()
        };
        let holds: Vec<u64> = (1..=4).map(|n| policy.modem_hold(n).as_secs()).collect();
        assert_eq!(holds, [30, 60, 100, 100]);
        assert_eq!(policy.modem_hold(u32::MAX), Duration::from_secs(100));
    }
}
