//! A ZTE web stick (MF823 family) as a [`Device`]: what the daemon asks in
//! PDUs, done through the `goform` API that takes and gives text. The
//! same rules as the HiLink stick (`super::hilink`), whose poll decision
//! and back-off it shares:
//!
//! - Sending: the stick takes a number and a whole text (UCS-2 hex) and
//!   splits a long text itself, so the parts the daemon planned are
//!   decoded back into their text and sent as one, for the first part;
//!   the later parts are answered at once. One `SEND_SMS` at a time, then
//!   `sms_cmd_status_info` (command 4) until it says sent or failed. That
//!   status names the last send, whichever it was: a "sent" read before
//!   this send was ever seen under way counts only when the sent box
//!   shows the message, so a previous message's "sent" is never taken
//!   for this one's.
//! - A send in doubt (the request went out and no usable answer came, or
//!   the stick never said it finished): the stick's sent box settles it
//!   when it shows the text, to that number, with an id newer than the
//!   newest it held before the send; otherwise the part is
//!   [`FailureKind::Ambiguous`], exactly as an unanswered `+CMGS`. The
//!   stick has no TP-MR the daemon could read, so the references it
//!   reports are its own count.
//! - Receiving: one `sms_capacity_info` every `check_interval` (less the
//!   checks the status reads take the place of: [`super::idle_budget`]) tells how
//!   many received messages the stick holds; only when that moved (or
//!   stayed the same across a delete) is the daemon told, and the inbox
//!   listed (`sms_data_total`, 50 a page, oldest first) as SMS-DELIVER
//!   PDUs made from sender, text and date. The daemon writes each inbox
//!   file durably, then deletes the message (`DELETE_SMS`). A long message
//!   whose parts have not all arrived (`received_all_concat_sms = 0`) is
//!   left for [`INCOMPLETE_WAIT`], then taken as it is.
//! - Storage: the stick's own places hold the sent copies too: when it is
//!   80 % full the oldest sent copies go (the newest few kept to settle
//!   sends in doubt), so it never stops taking new messages. The check
//!   does it, and so does a send that finds the storage (as last read,
//!   with the sends since) that full: a burst of sends between two checks
//!   would otherwise fill it with copies, and a send whose copy finds no
//!   place cannot be settled.
//! - Delivery reports: the stick lists them (`sms_status_rpt_data`) as a
//!   number, an outcome and a date, with nothing naming the message they
//!   are for. A report is matched to the oldest send to that number that
//!   asked for one and has none yet ([`super::report_match`], shared with
//!   the HiLink stick), in this run only (what was waiting
//!   when the daemon stopped is not matched after a restart): with two
//!   messages to one number in flight, their reports may be swapped.
//!   Reports are asked for only while a send waits for one.

use super::hilink::{backoff, something_new};
use super::idle_budget::IdleBudget;
use super::report_match::{Found, ReportMatcher, Verdict};
use super::sent_box::{send_planned, Journaled, SentBoxStick, HANDED_OVER};
use super::{
    Capabilities, Control, Device, DeviceError, DeviceEvent, DeviceInfo, DeviceNotes, DeviceState,
    FailureKind, Listed, Location, Radio,
};
use crate::config::{Config, WebStick};
use crate::hilink::api::same_number;
use crate::pdu::{self, EncodedPdu};
use crate::redact::Scrub;
use crate::zte::api::{self, CommandState, Tags};
use crate::zte::client::{Client, ZteError};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The stick's received messages.
pub const INBOX: &str = "inbox";
/// Its delivery reports.
pub const REPORTS: &str = "reports";

/// How many events may wait for the daemon.
const EVENT_QUEUE: usize = 64;
/// The shortest time a request may take before it is given up.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often, at most, the send status is asked while a send is under way.
const STATUS_INTERVAL: Duration = Duration::from_millis(250);
/// The newest sent copies kept when storage is cleared.
const SENT_KEPT: u32 = 10;
/// Inbox pages read at most in one go.
const MAX_PAGES: u32 = 40;
/// How long a long message with parts missing is left on the stick.
pub const INCOMPLETE_WAIT: Duration = Duration::from_secs(600);
/// Reports are looked for every this many checks while a send waits.
const REPORT_EVERY: u64 = 6;

