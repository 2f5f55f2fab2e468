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
//!    simgate the time from the first rename until all 1,000 are in sent/,
//!    for gammu a bounded sample (20 messages or 60 s); for both, the first
//!    rename → the first `AT+CMGS`.
//! 3. bursts (simgate; issue 10): 1,000 files renamed at once into a fresh
//!    simgate started as systemd would start it (`WATCHDOG_USEC` = 200 ms,
//!    so it pings every 100 ms, and `NOTIFY_SOCKET` on a datagram socket
//!    the bench reads), after a warm-up message and a second at rest.
//!    Each burst: the first rename → the first `AT+CMGS`; the watchdog's
//!    worst lateness (the gap between two pings beyond 100 ms) over the
//!    burst and over the second at rest before it; the time between
//!    consecutive `AT+CMGS` across an intake turn (after every 32nd send
//!    the loop takes the next slice of files in) and across other turns.
//!    Two kinds, alternating: a `+CMTI` burst injects one SMS after
//!    another (`Emulator::inject_deliver`, the first 50–450 ms after the
//!    renames began, each next 50–150 ms after the one before was read)
//!    until all 1,000 are in sent/, timing each from the injection until
//!    the daemon's first `AT+CMGL`/`AT+CMGR` (counted when fewer than
//!    1,000 messages were recorded then: during the intake), then the
//!    whole burst, then a SIGTERM a second after it, at rest, until the
//!    process has exited; a SIGTERM burst sends SIGTERM 50–450 ms after
//!    the renames began and times it until `STOPPING=1` (the loop served
//!    it) and until the process has exited (`waitpid` returned: the exit
//!    includes closing the device and the database, whose WAL is
//!    checkpointed then, and the runtime's threads ending).
//! 4. disk (after the timed runs, since strace slows the daemon down): for
//!    5 messages sent one at a time (1 for gammu), and for a burst of
//!    1,000 (gammu: the next 20 messages of its backlog), the daemon's
//!    fsync-family calls (strace attached to all its threads) and the bytes
//!    the kernel counted it writing (`write_bytes` of `/proc/<pid>/io`, its
//!    database's WAL and its log included), per message and as a multiple
//!    of the message's own file (the outbox file); for simgate, 5 more
//!    sent one at a time after the burst (its WAL then at its full size,
//!    as in a daemon that has run a while: commits no longer grow it).
//!    Below the table: what each sync synced, how many bytes the write
//!    calls wrote into each file, and what the block device under the
//!    spool wrote in the window (a `syncfs` at both ends; the file
//!    system's journal included, which `/proc/<pid>/io` leaves out). With
//!    `SIMGATE_BENCH_DIR` the spools go on another file system.
//! 5. idle: AT commands the emulator receives per minute and the daemon's
//!    CPU time (utime + stime from /proc) over a window after startup.
//! 6. peak RSS (VmHWM) with 10,000 messages queued and the modem not
//!    registered to a network, so nothing can go out: read 35 s after
//!    every file was recorded, so a timed rescan of the full outbox is in.
//!
//! Knobs (environment): `SIMGATE_BENCH_IDLE_SECS` (idle window, default
//! 120), `SIMGATE_BENCH_GAMMU_SAMPLES` (default 5), `SIMGATE_BENCH_BURSTS`
//! (bursts of each kind, default 5), `SIMGATE_BENCH_NO_GAMMU=1` (simgate
//! only), `SIMGATE_BENCH_ONLY=rss` or `=bursts` (that part alone, simgate
//! only), `SIMGATE_BENCH_ONLY=disk` (the disk figures alone, both
//! daemons), `SIMGATE_BENCH_QUEUE` (files queued for the peak RSS, default
//! 10,000), `SIMGATE_BENCH_SMAPS=1` (print where simgate's memory is then),
//! `SIMGATE_BENCH_SIMGATE` (another simgate binary to run),
//! `SIMGATE_BENCH_DIR` (where the spools go: another file system),
//! `SIMGATE_BENCH_LONE_PAUSE_MS` (between two messages sent alone, default
//! 500; 35,000 lets the kernel write back what each one dirtied before the
//! next), `SIMGATE_BENCH_DIRTY=1` (root: the pages the daemon dirtied in
//! each disk window, split by file through the kernel's
//! `writeback_dirty_folio` tracepoint; `support/dirty_pages.rs`). Without
//! strace the fsync counts say "not measured (strace missing)". The machines are shared and noisy: medians, and the baseline
//! measured in the same run. Starting the daemons, their spools and
//! configs, the disk probe and the statistics are in `support` (shared
//! with `benches/receive.rs`).

mod support;

use simgate::emulator::{EmulatorConfig, EmulatorEvent, Profile};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{
    bench_dir, clock_ticks_per_second, deliver_tpdu, env_number, lone_pause, median, ms,
    percentile, print_header, runtime, wait_until, with_gammu, Disk, DiskProbe, EventLog, Kind,
    Launch, Memory, NotifySocket, Pauses, Result, Rig, Spool, TEXT,
};
use tokio::sync::broadcast::{self, error::RecvError};

