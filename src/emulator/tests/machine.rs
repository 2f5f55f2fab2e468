//! Unit tests of the pure machine: exact bytes where framing matters, and
//! the crate's own AT digester and parsers elsewhere, so that what the
//! emulator says is what the driver will understand.

use std::time::Duration;

use proptest::prelude::*;

use super::{bytes, submit, DELIVER, REPORT};
use crate::at::{
    self, parse_cmgl, parse_cmgr, parse_cpin, parse_cpms, parse_pin_retries, parse_registration,
    Command, Cpms, Digester, Event, FinalResult, InfoKind, PinStatus, RegForm, Response, Urc,
};
use crate::emulator::{
    EmulatorConfig, EmulatorError, EmulatorEvent, Fault, Machine, Output, Profile, SimState, Times,
};

fn machine(profile: Profile) -> Machine {
    Machine::new(&EmulatorConfig::new(profile))
}

fn with_pin(profile: Profile) -> Machine {
    let mut c = EmulatorConfig::new(profile);
    c.sim_pin = Some("1234".into());
    Machine::new(&c)
}

/// The bytes of every write, delays and hangs dropped.
fn written(out: &[Output]) -> String {
    let mut s = Vec::new();
    for o in out {
        if let Output::Write(b) = o {
            s.extend_from_slice(b);
        }
    }
    String::from_utf8_lossy(&s).into_owned()
}

/// Sends `line` + CR and returns the raw answer.
fn raw(m: &mut Machine, line: &str) -> String {
    written(&m.receive(format!("{line}\r").as_bytes()))
}

/// Sends `line` through the real digester; returns the response and any
/// other events.
fn ask_events(m: &mut Machine, line: &str) -> (Option<Response>, Vec<Event>) {
    let c = Command::raw(line).unwrap();
    let mut d = Digester::new();
    d.command_sent(&c);
    let out = m.receive(&c.to_bytes());
    let mut response = None;
    let mut others = Vec::new();
    for e in d.feed(written(&out).as_bytes()) {
        match e {
            Event::Response(r) => response = Some(r),
            other => others.push(other),
        }
    }
    (response, others)
}

fn ask(m: &mut Machine, line: &str) -> Response {
    ask_events(m, line)
        .0
        .unwrap_or_else(|| panic!("no response to {line}"))
}

fn ok_lines(m: &mut Machine, line: &str) -> Vec<String> {
    let r = ask(m, line);
    assert_eq!(r.result, FinalResult::Ok, "{line}: {r:?}");
    r.lines
}

fn result(m: &mut Machine, line: &str) -> FinalResult {
    ask(m, line).result
}

/// Writes the hex PDU and Ctrl-Z after a prompt; returns the raw answer.
fn pdu_body(m: &mut Machine, pdu: &[u8]) -> String {
    written(&m.receive(&at::pdu_body(pdu)))
}

/// Feeds output to a fresh digester (no command pending).
fn unsolicited(out: &[Output]) -> Vec<Event> {
    Digester::new().feed(written(out).as_bytes())
}

#[test]
fn echo_is_on_by_default_and_ate0_stops_it() {
    let mut m = machine(Profile::Generic);
    assert_eq!(raw(&mut m, "AT"), "AT\r\r\nOK\r\n");
    assert_eq!(raw(&mut m, "ATE0"), "ATE0\r\r\nOK\r\n");
    assert_eq!(raw(&mut m, "AT"), "\r\nOK\r\n");
    assert_eq!(raw(&mut m, "ATE1"), "\r\nOK\r\n");
    assert_eq!(raw(&mut m, "at"), "at\r\r\nOK\r\n");
    // ATZ restores echo.
    raw(&mut m, "ATE0");
    assert_eq!(raw(&mut m, "ATZ"), "\r\nOK\r\n");
    assert_eq!(raw(&mut m, "AT"), "AT\r\r\nOK\r\n");
}

