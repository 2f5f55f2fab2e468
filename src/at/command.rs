//! Command formatting: a [`Command`] renders one command line terminated
//! by the S3 character CR (ITU-T V.250 §5.2.1, §6.2.1), with string
//! arguments quoted per 3GPP TS 27.007 §4.1 and validated so that no
//! argument can end the line or inject another command. Also the bytes
//! that follow the `> ` prompt of `AT+CMGS` (27.005 §3.5.1): the PDU in hex
//! ended by Ctrl-Z, or ESC to cancel.

use std::fmt;

use thiserror::Error;

use super::sms::MessageStatus;

/// Ctrl-Z (SUB): ends the PDU after the `> ` prompt.
pub const CTRL_Z: u8 = 0x1a;
/// ESC: cancels sending after the `> ` prompt.
pub const ESC: u8 = 0x1b;

/// Why a command could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// A string argument holds `"` or a control character (CR, LF,
    /// Ctrl-Z, ESC, ...); raw commands may hold `"` but no control character.
    #[error("forbidden character {0:?} in command argument")]
    ForbiddenChar(char),
    /// A PIN must be 4 to 8 decimal digits (TS 31.101 §9.5).
    #[error("a PIN must be 4 to 8 digits")]
    InvalidPin,
    /// A PUK must be 8 decimal digits (TS 31.101 §9.5).
    #[error("a PUK must be 8 digits")]
    InvalidPuk,
    /// A numeric argument is outside its range.
    #[error("{what} out of range: {value}")]
    OutOfRange {
        /// Parameter name.
        what: &'static str,
        /// Value given.
        value: u32,
    },
}

/// `AT+CMEE=<n>` (27.007 §9.1): how errors are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorReporting {
    /// Plain `ERROR`.
    Off = 0,
    /// `+CME ERROR: <n>` with numeric codes.
    Numeric = 1,
    /// `+CME ERROR: <text>` with verbose text.
    Verbose = 2,
}

/// `AT+CMGF=<mode>` (27.005 §3.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageFormat {
    /// PDU mode, the one this crate speaks.
    Pdu = 0,
    /// Text mode.
    Text = 1,
}

/// `<delflag>` of `AT+CMGD` (27.005 §3.5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeleteFlag {
    /// 0: the message at the index only.
    Index = 0,
    /// 1: all read messages.
    Read = 1,
    /// 2: all read and sent messages.
    ReadSent = 2,
    /// 3: all read, sent and unsent messages.
    ReadSentUnsent = 3,
    /// 4: all messages.
    All = 4,
}

/// One AT command line, without its terminating CR.
///
/// `Debug` and `Display` hide the arguments of commands that carry a PIN
/// or PUK; only [`Command::text`] and [`Command::to_bytes`] reveal them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Command {
    text: String,
    secret: bool,
}

/// Quotes a string argument, rejecting `"` and control characters.
fn quoted(arg: &str) -> Result<String, CommandError> {
    match arg.chars().find(|&c| c == '"' || c.is_control()) {
        Some(c) => Err(CommandError::ForbiddenChar(c)),
        None => Ok(format!("\"{arg}\"")),
    }
}

fn check_pin(
    pin: &str,
    len: std::ops::RangeInclusive<usize>,
    err: CommandError,
) -> Result<(), CommandError> {
    if len.contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(err)
    }
}

