//! simgate's state in SQLite: what was taken from the outbox and what each
//! part went through (`outgoing`), what was received (`incoming`), what
//! the SIM did with the PIN and what was learnt about a modem (`modem`).
//! A thin layer over rusqlite; every time is passed in (milliseconds since
//! the Unix epoch), so the logic is testable without a clock.
//!
//! The database runs in WAL mode with `synchronous = FULL`: a committed
//! transition survives a power cut. The transitions that matter are
//! committed before the action they announce: a part is marked `sending`
//! before its PDU goes to the modem, so a crash between the two is found on
//! restart as `sending` and becomes `resolving`, never a blind resend.
//!
//! The file holds phone numbers and message texts: it is created with mode
//! 0600 (SQLite gives its `-wal` and `-shm` files the same mode).
//!
//! A burst commits once for many steps: `Store::batch` runs them in one
//! transaction (each step that needs several statements is a savepoint
//! of it), and a batch whose loss a restart repairs (the transitions after
//! a send, which the modem's TP-MR counter can tell again) may leave its
//! fsync to the next commit (`Durability::WithNextCommit`). A batch that
//! must be durable before the daemon acts on it but need not hold up the
//! other modems meanwhile (a part's `sending` mark) is grouped
//! (`Store::batch_grouped`, [`sync`]): its fsync of the WAL is waited for
//! outside the keeper and may serve the commits of several modems.
//!
//! When the calendar is set forward or back, the times still to come move
//! with it ([`calendar_step`]), so no wait changes its length.
//!
//! Transactions begin `IMMEDIATE`: the modem supervisor records PIN
//! outcomes through a connection of its own (`PinRecords`), and a
//! deferred transaction that read first would fail to become a writer
//! (`SQLITE_BUSY`) instead of waiting for the other connection.

mod calendar_step;
pub(crate) mod http;
mod identity;
mod incoming;
mod migrations;
mod modem;
mod outgoing;
pub(crate) mod status;
mod sync;
mod webhooks;

pub(crate) use incoming::{same_number, IncomingPart, NewPart, ReportRecord};
pub(crate) use modem::PinRecords;
pub(crate) use outgoing::Resolving;
pub use outgoing::{Counts, FileId, MessageState, Outgoing, Part, PartState};
pub(crate) use sync::Ticket;
pub(crate) use webhooks::{Delivery, WebhookQueue, WebhookSink};

use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open the database {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// SQLite said no.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database holds something this version cannot read.
    #[error("database content is not understood: {0}")]
    Corrupt(String),
    /// The write-ahead log could not be synced: what was committed is
    /// not known to be on disk.
    #[error("cannot sync the database's write-ahead log: {0}")]
    Sync(#[source] std::io::Error),
    /// A newer simgate wrote this database.
    #[error(
        "database schema version {found} is newer than this simgate understands ({known}): a \
         newer simgate wrote it; run that version (or a newer one)"
    )]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Latest version known here.
        known: i64,
    },
}

/// A commit written to the WAL without its own sync (see [`sync`]).
const SYNC_LAZY: &str = "PRAGMA synchronous = NORMAL";
/// Every commit synced: the connection's setting between batches.
const SYNC_FULL: &str = "PRAGMA synchronous = FULL";

/// The page size of a new database (bytes).
const PAGE_SIZE: i64 = 512;

/// The message store.
#[derive(Debug)]
pub struct Store {
    connection: CachedConnection,
    /// Where webhook events go (see [`webhooks`]).
    webhooks: Option<WebhookSink>,
    /// The group commit of its WAL (see [`sync`]); `None` in memory.
    group: Option<std::sync::Arc<sync::GroupSync>>,
    /// The received messages up to this id were recorded before this
    /// process started ([`Store::mark_start`]; until then, all of them).
    incoming_before_start: i64,
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

/// When a batch must be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Synced before [`Store::batch`] returns (`synchronous = FULL`).
    Now,
    /// Written to the WAL, synced by the next durable commit (or the next
    /// checkpoint): a power cut may lose it, a killed process does not.
    WithNextCommit,
}