/// A ZTE web stick.
#[derive(Debug)]
pub(crate) struct ZteStick {
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
    reference: AtomicU8,
    deleted: Mutex<VecDeque<u32>>,
    away: AtomicBool,
    deletions: AtomicU64,
    reports: Mutex<ReportMatcher>,
    /// Incomplete long messages, and when each was first seen.
    incomplete: Mutex<HashMap<u32, Instant>>,
    /// The SIM state last logged.
    sim_state: Mutex<Option<api::SimState>>,
    /// The storage as last read, with the sends since counted in: (used,
    /// total).
    storage: Mutex<Option<(u32, u32)>>,
    /// The storage filling was logged (once until it empties again).
    storage_warned: AtomicBool,
    /// The status reads' requests, paid for by skipped checks.
    idle: IdleBudget,
    /// The last fault, for the status.
    notes: Mutex<DeviceNotes>,
    /// For each message handed over: the newest entry of the sent box
    /// before it (synced before the `SEND_SMS`), so that a send in doubt
    /// is settled from the sent box after a restart too.
    journal: Journaled,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    check_interval: Duration,
    send_timeout: Duration,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn client_for(web: &WebStick, config: &Config) -> Client {
    Client::new(
        &web.url,
        web.password.as_ref().map(|p| p.reveal().to_owned()),
        config.modem.command_timeout.max(MIN_REQUEST_TIMEOUT),
    )
    .for_section(config.modem.section.to_string())
}

fn settings_for(web: &WebStick, config: &Config) -> Settings {
    Settings {
        check_interval: web.check_interval,
        send_timeout: config.modem.send_timeout,
    }
}

fn failure(kind: FailureKind, message: impl Into<String>) -> DeviceError {
    DeviceError {
        kind,
        message: message.into(),
    }
}

/// What a failed request means for a part that did not go out.
fn not_sent(error: &ZteError) -> DeviceError {
    let kind = match error {
        ZteError::Unreachable { .. }
        | ZteError::LoginRequired { .. }
        | ZteError::BadPassword { .. }
        | ZteError::LockedOut(_)
        | ZteError::OtherUser => FailureKind::ModemState,
        _ => FailureKind::Transient,
    };
    failure(kind, error.to_string())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl ZteStick {
    /// Opens the stick `config` names (`[modem] transport = "zte"`); its
    /// events arrive on the returned receiver.
    pub(crate) fn open(config: &Config) -> (Self, mpsc::Receiver<DeviceEvent>) {
        let web = config
            .modem
            .web
            .clone()
            .expect("a ZTE stick is opened for a web configuration");
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
            incomplete: Mutex::new(HashMap::new()),
            sim_state: Mutex::new(None),
            storage: Mutex::new(None),
            storage_warned: AtomicBool::new(false),
            idle: IdleBudget::default(),
            notes: Mutex::new(DeviceNotes::default()),
            journal: Journaled::open(config.database.path.as_deref(), "zte", &web.url),
        });
        let stick = Self {
            poller: Mutex::new(Some(tokio::spawn(watch_stick(inner.clone())))),
            inner,
            state,
        };
        (stick, receiver)
    }

