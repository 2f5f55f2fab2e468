//! Crash test of the send path (SIGKILL at random moments).
//!
//! 200 messages (every tenth three parts long, every tenth but five two
//! parts, one recipient each) are dropped into the outbox; `simgate run` is
//! started as a child process on the emulated modem, killed with SIGKILL
//! after a random delay, and started again, until the outbox and the claim
//! directory are empty; a last run is stopped cleanly with SIGTERM. The
//! emulator lives in the test process, so it survives every daemon and
//! records every PDU the daemons handed to it. Its answer to `AT+CMGS`
//! comes after a random latency (none for a fifth of the lives), so kills
//! land between a PDU and its answer as well as in the database and file
//! work around it.
//!
//! What must hold afterwards: every file is in sent/ or error/ exactly
//! once (none lost, none left in outbox/ or its claim directory, none
//! duplicated); every PDU the modem got belongs to a part of a message,
//! with that part's text; no part went to the modem twice; a file in sent/
//! is a message the database calls sent, with every part sent once and the
//! TP-MR the modem answered recorded; a file in error/ is a message the
//! database calls ambiguous: its earlier parts went out once, its
//! ambiguous part at most once, its later parts never.
//!
//! A kill between marking a part `sending` and recording the modem's
//! answer leaves a send whose outcome the daemon does not know. The next
//! daemon asks the modem's TP-MR counter (EF_SMSS): most such sends are
//! resolved (sent, or sent once when the counter says the PDU never went
//! out), and the test fails when more than 10 % of the kills leave one
//! unresolved. It prints the seed, the kills, the resolved and the
//! unresolved sends; `SIMGATE_CRASH_SEED=<seed>` repeats the same delays.

use crate::support::{seed, spawn_simgate, Rng};
use simgate::emulator::{Emulator, EmulatorConfig, Profile, SentMessage};
use simgate::pdu::{plan_text, EncodingPolicy};
use simgate::store::{MessageState, Outgoing, PartState, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::UnixDatagram;
use tokio::process::Child;

const MESSAGES: usize = 200;
/// Random kill delay after each start, in milliseconds.
const KILL_AFTER_MS: (u64, u64) = (30, 300);
/// Lives in a row that changed nothing before a daemon gets [`PATIENCE`].
const IDLE_LIVES: u32 = 3;
/// Extra time before the kill for a daemon that may have to recover first.
const PATIENCE: Duration = Duration::from_secs(4);
/// At most this many kills; the clean run finishes whatever is left.
const MAX_KILLS: u32 = 150;
/// The whole run, kills and clean run together.
const DEADLINE: Duration = Duration::from_secs(120);
/// How long the clean run may take to initialise the modem.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// Interval of the file-system polls.
const POLL: Duration = Duration::from_millis(10);

/// One outbox file and what should go out for it.
struct Message {
    name: String,
    recipient: String,
    /// The text of each part, as the planner splits it.
    parts: Vec<String>,
}

impl Message {
    fn new(index: usize) -> Self {
        let recipient = format!("+49170000{index:04}");
        // Words carry the message number and their position, so every
        // part's text is unique.
        let length = match index % 10 {
            0 => 400, // 3 parts of at most 153 septets
            5 => 250, // 2 parts
            _ => 40,
        };
        let mut text = String::new();
        let mut word = 0;
        while text.len() < length {
            text.push_str(&format!("m{index:04} w{word:03} "));
            word += 1;
        }
        let text = format!("{} end", text.trim_end());
        let parts: Vec<String> = plan_text(&text, EncodingPolicy::Auto)
            .expect("plannable")
            .parts
            .iter()
            .map(|body| body.text().expect("a text part").to_owned())
            .collect();
        assert_eq!(parts.concat(), text, "the plan covers the text");
        Message {
            name: format!("OUT{recipient}.txt"),
            recipient,
            parts,
        }
    }
}

/// The spool, database, configuration and log of one test run.
struct Spool {
    root: PathBuf,
    outbox: PathBuf,
    sent: PathBuf,
    error: PathBuf,
    database: PathBuf,
    config: PathBuf,
    log: PathBuf,
    notify: PathBuf,
}

impl Spool {
    fn new(device: &Path) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let root =
            std::env::temp_dir().join(format!("simgate-crash-{}-{nanos}", std::process::id()));
        let spool = Spool {
            outbox: root.join("outbox"),
            sent: root.join("sent"),
            error: root.join("error"),
            database: root.join("simgate.db"),
            config: root.join("simgate.toml"),
            log: root.join("simgate.log"),
            notify: root.join("notify.sock"),
            root,
        };
        for dir in [
            &spool.outbox,
            &spool.sent,
            &spool.error,
            &spool.root.join("inbox"),
        ] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let config = format!(
            r#"[modem]
device = "{device}"
command_timeout = "5s"
send_timeout = "10s"
status_interval = "0s"

[spool]
inbox = "{root}/inbox"
outbox = "{outbox}"
sent = "{sent}"
error = "{error}"
scan_interval = "1s"
settle_time = "0s"

[send]
retry_delay = "1s"
retry_delay_max = "2s"
ambiguous = "error"

[database]
path = "{database}"

[log]
level = "info"
file = "{log}"
"#,
            device = device.display(),
            root = spool.root.display(),
            outbox = spool.outbox.display(),
            sent = spool.sent.display(),
            error = spool.error.display(),
            database = spool.database.display(),
            log = spool.log.display(),
        );
        std::fs::write(&spool.config, config).unwrap();
        spool
    }

    /// Writes an outbox file under a name the daemon ignores, then renames
    /// it into place: the test is about crashes, not half-written files.
    fn drop_file(&self, name: &str, text: &str) {
        let temporary = self.outbox.join(format!(".writing-{name}"));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, self.outbox.join(name)).unwrap();
    }

    fn claim_dir(&self) -> PathBuf {
        simgate::spool::fs::claim_dir(&self.outbox)
    }

    /// Outbox files not finished yet: in outbox/ or its claim directory.
    fn unfinished(&self) -> usize {
        let outbox = names(&self.outbox)
            .iter()
            .filter(|name| name.starts_with("OUT"))
            .count();
        outbox + names(&self.claim_dir()).len()
    }

    /// A daemon on this spool; it dies with the test if the test fails.
    fn start(&self, notify: bool) -> Child {
        spawn_simgate(
            &self.config,
            &self.log,
            notify.then_some(self.notify.as_path()),
        )
    }
}

