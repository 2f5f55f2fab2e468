//! `simgate status` (issue #12 §4), run as a user would beside a daemon on
//! the emulator, and after it stopped: the modem, the queue, today's
//! counts, the limits, the last errors; `--json`; `--watch`.

use crate::support::{fresh_spool, simgate, spawn_simgate, write_spool_config};
use simgate::emulator::{Emulator, EmulatorConfig, Fault, Profile, Times};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn status_json(config: &Path) -> serde_json::Value {
    let output = simgate(&["status", "-c", config.to_str().unwrap(), "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Waits (bounded) until `simgate status --json` satisfies `done`.
async fn wait_for_status(
    config: &Path,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let json = status_json(config);
        if done(&json) {
            return json;
        }
        assert!(tokio::time::Instant::now() < deadline, "{json}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_what_the_daemon_recorded_running_and_stopped() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    emulator.set_rssi(20);
    let root = fresh_spool("status-command");
    // The HTTP API is on (on a port of its own) so the daemon reads the
    // radio as soon as the modem is ready: the test configuration turns
    // the periodic status poll off.
    let config = write_spool_config(
        &root,
        &emulator.path(),
        "[send]\nmax_attempts = 1\n\n[limits]\nmessages_per_hour = 50\n\n[budget]\nmonthly_parts = 100\n\n[http]\nlisten = \"127.0.0.1:0\"\n",
    );
    let config_arg = config.to_str().unwrap().to_owned();

    // Before the daemon ever ran: no database, a clear error, exit 1.
    let output = simgate(&["status", "-c", &config_arg]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no database at"));

    let mut daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    emulator.inject_fault(Fault::CmsError {
        code: 42,
        times: Times::Always,
        destination: Some("+4917600000802".to_owned()),
    });
    for (number, text, exit) in [
        ("+4917600000801", "fine", 0),
        ("+4917600000802", "refused", 1),
    ] {
        let output = tokio::task::spawn_blocking({
            let config_arg = config_arg.clone();
            let number = number.to_owned();
            let text = text.to_owned();
            move || simgate(&["send", "-c", &config_arg, "--wait", "60", &number, &text])
        })
        .await
        .unwrap();
        assert_eq!(
            output.status.code(),
            Some(exit),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let json = wait_for_status(&config, |j| {
        j["modem"]["state"] == "ready" && j["today"]["sent"] == 1 && j["today"]["failed"] == 1
    })
    .await;
    assert_eq!(json["daemon_running"], true);
    assert_eq!(json["modem"]["signal_dbm"], -73);
    assert_eq!(json["modem"]["registered"], true);
    assert_eq!(json["limits"][0]["key"], "messages_per_hour");
    assert_eq!(json["limits"][0]["used"], 2);
    assert_eq!(json["queue"]["due"], 0);
    // The refused part never went out: the budget counts the one that did.
    assert_eq!(json["budget"]["used"], 1, "{json}");
    assert_eq!(json["budget"]["parts"], 100);
    let error = json["last_errors"][0]["error"].as_str().unwrap();
    assert!(error.contains("+CMS ERROR"), "{json}");

    let text = simgate(&["status", "-c", &config_arg]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.starts_with("modem: ready; daemon running"), "{text}");
    assert!(
        text.contains("signal: -73 dBm (64 %); registered"),
        "{text}"
    );
    assert!(text.contains("today: sent 1, failed 1"), "{text}");
    assert!(text.contains("messages_per_hour = 50: 2 used"), "{text}");
    assert!(text.contains("budget: 1 of 100 parts in "), "{text}");

    // --watch prints again until stopped: two readings, then kill it.
    let mut watch = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["status", "-c", &config_arg, "--watch", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let readings = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter(|line| line.starts_with("--- "))
            .take(2)
            .count()
    });
    let readings = tokio::time::timeout(Duration::from_secs(30), readings)
        .await
        .expect("two readings within 30 s")
        .unwrap();
    watch.kill().unwrap();
    watch.wait().unwrap();
    assert_eq!(readings, 2);

    // Stopped cleanly: the modem is recorded stopped, the daemon not running.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    daemon.wait().await.unwrap();
    let json = status_json(&config);
    assert_eq!(json["modem"]["state"], "stopped", "{json}");
    assert_eq!(json["daemon_running"], false);
    assert_eq!(json["today"]["sent"], 1);
    let _ = std::fs::remove_dir_all(&root);
}
