//! The outbox side of the daemon: which files were seen (sightings) and when they
//! are ready ([`crate::spool::settle`]), taking a ready file in (parsed and
//! recorded as a queued message, or moved to error/ with the reason),
//! noticing files deleted or replaced while their messages wait (the
//! message is cancelled), moving finished files to sent/ or error/ (and
//! trying again when that fails), and keeping the inotify watch alive when
//! the folder is removed and recreated.
//!
//! A waiting message's file stays in outbox/ under its own name, as with
//! gammu; only [`super::send`] claims it, for the time its parts go out.

use super::destinations::Destinations;
use super::logging::Redact;
use super::watcher::{self, OutboxEvent};
use super::DaemonEvent;
use crate::config::Config;
use crate::instance::Lock;
use crate::procfs::{self, Access, Inode};
use crate::spool::fs::Flush;
use crate::spool::settle::{self, Arrival, Readiness};
use crate::spool::{self, fs as spool_fs, OutboxName, OutgoingMessage, Utf8Fallback};
use crate::store::{Durability, MessageState, Outgoing, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// How long a dead writer's temporary file must have stayed unchanged
/// before a scan removes it: a writer in another PID namespace (a
/// container sharing the outbox) has an id that means nothing here, and
/// writes its few bytes in well under this.
const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(600);
/// How often a dead watch looks for its folder again.
pub(super) const FOLDER_CHECK: Duration = Duration::from_secs(1);

/// First wait before moving a finished file again after a failure.
const FIRST_MOVE_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between two attempts to move a finished file.
const MAX_MOVE_RETRY: Duration = Duration::from_secs(300);

/// Most files held as sightings at once. A burst beyond it is not held
/// name by name (10,000 names took 1.3 MB, the largest part of the peak
/// memory with 10,000 queued; benches/README.md, "Memory"): the names past
/// it are found by listing the folder again once fewer than half of these
/// are left.
const SIGHTINGS_HELD: usize = 1024;

/// How long a file that could not be read for a reason of the moment
/// (out of file descriptors, say) waits before it is read again.
pub(super) const TRANSIENT_RETRY: Duration = Duration::from_secs(1);

/// The outbox folder, its watch and the files seen there and not taken in yet.
pub(super) struct Outbox {
    dir: PathBuf,
    /// Files seen, with how they arrived and when to look at them again.
    sightings: BTreeMap<OsString, Sighting>,
    /// Of those, the ones whose change time was ahead of the clock: the
    /// first look that found each as it is now, to settle it by looking
    /// ([`settle::readiness_looking`]). Apart, so that the sightings (up
    /// to [`SIGHTINGS_HELD`]) stay small; it holds a file only in the rare
    /// case.
    looked: BTreeMap<OsString, settle::Look>,
    /// Names reported deleted or moved out since the last look.
    gone: BTreeSet<OsString>,
    /// A full scan is asked for.
    rescan: bool,
    /// Files were seen while [`SIGHTINGS_HELD`] were held: the folder is
    /// listed again for them once the sightings are down to half.
    overflowed: bool,
    /// Names already reported as unusable, so a rescan does not repeat it.
    reported: HashSet<OsString>,
    watch: Watch,
    /// Why the outbox was not watched as last recorded in the store (for
    /// `simgate status`), to record only changes.
    recorded_unwatched: Option<String>,
    sender: mpsc::Sender<OutboxEvent>,
    /// Finished files that could not be moved yet: when to try again, and
    /// how long the wait after that is.
    moves: Moves,
    /// Reads that failed for a reason of the moment, since start (for
    /// logging only some of them).
    transient_reads: u32,
    /// The outbox's lock (`None`: not locked, the daemon does not send);
    /// taken again on a folder that replaced the locked one.
    lock: Option<Lock>,
    /// Which numbers may be sent to (loaded at start and on SIGHUP).
    pub(super) destinations: Destinations,
}

#[derive(Debug, Clone, Copy)]
struct Sighting {
    arrival: Arrival,
    due: SystemTime,
}

enum Watch {
    Armed {
        _watcher: notify::RecommendedWatcher,
        folder: Inode,
    },
    /// No watch: the folder is missing (or was replaced).
    Dead { logged: bool },
    /// The folder is there but no watch can be made (an inotify limit
    /// reached, `reason`): it is listed every [`FOLDER_CHECK`] instead, and
    /// a watch tried again each time.
    Refused { reason: String },
}

#[derive(Default)]
struct Moves {
    next: Option<SystemTime>,
    delay: Duration,
    failures: u32,
}

/// Whether a scan cancels the waiting messages whose files are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    Gone,
    No,
}

/// What became of a file that was to be moved on.
pub(super) enum Finished {
    /// Moved (to this path) or deleted (`None`, as configured).
    Done(Option<PathBuf>),
    /// Could not be moved now; tried again later.
    Pending,
}

