//! The real `simgate run` on an Android phone running the SMS Gateway
//! app: the emulated Local Server (`simgate::emulator::android`) on a
//! loopback port, its signed webhooks to simgate's loopback listener, the
//! real spool, SQLite and inotify. Sending (single, long, Unicode),
//! receiving, delivery reports, the phone offline, a lost answer: nothing
//! lost, nothing sent twice.

use crate::support::{fresh_spool, spawn_simgate};
use simgate::emulator::android::{AndroidConfig, AndroidEmulator, PhoneInfo, Snapshot};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The failure guard of every wait (never a pause: each wait ends as soon
/// as what it waits for happened).
const LIMIT: Duration = Duration::from_secs(60);

struct Setup {
    phone: AndroidEmulator,
    root: PathBuf,
    daemon: tokio::process::Child,
}

impl Setup {
    async fn start(name: &str) -> Self {
        Self::start_on(name, "127.0.0.1:0").await
    }

    /// With simgate taking webhooks on `listen`.
    async fn start_on(name: &str, listen: &str) -> Self {
        Self::start_with(name, listen, "0s").await
    }

    /// With simgate reading the phone's status every `status_interval`.
    async fn start_with(name: &str, listen: &str, status_interval: &str) -> Self {
        let phone = AndroidEmulator::start(AndroidConfig::default())
            .await
            .unwrap();
        let root = fresh_spool(&format!("android-{name}"));
        let config = root.join("simgate.toml");
        std::fs::write(
            &config,
            format!(
                "[modem]\ntransport = \"android\"\ndevice = \"{url}\"\npassword = \"secret\"\n\
                 signing_key = \"signing-key\"\nwebhook_listen = \"{listen}\"\n\
                 check_interval = \"100ms\"\nsend_timeout = \"5s\"\n\
                 status_interval = \"{status_interval}\"\n\n\
                 [send]\nretry_delay = \"1s\"\n\n[spool]\n\
                 inbox = \"{r}/inbox\"\noutbox = \"{r}/outbox\"\nsent = \"{r}/sent\"\n\
                 error = \"{r}/error\"\n\n[database]\npath = \"{r}/simgate.db\"\n\n\
                 [log]\nfile = \"{r}/simgate.log\"\nlevel = \"info\"\n",
                url = phone.url(),
                r = root.display()
            ),
        )
        .unwrap();
        let daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
        let setup = Self {
            phone,
            root,
            daemon,
        };
        setup
            .wait("webhooks registered", |s| s.webhooks.len() == 4)
            .await;
        setup
    }

    /// SIGKILL, then `simgate run` again on the same files.
    async fn kill_and_restart(&mut self) {
        let _ = self.daemon.start_kill();
        let _ = self.daemon.wait().await;
        self.daemon = spawn_simgate(
            &self.root.join("simgate.toml"),
            &self.root.join("stderr.log"),
            None,
        );
    }

    fn log(&self) -> String {
        let mut text = std::fs::read_to_string(self.root.join("simgate.log")).unwrap_or_default();
        text.push_str(&std::fs::read_to_string(self.root.join("stderr.log")).unwrap_or_default());
        text
    }

    fn queue(&self, name: &str, text: &str) {
        let outbox = self.root.join("outbox");
        let temporary = outbox.join(format!(".writing-{name}"));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, outbox.join(name)).unwrap();
    }

    async fn wait(&self, what: &str, done: impl Fn(&Snapshot) -> bool) {
        if !self.phone.wait_for(LIMIT, done).await {
            panic!(
                "{what}: not within {LIMIT:?}\nphone: {:?}\nlog:\n{}",
                self.phone.snapshot(),
                self.log()
            );
        }
    }

    /// Waits until `check` holds for simgate's files or log.
    async fn until(&self, what: &str, check: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + LIMIT;
        while !check(self) {
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{what}: not within {LIMIT:?}\nphone: {:?}\nlog:\n{}",
                    self.phone.snapshot(),
                    self.log()
                );
            }
            // Files and log lines appear without an event the test could
            // wait on; look again shortly (the loop ends as soon as they
            // are there).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn count(&self, dir: &str) -> usize {
        names(&self.root.join(dir)).len()
    }

    fn inbox_texts(&self) -> Vec<String> {
        names(&self.root.join("inbox"))
            .iter()
            .map(|name| read_text(&self.root.join("inbox").join(name)))
            .collect()
    }

    async fn stop(mut self) {
        let _ = self.daemon.start_kill();
        let _ = self.daemon.wait().await;
        self.phone.stop().await;
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// An inbox file's text: UTF-16LE after a BOM, else UTF-8.
fn read_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    match bytes.strip_prefix(&[0xFF, 0xFE]) {
        Some(utf16) => {
            let units: Vec<u16> = utf16
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).unwrap()
        }
        None => String::from_utf8(bytes).unwrap(),
    }
}

