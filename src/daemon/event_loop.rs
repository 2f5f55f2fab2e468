//! The event loop: [`Daemon::serve`] hands every event to the part of the
//! daemon that owns it, in the order that keeps the daemon responsive (a
//! stop, the watchdog and the device first; a burst of sends or files last,
//! one message or one slice per turn). The work itself is in
//! [`super::outgoing`], [`super::incoming`] and, for what blocks, on the
//! keeper's [`Core`].

use super::destinations::Destinations;
use super::incoming::InboxRetry;
use super::keeper::Keeper;
use super::lanes::Lane;
use super::published::Publisher;
use super::signals::{Signal, Signals};
use super::state::{Core, Schedule, INTAKE_SLICE};
use super::{blocking, Clock, DaemonError, DaemonEvent, MrTracker};
use super::{clock, decide, filter, outbox, receive, send, systemd, watcher};
use crate::config::Config;
use crate::device::{Control, Device, DeviceEvent, DeviceState};
use crate::redact::Scrub;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The event loop's side of the daemon: the device, the clock, what is
/// reported, and the handle on the [`Core`] its keeper owns.
pub(super) struct Daemon<D> {
    pub(super) config: Arc<Config>,
    pub(super) keeper: Keeper<Core>,
    /// When there is work next, as of the keeper's last job.
    pub(super) schedule: Schedule,
    pub(super) device: D,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) events: Option<mpsc::UnboundedSender<DaemonEvent>>,
    pub(super) systemd: systemd::Systemd,
    /// What is known of the device's TP-MR counter in this session.
    pub(super) tracker: MrTracker,
    /// Signal and registration for the status line, refreshed now and then.
    pub(super) radio: String,
    /// A send failed for the device's state: initialise it again.
    pub(super) recheck_device: bool,
    /// A read of received messages worked in the device's session: one
    /// that then fails for the device's state (a SIM that locked itself
    /// again) has the device initialised again, which checks the SIM.
    pub(super) reads_worked: bool,
    /// The device cannot send now (no network, a locked SIM): no message
    /// is tried before this, or before the device's next session, since
    /// every one would fail the same way and use up an attempt.
    pub(super) sends_held_until: Option<tokio::time::Instant>,
    /// With several modems: this modem's sends that failed transiently in
    /// a row, for its own hold ([`Self::pace_after_send`]).
    pub(super) failing_sends: u32,
    /// Why this modem takes nothing for a while though it is ready (at
    /// its own limit, held back after failing sends), for `simgate
    /// status`; recorded with the device's status.
    pub(super) pause: Option<Pause>,
    /// The pause changed since the device's status was last recorded.
    pub(super) pause_changed: bool,
    /// Messages sent since the outbox was last taken in: when both are
    /// due, a slice of the outbox goes first after [`INTAKE_SLICE`] sends,
    /// so a burst being sent never keeps new files waiting, nor the reverse.
    /// With several modems, every modem's sends count (shared), so the
    /// first modem's intake keeps pace with all of them.
    pub(super) sends_since_intake: Arc<std::sync::atomic::AtomicUsize>,
    /// One call handled once.
    pub(super) calls: decide::CallGate,
    /// The receiving storage was reported nearly full and has not drained since.
    pub(super) storage_warned: bool,
    /// Received messages whose inbox files could not be written: when to
    /// try again.
    pub(super) inbox_retry: InboxRetry,
    /// What readers in this process (the HTTP API) are told.
    pub(super) published: Publisher,
    /// The webhook tasks, when URLs are configured (the first modem's
    /// loop holds them).
    pub(super) webhooks: Option<super::webhooks::Webhooks>,
    /// Which modem this loop drives, of one or several.
    pub(super) lane: Arc<Lane>,
    /// Where its hooks wait their turn (one runner for every modem's loop).
    pub(super) hook_queue: super::hooks::HookQueue,
    /// With several modems: told when a job changed the queue, so that
    /// an idle modem's loop looks again.
    pub(super) wake: Option<Arc<watch::Sender<u64>>>,
    /// The other modems' changes, seen here.
    pub(super) woken: Option<watch::Receiver<u64>>,
    /// With several modems, the first modem's loop: where it hands each
    /// configuration it reloaded (SIGHUP) to the others.
    pub(super) reloaded: Option<Arc<watch::Sender<Option<Arc<Config>>>>>,
    /// The other modems' loops: the reloads handed over, seen here.
    pub(super) reloads: Option<watch::Receiver<Option<Arc<Config>>>>,
}

