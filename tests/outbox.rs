//! The outbox stays the outbox (issue #9 §2): a waiting message stays in
//! outbox/ under its own name and deleting it cancels it; a file written in
//! two steps goes out once, complete; names that cannot be sent go to
//! error/; the folder removed and recreated is watched again; a finished
//! file that cannot be moved is moved later. Real pty, inotify and SQLite.

use crate::support::{delivers, Harness};
use simgate::daemon::DaemonEvent;
use simgate::emulator::{Fault, Profile, SentMessage, Times};
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

fn text(message: &SentMessage) -> &str {
    message.submit.user_data.body.text().unwrap_or("")
}

/// The next message to end was sent, and it is the only one the modem got:
/// `text`.
async fn goes_out_alone(h: &mut Harness, text_sent: &str) {
    let outcomes = h.finished(1).await;
    assert!(
        matches!(outcomes[..], [DaemonEvent::Sent { .. }]),
        "{outcomes:?}"
    );
    assert_eq!(
        h.emulator.sent().iter().map(text).collect::<Vec<_>>(),
        [text_sent]
    );
}

/// Writes a file beside the outbox, then renames it in.
fn drop_file(outbox: &Path, name: &str, content: &[u8]) {
    let temp = outbox.parent().unwrap().join("dropping");
    std::fs::write(&temp, content).unwrap();
    std::fs::rename(&temp, outbox.join(name)).unwrap();
}

/// Messages waiting for the modem stay in outbox/ under their names, as
/// with gammu, so programs that count pending files keep working; deleting
/// one cancels it, the others go out when the modem is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_messages_stay_in_the_outbox_and_deleting_one_cancels_it() {
    let mut h = Harness::start("waiting", Profile::Generic).await;
    h.emulator.unplug(None).await;
    // Dropped before the daemon knew, a file would be claimed and sent to
    // the vanished modem, out of outbox/ for a moment.
    h.wait_for(|e| matches!(e, DaemonEvent::ModemLost)).await;
    let outbox = h.dir("outbox");
    let files = [
        "OUT+4917600000001.txt",
        "OUT+4917600000002.txt",
        "OUT+4917600000003.txt",
    ];
    for (n, name) in files.iter().enumerate() {
        drop_file(&outbox, name, format!("waiting {n}").as_bytes());
    }
    for _ in files {
        h.wait_for(|e| matches!(e, DaemonEvent::Queued { .. }))
            .await;
    }
    assert_eq!(
        names(&outbox),
        files.iter().map(|s| (*s).to_owned()).collect()
    );
    std::fs::remove_file(outbox.join(files[1])).unwrap();
    let cancelled = h
        .wait_for(|e| matches!(e, DaemonEvent::Cancelled { .. }))
        .await;
    assert!(
        matches!(&cancelled, DaemonEvent::Cancelled { file, reason } if file == files[1] && reason.contains("deleted")),
        "{cancelled:?}"
    );
    h.emulator.replug_now();
    let outcomes = h.finished(2).await;
    let sent: BTreeSet<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            DaemonEvent::Sent { file, .. } => Some(file.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        BTreeSet::from([files[0].to_owned(), files[2].to_owned()])
    );
    let sent = h.emulator.sent();
    let texts: Vec<&str> = sent.iter().map(text).collect();
    assert!(
        !texts.contains(&"waiting 1"),
        "a cancelled message went out: {texts:?}"
    );
    let store = simgate::store::Store::open(&h.dir("simgate.db")).unwrap();
    assert_eq!(store.counts().unwrap().cancelled, 1);
    drop(store);
    h.stop().await;
}

