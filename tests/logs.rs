//! What the log says (issue #9 §6): at the default level no phone number,
//! message text, raw PDU or spool path with a number in it, on every path
//! that used to leak one (error reasons, recipients in them, undecodable
//! PDUs, move errors); at debug level all of it, so the check can fail.

use crate::support::{delivers, spawn_simgate};
use simgate::emulator::{Emulator, EmulatorConfig, Fault, Profile, Times};
use std::path::Path;
use std::time::Duration;

const SECRET_TEXT: &str = "SECRETTEXT";
/// Every number the run uses shares these digits.
const NUMBER_CORE: &str = "917613579";

fn config(root: &Path, device: &Path, level: &str) -> std::path::PathBuf {
    for dir in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let path = root.join("simgate.toml");
    std::fs::write(
        &path,
        format!(
            "[modem]\ndevice = \"{}\"\nstatus_interval = \"0s\"\n\n[spool]\n\
             inbox = \"{1}/inbox\"\noutbox = \"{1}/outbox\"\nsent = \"{1}/sent\"\n\
             error = \"{1}/error\"\n\n[send]\nretry_delay = \"100ms\"\nretry_delay_max = \"1s\"\n\
             max_attempts = 2\n\n[database]\npath = \"{1}/simgate.db\"\n\n[log]\nlevel = \"{level}\"\n\
             file = \"{1}/simgate.log\"\n",
            device.display(),
            root.display()
        ),
    )
    .unwrap();
    path
}

fn drop_file(root: &Path, name: &str, content: &[u8]) {
    let temp = root.join("dropping");
    std::fs::write(&temp, content).unwrap();
    std::fs::rename(&temp, root.join("outbox").join(name)).unwrap();
}

