//! A modem that ModemManager owns as a [`Device`], driven over D-Bus
//! ([`crate::modemmanager`]). ModemManager takes and gives whole texts
//! (it splits and joins long ones itself), so [`super::text`] is the
//! bridge to the daemon's PDUs.
//!
//! - Sending: the parts the daemon planned are decoded back into number
//!   and text; for the first part one SMS object is created (a delivery
//!   report asked for when the planned parts ask for one), recorded in
//!   the journal ([`crate::modemmanager::journal`]) under a key derived
//!   from the daemon's row and the message, synced, and only then asked
//!   to send. The later parts are answered from the same object.
//! - A send whose answer was lost (no reply within the timeout, the bus
//!   gone) is settled by the object's state: SENT went out, STORED did
//!   not (sent again from the same object). A retry or a restart finds the
//!   object in the journal and never creates a second one, so a part left
//!   in doubt by a crash is sent again through the journal
//!   ([`Device::resends_safely`]).
//! - An object ModemManager no longer knows (it restarted, the modem was
//!   unplugged) cannot tell: the message is given up and not resent, as a
//!   lost `+CMGS` answer, but told as [`FailureKind::Permanent`] (the
//!   daemon would bring an ambiguous part of a device that resends safely
//!   straight back here); with `[send] ambiguous = "resend"` it is sent
//!   again with a new object.
//! - TP-MRs: ModemManager tells the reference of a message's last part;
//!   the parts before it are taken to have the ones just before (a modem
//!   numbers the parts of one send in a row).
//! - Receiving: the Messaging interface's Added signal names each new
//!   object; once its state is RECEIVED (every part there) the daemon is
//!   told ([`DeviceEvent::Stored`]) and reads the objects, each a received
//!   text made SMS-DELIVER PDUs or a report made an SMS-STATUS-REPORT
//!   (TP-ST from its DeliveryState, matched by its message reference);
//!   the daemon deletes each object only once its inbox file is durable.
//!   The daemon's read at each session start and its safety poll list
//!   every object as well.
//! - The modem leaving ModemManager (InterfacesRemoved, or ModemManager
//!   gone) makes the device not ready: messages wait; its return (or any
//!   modem matching `device`) makes it ready again.

use super::{
    text, Capabilities, Control, Device, DeviceError, DeviceEvent, DeviceInfo, DeviceState,
    FailureKind, Listed, Location, MessageName, Radio,
};
use crate::config::Config;
use crate::modemmanager::journal::{self, Journal};
use crate::modemmanager::model::{self, PduType, SmsState};
use crate::modemmanager::proxies::{
    MessagingProxy, Modem3gppProxy, ModemProxy, SignalProxy, SmsProxy,
};
use crate::pdu::{EncodedPdu, SmsSubmit};
use crate::redact::{Redact, Scrub};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use zbus::proxy::CacheProperties;
use zbus::zvariant::{ObjectPath, Value};

/// The one storage the daemon reads: ModemManager's SMS objects.
pub const STORAGE: &str = "modemmanager";

/// Where ModemManager puts its SMS objects (the index follows).
const SMS_PATH: &str = "/org/freedesktop/ModemManager1/SMS/";
/// How many events may wait for the daemon.
const EVENT_QUEUE: usize = 64;
/// The shortest time a D-Bus call may take before it is given up.
const MIN_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the modem is asked whether it is still there.
const CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// How often a sending object's state is asked while a send is settled.
const SETTLE_INTERVAL: Duration = Duration::from_millis(200);
/// How long a received object may take to get all its parts before the
/// wait for it is given up (the daemon's polls still find it later).
const COMPLETE_WAIT: Duration = Duration::from_secs(3600);
/// Objects deleted lately (several PDUs come from one object).
const DELETED_KEPT: usize = 256;