fn times_sent(snapshot: &Snapshot, text: &str) -> usize {
    snapshot.network.iter().filter(|(_, t)| t == text).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_single_long_and_unicode_messages_once_each() {
    let setup = Setup::start("send").await;
    let long = "A long message that the phone splits itself. ".repeat(8);
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
    setup
        .until("three sent files", |s| s.count("sent") == 3)
        .await;
    let snapshot = setup.phone.snapshot();
    let mut expected: Vec<(String, String)> = messages
        .iter()
        .map(|(name, text)| {
            let number = name.trim_start_matches("OUT").trim_end_matches(".txt");
            (number.to_owned(), (*text).to_owned())
        })
        .collect();
    let mut sent = snapshot.network.clone();
    expected.sort();
    sent.sort();
    assert_eq!(sent, expected, "each text whole, once, to its number");
    assert_eq!(snapshot.messages.len(), 3);
    assert_eq!(setup.count("error"), 0);
    setup.stop().await;
}

/// What `simgate status --json` says of the phone now.
fn phone_status(root: &Path) -> serde_json::Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["status", "--json", "-c"])
        .arg(root.join("simgate.toml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    status["modem"]["phone"].clone()
}

/// `simgate status` shows the phone's battery, network and SIMs as the
/// app reports them, and follows them as they change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_phone_s_battery_network_and_sims() {
    let setup = Setup::start_with("phone-status", "127.0.0.1:0", "200ms").await;
    setup
        .until("the phone's first status", |s| {
            phone_status(&s.root)["battery_percent"] == 80
        })
        .await;
    let phone = phone_status(&setup.root);
    assert_eq!(phone["charging"], true);
    assert_eq!(phone["online"], true);
    assert_eq!(phone["network"], "wifi");
    assert_eq!(phone["sims"][0]["carrier"], "Emulated Carrier");
    setup.phone.set_info(PhoneInfo {
        battery: 14,
        charging: 0,
        online: true,
        transport: 2,
        cellular: 4,
        sims: vec![
            (1, Some("Home".into()), Some("+4917000".into())),
            (2, Some("Travel".into()), None),
        ],
    });
    setup
        .until("the phone's new status", |s| {
            phone_status(&s.root)["battery_percent"] == 14
        })
        .await;
    let phone = phone_status(&setup.root);
    assert_eq!(phone["charging"], false);
    assert_eq!(phone["network"], "cellular 4G");
    // The SIMs are read when the phone connects: still the first list.
    assert_eq!(phone["sims"].as_array().unwrap().len(), 1);
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["status", "-c"])
        .arg(setup.root.join("simgate.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(
            "phone: battery 14 % (not charging); online over cellular 4G; SIM 1 Emulated Carrier"
        ),
        "{text}"
    );
    setup.stop().await;
}

