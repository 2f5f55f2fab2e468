//! HTTP API load test (issue 12 §2): run it as a single executable (see
//! the README's "HTTP API" section), not through `cargo bench`.
//!
//! Starts the release `simgate` binary on an in-process emulator
//! (`Profile::Generic`, a real pty, zero latency) with the HTTP API on a
//! loopback port, then fires `SIMGATE_BENCH_HTTP_REQUESTS` (default
//! 10,000) `POST /sms/send` from `SIMGATE_BENCH_HTTP_CLIENTS` (default 50)
//! concurrent clients. Each client is its own peer address (127.0.0.2,
//! 127.0.0.3, ...: all of 127/8 is loopback), so the per-client limit
//! (`client_messages_per_hour`, set to half of each client's requests)
//! applies to each one: the first half of each client's requests must be
//! accepted (200 sent, or 202 still waiting) and the second half refused
//! with 429 and a Retry-After, exactly.
//!
//! Then it waits (bounded) for every accepted message to be in sent/ and
//! checks the emulator's network got each accepted text exactly once and
//! no refused one: nothing lost, nothing duplicated. It prints the response
//! times (p50, p99; all, accepted, refused) and the throughput.
//!
//! Every request waits for its outcome as a client of the original gateway
//! would (`wait_seconds` at its default, 30 s), so an accepted request's
//! time includes the daemon sending the messages queued before it.

mod support;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{bench_dir, env_number, ms, percentile, runtime, simgate_binary, Result, Spool};

/// One request's answer.
struct Answer {
    client: usize,
    seq: usize,
    status: StatusCode,
    retry_after: bool,
    elapsed: Duration,
}

fn main() -> Result<()> {
    runtime()?.block_on(run())
}

/// The address the daemon logged it listens on.
fn listening(log: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .filter(|line| line.contains("HTTP API listening"))
        .find_map(|line| {
            let at = line.find("address=")?;
            line[at + 8..].split_whitespace().next()?.parse().ok()
        })
}

fn text_of(client: usize, seq: usize) -> String {
    format!("load c{client} r{seq}")
}

