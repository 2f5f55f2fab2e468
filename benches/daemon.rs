//! Daemon benchmarks: `cargo bench --bench daemon`.
//!
//! Runs the release `simgate` binary and gammu-smsd 1.42 (the baseline,
//! measured in the same invocation) as child processes, each on its own
//! in-process modem emulator (a real pty, zero latency), each with its own
//! spool directory under the target directory (a real disk, so fsyncs cost
//! what they cost). Both daemons run with their default timings.
//!
//! Measured:
//! 1. outbox drop → `AT+CMGS` latency: an outbox file is renamed in (written
//!    elsewhere first, as producers should) and timed until the emulator
//!    receives `AT+CMGS=`. Random pauses between samples, so gammu's 30 s
//!    scan cycle is sampled at random phases. Median of 50 for simgate; 5
//!    for gammu (each takes up to CommTimeout + LoopSleep = 31 s).
//! 2. backlog throughput: 1,000 files renamed into the outbox at once; for
//!    simgate the time until all 1,000 are in sent/, for gammu a bounded
//!    sample (20 messages or 60 s).
//! 3. idle: AT commands the emulator receives per minute and the daemon's
//!    CPU time (utime + stime from /proc) over a window after startup.
//! 4. peak RSS (VmHWM) with 10,000 messages queued and the modem not
//!    registered to a network, so nothing can go out.
//!
//! Knobs (environment): `SIMGATE_BENCH_IDLE_SECS` (idle window, default
//! 120), `SIMGATE_BENCH_GAMMU_SAMPLES` (default 5), `SIMGATE_BENCH_NO_GAMMU=1`
//! (simgate only). The machines are shared and noisy: medians, and the
//! baseline measured in the same run.

use simgate::emulator::{Emulator, EmulatorConfig, EmulatorEvent, Profile};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::{self, error::RecvError};

const RECIPIENT: &str = "+4917612345678";
const TEXT: &str = "simgate benchmark: a short message of 7-bit text";
const SIMGATE_LATENCY_SAMPLES: usize = 50;
const BACKLOG: usize = 1_000;
const GAMMU_BACKLOG_SAMPLE: usize = 20;
const GAMMU_BACKLOG_LIMIT: Duration = Duration::from_secs(60);
const QUEUE_FOR_RSS: usize = 10_000;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Simgate,
    Gammu,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Simgate => "simgate",
            Kind::Gammu => "gammu-smsd",
        }
    }
}

/// An outbox file name in gammu-smsd-inject's long form, sorting by `n`.
fn outbox_name(tag: &str, n: usize) -> String {
    format!("OUTC20240101_120000_00_{RECIPIENT}_{tag}{n:05}.txt")
}

/// One daemon's spool, database and logs.
#[derive(Clone)]
struct Spool {
    root: PathBuf,
    inbox: PathBuf,
    outbox: PathBuf,
    sent: PathBuf,
    error: PathBuf,
    staging: PathBuf,
}

