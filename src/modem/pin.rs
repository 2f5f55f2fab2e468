//! The PIN guard: whether simgate may enter the configured PIN, as a pure
//! decision over what the SIM reports and what happened to this PIN on this
//! SIM before.
//!
//! A SIM allows three PIN attempts, then wants the PUK; ten wrong PUKs
//! destroy it. So simgate enters the PIN only when the SIM asks for it and
//! it was never rejected on that SIM, and then:
//!
//! - when the modem tells the attempts left: only while at least 2 remain;
//! - when it cannot tell (plain 27.007, no vendor command): once per SIM
//!   (its ICCID) and PIN, recorded before it is entered, and again only
//!   once the SIM has accepted it (a PIN proven right costs nothing).
//!
//! What happened is remembered by a [`PinMemory`] (the daemon's database,
//! so a reload or a restart never costs an attempt); only a hash of the
//! SIM and the PIN is kept, and a changed PIN starts afresh.

use crate::at::{PinRetries, PinStatus};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// What became of the configured PIN on one SIM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinOutcome {
    /// simgate was entering it when it stopped: the outcome is unknown.
    Entering,
    /// The SIM accepted it.
    Accepted,
    /// The SIM rejected it: never enter it again.
    Rejected,
}

/// Where PIN outcomes are remembered, by SIM and PIN hash (`pin_hash`).
pub trait PinMemory: Send + Sync + fmt::Debug {
    /// What happened to this PIN on this SIM, if anything.
    fn recall(&self, sim: &str, pin_hash: &str) -> Option<PinOutcome>;
    /// Remembers (durably, where the memory can) what happened.
    fn record(&self, sim: &str, pin_hash: &str, outcome: PinOutcome);
}

/// A [`PinMemory`] that lasts as long as the process (probes, tests).
#[derive(Debug, Default)]
pub struct MemoryPins(Mutex<HashMap<(String, String), PinOutcome>>);

impl PinMemory for MemoryPins {
    fn recall(&self, sim: &str, pin_hash: &str) -> Option<PinOutcome> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(sim.to_owned(), pin_hash.to_owned())).copied()
    }

    fn record(&self, sim: &str, pin_hash: &str, outcome: PinOutcome) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert((sim.to_owned(), pin_hash.to_owned()), outcome);
    }
}

