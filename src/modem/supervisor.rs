//! Keeps a modem usable for as long as simgate runs: opens the port,
//! initialises it, watches its health, and when it hangs or disappears
//! closes it and tries again with exponential backoff, following the device
//! if it comes back under another name (through its `/dev/serial/by-id`
//! link) and checking by IMEI that it is the same modem.
//!
//! Callers never see a half-initialised modem: the state holds a session
//! only once it is initialised, and nothing here waits for the next one
//! (a caller waiting for the modem's return would stop whatever else it
//! does). Nothing is queued here, so a reconnect cannot lose or repeat a
//! message: a send whose session was lost before its PDU was written fails
//! as not sent and is safe to repeat on the next session, and one that
//! failed after is reported as ambiguous
//! ([`FailureKind::Ambiguous`](super::error::FailureKind::Ambiguous)).

use super::backoff::Backoff;
use super::channel;
use super::error::ModemError;
use super::port::{self, PortSettings};
use super::session::{InitReport, InitSettings, Modem, PinGuard, Timeouts, HANGS_BEFORE_REOPEN};
use crate::at::Urc;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How to reach and run the modem.
#[derive(Debug, Clone)]
pub(crate) struct ModemConfig {
    /// The port: `/dev/serial/by-id/...` (best), `/dev/ttyUSB2`, ...
    pub device: PathBuf,
    /// Line settings.
    pub port: PortSettings,
    /// PIN and SMSC.
    pub init: InitSettings,
    /// Command timeouts.
    pub timeouts: Timeouts,
    /// First delay before reopening after a failure.
    pub backoff_initial: Duration,
    /// Longest delay between reopen attempts.
    pub backoff_max: Duration,
    /// How often an idle modem is checked with AT.
    pub health_interval: Duration,
    /// Directories of stable links to look in when the device path
    /// disappears (`/dev/serial/by-id`).
    pub by_id_dirs: Vec<PathBuf>,
    /// Where what each SIM did with the PIN is remembered (the daemon's
    /// database; in memory by default).
    pub pins: std::sync::Arc<dyn super::PinMemory>,
}

impl ModemConfig {
    /// Defaults for `device`: reopen after 100 ms doubling to 2 s, health
    /// check every 60 s (an idle modem sees few commands), follow links in
    /// `/dev/serial/by-id`.
    pub(crate) fn new(device: impl Into<PathBuf>) -> Self {
        Self {
            device: device.into(),
            port: PortSettings::default(),
            init: InitSettings::default(),
            timeouts: Timeouts::default(),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            health_interval: Duration::from_secs(60),
            by_id_dirs: vec![PathBuf::from("/dev/serial/by-id")],
            pins: std::sync::Arc::new(super::MemoryPins::default()),
        }
    }
}

/// Where the supervised modem stands.
#[derive(Debug, Clone)]
pub(crate) enum ModemState {
    /// Opening or initialising; the last failure, if any.
    Connecting {
        /// Attempts since the modem was last ready.
        attempt: u32,
        /// Why the previous attempt failed.
        last_error: Option<String>,
    },
    /// Initialised and usable.
    Ready {
        /// The session.
        modem: Modem,
        /// What initialisation found.
        report: Box<InitReport>,
    },
    /// Port released on request ([`SupervisorHandle::suspend`]).
    Suspended,
    /// Stopped for good ([`SupervisorHandle::shutdown`]).
    Stopped,
}

enum Control {
    Suspend,
    Resume,
    Reconnect,
    Shutdown,
}

/// The caller's side of a supervised modem.
#[derive(Debug)]
pub(crate) struct SupervisorHandle {
    state: watch::Receiver<ModemState>,
    control: mpsc::Sender<Control>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Suspend => "Suspend",
            Self::Resume => "Resume",
            Self::Reconnect => "Reconnect",
            Self::Shutdown => "Shutdown",
        })
    }
}

/// Starts supervising the modem. Unsolicited result codes of every session
/// arrive on the returned receiver.
pub(crate) fn spawn(config: ModemConfig) -> (SupervisorHandle, mpsc::Receiver<Urc>) {
    let (state_tx, state) = watch::channel(ModemState::Connecting {
        attempt: 0,
        last_error: None,
    });
    let (control, control_rx) = mpsc::channel(8);
    let (urc_tx, urcs) = mpsc::channel(256);
    let task = tokio::spawn(supervise(config, state_tx, control_rx, urc_tx));
    (
        SupervisorHandle {
            state,
            control,
            task: std::sync::Mutex::new(Some(task)),
        },
        urcs,
    )
}

impl SupervisorHandle {
    /// The current state.
    pub(crate) fn state(&self) -> ModemState {
        self.state.borrow().clone()
    }

    /// A receiver that sees every state change (for status lines).
    pub(crate) fn watch(&self) -> watch::Receiver<ModemState> {
        self.state.clone()
    }