/// SIGHUP: the log file opened again (logrotate moved it away), at the
/// path the configuration now names; `false` when logging does not go to
/// a file (that waits for a restart, and says so).
async fn reopen_log(path: &std::path::Path) -> bool {
    let file = path.to_owned();
    match blocking(move || super::logging::reopen(&file)).await {
        Some(Ok(())) => true,
        None => {
            tracing::warn!(
                log = %path.display(),
                "SIGHUP: logging to a file takes effect at the next restart"
            );
            false
        }
        Some(Err(error)) => {
            tracing::error!(
                log = %path.display(),
                %error,
                "SIGHUP: cannot open the log file again; logging goes on to the one open"
            );
            true
        }
    }
}

/// SIGHUP and `[spool] umask`: a mask set applies at once to the files
/// written from now on; one removed leaves the mask set (the one simgate
/// started with is not known), and says so.
fn reload_umask(config: &mut Config, running: &Config) {
    match (config.spool.umask, running.spool.umask) {
        (Some(mask), _) => {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
        }
        (None, Some(_)) => {
            tracing::warn!("SIGHUP: a removed [spool] umask takes effect at the next restart");
            config.spool.umask = running.spool.umask;
        }
        (None, None) => {}
    }
}

/// The longest period [`every`] sets a timer for. The clock cannot add
/// any duration (`Instant + Duration` panics when it overflows, and tokio
/// adds the period at every tick), and a timer thirty years away never
/// fires anyway. The configuration refuses periods above a year; this is
/// the second line.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 86_400);

/// An interval for a setting where zero means never; a longer period than
/// [`FAR_FUTURE`] is that.
pub(super) fn every(period: Duration) -> Option<tokio::time::Interval> {
    let period = period.min(FAR_FUTURE);
    (!period.is_zero()).then(|| {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    })
}

/// A timer for a period the configuration sets: made again on a reload
/// only when its period changed, so that a reload (logrotate's, daily)
/// does not put off a long period for ever.
struct Timer {
    period: Duration,
    interval: Option<tokio::time::Interval>,
}

impl Timer {
    fn new(period: Duration) -> Self {
        Self {
            period,
            interval: every(period),
        }
    }

    fn set(&mut self, period: Duration) {
        if period != self.period {
            *self = Self::new(period);
        }
    }
}

/// The loop's timers whose periods the configuration sets (the first
/// modem's loop has the outbox's rescan and the expiry).
struct Timers {
    rescan: Timer,
    radio_refresh: Timer,
    soft_reset: Timer,
    hard_reset: Timer,
    receive_poll: Timer,
    multipart_check: Timer,
    expiry: Timer,
}

impl Timers {
    /// The periods `config` sets, for the first modem's loop or another's.
    fn periods(config: &Config, first: bool) -> [Duration; 7] {
        let first_only = |period: Duration| if first { period } else { Duration::ZERO };
        [
            first_only(config.spool.scan_interval.max(Duration::from_secs(1))),
            config.modem.status_interval,
            config.modem.reset_interval,
            config.modem.hard_reset_interval,
            receive::poll_interval(config),
            receive::multipart_check_interval(config),
            first_only(send::expiry_interval(config)),
        ]
    }

    fn of(config: &Config, first: bool) -> Self {
        let [rescan, radio, soft, hard, poll, multipart, expiry] = Self::periods(config, first);
        Self {
            rescan: Timer::new(rescan),
            radio_refresh: Timer::new(radio),
            soft_reset: Timer::new(soft),
            hard_reset: Timer::new(hard),
            receive_poll: Timer::new(poll),
            multipart_check: Timer::new(multipart),
            expiry: Timer::new(expiry),
        }
    }

