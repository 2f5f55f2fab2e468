//! The long-running service: watches outbox/ and sends what arrives there
//! through the device, reads what the device receives into inbox/, runs the
//! hooks, answers signals and keeps systemd informed.
//!
//! [`run_on`] opens what the daemon owns and starts the loop. The loop is a
//! dispatcher that never blocks; what depends on time is decided by pure
//! functions that take `now` from the daemon's [`clock::Clock`].
//!
//! - `event_loop`: the loop and the order it serves events in.
//! - `outgoing` and `incoming`: the loop's two sides.
//! - `keeper` and `state`: the store and the spool's file operations,
//!   owned off the loop, on the blocking pool.
//! - `outbox`: from an outbox file to a queued message; cancellations,
//!   moves to sent/ and error/, the watch on the folder.
//! - `send`: sending one message part by part, what a failure means, and
//!   asking the device about a part that may have gone out.
//! - `receive`: from the device's storage to inbox files.
//! - `decide`, `retry`, `tp_mr`: the decisions, pure.
//! - `hook_env`: every hook invocation, built in one place.
//! - [`clock`]: calendar time, injectable.
//! - `watcher`: inotify on outbox/.
//! - `hooks`: running a hook without shell injection.
//! - `webhooks`: what each webhook event says, and the task that posts
//!   them (the keeper's jobs queue them in the commit of their outcome).
//! - `filter`: gammu's sender and SMSC filters.
//! - `systemd`, `logging`, `signals`: the process's surroundings.
//! - `room`: a full disk under the database, and the wait for room
//!   before the work starts again.
//! - `published`: what readers in the process (the HTTP API) are told:
//!   a snapshot of readings and counters, and each message that ended.
//!
//! The daemon knows its device only through [`crate::device::Device`]. One
//! task runs the loop, so the device sees one message at a time and the
//! store one job at a time; hooks run in tasks of their own.

pub(crate) mod budget;
pub mod clock;
pub(crate) mod decide;
mod destinations;
mod event;
mod event_loop;
pub(crate) mod filter;
pub(crate) mod hook_env;
pub(crate) mod hooks;
mod incoming;
mod keeper;
pub(crate) mod lanes;
pub(crate) mod limits;
pub(crate) mod logging;
mod outbox;
mod outgoing;
pub(crate) mod published;
pub(crate) mod receive;
pub(crate) mod retry;
pub(crate) mod room;
mod send;
mod signals;
mod state;
pub(crate) mod systemd;
pub(crate) mod tp_mr;
pub(crate) mod watcher;
mod webhooks;

use crate::config::Config;
use crate::device::{Device, DeviceEvent, PinMemory};
use crate::instance::{self, InstanceError};
use crate::store::{PinRecords, Store, StoreError};
use clock::Clock;
pub use event::DaemonEvent;
use event_loop::Daemon;
use incoming::InboxRetry;
use keeper::Keeper;
use send::MrTracker;
pub use signals::Signals;
use state::{Core, Schedule};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
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
    /// The HTTP API could not start.
    #[error("{0}")]
    Http(#[from] crate::http::HttpError),
}

/// What to run with.
pub struct DaemonOptions {
    /// The effective configuration; its database path must be set
    /// ([`crate::instance`] finds one for a configuration file).
    pub config: Config,
    /// Where to report [`DaemonEvent`]s.
    pub events: Option<mpsc::UnboundedSender<DaemonEvent>>,
    /// The handlers for SIGTERM, SIGINT, SIGHUP and SIGUSR1/2, installed
    /// by the caller ([`Signals::listen`]) before anything a clean exit
    /// must undo (a pid file); `None` handles no signals.
    pub signals: Option<Signals>,
    /// The file to read again on SIGHUP.
    pub config_path: Option<PathBuf>,
    /// Where calendar time comes from; the system's when `None`.
    pub clock: Option<Arc<dyn Clock>>,
}

impl DaemonOptions {
    /// Options for `config`: no events, no signals handled, no file to reload, the
    /// system's clock.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            events: None,
            signals: None,
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
    let mut open = Some(open);
    // The device is opened once: on a full disk the daemon stops, as the
    // work cannot start again on it.
    run_lanes(
        options,
        1,
        false,
        move |_, context, _| (open.take().expect("one modem is opened once"))(context),
        shutdown,
    )
    .await
}

