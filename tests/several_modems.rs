//! Several modems in one daemon (issue 14 §3), each a real pseudo-terminal
//! emulator: they share the queue, a modem that goes away leaves its share
//! to the other, a part in doubt stays with the modem it went to, prefixes
//! route, each receives into the one inbox with its name as `PHONE_ID`,
//! `simgate status` shows each, and `/health` is ready while any can send.

use crate::scripted::{transient, Fleet};
use crate::support::until;
use simgate::config::{Config, ModemSettings};
use simgate::daemon::{DaemonError, DaemonEvent, DaemonOptions};
use simgate::emulator::{Emulator, EmulatorConfig, EmulatorEvent, Fault, Profile, Times};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A daemon on two emulated modems, `a` (`[modem]`) and `b` (`[[modems]]`).
struct Pair {
    a: Emulator,
    b: Emulator,
    root: PathBuf,
    events: mpsc::UnboundedReceiver<DaemonEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), DaemonError>>>,
    config: Config,
}

impl Pair {
    async fn start(name: &str, configure: impl FnOnce(&mut Config)) -> Self {
        let root = std::env::temp_dir().join(format!("simgate-pair-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["inbox", "outbox", "sent", "error"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        let a = Emulator::start(EmulatorConfig::new(Profile::Generic))
            .await
            .unwrap();
        let b = Emulator::start(EmulatorConfig::new(Profile::Generic))
            .await
            .unwrap();
        let mut config = Config::new(a.path());
        config.modem.name = Some("a".to_owned());
        let mut second = ModemSettings::new(b.path());
        second.name = Some("b".to_owned());
        config.more_modems.push(second);
        config.spool.inbox = root.join("inbox");
        config.spool.outbox = root.join("outbox");
        config.spool.sent = Some(root.join("sent"));
        config.spool.error = Some(root.join("error"));
        config.database.path = Some(root.join("simgate.db"));
        configure(&mut config);
        let (events, stop, task) = Self::serve(config.clone());
        let mut pair = Self {
            a,
            b,
            root,
            events,
            stop: Some(stop),
            task: Some(task),
            config,
        };
        for _ in 0..2 {
            pair.wait_for(|e| matches!(e, DaemonEvent::ModemReady { .. }))
                .await;
        }
        pair
    }

    /// Starts a daemon on `config`: its events, its stop, its task.
    #[allow(clippy::type_complexity)]
    fn serve(
        config: Config,
    ) -> (
        mpsc::UnboundedReceiver<DaemonEvent>,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), DaemonError>>,
    ) {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let options = DaemonOptions {
            events: Some(events_tx),
            ..DaemonOptions::new(config)
        };
        let task = tokio::spawn(simgate::device::configured::serve(options, async {
            let _ = stopped.await;
        }));
        (events, stop, task)
    }

    /// Stops the daemon and starts it again on the same spool and
    /// database with `b` taken out of the configuration; waits until `a`
    /// is ready.
    async fn restart_without_b(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.config.more_modems.clear();
        let (events, stop, task) = Self::serve(self.config.clone());
        self.events = events;
        self.stop = Some(stop);
        self.task = Some(task);
        self.wait_for(|e| matches!(e, DaemonEvent::ModemReady { .. }))
            .await;
    }

    async fn wait_for(&mut self, wanted: impl Fn(&DaemonEvent) -> bool) -> DaemonEvent {
        let deadline = tokio::time::sleep(Duration::from_secs(60));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                event = self.events.recv() => {
                    let event = event.expect("the daemon stopped");
                    if wanted(&event) {
                        return event;
                    }
                }
                () = &mut deadline => panic!("no such daemon event within 60 s"),
            }
        }
    }

    fn drop_file(&self, name: &str, text: &str) {
        let temp = self.root.join(format!(".{name}"));
        std::fs::write(&temp, text).unwrap();
        std::fs::rename(&temp, self.root.join("outbox").join(name)).unwrap();
    }

    fn count(&self, dir: &str) -> usize {
        std::fs::read_dir(self.root.join(dir)).unwrap().count()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// How often each text went out through `modem`.
fn texts(modem: &Emulator) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for sent in modem.sent() {
        let text = sent
            .submit
            .user_data
            .body
            .text()
            .unwrap_or_default()
            .to_owned();
        *seen.entry(text).or_insert(0) += 1;
    }
    seen
}

/// 500 messages through two modems; one is unplugged in the middle of the
/// run for a while. Every message is sent exactly once, by one modem or the
/// other; both shared the work, and the one left carried on alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_modem_unplugged_mid_run_every_message_goes_out_once() {
    // A message the unplugged modem was sending when it went goes to the
    // other at once (it never waits the retry delay for its modem).
    let mut pair = Pair::start("unplug", |config| {
        config.send.retry_delay = Duration::from_secs(3600);
        config.send.retry_delay_max = Duration::from_secs(3600);
    })
    .await;
    let total = 500;
    for n in 0..total {
        pair.drop_file(&format!("OUT+49170{n:05}.txt"), &format!("message {n}"));
    }
    let mut sent = 0;
    while sent < 150 {
        pair.wait_for(|e| matches!(e, DaemonEvent::Sent { .. }))
            .await;
        sent += 1;
    }
    // Away for a while, whatever it was doing (a part may be in doubt).
    pair.a.unplug(Some(Duration::from_secs(3))).await;
    let b_at_unplug = pair.b.sent().len();
    while sent < total {
        pair.wait_for(|e| matches!(e, DaemonEvent::Sent { .. }))
            .await;
        sent += 1;
    }
    assert_eq!(pair.count("sent"), total);
    assert_eq!(pair.count("error"), 0);
    let (a, b) = (texts(&pair.a), texts(&pair.b));
    for n in 0..total {
        let text = format!("message {n}");
        let times = a.get(&text).unwrap_or(&0) + b.get(&text).unwrap_or(&0);
        assert_eq!(times, 1, "{text}: a {a:?}, b {b:?}");
    }
    assert!(!a.is_empty(), "a sent its share before it went away");
    assert!(
        pair.b.sent().len() > b_at_unplug + 100,
        "b carried on alone"
    );
    pair.stop().await;
}

