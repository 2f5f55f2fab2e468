//! The daemon receive path against the emulator: +CMTI, reading, multipart
//! reassembly, delivery reports, and the SIM emptied only after the inbox
//! files are on disk.

use crate::support::{delivers, Harness};
use simgate::daemon::DaemonEvent;
use simgate::emulator::{EmulatorConfig, EmulatorEvent, Profile};
use simgate::pdu::{
    plan_text, Address, EncodingPolicy, SmsDeliver, Status, StatusReport, Timestamp,
};

fn stamp(second: u8) -> Timestamp {
    Timestamp {
        year: 2026,
        month: 11,
        day: 25,
        hour: 20,
        minute: 1,
        second,
        tz_quarters: 4,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_lands_in_the_inbox_and_leaves_the_sim() {
    for profile in [
        Profile::Generic,
        Profile::HuaweiE3372,
        Profile::QuectelEc25,
        Profile::Sim800l,
    ] {
        let mut h = Harness::start(&format!("single-{profile:?}"), profile).await;
        h.emulator
            .inject_deliver(&delivers("+4915199999999", "Hi ✓ from the network", 0)[0])
            .unwrap();
        let files = h.received().await;
        assert_eq!(
            files,
            ["IN20261125_200100_00_+4915199999999_00.txt"],
            "{profile:?}"
        );
        assert_eq!(h.inbox(&files[0]), "Hi ✓ from the network");
        assert!(
            h.emulator.stored().is_empty(),
            "{profile:?}: the SIM is emptied"
        );
        h.stop().await;
    }
}

/// A status report TPDU: the message with TP-MR `reference` to
/// `recipient` was delivered.
fn delivered_report(reference: u8, recipient: &str) -> Vec<u8> {
    StatusReport {
        more_messages: false,
        loop_prevention: false,
        for_command: false,
        message_reference: reference,
        recipient: Address::parse_number(recipient).unwrap(),
        timestamp: stamp(0).into(),
        discharge_time: stamp(5).into(),
        status: Status(0),
        protocol_identifier: None,
        dcs: None,
        user_data: None,
    }
    .encode()
    .unwrap()
}

/// Parts out of order with a duplicate come out as one message, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_out_of_order_and_duplicated_make_one_message() {
    let mut h = Harness::start("multipart", Profile::Generic).await;
    let text = "A long message from the network, in three parts. ".repeat(7);
    let parts = delivers("+4915188888888", &text, 42);
    assert_eq!(parts.len(), 3);
    let mut events = h.emulator.subscribe();
    for part in [&parts[2], &parts[0], &parts[0], &parts[1]] {
        h.emulator.inject_deliver(part).unwrap();
        // Wait until the daemon has taken it off the SIM before the next one.
        loop {
            if let EmulatorEvent::Deleted { .. } = events.recv().await.unwrap() {
                break;
            }
        }
    }
    let files = h.received().await;
    assert_eq!(files.len(), 3);
    let joined: String = files.iter().map(|f| h.inbox(f)).collect();
    assert_eq!(joined, text);
    assert!(
        files[0].ends_with("_+4915188888888_00.txt") && files[2].ends_with("_02.txt"),
        "{files:?}"
    );
    assert!(h.emulator.stored().is_empty());
    let inbox_files = std::fs::read_dir(h.dir("inbox")).unwrap().count();
    assert_eq!(inbox_files, 3, "the duplicate wrote nothing");
    // A part the network sends again with another time stamp waits like
    // any part until the multipart timeout, then joins the message it
    // repeats: multipart_copies::a_repeated_part_writes_nothing.
    h.stop().await;
}

/// A delivery report is matched to the part it reports on by TP-MR and recipient.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_report_is_matched_to_its_message() {
    let mut h = Harness::start("report", Profile::SierraMc7455).await;
    let outbox = h.dir("outbox");
    std::fs::write(outbox.join(".tmp"), b"please confirm").unwrap();
    std::fs::rename(outbox.join(".tmp"), outbox.join("OUT+4917612345678.txtd")).unwrap();
    let references = match h.wait_for(|e| matches!(e, DaemonEvent::Sent { .. })).await {
        DaemonEvent::Sent { references, .. } => references,
        _ => unreachable!(),
    };
    // The network answers with the national form of the number.
    let report = delivered_report(references[0], "017612345678");
    let mut events = h.emulator.subscribe();
    h.emulator.inject_status_report(&report).unwrap();
    loop {
        if let EmulatorEvent::Deleted { .. } = events.recv().await.unwrap() {
            break;
        }
    }
    // As gammu does, the report is also stored in the inbox: the word.
    let files = h.received().await;
    assert_eq!(h.inbox(&files[0]), "Delivered");
    let db = rusqlite::Connection::open(h.dir("simgate.db")).unwrap();
    let outcome: String = db
        .query_row(
            "SELECT report_outcome FROM outgoing_part WHERE message_ref = ?1",
            [references[0]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(outcome, "delivered");
    assert!(h.emulator.stored().is_empty());
    h.stop().await;
}

/// An incoming call is hung up (HangupCalls), handed to RunOnIncomingCall
/// with the caller as an argument, and recorded, once per call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incoming_call_is_hung_up_and_reported() {
    let out = std::env::temp_dir().join(format!("simgate-call-hook-{}", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let command = format!("printf '%s\\n' >>{}", out.display());
    let mut h = Harness::start_with("call", Profile::HuaweiE3372, |config| {
        config.hooks.hangup_calls = true;
        config.hooks.run_on_incoming_call = Some(command);
    })
    .await;
    let mut events = h.emulator.subscribe();
    h.emulator.ring("+4915177777777");
    match h.wait_for(|e| matches!(e, DaemonEvent::Call { .. })).await {
        DaemonEvent::Call { caller } => assert_eq!(caller, "+4915177777777"),
        _ => unreachable!(),
    }
    loop {
        if let EmulatorEvent::CallEnded { by_host } = events.recv().await.unwrap() {
            assert!(by_host, "the daemon hung up");
            break;
        }
    }
    // The hook runs in its own task: wait for its line, boundedly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&out).unwrap_or_default().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "RunOnIncomingCall did not run"
        );
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), events.recv()).await;
    }
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "+4915177777777\n");
    let db = rusqlite::Connection::open(h.dir("simgate.db")).unwrap();
    let calls: i64 = db
        .query_row("SELECT COUNT(*) FROM call WHERE hung_up = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(calls, 1);
    let _ = std::fs::remove_file(&out);
    h.stop().await;
}

