//! The daemon's timing, on a paused clock (issue #10 §2): retry backoff,
//! the multipart timeout, the storage sweep without `+CMTI`, and the
//! debounce of one call's repeated rings. The daemon and the test share
//! tokio's clock, which advances only when both wait; the verdicts are
//! exact, however loaded the machine.

use crate::scripted::{deliver, has, transient, Rig};
use simgate::daemon::DaemonEvent;
use simgate::pdu::{self, Address, SmsDeliver};
use std::time::Duration;
use tokio::time::Instant;

/// Two transient failures: the message is tried again after the retry
/// delay, then after twice that, then goes out.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_transient_failure_is_retried_after_the_delay_then_twice_that() {
    let mut rig = Rig::start("timing-retry", |c| {
        c.send.retry_delay = Duration::from_secs(10);
        c.send.retry_delay_max = Duration::from_secs(600);
    })
    .await;
    {
        let mut memory = rig.device.memory();
        memory
            .send_failures
            .push_back(transient("network congested"));
        memory
            .send_failures
            .push_back(transient("network congested"));
    }
    rig.drop_file("OUT+4917600000951.txt", "third time lucky");
    let waiting = |e: &DaemonEvent| matches!(e, DaemonEvent::Waiting { .. });
    rig.next(waiting).await;
    let first = Instant::now();
    rig.next(waiting).await;
    let second = Instant::now();
    rig.next(|e| matches!(e, DaemonEvent::Sent { .. })).await;
    let sent = Instant::now();
    assert_eq!(second - first, Duration::from_secs(10));
    assert_eq!(sent - second, Duration::from_secs(20));
    assert_eq!(rig.device.memory().send_attempts, 3);
    assert!(has(&rig.dir("sent"), "OUT+4917600000951.txt"));
    rig.stop().await;
}

/// A concatenated message whose second part never comes is written with
/// what arrived once the multipart timeout has passed, and not before.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_incomplete_message_is_written_after_the_multipart_timeout() {
    let timeout = Duration::from_secs(120);
    let mut rig = Rig::start("timing-multipart", |c| {
        c.receive.multipart_timeout = timeout;
    })
    .await;
    let plan = pdu::plan_text(&"long ".repeat(60), pdu::EncodingPolicy::Auto).unwrap();
    let from = Address::parse_number("+4915100000952").unwrap();
    let parts = SmsDeliver::from_plan(&plan, &from, crate::scripted::stamp(5), 77);
    assert_eq!(parts.len(), 2);
    rig.device.arrive(&parts[0].encode().unwrap()).await;
    let arrived = Instant::now();
    let DaemonEvent::Received { files } = rig
        .next(|e| matches!(e, DaemonEvent::Received { .. }))
        .await
    else {
        unreachable!()
    };
    let waited = arrived.elapsed();
    // Checked twice per timeout: written at most half a timeout late.
    assert!(
        waited >= timeout && waited <= timeout + timeout / 2,
        "written after {waited:?}"
    );
    assert_eq!(files.len(), 1);
    rig.stop().await;
}

/// A message stored without `+CMTI` is found by the storage sweep: not at
/// once, and within one poll interval.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_storage_sweep_finds_a_message_that_was_not_announced() {
    let poll = Duration::from_secs(300);
    let mut rig = Rig::start("timing-sweep", |c| {
        c.receive.poll_interval = poll;
    })
    .await;
    rig.device
        .store_silently(&deliver("+4915100000953", "no +CMTI for this one", 9));
    let stored = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        rig.events.try_recv().is_err(),
        "read before any sweep was due"
    );
    rig.next(|e| matches!(e, DaemonEvent::Received { .. }))
        .await;
    assert!(
        stored.elapsed() <= poll,
        "found after {:?}",
        stored.elapsed()
    );
    assert!(rig.device.memory().stored.is_empty());
    rig.stop().await;
}

/// A call's rings within a few seconds are one call: hung up and reported
/// once; a ring after that is a new call.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn one_calls_rings_are_one_call() {
    let mut rig = Rig::start("timing-calls", |c| {
        c.hooks.hangup_calls = true;
    })
    .await;
    let call = |e: &DaemonEvent| matches!(e, DaemonEvent::Call { .. });
    rig.device.ring("+4915100000954").await;
    rig.next(call).await;
    let first = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    rig.device.ring("+4915100000954").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    rig.device.ring("+4915100000954").await;
    rig.next(call).await;
    assert_eq!(
        first.elapsed(),
        Duration::from_secs(6),
        "the second report is the third ring's"
    );
    assert_eq!(rig.device.memory().hung_up, 2);
    rig.stop().await;
}
