//! Received messages in SQLite: the parts as read from the modem, the
//! messages assembled from them, and the PDUs that did not decode.
//!
//! A part is recorded (keyed on its stored content) before it is deleted
//! from the SIM; a message is recorded as `writing` with its inbox file
//! names before the files are written, and `written` after, so a restart
//! finishes what was started and never writes a file twice.

use super::{Durability, Store, StoreError};
use crate::pdu::Concatenation;
use rusqlite::{params, OptionalExtension};

/// One received part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IncomingPart {
    /// Row id.
    pub id: i64,
    /// The PDU as the modem listed it (SMSC field, then TPDU).
    pub pdu: Vec<u8>,
    /// Sender as people write it.
    pub sender: String,
    /// Where it sits in a concatenated message; `None` for a single SMS.
    pub concat: Option<Concatenation>,
    /// When simgate read it.
    pub received_ms: i64,
}

/// What a status report says, for [`Store::add_status_report`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReportRecord<'a> {
    /// TP-MR of the message it reports on.
    pub message_ref: u8,
    /// TP-RA as people write it.
    pub recipient: &'a str,
    /// TP-ST.
    pub status: u8,
    /// `delivered`, `pending` or `failed`.
    pub outcome: &'a str,
    /// TP-DT, ISO 8601.
    pub discharge_time: &'a str,
}

/// A message whose inbox files are being written or were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IncomingMessage {
    /// Row id.
    pub id: i64,
    /// The inbox file names.
    pub files: Vec<String>,
    /// Whether its files are on disk.
    pub written: bool,
    /// Whether every part arrived.
    pub complete: bool,
}

