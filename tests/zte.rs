//! The real `simgate run` on a ZTE web stick: the emulated goform
//! interface (`simgate::emulator::zte`) on a loopback port, the real
//! spool, SQLite and inotify. Sending (single, long, Unicode), receiving
//! (a multi-page inbox), a delivery report, and recovering from each fault
//! the stick has, without losing or duplicating a message; the SIGKILL
//! crash test.

use crate::hilink::{names, one_request_per_check, read_text, status_line};
use crate::support::{fresh_spool, spawn_simgate};
use simgate::emulator::zte::{Snapshot, ZteConfig, ZteEmulator};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The failure guard of every wait (never a pause: each wait ends as soon
/// as what it waits for happened).
const LIMIT: Duration = Duration::from_secs(60);

/// The cheap check the stick is asked while idle.
const CHECK: &str = "get:sms_capacity_info";

fn config_text(url: &str, root: &Path, modem_extra: &str, extra: &str) -> String {
    config_checking(url, root, "100ms", modem_extra, extra)
}

fn config_checking(url: &str, root: &Path, check: &str, modem_extra: &str, extra: &str) -> String {
    format!(
        "[modem]\ntransport = \"zte\"\ndevice = \"{url}\"\ncheck_interval = \"{check}\"\n\
         send_timeout = \"20s\"\n{status}{modem_extra}\n\n[spool]\n\
         inbox = \"{r}/inbox\"\noutbox = \"{r}/outbox\"\nsent = \"{r}/sent\"\n\
         error = \"{r}/error\"\n\n[database]\npath = \"{r}/simgate.db\"\n\n\
         [log]\nfile = \"{r}/simgate.log\"\nlevel = \"info\"\n{extra}",
        status = status_line(modem_extra),
        r = root.display()
    )
}

struct Setup {
    stick: ZteEmulator,
    root: PathBuf,
    daemon: tokio::process::Child,
}

impl Setup {
    async fn start(name: &str, stick: ZteConfig, modem_extra: &str, extra: &str) -> Self {
        Self::start_checking(name, stick, "100ms", modem_extra, extra).await
    }

    /// As [`Setup::start`], the stick checked every `check`.
    async fn start_checking(
        name: &str,
        stick: ZteConfig,
        check: &str,
        modem_extra: &str,
        extra: &str,
    ) -> Self {
        let stick = ZteEmulator::start(stick).await.unwrap();
        let root = fresh_spool(&format!("zte-{name}"));
        let config = root.join("simgate.toml");
        let text = config_checking(&stick.url(), &root, check, modem_extra, extra);
        std::fs::write(&config, text).unwrap();
        let daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
        Self {
            stick,
            root,
            daemon,
        }
    }

    fn log(&self) -> String {
        let mut text = std::fs::read_to_string(self.root.join("simgate.log")).unwrap_or_default();
        text.push_str(&std::fs::read_to_string(self.root.join("stderr.log")).unwrap_or_default());
        text
    }

    /// Drops an outbox file as careful producers do (temporary name, rename).
    fn queue(&self, name: &str, text: &str) {
        let outbox = self.root.join("outbox");
        let temporary = outbox.join(format!(".writing-{name}"));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, outbox.join(name)).unwrap();
    }

    async fn wait(&self, what: &str, done: impl Fn(&Snapshot) -> bool) {
        if !self.stick.wait_for(LIMIT, done).await {
            panic!(
                "{what}: not within {LIMIT:?}\nstick: {:?}\nlog:\n{}",
                self.stick.snapshot(),
                self.log()
            );
        }
    }

    async fn connected(&self) {
        self.wait("connected", |s| s.count(CHECK) >= 2).await;
    }

    /// Waits until `dir` holds `count` files.
    async fn files(&self, dir: &str, count: usize) -> BTreeSet<String> {
        let path = self.root.join(dir);
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let names = names(&path);
            if names.len() >= count {
                return names;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{dir}: {} files, not {count}\nstick: {:?}\nlog:\n{}",
                    names.len(),
                    self.stick.snapshot(),
                    self.log()
                );
            }
            // Files appear without an event the test could wait on; look
            // again shortly (the loop ends as soon as they are there).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the log holds `text`.
    async fn logged(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + LIMIT;
        while !self.log().contains(text) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{text:?} not logged:\n{}",
                self.log()
            );
            // The log is a file: looked at again shortly.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn inbox_texts(&self) -> Vec<String> {
        let mut texts: Vec<String> = names(&self.root.join("inbox"))
            .iter()
            .map(|name| read_text(&self.root.join("inbox").join(name)))
            .collect();
        texts.sort();
        texts
    }

    async fn stop(mut self) {
        let _ = self.daemon.start_kill();
        let _ = self.daemon.wait().await;
        assert_eq!(
            self.stick.snapshot().referer_refused,
            0,
            "a request without the Referer"
        );
        self.stick.stop().await;
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// How often the stick sent `text`.
fn times_sent(snapshot: &Snapshot, text: &str) -> usize {
    snapshot.network.iter().filter(|(_, t)| t == text).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_single_long_and_unicode_messages_once_each() {
    let setup = Setup::start("send", ZteConfig::default(), "", "").await;
    let long = "A long message that the stick splits itself. ".repeat(8);
    let unicode =
        "Grüße aus Köln, Здравствуйте, 你好 😀 – and more text to need two parts: ".repeat(2);
    let messages = [
        ("OUT+4915112345678.txt", "Hello from simgate"),
        ("OUT+4915187654321.txt", long.as_str()),
        ("OUT+4917000000001.txt", unicode.as_str()),
    ];
    for (name, text) in &messages {
        setup.queue(name, text);
    }
    setup
        .wait("three messages sent", |s| s.network.len() >= 3)
        .await;
    setup.files("sent", 3).await;
    let mut expected: Vec<(String, String)> = messages
        .iter()
        .map(|(name, text)| {
            let number = name.trim_start_matches("OUT").trim_end_matches(".txt");
            (number.to_owned(), (*text).to_owned())
        })
        .collect();
    let mut sent = setup.stick.snapshot().network;
    expected.sort();
    sent.sort();
    assert_eq!(sent, expected, "each text whole, once, to its number");
    assert!(names(&setup.root.join("error")).is_empty());
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receives_a_multi_page_inbox_into_files_and_deletes_it_from_the_stick() {
    let setup = Setup::start(
        "receive",
        ZteConfig {
            capacity: 200,
            ..ZteConfig::default()
        },
        "",
        "",
    )
    .await;
    setup.connected().await;
    // More than two pages of 50, and a long Unicode text. From three
    // senders: the inbox file names of one sender within one second run
    // out after 100 (gammu's serials `_00_` to `_99_`).
    let mut expected = Vec::new();
    for n in 0..120 {
        let text = format!("message number {n:03}");
        setup
            .stick
            .deliver(&format!("+49151123456{:02}", n % 3), &text);
        expected.push(text);
    }
    let long = "Привет! Это длинное сообщение 😀, которое не помещается в одну часть. ".repeat(3);
    setup.stick.deliver("Telekom", &long);
    setup
        .wait("the inbox emptied", |s| s.inbox.is_empty())
        .await;
    let joined: String = names(&setup.root.join("inbox"))
        .iter()
        .filter(|n| n.contains("Telekom"))
        .map(|n| read_text(&setup.root.join("inbox").join(n)))
        .collect();
    assert_eq!(joined, long);
    let short: Vec<String> = setup
        .inbox_texts()
        .into_iter()
        .filter(|t| t.starts_with("message number"))
        .collect();
    expected.sort();
    assert_eq!(short, expected, "each message once");
    let snapshot = setup.stick.snapshot();
    assert!(
        snapshot.count("get:sms_data_total") >= 3,
        "listed in pages: {:?}",
        snapshot.requests
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_it_asks_only_for_the_storage_count() {
    let setup = Setup::start("idle", ZteConfig::default(), "", "").await;
    setup.connected().await;
    let before = setup.stick.snapshot();
    let start = before.count(CHECK);
    setup
        .wait("ten more checks", |s| s.count(CHECK) >= start + 10)
        .await;
    let after = setup.stick.snapshot();
    for (what, n) in &after.requests {
        if what != CHECK {
            assert_eq!(
                before.requests.get(what),
                Some(n),
                "{what} asked while idle"
            );
        }
    }
    setup.stop().await;
}

/// Idle with a status read every three checks: one request per check
/// interval in all, the checks going on between the status reads (as
/// the HiLink test of the same name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_status_reads_take_the_place_of_checks() {
    let setup = Setup::start(
        "idle-status",
        ZteConfig::default(),
        "status_interval = \"300ms\"",
        "",
    )
    .await;
    setup.connected().await;
    let total = |s: &Snapshot| s.requests.values().sum::<u32>();
    let reads = |s: &Snapshot| total(s) - s.count(CHECK);
    let began = Instant::now();
    let before = setup.stick.snapshot();
    setup
        .wait("eight more status reads", |s| {
            reads(s) >= reads(&before) + 8
        })
        .await;
    let after = setup.stick.snapshot();
    let window = began.elapsed();
    one_request_per_check(
        total(&after) - total(&before),
        after.count(CHECK) - before.count(CHECK),
        window,
        &(before.requests, after.requests),
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_send_sms_is_settled_by_the_sent_box() {
    let setup = Setup::start("lost-answer", ZteConfig::default(), "", "").await;
    setup.connected().await;
    setup.stick.lose_next_send_answer();
    setup.queue("OUT+4915112345678.txt", "sent once, answer lost");
    setup.files("sent", 1).await;
    assert_eq!(
        times_sent(&setup.stick.snapshot(), "sent once, answer lost"),
        1
    );
    assert!(names(&setup.root.join("error")).is_empty());
    assert!(setup.log().contains("settled"), "{}", setup.log());
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_the_network_refuses_is_tried_again_and_goes_out_once() {
    let setup = Setup::start(
        "refused",
        ZteConfig::default(),
        "",
        "[send]\nretry_delay = \"1s\"\n",
    )
    .await;
    setup.connected().await;
    setup.stick.fail_sends(1);
    setup.queue("OUT+4915112345678.txt", "after one refusal");
    setup.files("sent", 1).await;
    let snapshot = setup.stick.snapshot();
    assert_eq!(times_sent(&snapshot, "after one refusal"), 1);
    assert_eq!(snapshot.count("set:SEND_SMS"), 2, "refused once, then sent");
    assert!(
        setup.log().contains("did not take the message"),
        "{}",
        setup.log()
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_send_status_is_not_taken_for_the_previous_send() {
    let setup = Setup::start(
        "stale-status",
        ZteConfig {
            send_time: Duration::from_millis(400),
            ..ZteConfig::default()
        },
        "",
        "[send]\nretry_delay = \"1s\"\n",
    )
    .await;
    setup.connected().await;
    setup.queue("OUT+4915112345678.txt", "the first, sent");
    setup.files("sent", 1).await;
    // The status still says "sent" (the first message's) while the
    // second goes, and the network refuses the second.
    setup.stick.stale_status_on_next_send();
    setup.stick.fail_sends(1);
    setup.queue("OUT+4915187654321.txt", "the second, refused once");
    setup.files("sent", 2).await;
    let snapshot = setup.stick.snapshot();
    assert_eq!(times_sent(&snapshot, "the second, refused once"), 1);
    assert_eq!(snapshot.count("set:SEND_SMS"), 3, "refused once, then sent");
    assert!(
        setup.log().contains("did not take the message"),
        "{}",
        setup.log()
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_report_is_matched_to_its_message() {
    let setup = Setup::start(
        "report",
        ZteConfig {
            reports: true,
            ..ZteConfig::default()
        },
        "",
        "[receive]\ndelivery_report = \"log\"\n",
    )
    .await;
    setup.connected().await;
    setup.queue("OUT+4915112345678.txt", "please confirm");
    setup.files("sent", 1).await;
    setup.logged("delivery report").await;
    let log = setup.log();
    assert!(
        log.lines()
            .any(|l| l.contains("delivery report") && l.contains("delivered")),
        "{log}"
    );
    assert!(
        !log.contains("delivery report for no known message"),
        "{log}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_loses_and_repeats_nothing() {
    let setup = Setup::start("reboot", ZteConfig::default(), "", "").await;
    setup.connected().await;
    setup.stick.deliver("+4915100000001", "before the reboot");
    setup.wait("read", |s| s.inbox.is_empty()).await;
    let rebooting = setup.stick.reboot(Duration::from_secs(3));
    let during = async {
        // Queued and received while the stick is away.
        setup.queue("OUT+4915100000002.txt", "queued during the reboot");
        setup
            .stick
            .deliver("+4915100000003", "arrived during the reboot");
    };
    tokio::join!(rebooting, during);
    setup
        .wait("sent after the reboot", |s| {
            times_sent(s, "queued during the reboot") == 1 && s.inbox.is_empty()
        })
        .await;
    setup.files("sent", 1).await;
    assert_eq!(
        setup.inbox_texts(),
        vec!["arrived during the reboot", "before the reboot"]
    );
    let log = setup.log();
    assert_eq!(
        log.matches("lost the ZTE stick").count()
            + log.matches("cannot reach the ZTE stick").count(),
        1,
        "the fault is logged once:\n{log}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_500_slow_answers_and_expired_sessions_are_recovered() {
    let stick = ZteConfig {
        password: Some("s3cret".to_owned()),
        ..ZteConfig::default()
    };
    let setup = Setup::start(
        "faults",
        stick,
        "password = \"s3cret\"\nstatus_interval = \"1s\"",
        "",
    )
    .await;
    setup.connected().await;

    setup.stick.fail_requests(3);
    setup.stick.deliver("+4915100000001", "after HTTP 500");
    setup.queue("OUT+4915100000011.txt", "sent after HTTP 500");
    setup
        .wait("HTTP 500 recovered", |s| {
            s.inbox.is_empty() && times_sent(s, "sent after HTTP 500") == 1
        })
        .await;

    let logins = setup.stick.snapshot().logins;
    setup.stick.expire_sessions();
    setup
        .stick
        .deliver("+4915100000002", "after the session expired");
    setup.queue("OUT+4915100000012.txt", "sent after the session expired");
    setup
        .wait("a new login", |s| {
            s.logins > logins
                && s.inbox.is_empty()
                && times_sent(s, "sent after the session expired") == 1
        })
        .await;
    // Recovered, and still visible in `simgate status`.
    crate::support::until("the expired session in simgate status", || {
        crate::hilink::modem_status(&setup.root)["fault"]
            .as_str()
            .is_some_and(|fault| fault.contains("session had expired"))
    })
    .await;

    setup.stick.slow(Some(Duration::from_millis(300)));
    setup
        .stick
        .deliver("+4915100000003", "through a slow stick");
    setup.queue("OUT+4915100000013.txt", "sent through a slow stick");
    setup
        .wait("slow answers", |s| {
            s.inbox.is_empty() && times_sent(s, "sent through a slow stick") == 1
        })
        .await;
    setup.stick.slow(None);

    setup.files("sent", 3).await;
    let snapshot = setup.stick.snapshot();
    assert_eq!(snapshot.network.len(), 3, "{:?}", snapshot.network);
    assert_eq!(setup.inbox_texts().len(), 3);
    assert!(names(&setup.root.join("error")).is_empty());
    assert!(!setup.log().contains("s3cret"), "the password is logged");
    setup.stop().await;
}

/// A stick so slow that reading its status takes longer than
/// `status_interval`: the daemon still sends and receives between two
/// reads. (Before, the status tick was always due again when a read
/// ended, and, checked before the sends, took the loop for itself: the
/// message below waited forever.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_read_slower_than_its_interval_leaves_room_to_send_and_receive() {
    let setup = Setup::start(
        "slow-status",
        ZteConfig::default(),
        "status_interval = \"100ms\"",
        "",
    )
    .await;
    setup.connected().await;
    setup.stick.slow(Some(Duration::from_millis(300)));
    setup
        .stick
        .deliver("+4915100000003", "in through a slow stick");
    setup.queue("OUT+4915100000013.txt", "out through a slow stick");
    setup
        .wait("sent and received through a slow stick", |s| {
            s.inbox.is_empty() && times_sent(s, "out through a slow stick") == 1
        })
        .await;
    setup.stick.slow(None);
    setup.files("sent", 1).await;
    assert_eq!(
        setup.inbox_texts(),
        vec!["in through a slow stick".to_owned()]
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_storage_is_cleared_of_sent_copies_so_reception_goes_on() {
    let setup = Setup::start(
        "storage",
        ZteConfig {
            capacity: 20,
            ..ZteConfig::default()
        },
        "",
        "",
    )
    .await;
    setup.connected().await;
    for n in 0..18 {
        setup.queue(&format!("OUT+49151000001{n:02}.txt"), &format!("fill {n}"));
    }
    setup.wait("sent", |s| s.network.len() == 18).await;
    setup
        .wait("sent copies cleared", |s| s.sent_box.len() < 16)
        .await;
    for n in 0..5 {
        setup
            .stick
            .deliver("+4915100000099", &format!("incoming {n}"));
    }
    setup.wait("received", |s| s.inbox.is_empty()).await;
    assert_eq!(
        setup.stick.snapshot().refused,
        0,
        "the stick refused messages"
    );
    assert_eq!(setup.inbox_texts().len(), 5);
    assert!(setup.log().contains("80 % full"), "{}", setup.log());
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sends_clears_room_for_its_own_copies() {
    // Checks far apart: only the send path can keep room for the copies
    // that settle each send.
    let setup = Setup::start_checking(
        "burst",
        ZteConfig {
            capacity: 20,
            ..ZteConfig::default()
        },
        "30s",
        "",
        "",
    )
    .await;
    for n in 0..60 {
        setup.queue(&format!("OUT+49151000002{n:02}.txt"), &format!("burst {n}"));
    }
    setup.files("sent", 60).await;
    let snapshot = setup.stick.snapshot();
    assert_eq!(snapshot.network.len(), 60);
    assert!(
        names(&setup.root.join("error")).is_empty(),
        "{}",
        setup.log()
    );
    assert!(snapshot.sent_box.len() <= 20);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_in_with_a_salted_password_and_never_hammers_a_wrong_one() {
    let config = ZteConfig {
        password: Some("s3cret".to_owned()),
        salted_login: true,
        ..ZteConfig::default()
    };
    let right = Setup::start("login", config.clone(), "password = \"s3cret\"", "").await;
    right.queue("OUT+4915112345678.txt", "after a login");
    right
        .wait("sent", |s| times_sent(s, "after a login") == 1)
        .await;
    assert!(right.stick.snapshot().logins >= 1);
    right.stop().await;

    let wrong = Setup::start("wrong-password", config, "password = \"guess\"", "").await;
    wrong
        .wait("refused once", |s| s.count("set:LOGIN") >= 1)
        .await;
    // The device keeps trying to connect; a second login would follow
    // within a second or two if it were tried again.
    let seen = wrong.stick.snapshot().count(CHECK);
    wrong
        .wait("more connection attempts", |s| s.count(CHECK) >= seen + 3)
        .await;
    let snapshot = wrong.stick.snapshot();
    assert_eq!(snapshot.count("set:LOGIN"), 1);
    assert_eq!(snapshot.locked_attempts, 0);
    assert!(
        wrong.log().contains("refused the password"),
        "{}",
        wrong.log()
    );
    wrong.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_message_with_parts_missing_waits_on_the_stick() {
    let setup = Setup::start("incomplete", ZteConfig::default(), "", "").await;
    setup.connected().await;
    let id = setup
        .stick
        .deliver_incomplete("+4915112345678", "the first half")
        .unwrap();
    setup.stick.deliver("+4915187654321", "a short one");
    setup
        .wait("the short one read", |s| {
            !s.inbox.values().any(|m| m.text == "a short one")
        })
        .await;
    // Several checks later the incomplete one is still there, unwritten.
    let checks = setup.stick.snapshot().count(CHECK);
    setup
        .wait("more checks", |s| s.count(CHECK) >= checks + 12)
        .await;
    assert!(setup.stick.snapshot().inbox.contains_key(&id));
    assert_eq!(setup.inbox_texts(), vec!["a short one"]);
    setup.stick.complete(id, "the first half and the second");
    setup.wait("taken once whole", |s| s.inbox.is_empty()).await;
    assert_eq!(
        setup.inbox_texts(),
        vec!["a short one", "the first half and the second"]
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockout_is_read_before_a_login_and_never_fed() {
    use simgate::zte::{api, client::Client, client::ZteError};
    let stick = ZteEmulator::start(ZteConfig {
        password: Some("s3cret".to_owned()),
        ..ZteConfig::default()
    })
    .await
    .unwrap();
    let read = |client: Client| async move {
        client
            .read(&api::get_query(&["sms_capacity_info"], &[]), api::capacity)
            .await
    };
    // Five clients with a wrong password: one login each, then the lock.
    for _ in 0..5 {
        let client = Client::new(
            &stick.url(),
            Some("guess".to_owned()),
            Duration::from_secs(5),
        );
        // A client told no section names [modem], as before.
        assert_eq!(
            read(client).await,
            Err(ZteError::BadPassword {
                section: "[modem]".to_owned()
            })
        );
    }
    let right = Client::new(
        &stick.url(),
        Some("s3cret".to_owned()),
        Duration::from_secs(5),
    );
    match read(right).await {
        Err(ZteError::LockedOut(seconds)) => assert!(seconds > 0),
        other => panic!("{other:?}"),
    }
    let snapshot = stick.snapshot();
    assert_eq!(
        snapshot.count("set:LOGIN"),
        5,
        "no login tried while locked"
    );
    assert_eq!(snapshot.locked_attempts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modem_probe_identifies_the_stick_and_says_what_is_wrong() {
    let probe = |url: String, password_file: Option<PathBuf>| async move {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"));
        command.args(["modem", "probe", "--transport", "zte", "--device", &url]);
        if let Some(file) = password_file {
            command.arg("--password-file").arg(file);
        }
        let output = command.output().await.unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let open = ZteEmulator::start(ZteConfig::default()).await.unwrap();
    let text = probe(open.url(), None).await;
    for expected in [
        "model: ZTE MF823",
        "imei: 864000000000018",
        "sim: ready",
        "network: in service",
        "operator: Emulated Net",
        "RSSI -67 dBm",
        "storage: 0 of 100 used",
        "verdict: ready",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }

    let locked = ZteEmulator::start(ZteConfig {
        password: Some("s3cret".to_owned()),
        ..ZteConfig::default()
    })
    .await
    .unwrap();
    let text = probe(locked.url(), None).await;
    assert!(text.contains("requires a login"), "{text}");
    let root = fresh_spool("zte-probe");
    let file = root.join("password");
    std::fs::write(&file, "s3cret\n").unwrap();
    let text = probe(locked.url(), Some(file)).await;
    assert!(text.contains("verdict: ready"), "{text}");
    assert_eq!(locked.snapshot().referer_refused, 0);

    let url = locked.url();
    locked.stop().await;
    drop(locked);
    let text = probe(url, None).await;
    assert!(
        text.contains("answers: no") && text.contains("router mode"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stick_refuses_requests_without_its_referer() {
    // What the firmware insists on, and simgate's client always sends.
    let stick = ZteEmulator::start(ZteConfig::default()).await.unwrap();
    let http = simgate_http(&stick.url()).await;
    assert_eq!(http, 403);
    assert_eq!(stick.snapshot().referer_refused, 1);
    let client = simgate::zte::client::Client::new(&stick.url(), None, Duration::from_secs(5));
    client
        .read(
            &simgate::zte::api::get_query(&["sms_capacity_info"], &[]),
            simgate::zte::api::capacity,
        )
        .await
        .unwrap();
    assert_eq!(stick.snapshot().referer_refused, 1);
}

/// The HTTP status of a bare GET (no `Referer`) of the stick's capacity.
async fn simgate_http(url: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET /goform/goform_get_cmd_process?cmd=sms_capacity_info HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The send and receive crash test against the stick: 40 messages to send
/// (every fourth long, every fifth Unicode) and 20 arriving while
/// `simgate run` is killed with SIGKILL at random moments and started
/// again, until everything is done; a last run finishes what is left.
///
/// What must hold: every outbox file is in sent/ or error/ exactly once;
/// a file in sent/ went out exactly once, a file in error/ (a send the
/// stick left in doubt when the daemon died in the middle of it, counted
/// and printed) at most once; every arriving message is in the inbox
/// exactly once, and the stick holds no received message. `SIMGATE_CRASH_SEED`
/// repeats the kill delays.
/// simgate killed while the stick sends: after the restart the sent box
/// settles the send in doubt (`sent/`, sent once), as the HiLink test of
/// the same name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_in_doubt_when_simgate_was_killed_is_settled_after_the_restart() {
    let config = ZteConfig {
        send_time: Duration::from_millis(800),
        ..ZteConfig::default()
    };
    // The message comes back to the stick after the retry delay.
    let mut setup = Setup::start(
        "killed-sending",
        config,
        "",
        "\n[send]\nretry_delay = \"1s\"\n",
    )
    .await;
    setup.connected().await;
    let name = "OUT+4915100000077.txt";
    setup.queue(name, "sent while simgate died");
    setup
        .wait("the stick got the message", |s| !s.send_requests.is_empty())
        .await;
    setup.daemon.start_kill().unwrap();
    setup.daemon.wait().await.unwrap();
    setup.daemon = spawn_simgate(
        &setup.root.join("simgate.toml"),
        &setup.root.join("stderr.log"),
        None,
    );
    let done = || names(&setup.root.join("sent")).len() + names(&setup.root.join("error")).len();
    crate::support::until("the message finished", || done() == 1).await;
    assert!(
        names(&setup.root.join("sent")).contains(name),
        "settled as sent; log:\n{}",
        setup.log()
    );
    assert_eq!(
        times_sent(&setup.stick.snapshot(), "sent while simgate died"),
        1
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_and_sends_nothing_twice() {
    use crate::support::{seed, Rng};
    let seed = seed();
    println!("zte crash test seed {seed}");
    let mut rng = Rng::new(seed);
    let stick = ZteEmulator::start(ZteConfig {
        send_time: Duration::from_millis(30),
        capacity: 500,
        ..ZteConfig::default()
    })
    .await
    .unwrap();
    let root = fresh_spool("zte-crash");
    let config = root.join("simgate.toml");
    std::fs::write(&config, config_text(&stick.url(), &root, "", "")).unwrap();
    let outbox = root.join("outbox");
    let texts: Vec<(String, String)> = (0..40)
        .map(|n| {
            let mut text = format!("message {n}");
            if n % 4 == 0 {
                text.push_str(&" with a long tail".repeat(12));
            }
            if n % 5 == 0 {
                text.push_str(" – Grüße 😀");
            }
            (format!("OUT+49151{n:07}.txt"), text)
        })
        .collect();
    for (name, text) in &texts {
        let temporary = outbox.join(format!(".writing-{name}"));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, outbox.join(name)).unwrap();
    }
    let claim = simgate::spool::fs::claim_dir(&outbox);
    let unfinished = || names(&outbox).len() + names(&claim).len();
    let mut incoming = Vec::new();
    let mut kills = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    while (unfinished() > 0 || !stick.snapshot().inbox.is_empty()) && kills < 60 {
        assert!(tokio::time::Instant::now() < deadline, "no end in sight");
        if incoming.len() < 20 {
            let text = format!("incoming {}", incoming.len());
            stick.deliver("+4916000000001", &text);
            incoming.push(text);
        }
        let mut daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
        // The random moment is the point of the test, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(rng.between(80, 700))).await;
        daemon.start_kill().unwrap();
        daemon.wait().await.unwrap();
        kills += 1;
    }
    while incoming.len() < 20 {
        let text = format!("incoming {}", incoming.len());
        stick.deliver("+4916000000001", &text);
        incoming.push(text);
    }
    let mut daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    let finished = stick
        .wait_for(LIMIT, |s| {
            s.inbox.is_empty() && names(&outbox).is_empty() && names(&claim).is_empty()
        })
        .await;
    let _ = daemon.start_kill();
    let _ = daemon.wait().await;
    let log = std::fs::read_to_string(root.join("simgate.log")).unwrap_or_default();
    assert!(finished, "the last run did not finish; log:\n{log}");

    let sent = names(&root.join("sent"));
    let error = names(&root.join("error"));
    let snapshot = stick.snapshot();
    for (name, text) in &texts {
        let times = times_sent(&snapshot, text);
        match (sent.contains(name), error.contains(name)) {
            (true, false) => assert_eq!(times, 1, "{name} in sent/ went out {times} times"),
            (false, true) => assert!(times <= 1, "{name} in error/ went out {times} times"),
            other => panic!("{name}: in sent/ and error/: {other:?}"),
        }
    }
    assert_eq!(sent.len() + error.len(), texts.len(), "stray files");
    let mut got: Vec<String> = names(&root.join("inbox"))
        .iter()
        .map(|n| read_text(&root.join("inbox").join(n)))
        .collect();
    got.sort();
    let mut expected = incoming.clone();
    expected.sort();
    assert_eq!(got, expected, "each arriving message in the inbox once");
    println!(
        "zte crash test: {kills} kills, {} sent, {} in error/ (in doubt when the daemon died)",
        sent.len(),
        error.len()
    );
    assert!(
        error.len() <= kills,
        "more sends in doubt ({}) than kills ({kills})",
        error.len()
    );
    assert_eq!(snapshot.referer_refused, 0);
    let _ = std::fs::remove_dir_all(&root);
}

/// A waiter looks again only when the stick changed (or a send under way
/// falls due): snapshots are reads, not changes.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_waiter_wakes_only_when_the_stick_changed() {
    let stick = ZteEmulator::start(ZteConfig::default()).await.unwrap();
    let looks = crate::support::looks_of_a_waiter(
        |looks| stick.wait_for(Duration::from_secs(10), move |_| looks.look()),
        || drop(stick.snapshot()),
        |n| stick.fail_requests(n),
    )
    .await;
    assert_eq!(
        looks,
        1 + 3 + 1,
        "the first look, one per change, a last one at the limit"
    );
}
