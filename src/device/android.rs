//! An Android phone running the "SMS Gateway for Android" app (Local
//! Server mode) as a [`Device`]: what the daemon asks in PDUs, done
//! through the app's REST API, which takes and gives whole texts
//! ([`super::text`] is the bridge).
//!
//! - Sending: the parts the daemon planned are decoded back into number
//!   and text and posted as one message, for the first part; the later
//!   parts are answered at once. Each message is posted under an id
//!   simgate derives from the daemon's row and the message itself
//!   ([`message_id`]), the same on every retry and after a restart: a
//!   retry after a lost answer is answered "already exists" (409) and
//!   followed, never sent twice. Its state is followed by webhook and by
//!   `GET /message/{id}` until the network took it.
//! - A send in doubt (the request went out, no answer came) is settled by
//!   asking for the id: unknown means it never arrived (safe to post
//!   again); known is followed. When the phone cannot be asked, the part
//!   waits as [`FailureKind::Held`]: its retry posts the same id, which
//!   the phone refuses to take twice, and no other modem may send it.
//! - A part left in doubt by a crash or a kill of simgate is sent again
//!   ([`Device::resends_safely`]): the same id, refused as existing.
//! - A message the app could not send gets a fresh id on the next try
//!   (the id with `-1`, `-2`...): the app keeps failed messages under
//!   their id, and an id it failed under is one it will not try again.
//! - Receiving and states: the app posts signed webhooks to a small
//!   server simgate runs ([`crate::android::webhooks`]), registered with
//!   the phone at each connect. A received text becomes SMS-DELIVER PDUs
//!   handed over as [`DeviceEvent::Routed`], one at a time; the webhook
//!   is answered 2xx only after the daemon recorded them and said so
//!   ([`Device::acknowledge`]); otherwise 503 and the app tries again. The
//!   PDUs are the same for the same message, so a webhook delivered twice
//!   is recorded once.
//! - Delivered and Failed after the network took a message become
//!   SMS-STATUS-REPORTs for the TP-MR the send answered (derived from the
//!   id), as an AT modem's reports are.
//! - As a safety net the app's list of received messages (`GET /inbox`,
//!   the last 24 hours at start, then every 12 health checks) is read and each
//!   message not recorded in this run handed over the same way: the same
//!   PDUs as its webhook's, so it is recorded once.
//! - The phone away (no answer to `/health`): the device is not ready,
//!   so messages wait in the queue; at its return the webhooks are
//!   registered again.

use super::{
    text, Capabilities, Control, Device, DeviceError, DeviceEvent, DeviceInfo, DeviceState,
    FailureKind, Listed, Location, MessageName, PhoneStatus, Radio,
};
use crate::android::api::{self, Event, MessageState, ProcessState};
use crate::android::client::{AndroidError, Client};
use crate::android::webhooks::{self, Delivery};
use crate::config::{Config, WebStick, WEBHOOK_PATH};
use crate::pdu::EncodedPdu;
use crate::redact::{Redact, Scrub};
use hyper::Method;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

/// How many events may wait for the daemon.
const EVENT_QUEUE: usize = 64;
/// The shortest time a request may take before it is given up.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a message's state is asked while it is being sent (a
/// webhook wakes the wait sooner).
const STATUS_INTERVAL: Duration = Duration::from_millis(500);
/// How long a routed message waits for the daemon to record it: longer
/// than the daemon may be busy with one send, so that a word that comes
/// is this message's (the daemon's acknowledgement names none).
const ACK_WAIT: Duration = Duration::from_secs(300);
/// How long a webhook waits for its events to be recorded before 503.
const WEBHOOK_WAIT: Duration = Duration::from_secs(310);
/// Fresh ids tried for a message the app failed to send under the ones
/// before.
const MAX_GENERATIONS: u32 = 16;
/// How often the app's list of received messages is read, in health
/// checks (a minute at the default 5 s): a webhook given up for good, or
/// lost to a crash of the app, is found there.
const INBOX_EVERY: u32 = 12;
/// How far back that list is read at start.
const INBOX_SINCE_START: i64 = 24 * 3600;
/// How far back each later read reaches before the one before it.
const INBOX_OVERLAP: i64 = 600;
/// Received message ids remembered as recorded in this run.
const RECORDED_KEPT: usize = 4096;
/// How long a sent message's delivery outcome is waited for.
const REPORT_WAIT: Duration = Duration::from_secs(3 * 24 * 3600);

