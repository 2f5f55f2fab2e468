//! What can go wrong talking to a modem, classified so callers know whether
//! to retry, wait for the modem, or give up.

use super::channel::ChannelError;
use super::pin::SimProblem;
use crate::at::{ErrorClass, FinalResult, ParseError};
use std::path::PathBuf;

/// A modem operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ModemError {
    /// The serial port could not be opened.
    #[error("cannot open {}: {source}{}", path.display(), hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    Open {
        /// The path given.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
        /// What the user can do about it.
        hint: Option<String>,
    },
    /// Another simgate holds the modem.
    #[error("{what} is in use by {holder}; simgate runs one daemon per modem")]
    Held {
        /// What is held.
        what: String,
        /// Who holds it.
        holder: String,
    },
    /// No answer, or the port closed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The modem answered with an error.
    #[error("{command} failed: {result}")]
    Rejected {
        /// The command, PINs redacted.
        command: String,
        /// Its final result code.
        result: FinalResult,
    },
    /// The modem's answer could not be understood.
    #[error("unexpected answer to {command}: {error}")]
    Parse {
        /// The command, PINs redacted.
        command: String,
        /// What was wrong.
        error: ParseError,
    },
    /// The modem does not answer AT at all.
    #[error("the modem does not answer AT ({attempts} attempts)")]
    NoAnswer {
        /// How many times AT was tried.
        attempts: u32,
    },
    /// The SIM needs the user.
    #[error(transparent)]
    Sim(#[from] SimProblem),
    /// The PDU was written and the modem ended the command without a
    /// readable `+CMGS` line: it may have gone out.
    #[error("{command}: the modem took the PDU but its answer had no readable +CMGS reference ({lines} line(s))")]
    Unconfirmed {
        /// The command.
        command: String,
        /// How many information lines the answer had.
        lines: usize,
    },
    /// The modem refuses PDU mode, which simgate needs.
    #[error("the modem does not support PDU mode (AT+CMGF=0 failed: {0})")]
    NoPduMode(FinalResult),
}

/// How a failure should be treated by whoever retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Retrying the same thing will fail the same way.
    Permanent,
    /// Retrying later may work.
    Transient,
    /// The modem or SIM is not in a state to work; fix that first.
    ModemState,
    /// A message may have gone out without an answer saying so: never
    /// resend it blindly.
    Ambiguous,
    /// The device holds the message: it went out, or may still go out,
    /// and only this device can be asked again (it never sends one
    /// message twice: a phone that keeps its id, a ModemManager SMS
    /// object). Another modem must not send it.
    Held,
}

impl ModemError {
    /// The kind of failure, from the +CMS/+CME classification of the AT
    /// codec where the modem gave one.
    pub(crate) fn kind(&self) -> FailureKind {
        match self {
            Self::Channel(error) if error.is_ambiguous() => FailureKind::Ambiguous,
            Self::Channel(_) | Self::NoAnswer { .. } | Self::Open { .. } | Self::Held { .. } => {
                FailureKind::ModemState
            }
            Self::Rejected { result, .. } => match result.class() {
                Some(ErrorClass::Permanent) => FailureKind::Permanent,
                Some(ErrorClass::ModemState) => FailureKind::ModemState,
                // Plain ERROR and unknown codes: worth another try.
                Some(ErrorClass::Transient) | None => FailureKind::Transient,
            },
            Self::Parse { .. } => FailureKind::Transient,
            Self::Unconfirmed { .. } => FailureKind::Ambiguous,
            Self::Sim(_) | Self::NoPduMode(_) => FailureKind::ModemState,
        }
    }
}