/// File names in `dir` (none when it does not exist).
fn names(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => panic!("cannot list {}: {error}", dir.display()),
    }
}

/// Every row of the database, by file name.
fn rows(store: &Store) -> BTreeMap<String, Vec<Outgoing>> {
    let mut rows: BTreeMap<String, Vec<Outgoing>> = BTreeMap::new();
    let mut missing = 0;
    let mut id = 1;
    // Row ids count up from 1 without gaps; stop well after the last one.
    while missing < 50 {
        match store.get(id).unwrap() {
            Some(row) => {
                missing = 0;
                rows.entry(row.file_name.clone()).or_default().push(row);
            }
            None => missing += 1,
        }
        id += 1;
    }
    rows
}

/// Reads what arrived on the notify socket; true once the status line
/// said the modem is ready (`READY=1` comes earlier: once the daemon
/// serves its outbox, modem or not).
fn drain_notify(socket: &UnixDatagram, ready: &mut bool) {
    let mut buffer = [0u8; 4096];
    while let Ok(n) = socket.try_recv(&mut buffer) {
        if String::from_utf8_lossy(&buffer[..n])
            .lines()
            .any(|l| l.starts_with("STATUS=modem ready"))
        {
            *ready = true;
        }
    }
}

/// What a daemon's life may change: files in outbox/, files claimed, PDUs
/// sent.
fn progress(spool: &Spool, emulator: &Emulator) -> (usize, usize, usize) {
    (
        names(&spool.outbox).len(),
        names(&spool.claim_dir()).len(),
        emulator.sent().len(),
    )
}

/// The emulator's last command lines, for failure messages.
fn last_commands(emulator: &Emulator) -> Vec<String> {
    let commands = emulator.commands();
    commands[commands.len().saturating_sub(8)..].to_vec()
}

