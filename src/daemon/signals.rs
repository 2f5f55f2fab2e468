//! The signals the daemon answers (SIGTERM and SIGINT stop it, SIGHUP
//! reloads, SIGUSR1/SIGUSR2 release and take the modem again), listened to
//! in a task of their own so a stop request is seen even while a message
//! is being sent.

use tokio::sync::mpsc;

/// A signal, as the daemon acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Signal {
    Stop,
    Reload,
    Suspend,
    Resume,
}

/// Set once SIGTERM or SIGINT arrived; checked between parts.
#[derive(Debug, Clone, Default)]
pub(super) struct StopFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl StopFlag {
    fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub(super) fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Listens for the signals; a second stop request leaves at once.
pub(super) fn listen(stop: StopFlag) -> std::io::Result<mpsc::UnboundedReceiver<Signal>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let signal = tokio::select! {
                _ = term.recv() => Signal::Stop,
                _ = int.recv() => Signal::Stop,
                _ = hup.recv() => Signal::Reload,
                _ = usr1.recv() => Signal::Suspend,
                _ = usr2.recv() => Signal::Resume,
            };
            if signal == Signal::Stop {
                if stop.is_set() {
                    // A second stop request: leave at once.
                    std::process::exit(1);
                }
                stop.set();
            }
            if sender.send(signal).is_err() {
                break;
            }
        }
    });
    Ok(receiver)
}
