//! The calendar set forward or back (NTP's first answer on a machine
//! without a clock, NTP correcting a clock that ran ahead, a person):
//! every time the store keeps for a decision still to come moves with it,
//! so a wait keeps its length in real time. Without this, a calendar set
//! back a day held a retry a day longer, and a rate limit counted the
//! messages sent "in the future" until the calendar caught up with them;
//! set forward a day, a message with a `max_age` of an hour failed at
//! once, and a long message was written before its other parts came.
//!
//! What moves: the next attempt of every queued message and of every
//! webhook delivery still due later; the time each message not yet
//! finished was taken in (its `max_age` counts from it); the time each
//! part of an incomplete long message arrived (the multipart timeout
//! counts from it); the rate limits' record of what was sent in the last
//! day; the HTTP API's per-client record of the last hour; and, set back,
//! the "last changed" time of messages changed "in the future". Dates
//! that are history (finished messages, their parts' sending, what was
//! received and written) stay as they were recorded.

use super::{Store, StoreError};
use rusqlite::params;

/// The longest window a rate limit counts over (a day).
const LONGEST_LIMIT_WINDOW_MS: i64 = 86_400_000;

/// The HTTP API's per-client window (an hour).
const CLIENT_WINDOW_MS: i64 = 3_600_000;

/// What [`Store::calendar_stepped`] moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Moved {
    /// Queued messages whose next attempt was still to come.
    pub(crate) waiting: usize,
    /// Messages not finished (their age).
    pub(crate) unfinished: usize,
    /// Parts of incomplete long messages (their arrival).
    pub(crate) incomplete: usize,
    /// Sends the rate limits count.
    pub(crate) counted: usize,
    /// Webhook deliveries still to come.
    pub(crate) webhooks: usize,
}