#[test]
fn framing_of_host_input() {
    let mut m = machine(Profile::Generic);
    raw(&mut m, "ATE0");
    // Split across calls, LF after CR ignored, backspace honoured.
    assert!(written(&m.receive(b"AT+CS")).is_empty());
    assert_eq!(
        written(&m.receive(b"Q\r\n")),
        "\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    );
    assert_eq!(written(&m.receive(b"ATX\x08\r")), "\r\nOK\r\n");
    // Empty lines and lines without AT get no answer; junk before AT is dropped.
    assert_eq!(written(&m.receive(b"\r\r")), "");
    assert_eq!(raw(&mut m, "hello"), "");
    assert_eq!(raw(&mut m, "\u{7f}xxAT"), "\r\nOK\r\n");
    // Over-long lines answer ERROR; the next line works.
    let long = format!("AT{}", "1".repeat(2000));
    assert_eq!(raw(&mut m, &long), "\r\nERROR\r\n");
    assert_eq!(raw(&mut m, "AT"), "\r\nOK\r\n");
    // Several commands on one line.
    assert_eq!(
        raw(&mut m, "AT+CMGF=0;+CNMI=2,1,0,2,0;+CNMI?"),
        "\r\n+CNMI: 2,1,0,2,0\r\n\r\nOK\r\n"
    );
    assert_eq!(raw(&mut m, "ATE0V1Q0&C1&D2"), "\r\nOK\r\n");
    assert_eq!(raw(&mut m, "AT+NOPE"), "\r\nERROR\r\n");
    assert_eq!(raw(&mut m, "AT+CSQ=1"), "\r\nERROR\r\n");
    // Every non-empty line is recorded verbatim, junk included.
    assert!(m.commands().contains(&"hello".to_owned()));
    assert!(m.commands().contains(&"AT+CSQ".to_owned()));
}

#[test]
fn init_sequence_answers_parse() {
    let mut m = machine(Profile::Generic);
    for line in [
        "ATE0",
        "AT+CMEE=1",
        "AT+CMGF=0",
        "AT+CLIP=1",
        "AT+CMMS=1",
        "AT+CREG=2",
    ] {
        ok_lines(&mut m, line);
    }
    let cpin = ok_lines(&mut m, "AT+CPIN?");
    assert_eq!(parse_cpin(&cpin[0]), Ok(PinStatus::Ready));
    let csq = at::parse_csq(&ok_lines(&mut m, "AT+CSQ")[0]).unwrap();
    assert_eq!(csq.rssi, 20);
    let reg = parse_registration(&ok_lines(&mut m, "AT+CREG?")[0], RegForm::Read).unwrap();
    assert_eq!(reg.status, at::RegStatus::Home);
    let reg = parse_registration(&ok_lines(&mut m, "AT+CEREG?")[0], RegForm::Read).unwrap();
    assert_eq!(reg.status, at::RegStatus::Home);
    let op = at::parse_cops(&ok_lines(&mut m, "AT+COPS?")[0]).unwrap();
    assert_eq!(op.name.as_deref(), Some("Telekom.de"));
    assert_eq!(op.act, Some(at::AccessTech::Eutran));
    let csca = at::parse_csca(&ok_lines(&mut m, "AT+CSCA?")[0]).unwrap();
    assert_eq!(
        (csca.number.as_str(), csca.toa),
        ("+491710760000", Some(145))
    );
    let cpms = parse_cpms(&ok_lines(&mut m, "AT+CPMS=\"SM\",\"SM\",\"SM\"")[0]).unwrap();
    assert_eq!(
        cpms,
        Cpms::Usage(vec![
            at::MemoryUsage {
                memory: None,
                used: 0,
                total: 30
            };
            3
        ])
    );
    ok_lines(&mut m, "AT+CNMI=2,1,0,2,0");
    assert_eq!(ok_lines(&mut m, "AT+CNMI?"), ["+CNMI: 2,1,0,2,0"]);
    assert_eq!(ok_lines(&mut m, "AT+CSMS=0"), ["+CSMS: 1,1,1"]);
    assert_eq!(ok_lines(&mut m, "AT+CMEE?"), ["+CMEE: 1"]);
    assert_eq!(ok_lines(&mut m, "AT+CMGF?"), ["+CMGF: 0"]);
    assert_eq!(
        at::parse_imsi(&ok_lines(&mut m, "AT+CIMI")[0]).unwrap(),
        "262011234567890"
    );
    ok_lines(&mut m, "ATH");
    ok_lines(&mut m, "AT+CHUP");
}

#[test]
fn every_profile_identifies_itself() {
    for p in Profile::ALL {
        let mut m = machine(p);
        ok_lines(&mut m, "ATE0");
        let info =
            |m: &mut Machine, line, kind| at::parse_info(&ok_lines(m, line)[0], kind).unwrap();
        assert_eq!(
            info(&mut m, "AT+CGMI", InfoKind::Manufacturer),
            p.manufacturer()
        );
        assert_eq!(info(&mut m, "AT+CGMM", InfoKind::Model), p.model());
        assert_eq!(info(&mut m, "AT+CGMR", InfoKind::Revision), p.revision());
        assert_eq!(info(&mut m, "AT+GMM", InfoKind::Model), p.model());
        let imei = at::parse_imei(&ok_lines(&mut m, "AT+CGSN")[0]).unwrap();
        assert_eq!(imei, p.default_imei());
        assert_eq!(ok_lines(&mut m, "ATI").len(), 4);
        // Supported memories.
        let Cpms::Supported(lists) = parse_cpms(&ok_lines(&mut m, "AT+CPMS=?")[0]).unwrap() else {
            panic!("{p:?}")
        };
        assert_eq!(lists.len(), 3);
        assert_eq!(lists[0], p.memories());
        // Access technology in +CREG mode 2 and +COPS.
        ok_lines(&mut m, "AT+CREG=2");
        let reg = parse_registration(&ok_lines(&mut m, "AT+CREG?")[0], RegForm::Read).unwrap();
        let act = if p == Profile::Sim800l { 0 } else { 7 };
        assert_eq!(reg.act, Some(at::AccessTech::from_code(act)), "{p:?}");
        assert_eq!((reg.mode, reg.area), (Some(2), Some(0x1a2b)));
        if p.supports_eps() {
            ok_lines(&mut m, "AT+CEREG?");
        } else {
            assert_eq!(result(&mut m, "AT+CEREG?"), FinalResult::Error);
        }
        // Unknown commands.
        let unknown = raw(&mut m, "AT+FOO");
        assert_eq!(unknown, format!("\r\n{}\r\n", p.unknown_command_reply()));
        assert_eq!(result(&mut m, "AT+FOO"), FinalResult::Error);
    }
}

#[test]
fn error_reporting_modes() {
    let mut m = with_pin(Profile::Generic);
    ok_lines(&mut m, "ATE0");
    assert_eq!(raw(&mut m, "AT+CIMI"), "\r\nERROR\r\n");
    ok_lines(&mut m, "AT+CMEE=1");
    assert_eq!(raw(&mut m, "AT+CIMI"), "\r\n+CME ERROR: 11\r\n");
    assert_eq!(raw(&mut m, "AT+CMGL=4"), "\r\n+CMS ERROR: 311\r\n");
    ok_lines(&mut m, "AT+CMEE=2");
    assert_eq!(
        raw(&mut m, "AT+CIMI"),
        "\r\n+CME ERROR: SIM PIN required\r\n"
    );
    assert_eq!(
        result(&mut m, "AT+CMGL=4"),
        FinalResult::Cms(at::CmsError::SimPinRequired)
    );
    ok_lines(&mut m, "AT+CMEE=0");
    // CMS errors stay numeric with CMEE=0.
    assert_eq!(raw(&mut m, "AT+CPMS?"), "\r\n+CMS ERROR: 311\r\n");
    assert_eq!(raw(&mut m, "AT+CMEE=7"), "\r\nERROR\r\n");
}

#[test]
fn pin_counts_down_to_puk_and_puk_unlocks() {
    let mut m = with_pin(Profile::Generic);
    ok_lines(&mut m, "AT+CMEE=1");
    assert_eq!(
        parse_cpin(&ok_lines(&mut m, "AT+CPIN?")[0]),
        Ok(PinStatus::SimPin)
    );
    let wrong = FinalResult::Cme(at::CmeError::IncorrectPassword);
    for left in [2, 1, 0] {
        assert_eq!(result(&mut m, "AT+CPIN=\"0000\""), wrong);
        let r = parse_pin_retries(&ok_lines(&mut m, "AT+CPINR")).unwrap();
        assert_eq!(r.pin, Some(left));
    }
    assert_eq!(m.sim_state(), SimState::Puk);
    assert_eq!(
        parse_cpin(&ok_lines(&mut m, "AT+CPIN?")[0]),
        Ok(PinStatus::SimPuk)
    );
    // A PIN alone does not help now, and costs nothing.
    assert_eq!(
        result(&mut m, "AT+CPIN=\"1234\""),
        FinalResult::Cme(at::CmeError::SimPukRequired)
    );
    assert_eq!(result(&mut m, "AT+CPIN=\"87654321\",\"4321\""), wrong);
    let r = parse_pin_retries(&ok_lines(&mut m, "AT+CPINR=\"SIM PUK\"")).unwrap();
    assert_eq!((r.pin, r.puk), (None, Some(9)));
    assert_eq!(
        result(&mut m, "AT+CPIN=\"123\",\"4321\""),
        FinalResult::Cme(at::CmeError::IncorrectParameters)
    );
    ok_lines(&mut m, "AT+CPIN=\"12345678\",\"4321\"");
    assert_eq!(m.sim_state(), SimState::Ready);
    let r = parse_pin_retries(&ok_lines(&mut m, "AT+CPINR")).unwrap();
    assert_eq!((r.pin, r.puk), (Some(3), Some(10)));
    // PIN while ready: not allowed.
    assert_eq!(
        result(&mut m, "AT+CPIN=\"4321\""),
        FinalResult::Cme(at::CmeError::OperationNotAllowed)
    );
    // Power cycle: the new PIN is asked for.
    m.disconnect();
    m.connect();
    assert_eq!(m.sim_state(), SimState::Pin);
    ok_lines(&mut m, "AT+CMEE=1");
    assert_eq!(result(&mut m, "AT+CPIN=\"1234\""), wrong);
    ok_lines(&mut m, "AT+CPIN=\"4321\"");
    let events = m.take_events();
    assert!(events.contains(&EmulatorEvent::SimUnlocked));
    assert!(events.contains(&EmulatorEvent::WrongPassword {
        code: "SIM PIN".into(),
        left: 2
    }));
}

#[test]
fn ten_wrong_puks_block_the_sim() {
    let mut m = with_pin(Profile::Generic);
    ok_lines(&mut m, "AT+CMEE=1");
    for _ in 0..3 {
        result(&mut m, "AT+CPIN=\"0000\"");
    }
    for _ in 0..10 {
        result(&mut m, "AT+CPIN=\"00000000\",\"0000\"");
    }
    assert_eq!(m.sim_state(), SimState::Blocked);
    assert_eq!(
        result(&mut m, "AT+CPIN?"),
        FinalResult::Cme(at::CmeError::SimFailure)
    );
    assert_eq!(
        result(&mut m, "AT+CPIN=\"12345678\",\"0000\""),
        FinalResult::Cme(at::CmeError::SimFailure)
    );
}

#[test]
fn vendor_pin_counters() {
    let cases = [
        (
            Profile::HuaweiE3372,
            "AT^CPIN?",
            "^CPIN: SIM PIN,2,10,2,10,3",
        ),
        (
            Profile::QuectelEc25,
            "AT+QPINC=\"SC\"",
            "+QPINC: \"SC\",2,10",
        ),
        (Profile::Sim800l, "AT+SPIC", "+SPIC: 2,10,3,10"),
        (Profile::Sim7600, "AT+SPIC", "+SPIC: 2,10,3,10"),
        (
            Profile::SierraMc7455,
            "AT+CPINR=\"SIM PIN\"",
            "+CPINR: SIM PIN,2,3",
        ),
    ];
    for (p, cmd, want) in cases {
        let mut m = with_pin(p);
        ok_lines(&mut m, "ATE0");
        assert_eq!(result(&mut m, "AT+CPIN=\"9999\""), FinalResult::Error);
        let lines = ok_lines(&mut m, cmd);
        assert_eq!(lines, [want], "{p:?}");
        let r = parse_pin_retries(&lines).unwrap();
        assert_eq!(r.pin, Some(2), "{p:?}");
    }
    let mut m = machine(Profile::QuectelEc25);
    assert_eq!(ok_lines(&mut m, "AT+QPINC?").len(), 2);
    assert_eq!(result(&mut m, "AT+CPINR"), FinalResult::Error);
    let mut m = machine(Profile::HuaweiE3372);
    assert_eq!(ok_lines(&mut m, "AT^CPIN?"), ["^CPIN: READY,,10,3,10,3"]);
    assert_eq!(result(&mut m, "AT+SPIC"), FinalResult::Error);
}

#[test]
fn cmgs_prompt_pdu_and_incrementing_mr() {
    let mut m = machine(Profile::Generic);
    let pdu = submit("+4917612345678", "hello");
    let cmd = format!("AT+CMGS={}", pdu.tpdu_length());
    // Echo on: command echo, prompt, hex echo, answer.
    assert_eq!(raw(&mut m, &cmd), format!("{cmd}\r\r\n> "));
    let answer = pdu_body(&mut m, pdu.bytes());
    assert_eq!(
        answer,
        format!("{}\r\n+CMGS: 0\r\n\r\nOK\r\n", pdu.to_hex())
    );
    ok_lines(&mut m, "ATE0");
    assert_eq!(raw(&mut m, &cmd), "\r\n> ");
    assert_eq!(pdu_body(&mut m, pdu.bytes()), "\r\n+CMGS: 1\r\n\r\nOK\r\n");
    let sent = m.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[0].message_reference, sent[1].message_reference),
        (0, 1)
    );
    assert_eq!(sent[1].tpdu, pdu.tpdu());
    assert_eq!(sent[1].smsc, None);
    assert_eq!(sent[1].submit.destination.to_display(), "+4917612345678");
    // Through the digester, split anywhere.
    let c = Command::cmgs(pdu.tpdu_length() as u8);
    let mut d = Digester::new();
    d.command_sent(&c);
    assert_eq!(
        d.feed(written(&m.receive(&c.to_bytes())).as_bytes()),
        [Event::Prompt]
    );
    let events = d.feed(written(&m.receive(&at::pdu_body(pdu.bytes()))).as_bytes());
    let Event::Response(r) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(at::parse_cmgs(&r.lines[0]), Ok(2));
    assert!(m.take_events().contains(&EmulatorEvent::MessageSent {
        mr: 2,
        destination: "+4917612345678".into()
    }));
}

