//! Several modems: `cargo bench --bench modems`.
//!
//! The backlog throughput of one daemon with one modem and with two (issue
//! 14 §3: two zero-latency modems should send at least 1.8× as fast as
//! one). Each round drops `SIMGATE_BENCH_MODEMS_BACKLOG` files (default
//! 1,000) into a fresh spool (under the target directory: a real disk, so
//! fsyncs cost what they cost) of a daemon on one or two in-process
//! emulators (real ptys, zero latency), and times the first rename → the
//! last file in sent/. Rounds alternate one modem, two modems
//! (`SIMGATE_BENCH_MODEMS_ROUNDS` each, default 3), so both see the same
//! machine; the figures are medians and their ratio. The daemon runs in
//! this process (`device::configured::serve`, as `simgate run` does), on a
//! two-worker runtime. A last series (`SIMGATE_BENCH_MODEMS_OUTAGE`
//! messages, default 5,000; 0 skips it) takes a backlog in while the modem
//! is unplugged and times its drain once the modem is back (first sent →
//! last sent): every pick then looks through a queue of that size in
//! SQLite.

use simgate::config::{Config, ModemSettings};
use simgate::daemon::{DaemonEvent, DaemonOptions};
use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One round: `modems` modems, each taking `send_time` per `AT+CMGS`,
/// `count` files; how long until all are sent. With `outage`, the first
/// modem is unplugged before the files are dropped, and plugged back once
/// every file is taken in (queued in SQLite): the time is then from the
/// first message sent to the last, a backlog drained after an outage.
async fn round(
    base: &Path,
    modems: usize,
    send_time: Duration,
    count: usize,
    index: usize,
    outage: bool,
) -> Result<Duration> {
    let root = base.join(format!("modems-{modems}-{index}"));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["inbox", "outbox", "sent", "error", "staging"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    let mut emulators = Vec::new();
    for _ in 0..modems {
        let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic)).await?;
        if !send_time.is_zero() {
            emulator.set_command_latency("AT+CMGS", send_time);
        }
        emulators.push(emulator);
    }
    let mut config = Config::new(emulators[0].path());
    for emulator in &emulators[1..] {
        config.more_modems.push(ModemSettings::new(emulator.path()));
    }
    config.spool.inbox = root.join("inbox");
    config.spool.outbox = root.join("outbox");
    config.spool.sent = Some(root.join("sent"));
    config.spool.error = Some(root.join("error"));
    config.database.path = Some(root.join("simgate.db"));
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let options = DaemonOptions {
        events: Some(events_tx),
        ..DaemonOptions::new(config)
    };
    let daemon = tokio::spawn(simgate::device::configured::serve(options, async {
        let _ = stopped.await;
    }));
    let mut ready = 0;
    while ready < modems {
        match events.recv().await {
            Some(DaemonEvent::ModemReady { .. }) => ready += 1,
            Some(_) => {}
            None => return Err("the daemon stopped".into()),
        }
    }
    if outage {
        emulators[0].unplug(None).await;
    }
    let names: Vec<String> = (0..count).map(|n| format!("OUT+49170{n:06}.txt")).collect();
    for name in &names {
        std::fs::write(root.join("staging").join(name), "a benchmark message")?;
    }
    let cpu_before = cpu_time();
    let dropped = Instant::now();
    for name in &names {
        std::fs::rename(
            root.join("staging").join(name),
            root.join("outbox").join(name),
        )?;
    }
    let mut dropped = dropped;
    if outage {
        let mut queued = 0;
        while queued < count {
            match tokio::time::timeout(Duration::from_secs(300), events.recv()).await {
                Ok(Some(DaemonEvent::Queued { .. })) => queued += 1,
                Ok(Some(_)) => {}
                Ok(None) => return Err("the daemon stopped".into()),
                Err(_) => return Err(format!("only {queued} of {count} taken in").into()),
            }
        }
        emulators[0].replug_now();
    }
    let mut sent = 0;
    while sent < count {
        match tokio::time::timeout(Duration::from_secs(300), events.recv()).await {
            Ok(Some(DaemonEvent::Sent { .. })) => {
                if sent == 0 && outage {
                    dropped = Instant::now();
                }
                sent += 1
            }
            Ok(Some(DaemonEvent::Failed { file, reason })) => {
                return Err(format!("{file} failed: {reason}").into())
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err("the daemon stopped".into()),
            Err(_) => return Err(format!("only {sent} of {count} sent in 300 s").into()),
        }
    }
    let elapsed = dropped.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let _ = stop.send(());
    daemon.await??;
    let by_modem: Vec<usize> = emulators.iter().map(|e| e.sent().len()).collect();
    println!(
        "  {modems} modem(s){}, round {}: {count} sent in {:.2} s ({:.0} msg/s), per modem {by_modem:?}; \
         CPU {:.2} s ({:.0} % of the two cores), {:.2} ms a message",
        if outage { " after an outage" } else { "" },
        index + 1,
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / (2.0 * elapsed.as_secs_f64()),
        1000.0 * cpu.as_secs_f64() / count as f64
    );
    let _ = std::fs::remove_dir_all(&root);
    Ok(elapsed)
}