    fn restart_poller(&self, run: bool) {
        let mut poller = lock(&self.poller);
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
    /// before the `SEND_SMS`.
    async fn send_once(
        &self,
        phone: &str,
        text: &str,
        key: Option<&str>,
    ) -> Result<u8, DeviceError> {
        let client = self.ready()?;
        // A burst of sends fills the storage between two checks: cleared
        // here too, as a send whose copy finds no place cannot be settled.
        let nearly_full = lock(&self.inner.storage).is_some_and(|(used, total)| full(used, total));
        if nearly_full {
            keep_room(&self.inner, &client).await;
        }
        let before = newest_sent(&client).await.map_err(|e| not_sent(&e))?;
        if let Some(key) = key {
            self.inner.journal.hand_over(key, before)?;
        }
        let time = api::format_time(&pdu::Timestamp::from_unix_seconds(unix_now()));
        let sent = match client.act(&api::send_form(phone, text, &time)).await {
            Ok(_) => self.follow(&client, phone, text, before).await,
            Err(error) if error.in_doubt() => {
                self.settle(&client, phone, text, before, &error.to_string())
                    .await
            }
            Err(ZteError::Refused(_)) => Err(failure(
                FailureKind::Transient,
                "the stick refused the message (SEND_SMS did not answer success)",
            )),
            Err(error) => Err(not_sent(&error)),
        }?;
        if let Some((used, _)) = lock(&self.inner.storage).as_mut() {
            *used += 1;
        }
        Ok(sent)
    }

    /// Follows the send status until it says sent or failed.
    async fn follow(
        &self,
        client: &Client,
        phone: &str,
        text: &str,
        before: Option<u32>,
    ) -> Result<u8, DeviceError> {
        let send_timeout = self.inner.settings().send_timeout;
        let deadline = Instant::now() + send_timeout;
        // Asked soon at first (a send may take milliseconds), then less
        // often, up to every STATUS_INTERVAL.
        let mut pause = Duration::from_millis(5);
        // The status names the last send, not this one: "sent" before it
        // was ever seen "sending" may still be the previous message's, so
        // it counts only once the sent box shows this one.
        let mut seen_pending = false;
        loop {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(STATUS_INTERVAL);
            let state = client
                .read(&api::command_query(api::CMD_SEND), |a| {
                    Ok(api::command_state(a))
                })
                .await;
            let state = match state {
                Ok(CommandState::Done) if !seen_pending => {
                    match in_sent_box(client, phone, text, before).await {
                        Ok(true) => Ok(CommandState::Done),
                        Ok(false) => Ok(CommandState::Pending),
                        Err(error) => Err(error),
                    }
                }
                Ok(CommandState::Pending) => {
                    seen_pending = true;
                    Ok(CommandState::Pending)
                }
                other => other,
            };
            match state {
                Ok(CommandState::Done) => return Ok(self.inner.next_reference()),
                Ok(CommandState::Failed) => {
                    return Err(failure(
                        FailureKind::Transient,
                        "the stick says the network did not take the message",
                    ))
                }
                Ok(CommandState::Pending) if Instant::now() < deadline => {}
                Ok(CommandState::Pending) => {
                    let reason = format!(
                        "the stick did not finish sending within {} s",
                        send_timeout.as_secs()
                    );
                    return self.settle(client, phone, text, before, &reason).await;
                }
                Err(error) => {
                    return self
                        .settle(client, phone, text, before, &error.to_string())
                        .await
                }
            }
        }
    }

    /// Settles a send in doubt from the sent box: sent when it shows the
    /// message (newer than `before`), once the stick no longer says it is
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
                client
                    .read(&api::command_query(api::CMD_SEND), |a| {
                        Ok(api::command_state(a))
                    })
                    .await
                    .map(|state| state == CommandState::Pending)
            },
            || in_sent_box(client, phone, text, before),
        )
        .await?;
        Ok(self.inner.next_reference())
    }

    /// The inbox, as PDUs.
    async fn read_inbox(&self, client: &Client) -> Result<Vec<Listed>, DeviceError> {
        // The count is one small request; the listing only when there is
        // something to list (the daemon also reads on its safety poll).
        let capacity = client
            .read(&api::get_query(&["sms_capacity_info"], &[]), api::capacity)
            .await
            .map_err(|e| not_sent(&e))?;
        if capacity.received == 0 {
            return Ok(Vec::new());
        }
        let mut listed = Vec::new();
        let mut seen_incomplete = Vec::new();
        let now = Instant::now();
        for page in 0..MAX_PAGES {
            let messages = client
                .read(
                    &api::list_query(Tags::All, page, api::PAGE_SIZE, true),
                    api::message_list,
                )
                .await
                .map_err(|e| not_sent(&e))?;
            let full_page = messages.len() as u32 >= api::PAGE_SIZE;
            for message in messages.iter().filter(|m| m.received()) {
                if !message.complete {
                    seen_incomplete.push(message.id);
                    let first = *lock(&self.inner.incomplete)
                        .entry(message.id)
                        .or_insert(now);
                    if !waited_long_enough(first, now) {
                        tracing::debug!(id = message.id, "a long message whose parts have not all arrived; left on the stick for now");
                        continue;
                    }
                    tracing::warn!(
                        id = message.id,
                        "a long message still lacks parts after {} s; taking it as it is",
                        INCOMPLETE_WAIT.as_secs()
                    );
                }
                listed.extend(as_delivers(message));
            }
            if !full_page {
                break;
            }
        }
        lock(&self.inner.incomplete).retain(|id, _| seen_incomplete.contains(id));
        Ok(listed)
    }

    /// New delivery reports matched to the sends that wait for them
    /// ([`ReportMatcher`]).
    async fn read_reports(&self, client: &Client) -> Result<Vec<Listed>, DeviceError> {
        let awaiting = {
            let mut reports = lock(&self.inner.reports);
            reports.expire(Instant::now());
            reports.awaiting()
        };
        if !awaiting {
            return Ok(Vec::new());
        }
        let list = client
            .read(&api::reports_query(api::PAGE_SIZE), api::message_list)
            .await
            .map_err(|e| not_sent(&e))?;
        // Only final outcomes: a report still going is looked at again.
        let outcomes: HashMap<u32, (&api::Message, bool)> = list
            .iter()
            .filter_map(|r| match r.body.trim() {
                "1" => Some((r.id, (r, true))),
                "2" => Some((r.id, (r, false))),
                _ => None,
            })
            .collect();
        let found: Vec<Found<'_>> = outcomes
            .values()
            .map(|(r, _)| Found {
                id: r.id,
                number: &r.number,
            })
            .collect();
        let mut reports = lock(&self.inner.reports);
        let mut listed = Vec::new();
        for (id, verdict) in reports.judge(&found) {
            let (report, delivered) = outcomes[&id];
            match verdict {
                Verdict::For(reference) => match report_pdu(reference, report, delivered) {
                    Some(pdu) => listed.push(pdu),
                    None => reports.give_up(id),
                },
                Verdict::Unmatched => tracing::debug!(
                    id,
                    "a delivery report for no send this run is waiting for; ignored"
                ),
                Verdict::Done => {}
            }
        }
        Ok(listed)
    }
}

