//! A modem that speaks AT in PDU mode on a pseudo-terminal, with vendor
//! profiles and fault injection, for tests, demos and users without
//! hardware.
//!
//! - `machine`: the sans-IO core (`Machine`): bytes in, `Output`s out.
//! - [`profile`]: vendor quirks ([`Profile`]).
//! - `commands`, `sms`, `sim`, `storage`, `fault`: the machine's command
//!   handlers, SIM lock, message storage and fault bookkeeping.
//! - [`android`]: the "SMS Gateway for Android" app's Local Server API
//!   on a loopback port, with its signed webhooks.
//! - [`hilink`]: a Huawei HiLink stick's web interface on a loopback port
//!   (no AT at all: a separate emulator).
//! - [`zte`]: a ZTE stick's `goform` web interface on a loopback port.
//! - `web`: the small HTTP server (and its take-down for reboots) the
//!   three web emulators share.
//! - `pty`, `runner`: the pty pair and the tokio task that runs a machine
//!   on it (or on any byte stream).
//!
//! [`Emulator`] is the handle tests and the CLI use:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use simgate::emulator::{Emulator, EmulatorConfig, Profile};
//! let emulator = Emulator::start(EmulatorConfig::new(Profile::QuectelEc25)).await?;
//! println!("modem at {}", emulator.path().display()); // .../by-id/usb-Quectel_EC25_...
//! emulator.stop().await;
//! # Ok(()) }
//! ```
//!
//! # Behaviour a driver sees
//! - Echo is on at start and after every replug/`ATZ`; `ATE0` turns it off.
//! - Errors: `AT+CMEE=0` (the default) gives plain `ERROR` for CME errors,
//!   1 numeric, 2 verbose. CMS errors are always `+CMS ERROR: <n>` (verbose
//!   text with `AT+CMEE=2`). Unknown commands answer `ERROR` (Huawei:
//!   `COMMAND NOT SUPPORT`).
//! - Unplug closes the pty master and the emulator's own slave fd and
//!   removes the by-id symlink; the host's fd then reads EOF (0 bytes on
//!   Linux 6.x; older kernels may give EIO) and its writes fail with EIO. A replug opens a new pty (different `/dev/pts`
//!   number), re-points the symlink, and starts a fresh session.

pub mod android;
pub mod hilink;
pub(crate) mod machine;
pub mod modemmanager;
pub mod profile;
mod web;
pub mod zte;

mod commands;
mod fault;
mod pty;
mod record;
mod runner;
mod sim;
mod sms;
mod storage;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};

pub use fault::{Fault, Times};
pub(crate) use machine::{Machine, Output};
pub use profile::Profile;
pub use record::{EmulatorError, EmulatorEvent, SentMessage, StoredEntry};
pub use runner::RING_INTERVAL;
pub use sim::SimState;

use runner::{Control, Device, Port, Runner, Shared};

/// How the emulated modem is set up.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Which modem to imitate.
    pub profile: Profile,
    /// `Some(pin)`: the SIM asks for this PIN at power-up.
    pub sim_pin: Option<String>,
    /// The SIM's PUK (8 digits).
    pub puk: String,
    /// Capacity of `SM` (the SIM).
    pub storage_capacity: usize,
    /// Capacity of `ME` (the modem's memory).
    pub phone_storage_capacity: usize,
    /// Capacity of `SR` (status reports), where the profile has it.
    pub report_storage_capacity: usize,
    /// The SIM's service centre (`AT+CSCA?`), also put in front of
    /// incoming TPDUs.
    pub smsc: String,
    /// Operator name for `AT+COPS?`.
    pub operator: String,
    /// `<rssi>` for `AT+CSQ` (0..=31, 99 unknown).
    pub rssi: u8,
    /// Registered to the network (once the SIM is unlocked).
    pub registered: bool,
    /// Answer with the latency of real hardware (`AT+CMGS` takes seconds).
    pub realistic_latency: bool,
    /// IMEI; `None` for the profile's default.
    pub imei: Option<String>,
    /// IMSI (`AT+CIMI`).
    pub imsi: String,
    /// Profile noise lines at this interval from the start.
    pub noise_interval: Option<Duration>,
    /// The TP-MR the first `AT+CMGS` gets; later ones count up (mod 256).
    pub first_message_reference: u8,
    /// A modem that never stores what arrives: `+CNMI` with `<mt>` 1 or 3
    /// or `<ds>` 2 is refused, so messages come as `+CMT` and reports as
    /// `+CDS` (power-up setting `2,2,0,1,0`).
    pub raw_delivery_only: bool,
    /// The modem powers up in `+CSMS` service 1 (phase 2+): the host must
    /// acknowledge every `+CMT`/`+CDS` with `+CNMA` (reported as
    /// [`EmulatorEvent::Acknowledged`]).
    pub phase2plus: bool,
    /// The SIM's serial number (`AT+CCID`, EF_ICCID).
    pub iccid: String,
    /// The modem reads SIM files with `AT+CRSM` (EF_SMSS with the last
    /// TP-MR used, EF_ICCID); `false` answers `ERROR`.
    pub sim_files: bool,
    /// The modem tells how many PIN attempts remain (`+CPINR` and the
    /// profile's vendor command); `false` for a plain 27.007 modem that
    /// does not.
    pub pin_counters: bool,
}

