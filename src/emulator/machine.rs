//! The sans-IO modem core: [`Machine`] holds the modem's state (session
//! settings, SIM lock, storage, faults) and turns bytes from the host into
//! [`Output`]s. No tokio, no clock: latency is an [`Output::Delay`] the
//! runner honours, and periodic things (noise, RING) are ticks the runner
//! calls.
//!
//! # Framing (host → modem)
//! In command mode bytes gather into a line up to CR (S3); LF and NUL are
//! ignored, backspace removes a character, Ctrl-Z and ESC are ignored.
//! Characters before the first `AT` are dropped (V.250 §5.2.1); a line
//! without `AT` gets no answer. After the `> ` prompt of `AT+CMGS`/`AT+CMGW`
//! the hex PDU gathers until Ctrl-Z (sent) or ESC (cancelled, answered
//! `OK`); CR and LF inside it are ignored, and anything else (an `AT\r`
//! sent to re-sync, say) becomes part of the PDU, as on real modems.
//!
//! # Framing (modem → host)
//! With echo on (the default, as on real modems) the command line is echoed
//! with its CR, and the PDU's hex digits after the prompt. Information lines
//! are written as `\r\n<line>\r\n<line>...\r\n`, the final result as
//! `\r\nOK\r\n`, unsolicited lines as `\r\n<line>\r\n`, the prompt as
//! `\r\n> `. A machine that is disconnected (unplugged) writes nothing.

use std::time::Duration;

use super::fault::{Fault, Faults, LineFault};
use super::profile::Profile;
use super::record::{EmulatorError, EmulatorEvent, SentMessage, StoredEntry};
use super::sim::{Sim, SimState};
use super::storage::Storage;
use super::EmulatorConfig;
use crate::at::{CTRL_Z, ESC};

/// Longest command line kept; a longer one is answered `ERROR`.
pub(crate) const MAX_LINE: usize = 1024;
/// Most hex digits kept after the prompt; more make the PDU invalid.
pub(crate) const MAX_PDU_HEX: usize = 1024;
/// Noise, when enabled, is also written after every this many commands.
const NOISE_EVERY_COMMANDS: u32 = 4;

/// What the machine asks its runner to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// Write these bytes to the host.
    Write(Vec<u8>),
    /// Wait this long before the writes that follow (latency).
    Delay(Duration),
    /// The current command was swallowed: no answer will follow. Nothing to
    /// do for a runner; a marker for tests.
    Hang,
}

/// What the host is typing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Input {
    Command,
    Pdu(PduTarget),
}

/// What the PDU after the prompt is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PduTarget {
    /// `AT+CMGS=<len>`: answer after `latency`.
    Send { len: usize, latency: Duration },
    /// `AT+CMGW=<len>,<stat>`.
    Write { len: usize, status: u8 },
}

/// Settings the host changes and a power-up (or `ATZ`) resets.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) echo: bool,
    pub(super) cmee: u8,
    pub(super) cmgf: u8,
    pub(super) cnmi: [u8; 5],
    pub(super) creg: u8,
    pub(super) cgreg: u8,
    pub(super) cereg: u8,
    pub(super) clip: bool,
    pub(super) curc: bool,
    pub(super) cmms: u8,
    pub(super) csms: u8,
    pub(super) cscs: String,
    /// `<mem1>` (read, list, delete), `<mem2>` (write), `<mem3>` (receive).
    pub(super) mems: [String; 3],
}

impl Session {
    pub(super) fn new(profile: Profile, raw_delivery_only: bool, phase2plus: bool) -> Self {
        Session {
            echo: true,
            cmee: 0,
            cmgf: 0,
            cnmi: if raw_delivery_only {
                [2, 2, 0, 1, 0]
            } else {
                profile.default_cnmi()
            },
            creg: 0,
            cgreg: 0,
            cereg: 0,
            clip: false,
            curc: true,
            cmms: 0,
            csms: u8::from(phase2plus),
            cscs: "IRA".into(),
            mems: ["SM".into(), "SM".into(), "SM".into()],
        }
    }
}