/// A message waiting for its next retry is back in outbox/ under its name;
/// deleting it there cancels it before the retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waiting_for_its_retry_is_in_the_outbox_and_can_be_cancelled() {
    let mut h = Harness::start_with("retry-wait", Profile::Generic, |c| {
        c.send.retry_delay = Duration::from_secs(3600);
    })
    .await;
    h.emulator.inject_fault(Fault::CmsError {
        code: 42,
        times: Times::Once,
        destination: None,
    });
    let outbox = h.dir("outbox");
    drop_file(&outbox, "OUT+4917600000011.txt", b"congested");
    let waiting = h
        .wait_for(|e| matches!(e, DaemonEvent::Waiting { .. }))
        .await;
    assert!(
        matches!(&waiting, DaemonEvent::Waiting { reason, .. } if reason.contains("congestion")),
        "{waiting:?}"
    );
    let path = outbox.join("OUT+4917600000011.txt");
    assert!(
        path.exists(),
        "the waiting file is back in outbox/ under its name"
    );
    assert!(names(&outbox.join(".simgate-claim")).is_empty());
    std::fs::remove_file(&path).unwrap();
    h.wait_for(|e| matches!(e, DaemonEvent::Cancelled { .. }))
        .await;
    assert!(h.emulator.sent().is_empty());
    h.stop().await;
}

/// A producer that writes a file in place in two steps with a pause
/// (`echo a > f; sleep 0.2; echo b >> f`), or creates it empty first
/// (`touch`, then append), gets one complete message: settle_time applies
/// to inotify events too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_in_two_steps_goes_out_once_complete() {
    let mut h = Harness::start_with("two-steps", Profile::Generic, |c| {
        c.spool.settle_time = Duration::from_secs(1);
    })
    .await;
    let outbox = h.dir("outbox");
    let two_steps = outbox.join("OUT+4917600000021.txt");
    std::fs::write(&two_steps, "a\n").unwrap();
    // The pause is the producer's behaviour under test, not a wait for simgate.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&two_steps)
        .unwrap();
    std::io::Write::write_all(&mut file, b"b\n").unwrap();
    drop(file);
    let touched = outbox.join("OUT+4917600000022.txt");
    std::fs::File::create(&touched).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::write(&touched, "filled after touch").unwrap();
    let outcomes = h.finished(2).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, DaemonEvent::Sent { .. })),
        "{outcomes:?}"
    );
    let sent = h.emulator.sent();
    let mut texts: Vec<&str> = sent.iter().map(text).collect();
    texts.sort_unstable();
    assert_eq!(texts, ["a\nb\n", "filled after touch"]);
    h.stop().await;
}

/// A file published with `link(2)` (maildir-style delivery, `ln`) raises
/// no close and no rename, only its creation. It goes out once settled,
/// not at the next timed rescan (an hour away here: only the watcher can
/// see it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_linked_in_goes_out_without_waiting_for_a_rescan() {
    let mut h = Harness::start_with("linked", Profile::Generic, |c| {
        c.spool.scan_interval = Duration::from_secs(3600);
    })
    .await;
    let outbox = h.dir("outbox");
    let staged = outbox.parent().unwrap().join("staged");
    std::fs::write(&staged, "linked in").unwrap();
    std::fs::hard_link(&staged, outbox.join("OUT+4917600000031.txt")).unwrap();
    std::fs::remove_file(&staged).unwrap();
    goes_out_alone(&mut h, "linked in").await;
    h.stop().await;
}

/// gammu-smsd-inject creates the name empty (read-only, `O_EXCL`), closes
/// it, then opens it again to write. Whether its creation is seen (a
/// linked-in file raises nothing else) or the daemon's first scan finds it,
/// the empty file is not taken, even with no settle time: with no close
/// after writing seen, a file waits a grace, and the producer's close after
/// writing comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_created_empty_then_filled_goes_out_complete_without_a_settle_time() {
    let mut h = Harness::start_with("created-empty", Profile::Generic, |c| {
        c.spool.settle_time = Duration::ZERO;
    })
    .await;
    let path = h.dir("outbox").join("OUT+4917600000032.txt");
    use std::os::unix::fs::OpenOptionsExt;
    let create_excl = nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_EXCL;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(create_excl.bits())
        .open(&path)
        .unwrap();
    // The pause is the producer's behaviour under test (gammu's is
    // microseconds), well inside the grace.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut file, b"filled after its creation").unwrap();
    drop(file);
    goes_out_alone(&mut h, "filled after its creation").await;
    h.stop().await;
}

