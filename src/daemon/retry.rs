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
    /// Give up: move to error/ with this reason.
    Fail(String),
    /// A part may have gone out: record it as ambiguous (and move to error/
    /// unless the policy resends).
    Ambiguous(String),
}

impl RetryPolicy {
    /// Decides after a failure of `kind` with `reason`, when the message has
    /// had `attempts` attempts (this one included) and is `age` old.
    pub(crate) fn decide(
        &self,
        kind: FailureKind,
        reason: &str,
        attempts: u32,
        age: Duration,
    ) -> Decision {
        match kind {
            FailureKind::Ambiguous => Decision::Ambiguous(reason.to_owned()),
            FailureKind::Permanent => Decision::Fail(format!("permanent error: {reason}")),
            FailureKind::ModemState => Decision::WaitForDevice,
            FailureKind::Held => Decision::WaitForHolder,
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
            .map(|n| policy.decide(FailureKind::Transient, "congestion", n, young))
            .collect();
        assert_eq!(
            delays,
            [30, 60, 120].map(|s| Decision::RetryAfter(Duration::from_secs(s)))
        );
        assert_eq!(
            policy.decide(FailureKind::Transient, "congestion", 4, young),
            Decision::Fail("gave up after 4 attempts: congestion".to_owned())
        );
        let old = Duration::from_secs(25 * 3600);
        assert!(matches!(
            policy.decide(FailureKind::Transient, "x", 1, old),
            Decision::Fail(_)
        ));
        let capped = RetryPolicy::default().decide(FailureKind::Transient, "x", 9, young);
        assert_eq!(capped, Decision::RetryAfter(Duration::from_secs(3600)));
    }

    #[test]
    fn other_kinds() {
        let policy = RetryPolicy::default();
        let age = Duration::ZERO;
        assert!(
            matches!(policy.decide(FailureKind::Permanent, "unassigned number", 1, age), Decision::Fail(r) if r.contains("unassigned"))
        );
        assert_eq!(
            policy.decide(FailureKind::ModemState, "SIM busy", 1, age),
            Decision::WaitForDevice
        );
        assert_eq!(
            policy.decide(FailureKind::Held, "the phone cannot be asked", 1, age),
            Decision::WaitForHolder
        );
        assert!(matches!(
            policy.decide(FailureKind::Ambiguous, "timeout after PDU", 1, age),
            Decision::Ambiguous(_)
        ));
    }
}
