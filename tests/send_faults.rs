//! Sending never repeats what went out (issue #9 §3): an unreadable `+CMGS`
//! answer after the PDU is ambiguous, and the modem's TP-MR counter settles
//! it; a modem that hangs before the prompt is found out quickly and the
//! message is not ambiguous; attempts are counted once (and not at all
//! when the modem's state failed them); every message asks for gammu's
//! validity period; a modem lost mid-send holds up nothing else, and the
//! watchdog hears from the daemon while a send waits for the modem.

use crate::support::Harness;
use simgate::daemon::DaemonEvent;
use simgate::emulator::{EmulatorConfig, EmulatorEvent, Fault, Profile, SentMessage, Times};
use simgate::pdu::Validity;
use std::path::Path;
use std::time::Duration;

fn drop_file(outbox: &Path, name: &str, content: &[u8]) {
    let temp = outbox.parent().unwrap().join("dropping");
    std::fs::write(&temp, content).unwrap();
    std::fs::rename(&temp, outbox.join(name)).unwrap();
}

/// How many `AT+CMGS` the modem was given: the attempts that reached it.
fn cmgs_commands(emulator: &simgate::emulator::Emulator) -> usize {
    emulator
        .commands()
        .iter()
        .filter(|c| c.starts_with("AT+CMGS="))
        .count()
}

fn to(message: &SentMessage) -> String {
    message.submit.destination.to_display()
}

/// A line between the PDU and `+CMGS`, and a modem that answers a bare
/// `OK`: the message went out once, and simgate, asking the SIM's TP-MR
/// counter, records it sent (never sends it again, never calls it failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_cmgs_answer_is_resolved_by_the_tp_mr_counter() {
    let mut h = Harness::start("cmgs-odd", Profile::Generic).await;
    h.emulator.inject_fault(Fault::LineBeforeCmgsAnswer {
        line: "+CMTI: \"SM\",1".to_owned(),
        times: Times::Once,
    });
    drop_file(
        &h.dir("outbox"),
        "OUT+4917600000101.txt",
        b"stray line first",
    );
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Sent { .. }),
        "{outcome:?}"
    );

    h.emulator.inject_fault(Fault::CmgsOkOnly {
        times: Times::Always,
    });
    drop_file(
        &h.dir("outbox"),
        "OUT+4917600000102.txt",
        b"answered OK only",
    );
    drop_file(
        &h.dir("outbox"),
        "OUT+4917600000103.txt",
        &b"long ".repeat(60),
    );
    let outcomes = h.finished(2).await;
    for outcome in &outcomes {
        assert!(matches!(outcome, DaemonEvent::Sent { .. }), "{outcome:?}");
    }
    let sent = h.emulator.sent();
    let count = |number: &str| sent.iter().filter(|m| to(m) == number).count();
    assert_eq!(count("+4917600000101"), 1);
    assert_eq!(
        count("+4917600000102"),
        1,
        "resent after an OK without +CMGS"
    );
    assert_eq!(count("+4917600000103"), 2, "each of the two parts once");
    // The references recorded are the ones the modem used.
    let store = simgate::store::Store::open(&h.dir("simgate.db")).unwrap();
    let row = store.active_by_name("OUT+4917600000102.txt").unwrap();
    assert!(row.is_none(), "finished");
    let counts = store.counts().unwrap();
    assert_eq!((counts.sent, counts.ambiguous, counts.failed), (3, 0, 0));
    drop(store);
    h.stop().await;
}

/// Without a counter to ask (the modem cannot read EF_SMSS), an `OK`
/// without `+CMGS` is ambiguous for good: error/, never resent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_counter_an_unreadable_answer_is_ambiguous_and_never_resent() {
    let mut modem = EmulatorConfig::new(Profile::Generic);
    modem.sim_files = false;
    let mut h = Harness::start_on("cmgs-no-counter", modem, |_| {}).await;
    h.emulator.inject_fault(Fault::CmgsOkOnly {
        times: Times::Always,
    });
    drop_file(
        &h.dir("outbox"),
        "OUT+4917600000111.txt",
        b"answered OK only",
    );
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Failed { reason, .. } if reason.contains("ambiguous")),
        "{outcome:?}"
    );
    assert!(h.dir("error/OUT+4917600000111.txt").exists());
    h.emulator.clear_faults();
    // The next message goes out; the ambiguous one never again.
    drop_file(&h.dir("outbox"), "OUT+4917600000112.txt", b"next");
    h.finished(1).await;
    let sent = h.emulator.sent();
    assert_eq!(sent.iter().filter(|m| to(m) == "+4917600000111").count(), 1);
    h.stop().await;
}

