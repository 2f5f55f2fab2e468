//! Feeds arbitrary bytes to the AT digester in chunks and runs every typed
//! line parser on every line; nothing may panic and the digester's buffer
//! must stay bounded.
//!
//! Input layout: byte 0 picks the chunk size, byte 1 the pending command;
//! the rest is modem output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simgate::at::{self, Command, Digester, Event, InfoKind, RegForm};

fn parse_line(line: &str) {
    let _ = at::parse_final(line);
    let _ = at::parse_csq(line).map(|q| (q.dbm(), q.percent(), q.ber_class()));
    let _ = at::parse_registration(line, RegForm::Read);
    let _ = at::parse_registration(line, RegForm::Unsolicited);
    let _ = at::parse_cops(line);
    let _ = at::parse_cpin(line);
    let _ = at::parse_pin_retries(&[line]);
    let _ = at::parse_imei(line);
    let _ = at::parse_imsi(line);
    for kind in [InfoKind::Manufacturer, InfoKind::Model, InfoKind::Revision] {
        let _ = at::parse_info(line, kind);
    }
    let _ = at::parse_cbc(line);
    let _ = at::parse_cmgs(line);
    let _ = at::parse_cpms(line);
    let _ = at::parse_csca(line).map(|c| c.is_international());
    let _ = at::parse_cmti(line);
    let _ = at::parse_cdsi(line);
    let _ = at::parse_cmt_header(line);
    let _ = at::parse_cds_header(line);
    let _ = at::parse_clip(line);
    let _ = simgate::pdu::hex::decode(line);
    if let Some(payload) = line.split_once(':').map(|(_, p)| p) {
        let _ = at::CmeError::parse(payload).to_string();
        let _ = at::CmsError::parse(payload).class();
    }
}

fuzz_target!(|data: &[u8]| {
    let (chunk, command, output) = match data {
        [c, k, rest @ ..] => (usize::from(*c).max(1), *k, rest),
        _ => return,
    };
    let commands = [
        Command::csq(),
        Command::cmgs(20),
        Command::creg_query(),
        Command::cmgl(at::MessageStatus::All),
        Command::cgsn(),
        Command::cpin_query(),
    ];
    let mut digester = Digester::new();
    if let Some(cmd) = commands.get(usize::from(command)) {
        digester.command_sent(cmd);
    }
    for piece in output.chunks(chunk) {
        for event in digester.feed(piece) {
            if let Event::Response(response) = event {
                let _ = at::parse_cmgl(&response.lines);
                let _ = at::parse_cmgr(0, &response.lines);
                let _ = at::parse_pin_retries(&response.lines);
            }
        }
        assert!(digester.buffered() <= 2 * at::MAX_LINE + at::MAX_RESPONSE);
    }

    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> = text.split(['\r', '\n']).collect();
    for line in &lines {
        parse_line(line);
    }
    let _ = at::parse_cmgl(&lines);
    let _ = at::parse_cmgr(1, &lines);
});
