//! The daemon receive path against the emulator: +CMTI, reading, multipart
//! reassembly, delivery reports, and the SIM emptied only after the inbox
//! files are on disk.

use crate::support::Harness;
use simgate::daemon::DaemonEvent;
use simgate::emulator::{EmulatorEvent, Profile};
use simgate::pdu::{
    plan_text, Address, Concatenation, DataCodingScheme, EncodingPolicy, SmsDeliver, Status,
    StatusReport, Timestamp, UserData, UserDataHeader,
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

/// The SMS-DELIVER TPDUs of `text` from `from`, concatenated when long.
fn delivers(from: &str, text: &str, reference: u16) -> Vec<Vec<u8>> {
    let plan = plan_text(text, EncodingPolicy::Auto).unwrap();
    let total = plan.parts.len();
    plan.parts
        .iter()
        .enumerate()
        .map(|(index, body)| {
            let header = (total > 1).then(|| {
                UserDataHeader::concatenation(Concatenation {
                    reference,
                    wide_reference: false,
                    total: total as u8,
                    sequence: index as u8 + 1,
                })
            });
            SmsDeliver {
                more_messages: false,
                loop_prevention: false,
                reply_path: false,
                status_report_indication: false,
                originator: Address::parse_number(from).unwrap(),
                protocol_identifier: 0,
                dcs: DataCodingScheme::decode(DataCodingScheme::encode(plan.alphabet, None)),
                timestamp: stamp(index as u8),
                user_data: UserData {
                    header,
                    body: body.clone(),
                },
            }
            .encode()
            .unwrap()
        })
        .collect()
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
    let report = StatusReport {
        more_messages: false,
        loop_prevention: false,
        for_command: false,
        message_reference: references[0],
        // The network answers with the national form of the number.
        recipient: Address::parse_number("017612345678").unwrap(),
        timestamp: stamp(0),
        discharge_time: stamp(5),
        status: Status(0),
        protocol_identifier: None,
        dcs: None,
        user_data: None,
    }
    .encode()
    .unwrap();
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
