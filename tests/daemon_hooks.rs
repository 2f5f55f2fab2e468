//! Hooks run by the real `simgate` binary: a child process on the emulated
//! modem, measured from the outside.

use crate::support::{fresh_spool, reference, spawn_simgate, until, Reference};
use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A spool, database, configuration and log in a fresh temporary folder.
fn spool(name: &str, device: &Path, hooks: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("simgate-hooks-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let config = format!(
        r#"[modem]
device = "{device}"
status_interval = "0s"

[spool]
inbox = "{root}/inbox"
outbox = "{root}/outbox"
sent = "{root}/sent"
error = "{root}/error"
settle_time = "0s"

[hooks]
{hooks}

[database]
path = "{root}/simgate.db"

[log]
level = "info"
file = "{root}/simgate.log"
"#,
        device = device.display(),
        root = root.display(),
    );
    std::fs::write(root.join("simgate.toml"), config).unwrap();
    root
}

/// Writes a shell script a hook runs, executable.
fn write_script(path: &Path, text: impl AsRef<[u8]>) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// The last 64 KiB of the log (a runaway hook can make it huge).
fn log_tail(root: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(root.join("simgate.log")) else {
        return String::new();
    };
    let length = file.metadata().unwrap().len();
    file.seek(SeekFrom::Start(length.saturating_sub(65_536)))
        .unwrap();
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).unwrap();
    String::from_utf8_lossy(&tail).into_owned()
}