impl Outbox {
    /// Watches `dir` (a missing folder is watched once it appears), with
    /// `lock` held for as long as the daemon runs. What the watcher reports
    /// arrives on the returned receiver, for [`Self::note`].
    ///
    /// A relative `dir` is joined to the working directory first, as the
    /// watcher joins it: it reports absolute paths, and a relative folder
    /// would never recognise its own files in them.
    pub(super) fn new(dir: &Path, lock: Option<Lock>) -> (Self, mpsc::Receiver<OutboxEvent>) {
        let (sender, events) = mpsc::channel(1024);
        let mut outbox = Self {
            dir: std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned()),
            sightings: BTreeMap::new(),
            looked: BTreeMap::new(),
            gone: BTreeSet::new(),
            rescan: true,
            overflowed: false,
            reported: HashSet::new(),
            watch: Watch::Dead { logged: false },
            recorded_unwatched: None,
            sender,
            moves: Moves::default(),
            transient_reads: 0,
            destinations: Destinations::default(),
            lock,
        };
        outbox.check_watch();
        (outbox, events)
    }

    /// Takes a watcher report in; the work waits for [`Self::process`], so
    /// a burst of events is handled as one batch.
    pub(super) fn note(&mut self, event: OutboxEvent, now: SystemTime) {
        match event {
            OutboxEvent::Appeared(path, arrival) => {
                if let Some(name) = self.own_name(&path) {
                    self.gone.remove(&name);
                    self.add(name, arrival, now);
                }
            }
            OutboxEvent::Gone(path) => {
                if let Some(name) = self.own_name(&path) {
                    self.sightings.remove(&name);
                    self.gone.insert(name);
                }
            }
            OutboxEvent::Rescan => self.rescan = true,
            OutboxEvent::FolderGone => self.check_watch(),
        }
    }

    /// Looks at `name` again now (after its earlier message finished, say).
    pub(super) fn look_again(&mut self, name: &str, now: SystemTime) {
        self.add(OsString::from(name), Arrival::Found, now);
    }

    fn add(&mut self, name: OsString, arrival: Arrival, now: SystemTime) {
        if self.sightings.len() >= SIGHTINGS_HELD && !self.sightings.contains_key(&name) {
            self.overflowed = true;
            return;
        }
        let entry = self
            .sightings
            .entry(name)
            .or_insert(Sighting { arrival, due: now });
        entry.arrival = entry.arrival.merge(arrival);
        entry.due = now;
    }

    fn own_name(&self, path: &Path) -> Option<OsString> {
        (path.parent() == Some(self.dir.as_path()))
            .then(|| path.file_name().map(OsStr::to_owned))
            .flatten()
    }

    /// When [`Self::process`] has work next.
    pub(super) fn next_due(&self) -> Option<SystemTime> {
        let soonest = self.sightings.values().map(|c| c.due).min();
        let now_work = (self.rescan || self.overflow_due() || !self.gone.is_empty())
            .then_some(SystemTime::UNIX_EPOCH);
        [soonest, now_work, self.moves.next]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the files seen past [`SIGHTINGS_HELD`] are to be looked for.
    fn overflow_due(&self) -> bool {
        self.overflowed && self.sightings.len() < SIGHTINGS_HELD / 2
    }

    /// Whether files seen in the outbox are due to be taken in now.
    pub(super) fn has_files_due(&self, now: SystemTime) -> bool {
        self.sightings.values().any(|sighting| sighting.due <= now)
    }

    /// Whether there is no watch (the folder is missing, or no watch can
    /// be made): the folder is then checked every [`FOLDER_CHECK`].
    pub(super) fn watch_dead(&self) -> bool {
        !matches!(self.watch, Watch::Armed { .. })
    }

    /// Why no watch can be made on the folder that is there (`None`: it
    /// is watched, or missing).
    pub(super) fn unwatched(&self) -> Option<&str> {
        match &self.watch {
            Watch::Refused { reason } => Some(reason),
            _ => None,
        }
    }

    /// Arms the watch when the folder is (back) there, and notices a folder
    /// that was removed or replaced: logged once, then watched again as
    /// soon as it reappears, with a full scan. A folder that is there but
    /// cannot be watched (an inotify limit) is listed at every call
    /// instead, until a watch can be made.
    pub(super) fn check_watch(&mut self) {
        let current = Inode::of(&self.dir).ok().filter(|_| self.dir.is_dir());
        match (&mut self.watch, current) {
            (Watch::Armed { folder, .. }, Some(inode)) if *folder == inode => {}
            (Watch::Armed { .. }, _) => {
                tracing::warn!(outbox = %self.dir.display(), "the outbox folder was removed or replaced; watching for it");
                self.watch = Watch::Dead { logged: true };
                self.check_watch();
            }
            (Watch::Refused { .. }, None) => {
                self.watch = Watch::Dead { logged: false };
                self.check_watch();
            }
            (Watch::Dead { logged }, None) => {
                if !*logged {
                    tracing::warn!(outbox = %self.dir.display(), "the outbox folder is missing; nothing is sent until it is back (receiving goes on)");
                    *logged = true;
                }
            }
            (Watch::Dead { .. } | Watch::Refused { .. }, Some(inode)) => {
                // A new folder under the name: locked as the first was, so
                // no second daemon takes it and `simgate send --wait`
                // sees it served.
                if let Some(held) = &self.lock {
                    if held.inode() != Some(inode) {
                        match crate::instance::lock_dir(&self.dir, "outbox") {
                            Ok(lock) => self.lock = Some(lock),
                            Err(error) => {
                                tracing::error!(outbox = %self.dir.display(), error = %crate::redact::Scrub(&error), "cannot lock the outbox folder that replaced the first; another daemon may be sending from it too");
                            }
                        }
                    }
                }
                match watcher::watch(&self.dir, self.sender.clone()) {
                    Ok(watcher) => {
                        match &self.watch {
                            Watch::Refused { .. } => {
                                tracing::info!(outbox = %self.dir.display(), "watching the outbox again: new files are seen at once");
                            }
                            Watch::Dead { logged: true } => {
                                tracing::info!(outbox = %self.dir.display(), "the outbox folder is back; watching it again");
                            }
                            _ => {}
                        }
                        self.watch = Watch::Armed {
                            _watcher: watcher,
                            folder: inode,
                        };
                    }
                    Err(error) => {
                        let reason = watcher::why_unwatched(&error);
                        if self.unwatched() != Some(reason.as_str()) {
                            tracing::warn!(outbox = %self.dir.display(), "cannot watch the outbox: {reason}; it is looked at every second until it can be watched");
                        }
                        self.watch = Watch::Refused { reason };
                    }
                }
                // Files that came while there was no watch.
                self.rescan = true;
            }
        }
    }

    /// Asks for a full scan (the safety timer).
    pub(super) fn request_rescan(&mut self) {
        self.rescan = true;
    }

    /// Does the work that is due at `now`: a full scan if asked for,
    /// messages whose files are gone, files seen that are ready, moves to
    /// try again. Returns what to report.
    ///
    /// At most `budget` ready files are taken in per call, so the event
    /// loop is never kept waiting long by a burst: what is left stays due
    /// ([`Self::next_due`]) for the next call. Everything one call records
    /// is one commit, synced by the next synced commit (a power cut that
    /// loses it leaves the files in the outbox to be taken in again).
    pub(super) fn process(
        &mut self,
        config: &Config,
        store: &mut Store,
        now: SystemTime,
        budget: usize,
    ) -> Result<Vec<DaemonEvent>, StoreError> {
        let mut events = Vec::new();
        store.batch(Durability::WithNextCommit, |store| {
            let done = (|| {
                let unwatched = self.unwatched().map(str::to_owned);
                if unwatched != self.recorded_unwatched {
                    store.record_outbox_watch(unwatched.as_deref(), ms(now), std::process::id())?;
                    self.recorded_unwatched = unwatched;
                }
                if std::mem::take(&mut self.rescan) {
                    self.overflowed = false;
                    self.scan(config, store, now, Cancel::Gone, &mut events)?;
                } else if self.overflow_due() {
                    // Only new files: the cancelling is the full scan's.
                    self.overflowed = false;
                    self.scan(config, store, now, Cancel::No, &mut events)?;
                }
                if !self.gone.is_empty() {
                    let gone = std::mem::take(&mut self.gone);
                    for name in gone {
                        if let Some(row) = store.active_by_name(&name.to_string_lossy())? {
                            self.cancel_if_gone(config, store, &row, now, &mut events)?;
                        }
                    }
                }
                self.take_in_ready(config, store, now, budget, &mut events)?;
                if self.moves.next.is_some_and(|next| next <= now) {
                    self.retry_moves(config, store, now, &mut events)?;
                }
                Ok::<_, StoreError>(())
            })();
            // A file refused as it was taken in failed: its webhook goes
            // in the commit that records the refusal.
            for event in &events {
                if let DaemonEvent::Failed { file, reason } = event {
                    super::webhooks::queue_failed(store, file, reason, ms(now))?;
                }
            }
            done
        })?;
        Ok(events)
    }

    /// Lists the folder: every outbox name is a sighting (up to
    /// [`SIGHTINGS_HELD`]); names that cannot be sent go to error/; with
    /// [`Cancel::Gone`], waiting messages whose files are gone are
    /// cancelled. A missing folder is not an error: the daemon goes on
    /// receiving and watches for the folder.
    fn scan(
        &mut self,
        config: &Config,
        store: &mut Store,
        now: SystemTime,
        cancel: Cancel,
        events: &mut Vec<DaemonEvent>,
    ) -> Result<(), StoreError> {
        // Every scan also removes what writers killed mid-write left
        // (`simgate send`, another process's HTTP API: part of a message
        // never queued), once unchanged for [`ORPHAN_AGE`], so that they
        // do not pile up between two starts of the daemon.
        let orphans_before = now.checked_sub(ORPHAN_AGE).unwrap_or(now);
        let mut listing = match spool_fs::OutboxListing::open(&self.dir) {
            Ok(listing) => listing.removing_orphaned_temps(orphans_before),
            Err(error) => {
                if spool_fs::is_not_found(&error) {
                    self.check_watch();
                } else {
                    tracing::warn!(error = %crate::redact::Scrub(&error), "cannot list the outbox");
                }
                return Ok(());
            }
        };
        // One entry at a time: a listing held whole (sorted, for the
        // lookups below) took 2 MB with 10,000 queued, at every rescan.
        for entry in listing.by_ref() {
            match entry {
                Ok(spool_fs::ScanEntry::Outbox(name)) => {
                    if !self.is_queued_unchanged(store, &name)? {
                        self.add_found(OsStr::new(&name), now);
                    }
                }
                // Taken in like any file, then moved to error/ with the
                // reason the name cannot be used.
                Ok(spool_fs::ScanEntry::Invalid { name, .. }) => self.add_found(&name, now),
                Ok(spool_fs::ScanEntry::NotRegular { name, kind }) => {
                    self.report_unusable(
                        name,
                        format!("not a regular file ({kind:?}); left where it is"),
                        events,
                    );
                }
                Err(error) => {
                    // Nothing is cancelled on a listing cut short.
                    tracing::warn!(error = %crate::redact::Scrub(&error), "cannot list the outbox");
                    return Ok(());
                }
            }
        }
        match listing.orphans_removed() {
            (0, None) => {}
            (removed, None) => {
                tracing::info!(
                    removed,
                    "removed the temporary files of a killed simgate send from the outbox"
                )
            }
            (removed, Some(error)) => {
                tracing::warn!(removed, error = %crate::redact::Scrub(&error), "cannot remove temporary files from the outbox")
            }
        }
        if cancel == Cancel::No {
            return Ok(());
        }
        // Waiting messages whose file is no longer a regular file in the
        // folder: asked of the folder itself (a stat each) rather than of
        // a copy of the listing.
        let dir = self.dir.clone();
        for row in store.waiting_unlisted(|name| spool_fs::is_regular_file(&dir, name))? {
            self.cancel_if_gone(config, store, &row, now, events)?;
        }
        Ok(())
    }

    /// Whether `name` is the file of a message queued already, unchanged
    /// since it was taken in: then a rescan has nothing to do with it (a
    /// sighting would be stat'ed, looked up in `/proc` for writers and in
    /// the store, only to find that; with 10,000 queued that was a second
    /// of CPU and a megabyte of sightings every rescan).
    fn is_queued_unchanged(&self, store: &Store, name: &str) -> Result<bool, StoreError> {
        if self.sightings.contains_key(OsStr::new(name)) {
            return Ok(false);
        }
        let Some(row) = store.active_by_name(name)? else {
            return Ok(false);
        };
        Ok(row.state == MessageState::Queued
            && spool_fs::file_state(&self.dir.join(name))
                .is_ok_and(|state| state.id == row.file_id))
    }

    /// A name the scan found is a sighting, unless it is one already.
    fn add_found(&mut self, name: &OsStr, now: SystemTime) {
        if !self.sightings.contains_key(name) {
            self.add(name.to_owned(), Arrival::Found, now);
        }
    }

    /// Logs (and reports) once that an outbox entry cannot be used.
    fn report_unusable(&mut self, name: OsString, reason: String, events: &mut Vec<DaemonEvent>) {
        if self.reported.insert(name.clone()) {
            tracing::warn!(file = %Redact(name.to_string_lossy()), reason = %crate::redact::Scrub(&reason), "outbox entry ignored");
            events.push(DaemonEvent::Failed {
                file: name.to_string_lossy().into_owned(),
                reason,
            });
        }
    }

    /// A waiting message whose file is neither in outbox/ nor claimed is
    /// cancelled: deleting a waiting file cancels its message, as with
    /// gammu. A file replaced under the name cancels the old message and
    /// is a sighting itself.
    fn cancel_if_gone(
        &mut self,
        config: &Config,
        store: &mut Store,
        row: &Outgoing,
        now: SystemTime,
        events: &mut Vec<DaemonEvent>,
    ) -> Result<(), StoreError> {
        if row.state != MessageState::Queued {
            return Ok(());
        }
        let path = self.dir.join(&row.file_name);
        let claimed = spool_fs::claim_dir(&self.dir).join(&row.file_name);
        let reason = match spool_fs::file_state(&path) {
            Ok(state) if state.id == row.file_id => return Ok(()),
            Ok(_) => {
                self.add(OsString::from(&row.file_name), Arrival::Written, now);
                "its file was replaced by another of the same name before it was sent"
            }
            Err(error) if spool_fs::is_not_found(&error) => {
                if claimed.exists() {
                    return Ok(());
                }
                if !self.dir.is_dir() {
                    // The whole folder is gone: nothing to conclude yet.
                    return Ok(());
                }
                if Self::settle_moved(config, store, row, now)?.is_some() {
                    return Ok(());
                }
                "its file was deleted from the outbox before it was sent"
            }
            Err(_) => return Ok(()),
        };
        cancel(config, store, row, reason, now, events)
    }

    /// Takes in, in name order and up to `budget`, the files seen that are
    /// due and ready: one `/proc` scan for open writers per call.
    fn take_in_ready(
        &mut self,
        config: &Config,
        store: &mut Store,
        now: SystemTime,
        budget: usize,
        events: &mut Vec<DaemonEvent>,
    ) -> Result<(), StoreError> {
        let due: Vec<(OsString, Sighting)> = self
            .sightings
            .iter()
            .filter(|(_, c)| c.due <= now)
            .take(budget)
            .map(|(name, c)| (name.clone(), *c))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let settle_time = config.spool.settle_time;
        let mut ready: Vec<(OsString, spool_fs::FileState)> = Vec::new();
        for (name, sighting) in due {
            let path = self.dir.join(&name);
            let state = match spool_fs::file_state(&path) {
                Ok(state) => state,
                Err(spool_fs::SpoolIoError::NotRegular { kind, .. }) => {
                    self.sightings.remove(&name);
                    if spool::classify_outbox_os_name(&name).is_ok_and(|p| p.is_some()) {
                        self.report_unusable(
                            name,
                            format!("not a regular file ({kind:?}); left where it is"),
                            events,
                        );
                    }
                    continue;
                }
                Err(error) => {
                    self.sightings.remove(&name);
                    if !spool_fs::is_not_found(&error) {
                        tracing::warn!(file = %Redact(name.to_string_lossy()), error = %crate::redact::Scrub(&error), "cannot inspect an outbox file");
                    }
                    continue;
                }
            };
            let look = settle::Look {
                changed: state.changed,
                file: state.id,
                at: now,
            };
            let before = self.looked.get(&name).copied();
            match settle::readiness_looking(sighting.arrival, look, before, settle_time) {
                Readiness::Ready => ready.push((name, state)),
                Readiness::WaitUntil(at) => {
                    // The first look that found it as it is now.
                    let same =
                        before.is_some_and(|b| b.file == look.file && b.changed == look.changed);
                    if look.changed > now && !same {
                        self.looked.insert(name.clone(), look);
                    }
                    if let Some(c) = self.sightings.get_mut(&name) {
                        c.due = at;
                    }
                }
            }
        }
        if !self.looked.is_empty() {
            let sightings = &self.sightings;
            self.looked.retain(|name, _| sightings.contains_key(name));
        }
        if ready.is_empty() {
            return Ok(());
        }
        let inodes: BTreeSet<Inode> = ready.iter().map(|(_, state)| state.inode()).collect();
        let writers = procfs::open_holders(&inodes, Access::Write);
        for (name, state) in ready {
            if let Some(pids) = writers.holders.get(&state.inode()) {
                tracing::debug!(file = %Redact(name.to_string_lossy()), ?pids, "still open for writing; waiting");
                if let Some(c) = self.sightings.get_mut(&name) {
                    c.arrival = Arrival::Written;
                    c.due = now + settle_time.max(Duration::from_millis(200));
                }
                continue;
            }
            self.sightings.remove(&name);
            self.take_in(config, store, &name, &state, now, events)?;
        }
        Ok(())
    }

    /// Takes one settled file in.
    fn take_in(
        &mut self,
        config: &Config,
        store: &mut Store,
        name: &OsStr,
        state: &spool_fs::FileState,
        now: SystemTime,
        events: &mut Vec<DaemonEvent>,
    ) -> Result<(), StoreError> {
        let parsed = match spool::classify_outbox_os_name(name) {
            Ok(None) => return Ok(()),
            Ok(Some(parsed)) => parsed,
            Err(error) => {
                // gammu would try and fail; this file cannot be sent.
                let reason = format!("not a usable outbox file name: {error}");
                return self.reject(config, store, name, state, &reason, now, events);
            }
        };
        let file_name = parsed.name.clone();
        if let Some(row) = store.active_by_name(&file_name)? {
            if row.file_id == state.id {
                return Ok(()); // already queued (back from a claim, say)
            }
            if row.state != MessageState::Queued {
                // Its namesake is going out right now: this one waits for
                // the name to be free (looked at again then).
                return Ok(());
            }
            cancel(
                config,
                store,
                &row,
                "its file was replaced by another of the same name before it was sent",
                now,
                events,
            )?;
        }
        let path = self.dir.join(name);
        match read_message(config, &path, &parsed) {
            Ok((message, parts)) => {
                if let Some(reason) = self.destinations.refusal(&message.recipient) {
                    return self.reject(config, store, name, state, &reason, now, events);
                }
                let row =
                    store.enqueue(&file_name, &state.id, &message.recipient, parts, ms(now))?;
                tracing::info!(file = %Redact(&file_name), parts, id = row.id, "queued");
                events.push(DaemonEvent::Queued { file: file_name });
                Ok(())
            }
            // Out of file descriptors or memory just now: the file is not
            // to blame, and is read again in a while.
            Err(Unsendable::Read(error)) if spool_fs::is_transient(&error) => {
                self.read_later(name, &error, now);
                Ok(())
            }
            Err(reason) => {
                self.reject(config, store, name, state, &reason.to_string(), now, events)
            }
        }
    }

    /// A file that could not be read for a reason of the moment
    /// ([`spool_fs::is_transient`]): looked at again after
    /// [`TRANSIENT_RETRY`], logged at the first and every 20th time.
    fn read_later(&mut self, name: &OsStr, error: &spool_fs::SpoolIoError, now: SystemTime) {
        self.transient_reads += 1;
        if self.transient_reads == 1 || self.transient_reads.is_multiple_of(20) {
            tracing::warn!(file = %Redact(name.to_string_lossy()), error = %crate::redact::Scrub(error), times = self.transient_reads, "cannot read an outbox file just now; will try again");
        }
        self.add(name.to_owned(), Arrival::Found, now);
        if let Some(sighting) = self.sightings.get_mut(name) {
            sighting.due = now + TRANSIENT_RETRY;
        }
    }

    /// A file that cannot be sent: recorded as failed and moved to error/
    /// with the reason logged.
    #[allow(clippy::too_many_arguments)]
    fn reject(
        &mut self,
        config: &Config,
        store: &mut Store,
        name: &OsStr,
        state: &spool_fs::FileState,
        reason: &str,
        now: SystemTime,
        events: &mut Vec<DaemonEvent>,
    ) -> Result<(), StoreError> {
        let file_name = name.to_string_lossy().into_owned();
        if store.active_by_name(&file_name)?.is_some() {
            return Ok(());
        }
        let row = store.enqueue(&file_name, &state.id, "", 1, ms(now))?;
        store.mark_failed(row.id, reason, ms(now))?;
        tracing::error!(file = %Redact(&file_name), reason = %crate::redact::Scrub(&reason), "outbox file cannot be sent; moved to the error folder");
        let file = spool_fs::Claimed {
            name: name.to_owned(),
            path: self.dir.join(name),
        };
        self.finish(config, store, row.id, &file, false, now, Flush::Later)?;
        events.push(DaemonEvent::Failed {
            file: file_name,
            reason: reason.to_owned(),
        });
        Ok(())
    }

    /// Moves a finished message's file to sent/ or error/ (or deletes it,
    /// as configured) and frees its name; when that fails, the message
    /// keeps its file and the move is tried again later. With
    /// [`Flush::Later`], a power cut may undo the move but not the freed
    /// name; the restart finds the file by its identity
    /// ([`Self::recover`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish(
        &mut self,
        config: &Config,
        store: &mut Store,
        id: i64,
        file: &spool_fs::Claimed,
        sent: bool,
        now: SystemTime,
        flush: Flush,
    ) -> Result<Finished, StoreError> {
        let target = if sent {
            config.spool.sent.clone()
        } else {
            config.spool.error.clone()
        };
        let outcome = spool_fs::finish(
            &self.dir,
            file,
            target.as_deref().unwrap_or(&self.dir),
            flush,
        );
        match outcome {
            Ok(outcome) => {
                store.forget_file(id)?;
                self.look_again(&file.name.to_string_lossy(), now);
                Ok(Finished::Done(outcome.path().map(Path::to_owned)))
            }
            Err(error) => {
                store.file_pending(id)?;
                self.move_failed(&error, file, now);
                Ok(Finished::Pending)
            }
        }
    }

    fn move_failed(
        &mut self,
        error: &spool_fs::SpoolIoError,
        file: &spool_fs::Claimed,
        now: SystemTime,
    ) {
        self.moves.failures += 1;
        if self.moves.failures == 1 || self.moves.failures.is_multiple_of(20) {
            tracing::error!(file = %Redact(file.name.to_string_lossy()), error = %crate::redact::Scrub(&error), failures = self.moves.failures, "cannot move a finished file; will try again");
        }
        self.moves.delay = if self.moves.delay.is_zero() {
            FIRST_MOVE_RETRY
        } else {
            (self.moves.delay * 2).min(MAX_MOVE_RETRY)
        };
        let next = now + self.moves.delay;
        self.moves.next = Some(self.moves.next.map_or(next, |n| n.min(next)));
    }

    /// Tries again to move the files of finished messages.
    fn retry_moves(
        &mut self,
        config: &Config,
        store: &mut Store,
        now: SystemTime,
        events: &mut Vec<DaemonEvent>,
    ) -> Result<(), StoreError> {
        self.moves.next = None;
        for row in store.files_pending()? {
            let file = self.file_of(&row);
            // Gone (moved before a restart that lost the commit, or
            // deleted), or another file under the name.
            if !spool_fs::file_state(&file.path).is_ok_and(|state| state.id == row.file_id) {
                tracing::info!(file = %Redact(&row.file_name), "the file of a finished message is no longer there; forgetting it");
                store.forget_file(row.id)?;
                self.look_again(&row.file_name, now);
                continue;
            }
            let sent = row.state == MessageState::Sent;
            if let Finished::Done(_) =
                self.finish(config, store, row.id, &file, sent, now, Flush::Now)?
            {
                tracing::info!(file = %Redact(&row.file_name), "a finished file was moved after all");
                events.push(DaemonEvent::FileMoved {
                    file: row.file_name.clone(),
                });
                self.moves = Moves {
                    next: self.moves.next,
                    ..Moves::default()
                };
            }
        }
        Ok(())
    }

    /// The outbox folder.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the file of message `row` is: claimed, or in the outbox.
    pub(super) fn file_of(&self, row: &Outgoing) -> spool_fs::Claimed {
        let name = OsString::from(&row.file_name);
        let claimed = spool_fs::claim_dir(&self.dir).join(&name);
        let path = if claimed.exists() {
            claimed
        } else {
            self.dir.join(&name)
        };
        spool_fs::Claimed { name, path }
    }

    /// After a restart: parts left `sending` wait for the device to tell
    /// whether they went out (`resolving`); claimed files of waiting
    /// messages go back to outbox/; files of finished messages are moved
    /// on, found by name or (when a power cut lost the move but kept the
    /// commit that freed the name) by their identity. Returns the ids now
    /// resolving.
    pub(super) fn recover(
        &mut self,
        config: &Config,
        store: &mut Store,
        now: SystemTime,
    ) -> Result<Vec<i64>, StoreError> {
        let resolving = store.recover(ms(now))?;
        let claimed_files = claimed_by_name(&self.dir);
        // Queued messages whose file is neither claimed nor in the outbox
        // (read a row at a time; a queue of thousands is not copied). A
        // part in doubt is resolved first (the modem tells its TP-MR), and
        // its file is looked for when it is claimed.
        let missing = store.waiting_unlisted(|name| {
            claimed_files.contains_key(OsStr::new(name)) || self.dir.join(name).exists()
        })?;
        for row in missing {
            Self::settle_moved(config, store, &row, now)?;
        }
        for (name, claimed) in claimed_files {
            let row = store.active_by_name(&name.to_string_lossy())?;
            match row {
                // Moved on by [`Self::retry_moves`], at once.
                Some(row) if row.state.is_final() => {}
                // Its part may have gone out: the file stays claimed.
                Some(row) if row.state == MessageState::Resolving => {}
                Some(_) => self.unclaim_waiting(&claimed),
                None => {
                    let finished = spool_fs::file_state(&claimed.path)
                        .ok()
                        .map(|state| store.finished_with_file(&name.to_string_lossy(), &state.id))
                        .transpose()?
                        .flatten();
                    match finished {
                        Some(row) => {
                            tracing::info!(file = %Redact(&row.file_name), id = row.id, "the file of a finished message was still claimed; moving it on");
                            let sent = row.state == MessageState::Sent;
                            self.finish(config, store, row.id, &claimed, sent, now, Flush::Now)?;
                        }
                        // Waiting again: back to outbox/ (a new file of the
                        // same name there waits for it).
                        None => self.unclaim_waiting(&claimed),
                    }
                }
            }
        }
        self.moves.next = Some(now);
        Ok(resolving)
    }

    /// A message not finished whose file is neither in outbox/ nor claimed
    /// but in sent/ or error/, under its name and with its identity, was
    /// finished by a job whose commit never came (a crash between the move
    /// and the commit, or a commit that failed): it is finished as the move
    /// says, rather than cancelled as deleted. The state it was given, or
    /// `None` when its file is not there.
    pub(super) fn settle_moved(
        config: &Config,
        store: &mut Store,
        row: &Outgoing,
        now: SystemTime,
    ) -> Result<Option<MessageState>, StoreError> {
        let name = OsStr::new(&row.file_name);
        for (dir, sent) in [(&config.spool.sent, true), (&config.spool.error, false)] {
            let Some(dir) = dir else { continue };
            if spool_fs::find_moved(dir, name, &row.file_id).is_none() {
                continue;
            }
            let reason = row.last_error.clone().unwrap_or_else(|| {
                "its file was moved to the error folder just before a restart".to_owned()
            });
            let state = store.settle_moved(row.id, sent, &reason, ms(now))?;
            let (kind, data) = super::webhooks::settled_event(row, state);
            store.queue_webhook(kind, data, ms(now))?;
            tracing::warn!(file = %Redact(&row.file_name), id = row.id, state = ?state, folder = %dir.display(), "found the file already moved on: finished as the move says (its last commit did not happen)");
            return Ok(Some(state));
        }
        Ok(None)
    }

    fn unclaim_waiting(&self, claimed: &spool_fs::Claimed) {
        match spool_fs::unclaim(&self.dir, claimed) {
            Ok(_) | Err(spool_fs::SpoolIoError::Busy { .. }) => {}
            Err(error) => {
                tracing::warn!(error = %crate::redact::Scrub(&error), "cannot put a claimed file back")
            }
        }
    }
}