#[test]
fn mr_wraps_and_starts_where_configured() {
    let mut c = EmulatorConfig::new(Profile::Generic);
    c.first_message_reference = 255;
    let mut m = Machine::new(&c);
    ok_lines(&mut m, "ATE0");
    let pdu = submit("12345", "x");
    for want in [255, 0] {
        raw(&mut m, &format!("AT+CMGS={}", pdu.tpdu_length()));
        assert_eq!(
            pdu_body(&mut m, pdu.bytes()),
            format!("\r\n+CMGS: {want}\r\n\r\nOK\r\n")
        );
    }
}

#[test]
fn esc_cancels_and_bad_pdus_get_304() {
    let mut m = machine(Profile::Generic);
    ok_lines(&mut m, "ATE0");
    let pdu = submit("+4917612345678", "hello");
    let cmd = format!("AT+CMGS={}", pdu.tpdu_length());
    raw(&mut m, &cmd);
    let mut body = pdu.to_hex().into_bytes();
    body.push(at::ESC);
    assert_eq!(written(&m.receive(&body)), "\r\nOK\r\n");
    assert!(m.sent().is_empty());
    assert!(m.take_events().contains(&EmulatorEvent::SendCancelled));
    // Wrong length, not hex, an SMS-DELIVER, an AT typed into the prompt.
    let wrong_len = format!("AT+CMGS={}", pdu.tpdu_length() + 1);
    let deliver = {
        let mut p = vec![0];
        p.extend(bytes(DELIVER));
        p
    };
    let cases: Vec<(String, Vec<u8>)> = vec![
        (wrong_len, at::pdu_body(pdu.bytes())),
        (cmd.clone(), b"00ZZ\x1a".to_vec()),
        (
            format!("AT+CMGS={}", deliver.len() - 1),
            at::pdu_body(&deliver),
        ),
        (cmd.clone(), b"AT\r\x1a".to_vec()),
        (cmd.clone(), [b"0".repeat(3000), vec![0x1a]].concat()),
    ];
    for (cmd, body) in cases {
        assert_eq!(raw(&mut m, &cmd), "\r\n> ");
        assert_eq!(written(&m.receive(&body)), "\r\n+CMS ERROR: 304\r\n");
    }
    assert_eq!(raw(&mut m, "AT+CMGS=0"), "\r\n+CMS ERROR: 304\r\n");
    assert_eq!(raw(&mut m, "AT+CMGS=\"+49123\""), "\r\n+CMS ERROR: 304\r\n");
    assert!(m.sent().is_empty());
    // Not registered: 331.
    m.set_registered(false);
    raw(&mut m, &cmd);
    assert_eq!(pdu_body(&mut m, pdu.bytes()), "\r\n+CMS ERROR: 331\r\n");
    // Text mode: not supported here.
    m.set_registered(true);
    ok_lines(&mut m, "AT+CMGF=1");
    assert_eq!(raw(&mut m, &cmd), "\r\n+CMS ERROR: 303\r\n");
}