/// A `/proc/<pid>/status` field in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Issue #9: a RunOnSent hook printing 100 MB without a newline took
/// simgate's peak RSS to 204 MB, all of it a log line in the making. The
/// output is now read in bounded pieces: the peak stays that of an idle
/// daemon (14.5 MB measured for the debug build), whatever the hook prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_printing_100_mb_without_a_newline_leaves_simgate_small() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = spool(
        "output",
        &emulator.path(),
        // `; true` takes the file name simgate appends as "$@".
        "run_on_sent = \"head -c 100000000 /dev/zero | tr '\\\\000' x; true\"\ntimeout = \"2m\"",
    );
    let mut daemon = spawn_simgate(&root.join("simgate.toml"), &root.join("stderr.log"), None);
    let pid = daemon.id().unwrap();
    std::fs::write(root.join("outbox/OUT+4917600000001.txt"), "hook test").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !log_tail(&root).contains("hook finished successfully") {
        assert!(
            !log_tail(&root).contains("hook failed"),
            "{}",
            log_tail(&root)
        );
        assert!(
            Instant::now() < deadline,
            "the hook did not finish within 120 s; log ends with:\n{}",
            log_tail(&root)
        );
        if let Some(status) = daemon.try_wait().unwrap() {
            panic!("simgate exited ({status}): {}", log_tail(&root));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let peak = status_kb(pid, "VmHWM:");
    daemon.kill().await.unwrap();
    assert!(
        peak < 40 * 1024,
        "simgate's peak RSS was {peak} kB while a hook printed 100 MB"
    );
    let log = std::fs::read_to_string(root.join("simgate.log")).unwrap();
    assert!(log.len() < 100_000, "the log grew to {} bytes", log.len());
    assert_eq!(log.matches("hook output past the log's limits").count(), 1);
    assert!(log.contains("dropped_bytes=99995904"), "{log}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// RunOnFailure runs after each failed send attempt with the outbox file's
/// name, as gammu-smsd runs it, and RunOnSent once the message went; and
/// with `INIT` for each failed opening of the modem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_on_failure_runs_for_each_failed_attempt_and_for_init() {
    use simgate::emulator::{Fault, Times};
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    // Network congestion (a transient error) twice, then the send goes.
    emulator.inject_fault(Fault::CmsError {
        code: 42,
        times: Times::N(2),
        destination: None,
    });
    let calls = std::env::temp_dir().join(format!("simgate-hooks-calls-{}", std::process::id()));
    let _ = std::fs::remove_file(&calls);
    let root = spool(
        "failure",
        &emulator.path(),
        &format!(
            "run_on_failure = \"echo failure >> {0}\"\nrun_on_sent = \"echo sent >> {0}\"",
            calls.display()
        ),
    );
    std::fs::write(
        root.join("simgate.toml"),
        std::fs::read_to_string(root.join("simgate.toml"))
            .unwrap()
            .replace("[hooks]", "[send]\nretry_delay = \"100ms\"\n\n[hooks]"),
    )
    .unwrap();
    let mut daemon = spawn_simgate(&root.join("simgate.toml"), &root.join("stderr.log"), None);
    std::fs::write(root.join("outbox/OUT+4917600000701.txt"), "third time").unwrap();
    let read = || std::fs::read_to_string(&calls).unwrap_or_default();
    until("RunOnSent", || read().contains("sent ")).await;
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let lines: Vec<String> = read().lines().map(str::to_owned).collect();
    // Hooks run one at a time, in the order asked for.
    assert_eq!(
        lines,
        [
            "failure OUT+4917600000701.txt",
            "failure OUT+4917600000701.txt",
            "sent OUT+4917600000701.txt"
        ],
        "{}",
        log_tail(&root)
    );

    // A modem that is not there: INIT, attempt after attempt.
    std::fs::remove_file(&calls).unwrap();
    let config = std::fs::read_to_string(root.join("simgate.toml"))
        .unwrap()
        .replace(
            &format!("device = \"{}\"", emulator.path().display()),
            &format!("device = \"{}\"", root.join("no-such-modem").display()),
        );
    std::fs::write(root.join("simgate.toml"), config).unwrap();
    let mut daemon = spawn_simgate(&root.join("simgate.toml"), &root.join("stderr.log"), None);
    until("two RunOnFailure INIT", || {
        read().lines().filter(|l| *l == "failure INIT").count() >= 2
    })
    .await;
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    emulator.stop().await;
    let _ = std::fs::remove_dir_all(&root);
}

/// The `SMS_*` and `DECODED_*` variables a hook wrote (`env` output, one
/// file per run), without `SMS_n_REFERENCE`: gammu 1.42 passes 0 there,
/// simgate the real TP-MR (a documented difference).
fn hook_variables(file: &Path) -> BTreeMap<String, String> {
    let env = std::fs::read_to_string(file).unwrap();
    env.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(key, _)| key.starts_with("SMS_") || key.starts_with("DECODED_"))
        .filter(|(key, _)| !key.ends_with("_REFERENCE"))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// RunOnSent describes the message that went out as gammu-smsd 1.42 does:
/// the real gammu-smsd and simgate send the same files, written by the
/// real `gammu-smsd-inject`, on the same gammu-smsdrc and emulated modem,
/// and their hooks see the same variables. A long message is one decoded
/// text (`DECODED_PARTS=1`, `DECODED_1_TEXT`): simgate gave
/// `DECODED_PARTS=0` and no text before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_on_sent_gets_the_variables_gammu_smsd_gives_it() {
    const CHECK: &str = "daemon_hooks::run_on_sent_gets_the_variables_gammu_smsd_gives_it";
    let (Some(inject), Some(smsd)) = (
        reference(Reference::SmsdInject, CHECK),
        reference(Reference::Smsd, CHECK),
    ) else {
        return;
    };
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = fresh_spool("hooks-sent-like-gammu");
    let envs = root.join("env");
    std::fs::create_dir_all(&envs).unwrap();
    let hook = root.join("hook.sh");
    write_script(
        &hook,
        format!("#!/bin/sh\nenv > '{}'/\"$1\"\n", envs.display()),
    );
    let config = root.join("gammu-smsdrc");
    std::fs::write(
        &config,
        format!(
            "[gammu]\nport = {}\nconnection = at\n\n[smsd]\nservice = files\n\
             logfile = {1}/smsd.log\ninboxpath = {1}/inbox/\noutboxpath = {1}/outbox/\n\
             sentsmspath = {1}/sent/\nerrorsmspath = {1}/error/\nrunonsent = {2}\n",
            emulator.path().display(),
            root.display(),
            hook.display()
        ),
    )
    .unwrap();
    let messages: [&[&str]; 3] = [
        &["TEXT", "+4917600000801", "-text", "short"],
        &[
            "TEXT",
            "+4917600000802",
            "-len",
            "400",
            "-text",
            &"long enough for two parts ".repeat(8),
        ],
        &[
            "TEXT",
            "+4917600000803",
            "-unicode",
            "-len",
            "400",
            "-text",
            &"zwei Teile, äöü ".repeat(6),
        ],
    ];
    for args in messages {
        let output = Command::new(&inject)
            .arg("-c")
            .arg(&config)
            .args(args)
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
    }
    // The same files again for simgate, once gammu-smsd has sent them.
    let files: Vec<PathBuf> = std::fs::read_dir(root.join("outbox"))
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .collect();
    assert_eq!(files.len(), messages.len());
    let queue: Vec<(PathBuf, Vec<u8>)> = files
        .iter()
        .map(|path| (path.clone(), std::fs::read(path).unwrap()))
        .collect();
    let names: Vec<String> = files
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let all_ran = || names.iter().all(|name| envs.join(name).exists());

    let mut gammu = tokio::process::Command::new(&smsd)
        .arg("-c")
        .arg(&config)
        .env("LC_ALL", "C.UTF-8")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    until("gammu-smsd's RunOnSent for every file", all_ran).await;
    let pid = nix::unistd::Pid::from_raw(gammu.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    gammu.wait().await.unwrap();
    let by_gammu: Vec<BTreeMap<String, String>> = names
        .iter()
        .map(|name| hook_variables(&envs.join(name)))
        .collect();

    for dir in [&envs, &root.join("sent")] {
        std::fs::remove_dir_all(dir).unwrap();
        std::fs::create_dir_all(dir).unwrap();
    }
    for (path, content) in &queue {
        std::fs::write(path, content).unwrap();
    }
    let mut simgate = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .arg("run")
        .arg("-c")
        .arg(&config)
        .env("STATE_DIRECTORY", root.join("state"))
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("simgate.stderr")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    until("simgate's RunOnSent for every file", all_ran).await;
    simgate.start_kill().unwrap();
    let _ = simgate.wait().await;
    for (name, gammus) in names.iter().zip(&by_gammu) {
        assert_eq!(
            &hook_variables(&envs.join(name)),
            gammus,
            "{name}: simgate's RunOnSent variables, then gammu-smsd's"
        );
    }
    // The long ones are one decoded text each: what was checked is there.
    assert!(by_gammu
        .iter()
        .any(|vars| vars.get("DECODED_PARTS").map(String::as_str) == Some("1")));
    emulator.stop().await;
    let _ = std::fs::remove_dir_all(&root);
}

/// RunOnSent's argument names the file in `sent/` that is the message just
/// sent. gammu-smsd replaces `sent/NAME`; simgate never overwrites a file
/// and puts a second message of the same name at `sent/NAME.1.txt`, so
/// that is the name the hook gets. It got the outbox name before, and a
/// hook reading `sent/$1` read the previous message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_on_sent_names_the_file_in_sent_that_went_out() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = std::env::temp_dir().join(format!("simgate-hooks-same-name-{}", std::process::id()));
    let log = root.with_extension("log");
    let _ = std::fs::remove_file(&log);
    let hook = root.with_extension("sh");
    write_script(
        &hook,
        format!(
            "#!/bin/sh\n{{ printf '%s: ' \"$1\"; cat '{}/sent/'\"$1\"; echo; }} >> '{}'\n",
            root.display(),
            log.display()
        ),
    );
    let root = spool(
        "same-name",
        &emulator.path(),
        &format!("run_on_sent = \"{}\"", hook.display()),
    );
    let mut daemon = spawn_simgate(&root.join("simgate.toml"), &root.join("stderr.log"), None);
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    for (n, text) in ["first message", "second message"].iter().enumerate() {
        std::fs::write(root.join("outbox/OUT+4917600000711.txt"), text).unwrap();
        until("RunOnSent", || read().lines().count() > n).await;
    }
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    assert_eq!(
        read().lines().collect::<Vec<_>>(),
        [
            "OUT+4917600000711.txt: first message",
            "OUT+4917600000711.1.txt: second message"
        ],
        "{}",
        log_tail(&root)
    );
    emulator.stop().await;
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&hook);
}

