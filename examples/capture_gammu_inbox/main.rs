//! Remakes the receive acceptance fixtures (`tests/fixtures/receive/`) from
//! the real gammu-smsd 1.42: for each InboxFormat it runs `gammu-smsd` on
//! simgate's modem emulator (a real pty), injects every PDU of `pdus.txt`
//! at once, waits until gammu has taken what it will take off the SIM, and
//! keeps its inbox files and `RunOnReceive` calls. See the README there.
//!
//! ```sh
//! cargo run --example capture_gammu_inbox -- tests/fixtures/receive
//! cargo run --example capture_gammu_inbox -- --write-pdus tests/fixtures/receive/pdus.txt
//! ```
//!
//! `--write-pdus` rewrites the PDU list from the definitions in
//! `pdus.rs` (built with simgate's encoder); the expected outputs only ever
//! come from gammu.

mod golden;
mod pdus;

use golden::{Entry, Kind};
use simgate::emulator::{Emulator, EmulatorEvent};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// How long gammu gets to empty the SIM after the injection.
const LIMIT: Duration = Duration::from_secs(90);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, path] if flag == "--write-pdus" => {
            std::fs::write(path, pdus::list_text())?;
            println!("wrote {path}");
            Ok(())
        }
        [dir] => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(capture(Path::new(dir)))
        }
        _ => Err("usage: capture_gammu_inbox FIXTURE_DIR | --write-pdus FILE".into()),
    }
}

async fn capture(fixtures: &Path) -> Result<()> {
    let entries = golden::parse_pdus(&std::fs::read_to_string(fixtures.join("pdus.txt"))?)?;
    let version = Command::new("gammu-smsd").arg("--version").output()?;
    let version = String::from_utf8_lossy(&version.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut notes = format!(
        "# Written by `cargo run --example capture_gammu_inbox`; do not edit.\n\
         # {version}; {} PDUs from pdus.txt.\n",
        entries.len()
    );
    for format in golden::FORMATS {
        println!("{format}: running gammu-smsd");
        let outcome = run_gammu(format, &entries).await?;
        let inbox_dir = fixtures.join(format);
        let hooks_dir = fixtures.join("hooks").join(format);
        for dir in [&inbox_dir, &hooks_dir] {
            if dir.exists() {
                std::fs::remove_dir_all(dir)?;
            }
            std::fs::create_dir_all(dir)?;
        }
        for (name, bytes) in &outcome.files {
            std::fs::write(inbox_dir.join(name), bytes)?;
        }
        for (n, record) in outcome.hooks.iter().enumerate() {
            std::fs::write(hooks_dir.join(format!("{n:02}.txt")), record)?;
        }
        writeln!(notes, "\n[{format}]")?;
        writeln!(notes, "files: {}", outcome.files.len())?;
        writeln!(notes, "hook calls: {}", outcome.hooks.len())?;
        writeln!(notes, "took: {} s", outcome.took.as_secs())?;
        for line in &outcome.notes {
            writeln!(notes, "{line}")?;
        }
        println!(
            "{format}: {} files, {} hook calls, {} s",
            outcome.files.len(),
            outcome.hooks.len(),
            outcome.took.as_secs()
        );
    }
    std::fs::write(fixtures.join("capture.txt"), notes)?;
    Ok(())
}

struct Outcome {
    files: Vec<(String, Vec<u8>)>,
    hooks: Vec<String>,
    notes: Vec<String>,
    took: Duration,
}

/// The directory a sender with `/` points into: gammu 1.42 writes
/// `inbox/IN…_<before>/<after>_00.txt` (quirk Q6), which only works when
/// that directory exists, so it is made beforehand.
fn slash_dirs(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.kind == Kind::Deliver)
        .filter_map(|e| {
            let deliver = simgate::pdu::SmsDeliver::decode(&e.tpdu).ok()?;
            let sender = deliver.originator.to_display();
            let (before, _) = sender.split_once('/')?;
            let t = deliver.timestamp.valid()?;
            Some(format!(
                "IN{:04}{:02}{:02}_{:02}{:02}{:02}_00_{before}",
                t.year, t.month, t.day, t.hour, t.minute, t.second
            ))
        })
        .collect()
}

