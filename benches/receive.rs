//! Receive-path benchmarks: `cargo bench --bench receive`.
//!
//! Runs the release `simgate` binary and gammu-smsd 1.42 (the baseline,
//! measured in the same invocation) as child processes, each on its own
//! in-process modem emulator (`Profile::Generic`, a real pty, zero
//! latency), each with its own spool directory under the target directory
//! (a real disk, so fsyncs cost what they cost). Both daemons run with their
//! default timings (gammu: ReceiveFrequency 15 s, LoopSleep 1 s, ...).
//! Messages arrive from the network through `Emulator::inject_deliver`: the
//! emulator stores each one on its SIM and announces it with `+CMTI` as the
//! host's `AT+CNMI` asks.
//!
//! Measured:
//! 1. `+CMTI` → inbox file latency: one single-part SMS-DELIVER (a sender of
//!    its own, so its file name is known) is injected and timed until its
//!    inbox file appears. The appearance is seen with inotify on the inbox
//!    directory (the `notify` crate), timestamped in the watcher's callback.
//!    The bench then waits until the daemon has emptied the SIM, and pauses a
//!    random time before the next sample, so gammu's poll cycle is sampled
//!    at random phases. Median and p90 (nearest rank) of 50 for simgate; of
//!    `SIMGATE_BENCH_GAMMU_SAMPLES` (default 10) for gammu.
//! 2. backlog: 1,000 messages from the network as fast as the SIM (30
//!    entries) allows: injected while there is room; a refused injection
//!    (`StorageFull`, which loses the message on a real SIM) is retried once
//!    the daemon has deleted something (the emulator's `Deleted` event) or
//!    after 10 ms. simgate: until all 1,000 inbox files exist; gammu: a
//!    bounded sample (120 messages or 90 s). Rate in msg/s, the ratio
//!    simgate/gammu, and per message the daemon's CPU time and the AT
//!    commands it sent.
//! 3. disk (after the timed runs, since strace slows the daemon down): for
//!    5 messages received one at a time (1 for gammu) and for a burst of
//!    1,000 as in 2 (gammu: 60 messages or 60 s, after its backlog run),
//!    the daemon's fsync-family calls (strace attached to all its threads)
//!    and the bytes the kernel counted it writing (`write_bytes` of
//!    `/proc/<pid>/io`, its database's WAL and its log included), per
//!    message and as a multiple of the message's own files (its inbox
//!    files; every inbox file that appeared in the window counts). Below
//!    the table: what each sync synced and how many bytes the write calls
//!    wrote into each file.
//!
//! Starting the daemons, their spools and configs, the disk probe and the
//! statistics are in `support` (shared with `benches/daemon.rs`).
//!
//! Knobs (environment): `SIMGATE_BENCH_GAMMU_SAMPLES` (gammu latency
//! samples, default 10), `SIMGATE_BENCH_NO_GAMMU=1` (simgate only),
//! `SIMGATE_BENCH_DIR` (where the spools go: another file system),
//! `SIMGATE_BENCH_LONE_PAUSE_MS` and `SIMGATE_BENCH_DIRTY=1` (as in the
//! daemon bench: the pause between messages received alone, and the pages
//! dirtied split by file). Without
//! strace the fsync counts say "not measured (strace missing)". The disk
//! figures include what the block device under the spools wrote (see the
//! daemon bench).

mod support;

use notify::{RecursiveMode, Watcher};
use simgate::emulator::{EmulatorConfig, EmulatorError, EmulatorEvent, Profile};
use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{
    bench_dir, clock_ticks_per_second, deliver_tpdu, env_number, lone_pause, median, ms,
    percentile, print_header, runtime, wait_until, with_gammu, Disk, DiskProbe, Kind, Pauses,
    Result, Rig, TEXT,
};
use tokio::sync::broadcast::error::RecvError;

