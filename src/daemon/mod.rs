//! The long-running service: watches outbox/, claims and records each file,
//! sends it through the supervised modem, moves it to sent/ or error/, runs
//! the hooks, answers signals and keeps systemd informed.
//!
//! - [`intake`]: from an outbox file to a claimed, recorded message.
//! - [`send`]: sending one message part by part, and what a failure means.
//! - [`retry`]: the retry policy, pure.
//! - [`watcher`]: inotify on outbox/.
//! - [`hooks`]: RunOnSent, RunOnFailure... without shell injection.
//! - [`systemd`], [`logging`]: the process's surroundings.
//!
//! One task runs the loop below, so the store has a single writer and the
//! modem sees one message at a time; hooks run in tasks of their own.

pub mod filter;
pub mod hooks;
pub mod intake;
pub mod logging;
pub mod receive;
pub mod retry;
pub mod send;
pub mod systemd;
pub mod watcher;

use crate::config::Config;
use crate::daemon::logging::Redact;
use crate::modem::supervisor::{self, ModemState, SupervisorHandle};
use crate::modem::ModemConfig;
use crate::spool::fs as spool_fs;
use crate::store::{Store, StoreError};
use hooks::{Hook, HookKind};
use send::Outcome;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use watcher::OutboxEvent;

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The message store.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A spool directory.
    #[error("spool: {0}")]
    Spool(#[from] spool_fs::SpoolIoError),
    /// inotify.
    #[error("cannot watch the outbox: {0}")]
    Watch(#[from] notify::Error),
    /// Signal handlers.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// Writing received messages.
    #[error("receiving: {0}")]
    Receive(receive::ReceiveError),
}

/// What the daemon reports as it works (for `simgate demo` and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonEvent {
    /// The modem is initialised.
    ModemReady {
        /// Manufacturer and model.
        model: String,
    },
    /// A file was claimed and queued.
    Queued {
        /// The file name.
        file: String,
    },
    /// A message went out and its file moved to sent/.
    Sent {
        /// The file name.
        file: String,
        /// TP-MR of each part.
        references: Vec<u8>,
    },
    /// A message arrived and its inbox files were written.
    Received {
        /// The inbox file names, in part order.
        files: Vec<String>,
    },
    /// An incoming call was noticed (and hung up with HangupCalls).
    Call {
        /// The caller, empty when withheld or unknown.
        caller: String,
    },
    /// The receiving storage is still nearly full after a read.
    StorageNearlyFull {
        /// The storage (`SM`, `ME`, `MT`).
        memory: String,
        /// Messages in it.
        used: u32,
        /// Its capacity.
        total: u32,
    },
    /// A message failed and its file moved to error/.
    Failed {
        /// The file name.
        file: String,
        /// Why.
        reason: String,
    },
}

