//! The webhook queue in SQLite: events waiting to be posted, one row per
//! event and URL, on a connection of their own (the task that posts them
//! runs beside the daemon's loop and must not wait for its store, nor
//! the store for it; SQLite's WAL lets both write in turn).

use super::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// A delivery that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// The event's id (the one receivers see).
    pub event_id: i64,
    /// Its kind.
    pub kind: String,
    /// The body to post.
    pub body: String,
    /// When the event happened (ms since the epoch).
    pub created_ms: i64,
    /// The URL.
    pub url: String,
    /// Attempts so far.
    pub attempts: u32,
}

/// The queue's own connection to the daemon's database.
#[derive(Debug)]
pub(crate) struct WebhookQueue {
    connection: Connection,
}

impl WebhookQueue {
    /// Opens the queue in the database at `path` (created and migrated by
    /// [`super::Store::open`] first).
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Self { connection })
    }

    /// Queues an event for each of `urls`, its body made by `body` from
    /// the event's id; returns the id. One transaction: every URL or none.
    pub(crate) fn enqueue(
        &mut self,
        kind: &str,
        urls: &[String],
        now_ms: i64,
        body: impl FnOnce(i64) -> String,
    ) -> Result<i64, StoreError> {
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "INSERT INTO webhook_event (kind, body, created_ms) VALUES (?1, '', ?2)",
            params![kind, now_ms],
        )?;
        let id = transaction.last_insert_rowid();
        transaction.execute(
            "UPDATE webhook_event SET body = ?1 WHERE id = ?2",
            params![body(id), id],
        )?;
        for url in urls {
            transaction.execute(
                "INSERT OR IGNORE INTO webhook_delivery (event_id, url, next_ms) VALUES (?1, ?2, ?3)",
                params![id, url, now_ms],
            )?;
        }
        transaction.commit()?;
        Ok(id)
    }

    /// Up to `limit` deliveries due at `now_ms`, oldest event first.
    pub(crate) fn due(&self, now_ms: i64, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT e.id, e.kind, e.body, e.created_ms, d.url, d.attempts
             FROM webhook_delivery d JOIN webhook_event e ON e.id = d.event_id
             WHERE d.next_ms <= ?1 ORDER BY d.next_ms, e.id LIMIT ?2",
        )?;
        let rows = statement.query_map(params![now_ms, limit], |row| {
            Ok(Delivery {
                event_id: row.get(0)?,
                kind: row.get(1)?,
                body: row.get(2)?,
                created_ms: row.get(3)?,
                url: row.get(4)?,
                attempts: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When the next delivery is due, if any is queued.
    pub(crate) fn next_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .connection
            .query_row("SELECT MIN(next_ms) FROM webhook_delivery", [], |row| {
                row.get::<_, Option<i64>>(0)
            })
            .optional()?
            .flatten())
    }

    /// The URL took it (or it is given up): the row goes, and the event
    /// once no URL waits for it.
    pub(crate) fn finish(&mut self, event_id: i64, url: &str) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "DELETE FROM webhook_delivery WHERE event_id = ?1 AND url = ?2",
            params![event_id, url],
        )?;
        transaction.execute(
            "DELETE FROM webhook_event WHERE id = ?1
             AND NOT EXISTS (SELECT 1 FROM webhook_delivery WHERE event_id = ?1)",
            params![event_id],
        )?;
        transaction.commit()?;
        Ok(())
    }

    /// A failed attempt: try again at `next_ms`.
    pub(crate) fn retry(
        &mut self,
        event_id: i64,
        url: &str,
        next_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE webhook_delivery SET attempts = attempts + 1, next_ms = ?3, last_error = ?4
             WHERE event_id = ?1 AND url = ?2",
            params![event_id, url, next_ms, error],
        )?;
        Ok(())
    }

    /// Deliveries still queued.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> Result<u64, StoreError> {
        Ok(self
            .connection
            .query_row("SELECT COUNT(*) FROM webhook_delivery", [], |row| {
                row.get(0)
            })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_wait_per_url_until_finished() {
        let dir =
            std::env::temp_dir().join(format!("simgate-webhook-queue-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        drop(super::super::Store::open(&path).unwrap());
        let mut queue = WebhookQueue::open(&path).unwrap();
        let urls = ["http://a/".to_owned(), "http://b/".to_owned()];
        let id = queue
            .enqueue("sent", &urls, 1_000, |id| format!("{{\"id\":{id}}}"))
            .unwrap();
        assert_eq!(queue.due(999, 10).unwrap(), []);
        let due = queue.due(1_000, 10).unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].body, format!("{{\"id\":{id}}}"));
        queue.retry(id, "http://a/", 5_000, "500").unwrap();
        queue.finish(id, "http://b/").unwrap();
        assert_eq!(queue.due(4_999, 10).unwrap(), []);
        assert_eq!(queue.next_due().unwrap(), Some(5_000));
        // A restart: a new connection finds what waits.
        drop(queue);
        let mut queue = WebhookQueue::open(&path).unwrap();
        let due = queue.due(5_000, 10).unwrap();
        assert_eq!((due[0].url.as_str(), due[0].attempts), ("http://a/", 1));
        queue.finish(id, "http://a/").unwrap();
        assert_eq!(queue.pending().unwrap(), 0);
        assert_eq!(queue.next_due().unwrap(), None);
        let events: i64 = queue
            .connection
            .query_row("SELECT COUNT(*) FROM webhook_event", [], |row| row.get(0))
            .unwrap();
        assert_eq!(events, 0);
        // Ids are never used again, even once the queue is empty:
        // receivers tell events apart by them.
        let next = queue
            .enqueue("sent", &urls, 6_000, |_| String::new())
            .unwrap();
        assert!(next > id, "{next} after {id}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
