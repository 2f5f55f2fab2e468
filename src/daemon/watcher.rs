//! Watching outbox/ with inotify (the notify crate): a file has appeared
//! when a writer closes it after writing, when it is moved in, and when it
//! is created (a file published with `link(2)` reports nothing else; one
//! still being written is held back by the settle check and the scan for
//! open writers, [`crate::spool::settle`]); a file deleted
//! or moved out may cancel its waiting message; the folder itself removed
//! or moved away ends the watch, which the daemon then re-arms when the
//! folder is back. An inotify queue overflow, or any watcher error, asks
//! for a full rescan; the daemon also rescans at start and on a slow safety
//! timer, because inotify is not guaranteed to report everything (NFS,
//! overflow).

use crate::spool::settle::Arrival;
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// What the watcher reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutboxEvent {
    /// This file may be ready.
    Appeared(PathBuf, Arrival),
    /// This file was deleted or moved out.
    Gone(PathBuf),
    /// Events were lost: scan the whole directory.
    Rescan,
    /// The outbox folder itself was removed or moved: the watch is dead.
    FolderGone,
}

/// Watches `dir` (not recursively), reporting to `sender`. Keep the
/// returned watcher alive.
pub(crate) fn watch(
    dir: &Path,
    sender: mpsc::Sender<OutboxEvent>,
) -> notify::Result<RecommendedWatcher> {
    let watched = dir.to_owned();
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<Event>| {
        let reports = match result {
            Ok(event) => classify(&event, &watched),
            Err(error) => {
                tracing::warn!(%error, "outbox watcher error; rescanning");
                vec![OutboxEvent::Rescan]
            }
        };
        for report in reports {
            // A full queue means the daemon is busy: wait for room (this is
            // notify's own thread). Dropping the report instead would lose
            // the file until the next timed rescan (scan_interval, 30 s),
            // since the Rescan sent in its place finds the queue full too.
            // Meanwhile the kernel queues further events, and reports its
            // own overflow as a rescan.
            if sender.blocking_send(report).is_err() {
                return; // the daemon stopped
            }
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// Why no watch could be made, in words that say what to change. The
/// inotify limits count every process of the daemon's user together, and
/// their errors read as something else: EMFILE as the open-file limit,
/// ENOSPC as a full disk.
pub(crate) fn why_unwatched(error: &notify::Error) -> String {
    let os_error = match &error.kind {
        notify::ErrorKind::Io(io) => io.raw_os_error(),
        _ => None,
    };
    let watches_used = matches!(error.kind, notify::ErrorKind::MaxFilesWatch)
        || os_error == Some(nix::errno::Errno::ENOSPC as i32);
    if watches_used {
        "every inotify watch this user may have is in use (fs.inotify.max_user_watches, \
         counted over all of the user's processes: raise it)"
            .to_owned()
    } else if os_error == Some(nix::errno::Errno::EMFILE as i32) {
        "no inotify instance is left: this user's processes hold all of \
         fs.inotify.max_user_instances (raise it), or the daemon is at its open-file limit"
            .to_owned()
    } else {
        crate::redact::Scrub(error).to_string()
    }
}

/// The reports one notify event gives, for a watch on `dir`.
pub(crate) fn classify(event: &Event, dir: &Path) -> Vec<OutboxEvent> {
    if event.need_rescan() {
        return vec![OutboxEvent::Rescan];
    }
    if event.paths.iter().any(|path| path == dir)
        && matches!(
            event.kind,
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
        )
    {
        return vec![OutboxEvent::FolderGone];
    }
    let appeared = |path: &PathBuf, arrival| OutboxEvent::Appeared(path.clone(), arrival);
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => event
            .paths
            .iter()
            .map(|p| appeared(p, Arrival::Written))
            .collect(),
        // Linked in whole, or created to be written: it settles as a file
        // written in place, with a grace ([`crate::spool::settle`]).
        EventKind::Create(CreateKind::File | CreateKind::Any | CreateKind::Other) => event
            .paths
            .iter()
            .map(|p| appeared(p, Arrival::Created))
            .collect(),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => event
            .paths
            .iter()
            .map(|p| appeared(p, Arrival::RenamedIn))
            .collect(),
        // A rename within the directory: [from, to].
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            let mut reports = Vec::new();
            if let Some(from) = event.paths.first() {
                reports.push(OutboxEvent::Gone(from.clone()));
            }
            if let Some(to) = event.paths.get(1) {
                reports.push(appeared(to, Arrival::RenamedIn));
            }
            reports
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::From))
        | EventKind::Remove(RemoveKind::File | RemoveKind::Any | RemoveKind::Other) => event
            .paths
            .iter()
            .map(|p| OutboxEvent::Gone(p.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Real inotify: a file written in place is reported when it is
    /// created and when it is closed, not while it is written; a file
    /// renamed in is reported by its new name; a file
    /// deleted is reported gone; the folder removed ends the watch.
    #[tokio::test]
    async fn close_after_write_rename_in_delete_and_the_folder_gone() {
        let root = std::env::temp_dir().join(format!("simgate-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let outbox = root.join("outbox");
        std::fs::create_dir_all(&outbox).unwrap();
        let (sender, mut events) = mpsc::channel(64);
        let _watcher = watch(&outbox, sender).unwrap();

        let path = outbox.join("OUT+4912345.txt");
        let mut file = std::fs::File::create(&path).unwrap();
        // Its creation is reported (the settle check and the scan for open
        // writers hold it back while it is written)...
        assert_eq!(
            events.recv().await,
            Some(OutboxEvent::Appeared(path.clone(), Arrival::Created))
        );
        file.write_all(b"first half ").unwrap();
        file.flush().unwrap();
        // ...writing reports nothing: prove it with a marker event that
        // must arrive first...
        let marker = outbox.join("marker");
        std::fs::write(&marker, b"").unwrap();
        assert_eq!(
            events.recv().await,
            Some(OutboxEvent::Appeared(marker.clone(), Arrival::Created))
        );
        assert_eq!(
            events.recv().await,
            Some(OutboxEvent::Appeared(marker.clone(), Arrival::Written))
        );
        // ...and the close after writing is reported again.
        file.write_all(b"second half").unwrap();
        drop(file);
        assert_eq!(
            events.recv().await,
            Some(OutboxEvent::Appeared(path.clone(), Arrival::Written))
        );

        let staged = root.join("staged.txt");
        std::fs::write(&staged, b"hello").unwrap();
        let moved = outbox.join("OUTA+4912345.txt");
        std::fs::rename(&staged, &moved).unwrap();
        assert_eq!(
            events.recv().await,
            Some(OutboxEvent::Appeared(moved.clone(), Arrival::RenamedIn))
        );
        std::fs::remove_file(&moved).unwrap();
        assert_eq!(events.recv().await, Some(OutboxEvent::Gone(moved)));
        std::fs::remove_file(&marker).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(events.recv().await, Some(OutboxEvent::Gone(marker)));
        assert_eq!(events.recv().await, Some(OutboxEvent::Gone(path)));
        std::fs::remove_dir(&outbox).unwrap();
        assert_eq!(events.recv().await, Some(OutboxEvent::FolderGone));
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A file published with `link(2)` (maildir-style delivery, `ln`, an
    /// `O_TMPFILE` linked in) is complete when its name appears, and the
    /// kernel reports nothing but its creation: no close, no rename. It is
    /// reported as created, and the settle check (with its grace) and the
    /// scan for open writers decide, as for a file a rescan finds.
    #[test]
    fn the_inotify_limits_are_named_for_what_they_are() {
        let instances = notify::Error::io(std::io::Error::from_raw_os_error(
            nix::errno::Errno::EMFILE as i32,
        ));
        assert!(why_unwatched(&instances).contains("fs.inotify.max_user_instances"));
        let watches = notify::Error::new(notify::ErrorKind::MaxFilesWatch);
        assert!(why_unwatched(&watches).contains("fs.inotify.max_user_watches"));
        let no_space = notify::Error::io(std::io::Error::from_raw_os_error(
            nix::errno::Errno::ENOSPC as i32,
        ));
        assert!(why_unwatched(&no_space).contains("fs.inotify.max_user_watches"));
        let other = notify::Error::io(std::io::Error::from_raw_os_error(
            nix::errno::Errno::EACCES as i32,
        ));
        assert!(why_unwatched(&other).contains("Permission denied"));
    }

    #[tokio::test]
    async fn a_file_linked_in_is_reported() {
        let root = std::env::temp_dir().join(format!("simgate-watch-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let outbox = root.join("outbox");
        std::fs::create_dir_all(&outbox).unwrap();
        let staged = root.join("staged.txt");
        std::fs::write(&staged, b"hello").unwrap();
        let (sender, mut events) = mpsc::channel(64);
        let _watcher = watch(&outbox, sender).unwrap();

        let linked = outbox.join("OUT+4912345.txt");
        std::fs::hard_link(&staged, &linked).unwrap();
        // Events come in order: the marker's close after the link's.
        let marker = outbox.join("marker");
        std::fs::write(&marker, b"").unwrap();
        assert_eq!(
            events.recv().await,
            Some(OutboxEvent::Appeared(linked, Arrival::Created))
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
