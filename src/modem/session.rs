//! A modem session: the AT operations simgate needs, over an [`AtClient`].
//! Initialisation that works across vendors, the PIN guard, sending a PDU,
//! reading and deleting stored messages, and a status snapshot.

use super::channel::{Answer, AtClient, Body, ChannelError};
use super::error::ModemError;
use super::pin::{self, MemoryPins, PinDecision, PinMemory, PinOutcome, SimProblem};
use crate::at::{
    self, Command, Cpms, ErrorReporting, FinalResult, MemoryUsage, MessageFormat, MessageStatus,
    PinRetries, PinStatus, RegForm, Registration, Response, StoredMessage,
};
use crate::pdu::EncodedPdu;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Per-command timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// Ordinary commands.
    pub command: Duration,
    /// AT+CMGS, from the `> ` prompt to `+CMGS:` (networks can take a while).
    pub send: Duration,
    /// AT+CMGS, from the command to the `> ` prompt (modems prompt within
    /// a second or two).
    pub prompt: Duration,
    /// Each AT while re-synchronising.
    pub sync: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            command: Duration::from_secs(10),
            send: Duration::from_secs(60),
            prompt: Duration::from_secs(5),
            sync: Duration::from_secs(2),
        }
    }
}

/// A PIN, kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Pin(String);

impl Pin {
    /// Wraps a PIN.
    pub(crate) fn new(pin: impl Into<String>) -> Self {
        Self(pin.into())
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// What initialisation needs to know.
#[derive(Debug, Clone, Default)]
pub(crate) struct InitSettings {
    /// The SIM PIN, entered only under the PIN guard's rules.
    pub pin: Option<Pin>,
    /// An SMSC number to set; the SIM's own when `None`.
    pub smsc: Option<String>,
    /// `check_sim = false` (gammu's `CheckSecurity = no`): the SIM's
    /// security state is not asked and no PIN is entered.
    pub skip_sim_check: bool,
}

/// Remembers, across re-initialisations (and, with the daemon's memory,
/// across reloads and restarts), what each SIM did with the PIN.
#[derive(Debug, Clone)]
pub(crate) struct PinGuard {
    memory: Arc<dyn PinMemory>,
    rejected: bool,
}

impl Default for PinGuard {
    fn default() -> Self {
        Self::new(Arc::new(MemoryPins::default()))
    }
}

impl PinGuard {
    /// A guard that remembers in `memory`.
    pub(crate) fn new(memory: Arc<dyn PinMemory>) -> Self {
        Self {
            memory,
            rejected: false,
        }
    }

    /// Whether a PIN has been rejected through this guard; it is not
    /// entered automatically again.
    #[cfg(test)]
    pub(crate) fn rejected(&self) -> bool {
        self.rejected
    }

    /// What the memory says of this PIN on this SIM. Asked on the blocking
    /// pool: the daemon's memory is its database.
    async fn recall(&self, sim: &str, hash: &str) -> Option<PinOutcome> {
        let (memory, sim, hash) = (Arc::clone(&self.memory), sim.to_owned(), hash.to_owned());
        tokio::task::spawn_blocking(move || memory.recall(&sim, &hash))
            .await
            .unwrap_or(None)
    }

    /// Remembers `outcome` (on the blocking pool, durably where the memory
    /// can) before going on.
    async fn record(&self, sim: &str, hash: &str, outcome: PinOutcome) {
        let (memory, sim, hash) = (Arc::clone(&self.memory), sim.to_owned(), hash.to_owned());
        let _ = tokio::task::spawn_blocking(move || memory.record(&sim, &hash, outcome)).await;
    }
}

/// What the modem says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    /// `AT+CGMI`.
    pub manufacturer: Option<String>,
    /// `AT+CGMM`.
    pub model: Option<String>,
    /// `AT+CGMR`.
    pub firmware: Option<String>,
    /// `AT+CGSN`.
    pub imei: Option<String>,
}

/// What initialisation found and chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InitReport {
    /// The modem's identity.
    pub identity: Identity,
    /// The message storage selected for reading, writing and receiving.
    pub storage: String,
    /// Every storage to read for a full sweep, `storage` first: the others
    /// the modem offers for reading (messages stored before simgate, or
    /// by the modem's own choice), and `SR` for status reports.
    pub read_storages: Vec<String>,
    /// The AT+CNMI setting that was accepted.
    pub cnmi: String,
    /// Whether the PIN was entered during this initialisation.
    pub pin_entered: bool,
    /// Whether the modem names callers (+CLIP) after RING.
    pub caller_id: bool,
}