/// Runs a gateway through every leaking path and returns its log.
async fn run(level: &str) -> String {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = std::env::temp_dir().join(format!("simgate-logs-{level}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let config = config(&root, &emulator.path(), level);
    let log = root.join("simgate.log");
    let mut daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    let number = |n: u8| format!("+4{NUMBER_CORE}{n:02}");
    // Sent, with its text.
    drop_file(
        &root,
        &format!("OUT{}.txt", number(1)),
        format!("{SECRET_TEXT} one").as_bytes(),
    );
    // A file whose content cannot be sent (odd UTF-16).
    drop_file(&root, &format!("OUT{}.txt", number(2)), &[0xFE, 0xFF, 0x00]);
    // A name that cannot be sent.
    drop_file(
        &root,
        &format!("OUT_{}.txt", number(3)),
        SECRET_TEXT.as_bytes(),
    );
    // A number inside the file that is no number.
    drop_file(
        &root,
        "OUTC20261203_120000_00_x_sms0.smsbackup",
        format!(
            "[SMSBackup000]\nNumber = \"{}abc\"\nText00 = 0041\nCoding = Default\n",
            number(4)
        )
        .as_bytes(),
    );
    // The network refuses one, twice: reasons with the recipient.
    emulator.inject_fault(Fault::CmsError {
        code: 21,
        times: Times::Always,
        destination: Some(number(5)),
    });
    drop_file(
        &root,
        &format!("OUT{}.txt", number(5)),
        format!("{SECRET_TEXT} five").as_bytes(),
    );
    // Received: a message, and a PDU that does not decode.
    emulator
        .inject_deliver(&delivers(&number(6), &format!("{SECRET_TEXT} six"), 0)[0])
        .unwrap();
    let undecodable = format!("0791947106004034040C9149{NUMBER_CORE}070000627");
    emulator.inject_raw_line(&undecodable, 20).unwrap();
    // A sent file that cannot be moved (sent/ gone).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let finished = |dir: &str| std::fs::read_dir(root.join(dir)).map_or(0, |d| d.count());
    while finished("sent") < 1 || finished("error") < 4 || finished("inbox") < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run did not finish; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::remove_dir_all(root.join("sent")).unwrap();
    drop_file(
        &root,
        &format!("OUT{}.txt", number(7)),
        format!("{SECRET_TEXT} seven").as_bytes(),
    );
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("cannot move a finished file")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no move error; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.start_kill().unwrap();
    let _ = daemon.wait().await;
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_dir_all(&root);
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_log_shows_no_number_text_or_pdu_and_debug_shows_them() {
    let info = run("info").await;
    let leaks: Vec<&str> = info
        .lines()
        .filter(|line| {
            line.contains(NUMBER_CORE) || line.contains(SECRET_TEXT) || line.contains("0791947106")
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "leaked at the default level:\n{}",
        leaks.join("\n")
    );
    // The reasons are still there, only without the numbers.
    for words in [
        "queued",
        "sent",
        "cannot be sent",
        "undecodable",
        "cannot move a finished file",
    ] {
        assert!(
            info.contains(words),
            "the default log lost {words:?}:\n{info}"
        );
    }
    let debug = run("debug").await;
    assert!(debug.contains(NUMBER_CORE), "debug shows the numbers");
    assert!(debug.contains("0791947106"), "debug shows the PDU");
}

/// logrotate moves the log file away and sends SIGHUP (gammu-smsd reopens
/// its `LogFile` on SIGHUP, so that is how its users rotate it): the
/// lines after the signal go to a new file under the configured name, not
/// to the moved one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reopens_the_log_file_that_logrotate_moved() {
    use crate::support::until;
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = std::env::temp_dir().join(format!("simgate-logs-rotate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let config = config(&root, &emulator.path(), "info");
    let log = root.join("simgate.log");
    let rotated = root.join("simgate.log.1");
    let mut daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    until("the daemon ready", || read(&log).contains("modem ready")).await;
    std::fs::rename(&log, &rotated).unwrap();
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    until("the reload logged (in either file)", || {
        read(&log).contains("configuration reloaded")
            || read(&rotated).contains("configuration reloaded")
    })
    .await;
    assert!(
        read(&log).contains("configuration reloaded"),
        "the moved file got the lines after SIGHUP:\n{}",
        read(&rotated)
    );
    assert!(!read(&rotated).contains("configuration reloaded"));
    // And the daemon goes on logging there.
    drop_file(
        &root,
        &format!("OUT+4{NUMBER_CORE}99.txt"),
        b"after the rotation",
    );
    until("the send logged in the new file", || {
        root.join(format!("sent/OUT+4{NUMBER_CORE}99.txt")).exists()
            && read(&log).contains(" sent ")
    })
    .await;
    // One line for a one-part message, its reference on it (a "part sent"
    // line before it said the same).
    let lines = read(&log);
    let sent: Vec<&str> = lines.lines().filter(|l| l.contains(" sent ")).collect();
    assert_eq!(sent.len(), 1, "{lines}");
    assert!(
        sent[0].contains("references=[") && sent[0].contains("parts=1"),
        "{lines}"
    );
    assert!(!lines.contains("part sent"), "{lines}");
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

/// A log file that cannot be written (its disk full: here /dev/full): the
/// daemon goes on, and says once on standard error (the journal under
/// systemd) that log lines are lost. Before, nothing said so anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_file_that_cannot_be_written_is_said_once_on_stderr() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = std::env::temp_dir().join(format!("simgate-log-full-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let path = config(&root, &emulator.path(), "info");
    let text = std::fs::read_to_string(&path).unwrap();
    let log_line = format!("file = \"{}/simgate.log\"", root.display());
    std::fs::write(&path, text.replace(&log_line, "file = \"/dev/full\"")).unwrap();
    let stderr = root.join("stderr.log");
    let mut daemon = spawn_simgate(&path, &stderr, None);
    for n in 0..3 {
        drop_file(
            &root,
            &format!("OUT+49{NUMBER_CORE}{n}.txt"),
            b"sent all the same",
        );
    }
    crate::support::until("three in sent/", || {
        std::fs::read_dir(root.join("sent")).unwrap().count() == 3
    })
    .await;
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let said = std::fs::read_to_string(&stderr).unwrap();
    assert_eq!(
        said.matches("simgate: cannot write the log file (No space left on device")
            .count(),
        1,
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
