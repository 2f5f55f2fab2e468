//! `simgate demo`: the daemon on the built-in modem emulator, with its spool
//! in a local folder, narrating what happens. The way to try simgate
//! without hardware: drop a file into the outbox from another terminal and
//! watch it go out and land in sent/. The emulated network sends a welcome
//! message when the modem is ready and answers every message it gets, so
//! the inbox fills too.

use crate::config::Config;
use crate::daemon::{self, DaemonEvent, DaemonOptions};
use crate::emulator::{Emulator, EmulatorConfig, Profile};
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DemoError {
    /// Creating the folder, the pty or writing output.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The daemon failed.
    #[error("{0}")]
    Daemon(#[from] daemon::DaemonError),
}

/// Runs the demo in `dir` until Ctrl-C, or until `stop_after` messages
/// were sent and answered (when not 0), writing the narration to `out`.
pub(crate) fn run(dir: &Path, stop_after: usize, out: &mut dyn Write) -> Result<(), DemoError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(demo(dir, stop_after, out))
}

async fn demo(dir: &Path, stop_after: usize, out: &mut dyn Write) -> Result<(), DemoError> {
    let spool = |name: &str| dir.join(name);
    for name in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(spool(name))?;
    }
    let emulator = Emulator::start(EmulatorConfig::new(Profile::HuaweiE3372)).await?;
    let mut config = Config::new(emulator.path());
    config.spool.inbox = spool("inbox");
    config.spool.outbox = spool("outbox");
    config.spool.sent = Some(spool("sent"));
    config.spool.error = Some(spool("error"));
    config.spool.settle_time = Duration::from_millis(200);
    config.database.path = Some(dir.join("simgate.db"));

    let (events, mut narration) = mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = DaemonOptions {
        events: Some(events),
        ..DaemonOptions::new(config)
    };
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stopped => {}
        }
    };
    let daemon = tokio::spawn(crate::device::configured::serve(options, shutdown));
    let mut stop = Some(stop);
    let mut welcomed = false;
    let mut received = 0;
    let mut introduced = false;
    while let Some(event) = narration.recv().await {
        if !introduced {
            introduced = true;
            banner(&emulator, dir, out)?;
        }
        match event {
            DaemonEvent::ModemReady { model } => {
                writeln!(out, "modem ready: {model}")?;
                if !welcomed {
                    welcomed = true;
                    network_sends(
                        &emulator,
                        "+4915112345678",
                        "Welcome to simgate: this message came from the emulated network.",
                        out,
                    )?;
                }
            }
            DaemonEvent::ModemLost => writeln!(out, "modem lost; waiting for it")?,
            DaemonEvent::Queued { file } => writeln!(out, "queued {file}")?,
            DaemonEvent::Cancelled { file, reason } => {
                writeln!(out, "cancelled {file}: {reason}")?;
            }
            DaemonEvent::Waiting { file, reason } => {
                writeln!(out, "{file} waits: {reason}")?;
            }
            DaemonEvent::FileMoved { file } => writeln!(out, "moved {file} at last")?,
            DaemonEvent::BudgetWarning {
                month,
                used,
                budget,
            } => writeln!(out, "budget warning for {month}: {used} of {budget} parts")?,
            DaemonEvent::Sent { file, references } => {
                writeln!(
                    out,
                    "sent {file} in {} part(s), message references {references:?}; moved to {}",
                    references.len(),
                    spool("sent").display()
                )?;
                let got: Vec<_> = emulator
                    .sent()
                    .into_iter()
                    .rev()
                    .take(references.len())
                    .collect();
                if let Some(message) = got.first() {
                    let to = message.submit.destination.to_display();
                    let text: String = got
                        .iter()
                        .rev()
                        .map(|m| {
                            m.submit
                                .user_data
                                .body
                                .text()
                                .unwrap_or("<data>")
                                .to_owned()
                        })
                        .collect();
                    writeln!(out, "  the emulated network got: to {to} {text:?}")?;
                    let short: String = text.chars().take(60).collect();
                    network_sends(&emulator, &to, &format!("Got it: {short}"), out)?;
                }
            }
            DaemonEvent::Failed { file, reason } => writeln!(out, "failed {file}: {reason}")?,
            DaemonEvent::Received { files } => {
                writeln!(
                    out,
                    "received {} in {}",
                    files.join(", "),
                    spool("inbox").display()
                )?;
                received += 1;
                // The welcome, then one answer per message sent.
                if stop_after > 0 && received > stop_after {
                    if let Some(stop) = stop.take() {
                        let _ = stop.send(());
                    }
                }
            }
            DaemonEvent::Call { caller } => writeln!(out, "incoming call from {caller}")?,
            DaemonEvent::StorageNearlyFull { used, total } => {
                writeln!(out, "storage nearly full: {used} of {total}")?
            }
            DaemonEvent::WaitingForRoom { database, reason } => writeln!(
                out,
                "the disk under {} is full ({reason}): nothing is sent or received until there is room",
                database.display()
            )?,
        }
        out.flush()?;
    }
    daemon.await.map_err(std::io::Error::other)??;
    emulator.stop().await;
    Ok(())
}

/// What the demo is and how to use it: said once the daemon runs (a
/// second demo in the same folder is refused before it says anything).
fn banner(emulator: &Emulator, dir: &Path, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "simgate demo: an emulated {} {} on {} (stable path {})",
        Profile::HuaweiE3372.manufacturer(),
        Profile::HuaweiE3372.model(),
        emulator.tty_path().display(),
        emulator.path().display()
    )?;
    writeln!(
        out,
        "spool folders: {}/{{outbox,sent,error,inbox}}",
        dir.display()
    )?;
    writeln!(out, "in another terminal, drop a message into the outbox:")?;
    writeln!(
        out,
        "  printf 'Hello from simgate' > {}/OUT+4917612345678.txt",
        dir.join("outbox").display()
    )?;
    writeln!(
        out,
        "the emulated network answers each message; answers land in {}",
        dir.join("inbox").display()
    )?;
    writeln!(out, "Ctrl-C stops the demo.")?;
    Ok(())
}

/// The emulated network delivers `text` from `from` to the modem.
fn network_sends(
    emulator: &Emulator,
    from: &str,
    text: &str,
    out: &mut dyn Write,
) -> Result<(), DemoError> {
    let Ok(plan) = crate::pdu::plan_text(text, crate::pdu::EncodingPolicy::Auto) else {
        return Ok(());
    };
    let Ok(originator) = crate::pdu::Address::parse_number(from) else {
        return Ok(());
    };
    let now = crate::pdu::Timestamp::from_unix_seconds(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    );
    for deliver in crate::pdu::SmsDeliver::from_plan(&plan, &originator, now, 1) {
        let sent = deliver
            .encode()
            .map_err(|e| e.to_string())
            .and_then(|tpdu| emulator.inject_deliver(&tpdu).map_err(|e| e.to_string()));
        if let Err(error) = sent {
            writeln!(out, "  the emulated network could not deliver: {error}")?;
            return Ok(());
        }
    }
    writeln!(out, "the emulated network sends {text:?} from {from}")?;
    Ok(())
}