const SIMGATE_LATENCY_SAMPLES: usize = 50;
const BACKLOG: usize = 1_000;
const GAMMU_BACKLOG_SAMPLE: usize = 20;
const GAMMU_BACKLOG_LIMIT: Duration = Duration::from_secs(60);
const QUEUE_FOR_RSS: usize = 10_000;
/// `WATCHDOG_USEC` for the bursts: simgate pings at half of it.
const WATCHDOG_USEC: u64 = 200_000;
const WATCHDOG_PERIOD: Duration = Duration::from_micros(WATCHDOG_USEC / 2);
/// A burst's probe goes in this long after the renames began, plus a
/// random part of [`PROBE_SPREAD`].
const PROBE_EARLIEST: Duration = Duration::from_millis(50);
const PROBE_SPREAD: Duration = Duration::from_millis(400);
/// Messages sent one at a time for the disk figures (gammu-smsd: one).
const LONE_SENT: usize = 5;
/// Outbox files simgate takes in per turn of its loop
/// (`src/daemon/state.rs`, `INTAKE_SLICE`): after every 32nd send of a
/// burst, the next turn is an intake.
const INTAKE_SLICE: usize = 32;

/// How long the peak RSS run waits once simgate has recorded every file:
/// past its next timed rescan of the outbox (`scan_interval`, 30 s).
const AFTER_INTAKE: Duration = Duration::from_secs(35);

/// How many files the peak RSS run queues (`SIMGATE_BENCH_QUEUE`, default
/// 10,000).
fn queue_for_rss() -> usize {
    env_number("SIMGATE_BENCH_QUEUE", QUEUE_FOR_RSS as u64) as usize
}

/// Whether to print where the daemon's memory is (`SIMGATE_BENCH_SMAPS=1`).
fn smaps_wanted() -> bool {
    std::env::var_os("SIMGATE_BENCH_SMAPS").is_some()
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

/// Sends one message end to end, so the daemon is known to be up; the
/// time from its start until then.
async fn warm_up(rig: &mut Rig, limit: Duration) -> Result<Duration> {
    let names = rig.spool.stage("warm", 1)?;
    rig.spool.drop_staged(&names)?;
    let sent = rig.spool.sent.join(&names[0]);
    if !wait_until(limit, || sent.exists()).await {
        rig.daemon.check_alive()?;
        return Err(format!(
            "{} did not send the warm-up message within {limit:?} (see {})",
            rig.daemon.kind.label(),
            rig.spool.root.display()
        )
        .into());
    }
    Ok(rig.daemon.started.elapsed())
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
    /// From the first rename until the first `AT+CMGS`.
    first_cmgs: Option<Duration>,
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
    let events = EventLog::start(&rig.emulator);
    let dropped = tokio::task::spawn_blocking(move || outbox_spool.drop_staged(&names)).await??;
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
        first_cmgs: events
            .first_command(&["AT+CMGS="], dropped)
            .map(|at| at - dropped),
        sent: last_count,
        elapsed: if last_count >= stop_after {
            last_change
        } else {
            dropped.elapsed()
        },
        first,
    })
}

/// What a burst probes while the daemon takes the 1,000 files in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// SMS arrive (`+CMTI`), one at a time, until the burst is sent; then
    /// SIGTERM at rest.
    Cmti,
    /// SIGTERM; the burst ends with the daemon.
    Sigterm,
}

/// One burst of [`BACKLOG`] files into a fresh simgate.
#[derive(Debug, Default)]
struct Burst {
    /// First rename → first `AT+CMGS`.
    first_cmgs: Option<Duration>,
    /// First rename → last rename.
    renames: Duration,
    /// The `+CMTI`s of a [`Probe::Cmti`] burst.
    cmti: Vec<CmtiProbe>,
    /// When the SIGTERM went in, after the first rename.
    sigterm_at: Duration,
    /// Messages recorded (taken in) when the daemon stopped: fewer than
    /// [`BACKLOG`] says the intake was on.
    recorded: usize,
    /// SIGTERM → `STOPPING=1` on the notify socket (the loop served it).
    stopping: Option<Duration>,
    /// SIGTERM → the process had exited.
    exited: Option<Duration>,
    /// SIGTERM → exited, at rest after the burst (a [`Probe::Cmti`] burst).
    exited_at_rest: Option<Duration>,
    /// The watchdog's worst lateness from the first rename until the last
    /// message was in sent/ (or the SIGTERM).
    watchdog: Option<Watchdog>,
    /// … and in the second before the drop, at rest.
    watchdog_at_rest: Option<Watchdog>,
    /// First rename → all [`BACKLOG`] in sent/ (a [`Probe::Cmti`] burst).
    all_sent: Option<Duration>,
    /// Time between two consecutive `AT+CMGS` across an intake turn (after
    /// every [`INTAKE_SLICE`]th send: the loop then takes the next slice in).
    intake_gaps: Vec<Duration>,
    /// … and across every other turn: a send, a `+CMTI`'s reading.
    other_gaps: Vec<Duration>,
    /// Emulator events the bench missed (its recorder fell behind).
    lagged: u64,
}

/// One `+CMTI` during a burst.
#[derive(Debug, Clone, Copy)]
struct CmtiProbe {
    /// When it was injected, after the first rename.
    at: Duration,
    /// Injection → the first `AT+CMGL`/`AT+CMGR` after it.
    served: Option<Duration>,
    /// Fewer than [`BACKLOG`] messages were recorded once it was served.
    during_intake: bool,
}

