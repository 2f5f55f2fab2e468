//! What the daemon benchmarks share (`benches/daemon.rs`, `benches/receive.rs`):
//! starting simgate and gammu-smsd as child processes, each on its own
//! in-process modem emulator ([`Rig`]), their spool directories and config
//! files ([`Spool`]), process statistics from `/proc` ([`Daemon`]), the
//! emulator's events with the time each reached the bench ([`EventLog`]),
//! a stand-in for systemd's notification socket ([`NotifySocket`]), the
//! disk figures ([`DiskProbe`]: fsync-family and write calls traced with
//! strace, bytes written from `/proc/<pid>/io`, split by file on request by
//! `dirty_pages`), the random pauses between samples
//! ([`Pauses`]), medians and percentiles, and the header every benchmark
//! prints.
//!
//! Each bench uses a different part of this module, so unused items are
//! allowed here rather than in each bench.
#![allow(dead_code)]

mod dirty_pages;

use simgate::emulator::{Emulator, EmulatorConfig, EmulatorEvent, Profile};
use simgate::pdu::{plan_text, Address, EncodingPolicy, SmsDeliver, Timestamp};
use std::fs;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) const RECIPIENT: &str = "+4917612345678";
pub(crate) const TEXT: &str = "simgate benchmark: a short message of 7-bit text";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Simgate,
    Gammu,
}

impl Kind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Simgate => "simgate",
            Kind::Gammu => "gammu-smsd",
        }
    }
}

/// An outbox file name in gammu-smsd-inject's long form, sorting by `n`.
pub(crate) fn outbox_name(tag: &str, n: usize) -> String {
    format!("OUTC20240101_120000_00_{RECIPIENT}_{tag}{n:05}.txt")
}

/// A single-part 7-bit SMS-DELIVER TPDU from `from`, for
/// `Emulator::inject_deliver`.
pub(crate) fn deliver_tpdu(from: &str, text: &str) -> Result<Vec<u8>> {
    let plan = plan_text(text, EncodingPolicy::Auto)?;
    let stamp = Timestamp {
        year: 2026,
        month: 11,
        day: 25,
        hour: 20,
        minute: 1,
        second: 0,
        tz_quarters: 4,
    };
    let parts = SmsDeliver::from_plan(&plan, &Address::parse_number(from)?, stamp, 0);
    Ok(parts.first().ok_or("empty plan")?.encode()?)
}

/// One daemon's spool, database and logs.
#[derive(Clone)]
pub(crate) struct Spool {
    pub(crate) root: PathBuf,
    pub(crate) inbox: PathBuf,
    pub(crate) outbox: PathBuf,
    pub(crate) sent: PathBuf,
    pub(crate) error: PathBuf,
    pub(crate) staging: PathBuf,
}

impl Spool {
    /// A fresh spool in `base/name` (whatever was there is removed).
    pub(crate) fn new(base: &Path, name: &str) -> io::Result<Spool> {
        let root = base.join(name);
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        let spool = Spool {
            inbox: root.join("inbox"),
            outbox: root.join("outbox"),
            sent: root.join("sent"),
            error: root.join("error"),
            staging: root.join("staging"),
            root,
        };
        for dir in [
            &spool.inbox,
            &spool.outbox,
            &spool.sent,
            &spool.error,
            &spool.staging,
        ] {
            fs::create_dir_all(dir)?;
        }
        Ok(spool)
    }

    /// Writes `count` messages into staging/ (not yet visible to the daemon).
    pub(crate) fn stage(&self, tag: &str, count: usize) -> io::Result<Vec<String>> {
        (0..count)
            .map(|n| {
                let name = outbox_name(tag, n);
                fs::write(self.staging.join(&name), format!("{TEXT} {tag}{n}"))?;
                Ok(name)
            })
            .collect()
    }

    /// Renames staged files into outbox/, each one atomically; when the
    /// first was in place (the burst's arrival).
    pub(crate) fn drop_staged(&self, names: &[String]) -> io::Result<Instant> {
        let mut first = None;
        for name in names {
            fs::rename(self.staging.join(name), self.outbox.join(name))?;
            first.get_or_insert_with(Instant::now);
        }
        Ok(first.unwrap_or_else(Instant::now))
    }

