//! Command execution for the [`Machine`]: splitting a command line into
//! basic commands (`E0`, `Z`, `H`, V.250 §6) and extended commands
//! separated by `;` (27.007 §4.3), and the handlers of everything that is
//! not SMS: identification, error mode, SIM PIN and its counters (standard
//! and vendor), signal, registration, operator, calls.
//!
//! A line runs its commands in order; the first error ends it with that
//! error, else the information lines of all of them end with `OK`.

use super::machine::{Input, Machine, PduTarget, Session};
use super::profile::PinCounterCommand;
use super::record::EmulatorEvent;
use super::sim::{cme, SimState, PIN_ATTEMPTS, PUK_ATTEMPTS};

/// How an extended command was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form<'a> {
    /// `AT+X`
    Exec,
    /// `AT+X?`
    Query,
    /// `AT+X=?`
    Test,
    /// `AT+X=<args>`
    Set(&'a str),
}

/// The result of one command.
pub(super) enum Step {
    /// Information lines; go on.
    Lines(Vec<String>),
    /// Write the `> ` prompt and read a PDU; ends the line.
    Prompt(PduTarget),
}

/// A command's outcome: `Err` holds the final result line (`ERROR`, ...).
pub(super) type Outcome = Result<Step, String>;

pub(super) fn lines<I: IntoIterator<Item = String>>(i: I) -> Outcome {
    Ok(Step::Lines(i.into_iter().collect()))
}

pub(super) fn ok() -> Outcome {
    Ok(Step::Lines(Vec::new()))
}

/// Splits at `sep` outside double quotes.
pub(super) fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Comma-separated arguments, trimmed and unquoted.
pub(super) fn args(s: &str) -> Vec<String> {
    if s.trim().is_empty() {
        return Vec::new();
    }
    split_outside_quotes(s, ',')
        .into_iter()
        .map(|a| {
            let a = a.trim();
            a.strip_prefix('"')
                .and_then(|a| a.strip_suffix('"'))
                .unwrap_or(a)
                .to_owned()
        })
        .collect()
}

/// Parses a decimal argument within `max`.
pub(super) fn num(arg: Option<&String>, max: u32) -> Option<u32> {
    let a = arg?.trim();
    if a.is_empty() || !a.bytes().all(|b| b.is_ascii_digit()) || a.len() > 9 {
        return None;
    }
    a.parse().ok().filter(|n| *n <= max)
}