    /// SIGHUP: each timer whose period `config` changed starts again.
    fn set(&mut self, config: &Config, first: bool) {
        let [rescan, radio, soft, hard, poll, multipart, expiry] = Self::periods(config, first);
        self.rescan.set(rescan);
        self.radio_refresh.set(radio);
        self.soft_reset.set(soft);
        self.hard_reset.set(hard);
        self.receive_poll.set(poll);
        self.multipart_check.set(multipart);
        self.expiry.set(expiry);
    }
}

/// Starts `interval`'s period again from now: after work that may take
/// longer than the period (a status read of a slow stick), so that the
/// loop serves everything else before that work comes round again.
/// (An interval whose tick is already due when the work ends fires at
/// once, and, checked before the sends, would keep the loop to itself.)
pub(super) fn restart(interval: &mut Option<tokio::time::Interval>) {
    if let Some(interval) = interval {
        interval.reset();
    }
}

pub(super) async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The first modem's loop reloaded the configuration (never, for the
/// first modem's loop or with one modem).
async fn reloaded(reloads: &mut Option<watch::Receiver<Option<Arc<Config>>>>) -> Arc<Config> {
    if let Some(receiver) = reloads {
        while receiver.changed().await.is_ok() {
            if let Some(config) = receiver.borrow_and_update().clone() {
                return config;
            }
        }
    }
    std::future::pending().await
}