    /// How many files in `dir` have `part` in their name, and their bytes.
    pub(crate) fn sizes(dir: &Path, part: &str) -> (usize, u64) {
        fs::read_dir(dir).map_or((0, 0), |entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(part))
                .filter_map(|e| e.metadata().ok())
                .fold((0, 0), |(n, bytes), m| (n + 1, bytes + m.len()))
        })
    }

    /// Files in `dir` whose name carries `tag`.
    pub(crate) fn count(dir: &Path, tag: &str) -> usize {
        let marker = format!("_{tag}");
        fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(&marker))
                .count()
        })
    }

    /// Outbox files not yet taken (simgate claims into a hidden directory).
    pub(crate) fn outbox_waiting(&self) -> usize {
        fs::read_dir(&self.outbox).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("OUT"))
                .count()
        })
    }

    /// How many messages simgate has recorded in its database (taken in
    /// from the outbox; the files stay there while they wait).
    pub(crate) fn recorded(&self) -> usize {
        let Ok(db) = rusqlite::Connection::open_with_flags(
            self.root.join("simgate.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            return 0;
        };
        db.query_row("SELECT COUNT(*) FROM outgoing", [], |row| {
            row.get::<_, i64>(0)
        })
        .map_or(0, |n| n as usize)
    }

    /// simgate's TOML: the device and the paths; every timing at its default.
    pub(crate) fn simgate_config(&self, device: &Path) -> String {
        let p = |path: &Path| path.display().to_string();
        format!(
            "[modem]\ndevice = \"{}\"\n\n[spool]\ninbox = \"{}\"\noutbox = \"{}\"\nsent = \"{}\"\n\
             error = \"{}\"\ninbox_format = \"standard\"\n\n[database]\npath = \"{}\"\n\n\
             [log]\nfile = \"{}\"\n",
            p(device),
            p(&self.inbox),
            p(&self.outbox),
            p(&self.sent),
            p(&self.error),
            p(&self.root.join("simgate.db")),
            p(&self.root.join("daemon.log")),
        )
    }

    /// gammu-smsd's gammu-smsdrc: the device and the paths; every timing
    /// (CommTimeout, ReceiveFrequency, LoopSleep, ...) at its default.
    pub(crate) fn gammu_config(&self, device: &Path) -> String {
        let p = |path: &Path| format!("{}/", path.display());
        format!(
            "[gammu]\ndevice = {}\nconnection = at115200\n\n[smsd]\nservice = files\n\
             logfile = {}\ninboxpath = {}\ninboxformat = standard\noutboxpath = {}\n\
             sentsmspath = {}\nerrorsmspath = {}\n",
            device.display(),
            self.root.join("daemon.log").display(),
            p(&self.inbox),
            p(&self.outbox),
            p(&self.sent),
            p(&self.error),
        )
    }
}

/// How a daemon is started beyond its configuration file: what systemd
/// would give it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Launch {
    /// `NOTIFY_SOCKET`: where the daemon sends READY, STATUS, WATCHDOG, ...
    pub(crate) notify_socket: Option<PathBuf>,
    /// `WATCHDOG_USEC`, with `WATCHDOG_PID` the daemon's own pid (simgate
    /// only). sd-notify enables the watchdog only when `WATCHDOG_PID` is
    /// the process's own pid, which is not known before the spawn: the
    /// daemon is then started through `sh -c 'WATCHDOG_PID=$$ exec …'`,
    /// so the shell's pid, which the daemon keeps, is the one given.
    pub(crate) watchdog_usec: Option<u64>,
}

/// A daemon running as a child process.
pub(crate) struct Daemon {
    pub(crate) kind: Kind,
    pub(crate) child: Child,
    pub(crate) started: Instant,
}

impl Daemon {
    pub(crate) fn start(kind: Kind, spool: &Spool, device: &Path) -> io::Result<Daemon> {
        Daemon::launch(kind, spool, device, &Launch::default())
    }

