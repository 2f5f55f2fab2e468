//! SMS in PDU mode for the [`Machine`] (3GPP TS 27.005): `+CMGF`, `+CSMS`,
//! `+CMMS`, `+CSCA`, `+CPMS`, `+CNMI`, `+CMGL`, `+CMGR`, `+CMGD`, `+CMGS`,
//! `+CMGW`, `+CNMA`, the PDU after the prompt, and the arrival of messages
//! and status reports from the network (`+CMTI`, `+CMT`, `+CDSI`, `+CDS`).
//!
//! Choices: reading an empty slot (`AT+CMGR`) answers `OK` with no lines;
//! an index outside the memory answers `+CMS ERROR: 321`. Text mode
//! (`AT+CMGF=1`) is accepted but the SMS commands then answer
//! `+CMS ERROR: 303`. `+CNMI` `<mode>`=0 suppresses every indication
//! (messages are stored silently; routed-only reports are lost).

use super::commands::{args, lines, num, ok, Form, Outcome, Step};
use super::fault::normalise_number;
use super::machine::{Input, Machine, Output, PduTarget};
use super::record::{EmulatorError, EmulatorEvent, SentMessage};
use super::storage::{Slot, StoreError};
use crate::pdu::{self, hex, Address, SmsDeliver, SmsSubmit, StatusReport};

/// CMS codes used here (27.005 §3.2.5).
mod cms {
    pub(super) const OPERATION_NOT_ALLOWED: u16 = 302;
    pub(super) const OPERATION_NOT_SUPPORTED: u16 = 303;
    pub(super) const INVALID_PDU_PARAMETER: u16 = 304;
    pub(super) const INVALID_INDEX: u16 = 321;
    pub(super) const MEMORY_FULL: u16 = 322;
    pub(super) const NO_NETWORK: u16 = 331;
    pub(super) const NO_CNMA_EXPECTED: u16 = 340;
}

/// The TPDU length of a PDU with its SMSC field in front.
impl Machine {
    /// Handles the SMS commands; `None` for other names.
    pub(super) fn sms_command(&mut self, name: &str, form: Form<'_>) -> Option<Outcome> {
        let needs_sim = matches!(
            name,
            "+CSCA" | "+CPMS" | "+CMGL" | "+CMGR" | "+CMGD" | "+CMGS" | "+CMGW"
        );
        let text_mode_blocked = matches!(name, "+CMGL" | "+CMGR" | "+CMGS" | "+CMGW");
        let known = needs_sim || matches!(name, "+CMGF" | "+CSMS" | "+CMMS" | "+CNMI" | "+CNMA");
        if !known {
            return None;
        }
        if needs_sim && form != Form::Test {
            if let Some(code) = self.sim.cms_block() {
                return Some(Err(self.cms(code)));
            }
        }
        if text_mode_blocked && self.session.cmgf == 1 && form != Form::Test {
            return Some(Err(self.cms(cms::OPERATION_NOT_SUPPORTED)));
        }
        Some(match (name, form) {
            ("+CMGF", _) => self.setting(form, "+CMGF", 1, |m| &mut m.session.cmgf),
            ("+CMMS", _) => self.setting(form, "+CMMS", 2, |m| &mut m.session.cmms),
            ("+CSMS", Form::Set(a)) => match num(args(a).first(), 1) {
                Some(n) => {
                    self.session.csms = n as u8;
                    lines(["+CSMS: 1,1,1".into()])
                }
                None => Err(self.cms(cms::OPERATION_NOT_SUPPORTED)),
            },
            ("+CSMS", Form::Query) => lines([format!("+CSMS: {},1,1,1", self.session.csms)]),
            ("+CSMS", Form::Test) => lines(["+CSMS: (0-1)".into()]),
            ("+CNMA", Form::Exec | Form::Set(_)) => {
                if self.session.csms == 1 {
                    self.event(EmulatorEvent::Acknowledged);
                    ok()
                } else {
                    Err(self.cms(cms::NO_CNMA_EXPECTED))
                }
            }
            ("+CSCA", Form::Query) => {
                let toa = if self.smsc.starts_with('+') { 145 } else { 129 };
                lines([format!("+CSCA: \"{}\",{toa}", self.smsc)])
            }
            ("+CSCA", Form::Set(a)) => match args(a).first() {
                Some(number) if !number.is_empty() => {
                    self.smsc = number.clone();
                    ok()
                }
                _ => Err(self.cms(cms::OPERATION_NOT_ALLOWED)),
            },
            ("+CPMS", _) => self.cpms(form),
            ("+CNMI", _) => self.cnmi(form),
            ("+CMGL", Form::Exec) => self.cmgl("0"),
            ("+CMGL", Form::Set(a)) => self.cmgl(a),
            ("+CMGL", Form::Test) => lines(["+CMGL: (0-4)".into()]),
            ("+CMGR", Form::Set(a)) => self.cmgr(a),
            ("+CMGD", Form::Set(a)) => self.cmgd(a),
            ("+CMGD", Form::Test) => {
                let mem = self.session.mems[0].clone();
                let indexes: Vec<String> = self
                    .storage
                    .get(&mem)
                    .map(|m| m.slots.keys().map(u32::to_string).collect())
                    .unwrap_or_default();
                lines([format!("+CMGD: ({}),(0-4)", indexes.join(","))])
            }
            ("+CMGS", Form::Set(a)) => match num(args(a).first(), 255) {
                Some(len @ 7..) => Ok(Step::Prompt(PduTarget::Send {
                    len: len as usize,
                    latency: std::time::Duration::ZERO,
                })),
                _ => Err(self.cms(cms::INVALID_PDU_PARAMETER)),
            },
            ("+CMGW", Form::Set(a)) => {
                let a = args(a);
                match (
                    num(a.first(), 255),
                    a.get(1).map_or(Some(2), |s| num(Some(s), 3)),
                ) {
                    (Some(len @ 1..), Some(status)) => Ok(Step::Prompt(PduTarget::Write {
                        len: len as usize,
                        status: status as u8,
                    })),
                    _ => Err(self.cms(cms::INVALID_PDU_PARAMETER)),
                }
            }
            ("+CMGS" | "+CMGW", Form::Test) => ok(),
            _ => Err(self.unknown()),
        })
    }

