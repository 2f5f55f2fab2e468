//! What `simgate status` reads from another process: the device's latest
//! status (which the daemon records as it changes), the queue, today's
//! counts, what the rate limits have counted, and the latest failures.
//! The daemon writes through its [`Store`]; `simgate status` reads
//! through a read-only connection of its own ([`open_read_only`]).

use super::{Store, StoreError};
use rusqlite::{params, Connection, OpenFlags};
use std::path::Path;

/// The device's status as the daemon last recorded it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeviceStatus {
    /// `ready`, `connecting`, `suspended` or `stopped`.
    pub state: String,
    /// Why it is not ready, when it says.
    pub detail: Option<String>,
    /// Manufacturer and model, once ready.
    pub model: Option<String>,
    /// Signal in dBm (latest status poll).
    pub signal_dbm: Option<i32>,
    /// Signal in percent.
    pub signal_percent: Option<u8>,
    /// Registered to a network.
    pub registered: Option<bool>,
    /// The operator's name.
    pub operator: Option<String>,
    /// A phone's battery, network and SIMs.
    pub phone: Option<crate::device::PhoneStatus>,
    /// The daemon's process id.
    pub pid: u32,
    /// When it was recorded (ms since the epoch).
    pub updated_ms: i64,
    /// The modem's name, with several modems.
    pub name: Option<String>,
    /// Its message storage, as last seen: places used.
    pub storage_used: Option<u32>,
    /// Its message storage: places in all.
    pub storage_total: Option<u32>,
    /// The last fault it met.
    pub fault: Option<String>,
    /// When it met it (ms since the epoch).
    pub fault_ms: Option<i64>,
    /// Until when it takes nothing though it may be ready (ms since the
    /// epoch): at its own rate limit, or held back after failing sends.
    pub paused_until_ms: Option<i64>,
    /// Why it is paused.
    pub paused_reason: Option<String>,
}

impl Store {
    /// Records the first modem's status (one row, replaced).
    #[cfg(test)]
    pub(crate) fn record_device_status(&mut self, status: &DeviceStatus) -> Result<(), StoreError> {
        self.record_modem_status(1, status)
    }

    /// Records the status of modem number `slot` (1: the first).
    pub(crate) fn record_modem_status(
        &mut self,
        slot: u32,
        status: &DeviceStatus,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT INTO device_status (id, state, detail, model, signal_dbm, signal_percent,
                                        registered, operator, pid, updated_ms, phone, name,
                                        storage_used, storage_total, fault, fault_ms,
                                        paused_until_ms, paused_reason)
             VALUES (?12, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?13, ?14, ?15, ?16,
                     ?17, ?18)
             ON CONFLICT (id) DO UPDATE SET state = ?1, detail = ?2, model = ?3,
                 signal_dbm = ?4, signal_percent = ?5, registered = ?6, operator = ?7,
                 pid = ?8, updated_ms = ?9, phone = ?10, name = ?11, storage_used = ?13,
                 storage_total = ?14, fault = ?15, fault_ms = ?16, paused_until_ms = ?17,
                 paused_reason = ?18",
            params![
                status.state,
                status.detail,
                status.model,
                status.signal_dbm,
                status.signal_percent,
                status.registered,
                status.operator,
                status.pid,
                status.updated_ms,
                status
                    .phone
                    .as_ref()
                    .and_then(|phone| serde_json::to_string(phone).ok()),
                status.name,
                slot,
                status.storage_used,
                status.storage_total,
                status.fault,
                status.fault_ms,
                status.paused_until_ms,
                status.paused_reason,
            ],
        )?;
        Ok(())
    }
}

impl Store {
    /// Records why the outbox has no watch (`None`: it is watched again),
    /// as of `now_ms`, for the daemon process `pid`.
    pub(crate) fn record_outbox_watch(
        &mut self,
        unwatched: Option<&str>,
        now_ms: i64,
        pid: u32,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT INTO outbox_watch (id, reason, since_ms, pid) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET reason = ?1, since_ms = ?2, pid = ?3",
            params![unwatched, now_ms, pid],
        )?;
        Ok(())
    }
}

