//! A device of the tests' own, in memory, with no pty and no AT (the
//! device interface is all the daemon needs, issue #10 §3), and a rig that
//! runs the daemon on it in this process, on tokio's clock: tests that
//! pause time decide timing exactly, however fast the machine is.

use simgate::config::Config;
use simgate::daemon::clock::{Clock, TokioClock};
use simgate::daemon::{self, DaemonError, DaemonEvent, DaemonOptions, DeviceContext};
use simgate::device::{
    Capabilities, Control, Device, DeviceError, DeviceEvent, DeviceInfo, DeviceState, FailureKind,
    Listed, Location, Radio,
};
use simgate::instance::InstanceError;
use simgate::pdu::{self, EncodedPdu, SmsSubmit, Timestamp};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot, watch};

/// What the scripted device has seen and holds.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// SMS-SUBMITs it "sent", with their references.
    pub(crate) sent: Vec<(SmsSubmit, u8)>,
    /// Its storage: index → PDU (SMSC field, then TPDU).
    pub(crate) stored: BTreeMap<u32, Vec<u8>>,
    next_index: u32,
    next_reference: u8,
    /// Indexes deleted, in order.
    pub(crate) deleted: Vec<u32>,
    /// Failures the next sends answer with, in order.
    pub(crate) send_failures: VecDeque<DeviceError>,
    /// The failure every send answers with while set (after
    /// `send_failures`): a device that reports itself ready and fails
    /// each send.
    pub(crate) failing: Option<DeviceError>,
    /// How long each send takes (tokio's clock).
    pub(crate) send_delay: Duration,
    /// Sends tried, failed ones included.
    pub(crate) send_attempts: u32,
    /// When each send was tried (tokio's clock).
    pub(crate) send_times: Vec<tokio::time::Instant>,
    /// What [`Device::resends_safely`] says.
    pub(crate) resends_safely: bool,
    /// Calls hung up.
    pub(crate) hung_up: u32,
    /// Failures the next reads of the TP-MR counter answer with, in order.
    pub(crate) reference_failures: VecDeque<DeviceError>,
    /// When the TP-MR counter was read (tokio's clock).
    pub(crate) reference_reads: Vec<tokio::time::Instant>,
}

/// A device that keeps everything in memory and answers at once.
#[derive(Debug, Clone)]
pub(crate) struct Scripted {
    memory: Arc<Mutex<Memory>>,
    state: watch::Receiver<DeviceState>,
    events: mpsc::Sender<DeviceEvent>,
}

impl Scripted {
    pub(crate) fn new() -> (
        Self,
        mpsc::Receiver<DeviceEvent>,
        watch::Sender<DeviceState>,
    ) {
        let (state_tx, state) = watch::channel(DeviceState::Connecting {
            attempt: 0,
            last_error: None,
        });
        let (events, receiver) = mpsc::channel(16);
        let memory = Arc::new(Mutex::new(Memory {
            next_reference: 40,
            ..Memory::default()
        }));
        (
            Self {
                memory,
                state,
                events,
            },
            receiver,
            state_tx,
        )
    }

    pub(crate) fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap()
    }

    /// The network delivers `tpdu`: stored, and announced.
    pub(crate) async fn arrive(&self, tpdu: &[u8]) {
        self.store_silently(tpdu);
        self.events
            .send(DeviceEvent::Stored {
                storage: "MEM".to_owned(),
            })
            .await
            .unwrap();
    }
}

impl Scripted {
    /// The network delivers `tpdu`: stored, and not announced (a modem
    /// that lost its `+CMTI`).
    pub(crate) fn store_silently(&self, tpdu: &[u8]) {
        let mut pdu = vec![0x00]; // no SMSC field
        pdu.extend_from_slice(tpdu);
        let mut memory = self.memory();
        memory.next_index += 1;
        let index = memory.next_index;
        memory.stored.insert(index, pdu);
    }

    /// Somebody calls.
    pub(crate) async fn ring(&self, caller: &str) {
        self.events
            .send(DeviceEvent::Call {
                caller: caller.to_owned(),
            })
            .await
            .unwrap();
    }
}

