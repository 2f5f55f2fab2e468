//! Crash test of the receive path (SIGKILL at random moments).
//!
//! 200 messages from the network (every tenth three parts long, every
//! tenth but five two parts, every twentieth with its parts in reverse
//! order; one sender each) are fed into the emulated modem's SIM, which
//! holds 30, as fast as it has room, by a task of the test process. So the
//! modem and its SIM outlive every daemon. The modem answers `AT+CMGD`
//! after a random latency (none for a tenth of the lives), which spreads a
//! daemon's work over its life. `simgate run` is started as a
//! child process, killed with SIGKILL after a random delay, and started
//! again, until everything was fed and the SIM is empty; a last run is
//! stopped cleanly with SIGTERM once the inbox is complete.
//!
//! What must hold afterwards: every message is in inbox/ exactly once, as
//! one file per part named for its sender and part, with the right text
//! (a second write would show as another serial number or a stray file);
//! no temporary file is left; the SIM is empty; the database records 200
//! messages, all written and complete, and nothing undecodable; the
//! `RunOnReceive` hook ran for every message (twice only when a kill fell
//! between starting it and recording that; counted). The test
//! prints the seed and the number of kills; `SIMGATE_CRASH_SEED=<seed>`
//! repeats the same delays.

use crate::support::{seed, spawn_simgate, Rng};
use simgate::emulator::{Emulator, EmulatorConfig, EmulatorError, EmulatorEvent, Profile};
use simgate::pdu::{plan_text, Address, EncodingPolicy, SmsDeliver, Timestamp};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Child;

const MESSAGES: usize = 200;
/// Random kill delay after each start, in milliseconds.
const KILL_AFTER_MS: (u64, u64) = (30, 300);
/// At most this many kills; the clean run finishes whatever is left.
const MAX_KILLS: u32 = 150;
/// The whole run, kills and clean run together.
const DEADLINE: Duration = Duration::from_secs(150);
/// Interval of the file-system polls.
const POLL: Duration = Duration::from_millis(10);

/// One message from the network.
struct Message {
    sender: String,
    /// The text of each part, as the sender's phone split it.
    parts: Vec<String>,
    /// The SMS-DELIVER TPDU of each part, in part order.
    pdus: Vec<Vec<u8>>,
}

impl Message {
    fn new(index: usize) -> Self {
        let sender = format!("+49170000{index:04}");
        let length = match index % 10 {
            0 => 400, // 3 parts of at most 153 septets
            5 => 250, // 2 parts
            _ => 40,
        };
        let mut text = String::new();
        let mut word = 0;
        while text.len() < length {
            text.push_str(&format!("r{index:04} w{word:03} "));
            word += 1;
        }
        let text = format!("{} end", text.trim_end());
        let plan = plan_text(&text, EncodingPolicy::Auto).expect("plannable");
        let parts: Vec<String> = plan
            .parts
            .iter()
            .map(|body| body.text().expect("a text part").to_owned())
            .collect();
        assert_eq!(parts.concat(), text, "the plan covers the text");
        let stamp = Timestamp {
            year: 2026,
            month: 11,
            day: 25,
            hour: 21,
            minute: (index / 60) as u8,
            second: (index % 60) as u8,
            tz_quarters: 4,
        };
        let from = Address::parse_number(&sender).unwrap();
        let pdus = SmsDeliver::from_plan(&plan, &from, stamp, index as u16)
            .iter()
            .map(|part| part.encode().unwrap())
            .collect();
        Message {
            sender,
            parts,
            pdus,
        }
    }

    /// The order the network delivers the parts in.
    fn arrival(&self, index: usize) -> Vec<&[u8]> {
        let mut pdus: Vec<&[u8]> = self.pdus.iter().map(Vec::as_slice).collect();
        if index.is_multiple_of(20) {
            pdus.reverse();
        }
        pdus
    }
}

/// The spool, database, configuration and log of one run.
struct Spool {
    root: PathBuf,
    inbox: PathBuf,
    database: PathBuf,
    config: PathBuf,
    log: PathBuf,
}

