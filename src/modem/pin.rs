//! The PIN guard: whether simgate may enter the configured PIN, as a pure
//! decision over what the SIM reports.
//!
//! A SIM allows three PIN attempts, then wants the PUK; ten wrong PUKs
//! destroy it. So simgate enters the PIN only when the SIM asks for it, the
//! remaining attempts are known and at least 2, and no PIN has been
//! rejected before; otherwise it stops and says what the user should do.

use crate::at::{PinRetries, PinStatus};
use std::fmt;

/// What the driver should do about the SIM lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinDecision {
    /// The SIM is unlocked.
    Ready,
    /// Enter the configured PIN (once).
    EnterPin,
    /// Do nothing automatically; the user must act.
    Stop(SimProblem),
}

/// A SIM state simgate will not resolve on its own, with the advice it gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimProblem {
    /// The SIM wants a PIN and none is configured.
    #[error("the SIM asks for its PIN ({}) and none is configured: set `pin` in the configuration, or remove the PIN lock with a phone", attempts(*.0))]
    PinNotConfigured(Option<u8>),
    /// The configured PIN was rejected once; trying again could lock the SIM.
    #[error("the SIM rejected the configured PIN ({}); simgate will not try it again: correct `pin` in the configuration and restart", attempts(*.0))]
    PinRejected(Option<u8>),
    /// Fewer than 2 attempts remain.
    #[error("the SIM asks for its PIN with only {0} attempt(s) left; simgate does not risk the last one: unlock it by hand (AT+CPIN) once you are sure of the PIN")]
    TooFewAttempts(u8),
    /// The remaining attempts cannot be read, so entering a PIN is a gamble.
    #[error("the SIM asks for its PIN but the modem does not say how many attempts remain; simgate does not risk a lock: unlock it by hand (AT+CPIN) or with a phone")]
    AttemptsUnknown,
    /// Three wrong PINs were entered: only the PUK helps now.
    #[error("the SIM is blocked and needs its PUK ({}): unblock it in a phone with the PUK from the SIM's card", attempts(*.0))]
    PukRequired(Option<u8>),
    /// No SIM in the modem.
    #[error(
        "no SIM card is inserted (or the modem cannot read it): check the SIM and its orientation"
    )]
    NotInserted,
    /// Another lock (phone-to-SIM, network personalisation, PIN2...).
    #[error("the SIM or modem is locked ({0}); simgate cannot unlock this: use the operator's or vendor's tools")]
    OtherLock(String),
}

fn attempts(left: Option<u8>) -> AttemptsText {
    AttemptsText(left)
}

struct AttemptsText(Option<u8>);

impl fmt::Display for AttemptsText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n} attempt(s) left"),
            None => f.write_str("attempts left unknown"),
        }
    }
}

/// Decides what to do, given the SIM state, its remaining attempts (when the
/// modem reports them), whether a PIN is configured, and whether a PIN has
/// already been rejected since simgate started.
pub fn decide(
    status: &PinStatus,
    retries: Option<PinRetries>,
    pin_configured: bool,
    rejected_before: bool,
) -> PinDecision {
    let pin_left = retries.and_then(|r| r.pin);
    match status {
        PinStatus::Ready => PinDecision::Ready,
        PinStatus::SimPin if rejected_before => {
            PinDecision::Stop(SimProblem::PinRejected(pin_left))
        }
        PinStatus::SimPin if !pin_configured => {
            PinDecision::Stop(SimProblem::PinNotConfigured(pin_left))
        }
        PinStatus::SimPin => match pin_left {
            None => PinDecision::Stop(SimProblem::AttemptsUnknown),
            Some(left) if left < 2 => PinDecision::Stop(SimProblem::TooFewAttempts(left)),
            Some(_) => PinDecision::EnterPin,
        },
        PinStatus::SimPuk => {
            PinDecision::Stop(SimProblem::PukRequired(retries.and_then(|r| r.puk)))
        }
        PinStatus::NotInserted => PinDecision::Stop(SimProblem::NotInserted),
        other => PinDecision::Stop(SimProblem::OtherLock(format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retries(pin: u8) -> Option<PinRetries> {
        Some(PinRetries {
            pin: Some(pin),
            puk: Some(10),
            ..PinRetries::default()
        })
    }

    #[test]
    fn enters_the_pin_only_when_safe() {
        assert_eq!(
            decide(&PinStatus::Ready, None, false, false),
            PinDecision::Ready
        );
        assert_eq!(
            decide(&PinStatus::SimPin, retries(3), true, false),
            PinDecision::EnterPin
        );
        assert_eq!(
            decide(&PinStatus::SimPin, retries(2), true, false),
            PinDecision::EnterPin
        );
        assert_eq!(
            decide(&PinStatus::SimPin, retries(1), true, false),
            PinDecision::Stop(SimProblem::TooFewAttempts(1))
        );
        assert_eq!(
            decide(&PinStatus::SimPin, None, true, false),
            PinDecision::Stop(SimProblem::AttemptsUnknown)
        );
    }

    #[test]
    fn never_retries_a_rejected_pin() {
        assert_eq!(
            decide(&PinStatus::SimPin, retries(2), true, true),
            PinDecision::Stop(SimProblem::PinRejected(Some(2)))
        );
    }

    #[test]
    fn explains_the_other_states() {
        assert_eq!(
            decide(&PinStatus::SimPin, retries(3), false, false),
            PinDecision::Stop(SimProblem::PinNotConfigured(Some(3)))
        );
        let puk = decide(&PinStatus::SimPuk, retries(0), true, false);
        assert_eq!(puk, PinDecision::Stop(SimProblem::PukRequired(Some(10))));
        let PinDecision::Stop(problem) = puk else {
            unreachable!()
        };
        assert!(problem
            .to_string()
            .contains("needs its PUK (10 attempt(s) left)"));
        assert_eq!(
            decide(&PinStatus::NotInserted, None, true, false),
            PinDecision::Stop(SimProblem::NotInserted)
        );
    }
}