/// A modem that hangs before the `> ` prompt is found out after the prompt
/// wait (5 s), not the send timeout (60 s): nothing was written, so the
/// message is sent again, once. (The harness waits at most 30 s for it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_before_the_prompt_is_not_ambiguous() {
    let mut h = Harness::start_with("prompt-hang", Profile::Generic, |c| {
        c.send.retry_delay = Duration::from_millis(100);
        c.send.retry_delay_max = Duration::from_millis(100);
    })
    .await;
    h.emulator.inject_fault(Fault::NoAnswer {
        command_prefix: "AT+CMGS".to_owned(),
        times: Times::Once,
    });
    drop_file(&h.dir("outbox"), "OUT+4917600000121.txt", b"after a hang");
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Sent { .. }),
        "{outcome:?}"
    );
    assert_eq!(h.emulator.sent().len(), 1);
    h.stop().await;
}

/// `max_attempts = 3` (gammu's `MaxRetries = 2`) means three attempts, not
/// two: each attempt is counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_attempts_gives_up_after_exactly_that_many_attempts() {
    let mut h = Harness::start_with("attempts", Profile::Generic, |c| {
        c.send.max_attempts = Some(3);
        c.send.retry_delay = Duration::from_millis(100);
        c.send.retry_delay_max = Duration::from_millis(100);
    })
    .await;
    h.emulator.inject_fault(Fault::CmsError {
        code: 42,
        times: Times::Always,
        destination: None,
    });
    drop_file(&h.dir("outbox"), "OUT+4917600000131.txt", b"congested");
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Failed { reason, .. } if reason.contains("3 attempts")),
        "{outcome:?}"
    );
    assert_eq!(cmgs_commands(&h.emulator), 3);
    h.stop().await;
}

/// Every message asks for gammu's validity period, relative "maximum"
/// (TP-VP FF), unless configured otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_ask_for_the_validity_gammu_asks_for() {
    let mut h = Harness::start("validity", Profile::Generic).await;
    drop_file(&h.dir("outbox"), "OUT+4917600000141.txt", b"valid for long");
    h.finished(1).await;
    assert_eq!(
        h.emulator.sent()[0].submit.validity,
        Validity::Relative(255)
    );
    let mut h = h
        .restart_with(|c| c.send.validity = Validity::relative_minutes(24 * 60))
        .await;
    drop_file(&h.dir("outbox"), "OUT+4917600000142.txt", b"a day");
    h.finished(1).await;
    assert_eq!(
        h.emulator.sent()[1].submit.validity,
        Validity::relative_minutes(24 * 60)
    );
    h.stop().await;
}

/// `DeliveryReport = sms` (or `log`) asks for a report with every message,
/// as gammu does; `no` with none unless the file asks (`d` flag).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_report_settings_ask_for_reports() {
    let mut h = Harness::start_with("report-request", Profile::Generic, |c| {
        c.receive.delivery_report = simgate::config::DeliveryReport::Sms;
    })
    .await;
    drop_file(&h.dir("outbox"), "OUT+4917600000151.txt", b"report please");
    h.finished(1).await;
    assert!(h.emulator.sent()[0].submit.status_report_request);
    let mut h = h
        .restart_with(|c| c.receive.delivery_report = simgate::config::DeliveryReport::No)
        .await;
    drop_file(&h.dir("outbox"), "OUT+4917600000152.txt", b"no report");
    drop_file(
        &h.dir("outbox"),
        "OUT+4917600000153.txtd",
        b"report by flag",
    );
    h.finished(2).await;
    let sent = h.emulator.sent();
    let asked = |number: &str| {
        sent.iter()
            .find(|m| to(m) == number)
            .unwrap()
            .submit
            .status_report_request
    };
    assert!(!asked("+4917600000152"));
    assert!(asked("+4917600000153"));
    h.stop().await;
}

/// `HardResetFrequency` resets the modem (`AT+CFUN=1,1`), then initialises
/// it again; `ResetFrequency` only initialises it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hard_reset_resets_the_modem() {
    let mut h = Harness::start_with("hard-reset", Profile::Generic, |c| {
        c.modem.hard_reset_interval = Duration::from_secs(1);
    })
    .await;
    let mut events = h.emulator.subscribe();
    loop {
        if let simgate::emulator::EmulatorEvent::CommandReceived(line) =
            events.recv().await.unwrap()
        {
            if line.eq_ignore_ascii_case("AT+CFUN=1,1") {
                break;
            }
        }
    }
    // And it comes back.
    h.wait_for(|e| matches!(e, DaemonEvent::ModemReady { .. }))
        .await;
    h.stop().await;
}