/// A part handed to one modem whose answer never came stays with that
/// modem while it is away (never sent again through the other, which
/// sends the rest meanwhile), and is settled by it (its TP-MR counter)
/// once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_in_doubt_waits_for_its_own_modem() {
    let mut pair = Pair::start("doubt", |config| {
        config.modem.send_timeout = Duration::from_secs(2);
        config.more_modems[0].send_timeout = Duration::from_secs(2);
    })
    .await;
    let mut a_events = pair.a.subscribe();
    let mut b_events = pair.b.subscribe();
    for modem in [&pair.a, &pair.b] {
        modem.inject_fault(Fault::HangAfterPdu { times: Times::Once });
    }
    pair.drop_file("OUT+4917000000001.txt", "in doubt");
    let hung = |event: Result<EmulatorEvent, _>| matches!(event, Ok(EmulatorEvent::Hung(_)));
    let a_hung = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            tokio::select! {
                event = a_events.recv() => if hung(event) { return true },
                event = b_events.recv() => if hung(event) { return false },
            }
        }
    })
    .await
    .expect("one modem took the message and hung");
    let (gone, left) = if a_hung {
        (&pair.a, &pair.b)
    } else {
        (&pair.b, &pair.a)
    };
    left.clear_faults();
    gone.unplug(Some(Duration::from_secs(3))).await;
    for n in 0..5 {
        pair.drop_file(&format!("OUT+4330000000{n}.txt"), &format!("meanwhile {n}"));
    }
    let mut sent = 0;
    while sent < 5 {
        pair.wait_for(
            |e| matches!(e, DaemonEvent::Sent { file, .. } if file.starts_with("OUT+43")),
        )
        .await;
        sent += 1;
    }
    let (gone, left) = if a_hung {
        (&pair.a, &pair.b)
    } else {
        (&pair.b, &pair.a)
    };
    assert_eq!(texts(left).len(), 5, "the rest went through the modem left");
    assert!(!texts(left).contains_key("in doubt"));
    let _ = gone;
    pair.wait_for(
        |e| matches!(e, DaemonEvent::Sent { file, .. } if file == "OUT+4917000000001.txt"),
    )
    .await;
    let (gone, left) = if a_hung {
        (&pair.a, &pair.b)
    } else {
        (&pair.b, &pair.a)
    };
    assert_eq!(
        texts(gone).get("in doubt"),
        Some(&1),
        "sent once, by its modem"
    );
    assert!(!texts(left).contains_key("in doubt"));
    assert_eq!(pair.count("error"), 0);
    pair.stop().await;
}

/// A part handed to `b` whose answer never came, then `b` taken out of
/// the configuration and the daemon restarted with `a` alone: `a` never
/// settles that part with its own TP-MR counter (each modem sent one
/// message first, so `a`'s counter reads just what `b`'s read before the
/// part, and "the counter did not move" would say "not sent") nor sends
/// it again; the part stays in doubt and, by the default `[send]
/// ambiguous = "error"`, the message goes to error/ saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_in_doubt_of_a_modem_taken_out_is_never_settled_by_another() {
    let mut pair = Pair::start("doubt-removed", |config| {
        // Numbers of +49 go through b only.
        config.modem.prefixes = vec!["+43".to_owned()];
        config.more_modems[0].prefixes = vec!["+49".to_owned()];
        config.modem.send_timeout = Duration::from_secs(2);
        config.more_modems[0].send_timeout = Duration::from_secs(2);
    })
    .await;
    // Each modem sends one message first (its counter followed).
    pair.drop_file("OUT+4330000000.txt", "first through a");
    pair.drop_file("OUT+4917000000000.txt", "first through b");
    for _ in 0..2 {
        pair.wait_for(|e| matches!(e, DaemonEvent::Sent { .. }))
            .await;
    }
    let mut b_events = pair.b.subscribe();
    pair.b
        .inject_fault(Fault::HangAfterPdu { times: Times::Once });
    pair.drop_file("OUT+4917000000001.txt", "in doubt");
    tokio::time::timeout(Duration::from_secs(60), async {
        while !matches!(b_events.recv().await, Ok(EmulatorEvent::Hung(_))) {}
    })
    .await
    .expect("b took the message and hung");
    // b goes away for good, the part in doubt with it.
    pair.b.unplug(None).await;
    let database = pair.root.join("simgate.db");
    until("the part in doubt", || {
        rusqlite::Connection::open(&database)
            .unwrap()
            .query_row(
                "SELECT state FROM outgoing WHERE file_name = 'OUT+4917000000001.txt'",
                [],
                |row| row.get::<_, String>(0),
            )
            .is_ok_and(|state| state == "resolving")
    })
    .await;
    pair.restart_without_b().await;
    until("the message finished", || {
        pair.count("error") + pair.count("sent") == 3
    })
    .await;
    assert_eq!(texts(&pair.b).get("in doubt"), Some(&1));
    assert!(
        !texts(&pair.a).contains_key("in doubt"),
        "settled by a's counter and sent again through a: {:?}",
        texts(&pair.a)
    );
    assert_eq!(pair.count("error"), 1);
    let reason: String = rusqlite::Connection::open(&database)
        .unwrap()
        .query_row(
            "SELECT last_error FROM outgoing WHERE file_name = 'OUT+4917000000001.txt'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(
        reason.contains("modem \"b\"") && reason.contains("no longer configured"),
        "{reason}"
    );
    pair.stop().await;
}

/// Waits until the queued message of outbox file `file` is due again, by
/// the time the daemon recorded in `database` (wall-clock milliseconds).
async fn until_due_again(database: &std::path::Path, file: &str) {
    let due: i64 = rusqlite::Connection::open(database)
        .unwrap()
        .query_row(
            "SELECT next_attempt_ms FROM outgoing WHERE file_name = ?1",
            [file],
            |row| row.get(0),
        )
        .unwrap();
    until("the message due again", || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
            > due
    })
    .await;
}

