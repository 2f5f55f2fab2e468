//! The [`Digester`]: turns the byte stream from the modem, in chunks of any
//! size, into [`Event`]s — responses to the pending command, the `> ` SMS
//! prompt, unsolicited result codes, vendor noise and garbage.
//!
//! Framing follows ITU-T V.250 §5.7.1 (`<CR><LF>text<CR><LF>`, tolerating
//! bare CR or LF), the prompt 3GPP TS 27.005 §3.5.1 (`<CR><LF><greater
//! than><space>`, with no line end after it), and the two-line `+CMT`/`+CDS`
//! indications 27.005 §3.4.1. The digester works byte by byte, so the
//! events never depend on how the input was split into chunks.
//!
//! # Routing lines
//! While a command is pending (see [`Digester::command_sent`]):
//! 1. its echo is dropped, and after the prompt so is the hex echo of the
//!    PDU;
//! 2. a line named like the command's [`Command::response_prefix`] is an
//!    information line of the response, even if that name can also be
//!    unsolicited (`+CREG: 0,1` answering `AT+CREG?`);
//! 3. a recognised unsolicited code (`+CMTI`, `RING`, `+CREG` for another
//!    command, ...) or vendor noise is reported as such, without disturbing
//!    the response;
//! 4. any other line is an information line (bare answers like an IMEI).
//!
//! With no command pending, final result codes are reported as noise and
//! unknown lines as [`Urc::Other`].
//!
//! # Bounds
//! A line longer than [`MAX_LINE`] bytes is discarded up to its end, and a
//! response is capped at [`MAX_RESPONSE`] bytes; both report
//! [`Event::Overflow`]. NUL bytes are dropped; a line that is not UTF-8 or
//! holds control characters is reported as [`Event::Garbage`].

use super::command::{Command, CTRL_Z, ESC};
use super::fields::ParseError;
use super::result::{parse_final, Response};
use super::urc::{classify, line_name, PduHeader, Unsolicited, Urc};

/// Longest line kept, in bytes.
pub const MAX_LINE: usize = 4096;
/// Most bytes of information lines kept for one response (each line also
/// counts a fixed overhead of 32 bytes).
pub const MAX_RESPONSE: usize = 1 << 20;
const LINE_OVERHEAD: usize = 32;

/// What the digester recognised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    /// The pending command ended: its information lines and final result.
    Response(Response),
    /// The `> ` prompt: write the PDU ([`super::pdu_body`]) or ESC.
    Prompt,
    /// An unsolicited result code.
    Unsolicited(Urc),
    /// Known vendor chatter, or a final result code with no command pending.
    Noise(String),
    /// A line that is not UTF-8 text or holds control characters.
    Garbage(Vec<u8>),
    /// A line or a response exceeded its bound and was cut.
    Overflow,
}

#[derive(Debug)]
struct Pending {
    /// Kept whole (not as text) so that `Debug` stays redacted.
    command: Command,
    prefix: Option<String>,
    expects_prompt: bool,
    prompted: bool,
    lines: Vec<String>,
    size: usize,
}

impl Pending {
    fn push(&mut self, line: &str, out: &mut Vec<Event>) {
        let size = self.size + line.len() + LINE_OVERHEAD;
        if size > MAX_RESPONSE {
            out.push(Event::Overflow);
        } else {
            self.size = size;
            self.lines.push(line.to_owned());
        }
    }
}

/// Incremental, sans-IO parser of modem output.
///
/// Usage: call [`command_sent`](Self::command_sent) before writing a
/// command, then pass every chunk read from the modem to
/// [`feed`](Self::feed), which returns the events completed by that chunk
/// (possibly none). The PDU written after the prompt is not a command and
/// needs no call.
#[derive(Debug, Default)]
pub struct Digester {
    line: Vec<u8>,
    discarding: bool,
    pending: Option<Pending>,
    header: Option<PduHeader>,
}

