//! What the emulator reports to tests: the [`EmulatorEvent`]s broadcast as
//! things happen, the records kept for inspection ([`SentMessage`],
//! [`StoredEntry`]) and the [`EmulatorError`] of the control calls.

use std::path::PathBuf;

use crate::pdu::{Address, DecodeError, SmsSubmit};

/// Something that happened in the emulator, for tests to synchronise on
/// (see `Emulator::subscribe`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmulatorEvent {
    /// A command line arrived (verbatim, without its CR).
    CommandReceived(String),
    /// The `> ` prompt was sent for `AT+CMGS`/`AT+CMGW`.
    Prompted,
    /// An SMS-SUBMIT was accepted and recorded as sent (also when a
    /// `HangAfterPdu` fault then swallows the answer).
    MessageSent {
        /// The TP-MR assigned and reported in `+CMGS`.
        mr: u8,
        /// TP-DA as people write it (`+` for international numbers).
        destination: String,
    },
    /// ESC after the prompt: nothing was sent.
    SendCancelled,
    /// `AT+CMGS` answered with a `+CMS ERROR` (bad PDU or injected fault).
    SendFailed {
        /// The CMS error code.
        code: u16,
    },
    /// A command was swallowed by a `NoAnswer` or `HangAfterPdu` fault.
    Hung(String),
    /// A message was stored.
    Stored {
        /// Storage name (`SM`, `ME`, `SR`).
        memory: String,
        /// Index in that storage.
        index: u32,
    },
    /// A stored message was deleted.
    Deleted {
        /// Storage name.
        memory: String,
        /// Index in that storage.
        index: u32,
    },
    /// An SMS-DELIVER was routed to the host as `+CMT`.
    DeliveredRaw,
    /// An SMS-STATUS-REPORT was routed to the host as `+CDS`.
    ReportDeliveredRaw,
    /// The host acknowledged a routed message or report with `AT+CNMA`.
    Acknowledged,
    /// An incoming message or report was not stored or routed.
    Rejected(String),
    /// The SIM was unlocked with the PIN or PUK.
    SimUnlocked,
    /// A wrong PIN or PUK was entered.
    WrongPassword {
        /// `SIM PIN` or `SIM PUK`.
        code: String,
        /// Attempts left for that code.
        left: u8,
    },
    /// `RING` was sent for an incoming call.
    Ring {
        /// The caller's number.
        caller: String,
    },
    /// The incoming call ended (`ATH`/`AT+CHUP` from the host, or `end_call`).
    CallEnded {
        /// True when the host hung up.
        by_host: bool,
    },
    /// The device disappeared: the pty master (or the stream) was closed.
    Unplugged,
    /// The device is back on a new pty; the stable path points at it.
    Replugged {
        /// The new `/dev/pts/N` (empty for stream-attached emulators).
        path: PathBuf,
    },
    /// The host closed its end of the stream (EOF on read).
    HostClosed,
}

/// An SMS-SUBMIT the host sent with `AT+CMGS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The PDU as written after the prompt: SMSC field, then TPDU.
    pub pdu: Vec<u8>,
    /// The TPDU alone.
    pub tpdu: Vec<u8>,
    /// The SMSC address in the PDU, `None` for a zero-length field.
    pub smsc: Option<Address>,
    /// The decoded TPDU (its `message_reference` is the host's, usually 0).
    pub submit: SmsSubmit,
    /// The TP-MR the modem assigned and answered with in `+CMGS: <mr>`.
    pub message_reference: u8,
}

/// A message in the emulated storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Storage name (`SM`, `ME`, `SR`).
    pub memory: String,
    /// Index in that storage.
    pub index: u32,
    /// `<stat>`: 0 unread, 1 read, 2 unsent, 3 sent.
    pub status: u8,
    /// SMSC field and TPDU, as `AT+CMGL` lists it.
    pub pdu: Vec<u8>,
}

/// Why a control call on the emulator failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The storage for incoming messages is full: the message was rejected
    /// (`Emulator::rejected` says which storage).
    #[error("message storage is full")]
    StorageFull,
    /// The TPDU given to an inject call does not decode.
    #[error("bad PDU: {0}")]
    BadPdu(#[from] DecodeError),
    /// The modem is not registered (no network, or the SIM is locked), so
    /// nothing can arrive.
    #[error("the modem is not registered to a network")]
    NotRegistered,
    /// `+CNMI` `<ds>`=0: status reports are neither routed nor stored.
    #[error("status reports are not routed (+CNMI ds=0)")]
    NotRouted,
    /// The device is unplugged. Not returned today: messages injected while
    /// unplugged are stored on the SIM.
    #[error("the emulated device is unplugged")]
    Unplugged,
}
