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
    let stopped = tokio::task::spawn_blocking(move || gammu.wait())
        .await
        .unwrap()
        .unwrap();
    let _ = stopped;
    let by_gammu = emulator.sent().len();
    let left = count(&root.join("outbox"), "OUT");
    assert!(left > 0, "gammu-smsd sent everything before it was stopped");

    // simgate on the same file, its state directory missing.
    let state = root.join("var/lib/simgate");
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count(&root.join("outbox"), "OUT") > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "simgate left files in the outbox; see {}",
            log.display()
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

    // Every message exactly once, between the two daemons.
    let mut parts_by_number: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for sent in emulator.sent() {
        let text = sent.submit.user_data.body.text().unwrap_or("").to_owned();
        parts_by_number
            .entry(sent.submit.destination.to_display())
            .or_default()
            .push(text);
    }
    for (number, text) in &texts {
        let parts = parts_by_number.get(number).cloned().unwrap_or_default();
        assert_eq!(
            &parts.concat(),
            text,
            "{number}: what went out, and how often"
        );
    }
    assert_eq!(parts_by_number.len(), MESSAGES);
    let listing = |dir: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        count(&root.join("sent"), "OUT"),
        queued,
        "sent/ {:?}, error/ {:?}, outbox/ {:?}; see {}",
        listing("sent"),
        listing("error"),
        listing("outbox"),
        log.display()
    );
    assert_eq!(count(&root.join("error"), "OUT"), 0);
    println!(
        "migration: {queued} files queued by gammu-smsd-inject; gammu-smsd sent {by_gammu} PDUs, \
         simgate the other {}",
        emulator.sent().len() - by_gammu
    );
    let _ = std::fs::remove_dir_all(&root);
}