    /// Waits for an initialised session.
    #[cfg(test)]
    pub(crate) async fn ready(&self) -> Result<(Modem, InitReport), ModemError> {
        let mut state = self.state.clone();
        loop {
            if let ModemState::Ready { modem, report, .. } = &*state.borrow_and_update() {
                return Ok((modem.clone(), (**report).clone()));
            }
            if state.changed().await.is_err() {
                return Err(channel::ChannelError::Closed {
                    reason: "the modem supervisor has stopped".to_owned(),
                    after_body: false,
                }
                .into());
            }
        }
    }

    /// The TP-MR the modem used last (its SIM's EF_SMSS), asked of the
    /// current session; an error when the modem is not ready.
    pub(crate) async fn last_used_mr(&self) -> Result<Option<u8>, ModemError> {
        match self.state() {
            ModemState::Ready { modem, .. } => modem.last_used_mr().await,
            _ => Err(channel::ChannelError::Closed {
                reason: "the modem is not ready".to_owned(),
                after_body: false,
            }
            .into()),
        }
    }

    /// Releases the port (SIGUSR1); [`resume`](Self::resume) takes it again.
    pub(crate) async fn suspend(&self) {
        let _ = self.control.send(Control::Suspend).await;
    }

    /// Takes the port again after [`suspend`](Self::suspend).
    pub(crate) async fn resume(&self) {
        let _ = self.control.send(Control::Resume).await;
    }

    /// Closes and reopens the port (after a configuration reload).
    pub(crate) async fn reconnect(&self) {
        let _ = self.control.send(Control::Reconnect).await;
    }

    /// Stops supervising and closes the port.
    pub(crate) async fn shutdown(&self) {
        let _ = self.control.send(Control::Shutdown).await;
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Commands in a row without an answer before the modem is re-initialised.
const REINIT_AFTER_HANGS: u32 = 2;
/// A modem that hangs again this soon after a re-initialisation is reopened.
const REINIT_MEMORY: Duration = Duration::from_secs(300);

/// Why a session ended.
enum SessionEnd {
    Lost(String),
    Control(Control),
}

async fn supervise(
    config: ModemConfig,
    state: watch::Sender<ModemState>,
    mut control: mpsc::Receiver<Control>,
    urcs: mpsc::Sender<Urc>,
) {
    let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max);
    let mut guard = PinGuard::new(config.pins.clone());
    let mut follow = Follow::new(&config);
    let mut attempt = 0u32;
    loop {
        let end = match connect(&config, &mut follow, &mut guard, &urcs).await {
            Ok((modem, report, tty, mut task)) => {
                attempt = 0;
                backoff.reset();
                tracing::info!(tty = %tty.display(), model = ?report.identity.model, "modem ready");
                let _ = state.send(ModemState::Ready {
                    modem: modem.clone(),
                    report: Box::new(report),
                });
                let end = run_session(&modem, &config, &mut guard, &mut task, &mut control).await;
                close_session(task).await;
                end
            }
            Err(error) => {
                attempt += 1;
                let message = error.to_string();
                if attempt == 1 || attempt.is_multiple_of(30) {
                    tracing::warn!(%message, attempt, "modem not available");
                }
                let _ = state.send(ModemState::Connecting {
                    attempt,
                    last_error: Some(message),
                });
                let delay = backoff.next_delay();
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    command = control.recv() => SessionEnd::Control(command.unwrap_or(Control::Shutdown)),
                }
            }
        };
        match end {
            SessionEnd::Lost(reason) => {
                tracing::warn!(reason = %crate::redact::Scrub(&reason), "modem lost; reconnecting");
                let _ = state.send(ModemState::Connecting {
                    attempt,
                    last_error: Some(reason),
                });
            }
            SessionEnd::Control(Control::Shutdown) => break,
            SessionEnd::Control(Control::Suspend) => {
                let _ = state.send(ModemState::Suspended);
                tracing::info!("port released on request");
                loop {
                    match control.recv().await {
                        Some(Control::Resume | Control::Reconnect) => break,
                        Some(Control::Suspend) => continue,
                        Some(Control::Shutdown) | None => {
                            let _ = state.send(ModemState::Stopped);
                            return;
                        }
                    }
                }
            }
            SessionEnd::Control(Control::Resume | Control::Reconnect) => {}
        }
    }
    let _ = state.send(ModemState::Stopped);
}