/// What to run with.
pub struct DaemonOptions {
    /// The effective configuration.
    pub config: Config,
    /// The modem to use instead of the one the configuration names (demo
    /// and tests pass the emulator's).
    pub modem: Option<ModemConfig>,
    /// Where to report [`DaemonEvent`]s.
    pub events: Option<mpsc::UnboundedSender<DaemonEvent>>,
    /// Whether to install handlers for SIGTERM, SIGINT, SIGHUP, SIGUSR1/2.
    pub handle_signals: bool,
    /// The file to read again on SIGHUP.
    pub config_path: Option<std::path::PathBuf>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct Daemon {
    config: Config,
    store: Store,
    modem: SupervisorHandle,
    events: Option<mpsc::UnboundedSender<DaemonEvent>>,
    systemd: systemd::Systemd,
    /// Names already reported as unusable, so a rescan does not repeat it.
    reported: HashSet<OsString>,
    /// Files that were still being written when last seen.
    not_ready: HashSet<OsString>,
    /// Signal and registration for the status line, refreshed now and then.
    radio: String,
    /// Unsolicited result codes of the supervised modem (+CMTI, +CDSI...).
    urcs: mpsc::Receiver<crate::at::Urc>,
    /// A send failed for the modem's state: initialise it again.
    recheck_modem: bool,
    /// When the last incoming call was handled.
    last_call_ms: i64,
    /// Incoming filters, loaded at start and on SIGHUP.
    filters: filter::Filters,
    /// Whether the modem waits for `AT+CNMA` after `+CMT`/`+CDS`: learnt
    /// from the first acknowledgement of each modem session.
    acknowledge: Option<bool>,
    /// The receiving storage was reported nearly full and has not drained since.
    storage_warned: bool,
}

/// How full (in percent) the receiving storage may stay after a read
/// before simgate warns.
pub const NEARLY_FULL_PERCENT: u32 = 80;

/// How empty (in percent) the receiving storage must become before simgate
/// warns again when it fills.
pub const DRAINED_PERCENT: u32 = 60;

/// Runs until `shutdown` completes (or SIGTERM/SIGINT when signals are handled).
pub async fn run(
    options: DaemonOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let DaemonOptions {
        config,
        modem: modem_override,
        events,
        handle_signals,
        config_path,
    } = options;
    let store = Store::open(&config.database.path)?;
    let (modem, urcs) = supervisor::spawn(
        modem_override
            .clone()
            .unwrap_or_else(|| config.modem_config()),
    );
    let mut daemon = Daemon {
        urcs,
        config,
        store,
        modem,
        events,
        systemd: systemd::Systemd::from_env(),
        reported: HashSet::new(),
        not_ready: HashSet::new(),
        radio: String::new(),
        recheck_modem: false,
        last_call_ms: 0,
        filters: filter::Filters::default(),
        acknowledge: None,
        storage_warned: false,
    };
    daemon.filters = filter::Filters::load(&daemon.config.filters);
    daemon.recover()?;
    daemon.remove_orphaned_temps();
    receive::finish_unwritten(&daemon.config, &mut daemon.store).map_err(DaemonError::Receive)?;
    let recorded = receive::complete_recorded(&daemon.config, &mut daemon.store, now_ms())
        .map_err(DaemonError::Receive)?;
    daemon.received(recorded);
    // Hooks a killed simgate never started (its files were written).
    for message in receive::pending_hooks(&daemon.store).map_err(DaemonError::Receive)? {
        tracing::info!(
            id = message.id,
            "starting RunOnReceive, which did not start before the restart"
        );
        daemon.run_receive_hook(&message);
    }
    let (_watcher, mut outbox_events) = watcher::watch(&daemon.config.spool.outbox)?;
    daemon.rescan()?;
    let stop = StopFlag::default();
    // Without signal handling, a sender kept alive makes `recv` simply wait.
    let (_no_signals, idle) = mpsc::unbounded_channel::<Signal>();
    let mut signals = if handle_signals {
        signal_task(stop.clone()).map_err(DaemonError::Signals)?
    } else {
        idle
    };
    let mut rescan = tokio::time::interval(
        daemon
            .config
            .spool
            .scan_interval
            .max(Duration::from_secs(1)),
    );
    rescan.tick().await;
    let watchdog_every = daemon
        .systemd
        .watchdog_interval()
        .unwrap_or(Duration::from_secs(3600));
    let mut watchdog = tokio::time::interval(watchdog_every);
    let status_every = daemon.config.modem.status_interval;
    let mut radio_refresh = tokio::time::interval(if status_every.is_zero() {
        Duration::from_secs(86_400)
    } else {
        status_every
    });
    let reset_every = daemon
        .config
        .modem
        .reset_interval
        .max(daemon.config.modem.hard_reset_interval);
    let mut reset = tokio::time::interval(if reset_every.is_zero() {
        Duration::from_secs(86_400)
    } else {
        reset_every
    });
    reset.tick().await;
    let mut modem_state = daemon.modem.watch();
    let mut ready_announced = false;
    let mut receive_poll = tokio::time::interval(receive::poll_interval(&daemon.config));
    receive_poll.tick().await;
    let mut multipart_check =
        tokio::time::interval(receive::multipart_check_interval(&daemon.config));
    tokio::pin!(shutdown);
    loop {
        let next_due = daemon.next_due()?;
        tokio::select! {
            () = &mut shutdown => break,
            signal = signals.recv() => match signal {
                Some(Signal::Stop) | None => break,
                Some(Signal::Reload) => {
                    daemon.systemd.reloading();
                    daemon.reload(config_path.as_deref(), modem_override.clone()).await;
                    multipart_check = tokio::time::interval(receive::multipart_check_interval(&daemon.config));
                    modem_state = daemon.modem.watch();
                    daemon.systemd.ready();
                }
                Some(Signal::Suspend) => daemon.modem.suspend().await,
                Some(Signal::Resume) => daemon.modem.resume().await,
            },
            event = outbox_events.recv() => match event {
                Some(OutboxEvent::Candidate(path)) => {
                    if let Some(name) = path.file_name() {
                        daemon.candidate(name.to_owned(), Duration::ZERO)?;
                    }
                }
                Some(OutboxEvent::Rescan) | None => daemon.rescan()?,
            },
            _ = rescan.tick() => daemon.rescan()?,
            _ = watchdog.tick() => daemon.systemd.watchdog(),
            urc = daemon.urcs.recv() => {
                if let Some(urc) = urc {
                    daemon.unsolicited(urc).await;
                }
            }
            _ = receive_poll.tick(), if daemon.modem_ready() => daemon.receive(None).await,
            _ = multipart_check.tick() => {
                match receive::flush_stale(&daemon.config, &mut daemon.store, now_ms()) {
                    Ok(received) => daemon.received(received),
                    Err(error) => tracing::error!(%error, "cannot write incomplete multipart messages"),
                }
            }
            _ = reset.tick(), if !reset_every.is_zero() => {
                tracing::info!("periodic modem reset (reset_interval)");
                daemon.modem.reconnect().await;
            }
            _ = radio_refresh.tick(), if !status_every.is_zero() && daemon.modem_ready() => {
                daemon.refresh_radio().await;
                daemon.status_line()?;
            }
            changed = modem_state.changed() => {
                if changed.is_err() { break; }
                let state = modem_state.borrow_and_update().clone();
                if let ModemState::Ready { report, .. } = state {
                    let model = format!(
                        "{} {}",
                        report.identity.manufacturer.as_deref().unwrap_or("modem"),
                        report.identity.model.as_deref().unwrap_or("")
                    );
                    daemon.emit(DaemonEvent::ModemReady { model: model.trim().to_owned() });
                    // A new session: learn again whether it wants +CNMA.
                    daemon.acknowledge = None;
                    // Read what arrived while simgate was away.
                    daemon.receive(None).await;
                    if !ready_announced {
                        daemon.systemd.ready();
                        ready_announced = true;
                    }
                }
                daemon.status_line()?;
            }
            () = sleep_until_ms(next_due), if daemon.modem_ready() => {
                daemon.send_due(&stop).await?;
                daemon.status_line()?;
            }
        }
    }
    daemon.systemd.stopping();
    tracing::info!("stopping");
    daemon.modem.shutdown().await;
    Ok(())
}

async fn sleep_until_ms(due: Option<i64>) {
    match due {
        Some(due) => {
            let wait = due.saturating_sub(now_ms()).max(0) as u64;
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        None => std::future::pending().await,
    }
}

impl Daemon {
    fn emit(&self, event: DaemonEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    fn modem_ready(&self) -> bool {
        matches!(self.modem.state(), ModemState::Ready { .. })
    }

    fn next_due(&self) -> Result<Option<i64>, StoreError> {
        self.store.next_due_ms()
    }

    /// After a restart: parts left `sending` become ambiguous; claimed files
    /// are matched to their rows, finished ones moved on, unknown ones read.
    fn recover(&mut self) -> Result<(), DaemonError> {
        let ambiguous = self.store.recover(now_ms())?;
        if !ambiguous.is_empty() {
            tracing::warn!(
                count = ambiguous.len(),
                "messages interrupted mid-send are ambiguous; not resent"
            );
        }
        for claimed in spool_fs::claimed_files(&self.config.spool.outbox)? {
            let key = intake::claim_key(&claimed);
            match self.store.by_claim_key(&key)? {
                Some(row) if row.state.is_final() => {
                    let sent = row.state == crate::store::MessageState::Sent;
                    intake::finish_file(&self.config, &mut self.store, row.id, &claimed, sent)?;
                }
                Some(_) => {}
                None => {
                    let name = claimed.name.to_string_lossy().into_owned();
                    match crate::spool::classify_outbox_name(&name) {
                        Ok(Some(parsed)) => {
                            intake::record(
                                &self.config,
                                &mut self.store,
                                &claimed,
                                &parsed,
                                now_ms(),
                            )?;
                        }
                        _ => {
                            spool_fs::unclaim(&self.config.spool.outbox, &claimed)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Scans outbox/ for every candidate, in gammu's order.
    fn rescan(&mut self) -> Result<(), DaemonError> {
        let settle = self.config.spool.settle_time;
        for entry in spool_fs::scan_outbox(&self.config.spool.outbox)? {
            let name = match entry {
                spool_fs::ScanEntry::Outbox(parsed) => OsString::from(parsed.name),
                spool_fs::ScanEntry::Invalid { name, error } => {
                    self.report_unusable(name, format!("not a usable outbox file name: {error}"));
                    continue;
                }
                spool_fs::ScanEntry::NotRegular { name, kind } => {
                    self.report_unusable(
                        name,
                        format!("not a regular file ({kind:?}); left where it is"),
                    );
                    continue;
                }
            };
            // Files seen by inotify were settled on close; others wait the settle time.
            let window = if self.not_ready.contains(&name) {
                settle
            } else {
                Duration::ZERO
            };
            self.candidate(name, window)?;
        }
        Ok(())
    }

    /// Logs (and reports) once that an outbox entry cannot be used.
    fn report_unusable(&mut self, name: OsString, reason: String) {
        if self.reported.insert(name.clone()) {
            tracing::warn!(file = %Redact(name.to_string_lossy()), %reason, "outbox entry ignored");
            self.emit(DaemonEvent::Failed {
                file: name.to_string_lossy().into_owned(),
                reason,
            });
        }
    }

    fn candidate(&mut self, name: OsString, settle: Duration) -> Result<(), DaemonError> {
        match intake::take(&self.config, &mut self.store, &name, settle, now_ms())? {
            intake::Intake::Queued(_) => {
                self.not_ready.remove(&name);
                self.emit(DaemonEvent::Queued {
                    file: name.to_string_lossy().into_owned(),
                });
            }
            intake::Intake::NotReady => {
                self.not_ready.insert(name);
            }
            intake::Intake::Rejected(reason) => self.report_unusable(name, reason),
            intake::Intake::Ignored => {}
        }
        Ok(())
    }

    /// Sends every message due now, one at a time, stopping early when a
    /// stop was requested (the AT transaction in flight still finishes).
    async fn send_due(&mut self, stop: &StopFlag) -> Result<(), DaemonError> {
        let due = self.store.due(now_ms(), 64)?;
        for id in due {
            if !self.modem_ready() || stop.is_set() {
                break;
            }
            if std::mem::take(&mut self.recheck_modem) {
                tracing::info!("a send failed for the modem's state; initialising it again");
                self.modem.reconnect().await;
                break;
            }
            let outcome = send::send(
                &self.config,
                &mut self.store,
                &self.modem,
                id,
                now_ms,
                &|| stop.is_set(),
            )
            .await?;
            self.after(outcome);
        }
        Ok(())
    }

    fn after(&mut self, outcome: Outcome) {
        let hooks = &self.config.hooks;
        match outcome {
            Outcome::Sent {
                file,
                recipient,
                references,
                ..
            } => {
                if let Some(command) = &hooks.run_on_sent {
                    let mut env = BTreeMap::new();
                    env.insert("SMS_MESSAGES".to_owned(), references.len().to_string());
                    env.insert(
                        "PHONE_ID".to_owned(),
                        hooks.phone_id.clone().unwrap_or_default(),
                    );
                    env.insert("DECODED_PARTS".to_owned(), "0".to_owned());
                    for (index, reference) in references.iter().enumerate() {
                        let n = index + 1;
                        env.insert(format!("SMS_{n}_NUMBER"), recipient.clone());
                        env.insert(format!("SMS_{n}_REFERENCE"), reference.to_string());
                        env.insert(format!("SMS_{n}_CLASS"), "-1".to_owned());
                    }
                    Hook {
                        kind: HookKind::Sent,
                        command: command.clone(),
                        args: vec![file.clone()],
                        env,
                        timeout: hooks.timeout,
                    }
                    .spawn();
                }
                self.emit(DaemonEvent::Sent { file, references });
            }
            Outcome::Failed { file, reason } => {
                if let Some(command) = &hooks.run_on_failure {
                    let mut env = BTreeMap::new();
                    env.insert(
                        "PHONE_ID".to_owned(),
                        hooks.phone_id.clone().unwrap_or_default(),
                    );
                    Hook {
                        kind: HookKind::Failure,
                        command: command.clone(),
                        args: vec![file.clone()],
                        env,
                        timeout: hooks.timeout,
                    }
                    .spawn();
                }
                self.emit(DaemonEvent::Failed { file, reason });
            }
            Outcome::Retry(_) | Outcome::Interrupted => {}
            // The modem or its SIM is not in a state to send (a SIM that
            // locked itself again after a modem reset, no network): with
            // CheckSecurity, initialise again, which checks the SIM under
            // the PIN guard.
            Outcome::WaitForModem => self.recheck_modem = self.config.modem.check_sim,
        }
    }

    /// Reads the storage a `+CMTI`/`+CDSI` named, or with `None` every
    /// storage the modem uses, and writes what arrived.
    async fn receive(&mut self, only: Option<&str>) {
        if !self.config.receive.enabled {
            return;
        }
        let ModemState::Ready { modem, report, .. } = self.modem.state() else {
            return;
        };
        let storages: Vec<String> = match only {
            Some(memory) if !memory.is_empty() => vec![memory.to_owned()],
            _ => report.read_storages.clone(),
        };
        let mut received = Vec::new();
        for memory in storages.iter().map(String::as_str) {
            match receive::read_memory(
                &self.config,
                &self.filters,
                &mut self.store,
                &modem,
                (memory, memory == report.storage),
                now_ms(),
            )
            .await
            {
                Ok(found) => received.extend(found),
                // Many modems have no SR storage; reports then come with the messages.
                Err(receive::ReceiveError::Modem(_)) if memory == "SR" && only.is_none() => {}
                Err(error) => tracing::error!(memory, %error, "reading received messages failed"),
            }
        }
        // Leave the main storage selected for the next +CMTI; its answer
        // says how full it still is.
        if let Ok(Some(usage)) = modem.select_read_memory(&report.storage).await {
            self.check_storage(&report.storage, usage.used, usage.total);
        }
        self.received(received);
        self.update_status();
    }

    /// Removes temporary files a killed simgate left in the spool folders
    /// it writes into (their contents were never renamed into place, and
    /// are rewritten from the database).
    fn remove_orphaned_temps(&self) {
        let spool = &self.config.spool;
        let dirs = [
            Some(&spool.inbox),
            spool.sent.as_ref(),
            spool.error.as_ref(),
        ];
        for dir in dirs.into_iter().flatten() {
            match crate::spool::fs::remove_orphaned_temps(dir) {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::info!(dir = %dir.display(), removed, "removed temporary files of a killed simgate")
                }
                Err(error) => tracing::warn!(%error, "cannot remove temporary files"),
            }
        }
    }

    /// Warns when the receiving storage is still nearly full after reading
    /// (messages the filters leave there, or that cannot be deleted): once
    /// when it reaches [`NEARLY_FULL_PERCENT`], again only after it has
    /// drained below [`DRAINED_PERCENT`].
    fn check_storage(&mut self, memory: &str, used: u32, total: u32) {
        let nearly_full = total > 0 && used * 100 >= total * NEARLY_FULL_PERCENT;
        let drained = used * 100 < total * DRAINED_PERCENT;
        if nearly_full && !self.storage_warned {
            tracing::warn!(
                memory,
                used,
                total,
                "message storage nearly full: new messages will be refused by the modem when it is full"
            );
            self.emit(DaemonEvent::StorageNearlyFull {
                memory: memory.to_owned(),
                used,
                total,
            });
        }
        if nearly_full {
            self.storage_warned = true;
        } else if drained {
            // Well below the mark: warn again next time it fills. (Just
            // below it, one more message or one fewer must not warn again.)
            self.storage_warned = false;
        }
    }

    /// Acts on `first` and every unsolicited result code already queued
    /// behind it: routed messages and calls one by one, storage
    /// announcements (`+CMTI`, `+CDSI`) by one read per storage they name,
    /// however many there were.
    async fn unsolicited(&mut self, first: crate::at::Urc) {
        use crate::at::Urc;
        let mut batch = vec![first];
        while let Ok(more) = self.urcs.try_recv() {
            batch.push(more);
        }
        let mut storages: Vec<String> = Vec::new();
        for urc in batch {
            match urc {
                Urc::NewMessage(at) | Urc::StatusReportStored(at)
                    if !storages.contains(&at.memory) =>
                {
                    storages.push(at.memory);
                }
                Urc::Deliver { pdu, .. } | Urc::StatusReport { pdu, .. } => {
                    self.routed(Ok(&pdu)).await;
                }
                Urc::Malformed { line, error }
                    if line.starts_with("+CMT:") || line.starts_with("+CDS:") =>
                {
                    self.routed(Err((&line, &error.to_string()))).await;
                }
                Urc::CallerId(clip) => self.incoming_call(&clip.number).await,
                Urc::Ring => self.incoming_call("").await,
                _ => {}
            }
        }
        for memory in storages {
            self.receive(Some(&memory)).await;
        }
    }

    /// A message or report the modem routed raw (`+CMT`/`+CDS`), or one
    /// whose PDU line did not parse: recorded like a stored one, then
    /// acknowledged (`AT+CNMA`) where the modem waits for it. Not
    /// acknowledged when it could not be recorded, so the network tries
    /// again.
    async fn routed(&mut self, pdu: Result<&[u8], (&str, &str)>) {
        if !self.config.receive.enabled {
            return;
        }
        let now = now_ms();
        let taken = match pdu {
            Ok(pdu) => receive::take(&self.config, &self.filters, &mut self.store, pdu, now),
            Err((line, reason)) => {
                let key = format!("line:{line}");
                receive::keep_undecodable(&mut self.store, &key, line, reason, now)
                    .map(|()| receive::Taken::Done(None))
            }
        };
        match taken {
            Ok(receive::Taken::Done(received)) => {
                self.received(received.into_iter().collect());
                self.update_status();
            }
            // Routed raw, a filtered message is on no SIM to be left on.
            Ok(receive::Taken::Filtered) => {}
            Err(error) => {
                tracing::error!(%error, "cannot record a routed message; not acknowledged");
                return;
            }
        }
        if self.acknowledge == Some(false) {
            return;
        }
        if let ModemState::Ready { modem, .. } = self.modem.state() {
            match modem.acknowledge().await {
                Ok(expected) => self.acknowledge = Some(expected),
                Err(error) => tracing::warn!(%error, "cannot acknowledge a routed message"),
            }
        }
    }

    /// An incoming call (RING, or +CLIP with the caller): gammu's
    /// HangupCalls and RunOnIncomingCall. RING repeats every few seconds, so
    /// one call is handled once (at most once per 5 s, as gammu does); when
    /// the modem names callers, a bare RING waits for the +CLIP that follows.
    async fn incoming_call(&mut self, caller: &str) {
        let now = now_ms();
        let caller_id = match self.modem.state() {
            ModemState::Ready { report, .. } => report.caller_id,
            _ => false,
        };
        if caller.is_empty() && caller_id {
            return;
        }
        if now - self.last_call_ms < 5_000 {
            return;
        }
        self.last_call_ms = now;
        let hang_up = self.config.hooks.hangup_calls;
        tracing::info!(caller = %Redact(caller), hang_up, "incoming call");
        if hang_up {
            if let ModemState::Ready { modem, .. } = self.modem.state() {
                if let Err(error) = modem
                    .run(crate::at::Command::raw("ATH").expect("valid"))
                    .await
                {
                    tracing::warn!(%error, "cannot hang up the call");
                }
            }
            if let Some(command) = &self.config.hooks.run_on_incoming_call {
                let mut env = BTreeMap::new();
                env.insert(
                    "PHONE_ID".to_owned(),
                    self.config.hooks.phone_id.clone().unwrap_or_default(),
                );
                Hook {
                    kind: HookKind::IncomingCall,
                    command: command.clone(),
                    args: vec![caller.to_owned()],
                    env,
                    timeout: self.config.hooks.timeout,
                }
                .spawn();
            }
        }
        if let Err(error) = self.store.add_call(caller, hang_up, now) {
            tracing::error!(%error, "cannot record the call");
        }
        self.emit(DaemonEvent::Call {
            caller: caller.to_owned(),
        });
    }

    /// Runs RunOnReceive and reports each received message.
    fn received(&mut self, received: Vec<receive::Received>) {
        for message in received {
            self.run_receive_hook(&message);
            self.emit(DaemonEvent::Received {
                files: message.files,
            });
        }
    }

    /// Starts RunOnReceive for `message`, and records that it was started
    /// so a restart does not start it again.
    fn run_receive_hook(&mut self, message: &receive::Received) {
        let Some(command) = &self.config.hooks.run_on_receive else {
            return;
        };
        Hook {
            kind: HookKind::Receive,
            command: command.clone(),
            args: message.files.clone(),
            env: crate::spool::inbox::receive_environment(
                &message.parts,
                self.config.hooks.phone_id.as_deref(),
            ),
            timeout: self.config.hooks.timeout,
        }
        .spawn();
        if let Some(id) = message.id {
            if let Err(error) = self.store.hook_started(id) {
                tracing::error!(%error, "cannot record that RunOnReceive was started");
            }
        }
    }

    /// SIGHUP: reads the configuration again and reconnects to the modem
    /// with its settings. The outbox and the database stay as they were
    /// (changing them needs a restart, and says so); a configuration that
    /// does not load keeps the old one running.
    async fn reload(
        &mut self,
        path: Option<&std::path::Path>,
        modem_override: Option<ModemConfig>,
    ) {
        let Some(path) = path else {
            tracing::info!("SIGHUP: reconnecting to the modem");
            self.modem.reconnect().await;
            return;
        };
        match crate::config::load(path) {
            Ok(loaded) => {
                loaded.log_notices();
                let mut config = loaded.config;
                if config.spool.outbox != self.config.spool.outbox
                    || config.database.path != self.config.database.path
                {
                    tracing::warn!(
                        "SIGHUP: a new outbox or database path takes effect at the next restart"
                    );
                    config.spool.outbox = self.config.spool.outbox.clone();
                    config.database.path = self.config.database.path.clone();
                }
                self.config = config;
                self.filters = filter::Filters::load(&self.config.filters);
                let (modem, urcs) =
                    supervisor::spawn(modem_override.unwrap_or_else(|| self.config.modem_config()));
                self.urcs = urcs;
                let old = std::mem::replace(&mut self.modem, modem);
                old.shutdown().await;
                tracing::info!(config = %path.display(), "SIGHUP: configuration reloaded, modem reconnecting");
            }
            Err(error) => {
                tracing::error!(config = %path.display(), %error, "SIGHUP: configuration not reloaded; keeping the old one");
            }
        }
    }

    /// Reads signal and registration for the status line.
    async fn refresh_radio(&mut self) {
        let ModemState::Ready { modem, .. } = self.modem.state() else {
            return;
        };
        let (signal, registration) = modem.radio().await;
        let signal = signal
            .and_then(|s| s.dbm())
            .map_or("signal unknown".to_owned(), |dbm| {
                format!("signal {dbm} dBm")
            });
        let registration = match registration {
            Some(r) if r.status.is_registered() => "registered",
            Some(_) => "not registered",
            None => "registration unknown",
        };
        self.radio = format!("{signal}, {registration}");
    }

    /// One line of state for systemd.
    /// [`status_line`](Self::status_line), where a database error is only
    /// logged.
    fn update_status(&self) {
        if let Err(error) = self.status_line() {
            tracing::error!(%error, "cannot read the counts for the status line");
        }
    }

    fn status_line(&self) -> Result<(), StoreError> {
        let counts = self.store.counts()?;
        let modem = match self.modem.state() {
            ModemState::Ready { .. } => "modem ready",
            ModemState::Connecting { .. } => "modem connecting",
            ModemState::Suspended => "modem released (SIGUSR1)",
            ModemState::Stopped => "modem stopped",
        };
        let received = self.store.received_count()?;
        let undecodable = self.store.undecodable_count()?;
        self.systemd.status(&format!(
            "{modem}; queue {}, sent {}, failed {}, ambiguous {}; received {received}, undecodable {undecodable}; {}",
            counts.queued, counts.sent, counts.failed, counts.ambiguous, self.radio
        ));
        Ok(())
    }
}

/// The signals the daemon answers.
enum Signal {
    Stop,
    Reload,
    Suspend,
    Resume,
}

/// Set once SIGTERM or SIGINT arrived; checked between parts.
#[derive(Debug, Clone, Default)]
struct StopFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl StopFlag {
    fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Listens for the signals in a task of its own, so a stop request is seen
/// even while a message is being sent.
fn signal_task(stop: StopFlag) -> std::io::Result<mpsc::UnboundedReceiver<Signal>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let signal = tokio::select! {
                _ = term.recv() => Signal::Stop,
                _ = int.recv() => Signal::Stop,
                _ = hup.recv() => Signal::Reload,
                _ = usr1.recv() => Signal::Suspend,
                _ = usr2.recv() => Signal::Resume,
            };
            if matches!(signal, Signal::Stop) {
                if stop.is_set() {
                    // A second stop request: leave at once.
                    std::process::exit(1);
                }
                stop.set();
            }
            if sender.send(signal).is_err() {
                break;
            }
        }
    });
    Ok(receiver)
}
