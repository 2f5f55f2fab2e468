//! What `simgate status` reads: the device as the daemon last recorded it,
//! the queue grouped by what each message waits for, the day's outcomes,
//! what the rate limits and the budget have counted, and the latest
//! failures. Read through a connection that cannot write, beside a
//! running daemon (WAL lets both work).

use super::{Store, StoreError};
use rusqlite::{params, OpenFlags, OptionalExtension};
use std::path::Path;

/// The device as the daemon last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct DeviceRecord {
    /// `ready`, `connecting`, `released` or `stopped`.
    pub(crate) state: String,
    /// Why it is not ready, when it says.
    pub(crate) detail: Option<String>,
    /// Manufacturer and model.
    pub(crate) model: Option<String>,
    /// Its IMEI.
    pub(crate) imei: Option<String>,
    /// Signal in dBm.
    pub(crate) signal_dbm: Option<i32>,
    /// Registered to a network.
    pub(crate) registered: Option<bool>,
    /// The daemon that recorded it.
    pub(crate) pid: u32,
    /// When, in milliseconds since the Unix epoch.
    pub(crate) updated_ms: i64,
}

/// Messages waiting for the same thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waiting {
    /// `queued`, `sending` or `resolving`.
    pub(crate) state: String,
    /// What they wait for (the last error or hold), if anything.
    pub(crate) reason: Option<String>,
    /// How many.
    pub(crate) count: u64,
    /// When the oldest was taken in.
    pub(crate) oldest_ms: i64,
}

/// A message that ended badly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Its outbox file name.
    pub(crate) file: String,
    /// `failed` or `ambiguous`.
    pub(crate) state: String,
    /// Why.
    pub(crate) reason: Option<String>,
    /// When it ended.
    pub(crate) at_ms: i64,
}

/// One message the rate limits count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Its destination.
    pub(crate) destination: String,
    /// Its parts.
    pub(crate) parts: u32,
    /// When its first attempt started.
    pub(crate) at_ms: i64,
}

