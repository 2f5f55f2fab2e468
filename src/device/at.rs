//! The AT modem as a [`Device`]: the supervised serial modem of
//! `crate::modem`, with what only an AT modem knows kept here: which
//! storage `AT+CPMS` has selected, whether this session's modem waits for
//! `AT+CNMA` after a routed message, `RING` followed by `+CLIP` for one call,
//! the SIM's last-used TP-MR in EF_SMSS, and a hard reset with
//! `AT+CFUN=1,1`.

use super::{
    Capabilities, Control, Device, DeviceError, DeviceEvent, DeviceInfo, DeviceState, Listed,
    Location, Radio,
};
use crate::at::{self, Urc};
use crate::config::Config;
use crate::instance::{self, InstanceError};
use crate::modem::supervisor::{self, ModemState, SupervisorHandle};
use crate::modem::{InitReport, Modem, ModemConfig, ModemError, PinMemory};
use crate::pdu::EncodedPdu;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// How many events may wait for the daemon.
const EVENT_QUEUE: usize = 1024;

/// An AT modem on a serial port.
#[derive(Debug)]
pub(crate) struct AtModem {
    /// The current supervisor (replaced on reload).
    supervisor: Mutex<Arc<SupervisorHandle>>,
    /// This session's state of the modem, shared with the forwarding tasks.
    session: Arc<Mutex<Session>>,
    state: watch::Receiver<DeviceState>,
    state_tx: Arc<watch::Sender<DeviceState>>,
    events: mpsc::Sender<DeviceEvent>,
    /// The device path given explicitly (tests, the demo): kept on reload.
    fixed_device: Option<PathBuf>,
    pins: Arc<dyn PinMemory>,
}

/// What is known of the current modem session.
#[derive(Debug, Default)]
struct Session {
    /// The storage `AT+CPMS` has selected for reading and deleting.
    selected: Option<String>,
    /// Whether the modem waits for `AT+CNMA` after `+CMT`/`+CDS`: learnt
    /// from the first acknowledgement.
    acknowledge: Option<bool>,
}

fn device_error(error: ModemError) -> DeviceError {
    DeviceError {
        kind: error.kind(),
        message: error.to_string(),
    }
}

impl AtModem {
    /// Opens the modem `config` names, unless another simgate holds it
    /// (then it stops with a line naming the holder; a missing device is
    /// fine: the supervisor waits for it). Its events arrive on the
    /// returned receiver. `fixed` keeps `config`'s device across reloads.
    pub(crate) async fn open(
        mut config: ModemConfig,
        pins: Arc<dyn PinMemory>,
        fixed: bool,
    ) -> Result<(Self, mpsc::Receiver<DeviceEvent>), InstanceError> {
        let device = config.device.clone();
        instance::patiently(|| crate::modem::port::check_not_held(&device)).await?;
        config.pins = pins.clone();
        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        let (state_tx, state) = watch::channel(DeviceState::Connecting {
            attempt: 0,
            last_error: None,
        });
        let state_tx = Arc::new(state_tx);
        let session = Arc::new(Mutex::new(Session::default()));
        let supervisor = start(config, &state_tx, &events, &session);
        Ok((
            Self {
                supervisor: Mutex::new(supervisor),
                session,
                state,
                state_tx,
                events,
                fixed_device: fixed.then_some(device),
                pins,
            },
            receiver,
        ))
    }

