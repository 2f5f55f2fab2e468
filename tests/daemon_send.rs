//! The daemon send path against the emulator: real pty, real inotify, real
//! SQLite, files written by the real `gammu-smsd-inject` (that check is
//! skipped with a note without it, or fails under `SIMGATE_REQUIRE_GAMMU=1`).

use crate::support::{reference, Harness, Reference};
use simgate::daemon::DaemonEvent;
use simgate::emulator::{Emulator, EmulatorConfig, Profile, SentMessage};
use simgate::pdu::{Alphabet, MessageClass};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn to(message: &SentMessage) -> String {
    message.submit.destination.to_display()
}

fn text(message: &SentMessage) -> &str {
    message.submit.user_data.body.text().unwrap_or("")
}

/// Writes a file the way careful producers do: a temporary name, then rename.
fn drop_file(outbox: &Path, name: &str, content: &[u8]) {
    let temp = outbox.join(format!(".tmp-{name}"));
    std::fs::write(&temp, content).unwrap();
    std::fs::rename(&temp, outbox.join(name)).unwrap();
}

/// Runs the real gammu-smsd-inject (`command`) into the daemon's outbox.
fn inject(command: &str, root: &Path, args: &[&str]) -> String {
    let config = root.join("smsdrc");
    std::fs::write(
        &config,
        format!(
            "[gammu]\nmodel = dummy\nconnection = none\ndevice = {0}/dummy/\n\n[smsd]\nservice = files\n\
             outboxformat = detail\ninboxpath = {0}/inbox/\noutboxpath = {0}/outbox/\nsentsmspath = {0}/sent/\n\
             errorsmspath = {0}/error/\n",
            root.display()
        ),
    )
    .unwrap();
    let output = std::process::Command::new(command)
        .arg("-c")
        .arg(&config)
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("gammu-smsd-inject must be installed (Debian package gammu-smsd, see .ci/run)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    // "Written message with ID /path/OUTC..._sms0.smsbackup"
    let id = stdout
        .lines()
        .find_map(|line| line.split("ID ").nth(1))
        .unwrap_or_else(|| panic!("no ID in inject output: {stdout}"));
    Path::new(id.trim())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_from_gammu_smsd_inject_are_sent_with_the_right_pdus() {
    let Some(gammu_smsd_inject) = reference(
        Reference::SmsdInject,
        "daemon_send::files_from_gammu_smsd_inject_are_sent_with_the_right_pdus",
    ) else {
        return;
    };
    let mut h = Harness::start("inject", Profile::Generic).await;
    let cases: [(&str, &[&str]); 5] = [
        ("+4917600000001", &["-text", "Hello from gammu-smsd-inject"]),
        (
            "+4917600000002",
            &["-unicode", "-textutf8", "Zkouška € 😀 Ж"],
        ),
        (
            "+4917600000003",
            &[
                "-len",
                "400",
                "-text",
                &"Part of a long message. ".repeat(16),
            ],
        ),
        ("+4917600000004", &["-flash", "-text", "Flash!"]),
        ("+4917600000005", &["-report", "-text", "report me"]),
    ];
    let mut files = Vec::new();
    for (number, extra) in cases {
        let mut args = vec!["TEXT", number];
        args.extend_from_slice(extra);
        files.push(inject(&gammu_smsd_inject, &h.root, &args));
    }
    let outcomes = h.finished(files.len()).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, DaemonEvent::Sent { .. })),
        "{outcomes:?}"
    );
    // Same names in sent/, nothing left behind.
    assert_eq!(names(&h.dir("sent")), files.iter().cloned().collect());
    assert!(names(&h.dir("outbox")).is_empty());
    assert!(names(&h.dir("error")).is_empty());

    let sent = h.emulator.sent();
    let for_number = |n: &str| sent.iter().filter(|m| to(m) == n).collect::<Vec<_>>();
    let plain = for_number("+4917600000001");
    assert_eq!(
        (plain.len(), text(plain[0]), plain[0].submit.dcs.alphabet),
        (1, "Hello from gammu-smsd-inject", Alphabet::Gsm7)
    );
    let unicode = for_number("+4917600000002");
    assert_eq!(
        (text(unicode[0]), unicode[0].submit.dcs.alphabet),
        ("Zkouška € 😀 Ж", Alphabet::Ucs2)
    );
    let long = for_number("+4917600000003");
    assert_eq!(long.len(), 3, "three parts");
    let joined: String = long.iter().map(|m| text(m)).collect();
    assert_eq!(joined, "Part of a long message. ".repeat(16));
    for (index, part) in long.iter().enumerate() {
        let concat = part
            .submit
            .user_data
            .header
            .as_ref()
            .and_then(|h| h.concat())
            .unwrap();
        assert_eq!((concat.sequence as usize, concat.total), (index + 1, 3));
    }
    let flash = for_number("+4917600000004");
    assert_eq!(flash[0].submit.dcs.class, Some(MessageClass::Flash));
    let report = for_number("+4917600000005");
    assert!(report[0].submit.status_report_request);
    assert!(!plain[0].submit.status_report_request);

    // The sent .smsbackup records the real message reference, once per part.
    let long_file = std::fs::read_to_string(h.dir("sent").join(&files[2])).unwrap();
    assert_eq!(
        long_file.matches("MessageReference").count(),
        3,
        "{long_file}"
    );
    let original_sections = long_file.matches("[SMSBackup").count();
    assert_eq!(original_sections, 3, "no duplicated content");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_txt_files_in_every_form_and_charset() {
    let mut h = Harness::start("txt", Profile::Generic).await;
    let outbox = h.dir("outbox");
    // The three name forms (spec §2.2), flags, UTF-8 and UTF-16 with a BOM.
    drop_file(&outbox, "OUT+4917600000011.txt", "plain UTF-8 ✓".as_bytes());
    drop_file(&outbox, "OUTA_+4917600000012_1.txt", b"short form");
    drop_file(
        &outbox,
        "OUTB20261125_120000_00_+4917600000013_note_x.txt",
        b"long form",
    );
    let mut utf16le = vec![0xFF, 0xFE];
    utf16le.extend(
        "UTF-16 little endian Ж"
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    drop_file(&outbox, "OUT+4917600000014.txt", &utf16le);
    let mut utf16be = vec![0xFE, 0xFF];
    utf16be.extend(
        "UTF-16 big endian 😀"
            .encode_utf16()
            .flat_map(u16::to_be_bytes),
    );
    drop_file(&outbox, "OUT+4917600000015.txt", &utf16be);
    drop_file(&outbox, "OUT+4917600000016.txtdf", b"report and flash");
    let outcomes = h.finished(6).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, DaemonEvent::Sent { .. })),
        "{outcomes:?}"
    );
    let sent = h.emulator.sent();
    let by_number = |n: &str| {
        sent.iter()
            .find(|m| to(m) == n)
            .unwrap_or_else(|| panic!("nothing sent to {n}"))
    };
    assert_eq!(text(by_number("+4917600000011")), "plain UTF-8 ✓");
    assert_eq!(text(by_number("+4917600000012")), "short form");
    assert_eq!(text(by_number("+4917600000013")), "long form");
    assert_eq!(text(by_number("+4917600000014")), "UTF-16 little endian Ж");
    assert_eq!(text(by_number("+4917600000015")), "UTF-16 big endian 😀");
    let flagged = by_number("+4917600000016");
    assert!(flagged.submit.status_report_request);
    assert_eq!(flagged.submit.dcs.class, Some(MessageClass::Flash));
    assert_eq!(names(&h.dir("sent")).len(), 6);
    h.stop().await;
}