impl Machine {
    /// Runs the commands of one line (`line` starts with `AT`, `body` is
    /// the rest) and writes the answer.
    pub(super) fn run_line(&mut self, line: &str, body: &str) {
        let latency = self.latency_for(line);
        let mut info = Vec::new();
        let mut after = Vec::new();
        let mut result = Ok(());
        for segment in split_outside_quotes(body, ';') {
            let segment = segment.trim();
            if segment.is_empty() {
                continue;
            }
            let outcome = if segment.starts_with(['+', '^', '$', '#', '%', '*', '!']) {
                self.extended(segment, &mut after)
            } else {
                self.basic(segment)
            };
            match outcome {
                Ok(Step::Lines(l)) => info.extend(l),
                Ok(Step::Prompt(target)) => {
                    self.event(EmulatorEvent::Prompted);
                    self.write(b"\r\n> ");
                    self.input = Input::Pdu(match target {
                        PduTarget::Send { len, .. } => PduTarget::Send { len, latency },
                        other => other,
                    });
                    return;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.delay(latency);
        match result {
            Ok(()) => self.answer(&info, "OK"),
            Err(e) => self.answer(&info, &e),
        }
        for line in after {
            self.urc(&line);
        }
    }

    /// `AT+CRSM=176,<file>,0,0,<length>`: READ BINARY of EF_SMSS (the
    /// last TP-MR used, then the memory-full flag `FE`) or EF_ICCID; other
    /// files are "not found" (`6A 82`).
    fn restricted_sim_access(&self, args: &[String]) -> Outcome {
        let number = |i: usize| args.get(i).and_then(|a| a.trim().parse::<u32>().ok());
        let (Some(176), Some(file)) = (number(0), number(1)) else {
            return Err(self.cme(cme::INCORRECT_PARAMETERS));
        };
        let data: Vec<u8> = match file {
            0x6F43 => vec![self.next_mr.wrapping_sub(1), 0xFE],
            0x2FE2 => {
                let digits: Vec<u8> = self
                    .iccid
                    .bytes()
                    .map(|b| b - b'0')
                    .chain(std::iter::repeat(0x0F))
                    .take(20)
                    .collect();
                digits
                    .chunks(2)
                    .map(|pair| pair[0] | (pair[1] << 4))
                    .collect()
            }
            _ => return lines(["+CRSM: 106,130".to_owned()]),
        };
        let hex: String = data.iter().map(|b| format!("{b:02X}")).collect();
        lines([format!("+CRSM: 144,0,\"{hex}\"")])
    }

    /// The final result for an unknown command.
    pub(super) fn unknown(&self) -> String {
        self.profile.unknown_command_reply().to_owned()
    }

    /// Basic commands, possibly several in a row (`E0V1`).
    fn basic(&mut self, segment: &str) -> Outcome {
        let bytes = segment.as_bytes();
        let mut i = 0;
        let mut info = Vec::new();
        while i < bytes.len() {
            let mut name = String::new();
            if bytes[i] == b'&' {
                name.push('&');
                i += 1;
            }
            let Some(&letter) = bytes.get(i).filter(|b| b.is_ascii_alphabetic()) else {
                return Err(self.unknown());
            };
            name.push(char::from(letter.to_ascii_uppercase()));
            i += 1;
            let start = i;
            if name == "S" {
                // Sn=v or Sn?: S-registers are accepted and read as 0.
                while i < bytes.len() && !bytes[i].is_ascii_alphabetic() {
                    i += 1;
                }
                if segment[start..].contains('?') {
                    info.push("000".into());
                }
                continue;
            }
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let n: u32 = segment[start..i].parse().unwrap_or(0);
            match (name.as_str(), n) {
                ("E", 0 | 1) => self.session.echo = n == 1,
                ("Z", 0) => {
                    self.session =
                        Session::new(self.profile, self.raw_delivery_only, self.phase2plus)
                }
                ("H", 0) => {
                    if self.ringing.take().is_some() {
                        self.event(EmulatorEvent::CallEnded { by_host: true });
                    }
                }
                ("I", _) => info.extend([
                    format!("Manufacturer: {}", self.profile.manufacturer()),
                    format!("Model: {}", self.profile.model()),
                    format!("Revision: {}", self.profile.revision()),
                    format!("IMEI: {}", self.imei),
                ]),
                // Result format, quiet, extended results, speaker, DCD/DTR,
                // factory defaults, store profile: accepted, no effect
                // (numeric ATV0 results are not emulated).
                ("V" | "Q", 0 | 1) | ("X", 0..=4) | ("L" | "M", 0..=3) => {}
                ("&F" | "&W", 0) | ("&C", 0 | 1) | ("&D", 0..=2) => {}
                _ => return Err(self.unknown()),
            }
        }
        lines(info)
    }

    /// One extended command such as `+CPIN?`.
    fn extended(&mut self, segment: &str, after: &mut Vec<String>) -> Outcome {
        let end = segment[1..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(segment.len(), |i| i + 1);
        let name = segment[..end].to_ascii_uppercase();
        let form = match &segment[end..] {
            "" => Form::Exec,
            "?" => Form::Query,
            "=?" => Form::Test,
            rest => match rest.strip_prefix('=') {
                Some(a) => Form::Set(a),
                None => return Err(self.unknown()),
            },
        };
        if let Some(outcome) = self.sms_command(&name, form) {
            return outcome;
        }
        self.general(&name, form, after)
    }

    fn general(&mut self, name: &str, form: Form<'_>, after: &mut Vec<String>) -> Outcome {
        let p = self.profile;
        match (name, form) {
            (_, Form::Test)
                if matches!(
                    name,
                    "+CGMI" | "+CGMM" | "+CGMR" | "+CGSN" | "+CIMI" | "+CPIN" | "+CHUP"
                ) =>
            {
                ok()
            }
            ("+CGMI" | "+GMI", Form::Exec) => lines([p.manufacturer().into()]),
            ("+CGMM" | "+GMM", Form::Exec) => lines([p.model().into()]),
            ("+CGMR" | "+GMR", Form::Exec) => lines([p.revision_line()]),
            ("+CGSN" | "+GSN", Form::Exec) => lines([self.imei.clone()]),
            ("+CIMI", Form::Exec) => match self.sim.cme_block() {
                Some(code) => Err(self.cme(code)),
                None => lines([self.imsi.clone()]),
            },
            ("+CMEE", _) => self.setting(form, "+CMEE", 2, |m| &mut m.session.cmee),
            ("+CPIN", Form::Query) => match self.sim.state {
                SimState::Blocked => Err(self.cme(cme::SIM_FAILURE)),
                s => lines([format!("+CPIN: {}", s.code())]),
            },
            ("+CPIN", Form::Set(a)) => self.enter_pin(&args(a), after),
            ("+CPINR", Form::Exec | Form::Set(_)) if p.supports_cpinr() && self.pin_counters => {
                let filter = match form {
                    Form::Set(a) => args(a).into_iter().next(),
                    _ => None,
                };
                let all = [
                    ("SIM PIN", self.sim.pin_left, PIN_ATTEMPTS),
                    ("SIM PUK", self.sim.puk_left, PUK_ATTEMPTS),
                    ("SIM PIN2", PIN_ATTEMPTS, PIN_ATTEMPTS),
                    ("SIM PUK2", PUK_ATTEMPTS, PUK_ATTEMPTS),
                ];
                lines(
                    all.into_iter()
                        .filter(|(code, ..)| {
                            filter.as_deref().is_none_or(|f| match f.strip_suffix('*') {
                                Some(prefix) => code.starts_with(prefix),
                                None => *code == f,
                            })
                        })
                        .map(|(code, left, max)| format!("+CPINR: {code},{left},{max}")),
                )
            }
            ("^CPIN", Form::Query)
                if self.pin_counters && p.supports_counter(PinCounterCommand::HuaweiCpin) =>
            {
                let times = match self.sim.state {
                    SimState::Pin => self.sim.pin_left.to_string(),
                    SimState::Puk | SimState::Blocked => self.sim.puk_left.to_string(),
                    SimState::Ready => String::new(),
                };
                lines([format!(
                    "^CPIN: {},{times},{},{},{PUK_ATTEMPTS},{PIN_ATTEMPTS}",
                    self.sim.state.code(),
                    self.sim.puk_left,
                    self.sim.pin_left
                )])
            }
            ("+QPINC", Form::Query | Form::Set(_))
                if self.pin_counters && p.supports_counter(PinCounterCommand::Qpinc) =>
            {
                let sc = format!("+QPINC: \"SC\",{},{}", self.sim.pin_left, self.sim.puk_left);
                let p2 = format!("+QPINC: \"P2\",{PIN_ATTEMPTS},{PUK_ATTEMPTS}");
                match form {
                    Form::Set(a) => match args(a).first().map(String::as_str) {
                        Some("SC") => lines([sc]),
                        Some("P2") => lines([p2]),
                        _ => Err(self.cme(cme::INCORRECT_PARAMETERS)),
                    },
                    _ => lines([sc, p2]),
                }
            }
            ("+QPINC", Form::Test) if p.supports_counter(PinCounterCommand::Qpinc) => {
                lines(["+QPINC: (\"SC\",\"P2\")".into()])
            }
            ("+SPIC", Form::Exec)
                if self.pin_counters && p.supports_counter(PinCounterCommand::Spic) =>
            {
                lines([format!(
                    "+SPIC: {},{},{PIN_ATTEMPTS},{PUK_ATTEMPTS}",
                    self.sim.pin_left, self.sim.puk_left
                )])
            }
            ("+CCID", Form::Exec) => lines([format!("+CCID: \"{}\"", self.iccid)]),
            ("+CRSM", Form::Set(a)) if self.sim_files => self.restricted_sim_access(&args(a)),
            ("+CSQ", Form::Exec) => lines([format!("+CSQ: {},99", self.rssi)]),
            ("+CSQ", Form::Test) => lines(["+CSQ: (0-31,99),(0-7,99)".into()]),
            ("+CREG", _) => self.registration(form, "+CREG"),
            ("+CGREG", _) => self.registration(form, "+CGREG"),
            ("+CEREG", _) if p.supports_eps() => self.registration(form, "+CEREG"),
            ("+COPS", Form::Query) => lines([self.cops()]),
            ("+COPS", Form::Set(_)) => ok(),
            ("+COPS", Form::Test) => lines([format!(
                "+COPS: (2,\"{0}\",\"{0}\",\"26201\",{1}),,(0-4),(0-2)",
                self.operator,
                p.access_technology()
            )]),
            ("+CFUN", Form::Query) => lines(["+CFUN: 1".into()]),
            ("+CFUN", Form::Set(_)) => ok(),
            ("+CSCS", Form::Query) => lines([format!("+CSCS: \"{}\"", self.session.cscs)]),
            ("+CSCS", Form::Set(a)) => match args(a).first() {
                Some(cs) if ["IRA", "GSM", "UCS2"].contains(&cs.as_str()) => {
                    self.session.cscs = cs.clone();
                    ok()
                }
                _ => Err(self.cme(cme::INCORRECT_PARAMETERS)),
            },
            ("+CLIP", Form::Set(a)) => match num(args(a).first(), 1) {
                Some(n) => {
                    self.session.clip = n == 1;
                    ok()
                }
                None => Err(self.cme(cme::INCORRECT_PARAMETERS)),
            },
            ("+CLIP", Form::Query) => lines([format!("+CLIP: {},1", u8::from(self.session.clip))]),
            ("+CHUP", Form::Exec) => {
                if self.ringing.take().is_some() {
                    self.event(EmulatorEvent::CallEnded { by_host: true });
                }
                ok()
            }
            ("+CBC", Form::Exec) => lines(["+CBC: 0,100,4200".into()]),
            ("^CURC", Form::Set(a)) if p == super::Profile::HuaweiE3372 => {
                match num(args(a).first(), 1) {
                    Some(n) => {
                        self.session.curc = n == 1;
                        ok()
                    }
                    None => Err(self.cme(cme::INCORRECT_PARAMETERS)),
                }
            }
            ("^CURC", Form::Query) if p == super::Profile::HuaweiE3372 => {
                lines([format!("^CURC: {}", u8::from(self.session.curc))])
            }
            _ => Err(self.unknown()),
        }
    }

    /// A numeric setting `0..=max` with set, query and test forms.
    pub(super) fn setting(
        &mut self,
        form: Form<'_>,
        name: &str,
        max: u32,
        field: impl Fn(&mut Machine) -> &mut u8,
    ) -> Outcome {
        match form {
            Form::Set(a) => match num(args(a).first(), max) {
                Some(n) => {
                    *field(self) = n as u8;
                    ok()
                }
                None => Err(self.cme(cme::INCORRECT_PARAMETERS)),
            },
            Form::Query => {
                let v = *field(self);
                lines([format!("{name}: {v}")])
            }
            Form::Test => lines([format!("{name}: (0-{max})")]),
            Form::Exec => Err(self.unknown()),
        }
    }

    fn enter_pin(&mut self, args: &[String], after: &mut Vec<String>) -> Outcome {
        let code = self.sim.state.code();
        match self.sim.enter(args) {
            Ok(()) => {
                self.event(EmulatorEvent::SimUnlocked);
                after.extend(
                    self.profile
                        .sim_ready_lines()
                        .iter()
                        .map(|l| (*l).to_owned()),
                );
                after.extend(self.registration_lines());
                ok()
            }
            Err(e) => {
                if e == cme::INCORRECT_PASSWORD {
                    let left = if code == "SIM PIN" {
                        self.sim.pin_left
                    } else {
                        self.sim.puk_left
                    };
                    self.event(EmulatorEvent::WrongPassword {
                        code: code.into(),
                        left,
                    });
                }
                Err(self.cme(e))
            }
        }
    }

    /// `<stat>` of the registration commands.
    fn reg_stat(&self) -> u8 {
        if self.registered_now() {
            1
        } else if self.sim.ready() {
            2
        } else {
            0
        }
    }

    /// `<stat>` and, in mode 2, location and access technology.
    fn reg_fields(&self, n: u8) -> String {
        let stat = self.reg_stat();
        if n >= 2 && self.registered_now() {
            let ci = if self.profile.supports_eps() {
                "01C2D3E4"
            } else {
                "3C4D"
            };
            format!(
                "{stat},\"1A2B\",\"{ci}\",{}",
                self.profile.access_technology()
            )
        } else {
            stat.to_string()
        }
    }

    fn reg_mode(&mut self, name: &str) -> &mut u8 {
        match name {
            "+CGREG" => &mut self.session.cgreg,
            "+CEREG" => &mut self.session.cereg,
            _ => &mut self.session.creg,
        }
    }

    fn registration(&mut self, form: Form<'_>, name: &str) -> Outcome {
        match form {
            Form::Query => {
                let n = *self.reg_mode(name);
                lines([format!("{name}: {n},{}", self.reg_fields(n))])
            }
            Form::Set(a) => match num(args(a).first(), 2) {
                Some(n) => {
                    *self.reg_mode(name) = n as u8;
                    ok()
                }
                None => Err(self.cme(cme::INCORRECT_PARAMETERS)),
            },
            Form::Test => lines([format!("{name}: (0-2)")]),
            Form::Exec => Err(self.unknown()),
        }
    }

    /// The registration URCs enabled by `+CREG=n` and friends.
    pub(super) fn registration_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let s = &self.session;
        let mut names = vec![("+CREG", s.creg), ("+CGREG", s.cgreg)];
        if self.profile.supports_eps() {
            names.push(("+CEREG", s.cereg));
        }
        for (name, n) in names {
            if n > 0 {
                out.push(format!("{name}: {}", self.reg_fields(n)));
            }
        }
        out
    }

    pub(super) fn registration_urcs(&mut self) {
        for line in self.registration_lines() {
            self.urc(&line);
        }
    }

    fn cops(&self) -> String {
        if !self.registered_now() {
            return "+COPS: 0".into();
        }
        if self.profile.supports_eps() {
            format!(
                "+COPS: 0,0,\"{}\",{}",
                self.operator,
                self.profile.access_technology()
            )
        } else {
            format!("+COPS: 0,0,\"{}\"", self.operator)
        }
    }
}