const SIMGATE_LATENCY_SAMPLES: usize = 50;
const SIMGATE_MAX_PAUSE: Duration = Duration::from_millis(400);
/// Two of gammu's receive cycles (ReceiveFrequency 15 s): each sample ends
/// just after a poll, so the pause alone sets the phase of the next, and a
/// whole number of cycles keeps that phase uniform.
const GAMMU_MAX_PAUSE: Duration = Duration::from_secs(30);
const BACKLOG: usize = 1_000;
const GAMMU_BACKLOG_SAMPLE: usize = 120;
const GAMMU_BACKLOG_LIMIT: Duration = Duration::from_secs(90);

/// Sender prefixes: each message has a sender of its own, so its inbox file
/// name is known and unique.
const WARM_UP: &str = "+49159";
const LATENCY: &str = "+49151";
const BACKLOG_TAG: &str = "+49152";
const LONE_TAG: &str = "+49153";
const DISK_BURST_TAG: &str = "+49154";
/// Messages received one at a time for the disk figures (gammu-smsd: one).
const LONE: usize = 5;
/// gammu-smsd's disk burst: the messages of a bounded sample.
const GAMMU_DISK_SAMPLE: usize = 60;
const GAMMU_DISK_LIMIT: Duration = Duration::from_secs(60);

fn sender(prefix: &str, n: usize) -> String {
    format!("{prefix}{n:08}")
}

/// What an inbox file of a message from `prefix`… has in its name.
fn marker(prefix: &str) -> String {
    format!("_{prefix}")
}

/// When each inbox file first appeared, from inotify (the watcher's own
/// thread stamps each event as it comes).
struct InboxWatch {
    seen: Arc<Mutex<HashMap<String, Instant>>>,
    overflowed: Arc<Mutex<bool>>,
    _watcher: notify::RecommendedWatcher,
}

impl InboxWatch {
    fn start(dir: &Path) -> Result<InboxWatch> {
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let overflowed = Arc::new(Mutex::new(false));
        let (sink, lost) = (Arc::clone(&seen), Arc::clone(&overflowed));
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let at = Instant::now();
                let Ok(event) = event else {
                    *lost.lock().expect("not poisoned") = true;
                    return;
                };
                if event.need_rescan() {
                    *lost.lock().expect("not poisoned") = true;
                }
                let mut seen = sink.lock().expect("not poisoned");
                for path in &event.paths {
                    // Final names only: simgate writes `.simgate-tmp.*` first.
                    if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                        if name.starts_with("IN") {
                            seen.entry(name.to_owned()).or_insert(at);
                        }
                    }
                }
            })?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(InboxWatch {
            seen,
            overflowed,
            _watcher: watcher,
        })
    }

    /// When the first inbox file with `part` in its name appeared.
    fn first(&self, part: &str) -> Option<Instant> {
        let seen = self.seen.lock().expect("not poisoned");
        seen.iter()
            .filter(|(name, _)| name.contains(part))
            .map(|(_, at)| *at)
            .min()
    }

    /// How many inbox files have `part` in their name, when the first and
    /// the last of them appeared.
    fn tally(&self, part: &str) -> (usize, Option<Instant>, Option<Instant>) {
        let seen = self.seen.lock().expect("not poisoned");
        let times: Vec<Instant> = seen
            .iter()
            .filter(|(name, _)| name.contains(part))
            .map(|(_, at)| *at)
            .collect();
        (
            times.len(),
            times.iter().min().copied(),
            times.iter().max().copied(),
        )
    }

    fn overflowed(&self) -> bool {
        *self.overflowed.lock().expect("not poisoned")
    }
}

/// Inbox files in `dir` with `part` in their name, read from the directory.
fn count_files(dir: &Path, part: &str) -> usize {
    fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("IN") && name.contains(part)
            })
            .count()
    })
}