/// How often `text` went out on a web device's network.
fn times_in(network: &[(String, String)], text: &str) -> usize {
    network.iter().filter(|(_, t)| t == text).count()
}

/// `simgate run` with a device that is not an AT modem as `[modem]` and
/// an emulated AT modem `b` beside it (unplugged until the test plugs it).
struct BesideAt {
    b: Emulator,
    root: PathBuf,
    config: PathBuf,
    daemon: Option<tokio::process::Child>,
}

impl BesideAt {
    /// Writes the configuration (`modem`: the `[modem]` section's lines;
    /// `retry_delay` for the `[send]` section) and starts simgate.
    async fn start(name: &str, modem: &str, retry_delay: &str) -> Self {
        let b = Emulator::start(EmulatorConfig::new(Profile::Generic))
            .await
            .unwrap();
        b.unplug(None).await;
        let root = crate::support::fresh_spool(name);
        let config = root.join("simgate.toml");
        std::fs::write(
            &config,
            format!(
                "[modem]\n{modem}\n\n\
                 [[modems]]\ndevice = \"{b}\"\nname = \"b\"\nstatus_interval = \"0s\"\n\n\
                 [send]\nretry_delay = \"{retry_delay}\"\nretry_delay_max = \"{retry_delay}\"\n\n\
                 [spool]\ninbox = \"{r}/inbox\"\noutbox = \"{r}/outbox\"\nsent = \"{r}/sent\"\n\
                 error = \"{r}/error\"\n\n[database]\npath = \"{r}/simgate.db\"\n\n\
                 [log]\nfile = \"{r}/simgate.log\"\nlevel = \"info\"\n",
                b = b.path().display(),
                r = root.display(),
            ),
        )
        .unwrap();
        let mut beside = Self {
            b,
            root,
            config,
            daemon: None,
        };
        beside.spawn();
        beside
    }

    /// Starts simgate (again).
    fn spawn(&mut self) {
        self.daemon = Some(crate::support::spawn_simgate(
            &self.config,
            &self.root.join("stderr.log"),
            None,
        ));
    }

    /// SIGKILL.
    async fn kill(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            let _ = daemon.start_kill();
            let _ = daemon.wait().await;
        }
    }

    fn drop_file(&self, name: &str, text: &str) {
        let temp = self.root.join(format!(".{name}"));
        std::fs::write(&temp, text).unwrap();
        std::fs::rename(&temp, self.root.join("outbox").join(name)).unwrap();
    }

    fn in_sent(&self, name: &str) -> bool {
        self.root.join("sent").join(name).exists()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("simgate.log")).unwrap_or_default()
    }

    fn state_of(&self, name: &str) -> Option<String> {
        rusqlite::Connection::open(self.root.join("simgate.db"))
            .ok()?
            .query_row(
                "SELECT state FROM outgoing WHERE file_name = ?1",
                [name],
                |row| row.get(0),
            )
            .ok()
    }

    async fn until_due_again(&self, file: &str) {
        until_due_again(&self.root.join("simgate.db"), file).await;
    }

    fn errors(&self) -> usize {
        std::fs::read_dir(self.root.join("error")).unwrap().count()
    }

    async fn stop(mut self) {
        self.kill().await;
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A long message whose first part went out through one modem and whose
/// second failed there (a transient `+CMS ERROR`) is finished by the same
/// modem, never by the other: the recipient's phone joins parts from one
/// sender only. (The other modem sent the second part before: the message
/// was queued again for any modem, so it arrived as two halves from two
/// numbers.) Meanwhile the other modem sends the rest of the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_partly_sent_is_finished_by_the_same_modem() {
    let mut pair = Pair::start("split", |config| {
        config.send.retry_delay = Duration::from_secs(1);
        config.send.retry_delay_max = Duration::from_secs(1);
    })
    .await;
    pair.b.unplug(None).await;
    pair.a.inject_fault(Fault::CmsErrorOnPart {
        part: 2,
        code: 42,
        times: Times::Always,
    });
    let mut a_events = pair.a.subscribe();
    let long = "split ".repeat(40);
    pair.drop_file("OUT+4917000000001.txt", &long);
    tokio::time::timeout(Duration::from_secs(60), async {
        while !matches!(a_events.recv().await, Ok(EmulatorEvent::SendFailed { .. })) {}
    })
    .await
    .expect("a sent the first part and failed the second");
    pair.a.unplug(None).await;
    pair.a.clear_faults();
    pair.b.replug_now();
    pair.wait_for(|e| matches!(e, DaemonEvent::ModemReady { .. }))
        .await;
    // Once the message is due again, `b` is ready and free: it would take
    // the message first (the queue goes in file-name order) if it could.
    until_due_again(&pair.root.join("simgate.db"), "OUT+4917000000001.txt").await;
    pair.drop_file("OUT+4917000000002.txt", "after it");
    pair.wait_for(
        |e| matches!(e, DaemonEvent::Sent { file, .. } if file == "OUT+4917000000002.txt"),
    )
    .await;
    assert_eq!(texts(&pair.b).get("after it"), Some(&1));
    assert_eq!(
        texts(&pair.b).len(),
        1,
        "b sent nothing of the message a had begun: {:?}",
        texts(&pair.b)
    );
    pair.a.replug_now();
    pair.wait_for(
        |e| matches!(e, DaemonEvent::Sent { file, .. } if file == "OUT+4917000000001.txt"),
    )
    .await;
    let parts: Vec<u8> = pair
        .a
        .sent()
        .iter()
        .filter_map(|m| m.submit.user_data.header.as_ref()?.concat())
        .map(|c| c.sequence)
        .collect();
    assert_eq!(parts, vec![1, 2], "each part once, both through a");
    assert_eq!(pair.count("error"), 0);
    pair.stop().await;
}

