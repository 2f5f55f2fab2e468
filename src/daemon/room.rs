//! A full disk under the state database: what counts as one, and the wait
//! for room before the daemon goes on.
//!
//! Nothing can be sent without a record of it (a part's `sending` mark
//! comes before its PDU), nor received without one. So on a full disk the
//! daemon stops its work as a crash would stop it, but the process stays:
//! it keeps its locks, answers the watchdog and SIGTERM, says why in the
//! log, to systemd (`STATUS=`) and as a [`DaemonEvent::WaitingForRoom`],
//! and starts its work again once the file system has room, through the
//! same recovery as a start after a crash. The outbox's files wait in the
//! outbox and incoming messages on the device, so nothing is lost, and
//! the recovery's rules for a part in doubt keep anything from going out
//! twice.

use super::event_loop::{every, tick};
use super::signals::{Signal, Signals};
use super::systemd::Systemd;
use super::{DaemonError, DaemonEvent};
use crate::config::Config;
use crate::store::StoreError;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc;

/// Free space on the database's file system that lets the daemon go on
/// (bytes): some hundreds of messages' records and their write-ahead log.
pub(crate) const ROOM_TO_GO_ON: u64 = 256 * 1024;

/// How often the free space is looked at while waiting.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The longest wait between two tries on a file system that reports room
/// but refuses the writes (a user's disk quota, which `statvfs` does not
/// show).
const LONGEST_BACKOFF: Duration = Duration::from_secs(300);

/// A work run that lasted this long before the disk was full again starts
/// the backoff anew.
const RAN_LONG_ENOUGH: Duration = Duration::from_secs(60);

/// Why `error` means the disk under the database is full, or `None` when
/// it means something else. `free` tells the free bytes on the database's
/// file system: an I/O error while there are none is a full disk too
/// (SQLite reports `ENOSPC` from an fsync or from growing its shared
/// memory file as an I/O error, not as `SQLITE_FULL`).
pub(super) fn full_disk(error: &DaemonError, free: impl FnOnce() -> Option<u64>) -> Option<String> {
    let DaemonError::Store(store) = error else {
        return None;
    };
    let sqlite = match store {
        StoreError::Sqlite(error) | StoreError::Open { source: error, .. } => error,
        StoreError::Sync(error) => {
            let full = matches!(
                nix::errno::Errno::from_raw(error.raw_os_error()?),
                nix::errno::Errno::ENOSPC | nix::errno::Errno::EDQUOT
            );
            return full.then(|| store.to_string());
        }
        _ => return None,
    };
    let rusqlite::Error::SqliteFailure(failure, _) = sqlite else {
        return None;
    };
    match failure.code {
        rusqlite::ErrorCode::DiskFull => Some(store.to_string()),
        rusqlite::ErrorCode::SystemIoFailure if free().is_some_and(|f| f < ROOM_TO_GO_ON) => {
            Some(format!("{store}, with the file system full"))
        }
        _ => None,
    }
}

/// Free bytes for an unprivileged user on the file system of `path`'s
/// folder (`None` when it cannot be asked).
// `fsblkcnt_t` and the fragment size are 32 bits wide on armhf.
#[allow(clippy::useless_conversion)]
pub(crate) fn free_bytes(path: &Path) -> Option<u64> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty())?;
    let stat = nix::sys::statvfs::statvfs(folder).ok()?;
    Some(u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size())))
}

/// The least wait before the next try, after a work run of `ran_for` that
/// ended on a full disk, when the wait before it was `before`: a second
/// at first; doubled while each try soon finds the disk full again (room
/// that `statvfs` shows but the writes do not get); a second again after a
/// run that lasted.
pub(super) fn backoff(before: Option<Duration>, ran_for: Duration) -> Duration {
    match before {
        Some(before) if ran_for < RAN_LONG_ENOUGH => (before * 2).min(LONGEST_BACKOFF),
        _ => LOOK_EVERY,
    }
}

/// How a wait for room ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Waited {
    /// There is room: the work starts again.
    Room,
    /// A stop was asked for meanwhile.
    Stop,
}

