//! A Huawei HiLink stick as a [`Device`]: what the daemon asks in PDUs,
//! done through a web interface that takes and gives text.
//!
//! - Sending: the stick takes a number and a whole text and splits a long
//!   text itself, so the parts the daemon planned are decoded back into
//!   their text and sent as one, for the first part ([`Device::send_part`]);
//!   the later parts are answered at once. One `send-sms` at a time, then
//!   `send-status` until the stick says sent or failed.
//! - A send in doubt (the request went out, no answer came, or an answer
//!   that is no answer): the stick's sent box settles it when it shows the
//!   text, to that number, newer than what it held before the send;
//!   otherwise the part is [`FailureKind::Ambiguous`], exactly as an
//!   unanswered `+CMGS`. The stick has no TP-MR counter the daemon could
//!   read later ([`Capabilities::reference_counter`] is false), so the
//!   references it reports are its own count.
//! - Receiving: the stick has no push. One `sms-count` every
//!   `check_interval` (less the checks the status reads take the place
//!   of: [`super::idle_budget`]) says whether the inbox holds anything; when that
//!   changed (or stayed the same across a delete) the daemon is told
//!   ([`DeviceEvent::Stored`]) and reads the inbox, which comes back as
//!   SMS-DELIVER PDUs made from each message's
//!   sender, text and date, so the daemon's receive path, files and hooks
//!   are those of a modem; it deletes each message once its files are
//!   written.
//! - The stick's storage (`LocalMax`, usually 500) holds the sent box too:
//!   when it is 80 % full the oldest copies of sent messages go, so it
//!   never stops taking new messages for them.
//! - Delivery reports: the stick asks the network for them when its
//!   `UseSReport` setting (`/api/sms/config`) is on, which is set on each
//!   connection to what the configuration says (`delivery_report` other
//!   than `no`: on; else off). A report arrives in the inbox as a message
//!   with its own `SmsType` (7 delivered, 8 not), the number the message
//!   went to and a date, and nothing naming the message. It is matched to
//!   the oldest send to that number that asked for one and has none yet
//!   ([`super::report_match`], shared with the ZTE stick), in this run
//!   only, and handed to the daemon as a status report (storage
//!   [`REPORTS`]); the daemon records it, then deletes it from the stick.
//!   A report for nothing this run waits for (sent before a restart, or
//!   by something else) is logged once and left on the stick.

use super::idle_budget::IdleBudget;
use super::report_match::{Found, ReportMatcher, Verdict};
use super::sent_box::{send_planned, Journaled, SentBoxStick, HANDED_OVER};
use super::{
    Capabilities, Control, Device, DeviceError, DeviceEvent, DeviceInfo, DeviceNotes, DeviceState,
    FailureKind, Listed, Location, Radio,
};
use crate::config::{Config, DeliveryReport, WebStick};
use crate::hilink::api::{self, SendState};
use crate::hilink::client::{Client, HilinkError};
use crate::pdu::{self, EncodedPdu};
use crate::redact::{Redact, Scrub};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The stick's received messages.
pub const INBOX: &str = "inbox";
/// Its delivery reports: read with the inbox, where the stick keeps them,
/// and named apart so that the daemon's delete marks them recorded.
pub const REPORTS: &str = "reports";

/// How many events may wait for the daemon.
const EVENT_QUEUE: usize = 64;
/// The shortest time a request may take before it is given up.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often, at most, `send-status` is asked while a send is under way.
const STATUS_INTERVAL: Duration = Duration::from_millis(250);
/// The newest copies of sent messages kept when storage is cleared (a
/// send in doubt is settled against them), at most a tenth of it.
const SENT_KEPT: u32 = 10;
/// Inbox pages read at most in one go (50 messages each).
const MAX_PAGES: u32 = 20;

