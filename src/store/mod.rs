//! Message state in SQLite: what was claimed from the outbox, what each part
//! went through, and what is due. A thin layer over rusqlite; every time is
//! passed in (milliseconds since the Unix epoch), so the logic is testable
//! without a clock.
//!
//! The database runs in WAL mode with `synchronous = FULL`: a committed
//! transition survives a power cut. The transitions that matter are
//! committed before the action they announce: a part is marked `sending`
//! before its PDU goes to the modem, so a crash between the two is found on
//! restart as `sending` and becomes `ambiguous`, never a blind resend.

mod incoming;
mod migrations;

pub use incoming::{IncomingMessage, IncomingPart, NewPart, ReportRecord};

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// A message's life: queued → sending → sent | failed | ambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageState {
    /// Waiting for its next attempt.
    Queued,
    /// Parts are going out.
    Sending,
    /// Every part was accepted by the network.
    Sent,
    /// Given up: a permanent error, or too many attempts.
    Failed,
    /// A part may have gone out without an answer saying so.
    Ambiguous,
}

impl MessageState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Ambiguous => "ambiguous",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "ambiguous" => Self::Ambiguous,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown message state {other:?}"
                )))
            }
        })
    }

    /// Whether the message is finished (sent, failed or ambiguous).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Sent | Self::Failed | Self::Ambiguous)
    }
}

/// Where one part stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartState {
    /// Not sent yet.
    Pending,
    /// Handed to the modem; no answer recorded.
    Sending,
    /// Accepted by the network, with its TP-MR.
    Sent,
    /// May have gone out.
    Ambiguous,
}

impl PartState {
    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "pending" => Self::Pending,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "ambiguous" => Self::Ambiguous,
            other => return Err(StoreError::Corrupt(format!("unknown part state {other:?}"))),
        })
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database holds something this version cannot read.
    #[error("database content is not understood: {0}")]
    Corrupt(String),
    /// A newer simgate wrote this database.
    #[error("database schema version {found} is newer than this simgate understands ({known})")]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Latest version known here.
        known: i64,
    },
}

/// One outgoing message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Row id.
    pub id: i64,
    /// What identifies the claimed file across restarts.
    pub claim_key: String,
    /// The outbox file name, unchanged through sent/ and error/.
    pub file_name: String,
    /// The destination as written in the file.
    pub recipient: String,
    /// Its state.
    pub state: MessageState,
    /// How many parts it has.
    pub parts_total: u32,
    /// Attempts so far.
    pub attempts: u32,
    /// When it may be tried next.
    pub next_attempt_ms: i64,
    /// The last failure, for error/ and logs.
    pub last_error: Option<String>,
    /// When it was claimed.
    pub created_ms: i64,
}

/// One part as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// 1-based part number.
    pub part: u32,
    /// Its state.
    pub state: PartState,
    /// TP-MR the modem assigned, once sent.
    pub message_ref: Option<u8>,
}

/// Counts by state, for status lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Queued or sending.
    pub queued: u64,
    /// Sent.
    pub sent: u64,
    /// Failed.
    pub failed: u64,
    /// Ambiguous.
    pub ambiguous: u64,
}

/// The message store.
#[derive(Debug)]
pub struct Store {
    connection: CachedConnection,
}

/// The connection, with `execute` and `query_row` going through SQLite's
/// prepared statement cache: preparing each statement on every call cost
/// about a tenth of simgate's CPU time per received message.
#[derive(Debug)]
struct CachedConnection(Connection);

impl CachedConnection {
    fn execute<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.0.prepare_cached(sql)?.execute(params)
    }

    fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.0.prepare_cached(sql)?.query_row(params, f)
    }
}

impl std::ops::Deref for CachedConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.0
    }
}

