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
mod keeper;
pub mod logging;
mod outbox;
pub mod receive;
pub mod retry;
mod send;
mod signals;
mod state;
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
use keeper::Keeper;
use send::{MrTracker, Outcome};
use signals::{Signal, StopFlag};
use state::{Core, Schedule};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
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
    let config = Arc::new(config);
    let (core, outbox_events, pins) =
        blocking(open_core(Arc::clone(&config), database, outbox_lock)).await?;
    let (device, device_events) = open(DeviceContext { pins }).await?;
    if !config.receive.enabled {
        tracing::info!("Receive = no: incoming messages are left on the device");
    }
    let keeper = Keeper::new(core);
    let tracker = MrTracker::new(&keeper, None, device.capabilities().reference_counter).await;
    let mut daemon = Daemon {
        config,
        keeper,
        schedule: Schedule::default(),
        device,
        clock,
        events,
        systemd: systemd::Systemd::from_env(),
        tracker,
        radio: String::new(),
        recheck_device: false,
        sends_held_until: None,
        calls: decide::CallGate::default(),
        storage_warned: false,
        inbox_retry: InboxRetry::default(),
        _state_lock: state_lock,
    };
    let result = match daemon.start().await {
        Ok(()) => {
            daemon
                .serve(
                    device_events,
                    outbox_events,
                    handle_signals,
                    config_path,
                    shutdown,
                )
                .await
        }
        Err(error) => Err(error),
    };
    daemon.systemd.stopping();
    tracing::info!("stopping");
    daemon.device.shutdown().await;
    daemon.keeper.close().await;
    result
}