impl Spool {
    fn new(base: &Path, name: &str) -> io::Result<Spool> {
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
    fn stage(&self, tag: &str, count: usize) -> io::Result<Vec<String>> {
        (0..count)
            .map(|n| {
                let name = outbox_name(tag, n);
                fs::write(self.staging.join(&name), format!("{TEXT} {tag}{n}"))?;
                Ok(name)
            })
            .collect()
    }

    /// Renames staged files into outbox/, each one atomically.
    fn drop_staged(&self, names: &[String]) -> io::Result<()> {
        for name in names {
            fs::rename(self.staging.join(name), self.outbox.join(name))?;
        }
        Ok(())
    }

    /// Files in `dir` whose name carries `tag`.
    fn count(dir: &Path, tag: &str) -> usize {
        let marker = format!("_{tag}");
        fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(&marker))
                .count()
        })
    }

    /// Outbox files not yet taken (simgate claims into a hidden directory).
    fn outbox_waiting(&self) -> usize {
        fs::read_dir(&self.outbox).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("OUT"))
                .count()
        })
    }

    fn simgate_config(&self, device: &Path) -> String {
        let p = |path: &Path| path.display().to_string();
        format!(
            "[modem]\ndevice = \"{}\"\n\n[spool]\ninbox = \"{}\"\noutbox = \"{}\"\nsent = \"{}\"\n\
             error = \"{}\"\n\n[database]\npath = \"{}\"\n\n[log]\nfile = \"{}\"\n",
            p(device),
            p(&self.inbox),
            p(&self.outbox),
            p(&self.sent),
            p(&self.error),
            p(&self.root.join("simgate.db")),
            p(&self.root.join("daemon.log")),
        )
    }

    fn gammu_config(&self, device: &Path) -> String {
        let p = |path: &Path| format!("{}/", path.display());
        format!(
            "[gammu]\ndevice = {}\nconnection = at115200\n\n[smsd]\nservice = files\n\
             logfile = {}\ninboxpath = {}\noutboxpath = {}\nsentsmspath = {}\n\
             errorsmspath = {}\n",
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
struct Daemon {
    kind: Kind,
    child: Child,
    started: Instant,
}

impl Daemon {
    fn start(kind: Kind, spool: &Spool, device: &Path) -> io::Result<Daemon> {
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

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("{} exited: {status}", self.kind.label()).into()),
        }
    }

    /// utime + stime of every thread, in clock ticks.
    fn cpu_ticks(&self) -> Option<u64> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        let after_comm = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // Fields 14 and 15 of stat(5); `after_comm` starts at field 3.
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(utime + stime)
    }

    /// A `Vm*:` line of /proc/<pid>/status, in kB.
    fn vm_kb(&self, key: &str) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// SIGTERM, then SIGKILL after 10 s.
    async fn stop(mut self) {
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

/// The release `simgate` binary cargo built for this bench.
fn simgate_binary() -> &'static str {
    env!("CARGO_BIN_EXE_simgate")
}

fn gammu_available() -> bool {
    Command::new("gammu-smsd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Polls `ready` every 5 ms until it holds or `limit` passes.
async fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
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

/// When the next `AT+CMGS=` arrives.
async fn next_cmgs(
    events: &mut broadcast::Receiver<EmulatorEvent>,
    limit: Duration,
) -> Option<Instant> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(EmulatorEvent::CommandReceived(line)))
                if line.to_ascii_uppercase().starts_with("AT+CMGS=") =>
            {
                return Some(Instant::now())
            }
            Ok(Ok(_) | Err(RecvError::Lagged(_))) => continue,
            Ok(Err(RecvError::Closed)) | Err(_) => return None,
        }
    }
}

/// A small deterministic generator for the pauses between samples.
struct Pauses(u64);

impl Pauses {
    fn next(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        max.mul_f64((self.0 % 10_000) as f64 / 10_000.0)
    }
}