/// A snapshot of the radio and SIM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ModemStatus {
    /// `+CSQ`.
    pub signal: Option<at::SignalQuality>,
    /// The best of `+CREG`, `+CEREG`, `+C5GREG`.
    pub registration: Option<Registration>,
    /// `+COPS` operator name.
    pub operator: Option<String>,
    /// Radio access technology, from the registration or `+COPS`.
    pub technology: Option<at::AccessTech>,
    /// `AT+CIMI`.
    pub imsi: Option<String>,
    /// `+CBC`, where there is a battery.
    pub battery: Option<at::Battery>,
    /// `+CPMS?` usage of the selected storages.
    pub storage: Vec<MemoryUsage>,
}

/// CNMI settings tried in order: store messages and announce them with
/// +CMTI, status reports stored (+CDSI) or, failing that, delivered (+CDS);
/// for a modem that stores nothing, messages routed raw (+CMT).
const CNMI_CHOICES: [(u8, u8, u8, u8, u8); 7] = [
    (2, 1, 0, 2, 0),
    (2, 1, 0, 1, 0),
    (1, 1, 0, 1, 0),
    (1, 1, 0, 0, 0),
    (2, 2, 0, 1, 0),
    (1, 2, 0, 1, 0),
    (2, 2, 0, 0, 0),
];

/// The storages a full read covers: `chosen` first, then those of `SM`,
/// `ME` and `SR` the modem offers for reading that `chosen` does not
/// already include (`MT` is `SM` and `ME` together). When the modem did not
/// say what it offers, `SR` is tried anyway (many modems have none, and
/// say so with an error).
pub(crate) fn storages_to_read(chosen: &str, supported: &[String]) -> Vec<String> {
    let covered =
        |memory: &str| memory == chosen || (chosen == "MT" && matches!(memory, "SM" | "ME"));
    let offered = |memory: &str| supported.iter().any(|s| s == memory);
    let mut storages = vec![chosen.to_owned()];
    for memory in ["SM", "ME", "SR"] {
        let wanted = if supported.is_empty() {
            memory == "SR"
        } else {
            offered(memory)
        };
        if wanted && !covered(memory) {
            storages.push(memory.to_owned());
        }
    }
    storages
}

/// Commands in a row without an answer after which the port should be
/// closed and reopened rather than re-synchronised.
pub(crate) const HANGS_BEFORE_REOPEN: u32 = 6;

/// One modem session.
#[derive(Debug, Clone)]
pub(crate) struct Modem {
    client: AtClient,
    timeouts: Timeouts,
    /// Commands in a row that got no answer (re-synchronisation aside); any
    /// answered command resets it. The supervisor watches it to
    /// re-initialise, then reopen, a modem that keeps hanging.
    timeouts_in_a_row: Arc<watch::Sender<u32>>,
    /// When the modem last answered a command.
    last_answer: Arc<std::sync::Mutex<tokio::time::Instant>>,
}

impl Modem {
    /// A session over a running AT channel.
    pub(crate) fn new(client: AtClient, timeouts: Timeouts) -> Self {
        Self {
            client,
            timeouts,
            timeouts_in_a_row: Arc::new(watch::channel(0).0),
            last_answer: Arc::new(std::sync::Mutex::new(tokio::time::Instant::now())),
        }
    }

    /// Whether the modem answered a command within the last `period` (so a
    /// health check would tell nothing new).
    pub(crate) fn answered_within(&self, period: Duration) -> bool {
        let last = *self.last_answer.lock().unwrap_or_else(|e| e.into_inner());
        last.elapsed() < period
    }

