//! The definitions behind `tests/fixtures/receive/pdus.txt`: every incoming
//! PDU of the receive acceptance test, built with simgate's encoder, in
//! injection order (`--write-pdus` writes the list).

use simgate::pdu::{
    plan_binary, plan_text, plan_text_wide, Address, Body, Concatenation, EncodingPolicy,
    SmsDeliver, Status, StatusReport, Timestamp, TypeOfNumber, UserData, UserDataHeader,
};

/// 2026-03-14 at `hour:minute:second`, UTC offset `tz` quarter hours.
fn at(hour: u8, minute: u8, second: u8, tz: i8) -> Timestamp {
    Timestamp {
        year: 2026,
        month: 3,
        day: 14,
        hour,
        minute,
        second,
        tz_quarters: tz,
    }
}

fn number(text: &str) -> Address {
    Address::parse_number(text).unwrap()
}

fn deliver(
    from: &Address,
    dcs: u8,
    time: Timestamp,
    header: Option<UserDataHeader>,
    body: Body,
) -> Vec<u8> {
    SmsDeliver {
        more_messages: false,
        loop_prevention: false,
        reply_path: false,
        status_report_indication: false,
        originator: from.clone(),
        protocol_identifier: 0,
        dcs: simgate::pdu::DataCodingScheme::decode(dcs),
        timestamp: time.into(),
        user_data: UserData {
            header,
            body,
            split: Default::default(),
        },
    }
    .encode()
    .unwrap()
}

/// The parts of a concatenated message, each with its own time (`second`
/// counts up per part), in sequence order.
fn parts(
    from: &Address,
    plan: simgate::pdu::Plan,
    reference: u16,
    wide: bool,
    minute: u8,
    tz: i8,
) -> Vec<Vec<u8>> {
    let dcs = match plan.alphabet {
        simgate::pdu::Alphabet::Gsm7 => 0x00,
        simgate::pdu::Alphabet::Ucs2 => 0x08,
        simgate::pdu::Alphabet::Eight => 0x04,
    };
    let total = plan.parts.len() as u8;
    assert!(total > 1);
    plan.parts
        .into_iter()
        .enumerate()
        .map(|(index, body)| {
            let header = UserDataHeader::concatenation(
                Concatenation {
                    reference,
                    total,
                    sequence: index as u8 + 1,
                },
                wide,
            );
            deliver(
                from,
                dcs,
                at(10, minute, index as u8 * 2, tz),
                Some(header),
                body,
            )
        })
        .collect()
}

fn report(mr: u8, to: &Address, status: u8, minute: u8, tz: i8) -> Vec<u8> {
    StatusReport {
        more_messages: false,
        loop_prevention: false,
        for_command: false,
        message_reference: mr,
        recipient: to.clone(),
        timestamp: at(11, minute, 0, tz).into(),
        discharge_time: at(11, minute, 30, tz).into(),
        status: Status(status),
        protocol_identifier: None,
        dcs: None,
        user_data: None,
    }
    .encode()
    .unwrap()
}

fn text(s: &str) -> Body {
    Body::Text(s.to_owned())
}