async fn run_gammu(format: &str, entries: &[Entry]) -> Result<Outcome> {
    let root =
        std::env::temp_dir().join(format!("simgate-capture-{format}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["inbox", "outbox"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    let hook = golden::install_hook(&root)?;
    let slash = slash_dirs(entries);
    for dir in &slash {
        std::fs::create_dir(root.join("inbox").join(dir))?;
    }
    let emulator = Emulator::start(golden::emulator_config()).await?;
    let mut events = emulator.subscribe();
    let config = root.join("smsdrc");
    let p = |name: &str| format!("{}/", root.join(name).display());
    std::fs::write(
        &config,
        format!(
            "[gammu]\ndevice = {device}\nconnection = at115200\n\n\
             [smsd]\nservice = files\ninboxformat = {format}\ninboxpath = {inbox}\n\
             outboxpath = {outbox}\ndeliveryreport = sms\nphoneid = {phone}\n\
             runonreceive = {hook}\nlogfile = {log}\ndebuglevel = 1\ncommtimeout = 1\n\
             receivefrequency = 1\nstatusfrequency = 0\ncheckbattery = 0\n\
             multiparttimeout = {timeout}\n",
            device = emulator.path().display(),
            inbox = p("inbox"),
            outbox = p("outbox"),
            phone = golden::PHONE_ID,
            hook = hook.display(),
            log = root.join("log").display(),
            timeout = golden::MULTIPART_TIMEOUT.as_secs(),
        ),
    )?;
    let mut command = Command::new("gammu-smsd");
    command.arg("-c").arg(&config);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("LC_") || key == "LANG" || key == "LANGUAGE" {
            command.env_remove(key.as_ref());
        }
    }
    let mut child = command
        .env("TZ", "UTC")
        .env("LC_ALL", "C.UTF-8")
        .env("LANG", "C.UTF-8")
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = drive(&emulator, &mut events, &mut child, entries).await;
    stop(&mut child, &root.join("log"));
    let left = emulator.stored();
    emulator.stop().await;
    let took = result?;

    let mut notes = Vec::new();
    for entry in &left {
        let label = entries
            .iter()
            .find(|e| entry.pdu.ends_with(&e.tpdu))
            .map_or("?", |e| e.label.as_str());
        notes.push(format!(
            "left on the SIM: {} index {} ({label})",
            entry.memory, entry.index
        ));
    }
    // gammu 1.42 answers every `+CDSI` by saving an empty status report as
    // IN000000_000000_NN__00.txt (it never reads the indicated memory);
    // the real report is read later with the other messages. Not kept.
    let bogus = |name: &str| name.starts_with("IN000000_000000_");
    let inbox = root.join("inbox");
    let mut files = Vec::new();
    let mut renamed = Vec::new();
    for entry in std::fs::read_dir(&inbox)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if slash.contains(&name) {
            for inner in std::fs::read_dir(entry.path())? {
                let inner = inner?;
                let rest = inner.file_name().to_string_lossy().into_owned();
                let raw = format!("{name}/{rest}");
                let sanitised = format!("{name}_{rest}");
                notes.push(format!("renamed (Q6): {raw} -> {sanitised}"));
                files.push((sanitised.clone(), std::fs::read(inner.path())?));
                renamed.push((raw, sanitised));
            }
        } else if bogus(&name) {
            notes.push(format!(
                "dropped (empty report for +CDSI): {name}, {} bytes",
                entry.metadata()?.len()
            ));
        } else {
            files.push((name, std::fs::read(entry.path())?));
        }
    }
    files.sort();
    let mut hooks = Vec::new();
    for record in golden::hook_records(&root.join("hooks"))? {
        let (args, _) = golden::parse_record(&record);
        if bogus(&args) {
            notes.push(format!("dropped hook call: ARGS={args}"));
            continue;
        }
        let mut record = record;
        for (raw, sanitised) in &renamed {
            record = record.replace(&format!("ARGS={raw}"), &format!("ARGS={sanitised}"));
        }
        hooks.push(record);
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(Outcome {
        files,
        hooks,
        notes,
        took,
    })
}

/// Waits for gammu to set `+CNMI`, injects every entry, then waits until
/// the SIM is empty (or [`LIMIT`]). Returns the time from injection.
async fn drive(
    emulator: &Emulator,
    events: &mut tokio::sync::broadcast::Receiver<EmulatorEvent>,
    child: &mut Child,
    entries: &[Entry],
) -> Result<Duration> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(EmulatorEvent::CommandReceived(line)))
                if line.starts_with("AT+CNMI=") && !line.ends_with('?') =>
            {
                break
            }
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            _ => return Err("gammu-smsd never set +CNMI".into()),
        }
    }
    for entry in entries {
        let stored = match entry.kind {
            Kind::Deliver => emulator.inject_deliver(&entry.tpdu),
            Kind::Report => emulator.inject_status_report(&entry.tpdu),
        };
        match stored {
            Ok(Some(_)) => {}
            other => return Err(format!("{}: not stored: {other:?}", entry.label).into()),
        }
    }
    let injected = Instant::now();
    while !emulator.stored().is_empty() {
        if injected.elapsed() > LIMIT {
            println!("  the SIM is not empty after {LIMIT:?}; keeping what gammu did");
            break;
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("gammu-smsd exited: {status}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(injected.elapsed())
}

/// SIGTERM (gammu removes its shared memory), SIGKILL after 10 s, then the
/// segment is removed by its key from the log in any case.
fn stop(child: &mut Child, log: &Path) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if !matches!(child.try_wait(), Ok(Some(_))) {
        let _ = child.kill();
        let _ = child.wait();
    }
    let key = std::fs::read_to_string(log).ok().and_then(|log| {
        log.lines()
            .find_map(|l| l.split("SHM token: ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    });
    if let Some(key) = key {
        let _ = Command::new("ipcrm")
            .arg("-M")
            .arg(key)
            .stderr(Stdio::null())
            .status();
    }
}