impl Device for Scripted {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            storage: true,
            calls: true,
            reference_counter: true,
        }
    }

    fn watch(&self) -> watch::Receiver<DeviceState> {
        self.state.clone()
    }

    async fn send(&self, pdu: &EncodedPdu) -> Result<u8, DeviceError> {
        let (_, tpdu) = pdu::split_smsc(pdu.bytes()).map_err(|e| DeviceError {
            kind: FailureKind::Permanent,
            message: e.to_string(),
        })?;
        let submit = SmsSubmit::decode(tpdu).map_err(|e| DeviceError {
            kind: FailureKind::Permanent,
            message: e.to_string(),
        })?;
        let delay = self.memory().send_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut memory = self.memory();
        memory.send_attempts += 1;
        memory.send_times.push(tokio::time::Instant::now());
        if let Some(failure) = memory.send_failures.pop_front() {
            return Err(failure);
        }
        if let Some(failure) = memory.failing.clone() {
            return Err(failure);
        }
        let reference = memory.next_reference;
        memory.next_reference = reference.wrapping_add(1);
        memory.sent.push((submit, reference));
        Ok(reference)
    }

    async fn last_reference(&self) -> Result<Option<u8>, DeviceError> {
        let mut memory = self.memory();
        memory.reference_reads.push(tokio::time::Instant::now());
        if let Some(failure) = memory.reference_failures.pop_front() {
            return Err(failure);
        }
        Ok(Some(memory.next_reference.wrapping_sub(1)))
    }

    fn resends_safely(&self) -> bool {
        self.memory().resends_safely
    }

    fn storages(&self) -> Vec<String> {
        vec!["MEM".to_owned()]
    }

    async fn read_storage(&self, storage: &str) -> Result<Vec<Listed>, DeviceError> {
        Ok(self
            .memory()
            .stored
            .iter()
            .map(|(index, pdu)| Listed::Message {
                location: Location {
                    storage: storage.to_owned(),
                    index: *index,
                },
                pdu: pdu.clone(),
            })
            .collect())
    }

    async fn storage_usage(&self) -> Result<Option<(u32, u32)>, DeviceError> {
        Ok(Some((self.memory().stored.len() as u32, 100)))
    }

    async fn delete(&self, location: &Location) -> Result<(), DeviceError> {
        let mut memory = self.memory();
        memory.stored.remove(&location.index);
        memory.deleted.push(location.index);
        Ok(())
    }

    async fn acknowledge(&self) -> Result<(), DeviceError> {
        Ok(())
    }

    async fn hang_up(&self) -> Result<(), DeviceError> {
        self.memory().hung_up += 1;
        Ok(())
    }

    async fn radio(&self) -> Radio {
        Radio {
            signal_dbm: Some(-71),
            registered: Some(true),
            ..Radio::default()
        }
    }

    async fn control(&self, _request: Control) {}

    async fn reload(&self, _config: &Config) {}

    async fn shutdown(&self) {}
}

/// The daemon running on a [`Scripted`] device, with a spool of its own.
pub(crate) struct Rig {
    pub(crate) root: PathBuf,
    pub(crate) device: Scripted,
    pub(crate) events: mpsc::UnboundedReceiver<DaemonEvent>,
    stop: Option<oneshot::Sender<()>>,
    daemon: tokio::task::JoinHandle<Result<(), DaemonError>>,
    state: watch::Sender<DeviceState>,
    clock: Arc<SettableClock>,
}

/// Tokio's clock, whose calendar a test can set forward or back while the
/// daemon runs, as a person or NTP sets a machine's clock.
#[derive(Debug)]
pub(crate) struct SettableClock {
    tokio: TokioClock,
    /// How far the calendar was set: forward, back.
    set: Mutex<(Duration, Duration)>,
}

impl Clock for SettableClock {
    fn now(&self) -> SystemTime {
        let (forward, back) = *self.set.lock().unwrap();
        self.tokio.now() + forward - back
    }

    /// Tokio's time, which setting the calendar leaves alone.
    fn steady(&self) -> Duration {
        self.tokio.steady()
    }
}