    fn cpms(&mut self, form: Form<'_>) -> Outcome {
        let names = self.profile.memories();
        match form {
            Form::Query => {
                let fields: Vec<String> = self
                    .session
                    .mems
                    .iter()
                    .map(|m| {
                        let (used, total) = self.storage.usage(m);
                        format!("\"{m}\",{used},{total}")
                    })
                    .collect();
                lines([format!("+CPMS: {}", fields.join(","))])
            }
            Form::Test => {
                let list = names
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect::<Vec<_>>()
                    .join(",");
                lines([format!("+CPMS: ({list}),({list}),({list})")])
            }
            Form::Set(a) => {
                let wanted = args(a);
                if wanted.is_empty()
                    || wanted.len() > 3
                    || wanted.iter().any(|w| !names.contains(&w.as_str()))
                {
                    return Err(self.cms(cms::OPERATION_NOT_ALLOWED));
                }
                for (slot, w) in self.session.mems.iter_mut().zip(wanted) {
                    *slot = w;
                }
                let fields: Vec<String> = self
                    .session
                    .mems
                    .iter()
                    .map(|m| {
                        let (used, total) = self.storage.usage(m);
                        format!("{used},{total}")
                    })
                    .collect();
                lines([format!("+CPMS: {}", fields.join(","))])
            }
            Form::Exec => Err(self.unknown()),
        }
    }

    fn cnmi(&mut self, form: Form<'_>) -> Outcome {
        const MAX: [u32; 5] = [3, 3, 3, 2, 1];
        match form {
            Form::Query => {
                let c = self.session.cnmi;
                lines([format!(
                    "+CNMI: {},{},{},{},{}",
                    c[0], c[1], c[2], c[3], c[4]
                )])
            }
            Form::Test => lines(["+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)".into()]),
            Form::Set(a) => {
                let a = args(a);
                if a.len() > 5 {
                    return Err(self.cms(cms::OPERATION_NOT_SUPPORTED));
                }
                let mut new = self.session.cnmi;
                for (i, arg) in a.iter().enumerate() {
                    if arg.trim().is_empty() {
                        continue;
                    }
                    match num(Some(arg), MAX[i]) {
                        Some(n) => new[i] = n as u8,
                        None => return Err(self.cms(cms::OPERATION_NOT_SUPPORTED)),
                    }
                }
                // A modem that only routes raw: storing settings are refused.
                if self.raw_delivery_only && (matches!(new[1], 1 | 3) || new[3] == 2) {
                    return Err(self.cms(cms::OPERATION_NOT_SUPPORTED));
                }
                self.session.cnmi = new;
                ok()
            }
            Form::Exec => Err(self.unknown()),
        }
    }

