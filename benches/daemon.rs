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
//!    registered to a network, so nothing can go out: read 35 s after
//!    every file was recorded, so a timed rescan of the full outbox is in.
//!
//! Knobs (environment): `SIMGATE_BENCH_IDLE_SECS` (idle window, default
//! 120), `SIMGATE_BENCH_GAMMU_SAMPLES` (default 5), `SIMGATE_BENCH_NO_GAMMU=1`
//! (simgate only), `SIMGATE_BENCH_ONLY=rss` (only the peak RSS, simgate
//! only), `SIMGATE_BENCH_QUEUE` (files queued for it, default 10,000),
//! `SIMGATE_BENCH_SMAPS=1` (print where simgate's memory is then),
//! `SIMGATE_BENCH_SIMGATE` (another simgate binary to run). The machines are shared and noisy: medians, and the
//! baseline measured in the same run. Starting the daemons, their spools
//! and configs, and the statistics are in `support` (shared with
//! `benches/receive.rs`).

mod support;

use simgate::emulator::EmulatorEvent;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{
    bench_dir, clock_ticks_per_second, env_number, median, ms, print_header, runtime, wait_until,
    with_gammu, Kind, Memory, Pauses, Result, Rig, Spool,
};
use tokio::sync::broadcast::{self, error::RecvError};

const SIMGATE_LATENCY_SAMPLES: usize = 50;
const BACKLOG: usize = 1_000;
const GAMMU_BACKLOG_SAMPLE: usize = 20;
const GAMMU_BACKLOG_LIMIT: Duration = Duration::from_secs(60);
const QUEUE_FOR_RSS: usize = 10_000;

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
             backlog sample bounded to {GAMMU_BACKLOG_SAMPLE} messages or {} s.",
            gammu.latency.len(),
            GAMMU_BACKLOG_LIMIT.as_secs()
        );
    }
}
