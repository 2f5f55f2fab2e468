//! `max_age` (`[send]`): "a message still unsent after this long moves to
//! the error directory", whatever keeps it waiting: a device that is gone,
//! not only a device that keeps failing it.

use crate::scripted::{has, Rig};
use simgate::config::{Limit, LimitScope, LimitUnit, LimitWindow};
use simgate::daemon::DaemonEvent;
use std::time::Duration;

/// The device goes away for good with a message queued: once the message
/// is `max_age` old it fails with the reason, its file in error/, and not
/// a moment before; the device was never asked to send it.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_message_no_device_takes_fails_once_it_is_max_age_old() {
    let max_age = Duration::from_secs(600);
    let mut rig = Rig::start("max-age-gone", |c| c.send.max_age = Some(max_age)).await;
    // The loop sees the device go before it sees the file (its state
    // comes first in the loop's order).
    rig.device_gone();
    rig.drop_file("OUT+4917600000970.txt", "nobody will send this");
    rig.next(|e| matches!(e, DaemonEvent::Queued { .. })).await;
    let queued_at = tokio::time::Instant::now();
    let failed = rig
        .next_within(max_age * 2, |e| matches!(e, DaemonEvent::Failed { .. }))
        .await;
    let waited = queued_at.elapsed();
    let DaemonEvent::Failed { file, reason } = failed else {
        unreachable!()
    };
    assert_eq!(file, "OUT+4917600000970.txt");
    assert!(
        reason.contains("in the queue (max_age)"),
        "the reason names the setting: {reason}"
    );
    assert!(waited >= max_age, "failed after {waited:?}, before max_age");
    assert!(
        waited <= max_age + Duration::from_secs(60),
        "failed {waited:?} after it was queued"
    );
    assert!(has(&rig.dir("error"), "OUT+4917600000970.txt"));
    assert!(!has(&rig.dir("outbox"), "OUT+4917600000970.txt"));
    assert_eq!(rig.device.memory().send_attempts, 0);
    rig.stop().await;
}

/// A rate limit holds a message longer than `max_age` (one message a day,
/// `max_age` ten minutes): the held message fails once it is that old,
/// with the limit that held it in the reason, and is never sent.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_message_a_rate_limit_holds_past_max_age_fails() {
    let max_age = Duration::from_secs(600);
    let mut rig = Rig::start("max-age-limit", |c| {
        c.send.max_age = Some(max_age);
        c.limits.rules.push(Limit {
            scope: LimitScope::All,
            unit: LimitUnit::Messages,
            window: LimitWindow::Day,
            max: 1,
        });
    })
    .await;
    rig.drop_file("OUTA_+491760000971_1.txt", "the day's one message");
    rig.drop_file("OUTB_+491760000971_2.txt", "held by the limit");
    rig.next(|e| matches!(e, DaemonEvent::Sent { .. })).await;
    rig.next(|e| matches!(e, DaemonEvent::Waiting { .. })).await;
    let failed = rig
        .next_within(max_age * 2, |e| matches!(e, DaemonEvent::Failed { .. }))
        .await;
    let DaemonEvent::Failed { file, reason } = failed else {
        unreachable!()
    };
    assert_eq!(file, "OUTB_+491760000971_2.txt");
    assert!(reason.contains("max_age"), "{reason}");
    assert!(reason.contains("messages_per_day = 1"), "{reason}");
    assert!(has(&rig.dir("error"), "OUTB_+491760000971_2.txt"));
    assert_eq!(rig.device.memory().send_attempts, 1);
    rig.stop().await;
}

/// More messages past `max_age` than one turn of the loop takes (a slice
/// of 32): the rest go in the turns right after, not a period later.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn more_old_messages_than_a_slice_all_fail_together() {
    // Not a multiple of the sweep's period (a quarter of it, at most a
    // minute: 60 s), so the files, queued within a second, are too old
    // half a period before a sweep: one sweep finds them all. (With 600 s,
    // files dropped while the daemon ran and queued a few ms apart, as
    // inotify told of them in real time, were split by a sweep that fell
    // between two of them, and the last failed a period later.)
    let max_age = Duration::from_secs(630);
    let count = 40;
    // In the outbox before the start: taken in by tokio's timers alone.
    let files: Vec<(String, &str)> = (0..count)
        .map(|n| (format!("OUT+49176000098{n:02}.txt"), "too old soon"))
        .collect();
    let mut rig = Rig::start_with_outbox_unready("max-age-slices", &files, |c| {
        c.send.max_age = Some(max_age)
    })
    .await;
    let mut queued_at = Vec::new();
    for _ in 0..count {
        rig.next(|e| matches!(e, DaemonEvent::Queued { .. })).await;
        queued_at.push(tokio::time::Instant::now());
    }
    let intake = *queued_at.last().unwrap() - queued_at[0];
    assert!(intake < Duration::from_secs(1), "taken in over {intake:?}");
    let mut failed_at = Vec::new();
    for _ in 0..count {
        rig.next_within(max_age * 2, |e| matches!(e, DaemonEvent::Failed { .. }))
            .await;
        failed_at.push(tokio::time::Instant::now());
    }
    let spread = *failed_at.last().unwrap() - failed_at[0];
    assert!(
        spread < Duration::from_secs(1),
        "the last failed {spread:?} after the first"
    );
    let in_error = std::fs::read_dir(rig.dir("error")).unwrap().count();
    assert_eq!(in_error, count);
    rig.stop().await;
}