fn listen_mt1(m: &mut Machine) {
    ok_lines(m, "ATE0");
    ok_lines(m, "AT+CNMI=2,1,0,2,0");
}

#[test]
fn stored_messages_list_read_and_delete() {
    let mut m = machine(Profile::Generic);
    listen_mt1(&mut m);
    for want in [1, 2, 3] {
        assert_eq!(m.inject_deliver(&bytes(DELIVER)), Ok(Some(want)));
        let events = unsolicited(&m.take_output());
        assert_eq!(
            events,
            [Event::Unsolicited(Urc::NewMessage(at::StorageIndex {
                memory: "SM".into(),
                index: want
            }))]
        );
    }
    let first = parse_cmgr(1, &ok_lines(&mut m, "AT+CMGR=1")).unwrap();
    assert_eq!(first.status, at::MessageStatus::ReceivedUnread);
    let (smsc, tpdu) = crate::pdu::split_smsc(&first.pdu).unwrap();
    assert_eq!(smsc.unwrap().to_display(), "+491710760000");
    assert_eq!(tpdu, bytes(DELIVER));
    assert_eq!(usize::from(first.length), tpdu.len());
    // Reading marked it read: only 2 and 3 are unread.
    let unread: Vec<u32> = parse_cmgl(&ok_lines(&mut m, "AT+CMGL=0"))
        .into_iter()
        .map(|e| e.unwrap().index)
        .collect();
    assert_eq!(unread, [2, 3]);
    let all = parse_cmgl(&ok_lines(&mut m, "AT+CMGL=4"));
    assert_eq!(all.len(), 3);
    assert!(all
        .iter()
        .all(|e| e.as_ref().unwrap().status == at::MessageStatus::ReceivedRead));
    assert!(ok_lines(&mut m, "AT+CMGL=0").is_empty());
    // Exact framing of one entry.
    ok_lines(&mut m, "AT+CMGD=2");
    ok_lines(&mut m, "AT+CMGD=3");
    let hex_pdu = format!("0791947101670000{DELIVER}");
    assert_eq!(
        raw(&mut m, "AT+CMGL=4"),
        format!(
            "\r\n+CMGL: 1,1,,{}\r\n{hex_pdu}\r\n\r\nOK\r\n",
            DELIVER.len() / 2
        )
    );
    // Empty slot: OK and no lines; outside the memory: 321.
    assert_eq!(raw(&mut m, "AT+CMGR=2"), "\r\nOK\r\n");
    assert_eq!(raw(&mut m, "AT+CMGR=31"), "\r\n+CMS ERROR: 321\r\n");
    assert_eq!(raw(&mut m, "AT+CMGR=0"), "\r\n+CMS ERROR: 321\r\n");
    assert_eq!(raw(&mut m, "AT+CMGD=99"), "\r\n+CMS ERROR: 321\r\n");
    assert_eq!(raw(&mut m, "AT+CMGL=\"ALL\""), "\r\n+CMS ERROR: 304\r\n");
    // Delete all with flag 4.
    m.inject_deliver(&bytes(DELIVER)).unwrap();
    ok_lines(&mut m, "AT+CMGD=0,4");
    assert!(m.stored().is_empty());
    let deleted = m
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, EmulatorEvent::Deleted { .. }))
        .count();
    assert_eq!(deleted, 4);
}