/// A report as the status report the daemon takes.
fn report_pdu(reference: u8, report: &api::Message, delivered: bool) -> Option<Listed> {
    let seconds = api::parse_time(&report.date)
        .and_then(|stamp| crate::calendar::unix_seconds(&stamp).ok())
        .unwrap_or_else(unix_now);
    match super::text::status_report(reference, &report.number, seconds, delivered) {
        Ok(pdu) => Some(Listed::Message {
            location: Location {
                storage: REPORTS.to_owned(),
                index: report.id,
            },
            pdu,
        }),
        Err(reason) => {
            tracing::warn!(reason, "a delivery report cannot be made a status report");
            None
        }
    }
}

/// Whether an incomplete long message first seen at `first` has waited
/// for its missing parts long enough.
fn waited_long_enough(first: Instant, now: Instant) -> bool {
    now.duration_since(first) >= INCOMPLETE_WAIT
}

impl Inner {
    fn client(&self) -> Arc<Client> {
        lock(&self.client).clone()
    }

    fn settings(&self) -> Settings {
        *lock(&self.settings)
    }

    fn next_reference(&self) -> u8 {
        self.reference
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
    }

    fn current_reference(&self) -> u8 {
        self.reference.load(Ordering::Relaxed)
    }

    fn awaiting_reports(&self) -> bool {
        lock(&self.reports).awaiting()
    }
}

/// The id of the newest sent copy, if any.
async fn newest_sent(client: &Client) -> Result<Option<u32>, ZteError> {
    let messages = client
        .read(&api::list_query(Tags::Sent, 0, 1, false), api::message_list)
        .await?;
    Ok(messages.iter().map(|m| m.id).max())
}