/// A writer that writes slowly in chunks, without renaming, gets exactly one
/// complete send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_chunked_writer_gets_one_complete_send() {
    use std::io::Write;
    let mut h = Harness::start("slow", Profile::Generic).await;
    let path = h.dir("outbox").join("OUT+4917600000021.txt");
    let chunks = ["This message ", "is written ", "slowly, ", "in chunks."];
    let writer = std::thread::spawn(move || {
        let mut file = std::fs::File::create(&path).unwrap();
        for chunk in chunks {
            file.write_all(chunk.as_bytes()).unwrap();
            file.flush().unwrap();
            // The pause is the behaviour under test: a slow producer.
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let outcome = h.finished(1).await;
    writer.join().unwrap();
    assert!(
        matches!(&outcome[0], DaemonEvent::Sent { .. }),
        "{outcome:?}"
    );
    let sent = h.emulator.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(text(&sent[0]), chunks.concat());
    h.stop().await;
}

/// Malformed files go to error/ (or are left alone) with a reason, and the
/// good files beside them are sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_files_never_stop_the_good_ones() {
    let mut h = Harness::start("malformed", Profile::Generic).await;
    let outbox = h.dir("outbox");
    drop_file(&outbox, "OUT+4917600000031.txt", b"good one");
    drop_file(
        &outbox,
        "OUT+4917600000032.txt",
        &[0xFF, 0x00, 0xC3, 0x28, 0x80, 0x81],
    );
    drop_file(
        &outbox,
        "OUT+4917600000033.txt",
        &[0xFF, 0xFE, 0x00, 0xD8, 0x41],
    );
    drop_file(
        &outbox,
        "OUT+4917600000034.txt",
        &vec![b'a'; 10 * 1024 * 1024],
    );
    drop_file(
        &outbox,
        "OUT_+4917600000035.txt",
        b"bad name: one underscore",
    );
    drop_file(&outbox, "OUTnot-a-number.txt", b"bad number");
    drop_file(&outbox, "OUT+4917600000036.smsbackup", b"not an smsbackup");
    std::os::unix::fs::symlink("/etc/passwd", outbox.join("OUT+4917600000037.txt")).unwrap();
    std::fs::create_dir(outbox.join("OUT+4917600000038.txt")).unwrap();
    nix::unistd::mkfifo(
        &outbox.join("OUT+4917600000039.txt"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    drop_file(&outbox, "OUT+4917600000040.txt", b"good two");
    // Every entry gets an outcome: 2 sent, 9 failed or reported.
    let outcomes = h.finished(11).await;
    let sent: BTreeSet<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            DaemonEvent::Sent { file, .. } => Some(file.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        BTreeSet::from([
            "OUT+4917600000031.txt".to_owned(),
            "OUT+4917600000040.txt".to_owned()
        ])
    );
    let sent = h.emulator.sent();
    let texts: BTreeSet<&str> = sent.iter().map(text).collect();
    assert_eq!(texts, BTreeSet::from(["good one", "good two"]));
    assert_eq!(h.emulator.sent().len(), 2);
    // Files that cannot be sent, for their content or their name, go to
    // error/ under their names; entries that are not regular files stay
    // where they are, reported once.
    let errors = names(&h.dir("error"));
    for name in [
        "OUT+4917600000032.txt",
        "OUT+4917600000033.txt",
        "OUT+4917600000034.txt",
        "OUT_+4917600000035.txt",
        "OUTnot-a-number.txt",
        "OUT+4917600000036.smsbackup",
    ] {
        assert!(errors.contains(name), "{name} not in error/: {errors:?}");
    }
    for name in [
        "OUT+4917600000037.txt",
        "OUT+4917600000038.txt",
        "OUT+4917600000039.txt",
    ] {
        assert!(
            std::fs::symlink_metadata(outbox.join(name)).is_ok(),
            "{name} should be left in the outbox"
        );
    }
    // The symlink's target was never read or moved.
    assert!(Path::new("/etc/passwd").exists());
    h.stop().await;
}

/// A restart finds claimed files again: one already recorded as sent is
/// moved to sent/ without a second send; one recorded but not sent yet is
/// sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_finishes_claimed_files_once() {
    let mut h = Harness::start("restart", Profile::Generic).await;
    for n in 0..3 {
        drop_file(
            &h.dir("outbox"),
            &format!("OUT+49176000000{n:02}.txt"),
            format!("message {n}").as_bytes(),
        );
    }
    h.finished(3).await;
    assert_eq!(h.emulator.sent().len(), 3);
    // As if the daemon had died between recording "sent" and moving the
    // file: the file is back in the claim directory and its row still holds
    // its name.
    let claim = h.dir("outbox/.simgate-claim");
    std::fs::rename(
        h.dir("sent/OUT+4917600000000.txt"),
        claim.join("OUT+4917600000000.txt"),
    )
    .unwrap();
    let db = rusqlite::Connection::open(h.dir("simgate.db")).unwrap();
    let sql = "UPDATE outgoing SET claim_key = 'name:' || file_name WHERE file_name = 'OUT+4917600000000.txt'";
    assert_eq!(db.execute(sql, []).unwrap(), 1);
    drop(db);
    // And a file claimed but never recorded (a death right after the rename).
    std::fs::write(
        claim.join("OUT+4917600000099.txt"),
        b"claimed, never recorded",
    )
    .unwrap();
    let mut h = h.restart().await;
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Sent { file, .. } if file == "OUT+4917600000099.txt"),
        "{outcome:?}"
    );
    assert!(h.dir("sent/OUT+4917600000000.txt").exists());
    assert!(h.dir("sent/OUT+4917600000099.txt").exists());
    assert!(names(&h.dir("outbox/.simgate-claim")).is_empty());
    let sent = h.emulator.sent();
    assert_eq!(sent.len(), 4, "only the unsent one went out");
    assert_eq!(text(&sent[3]), "claimed, never recorded");
    h.stop().await;
}