/// The id simgate posts a message under: `sg` and 24 hex digits of
/// SHA-256 over the daemon's name for it (its row and its database's
/// identity: [`MessageName`]), the recipient, the text and the
/// concatenation reference and count. Every input is what the daemon
/// hands over for that message on every try (the row is its SQLite row,
/// kept across restarts, the identity is kept in the database; the rest
/// is decoded from the parts it plans again from the same file), so the
/// id is the same after a lost answer or a crash. The row keeps two
/// identical texts to one number apart; the database's identity keeps
/// another database's rows (a fresh one after a reset, a second daemon on
/// the same phone) apart from this one's, whose ids the phone may hold.
pub(crate) fn message_id(
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
    format!(
        "sg{}",
        crate::pdu::hex::encode(&digest[..12]).to_ascii_lowercase()
    )
}

/// The id of try `generation` (0 the first) of the message `base`.
fn generation_id(base: &str, generation: u32) -> String {
    if generation == 0 {
        base.to_owned()
    } else {
        format!("{base}-{generation}")
    }
}

/// The TP-MR the daemon is told for a message id (any of its
/// generations): its first hex byte, so a report found after a restart
/// names the same reference.
fn reference_of(id: &str) -> u8 {
    id.get(2..4)
        .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        .unwrap_or(0)
}

/// The concatenation reference of a received message's parts, from the
/// app's id for it.
fn concat_of(message_id: &str) -> u16 {
    let digest = Sha256::digest(message_id.as_bytes());
    u16::from_be_bytes([digest[0], digest[1]])
}

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

/// A message the network took, waiting for its delivery outcome.
#[derive(Debug, Clone)]
struct Watched {
    phone: String,
    since: Instant,
}

#[derive(Debug, Clone)]
struct Settings {
    check_interval: Duration,
    send_timeout: Duration,
    listen: SocketAddr,
    webhook_url: Option<String>,
    key: String,
    /// Receiving is on (`[receive] enabled`): else `sms:received` is not
    /// registered, as nothing would record it.
    receive: bool,
}

/// An Android phone running the gateway app.
#[derive(Debug)]
pub(crate) struct AndroidPhone {
    inner: Arc<Inner>,
    state: watch::Receiver<DeviceState>,
    watcher: Mutex<Option<JoinHandle<()>>>,
    server: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Inner {
    client: Mutex<Arc<Client>>,
    settings: Mutex<Settings>,
    state_tx: watch::Sender<DeviceState>,
    events: mpsc::Sender<DeviceEvent>,
    /// The daemon's word that a routed PDU is recorded.
    /// `true`: recorded; `false`: it could not be.
    ack_tx: mpsc::UnboundedSender<bool>,
    acks: tokio::sync::Mutex<mpsc::UnboundedReceiver<bool>>,
    /// The address the phone posts webhooks to, once the server listens.
    webhook_url: watch::Sender<Option<String>>,
    /// States the webhooks told, by message id.
    states: Mutex<HashMap<String, ProcessState>>,
    changed: Notify,
    /// Ids being sent now.
    in_flight: Mutex<HashSet<String>>,
    /// Messages sent, waiting for their outcome.
    watching: Mutex<HashMap<String, Watched>>,
    /// Reports handed over in this run.
    reported: Mutex<HashSet<String>>,
    /// Received messages recorded in this run, by the app's id (oldest
    /// first, at most [`RECORDED_KEPT`]).
    recorded: Mutex<std::collections::VecDeque<String>>,
    /// The phone's battery, network and SIMs, as last reported.
    phone: Mutex<PhoneStatus>,
    /// Its SIMs, read when it connects.
    sims: Mutex<Vec<crate::device::SimCard>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn settings_for(web: &WebStick, config: &Config) -> Settings {
    let android = web.android.as_ref();
    Settings {
        check_interval: web.check_interval,
        send_timeout: config.modem.send_timeout,
        listen: android.map_or(crate::config::DEFAULT_WEBHOOK_LISTEN, |a| a.webhook_listen),
        webhook_url: android.and_then(|a| a.webhook_url.clone()),
        key: android
            .and_then(|a| a.signing_key.as_ref())
            .map(|k| k.reveal().to_owned())
            .unwrap_or_default(),
        receive: config.receive.enabled,
    }
}

fn client_for(web: &WebStick, config: &Config) -> Client {
    Client::new(
        &web.url,
        &web.user,
        web.password.as_ref().map_or("", |p| p.reveal()),
        config.modem.command_timeout.max(MIN_REQUEST_TIMEOUT),
    )
}

/// What became of one id posted.
enum Posted {
    /// The network took it: the TP-MR.
    Sent,
    /// The phone holds this id as failed from an earlier try.
    FailedBefore,
}

impl AndroidPhone {
    /// Opens the phone `config` names (`[modem] transport = "android"`);
    /// its events arrive on the returned receiver.
    pub(crate) fn open(config: &Config) -> (Self, mpsc::Receiver<DeviceEvent>) {
        let web = config
            .modem
            .web
            .clone()
            .expect("an Android phone is opened for a web configuration");
        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        let (state_tx, state) = watch::channel(DeviceState::Connecting {
            attempt: 0,
            last_error: None,
        });
        let (ack_tx, acks) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            client: Mutex::new(Arc::new(client_for(&web, config))),
            settings: Mutex::new(settings_for(&web, config)),
            state_tx,
            events,
            ack_tx,
            acks: tokio::sync::Mutex::new(acks),
            webhook_url: watch::Sender::new(None),
            states: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            in_flight: Mutex::new(HashSet::new()),
            watching: Mutex::new(HashMap::new()),
            reported: Mutex::new(HashSet::new()),
            recorded: Mutex::new(std::collections::VecDeque::new()),
            phone: Mutex::new(PhoneStatus::default()),
            sims: Mutex::new(Vec::new()),
        });
        let phone = Self {
            server: Mutex::new(Some(tokio::spawn(take_webhooks(inner.clone())))),
            watcher: Mutex::new(Some(tokio::spawn(watch_phone(inner.clone())))),
            inner,
            state,
        };
        (phone, receiver)
    }

