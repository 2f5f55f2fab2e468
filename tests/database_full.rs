//! The state database on a full disk: the daemon stays up, sends and
//! receives nothing it cannot record, says why, and goes on by itself once
//! there is room, with every message sent exactly once. (It stopped with
//! "database error: database or disk is full"; outside systemd nothing
//! started it again, and under systemd it went round a restart every 5 s
//! with the modem set up anew each time.)

use crate::http_api::{get, message, post_send};
use crate::support::{delivers, fill, Harness, Tmpfs};
use simgate::daemon::DaemonEvent;
use simgate::emulator::Profile;
use std::collections::BTreeSet;
use std::path::Path;

fn names(dir: &Path, prefix: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_database_stops_nothing_and_work_resumes_once_there_is_room() {
    let mut mounted = None;
    let api = std::net::SocketAddr::from(([127, 0, 0, 1], crate::support::port_for_a_daemon()));
    let mut h = Harness::start_with("database-full", Profile::Generic, |config| {
        config.http.listen = Some(api);
        let state = config.spool.inbox.with_file_name("state");
        std::fs::create_dir_all(&state).unwrap();
        mounted = Some(Tmpfs::mount(&state, 1024));
        config.database.path = Some(state.join("simgate.db"));
    })
    .await;
    let Some(Some(tmpfs)) = mounted else {
        crate::support::skipped(
            "a_full_disk_under_the_database_stops_nothing_and_work_resumes_once_there_is_room",
            "mounting a tmpfs needs root (CI runs as root)",
        );
        h.stop().await;
        return;
    };
    let filler = fill(&h.dir("state"));
    // More than the write-ahead log has room for already: recording them
    // needs the disk.
    let count = 40;
    let stage = h.dir("stage");
    std::fs::create_dir_all(&stage).unwrap();
    let mut files = BTreeSet::new();
    for n in 0..count {
        let name = format!("OUT+49176000{n:05}.txt");
        std::fs::write(stage.join(&name), format!("message {n} while full")).unwrap();
        files.insert(name);
    }
    for name in &files {
        std::fs::rename(stage.join(name), h.dir("outbox").join(name)).unwrap();
    }
    let waiting = h
        .wait_for(|e| matches!(e, DaemonEvent::WaitingForRoom { .. }))
        .await;
    let DaemonEvent::WaitingForRoom { database, reason } = waiting else {
        unreachable!()
    };
    assert_eq!(database, h.dir("state/simgate.db"));
    assert!(reason.contains("full"), "{reason}");
    // The HTTP API says why it takes nothing (the connection was refused).
    let health = get(api, "/health").await;
    assert_eq!(health.status, 503, "{}", health.text());
    assert_eq!(health.json()["live"], true, "{}", health.text());
    assert_eq!(health.json()["ready"], false, "{}", health.text());
    assert!(
        health.json()["reasons"][0]
            .as_str()
            .unwrap()
            .contains("the disk under the database is full"),
        "{}",
        health.text()
    );
    let refused = post_send(api, &[], &message("+4917600000099", "while full")).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("the disk under the database is full"),
        "{}",
        refused.text()
    );
    assert!(refused.retry_after().is_some(), "{}", refused.text());
    // A message arriving meanwhile stays on the SIM until it can be
    // recorded.
    h.emulator
        .inject_deliver(&delivers("+4915100000077", "arrived while full", 0)[0])
        .unwrap();
    // Room again: everything goes on, without a restart from outside.
    std::fs::remove_file(&filler).unwrap();
    let mut outcomes = Vec::new();
    let mut received = Vec::new();
    while outcomes.len() < files.len() || received.is_empty() {
        match h
            .wait_for(|e| {
                matches!(
                    e,
                    DaemonEvent::Sent { .. }
                        | DaemonEvent::Failed { .. }
                        | DaemonEvent::Received { .. }
                )
            })
            .await
        {
            DaemonEvent::Received { files } => received.extend(files),
            outcome => outcomes.push(outcome),
        }
    }
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, DaemonEvent::Failed { .. }))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(names(&h.dir("sent"), "OUT"), files);
    assert!(names(&h.dir("outbox"), "OUT").is_empty());
    let texts: Vec<String> = h
        .emulator
        .sent()
        .iter()
        .map(|m| {
            m.submit
                .user_data
                .body
                .text()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let distinct: BTreeSet<&String> = texts.iter().collect();
    assert_eq!(texts.len(), count, "each sent exactly once: {texts:?}");
    assert_eq!(distinct.len(), count);
    assert_eq!(received.len(), 1);
    assert_eq!(h.inbox(&received[0]), "arrived while full");
    // The API itself again, on the same address.
    let health = get(api, "/health").await;
    assert_eq!(health.status, 200, "{}", health.text());
    h.stop_daemon().await;
    drop(tmpfs);
    h.stop().await;
}