async fn run() -> Result<()> {
    let clients = env_number("SIMGATE_BENCH_HTTP_CLIENTS", 50) as usize;
    let requests = env_number("SIMGATE_BENCH_HTTP_REQUESTS", 10_000) as usize;
    let per_client = requests / clients;
    let allowed = per_client / 2;
    assert!(
        clients <= 250,
        "one loopback address per client, 127.0.0.2 up"
    );
    let base = bench_dir("http")?;
    let spool = Spool::new(&base, "simgate")?;
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic)).await?;
    let config = spool.root.join("simgate.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[http]\nlisten = \"127.0.0.1:0\"\nclient_messages_per_hour = {allowed}\n",
            spool.simgate_config(&emulator.path())
        ),
    )?;
    println!(
        "simgate HTTP load test: {} requests from {clients} clients ({per_client} each, \
         limit {allowed} per client and hour), release binary {}",
        clients * per_client,
        simgate_binary()
    );
    let mut daemon = Command::new(simgate_binary())
        .arg("run")
        .arg("-c")
        .arg(&config)
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(spool.root.join("stderr.log"))?)
        .spawn()?;
    let log = spool.root.join("daemon.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    let address = loop {
        if let Some(address) = listening(&log) {
            break address;
        }
        if daemon.try_wait()?.is_some() || Instant::now() > deadline {
            return Err(
                format!("simgate did not start its HTTP API; see {}", log.display()).into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Ready: the modem is up (a message sent before would wait for it).
    let probe = client_from(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = call(&probe, address, Method::GET, "/health", Vec::new()).await?;
        if status == StatusCode::OK {
            break;
        }
        if Instant::now() > deadline {
            return Err("simgate not ready after 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + client as u8));
        tasks.push(tokio::spawn(async move {
            let http = client_from(source);
            let mut answers = Vec::with_capacity(per_client);
            for seq in 0..per_client {
                let body = serde_json::json!({
                    "number": format!("+49176100{client:05}"),
                    "message": text_of(client, seq),
                })
                .to_string();
                let sent = Instant::now();
                let (status, retry_after) =
                    call(&http, address, Method::POST, "/sms/send", body.into_bytes()).await?;
                answers.push(Answer {
                    client,
                    seq,
                    status,
                    retry_after,
                    elapsed: sent.elapsed(),
                });
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(answers)
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await??);
    }
    let wall = started.elapsed();

    // The limit, exactly: each client's first `allowed` accepted, the rest 429.
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    let mut expected = Vec::new();
    for answer in &answers {
        *by_status.entry(answer.status.as_u16()).or_default() += 1;
        let accepted = matches!(answer.status, StatusCode::OK | StatusCode::ACCEPTED);
        if answer.seq < allowed {
            if !accepted {
                return Err(format!(
                    "client {} request {} was not accepted: {}",
                    answer.client, answer.seq, answer.status
                )
                .into());
            }
            expected.push(text_of(answer.client, answer.seq));
        } else if answer.status != StatusCode::TOO_MANY_REQUESTS || !answer.retry_after {
            return Err(format!(
                "client {} request {} over the limit got {} (Retry-After: {})",
                answer.client, answer.seq, answer.status, answer.retry_after
            )
            .into());
        }
    }
    // Nothing lost or duplicated: every accepted text reached the network
    // once, nothing else did.
    let sent_dir = spool.sent.clone();
    let deadline = Instant::now() + Duration::from_secs(300);
    while std::fs::read_dir(&sent_dir)?.count() < expected.len() {
        if Instant::now() > deadline {
            return Err("accepted messages still unsent after 300 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = started.elapsed();
    let mut got: Vec<String> = emulator
        .sent()
        .iter()
        .filter_map(|m| m.submit.user_data.body.text().map(str::to_owned))
        .collect();
    got.sort();
    expected.sort();
    if got != expected {
        let duplicates = got.windows(2).filter(|w| w[0] == w[1]).count();
        return Err(format!(
            "the network got {} texts ({duplicates} duplicated), {} were accepted",
            got.len(),
            expected.len()
        )
        .into());
    }
    let in_error = std::fs::read_dir(&spool.error)?.count();
    if in_error != 0 {
        return Err(format!("{in_error} files in error/").into());
    }

    let mut all: Vec<Duration> = answers.iter().map(|a| a.elapsed).collect();
    let mut accepted: Vec<Duration> = answers
        .iter()
        .filter(|a| a.status != StatusCode::TOO_MANY_REQUESTS)
        .map(|a| a.elapsed)
        .collect();
    let mut refused: Vec<Duration> = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .map(|a| a.elapsed)
        .collect();
    let p = |values: &mut Vec<Duration>, q: f64| percentile(values, q).map_or("-".into(), ms);
    let mut statuses: Vec<_> = by_status.into_iter().collect();
    statuses.sort();
    println!("answers: {statuses:?} (status, count)");
    println!(
        "limit held exactly: {} accepted ({allowed} per client), {} refused with 429 + Retry-After",
        expected.len(),
        refused.len()
    );
    println!(
        "nothing lost or duplicated: the network got each of the {} accepted texts once",
        got.len()
    );
    println!(
        "response time p50 / p99: all {} / {}; accepted (waits for the send) {} / {}; \
         refused {} / {}",
        p(&mut all, 50.0),
        p(&mut all, 99.0),
        p(&mut accepted, 50.0),
        p(&mut accepted, 99.0),
        p(&mut refused, 50.0),
        p(&mut refused, 99.0),
    );
    println!(
        "throughput: {} requests in {} = {:.0} requests/s; {} messages sent in {} = {:.0} messages/s",
        answers.len(),
        ms(wall),
        answers.len() as f64 / wall.as_secs_f64(),
        got.len(),
        ms(drained),
        got.len() as f64 / drained.as_secs_f64(),
    );
    daemon.kill()?;
    daemon.wait()?;
    emulator.stop().await;
    Ok(())
}

fn client_from(source: IpAddr) -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_local_address(Some(source));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// One request; its status and whether it carried Retry-After.
async fn call(
    client: &Client<HttpConnector, Full<Bytes>>,
    address: SocketAddr,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, bool)> {
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{address}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = tokio::time::timeout(Duration::from_secs(120), client.request(request))
        .await
        .map_err(|_| "no answer within 120 s")??;
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    response.into_body().collect().await?;
    Ok((status, retry_after))
}
