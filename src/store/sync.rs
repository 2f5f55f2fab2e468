//! Group commit: one fsync of the WAL for the commits of several modems.
//!
//! A commit that must be on disk before the daemon acts on it (a part's
//! `sending` mark, before its PDU goes to the modem) is written to the WAL
//! without a sync of its own (`synchronous = NORMAL`) and hands back a
//! [`Ticket`]. [`Ticket::wait`] returns once an fsync of the WAL that
//! *began after that commit* has finished: the commit is then exactly as
//! durable as with `synchronous = FULL` (which is an fsync of the same
//! file after the commit's frames). The fsync runs outside the keeper, so
//! the other modems' jobs go on meanwhile; a commit already covered by a
//! running fsync waits for that one, and one that is not starts its own at
//! once, beside it (the disk serves two fsyncs together in little more
//! than the time of one).
//!
//! The WAL is synced through a descriptor kept open, so a sync needs no
//! new descriptor: a daemon that ran out of them (too many clients, a low
//! `ulimit -n`) still makes its commits durable, where an open by name for
//! each fsync failed with EMFILE and stopped the daemon. Before each sync
//! the path is looked at (`stat`, which needs no descriptor): a WAL that
//! SQLite made anew is another inode, and is opened in its turn.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// What makes written commits durable (the WAL's fsync; a counter in
/// tests).
type SyncFn = Box<dyn Fn() -> io::Result<()> + Send + Sync>;

/// The group commit of one database (see the module docs).
pub(crate) struct GroupSync {
    state: Mutex<State>,
    finished: Condvar,
    sync: SyncFn,
}

impl std::fmt::Debug for GroupSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupSync").finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    /// Commits written so far (each one's number is its ticket).
    written: u64,
    /// Every commit up to this one is synced.
    synced: u64,
    /// The fsyncs running, by the last commit each covers.
    running: Vec<u64>,
}

impl GroupSync {
    /// The group commit of the WAL at `wal`. Its frames are made durable
    /// with `fdatasync`, as SQLite's own syncs are (`HAVE_FDATASYNC`,
    /// `.cargo/config.toml`): a commit changes the WAL's data and, while
    /// the WAL grows, its size, which `fdatasync` writes too; what it
    /// skips is the inode's times: on an ext4 with a journal, a journal
    /// commit at every sync for nothing recovery reads.
    pub(crate) fn for_wal(wal: PathBuf) -> Arc<Self> {
        let kept = KeptWal::default();
        Self::with(Box::new(move || kept.sync(&wal)))
    }

    fn with(sync: SyncFn) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            finished: Condvar::new(),
            sync,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A commit was written (call it after the commit returned): its
    /// ticket.
    pub(crate) fn written(self: &Arc<Self>) -> Ticket {
        let mut state = self.lock();
        state.written += 1;
        Ticket {
            group: Some((Arc::clone(self), state.written)),
        }
    }

    /// Blocks until commit `number` is synced: by an fsync already running
    /// that began after it, or by one started here. An fsync that does
    /// not cover it is not waited for: two run side by side (the disk
    /// takes them together), rather than one after the other.
    fn wait(&self, number: u64) -> io::Result<()> {
        let mut state = self.lock();
        loop {
            if state.synced >= number {
                return Ok(());
            }
            if state.running.iter().any(|&covers| covers >= number) {
                state = self
                    .finished
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Every commit written so far is in the file: this fsync
            // covers them all.
            let covers = state.written;
            state.running.push(covers);
            drop(state);
            let synced = (self.sync)();
            state = self.lock();
            if let Some(at) = state.running.iter().position(|&c| c == covers) {
                state.running.swap_remove(at);
            }
            if synced.is_ok() {
                state.synced = state.synced.max(covers);
            }
            self.finished.notify_all();
            synced?;
        }
    }
}

/// The WAL's descriptor, kept between syncs, with the file it is (device
/// and inode).
#[derive(Debug, Default)]
struct KeptWal {
    open: Mutex<Option<(Arc<std::fs::File>, u64, u64)>>,
}

impl KeptWal {
    /// `fdatasync` of the file at `path`, through the kept descriptor when
    /// it is still that file. Two syncs may run at once (each holds the
    /// descriptor, not the lock).
    fn sync(&self, path: &Path) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let now = std::fs::metadata(path)?;
        let file = {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            match open.as_ref() {
                Some((file, dev, ino)) if *dev == now.dev() && *ino == now.ino() => {
                    Arc::clone(file)
                }
                _ => {
                    let file = std::fs::File::open(path)?;
                    let is = file.metadata()?;
                    let file = Arc::new(file);
                    *open = Some((Arc::clone(&file), is.dev(), is.ino()));
                    file
                }
            }
        };
        file.sync_data()
    }
}

