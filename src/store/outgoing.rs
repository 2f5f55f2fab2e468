//! Outgoing messages in SQLite: one row per outbox file taken in, one per
//! part, and every transition a message goes through.
//!
//! A message's life: `queued` → `sending` → `sent`, or `failed` (given up),
//! or `cancelled` (its file was deleted from outbox/ while it waited), or,
//! when a part may have gone out without an answer saying so, `resolving`
//! until the modem's TP-MR counter tells whether it did (then `queued`
//! again, with that part sent or not) or cannot tell (`ambiguous`, final).
//!
//! While a message is active its row holds the key `name:<file name>`, so
//! one file name has at most one active message; the row also remembers
//! which file it is ([`FileId`]), so a file replaced under the same name is
//! told from the one taken in. Once the message is finished and its file
//! moved on, the key becomes `done:<id>` and the name is free again.
//!
//! With several modems, a message is bound to a modem (its `modem`
//! column) from the moment a part is handed to it, for as long as a part
//! of it went out, or may have, through that modem: its other parts follow
//! from the same sender, and a part in doubt goes back to the modem that
//! can tell whether it went out. A part that surely did not go out frees
//! the message for any modem again (failover).

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension};

/// Binds message `?1` to the modem a part of it went out through, or was
/// handed back to in doubt, if any (NULL: any modem may take it).
const UNBIND_UNLESS_BEGUN: &str = "UPDATE outgoing SET modem = (SELECT modem FROM outgoing_part
         WHERE message_id = ?1 AND (state = 'sent' OR in_doubt = 1) AND modem IS NOT NULL
         LIMIT 1)
     WHERE id = ?1";

/// A message's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageState {
    /// Waiting for its next attempt (its file in outbox/).
    Queued,
    /// Parts are going out.
    Sending,
    /// A part may have gone out: waiting for the modem to tell.
    Resolving,
    /// Every part was accepted by the network.
    Sent,
    /// Given up: a permanent error, too many attempts, or a file that
    /// cannot be sent.
    Failed,
    /// A part may have gone out and nothing can tell: never resent.
    Ambiguous,
    /// Its file was deleted from outbox/ before it was sent.
    Cancelled,
}

impl MessageState {
    /// The state's name, as stored and as the HTTP API says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Resolving => "resolving",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Ambiguous => "ambiguous",
            Self::Cancelled => "cancelled",
        }
    }

    pub(super) fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "resolving" => Self::Resolving,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "ambiguous" => Self::Ambiguous,
            "cancelled" => Self::Cancelled,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown message state {other:?}"
                )))
            }
        })
    }

    /// Whether the message is finished.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Sent | Self::Failed | Self::Ambiguous | Self::Cancelled
        )
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

/// Which file a message was taken from: device, inode, size and
/// modification time. A file replaced under the same name differs in at
/// least one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileId {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
}

impl FileId {
    fn to_text(self) -> String {
        format!("{}:{}:{}:{}", self.dev, self.ino, self.size, self.mtime_ns)
    }

    fn parse(text: &str) -> Self {
        let mut fields = text.split(':');
        let mut next = || fields.next().unwrap_or_default();
        Self {
            dev: next().parse().unwrap_or_default(),
            ino: next().parse().unwrap_or_default(),
            size: next().parse().unwrap_or_default(),
            mtime_ns: next().parse().unwrap_or_default(),
        }
    }
}

/// One outgoing message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Row id.
    pub id: i64,
    /// The outbox file name, unchanged through sent/ and error/.
    pub file_name: String,
    /// Which file it was taken from.
    pub file_id: FileId,
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
    /// When it was taken in.
    pub created_ms: i64,
    /// Whether its file still belongs to it (in outbox/, held for sending,
    /// or finished but not yet moved to sent/ or error/).
    pub has_file: bool,
    /// Finished, but its file could not be moved yet.
    pub file_pending: bool,
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

/// A part that may have gone out, waiting for the modem to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolving {
    /// The message.
    pub id: i64,
    /// The part.
    pub part: u32,
    /// The TP-MR the modem had used last before the part was handed to it,
    /// when known.
    pub mr_before: Option<u8>,
    /// The modem it was handed to (`None`: recorded before simgate knew
    /// several modems).
    pub modem: Option<String>,
}

/// Counts by state, for status lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Queued, sending or resolving.
    pub queued: u64,
    /// Sent.
    pub sent: u64,
    /// Failed.
    pub failed: u64,
    /// Ambiguous.
    pub ambiguous: u64,
    /// Cancelled.
    pub cancelled: u64,
}

const COLUMNS: &str = "id, claim_key, file_name, file_id, recipient, state, parts_total, attempts,
                       next_attempt_ms, last_error, created_ms, file_pending";

fn name_key(name: &str) -> String {
    format!("name:{name}")
}

fn outgoing_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Outgoing, String)> {
    let key: String = row.get(1)?;
    let file_id: String = row.get(3)?;
    let state: String = row.get(5)?;
    Ok((
        Outgoing {
            id: row.get(0)?,
            file_name: row.get(2)?,
            file_id: FileId::parse(&file_id),
            recipient: row.get(4)?,
            state: MessageState::Queued,
            parts_total: row.get(6)?,
            attempts: row.get(7)?,
            next_attempt_ms: row.get(8)?,
            last_error: row.get(9)?,
            created_ms: row.get(10)?,
            has_file: key.starts_with("name:"),
            file_pending: row.get::<_, i64>(11)? != 0,
        },
        state,
    ))
}

