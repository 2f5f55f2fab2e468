//! Fault injection: the [`Fault`]s a test can switch on, how often they
//! fire ([`Times`]), and the bookkeeping that matches armed faults against
//! command lines and sent PDUs.

use std::time::Duration;

/// How many times a fault fires before it disarms itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Times {
    /// Once.
    Once,
    /// `n` times.
    N(u32),
    /// Until `clear_faults`.
    Always,
}

impl Times {
    /// Counts one firing; returns false when no firing was left.
    fn fire(&mut self) -> bool {
        match self {
            Times::Always => true,
            Times::Once => {
                *self = Times::N(0);
                true
            }
            Times::N(0) => false,
            Times::N(n) => {
                *n -= 1;
                true
            }
        }
    }

    fn exhausted(self) -> bool {
        self == Times::N(0)
    }
}

/// A misbehaviour to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// `AT+CMGS` answers `+CMS ERROR: <code>` after the PDU instead of
    /// sending; with `destination`, only for PDUs to that number (compared
    /// as digits with a leading `+` for international numbers, so
    /// `"+49 171 1234"` matches TP-DA `+491711234`).
    CmsError {
        /// The CMS error code.
        code: u16,
        /// How often.
        times: Times,
        /// Only PDUs to this number, if set.
        destination: Option<String>,
    },
    /// `AT+CMGS` answers `+CMS ERROR: <code>` after the PDU instead of
    /// sending, for the parts numbered `part` of concatenated messages
    /// only (the first part goes out, the second fails, say).
    CmsErrorOnPart {
        /// The part's sequence number in its concatenation header (1-based).
        part: u8,
        /// The CMS error code.
        code: u16,
        /// How often.
        times: Times,
    },
    /// Commands starting with `command_prefix` (case-insensitive) answer
    /// `+CME ERROR: <code>` (formatted per `AT+CMEE`) without effect.
    CmeError {
        /// E.g. `"AT+CPMS"`.
        command_prefix: String,
        /// The CME error code.
        code: u16,
        /// How often.
        times: Times,
    },
    /// Commands starting with `command_prefix` are echoed but swallowed:
    /// no effect, no answer. Only those lines hang: the next command is
    /// answered normally (a host re-syncs by sending `AT` again).
    NoAnswer {
        /// E.g. `"AT+CMGS"`.
        command_prefix: String,
        /// How often.
        times: Times,
    },
    /// `AT+CMGS` prompts, takes the PDU, records the message as sent (with
    /// a TP-MR), then answers nothing: the ambiguous send.
    HangAfterPdu {
        /// How often.
        times: Times,
    },
    /// `AT+CMGS` takes the PDU, records the message as sent (with a TP-MR)
    /// and answers a bare `OK` without the `+CMGS: <mr>` line: a modem
    /// whose answer simgate cannot read.
    CmgsOkOnly {
        /// How often.
        times: Times,
    },
    /// `AT+CMGS` takes the PDU, records the message as sent, and writes
    /// this line (an unsolicited code, say) before its usual answer.
    LineBeforeCmgsAnswer {
        /// The line, without CR LF.
        line: String,
        /// How often.
        times: Times,
    },
    /// These bytes are written to the host once, now.
    Garbage(Vec<u8>),
    /// The profile's noise lines at this interval (until `clear_faults`).
    Noise {
        /// Time between two noise lines.
        interval: Duration,
    },
    /// The SIM locks and asks for its PIN again (as after a modem reset).
    SimPinRequired,
    /// Every storage reports full: incoming messages are rejected and
    /// `AT+CMGW` answers `+CMS ERROR: 322` (until `clear_faults`).
    StorageFull,
}

/// What an armed fault makes of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LineFault {
    Cme(u16),
    NoAnswer,
}

/// The armed counting faults.
#[derive(Debug, Default, Clone)]
pub(super) struct Faults {
    cms: Vec<(u16, Times, Option<String>)>,
    cms_on_part: Vec<(u8, u16, Times)>,
    cme: Vec<(String, u16, Times)>,
    no_answer: Vec<(String, Times)>,
    hang_after_pdu: Option<Times>,
    ok_only: Option<Times>,
    line_first: Vec<(String, Times)>,
}

/// How `AT+CMGS` answers once it sent the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CmgsAnswer {
    /// `+CMGS: <mr>` and `OK`.
    Normal,
    /// `OK` alone.
    OkOnly,
    /// This line first, then the usual answer.
    LineFirst(String),
}

/// Digits of a number with a leading `+` kept, separators dropped.
pub(super) fn normalise_number(number: &str) -> String {
    let trimmed = number.trim();
    let mut out = String::new();
    if trimmed.starts_with('+') {
        out.push('+');
    }
    out.extend(
        trimmed
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '*' || *c == '#'),
    );
    out
}

