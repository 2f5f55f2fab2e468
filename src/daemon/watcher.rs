//! Watching outbox/ with inotify (the notify crate): a file is a candidate
//! when a writer closes it after writing or when it is moved in. Creation
//! alone is not enough, since the writer may not be done. An inotify queue
//! overflow, or any watcher error, asks for a full rescan; the daemon also
//! rescans at start and on a slow safety timer, because inotify is not
//! guaranteed to report everything (NFS, overflow).

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// What the watcher reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxEvent {
    /// This file may be ready.
    Candidate(PathBuf),
    /// Events were lost: scan the whole directory.
    Rescan,
}

/// Watches `dir` (not recursively). Keep the returned watcher alive.
pub fn watch(dir: &Path) -> notify::Result<(RecommendedWatcher, mpsc::Receiver<OutboxEvent>)> {
    let (sender, events) = mpsc::channel(1024);
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<Event>| {
        let reports = match result {
            Ok(event) => classify(&event),
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
    Ok((watcher, events))
}

/// The reports one notify event gives.
pub fn classify(event: &Event) -> Vec<OutboxEvent> {
    if event.need_rescan() {
        return vec![OutboxEvent::Rescan];
    }
    let candidates: Vec<PathBuf> = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => event.paths.clone(),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => event.paths.clone(),
        // A rename within the directory: [from, to].
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            event.paths.get(1).cloned().into_iter().collect()
        }
        _ => Vec::new(),
    };
    candidates.into_iter().map(OutboxEvent::Candidate).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Real inotify: a file written in place is reported once it is closed,
    /// not before; a file renamed in is reported by its new name.
    #[tokio::test]
    async fn close_after_write_and_rename_in() {
        let root = std::env::temp_dir().join(format!("simgate-watch-{}", std::process::id()));
        let outbox = root.join("outbox");
        std::fs::create_dir_all(&outbox).unwrap();
        let (_watcher, mut events) = watch(&outbox).unwrap();

        let path = outbox.join("OUT+4912345.txt");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(b"first half ").unwrap();
        file.flush().unwrap();
        // Creating and writing report nothing yet: prove it with a marker
        // event that must arrive first.
        let marker = outbox.join("marker");
        std::fs::write(&marker, b"").unwrap();
        assert_eq!(
            events.recv().await,
            Some(OutboxEvent::Candidate(marker.clone()))
        );
        file.write_all(b"second half").unwrap();
        drop(file);
        assert_eq!(
            events.recv().await,
            Some(OutboxEvent::Candidate(path.clone()))
        );

        let staged = root.join("staged.txt");
        std::fs::write(&staged, b"hello").unwrap();
        let moved = outbox.join("OUTA+4912345.txt");
        std::fs::rename(&staged, &moved).unwrap();
        assert_eq!(events.recv().await, Some(OutboxEvent::Candidate(moved)));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