impl Store {
    /// The latest time the store recorded something as done (a message
    /// changed, a send counted): later than now only if the calendar was
    /// set back since.
    pub(crate) fn latest_recorded_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.connection.query_row(
            "SELECT MAX(latest) FROM (
                 SELECT MAX(updated_ms) AS latest FROM outgoing
                 UNION ALL SELECT MAX(at_ms) FROM send_usage)",
            [],
            |row| row.get(0),
        )?)
    }

    /// The calendar was set by `step_ms` (forward positive, back
    /// negative) and now says `now_ms`: moves every pending time by as
    /// much (what was still to come, to no earlier than now), in one
    /// transaction.
    pub(crate) fn calendar_stepped(
        &mut self,
        step_ms: i64,
        now_ms: i64,
    ) -> Result<Moved, StoreError> {
        // What the calendar said before the step.
        let before_ms = now_ms - step_ms;
        let to_come_after_ms = now_ms.min(before_ms);
        let transaction = self.atomic()?;
        let waiting = transaction.execute(
            "UPDATE outgoing SET next_attempt_ms = MAX(?2, next_attempt_ms + ?1)
             WHERE state = 'queued' AND next_attempt_ms > ?3",
            params![step_ms, now_ms, to_come_after_ms],
        )?;
        transaction.execute(
            "UPDATE outgoing SET updated_ms = MAX(0, updated_ms + ?1)
             WHERE ?1 < 0 AND updated_ms > ?2",
            params![step_ms, now_ms],
        )?;
        let unfinished = transaction.execute(
            "UPDATE outgoing SET created_ms = created_ms + ?1
             WHERE state IN ('queued', 'sending', 'resolving')",
            params![step_ms],
        )?;
        let incomplete = transaction.execute(
            "UPDATE incoming_part SET received_ms = received_ms + ?1 WHERE message_id IS NULL",
            params![step_ms],
        )?;
        let counted = transaction.execute(
            "UPDATE send_usage SET at_ms = at_ms + ?1 WHERE at_ms > ?2",
            params![step_ms, before_ms - LONGEST_LIMIT_WINDOW_MS],
        )?;
        transaction.execute(
            "UPDATE http_request SET created_ms = created_ms + ?1 WHERE created_ms > ?2",
            params![step_ms, before_ms - CLIENT_WINDOW_MS],
        )?;
        let webhooks = transaction.execute(
            "UPDATE webhook_delivery SET next_ms = MAX(?2, next_ms + ?1) WHERE next_ms > ?3",
            params![step_ms, now_ms, to_come_after_ms],
        )?;
        transaction.commit()?;
        Ok(Moved {
            waiting,
            unfinished,
            incomplete,
            counted,
            webhooks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FileId;

    const NOW: i64 = 10_000_000_000;
    const DAY: i64 = 86_400_000;

    fn one(store: &Store, sql: &str) -> i64 {
        store
            .connection
            .query_row(sql, [], |row| row.get(0))
            .unwrap()
    }

    /// A day back: what was due later keeps its wait, what counts for the
    /// limits keeps its age; what was already due, or is older than any
    /// window, is left alone.
    #[test]
    fn every_pending_time_moves_back_by_as_much_and_no_earlier_than_now() {
        let mut store = Store::in_memory().unwrap();
        let before = NOW + DAY;
        let file = FileId::default();
        // Due in a minute (in the old calendar), and due an hour ago.
        let later = store
            .enqueue("OUT+1.txt", &file, "+1", 1, before)
            .unwrap()
            .id;
        let due = store
            .enqueue("OUT+2.txt", &file, "+2", 1, before)
            .unwrap()
            .id;
        store
            .connection
            .execute_batch(&format!(
                "UPDATE outgoing SET next_attempt_ms = {} WHERE id = {later};
                 UPDATE outgoing SET next_attempt_ms = {} WHERE id = {due};
                 INSERT INTO send_usage (message_id, destination, parts, at_ms)
                     VALUES (90, '+1', 1, {}), (91, '+1', 1, {});
                 INSERT INTO http_request (client, number, text_hash, file_name, created_ms)
                     VALUES ('::1', '+1', 'h', 'f', {});
                 INSERT INTO incoming_part (content_key, pdu, sender, concat_ref, concat_total,
                                            concat_seq, received_ms)
                     VALUES ('k', x'00', '+2', 7, 2, 1, {});
                 INSERT INTO webhook_event (id, kind, body, created_ms) VALUES (1, 'sent', '{{}}', 0);
                 INSERT INTO webhook_delivery (event_id, url, next_ms)
                     VALUES (1, 'http://a', {}), (1, 'http://b', {});",
                before + 60_000,
                NOW - 3_600_000,
                before - 600_000,
                before - 2 * DAY,
                before - 60_000,
                before - 60_000,
                before + 30_000,
                NOW + 1_000,
            ))
            .unwrap();
        assert_eq!(store.latest_recorded_ms().unwrap(), Some(before));
        let moved = store.calendar_stepped(-DAY, NOW).unwrap();
        assert_eq!(
            moved,
            Moved {
                waiting: 1,
                unfinished: 2,
                incomplete: 1,
                counted: 1,
                webhooks: 2
            }
        );
        let next = |id| {
            one(
                &store,
                &format!("SELECT next_attempt_ms FROM outgoing WHERE id = {id}"),
            )
        };
        assert_eq!(next(later), NOW + 60_000);
        assert_eq!(next(due), NOW - 3_600_000);
        assert_eq!(
            one(&store, "SELECT at_ms FROM send_usage WHERE message_id = 90"),
            NOW - 600_000
        );
        assert_eq!(
            one(&store, "SELECT at_ms FROM send_usage WHERE message_id = 91"),
            before - 2 * DAY
        );
        assert_eq!(
            one(&store, "SELECT created_ms FROM http_request"),
            NOW - 60_000
        );
        assert_eq!(
            one(
                &store,
                "SELECT next_ms FROM webhook_delivery WHERE url = 'http://a'"
            ),
            NOW + 30_000
        );
        // Due a second from now in the old calendar: due now, not earlier.
        assert_eq!(
            one(
                &store,
                "SELECT next_ms FROM webhook_delivery WHERE url = 'http://b'"
            ),
            NOW
        );
        // Nothing is later than now any more: a second look moves nothing.
        assert_eq!(store.latest_recorded_ms().unwrap(), Some(NOW));
        assert_eq!(
            crate::daemon::clock::set_back_since(store.latest_recorded_ms().unwrap(), NOW),
            None
        );
    }

    /// A day forward: what was still to come keeps its wait, what counts
    /// keeps its age, what was due stays due.
    #[test]
    fn a_calendar_set_forward_moves_what_is_to_come_forward_too() {
        let mut store = Store::in_memory().unwrap();
        let before = NOW - DAY;
        let file = FileId::default();
        let later = store
            .enqueue("OUT+1.txt", &file, "+1", 1, before)
            .unwrap()
            .id;
        let due = store
            .enqueue("OUT+2.txt", &file, "+2", 1, before)
            .unwrap()
            .id;
        store
            .connection
            .execute_batch(&format!(
                "UPDATE outgoing SET next_attempt_ms = {} WHERE id = {later};
                 UPDATE outgoing SET next_attempt_ms = {} WHERE id = {due};
                 INSERT INTO send_usage (message_id, destination, parts, at_ms)
                     VALUES (90, '+1', 1, {});",
                before + 60_000,
                before - 1_000,
                before - 600_000,
            ))
            .unwrap();
        let moved = store.calendar_stepped(DAY, NOW).unwrap();
        assert_eq!((moved.waiting, moved.unfinished, moved.counted), (1, 2, 1));
        let next = |id| {
            one(
                &store,
                &format!("SELECT next_attempt_ms FROM outgoing WHERE id = {id}"),
            )
        };
        assert_eq!(next(later), NOW + 60_000);
        assert_eq!(next(due), before - 1_000, "due before, due now");
        assert_eq!(one(&store, "SELECT at_ms FROM send_usage"), NOW - 600_000);
        // Their age kept: taken in "now", not a day ago.
        assert_eq!(one(&store, "SELECT MIN(created_ms) FROM outgoing"), NOW);
        assert_eq!(one(&store, "SELECT MAX(updated_ms) FROM outgoing"), before);
    }
}