/// A write of several statements: a transaction of its own, or a
/// savepoint inside the batch that is running.
enum Atomic<'c> {
    Transaction(rusqlite::Transaction<'c>),
    Savepoint(rusqlite::Savepoint<'c>),
}

impl Atomic<'_> {
    fn commit(self) -> rusqlite::Result<()> {
        match self {
            Self::Transaction(transaction) => transaction.commit(),
            Self::Savepoint(savepoint) => savepoint.commit(),
        }
    }
}

impl std::ops::Deref for Atomic<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            Self::Transaction(transaction) => transaction,
            Self::Savepoint(savepoint) => savepoint,
        }
    }
}

/// Creates `path` empty with mode 0600 unless it exists, so SQLite (which
/// would create it with 0644 minus the umask) opens a private file.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

impl Store {
    /// Opens (creating if needed, mode 0600) the database at `path` and
    /// brings its schema up to date. Errors name the path.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        create_private(path).map_err(|error| {
            open_error(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(error.to_string()),
            ))
        })?;
        let connection = Connection::open(path).map_err(open_error)?;
        let mut store = Self::setup(connection).map_err(|error| match error {
            StoreError::Sqlite(source) => open_error(source),
            other => other,
        })?;
        let mode: String = store
            .connection
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .map_err(open_error)?;
        // SQLite names the log after the database file as it opened it.
        let file = store.connection.path().map(PathBuf::from);
        if let (true, Some(file)) = (mode.eq_ignore_ascii_case("wal"), file) {
            let mut wal = file.into_os_string();
            wal.push("-wal");
            store.group = Some(sync::GroupSync::for_wal(PathBuf::from(wal)));
        }
        Ok(store)
    }

    /// An in-memory database, for tests.
    #[cfg(test)]
    pub(crate) fn in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    /// Runs `steps` in one transaction, committed once, with the
    /// durability asked for; inside another batch, as part of it. What the
    /// steps did before one of them failed is committed too (each step is
    /// atomic on its own), and the error returned.
    pub(crate) fn batch<T, E: From<StoreError>>(
        &mut self,
        durability: Durability,
        steps: impl FnOnce(&mut Self) -> Result<T, E>,
    ) -> Result<T, E> {
        if !self.connection.is_autocommit() {
            return steps(self);
        }
        let lazy = durability == Durability::WithNextCommit;
        // Through the statement cache: parsing these four statements anew
        // at every batch was 3 % of the time the keeper's lock is held in
        // a burst (benches/README.md, "Under the keeper's lock, by job").
        let begin = (|| {
            if lazy {
                self.connection.execute(SYNC_LAZY, [])?;
            }
            self.connection.execute("BEGIN IMMEDIATE", [])
        })();
        if let Err(error) = begin {
            let _ = self.connection.execute(SYNC_FULL, []);
            return Err(StoreError::from(error).into());
        }
        let result = steps(self);
        let committed = self.connection.execute("COMMIT", []);
        if committed.is_err() {
            let _ = self.connection.execute_batch("ROLLBACK");
        }
        let restored = if lazy {
            self.connection.execute(SYNC_FULL, []).map(drop)
        } else {
            Ok(())
        };
        let value = result?;
        committed.map_err(StoreError::from)?;
        restored.map_err(StoreError::from)?;
        Ok(value)
    }

    /// Runs `steps` in one transaction (as [`Store::batch`]) that is
    /// durable once the returned ticket is waited for ([`Ticket::wait`],
    /// off the keeper): its fsync is shared with the commits of the other
    /// modems made meanwhile (see [`sync`]). Without a WAL (in memory),
    /// the commit is synced at once. Inside another batch, that batch's
    /// durability holds.
    pub(crate) fn batch_grouped<T, E: From<StoreError>>(
        &mut self,
        steps: impl FnOnce(&mut Self) -> Result<T, E>,
    ) -> Result<(T, Ticket), E> {
        let Some(group) = self.group.clone() else {
            return self
                .batch(Durability::Now, steps)
                .map(|v| (v, Ticket::durable()));
        };
        if !self.connection.is_autocommit() {
            return steps(self).map(|v| (v, Ticket::durable()));
        }
        let value = self.batch(Durability::WithNextCommit, steps)?;
        Ok((value, group.written()))
    }

    /// Starts a write of several statements (see [`Atomic`]).
    fn atomic(&mut self) -> Result<Atomic<'_>, StoreError> {
        Ok(if self.connection.is_autocommit() {
            Atomic::Transaction(
                self.connection
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?,
            )
        } else {
            Atomic::Savepoint(self.connection.savepoint()?)
        })
    }

    fn setup(connection: Connection) -> Result<Self, StoreError> {
        // Pages of 512 bytes, SQLite's smallest, instead of 4 KiB (for a
        // new database; one made before keeps its size, as SQLite cannot
        // change it in WAL mode). Each commit appends every page it
        // changed to the WAL, so the page size sets what a message costs
        // the SD card: a sent message's commits in a burst put 52 KiB
        // into the WAL with 4 KiB pages, 17.5 KiB with 1 KiB pages and
        // 10.9 KiB with these (benches/README.md). Index keys longer than
        // about 100 bytes (a file name of 95 characters) spill into
        // overflow pages, which costs a page more, not correctness.
        connection.pragma_update(None, "page_size", PAGE_SIZE)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        // A checkpoint syncs the WAL and the database file: after 4 MiB of
        // WAL (SQLite's default in bytes, 8,192 pages of 512 bytes), so a
        // burst of 1,000 messages pays for two.
        connection.pragma_update(None, "wal_autocheckpoint", 4 * 1024 * 1024 / PAGE_SIZE)?;
        // 256 KiB of page cache instead of SQLite's default 2 MiB: the
        // queries are indexed point lookups, and the default cache alone
        // would take a fifth of the 10 MB memory budget once the queue is large.
        connection.pragma_update(None, "cache_size", -256)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let known = migrations::MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        // A migration may rebuild a table others refer to; foreign keys
        // are checked again once every migration has run.
        connection.pragma_update(None, "foreign_keys", "OFF")?;
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
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // Room for every statement the store runs, so none is prepared twice.
        connection.set_prepared_statement_cache_capacity(96);
        Ok(Self {
            connection: CachedConnection(connection),
            webhooks: None,
            group: None,
            incoming_before_start: i64::MAX,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synchronous(store: &Store) -> i64 {
        store
            .connection
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap()
    }

    fn page_size(store: &Store) -> i64 {
        store
            .connection
            .pragma_query_value(None, "page_size", |row| row.get(0))
            .unwrap()
    }

    /// New databases get small pages; one made with SQLite's default 4 KiB
    /// pages (every simgate database before) opens as it is and keeps them.
    #[test]
    fn new_databases_have_small_pages_and_old_ones_keep_theirs() {
        let dir = std::env::temp_dir().join(format!("simgate-pages-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let new = Store::open(&dir.join("new.db")).unwrap();
        assert_eq!(page_size(&new), PAGE_SIZE);

        let old_path = dir.join("old.db");
        {
            let old = Connection::open(&old_path).unwrap();
            old.pragma_update(None, "page_size", 4096).unwrap();
            old.pragma_update(None, "journal_mode", "WAL").unwrap();
            old.execute_batch("CREATE TABLE before_simgate (x)")
                .unwrap();
        }
        let mut old = Store::open(&old_path).unwrap();
        assert_eq!(page_size(&old), 4096);
        old.enqueue("OUT+1.txt", &FileId::default(), "+1", 1, 1)
            .unwrap();
        assert_eq!(old.counts().unwrap().queued, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_batch_commits_its_steps_once_and_keeps_what_came_before_a_failure() {
        let mut store = Store::in_memory().unwrap();
        let id = FileId::default();
        store
            .batch(Durability::Now, |store| {
                store.enqueue("OUT+1.txt", &id, "+1", 2, 1)?;
                // A step of several statements nests as a savepoint, and a
                // batch inside a batch is part of it.
                store.batch(Durability::WithNextCommit, |store| {
                    store.enqueue("OUT+2.txt", &id, "+2", 1, 2)
                })?;
                assert!(!store.connection.is_autocommit(), "one transaction");
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert_eq!(store.counts().unwrap().queued, 2);
        let failed = store.batch(Durability::WithNextCommit, |store| {
            store.enqueue("OUT+3.txt", &id, "+3", 1, 3)?;
            // The same name twice: refused, and only this step undone.
            store.enqueue("OUT+3.txt", &id, "+3", 1, 4)?;
            Ok::<_, StoreError>(())
        });
        assert!(failed.is_err());
        assert!(store.connection.is_autocommit(), "the batch ended");
        assert_eq!(store.counts().unwrap().queued, 3);
        assert!(store.active_by_name("OUT+3.txt").unwrap().is_some());
        // A lazy batch leaves the connection synced as before.
        assert_eq!(synchronous(&store), 2, "FULL");
    }

    /// A grouped batch on a database file is written without its own
    /// fsync and hands back a ticket for the WAL's; in memory there is
    /// nothing to wait for.
    #[test]
    fn a_grouped_batch_is_synced_through_its_ticket() {
        let dir = std::env::temp_dir().join(format!("simgate-grouped-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = Store::open(&dir.join("simgate.db")).unwrap();
        let id = FileId::default();
        let ((), ticket) = store
            .batch_grouped(|store| store.enqueue("OUT+1.txt", &id, "+1", 1, 1).map(|_| ()))
            .unwrap();
        assert!(
            ticket.group.is_some(),
            "a commit on a file waits for an fsync"
        );
        assert_eq!(synchronous(&store), 2, "FULL again after the batch");
        ticket.wait().unwrap();
        assert_eq!(store.counts().unwrap().queued, 1);
        // Inside another batch: that batch's durability holds.
        let (((), inner), ()) = store
            .batch(Durability::Now, |store| {
                store
                    .batch_grouped(|store| store.enqueue("OUT+2.txt", &id, "+2", 1, 2).map(|_| ()))
                    .map(|done| (done, ()))
            })
            .unwrap();
        assert!(inner.group.is_none());
        let _ = std::fs::remove_dir_all(&dir);

        let mut memory = Store::in_memory().unwrap();
        let ((), ticket) = memory
            .batch_grouped(|store| store.enqueue("OUT+1.txt", &id, "+1", 1, 1).map(|_| ()))
            .unwrap();
        assert!(ticket.group.is_none());
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

    #[test]
    fn the_file_is_private_and_errors_name_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("simgate-store-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let store = Store::open(&path).unwrap();
        drop(store);
        for file in ["state.db", "state.db-wal", "state.db-shm"] {
            let Ok(meta) = std::fs::metadata(dir.join(file)) else {
                continue;
            };
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
        }
        let missing = dir.join("no-such-dir").join("state.db");
        let error = Store::open(&missing).unwrap_err().to_string();
        assert!(error.contains(&missing.display().to_string()), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_version_3_database_is_migrated_with_its_claims() {
        let connection = Connection::open_in_memory().unwrap();
        for migration in &migrations::MIGRATIONS[..3] {
            connection.execute_batch(migration).unwrap();
        }
        connection.pragma_update(None, "user_version", 3).unwrap();
        connection
            .execute_batch(
                "INSERT INTO outgoing (claim_key, file_name, recipient, state, parts_total,
                     next_attempt_ms, created_ms, updated_ms)
                 VALUES ('claim:OUT+1.txt', 'OUT+1.txt', '+1', 'queued', 2, 0, 0, 0),
                        ('done:2', 'OUT+2.txt', '+2', 'sent', 1, 0, 0, 0);
                 INSERT INTO outgoing_part (message_id, part, state) VALUES (1, 1, 'sent'), (1, 2, 'pending'),
                        (2, 1, 'sent');",
            )
            .unwrap();
        let mut store = Store::setup(connection).unwrap();
        let active = store.active_by_name("OUT+1.txt").unwrap().unwrap();
        assert_eq!((active.id, active.state), (1, MessageState::Queued));
        assert_eq!(store.parts(1).unwrap().len(), 2);
        assert_eq!(store.counts().unwrap().sent, 1);
        // Foreign keys still hold after the rebuild.
        store
            .connection
            .execute("DELETE FROM outgoing WHERE id = 2", [])
            .unwrap();
        let orphans: i64 = store
            .connection
            .query_row(
                "SELECT COUNT(*) FROM outgoing_part WHERE message_id = 2",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphans, 0);
        assert!(store
            .enqueue("OUT+3.txt", &FileId::default(), "+3", 1, 5)
            .is_ok());
    }
}