/// gammu's sender filter: an excluded sender's message is not taken (and,
/// as in gammu, stays on the SIM); the others arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_senders_are_filtered_out() {
    let mut h = Harness::start_with("filter", Profile::Generic, |config| {
        config.filters.exclude_numbers = vec!["+4915100000001".to_owned()];
    })
    .await;
    h.emulator
        .inject_deliver(&delivers("+4915100000001", "unwanted", 0)[0])
        .unwrap();
    h.emulator
        .inject_deliver(&delivers("+4915100000002", "wanted", 0)[0])
        .unwrap();
    let files = h.received().await;
    assert_eq!(h.inbox(&files[0]), "wanted");
    let left: Vec<_> = h.emulator.stored();
    assert_eq!(left.len(), 1, "the filtered message stays on the SIM");
    let inbox = std::fs::read_dir(h.dir("inbox")).unwrap().count();
    assert_eq!(inbox, 1);
    h.stop().await;
}

/// Waits until the emulator reports `count` deletions from its storage.
async fn deletions(events: &mut tokio::sync::broadcast::Receiver<EmulatorEvent>, count: usize) {
    let mut seen = 0;
    while seen < count {
        let event = tokio::time::timeout(std::time::Duration::from_secs(30), events.recv())
            .await
            .expect("deletions within 30 s")
            .unwrap();
        if let EmulatorEvent::Deleted { .. } = event {
            seen += 1;
        }
    }
}

/// The `undecodable` table: raw PDU text and reason, in arrival order.
fn undecodable(h: &Harness) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(h.dir("simgate.db")).unwrap();
    let mut statement = db
        .prepare("SELECT pdu_hex, reason FROM undecodable ORDER BY id")
        .unwrap();
    let rows = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

/// What the network may send that does not decode, stored beside good
/// messages: the daemon stays up, the good ones arrive, the bad ones are
/// kept raw with the reason, and the SIM ends empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_pdus_are_kept_raw_and_the_good_ones_arrive() {
    let mut h = Harness::start("malformed", Profile::Generic).await;
    let good = |n: u8| {
        format!(
            "00{}",
            hex(&delivers(&format!("+49151000000{n:02}"), &format!("good {n}"), 0)[0])
        )
    };
    let tpdu = delivers("+4915100000099", "zzzzzzzzzz", 0).remove(0);
    let line = format!("00{}", hex(&tpdu));
    // The user data length claims 160 septets; ten came.
    let mut long_udl = tpdu.clone();
    let udl = long_udl.len() - 9 - 1;
    assert_eq!(long_udl[udl], 10, "the UDL octet of 10 septets (9 octets)");
    long_udl[udl] = 160;
    // TP-UDHI set: the first octet of the text ('z', 0x7a) becomes a
    // header length of 122 in 9 octets of user data.
    let mut udh_beyond = tpdu.clone();
    udh_beyond[0] |= 0x40;
    let mut non_hex = line.clone();
    non_hex.replace_range(10..11, "G");
    let bad: Vec<(&str, String)> = vec![
        ("truncated", line[..line.len() / 2].to_owned()),
        (
            "user data length beyond the data",
            format!("00{}", hex(&long_udl)),
        ),
        (
            "header beyond the user data",
            format!("00{}", hex(&udh_beyond)),
        ),
        (
            "odd number of hex digits",
            line[..line.len() - 1].to_owned(),
        ),
        ("not hex", non_hex),
        ("SMSC length beyond the PDU", format!("FF{}", hex(&tpdu))),
    ];
    let mut events = h.emulator.subscribe();
    let mut slots = 0;
    let inject_good = |h: &Harness, n: u8| {
        let tpdu = simgate::pdu::hex::decode(&good(n)[2..]).unwrap();
        h.emulator.inject_deliver(&tpdu).unwrap();
    };
    inject_good(&h, 1);
    slots += 1;
    for (index, (_, line)) in bad.iter().enumerate() {
        h.emulator
            .inject_raw_line(line, line.len() / 2 - 1)
            .unwrap();
        slots += 1;
        if index == 2 {
            inject_good(&h, 2);
            slots += 1;
        }
    }
    inject_good(&h, 3);
    slots += 1;
    deletions(&mut events, slots).await;
    let mut texts = Vec::new();
    for _ in 0..3 {
        for file in h.received().await {
            texts.push(h.inbox(&file));
        }
    }
    texts.sort();
    assert_eq!(texts, ["good 1", "good 2", "good 3"]);
    assert!(h.emulator.stored().is_empty(), "{:?}", h.emulator.stored());
    let kept = undecodable(&h);
    assert_eq!(kept.len(), bad.len(), "one row per bad PDU: {kept:?}");
    for ((what, line), (raw, reason)) in bad.iter().zip(&kept) {
        assert!(
            raw.eq_ignore_ascii_case(line),
            "{what}: kept {raw:?}, sent {line:?}"
        );
        assert!(!reason.is_empty(), "{what}: a reason");
    }
    // Still up and reading.
    inject_good(&h, 4);
    assert_eq!(next_text(&mut h).await, "good 4");
    h.stop().await;
}

/// The text of the next message written to the inbox (its first file).
async fn next_text(h: &mut Harness) -> String {
    let files = h.received().await;
    h.inbox(&files[0])
}

fn hex(bytes: &[u8]) -> String {
    simgate::pdu::hex::encode(bytes)
}