fn median(values: &mut [Duration]) -> Option<Duration> {
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

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

/// One daemon with its emulator and spool.
struct Rig {
    emulator: Emulator,
    spool: Spool,
    daemon: Daemon,
}

impl Rig {
    async fn start(kind: Kind, base: &Path, name: &str, registered: bool) -> Result<Rig> {
        let mut config = EmulatorConfig::new(Profile::Generic);
        config.registered = registered;
        let emulator = Emulator::start(config).await?;
        let spool = Spool::new(base, name)?;
        let daemon = Daemon::start(kind, &spool, &emulator.path())?;
        Ok(Rig {
            emulator,
            spool,
            daemon,
        })
    }

    /// Sends one message end to end, so the daemon is known to be up.
    async fn warm_up(&mut self, limit: Duration) -> Result<Duration> {
        let names = self.spool.stage("warm", 1)?;
        self.spool.drop_staged(&names)?;
        let sent = self.spool.sent.join(&names[0]);
        if !wait_until(limit, || sent.exists()).await {
            self.daemon.check_alive()?;
            return Err(format!(
                "{} did not send the warm-up message within {limit:?} (see {})",
                self.daemon.kind.label(),
                self.spool.root.display()
            )
            .into());
        }
        Ok(self.daemon.started.elapsed())
    }

    async fn stop(self) {
        self.daemon.stop().await;
        self.emulator.stop().await;
    }
}

/// Drop → `AT+CMGS` for `samples` messages, with random pauses up to
/// `max_pause` before each.
async fn latency(
    rig: &mut Rig,
    samples: usize,
    max_pause: Duration,
    limit: Duration,
) -> Result<Vec<Duration>> {
    let mut pauses = Pauses(0x9E37_79B9_7F4A_7C15);
    let mut results = Vec::with_capacity(samples);
    for n in 0..samples {
        tokio::time::sleep(pauses.next(max_pause)).await;
        let names = rig.spool.stage(&format!("lat{n:03}_"), 1)?;
        let mut events = rig.emulator.subscribe();
        let dropped = Instant::now();
        rig.spool.drop_staged(&names)?;
        let Some(cmgs) = next_cmgs(&mut events, limit).await else {
            rig.daemon.check_alive()?;
            return Err(format!(
                "{}: no AT+CMGS within {limit:?} of drop {n}",
                rig.daemon.kind.label()
            )
            .into());
        };
        results.push(cmgs - dropped);
        let sent = rig.spool.sent.join(&names[0]);
        if !wait_until(limit, || sent.exists()).await {
            return Err(format!(
                "{}: message {n} never reached sent/",
                rig.daemon.kind.label()
            )
            .into());
        }
    }
    Ok(results)
}

struct Backlog {
    dropped: usize,
    /// Messages counted in sent/.
    sent: usize,
    /// From the drop until the last counted message was in sent/.
    elapsed: Duration,
    /// From the drop until the first was in sent/.
    first: Option<Duration>,
}

impl Backlog {
    fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64()
    }

    /// Messages per second between the first and the last in sent/.
    fn steady_rate(&self) -> Option<f64> {
        let first = self.first?;
        let span = self.elapsed.checked_sub(first)?.as_secs_f64();
        (self.sent > 1 && span > 0.0).then(|| (self.sent - 1) as f64 / span)
    }
}