    fn restart_watcher(&self, run: bool) {
        let mut watcher = lock(&self.watcher);
        if let Some(old) = watcher.take() {
            old.abort();
        }
        if run {
            *watcher = Some(tokio::spawn(watch_phone(self.inner.clone())));
        }
    }

    fn ready(&self) -> Result<Arc<Client>, DeviceError> {
        match &*self.state.borrow() {
            DeviceState::Ready(_) => Ok(self.inner.client()),
            _ => Err(DeviceError::not_ready()),
        }
    }

    /// Sends `text` to `phone` as the message `base` names (see the module
    /// docs).
    async fn send_text(&self, base: &str, phone: &str, text: &str) -> Result<u8, DeviceError> {
        let client = self.ready()?;
        for generation in 0..MAX_GENERATIONS {
            let id = generation_id(base, generation);
            let _flight = InFlight::new(&self.inner, &id);
            match self.post_and_follow(&client, &id, phone, text).await? {
                Posted::Sent => {
                    lock(&self.inner.watching).insert(
                        id,
                        Watched {
                            phone: phone.to_owned(),
                            since: Instant::now(),
                        },
                    );
                    return Ok(reference_of(base));
                }
                Posted::FailedBefore => {
                    tracing::info!(
                        id,
                        "the phone failed this message under this id before; trying under the next"
                    );
                }
            }
        }
        Err(failure(
            FailureKind::Permanent,
            format!("the phone failed to send this message {MAX_GENERATIONS} times"),
        ))
    }

    /// Posts one id and follows it until the network took it, the phone
    /// says it failed, or the send timeout.
    async fn post_and_follow(
        &self,
        client: &Client,
        id: &str,
        phone: &str,
        text: &str,
    ) -> Result<Posted, DeviceError> {
        let request = api::SendRequest {
            id: id.to_owned(),
            text_message: api::TextMessage {
                text: text.to_owned(),
            },
            phone_numbers: vec![phone.to_owned()],
            with_delivery_report: true,
        };
        let body = serde_json::to_string(&request)
            .map_err(|e| failure(FailureKind::Permanent, e.to_string()))?;
        let path = format!("{}?skipPhoneValidation=true", api::MESSAGE_PATH);
        let (existing, in_doubt) = match client.request(Method::POST, &path, Some(body)).await {
            Ok(answer) if answer.status == 202 || answer.status == 200 => (false, false),
            Ok(answer) if answer.status == 409 => {
                tracing::info!(id, "the phone already has this message (a retry): following it, not sending it again");
                (true, false)
            }
            Ok(answer) if answer.status == 400 => {
                return Err(failure(
                    FailureKind::Permanent,
                    Client::unexpected(&path, &answer).to_string(),
                ))
            }
            // The id keeps a retry from sending it twice.
            Ok(answer) => {
                return Err(failure(
                    FailureKind::Transient,
                    Client::unexpected(&path, &answer).to_string(),
                ))
            }
            Err(error @ AndroidError::NoAnswer { .. }) => {
                tracing::warn!(id, error = %Scrub(&error), "a send is in doubt; asking the phone for its id");
                (false, true)
            }
            Err(error) => return Err(failure(FailureKind::ModemState, error.to_string())),
        };
        self.follow(client, id, existing, in_doubt).await
    }