/// Runs `job` on the blocking pool.
async fn blocking<R: Send + 'static>(job: impl FnOnce() -> R + Send + 'static) -> R {
    match tokio::task::spawn_blocking(job).await {
        Ok(answer) => answer,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// What [`open_core`] opens: the keeper's state, the outbox's watch and
/// the PIN records.
type Opened = (
    Core,
    mpsc::Receiver<watcher::OutboxEvent>,
    Arc<dyn PinMemory>,
);

/// Opens the store, the PIN records and the outbox's watch (blocking).
fn open_core(
    config: Arc<Config>,
    database: PathBuf,
    outbox_lock: Option<instance::Lock>,
) -> impl FnOnce() -> Result<Opened, DaemonError> + Send + 'static {
    move || {
        let store = Store::open(&database)?;
        // What each SIM did with the PIN outlives reloads and restarts.
        let pins: Arc<dyn PinMemory> = Arc::new(PinRecords::open(&database)?);
        let (outbox, outbox_events) = if config.send.enabled {
            let (outbox, events) = outbox::Outbox::new(&config.spool.outbox, outbox_lock);
            (Some(outbox), events)
        } else {
            tracing::info!("Send = no: the outbox is not watched and nothing is sent");
            (None, mpsc::channel(1).1)
        };
        let filters = filter::Filters::load(&config.filters);
        let core = Core {
            config,
            store,
            outbox,
            filters,
        };
        Ok((core, outbox_events, pins))
    }
}

/// The event loop's side of the daemon: the device, the clock, what is
/// reported, and the handle on the [`Core`] its keeper owns.
struct Daemon<D> {
    config: Arc<Config>,
    keeper: Keeper<Core>,
    /// When there is work next, as of the keeper's last job.
    schedule: Schedule,
    device: D,
    clock: Arc<dyn Clock>,
    events: Option<mpsc::UnboundedSender<DaemonEvent>>,
    systemd: systemd::Systemd,
    /// What is known of the device's TP-MR counter in this session.
    tracker: MrTracker,
    /// Signal and registration for the status line, refreshed now and then.
    radio: String,
    /// A send failed for the device's state: initialise it again.
    recheck_device: bool,
    /// The device cannot send now (no network, a locked SIM): no message
    /// is tried before this, or before the device's next session, since
    /// every one would fail the same way and use up an attempt.
    sends_held_until: Option<tokio::time::Instant>,
    /// One call handled once.
    calls: decide::CallGate,
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
    /// Runs `job` on the keeper's state and notes when there is work next.
    async fn core<R: Send + 'static>(
        &mut self,
        job: impl FnOnce(&mut Core) -> R + Send + 'static,
    ) -> Result<R, DaemonError> {
        let (answer, schedule) = self
            .keeper
            .call(move |core| {
                let answer = job(core);
                (answer, core.schedule())
            })
            .await;
        self.schedule = schedule?;
        Ok(answer)
    }

    /// What a restart owes ([`Core::start`]), and the hooks it owes.
    async fn start(&mut self) -> Result<(), DaemonError> {
        let now = self.clock.now();
        let started = self.core(move |core| core.start(now)).await??;
        if let Some(error) = &started.write_error {
            self.inbox_retry.failed(error);
        }
        self.received(started.received).await;
        // Hooks a killed simgate never started (its files were written).
        for message in &started.hooks {
            tracing::info!(
                id = message.id,
                "starting RunOnReceive, which did not start before the restart"
            );
        }
        self.run_receive_hooks(&started.hooks).await;
        Ok(())
    }

    /// The loop: every event to the part of the daemon that owns it. What
    /// must never wait comes first (a stop, the watchdog, the device); a
    /// burst of sends and of files to take in comes last, one message or
    /// one slice per turn, so it never keeps the rest waiting.
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
            let clock = Arc::clone(&self.clock);
            // Parts in doubt are resolved first, at once.
            let send_due = if self.schedule.resolving {
                Some(tokio::time::Instant::now())
            } else {
                self.schedule
                    .next_send
                    .map(|at| clock::deadline(&*clock, at))
            }
            .map(|due| self.sends_held_until.map_or(due, |held| due.max(held)));
            let outbox_due = self
                .schedule
                .outbox_due
                .map(|at| clock::deadline(&*clock, at));
            let watch_dead = self.schedule.watch_dead;
            let ready = self.ready();
            let sending = ready && self.config.send.enabled;
            tokio::select! {
                biased;
                () = &mut shutdown => return Ok(()),
                signal = signals.recv() => match signal {
                    Some(Signal::Stop) | None => return Ok(()),
                    Some(Signal::Reload) => {
                        self.systemd.reloading();
                        self.reload(config_path.as_deref()).await?;
                        multipart_check = every(receive::multipart_check_interval(&self.config));
                        receive_poll = every(receive::poll_interval(&self.config));
                        self.systemd.ready();
                    }
                    Some(Signal::Suspend) => self.device.control(Control::Suspend).await,
                    Some(Signal::Resume) => self.device.control(Control::Resume).await,
                },
                () = tick(&mut watchdog) => self.systemd.watchdog(),
                changed = device_state.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let state = device_state.borrow_and_update().clone();
                    if let DeviceState::Ready(info) = state {
                        self.session_started(info).await?;
                        if !ready_announced {
                            self.systemd.ready();
                            ready_announced = true;
                        }
                    }
                    self.status_line().await?;
                }
                event = device_events.recv() => {
                    if let Some(event) = event {
                        let mut batch = vec![event];
                        while let Ok(more) = device_events.try_recv() {
                            batch.push(more);
                        }
                        self.device_events(batch).await?;
                    }
                }
                event = outbox_events.recv() => {
                    if let Some(event) = event {
                        // The whole burst at once: one job, one batch.
                        let mut batch = vec![event];
                        while let Ok(more) = outbox_events.try_recv() {
                            batch.push(more);
                        }
                        let now = self.clock.now();
                        self.core(move |core| {
                            if let Some(outbox) = core.outbox.as_mut() {
                                for event in batch {
                                    outbox.note(event, now);
                                }
                            }
                        })
                        .await?;
                    }
                }
                _ = folder_check.tick(), if watch_dead => {
                    self.core(|core| core.outbox.as_mut().map(outbox::Outbox::check_watch)).await?;
                }
                () = tick(&mut rescan) => {
                    self.core(|core| {
                        if let Some(outbox) = core.outbox.as_mut() {
                            outbox.check_watch();
                            outbox.request_rescan();
                        }
                    })
                    .await?;
                }
                () = tick(&mut receive_poll), if ready => self.receive(None).await?,
                () = tick(&mut multipart_check) => {
                    let now = self.clock.now_ms();
                    let flushed = self
                        .core(move |core| receive::flush_stale(&core.config, &mut core.store, now))
                        .await?;
                    match flushed {
                        Ok(received) => self.received(received).await,
                        Err(error) => self.inbox_retry.failed(&error),
                    }
                }
                () = sleep_until(self.inbox_retry.next) => {
                    self.write_unwritten().await?;
                    if self.inbox_retry.next.is_none() {
                        // Written at last: their copies on the device may go now.
                        self.receive(None).await?;
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
                    self.status_line().await?;
                }
                () = sleep_until(send_due), if sending => self.send_next(&stop).await?,
                () = sleep_until(outbox_due) => self.process_outbox().await?,
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

    /// A new device session: what its TP-MR counter says is learnt again,
    /// parts in doubt are settled before anything else is sent, and what
    /// arrived while simgate was away is read.
    async fn session_started(
        &mut self,
        info: crate::device::DeviceInfo,
    ) -> Result<(), DaemonError> {
        self.tracker = MrTracker::new(
            &self.keeper,
            info.imei.as_deref(),
            self.device.capabilities().reference_counter,
        )
        .await;
        if self.config.send.enabled {
            self.resolve().await?;
        }
        self.emit(DaemonEvent::ModemReady { model: info.model });
        self.receive(None).await
    }

    /// Takes in a slice of what the outbox has ready, cancels what was
    /// deleted.
    async fn process_outbox(&mut self) -> Result<(), DaemonError> {
        let now = self.clock.now();
        let events = self.core(move |core| core.process_outbox(now)).await??;
        for event in events {
            self.emit(event);
        }
        if self.schedule.outbox_due.is_none() {
            self.status_line().await?;
        }
        Ok(())
    }

    fn sender<'a>(&'a mut self, stop: &'a (dyn Fn() -> bool + Sync)) -> send::Sender<'a, D> {
        send::Sender {
            keeper: &self.keeper,
            config: &self.config,
            device: &self.device,
            clock: &*self.clock,
            tracker: &mut self.tracker,
            stop,
        }
    }

    /// Asks the device about parts that may have gone out.
    async fn resolve(&mut self) -> Result<(), DaemonError> {
        let never = || false;
        let outcomes = self.sender(&never).resolve().await?;
        for outcome in outcomes {
            self.after(outcome);
        }
        self.core(|_| ()).await?;
        Ok(())
    }

    /// Sends the first message due (one per turn of the loop). A part that
    /// may have gone out is resolved before anything else is sent, since
    /// every send moves the counter that tells.
    async fn send_next(&mut self, stop: &StopFlag) -> Result<(), DaemonError> {
        if self.schedule.resolving {
            self.resolve().await?;
            if self.schedule.resolving {
                return Ok(()); // the device cannot tell yet
            }
        }
        if stop.is_set() {
            return Ok(());
        }
        if std::mem::take(&mut self.recheck_device) {
            tracing::info!("a send failed for the device's state; initialising it again");
            self.device.control(Control::Reconnect).await;
            return Ok(());
        }
        let is_stopped = || stop.is_set();
        let outcome = self.sender(&is_stopped).send_next().await?;
        // What the job left behind: when the next message is due.
        self.core(|_| ()).await?;
        if let Some(outcome) = outcome {
            self.after(outcome);
        }
        let now = self.clock.now();
        if self.schedule.next_send.is_none_or(|at| at > now) {
            self.status_line().await?;
        }
        Ok(())
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
                self.sends_held_until =
                    Some(tokio::time::Instant::now() + self.config.send.retry_delay);
                self.emit(DaemonEvent::Waiting { file, reason });
            }
        }
    }

    /// Writes the inbox files of received messages that could not be
    /// written before (and after a restart, those being written when
    /// simgate stopped), oldest first; on failure, tries again later.
    async fn write_unwritten(&mut self) -> Result<(), DaemonError> {
        let now = self.clock.now_ms();
        let written = self
            .core(move |core| receive::finish_unwritten(&core.config, &mut core.store, now))
            .await?;
        match written {
            Ok(written) => {
                self.inbox_retry.succeeded();
                self.received(written).await;
            }
            Err((written, error)) => {
                self.received(written).await;
                self.inbox_retry.failed(&error);
            }
        }
        Ok(())
    }

    /// Acts on a batch of device events: routed messages and calls one by
    /// one, storage announcements by one read per storage they name,
    /// however many there were.
    async fn device_events(&mut self, batch: Vec<DeviceEvent>) -> Result<(), DaemonError> {
        let mut storages: Vec<String> = Vec::new();
        for event in batch {
            match event {
                DeviceEvent::Stored { storage } => {
                    if !storages.contains(&storage) {
                        storages.push(storage);
                    }
                }
                DeviceEvent::Routed { pdu } => self.routed(Ok(pdu)).await?,
                DeviceEvent::RoutedUnreadable { raw, reason } => {
                    self.routed(Err((raw, reason))).await?;
                }
                DeviceEvent::Call { caller } => self.incoming_call(&caller).await?,
            }
        }
        for storage in storages {
            self.receive(Some(&storage)).await?;
        }
        Ok(())
    }

    /// Reads the storage the device named, or with `None` every storage it
    /// uses, and writes what arrived.
    async fn receive(&mut self, only: Option<&str>) -> Result<(), DaemonError> {
        if !self.config.receive.enabled || !self.ready() {
            return Ok(());
        }
        // Messages whose files could not be written go first, so the
        // inbox gets them in the order they came.
        if self.inbox_retry.next.is_some() {
            self.write_unwritten().await?;
        }
        let storages: Vec<String> = match only {
            Some(storage) if !storage.is_empty() => vec![storage.to_owned()],
            _ => self.device.storages(),
        };
        let mut received = Vec::new();
        for storage in &storages {
            let now = self.clock.now_ms();
            let (found, error) =
                receive::read_storage(&self.keeper, &self.device, storage, now).await;
            received.extend(found);
            match error {
                None => {}
                // The message stays on the device and in the database; its
                // files are written as soon as they can be.
                Some(error @ receive::ReceiveError::Write(_)) => self.inbox_retry.failed(&error),
                Some(error) => {
                    tracing::error!(storage, error = %Scrub(&error), "reading received messages failed");
                }
            }
        }
        // How full it stays after the round.
        if let Ok(Some((used, total))) = self.device.storage_usage().await {
            self.check_storage(used, total);
        }
        self.received(received).await;
        self.status_line().await
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
    async fn routed(&mut self, pdu: Result<Vec<u8>, (String, String)>) -> Result<(), DaemonError> {
        if !self.config.receive.enabled {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let taken = self
            .core(move |core| match pdu {
                Ok(pdu) => {
                    receive::take_routed(&core.config, &core.filters, &mut core.store, &pdu, now)
                }
                Err((line, reason)) => {
                    let key = format!("line:{line}");
                    receive::keep_undecodable(&mut core.store, &key, &line, &reason, now)
                        .map(|()| Vec::new())
                }
            })
            .await?;
        match taken {
            Ok(received) => {
                self.received(received).await;
                self.status_line().await?;
            }
            Err(error) => {
                tracing::error!(error = %Scrub(&error), "cannot record a routed message; not acknowledged");
                if matches!(error, receive::ReceiveError::Write(_)) {
                    self.inbox_retry.failed(&error);
                }
                return Ok(());
            }
        }
        if let Err(error) = self.device.acknowledge().await {
            tracing::warn!(error = %Scrub(&error), "cannot acknowledge a routed message");
        }
        Ok(())
    }

    /// An incoming call: gammu's HangupCalls and RunOnIncomingCall, once per
    /// call ([`decide::CallGate`]).
    async fn incoming_call(&mut self, caller: &str) -> Result<(), DaemonError> {
        let now = self.clock.now_ms();
        if !self.calls.admit(now) {
            return Ok(());
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
        let number = caller.to_owned();
        let recorded = self
            .core(move |core| core.store.add_call(&number, hang_up, now))
            .await?;
        if let Err(error) = recorded {
            tracing::error!(error = %Scrub(&error), "cannot record the call");
        }
        self.emit(DaemonEvent::Call {
            caller: caller.to_owned(),
        });
        Ok(())
    }

    /// Runs RunOnReceive and reports each received message.
    async fn received(&mut self, received: Vec<receive::Received>) {
        if received.is_empty() {
            return;
        }
        self.run_receive_hooks(&received).await;
        for message in received {
            self.emit(DaemonEvent::Received {
                files: message.files,
            });
        }
    }

    /// Starts RunOnReceive for each message, and records that it was
    /// started so a restart does not start it again.
    async fn run_receive_hooks(&mut self, messages: &[receive::Received]) {
        let mut started = Vec::new();
        for message in messages {
            let hook = hook_env::on_receive(&self.config.hooks, &message.files, &message.parts);
            if let Some(hook) = hook {
                hook.spawn();
                started.extend(message.id);
            }
        }
        if !started.is_empty() {
            let _ = self.core(move |core| core.hooks_started(&started)).await;
        }
    }

    /// SIGHUP: reads the configuration again and hands the device its
    /// settings (a new session). The outbox and the database stay as they
    /// were (changing them needs a restart, and says so); a configuration
    /// that does not load keeps the old one running.
    async fn reload(&mut self, path: Option<&std::path::Path>) -> Result<(), DaemonError> {
        let Some(path) = path else {
            tracing::info!("SIGHUP: initialising the device again");
            self.device.control(Control::Reconnect).await;
            return Ok(());
        };
        let file = path.to_owned();
        match blocking(move || crate::config::load(&file)).await {
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
                let config = Arc::new(config);
                self.config = Arc::clone(&config);
                self.core(move |core| {
                    core.filters = filter::Filters::load(&config.filters);
                    core.config = config;
                })
                .await?;
                self.device.reload(&self.config).await;
                tracing::info!(config = %path.display(), "SIGHUP: configuration reloaded, device reconnecting");
            }
            Err(error) => {
                tracing::error!(config = %path.display(), error = %Scrub(&error), "SIGHUP: configuration not reloaded; keeping the old one");
            }
        }
        Ok(())
    }

    /// Reads signal and registration for the status line.
    async fn refresh_radio(&mut self) {
        self.radio = decide::radio_words(&self.device.radio().await);
    }

    /// One line of state for systemd; a database error is only logged.
    async fn status_line(&mut self) -> Result<(), DaemonError> {
        match self.core(|core| core.tally()).await? {
            Ok(tally) => {
                let state = self.device.watch().borrow().clone();
                self.systemd.status(&decide::status_line(
                    &state,
                    &tally.outgoing,
                    tally.received,
                    tally.undecodable,
                    &self.radio,
                ));
            }
            Err(error) => {
                tracing::error!(error = %Scrub(&error), "cannot read the counts for the status line");
            }
        }
        Ok(())
    }
}
