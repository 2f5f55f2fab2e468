//! What the web-stick benchmarks share (`benches/hilink.rs`,
//! `benches/zte.rs`): the release `simgate` run as a child process on an
//! emulated stick in the bench process (loopback, zero send time), with
//! its own spool under cargo's target tmp dir and the daemon's default
//! timings (`check_interval` 5 s, `status_interval` 60 s), and the three
//! measurements:
//!
//! 1. outbox drop → send request: a file written elsewhere is renamed into
//!    the outbox and timed until the emulator receives the send request;
//!    then the bench waits for the file in sent/ and pauses a random
//!    0–0.4 s. Median of 30.
//! 2. backlog: 200 files renamed into the outbox at once; from the first
//!    rename until all are in sent/: messages per second.
//! 3. idle: requests the stick received per minute, by what they asked,
//!    over a window after the backlog (`SIMGATE_BENCH_IDLE_SECS`, default
//!    120).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// An emulated stick, as the bench sees it.
pub(crate) trait Stick {
    /// `hilink` or `zte`: the transport, and the bench's name.
    fn transport(&self) -> &'static str;
    /// Its address.
    fn url(&self) -> String;
    /// When each send request arrived.
    fn send_requests(&self) -> Vec<Instant>;
    /// Requests so far, by what they asked.
    fn requests(&self) -> HashMap<String, u32>;
    /// What the send request is called, for the report.
    fn send_request_name(&self) -> &'static str;
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.flatten().count())
}

async fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !ready() {
        if Instant::now() > deadline {
            return Err("timed out".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

fn drop_file(root: &Path, name: &str, text: &str) -> Result<()> {
    let staging = root.join("staging").join(name);
    std::fs::write(&staging, text)?;
    std::fs::rename(&staging, root.join("outbox").join(name))?;
    Ok(())
}

/// Runs the daemon on `stick` and prints the three figures.
pub(crate) async fn bench(stick: &dyn Stick) -> Result<()> {
    let idle = Duration::from_secs(
        std::env::var("SIMGATE_BENCH_IDLE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(120),
    );
    let root =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-bench", stick.transport()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["inbox", "outbox", "sent", "error", "staging"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    let config = root.join("simgate.toml");
    std::fs::write(
        &config,
        format!(
            "[modem]\ntransport = \"{}\"\ndevice = \"{}\"\n\n[spool]\ninbox = \"{r}/inbox\"\n\
             outbox = \"{r}/outbox\"\nsent = \"{r}/sent\"\nerror = \"{r}/error\"\n\n\
             [database]\npath = \"{r}/simgate.db\"\n\n[log]\nfile = \"{r}/simgate.log\"\n",
            stick.transport(),
            stick.url(),
            r = root.display()
        ),
    )?;
    let binary = std::env::var("SIMGATE_BENCH_SIMGATE")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_simgate").to_owned());
    let mut daemon: Child = Command::new(binary)
        .args(["run", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = measure(stick, &root, idle).await;
    let _ = daemon.kill();
    let _ = daemon.wait();
    result
}

async fn measure(stick: &dyn Stick, root: &Path, idle: Duration) -> Result<()> {
    let sent = root.join("sent");
    // Warm up: one message through.
    drop_file(root, "OUT+4915100000000.txt", "warm-up")?;
    wait_until(Duration::from_secs(30), || count(&sent) == 1).await?;

    let mut latencies = Vec::new();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for n in 1..=30 {
        let before = stick.send_requests().len();
        let start = Instant::now();
        drop_file(root, &format!("OUT+49151{n:08}.txt"), "latency sample")?;
        let mut arrived = None;
        wait_until(Duration::from_secs(30), || {
            arrived = stick.send_requests().get(before).copied();
            arrived.is_some()
        })
        .await?;
        latencies.push(arrived.expect("waited").saturating_duration_since(start));
        wait_until(Duration::from_secs(30), || count(&sent) == n + 1).await?;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(seed % 400)).await;
    }
    latencies.sort();
    let median = (latencies[14] + latencies[15]) / 2;

    let already = count(&sent);
    for n in 0..200 {
        std::fs::write(
            root.join("staging").join(format!("OUT+49152{n:08}.txt")),
            format!("backlog {n}"),
        )?;
    }
    let start = Instant::now();
    for n in 0..200 {
        let name = format!("OUT+49152{n:08}.txt");
        std::fs::rename(
            root.join("staging").join(&name),
            root.join("outbox").join(&name),
        )?;
    }
    wait_until(Duration::from_secs(300), || count(&sent) == already + 200).await?;
    let backlog = start.elapsed();

    // Idle: let the daemon settle, then count.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let before = stick.requests();
    tokio::time::sleep(idle).await;
    let after = stick.requests();
    let minutes = idle.as_secs_f64() / 60.0;
    let mut idle_rows: Vec<(String, f64)> = after
        .iter()
        .map(|(what, n)| {
            let was = before.get(what).copied().unwrap_or(0);
            (what.clone(), f64::from(n - was) / minutes)
        })
        .filter(|(_, rate)| *rate > 0.0)
        .collect();
    idle_rows.sort_by(|a, b| a.0.cmp(&b.0));
    let total: f64 = idle_rows.iter().map(|(_, r)| r).sum();

    println!(
        "simgate {} benchmark (emulated stick, zero send time)",
        stick.transport()
    );
    println!(
        "drop -> {} request, median of 30: {:.1} ms (min {:.1}, max {:.1})",
        stick.send_request_name(),
        median.as_secs_f64() * 1000.0,
        latencies[0].as_secs_f64() * 1000.0,
        latencies[29].as_secs_f64() * 1000.0
    );
    println!(
        "backlog of 200: {:.1} s, {:.0} msg/s",
        backlog.as_secs_f64(),
        200.0 / backlog.as_secs_f64()
    );
    println!(
        "idle requests per minute over {} s: {total:.1}",
        idle.as_secs()
    );
    for (what, rate) in idle_rows {
        println!("  {what}: {rate:.1}");
    }
    Ok(())
}
