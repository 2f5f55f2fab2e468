//! The long-running service: watches outbox/ and sends what arrives there
//! through the supervised modem, reads what the modem receives into inbox/,
//! runs the hooks, answers signals and keeps systemd informed.
//!
//! - [`outbox`]: from an outbox file to a queued message; cancellations,
//!   moves to sent/ and error/, the watch on the folder.
//! - [`send`]: sending one message part by part, what a failure means, and
//!   asking the modem about a part that may have gone out.
//! - [`tp_mr`]: what the modem's TP-MR counter says about such a part. Pure.
//! - [`retry`]: the retry policy. Pure.
//! - [`receive`]: from the modem's storage to inbox files.
//! - [`watcher`]: inotify on outbox/.
//! - [`hooks`]: RunOnSent, RunOnFailure... without shell injection.
//! - [`filter`]: gammu's sender and SMSC filters.
//! - [`systemd`], [`logging`], [`signals`]: the process's surroundings.
//!
//! One task runs the loop below, so the store has a single writer and the
//! modem sees one message at a time; hooks run in tasks of their own.

pub mod filter;
pub mod hooks;
pub mod logging;
mod outbox;
pub mod receive;
pub mod retry;
pub mod send;
mod signals;
pub mod systemd;
pub mod tp_mr;
pub mod watcher;

use crate::config::Config;
use crate::daemon::logging::Redact;
use crate::instance::{self, InstanceError};
use crate::modem::supervisor::{self, ModemState, SupervisorHandle};
use crate::modem::ModemConfig;
use crate::modem::PinMemory;
use crate::store::{PinRecords, Store, StoreError};
use hooks::{Hook, HookKind};
use send::{MrTracker, Outcome};
use signals::{Signal, StopFlag};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The message store.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Another daemon has the state, the outbox or the modem, or the state
    /// cannot be had.
    #[error("{0}")]
    Instance(#[from] InstanceError),
    /// No database path was given (the caller resolves it, see
    /// [`crate::instance`]).
    #[error("no database path: set [database] path")]
    NoDatabase,
    /// Signal handlers.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// What the daemon reports as it works (for `simgate demo` and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonEvent {
    /// The modem is initialised.
    ModemReady {
        /// Manufacturer and model.
        model: String,
    },
    /// A file was taken in and its message queued.
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
    /// A send failed in a way worth another try: the message waits, its
    /// file back in outbox/.
    Waiting {
        /// The file name.
        file: String,
        /// Why.
        reason: String,
    },
    /// The file of a finished message, which could not be moved before,
    /// was moved to sent/ or error/ after all.
    FileMoved {
        /// The file name.
        file: String,
    },
    /// A waiting message was cancelled: its file was deleted (or replaced)
    /// in outbox/ before it went out.
    Cancelled {
        /// The file name.
        file: String,
        /// Why.
        reason: String,
    },
}

/// What to run with.
pub struct DaemonOptions {
    /// The effective configuration; its database path must be set
    /// ([`crate::instance`] finds one for a configuration file).
    pub config: Config,
    /// The modem to use instead of the one the configuration names (demo
    /// and tests pass the emulator's).
    pub modem: Option<ModemConfig>,
    /// Where to report [`DaemonEvent`]s.
    pub events: Option<mpsc::UnboundedSender<DaemonEvent>>,
    /// Whether to install handlers for SIGTERM, SIGINT, SIGHUP, SIGUSR1/2.
    pub handle_signals: bool,
    /// The file to read again on SIGHUP.
    pub config_path: Option<PathBuf>,
}

fn now_ms() -> i64 {
    outbox::ms(SystemTime::now())
}

struct Daemon {
    config: Config,
    store: Store,
    modem: SupervisorHandle,
    events: Option<mpsc::UnboundedSender<DaemonEvent>>,
    systemd: systemd::Systemd,
    /// The outbox and its watch (`None` with `Send = no`).
    outbox: Option<outbox::Outbox>,
    /// What is known of the modem's TP-MR counter in this session.
    tracker: MrTracker,
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
    /// Received messages whose inbox files could not be written: when to
    /// try again.
    inbox_retry: InboxRetry,
    /// Where the modem supervisor remembers PIN outcomes.
    pins: Arc<dyn PinMemory>,
    _state_lock: instance::Lock,
}

