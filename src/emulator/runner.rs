//! The async runner: one tokio task per emulator that owns the current
//! byte port (a pty master or any stream), feeds host bytes to the
//! [`Machine`], writes its [`Output`]s (sleeping for `Delay`s with
//! `tokio::time`, so paused-time tests are deterministic), drives the RING
//! and noise timers, and carries out unplug and replug.
//!
//! The machine sits behind a `std::sync::Mutex` shared with the
//! `Emulator` handle; it is never held across an await. Output the handle
//! provokes (injections, faults) reaches the runner as a [`Control`]
//! message and is written after any answer already queued.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use super::machine::{Machine, Output};
use super::pty::{point_link, Pty};
use super::record::EmulatorEvent;

/// Time between two `RING`s of an incoming call.
pub const RING_INTERVAL: Duration = Duration::from_secs(3);
/// Wait before retrying a failed replug.
const REPLUG_RETRY: Duration = Duration::from_secs(1);

/// A byte stream the modem can talk over.
pub(super) trait Port: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Port for T {}

/// State shared by the handle and the runner.
pub(super) struct Shared {
    pub(super) machine: Mutex<Machine>,
    pub(super) events: broadcast::Sender<EmulatorEvent>,
    pub(super) tty_path: Mutex<PathBuf>,
}

impl Shared {
    /// Runs `f` on the machine, broadcasts its events, returns its result
    /// and the output it queued.
    pub(super) fn with<R>(&self, f: impl FnOnce(&mut Machine) -> R) -> (R, Vec<Output>) {
        let mut m = self.machine.lock().unwrap_or_else(PoisonError::into_inner);
        let r = f(&mut m);
        let out = m.take_output();
        for e in m.take_events() {
            let _ = self.events.send(e);
        }
        (r, out)
    }