    fn cmgl(&mut self, a: &str) -> Outcome {
        let a = args(a);
        let (Some(stat), Some(mode)) = (
            num(a.first(), 4),
            a.get(1).map_or(Some(0), |m| num(Some(m), 1)),
        ) else {
            return Err(self.cms(cms::INVALID_PDU_PARAMETER));
        };
        let mem = self.session.mems[0].clone();
        let Some(memory) = self.storage.get_mut(&mem) else {
            return ok();
        };
        let mut out = Vec::new();
        for (index, slot) in memory.slots.iter_mut() {
            if stat == 4 || u32::from(slot.status) == stat {
                out.push(format!("+CMGL: {index},{},,{}", slot.status, slot.length()));
                out.push(slot.line());
                if mode == 0 && slot.status == 0 {
                    slot.status = 1;
                }
            }
        }
        lines(out)
    }

    fn cmgr(&mut self, a: &str) -> Outcome {
        let a = args(a);
        let mem = self.session.mems[0].clone();
        let index = num(a.first(), u32::MAX);
        let Some(memory) = self.storage.get_mut(&mem) else {
            return Err(self.cms(cms::INVALID_INDEX));
        };
        let Some(index) = index.filter(|i| memory.valid(*i)) else {
            return Err(self.cms(cms::INVALID_INDEX));
        };
        let Some(slot) = memory.slots.get_mut(&index) else {
            return ok();
        };
        let header = format!("+CMGR: {},,{}", slot.status, slot.length());
        let body = slot.line();
        if slot.status == 0 {
            slot.status = 1;
        }
        lines([header, body])
    }

    fn cmgd(&mut self, a: &str) -> Outcome {
        let a = args(a);
        let mem = self.session.mems[0].clone();
        let index = num(a.first(), u32::MAX);
        let flag = a.get(1).map_or(Some(0), |f| num(Some(f), 4));
        let Some(memory) = self.storage.get_mut(&mem) else {
            return Err(self.cms(cms::INVALID_INDEX));
        };
        let deleted: Vec<u32> = match flag {
            Some(0) => {
                let Some(index) = index.filter(|i| memory.valid(*i)) else {
                    return Err(self.cms(cms::INVALID_INDEX));
                };
                memory
                    .slots
                    .remove(&index)
                    .map(|_| index)
                    .into_iter()
                    .collect()
            }
            Some(flag) => {
                let doomed: Vec<u32> = memory
                    .slots
                    .iter()
                    .filter(|(_, s)| match flag {
                        1 => s.status == 1,
                        2 => matches!(s.status, 1 | 3),
                        3 => s.status != 0,
                        _ => true,
                    })
                    .map(|(i, _)| *i)
                    .collect();
                for i in &doomed {
                    memory.slots.remove(i);
                }
                doomed
            }
            None => return Err(self.cms(cms::INVALID_PDU_PARAMETER)),
        };
        for index in deleted {
            self.event(EmulatorEvent::Deleted {
                memory: mem.clone(),
                index,
            });
        }
        ok()
    }

