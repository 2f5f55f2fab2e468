//! simgate: an SMS gateway daemon for a SIM in a USB modem.
//!
//! # Layout
//!
//! - [`pdu`]: 3GPP TS 23.040 / 23.038 SMS PDUs. Pure functions over bytes:
//!   text planning (GSM 7-bit or UCS-2, concatenation), SMS-SUBMIT encoding,
//!   SMS-DELIVER, SMS-SUBMIT and SMS-STATUS-REPORT decoding.
//! - [`at`]: 3GPP TS 27.007 / 27.005 AT commands. Sans-IO: command
//!   formatting, a digester that turns arbitrary byte chunks into events,
//!   typed parsers for the responses simgate reads, and typed CMS/CME errors.
//! - [`emulator`]: a modem that speaks AT in PDU mode on a pseudo-terminal,
//!   with vendor profiles and fault injection, for tests, demos and users
//!   without hardware.
//! - [`modem`]: the driver: opens the serial port, initialises the modem,
//!   guards the PIN, sends and reads messages, and recovers from hangs and
//!   unplugs.
//! - [`daemon`]: the long-running service: watching the outbox, sending,
//!   hooks, signals, systemd.
//! - [`store`]: message state in SQLite (WAL, durable transitions).
//! - [`ini`]: gammu's INI dialect (gammu-smsdrc, `.smsbackup` files).
//! - [`instance`]: one daemon per configuration: where its state lives,
//!   and the locks on the state, the outbox and the modem.
//! - [`procfs`]: which other processes have a file open or locked.
//! - [`redact`]: numbers, texts and PDUs kept out of the log.
//! - [`spool`]: the gammu-compatible spool: outbox/inbox file names, outbox
//!   file contents, and the thin file-system layer (claim, move, atomic write).
//! - [`config`]: simgate's TOML or an existing gammu-smsdrc, read into one
//!   effective configuration plus the notices to log at start.
//! - [`demo`]: `simgate demo`, the daemon on the emulator in a local folder.
//! - [`unconfigured`]: a service started before any modem was named: one
//!   line saying what to set, and a clean exit.
//! - [`migrate`]: `simgate migrate-from-gammu`: checks a gammu-smsd setup,
//!   prints (and with `--apply` takes, reversibly) the steps that put
//!   simgate in its place.
//! - [`manual`]: simgate(8), simgate.toml(5) and shell completions, made
//!   from the command-line definitions and the default configuration.
//! - [`cli`]: the command-line interface of the `simgate` binary.
//!
//! Neither `pdu` nor `at` performs I/O or reads the clock; they are unit
//! tested beside the code and fuzzed from `fuzz/`.

pub mod at;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod emulator;
pub mod ini;
pub mod instance;
pub mod manual;
pub mod migrate;
pub mod modem;
pub mod pdu;
pub mod procfs;
pub mod redact;
pub mod spool;
pub mod store;
pub mod unconfigured;