/// A modem that will not store messages routes them raw: `+CMT` and
/// `+CDS` are recorded like stored ones, acknowledged where the modem
/// expects it (this one, in `+CSMS` service 0, does not: simgate learns
/// that from its first `AT+CNMA`), and a broken `+CMT` is kept raw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_routed_raw_are_received() {
    let mut modem = EmulatorConfig::new(Profile::Generic);
    modem.raw_delivery_only = true;
    let mut h = Harness::start_on("routed", modem, |_| {}).await;
    let commands = h.emulator.commands();
    assert!(
        commands.iter().any(|c| c.starts_with("AT+CNMI=2,2,")),
        "a CNMI setting that routes raw: {commands:?}"
    );
    for n in 1..=2u8 {
        let text = format!("routed {n}");
        let routed = h
            .emulator
            .inject_deliver(&delivers("+4915100000010", &text, 0)[0])
            .unwrap();
        assert_eq!(routed, None, "delivered as +CMT, not stored");
        assert_eq!(next_text(&mut h).await, text);
    }
    let cnma = h
        .emulator
        .commands()
        .iter()
        .filter(|c| c.as_str() == "AT+CNMA")
        .count();
    assert_eq!(cnma, 1, "asked once, then learnt that no +CNMA is expected");

    // A delivery report as +CDS, matched to the message it reports on.
    let outbox = h.dir("outbox");
    std::fs::write(outbox.join(".tmp"), b"report this").unwrap();
    std::fs::rename(outbox.join(".tmp"), outbox.join("OUT+4917612345678.txtd")).unwrap();
    let references = match h.wait_for(|e| matches!(e, DaemonEvent::Sent { .. })).await {
        DaemonEvent::Sent { references, .. } => references,
        _ => unreachable!(),
    };
    let report = delivered_report(references[0], "+4917612345678");
    assert_eq!(h.emulator.inject_status_report(&report).unwrap(), None);
    assert_eq!(next_text(&mut h).await, "Delivered");
    let db = rusqlite::Connection::open(h.dir("simgate.db")).unwrap();
    let outcome: String = db
        .query_row(
            "SELECT report_outcome FROM outgoing_part WHERE message_ref = ?1",
            [references[0]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(outcome, "delivered");

    // A +CMT whose PDU line is not hex: kept raw, and the next one arrives.
    h.emulator.send_noise("+CMT: ,20\r\n0791GG");
    h.emulator
        .inject_deliver(&delivers("+4915100000010", "after the broken one", 0)[0])
        .unwrap();
    assert_eq!(next_text(&mut h).await, "after the broken one");
    let kept = undecodable(&h);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].0.contains("0791GG"), "{kept:?}");
    assert!(h.emulator.stored().is_empty());
    h.stop().await;
}

/// A concatenated message whose middle part never comes is written with
/// the parts it has once MultipartTimeout has passed, and recorded as
/// incomplete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incomplete_message_is_written_after_the_timeout() {
    let mut h = Harness::start_with("incomplete", Profile::Generic, |config| {
        config.receive.multipart_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let text = "Three parts were sent and only two of them will ever arrive here. ".repeat(5);
    let parts = delivers("+4915188888801", &text, 7);
    assert_eq!(parts.len(), 3);
    let mut events = h.emulator.subscribe();
    let started = std::time::Instant::now();
    h.emulator.inject_deliver(&parts[0]).unwrap();
    h.emulator.inject_deliver(&parts[2]).unwrap();
    deletions(&mut events, 2).await;
    let files = h.received().await;
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(1),
        "written after the timeout, not before: {waited:?}"
    );
    assert_eq!(files.len(), 2, "{files:?}");
    let plan = plan_text(&text, EncodingPolicy::Auto).unwrap();
    let expected = [plan.parts[0].text().unwrap(), plan.parts[2].text().unwrap()];
    let got: Vec<String> = files.iter().map(|f| h.inbox(f)).collect();
    assert_eq!(got, expected);
    let db = rusqlite::Connection::open(h.dir("simgate.db")).unwrap();
    let complete: i64 = db
        .query_row("SELECT complete FROM incoming", [], |r| r.get(0))
        .unwrap();
    assert_eq!(complete, 0, "recorded as incomplete");
    // The missing part arriving late is a message of its own, not a rewrite.
    h.emulator.inject_deliver(&parts[1]).unwrap();
    let late = h.received().await;
    assert_eq!(late.len(), 1);
    assert_eq!(h.inbox(&late[0]), plan.parts[1].text().unwrap());
    h.stop().await;
}

/// Messages left on the SIM (here by the sender filter) fill it: simgate
/// warns once when it is 80 % full, and goes on receiving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nearly_full_sim_is_reported_once() {
    let mut modem = EmulatorConfig::new(Profile::Generic);
    modem.storage_capacity = 10;
    let mut h = Harness::start_on("nearly-full", modem, |config| {
        config.filters.exclude_numbers = vec!["+4915100000001".to_owned()];
    })
    .await;
    let mut warnings = Vec::new();
    for n in 0..9u8 {
        h.emulator
            .inject_deliver(&delivers("+4915100000001", &format!("kept {n}"), 0)[0])
            .unwrap();
        h.emulator
            .inject_deliver(&delivers("+4915100000002", &format!("wanted {n}"), 0)[0])
            .unwrap();
        // Everything up to this message's arrival, in order.
        loop {
            match h
                .wait_for(|e| {
                    matches!(
                        e,
                        DaemonEvent::Received { .. } | DaemonEvent::StorageNearlyFull { .. }
                    )
                })
                .await
            {
                DaemonEvent::Received { files } => {
                    assert_eq!(h.inbox(&files[0]), format!("wanted {n}"));
                    break;
                }
                DaemonEvent::StorageNearlyFull { used, total } => warnings.push((n, used, total)),
                _ => unreachable!(),
            }
        }
    }
    // The eighth kept message makes 8 of 10; a wanted message stored while
    // a read was under way counts too (7 kept and it, or 8 and it): one
    // warning, not one per read, and only once 80 % was reached.
    assert!(
        matches!(warnings.as_slice(), [(6 | 7, 8 | 9, 10)]),
        "{warnings:?}"
    );
    assert_eq!(h.emulator.stored().len(), 9);
    h.stop().await;
}