/// A received message simgate cannot write (its inbox is not a folder
/// for a while) is refused at once (503, the app posts it again), not
/// after the five minutes the phone's handler waits for a word: the
/// messages after it are not held up, and each ends in the inbox once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_cannot_be_written_is_refused_at_once_and_holds_up_nothing() {
    let setup = Setup::start("refused").await;
    let inbox = setup.root.join("inbox");
    let away = setup.root.join("inbox.away");
    std::fs::rename(&inbox, &away).unwrap();
    std::fs::write(&inbox, "not a folder").unwrap();
    setup.phone.deliver("+4915550001", "written later");
    setup
        .wait("the webhook refused", |s| s.webhooks_refused >= 2)
        .await;
    std::fs::remove_file(&inbox).unwrap();
    std::fs::rename(&away, &inbox).unwrap();
    setup.phone.deliver("+4915550002", "right behind it");
    setup
        .until("both in the inbox", |s| s.count("inbox") == 2)
        .await;
    let mut texts = setup.inbox_texts();
    texts.sort();
    assert_eq!(texts, ["right behind it", "written later"]);
    setup
        .wait("both webhooks taken", |s| s.received_taken.len() == 2)
        .await;
    assert_eq!(setup.count("inbox"), 2, "each once");
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_identical_messages_to_one_number_both_go_out() {
    let setup = Setup::start("twins").await;
    setup.queue(
        "OUTC20240101_120000_00_+4915112345678_sms0.txt",
        "the same words",
    );
    setup.queue(
        "OUTC20240101_120000_01_+4915112345678_sms0.txt",
        "the same words",
    );
    setup
        .until("two sent files", |s| s.count("sent") == 2)
        .await;
    let snapshot = setup.phone.snapshot();
    assert_eq!(times_sent(&snapshot, "the same words"), 2);
    assert_eq!(snapshot.conflicts, 0);
    setup.stop().await;
}

