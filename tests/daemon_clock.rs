//! Time passed in (issue #10 §2): the webhook poster and the PIN records
//! read the daemon's clock, not the system's. On a paused clock whose
//! calendar starts in 2030, what they write follows that calendar, and the
//! webhook retries wait exactly their backoff, however loaded the machine.
//! And `simgate run` on the system's clocks notices its calendar set back
//! (libfaketime moving `CLOCK_REALTIME` alone).

use crate::scripted::{Rig, Scripted};
use crate::webhooks::{next, receiver, SECRET};
use simgate::config::Config;
use simgate::daemon::clock::{Clock, TokioClock};
use simgate::daemon::{self, DaemonEvent, DaemonOptions, DeviceContext};
use simgate::device::{DeviceInfo, DeviceState, PinOutcome};
use simgate::instance::InstanceError;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// 2030-03-17: not the machine's calendar.
fn calendar() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_900_000_000)
}

/// The receiver fails two attempts: the poster tries again after the
/// retry delay, then twice that, on the daemon's clock; each attempt's
/// signed timestamp is the daemon's calendar at that moment.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn webhook_retries_and_timestamps_follow_the_daemons_clock() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut requests = receiver(listener, vec![500, 500]).await;
    let mut rig = Rig::start_at("clock-webhooks", calendar(), |c| {
        c.webhooks.urls = vec![format!("http://127.0.0.1:{port}/hook")];
        c.webhooks.secret = Some(SECRET.to_owned());
        c.webhooks.events = vec!["sent".to_owned()];
        c.webhooks.retry_delay = Duration::from_secs(10);
        c.webhooks.retry_delay_max = Duration::from_secs(600);
    })
    .await;
    rig.drop_file("OUT+4917600000960.txt", "posted on paused time");
    rig.next(|e| matches!(e, DaemonEvent::Sent { .. })).await;
    let mut got = Vec::new();
    let mut calendars = Vec::new();
    while got
        .last()
        .is_none_or(|r: &crate::webhooks::Request| r.answered != 200)
    {
        got.push(next(&mut requests).await);
        calendars.push(rig.calendar());
    }
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[1].at - got[0].at, Duration::from_secs(10));
    assert_eq!(got[2].at - got[1].at, Duration::from_secs(20));
    for (request, calendar) in got.iter().zip(&calendars) {
        assert!(request.signature_verifies(), "{request:?}");
        let stamped: u64 = request.headers["x-simgate-timestamp"].parse().unwrap();
        let daemon = calendar.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(stamped, daemon, "the daemon's calendar, not the machine's");
    }
    rig.stop().await;
}