fn failure(kind: FailureKind, message: impl Into<String>) -> DeviceError {
    DeviceError {
        kind,
        message: message.into(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The key a message is journaled under: SHA-256 over the daemon's name
/// for it (its row and its database's identity: [`MessageName`]), the
/// recipient, the text and the concatenation reference and count, the
/// same for every try of it and after a restart, and never the key of
/// another database's message (a journal left beside a fresh database
/// never answers for its messages).
pub(crate) fn message_key(
    message: MessageName,
    phone: &str,
    text: &str,
    concat: Option<(u16, u8)>,
) -> String {
    let (reference, total) = concat.unwrap_or((0, 1));
    let digest = Sha256::new()
        .chain_update(message.bytes())
        .chain_update(phone.as_bytes())
        .chain_update([0])
        .chain_update(text.as_bytes())
        .chain_update([0])
        .chain_update(reference.to_be_bytes())
        .chain_update([total])
        .finalize();
    crate::pdu::hex::encode(&digest[..16]).to_ascii_lowercase()
}

/// The TP-MR of part `index` of `total` when the last had `last`: the
/// parts of one send numbered in a row.
pub(crate) fn part_reference(last: u32, total: usize, index: usize) -> u8 {
    let behind = total.saturating_sub(1).saturating_sub(index) as u32;
    (last.wrapping_sub(behind) & 0xFF) as u8
}

/// The concatenation reference of a received text's parts: from what it
/// is, so the same message read again makes the same PDUs.
fn concat_of(number: &str, text: &str, timestamp: &str) -> u16 {
    let digest = Sha256::new()
        .chain_update(number.as_bytes())
        .chain_update([0])
        .chain_update(text.as_bytes())
        .chain_update([0])
        .chain_update(timestamp.as_bytes())
        .finalize();
    u16::from_be_bytes([digest[0], digest[1]])
}

/// What a failed D-Bus call says about the object it was made on.
#[derive(Debug, PartialEq, Eq)]
enum Asked {
    /// The object (or ModemManager's modem) is no longer there.
    Gone,
    /// No answer, or the bus or ModemManager away: nothing is known.
    Unknown,
}

fn asked(error: &zbus::Error) -> Asked {
    match error {
        zbus::Error::MethodError(name, _, _)
            if matches!(
                name.as_str(),
                "org.freedesktop.DBus.Error.UnknownObject"
                    | "org.freedesktop.DBus.Error.UnknownInterface"
                    | "org.freedesktop.DBus.Error.UnknownMethod"
            ) =>
        {
            Asked::Gone
        }
        zbus::Error::FDO(error)
            if matches!(
                **error,
                zbus::fdo::Error::UnknownObject(_)
                    | zbus::fdo::Error::UnknownInterface(_)
                    | zbus::fdo::Error::UnknownMethod(_)
            ) =>
        {
            Asked::Gone
        }
        _ => Asked::Unknown,
    }
}

#[derive(Debug, Clone)]
struct Settings {
    selector: String,
    /// Where the modem's keys are written, for the messages.
    section: crate::config::ModemSection,
    bus: Option<String>,
    send_timeout: Duration,
    call_timeout: Duration,
    status_interval: Duration,
    /// `[send] ambiguous = "resend"`: a message whose object vanished is
    /// sent again with a new one.
    resend_ambiguous: bool,
}

fn settings_for(config: &Config) -> Settings {
    let mm = config.modem.modemmanager.clone().unwrap_or_default();
    Settings {
        selector: mm.modem,
        section: config.modem.section.clone(),
        bus: mm.bus,
        send_timeout: config.modem.send_timeout,
        // One timeout for every call, Send's included: a Send that takes
        // as long as the network does must not be given up (and asked
        // again while ModemManager is still sending it).
        call_timeout: config
            .modem
            .command_timeout
            .max(config.modem.send_timeout)
            .max(MIN_CALL_TIMEOUT),
        status_interval: config.modem.status_interval,
        resend_ambiguous: config.send.ambiguous == crate::config::AmbiguousPolicy::Resend,
    }
}

/// The modem in use in this session.
#[derive(Debug, Clone)]
struct Session {
    connection: zbus::Connection,
    modem: String,
}

impl Session {
    async fn messaging(&self) -> zbus::Result<MessagingProxy<'static>> {
        MessagingProxy::builder(&self.connection)
            .path(self.modem.clone())?
            .cache_properties(CacheProperties::No)
            .build()
            .await
    }

    async fn sms(&self, path: &str) -> zbus::Result<SmsProxy<'static>> {
        SmsProxy::builder(&self.connection)
            .path(path.to_owned())?
            .cache_properties(CacheProperties::No)
            .build()
            .await
    }
}

/// A modem ModemManager owns.
#[derive(Debug)]
pub(crate) struct ModemManagerModem {
    inner: Arc<Inner>,
    state: watch::Receiver<DeviceState>,
    watcher: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Inner {
    settings: Mutex<Settings>,
    state_tx: watch::Sender<DeviceState>,
    events: mpsc::Sender<DeviceEvent>,
    session: Mutex<Option<Session>>,
    journal: Journal,
    /// Objects deleted lately, by path.
    deleted: Mutex<VecDeque<String>>,
    /// The last part's TP-MR of messages sent without a journal entry.
    references: Mutex<HashMap<String, u32>>,
    /// Received objects whose remaining parts are waited for, by path.
    following: Mutex<std::collections::HashSet<String>>,
    /// The key and object of the message sent last.
    last_sent: Mutex<Option<(String, String)>>,
}

/// What a send settled to.
enum Settled {
    /// Went out: the last part's TP-MR.
    Sent(u32),
    /// Did not go out; the object is still there to send.
    NotSent(String),
    /// The object is gone: whether it went out cannot be told (why).
    Gone(String),
}

impl ModemManagerModem {
    /// Opens the modem `config` names (`[modem] transport =
    /// "modemmanager"`); its events arrive on the returned receiver.
    pub(crate) fn open(config: &Config) -> (Self, mpsc::Receiver<DeviceEvent>) {
        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        let (state_tx, state) = watch::channel(DeviceState::Connecting {
            attempt: 0,
            last_error: None,
        });
        let selector = config
            .modem
            .modemmanager
            .as_ref()
            .map_or("", |m| m.modem.as_str());
        let journal = Journal::open(
            config
                .database
                .path
                .as_deref()
                .map(|database| journal::path_for(database, selector)),
        );
        let inner = Arc::new(Inner {
            settings: Mutex::new(settings_for(config)),
            state_tx,
            events,
            session: Mutex::new(None),
            journal,
            deleted: Mutex::new(VecDeque::new()),
            references: Mutex::new(HashMap::new()),
            following: Mutex::new(std::collections::HashSet::new()),
            last_sent: Mutex::new(None),
        });
        let modem = Self {
            watcher: Mutex::new(Some(tokio::spawn(watch_modem(inner.clone())))),
            inner,
            state,
        };
        (modem, receiver)
    }

    fn restart_watcher(&self, run: bool) {
        let mut watcher = lock(&self.watcher);
        if let Some(old) = watcher.take() {
            old.abort();
        }
        *lock(&self.inner.session) = None;
        if run {
            *watcher = Some(tokio::spawn(watch_modem(self.inner.clone())));
        }
    }

    fn session(&self) -> Result<Session, DeviceError> {
        match &*self.state.borrow() {
            DeviceState::Ready(_) => lock(&self.inner.session)
                .clone()
                .ok_or_else(DeviceError::not_ready),
            _ => Err(DeviceError::not_ready()),
        }
    }

    /// Sends `text` to `phone` (see the module docs): the last part's
    /// TP-MR. `key` names the message in the journal; without one (no
    /// row) nothing is journaled.
    async fn send_text(
        &self,
        key: Option<&str>,
        phone: &str,
        text: &str,
        extras: &Extras,
    ) -> Result<u32, DeviceError> {
        let session = self.session()?;
        let (path, reference) = self.send_object(&session, key, phone, text, extras).await?;
        self.retire(&session, key, path);
        Ok(reference)
    }

    /// Deletes the SMS object of the message sent before this one (or
    /// this one's, when nothing journals it): by now the daemon recorded
    /// that message sent, and nothing asks its object again. The object
    /// of the last one stays until the next, for a restart to find.
    fn retire(&self, session: &Session, key: Option<&str>, path: String) {
        let old = match key {
            None => Some(path),
            Some(key) => lock(&self.inner.last_sent)
                .replace((key.to_owned(), path))
                .filter(|(old, _)| old != key)
                .map(|(_, path)| path),
        };
        let Some(old) = old else { return };
        let session = session.clone();
        tokio::spawn(async move {
            let deleted = async {
                let messaging = session.messaging().await?;
                messaging.delete(&ObjectPath::try_from(old.as_str())?).await
            }
            .await;
            if let Err(error) = deleted {
                tracing::debug!(sms = old, %error, "cannot delete a sent SMS object");
            }
        });
    }

    /// Sends through the journaled object, or a new one: its path and the
    /// last part's TP-MR.
    async fn send_object(
        &self,
        session: &Session,
        key: Option<&str>,
        phone: &str,
        text: &str,
        extras: &Extras,
    ) -> Result<(String, u32), DeviceError> {
        let recorded = key.and_then(|key| self.inner.journal.get(key));
        let path = match recorded {
            Some(path) => match self.settle(session, &path, key.is_some(), None).await? {
                Settled::Sent(reference) => {
                    tracing::info!(sms = path, "this message's SMS object was sent before (a retry or a restart): not sent again");
                    return Ok((path, reference));
                }
                Settled::NotSent(path) => {
                    tracing::info!(
                        sms = path,
                        "this message's SMS object was never sent: sending it now"
                    );
                    path
                }
                Settled::Gone(why) if self.inner.settings().resend_ambiguous => {
                    tracing::warn!(reason = %Scrub(&why), "sending it again with a new SMS object (send.ambiguous = \"resend\")");
                    self.create(session, key, phone, text, extras).await?
                }
                Settled::Gone(why) => return Err(self.gone(why)),
            },
            None => self.create(session, key, phone, text, extras).await?,
        };
        let sms = session
            .sms(&path)
            .await
            .map_err(|e| failure(FailureKind::ModemState, e.to_string()))?;
        match sms.send().await {
            Ok(()) => match sms.message_reference().await {
                Ok(reference) => Ok((path, reference)),
                Err(error) => {
                    // It went out; only its reference is unknown.
                    tracing::warn!(error = %Scrub(&error), "sent, but ModemManager did not tell the message reference");
                    Ok((path, 0))
                }
            },
            Err(error) => {
                let answered = matches!(error, zbus::Error::MethodError(..) | zbus::Error::FDO(_))
                    && asked(&error) == Asked::Unknown;
                let reason = if answered {
                    format!("ModemManager could not send it: {error}")
                } else {
                    format!("no answer from ModemManager to Send: {error}")
                };
                tracing::warn!(reason = %Scrub(&reason), sms = path, "a send did not succeed; asking the SMS object what became of it");
                match self
                    .settle(session, &path, key.is_some(), Some(&reason))
                    .await?
                {
                    Settled::Sent(reference) => Ok((path, reference)),
                    // The daemon's ambiguity rules decide; with
                    // send.ambiguous = "resend" the retry finds the object
                    // gone and makes a new one.
                    Settled::Gone(why)
                        if key.is_none() || self.inner.settings().resend_ambiguous =>
                    {
                        Err(failure(FailureKind::Ambiguous, why))
                    }
                    Settled::Gone(why) => Err(self.gone(why)),
                    Settled::NotSent(path) => {
                        if key.is_none() {
                            if let Ok(messaging) = session.messaging().await {
                                let _ = messaging
                                    .delete(&ObjectPath::try_from(path.as_str()).map_err(|e| {
                                        failure(FailureKind::Transient, e.to_string())
                                    })?)
                                    .await;
                            }
                        }
                        Err(failure(FailureKind::Transient, reason))
                    }
                }
            }
        }
    }

    /// Creates the SMS object for a message and journals it (synced) before
    /// anything asks it to send: its path.
    async fn create(
        &self,
        session: &Session,
        key: Option<&str>,
        phone: &str,
        text: &str,
        extras: &Extras,
    ) -> Result<String, DeviceError> {
        let messaging = session
            .messaging()
            .await
            .map_err(|e| failure(FailureKind::ModemState, e.to_string()))?;
        let mut properties: HashMap<&str, Value<'_>> = HashMap::new();
        properties.insert("number", Value::from(phone));
        properties.insert("text", Value::from(text));
        if extras.report {
            properties.insert("delivery-report-request", Value::from(true));
        }
        if let Some(smsc) = &extras.smsc {
            properties.insert("smsc", Value::from(smsc.as_str()));
        }
        let path = match messaging.create(properties).await {
            Ok(path) => path.to_string(),
            Err(error @ (zbus::Error::MethodError(..) | zbus::Error::FDO(_)))
                if asked(&error) == Asked::Unknown =>
            {
                // ModemManager refused it (a number or text it cannot
                // take); nothing was created that could go out.
                return Err(failure(
                    FailureKind::Transient,
                    format!("ModemManager refused to create the message: {error}"),
                ));
            }
            Err(error) => {
                // Created or not, nothing was asked to send.
                return Err(failure(
                    FailureKind::ModemState,
                    format!("ModemManager did not create the message: {error}"),
                ));
            }
        };
        if let Some(key) = key {
            let journal = &self.inner.journal;
            if let Err(error) = journal.record(key, &path, unix_now()) {
                if let Ok(path) = ObjectPath::try_from(path.as_str()) {
                    let _ = messaging.delete(&path).await;
                }
                return Err(failure(
                    FailureKind::Transient,
                    format!("cannot record the SMS object before sending it: {error}"),
                ));
            }
        }
        tracing::debug!(sms = path, to = %Redact(phone), report = extras.report, "SMS object created");
        Ok(path)
    }

    /// What became of the object at `path`: sent (its reference), or not
    /// sent (still there to send); waits while it is sending, up to the
    /// send timeout. An object gone, or one that cannot be asked when
    /// nothing keeps a retry from sending twice, is ambiguous.
    async fn settle(
        &self,
        session: &Session,
        path: &str,
        journaled: bool,
        reason: Option<&str>,
    ) -> Result<Settled, DeviceError> {
        let deadline = tokio::time::Instant::now() + self.inner.settings().send_timeout;
        let reason = reason.map_or_else(String::new, |r| format!("{r}; "));
        loop {
            let last;
            let asked_state = match session.sms(path).await {
                Ok(sms) => sms.state().await,
                Err(error) => Err(error),
            };
            match asked_state.map(SmsState::from_u32) {
                Ok(SmsState::Sent) => {
                    // It went out: a retry asks the same object again.
                    let sms = session
                        .sms(path)
                        .await
                        .map_err(|e| failure(FailureKind::Held, e.to_string()))?;
                    let reference = sms.message_reference().await.unwrap_or(0);
                    return Ok(Settled::Sent(reference));
                }
                Ok(SmsState::Stored) => return Ok(Settled::NotSent(path.to_owned())),
                Ok(state) => last = format!("its state is {state:?}"),
                Err(error) if asked(&error) == Asked::Gone => {
                    return Ok(Settled::Gone(format!(
                        "{reason}ModemManager no longer knows the SMS object that carried this \
                         message ({path}): it may or may not have gone out"
                    )))
                }
                Err(error) => last = error.to_string(),
            }
            if tokio::time::Instant::now() >= deadline {
                let kind = if journaled {
                    // The retry asks the same object again: it cannot send
                    // twice, and no other modem may send it.
                    FailureKind::Held
                } else {
                    FailureKind::Ambiguous
                };
                return Err(failure(
                    kind,
                    format!("{reason}cannot tell whether the message went out ({last})"),
                ));
            }
            tokio::time::sleep(SETTLE_INTERVAL).await;
        }
    }

    /// The end of a journaled message whose object is gone: given up, not
    /// sent again. The daemon sends a part in doubt again through a device
    /// that resends safely, so this is told as a failure for good, which
    /// it records with the reason, rather than as ambiguous (which would
    /// bring the part back here).
    fn gone(&self, why: String) -> DeviceError {
        tracing::error!(reason = %Scrub(&why), "a send in doubt that cannot be settled; not sent again");
        failure(
            FailureKind::Permanent,
            format!("ambiguous send, not resent: {why}"),
        )
    }

    /// The last part's TP-MR of a message sent before, for its later parts.
    async fn sent_reference(&self, key: &str) -> Option<u32> {
        if let Some(reference) = lock(&self.inner.references).get(key).copied() {
            return Some(reference);
        }
        let path = self.inner.journal.get(key)?;
        let session = self.session().ok()?;
        session
            .sms(&path)
            .await
            .ok()?
            .message_reference()
            .await
            .ok()
    }

    /// Reads the objects ModemManager holds: received texts and reports,
    /// as the daemon takes them.
    async fn list(&self) -> Result<Vec<Listed>, DeviceError> {
        let session = self.session()?;
        let messaging = session
            .messaging()
            .await
            .map_err(|e| failure(FailureKind::ModemState, e.to_string()))?;
        let paths = messaging
            .list()
            .await
            .map_err(|e| failure(FailureKind::ModemState, e.to_string()))?;
        let mut listed = Vec::new();
        for path in paths {
            let path = path.to_string();
            if lock(&self.inner.deleted).contains(&path) {
                continue;
            }
            match read_object(&session, &path).await {
                Ok(Read::Incomplete) => {
                    // Found by a listing (its Added signal came before
                    // this session): told once it is complete.
                    follow_object(&self.inner, &session, path);
                }
                Ok(Read::Entries(mut entries)) => listed.append(&mut entries),
                // Deleted meanwhile.
                Err(error) if asked(&error) == Asked::Gone => {}
                Err(error) => return Err(failure(FailureKind::ModemState, error.to_string())),
            }
        }
        Ok(listed)
    }
}

/// The location of an object for the daemon: its index, the number at
/// the end of its path.
fn location_of(path: &str) -> Option<Location> {
    let index = path.strip_prefix(SMS_PATH)?.parse().ok()?;
    Some(Location {
        storage: STORAGE.to_owned(),
        index,
    })
}

/// What one object is for the daemon.
enum Read {
    /// Received, not all its parts there yet.
    Incomplete,
    /// Nothing for messages to send; SMS-DELIVER PDUs for a received
    /// text; an SMS-STATUS-REPORT for a report.
    Entries(Vec<Listed>),
}

/// One object as the daemon takes it ([`Read`]).
async fn read_object(session: &Session, path: &str) -> zbus::Result<Read> {
    let Some(location) = location_of(path) else {
        return Ok(Read::Entries(Vec::new()));
    };
    let sms = session.sms(path).await?;
    let kind = PduType::from_u32(sms.pdu_type().await?);
    if !matches!(kind, PduType::Deliver | PduType::StatusReport) {
        return Ok(Read::Entries(Vec::new()));
    }
    match SmsState::from_u32(sms.state().await?) {
        SmsState::Received => {}
        SmsState::Receiving => return Ok(Read::Incomplete),
        _ => return Ok(Read::Entries(Vec::new())),
    }
    read_received(&sms, location, kind).await.map(Read::Entries)
}

/// A received object's text or report, made PDUs.
async fn read_received(
    sms: &SmsProxy<'static>,
    location: Location,
    kind: PduType,
) -> zbus::Result<Vec<Listed>> {
    let number = sms.number().await?;
    let timestamp = sms.timestamp().await.unwrap_or_default();
    if kind == PduType::StatusReport {
        let reference = sms.message_reference().await?;
        let delivery = sms.delivery_state().await?;
        let discharge = sms.discharge_timestamp().await.unwrap_or_default();
        let at = model::parse_timestamp(&discharge)
            .or_else(|| model::parse_timestamp(&timestamp))
            .unwrap_or(0);
        let made = model::report_status(delivery)
            .ok_or_else(|| "ModemManager does not know the report's status".to_owned())
            .and_then(|status| {
                text::status_report_with((reference & 0xFF) as u8, &number, at, status)
            });
        return Ok(vec![match made {
            Ok(pdu) => Listed::Message { location, pdu },
            Err(reason) => Listed::Unreadable {
                location,
                raw: format!(
                    "report from {number} for reference {reference}, delivery state {delivery:#x}"
                ),
                reason,
            },
        }]);
    }
    let body = sms.text().await.unwrap_or_default();
    if body.is_empty() {
        let data = sms.data().await.unwrap_or_default();
        if !data.is_empty() {
            return Ok(vec![Listed::Unreadable {
                location,
                raw: format!(
                    "from {number} at {timestamp}: data {}",
                    crate::pdu::hex::encode(&data)
                ),
                reason: "a binary message: ModemManager gives its data, not its PDU; kept raw"
                    .to_owned(),
            }]);
        }
    }
    let seconds = model::parse_timestamp(&timestamp).unwrap_or(0);
    let reference = concat_of(&number, &body, &timestamp);
    Ok(match text::delivers(&number, &body, seconds, reference) {
        Ok(pdus) => pdus
            .into_iter()
            .map(|pdu| Listed::Message {
                location: location.clone(),
                pdu,
            })
            .collect(),
        Err(reason) => vec![Listed::Unreadable {
            location,
            raw: format!("from {number} at {timestamp}: {body}"),
            reason,
        }],
    })
}

impl Inner {
    fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    fn not_ready(&self, attempt: u32, why: String) {
        *lock(&self.session) = None;
        self.state_tx.send_replace(DeviceState::Connecting {
            attempt,
            last_error: Some(why),
        });
    }
}

/// How long to wait before looking again after `attempt` failures.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(u64::from(attempt.clamp(1, 10)))
}

/// Finds the configured modem and makes it the session's: why not when it
/// cannot be used.
async fn connect(inner: &Inner) -> Result<(Session, DeviceInfo), String> {
    let settings = inner.settings();
    let connection = crate::modemmanager::connect(settings.bus.as_deref(), settings.call_timeout)
        .await
        .map_err(|e| format!("cannot reach the D-Bus bus: {e}"))?;
    let modems = crate::modemmanager::list_modems(&connection)
        .await
        .map_err(|e| format!("cannot ask ModemManager for its modems (is it running?): {e}"))?;
    let modem = model::select_in(&modems, &settings.selector, &settings.section)?;
    modem
        .usable()
        .map_err(|why| format!("modem {}: {why}", modem.path))?;
    let info = DeviceInfo {
        model: if modem.name().is_empty() {
            "modem (ModemManager)".to_owned()
        } else {
            format!("{} (ModemManager)", modem.name())
        },
        imei: Some(modem.equipment_identifier.clone()).filter(|i| !i.is_empty()),
    };
    let session = Session {
        connection,
        modem: modem.path.clone(),
    };
    // Extended signal readings where the modem has them.
    let rate = settings.status_interval.as_secs().clamp(5, 3600) as u32;
    if let Ok(signal) = SignalProxy::builder(&session.connection)
        .path(session.modem.clone())
        .map_err(|e| e.to_string())?
        .cache_properties(CacheProperties::No)
        .build()
        .await
    {
        let _ = signal.setup(rate).await;
    }
    Ok((session, info))
}

/// Finds the modem, then follows it: Added signals for received objects,
/// the modem leaving ModemManager or becoming unusable; looks again when
/// it is gone.
async fn watch_modem(inner: Arc<Inner>) {
    let mut attempt = 0u32;
    loop {
        let (session, info) = match connect(&inner).await {
            Ok(found) => found,
            Err(why) => {
                attempt += 1;
                if attempt == 1 || attempt.is_multiple_of(30) {
                    tracing::warn!(error = %Scrub(&why), attempt, "the ModemManager modem is not ready");
                }
                inner.not_ready(attempt, why);
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
        };
        attempt = 0;
        let why = follow(&inner, session, info).await;
        tracing::warn!(
            reason = why,
            "lost the ModemManager modem; messages wait until it is back"
        );
        attempt += 1;
        inner.not_ready(attempt, why);
    }
}

/// Follows one session until the modem is gone: why.
async fn follow(inner: &Arc<Inner>, session: Session, info: DeviceInfo) -> String {
    let subscribed = async {
        let manager = zbus::fdo::ObjectManagerProxy::builder(&session.connection)
            .destination(crate::modemmanager::SERVICE)?
            .path(crate::modemmanager::ROOT)?
            .build()
            .await?;
        let removed = manager.receive_interfaces_removed().await?;
        let messaging = session.messaging().await?;
        let added = messaging.receive_added().await?;
        let bus = zbus::fdo::DBusProxy::new(&session.connection).await?;
        let owners = bus
            .receive_name_owner_changed_with_args(&[(0, crate::modemmanager::SERVICE)])
            .await?;
        Ok::<_, zbus::Error>((removed, added, owners))
    }
    .await;
    let (mut removed, mut added, mut owners) = match subscribed {
        Ok(streams) => streams,
        Err(error) => return format!("cannot follow the modem's signals: {error}"),
    };
    let modem = match ModemProxy::builder(&session.connection)
        .path(session.modem.clone())
        .map(|b| b.cache_properties(CacheProperties::No))
    {
        Ok(builder) => match builder.build().await {
            Ok(modem) => modem,
            Err(error) => return error.to_string(),
        },
        Err(error) => return error.to_string(),
    };
    // ModemManager numbers its objects afresh when it restarts: a path
    // deleted in an earlier session may name a new message now.
    lock(&inner.deleted).clear();
    *lock(&inner.session) = Some(session.clone());
    tracing::info!(
        model = info.model,
        modem = session.modem,
        "the ModemManager modem is ready"
    );
    inner.state_tx.send_replace(DeviceState::Ready(info));
    let mut check = tokio::time::interval(CHECK_INTERVAL);
    check.tick().await;
    loop {
        tokio::select! {
            signal = removed.next() => {
                let Some(signal) = signal else {
                    return "the D-Bus connection closed".to_owned();
                };
                if let Ok(args) = signal.args() {
                    let ours = args.object_path().as_str() == session.modem
                        && args
                            .interfaces()
                            .iter()
                            .any(|i| i.as_str() == crate::modemmanager::MODEM
                                || i.as_str() == crate::modemmanager::MESSAGING);
                    if ours {
                        return format!("the modem {} left ModemManager", session.modem);
                    }
                }
            }
            signal = added.next() => {
                let Some(signal) = signal else {
                    return "the D-Bus connection closed".to_owned();
                };
                if let Ok(args) = signal.args() {
                    if *args.received() {
                        follow_object(inner, &session, args.path().to_string());
                    }
                }
            }
            signal = owners.next() => {
                let Some(_) = signal else {
                    return "the D-Bus connection closed".to_owned();
                };
                // ModemManager stopped or restarted: its objects went with it.
                return "ModemManager left the bus or restarted".to_owned();
            }
            _ = check.tick() => {
                match modem.state().await {
                    Ok(state) if (6..=11).contains(&state) => {}
                    Ok(state) => {
                        return format!("the modem is {}", model::modem_state_word(state));
                    }
                    Err(error) => return format!("ModemManager does not answer for the modem: {error}"),
                }
            }
        }
    }
}

/// Follows the received object at `path` until it is complete (once,
/// however often it is named).
fn follow_object(inner: &Arc<Inner>, session: &Session, path: String) {
    if !lock(&inner.following).insert(path.clone()) {
        return;
    }
    let inner = inner.clone();
    let session = session.clone();
    tokio::spawn(async move {
        announce_when_complete(&inner, session, path.clone()).await;
        lock(&inner.following).remove(&path);
    });
}

/// Waits until the received object at `path` has all its parts, then
/// tells the daemon to read.
async fn announce_when_complete(inner: &Inner, session: Session, path: String) {
    let waited = tokio::time::timeout(COMPLETE_WAIT, async {
        let sms = SmsProxy::builder(&session.connection)
            .path(path.clone())?
            .build()
            .await?;
        let mut changes = sms.receive_state_changed().await;
        loop {
            let state = SmsState::from_u32(sms.state().await?);
            if state != SmsState::Receiving && state != SmsState::Unknown {
                return Ok::<_, zbus::Error>(());
            }
            if changes.next().await.is_none() {
                return Ok(());
            }
        }
    })
    .await;
    match waited {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::debug!(sms = path, error = %error, "cannot follow a received SMS object");
        }
        Err(_) => {
            tracing::warn!(
                sms = path,
                "a received message did not get all its parts within an hour"
            );
            return;
        }
    }
    let _ = inner
        .events
        .send(DeviceEvent::Stored {
            storage: STORAGE.to_owned(),
        })
        .await;
}

/// What the planned parts ask of the SMS object besides number and text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Extras {
    /// A delivery report.
    report: bool,
    /// An SMSC other than the SIM's.
    smsc: Option<String>,
}

