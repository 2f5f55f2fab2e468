//! `simgate modem probe --device http://192.168.0.1 --transport zte`: what
//! a ZTE stick is (hardware, firmware, IMEI), where its SIM, signal,
//! operator and message storage stand, whether it wants a login, and what
//! is wrong, in plain words. Collecting talks to the stick; the report and
//! its hints are pure.

use super::api;
use super::client::{Client, ZteError};
use std::fmt;
use std::time::Duration;

/// What the probe learnt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZteReport {
    /// The address asked.
    pub url: String,
    /// Why it could not be reached at all.
    pub unreachable: Option<String>,
    /// Hardware, firmware, IMEI.
    pub identity: Option<api::Identity>,
    /// The login failed: why (`None`: fine or not needed).
    pub login_problem: Option<String>,
    /// SIM, network, signal.
    pub status: Option<api::Status>,
    /// Message storage.
    pub capacity: Option<api::Capacity>,
    /// What failed on the way.
    pub failures: Vec<String>,
}

/// Probes the stick at `url`, logging in with `password` if it asks; its
/// keys are written in `section`.
pub async fn probe(
    url: &str,
    password: Option<String>,
    section: &crate::config::ModemSection,
) -> ZteReport {
    let client =
        Client::new(url, password, Duration::from_secs(10)).for_section(section.to_string());
    let mut report = ZteReport {
        url: url.to_owned(),
        ..ZteReport::default()
    };
    // The storage figures need a login where the stick has one: asked
    // first, so a login problem is found before anything else.
    match client
        .read(&api::get_query(&["sms_capacity_info"], &[]), api::capacity)
        .await
    {
        Ok(capacity) => report.capacity = Some(capacity),
        Err(ZteError::Unreachable { reason, .. }) => {
            report.unreachable = Some(reason);
            return report;
        }
        Err(
            error @ (ZteError::LoginRequired { .. }
            | ZteError::BadPassword { .. }
            | ZteError::LockedOut(_)
            | ZteError::OtherUser),
        ) => {
            report.login_problem = Some(error.to_string());
            return report;
        }
        Err(error) => report.failures.push(error.to_string()),
    }
    match client
        .read_raw(&api::get_query(&api::IDENTITY_FIELDS, &[]))
        .await
    {
        Ok(answer) => report.identity = Some(api::identity(&answer)),
        Err(error) => report.failures.push(error.to_string()),
    }
    match client
        .read_raw(&api::get_query(&api::STATUS_FIELDS, &[]))
        .await
    {
        Ok(answer) => report.status = Some(api::status(&answer)),
        Err(error) => report.failures.push(error.to_string()),
    }
    report
}

impl ZteReport {
    /// What is wrong, in plain words (empty when nothing is).
    pub fn hints(&self) -> Vec<String> {
        let mut hints = Vec::new();
        if let Some(reason) = &self.unreachable {
            hints.push(format!(
                "Nothing answers at {} ({reason}). Is the stick plugged in and in its router \
                 mode (it then shows up as a network card)? Is this computer on the stick's \
                 network (an address such as 192.168.0.100 from its DHCP)?",
                self.url
            ));
            return hints;
        }
        if let Some(problem) = &self.login_problem {
            hints.push(format!(
                "Login: {problem}. simgate never tries a refused password twice, so that the \
                 stick does not lock logins."
            ));
            return hints;
        }
        if let Some(status) = &self.status {
            match status.sim() {
                api::SimState::Missing => {
                    hints.push("No SIM card: insert one (power the stick off first).".to_owned())
                }
                api::SimState::Pin => hints.push(
                    "The SIM asks for its PIN: enter it in the stick's web page (or turn the \
                     PIN off there); simgate does not enter PINs on a web stick."
                        .to_owned(),
                ),
                api::SimState::Puk => hints.push(
                    "The SIM is blocked and asks for its PUK: unblock it in a phone or the \
                     stick's web page."
                        .to_owned(),
                ),
                _ => {}
            }
            if status.registered == Some(false) {
                hints.push(
                    "The stick has no network service: check coverage and that the SIM is active."
                        .to_owned(),
                );
            }
        }
        if let Some(capacity) = self.capacity {
            if capacity.total > 0 && capacity.used() * 10 >= capacity.total * 8 {
                hints.push(format!(
                    "The message storage is nearly full ({} of {}): when it is full the stick \
                     refuses new messages; simgate clears it once it runs.",
                    capacity.used(),
                    capacity.total
                ));
            }
        }
        hints
    }
}