/// The query for the queued messages due (`?1` the time, `?2` how many)
/// that `route` accepts, in file-name order. It walks the queue's own
/// index (`outgoing_queue`: the queued messages in that order) and stops
/// at the first due ones, instead of sorting every due message at each
/// pick: in a burst of 1,000 that sort was made for every message sent.
fn due_sql(route: &str) -> String {
    format!(
        "SELECT id FROM outgoing INDEXED BY outgoing_queue
         WHERE state = 'queued' AND next_attempt_ms <= ?1 AND ({route})
         ORDER BY file_name, id LIMIT ?2"
    )
}

impl Store {
    /// Records a file taken in from the outbox as a queued message, due
    /// now. The name must not have an active message (cancel or finish it
    /// first).
    pub(crate) fn enqueue(
        &mut self,
        file_name: &str,
        file_id: &FileId,
        recipient: &str,
        parts_total: u32,
        now_ms: i64,
    ) -> Result<Outgoing, StoreError> {
        let transaction = self.atomic()?;
        transaction
            .prepare_cached(
                "INSERT INTO outgoing (claim_key, file_name, file_id, recipient, state, parts_total,
                                       next_attempt_ms, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?6, ?6)",
            )?
            .execute(params![
                name_key(file_name),
                file_name,
                file_id.to_text(),
                recipient,
                parts_total,
                now_ms
            ])?;
        let id = transaction.last_insert_rowid();
        for part in 1..=parts_total {
            transaction
                .prepare_cached(
                    "INSERT INTO outgoing_part (message_id, part, state) VALUES (?1, ?2, 'pending')",
                )?
                .execute(params![id, part])?;
        }
        transaction.commit()?;
        self.get(id)?
            .ok_or_else(|| StoreError::Corrupt("inserted message vanished".to_owned()))
    }

    /// The active message of a file name, if any.
    pub fn active_by_name(&self, file_name: &str) -> Result<Option<Outgoing>, StoreError> {
        self.query_one("WHERE claim_key = ?1", params![name_key(file_name)])
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
        let sql = format!("SELECT {COLUMNS} FROM outgoing {condition}");
        let row = self
            .connection
            .query_row(&sql, values, outgoing_from_row)
            .optional()?;
        row.map(|(mut message, state)| {
            message.state = MessageState::parse(&state)?;
            Ok(message)
        })
        .transpose()
    }

    fn query_many(
        &self,
        condition: &str,
        values: impl rusqlite::Params,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM outgoing {condition}");
        let mut statement = self.connection.prepare_cached(&sql)?;
        let rows = statement
            .query_map(values, outgoing_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(mut message, state)| {
                message.state = MessageState::parse(&state)?;
                Ok(message)
            })
            .collect()
    }

    /// Queued messages due at `now_ms`, in byte order of their file names:
    /// gammu's priority order (`OUTA…` before `OUTB…`).
    pub(crate) fn due(&self, now_ms: i64, limit: u32) -> Result<Vec<i64>, StoreError> {
        self.due_on("1", now_ms, limit)
    }

    /// [`Self::due`] among the messages whose recipient `route` (an SQL
    /// condition on `recipient`, see `daemon::lanes`) accepts.
    pub(crate) fn due_on(
        &self,
        route: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<i64>, StoreError> {
        let mut statement = self.connection.prepare_cached(&due_sql(route))?;
        let ids = statement
            .query_map(params![now_ms, limit], |row| row.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        Ok(ids)
    }

    /// Queued messages taken in at or before `created_before_ms` (the
    /// oldest first, at most `limit`): those `max_age` gives up on,
    /// whatever keeps them waiting.
    pub(crate) fn queued_before(
        &self,
        created_before_ms: i64,
        limit: u32,
    ) -> Result<Vec<i64>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id FROM outgoing WHERE state = 'queued' AND created_ms <= ?1
             ORDER BY created_ms, id LIMIT ?2",
        )?;
        let ids = statement
            .query_map(params![created_before_ms, limit], |row| row.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        Ok(ids)
    }

    /// Whether message `id` is one a lane whose route is `route` (an SQL
    /// condition on the `outgoing` row, `Lane::route`) may take, as its
    /// binding to a modem stands now.
    pub(crate) fn on_route(&self, id: i64, route: &str) -> Result<bool, StoreError> {
        Ok(self.connection.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM outgoing WHERE id = ?1 AND ({route}))"),
            params![id],
            |row| row.get(0),
        )?)
    }

    /// [`Self::next_due_ms`] among the messages `route` accepts.
    pub(crate) fn next_due_ms_on(&self, route: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .connection
            .prepare_cached(&format!(
                "SELECT MIN(next_attempt_ms) FROM outgoing WHERE state = 'queued' AND ({route})"
            ))?
            .query_row([], |row| row.get::<_, Option<i64>>(0))?)
    }

    /// When the next queued message falls due, if any.
    #[cfg(test)]
    pub(crate) fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.connection.query_row(
            "SELECT MIN(next_attempt_ms) FROM outgoing WHERE state = 'queued'",
            [],
            |row| row.get::<_, Option<i64>>(0),
        )?)
    }

    /// Messages waiting with their file in outbox/ (queued), for a rescan
    /// to notice files deleted meanwhile.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> Result<Vec<Outgoing>, StoreError> {
        self.waiting_unlisted(|_| false)
    }

    /// [`Self::waiting`] less the messages whose file name `listed`
    /// accepts, read a row at a time: a rescan looks only at those whose
    /// files it did not find, and a queue of 10,000 is not copied into
    /// memory (that took 2.5 MB). Sorted here rather than by SQLite, whose
    /// sorter took 1 MB for the whole queue.
    pub(crate) fn waiting_unlisted(
        &self,
        listed: impl Fn(&str) -> bool,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outgoing WHERE state = 'queued' AND claim_key LIKE 'name:%'"
        ))?;
        let mut rows = statement.query([])?;
        let mut unlisted = Vec::new();
        while let Some(row) = rows.next()? {
            if row.get_ref(2)?.as_str().is_ok_and(&listed) {
                continue;
            }
            let (mut message, state) = outgoing_from_row(row)?;
            message.state = MessageState::parse(&state)?;
            unlisted.push(message);
        }
        unlisted.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        Ok(unlisted)
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
    /// sending) before the PDU is written; `mr_before` is the TP-MR the
    /// modem had used last, when known.
    #[cfg(test)]
    pub(crate) fn part_sending(
        &mut self,
        id: i64,
        part: u32,
        mr_before: Option<u8>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.part_sending_on(None, id, part, mr_before, now_ms)
    }

    /// [`Self::part_sending`], handed to `modem` (of several): only that
    /// modem can tell whether it went out.
    pub(crate) fn part_sending_on(
        &mut self,
        modem: Option<&str>,
        id: i64,
        part: u32,
        mr_before: Option<u8>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let transaction = self.atomic()?;
        transaction
            .prepare_cached(
                "UPDATE outgoing_part SET state = 'sending', mr_before = ?3, modem = ?4
                 WHERE message_id = ?1 AND part = ?2",
            )?
            .execute(params![id, part, mr_before, modem])?;
        // Bound to this modem from here: the part may go out through it.
        transaction
            .prepare_cached(
                "UPDATE outgoing SET state = 'sending', updated_ms = ?2, modem = ?3 WHERE id = ?1",
            )?
            .execute(params![id, now_ms, modem])?;
        // The budget counts it from here: once written, it may go out.
        transaction
            .prepare_cached(
                "INSERT OR IGNORE INTO parts_used (message_id, part, at_ms) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, part, now_ms])?;
        transaction.commit()?;
        Ok(())
    }

    /// Records that the network accepted a part, with its TP-MR.
    pub(crate) fn part_sent(
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
    pub(crate) fn part_not_sent(&mut self, id: i64, part: u32) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing_part SET state = 'pending' WHERE message_id = ?1 AND part = ?2",
            params![id, part],
        )?;
        self.unbind_unless_begun(id)?;
        self.unuse_part(id, part)
    }

    /// The device holds the part (it went out, or may yet): pending again
    /// to be asked of that device once more, still counted by the budget,
    /// and its message bound to that modem until the device settles it.
    pub(crate) fn part_held(&mut self, id: i64, part: u32) -> Result<(), StoreError> {
        let transaction = self.atomic()?;
        transaction
            .prepare_cached(
                "UPDATE outgoing_part SET state = 'pending', in_doubt = 1
                 WHERE message_id = ?1 AND part = ?2",
            )?
            .execute(params![id, part])?;
        transaction
            .prepare_cached(UNBIND_UNLESS_BEGUN)?
            .execute(params![id])?;
        transaction.commit()?;
        Ok(())
    }

    /// The message is bound to a modem only while a part of it went out
    /// through one (its other parts must follow from the same sender), or
    /// was handed back to one in doubt (only it can tell whether that part
    /// went out, whatever became of a later try); otherwise any modem may
    /// take it.
    fn unbind_unless_begun(&mut self, id: i64) -> Result<(), StoreError> {
        self.connection
            .prepare_cached(UNBIND_UNLESS_BEGUN)?
            .execute(params![id])?;
        Ok(())
    }

    /// A part known not to have gone out no longer counts for the budget.
    fn unuse_part(&mut self, id: i64, part: u32) -> Result<(), StoreError> {
        self.connection
            .prepare_cached("DELETE FROM parts_used WHERE message_id = ?1 AND part = ?2")?
            .execute(params![id, part])?;
        Ok(())
    }

    /// How many parts of message `id` the budget counts already.
    pub(crate) fn parts_used_by(&self, id: i64) -> Result<u32, StoreError> {
        Ok(self
            .connection
            .prepare_cached("SELECT COUNT(*) FROM parts_used WHERE message_id = ?1")?
            .query_row(params![id], |row| row.get(0))?)
    }

    /// Forgets the parts counted before `before_ms`.
    pub(crate) fn forget_parts_used_before(&mut self, before_ms: i64) -> Result<(), StoreError> {
        self.connection.execute(
            "DELETE FROM parts_used WHERE at_ms < ?1",
            params![before_ms],
        )?;
        Ok(())
    }

    /// The parts the budget counts from `since_ms` on.
    pub(crate) fn parts_used_since(&self, since_ms: i64) -> Result<u64, StoreError> {
        Ok(self.connection.query_row(
            "SELECT COUNT(*) FROM parts_used WHERE at_ms >= ?1",
            params![since_ms],
            |row| row.get(0),
        )?)
    }

    /// Records that the budget warning of the month starting at
    /// `month_start_ms` was given; false if it had been already.
    pub(crate) fn note_budget_warning(
        &mut self,
        month_start_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let added = self.connection.execute(
            "INSERT OR IGNORE INTO budget_warning (month_start_ms, at_ms) VALUES (?1, ?2)",
            params![month_start_ms, now_ms],
        )?;
        Ok(added == 1)
    }

    /// Whether the budget warning of the month starting at
    /// `month_start_ms` was given.
    pub(crate) fn budget_warned(&self, month_start_ms: i64) -> Result<bool, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT 1 FROM budget_warning WHERE month_start_ms = ?1",
                params![month_start_ms],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Messages held for the budget (their reason starts with
    /// `reason_prefix`) are due again at `now_ms` (the budget changed).
    pub(crate) fn release_held(
        &mut self,
        reason_prefix: &str,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        Ok(self.connection.execute(
            "UPDATE outgoing SET next_attempt_ms = ?2, updated_ms = ?2
             WHERE state = 'queued' AND next_attempt_ms > ?2 AND substr(last_error, 1, length(?1)) = ?1",
            params![reason_prefix, now_ms],
        )?)
    }

    /// Every part went out: the message is sent.
    pub(crate) fn mark_sent(&mut self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.finish(id, MessageState::Sent, None, now_ms)
    }

    /// Given up on the message.
    pub(crate) fn mark_failed(
        &mut self,
        id: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.finish(id, MessageState::Failed, Some(reason), now_ms)
    }

    /// The message's file was deleted from outbox/ before it was sent:
    /// cancelled, and its name is free for a new file.
    pub(crate) fn cancel(&mut self, id: i64, reason: &str, now_ms: i64) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing SET state = 'cancelled', last_error = ?2, updated_ms = ?3, finished_ms = ?3,
                    claim_key = 'done:' || id, file_pending = 0
             WHERE id = ?1",
            params![id, reason, now_ms],
        )?;
        Ok(())
    }

    /// A part may have gone out: the part becomes ambiguous and the message
    /// waits for the modem to tell ([`MessageState::Resolving`]).
    pub(crate) fn mark_resolving(
        &mut self,
        id: i64,
        part: u32,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.part_ambiguous(id, part, MessageState::Resolving, reason, now_ms)
    }

    /// A part may have gone out and nothing can tell: the part and the
    /// message become ambiguous, for good.
    pub(crate) fn mark_ambiguous(
        &mut self,
        id: i64,
        part: u32,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.part_ambiguous(id, part, MessageState::Ambiguous, reason, now_ms)
    }

    fn part_ambiguous(
        &mut self,
        id: i64,
        part: u32,
        state: MessageState,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let finished = state.is_final().then_some(now_ms);
        let transaction = self.atomic()?;
        transaction
            .prepare_cached(
                "UPDATE outgoing_part SET state = 'ambiguous' WHERE message_id = ?1 AND part = ?2",
            )?
            .execute(params![id, part])?;
        transaction
            .prepare_cached(
                "UPDATE outgoing SET state = ?2, last_error = ?3, updated_ms = ?4, finished_ms = ?5
                 WHERE id = ?1",
            )?
            .execute(params![id, state.as_str(), reason, now_ms, finished])?;
        transaction.commit()?;
        Ok(())
    }

    /// Parts waiting for the modem to tell whether they went out.
    pub(crate) fn resolving(&self) -> Result<Vec<Resolving>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT p.message_id, p.part, p.mr_before, p.modem FROM outgoing_part p
             JOIN outgoing o ON o.id = p.message_id
             WHERE o.state = 'resolving' AND p.state = 'ambiguous' ORDER BY p.message_id, p.part",
        )?;
        let rows = statement
            .query_map([], |row| {
                Ok(Resolving {
                    id: row.get(0)?,
                    part: row.get(1)?,
                    mr_before: row.get(2)?,
                    modem: row.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The modem says the part went out with TP-MR `message_ref`: it is
    /// sent, and the message is queued to go on with its other parts.
    pub(crate) fn resolved_sent(
        &mut self,
        id: i64,
        part: u32,
        message_ref: u8,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let transaction = self.atomic()?;
        transaction
            .prepare_cached(
                "UPDATE outgoing_part SET state = 'sent', message_ref = ?3, sent_ms = ?4
                 WHERE message_id = ?1 AND part = ?2",
            )?
            .execute(params![id, part, message_ref, now_ms])?;
        transaction
            .prepare_cached(
                "UPDATE outgoing SET state = 'queued', next_attempt_ms = ?2, updated_ms = ?2 WHERE id = ?1",
            )?
            .execute(params![id, now_ms])?;
        transaction.commit()?;
        Ok(())
    }

    /// The modem says the part did not go out: it is pending again, and
    /// the message is queued to send it.
    pub(crate) fn resolved_not_sent(
        &mut self,
        id: i64,
        part: u32,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.part_handed_back(id, part, now_ms, now_ms, false)
    }

    /// As [`Store::resolved_not_sent`], the message due again at
    /// `next_ms`: a part in doubt sent again as a failed one is, after
    /// the retry delay. It stays bound to the modem it was handed to,
    /// which alone can tell that it went out already (another would send
    /// it a second time).
    pub(crate) fn resolved_not_sent_until(
        &mut self,
        id: i64,
        part: u32,
        next_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.part_handed_back(id, part, next_ms, now_ms, true)
    }

    /// The modems holding parts of message `id` handed back to them in
    /// doubt (pending again, `in_doubt`): only each of them can tell
    /// whether its part went out.
    pub(crate) fn held_in_doubt_by(&self, id: i64) -> Result<Vec<String>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT DISTINCT modem FROM outgoing_part
             WHERE message_id = ?1 AND state = 'pending' AND in_doubt = 1 AND modem IS NOT NULL",
        )?;
        let modems = statement
            .query_map(params![id], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(modems)
    }

    /// The part is pending again and its message queued for `next_ms`;
    /// the message stays bound to the part's modem (`in_doubt`) or only
    /// while another part went out through one.
    fn part_handed_back(
        &mut self,
        id: i64,
        part: u32,
        next_ms: i64,
        now_ms: i64,
        in_doubt: bool,
    ) -> Result<(), StoreError> {
        let transaction = self.atomic()?;
        transaction
            .prepare_cached(
                "UPDATE outgoing_part SET state = 'pending', in_doubt = ?3
                 WHERE message_id = ?1 AND part = ?2",
            )?
            .execute(params![id, part, in_doubt])?;
        transaction
            .prepare_cached("DELETE FROM parts_used WHERE message_id = ?1 AND part = ?2")?
            .execute(params![id, part])?;
        transaction
            .prepare_cached(
                "UPDATE outgoing SET state = 'queued', next_attempt_ms = ?2, updated_ms = ?3,
                        modem = COALESCE((SELECT modem FROM outgoing_part
                                          WHERE message_id = ?1 AND part = ?4), modem)
                 WHERE id = ?1",
            )?
            .execute(params![id, next_ms, now_ms, part])?;
        if !in_doubt {
            transaction
                .prepare_cached(UNBIND_UNLESS_BEGUN)?
                .execute(params![id])?;
        }
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

    /// A failure worth another attempt: due again at `next_ms`. (The
    /// attempt itself was counted when it started.)
    pub(crate) fn retry_later(
        &mut self,
        id: i64,
        reason: &str,
        next_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing SET state = 'queued', last_error = ?2, next_attempt_ms = ?3, updated_ms = ?4
             WHERE id = ?1",
            params![id, reason, next_ms, now_ms],
        )?;
        Ok(())
    }

    /// Counts a message for the rate limits, once: when its first attempt
    /// starts (a retry does not count it again). What is older than
    /// `forget_before_ms` goes (a day is the longest window).
    pub(crate) fn record_usage(
        &mut self,
        id: i64,
        destination: &str,
        modem: Option<&str>,
        parts: u32,
        now_ms: i64,
        forget_before_ms: i64,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "DELETE FROM send_usage WHERE at_ms <= ?1",
            params![forget_before_ms],
        )?;
        self.connection.execute(
            "INSERT OR IGNORE INTO send_usage (message_id, destination, parts, at_ms, modem)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, destination, parts, now_ms, modem],
        )?;
        Ok(())
    }

    /// What the rate limits count since `since_ms`, oldest first, except
    /// message `id` itself; each marked with whether it went to
    /// `destination`, and whether `modem` sent it.
    pub(crate) fn usage_since(
        &self,
        since_ms: i64,
        id: i64,
        destination: &str,
        modem: Option<&str>,
    ) -> Result<Vec<crate::daemon::limits::Counted>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT at_ms, parts, destination = ?3, modem IS ?4 FROM send_usage
             WHERE at_ms > ?1 AND message_id != ?2 ORDER BY at_ms",
        )?;
        let rows = statement.query_map(params![since_ms, id, destination, modem], |row| {
            Ok(crate::daemon::limits::Counted {
                at_ms: row.get(0)?,
                parts: row.get(1)?,
                same_destination: row.get(2)?,
                same_modem: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Holds queued messages (those to `recipient`, or all) until
    /// `until_ms`, with `reason` as what they wait for; no attempt is
    /// counted.
    pub(crate) fn hold_queued(
        &mut self,
        until_ms: i64,
        recipient: Option<&str>,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing SET next_attempt_ms = ?1, last_error = ?3, updated_ms = ?4
             WHERE state = 'queued' AND next_attempt_ms < ?1 AND (?2 IS NULL OR recipient = ?2)",
            params![until_ms, recipient, reason, now_ms],
        )?;
        Ok(())
    }

    /// Counts an attempt that is starting; returns the attempts so far,
    /// this one included.
    pub(crate) fn count_attempt(&mut self, id: i64, now_ms: i64) -> Result<u32, StoreError> {
        Ok(self.connection.query_row(
            "UPDATE outgoing SET attempts = attempts + 1, updated_ms = ?2 WHERE id = ?1
             RETURNING attempts",
            params![id, now_ms],
            |row| row.get(0),
        )?)
    }

    /// Takes back the attempt [`Store::count_attempt`] counted, for a send
    /// the device's state failed: the modem failed, not the message.
    pub(crate) fn uncount_attempt(&mut self, id: i64) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing SET attempts = attempts - 1 WHERE id = ?1 AND attempts > 0",
            params![id],
        )?;
        Ok(())
    }

    /// After a crash: every part left `sending` may have gone out, so it
    /// becomes ambiguous and its message `resolving` (the modem may tell);
    /// a message left `sending` with no part in flight goes back to the
    /// queue. Returns the ids now resolving.
    pub(crate) fn recover(&mut self, now_ms: i64) -> Result<Vec<i64>, StoreError> {
        let transaction = self.atomic()?;
        let resolving: Vec<i64> = {
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
        for id in &resolving {
            transaction.execute(
                "UPDATE outgoing SET state = 'resolving', updated_ms = ?2,
                        last_error = 'simgate stopped between handing a part to the modem and its answer'
                 WHERE id = ?1",
                params![id, now_ms],
            )?;
        }
        transaction.execute(
            "UPDATE outgoing SET state = 'queued', updated_ms = ?1,
                    modem = (SELECT p.modem FROM outgoing_part p
                             WHERE p.message_id = outgoing.id
                               AND (p.state = 'sent' OR p.in_doubt = 1)
                               AND p.modem IS NOT NULL LIMIT 1)
             WHERE state = 'sending'",
            params![now_ms],
        )?;
        transaction.commit()?;
        Ok(resolving)
    }

    /// Finished messages whose files were not moved yet: the move failed,
    /// or a restart came between it and its commit.
    pub(crate) fn files_pending(&self) -> Result<Vec<Outgoing>, StoreError> {
        self.query_many(
            "WHERE claim_key LIKE 'name:%' AND state IN ('sent', 'failed', 'ambiguous') ORDER BY id",
            [],
        )
    }

    /// The message's file is now this one (rewritten in place).
    pub(crate) fn set_file_id(&mut self, id: i64, file_id: &FileId) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing SET file_id = ?2 WHERE id = ?1",
            params![id, file_id.to_text()],
        )?;
        Ok(())
    }

    /// The finished message that had this file, whose name was freed: a
    /// file found claimed after a power cut that lost the move but kept
    /// the commit.
    pub(crate) fn finished_with_file(
        &self,
        file_name: &str,
        file_id: &FileId,
    ) -> Result<Option<Outgoing>, StoreError> {
        self.query_one(
            "WHERE file_name = ?1 AND file_id = ?2 AND claim_key LIKE 'done:%'
               AND state IN ('sent', 'failed', 'ambiguous') ORDER BY id DESC LIMIT 1",
            params![file_name, file_id.to_text()],
        )
    }

    /// The finished message's file could not be moved: try again later.
    pub(crate) fn file_pending(&mut self, id: i64) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing SET file_pending = 1 WHERE id = ?1",
            params![id],
        )?;
        Ok(())
    }

    /// The message's file has been moved on (or deleted): its name is free.
    pub(crate) fn forget_file(&mut self, id: i64) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outgoing SET claim_key = 'done:' || id, file_pending = 0 WHERE id = ?1",
            params![id],
        )?;
        Ok(())
    }

    /// A message whose file was found in sent/ (`sent`) or error/ after a
    /// restart, moved there by a job whose commit never came: it is
    /// finished as the move says. In sent/, every part went out (the file
    /// moves only after the last part's answer). In error/, it failed, or
    /// is ambiguous when a part was in flight or in doubt. Returns the
    /// state it was given.
    pub(crate) fn settle_moved(
        &mut self,
        id: i64,
        sent: bool,
        reason: &str,
        now_ms: i64,
    ) -> Result<MessageState, StoreError> {
        let transaction = self.atomic()?;
        let state = if sent {
            transaction
                .prepare_cached(
                    "UPDATE outgoing_part SET state = 'sent', sent_ms = COALESCE(sent_ms, ?2)
                     WHERE message_id = ?1 AND state != 'sent'",
                )?
                .execute(params![id, now_ms])?;
            MessageState::Sent
        } else {
            let in_doubt = transaction
                .prepare_cached(
                    "UPDATE outgoing_part SET state = 'ambiguous'
                     WHERE message_id = ?1 AND state IN ('sending', 'ambiguous')",
                )?
                .execute(params![id])?;
            if in_doubt > 0 {
                MessageState::Ambiguous
            } else {
                MessageState::Failed
            }
        };
        transaction
            .prepare_cached(
                "UPDATE outgoing SET state = ?2, last_error = COALESCE(?3, last_error),
                        updated_ms = ?4, finished_ms = ?4, claim_key = 'done:' || id,
                        file_pending = 0
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                state.as_str(),
                (!sent).then_some(reason),
                now_ms
            ])?;
        transaction.commit()?;
        Ok(state)
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
                MessageState::Queued | MessageState::Sending | MessageState::Resolving => {
                    counts.queued += count;
                }
                MessageState::Sent => counts.sent += count,
                MessageState::Failed => counts.failed += count,
                MessageState::Ambiguous => counts.ambiguous += count,
                MessageState::Cancelled => counts.cancelled += count,
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(ino: u64) -> FileId {
        FileId {
            dev: 1,
            ino,
            size: 10,
            mtime_ns: 5,
        }
    }

    /// The steps SQLite plans for `sql` (`EXPLAIN QUERY PLAN`).
    fn plan(store: &Store, sql: &str) -> Vec<String> {
        let mut statement = store
            .connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        statement
            .query_map(params![0, 1], |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn the_next_message_due_is_found_in_the_queue_order_not_by_sorting_the_queue() {
        let mut store = Store::in_memory().unwrap();
        let lane = "((recipient LIKE '+49%')) AND ((modem IS NULL OR modem = 'a'))";
        for route in ["1", lane] {
            let steps = plan(&store, &due_sql(route));
            assert!(
                steps.iter().all(|step| !step.contains("TEMP B-TREE")),
                "the pick sorts every due message: {steps:?}"
            );
        }
        // The order is still the file names', whatever the ids and the
        // times due, and a message not due yet is passed over.
        let later = store
            .enqueue("OUTA_later.txt", &file(1), "+4912345", 1, 5_000)
            .unwrap()
            .id;
        let second = store
            .enqueue("OUTC_second.txt", &file(2), "+4912345", 1, 1_000)
            .unwrap()
            .id;
        let first = store
            .enqueue("OUTB_first.txt", &file(3), "+4912345", 1, 2_000)
            .unwrap()
            .id;
        assert_eq!(store.due(3_000, 10).unwrap(), [first, second]);
        assert_eq!(store.due_on(lane, 3_000, 1).unwrap(), [first]);
        assert_eq!(store.due(5_000, 10).unwrap(), [later, first, second]);
        store.part_sending(first, 1, None, 3_000).unwrap();
        assert_eq!(store.due(5_000, 10).unwrap(), [later, second]);
    }

    #[test]
    fn the_budget_counts_each_part_handed_over_once_and_not_those_that_did_not_go() {
        let mut store = Store::in_memory().unwrap();
        let id = store
            .enqueue("OUT+4912345.txt", &file(9), "+4912345", 3, 1000)
            .unwrap()
            .id;
        store.part_sending(id, 1, None, 2000).unwrap();
        store.part_sent(id, 1, 7, 2001).unwrap();
        store.part_sending(id, 2, None, 3000).unwrap();
        // A second attempt at the same part is not a second part.
        store.part_sending(id, 2, None, 3500).unwrap();
        assert_eq!(store.parts_used_since(0).unwrap(), 2);
        assert_eq!(store.parts_used_since(2500).unwrap(), 1);
        assert_eq!(store.parts_used_by(id).unwrap(), 2);
        // Part 2 did not go out; part 3 went nowhere either.
        store.part_not_sent(id, 2).unwrap();
        store.part_sending(id, 3, None, 4000).unwrap();
        store.resolved_not_sent(id, 3, 4100).unwrap();
        assert_eq!(store.parts_used_since(0).unwrap(), 1);
        assert_eq!(store.parts_used_by(id).unwrap(), 1);
    }

    fn bound_to(store: &Store, id: i64) -> Option<String> {
        store
            .connection
            .query_row("SELECT modem FROM outgoing WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .unwrap()
    }

    #[test]
    fn a_message_is_bound_to_the_modem_a_part_went_out_through() {
        let mut store = Store::in_memory().unwrap();
        let long = store
            .enqueue("OUT+491.txt", &file(1), "+491", 2, 1000)
            .unwrap()
            .id;
        assert_eq!(bound_to(&store, long), None);
        // A part that surely did not go out leaves the message to any modem.
        store
            .part_sending_on(Some("a"), long, 1, None, 2000)
            .unwrap();
        assert_eq!(bound_to(&store, long).as_deref(), Some("a"));
        store.part_not_sent(long, 1).unwrap();
        assert_eq!(bound_to(&store, long), None);
        // Once a part went out through `b`, the rest follows it there,
        // whatever becomes of the next part.
        store
            .part_sending_on(Some("b"), long, 1, None, 3000)
            .unwrap();
        store.part_sent(long, 1, 7, 3001).unwrap();
        store
            .part_sending_on(Some("b"), long, 2, None, 3002)
            .unwrap();
        store.part_not_sent(long, 2).unwrap();
        assert_eq!(bound_to(&store, long).as_deref(), Some("b"));
        store
            .part_sending_on(Some("b"), long, 2, None, 4000)
            .unwrap();
        store.mark_resolving(long, 2, "no answer", 4001).unwrap();
        store.resolved_not_sent(long, 2, 4002).unwrap();
        assert_eq!(bound_to(&store, long).as_deref(), Some("b"));
        // A restart keeps it too.
        store
            .part_sending_on(Some("b"), long, 2, None, 5000)
            .unwrap();
        store.part_not_sent(long, 2).unwrap();
        store
            .connection
            .execute(
                "UPDATE outgoing SET state = 'sending' WHERE id = ?1",
                [long],
            )
            .unwrap();
        store.recover(6000).unwrap();
        assert_eq!(bound_to(&store, long).as_deref(), Some("b"));

        // A part in doubt handed back stays with the modem that had it (it
        // alone can tell that it went out); one that surely did not is
        // free again.
        let short = store
            .enqueue("OUT+492.txt", &file(2), "+492", 1, 1000)
            .unwrap()
            .id;
        store
            .part_sending_on(Some("a"), short, 1, None, 2000)
            .unwrap();
        assert!(store.held_in_doubt_by(short).unwrap().is_empty());
        store.mark_resolving(short, 1, "no answer", 2001).unwrap();
        store.resolved_not_sent_until(short, 1, 9000, 2002).unwrap();
        assert_eq!(bound_to(&store, short).as_deref(), Some("a"));
        assert_eq!(store.held_in_doubt_by(short).unwrap(), vec!["a".to_owned()]);
        // A later try that surely did not go out (the phone was offline)
        // says nothing of the first: still bound.
        store
            .part_sending_on(Some("a"), short, 1, None, 9000)
            .unwrap();
        store.part_not_sent(short, 1).unwrap();
        assert_eq!(bound_to(&store, short).as_deref(), Some("a"));
        store
            .part_sending_on(Some("a"), short, 1, None, 9000)
            .unwrap();
        store.mark_resolving(short, 1, "no answer", 9001).unwrap();
        store.resolved_not_sent(short, 1, 9002).unwrap();
        assert_eq!(bound_to(&store, short), None);
    }

    #[test]
    fn the_budget_warning_is_noted_once_a_month() {
        let mut store = Store::in_memory().unwrap();
        assert!(!store.budget_warned(100).unwrap());
        assert!(store.note_budget_warning(100, 150).unwrap());
        assert!(!store.note_budget_warning(100, 160).unwrap());
        assert!(store.budget_warned(100).unwrap());
        assert!(!store.budget_warned(200).unwrap());
    }

    #[test]
    fn messages_held_for_a_reason_are_released_and_no_others() {
        let mut store = Store::in_memory().unwrap();
        let budget = store
            .enqueue("OUT+491.txt", &file(1), "+491", 1, 1000)
            .unwrap()
            .id;
        let limit = store
            .enqueue("OUT+492.txt", &file(2), "+492", 1, 1000)
            .unwrap()
            .id;
        store
            .hold_queued(
                9000,
                Some("+491"),
                "the monthly budget is used up (3 of 3)",
                1000,
            )
            .unwrap();
        store
            .hold_queued(9000, Some("+492"), "limits.messages_per_hour = 1", 1000)
            .unwrap();
        assert_eq!(
            store
                .release_held("the monthly budget is used up", 2000)
                .unwrap(),
            1
        );
        assert_eq!(store.due(2000, 10).unwrap(), [budget]);
        assert_eq!(store.due(9000, 10).unwrap(), [budget, limit]);
    }

    #[test]
    fn a_message_goes_through_its_states() {
        let mut store = Store::in_memory().unwrap();
        let message = store
            .enqueue("OUT+4912345.txt", &file(7), "+4912345", 2, 1000)
            .unwrap();
        assert_eq!(
            (
                message.state,
                message.parts_total,
                message.attempts,
                message.file_id
            ),
            (MessageState::Queued, 2, 0, file(7))
        );
        assert!(message.has_file);
        assert_eq!(store.due(999, 10).unwrap(), Vec::<i64>::new());
        assert_eq!(store.due(1000, 10).unwrap(), vec![message.id]);
        assert_eq!(
            store.active_by_name("OUT+4912345.txt").unwrap().unwrap().id,
            message.id
        );
        // One name, one active message.
        assert!(store
            .enqueue("OUT+4912345.txt", &file(8), "+4912345", 1, 1000)
            .is_err());

        assert_eq!(store.count_attempt(message.id, 1000).unwrap(), 1);
        store.part_sending(message.id, 1, Some(41), 1001).unwrap();
        store.part_sent(message.id, 1, 42, 1002).unwrap();
        store.part_sending(message.id, 2, Some(42), 1003).unwrap();
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
        store.forget_file(message.id).unwrap();
        assert!(store.active_by_name("OUT+4912345.txt").unwrap().is_none());
        assert!(!store.get(message.id).unwrap().unwrap().has_file);
        // The name is free for a new file.
        assert!(store
            .enqueue("OUT+4912345.txt", &file(9), "+4912345", 1, 2000)
            .is_ok());
        assert_eq!(
            store.counts().unwrap(),
            Counts {
                sent: 1,
                queued: 1,
                ..Counts::default()
            }
        );
    }

    #[test]
    fn retries_are_scheduled_and_attempts_counted_once() {
        let mut store = Store::in_memory().unwrap();
        let id = store.enqueue("f", &file(1), "+1", 1, 0).unwrap().id;
        assert_eq!(store.count_attempt(id, 1).unwrap(), 1);
        store
            .retry_later(id, "network out of order", 5000, 10)
            .unwrap();
        assert_eq!(store.get(id).unwrap().unwrap().attempts, 1);
        // One the modem failed is taken back, never below none.
        assert_eq!(store.count_attempt(id, 2).unwrap(), 2);
        store.uncount_attempt(id).unwrap();
        assert_eq!(store.get(id).unwrap().unwrap().attempts, 1);
        store.uncount_attempt(id).unwrap();
        store.uncount_attempt(id).unwrap();
        assert_eq!(store.get(id).unwrap().unwrap().attempts, 0);
        assert_eq!(store.count_attempt(id, 3).unwrap(), 1);
        assert_eq!(store.due(4999, 10).unwrap(), Vec::<i64>::new());
        assert_eq!(store.next_due_ms().unwrap(), Some(5000));
        let message = store.get(id).unwrap().unwrap();
        assert_eq!(message.last_error.as_deref(), Some("network out of order"));
        let waiting = |store: &Store| store.waiting().unwrap().len();
        assert_eq!(waiting(&store), 1);
        store.mark_failed(id, "gave up", 6000).unwrap();
        assert_eq!(store.counts().unwrap().failed, 1);
        assert_eq!(store.next_due_ms().unwrap(), None);
        // Finished, its file not moved yet: still holds the name.
        store.file_pending(id).unwrap();
        assert_eq!(store.files_pending().unwrap().len(), 1);
        assert_eq!(waiting(&store), 0);
        store.forget_file(id).unwrap();
        assert!(store.files_pending().unwrap().is_empty());
    }

    #[test]
    fn a_deleted_file_cancels_its_message() {
        let mut store = Store::in_memory().unwrap();
        let id = store.enqueue("OUT+1.txt", &file(1), "+1", 1, 0).unwrap().id;
        store.cancel(id, "deleted from the outbox", 5).unwrap();
        let message = store.get(id).unwrap().unwrap();
        assert_eq!(message.state, MessageState::Cancelled);
        assert!(!message.has_file);
        assert_eq!(store.counts().unwrap().cancelled, 1);
        assert!(store.due(10, 10).unwrap().is_empty());
        assert!(store.active_by_name("OUT+1.txt").unwrap().is_none());
    }

    #[test]
    fn a_crash_while_sending_is_resolved_never_resent_blindly() {
        let dir = std::env::temp_dir().join(format!("simgate-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let (id, other) = {
            let mut store = Store::open(&path).unwrap();
            let id = store.enqueue("c", &file(1), "+1", 3, 0).unwrap().id;
            store.part_sending(id, 1, Some(6), 1).unwrap();
            store.part_sent(id, 1, 7, 2).unwrap();
            store.part_sending(id, 2, Some(7), 3).unwrap();
            let other = store.enqueue("d", &file(2), "+2", 1, 0).unwrap().id;
            store.part_sending(other, 1, None, 4).unwrap();
            store.part_not_sent(other, 1).unwrap();
            (id, other)
            // Dropped here without finishing: as if the process died.
        };
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.recover(10).unwrap(), vec![id]);
        assert_eq!(
            store.get(id).unwrap().unwrap().state,
            MessageState::Resolving
        );
        assert_eq!(
            store.resolving().unwrap(),
            [Resolving {
                id,
                part: 2,
                mr_before: Some(7),
                modem: None,
            }]
        );
        let states: Vec<PartState> = store.parts(id).unwrap().iter().map(|p| p.state).collect();
        assert_eq!(
            states,
            [PartState::Sent, PartState::Ambiguous, PartState::Pending]
        );
        // The message whose part was cleanly not sent is queued again.
        assert_eq!(
            store.get(other).unwrap().unwrap().state,
            MessageState::Queued
        );
        // The modem says part 2 went out as TP-MR 8: it goes on with part 3.
        store.resolved_sent(id, 2, 8, 20).unwrap();
        assert_eq!(store.get(id).unwrap().unwrap().state, MessageState::Queued);
        assert_eq!(store.parts(id).unwrap()[1].message_ref, Some(8));
        assert!(store.resolving().unwrap().is_empty());
        // Another that did not go out is sent again, once.
        store.part_sending(other, 1, Some(8), 21).unwrap();
        store.mark_resolving(other, 1, "no answer", 22).unwrap();
        store.resolved_not_sent(other, 1, 23).unwrap();
        assert_eq!(store.parts(other).unwrap()[0].state, PartState::Pending);
        assert_eq!(store.due(23, 10).unwrap(), vec![id, other]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