/// Polls `found` every 2 ms until it gives a value or `limit` passes.
async fn poll_for<T>(limit: Duration, mut found: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = found() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A daemon on its emulator with a watch on its inbox.
struct Receiver {
    rig: Rig,
    watch: InboxWatch,
}

impl Receiver {
    async fn start(kind: Kind, base: &Path) -> Result<Receiver> {
        let rig = Rig::start_with(
            kind,
            base,
            kind.label(),
            EmulatorConfig::new(Profile::Generic),
        )
        .await?;
        let watch = InboxWatch::start(&rig.spool.inbox)?;
        Ok(Receiver { rig, watch })
    }

    fn label(&self) -> &'static str {
        self.rig.daemon.kind.label()
    }

    /// Injects one message and waits for its inbox file, then for the SIM
    /// to be empty; the time from injection to the file.
    async fn one(&mut self, from: &str, limit: Duration) -> Result<Duration> {
        let tpdu = deliver_tpdu(from, &format!("{TEXT} from {from}"))?;
        let part = format!("_{from}_");
        let injected = Instant::now();
        self.rig.emulator.inject_deliver(&tpdu)?;
        let Some(appeared) = poll_for(limit, || self.watch.first(&part)).await else {
            self.rig.daemon.check_alive()?;
            let on_disk = count_files(&self.rig.spool.inbox, &part);
            return Err(format!(
                "{}: no inbox file for {from} within {limit:?} ({on_disk} on disk; see {})",
                self.label(),
                self.rig.spool.root.display()
            )
            .into());
        };
        if !wait_until(limit, || self.rig.emulator.stored().is_empty()).await {
            return Err(format!("{}: the SIM was not emptied after {from}", self.label()).into());
        }
        Ok(appeared.saturating_duration_since(injected))
    }

    /// One message right after the start, so the daemon is known to be up;
    /// the time from the daemon's start until its inbox file appeared.
    async fn warm_up(&mut self, limit: Duration) -> Result<Duration> {
        self.one(&sender(WARM_UP, 0), limit).await?;
        let appeared = self
            .watch
            .first(&marker(WARM_UP))
            .ok_or("warm-up file vanished")?;
        Ok(appeared.saturating_duration_since(self.rig.daemon.started))
    }

    /// `samples` latencies with random pauses up to `max_pause` before each.
    async fn latency(
        &mut self,
        samples: usize,
        max_pause: Duration,
        limit: Duration,
    ) -> Result<Vec<Duration>> {
        let mut pauses = Pauses(0x9E37_79B9_7F4A_7C15);
        let mut results = Vec::with_capacity(samples);
        for n in 0..samples {
            tokio::time::sleep(pauses.next(max_pause)).await;
            results.push(self.one(&sender(LATENCY, n), limit).await?);
        }
        Ok(results)
    }

    /// `count` messages from senders `tag`… as fast as the SIM takes
    /// them; until `stop_after` inbox files exist or `limit` passes.
    async fn backlog(
        &mut self,
        tag: &str,
        count: usize,
        stop_after: usize,
        limit: Duration,
    ) -> Result<Backlog> {
        let tpdus = (0..count)
            .map(|n| {
                let from = sender(tag, n);
                deliver_tpdu(&from, &format!("{TEXT} backlog {n}"))
            })
            .collect::<Result<Vec<_>>>()?;
        let part = marker(tag);
        let mut events = self.rig.emulator.subscribe();
        let ticks_before = self.rig.daemon.cpu_ticks();
        let commands_before = self.rig.emulator.commands().len();
        let start = Instant::now();
        let mut next = 0;
        let mut refused = 0;
        let received = loop {
            while next < count {
                match self.rig.emulator.inject_deliver(&tpdus[next]) {
                    Ok(_) => next += 1,
                    Err(EmulatorError::StorageFull) => {
                        refused += 1;
                        break;
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            let (received, _, _) = self.watch.tally(&part);
            if received >= stop_after || start.elapsed() >= limit {
                break received;
            }
            self.rig.daemon.check_alive()?;
            // Room on the SIM: the daemon deleted something (or 10 ms passed).
            let _ = tokio::time::timeout(Duration::from_millis(10), async {
                loop {
                    match events.recv().await {
                        Ok(EmulatorEvent::Deleted { .. })
                        | Err(RecvError::Lagged(_) | RecvError::Closed) => break,
                        Ok(_) => {}
                    }
                }
            })
            .await;
        };
        let window = start.elapsed();
        // The daemon may still be working through what the burst left (queued
        // +CMTIs): count its CPU time and commands once it has been quiet
        // (no AT command) for 500 ms, or after 30 s.
        let mut quiet_since = (Instant::now(), self.rig.emulator.commands().len());
        let quiet = loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.rig.emulator.commands().len();
            if now != quiet_since.1 {
                quiet_since = (Instant::now(), now);
            } else if quiet_since.0.elapsed() >= Duration::from_millis(500)
                || start.elapsed() >= window + Duration::from_secs(30)
            {
                break quiet_since.0 - start;
            }
        };
        let ticks = match (ticks_before, self.rig.daemon.cpu_ticks()) {
            (Some(before), Some(after)) => Some(after - before),
            _ => None,
        };
        let all_commands = self.rig.emulator.commands();
        let run_commands = &all_commands[commands_before..];
        let commands = run_commands.len();
        let mut kinds: HashMap<String, usize> = HashMap::new();
        for command in run_commands {
            // The command without its arguments' values: `AT+CMGD=`, `AT+CPMS?`.
            let end = command.find(['=', '?']).map_or(command.len(), |i| i + 1);
            *kinds
                .entry(command[..end].to_ascii_uppercase())
                .or_default() += 1;
        }
        let mut kinds: Vec<(String, usize)> = kinds.into_iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let (_, first, last) = self.watch.tally(&part);
        let on_disk = count_files(&self.rig.spool.inbox, &part);
        if on_disk != received {
            eprintln!(
                "{}: inotify saw {received} backlog files, the directory has {on_disk}",
                self.label()
            );
        }
        Ok(Backlog {
            injected: next,
            received,
            elapsed: if received >= stop_after {
                last.map_or(window, |l| l - start)
            } else {
                window
            },
            first: first.map(|f| f - start),
            last: last.map(|l| l - start),
            refused,
            cpu_ticks: ticks,
            commands,
            command_kinds: kinds,
            quiet,
        })
    }

    /// `count` messages, each alone (injected once the one before is in
    /// the inbox and off the SIM, and `pause` has passed), in one disk
    /// window, so a sync one message leaves to the next commit is counted
    /// once either way.
    async fn lone(&mut self, count: usize, pause: Duration, limit: Duration) -> Result<Disk> {
        let before = inbox_sizes(&self.rig.spool.inbox);
        let probe = DiskProbe::start(&self.rig.daemon, &self.rig.spool, "lone-received").await?;
        for n in 0..count {
            self.one(&sender(LONE_TAG, n), limit).await?;
            tokio::time::sleep(pause).await;
        }
        let after = inbox_sizes(&self.rig.spool.inbox);
        probe
            .finish(&self.rig.daemon, after.0 - before.0, after.1 - before.1)
            .await
    }

    /// A backlog (as [`Receiver::backlog`]) in a disk window: per message,
    /// every inbox file that appeared in it (also those of messages the
    /// SIM still held from before).
    async fn burst_disk(
        &mut self,
        count: usize,
        stop_after: usize,
        limit: Duration,
    ) -> Result<Disk> {
        let before = inbox_sizes(&self.rig.spool.inbox);
        let probe = DiskProbe::start(&self.rig.daemon, &self.rig.spool, "burst-received").await?;
        self.backlog(DISK_BURST_TAG, count, stop_after, limit)
            .await?;
        let after = inbox_sizes(&self.rig.spool.inbox);
        probe
            .finish(&self.rig.daemon, after.0 - before.0, after.1 - before.1)
            .await
    }

    async fn stop(self) {
        self.rig.stop().await;
    }
}

/// How many inbox files (named `IN…`; simgate's temporary files are not)
/// `dir` has, and their bytes.
fn inbox_sizes(dir: &Path) -> (usize, u64) {
    fs::read_dir(dir).map_or((0, 0), |entries| {
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("IN"))
            .filter_map(|e| e.metadata().ok())
            .fold((0, 0), |(n, bytes), m| (n + 1, bytes + m.len()))
    })
}

struct Backlog {
    /// Messages the emulator accepted.
    injected: usize,
    /// Inbox files that appeared.
    received: usize,
    /// From the first injection until the last counted file appeared (or
    /// the end of a bounded run that did not reach its count).
    elapsed: Duration,
    /// From the first injection until the first file appeared.
    first: Option<Duration>,
    /// … until the last file appeared.
    last: Option<Duration>,
    /// Injections refused with the SIM full (each retried).
    refused: usize,
    /// The daemon's CPU time from the first injection until it was quiet,
    /// in clock ticks.
    cpu_ticks: Option<u64>,
    /// AT commands the daemon sent from the first injection until it was quiet.
    commands: usize,
    /// Those commands by kind, most frequent first.
    command_kinds: Vec<(String, usize)>,
    /// From the first injection until the daemon's last AT command before
    /// 500 ms of silence.
    quiet: Duration,
}

impl Backlog {
    fn rate(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64()
    }

    /// Messages per second between the first and the last inbox file.
    fn steady_rate(&self) -> Option<f64> {
        let span = self.last?.checked_sub(self.first?)?.as_secs_f64();
        (self.received > 1 && span > 0.0).then(|| (self.received - 1) as f64 / span)
    }
}

#[derive(Default)]
struct Figures {
    startup: Option<Duration>,
    latency: Vec<Duration>,
    backlog: Option<Backlog>,
    hwm_kb: Option<u64>,
    overflowed: bool,
    lone: Option<Disk>,
    burst_disk: Option<Disk>,
}

fn main() -> Result<()> {
    // A filter argument (as `cargo bench -- NAME` passes) is accepted and ignored.
    runtime()?.block_on(bench())
}

async fn bench() -> Result<()> {
    let base = bench_dir("receive-bench")?;
    let gammu_samples = env_number("SIMGATE_BENCH_GAMMU_SAMPLES", 10) as usize;
    let with_gammu = with_gammu();
    let ticks = clock_ticks_per_second();
    print_header("simgate receive benchmark", &base, with_gammu);

    let mut simgate = Figures::default();
    let mut gammu = Figures::default();

    // simgate alone: warm-up, latency, backlog.
    let mut rx = Receiver::start(Kind::Simgate, &base).await?;
    simgate.startup = Some(rx.warm_up(Duration::from_secs(60)).await?);
    println!(
        "simgate up; first inbox file {} after start",
        ms(simgate.startup.unwrap_or_default())
    );
    println!("simgate: +CMTI → inbox file, {SIMGATE_LATENCY_SAMPLES} samples");
    simgate.latency = rx
        .latency(
            SIMGATE_LATENCY_SAMPLES,
            SIMGATE_MAX_PAUSE,
            Duration::from_secs(60),
        )
        .await?;
    println!("simgate: backlog of {BACKLOG}");
    simgate.backlog = Some(
        rx.backlog(BACKLOG_TAG, BACKLOG, BACKLOG, Duration::from_secs(600))
            .await?,
    );
    // Disk figures after the timed runs: strace slows the daemon down.
    println!("simgate: disk, {LONE} messages received one at a time");
    simgate.lone = Some(rx.lone(LONE, lone_pause(), Duration::from_secs(60)).await?);
    println!("simgate: disk, a burst of {BACKLOG}");
    simgate.burst_disk = Some(
        rx.burst_disk(BACKLOG, BACKLOG, Duration::from_secs(900))
            .await?,
    );
    simgate.hwm_kb = rx.rig.daemon.vm_kb("VmHWM");
    simgate.overflowed = rx.watch.overflowed();
    rx.stop().await;

    // gammu-smsd alone afterwards: it polls, so few latency samples and a bounded backlog.
    if with_gammu {
        let mut rx = Receiver::start(Kind::Gammu, &base).await?;
        gammu.startup = Some(rx.warm_up(Duration::from_secs(120)).await?);
        println!(
            "gammu-smsd up; first inbox file {} after start",
            ms(gammu.startup.unwrap_or_default())
        );
        println!(
            "gammu-smsd: +CMTI → inbox file, {gammu_samples} samples (up to ~16 s each, \
             plus pauses up to {} s)",
            GAMMU_MAX_PAUSE.as_secs()
        );
        gammu.latency = rx
            .latency(gammu_samples, GAMMU_MAX_PAUSE, Duration::from_secs(90))
            .await?;
        println!("gammu-smsd: disk, one message received alone (up to ~16 s)");
        gammu.lone = Some(
            rx.lone(1, Duration::from_secs(1), Duration::from_secs(90))
                .await?,
        );
        println!(
            "gammu-smsd: backlog of {BACKLOG}, until {GAMMU_BACKLOG_SAMPLE} received or {} s",
            GAMMU_BACKLOG_LIMIT.as_secs()
        );
        gammu.backlog = Some(
            rx.backlog(
                BACKLOG_TAG,
                BACKLOG,
                GAMMU_BACKLOG_SAMPLE,
                GAMMU_BACKLOG_LIMIT,
            )
            .await?,
        );
        println!(
            "gammu-smsd: disk, a burst until {GAMMU_DISK_SAMPLE} received or {} s",
            GAMMU_DISK_LIMIT.as_secs()
        );
        gammu.burst_disk = Some(
            rx.burst_disk(BACKLOG, GAMMU_DISK_SAMPLE, GAMMU_DISK_LIMIT)
                .await?,
        );
        gammu.hwm_kb = rx.rig.daemon.vm_kb("VmHWM");
        gammu.overflowed = rx.watch.overflowed();
        rx.stop().await;
    }

    report(&mut simgate, &mut gammu, with_gammu, ticks);
    Ok(())
}

fn report(simgate: &mut Figures, gammu: &mut Figures, with_gammu: bool, ticks: u64) {
    let none = || "-".to_owned();
    let latency = |f: &mut Figures, p: Option<f64>| {
        let n = f.latency.len();
        let value = match p {
            None => median(&mut f.latency),
            Some(p) => percentile(&mut f.latency, p),
        };
        value.map_or_else(none, |v| format!("{} (N={n})", ms(v)))
    };
    let throughput = |f: &Figures, steady: bool| {
        f.backlog.as_ref().map_or_else(none, |b| {
            if steady {
                b.steady_rate()
                    .map_or_else(none, |r| format!("{r:.1} msg/s"))
            } else {
                format!(
                    "{:.1} msg/s ({}/{BACKLOG} in {})",
                    b.rate(),
                    b.received,
                    ms(b.elapsed)
                )
            }
        })
    };
    let cpu = |f: &Figures| {
        f.backlog.as_ref().map_or_else(none, |b| match b.cpu_ticks {
            Some(t) if b.received > 0 => format!(
                "{:.2} ms",
                t as f64 * 1000.0 / ticks as f64 / b.received as f64
            ),
            _ => none(),
        })
    };
    let commands = |f: &Figures| {
        f.backlog.as_ref().map_or_else(none, |b| {
            if b.received > 0 {
                format!("{:.1}", b.commands as f64 / b.received as f64)
            } else {
                none()
            }
        })
    };
    let g = |text: String| {
        if with_gammu {
            text
        } else {
            "not measured".to_owned()
        }
    };
    let disk = |d: &Option<Disk>, cell: fn(&Disk) -> String| d.as_ref().map_or_else(none, cell);
    let ratio = match (&simgate.backlog, &gammu.backlog) {
        (Some(s), Some(g)) if g.rate() > 0.0 => format!("{:.0}×", s.rate() / g.rate()),
        _ => none(),
    };

    let rows = [
        (
            "+CMTI → inbox file, median".to_owned(),
            latency(simgate, None),
            g(latency(gammu, None)),
            "< 50 ms",
        ),
        (
            "+CMTI → inbox file, p90".to_owned(),
            latency(simgate, Some(90.0)),
            g(latency(gammu, Some(90.0))),
            "< 100 ms",
        ),
        (
            format!("backlog of {BACKLOG}, first inject → last file"),
            throughput(simgate, false),
            g(throughput(gammu, false)),
            "≥ 10× gammu",
        ),
        (
            "backlog rate, simgate / gammu".to_owned(),
            g(ratio),
            String::new(),
            "≥ 10×",
        ),
        (
            "backlog, first → last inbox file".to_owned(),
            throughput(simgate, true),
            g(throughput(gammu, true)),
            "",
        ),
        (
            "backlog, CPU time per message".to_owned(),
            cpu(simgate),
            g(cpu(gammu)),
            "",
        ),
        (
            "backlog, AT commands per message".to_owned(),
            commands(simgate),
            g(commands(gammu)),
            "",
        ),
        (
            "received alone: fsync-family calls per message".to_owned(),
            disk(&simgate.lone, Disk::syncs_cell),
            g(disk(&gammu.lone, Disk::syncs_cell)),
            "≤ 4",
        ),
        (
            "received alone: bytes written per message".to_owned(),
            disk(&simgate.lone, Disk::bytes_cell),
            g(disk(&gammu.lone, Disk::bytes_cell)),
            "≤ 4× its file",
        ),
        (
            format!("burst of {BACKLOG} received: fsync-family calls per message"),
            disk(&simgate.burst_disk, Disk::syncs_cell),
            g(disk(&gammu.burst_disk, Disk::syncs_cell)),
            "≤ 1",
        ),
        (
            format!("burst of {BACKLOG} received: bytes written per message"),
            disk(&simgate.burst_disk, Disk::bytes_cell),
            g(disk(&gammu.burst_disk, Disk::bytes_cell)),
            "≤ 4× its file",
        ),
    ];
    support::print_table(&rows);
    for (label, f) in [("simgate", &mut *simgate), ("gammu-smsd", &mut *gammu)] {
        if label == "gammu-smsd" && !with_gammu {
            continue;
        }
        if let Some(startup) = f.startup {
            println!(
                "{label}: start → first inbox file (injected at start): {}",
                ms(startup)
            );
        }
        if !f.latency.is_empty() {
            f.latency.sort();
            let min = f.latency[0];
            let max = f.latency[f.latency.len() - 1];
            println!("{label}: latency min {} max {}", ms(min), ms(max));
            if f.latency.len() <= 20 {
                let all: Vec<String> = f.latency.iter().map(|d| ms(*d)).collect();
                println!("{label}: latency samples (sorted) {}", all.join(", "));
            }
        }
        if let Some(b) = &f.backlog {
            println!(
                "{label}: backlog: {} accepted by the SIM, {} injections refused (SIM full, \
                 retried), first inbox file {} after the first injection",
                b.injected,
                b.refused,
                b.first.map_or_else(none, ms)
            );
            let kinds: Vec<String> = b
                .command_kinds
                .iter()
                .take(8)
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            println!(
                "{label}: backlog: {} AT commands until quiet ({} after the first injection): {}",
                b.commands,
                ms(b.quiet),
                kinds.join(", ")
            );
        }
        if let Some(kb) = f.hwm_kb {
            println!(
                "{label}: VmHWM after the runs: {:.1} MB",
                kb as f64 / 1024.0
            );
        }
        for (what, d) in [
            ("disk, received alone", &f.lone),
            ("disk, burst", &f.burst_disk),
        ] {
            if let Some(d) = d {
                println!("{label}: {what}: {}", d.detail());
            }
        }
        if f.overflowed {
            println!("{label}: the inotify watch overflowed or failed: counts may be short");
        }
    }
    if with_gammu {
        println!(
            "gammu-smsd: {} latency samples (each waits for its ReceiveFrequency poll); \
             backlog bounded to {GAMMU_BACKLOG_SAMPLE} messages or {} s; its disk burst to \
             {GAMMU_DISK_SAMPLE} messages or {} s.",
            gammu.latency.len(),
            GAMMU_BACKLOG_LIMIT.as_secs(),
            GAMMU_DISK_LIMIT.as_secs()
        );
    }
    println!("load average at the end: {}", support::load_average());
}