/// A phone (which never sends one message id twice) and an AT modem. The
/// phone takes a message, loses its answer and goes offline: the message
/// is in doubt, and the phone alone can settle it (by its id). It waits
/// for the phone while the AT modem, free, sends what comes after it; once
/// the phone is back it answers "already exists" and the message is sent,
/// once. (The AT modem sent it a second time before: the phone that could
/// not be asked was taken for a modem that cannot send now, and the
/// message went to the other modem at once.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_phone_holds_never_goes_out_through_the_other_modem() {
    use simgate::emulator::android::{AndroidConfig, AndroidEmulator};
    let phone = AndroidEmulator::start(AndroidConfig::default())
        .await
        .unwrap();
    let pair = BesideAt::start(
        "pair-phone",
        &format!(
            "name = \"phone\"\ntransport = \"android\"\ndevice = \"{}\"\n\
             password = \"secret\"\nsigning_key = \"signing-key\"\n\
             webhook_listen = \"127.0.0.1:0\"\ncheck_interval = \"100ms\"\n\
             send_timeout = \"3s\"\nstatus_interval = \"0s\"",
            phone.url()
        ),
        "1s",
    )
    .await;
    let phone_sent = |text: &str| times_in(&phone.snapshot().network, text);
    assert!(
        phone
            .wait_for(Duration::from_secs(60), |s| s.webhooks.len() == 4)
            .await,
        "the phone's webhooks registered"
    );

    phone.lose_next_post_answer_then_go_offline();
    pair.drop_file("OUT+4917000000001.txt", "in doubt");
    until("the phone sent it", || phone_sent("in doubt") == 1).await;
    pair.b.replug_now();
    pair.drop_file("OUT+4917000000002.txt", "while the phone is away");
    until("b sent the next", || pair.in_sent("OUT+4917000000002.txt")).await;
    // The phone could not be asked within the send timeout: the message
    // waits in the queue, due at once, and `b` is free (or, wrongly, `b`
    // took it and sent it).
    until("the message back in the queue", || {
        matches!(
            pair.state_of("OUT+4917000000001.txt").as_deref(),
            Some("queued" | "sent")
        )
    })
    .await;
    pair.drop_file("OUT+4917000000003.txt", "after it");
    until("b sent the last", || pair.in_sent("OUT+4917000000003.txt")).await;
    assert!(
        !texts(&pair.b).contains_key("in doubt"),
        "b sent the message the phone had sent: {:?}",
        texts(&pair.b)
    );

    phone.online().await;
    until("the message settled by the phone", || {
        pair.in_sent("OUT+4917000000001.txt")
    })
    .await;
    assert_eq!(phone_sent("in doubt"), 1, "sent once, by the phone");
    assert!(!texts(&pair.b).contains_key("in doubt"));
    assert_eq!(pair.errors(), 0);
    pair.stop().await;
}

/// A HiLink stick and an AT modem. simgate is killed while the stick
/// sends; after the restart the part in doubt is handed back to the stick
/// (its sent box settles it), and it stays with the stick while the stick
/// is away (a reboot) and the AT modem is free: the stick went on sending
/// it, and only its sent box can tell. (The AT modem sent it a second
/// time before: the message handed back was queued for any modem.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_handed_back_to_a_stick_after_a_restart_stays_with_the_stick() {
    use simgate::emulator::hilink::{HilinkConfig, HilinkEmulator};
    let stick = HilinkEmulator::start(HilinkConfig {
        send_time: Duration::from_millis(800),
        ..HilinkConfig::default()
    })
    .await
    .unwrap();
    let mut pair = BesideAt::start(
        "pair-stick",
        &format!(
            "name = \"stick\"\ntransport = \"hilink\"\ndevice = \"{}\"\n\
             check_interval = \"100ms\"\nsend_timeout = \"10s\"\nstatus_interval = \"0s\"",
            stick.url()
        ),
        "3s",
    )
    .await;
    let stick_sent = |text: &str| times_in(&stick.snapshot().network, text);

    pair.drop_file("OUT+4915100000001.txt", "in doubt");
    assert!(
        stick
            .wait_for(Duration::from_secs(60), |s| !s.send_requests.is_empty())
            .await,
        "the stick got the message"
    );
    pair.kill().await;
    until("the stick sent it", || stick_sent("in doubt") == 1).await;

    pair.b.replug_now();
    pair.spawn();
    pair.drop_file("OUT+4915100000002.txt", "after the restart");
    until("b or the stick sent the next", || {
        pair.in_sent("OUT+4915100000002.txt")
    })
    .await;
    until("the part handed back to the stick", || {
        pair.log().contains("handing it to the device again")
    })
    .await;
    // Away for longer than the retry delay: once the message is due, `b`
    // is the only modem ready.
    let (_, ()) = tokio::join!(stick.reboot(Duration::from_secs(8)), async {
        pair.until_due_again("OUT+4915100000001.txt").await;
        pair.drop_file("OUT+4915100000003.txt", "once it was due");
        until("b sent the last", || pair.in_sent("OUT+4915100000003.txt")).await;
    });
    assert!(
        !texts(&pair.b).contains_key("in doubt"),
        "b sent the message the stick had sent: {:?}",
        texts(&pair.b)
    );
    until("the message settled by the stick", || {
        pair.in_sent("OUT+4915100000001.txt")
    })
    .await;
    assert_eq!(stick_sent("in doubt"), 1, "sent once, by the stick");
    assert!(!texts(&pair.b).contains_key("in doubt"));
    assert_eq!(pair.errors(), 0);
    pair.stop().await;
}

/// Prefixes route: `+43` numbers only through `b`, the rest through `a`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_route_each_number_to_its_modem() {
    let mut pair = Pair::start("route", |config| {
        config.more_modems[0].prefixes = vec!["+43".to_owned()];
    })
    .await;
    for n in 0..10 {
        pair.drop_file(&format!("OUT+4330000{n:03}.txt"), &format!("austria {n}"));
        pair.drop_file(&format!("OUT+4917000{n:03}.txt"), &format!("germany {n}"));
    }
    let mut sent = 0;
    while sent < 20 {
        pair.wait_for(|e| matches!(e, DaemonEvent::Sent { .. }))
            .await;
        sent += 1;
    }
    let (a, b) = (texts(&pair.a), texts(&pair.b));
    assert!(a.keys().all(|t| t.starts_with("germany")), "{a:?}");
    assert!(b.keys().all(|t| t.starts_with("austria")), "{b:?}");
    assert_eq!((a.len(), b.len()), (10, 10));
    pair.stop().await;
}