/// Hooks run one at a time, in the order of their messages, as gammu-smsd
/// runs them (it waits for each: spec §8.1). simgate started every hook
/// at once: with five messages on the SIM and five files in the outbox, up
/// to ten hooks ran side by side, in no order, and a hook written for
/// gammu (a fixed temporary file, one database, "the newest inbox file")
/// broke. Sending and receiving still do not wait for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_run_one_at_a_time_in_the_order_of_their_messages() {
    use crate::support::delivers;
    const MESSAGES: usize = 5;
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    for n in 0..MESSAGES {
        let pdu = &delivers(&format!("+491510000000{n}"), &format!("in {n}"), 0)[0];
        emulator.preload("SM", pdu).unwrap();
    }
    let root = std::env::temp_dir().join(format!("simgate-hooks-order-{}", std::process::id()));
    let log = root.with_extension("log");
    let lock = root.with_extension("running");
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_dir(&lock);
    let hook = root.with_extension("sh");
    // mkdir is atomic: a second hook that finds the folder runs beside
    // the first.
    write_script(
        &hook,
        format!(
            "#!/bin/sh\nmkdir '{lock}' 2>/dev/null || echo \"overlap $1\" >> '{log}'\n\
             echo \"$1\" >> '{log}'\nsleep 0.2\nrmdir '{lock}' 2>/dev/null\n",
            lock = lock.display(),
            log = log.display()
        ),
    );
    let root = spool(
        "order",
        &emulator.path(),
        &format!(
            "run_on_receive = \"{0}\"\nrun_on_sent = \"{0}\"",
            hook.display()
        ),
    );
    for n in 0..MESSAGES {
        std::fs::write(
            root.join(format!("outbox/OUT+491760000072{n}.txt")),
            format!("out {n}"),
        )
        .unwrap();
    }
    let mut daemon = spawn_simgate(&root.join("simgate.toml"), &root.join("stderr.log"), None);
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    until("every hook", || read().lines().count() >= 2 * MESSAGES).await;
    // The last one ends.
    until("the last hook's end", || !lock.exists()).await;
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let lines: Vec<String> = read().lines().map(str::to_owned).collect();
    assert!(
        !lines.iter().any(|line| line.starts_with("overlap")),
        "hooks ran side by side: {lines:?}"
    );
    let received: Vec<&String> = lines.iter().filter(|l| l.starts_with("IN")).collect();
    let sent: Vec<&String> = lines.iter().filter(|l| l.starts_with("OUT")).collect();
    assert_eq!(
        (received.len(), sent.len()),
        (MESSAGES, MESSAGES),
        "{lines:?}"
    );
    for (n, name) in received.iter().enumerate() {
        assert!(name.contains(&format!("_+491510000000{n}_")), "{lines:?}");
    }
    for (n, name) in sent.iter().enumerate() {
        assert_eq!(**name, format!("OUT+491760000072{n}.txt"), "{lines:?}");
    }
    emulator.stop().await;
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&hook);
}

