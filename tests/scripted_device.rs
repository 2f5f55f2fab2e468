//! The daemon on a device of the test's own, in memory, with no pty and no
//! AT: the device interface is all the daemon needs (issue #10 §3). It
//! sends a message, receives one, and matches a status report to what it
//! sent.

use crate::scripted::{deliver, stamp, Rig};
use simgate::daemon::DaemonEvent;
use simgate::pdu::{Address, Status, StatusReport};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_of_its_own_sends_receives_and_matches_a_report() {
    let mut rig = Rig::start("scripted", |_| {}).await;
    let handle = rig.device.clone();
    let root = rig.root.clone();

    // A send.
    rig.drop_file("OUT+4917600000901.txtd", "through no modem at all");
    let sent = rig.next(|e| matches!(e, DaemonEvent::Sent { .. })).await;
    let DaemonEvent::Sent { references, .. } = sent else {
        unreachable!()
    };
    {
        let memory = handle.memory();
        assert_eq!(memory.sent.len(), 1);
        let (submit, reference) = &memory.sent[0];
        assert_eq!(submit.destination.to_display(), "+4917600000901");
        assert_eq!(
            submit.user_data.body.text(),
            Some("through no modem at all")
        );
        assert!(submit.status_report_request);
        assert_eq!(references, [*reference]);
    }
    assert!(root.join("sent/OUT+4917600000901.txtd").exists());

    // A receive.
    handle
        .arrive(&deliver(
            "+4915100000902",
            "hello from the scripted network",
            1,
        ))
        .await;
    let DaemonEvent::Received { files } = rig
        .next(|e| matches!(e, DaemonEvent::Received { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(
        std::fs::read_to_string(root.join("inbox").join(&files[0])).unwrap(),
        "hello from the scripted network"
    );
    assert!(handle.memory().stored.is_empty(), "deleted once written");

    // A status report for what was sent.
    let report = StatusReport {
        more_messages: false,
        loop_prevention: false,
        for_command: false,
        message_reference: references[0],
        recipient: Address::parse_number("+4917600000901").unwrap(),
        timestamp: stamp(2).into(),
        discharge_time: stamp(3).into(),
        status: Status(0),
        protocol_identifier: None,
        dcs: None,
        user_data: None,
    }
    .encode()
    .unwrap();
    handle.arrive(&report).await;
    let DaemonEvent::Received { files } = rig
        .next(|e| matches!(e, DaemonEvent::Received { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(
        std::fs::read_to_string(root.join("inbox").join(&files[0])).unwrap(),
        "Delivered"
    );
    let db = rusqlite::Connection::open(root.join("simgate.db")).unwrap();
    let outcome: String = db
        .query_row(
            "SELECT report_outcome FROM outgoing_part WHERE message_ref = ?1",
            [references[0]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(outcome, "delivered");
    assert_eq!(handle.memory().deleted, [1, 2]);

    rig.stop().await;
}
