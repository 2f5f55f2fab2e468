//! `simgate modem probe`: what a user with new hardware runs first. Talks to
//! the modem, collects the facts (identity, SIM, signal, registration,
//! operator, storage, PDU mode) and turns what is wrong into hints.

use super::channel;
use super::error::ModemError;
use super::port::{self, PortSettings};
use super::session::{Identity, Modem, ModemStatus, Timeouts};
use crate::at::{AccessTech, Command, MessageFormat, PinRetries, PinStatus, RegStatus};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything the probe learned.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProbeReport {
    /// The path given.
    pub device: PathBuf,
    /// Where it points.
    pub tty: Option<PathBuf>,
    /// Whether the modem answered AT.
    pub answers: bool,
    /// Identity strings.
    pub identity: Identity,
    /// SIM lock state.
    pub sim: Option<PinStatus>,
    /// Attempts left.
    pub retries: Option<PinRetries>,
    /// Radio, operator, storage.
    pub status: ModemStatus,
    /// Whether AT+CMGF=0 was accepted.
    pub pdu_mode: Option<bool>,
    /// Advice, in plain words.
    pub hints: Vec<String>,
}

/// Probes the modem at `device`.
pub(crate) async fn probe(
    device: &Path,
    settings: PortSettings,
) -> Result<ProbeReport, ModemError> {
    let port = port::open(device, settings)?;
    let (client, _urcs, task) = channel::spawn(port);
    let timeouts = Timeouts {
        command: Duration::from_secs(5),
        send: Duration::from_secs(5),
        prompt: Duration::from_secs(5),
        sync: Duration::from_secs(1),
    };
    let modem = Modem::new(client, timeouts);
    let mut report = ProbeReport {
        device: device.to_owned(),
        tty: port::resolve(device),
        ..ProbeReport::default()
    };
    report.answers = modem.sync().await.is_ok();
    if report.answers {
        collect(&modem, &mut report).await;
    }
    report.hints = hints(&report);
    task.abort();
    Ok(report)
}

async fn collect(modem: &Modem, report: &mut ProbeReport) {
    let _ = modem.run(Command::echo(false)).await;
    let _ = modem
        .run(Command::cmee(crate::at::ErrorReporting::Numeric))
        .await;
    report.identity = modem.identity().await;
    if let Ok((sim, retries)) = modem.sim_state().await {
        report.retries = match retries {
            Some(retries) => Some(retries),
            None => modem.pin_retries().await,
        };
        report.sim = Some(sim);
    }
    report.pdu_mode = Some(modem.run(Command::cmgf(MessageFormat::Pdu)).await.is_ok());
    report.status = modem.status().await;
}

fn hints(report: &ProbeReport) -> Vec<String> {
    let mut hints = Vec::new();
    if !report.answers {
        hints.push(
            "the port does not answer AT: multi-port modems have one AT port among several \
             (Huawei: often ttyUSB0 or ttyUSB2; Quectel EC25: ttyUSB2); try the others. A Huawei \
             E3372 in HiLink mode (a network card, no AT port) must be switched to stick mode."
                .to_owned(),
        );
        if port::modem_manager_running() {
            hints.push(
                "ModemManager is running and may be talking to the port: stop it or make it ignore the modem"
                    .to_owned(),
            );
        }
        return hints;
    }
    match &report.sim {
        Some(PinStatus::Ready) | None => {}
        Some(PinStatus::SimPin) => hints.push(format!(
            "the SIM is locked with a PIN ({}): put it in simgate's configuration (`pin`), or remove the lock in a phone",
            attempts(report.retries.and_then(|r| r.pin))
        )),
        Some(PinStatus::SimPuk) => hints.push(format!(
            "the SIM is blocked: it needs its PUK ({}); unblock it in a phone",
            attempts(report.retries.and_then(|r| r.puk))
        )),
        Some(PinStatus::NotInserted) => hints.push("no SIM card found: check it is inserted the right way".to_owned()),
        Some(other) => hints.push(format!("the SIM reports {other:?}: it cannot be used until unlocked")),
    }
    if report.pdu_mode == Some(false) {
        hints.push("the modem refused PDU mode (AT+CMGF=0); simgate needs it".to_owned());
    }
    let registration = report.status.registration;
    let registered = registration.is_some_and(|r| r.status.is_registered());
    if report.sim == Some(PinStatus::Ready) && !registered {
        let two_g_only = report.identity.model.as_deref().is_some_and(|m| {
            ["SIM800", "SIM900", "SIM868", "SIM808"]
                .iter()
                .any(|p| m.to_ascii_uppercase().contains(p))
        });
        if two_g_only {
            hints.push(
                "this is a 2G-only module and it is not registered: many operators have switched 2G off; \
                 use a 4G module (SIM7600, EC25) or an operator that still runs GSM"
                    .to_owned(),
            );
        } else if registration.is_some_and(|r| r.status == RegStatus::Denied) {
            hints
                .push("the network denied registration: is the SIM active and paid up?".to_owned());
        } else {
            hints.push(
                "not registered to a network yet: check the antenna and coverage, then probe again"
                    .to_owned(),
            );
        }
    }
    if report.status.signal.is_some_and(|s| s.rssi <= 9) {
        hints.push(
            "the signal is weak (-95 dBm or less): move the modem or use a USB extension cable"
                .to_owned(),
        );
    }
    if report
        .status
        .storage
        .iter()
        .any(|m| m.total > 0 && m.used >= m.total)
    {
        hints.push("the message storage is full: new messages cannot arrive until simgate reads and deletes them".to_owned());
    }
    hints
}