/// Names gammu would take but that cannot be sent (an empty number, the
/// wrong number of underscores) go to error/ with the reason, like a bad
/// number inside a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_cannot_be_sent_go_to_the_error_folder() {
    let mut h = Harness::start("bad-names", Profile::Generic).await;
    let outbox = h.dir("outbox");
    let bad = [
        "OUT.txt",
        "OUTA__1.txt",
        "OUT_+49176.txt",
        "OUTA_1_2_+49176.txt",
    ];
    for name in bad {
        drop_file(&outbox, name, b"cannot be sent");
    }
    let outcomes = h.finished(bad.len()).await;
    for outcome in &outcomes {
        assert!(
            matches!(outcome, DaemonEvent::Failed { reason, .. } if reason.contains("file name")),
            "{outcome:?}"
        );
    }
    assert_eq!(
        names(&h.dir("error")),
        bad.iter().map(|s| (*s).to_owned()).collect()
    );
    assert!(names(&outbox).is_empty());
    assert!(h.emulator.sent().is_empty());
    h.stop().await;
}

/// The outbox folder removed while simgate runs: receiving goes on, and
/// once the folder is back it is watched again and its files are sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_removed_and_recreated_is_watched_again() {
    let mut h = Harness::start("recreated", Profile::Generic).await;
    let outbox = h.dir("outbox");
    std::fs::remove_dir_all(&outbox).unwrap();
    // Receiving is not stopped by a missing outbox (nor are the rescans of
    // it, every second in the harness, fatal).
    h.emulator
        .inject_deliver(&delivers("+4915112345678", "still receiving", 0)[0])
        .unwrap();
    let files = h.received().await;
    assert_eq!(files.len(), 1);
    std::fs::create_dir(&outbox).unwrap();
    // The folder check notices it within a second; a file dropped before
    // that is found by the rescan the re-arming does.
    drop_file(
        &outbox,
        "OUT+4917600000031.txt",
        b"after the folder came back",
    );
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Sent { .. }),
        "{outcome:?}"
    );
    // And inotify works again: a second file goes out too.
    drop_file(&outbox, "OUT+4917600000032.txt", b"watched again");
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Sent { .. }),
        "{outcome:?}"
    );
    // The new folder is locked as the first was: a second daemon cannot
    // take it over, and `simgate send --wait` sees it served.
    let folder = std::fs::File::open(&outbox).unwrap();
    let probe = nix::fcntl::Flock::lock(folder, nix::fcntl::FlockArg::LockSharedNonblock);
    assert!(
        matches!(probe, Err((_, nix::errno::Errno::EWOULDBLOCK))),
        "the recreated outbox is not locked by the daemon"
    );
    h.stop().await;
}

/// A `simgate send` (or another daemon's HTTP API) killed between writing
/// its hidden temporary file and renaming it into place leaves part of a
/// message in the outbox. Such files were removed only when the daemon
/// started, so on a daemon that runs for months they piled up; the
/// rescans now remove them once their writer is gone and the file has
/// not changed for ten minutes. A live writer's file stays, and so does a
/// recent one (its writer may be in a container, whose process ids mean
/// nothing here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_writer_s_temporary_file_is_removed_while_the_daemon_runs() {
    let mut h = Harness::start("dead-writer", Profile::Generic).await;
    let outbox = h.dir("outbox");
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let write = |name: String, text: &str, modified| {
        let path = outbox.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        path
    };
    let orphan = write(
        format!(".simgate-send-{dead}-0.tmp"),
        "half a mess",
        an_hour_ago,
    );
    let recent = write(
        format!(".simgate-send-{dead}-1.tmp"),
        "half of another",
        std::time::SystemTime::now(),
    );
    let alive = write(
        format!(".simgate-send-{}-0.tmp", std::process::id()),
        "still being writ",
        an_hour_ago,
    );
    crate::support::until("the dead writer's file removed", || !orphan.exists()).await;
    assert!(alive.exists(), "a live writer's file was removed");
    assert!(recent.exists(), "a file changed a moment ago was removed");
    // The daemon goes on: a message dropped now goes out.
    drop_file(&outbox, "OUT+4917600000041.txt", b"after the cleanup");
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Sent { .. }),
        "{outcome:?}"
    );
    std::fs::remove_file(&alive).unwrap();
    std::fs::remove_file(&recent).unwrap();
    h.stop().await;
}