    /// Ctrl-Z after the prompt: validates the PDU and sends or stores it.
    pub(super) fn finish_pdu(&mut self) {
        let Input::Pdu(target) = std::mem::replace(&mut self.input, Input::Command) else {
            return;
        };
        let hex_text = std::mem::take(&mut self.pdu_hex);
        let pdu = std::str::from_utf8(&hex_text)
            .ok()
            .filter(|_| hex_text.len() <= super::machine::MAX_PDU_HEX)
            .and_then(|t| hex::decode(t).ok());
        let tpdu_ok = |len: usize| {
            pdu.as_ref().and_then(|p| {
                let (smsc, tpdu) = pdu::split_smsc(p).ok()?;
                (tpdu.len() == len).then(|| (p.clone(), smsc, tpdu.to_vec()))
            })
        };
        match target {
            PduTarget::Send { len, latency } => {
                let parsed = tpdu_ok(len)
                    .and_then(|(p, smsc, t)| SmsSubmit::decode(&t).ok().map(|s| (p, smsc, t, s)));
                let Some((pdu, smsc, tpdu, submit)) = parsed else {
                    return self.send_failed(cms::INVALID_PDU_PARAMETER);
                };
                self.send(pdu, smsc, tpdu, submit, latency);
            }
            PduTarget::Write { len, status } => {
                let Some((pdu, ..)) = tpdu_ok(len) else {
                    let e = self.cms(cms::INVALID_PDU_PARAMETER);
                    return self.answer(&[], &e);
                };
                let mem = self.session.mems[1].clone();
                match self.storage.store(&mem, status, pdu) {
                    Ok(index) => {
                        self.event(EmulatorEvent::Stored { memory: mem, index });
                        self.answer(&[format!("+CMGW: {index}")], "OK");
                    }
                    Err(_) => {
                        let e = self.cms(cms::MEMORY_FULL);
                        self.answer(&[], &e);
                    }
                }
            }
        }
    }

    fn send_failed(&mut self, code: u16) {
        self.event(EmulatorEvent::SendFailed { code });
        let e = self.cms(code);
        self.answer(&[], &e);
    }

    fn send(
        &mut self,
        pdu: Vec<u8>,
        smsc: Option<Address>,
        tpdu: Vec<u8>,
        submit: SmsSubmit,
        latency: std::time::Duration,
    ) {
        if !self.registered_now() {
            return self.send_failed(cms::NO_NETWORK);
        }
        let destination = submit.destination.to_display();
        let part = submit
            .user_data
            .header
            .as_ref()
            .and_then(|h| h.concat())
            .map(|c| c.sequence);
        if let Some(code) = self.faults.on_send(&normalise_number(&destination), part) {
            self.delay(latency);
            return self.send_failed(code);
        }
        let mr = self.next_mr;
        self.next_mr = mr.wrapping_add(1);
        self.sent.push(SentMessage {
            pdu,
            tpdu,
            smsc,
            submit,
            message_reference: mr,
        });
        self.event(EmulatorEvent::MessageSent { mr, destination });
        if self.faults.hang_after_pdu() {
            self.out.push(Output::Hang);
            self.event(EmulatorEvent::Hung("AT+CMGS (after the PDU)".into()));
            return;
        }
        self.delay(latency);
        match self.faults.cmgs_answer() {
            super::fault::CmgsAnswer::Normal => self.answer(&[format!("+CMGS: {mr}")], "OK"),
            super::fault::CmgsAnswer::OkOnly => self.answer(&[], "OK"),
            super::fault::CmgsAnswer::LineFirst(line) => {
                self.urc(&line);
                self.answer(&[format!("+CMGS: {mr}")], "OK");
            }
        }
    }

    /// ESC after the prompt.
    pub(super) fn cancel_pdu(&mut self) {
        self.input = Input::Command;
        self.pdu_hex.clear();
        self.event(EmulatorEvent::SendCancelled);
        self.answer(&[], "OK");
    }

    /// The SMSC field the modem puts in front of incoming TPDUs.
    fn smsc_field(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let smsc = Address::parse_number(&self.smsc).ok();
        Address::encode_smsc(smsc.as_ref(), &mut out);
        out
    }

    /// Stores an incoming PDU; on failure records the rejection.
    fn store_incoming(&mut self, mem: &str, pdu: Vec<u8>) -> Result<u32, EmulatorError> {
        match self.storage.store(mem, 0, pdu) {
            Ok(index) => {
                self.event(EmulatorEvent::Stored {
                    memory: mem.to_owned(),
                    index,
                });
                Ok(index)
            }
            Err(e) => {
                let reason = match e {
                    StoreError::Full => format!("storage {mem} full"),
                    StoreError::NoSuchMemory => format!("no storage {mem}"),
                };
                self.rejected.push(reason.clone());
                self.event(EmulatorEvent::Rejected(reason));
                if let Some(line) = self.profile.memory_full_line(mem) {
                    self.urc(&line);
                }
                Err(EmulatorError::StorageFull)
            }
        }
    }