/// The modem: state plus the byte-level protocol. See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub(super) profile: Profile,
    pub(super) imei: String,
    pub(super) imsi: String,
    pub(super) iccid: String,
    pub(super) sim_files: bool,
    pub(super) pin_counters: bool,
    pub(super) operator: String,
    pub(super) smsc: String,
    pub(super) rssi: u8,
    pub(super) registered: bool,
    pub(super) realistic: bool,
    pub(super) session: Session,
    /// `+CNMI` settings that store messages are refused (see
    /// [`EmulatorConfig::raw_delivery_only`]).
    pub(super) raw_delivery_only: bool,
    /// `+CSMS` service after power-up (see [`EmulatorConfig::phase2plus`]).
    pub(super) phase2plus: bool,
    pub(super) sim: Sim,
    pub(super) storage: Storage,
    pub(super) next_mr: u8,
    pub(super) sent: Vec<SentMessage>,
    pub(super) commands: Vec<String>,
    pub(super) rejected: Vec<String>,
    pub(super) line: Vec<u8>,
    pub(super) line_overflow: bool,
    pub(super) input: Input,
    pub(super) pdu_hex: Vec<u8>,
    pub(super) faults: Faults,
    pub(super) latencies: Vec<(String, Duration)>,
    pub(super) noise_interval: Option<Duration>,
    pub(super) noise_next: usize,
    pub(super) commands_since_noise: u32,
    pub(super) ringing: Option<String>,
    pub(super) connected: bool,
    pub(super) out: Vec<Output>,
    pub(super) events: Vec<EmulatorEvent>,
}

/// Upper-cases ASCII and finds `AT`; returns the text after it.
fn after_at(line: &str) -> Option<&str> {
    let upper = line.to_ascii_uppercase();
    upper.find("AT").map(|i| &line[i + 2..])
}