/// A stop runs the hooks still waiting their turn before the daemon
/// exits: queued behind a slow hook, they are not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_runs_the_hooks_still_waiting_their_turn() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let calls =
        std::env::temp_dir().join(format!("simgate-hooks-stop-calls-{}", std::process::id()));
    let _ = std::fs::remove_file(&calls);
    let root = spool(
        "stop",
        &emulator.path(),
        &format!("run_on_sent = \"sleep 0.5; echo >> {}\"", calls.display()),
    );
    for n in 0..3 {
        std::fs::write(root.join(format!("outbox/OUT+491760000073{n}.txt")), "x").unwrap();
    }
    let mut daemon = spawn_simgate(&root.join("simgate.toml"), &root.join("stderr.log"), None);
    let sent = || std::fs::read_dir(root.join("sent")).unwrap().count();
    until("three sent", || sent() == 3).await;
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = daemon.wait().await.unwrap();
    assert!(status.success(), "{status:?}: {}", log_tail(&root));
    // The daemon exits after the last hook ended (each waits for the one
    // before: 1.5 s in all).
    let lines = std::fs::read_to_string(&calls).unwrap_or_default();
    assert_eq!(lines.lines().count(), 3, "{}", log_tail(&root));
    emulator.stop().await;
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_file(&calls);
}