    pub(crate) fn launch(
        kind: Kind,
        spool: &Spool,
        device: &Path,
        launch: &Launch,
    ) -> io::Result<Daemon> {
        let stderr = fs::File::create(spool.root.join("stderr.log"))?;
        let mut command = match kind {
            Kind::Simgate => {
                let config = spool.root.join("simgate.toml");
                fs::write(&config, spool.simgate_config(device))?;
                let mut command = match launch.watchdog_usec {
                    Some(usec) => {
                        let mut command = Command::new("sh");
                        command
                            .arg("-c")
                            .arg(r#"WATCHDOG_PID=$$ exec "$0" "$@""#)
                            .arg(simgate_binary())
                            .env("WATCHDOG_USEC", usec.to_string());
                        command
                    }
                    None => Command::new(simgate_binary()),
                };
                command.arg("run").arg("-c").arg(config);
                command
            }
            Kind::Gammu => {
                let config = spool.root.join("gammu-smsdrc");
                fs::write(&config, spool.gammu_config(device))?;
                let mut command = Command::new("gammu-smsd");
                command.arg("-c").arg(config);
                command
            }
        };
        command.env_remove("NOTIFY_SOCKET");
        if let Some(socket) = &launch.notify_socket {
            command.env("NOTIFY_SOCKET", socket);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(stderr.try_clone()?)
            .stderr(stderr)
            .current_dir(&spool.root)
            .spawn()?;
        Ok(Daemon {
            kind,
            child,
            started: Instant::now(),
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("{} exited: {status}", self.kind.label()).into()),
        }
    }

    /// utime + stime of every thread, in clock ticks.
    pub(crate) fn cpu_ticks(&self) -> Option<u64> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        let after_comm = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // Fields 14 and 15 of stat(5); `after_comm` starts at field 3.
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(utime + stime)
    }

    /// A `Vm*:` line of /proc/<pid>/status, in kB.
    pub(crate) fn vm_kb(&self, key: &str) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Whether the process is the `simgate` binary this bench built (the
    /// full path: other worktrees run simgate benches too), once a daemon
    /// started through `sh` has exec'd.
    pub(crate) fn is_own_simgate(&self) -> bool {
        let exe = fs::read_link(format!("/proc/{}/exe", self.pid()));
        let ours = fs::canonicalize(simgate_binary());
        matches!((exe, ours), (Ok(exe), Ok(ours)) if exe == ours)
    }

    /// The process's I/O counters (`/proc/<pid>/io`).
    pub(crate) fn io(&self) -> Option<IoCounters> {
        let io = fs::read_to_string(format!("/proc/{}/io", self.pid())).ok()?;
        let field = |key: &str| {
            io.lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|rest| rest.trim().parse().ok())
        };
        Some(IoCounters {
            write_bytes: field("write_bytes")?,
            cancelled_write_bytes: field("cancelled_write_bytes")?,
        })
    }

    /// SIGTERM, then waits (on a thread, in `waitpid`) for the process to
    /// end: when the signal was sent, and when the wait returned (the
    /// process had exited: its threads were gone and its exit status was
    /// there to be read), or `None` if it had not after `limit` and was
    /// killed.
    pub(crate) async fn terminate(mut self, limit: Duration) -> Result<(Instant, Option<Instant>)> {
        let pid = nix::unistd::Pid::from_raw(self.pid() as i32);
        let label = self.kind.label();
        let sent = Instant::now();
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let mut waiter = tokio::task::spawn_blocking(move || {
            let status = self.child.wait();
            (status, Instant::now())
        });
        let (status, exited) = match tokio::time::timeout(limit, &mut waiter).await {
            Ok(joined) => {
                let (status, exited) = joined?;
                (status?, Some(exited))
            }
            Err(_) => {
                // Not reaped yet (the waiter still waits), so the pid is still this child's.
                eprintln!("{label} did not stop within {limit:?} of SIGTERM; killing it");
                nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL)?;
                (waiter.await?.0?, None)
            }
        };
        if !status.success() {
            eprintln!("{label} exited on SIGTERM with {status}");
        }
        Ok((sent, exited))
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub(crate) async fn stop(mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return; // reaped: its pid may be another process's by now
        }
        let pid = nix::unistd::Pid::from_raw(self.pid() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.kind.label());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `/proc/<pid>/io` counts of a process's writes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IoCounters {
    /// Bytes the process caused to be sent to the block layer: counted
    /// when a page of a file (or of the file system's metadata) becomes
    /// dirty, so in whole pages (4 KiB), once per page until it is written
    /// back; the fsyncs make that often.
    pub(crate) write_bytes: u64,
    /// Of those, bytes that never reached the disk (a dirty page of a file
    /// truncated or deleted before writeback).
    pub(crate) cancelled_write_bytes: u64,
}

/// The release `simgate` binary cargo built for the bench, or the one
/// `SIMGATE_BENCH_SIMGATE` names (to compare builds, say of two profiles).
pub(crate) fn simgate_binary() -> String {
    std::env::var("SIMGATE_BENCH_SIMGATE")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_simgate").to_owned())
}

/// Whether gammu-smsd is installed and answers `--version`.
pub(crate) fn gammu_available() -> bool {
    Command::new("gammu-smsd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The first line of `gammu-smsd --version`.
pub(crate) fn gammu_version() -> String {
    Command::new("gammu-smsd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_default()
}

/// Whether gammu-smsd is to be measured: installed and not switched off
/// with `SIMGATE_BENCH_NO_GAMMU`.
pub(crate) fn with_gammu() -> bool {
    std::env::var_os("SIMGATE_BENCH_NO_GAMMU").is_none() && gammu_available()
}

pub(crate) fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// The 1, 5 and 15 minute load averages.
pub(crate) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The lines every daemon bench starts with: what runs, on what.
pub(crate) fn print_header(title: &str, base: &Path, with_gammu: bool) {
    println!("{title}");
    println!("  simgate:    {}", simgate_binary());
    println!(
        "  gammu-smsd: {}",
        if with_gammu {
            gammu_version()
        } else {
            "not measured (not installed, or SIMGATE_BENCH_NO_GAMMU set)".to_owned()
        }
    );
    println!(
        "  machine:    {} CPUs, load average {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        load_average()
    );
    println!("  spools:     {}", base.display());
    println!("  emulator:   Profile::Generic, zero latency, one per daemon, in this process");
    println!();
}

/// Prints the figures as a Markdown table: metric, simgate, gammu-smsd,
/// target, each column as wide as its widest cell.
pub(crate) fn print_table(rows: &[(String, String, String, &str)]) {
    let header = ("metric", "simgate", "gammu-smsd 1.42", "target");
    let width = |cell: fn(&(String, String, String, &str)) -> usize, head: &str| {
        rows.iter()
            .map(cell)
            .chain([head.chars().count()])
            .max()
            .unwrap_or(0)
    };
    let w = [
        width(|r| r.0.chars().count(), header.0),
        width(|r| r.1.chars().count(), header.1),
        width(|r| r.2.chars().count(), header.2),
        width(|r| r.3.chars().count(), header.3),
    ];
    println!();
    println!(
        "| {:<a$} | {:<b$} | {:<c$} | {:<d$} |",
        header.0,
        header.1,
        header.2,
        header.3,
        a = w[0],
        b = w[1],
        c = w[2],
        d = w[3]
    );
    println!(
        "|{}|{}|{}|{}|",
        "-".repeat(w[0] + 2),
        "-".repeat(w[1] + 2),
        "-".repeat(w[2] + 2),
        "-".repeat(w[3] + 2)
    );
    for (metric, simgate, gammu, target) in rows {
        println!(
            "| {metric:<a$} | {simgate:<b$} | {gammu:<c$} | {target:<d$} |",
            a = w[0],
            b = w[1],
            c = w[2],
            d = w[3]
        );
    }
    println!();
}

/// A bench's working directory under cargo's target tmp dir, or under
/// `SIMGATE_BENCH_DIR` (another file system: an ext4 with a journal as
/// Raspberry Pi OS has, a tmpfs), created.
pub(crate) fn bench_dir(name: &str) -> io::Result<PathBuf> {
    let root = std::env::var_os("SIMGATE_BENCH_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from);
    let base = root.join(name);
    fs::create_dir_all(&base)?;
    Ok(base)
}

/// A multi-threaded tokio runtime with two workers (the machines have two cores).
pub(crate) fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Polls `ready` every 5 ms until it holds or `limit` passes.
pub(crate) async fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A small deterministic generator for the pauses between samples.
pub(crate) struct Pauses(pub(crate) u64);

impl Pauses {
    pub(crate) fn next(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        max.mul_f64((self.0 % 10_000) as f64 / 10_000.0)
    }
}

/// The median (the mean of the middle two for an even count); sorts `values`.
pub(crate) fn median(values: &mut [Duration]) -> Option<Duration> {
    values.sort();
    if values.is_empty() {
        return None;
    }
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2
    })
}

/// The `p`-th percentile by the nearest-rank method (the smallest value
/// with at least `p` % of the values at or below it); sorts `values`.
pub(crate) fn percentile(values: &mut [Duration], p: f64) -> Option<Duration> {
    values.sort();
    if values.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

/// A duration as milliseconds, or seconds from one second on.
pub(crate) fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

/// A numeric environment knob, `default` when unset or not a number.
pub(crate) fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The pause between two messages of a lone-message disk window:
/// `SIMGATE_BENCH_LONE_PAUSE_MS`, half a second unless set. Past the
/// kernel's `dirty_expire_centisecs` (30 s) plus a flush period (5 s), each
/// message finds the pages the one before dirtied written back, as a
/// message an hour does.
pub(crate) fn lone_pause() -> Duration {
    Duration::from_millis(env_number("SIMGATE_BENCH_LONE_PAUSE_MS", 500))
}

/// One daemon with its emulator and spool.
pub(crate) struct Rig {
    pub(crate) emulator: Emulator,
    pub(crate) spool: Spool,
    pub(crate) daemon: Daemon,
}

impl Rig {
    /// A daemon on a fresh `Profile::Generic` emulator, registered to a
    /// network or not.
    pub(crate) async fn start(
        kind: Kind,
        base: &Path,
        name: &str,
        registered: bool,
    ) -> Result<Rig> {
        let mut config = EmulatorConfig::new(Profile::Generic);
        config.registered = registered;
        Rig::start_with(kind, base, name, config).await
    }

    /// A daemon on a fresh emulator set up as `config` says.
    pub(crate) async fn start_with(
        kind: Kind,
        base: &Path,
        name: &str,
        config: EmulatorConfig,
    ) -> Result<Rig> {
        let emulator = Emulator::start(config).await?;
        let spool = Spool::new(base, name)?;
        let daemon = Daemon::start(kind, &spool, &emulator.path())?;
        Ok(Rig {
            emulator,
            spool,
            daemon,
        })
    }

    /// A daemon on a fresh emulator, started as `launch` says.
    pub(crate) async fn launch(
        kind: Kind,
        base: &Path,
        name: &str,
        config: EmulatorConfig,
        launch: &Launch,
    ) -> Result<Rig> {
        let emulator = Emulator::start(config).await?;
        let spool = Spool::new(base, name)?;
        let daemon = Daemon::launch(kind, &spool, &emulator.path(), launch)?;
        Ok(Rig {
            emulator,
            spool,
            daemon,
        })
    }

    pub(crate) async fn stop(self) {
        self.daemon.stop().await;
        self.emulator.stop().await;
    }
}

/// Where a process's resident memory is, from `/proc/<pid>/smaps` (kB).
///
/// Thread stacks are found by each thread's stack pointer
/// (`/proc/<pid>/task/<tid>/syscall`; a thread that is running has none
/// there, and then a writable mapping right above a guard page counts);
/// glibc's per-thread malloc arenas are the writable mappings that start
/// on a 64 MiB boundary with their reserved rest (`---p`) right after.
#[derive(Debug, Default, Clone)]
pub(crate) struct Memory {
    /// Every resident page.
    pub(crate) total: u64,
    /// The daemon's own executable (text, read-only data, relro, data).
    pub(crate) exe: u64,
    /// Other files: libc, the dynamic loader, locale files.
    pub(crate) libraries: u64,
    /// The main heap (`brk`, glibc's main arena).
    pub(crate) heap: u64,
    /// glibc arenas of other threads.
    pub(crate) arenas: u64,
    /// How many such arenas are mapped.
    pub(crate) arena_count: usize,
    /// Thread stacks, the main thread's included.
    pub(crate) stacks: u64,
    /// Other anonymous memory (large allocations malloc maps on their own).
    pub(crate) other_anon: u64,
    /// Thread names (`comm`), one entry per thread.
    pub(crate) threads: Vec<String>,
}

impl Memory {
    /// The breakdown now, or `None` when `/proc` cannot be read.
    pub(crate) fn of(pid: u32) -> Option<Memory> {
        let smaps = fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        let mut threads = Vec::new();
        let mut stack_pointers = Vec::new();
        for task in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
            let dir = task.path();
            threads.push(
                fs::read_to_string(dir.join("comm"))
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            );
            // "nr arg1..arg6 sp pc" while in a system call.
            let syscall = fs::read_to_string(dir.join("syscall")).unwrap_or_default();
            let fields: Vec<&str> = syscall.split_whitespace().collect();
            if fields.len() == 9 {
                if let Ok(sp) = u64::from_str_radix(fields[7].trim_start_matches("0x"), 16) {
                    stack_pointers.push(sp);
                }
            }
        }
        threads.sort();
        struct Map {
            start: u64,
            end: u64,
            perms: String,
            path: String,
            rss: u64,
        }
        let mut maps: Vec<Map> = Vec::new();
        for line in smaps.lines() {
            let mut fields = line.split_whitespace();
            let Some(first) = fields.next() else { continue };
            if let Some((start, end)) = first.split_once('-') {
                if let (Ok(start), Ok(end)) =
                    (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
                {
                    let perms = fields.next().unwrap_or_default().to_owned();
                    let path = fields.nth(3).unwrap_or_default().to_owned();
                    maps.push(Map {
                        start,
                        end,
                        perms,
                        path,
                        rss: 0,
                    });
                    continue;
                }
            }
            if first == "Rss:" {
                if let (Some(map), Some(kb)) = (maps.last_mut(), fields.next()) {
                    map.rss = kb.parse().unwrap_or(0);
                }
            }
        }
        const ARENA: u64 = 64 << 20;
        let mut memory = Memory {
            threads,
            ..Memory::default()
        };
        for (i, map) in maps.iter().enumerate() {
            memory.total += map.rss;
            let anonymous = map.path.is_empty();
            let reserved_after = maps.get(i + 1).is_some_and(|next| {
                next.start == map.end && next.perms == "---p" && next.path.is_empty()
            });
            let guard_before = i > 0 && {
                let prev = &maps[i - 1];
                prev.end == map.start
                    && prev.perms == "---p"
                    && prev.path.is_empty()
                    && prev.end - prev.start <= 1 << 16
            };
            let holds_sp = stack_pointers
                .iter()
                .any(|&sp| sp >= map.start && sp < map.end);
            if map.path == "[stack]" || (anonymous && (holds_sp || guard_before)) {
                memory.stacks += map.rss;
            } else if map.path == "[heap]" {
                memory.heap += map.rss;
            } else if anonymous
                && map.start % ARENA == 0
                && (reserved_after || map.end - map.start == ARENA)
            {
                memory.arenas += map.rss;
                memory.arena_count += 1;
            } else if anonymous {
                memory.other_anon += map.rss;
            } else if Path::new(&map.path) == exe {
                memory.exe += map.rss;
            } else if !map.path.starts_with('[') {
                memory.libraries += map.rss;
            }
        }
        Some(memory)
    }

    /// One line: each part in MB, and the threads by name.
    pub(crate) fn summary(&self) -> String {
        let mb = |kb: u64| format!("{:.2}", kb as f64 / 1024.0);
        let mut names: Vec<(String, usize)> = Vec::new();
        for name in &self.threads {
            match names.last_mut() {
                Some((last, n)) if last == name => *n += 1,
                _ => names.push((name.clone(), 1)),
            }
        }
        let names: Vec<String> = names
            .into_iter()
            .map(|(name, n)| if n > 1 { format!("{name}×{n}") } else { name })
            .collect();
        format!(
            "RSS {} MB = executable {} + libraries {} + heap {} + {} arenas {} + stacks {} + other anonymous {}; {} threads ({})",
            mb(self.total),
            mb(self.exe),
            mb(self.libraries),
            mb(self.heap),
            self.arena_count,
            mb(self.arenas),
            mb(self.stacks),
            mb(self.other_anon),
            self.threads.len(),
            names.join(", ")
        )
    }
}

/// Every event of an emulator with the time it reached the bench, kept by
/// a task that does nothing else. The emulator runs in this process, so a
/// stamp is the emulator's own moment plus a task switch.
pub(crate) struct EventLog {
    events: Arc<Mutex<Vec<(Instant, EmulatorEvent)>>>,
    lagged: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl EventLog {
    /// Records from now on (subscribed before this returns).
    pub(crate) fn start(emulator: &Emulator) -> EventLog {
        let mut receiver = emulator.subscribe();
        let events = Arc::new(Mutex::new(Vec::new()));
        let lagged = Arc::new(AtomicU64::new(0));
        let (sink, lost) = (Arc::clone(&events), Arc::clone(&lagged));
        let task = tokio::spawn(async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => {
                        let at = Instant::now();
                        sink.lock().expect("not poisoned").push((at, event));
                    }
                    Err(RecvError::Lagged(n)) => {
                        lost.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
        EventLog {
            events,
            lagged,
            task,
        }
    }

    /// When the first command line starting with one of `prefixes` (upper
    /// case) arrived at or after `from`.
    pub(crate) fn first_command(&self, prefixes: &[&str], from: Instant) -> Option<Instant> {
        let events = self.events.lock().expect("not poisoned");
        events.iter().find_map(|(at, event)| match event {
            EmulatorEvent::CommandReceived(line)
                if *at >= from
                    && prefixes
                        .iter()
                        .any(|p| line.to_ascii_uppercase().starts_with(p)) =>
            {
                Some(*at)
            }
            _ => None,
        })
    }

    /// When each command line starting with `prefix` (upper case) arrived
    /// within `window`.
    pub(crate) fn command_times(
        &self,
        prefix: &str,
        window: std::ops::Range<Instant>,
    ) -> Vec<Instant> {
        let events = self.events.lock().expect("not poisoned");
        events
            .iter()
            .filter_map(|(at, event)| match event {
                EmulatorEvent::CommandReceived(line)
                    if window.contains(at) && line.to_ascii_uppercase().starts_with(prefix) =>
                {
                    Some(*at)
                }
                _ => None,
            })
            .collect()
    }

    /// Events the recording task missed (it fell more than the emulator's
    /// channel behind).
    pub(crate) fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A stand-in for systemd's notification socket (`NOTIFY_SOCKET`): a Unix
/// datagram socket read by a thread of its own, which stamps each datagram
/// as it arrives.
pub(crate) struct NotifySocket {
    path: PathBuf,
    received: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NotifySocket {
    pub(crate) fn bind(path: &Path) -> io::Result<NotifySocket> {
        let _ = fs::remove_file(path);
        let socket = UnixDatagram::bind(path)?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, stopped) = (Arc::clone(&received), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut buffer = vec![0; 4096];
            while !stopped.load(Ordering::Relaxed) {
                match socket.recv(&mut buffer) {
                    Ok(n) => {
                        let at = Instant::now();
                        let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                        sink.lock().expect("not poisoned").push((at, text));
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => {
                        eprintln!("notify socket: {e}");
                        break;
                    }
                }
            }
        });
        Ok(NotifySocket {
            path: path.to_owned(),
            received,
            stop,
            thread: Some(thread),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// When the datagrams with the line `line` (`WATCHDOG=1`, `STOPPING=1`)
    /// arrived, in order.
    pub(crate) fn times(&self, line: &str) -> Vec<Instant> {
        let received = self.received.lock().expect("not poisoned");
        received
            .iter()
            .filter(|(_, text)| text.lines().any(|l| l == line))
            .map(|(at, _)| *at)
            .collect()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// The system calls the disk figures count: every way to ask the kernel to
/// put written data on the disk.
pub(crate) const SYNC_CALLS: [&str; 4] = ["fsync", "fdatasync", "syncfs", "sync_file_range"];

/// The calls that write, whose bytes the disk figures sum per file (what
/// the daemon asked to write, beside what the kernel counted).
pub(crate) const WRITE_CALLS: [&str; 5] = ["write", "pwrite64", "writev", "pwritev", "pwritev2"];

/// Whether strace is installed.
pub(crate) fn strace_available() -> bool {
    Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// strace attached to every thread of a running daemon (and to those it
/// starts later: tokio's blocking pool comes and goes), tracing the
/// fsync-family and the write calls. Attached with `-p`, strace stops the
/// daemon at every system call, so it slows it down: never attach it to a
/// timed run.
pub(crate) struct DiskTrace {
    child: Child,
    output: PathBuf,
}

/// What a [`DiskTrace`] saw in a window.
#[derive(Debug, Clone, Default)]
pub(crate) struct TraceCount {
    /// fsync-family calls.
    pub(crate) syncs: usize,
    /// … by name.
    pub(crate) by_call: Vec<(&'static str, usize)>,
    /// … by what they synced ([`disk_target`]), most first.
    pub(crate) by_target: Vec<(String, usize)>,
    /// Bytes the write calls wrote into files (not into the pty, sockets
    /// or pipes), by file ([`disk_target`]), most first.
    pub(crate) written: Vec<(String, u64)>,
}

impl DiskTrace {
    /// Attaches and waits until strace says it has.
    pub(crate) async fn attach(pid: u32, output: &Path) -> Result<DiskTrace> {
        let messages = output.with_extension("stderr");
        let calls: Vec<&str> = SYNC_CALLS.iter().chain(&WRITE_CALLS).copied().collect();
        let mut child = Command::new("strace")
            .arg("-f")
            .arg("-y")
            .arg("-s")
            .arg("0")
            .arg("-p")
            .arg(pid.to_string())
            .arg("-e")
            .arg(format!("trace={}", calls.join(",")))
            .arg("-o")
            .arg(output)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&messages)?)
            .spawn()?;
        let said = || fs::read_to_string(&messages).unwrap_or_default();
        let attached = wait_until(Duration::from_secs(10), || {
            said().contains("attached") || !matches!(child.try_wait(), Ok(None))
        })
        .await;
        if !attached || !said().contains("attached") {
            let _ = child.kill();
            let _ = child.wait();
            let first = said().lines().next().unwrap_or("no answer").to_owned();
            return Err(format!("strace did not attach to {pid}: {first}").into());
        }
        // Threads are attached one by one after the message; give it a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(DiskTrace {
            child,
            output: output.to_owned(),
        })
    }

    /// Detaches (SIGINT: strace lets the daemon go on) and counts.
    pub(crate) async fn finish(self) -> Result<TraceCount> {
        let DiskTrace { mut child, output } = self;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT)?;
        tokio::task::spawn_blocking(move || child.wait()).await??;
        Ok(count_trace(&fs::read_to_string(&output)?))
    }
}

/// Reads strace's output: a line per call (`PID name(FD</path>, …) =
/// result`, the path from `-y`), or two when another thread's call came
/// between (`PID name(FD</path>, … <unfinished ...>`, then `PID <... name
/// resumed>…) = result`). A sync counts where it starts; a write's bytes
/// where its result is.
pub(crate) fn count_trace(trace: &str) -> TraceCount {
    fn add<T: std::ops::AddAssign + Copy>(list: &mut Vec<(String, T)>, key: &str, n: T) {
        match list.iter_mut().find(|(known, _)| known == key) {
            Some(entry) => entry.1 += n,
            None => list.push((key.to_owned(), n)),
        }
    }
    fn result(line: &str) -> Option<u64> {
        line.rsplit_once(") = ")?
            .1
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
    let mut count = TraceCount {
        by_call: SYNC_CALLS.iter().map(|c| (*c, 0)).collect(),
        ..TraceCount::default()
    };
    // Per thread: the file an unfinished write call writes to.
    let mut pending: Vec<(String, Option<String>)> = Vec::new();
    for line in trace.lines() {
        let rest = line.trim_start_matches(|c: char| c.is_ascii_digit());
        let pid = &line[..line.len() - rest.len()];
        let rest = rest.trim_start();
        if let Some(resumed) = rest.strip_prefix("<... ") {
            let name = resumed.split_whitespace().next().unwrap_or("");
            if WRITE_CALLS.contains(&name) {
                if let Some(i) = pending.iter().position(|(p, _)| p == pid) {
                    let (_, target) = pending.swap_remove(i);
                    if let (Some(target), Some(bytes)) = (target, result(rest)) {
                        add(&mut count.written, &target, bytes);
                    }
                }
            }
            continue;
        }
        let Some((name, args)) = rest.split_once('(') else {
            continue;
        };
        let path = args
            .split_once('<')
            .and_then(|(_, rest)| rest.split_once('>'))
            .map(|(path, _)| path);
        if let Some(entry) = count.by_call.iter_mut().find(|(known, _)| *known == name) {
            entry.1 += 1;
            count.syncs += 1;
            let target = path.map_or_else(|| "?".to_owned(), |p| disk_target(Path::new(p)));
            add(&mut count.by_target, &target, 1);
        } else if WRITE_CALLS.contains(&name) {
            // Files only: not the pty (/dev/pts), sockets, pipes or eventfds.
            let target = path
                .filter(|p| p.starts_with('/') && !p.starts_with("/dev/"))
                .map(|p| disk_target(Path::new(p)));
            if rest.ends_with("<unfinished ...>") {
                pending.push((pid.to_owned(), target));
            } else if let (Some(target), Some(bytes)) = (target, result(rest)) {
                add(&mut count.written, &target, bytes);
            }
        }
    }
    count
        .by_target
        .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    count
        .written
        .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    count
}

/// What a path is, in a word: SQLite's files and the log by name, a folder
/// by its name, a message file (renamed or deleted since) by its folder.
fn disk_target(path: &Path) -> String {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let folder = |p: &Path| {
        p.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    };
    if name.contains(".db") || name.ends_with(".log") {
        name
    } else if path.is_dir() {
        format!("{name}/")
    } else {
        format!(
            "a file in {}/",
            path.parent().map(folder).unwrap_or_default()
        )
    }
}

/// The disk figures of a window of a daemon's work: its fsync-family calls
/// and what its write calls wrote ([`DiskTrace`], when strace is
/// installed), the bytes the kernel counted it writing ([`IoCounters`]),
/// and its log file's growth, which those bytes include.
pub(crate) struct DiskProbe {
    trace: std::result::Result<DiskTrace, String>,
    before: IoCounters,
    /// The spool's file system, for [`device_written`].
    root: PathBuf,
    device_before: Option<u64>,
    log: PathBuf,
    log_before: u64,
    started: Instant,
    /// The pages dirtied, by file (`SIMGATE_BENCH_DIRTY=1`).
    dirty: Option<std::result::Result<dirty_pages::DirtyPages, String>>,
}

/// What a [`DiskProbe`] measured, and for how many messages.
#[derive(Debug, Clone)]
pub(crate) struct Disk {
    pub(crate) messages: usize,
    /// The messages' own files: the outbox files of sent messages, the
    /// inbox files of received ones.
    pub(crate) own_bytes: u64,
    /// What strace saw, or why it was not there.
    pub(crate) traced: std::result::Result<TraceCount, String>,
    pub(crate) write_bytes: u64,
    pub(crate) cancelled_write_bytes: u64,
    /// What the block device under the spool wrote ([`device_written`]).
    pub(crate) device_bytes: Option<u64>,
    /// How much the daemon's log file grew.
    pub(crate) log_bytes: u64,
    pub(crate) window: Duration,
    /// The pages the daemon dirtied, by file, when asked for
    /// (`SIMGATE_BENCH_DIRTY=1`): what `write_bytes` counted, split.
    pub(crate) dirty: Option<std::result::Result<dirty_pages::Split, String>>,
}

impl DiskProbe {
    /// strace first, then the counters, so the two see the same window.
    /// `name` names strace's output file in the spool's root.
    pub(crate) async fn start(daemon: &Daemon, spool: &Spool, name: &str) -> Result<DiskProbe> {
        let trace = if strace_available() {
            let output = spool.root.join(format!("{name}.strace"));
            DiskTrace::attach(daemon.pid(), &output)
                .await
                .map_err(|e| format!("not measured ({e})"))
        } else {
            Err("not measured (strace missing)".to_owned())
        };
        let log = spool.root.join("daemon.log");
        // Right before the counters: the two see the same window.
        let dirty =
            dirty_pages::asked().then(|| dirty_pages::DirtyPages::start(daemon.pid(), &spool.root));
        Ok(DiskProbe {
            trace,
            before: daemon.io().ok_or("cannot read /proc/<pid>/io")?,
            device_before: device_written(&spool.root),
            root: spool.root.clone(),
            log_before: fs::metadata(&log).map_or(0, |m| m.len()),
            log,
            started: Instant::now(),
            dirty,
        })
    }

    /// Ends the window: `messages` went through, with `own_bytes` of files.
    pub(crate) async fn finish(
        self,
        daemon: &Daemon,
        messages: usize,
        own_bytes: u64,
    ) -> Result<Disk> {
        let dirty = self
            .dirty
            .map(|probe| probe.and_then(dirty_pages::DirtyPages::finish));
        let after = daemon.io().ok_or("cannot read /proc/<pid>/io")?;
        let window = self.started.elapsed();
        let device_bytes = self
            .device_before
            .zip(device_written(&self.root))
            .map(|(before, after)| after.saturating_sub(before));
        let log_bytes = fs::metadata(&self.log)
            .map_or(0, |m| m.len())
            .saturating_sub(self.log_before);
        let traced = match self.trace {
            Ok(trace) => trace
                .finish()
                .await
                .map_err(|e| format!("not measured ({e})")),
            Err(why) => Err(why),
        };
        Ok(Disk {
            messages,
            own_bytes,
            traced,
            write_bytes: after.write_bytes - self.before.write_bytes,
            cancelled_write_bytes: after.cancelled_write_bytes - self.before.cancelled_write_bytes,
            device_bytes,
            log_bytes,
            window,
            dirty,
        })
    }
}

impl Disk {
    /// fsync-family calls per message.
    pub(crate) fn syncs_cell(&self) -> String {
        match &self.traced {
            Err(why) => why.clone(),
            Ok(_) if self.messages == 0 => "-".to_owned(),
            Ok(t) => format!(
                "{:.2} ({} for {})",
                t.syncs as f64 / self.messages as f64,
                t.syncs,
                self.messages
            ),
        }
    }

    /// Bytes written per message, and as a multiple of its own files.
    pub(crate) fn bytes_cell(&self) -> String {
        if self.messages == 0 || self.own_bytes == 0 {
            return "-".to_owned();
        }
        let per = self.write_bytes as f64 / self.messages as f64;
        let own = self.own_bytes as f64 / self.messages as f64;
        format!("{} ({:.0}× its {})", size(per), per / own, size(own))
    }

    /// The lines below the table: the syncs by call and by what they
    /// synced, the bytes counted, and per message what the write calls
    /// wrote into each file.
    pub(crate) fn detail(&self) -> String {
        let list = |items: Vec<String>| items.join(", ");
        let traced = match &self.traced {
            Ok(t) => {
                let calls = list(
                    t.by_call
                        .iter()
                        .filter(|(_, n)| *n > 0)
                        .map(|(name, n)| format!("{name} {n}"))
                        .collect(),
                );
                let targets = list(
                    t.by_target
                        .iter()
                        .map(|(target, n)| format!("{target} {n}"))
                        .collect(),
                );
                let per = self.messages.max(1) as f64;
                let written = list(
                    t.written
                        .iter()
                        .map(|(target, n)| format!("{target} {}", size(*n as f64 / per)))
                        .collect(),
                );
                format!(
                    "fsync-family calls: {}; write calls per message: {}",
                    if calls.is_empty() {
                        "none".to_owned()
                    } else {
                        format!("{calls} ({targets})")
                    },
                    if written.is_empty() { "none" } else { &written },
                )
            }
            Err(why) => format!("fsync-family and write calls {why}"),
        };
        let device = match self.device_bytes {
            Some(bytes) => format!(
                "; the device under the spool wrote {} ({} a message: everything written \
                 to that file system in the window, its journal and the bench's outbox \
                 files included, flushed with syncfs at both ends)",
                size(bytes as f64),
                size(bytes as f64 / self.messages.max(1) as f64)
            ),
            None => String::new(),
        };
        let dirty = match &self.dirty {
            None => String::new(),
            Some(Ok(split)) => format!(
                "; the pages it dirtied (what the kernel counted), by file: {}",
                split.describe(self.messages)
            ),
            Some(Err(why)) => format!("; the pages it dirtied by file: not measured ({why})"),
        };
        format!(
            "{} message(s) in {}: {traced}; the kernel counted {} written ({} cancelled \
             before writeback){dirty}; the log file grew {}; own files {}{device}",
            self.messages,
            ms(self.window),
            size(self.write_bytes as f64),
            size(self.cancelled_write_bytes as f64),
            size(self.log_bytes as f64),
            size(self.own_bytes as f64),
        )
    }
}

/// Bytes the block device holding `path` has written since boot (its
/// `/sys/dev/block/MAJOR:MINOR/stat`, sectors of 512 bytes), after a
/// `syncfs` of the file system, so what was only dirty is counted too.
/// `None` when the file system is not on a block device (tmpfs, overlay).
fn device_written(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let folder = fs::File::open(path).ok()?;
    nix::unistd::syncfs(&folder).ok()?;
    let dev = folder.metadata().ok()?.dev();
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let stat = fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/stat")).ok()?;
    // The seventh field: sectors written.
    let sectors: u64 = stat.split_whitespace().nth(6)?.parse().ok()?;
    Some(sectors * 512)
}

/// A byte count as B, KiB or MiB.
pub(crate) fn size(bytes: f64) -> String {
    if bytes < 1024.0 {
        format!("{bytes:.0} B")
    } else if bytes < 1024.0 * 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{:.2} MiB", bytes / 1024.0 / 1024.0)
    }
}