impl Digester {
    /// A digester with no command pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares `command` as the pending command, replacing any other
    /// (whose lines are dropped). Its response ends with the next final
    /// result code.
    pub fn command_sent(&mut self, command: &Command) {
        self.pending = Some(Pending {
            command: command.clone(),
            prefix: command.response_prefix(),
            expects_prompt: command.expects_prompt(),
            prompted: false,
            lines: Vec::new(),
            size: 0,
        });
    }

    /// Forgets the pending command (e.g. after a timeout); a late final
    /// result code will then be reported as noise. Returns whether one was
    /// pending.
    pub fn cancel(&mut self) -> bool {
        self.pending.take().is_some()
    }

    /// Forgets everything: pending command, partial line, awaited PDU line.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// True while a command awaits its final result code.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Bytes currently held (partial line and response lines); bounded by
    /// [`MAX_LINE`] plus [`MAX_RESPONSE`] plus one header line.
    pub fn buffered(&self) -> usize {
        self.line.len()
            + self.pending.as_ref().map_or(0, |p| p.size)
            + self.header.as_ref().map_or(0, |_| MAX_LINE)
    }

    /// Consumes a chunk of modem output and returns the events it
    /// completed, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        for &b in bytes {
            self.byte(b, &mut out);
        }
        out
    }

    fn byte(&mut self, b: u8, out: &mut Vec<Event>) {
        match b {
            b'\r' | b'\n' | CTRL_Z | ESC => self.end_line(out),
            0 => {}
            _ if self.discarding => {}
            _ if self.line.len() >= MAX_LINE => {
                self.line.clear();
                self.discarding = true;
                out.push(Event::Overflow);
            }
            _ => {
                self.line.push(b);
                if self.line == b"> " && self.awaits_prompt() {
                    self.prompt(out);
                }
            }
        }
    }

    fn awaits_prompt(&self) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|p| p.expects_prompt && !p.prompted)
    }

    fn prompt(&mut self, out: &mut Vec<Event>) {
        self.line.clear();
        if let Some(p) = &mut self.pending {
            p.prompted = true;
        }
        out.push(Event::Prompt);
    }

    fn end_line(&mut self, out: &mut Vec<Event>) {
        self.discarding = false;
        if self.line.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.line);
        let control = |c: char| c.is_control() && c != '\t';
        match String::from_utf8(bytes) {
            Ok(text) if !text.contains(control) => {
                let line = text.trim();
                if line == ">" && self.awaits_prompt() {
                    self.prompt(out);
                } else if !line.is_empty() {
                    self.line_complete(line, out);
                }
                // Reuse the allocation for the next line.
                self.line = text.into_bytes();
                self.line.clear();
            }
            Ok(text) => out.push(Event::Garbage(text.into_bytes())),
            Err(e) => out.push(Event::Garbage(e.into_bytes())),
        }
    }

    fn line_complete(&mut self, line: &str, out: &mut Vec<Event>) {
        if let Some(header) = self.header.take() {
            if parse_final(line).is_none() && classify(line).is_none() {
                out.push(Event::Unsolicited(header.complete(line)));
                return;
            }
            out.push(Event::Unsolicited(header.fail(ParseError::MissingPdu)));
        }
        if let Some(result) = parse_final(line) {
            out.push(match self.pending.take() {
                Some(p) => Event::Response(Response {
                    lines: p.lines,
                    result,
                }),
                None => Event::Noise(line.to_owned()),
            });
            return;
        }
        if let Some(p) = &mut self.pending {
            let is_echo = line.eq_ignore_ascii_case(p.command.text())
                || (p.prompted && line.bytes().all(|b| b.is_ascii_hexdigit()));
            if is_echo {
                return;
            }
            let name = line_name(line);
            if p.prefix
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(name))
            {
                p.push(line, out);
                return;
            }
        }
        match classify(line) {
            Some(Unsolicited::Urc(urc)) => out.push(Event::Unsolicited(urc)),
            Some(Unsolicited::Header(header)) => self.header = Some(header),
            Some(Unsolicited::Noise) => out.push(Event::Noise(line.to_owned())),
            None => match &mut self.pending {
                Some(p) => p.push(line, out),
                None => out.push(Event::Unsolicited(Urc::Other(line.to_owned()))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::at::error::{CmeError, CmsError};
    use crate::at::network::{RegDomain, RegStatus};
    use crate::at::result::FinalResult;
    use crate::at::sim::PinStatus;
    use crate::at::sms::{MessageStatus, StorageIndex};
    use proptest::prelude::*;

    const PDU: &str =
        "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";

    fn run<'a>(
        command: Option<&Command>,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Vec<Event> {
        let mut d = Digester::new();
        if let Some(c) = command {
            d.command_sent(c);
        }
        chunks.into_iter().flat_map(|c| d.feed(c)).collect()
    }

    /// Feeds `input` whole, split at every byte boundary, and one byte at a
    /// time; every run must yield `expected`.
    fn check(name: &str, command: Option<Command>, input: &[u8], expected: &[Event]) {
        let cmd = command.as_ref();
        assert_eq!(run(cmd, [input]), expected, "{name}: whole");
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(run(cmd, [a, b]), expected, "{name}: split at {i}");
        }
        assert_eq!(run(cmd, input.chunks(1)), expected, "{name}: bytewise");
    }

    fn response(lines: &[&str], result: FinalResult) -> Event {
        Event::Response(Response {
            lines: lines.iter().map(|l| l.to_string()).collect(),
            result,
        })
    }

    fn ok(lines: &[&str]) -> Event {
        response(lines, FinalResult::Ok)
    }

    fn noise(line: &str) -> Event {
        Event::Noise(line.into())
    }

    fn cmti(index: u32) -> Event {
        Event::Unsolicited(Urc::NewMessage(StorageIndex {
            memory: "SM".into(),
            index,
        }))
    }

    fn pdu_bytes() -> Vec<u8> {
        crate::pdu::hex::decode(PDU).unwrap()
    }

    fn registration(event: &Event) -> Option<(RegDomain, RegStatus)> {
        match event {
            Event::Unsolicited(Urc::Registration(r)) => Some((r.domain, r.status)),
            _ => None,
        }
    }

    #[test]
    fn responses() {
        let csq = Some(Command::csq());
        check(
            "echo off",
            csq.clone(),
            b"\r\n+CSQ: 17,99\r\n\r\nOK\r\n",
            &[ok(&["+CSQ: 17,99"])],
        );
        check(
            "echo on",
            csq.clone(),
            b"AT+CSQ\r\r\n+CSQ: 17,99\r\n\r\nOK\r\n",
            &[ok(&["+CSQ: 17,99"])],
        );
        check(
            "echo lf",
            csq,
            b"AT+CSQ\r\n+CSQ: 17,99\r\nOK\r\n",
            &[ok(&["+CSQ: 17,99"])],
        );
        check(
            "plain ok",
            Some(Command::echo(false)),
            b"ATE0\r\r\nOK\r\n",
            &[ok(&[])],
        );
        check(
            "error",
            Some(Command::cmgr(9)),
            b"AT+CMGR=9\r\r\nERROR\r\n",
            &[response(&[], FinalResult::Error)],
        );
        check(
            "cme",
            Some(Command::cpin_query()),
            b"\r\n+CME ERROR: 10\r\n",
            &[response(&[], FinalResult::Cme(CmeError::SimNotInserted))],
        );
        check(
            "cme verbose",
            Some(Command::cpin_query()),
            b"\r\n+CME ERROR: SIM PIN required\r\n",
            &[response(&[], FinalResult::Cme(CmeError::SimPinRequired))],
        );
        check(
            "cpin answer is not a urc",
            Some(Command::cpin_query()),
            b"AT+CPIN?\r\r\n+CPIN: READY\r\n\r\nOK\r\n",
            &[ok(&["+CPIN: READY"])],
        );
        check(
            "bare imei",
            Some(Command::cgsn()),
            b"AT+CGSN\r\r\n867322035101234\r\n\r\nOK\r\n",
            &[ok(&["867322035101234"])],
        );
        check(
            "pin echo dropped",
            Command::enter_pin("1234").ok(),
            b"AT+CPIN=\"1234\"\r\r\nOK\r\n",
            &[ok(&[])],
        );
        check(
            "stray cr lf",
            Some(Command::at()),
            b"\r\r\n\n\r\n  \r\nAT\r\r\n\r\nOK\r\n\r\n\r",
            &[ok(&[])],
        );
    }

    #[test]
    fn sms_prompt() {
        let body = format!(
            "AT+CMGS=20\r\r\n> {}\x1a\r\n+CMGS: 42\r\n\r\nOK\r\n",
            &PDU[16..]
        );
        check(
            "echo on",
            Some(Command::cmgs(20)),
            body.as_bytes(),
            &[Event::Prompt, ok(&["+CMGS: 42"])],
        );
        check(
            "echo off",
            Some(Command::cmgs(20)),
            b"\r\n> \r\n+CMGS: 42\r\n\r\nOK\r\n",
            &[Event::Prompt, ok(&["+CMGS: 42"])],
        );
        check(
            "prompt then cms error",
            Some(Command::cmgs(20)),
            b"\r\n> \x1b\r\n+CMS ERROR: 38\r\n",
            &[
                Event::Prompt,
                response(&[], FinalResult::Cms(CmsError::NetworkOutOfOrder)),
            ],
        );
        check(
            "bare > line",
            Some(Command::cmgs(20)),
            b"\r\n>\r\n\r\nOK\r\n",
            &[Event::Prompt, ok(&[])],
        );
        check(
            "no prompt for other commands",
            Some(Command::csq()),
            b"\r\n> \r\nOK\r\n",
            &[ok(&[">"])],
        );
        check(
            "no prompt when idle",
            None,
            b"\r\n> \r\n",
            &[Event::Unsolicited(Urc::Other(">".into()))],
        );
    }

    #[test]
    fn urcs_mid_response() {
        check(
            "cmti inside creg response",
            Some(Command::creg_query()),
            b"AT+CREG?\r\r\n+CREG: 0,1\r\n\r\n+CMTI: \"SM\",3\r\n\r\nOK\r\n",
            &[cmti(3), ok(&["+CREG: 0,1"])],
        );
        let events = run(
            Some(&Command::csq()),
            [b"\r\n+CREG: 5\r\n\r\n^RSSI:20\r\n+CSQ: 20,99\r\nRING\r\n\r\nOK\r\n".as_slice()],
        );
        assert_eq!(events.len(), 4);
        assert_eq!(
            registration(&events[0]),
            Some((RegDomain::Creg, RegStatus::Roaming))
        );
        assert_eq!(
            events[1..],
            [
                noise("^RSSI:20"),
                Event::Unsolicited(Urc::Ring),
                ok(&["+CSQ: 20,99"])
            ]
        );
        let cmgl = format!("AT+CMGL=4\r\r\n+CMGL: 1,1,,39\r\n{PDU}\r\n+CDS: 3\r\n000102\r\n+CMGL: 2,0,,39\r\n{PDU}\r\n\r\nOK\r\n");
        check(
            "status report inside cmgl",
            Some(Command::cmgl(MessageStatus::All)),
            cmgl.as_bytes(),
            &[
                Event::Unsolicited(Urc::StatusReport {
                    length: 3,
                    pdu: vec![0, 1, 2],
                }),
                ok(&["+CMGL: 1,1,,39", PDU, "+CMGL: 2,0,,39", PDU]),
            ],
        );
    }

    #[test]
    fn two_line_urcs() {
        let deliver = Event::Unsolicited(Urc::Deliver {
            alpha: None,
            length: 39,
            pdu: pdu_bytes(),
        });
        check(
            "cmt idle",
            None,
            format!("\r\n+CMT: ,39\r\n{PDU}\r\n").as_bytes(),
            std::slice::from_ref(&deliver),
        );
        check(
            "cmt during command",
            Some(Command::csq()),
            format!("\r\n+CMT: ,39\r\n{PDU}\r\n+CSQ: 9,0\r\n\r\nOK\r\n").as_bytes(),
            &[deliver, ok(&["+CSQ: 9,0"])],
        );
        check(
            "cds idle",
            None,
            b"\r\n+CDS: 2\r\n0A0B\r\n",
            &[Event::Unsolicited(Urc::StatusReport {
                length: 2,
                pdu: vec![10, 11],
            })],
        );
        check(
            "cmt without pdu",
            Some(Command::at()),
            b"\r\n+CMT: ,39\r\n\r\nOK\r\n",
            &[
                Event::Unsolicited(Urc::Malformed {
                    line: "+CMT: ,39".into(),
                    error: ParseError::MissingPdu,
                }),
                ok(&[]),
            ],
        );
        check(
            "cmt with bad pdu",
            None,
            b"+CMT: ,39\r\n0G1\r\n",
            &[Event::Unsolicited(Urc::Malformed {
                // The PDU line is kept, to be recorded raw.
                line: "+CMT: ,39\r\n0G1".into(),
                error: ParseError::Hex(crate::pdu::HexError::InvalidDigit {
                    offset: 1,
                    found: 'G',
                }),
            })],
        );
    }

    #[test]
    fn vendor_noise() {
        check(
            "huawei",
            None,
            b"\r\n^RSSI:15\r\n\r\n^BOOT:1234567,0,0,0,75\r\n\r\n^MODE:5,4\r\n\r\n^DSFLOWRPT:0000001E,00000000,00000000\r\n\r\n^SIMST:1\r\n",
            &[
                noise("^RSSI:15"),
                noise("^BOOT:1234567,0,0,0,75"),
                noise("^MODE:5,4"),
                noise("^DSFLOWRPT:0000001E,00000000,00000000"),
                noise("^SIMST:1"),
            ],
        );
        check(
            "sim800 boot",
            None,
            b"\x00\xff\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n\r\n*PSUTTZ: 2024,1,1,12,0,0,\"+4\",0\r\n\r\nDST: 0\r\n",
            &[
                Event::Garbage(vec![0xff]),
                noise("RDY"),
                noise("+CFUN: 1"),
                Event::Unsolicited(Urc::SimStatus(PinStatus::Ready)),
                noise("Call Ready"),
                noise("SMS Ready"),
                noise("*PSUTTZ: 2024,1,1,12,0,0,\"+4\",0"),
                noise("DST: 0"),
            ],
        );
        check(
            "quectel and zte",
            Some(Command::csq()),
            b"\r\n+QIND: SMS DONE\r\n\r\n+QUSIM: 1\r\n\r\nPB DONE\r\n+ZPBIC: 1,1\r\n+ZEND\r\n+CSQ: 12,99\r\n\r\nOK\r\n",
            &[
                noise("+QIND: SMS DONE"),
                noise("+QUSIM: 1"),
                noise("PB DONE"),
                noise("+ZPBIC: 1,1"),
                noise("+ZEND"),
                ok(&["+CSQ: 12,99"]),
            ],
        );
        check(
            "curc answer is not noise",
            Command::raw("AT^CURC?").ok(),
            b"\r\n^CURC: 0\r\n\r\nOK\r\n",
            &[ok(&["^CURC: 0"])],
        );
        check("idle ok", None, b"\r\nOK\r\n", &[noise("OK")]);
        check(
            "idle unknown",
            None,
            b"\r\n+CUSD: 0\r\n",
            &[Event::Unsolicited(Urc::Other("+CUSD: 0".into()))],
        );
    }

    #[test]
    fn garbage_and_bounds() {
        check(
            "garbage",
            Some(Command::at()),
            b"\xff\xfe\r\n\x07\x08\r\n\x00OK\x00\r\n",
            &[
                Event::Garbage(vec![0xff, 0xfe]),
                Event::Garbage(vec![7, 8]),
                ok(&[]),
            ],
        );
        let mut long = vec![b'A'; MAX_LINE + 10];
        long.extend_from_slice(b"\r\n+CSQ: 1,1\r\nOK\r\n");
        check(
            "overlong line",
            Some(Command::csq()),
            &long,
            &[Event::Overflow, ok(&["+CSQ: 1,1"])],
        );
        let mut exact = vec![b'A'; MAX_LINE];
        exact.extend_from_slice(b"\r\n");
        assert_eq!(
            run(None, [exact.as_slice()]),
            [Event::Unsolicited(Urc::Other("A".repeat(MAX_LINE)))]
        );
    }

    #[test]
    fn response_is_capped() {
        let mut d = Digester::new();
        d.command_sent(&Command::cgmr());
        let line = format!("{}\r\n", "B".repeat(1000));
        let mut overflows = 0;
        for _ in 0..2000 {
            overflows += d
                .feed(line.as_bytes())
                .iter()
                .filter(|e| **e == Event::Overflow)
                .count();
            assert!(d.buffered() <= MAX_RESPONSE + MAX_LINE);
        }
        assert!(overflows > 900);
        let Event::Response(r) = d.feed(b"OK\r\n").pop().unwrap() else {
            panic!()
        };
        assert_eq!(r.lines.len(), MAX_RESPONSE / 1032);
    }

    #[test]
    fn debug_hides_pending_pin() {
        let mut d = Digester::new();
        d.command_sent(&Command::enter_pin("4711").unwrap());
        assert!(!format!("{d:?}").contains("4711"));
    }

    #[test]
    fn lifecycle() {
        let mut d = Digester::new();
        assert!(!d.is_pending());
        d.command_sent(&Command::csq());
        assert!(d.is_pending());
        assert!(d.feed(b"+CSQ: 1,1\r\n").is_empty());
        assert!(d.cancel());
        assert!(!d.cancel());
        assert_eq!(d.feed(b"OK\r\n"), [noise("OK")]);
        d.command_sent(&Command::csq());
        d.feed(b"+CMT: ,3\r\npartial");
        d.reset();
        assert_eq!(d.buffered(), 0);
        assert_eq!(d.feed(b"OK\r\n"), [noise("OK")]);
    }

    proptest! {
        #[test]
        fn random_input_is_chunking_independent_and_bounded(
            input in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n'), Just(b'+'), Just(b'>'), Just(b' ')],
                0..2000,
            ),
            chunks in proptest::collection::vec(1usize..64, 1..50),
            pending in 0usize..4,
        ) {
            let commands = [None, Some(Command::csq()), Some(Command::cmgs(20)), Some(Command::creg_query())];
            let cmd = commands[pending].as_ref();
            let whole = run(cmd, [input.as_slice()]);
            let mut d = Digester::new();
            if let Some(c) = cmd {
                d.command_sent(c);
            }
            let (mut rest, mut events, mut i) = (input.as_slice(), Vec::new(), 0);
            while !rest.is_empty() {
                let (a, b) = rest.split_at(chunks[i % chunks.len()].min(rest.len()));
                events.extend(d.feed(a));
                prop_assert!(d.buffered() <= MAX_LINE * 2 + MAX_RESPONSE);
                rest = b;
                i += 1;
            }
            prop_assert_eq!(events, whole);
        }
    }
}