/// Cancels a waiting message whose file is gone or replaced.
fn cancel(
    _config: &Config,
    store: &mut Store,
    row: &Outgoing,
    reason: &str,
    now: SystemTime,
    events: &mut Vec<DaemonEvent>,
) -> Result<(), StoreError> {
    store.cancel(row.id, reason, ms(now))?;
    let sent = store
        .parts(row.id)?
        .iter()
        .filter(|p| p.state == crate::store::PartState::Sent)
        .count();
    tracing::info!(file = %Redact(&row.file_name), id = row.id, parts_sent_before = sent, reason = %crate::redact::Scrub(&reason), "message cancelled");
    events.push(DaemonEvent::Cancelled {
        file: row.file_name.clone(),
        reason: reason.to_owned(),
    });
    Ok(())
}

/// Why an outbox file cannot be sent (it goes to error/ with this reason).
#[derive(Debug, thiserror::Error)]
pub(super) enum Unsendable {
    /// It cannot be read (gone, too big, not a regular file...).
    #[error("{0}")]
    Read(#[from] spool_fs::SpoolIoError),
    /// Its content is not a message.
    #[error("{0}")]
    Content(#[from] spool::ContentError),
    /// Its message cannot be made into SMS-SUBMITs.
    #[error("{0}")]
    Plan(#[from] spool::SubmitError),
}

/// Reads and parses an outbox file; how many parts it will take.
pub(super) fn read_message(
    config: &Config,
    path: &Path,
    parsed: &OutboxName,
) -> Result<(OutgoingMessage, u32), Unsendable> {
    let content = spool_fs::read_outbox_file(path)?;
    let mut message = spool::parse_outbox(parsed, &content, Utf8Fallback::Reject)?;
    apply_defaults(config, &mut message);
    let submits = message.to_submits(config.spool.transmit_format, 0)?;
    Ok((message, submits.len() as u32))
}

/// What the configuration adds to every message: the validity period
/// (gammu sends relative "maximum" unless told otherwise) and a delivery
/// report request when `DeliveryReport` is `log` or `sms`.
pub(super) fn apply_defaults(config: &Config, message: &mut OutgoingMessage) {
    message.validity.get_or_insert(config.send.validity);
    if config.receive.delivery_report != crate::config::DeliveryReport::No {
        message.delivery_report = true;
    }
}

/// Milliseconds since the epoch.
pub(super) fn ms(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Files of the claim folder by name (after a restart).
pub(super) fn claimed_by_name(dir: &Path) -> HashMap<OsString, spool_fs::Claimed> {
    match spool_fs::claimed_files(dir) {
        Ok(files) => files.into_iter().map(|c| (c.name.clone(), c)).collect(),
        Err(error) => {
            tracing::warn!(error = %crate::redact::Scrub(&error), "cannot list the claim folder");
            HashMap::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of its own under the system's temporary directory.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "simgate-outbox-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("outbox")).unwrap();
        dir
    }

    /// A scratch folder with sent/ and error/, and a configuration naming them.
    fn scratch_with_sent_and_error(tag: &str) -> (PathBuf, Config) {
        let dir = scratch(tag);
        let mut config = Config::default();
        for folder in ["sent", "error"] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
        }
        config.spool.sent = Some(dir.join("sent"));
        config.spool.error = Some(dir.join("error"));
        (dir, config)
    }

    /// A crash between moving a finished file and committing what the
    /// move announces leaves the message unfinished and its file in sent/
    /// or error/: the restart finishes it as the move says, where it used
    /// to cancel it as "deleted from the outbox" (the crash test found it).
    #[tokio::test]
    async fn a_file_moved_on_before_a_crash_finishes_its_message_as_the_move_says() {
        let (dir, config) = scratch_with_sent_and_error("moved");
        let outbox_dir = dir.join("outbox");
        let mut store = Store::open(&dir.join("state.db")).unwrap();
        let (mut outbox, _events) = Outbox::new(&outbox_dir, None);
        // Taken in: one that will have gone to sent/, one to error/ with a
        // part in flight, one to error/ before any part, one merely waiting.
        for name in ["OUT+491.txt", "OUT+492.txt", "OUT+493.txt", "OUT+494.txt"] {
            std::fs::write(outbox_dir.join(name), "hello").unwrap();
        }
        let now = SystemTime::now() + Duration::from_secs(60);
        outbox.process(&config, &mut store, now, 100).unwrap();
        let id = |store: &Store, name: &str| {
            store
                .waiting()
                .unwrap()
                .into_iter()
                .find(|row| row.file_name == name)
                .unwrap()
                .id
        };
        let (sent, in_flight, failed) = (
            id(&store, "OUT+491.txt"),
            id(&store, "OUT+492.txt"),
            id(&store, "OUT+493.txt"),
        );
        // Resolved as sent (TP-MR 9) before the crash; then moved on.
        store.part_sending(sent, 1, None, 1).unwrap();
        store.resolved_sent(sent, 1, 9, 2).unwrap();
        store.part_sending(in_flight, 1, None, 1).unwrap();
        // The moves happened; their commits did not.
        std::fs::rename(outbox_dir.join("OUT+491.txt"), dir.join("sent/OUT+491.txt")).unwrap();
        std::fs::rename(
            outbox_dir.join("OUT+492.txt"),
            dir.join("error/OUT+492.txt"),
        )
        .unwrap();
        // Under a collision name, beside another file of the same name.
        std::fs::write(dir.join("error/OUT+493.txt"), "someone else's").unwrap();
        std::fs::rename(
            outbox_dir.join("OUT+493.txt"),
            dir.join("error/OUT+493.1.txt"),
        )
        .unwrap();

        let (mut outbox, _events) = Outbox::new(&outbox_dir, None);
        let resolving = outbox.recover(&config, &mut store, now).unwrap();
        let state = |id| store.get(id).unwrap().unwrap().state;
        assert_eq!(state(sent), MessageState::Sent);
        let part = &store.parts(sent).unwrap()[0];
        assert_eq!(
            (part.state, part.message_ref),
            (crate::store::PartState::Sent, Some(9))
        );
        assert_eq!(state(failed), MessageState::Failed);
        // A part in flight is asked about first; once resolved, its claim
        // finds the file moved on (below, as begin_next would).
        assert_eq!(resolving, [in_flight]);
        store.resolved_not_sent(in_flight, 1, 3).unwrap();
        let row = store.get(in_flight).unwrap().unwrap();
        assert_eq!(
            Outbox::settle_moved(&config, &mut store, &row, now).unwrap(),
            Some(MessageState::Failed)
        );
        // The one still in the outbox waits on, and a rescan cancels nothing.
        let mut events = Vec::new();
        outbox
            .scan(&config, &mut store, now, Cancel::Gone, &mut events)
            .unwrap();
        let events_after = outbox.process(&config, &mut store, now, 100).unwrap();
        assert!(
            !events
                .iter()
                .chain(&events_after)
                .any(|e| matches!(e, DaemonEvent::Cancelled { .. })),
            "{events:?} {events_after:?}"
        );
        let left: Vec<String> = store
            .waiting()
            .unwrap()
            .into_iter()
            .map(|row| row.file_name)
            .collect();
        assert_eq!(left, ["OUT+494.txt"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The webhook of a file refused as it is taken in, and of a message
    /// finished by finding its file moved on, is queued by the job that
    /// commits the outcome: nothing is left for a task to do after the
    /// commit, where a crash would lose it.
    #[tokio::test]
    async fn the_outcome_and_its_webhook_are_one_commit() {
        let (dir, config) = scratch_with_sent_and_error("webhook");
        let outbox_dir = dir.join("outbox");
        let path = dir.join("state.db");
        let mut store = Store::open(&path).unwrap();
        store.set_webhooks(Some(crate::store::WebhookSink {
            urls: vec!["http://127.0.0.1:9/".to_owned()],
            events: vec!["sent".to_owned(), "failed".to_owned()],
        }));
        let queue = crate::store::WebhookQueue::open(&path).unwrap();
        let (mut outbox, _events) = Outbox::new(&outbox_dir, None);
        std::fs::write(outbox_dir.join("OUT+491.smsbackup"), "not a backup file").unwrap();
        std::fs::write(outbox_dir.join("OUT+492.txt"), "hello").unwrap();
        let now = SystemTime::now() + Duration::from_secs(60);
        outbox.process(&config, &mut store, now, 100).unwrap();
        let due = queue.due(i64::MAX, 10).unwrap();
        assert_eq!(due.len(), 1, "{due:?}");
        let body: serde_json::Value = serde_json::from_str(&due[0].body).unwrap();
        assert_eq!(body["event"], "failed");
        assert_eq!(body["data"]["file"], "OUT+491.smsbackup");

        // Sent and moved on, then a crash before the commit.
        let row = store.waiting().unwrap().remove(0);
        store.part_sending(row.id, 1, None, 1).unwrap();
        store.resolved_sent(row.id, 1, 42, 2).unwrap();
        std::fs::rename(outbox_dir.join("OUT+492.txt"), dir.join("sent/OUT+492.txt")).unwrap();
        let row = store.get(row.id).unwrap().unwrap();
        Outbox::settle_moved(&config, &mut store, &row, now).unwrap();
        let due = queue.due(i64::MAX, 10).unwrap();
        let body: serde_json::Value = serde_json::from_str(&due[1].body).unwrap();
        assert_eq!(body["event"], "sent");
        assert_eq!(body["data"]["file"], "OUT+492.txt");
        assert_eq!(body["data"]["parts"][0]["reference"], 42);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `path` written relative to the working directory (it need not be
    /// under it: `../..` up to the root, then the path).
    fn relative_to_cwd(path: &Path) -> PathBuf {
        let cwd = std::env::current_dir().unwrap();
        let up: PathBuf = cwd.components().skip(1).map(|_| "..").collect();
        up.join(path.strip_prefix("/").unwrap())
    }

    /// The watcher reports absolute paths (notify joins a relative watch to
    /// the working directory), so an outbox named by a relative path, as
    /// `simgate demo`'s default `simgate-demo/outbox` is, must still know
    /// its own files and its own removal when they are reported.
    #[tokio::test]
    async fn an_outbox_named_by_a_relative_path_hears_its_watcher() {
        let dir = scratch("relative");
        let outbox_dir = relative_to_cwd(&dir.join("outbox"));
        assert!(outbox_dir.is_relative() && outbox_dir.is_dir());
        let config = Config::default();
        let mut store = Store::open(&dir.join("state.db")).unwrap();
        let (mut outbox, mut events) = Outbox::new(&outbox_dir, None);
        let now = SystemTime::now() + Duration::from_secs(60);
        outbox.process(&config, &mut store, now, 100).unwrap();
        // Written in place, as `printf … > outbox/OUT….txt` writes it.
        std::fs::write(outbox_dir.join("OUT+491701.txt"), "hello").unwrap();
        // A guard only: the watcher reports the close within milliseconds.
        let guard = Duration::from_secs(20);
        loop {
            let event = tokio::time::timeout(guard, events.recv())
                .await
                .expect("the watcher reported nothing")
                .unwrap();
            let appeared = matches!(event, OutboxEvent::Appeared(..));
            outbox.note(event, now);
            if appeared {
                break;
            }
        }
        assert!(
            outbox.sightings.contains_key(OsStr::new("OUT+491701.txt")),
            "the file the watcher reported was not taken for this outbox's: {:?}",
            outbox.sightings
        );
        std::fs::remove_dir_all(dir.join("outbox")).unwrap();
        loop {
            let event = tokio::time::timeout(guard, events.recv())
                .await
                .expect("the folder's removal was not reported")
                .unwrap();
            if event == OutboxEvent::FolderGone {
                break;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_burst_past_the_sightings_held_is_taken_in_whole() {
        let dir = scratch("held");
        let outbox_dir = dir.join("outbox");
        let config = Config::default();
        let mut store = Store::open(&dir.join("state.db")).unwrap();
        let (mut outbox, _events) = Outbox::new(&outbox_dir, None);
        // The first look at the folder finds it empty.
        let now = SystemTime::now() + Duration::from_secs(60);
        assert!(outbox
            .process(&config, &mut store, now, 100)
            .unwrap()
            .is_empty());
        let files = SIGHTINGS_HELD + 100;
        for n in 0..files {
            let path = outbox_dir.join(format!("OUT+4917{n:05}.txt"));
            std::fs::write(&path, "hello").unwrap();
            outbox.note(OutboxEvent::Appeared(path, Arrival::Written), now);
        }
        assert_eq!(outbox.sightings.len(), SIGHTINGS_HELD);
        let mut queued = 0;
        for _ in 0..files {
            let events = outbox.process(&config, &mut store, now, 100).unwrap();
            assert!(outbox.sightings.len() <= SIGHTINGS_HELD);
            queued += events
                .iter()
                .filter(|e| matches!(e, DaemonEvent::Queued { .. }))
                .count();
            if outbox.next_due().is_none_or(|due| due > now) {
                break;
            }
        }
        assert_eq!(queued, files);
        assert_eq!(store.waiting().unwrap().len(), files);
        assert!(outbox.sightings.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_rescan_leaves_unchanged_queued_files_alone_and_sees_replaced_ones() {
        let dir = scratch("rescan");
        let outbox_dir = dir.join("outbox");
        let config = Config::default();
        let mut store = Store::open(&dir.join("state.db")).unwrap();
        let (mut outbox, _events) = Outbox::new(&outbox_dir, None);
        for name in ["OUT+491701.txt", "OUT+491702.txt"] {
            std::fs::write(outbox_dir.join(name), "hello").unwrap();
        }
        // Long after the files were written: settled.
        let now = SystemTime::now() + Duration::from_secs(60);
        let events = outbox.process(&config, &mut store, now, 100).unwrap();
        let queued = events
            .iter()
            .filter(|e| matches!(e, DaemonEvent::Queued { .. }))
            .count();
        assert_eq!(queued, 2, "{events:?}");
        assert!(outbox.sightings.is_empty());

        // Both are queued and unchanged: a rescan has nothing to look at.
        let mut events = Vec::new();
        outbox
            .scan(&config, &mut store, now, Cancel::Gone, &mut events)
            .unwrap();
        assert!(outbox.sightings.is_empty(), "{:?}", outbox.sightings);
        assert!(events.is_empty(), "{events:?}");

        // One replaced under the same name (another inode) is seen again,
        // and taken in as the new message it is.
        let replaced = outbox_dir.join("OUT+491702.txt");
        std::fs::remove_file(&replaced).unwrap();
        std::fs::write(&replaced, "hello again").unwrap();
        outbox
            .scan(&config, &mut store, now, Cancel::Gone, &mut events)
            .unwrap();
        let seen: Vec<&OsString> = outbox.sightings.keys().collect();
        assert_eq!(seen, [&OsString::from("OUT+491702.txt")]);
        let events = outbox.process(&config, &mut store, now, 100).unwrap();
        assert!(
            events.iter().any(
                |e| matches!(e, DaemonEvent::Cancelled { file, .. } if file == "OUT+491702.txt")
            ),
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, DaemonEvent::Queued { file } if file == "OUT+491702.txt")),
            "{events:?}"
        );

        // A file deleted without the watcher's word (its event lost) is
        // found gone by the next rescan, which cancels its message; the
        // one still there waits on.
        std::fs::remove_file(outbox_dir.join("OUT+491701.txt")).unwrap();
        let mut events = Vec::new();
        outbox
            .scan(&config, &mut store, now, Cancel::Gone, &mut events)
            .unwrap();
        let cancelled: Vec<&String> = events
            .iter()
            .filter_map(|e| match e {
                DaemonEvent::Cancelled { file, .. } => Some(file),
                _ => None,
            })
            .collect();
        assert_eq!(cancelled, ["OUT+491701.txt"], "{events:?}");
        let left: Vec<String> = store
            .waiting()
            .unwrap()
            .into_iter()
            .map(|row| row.file_name)
            .collect();
        assert_eq!(left, ["OUT+491702.txt"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
