//! Settling a web stick's send in doubt from its sent box: HiLink and ZTE
//! sticks answer a send request and then work on it, so when the answer or
//! the status was lost, the stick is asked until it is no longer sending,
//! and its sent box then says whether the message went out. Each stick
//! supplies its own two questions; the waiting, the retries and what the
//! answers mean are here, once.
//!
//! The same question settles a send left in doubt by simgate's own death:
//! before each send the sent box's newest entry is journaled (synced) under
//! the message's key ([`Journaled`]); the restarted simgate hands the
//! message back to the stick, which finds the key and asks the sent box for
//! the message newer than that entry instead of sending it again.

use super::{DeviceError, FailureKind};
use crate::modemmanager::journal::{self, Journal};
use crate::redact::Scrub;
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How long to wait before asking again after a question failed.
const ASK_AGAIN: Duration = Duration::from_secs(1);

/// Entries asked for in one page of a sent box.
pub(crate) const PAGE: u32 = 20;

/// Pages of a sent box looked through at most for one message: a stick
/// may send many more before a send in doubt is looked up (after a
/// restart, the retry delay passes first while the queue goes on).
pub(crate) const MOST_PAGES: u32 = 50;

/// What one page of a sent box, newest first, says of the message looked
/// for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageLook {
    /// It is there: it went out.
    Found,
    /// It is not in the sent box: this page reached the entries from
    /// before the send (`before`), or was the last.
    NotThere,
    /// Not on this page, which holds only entries newer than the send:
    /// the next page may have it.
    NextPage,
}

/// Looks through one page of a sent box, newest first: each entry's index
/// and whether it is the message (its number and text). Entries at or
/// below `before` (the newest index before the send) are older than it;
/// without `before` the sent box was empty before the send, and every
/// entry is newer.
pub(crate) fn look_in_page(
    entries: impl IntoIterator<Item = (u32, bool)>,
    before: Option<u32>,
) -> PageLook {
    let mut count = 0;
    let mut reached_older = false;
    for (index, is_it) in entries {
        count += 1;
        if before.is_some_and(|before| index <= before) {
            reached_older = true;
        } else if is_it {
            return PageLook::Found;
        }
    }
    if reached_older || count < PAGE {
        PageLook::NotThere
    } else {
        PageLook::NextPage
    }
}

/// Asks, until `send_timeout` has passed, whether the stick is `still_sending`
/// (asked again after `poll` while it is) and then whether its sent box
/// shows the message: `Ok` when it does (it went out), an ambiguous
/// failure naming `reason` when it does not or the stick could not be
/// asked in time.
pub(crate) async fn settle<E, Sending, Shown>(
    reason: &str,
    send_timeout: Duration,
    poll: Duration,
    mut still_sending: impl FnMut() -> Sending,
    mut in_sent_box: impl FnMut() -> Shown,
) -> Result<(), DeviceError>
where
    E: Display,
    Sending: Future<Output = Result<bool, E>>,
    Shown: Future<Output = Result<bool, E>>,
{
    tracing::warn!(reason = %Scrub(reason), "a send is in doubt; asking the stick's sent box");
    let deadline = Instant::now() + send_timeout;
    let mut last_error = reason.to_owned();
    while Instant::now() < deadline {
        match still_sending().await {
            Ok(true) => {
                tokio::time::sleep(poll).await;
                continue;
            }
            Ok(false) => {}
            Err(error) => {
                last_error = error.to_string();
                tokio::time::sleep(ASK_AGAIN).await;
                continue;
            }
        }
        match in_sent_box().await {
            Ok(true) => {
                tracing::info!("settled: the stick's sent box shows the message; it went out");
                return Ok(());
            }
            Ok(false) => {
                return Err(ambiguous(format!(
                    "{reason}; the stick's sent box does not show the message, so it may or may not have gone out"
                )))
            }
            Err(error) => {
                last_error = error.to_string();
                tokio::time::sleep(ASK_AGAIN).await;
            }
        }
    }
    Err(ambiguous(format!(
        "{reason}; the stick could not be asked whether it went out ({last_error})"
    )))
}