/// SIGHUP (`systemctl reload`, the logrotate rule the README gives) is
/// no modem failure: gammu-smsd reconnects without RunOnFailure. simgate
/// started the reloaded modem's session before the old one let the port
/// go, found its own lock ("in use by simgate (pid <itself>)") and ran
/// RunOnFailure INIT at every reload. Hooks run in order, so a failure
/// hook queued by the reload would come before the next RunOnSent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_runs_no_failure_hook() {
    use crate::support::write_spool_config;
    let modem = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = crate::support::fresh_spool("hooks-reload");
    let calls = root.join("calls");
    let hook = |name: &str| {
        let path = root.join(format!("on-{name}.sh"));
        write_script(
            &path,
            format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n", calls.display()),
        );
        path.display().to_string()
    };
    let config = write_spool_config(
        &root,
        &modem.path(),
        &format!(
            "[hooks]\nrun_on_sent = \"{}\"\nrun_on_failure = \"{}\"\n",
            hook("sent"),
            hook("failure")
        ),
    );
    let mut daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    let read_calls = || std::fs::read_to_string(&calls).unwrap_or_default();
    let drop_file = |name: &str| {
        let temp = root.join(format!(".{name}"));
        std::fs::write(&temp, "hello").unwrap();
        std::fs::rename(&temp, root.join("outbox").join(name)).unwrap();
    };
    drop_file("OUT+4917000000001.txt");
    until("the first RunOnSent", || read_calls().lines().count() == 1).await;
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    for reload in 1..=2 {
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
        until("the reload in the log", || {
            log_tail(&root).matches("configuration reloaded").count() == reload
        })
        .await;
    }
    drop_file("OUT+4917000000002.txt");
    until("a second hook", || read_calls().lines().count() >= 2).await;
    assert_eq!(
        read_calls()
            .lines()
            .map(|l| l.split(' ').next().unwrap())
            .collect::<Vec<_>>(),
        ["sent", "sent"],
        "{}",
        read_calls()
    );
    assert!(
        !log_tail(&root).contains("in use by simgate"),
        "{}",
        log_tail(&root)
    );
    daemon.start_kill().unwrap();
    let _ = daemon.wait().await;
    let _ = std::fs::remove_dir_all(&root);
}

/// What the README gives as the most hooks that wait their turn.
const HOOKS_WAITING_MAX: usize = 64;