/// Writing inbox files again after a failure (disk full, folder missing,
/// permissions), with a growing delay, in the order the messages came.
#[derive(Debug, Default)]
struct InboxRetry {
    next: Option<tokio::time::Instant>,
    delay: Duration,
    failures: u32,
}

impl InboxRetry {
    const FIRST: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(60);

    fn failed(&mut self, error: &receive::ReceiveError) {
        self.failures += 1;
        if self.failures == 1 || self.failures.is_multiple_of(30) {
            tracing::error!(error = %crate::redact::Scrub(&error), failures = self.failures, "cannot write received messages to the inbox; they stay on the SIM and in the database, and are written as soon as possible");
        }
        self.delay = if self.delay.is_zero() {
            Self::FIRST
        } else {
            (self.delay * 2).min(Self::MAX)
        };
        self.next = Some(tokio::time::Instant::now() + self.delay);
    }

    fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                failures = self.failures,
                "received messages written to the inbox after all"
            );
        }
        *self = Self::default();
    }
}

/// How full (in percent) the receiving storage may stay after a read
/// before simgate warns.
pub const NEARLY_FULL_PERCENT: u32 = 80;

/// How empty (in percent) the receiving storage must become before simgate
/// warns again when it fills.
pub const DRAINED_PERCENT: u32 = 60;

/// Whether to warn that the receiving storage is nearly full, with `used`
/// of `total` in use and `warned` whether it was reported and has not
/// drained since; returns that and the new `warned`. It warns once when it
/// reaches [`NEARLY_FULL_PERCENT`], and again only after it has drained
/// below [`DRAINED_PERCENT`] (just below the mark, one more message or one
/// fewer must not warn again). Any counts a modem reports, without
/// overflow.
pub fn storage_warning(used: u32, total: u32, warned: bool) -> (bool, bool) {
    let share = |percent: u32| u64::from(total) * u64::from(percent);
    let used_share = u64::from(used) * 100;
    let nearly_full = total > 0 && used_share >= share(NEARLY_FULL_PERCENT);
    let drained = used_share < share(DRAINED_PERCENT);
    if nearly_full {
        (!warned, true)
    } else {
        (false, warned && !drained)
    }
}