impl Store {
    /// Whether a part with this stored content was already recorded (or
    /// kept as undecodable): it can be deleted from the SIM at once.
    pub(crate) fn incoming_known(&self, content_key: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = self
            .connection
            .query_row(
                "SELECT 1 FROM incoming_part WHERE content_key = ?1
                 UNION ALL SELECT 1 FROM undecodable WHERE content_key = ?1
                 UNION ALL SELECT 1 FROM status_report WHERE content_key = ?1 LIMIT 1",
                params![content_key],
                |row| row.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// The part recorded with this content: its id, and the message it was
    /// assembled into, if it was.
    pub(crate) fn incoming_part_by_key(
        &self,
        content_key: &str,
    ) -> Result<Option<(i64, Option<i64>)>, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT id, message_id FROM incoming_part WHERE content_key = ?1",
                params![content_key],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
    }

    /// Whether part `id` was assembled into a message (true for an unknown id).
    pub(crate) fn incoming_part_assembled(&self, id: i64) -> Result<bool, StoreError> {
        let message: Option<Option<i64>> = self
            .connection
            .query_row(
                "SELECT message_id FROM incoming_part WHERE id = ?1",
                params![id],
                |row| row.get(0),
            )
            .optional()?;
        Ok(!matches!(message, Some(None)))
    }

    /// The sent message a recorded status report was matched to: its id,
    /// the part and its outbox file's name (`None`: matched to none, or
    /// no such report).
    pub(crate) fn report_subject(
        &self,
        message_ref: u8,
        recipient: &str,
        discharge_time: &str,
    ) -> Result<Option<(i64, u32, String)>, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT s.message_id, s.part, o.file_name FROM status_report s
                 JOIN outgoing o ON o.id = s.message_id
                 WHERE s.message_ref = ?1 AND s.recipient = ?2 AND s.discharge_time = ?3
                 ORDER BY s.received_ms DESC LIMIT 1",
                params![message_ref, recipient, discharge_time],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?)
    }

    /// Whether a status report with this content was recorded.
    pub(crate) fn status_report_known(&self, content_key: &str) -> Result<bool, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT 1 FROM status_report WHERE content_key = ?1",
                params![content_key],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Every part not yet assembled into a message, oldest first.
    pub(crate) fn unassembled_parts(&self) -> Result<Vec<i64>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT id FROM incoming_part WHERE message_id IS NULL ORDER BY id")?;
        let ids = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Records a part; returns its id.
    pub fn add_incoming_part(
        &mut self,
        content_key: &str,
        pdu: &[u8],
        sender: &str,
        concat: Option<Concatenation>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let part = NewPart {
            content_key,
            pdu,
            sender,
            concat,
            now_ms,
        };
        insert_part(&self.connection, &part)
    }

    /// Keeps a PDU that did not decode, with the reason.
    pub(crate) fn add_undecodable(
        &mut self,
        content_key: &str,
        pdu_hex: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT OR IGNORE INTO undecodable (content_key, pdu_hex, reason, received_ms) VALUES (?1, ?2, ?3, ?4)",
            params![content_key, pdu_hex, reason, now_ms],
        )?;
        Ok(())
    }

    /// Records a status report and matches it to the sent part with that
    /// TP-MR whose recipient is the same number (national and international
    /// forms compared by their last nine digits), most recent first. Returns
    /// the matched `(message id, part)`.
    pub(crate) fn add_status_report(
        &mut self,
        content_key: &str,
        report: &ReportRecord<'_>,
        now_ms: i64,
    ) -> Result<Option<(i64, u32)>, StoreError> {
        let candidates: Vec<(i64, u32, String)> = {
            let mut statement = self.connection.prepare_cached(REPORT_CANDIDATES)?;
            let rows = statement
                .query_map(params![report.message_ref], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            rows
        };
        let matched = candidates
            .into_iter()
            .find(|(_, _, to)| same_number(to, report.recipient))
            .map(|(id, part, _)| (id, part));
        let transaction = self.atomic()?;
        transaction.execute(
            "INSERT OR IGNORE INTO status_report (content_key, message_ref, recipient, status, discharge_time,
                                                  message_id, part, received_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                content_key,
                report.message_ref,
                report.recipient,
                report.status,
                report.discharge_time,
                matched.map(|m| m.0),
                matched.map(|m| m.1),
                now_ms
            ],
        )?;
        if let Some((id, part)) = matched {
            transaction.execute(
                "UPDATE outgoing_part SET report_status = ?3, report_outcome = ?4, discharge_time = ?5
                 WHERE message_id = ?1 AND part = ?2",
                params![id, part, report.status, report.outcome, report.discharge_time],
            )?;
        }
        transaction.commit()?;
        Ok(matched)
    }

    /// Records an incoming (missed) call.
    pub(crate) fn add_call(
        &mut self,
        caller: &str,
        hung_up: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT INTO call (caller, hung_up, at_ms) VALUES (?1, ?2, ?3)",
            params![caller, hung_up, now_ms],
        )?;
        Ok(())
    }

    /// Received messages, written or being written to the inbox.
    pub(crate) fn received_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .connection
            .query_row("SELECT COALESCE(MAX(id), 0) FROM incoming", [], |row| {
                row.get(0)
            })?)
    }

    /// How many undecodable PDUs were kept. (Like [`received_count`], the
    /// highest row id: rows are never deleted, and it costs a B-tree lookup
    /// instead of a scan, on every status update.)
    ///
    /// [`received_count`]: Self::received_count
    pub(crate) fn undecodable_count(&self) -> Result<u64, StoreError> {
        Ok(self.connection.query_row(
            "SELECT COALESCE(MAX(id), 0) FROM undecodable",
            [],
            |row| row.get(0),
        )?)
    }

    /// The unassembled parts of the concatenated message `part` belongs to
    /// (same sender, reference and total), one per sequence number, in order;
    /// or `part` alone for a single SMS.
    pub(crate) fn open_group(&self, part: i64) -> Result<Vec<IncomingPart>, StoreError> {
        let Some(anchor) = self.incoming_part(part)? else {
            return Ok(Vec::new());
        };
        let Some(concat) = anchor.concat else {
            return Ok(vec![anchor]);
        };
        self.waiting_parts(&anchor.sender, concat.reference, concat.total)
    }

    /// The unassembled parts from `sender` with this concatenation reference
    /// and total, one per sequence number (the first recorded), in order.
    pub(crate) fn waiting_parts(
        &self,
        sender: &str,
        reference: u16,
        total: u8,
    ) -> Result<Vec<IncomingPart>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id, pdu, sender, concat_ref, concat_total, concat_seq, received_ms FROM incoming_part
             WHERE message_id IS NULL AND sender = ?1 AND concat_ref = ?2 AND concat_total = ?3
             ORDER BY concat_seq, id",
        )?;
        let mut parts: Vec<IncomingPart> = statement
            .query_map(params![sender, reference, total], part_from_row)?
            .collect::<Result<_, _>>()?;
        // A duplicated part (same sequence number) counts once.
        parts.dedup_by_key(|p| p.concat.map(|c| c.sequence));
        Ok(parts)
    }

    /// One part by id.
    pub(crate) fn incoming_part(&self, id: i64) -> Result<Option<IncomingPart>, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT id, pdu, sender, concat_ref, concat_total, concat_seq, received_ms FROM incoming_part WHERE id = ?1",
                params![id],
                part_from_row,
            )
            .optional()?)
    }

    /// Parts of concatenated messages still waiting for the rest, received
    /// before `before_ms`: one id per waiting group.
    pub(crate) fn stale_groups(&self, before_ms: i64) -> Result<Vec<i64>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT MIN(id) FROM incoming_part WHERE message_id IS NULL AND concat_ref IS NOT NULL
             GROUP BY sender, concat_ref, concat_total HAVING MIN(received_ms) < ?1",
        )?;
        let ids = statement
            .query_map(params![before_ms], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Starts a message from these parts, with the inbox file names it will
    /// have, before the files are written.
    pub(crate) fn begin_incoming(
        &mut self,
        parts: &[i64],
        files: &[String],
        complete: bool,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let transaction = self.atomic()?;
        let id = begin_in(&transaction, parts, files, complete, now_ms)?;
        transaction.commit()?;
        Ok(id)
    }

    /// Records the part that completes a message and starts that message
    /// (with `others`, the parts that waited for it, and the inbox file
    /// names it will have), in one commit: [`add_incoming_part`] and
    /// [`begin_incoming`] together, one fsync fewer for every message.
    /// Returns the part's and the message's ids.
    ///
    /// [`add_incoming_part`]: Self::add_incoming_part
    /// [`begin_incoming`]: Self::begin_incoming
    pub(crate) fn add_completing_part(
        &mut self,
        part: &NewPart<'_>,
        others: &[i64],
        files: &[String],
    ) -> Result<(i64, i64), StoreError> {
        let transaction = self.atomic()?;
        let id = insert_part(&transaction, part)?;
        let mut parts = others.to_vec();
        parts.push(id);
        let message = begin_in(&transaction, &parts, files, true, part.now_ms)?;
        transaction.commit()?;
        Ok((id, message))
    }

    /// The parts from `sender` with this concatenation reference and total
    /// that were assembled into messages, read since `since_ms`: where a
    /// repeated part would have its original. Each with its message's id,
    /// newest first.
    pub(crate) fn assembled_parts(
        &self,
        sender: &str,
        reference: u16,
        total: u8,
        since_ms: i64,
    ) -> Result<Vec<(i64, IncomingPart)>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT message_id, id, pdu, sender, concat_ref, concat_total, concat_seq, received_ms
             FROM incoming_part INDEXED BY incoming_part_assembled
             WHERE message_id IS NOT NULL AND concat_ref IS NOT NULL AND sender = ?1
               AND concat_ref = ?2 AND concat_total = ?3 AND received_ms >= ?4
             ORDER BY id DESC",
        )?;
        let parts = statement
            .query_map(params![sender, reference, total, since_ms], |row| {
                Ok((row.get(0)?, part_from_row_at(row, 1)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(parts)
    }

    /// `parts` (unassembled) join `message`, which they repeat: nothing is
    /// written for them, and they no longer wait.
    pub(crate) fn join_message(&mut self, parts: &[i64], message: i64) -> Result<(), StoreError> {
        let transaction = self.atomic()?;
        for part in parts {
            transaction.execute(
                "UPDATE incoming_part SET message_id = ?2 WHERE id = ?1 AND message_id IS NULL",
                params![part, message],
            )?;
        }
        transaction.commit()?;
        Ok(())
    }

    /// Notes where this process starts: the received messages recorded so
    /// far are from before it ([`Self::recorded_before_start`]). Message
    /// ids only grow (rows of `incoming` are never deleted).
    pub(crate) fn mark_start(&mut self) -> Result<(), StoreError> {
        self.incoming_before_start =
            self.connection
                .query_row("SELECT COALESCE(MAX(id), 0) FROM incoming", [], |row| {
                    row.get(0)
                })?;
        Ok(())
    }

    /// Whether received message `id` was recorded before this process
    /// started (all are, until [`Self::mark_start`]): a write of its files
    /// before a restart may have left them under its names.
    pub(crate) fn recorded_before_start(&self, id: i64) -> bool {
        id <= self.incoming_before_start
    }

    /// Gives message `id` other inbox file names (before its files are
    /// written under them), synced: a restart must never write it again
    /// under the names it gave up.
    pub(crate) fn rename_incoming_files(
        &mut self,
        id: i64,
        files: &[String],
    ) -> Result<(), StoreError> {
        self.batch(Durability::Now, |store| {
            store.connection.execute(
                "UPDATE incoming SET files = ?2 WHERE id = ?1",
                params![id, files.join("\n")],
            )?;
            Ok(())
        })
    }

    /// The message's files are durably on disk; `hook`: its RunOnReceive
    /// hook is to be started.
    pub(crate) fn incoming_written(&mut self, id: i64, hook: bool) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE incoming SET state = 'written', hook = ?2 WHERE id = ?1",
            params![id, if hook { "pending" } else { "none" }],
        )?;
        Ok(())
    }

    /// The message's hook was started. Not synced to disk on its own (the
    /// next commit syncs it): a process killed right after still has it on
    /// record; only a power cut in between can run the hook a second time.
    pub(crate) fn hook_started(&mut self, id: i64) -> Result<(), StoreError> {
        self.batch(Durability::WithNextCommit, |store| {
            store.connection.execute(
                "UPDATE incoming SET hook = 'started' WHERE id = ?1",
                params![id],
            )?;
            Ok(())
        })
    }

    /// Written messages whose hook was never started.
    pub(crate) fn hooks_pending(&self) -> Result<Vec<i64>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id FROM incoming WHERE state = 'written' AND hook = 'pending' ORDER BY id",
        )?;
        let ids = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// The message part `id` was assembled into.
    pub(crate) fn message_of_part(&self, part: i64) -> Result<Option<IncomingMessage>, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT m.id, m.files, m.state, m.complete FROM incoming m
                 JOIN incoming_part p ON p.message_id = m.id WHERE p.id = ?1",
                params![part],
                message_from_row,
            )
            .optional()?)
    }

    /// Whether a message recorded but not written yet (its files wait for
    /// room in the inbox) will be written under `name` first (answered
    /// from the partial index `incoming_unwritten`).
    pub(crate) fn name_being_written(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT 1 FROM incoming WHERE state = 'writing'
                 AND (files = ?1 OR substr(files, 1, length(?1) + 1) = ?1 || char(10)) LIMIT 1",
            )?
            .exists(params![name])?)
    }

    /// Messages whose files are not written yet (a write that failed, or
    /// simgate stopped while writing), oldest first.
    pub(crate) fn incoming_unwritten(&self) -> Result<Vec<i64>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT id FROM incoming WHERE state = 'writing' ORDER BY id")?;
        let ids = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// The parts of message `id`, in order.
    pub(crate) fn incoming_parts_of(&self, id: i64) -> Result<Vec<IncomingPart>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id, pdu, sender, concat_ref, concat_total, concat_seq, received_ms FROM incoming_part
             WHERE message_id = ?1 ORDER BY concat_seq, id",
        )?;
        let parts = statement
            .query_map(params![id], part_from_row)?
            .collect::<Result<_, _>>()?;
        Ok(parts)
    }

    /// A received message by id.
    pub(crate) fn incoming_message(&self, id: i64) -> Result<Option<IncomingMessage>, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT id, files, state, complete FROM incoming WHERE id = ?1",
                params![id],
                message_from_row,
            )
            .optional()?)
    }
}