impl EmulatorConfig {
    /// Defaults: no PIN (PUK `12345678`), capacities SM 30 / ME 50 / SR 20,
    /// registered with `<rssi>` 20, no latency, no noise.
    pub fn new(profile: Profile) -> Self {
        EmulatorConfig {
            profile,
            sim_pin: None,
            puk: "12345678".into(),
            storage_capacity: 30,
            phone_storage_capacity: 50,
            report_storage_capacity: 20,
            smsc: "+491710760000".into(),
            operator: "Telekom.de".into(),
            rssi: 20,
            registered: true,
            realistic_latency: false,
            imei: None,
            imsi: "262011234567890".into(),
            noise_interval: None,
            first_message_reference: 0,
            raw_delivery_only: false,
            phase2plus: false,
            iccid: "89490200001234567890".into(),
            sim_files: true,
            pin_counters: true,
        }
    }
}

/// A running emulated modem. Dropping it stops the modem and removes its
/// directory; [`stop`](Self::stop) also waits for the task to end.
pub struct Emulator {
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Control>,
    task: Option<tokio::task::JoinHandle<()>>,
    link: PathBuf,
    dir: Option<pty::TempDir>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("path", &self.link)
            .field("tty", &self.shared.tty_path())
            .finish_non_exhaustive()
    }
}

impl Emulator {
    fn spawn(config: &EmulatorConfig, port: Box<dyn Port>, device: Device, tty: PathBuf) -> Self {
        let link = match &device {
            Device::Pty { link } => link.clone(),
            Device::Stream => PathBuf::new(),
        };
        let (events, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            machine: Mutex::new(Machine::new(config)),
            events,
            tty_path: Mutex::new(tty),
        });
        let (control, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(Runner::new(shared.clone(), rx, port, device).run());
        Emulator {
            shared,
            control,
            task: Some(task),
            link,
            dir: None,
        }
    }