fn attempts(left: Option<u8>) -> String {
    left.map_or("attempts left unknown".to_owned(), |n| {
        format!("{n} attempt(s) left")
    })
}

fn technology(act: AccessTech) -> &'static str {
    match act {
        AccessTech::Gsm | AccessTech::GsmCompact => "2G (GSM)",
        AccessTech::GsmEgprs => "2G (EDGE)",
        AccessTech::Utran => "3G (UMTS)",
        AccessTech::UtranHsdpa | AccessTech::UtranHsupa | AccessTech::UtranHsdpaHsupa => {
            "3G (HSPA)"
        }
        AccessTech::Eutran
        | AccessTech::EcGsmIot
        | AccessTech::EutranNbS1
        | AccessTech::Eutra5gcn => "4G (LTE)",
        AccessTech::Nr5gcn | AccessTech::NgRan | AccessTech::EutraNrDual => "5G (NR)",
        AccessTech::Other(_) => "unknown technology",
    }
}

fn registration_words(status: RegStatus) -> &'static str {
    match status {
        RegStatus::Home => "registered, home network",
        RegStatus::Roaming => "registered, roaming",
        RegStatus::SmsOnlyHome => "registered for SMS only, home network",
        RegStatus::SmsOnlyRoaming => "registered for SMS only, roaming",
        RegStatus::Searching => "not registered, searching",
        RegStatus::Denied => "registration denied",
        RegStatus::NotRegistered => "not registered, not searching",
        RegStatus::EmergencyOnly => "emergency calls only",
        _ => "unknown",
    }
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unknown = || "unknown".to_owned();
        let mut device = self.device.display().to_string();
        if let Some(tty) = self.tty.as_ref().filter(|t| **t != self.device) {
            let _ = write!(device, " -> {}", tty.display());
        }
        writeln!(f, "device:        {device}")?;
        writeln!(
            f,
            "answers AT:    {}",
            if self.answers { "yes" } else { "no" }
        )?;
        if self.answers {
            let id = &self.identity;
            writeln!(
                f,
                "manufacturer:  {}",
                id.manufacturer.clone().unwrap_or_else(unknown)
            )?;
            writeln!(
                f,
                "model:         {}",
                id.model.clone().unwrap_or_else(unknown)
            )?;
            writeln!(
                f,
                "firmware:      {}",
                id.firmware.clone().unwrap_or_else(unknown)
            )?;
            writeln!(
                f,
                "IMEI:          {}",
                id.imei.clone().unwrap_or_else(unknown)
            )?;
            let sim = match &self.sim {
                Some(PinStatus::Ready) => "ready (unlocked)".to_owned(),
                Some(PinStatus::SimPin) => format!(
                    "PIN required, {}",
                    attempts(self.retries.and_then(|r| r.pin))
                ),
                Some(PinStatus::SimPuk) => format!(
                    "PUK required, {}",
                    attempts(self.retries.and_then(|r| r.puk))
                ),
                Some(PinStatus::NotInserted) => "not inserted".to_owned(),
                Some(other) => format!("{other:?}"),
                None => unknown(),
            };
            writeln!(f, "SIM:           {sim}")?;
            if let Some(imsi) = &self.status.imsi {
                writeln!(f, "IMSI:          {imsi}")?;
            }
            let signal = match self.status.signal {
                Some(s) => match (s.dbm(), s.percent()) {
                    (Some(dbm), Some(percent)) => format!("{dbm} dBm ({percent}%)"),
                    (Some(dbm), None) => format!("{dbm} dBm"),
                    _ => "no signal reported".to_owned(),
                },
                None => unknown(),
            };
            writeln!(f, "signal:        {signal}")?;
            let registration = match self.status.registration {
                Some(r) => {
                    let mut words = registration_words(r.status).to_owned();
                    if let Some(act) = self.status.technology {
                        let _ = write!(words, ", {}", technology(act));
                    }
                    words
                }
                None => unknown(),
            };
            writeln!(f, "registration:  {registration}")?;
            writeln!(
                f,
                "operator:      {}",
                self.status.operator.clone().unwrap_or_else(unknown)
            )?;
            let storage: Vec<String> = self
                .status
                .storage
                .iter()
                .map(|m| {
                    format!(
                        "{} {}/{}",
                        m.memory.clone().unwrap_or_default(),
                        m.used,
                        m.total
                    )
                })
                .collect();
            let storage = if storage.is_empty() {
                unknown()
            } else {
                storage.join(", ")
            };
            writeln!(f, "storage:       {storage} used")?;
            if let Some(battery) = &self.status.battery {
                // What +CBC's status means differs by maker: shown as is.
                write!(f, "battery:       {} %", battery.charge)?;
                if let Some(mv) = battery.voltage_mv {
                    write!(f, ", {}.{:02} V", mv / 1000, mv % 1000 / 10)?;
                }
                writeln!(f, " (+CBC status {})", battery.status)?;
            }
            let pdu = match self.pdu_mode {
                Some(true) => "supported",
                Some(false) => "NOT supported",
                None => "unknown",
            };
            writeln!(f, "PDU mode:      {pdu}")?;
        }
        if self.hints.is_empty() {
            writeln!(f, "looks good: simgate can use this modem")?;
        }
        for hint in &self.hints {
            writeln!(f, "hint: {hint}")?;
        }
        Ok(())
    }
}
