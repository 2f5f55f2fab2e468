//! Which files the pages a daemon dirtied belong to, in a disk window
//! (`SIMGATE_BENCH_DIRTY=1`, root only).
//!
//! `/proc/<pid>/io`'s `write_bytes` counts a page each time a clean page of
//! the page cache becomes dirty, charged to the process that dirtied it. It
//! says how much, not where. The kernel's `writeback:writeback_dirty_folio`
//! tracepoint fires at that same moment with the file's inode and the
//! page's index, and with `record-tgid` the process. So the window's events
//! of the daemon's process, their inodes matched to the files under the
//! spool's root, split the count by file: the WAL, SQLite's `-shm` (a
//! mapped file, written back like any other), the messages' files, the log,
//! and what matches no file there (a file system without a journal charges
//! its directory and inode blocks to the process: the block device's own
//! pages; files since deleted).
//!
//! The tracepoint is global: a window enables it, clears the trace buffer,
//! and puts the settings it changed back when it ends (a bench killed in a
//! window leaves it on: `echo 0 >
//! /sys/kernel/tracing/events/writeback/writeback_dirty_folio/enable`).
//! Nothing here runs unless asked, since it changes the kernel's tracing
//! state.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const TRACEFS: &str = "/sys/kernel/tracing";
const EVENT: &str = "events/writeback/writeback_dirty_folio/enable";
const TGID: &str = "options/record-tgid";
const BUFFER: &str = "buffer_size_kb";
const ON: &str = "tracing_on";
/// Per CPU: a burst of 1,000 messages dirties some 10,000 pages, about
/// 1 MB of events.
const BUFFER_KB: u64 = 16 * 1024;

/// Whether the split was asked for (`SIMGATE_BENCH_DIRTY=1`).
pub(crate) fn asked() -> bool {
    std::env::var_os("SIMGATE_BENCH_DIRTY").is_some_and(|v| v == "1")
}

/// A window's tracing: the settings to put back.
pub(crate) struct DirtyPages {
    pid: u32,
    root: PathBuf,
    saved: Vec<(&'static str, String)>,
}

/// Pages dirtied by file, for a window.
#[derive(Debug, Clone, Default)]
pub(crate) struct Split {
    /// A label (a path under the spool's root, or a folder's files) and
    /// its pages, most first.
    pub(crate) by_file: Vec<(String, u64)>,
    pub(crate) total: u64,
    /// Events the buffer lost (its per-CPU `overrun`): the split is short
    /// by at least that many.
    pub(crate) lost: u64,
}

fn setting(name: &str) -> std::io::Result<String> {
    Ok(fs::read_to_string(Path::new(TRACEFS).join(name))?
        .trim()
        .to_owned())
}

fn set(name: &str, value: &str) -> std::io::Result<()> {
    fs::write(Path::new(TRACEFS).join(name), value)
}

impl DirtyPages {
    /// Starts tracing the pages `pid` dirties; `root` holds its files.
    pub(crate) fn start(pid: u32, root: &Path) -> Result<DirtyPages, String> {
        if !Path::new(TRACEFS).join(EVENT).exists() {
            // Not mounted yet on many machines; root can mount it.
            let mounted = std::process::Command::new("mount")
                .args(["-t", "tracefs", "nodev", TRACEFS])
                .status()
                .is_ok_and(|s| s.success());
            if !mounted || !Path::new(TRACEFS).join(EVENT).exists() {
                return Err(format!(
                    "no tracefs at {TRACEFS} (root, and a kernel with tracing)"
                ));
            }
        }
        let mut saved = Vec::new();
        for name in [EVENT, TGID, BUFFER, ON] {
            saved.push((name, setting(name).map_err(|e| format!("{name}: {e}"))?));
        }
        let enlarge = saved
            .iter()
            .find(|(name, _)| *name == BUFFER)
            .and_then(|(_, v)| v.split_whitespace().next()?.parse::<u64>().ok())
            .is_none_or(|kb| kb < BUFFER_KB);
        let started = (|| {
            if enlarge {
                set(BUFFER, &BUFFER_KB.to_string())?;
            }
            set(TGID, "1")?;
            set("trace", "")?;
            set(EVENT, "1")?;
            set(ON, "1")
        })();
        let probe = DirtyPages {
            pid,
            root: root.to_owned(),
            saved,
        };
        match started {
            Ok(()) => Ok(probe),
            Err(error) => Err(format!("cannot enable the tracepoint: {error}")),
        }
    }