/// A daemon killed right after recording a part, before writing its
/// message: the next one writes it, once. One such message is still on the
/// SIM (read again and found known); one came as `+CMT` and is only in the
/// database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_recorded_before_a_crash_are_written_after_restart() {
    let mut h = Harness::start("recorded", Profile::Generic).await;
    h.stop_daemon().await;
    h.emulator
        .inject_deliver(&delivers("+4915100000021", "on the SIM", 0)[0])
        .unwrap();
    let on_sim = h.emulator.stored().remove(0).pdu;
    let routed = [
        vec![0x00],
        delivers("+4915100000022", "only recorded", 0).remove(0),
    ]
    .concat();
    {
        let mut store = simgate::store::Store::open(&h.dir("simgate.db")).unwrap();
        for (pdu, sender) in [(&on_sim, "+4915100000021"), (&routed, "+4915100000022")] {
            store
                .add_incoming_part(&hex(pdu), pdu, sender, None, 0)
                .unwrap();
        }
    }
    let mut events = h.emulator.subscribe();
    // Both are written at start, before the modem is even ready; then the
    // copy on the SIM is read, found known, and deleted.
    let h = h.restart().await;
    deletions(&mut events, 1).await;
    assert!(h.emulator.stored().is_empty());
    let mut texts: Vec<String> = std::fs::read_dir(h.dir("inbox"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    texts.sort();
    assert_eq!(texts, ["on the SIM", "only recorded"]);
    assert_eq!(std::fs::read_dir(h.dir("inbox")).unwrap().count(), 2);
    let db = rusqlite::Connection::open(h.dir("simgate.db")).unwrap();
    let messages: i64 = db
        .query_row("SELECT COUNT(*) FROM incoming", [], |r| r.get(0))
        .unwrap();
    assert_eq!(messages, 2);
    h.stop().await;
}

/// Messages already stored when simgate starts are read from every storage
/// the modem offers, not only the one simgate chose for new messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_in_every_storage_are_read_at_start() {
    let mut h = Harness::start("storages", Profile::Generic).await;
    h.stop_daemon().await;
    h.emulator
        .preload(
            "ME",
            &delivers("+4915100000031", "left in the phone memory", 0)[0],
        )
        .unwrap();
    h.emulator
        .preload("SM", &delivers("+4915100000032", "left on the SIM", 0)[0])
        .unwrap();
    let mut events = h.emulator.subscribe();
    let h = h.restart().await;
    deletions(&mut events, 2).await;
    assert!(h.emulator.stored().is_empty(), "{:?}", h.emulator.stored());
    let mut texts: Vec<String> = std::fs::read_dir(h.dir("inbox"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    texts.sort();
    assert_eq!(texts, ["left in the phone memory", "left on the SIM"]);
    h.stop().await;
}

/// The user's own messages a phone left on its SIM, SMS-SUBMITs stored
/// sent (`<stat>` 3) and unsent (2, a draft), are not the network's: they
/// stay on the SIM, as gammu leaves them (spec §5.6), and are not kept as
/// undecodable. So does an SMS-SUBMIT a modem lists as received (`<stat>`
/// 1): its message type says what it is. The message from the network
/// beside them is received and deleted, and a later one too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_own_messages_on_the_sim_are_left_alone() {
    use simgate::pdu::{SmsSubmit, SubmitOptions};
    let submit = |to: &str, text: &str| {
        let plan = plan_text(text, EncodingPolicy::Auto).unwrap();
        let options = SubmitOptions::new(Address::parse_number(to).unwrap());
        SmsSubmit::from_plan(&plan, &options)[0]
            .encode(None)
            .unwrap()
            .tpdu()
            .to_vec()
    };
    let mut h = Harness::start("own-messages", Profile::QuectelEc25).await;
    h.stop_daemon().await;
    let sent = h
        .emulator
        .preload_outgoing("SM", 3, &submit("+4915100000041", "sent from my phone"))
        .unwrap();
    let draft = h
        .emulator
        .preload_outgoing("SM", 2, &submit("+4915100000042", "a draft"))
        .unwrap();
    let odd = h
        .emulator
        .preload_outgoing("SM", 1, &submit("+4915100000043", "listed as read"))
        .unwrap();
    h.emulator
        .preload("SM", &delivers("+4915100000044", "from the network", 0)[0])
        .unwrap();
    let own = [(sent, 3), (draft, 2), (odd, 1)];
    let still_stored = |h: &Harness| {
        let mut left: Vec<(u32, u8)> = h
            .emulator
            .stored()
            .into_iter()
            .map(|entry| (entry.index, entry.status))
            .collect();
        left.sort();
        left
    };
    let mut h = h.restart().await;
    // The round that read them ends with the message it received.
    let files = h.received().await;
    assert_eq!(h.inbox(&files[0]), "from the network");
    assert_eq!(still_stored(&h), own, "the user's own messages stay");
    assert_eq!(undecodable(&h), [], "nothing kept as undecodable");
    // They do not stand in the way of the next message either.
    h.emulator
        .inject_deliver(&delivers("+4915100000045", "and another", 0)[0])
        .unwrap();
    assert_eq!(next_text(&mut h).await, "and another");
    assert_eq!(still_stored(&h), own);
    let deleted: Vec<String> = h
        .emulator
        .commands()
        .into_iter()
        .filter(|command| command.starts_with("AT+CMGD="))
        .collect();
    for (index, _) in own {
        assert!(
            !deleted.iter().any(|c| c
                .strip_prefix("AT+CMGD=")
                .and_then(|rest| rest.split(',').next())
                == Some(index.to_string().as_str())),
            "slot {index} deleted: {deleted:?}"
        );
    }
    assert_eq!(undecodable(&h), []);
    h.stop().await;
}

/// A modem in `+CSMS` service 1 (phase 2+) waits for `+CNMA` after every
/// routed message, or the network delivers it again: each one is
/// acknowledged, after it was recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_messages_are_acknowledged_where_the_modem_expects_it() {
    let mut modem = EmulatorConfig::new(Profile::Generic);
    modem.raw_delivery_only = true;
    modem.phase2plus = true;
    let mut h = Harness::start_on("acknowledged", modem, |_| {}).await;
    let mut events = h.emulator.subscribe();
    for n in 1..=3u8 {
        let text = format!("acknowledge {n}");
        h.emulator
            .inject_deliver(&delivers("+4915100000040", &text, 0)[0])
            .unwrap();
        assert_eq!(next_text(&mut h).await, text);
        loop {
            let event = tokio::time::timeout(std::time::Duration::from_secs(30), events.recv())
                .await
                .expect("an acknowledgement within 30 s")
                .unwrap();
            if event == EmulatorEvent::Acknowledged {
                break;
            }
        }
    }
    let cnma = h
        .emulator
        .commands()
        .iter()
        .filter(|c| c.as_str() == "AT+CNMA")
        .count();
    assert_eq!(cnma, 3);
    h.stop().await;
}

/// `DeliveryReport = log`, as gammu: the report is recorded and logged, not
/// stored in the inbox, and RunOnReceive still runs, with no file argument
/// and the report in its environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_delivery_report_log_the_hook_runs_without_a_file() {
    let out = std::env::temp_dir().join(format!("simgate-log-hook-{}", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let command = format!(
        "printf 'args=%s number=%s reference=%s\\n' \"$#\" \"$SMS_1_NUMBER\" \"$SMS_1_REFERENCE\" >>{}",
        out.display()
    );
    let mut h = Harness::start_with("report-log", Profile::Generic, |config| {
        config.receive.delivery_report = simgate::config::DeliveryReport::Log;
        config.hooks.run_on_receive = Some(command);
    })
    .await;
    let report = delivered_report(42, "+4917612345678");
    h.emulator.inject_status_report(&report).unwrap();
    assert!(h.received().await.is_empty(), "no inbox file");
    // The hook runs in its own task: wait for its line, boundedly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&out).unwrap_or_default().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "RunOnReceive did not run"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "args=0 number=+4917612345678 reference=42\n"
    );
    assert_eq!(std::fs::read_dir(h.dir("inbox")).unwrap().count(), 0);
    assert!(h.emulator.stored().is_empty());
    let _ = std::fs::remove_file(&out);
    h.stop().await;
}