/// Another modem's loop changed the queue (never, with one modem).
async fn changed(woken: &mut Option<watch::Receiver<u64>>) {
    match woken {
        Some(woken) => {
            if woken.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

pub(super) async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        // Due already: no timer. tokio rounds a deadline up to its next
        // millisecond tick, so a send due "now" waited up to 1 ms: in a
        // burst, that was 40% of the time between two messages.
        Some(at) if at <= tokio::time::Instant::now() => {}
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A modem that takes nothing until `until_ms` though it may be ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pause {
    /// Until when (ms since the epoch).
    pub(super) until_ms: i64,
    /// Why, in words for `simgate status`.
    pub(super) reason: String,
}

impl<D: Device> Daemon<D> {
    /// Runs `job` on the keeper's state and notes when there is work next.
    pub(super) async fn core<R: Send + 'static>(
        &mut self,
        job: impl FnOnce(&mut Core) -> R + Send + 'static,
    ) -> Result<R, DaemonError> {
        let lane = Arc::clone(&self.lane);
        let (answer, schedule) = self
            .keeper
            .call(move |core| {
                let answer = job(core);
                (answer, core.schedule(&lane))
            })
            .await;
        self.schedule = schedule?;
        Ok(answer)
    }

    /// The queue changed (taken in, sent, given back): the other modems'
    /// loops look again when idle.
    pub(super) fn queue_changed(&self) {
        if let Some(wake) = &self.wake {
            wake.send_modify(|generation| *generation = generation.wrapping_add(1));
        }
    }

    /// What a restart owes ([`Core::start`]), and the hooks it owes.
    pub(super) async fn start(&mut self) -> Result<(), DaemonError> {
        let now = self.clock.now();
        let started = self.core(move |core| core.start(now)).await??;
        if let Some(error) = &started.write_error {
            self.inbox_retry.failed(error);
        }
        self.announce_received(started.received).await;
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
    pub(super) async fn serve(
        &mut self,
        mut device_events: mpsc::Receiver<DeviceEvent>,
        mut outbox_events: mpsc::Receiver<watcher::OutboxEvent>,
        signals: &mut Signals,
        config_path: Option<PathBuf>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), DaemonError> {
        let stop = signals.stop_flag();
        // The first modem's loop watches the outbox and speaks for the
        // process; the others send and receive.
        let first = self.lane.is_first();
        let mut woken = self.woken.take();
        let mut reloads = self.reloads.take();
        let mut timers = Timers::of(&self.config, first);
        let mut folder_check = tokio::time::interval(outbox::FOLDER_CHECK);
        let mut watchdog = every(self.systemd.watchdog_interval().unwrap_or(Duration::ZERO));
        let mut device_state = self.device.watch();
        let mut init_failures_seen = 0;
        if let DeviceState::Connecting {
            attempt,
            last_error: Some(_),
        } = &*device_state.borrow()
        {
            // Failed before the loop began to watch.
            init_failures_seen = *attempt;
            Self::run_on_failure(&self.hook_queue, &self.config.hooks, "INIT");
        }
        let mut was_ready = self.ready();
        self.record_device().await?;
        // Ready for systemd once the loop serves, modem or not: the outbox
        // is taken in and queued, and the status line (at each change of
        // the device's state) says the modem is awaited. Waiting for the
        // modem kept a `Type=notify` start pending until systemd's start
        // timeout killed the daemon, again after every restart, while the
        // modem was away.
        self.systemd.ready();
        // The first modem's loop gives up on messages past `max_age`, a
        // slice a turn (`expiring` while more may be due).
        let mut expiring = false;
        // The first modem's loop notices the calendar set forward or back.
        let mut calendar = first.then(|| clock::CalendarWatch::of(&*self.clock));
        // While the hooks waiting their turn are at their bound, nothing
        // that asks for more is taken (a send, an expiry); the loop serves
        // everything else meanwhile (a stop, the watchdog, the device).
        let mut hooks_room = self.hook_queue.room();
        // A channel whose senders are gone is always ready with `None`:
        // polled again, it kept the loop to itself (a core at 100 %, and
        // no timer below it served: with `Send = no`, the outbox's never
        // had a sender).
        let mut device_events_open = true;
        let mut outbox_events_open = true;
        tokio::pin!(shutdown);
        loop {
            if let Some(watch) = calendar.as_mut() {
                let now_ms = self.clock.now_ms();
                if let Some(step_ms) = watch.look(now_ms, self.clock.steady()) {
                    self.core(move |core| core.calendar_stepped(step_ms, now_ms))
                        .await??;
                    self.queue_changed();
                }
            }
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
            // With sending off (a reload turned it off), nothing more is
            // taken in: new files stay in the outbox, as at a start with
            // `Send = no`, and wait for sending to be turned on again.
            let outbox_due = self
                .schedule
                .outbox_due
                .filter(|_| first && self.config.send.enabled)
                .map(|at| clock::deadline(&*clock, at));
            let watch_dead = self.schedule.watch_dead && first;
            let ready = self.ready();
            let room = self.hook_queue.has_room();
            let sending = ready && self.config.send.enabled && room;
            let intake_first = self.sends_since_intake.load(Relaxed) >= INTAKE_SLICE;
            tokio::select! {
                biased;
                () = &mut shutdown => return Ok(()),
                signal = signals.recv() => match signal {
                    Some(Signal::Stop) | None => return Ok(()),
                    Some(Signal::Reload) => {
                        self.systemd.reloading();
                        if let Some(events) = self.reload(config_path.as_deref()).await? {
                            outbox_events = events;
                            outbox_events_open = true;
                        }
                        timers.set(&self.config, first);
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
                    // Each failed opening or initialisation: RunOnFailure
                    // INIT, as gammu-smsd runs it (once per attempt).
                    if let DeviceState::Connecting {
                        attempt,
                        last_error: Some(_),
                    } = &state
                    {
                        if *attempt != init_failures_seen {
                            init_failures_seen = *attempt;
                            Self::run_on_failure(&self.hook_queue, &self.config.hooks, "INIT");
                        }
                    }
                    let is_ready = matches!(state, DeviceState::Ready(_));
                    if was_ready && !is_ready {
                        // The session ended: its readings with it.
                        self.published.update(|snapshot| {
                            snapshot.modem_resets += 1;
                            snapshot.radio = None;
                        });
                        self.emit(DaemonEvent::ModemLost);
                    }
                    was_ready = is_ready;
                    if let DeviceState::Ready(info) = state {
                        init_failures_seen = 0;
                        self.session_started(info).await?;
                    }
                    self.record_device().await?;
                    self.status_line().await?;
                }
                event = device_events.recv(), if device_events_open => match event {
                    Some(event) => {
                        let mut batch = vec![event];
                        while let Ok(more) = device_events.try_recv() {
                            batch.push(more);
                        }
                        self.device_events(batch).await?;
                    }
                    None => device_events_open = false,
                },
                event = outbox_events.recv(), if outbox_events_open => match event {
                    Some(event) => {
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
                    // No watch (`Send = no`, or a modem other than the
                    // first): nothing more comes.
                    None => outbox_events_open = false,
                },
                _ = folder_check.tick(), if watch_dead => {
                    self.core(|core| core.outbox.as_mut().map(outbox::Outbox::check_watch)).await?;
                }
                () = tick(&mut timers.rescan.interval) => {
                    self.core(|core| {
                        if let Some(outbox) = core.outbox.as_mut() {
                            outbox.check_watch();
                            outbox.request_rescan();
                        }
                    })
                    .await?;
                }
                () = tick(&mut timers.receive_poll.interval), if ready => {
                    self.read_device(None).await?;
                    restart(&mut timers.receive_poll.interval);
                }
                () = tick(&mut timers.multipart_check.interval) => {
                    let now = self.clock.now_ms();
                    let flushed = self
                        .core(move |core| receive::flush_stale(&core.config, &mut core.store, now))
                        .await?;
                    match flushed {
                        Ok(received) => self.announce_received(received).await,
                        Err(error) => self.inbox_retry.failed(&error),
                    }
                }
                () = sleep_until(self.inbox_retry.next) => {
                    self.write_unwritten().await?;
                    if self.inbox_retry.next.is_none() {
                        // Written at last: their copies on the device may go now.
                        self.read_device(None).await?;
                    }
                }
                () = tick(&mut timers.soft_reset.interval) => {
                    tracing::info!("periodic reset (ResetFrequency): initialising the device again");
                    self.device.control(Control::Reconnect).await;
                    self.hold_sends_for_new_session();
                }
                () = tick(&mut timers.hard_reset.interval) => {
                    tracing::info!("periodic hard reset (HardResetFrequency)");
                    self.device.control(Control::HardReset).await;
                    self.hold_sends_for_new_session();
                }
                () = tick(&mut timers.radio_refresh.interval), if ready => {
                    self.refresh_radio().await;
                    self.record_device().await?;
                    self.status_line().await?;
                    restart(&mut timers.radio_refresh.interval);
                }
                () = sleep_until(outbox_due), if intake_first => {
                    self.sends_since_intake.store(0, Relaxed);
                    self.process_outbox().await?;
                }
                () = hooks_room.wait(), if !room => {}
                () = sleep_until(send_due), if sending => {
                    self.sends_since_intake.fetch_add(1, Relaxed);
                    self.send_next(&stop).await?;
                }
                () = tick(&mut timers.expiry.interval), if room => expiring = self.expire_old().await?,
                () = std::future::ready(()), if expiring && room => expiring = self.expire_old().await?,
                () = sleep_until(outbox_due), if !intake_first => {
                    self.sends_since_intake.store(0, Relaxed);
                    self.process_outbox().await?;
                }
                () = changed(&mut woken) => self.core(|_| ()).await?,
                config = reloaded(&mut reloads) => {
                    self.take_reload(config).await;
                    timers.set(&self.config, first);
                }
            }
        }
    }

    /// An outcome of `kind` was committed (its webhook event with it, when
    /// that kind is posted): the poster is woken.
    pub(super) fn webhook(&self, kind: &str) {
        if let Some(webhooks) = &self.webhooks {
            webhooks.committed(kind);
        }
    }

    pub(super) fn emit(&self, event: DaemonEvent) {
        self.published.note(&event);
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    pub(super) fn ready(&self) -> bool {
        matches!(*self.device.watch().borrow(), DeviceState::Ready(_))
    }

    /// A new device session: what its TP-MR counter says is learnt again,
    /// parts in doubt are settled before anything else is sent, and what
    /// arrived while simgate was away is read.
    pub(super) async fn session_started(
        &mut self,
        info: crate::device::DeviceInfo,
    ) -> Result<(), DaemonError> {
        // What held the sends was the old session's state.
        self.sends_held_until = None;
        self.reads_worked = false;
        self.set_pause(None);
        self.tracker = MrTracker::new(
            &self.keeper,
            info.imei.as_deref(),
            self.device.capabilities().reference_counter,
        )
        .await;
        if self.config.send.enabled {
            self.resolve().await?;
        }
        // The HTTP API and `simgate status` show the latest reading: take
        // one now, not only after the first status_interval (which may be
        // never).
        self.refresh_radio().await;
        self.emit(DaemonEvent::ModemReady { model: info.model });
        self.read_device(None).await
    }

    /// SIGHUP: reads the configuration again and hands the device its
    /// settings (a new session). The outbox and the database stay as they
    /// were (changing them needs a restart, and says so); a configuration
    /// that does not load keeps the old one running.
    ///
    /// Sending turned on for the first time since the start: the outbox is
    /// watched from now on, and its watch's events are returned.
    pub(super) async fn reload(
        &mut self,
        path: Option<&std::path::Path>,
    ) -> Result<Option<mpsc::Receiver<watcher::OutboxEvent>>, DaemonError> {
        let Some(path) = path else {
            tracing::info!("SIGHUP: initialising the device again");
            self.device.control(Control::Reconnect).await;
            self.hold_sends_for_new_session();
            return Ok(None);
        };
        let file = path.to_owned();
        let mut outbox_events = None;
        match blocking(move || crate::config::load(&file)).await {
            Ok(loaded) => {
                let mut config = loaded.config.clone();
                self.reload_log(&mut config).await;
                loaded.log_notices();
                reload_umask(&mut config, &self.config);
                if config.spool.outbox != self.config.spool.outbox
                    || config.database.path.is_some()
                        && config.database.path != self.config.database.path
                {
                    tracing::warn!(
                        "SIGHUP: a new outbox or database path takes effect at the next restart"
                    );
                }
                let mut file_http = config.http.clone();
                if file_http.listen.is_none() {
                    // `simgate run --http` is not in the file.
                    file_http.listen = self.config.http.listen;
                }
                if file_http != self.config.http {
                    tracing::warn!(
                        "SIGHUP: a changed [http] section takes effect at the next restart"
                    );
                }
                // What the running HTTP API serves with (`--http` included).
                config.http = self.config.http.clone();
                if config.webhooks != self.config.webhooks {
                    tracing::warn!(
                        "SIGHUP: changed [webhooks] settings take effect at the next restart"
                    );
                }
                config.spool.outbox = self.config.spool.outbox.clone();
                config.database.path = self.config.database.path.clone();
                if config.send.enabled != self.config.send.enabled {
                    if config.send.enabled {
                        outbox_events = self.open_outbox(&config).await?;
                        if outbox_events.is_none() {
                            config.send.enabled = self.outbox_open().await?;
                        }
                    }
                    if config.send.enabled {
                        tracing::info!("SIGHUP: Send = yes: the outbox is taken in and sent");
                    } else {
                        tracing::info!("SIGHUP: Send = no: nothing more is taken in or sent until sending is turned on again");
                    }
                    self.published
                        .update(|snapshot| snapshot.send_enabled = config.send.enabled);
                }
                let config = Arc::new(config);
                self.config = Arc::new(config.for_modem(0));
                let lanes = Lane::all(&config);
                let same_modems = lanes.iter().map(|lane| &lane.name).eq(self.lane.names());
                if same_modems {
                    // Each modem's own settings (prefixes, limits) with it.
                    self.lane = Arc::new(lanes[0].clone());
                    if let Some(reloaded) = &self.reloaded {
                        reloaded.send_replace(Some(Arc::clone(&config)));
                    }
                } else {
                    tracing::warn!(
                        "SIGHUP: a changed list of modems (added, removed or renamed) takes effect at the next restart; until then each modem keeps its own settings"
                    );
                }
                let now = self.clock.now();
                self.core(move |core| {
                    if config.budget != core.config.budget {
                        // A new budget may let waiting messages go.
                        match core
                            .store
                            .release_held(super::budget::HELD_REASON, clock::to_ms(now))
                        {
                            Ok(0) => {}
                            Ok(released) => tracing::info!(
                                released,
                                "the budget changed: messages that waited for it are due again"
                            ),
                            Err(error) => tracing::error!(%error, "cannot release the messages that waited for the budget"),
                        }
                    }
                    if config.limits != core.config.limits {
                        // The new limits may let waiting messages go; one
                        // they still hold is held again on their terms.
                        match core.store.release_held("limits.", clock::to_ms(now)) {
                            Ok(0) => {}
                            Ok(released) => tracing::info!(
                                released,
                                "the rate limits changed: messages that waited for them are due again"
                            ),
                            Err(error) => tracing::error!(%error, "cannot release the messages that waited for the rate limits"),
                        }
                    }
                    core.filters = filter::Filters::load(&config.filters);
                    if let Some(outbox) = core.outbox.as_mut() {
                        outbox.destinations = Destinations::load(&config.destinations);
                    }
                    core.config = config;
                })
                .await?;
                self.device.reload(&self.config).await;
                self.hold_sends_for_new_session();
                tracing::info!(config = %path.display(), "SIGHUP: configuration reloaded, device reconnecting");
            }
            Err(error) => {
                tracing::error!(config = %path.display(), error = %Scrub(&error), "SIGHUP: configuration not reloaded; keeping the old one");
            }
        }
        Ok(outbox_events)
    }

    /// Whether the outbox is watched (sending was on at some time).
    async fn outbox_open(&mut self) -> Result<bool, DaemonError> {
        self.core(|core| core.outbox.is_some()).await
    }

    /// Sending turned on by a reload: when the outbox was never watched
    /// (sending was off at start), it is locked and watched now, and what
    /// a start does with it is done (claimed files of an earlier run go
    /// back or on). `None` when it was watched already, or cannot be
    /// (another process holds it: logged, and sending stays off).
    async fn open_outbox(
        &mut self,
        config: &Config,
    ) -> Result<Option<mpsc::Receiver<watcher::OutboxEvent>>, DaemonError> {
        let config = Arc::new(config.clone());
        let now = self.clock.now();
        let opened = self
            .core(move |core| -> Result<_, crate::store::StoreError> {
                if core.outbox.is_some() {
                    return Ok(None);
                }
                let dir = &config.spool.outbox;
                let lock = match crate::instance::lock_dir(dir, "outbox") {
                    Ok(lock) => lock,
                    Err(error) => {
                        tracing::error!(%error, "SIGHUP: cannot take the outbox; sending stays off");
                        return Ok(None);
                    }
                };
                let (mut outbox, events) = outbox::Outbox::new(dir, Some(lock));
                outbox.destinations = Destinations::load(&config.destinations);
                let resolving = outbox.recover(&config, &mut core.store, now)?;
                if !resolving.is_empty() {
                    tracing::warn!(
                        count = resolving.len(),
                        "messages interrupted mid-send: the device will be asked whether they went out"
                    );
                }
                core.outbox = Some(outbox);
                Ok(Some(events))
            })
            .await??;
        Ok(opened)
    }

    /// SIGHUP and `[log]`: the level applies at once; a log file is opened
    /// again at the path the configuration now names; a change of target
    /// other than that (stderr, stdout, syslog) or of facility waits for
    /// the next restart, and says so. `config` keeps what logging runs
    /// with.
    async fn reload_log(&self, config: &mut Config) {
        let running = &self.config.log;
        if config.log.level != running.level {
            let level = format!("{:?}", config.log.level).to_ascii_lowercase();
            super::logging::set_level(&level);
        }
        use crate::config::LogTarget;
        if let LogTarget::File(path) = &config.log.target {
            if !reopen_log(path).await {
                config.log.target = running.target.clone();
            }
        } else if config.log.target != running.target {
            tracing::warn!("SIGHUP: a changed [log] file takes effect at the next restart");
            config.log.target = running.target.clone();
        }
        if config.log.facility != running.facility && running.target == LogTarget::Syslog {
            tracing::warn!("SIGHUP: a changed [log] facility takes effect at the next restart");
        }
        config.log.facility = running.facility;
    }

    /// Another modem's loop: the first modem's loop reloaded `config`
    /// (SIGHUP); this modem takes its own settings from it.
    async fn take_reload(&mut self, config: Arc<Config>) {
        let index = (self.lane.slot - 1) as usize;
        let Some(lane) = Lane::all(&config).into_iter().nth(index) else {
            return;
        };
        self.lane = Arc::new(lane);
        self.config = Arc::new(config.for_modem(index));
        self.device.reload(&self.config).await;
        self.hold_sends_for_new_session();
        tracing::info!(
            "SIGHUP: modem {}: settings reloaded, device reconnecting",
            self.lane.name
        );
    }

    /// Reads signal and registration for the status line.
    pub(super) async fn refresh_radio(&mut self) {
        let radio = self.device.radio().await;
        self.radio = decide::radio_words(&radio);
        self.published
            .update(|snapshot| snapshot.radio = Some(radio));
    }

    /// Records the device's state and latest reading in the database, for
    /// `simgate status` in another process (synced with the next commit:
    /// a power cut may lose it, the next change writes it again).
    pub(super) async fn record_device(&mut self) -> Result<(), DaemonError> {
        let state = self.device.watch().borrow().clone();
        let radio = self.published.radio().unwrap_or_default();
        let notes = self.device.notes();
        let (name, detail, model) = match state {
            DeviceState::Ready(info) => ("ready", None, Some(info.model)),
            DeviceState::Connecting { last_error, .. } => ("connecting", last_error, None),
            DeviceState::Suspended => ("suspended", None, None),
            DeviceState::Stopped => ("stopped", None, None),
        };
        let status = crate::store::status::DeviceStatus {
            state: name.to_owned(),
            detail,
            model,
            signal_dbm: radio.signal_dbm,
            signal_percent: radio.signal_percent,
            registered: radio.registered,
            operator: radio.operator,
            phone: radio.phone,
            pid: std::process::id(),
            updated_ms: self.clock.now_ms(),
            name: Some(self.lane.name.clone()),
            storage_used: notes.storage.map(|(used, _)| used),
            storage_total: notes.storage.map(|(_, total)| total),
            fault_ms: notes.fault.as_ref().map(|(at, _)| clock::to_ms(*at)),
            fault: notes.fault.map(|(_, what)| what),
            paused_until_ms: self.pause.as_ref().map(|pause| pause.until_ms),
            paused_reason: self.pause.as_ref().map(|pause| pause.reason.clone()),
        };
        self.pause_changed = false;
        let slot = self.lane.slot;
        let recorded = self
            .core(move |core| {
                core.store
                    .batch(crate::store::Durability::WithNextCommit, |store| {
                        store.record_modem_status(slot, &status)
                    })
            })
            .await?;
        if let Err(error) = recorded {
            tracing::warn!(error = %Scrub(&error), "cannot record the device's status for simgate status");
        }
        Ok(())
    }

    /// One line of state for systemd; a database error is only logged.
    pub(super) async fn status_line(&mut self) -> Result<(), DaemonError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// A deadline that has passed completes at once. tokio would round it
    /// up to its next millisecond tick: with the clock between two ticks
    /// (as it always is in real time), every send due "now" waited for it.
    #[tokio::test(start_paused = true)]
    async fn a_deadline_that_has_passed_needs_no_timer() {
        tokio::time::advance(Duration::from_micros(500)).await;
        let mut cx = Context::from_waker(Waker::noop());
        let now = tokio::time::Instant::now();
        let due_now = pin!(sleep_until(Some(now)));
        assert_eq!(due_now.poll(&mut cx), Poll::Ready(()));
        let past = pin!(sleep_until(Some(now - Duration::from_micros(300))));
        assert_eq!(past.poll(&mut cx), Poll::Ready(()));
        let later = pin!(sleep_until(Some(now + Duration::from_millis(5))));
        assert_eq!(later.poll(&mut cx), Poll::Pending);
        let never = pin!(sleep_until(None));
        assert_eq!(never.poll(&mut cx), Poll::Pending);
    }

    /// A period the clock cannot hold (a configuration the loader would
    /// refuse, or a value from anywhere else) is a timer that never fires
    /// in practice, not a panic: `every` added it to the clock and
    /// panicked with "overflow when adding duration to instant".
    #[tokio::test(start_paused = true)]
    async fn a_period_beyond_the_clock_saturates() {
        let mut interval = every(Duration::MAX);
        assert!(interval.is_some(), "not zero: an interval");
        restart(&mut interval);
        let years = Duration::from_secs(10 * 365 * 86_400);
        let fired = tokio::time::timeout(years, tick(&mut interval)).await;
        assert!(fired.is_err(), "fired within ten years");
    }
}