impl Rig {
    /// Starts the daemon (configured by `configure`) on a fresh device and
    /// spool, on tokio's clock, and waits until the device is ready.
    pub(crate) async fn start(name: &str, configure: impl FnOnce(&mut Config)) -> Self {
        let root = fresh_root(name);
        Self::start_in(root, TokioClock::new(), true, configure).await
    }

    /// Starts the daemon with `files` (name, content) already in its
    /// outbox and a device that never becomes ready. The start-up scan
    /// finds them, and each is taken in once it has settled (the settle
    /// time from its change time): by tokio's timers alone, where files
    /// dropped while the daemon runs are seen when inotify tells, in real
    /// time, and a runtime left idle meanwhile moves a paused clock on to
    /// its next timer.
    pub(crate) async fn start_with_outbox_unready(
        name: &str,
        files: &[(String, &str)],
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let root = fresh_root(name);
        std::fs::create_dir_all(root.join("outbox")).unwrap();
        for (name, content) in files {
            std::fs::write(root.join("outbox").join(name), content).unwrap();
        }
        Self::start_in(root, TokioClock::new(), false, configure).await
    }

    /// [`Self::start`] with the daemon's calendar starting at `calendar`.
    pub(crate) async fn start_at(
        name: &str,
        calendar: SystemTime,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let root = fresh_root(name);
        Self::start_in(root, TokioClock::starting_at(calendar), true, configure).await
    }

    /// Starts the daemon on the spool and database of a rig stopped with
    /// [`Self::stop_keeping`]: a restart, its calendar going on from
    /// `stopped` (the first daemon's calendar when it stopped, which a
    /// paused clock moved on from the machine's).
    pub(crate) async fn restart(
        (root, stopped): (PathBuf, SystemTime),
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        Self::start_in(root, TokioClock::starting_at(stopped), true, configure).await
    }

    /// Starts the daemon on the spool at `root`; with `ready`, the device
    /// becomes ready and the start waits until the daemon has seen it.
    async fn start_in(
        root: PathBuf,
        clock: TokioClock,
        ready: bool,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let clock = Arc::new(SettableClock {
            tokio: clock,
            set: Mutex::new((Duration::ZERO, Duration::ZERO)),
        });
        for dir in ["inbox", "outbox", "sent", "error"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        let mut config = Config::new("/nonexistent/not-a-serial-port");
        config.spool.inbox = root.join("inbox");
        config.spool.outbox = root.join("outbox");
        config.spool.sent = Some(root.join("sent"));
        config.spool.error = Some(root.join("error"));
        config.database.path = Some(root.join("simgate.db"));
        configure(&mut config);
        let (device, device_events, state) = Scripted::new();
        let handle = device.clone();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let options = DaemonOptions {
            events: Some(events_tx),
            clock: Some(Arc::clone(&clock) as Arc<dyn Clock>),
            ..DaemonOptions::new(config)
        };
        let daemon = tokio::spawn(daemon::run_on(
            options,
            move |_context: DeviceContext| async move {
                Ok::<_, InstanceError>((device, device_events))
            },
            async {
                let _ = stopped.await;
            },
        ));
        if ready {
            state.send_replace(DeviceState::Ready(DeviceInfo {
                model: "Scripted".to_owned(),
                imei: Some("000000000000001".to_owned()),
            }));
        }
        let mut rig = Self {
            root,
            device: handle,
            events,
            stop: Some(stop),
            daemon,
            state,
            clock,
        };
        if ready {
            rig.next(|e| matches!(e, DaemonEvent::ModemReady { .. }))
                .await;
        }
        rig
    }

    /// The device goes away (unplugged, its link down): the daemon sees it
    /// connecting again, and sends nothing through it.
    pub(crate) fn device_gone(&self) {
        self.state.send_replace(DeviceState::Connecting {
            attempt: 1,
            last_error: Some("unplugged".to_owned()),
        });
    }

    /// The daemon's calendar now.
    pub(crate) fn calendar(&self) -> SystemTime {
        self.clock.now()
    }

    /// Sets the daemon's calendar back by `by`, at once.
    pub(crate) fn set_calendar_back(&self, by: Duration) {
        self.clock.set.lock().unwrap().1 += by;
    }

    /// Sets the daemon's calendar forward by `by`, at once.
    pub(crate) fn set_calendar_forward(&self, by: Duration) {
        self.clock.set.lock().unwrap().0 += by;
    }

    /// The next daemon event `wanted` picks. An hour of tokio's clock at
    /// most: with time paused, a daemon that would never send it fails the
    /// test at once instead of hanging it.
    pub(crate) async fn next(&mut self, wanted: impl Fn(&DaemonEvent) -> bool) -> DaemonEvent {
        self.next_within(Duration::from_secs(3600), wanted).await
    }

    /// [`Self::next`] with another bound on tokio's clock.
    pub(crate) async fn next_within(
        &mut self,
        bound: Duration,
        wanted: impl Fn(&DaemonEvent) -> bool,
    ) -> DaemonEvent {
        tokio::time::timeout(bound, async {
            loop {
                let event = self.events.recv().await.expect("the daemon runs");
                if wanted(&event) {
                    return event;
                }
            }
        })
        .await
        .expect("the event within the bound, on the daemon's clock")
    }

    /// Renames a file into the outbox, as careful producers do.
    pub(crate) fn drop_file(&self, name: &str, content: &str) {
        let temp = self.root.join("dropping");
        std::fs::write(&temp, content).unwrap();
        std::fs::rename(&temp, self.root.join("outbox").join(name)).unwrap();
    }

    /// A folder of the spool.
    pub(crate) fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Stops the daemon and removes the spool.
    pub(crate) async fn stop(self) {
        let (root, _) = self.stop_keeping().await;
        let _ = std::fs::remove_dir_all(root);
    }

    /// Stops the daemon and leaves the spool and the database for
    /// [`Self::restart`]; returns where they are, and the daemon's calendar
    /// when it stopped.
    pub(crate) async fn stop_keeping(mut self) -> (PathBuf, SystemTime) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.daemon).await.unwrap().unwrap();
        (self.root.clone(), self.clock.now())
    }
}

