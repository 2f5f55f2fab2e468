//! `simgate demo`: the daemon on the built-in modem emulator, with its spool
//! in a local folder, narrating what happens. The way to try simgate
//! without hardware: drop a file into the outbox from another terminal and
//! watch it go out and land in sent/.

use crate::config::Config;
use crate::daemon::{self, DaemonEvent, DaemonOptions};
use crate::emulator::{Emulator, EmulatorConfig, Profile};
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Creating the folder, the pty or writing output.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The daemon failed.
    #[error("{0}")]
    Daemon(#[from] daemon::DaemonError),
}

/// Runs the demo in `dir` until Ctrl-C, or until `stop_after` messages
/// were sent (when not 0), writing the narration to `out`.
pub fn run(dir: &Path, stop_after: usize, out: &mut dyn Write) -> Result<(), DemoError> {
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
    config.database.path = dir.join("simgate.db");
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
        spool("outbox").display()
    )?;
    writeln!(out, "Ctrl-C stops the demo.")?;
    out.flush()?;

    let (events, mut narration) = mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = DaemonOptions {
        config,
        modem: None,
        events: Some(events),
        handle_signals: false,
        config_path: None,
    };
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stopped => {}
        }
    };
    let daemon = tokio::spawn(daemon::run(options, shutdown));
    let mut stop = Some(stop);
    let mut sent = 0;
    while let Some(event) = narration.recv().await {
        match event {
            DaemonEvent::ModemReady { model } => writeln!(out, "modem ready: {model}")?,
            DaemonEvent::Queued { file } => writeln!(out, "queued {file}")?,
            DaemonEvent::Sent { file, references } => {
                sent += 1;
                writeln!(
                    out,
                    "sent {file} in {} part(s), message references {references:?}; moved to {}",
                    references.len(),
                    spool("sent").display()
                )?;
                if let Some(message) = emulator.sent().last() {
                    writeln!(
                        out,
                        "  the emulated network got: to {} {:?}",
                        message.submit.destination.to_display(),
                        message.submit.user_data.body.text().unwrap_or("<data>")
                    )?;
                }
                if stop_after > 0 && sent >= stop_after {
                    if let Some(stop) = stop.take() {
                        let _ = stop.send(());
                    }
                }
            }
            DaemonEvent::Failed { file, reason } => writeln!(out, "failed {file}: {reason}")?,
            DaemonEvent::Received { files } => writeln!(out, "received {}", files.join(", "))?,
            DaemonEvent::Call { caller } => writeln!(out, "incoming call from {caller}")?,
            DaemonEvent::StorageNearlyFull {
                memory,
                used,
                total,
            } => writeln!(out, "storage {memory} nearly full: {used} of {total}")?,
        }
        out.flush()?;
    }
    daemon.await.map_err(std::io::Error::other)??;
    emulator.stop().await;
    Ok(())
}