impl Store {
    /// Opens the database at `path` to read it only: nothing is created or
    /// migrated. A database older than this simgate is refused with
    /// [`StoreError::Corrupt`] naming the fix (the daemon upgrades it).
    pub(crate) fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let connection = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
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
                "{} was written by an older simgate (schema {version} of {known}); \
                 `simgate run` upgrades it at its next start",
                path.display()
            )));
        }
        Ok(Self {
            connection: super::CachedConnection(connection),
        })
    }

    /// Records the device as the daemon sees it now.
    pub(crate) fn record_device(&mut self, record: &DeviceRecord) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT INTO device_status (id, state, detail, model, imei, signal_dbm, registered,
                                        pid, updated_ms)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO UPDATE SET state = ?1, detail = ?2, model = ?3, imei = ?4,
                 signal_dbm = ?5, registered = ?6, pid = ?7, updated_ms = ?8",
            params![
                record.state,
                record.detail,
                record.model,
                record.imei,
                record.signal_dbm,
                record.registered,
                record.pid,
                record.updated_ms
            ],
        )?;
        Ok(())
    }

    /// The device as last recorded, if ever.
    pub(crate) fn device_record(&self) -> Result<Option<DeviceRecord>, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT state, detail, model, imei, signal_dbm, registered, pid, updated_ms
                 FROM device_status WHERE id = 1",
                [],
                |row| {
                    Ok(DeviceRecord {
                        state: row.get(0)?,
                        detail: row.get(1)?,
                        model: row.get(2)?,
                        imei: row.get(3)?,
                        signal_dbm: row.get(4)?,
                        registered: row.get(5)?,
                        pid: row.get(6)?,
                        updated_ms: row.get(7)?,
                    })
                },
            )
            .optional()?)
    }

    /// The messages not finished, grouped by state and what they wait for,
    /// the largest group first.
    pub(crate) fn waiting_by_reason(&self) -> Result<Vec<Waiting>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT state, last_error, COUNT(*), MIN(created_ms) FROM outgoing
             WHERE state IN ('queued', 'sending', 'resolving')
             GROUP BY state, last_error ORDER BY COUNT(*) DESC, MIN(created_ms)",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(Waiting {
                state: row.get(0)?,
                reason: row.get(1)?,
                count: row.get(2)?,
                oldest_ms: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many messages ended in each state since `since_ms`.
    pub(crate) fn finished_since(&self, since_ms: i64) -> Result<Vec<(String, u64)>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT state, COUNT(*) FROM outgoing WHERE finished_ms >= ?1
             GROUP BY state ORDER BY state",
        )?;
        let rows = statement.query_map(params![since_ms], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many messages were received (written to the inbox) since
    /// `since_ms`.
    pub(crate) fn received_since(&self, since_ms: i64) -> Result<u64, StoreError> {
        Ok(self.connection.query_row(
            "SELECT COUNT(*) FROM incoming WHERE created_ms >= ?1",
            params![since_ms],
            |row| row.get(0),
        )?)
    }

    /// The latest `count` failed or ambiguous messages, newest first.
    pub(crate) fn latest_failures(&self, count: u32) -> Result<Vec<Failure>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT file_name, state, last_error, finished_ms FROM outgoing
             WHERE state IN ('failed', 'ambiguous') AND finished_ms IS NOT NULL
             ORDER BY finished_ms DESC, id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map(params![count], |row| {
            Ok(Failure {
                file: row.get(0)?,
                state: row.get(1)?,
                reason: row.get(2)?,
                at_ms: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// What the rate limits count after `since_ms`, oldest first.
    pub(crate) fn usage_after(&self, since_ms: i64) -> Result<Vec<Usage>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT destination, parts, at_ms FROM send_usage WHERE at_ms > ?1 ORDER BY at_ms",
        )?;
        let rows = statement.query_map(params![since_ms], |row| {
            Ok(Usage {
                destination: row.get(0)?,
                parts: row.get(1)?,
                at_ms: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FileId;

    fn file(ino: u64) -> FileId {
        FileId {
            dev: 1,
            ino,
            size: 10,
            mtime_ns: 5,
        }
    }

    #[test]
    fn the_report_queries_read_what_the_daemon_wrote() {
        let dir = std::env::temp_dir().join(format!("simgate-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let mut store = Store::open(&path).unwrap();
        let record = DeviceRecord {
            state: "ready".to_owned(),
            model: Some("Emulated".to_owned()),
            signal_dbm: Some(-71),
            registered: Some(true),
            pid: 42,
            updated_ms: 5000,
            ..DeviceRecord::default()
        };
        store.record_device(&record).unwrap();
        let a = store
            .enqueue("OUT+491.txt", &file(1), "+491", 1, 1000)
            .unwrap()
            .id;
        let b = store
            .enqueue("OUT+492.txt", &file(2), "+492", 1, 1100)
            .unwrap()
            .id;
        store
            .enqueue("OUT+493.txt", &file(3), "+493", 1, 1200)
            .unwrap();
        store
            .enqueue("OUT+494.txt", &file(4), "+494", 1, 1300)
            .unwrap();
        store
            .hold_queued(9000, None, "limits.messages_per_hour = 1", 1400)
            .unwrap();
        store.mark_sent(a, 2000).unwrap();
        store.mark_failed(b, "permanent error: 38", 3000).unwrap();
        store.record_usage(a, "+491", 2, 1500, 0).unwrap();

        let read = Store::open_read_only(&path).unwrap();
        assert_eq!(read.device_record().unwrap(), Some(record));
        let waiting = read.waiting_by_reason().unwrap();
        assert_eq!(waiting.len(), 1, "{waiting:?}");
        assert_eq!(waiting[0].count, 2);
        assert_eq!(waiting[0].oldest_ms, 1200);
        assert_eq!(
            waiting[0].reason.as_deref(),
            Some("limits.messages_per_hour = 1")
        );
        assert_eq!(
            read.finished_since(2500).unwrap(),
            [("failed".to_owned(), 1)]
        );
        assert_eq!(read.finished_since(0).unwrap().len(), 2);
        let failures = read.latest_failures(5).unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].file, "OUT+492.txt");
        assert_eq!(read.usage_after(0).unwrap()[0].parts, 2);
        assert_eq!(read.received_since(0).unwrap(), 0);
        drop((store, read));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_database_is_not_created() {
        let path =
            std::env::temp_dir().join(format!("simgate-report-missing-{}.db", std::process::id()));
        assert!(matches!(
            Store::open_read_only(&path),
            Err(StoreError::Open { .. })
        ));
        assert!(!path.exists());
    }
}
