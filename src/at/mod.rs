//! AT command codec (3GPP TS 27.007, 27.005): sans-IO.
//!
//! Nothing here performs I/O, reads a clock or spawns work; a driver owns
//! the serial port and the timeouts and uses these pieces:
//!
//! - `command`: [`Command`] renders command lines (`AT+CMGS=23\r`),
//!   rejecting arguments that could inject a command; [`pdu_body`] and
//!   [`cancel_body`] are what follows the `> ` prompt.
//! - `digest`: the [`Digester`] turns arbitrary chunks of modem output into
//!   [`Event`]s: a [`Response`] (information lines + [`FinalResult`]) for the
//!   pending command, the prompt, [`Urc`]s, noise and garbage.
//! - `result`: final result codes.
//! - `error`: [`CmsError`], [`CmeError`] and their [`ErrorClass`].
//! - `network`, `sim`, `sms`, `device`, `urc`: typed parsers
//!   of information lines, pure functions returning
//!   `Result<_, `[`ParseError`]`>`.
//!
//! A typical exchange:
//!
//! ```
//! use simgate::at::{parse_csq, Command, Digester, Event};
//!
//! let mut digester = Digester::new();
//! let cmd = Command::csq();
//! digester.command_sent(&cmd);
//! // write cmd.to_bytes() to the modem, then feed what it answers:
//! let events = digester.feed(b"AT+CSQ\r\r\n+CSQ: 17,99\r\n\r\nOK\r\n");
//! let Event::Response(response) = &events[0] else { panic!() };
//! let quality = parse_csq(response.line("+CSQ:").unwrap()).unwrap();
//! assert_eq!(quality.dbm(), Some(-79));
//! ```

mod command;
mod device;
mod digest;
mod error;
mod fields;
mod network;
mod result;
mod sim;
mod sms;
mod urc;

pub use command::{
    cancel_body, pdu_body, Command, CommandError, DeleteFlag, ErrorReporting, MessageFormat,
    CTRL_Z, ESC,
};
pub use device::{parse_cbc, parse_imei, parse_imsi, parse_info, Battery, InfoKind};
pub use digest::{Digester, Event, MAX_LINE, MAX_RESPONSE};
pub use error::{CmeError, CmsError, ErrorClass};
pub use fields::ParseError;
pub use network::{
    parse_cops, parse_csq, parse_registration, AccessTech, Operator, RegDomain, RegForm, RegStatus,
    Registration, SignalQuality,
};
pub use result::{parse_final, FinalResult, Response};
pub use sim::{
    iccid_from_ef, parse_cpin, parse_crsm, parse_iccid, parse_pin_retries, PinRetries, PinStatus,
    SimFileAnswer, EF_ICCID, EF_SMSS,
};
pub use sms::{
    parse_cds_header, parse_cdsi, parse_cmgl, parse_cmgr, parse_cmgs, parse_cmt_header, parse_cmti,
    parse_cpms, parse_csca, Cpms, MemoryUsage, MessageStatus, ServiceCentre, StorageIndex,
    StoredMessage,
};
pub use urc::{parse_clip, Clip, Urc};
