//! `simgate modem probe --device http://192.168.8.1`: what a HiLink stick
//! is (model, firmware, IMEI), where its SIM, signal, operator and message
//! storage stand, whether it wants a login, and what is wrong, in plain
//! words. Collecting talks to the stick; the report and its hints are pure.

use super::api;
use super::client::{Client, HilinkError};
use std::fmt;
use std::time::Duration;

/// What the probe learnt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HilinkReport {
    /// The address asked.
    pub url: String,
    /// Why it could not be reached at all.
    pub unreachable: Option<String>,
    /// Model, firmware, IMEI.
    pub information: Option<api::Information>,
    /// Logged in already or needs no login (`None`: not asked).
    pub login: Option<LoginNeed>,
    /// `/api/pin/status` `SimState`.
    pub sim_state: Option<u32>,
    /// SIM and network from `/api/monitoring/status`.
    pub status: Option<api::Status>,
    /// Signal.
    pub signal: Option<api::Signal>,
    /// Operator name.
    pub operator: Option<String>,
    /// Message storage.
    pub count: Option<api::SmsCount>,
    /// What failed on the way (request: error).
    pub failures: Vec<String>,
    /// Where the stick's keys are written, for the hints.
    pub section: crate::config::ModemSection,
}

/// Whether the stick asks for a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginNeed {
    /// No login needed, or the one given worked.
    Fine,
    /// A login is needed and no password was given.
    NoPassword,
    /// The password was refused.
    Refused,
    /// Logins are locked for a while.
    LockedOut,
}

/// Probes the stick at `url`, logging in as `user` with `password` if it
/// asks; its keys are written in `section`.
pub async fn probe(
    url: &str,
    user: &str,
    password: Option<String>,
    section: &crate::config::ModemSection,
) -> HilinkReport {
    let client =
        Client::new(url, user, password, Duration::from_secs(10)).for_section(section.to_string());
    let mut report = HilinkReport {
        url: url.to_owned(),
        section: section.clone(),
        ..HilinkReport::default()
    };
    match client.get("/api/device/information").await {
        Ok(info) => {
            report.information = Some(api::information(&info));
            report.login = Some(LoginNeed::Fine);
        }
        Err(HilinkError::Unreachable { reason, .. }) => {
            report.unreachable = Some(reason);
            return report;
        }
        Err(error) => {
            report.login = match &error {
                HilinkError::LoginRequired { .. } => Some(LoginNeed::NoPassword),
                HilinkError::BadPassword { .. } => Some(LoginNeed::Refused),
                HilinkError::LockedOut(_) => Some(LoginNeed::LockedOut),
                _ => None,
            };
            report.failures.push(error.to_string());
            if report.login.is_some() {
                return report;
            }
        }
    }
    let mut ask = |result: Result<_, HilinkError>| match result {
        Ok(answer) => Some(answer),
        Err(error) => {
            report.failures.push(error.to_string());
            None
        }
    };
    let pin = ask(client.get("/api/pin/status").await);
    let status = ask(client.get("/api/monitoring/status").await);
    let signal = ask(client.get("/api/device/signal").await);
    let plmn = ask(client.get("/api/net/current-plmn").await);
    let count = ask(client.get("/api/sms/sms-count").await);
    report.sim_state = pin.and_then(|p| p.value("SimState").and_then(|v| v.trim().parse().ok()));
    report.status = status.map(|s| api::status(&s));
    report.signal = signal.map(|s| api::signal(&s));
    report.operator = plmn.and_then(|p| api::operator(&p));
    report.count = count.and_then(|c| api::sms_count(&c).ok());
    report
}

impl HilinkReport {
    /// What is wrong, in plain words (empty when nothing is).
    pub fn hints(&self) -> Vec<String> {
        let mut hints = Vec::new();
        if let Some(reason) = &self.unreachable {
            hints.push(format!(
                "Nothing answers at {} ({reason}). Is the stick plugged in and in HiLink mode \
                 (it then shows up as a network card, not as serial ports)? Is this computer on \
                 the stick's network (an address such as 192.168.8.100 from its DHCP)?",
                self.url
            ));
            return hints;
        }
        match self.login {
            Some(LoginNeed::NoPassword) => hints.push(format!(
                "The stick requires a login: set password (or password_file) under {}, \
                 or probe with --password-file.",
                self.section
            )),
            Some(LoginNeed::Refused) => hints.push(
                "The stick refused the password. Check it in the stick's web page; simgate \
                 does not try it again, so that the stick does not lock logins."
                    .to_owned(),
            ),
            Some(LoginNeed::LockedOut) => hints.push(
                "The stick locked logins after too many wrong passwords: wait a few minutes \
                 before trying again."
                    .to_owned(),
            ),
            _ => {}
        }
        match self.sim_state {
            Some(255) => {
                hints.push("No SIM card: insert one (power the stick off first).".to_owned())
            }
            Some(260) => hints.push(
                "The SIM asks for its PIN: enter it in the stick's web page (or turn the PIN \
                 off there); simgate does not enter PINs on a web stick."
                    .to_owned(),
            ),
            Some(261) => hints.push(
                "The SIM is blocked and asks for its PUK: unblock it in a phone or the stick's \
                 web page."
                    .to_owned(),
            ),
            _ => {}
        }
        if self.status.is_some_and(|s| s.registered == Some(false)) {
            hints.push(
                "The stick has no network service: check coverage and that the SIM is active."
                    .to_owned(),
            );
        }
        if let Some(count) = self.count {
            if count.max > 0 && count.used() * 10 >= count.max * 8 {
                hints.push(format!(
                    "The message storage is nearly full ({} of {}): when it is full the stick \
                     refuses new messages; simgate clears it once it runs.",
                    count.used(),
                    count.max
                ));
            }
        }
        hints
    }
}

