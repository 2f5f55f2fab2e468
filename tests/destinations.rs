//! Allow and deny lists for destinations (issue #12 §1): a message to a
//! refused number goes to error/ with the reason and never reaches the
//! modem; the list files are read again on SIGHUP.

use crate::scripted::{has, Rig};
use crate::support::{fresh_spool, spawn_simgate, until, write_spool_config};
use simgate::daemon::DaemonEvent;
use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use std::collections::BTreeMap;
use std::path::Path;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn refused_destinations_go_to_error_with_the_reason_and_never_to_the_modem() {
    let mut rig = Rig::start("destinations", |c| {
        c.destinations.allow = vec!["+49*".to_owned()];
        c.destinations.deny = vec!["+4917600000666".to_owned()];
    })
    .await;
    rig.drop_file("OUTA_+4917600000501_1.txt", "allowed");
    rig.drop_file("OUTB_+4917600000666_2.txt", "denied");
    rig.drop_file("OUTC_+447700900123_3.txt", "not allowed");
    let mut sent = Vec::new();
    let mut failed = BTreeMap::new();
    while sent.is_empty() || failed.len() < 2 {
        match rig
            .next(|e| matches!(e, DaemonEvent::Sent { .. } | DaemonEvent::Failed { .. }))
            .await
        {
            DaemonEvent::Sent { file, .. } => sent.push(file),
            DaemonEvent::Failed { file, reason } => {
                failed.insert(file, reason);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sent, ["OUTA_+4917600000501_1.txt"]);
    assert_eq!(
        failed["OUTB_+4917600000666_2.txt"],
        "its destination is denied (destinations.deny: +4917600000666)"
    );
    assert_eq!(
        failed["OUTC_+447700900123_3.txt"],
        "its destination is not in destinations.allow"
    );
    assert!(has(&rig.dir("error"), "OUTB_+4917600000666_2.txt"));
    assert!(has(&rig.dir("error"), "OUTC_+447700900123_3.txt"));
    assert_eq!(rig.device.memory().send_attempts, 1);
    rig.stop().await;
}

fn drop_file(root: &Path, name: &str, text: &str) {
    let temp = root.join("dropping");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, root.join("outbox").join(name)).unwrap();
}

/// A number added to the deny file is refused once simgate has been told
/// to reload (SIGHUP), without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deny_file_is_read_again_on_sighup() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = fresh_spool("destinations-hup");
    let deny = root.join("deny");
    std::fs::write(&deny, "# nobody yet\n").unwrap();
    let config = write_spool_config(
        &root,
        &emulator.path(),
        &format!("[destinations]\ndeny_file = \"{}\"\n", deny.display()),
    );
    let log = root.join("simgate.log");
    let mut daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    let name = "OUT+4917600000777.txt";
    drop_file(&root, name, "before the reload");
    until("the first message in sent/", || {
        root.join("sent").join(name).exists()
    })
    .await;

    std::fs::write(&deny, "+4917600000777\n").unwrap();
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    until("the reload in the log", || {
        std::fs::read_to_string(&log).is_ok_and(|text| text.contains("configuration reloaded"))
    })
    .await;
    std::fs::remove_file(root.join("sent").join(name)).unwrap();
    drop_file(&root, name, "after the reload");
    until("the second message in error/", || {
        root.join("error").join(name).exists()
    })
    .await;
    let to_it = emulator
        .sent()
        .iter()
        .filter(|m| m.submit.destination.to_display() == "+4917600000777")
        .count();
    assert_eq!(to_it, 1, "only the message before the reload went out");
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

/// A message queued before a number is denied is not sent after the
/// reload: the lists are checked again when the message's turn comes, not
/// only when its file is taken in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_queued_before_its_number_is_denied_is_not_sent() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    // No network: the message is queued, tried once, and tried again
    // after send.retry_delay, by which time its number is denied.
    emulator.set_registered(false);
    let root = fresh_spool("destinations-queued");
    let deny = root.join("deny");
    std::fs::write(&deny, "# nobody yet\n").unwrap();
    let config = write_spool_config(
        &root,
        &emulator.path(),
        &format!(
            "[send]\nretry_delay = \"3s\"\n[destinations]\ndeny_file = \"{}\"\n",
            deny.display()
        ),
    );
    let log = root.join("simgate.log");
    let mut daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    let name = "OUT+4917600000778.txt";
    drop_file(&root, name, "queued while allowed");
    until("the send held for the device's state", || {
        std::fs::read_to_string(&log).is_ok_and(|text| text.contains("the modem cannot send now"))
    })
    .await;

    emulator.set_registered(true);
    std::fs::write(&deny, "+4917600000778\n").unwrap();
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    until("the reload in the log", || {
        std::fs::read_to_string(&log).is_ok_and(|text| text.contains("configuration reloaded"))
    })
    .await;
    until("the message in sent/ or error/", || {
        root.join("error").join(name).exists() || root.join("sent").join(name).exists()
    })
    .await;
    assert!(
        emulator.sent().is_empty(),
        "sent after the reload denied it"
    );
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("reason=its destination is denied (destinations.deny: [number])"));
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}
