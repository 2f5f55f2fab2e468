//! Receiving never loses what arrived (issue #9 §4): an inbox on a full
//! file system (a small tmpfs) keeps the messages on the SIM and in the
//! database, writes them in order as soon as there is room again while
//! simgate runs, and a restart while it is still full does not stop the
//! daemon (nor its sending).

use crate::support::{delivers, fill, Harness, Tmpfs};
use simgate::daemon::DaemonEvent;
use simgate::emulator::Profile;
use std::path::Path;

fn inbox_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("IN"))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_inbox_is_written_once_there_is_room_and_nothing_is_lost() {
    let h = Harness::start("inbox-full", Profile::Generic).await;
    let inbox = h.dir("inbox");
    let Some(tmpfs) = Tmpfs::mount(&inbox, 64) else {
        crate::support::skipped(
            "a_full_inbox_is_written_once_there_is_room_and_nothing_is_lost",
            "mounting a tmpfs needs root (CI runs as root)",
        );
        h.stop().await;
        return;
    };
    let filler = fill(&inbox);
    let texts = ["first while full", "second while full", "third while full"];
    for (n, text) in texts.iter().enumerate() {
        let from = format!("+49151000000{n:02}");
        h.emulator
            .inject_deliver(&delivers(&from, text, 0)[0])
            .unwrap();
    }
    // Nothing can be written; each stays on the SIM. A restart while the
    // disk is still full starts (and sends) all the same.
    let mut h = h.restart().await;
    assert!(inbox_names(&inbox).is_empty());
    assert_eq!(h.emulator.stored().len(), 3, "the SIM keeps them");
    let temp = h.dir("dropping");
    std::fs::write(&temp, "sending goes on").unwrap();
    std::fs::rename(&temp, h.dir("outbox/OUT+4917600000401.txt")).unwrap();
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Sent { .. }),
        "{outcome:?}"
    );
    // Room again: the three are written, in the order they came, and only
    // then leave the SIM.
    let mut modem = h.emulator.subscribe();
    std::fs::remove_file(&filler).unwrap();
    let mut written = Vec::new();
    for _ in texts {
        written.extend(h.received().await);
    }
    let names = inbox_names(&inbox);
    assert_eq!(names.len(), 3, "{names:?}");
    let contents: Vec<String> = written
        .iter()
        .map(|name| std::fs::read_to_string(inbox.join(name)).unwrap())
        .collect();
    assert_eq!(contents, texts, "written in the order they arrived");
    let mut deleted = 0;
    while deleted < texts.len() {
        if let simgate::emulator::EmulatorEvent::Deleted { .. } = modem.recv().await.unwrap() {
            deleted += 1;
        }
    }
    assert!(h.emulator.stored().is_empty());
    h.stop_daemon().await;
    drop(tmpfs);
    h.stop().await;
}

/// Messages from one sender with the same time stamp that arrive while the
/// inbox is full each keep a name of their own: a name recorded for a
/// message not written yet is taken, as a file on disk is. (Each was given
/// `_00_`, since no file had it yet, and once there was room the three
/// were written over each other: two were lost.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_waiting_for_room_never_share_a_name() {
    let mut h = Harness::start("inbox-full-names", Profile::Generic).await;
    let inbox = h.dir("inbox");
    let Some(tmpfs) = Tmpfs::mount(&inbox, 64) else {
        crate::support::skipped(
            "messages_waiting_for_room_never_share_a_name",
            "mounting a tmpfs needs root (CI runs as root)",
        );
        h.stop().await;
        return;
    };
    let filler = fill(&inbox);
    let texts = ["one", "two", "three"];
    let mut modem = h.emulator.subscribe();
    for text in texts {
        h.emulator
            .inject_deliver(&delivers("+4915100000088", text, 0)[0])
            .unwrap();
        // Read (and recorded) before the next arrives.
        loop {
            if let simgate::emulator::EmulatorEvent::CommandReceived(line) =
                modem.recv().await.unwrap()
            {
                if line.starts_with("AT+CMGR") || line.starts_with("AT+CMGL") {
                    break;
                }
            }
        }
    }
    std::fs::remove_file(&filler).unwrap();
    let mut written = Vec::new();
    for _ in texts {
        written.extend(h.received().await);
    }
    let names = inbox_names(&inbox);
    assert_eq!(names.len(), 3, "{names:?}");
    let mut contents: Vec<String> = names
        .iter()
        .map(|name| std::fs::read_to_string(inbox.join(name)).unwrap())
        .collect();
    contents.sort();
    assert_eq!(contents, ["one", "three", "two"]);
    h.stop_daemon().await;
    drop(tmpfs);
    h.stop().await;
}