/// A sent file that cannot be moved (sent/ gone) is not lost and does not
/// block its name: the move is tried again until it works. A 255-byte name
/// that already exists in sent/ gets a shortened free name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_files_that_cannot_be_moved_are_moved_later() {
    let mut h = Harness::start("moves", Profile::Generic).await;
    let sent = h.dir("sent");
    // gammu's long form, its note making the name 255 bytes.
    let head = "OUTA20261203_120000_00_+4917600000042_";
    let long = format!("{head}{}.txt", "n".repeat(255 - head.len() - 4));
    assert_eq!(long.len(), 255);
    std::fs::write(sent.join(&long), b"an older file of the same name").unwrap();
    drop_file(&h.dir("outbox"), &long, b"long name");
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Sent { .. }),
        "{outcome:?}"
    );
    let in_sent = names(&sent);
    assert_eq!(in_sent.len(), 2, "{in_sent:?}");
    assert!(in_sent
        .iter()
        .all(|n| n.len() <= 255 && n.ends_with(".txt")));

    std::fs::remove_dir(&sent).unwrap_or_else(|_| std::fs::remove_dir_all(&sent).unwrap());
    drop_file(&h.dir("outbox"), "OUT+4917600000041.txt", b"sent/ is gone");
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Sent { .. }),
        "{outcome:?}"
    );
    let held = h.dir("outbox/.simgate-claim/OUT+4917600000041.txt");
    assert!(held.exists(), "kept until it can be moved");
    std::fs::create_dir(&sent).unwrap();
    h.wait_for(|e| matches!(e, DaemonEvent::FileMoved { .. }))
        .await;
    assert!(sent.join("OUT+4917600000041.txt").exists());
    assert!(!held.exists());
    // The name is free again.
    drop_file(
        &h.dir("outbox"),
        "OUT+4917600000041.txt",
        b"the same name again",
    );
    let outcome = h.finished(1).await;
    assert!(
        matches!(&outcome[0], DaemonEvent::Sent { .. }),
        "{outcome:?}"
    );
    assert_eq!(h.emulator.sent().len(), 3);
    h.stop().await;
}

/// `Send = no` (a receive-only gateway): the outbox is never taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_only_gateway_sends_nothing() {
    let mut h = Harness::start_with("receive-only", Profile::Generic, |c| {
        c.send.enabled = false;
    })
    .await;
    drop_file(&h.dir("outbox"), "OUT+4917600000051.txt", b"must stay");
    h.emulator
        .inject_deliver(&delivers("+4915112345678", "hello", 0)[0])
        .unwrap();
    h.received().await;
    h.stop_daemon().await;
    assert!(h.emulator.sent().is_empty());
    assert_eq!(
        names(&h.dir("outbox")),
        BTreeSet::from(["OUT+4917600000051.txt".to_owned()])
    );
    h.stop().await;
}

/// A receive-only gateway serves its timers: a message that came without
/// an announcement (no `+CMTI`: a modem that stores silently) is found
/// by the safety poll. With `Send = no` the loop took the outbox's closed
/// event channel as always ready: it spun a core at 100 % and never
/// reached a timer below it (the poll, the status refresh, the multipart
/// timeout, the retry of an inbox file that could not be written).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_only_gateway_still_polls_its_modem() {
    let mut h = Harness::start_with("receive-only-poll", Profile::Generic, |c| {
        c.send.enabled = false;
        c.receive.poll_interval = std::time::Duration::from_secs(1);
    })
    .await;
    h.emulator
        .preload("SM", &delivers("+4915112345678", "found by the poll", 0)[0])
        .unwrap();
    let files = h.received().await;
    assert_eq!(h.inbox(&files[0]), "found by the poll");
    h.stop().await;
}

