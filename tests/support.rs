//! What the daemon tests share: a daemon on an emulated modem with its
//! spool, database and events in a temporary folder.

use simgate::config::Config;
use simgate::daemon::{self, DaemonEvent, DaemonOptions};
use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A daemon on an emulated modem, with its spool in a temporary folder.
pub(crate) struct Harness {
    pub(crate) emulator: Emulator,
    pub(crate) root: PathBuf,
    pub(crate) events: mpsc::UnboundedReceiver<DaemonEvent>,
    pub(crate) stop: Option<oneshot::Sender<()>>,
    pub(crate) task: Option<tokio::task::JoinHandle<Result<(), daemon::DaemonError>>>,
}

impl Harness {
    pub(crate) async fn start(name: &str, profile: Profile) -> Self {
        Self::start_with(name, profile, |_| {}).await
    }

    /// Like [`start`](Self::start), with a say in the configuration.
    pub(crate) async fn start_with(
        name: &str,
        profile: Profile,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        Self::start_on(name, EmulatorConfig::new(profile), configure).await
    }

    /// Like [`start_with`](Self::start_with), on a modem set up as `modem`.
    pub(crate) async fn start_on(
        name: &str,
        modem: EmulatorConfig,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let root =
            std::env::temp_dir().join(format!("simgate-daemon-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["inbox", "outbox", "sent", "error"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        let emulator = Emulator::start(modem).await.unwrap();
        Self::launch(emulator, root, configure).await
    }

    /// Starts a daemon on `root` and `emulator`, and waits for the modem.
    async fn launch(
        emulator: Emulator,
        root: PathBuf,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::new(emulator.path());
        config.spool.inbox = root.join("inbox");
        config.spool.outbox = root.join("outbox");
        config.spool.sent = Some(root.join("sent"));
        config.spool.error = Some(root.join("error"));
        config.spool.settle_time = Duration::from_millis(200);
        // Entries inotify does not report (a mkfifo, a mkdir) are found by the rescan.
        config.spool.scan_interval = Duration::from_secs(1);
        config.database.path = Some(root.join("simgate.db"));
        configure(&mut config);
        init_logs();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let options = DaemonOptions {
            events: Some(events_tx),
            ..DaemonOptions::new(config)
        };
        let task = tokio::spawn(simgate::device::at::serve(options, async {
            let _ = stopped.await;
        }));
        let mut harness = Self {
            emulator,
            root,
            events,
            stop: Some(stop),
            task: Some(task),
        };
        harness
            .wait_for(|e| matches!(e, DaemonEvent::ModemReady { .. }))
            .await;
        harness
    }

    /// Stops the daemon cleanly and starts a new one on the same spool,
    /// database and modem.
    pub(crate) async fn restart(self) -> Self {
        self.restart_with(|_| {}).await
    }

    /// Like [`restart`](Self::restart), with a say in the configuration.
    pub(crate) async fn restart_with(mut self, configure: impl FnOnce(&mut Config)) -> Self {
        self.stop_daemon().await;
        let emulator = std::mem::replace(
            &mut self.emulator,
            Emulator::on_stream(
                EmulatorConfig::new(Profile::Generic),
                tokio::io::duplex(64).0,
            ),
        );
        let root = self.root.clone();
        self.root = PathBuf::new();
        Self::launch(emulator, root, configure).await
    }

    pub(crate) async fn stop_daemon(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    pub(crate) fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Waits for an event matching `wanted`, returning it.
    pub(crate) async fn wait_for(&mut self, wanted: impl Fn(&DaemonEvent) -> bool) -> DaemonEvent {
        let deadline = tokio::time::sleep(Duration::from_secs(30));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                event = self.events.recv() => {
                    let event = event.expect("the daemon stopped");
                    if wanted(&event) {
                        return event;
                    }
                }
                () = &mut deadline => {
                    // A daemon that ended with an error says why.
                    let ended = match self.task.take() {
                        Some(task) if task.is_finished() => format!("; the daemon ended: {:?}", task.await),
                        task => {
                            self.task = task;
                            String::new()
                        }
                    };
                    panic!("no such daemon event within 30 s{ended}")
                }
            }
        }
    }

    /// Waits until `count` messages were sent or failed; returns the outcomes.
    pub(crate) async fn finished(&mut self, count: usize) -> Vec<DaemonEvent> {
        let mut done = Vec::new();
        while done.len() < count {
            done.push(
                self.wait_for(|e| {
                    matches!(e, DaemonEvent::Sent { .. } | DaemonEvent::Failed { .. })
                })
                .await,
            );
        }
        done
    }

    /// Waits for the next message written to the inbox; its file names.
    pub(crate) async fn received(&mut self) -> Vec<String> {
        match self
            .wait_for(|e| matches!(e, DaemonEvent::Received { .. }))
            .await
        {
            DaemonEvent::Received { files } => files,
            _ => unreachable!(),
        }
    }

    /// An inbox file's text.
    pub(crate) fn inbox(&self, name: &str) -> String {
        String::from_utf8(std::fs::read(self.dir("inbox").join(name)).unwrap()).unwrap()
    }

    pub(crate) async fn stop(mut self) {
        self.stop_daemon().await;
        if !self.root.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// With `SIMGATE_TEST_LOG` set (tracing targets, such as
/// `simgate=debug`), the daemon's logs go to the test's captured output,
/// shown when a test fails: how a rare failure is told apart.
fn init_logs() {
    let Ok(targets) = std::env::var("SIMGATE_TEST_LOG") else {
        return;
    };
    let Ok(targets) = targets.parse::<tracing_subscriber::filter::Targets>() else {
        panic!("SIMGATE_TEST_LOG is not a list of tracing targets: {targets}");
    };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(targets)
        .with(tracing_subscriber::fmt::layer().with_test_writer())
        .try_init();
}

/// The SMS-DELIVER TPDUs of `text` from `from`, concatenated when long,
/// each part a second after the one before (25 Nov 2026, 20:01, UTC+1).
pub(crate) fn delivers(from: &str, text: &str, reference: u16) -> Vec<Vec<u8>> {
    use simgate::pdu::{plan_text, Address, EncodingPolicy, SmsDeliver, Timestamp};
    let stamp = |second: u8| Timestamp {
        year: 2026,
        month: 11,
        day: 25,
        hour: 20,
        minute: 1,
        second,
        tz_quarters: 4,
    };
    let plan = plan_text(text, EncodingPolicy::Auto).unwrap();
    let from = Address::parse_number(from).unwrap();
    SmsDeliver::from_plan(&plan, &from, stamp(0), reference)
        .into_iter()
        .enumerate()
        .map(|(index, mut deliver)| {
            deliver.timestamp = stamp(index as u8).into();
            deliver.encode().unwrap()
        })
        .collect()
}

/// Says on the terminal (not captured by the test harness, which hides
/// what passing tests print) that `test` checked nothing here, and why.
pub(crate) fn skipped(test: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** SKIPPED {test}: {reason} ***\n");
}

/// A check that needs root did not run here: a failure where
/// `SIMGATE_REQUIRE_ROOT=1` (CI runs as root and sets it), a note
/// otherwise.
pub(crate) fn needs_root(test: &str, reason: &str) {
    if std::env::var("SIMGATE_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{test} needs root ({reason}), and SIMGATE_REQUIRE_ROOT=1 requires it to run");
    }
    skipped(test, reason);
}

/// xorshift64*: enough randomness for kill delays, reproducible from a seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// The crash tests' seed: `SIMGATE_CRASH_SEED`, or the clock.
pub(crate) fn seed() -> u64 {
    match std::env::var("SIMGATE_CRASH_SEED") {
        Ok(seed) => seed.parse().expect("SIMGATE_CRASH_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    }
}

/// `simgate run -c <config>` as a child process that dies with the test,
/// its stderr appended to `log`; with `notify`, systemd's notify socket.
pub(crate) fn spawn_simgate(
    config: &std::path::Path,
    log: &std::path::Path,
    notify: Option<&std::path::Path>,
) -> tokio::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"));
    match notify {
        Some(socket) => command.env("NOTIFY_SOCKET", socket),
        None => command.env_remove("NOTIFY_SOCKET"),
    };
    command
        .arg("run")
        .arg("-c")
        .arg(config)
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start simgate run")
}

/// The real gammu tools some checks compare simgate with, from Debian's
/// `python3-gammu` and `gammu-smsd` packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reference {
    /// A python3 that can `import gammu` (python3-gammu).
    PythonGammu,
    /// gammu-smsd-inject (gammu-smsd).
    SmsdInject,
    /// gammu-smsd itself (gammu-smsd).
    Smsd,
    /// systemctl, for its offline `--root` mode (systemd).
    Systemctl,
    /// systemd-analyze, for `verify` and `security --offline` (systemd).
    SystemdAnalyze,
    /// libfaketime, preloaded to set the clock of a command (faketime).
    /// Preloaded directly: the `faketime` wrapper exits 1, running
    /// nothing, when a semaphore some killed process left in /dev/shm
    /// carries the wrapper's own pid, and the library does not.
    Faketime,
}

/// Every check that needs a reference tool, for the banner that lists the
/// skipped ones. A check asking for a tool must be listed here.
const REFERENCE_CHECKS: &[(Reference, &str)] = &[
    (
        Reference::SmsdInject,
        "daemon_hooks::run_on_sent_gets_the_variables_gammu_smsd_gives_it",
    ),
    (
        Reference::Smsd,
        "daemon_hooks::run_on_sent_gets_the_variables_gammu_smsd_gives_it",
    ),
    (
        Reference::PythonGammu,
        "gammu_crosscheck::simgate_decodes_gammu_pdus",
    ),
    (
        Reference::PythonGammu,
        "gammu_crosscheck::gammu_decodes_simgate_pdus",
    ),
    (
        Reference::PythonGammu,
        "smart_messages::recorded_expectations_are_gammus",
    ),
    (
        Reference::SmsdInject,
        "daemon_send::files_from_gammu_smsd_inject_are_sent_with_the_right_pdus",
    ),
    (
        Reference::SmsdInject,
        "migration::simgate_takes_over_a_queue_gammu_smsd_started",
    ),
    (
        Reference::Smsd,
        "migration::simgate_takes_over_a_queue_gammu_smsd_started",
    ),
    (
        Reference::SmsdInject,
        "migrate_from_gammu::the_queue_goes_out_once_and_undo_puts_gammu_back",
    ),
    (
        Reference::Systemctl,
        "migrate_from_gammu::the_queue_goes_out_once_and_undo_puts_gammu_back",
    ),
    (
        Reference::SystemdAnalyze,
        "migrate_from_gammu::the_queue_goes_out_once_and_undo_puts_gammu_back",
    ),
    (
        Reference::SystemdAnalyze,
        "packaging::the_units_verify_and_score_at_most_2",
    ),
    (
        Reference::SmsdInject,
        "inject_command::simgate_inject_writes_what_gammu_smsd_inject_writes",
    ),
    (
        Reference::Faketime,
        "inject_command::simgate_inject_writes_what_gammu_smsd_inject_writes",
    ),
    (
        Reference::Faketime,
        "daemon_clock::a_running_daemon_notices_the_system_calendar_set_back",
    ),
];

impl Reference {
    const ALL: [Self; 6] = [
        Self::PythonGammu,
        Self::SmsdInject,
        Self::Smsd,
        Self::Systemctl,
        Self::SystemdAnalyze,
        Self::Faketime,
    ];

    /// The command to run: the usual one, or another named by an
    /// environment variable (the test of this very skipping names missing
    /// ones).
    fn command(self) -> String {
        let (variable, default) = match self {
            Self::PythonGammu => ("SIMGATE_REFERENCE_PYTHON", "/usr/bin/python3"),
            Self::SmsdInject => ("SIMGATE_REFERENCE_INJECT", "gammu-smsd-inject"),
            Self::Smsd => ("SIMGATE_REFERENCE_SMSD", "gammu-smsd"),
            Self::Systemctl => ("SIMGATE_REFERENCE_SYSTEMCTL", "systemctl"),
            Self::SystemdAnalyze => ("SIMGATE_REFERENCE_SYSTEMD_ANALYZE", "systemd-analyze"),
            Self::Faketime => {
                // Where Debian puts it, for the machine's architecture.
                let installed = [
                    "x86_64-linux-gnu",
                    "aarch64-linux-gnu",
                    "arm-linux-gnueabihf",
                ]
                .iter()
                .map(|arch| format!("/usr/lib/{arch}/faketime/libfaketime.so.1"))
                .find(|path| std::path::Path::new(path).exists());
                return std::env::var("SIMGATE_REFERENCE_FAKETIME")
                    .ok()
                    .or(installed)
                    .unwrap_or_else(|| "libfaketime.so.1 (not found)".to_owned());
            }
        };
        std::env::var(variable).unwrap_or_else(|_| default.to_owned())
    }

    fn describe(self) -> &'static str {
        match self {
            Self::PythonGammu => "python3 with the gammu module (Debian package python3-gammu)",
            Self::SmsdInject => "gammu-smsd-inject (Debian package gammu-smsd)",
            Self::Smsd => "gammu-smsd (Debian package gammu-smsd)",
            Self::Systemctl => "systemctl (Debian package systemd; it need not run)",
            Self::SystemdAnalyze => "systemd-analyze (Debian package systemd; it need not run)",
            Self::Faketime => "libfaketime (Debian package faketime)",
        }
    }

    /// Runs the tool once; why it is not usable, if it is not.
    fn probe(self, command: &str) -> Result<(), String> {
        let mut probe = std::process::Command::new(command);
        match self {
            Self::PythonGammu => probe.args(["-c", "import gammu"]),
            Self::SmsdInject | Self::Smsd | Self::Systemctl | Self::SystemdAnalyze => {
                probe.arg("--version")
            }
            Self::Faketime => {
                // The library is `command`; it must set date's clock.
                let output = std::process::Command::new("date")
                    .arg("+%F")
                    .env("LD_PRELOAD", command)
                    .env("FAKETIME", "2026-01-01 00:00:00")
                    .output()
                    .map_err(|error| format!("`date`: {error}"))?;
                let date = String::from_utf8_lossy(&output.stdout);
                return if date.trim() == "2026-01-01" {
                    Ok(())
                } else {
                    Err(format!(
                        "`{command}` does not set the clock: `date` said {date:?}, {:?}",
                        String::from_utf8_lossy(&output.stderr).trim()
                    ))
                };
            }
        };
        match probe.output() {
            Err(error) => Err(format!("`{command}`: {error}")),
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => Err(format!(
                "`{command}` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )),
        }
    }
}

/// A reference tool as probed.
struct Probed {
    tool: Reference,
    command: String,
    /// Why it cannot be used, if it cannot.
    missing: Option<String>,
}

/// The probes' results, once per test binary.
fn reference_tools() -> &'static [Probed] {
    static TOOLS: std::sync::OnceLock<Vec<Probed>> = std::sync::OnceLock::new();
    TOOLS.get_or_init(|| {
        Reference::ALL
            .iter()
            .map(|&tool| {
                let command = tool.command();
                let missing = tool.probe(&command).err();
                Probed {
                    tool,
                    command,
                    missing,
                }
            })
            .collect()
    })
}

/// The command of `tool` for the check `check` (as listed in
/// [`REFERENCE_CHECKS`]), or `None` when it is not installed: the check
/// is then skipped, and the first skip writes one banner to stderr naming
/// every check that needs a missing tool and how to install it. With
/// `SIMGATE_REQUIRE_GAMMU=1` (CI) a missing tool fails the check instead.
pub(crate) fn reference(tool: Reference, check: &str) -> Option<String> {
    assert!(
        REFERENCE_CHECKS.contains(&(tool, check)),
        "{check} needs {tool:?}: list it in support::REFERENCE_CHECKS"
    );
    let tools = reference_tools();
    let probed = tools.iter().find(|p| p.tool == tool).unwrap();
    let Some(why) = &probed.missing else {
        return Some(probed.command.clone());
    };
    if std::env::var_os("SIMGATE_REQUIRE_GAMMU").is_some_and(|v| v == "1") {
        panic!(
            "{} is missing ({why}) and SIMGATE_REQUIRE_GAMMU=1 requires it; install it with \
             `apt-get install python3-gammu gammu-smsd systemd faketime`",
            tool.describe()
        );
    }
    static BANNER: std::sync::Once = std::sync::Once::new();
    BANNER.call_once(|| skipped_banner(tools));
    None
}

/// Written straight to stderr, which libtest does not capture.
fn skipped_banner(tools: &[Probed]) {
    use std::fmt::Write as _;
    let rule = "=".repeat(76);
    let mut text = format!(
        "\n{rule}\nSKIPPED: the checks against the real gammu and systemd (tools missing)\n"
    );
    for probed in tools {
        let Some(why) = &probed.missing else { continue };
        let _ = writeln!(text, "\n  {} is missing: {why}", probed.tool.describe());
        for (_, check) in REFERENCE_CHECKS.iter().filter(|(t, _)| *t == probed.tool) {
            let _ = writeln!(text, "    skipped {check}");
        }
    }
    let _ = write!(
        text,
        "\nTo run them: sudo apt-get install python3-gammu gammu-smsd systemd faketime (Debian,\n\
         Ubuntu; systemd need not run),\n\
         then `cargo test` again. With SIMGATE_REQUIRE_GAMMU=1 a missing tool fails\n\
         the tests instead (.ci/run sets it).\n{rule}\n\n"
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
}

/// `simgate ARGS` (the binary this build made), with nothing on standard
/// input.
pub(crate) fn simgate(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// Waits until `check` holds, looking every 20 ms; fails the test after
/// 60 s of real time (which only a hang reaches; paused tokio time does not
/// count).
pub(crate) async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A fresh spool (inbox, outbox, sent, error) under the temporary folder,
/// named after `name` and this process.
pub(crate) fn fresh_spool(name: &str) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("simgate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    root
}

/// A simgate TOML in `root` for `simgate run` on `device` with the spool,
/// database and log in `root`, plus `extra` (more sections); returns its path.
pub(crate) fn write_spool_config(
    root: &std::path::Path,
    device: &std::path::Path,
    extra: &str,
) -> std::path::PathBuf {
    let config = root.join("simgate.toml");
    std::fs::write(
        &config,
        format!(
            "[modem]\ndevice = \"{}\"\nstatus_interval = \"0s\"\n\n[spool]\n\
             inbox = \"{1}/inbox\"\noutbox = \"{1}/outbox\"\nsent = \"{1}/sent\"\n\
             error = \"{1}/error\"\n\n[database]\npath = \"{1}/simgate.db\"\n\n\
             [log]\nfile = \"{1}/simgate.log\"\n\n{extra}",
            device.display(),
            root.display()
        ),
    )
    .unwrap();
    config
}

/// A waiter's looks at an emulator, counted.
#[derive(Clone, Default)]
pub(crate) struct Looks(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Looks {
    /// One look at a condition that never holds; a waiter that spins is
    /// let go after 1,000 looks, to fail its count rather than hang.
    pub(crate) fn look(&self) -> bool {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 1_000
    }

    fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// How often a waiter on a condition that never holds looked at an
/// emulator, with three real changes a second apart beside it, each after
/// a few snapshots (reads, which must not wake it). `wait` runs the
/// emulator's `wait_for`, looking with [`Looks::look`]; `change` makes one
/// change. Run on paused time: the count does not depend on the machine.
pub(crate) async fn looks_of_a_waiter<Fut: std::future::Future<Output = bool>>(
    wait: impl FnOnce(Looks) -> Fut,
    snapshot: impl Fn(),
    change: impl Fn(u32),
) -> usize {
    let looks = Looks::default();
    let waiter = wait(looks.clone());
    let changes = async {
        for n in 1..=3 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            for _ in 0..5 {
                snapshot();
            }
            change(n);
        }
    };
    let (_, ()) = tokio::join!(waiter, changes);
    looks.count()
}

/// A tmpfs mounted over a folder for the test's life.
pub(crate) struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `kib` KiB on `dir`; `None` where this user may
    /// not mount (not root, or in a container without the right).
    pub(crate) fn mount(dir: &std::path::Path, kib: u32) -> Option<Self> {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "simgate-test"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Self(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system of `dir` with one file; returns it.
pub(crate) fn fill(dir: &std::path::Path) -> PathBuf {
    let filler = dir.join(".filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 4096];
    while std::io::Write::write_all(&mut file, &block).is_ok() {}
    let _ = file.sync_all();
    filler
}

/// A loopback TCP port for a daemon a test starts on a fixed address:
/// free now, and below the kernel's ephemeral range. A port from
/// `bind(0)` is in that range, so between the probe and the daemon's bind
/// any connection another test opens may take it as its local port (one
/// daemon found its webhook port "already in use" that way). Each call in
/// this process gets another port.
pub(crate) fn port_for_a_daemon() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let top = low.saturating_sub(1).max(2048);
    let span = (top - 1024).min(8000);
    let start = std::process::id() * 37;
    loop {
        let offset = (start + NEXT.fetch_add(1, Ordering::SeqCst)) % span;
        let port = u16::try_from(top - offset).unwrap();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