/// What a wait for room needs from the daemon around it.
pub(super) struct Wait<'a, S: Future<Output = ()>> {
    /// The configuration in force (where the HTTP API listens).
    pub(super) config: &'a Config,
    pub(super) database: &'a Path,
    pub(super) signals: &'a mut Signals,
    pub(super) shutdown: Pin<&'a mut S>,
    pub(super) systemd: &'a Systemd,
    pub(super) events: Option<&'a mpsc::UnboundedSender<DaemonEvent>>,
}

impl<S: Future<Output = ()>> Wait<'_, S> {
    /// Says why the work stopped, then waits at least `least` and until
    /// the database's file system has [`ROOM_TO_GO_ON`], pinging the
    /// watchdog and answering the HTTP API's address with why (503)
    /// meanwhile; a stop request ends the wait.
    pub(super) async fn until_room(mut self, reason: &str, least: Duration) -> Waited {
        let api = match crate::http::start_unavailable(self.config, reason).await {
            Ok(api) => api,
            Err(error) => {
                tracing::warn!(%error, "the HTTP API cannot say why it waits; it is closed until there is room");
                None
            }
        };
        let waited = self.wait(reason, least).await;
        if let Some(api) = api {
            // Its address free again for the API of the work's next run.
            api.stop().await;
        }
        waited
    }

    async fn wait(&mut self, reason: &str, least: Duration) -> Waited {
        let folder = self.database.parent().unwrap_or(self.database);
        tracing::error!(
            database = %self.database.display(),
            %reason,
            "the disk under the database is full: nothing is sent or received until there is room \
             (the outbox's files wait in the outbox, incoming messages on the modem); simgate goes \
             on by itself once {} KiB are free in {}",
            ROOM_TO_GO_ON / 1024,
            folder.display(),
        );
        self.systemd.status(&format!(
            "waiting for room: the disk under {} is full",
            self.database.display()
        ));
        if let Some(events) = self.events {
            let _ = events.send(DaemonEvent::WaitingForRoom {
                database: self.database.to_owned(),
                reason: reason.to_owned(),
            });
        }
        let started = tokio::time::Instant::now();
        // For the next run of the work, which acts on them.
        let mut caught = Vec::new();
        let mut look = tokio::time::interval(LOOK_EVERY);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ping = every(self.systemd.watchdog_interval().unwrap_or(Duration::ZERO));
        loop {
            tokio::select! {
                () = self.shutdown.as_mut() => return Waited::Stop,
                signal = self.signals.recv_arriving() => match signal {
                    Some(Signal::Stop) | None => return Waited::Stop,
                    Some(signal) => {
                        if signal == Signal::Reload {
                            tracing::info!("SIGHUP while the disk is full: the configuration is read again when the work goes on");
                        }
                        caught.push(signal);
                    }
                },
                () = tick(&mut ping) => self.systemd.watchdog(),
                _ = look.tick() => {
                    if started.elapsed() >= least
                        && free_bytes(self.database).is_some_and(|free| free >= ROOM_TO_GO_ON)
                    {
                        tracing::info!(database = %self.database.display(), "there is room on the disk again: going on");
                        for signal in caught {
                            self.signals.keep(signal);
                        }
                        return Waited::Room;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: i32) -> DaemonError {
        DaemonError::Store(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        )))
    }

    #[test]
    fn sqlite_full_is_a_full_disk_whatever_the_free_space_says() {
        let reason = full_disk(&sqlite(rusqlite::ffi::SQLITE_FULL), || Some(u64::MAX));
        assert!(reason.is_some_and(|r| r.contains("full")));
    }

    #[test]
    fn an_io_error_is_a_full_disk_only_while_the_file_system_has_no_room() {
        let io = rusqlite::ffi::SQLITE_IOERR_FSYNC;
        assert!(full_disk(&sqlite(io), || Some(0)).is_some());
        assert!(full_disk(&sqlite(io), || Some(ROOM_TO_GO_ON - 1)).is_some());
        assert_eq!(full_disk(&sqlite(io), || Some(ROOM_TO_GO_ON)), None);
        assert_eq!(
            full_disk(&sqlite(io), || None),
            None,
            "unknown: not assumed full"
        );
    }

    #[test]
    fn a_failed_sync_is_a_full_disk_for_enospc_and_edquot_only() {
        let sync = |errno: nix::errno::Errno| {
            DaemonError::Store(StoreError::Sync(std::io::Error::from_raw_os_error(
                errno as i32,
            )))
        };
        assert!(full_disk(&sync(nix::errno::Errno::ENOSPC), || None).is_some());
        assert!(full_disk(&sync(nix::errno::Errno::EDQUOT), || None).is_some());
        assert_eq!(full_disk(&sync(nix::errno::Errno::EIO), || Some(0)), None);
    }

    #[test]
    fn other_errors_are_not_a_full_disk() {
        assert_eq!(
            full_disk(&sqlite(rusqlite::ffi::SQLITE_CORRUPT), || Some(0)),
            None
        );
        assert_eq!(full_disk(&DaemonError::NoDatabase, || Some(0)), None);
        let corrupt = DaemonError::Store(StoreError::Corrupt("x".into()));
        assert_eq!(full_disk(&corrupt, || Some(0)), None);
    }

    #[test]
    fn the_backoff_doubles_while_tries_fail_at_once_and_starts_over_after_a_long_run() {
        let second = Duration::from_secs(1);
        assert_eq!(backoff(None, Duration::ZERO), second);
        assert_eq!(backoff(Some(second), second * 5), second * 2);
        assert_eq!(backoff(Some(second * 2), second * 5), second * 4);
        assert_eq!(backoff(Some(second * 256), Duration::ZERO), LONGEST_BACKOFF);
        assert_eq!(backoff(Some(second * 64), RAN_LONG_ENOUGH), second);
    }

    fn waiting<'a>(
        database: &'a Path,
        signals: &'a mut Signals,
        shutdown: Pin<&'a mut std::future::Pending<()>>,
        systemd: &'a Systemd,
    ) -> Wait<'a, std::future::Pending<()>> {
        // No HTTP API.
        static CONFIG: std::sync::LazyLock<Config> = std::sync::LazyLock::new(Config::default);
        Wait {
            config: &CONFIG,
            database,
            signals,
            shutdown,
            systemd,
            events: None,
        }
    }

    #[tokio::test]
    async fn a_stop_ends_the_wait_and_a_reload_waits_for_the_next_run() {
        let systemd = Systemd::disabled();
        // A folder that cannot be asked: never room.
        let nowhere = Path::new("/no/such/folder/simgate.db");
        let mut signals = Signals::caught(&[Signal::Reload, Signal::Suspend, Signal::Stop]);
        let mut shutdown = std::pin::pin!(std::future::pending());
        let wait = waiting(nowhere, &mut signals, shutdown.as_mut(), &systemd);
        let waited = tokio::time::timeout(
            Duration::from_secs(10),
            wait.until_room("full", Duration::ZERO),
        )
        .await;
        assert_eq!(waited, Ok(Waited::Stop), "the stop after a reload is seen");
    }

    #[tokio::test]
    async fn what_was_caught_while_waiting_is_kept_for_the_next_run_once() {
        let systemd = Systemd::disabled();
        let roomy = std::env::temp_dir().join("simgate.db");
        assert!(free_bytes(&roomy).is_some_and(|free| free >= ROOM_TO_GO_ON));
        let mut signals = Signals::caught(&[Signal::Reload, Signal::Resume]);
        let mut shutdown = std::pin::pin!(std::future::pending());
        // Each signal is taken in by the wait before it ends (a second
        // at least).
        let wait = waiting(&roomy, &mut signals, shutdown.as_mut(), &systemd);
        assert_eq!(wait.until_room("full", LOOK_EVERY).await, Waited::Room);
        assert_eq!(signals.recv().await, Some(Signal::Reload));
        assert_eq!(signals.recv().await, Some(Signal::Resume));
        let nothing_more = tokio::time::timeout(Duration::from_millis(50), signals.recv()).await;
        assert!(nothing_more.is_err(), "{nothing_more:?}");
    }

    #[test]
    fn the_free_space_is_that_of_the_database_folder() {
        let dir = std::env::temp_dir();
        assert!(free_bytes(&dir.join("simgate.db")).is_some());
        assert_eq!(free_bytes(Path::new("/no/such/folder/simgate.db")), None);
    }
}