/// A Huawei HiLink stick.
#[derive(Debug)]
pub(crate) struct HilinkStick {
    inner: Arc<Inner>,
    state: watch::Receiver<DeviceState>,
    poller: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Inner {
    client: Mutex<Arc<Client>>,
    settings: Mutex<Settings>,
    state_tx: watch::Sender<DeviceState>,
    events: mpsc::Sender<DeviceEvent>,
    /// The reference given to the last message sent.
    reference: AtomicU8,
    /// Messages deleted lately (a long message is one message on the stick
    /// but several parts for the daemon, each deleted).
    deleted: Mutex<VecDeque<u32>>,
    /// The stick is away and that was logged (once per absence).
    away: AtomicBool,
    /// Messages deleted so far: a count that stayed the same across a
    /// delete hides a new message.
    deletions: AtomicU64,
    /// Sends waiting for delivery reports, and the reports judged.
    reports: Mutex<ReportMatcher>,
    /// The status reads' requests, paid for by skipped checks.
    idle: IdleBudget,
    /// The operator last read, and the registration it was read with: it
    /// is read again only when the registration changed (or on a new
    /// connection), so a status read is two requests, not three.
    operator: Mutex<Option<(Option<bool>, Option<String>)>>,
    /// The storage use and the last fault, for the status.
    notes: Mutex<DeviceNotes>,
    /// For each message handed over: the newest entry of the sent box
    /// before it (synced before the `send-sms`), so that a send in doubt
    /// is settled from the sent box after a restart too.
    journal: Journaled,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    check_interval: Duration,
    send_timeout: Duration,
    /// Whether the stick is to ask for delivery reports (`UseSReport`).
    reports: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn client_for(web: &WebStick, config: &Config) -> Client {
    Client::new(
        &web.url,
        &web.user,
        web.password.as_ref().map(|p| p.reveal().to_owned()),
        config.modem.command_timeout.max(MIN_REQUEST_TIMEOUT),
    )
    .for_section(config.modem.section.to_string())
}

fn settings_for(web: &WebStick, config: &Config) -> Settings {
    Settings {
        check_interval: web.check_interval,
        send_timeout: config.modem.send_timeout,
        // The daemon asks for a report on every message then.
        reports: config.receive.delivery_report != DeliveryReport::No,
    }
}

fn failure(kind: FailureKind, message: impl Into<String>) -> DeviceError {
    DeviceError {
        kind,
        message: message.into(),
    }
}

/// What a failed request means for a part that did not go out.
fn not_sent(error: &HilinkError) -> DeviceError {
    let kind = match error {
        HilinkError::Unreachable { .. }
        | HilinkError::LoginRequired { .. }
        | HilinkError::BadPassword { .. }
        | HilinkError::LockedOut(_) => FailureKind::ModemState,
        _ => FailureKind::Transient,
    };
    failure(kind, error.to_string())
}

impl HilinkStick {
    /// Opens the stick `config` names (`[modem] transport = "hilink"`);
    /// its events arrive on the returned receiver.
    pub(crate) fn open(config: &Config) -> (Self, mpsc::Receiver<DeviceEvent>) {
        let web = config
            .modem
            .web
            .clone()
            .expect("a HiLink stick is opened for a web configuration");
        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        let (state_tx, state) = watch::channel(DeviceState::Connecting {
            attempt: 0,
            last_error: None,
        });
        let inner = Arc::new(Inner {
            client: Mutex::new(Arc::new(client_for(&web, config))),
            settings: Mutex::new(settings_for(&web, config)),
            state_tx,
            events,
            reference: AtomicU8::new(0),
            deleted: Mutex::new(VecDeque::new()),
            away: AtomicBool::new(false),
            deletions: AtomicU64::new(0),
            reports: Mutex::new(ReportMatcher::default()),
            idle: IdleBudget::default(),
            operator: Mutex::new(None),
            notes: Mutex::new(DeviceNotes::default()),
            journal: Journaled::open(config.database.path.as_deref(), "hilink", &web.url),
        });
        let stick = Self {
            poller: Mutex::new(Some(tokio::spawn(watch_stick(inner.clone())))),
            inner,
            state,
        };
        (stick, receiver)
    }

    fn restart_poller(&self, run: bool) {
        let mut poller = self.poller.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = poller.take() {
            old.abort();
        }
        if run {
            *poller = Some(tokio::spawn(watch_stick(self.inner.clone())));
        }
    }

    fn ready(&self) -> Result<Arc<Client>, DeviceError> {
        match &*self.state.borrow() {
            DeviceState::Ready(_) => Ok(self.inner.client()),
            _ => Err(DeviceError::not_ready()),
        }
    }

    /// Sends `text` to `phone` and follows it until it is sent or failed;
    /// with a `key`, the sent box's newest entry is journaled (synced)
    /// before the `send-sms`.
    async fn send_once(
        &self,
        phone: &str,
        text: &str,
        key: Option<&str>,
    ) -> Result<u8, DeviceError> {
        let client = self.ready()?;
        let send_timeout = self.inner.settings().send_timeout;
        let before = newest_sent(&client).await.map_err(|e| not_sent(&e))?;
        if let Some(key) = key {
            self.inner.journal.hand_over(key, before)?;
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let date = api::format_date(&pdu::Timestamp::from_unix_seconds(now));
        let request = api::send_request(phone, text, &date);
        match client.post("/api/sms/send-sms", request).await {
            Ok(_) => {}
            Err(error) if error.in_doubt() => {
                return self
                    .settle(&client, phone, text, before, &error.to_string())
                    .await
            }
            Err(error) => return Err(not_sent(&error)),
        }
        let deadline = Instant::now() + send_timeout;
        // Asked soon at first (a send may take milliseconds), then less
        // often, up to every STATUS_INTERVAL.
        let mut pause = Duration::from_millis(5);
        loop {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(STATUS_INTERVAL);
            match client.get("/api/sms/send-status").await {
                Ok(status) => match api::send_state(&status, phone) {
                    SendState::Sent => {
                        if text.chars().any(|c| u32::from(c) > 0xFFFF) {
                            check_kept_text(&client, phone, text, before).await;
                        }
                        return Ok(self.inner.next_reference());
                    }
                    SendState::Failed => {
                        return Err(failure(
                            FailureKind::Transient,
                            "the stick says the network did not take the message",
                        ))
                    }
                    SendState::Pending if Instant::now() < deadline => {}
                    SendState::Pending => {
                        let reason = format!(
                            "the stick did not finish sending within {} s",
                            send_timeout.as_secs()
                        );
                        return self.settle(&client, phone, text, before, &reason).await;
                    }
                },
                Err(error) => {
                    return self
                        .settle(&client, phone, text, before, &error.to_string())
                        .await
                }
            }
        }
    }

    /// Settles a send in doubt from the sent box: sent when it shows the
    /// message (newer than `before`), once the stick says it is no longer
    /// sending; ambiguous otherwise. Waits for a stick that is away (a
    /// reboot) up to the send timeout.
    async fn settle(
        &self,
        client: &Client,
        phone: &str,
        text: &str,
        before: Option<u32>,
        reason: &str,
    ) -> Result<u8, DeviceError> {
        super::sent_box::settle(
            reason,
            self.inner.settings().send_timeout,
            STATUS_INTERVAL,
            || async {
                client.get("/api/sms/send-status").await.map(|status| {
                    api::send_state(&status, phone) == SendState::Pending
                        && status.value("Phone").is_some_and(|p| {
                            p.split([';', ',']).any(|p| api::same_number(p, phone))
                        })
                })
            },
            || in_sent_box(client, phone, text, before),
        )
        .await?;
        Ok(self.inner.next_reference())
    }

    /// Deletes a message or report from the stick, once (a long message is
    /// one message there but several parts for the daemon, each deleted).
    async fn delete_from_stick(&self, location: &Location) -> Result<(), DeviceError> {
        let done = |index| {
            self.inner
                .deleted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&index)
        };
        if done(location.index) {
            return Ok(());
        }
        let client = self.ready()?;
        client
            .post("/api/sms/delete-sms", api::index_request(location.index))
            .await
            .map_err(|e| not_sent(&e))?;
        let mut deleted = self.inner.deleted.lock().unwrap_or_else(|e| e.into_inner());
        if deleted.len() >= 256 {
            deleted.pop_front();
        }
        deleted.push_back(location.index);
        self.inner.deletions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The reports listed with the inbox, matched to the sends waiting
    /// for them: status reports for the daemon; the rest logged once and
    /// left on the stick.
    fn matched_reports(&self, reports: &[(api::Message, bool)]) -> Vec<Listed> {
        let mut matcher = lock(&self.inner.reports);
        matcher.expire(Instant::now());
        let found: Vec<Found<'_>> = reports
            .iter()
            .map(|(report, _)| Found {
                id: report.index,
                number: &report.phone,
            })
            .collect();
        let mut listed = Vec::new();
        for (index, verdict) in matcher.judge(&found) {
            let Some((report, delivered)) = reports.iter().find(|(r, _)| r.index == index) else {
                continue;
            };
            match verdict {
                Verdict::For(reference) => {
                    match report_pdu(reference, report, *delivered) {
                        Ok(pdu) => listed.push(pdu),
                        Err(reason) => {
                            tracing::warn!(index, reason, "a delivery report cannot be made a status report; left on the stick");
                            matcher.give_up(index);
                        }
                    }
                }
                Verdict::Unmatched => tracing::info!(
                    index,
                    to = %Redact(&report.phone),
                    delivered,
                    "a delivery report for no message this run waits for; left on the stick"
                ),
                Verdict::Done => {}
            }
        }
        listed
    }
}

impl Inner {
    fn client(&self) -> Arc<Client> {
        self.client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn settings(&self) -> Settings {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_reference(&self) -> u8 {
        self.reference
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
    }

    fn current_reference(&self) -> u8 {
        self.reference.load(Ordering::Relaxed)
    }
}

/// The index of the newest message in the sent box, if any.
async fn newest_sent(client: &Client) -> Result<Option<u32>, HilinkError> {
    newest_index(client, api::Box::Sent).await
}

/// The index of the newest message in `box_type`, if any.
async fn newest_index(client: &Client, box_type: api::Box) -> Result<Option<u32>, HilinkError> {
    let page = client
        .post(
            "/api/sms/sms-list",
            api::list_request(box_type, 1, 1, false),
        )
        .await?;
    let messages = api::message_list(&page).map_err(|error| HilinkError::Answer {
        path: "/api/sms/sms-list".to_owned(),
        error,
    })?;
    Ok(messages.iter().map(|m| m.index).max())
}

/// Whether the sent box holds `text` to `phone`, newer than `before`.
/// Pages back, newest first, to the entries from before the send.
async fn in_sent_box(
    client: &Client,
    phone: &str,
    text: &str,
    before: Option<u32>,
) -> Result<bool, HilinkError> {
    use super::sent_box::{look_in_page, PageLook, MOST_PAGES, PAGE};
    for page in 1..=MOST_PAGES {
        let answer = client
            .post(
                "/api/sms/sms-list",
                api::list_request(api::Box::Sent, page, PAGE, false),
            )
            .await?;
        let messages = api::message_list(&answer).map_err(|error| HilinkError::Answer {
            path: "/api/sms/sms-list".to_owned(),
            error,
        })?;
        let entries = messages.iter().map(|m| {
            (
                m.index,
                api::same_number(&m.phone, phone) && m.content == text,
            )
        });
        match look_in_page(entries, before) {
            PageLook::Found => return Ok(true),
            PageLook::NotThere => return Ok(false),
            PageLook::NextPage => {}
        }
    }
    Ok(false)
}

/// After a text with characters outside the BMP (emoji) went out: says
/// so when the stick's copy in the sent box differs, as some firmware
/// replaces such characters. It went out; the log tells how.
async fn check_kept_text(client: &Client, phone: &str, text: &str, before: Option<u32>) {
    let page = match client
        .post(
            "/api/sms/sms-list",
            api::list_request(api::Box::Sent, 1, 5, false),
        )
        .await
    {
        Ok(page) => page,
        Err(_) => return,
    };
    let Ok(messages) = api::message_list(&page) else {
        return;
    };
    let copy = messages.iter().find(|m| {
        before.is_none_or(|before| m.index > before) && api::same_number(&m.phone, phone)
    });
    if let Some(copy) = copy.filter(|copy| copy.content != text) {
        tracing::warn!(
            sent = %Redact(&copy.content),
            asked = %Redact(text),
            "the stick changed the text it sent: its firmware does not keep characters outside the BMP (emoji)"
        );
    }
}

/// Sets the stick's `UseSReport` to `wanted` when it differs, keeping its
/// other message settings. A stick that cannot be asked or set is logged
/// and used as it is: reports then come as it decides.
async fn ask_for_reports(client: &Client, wanted: bool) {
    let current = match client.get("/api/sms/config").await {
        Ok(current) => current,
        Err(error) => {
            tracing::warn!(error = %Scrub(&error), wanted, "cannot read the stick's message settings (api/sms/config); delivery reports are as the stick has them");
            return;
        }
    };
    if api::reports_asked(&current) == Some(wanted) {
        return;
    }
    match client
        .post(
            "/api/sms/config",
            api::report_config_request(&current, wanted),
        )
        .await
    {
        Ok(_) if wanted => {
            tracing::info!("the stick now asks the network for delivery reports (UseSReport on)")
        }
        Ok(_) => tracing::info!(
            "the stick no longer asks the network for delivery reports (UseSReport off)"
        ),
        Err(error) => {
            tracing::warn!(error = %Scrub(&error), wanted, "cannot set the stick's delivery reports (UseSReport)")
        }
    }
}

/// A delivery report as the status report the daemon takes, for the send
/// given `reference`; always the same PDU for the same report, so one
/// read twice is recorded once.
fn report_pdu(reference: u8, report: &api::Message, delivered: bool) -> Result<Listed, String> {
    // A date the stick cannot give is 1970, as for messages.
    let seconds = api::parse_date(&report.date)
        .and_then(|stamp| crate::calendar::unix_seconds(&stamp).ok())
        .unwrap_or(0);
    let pdu = super::text::status_report(reference, &report.phone, seconds, delivered)?;
    Ok(Listed::Message {
        location: Location {
            storage: REPORTS.to_owned(),
            index: report.index,
        },
        pdu,
    })
}

/// Whether the inbox may hold something the daemon has not read: it is
/// not empty, and its count changed since the last check, or stayed the
/// same across a delete (one went, another came).
pub(super) fn something_new(
    last_inbox: Option<u32>,
    last_deletions: u64,
    inbox: u32,
    deletions: u64,
) -> bool {
    inbox > 0 && (last_inbox != Some(inbox) || deletions != last_deletions)
}

/// How long to wait before connecting again after `attempt` failures.
pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(u64::from(attempt.clamp(1, 10)))
}

/// Connects to the stick, then asks it every `check_interval` whether the
/// inbox changed; tells the daemon, and clears the storage when it fills.
async fn watch_stick(inner: Arc<Inner>) {
    let mut attempt = 0u32;
    loop {
        let client = inner.client();
        match client.get("/api/device/information").await {
            Ok(info) => {
                let info = api::information(&info);
                *lock(&inner.operator) = None;
                ask_for_reports(&client, inner.settings().reports).await;
                if !lock(&inner.reports).has_baseline() {
                    match newest_index(&client, api::Box::Inbox).await {
                        Ok(newest) => lock(&inner.reports).set_baseline(newest),
                        Err(error) => {
                            tracing::debug!(error = %Scrub(&error), "cannot read which reports the stick held before; asking again on the next connection");
                        }
                    }
                }
                inner.away.store(false, Ordering::Relaxed);
                tracing::info!(model = %info.model, firmware = %info.firmware, url = client.base(), "the HiLink stick is ready");
                inner.state_tx.send_replace(DeviceState::Ready(DeviceInfo {
                    model: format!("Huawei {}", info.model).trim().to_owned(),
                    imei: info.imei,
                }));
            }
            Err(error) => {
                attempt += 1;
                lock(&inner.notes).fault(
                    SystemTime::now(),
                    format!("cannot reach the stick: {}", Scrub(&error)),
                );
                if !inner.away.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %Scrub(&error), "cannot reach the HiLink stick; trying again");
                } else {
                    tracing::debug!(attempt, error = %Scrub(&error), "the HiLink stick is still away");
                }
                inner.state_tx.send_replace(DeviceState::Connecting {
                    attempt,
                    last_error: Some(error.to_string()),
                });
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
        }
        let mut last_inbox: Option<u32> = None;
        let mut last_deletions = inner.deletions.load(Ordering::Relaxed);
        let mut storage_warned = false;
        loop {
            tokio::time::sleep(inner.settings().check_interval).await;
            if !inner.idle.check_now() {
                continue;
            }
            let count = match client.get("/api/sms/sms-count").await {
                Ok(count) => api::sms_count(&count).map_err(|error| HilinkError::Answer {
                    path: "/api/sms/sms-count".to_owned(),
                    error,
                }),
                Err(error) => Err(error),
            };
            let count = match count {
                Ok(count) => count,
                Err(error) => {
                    lock(&inner.notes).fault(
                        SystemTime::now(),
                        format!("lost the stick: {}", Scrub(&error)),
                    );
                    if !inner.away.swap(true, Ordering::Relaxed) {
                        tracing::warn!(error = %Scrub(&error), "lost the HiLink stick; connecting again");
                    }
                    attempt = 1;
                    inner.state_tx.send_replace(DeviceState::Connecting {
                        attempt,
                        last_error: Some(error.to_string()),
                    });
                    tokio::time::sleep(backoff(attempt)).await;
                    break;
                }
            };
            let deletions = inner.deletions.load(Ordering::Relaxed);
            let news = something_new(last_inbox, last_deletions, count.inbox, deletions);
            last_deletions = deletions;
            if news {
                let stored = DeviceEvent::Stored {
                    storage: INBOX.to_owned(),
                };
                if inner.events.send(stored).await.is_err() {
                    return;
                }
            }
            last_inbox = Some(count.inbox);
            lock(&inner.notes).storage = Some((count.used(), count.max));
            let full = count.max > 0 && count.used() * 10 >= count.max * 8;
            if full && !storage_warned {
                storage_warned = true;
                lock(&inner.notes).fault(
                    SystemTime::now(),
                    format!(
                        "the stick's message storage was 80 % full ({} of {}); copies of sent messages deleted",
                        count.used(),
                        count.max
                    ),
                );
                tracing::warn!(
                    used = count.used(),
                    max = count.max,
                    sent = count.outbox,
                    "the stick's message storage is 80 % full; deleting the oldest copies of sent messages"
                );
            } else if !full {
                storage_warned = false;
            }
            let kept = SENT_KEPT.min(count.max / 10);
            if full && count.outbox > kept {
                if let Err(error) = clear_sent(&client, count.outbox - kept).await {
                    tracing::warn!(error = %Scrub(&error), "cannot delete copies of sent messages from the stick");
                }
            }
        }
    }
}

/// Deletes the `count` oldest copies of sent messages (at most a page).
async fn clear_sent(client: &Client, count: u32) -> Result<(), HilinkError> {
    let page = client
        .post(
            "/api/sms/sms-list",
            api::list_request(api::Box::Sent, 1, count.min(api::PAGE_SIZE), true),
        )
        .await?;
    let messages = api::message_list(&page).map_err(|error| HilinkError::Answer {
        path: "/api/sms/sms-list".to_owned(),
        error,
    })?;
    for message in messages {
        client
            .post("/api/sms/delete-sms", api::index_request(message.index))
            .await?;
    }
    Ok(())
}

/// One stored message as the SMS-DELIVER PDUs of its parts (SMSC field,
/// then TPDU), made from its sender, text and date; always the same PDUs
/// for the same message, so a message read twice is recorded once.
fn as_delivers(message: &api::Message) -> Vec<Listed> {
    let location = Location {
        storage: INBOX.to_owned(),
        index: message.index,
    };
    // The stick's dates are taken as UTC; one it cannot give is 1970.
    let seconds = api::parse_date(&message.date)
        .and_then(|stamp| crate::calendar::unix_seconds(&stamp).ok())
        .unwrap_or(0);
    let reference = (message.index & 0xFFFF) as u16;
    match super::text::delivers(&message.phone, &message.content, seconds, reference) {
        Ok(pdus) => pdus
            .into_iter()
            .map(|pdu| Listed::Message {
                location: location.clone(),
                pdu,
            })
            .collect(),
        Err(reason) => vec![Listed::Unreadable {
            location,
            raw: format!(
                "from {} at {}: {}",
                message.phone, message.date, message.content
            ),
            reason,
        }],
    }
}

impl SentBoxStick for HilinkStick {
    const KIND: &'static str = "a HiLink stick";

    fn journal(&self) -> &Journaled {
        &self.inner.journal
    }

    fn current_reference(&self) -> u8 {
        self.inner.current_reference()
    }

    async fn settle_handed_over(
        &self,
        phone: &str,
        text: &str,
        before: Option<u32>,
    ) -> Result<u8, DeviceError> {
        let client = self.ready()?;
        self.settle(&client, phone, text, before, HANDED_OVER).await
    }

    async fn send_and_follow(
        &self,
        phone: &str,
        text: &str,
        key: Option<&str>,
    ) -> Result<u8, DeviceError> {
        self.send_once(phone, text, key).await
    }

    fn expect_report(&self, reference: u8, phone: &str) {
        lock(&self.inner.reports).expect(reference, phone, Instant::now());
    }
}

impl Device for HilinkStick {
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
        let parts = std::slice::from_ref(pdu);
        let concatenated = super::text::concatenation(pdu).is_some_and(|(_, total)| total > 1);
        if concatenated {
            return Err(failure(
                FailureKind::Permanent,
                "a HiLink stick sends whole texts: one part of a long message cannot be sent alone",
            ));
        }
        send_planned(self, None, parts, 0).await
    }

    async fn send_part(&self, parts: &[EncodedPdu], index: usize) -> Result<u8, DeviceError> {
        send_planned(self, None, parts, index).await
    }

    async fn send_message_part(
        &self,
        message: super::MessageName,
        parts: &[EncodedPdu],
        index: usize,
    ) -> Result<u8, DeviceError> {
        send_planned(self, Some(message), parts, index).await
    }

    fn resends_safely(&self) -> bool {
        // A part in doubt comes back to send_message_part, which asks the
        // sent box first (the journal must survive the restart for that).
        self.inner.journal.durable()
    }

    async fn last_reference(&self) -> Result<Option<u8>, DeviceError> {
        Ok(None)
    }

    fn storages(&self) -> Vec<String> {
        match &*self.state.borrow() {
            DeviceState::Ready(_) => vec![INBOX.to_owned()],
            _ => Vec::new(),
        }
    }

    async fn read_storage(&self, storage: &str) -> Result<Vec<Listed>, DeviceError> {
        // Reports are in the inbox, and come with it.
        if storage != INBOX {
            return Ok(Vec::new());
        }
        let client = self.ready()?;
        // The count is one small request; the listing only when there is
        // something to list (the daemon also reads on its safety poll).
        let count = client
            .get("/api/sms/sms-count")
            .await
            .map_err(|e| not_sent(&e))?;
        let count =
            api::sms_count(&count).map_err(|e| failure(FailureKind::Transient, e.to_string()))?;
        if count.inbox == 0 {
            return Ok(Vec::new());
        }
        let mut listed = Vec::new();
        let mut reports = Vec::new();
        for page in 1..=MAX_PAGES {
            let answer = client
                .post(
                    "/api/sms/sms-list",
                    api::list_request(api::Box::Inbox, page, api::PAGE_SIZE, true),
                )
                .await
                .map_err(|e| not_sent(&e))?;
            let messages = api::message_list(&answer)
                .map_err(|e| failure(FailureKind::Transient, e.to_string()))?;
            let full_page = messages.len() as u32 >= api::PAGE_SIZE;
            for message in messages {
                match message.report_outcome() {
                    Some(delivered) => reports.push((message, delivered)),
                    None => listed.extend(as_delivers(&message)),
                }
            }
            if !full_page {
                break;
            }
        }
        listed.extend(self.matched_reports(&reports));
        Ok(listed)
    }

    async fn storage_usage(&self) -> Result<Option<(u32, u32)>, DeviceError> {
        let client = self.ready()?;
        let answer = client
            .get("/api/sms/sms-count")
            .await
            .map_err(|e| not_sent(&e))?;
        let count =
            api::sms_count(&answer).map_err(|e| failure(FailureKind::Transient, e.to_string()))?;
        Ok(Some((count.used(), count.max)))
    }

    async fn delete(&self, location: &Location) -> Result<(), DeviceError> {
        let result = self.delete_from_stick(location).await;
        if result.is_ok() && location.storage == REPORTS {
            lock(&self.inner.reports).recorded(location.index);
        }
        result
    }

    async fn acknowledge(&self) -> Result<(), DeviceError> {
        Ok(())
    }

    async fn hang_up(&self) -> Result<(), DeviceError> {
        Ok(())
    }

    fn notes(&self) -> DeviceNotes {
        let mut notes = lock(&self.inner.notes).clone();
        if let Some((at, code)) = self.inner.client().renewed() {
            if notes.fault.as_ref().is_none_or(|(noted, _)| *noted < at) {
                notes.fault(
                    at,
                    format!("the stick no longer took the session or its token (error {code}); a new session was begun"),
                );
            }
        }
        notes
    }

    async fn radio(&self) -> Radio {
        let Ok(client) = self.ready() else {
            return Radio::default();
        };
        let signal = client
            .get("/api/device/signal")
            .await
            .ok()
            .map(|s| api::signal(&s));
        let status = client
            .get("/api/monitoring/status")
            .await
            .ok()
            .map(|s| api::status(&s));
        let registered = status.and_then(|s| s.registered);
        let known = lock(&self.inner.operator).clone();
        let operator = match known {
            Some((read_with, operator)) if read_with == registered => {
                self.inner.idle.spent(2);
                operator
            }
            _ => {
                self.inner.idle.spent(3);
                // A request that failed is asked again at the next read.
                let answer = client.get("/api/net/current-plmn").await.ok();
                let operator = answer.as_ref().and_then(api::operator);
                if answer.is_some() {
                    *lock(&self.inner.operator) = Some((registered, operator.clone()));
                }
                operator
            }
        };
        Radio {
            signal_dbm: signal.as_ref().and_then(|s| s.dbm()),
            signal_percent: signal.as_ref().and_then(|s| s.percent()),
            registered,
            operator,
            // The web interface has no bit error rate.
            ..Radio::default()
        }
    }

    async fn control(&self, request: Control) {
        match request {
            Control::Suspend => {
                self.restart_poller(false);
                self.inner.state_tx.send_replace(DeviceState::Suspended);
            }
            Control::Resume => self.restart_poller(true),
            Control::Reconnect | Control::HardReset => {
                // The stick is not rebooted: a new session is the most a
                // reset asks of it.
                self.inner.client().reset().await;
                self.inner.state_tx.send_replace(DeviceState::Connecting {
                    attempt: 0,
                    last_error: None,
                });
                self.restart_poller(true);
            }
        }
    }

    async fn reload(&self, config: &Config) {
        let Some(web) = &config.modem.web else {
            tracing::warn!("the reloaded configuration names no web stick; staying with the HiLink stick until a restart");
            return;
        };
        *self.inner.client.lock().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(client_for(web, config));
        *self
            .inner
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = settings_for(web, config);
        self.inner.state_tx.send_replace(DeviceState::Connecting {
            attempt: 0,
            last_error: None,
        });
        self.restart_poller(true);
    }

    async fn shutdown(&self) {
        self.restart_poller(false);
        self.inner.state_tx.send_replace(DeviceState::Stopped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::Incoming;

    /// What the stick's device says once it could not log in: the
    /// state's detail and the last fault noted.
    async fn login_refused(config: &Config) -> (String, String) {
        let (device, _events) = HilinkStick::open(config);
        crate::device::first_connect_error(&device).await
    }

    /// Every login error of a `[[modems]]` stick said "check password
    /// under [modem]", in the log and in `status`: the detail and the
    /// last fault name the modem's own section; the first modem's text is
    /// as before.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_password_names_the_modem_s_own_section() {
        use crate::emulator::hilink::{HilinkConfig as StickConfig, HilinkEmulator as Emulator};
        let stick = Emulator::start(StickConfig {
            password: Some("right".to_owned()),
            ..StickConfig::default()
        })
        .await
        .unwrap();
        let stick_keys = format!(
            "transport = \"hilink\"\ndevice = \"{}\"\npassword = \"wrong\"\n",
            stick.url()
        );
        let several = crate::config::parse_toml(&format!(
            "[modem]\ndevice = \"/dev/ttyUSB0\"\n[[modems]]\nname = \"b\"\n{stick_keys}"
        ))
        .unwrap()
        .config;
        let (detail, fault) = login_refused(&several.for_modem(1)).await;
        for text in [&detail, &fault] {
            assert!(
                text.contains("check password under the [[modems]] entry named \"b\""),
                "{text}"
            );
        }
        let one = crate::config::parse_toml(&format!("[modem]\n{stick_keys}"))
            .unwrap()
            .config;
        let (detail, fault) = login_refused(&one.for_modem(0)).await;
        for text in [&detail, &fault] {
            assert!(text.contains("check password under [modem]"), "{text}");
            // The stick's error code, in the detail and in the last fault
            // alike (the fault's was scrubbed as a number).
            assert!(text.contains("(error 108006)"), "{text}");
        }
    }

    #[test]
    fn the_inbox_is_read_when_its_count_moved_or_hid_a_delete() {
        assert!(something_new(None, 0, 1, 0), "first look");
        assert!(!something_new(None, 0, 0, 0), "empty");
        assert!(something_new(Some(1), 0, 2, 0), "one more");
        assert!(!something_new(Some(1), 3, 1, 3), "nothing happened");
        assert!(something_new(Some(1), 3, 1, 4), "one deleted, one arrived");
        assert!(!something_new(Some(1), 3, 0, 4), "deleted, now empty");
    }

    #[test]
    fn a_stored_message_becomes_the_same_delivers_each_time() {
        let message = api::Message {
            index: 40_007,
            phone: "+4915112345678".to_owned(),
            content: "ж".repeat(100),
            date: "2024-03-01 10:11:12".to_owned(),
            status: 0,
            sms_type: 1,
        };
        let first = as_delivers(&message);
        assert_eq!(first, as_delivers(&message));
        assert_eq!(first.len(), 2);
        let mut text = String::new();
        for listed in &first {
            let Listed::Message { location, pdu } = listed else {
                panic!("unreadable: {listed:?}");
            };
            assert_eq!(location.index, 40_007);
            let (_, tpdu) = pdu::split_smsc(pdu).unwrap();
            let Incoming::Deliver(deliver) = Incoming::decode(tpdu).unwrap() else {
                panic!("not a deliver");
            };
            assert_eq!(deliver.originator.to_display(), "+4915112345678");
            let stamp = deliver.timestamp.valid().unwrap();
            assert_eq!((stamp.year, stamp.hour, stamp.second), (2024, 10, 12));
            text.push_str(deliver.user_data.body.text().unwrap());
        }
        assert_eq!(text, message.content);
    }

    #[test]
    fn a_named_sender_and_an_unusable_one() {
        let named = api::Message {
            index: 1,
            phone: "Telekom".to_owned(),
            content: "hi".to_owned(),
            date: String::new(),
            status: 0,
            sms_type: 1,
        };
        assert!(matches!(as_delivers(&named)[0], Listed::Message { .. }));
        let unusable = api::Message {
            phone: "a sender name far too long for an address".to_owned(),
            ..named
        };
        let listed = as_delivers(&unusable);
        let Listed::Unreadable { raw, .. } = &listed[0] else {
            panic!("{listed:?}");
        };
        assert!(raw.contains("hi"));
    }

    #[test]
    fn a_report_becomes_the_same_status_report_for_its_send_each_time() {
        let report = api::Message {
            index: 40_010,
            phone: "+4915112345678".to_owned(),
            content: String::new(),
            date: "2024-03-01 10:11:12".to_owned(),
            status: 0,
            sms_type: api::SMS_TYPE_NOT_DELIVERED,
        };
        let listed = report_pdu(42, &report, false).unwrap();
        assert_eq!(listed, report_pdu(42, &report, false).unwrap());
        let Listed::Message { location, pdu } = listed else {
            panic!("unreadable");
        };
        assert_eq!(
            (location.storage.as_str(), location.index),
            (REPORTS, 40_010)
        );
        let (_, tpdu) = pdu::split_smsc(&pdu).unwrap();
        let Incoming::StatusReport(status) = Incoming::decode(tpdu).unwrap() else {
            panic!("not a report");
        };
        assert_eq!(status.message_reference, 42);
        assert_eq!(status.recipient.to_display(), "+4915112345678");
        assert_ne!(status.status.outcome(), pdu::DeliveryOutcome::Delivered);
        assert_eq!(status.discharge_time.valid().unwrap().hour, 10);
    }
}