/// The hooks waiting their turn are bounded: with a slow RunOnSent and a
/// burst of messages, simgate stops sending once 64 wait, and sends again
/// as they run; every hook runs once, in the order of the messages.
/// simgate kept every hook of the burst in memory (each with its numbers
/// and text), however many: a hook stuck behind a dead network and the
/// whole outbox was queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hooks_waiting_their_turn_are_bounded() {
    const MESSAGES: usize = HOOKS_WAITING_MAX + 36;
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let files = std::env::temp_dir().join(format!("simgate-hooks-bound-{}", std::process::id()));
    let (calls, go, hook) = (
        files.with_extension("calls"),
        files.with_extension("go"),
        files.with_extension("sh"),
    );
    for file in [&calls, &go] {
        let _ = std::fs::remove_file(file);
    }
    let root = spool(
        "bound",
        &emulator.path(),
        &format!("run_on_sent = \"{}\"\ntimeout = \"5m\"", hook.display()),
    );
    // Each run writes the file it was given and how many messages were
    // in sent/ when it started; the first waits for the test's word (for
    // at most a minute, should the test be gone).
    write_script(
        &hook,
        format!(
            "#!/bin/sh\nn=0\nwhile [ ! -e '{go}' ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done\n\
             echo \"$1 $(ls '{sent}' | wc -l)\" >> '{calls}'\n",
            go = go.display(),
            sent = root.join("sent").display(),
            calls = calls.display(),
        ),
    );
    for n in 0..MESSAGES {
        std::fs::write(
            root.join(format!("outbox/OUT+4917600001{n:03}.txt")),
            format!("burst {n}"),
        )
        .unwrap();
    }
    let mut daemon = spawn_simgate(&root.join("simgate.toml"), &root.join("stderr.log"), None);
    let sent = || std::fs::read_dir(root.join("sent")).unwrap().count();
    // Either simgate says it waits for room, or (without a bound) it sent
    // everything while the first hook waited.
    until("sending waiting for the hooks, or everything sent", || {
        log_tail(&root).contains("sending waits for room") || sent() == MESSAGES
    })
    .await;
    std::fs::write(&go, "").unwrap();
    let read = || std::fs::read_to_string(&calls).unwrap_or_default();
    until("every hook", || read().lines().count() >= MESSAGES).await;
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = daemon.wait().await.unwrap();
    assert!(status.success(), "{status:?}: {}", log_tail(&root));
    let text = read();
    let runs: Vec<(&str, usize)> = text
        .lines()
        .map(|line| {
            let (name, count) = line.split_once(' ').unwrap();
            (name, count.trim().parse().unwrap())
        })
        .collect();
    // Hook k (from 0) starts after k ended: the messages sent by then
    // whose hook has not ended are the one starting and those waiting.
    let in_flight: Vec<usize> = runs
        .iter()
        .enumerate()
        .map(|(k, (_, count))| count - k)
        .collect();
    let most = *in_flight.iter().max().unwrap();
    assert!(
        most <= HOOKS_WAITING_MAX + 1,
        "{most} messages sent had their hook waiting or running: {in_flight:?}"
    );
    assert!(
        most >= HOOKS_WAITING_MAX,
        "the bound was never reached: {in_flight:?}"
    );
    // Once each, in the order the messages went out.
    let order: Vec<String> = emulator
        .sent()
        .iter()
        .map(|message| format!("OUT+{}.txt", message.submit.destination.value))
        .collect();
    let names: Vec<String> = runs.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(names, order);
    assert_eq!(names.len(), MESSAGES);
    emulator.stop().await;
    let _ = std::fs::remove_dir_all(&root);
    for file in [&calls, &go, &hook] {
        let _ = std::fs::remove_file(file);
    }
}