impl Command {
    fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            secret: false,
        }
    }

    /// Any command line, e.g. `Command::raw("AT+CSCS=\"GSM\"")`. Quotes are
    /// allowed (the caller writes the quoting); control characters are not.
    ///
    /// # Errors
    /// [`CommandError::ForbiddenChar`] for a control character.
    pub fn raw(text: &str) -> Result<Self, CommandError> {
        match text.chars().find(|c| c.is_control()) {
            Some(c) => Err(CommandError::ForbiddenChar(c)),
            None => Ok(Self::new(text)),
        }
    }

    /// `AT`: attention, a no-op that answers `OK`.
    pub fn at() -> Self {
        Self::new("AT")
    }

    /// `ATE0` / `ATE1`: command echo off or on (V.250 §6.2.4).
    pub fn echo(on: bool) -> Self {
        Self::new(if on { "ATE1" } else { "ATE0" })
    }

    /// `AT+CMEE=<n>`.
    pub fn cmee(mode: ErrorReporting) -> Self {
        Self::new(format!("AT+CMEE={}", mode as u8))
    }

    /// `AT+CPIN?`: which password the SIM waits for.
    pub fn cpin_query() -> Self {
        Self::new("AT+CPIN?")
    }

    /// `AT+CPIN="<pin>"`.
    ///
    /// # Errors
    /// [`CommandError::InvalidPin`] unless 4 to 8 digits.
    pub fn enter_pin(pin: &str) -> Result<Self, CommandError> {
        check_pin(pin, 4..=8, CommandError::InvalidPin)?;
        Ok(Self {
            text: format!("AT+CPIN=\"{pin}\""),
            secret: true,
        })
    }

    /// `AT+CPIN="<puk>","<new pin>"`: unblock with the PUK.
    ///
    /// # Errors
    /// [`CommandError::InvalidPuk`] or [`CommandError::InvalidPin`].
    pub fn enter_puk(puk: &str, new_pin: &str) -> Result<Self, CommandError> {
        check_pin(puk, 8..=8, CommandError::InvalidPuk)?;
        check_pin(new_pin, 4..=8, CommandError::InvalidPin)?;
        Ok(Self {
            text: format!("AT+CPIN=\"{puk}\",\"{new_pin}\""),
            secret: true,
        })
    }

    /// `AT+CPINR`: remaining PIN/PUK attempts (27.007 §8.65).
    pub fn cpinr() -> Self {
        Self::new("AT+CPINR")
    }

    /// `AT+CMGF=<mode>`.
    pub fn cmgf(format: MessageFormat) -> Self {
        Self::new(format!("AT+CMGF={}", format as u8))
    }

    /// `AT+CPMS="<mem1>"[,"<mem2>"[,"<mem3>"]]` (27.005 §3.2.2); `memories`
    /// holds one to three storage names.
    ///
    /// # Errors
    /// A bad storage name, or not 1 to 3 of them.
    pub fn cpms(memories: &[&str]) -> Result<Self, CommandError> {
        if !(1..=3).contains(&memories.len()) {
            return Err(CommandError::OutOfRange {
                what: "storage count",
                value: u32::try_from(memories.len()).unwrap_or(u32::MAX),
            });
        }
        let args: Vec<String> = memories
            .iter()
            .map(|m| quoted(m))
            .collect::<Result<_, _>>()?;
        Ok(Self::new(format!("AT+CPMS={}", args.join(","))))
    }

    /// `AT+CPMS?`: storages in use and their fill.
    pub fn cpms_query() -> Self {
        Self::new("AT+CPMS?")
    }

    /// `AT+CNMI=<mode>,<mt>,<bm>,<ds>,<bfr>` (27.005 §3.4.1), e.g.
    /// `cnmi(2, 1, 0, 2, 0)`; values are not range-checked since vendors
    /// extend them.
    pub fn cnmi(mode: u8, mt: u8, bm: u8, ds: u8, bfr: u8) -> Self {
        Self::new(format!("AT+CNMI={mode},{mt},{bm},{ds},{bfr}"))
    }

    /// `AT+CMGS=<length>`: `tpdu_len` is the TPDU length in octets, SMSC
    /// address excluded. Wait for the prompt, then write [`pdu_body`].
    pub fn cmgs(tpdu_len: u8) -> Self {
        Self::new(format!("AT+CMGS={tpdu_len}"))
    }

    /// `AT+CMGL=<stat>`: list stored messages.
    pub fn cmgl(status: MessageStatus) -> Self {
        Self::new(format!("AT+CMGL={}", status as u8))
    }

    /// `AT+CMGR=<index>`: read one stored message.
    pub fn cmgr(index: u32) -> Self {
        Self::new(format!("AT+CMGR={index}"))
    }

    /// `AT+CMGD=<index>[,<delflag>]`: delete stored messages.
    pub fn cmgd(index: u32, flag: Option<DeleteFlag>) -> Self {
        match flag {
            Some(f) => Self::new(format!("AT+CMGD={index},{}", f as u8)),
            None => Self::new(format!("AT+CMGD={index}")),
        }
    }

    /// `AT+CMMS=<n>` (27.005 §3.5.7): keep the SMS relay link open
    /// (0 disabled, 1 until the timeout after one message, 2 enabled).
    ///
    /// # Errors
    /// [`CommandError::OutOfRange`] for `n > 2`.
    pub fn cmms(n: u8) -> Result<Self, CommandError> {
        if n > 2 {
            return Err(CommandError::OutOfRange {
                what: "CMMS mode",
                value: n.into(),
            });
        }
        Ok(Self::new(format!("AT+CMMS={n}")))
    }

    /// `AT+CSQ`: signal quality.
    pub fn csq() -> Self {
        Self::new("AT+CSQ")
    }

    /// `AT+CREG?`: circuit-switched registration.
    pub fn creg_query() -> Self {
        Self::new("AT+CREG?")
    }

    /// `AT+CEREG?`: EPS registration.
    pub fn cereg_query() -> Self {
        Self::new("AT+CEREG?")
    }

    /// `AT+C5GREG?`: 5GS registration.
    pub fn c5greg_query() -> Self {
        Self::new("AT+C5GREG?")
    }

    /// `AT+COPS?`: current operator.
    pub fn cops_query() -> Self {
        Self::new("AT+COPS?")
    }

    /// `AT+CGSN`: IMEI.
    pub fn cgsn() -> Self {
        Self::new("AT+CGSN")
    }

    /// `AT+CIMI`: IMSI.
    pub fn cimi() -> Self {
        Self::new("AT+CIMI")
    }

    /// `AT+CGMI`: manufacturer.
    pub fn cgmi() -> Self {
        Self::new("AT+CGMI")
    }

    /// `AT+CGMM`: model.
    pub fn cgmm() -> Self {
        Self::new("AT+CGMM")
    }

    /// `AT+CGMR`: firmware revision.
    pub fn cgmr() -> Self {
        Self::new("AT+CGMR")
    }

    /// `AT+CBC`: battery charge.
    pub fn cbc() -> Self {
        Self::new("AT+CBC")
    }

    /// `AT+CSCA?`: service centre address.
    pub fn csca_query() -> Self {
        Self::new("AT+CSCA?")
    }

    /// `AT+CSCA="<number>"[,<tosca>]`: set the service centre address.
    ///
    /// # Errors
    /// [`CommandError::ForbiddenChar`] for a quote or control character.
    pub fn csca_set(number: &str, toa: Option<u8>) -> Result<Self, CommandError> {
        let number = quoted(number)?;
        Ok(Self::new(match toa {
            Some(t) => format!("AT+CSCA={number},{t}"),
            None => format!("AT+CSCA={number}"),
        }))
    }

    /// The command line without CR, arguments included.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The bytes to write: the command line followed by CR.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.text.len() + 1);
        bytes.extend_from_slice(self.text.as_bytes());
        bytes.push(b'\r');
        bytes
    }

    /// The prefix of the information lines this command answers with, e.g.
    /// `+CREG` for `AT+CREG?` or `^CPIN` for `AT^CPIN?`: the extended
    /// command name, upper-cased. `None` for basic commands (`ATE0`, `ATI`).
    pub fn response_prefix(&self) -> Option<String> {
        let head = self
            .text
            .get(..2)
            .filter(|h| h.eq_ignore_ascii_case("AT"))?;
        let rest = &self.text[head.len()..];
        if !rest.starts_with(['+', '^', '*', '$', '!', '#', '%']) {
            return None;
        }
        let end = rest.find(['=', '?', ';']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_ascii_uppercase())
    }

    /// True when the modem answers with the `> ` prompt for a PDU
    /// (`AT+CMGS=`, `AT+CMGW=`, `AT+CMGC=`).
    pub fn expects_prompt(&self) -> bool {
        self.text.contains('=')
            && !self.text.ends_with("=?")
            && matches!(
                self.response_prefix().as_deref(),
                Some("+CMGS" | "+CMGW" | "+CMGC")
            )
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.text.split_once('=') {
            Some((head, _)) if self.secret => write!(f, "{head}=<redacted>"),
            _ => f.write_str(&self.text),
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Command({:?})", self.to_string())
    }
}