#[test]
fn delete_flags_follow_status() {
    let mut m = machine(Profile::QuectelEc25);
    listen_mt1(&mut m);
    for _ in 0..3 {
        m.inject_deliver(&bytes(DELIVER)).unwrap();
    }
    assert_eq!(m.stored()[0].index, 0, "Quectel indexes from 0");
    ok_lines(&mut m, "AT+CMGR=0");
    // Flag 1 deletes read messages only.
    ok_lines(&mut m, "AT+CMGD=0,1");
    let left: Vec<u32> = m.stored().iter().map(|e| e.index).collect();
    assert_eq!(left, [1, 2]);
    // CMGW stores an unsent message in mem2; flag 2 keeps it, 3 deletes it.
    let pdu = submit("+4917612345678", "draft");
    assert_eq!(
        raw(&mut m, &format!("AT+CMGW={}", pdu.tpdu_length())),
        "\r\n> "
    );
    assert_eq!(pdu_body(&mut m, pdu.bytes()), "\r\n+CMGW: 0\r\n\r\nOK\r\n");
    ok_lines(&mut m, "AT+CMGD=0,2");
    assert_eq!(m.stored().len(), 3);
    ok_lines(&mut m, "AT+CMGD=0,3");
    assert_eq!(m.stored().len(), 2);
}

#[test]
fn full_storage_rejects_incoming_messages() {
    let mut c = EmulatorConfig::new(Profile::HuaweiE3372);
    c.storage_capacity = 2;
    let mut m = Machine::new(&c);
    listen_mt1(&mut m);
    assert_eq!(m.inject_deliver(&bytes(DELIVER)), Ok(Some(0)));
    assert_eq!(m.inject_deliver(&bytes(DELIVER)), Ok(Some(1)));
    m.take_output();
    assert_eq!(
        m.inject_deliver(&bytes(DELIVER)),
        Err(EmulatorError::StorageFull)
    );
    assert_eq!(written(&m.take_output()), "\r\n^SMMEMFULL: \"SM\"\r\n");
    assert_eq!(m.rejected(), ["storage SM full"]);
    assert_eq!(m.stored().len(), 2);
    assert_eq!(
        ok_lines(&mut m, "AT+CPMS?"),
        ["+CPMS: \"SM\",2,2,\"SM\",2,2,\"SM\",2,2"]
    );
    // Raw delivery (+CMT) still works: nothing to store.
    ok_lines(&mut m, "AT+CNMI=2,2,0,0,0");
    assert_eq!(m.inject_deliver(&bytes(DELIVER)), Ok(None));
}