    /// Reads the machine without taking its output or events.
    pub(super) fn peek<R>(&self, f: impl FnOnce(&Machine) -> R) -> R {
        f(&self.machine.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(super) fn tty_path(&self) -> PathBuf {
        self.tty_path
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_tty_path(&self, path: PathBuf) {
        *self.tty_path.lock().unwrap_or_else(PoisonError::into_inner) = path;
    }
}

/// Requests from the handle.
pub(super) enum Control {
    /// Output the machine queued outside `receive`.
    Output(Vec<Output>),
    /// Close the port; replug after the delay if given.
    Unplug {
        back_after: Option<Duration>,
        done: oneshot::Sender<()>,
    },
    /// Replug now (pty: a new pty; stream: nothing to plug in).
    Replug,
    /// Replug on this stream.
    ReplugWith(Box<dyn Port>),
    /// End the task.
    Stop,
}

/// What kind of device the runner emulates.
pub(super) enum Device {
    /// A pty with its stable symlink.
    Pty { link: PathBuf },
    /// A stream given by the caller.
    Stream,
}

pub(super) struct Runner {
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Control>,
    port: Option<Box<dyn Port>>,
    device: Device,
    queue: VecDeque<Output>,
    offset: usize,
    resume_at: Option<Instant>,
    replug_at: Option<Instant>,
    next_ring: Option<Instant>,
    noise: Option<(Duration, Instant)>,
    buf: Vec<u8>,
}

async fn read_port(port: &mut Option<Box<dyn Port>>, buf: &mut [u8]) -> std::io::Result<usize> {
    match port {
        Some(p) => p.read(buf).await,
        None => std::future::pending().await,
    }
}

async fn write_front(
    port: &mut Option<Box<dyn Port>>,
    queue: &VecDeque<Output>,
    offset: usize,
) -> std::io::Result<usize> {
    match (port, queue.front()) {
        (Some(p), Some(Output::Write(bytes))) => {
            let n = p.write(&bytes[offset..]).await?;
            p.flush().await?;
            Ok(n)
        }
        _ => Ok(0),
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Runner {
    pub(super) fn new(
        shared: Arc<Shared>,
        rx: mpsc::UnboundedReceiver<Control>,
        port: Box<dyn Port>,
        device: Device,
    ) -> Self {
        Runner {
            shared,
            rx,
            port: Some(port),
            device,
            queue: VecDeque::new(),
            offset: 0,
            resume_at: None,
            replug_at: None,
            next_ring: None,
            noise: None,
            buf: vec![0; 4096],
        }
    }

    pub(super) async fn run(mut self) {
        loop {
            self.refresh_timers();
            if self.resume_at.is_some() {
                tokio::select! {
                    biased;
                    c = self.rx.recv() => if !self.control(c) { break },
                    () = sleep_opt(self.resume_at) => self.resume_at = None,
                }
                continue;
            }
            match self.queue.front() {
                Some(Output::Delay(d)) => {
                    self.resume_at = Some(Instant::now() + *d);
                    self.queue.pop_front();
                    continue;
                }
                Some(Output::Hang) => {
                    self.queue.pop_front();
                    continue;
                }
                Some(Output::Write(bytes)) if self.port.is_none() || self.offset >= bytes.len() => {
                    self.queue.pop_front();
                    self.offset = 0;
                    continue;
                }
                Some(Output::Write(_)) => {
                    tokio::select! {
                        biased;
                        c = self.rx.recv() => if !self.control(c) { break },
                        r = write_front(&mut self.port, &self.queue, self.offset) => match r {
                            Ok(n) => self.offset += n,
                            Err(e) => self.port_failed(&e),
                        },
                    }
                    continue;
                }
                None => {}
            }
            tokio::select! {
                biased;
                c = self.rx.recv() => if !self.control(c) { break },
                r = read_port(&mut self.port, &mut self.buf) => match r {
                    Ok(0) => self.port_failed(&std::io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => {
                        let bytes = &self.buf[..n];
                        let (out, _) = self.shared.with(|m| m.receive(bytes));
                        self.queue.extend(out);
                    }
                    Err(e) => self.port_failed(&e),
                },
                () = sleep_opt(self.replug_at) => {
                    self.replug_at = None;
                    self.replug();
                }
                () = sleep_opt(self.next_ring) => {
                    self.next_ring = Some(Instant::now() + RING_INTERVAL);
                    let ((), out) = self.shared.with(Machine::ring_tick);
                    self.queue.extend(out);
                }
                () = sleep_opt(self.noise.map(|(_, at)| at)) => {
                    self.noise = self.noise.map(|(iv, _)| (iv, Instant::now() + iv));
                    let ((), out) = self.shared.with(Machine::noise_tick);
                    self.queue.extend(out);
                }
            }
        }
    }

    /// Arms or disarms the RING and noise timers from the machine's state.
    fn refresh_timers(&mut self) {
        let (ringing, noise) = self
            .shared
            .peek(|m| (m.ringing() && m.connected(), m.noise_interval()));
        match (ringing, self.next_ring) {
            (true, None) => self.next_ring = Some(Instant::now() + RING_INTERVAL),
            (false, Some(_)) => self.next_ring = None,
            _ => {}
        }
        self.noise = match (noise, self.noise) {
            (Some(iv), Some((old, at))) if iv == old => Some((old, at)),
            (Some(iv), _) => Some((iv, Instant::now() + iv)),
            (None, _) => None,
        };
        if self.port.is_none() {
            self.noise = None;
        }
    }

    /// Handles a control message; false ends the task.
    fn control(&mut self, c: Option<Control>) -> bool {
        match c {
            None | Some(Control::Stop) => return false,
            Some(Control::Output(out)) => {
                if self.port.is_some() {
                    self.queue.extend(out);
                }
            }
            Some(Control::Unplug { back_after, done }) => {
                self.unplug();
                self.replug_at = back_after.map(|d| Instant::now() + d);
                let _ = done.send(());
            }
            Some(Control::Replug) => {
                if self.port.is_none() {
                    self.replug_at = None;
                    self.replug();
                }
            }
            Some(Control::ReplugWith(port)) => {
                if self.port.is_some() {
                    self.unplug();
                }
                self.replug_at = None;
                self.plug(port, PathBuf::new());
            }
        }
        true
    }

    /// The host side went away (stream EOF or error): stop using the port.
    fn port_failed(&mut self, e: &std::io::Error) {
        tracing::debug!(error = %e, "emulator port closed by the host");
        self.port = None;
        self.queue.clear();
        self.offset = 0;
        let _ = self.shared.events.send(EmulatorEvent::HostClosed);
    }

    fn unplug(&mut self) {
        self.port = None;
        self.queue.clear();
        self.offset = 0;
        self.resume_at = None;
        self.replug_at = None;
        self.next_ring = None;
        self.shared.with(Machine::disconnect);
        if let Device::Pty { link } = &self.device {
            let _ = std::fs::remove_file(link);
        }
        let _ = self.shared.events.send(EmulatorEvent::Unplugged);
    }

    fn replug(&mut self) {
        let Device::Pty { link } = &self.device else {
            tracing::debug!("stream emulator: replug needs replug_with");
            return;
        };
        let old = self.shared.tty_path();
        let opened = Pty::open(Some(&old)).and_then(|pty| {
            point_link(link, pty.path())?;
            Ok(pty)
        });
        match opened {
            Ok(pty) => {
                let path = pty.path().to_path_buf();
                self.shared.set_tty_path(path.clone());
                self.plug(Box::new(pty), path);
            }
            Err(e) => {
                tracing::warn!(error = %e, "emulator replug failed; retrying");
                self.replug_at = Some(Instant::now() + REPLUG_RETRY);
            }
        }
    }

    fn plug(&mut self, port: Box<dyn Port>, path: PathBuf) {
        self.port = Some(port);
        self.queue.clear();
        self.offset = 0;
        let ((), out) = self.shared.with(Machine::connect);
        self.queue.extend(out);
        let _ = self.shared.events.send(EmulatorEvent::Replugged { path });
    }
}
