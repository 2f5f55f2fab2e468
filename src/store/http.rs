//! What the HTTP API keeps in the database, through connections of its
//! own (never the daemon's): the requests that queued a message (for the
//! per-client limit and `Idempotency-Key`; a request whose outbox file
//! could not be written is withdrawn), and the reads behind
//! `/sms/status`, `/metrics` and the outcome of a request. Every write is
//! one `IMMEDIATE` transaction, so the limit check and the row it adds
//! are one step even with several connections.

use super::outgoing::MessageState;
use super::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// A request that queued a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// Its id (the message id the API answers with).
    pub id: i64,
    /// The client it counts against.
    pub client: String,
    /// The destination.
    pub number: String,
    /// A hash of the text, to tell a retry from a different message.
    pub text_hash: String,
    /// The outbox file it queued.
    pub file_name: String,
    /// When it came (ms since the epoch).
    pub created_ms: i64,
}

/// What a new request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Recorded: queue its file now.
    New(Request),
    /// Its Idempotency-Key came before: this is that request.
    Replay(Request),
    /// Over the client's limit; the times of what it queued in the last
    /// hour were these (oldest first).
    Limited(Vec<i64>),
}

/// What is asked of [`admit`].
#[derive(Debug, Clone)]
pub(crate) struct NewRequest<'a> {
    /// The client.
    pub client: &'a str,
    /// Its Idempotency-Key, if any.
    pub idempotency_key: Option<&'a str>,
    /// The destination.
    pub number: &'a str,
    /// A hash of the text.
    pub text_hash: &'a str,
    /// Now (ms since the epoch).
    pub now_ms: i64,
}

/// The outbox file name of request `id`, given the rest of its row.
pub(crate) type Namer<'a> = &'a dyn Fn(i64) -> String;

/// A message's row and parts, for `/sms/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageHistory {
    /// The store's id.
    pub id: i64,
    /// Its state.
    pub state: MessageState,
    /// Attempts so far.
    pub attempts: u32,
    /// The last failure or hold.
    pub last_error: Option<String>,
    /// When its file was taken in.
    pub created_ms: i64,
    /// When it last changed.
    pub updated_ms: i64,
    /// When it ended.
    pub finished_ms: Option<i64>,
    /// When it may be tried next (while queued).
    pub next_attempt_ms: i64,
    /// Each part: number, state and when it was sent.
    pub parts: Vec<(u32, String, Option<i64>)>,
}

/// Opens a connection of the HTTP API's own to the database at `path`
/// (opened and migrated by [`super::Store::open`] first).
pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    // As small a page cache as the daemon's own connection (see
    // `Store::setup`): point lookups and one short scan per request.
    connection.pragma_update(None, "cache_size", -256)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(connection)
}

const REQUEST_COLUMNS: &str = "id, client, number, text_hash, file_name, created_ms";

fn request_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Request> {
    Ok(Request {
        id: row.get(0)?,
        client: row.get(1)?,
        number: row.get(2)?,
        text_hash: row.get(3)?,
        file_name: row.get(4)?,
        created_ms: row.get(5)?,
    })
}

/// Admits a request: the earlier one with its Idempotency-Key, or the
/// client's limit (`allowed` decides from the times of what the client
/// queued in the last hour: `true` lets it in), or a new row named by
/// `name`, all in one transaction.
pub(crate) fn admit(
    connection: &mut Connection,
    request: &NewRequest<'_>,
    allowed: &dyn Fn(&[i64]) -> bool,
    name: Namer<'_>,
) -> Result<Admission, StoreError> {
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let Some(key) = request.idempotency_key {
        let earlier = transaction
            .prepare_cached(&format!(
                "SELECT {REQUEST_COLUMNS} FROM http_request WHERE idempotency_key = ?1"
            ))?
            .query_row(params![key], request_from_row)
            .optional()?;
        if let Some(earlier) = earlier {
            return Ok(Admission::Replay(earlier));
        }
    }
    let times = transaction
        .prepare_cached(
            "SELECT created_ms FROM http_request WHERE client = ?1 AND created_ms > ?2
             ORDER BY created_ms",
        )?
        .query_map(params![request.client, request.now_ms - 3_600_000], |row| {
            row.get(0)
        })?
        .collect::<Result<Vec<i64>, _>>()?;
    if !allowed(&times) {
        return Ok(Admission::Limited(times));
    }
    transaction
        .prepare_cached(
            "INSERT INTO http_request (client, idempotency_key, number, text_hash, file_name,
                                       created_ms)
             VALUES (?1, ?2, ?3, ?4, '', ?5)",
        )?
        .execute(params![
            request.client,
            request.idempotency_key,
            request.number,
            request.text_hash,
            request.now_ms
        ])?;
    let id = transaction.last_insert_rowid();
    let file_name = name(id);
    transaction
        .prepare_cached("UPDATE http_request SET file_name = ?2 WHERE id = ?1")?
        .execute(params![id, file_name])?;
    transaction.commit()?;
    Ok(Admission::New(Request {
        id,
        client: request.client.to_owned(),
        number: request.number.to_owned(),
        text_hash: request.text_hash.to_owned(),
        file_name,
        created_ms: request.now_ms,
    }))
}