/// A stop gives the hooks still waiting their turn 30 seconds to start;
/// those that could not are logged (kind and scrubbed file), and a
/// RunOnReceive among them runs at the next start. simgate ran every
/// hook queued before it exited: behind a slow hook that was hours, and
/// systemd's SIGKILL lost the RunOnSent and RunOnFailure hooks without a
/// word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_gives_the_waiting_hooks_a_deadline_and_says_which_did_not_run() {
    use crate::support::delivers;
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    for n in 0..2 {
        let pdu = &delivers(&format!("+491510000077{n}"), &format!("in {n}"), 0)[0];
        emulator.preload("SM", pdu).unwrap();
    }
    let files = std::env::temp_dir().join(format!("simgate-hooks-deadline-{}", std::process::id()));
    let (calls, go, first, hook) = (
        files.with_extension("calls"),
        files.with_extension("go"),
        files.with_extension("first"),
        files.with_extension("sh"),
    );
    for file in [&calls, &go] {
        let _ = std::fs::remove_file(file);
    }
    let _ = std::fs::remove_dir(&first);
    // The first run (whichever hook it is) waits for the test's word, at
    // most two minutes; each run writes the file it was given.
    write_script(
        &hook,
        format!(
            "#!/bin/sh\nif mkdir '{first}' 2>/dev/null; then n=0\n\
             while [ ! -e '{go}' ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done; fi\n\
             echo \"$1\" >> '{calls}'\n",
            first = first.display(),
            go = go.display(),
            calls = calls.display(),
        ),
    );
    let root = spool(
        "deadline",
        &emulator.path(),
        &format!(
            "run_on_receive = \"{0}\"\nrun_on_sent = \"{0}\"\ntimeout = \"5m\"",
            hook.display()
        ),
    );
    for n in 0..2 {
        std::fs::write(root.join(format!("outbox/OUT+491760000078{n}.txt")), "x").unwrap();
    }
    let mut daemon = spawn_simgate(&root.join("simgate.toml"), &root.join("stderr.log"), None);
    let count = |dir: &str| std::fs::read_dir(root.join(dir)).unwrap().count();
    // Both sent and both written: four hooks asked for, the first running.
    until("two sent, two received", || {
        count("sent") == 2 && count("inbox") == 2 && first.exists()
    })
    .await;
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let stop_began = Instant::now();
    let not_run = || log_tail(&root).matches("hook not run").count();
    until("the three hooks behind the first logged as not run", || {
        not_run() >= 3
    })
    .await;
    let waited = stop_began.elapsed();
    assert!(
        waited >= Duration::from_secs(29) && waited < Duration::from_secs(45),
        "logged {waited:?} after the stop"
    );
    // The hook that was running is not cut short: the daemon waits for it.
    assert!(daemon.try_wait().unwrap().is_none(), "{}", log_tail(&root));
    std::fs::write(&go, "").unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), daemon.wait())
        .await
        .expect("simgate did not exit once the running hook ended")
        .unwrap();
    assert!(status.success(), "{status:?}: {}", log_tail(&root));
    let log = std::fs::read_to_string(root.join("simgate.log")).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("hook not run")).collect();
    assert_eq!(lines.len(), 3, "{log}");
    for line in &lines {
        // File names carry the numbers: scrubbed as in every other log.
        assert!(
            !line.contains("4917600000") && !line.contains("4915100000"),
            "{line}"
        );
    }
    let ran: Vec<String> = std::fs::read_to_string(&calls)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(ran.len(), 1, "{ran:?}");
    // The next start runs the RunOnReceive that did not run, once each;
    // the RunOnSent hooks were given up (and logged so).
    let inbox: Vec<String> = std::fs::read_dir(root.join("inbox"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let receive_not_run = lines
        .iter()
        .filter(|l| l.contains("hook=\"receive\""))
        .count();
    let sent_not_run = lines.iter().filter(|l| l.contains("hook=\"sent\"")).count();
    assert_eq!(receive_not_run + sent_not_run, 3, "{lines:?}");
    let mut daemon = spawn_simgate(&root.join("simgate.toml"), &root.join("stderr.log"), None);
    let read = || std::fs::read_to_string(&calls).unwrap_or_default();
    until("the RunOnReceive not run, run at the next start", || {
        inbox.iter().all(|name| read().contains(name.as_str()))
    })
    .await;
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = daemon.wait().await.unwrap();
    assert!(status.success(), "{status:?}: {}", log_tail(&root));
    let ran: Vec<String> = read().lines().map(str::to_owned).collect();
    for name in &inbox {
        assert_eq!(
            ran.iter().filter(|line| *line == name).count(),
            1,
            "{ran:?}"
        );
    }
    assert_eq!(ran.len(), 1 + receive_not_run, "{ran:?}");
    emulator.stop().await;
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir(&first);
    for file in [&calls, &go, &hook] {
        let _ = std::fs::remove_file(file);
    }
}
