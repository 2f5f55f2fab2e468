//! What the daemon needs from a device that sends and receives SMS, whatever
//! it is: an AT modem on a serial port (`at::AtModem`, the first
//! implementation), a Huawei HiLink web stick (`hilink::HilinkStick`), a
//! ZTE web stick (`zte::ZteStick`), an Android phone, and later a modem
//! ModemManager owns. The daemon knows nothing else about its device.
//!
//! A device sends one part at a time and answers its TP-MR, or says what
//! went wrong and whether the part may have gone out
//! ([`FailureKind::Ambiguous`]); it lists, reads and deletes what it
//! stores; it tells what happens on its own through a stream of
//! [`DeviceEvent`]s; it reports its radio; and it says which of these it can
//! do at all ([`Capabilities`]).

pub mod android;
pub mod at;
pub mod configured;
pub mod hilink;
pub(crate) mod idle_budget;
pub mod modemmanager;
pub(crate) mod report_match;
pub(crate) mod sent_box;
pub(crate) mod text;
pub mod zte;

use crate::config::Config;
use crate::pdu::EncodedPdu;
use std::future::Future;
use tokio::sync::watch;

pub use crate::modem::error::FailureKind;
pub use crate::modem::pin::{MemoryPins, PinMemory, PinOutcome};

/// Which message a part belongs to, as the daemon names it to a device
/// that keeps its own record of what it was handed (a phone app's message
/// id, a web stick's journal): the message's row and the identity of the
/// database that row is in. A retry of the message by the same database
/// names it the same; a message of another database (a fresh one after a
/// reset, a second daemon) never does, though its row, number and text
/// are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageName {
    /// The database's identity: random, made once for each database.
    /// `None` for a message of a database that had none yet when it was
    /// queued (queued before the upgrade that made one): it keeps the
    /// name it had, so a retry after the upgrade is still known as one.
    pub database: Option<[u8; 16]>,
    /// Its row in the database; negative for a message of no row.
    pub row: i64,
}

impl MessageName {
    /// A message of no database row (`simgate send`'s single part).
    pub const NONE: Self = Self {
        database: None,
        row: -1,
    };

    /// The bytes a device's name for the message starts from: the row,
    /// then the database's identity where it has one (a message with none
    /// gives the bytes names were made of before databases had one).
    pub fn bytes(&self) -> Vec<u8> {
        let mut bytes = self.row.to_be_bytes().to_vec();
        if let Some(database) = self.database {
            bytes.extend_from_slice(&database);
        }
        bytes
    }
}

/// What a device can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// It stores received messages until they are deleted (else it hands
    /// them over once, as [`DeviceEvent::Routed`]).
    pub storage: bool,
    /// It reports incoming calls and can hang them up.
    pub calls: bool,
    /// It can tell the TP-MR it used last ([`Device::last_reference`]), so a
    /// part whose answer never came can be resolved.
    pub reference_counter: bool,
}

/// Where a device stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceState {
    /// Opening or initialising; the last failure, if any.
    Connecting {
        /// Attempts since it was last ready.
        attempt: u32,
        /// Why the previous attempt failed.
        last_error: Option<String>,
    },
    /// Ready for work (a new session each time it becomes ready).
    Ready(DeviceInfo),
    /// Released on request ([`Control::Suspend`]).
    Suspended,
    /// Stopped for good.
    Stopped,
}

/// What a ready device says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceInfo {
    /// Manufacturer and model, for people.
    pub model: String,
    /// Its IMEI, which identifies it across sessions and restarts.
    pub imei: Option<String>,
}

/// Something a device tells on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// Messages (or reports) wait in this storage: read it.
    Stored {
        /// The storage.
        storage: String,
    },
    /// A message or report handed over without being stored (SMSC field,
    /// then TPDU): record it, then [`Device::acknowledge`].
    Routed {
        /// The PDU.
        pdu: Vec<u8>,
    },
    /// A routed message that could not even be read as a PDU: kept raw.
    RoutedUnreadable {
        /// What came, as it came.
        raw: String,
        /// Why it is unreadable.
        reason: String,
    },
    /// An incoming call (once per call).
    Call {
        /// The caller, empty when withheld or unknown.
        caller: String,
    },
}

/// Where a stored message is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The storage.
    pub storage: String,
    /// Its index there.
    pub index: u32,
}