/// Withdraws the request `id`, admitted but whose outbox file could not
/// be written: it no longer counts against its client, `/sms/status` no
/// longer knows it, and its Idempotency-Key is free for a retry.
pub(crate) fn withdraw(connection: &mut Connection, id: i64) -> Result<(), StoreError> {
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    transaction
        .prepare_cached("DELETE FROM http_request WHERE id = ?1")?
        .execute(params![id])?;
    transaction.commit()?;
    Ok(())
}

/// The request with that id.
pub(crate) fn request(connection: &Connection, id: i64) -> Result<Option<Request>, StoreError> {
    Ok(connection
        .prepare_cached(&format!(
            "SELECT {REQUEST_COLUMNS} FROM http_request WHERE id = ?1"
        ))?
        .query_row(params![id], request_from_row)
        .optional()?)
}

/// The newest message taken in from the file `file_name`, with its parts.
pub(crate) fn message_of_file(
    connection: &Connection,
    file_name: &str,
) -> Result<Option<MessageHistory>, StoreError> {
    let row = connection
        .prepare_cached(
            "SELECT id, state, attempts, last_error, created_ms, updated_ms, finished_ms,
                    next_attempt_ms
             FROM outgoing WHERE file_name = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![file_name], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, u32>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, Option<i64>>(6)?,
                row.get::<_, i64>(7)?,
            ))
        })
        .optional()?;
    let Some((id, state, attempts, last_error, created_ms, updated_ms, finished_ms, next)) = row
    else {
        return Ok(None);
    };
    let parts = connection
        .prepare_cached(
            "SELECT part, state, sent_ms FROM outgoing_part WHERE message_id = ?1 ORDER BY part",
        )?
        .query_map(params![id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(MessageHistory {
        id,
        state: MessageState::parse(&state)?,
        attempts,
        last_error,
        created_ms,
        updated_ms,
        finished_ms,
        next_attempt_ms: next,
        parts,
    }))
}

/// What `/metrics` reads from the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Messages by final state (`sent`, `failed`, `ambiguous`,
    /// `cancelled`), since the database began.
    pub finished: Vec<(String, u64)>,
    /// Messages waiting, by why they wait.
    pub waiting: Vec<(String, u64)>,
    /// Messages received.
    pub received: u64,
}

/// Why a message in the queue waits, as `/metrics` labels it.
pub(crate) const WAIT_REASONS: [&str; 6] = [
    "due",
    "sending",
    "resolving",
    "rate_limit",
    "retry",
    "scheduled",
];