/// What identifies the configured PIN on `sim` without keeping it: the hex
/// of the first 16 octets of SHA-256 over the SIM and the PIN.
pub(crate) fn pin_hash(sim: &str, pin: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(sim.as_bytes());
    hasher.update([0]);
    hasher.update(pin.as_bytes());
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the driver should do about the SIM lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PinDecision {
    /// The SIM is unlocked.
    Ready,
    /// Enter the configured PIN (once).
    EnterPin,
    /// Do nothing automatically; the user must act.
    Stop(SimProblem),
}

/// A SIM state simgate will not resolve on its own, with the advice it gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SimProblem {
    /// The SIM wants a PIN and none is configured.
    #[error("the SIM asks for its PIN ({}) and none is configured: set `pin` in the configuration, or remove the PIN lock with a phone", attempts(*.0))]
    PinNotConfigured(Option<u8>),
    /// The configured PIN was rejected once; trying again could lock the SIM.
    #[error("the SIM rejected the configured PIN ({}); simgate will not try it again: correct `pin` in the configuration and restart", attempts(*.0))]
    PinRejected(Option<u8>),
    /// Fewer than 2 attempts remain.
    #[error("the SIM asks for its PIN with only {0} attempt(s) left; simgate does not risk the last one: unlock it by hand (AT+CPIN) once you are sure of the PIN")]
    TooFewAttempts(u8),
    /// The remaining attempts cannot be read and the PIN was entered on
    /// this SIM before without the SIM saying it was right.
    #[error("the SIM asks for its PIN, the modem does not say how many attempts remain, and simgate entered this PIN on this SIM once already without learning that it was right; it does not risk a lock: unlock the SIM by hand (AT+CPIN) or with a phone, or correct `pin`")]
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
/// modem reports them), whether a PIN is configured, and what happened to
/// that PIN on this SIM before.
pub(crate) fn decide(
    status: &PinStatus,
    retries: Option<PinRetries>,
    pin_configured: bool,
    before: Option<PinOutcome>,
) -> PinDecision {
    let pin_left = retries.and_then(|r| r.pin);
    match status {
        PinStatus::Ready => PinDecision::Ready,
        PinStatus::SimPin if !pin_configured => {
            PinDecision::Stop(SimProblem::PinNotConfigured(pin_left))
        }
        PinStatus::SimPin if before == Some(PinOutcome::Rejected) => {
            PinDecision::Stop(SimProblem::PinRejected(pin_left))
        }
        PinStatus::SimPin => match (pin_left, before) {
            (Some(left), _) if left < 2 => PinDecision::Stop(SimProblem::TooFewAttempts(left)),
            (Some(_), _) | (None, None | Some(PinOutcome::Accepted)) => PinDecision::EnterPin,
            (None, _) => PinDecision::Stop(SimProblem::AttemptsUnknown),
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
            decide(&PinStatus::Ready, None, false, None),
            PinDecision::Ready
        );
        assert_eq!(
            decide(&PinStatus::SimPin, retries(3), true, None),
            PinDecision::EnterPin
        );
        assert_eq!(
            decide(&PinStatus::SimPin, retries(2), true, None),
            PinDecision::EnterPin
        );
        assert_eq!(
            decide(&PinStatus::SimPin, retries(1), true, None),
            PinDecision::Stop(SimProblem::TooFewAttempts(1))
        );
        // A modem that cannot tell the attempts left: the PIN goes in once
        // per SIM and PIN, and again only once the SIM accepted it.
        assert_eq!(
            decide(&PinStatus::SimPin, None, true, None),
            PinDecision::EnterPin
        );
        assert_eq!(
            decide(&PinStatus::SimPin, None, true, Some(PinOutcome::Entering)),
            PinDecision::Stop(SimProblem::AttemptsUnknown)
        );
        assert_eq!(
            decide(&PinStatus::SimPin, None, true, Some(PinOutcome::Accepted)),
            PinDecision::EnterPin
        );
        // With the attempts known, an earlier unknown outcome is no risk.
        assert_eq!(
            decide(
                &PinStatus::SimPin,
                retries(3),
                true,
                Some(PinOutcome::Entering)
            ),
            PinDecision::EnterPin
        );
    }

    #[test]
    fn pins_are_remembered_by_hash_per_sim() {
        let a = pin_hash("8949000000000000001", "1234");
        assert_eq!(a.len(), 32);
        assert_ne!(a, pin_hash("8949000000000000002", "1234"));
        assert_ne!(a, pin_hash("8949000000000000001", "4321"));
        assert!(!a.contains("1234"));
        let memory = MemoryPins::default();
        memory.record("sim", &a, PinOutcome::Rejected);
        assert_eq!(memory.recall("sim", &a), Some(PinOutcome::Rejected));
        assert_eq!(memory.recall("other", &a), None);
    }

    #[test]
    fn never_retries_a_rejected_pin() {
        assert_eq!(
            decide(
                &PinStatus::SimPin,
                retries(2),
                true,
                Some(PinOutcome::Rejected)
            ),
            PinDecision::Stop(SimProblem::PinRejected(Some(2)))
        );
    }

    #[test]
    fn explains_the_other_states() {
        assert_eq!(
            decide(&PinStatus::SimPin, retries(3), false, None),
            PinDecision::Stop(SimProblem::PinNotConfigured(Some(3)))
        );
        let puk = decide(&PinStatus::SimPuk, retries(0), true, None);
        assert_eq!(puk, PinDecision::Stop(SimProblem::PukRequired(Some(10))));
        let PinDecision::Stop(problem) = puk else {
            unreachable!()
        };
        assert!(problem
            .to_string()
            .contains("needs its PUK (10 attempt(s) left)"));
        assert_eq!(
            decide(&PinStatus::NotInserted, None, true, None),
            PinDecision::Stop(SimProblem::NotInserted)
        );
    }
}
