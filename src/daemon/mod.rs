//! The long-running service: watches outbox/ and sends what arrives there
//! through the device, reads what the device receives into inbox/, runs the
//! hooks, answers signals and keeps systemd informed.
//!
//! The loop in [`run_on`] is a dispatcher: each event goes to the module
//! that owns it, and what depends on time is decided by pure functions
//! that take `now` from the daemon's [`clock::Clock`].
//!
//! - [`outbox`]: from an outbox file to a queued message; cancellations,
//!   moves to sent/ and error/, the watch on the folder.
//! - [`send`]: sending one message part by part, what a failure means, and
//!   asking the device about a part that may have gone out.
//! - [`receive`]: from the device's storage to inbox files.
//! - [`decide`], [`retry`], [`tp_mr`]: the decisions, pure.
//! - [`hook_env`]: every hook invocation, built in one place.
//! - [`clock`]: calendar time, injectable.
//! - [`watcher`]: inotify on outbox/.
//! - [`hooks`]: running a hook without shell injection.
//! - [`filter`]: gammu's sender and SMSC filters.
//! - [`systemd`], [`logging`], [`signals`]: the process's surroundings.
//!
//! The daemon knows its device only through [`crate::device::Device`].
//! One task runs the loop, so the store has a single writer and the device
//! sees one message at a time; hooks run in tasks of their own.

pub mod clock;
pub mod decide;
pub mod filter;
pub mod hook_env;
pub mod hooks;
pub mod logging;
mod outbox;
pub mod receive;
pub mod retry;
mod send;
mod signals;
pub mod systemd;
pub mod tp_mr;
pub mod watcher;

use crate::config::Config;
use crate::daemon::logging::Redact;
use crate::device::{Control, Device, DeviceEvent, DeviceState, PinMemory};
use crate::instance::{self, InstanceError};
use crate::redact::Scrub;
use crate::store::{PinRecords, Store, StoreError};
use clock::Clock;
use send::{MrTracker, Outcome};
use signals::{Signal, StopFlag};
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
    /// Another daemon has the state, the outbox or the device, or the state
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
    /// The device is ready (a new session).
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
    /// Where to report [`DaemonEvent`]s.
    pub events: Option<mpsc::UnboundedSender<DaemonEvent>>,
    /// Whether to install handlers for SIGTERM, SIGINT, SIGHUP, SIGUSR1/2.
    pub handle_signals: bool,
    /// The file to read again on SIGHUP.
    pub config_path: Option<PathBuf>,
    /// Where calendar time comes from; the system's when `None`.
    pub clock: Option<Arc<dyn Clock>>,
}

impl DaemonOptions {
    /// Options for `config`: no events, no signals, no file to reload, the
    /// system's clock.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            events: None,
            handle_signals: false,
            config_path: None,
            clock: None,
        }
    }
}

/// What the daemon hands a device it opens.
#[derive(Debug, Clone)]
pub struct DeviceContext {
    /// Where what each SIM did with the PIN is remembered (the database).
    pub pins: Arc<dyn PinMemory>,
}