    fn answered(&self) {
        *self.last_answer.lock().unwrap_or_else(|e| e.into_inner()) = tokio::time::Instant::now();
    }

    /// Follows the count of commands in a row that timed out.
    pub(crate) fn hang_counter(&self) -> watch::Receiver<u32> {
        self.timeouts_in_a_row.subscribe()
    }

    /// The AT channel (tests tell sessions apart by it).
    #[cfg(test)]
    pub(crate) fn client(&self) -> &AtClient {
        &self.client
    }

    /// Runs `command` and returns its information lines if it ended in OK.
    pub(crate) async fn run(&self, command: Command) -> Result<Vec<String>, ModemError> {
        self.run_with(command, None, self.timeouts.command)
            .await
            .map(|(lines, _)| lines)
    }

    /// Runs `command` (with `body` after its prompt); its information lines
    /// if it ended in OK, and whether the body was written.
    async fn run_with(
        &self,
        command: Command,
        body: Option<Body>,
        timeout: Duration,
    ) -> Result<(Vec<String>, bool), ModemError> {
        let text = command.to_string();
        let response = self.client.execute(command, body, timeout).await;
        match &response {
            Ok(_) => {
                self.answered();
                self.timeouts_in_a_row
                    .send_if_modified(|n| std::mem::replace(n, 0) != 0)
            }
            Err(ChannelError::Timeout { .. }) => self.timeouts_in_a_row.send_if_modified(|n| {
                *n += 1;
                true
            }),
            Err(_) => false,
        };
        match response {
            Ok(Answer {
                response: Response { lines, result },
                body_written,
            }) if result.is_ok() => Ok((lines, body_written)),
            Ok(Answer {
                response: Response { result, .. },
                ..
            }) => Err(ModemError::Rejected {
                command: text,
                result,
            }),
            Err(error @ ChannelError::Timeout { .. }) => {
                // Leave the port in a known state before reporting.
                let _ = self.sync().await;
                Err(error.into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The first line with `prefix` in the answer to `command`.
    async fn query(&self, command: Command, prefix: &str) -> Result<String, ModemError> {
        let text = command.to_string();
        let lines = self.run(command).await?;
        lines
            .into_iter()
            .find(|line| line.starts_with(prefix))
            .ok_or(ModemError::Parse {
                command: text,
                error: at::ParseError::Prefix("answer line"),
            })
    }

    /// Brings the modem to answer OK to AT: up to five tries of the sync
    /// timeout each, which also flushes a half-finished exchange.
    pub(crate) async fn sync(&self) -> Result<(), ModemError> {
        const ATTEMPTS: u32 = 5;
        for _ in 0..ATTEMPTS {
            match self
                .client
                .execute(Command::at(), None, self.timeouts.sync)
                .await
            {
                Ok(response) if response.result.is_ok() => {
                    self.answered();
                    return Ok(());
                }
                Ok(_) | Err(ChannelError::Timeout { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        // Not even AT gets through: as bad as it gets.
        self.timeouts_in_a_row
            .send_modify(|n| *n = (*n).max(HANGS_BEFORE_REOPEN));
        Err(ModemError::NoAnswer { attempts: ATTEMPTS })
    }

    /// Initialises the modem for simgate: sync, echo off, numeric errors,
    /// SIM unlocked (under the PIN guard), PDU mode, storage, new-message
    /// indications, SMSC.
    pub(crate) async fn init(
        &self,
        settings: &InitSettings,
        guard: &mut PinGuard,
    ) -> Result<InitReport, ModemError> {
        self.sync().await?;
        // Echo and error verbosity are conveniences; old modules refuse some.
        self.run(Command::echo(false)).await.ok();
        self.run(Command::cmee(ErrorReporting::Numeric)).await.ok();
        let pin_entered = if settings.skip_sim_check {
            false
        } else {
            self.unlock(settings.pin.as_ref(), guard).await?
        };
        if let Err(ModemError::Rejected { result, .. }) =
            self.run(Command::cmgf(MessageFormat::Pdu)).await
        {
            return Err(ModemError::NoPduMode(result));
        }
        let (storage, read_storages) = self.select_storage().await?;
        // Caller identification for incoming calls; not every module has it.
        let caller_id = self
            .run(Command::raw("AT+CLIP=1").expect("valid"))
            .await
            .is_ok();
        let cnmi = self.enable_indications().await?;
        if let Some(smsc) = &settings.smsc {
            let command =
                Command::csca_set(smsc, Some(if smsc.starts_with('+') { 145 } else { 129 }))
                    .map_err(|error| ModemError::Parse {
                        command: "AT+CSCA".to_owned(),
                        error: at::ParseError::Invalid {
                            field: "sca",
                            value: error.to_string(),
                        },
                    })?;
            self.run(command).await?;
        }
        Ok(InitReport {
            read_storages,
            identity: self.identity().await,
            storage,
            cnmi,
            pin_entered,
            caller_id,
        })
    }

    /// The SIM's lock state and, when the modem tells, the attempts left.
    pub(crate) async fn sim_state(&self) -> Result<(PinStatus, Option<PinRetries>), ModemError> {
        let status = match self.query(Command::cpin_query(), "+CPIN").await {
            Ok(line) => at::parse_cpin(&line).map_err(|error| ModemError::Parse {
                command: "AT+CPIN?".to_owned(),
                error,
            })?,
            // 27.007: +CME ERROR 10 is how many modems say "no SIM".
            Err(ModemError::Rejected {
                result: FinalResult::Cme(at::CmeError::SimNotInserted),
                ..
            }) => PinStatus::NotInserted,
            Err(error) => return Err(error),
        };
        let retries = if status.is_ready() {
            None
        } else {
            self.pin_retries().await
        };
        Ok((status, retries))
    }

    /// Remaining PIN/PUK attempts: the standard AT+CPINR, then the vendor
    /// commands that came before it.
    pub(crate) async fn pin_retries(&self) -> Option<PinRetries> {
        for text in ["AT+CPINR", "AT^CPIN?", "AT+QPINC?", "AT+SPIC"] {
            let Ok(command) = Command::raw(text) else {
                continue;
            };
            if let Ok(lines) = self.run(command).await {
                if let Ok(retries) = at::parse_pin_retries(&lines) {
                    if retries.pin.is_some() || retries.puk.is_some() {
                        return Some(retries);
                    }
                }
            }
        }
        None
    }

    /// Applies the PIN guard; returns whether the PIN was entered.
    async fn unlock(&self, pin: Option<&Pin>, guard: &mut PinGuard) -> Result<bool, ModemError> {
        let (status, retries) = self.sim_state().await?;
        let remembered = match (&status, pin) {
            (PinStatus::SimPin, Some(pin)) => {
                // The ICCID can be read while the SIM is locked.
                let sim = match self.iccid().await {
                    Some(iccid) => iccid,
                    None => format!("imei:{}", self.imei().await.unwrap_or_default()),
                };
                let hash = pin::pin_hash(&sim, &pin.0);
                let before = guard.recall(&sim, &hash).await;
                Some((sim, hash, before))
            }
            _ => None,
        };
        let before = remembered.as_ref().and_then(|(_, _, before)| *before);
        match pin::decide(&status, retries, pin.is_some(), before) {
            PinDecision::Ready => Ok(false),
            PinDecision::Stop(problem) => {
                if matches!(problem, SimProblem::PinRejected(_)) {
                    guard.rejected = true;
                }
                Err(problem.into())
            }
            PinDecision::EnterPin => {
                let pin = pin.expect("the guard enters a PIN only when one is configured");
                let (sim, hash, _) = remembered.expect("a PIN decision names the SIM");
                let command = Command::enter_pin(&pin.0).map_err(|_| {
                    guard.rejected = true;
                    ModemError::Sim(SimProblem::PinRejected(retries.and_then(|r| r.pin)))
                })?;
                // Recorded before it is entered: a crash in between must not
                // let the next start enter it blindly again.
                guard.record(&sim, &hash, PinOutcome::Entering).await;
                tracing::info!("entering the SIM PIN");
                match self.run(command).await {
                    Ok(_) => {
                        guard.record(&sim, &hash, PinOutcome::Accepted).await;
                        self.wait_for_sim().await?;
                        Ok(true)
                    }
                    Err(ModemError::Rejected { .. }) => {
                        guard.record(&sim, &hash, PinOutcome::Rejected).await;
                        guard.rejected = true;
                        let left = self.pin_retries().await.and_then(|r| r.pin);
                        tracing::error!(attempts_left = ?left, "the SIM rejected the PIN");
                        Err(SimProblem::PinRejected(left).into())
                    }
                    Err(error) => Err(error),
                }
            }
        }
    }

    /// After the PIN, the SIM takes a moment to become READY.
    async fn wait_for_sim(&self) -> Result<(), ModemError> {
        for attempt in 0..10u32 {
            if let Ok((PinStatus::Ready, _)) = self.sim_state().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200) * (attempt + 1)).await;
        }
        Err(SimProblem::OtherLock("the SIM did not become ready after the PIN".to_owned()).into())
    }

    /// Chooses SM (the SIM) when the modem offers it, else MT or ME, for
    /// all three storages; returns the name and every storage to read.
    async fn select_storage(&self) -> Result<(String, Vec<String>), ModemError> {
        let supported = match self
            .query(Command::raw("AT+CPMS=?").expect("valid"), "+CPMS")
            .await
        {
            Ok(line) => match at::parse_cpms(&line) {
                Ok(Cpms::Supported(lists)) => lists.into_iter().next().unwrap_or_default(),
                _ => Vec::new(),
            },
            Err(_) => Vec::new(),
        };
        let choice = ["SM", "MT", "ME"]
            .into_iter()
            .find(|memory| supported.is_empty() || supported.iter().any(|s| s == memory))
            .unwrap_or("SM");
        let command = Command::cpms(&[choice, choice, choice]).expect("valid memory names");
        self.run(command).await?;
        Ok((choice.to_owned(), storages_to_read(choice, &supported)))
    }

    /// Asks the modem to store incoming messages and announce them.
    async fn enable_indications(&self) -> Result<String, ModemError> {
        let mut last = None;
        for (mode, mt, bm, ds, bfr) in CNMI_CHOICES {
            match self.run(Command::cnmi(mode, mt, bm, ds, bfr)).await {
                Ok(_) => return Ok(format!("{mode},{mt},{bm},{ds},{bfr}")),
                Err(error @ ModemError::Rejected { .. }) => last = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last.expect("at least one choice"))
    }

    /// Manufacturer, model, firmware and IMEI; each `None` when not answered.
    pub(crate) async fn identity(&self) -> Identity {
        let info = |command: Command, kind: at::InfoKind| async move {
            let lines = self.run(command).await.ok()?;
            lines
                .iter()
                .find_map(|line| at::parse_info(line, kind).ok())
        };
        Identity {
            manufacturer: info(Command::cgmi(), at::InfoKind::Manufacturer).await,
            model: info(Command::cgmm(), at::InfoKind::Model).await,
            firmware: info(Command::cgmr(), at::InfoKind::Revision).await,
            imei: self.imei().await,
        }
    }

    /// The IMEI, which identifies a modem that comes back under another name.
    pub(crate) async fn imei(&self) -> Option<String> {
        let lines = self.run(Command::cgsn()).await.ok()?;
        lines.iter().find_map(|line| at::parse_imei(line).ok())
    }

    /// Sends one PDU with AT+CMGS and returns the TP-MR the modem assigned.
    ///
    /// Once the PDU was written, only `+CMGS: <mr>` says it went out and only
    /// an error result says it did not: an `OK` without a readable `+CMGS`
    /// line (a stray line in between, a modem that answers only `OK`) is
    /// [`ModemError::Unconfirmed`], an ambiguous send, never a failure to
    /// retry.
    pub(crate) async fn send_pdu(&self, pdu: &EncodedPdu) -> Result<u8, ModemError> {
        let length = u8::try_from(pdu.tpdu_length()).expect("a TPDU is at most 176 octets");
        let command = format!("AT+CMGS={length}");
        let body = Body {
            bytes: at::pdu_body(pdu.bytes()),
            prompt_within: self.timeouts.prompt,
        };
        let (lines, body_written) = self
            .run_with(Command::cmgs(length), Some(body), self.timeouts.send)
            .await?;
        match lines.iter().find_map(|line| at::parse_cmgs(line).ok()) {
            Some(reference) => Ok(reference),
            None if body_written => Err(ModemError::Unconfirmed {
                command,
                lines: lines.len(),
            }),
            None => Err(ModemError::Parse {
                command,
                error: at::ParseError::Missing("mr"),
            }),
        }
    }

    /// The TP-MR the modem used last, from the SIM's EF_SMSS (`AT+CRSM`):
    /// `Ok(None)` when the modem or SIM does not give it.
    pub(crate) async fn last_used_mr(&self) -> Result<Option<u8>, ModemError> {
        let answer = self.read_sim_file(at::EF_SMSS, 2).await?;
        Ok(answer.and_then(|a| a.data.first().copied()))
    }

    /// Reads `length` octets of the transparent SIM file `file` with
    /// `AT+CRSM=176`; `Ok(None)` when the modem refuses the command or the
    /// SIM the file.
    async fn read_sim_file(
        &self,
        file: u16,
        length: u8,
    ) -> Result<Option<at::SimFileAnswer>, ModemError> {
        let command = Command::raw(&format!("AT+CRSM=176,{file},0,0,{length}")).expect("valid");
        match self.run(command).await {
            Ok(lines) => Ok(lines
                .iter()
                .find_map(|line| at::parse_crsm(line).ok())
                .filter(at::SimFileAnswer::is_ok)),
            Err(ModemError::Rejected { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The SIM's serial number (ICCID), which identifies it whatever its
    /// lock state: the vendor commands, then EF_ICCID; `None` when none
    /// answers.
    pub(crate) async fn iccid(&self) -> Option<String> {
        for text in ["AT+CCID", "AT+ICCID", "AT+QCCID", "AT^ICCID?"] {
            let Ok(command) = Command::raw(text) else {
                continue;
            };
            if let Ok(lines) = self.run(command).await {
                if let Some(iccid) = at::parse_iccid(&lines) {
                    return Some(iccid);
                }
            }
        }
        let answer = self.read_sim_file(at::EF_ICCID, 10).await.ok().flatten()?;
        at::iccid_from_ef(&answer.data)
    }

    /// Lists stored messages with that status; one result per message so a
    /// corrupt entry does not hide the others.
    pub(crate) async fn list(
        &self,
        status: MessageStatus,
    ) -> Result<Vec<Result<StoredMessage, at::ParseError>>, ModemError> {
        Ok(at::parse_cmgl(&self.run(Command::cmgl(status)).await?))
    }

    /// Reads the message at `index`.
    #[cfg(test)]
    pub(crate) async fn read(&self, index: u32) -> Result<StoredMessage, ModemError> {
        let lines = self.run(Command::cmgr(index)).await?;
        at::parse_cmgr(index, &lines).map_err(|error| ModemError::Parse {
            command: format!("AT+CMGR={index}"),
            error,
        })
    }

    /// Deletes the message at `index`.
    pub(crate) async fn delete(&self, index: u32) -> Result<(), ModemError> {
        self.run(Command::cmgd(index, None)).await.map(drop)
    }

    /// Acknowledges a message or report routed raw (`+CMT`/`+CDS`) with
    /// `AT+CNMA`, which a modem in `+CSMS` service 1 waits for (or the
    /// network delivers again). `Ok(false)` when the modem expects no
    /// acknowledgement (`+CMS ERROR: 340`, service 0: it acknowledged
    /// itself).
    pub(crate) async fn acknowledge(&self) -> Result<bool, ModemError> {
        match self.run(Command::raw("AT+CNMA").expect("valid")).await {
            Ok(_) => Ok(true),
            Err(ModemError::Rejected {
                result: at::FinalResult::Cms(error),
                ..
            }) if error.code() == Some(340) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Selects `memory` for reading and deleting (e.g. "SR" for stored
    /// status reports), keeping the others. Returns how full it is, where
    /// the modem's answer says.
    pub(crate) async fn select_read_memory(
        &self,
        memory: &str,
    ) -> Result<Option<MemoryUsage>, ModemError> {
        let command = Command::cpms(&[memory]).map_err(|error| ModemError::Parse {
            command: "AT+CPMS".to_owned(),
            error: at::ParseError::Invalid {
                field: "mem1",
                value: error.to_string(),
            },
        })?;
        let lines = self.run(command).await?;
        Ok(lines.iter().find_map(|line| match at::parse_cpms(line) {
            Ok(Cpms::Usage(usage)) => usage.into_iter().next(),
            _ => None,
        }))
    }

    /// Signal and circuit-switched registration only: two commands, for the
    /// periodic status line of an idle daemon.
    pub(crate) async fn radio(&self) -> (Option<at::SignalQuality>, Option<Registration>) {
        let signal = match self.query(Command::csq(), "+CSQ").await {
            Ok(line) => at::parse_csq(&line).ok(),
            Err(_) => None,
        };
        let registration = match self.query(Command::creg_query(), "+CREG").await {
            Ok(line) => at::parse_registration(&line, RegForm::Read).ok(),
            Err(_) => None,
        };
        (signal, registration)
    }

    /// Signal, registration, operator, IMSI, battery and storage, each left
    /// empty when the modem does not answer it.
    pub(crate) async fn status(&self) -> ModemStatus {
        let signal = match self.query(Command::csq(), "+CSQ").await {
            Ok(line) => at::parse_csq(&line).ok(),
            Err(_) => None,
        };
        let mut registration = None;
        for command in [
            Command::creg_query(),
            Command::cereg_query(),
            Command::c5greg_query(),
        ] {
            let Ok(lines) = self.run(command).await else {
                continue;
            };
            let Some(found) = lines
                .iter()
                .find_map(|l| at::parse_registration(l, RegForm::Read).ok())
            else {
                continue;
            };
            let better = match &registration {
                None => true,
                Some(Registration { status, .. }) => {
                    !status.is_registered() && found.status.is_registered()
                }
            };
            if better {
                registration = Some(found);
            }
        }
        let cops = match self.query(Command::cops_query(), "+COPS").await {
            Ok(line) => at::parse_cops(&line).ok(),
            Err(_) => None,
        };
        let technology = registration
            .and_then(|r| r.act)
            .or(cops.as_ref().and_then(|o| o.act));
        let operator = cops.and_then(|o| o.name);
        let imsi = match self.run(Command::cimi()).await {
            Ok(lines) => lines.iter().find_map(|l| at::parse_imsi(l).ok()),
            Err(_) => None,
        };
        let battery = match self.query(Command::cbc(), "+CBC").await {
            Ok(line) => at::parse_cbc(&line).ok(),
            Err(_) => None,
        };
        let mut storage = match self.query(Command::cpms_query(), "+CPMS").await {
            Ok(line) => match at::parse_cpms(&line) {
                Ok(Cpms::Usage(usage)) => usage,
                _ => Vec::new(),
            },
            Err(_) => Vec::new(),
        };
        // The three storages are often the same one.
        storage.dedup_by(|a, b| a.memory == b.memory);
        ModemStatus {
            signal,
            registration,
            operator,
            technology,
            imsi,
            battery,
            storage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::storages_to_read;

    fn read(chosen: &str, supported: &[&str]) -> Vec<String> {
        let supported: Vec<String> = supported.iter().map(|s| (*s).to_owned()).collect();
        storages_to_read(chosen, &supported)
    }

    #[test]
    fn every_offered_storage_is_read_once() {
        assert_eq!(read("SM", &["SM", "ME", "SR"]), ["SM", "ME", "SR"]);
        assert_eq!(read("SM", &["SM", "ME"]), ["SM", "ME"]);
        assert_eq!(read("MT", &["ME", "MT", "SM", "SR"]), ["MT", "SR"]);
        assert_eq!(read("ME", &["ME"]), ["ME"]);
        // Nothing said: the chosen one, and SR on trial.
        assert_eq!(read("SM", &[]), ["SM", "SR"]);
    }
}