/// Where a sent PDU belongs: destination and 1-based part number.
fn part_of(sent: &SentMessage) -> (String, usize) {
    let sequence = sent
        .submit
        .user_data
        .header
        .as_ref()
        .and_then(|header| header.concat())
        .map_or(1, |concat| usize::from(concat.sequence));
    (sent.submit.destination.to_display(), sequence)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_and_sends_nothing_twice() {
    let started = Instant::now();
    let seed = seed();
    println!("crash test seed {seed} (SIMGATE_CRASH_SEED={seed} repeats the kill delays)");
    let mut rng = Rng::new(seed);

    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let spool = Spool::new(&emulator.path());
    let messages: Vec<Message> = (0..MESSAGES).map(Message::new).collect();
    for message in &messages {
        spool.drop_file(&message.name, &message.parts.concat());
    }
    let total_parts: usize = messages.iter().map(|m| m.parts.len()).sum();

    // Start, wait a random time, SIGKILL; again and again.
    let deadline = started + DEADLINE;
    let mut kills = 0u32;
    let mut delays = Vec::new();
    let mut idle_lives = 0;
    let mut patient_lives = 0;
    while spool.unfinished() > 0 && kills < MAX_KILLS {
        assert!(
            Instant::now() < deadline,
            "still {} files unfinished after {kills} kills; the emulator's last commands: {:?}; \
             see {}",
            spool.unfinished(),
            last_commands(&emulator),
            spool.log.display()
        );
        // Without latency kills land in the database and file work, with
        // it mostly between a PDU and its answer.
        let latency = match rng.between(0, 4) {
            0 => 0,
            _ => rng.between(10, 40),
        };
        emulator.set_command_latency("AT+CMGS", Duration::from_millis(latency));
        let before = progress(&spool, &emulator);
        let mut delay = rng.between(KILL_AFTER_MS.0, KILL_AFTER_MS.1);
        if idle_lives >= IDLE_LIVES {
            // A daemon that has to wait out a modem timeout to recover
            // needs longer than the usual kill delay to get anywhere.
            delay += PATIENCE.as_millis() as u64;
            patient_lives += 1;
        }
        delays.push(delay);
        let mut daemon = spool.start(false);
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
        if progress(&spool, &emulator) == before {
            idle_lives += 1;
        } else {
            idle_lives = 0;
        }
        assert!(
            idle_lives < IDLE_LIVES + 2,
            "{idle_lives} daemons in a row did nothing, the last two in {PATIENCE:?} and more; \
             the emulator's last commands: {:?} (a modem left at the prompt of AT+CMGS by a \
             killed daemon takes every later AT as PDU text until it gets ESC); see {}",
            last_commands(&emulator),
            spool.log.display()
        );
    }
    let left_after_kills = spool.unfinished();

    // A last run finishes whatever is left and stops cleanly on SIGTERM.
    let notify = UnixDatagram::bind(&spool.notify).unwrap();
    let mut daemon = spool.start(true);
    let mut ready = false;
    let clean_start = Instant::now();
    while !ready || spool.unfinished() > 0 {
        drain_notify(&notify, &mut ready);
        assert!(
            ready || clean_start.elapsed() < READY_WITHIN,
            "clean run: the modem is not ready after {READY_WITHIN:?}; the emulator's last \
             commands: {:?} (a modem left at the prompt of AT+CMGS by a killed daemon takes \
             every later AT as PDU text until it gets ESC); see {}",
            last_commands(&emulator),
            spool.log.display()
        );
        assert!(
            Instant::now() < deadline,
            "clean run: {} files unfinished; see {}",
            spool.unfinished(),
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
    drain_notify(&notify, &mut ready);
    assert!(status.success(), "clean stop: {status}");

    // Files: each in sent/ or error/, once; nothing else anywhere.
    let expected: BTreeSet<&str> = messages.iter().map(|m| m.name.as_str()).collect();
    let in_sent: BTreeSet<String> = names(&spool.sent).into_iter().collect();
    let in_error: BTreeSet<String> = names(&spool.error).into_iter().collect();
    let stray: Vec<&String> = in_sent
        .iter()
        .chain(&in_error)
        .filter(|name| !expected.contains(name.as_str()))
        .collect();
    assert!(
        stray.is_empty(),
        "unexpected files (duplicates?): {stray:?}"
    );
    let both: Vec<&String> = in_sent.intersection(&in_error).collect();
    assert!(both.is_empty(), "in sent/ and error/: {both:?}");
    let lost: Vec<&&str> = expected
        .iter()
        .filter(|name| !in_sent.contains(**name) && !in_error.contains(**name))
        .collect();
    assert!(lost.is_empty(), "lost: {lost:?}");
    let outbox_left: Vec<String> = names(&spool.outbox)
        .into_iter()
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert!(outbox_left.is_empty(), "left in outbox/: {outbox_left:?}");
    let claimed_left = names(&spool.claim_dir());
    assert!(claimed_left.is_empty(), "left claimed: {claimed_left:?}");

    // What the modem got, by destination and part number.
    let mut sends: BTreeMap<(String, usize), Vec<SentMessage>> = BTreeMap::new();
    for sent in emulator.sent() {
        sends.entry(part_of(&sent)).or_default().push(sent);
    }
    let known: BTreeSet<(String, usize)> = messages
        .iter()
        .flat_map(|m| (1..=m.parts.len()).map(|part| (m.recipient.clone(), part)))
        .collect();
    let unknown: Vec<&(String, usize)> = sends.keys().filter(|k| !known.contains(*k)).collect();
    assert!(
        unknown.is_empty(),
        "PDUs that belong to no part: {unknown:?}"
    );

    // Every message against the database and the modem.
    let store = Store::open(&spool.database).unwrap();
    let rows = rows(&store);
    assert_eq!(rows.len(), MESSAGES, "one row per file: {:?}", rows.keys());
    let counts = store.counts().unwrap();
    let mut ambiguous = 0;
    let mut ambiguous_on_air = 0;
    let mut twice = Vec::new();
    for message in &messages {
        let row = match rows.get(&message.name).map(Vec::as_slice) {
            Some([row]) => row,
            other => panic!("{}: rows {other:?}", message.name),
        };
        assert_eq!(row.recipient, message.recipient, "{}", message.name);
        assert_eq!(
            row.parts_total as usize,
            message.parts.len(),
            "{}",
            message.name
        );
        let parts = store.parts(row.id).unwrap();
        assert_eq!(parts.len(), message.parts.len(), "{}", message.name);
        for (index, text) in message.parts.iter().enumerate() {
            let part = &parts[index];
            let key = (message.recipient.clone(), index + 1);
            let got = sends.get(&key).map_or(&[][..], Vec::as_slice);
            for sent in got {
                assert_eq!(
                    sent.submit.user_data.body.text(),
                    Some(text.as_str()),
                    "{} part {}: text",
                    message.name,
                    index + 1
                );
            }
            if got.len() > 1 {
                twice.push(format!(
                    "{} part {} ({:?}, {}) went to the modem {} times",
                    message.name,
                    index + 1,
                    row.state,
                    row.last_error.as_deref().unwrap_or(""),
                    got.len()
                ));
            }
            let context = format!(
                "{} part {} (message {:?}, part {:?}, last error {:?})",
                message.name,
                index + 1,
                row.state,
                part.state,
                row.last_error
            );
            match part.state {
                PartState::Sent => {
                    assert_eq!(
                        got.len(),
                        1,
                        "{context}: recorded sent; how often it went to the modem"
                    );
                    assert_eq!(
                        part.message_ref,
                        Some(got[0].message_reference),
                        "{context}: the TP-MR the modem answered"
                    );
                }
                PartState::Ambiguous => {
                    assert_eq!(row.state, MessageState::Ambiguous, "{context}");
                    assert!(got.len() <= 1, "{context}: went out {} times", got.len());
                    ambiguous_on_air += got.len();
                }
                PartState::Pending => {
                    assert!(got.is_empty(), "{context}: never sent, yet on the air");
                }
                PartState::Sending => panic!("{context}: left sending after a clean stop"),
            }
        }
        let in_sent = in_sent.contains(&message.name);
        match row.state {
            MessageState::Sent => {
                assert!(in_sent, "{}: sent, but its file is in error/", message.name);
                assert!(
                    parts.iter().all(|p| p.state == PartState::Sent),
                    "{}: sent with parts {parts:?}",
                    message.name
                );
            }
            MessageState::Ambiguous => {
                ambiguous += 1;
                assert!(!in_sent, "{}: ambiguous, but in sent/", message.name);
                let states: Vec<PartState> = parts.iter().map(|p| p.state).collect();
                let at = states
                    .iter()
                    .position(|s| *s == PartState::Ambiguous)
                    .unwrap_or_else(|| panic!("{}: no ambiguous part: {states:?}", message.name));
                assert!(
                    states[..at].iter().all(|s| *s == PartState::Sent)
                        && states[at + 1..].iter().all(|s| *s == PartState::Pending),
                    "{}: parts {states:?}",
                    message.name
                );
            }
            state => panic!(
                "{}: {state:?} ({:?}) after the clean run",
                message.name, row.last_error
            ),
        }
    }
    // Nothing is ever sent twice: a resolved send is sent again only when
    // the modem's counter says it never went out.
    assert!(twice.is_empty(), "sent twice:\n{}", twice.join("\n"));
    assert_eq!(
        (counts.queued, counts.failed, counts.cancelled),
        (0, 0, 0),
        "database counts {counts:?}"
    );
    assert_eq!(counts.sent + counts.ambiguous, MESSAGES as u64);
    let log = std::fs::read_to_string(&spool.log).unwrap();
    let went_out = log.matches("resolved: the part went out").count();
    let did_not = log.matches("resolved: the part did not go out").count();
    let pdus: usize = sends.values().map(Vec::len).sum();
    println!(
        "crash test: {MESSAGES} messages ({total_parts} parts), {kills} kills \
         (delays {}..{} ms, {patient_lives} patient), {left_after_kills} files left for the clean run; \
         sent {}; sends in doubt resolved by the TP-MR counter: {} ({went_out} had gone out, \
         {did_not} had not and went once); unresolved (ambiguous, not resent): {ambiguous} \
         ({ambiguous_on_air} of them reached the modem); {pdus} PDUs on the air; {:.1} s",
        delays.iter().min().unwrap_or(&0),
        delays.iter().max().unwrap_or(&0),
        counts.sent,
        went_out + did_not,
        started.elapsed().as_secs_f64()
    );
    assert!(
        ambiguous * 10 <= kills as usize,
        "{ambiguous} unresolved ambiguous sends after {kills} kills: more than 10 %"
    );
    drop(store);
    emulator.stop().await;
    std::fs::remove_dir_all(&spool.root).unwrap();
}
