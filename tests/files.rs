//! The files simgate leaves (issue #9 §6): the modes of what it writes
//! (a `umask` setting; the database private whatever the mask), and the
//! pid file removed on a clean exit, also after `-U` switched users.

use crate::support::delivers;
use simgate::emulator::{Emulator, EmulatorConfig, EmulatorEvent, Profile};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn spool(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("simgate-files-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    root
}

fn config(root: &Path, device: &Path, extra_spool: &str) -> PathBuf {
    let path = root.join("simgate.toml");
    std::fs::write(
        &path,
        format!(
            "[modem]\ndevice = \"{}\"\nstatus_interval = \"0s\"\n\n[spool]\n\
             inbox = \"{1}/inbox\"\noutbox = \"{1}/outbox\"\nsent = \"{1}/sent\"\n\
             error = \"{1}/error\"\n{extra_spool}\n\n[log]\nfile = \"{1}/simgate.log\"\n",
            device.display(),
            root.display()
        ),
    )
    .unwrap();
    path
}

async fn wait_for_file(dir: &Path, prefix: &str, log: &Path) -> PathBuf {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(entry) = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(prefix))
        {
            return entry.path();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {prefix}* in {} within 30 s; see {}",
            dir.display(),
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `umask = "0027"`: inbox files are 0640; the database 0600 whatever the
/// mask (it holds numbers and texts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_modes_follow_the_umask_setting_and_the_database_is_private() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = spool("umask");
    let config = config(&root, &emulator.path(), "umask = \"0027\"");
    let state = root.join("state");
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .arg("run")
        .arg("-c")
        .arg(&config)
        .env("STATE_DIRECTORY", &state)
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    emulator
        .inject_deliver(&delivers("+4915100000777", "mode check", 0)[0])
        .unwrap();
    let file = wait_for_file(&root.join("inbox"), "IN", &root.join("simgate.log")).await;
    assert_eq!(mode(&file), 0o640, "{}", file.display());
    wait_for_file(&state, "simgate-", &root.join("simgate.log")).await;
    for entry in std::fs::read_dir(&state).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".db") || name.ends_with("-wal") || name.ends_with("-shm") {
            assert_eq!(mode(&entry.path()), 0o600, "{name}");
        }
    }
    assert_eq!(
        mode(&state),
        0o700,
        "a state directory simgate made is private"
    );
    daemon.start_kill().unwrap();
    let _ = daemon.wait().await;
    let _ = std::fs::remove_dir_all(&root);
}

/// `simgate run -U nobody -p /run-like/simgate.pid`: the pid file, written
/// as root in a folder `nobody` may not write to, is gone after SIGTERM;
/// after a SIGKILL it stays, as a crash should leave it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pid_file_is_removed_on_a_clean_exit_after_switching_users() {
    if !nix::unistd::geteuid().is_root() {
        crate::support::skipped(
            "files::the_pid_file_is_removed_on_a_clean_exit_after_switching_users",
            "-U needs root (CI runs as root)",
        );
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("a nobody user");
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = spool("pid");
    let tty = std::fs::canonicalize(emulator.path()).unwrap();
    std::fs::set_permissions(&tty, std::fs::Permissions::from_mode(0o666)).unwrap();
    for dir in ["inbox", "outbox", "sent", "error"] {
        std::os::unix::fs::chown(root.join(dir), Some(nobody.uid.as_raw()), None).unwrap();
    }
    let config = config(&root, &emulator.path(), "");
    let log = root.join("simgate.log");
    std::fs::write(&log, "").unwrap();
    std::os::unix::fs::chown(&log, Some(nobody.uid.as_raw()), None).unwrap();
    let run_dir = root.join("run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let pid_file = run_dir.join("simgate.pid");
    for kill in [false, true] {
        let _ = std::fs::remove_file(&pid_file);
        let mut events = emulator.subscribe();
        let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
            .arg("run")
            .arg("-c")
            .arg(&config)
            .arg("-U")
            .arg("nobody")
            .arg("-p")
            .arg(&pid_file)
            .env("STATE_DIRECTORY", root.join("state"))
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Running as nobody once it talks to the modem.
        loop {
            if let Ok(EmulatorEvent::CommandReceived(line)) = events.recv().await {
                if line.starts_with("AT+CNMI") {
                    break;
                }
            }
        }
        let pid = daemon.id().unwrap();
        assert_eq!(
            std::fs::read_to_string(&pid_file).unwrap().trim(),
            pid.to_string()
        );
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(
            uid_line.split_whitespace().nth(1) == Some(&nobody.uid.to_string()),
            "{uid_line}"
        );
        let signal = if kill {
            nix::sys::signal::Signal::SIGKILL
        } else {
            nix::sys::signal::Signal::SIGTERM
        };
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
        let status = daemon.wait().await.unwrap();
        if kill {
            assert!(pid_file.exists(), "a crash leaves the pid file");
        } else {
            assert!(status.success(), "{status}");
            assert!(!pid_file.exists(), "the pid file stayed after a clean exit");
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}