impl fmt::Display for ZteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "stick: {} (ZTE goform web interface)", self.url)?;
        writeln!(
            f,
            "answers: {}",
            if self.unreachable.is_some() {
                "no"
            } else {
                "yes"
            }
        )?;
        if let Some(identity) = &self.identity {
            writeln!(f, "model: ZTE {}", identity.hardware)?;
            writeln!(f, "firmware: {}", identity.firmware)?;
            writeln!(f, "imei: {}", identity.imei.as_deref().unwrap_or("unknown"))?;
        }
        if self.unreachable.is_none() {
            let login = match &self.login_problem {
                None => "not needed, or accepted",
                Some(_) => "failed",
            };
            writeln!(f, "login: {login}")?;
        }
        if let Some(status) = &self.status {
            let sim = match status.sim() {
                api::SimState::Ready => "ready",
                api::SimState::Missing => "no SIM",
                api::SimState::Pin => "PIN required",
                api::SimState::Puk => "PUK required",
                api::SimState::Other => "unknown state",
            };
            writeln!(f, "sim: {sim} ({})", status.modem_state)?;
            let service = match status.registered {
                Some(true) => "in service",
                Some(false) => "no service",
                None => "unknown",
            };
            writeln!(f, "network: {service}")?;
            if let Some(operator) = &status.operator {
                writeln!(f, "operator: {operator}")?;
            }
            let mut figures = Vec::new();
            if let Some(rssi) = status.signal.rssi {
                figures.push(format!("RSSI {rssi} dBm"));
            }
            if let Some(rsrp) = status.signal.rsrp {
                figures.push(format!("RSRP {rsrp} dBm"));
            }
            if let Some(bars) = status.bars {
                figures.push(format!("{bars} of 5 bars"));
            }
            let percent = status
                .signal
                .percent()
                .map_or(String::new(), |p| format!(" ({p} %)"));
            writeln!(f, "signal: {}{percent}", figures.join(", "))?;
        }
        if let Some(capacity) = self.capacity {
            writeln!(
                f,
                "storage: {} of {} used ({} received, {} sent copies)",
                capacity.used(),
                capacity.total,
                capacity.received,
                capacity.sent
            )?;
        }
        for failure in &self.failures {
            writeln!(f, "failed: {failure}")?;
        }
        let hints = self.hints();
        if hints.is_empty() {
            writeln!(f, "verdict: ready for simgate (transport = \"zte\")")?;
        } else {
            for hint in hints {
                writeln!(f, "problem: {hint}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_named_in_plain_words() {
        let away = ZteReport {
            url: "http://192.168.0.1".to_owned(),
            unreachable: Some("Connection refused".to_owned()),
            ..ZteReport::default()
        };
        assert!(away.to_string().contains("answers: no"));
        assert!(away.hints()[0].contains("router mode"));
        let troubled = ZteReport {
            status: Some(api::Status {
                modem_state: "modem_waitpin".to_owned(),
                registered: Some(false),
                ..api::Status::default()
            }),
            capacity: Some(api::Capacity {
                total: 100,
                received: 85,
                ..api::Capacity::default()
            }),
            ..ZteReport::default()
        };
        let hints = troubled.hints();
        assert_eq!(hints.len(), 3, "{hints:?}");
        assert!(hints[0].contains("PIN"));
        assert!(hints[2].contains("85 of 100"));
        let fine = ZteReport {
            status: Some(api::Status {
                modem_state: "modem_init_complete".to_owned(),
                registered: Some(true),
                ..api::Status::default()
            }),
            ..ZteReport::default()
        };
        assert!(fine.to_string().contains("verdict: ready"));
    }
}