    async fn follow(
        &self,
        client: &Client,
        id: &str,
        existing: bool,
        in_doubt: bool,
    ) -> Result<Posted, DeviceError> {
        let deadline = Instant::now() + self.inner.settings().send_timeout;
        let path = format!("{}/{id}", api::MESSAGE_PATH);
        loop {
            let told = lock(&self.inner.states).get(id).copied();
            let asked = match told {
                Some(state) if state.went_out() || state == ProcessState::Failed => {
                    Ok((state, None))
                }
                _ => match client.request(Method::GET, &path, None).await {
                    Ok(answer) if answer.status == 200 => {
                        match serde_json::from_slice::<MessageState>(&answer.body) {
                            Ok(state) => {
                                let (state, error) = state.of_recipient();
                                Ok((state, error.map(str::to_owned)))
                            }
                            Err(error) => Err(error.to_string()),
                        }
                    }
                    Ok(answer) if answer.status == 404 && in_doubt => {
                        // It never reached the app: posting it again
                        // cannot send it twice.
                        return Err(failure(
                            FailureKind::Transient,
                            "the request to send never reached the app (it does not know the id)",
                        ));
                    }
                    Ok(answer) => Err(Client::unexpected(&path, &answer).to_string()),
                    Err(error) => Err(error.to_string()),
                },
            };
            let last = match asked {
                Ok((state, _)) if state.went_out() => return Ok(Posted::Sent),
                Ok((ProcessState::Failed, _)) if existing => return Ok(Posted::FailedBefore),
                Ok((ProcessState::Failed, reason)) => {
                    return Err(failure(
                        FailureKind::Transient,
                        format!(
                            "the phone could not send the message: {}",
                            reason.unwrap_or_else(|| "no reason given".to_owned())
                        ),
                    ))
                }
                Ok((state, _)) => format!("the phone says {state:?}"),
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                // The phone holds the message (or cannot be asked): the
                // retry posts the same id, which it will not take twice;
                // another modem would send it a second time.
                return Err(failure(
                    FailureKind::Held,
                    format!("the phone has not sent the message yet ({last}); asked again on the next try"),
                ));
            }
            let _ = tokio::time::timeout(STATUS_INTERVAL, self.inner.changed.notified()).await;
        }
    }
}

/// An id being sent, for as long as this lives.
struct InFlight<'a> {
    inner: &'a Inner,
    id: String,
}

impl<'a> InFlight<'a> {
    fn new(inner: &'a Inner, id: &str) -> Self {
        lock(&inner.in_flight).insert(id.to_owned());
        Self {
            inner,
            id: id.to_owned(),
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(&self.inner.in_flight).remove(&self.id);
        lock(&self.inner.states).remove(&self.id);
    }
}

impl Inner {
    /// Keeps what the phone's health says, with the SIMs read at connect.
    fn note_health(&self, health: &api::Health) {
        let sims = lock(&self.sims).clone();
        *lock(&self.phone) = health.phone_status(sims);
    }

    fn client(&self) -> Arc<Client> {
        lock(&self.client).clone()
    }

    fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// Hands one PDU to the daemon and waits until it says whether it is
    /// recorded.
    async fn route(&self, event: DeviceEvent) -> bool {
        let mut acks = self.acks.lock().await;
        // A word that came too late for an earlier PDU is not this one's.
        while acks.try_recv().is_ok() {}
        if self.events.send(event).await.is_err() {
            return false;
        }
        matches!(
            tokio::time::timeout(ACK_WAIT, acks.recv()).await,
            Ok(Some(true))
        )
    }

    /// Hands over the delivery outcome of message `id` to `phone`, once
    /// per run (the PDU is the same for the same outcome, so the daemon
    /// records it once across runs).
    async fn report(&self, id: &str, phone: &str, state: ProcessState, at: i64) -> bool {
        // With receiving off the daemon records (and acknowledges) none.
        if !self.settings().receive || lock(&self.reported).contains(id) {
            return true;
        }
        let delivered = state == ProcessState::Delivered;
        let event = match text::status_report(reference_of(id), phone, at, delivered) {
            Ok(pdu) => DeviceEvent::Routed { pdu },
            Err(reason) => {
                tracing::warn!(reason, "a delivery outcome cannot be made a report");
                return true;
            }
        };
        let recorded = self.route(event).await;
        if recorded {
            let mut reported = lock(&self.reported);
            if reported.len() >= RECORDED_KEPT {
                // A report handed over again is the same PDU: recorded once.
                reported.clear();
            }
            reported.insert(id.to_owned());
            drop(reported);
            lock(&self.watching).remove(id);
        }
        recorded
    }