impl Spool {
    fn new(device: &Path) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let root = std::env::temp_dir().join(format!(
            "simgate-receive-crash-{}-{nanos}",
            std::process::id()
        ));
        let spool = Spool {
            inbox: root.join("inbox"),
            database: root.join("simgate.db"),
            config: root.join("simgate.toml"),
            log: root.join("simgate.log"),
            root,
        };
        std::fs::create_dir_all(&spool.inbox).unwrap();
        for dir in ["outbox", "sent", "error"] {
            std::fs::create_dir_all(spool.root.join(dir)).unwrap();
        }
        let config = format!(
            r#"[modem]
device = "{device}"
command_timeout = "5s"
status_interval = "0s"

[spool]
inbox = "{root}/inbox"
outbox = "{root}/outbox"
sent = "{root}/sent"
error = "{root}/error"
inbox_format = "standard"

[database]
path = "{database}"

[hooks]
# One line per call: the first file name of the message.
run_on_receive = "first() {{ printf '%s\\n' \"$1\" >>'{root}/hooks.log'; }}; first"

[log]
level = "info"
file = "{log}"
"#,
            device = device.display(),
            root = spool.root.display(),
            database = spool.database.display(),
            log = spool.log.display(),
        );
        std::fs::write(&spool.config, config).unwrap();
        spool
    }

    /// A daemon on this spool; it dies with the test if the test fails.
    /// With `notify`, it tells the socket there when it is ready.
    fn start(&self, notify: Option<&Path>) -> Child {
        spawn_simgate(&self.config, &self.log, notify)
    }

    fn inbox_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.inbox)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Feeds every part into the SIM, in order, waiting for room when it is