/// RunOnReceive runs once per message, across restarts: a hook a killed
/// simgate never started is started after the restart; one that was
/// started is not started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_not_started_before_a_crash_runs_after_the_restart() {
    let out = std::env::temp_dir().join(format!("simgate-hook-restart-{}", std::process::id()));
    let _ = std::fs::remove_file(&out);
    // simgate adds the file names as arguments ("$@").
    let command = format!("printf '%s\\n' >>{}", out.display());
    let configure = |config: &mut simgate::config::Config| {
        config.hooks.run_on_receive = Some(command.clone());
    };
    // The hook's lines, once there are `count` of them.
    let lines = |count: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            if lines.len() >= count {
                return lines;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "hook lines: {lines:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let mut h = Harness::start_with("hook-restart", Profile::Generic, configure).await;
    h.emulator
        .inject_deliver(&delivers("+4915100000051", "first", 0)[0])
        .unwrap();
    let first = h.received().await;
    assert_eq!(lines(1), first);
    h.stop_daemon().await;
    // As if simgate had been killed after writing the file, before the hook.
    let db = rusqlite::Connection::open(h.dir("simgate.db")).unwrap();
    let started: String = db
        .query_row("SELECT hook FROM incoming", [], |r| r.get(0))
        .unwrap();
    assert_eq!(started, "started");
    db.execute("UPDATE incoming SET hook = 'pending'", [])
        .unwrap();
    let mut h = h.restart_with(configure).await;
    assert_eq!(lines(2), [first[0].clone(), first[0].clone()]);
    // Started now: another restart leaves it; the next message's hook is
    // the only new line.
    let mut h = {
        h.stop_daemon().await;
        h.restart_with(configure).await
    };
    h.emulator
        .inject_deliver(&delivers("+4915100000052", "second", 0)[0])
        .unwrap();
    let second = h.received().await;
    let all = lines(3);
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[2], second[0]);
    let _ = std::fs::remove_file(&out);
    h.stop().await;
}

/// Waits for `count` messages written to the inbox; each one's file names,
/// sorted by the first name (so by time stamp, then sender).
async fn messages(h: &mut Harness, count: usize) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for _ in 0..count {
        all.push(h.received().await);
    }
    all.sort();
    all
}

/// Two senders whose phones happened to choose the same concatenation
/// reference and part count make two messages, each of its own sender's
/// parts only: when both complete (parts interleaved on the SIM) and when
/// both are written incomplete after the multipart timeout. (gammu 1.42
/// links parts by reference and count alone: it writes A's part 1 with B's
/// part 2 as one message.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_with_the_same_reference_make_two_messages() {
    let mut h = Harness::start_with("same-reference", Profile::Generic, |config| {
        config.receive.multipart_timeout = std::time::Duration::from_secs(2);
    })
    .await;
    let a_text = "Alice writes a message long enough for two parts. ".repeat(4);
    let b_text = "Bob's message, also two parts, same reference 0x42! ".repeat(4);
    let a = delivers("+4915100000061", &a_text, 0x42);
    let b = delivers("+4915100000062", &b_text, 0x42);
    assert_eq!((a.len(), b.len()), (2, 2));
    for part in [&a[0], &b[1], &b[0], &a[1]] {
        h.emulator.inject_deliver(part).unwrap();
    }
    let written = messages(&mut h, 2).await;
    let texts: Vec<String> = written
        .iter()
        .map(|files| files.iter().map(|f| h.inbox(f)).collect())
        .collect();
    // Part 0 of both is stamped second 0: names sort by sender.
    assert_eq!(texts, [a_text.clone(), b_text.clone()]);
    for (files, sender) in written.iter().zip(["+4915100000061", "+4915100000062"]) {
        assert_eq!(files.len(), 2, "{files:?}");
        for (index, file) in files.iter().enumerate() {
            assert!(
                file.ends_with(&format!("_00_{sender}_{index:02}.txt")),
                "{file} is not part {index} of {sender}"
            );
        }
    }

    // Both incomplete: C has parts 1 and 3 of 3, D parts 1 and 2 of 3.
    let c_text = "Carol sends three parts; the second one gets lost. ".repeat(7);
    let d_text = "Dave sends three parts too; his third never comes. ".repeat(7);
    let c = delivers("+4915100000063", &c_text, 0x43);
    let d = delivers("+4915100000064", &d_text, 0x43);
    assert_eq!((c.len(), d.len()), (3, 3));
    for part in [&c[0], &d[1], &d[0], &c[2]] {
        h.emulator.inject_deliver(part).unwrap();
    }
    let written = messages(&mut h, 2).await;
    let part_texts = |text: &str, indices: [usize; 2]| -> Vec<String> {
        let plan = plan_text(text, EncodingPolicy::Auto).unwrap();
        indices
            .iter()
            .map(|&i| plan.parts[i].text().unwrap().to_owned())
            .collect()
    };
    let got: Vec<Vec<String>> = written
        .iter()
        .map(|files| files.iter().map(|f| h.inbox(f)).collect())
        .collect();
    assert_eq!(
        got,
        [part_texts(&c_text, [0, 2]), part_texts(&d_text, [0, 1])]
    );
    assert!(written[0][0].contains("_+4915100000063_00"), "{written:?}");
    assert!(written[1][0].contains("_+4915100000064_00"), "{written:?}");
    let db = rusqlite::Connection::open(h.dir("simgate.db")).unwrap();
    let incomplete: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM incoming WHERE complete = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(incomplete, 2);
    assert!(h.emulator.stored().is_empty());
    h.stop().await;
}

/// An SMSC field for PDU lines the tests list raw: +491710760000.
const SMSC_FIELD: &str = "07919471016700F0";

/// The PDUs the database recorded as parts, in arrival order.
fn recorded_parts(h: &Harness) -> Vec<Vec<u8>> {
    let db = rusqlite::Connection::open(h.dir("simgate.db")).unwrap();
    let mut statement = db
        .prepare("SELECT pdu FROM incoming_part ORDER BY id")
        .unwrap();
    let rows = statement
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<Vec<u8>>, _>>()
        .unwrap();
    rows
}