    /// Ends the window: the daemon's events, by file.
    pub(crate) fn finish(self) -> Result<Split, String> {
        let _ = set(EVENT, "0");
        let trace = fs::read_to_string(Path::new(TRACEFS).join("trace"))
            .map_err(|e| format!("cannot read the trace: {e}"));
        let lost = lost_events();
        let split = trace.map(|trace| self.split(&trace, lost));
        drop(self); // puts the settings back
        split
    }

    fn split(&self, trace: &str, lost: u64) -> Split {
        let names = files_by_inode(&self.root);
        let mut pages: BTreeMap<String, u64> = BTreeMap::new();
        let mut total = 0;
        for (tgid, ino) in trace.lines().filter_map(parse_event) {
            if tgid != self.pid {
                continue;
            }
            total += 1;
            let label = names.get(&ino).cloned().unwrap_or_else(|| {
                "no file under the spool (file-system metadata without a journal, files deleted)"
                    .to_owned()
            });
            *pages.entry(label).or_default() += 1;
        }
        let mut by_file: Vec<(String, u64)> = pages.into_iter().collect();
        by_file.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Split {
            by_file,
            total,
            lost,
        }
    }
}

impl Drop for DirtyPages {
    fn drop(&mut self) {
        for (name, value) in self.saved.iter().rev() {
            // `buffer_size_kb` reads "7 (expanded: 1408)" before first use.
            let value = value.split_whitespace().next().unwrap_or_default();
            let _ = set(name, value);
        }
    }
}

/// The process and inode of one `writeback_dirty_folio` line, which with
/// `record-tgid` reads `comm-tid (tgid) [cpu] flags time:
/// writeback_dirty_folio: bdi 254:0: ino=N index=M`.
fn parse_event(line: &str) -> Option<(u32, u64)> {
    if !line.contains("writeback_dirty_folio:") {
        return None;
    }
    let open = line.find('(')?;
    let close = open + line[open..].find(')')?;
    let tgid = line[open + 1..close].trim().parse().ok()?;
    let ino = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("ino="))?
        .parse()
        .ok()?;
    Some((tgid, ino))
}

/// Every file under `root` by inode: the files of a folder of many (inbox/,
/// sent/, …) under one label per folder, the others by their own path.
fn files_by_inode(root: &Path) -> BTreeMap<u64, String> {
    let mut names = BTreeMap::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = fs::read_dir(root.join(&folder)) else {
            continue;
        };
        let entries: Vec<_> = entries.flatten().collect();
        // The root's own files (the database, its WAL and -shm, the log)
        // by name; a folder of messages as one.
        let many = !folder.as_os_str().is_empty() && entries.len() > 8;
        for entry in entries {
            let relative = folder.join(entry.file_name());
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                folders.push(relative);
            } else if many {
                names.insert(meta.ino(), format!("files in {}/", folder.display()));
            } else {
                names.insert(meta.ino(), relative.display().to_string());
            }
        }
    }
    names
}

/// Events lost to a full buffer, over every CPU.
fn lost_events() -> u64 {
    let Ok(cpus) = fs::read_dir(Path::new(TRACEFS).join("per_cpu")) else {
        return 0;
    };
    cpus.flatten()
        .filter_map(|cpu| fs::read_to_string(cpu.path().join("stats")).ok())
        .flat_map(|stats| {
            stats
                .lines()
                .filter_map(|l| l.strip_prefix("overrun:")?.trim().parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

impl Split {
    /// "simgate.db-wal 13, files in inbox/ 5, … (25 pages, 5.0 a message)".
    pub(crate) fn describe(&self, messages: usize) -> String {
        let files: Vec<String> = self
            .by_file
            .iter()
            .map(|(label, n)| format!("{label} {n}"))
            .collect();
        let lost = if self.lost > 0 {
            format!("; {} events lost, the split is short", self.lost)
        } else {
            String::new()
        };
        format!(
            "{} ({} pages, {:.1} a message{lost})",
            if files.is_empty() {
                "none".to_owned()
            } else {
                files.join(", ")
            },
            self.total,
            self.total as f64 / messages.max(1) as f64
        )
    }
}