    pub(super) fn deliver(&mut self, tpdu: &[u8]) -> Result<Option<u32>, EmulatorError> {
        SmsDeliver::decode(tpdu)?;
        let mut pdu = self.smsc_field();
        pdu.extend_from_slice(tpdu);
        let mem = self.session.mems[2].clone();
        if !self.connected {
            return self.store_incoming(&mem, pdu).map(Some);
        }
        if !self.registered_now() {
            return Err(EmulatorError::NotRegistered);
        }
        let [mode, mt, ..] = self.session.cnmi;
        if mode != 0 && mt == 2 {
            self.urc(&format!("+CMT: ,{}\r\n{}", tpdu.len(), hex::encode(&pdu)));
            self.event(EmulatorEvent::DeliveredRaw);
            return Ok(None);
        }
        let index = self.store_incoming(&mem, pdu)?;
        if mode != 0 && matches!(mt, 1 | 3) {
            self.urc(&format!("+CMTI: \"{mem}\",{index}"));
        }
        Ok(Some(index))
    }

    /// Stores an SMS-DELIVER in `mem` without telling the host.
    pub(super) fn preload(&mut self, mem: &str, tpdu: &[u8]) -> Result<u32, EmulatorError> {
        SmsDeliver::decode(tpdu)?;
        let mut pdu = self.smsc_field();
        pdu.extend_from_slice(tpdu);
        self.store_incoming(mem, pdu)
    }

    /// Stores one of the user's own messages, an SMS-SUBMIT, in `mem` with
    /// `<stat>` `status` (2 unsent, 3 sent), without telling the host.
    pub(super) fn preload_outgoing(
        &mut self,
        mem: &str,
        status: u8,
        tpdu: &[u8],
    ) -> Result<u32, EmulatorError> {
        SmsSubmit::decode(tpdu)?;
        let mut pdu = self.smsc_field();
        pdu.extend_from_slice(tpdu);
        self.storage
            .store(mem, status, pdu)
            .map_err(|_| EmulatorError::StorageFull)
    }

    /// Stores `line` as listed, whatever it holds, and announces it as
    /// [`deliver`](Self::deliver) does for a stored message.
    pub(super) fn deliver_raw_line(
        &mut self,
        line: &str,
        length: usize,
    ) -> Result<u32, EmulatorError> {
        let mem = self.session.mems[2].clone();
        let slot = Slot {
            status: 0,
            pdu: hex::decode(line).unwrap_or_default(),
            listing: Some((line.to_owned(), length)),
        };
        let index = match self.storage.store_slot(&mem, slot) {
            Ok(index) => index,
            Err(_) => return Err(EmulatorError::StorageFull),
        };
        self.event(EmulatorEvent::Stored {
            memory: mem.clone(),
            index,
        });
        let [mode, mt, ..] = self.session.cnmi;
        if self.connected && mode != 0 && matches!(mt, 1 | 3) {
            self.urc(&format!("+CMTI: \"{mem}\",{index}"));
        }
        Ok(index)
    }

    pub(super) fn status_report(&mut self, tpdu: &[u8]) -> Result<Option<u32>, EmulatorError> {
        StatusReport::decode(tpdu)?;
        let mut pdu = self.smsc_field();
        pdu.extend_from_slice(tpdu);
        let mem = self.profile.report_memory();
        if !self.connected {
            return self.store_incoming(mem, pdu).map(Some);
        }
        if !self.registered_now() {
            return Err(EmulatorError::NotRegistered);
        }
        let [mode, _, _, ds, _] = self.session.cnmi;
        match ds {
            1 if mode != 0 => {
                self.urc(&format!("+CDS: {}\r\n{}", tpdu.len(), hex::encode(&pdu)));
                self.event(EmulatorEvent::ReportDeliveredRaw);
                Ok(None)
            }
            2 => {
                let index = self.store_incoming(mem, pdu)?;
                if mode != 0 {
                    self.urc(&format!("+CDSI: \"{mem}\",{index}"));
                }
                Ok(Some(index))
            }
            _ => {
                let reason = "status report not routed (+CNMI ds=0)".to_owned();
                self.rejected.push(reason.clone());
                self.event(EmulatorEvent::Rejected(reason));
                Err(EmulatorError::NotRouted)
            }
        }
    }
}