fn message_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<IncomingMessage> {
    let files: String = row.get(1)?;
    let state: String = row.get(2)?;
    Ok(IncomingMessage {
        id: row.get(0)?,
        files: files.lines().map(str::to_owned).collect(),
        written: state == "written",
        complete: row.get(3)?,
    })
}

/// A part to record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewPart<'a> {
    /// Its content key (the stored PDU as hex).
    pub content_key: &'a str,
    /// The PDU as the modem listed it.
    pub pdu: &'a [u8],
    /// Sender (for a status report, the recipient it reports on).
    pub sender: &'a str,
    /// Where it sits in a concatenated message; `None` for a single SMS.
    pub concat: Option<Concatenation>,
    /// When it was read.
    pub now_ms: i64,
}

fn insert_part(connection: &rusqlite::Connection, part: &NewPart<'_>) -> Result<i64, StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO incoming_part (content_key, pdu, sender, concat_ref, concat_total, concat_seq, received_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            part.content_key,
            part.pdu,
            part.sender,
            part.concat.map(|c| c.reference),
            part.concat.map(|c| c.total),
            part.concat.map(|c| c.sequence),
            part.now_ms
        ])?;
    Ok(connection.last_insert_rowid())
}

/// Starts a message from `parts` inside `transaction`; see
/// [`Store::begin_incoming`].
fn begin_in(
    transaction: &rusqlite::Connection,
    parts: &[i64],
    files: &[String],
    complete: bool,
    now_ms: i64,
) -> Result<i64, StoreError> {
    transaction
        .prepare_cached(
            "INSERT INTO incoming (state, complete, files, created_ms) VALUES ('writing', ?1, ?2, ?3)",
        )?
        .execute(params![complete, files.join("\n"), now_ms])?;
    let id = transaction.last_insert_rowid();
    for part in parts {
        transaction
            .prepare_cached("UPDATE incoming_part SET message_id = ?1 WHERE id = ?2")?
            .execute(params![id, part])?;
    }
    // A waiting part with a sequence number the message already has is
    // not taken along: it may be the first part of another message that
    // reuses the reference. It waits for its own message's parts; one the
    // network repeated joins its message at the multipart timeout
    // (`daemon::receive`, which compares the content).
    Ok(id)
}