/// Some modems pad the PDU line after the message (with `FF`, or `00`,
/// which gammu 1.42 cannot read past and retries forever): the `<length>`
/// they list says where the message ends. The message arrives whole, the
/// database keeps it as it was without the padding, and the same padded
/// line read again (its delete failed, simgate restarted) is recognised:
/// no second file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn padding_after_the_listed_length_is_not_the_message() {
    let mut h = Harness::start("padded", Profile::Generic).await;
    let mut sent = Vec::new();
    for (n, pad) in [
        (1u8, "FF".repeat(8)),
        (2, "00".repeat(3)),
        (3, "FF".to_owned()),
    ] {
        let text = format!("padded {n}");
        let tpdu = delivers(&format!("+49151000000{}", 70 + n), &text, 0).remove(0);
        let line = format!("{SMSC_FIELD}{}{pad}", hex(&tpdu));
        sent.push(simgate::pdu::hex::decode(&format!("{SMSC_FIELD}{}", hex(&tpdu))).unwrap());
        if n == 3 {
            // The third one's delete fails: it stays on the SIM.
            h.emulator.inject_fault(simgate::emulator::Fault::CmeError {
                command_prefix: "AT+CMGD".to_owned(),
                code: 100,
                times: simgate::emulator::Times::Once,
            });
            let mut events = h.emulator.subscribe();
            h.emulator.inject_raw_line(&line, tpdu.len()).unwrap();
            loop {
                if let EmulatorEvent::CommandReceived(command) = events.recv().await.unwrap() {
                    if command.starts_with("AT+CMGD") {
                        break;
                    }
                }
            }
            break;
        }
        h.emulator.inject_raw_line(&line, tpdu.len()).unwrap();
        assert_eq!(next_text(&mut h).await, text);
    }
    h.stop_daemon().await;
    assert_eq!(h.emulator.stored().len(), 1, "the third one is still there");
    assert_eq!(recorded_parts(&h), sent, "recorded without the padding");
    let mut events = h.emulator.subscribe();
    let h = h.restart().await;
    deletions(&mut events, 1).await;
    assert!(h.emulator.stored().is_empty());
    let mut texts: Vec<String> = std::fs::read_dir(h.dir("inbox"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    texts.sort();
    assert_eq!(texts, ["padded 1", "padded 2", "padded 3"]);
    assert_eq!(recorded_parts(&h), sent, "nothing recorded twice");
    assert!(undecodable(&h).is_empty(), "{:?}", undecodable(&h));
    h.stop().await;
}

/// Seconds since the epoch, now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A service centre time stamp that is no date (month 13, hour 25,
/// 30 February, a digit A) does not cost the message: it is written, named
/// by the time simgate read it. (gammu 1.42 names it by the impossible
/// fields, the year zeroed: `IN001314_110300_00_…`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_stamp_that_is_no_date_dates_the_message_by_its_reception() {
    let mut h = Harness::start("no-date", Profile::Generic).await;
    let no_dates = [
        [0x62, 0x31, 0x41, 0x11, 0x30, 0x00, 0x40],
        [0x62, 0x30, 0x41, 0x52, 0x30, 0x00, 0x40],
        [0x62, 0x20, 0x03, 0x11, 0x30, 0x00, 0x40],
        [0x62, 0x30, 0x41, 0x11, 0x30, 0xA0, 0x40],
    ];
    for (n, octets) in no_dates.into_iter().enumerate() {
        let text = format!("no date {n}");
        let sender = format!("+49151000000{}", 80 + n);
        let plan = plan_text(&text, EncodingPolicy::Auto).unwrap();
        let from = Address::parse_number(&sender).unwrap();
        let mut deliver = SmsDeliver::from_plan(&plan, &from, stamp(0), 0).remove(0);
        deliver.timestamp = simgate::pdu::Scts::Invalid(octets);
        let before = unix_now();
        h.emulator
            .inject_deliver(&deliver.encode().unwrap())
            .unwrap();
        let files = h.received().await;
        let after = unix_now();
        assert_eq!(h.inbox(&files[0]), text);
        let named_then = |seconds: i64| {
            let t = Timestamp::from_unix_seconds(seconds);
            format!(
                "IN{:04}{:02}{:02}_{:02}{:02}{:02}_00_{sender}_00.txt",
                t.year, t.month, t.day, t.hour, t.minute, t.second
            )
        };
        assert!(
            (before..=after).any(|seconds| files[0] == named_then(seconds)),
            "{} is not named by a time between {} and {}",
            files[0],
            named_then(before),
            named_then(after)
        );
    }
    assert!(undecodable(&h).is_empty(), "{:?}", undecodable(&h));
    assert!(h.emulator.stored().is_empty());
    h.stop().await;
}

/// User data in an alphabet simgate cannot decode (compressed, reserved
/// schemes) is never an empty text file: it is kept as it came, as 8-bit
/// data, `.bin` with the octets after the header, like an 8-bit message.
/// (gammu 1.42 does so for reserved schemes; a compressed message it
/// cannot read at all, and it stays on the SIM.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_data_simgate_cannot_decode_is_kept_as_it_came() {
    let mut h = Harness::start("undecoded", Profile::Generic).await;
    let data = vec![0x11, 0x22, 0x00, 0xFF, 0x7F];
    let plan = simgate::pdu::plan_binary(&data).unwrap();
    for (n, raw) in [0x20u8, 0x28, 0x0C, 0x80, 0xB1].into_iter().enumerate() {
        let sender = format!("+49151000000{}", 90 + n);
        let from = Address::parse_number(&sender).unwrap();
        let mut deliver = SmsDeliver::from_plan(&plan, &from, stamp(n as u8), 0).remove(0);
        // The octet as the network sent it, the user data octets as they are.
        deliver.dcs = simgate::pdu::DataCodingScheme { raw, ..deliver.dcs };
        h.emulator
            .inject_deliver(&deliver.encode().unwrap())
            .unwrap();
        let files = h.received().await;
        assert_eq!(
            files,
            [format!("IN20261125_2001{n:02}_00_{sender}_00.bin")],
            "{raw:#04x}"
        );
        let written = std::fs::read(h.dir("inbox").join(&files[0])).unwrap();
        assert_eq!(written, data, "{raw:#04x}");
    }
    // Compressed parts of a concatenated message: each file holds the
    // octets after that part's header.
    let sender = "+4915100000095";
    let plan = simgate::pdu::plan_binary(&[0xAB; 200]).unwrap();
    let from = Address::parse_number(sender).unwrap();
    let mut bodies = Vec::new();
    for mut deliver in SmsDeliver::from_plan(&plan, &from, stamp(9), 7) {
        deliver.dcs = simgate::pdu::DataCodingScheme {
            raw: 0x24,
            ..deliver.dcs
        };
        match &deliver.user_data.body {
            simgate::pdu::Body::Binary(body) => bodies.push(body.clone()),
            other => panic!("{other:?}"),
        }
        h.emulator
            .inject_deliver(&deliver.encode().unwrap())
            .unwrap();
    }
    let files = h.received().await;
    assert_eq!(files.len(), 2, "{files:?}");
    for (file, body) in files.iter().zip(&bodies) {
        assert!(file.ends_with(".bin"), "{file}");
        assert_eq!(&std::fs::read(h.dir("inbox").join(file)).unwrap(), body);
    }
    assert!(undecodable(&h).is_empty(), "{:?}", undecodable(&h));
    h.stop().await;
}

