//! `simgate send` (issue #12 §4), run as a user would: the file it queues,
//! its errors and exit codes, and `--wait` against a running daemon.

use crate::support::{fresh_spool, simgate, spawn_simgate, write_spool_config};
use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn send(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .arg("send")
        .arg("-c")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A command refused on its arguments exits without reading: the pipe
    // may be closed already.
    if let Err(error) = input.write_all(stdin.unwrap_or("").as_bytes()) {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn outbox_files(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Without a daemon: the file is queued under gammu-smsd-inject's kind of
/// name, with the text (from the argument or standard input); a second
/// message in the same second gets the next name; bad input queues nothing.
#[test]
fn send_queues_an_outbox_file_and_refuses_bad_input() {
    let root = fresh_spool("send-queue");
    let config = write_spool_config(&root, Path::new("/dev/ttyUSB9"), "");
    let first = send(&config, &["+4917600000901", "Hello €"], None);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = send(&config, &["+4917600000901"], Some("from stdin\n"));
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let names = outbox_files(&root);
    assert_eq!(names.len(), 2, "{names:?}");
    for name in &names {
        assert!(
            name.starts_with("OUTC") && name.contains("_00_+4917600000901_sms"),
            "{name}"
        );
        assert!(name.ends_with(".txt"), "{name}");
    }
    let texts: Vec<String> = names
        .iter()
        .map(|name| std::fs::read_to_string(root.join("outbox").join(name)).unwrap())
        .collect();
    assert!(texts.contains(&"Hello €".to_owned()), "{texts:?}");
    assert!(texts.contains(&"from stdin".to_owned()), "{texts:?}");
    assert!(String::from_utf8_lossy(&first.stdout).starts_with("queued "));

    for (args, input, says) in [
        (&["not a number!", "hi"][..], None, "invalid number"),
        // A space would go into the file name as it is.
        (&["+49 176 00000901", "hi"][..], None, "invalid number"),
        (&["+4917600000901"][..], Some(""), "the text is empty"),
    ] {
        let output = send(&config, args, input);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert_eq!(outbox_files(&root).len(), 2, "nothing more queued");
    // --wait with nothing running: still queued when the time runs out.
    let waited = send(
        &config,
        &["--wait", "1", "+4917600000902", "nobody sends me"],
        None,
    );
    assert_eq!(
        waited.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
    let said = String::from_utf8_lossy(&waited.stderr);
    assert!(said.contains("still not sent after 1 s"), "{said}");
    assert!(said.contains("no simgate daemon"), "{said}");
    let _ = std::fs::remove_dir_all(&root);
}

/// The next line `simgate send` wrote to its standard error.
async fn next_line(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(std::time::Duration::from_secs(30), lines.recv())
        .await
        .expect("no line from simgate send within 30 s")
        .expect("simgate send closed its standard error")
}

/// `--wait` with no daemon serving the outbox says so at once, not after
/// waiting out its whole limit, and says when one starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_wait_says_at_once_that_no_daemon_runs_and_when_one_starts() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    // The send takes 3 s: the waiter, which looks for a daemon every
    // second, sees it started before the message is sent, however slow
    // the machine (with an instant send, a daemon that started and sent
    // between two looks went unannounced: "sent" came first).
    emulator.set_command_latency("AT+CMGS", std::time::Duration::from_secs(3));
    let root = fresh_spool("send-wait-nobody");
    let config = write_spool_config(&root, &emulator.path(), "");
    let mut waiter = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .arg("send")
        .arg("-c")
        .arg(&config)
        .args(["--wait", "600", "+4917600000904", "started late"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = waiter.stderr.take().unwrap();
    let (lines_in, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { break };
            if lines_in.send(line).is_err() {
                break;
            }
        }
    });
    let first = next_line(&mut lines).await;
    assert!(
        first.contains("no simgate daemon") && first.contains("outbox"),
        "{first}"
    );
    // The daemon starts after all: the waiter notices, and the message goes.
    let mut daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    let second = next_line(&mut lines).await;
    assert!(second.contains("simgate started"), "{second}");
    let output = tokio::task::spawn_blocking(move || waiter.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("\nsent "));
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

/// With the daemon running on the emulator, `--wait` returns once the
/// message is sent, and the network got it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_wait_returns_once_the_daemon_sent_it() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = fresh_spool("send-wait");
    let config = write_spool_config(&root, &emulator.path(), "");
    let mut daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    let output = tokio::task::spawn_blocking(move || {
        send(
            &config,
            &["--wait", "60", "+4917600000903", "wait for me"],
            None,
        )
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("\nsent ") && stdout.contains("/sent/OUTC"),
        "{stdout}"
    );
    let got: Vec<String> = emulator
        .sent()
        .iter()
        .filter(|m| m.submit.destination.to_display() == "+4917600000903")
        .filter_map(|m| m.submit.user_data.body.text().map(str::to_owned))
        .collect();
    assert_eq!(got, ["wait for me"]);
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

/// `--wait` written before the number never takes the number for its
/// SECONDS. It did: `send --wait +49… 4711` with the text on standard
/// input waited 4.9e13 s and sent the text to 4711. A number is not a
/// wait: the command is refused and nothing is queued, with a message that
/// says how to write it; `--wait=SECONDS`, and `--wait` last, keep working.
#[test]
fn wait_before_the_number_is_refused_not_taken_for_seconds() {
    let root = fresh_spool("send-wait-order");
    let config = write_spool_config(&root, Path::new("/dev/ttyUSB9"), "");
    for (args, input) in [
        (
            &["--wait", "+4917600000906", "4711"][..],
            Some("secret code\n"),
        ),
        (&["--wait", "+4917600000906", "Hello"][..], None),
        (&["--wait", "004917600000906", "Hello"][..], None),
    ] {
        let output = send(&config, args, input);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("--wait=SECONDS"), "{args:?}: {stderr}");
        assert!(outbox_files(&root).is_empty(), "{args:?}: nothing queued");
    }
    // The forms that say what they mean: nothing runs, so each waits out
    // its second and says the message is still queued (exit 3).
    for args in [
        &["--wait=1", "+4917600000906", "Hello"][..],
        &["--wait", "1", "+4917600000906", "Hello"][..],
    ] {
        let output = send(&config, args, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {stderr}");
    }
    let names = outbox_files(&root);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().all(|name| name.contains("_+4917600000906_")),
        "{names:?}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Queueing needs the outbox, not the daemon's secrets. `send`, `inject`
/// and `status` are run by the programs and people who queue messages,
/// who need not be able to read the PIN, a stick's password or the API's
/// token (files the daemon alone reads, often mode 0600). They read those
/// files and failed when they could not; `check-config` and `run` still do.
#[test]
fn queueing_does_not_read_the_daemons_secrets() {
    let root = fresh_spool("send-no-secrets");
    let config = write_spool_config(
        &root,
        Path::new("/dev/ttyUSB9"),
        "[http]\nlisten = \"127.0.0.1:18099\"\ntoken_file = \"/nonexistent/token\"\n",
    );
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "status_interval",
        "pin_file = \"/nonexistent/pin\"\nstatus_interval",
    );
    std::fs::write(&config, text).unwrap();
    let config_arg = config.to_str().unwrap();
    let sent = send(&config, &["+4917600000907", "no secrets needed"], None);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let injected = simgate(&[
        "inject",
        "-c",
        config_arg,
        "TEXT",
        "+4917600000907",
        "-text",
        "nor here",
    ]);
    assert!(
        injected.status.success(),
        "{}",
        String::from_utf8_lossy(&injected.stderr)
    );
    assert_eq!(outbox_files(&root).len(), 2);
    let status = simgate(&["status", "-c", config_arg]);
    let said = String::from_utf8_lossy(&status.stderr);
    assert!(!said.contains("/nonexistent/"), "status: {said}");
    // The daemon's own check still reads them.
    let checked = simgate(&["check-config", "-c", config_arg]);
    assert_eq!(checked.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&checked.stderr).contains("/nonexistent/pin"));
    let _ = std::fs::remove_dir_all(&root);
}

/// `send --wait` says "sent" only for its own message. Its file took the
/// first name free in the outbox, so a message sent earlier in the same
/// second (its file now in `sent/`) had the same name, and the wait found
/// that file at once and said "sent", exit 0, with nothing sent. The
/// names a message of this second could take are made taken in `sent/`
/// here (for the next few seconds too); with no daemon running, the wait
/// must run out (exit 3), its file under a name of its own.
#[test]
fn send_wait_does_not_take_another_message_for_its_own() {
    let root = fresh_spool("send-wait-own");
    let config = write_spool_config(&root, Path::new("/dev/ttyUSB9"), "");
    let number = "+4917600000908";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut taken = Vec::new();
    for second in now..now + 5 {
        let stamp = Command::new("date")
            .arg("-d")
            .arg(format!("@{second}"))
            .arg("+%Y%m%d_%H%M%S")
            .output()
            .unwrap();
        let stamp = String::from_utf8(stamp.stdout).unwrap();
        for n in 0..3 {
            let name = format!("OUTC{}_00_{number}_sms{n}.txt", stamp.trim());
            std::fs::write(root.join("sent").join(&name), "an earlier message").unwrap();
            taken.push(name);
        }
    }
    let output = send(&config, &["--wait=1", number, "mine"], None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    let queued = outbox_files(&root);
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert!(!taken.contains(&queued[0]), "{queued:?}");
    let _ = std::fs::remove_dir_all(&root);
}

/// A message that cannot be written (the outbox's disk is full) leaves
/// nothing behind: its temporary file held part of the text, readable by
/// anyone, and nobody removed it (found with the outbox on a full tmpfs).
#[test]
fn a_message_that_cannot_be_written_leaves_no_temporary_file() {
    const TEST: &str = "send_command::a_message_that_cannot_be_written_leaves_no_temporary_file";
    let root = fresh_spool("send-full-disk");
    let Some(_tmpfs) = crate::support::Tmpfs::mount(&root.join("outbox"), 64) else {
        crate::support::needs_root(TEST, "mounting a tmpfs needs root (CI runs as root)");
        let _ = std::fs::remove_dir_all(&root);
        return;
    };
    let config = write_spool_config(&root, Path::new("/dev/ttyUSB9"), "");
    let filler = crate::support::fill(&root.join("outbox"));
    let text = "a text longer than what is left on the disk ".repeat(300);
    for _ in 0..3 {
        let output = send(&config, &["+4917600000910", &text], None);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::remove_file(&filler).unwrap();
    assert!(outbox_files(&root).is_empty(), "{:?}", outbox_files(&root));
    let output = send(&config, &["+4917600000910", &text], None);
    assert!(output.status.success());
    assert_eq!(outbox_files(&root).len(), 1);
    drop(_tmpfs);
    let _ = std::fs::remove_dir_all(&root);
}

/// Queueing needs no modem either. The Debian package's simgate.toml
/// names none until the user sets one, and gammu's own package ships
/// `port = /dev/null` ("not configured"): `simgate send`, `simgate
/// inject` (as `gammu-smsd-inject` does with that file) and `simgate
/// status` refused both ("missing `modem.device`", "invalid value
/// /dev/null"). They queue now, and the messages wait for the daemon;
/// `check-config` still says what to set.
#[test]
fn queueing_needs_no_modem_configured() {
    let root = fresh_spool("send-no-modem");
    let spool = format!(
        "[spool]\ninbox = \"{r}/inbox\"\noutbox = \"{r}/outbox\"\nsent = \"{r}/sent\"\n\
         error = \"{r}/error\"\n\n[database]\npath = \"{r}/simgate.db\"\n",
        r = root.display()
    );
    let no_device = root.join("no-device.toml");
    std::fs::write(&no_device, format!("[modem]\n\n{spool}")).unwrap();
    let placeholder = root.join("placeholder.toml");
    std::fs::write(
        &placeholder,
        format!("[modem]\ndevice = \"/dev/null\"\n\n{spool}"),
    )
    .unwrap();
    let gammu = root.join("gammu-smsdrc");
    std::fs::write(
        &gammu,
        format!(
            "[gammu]\nport = /dev/null\nconnection = at\n\n[smsd]\nservice = files\n\
             logfile = syslog\ndebuglevel = 0\ninboxpath = {r}/inbox/\noutboxpath = {r}/outbox/\n\
             sentsmspath = {r}/sent/\nerrorsmspath = {r}/error/\n",
            r = root.display()
        ),
    )
    .unwrap();
    for config in [&no_device, &placeholder, &gammu] {
        let sent = send(config, &["+4917600000911", "waits for a modem"], None);
        assert!(
            sent.status.success(),
            "send -c {}: {}",
            config.display(),
            String::from_utf8_lossy(&sent.stderr)
        );
        let config_arg = config.to_str().unwrap();
        let injected = simgate(&[
            "inject",
            "-c",
            config_arg,
            "TEXT",
            "+4917600000911",
            "-text",
            "so do I",
        ]);
        assert!(
            injected.status.success(),
            "inject -c {}: {}",
            config.display(),
            String::from_utf8_lossy(&injected.stderr)
        );
        // No database yet: status says so (exit 1), not that the modem
        // is missing.
        let status = simgate(&["status", "-c", config_arg]);
        let said = String::from_utf8_lossy(&status.stderr);
        assert!(
            said.contains("no database at"),
            "status -c {}: {said}",
            config.display()
        );
        let checked = simgate(&["check-config", "-c", config_arg]);
        assert_eq!(
            checked.status.code(),
            Some(1),
            "check-config -c {}",
            config.display()
        );
        assert!(
            String::from_utf8_lossy(&checked.stderr).contains("device"),
            "{}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    assert_eq!(outbox_files(&root).len(), 6);
    let _ = std::fs::remove_dir_all(&root);
}

/// A configuration with sending off (`Send = no`, `[send] enabled =
/// false`): the file is queued, as gammu-smsd-inject queues it, with a
/// word that nothing sends it until sending is on; `--wait` is refused
/// before anything is queued. (It queued in silence, and `--wait` waited
/// out its limit on a daemon that never looks at the outbox.)
#[test]
fn sending_off_is_said_and_a_wait_for_it_refused() {
    let root = fresh_spool("send-off");
    let config = write_spool_config(
        &root,
        Path::new("/dev/ttyUSB9"),
        "[send]\nenabled = false\n",
    );
    let queued = send(&config, &["+4917600000951", "kept for later"], None);
    let said = String::from_utf8_lossy(&queued.stderr);
    assert!(queued.status.success(), "{said}");
    assert!(said.contains("sending is off"), "{said}");
    assert_eq!(outbox_files(&root).len(), 1);
    let waited = send(&config, &["--wait", "5", "+4917600000952", "never"], None);
    let said = String::from_utf8_lossy(&waited.stderr);
    assert_eq!(waited.status.code(), Some(1), "{said}");
    assert!(said.contains("sending is off"), "{said}");
    assert_eq!(outbox_files(&root).len(), 1, "nothing more queued");
    let _ = std::fs::remove_dir_all(&root);
}
