//! The modem emulator as a process of its own, for checks of an installed
//! simgate (packaging/test-deb): the installed daemon is pointed at it like
//! at a real modem, through its configuration.
//!
//! ```sh
//! cargo run --example emulator -- --link /run/x/modem --group dialout \
//!     --incoming '+4915112345678:Hello from the network'
//! ```
//!
//! Prints `ready <tty>` once the modem is up, then `sent <number> <text>`
//! for every message a daemon sends through it, one line each, and stops
//! on SIGTERM or SIGINT. `--group` gives the pty to that group,
//! mode 0660, as udev does a USB modem's tty; `--link` makes a stable name
//! for it, like `/dev/serial/by-id/...`.

use simgate::emulator::{Emulator, EmulatorConfig, EmulatorEvent, Profile};
use std::io::Write;
use std::path::PathBuf;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Debug, Default)]
struct Options {
    link: Option<PathBuf>,
    group: Option<String>,
    incoming: Vec<(String, String)>,
}

fn options() -> Result<Options> {
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--link" => options.link = Some(PathBuf::from(value()?)),
            "--group" => options.group = Some(value()?),
            "--incoming" => {
                let value = value()?;
                let (from, text) = value
                    .split_once(':')
                    .ok_or("--incoming takes NUMBER:TEXT")?;
                options.incoming.push((from.to_owned(), text.to_owned()));
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(options)
}

fn main() -> Result<()> {
    let options = options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(run(options))
}

async fn run(options: Options) -> Result<()> {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic)).await?;
    let tty = emulator.tty_path();
    if let Some(name) = &options.group {
        let group = nix::unistd::Group::from_name(name)?.ok_or(format!("no group {name}"))?;
        nix::unistd::chown(&tty, None, Some(group.gid))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tty, std::fs::Permissions::from_mode(0o660))?;
    }
    if let Some(link) = &options.link {
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(&tty, link)?;
    }
    for (from, text) in &options.incoming {
        let plan = simgate::pdu::plan_text(text, simgate::pdu::EncodingPolicy::Auto)?;
        let originator = simgate::pdu::Address::parse_number(from)?;
        let now = simgate::pdu::Timestamp::from_unix_seconds(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64,
        );
        for deliver in simgate::pdu::SmsDeliver::from_plan(&plan, &originator, now, 1) {
            emulator.preload("SM", &deliver.encode()?)?;
        }
    }
    let mut events = emulator.subscribe();
    let mut printed = 0;
    let mut out = std::io::stdout();
    writeln!(out, "ready {}", tty.display())?;
    out.flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            event = events.recv() => match event {
                // Each message is printed from the emulator's record, by its
                // place in it: the event may come after later sends (or be
                // lost to a lagging channel), and what was sent is the record.
                Ok(EmulatorEvent::MessageSent { .. })
                | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    for message in emulator.sent_from(printed) {
                        printed += 1;
                        let text = message.submit.user_data.body.text().unwrap_or_default();
                        writeln!(out, "sent {} {text}", message.submit.destination.to_display())?;
                    }
                    out.flush()?;
                }
                Ok(_) => {}
                Err(_) => break,
            },
        }
    }
    if let Some(link) = &options.link {
        let _ = std::fs::remove_file(link);
    }
    emulator.stop().await;
    Ok(())
}
