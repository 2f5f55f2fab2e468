//! The webhook queue in SQLite: events waiting to be posted, one row per
//! event and URL.
//!
//! An event is queued by the [`Store`] in the transaction that commits
//! the outcome it reports ([`Store::queue_webhook`]), so no crash can
//! separate the two. It is posted from [`WebhookQueue`], a connection of
//! its own (the task that posts runs beside the daemon's loop and must not
//! wait for its store, nor the store for it; SQLite's WAL lets both write
//! in turn).

use super::{Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// Which events are queued, and for which URLs (`[webhooks]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WebhookSink {
    /// Where every event is posted.
    pub(crate) urls: Vec<String>,
    /// The kinds queued (`sent`, `failed`, ...).
    pub(crate) events: Vec<String>,
}

impl WebhookSink {
    fn wants(&self, kind: &str) -> bool {
        !self.urls.is_empty() && self.events.iter().any(|e| e == kind)
    }
}

impl Store {
    /// Where [`Self::queue_webhook`] queues events; `None` queues nothing.
    pub(crate) fn set_webhooks(&mut self, sink: Option<WebhookSink>) {
        self.webhooks = sink.filter(|sink| !sink.urls.is_empty());
    }

    /// Queues an event of `kind` for every URL, if that kind is wanted,
    /// its body made by [`crate::webhook::body`] around what `data` makes
    /// (only then: a daemon without webhooks builds no JSON and asks the
    /// store nothing for it). Inside a [`Store::batch`] it is part of the
    /// batch: committed with the outcome it reports, or not at all.
    /// Whether it was queued.
    pub(crate) fn queue_webhook(
        &mut self,
        kind: &str,
        data: impl FnOnce(&Store) -> Result<serde_json::Value, StoreError>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let Some(sink) = self.webhooks.as_ref().filter(|sink| sink.wants(kind)) else {
            return Ok(false);
        };
        let urls = sink.urls.clone();
        let data = data(self)?;
        let atomic = self.atomic()?;
        atomic.execute(
            "INSERT INTO webhook_event (kind, body, created_ms) VALUES (?1, '', ?2)",
            params![kind, now_ms],
        )?;
        let id = atomic.last_insert_rowid();
        let body = crate::webhook::body(id, kind, now_ms.div_euclid(1000), &data);
        atomic.execute(
            "UPDATE webhook_event SET body = ?1 WHERE id = ?2",
            params![body, id],
        )?;
        for url in &urls {
            atomic.execute(
                "INSERT OR IGNORE INTO webhook_delivery (event_id, url, next_ms) VALUES (?1, ?2, ?3)",
                params![id, url, now_ms],
            )?;
        }
        atomic.commit()?;
        Ok(true)
    }
}

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

    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "simgate-webhook-queue-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn sink(urls: &[&str], events: &[&str]) -> Option<WebhookSink> {
        Some(WebhookSink {
            urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
        })
    }

    fn data(_: &Store) -> Result<serde_json::Value, StoreError> {
        Ok(serde_json::json!({ "file": "OUT+49.txt" }))
    }

    #[test]
    fn events_wait_per_url_until_finished() {
        let dir = scratch("wait");
        let path = dir.join("state.db");
        let mut store = Store::open(&path).unwrap();
        store.set_webhooks(sink(&["http://a/", "http://b/"], &["sent"]));
        assert!(store.queue_webhook("sent", data, 1_000).unwrap());
        let mut queue = WebhookQueue::open(&path).unwrap();
        assert_eq!(queue.due(999, 10).unwrap(), []);
        let due = queue.due(1_000, 10).unwrap();
        assert_eq!(due.len(), 2);
        let id = due[0].event_id;
        let body: serde_json::Value = serde_json::from_str(&due[0].body).unwrap();
        assert_eq!(
            (body["id"].as_i64(), &body["event"]),
            (Some(id), &"sent".into())
        );
        assert_eq!(body["data"], data(&store).unwrap());
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
        store.queue_webhook("sent", data, 6_000).unwrap();
        let next = queue.due(6_000, 10).unwrap()[0].event_id;
        assert!(next > id, "{next} after {id}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An event no webhook wants costs nothing: its data is never made
    /// (the daemon's send and receive paths queue one for every message,
    /// webhooks configured or not).
    #[test]
    fn data_is_made_only_for_a_wanted_event() {
        let dir = scratch("lazy");
        let mut store = Store::open(&dir.join("state.db")).unwrap();
        let unwanted = |_: &Store| -> Result<serde_json::Value, StoreError> {
            panic!("the data of an event no webhook wants was made")
        };
        assert!(!store.queue_webhook("sent", unwanted, 1).unwrap());
        store.set_webhooks(sink(&["http://a/"], &["failed"]));
        assert!(!store.queue_webhook("sent", unwanted, 1).unwrap());
        let mut made = 0;
        let counted = |store: &Store| {
            made += 1;
            data(store)
        };
        assert!(store.queue_webhook("failed", counted, 1).unwrap());
        assert_eq!(made, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The event is part of the batch that reports it: until that batch
    /// commits, no other connection sees it (a crash before the commit
    /// loses the outcome and its event together); kinds not configured
    /// are not queued.
    #[test]
    fn an_event_is_committed_with_its_batch() {
        let dir = scratch("batch");
        let path = dir.join("state.db");
        let mut store = Store::open(&path).unwrap();
        store.set_webhooks(sink(&["http://a/"], &["sent", "failed"]));
        assert!(!store.queue_webhook("received", data, 1).unwrap());
        let queue = WebhookQueue::open(&path).unwrap();
        store
            .batch(crate::store::Durability::Now, |store| {
                assert!(store.queue_webhook("sent", data, 1)?);
                assert_eq!(queue.pending()?, 0, "not before the batch commits");
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert_eq!(queue.pending().unwrap(), 1, "with the batch");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
