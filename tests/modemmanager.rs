//! The real `simgate run` on a modem ModemManager owns: the stand-in
//! (`simgate::emulator::modemmanager`) on a private bus, a real
//! `dbus-daemon` started here, and the real spool, SQLite and inotify.
//! Sending (single, long, Unicode), receiving (the inbox file written
//! before the Delete), a delivery report matched, the modem unplugged
//! and back, a refused send, a lost Send answer (also across a kill of
//! simgate), and `simgate modem probe --modemmanager`: nothing lost,
//! nothing sent twice.

use crate::support::{fresh_spool, spawn_simgate};
use simgate::emulator::modemmanager::{BusDaemon, MmConfig, MmEmulator, Snapshot};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The failure guard of every wait (each ends as soon as what it waits
/// for happened).
const LIMIT: Duration = Duration::from_secs(60);

const READY: &str = "the ModemManager modem is ready";

struct Setup {
    mm: MmEmulator,
    /// What the stand-in was started with (to start it again).
    config: MmConfig,
    root: PathBuf,
    daemon: tokio::process::Child,
    // Dropped last: the bus outlives the stand-in's connection.
    _bus: BusDaemon,
}

impl Setup {
    async fn start(name: &str) -> Self {
        Self::start_with(name, MmConfig::default(), "").await
    }

    /// With the stand-in configured by `config` and `extra` TOML after
    /// the rest.
    async fn start_with(name: &str, mut config: MmConfig, extra: &str) -> Self {
        let bus = BusDaemon::start().expect("dbus-daemon (Debian package dbus-daemon)");
        let root = fresh_spool(&format!("mm-{name}"));
        let inbox = root.join("inbox");
        // The parts of a long message are files named in a row: their
        // texts, joined in name order, hold the whole text.
        config.on_delete = Some(Arc::new(move |text: &str| {
            names(&inbox)
                .iter()
                .map(|n| read_text(&inbox.join(n)))
                .collect::<String>()
                .contains(text)
        }));
        let mm = MmEmulator::start(bus.address(), config.clone())
            .await
            .unwrap();
        let file = root.join("simgate.toml");
        std::fs::write(
            &file,
            format!(
                "[modem]\ntransport = \"modemmanager\"\ndevice = \"any\"\nbus = \"{bus}\"\n\
                 command_timeout = \"2s\"\nsend_timeout = \"5s\"\nstatus_interval = \"0s\"\n\n\
                 [send]\nretry_delay = \"1s\"\n\n[spool]\n\
                 inbox = \"{r}/inbox\"\noutbox = \"{r}/outbox\"\nsent = \"{r}/sent\"\n\
                 error = \"{r}/error\"\n\n[database]\npath = \"{r}/simgate.db\"\n\n\
                 [log]\nfile = \"{r}/simgate.log\"\nlevel = \"info\"\n{extra}",
                bus = bus.address(),
                r = root.display()
            ),
        )
        .unwrap();
        let daemon = spawn_simgate(&file, &root.join("stderr.log"), None);
        let setup = Self {
            mm,
            config,
            root,
            daemon,
            _bus: bus,
        };
        setup
            .until("the modem ready", |s| s.log().contains(READY))
            .await;
        setup
    }

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
        if !self.mm.wait_for(LIMIT, done).await {
            panic!(
                "{what}: not within {LIMIT:?}\nstand-in: {:?}\nlog:\n{}",
                self.mm.snapshot(),
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
                    "{what}: not within {LIMIT:?}\nstand-in: {:?}\nlog:\n{}",
                    self.mm.snapshot(),
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
        self.mm.stop().await;
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
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    match bytes.strip_prefix(&[0xFF, 0xFE]) {
        Some(utf16) => {
            let units: Vec<u16> = utf16
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        None => String::from_utf8_lossy(&bytes).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_single_long_and_unicode_messages_once_each() {
    let setup = Setup::start("send").await;
    let long = "A long message that ModemManager splits itself. ".repeat(8);
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
        .wait("three messages sent", |s| s.sent.len() >= 3)
        .await;
    setup
        .until("three sent files", |s| s.count("sent") == 3)
        .await;
    let snapshot = setup.mm.snapshot();
    let mut expected: Vec<(String, String)> = messages
        .iter()
        .map(|(name, text)| {
            let number = name.trim_start_matches("OUT").trim_end_matches(".txt");
            (number.to_owned(), (*text).to_owned())
        })
        .collect();
    let mut sent: Vec<(String, String)> = snapshot
        .sent
        .iter()
        .map(|s| (s.number.clone(), s.text.clone()))
        .collect();
    expected.sort();
    sent.sort();
    assert_eq!(sent, expected, "each text whole, once, to its number");
    assert_eq!((snapshot.creates, snapshot.send_calls), (3, 3));
    assert_eq!(setup.count("error"), 0);
    // Each sent object is deleted once the next message went out; the
    // last one stays for a restart to find.
    let last = snapshot.sent[2].path.clone();
    setup
        .wait("the older sent objects deleted", |s| {
            s.objects.keys().eq([&last])
        })
        .await;
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receives_single_and_multipart_messages_and_deletes_each_after_its_inbox_file() {
    let setup = Setup::start("receive").await;
    let long = "Привет! Это длинное сообщение 😀, которое не помещается в одну часть. ".repeat(3);
    setup
        .mm
        .receive("+4915112345678", "hi there", LIMIT)
        .await
        .unwrap();
    setup
        .mm
        .receive("+4915187654321", &long, LIMIT)
        .await
        .unwrap();
    setup
        .wait("both objects deleted", |s| s.deleted.len() >= 2)
        .await;
    let snapshot = setup.mm.snapshot();
    assert_eq!(snapshot.deleted.len(), 2, "{:?}", snapshot.deleted);
    for deletion in &snapshot.deleted {
        assert_eq!(
            deletion.inbox_had_it,
            Some(true),
            "deleted before its inbox file was there: {deletion:?}"
        );
    }
    let texts = setup.inbox_texts();
    assert_eq!(
        texts.iter().filter(|t| *t == "hi there").count(),
        1,
        "{texts:?}"
    );
    let joined: String = names(&setup.root.join("inbox"))
        .iter()
        .filter(|n| n.contains("4915187654321"))
        .map(|n| read_text(&setup.root.join("inbox").join(n)))
        .collect();
    assert_eq!(joined, long);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_report_is_matched_to_its_message() {
    let setup = Setup::start_with(
        "report",
        MmConfig::default(),
        "\n[receive]\ndelivery_report = \"log\"\n",
    )
    .await;
    setup.queue("OUT+4915112345678.txt", "please confirm");
    setup.wait("sent", |s| s.sent.len() == 1).await;
    let sent = setup.mm.snapshot().sent[0].clone();
    assert!(sent.delivery_report, "a report asked for: {sent:?}");
    setup.until("the sent file", |s| s.count("sent") == 1).await;
    setup
        .mm
        .status_report(sent.reference, "+4915112345678", 0)
        .await
        .unwrap();
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
    setup
        .wait("the report's object deleted", |s| s.deleted.len() == 1)
        .await;
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_modem_unplugged_then_back_loses_and_repeats_nothing() {
    let setup = Setup::start("gone").await;
    setup.mm.remove_modem().await.unwrap();
    setup
        .until("the loss noticed", |s| {
            s.log().contains("lost the ModemManager modem")
        })
        .await;
    setup.queue("OUT+4915112345678.txt", "while away");
    setup.mm.add_modem().await.unwrap();
    setup
        .wait("sent after the return", |s| s.sent.len() == 1)
        .await;
    setup.until("the sent file", |s| s.count("sent") == 1).await;
    let snapshot = setup.mm.snapshot();
    assert_eq!(snapshot.sent[0].text, "while away");
    assert_eq!(snapshot.send_calls, 1);
    assert!(
        snapshot.sent[0]
            .path
            .starts_with("/org/freedesktop/ModemManager1/SMS/"),
        "{snapshot:?}"
    );
    assert_eq!(
        setup.log().matches(READY).count(),
        2,
        "ready again after the return"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_send_goes_out_once_from_the_same_object() {
    let setup = Setup::start("refused").await;
    setup.mm.fail_sends(1);
    setup.queue("OUT+4915112345678.txt", "second time lucky");
    setup.wait("sent", |s| s.sent.len() == 1).await;
    setup.until("the sent file", |s| s.count("sent") == 1).await;
    let snapshot = setup.mm.snapshot();
    assert_eq!(snapshot.send_calls, 2, "refused, then sent");
    assert_eq!(
        snapshot.creates, 1,
        "the retry used the object it journaled"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_send_answer_is_settled_by_the_object_and_never_sent_twice() {
    let setup = Setup::start("lost").await;
    setup.mm.lose_next_send_answer();
    setup.queue("OUT+4915112345678.txt", "answer lost");
    setup.until("the sent file", |s| s.count("sent") == 1).await;
    let snapshot = setup.mm.snapshot();
    assert_eq!(snapshot.sent.len(), 1);
    assert_eq!((snapshot.creates, snapshot.send_calls), (1, 1));
    assert_eq!(setup.count("error"), 0);
    let log = setup.log();
    assert!(
        log.contains("asking the SMS object what became of it"),
        "the answer was lost and the object asked:\n{log}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_a_send_is_unanswered_it_is_not_sent_again_after_the_restart() {
    let mut setup = Setup::start("killed").await;
    setup.mm.lose_next_send_answer();
    setup.queue("OUT+4915112345678.txt", "in doubt at the kill");
    setup
        .wait("the send under way", |s| s.sent.len() == 1)
        .await;
    setup.kill_and_restart().await;
    setup
        .until("the sent file after the restart", |s| s.count("sent") == 1)
        .await;
    let snapshot = setup.mm.snapshot();
    assert_eq!(snapshot.sent.len(), 1);
    assert_eq!(
        (snapshot.creates, snapshot.send_calls),
        (1, 1),
        "the journaled object was found sent: {snapshot:?}"
    );
    let log = setup.log();
    assert!(
        log.contains("was sent before (a retry or a restart): not sent again"),
        "settled through the journal after the restart:\n{log}"
    );
    setup.stop().await;
}

fn probe(bus: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["modem", "probe", "--modemmanager", "--bus", bus])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_lists_the_modems_and_says_which_can_be_used() {
    let bus = BusDaemon::start().unwrap();
    let mm = MmEmulator::start(bus.address(), MmConfig::default())
        .await
        .unwrap();
    let text = tokio::task::spawn_blocking({
        let address = bus.address().to_owned();
        move || probe(&address)
    })
    .await
    .unwrap();
    assert!(text.contains("[0] Quectel EC25"), "{text}");
    assert!(text.contains("490154203237518"), "{text}");
    assert!(text.contains("usable: yes"), "{text}");
    mm.stop().await;

    let locked_bus = BusDaemon::start().unwrap();
    let locked = MmConfig {
        state: 2,
        unlock_required: 2,
        messaging: false,
        ..MmConfig::default()
    };
    let mm = MmEmulator::start(locked_bus.address(), locked)
        .await
        .unwrap();
    let text = tokio::task::spawn_blocking({
        let address = locked_bus.address().to_owned();
        move || probe(&address)
    })
    .await
    .unwrap();
    assert!(
        text.contains("usable: no, its SIM is locked (it asks for sim-pin)"),
        "{text}"
    );
    mm.stop().await;

    // A bus without ModemManager, and no bus at all: a plain error.
    let empty = BusDaemon::start().unwrap();
    for (bus, says) in [
        (empty.address().to_owned(), "is it running?"),
        (
            "unix:path=/nonexistent/simgate-no-bus".to_owned(),
            "cannot reach the D-Bus bus",
        ),
    ] {
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
                .args(["modem", "probe", "--modemmanager", "--bus", &bus])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{output:?}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_signal_registration_and_operator_modemmanager_gives() {
    let config = MmConfig {
        signal_percent: 58,
        rssi: -77.0,
        operator: "Probe Telecom".to_owned(),
        ..MmConfig::default()
    };
    let setup = Setup::start_with("status", config, "").await;
    let status = |root: &Path| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
            .arg("status")
            .arg("-c")
            .arg(root.join("simgate.toml"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    setup
        .until("the readings in simgate status", |s| {
            status(&s.root).contains("operator Probe Telecom")
        })
        .await;
    let text = status(&setup.root);
    assert!(text.contains("-77 dBm (58 %)"), "{text}");
    assert!(text.contains("registered"), "{text}");
    assert!(text.contains("Quectel EC25 (ModemManager)"), "{text}");
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_send_answer_whose_object_vanished_is_ambiguous_and_not_resent() {
    let setup = Setup::start("vanished").await;
    setup.mm.lose_next_send_answer();
    setup.queue("OUT+4915112345678.txt", "gone with the modem");
    setup
        .wait("the send under way", |s| s.sent.len() == 1)
        .await;
    // Unplugged while the answer is awaited: the object goes with it.
    setup.mm.remove_modem().await.unwrap();
    setup.mm.add_modem().await.unwrap();
    setup
        .until("the message given up as ambiguous", |s| {
            s.count("error") == 1
        })
        .await;
    let snapshot = setup.mm.snapshot();
    assert_eq!(
        (snapshot.creates, snapshot.send_calls),
        (1, 1),
        "{snapshot:?}"
    );
    assert_eq!(setup.count("sent"), 0);
    let log = setup.log();
    assert!(
        log.contains("no longer knows the SMS object"),
        "settled as ambiguous because the object is gone:\n{log}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_of_each_part_of_a_long_message_are_matched() {
    let setup = Setup::start_with(
        "long-report",
        MmConfig::default(),
        "\n[receive]\ndelivery_report = \"log\"\n",
    )
    .await;
    let long = "Three parts of GSM text for three delivery reports. ".repeat(7);
    setup.queue("OUT+4915112345678.txt", &long);
    setup.wait("sent", |s| s.sent.len() == 1).await;
    setup.until("the sent file", |s| s.count("sent") == 1).await;
    let last = setup.mm.snapshot().sent[0].reference;
    // The stand-in numbers the parts of one send in a row, as a modem does.
    for reference in [last - 2, last - 1, last] {
        setup
            .mm
            .status_report(reference, "+4915112345678", 0)
            .await
            .unwrap();
    }
    setup
        .until("three delivery reports recorded", |s| {
            s.log()
                .lines()
                .filter(|l| l.contains("delivery report") && l.contains("delivered"))
                .count()
                == 3
        })
        .await;
    let log = setup.log();
    for part in 1..=3 {
        assert!(
            log.lines()
                .any(|l| l.contains("delivery report") && l.contains(&format!("part={part}"))),
            "part {part} matched:\n{log}"
        );
    }
    assert!(
        !log.contains("delivery report for no known message"),
        "{log}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modemmanager_restarting_numbers_its_objects_afresh_and_nothing_is_skipped() {
    let mut setup = Setup::start("restart").await;
    let first = setup
        .mm
        .receive("+4915112345678", "before the restart", LIMIT)
        .await
        .unwrap();
    setup
        .wait("the first deleted", |s| s.deleted.len() == 1)
        .await;
    // ModemManager exits and comes back: the same paths name new objects.
    let address = setup._bus.address().to_owned();
    let old = std::mem::replace(
        &mut setup.mm,
        MmEmulator::start(&address, setup.config.clone())
            .await
            .unwrap(),
    );
    old.close().await;
    setup
        .until("ready with the new ModemManager", |s| {
            s.log().contains("ModemManager left the bus or restarted")
                && s.log().matches(READY).count() == 2
        })
        .await;
    let second = setup
        .mm
        .receive("+4915112345678", "after the restart", LIMIT)
        .await
        .unwrap();
    assert_eq!(
        first, second,
        "the stand-in numbers afresh, as ModemManager does"
    );
    setup
        .wait("the second deleted", |s| s.deleted.len() == 1)
        .await;
    let texts = setup.inbox_texts();
    for text in ["before the restart", "after the restart"] {
        assert_eq!(texts.iter().filter(|t| *t == text).count(), 1, "{texts:?}");
    }
    setup.stop().await;
}