/// `Receive = no` (a send-only gateway): messages stay on the SIM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_only_gateway_leaves_messages_on_the_sim() {
    let mut h = Harness::start_with("send-only", Profile::Generic, |c| {
        c.receive.enabled = false;
    })
    .await;
    h.emulator
        .inject_deliver(&delivers("+4915112345678", "stays on the SIM", 0)[0])
        .unwrap();
    drop_file(&h.dir("outbox"), "OUT+4917600000061.txt", b"goes out");
    h.finished(1).await;
    h.stop_daemon().await;
    assert_eq!(h.emulator.stored().len(), 1);
    assert!(names(&h.dir("inbox")).is_empty());
    h.stop().await;
}

/// A power cut can keep the commit that finished a message and lose the
/// rename that moved its file (renames in a burst are not fsynced): the
/// file is found claimed, with no message holding its name. It is the
/// finished message's file (same identity), so it goes on to sent/, and
/// is never taken for a new message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_file_found_claimed_after_a_power_cut_goes_on_to_sent() {
    let mut h = Harness::start("lost-move", Profile::Generic).await;
    drop_file(&h.dir("outbox"), "OUT+4917600000771.txt", b"only once");
    h.finished(1).await;
    h.stop_daemon().await;
    // The move lost: the file back where it was claimed.
    let claimed = h.dir("outbox/.simgate-claim");
    std::fs::create_dir_all(&claimed).unwrap();
    std::fs::rename(
        h.dir("sent/OUT+4917600000771.txt"),
        claimed.join("OUT+4917600000771.txt"),
    )
    .unwrap();
    let mut h = h.restart().await;
    assert!(h.dir("sent/OUT+4917600000771.txt").exists());
    assert!(names(&claimed).is_empty());
    // Anything after it goes out; it does not go out again.
    drop_file(&h.dir("outbox"), "OUT+4917600000772.txt", b"next");
    h.finished(1).await;
    let sent: Vec<String> = h
        .emulator
        .sent()
        .iter()
        .map(|m| text(m).to_owned())
        .collect();
    assert_eq!(sent, ["only once", "next"]);
    h.stop().await;
}

/// The other way round: the rename kept, the commit that freed the name
/// lost. The finished message's file is gone from the outbox, so the name
/// is freed at start, and a new file of that name goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_still_held_by_a_finished_message_is_freed_after_a_power_cut() {
    let mut h = Harness::start("lost-forget", Profile::Generic).await;
    drop_file(&h.dir("outbox"), "OUT+4917600000773.txt", b"first");
    h.finished(1).await;
    h.stop_daemon().await;
    let db = rusqlite::Connection::open(h.dir("simgate.db")).unwrap();
    let held = db
        .execute(
            "UPDATE outgoing SET claim_key = 'name:' || file_name WHERE file_name = ?1",
            ["OUT+4917600000773.txt"],
        )
        .unwrap();
    assert_eq!(held, 1);
    drop(db);
    let mut h = h.restart().await;
    drop_file(
        &h.dir("outbox"),
        "OUT+4917600000773.txt",
        b"second, same name",
    );
    h.finished(1).await;
    let sent: Vec<String> = h
        .emulator
        .sent()
        .iter()
        .map(|m| text(m).to_owned())
        .collect();
    assert_eq!(sent, ["first", "second, same name"]);
    h.stop().await;
}