fn starts_with_ci(line: &str, prefix: &str) -> bool {
    line.trim_start()
        .get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

impl Faults {
    /// Arms a counting fault; returns the fault back when it is not one
    /// (garbage, noise, SIM lock and storage full act elsewhere).
    pub(super) fn arm(&mut self, fault: Fault) -> Option<Fault> {
        match fault {
            Fault::CmsError {
                code,
                times,
                destination,
            } => self
                .cms
                .push((code, times, destination.map(|d| normalise_number(&d)))),
            Fault::CmsErrorOnPart { part, code, times } => {
                self.cms_on_part.push((part, code, times))
            }
            Fault::CmeError {
                command_prefix,
                code,
                times,
            } => self.cme.push((command_prefix, code, times)),
            Fault::NoAnswer {
                command_prefix,
                times,
            } => self.no_answer.push((command_prefix, times)),
            Fault::HangAfterPdu { times } => self.hang_after_pdu = Some(times),
            Fault::CmgsOkOnly { times } => self.ok_only = Some(times),
            Fault::LineBeforeCmgsAnswer { line, times } => self.line_first.push((line, times)),
            other => return Some(other),
        }
        None
    }

    /// The fault (if any) that fires for this command line.
    pub(super) fn on_line(&mut self, line: &str) -> Option<LineFault> {
        for (prefix, times) in &mut self.no_answer {
            if starts_with_ci(line, prefix) && times.fire() {
                self.no_answer.retain(|(_, t)| !t.exhausted());
                return Some(LineFault::NoAnswer);
            }
        }
        for (prefix, code, times) in &mut self.cme {
            if starts_with_ci(line, prefix) && times.fire() {
                let code = *code;
                self.cme.retain(|(_, _, t)| !t.exhausted());
                return Some(LineFault::Cme(code));
            }
        }
        None
    }

    /// The CMS error (if any) for a PDU to `destination` (normalised)
    /// that is part `part` of a concatenated message (`None`: a message
    /// of one part).
    pub(super) fn on_send(&mut self, destination: &str, part: Option<u8>) -> Option<u16> {
        for (only, code, times) in &mut self.cms_on_part {
            if part == Some(*only) && times.fire() {
                let code = *code;
                self.cms_on_part.retain(|(_, _, t)| !t.exhausted());
                return Some(code);
            }
        }
        for (code, times, only) in &mut self.cms {
            if only.as_deref().is_none_or(|d| d == destination) && times.fire() {
                let code = *code;
                self.cms.retain(|(_, t, _)| !t.exhausted());
                return Some(code);
            }
        }
        None
    }

    /// How `AT+CMGS` answers this time.
    pub(super) fn cmgs_answer(&mut self) -> CmgsAnswer {
        if self.ok_only.as_mut().is_some_and(Times::fire) {
            if self.ok_only.is_some_and(Times::exhausted) {
                self.ok_only = None;
            }
            return CmgsAnswer::OkOnly;
        }
        for (line, times) in &mut self.line_first {
            if times.fire() {
                let line = line.clone();
                self.line_first.retain(|(_, t)| !t.exhausted());
                return CmgsAnswer::LineFirst(line);
            }
        }
        CmgsAnswer::Normal
    }

    /// True when the answer after this PDU is to be swallowed.
    pub(super) fn hang_after_pdu(&mut self) -> bool {
        let fired = self.hang_after_pdu.as_mut().is_some_and(Times::fire);
        if self.hang_after_pdu.is_some_and(Times::exhausted) {
            self.hang_after_pdu = None;
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_count_down() {
        let mut f = Faults::default();
        f.arm(Fault::NoAnswer {
            command_prefix: "AT+CSQ".into(),
            times: Times::N(2),
        });
        assert_eq!(f.on_line("at+csq"), Some(LineFault::NoAnswer));
        assert_eq!(f.on_line("AT+CSQ"), Some(LineFault::NoAnswer));
        assert_eq!(f.on_line("AT+CSQ"), None);
        f.arm(Fault::CmsError {
            code: 500,
            times: Times::Once,
            destination: Some("+49 (171) 12-34".into()),
        });
        assert_eq!(f.on_send("+491711235", None), None);
        assert_eq!(f.on_send("+491711234", None), Some(500));
        assert_eq!(f.on_send("+491711234", None), None);
        f.arm(Fault::CmsErrorOnPart {
            part: 2,
            code: 42,
            times: Times::N(2),
        });
        assert_eq!(f.on_send("+491711234", None), None);
        assert_eq!(f.on_send("+491711234", Some(1)), None);
        assert_eq!(f.on_send("+491711234", Some(2)), Some(42));
        assert_eq!(f.on_send("+491711234", Some(2)), Some(42));
        assert_eq!(f.on_send("+491711234", Some(2)), None);
        f.arm(Fault::HangAfterPdu {
            times: Times::Always,
        });
        assert!(f.hang_after_pdu() && f.hang_after_pdu());
        assert_eq!(normalise_number(" +49-171 "), "+49171");
    }
}