/// Runs on the device `open` opens (once the daemon has its state and its
/// outbox), until `shutdown` completes (or SIGTERM/SIGINT when signals
/// are handled).
pub async fn run_on<D, F, Opened>(
    options: DaemonOptions,
    open: F,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError>
where
    D: Device,
    F: FnOnce(DeviceContext) -> Opened,
    Opened: Future<Output = Result<(D, mpsc::Receiver<DeviceEvent>), InstanceError>>,
{
    let DaemonOptions {
        config,
        events,
        handle_signals,
        config_path,
        clock,
    } = options;
    let clock: Arc<dyn Clock> = clock.unwrap_or_else(|| Arc::new(clock::SystemClock));
    let database = config
        .database
        .path
        .clone()
        .ok_or(DaemonError::NoDatabase)?;
    // One daemon per state, outbox and device: a second one stops here,
    // before it touches anything.
    let state_lock = instance::patiently(|| instance::lock_database(&database)).await?;
    let outbox_lock = if config.send.enabled {
        let outbox = &config.spool.outbox;
        Some(instance::patiently(|| instance::lock_dir(outbox, "outbox")).await?)
    } else {
        None
    };
    let store = Store::open(&database)?;
    // What each SIM did with the PIN outlives reloads and restarts.
    let pins: Arc<dyn PinMemory> = Arc::new(PinRecords::open(&database)?);
    let (device, device_events) = open(DeviceContext { pins }).await?;
    let (outbox, outbox_events) = if config.send.enabled {
        let (outbox, events) = outbox::Outbox::new(&config.spool.outbox, outbox_lock);
        (Some(outbox), events)
    } else {
        tracing::info!("Send = no: the outbox is not watched and nothing is sent");
        (None, mpsc::channel(1).1)
    };
    if !config.receive.enabled {
        tracing::info!("Receive = no: incoming messages are left on the device");
    }
    let tracker = MrTracker::new(&store, None, device.capabilities().reference_counter);
    let mut daemon = Daemon {
        config,
        store,
        device,
        clock,
        events,
        systemd: systemd::Systemd::from_env(),
        outbox,
        tracker,
        radio: String::new(),
        recheck_device: false,
        calls: decide::CallGate::default(),
        filters: filter::Filters::default(),
        storage_warned: false,
        inbox_retry: InboxRetry::default(),
        _state_lock: state_lock,
    };
    daemon.filters = filter::Filters::load(&daemon.config.filters);
    daemon.start()?;
    let result = daemon
        .serve(
            device_events,
            outbox_events,
            handle_signals,
            config_path,
            shutdown,
        )
        .await;
    daemon.systemd.stopping();
    tracing::info!("stopping");
    daemon.device.shutdown().await;
    result
}

struct Daemon<D> {
    config: Config,
    store: Store,
    device: D,
    clock: Arc<dyn Clock>,
    events: Option<mpsc::UnboundedSender<DaemonEvent>>,
    systemd: systemd::Systemd,
    /// The outbox and its watch (`None` with `Send = no`).
    outbox: Option<outbox::Outbox>,
    /// What is known of the device's TP-MR counter in this session.
    tracker: MrTracker,
    /// Signal and registration for the status line, refreshed now and then.
    radio: String,
    /// A send failed for the device's state: initialise it again.
    recheck_device: bool,
    /// One call handled once.
    calls: decide::CallGate,
    /// Incoming filters, loaded at start and on SIGHUP.
    filters: filter::Filters,
    /// The receiving storage was reported nearly full and has not drained since.
    storage_warned: bool,
    /// Received messages whose inbox files could not be written: when to
    /// try again.
    inbox_retry: InboxRetry,
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
            tracing::error!(error = %Scrub(error), failures = self.failures, "cannot write received messages to the inbox; they stay on the device and in the database, and are written as soon as possible");
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

impl<D: Device> Daemon<D> {
    /// What a restart owes: parts left `sending` wait for the device to
    /// tell; claimed files go back to outbox/ or on to sent/ and error/;
    /// temporary files of a killed simgate go; inbox files not written yet
    /// are written; hooks never started are started.
    fn start(&mut self) -> Result<(), DaemonError> {
        self.recover()?;
        self.remove_orphaned_temps();
        self.write_unwritten();
        let recorded =
            receive::complete_recorded(&self.config, &mut self.store, self.clock.now_ms());
        match recorded {
            Ok(recorded) => self.received(recorded),
            Err(error) => self.inbox_retry.failed(&error),
        }
        // Hooks a killed simgate never started (its files were written).
        match receive::pending_hooks(&self.store) {
            Ok(pending) => {
                for message in pending {
                    tracing::info!(
                        id = message.id,
                        "starting RunOnReceive, which did not start before the restart"
                    );
                    self.run_receive_hook(&message);
                }
            }
            Err(error) => {
                tracing::error!(error = %Scrub(&error), "cannot read which hooks are pending")
            }
        }
        Ok(())
    }

    /// The loop: every event to the part of the daemon that owns it.
    async fn serve(
        &mut self,
        mut device_events: mpsc::Receiver<DeviceEvent>,
        mut outbox_events: mpsc::Receiver<watcher::OutboxEvent>,
        handle_signals: bool,
        config_path: Option<PathBuf>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), DaemonError> {
        let stop = StopFlag::default();
        // Without signal handling, a sender kept alive makes `recv` simply wait.
        let (_no_signals, idle) = mpsc::unbounded_channel::<Signal>();
        let mut signals = if handle_signals {
            signals::listen(stop.clone()).map_err(DaemonError::Signals)?
        } else {
            idle
        };
        let mut rescan = every(self.config.spool.scan_interval.max(Duration::from_secs(1)));
        let mut folder_check = tokio::time::interval(outbox::FOLDER_CHECK);
        let mut watchdog = every(self.systemd.watchdog_interval().unwrap_or(Duration::ZERO));
        let mut radio_refresh = every(self.config.modem.status_interval);
        let mut soft_reset = every(self.config.modem.reset_interval);
        let mut hard_reset = every(self.config.modem.hard_reset_interval);
        let mut device_state = self.device.watch();
        let mut ready_announced = false;
        let mut receive_poll = every(receive::poll_interval(&self.config));
        let mut multipart_check = every(receive::multipart_check_interval(&self.config));
        tokio::pin!(shutdown);
        loop {
            let clock = self.clock.clone();
            let next_due = self.next_due()?.map(|at| clock::deadline(&*clock, at));
            let outbox_due = self
                .outbox
                .as_ref()
                .and_then(outbox::Outbox::next_due)
                .map(|at| clock::deadline(&*clock, at));
            let watch_dead = self.outbox.as_ref().is_some_and(outbox::Outbox::watch_dead);
            let ready = self.ready();
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                signal = signals.recv() => match signal {
                    Some(Signal::Stop) | None => return Ok(()),
                    Some(Signal::Reload) => {
                        self.systemd.reloading();
                        self.reload(config_path.as_deref()).await;
                        multipart_check = every(receive::multipart_check_interval(&self.config));
                        receive_poll = every(receive::poll_interval(&self.config));
                        self.systemd.ready();
                    }
                    Some(Signal::Suspend) => self.device.control(Control::Suspend).await,
                    Some(Signal::Resume) => self.device.control(Control::Resume).await,
                },
                event = outbox_events.recv() => {
                    if let (Some(event), Some(outbox)) = (event, self.outbox.as_mut()) {
                        let now = self.clock.now();
                        outbox.note(event, now);
                        // The whole burst at once: one batch, one /proc scan.
                        while let Ok(more) = outbox_events.try_recv() {
                            outbox.note(more, now);
                        }
                    }
                }
                () = sleep_until(outbox_due) => self.process_outbox()?,
                _ = folder_check.tick(), if watch_dead => {
                    if let Some(outbox) = self.outbox.as_mut() {
                        outbox.check_watch();
                    }
                }
                () = tick(&mut rescan) => {
                    if let Some(outbox) = self.outbox.as_mut() {
                        outbox.check_watch();
                        outbox.request_rescan();
                    }
                }
                () = tick(&mut watchdog) => self.systemd.watchdog(),
                event = device_events.recv() => {
                    if let Some(event) = event {
                        let mut batch = vec![event];
                        while let Ok(more) = device_events.try_recv() {
                            batch.push(more);
                        }
                        self.device_events(batch).await;
                    }
                }
                () = tick(&mut receive_poll), if ready => self.receive(None).await,
                () = tick(&mut multipart_check) => {
                    match receive::flush_stale(&self.config, &mut self.store, self.clock.now_ms()) {
                        Ok(received) => self.received(received),
                        Err(error) => self.inbox_retry.failed(&error),
                    }
                }
                () = sleep_until(self.inbox_retry.next) => {
                    self.write_unwritten();
                    if self.inbox_retry.next.is_none() {
                        // Written at last: their copies on the device may go now.
                        self.receive(None).await;
                    }
                }
                () = tick(&mut soft_reset) => {
                    tracing::info!("periodic reset (ResetFrequency): initialising the device again");
                    self.device.control(Control::Reconnect).await;
                }
                () = tick(&mut hard_reset) => {
                    tracing::info!("periodic hard reset (HardResetFrequency)");
                    self.device.control(Control::HardReset).await;
                }
                () = tick(&mut radio_refresh), if ready => {
                    self.refresh_radio().await;
                    self.status_line()?;
                }
                changed = device_state.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let state = device_state.borrow_and_update().clone();
                    if let DeviceState::Ready(info) = state {
                        // A new session: what its TP-MR counter says is
                        // learnt again, and parts in doubt are settled
                        // before anything else is sent.
                        self.tracker = MrTracker::new(
                            &self.store,
                            info.imei.as_deref(),
                            self.device.capabilities().reference_counter,
                        );
                        if self.config.send.enabled {
                            self.resolve().await?;
                        }
                        self.emit(DaemonEvent::ModemReady { model: info.model });
                        // Read what arrived while simgate was away.
                        self.receive(None).await;
                        if !ready_announced {
                            self.systemd.ready();
                            ready_announced = true;
                        }
                    }
                    self.status_line()?;
                }
                () = sleep_until(next_due), if ready && self.config.send.enabled => {
                    self.send_due(&stop).await?;
                    self.status_line()?;
                }
            }
        }
    }

    fn emit(&self, event: DaemonEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    fn ready(&self) -> bool {
        matches!(*self.device.watch().borrow(), DeviceState::Ready(_))
    }

    /// When the next queued message falls due.
    fn next_due(&self) -> Result<Option<SystemTime>, StoreError> {
        Ok(self.store.next_due_ms()?.map(clock::from_ms))
    }

    /// After a restart: parts left `sending` wait for the device to tell
    /// whether they went out; claimed files of waiting messages go back
    /// to outbox/, those of finished ones are moved on.
    fn recover(&mut self) -> Result<(), DaemonError> {
        let resolving = self.store.recover(self.clock.now_ms())?;
        if !resolving.is_empty() {
            tracing::warn!(
                count = resolving.len(),
                "messages interrupted mid-send: the device will be asked whether they went out"
            );
        }
        let Some(outbox) = self.outbox.as_mut() else {
            return Ok(());
        };
        let now = self.clock.now();
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
                        tracing::warn!(error = %Scrub(&error), "cannot put a claimed file back")
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
        let events = outbox.process(&self.config, &mut self.store, self.clock.now())?;
        for event in events {
            self.emit(event);
        }
        Ok(())
    }

    fn sender<'a>(
        &'a mut self,
        stop: &'a (dyn Fn() -> bool + Sync),
    ) -> Option<send::Sender<'a, D>> {
        Some(send::Sender {
            config: &self.config,
            store: &mut self.store,
            outbox: self.outbox.as_mut()?,
            device: &self.device,
            clock: &*self.clock,
            tracker: &mut self.tracker,
            stop,
        })
    }

    /// Asks the device about parts that may have gone out.
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
    /// stop was requested (the transaction in flight still finishes). A
    /// part that may have gone out is resolved before anything else is
    /// sent, since every send moves the counter that tells.
    async fn send_due(&mut self, stop: &StopFlag) -> Result<(), DaemonError> {
        let is_stopped = || stop.is_set();
        loop {
            self.resolve().await?;
            if !self.store.resolving()?.is_empty() {
                return Ok(()); // the device cannot tell yet
            }
            let due = self.store.due(self.clock.now_ms(), 64)?;
            if due.is_empty() {
                return Ok(());
            }
            for id in due {
                if !self.ready() || stop.is_set() {
                    return Ok(());
                }
                if std::mem::take(&mut self.recheck_device) {
                    tracing::info!("a send failed for the device's state; initialising it again");
                    self.device.control(Control::Reconnect).await;
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

    /// Reports an outcome and runs its hook.
    fn after(&mut self, outcome: Outcome) {
        let hooks = &self.config.hooks;
        match outcome {
            Outcome::Sent {
                file,
                recipient,
                parts,
                ..
            } => {
                if let Some(hook) = hook_env::on_sent(hooks, &file, &recipient, &parts) {
                    hook.spawn();
                }
                let references = parts.iter().map(|p| p.reference).collect();
                self.emit(DaemonEvent::Sent { file, references });
            }
            Outcome::Failed { file, reason } => {
                if let Some(hook) = hook_env::on_failure(hooks, &file) {
                    hook.spawn();
                }
                self.emit(DaemonEvent::Failed { file, reason });
            }
            Outcome::Cancelled { file, reason } => {
                self.emit(DaemonEvent::Cancelled { file, reason });
            }
            Outcome::Retry { file, reason, .. } => {
                self.emit(DaemonEvent::Waiting { file, reason });
            }
            Outcome::Interrupted | Outcome::Resolving { .. } | Outcome::Skipped => {}
            // The device or its SIM is not in a state to send (a SIM that
            // locked itself again after a modem reset, no network): with
            // CheckSecurity, initialise again, which checks the SIM under
            // the PIN guard.
            Outcome::WaitForDevice { file, reason } => {
                self.recheck_device = self.config.modem.check_sim;
                self.emit(DaemonEvent::Waiting { file, reason });
            }
        }
    }

    /// Writes the inbox files of received messages that could not be
    /// written before (and after a restart, those being written when
    /// simgate stopped), oldest first; on failure, tries again later.
    fn write_unwritten(&mut self) {
        let now = self.clock.now_ms();
        match receive::finish_unwritten(&self.config, &mut self.store, now) {
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

    /// Acts on a batch of device events: routed messages and calls one by
    /// one, storage announcements by one read per storage they name,
    /// however many there were.
    async fn device_events(&mut self, batch: Vec<DeviceEvent>) {
        let mut storages: Vec<String> = Vec::new();
        for event in batch {
            match event {
                DeviceEvent::Stored { storage } => {
                    if !storages.contains(&storage) {
                        storages.push(storage);
                    }
                }
                DeviceEvent::Routed { pdu } => self.routed(Ok(&pdu)).await,
                DeviceEvent::RoutedUnreadable { raw, reason } => {
                    self.routed(Err((&raw, &reason))).await;
                }
                DeviceEvent::Call { caller } => self.incoming_call(&caller).await,
            }
        }
        for storage in storages {
            self.receive(Some(&storage)).await;
        }
    }

    /// Reads the storage the device named, or with `None` every storage it
    /// uses, and writes what arrived.
    async fn receive(&mut self, only: Option<&str>) {
        if !self.config.receive.enabled || !self.ready() {
            return;
        }
        // Messages whose files could not be written go first, so the
        // inbox gets them in the order they came.
        if self.inbox_retry.next.is_some() {
            self.write_unwritten();
        }
        let storages: Vec<String> = match only {
            Some(storage) if !storage.is_empty() => vec![storage.to_owned()],
            _ => self.device.storages(),
        };
        let mut received = Vec::new();
        for storage in &storages {
            let now = self.clock.now_ms();
            let read = receive::read_storage(
                &self.config,
                &self.filters,
                &mut self.store,
                &self.device,
                storage,
                now,
            )
            .await;
            match read {
                Ok(found) => received.extend(found),
                // The message stays on the device and in the database; its
                // files are written as soon as they can be.
                Err(error @ receive::ReceiveError::Write(_)) => self.inbox_retry.failed(&error),
                Err(error) => {
                    tracing::error!(storage, error = %Scrub(&error), "reading received messages failed");
                }
            }
        }
        // How full it stays after the round.
        if let Ok(Some((used, total))) = self.device.storage_usage().await {
            self.check_storage(used, total);
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
                    tracing::warn!(error = %Scrub(&error), "cannot remove temporary files")
                }
            }
        }
    }

    /// Warns when the receiving storage is still nearly full after reading
    /// (messages the filters leave there, or that cannot be deleted); see
    /// [`decide::storage_warning`].
    fn check_storage(&mut self, used: u32, total: u32) {
        let (warn, warned) = decide::storage_warning(used, total, self.storage_warned);
        self.storage_warned = warned;
        if warn {
            tracing::warn!(
                used,
                total,
                "message storage nearly full: new messages will be refused by the device when it is full"
            );
            self.emit(DaemonEvent::StorageNearlyFull { used, total });
        }
    }

    /// A message or report the device routed raw, or one that could not
    /// be read: recorded like a stored one, then acknowledged where the
    /// device waits for that. Not acknowledged when it could not be
    /// recorded, so the network tries again.
    async fn routed(&mut self, pdu: Result<&[u8], (&str, &str)>) {
        if !self.config.receive.enabled {
            return;
        }
        let now = self.clock.now_ms();
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
                tracing::error!(error = %Scrub(&error), "cannot record a routed message; not acknowledged");
                if matches!(error, receive::ReceiveError::Write(_)) {
                    self.inbox_retry.failed(&error);
                }
                return;
            }
        }
        if let Err(error) = self.device.acknowledge().await {
            tracing::warn!(error = %Scrub(&error), "cannot acknowledge a routed message");
        }
    }

    /// An incoming call: gammu's HangupCalls and RunOnIncomingCall, once per
    /// call ([`decide::CallGate`]).
    async fn incoming_call(&mut self, caller: &str) {
        let now = self.clock.now_ms();
        if !self.calls.admit(now) {
            return;
        }
        let hang_up = self.config.hooks.hangup_calls;
        tracing::info!(caller = %Redact(caller), hang_up, "incoming call");
        if hang_up {
            if let Err(error) = self.device.hang_up().await {
                tracing::warn!(error = %Scrub(&error), "cannot hang up the call");
            }
            if let Some(hook) = hook_env::on_incoming_call(&self.config.hooks, caller) {
                hook.spawn();
            }
        }
        if let Err(error) = self.store.add_call(caller, hang_up, now) {
            tracing::error!(error = %Scrub(&error), "cannot record the call");
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
        let Some(hook) = hook_env::on_receive(&self.config.hooks, &message.files, &message.parts)
        else {
            return;
        };
        hook.spawn();
        if let Some(id) = message.id {
            if let Err(error) = self.store.hook_started(id) {
                tracing::error!(error = %Scrub(&error), "cannot record that RunOnReceive was started");
            }
        }
    }

    /// SIGHUP: reads the configuration again and hands the device its
    /// settings (a new session). The outbox and the database stay as they
    /// were (changing them needs a restart, and says so); a configuration
    /// that does not load keeps the old one running.
    async fn reload(&mut self, path: Option<&std::path::Path>) {
        let Some(path) = path else {
            tracing::info!("SIGHUP: initialising the device again");
            self.device.control(Control::Reconnect).await;
            return;
        };
        match crate::config::load(path) {
            Ok(loaded) => {
                loaded.log_notices();
                let mut config = loaded.config;
                if config.spool.outbox != self.config.spool.outbox
                    || config.database.path.is_some()
                        && config.database.path != self.config.database.path
                {
                    tracing::warn!(
                        "SIGHUP: a new outbox or database path takes effect at the next restart"
                    );
                }
                config.spool.outbox = self.config.spool.outbox.clone();
                config.database.path = self.config.database.path.clone();
                self.config = config;
                self.filters = filter::Filters::load(&self.config.filters);
                self.device.reload(&self.config).await;
                tracing::info!(config = %path.display(), "SIGHUP: configuration reloaded, device reconnecting");
            }
            Err(error) => {
                tracing::error!(config = %path.display(), error = %Scrub(&error), "SIGHUP: configuration not reloaded; keeping the old one");
            }
        }
    }

    /// Reads signal and registration for the status line.
    async fn refresh_radio(&mut self) {
        self.radio = decide::radio_words(&self.device.radio().await);
    }

    /// [`status_line`](Self::status_line), where a database error is only
    /// logged.
    fn update_status(&self) {
        if let Err(error) = self.status_line() {
            tracing::error!(error = %Scrub(&error), "cannot read the counts for the status line");
        }
    }

    /// One line of state for systemd.
    fn status_line(&self) -> Result<(), StoreError> {
        let counts = self.store.counts()?;
        let received = self.store.received_count()?;
        let undecodable = self.store.undecodable_count()?;
        let state = self.device.watch().borrow().clone();
        self.systemd.status(&decide::status_line(
            &state,
            &counts,
            received,
            undecodable,
            &self.radio,
        ));
        Ok(())
    }
}