/// [`run_on`] with every modem the configuration names (`[modem]` and each
/// `[[modems]]`): `open` opens modem `index` as the configuration of
/// [`Config::for_modem`] describes it. Each modem sends from the one queue
/// and receives into the one inbox.
pub async fn run_on_modems<D, F, Opened>(
    options: DaemonOptions,
    open: F,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError>
where
    D: Device,
    F: FnMut(usize, DeviceContext, Arc<Config>) -> Opened,
    Opened: Future<Output = Result<(D, mpsc::Receiver<DeviceEvent>), InstanceError>>,
{
    let count = 1 + options.config.more_modems.len();
    run_lanes(options, count, true, open, shutdown).await
}

/// Runs the daemon's work on `count` modems until it ends; when the disk
/// under the database fills, waits for room and runs it again (opening
/// the devices again), or, unless `reopen`, stops with the error.
async fn run_lanes<D, F, Opened>(
    options: DaemonOptions,
    count: usize,
    reopen: bool,
    mut open: F,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError>
where
    D: Device,
    F: FnMut(usize, DeviceContext, Arc<Config>) -> Opened,
    Opened: Future<Output = Result<(D, mpsc::Receiver<DeviceEvent>), InstanceError>>,
{
    let DaemonOptions {
        config,
        events,
        signals,
        config_path,
        clock,
    } = options;
    // A stop that arrived while starting waits in `signals` for the
    // loop's first turn.
    let mut signals = signals.unwrap_or_else(Signals::none);
    let clock: Arc<dyn Clock> = clock.unwrap_or_else(|| Arc::new(clock::SystemClock));
    let database = config
        .database
        .path
        .clone()
        .ok_or(DaemonError::NoDatabase)?;
    // One daemon per state, outbox and device: a second one stops here,
    // before it touches anything.
    let state_lock = instance::patiently(|| instance::lock_database(&database)).await?;
    let mut outbox_lock = if config.send.enabled {
        let outbox = &config.spool.outbox;
        Some(instance::patiently(|| instance::lock_dir(outbox, "outbox")).await?)
    } else {
        None
    };
    // A modem with no device node (a web stick, a phone, a ModemManager
    // modem) is locked by its address, beside the database.
    let mut device_locks = Vec::new();
    if let Some(state_dir) = database.parent() {
        for modem in std::iter::once(&config.modem).chain(&config.more_modems) {
            if let Some(address) = modem.lock_address() {
                device_locks.push(
                    instance::patiently(|| instance::lock_device_address(state_dir, &address))
                        .await?,
                );
            }
        }
    }
    let mut config = Arc::new(config);
    let mut shutdown = std::pin::pin!(shutdown);
    // Speaks for the process while its work waits for room.
    let systemd = systemd::Systemd::from_env();
    let mut backoff = None;
    let result = loop {
        if config.send.enabled && outbox_lock.is_none() {
            // Sending was turned on by a reload of the work before.
            let outbox = &config.spool.outbox;
            outbox_lock = Some(instance::patiently(|| instance::lock_dir(outbox, "outbox")).await?);
        }
        let began = tokio::time::Instant::now();
        let setting = Setting {
            config: Arc::clone(&config),
            database: database.clone(),
            outbox_lock: outbox_lock.clone(),
            events: events.clone(),
            config_path: config_path.clone(),
            clock: Arc::clone(&clock),
        };
        match work(setting, count, &mut open, shutdown.as_mut(), &mut signals).await {
            Ended::Done(result) => break result,
            Ended::DiskFull { error, .. } if !reopen => break Err(error),
            Ended::DiskFull {
                reason,
                config: in_force,
                ..
            } => {
                config = in_force;
                let least = room::backoff(backoff, began.elapsed());
                backoff = Some(least);
                let waited = room::Wait {
                    config: &config,
                    database: &database,
                    signals: &mut signals,
                    shutdown: shutdown.as_mut(),
                    systemd: &systemd,
                    events: events.as_ref(),
                }
                .until_room(&reason, least)
                .await;
                if waited == room::Waited::Stop {
                    systemd.stopping();
                    tracing::info!("stopping");
                    break Ok(());
                }
            }
        }
    };
    drop(device_locks);
    drop(outbox_lock);
    drop(state_lock);
    result
}

/// What one run of the daemon's work is given.
struct Setting {
    /// The configuration in force.
    config: Arc<Config>,
    database: PathBuf,
    /// The outbox's lock, which the process keeps between runs.
    outbox_lock: Option<instance::Lock>,
    events: Option<mpsc::UnboundedSender<DaemonEvent>>,
    config_path: Option<PathBuf>,
    clock: Arc<dyn Clock>,
}

/// How a run of the work ended.
enum Ended {
    /// For good: the daemon stops, with this result.
    Done(Result<(), DaemonError>),
    /// The disk under the database is full (`error`, in words `reason`):
    /// the work starts again once there is room, with the configuration
    /// then in force.
    DiskFull {
        error: DaemonError,
        reason: String,
        config: Arc<Config>,
    },
}

/// One run of the daemon's work: the store, the devices, the loops, the
/// HTTP API and the webhooks, from their start to their end. A run that
/// fails on a full disk ends as a crash would end it, and the next run
/// recovers as after one.
async fn work<D, F, Opened, S>(
    setting: Setting,
    count: usize,
    open: &mut F,
    shutdown: std::pin::Pin<&mut S>,
    signals: &mut Signals,
) -> Ended
where
    D: Device,
    F: FnMut(usize, DeviceContext, Arc<Config>) -> Opened,
    Opened: Future<Output = Result<(D, mpsc::Receiver<DeviceEvent>), InstanceError>>,
    S: Future<Output = ()>,
{
    let Setting {
        config,
        database,
        outbox_lock,
        events,
        config_path,
        clock,
    } = setting;
    let full = |error: &DaemonError| room::full_disk(error, || room::free_bytes(&database));
    let ended = |result: Result<(), DaemonError>, config: Arc<Config>| match result {
        Err(error) => match full(&error) {
            Some(reason) => Ended::DiskFull {
                error,
                reason,
                config,
            },
            None => Ended::Done(Err(error)),
        },
        Ok(()) => Ended::Done(Ok(())),
    };
    let opened = blocking(open_core(
        Arc::clone(&config),
        database.clone(),
        outbox_lock,
        Arc::clone(&clock),
    ))
    .await;
    let (core, outbox_events, pins) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            return ended(Err(error), config);
        }
    };
    let webhooks =
        match webhooks::Webhooks::start(&config.webhooks, &database, Arc::clone(&clock)).await {
            Ok(webhooks) => webhooks,
            Err(error) => return ended(Err(error.into()), config),
        };
    let mut lanes = lanes::Lane::all(&config);
    lanes.truncate(count.max(1));
    let mut opened = Vec::with_capacity(lanes.len());
    for (index, lane) in lanes.into_iter().enumerate() {
        let lane_config = Arc::new(config.for_modem(index));
        let context = DeviceContext {
            pins: Arc::clone(&pins),
        };
        match open(index, context, Arc::clone(&lane_config)).await {
            Ok((device, device_events)) => opened.push((lane, lane_config, device, device_events)),
            Err(error) => {
                for (_, _, device, _) in opened {
                    device.shutdown().await;
                }
                return Ended::Done(Err(error.into()));
            }
        }
    }
    let several = opened.len() > 1;
    if several {
        let names: Vec<&str> = opened.iter().map(|(lane, ..)| lane.name.as_str()).collect();
        tracing::info!(modems = %names.join(", "), "several modems: each sends from the one queue and receives into the one inbox");
    }
    let keeper = Keeper::new(core);
    // Every loop's hooks, one at a time in the order asked for.
    let (hook_queue, hook_runner) = hooks::HookQueue::start();
    // With several modems, a lane's job that changes the queue wakes the
    // others (an idle modem learns of new messages due).
    let wake = several.then(|| Arc::new(tokio::sync::watch::channel(0u64).0));
    let sends_since_intake = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // With several modems, the first modem's loop hands what SIGHUP
    // reloaded to the others.
    let reloaded = several.then(|| Arc::new(tokio::sync::watch::channel(None).0));
    let mut lanes = Vec::with_capacity(opened.len());
    for (lane, lane_config, device, device_events) in opened {
        let tracker = MrTracker::new(&keeper, None, device.capabilities().reference_counter).await;
        let first = lane.is_first();
        let daemon = Daemon {
            config: lane_config,
            keeper: keeper.clone(),
            schedule: Schedule::default(),
            device,
            clock: Arc::clone(&clock),
            events: events.clone(),
            systemd: if first {
                systemd::Systemd::from_env()
            } else {
                systemd::Systemd::disabled()
            },
            tracker,
            radio: String::new(),
            recheck_device: false,
            reads_worked: false,
            sends_held_until: None,
            failing_sends: 0,
            pause: None,
            pause_changed: false,
            sends_since_intake: Arc::clone(&sends_since_intake),
            calls: decide::CallGate::default(),
            storage_warned: false,
            inbox_retry: InboxRetry::default(),
            published: published::Publisher::new(),
            webhooks: None,
            lane: Arc::new(lane),
            hook_queue: hook_queue.clone(),
            wake: wake.clone(),
            woken: wake.as_ref().map(|wake| wake.subscribe()),
            reloaded: reloaded.clone().filter(|_| first),
            reloads: reloaded
                .as_ref()
                .filter(|_| !first)
                .map(|reloaded| reloaded.subscribe()),
        };
        lanes.push((daemon, device_events));
    }
    drop(keeper);
    drop(hook_queue);
    let modem_states = lanes
        .iter()
        .map(|(lane, _)| published::ModemState {
            name: lane.lane.name.clone(),
            state: lane.device.watch(),
        })
        .collect();
    let (mut daemon, device_events) = lanes.remove(0);
    daemon.webhooks = webhooks;
    daemon
        .published
        .update(|snapshot| snapshot.send_enabled = config.send.enabled);
    let http = match crate::http::start(
        Arc::clone(&config),
        &database,
        daemon.published.reader(modem_states),
    )
    .await
    {
        Ok(http) => http,
        Err(error) => {
            daemon.device.shutdown().await;
            for (other, _) in &lanes {
                other.device.shutdown().await;
            }
            return Ended::Done(Err(error.into()));
        }
    };
    if !config.receive.enabled {
        tracing::info!("Receive = no: incoming messages are left on the device");
    }
    // The first modem's loop stops the others when it ends; any loop that
    // fails stops them all.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let first = async {
        let stop_wait = stopped.clone();
        let result = match daemon.start().await {
            Ok(()) => {
                daemon
                    .serve(
                        device_events,
                        outbox_events,
                        signals,
                        config_path,
                        async move {
                            let mut stop_wait = stop_wait;
                            tokio::select! {
                                () = shutdown => {}
                                _ = stop_wait.wait_for(|stop| *stop) => {}
                            }
                        },
                    )
                    .await
            }
            Err(error) => Err(error),
        };
        stop.send_replace(true);
        result
    };
    let others = futures_util::future::join_all(lanes.iter_mut().map(|(other, events)| {
        let events = std::mem::replace(events, mpsc::channel(1).1);
        let mut stop_wait = stopped.clone();
        let stop = &stop;
        async move {
            // The outbox is the first modem's to watch.
            let (_no_files, no_outbox) = mpsc::channel(1);
            let mut no_signals = Signals::none();
            let result = other
                .serve(events, no_outbox, &mut no_signals, None, async move {
                    let _ = stop_wait.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(error) = &result {
                tracing::error!(modem = %other.lane.name, %error, "a modem's loop failed; stopping");
                stop.send_replace(true);
            }
            result
        }
    }));
    let (result, others) = tokio::join!(first, others);
    let result = result.and(
        others
            .into_iter()
            .collect::<Result<Vec<()>, _>>()
            .map(|_| ()),
    );
    // Told once: the free space asked for now is the one the run ended on.
    let full_reason = result.as_ref().err().and_then(&full);
    let disk_full = full_reason.is_some();
    if !disk_full {
        daemon.systemd.stopping();
        tracing::info!("stopping");
    } else {
        tracing::info!("stopping the work until there is room on the disk");
    }
    // The hooks still waiting may start for a while yet, not for ever.
    hook_runner.stop_began();
    if let Some(http) = http {
        http.stop().await;
    }
    daemon.device.shutdown().await;
    // `simgate status` says stopped, not the last state before; but not
    // while the process waits for room to go on (it runs, and a write
    // that still found room would say it does not).
    if !disk_full {
        let _ = daemon.record_device().await;
    }
    for (mut other, _) in lanes {
        other.device.shutdown().await;
        if !disk_full {
            let _ = other.record_device().await;
        }
    }
    // The hooks still queued run before the store closes (a RunOnReceive
    // records its start there), until the stop's deadline.
    daemon.hook_queue = hooks::HookQueue::closed();
    hook_runner.finish().await;
    if let Some(webhooks) = daemon.webhooks.take() {
        webhooks.stop().await;
    }
    // What a reload put in force, for the next run.
    let in_force = daemon.keeper.call(|core| Arc::clone(&core.config)).await;
    daemon.keeper.close().await;
    match (result, full_reason) {
        (Err(error), Some(reason)) => Ended::DiskFull {
            error,
            reason,
            config: in_force,
        },
        (result, _) => Ended::Done(result),
    }
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
    clock: Arc<dyn Clock>,
) -> impl FnOnce() -> Result<Opened, DaemonError> + Send + 'static {
    move || {
        let mut store = Store::open(&database)?;
        // Each outcome's webhook event is queued in its own commit.
        store.set_webhooks(webhooks::sink(&config.webhooks));
        // What each SIM did with the PIN outlives reloads and restarts.
        let pins: Arc<dyn PinMemory> = Arc::new(PinRecords::open(&database, clock)?);
        let (outbox, outbox_events) = if config.send.enabled {
            let (mut outbox, events) = outbox::Outbox::new(&config.spool.outbox, outbox_lock);
            outbox.destinations = destinations::Destinations::load(&config.destinations);
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
            zone: jiff::tz::TimeZone::try_system().unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot tell the system's time zone; the budget's months are UTC");
                jiff::tz::TimeZone::UTC
            }),
            budget_warning: None,
            own_messages: receive::OwnMessages::default(),
            failed_on: std::collections::HashMap::new(),
        };
        Ok((core, outbox_events, pins))
    }
}