    fn current(&self) -> Arc<SupervisorHandle> {
        self.supervisor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The ready session and what initialisation found.
    fn ready(&self) -> Result<(Modem, InitReport), DeviceError> {
        match self.current().state() {
            ModemState::Ready { modem, report, .. } => Ok((modem, *report)),
            _ => Err(DeviceError::not_ready()),
        }
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `storage` the one `AT+CPMS` reads and deletes from; how full
    /// it is, where the modem says.
    async fn select(
        &self,
        modem: &Modem,
        storage: &str,
    ) -> Result<Option<(u32, u32)>, DeviceError> {
        let usage = modem
            .select_read_memory(storage)
            .await
            .map_err(device_error)?;
        self.session().selected = Some(storage.to_owned());
        Ok(usage.map(|u| (u.used, u.total)))
    }
}

/// Starts a supervisor and the tasks that turn its state and unsolicited
/// result codes into the device's.
fn start(
    config: ModemConfig,
    state_tx: &Arc<watch::Sender<DeviceState>>,
    events: &mpsc::Sender<DeviceEvent>,
    session: &Arc<Mutex<Session>>,
) -> Arc<SupervisorHandle> {
    let (handle, urcs) = supervisor::spawn(config);
    let handle = Arc::new(handle);
    tokio::spawn(forward_state(
        handle.watch(),
        state_tx.clone(),
        session.clone(),
    ));
    tokio::spawn(forward_urcs(urcs, events.clone(), handle.watch()));
    handle
}

async fn forward_state(
    mut modem: watch::Receiver<ModemState>,
    state: Arc<watch::Sender<DeviceState>>,
    session: Arc<Mutex<Session>>,
) {
    loop {
        let next = match &*modem.borrow_and_update() {
            ModemState::Connecting {
                attempt,
                last_error,
            } => DeviceState::Connecting {
                attempt: *attempt,
                last_error: last_error.clone(),
            },
            ModemState::Ready { report, .. } => {
                // A new session: AT+CPMS selected the main storage, and
                // whether it wants +CNMA is learnt again.
                *session.lock().unwrap_or_else(|e| e.into_inner()) = Session {
                    selected: Some(report.storage.clone()),
                    acknowledge: None,
                };
                let model = format!(
                    "{} {}",
                    report.identity.manufacturer.as_deref().unwrap_or("modem"),
                    report.identity.model.as_deref().unwrap_or("")
                );
                DeviceState::Ready(DeviceInfo {
                    model: model.trim().to_owned(),
                    imei: report.identity.imei.clone(),
                })
            }
            ModemState::Suspended => DeviceState::Suspended,
            // A supervisor replaced on reload stops; the device goes on.
            ModemState::Stopped => return,
        };
        state.send_replace(next);
        if modem.changed().await.is_err() {
            return;
        }
    }
}

/// Unsolicited result codes as device events: storage announcements,
/// routed messages, and one call per RING (a modem that names callers
/// follows RING with +CLIP: the caller comes from that).
async fn forward_urcs(
    mut urcs: mpsc::Receiver<Urc>,
    events: mpsc::Sender<DeviceEvent>,
    modem: watch::Receiver<ModemState>,
) {
    while let Some(urc) = urcs.recv().await {
        let event = match urc {
            Urc::NewMessage(at) | Urc::StatusReportStored(at) => {
                DeviceEvent::Stored { storage: at.memory }
            }
            Urc::Deliver { pdu, .. } | Urc::StatusReport { pdu, .. } => DeviceEvent::Routed { pdu },
            Urc::Malformed { line, error }
                if line.starts_with("+CMT:") || line.starts_with("+CDS:") =>
            {
                DeviceEvent::RoutedUnreadable {
                    raw: line,
                    reason: error.to_string(),
                }
            }
            Urc::CallerId(clip) => DeviceEvent::Call {
                caller: clip.number,
            },
            Urc::Ring => {
                let names_callers = matches!(&*modem.borrow(),
                    ModemState::Ready { report, .. } if report.caller_id);
                if names_callers {
                    continue; // the +CLIP that follows names the caller
                }
                DeviceEvent::Call {
                    caller: String::new(),
                }
            }
            _ => continue,
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

impl Device for AtModem {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            storage: true,
            calls: true,
            reference_counter: true,
        }
    }

    fn watch(&self) -> watch::Receiver<DeviceState> {
        self.state.clone()
    }

    async fn send(&self, pdu: &EncodedPdu) -> Result<u8, DeviceError> {
        // On the current session, as every operation here: a send that
        // waited for the modem's return held the daemon's loop (its
        // outbox, its signals, its watchdog) for as long as the modem was
        // away. A session lost before the PDU was written fails as not
        // sent; the daemon's retry rules take it from there.
        let (modem, _) = self.ready()?;
        modem.send_pdu(pdu).await.map_err(device_error)
    }

    async fn last_reference(&self) -> Result<Option<u8>, DeviceError> {
        self.current().last_used_mr().await.map_err(device_error)
    }

    fn storages(&self) -> Vec<String> {
        match self.current().state() {
            ModemState::Ready { report, .. } => report.read_storages.clone(),
            _ => Vec::new(),
        }
    }

    async fn read_storage(&self, storage: &str) -> Result<Vec<Listed>, DeviceError> {
        let (modem, report) = self.ready()?;
        let selected = self.session().selected.clone();
        if selected.as_deref() != Some(storage) {
            match self.select(&modem, storage).await {
                Ok(_) => {}
                // Many modems have no SR storage; reports then come with
                // the messages.
                Err(_) if storage == "SR" && report.storage != "SR" => return Ok(Vec::new()),
                Err(error) => return Err(error),
            }
        }
        let listed = match modem.list(at::MessageStatus::All).await {
            Ok(listed) => listed,
            Err(ModemError::Rejected { .. }) if storage == "SR" => Vec::new(),
            Err(error) => return Err(device_error(error)),
        };
        let mut read = Vec::new();
        for entry in listed {
            match entry {
                // Stored sent or unsent: the user's own, whatever its PDU.
                Ok(stored)
                    if matches!(
                        stored.status,
                        at::MessageStatus::StoredUnsent | at::MessageStatus::StoredSent
                    ) =>
                {
                    read.push(Listed::Outgoing {
                        location: Location {
                            storage: storage.to_owned(),
                            index: stored.index,
                        },
                    })
                }
                Ok(stored) => read.push(Listed::Message {
                    location: Location {
                        storage: storage.to_owned(),
                        index: stored.index,
                    },
                    pdu: stored.pdu,
                }),
                Err(at::ParseError::Entry { index, error, line }) => {
                    read.push(Listed::Unreadable {
                        location: Location {
                            storage: storage.to_owned(),
                            index,
                        },
                        raw: line.unwrap_or_default(),
                        reason: format!("listing entry {index} in {storage}: {error}"),
                    })
                }
                Err(error) => {
                    tracing::warn!(storage, error = %crate::redact::Scrub(&error), "unreadable line in the message listing")
                }
            }
        }
        Ok(read)
    }

    async fn storage_usage(&self) -> Result<Option<(u32, u32)>, DeviceError> {
        // Selecting the main storage again (where +CMTI announces new
        // messages) tells how full it stays after a round of reading.
        let (modem, report) = self.ready()?;
        self.select(&modem, &report.storage).await
    }

    async fn delete(&self, location: &Location) -> Result<(), DeviceError> {
        let (modem, _) = self.ready()?;
        let selected = self.session().selected.clone();
        if selected.as_deref() != Some(location.storage.as_str()) {
            self.select(&modem, &location.storage).await?;
        }
        modem.delete(location.index).await.map_err(device_error)
    }

    async fn acknowledge(&self) -> Result<(), DeviceError> {
        if self.session().acknowledge == Some(false) {
            return Ok(());
        }
        let (modem, _) = self.ready()?;
        let expected = modem.acknowledge().await.map_err(device_error)?;
        self.session().acknowledge = Some(expected);
        Ok(())
    }

    async fn hang_up(&self) -> Result<(), DeviceError> {
        let (modem, _) = self.ready()?;
        modem
            .run(at::Command::raw("ATH").expect("valid"))
            .await
            .map(drop)
            .map_err(device_error)
    }

    async fn radio(&self) -> Radio {
        let Ok((modem, _)) = self.ready() else {
            return Radio::default();
        };
        let (signal, registration) = modem.radio().await;
        Radio {
            signal_dbm: signal.and_then(|s| s.dbm()).map(i32::from),
            registered: registration.map(|r| r.status.is_registered()),
            signal_percent: signal.and_then(|s| s.percent()),
            ber_class: signal.and_then(|s| s.ber_class()),
            ..Radio::default()
        }
    }

    async fn control(&self, request: Control) {
        let supervisor = self.current();
        match request {
            Control::Suspend => supervisor.suspend().await,
            Control::Resume => supervisor.resume().await,
            Control::Reconnect => supervisor.reconnect().await,
            Control::HardReset => {
                if let Ok((modem, _)) = self.ready() {
                    let command = at::Command::raw("AT+CFUN=1,1").expect("valid");
                    if let Err(error) = modem.run(command).await {
                        tracing::warn!(error = %crate::redact::Scrub(&error), "the modem refused the hard reset; initialising it again instead");
                    }
                }
                supervisor.reconnect().await;
            }
        }
    }

    async fn reload(&self, config: &Config) {
        let mut next = config.modem_config();
        if let Some(device) = &self.fixed_device {
            next.device = device.clone();
        }
        next.pins = self.pins.clone();
        // The old session lets the port go before the new one opens it:
        // the other way round, the new one found the port locked by this
        // very process, and reported the modem unavailable (RunOnFailure
        // INIT) at every reload.
        self.current().shutdown().await;
        let fresh = start(next, &self.state_tx, &self.events, &self.session);
        *self.supervisor.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
    }

    async fn shutdown(&self) {
        self.current().shutdown().await;
        self.state_tx.send_replace(DeviceState::Stopped);
    }
}

/// Runs the daemon on the AT modem the configuration names (or the
/// emulator's pty it names), until `shutdown` completes (or SIGTERM/SIGINT
/// when signals are handled).
pub async fn serve(
    options: crate::daemon::DaemonOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), crate::daemon::DaemonError> {
    crate::daemon::run_on_modems(
        options,
        |_index, context: crate::daemon::DeviceContext, config: std::sync::Arc<Config>| {
            AtModem::open(config.modem_config(), context.pins, false)
        },
        shutdown,
    )
    .await
}