/// `simgate run -c config` (with the HTTP API on `http_port`, if given),
/// under `prlimit --nofile=N:N` when `descriptors` is given; the log
/// goes to the spool's `simgate.log`, standard error to `stderr.log`
/// beside the configuration.
fn spawn_daemon(
    config: &Path,
    http_port: Option<u16>,
    descriptors: Option<u32>,
) -> tokio::process::Child {
    let limit = descriptors.map(|limit| format!("--nofile={limit}:{limit}"));
    let wrapper: Vec<&str> = match &limit {
        Some(limit) => vec!["prlimit", limit, "--"],
        None => Vec::new(),
    };
    spawn_daemon_under(&wrapper, config, http_port)
}

/// `simgate run -c config` (with `--http` on `http_port`) started by the
/// command line `wrapper` (none: directly), which ends with what takes the
/// executable and its arguments; its stderr to `stderr.log` beside
/// `config`.
fn spawn_daemon_under(
    wrapper: &[&str],
    config: &Path,
    http_port: Option<u16>,
) -> tokio::process::Child {
    let simgate = env!("CARGO_BIN_EXE_simgate");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = tokio::process::Command::new(program);
            command.args(args).arg(simgate);
            command
        }
        None => tokio::process::Command::new(simgate),
    };
    command.args(["run", "-c"]).arg(config);
    if let Some(port) = http_port {
        command.args(["--http", &port.to_string()]);
    }
    let stderr = std::fs::File::create(config.with_file_name("stderr.log")).unwrap();
    command
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// The lowest descriptor number process `pid` has free: the one its next
/// open would get.
fn lowest_free_descriptor(pid: u32) -> u64 {
    let open: BTreeSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|n| !open.contains(n)).unwrap()
}

/// Lowers the soft descriptor limit of process `pid` to its lowest free
/// descriptor number, so that its next open fails with EMFILE (tried
/// again should the process close one in between).
fn leave_no_descriptor_free(pid: u32) {
    for _ in 0..50 {
        let lowest_free = lowest_free_descriptor(pid);
        set_descriptor_limit(pid, lowest_free);
        if lowest_free_descriptor(pid) >= lowest_free {
            return;
        }
    }
    panic!("the descriptors of process {pid} kept changing");
}

/// The texts the emulated network got, in order.
fn texts_sent(emulator: &simgate::emulator::Emulator) -> Vec<String> {
    emulator
        .sent()
        .iter()
        .filter_map(|m| m.submit.user_data.body.text().map(str::to_owned))
        .collect()
}

/// Sets the soft `RLIMIT_NOFILE` of process `pid` with prlimit(1).
fn set_descriptor_limit(pid: u32, soft: u64) {
    let status = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(pid.to_string())
        .arg(format!("--nofile={soft}:"))
        .status()
        .unwrap();
    assert!(status.success(), "prlimit --pid {pid} --nofile={soft}:");
}

/// The daemon out of file descriptors (its limit lowered, while it runs,
/// to the descriptors it has open): an outbox file it cannot open just
/// now is not failed into error/ but read again once descriptors are
/// free, and sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_opened_for_want_of_descriptors_is_sent_later() {
    use crate::support::{fresh_spool, until, write_spool_config};
    use simgate::emulator::{Emulator, EmulatorConfig};
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = fresh_spool("out-of-fds");
    let config = write_spool_config(&root, &emulator.path(), "");
    let mut daemon = spawn_daemon(&config, None, None);
    let pid = daemon.id().unwrap();
    let log = || std::fs::read_to_string(root.join("simgate.log")).unwrap_or_default();
    until("the daemon ready", || log().contains("modem ready")).await;
    leave_no_descriptor_free(pid);
    let outbox = root.join("outbox");
    drop_file(&outbox, "OUT+4917600000061.txt", b"sent after all");
    let in_error = || std::fs::read_dir(root.join("error")).unwrap().count();
    until("the read put off (or the file failed)", || {
        log().contains("cannot read an outbox file just now") || in_error() > 0
    })
    .await;
    let in_error = in_error();
    assert_eq!(in_error, 0, "a readable file was failed: {}", log());
    set_descriptor_limit(pid, 1024);
    until("the file in sent/", || {
        root.join("sent/OUT+4917600000061.txt").exists()
    })
    .await;
    assert_eq!(texts_sent(&emulator), ["sent after all"]);
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

