//! The daemon's webhook poster: events in the queue in the database are
//! posted, oldest first, with retries and backoff until the URL answers
//! 2xx or the retry time runs out. The loop never waits for any of it.
//!
//! An event is queued by the keeper's job that commits the outcome it
//! reports, in the same transaction ([`crate::store::Store::queue_webhook`]):
//! a crash loses both or neither. The loop wakes the poster after such a
//! job ([`Webhooks::committed`]); a restart finds what was queued and not yet
//! posted. Delivery is at least once: a post whose answer was lost is
//! posted again, and receivers drop repeats by the event id.

use super::clock::Clock;
use crate::config::WebhookSettings;
use crate::store::{Delivery, WebhookQueue, WebhookSink};
use crate::webhook::{self, client::Client, HttpUrl};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// What the daemon holds: the poster and the way to wake it.
pub(super) struct Webhooks {
    settings: WebhookSettings,
    wake: Arc<Notify>,
    poster: JoinHandle<()>,
}

/// At most this many deliveries are read per round.
const BATCH: u32 = 32;

/// The longest sleep when nothing is due (a safety net; a new event
/// wakes the poster at once).
const IDLE: Duration = Duration::from_secs(3600);

async fn blocking<R: Send + 'static>(job: impl FnOnce() -> R + Send + 'static) -> R {
    match tokio::task::spawn_blocking(job).await {
        Ok(answer) => answer,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// What the store queues: the configured URLs and events, or `None`.
pub(super) fn sink(settings: &WebhookSettings) -> Option<WebhookSink> {
    (!settings.urls.is_empty()).then(|| WebhookSink {
        urls: settings.urls.clone(),
        events: settings.events.clone(),
    })
}

impl Webhooks {
    /// Starts the poster on the queue in `database` (the store opened and
    /// migrated it), or `None` when no URL is configured. What is due, and
    /// each attempt's timestamp, are read from `clock`: the daemon's, which
    /// dates the events it queues.
    pub(super) async fn start(
        settings: &WebhookSettings,
        database: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<Self>, crate::store::StoreError> {
        if settings.urls.is_empty() {
            return Ok(None);
        }
        let path = database.to_owned();
        let queue = blocking(move || WebhookQueue::open(&path)).await?;
        let queue = Arc::new(Mutex::new(queue));
        let wake = Arc::new(Notify::new());
        let poster = tokio::spawn(post_events(
            settings.clone(),
            queue,
            Arc::clone(&wake),
            clock,
        ));
        tracing::info!(urls = settings.urls.len(), events = %settings.events.join(","), "webhooks on");
        Ok(Some(Self {
            settings: settings.clone(),
            wake,
            poster,
        }))
    }

    /// An outcome of `kind` was committed, with its event if that kind
    /// is posted: post it now.
    pub(super) fn committed(&self, kind: &str) {
        if self.settings.wants(kind) {
            self.wake.notify_one();
        }
    }

    /// Stops: a post under way is abandoned (it is posted again at the
    /// next start; everything queued is in the database already).
    pub(super) async fn stop(self) {
        self.poster.abort();
        let _ = self.poster.await;
    }
}

async fn post_events(
    settings: WebhookSettings,
    queue: Arc<Mutex<WebhookQueue>>,
    wake: Arc<Notify>,
    clock: Arc<dyn Clock>,
) {
    let client = Client::new();
    let secret = settings.secret.clone().unwrap_or_default().into_bytes();
    loop {
        let now = clock.now_ms();
        let reader = Arc::clone(&queue);
        let due = blocking(move || {
            let queue = reader.lock().unwrap_or_else(PoisonError::into_inner);
            queue
                .due(now, BATCH)
                .and_then(|due| Ok((due, queue.next_due()?)))
        })
        .await;
        let (due, next) = match due {
            Ok(found) => found,
            Err(error) => {
                tracing::error!(%error, "cannot read the webhook queue; trying again in a minute");
                tokio::time::sleep(Duration::from_secs(60)).await;
                continue;
            }
        };
        if due.is_empty() {
            let wait = next.map_or(IDLE, |at| {
                Duration::from_millis(at.saturating_sub(clock.now_ms()).max(0) as u64).min(IDLE)
            });
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        for delivery in due {
            let timestamp = clock.now_ms().div_euclid(1000);
            let outcome = attempt(&client, &settings, &secret, &delivery, timestamp).await;
            let queue = Arc::clone(&queue);
            let settings = settings.clone();
            let now = clock.now_ms();
            let result = blocking(move || {
                let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
                settle(&mut queue, &settings, &delivery, outcome, now)
            })
            .await;
            if let Err(error) = result {
                tracing::error!(%error, "cannot record a webhook attempt");
            }
        }
    }
}

/// One POST, signed at `timestamp` (Unix seconds); `Ok` when the URL
/// answered 2xx, else why not.
async fn attempt(
    client: &Client,
    settings: &WebhookSettings,
    secret: &[u8],
    delivery: &Delivery,
    timestamp: i64,
) -> Result<(), String> {
    let url: HttpUrl = webhook::parse_url(&delivery.url).map_err(|e| e.to_string())?;
    let headers = [
        ("x-simgate-event", delivery.kind.clone()),
        ("x-simgate-id", delivery.event_id.to_string()),
        ("x-simgate-timestamp", timestamp.to_string()),
        (
            "x-simgate-signature",
            webhook::signature(secret, timestamp, delivery.body.as_bytes()),
        ),
    ];
    match client
        .post(&url, &headers, delivery.body.clone(), settings.timeout)
        .await
    {
        Ok(status) if (200..300).contains(&status) => Ok(()),
        Ok(status) => Err(format!("answered {status}")),
        Err(error) => Err(error.to_string()),
    }
}

/// Records an attempt's outcome, known at `now` (Unix milliseconds): done,
/// again later, or given up.
fn settle(
    queue: &mut WebhookQueue,
    settings: &WebhookSettings,
    delivery: &Delivery,
    outcome: Result<(), String>,
    now: i64,
) -> Result<(), crate::store::StoreError> {
    let Err(error) = outcome else {
        tracing::info!(id = delivery.event_id, kind = %delivery.kind, url = %delivery.url, "webhook posted");
        return queue.finish(delivery.event_id, &delivery.url);
    };
    let attempts = delivery.attempts + 1;
    match webhook::next_attempt(
        delivery.created_ms,
        now,
        attempts,
        settings.retry_delay,
        settings.retry_delay_max,
        settings.max_retry_time,
    ) {
        Some(next) => {
            tracing::warn!(id = delivery.event_id, url = %delivery.url, attempts, %error,
                retry_in_ms = next - now, "webhook not taken; trying again");
            queue.retry(delivery.event_id, &delivery.url, next, &error)
        }
        None => {
            tracing::error!(id = delivery.event_id, url = %delivery.url, attempts, %error,
                "webhook not taken within max_retry_time; given up");
            queue.finish(delivery.event_id, &delivery.url)
        }
    }
}

/// The data of a `sent` event: what RunOnSent gets.
pub(super) fn sent_data(
    file: &str,
    recipient: &str,
    parts: &[super::hook_env::SentPart],
) -> serde_json::Value {
    let text: Option<String> = parts.iter().map(|p| p.text.clone()).collect();
    serde_json::json!({
        "file": file,
        "number": recipient,
        "text": text,
        "parts": parts.iter().map(|p| serde_json::json!({
            "reference": p.reference,
            "class": p.class,
            "text": p.text,
        })).collect::<Vec<_>>(),
    })
}

/// The event of a message finished by finding its file already moved on
/// (its last commit, and the event in it, never came): `sent` with the
/// references the store has (the texts are not planned again), or
/// `failed` with the reason. The data is made only when a webhook wants
/// the event ([`crate::store::Store::queue_webhook`]).
pub(super) fn settled_event(
    row: &crate::store::Outgoing,
    state: crate::store::MessageState,
) -> (&'static str, impl FnOnce(&crate::store::Store) -> Data + '_) {
    let sent = state == crate::store::MessageState::Sent;
    let kind = if sent { webhook::SENT } else { webhook::FAILED };
    (kind, move |store: &crate::store::Store| {
        if !sent {
            let reason = store
                .get(row.id)?
                .and_then(|row| row.last_error)
                .unwrap_or_default();
            return Ok(failed_data(&row.file_name, &reason));
        }
        let parts: Vec<super::hook_env::SentPart> = store
            .parts(row.id)?
            .iter()
            .filter_map(|part| part.message_ref)
            .map(|reference| super::hook_env::SentPart {
                reference,
                text: None,
                class: -1,
            })
            .collect();
        Ok(sent_data(&row.file_name, &row.recipient, &parts))
    })
}

/// An event's data as the store makes it, when asked.
type Data = Result<serde_json::Value, crate::store::StoreError>;

/// The data of a `budget_warning` event.
pub(super) fn budget_warning_data(warning: &super::state::BudgetWarning) -> serde_json::Value {
    serde_json::json!({
        "month": warning.month,
        "used": warning.used,
        "budget": warning.budget,
        "threshold": warning.threshold,
    })
}

/// The data of a `failed` event: what RunOnFailure gets, and why.
pub(super) fn failed_data(file: &str, reason: &str) -> serde_json::Value {
    serde_json::json!({ "file": file, "reason": reason })
}

/// Queues the `failed` event of the message in `file`, given up for
/// `reason` (its data made only when a webhook wants it).
pub(super) fn queue_failed(
    store: &mut crate::store::Store,
    file: &str,
    reason: &str,
    now_ms: i64,
) -> Result<bool, crate::store::StoreError> {
    store.queue_webhook(webhook::FAILED, |_| Ok(failed_data(file, reason)), now_ms)
}

/// A status report's event is `delivered`, any other message's
/// `received`.
pub(super) fn received_kind(message: &super::receive::Received) -> &'static str {
    match message.parts.first().map(|p| &p.message) {
        Some(crate::pdu::Incoming::StatusReport(_)) => webhook::DELIVERED,
        _ => webhook::RECEIVED,
    }
}

/// The kind and data of a received message (`received`) or status report
/// (`delivered`, with the sent message it reports on when it was matched
/// to one): what RunOnReceive gets. The data is made only when a webhook
/// wants the event ([`crate::store::Store::queue_webhook`]).
pub(super) fn received_event(
    message: &super::receive::Received,
) -> (&'static str, impl FnOnce(&crate::store::Store) -> Data + '_) {
    (
        received_kind(message),
        move |store: &crate::store::Store| received_data(store, message),
    )
}

fn received_data(store: &crate::store::Store, message: &super::receive::Received) -> Data {
    use crate::pdu::Incoming;
    if let Some(Incoming::StatusReport(report)) = message.parts.first().map(|p| &p.message) {
        let outcome = format!("{:?}", report.status.outcome()).to_ascii_lowercase();
        let number = report.recipient.to_display();
        let discharge_time = report.discharge_time.to_string();
        let subject = store
            .report_subject(report.message_reference, &number, &discharge_time)?
            .map(|(id, part, file)| serde_json::json!({"id": id, "part": part, "file": file}));
        return Ok(serde_json::json!({
            "number": number,
            "reference": report.message_reference,
            "status": report.status.0,
            "outcome": outcome,
            "discharge_time": discharge_time,
            "files": message.files,
            "message": subject,
        }));
    }
    let texts: Vec<Option<&str>> = message
        .parts
        .iter()
        .map(|part| match &part.message {
            Incoming::Deliver(deliver) => deliver.user_data.body.text(),
            Incoming::StatusReport(_) => None,
        })
        .collect();
    let text: Option<String> = texts.iter().copied().collect();
    Ok(serde_json::json!({
        "id": message.id,
        "number": message.sender,
        "text": text,
        "files": message.files,
        "parts": message.parts.len(),
        "complete": message.complete,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::hook_env::SentPart;

    #[test]
    fn sent_data_carries_file_number_text_and_parts() {
        let parts = [
            SentPart {
                reference: 17,
                text: Some("Hello, ".to_owned()),
                class: -1,
            },
            SentPart {
                reference: 18,
                text: Some("world".to_owned()),
                class: -1,
            },
        ];
        let data = sent_data("OUTC_x.txt", "+4917", &parts);
        assert_eq!(data["file"], "OUTC_x.txt");
        assert_eq!(data["number"], "+4917");
        assert_eq!(data["text"], "Hello, world");
        assert_eq!(data["parts"][1]["reference"], 18);
        let binary = [SentPart {
            reference: 1,
            text: None,
            class: 1,
        }];
        assert!(sent_data("f", "n", &binary)["text"].is_null());
        assert_eq!(failed_data("f", "why")["reason"], "why");
    }
}