    /// Acts on one webhook: whether it is recorded.
    async fn take(&self, event: Event) -> bool {
        match event {
            Event::State {
                message_id,
                phone,
                at,
                state,
                reason,
            } => {
                // Kept only while the message is being sent: that send
                // is its only reader.
                if lock(&self.in_flight).contains(&message_id) {
                    let mut states = lock(&self.states);
                    let known = states.entry(message_id.clone()).or_insert(state);
                    // Late and out-of-order webhooks do not step back.
                    if rank(state) > rank(*known) {
                        *known = state;
                    }
                }
                self.changed.notify_waiters();
                if let Some(reason) = &reason {
                    tracing::info!(id = message_id, reason = %Scrub(reason), "the phone says a message failed");
                }
                let outcome = matches!(state, ProcessState::Delivered | ProcessState::Failed);
                let sending = lock(&self.in_flight).contains(&message_id);
                if !outcome || sending || !message_id.starts_with("sg") {
                    return true;
                }
                let watched = lock(&self.watching)
                    .get(&message_id)
                    .map(|w| w.phone.clone());
                let Some(phone) = watched.or(phone) else {
                    return true;
                };
                let at = api::parse_time(&at).unwrap_or_else(unix_now);
                self.report(&message_id, &phone, state, at).await
            }
            Event::Received {
                message_id,
                sender,
                text: body,
                received_at,
            } => {
                if !self.settings().receive || lock(&self.recorded).contains(&message_id) {
                    return true;
                }
                let at = api::parse_time(&received_at).unwrap_or(0);
                let recorded = match text::delivers(&sender, &body, at, concat_of(&message_id)) {
                    Ok(pdus) => {
                        let mut all = true;
                        for pdu in pdus {
                            if !self.route(DeviceEvent::Routed { pdu }).await {
                                all = false;
                                break;
                            }
                        }
                        all
                    }
                    Err(reason) => {
                        let raw = format!("from {sender} at {received_at}: {body}");
                        self.route(DeviceEvent::RoutedUnreadable { raw, reason })
                            .await
                    }
                };
                if recorded {
                    let mut done = lock(&self.recorded);
                    if done.len() >= RECORDED_KEPT {
                        done.pop_front();
                    }
                    done.push_back(message_id);
                }
                recorded
            }
            Event::Other(_) => true,
        }
    }
}

/// The order states come in; Failed and Delivered are both final.
fn rank(state: ProcessState) -> u8 {
    match state {
        ProcessState::Unknown => 0,
        ProcessState::Pending => 1,
        ProcessState::Processed => 2,
        ProcessState::Sent => 3,
        ProcessState::Delivered | ProcessState::Failed => 4,
    }
}

/// The address the phone can post to: `webhook_url` as configured, else
/// `http://`, the address of this machine the phone's traffic leaves
/// from (or the one listened on, when it is not "any"), the port bound,
/// and the path.
async fn webhook_url(settings: &Settings, bound: SocketAddr, phone: &str) -> Option<String> {
    if let Some(url) = &settings.webhook_url {
        return Some(url.clone());
    }
    let host = if bound.ip().is_unspecified() {
        let target = phone.strip_prefix("http://").unwrap_or(phone);
        let target = if target.contains(':') {
            target.to_owned()
        } else {
            format!("{target}:80")
        };
        let address = tokio::net::lookup_host(target).await.ok()?.next()?;
        let socket = std::net::UdpSocket::bind(("0.0.0.0", 0)).ok()?;
        socket.connect(address).ok()?;
        socket.local_addr().ok()?.ip()
    } else {
        bound.ip()
    };
    Some(format!(
        "http://{}{WEBHOOK_PATH}",
        SocketAddr::new(host, bound.port())
    ))
}

/// Listens for the app's webhooks and acts on each, every one in a task
/// of its own so a state is never held up behind a message waiting to be
/// recorded.
async fn take_webhooks(inner: Arc<Inner>) {
    let settings = inner.settings();
    let mut attempt = 0u32;
    let listener = loop {
        match webhooks::bind(settings.listen).await {
            Ok(listener) => break listener,
            Err(error) => {
                attempt += 1;
                if attempt == 1 || attempt.is_multiple_of(30) {
                    tracing::error!(listen = %settings.listen, %error, "cannot listen for the phone's webhooks (webhook_listen); receiving waits for it");
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    let Ok(bound) = listener.local_addr() else {
        return;
    };
    let url = webhook_url(&settings, bound, inner.client().base()).await;
    match &url {
        Some(url) => tracing::info!(listen = %bound, url, "taking the phone's webhooks"),
        None => {
            tracing::error!(listen = %bound, "cannot tell the address the phone reaches simgate at; set webhook_url")
        }
    }
    inner.webhook_url.send_replace(url);
    let (deliveries, mut taken) = mpsc::channel::<Delivery>(EVENT_QUEUE);
    let server = AbortOnDrop(webhooks::serve(
        listener,
        webhooks::Settings {
            key: settings.key.clone(),
            path: WEBHOOK_PATH.to_owned(),
            wait: WEBHOOK_WAIT,
        },
        deliveries,
    ));
    while let Some(delivery) = taken.recv().await {
        let inner = inner.clone();
        tokio::spawn(async move {
            let recorded = inner.take(delivery.event).await;
            let _ = delivery.done.send(recorded);
        });
    }
    drop(server);
}

/// A task aborted when this is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long to wait before connecting again after `attempt` failures.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(u64::from(attempt.clamp(1, 10)))
}

/// Connects to the phone and registers the webhooks; then asks its health
/// every `check_interval`, and the state of sent messages waiting for an
/// outcome; when it stops answering, connects again.
async fn watch_phone(inner: Arc<Inner>) {
    let mut attempt = 0u32;
    loop {
        match connect(&inner).await {
            Ok(model) => {
                tracing::info!(
                    model,
                    url = inner.client().base(),
                    "the phone's gateway app is ready"
                );
                inner
                    .state_tx
                    .send_replace(DeviceState::Ready(DeviceInfo { model, imei: None }));
            }
            Err(error) => {
                attempt += 1;
                if attempt == 1 || attempt.is_multiple_of(30) {
                    tracing::warn!(error = %Scrub(&error), attempt, "the phone is not ready");
                }
                inner.state_tx.send_replace(DeviceState::Connecting {
                    attempt,
                    last_error: Some(error),
                });
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
        }
        let mut battery_low = false;
        let mut inbox_read: Option<(Instant, i64)> = None;
        loop {
            tokio::time::sleep(inner.settings().check_interval).await;
            let client = inner.client();
            match client.request(Method::GET, "/health", None).await {
                Ok(answer) => {
                    if let Some(health) = api::health(&answer.body) {
                        inner.note_health(&health);
                        let low = health.battery_percent.is_some_and(|p| p < 15)
                            && health.charging != Some(true);
                        if low && !battery_low {
                            tracing::warn!(
                                battery = health.battery_percent,
                                "the phone's battery is low and it is not charging"
                            );
                        }
                        battery_low = low;
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %Scrub(&error), "the phone stopped answering; messages wait until it is back");
                    attempt = 1;
                    inner.state_tx.send_replace(DeviceState::Connecting {
                        attempt,
                        last_error: Some(error.to_string()),
                    });
                    break;
                }
            }
            poll_outcomes(&inner, &client).await;
            let interval = inner.settings().check_interval * INBOX_EVERY;
            let due = inner.settings().receive
                && inbox_read.is_none_or(|(at, _)| at.elapsed() >= interval);
            if due {
                let since = inbox_read.map_or(unix_now() - INBOX_SINCE_START, |(_, since)| {
                    since - INBOX_OVERLAP
                });
                let started = unix_now();
                if read_inbox(&inner, &client, since).await {
                    inbox_read = Some((Instant::now(), started));
                }
            }
        }
    }
}

/// Asks the app who it is and registers simgate's webhooks: the model.
async fn connect(inner: &Inner) -> Result<String, String> {
    let client = inner.client();
    let answer = client
        .request(Method::GET, "/", None)
        .await
        .map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(Client::unexpected("/", &answer).to_string());
    }
    let model = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v.get("model").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_default();
    // Its SIMs (app versions without them answer no list) and its health,
    // so the first status already shows the phone.
    if let Ok(answer) = client.request(Method::GET, "/device", None).await {
        if answer.status == 200 {
            *lock(&inner.sims) = api::sim_cards(&answer.body);
        }
    }
    if let Ok(answer) = client.request(Method::GET, "/health", None).await {
        if let Some(health) = api::health(&answer.body) {
            inner.note_health(&health);
        }
    }
    let mut url = inner.webhook_url.subscribe();
    let url = match url.wait_for(Option::is_some).await {
        Ok(url) => url.clone().unwrap_or_default(),
        Err(_) => return Err("the webhook server stopped".to_owned()),
    };
    let receive = inner.settings().receive;
    for webhook in api::registrations(&url) {
        if webhook.event == "sms:received" && !receive {
            if let Some(id) = &webhook.id {
                let path = format!("{}/{id}", api::WEBHOOKS_PATH);
                let _ = client.request(Method::DELETE, &path, None).await;
            }
            continue;
        }
        let body = serde_json::to_string(&webhook).map_err(|e| e.to_string())?;
        let answer = client
            .request(Method::POST, api::WEBHOOKS_PATH, Some(body))
            .await
            .map_err(|e| e.to_string())?;
        if !(200..300).contains(&answer.status) {
            return Err(format!(
                "the app refused simgate's webhook {url}: {}",
                Client::unexpected(api::WEBHOOKS_PATH, &answer)
            ));
        }
    }
    Ok(format!("Android {model} (SMS Gateway app)").replace("  ", " "))
}

/// Reads the app's list of messages received since `since` (Unix
/// seconds) and records each not recorded in this run, as its webhook
/// would have: the same PDUs, so one recorded before is not recorded
/// again. Whether the list was read.
async fn read_inbox(inner: &Inner, client: &Client, since: i64) -> bool {
    let from = jiff::Timestamp::from_second(since.max(0))
        .map(|t| t.to_string())
        .unwrap_or_default();
    let path = format!("/inbox?type=SMS&limit=500&from={from}");
    let entries = match client.request(Method::GET, &path, None).await {
        Ok(answer) if answer.status == 200 => {
            match serde_json::from_slice::<Vec<api::InboxEntry>>(&answer.body) {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::debug!(%error, "the app's list of received messages is unreadable");
                    return false;
                }
            }
        }
        Ok(answer) => {
            tracing::debug!(
                status = answer.status,
                "the app gives no list of received messages"
            );
            return false;
        }
        Err(_) => return false,
    };
    let mut found = 0;
    for entry in entries.into_iter().filter(|e| e.kind == "SMS") {
        let message_id = api::webhook_message_id(&entry.id);
        if lock(&inner.recorded).contains(&message_id) {
            continue;
        }
        found += 1;
        let event = Event::Received {
            message_id,
            sender: entry.sender,
            text: entry.content_preview,
            received_at: entry.created_at,
        };
        if !inner.take(event).await {
            return false;
        }
    }
    if found > 0 {
        tracing::info!(found, "received messages found in the app's list (their webhooks had not come, or came before this run)");
    }
    true
}

/// Asks the state of sent messages still waiting for an outcome, and
/// hands over the outcomes found (a webhook may have been lost for good).
async fn poll_outcomes(inner: &Inner, client: &Client) {
    let waiting: Vec<(String, Watched)> = {
        let mut watching = lock(&inner.watching);
        watching.retain(|_, w| w.since.elapsed() < REPORT_WAIT);
        watching
            .iter()
            .take(20)
            .map(|(id, w)| (id.clone(), w.clone()))
            .collect()
    };
    for (id, watched) in waiting {
        let path = format!("{}/{id}", api::MESSAGE_PATH);
        let Ok(answer) = client.request(Method::GET, &path, None).await else {
            return;
        };
        let Ok(message) = serde_json::from_slice::<MessageState>(&answer.body) else {
            continue;
        };
        let (state, _) = message.of_recipient();
        if matches!(state, ProcessState::Delivered | ProcessState::Failed) {
            let at = message
                .states
                .get(if state == ProcessState::Delivered {
                    "Delivered"
                } else {
                    "Failed"
                })
                .and_then(|t| api::parse_time(t))
                .unwrap_or_else(unix_now);
            inner.report(&id, &watched.phone, state, at).await;
        }
    }
}

impl Device for AndroidPhone {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            storage: false,
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
                "the phone's app sends whole texts: one part of a long message cannot be sent alone",
            ));
        }
        let parts = std::slice::from_ref(pdu);
        let (phone, body) = text::whole_text(parts, "the phone's app")?;
        // No row: the id is the message's alone.
        let base = message_id(MessageName::NONE, &phone, &body, None);
        self.send_text(&base, &phone, &body).await
    }

    async fn send_message_part(
        &self,
        message: MessageName,
        parts: &[EncodedPdu],
        index: usize,
    ) -> Result<u8, DeviceError> {
        let (phone, body) = text::whole_text(parts, "the phone's app")?;
        let concat = parts.first().and_then(text::concatenation);
        let base = message_id(message, &phone, &body, concat);
        if index > 0 {
            // The whole text went with the first part.
            return Ok(reference_of(&base));
        }
        tracing::debug!(to = %Redact(&phone), parts = parts.len(), id = base, "sending through the phone");
        self.send_text(&base, &phone, &body).await
    }

    async fn send_part(&self, parts: &[EncodedPdu], index: usize) -> Result<u8, DeviceError> {
        self.send_message_part(MessageName::NONE, parts, index)
            .await
    }

    fn resends_safely(&self) -> bool {
        // The same row posts the same id, which the app takes once.
        true
    }

    async fn last_reference(&self) -> Result<Option<u8>, DeviceError> {
        Ok(None)
    }

    fn storages(&self) -> Vec<String> {
        Vec::new()
    }

    async fn read_storage(&self, _storage: &str) -> Result<Vec<Listed>, DeviceError> {
        Ok(Vec::new())
    }

    async fn storage_usage(&self) -> Result<Option<(u32, u32)>, DeviceError> {
        Ok(None)
    }

    async fn delete(&self, _location: &Location) -> Result<(), DeviceError> {
        Ok(())
    }

    async fn acknowledge(&self) -> Result<(), DeviceError> {
        let _ = self.inner.ack_tx.send(true);
        Ok(())
    }

    async fn refuse(&self) {
        let _ = self.inner.ack_tx.send(false);
    }

    async fn hang_up(&self) -> Result<(), DeviceError> {
        Ok(())
    }

    async fn radio(&self) -> Radio {
        Radio {
            phone: Some(lock(&self.inner.phone).clone()),
            ..Radio::default()
        }
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
        let Some(web) = &config.modem.web else {
            tracing::warn!(
                "the reloaded configuration names no phone; staying with the phone until a restart"
            );
            return;
        };
        *lock(&self.inner.client) = Arc::new(client_for(web, config));
        let old = self.inner.settings();
        let new = settings_for(web, config);
        if new.listen != old.listen || new.key != old.key || new.webhook_url != old.webhook_url {
            tracing::warn!(
                "webhook_listen, webhook_url and the signing key take effect at a restart"
            );
        }
        lock(&self.inner.settings).check_interval = new.check_interval;
        lock(&self.inner.settings).send_timeout = new.send_timeout;
        self.inner.state_tx.send_replace(DeviceState::Connecting {
            attempt: 0,
            last_error: None,
        });
        self.restart_watcher(true);
    }

    async fn shutdown(&self) {
        self.restart_watcher(false);
        if let Some(server) = lock(&self.server).take() {
            server.abort();
        }
        self.inner.state_tx.send_replace(DeviceState::Stopped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row `row` of a database whose identity is all ones.
    fn row(row: i64) -> MessageName {
        MessageName {
            database: Some([1; 16]),
            row,
        }
    }

    #[test]
    fn a_message_queued_before_its_database_had_an_identity_keeps_its_old_id() {
        // What the id was before databases had an identity: a retry after
        // the upgrade is known as one.
        let legacy = MessageName {
            database: None,
            row: 7,
        };
        assert_eq!(
            message_id(legacy, "+4915112345678", "hello", None),
            "sgd669a3c25a9ea52fb8a9c7ea"
        );
    }

    #[test]
    fn a_message_keeps_its_id_and_others_differ() {
        let id = message_id(row(7), "+4915112345678", "hello", None);
        assert_eq!(id, message_id(row(7), "+4915112345678", "hello", None));
        assert_eq!(id.len(), 26);
        assert!(id.starts_with("sg"));
        for other in [
            message_id(row(8), "+4915112345678", "hello", None),
            message_id(row(7), "+4915112345679", "hello", None),
            message_id(row(7), "+4915112345678", "hello!", None),
            message_id(row(7), "+4915112345678", "hello", Some((3, 2))),
            // Another database's row 7, alike in all else.
            message_id(
                MessageName {
                    database: Some([2; 16]),
                    row: 7,
                },
                "+4915112345678",
                "hello",
                None,
            ),
            // A row of this database queued before it had an identity.
            message_id(
                MessageName {
                    database: None,
                    row: 7,
                },
                "+4915112345678",
                "hello",
                None,
            ),
        ] {
            assert_ne!(id, other);
        }
        // Every generation of a message names the same TP-MR.
        assert_eq!(reference_of(&id), reference_of(&generation_id(&id, 3)));
        assert_eq!(
            u8::from_str_radix(&id[2..4], 16).unwrap(),
            reference_of(&id)
        );
    }

    #[tokio::test]
    async fn the_webhook_address_is_the_one_facing_the_phone() {
        let mut settings = Settings {
            check_interval: Duration::from_secs(5),
            send_timeout: Duration::from_secs(30),
            listen: crate::config::DEFAULT_WEBHOOK_LISTEN,
            webhook_url: None,
            key: String::new(),
            receive: true,
        };
        let any: SocketAddr = "0.0.0.0:8555".parse().unwrap();
        assert_eq!(
            webhook_url(&settings, any, "http://127.0.0.1:8080").await,
            Some("http://127.0.0.1:8555/simgate/webhook".to_owned())
        );
        let one: SocketAddr = "127.0.0.2:9000".parse().unwrap();
        assert_eq!(
            webhook_url(&settings, one, "http://127.0.0.1:8080").await,
            Some("http://127.0.0.2:9000/simgate/webhook".to_owned())
        );
        settings.webhook_url = Some("https://proxy.example/hook".to_owned());
        assert_eq!(
            webhook_url(&settings, any, "http://127.0.0.1:8080").await,
            Some("https://proxy.example/hook".to_owned())
        );
    }

    #[test]
    fn states_never_step_back() {
        assert!(rank(ProcessState::Delivered) > rank(ProcessState::Sent));
        assert!(rank(ProcessState::Sent) > rank(ProcessState::Processed));
        assert!(rank(ProcessState::Processed) > rank(ProcessState::Pending));
    }
}