#[derive(Debug, Clone, Copy)]
struct Watchdog {
    /// The longest wait beyond the period for a ping.
    worst: Duration,
    /// Pings in the window.
    pings: usize,
}

/// The watchdog's lateness over `from..to`: each ping's gap to the one
/// before (the last before `from` included) beyond `period`, and the wait
/// from the last ping to `to`. simgate's watchdog interval delays its next
/// tick after a late one (`MissedTickBehavior::Delay`), so each gap is
/// what one ping was late.
fn watchdog_lateness(
    pings: &[Instant],
    from: Instant,
    to: Instant,
    period: Duration,
) -> Option<Watchdog> {
    let mut previous = pings.iter().rev().find(|p| **p < from).copied()?;
    let mut worst = Duration::ZERO;
    let mut count = 0;
    for &ping in pings.iter().filter(|p| (from..=to).contains(*p)) {
        worst = worst.max((ping - previous).saturating_sub(period));
        previous = ping;
        count += 1;
    }
    worst = worst.max(
        to.saturating_duration_since(previous)
            .saturating_sub(period),
    );
    Some(Watchdog {
        worst,
        pings: count,
    })
}

/// A fresh simgate, with systemd's watchdog and notification socket,
/// warmed up; a second at rest; then [`BACKLOG`] files renamed into its
/// outbox at once, and `probe` sent in `delay` after the renames began.
async fn burst(base: &Path, n: usize, probe: Probe, delay: Duration) -> Result<Burst> {
    let name = format!("burst-{n}");
    let socket = NotifySocket::bind(&base.join(format!("{name}.notify")))?;
    let launch = Launch {
        notify_socket: Some(socket.path().to_owned()),
        watchdog_usec: Some(WATCHDOG_USEC),
    };
    let config = EmulatorConfig::new(Profile::Generic);
    let mut rig = Rig::launch(Kind::Simgate, base, &name, config, &launch).await?;
    warm_up(&mut rig, Duration::from_secs(60)).await?;
    if !rig.daemon.is_own_simgate() {
        return Err(format!(
            "pid {} is not {}",
            rig.daemon.pid(),
            support::simgate_binary()
        )
        .into());
    }
    let names = rig.spool.stage("bu", BACKLOG)?;
    let rest_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rest_to = Instant::now();

    let events = EventLog::start(&rig.emulator);
    let spool = rig.spool.clone();
    let began = Instant::now();
    let dropping = tokio::task::spawn_blocking(move || {
        let first = spool.drop_staged(&names);
        first.map(|first| (first, Instant::now()))
    });
    let mut figures = Burst::default();
    let rest = (rest_from, rest_to);
    let mut pauses = Pauses(0x2545_F491_4F6C_DD1D ^ n as u64);
    match probe {
        Probe::Cmti => {
            // One +CMTI after another (each once the one before was read),
            // at random moments, until the burst is sent.
            let (first, last) = dropping.await??;
            figures.renames = last - first;
            let mut at = began + delay;
            let all_sent = loop {
                tokio::time::sleep_until(at.into()).await;
                if Spool::count(&rig.spool.sent, "bu") >= BACKLOG {
                    break true;
                }
                if began.elapsed() > Duration::from_secs(600) {
                    rig.daemon.check_alive()?;
                    break false;
                }
                let from = format!("+49158{:08}", figures.cmti.len());
                let tpdu = deliver_tpdu(&from, &format!("{TEXT} in a burst"))?;
                let injected = Instant::now();
                rig.emulator.inject_deliver(&tpdu)?;
                let read = ["AT+CMGL", "AT+CMGR"];
                let served = poll_instant(Duration::from_secs(30), || {
                    events.first_command(&read, injected)
                })
                .await;
                let recorded = rig.spool.recorded();
                figures.cmti.push(CmtiProbe {
                    at: injected.saturating_duration_since(first),
                    served: served.map(|s| s - injected),
                    during_intake: recorded < BACKLOG,
                });
                at = Instant::now() + PROBE_EARLIEST + pauses.next(PROBE_SPREAD / 4);
            };
            let end = Instant::now();
            if all_sent {
                figures.all_sent = Some(end - first);
            }
            observe(&mut figures, &events, &socket, first..end, rest);
            drop(events);
            // And SIGTERM at rest, a second after the burst.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Rig {
                emulator, daemon, ..
            } = rig;
            let (signalled, exited) = daemon.terminate(Duration::from_secs(20)).await?;
            figures.exited_at_rest = exited.map(|at| at - signalled);
            emulator.stop().await;
        }
        Probe::Sigterm => {
            tokio::time::sleep_until((began + delay).into()).await;
            let Rig {
                emulator,
                spool,
                daemon,
            } = rig;
            let (signalled, exited) = daemon.terminate(Duration::from_secs(20)).await?;
            let (first, last) = dropping.await??;
            figures.renames = last - first;
            figures.sigterm_at = signalled.saturating_duration_since(first);
            figures.exited = exited.map(|at| at - signalled);
            figures.stopping = socket
                .times("STOPPING=1")
                .first()
                .map(|at| at.saturating_duration_since(signalled));
            figures.recorded = spool.recorded();
            observe(&mut figures, &events, &socket, first..signalled, rest);
            drop(events);
            emulator.stop().await;
        }
    }
    Ok(figures)
}