/// The outbox not watched: why, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutboxUnwatched {
    /// Why no watch could be made.
    pub reason: String,
    /// Since when (ms since the epoch).
    pub since_ms: i64,
}

/// Why the outbox is not watched, as daemon process `pid` recorded it
/// (`None` while it is watched, or recorded by another process).
pub(crate) fn outbox_unwatched(
    connection: &Connection,
    pid: u32,
) -> Result<Option<OutboxUnwatched>, StoreError> {
    use rusqlite::OptionalExtension;
    Ok(connection
        .query_row(
            "SELECT reason, since_ms FROM outbox_watch
             WHERE id = 1 AND reason IS NOT NULL AND pid = ?1",
            params![pid],
            |row| {
                Ok(OutboxUnwatched {
                    reason: row.get(0)?,
                    since_ms: row.get(1)?,
                })
            },
        )
        .optional()?)
}

/// Opens the database at `path` to read only (it must exist).
pub(crate) fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    // The first read of the file: where a file that is no database says
    // so, named.
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
    let known = super::migrations::MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    if version < known {
        return Err(StoreError::Corrupt(format!(
            "the database is at schema version {version}, this simgate reads {known}: start \
             the daemon of this version once"
        )));
    }
    Ok(connection)
}

/// The device's status, if the daemon recorded one (the first modem's).
#[cfg(test)]
pub(crate) fn device_status(connection: &Connection) -> Result<Option<DeviceStatus>, StoreError> {
    Ok(modem_statuses(connection)?.into_iter().next())
}

