//! What the daemon benchmarks share (`benches/daemon.rs`, `benches/receive.rs`):
//! starting simgate and gammu-smsd as child processes, each on its own
//! in-process modem emulator ([`Rig`]), their spool directories and config
//! files ([`Spool`]), process statistics from `/proc` ([`Daemon`]), the
//! random pauses between samples ([`Pauses`]), medians and percentiles, and
//! the header every benchmark prints.
//!
//! Each bench uses a different part of this module, so unused items are
//! allowed here rather than in each bench.
#![allow(dead_code)]

use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

    /// Renames staged files into outbox/, each one atomically.
    pub(crate) fn drop_staged(&self, names: &[String]) -> io::Result<()> {
        for name in names {
            fs::rename(self.staging.join(name), self.outbox.join(name))?;
        }
        Ok(())
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

/// A daemon running as a child process.
pub(crate) struct Daemon {
    pub(crate) kind: Kind,
    pub(crate) child: Child,
    pub(crate) started: Instant,
}

impl Daemon {
    pub(crate) fn start(kind: Kind, spool: &Spool, device: &Path) -> io::Result<Daemon> {
        let stderr = fs::File::create(spool.root.join("stderr.log"))?;
        let mut command = match kind {
            Kind::Simgate => {
                let config = spool.root.join("simgate.toml");
                fs::write(&config, spool.simgate_config(device))?;
                let mut command = Command::new(simgate_binary());
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

    /// SIGTERM, then SIGKILL after 10 s.
    pub(crate) async fn stop(mut self) {
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

/// A bench's working directory under cargo's target tmp dir, created.
pub(crate) fn bench_dir(name: &str) -> io::Result<PathBuf> {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
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