/// What every burst measures over `window` (first rename → its end): the
/// first `AT+CMGS` and the watchdog, which is also measured at `rest`.
fn observe(
    figures: &mut Burst,
    events: &EventLog,
    socket: &NotifySocket,
    window: std::ops::Range<Instant>,
    rest: (Instant, Instant),
) {
    figures.first_cmgs = events
        .first_command(&["AT+CMGS="], window.start)
        .filter(|at| *at <= window.end)
        .map(|at| at - window.start);
    let sends = events.command_times("AT+CMGS=", window.clone());
    for (n, pair) in sends.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        if (n + 1) % INTAKE_SLICE == 0 {
            figures.intake_gaps.push(gap);
        } else {
            figures.other_gaps.push(gap);
        }
    }
    let pings = socket.times("WATCHDOG=1");
    figures.watchdog = watchdog_lateness(&pings, window.start, window.end, WATCHDOG_PERIOD);
    figures.watchdog_at_rest = watchdog_lateness(&pings, rest.0, rest.1, WATCHDOG_PERIOD);
    figures.lagged = events.lagged();
}

/// Polls `found` every millisecond until it gives a time or `limit` passes.
async fn poll_instant(
    limit: Duration,
    mut found: impl FnMut() -> Option<Instant>,
) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(at) = found() {
            return Some(at);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// simgate's lone-send window: [`LONE_SENT`] messages, [`lone_pause`]
/// apart.
async fn simgate_lone_sent(rig: &mut Rig) -> Result<Disk> {
    lone_sent(rig, LONE_SENT, lone_pause(), Duration::from_secs(60)).await
}

/// `count` messages, each alone: dropped once the one before is in sent/
/// and `pause` has passed; one disk window for them all, so a sync one
/// message leaves to the next commit is counted once either way.
async fn lone_sent(rig: &mut Rig, count: usize, pause: Duration, limit: Duration) -> Result<Disk> {
    let names = rig.spool.stage("one", count)?;
    let own = names
        .iter()
        .map(|n| fs::metadata(rig.spool.staging.join(n)).map_or(0, |m| m.len()))
        .sum();
    let probe = DiskProbe::start(&rig.daemon, &rig.spool, "lone-sent").await?;
    for name in &names {
        rig.spool.drop_staged(std::slice::from_ref(name))?;
        let sent = rig.spool.sent.join(name);
        if !wait_until(limit, || sent.exists()).await {
            rig.daemon.check_alive()?;
            return Err(format!(
                "{}: {name} not in sent/ within {limit:?}",
                rig.daemon.kind.label()
            )
            .into());
        }
        tokio::time::sleep(pause).await;
    }
    probe.finish(&rig.daemon, count, own).await
}

/// [`BACKLOG`] files at once with strace attached (a run of its own:
/// strace stops the daemon at every system call): until all are in sent/,
/// and a second more.
async fn burst_sent(rig: &mut Rig, limit: Duration) -> Result<Disk> {
    let tag = "dk";
    let names = rig.spool.stage(tag, BACKLOG)?;
    let probe = DiskProbe::start(&rig.daemon, &rig.spool, "burst-sent").await?;
    let spool = rig.spool.clone();
    tokio::task::spawn_blocking(move || spool.drop_staged(&names)).await??;
    if !wait_until(limit, || Spool::count(&rig.spool.sent, tag) >= BACKLOG).await {
        rig.daemon.check_alive()?;
        return Err(format!("simgate: the disk burst was not sent within {limit:?}").into());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (sent, own) = Spool::sizes(&rig.spool.sent, &format!("_{tag}"));
    probe.finish(&rig.daemon, sent, own).await
}

/// gammu-smsd after its backlog run, with what is left of the backlog in
/// its outbox: a disk window until `more` further messages are in sent/ or
/// `limit` passes.
async fn backlog_sent_on(rig: &mut Rig, more: usize, limit: Duration) -> Result<Disk> {
    let marker = "_bk";
    let (before, before_bytes) = Spool::sizes(&rig.spool.sent, marker);
    let probe = DiskProbe::start(&rig.daemon, &rig.spool, "backlog-sent").await?;
    wait_until(limit, || {
        Spool::count(&rig.spool.sent, "bk") >= before + more
    })
    .await;
    rig.daemon.check_alive()?;
    let (after, after_bytes) = Spool::sizes(&rig.spool.sent, marker);
    probe
        .finish(&rig.daemon, after - before, after_bytes - before_bytes)
        .await
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

/// 10,000 messages (`SIMGATE_BENCH_QUEUE`) into the outbox of a daemon
/// whose modem is not registered; VmHWM once the daemon has taken them in.
/// With `SIMGATE_BENCH_SMAPS=1`, also where simgate's memory is
/// ([`Memory`]) before the drop, at the largest RSS seen while it takes
/// the files in (sampled every 250 ms), and at the end.
async fn queue_rss(kind: Kind, base: &Path) -> Result<Rss> {
    let queue = queue_for_rss();
    let smaps = smaps_wanted() && kind == Kind::Simgate;
    let mut rig = Rig::start(kind, base, &format!("{}-rss", kind.label()), false).await?;
    // Let the daemon connect and initialise the modem.
    tokio::time::sleep(Duration::from_secs(8)).await;
    rig.daemon.check_alive()?;
    let before_kb = rig.daemon.vm_kb("VmHWM").unwrap_or(0);
    let pid = rig.daemon.pid();
    if smaps {
        if let Some(memory) = Memory::of(pid) {
            println!("before the drop: {}", memory.summary());
        }
    }
    let names = rig.spool.stage("rss", queue)?;
    let mut events = rig.emulator.subscribe();
    let spool = rig.spool.clone();
    let dropped = Instant::now();
    tokio::task::spawn_blocking(move || spool.drop_staged(&names)).await??;
    let note = match kind {
        Kind::Simgate => {
            // Intake is done when every file is recorded (the files stay
            // in the outbox while their messages wait).
            let mut largest: Option<Memory> = None;
            let mut polls = 0u32;
            let taken = wait_until(Duration::from_secs(300), || {
                polls += 1;
                if smaps && polls.is_multiple_of(50) {
                    if let Some(memory) = Memory::of(pid) {
                        if largest.as_ref().is_none_or(|l| memory.total > l.total) {
                            largest = Some(memory);
                        }
                    }
                }
                rig.spool.recorded() >= queue
            })
            .await;
            let intake = dropped.elapsed();
            // Then long enough for a timed rescan (every 30 s by default)
            // with everything queued: it lists the whole outbox.
            tokio::time::sleep(AFTER_INTAKE).await;
            if let Some(memory) = largest {
                println!("largest during intake: {}", memory.summary());
            }
            if smaps {
                if let Some(memory) = Memory::of(pid) {
                    println!(
                        "{} s after intake: {}",
                        AFTER_INTAKE.as_secs(),
                        memory.summary()
                    );
                }
            }
            if taken {
                format!(
                    "all {queue} recorded after {}, read {} s later",
                    ms(intake),
                    AFTER_INTAKE.as_secs()
                )
            } else {
                format!("{} recorded after 300 s", rig.spool.recorded())
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
    /// simgate: the bursts, each into a fresh daemon.
    bursts: Vec<(Probe, Burst)>,
    /// gammu-smsd: SIGTERM → exited, at the end of its backlog run.
    backlog_exit: Option<Option<Duration>>,
    lone_sent: Option<Disk>,
    burst_sent: Option<Disk>,
    /// simgate: messages sent alone again after the burst, its WAL at
    /// its full size (as in a daemon that has run a while).
    lone_sent_later: Option<Disk>,
    idle: Option<Idle>,
    rss: Option<Rss>,
    hwm_after_run_kb: Option<u64>,
}

fn main() -> Result<()> {
    // A filter argument (as `cargo bench -- NAME` passes) is accepted and ignored.
    runtime()?.block_on(bench())
}

async fn bench() -> Result<()> {
    let base = bench_dir("daemon-bench")?;
    let idle_window = Duration::from_secs(env_number("SIMGATE_BENCH_IDLE_SECS", 120));
    let gammu_samples = env_number("SIMGATE_BENCH_GAMMU_SAMPLES", 5) as usize;
    let bursts = env_number("SIMGATE_BENCH_BURSTS", 5) as usize;
    let with_gammu = with_gammu();
    let ticks = clock_ticks_per_second();
    print_header("simgate daemon benchmark", &base, with_gammu);
    // SIMGATE_BENCH_ONLY=rss: just the peak RSS with 10,000 queued
    // (SIMGATE_BENCH_QUEUE), simgate only.
    if std::env::var("SIMGATE_BENCH_ONLY").as_deref() == Ok("rss") {
        let rss = queue_rss(Kind::Simgate, &base).await?;
        println!(
            "simgate: VmHWM {:.1} MB before the drop, {:.1} MB peak; {}",
            rss.before_kb as f64 / 1024.0,
            rss.peak_kb as f64 / 1024.0,
            rss.note
        );
        return Ok(());
    }

    let mut simgate = Figures::default();
    let mut gammu = Figures::default();
    // SIMGATE_BENCH_ONLY=disk: just the disk figures, simgate's and
    // gammu-smsd's (its lone message and its backlog's next 20).
    if std::env::var("SIMGATE_BENCH_ONLY").as_deref() == Ok("disk") {
        disk_only(&mut simgate, &mut gammu, &base, with_gammu).await?;
        report(&mut simgate, &mut gammu, with_gammu);
        return Ok(());
    }
    // SIMGATE_BENCH_ONLY=bursts: just the bursts, simgate only.
    let only_bursts = std::env::var("SIMGATE_BENCH_ONLY").as_deref() == Ok("bursts");
    if only_bursts {
        bursts_into(&mut simgate, &base, bursts).await?;
        report(&mut simgate, &mut gammu, false);
        return Ok(());
    }

    // Start both, warm both up.
    let mut s_rig = Rig::start(Kind::Simgate, &base, "simgate", true).await?;
    simgate.startup = Some(warm_up(&mut s_rig, Duration::from_secs(60)).await?);
    println!(
        "simgate up; first message sent {} after start",
        ms(simgate.startup.unwrap_or_default())
    );
    let mut g_rig = if with_gammu {
        let mut rig = Rig::start(Kind::Gammu, &base, "gammu", true).await?;
        gammu.startup = Some(warm_up(&mut rig, Duration::from_secs(120)).await?);
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

    // simgate: disk figures (strace slows the daemon: after the timed runs).
    println!("simgate: disk, {LONE_SENT} messages sent one at a time");
    simgate.lone_sent = Some(simgate_lone_sent(&mut s_rig).await?);
    println!("simgate: disk, a burst of {BACKLOG}");
    simgate.burst_sent = Some(burst_sent(&mut s_rig, Duration::from_secs(900)).await?);
    println!("simgate: disk, {LONE_SENT} messages sent one at a time after the burst");
    simgate.lone_sent_later = Some(simgate_lone_sent(&mut s_rig).await?);
    s_rig.stop().await;

    // simgate: bursts into fresh daemons, probed while the files are taken in.
    bursts_into(&mut simgate, &base, bursts).await?;

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
        println!("gammu-smsd: disk, one message sent alone (up to ~31 s)");
        gammu.lone_sent =
            Some(lone_sent(&mut rig, 1, Duration::from_secs(1), Duration::from_secs(90)).await?);
        println!(
            "gammu-smsd: backlog of {BACKLOG}, until {GAMMU_BACKLOG_SAMPLE} sent or {} s",
            GAMMU_BACKLOG_LIMIT.as_secs()
        );
        gammu.backlog =
            Some(backlog(&mut rig, BACKLOG, GAMMU_BACKLOG_SAMPLE, GAMMU_BACKLOG_LIMIT).await?);
        gammu.hwm_after_run_kb = rig.daemon.vm_kb("VmHWM");
        println!(
            "gammu-smsd: disk, the backlog's next {GAMMU_BACKLOG_SAMPLE} messages or {} s",
            GAMMU_BACKLOG_LIMIT.as_secs()
        );
        gammu.burst_sent =
            Some(backlog_sent_on(&mut rig, GAMMU_BACKLOG_SAMPLE, GAMMU_BACKLOG_LIMIT).await?);
        // SIGTERM with the rest of the backlog waiting.
        let Rig {
            emulator, daemon, ..
        } = rig;
        let (signalled, exited) = daemon.terminate(Duration::from_secs(60)).await?;
        gammu.backlog_exit = Some(exited.map(|at| at - signalled));
        emulator.stop().await;
    }

    // Peak RSS with 10,000 queued.
    println!("simgate: {} queued, modem not registered", queue_for_rss());
    simgate.rss = Some(queue_rss(Kind::Simgate, &base).await?);
    if with_gammu {
        println!(
            "gammu-smsd: {} queued, modem not registered",
            queue_for_rss()
        );
        gammu.rss = Some(queue_rss(Kind::Gammu, &base).await?);
    }

    report(&mut simgate, &mut gammu, with_gammu);
    Ok(())
}

/// The disk figures alone (`SIMGATE_BENCH_ONLY=disk`), as the whole run
/// takes them, without the timed runs before them: simgate's lone
/// messages and burst, then gammu-smsd's lone message and the 20 after
/// the first 20 of its backlog.
async fn disk_only(
    simgate: &mut Figures,
    gammu: &mut Figures,
    base: &Path,
    with_gammu: bool,
) -> Result<()> {
    let mut rig = Rig::start(Kind::Simgate, base, "simgate", true).await?;
    warm_up(&mut rig, Duration::from_secs(60)).await?;
    println!("simgate: disk, {LONE_SENT} messages sent one at a time");
    simgate.lone_sent = Some(simgate_lone_sent(&mut rig).await?);
    println!("simgate: disk, a burst of {BACKLOG}");
    simgate.burst_sent = Some(burst_sent(&mut rig, Duration::from_secs(900)).await?);
    println!("simgate: disk, {LONE_SENT} messages sent one at a time after the burst");
    simgate.lone_sent_later = Some(simgate_lone_sent(&mut rig).await?);
    rig.stop().await;
    if !with_gammu {
        return Ok(());
    }
    let mut rig = Rig::start(Kind::Gammu, base, "gammu", true).await?;
    warm_up(&mut rig, Duration::from_secs(120)).await?;
    println!("gammu-smsd: disk, one message sent alone (up to ~31 s)");
    gammu.lone_sent =
        Some(lone_sent(&mut rig, 1, Duration::from_secs(1), Duration::from_secs(90)).await?);
    println!("gammu-smsd: backlog of {BACKLOG}, until {GAMMU_BACKLOG_SAMPLE} sent");
    backlog(&mut rig, BACKLOG, GAMMU_BACKLOG_SAMPLE, GAMMU_BACKLOG_LIMIT).await?;
    println!("gammu-smsd: disk, the backlog's next {GAMMU_BACKLOG_SAMPLE} messages");
    gammu.burst_sent =
        Some(backlog_sent_on(&mut rig, GAMMU_BACKLOG_SAMPLE, GAMMU_BACKLOG_LIMIT).await?);
    rig.stop().await;
    Ok(())
}

/// `count` bursts of each kind, alternating, each into a fresh simgate.
async fn bursts_into(simgate: &mut Figures, base: &Path, count: usize) -> Result<()> {
    let mut pauses = Pauses(0xD1B5_4A32_D192_ED03);
    for n in 0..count {
        for probe in [Probe::Cmti, Probe::Sigterm] {
            let delay = PROBE_EARLIEST + pauses.next(PROBE_SPREAD);
            println!(
                "simgate: burst {} of {count}, {probe:?} {} after the drop began",
                n + 1,
                ms(delay)
            );
            let figures = burst(base, simgate.bursts.len(), probe, delay).await?;
            println!("  {}", burst_line(&figures));
            simgate.bursts.push((probe, figures));
        }
    }
    Ok(())
}

/// One line per burst, printed as it ends.
fn burst_line(b: &Burst) -> String {
    let opt = |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), ms);
    let mut parts = vec![format!(
        "first AT+CMGS {} (renames took {})",
        opt(b.first_cmgs),
        ms(b.renames)
    )];
    if b.all_sent.is_some() || !b.cmti.is_empty() {
        let served: Vec<Duration> = b
            .cmti
            .iter()
            .filter(|p| p.during_intake)
            .filter_map(|p| p.served)
            .collect();
        let span = match (b.cmti.first(), b.cmti.last()) {
            (Some(first), Some(last)) => format!(", from {} to {}", ms(first.at), ms(last.at)),
            _ => String::new(),
        };
        parts.push(format!(
            "{} +CMTI ({} during the intake{span}) → AT+CMGL/CMGR {}",
            b.cmti.len(),
            served.len(),
            spread(served)
        ));
        parts.push(format!(
            "SIGTERM at rest → exited {}",
            opt(b.exited_at_rest)
        ));
    } else {
        parts.push(format!(
            "SIGTERM at {} → STOPPING=1 {}, exited {} ({} of {BACKLOG} recorded)",
            ms(b.sigterm_at),
            opt(b.stopping),
            opt(b.exited),
            b.recorded
        ));
    }
    if let Some(w) = b.watchdog {
        parts.push(format!(
            "watchdog worst {} late ({} pings)",
            ms(w.worst),
            w.pings
        ));
    }
    if let Some(w) = b.watchdog_at_rest {
        parts.push(format!("at rest {}", ms(w.worst)));
    }
    if let Some(all) = b.all_sent {
        parts.push(format!(
            "all sent {} ({:.0} msg/s)",
            ms(all),
            BACKLOG as f64 / all.as_secs_f64()
        ));
    }
    parts.push(format!(
        "gap between sends across an intake {}, across other turns {}",
        spread(b.intake_gaps.clone()),
        spread(b.other_gaps.clone())
    ));
    if b.lagged > 0 {
        parts.push(format!("{} emulator events missed", b.lagged));
    }
    parts.join("; ")
}

/// Median, p90 (from 10 values on) and maximum of `values`: "4.1 ms (p90
/// 6.0 ms, max 7.9 ms, N=12)".
fn spread(mut values: Vec<Duration>) -> String {
    let n = values.len();
    let Some(m) = median(&mut values) else {
        return "-".to_owned();
    };
    let max = values[n - 1];
    match percentile(&mut values, 90.0).filter(|_| n >= 10) {
        Some(p90) => format!("{} (p90 {}, max {}, N={n})", ms(m), ms(p90), ms(max)),
        None => format!("{} (max {}, N={n})", ms(m), ms(max)),
    }
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

    let of_bursts = |only: Option<Probe>, get: fn(&Burst) -> Option<Duration>| {
        spread(
            simgate
                .bursts
                .iter()
                .filter(|(p, _)| only.is_none_or(|o| o == *p))
                .filter_map(|(_, b)| get(b))
                .collect(),
        )
    };
    let first_cmgs = of_bursts(None, |b| b.first_cmgs);
    let cmti = spread(
        simgate
            .bursts
            .iter()
            .flat_map(|(_, b)| &b.cmti)
            .filter(|p| p.during_intake)
            .filter_map(|p| p.served)
            .collect(),
    );
    let gaps = |get: fn(&Burst) -> &Vec<Duration>| {
        spread(
            simgate
                .bursts
                .iter()
                .flat_map(|(_, b)| get(b).iter().copied())
                .collect(),
        )
    };
    let intake_gaps = gaps(|b| &b.intake_gaps);
    let other_gaps = gaps(|b| &b.other_gaps);
    let stopping = of_bursts(Some(Probe::Sigterm), |b| b.stopping);
    let exited = of_bursts(Some(Probe::Sigterm), |b| b.exited);
    let exited_at_rest = of_bursts(Some(Probe::Cmti), |b| b.exited_at_rest);
    let watchdog = of_bursts(None, |b| b.watchdog.map(|w| w.worst));
    let at_rest = of_bursts(None, |b| b.watchdog_at_rest.map(|w| w.worst));
    let burst_rate = {
        let mut times: Vec<Duration> = simgate
            .bursts
            .iter()
            .filter_map(|(_, b)| b.all_sent)
            .collect();
        let n = times.len();
        median(&mut times).map_or_else(none, |m| {
            format!(
                "{:.0} msg/s ({}, N={n})",
                BACKLOG as f64 / m.as_secs_f64(),
                ms(m)
            )
        })
    };
    let gammu_first_cmgs = gammu.backlog.as_ref().map_or_else(none, |b| {
        b.first_cmgs
            .map_or_else(none, |d| format!("{} (N=1, its backlog)", ms(d)))
    });
    let gammu_exit = match gammu.backlog_exit {
        Some(Some(d)) => format!("{} (N=1, end of its backlog)", ms(d)),
        Some(None) => "not within 60 s (killed)".to_owned(),
        None => none(),
    };
    let disk = |d: &Option<Disk>, cell: fn(&Disk) -> String| d.as_ref().map_or_else(none, cell);

    let rows = [
        (
            "drop → AT+CMGS, median".to_owned(),
            latency(simgate),
            g(latency(gammu)),
            "< 20 ms",
        ),
        (
            format!("burst of {BACKLOG}: first rename → first AT+CMGS"),
            first_cmgs,
            g(gammu_first_cmgs),
            "< 50 ms",
        ),
        (
            "burst: +CMTI during the intake → AT+CMGL/AT+CMGR".to_owned(),
            cmti,
            g("-".to_owned()),
            "< 10 ms",
        ),
        (
            format!("burst: AT+CMGS → AT+CMGS across an intake of {INTAKE_SLICE}"),
            intake_gaps,
            g("-".to_owned()),
            "(< 10 ms)",
        ),
        (
            "burst: AT+CMGS → AT+CMGS across other turns".to_owned(),
            other_gaps,
            g("-".to_owned()),
            "",
        ),
        (
            "burst: SIGTERM → STOPPING=1".to_owned(),
            stopping,
            g("-".to_owned()),
            "< 10 ms",
        ),
        (
            "burst: SIGTERM → process exited".to_owned(),
            exited,
            g(gammu_exit),
            "< 10 ms",
        ),
        (
            "SIGTERM at rest (1 s after a burst) → exited".to_owned(),
            exited_at_rest,
            g("-".to_owned()),
            "",
        ),
        (
            format!(
                "burst: watchdog, worst lateness (every {})",
                ms(WATCHDOG_PERIOD)
            ),
            watchdog,
            g("-".to_owned()),
            "< 10 ms",
        ),
        (
            "watchdog at rest (1 s before each burst)".to_owned(),
            at_rest,
            g("-".to_owned()),
            "",
        ),
        (
            format!("backlog of {BACKLOG}, drop → all in sent/"),
            throughput(simgate, false),
            g(throughput(gammu, false)),
            "≥ 500 msg/s",
        ),
        (
            format!("bursts of {BACKLOG} (+CMTI, watchdog), drop → all in sent/"),
            burst_rate,
            g("-".to_owned()),
            "≥ 500 msg/s",
        ),
        (
            "backlog, first → last in sent/".to_owned(),
            throughput(simgate, true),
            g(throughput(gammu, true)),
            "",
        ),
        (
            "sent alone: fsync-family calls per message".to_owned(),
            disk(&simgate.lone_sent, Disk::syncs_cell),
            g(disk(&gammu.lone_sent, Disk::syncs_cell)),
            "",
        ),
        (
            "sent alone: bytes written per message".to_owned(),
            disk(&simgate.lone_sent, Disk::bytes_cell),
            g(disk(&gammu.lone_sent, Disk::bytes_cell)),
            "≤ 4× its file",
        ),
        (
            "sent alone after the burst: bytes written per message".to_owned(),
            disk(&simgate.lone_sent_later, Disk::bytes_cell),
            String::new(),
            "≤ 4× its file",
        ),
        (
            format!("burst of {BACKLOG} sent: fsync-family calls per message"),
            disk(&simgate.burst_sent, Disk::syncs_cell),
            g(disk(&gammu.burst_sent, Disk::syncs_cell)),
            "≤ 1",
        ),
        (
            format!("burst of {BACKLOG} sent: bytes written per message"),
            disk(&simgate.burst_sent, Disk::bytes_cell),
            g(disk(&gammu.burst_sent, Disk::bytes_cell)),
            "≤ 4× its file",
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
            format!("peak RSS (VmHWM), {} queued", queue_for_rss()),
            rss(simgate),
            g(rss(gammu)),
            "< 10 MB",
        ),
    ];
    support::print_table(&rows);
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
        for (what, d) in [
            ("disk, sent alone", &f.lone_sent),
            ("disk, burst", &f.burst_sent),
            ("disk, sent alone after the burst", &f.lone_sent_later),
        ] {
            if let Some(d) = d {
                println!("{label}: {what}: {}", d.detail());
            }
        }
        if let Some(r) = &f.rss {
            println!(
                "{label}: VmHWM before the {}-file drop {:.1} MB; peak {}",
                queue_for_rss(),
                r.before_kb as f64 / 1024.0,
                r.note
            );
        }
    }
    if with_gammu {
        println!(
            "gammu-smsd: {} latency samples only (each waits for its 30 s CommTimeout scan cycle); \
             backlog sample bounded to {GAMMU_BACKLOG_SAMPLE} messages or {} s; its disk burst \
             figures are the {GAMMU_BACKLOG_SAMPLE} messages after that sample.",
            gammu.latency.len(),
            GAMMU_BACKLOG_LIMIT.as_secs()
        );
    }
    println!("load average at the end: {}", support::load_average());
}