/// Without network service no message can go: the first refusal holds the
/// whole queue for the retry delay, instead of every queued message being
/// tried, refused and charged an attempt in turn. (A lower bound on the
/// gap between two refusals: a slow machine can only make it longer.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_network_holds_the_queue_instead_of_failing_every_message() {
    let hold = Duration::from_secs(2);
    let mut h = Harness::start_with("no-network", Profile::Generic, |c| {
        c.send.retry_delay = hold;
        c.send.retry_delay_max = hold;
    })
    .await;
    h.emulator.set_registered(false);
    for n in 1..=3 {
        drop_file(
            &h.dir("outbox"),
            &format!("OUT+491760000013{n}.txt"),
            b"when the network is back",
        );
    }
    let refused = |e: &DaemonEvent| matches!(e, DaemonEvent::Waiting { reason, .. } if reason.contains("no network"));
    h.wait_for(refused).await;
    let first = std::time::Instant::now();
    h.wait_for(refused).await;
    let gap = first.elapsed();
    assert!(
        gap >= hold * 3 / 4,
        "the next message was tried {gap:?} after the first refusal, within the hold of {hold:?}"
    );
    h.emulator.set_registered(true);
    let outcome = h.finished(3).await;
    assert!(
        outcome
            .iter()
            .all(|e| matches!(e, DaemonEvent::Sent { .. })),
        "{outcome:?}"
    );
    h.stop().await;
}

/// A modem unplugged while a send waits for its `> ` prompt: nothing was
/// written, so the message waits for the modem, and the daemon goes on
/// meanwhile (a file dropped is taken in, a waiting file deleted is
/// cancelled). Back, the modem sends each waiting message once, at once:
/// the retry delay (an hour here) holds a modem that refuses, not one
/// that returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modem_lost_during_a_send_does_not_hold_up_the_daemon() {
    let mut h = Harness::start_with("lost-mid-send", Profile::Generic, |c| {
        c.send.retry_delay = Duration::from_secs(3600);
    })
    .await;
    h.emulator.inject_fault(Fault::NoAnswer {
        command_prefix: "AT+CMGS".to_owned(),
        times: Times::Once,
    });
    let mut modem = h.emulator.subscribe();
    let outbox = h.dir("outbox");
    drop_file(&outbox, "OUT+4917600000141.txt", b"lost mid-send");
    loop {
        match modem.recv().await.unwrap() {
            EmulatorEvent::Hung(command) if command.starts_with("AT+CMGS") => break,
            _ => {}
        }
    }
    h.emulator.unplug(None).await;
    let waiting = h
        .wait_for(|e| matches!(e, DaemonEvent::Waiting { .. }))
        .await;
    assert!(
        matches!(&waiting, DaemonEvent::Waiting { file, .. } if file == "OUT+4917600000141.txt"),
        "{waiting:?}"
    );
    drop_file(&outbox, "OUT+4917600000142.txt", b"dropped while away");
    drop_file(&outbox, "OUT+4917600000143.txt", b"deleted while away");
    for name in ["OUT+4917600000142.txt", "OUT+4917600000143.txt"] {
        h.wait_for(|e| matches!(e, DaemonEvent::Queued { file } if file == name))
            .await;
    }
    std::fs::remove_file(outbox.join("OUT+4917600000143.txt")).unwrap();
    h.wait_for(
        |e| matches!(e, DaemonEvent::Cancelled { file, .. } if file == "OUT+4917600000143.txt"),
    )
    .await;
    h.emulator.replug_now();
    let mut sent: Vec<String> = h
        .finished(2)
        .await
        .into_iter()
        .map(|outcome| match outcome {
            DaemonEvent::Sent { file, .. } => file,
            other => panic!("{other:?}"),
        })
        .collect();
    sent.sort();
    assert_eq!(sent, ["OUT+4917600000141.txt", "OUT+4917600000142.txt"]);
    let mut texts: Vec<String> = h
        .emulator
        .sent()
        .iter()
        .map(|m| m.submit.user_data.body.text().unwrap_or("").to_owned())
        .collect();
    texts.sort();
    assert_eq!(texts, ["dropped while away", "lost mid-send"]);
    h.stop().await;
}