#[test]
fn storage_full_fault() {
    let mut m = machine(Profile::Generic);
    listen_mt1(&mut m);
    m.inject_fault(Fault::StorageFull);
    assert!(matches!(
        m.inject_deliver(&bytes(DELIVER)),
        Err(EmulatorError::StorageFull)
    ));
    assert_eq!(
        ok_lines(&mut m, "AT+CPMS?"),
        ["+CPMS: \"SM\",30,30,\"SM\",30,30,\"SM\",30,30"]
    );
    let pdu = submit("+4917612345678", "draft");
    raw(&mut m, &format!("AT+CMGW={}", pdu.tpdu_length()));
    assert_eq!(pdu_body(&mut m, pdu.bytes()), "\r\n+CMS ERROR: 322\r\n");
    m.clear_faults();
    assert_eq!(m.inject_deliver(&bytes(DELIVER)), Ok(Some(1)));
}

#[test]
fn cnmi_routes_messages_and_reports() {
    let deliver_tpdu = bytes(DELIVER);
    let report_tpdu = bytes(REPORT);
    // mt=2: raw +CMT with the SMSC field in front.
    let mut m = machine(Profile::Generic);
    ok_lines(&mut m, "AT+CNMI=2,2,0,1,0");
    assert_eq!(m.inject_deliver(&deliver_tpdu), Ok(None));
    let events = unsolicited(&m.take_output());
    let [Event::Unsolicited(Urc::Deliver { length, pdu, .. })] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(usize::from(*length), deliver_tpdu.len());
    assert_eq!(crate::pdu::split_smsc(pdu).unwrap().1, deliver_tpdu);
    // ds=1: +CDS.
    assert_eq!(m.inject_status_report(&report_tpdu), Ok(None));
    let events = unsolicited(&m.take_output());
    assert!(matches!(
        events.as_slice(),
        [Event::Unsolicited(Urc::StatusReport { .. })]
    ));
    // ds=2: stored in SR (Generic) or SM (Quectel), announced with +CDSI.
    for (p, mem, first) in [(Profile::Generic, "SR", 1), (Profile::QuectelEc25, "SM", 0)] {
        let mut m = machine(p);
        ok_lines(&mut m, "AT+CNMI=2,1,0,2,0");
        assert_eq!(m.inject_status_report(&report_tpdu), Ok(Some(first)));
        assert_eq!(
            written(&m.take_output()),
            format!("\r\n+CDSI: \"{mem}\",{first}\r\n")
        );
        assert_eq!(m.stored()[0].memory, mem);
    }
    // mt=0, ds=0: stored silently; reports dropped.
    let mut m = machine(Profile::Generic);
    assert_eq!(m.inject_deliver(&deliver_tpdu), Ok(Some(1)));
    assert!(m.take_output().is_empty());
    assert_eq!(
        m.inject_status_report(&report_tpdu),
        Err(EmulatorError::NotRouted)
    );
    // mode 0: no indications at all.
    ok_lines(&mut m, "AT+CNMI=0,1,0,2,0");
    assert_eq!(m.inject_deliver(&deliver_tpdu), Ok(Some(2)));
    assert!(m.take_output().is_empty());
    // Bad TPDUs and a locked SIM.
    assert!(matches!(
        m.inject_deliver(&report_tpdu),
        Err(EmulatorError::BadPdu(_))
    ));
    assert!(matches!(
        m.inject_status_report(&[0x06]),
        Err(EmulatorError::BadPdu(_))
    ));
    let mut m = with_pin(Profile::Generic);
    assert_eq!(
        m.inject_deliver(&deliver_tpdu),
        Err(EmulatorError::NotRegistered)
    );
    assert_eq!(
        ok_lines(&mut m, "AT+CNMI?"),
        ["+CNMI: 0,0,0,0,0"],
        "Generic default"
    );
    assert_eq!(
        ok_lines(&mut machine(Profile::QuectelEc25), "AT+CNMI?"),
        ["+CNMI: 2,1,0,0,0"]
    );
}

#[test]
fn cpms_selects_memories() {
    let mut m = machine(Profile::Generic);
    listen_mt1(&mut m);
    ok_lines(&mut m, "AT+CPMS=\"SR\",\"ME\",\"ME\"");
    assert_eq!(
        ok_lines(&mut m, "AT+CPMS?"),
        ["+CPMS: \"SR\",0,20,\"ME\",0,50,\"ME\",0,50"]
    );
    assert_eq!(m.inject_deliver(&bytes(DELIVER)), Ok(Some(1)));
    assert_eq!(written(&m.take_output()), "\r\n+CMTI: \"ME\",1\r\n");
    assert_eq!(raw(&mut m, "AT+CPMS=\"XX\""), "\r\n+CMS ERROR: 302\r\n");
    assert_eq!(
        raw(&mut machine(Profile::Sim800l), "AT+CPMS=\"SR\""),
        "AT+CPMS=\"SR\"\r\r\n+CMS ERROR: 302\r\n"
    );
}