impl Machine {
    /// A powered-up modem with a host connected, as configured.
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        let profile = config.profile;
        let capacity = |name: &str| match name {
            "SM" => config.storage_capacity,
            "ME" => config.phone_storage_capacity,
            _ => config.report_storage_capacity,
        };
        Machine {
            profile,
            imei: config
                .imei
                .clone()
                .unwrap_or_else(|| profile.default_imei()),
            imsi: config.imsi.clone(),
            iccid: config.iccid.clone(),
            sim_files: config.sim_files,
            pin_counters: config.pin_counters,
            operator: config.operator.clone(),
            smsc: config.smsc.clone(),
            rssi: config.rssi,
            registered: config.registered,
            realistic: config.realistic_latency,
            session: Session::new(profile, config.raw_delivery_only, config.phase2plus),
            raw_delivery_only: config.raw_delivery_only,
            phase2plus: config.phase2plus,
            sim: Sim::new(config.sim_pin.as_deref(), &config.puk),
            storage: Storage::new(profile.memories(), profile.first_index(), capacity),
            next_mr: config.first_message_reference,
            sent: Vec::new(),
            commands: Vec::new(),
            rejected: Vec::new(),
            line: Vec::new(),
            line_overflow: false,
            input: Input::Command,
            pdu_hex: Vec::new(),
            faults: Faults::default(),
            latencies: Vec::new(),
            noise_interval: config.noise_interval,
            noise_next: 0,
            commands_since_noise: 0,
            ringing: None,
            connected: true,
            out: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Feeds bytes from the host; returns what to write (and wait) in
    /// answer, plus anything queued since the last
    /// [`take_output`](Self::take_output). Never panics, whatever the bytes.
    pub(crate) fn receive(&mut self, bytes: &[u8]) -> Vec<Output> {
        for &b in bytes {
            match self.input {
                Input::Command => match b {
                    b'\r' => self.end_line(),
                    b'\n' | 0 | CTRL_Z | ESC => {}
                    0x08 | 0x7f => {
                        self.line.pop();
                    }
                    _ if self.line.len() >= MAX_LINE => self.line_overflow = true,
                    _ => self.line.push(b),
                },
                Input::Pdu(_) => match b {
                    CTRL_Z => self.finish_pdu(),
                    ESC => self.cancel_pdu(),
                    b'\r' | b'\n' => {}
                    _ => {
                        if self.session.echo {
                            self.write(&[b]);
                        }
                        if self.pdu_hex.len() < MAX_PDU_HEX + 1 {
                            self.pdu_hex.push(b);
                        }
                    }
                },
            }
        }
        self.take_output()
    }

    /// Output queued by the calls other than [`receive`](Self::receive)
    /// (injections, ticks, faults, replug).
    pub(crate) fn take_output(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// Events since the last call.
    pub(crate) fn take_events(&mut self) -> Vec<EmulatorEvent> {
        std::mem::take(&mut self.events)
    }

    pub(super) fn event(&mut self, event: EmulatorEvent) {
        self.events.push(event);
    }

    /// Queues bytes for the host (merged with a preceding write); dropped
    /// while disconnected.
    pub(super) fn write(&mut self, bytes: &[u8]) {
        if !self.connected || bytes.is_empty() {
            return;
        }
        if let Some(Output::Write(last)) = self.out.last_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.out.push(Output::Write(bytes.to_vec()));
        }
    }

    pub(super) fn delay(&mut self, d: Duration) {
        if self.connected && !d.is_zero() {
            self.out.push(Output::Delay(d));
        }
    }

    /// Writes an unsolicited line: `\r\n<line>\r\n`.
    pub(super) fn urc(&mut self, line: &str) {
        self.write(format!("\r\n{line}\r\n").as_bytes());
    }

    /// Writes information lines and a final result code.
    pub(super) fn answer(&mut self, lines: &[String], result: &str) {
        let mut text = String::new();
        if !lines.is_empty() {
            text.push_str("\r\n");
            text.push_str(&lines.join("\r\n"));
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        text.push_str(result);
        text.push_str("\r\n");
        self.write(text.as_bytes());
    }

    /// The latency before the answer to `line`: the longest matching
    /// prefix set with [`set_command_latency`](Self::set_command_latency),
    /// else the profile's realistic one when enabled, else none.
    pub(super) fn latency_for(&self, line: &str) -> Duration {
        let upper = line.trim().to_ascii_uppercase();
        let explicit = self
            .latencies
            .iter()
            .filter(|(p, _)| upper.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len());
        match explicit {
            Some((_, d)) => *d,
            None if self.realistic && upper.starts_with("AT+CMGS") => self.profile.send_latency(),
            None if self.realistic => self.profile.command_latency(),
            None => Duration::ZERO,
        }
    }

    fn end_line(&mut self) {
        let raw = std::mem::take(&mut self.line);
        let overflow = std::mem::take(&mut self.line_overflow);
        let text = String::from_utf8_lossy(&raw).into_owned();
        if text.trim().is_empty() && !overflow {
            return;
        }
        if self.session.echo {
            let mut echo = raw;
            echo.push(b'\r');
            self.write(&echo);
        }
        self.commands.push(text.clone());
        self.event(EmulatorEvent::CommandReceived(text.clone()));
        if overflow {
            let latency = self.latency_for(&text);
            self.delay(latency);
            self.answer(&[], "ERROR");
            return;
        }
        let Some(body) = after_at(&text) else {
            return;
        };
        let line = format!("AT{body}");
        match self.faults.on_line(&line) {
            Some(LineFault::NoAnswer) => {
                self.out.push(Output::Hang);
                self.event(EmulatorEvent::Hung(text));
                return;
            }
            Some(LineFault::Cme(code)) => {
                let latency = self.latency_for(&line);
                self.delay(latency);
                let err = self.cme(code);
                self.answer(&[], &err);
                return;
            }
            None => {}
        }
        self.run_line(&line, body.trim());
        self.after_command_noise();
    }

    fn after_command_noise(&mut self) {
        if self.noise_interval.is_none() {
            return;
        }
        self.commands_since_noise += 1;
        if self.commands_since_noise >= NOISE_EVERY_COMMANDS {
            self.commands_since_noise = 0;
            self.noise_tick();
        }
    }

    /// Formats a CME error per `AT+CMEE`: `ERROR`, numeric, or verbose.
    pub(super) fn cme(&self, code: u16) -> String {
        let e = crate::at::CmeError::from_code(code);
        match self.session.cmee {
            0 => "ERROR".into(),
            2 if !matches!(e, crate::at::CmeError::Other(_)) => format!("+CME ERROR: {e}"),
            _ => format!("+CME ERROR: {code}"),
        }
    }

    /// Formats a CMS error: numeric, verbose with `AT+CMEE=2`. CMS errors
    /// are reported even with `AT+CMEE=0` (27.005 defines them apart).
    pub(super) fn cms(&self, code: u16) -> String {
        let e = crate::at::CmsError::from_code(code);
        match self.session.cmee {
            2 if !matches!(e, crate::at::CmsError::Other(_)) => format!("+CMS ERROR: {e}"),
            _ => format!("+CMS ERROR: {code}"),
        }
    }

    /// True when the modem is registered (configured so, and SIM ready).
    pub(super) fn registered_now(&self) -> bool {
        self.registered && self.sim.ready()
    }

    // ----- control API (called by the runner / the handle) -----

    /// The SIM lock state.
    pub(crate) fn sim_state(&self) -> SimState {
        self.sim.state
    }

    /// Every SMS-SUBMIT sent so far.
    pub(crate) fn sent(&self) -> &[SentMessage] {
        &self.sent
    }

    /// Every stored message.
    pub(crate) fn stored(&self) -> Vec<StoredEntry> {
        self.storage.entries()
    }

    /// Every non-empty command line received, verbatim (PIN included).
    pub(crate) fn commands(&self) -> &[String] {
        &self.commands
    }

    /// Why incoming messages were rejected, in order.
    pub(crate) fn rejected(&self) -> &[String] {
        &self.rejected
    }

    /// Whether command echo is on.
    #[cfg(test)]
    pub(crate) fn echo(&self) -> bool {
        self.session.echo
    }

    /// True while an incoming call rings.
    pub(crate) fn ringing(&self) -> bool {
        self.ringing.is_some()
    }

    /// The noise interval, when noise is on.
    pub(crate) fn noise_interval(&self) -> Option<Duration> {
        self.noise_interval
    }

    /// Starts ringing and writes the first `RING`.
    pub(crate) fn ring(&mut self, caller: &str) {
        self.ringing = Some(caller.to_owned());
        self.ring_tick();
    }

    /// Writes `RING` (and `+CLIP` when enabled) if a call is ringing.
    pub(crate) fn ring_tick(&mut self) {
        let Some(caller) = self.ringing.clone() else {
            return;
        };
        if !self.connected {
            return;
        }
        self.urc("RING");
        if self.session.clip {
            let toa = if caller.starts_with('+') { 145 } else { 129 };
            self.urc(&format!("+CLIP: \"{caller}\",{toa},\"\",,\"\",0"));
        }
        self.event(EmulatorEvent::Ring { caller });
    }

    /// The caller hangs up.
    pub(crate) fn end_call(&mut self) {
        if self.ringing.take().is_some() {
            if self.profile == Profile::HuaweiE3372 {
                self.urc("^CEND:1,0,104,16");
            }
            self.event(EmulatorEvent::CallEnded { by_host: false });
        }
    }

    /// Writes the next profile noise line (Huawei: only with `^CURC=1`).
    pub(crate) fn noise_tick(&mut self) {
        if self.profile == Profile::HuaweiE3372 && !self.session.curc {
            return;
        }
        let lines = self.profile.noise_lines(self.rssi);
        let line = lines[self.noise_next % lines.len()].clone();
        self.noise_next = self.noise_next.wrapping_add(1);
        self.urc(&line);
    }

    /// Writes an arbitrary unsolicited line now.
    pub(crate) fn send_noise(&mut self, line: &str) {
        self.urc(line);
    }

    /// Arms a fault (garbage is written at once).
    pub(crate) fn inject_fault(&mut self, fault: Fault) {
        match self.faults.arm(fault) {
            None => {}
            Some(Fault::Garbage(bytes)) => self.write(&bytes),
            Some(Fault::Noise { interval }) => self.noise_interval = Some(interval),
            Some(Fault::SimPinRequired) => self.sim.lock(),
            Some(Fault::StorageFull) => self.storage.forced_full = true,
            Some(_) => {}
        }
    }

    /// Disarms every fault; noise stops, storage is no longer forced full.
    /// A SIM locked by a fault stays locked until the host enters the PIN.
    pub(crate) fn clear_faults(&mut self) {
        self.faults = Faults::default();
        self.noise_interval = None;
        self.storage.forced_full = false;
    }

    /// Sets the latency before the answer to commands starting with
    /// `prefix` (case-insensitive); zero removes it. For `AT+CMGS` it is the
    /// time between the PDU and `+CMGS:` (the prompt comes at once).
    pub(crate) fn set_command_latency(&mut self, prefix: &str, latency: Duration) {
        let prefix = prefix.trim().to_ascii_uppercase();
        self.latencies.retain(|(p, _)| *p != prefix);
        if !latency.is_zero() {
            self.latencies.push((prefix, latency));
        }
    }

    /// Network registration changes; writes `+CREG`/`+CEREG` URCs as enabled.
    pub(crate) fn set_registered(&mut self, registered: bool) {
        let before = self.registered_now();
        self.registered = registered;
        if before != self.registered_now() {
            self.registration_urcs();
        }
    }

    /// Signal strength `<rssi>` (0..=31, 99).
    pub(crate) fn set_rssi(&mut self, rssi: u8) {
        self.rssi = rssi;
    }

    /// The device is unplugged: nothing is written until [`connect`](Self::connect).
    pub(crate) fn disconnect(&mut self) {
        self.connected = false;
        self.ringing = None;
        self.input = Input::Command;
        self.line.clear();
        self.pdu_hex.clear();
        self.out.clear();
    }

    /// The device powers up again: fresh session (echo on, `+CNMI` reset,
    /// SIM locked again if it has a PIN), boot lines written. Storage,
    /// counters and records persist.
    pub(crate) fn connect(&mut self) {
        self.connected = true;
        self.session = Session::new(self.profile, self.raw_delivery_only, self.phase2plus);
        self.sim.power_up();
        self.input = Input::Command;
        self.line.clear();
        self.line_overflow = false;
        self.pdu_hex.clear();
        let code = if self.sim.state == SimState::Blocked {
            "SIM PUK".into()
        } else {
            self.sim.state.code().to_owned()
        };
        for line in self.profile.boot_lines(&code, self.sim.ready()) {
            self.urc(&line);
        }
    }

    /// Whether a host is connected (not unplugged).
    pub(crate) fn connected(&self) -> bool {
        self.connected
    }

    /// Delivers an SMS-DELIVER TPDU from the network; see
    /// `Emulator::inject_deliver`.
    ///
    /// # Errors
    /// A TPDU that does not decode, full storage, no registration.
    pub(crate) fn inject_deliver(&mut self, tpdu: &[u8]) -> Result<Option<u32>, EmulatorError> {
        self.deliver(tpdu)
    }

    /// Delivers an SMS-STATUS-REPORT TPDU; see `Emulator::inject_status_report`.
    ///
    /// # Errors
    /// A TPDU that does not decode, full storage, no registration, ds=0.
    pub(crate) fn inject_status_report(
        &mut self,
        tpdu: &[u8],
    ) -> Result<Option<u32>, EmulatorError> {
        self.status_report(tpdu)
    }
}