impl std::ops::DerefMut for CachedConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.0
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::setup(Connection::open(path)?)
    }

    /// An in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(connection: Connection) -> Result<Self, StoreError> {
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        // 256 KiB of page cache instead of SQLite's default 2 MiB: the
        // queries are indexed point lookups, and the default cache alone
        // would take a fifth of the 10 MB memory budget once the queue is large.
        connection.pragma_update(None, "cache_size", -256)?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let known = migrations::MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        for (index, migration) in migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(version as usize)
        {
            let transaction = connection.unchecked_transaction()?;
            transaction.execute_batch(migration)?;
            transaction.pragma_update(None, "user_version", index as i64 + 1)?;
            transaction.commit()?;
        }
        // Room for every statement the store runs, so none is prepared twice.
        connection.set_prepared_statement_cache_capacity(64);
        Ok(Self {
            connection: CachedConnection(connection),
        })
    }

    /// Records a claimed outbox file as queued, due now. If `claim_key` is
    /// already known (a restart found the claim again), returns the existing
    /// row instead.
    pub fn enqueue(
        &mut self,
        claim_key: &str,
        file_name: &str,
        recipient: &str,
        parts_total: u32,
        now_ms: i64,
    ) -> Result<Outgoing, StoreError> {
        if let Some(existing) = self.by_claim_key(claim_key)? {
            return Ok(existing);
        }
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "INSERT INTO outgoing (claim_key, file_name, recipient, state, parts_total,
                                   next_attempt_ms, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?5, ?5)",
            params![claim_key, file_name, recipient, parts_total, now_ms],
        )?;
        let id = transaction.last_insert_rowid();
        for part in 1..=parts_total {
            transaction.execute(
                "INSERT INTO outgoing_part (message_id, part, state) VALUES (?1, ?2, 'pending')",
                params![id, part],
            )?;
        }
        transaction.commit()?;
        self.get(id)?
            .ok_or_else(|| StoreError::Corrupt("inserted message vanished".to_owned()))
    }

    /// The message with that claim key.
    pub fn by_claim_key(&self, claim_key: &str) -> Result<Option<Outgoing>, StoreError> {
        self.query_one("WHERE claim_key = ?1", params![claim_key])
    }

    /// The message with that id.
    pub fn get(&self, id: i64) -> Result<Option<Outgoing>, StoreError> {
        self.query_one("WHERE id = ?1", params![id])
    }

    fn query_one(
        &self,
        condition: &str,
        values: impl rusqlite::Params,
    ) -> Result<Option<Outgoing>, StoreError> {
        let sql = format!(
            "SELECT id, claim_key, file_name, recipient, state, parts_total, attempts,
                    next_attempt_ms, last_error, created_ms FROM outgoing {condition}"
        );
        let row = self
            .connection
            .query_row(&sql, values, |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, u32>(5)?,
                    row.get::<_, u32>(6)?,
                    row.get::<_, i64>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, i64>(9)?,
                ))
            })
            .optional()?;
        row.map(
            |(
                id,
                claim_key,
                file_name,
                recipient,
                state,
                parts_total,
                attempts,
                next,
                error,
                created,
            )| {
                Ok(Outgoing {
                    id,
                    claim_key,
                    file_name,
                    recipient,
                    state: MessageState::parse(&state)?,
                    parts_total,
                    attempts,
                    next_attempt_ms: next,
                    last_error: error,
                    created_ms: created,
                })
            },
        )
        .transpose()
    }

    /// Queued messages due at `now_ms`, in byte order of their file names:
    /// gammu's priority order (`OUTA…` before `OUTB…`).
    pub fn due(&self, now_ms: i64, limit: u32) -> Result<Vec<i64>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id FROM outgoing WHERE state = 'queued' AND next_attempt_ms <= ?1
             ORDER BY file_name, id LIMIT ?2",
        )?;
        let ids = statement
            .query_map(params![now_ms, limit], |row| row.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        Ok(ids)
    }

    /// When the next queued message falls due, if any.
    pub fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.connection.query_row(
            "SELECT MIN(next_attempt_ms) FROM outgoing WHERE state = 'queued'",
            [],
            |row| row.get::<_, Option<i64>>(0),
        )?)
    }

    /// The parts of a message, in order.
    pub fn parts(&self, id: i64) -> Result<Vec<Part>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT part, state, message_ref FROM outgoing_part WHERE message_id = ?1 ORDER BY part",
        )?;
        let rows = statement
            .query_map(params![id], |row| {
                Ok((
                    row.get::<_, u32>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<u8>>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(part, state, message_ref)| {
                Ok(Part {
                    part,
                    state: PartState::parse(&state)?,
                    message_ref,
                })
            })
            .collect()
    }

    /// Durably marks a part as handed to the modem (and its message as
    /// sending) before the PDU is written.
    pub fn part_sending(&mut self, id: i64, part: u32, now_ms: i64) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "UPDATE outgoing_part SET state = 'sending' WHERE message_id = ?1 AND part = ?2",
            params![id, part],
        )?;
        transaction.execute(
            "UPDATE outgoing SET state = 'sending', updated_ms = ?2 WHERE id = ?1",
            params![id, now_ms],
        )?;
        transaction.commit()?;
        Ok(())
    }

    /// Records that the network accepted a part, with its TP-MR.
    pub fn part_sent(
        &mut self,
        id: i64,
        part: u32,
        message_ref: u8,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing_part SET state = 'sent', message_ref = ?3, sent_ms = ?4
             WHERE message_id = ?1 AND part = ?2",
            params![id, part, message_ref, now_ms],
        )?;
        Ok(())
    }

    /// The part did not go out (a clear error before or at the modem):
    /// back to pending.
    pub fn part_not_sent(&mut self, id: i64, part: u32) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing_part SET state = 'pending' WHERE message_id = ?1 AND part = ?2",
            params![id, part],
        )?;
        Ok(())
    }

    /// Every part went out: the message is sent.
    pub fn mark_sent(&mut self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.finish(id, MessageState::Sent, None, now_ms)
    }

    /// Given up on the message.
    pub fn mark_failed(&mut self, id: i64, reason: &str, now_ms: i64) -> Result<(), StoreError> {
        self.finish(id, MessageState::Failed, Some(reason), now_ms)
    }

    /// A part may have gone out: the part and the message become ambiguous.
    pub fn mark_ambiguous(
        &mut self,
        id: i64,
        part: u32,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "UPDATE outgoing_part SET state = 'ambiguous' WHERE message_id = ?1 AND part = ?2",
            params![id, part],
        )?;
        transaction.execute(
            "UPDATE outgoing SET state = 'ambiguous', last_error = ?2, updated_ms = ?3, finished_ms = ?3
             WHERE id = ?1",
            params![id, reason, now_ms],
        )?;
        transaction.commit()?;
        Ok(())
    }

    fn finish(
        &mut self,
        id: i64,
        state: MessageState,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing SET state = ?2, last_error = COALESCE(?3, last_error), updated_ms = ?4,
                    finished_ms = ?4 WHERE id = ?1",
            params![id, state.as_str(), reason, now_ms],
        )?;
        Ok(())
    }

    /// A transient failure: one more attempt recorded, due again at `next_ms`.
    pub fn retry_later(
        &mut self,
        id: i64,
        reason: &str,
        next_ms: i64,
        now_ms: i64,
    ) -> Result<u32, StoreError> {
        self.connection.execute(
            "UPDATE outgoing SET state = 'queued', attempts = attempts + 1, last_error = ?2,
                    next_attempt_ms = ?3, updated_ms = ?4 WHERE id = ?1",
            params![id, reason, next_ms, now_ms],
        )?;
        Ok(self.get(id)?.map_or(0, |m| m.attempts))
    }

    /// Counts an attempt that is starting.
    pub fn count_attempt(&mut self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing SET attempts = attempts + 1, updated_ms = ?2 WHERE id = ?1",
            params![id, now_ms],
        )?;
        Ok(())
    }

    /// After a crash: every part left `sending` may have gone out, so it and
    /// its message become ambiguous; a message left `sending` with no part
    /// in flight goes back to the queue. Returns the ids made ambiguous.
    pub fn recover(&mut self, now_ms: i64) -> Result<Vec<i64>, StoreError> {
        let transaction = self.connection.transaction()?;
        let ambiguous: Vec<i64> = {
            let mut statement = transaction
                .prepare("SELECT DISTINCT message_id FROM outgoing_part WHERE state = 'sending'")?;
            let ids = statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            ids
        };
        transaction.execute(
            "UPDATE outgoing_part SET state = 'ambiguous' WHERE state = 'sending'",
            [],
        )?;
        for id in &ambiguous {
            transaction.execute(
                "UPDATE outgoing SET state = 'ambiguous', updated_ms = ?2, finished_ms = ?2,
                        last_error = 'simgate stopped between handing a part to the modem and its answer'
                 WHERE id = ?1",
                params![id, now_ms],
            )?;
        }
        transaction.execute(
            "UPDATE outgoing SET state = 'queued', updated_ms = ?1 WHERE state = 'sending'",
            params![now_ms],
        )?;
        transaction.commit()?;
        Ok(ambiguous)
    }

    /// Messages in a final state whose files may still wait to be moved
    /// (the daemon moves them and then calls [`forget_file`](Self::forget_file)).
    pub fn finished_with_file(&self) -> Result<Vec<i64>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id FROM outgoing WHERE state IN ('sent','failed','ambiguous') AND claim_key != ''",
        )?;
        let ids = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// The message's file has been moved out of the claim area.
    pub fn forget_file(&mut self, id: i64) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing SET claim_key = 'done:' || id WHERE id = ?1",
            params![id],
        )?;
        Ok(())
    }

    /// How many messages are in each state.
    pub fn counts(&self) -> Result<Counts, StoreError> {
        let mut counts = Counts::default();
        let mut statement = self
            .connection
            .prepare_cached("SELECT state, COUNT(*) FROM outgoing GROUP BY state")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?))
        })?;
        for row in rows {
            let (state, count) = row?;
            match MessageState::parse(&state)? {
                MessageState::Queued | MessageState::Sending => counts.queued += count,
                MessageState::Sent => counts.sent += count,
                MessageState::Failed => counts.failed += count,
                MessageState::Ambiguous => counts.ambiguous += count,
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_goes_through_its_states() {
        let mut store = Store::in_memory().unwrap();
        let message = store
            .enqueue("claim-1", "OUT+4912345.txt", "+4912345", 2, 1000)
            .unwrap();
        assert_eq!(
            (message.state, message.parts_total, message.attempts),
            (MessageState::Queued, 2, 0)
        );
        assert_eq!(store.due(999, 10).unwrap(), Vec::<i64>::new());
        assert_eq!(store.due(1000, 10).unwrap(), vec![message.id]);
        // A restart that finds the same claim gets the same row.
        assert_eq!(
            store.enqueue("claim-1", "x", "y", 1, 2000).unwrap().id,
            message.id
        );

        store.count_attempt(message.id, 1000).unwrap();
        store.part_sending(message.id, 1, 1001).unwrap();
        store.part_sent(message.id, 1, 42, 1002).unwrap();
        store.part_sending(message.id, 2, 1003).unwrap();
        store.part_sent(message.id, 2, 43, 1004).unwrap();
        store.mark_sent(message.id, 1005).unwrap();
        let parts = store.parts(message.id).unwrap();
        assert_eq!(
            parts
                .iter()
                .map(|p| (p.state, p.message_ref))
                .collect::<Vec<_>>(),
            [(PartState::Sent, Some(42)), (PartState::Sent, Some(43))]
        );
        assert_eq!(
            store.get(message.id).unwrap().unwrap().state,
            MessageState::Sent
        );
        assert_eq!(
            store.counts().unwrap(),
            Counts {
                sent: 1,
                ..Counts::default()
            }
        );
    }

    #[test]
    fn retries_are_counted_and_scheduled() {
        let mut store = Store::in_memory().unwrap();
        let id = store.enqueue("c", "f", "+1", 1, 0).unwrap().id;
        assert_eq!(
            store
                .retry_later(id, "network out of order", 5000, 10)
                .unwrap(),
            1
        );
        assert_eq!(store.due(4999, 10).unwrap(), Vec::<i64>::new());
        assert_eq!(store.next_due_ms().unwrap(), Some(5000));
        let message = store.get(id).unwrap().unwrap();
        assert_eq!(message.last_error.as_deref(), Some("network out of order"));
        store.mark_failed(id, "gave up", 6000).unwrap();
        assert_eq!(store.counts().unwrap().failed, 1);
        assert_eq!(store.next_due_ms().unwrap(), None);
    }

    #[test]
    fn a_crash_while_sending_is_ambiguous_never_resent() {
        let dir = std::env::temp_dir().join(format!("simgate-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let id = {
            let mut store = Store::open(&path).unwrap();
            let id = store.enqueue("c", "f", "+1", 3, 0).unwrap().id;
            store.part_sending(id, 1, 1).unwrap();
            store.part_sent(id, 1, 7, 2).unwrap();
            store.part_sending(id, 2, 3).unwrap();
            let other = store.enqueue("d", "g", "+2", 1, 0).unwrap().id;
            store.part_sending(other, 1, 4).unwrap();
            store.part_not_sent(other, 1).unwrap();
            id
            // Dropped here without finishing: as if the process died.
        };
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.recover(10).unwrap(), vec![id]);
        assert_eq!(
            store.get(id).unwrap().unwrap().state,
            MessageState::Ambiguous
        );
        let states: Vec<PartState> = store.parts(id).unwrap().iter().map(|p| p.state).collect();
        assert_eq!(
            states,
            [PartState::Sent, PartState::Ambiguous, PartState::Pending]
        );
        // The message whose part was cleanly not sent is queued again.
        let other = store.by_claim_key("d").unwrap().unwrap();
        assert_eq!(other.state, MessageState::Queued);
        assert_eq!(
            store.counts().unwrap(),
            Counts {
                queued: 1,
                ambiguous: 1,
                ..Counts::default()
            }
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn schema_versions_are_checked() {
        let store = Store::in_memory().unwrap();
        store
            .connection
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let connection = store.connection.0;
        assert!(matches!(
            Store::setup(connection),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