/// A commit that is durable once [`Ticket::wait`] returns.
#[derive(Debug)]
#[must_use = "a commit is not durable until its ticket is waited for"]
pub(crate) struct Ticket {
    pub(super) group: Option<(Arc<GroupSync>, u64)>,
}

impl Ticket {
    /// A commit that was synced when it was made (or that needs no sync:
    /// nothing was written, or the database is in memory).
    pub(crate) fn durable() -> Self {
        Self { group: None }
    }

    /// Blocks until the commit is on disk (an fsync, this thread's or
    /// another's). A failed fsync is an error: what the commit announced
    /// must not be acted on.
    pub(crate) fn wait(self) -> io::Result<()> {
        match self.group {
            Some((group, number)) => group.wait(number),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::mpsc;

    fn kept(wal: &KeptWal) -> Arc<std::fs::File> {
        Arc::clone(&wal.open.lock().unwrap().as_ref().unwrap().0)
    }

    /// The WAL's descriptor is opened once and kept (a sync needs no new
    /// one), and opened again when the path holds another file.
    #[test]
    fn the_wal_is_synced_through_one_kept_descriptor_until_it_is_made_anew() {
        let dir = std::env::temp_dir().join(format!("simgate-kept-wal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db-wal");
        std::fs::write(&path, b"frames").unwrap();
        let wal = KeptWal::default();
        wal.sync(&path).unwrap();
        let first = kept(&wal);
        wal.sync(&path).unwrap();
        assert!(Arc::ptr_eq(&first, &kept(&wal)), "opened again");
        // SQLite made it anew: another inode under the same name.
        std::fs::rename(&path, dir.join("old-wal")).unwrap();
        std::fs::write(&path, b"new frames").unwrap();
        wal.sync(&path).unwrap();
        assert!(!Arc::ptr_eq(&first, &kept(&wal)), "the old file synced");
        // Gone: an error, not a sync of the old one.
        std::fs::remove_file(&path).unwrap();
        assert!(wal.sync(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn counting() -> (Arc<GroupSync>, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&count);
        let group = GroupSync::with(Box::new(move || {
            counted.fetch_add(1, SeqCst);
            Ok(())
        }));
        (group, count)
    }

    #[test]
    fn one_fsync_covers_every_commit_written_before_it() {
        let (group, fsyncs) = counting();
        let first = group.written();
        let second = group.written();
        first.wait().unwrap();
        assert_eq!(fsyncs.load(SeqCst), 1);
        second.wait().unwrap();
        assert_eq!(
            fsyncs.load(SeqCst),
            1,
            "the second was covered by the first fsync"
        );
        group.written().wait().unwrap();
        assert_eq!(
            fsyncs.load(SeqCst),
            2,
            "a later commit needs an fsync of its own"
        );
        Ticket::durable().wait().unwrap();
        assert_eq!(fsyncs.load(SeqCst), 2);
    }

    #[test]
    fn a_commit_written_during_an_fsync_has_one_of_its_own_beside_it() {
        // The first fsync blocks until told to go on; a commit written
        // while it runs is not covered by it, and its own fsync does not
        // queue behind it.
        let (entered_tx, entered) = mpsc::channel::<()>();
        let (go_tx, go) = mpsc::channel::<()>();
        let go = Mutex::new(go);
        let entered_tx = Mutex::new(entered_tx);
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let group = GroupSync::with(Box::new(move || {
            if counted.fetch_add(1, SeqCst) == 0 {
                entered_tx.lock().unwrap().send(()).unwrap();
                go.lock().unwrap().recv().unwrap();
            }
            Ok(())
        }));
        let early = group.written();
        let first = std::thread::spawn(move || early.wait());
        entered.recv().unwrap();
        // The first fsync is running now.
        let late = group.written();
        let (done_tx, done) = mpsc::channel();
        let second = std::thread::spawn(move || {
            let result = late.wait();
            done_tx.send(()).unwrap();
            result
        });
        // Only a deadlock guard: the second finishes while the first is
        // still held.
        done.recv_timeout(std::time::Duration::from_secs(60))
            .expect("the second commit waited for an fsync that did not cover it");
        assert_eq!(
            calls.load(SeqCst),
            2,
            "the late commit had an fsync of its own"
        );
        go_tx.send(()).unwrap();
        first.join().unwrap().unwrap();
        second.join().unwrap().unwrap();
        assert_eq!(calls.load(SeqCst), 2);
    }

    #[test]
    fn a_failed_fsync_covers_nothing() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let group = GroupSync::with(Box::new(move || {
            if counted.fetch_add(1, SeqCst) == 0 {
                Err(io::Error::other("EIO"))
            } else {
                Ok(())
            }
        }));
        let first = group.written();
        let second = group.written();
        assert!(first.wait().is_err());
        // Not covered by the fsync that failed: another one runs.
        second.wait().unwrap();
        assert_eq!(calls.load(SeqCst), 2);
    }
}