/// Whether the sent box holds `text` to `phone`, newer than `before`.
/// Pages back, newest first, to the entries from before the send.
async fn in_sent_box(
    client: &Client,
    phone: &str,
    text: &str,
    before: Option<u32>,
) -> Result<bool, ZteError> {
    use super::sent_box::{look_in_page, PageLook, MOST_PAGES, PAGE};
    for page in 0..MOST_PAGES {
        let messages = client
            .read(
                &api::list_query(Tags::Sent, page, PAGE, false),
                api::message_list,
            )
            .await?;
        let entries = messages.iter().map(|m| {
            (
                m.id,
                same_number(&m.number, phone)
                    && api::decode_body(&m.body).is_ok_and(|body| body == text),
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

/// Deletes the `count` oldest sent copies (at most a page).
async fn clear_sent(client: &Client, count: u32) -> Result<(), ZteError> {
    let messages = client
        .read(
            &api::list_query(Tags::Sent, 0, count.min(api::PAGE_SIZE), true),
            api::message_list,
        )
        .await?;
    let ids: Vec<u32> = messages.iter().map(|m| m.id).collect();
    if !ids.is_empty() {
        client.act(&api::delete_form(&ids)).await?;
    }
    Ok(())
}

/// One stored message as the SMS-DELIVER PDUs of its parts; always the
/// same PDUs for the same message, so a message read twice is recorded
/// once.
fn as_delivers(message: &api::Message) -> Vec<Listed> {
    let location = Location {
        storage: INBOX.to_owned(),
        index: message.id,
    };
    let unreadable = |reason: String| {
        vec![Listed::Unreadable {
            location: location.clone(),
            raw: format!(
                "from {} at {}: {}",
                message.number, message.date, message.body
            ),
            reason,
        }]
    };
    let text = match api::decode_body(&message.body) {
        Ok(text) => text,
        Err(reason) => return unreadable(reason),
    };
    // A date the stick cannot give is 1970.
    let seconds = api::parse_time(&message.date)
        .and_then(|stamp| crate::calendar::unix_seconds(&stamp).ok())
        .unwrap_or(0);
    let reference = (message.id & 0xFFFF) as u16;
    match super::text::delivers(&message.number, &text, seconds, reference) {
        Ok(pdus) => pdus
            .into_iter()
            .map(|pdu| Listed::Message {
                location: location.clone(),
                pdu,
            })
            .collect(),
        Err(reason) => unreadable(reason),
    }
}

/// Connects: the session (a login where needed), the identity, and the
/// reports there were before this run.
async fn connect(inner: &Inner, client: &Client) -> Result<DeviceInfo, ZteError> {
    let capacity = client
        .read(&api::get_query(&["sms_capacity_info"], &[]), api::capacity)
        .await?;
    *lock(&inner.storage) = Some((capacity.used(), capacity.total));
    let identity = api::identity(
        &client
            .read_raw(&api::get_query(&api::IDENTITY_FIELDS, &[]))
            .await?,
    );
    if !lock(&inner.reports).has_baseline() {
        let reports = client
            .read(&api::reports_query(api::PAGE_SIZE), api::message_list)
            .await?;
        lock(&inner.reports).set_baseline(reports.iter().map(|r| r.id).max());
    }
    tracing::info!(hardware = %identity.hardware, firmware = %identity.firmware, url = client.base(), "the ZTE stick is ready");
    Ok(DeviceInfo {
        model: format!("ZTE {}", identity.hardware).trim().to_owned(),
        imei: identity.imei,
    })
}

/// Connects to the stick, then asks it every `check_interval` how many
/// received messages it holds; tells the daemon, and clears the storage
/// when it fills.
async fn watch_stick(inner: Arc<Inner>) {
    let mut attempt = 0u32;
    loop {
        let client = inner.client();
        match connect(&inner, &client).await {
            Ok(info) => {
                inner.away.store(false, Ordering::Relaxed);
                inner.state_tx.send_replace(DeviceState::Ready(info));
            }
            Err(error) => {
                attempt += 1;
                lock(&inner.notes).fault(
                    SystemTime::now(),
                    format!("cannot reach the stick: {}", Scrub(&error)),
                );
                if !inner.away.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %Scrub(&error), "cannot reach the ZTE stick; trying again");
                } else {
                    tracing::debug!(attempt, error = %Scrub(&error), "the ZTE stick is still away");
                }
                inner.state_tx.send_replace(DeviceState::Connecting {
                    attempt,
                    last_error: Some(error.to_string()),
                });
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
        }
        let mut last_received: Option<u32> = None;
        let mut last_deletions = inner.deletions.load(Ordering::Relaxed);
        let mut checks = 0u64;
        loop {
            tokio::time::sleep(inner.settings().check_interval).await;
            if !inner.idle.check_now() {
                continue;
            }
            checks += 1;
            let capacity = match client
                .read(&api::get_query(&["sms_capacity_info"], &[]), api::capacity)
                .await
            {
                Ok(capacity) => capacity,
                Err(error) => {
                    lock(&inner.notes).fault(
                        SystemTime::now(),
                        format!("lost the stick: {}", Scrub(&error)),
                    );
                    if !inner.away.swap(true, Ordering::Relaxed) {
                        tracing::warn!(error = %Scrub(&error), "lost the ZTE stick; connecting again");
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
            let incomplete_waiting = !lock(&inner.incomplete).is_empty();
            let news = something_new(last_received, last_deletions, capacity.received, deletions)
                || (incomplete_waiting && checks.is_multiple_of(REPORT_EVERY));
            last_deletions = deletions;
            last_received = Some(capacity.received);
            if news && !tell(&inner, INBOX).await {
                return;
            }
            if checks.is_multiple_of(REPORT_EVERY)
                && inner.awaiting_reports()
                && !tell(&inner, REPORTS).await
            {
                return;
            }
            let full = full(capacity.used(), capacity.total);
            if !full {
                inner.storage_warned.store(false, Ordering::Relaxed);
            }
            *lock(&inner.storage) = Some((capacity.used(), capacity.total));
            if full {
                clear_room(&inner, &client, capacity).await;
            }
        }
    }
}

/// Whether `used` of `total` places is 80 % or more.
fn full(used: u32, total: u32) -> bool {
    total > 0 && used * 10 >= total * 8
}

/// Reads the storage and clears the oldest sent copies when it is full.
async fn keep_room(inner: &Inner, client: &Client) {
    match client
        .read(&api::get_query(&["sms_capacity_info"], &[]), api::capacity)
        .await
    {
        Ok(capacity) => {
            *lock(&inner.storage) = Some((capacity.used(), capacity.total));
            if full(capacity.used(), capacity.total) {
                clear_room(inner, client, capacity).await;
            }
        }
        Err(error) => {
            tracing::debug!(error = %Scrub(&error), "cannot read the stick's storage before a send");
        }
    }
}

/// Deletes the oldest sent copies of a full storage, keeping the newest
/// tenth (up to [`SENT_KEPT`]) for settling sends in doubt.
async fn clear_room(inner: &Inner, client: &Client, capacity: api::Capacity) {
    if !inner.storage_warned.swap(true, Ordering::Relaxed) {
        lock(&inner.notes).fault(
            SystemTime::now(),
            format!(
                "the stick's message storage was 80 % full ({} of {}); copies of sent messages deleted",
                capacity.used(),
                capacity.total
            ),
        );
        tracing::warn!(
            used = capacity.used(),
            total = capacity.total,
            sent = capacity.sent,
            "the stick's message storage is 80 % full; deleting the oldest copies of sent messages"
        );
    }
    let kept = SENT_KEPT.min(capacity.total / 10);
    if capacity.sent <= kept {
        return;
    }
    let count = capacity.sent - kept;
    match clear_sent(client, count).await {
        Ok(()) => {
            if let Some((used, _)) = lock(&inner.storage).as_mut() {
                *used = used.saturating_sub(count.min(api::PAGE_SIZE));
            }
        }
        Err(error) => {
            tracing::warn!(error = %Scrub(&error), "cannot delete copies of sent messages from the stick");
        }
    }
}

/// Tells the daemon to read `storage`; false when it is gone.
async fn tell(inner: &Inner, storage: &str) -> bool {
    inner
        .events
        .send(DeviceEvent::Stored {
            storage: storage.to_owned(),
        })
        .await
        .is_ok()
}

impl SentBoxStick for ZteStick {
    const KIND: &'static str = "a ZTE stick";

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

impl Device for ZteStick {
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
        if super::text::concatenation(pdu).is_some_and(|(_, total)| total > 1) {
            return Err(failure(
                FailureKind::Permanent,
                "a ZTE stick sends whole texts: one part of a long message cannot be sent alone",
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
            DeviceState::Ready(_) if self.inner.awaiting_reports() => {
                vec![INBOX.to_owned(), REPORTS.to_owned()]
            }
            DeviceState::Ready(_) => vec![INBOX.to_owned()],
            _ => Vec::new(),
        }
    }

    async fn read_storage(&self, storage: &str) -> Result<Vec<Listed>, DeviceError> {
        let client = self.ready()?;
        match storage {
            INBOX => self.read_inbox(&client).await,
            REPORTS => self.read_reports(&client).await,
            _ => Ok(Vec::new()),
        }
    }

    async fn storage_usage(&self) -> Result<Option<(u32, u32)>, DeviceError> {
        let client = self.ready()?;
        let capacity = client
            .read(&api::get_query(&["sms_capacity_info"], &[]), api::capacity)
            .await
            .map_err(|e| not_sent(&e))?;
        Ok(Some((capacity.used(), capacity.total)))
    }

    async fn delete(&self, location: &Location) -> Result<(), DeviceError> {
        if location.storage == REPORTS {
            // The stick keeps its reports; done with here.
            lock(&self.inner.reports).recorded(location.index);
            return Ok(());
        }
        if lock(&self.inner.deleted).contains(&location.index) {
            // A long message is one message on the stick but several
            // parts for the daemon, each deleted.
            return Ok(());
        }
        let client = self.ready()?;
        // `success` means taken; a delete the stick did not carry out
        // shows the message again, and it is recorded once.
        client
            .act(&api::delete_form(&[location.index]))
            .await
            .map_err(|e| not_sent(&e))?;
        let mut deleted = lock(&self.inner.deleted);
        if deleted.len() >= 256 {
            deleted.pop_front();
        }
        deleted.push_back(location.index);
        self.inner.deletions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn acknowledge(&self) -> Result<(), DeviceError> {
        Ok(())
    }

    async fn hang_up(&self) -> Result<(), DeviceError> {
        Ok(())
    }

    fn notes(&self) -> DeviceNotes {
        let mut notes = DeviceNotes {
            storage: *lock(&self.inner.storage),
            ..lock(&self.inner.notes).clone()
        };
        if let Some(at) = self.inner.client().relogged() {
            if notes.fault.as_ref().is_none_or(|(noted, _)| *noted < at) {
                notes.fault(at, "the stick's login session had expired; logged in again");
            }
        }
        notes
    }

    async fn radio(&self) -> Radio {
        let Ok(client) = self.ready() else {
            return Radio::default();
        };
        // One request, in place of one of the next checks.
        self.inner.idle.spent(1);
        let Ok(answer) = client
            .read_raw(&api::get_query(&api::STATUS_FIELDS, &[]))
            .await
        else {
            return Radio::default();
        };
        let status = api::status(&answer);
        let sim = status.sim();
        let previous = lock(&self.inner.sim_state).replace(sim);
        if previous != Some(sim)
            && matches!(
                sim,
                api::SimState::Missing | api::SimState::Pin | api::SimState::Puk
            )
        {
            tracing::warn!(state = %status.modem_state, "the ZTE stick's SIM is not ready (no SIM, or it waits for its PIN or PUK): enter it in the stick's web page");
        }
        Radio {
            signal_dbm: status.signal.dbm().or(status.signal.rsrp),
            signal_percent: status.signal.percent(),
            registered: status.registered,
            operator: status.operator,
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
            tracing::warn!("the reloaded configuration names no web stick; staying with the ZTE stick until a restart");
            return;
        };
        *lock(&self.inner.client) = Arc::new(client_for(web, config));
        *lock(&self.inner.settings) = settings_for(web, config);
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
        let (device, _events) = ZteStick::open(config);
        crate::device::first_connect_error(&device).await
    }

    /// Every login error of a `[[modems]]` stick said "check password
    /// under [modem]", in the log and in `status`: the detail and the
    /// last fault name the modem's own section; the first modem's text is
    /// as before.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_password_names_the_modem_s_own_section() {
        use crate::emulator::zte::{ZteConfig as StickConfig, ZteEmulator as Emulator};
        let stick = Emulator::start(StickConfig {
            password: Some("right".to_owned()),
            ..StickConfig::default()
        })
        .await
        .unwrap();
        let stick_keys = format!(
            "transport = \"zte\"\ndevice = \"{}\"\npassword = \"wrong\"\n",
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
        }
    }

    fn message(id: u32, number: &str, text: &str, date: &str) -> api::Message {
        api::Message {
            id,
            number: number.to_owned(),
            body: api::encode_body(text),
            tag: 1,
            date: date.to_owned(),
            complete: true,
        }
    }

    #[test]
    fn a_stored_message_becomes_the_same_delivers_each_time() {
        let long = message(
            40_007,
            "+4915112345678",
            &"ж".repeat(100),
            "24,03,01,10,11,12,+8",
        );
        let first = as_delivers(&long);
        assert_eq!(first, as_delivers(&long));
        assert_eq!(first.len(), 2);
        let mut text = String::new();
        for listed in &first {
            let Listed::Message { location, pdu } = listed else {
                panic!("unreadable: {listed:?}");
            };
            assert_eq!((location.storage.as_str(), location.index), (INBOX, 40_007));
            let (_, tpdu) = pdu::split_smsc(pdu).unwrap();
            let Incoming::Deliver(deliver) = Incoming::decode(tpdu).unwrap() else {
                panic!("not a deliver");
            };
            assert_eq!(deliver.originator.to_display(), "+4915112345678");
            let stamp = deliver.timestamp.valid().unwrap();
            // 10:11:12 at +8 h is 02:11:12 UTC.
            assert_eq!((stamp.year, stamp.hour, stamp.second), (2024, 2, 12));
            text.push_str(deliver.user_data.body.text().unwrap());
        }
        assert_eq!(text, "ж".repeat(100));
    }

    #[test]
    fn a_body_that_is_no_text_is_kept_raw() {
        let broken = api::Message {
            body: "00G8".to_owned(),
            ..message(3, "+49151", "", "")
        };
        let Listed::Unreadable { raw, location, .. } = &as_delivers(&broken)[0] else {
            panic!("read");
        };
        assert!(raw.contains("00G8"));
        assert_eq!(location.index, 3);
    }

    #[test]
    fn an_incomplete_message_waits_then_is_taken() {
        let first = Instant::now();
        assert!(!waited_long_enough(first, first + Duration::from_secs(5)));
        assert!(waited_long_enough(first, first + INCOMPLETE_WAIT));
    }

    #[test]
    fn reports_become_status_reports_for_the_matched_send() {
        let report = api::Message {
            body: "1".to_owned(),
            ..message(9, "+4915112345678", "", "24,03,01,10,11,12,+0")
        };
        let Some(Listed::Message { location, pdu }) = report_pdu(42, &report, true) else {
            panic!("no report");
        };
        assert_eq!((location.storage.as_str(), location.index), (REPORTS, 9));
        let (_, tpdu) = pdu::split_smsc(&pdu).unwrap();
        let Incoming::StatusReport(status) = Incoming::decode(tpdu).unwrap() else {
            panic!("not a report");
        };
        assert_eq!(status.message_reference, 42);
        assert_eq!(status.status.outcome(), pdu::DeliveryOutcome::Delivered);
    }
}
