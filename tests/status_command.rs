//! `simgate status` run as a user would, beside a running `simgate run` on
//! the emulated modem (issue #12 §4): the modem as the daemon recorded it,
//! the queue and what it waits for, today's counts, the limits and the
//! budget with what they counted, the latest failure; as text and as JSON.

use crate::support::{fresh_spool, spawn_simgate, write_spool_config};
use simgate::emulator::{Emulator, EmulatorConfig, Fault, Profile, Times};
use std::path::Path;
use std::time::{Duration, Instant};

/// Waits (up to 30 s, which only a hang reaches) until `check` holds.
async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn drop_file(root: &Path, name: &str, text: &str) {
    let temp = root.join("dropping");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, root.join("outbox").join(name)).unwrap();
}

fn status(config: &Path, json: bool) -> (i32, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_simgate"));
    command.arg("status").arg("-c").arg(config);
    if json {
        command.arg("--json");
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_modem_the_queue_the_day_the_limits_and_the_last_failure() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    emulator.set_rssi(20);
    // The network refuses one number for good.
    emulator.inject_fault(Fault::CmsError {
        code: 1,
        times: Times::Always,
        destination: Some("+4917600000802".to_owned()),
    });
    let root = fresh_spool("status");
    let config = write_spool_config(
        &root,
        &emulator.path(),
        "[limits]\nmessages_per_hour = 2\n\n[budget]\nmonthly_parts = 100\n",
    );
    let log = root.join("simgate.log");
    let mut daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    drop_file(&root, "OUTA_+4917600000801_1.txt", "goes");
    until("the first in sent/", || {
        root.join("sent/OUTA_+4917600000801_1.txt").exists()
    })
    .await;
    drop_file(&root, "OUTB_+4917600000802_2.txt", "refused");
    until("the second in error/", || {
        root.join("error/OUTB_+4917600000802_2.txt").exists()
    })
    .await;
    drop_file(&root, "OUTC_+4917600000803_3.txt", "over the hourly limit");
    until("the third held by the limit", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("waiting in the outbox"))
    })
    .await;

    let (code, json, stderr) = status(&config, true);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["daemon_pid"], daemon.id().unwrap(), "{json}");
    let device = &report["device"];
    assert_eq!(device["state"], "ready", "{json}");
    assert_eq!(device["signal_dbm"], -73, "{json}");
    assert_eq!(device["signal_percent"], 64, "{json}");
    assert_eq!(device["registered"], true, "{json}");
    assert_eq!(report["queue"]["waiting"], 1, "{json}");
    let reason = report["queue"]["groups"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("limits.messages_per_hour = 2"),
        "{reason}"
    );
    let today = &report["today"];
    assert_eq!(
        (&today["sent"], &today["failed"]),
        (&1.into(), &1.into()),
        "{json}"
    );
    assert_eq!(report["limits"][0]["key"], "messages_per_hour");
    assert_eq!(report["limits"][0]["used"], 2, "{json}");
    // The refused part was never handed over for good: only one counts.
    assert_eq!(report["budget"]["used"], 1, "{json}");
    assert_eq!(report["budget"]["parts"], 100);
    let failure = &report["last_errors"][0];
    assert_eq!(failure["file"], "OUTB_+4917600000802_2.txt", "{json}");
    assert!(
        failure["reason"].as_str().unwrap().contains("unassigned"),
        "{json}"
    );

    let (code, text, _) = status(&config, false);
    assert_eq!(code, 0);
    for expected in [
        "Modem:   ready, simgate Emulated Modem, IMEI ",
        "signal -73 dBm (64%), registered",
        "Queue:   1 waiting",
        "Today:   sent 1, failed 1, ambiguous 0, cancelled 0; received 0",
        "Limits:  messages_per_hour 2 of 2",
        "Budget:  1 of 100 parts in ",
        "OUTB_+4917600000802_2.txt failed: permanent error",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }

    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let (code, text, _) = status(&config, false);
    assert_eq!(code, 0);
    assert!(text.contains("Daemon:  not running"), "{text}");
    let _ = std::fs::remove_dir_all(&root);
}

/// Before simgate ever ran with a configuration, status says so and
/// exits 1; it creates nothing.
#[test]
fn status_without_a_database_says_so_and_creates_nothing() {
    let root = fresh_spool("status-none");
    let config = write_spool_config(&root, &root.join("no-modem"), "");
    let (code, _, stderr) = status(&config, false);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("simgate has not run with this configuration"),
        "{stderr}"
    );
    assert!(!root.join("simgate.db").exists());
    let _ = std::fs::remove_dir_all(&root);
}