/// A message received by either modem lands in the one inbox, and its
/// RunOnReceive hook is told which modem (`PHONE_ID`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_modem_receives_into_the_inbox_with_its_name() {
    let dir = std::env::temp_dir().join(format!("simgate-pair-hook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("phone-ids");
    let _ = std::fs::remove_file(&log);
    let hook = format!("echo \"$PHONE_ID $1\" >> {}", log.display());
    let mut pair = Pair::start("receive", |config| {
        config.hooks.run_on_receive = Some(hook);
    })
    .await;
    pair.a
        .inject_deliver(&crate::support::delivers("+4915100000001", "to a", 0)[0])
        .unwrap();
    pair.wait_for(|e| matches!(e, DaemonEvent::Received { .. }))
        .await;
    pair.b
        .inject_deliver(&crate::support::delivers("+4915100000002", "to b", 0)[0])
        .unwrap();
    pair.wait_for(|e| matches!(e, DaemonEvent::Received { .. }))
        .await;
    assert_eq!(pair.count("inbox"), 2);
    // The hooks run on their own: wait for both lines.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() == 2 || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut ids: Vec<&str> = lines.lines().filter_map(|l| l.split(' ').next()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a", "b"], "{lines}");
    assert!(lines.contains("+4915100000001") && lines.contains("+4915100000002"));
    pair.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `simgate status` (another process, reading the database) shows each
/// modem under its name, as text and JSON, read from the same TOML the
/// daemon would run with (`[modem]` and `[[modems]]`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_each_modem() {
    let pair = Pair::start("status", |_| {}).await;
    pair.a.unplug(None).await;
    let toml = pair.status_toml("", "prefixes = [\"+43\"]\n");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let json = loop {
        let json = status_json(&toml);
        let states: Vec<&str> = json["modems"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["state"].as_str())
            .collect();
        if states == ["connecting", "ready"] {
            break json;
        }
        assert!(tokio::time::Instant::now() < deadline, "{json}");
        // The unplug is recorded by the daemon on its own.
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(json["modems"][0]["name"], "a");
    assert_eq!(json["modems"][1]["name"], "b");
    assert_eq!(json["modem"]["name"], "a");
    let text = simgate_ok(&["status", "-c", toml.to_str().unwrap()]);
    assert!(text.contains("modem a: connecting"), "{text}");
    assert!(text.contains("modem b: ready"), "{text}");
    simgate_ok(&["check-config", "-c", toml.to_str().unwrap()]);
    pair.stop().await;
}

/// Runs `simgate` with `args`, which must succeed; its output.
fn simgate_ok(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `simgate status -c TOML --json`.
fn status_json(toml: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&simgate_ok(&[
        "status",
        "-c",
        toml.to_str().unwrap(),
        "--json",
    ]))
    .unwrap()
}

impl Pair {
    /// The TOML this daemon would run with (`[modem]` `a` and `[[modems]]`
    /// `b`, with `a_extra` and `b_extra` in their sections), written for
    /// `simgate status` and `check-config`.
    fn status_toml(&self, a_extra: &str, b_extra: &str) -> PathBuf {
        let toml = self.root.join("simgate.toml");
        std::fs::write(
            &toml,
            format!(
                "[modem]\nname = \"a\"\ndevice = \"{a}\"\n{a_extra}\n[[modems]]\nname = \"b\"\n\
                 device = \"{b}\"\n{b_extra}\n[spool]\ninbox = \"{r}/inbox\"\n\
                 outbox = \"{r}/outbox\"\nsent = \"{r}/sent\"\nerror = \"{r}/error\"\n\n\
                 [database]\npath = \"{r}/simgate.db\"\n",
                a = self.a.path().display(),
                b = self.b.path().display(),
                r = self.root.display()
            ),
        )
        .unwrap();
        toml
    }
}

/// Polls `simgate status --json` until `settled` holds (the daemon records
/// its modems' state as it changes, on its own); 30 s at most.
async fn status_until(
    toml: &std::path::Path,
    settled: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let json = status_json(toml);
        if settled(&json) {
            return json;
        }
        assert!(tokio::time::Instant::now() < deadline, "{json:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each modem's own limits, in `simgate status`: how much of each is
/// used, that the modem is paused at its limit and until when, and that
/// the messages left wait for a modem, not "due" (they showed as due
/// 7, with "limits: none", before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_each_modem_s_own_limits_and_what_waits_for_a_modem() {
    let two_a_minute = || {
        vec![simgate::config::Limit {
            scope: simgate::config::LimitScope::All,
            unit: simgate::config::LimitUnit::Messages,
            window: simgate::config::LimitWindow::Minute,
            max: 2,
        }]
    };
    let mut pair = Pair::start("status-limits", |config| {
        config.modem.limits = two_a_minute();
        config.more_modems[0].limits = two_a_minute();
    })
    .await;
    let toml = pair.status_toml("messages_per_minute = 2\n", "messages_per_minute = 2\n");
    for n in 0..10 {
        pair.drop_file(&format!("OUT+4917000{n:03}.txt"), &format!("limited {n}"));
    }
    for _ in 0..4 {
        pair.wait_for(|e| matches!(e, DaemonEvent::Sent { .. }))
            .await;
    }
    // Both modems at their limit, and every file taken in (under load the
    // last one dropped may still be on its way into the queue).
    let json = status_until(&toml, |json| {
        let taken_in = json["queue"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(serde_json::Value::as_u64)
            .sum::<u64>()
            + json["today"]["sent"].as_u64().unwrap_or(0);
        taken_in == 10
            && json["modems"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["paused_until_ms"].as_i64() > json["now_ms"].as_i64())
    })
    .await;
    for modem in json["modems"].as_array().unwrap() {
        assert_eq!(
            modem["limits"],
            serde_json::json!([{"key": "messages_per_minute", "max": 2, "used": 2}]),
            "{json:#}"
        );
        let reason = modem["paused_reason"].as_str().unwrap();
        assert!(reason.contains("messages_per_minute"), "{reason}");
        let until = modem["paused_until_ms"].as_i64().unwrap();
        let now = json["now_ms"].as_i64().unwrap();
        assert!(until - now <= 60_000, "{json:#}");
    }
    assert_eq!(json["queue"]["modem"], 6, "{json:#}");
    assert_eq!(json["queue"]["due"], 0, "{json:#}");
    let text = simgate_ok(&["status", "-c", toml.to_str().unwrap()]);
    assert!(text.contains("queue: 6 waiting (for a modem 6)"), "{text}");
    assert_eq!(
        text.matches("  limits: messages_per_minute = 2: 2 used\n")
            .count(),
        2,
        "{text}"
    );
    assert_eq!(text.matches("  sending paused for ").count(), 2, "{text}");
    assert!(!text.contains("[limits] in simgate's TOML"), "{text}");
    pair.stop().await;
}

/// A message routed (by its prefix) only to a modem that is away waits for
/// that modem, though the other is ready: `simgate status` says so
/// (it showed as plain "due").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_a_message_waiting_for_its_routed_modem() {
    let pair = Pair::start("status-route", |config| {
        config.more_modems[0].prefixes = vec!["+43".to_owned()];
    })
    .await;
    let toml = pair.status_toml("", "prefixes = [\"+43\"]\n");
    pair.b.unplug(None).await;
    status_until(&toml, |json| json["modems"][1]["state"] == "connecting").await;
    pair.drop_file("OUT+43300000001.txt", "for austria");
    let json = status_until(&toml, |json| json["queue"]["modem"] == 1).await;
    assert_eq!(json["queue"]["due"], 0, "{json:#}");
    assert_eq!(json["modems"][0]["state"], "ready", "{json:#}");
    pair.stop().await;
}

/// A modem's own limit: at it, that modem takes nothing more and the other
/// sends the rest (within the minute, `a` sends exactly its two).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modem_at_its_own_limit_leaves_the_rest_to_the_other() {
    let mut pair = Pair::start("limit", |config| {
        config.modem.limits = vec![simgate::config::Limit {
            scope: simgate::config::LimitScope::All,
            unit: simgate::config::LimitUnit::Messages,
            window: simgate::config::LimitWindow::Minute,
            max: 2,
        }];
    })
    .await;
    for n in 0..12 {
        pair.drop_file(&format!("OUT+4917000{n:03}.txt"), &format!("limited {n}"));
    }
    let mut sent = 0;
    while sent < 12 {
        pair.wait_for(|e| matches!(e, DaemonEvent::Sent { .. }))
            .await;
        sent += 1;
    }
    let (a, b) = (texts(&pair.a), texts(&pair.b));
    assert_eq!(a.len(), 2, "a kept to its limit: {a:?}");
    assert_eq!(b.len(), 10, "{b:?}");
    assert_eq!(pair.count("error"), 0);
    pair.stop().await;
}

/// A message one modem cannot send for its own state (here its SIM asks
/// for a PIN: `+CMS ERROR: 311`) goes out through the other at once; only
/// the modem that failed waits its retry delay (an hour here). (The
/// message itself waited the retry delay, so a modem that went away in
/// the middle of a send kept that message from the others for 30 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_its_modem_cannot_send_goes_through_the_other_at_once() {
    let mut pair = Pair::start("failover", |config| {
        config.send.retry_delay = Duration::from_secs(3600);
        config.send.retry_delay_max = Duration::from_secs(3600);
        config.modem.check_sim = false;
    })
    .await;
    // Only `a` is there when the message comes.
    pair.b.unplug(None).await;
    pair.a.inject_fault(Fault::CmsError {
        code: 311,
        times: Times::Always,
        destination: None,
    });
    let mut a_events = pair.a.subscribe();
    pair.drop_file("OUT+4917000000009.txt", "through b");
    tokio::time::timeout(Duration::from_secs(60), async {
        while !matches!(a_events.recv().await, Ok(EmulatorEvent::SendFailed { .. })) {}
    })
    .await
    .expect("a tried and failed");
    pair.b.replug_now();
    pair.wait_for(
        |e| matches!(e, DaemonEvent::Sent { file, .. } if file == "OUT+4917000000009.txt"),
    )
    .await;
    assert_eq!(texts(&pair.b).get("through b"), Some(&1));
    assert!(texts(&pair.a).is_empty());
    pair.stop().await;
}

/// A message longer than one modem's own parts limit allows goes out
/// through the other (it went to `error/` before, though `b` could send
/// it); one no modem could ever send goes to `error/` with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_too_long_for_one_modem_s_limit_goes_through_the_other() {
    let parts_per_hour = |max| simgate::config::Limit {
        scope: simgate::config::LimitScope::All,
        unit: simgate::config::LimitUnit::Parts,
        window: simgate::config::LimitWindow::Hour,
        max,
    };
    let mut pair = Pair::start("parts-cap", |config| {
        config.modem.limits = vec![parts_per_hour(1)];
        config.more_modems[0].limits = vec![parts_per_hour(2)];
    })
    .await;
    let two_parts = "two parts ".repeat(20);
    let three_parts = "three parts ".repeat(30);
    pair.drop_file("OUT+4917000000001.txt", &two_parts);
    pair.drop_file("OUT+4917000000002.txt", &three_parts);
    let mut outcomes = BTreeMap::new();
    while outcomes.len() < 2 {
        match pair
            .wait_for(|e| matches!(e, DaemonEvent::Sent { .. } | DaemonEvent::Failed { .. }))
            .await
        {
            DaemonEvent::Sent { file, .. } => outcomes.insert(file, "sent".to_owned()),
            DaemonEvent::Failed { file, reason } => outcomes.insert(file, reason),
            _ => unreachable!(),
        };
    }
    assert_eq!(outcomes["OUT+4917000000001.txt"], "sent");
    // The reason names the modem's own key as written in its section, not
    // `limits.parts_per_hour` (which is `[limits]`'s, unset here).
    let reason = &outcomes["OUT+4917000000002.txt"];
    assert!(
        [
            "modem a: 3 parts, more than parts_per_hour = 1 allows (under [modem])",
            "modem b: 3 parts, more than parts_per_hour = 2 allows \
             (under the [[modems]] entry named \"b\")"
        ]
        .contains(&reason.as_str()),
        "{outcomes:?}"
    );
    assert_eq!(pair.b.sent().len(), 2, "both parts through b");
    assert!(pair.a.sent().is_empty(), "a took nothing over its limit");
    assert_eq!(pair.count("sent"), 1);
    assert_eq!(pair.count("error"), 1);
    pair.stop().await;
}