/// Whether two numbers are the same subscriber: equal digits, or equal last
/// nine digits (national `0176…` against international `+49176…`).
pub(crate) fn same_number(a: &str, b: &str) -> bool {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let (a, b) = (digits(a), digits(b));
    if a == b {
        return true;
    }
    let tail = |s: &str| s[s.len().saturating_sub(9)..].to_owned();
    a.len() >= 9 && b.len() >= 9 && tail(&a) == tail(&b)
}

fn part_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<IncomingPart> {
    part_from_row_at(row, 0)
}

/// A part from the row's columns `at` to `at + 6` (id, pdu, sender,
/// reference, total, sequence, received_ms).
fn part_from_row_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<IncomingPart> {
    let reference: Option<u16> = row.get(at + 3)?;
    let total: Option<u8> = row.get(at + 4)?;
    let sequence: Option<u8> = row.get(at + 5)?;
    Ok(IncomingPart {
        id: row.get(at)?,
        pdu: row.get(at + 1)?,
        sender: row.get(at + 2)?,
        concat: match (reference, total, sequence) {
            (Some(reference), Some(total), Some(sequence)) => Some(Concatenation {
                reference,
                total,
                sequence,
            }),
            _ => None,
        },
        received_ms: row.get(at + 6)?,
    })
}