/// One entry of a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// A message or report: its PDU (SMSC field, then TPDU).
    Message {
        /// Where it is.
        location: Location,
        /// The PDU.
        pdu: Vec<u8>,
    },
    /// One of the user's own messages, which the device lists as stored
    /// sent or unsent (an SMS-SUBMIT a phone left on its SIM): not the
    /// network's, left where it is (gammu-smsd reads only the inbox).
    Outgoing {
        /// Where it is.
        location: Location,
    },
    /// An entry that cannot be read as a PDU: kept raw, then deleted.
    Unreadable {
        /// Where it is.
        location: Location,
        /// What came, as it came (empty when nothing did).
        raw: String,
        /// Why it is unreadable.
        reason: String,
    },
}

/// The radio, for the status line and the HTTP API. Every field is
/// optional: a device fills in what it can tell (`..Radio::default()`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Radio {
    /// Signal in dBm.
    pub signal_dbm: Option<i32>,
    /// Registered to a network.
    pub registered: Option<bool>,
    /// Signal in percent, as gammu reports it (`100 * rssi / 31` for AT
    /// modems).
    pub signal_percent: Option<u8>,
    /// Bit error rate class (RXQUAL 0..=7, `+CSQ`'s `<ber>`).
    pub ber_class: Option<u8>,
    /// The network operator's name.
    pub operator: Option<String>,
    /// What a phone acting as the modem says about itself; `None` for
    /// modems and sticks.
    pub phone: Option<PhoneStatus>,
}

/// What a device keeps noted for `simgate status` ([`Device::notes`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceNotes {
    /// Its message storage: places used and places in all, as last seen.
    pub storage: Option<(u32, u32)>,
    /// The last fault it met (recovered from, or being recovered from):
    /// when, and what.
    pub fault: Option<(std::time::SystemTime, String)>,
}

impl DeviceNotes {
    /// Notes `what` as the last fault, met `at`.
    pub fn fault(&mut self, at: std::time::SystemTime, what: impl Into<String>) {
        self.fault = Some((at, what.into()));
    }
}

/// A phone's own state, as its gateway app reports it: what decides
/// whether it will still be there tomorrow (battery, power, network) and
/// which SIMs it has. Every field is what the app said, or `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PhoneStatus {
    /// Battery level in percent.
    pub battery_percent: Option<u8>,
    /// Whether it is on a charger (AC or USB) or charging.
    pub charging: Option<bool>,
    /// Whether it has an internet connection (the app's own check).
    pub online: Option<bool>,
    /// The network it is connected over: `wifi`, `ethernet`,
    /// `cellular 4G`, ... or `none`.
    pub network: Option<String>,
    /// Its active SIMs (empty: the app did not say).
    pub sims: Vec<SimCard>,
}

/// One of a phone's SIMs.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SimCard {
    /// Its slot, from 1 (the number the app's `simNumber` takes).
    pub slot: u32,
    /// The carrier's name.
    pub carrier: Option<String>,
    /// The SIM's own number, when the phone knows it.
    pub number: Option<String>,
}

/// A request to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Let go of the hardware (SIGUSR1).
    Suspend,
    /// Take it again (SIGUSR2).
    Resume,
    /// Initialise it again (ResetFrequency, a send that failed for its
    /// state).
    Reconnect,
    /// Reset it (HardResetFrequency), then initialise it again.
    HardReset,
}

/// A device operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeviceError {
    /// What the failure means for a retry.
    pub kind: FailureKind,
    /// What happened.
    pub message: String,
}

impl DeviceError {
    /// The device is not ready (or gone).
    pub fn not_ready() -> Self {
        Self {
            kind: FailureKind::ModemState,
            message: "the device is not ready".to_owned(),
        }
    }
}