/// SIGHUP reloads every modem's own settings, not only the first's (and
/// not only the shared ones): the new prefixes route each number to its
/// modem from then on, and each modem's hooks still get its own name as
/// `PHONE_ID`. Through the real `simgate run`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_every_modem_s_own_settings() {
    let a = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let b = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = crate::support::fresh_spool("pair-sighup");
    let ids = root.join("phone-ids");
    let hook = root.join("on-sent.sh");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\necho \"$PHONE_ID\" >> '{}'\n", ids.display()),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = root.join("simgate.toml");
    let write = |a_extra: &str, b_extra: &str| {
        std::fs::write(
            &config,
            format!(
                "[modem]\ndevice = \"{a}\"\nname = \"a\"\nstatus_interval = \"0s\"\n{a_extra}\n\n\
                 [[modems]]\ndevice = \"{b}\"\nname = \"b\"\nstatus_interval = \"0s\"\n{b_extra}\n\n\
                 [spool]\ninbox = \"{r}/inbox\"\noutbox = \"{r}/outbox\"\nsent = \"{r}/sent\"\n\
                 error = \"{r}/error\"\n\n[database]\npath = \"{r}/simgate.db\"\n\n\
                 [hooks]\nrun_on_sent = \"{hook}\"\n\n\
                 [log]\nfile = \"{r}/simgate.log\"\nlevel = \"info\"\n",
                a = a.path().display(),
                b = b.path().display(),
                r = root.display(),
                hook = hook.display(),
            ),
        )
        .unwrap();
    };
    write("", "");
    let mut daemon = crate::support::spawn_simgate(&config, &root.join("stderr.log"), None);
    let sent = || std::fs::read_dir(root.join("sent")).unwrap().count();
    let drop_file = |name: &str, text: &str| {
        let temp = root.join(format!(".{name}"));
        std::fs::write(&temp, text).unwrap();
        std::fs::rename(&temp, root.join("outbox").join(name)).unwrap();
    };
    drop_file("OUT+4917000000000.txt", "before the reload");
    until("the first message in sent/", || sent() == 1).await;
    let (a_before, b_before) = (a.sent().len(), b.sent().len());

    write("prefixes = [\"+43\"]", "prefixes = [\"+49\"]");
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let log = || std::fs::read_to_string(root.join("simgate.log")).unwrap_or_default();
    until("the first modem's reload in the log", || {
        log().contains("configuration reloaded")
    })
    .await;
    until("modem b's reload in the log", || {
        log().contains("modem b: settings reloaded")
    })
    .await;
    for n in 1..=6 {
        drop_file(
            &format!("OUT+4917000000{n:03}.txt"),
            &format!("to +49, {n}"),
        );
        drop_file(
            &format!("OUT+4330000000{n:03}.txt"),
            &format!("to +43, {n}"),
        );
    }
    until("all 13 in sent/", || sent() == 13).await;
    let destinations = |modem: &Emulator, from: usize| -> Vec<String> {
        modem.sent()[from..]
            .iter()
            .map(|m| m.submit.destination.to_display())
            .collect()
    };
    let (through_a, through_b) = (destinations(&a, a_before), destinations(&b, b_before));
    assert!(
        through_a.len() == 6 && through_a.iter().all(|d| d.starts_with("+43")),
        "a: {through_a:?}"
    );
    assert!(
        through_b.len() == 6 && through_b.iter().all(|d| d.starts_with("+49")),
        "b: {through_b:?}"
    );
    let read_ids = || std::fs::read_to_string(&ids).unwrap_or_default();
    until("13 RunOnSent hooks", || read_ids().lines().count() == 13).await;
    let mut names: Vec<String> = read_ids().lines().skip(1).map(str::to_owned).collect();
    names.sort();
    assert_eq!(
        names,
        [vec!["a".to_owned(); 6], vec!["b".to_owned(); 6]].concat(),
        "PHONE_ID after the reload"
    );
    daemon.start_kill().unwrap();
    let _ = daemon.wait().await;
}

