//! The signals the daemon answers (SIGTERM and SIGINT stop it, SIGHUP
//! reloads, SIGUSR1/SIGUSR2 release and take the modem again), listened to
//! in a task of their own so a stop request is seen even while a message
//! is being sent.
//!
//! The handlers are installed by whoever starts the daemon, as early as it
//! can ([`Signals::listen`], before `simgate run` writes its pid file): a
//! stop that arrives while the daemon is still starting waits in the
//! channel and is acted upon at the loop's first turn, a clean exit,
//! instead of killing the process by the default action with its pid file
//! left behind.

use super::DaemonError;
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

/// The daemon's signal handlers, and what they have caught so far.
#[derive(Debug)]
pub struct Signals {
    receiver: mpsc::UnboundedReceiver<Signal>,
    /// Caught while the daemon's work waited, for its next run.
    kept: std::collections::VecDeque<Signal>,
    stop: StopFlag,
    /// Without handlers, a sender kept alive makes `recv` simply wait.
    _idle: Option<mpsc::UnboundedSender<Signal>>,
}

impl Signals {
    /// Installs the handlers for SIGTERM, SIGINT, SIGHUP, SIGUSR1 and
    /// SIGUSR2; from here on none of them ends the process by its default
    /// action. What arrives is kept until the daemon's loop takes it; a
    /// second stop request leaves at once (exit status 1). Must be called
    /// within a tokio runtime.
    pub fn listen() -> Result<Self, DaemonError> {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind| signal(kind).map_err(DaemonError::Signals);
        let mut term = install(SignalKind::terminate())?;
        let mut int = install(SignalKind::interrupt())?;
        let mut hup = install(SignalKind::hangup())?;
        let mut usr1 = install(SignalKind::user_defined1())?;
        let mut usr2 = install(SignalKind::user_defined2())?;
        let stop = StopFlag::default();
        let flag = stop.clone();
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
                    if flag.is_set() {
                        // A second stop request: leave at once.
                        std::process::exit(1);
                    }
                    flag.set();
                }
                if sender.send(signal).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            receiver,
            kept: std::collections::VecDeque::new(),
            stop,
            _idle: None,
        })
    }

    /// No handlers: nothing ever arrives.
    pub(super) fn none() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self {
            receiver,
            kept: std::collections::VecDeque::new(),
            stop: StopFlag::default(),
            _idle: Some(sender),
        }
    }

    /// Signals as if `caught` had arrived, in order (tests).
    #[cfg(test)]
    pub(super) fn caught(caught: &[Signal]) -> Self {
        let signals = Self::none();
        let sender = signals._idle.as_ref().expect("none() keeps its sender");
        for signal in caught {
            sender.send(*signal).expect("the receiver is here");
        }
        signals
    }

    /// The next signal caught (`None` once the listening task ended).
    pub(super) async fn recv(&mut self) -> Option<Signal> {
        match self.kept.pop_front() {
            Some(kept) => Some(kept),
            None => self.receiver.recv().await,
        }
    }

    /// The next signal to arrive, leaving those kept for the daemon's
    /// next run where they are.
    pub(super) async fn recv_arriving(&mut self) -> Option<Signal> {
        self.receiver.recv().await
    }

    /// Keeps `signal` for the next [`Signals::recv`]: one caught while the
    /// daemon's work could not act on it.
    pub(super) fn keep(&mut self, signal: Signal) {
        self.kept.push_back(signal);
    }

    /// Set once a stop request arrived.
    pub(super) fn stop_flag(&self) -> StopFlag {
        self.stop.clone()
    }
}
