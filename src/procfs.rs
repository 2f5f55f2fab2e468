//! Who else has a file: what Linux's `/proc` says about other processes.
//! The outbox settle check asks which processes still have files open for
//! writing; the instance locks ask which process holds a lock or a modem,
//! so a refusal can name it.
//!
//! The parsers ([`holds_flock`], [`parse_locks`], [`access_mode`]) are pure; the scans read
//! `/proc` and report what they could not see (other users' processes,
//! without privileges) rather than guessing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A file (or device) as `/proc` names it: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Inode {
    /// `st_dev` of the file.
    pub dev: u64,
    /// `st_ino` of the file.
    pub ino: u64,
}

impl Inode {
    /// The inode of `path` (following symbolic links).
    pub(crate) fn of(path: &Path) -> io::Result<Self> {
        let meta = fs::metadata(path)?;
        Ok(Self {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// The inode of an open file.
    pub(crate) fn of_file(file: &fs::File) -> io::Result<Self> {
        let meta = file.metadata()?;
        Ok(Self {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

/// A process, for messages: its id and command name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Process {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/comm` (the program name), empty when unreadable.
    pub command: String,
}

impl Process {
    /// The process `pid`, with its command name read from `/proc`.
    pub(crate) fn new(pid: u32) -> Self {
        let command = fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim().to_owned())
            .unwrap_or_default();
        Self { pid, command }
    }

    /// Whether it is a simgate.
    pub(crate) fn is_simgate(&self) -> bool {
        self.command == "simgate"
    }
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.command.is_empty() {
            write!(f, "pid {}", self.pid)
        } else {
            write!(f, "{} (pid {})", self.command, self.pid)
        }
    }
}

/// The processes holding a `flock` lock on `inode`: those with a
/// descriptor of it whose fdinfo shows the lock ([`holds_flock`]); when
/// that finds nobody (another user's processes cannot be looked into),
/// `/proc/locks`, which everyone may read. That file alone is not enough:
/// the kernel produces it a page at a time, and locks taken or dropped
/// between two pages by any process shift the rest, so a read can skip a
/// holder (it did, under a busy test suite); it is read up to
/// [`LOCKS_READS`] times until it names one.
pub(crate) fn flock_holders(inode: Inode) -> Vec<Process> {
    let mut pids = open_holders(&BTreeSet::from([inode]), Access::Flock)
        .holders
        .remove(&inode)
        .unwrap_or_default();
    for _ in 0..LOCKS_READS {
        if !pids.is_empty() {
            break;
        }
        let Ok(text) = fs::read_to_string("/proc/locks") else {
            break;
        };
        pids = parse_locks(&text, inode);
    }
    pids.into_iter().map(Process::new).collect()
}

/// How many times [`flock_holders`] reads `/proc/locks` for a holder.
const LOCKS_READS: usize = 3;

/// The pids holding `FLOCK` locks on `inode` in the text of `/proc/locks`
/// (lines like `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`; the
/// device is `major:minor` in hex, the inode decimal).
pub(crate) fn parse_locks(text: &str, inode: Inode) -> Vec<u32> {
    let major = nix::sys::stat::major(inode.dev);
    let minor = nix::sys::stat::minor(inode.dev);
    let mut pids = BTreeSet::new();
    for line in text.lines() {
        // A blocked waiter is shown as ` -> FLOCK ...`: not a holder.
        if line.contains("->") {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, kind, _, _, pid, file, ..] = fields.as_slice() else {
            continue;
        };
        if *kind != "FLOCK" {
            continue;
        }
        let mut parts = file.split(':');
        let (Some(maj), Some(min), Some(ino)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let matches = u64::from_str_radix(maj, 16).ok() == Some(major)
            && u64::from_str_radix(min, 16).ok() == Some(minor)
            && ino.parse::<u64>().ok() == Some(inode.ino);
        if let (true, Ok(pid)) = (matches, pid.parse::<u32>()) {
            pids.insert(pid);
        }
    }
    pids.into_iter().collect()
}

/// Whether the text of an fdinfo file shows a `flock` lock held through
/// that descriptor (a line like `lock:\t1: FLOCK  ADVISORY  WRITE 1234
/// fd:00:5678 0 EOF`; a blocked waiter's has `->` and holds nothing).
pub(crate) fn holds_flock(fdinfo: &str) -> bool {
    fdinfo
        .lines()
        .filter_map(|line| line.strip_prefix("lock:"))
        .any(|lock| {
            let mut fields = lock.split_whitespace();
            fields.next().is_some_and(|n| n.ends_with(':')) && fields.next() == Some("FLOCK")
        })
}

/// What a scan of open files found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct OpenScan {
    /// For each inode asked about, the processes that have it open (for
    /// writing, with [`Access::Write`]).
    pub holders: BTreeMap<Inode, Vec<u32>>,
    /// Whether every process could be examined; `false` when `/proc` is
    /// missing or some processes' descriptors are not readable.
    pub complete: bool,
}

/// Which opens count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Any open descriptor.
    Any,
    /// Descriptors open for writing (`O_WRONLY` or `O_RDWR`).
    Write,
    /// Descriptors through which a `flock` lock is held ([`holds_flock`]).
    Flock,
}

/// Scans `/proc` once for processes that have any of `inodes` open (with
/// `access`): one pass for a whole batch of files.
pub(crate) fn open_holders(inodes: &BTreeSet<Inode>, access: Access) -> OpenScan {
    scan_in(Path::new("/proc"), inodes, access)
}

/// [`open_holders`] under another `/proc` root (for tests).
pub(crate) fn scan_in(proc_root: &Path, inodes: &BTreeSet<Inode>, access: Access) -> OpenScan {
    let mut scan = OpenScan::default();
    if inodes.is_empty() {
        scan.complete = true;
        return scan;
    }
    let Ok(entries) = fs::read_dir(proc_root) else {
        return scan;
    };
    scan.complete = true;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let fd_dir = entry.path().join("fd");
        let fds = match fs::read_dir(&fd_dir) {
            Ok(fds) => fds,
            // The process ended meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(_) => {
                scan.complete = false;
                continue;
            }
        };
        for fd in fds.flatten() {
            let link = fd.path();
            // One stat a descriptor: pipes, sockets and anonymous inodes
            // live on file systems of their own, so their device and inode
            // never match a file asked about (no readlink needed first: it
            // doubled the system calls of a scan).
            let Ok(meta) = fs::metadata(&link) else {
                continue;
            };
            let inode = Inode {
                dev: meta.dev(),
                ino: meta.ino(),
            };
            if !inodes.contains(&inode) {
                continue;
            }
            let fdinfo =
                || fs::read_to_string(entry.path().join("fdinfo").join(fd.file_name())).ok();
            // `None`: the descriptor's fdinfo could not be read or understood.
            let seen = match access {
                Access::Any => Some(true),
                Access::Write => fdinfo()
                    .as_deref()
                    .and_then(access_mode)
                    .map(|mode| mode == 1 || mode == 2),
                Access::Flock => fdinfo().as_deref().map(holds_flock),
            };
            let counts = seen.unwrap_or_else(|| {
                scan.complete = false;
                false
            });
            if counts {
                let pids = scan.holders.entry(inode).or_default();
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
    }
    for pids in scan.holders.values_mut() {
        pids.sort_unstable();
    }
    scan
}

/// The access mode (`flags & O_ACCMODE`) from the text of an fdinfo file.
pub(crate) fn access_mode(fdinfo: &str) -> Option<u32> {
    fdinfo
        .lines()
        .find_map(|line| line.strip_prefix("flags:"))
        .and_then(|flags| u32::from_str_radix(flags.trim(), 8).ok())
        .map(|flags| flags & 0o3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn proc_locks_lines() {
        let inode = Inode {
            dev: nix::sys::stat::makedev(8, 1),
            ino: 5678,
        };
        let text = "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 99 08:01:5678 0 EOF\n\
                    2: POSIX  ADVISORY  WRITE 4321 08:01:5678 0 EOF\n\
                    3: FLOCK  ADVISORY  WRITE 777 08:01:5679 0 EOF\n\
                    4: FLOCK  ADVISORY  WRITE 888 08:02:5678 0 EOF\n\
                    5: OFDLCK ADVISORY  READ  -1 00:05:5678 0 EOF\n";
        assert_eq!(parse_locks(text, inode), [1234]);
        let hex = Inode {
            dev: nix::sys::stat::makedev(0x103, 0x1a),
            ino: 1,
        };
        assert_eq!(
            parse_locks("9: FLOCK  ADVISORY  WRITE 5 103:1a:1 0 EOF", hex),
            [5]
        );
    }

    #[test]
    fn fdinfo_flock_lines() {
        let held = "pos:\t0\nflags:\t02100001\nmnt_id:\t27\nino:\t5678\n\
                    lock:\t1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF\n";
        assert!(holds_flock(held));
        assert!(!holds_flock("pos:\t0\nflags:\t0100002\n"));
        assert!(!holds_flock(
            "lock:\t1: -> FLOCK  ADVISORY  WRITE 99 fe:00:5678 0 EOF\n"
        ));
        assert!(!holds_flock(
            "lock:\t2: POSIX  ADVISORY  WRITE 4321 fe:00:5678 0 EOF\n"
        ));
        assert!(!holds_flock(
            "lock:\t3: OFDLCK ADVISORY  READ  -1 00:05:5678 0 EOF\n"
        ));
    }

    #[test]
    fn fdinfo_access_mode() {
        assert_eq!(
            access_mode("pos:\t0\nflags:\t0100002\nmnt_id:\t29\n"),
            Some(2)
        );
        assert_eq!(access_mode("pos:\t0\nflags:\t02100001\n"), Some(1));
        assert_eq!(access_mode("pos:\t0\nflags:\t0100000\n"), Some(0));
        assert_eq!(access_mode("pos:\t0\n"), None);
    }

    #[test]
    fn open_files_and_locks_are_found_in_proc() {
        if !Path::new("/proc/self/fdinfo").exists() {
            return; // No procfs here: nothing to test.
        }
        let dir = std::env::temp_dir().join(format!("simgate-procfs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("OUT+1.txt");
        let mut writer = fs::File::create(&path).unwrap();
        writer.write_all(b"partial").unwrap();
        let inode = Inode::of(&path).unwrap();
        let me = std::process::id();
        let inodes = BTreeSet::from([inode]);
        assert!(open_holders(&inodes, Access::Write).holders[&inode].contains(&me));
        let reader = fs::File::open(&path).unwrap();
        drop(writer);
        let scan = open_holders(&inodes, Access::Write);
        assert!(!scan.holders.get(&inode).is_some_and(|p| p.contains(&me)));
        assert!(open_holders(&inodes, Access::Any).holders[&inode].contains(&me));
        let locked = nix::fcntl::Flock::lock(reader, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| e)
            .unwrap();
        assert!(flock_holders(inode).iter().any(|p| p.pid == me));
        drop(locked);
        assert!(!flock_holders(inode).iter().any(|p| p.pid == me));
        // A missing /proc is reported as incomplete, not as "nobody".
        let scan = scan_in(&dir.join("no-proc"), &inodes, Access::Write);
        assert!(scan.holders.is_empty() && !scan.complete);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A lookup sees every holder however other locks come and go (read
    /// from `/proc/locks`, produced a page at a time, it missed 4 to 19 of
    /// these 300 lookups in 4 runs of 5). Here three threads take and drop
    /// 450 other locks while ours is looked up, over and over; every
    /// lookup must find it (it is asked for because a lock is held).
    #[test]
    fn a_holder_is_found_while_other_locks_come_and_go() {
        if !Path::new("/proc/self/fdinfo").exists() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("simgate-locks-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let ours = dir.join("ours");
        fs::write(&ours, b"").unwrap();
        let inode = Inode::of(&ours).unwrap();
        let _held = nix::fcntl::Flock::lock(
            fs::File::open(&ours).unwrap(),
            nix::fcntl::FlockArg::LockExclusiveNonblock,
        )
        .map_err(|(_, e)| e)
        .unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let rounds = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let churners: Vec<_> = (0..3)
            .map(|t| {
                let (dir, stop) = (dir.clone(), std::sync::Arc::clone(&stop));
                let rounds = std::sync::Arc::clone(&rounds);
                std::thread::spawn(move || {
                    let mut files: Vec<fs::File> = (0..150)
                        .map(|n| {
                            let path = dir.join(format!("other-{t}-{n}"));
                            fs::write(&path, b"").unwrap();
                            fs::File::open(&path).unwrap()
                        })
                        .collect();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let held: Vec<nix::fcntl::Flock<fs::File>> = files
                            .into_iter()
                            .map(|file| {
                                nix::fcntl::Flock::lock(
                                    file,
                                    nix::fcntl::FlockArg::LockExclusiveNonblock,
                                )
                                .map_err(|(_, e)| e)
                                .unwrap()
                            })
                            .collect();
                        files = held
                            .into_iter()
                            .map(|lock| lock.unlock().map_err(|(_, e)| e).unwrap())
                            .collect();
                        rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // The churners under way before the first lookup.
        while rounds.load(std::sync::atomic::Ordering::Relaxed) < 3 {
            std::thread::yield_now();
        }
        let me = std::process::id();
        let missed = (0..300)
            .filter(|_| !flock_holders(inode).iter().any(|p| p.pid == me))
            .count();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for churner in churners {
            churner.join().unwrap();
        }
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(missed, 0, "lookups that did not find the holder, of 300");
    }
}