/// `/health` says whether the gateway can send. With several modems it can
/// while any modem is ready (issue 14 §3: one modem's fault never stalls
/// another's traffic, and a backend that asks `/health` before it sends
/// would stall it): the first modem away and the second ready is ready,
/// each modem listed with its state; both away is not, with both named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_ready_while_any_modem_can_send() {
    use crate::http_api::get;
    let port = crate::support::port_for_a_daemon();
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut pair = Pair::start("health", |c| c.http.listen = Some(address)).await;
    let answer = get(address, "/health").await;
    assert_eq!(answer.status, 200, "{}", answer.text());

    pair.a.unplug(None).await;
    pair.wait_for(|e| matches!(e, DaemonEvent::ModemLost)).await;
    let answer = get(address, "/health").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["modems"][0]["name"], "a", "{body}");
    assert_eq!(body["modems"][0]["ready"], false, "{body}");
    assert!(body["modems"][0]["reason"].is_string(), "{body}");
    assert_eq!(body["modems"][1]["name"], "b", "{body}");
    assert_eq!(body["modems"][1]["ready"], true, "{body}");

    pair.b.unplug(None).await;
    pair.wait_for(|e| matches!(e, DaemonEvent::ModemLost)).await;
    let answer = get(address, "/health").await;
    assert_eq!(answer.status, 503, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["ready"], false, "{body}");
    let reasons = body["reasons"].to_string();
    assert!(
        reasons.contains("modem a") && reasons.contains("modem b"),
        "{body}"
    );
    pair.stop().await;
}