/// The parts sent with a reference (`?1`), the latest first: what a
/// status report with it may be for. Looked up by `outgoing_part_ref`,
/// which holds only the parts that have a reference.
const REPORT_CANDIDATES: &str = "SELECT p.message_id, p.part, o.recipient
     FROM outgoing_part p JOIN outgoing o ON o.id = p.message_id
     WHERE p.message_ref = ?1 AND p.state = 'sent' ORDER BY p.sent_ms DESC";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_looks_its_parts_up_by_reference_not_through_every_part() {
        let store = Store::in_memory().unwrap();
        let mut statement = store
            .connection
            .prepare(&format!("EXPLAIN QUERY PLAN {REPORT_CANDIDATES}"))
            .unwrap();
        let steps: Vec<String> = statement
            .query_map([7], |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            steps
                .iter()
                .any(|step| step.contains("SEARCH p USING INDEX outgoing_part_ref")),
            "{steps:?}"
        );
    }

    /// Part `sequence` of `total` with this reference.
    fn part_of(reference: u16, total: u8, sequence: u8) -> Option<Concatenation> {
        Some(Concatenation {
            reference,
            total,
            sequence,
        })
    }

    #[test]
    fn parts_group_into_messages_and_duplicates_count_once() {
        let mut store = Store::in_memory().unwrap();
        let a2 = store
            .add_incoming_part("k2", b"p2", "+491", part_of(7, 3, 2), 10)
            .unwrap();
        let _other_sender = store
            .add_incoming_part("x1", b"x1", "+492", part_of(7, 3, 1), 10)
            .unwrap();
        let a1 = store
            .add_incoming_part("k1", b"p1", "+491", part_of(7, 3, 1), 11)
            .unwrap();
        let dup = store
            .add_incoming_part("k1b", b"p1b", "+491", part_of(7, 3, 1), 12)
            .unwrap();
        assert!(store.incoming_known("k1").unwrap());
        assert!(!store.incoming_known("k3").unwrap());
        let group = store.open_group(a2).unwrap();
        assert_eq!(group.iter().map(|p| p.id).collect::<Vec<_>>(), [a1, a2]);
        let a3 = store
            .add_incoming_part("k3", b"p3", "+491", part_of(7, 3, 3), 13)
            .unwrap();
        let group = store.open_group(a3).unwrap();
        assert_eq!(group.len(), 3);
        let ids: Vec<i64> = group.iter().map(|p| p.id).collect();
        let message = store
            .begin_incoming(&ids, &["IN_a.txt".to_owned()], true, 20)
            .unwrap();
        assert_eq!(store.incoming_unwritten().unwrap(), vec![message]);
        store.incoming_written(message, true).unwrap();
        assert_eq!(store.hooks_pending().unwrap(), [message]);
        store.hook_started(message).unwrap();
        assert!(store.hooks_pending().unwrap().is_empty());
        assert!(store.incoming_unwritten().unwrap().is_empty());
        // The other part 1 did not join the message: it may begin another
        // message that reuses the reference. It waits, as does the other
        // sender's part.
        assert_eq!(store.incoming_parts_of(message).unwrap().len(), 3);
        assert_eq!(store.stale_groups(100).unwrap().len(), 2);
        assert_eq!(store.open_group(dup).unwrap().len(), 1);
        // The same part again later (another time stamp): it waits, and
        // finds its original among the assembled parts read since then.
        let late = store
            .add_incoming_part("k2b", b"p2b", "+491", part_of(7, 3, 2), 25)
            .unwrap();
        assert_eq!(
            store.open_group(late).unwrap().len(),
            2,
            "with the other part 1"
        );
        assert!(
            store.assembled_parts("+491", 7, 3, 100).unwrap().is_empty(),
            "too old"
        );
        let originals = store.assembled_parts("+491", 7, 3, 0).unwrap();
        assert_eq!(originals.len(), 3);
        assert!(originals.iter().all(|(m, _)| *m == message));
        assert!(
            store.assembled_parts("+492", 7, 3, 0).unwrap().is_empty(),
            "another sender"
        );
        store.join_message(&[late], message).unwrap();
        assert!(store.incoming_part_assembled(late).unwrap());
        assert_eq!(store.incoming_parts_of(message).unwrap().len(), 4);
        let single = store
            .add_incoming_part("s", b"s", "+493", None, 30)
            .unwrap();
        assert_eq!(store.open_group(single).unwrap().len(), 1);
        store
            .add_undecodable("bad", "00FF", "truncated", 40)
            .unwrap();
        assert!(store.incoming_known("bad").unwrap());
        assert_eq!(store.undecodable_count().unwrap(), 1);
    }

    #[test]
    fn senders_sharing_a_reference_wait_and_go_stale_apart() {
        let mut store = Store::in_memory().unwrap();
        let c1 = store
            .add_incoming_part("c1", b"c1", "+4963", part_of(0x43, 3, 1), 1)
            .unwrap();
        let d2 = store
            .add_incoming_part("d2", b"d2", "+4964", part_of(0x43, 3, 2), 2)
            .unwrap();
        let d1 = store
            .add_incoming_part("d1", b"d1", "+4964", part_of(0x43, 3, 1), 3)
            .unwrap();
        let c3 = store
            .add_incoming_part("c3", b"c3", "+4963", part_of(0x43, 3, 3), 4)
            .unwrap();
        let ids = |group: Vec<IncomingPart>| group.iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(
            ids(store.waiting_parts("+4963", 0x43, 3).unwrap()),
            [c1, c3]
        );
        assert_eq!(
            ids(store.waiting_parts("+4964", 0x43, 3).unwrap()),
            [d1, d2]
        );
        let stale = store.stale_groups(10).unwrap();
        assert_eq!(stale.len(), 2, "one group per sender");
        let mut groups: Vec<Vec<i64>> = stale
            .into_iter()
            .map(|part| ids(store.open_group(part).unwrap()))
            .collect();
        groups.sort();
        assert_eq!(groups, [vec![c1, c3], vec![d1, d2]]);
    }

    #[test]
    fn the_completing_part_and_its_message_are_recorded_together() {
        let mut store = Store::in_memory().unwrap();
        let first = store
            .add_incoming_part("a1", b"a1", "+491", part_of(9, 2, 1), 1)
            .unwrap();
        let waiting = store.waiting_parts("+491", 9, 2).unwrap();
        assert_eq!(waiting.iter().map(|p| p.id).collect::<Vec<_>>(), [first]);
        let last = NewPart {
            content_key: "a2",
            pdu: b"a2",
            sender: "+491",
            concat: part_of(9, 2, 2),
            now_ms: 2,
        };
        let (part, message) = store
            .add_completing_part(
                &last,
                &[first],
                &["IN_1.txt".to_owned(), "IN_2.txt".to_owned()],
            )
            .unwrap();
        assert!(store.incoming_part_assembled(part).unwrap());
        assert!(store.incoming_part_assembled(first).unwrap());
        assert_eq!(store.incoming_parts_of(message).unwrap().len(), 2);
        assert_eq!(store.incoming_unwritten().unwrap(), [message]);
        let recorded = store.incoming_message(message).unwrap().unwrap();
        assert_eq!(recorded.files, ["IN_1.txt", "IN_2.txt"]);
        assert!(store.waiting_parts("+491", 9, 2).unwrap().is_empty());
        // The same content again is known, not a new part.
        assert!(store.add_completing_part(&last, &[], &[]).is_err());
    }
}
