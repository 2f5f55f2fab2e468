//! `GET /health`'s verdict, pure: whether the gateway is live (its
//! database answers) and ready (it can send now), with the reasons it is
//! not, from what the handler read.
//!
//! With several modems the gateway can send while any of them can: one
//! modem away does not make it unready (issue 14 §3), and each modem is
//! listed with its state. Only when none can send are their reasons the
//! gateway's, each under the modem's name.

use crate::device::DeviceState;

/// What is known of one modem.
#[derive(Debug, Clone, Copy)]
pub(super) struct ModemReading<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its device's state.
    pub state: &'a DeviceState,
    /// Whether it is registered to a network, when known.
    pub registered: Option<bool>,
}

/// One modem in the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ModemVerdict {
    /// Its name.
    pub name: String,
    /// Why it cannot send now; `None` when it can.
    pub not_ready: Option<String>,
}

/// The answer to `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Verdict {
    /// The database answers.
    pub live: bool,
    /// Live, and a message could go out now.
    pub ready: bool,
    /// Why it is not ready (empty when it is).
    pub reasons: Vec<String>,
    /// Each modem, when there are several.
    pub modems: Option<Vec<ModemVerdict>>,
}

/// Why the device is not ready, in words; `None` when it is.
pub(super) fn not_ready(state: &DeviceState) -> Option<String> {
    match state {
        DeviceState::Ready(_) => None,
        DeviceState::Connecting {
            attempt,
            last_error,
        } => Some(match last_error {
            Some(error) => format!("the modem is not ready (attempt {attempt}: {error})"),
            None => "the modem is not ready yet (connecting)".to_owned(),
        }),
        DeviceState::Suspended => Some("the modem is suspended (SIGUSR1)".to_owned()),
        DeviceState::Stopped => Some("the modem is stopped".to_owned()),
    }
}

/// Why this modem cannot send now; `None` when it can.
fn modem_not_ready(modem: &ModemReading<'_>) -> Option<String> {
    not_ready(modem.state).or_else(|| {
        (modem.registered == Some(false))
            .then(|| "the modem is not registered to a network".to_owned())
    })
}

/// The verdict: `database` is the database's failure, if it does not
/// answer; `sending` whether sending is enabled; `modems` the first
/// modem first.
pub(super) fn verdict(
    database: Option<&str>,
    sending: bool,
    modems: &[ModemReading<'_>],
) -> Verdict {
    let mut reasons = Vec::new();
    if let Some(error) = database {
        reasons.push(format!("the database does not answer: {error}"));
    }
    let each: Vec<ModemVerdict> = modems
        .iter()
        .map(|modem| ModemVerdict {
            name: modem.name.to_owned(),
            not_ready: modem_not_ready(modem),
        })
        .collect();
    if !each.iter().any(|modem| modem.not_ready.is_none()) {
        let several = each.len() > 1;
        for modem in &each {
            if let Some(reason) = &modem.not_ready {
                reasons.push(if several {
                    format!("modem {}: {reason}", modem.name)
                } else {
                    reason.clone()
                });
            }
        }
    }
    if !sending {
        reasons.push("sending is disabled ([send] enabled = false)".to_owned());
    }
    Verdict {
        live: database.is_none(),
        ready: reasons.is_empty(),
        reasons,
        modems: (each.len() > 1).then_some(each),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connecting() -> DeviceState {
        DeviceState::Connecting {
            attempt: 2,
            last_error: Some("no such device".to_owned()),
        }
    }

    fn ready() -> DeviceState {
        DeviceState::Ready(Default::default())
    }

    fn reading<'a>(name: &'a str, state: &'a DeviceState) -> ModemReading<'a> {
        ModemReading {
            name,
            state,
            registered: None,
        }
    }

    #[test]
    fn one_modem_away_or_unregistered_is_not_ready_in_its_own_words() {
        let away = connecting();
        let verdict = verdict(None, true, &[reading("modem", &away)]);
        assert!(verdict.live && !verdict.ready);
        assert_eq!(
            verdict.reasons,
            ["the modem is not ready (attempt 2: no such device)"]
        );
        assert_eq!(verdict.modems, None);

        let up = ready();
        let mut unregistered = reading("modem", &up);
        unregistered.registered = Some(false);
        let verdict = super::verdict(None, true, &[unregistered]);
        assert_eq!(
            verdict.reasons,
            ["the modem is not registered to a network"]
        );
        let verdict = super::verdict(None, true, &[reading("modem", &up)]);
        assert!(verdict.ready && verdict.reasons.is_empty());
    }

    #[test]
    fn several_modems_are_ready_while_any_can_send() {
        let (away, up) = (connecting(), ready());
        let verdict = verdict(None, true, &[reading("a", &away), reading("b", &up)]);
        assert!(verdict.ready, "{verdict:?}");
        assert!(verdict.reasons.is_empty());
        let modems = verdict.modems.unwrap();
        assert_eq!(modems[0].name, "a");
        assert!(modems[0].not_ready.is_some());
        assert_eq!(modems[1].not_ready, None);

        let suspended = DeviceState::Suspended;
        let verdict = super::verdict(None, true, &[reading("a", &away), reading("b", &suspended)]);
        assert!(!verdict.ready);
        assert_eq!(
            verdict.reasons,
            [
                "modem a: the modem is not ready (attempt 2: no such device)",
                "modem b: the modem is suspended (SIGUSR1)"
            ]
        );
    }

    #[test]
    fn the_database_and_disabled_sending_are_never_outweighed() {
        let up = ready();
        let verdict = verdict(Some("locked"), false, &[reading("modem", &up)]);
        assert!(!verdict.live && !verdict.ready);
        assert_eq!(
            verdict.reasons,
            [
                "the database does not answer: locked",
                "sending is disabled ([send] enabled = false)"
            ]
        );
    }
}