fn sim_words(state: u32) -> &'static str {
    match state {
        257 => "ready",
        255 => "no SIM",
        260 => "PIN required",
        261 => "PUK required",
        _ => "unknown state",
    }
}

impl fmt::Display for HilinkReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "stick: {} (Huawei HiLink web interface)", self.url)?;
        if self.unreachable.is_some() {
            writeln!(f, "answers: no")?;
        } else {
            writeln!(f, "answers: yes")?;
        }
        if let Some(info) = &self.information {
            writeln!(f, "model: Huawei {}", info.model)?;
            writeln!(f, "firmware: {}", info.firmware)?;
            writeln!(f, "imei: {}", info.imei.as_deref().unwrap_or("unknown"))?;
        }
        if let Some(login) = self.login {
            let words = match login {
                LoginNeed::Fine => "not needed, or accepted",
                LoginNeed::NoPassword => "required (no password given)",
                LoginNeed::Refused => "required; the password was refused",
                LoginNeed::LockedOut => "required; logins are locked for now",
            };
            writeln!(f, "login: {words}")?;
        }
        if let Some(state) = self.sim_state {
            writeln!(f, "sim: {} ({state})", sim_words(state))?;
        }
        if let Some(status) = self.status {
            let service = match status.registered {
                Some(true) => "in service",
                Some(false) => "no service",
                None => "unknown",
            };
            writeln!(f, "network: {service}")?;
        }
        if let Some(operator) = &self.operator {
            writeln!(f, "operator: {operator}")?;
        }
        if let Some(signal) = self.signal {
            let part = |name: &str, value: Option<i32>, unit: &str| {
                value.map(|v| format!("{name} {v} {unit}"))
            };
            let figures: Vec<String> = [
                part("RSSI", signal.rssi, "dBm"),
                part("RSRP", signal.rsrp, "dBm"),
                part("RSRQ", signal.rsrq, "dB"),
                part("SINR", signal.sinr, "dB"),
            ]
            .into_iter()
            .flatten()
            .collect();
            let percent = signal
                .percent()
                .map_or(String::new(), |p| format!(" ({p} %)"));
            writeln!(f, "signal: {}{percent}", figures.join(", "))?;
        }
        if let Some(count) = self.count {
            writeln!(
                f,
                "storage: {} of {} used ({} received, {} sent copies)",
                count.used(),
                count.max,
                count.inbox,
                count.outbox
            )?;
        }
        for failure in &self.failures {
            writeln!(f, "failed: {failure}")?;
        }
        let hints = self.hints();
        if hints.is_empty() {
            writeln!(f, "verdict: ready for simgate (transport = \"hilink\")")?;
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
    fn an_unreachable_stick_says_what_to_check() {
        let report = HilinkReport {
            url: "http://192.168.8.1".to_owned(),
            unreachable: Some("Connection refused".to_owned()),
            ..HilinkReport::default()
        };
        let text = report.to_string();
        assert!(text.contains("answers: no"));
        assert!(text.contains("HiLink mode"), "{text}");
    }

    #[test]
    fn sim_pin_storage_and_login_problems_are_named() {
        let report = HilinkReport {
            url: "http://192.168.8.1".to_owned(),
            login: Some(LoginNeed::Fine),
            sim_state: Some(260),
            count: Some(api::SmsCount {
                inbox: 450,
                max: 500,
                ..api::SmsCount::default()
            }),
            status: Some(api::Status {
                sim_ready: Some(true),
                registered: Some(false),
            }),
            ..HilinkReport::default()
        };
        let hints = report.hints();
        assert_eq!(hints.len(), 3, "{hints:?}");
        assert!(hints[0].contains("PIN"));
        assert!(hints[1].contains("no network service"));
        assert!(hints[2].contains("450 of 500"));
        let fine = HilinkReport {
            login: Some(LoginNeed::Fine),
            sim_state: Some(257),
            ..HilinkReport::default()
        };
        assert!(fine.hints().is_empty());
        assert!(fine.to_string().contains("verdict: ready"));
        let locked = HilinkReport {
            login: Some(LoginNeed::NoPassword),
            ..HilinkReport::default()
        };
        assert!(locked.hints()[0].contains("requires a login"));
    }
}