/// This process's CPU time so far (user and system, every thread: the
/// daemon and the emulators both run here).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    Duration::from_millis(ticks * 1000 / per_second.max(1))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn bench_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SIMGATE_BENCH_MODEMS_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-modems")
}

fn main() -> Result<()> {
    // `cargo test --benches` runs benches with no arguments; only
    // `cargo bench` passes --bench.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    // Two workers by default; `SIMGATE_BENCH_MODEMS_WORKERS=1
    // SIMGATE_BENCH_MODEMS_BLOCKING=2` is `simgate run`'s own shape.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(number("SIMGATE_BENCH_MODEMS_WORKERS", 2).max(1))
        .max_blocking_threads(number("SIMGATE_BENCH_MODEMS_BLOCKING", 512).max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let count = number("SIMGATE_BENCH_MODEMS_BACKLOG", 1_000);
        let rounds = number("SIMGATE_BENCH_MODEMS_ROUNDS", 3);
        let slow_ms = number("SIMGATE_BENCH_MODEMS_SEND_MS", 20);
        let base = bench_dir();
        std::fs::create_dir_all(&base)?;
        // Zero latency: what the daemon itself can do. With a send time
        // (a real modem takes 1-4 s per message on the network): whether
        // the modems work side by side.
        for (send_time, count) in [
            (Duration::ZERO, count),
            (Duration::from_millis(slow_ms as u64), (count / 5).max(1)),
        ] {
            println!(
                "backlog of {count} through one modem and through two, {} ms per AT+CMGS, {rounds} rounds each, alternating",
                send_time.as_millis()
            );
            let (mut one, mut two) = (Vec::new(), Vec::new());
            for index in 0..rounds {
                one.push(round(&base, 1, send_time, count, index, false).await?);
                two.push(round(&base, 2, send_time, count, index, false).await?);
            }
            let (one, two) = (median(one), median(two));
            println!(
                "median: one modem {:.2} s ({:.0} msg/s), two modems {:.2} s ({:.0} msg/s): {:.2}x one",
                one.as_secs_f64(),
                count as f64 / one.as_secs_f64(),
                two.as_secs_f64(),
                count as f64 / two.as_secs_f64(),
                one.as_secs_f64() / two.as_secs_f64()
            );
        }
        // A backlog taken in while the modem was away (the daemon goes on
        // taking files in), then drained: every pick walks a queue of
        // this size in SQLite.
        let outage = number("SIMGATE_BENCH_MODEMS_OUTAGE", 5_000);
        if outage > 0 {
            println!(
                "backlog of {outage} taken in while the modem was unplugged, then sent through it, {rounds} rounds"
            );
            let mut drained = Vec::new();
            for index in 0..rounds {
                drained.push(round(&base, 1, Duration::ZERO, outage, index, true).await?);
            }
            let drained = median(drained);
            println!(
                "median: first sent → last sent {:.2} s ({:.0} msg/s)",
                drained.as_secs_f64(),
                outage as f64 / drained.as_secs_f64()
            );
        }
        Ok(())
    })
}