/// Outbox files `OUT+49176000097NN.txt`, `count` of them, all with `text`.
fn burst(count: usize, text: &str) -> Vec<(String, &str)> {
    (0..count)
        .map(|n| (format!("OUT+49176000097{n:02}.txt"), text))
        .collect()
}

/// One of two modems reports itself ready but fails every send with a
/// transient error (a stick answering HTTP 500, a SIM the network refuses
/// with `+CMS ERROR: 38`). It used to take message after message, each
/// failure charged to the message: with `max_attempts = 1` most of the
/// burst went to error/ while the other modem sent a few. Now the failing
/// modem is held back after its failure, the message it failed is due for
/// the other at once (not after its retry delay), and no message is
/// failed for good for that modem's fault: every one goes out through the
/// healthy modem, well within one retry delay.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_modem_failing_every_send_leaves_the_queue_to_the_other() {
    let count = 20;
    let files = burst(count, "through the healthy modem");
    let mut fleet = Fleet::start(
        "drain-failing",
        2,
        &files,
        |devices| devices[0].memory().failing = Some(transient("HTTP 500 to /api/sms/send-sms")),
        |c| {
            c.send.max_attempts = Some(1);
            c.send.retry_delay = Duration::from_secs(30);
            c.send.retry_delay_max = Duration::from_secs(600);
        },
    )
    .await;
    fleet
        .next(|e| matches!(e, DaemonEvent::Queued { .. }))
        .await;
    let start = tokio::time::Instant::now();
    let (_, failed) = fleet.outcomes(count).await;
    let took = tokio::time::Instant::now() - start;
    assert_eq!(failed, Vec::<String>::new(), "failed for one modem's fault");
    assert_eq!(fleet.count("sent"), count);
    assert_eq!(fleet.count("error"), 0);
    assert!(
        took < Duration::from_secs(5),
        "the burst took {took:?}: it waited for a retry delay"
    );
    let failing = fleet.devices[0].memory().send_attempts;
    assert!(failing >= 1, "the failing modem was never tried");
    assert!(
        failing <= 2,
        "the failing modem was tried {failing} times in a burst, not held back"
    );
    assert_eq!(fleet.devices[1].memory().sent.len(), count);
    fleet.stop().await;
}

/// A modem whose sends fail is held back for its own delay (the retry
/// delay, doubling while it keeps failing), then tried again, and once a
/// send succeeds it takes its share of the traffic again.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_failing_modem_is_tried_again_after_its_hold_and_carries_traffic_again() {
    let count = 80;
    let files = burst(count, "shared again");
    let mut fleet = Fleet::start(
        "drain-recovers",
        2,
        &files,
        |devices| {
            // `a` fails its first two sends, then works; `b` works, but
            // takes two seconds a message, so the queue lasts.
            let mut a = devices[0].memory();
            a.send_failures.push_back(transient("+CMS ERROR: 38"));
            a.send_failures.push_back(transient("+CMS ERROR: 38"));
            devices[1].memory().send_delay = Duration::from_secs(2);
        },
        |c| {
            c.send.max_attempts = Some(1);
            c.send.retry_delay = Duration::from_secs(30);
            c.send.retry_delay_max = Duration::from_secs(600);
        },
    )
    .await;
    let (_, failed) = fleet.outcomes(count).await;
    assert_eq!(failed, Vec::<String>::new(), "failed for one modem's fault");
    assert_eq!(fleet.count("sent"), count);
    assert_eq!(fleet.count("error"), 0);
    let (times, sent_by_a) = {
        let a = fleet.devices[0].memory();
        (a.send_times.clone(), a.sent.len())
    };
    let tried: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Held for the retry delay after its first failure, twice that after
    // its second; then it sends at once, one message after the other.
    assert_eq!(
        tried[..2],
        [Duration::from_secs(30), Duration::from_secs(60)]
    );
    assert!(tried[2..].iter().all(|gap| gap.is_zero()), "{tried:?}");
    assert!(sent_by_a > 10, "a sent only {sent_by_a} after it recovered");
    fleet.stop().await;
}

/// A modem held back after its sends failed says so in its recorded
/// status (what `simgate status` shows: "sending paused for … more: its
/// last send failed …"), until when; a send that goes out again ends the
/// pause. Before, nothing told the user why a ready modem took nothing.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_modem_held_back_after_failures_says_so_and_until_when() {
    let count = 6;
    let files = burst(count, "held back");
    let mut fleet = Fleet::start(
        "pause-recorded",
        2,
        &files,
        |devices| {
            let mut a = devices[0].memory();
            a.send_failures.push_back(transient("+CMS ERROR: 38"));
            // `b` takes a while a message, so the queue lasts past a's hold.
            devices[1].memory().send_delay = Duration::from_secs(20);
        },
        |c| {
            c.send.max_attempts = Some(1);
            c.send.retry_delay = Duration::from_secs(30);
            c.send.retry_delay_max = Duration::from_secs(600);
        },
    )
    .await;
    let database = fleet.root.join("simgate.db");
    // The pause, and when it was recorded (the daemon's clock).
    let pause_of_a = || -> (Option<i64>, Option<String>, i64) {
        rusqlite::Connection::open(&database)
            .unwrap()
            .query_row(
                "SELECT paused_until_ms, paused_reason, updated_ms FROM device_status
                 WHERE name = 'a'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap_or((None, None, 0))
    };
    until("a's pause recorded", || pause_of_a().1.is_some()).await;
    let (until_ms, reason, recorded_ms) = pause_of_a();
    let reason = reason.unwrap();
    assert!(reason.starts_with("its last send failed"), "{reason}");
    let held_for = until_ms.unwrap() - recorded_ms;
    assert!(
        (25_000..=30_000).contains(&held_for),
        "held for {held_for} ms, not the retry delay"
    );
    let (_, failed) = fleet.outcomes(count).await;
    assert_eq!(failed, Vec::<String>::new());
    assert!(
        !fleet.devices[0].memory().sent.is_empty(),
        "a never sent again"
    );
    until("a's pause ended", || pause_of_a().1.is_none()).await;
    fleet.stop().await;
}
