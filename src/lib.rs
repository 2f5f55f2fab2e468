//! simgate: an SMS gateway daemon for a SIM in a USB modem.
//!
//! # Public API
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
//! - [`device`]: what the daemon needs from a device that sends and
//!   receives SMS; [`device::at::serve`] runs the daemon on an AT modem.
//! - [`daemon`]: the long-running service ([`daemon::run_on`] a device),
//!   its options, errors, events and clock.
//! - [`config`]: simgate's TOML or an existing gammu-smsdrc, read into one
//!   effective configuration plus the notices to log at start.
//! - [`store`]: the daemon's database, opened to look at what it recorded
//!   (the integration tests do).
//! - [`instance`]: why a daemon could not have its state or its locks.
//! - [`spool`]: where the daemon keeps the outbox files it has claimed.
//! - [`http`]: the HTTP API the daemon serves when `[http] listen` is set
//!   (why it could not start).
//! - [`cli`]: the entry point of the `simgate` binary.
//!
//! # Inside the crate
//!
//! - `modem`: the AT driver behind [`device::at`]: opens the serial port,
//!   initialises the modem, guards the PIN, sends and reads messages, and
//!   recovers from hangs and unplugs.
//! - `calendar`: all date arithmetic (Unix time and calendar fields,
//!   time stamps with their offsets), on jiff.
//! - `ini`: gammu's INI dialect (gammu-smsdrc, `.smsbackup` files).
//! - `procfs`: which other processes have a file open or locked.
//! - `http_server`: how the HTTP listeners take connections: a bound on
//!   how many, and time limits on a request's head and body.
//! - `redact`: numbers, texts and PDUs kept out of the log.
//! - `spool` (beyond the claim directory): the gammu-compatible spool:
//!   outbox/inbox file names, outbox file contents, and the thin
//!   file-system layer (claim, move, atomic write).
//! - `demo`: `simgate demo`, the daemon on the emulator in a local folder.
//! - `unconfigured`: a service started before any modem was named: one
//!   line saying what to set, and a clean exit.
//! - `migrate`: `simgate migrate-from-gammu`: checks a gammu-smsd setup,
//!   prints (and with `--apply` takes, reversibly) the steps that put
//!   simgate in its place.
//! - `manual`: simgate(8), simgate.toml(5) and shell completions, made
//!   from the command-line definitions and the default configuration.
//! - `queue`: `simgate send`: a message queued as an outbox file, and the
//!   wait for its outcome.
//! - `status`: `simgate status`: what a daemon's database says, read from
//!   another process.
//!   wait for its outcome; the atomic outbox write `inject` shares.
//! - `webhook`: the webhooks' events, payloads, signature, retry
//!   schedule (pure) and HTTP client; the queue is in the store, the task
//!   that posts in the daemon.
//! - `inject`: `simgate inject`, gammu-smsd-inject's command line for TEXT
//!   and EMS, writing the files gammu-smsd-inject writes.
//!
//! Neither `pdu` nor `at` performs I/O or reads the clock; they are unit
//! tested beside the code and fuzzed from `fuzz/`.

pub mod android;
pub mod at;
pub(crate) mod base64;
pub(crate) mod calendar;
pub mod cli;
pub mod config;
pub mod daemon;
pub(crate) mod demo;
pub mod device;
pub mod emulator;
pub mod hilink;
pub mod http;
pub(crate) mod http_client;
pub(crate) mod http_server;
pub(crate) mod ini;
pub(crate) mod inject;
pub mod instance;
pub(crate) mod manual;
pub(crate) mod migrate;
pub(crate) mod modem;
pub mod modemmanager;
pub mod pdu;
pub(crate) mod procfs;
pub(crate) mod queue;
pub(crate) mod redact;
pub mod spool;
pub(crate) mod status;
pub mod store;
pub(crate) mod unconfigured;
pub(crate) mod webhook;
pub mod zte;