/// The same when descriptors run out between the intake and the send: a
/// message waiting for its retry (after a congested network) is claimed,
/// its file cannot be opened, and it goes back to outbox/ to be read again
/// a second later, no attempt counted, not failed; sent once descriptors
/// are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_opened_to_send_it_waits_and_goes_out_later() {
    use crate::support::{fresh_spool, until, write_spool_config};
    use simgate::emulator::{Emulator, EmulatorConfig, Fault, Times};
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    emulator.inject_fault(Fault::CmsError {
        code: 42,
        times: Times::Once,
        destination: None,
    });
    let root = fresh_spool("out-of-fds-at-send");
    let config = write_spool_config(
        &root,
        &emulator.path(),
        "[send]\nretry_delay = \"10s\"\nretry_delay_max = \"10s\"\nmax_attempts = 2\n",
    );
    let mut daemon = spawn_daemon(&config, None, None);
    let pid = daemon.id().unwrap();
    let log = || std::fs::read_to_string(root.join("simgate.log")).unwrap_or_default();
    until("the daemon ready", || log().contains("modem ready")).await;
    drop_file(
        &root.join("outbox"),
        "OUT+4917600000063.txt",
        b"read at last",
    );
    let db = rusqlite::Connection::open(root.join("simgate.db")).unwrap();
    let attempts = || -> Option<(String, i64)> {
        db.query_row(
            "SELECT state, attempts FROM outgoing WHERE file_name = 'OUT+4917600000063.txt'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .ok()
    };
    // The first attempt failed (congestion); the retry is 10 s away.
    until("the first attempt failed", || {
        attempts() == Some(("queued".to_owned(), 1))
    })
    .await;
    leave_no_descriptor_free(pid);
    until("the send-time read put off", || {
        log().contains("cannot read the file to send it just now")
    })
    .await;
    assert_eq!(attempts(), Some(("queued".to_owned(), 1)), "{}", log());
    assert!(root.join("outbox/OUT+4917600000063.txt").exists());
    set_descriptor_limit(pid, 1024);
    // The file is moved before the outcome's commit: wait for both.
    until("the file in sent/, the message sent", || {
        root.join("sent/OUT+4917600000063.txt").exists()
            && attempts().is_some_and(|(state, _)| state == "sent")
    })
    .await;
    assert_eq!(attempts(), Some(("sent".to_owned(), 2)));
    assert_eq!(texts_sent(&emulator), ["read at last"]);
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

/// Idle connections to the HTTP API (more than the daemon has descriptors,
/// under a low `ulimit -n`) do not take the descriptors the daemon needs
/// for its own work: a dropped file goes out while they are held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http_connections_leave_the_daemon_the_descriptors_it_needs() {
    use crate::support::{fresh_spool, until, write_spool_config};
    use simgate::emulator::{Emulator, EmulatorConfig};
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = fresh_spool("idle-http");
    let config = write_spool_config(&root, &emulator.path(), "");
    let port = crate::support::port_for_a_daemon();
    let mut daemon = spawn_daemon(&config, Some(port), Some(64));
    let log = || std::fs::read_to_string(root.join("simgate.log")).unwrap_or_default();
    until("the daemon ready", || {
        let log = log();
        log.contains("HTTP API listening") && log.contains("modem ready")
    })
    .await;
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let held: Vec<std::net::TcpStream> = (0..200)
        .map_while(|_| {
            std::net::TcpStream::connect_timeout(&address, Duration::from_millis(500)).ok()
        })
        .collect();
    assert!(held.len() > 64, "only {} connections", held.len());
    drop_file(
        &root.join("outbox"),
        "OUT+4917600000062.txt",
        b"not held up",
    );
    until("the file in sent/ (or error/)", || {
        root.join("sent/OUT+4917600000062.txt").exists()
            || root.join("error/OUT+4917600000062.txt").exists()
    })
    .await;
    assert!(
        root.join("sent/OUT+4917600000062.txt").exists(),
        "{}",
        log()
    );
    assert!(
        !log().contains("cannot read an outbox file just now"),
        "{}",
        log()
    );
    drop(held);
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

/// `simgate run -c config` in a user namespace of its own whose inotify
/// instances are all taken (`/proc/sys/user/max_inotify_instances` set to
/// 0 there): as the daemon finds a machine whose other programs hold every
/// inotify instance of its user. `None` where user namespaces cannot be
/// made (then the check cannot run here).
fn spawn_daemon_without_inotify(config: &Path) -> Option<tokio::process::Child> {
    let usable = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "true"])
        .status()
        .is_ok_and(|status| status.success());
    let wrapper = [
        "unshare",
        "--user",
        "--map-root-user",
        "sh",
        "-c",
        "echo 0 > /proc/sys/user/max_inotify_instances && exec \"$0\" \"$@\"",
    ];
    usable.then(|| spawn_daemon_under(&wrapper, config, None))
}