fn ambiguous(message: String) -> DeviceError {
    DeviceError {
        kind: FailureKind::Ambiguous,
        message,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_sent_box_is_paged_back_to_the_entries_before_the_send() {
        let page =
            |from: u32, hit: Option<u32>| (0..PAGE).map(move |n| (from - n, Some(from - n) == hit));
        // Found on this page.
        assert_eq!(look_in_page(page(100, Some(95)), Some(50)), PageLook::Found);
        // A full page of newer entries: the next page may have it.
        assert_eq!(look_in_page(page(100, None), Some(50)), PageLook::NextPage);
        // The page reaches the entries before the send: not there.
        assert_eq!(look_in_page(page(60, None), Some(50)), PageLook::NotThere);
        // A copy older than the send is not it.
        assert_eq!(
            look_in_page(page(60, Some(45)), Some(50)),
            PageLook::NotThere
        );
        // A short page is the last.
        let short = (0..5).map(|n| (200 - n, false));
        assert_eq!(look_in_page(short, Some(50)), PageLook::NotThere);
        // Without `before` (the sent box was empty) every entry is newer.
        assert_eq!(look_in_page(page(100, None), None), PageLook::NextPage);
        assert_eq!(look_in_page(page(100, Some(90)), None), PageLook::Found);
    }

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_sent_box_settles_once_the_stick_is_done() {
        let asked = std::cell::Cell::new(0);
        let settled = settle(
            "lost",
            Duration::from_secs(10),
            Duration::from_millis(250),
            || {
                asked.set(asked.get() + 1);
                // Sending twice, a failed question, then done.
                let answer = match asked.get() {
                    1 | 2 => Ok(true),
                    3 => Err("refused"),
                    _ => Ok(false),
                };
                std::future::ready(answer)
            },
            || std::future::ready(Ok::<_, &str>(true)),
        )
        .await;
        assert!(settled.is_ok());
        assert_eq!(asked.get(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn not_in_the_sent_box_or_never_answered_is_ambiguous() {
        let absent = settle(
            "lost",
            Duration::from_secs(10),
            Duration::from_millis(250),
            || std::future::ready(Ok::<_, &str>(false)),
            || std::future::ready(Ok::<_, &str>(false)),
        )
        .await
        .unwrap_err();
        assert_eq!(absent.kind, FailureKind::Ambiguous);
        assert!(
            absent.message.contains("does not show the message"),
            "{absent:?}"
        );
        let silent = settle(
            "lost",
            Duration::from_secs(3),
            Duration::from_millis(250),
            || std::future::ready(Err::<bool, _>("connection refused")),
            || std::future::ready(Ok::<_, &str>(true)),
        )
        .await
        .unwrap_err();
        assert_eq!(silent.kind, FailureKind::Ambiguous);
        assert!(silent.message.contains("connection refused"), "{silent:?}");
    }
}

/// A stick's journal of messages handed over: for each, the newest entry
/// of the sent box before it.
#[derive(Debug)]
pub(crate) struct Journaled {
    journal: Journal,
}

impl Journaled {
    /// The journal of the `kind` stick at `url`, next to `database` (one
    /// file per stick: `<database>.<kind>-<host>`); in memory only without
    /// a database.
    pub(crate) fn open(database: Option<&std::path::Path>, kind: &str, url: &str) -> Self {
        let host = journal::file_safe(url.trim_start_matches("http://").trim_end_matches('/'));
        let name = format!("{kind}-{host}");
        Self {
            journal: Journal::open(database.map(|d| journal::path_named(d, &name))),
        }
    }

    /// Whether it survives a restart (the stick then resends safely).
    pub(crate) fn durable(&self) -> bool {
        self.journal.durable()
    }

    /// The key of the message the daemon names `message` (its row and
    /// its database's identity) to `phone` with `text`.
    pub(crate) fn key(message: super::MessageName, phone: &str, text: &str) -> String {
        super::modemmanager::message_key(message, phone, text, None)
    }

    /// What was journaled for `key`: `Some(before)` when the message was
    /// handed over before (`before`: the sent box's newest entry then).
    pub(crate) fn handed_over(&self, key: &str) -> Option<Option<u32>> {
        self.journal.get(key).map(|entry| entry.parse().ok())
    }

    /// Notes (synced) that the message `key` is about to be handed over,
    /// with the sent box's newest entry `before`.
    pub(crate) fn hand_over(&self, key: &str, before: Option<u32>) -> Result<(), DeviceError> {
        let entry = before.map_or_else(|| "none".to_owned(), |b| b.to_string());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.journal
            .record(key, &entry, now)
            .map_err(|error| DeviceError {
                kind: FailureKind::Transient,
                message: format!("cannot journal the message before sending it: {error}"),
            })
    }

    /// After a send of `key` ended with `outcome`: a message that did not
    /// go out is forgotten (a retry sends it afresh); one sent, or in
    /// doubt, stays for the sent box to settle.
    pub(crate) fn ended<T>(&self, key: &str, outcome: &Result<T, DeviceError>) {
        if let Err(error) = outcome {
            if error.kind != FailureKind::Ambiguous {
                self.journal.forget(key);
            }
        }
    }
}

/// A web stick that sends whole texts, journals each send and settles
/// one in doubt from its sent box (HiLink, ZTE): what
/// [`send_planned`] needs of it.
pub(crate) trait SentBoxStick: Sync {
    /// What it is, in errors ("a HiLink stick").
    const KIND: &'static str;
    /// Its journal of messages handed over.
    fn journal(&self) -> &Journaled;
    /// The TP-MR the last send was given.
    fn current_reference(&self) -> u8;
    /// Settles from the sent box a message handed over before, when the
    /// sent box's newest entry was `before`.
    fn settle_handed_over(
        &self,
        phone: &str,
        text: &str,
        before: Option<u32>,
    ) -> impl Future<Output = Result<u8, DeviceError>> + Send;
    /// Sends `text` to `phone` once and follows it; with a `key`, the sent
    /// box's newest entry is journaled (synced) first.
    fn send_and_follow(
        &self,
        phone: &str,
        text: &str,
        key: Option<&str>,
    ) -> impl Future<Output = Result<u8, DeviceError>> + Send;
    /// A delivery report is expected for the send that got `reference`.
    fn expect_report(&self, reference: u8, phone: &str);
}

/// Part `index` of the parts the daemon planned, through `stick`: the
/// whole text goes with the first (journaled under the daemon's row
/// `message`, when there is one); the later parts are answered at once.
pub(crate) async fn send_planned<S: SentBoxStick>(
    stick: &S,
    message: Option<super::MessageName>,
    parts: &[crate::pdu::EncodedPdu],
    index: usize,
) -> Result<u8, DeviceError> {
    if index > 0 {
        // The whole text went with the first part.
        return Ok(stick.current_reference());
    }
    let (phone, text) = super::text::whole_text(parts, S::KIND)?;
    tracing::debug!(to = %crate::redact::Redact(&phone), parts = parts.len(), "sending through the stick");
    let key = message.map(|message| Journaled::key(message, &phone, &text));
    // Handed over before (simgate died, or the answer was lost): the sent
    // box says whether it went.
    let settle = |before| stick.settle_handed_over(&phone, &text, before);
    let send = || stick.send_and_follow(&phone, &text, key.as_deref());
    let sent = send_journaled(stick.journal(), key.as_deref(), settle, send).await?;
    if super::text::wants_report(parts) {
        stick.expect_report(sent, &phone);
    }
    Ok(sent)
}

/// Sends the message `key` names (`send`), journaled; or, when the
/// journal shows it handed over before, settles it from the sent box
/// (`settle`, given the entry the journal holds) instead.
pub(crate) async fn send_journaled<Settled, Sent>(
    journal: &Journaled,
    key: Option<&str>,
    settle: impl FnOnce(Option<u32>) -> Settled,
    send: impl FnOnce() -> Sent,
) -> Result<u8, DeviceError>
where
    Settled: Future<Output = Result<u8, DeviceError>>,
    Sent: Future<Output = Result<u8, DeviceError>>,
{
    match key.and_then(|key| journal.handed_over(key)) {
        Some(before) => settled_after_handover(settle(before).await),
        None => {
            let sent = send().await;
            if let Some(key) = key {
                journal.ended(key, &sent);
            }
            sent
        }
    }
}

/// The outcome of settling a message handed over before: sent, or given
/// up as permanent (not sent again: the stick may have sent it without
/// keeping a copy). Ambiguous would bring it straight back, since the
/// stick resends safely through its journal.
fn settled_after_handover(outcome: Result<u8, DeviceError>) -> Result<u8, DeviceError> {
    match outcome {
        Ok(sent) => {
            tracing::info!(
                "a message handed to the stick before was found in its sent box: it went out"
            );
            Ok(sent)
        }
        Err(error) if error.kind == FailureKind::Ambiguous => Err(DeviceError {
            kind: FailureKind::Permanent,
            message: format!(
                "{}: the stick's sent box does not show it; not sent again",
                error.message
            ),
        }),
        Err(error) => Err(error),
    }
}

/// Why a journaled message is settled rather than sent.
pub(crate) const HANDED_OVER: &str =
    "handed to the stick before simgate stopped or lost the answer";