/// What the SIM did with the PIN is dated by the daemon's clock: recorded
/// 90 s (of the paused clock) into the start, it says the calendar then.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn what_the_sim_did_with_the_pin_is_dated_by_the_daemons_clock() {
    let root = std::env::temp_dir().join(format!("simgate-clock-pins-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let mut config = Config::new("/nonexistent/not-a-serial-port");
    config.spool.inbox = root.join("inbox");
    config.spool.outbox = root.join("outbox");
    config.spool.sent = Some(root.join("sent"));
    config.spool.error = Some(root.join("error"));
    let database = root.join("simgate.db");
    config.database.path = Some(database.clone());
    let clock = Arc::new(TokioClock::starting_at(calendar()));
    let (device, device_events, state) = Scripted::new();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let options = DaemonOptions {
        events: Some(events_tx),
        clock: Some(Arc::clone(&clock) as Arc<dyn Clock>),
        ..DaemonOptions::new(config)
    };
    let daemon = tokio::spawn(daemon::run_on(
        options,
        move |context: DeviceContext| async move {
            // The device enters the PIN a while into its start.
            tokio::time::sleep(Duration::from_secs(90)).await;
            context
                .pins
                .record("8949000000000000001", "pin-hash", PinOutcome::Entering);
            Ok::<_, InstanceError>((device, device_events))
        },
        async {
            let _ = stopped.await;
        },
    ));
    state.send_replace(DeviceState::Ready(DeviceInfo {
        model: "Scripted".to_owned(),
        imei: Some("000000000000001".to_owned()),
    }));
    tokio::time::timeout(Duration::from_secs(3600), async {
        while !matches!(events.recv().await, Some(DaemonEvent::ModemReady { .. })) {}
    })
    .await
    .expect("the daemon starts");
    let _ = stop.send(());
    daemon.await.unwrap().unwrap();
    let at_ms: i64 = rusqlite::Connection::open(&database)
        .unwrap()
        .query_row("SELECT at_ms FROM pin_attempt", [], |row| row.get(0))
        .unwrap();
    let expected = calendar() + Duration::from_secs(90);
    assert_eq!(
        at_ms,
        expected.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64,
        "the daemon's calendar 90 s into the start, not the machine's"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// `simgate run` on the system's clocks, its calendar set back a day
/// while it runs (libfaketime with a timestamp file, which moves
/// `CLOCK_REALTIME` and leaves `CLOCK_BOOTTIME` alone, as `date -s` or
/// NTP would): the daemon notices it, and a message held by an hourly
/// limit waits an hour from the last send, not a day and an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_daemon_notices_the_system_calendar_set_back() {
    use crate::support::{fresh_spool, reference, until, write_spool_config, Reference};
    use simgate::emulator::{Emulator, EmulatorConfig, Profile};
    const CHECK: &str = "daemon_clock::a_running_daemon_notices_the_system_calendar_set_back";
    let Some(library) = reference(Reference::Faketime, CHECK) else {
        return;
    };
    // The daemon has threads: the library's thread-safe twin.
    let library = std::path::Path::new(&library).with_file_name("libfaketimeMT.so.1");
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = fresh_spool("calendar-set-back");
    let config = write_spool_config(&root, &emulator.path(), "[limits]\nmessages_per_hour = 1\n");
    let offset = root.join("faketime");
    std::fs::write(&offset, "+0\n").unwrap();
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["run", "-c"])
        .arg(&config)
        .env("LD_PRELOAD", &library)
        .env("FAKETIME_TIMESTAMP_FILE", &offset)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(root.join("simgate.log")).unwrap_or_default();
    until("the daemon ready", || log().contains("modem ready")).await;
    let drop_file = |name: &str, text: &str| {
        let temp = root.join("dropping");
        std::fs::write(&temp, text).unwrap();
        std::fs::rename(&temp, root.join("outbox").join(name)).unwrap();
    };
    drop_file("OUT+4917600000981.txt", "before the change");
    until("the first in sent/", || {
        root.join("sent/OUT+4917600000981.txt").exists()
    })
    .await;
    std::fs::write(&offset, "-1d\n").unwrap();
    drop_file("OUT+4917600000982.txt", "held for an hour");
    let db = rusqlite::Connection::open(root.join("simgate.db")).unwrap();
    let held = || -> Option<(i64, i64)> {
        db.query_row(
            "SELECT next_attempt_ms, created_ms FROM outgoing
             WHERE file_name = 'OUT+4917600000982.txt' AND last_error LIKE '%limits.%'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .ok()
    };
    until("the second held by the limit", || held().is_some()).await;
    assert!(log().contains("the clock was set back"), "{}", log());
    let (next_attempt_ms, taken_in_ms) = held().unwrap();
    let wait = Duration::from_millis((next_attempt_ms - taken_in_ms) as u64);
    assert!(
        wait <= Duration::from_secs(3_600),
        "held for {wait:?} after it was taken in"
    );
    // Stopped as systemd stops it: libfaketime names its semaphore and
    // shared memory after the process and removes them at a normal exit
    // only; left behind (SIGKILL), they make the faketime wrapper of any
    // later process given that pid exit 1.
    let pid = daemon.id().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = daemon.wait().await.unwrap();
    assert!(status.success(), "{status}");
    for leftover in [
        format!("/dev/shm/sem.faketime_sem_{pid}"),
        format!("/dev/shm/faketime_shm_{pid}"),
    ] {
        assert!(!std::path::Path::new(&leftover).exists(), "{leftover} left");
    }
    let _ = std::fs::remove_dir_all(&root);
}