#[test]
fn noise_lines_are_noise_to_the_digester() {
    for p in Profile::ALL {
        let mut m = machine(p);
        for _ in 0..p.noise_lines(20).len() {
            m.noise_tick();
            let events = unsolicited(&m.take_output());
            assert!(
                matches!(events.as_slice(), [Event::Noise(_)]),
                "{p:?}: {events:?}"
            );
        }
        m.disconnect();
        m.connect();
        for e in unsolicited(&m.take_output()) {
            assert!(
                matches!(
                    e,
                    Event::Noise(_) | Event::Unsolicited(Urc::SimStatus(PinStatus::Ready))
                ),
                "{p:?}: {e:?}"
            );
        }
    }
    let mut m = machine(Profile::HuaweiE3372);
    m.noise_tick();
    assert_eq!(written(&m.take_output()), "\r\n^RSSI:20\r\n");
    ok_lines(&mut m, "AT^CURC=0");
    m.noise_tick();
    assert!(m.take_output().is_empty());
    assert_eq!(
        result(&mut machine(Profile::QuectelEc25), "AT^CURC=0"),
        FinalResult::Error
    );
    // Boot lines with a PIN, and the lines after unlocking.
    let mut m = with_pin(Profile::Sim800l);
    m.disconnect();
    m.connect();
    assert_eq!(
        written(&m.take_output()),
        "\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: SIM PIN\r\n"
    );
    ok_lines(&mut m, "ATE0");
    assert_eq!(
        raw(&mut m, "AT+CPIN=\"1234\""),
        "\r\nOK\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"
    );
    // Noise after commands, when enabled.
    let mut m = machine(Profile::QuectelEc25);
    m.inject_fault(Fault::Noise {
        interval: Duration::from_secs(5),
    });
    assert_eq!(m.noise_interval(), Some(Duration::from_secs(5)));
    let noise: usize = (0..8).map(|_| ask_events(&mut m, "AT").1.len()).sum();
    assert_eq!(noise, 2);
    m.clear_faults();
    assert_eq!(m.noise_interval(), None);
}

#[test]
fn registration_urcs_follow_the_sim_and_the_network() {
    let mut m = with_pin(Profile::Generic);
    ok_lines(&mut m, "ATE0");
    ok_lines(&mut m, "AT+CREG=1");
    ok_lines(&mut m, "AT+CEREG=2");
    let reg = parse_registration(&ok_lines(&mut m, "AT+CREG?")[0], RegForm::Read).unwrap();
    assert_eq!(reg.status, at::RegStatus::NotRegistered);
    assert_eq!(ok_lines(&mut m, "AT+COPS?"), ["+COPS: 0"]);
    assert_eq!(
        raw(&mut m, "AT+CPIN=\"1234\""),
        "\r\nOK\r\n\r\n+CREG: 1\r\n\r\n+CEREG: 1,\"1A2B\",\"01C2D3E4\",7\r\n"
    );
    m.set_registered(false);
    assert_eq!(
        written(&m.take_output()),
        "\r\n+CREG: 2\r\n\r\n+CEREG: 2\r\n"
    );
}

#[test]
fn faults_fire_as_armed() {
    let mut m = machine(Profile::Generic);
    ok_lines(&mut m, "ATE0");
    ok_lines(&mut m, "AT+CMEE=1");
    let to_a = submit("+4917611111111", "a");
    let to_b = submit("+4917622222222", "b");
    m.inject_fault(Fault::CmsError {
        code: 38,
        times: Times::N(2),
        destination: Some("+49 176 2222 2222".into()),
    });
    let send = |m: &mut Machine, pdu: &crate::pdu::EncodedPdu| {
        raw(m, &format!("AT+CMGS={}", pdu.tpdu_length()));
        pdu_body(m, pdu.bytes())
    };
    assert_eq!(send(&mut m, &to_a), "\r\n+CMGS: 0\r\n\r\nOK\r\n");
    assert_eq!(send(&mut m, &to_b), "\r\n+CMS ERROR: 38\r\n");
    assert_eq!(send(&mut m, &to_b), "\r\n+CMS ERROR: 38\r\n");
    assert_eq!(send(&mut m, &to_b), "\r\n+CMGS: 1\r\n\r\nOK\r\n");
    // CME error for a prefix.
    m.inject_fault(Fault::CmeError {
        command_prefix: "AT+CSQ".into(),
        code: 100,
        times: Times::Once,
    });
    assert_eq!(raw(&mut m, "AT+CSQ"), "\r\n+CME ERROR: 100\r\n");
    assert_eq!(raw(&mut m, "AT+CSQ"), "\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
    // No answer: only that command hangs.
    m.inject_fault(Fault::NoAnswer {
        command_prefix: "AT+CPMS".into(),
        times: Times::Always,
    });
    assert_eq!(m.receive(b"AT+CPMS?\r"), [Output::Hang]);
    assert_eq!(raw(&mut m, "AT"), "\r\nOK\r\n");
    assert_eq!(m.receive(b"AT+CPMS?\r"), [Output::Hang]);
    m.clear_faults();
    assert_eq!(result(&mut m, "AT+CPMS?"), FinalResult::Ok);
    // Hang after the PDU: recorded as sent, no answer.
    m.inject_fault(Fault::HangAfterPdu { times: Times::Once });
    raw(&mut m, &format!("AT+CMGS={}", to_a.tpdu_length()));
    assert_eq!(m.receive(&at::pdu_body(to_a.bytes())), [Output::Hang]);
    assert_eq!(m.sent().len(), 3);
    assert_eq!(m.sent()[2].message_reference, 2);
    assert_eq!(send(&mut m, &to_a), "\r\n+CMGS: 3\r\n\r\nOK\r\n");
    // Garbage goes out at once; the SIM locks on demand.
    m.inject_fault(Fault::Garbage(vec![0xff, 0x00, b'x']));
    assert_eq!(m.take_output(), [Output::Write(vec![0xff, 0x00, b'x'])]);
    m.inject_fault(Fault::SimPinRequired);
    assert_eq!(m.sim_state(), SimState::Pin);
    ok_lines(&mut m, "AT+CPIN=\"1234\"");
    let events = m.take_events();
    assert!(events.contains(&EmulatorEvent::SendFailed { code: 38 }));
    assert!(events.iter().any(|e| matches!(e, EmulatorEvent::Hung(_))));
}

#[test]
fn latency_is_a_delay_before_the_answer() {
    let mut c = EmulatorConfig::new(Profile::Sim800l);
    c.realistic_latency = true;
    let mut m = Machine::new(&c);
    let out = m.receive(b"AT\r");
    assert_eq!(
        out,
        [
            Output::Write(b"AT\r".to_vec()),
            Output::Delay(Profile::Sim800l.command_latency()),
            Output::Write(b"\r\nOK\r\n".to_vec()),
        ]
    );
    let pdu = submit("+4917612345678", "x");
    let cmd = format!("AT+CMGS={}", pdu.tpdu_length());
    // The prompt comes at once; the network round trip after the PDU.
    assert_eq!(
        m.receive(format!("{cmd}\r").as_bytes()),
        [Output::Write(format!("{cmd}\r\r\n> ").into_bytes())]
    );
    let out = m.receive(&at::pdu_body(pdu.bytes()));
    assert_eq!(out[1], Output::Delay(Duration::from_secs(5)));
    // An explicit latency wins; zero removes it.
    m.set_command_latency("at+csq", Duration::from_millis(7));
    assert_eq!(
        m.receive(b"AT+CSQ\r")[1],
        Output::Delay(Duration::from_millis(7))
    );
    m.set_command_latency("AT+CSQ", Duration::ZERO);
    assert_eq!(
        m.receive(b"AT+CSQ\r")[1],
        Output::Delay(Profile::Sim800l.command_latency())
    );
    // Off by default.
    let mut m = machine(Profile::Sim800l);
    assert_eq!(m.receive(b"AT\r").len(), 1);
}

#[test]
fn ring_with_clip_until_hung_up() {
    let mut m = machine(Profile::Generic);
    ok_lines(&mut m, "ATE0");
    m.ring("+4917612345678");
    assert_eq!(written(&m.take_output()), "\r\nRING\r\n");
    ok_lines(&mut m, "AT+CLIP=1");
    m.ring_tick();
    let events = unsolicited(&m.take_output());
    assert_eq!(events[0], Event::Unsolicited(Urc::Ring));
    let Event::Unsolicited(Urc::CallerId(clip)) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (clip.number.as_str(), clip.toa),
        ("+4917612345678", Some(145))
    );
    assert!(m.ringing());
    ok_lines(&mut m, "ATH");
    assert!(!m.ringing());
    m.ring_tick();
    assert!(m.take_output().is_empty());
    m.ring("0301234");
    m.end_call();
    let events = m.take_events();
    assert!(events.contains(&EmulatorEvent::CallEnded { by_host: true }));
    assert!(events.contains(&EmulatorEvent::CallEnded { by_host: false }));
    assert!(written(&m.take_output()).contains("\"0301234\",129"));
}