    /// Opens a pty pair (raw mode), runs the modem on the master side in a
    /// tokio task, and creates the stable symlink
    /// `<dir>/by-id/usb-<Vendor>_<Model>_<IMEI>-if00-port0` to the slave
    /// `/dev/pts/N`, in a fresh temporary directory removed on drop.
    ///
    /// # Errors
    /// No pty, or the directory or symlink cannot be created.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let dir = pty::TempDir::new()?;
        let by_id = dir.path().join("by-id");
        std::fs::create_dir(&by_id)?;
        let imei = config
            .imei
            .clone()
            .unwrap_or_else(|| config.profile.default_imei());
        let link = by_id.join(format!(
            "usb-{}_{imei}-if00-port0",
            config.profile.usb_name()
        ));
        let pty = pty::Pty::open(None)?;
        let tty = pty.path().to_path_buf();
        pty::point_link(&link, &tty)?;
        let mut emulator = Self::spawn(&config, Box::new(pty), Device::Pty { link }, tty);
        emulator.dir = Some(dir);
        Ok(emulator)
    }

    /// Runs the modem on any byte stream (e.g. one end of
    /// `tokio::io::duplex`), for deterministic tests with paused time.
    /// [`path`](Self::path) is empty; [`unplug`](Self::unplug) closes the
    /// stream, and only [`replug_with`](Self::replug_with) plugs it back.
    /// Must be called within a tokio runtime.
    pub fn on_stream<T>(config: EmulatorConfig, stream: T) -> Emulator
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        Self::spawn(&config, Box::new(stream), Device::Stream, PathBuf::new())
    }

    /// The stable symlink (what users configure, like
    /// `/dev/serial/by-id/...`); empty for [`on_stream`](Self::on_stream).
    /// Absent while unplugged.
    pub fn path(&self) -> PathBuf {
        self.link.clone()
    }

    /// The current `/dev/pts/N` (the last one while unplugged).
    pub fn tty_path(&self) -> PathBuf {
        self.shared.tty_path()
    }

    fn emit(&self, out: Vec<Output>) {
        if !out.is_empty() {
            let _ = self.control.send(Control::Output(out));
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Machine) -> R) -> R {
        let (r, out) = self.shared.with(f);
        self.emit(out);
        r
    }

    /// An SMS-DELIVER TPDU arrives from the network (the emulator puts the
    /// SMSC field in front). Per the host's `+CNMI`: stored (announced with
    /// `+CMTI` when `<mt>` is 1 or 3) → `Some(index)`; routed raw as
    /// `+CMT` (`<mt>`=2) → `None`. While unplugged it is stored silently.
    ///
    /// # Errors
    /// [`EmulatorError::StorageFull`] (the message is lost, as on a full
    /// SIM; Huawei also writes `^SMMEMFULL: "SM"`), [`EmulatorError::BadPdu`], [`EmulatorError::NotRegistered`].
    pub fn inject_deliver(&self, tpdu: &[u8]) -> Result<Option<u32>, EmulatorError> {
        self.with(|m| m.inject_deliver(tpdu))
    }

    /// An SMS-DELIVER already in `memory` (`SM`, `ME`), left there before
    /// the host came (by a phone the SIM was in, or by the modem's own
    /// choice of storage): stored without any indication.
    ///
    /// # Errors
    /// [`EmulatorError::StorageFull`] (also for a storage the profile does
    /// not have), [`EmulatorError::BadPdu`].
    pub fn preload(&self, memory: &str, tpdu: &[u8]) -> Result<u32, EmulatorError> {
        self.with(|m| m.preload(memory, tpdu))
    }

    /// One of the user's own messages, an SMS-SUBMIT TPDU, already in
    /// `memory` with `<stat>` `status` (2 stored unsent, a draft; 3 stored
    /// sent), as a phone leaves them on its SIM: stored without any
    /// indication.
    ///
    /// # Errors
    /// [`EmulatorError::StorageFull`] (also for a storage the profile does
    /// not have), [`EmulatorError::BadPdu`].
    pub fn preload_outgoing(
        &self,
        memory: &str,
        status: u8,
        tpdu: &[u8],
    ) -> Result<u32, EmulatorError> {
        self.with(|m| m.preload_outgoing(memory, status, tpdu))
    }

    /// Stores `line` in the receiving storage as the PDU line `AT+CMGL` and
    /// `AT+CMGR` will list, with `length` as its `<length>`, whatever it
    /// holds (odd or non-hex digits, a truncated or inconsistent PDU), and
    /// announces it with `+CMTI` as a stored SMS-DELIVER is: for testing
    /// what a host does with what the network may send.
    ///
    /// # Errors
    /// [`EmulatorError::StorageFull`].
    pub fn inject_raw_line(&self, line: &str, length: usize) -> Result<u32, EmulatorError> {
        self.with(|m| m.deliver_raw_line(line, length))
    }

    /// An SMS-STATUS-REPORT TPDU arrives. `<ds>`=1: `+CDS` → `None`;
    /// `<ds>`=2: stored in `SR` (or `SM` where the profile has no `SR`, as
    /// Quectel) and announced with `+CDSI` → `Some(index)`.
    ///
    /// # Errors
    /// As [`inject_deliver`](Self::inject_deliver), plus
    /// [`EmulatorError::NotRouted`] for `<ds>`=0.
    pub fn inject_status_report(&self, tpdu: &[u8]) -> Result<Option<u32>, EmulatorError> {
        self.with(|m| m.inject_status_report(tpdu))
    }

    /// An incoming call: `RING` (and `+CLIP: "<caller>",145|129,...` when
    /// `AT+CLIP=1`) now and every [`RING_INTERVAL`] until the host sends
    /// `ATH`/`AT+CHUP` or [`end_call`](Self::end_call).
    pub fn ring(&self, caller: &str) {
        self.with(|m| m.ring(caller));
    }

    /// The caller gives up.
    pub fn end_call(&self) {
        self.with(Machine::end_call);
    }

    /// Arms a fault.
    pub fn inject_fault(&self, fault: Fault) {
        self.with(|m| m.inject_fault(fault));
    }

    /// Disarms every fault (noise stops, storage no longer forced full).
    pub fn clear_faults(&self) {
        self.with(Machine::clear_faults);
    }

    /// Latency before the answer to commands starting with
    /// `command_prefix`; for `AT+CMGS` between the PDU and `+CMGS:`.
    pub fn set_command_latency(&self, command_prefix: &str, latency: Duration) {
        self.with(|m| m.set_command_latency(command_prefix, latency));
    }

    /// Writes an arbitrary unsolicited line now.
    pub fn send_noise(&self, line: &str) {
        self.with(|m| m.send_noise(line));
    }

    /// Network registration on or off (URCs per `+CREG`/`+CEREG` modes).
    pub fn set_registered(&self, registered: bool) {
        self.with(|m| m.set_registered(registered));
    }

    /// Signal strength for `AT+CSQ`.
    pub fn set_rssi(&self, rssi: u8) {
        self.with(|m| m.set_rssi(rssi));
    }

    /// Unplugs the device: closes the pty (the host reads EOF/EIO) or the
    /// stream, removes the symlink. With `back_after`, replugs after that
    /// delay (tokio time) on a new pty with a fresh session. Returns once
    /// unplugged.
    pub async fn unplug(&self, back_after: Option<Duration>) {
        let (done, wait) = oneshot::channel();
        if self
            .control
            .send(Control::Unplug { back_after, done })
            .is_ok()
        {
            let _ = wait.await;
        }
    }

    /// Replugs now (a no-op when plugged, or for stream emulators).
    pub fn replug_now(&self) {
        let _ = self.control.send(Control::Replug);
    }

    /// Plugs the modem back in on a new stream (stream emulators; on a
    /// pty emulator the stream replaces the pty).
    pub fn replug_with<T>(&self, stream: T)
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let _ = self.control.send(Control::ReplugWith(Box::new(stream)));
    }

    /// Every SMS-SUBMIT the host sent, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.peek(|m| m.sent().to_vec())
    }

    /// The SMS-SUBMITs the host sent from the `first`th on (counting from
    /// 0), in order: what a watcher has not yet seen, without copying what
    /// it has.
    pub fn sent_from(&self, first: usize) -> Vec<SentMessage> {
        self.shared
            .peek(|m| m.sent().get(first..).unwrap_or_default().to_vec())
    }

    /// Every stored message.
    pub fn stored(&self) -> Vec<StoredEntry> {
        self.shared.peek(Machine::stored)
    }

    /// Every non-empty command line received, in order, verbatim (PINs
    /// included: this is for tests).
    pub fn commands(&self) -> Vec<String> {
        self.shared.peek(|m| m.commands().to_vec())
    }

    /// Why incoming messages were rejected, in order.
    pub fn rejected(&self) -> Vec<String> {
        self.shared.peek(|m| m.rejected().to_vec())
    }

    /// The SIM lock state.
    pub fn sim_state(&self) -> SimState {
        self.shared.peek(Machine::sim_state)
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EmulatorEvent> {
        self.shared.events.subscribe()
    }

    /// Stops the modem and waits for its task; the directory is removed.
    pub async fn stop(mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