/// A message sent by one database, then the database replaced by a fresh
/// one (state wiped, a renamed configuration, a second daemon) and a
/// message with the same number and text queued as its first row: the
/// phone must not take it for a retry of the old one (same id, "already
/// exists") and simgate must not record it as sent: it goes out again.
/// (A retry by the same database keeps its id and is refused as a
/// duplicate: `a_lost_answer_and_the_phone_gone_is_posted_again_and_refused_as_a_duplicate`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_database_s_first_message_is_sent_though_the_phone_has_an_old_one_alike() {
    let mut setup = Setup::start("fresh-database").await;
    setup.queue("OUT+4917000000001.txt", "Alarm: door open");
    setup.until("sent", |s| s.count("sent") == 1).await;
    let _ = setup.daemon.start_kill();
    let _ = setup.daemon.wait().await;
    for file in ["simgate.db", "simgate.db-wal", "simgate.db-shm"] {
        let _ = std::fs::remove_file(setup.root.join(file));
    }
    setup.kill_and_restart().await;
    setup.queue("OUT+4917000000001.txt", "Alarm: door open");
    setup.until("sent again", |s| s.count("sent") == 2).await;
    let snapshot = setup.phone.snapshot();
    assert_eq!(
        times_sent(&snapshot, "Alarm: door open"),
        2,
        "the new database's message went out: {snapshot:?}"
    );
    assert_eq!(snapshot.messages.len(), 2);
    assert_eq!(snapshot.conflicts, 0, "never taken for a retry");
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receives_signed_webhooks_once_each_even_when_posted_twice() {
    let setup = Setup::start("receive").await;
    setup.phone.duplicate_webhooks(true);
    let long = "Привет! Это длинное сообщение 😀, которое не помещается в одну часть. ".repeat(3);
    let first = setup.phone.deliver("+4915112345678", "hi there");
    let second = setup.phone.deliver("Telekom", &long);
    setup
        .wait("both webhooks, both copies, answered 2xx", |s| {
            s.received_taken.iter().filter(|id| **id == first).count() == 2
                && s.received_taken.iter().filter(|id| **id == second).count() == 2
        })
        .await;
    let texts = setup.inbox_texts();
    assert_eq!(
        texts.iter().filter(|t| *t == "hi there").count(),
        1,
        "{texts:?}"
    );
    let joined: String = names(&setup.root.join("inbox"))
        .iter()
        .filter(|n| n.contains("Telekom"))
        .map(|n| read_text(&setup.root.join("inbox").join(n)))
        .collect();
    assert_eq!(joined, long);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_message_gets_its_delivery_report() {
    let setup = Setup::start("report").await;
    setup.queue("OUT+4915112345678.txt", "please confirm");
    setup
        .until("the delivery report recorded", |s| {
            s.log()
                .lines()
                .any(|l| l.contains("delivery report") && l.contains("delivered"))
        })
        .await;
    let log = setup.log();
    assert!(
        !log.contains("delivery report for no known message"),
        "{log}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_offline_then_back_loses_and_repeats_nothing() {
    let setup = Setup::start("offline").await;
    let registered = |s: &Snapshot| s.requests.get("POST /webhooks").copied().unwrap_or(0);
    let before = registered(&setup.phone.snapshot());
    setup.phone.offline().await;
    setup
        .until("simgate noticed", |s| s.log().contains("stopped answering"))
        .await;
    setup.queue("OUT+4915112345678.txt", "sent once the phone is back");
    setup.phone.online().await;
    setup.until("sent", |s| s.count("sent") == 1).await;
    let snapshot = setup.phone.snapshot();
    assert_eq!(times_sent(&snapshot, "sent once the phone is back"), 1);
    assert!(
        registered(&snapshot) >= before + 4,
        "webhooks registered again"
    );
    assert_eq!(setup.count("error"), 0);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_after_post_never_sends_twice() {
    let setup = Setup::start("lost-answer").await;
    setup.phone.lose_next_post_answer();
    setup.queue("OUT+4915112345678.txt", "sent once, answer lost");
    setup.until("sent", |s| s.count("sent") == 1).await;
    let snapshot = setup.phone.snapshot();
    assert_eq!(times_sent(&snapshot, "sent once, answer lost"), 1);
    assert_eq!(snapshot.messages.len(), 1);
    assert_eq!(setup.count("error"), 0);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_the_phone_failed_goes_out_once_on_the_retry() {
    let setup = Setup::start("failed").await;
    setup.phone.fail_sends(1);
    setup.queue("OUT+4915112345678.txt", "second time lucky");
    setup.until("sent", |s| s.count("sent") == 1).await;
    let snapshot = setup.phone.snapshot();
    assert_eq!(times_sent(&snapshot, "second time lucky"), 1);
    assert_eq!(snapshot.messages.len(), 2, "the retry under a fresh id");
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_and_the_phone_gone_is_posted_again_and_refused_as_a_duplicate() {
    let setup = Setup::start("lost-and-gone").await;
    setup.phone.lose_next_post_answer_then_go_offline();
    setup.queue("OUT+4915112345678.txt", "taken, then the phone vanished");
    setup
        .until("simgate gave the try up as not sent yet", |s| {
            s.log().contains("has not sent the message yet")
        })
        .await;
    setup.phone.online().await;
    setup.until("sent", |s| s.count("sent") == 1).await;
    let snapshot = setup.phone.snapshot();
    assert_eq!(times_sent(&snapshot, "taken, then the phone vanished"), 1);
    assert_eq!(snapshot.messages.len(), 1);
    assert!(
        snapshot.conflicts >= 1,
        "the retry was refused as a duplicate"
    );
    assert_eq!(setup.count("error"), 0);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_webhook_never_came_is_found_in_the_app_s_list_once() {
    let setup = Setup::start("inbox-list").await;
    setup.phone.drop_received_webhooks(true);
    setup.phone.deliver("+4915112345678", "only in the list");
    setup
        .until("the message in the inbox", |s| {
            s.inbox_texts().iter().any(|t| t == "only in the list")
        })
        .await;
    // Later reads of the list, and its webhook after all, add nothing.
    setup.phone.drop_received_webhooks(false);
    let id = setup.phone.deliver("+4915112345678", "by webhook");
    setup
        .wait("the second by webhook", |s| s.received_taken.contains(&id))
        .await;
    let reads = |s: &Snapshot| s.requests.get("GET /inbox").copied().unwrap_or(0);
    let now = reads(&setup.phone.snapshot());
    setup
        .wait("two more reads of the list", |s| reads(s) >= now + 2)
        .await;
    let texts = setup.inbox_texts();
    assert_eq!(
        texts.iter().filter(|t| *t == "only in the list").count(),
        1,
        "{texts:?}"
    );
    assert_eq!(
        texts.iter().filter(|t| *t == "by webhook").count(),
        1,
        "{texts:?}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_it_sends_and_receives_everything_once() {
    // A fixed port: the phone keeps posting to the address registered.
    let port = crate::support::port_for_a_daemon();
    let mut setup = Setup::start_on("crash", &format!("127.0.0.1:{port}")).await;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut random = seed;
    let mut next = move || {
        random = random
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        random >> 33
    };
    let texts: Vec<String> = (0..30).map(|i| format!("crash test message {i}")).collect();
    for (i, text) in texts.iter().enumerate() {
        setup.queue(
            &format!("OUTC20240101_120000_{i:02}_+491510000{i:04}_sms0.txt"),
            text,
        );
    }
    let mut incoming = Vec::new();
    for round in 0..8 {
        for k in 0..2 {
            let text = format!("incoming {round}-{k}");
            let id = setup.phone.deliver("+4917000000001", &text);
            incoming.push((id, text));
        }
        // The kill's moment, at random: not a wait for anything.
        tokio::time::sleep(Duration::from_millis(30 + next() % 400)).await;
        setup.kill_and_restart().await;
    }
    setup
        .until("all sent", |s| s.count("sent") == texts.len())
        .await;
    setup
        .wait("every received message taken", |s| {
            incoming.iter().all(|(id, _)| s.received_taken.contains(id))
        })
        .await;
    let snapshot = setup.phone.snapshot();
    let log = setup.log();
    eprintln!(
        "{} sends in doubt after a kill sent again, {} refused as duplicates, {} webhooks not taken",
        log.matches("the device never sends one message twice").count(),
        snapshot.conflicts,
        snapshot.webhooks_refused
    );
    for text in &texts {
        assert_eq!(times_sent(&snapshot, text), 1, "{text} (seed {seed})");
    }
    assert_eq!(snapshot.network.len(), texts.len(), "seed {seed}");
    assert_eq!(setup.count("error"), 0, "seed {seed}");
    let inbox = setup.inbox_texts();
    for (_, text) in &incoming {
        assert_eq!(
            inbox.iter().filter(|t| *t == text).count(),
            1,
            "{text} in {inbox:?} (seed {seed})"
        );
    }
    setup.stop().await;
}

/// A waiter looks again only when the phone changed: its own snapshots and
/// the test's are reads, not changes (they used to wake it at once, so a
/// `wait_for` spun while it waited).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_waiter_wakes_only_when_the_phone_changed() {
    let phone = AndroidEmulator::start(AndroidConfig::default())
        .await
        .unwrap();
    let looks = crate::support::looks_of_a_waiter(
        |looks| phone.wait_for(Duration::from_secs(10), move |_| looks.look()),
        || drop(phone.snapshot()),
        |n| phone.fail_sends(n),
    )
    .await;
    assert_eq!(
        looks,
        1 + 3 + 1,
        "the first look, one per change, a last one at the limit"
    );
}

/// `simgate run --http ADDRESS` on the port a phone's `webhook_listen` has:
/// refused before anything starts, naming both. Before, the file's check
/// did not see `--http`, and the two sockets raced: the daemon exited on
/// "Address already in use", or ran on with the phone's webhooks deaf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_http_on_a_phone_s_webhook_port_is_refused() {
    let root = crate::support::fresh_spool("http-on-webhook-port");
    let port = crate::support::port_for_a_daemon();
    let config = root.join("simgate.toml");
    std::fs::write(
        &config,
        format!(
            "[modem]\ntransport = \"android\"\ndevice = \"http://127.0.0.1:9\"\n\
             password = \"pa55\"\nsigning_key = \"k3y\"\nwebhook_listen = \"127.0.0.1:{port}\"\n\n\
             [spool]\ninbox = \"{0}/inbox\"\noutbox = \"{0}/outbox\"\nsent = \"{0}/sent\"\n\
             error = \"{0}/error\"\n\n[database]\npath = \"{0}/simgate.db\"\n",
            root.display()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["run", "-c"])
        .arg(&config)
        .args(["--http", &format!("127.0.0.1:{port}")])
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("simgate run still running after 30 s")
        .unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("modem.webhook_listen") && stderr.contains("http.listen has that port"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
