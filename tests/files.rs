//! The files simgate leaves (issue #9 §6): the modes of what it writes
//! (a `umask` setting; the database private whatever the mask), and the
//! pid file removed on a clean exit, also after `-U` switched users.

use crate::support::delivers;
use simgate::emulator::{Emulator, EmulatorConfig, Profile};
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

/// A modem away when the service starts (not plugged in yet, a USB hub
/// slow to come up): simgate tells systemd `READY=1` once it serves its
/// outbox, with a status line that says it waits for the modem. It said
/// `READY=1` only once the modem was up, so under `Type=notify` systemd
/// killed it at the start timeout (90 s), and again after every restart,
/// for as long as the modem was away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modem_away_at_start_keeps_systemd_waiting_for_nothing() {
    let root = spool("modem-away");
    let config = config(&root, &root.join("ttyUSB-not-plugged"), "");
    let log = root.join("simgate.log");
    let notify_path = root.join("notify");
    let notify = tokio::net::UnixDatagram::bind(&notify_path).unwrap();
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .arg("run")
        .arg("-c")
        .arg(&config)
        .env("STATE_DIRECTORY", root.join("state"))
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("WATCHDOG_USEC")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut said = String::new();
    let mut buffer = [0u8; 4096];
    let told = async {
        loop {
            let n = notify.recv(&mut buffer).await.unwrap();
            said.push_str(&String::from_utf8_lossy(&buffer[..n]));
            said.push('\n');
            if said.lines().any(|l| l == "READY=1")
                && said
                    .lines()
                    .any(|l| l.starts_with("STATUS=modem connecting"))
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), told)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no READY=1 and status within 30 s: {said:?}; see {}",
                log.display()
            )
        });
    // It serves meanwhile: a dropped file is taken in and waits for the
    // modem.
    std::fs::write(root.join("drop"), "waits for the modem").unwrap();
    std::fs::rename(root.join("drop"), root.join("outbox/OUT+4917600000123.txt")).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("queued")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not queued; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(daemon.wait().await.unwrap().success());
    let _ = std::fs::remove_dir_all(&root);
}

/// When a test stops the daemon, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGTERM as soon as the pid file names the daemon: it is still
    /// starting (an early `systemctl stop`).
    TermWhileStarting,
    /// SIGTERM once it told systemd READY=1.
    TermWhenReady,
    /// SIGKILL once ready: a crash.
    KillWhenReady,
}

/// Waits until `pid_file` holds `pid` (the daemon writes it early in its
/// start; the short poll lets the test signal at the earliest moment).
async fn wait_for_pid_file(pid_file: &Path, pid: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(pid_file).ok().as_deref() != Some(&format!("{pid}\n")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} does not say {pid} within 30 s",
            pid_file.display()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Waits for READY=1 on the notify socket the daemon was given.
async fn wait_for_ready(socket: &tokio::net::UnixDatagram, log: &Path) {
    let mut buffer = [0u8; 4096];
    let ready = async {
        loop {
            let n = socket.recv(&mut buffer).await.unwrap();
            if String::from_utf8_lossy(&buffer[..n])
                .lines()
                .any(|line| line == "READY=1")
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .unwrap_or_else(|_| panic!("no READY=1 within 30 s; see {}", log.display()));
}

/// Runs `simgate run -p <root>/run/simgate.pid` (with `-U user` when
/// given) on `device`, stops it as `stop` says, and checks the pid file:
/// gone after a SIGTERM (exit status 0), left after a SIGKILL.
async fn stop_and_check_the_pid_file(
    root: &Path,
    device: &Path,
    user: Option<&nix::unistd::User>,
    stop: Stop,
) {
    let config = config(root, device, "");
    let log = root.join("simgate.log");
    let run_dir = root.join("run");
    let pid_file = run_dir.join("simgate.pid");
    let _ = std::fs::remove_file(&pid_file);
    let notify_path = root.join("notify");
    let _ = std::fs::remove_file(&notify_path);
    let notify = tokio::net::UnixDatagram::bind(&notify_path).unwrap();
    // The daemon tells it READY=1 after it switched users.
    std::fs::set_permissions(&notify_path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"));
    command
        .arg("run")
        .arg("-c")
        .arg(&config)
        .arg("-p")
        .arg(&pid_file)
        .env("STATE_DIRECTORY", root.join("state"))
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("WATCHDOG_USEC")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(user) = user {
        command.arg("-U").arg(&user.name);
    }
    let mut daemon = command.spawn().unwrap();
    let pid = daemon.id().unwrap();
    if stop == Stop::TermWhileStarting {
        wait_for_pid_file(&pid_file, pid).await;
    } else {
        wait_for_ready(&notify, &log).await;
        assert_eq!(
            std::fs::read_to_string(&pid_file).unwrap().trim(),
            pid.to_string()
        );
        if let Some(user) = user {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
            assert!(
                uid_line.split_whitespace().nth(1) == Some(&user.uid.to_string()),
                "{uid_line}"
            );
        }
    }
    let signal = match stop {
        Stop::KillWhenReady => nix::sys::signal::Signal::SIGKILL,
        Stop::TermWhileStarting | Stop::TermWhenReady => nix::sys::signal::Signal::SIGTERM,
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    let status = daemon.wait().await.unwrap();
    if stop == Stop::KillWhenReady {
        assert!(pid_file.exists(), "a crash leaves the pid file");
    } else {
        assert!(status.success(), "{stop:?}: {status}");
        assert!(
            !pid_file.exists(),
            "{stop:?}: the pid file stayed after a clean exit"
        );
    }
}

/// A SIGTERM that arrives while `simgate run` is still starting (as soon
/// as its pid file is written) is a clean exit that removes the pid file,
/// not a death by the default action that leaves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_starting_is_a_clean_exit() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = spool("early-stop");
    std::fs::create_dir(root.join("run")).unwrap();
    // Three times: each start's window before the daemon serves is short.
    for _ in 0..3 {
        stop_and_check_the_pid_file(&root, &emulator.path(), None, Stop::TermWhileStarting).await;
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// `simgate run -U nobody -p /run-like/simgate.pid`: the pid file, written
/// as root in a folder `nobody` may not write to, is gone after SIGTERM
/// (while starting or once ready); after a SIGKILL it stays, as a crash
/// should leave it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pid_file_is_removed_on_a_clean_exit_after_switching_users() {
    if !nix::unistd::geteuid().is_root() {
        crate::support::needs_root(
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
    let log = root.join("simgate.log");
    std::fs::write(&log, "").unwrap();
    std::os::unix::fs::chown(&log, Some(nobody.uid.as_raw()), None).unwrap();
    let run_dir = root.join("run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for stop in [
        Stop::TermWhileStarting,
        Stop::TermWhenReady,
        Stop::KillWhenReady,
    ] {
        stop_and_check_the_pid_file(&root, &emulator.path(), Some(&nobody), stop).await;
    }
    let _ = std::fs::remove_dir_all(&root);
}
