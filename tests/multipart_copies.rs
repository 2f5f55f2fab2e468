//! Telling a part the network repeats from a new message that reuses a
//! concatenation reference. A sender may reuse one reference for every
//! long message (bulk senders do; a phone's counter wraps), and gammu-smsd
//! writes each such message. Only a group that repeats, part for part, the
//! content of a message already written is a copy, and is not written.
//! On the scripted device, with tokio's clock paused.

use crate::scripted::{stamp, Rig};
use simgate::daemon::DaemonEvent;
use simgate::pdu::{self, Address, SmsDeliver};
use std::time::Duration;

/// The TPDUs of `text` from `from`, stamped `second`, linked by `reference`.
fn parts(from: &str, text: &str, second: u8, reference: u16) -> Vec<Vec<u8>> {
    let plan = pdu::plan_text(text, pdu::EncodingPolicy::Auto).unwrap();
    let from = Address::parse_number(from).unwrap();
    SmsDeliver::from_plan(&plan, &from, stamp(second), reference)
        .iter()
        .map(|part| part.encode().unwrap())
        .collect()
}

/// The text of the files of the next message written.
async fn next_message(rig: &mut Rig) -> String {
    let DaemonEvent::Received { files } = rig
        .next(|e| matches!(e, DaemonEvent::Received { .. }))
        .await
    else {
        unreachable!()
    };
    files
        .iter()
        .map(|name| std::fs::read_to_string(rig.dir("inbox").join(name)).unwrap())
        .collect()
}

/// Two long messages from one sender with one reference, the second 20 s
/// after the first was written: both are written. Before, each part of the
/// second was taken for a repeat of the first's ("a repeated part of a
/// message already written; ignored"), and the message was lost.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_new_message_that_reuses_a_reference_is_written() {
    let mut rig = Rig::start("copies-reused-reference", |_| {}).await;
    let first = "Invoice 1001: the amount of 12.00 EUR is due on the first. ".repeat(4);
    let second = "Invoice 1002: the amount of 99.50 EUR is due on the tenth. ".repeat(4);
    let a = parts("+4915100000960", &first, 1, 34);
    let b = parts("+4915100000960", &second, 21, 34);
    assert_eq!((a.len(), b.len()), (2, 2));
    for part in &a {
        rig.device.arrive(part).await;
    }
    assert_eq!(next_message(&mut rig).await, first);
    tokio::time::sleep(Duration::from_secs(20)).await;
    for part in &b {
        rig.device.arrive(part).await;
    }
    assert_eq!(next_message(&mut rig).await, second);
    rig.stop().await;
}

/// Templated messages: the same first part, another second one. The
/// first part of the second message is not a copy either: the group it
/// makes with its own second part is not the message written before.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_message_whose_first_part_repeats_anothers_is_written_whole() {
    let mut rig = Rig::start("copies-template", |_| {}).await;
    let head = "Dear customer, this is a message about your account. ".repeat(3);
    let first = format!("{head}Your balance is 10 EUR.");
    let second = format!("{head}Your balance is 2000 EUR.");
    let a = parts("+4915100000961", &first, 1, 7);
    let b = parts("+4915100000961", &second, 11, 7);
    assert_eq!(a[0][a[0].len() - 50..], b[0][b[0].len() - 50..]);
    for part in &a {
        rig.device.arrive(part).await;
    }
    assert_eq!(next_message(&mut rig).await, first);
    tokio::time::sleep(Duration::from_secs(10)).await;
    for part in &b {
        rig.device.arrive(part).await;
    }
    assert_eq!(next_message(&mut rig).await, second);
    rig.stop().await;
}

/// The network repeats a part of a message already written, with another
/// time stamp: nothing more is written, not even after the multipart
/// timeout, and the part does not stay waiting.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_repeated_part_writes_nothing() {
    let timeout = Duration::from_secs(120);
    let mut rig = Rig::start("copies-repeat", |c| {
        c.receive.multipart_timeout = timeout;
    })
    .await;
    let text = "A long message from the network, in two parts. ".repeat(4);
    let a = parts("+4915100000962", &text, 1, 9);
    for part in &a {
        rig.device.arrive(part).await;
    }
    assert_eq!(next_message(&mut rig).await, text);
    let again = parts("+4915100000962", &text, 40, 9);
    rig.device.arrive(&again[1]).await;
    // Then a message of its own, after the timeout: the first written.
    tokio::time::sleep(timeout * 2).await;
    let next = parts("+4915100000963", "next", 50, 0);
    rig.device.arrive(&next[0]).await;
    assert_eq!(next_message(&mut rig).await, "next");
    let db = rusqlite::Connection::open(rig.dir("simgate.db")).unwrap();
    let waiting: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM incoming_part WHERE message_id IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(waiting, 0, "the repeat does not wait");
    assert_eq!(std::fs::read_dir(rig.dir("inbox")).unwrap().count(), 3);
    rig.stop().await;
}

/// Two long messages from one sender with one reference, their parts
/// interleaved (A1 B1 A2 B2), as a SIM read after a while gives them:
/// both are written, each whole. Before, the message A took B1 along as a
/// repeat of A1, and B was written as its second part alone.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn interleaved_messages_with_one_reference_are_both_written() {
    let mut rig = Rig::start("copies-interleaved", |_| {}).await;
    let first = "Alpha: the first of two messages, each in two parts here. ".repeat(4);
    let second = "Bravo: the second of two messages, each in two parts here. ".repeat(4);
    let a = parts("+4915100000964", &first, 1, 49);
    let b = parts("+4915100000964", &second, 2, 49);
    for part in [&a[0], &b[0], &a[1], &b[1]] {
        rig.device.arrive(part).await;
    }
    let mut texts = vec![next_message(&mut rig).await, next_message(&mut rig).await];
    texts.sort();
    assert_eq!(texts, [first, second]);
    rig.stop().await;
}