/// `(label, kind, TPDU)` in injection order.
pub(crate) fn list() -> Vec<(String, &'static str, Vec<u8>)> {
    let long = |seed: &str, n: usize| {
        (0..n)
            .map(|i| format!("{seed} sentence number {i}."))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let c2 = parts(
        &number("+4917610000012"),
        plan_text(&long("In order, two parts", 6), EncodingPolicy::Auto).unwrap(),
        0x21,
        false,
        12,
        4,
    );
    let c3r = parts(
        &number("+4917610000013"),
        plan_text_wide(
            &format!("Ж {}", long("Reversed UCS-2, three parts", 4)),
            EncodingPolicy::Auto,
        )
        .unwrap(),
        0x1234,
        true,
        13,
        -8,
    );
    let c3 = parts(
        &number("+4917610000014"),
        plan_text_wide(
            &long("In order, three parts, 16-bit reference", 7),
            EncodingPolicy::Auto,
        )
        .unwrap(),
        0xBEEF,
        true,
        14,
        0,
    );
    let c2s = parts(
        &number("+4917610000015"),
        plan_text(&long("Swapped", 10), EncodingPolicy::Auto).unwrap(),
        0x7F,
        false,
        15,
        2,
    );
    let bin: Vec<u8> = (0..=255u8).collect();
    let cbin = parts(
        &number("+4917610000016"),
        plan_binary(&bin).unwrap(),
        0x33,
        false,
        16,
        0,
    );
    let dup = parts(
        &number("+4917610000017"),
        plan_text(&long("Duplicated first part", 6), EncodingPolicy::Auto).unwrap(),
        0x44,
        false,
        17,
        4,
    );
    let timeout = parts(
        &number("+4917610000018"),
        plan_text(
            &long("The middle part never comes", 9),
            EncodingPolicy::Auto,
        )
        .unwrap(),
        0x55,
        false,
        18,
        4,
    );
    assert_eq!((c2.len(), c3r.len(), c3.len(), c2s.len()), (2, 3, 3, 2));
    assert_eq!((cbin.len(), dup.len(), timeout.len()), (2, 2, 3));
    let national = Address {
        ton: TypeOfNumber::National,
        npi: 1,
        value: "017610000008".to_owned(),
    };
    let d = |label: &str, tpdu: Vec<u8>| (label.to_owned(), "deliver", tpdu);
    let r = |label: &str, tpdu: Vec<u8>| (label.to_owned(), "report", tpdu);
    vec![
        d(
            "gsm7-ext",
            deliver(
                &number("+4917610000001"),
                0x00,
                at(10, 1, 0, 4),
                None,
                text("Ext: { } [ ] ~ \\ ^ | € end"),
            ),
        ),
        d("concat3-reversed.3", c3r[2].clone()),
        d(
            "ucs2-emoji",
            deliver(
                &number("+4917610000002"),
                0x08,
                at(10, 2, 0, -20),
                None,
                text("Grüße 😀 Жж ✓"),
            ),
        ),
        d("concat2-inorder.1", c2[0].clone()),
        d("concat2-inorder.2", c2[1].clone()),
        d("concat3-reversed.2", c3r[1].clone()),
        d("timeout.1", timeout[0].clone()),
        d(
            "eight-bit",
            deliver(
                &number("+4917610000004"),
                0x04,
                at(10, 4, 0, 8),
                None,
                Body::Binary(vec![0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0x0D, 0x0A, 0x41]),
            ),
        ),
        d("concat3-reversed.1", c3r[0].clone()),
        r(
            "report-delivered",
            report(1, &number("+4917620000001"), 0x00, 1, 4),
        ),
        d(
            "alnum",
            deliver(
                &Address::alphanumeric("My Bank").unwrap(),
                0x00,
                at(10, 5, 0, 22),
                None,
                text("Your code is 123456"),
            ),
        ),
        d("dup.1", dup[0].clone()),
        d(
            "alnum-slash",
            deliver(
                &Address::alphanumeric("A/B Info").unwrap(),
                0x00,
                at(10, 6, 0, -1),
                None,
                text("A slash in the sender"),
            ),
        ),
        d("dup.1-again", dup[0].clone()),
        d("dup.2", dup[1].clone()),
        d(
            "flash",
            deliver(
                &number("+4917610000007"),
                0x10,
                at(10, 7, 0, 48),
                None,
                text("Flash: read me now"),
            ),
        ),
        d("concat2-swapped.2", c2s[1].clone()),
        d(
            "national",
            deliver(
                &national,
                0x00,
                at(10, 8, 0, -48),
                None,
                text("From a national number"),
            ),
        ),
        d("concat2-swapped.1", c2s[0].clone()),
        r(
            "report-pending",
            report(2, &number("+4917620000002"), 0x21, 2, -4),
        ),
        d(
            "unknown-ton",
            deliver(
                &number("017610000009"),
                0x00,
                at(10, 9, 0, -4),
                None,
                text("Type of number unknown"),
            ),
        ),
        d("timeout.3", timeout[2].clone()),
        d(
            "star-sender",
            deliver(
                &number("*123#"),
                0x00,
                at(10, 10, 0, 0),
                None,
                text("Balance: 5.00"),
            ),
        ),
        d("concat3-inorder.1", c3[0].clone()),
        d("concat3-inorder.2", c3[1].clone()),
        d("concat3-inorder.3", c3[2].clone()),
        d(
            "empty",
            deliver(
                &number("+4917610000011"),
                0x00,
                at(10, 11, 0, 0),
                None,
                text(""),
            ),
        ),
        r(
            "report-failed",
            report(3, &number("+4917620000003"), 0x41, 3, 0),
        ),
        d("concat-bin.1", cbin[0].clone()),
        d("concat-bin.2", cbin[1].clone()),
        d(
            "ucs2-crlf",
            deliver(
                &number("+4917610000003"),
                0x08,
                at(10, 3, 0, 0),
                None,
                text("line one\r\nline two ✓"),
            ),
        ),
        r("report-temporary-failed", report(4, &national, 0x60, 4, 8)),
        r(
            "report-reserved",
            report(5, &number("+4917620000005"), 0x10, 5, -1),
        ),
    ]
}

/// The list as `pdus.txt` holds it.
pub(crate) fn list_text() -> String {
    let mut out = String::from(
        "# The incoming PDUs of the receive acceptance test, in injection order:\n\
         # <label> <deliver|report> <TPDU in hex, without the SMSC field>.\n\
         # Written by `cargo run --example capture_gammu_inbox -- --write-pdus <this file>`\n\
         # from examples/capture_gammu_inbox/pdus.rs; see README.md.\n",
    );
    for (label, kind, tpdu) in list() {
        out.push_str(&format!(
            "{label} {kind} {}\n",
            simgate::pdu::hex::encode(&tpdu).to_ascii_uppercase()
        ));
    }
    out
}
