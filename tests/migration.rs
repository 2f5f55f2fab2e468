//! Replacing gammu-smsd in place (issue #9 acceptance): the real
//! gammu-smsd 1.42 sends part of a queue written by the real
//! `gammu-smsd-inject` and is stopped; simgate, started on the same
//! gammu-smsdrc, on a machine where its state directory does not exist
//! yet, sends the rest, each message exactly once.

use crate::support::{reference, Reference};
use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const MESSAGES: usize = 12;

fn count(dir: &Path, prefix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simgate_takes_over_a_queue_gammu_smsd_started() {
    const CHECK: &str = "migration::simgate_takes_over_a_queue_gammu_smsd_started";
    let (Some(inject), Some(smsd)) = (
        reference(Reference::SmsdInject, CHECK),
        reference(Reference::Smsd, CHECK),
    ) else {
        return;
    };
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root: PathBuf =
        std::env::temp_dir().join(format!("simgate-migration-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    // As Debian ships it, with the device set to the modem and the spool
    // moved into the test's folder.
    let config = root.join("gammu-smsdrc");
    std::fs::write(
        &config,
        format!(
            "# This is a generic sample configuration for gammu-smsd\n\n[gammu]\n\
             port = {}\nconnection = at\n\n[smsd]\nservice = files\nlogfile = {1}/smsd.log\n\
             # Increase for debugging information\ndebuglevel = 0\n\n\
             # Paths where messages are stored\ninboxpath = {1}/inbox/\n\
             outboxpath = {1}/outbox/\nsentsmspath = {1}/sent/\nerrorsmspath = {1}/error/\n",
            emulator.path().display(),
            root.display()
        ),
    )
    .unwrap();
    let mut texts = BTreeMap::new();
    for n in 0..MESSAGES {
        let number = format!("+49176000005{n:02}");
        let text = if n % 4 == 0 {
            format!("message {n}: {}", "long enough for two parts ".repeat(8))
        } else {
            format!("message {n}")
        };
        let mut args = vec!["TEXT".to_owned(), number.clone()];
        if text.len() > 160 {
            args.extend(["-len".to_owned(), "400".to_owned()]);
        }
        args.extend(["-text".to_owned(), text.clone()]);
        let output = Command::new(&inject)
            .arg("-c")
            .arg(&config)
            .args(&args)
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        texts.insert(number, text);
    }
    let queued = count(&root.join("outbox"), "OUT");
    assert!(queued >= MESSAGES);

    // gammu-smsd sends some, then is stopped.
    let mut gammu = Command::new(&smsd)
        .arg("-c")
        .arg(&config)
        .env("LC_ALL", "C.UTF-8")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while count(&root.join("sent"), "OUT") < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gammu-smsd sent nothing in 120 s; see {}/smsd.log",
            root.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = nix::unistd::Pid::from_raw(gammu.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    tokio::task::spawn_blocking(move || gammu.wait())
        .await
        .unwrap()
        .unwrap();
    let by_gammu = emulator.sent().len();
    // What gammu left: simgate's queue. (What gammu did with the message it
    // was handling when it was stopped is gammu's business: it may have
    // sent it and left its file, which nobody can tell; see the spec, §11.)
    let left: BTreeMap<String, String> = std::fs::read_dir(root.join("outbox"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("OUT"))
        .map(|e| {
            let content = std::fs::read_to_string(e.path()).unwrap();
            let number = content
                .lines()
                .find_map(|l| l.strip_prefix("Number = "))
                .expect("a Number line")
                .trim_matches('"')
                .to_owned();
            (e.file_name().to_string_lossy().into_owned(), number)
        })
        .collect();
    assert!(
        !left.is_empty(),
        "gammu-smsd sent everything before it was stopped"
    );

    // simgate on the same file, its state directory missing.
    let state = root.join("var/lib/simgate");
    // simgate logs where gammu did (the file's LogFile); this is for
    // anything it says before it reads the file.
    let log = root.join("simgate.stderr");
    let mut simgate = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .arg("run")
        .arg("-c")
        .arg(&config)
        .env("STATE_DIRECTORY", &state)
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // (The outbox may look empty while simgate holds the last file: wait
    // for each file in sent/ or error/.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let finished = |file: &String| {
        root.join("sent").join(file).exists() || root.join("error").join(file).exists()
    };
    while !left.keys().all(finished) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "simgate did not finish the files gammu left; see {}/smsd.log",
            root.display()
        );
        assert!(
            simgate.try_wait().unwrap().is_none(),
            "simgate stopped; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    simgate.start_kill().unwrap();
    let _ = simgate.wait().await;
    assert!(state.is_dir(), "simgate made its state directory");

    // Every file gammu left went out exactly once, through simgate, whole;
    // nothing else did; each is in sent/ under its name.
    let mut by_simgate: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for sent in &emulator.sent()[by_gammu..] {
        let text = sent.submit.user_data.body.text().unwrap_or("").to_owned();
        by_simgate
            .entry(sent.submit.destination.to_display())
            .or_default()
            .push(text);
    }
    for (file, number) in &left {
        let parts = by_simgate.get(number).cloned().unwrap_or_default();
        assert_eq!(
            &parts.concat(),
            &texts[number],
            "{number}: what simgate sent, and how often"
        );
        assert!(root.join("sent").join(file).exists(), "{file} in sent/");
    }
    let others: Vec<&String> = by_simgate
        .keys()
        .filter(|n| !left.values().any(|v| v == *n))
        .collect();
    assert!(
        others.is_empty(),
        "simgate sent what gammu had finished: {others:?}"
    );
    assert_eq!(count(&root.join("error"), "OUT"), 0);
    println!(
        "migration: {} files queued by gammu-smsd-inject; gammu-smsd sent {by_gammu} PDUs and \
         left {} files, which simgate sent ({} PDUs)",
        texts.len(),
        left.len(),
        emulator.sent().len() - by_gammu
    );
    let _ = std::fs::remove_dir_all(&root);
}