#[test]
fn replug_resets_the_session_but_not_the_sim() {
    let mut m = with_pin(Profile::QuectelEc25);
    ok_lines(&mut m, "ATE0");
    ok_lines(&mut m, "AT+CPIN=\"1234\"");
    ok_lines(&mut m, "AT+CNMI=2,1,0,2,0");
    m.inject_deliver(&bytes(DELIVER)).unwrap();
    m.take_output();
    m.disconnect();
    // While unplugged: stored silently, even reports; nothing written.
    assert!(m.receive(b"AT\r").is_empty());
    assert_eq!(m.inject_deliver(&bytes(DELIVER)), Ok(Some(1)));
    assert_eq!(m.inject_status_report(&bytes(REPORT)), Ok(Some(2)));
    m.ring("123");
    assert!(m.take_output().is_empty());
    m.connect();
    assert!(written(&m.take_output()).contains("+CPIN: SIM PIN"));
    assert!(m.echo());
    assert_eq!(m.sim_state(), SimState::Pin);
    assert_eq!(ok_lines(&mut m, "AT+CNMI?"), ["+CNMI: 2,1,0,0,0"]);
    ok_lines(&mut m, "AT+CPIN=\"1234\"");
    assert_eq!(parse_cmgl(&ok_lines(&mut m, "AT+CMGL=4")).len(), 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes, in any profile and mode: no panic, and the machine still
    /// answers a plain AT afterwards (after ESC leaves a prompt).
    #[test]
    fn never_panics(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
                    words in prop::collection::vec(prop::sample::select(vec![
                        "AT+CMGS=20\r", "AT+CPIN=\"1\",\"2\"\r", "AT+CMGL=4\r", "AT+CNMI=3,3,3,2,1\r",
                        "AT+CMGD=1,4\r", "AT+CPMS=\"SR\",\"ME\"\r", "ATZ\r", "AT+CMGW=5,3\r", "\x1a", "\x1b",
                        "AT;;+;\r", "AT+CPINR=\"*\"\r", "AT&\r", "ATS0=1S1?\r", "AT+CMGR=4294967295\r",
                    ]), 0..8),
                    profile in prop::sample::select(Profile::ALL.to_vec())) {
        let mut c = EmulatorConfig::new(profile);
        c.sim_pin = Some("1234".into());
        let mut m = Machine::new(&c);
        m.inject_fault(Fault::StorageFull);
        for (chunk, word) in chunks.iter().zip(words.iter().cycle()) {
            m.receive(chunk);
            m.receive(word.as_bytes());
            let _ = m.inject_deliver(chunk);
            let _ = m.inject_status_report(chunk);
        }
        m.receive(&[at::ESC]);
        let answer = written(&m.receive(b"\rAT\r"));
        prop_assert!(answer.ends_with("OK\r\n"), "{answer:?}");
    }
}