/// The bytes to write after the `> ` prompt: `pdu` (SMSC address and
/// TPDU) in upper-case hex, then Ctrl-Z.
pub fn pdu_body(pdu: &[u8]) -> Vec<u8> {
    let mut bytes = crate::pdu::hex::encode(pdu).into_bytes();
    bytes.push(CTRL_Z);
    bytes
}

/// The byte to write after the `> ` prompt to abandon the message.
pub fn cancel_body() -> [u8; 1] {
    [ESC]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(c: Result<Command, CommandError>) -> String {
        c.unwrap().text().to_owned()
    }

    #[test]
    fn renders_commands() {
        let cases = [
            (Command::at(), "AT"),
            (Command::echo(false), "ATE0"),
            (Command::echo(true), "ATE1"),
            (Command::cmee(ErrorReporting::Numeric), "AT+CMEE=1"),
            (Command::cpin_query(), "AT+CPIN?"),
            (Command::cmgf(MessageFormat::Pdu), "AT+CMGF=0"),
            (Command::cnmi(2, 1, 0, 2, 0), "AT+CNMI=2,1,0,2,0"),
            (Command::cmgs(23), "AT+CMGS=23"),
            (Command::cmgl(MessageStatus::All), "AT+CMGL=4"),
            (Command::cmgr(7), "AT+CMGR=7"),
            (Command::cmgd(3, None), "AT+CMGD=3"),
            (Command::cmgd(1, Some(DeleteFlag::All)), "AT+CMGD=1,4"),
            (Command::csq(), "AT+CSQ"),
            (Command::creg_query(), "AT+CREG?"),
            (Command::cereg_query(), "AT+CEREG?"),
            (Command::c5greg_query(), "AT+C5GREG?"),
            (Command::cops_query(), "AT+COPS?"),
            (Command::cgsn(), "AT+CGSN"),
            (Command::cimi(), "AT+CIMI"),
            (Command::cgmi(), "AT+CGMI"),
            (Command::cgmm(), "AT+CGMM"),
            (Command::cgmr(), "AT+CGMR"),
            (Command::cbc(), "AT+CBC"),
            (Command::csca_query(), "AT+CSCA?"),
            (Command::cpinr(), "AT+CPINR"),
            (Command::cpms_query(), "AT+CPMS?"),
        ];
        for (cmd, want) in cases {
            assert_eq!(cmd.text(), want);
            assert_eq!(cmd.to_bytes(), format!("{want}\r").into_bytes());
        }
        assert_eq!(text(Command::enter_pin("1234")), r#"AT+CPIN="1234""#);
        assert_eq!(
            text(Command::enter_puk("12345678", "0000")),
            r#"AT+CPIN="12345678","0000""#
        );
        assert_eq!(
            text(Command::cpms(&["SM", "SM", "SM"])),
            r#"AT+CPMS="SM","SM","SM""#
        );
        assert_eq!(text(Command::cmms(1)), "AT+CMMS=1");
        assert_eq!(
            text(Command::csca_set("+491710760000", Some(145))),
            r#"AT+CSCA="+491710760000",145"#
        );
        assert_eq!(text(Command::raw(r#"AT+CSCS="GSM""#)), r#"AT+CSCS="GSM""#);
    }

    #[test]
    fn rejects_injection_and_bad_values() {
        assert_eq!(
            Command::cpms(&["SM\"\r"]),
            Err(CommandError::ForbiddenChar('"'))
        );
        assert_eq!(
            Command::cpms(&["SM\rAT+CMGD=1,4"]),
            Err(CommandError::ForbiddenChar('\r'))
        );
        assert_eq!(
            Command::csca_set("+49\u{1a}", None),
            Err(CommandError::ForbiddenChar('\u{1a}'))
        );
        assert_eq!(
            Command::csca_set("+49\n", None),
            Err(CommandError::ForbiddenChar('\n'))
        );
        assert_eq!(
            Command::raw("AT\u{1b}"),
            Err(CommandError::ForbiddenChar('\u{1b}'))
        );
        assert!(Command::cpms(&[]).is_err());
        assert!(Command::cpms(&["SM"; 4]).is_err());
        assert!(Command::cmms(3).is_err());
        for pin in ["123", "123456789", "12a4", "1234\"", ""] {
            assert_eq!(
                Command::enter_pin(pin),
                Err(CommandError::InvalidPin),
                "{pin}"
            );
        }
        assert_eq!(
            Command::enter_puk("1234567", "1234"),
            Err(CommandError::InvalidPuk)
        );
        assert_eq!(
            Command::enter_puk("12345678", "12"),
            Err(CommandError::InvalidPin)
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_and_display() {
        let cmd = Command::enter_pin("4711").unwrap();
        assert_eq!(format!("{cmd:?}"), r#"Command("AT+CPIN=<redacted>")"#);
        assert!(!cmd.to_string().contains("4711"));
        let puk = Command::enter_puk("87654321", "9876").unwrap();
        let shown = format!("{puk:?} {puk}");
        assert!(!shown.contains("8765") && !shown.contains("9876"));
        assert_eq!(format!("{:?}", Command::csq()), r#"Command("AT+CSQ")"#);
    }

    #[test]
    fn prefixes_and_prompts() {
        let prefix = |t: &str| Command::raw(t).unwrap().response_prefix();
        assert_eq!(prefix("AT+CREG?").as_deref(), Some("+CREG"));
        assert_eq!(prefix("at+cmgl=4").as_deref(), Some("+CMGL"));
        assert_eq!(prefix("AT^CPIN?").as_deref(), Some("^CPIN"));
        assert_eq!(prefix("AT+CPINR").as_deref(), Some("+CPINR"));
        assert_eq!(prefix("ATE0"), None);
        assert_eq!(prefix("A"), None);
        assert_eq!(prefix("é"), None);
        assert!(Command::cmgs(10).expects_prompt());
        assert!(!Command::raw("AT+CMGS=?").unwrap().expects_prompt());
        assert!(!Command::csq().expects_prompt());
        assert!(Command::raw("AT+CMGW=12").unwrap().expects_prompt());
    }

    #[test]
    fn bodies() {
        assert_eq!(pdu_body(&[0x00, 0x11, 0xab]), b"0011AB\x1a");
        assert_eq!(cancel_body(), [0x1b]);
    }
}