/// An interval for a setting where zero means never.
fn every(period: Duration) -> Option<tokio::time::Interval> {
    (!period.is_zero()).then(|| {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    })
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A wall-clock time as a tokio deadline.
fn deadline(at: Option<SystemTime>) -> Option<tokio::time::Instant> {
    at.map(|at| {
        let wait = at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tokio::time::Instant::now() + wait
    })
}

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
    let database = config
        .database
        .path
        .clone()
        .ok_or(DaemonError::NoDatabase)?;
    // One daemon per state, outbox and modem: a second one stops here,
    // before it touches anything.
    let state_lock = instance::patiently(|| instance::lock_database(&database)).await?;
    let outbox_lock = if config.send.enabled {
        let outbox = &config.spool.outbox;
        Some(instance::patiently(|| instance::lock_dir(outbox, "outbox")).await?)
    } else {
        None
    };
    let mut modem_config = modem_override
        .clone()
        .unwrap_or_else(|| config.modem_config());
    let device = &modem_config.device;
    instance::patiently(|| crate::modem::port::check_not_held(device)).await?;
    let store = Store::open(&database)?;
    // What each SIM did with the PIN outlives reloads and restarts.
    let pins: Arc<dyn PinMemory> = Arc::new(PinRecords::open(&database)?);
    modem_config.pins = pins.clone();
    let (modem, urcs) = supervisor::spawn(modem_config);
    let (outbox, mut outbox_events) = if config.send.enabled {
        let (outbox, events) = outbox::Outbox::new(&config.spool.outbox, outbox_lock);
        (Some(outbox), events)
    } else {
        (None, mpsc::channel(1).1)
    };
    if !config.send.enabled {
        tracing::info!("Send = no: the outbox is not watched and nothing is sent");
    }
    if !config.receive.enabled {
        tracing::info!("Receive = no: incoming messages are left on the modem");
    }
    let tracker = MrTracker::new(&store, None);
    let mut daemon = Daemon {
        urcs,
        config,
        store,
        modem,
        events,
        systemd: systemd::Systemd::from_env(),
        outbox,
        tracker,
        radio: String::new(),
        recheck_modem: false,
        last_call_ms: 0,
        filters: filter::Filters::default(),
        acknowledge: None,
        storage_warned: false,
        inbox_retry: InboxRetry::default(),
        pins,
        _state_lock: state_lock,
    };
    daemon.filters = filter::Filters::load(&daemon.config.filters);
    daemon.recover()?;
    daemon.remove_orphaned_temps();
    daemon.write_unwritten();
    let recorded = receive::complete_recorded(&daemon.config, &mut daemon.store, now_ms());
    match recorded {
        Ok(recorded) => daemon.received(recorded),
        Err(error) => {
            daemon.inbox_retry.failed(&error);
        }
    }
    // Hooks a killed simgate never started (its files were written).
    match receive::pending_hooks(&daemon.store) {
        Ok(pending) => {
            for message in pending {
                tracing::info!(
                    id = message.id,
                    "starting RunOnReceive, which did not start before the restart"
                );
                daemon.run_receive_hook(&message);
            }
        }
        Err(error) => {
            tracing::error!(error = %crate::redact::Scrub(&error), "cannot read which hooks are pending")
        }
    }
    let stop = StopFlag::default();
    // Without signal handling, a sender kept alive makes `recv` simply wait.
    let (_no_signals, idle) = mpsc::unbounded_channel::<Signal>();
    let mut signals = if handle_signals {
        signals::listen(stop.clone()).map_err(DaemonError::Signals)?
    } else {
        idle
    };
    let mut rescan = every(
        daemon
            .config
            .spool
            .scan_interval
            .max(Duration::from_secs(1)),
    );
    let mut folder_check = tokio::time::interval(outbox::FOLDER_CHECK);
    let mut watchdog = every(daemon.systemd.watchdog_interval().unwrap_or(Duration::ZERO));
    let mut radio_refresh = every(daemon.config.modem.status_interval);
    let mut soft_reset = every(daemon.config.modem.reset_interval);
    let mut hard_reset = every(daemon.config.modem.hard_reset_interval);
    let mut modem_state = daemon.modem.watch();
    let mut ready_announced = false;
    let mut receive_poll = every(receive::poll_interval(&daemon.config));
    let mut multipart_check = every(receive::multipart_check_interval(&daemon.config));
    tokio::pin!(shutdown);
    loop {
        let next_due = daemon.next_due()?;
        let outbox_due = deadline(daemon.outbox.as_ref().and_then(outbox::Outbox::next_due));
        let watch_dead = daemon
            .outbox
            .as_ref()
            .is_some_and(outbox::Outbox::watch_dead);
        tokio::select! {
            () = &mut shutdown => break,
            signal = signals.recv() => match signal {
                Some(Signal::Stop) | None => break,
                Some(Signal::Reload) => {
                    daemon.systemd.reloading();
                    daemon.reload(config_path.as_deref(), modem_override.clone()).await;
                    multipart_check = every(receive::multipart_check_interval(&daemon.config));
                    receive_poll = every(receive::poll_interval(&daemon.config));
                    modem_state = daemon.modem.watch();
                    daemon.systemd.ready();
                }
                Some(Signal::Suspend) => daemon.modem.suspend().await,
                Some(Signal::Resume) => daemon.modem.resume().await,
            },
            event = outbox_events.recv() => {
                if let (Some(event), Some(outbox)) = (event, daemon.outbox.as_mut()) {
                    let now = SystemTime::now();
                    outbox.note(event, now);
                    // The whole burst at once: one batch, one /proc scan.
                    while let Ok(more) = outbox_events.try_recv() {
                        outbox.note(more, now);
                    }
                }
            }
            () = sleep_until(outbox_due) => daemon.process_outbox()?,
            _ = folder_check.tick(), if watch_dead => {
                if let Some(outbox) = daemon.outbox.as_mut() {
                    outbox.check_watch();
                }
            }
            () = tick(&mut rescan) => {
                if let Some(outbox) = daemon.outbox.as_mut() {
                    outbox.check_watch();
                    outbox.request_rescan();
                }
            }
            () = tick(&mut watchdog) => daemon.systemd.watchdog(),
            urc = daemon.urcs.recv() => {
                if let Some(urc) = urc {
                    daemon.unsolicited(urc).await;
                }
            }
            () = tick(&mut receive_poll), if daemon.modem_ready() => daemon.receive(None).await,
            () = tick(&mut multipart_check) => {
                match receive::flush_stale(&daemon.config, &mut daemon.store, now_ms()) {
                    Ok(received) => daemon.received(received),
                    Err(error) => daemon.inbox_retry.failed(&error),
                }
            }
            () = sleep_until(daemon.inbox_retry.next) => {
                daemon.write_unwritten();
                if daemon.inbox_retry.next.is_none() {
                    // Written at last: their copies on the SIM may go now.
                    daemon.receive(None).await;
                }
            }
            () = tick(&mut soft_reset) => {
                tracing::info!("periodic modem reset (ResetFrequency): initialising it again");
                daemon.modem.reconnect().await;
            }
            () = tick(&mut hard_reset) => daemon.hard_reset().await,
            () = tick(&mut radio_refresh), if daemon.modem_ready() => {
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
                    // A new session: learn again whether it wants +CNMA,
                    // and what its TP-MR counter says.
                    daemon.acknowledge = None;
                    daemon.tracker = MrTracker::new(&daemon.store, report.identity.imei.as_deref());
                    if daemon.config.send.enabled {
                        daemon.resolve().await?;
                    }
                    daemon.emit(DaemonEvent::ModemReady { model: model.trim().to_owned() });
                    // Read what arrived while simgate was away.
                    daemon.receive(None).await;
                    if !ready_announced {
                        daemon.systemd.ready();
                        ready_announced = true;
                    }
                }
                daemon.status_line()?;
            }
            () = sleep_until(deadline(next_due)), if daemon.modem_ready() && daemon.config.send.enabled => {
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

impl Daemon {
    fn emit(&self, event: DaemonEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    fn modem_ready(&self) -> bool {
        matches!(self.modem.state(), ModemState::Ready { .. })
    }

    /// When the next queued message falls due.
    fn next_due(&self) -> Result<Option<SystemTime>, StoreError> {
        Ok(self
            .store
            .next_due_ms()?
            .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)))
    }

    /// After a restart: parts left `sending` wait for the modem to tell
    /// whether they went out; claimed files of waiting messages go back
    /// to outbox/, those of finished ones are moved on.
    fn recover(&mut self) -> Result<(), DaemonError> {
        let resolving = self.store.recover(now_ms())?;
        if !resolving.is_empty() {
            tracing::warn!(
                count = resolving.len(),
                "messages interrupted mid-send: the modem will be asked whether they went out"
            );
        }
        let Some(outbox) = self.outbox.as_mut() else {
            return Ok(());
        };
        let now = SystemTime::now();
        for (name, claimed) in outbox::claimed_by_name(outbox.dir()) {
            let row = self.store.active_by_name(&name.to_string_lossy())?;
            match row {
                Some(row) if row.state.is_final() => {
                    let sent = row.state == crate::store::MessageState::Sent;
                    outbox.finish(&self.config, &mut self.store, row.id, &claimed, sent, now)?;
                }
                // Its part may have gone out: the file stays claimed.
                Some(row) if row.state == crate::store::MessageState::Resolving => {}
                // Waiting again: back to outbox/ (a new file of the same
                // name there waits for it).
                _ => match crate::spool::fs::unclaim(outbox.dir(), &claimed) {
                    Ok(_) | Err(crate::spool::fs::SpoolIoError::Busy { .. }) => {}
                    Err(error) => {
                        tracing::warn!(error = %crate::redact::Scrub(&error), "cannot put a claimed file back")
                    }
                },
            }
        }
        outbox.resume_moves(&self.store, now)?;
        Ok(())
    }

    /// Takes in what the outbox has ready, cancels what was deleted.
    fn process_outbox(&mut self) -> Result<(), DaemonError> {
        let Some(outbox) = self.outbox.as_mut() else {
            return Ok(());
        };
        let events = outbox.process(&self.config, &mut self.store, SystemTime::now())?;
        for event in events {
            self.emit(event);
        }
        Ok(())
    }

    fn sender<'a>(&'a mut self, stop: &'a (dyn Fn() -> bool + Sync)) -> Option<send::Sender<'a>> {
        Some(send::Sender {
            config: &self.config,
            store: &mut self.store,
            outbox: self.outbox.as_mut()?,
            modem: &self.modem,
            tracker: &mut self.tracker,
            stop,
        })
    }

    /// Asks the modem about parts that may have gone out.
    async fn resolve(&mut self) -> Result<(), DaemonError> {
        let never = || false;
        let Some(mut sender) = self.sender(&never) else {
            return Ok(());
        };
        let outcomes = sender.resolve().await?;
        for outcome in outcomes {
            self.after(outcome);
        }
        Ok(())
    }

    /// Sends every message due now, one at a time, stopping early when a
    /// stop was requested (the AT transaction in flight still finishes).
    /// A part that may have gone out is resolved before anything else is
    /// sent, since every send moves the counter that tells.
    async fn send_due(&mut self, stop: &StopFlag) -> Result<(), DaemonError> {
        let is_stopped = || stop.is_set();
        loop {
            self.resolve().await?;
            if !self.store.resolving()?.is_empty() {
                return Ok(()); // the modem cannot tell yet
            }
            let due = self.store.due(now_ms(), 64)?;
            if due.is_empty() {
                return Ok(());
            }
            for id in due {
                if !self.modem_ready() || stop.is_set() {
                    return Ok(());
                }
                if std::mem::take(&mut self.recheck_modem) {
                    tracing::info!("a send failed for the modem's state; initialising it again");
                    self.modem.reconnect().await;
                    return Ok(());
                }
                let Some(mut sender) = self.sender(&is_stopped) else {
                    return Ok(());
                };
                let outcome = sender.send(id).await?;
                let resolving = matches!(outcome, Outcome::Resolving { .. });
                let interrupted = matches!(outcome, Outcome::Interrupted);
                self.after(outcome);
                if interrupted {
                    return Ok(());
                }
                if resolving {
                    break; // resolve before the next send
                }
            }
            self.process_outbox()?;
        }
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
            Outcome::Cancelled { file, reason } => {
                self.emit(DaemonEvent::Cancelled { file, reason })
            }
            Outcome::Retry { file, reason, .. } => {
                self.emit(DaemonEvent::Waiting { file, reason });
            }
            Outcome::Interrupted | Outcome::Resolving { .. } | Outcome::Skipped => {}
            // The modem or its SIM is not in a state to send (a SIM that
            // locked itself again after a modem reset, no network): with
            // CheckSecurity, initialise again, which checks the SIM under
            // the PIN guard.
            Outcome::WaitForModem { file, reason } => {
                self.recheck_modem = self.config.modem.check_sim;
                self.emit(DaemonEvent::Waiting { file, reason });
            }
        }
    }

    /// Writes the inbox files of received messages that could not be
    /// written before (and after a restart, those being written when
    /// simgate stopped), oldest first; on failure, tries again later.
    fn write_unwritten(&mut self) {
        match receive::finish_unwritten(&self.config, &mut self.store) {
            Ok(written) => {
                self.inbox_retry.succeeded();
                self.received(written);
            }
            Err((written, error)) => {
                self.received(written);
                self.inbox_retry.failed(&error);
            }
        }
    }

    /// HardResetFrequency: the modem is reset (`AT+CFUN=1,1`: it restarts,
    /// and may leave and come back on USB), then opened and initialised
    /// again.
    async fn hard_reset(&mut self) {
        tracing::info!("periodic hard modem reset (HardResetFrequency)");
        if let ModemState::Ready { modem, .. } = self.modem.state() {
            let command = crate::at::Command::raw("AT+CFUN=1,1").expect("valid");
            if let Err(error) = modem.run(command).await {
                tracing::warn!(error = %crate::redact::Scrub(&error), "the modem refused the hard reset; initialising it again instead");
            }
        }
        self.modem.reconnect().await;
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
        // Messages whose files could not be written go first, so the
        // inbox gets them in the order they came.
        if self.inbox_retry.next.is_some() {
            self.write_unwritten();
        }
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
                // The message stays on the SIM and in the database; its
                // files are written as soon as they can be.
                Err(error @ receive::ReceiveError::Write(_)) => self.inbox_retry.failed(&error),
                Err(error) => {
                    tracing::error!(memory, error = %crate::redact::Scrub(&error), "reading received messages failed")
                }
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
                Err(error) => {
                    tracing::warn!(error = %crate::redact::Scrub(&error), "cannot remove temporary files")
                }
            }
        }
    }

    /// Warns when the receiving storage is still nearly full after reading
    /// (messages the filters leave there, or that cannot be deleted); see
    /// [`storage_warning`].
    fn check_storage(&mut self, memory: &str, used: u32, total: u32) {
        let (warn, warned) = storage_warning(used, total, self.storage_warned);
        self.storage_warned = warned;
        if warn {
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
                tracing::error!(error = %crate::redact::Scrub(&error), "cannot record a routed message; not acknowledged");
                if matches!(error, receive::ReceiveError::Write(_)) {
                    self.inbox_retry.failed(&error);
                }
                return;
            }
        }
        if self.acknowledge == Some(false) {
            return;
        }
        if let ModemState::Ready { modem, .. } = self.modem.state() {
            match modem.acknowledge().await {
                Ok(expected) => self.acknowledge = Some(expected),
                Err(error) => {
                    tracing::warn!(error = %crate::redact::Scrub(&error), "cannot acknowledge a routed message")
                }
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
                    tracing::warn!(error = %crate::redact::Scrub(&error), "cannot hang up the call");
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
            tracing::error!(error = %crate::redact::Scrub(&error), "cannot record the call");
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
                tracing::error!(error = %crate::redact::Scrub(&error), "cannot record that RunOnReceive was started");
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
                let mut modem_config = modem_override.unwrap_or_else(|| self.config.modem_config());
                modem_config.pins = self.pins.clone();
                let (modem, urcs) = supervisor::spawn(modem_config);
                self.urcs = urcs;
                let old = std::mem::replace(&mut self.modem, modem);
                old.shutdown().await;
                tracing::info!(config = %path.display(), "SIGHUP: configuration reloaded, modem reconnecting");
            }
            Err(error) => {
                tracing::error!(config = %path.display(), error = %crate::redact::Scrub(&error), "SIGHUP: configuration not reloaded; keeping the old one");
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
            tracing::error!(error = %crate::redact::Scrub(&error), "cannot read the counts for the status line");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearly_full_warning_comes_once_until_drained() {
        assert_eq!(storage_warning(23, 30, false), (false, false));
        assert_eq!(storage_warning(24, 30, false), (true, true));
        assert_eq!(storage_warning(25, 30, true), (false, true));
        // Hovering just below the mark: no new warning.
        assert_eq!(storage_warning(23, 30, true), (false, true));
        assert_eq!(storage_warning(24, 30, true), (false, true));
        // Drained below 60 %: the next fill warns again.
        assert_eq!(storage_warning(17, 30, true), (false, false));
        assert_eq!(storage_warning(24, 30, false), (true, true));
        // No storage, and counts no real modem has, without overflow.
        assert_eq!(storage_warning(0, 0, false), (false, false));
        assert_eq!(storage_warning(u32::MAX, u32::MAX, false), (true, true));
        assert_eq!(
            storage_warning(u32::MAX / 2, u32::MAX, true),
            (false, false)
        );
    }
}