/// A device that sends and receives SMS; see the module documentation.
/// Every operation works on the current session and fails with
/// [`FailureKind::ModemState`] when there is none.
pub trait Device: Send + Sync + 'static {
    /// What it can do.
    fn capabilities(&self) -> Capabilities;

    /// Follows its state.
    fn watch(&self) -> watch::Receiver<DeviceState>;

    /// Sends one part; its TP-MR.
    fn send(&self, pdu: &EncodedPdu) -> impl Future<Output = Result<u8, DeviceError>> + Send;

    /// Sends part `index` of a message whose parts, all of them in order,
    /// are `parts`; its TP-MR. The daemon sends a message this way, part
    /// after part, each only once the ones before it went out (on a
    /// restart it goes on with the first part not sent).
    ///
    /// The default sends that part's PDU ([`Device::send`]). A device that
    /// takes whole texts rather than PDUs (a web stick splits a long text
    /// itself) sends the whole message for its first part and answers the
    /// later parts at once: by then the whole text has gone out.
    fn send_part(
        &self,
        parts: &[EncodedPdu],
        index: usize,
    ) -> impl Future<Output = Result<u8, DeviceError>> + Send {
        self.send(&parts[index])
    }

    /// Sends part `index` of the message the daemon names `message` (its
    /// row and its database's identity: the same on every retry and after
    /// a restart), as [`Device::send_part`]. A device that names each
    /// message it is handed (a phone app taking a client-chosen id, a web
    /// stick's journal) derives that name from `message`, so a retry
    /// reuses it and another database's message never does; the default
    /// ignores it.
    fn send_message_part(
        &self,
        message: MessageName,
        parts: &[EncodedPdu],
        index: usize,
    ) -> impl Future<Output = Result<u8, DeviceError>> + Send {
        let _ = message;
        self.send_part(parts, index)
    }

    /// Whether handing over again a part that may have gone out is safe:
    /// the device never sends one message twice (a phone app keeping each
    /// message under the id [`Device::send_message_part`] derives; a web
    /// stick that journaled the message and asks its sent box first). A
    /// part left in doubt by a crash is then handed over again, not given
    /// up as ambiguous. False by default.
    fn resends_safely(&self) -> bool {
        false
    }

    /// What it keeps noted for `simgate status` without asking the device
    /// anything: its storage use and the last fault it met. Nothing by
    /// default.
    fn notes(&self) -> DeviceNotes {
        DeviceNotes::default()
    }

    /// The TP-MR it used last, where it can tell ([`Capabilities`]).
    fn last_reference(&self) -> impl Future<Output = Result<Option<u8>, DeviceError>> + Send;

    /// The storages a full read covers in this session.
    fn storages(&self) -> Vec<String>;

    /// Reads one storage.
    fn read_storage(
        &self,
        storage: &str,
    ) -> impl Future<Output = Result<Vec<Listed>, DeviceError>> + Send;

    /// How full its receiving storage is (used, total), where it says:
    /// asked after a round of reading and deleting.
    fn storage_usage(&self)
        -> impl Future<Output = Result<Option<(u32, u32)>, DeviceError>> + Send;

    /// Deletes a stored message (once its files are on disk).
    fn delete(&self, location: &Location) -> impl Future<Output = Result<(), DeviceError>> + Send;

    /// Acknowledges a routed message once it is recorded, where the device
    /// waits for that.
    fn acknowledge(&self) -> impl Future<Output = Result<(), DeviceError>> + Send;

    /// Says that a routed message could not be recorded, where the device
    /// waits for a word: it may answer its sender at once that it was not
    /// taken (and be sent it again), instead of waiting for a word that
    /// will not come. A modem has nothing to do: without an
    /// acknowledgement the network sends the message again.
    fn refuse(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Hangs up the incoming call.
    fn hang_up(&self) -> impl Future<Output = Result<(), DeviceError>> + Send;

    /// Reads the radio.
    fn radio(&self) -> impl Future<Output = Radio> + Send;

    /// Acts on a request.
    fn control(&self, request: Control) -> impl Future<Output = ()> + Send;

    /// Takes the settings of a reloaded configuration (SIGHUP): a new
    /// session with them.
    fn reload(&self, config: &Config) -> impl Future<Output = ()> + Send;

    /// Stops for good.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}

/// What `device` says once its first attempt to connect failed: the
/// state's detail and the last fault it noted (for the tests of devices
/// that log in: a refused password).
#[cfg(test)]
pub(crate) async fn first_connect_error<D: Device>(device: &D) -> (String, String) {
    let mut state = device.watch();
    let detail = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            if let DeviceState::Connecting {
                last_error: Some(error),
                ..
            } = &*state.borrow_and_update()
            {
                break error.clone();
            }
            state.changed().await.expect("the device runs");
        }
    })
    .await
    .expect("a connection error within 30 s");
    let fault = device
        .notes()
        .fault
        .map(|(_, what)| what)
        .unwrap_or_default();
    (detail, fault)
}