/// Opens the port, starts the channel and initialises the modem.
async fn connect(
    config: &ModemConfig,
    follow: &mut Follow,
    guard: &mut PinGuard,
    urcs: &mpsc::Sender<Urc>,
) -> Result<(Modem, InitReport, PathBuf, tokio::task::JoinHandle<String>), ModemError> {
    let path = follow.path_to_open();
    let port = port::open(&path, config.port)?;
    let tty = port::resolve(&path).unwrap_or_else(|| path.clone());
    let (client, mut session_urcs, task) = channel::spawn(port);
    let forward = urcs.clone();
    tokio::spawn(async move {
        while let Some(urc) = session_urcs.recv().await {
            if forward.send(urc).await.is_err() {
                break;
            }
        }
    });
    let modem = Modem::new(client, config.timeouts);
    let report = match modem.init(&config.init, guard).await {
        Ok(report) => report,
        Err(error) => {
            close_session(task).await;
            return Err(error);
        }
    };
    follow.connected(&tty, report.identity.imei.as_deref());
    Ok((modem, report, tty, task))
}

/// Stops a session's channel task and waits until it has let go of the
/// port: an abort only takes effect when the runtime next gets to the
/// task, and a port opened again before that is still locked (by this
/// very process).
async fn close_session(task: tokio::task::JoinHandle<String>) {
    // A finished task has dropped the port already (and may have been
    // awaited by the session, so it must not be polled again).
    if task.is_finished() {
        return;
    }
    task.abort();
    let _ = task.await;
}

/// Serves a ready session until the port is lost, the modem stops
/// answering, or a control request arrives.
async fn run_session(
    modem: &Modem,
    config: &ModemConfig,
    guard: &mut PinGuard,
    task: &mut tokio::task::JoinHandle<String>,
    control: &mut mpsc::Receiver<Control>,
) -> SessionEnd {
    let mut health = tokio::time::interval(config.health_interval);
    health.tick().await;
    let mut hangs = modem.hang_counter();
    let mut last_reinit: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            changed = hangs.changed() => {
                let count = *hangs.borrow_and_update();
                if changed.is_err() || count < REINIT_AFTER_HANGS {
                    continue;
                }
                // Commands keep getting no answer: re-initialise once; if it
                // happens again soon after, or AT itself gets no answer,
                // close and reopen the port.
                let recently = last_reinit.is_some_and(|at| at.elapsed() < REINIT_MEMORY);
                if count >= HANGS_BEFORE_REOPEN || recently {
                    return SessionEnd::Lost(format!("{count} commands in a row got no answer"));
                }
                tracing::warn!(count, "modem stopped answering; re-initialising");
                last_reinit = Some(tokio::time::Instant::now());
                if let Err(error) = modem.init(&config.init, guard).await {
                    return SessionEnd::Lost(format!("re-initialisation failed: {error}"));
                }
            }
            ended = &mut *task => {
                return SessionEnd::Lost(ended.unwrap_or_else(|e| format!("the AT channel task failed: {e}")));
            }
            command = control.recv() => return SessionEnd::Control(command.unwrap_or(Control::Shutdown)),
            _ = health.tick() => {
                // A modem that answered something within the interval (the
                // radio refresh, a read, a send) is known to be alive.
                if modem.answered_within(config.health_interval) {
                    continue;
                }
                if let Err(error) = modem.sync().await {
                    return SessionEnd::Lost(format!("health check failed: {error}"));
                }
            }
        }
    }
}

/// Finds the device again when its name changes: remembers the stable link
/// that pointed at it and its IMEI.
#[derive(Debug)]
struct Follow {
    configured: PathBuf,
    by_id_dirs: Vec<PathBuf>,
    stable_link: Option<PathBuf>,
    imei: Option<String>,
}

impl Follow {
    fn new(config: &ModemConfig) -> Self {
        Self {
            configured: config.device.clone(),
            by_id_dirs: config.by_id_dirs.clone(),
            stable_link: None,
            imei: None,
        }
    }

    /// The stable link that pointed at the device once it is known (a raw
    /// `/dev/ttyUSB2` may be given to another device after a re-enumeration,
    /// the by-id link follows ours), else the configured path.
    fn path_to_open(&self) -> PathBuf {
        match &self.stable_link {
            Some(link) if link.exists() => {
                if *link != self.configured {
                    tracing::debug!(
                        configured = %self.configured.display(),
                        following = %link.display(),
                        "opening the device through its stable link"
                    );
                }
                link.clone()
            }
            _ => self.configured.clone(),
        }
    }

    /// Records the stable link for `tty` and checks the IMEI.
    fn connected(&mut self, tty: &Path, imei: Option<&str>) {
        if self.stable_link.is_none() {
            self.stable_link = self.by_id_dirs.iter().find_map(|dir| link_to(dir, tty));
        }
        match (&self.imei, imei) {
            (Some(known), Some(now)) if known != now => {
                tracing::warn!(expected = %known, found = %now, "a different modem answered (IMEI changed)");
                self.imei = Some(now.to_owned());
            }
            (None, Some(now)) => self.imei = Some(now.to_owned()),
            _ => {}
        }
    }
}

/// The link in `dir` that resolves to `tty`.
fn link_to(dir: &Path, tty: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| port::resolve(path).as_deref() == Some(tty))
}