/// Reads the totals at `now_ms`.
pub(crate) fn totals(connection: &Connection, now_ms: i64) -> Result<Totals, StoreError> {
    let finished = connection
        .prepare_cached(
            "SELECT state, COUNT(*) FROM outgoing
             WHERE state IN ('sent', 'failed', 'ambiguous', 'cancelled') GROUP BY state",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let waiting = connection
        .prepare_cached(
            "SELECT CASE
                 WHEN state = 'sending' THEN 'sending'
                 WHEN state = 'resolving' THEN 'resolving'
                 WHEN next_attempt_ms <= ?1 THEN 'due'
                 WHEN last_error LIKE 'limits.%' THEN 'rate_limit'
                 WHEN attempts > 0 THEN 'retry'
                 ELSE 'scheduled' END AS reason, COUNT(*)
             FROM outgoing WHERE state IN ('queued', 'sending', 'resolving') GROUP BY reason",
        )?
        .query_map(params![now_ms], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let received = connection.query_row("SELECT COUNT(*) FROM incoming", [], |row| {
        row.get::<_, u64>(0)
    })?;
    Ok(Totals {
        finished,
        waiting,
        received,
    })
}

/// Whether the database answers (for `/health`).
pub(crate) fn answers(connection: &Connection) -> Result<(), StoreError> {
    connection.query_row("SELECT 1", [], |_| Ok(()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FileId, Store};

    fn database(name: &str) -> (std::path::PathBuf, Store, Connection) {
        let dir =
            std::env::temp_dir().join(format!("simgate-http-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let store = Store::open(&path).unwrap();
        let connection = open(&path).unwrap();
        (dir, store, connection)
    }

    fn ask<'a>(client: &'a str, key: Option<&'a str>, now_ms: i64) -> NewRequest<'a> {
        NewRequest {
            client,
            idempotency_key: key,
            number: "+491",
            text_hash: "h",
            now_ms,
        }
    }

    #[test]
    fn keys_replay_limits_count_only_the_clients_last_hour() {
        let (dir, _store, mut db) = database("admit");
        let name = |id: i64| format!("OUT{id}.txt");
        let at_most_two = |times: &[i64]| times.len() < 2;
        let first = admit(&mut db, &ask("a", Some("k1"), 1_000), &at_most_two, &name).unwrap();
        let Admission::New(first) = first else {
            panic!("{first:?}")
        };
        assert_eq!(first.file_name, format!("OUT{}.txt", first.id));
        // The same key again: the same request, not counted, not new.
        let again = admit(&mut db, &ask("a", Some("k1"), 2_000), &at_most_two, &name).unwrap();
        assert_eq!(again, Admission::Replay(first.clone()));
        assert!(matches!(
            admit(&mut db, &ask("a", None, 3_000), &at_most_two, &name).unwrap(),
            Admission::New(_)
        ));
        assert_eq!(
            admit(&mut db, &ask("a", None, 4_000), &at_most_two, &name).unwrap(),
            Admission::Limited(vec![1_000, 3_000])
        );
        // Another client has its own count; an hour later the first left.
        assert!(matches!(
            admit(&mut db, &ask("b", None, 4_000), &at_most_two, &name).unwrap(),
            Admission::New(_)
        ));
        assert!(matches!(
            admit(&mut db, &ask("a", None, 3_601_000), &at_most_two, &name).unwrap(),
            Admission::New(_)
        ));
        assert_eq!(request(&db, first.id).unwrap(), Some(first));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_withdrawn_request_neither_counts_nor_keeps_its_key() {
        let (dir, _store, mut db) = database("withdraw");
        let name = |id: i64| format!("OUT{id}.txt");
        let at_most_one = |times: &[i64]| times.is_empty();
        let Admission::New(failed) =
            admit(&mut db, &ask("a", Some("k1"), 1_000), &at_most_one, &name).unwrap()
        else {
            panic!("not new")
        };
        withdraw(&mut db, failed.id).unwrap();
        assert_eq!(request(&db, failed.id).unwrap(), None);
        // The retry with its key is new, and the client's one of the hour.
        let retry = admit(&mut db, &ask("a", Some("k1"), 2_000), &at_most_one, &name).unwrap();
        assert!(matches!(retry, Admission::New(_)), "{retry:?}");
        assert_eq!(
            admit(&mut db, &ask("a", None, 3_000), &at_most_one, &name).unwrap(),
            Admission::Limited(vec![2_000])
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_files_message_and_the_totals_are_read() {
        let (dir, mut store, db) = database("read");
        assert_eq!(message_of_file(&db, "OUT+1.txt").unwrap(), None);
        let queued = store
            .enqueue("OUT+1.txt", &FileId::default(), "+1", 2, 10)
            .unwrap();
        store
            .enqueue("OUT+2.txt", &FileId::default(), "+2", 1, 10)
            .unwrap();
        store
            .hold_queued(
                99_000,
                Some("+2"),
                "limits.messages_per_hour = 1 reached",
                20,
            )
            .unwrap();
        let history = message_of_file(&db, "OUT+1.txt").unwrap().unwrap();
        assert_eq!(history.id, queued.id);
        assert_eq!(history.state, MessageState::Queued);
        assert_eq!(history.parts.len(), 2);
        let totals = totals(&db, 50).unwrap();
        let mut waiting = totals.waiting.clone();
        waiting.sort();
        assert_eq!(
            waiting,
            [("due".to_owned(), 1), ("rate_limit".to_owned(), 1)]
        );
        assert!(totals.finished.is_empty());
        assert_eq!(totals.received, 0);
        answers(&db).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