fn extras(parts: &[EncodedPdu]) -> Extras {
    let Some(first) = parts.first() else {
        return Extras::default();
    };
    Extras {
        report: SmsSubmit::decode(first.tpdu()).is_ok_and(|s| s.status_report_request),
        smsc: crate::pdu::split_smsc(first.bytes())
            .ok()
            .and_then(|(smsc, _)| smsc)
            .map(|a| a.to_display()),
    }
}

impl Device for ModemManagerModem {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            storage: true,
            calls: false,
            reference_counter: false,
        }
    }

    fn watch(&self) -> watch::Receiver<DeviceState> {
        self.state.clone()
    }

    async fn send(&self, pdu: &EncodedPdu) -> Result<u8, DeviceError> {
        if text::concatenation(pdu).is_some_and(|(_, total)| total > 1) {
            return Err(failure(
                FailureKind::Permanent,
                "ModemManager sends whole texts: one part of a long message cannot be sent alone",
            ));
        }
        let parts = std::slice::from_ref(pdu);
        let (phone, body) = text::whole_text(parts, "ModemManager")?;
        let last = self.send_text(None, &phone, &body, &extras(parts)).await?;
        Ok(part_reference(last, 1, 0))
    }

    async fn send_message_part(
        &self,
        message: MessageName,
        parts: &[EncodedPdu],
        index: usize,
    ) -> Result<u8, DeviceError> {
        let (phone, body) = text::whole_text(parts, "ModemManager")?;
        let concat = parts.first().and_then(text::concatenation);
        let key = message_key(message, &phone, &body, concat);
        if index > 0 {
            // The whole text went with the first part.
            let last = self.sent_reference(&key).await.unwrap_or(0);
            return Ok(part_reference(last, parts.len(), index));
        }
        tracing::debug!(to = %Redact(&phone), parts = parts.len(), "sending through ModemManager");
        let journaled = (message.row >= 0).then_some(key.as_str());
        let last = self
            .send_text(journaled, &phone, &body, &extras(parts))
            .await?;
        let mut references = lock(&self.inner.references);
        if references.len() >= DELETED_KEPT {
            references.clear();
        }
        references.insert(key, last);
        Ok(part_reference(last, parts.len(), 0))
    }

    async fn send_part(&self, parts: &[EncodedPdu], index: usize) -> Result<u8, DeviceError> {
        self.send_message_part(MessageName::NONE, parts, index)
            .await
    }

    fn resends_safely(&self) -> bool {
        // The journal names the object that carried the message; its state
        // says whether it went out, and no second one is created. Only a
        // journal in a file outlives a crash.
        self.inner.journal.durable()
    }

    async fn last_reference(&self) -> Result<Option<u8>, DeviceError> {
        Ok(None)
    }

    fn storages(&self) -> Vec<String> {
        match &*self.state.borrow() {
            DeviceState::Ready(_) => vec![STORAGE.to_owned()],
            _ => Vec::new(),
        }
    }

    async fn read_storage(&self, storage: &str) -> Result<Vec<Listed>, DeviceError> {
        if storage != STORAGE {
            return Ok(Vec::new());
        }
        self.list().await
    }

    async fn storage_usage(&self) -> Result<Option<(u32, u32)>, DeviceError> {
        Ok(None)
    }

    async fn delete(&self, location: &Location) -> Result<(), DeviceError> {
        let path = format!("{SMS_PATH}{}", location.index);
        if lock(&self.inner.deleted).contains(&path) {
            return Ok(());
        }
        let session = self.session()?;
        let messaging = session
            .messaging()
            .await
            .map_err(|e| failure(FailureKind::ModemState, e.to_string()))?;
        let object = ObjectPath::try_from(path.as_str())
            .map_err(|e| failure(FailureKind::Permanent, e.to_string()))?;
        match messaging.delete(&object).await {
            Ok(()) => {}
            // Gone already: what was asked is done.
            Err(error) if asked(&error) == Asked::Gone => {}
            Err(zbus::Error::MethodError(name, message, _))
                if message
                    .as_deref()
                    .is_some_and(|m| m.contains("No SMS found")) =>
            {
                tracing::debug!(error = %name, sms = path, "already deleted");
            }
            Err(error) => return Err(failure(FailureKind::ModemState, error.to_string())),
        }
        let mut deleted = lock(&self.inner.deleted);
        if deleted.len() >= DELETED_KEPT {
            deleted.pop_front();
        }
        deleted.push_back(path);
        Ok(())
    }

    async fn acknowledge(&self) -> Result<(), DeviceError> {
        Ok(())
    }

    async fn hang_up(&self) -> Result<(), DeviceError> {
        Ok(())
    }

    async fn radio(&self) -> Radio {
        let Ok(session) = self.session() else {
            return Radio::default();
        };
        let connection = &session.connection;
        let path = session.modem.clone();
        let mut radio = Radio::default();
        if let Ok(builder) = ModemProxy::builder(connection).path(path.clone()) {
            if let Ok(modem) = builder.cache_properties(CacheProperties::No).build().await {
                if let Ok((percent, _recent)) = modem.signal_quality().await {
                    radio.signal_percent = u8::try_from(percent.min(100)).ok();
                }
            }
        }
        if let Ok(builder) = Modem3gppProxy::builder(connection).path(path.clone()) {
            if let Ok(gpp) = builder.cache_properties(CacheProperties::No).build().await {
                if let Ok(state) = gpp.registration_state().await {
                    radio.registered = Some(model::registered(state));
                }
                radio.operator = gpp
                    .operator_name()
                    .await
                    .ok()
                    .filter(|name| !name.trim().is_empty());
            }
        }
        if let Ok(builder) = SignalProxy::builder(connection).path(path) {
            if let Ok(signal) = builder.cache_properties(CacheProperties::No).build().await {
                for reading in [signal.lte().await, signal.umts().await, signal.gsm().await]
                    .into_iter()
                    .flatten()
                {
                    let rssi = reading.get("rssi").and_then(|v| f64::try_from(v).ok());
                    if let Some(dbm) = model::signal_dbm(rssi) {
                        radio.signal_dbm = Some(dbm);
                        break;
                    }
                }
            }
        }
        radio
    }

    async fn control(&self, request: Control) {
        match request {
            Control::Suspend => {
                self.restart_watcher(false);
                self.inner.state_tx.send_replace(DeviceState::Suspended);
            }
            Control::Resume | Control::Reconnect | Control::HardReset => {
                self.inner.state_tx.send_replace(DeviceState::Connecting {
                    attempt: 0,
                    last_error: None,
                });
                self.restart_watcher(true);
            }
        }
    }

    async fn reload(&self, config: &Config) {
        if config.modem.modemmanager.is_none() {
            tracing::warn!("the reloaded configuration names no ModemManager modem; staying with it until a restart");
            return;
        }
        *lock(&self.inner.settings) = settings_for(config);
        self.inner.state_tx.send_replace(DeviceState::Connecting {
            attempt: 0,
            last_error: None,
        });
        self.restart_watcher(true);
    }

    async fn shutdown(&self) {
        self.restart_watcher(false);
        self.inner.state_tx.send_replace(DeviceState::Stopped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_numbered_in_a_row_up_to_the_last() {
        assert_eq!(part_reference(10, 1, 0), 10);
        assert_eq!(part_reference(10, 3, 0), 8);
        assert_eq!(part_reference(10, 3, 1), 9);
        assert_eq!(part_reference(10, 3, 2), 10);
        assert_eq!(part_reference(1, 3, 0), 255, "wraps below zero");
        assert_eq!(part_reference(256 + 4, 1, 0), 4);
    }

    /// Row `row` of a database whose identity is all ones.
    fn row(row: i64) -> MessageName {
        MessageName {
            database: Some([1; 16]),
            row,
        }
    }

    #[test]
    fn a_message_queued_before_its_database_had_an_identity_keeps_its_old_key() {
        // What the key was before databases had an identity: a retry after
        // the upgrade is known as one.
        let legacy = MessageName {
            database: None,
            row: 7,
        };
        assert_eq!(
            message_key(legacy, "+4915112345678", "hello", None),
            "d669a3c25a9ea52fb8a9c7eac7a10bc0"
        );
    }

    #[test]
    fn a_message_keeps_its_key_and_others_differ() {
        let key = message_key(row(7), "+4915112345678", "hello", None);
        assert_eq!(key, message_key(row(7), "+4915112345678", "hello", None));
        for other in [
            message_key(row(8), "+4915112345678", "hello", None),
            message_key(row(7), "+4915112345679", "hello", None),
            message_key(row(7), "+4915112345678", "hello!", None),
            message_key(row(7), "+4915112345678", "hello", Some((3, 2))),
            // Another database's row 7, alike in all else.
            message_key(
                MessageName {
                    database: Some([2; 16]),
                    row: 7,
                },
                "+4915112345678",
                "hello",
                None,
            ),
            // A row of this database queued before it had an identity.
            message_key(
                MessageName {
                    database: None,
                    row: 7,
                },
                "+4915112345678",
                "hello",
                None,
            ),
        ] {
            assert_ne!(key, other);
        }
    }

    #[test]
    fn the_report_request_and_smsc_come_from_the_planned_parts() {
        use crate::pdu::{self, Address, EncodingPolicy, SubmitOptions};
        let plan = pdu::plan_text("hello", EncodingPolicy::Auto).unwrap();
        let mut options = SubmitOptions::new(Address::parse_number("+4915112345678").unwrap());
        options.status_report = true;
        let smsc = Address::parse_number("+4917200000000").unwrap();
        let with: Vec<EncodedPdu> = SmsSubmit::from_plan(&plan, &options)
            .iter()
            .map(|s| s.encode(Some(&smsc)).unwrap())
            .collect();
        assert_eq!(
            extras(&with),
            Extras {
                report: true,
                smsc: Some("+4917200000000".to_owned())
            }
        );
        options.status_report = false;
        let without: Vec<EncodedPdu> = SmsSubmit::from_plan(&plan, &options)
            .iter()
            .map(|s| s.encode(None).unwrap())
            .collect();
        assert_eq!(extras(&without), Extras::default());
    }

    #[test]
    fn objects_are_located_by_their_index() {
        assert_eq!(
            location_of("/org/freedesktop/ModemManager1/SMS/42").map(|l| l.index),
            Some(42)
        );
        assert_eq!(location_of("/org/freedesktop/ModemManager1/Modem/0"), None);
    }

    #[test]
    fn unknown_objects_are_gone_and_timeouts_are_unknown() {
        let gone = zbus::Error::FDO(Box::new(zbus::fdo::Error::UnknownObject("x".into())));
        assert_eq!(asked(&gone), Asked::Gone);
        let timeout = zbus::Error::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out",
        ));
        assert_eq!(asked(&timeout), Asked::Unknown);
    }
}