/// Drops `count` files at once; waits until `stop_after` are in sent/ or
/// `limit` passes.
async fn backlog(
    rig: &mut Rig,
    count: usize,
    stop_after: usize,
    limit: Duration,
) -> Result<Backlog> {
    let tag = "bk";
    let names = rig.spool.stage(tag, count)?;
    let outbox_spool = rig.spool.clone();
    let dropped = Instant::now();
    tokio::task::spawn_blocking(move || outbox_spool.drop_staged(&names)).await??;
    let mut first = None;
    let mut last_count = 0;
    let mut last_change = dropped.elapsed();
    loop {
        let in_sent = Spool::count(&rig.spool.sent, tag);
        let now = dropped.elapsed();
        if in_sent > last_count {
            last_count = in_sent;
            last_change = now;
            if first.is_none() {
                first = Some(now);
            }
        }
        if last_count >= stop_after || now >= limit {
            break;
        }
        rig.daemon.check_alive()?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(Backlog {
        dropped: count,
        sent: last_count,
        elapsed: if last_count >= stop_after {
            last_change
        } else {
            dropped.elapsed()
        },
        first,
    })
}

struct Idle {
    window: Duration,
    commands_per_minute: f64,
    cpu_percent: f64,
    /// One clock tick over the window, in %: the resolution of `cpu_percent`.
    cpu_resolution: f64,
}

struct Snapshot {
    at: Instant,
    commands: usize,
    ticks: u64,
}

fn snapshot(rig: &Rig) -> Result<Snapshot> {
    Ok(Snapshot {
        at: Instant::now(),
        commands: rig.emulator.commands().len(),
        ticks: rig
            .daemon
            .cpu_ticks()
            .ok_or("cannot read /proc/<pid>/stat")?,
    })
}

fn idle_between(before: &Snapshot, after: &Snapshot, ticks_per_second: u64) -> Idle {
    let window = after.at - before.at;
    Idle {
        window,
        commands_per_minute: (after.commands - before.commands) as f64 * 60.0
            / window.as_secs_f64(),
        cpu_percent: (after.ticks - before.ticks) as f64
            / ticks_per_second as f64
            / window.as_secs_f64()
            * 100.0,
        cpu_resolution: 100.0 / ticks_per_second as f64 / window.as_secs_f64(),
    }
}

struct Rss {
    before_kb: u64,
    peak_kb: u64,
    note: String,
}

/// 10,000 messages into the outbox of a daemon whose modem is not
/// registered; VmHWM once the daemon has taken them in.
async fn queue_rss(kind: Kind, base: &Path) -> Result<Rss> {
    let mut rig = Rig::start(kind, base, &format!("{}-rss", kind.label()), false).await?;
    // Let the daemon connect and initialise the modem.
    tokio::time::sleep(Duration::from_secs(8)).await;
    rig.daemon.check_alive()?;
    let before_kb = rig.daemon.vm_kb("VmHWM").unwrap_or(0);
    let names = rig.spool.stage("rss", QUEUE_FOR_RSS)?;
    let mut events = rig.emulator.subscribe();
    let spool = rig.spool.clone();
    let dropped = Instant::now();
    tokio::task::spawn_blocking(move || spool.drop_staged(&names)).await??;
    let note = match kind {
        Kind::Simgate => {
            // Intake is done when every file has been claimed (and so recorded).
            let taken =
                wait_until(Duration::from_secs(300), || rig.spool.outbox_waiting() == 0).await;
            let intake = dropped.elapsed();
            tokio::time::sleep(Duration::from_secs(10)).await;
            if taken {
                format!(
                    "all {QUEUE_FOR_RSS} claimed and recorded after {}, read 10 s later",
                    ms(intake)
                )
            } else {
                format!("{} still unclaimed after 300 s", rig.spool.outbox_waiting())
            }
        }
        Kind::Gammu => {
            // gammu reads the whole outbox on every scan; it scans when it
            // tries to send (at the latest CommTimeout after its last empty scan).
            let scanned = next_cmgs(&mut events, Duration::from_secs(60))
                .await
                .is_some();
            tokio::time::sleep(Duration::from_secs(15)).await;
            if scanned {
                "read 15 s after its first send attempt (it rescans the outbox ~1/s)".to_owned()
            } else {
                "no send attempt within 60 s of the drop".to_owned()
            }
        }
    };
    rig.daemon.check_alive()?;
    let peak_kb = rig.daemon.vm_kb("VmHWM").ok_or("cannot read VmHWM")?;
    rig.stop().await;
    Ok(Rss {
        before_kb,
        peak_kb,
        note,
    })
}

#[derive(Default)]
struct Figures {
    startup: Option<Duration>,
    latency: Vec<Duration>,
    backlog: Option<Backlog>,
    idle: Option<Idle>,
    rss: Option<Rss>,
    hwm_after_run_kb: Option<u64>,
}

fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<()> {
    // A filter argument (as `cargo bench -- NAME` passes) is accepted and ignored.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}

async fn bench() -> Result<()> {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("daemon-bench");
    fs::create_dir_all(&base)?;
    let idle_window = Duration::from_secs(env_number("SIMGATE_BENCH_IDLE_SECS", 120));
    let gammu_samples = env_number("SIMGATE_BENCH_GAMMU_SAMPLES", 5) as usize;
    let with_gammu = std::env::var_os("SIMGATE_BENCH_NO_GAMMU").is_none() && gammu_available();
    let ticks = clock_ticks_per_second();

    println!("simgate daemon benchmark");
    println!("  simgate:    {}", simgate_binary());
    println!(
        "  gammu-smsd: {}",
        if with_gammu {
            Command::new("gammu-smsd")
                .arg("--version")
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|s| s.lines().next().map(str::to_owned))
                .unwrap_or_default()
        } else {
            "not measured (not installed, or SIMGATE_BENCH_NO_GAMMU set)".to_owned()
        }
    );
    println!(
        "  machine:    {} CPUs, load average {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("  spools:     {}", base.display());
    println!("  emulator:   Profile::Generic, zero latency, one per daemon, in this process");
    println!();

    let mut simgate = Figures::default();
    let mut gammu = Figures::default();

    // Start both, warm both up.
    let mut s_rig = Rig::start(Kind::Simgate, &base, "simgate", true).await?;
    simgate.startup = Some(s_rig.warm_up(Duration::from_secs(60)).await?);
    println!(
        "simgate up; first message sent {} after start",
        ms(simgate.startup.unwrap_or_default())
    );
    let mut g_rig = if with_gammu {
        let mut rig = Rig::start(Kind::Gammu, &base, "gammu", true).await?;
        gammu.startup = Some(rig.warm_up(Duration::from_secs(120)).await?);
        println!(
            "gammu-smsd up; first message sent {} after start",
            ms(gammu.startup.unwrap_or_default())
        );
        Some(rig)
    } else {
        None
    };

    // Idle, both at once (each on its own emulator).
    tokio::time::sleep(Duration::from_secs(10)).await;
    println!("idle: measuring for {} s", idle_window.as_secs());
    let s_before = snapshot(&s_rig)?;
    let g_before = g_rig.as_ref().map(snapshot).transpose()?;
    tokio::time::sleep(idle_window).await;
    s_rig.daemon.check_alive()?;
    simgate.idle = Some(idle_between(&s_before, &snapshot(&s_rig)?, ticks));
    if let (Some(rig), Some(before)) = (g_rig.as_mut(), g_before) {
        rig.daemon.check_alive()?;
        gammu.idle = Some(idle_between(&before, &snapshot(rig)?, ticks));
    }

    // simgate: latency and backlog.
    println!("simgate: drop → AT+CMGS, {SIMGATE_LATENCY_SAMPLES} samples");
    simgate.latency = latency(
        &mut s_rig,
        SIMGATE_LATENCY_SAMPLES,
        Duration::from_millis(400),
        Duration::from_secs(60),
    )
    .await?;
    println!("simgate: backlog of {BACKLOG}");
    simgate.backlog = Some(backlog(&mut s_rig, BACKLOG, BACKLOG, Duration::from_secs(600)).await?);
    simgate.hwm_after_run_kb = s_rig.daemon.vm_kb("VmHWM");
    s_rig.stop().await;

    // gammu-smsd: latency (few samples: each may take its 30 s scan cycle) and a bounded backlog.
    if let Some(mut rig) = g_rig.take() {
        println!(
            "gammu-smsd: drop → AT+CMGS, {gammu_samples} samples (up to ~31 s each, plus pauses)"
        );
        gammu.latency = latency(
            &mut rig,
            gammu_samples,
            Duration::from_secs(30),
            Duration::from_secs(90),
        )
        .await?;
        println!(
            "gammu-smsd: backlog of {BACKLOG}, until {GAMMU_BACKLOG_SAMPLE} sent or {} s",
            GAMMU_BACKLOG_LIMIT.as_secs()
        );
        gammu.backlog =
            Some(backlog(&mut rig, BACKLOG, GAMMU_BACKLOG_SAMPLE, GAMMU_BACKLOG_LIMIT).await?);
        gammu.hwm_after_run_kb = rig.daemon.vm_kb("VmHWM");
        rig.stop().await;
    }

    // Peak RSS with 10,000 queued.
    println!("simgate: {QUEUE_FOR_RSS} queued, modem not registered");
    simgate.rss = Some(queue_rss(Kind::Simgate, &base).await?);
    if with_gammu {
        println!("gammu-smsd: {QUEUE_FOR_RSS} queued, modem not registered");
        gammu.rss = Some(queue_rss(Kind::Gammu, &base).await?);
    }

    report(&mut simgate, &mut gammu, with_gammu);
    Ok(())
}

fn report(simgate: &mut Figures, gammu: &mut Figures, with_gammu: bool) {
    let none = || "-".to_owned();
    let latency = |f: &mut Figures| {
        let n = f.latency.len();
        median(&mut f.latency).map_or_else(none, |m| format!("{} (N={n})", ms(m)))
    };
    let throughput = |f: &Figures, steady: bool| {
        f.backlog.as_ref().map_or_else(none, |b| {
            if steady {
                b.steady_rate()
                    .map_or_else(none, |r| format!("{r:.2} msg/s ({} sent)", b.sent))
            } else {
                format!(
                    "{:.1} msg/s ({}/{} in {})",
                    b.rate(),
                    b.sent,
                    b.dropped,
                    ms(b.elapsed)
                )
            }
        })
    };
    let idle_at = |f: &Figures| {
        f.idle.as_ref().map_or_else(none, |i| {
            format!(
                "{:.1}/min ({} s)",
                i.commands_per_minute,
                i.window.as_secs()
            )
        })
    };
    let idle_cpu = |f: &Figures| {
        f.idle.as_ref().map_or_else(none, |i| {
            if i.cpu_percent < i.cpu_resolution {
                format!("< {:.3} % (no clock tick)", i.cpu_resolution)
            } else {
                format!("{:.3} %", i.cpu_percent)
            }
        })
    };
    let rss = |f: &Figures| {
        f.rss
            .as_ref()
            .map_or_else(none, |r| format!("{:.1} MB", r.peak_kb as f64 / 1024.0))
    };
    let g = |text: String| {
        if with_gammu {
            text
        } else {
            "not measured".to_owned()
        }
    };

    let rows = [
        (
            "drop → AT+CMGS, median".to_owned(),
            latency(simgate),
            g(latency(gammu)),
            "< 20 ms",
        ),
        (
            format!("backlog of {BACKLOG}, drop → all in sent/"),
            throughput(simgate, false),
            g(throughput(gammu, false)),
            "≥ 100 msg/s",
        ),
        (
            "backlog, first → last in sent/".to_owned(),
            throughput(simgate, true),
            g(throughput(gammu, true)),
            "",
        ),
        (
            "idle AT commands per minute".to_owned(),
            idle_at(simgate),
            g(idle_at(gammu)),
            "≤ 4/min",
        ),
        (
            "idle CPU (one core)".to_owned(),
            idle_cpu(simgate),
            g(idle_cpu(gammu)),
            "< 0.1 %",
        ),
        (
            format!("peak RSS (VmHWM), {QUEUE_FOR_RSS} queued"),
            rss(simgate),
            g(rss(gammu)),
            "< 10 MB",
        ),
    ];
    println!();
    println!(
        "| {:<38} | {:<34} | {:<34} | {:<11} |",
        "metric", "simgate", "gammu-smsd 1.42", "target"
    );
    println!("|{:-<40}|{:-<36}|{:-<36}|{:-<13}|", "", "", "", "");
    for (metric, s, g, target) in rows {
        println!("| {metric:<38} | {s:<34} | {g:<34} | {target:<11} |");
    }
    println!();
    for (label, f) in [("simgate", &*simgate), ("gammu-smsd", &*gammu)] {
        if label == "gammu-smsd" && !with_gammu {
            continue;
        }
        if let Some(startup) = f.startup {
            println!("{label}: start → warm-up message in sent/: {}", ms(startup));
        }
        if let Some(kb) = f.hwm_after_run_kb {
            println!(
                "{label}: VmHWM after latency + backlog runs: {:.1} MB",
                kb as f64 / 1024.0
            );
        }
        if let Some(b) = &f.backlog {
            if let Some(first) = b.first {
                println!(
                    "{label}: backlog: first message in sent/ {} after the drop",
                    ms(first)
                );
            }
        }
        if let Some(r) = &f.rss {
            println!(
                "{label}: VmHWM before the 10,000-file drop {:.1} MB; peak {}",
                r.before_kb as f64 / 1024.0,
                r.note
            );
        }
    }
    if with_gammu {
        println!(
            "gammu-smsd: {} latency samples only (each waits for its 30 s CommTimeout scan cycle); \
             backlog sample bounded to {GAMMU_BACKLOG_SAMPLE} messages or {} s.",
            gammu.latency.len(),
            GAMMU_BACKLOG_LIMIT.as_secs()
        );
    }
}