/// `simgate run` as a process: SIGTERM lets the AT+CMGS in flight finish and
/// stops before the next part; the next start resumes from the first unsent
/// part, so every part goes out exactly once; the pid file is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_part_in_flight_and_a_restart_resumes() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    use simgate::emulator::EmulatorEvent;

    let root = std::env::temp_dir().join(format!("simgate-sigterm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    emulator.set_command_latency("AT+CMGS", Duration::from_millis(500));
    let config = root.join("simgate.toml");
    std::fs::write(
        &config,
        format!(
            "[modem]\ndevice = \"{}\"\n[spool]\ninbox = \"{r}/inbox\"\noutbox = \"{r}/outbox\"\nsent = \"{r}/sent\"\n\
             error = \"{r}/error\"\nsettle_time = \"100ms\"\n[database]\npath = \"{r}/simgate.db\"\n",
            emulator.path().display(),
            r = root.display()
        ),
    )
    .unwrap();
    let pid_file = root.join("simgate.pid");
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
            .args(["run", "-c"])
            .arg(&config)
            .arg("-p")
            .arg(&pid_file)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let message = "Part of a three part message. ".repeat(12);
    let mut events = emulator.subscribe();
    let mut daemon = start();
    drop_file(
        &root.join("outbox"),
        "OUT+4917600000051.txt",
        message.as_bytes(),
    );
    // The first part is being sent: ask the daemon to stop.
    loop {
        if let EmulatorEvent::Prompted = events.recv().await.unwrap() {
            break;
        }
    }
    assert!(pid_file.exists());
    kill(Pid::from_raw(daemon.id() as i32), Signal::SIGTERM).unwrap();
    let status = tokio::task::spawn_blocking(move || daemon.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        !pid_file.exists(),
        "the pid file is removed on a clean exit"
    );
    // The part in flight finished; the others wait.
    assert_eq!(emulator.sent().len(), 1);
    assert!(names(&root.join("sent")).is_empty());

    let mut daemon = start();
    let sent = root.join("sent/OUT+4917600000051.txt");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // The file moves just after the last part's answer: look again after
    // every modem event, or every 100 ms.
    while !sent.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "not sent after the restart"
        );
        let _ = tokio::time::timeout(Duration::from_millis(100), events.recv()).await;
    }
    kill(Pid::from_raw(daemon.id() as i32), Signal::SIGTERM).unwrap();
    tokio::task::spawn_blocking(move || daemon.wait().unwrap())
        .await
        .unwrap();
    let parts = emulator.sent();
    assert_eq!(parts.len(), 3, "every part exactly once");
    let joined: String = parts.iter().map(text).collect();
    assert_eq!(joined, message);
    let _ = std::fs::remove_dir_all(&root);
}