/// The two SMS-DELIVER TPDUs of `Ж`×66 + `😀 end` from `from` as a phone
/// that cuts inside a surrogate pair sends them: 67 UTF-16 units in part 1,
/// the last one the emoji's high surrogate, part 2 starting with its low
/// surrogate.
fn split_emoji(from: &str) -> (String, Vec<Vec<u8>>) {
    let text = format!("{}😀 end", "Ж".repeat(66));
    let plan = plan_text(&text, EncodingPolicy::Auto).unwrap();
    let from = Address::parse_number(from).unwrap();
    let mut parts = SmsDeliver::from_plan(&plan, &from, stamp(0), 0x55);
    assert_eq!(parts.len(), 2, "the planner itself never splits a pair");
    parts[0].user_data.split.trailing = Some(0xD83D);
    parts[1].user_data.body = simgate::pdu::Body::Text(" end".into());
    parts[1].user_data.split.leading = Some(0xDE00);
    parts[1].timestamp = stamp(1).into();
    let tpdus: Vec<Vec<u8>> = parts.iter().map(|p| p.encode().unwrap()).collect();
    assert!(hex(&tpdus[0]).ends_with("0416D83D") && hex(&tpdus[1]).contains("DE000020"));
    (text, tpdus)
}

/// An emoji the sender's phone split between two parts of a UCS-2
/// message (high surrogate at the end of part 1, low at the start of
/// part 2) comes out whole: in `standard` and `unicode` files the pair is
/// in part 1's file, in `detail` files the comment shows it there and the
/// `TextNN` units stay as they came; RunOnReceive gets each part's text
/// and the whole text exact. (gammu 1.42 writes U+FFFD and `?` in
/// `standard` files, the halves apart in `unicode` files.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emoji_split_between_two_parts_comes_out_whole() {
    use simgate::config::FileFormat;
    let out = std::env::temp_dir().join(format!("simgate-split-hook-{}", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let sender = "+4915100000100";
    let (text, tpdus) = split_emoji(sender);
    let first = format!("{}😀", "Ж".repeat(66));
    let names = [
        format!("IN20261125_200100_00_{sender}_00.txt"),
        format!("IN20261125_200101_00_{sender}_01.txt"),
    ];
    for format in [
        FileFormat::Standard,
        FileFormat::Unicode,
        FileFormat::Detail,
    ] {
        // A function, so the file names simgate appends are its arguments.
        let hook = format!(
            "texts() {{ printf '%s\\n' \"$DECODED_1_TEXT\" \"$SMS_1_TEXT\" \"$SMS_2_TEXT\" >{}; }}; texts",
            out.display()
        );
        let mut h = Harness::start_with(&format!("split-{format:?}"), Profile::Generic, |c| {
            c.spool.inbox_format = format;
            c.hooks.run_on_receive = Some(hook);
        })
        .await;
        for tpdu in &tpdus {
            h.emulator.inject_deliver(tpdu).unwrap();
        }
        let files = h.received().await;
        let read = |name: &str| std::fs::read(h.dir("inbox").join(name)).unwrap();
        match format {
            FileFormat::Standard => {
                assert_eq!(files, names);
                assert_eq!(read(&files[0]), first.as_bytes());
                assert_eq!(read(&files[1]), b" end");
            }
            FileFormat::Unicode => {
                let utf16 = |text: &str| -> Vec<u8> {
                    [0xFE, 0xFF]
                        .into_iter()
                        .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
                        .collect()
                };
                assert_eq!(files, names);
                assert_eq!(read(&files[0]), utf16(&first));
                assert_eq!(read(&files[1]), utf16(" end"));
            }
            _ => {
                assert_eq!(files, names[..1]);
                let detail = String::from_utf8(read(&files[0])).unwrap();
                let units = "0416".repeat(66);
                for wanted in [
                    format!("Text01 = {}D83D\r\n", &units[200..]),
                    "😀\nSMSC = ".to_owned(),
                    "[SMSBackup001]\n;  end\nSMSC = ".to_owned(),
                    "Text00 = DE0000200065006E0064\r\n".to_owned(),
                    "Length = 67\n".to_owned(),
                    "Length = 5\n".to_owned(),
                ] {
                    assert!(detail.contains(&wanted), "{wanted:?} in {detail}");
                }
            }
        }
        // Each file is valid text on its own, and together they are the text.
        let joined: Option<String> = match format {
            FileFormat::Standard => Some(files.iter().map(|f| h.inbox(f)).collect()),
            FileFormat::Unicode => Some(
                files
                    .iter()
                    .map(|f| {
                        let units: Vec<u16> = read(f)[2..]
                            .chunks(2)
                            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                            .collect();
                        String::from_utf16(&units).unwrap()
                    })
                    .collect(),
            ),
            _ => None,
        };
        if let Some(joined) = joined {
            assert_eq!(joined, text);
        }
        // The hook runs in its own task: wait for its lines, boundedly.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let lines = loop {
            let written = std::fs::read_to_string(&out).unwrap_or_default();
            if written.lines().count() == 3 {
                break written;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "hook output: {written:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(lines, format!("{text}\n{first}\n end\n"), "{format:?}");
        let _ = std::fs::remove_file(&out);
        h.stop().await;
    }
}

/// What simgate delivers despite a flaw it says in its log, as `simgate
/// run` writes it: a time stamp that is no date (and the octets it had),
/// user data it kept undecoded (and why).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaws_of_delivered_messages_are_logged() {
    let emulator = simgate::emulator::Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = std::env::temp_dir().join(format!("simgate-flaws-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let (config, log) = (root.join("simgate.toml"), root.join("simgate.log"));
    std::fs::write(
        &config,
        format!(
            "[modem]\ndevice = \"{device}\"\n\n[spool]\ninbox = \"{root}/inbox\"\n\
             outbox = \"{root}/outbox\"\nsent = \"{root}/sent\"\nerror = \"{root}/error\"\n\n\
             [database]\npath = \"{root}/simgate.db\"\n\n[log]\nlevel = \"info\"\nfile = \"{log}\"\n",
            device = emulator.path().display(),
            root = root.display(),
            log = log.display(),
        ),
    )
    .unwrap();
    let mut no_date = SmsDeliver::decode(&delivers("+4915100000111", "no date", 0)[0]).unwrap();
    no_date.timestamp = simgate::pdu::Scts::Invalid([0x62, 0x31, 0x41, 0x11, 0x30, 0x00, 0x40]);
    let mut compressed = SmsDeliver::from_plan(
        &simgate::pdu::plan_binary(&[1, 2, 3]).unwrap(),
        &Address::parse_number("+4915100000112").unwrap(),
        stamp(0),
        0,
    )
    .remove(0);
    compressed.dcs = simgate::pdu::DataCodingScheme {
        raw: 0x20,
        ..compressed.dcs
    };
    // Stored before simgate starts: read at start.
    for deliver in [&no_date, &compressed] {
        emulator.inject_deliver(&deliver.encode().unwrap()).unwrap();
    }
    let mut child = crate::support::spawn_simgate(&config, &log, None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let wanted = [
        "the service centre time stamp is not a date; the message is dated by its reception",
        "not a date (62314111300040)",
        "the user data is kept undecoded, as 8-bit data",
        "the user data is compressed (3GPP TS 23.042), which simgate does not decompress",
    ];
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let files = std::fs::read_dir(root.join("inbox")).unwrap().count();
        if files == 2 && wanted.iter().all(|line| text.contains(line)) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("simgate exited ({status}): {text}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{files} inbox files; log: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().await.unwrap();
    emulator.stop().await;
    let _ = std::fs::remove_dir_all(&root);
}

/// A delivery report whose time stamps are no date is matched and stored
/// all the same, its file named by the time simgate read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_report_whose_time_stamps_are_no_date_is_kept() {
    let mut h = Harness::start("report-no-date", Profile::SierraMc7455).await;
    let outbox = h.dir("outbox");
    std::fs::write(outbox.join(".tmp"), b"please confirm").unwrap();
    std::fs::rename(outbox.join(".tmp"), outbox.join("OUT+4917612345678.txtd")).unwrap();
    let references = match h.wait_for(|e| matches!(e, DaemonEvent::Sent { .. })).await {
        DaemonEvent::Sent { references, .. } => references,
        _ => unreachable!(),
    };
    let mut report =
        StatusReport::decode(&delivered_report(references[0], "+4917612345678")).unwrap();
    report.timestamp = simgate::pdu::Scts::Invalid([0x62, 0x31, 0x41, 0x11, 0x30, 0x00, 0x40]);
    report.discharge_time = simgate::pdu::Scts::Invalid([0x62, 0x11, 0x52, 0x62, 0x20, 0x03, 0x40]);
    let before = unix_now();
    h.emulator
        .inject_status_report(&report.encode().unwrap())
        .unwrap();
    let files = h.received().await;
    let after = unix_now();
    assert_eq!(h.inbox(&files[0]), "Delivered");
    let named_then = |seconds: i64| {
        let t = Timestamp::from_unix_seconds(seconds);
        format!(
            "IN{:04}{:02}{:02}_{:02}{:02}{:02}_00_+4917612345678_00.txt",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        )
    };
    assert!(
        (before..=after).any(|seconds| files[0] == named_then(seconds)),
        "{files:?}"
    );
    let db = rusqlite::Connection::open(h.dir("simgate.db")).unwrap();
    let (outcome, discharge): (String, String) = db
        .query_row(
            "SELECT report_outcome, discharge_time FROM outgoing_part WHERE message_ref = ?1",
            [references[0]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(outcome, "delivered");
    assert_eq!(discharge, "not a date (62115262200340)");
    assert!(undecodable(&h).is_empty());
    h.stop().await;
}

/// More than a hundred messages from one sender with the same time stamp
/// (a flood, or a stick that dates messages to the minute) each get a file
/// of their own: past gammu's serials 00..99 the serial grows a digit. (The
/// serial used to stop at 99, and every later message overwrote that file
/// after its copy on the SIM was deleted.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_a_hundred_messages_in_one_second_none_overwrites_another() {
    let mut h = Harness::start("serials", Profile::Generic).await;
    let count = 103;
    let mut names = std::collections::BTreeSet::new();
    for n in 0..count {
        h.emulator
            .inject_deliver(&delivers("+4915100000077", &format!("flood {n}"), 0)[0])
            .unwrap();
        names.extend(h.received().await);
    }
    assert_eq!(names.len(), count, "{names:?}");
    let texts: std::collections::BTreeSet<String> = names.iter().map(|n| h.inbox(n)).collect();
    let expected: std::collections::BTreeSet<String> =
        (0..count).map(|n| format!("flood {n}")).collect();
    assert_eq!(texts, expected);
    assert!(names.contains("IN20261125_200100_99_+4915100000077_00.txt"));
    assert!(names.contains("IN20261125_200100_102_+4915100000077_00.txt"));
    h.stop().await;
}

/// Two daemons (two modems, configured apart as gammu users run them)
/// sharing one inbox, each receiving the same message from the same sender
/// with the same time stamp (a service that texts both numbers at once):
/// both land in the inbox, under two serials, as gammu-smsd names them.
/// Before, both chose serial 00 and the second file replaced the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_sharing_an_inbox_lose_neither_of_two_messages_named_alike() {
    for round in 0..5 {
        let mut first = Harness::start(&format!("shared-inbox-a{round}"), Profile::Generic).await;
        let inbox = first.dir("inbox");
        let mut second = {
            let inbox = inbox.clone();
            Harness::start_with(
                &format!("shared-inbox-b{round}"),
                Profile::Generic,
                move |config| config.spool.inbox = inbox,
            )
            .await
        };
        let pdu = &delivers("+4915112345678", "Your code is 123456", 0)[0];
        first.emulator.inject_deliver(pdu).unwrap();
        second.emulator.inject_deliver(pdu).unwrap();
        let mut names = first.received().await;
        names.extend(second.received().await);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 2, "round {round}: both named alike: {names:?}");
        for name in &names {
            assert_eq!(
                std::fs::read_to_string(inbox.join(name)).unwrap(),
                "Your code is 123456",
                "round {round}: {name}"
            );
        }
        let mut listed: Vec<String> = std::fs::read_dir(&inbox)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        listed.sort();
        assert_eq!(listed, names, "round {round}");
        second.stop().await;
        first.stop().await;
    }
}