/// systemd's watchdog is told the daemon lives while a send waits for the
/// modem's answer, which takes up to the send timeout (gammu's 30 s by
/// default, where systemd's `WatchdogSec` is 60 s and pings come every
/// 30 s): a modem that swallows the answer after the PDU must not get the
/// daemon killed. The largest gap between pings over the whole wait stays
/// well under the send timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_is_pinged_while_a_send_waits_for_the_modem() {
    use simgate::emulator::Emulator;
    use std::time::Instant;
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    emulator.inject_fault(Fault::HangAfterPdu { times: Times::Once });
    let root = crate::support::fresh_spool("watchdog-send");
    let send_timeout = Duration::from_secs(4);
    let config = root.join("simgate.toml");
    std::fs::write(
        &config,
        format!(
            "[modem]\ndevice = \"{0}\"\nstatus_interval = \"0s\"\nsend_timeout = \"{2}s\"\n\n\
             [spool]\ninbox = \"{1}/inbox\"\noutbox = \"{1}/outbox\"\nsent = \"{1}/sent\"\n\
             error = \"{1}/error\"\n\n[database]\npath = \"{1}/simgate.db\"\n\n\
             [log]\nfile = \"{1}/simgate.log\"\n",
            emulator.path().display(),
            root.display(),
            send_timeout.as_secs(),
        ),
    )
    .unwrap();
    let notify_path = root.join("notify");
    let notify = tokio::net::UnixDatagram::bind(&notify_path).unwrap();
    // Pings every half of WATCHDOG_USEC: every 0.5 s. systemd names the
    // pid it watches; the shell's is simgate's after the exec.
    let mut daemon = tokio::process::Command::new("sh")
        .arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" run -c \"$1\"")
        .arg(env!("CARGO_BIN_EXE_simgate"))
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "1000000")
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pings = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let listener = tokio::spawn({
        let pings = std::sync::Arc::clone(&pings);
        async move {
            let mut buffer = [0u8; 4096];
            loop {
                let n = notify.recv(&mut buffer).await.unwrap();
                if String::from_utf8_lossy(&buffer[..n])
                    .lines()
                    .any(|line| line == "WATCHDOG=1")
                {
                    pings.lock().unwrap().push(Instant::now());
                }
            }
        }
    });
    let mut modem = emulator.subscribe();
    drop_file(&root.join("outbox"), "OUT+4917600000151.txt", b"no answer");
    let hung_at = loop {
        if let EmulatorEvent::MessageSent { .. } = modem.recv().await.unwrap() {
            break Instant::now();
        }
    };
    let sent = root.join("sent/OUT+4917600000151.txt");
    crate::support::until("the message settled as sent", || sent.exists()).await;
    let settled_at = Instant::now();
    // Pinging goes on (the watchdog was on all along).
    crate::support::until("a ping after the send", || {
        pings
            .lock()
            .unwrap()
            .last()
            .is_some_and(|&at| at > settled_at)
    })
    .await;
    listener.abort();
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    assert!(
        settled_at - hung_at >= send_timeout,
        "the send waited its timeout"
    );
    let mut marks = vec![hung_at];
    marks.extend(
        pings
            .lock()
            .unwrap()
            .iter()
            .filter(|&&at| at > hung_at && at < settled_at),
    );
    marks.push(settled_at);
    let longest = marks.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        longest < send_timeout / 2,
        "no watchdog ping for {longest:?} while the send waited {:?}",
        settled_at - hung_at
    );
    assert_eq!(emulator.sent().len(), 1);
    let _ = std::fs::remove_dir_all(&root);
}

/// An attempt the modem's state failed (`+CMS ERROR: 311`, its SIM wants
/// a PIN) is not counted against the message: with two attempts allowed,
/// a congested network after it still leaves the message its second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_the_modem_failed_is_not_counted_against_the_message() {
    let mut h = Harness::start_with("modem-state-attempt", Profile::Generic, |c| {
        c.send.max_attempts = Some(2);
        c.send.retry_delay = Duration::from_millis(100);
        c.send.retry_delay_max = Duration::from_millis(100);
        c.modem.check_sim = false;
    })
    .await;
    h.emulator.inject_fault(Fault::CmsError {
        code: 311,
        times: Times::Once,
        destination: None,
    });
    drop_file(&h.dir("outbox"), "OUT+4917600000161.txt", b"third time");
    h.wait_for(|e| matches!(e, DaemonEvent::Waiting { .. }))
        .await;
    h.emulator.inject_fault(Fault::CmsError {
        code: 42,
        times: Times::Once,
        destination: None,
    });
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Sent { .. }),
        "{outcome:?}"
    );
    assert_eq!(cmgs_commands(&h.emulator), 3);
    h.stop().await;
}