/// `simgate status -c config`'s text.
fn status_text(config: &Path) -> String {
    let out = crate::support::simgate(&["status", "-c", config.to_str().unwrap()]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// No inotify watch can be made on the outbox (every inotify instance of
/// the daemon's user in use): the log names the limit to raise, `status`
/// says the outbox is not watched and why, the outbox is looked at every
/// second meanwhile (a file dropped goes out though the timed rescan is an
/// hour away), and the watch is made once an instance is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_that_cannot_be_watched_is_looked_at_every_second_and_status_says_why() {
    use crate::support::{fresh_spool, until, write_spool_config};
    use simgate::emulator::{Emulator, EmulatorConfig};
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = fresh_spool("no-inotify");
    let config = write_spool_config(&root, &emulator.path(), "");
    let written = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        written.replace("[spool]\n", "[spool]\nscan_interval = \"1h\"\n"),
    )
    .unwrap();
    let Some(mut daemon) = spawn_daemon_without_inotify(&config) else {
        crate::support::skipped(
            "outbox::an_outbox_that_cannot_be_watched_is_looked_at_every_second_and_status_says_why",
            "unshare --user is not permitted here",
        );
        return;
    };
    let pid = daemon.id().unwrap();
    let log = || std::fs::read_to_string(root.join("simgate.log")).unwrap_or_default();
    until("the daemon ready", || log().contains("modem ready")).await;
    until("the watch failed", || {
        log().contains("cannot watch the outbox")
    })
    .await;
    assert!(
        log().contains("fs.inotify.max_user_instances"),
        "the log does not name the limit: {}",
        log()
    );
    until("status saying the outbox is not watched", || {
        status_text(&config).contains("outbox: not watched")
    })
    .await;
    let status = status_text(&config);
    assert!(status.contains("fs.inotify.max_user_instances"), "{status}");
    let json = crate::support::simgate(&["status", "-c", config.to_str().unwrap(), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        json["outbox_unwatched"]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("fs.inotify.max_user_instances")),
        "{json}"
    );

    drop_file(&root.join("outbox"), "OUT+4917600000063.txt", b"looked for");
    until("the file in sent/", || {
        root.join("sent/OUT+4917600000063.txt").exists()
    })
    .await;

    let freed = std::process::Command::new("nsenter")
        .args(["--user", "--target", &pid.to_string(), "sh", "-c"])
        .arg("echo 128 > /proc/sys/user/max_inotify_instances")
        .status()
        .unwrap();
    assert!(freed.success(), "nsenter into the daemon's user namespace");
    until("the watch made", || {
        log().contains("watching the outbox again")
    })
    .await;
    until("status no longer saying so", || {
        !status_text(&config).contains("outbox: not watched")
    })
    .await;
    drop_file(&root.join("outbox"), "OUT+4917600000064.txt", b"watched");
    until("the second file in sent/", || {
        root.join("sent/OUT+4917600000064.txt").exists()
    })
    .await;
    assert_eq!(texts_sent(&emulator), ["looked for", "watched"]);
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}