/// Every modem's status, the first modem's first.
pub(crate) fn modem_statuses(connection: &Connection) -> Result<Vec<DeviceStatus>, StoreError> {
    let mut statement = connection.prepare(
        "SELECT state, detail, model, signal_dbm, signal_percent, registered, operator,
                pid, updated_ms, phone, name, storage_used, storage_total, fault, fault_ms,
                paused_until_ms, paused_reason
         FROM device_status ORDER BY id",
    )?;
    let rows = statement
        .query_map([], |row| {
            Ok(DeviceStatus {
                state: row.get(0)?,
                detail: row.get(1)?,
                model: row.get(2)?,
                signal_dbm: row.get(3)?,
                signal_percent: row.get(4)?,
                registered: row.get(5)?,
                operator: row.get(6)?,
                pid: row.get(7)?,
                updated_ms: row.get(8)?,
                phone: row
                    .get::<_, Option<String>>(9)?
                    .and_then(|json| serde_json::from_str(&json).ok()),
                name: row.get(10)?,
                storage_used: row.get(11)?,
                storage_total: row.get(12)?,
                fault: row.get(13)?,
                fault_ms: row.get(14)?,
                paused_until_ms: row.get(15)?,
                paused_reason: row.get(16)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Messages that ended since `since_ms`, by final state; and received.
pub(crate) fn ended_since(
    connection: &Connection,
    since_ms: i64,
) -> Result<(Vec<(String, u64)>, u64), StoreError> {
    let ended = connection
        .prepare(
            "SELECT state, COUNT(*) FROM outgoing
             WHERE finished_ms >= ?1 AND state IN ('sent', 'failed', 'ambiguous', 'cancelled')
             GROUP BY state",
        )?
        .query_map(params![since_ms], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let received = connection.query_row(
        "SELECT COUNT(*) FROM incoming WHERE created_ms >= ?1",
        params![since_ms],
        |row| row.get(0),
    )?;
    Ok((ended, received))
}

/// How many received messages created before `before_ms` still wait for
/// their inbox files (state `writing`).
pub(crate) fn unwritten_before(connection: &Connection, before_ms: i64) -> Result<u64, StoreError> {
    Ok(connection.query_row(
        "SELECT COUNT(*) FROM incoming WHERE state = 'writing' AND created_ms < ?1",
        params![before_ms],
        |row| row.get(0),
    )?)
}

/// A message the rate limits counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Used {
    /// When its first attempt started (ms since the epoch).
    pub at_ms: i64,
    /// Its parts.
    pub parts: u32,
    /// Its destination.
    pub destination: String,
    /// The modem that sent it (`None`: recorded before modems were told
    /// apart).
    pub modem: Option<String>,
}

/// What the rate limits counted since `since_ms`, oldest first.
pub(crate) fn usage_since(connection: &Connection, since_ms: i64) -> Result<Vec<Used>, StoreError> {
    Ok(connection
        .prepare(
            "SELECT at_ms, parts, destination, modem FROM send_usage WHERE at_ms > ?1
             ORDER BY at_ms",
        )?
        .query_map(params![since_ms], |row| {
            Ok(Used {
                at_ms: row.get(0)?,
                parts: row.get(1)?,
                destination: row.get(2)?,
                modem: row.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?)
}

/// How many messages are due at `now_ms` (queued, their time come) that
/// none of `routes` takes: each route a modem's SQL condition on the
/// `outgoing` row (`daemon::lanes::Lane::route`), for the modems that
/// could send now. With no route, every message due.
pub(crate) fn due_outside(
    connection: &Connection,
    now_ms: i64,
    routes: &[&str],
) -> Result<u64, StoreError> {
    let outside = if routes.is_empty() {
        String::new()
    } else {
        let any: Vec<String> = routes.iter().map(|route| format!("({route})")).collect();
        format!(" AND NOT ({})", any.join(" OR "))
    };
    Ok(connection.query_row(
        &format!(
            "SELECT COUNT(*) FROM outgoing WHERE state = 'queued' AND next_attempt_ms <= ?1{outside}"
        ),
        params![now_ms],
        |row| row.get(0),
    )?)
}

/// The parts the monthly budget counted from `since_ms` on.
pub(crate) fn parts_used_since(connection: &Connection, since_ms: i64) -> Result<u64, StoreError> {
    Ok(connection.query_row(
        "SELECT COUNT(*) FROM parts_used WHERE at_ms >= ?1",
        params![since_ms],
        |row| row.get(0),
    )?)
}

/// A message that failed, or waits after a failure or a hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LastError {
    /// Its outbox file name.
    pub file_name: String,
    /// Its state.
    pub state: String,
    /// Why.
    pub error: String,
    /// When (ms since the epoch).
    pub at_ms: i64,
}

/// The latest `limit` messages with an error, newest first.
pub(crate) fn last_errors(
    connection: &Connection,
    limit: u32,
) -> Result<Vec<LastError>, StoreError> {
    Ok(connection
        .prepare(
            "SELECT file_name, state, last_error, updated_ms FROM outgoing
             WHERE last_error IS NOT NULL AND state <> 'sent'
             ORDER BY updated_ms DESC, id DESC LIMIT ?1",
        )?
        .query_map(params![limit], |row| {
            Ok(LastError {
                file_name: row.get(0)?,
                state: row.get(1)?,
                error: row.get(2)?,
                at_ms: row.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FileId;

    #[test]
    fn what_the_daemon_records_another_process_reads() {
        let dir = std::env::temp_dir().join(format!("simgate-status-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let mut store = Store::open(&path).unwrap();
        let reader = open_read_only(&path).unwrap();
        assert_eq!(device_status(&reader).unwrap(), None);
        let status = DeviceStatus {
            state: "ready".into(),
            model: Some("Generic".into()),
            signal_dbm: Some(-73),
            registered: Some(true),
            pid: 42,
            updated_ms: 1_000,
            ..DeviceStatus::default()
        };
        store.record_device_status(&status).unwrap();
        store
            .record_device_status(&DeviceStatus {
                updated_ms: 2_000,
                ..status.clone()
            })
            .unwrap();
        assert_eq!(device_status(&reader).unwrap().unwrap().updated_ms, 2_000);

        let failed = store
            .enqueue("OUT+1.txt", &FileId::default(), "+1", 1, 10)
            .unwrap();
        store
            .mark_failed(failed.id, "permanent error: no", 500)
            .unwrap();
        let sent = store
            .enqueue("OUT+2.txt", &FileId::default(), "+2", 1, 10)
            .unwrap();
        store.mark_sent(sent.id, 600).unwrap();
        store.record_usage(sent.id, "+2", None, 1, 550, 0).unwrap();
        let (mut ended, received) = ended_since(&reader, 100).unwrap();
        ended.sort();
        assert_eq!(ended, [("failed".to_owned(), 1), ("sent".to_owned(), 1)]);
        assert_eq!(received, 0);
        assert_eq!(ended_since(&reader, 700).unwrap().0, []);
        assert_eq!(
            usage_since(&reader, 0).unwrap(),
            [Used {
                at_ms: 550,
                parts: 1,
                destination: "+2".to_owned(),
                modem: None
            }]
        );
        let errors = last_errors(&reader, 5).unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].error, "permanent error: no");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Received messages whose inbox files are not written yet (a full
    /// disk, a folder not writable): `simgate status` counted them as
    /// received, and said nothing else. Only those waiting longer than a
    /// moment count (each message is `writing` for the instant its file
    /// takes).
    #[test]
    fn received_messages_not_yet_in_the_inbox_are_counted() {
        let dir =
            std::env::temp_dir().join(format!("simgate-status-unwritten-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let mut store = Store::open(&path).unwrap();
        let reader = open_read_only(&path).unwrap();
        let old = store
            .begin_incoming(&[], &["IN1.txt".into()], true, 1_000)
            .unwrap();
        store
            .begin_incoming(&[], &["IN2.txt".into()], true, 1_000)
            .unwrap();
        store
            .begin_incoming(&[], &["IN3.txt".into()], true, 9_000)
            .unwrap();
        assert_eq!(unwritten_before(&reader, 5_000).unwrap(), 2);
        store.incoming_written(old, false).unwrap();
        assert_eq!(unwritten_before(&reader, 5_000).unwrap(), 1);
        assert_eq!(unwritten_before(&reader, 10_000).unwrap(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The messages due that no given route takes: what waits for a
    /// modem when only the modems of `routes` can send now.
    #[test]
    fn due_messages_outside_the_routes_of_the_modems_that_can_send() {
        let dir =
            std::env::temp_dir().join(format!("simgate-status-outside-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let mut store = Store::open(&path).unwrap();
        let reader = open_read_only(&path).unwrap();
        for (name, recipient, due_ms) in [
            ("OUT+431.txt", "+431", 10),
            ("OUT+491.txt", "+491", 10),
            ("OUT+492.txt", "+492", 10),
            ("OUT+493.txt", "+493", 5_000),
        ] {
            store
                .enqueue(name, &FileId::default(), recipient, 1, due_ms)
                .unwrap();
        }
        let austria = "recipient LIKE '+43%'";
        let germany = "recipient LIKE '+49%'";
        assert_eq!(due_outside(&reader, 1_000, &[]).unwrap(), 3);
        assert_eq!(due_outside(&reader, 1_000, &[germany]).unwrap(), 1);
        assert_eq!(due_outside(&reader, 1_000, &[austria]).unwrap(), 2);
        assert_eq!(due_outside(&reader, 1_000, &[austria, germany]).unwrap(), 0);
        assert_eq!(due_outside(&reader, 9_000, &[austria]).unwrap(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `simgate status` on a database a newer simgate wrote told the user
    /// to "start the daemon of this version once", which cannot help (this
    /// daemon refuses it too): it says a newer simgate wrote it. A file
    /// that is no database was "database error: file is not a database",
    /// without saying which file.
    #[test]
    fn a_newer_database_or_none_at_all_is_named_for_what_it_is() {
        let dir = std::env::temp_dir().join(format!("simgate-status-newer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let newer = dir.join("newer.db");
        let known = crate::store::migrations::MIGRATIONS.len() as i64;
        Connection::open(&newer)
            .unwrap()
            .pragma_update(None, "user_version", known + 1)
            .unwrap();
        let error = open_read_only(&newer).unwrap_err();
        assert!(
            matches!(error, StoreError::TooNew { found, known: k } if found == known + 1 && k == known),
            "{error:?}"
        );
        assert!(error.to_string().contains("newer simgate"), "{error}");

        let text = dir.join("notes.txt");
        std::fs::write(
            &text,
            "not a database, but long enough to be read as one.\n".repeat(20),
        )
        .unwrap();
        let error = open_read_only(&text).unwrap_err().to_string();
        assert!(error.contains(&text.display().to_string()), "{error}");
        assert!(error.contains("not a database"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