/// full (a real SMSC retries later too); sets `done` at the end.
fn feed(emulator: Arc<Emulator>, pdus: Vec<Vec<u8>>, done: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut events = emulator.subscribe();
        for pdu in pdus {
            loop {
                match emulator.inject_deliver(&pdu) {
                    Ok(_) => break,
                    Err(EmulatorError::StorageFull) => {
                        // Room comes with a deletion; while no daemon runs
                        // none comes, so look again now and then.
                        let wait = async {
                            while !matches!(
                                events.recv().await,
                                Ok(EmulatorEvent::Deleted { .. }) | Err(_)
                            ) {}
                        };
                        let _ = tokio::time::timeout(Duration::from_millis(50), wait).await;
                    }
                    Err(error) => panic!("the emulator refused a message: {error}"),
                }
            }
        }
        done.store(true, Ordering::SeqCst);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_no_message_and_writes_none_twice() {
    let started = Instant::now();
    let seed = seed();
    println!("receive crash test seed {seed} (SIMGATE_CRASH_SEED={seed} repeats the kill delays)");
    let mut rng = Rng::new(seed);

    let emulator = Arc::new(
        Emulator::start(EmulatorConfig::new(Profile::Generic))
            .await
            .unwrap(),
    );
    let spool = Spool::new(&emulator.path());
    let messages: Vec<Message> = (0..MESSAGES).map(Message::new).collect();
    let pdus: Vec<Vec<u8>> = messages
        .iter()
        .enumerate()
        .flat_map(|(index, m)| m.arrival(index).into_iter().map(<[u8]>::to_vec))
        .collect();
    let total_parts = pdus.len();
    let fed = Arc::new(AtomicBool::new(false));
    feed(emulator.clone(), pdus, fed.clone());

    let deadline = started + DEADLINE;
    let mut kills = 0u32;
    while !(fed.load(Ordering::SeqCst) && emulator.stored().is_empty()) && kills < MAX_KILLS {
        assert!(
            Instant::now() < deadline,
            "{} stored after {kills} kills; see {}",
            emulator.stored().len(),
            spool.log.display()
        );
        // A modem slow to delete spreads a daemon's work over its life, so
        // kills land between reading, recording, writing and deleting.
        let latency = match rng.between(0, 9) {
            0 => 0,
            _ => rng.between(5, 30),
        };
        emulator.set_command_latency("AT+CMGD", Duration::from_millis(latency));
        let delay = rng.between(KILL_AFTER_MS.0, KILL_AFTER_MS.1);
        let mut daemon = spool.start(None);
        // The random moment is the point of the test, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if let Some(status) = daemon.try_wait().unwrap() {
            panic!(
                "simgate run exited by itself ({status}); see {}",
                spool.log.display()
            );
        }
        daemon.start_kill().unwrap();
        daemon.wait().await.unwrap();
        kills += 1;
    }
    let left_after_kills = emulator.stored().len();
    emulator.set_command_latency("AT+CMGD", Duration::ZERO);

    // A last run finishes whatever is left and stops cleanly on SIGTERM.
    let socket_path = spool.root.join("notify.sock");
    let notify = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let mut daemon = spool.start(Some(&socket_path));
    let mut buffer = [0u8; 4096];
    // The last status line systemd got, whenever it came.
    let mut last_status = String::new();
    let mut take_status = |said: &str| {
        for line in said.lines() {
            if let Some(status) = line.strip_prefix("STATUS=") {
                last_status = status.to_owned();
            }
        }
    };
    loop {
        let n = tokio::time::timeout(Duration::from_secs(20), notify.recv(&mut buffer))
            .await
            .expect("clean run: READY=1 within 20 s")
            .unwrap();
        let said = String::from_utf8_lossy(&buffer[..n]).into_owned();
        take_status(&said);
        if said.lines().any(|l| l == "READY=1") {
            break;
        }
    }
    while !(fed.load(Ordering::SeqCst)
        && emulator.stored().is_empty()
        && spool.inbox_names().len() >= total_parts)
    {
        assert!(
            Instant::now() < deadline,
            "clean run: {} inbox files of {total_parts}, {} on the SIM; see {}",
            spool.inbox_names().len(),
            emulator.stored().len(),
            spool.log.display()
        );
        if let Some(status) = daemon.try_wait().unwrap() {
            panic!(
                "simgate run exited by itself ({status}); see {}",
                spool.log.display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), daemon.wait())
        .await
        .expect("simgate run stops within 10 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "clean stop: {status}");
    // The last status line systemd got counts what the database holds.
    while let Ok(n) = notify.try_recv(&mut buffer) {
        take_status(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(
        last_status.contains(&format!("received {MESSAGES}, undecodable 0")),
        "{last_status:?}"
    );

    // The inbox: per sender, one file per part, once, with its text.
    let names = spool.inbox_names();
    let mut by_sender: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in &names {
        // IN<date>_<time>_<serial>_<sender>_<part>.txt
        let fields: Vec<&str> = name.trim_end_matches(".txt").split('_').collect();
        assert!(
            name.starts_with("IN") && name.ends_with(".txt") && fields.len() == 5,
            "a stray file in inbox/: {name:?}"
        );
        assert_eq!(fields[2], "00", "a second write of a message: {name}");
        by_sender
            .entry(fields[3].to_owned())
            .or_default()
            .push(name.clone());
    }
    for message in &messages {
        let files = by_sender
            .remove(&message.sender)
            .unwrap_or_else(|| panic!("{}: lost", message.sender));
        let suffixes: Vec<String> = (0..message.parts.len())
            .map(|part| format!("_{part:02}.txt"))
            .collect();
        assert_eq!(
            files.len(),
            message.parts.len(),
            "{}: {files:?}",
            message.sender
        );
        for ((file, suffix), text) in files.iter().zip(&suffixes).zip(&message.parts) {
            assert!(file.ends_with(suffix.as_str()), "{file}: part {suffix}");
            let got = std::fs::read_to_string(spool.inbox.join(file)).unwrap();
            assert_eq!(&got, text, "{file}");
        }
    }
    assert!(by_sender.is_empty(), "unknown senders: {by_sender:?}");
    assert!(emulator.stored().is_empty(), "the SIM ends empty");

    let db = rusqlite::Connection::open(&spool.database).unwrap();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT COUNT(*) FROM incoming"), MESSAGES as i64);
    assert_eq!(
        count("SELECT COUNT(*) FROM incoming WHERE state = 'written' AND complete = 1"),
        MESSAGES as i64
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM incoming_part WHERE message_id IS NULL"),
        0
    );
    assert_eq!(count("SELECT COUNT(*) FROM undecodable"), 0);
    assert_eq!(
        count("SELECT COUNT(*) FROM incoming WHERE hook = 'started'"),
        MESSAGES as i64
    );

    // RunOnReceive ran for every message, at least once: twice only when a
    // kill fell between starting a hook and recording that (counted). The
    // hooks are processes of their own, maybe still running: wait, boundedly.
    let hook_log = spool.root.join("hooks.log");
    let firsts: std::collections::BTreeSet<String> = messages
        .iter()
        .map(|m| {
            let prefix = format!("_{}_00.txt", m.sender);
            names
                .iter()
                .find(|name| name.ends_with(&prefix))
                .expect("its first file")
                .clone()
        })
        .collect();
    let hook_deadline = Instant::now() + Duration::from_secs(20);
    let calls = loop {
        let calls: Vec<String> = std::fs::read_to_string(&hook_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        let seen: std::collections::BTreeSet<&String> = calls.iter().collect();
        if firsts.iter().all(|f| seen.contains(f)) {
            break calls;
        }
        assert!(
            Instant::now() < hook_deadline,
            "RunOnReceive never ran for {:?}",
            firsts
                .iter()
                .filter(|f| !seen.contains(f))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(POLL).await;
    };
    let unknown: Vec<&String> = calls.iter().filter(|c| !firsts.contains(*c)).collect();
    assert!(unknown.is_empty(), "hook calls for no message: {unknown:?}");
    let hooks_twice = calls.len() - firsts.len();
    let deletes = emulator
        .commands()
        .iter()
        .filter(|c| c.starts_with("AT+CMGD"))
        .count();
    println!(
        "receive crash test: {MESSAGES} messages ({total_parts} parts), {kills} kills, \
         {left_after_kills} on the SIM for the clean run, {deletes} deletes, \
         {hooks_twice} hooks started twice; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(db);
    std::fs::remove_dir_all(&spool.root).unwrap();
}