/// The daemon running on several [`Scripted`] devices at once (`[modem]`
/// named `a`, then `[[modems]]` named `b`, `c`, …), sharing one spool and
/// queue, on tokio's clock.
pub(crate) struct Fleet {
    pub(crate) root: PathBuf,
    /// Each modem's device, in the configuration's order.
    pub(crate) devices: Vec<Scripted>,
    pub(crate) events: mpsc::UnboundedReceiver<DaemonEvent>,
    stop: Option<oneshot::Sender<()>>,
    daemon: tokio::task::JoinHandle<Result<(), DaemonError>>,
    /// Kept so that the devices stay ready.
    _states: Vec<watch::Sender<DeviceState>>,
}

impl Fleet {
    /// Starts the daemon on `count` fresh devices, ready from the start,
    /// with `files` (name, content) already in the outbox (taken in by
    /// tokio's timers alone), and waits until every modem is ready.
    /// `prepare` scripts the devices before the daemon sees them.
    pub(crate) async fn start(
        name: &str,
        count: usize,
        files: &[(String, &str)],
        prepare: impl FnOnce(&[Scripted]),
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let root = fresh_root(name);
        for dir in ["inbox", "outbox", "sent", "error"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for (name, content) in files {
            std::fs::write(root.join("outbox").join(name), content).unwrap();
        }
        let names: Vec<String> = (0..count)
            .map(|n| char::from(b'a' + n as u8).to_string())
            .collect();
        let mut config = Config::new("/nonexistent/a");
        config.modem.name = Some(names[0].clone());
        for name in &names[1..] {
            let mut more = simgate::config::ModemSettings::new(format!("/nonexistent/{name}"));
            more.name = Some(name.clone());
            config.more_modems.push(more);
        }
        config.spool.inbox = root.join("inbox");
        config.spool.outbox = root.join("outbox");
        config.spool.sent = Some(root.join("sent"));
        config.spool.error = Some(root.join("error"));
        config.database.path = Some(root.join("simgate.db"));
        configure(&mut config);
        let mut devices = Vec::new();
        let mut opened = Vec::new();
        let mut states = Vec::new();
        for n in 0..count {
            let (device, device_events, state) = Scripted::new();
            state.send_replace(DeviceState::Ready(DeviceInfo {
                model: "Scripted".to_owned(),
                imei: Some(format!("00000000000000{n}")),
            }));
            devices.push(device.clone());
            opened.push(Some((device, device_events)));
            states.push(state);
        }
        prepare(&devices);
        let (events_tx, events) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let options = DaemonOptions {
            events: Some(events_tx),
            clock: Some(Arc::new(TokioClock::new()) as Arc<dyn Clock>),
            ..DaemonOptions::new(config)
        };
        let daemon = tokio::spawn(daemon::run_on_modems(
            options,
            move |index: usize, _context: DeviceContext, _config: Arc<Config>| {
                let device = opened[index].take().expect("each modem is opened once");
                async move { Ok::<_, InstanceError>(device) }
            },
            async {
                let _ = stopped.await;
            },
        ));
        let mut fleet = Self {
            root,
            devices,
            events,
            stop: Some(stop),
            daemon,
            _states: states,
        };
        for _ in 0..count {
            fleet
                .next(|e| matches!(e, DaemonEvent::ModemReady { .. }))
                .await;
        }
        fleet
    }

    /// The next daemon event `wanted` picks, within `bound` of tokio's
    /// clock (a daemon that would never send it fails the test at once).
    pub(crate) async fn next_within(
        &mut self,
        bound: Duration,
        wanted: impl Fn(&DaemonEvent) -> bool,
    ) -> DaemonEvent {
        tokio::time::timeout(bound, async {
            loop {
                let event = self.events.recv().await.expect("the daemon runs");
                if wanted(&event) {
                    return event;
                }
            }
        })
        .await
        .expect("the event within the bound, on the daemon's clock")
    }

    /// [`Self::next_within`] an hour.
    pub(crate) async fn next(&mut self, wanted: impl Fn(&DaemonEvent) -> bool) -> DaemonEvent {
        self.next_within(Duration::from_secs(3600), wanted).await
    }

    /// Each message's end, `count` of them: how many were sent, and each
    /// failed one with its reason.
    pub(crate) async fn outcomes(&mut self, count: usize) -> (usize, Vec<String>) {
        let mut failed = Vec::new();
        let mut sent = 0;
        while sent + failed.len() < count {
            let end = |e: &DaemonEvent| {
                matches!(e, DaemonEvent::Sent { .. } | DaemonEvent::Failed { .. })
            };
            match self.next(end).await {
                DaemonEvent::Failed { file, reason } => failed.push(format!("{file}: {reason}")),
                _ => sent += 1,
            }
        }
        (sent, failed)
    }

    /// How many files a folder of the spool holds.
    pub(crate) fn count(&self, dir: &str) -> usize {
        std::fs::read_dir(self.root.join(dir)).unwrap().count()
    }

    /// Stops the daemon and removes the spool.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.daemon).await.unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The spool of a rig named `name`, emptied of an earlier run's.
fn fresh_root(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("simgate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    root
}

/// A transient failure, as a device reports one.
pub(crate) fn transient(message: &str) -> DeviceError {
    DeviceError {
        kind: FailureKind::Transient,
        message: message.to_owned(),
    }
}

/// An ambiguous failure: the PDU may have gone out.
pub(crate) fn ambiguous(message: &str) -> DeviceError {
    DeviceError {
        kind: FailureKind::Ambiguous,
        message: message.to_owned(),
    }
}

/// A single-part SMS-DELIVER from `from`, time-stamped at `second`.
pub(crate) fn deliver(from: &str, text: &str, second: u8) -> Vec<u8> {
    let plan = pdu::plan_text(text, pdu::EncodingPolicy::Auto).unwrap();
    let from = pdu::Address::parse_number(from).unwrap();
    pdu::SmsDeliver::from_plan(&plan, &from, stamp(second), 0)
        .remove(0)
        .encode()
        .unwrap()
}

/// A time stamp on 3 December 2026, at noon and `second` seconds.
pub(crate) fn stamp(second: u8) -> Timestamp {
    Timestamp {
        year: 2026,
        month: 12,
        day: 3,
        hour: 12,
        minute: 0,
        second,
        tz_quarters: 4,
    }
}

/// Whether `dir` holds a file named `name`.
pub(crate) fn has(dir: &Path, name: &str) -> bool {
    dir.join(name).exists()
}
