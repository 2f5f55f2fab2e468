//! The modem driver: simgate's grip on real hardware.
//!
//! - [`port`] opens a tty (tokio-serial: exclusive, 8N1, `/dev/serial/by-id`
//!   links welcome) and explains the usual failures.
//! - [`channel`] runs one task per port that owns the byte stream: it
//!   writes one AT command at a time with a timeout, feeds replies to the
//!   sans-IO [`Digester`](crate::at::Digester), and forwards unsolicited
//!   result codes. It is generic over any async byte stream, so tests hand
//!   it a pty or an in-memory pipe.
//! - [`session`] is the AT vocabulary on top: initialisation that works
//!   across vendors, sending a PDU, listing, reading and deleting, status.
//! - [`pin`] decides, purely, whether the configured PIN may be entered.
//! - [`supervisor`] keeps a modem usable: re-initialises after failures,
//!   reopens the port with exponential [`backoff`] and follows a device
//!   that comes back under another name, without losing or repeating a
//!   queued message.
//! - [`probe`] backs `simgate modem probe`: facts and hints for new hardware.
//! - [`error`] classifies failures (permanent, transient, modem state,
//!   ambiguous) for the retry logic above it.

pub(crate) mod backoff;
pub(crate) mod channel;
pub(crate) mod error;
pub(crate) mod pin;
pub(crate) mod port;
pub(crate) mod probe;
pub(crate) mod session;
pub(crate) mod supervisor;

pub(crate) use error::ModemError;
pub(crate) use pin::{MemoryPins, PinMemory, PinOutcome};
pub(crate) use port::PortSettings;
pub(crate) use session::{InitReport, Modem, Pin, Timeouts};
pub(crate) use supervisor::ModemConfig;

#[cfg(test)]
mod tests;
