//! The thin file-system layer of the spool: synchronous `std` calls only
//! (run them on a blocking thread from async code). Everything that decides
//! something lives in `super::name` and `super::outbox`.
//!
//! # Claiming (crash-safe processing)
//!
//! A file waits in the outbox under its own name, as with gammu, so the
//! programs around it that list or count pending messages keep working and
//! deleting it there cancels it. Only while its parts go to the modem is it
//! claimed: renamed from `outbox/NAME` to `outbox/.simgate-claim/NAME`
//! (`CLAIM_DIR`) by `claim`, which first checks it is still the file that
//! was taken in ([`FileId`]). The claim directory is inside the outbox, so
//! the rename never crosses a file system and is atomic; its name starts
//! with `.`, so neither gammu nor simgate's scan takes it for an outbox
//! file; the file keeps its name, which is its message ID, its recipient
//! (for `.txt`) and its place in the order. A message that must wait again
//! goes back with `unclaim`; after a crash or restart, `claimed_files`
//! lists what was in progress, so the daemon can resume from its own state
//! (which parts were acknowledged) instead of starting over or losing the
//! file. A name that is already claimed is not claimed again
//! ([`SpoolIoError::Busy`]): the new file waits in the outbox until the
//! first one is finished.
//!
//! Claims are not fsynced: after a power cut a claimed file may be back
//! in the outbox, and every reader of a claim looks in both places (the
//! [`FileId`] tells it is the same file). Moves to `sent/` and `error/` are
//! fsynced only with `Flush::Now`; a burst leaves them to the disk's own
//! writeback, since the database still names a finished file until its
//! move is recorded, and a restart moves it again.
//!
//! # Moving to `sent/` or `error/` (§4.6)
//!
//! `move_to_dir` keeps the name, like gammu, but never overwrites: when
//! the name exists in the target, `.1`, `.2`… is inserted before the last
//! suffix (`OUT+1.txt` → `OUT+1.1.txt`, which names the same recipient and
//! flags). gammu silently replaced the older file. Within one file system it
//! is a `rename`; across file systems (quirk Q28) the file is copied in full
//! (gammu truncated at 65 002 bytes) into a hidden temporary name, its mode,
//! modification time and, when permitted, owner are kept, it is fsynced,
//! renamed into place, and only then the source is removed. `finish`
//! applies gammu's rule that a target equal to the outbox means "delete".
//!
//! # Atomic writes
//!
//! `write_atomic` writes a hidden temporary file in the target directory,
//! fsyncs it, renames it into place and fsyncs the directory: for inbox files,
//! which consumers must never see half-written, and for rewritten
//! `.smsbackup` files. The file is closed after its rename, so inotify
//! reports its close after writing under the final name: consumers that
//! wait for that (incron's `IN_CLOSE_WRITE`, `inotifywait -e close_write`),
//! as gammu's in-place writes serve them, see the complete file by its
//! name, and those that wait for `IN_MOVED_TO` see it too.
//!
//! # Settle check (quirk Q1)
//!
//! gammu takes a file the moment its name appears, although producers,
//! `gammu-smsd-inject` included, create the final name first and fill it
//! afterwards. When a file is ready is decided by `super::settle` (pure,
//! time passed in) from `FileState`; which processes still have files open
//! for writing is one scan of `/proc` per batch (`crate::procfs`).

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::name::{classify_outbox_os_name, NameError};
use super::outbox::MAX_OUTBOX_FILE_BYTES;
pub(crate) use crate::store::FileId;

/// The claim directory inside the outbox.
pub(crate) const CLAIM_DIR: &str = ".simgate-claim";

/// Prefix of temporary files simgate writes.
const TEMP_PREFIX: &str = ".simgate-tmp.";

/// The temporary name `simgate send` and the HTTP API (`crate::queue`)
/// write a message under in the outbox before renaming it into place:
/// `.simgate-send-PID-N.tmp`, with the writer's process id.
pub(crate) fn send_temp_name(pid: u32, serial: u64) -> String {
    format!("{SEND_TEMP_PREFIX}{pid}-{serial}{SEND_TEMP_SUFFIX}")
}

const SEND_TEMP_PREFIX: &str = ".simgate-send-";
const SEND_TEMP_SUFFIX: &str = ".tmp";

/// The writer's process id in a temporary file's name: `Some(Some(pid))`
/// for one of [`write_atomic`]'s or a [`send_temp_name`], `Some(None)` for
/// one of `write_atomic`'s whose id cannot be read (no writer can be
/// alive), `None` for any other name (not simgate's: left alone).
fn temp_writer(name: &[u8]) -> Option<Option<u32>> {
    let number = |digits: &[u8]| {
        (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(digits).ok()?.parse::<u32>().ok())
            .flatten()
    };
    if let Some(rest) = name.strip_prefix(TEMP_PREFIX.as_bytes()) {
        return Some(rest.split(|&b| b == b'.').next().and_then(number));
    }
    let rest = name
        .strip_prefix(SEND_TEMP_PREFIX.as_bytes())?
        .strip_suffix(SEND_TEMP_SUFFIX.as_bytes())?;
    let (pid, serial) = rest.split_at(rest.iter().position(|&b| b == b'-')?);
    let serial = &serial[1..];
    (!serial.is_empty() && serial.iter().all(u8::is_ascii_digit)).then_some(())?;
    Some(Some(number(pid)?))
}

/// How many `.N` suffixes [`move_to_dir`] tries before giving up.
const MAX_COLLISION_SUFFIX: u32 = 10_000;

/// What a path is when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A symbolic link (never followed).
    Symlink,
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
    /// A block device.
    BlockDevice,
    /// A character device.
    CharDevice,
    /// Anything else.
    Other,
}

impl FileKind {
    fn of(file_type: fs::FileType) -> Option<Self> {
        Some(if file_type.is_file() {
            return None;
        } else if file_type.is_dir() {
            Self::Directory
        } else if file_type.is_symlink() {
            Self::Symlink
        } else if file_type.is_fifo() {
            Self::Fifo
        } else if file_type.is_socket() {
            Self::Socket
        } else if file_type.is_block_device() {
            Self::BlockDevice
        } else if file_type.is_char_device() {
            Self::CharDevice
        } else {
            Self::Other
        })
    }
}

/// A failed spool operation, naming the path.
#[derive(Debug, thiserror::Error)]
pub enum SpoolIoError {
    /// An I/O error.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Not a regular file (never read, never followed).
    #[error("{path} is a {kind:?}, not a regular file")]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: FileKind,
    },
    /// Larger than allowed; not read.
    #[error("{path} has {size} bytes; at most {max} are read")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The destination name is taken (a file of that name is already
    /// claimed, or is back in the outbox).
    #[error("{path} already exists")]
    Busy {
        /// The taken path.
        path: PathBuf,
    },
    /// Another file stands under the name than the one taken in.
    #[error("{path} was replaced by another file")]
    Replaced {
        /// The path.
        path: PathBuf,
    },
}

fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SpoolIoError {
    let path = path.to_owned();
    move |source| SpoolIoError::Io { op, path, source }
}

fn exists(path: &Path) -> Result<bool, SpoolIoError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error("inspect", path)(e)),
    }
}

/// Fsyncs a directory so renames and creations in it are durable.
fn sync_dir(dir: &Path) -> Result<(), SpoolIoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("sync directory", dir))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn temp_name(name: &OsStr) -> OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = OsString::from(format!(
        "{TEMP_PREFIX}{}.{}.",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    out.push(name);
    out
}

/// One entry of an outbox scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanEntry {
    /// An outbox file to process, by name (parsed again when it is taken
    /// in: a scan of 10,000 names keeps only the names).
    Outbox(String),
    /// A name gammu would take but cannot use: move it to the error
    /// directory.
    Invalid {
        /// The file name.
        name: OsString,
        /// Why.
        error: NameError,
    },
    /// A matching name that is not a regular file: skipped (gammu 1.44
    /// skips them too; 1.42 tried to send them).
    NotRegular {
        /// The name.
        name: OsString,
        /// What it is.
        kind: FileKind,
    },
}

#[cfg(test)]
impl ScanEntry {
    fn name_bytes(&self) -> &[u8] {
        match self {
            Self::Outbox(name) => name.as_bytes(),
            Self::Invalid { name, .. } | Self::NotRegular { name, .. } => name.as_bytes(),
        }
    }
}

/// Lists the outbox: every name gammu would take, classified, in byte order
/// (see [`super::name`]). Other names are left out. The whole listing is
/// held at once: the daemon reads [`OutboxListing`] instead.
#[cfg(test)]
pub(crate) fn scan_outbox(outbox: &Path) -> Result<Vec<ScanEntry>, SpoolIoError> {
    let mut entries = OutboxListing::open(outbox)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by(|a, b| a.name_bytes().cmp(b.name_bytes()));
    Ok(entries)
}

/// The outbox's entries that gammu would take, classified, one at a time
/// in the directory's own order: a rescan of 10,000 queued files holds one
/// name at a time, where a sorted listing held 2 MB (the entries, their
/// names and the sort's scratch; benches/README.md, "Memory").
pub(crate) struct OutboxListing {
    dir: PathBuf,
    entries: fs::ReadDir,
    /// With [`Self::removing_orphaned_temps`]: dead writers' temporary
    /// files are removed as the listing meets them, if unchanged since.
    orphans_before: Option<std::time::SystemTime>,
    /// How many it removed, and the last removal that failed.
    orphans: (usize, Option<SpoolIoError>),
}

impl OutboxListing {
    /// Starts listing `outbox` (a missing folder is an error
    /// [`is_not_found`] recognises).
    pub(crate) fn open(outbox: &Path) -> Result<Self, SpoolIoError> {
        Ok(Self {
            dir: outbox.to_owned(),
            entries: fs::read_dir(outbox).map_err(io_error("list", outbox))?,
            orphans_before: None,
            orphans: (0, None),
        })
    }

    /// Also removes, as it meets them, the temporary files of writers
    /// killed mid-write ([`remove_orphaned_temps`]'s rule) not changed
    /// since `modified_before`: one listing does both.
    pub(crate) fn removing_orphaned_temps(
        mut self,
        modified_before: std::time::SystemTime,
    ) -> Self {
        self.orphans_before = Some(modified_before);
        self
    }

    /// How many temporary files it removed so far, and the last removal
    /// that failed (the listing goes on past it).
    pub(crate) fn orphans_removed(&mut self) -> (usize, Option<SpoolIoError>) {
        std::mem::take(&mut self.orphans)
    }

    fn classify(
        &mut self,
        entry: io::Result<fs::DirEntry>,
    ) -> Result<Option<ScanEntry>, SpoolIoError> {
        let entry = entry.map_err(io_error("list", &self.dir))?;
        let name = entry.file_name();
        if let Some(before) = self.orphans_before {
            match remove_if_orphaned(&entry, Some(before)) {
                Ok(removed) => self.orphans.0 += usize::from(removed),
                Err(error) => self.orphans.1 = Some(error),
            }
        }
        let classified = match classify_outbox_os_name(&name) {
            Ok(None) => return Ok(None),
            Ok(Some(parsed)) => ScanEntry::Outbox(parsed.name),
            Err(error) => ScanEntry::Invalid {
                name: name.clone(),
                error,
            },
        };
        let file_type = entry
            .file_type()
            .map_err(io_error("inspect", &entry.path()))?;
        Ok(Some(match FileKind::of(file_type) {
            Some(kind) => ScanEntry::NotRegular { name, kind },
            None => classified,
        }))
    }
}

impl Iterator for OutboxListing {
    type Item = Result<ScanEntry, SpoolIoError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = self.entries.next()?;
            match self.classify(entry) {
                Ok(None) => continue,
                Ok(Some(entry)) => return Some(Ok(entry)),
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

/// Whether `dir/name` is a regular file now (not following a symlink).
pub(crate) fn is_regular_file(dir: &Path, name: &str) -> bool {
    fs::symlink_metadata(dir.join(name)).is_ok_and(|meta| meta.file_type().is_file())
}

/// A claimed outbox file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claimed {
    /// Its name (unchanged from the outbox).
    pub name: OsString,
    /// Where it is now: `<outbox>/.simgate-claim/<name>`.
    pub path: PathBuf,
}

/// When a write, move or delete must be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// Before the call returns: the data and the directory entries are
    /// fsynced.
    Now,
    /// Not by this call: the caller syncs a whole batch at once
    /// ([`sync_written`]), or can redo the step after a power cut (a
    /// finished file's move, which the database still names).
    Later,
}

/// The claim directory of an outbox.
pub fn claim_dir(outbox: &Path) -> PathBuf {
    outbox.join(CLAIM_DIR)
}

/// Claims `outbox/name` (see the module documentation), if it is still
/// the file `expected`. Refuses anything but a regular file, another file
/// under that name ([`SpoolIoError::Replaced`], left where it is), and a
/// name already claimed ([`SpoolIoError::Busy`]).
pub(crate) fn claim(
    outbox: &Path,
    name: &OsStr,
    expected: &FileId,
) -> Result<Claimed, SpoolIoError> {
    let source = outbox.join(name);
    let replaced = || SpoolIoError::Replaced {
        path: source.clone(),
    };
    if file_state(&source)?.id != *expected {
        return Err(replaced());
    }
    let dir = claim_dir(outbox);
    let target = dir.join(name);
    if exists(&target)? {
        return Err(SpoolIoError::Busy { path: target });
    }
    match fs::rename(&source, &target) {
        Ok(()) => {}
        // The claim folder is made when the first file is claimed (or
        // again, when it was removed), not looked for at every claim.
        Err(e) if e.kind() == io::ErrorKind::NotFound && !exists(&dir)? => {
            match fs::create_dir(&dir) {
                Ok(()) => sync_dir(outbox)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error("create", &dir)(e)),
            }
            fs::rename(&source, &target).map_err(io_error("claim", &source))?;
        }
        Err(e) => return Err(io_error("claim", &source)(e)),
    }
    let claimed = Claimed {
        name: name.to_owned(),
        path: target,
    };
    // Replaced between the look and the rename: give it back.
    if file_state(&claimed.path)?.id != *expected {
        unclaim(outbox, &claimed)?;
        return Err(replaced());
    }
    Ok(claimed)
}

/// The files claimed and not finished (after a restart), in byte order of
/// their names. Leftover temporary files are ignored.
pub(crate) fn claimed_files(outbox: &Path) -> Result<Vec<Claimed>, SpoolIoError> {
    let dir = claim_dir(outbox);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("list", &dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error("list", &dir))?;
        let name = entry.file_name();
        let file_type = entry
            .file_type()
            .map_err(io_error("inspect", &entry.path()))?;
        if file_type.is_file() && !name.as_bytes().starts_with(TEMP_PREFIX.as_bytes()) {
            out.push(Claimed {
                path: entry.path(),
                name,
            });
        }
    }
    out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(out)
}

/// Puts a claimed file back into the outbox under its name (gammu keeps a
/// failed file there). [`SpoolIoError::Busy`] if a new file took the name.
pub(crate) fn unclaim(outbox: &Path, claimed: &Claimed) -> Result<PathBuf, SpoolIoError> {
    let target = outbox.join(&claimed.name);
    if exists(&target)? {
        return Err(SpoolIoError::Busy { path: target });
    }
    fs::rename(&claimed.path, &target).map_err(io_error("unclaim", &claimed.path))?;
    Ok(target)
}

/// Reads a file of at most `max` bytes: never follows a symbolic link,
/// refuses anything but a regular file (a FIFO does not block), and checks
/// the size before reading and while reading.
pub(crate) fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, SpoolIoError> {
    let flags = nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK;
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) => {
            return Err(SpoolIoError::NotRegular {
                path: path.to_owned(),
                kind: FileKind::Symlink,
            })
        }
        Err(e) => return Err(io_error("open", path)(e)),
    };
    let meta = file.metadata().map_err(io_error("inspect", path))?;
    if let Some(kind) = FileKind::of(meta.file_type()) {
        return Err(SpoolIoError::NotRegular {
            path: path.to_owned(),
            kind,
        });
    }
    let too_large = |size| SpoolIoError::TooLarge {
        path: path.to_owned(),
        size,
        max,
    };
    if meta.len() > max {
        return Err(too_large(meta.len()));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut data)
        .map_err(io_error("read", path))?;
    if data.len() as u64 > max {
        return Err(too_large(data.len() as u64));
    }
    Ok(data)
}

/// [`read_limited`] with [`MAX_OUTBOX_FILE_BYTES`].
pub(crate) fn read_outbox_file(path: &Path) -> Result<Vec<u8>, SpoolIoError> {
    read_limited(path, MAX_OUTBOX_FILE_BYTES)
}

/// What happened to a file that was moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MoveOutcome {
    /// Renamed to this path (same file system).
    Renamed(PathBuf),
    /// Copied to this path and the source removed (another file system).
    Copied(PathBuf),
    /// Deleted: the target directory is the outbox itself (gammu's rule for
    /// `SentSMSPath`/`ErrorSMSPath` equal to `OutboxPath`).
    Deleted,
}

impl MoveOutcome {
    /// The new path, unless the file was deleted.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Self::Renamed(path) | Self::Copied(path) => Some(path),
            Self::Deleted => None,
        }
    }
}

/// The longest file name Linux file systems take (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// The `n`-th name to try for `name` in a target directory: the name
/// itself, then `.n` inserted before the last suffix. A name that would
/// grow past [`NAME_MAX`] loses the end of its stem instead (cut at a
/// character boundary), so even a 255-byte name can be moved next to one
/// of the same name.
pub(crate) fn collision_name(name: &OsStr, n: u32) -> OsString {
    if n == 0 {
        return name.to_owned();
    }
    let bytes = name.as_bytes();
    let tag = format!(".{n}");
    let (stem, suffix) = match bytes.iter().rposition(|&b| b == b'.') {
        Some(dot) if dot > 0 => bytes.split_at(dot),
        _ => (bytes, &[][..]),
    };
    let room = NAME_MAX.saturating_sub(tag.len() + suffix.len());
    let mut keep = stem.len().min(room);
    // Never cut a UTF-8 character in half.
    while keep > 0 && keep < stem.len() && (stem[keep] & 0xC0) == 0x80 {
        keep -= 1;
    }
    let mut out = Vec::with_capacity(keep + tag.len() + suffix.len());
    out.extend_from_slice(&stem[..keep]);
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(suffix);
    OsString::from_vec(out)
}

/// Whether two paths are the same directory (same device and inode).
fn same_dir(a: &Path, b: &Path) -> Result<bool, SpoolIoError> {
    let a = fs::metadata(a).map_err(io_error("inspect", a))?;
    let b = fs::metadata(b).map_err(io_error("inspect", b))?;
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

/// Finishes a claimed file: moves it to `target_dir` (`sent/` or `error/`),
/// or deletes it when `target_dir` is the outbox itself.
pub(crate) fn finish(
    outbox: &Path,
    claimed: &Claimed,
    target_dir: &Path,
    flush: Flush,
) -> Result<MoveOutcome, SpoolIoError> {
    if same_dir(outbox, target_dir)? {
        fs::remove_file(&claimed.path).map_err(io_error("delete", &claimed.path))?;
        if flush == Flush::Now {
            sync_dir(parent(&claimed.path))?;
        }
        return Ok(MoveOutcome::Deleted);
    }
    move_to_dir(&claimed.path, target_dir, flush)
}

/// Moves `source` into `target_dir` under its own name, or the first free
/// [`collision_name`]; never replaces a file (see the module documentation).
pub(crate) fn move_to_dir(
    source: &Path,
    target_dir: &Path,
    flush: Flush,
) -> Result<MoveOutcome, SpoolIoError> {
    let name = source.file_name().ok_or_else(|| SpoolIoError::Io {
        op: "move",
        path: source.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "no file name"),
    })?;
    let meta = fs::symlink_metadata(source).map_err(io_error("inspect", source))?;
    if let Some(kind) = FileKind::of(meta.file_type()) {
        return Err(SpoolIoError::NotRegular {
            path: source.to_owned(),
            kind,
        });
    }
    match rename_no_clobber(source, target_dir, name) {
        Ok(path) => {
            if flush == Flush::Now {
                sync_dir(target_dir)?;
                sync_dir(parent(source))?;
            }
            Ok(MoveOutcome::Renamed(path))
        }
        Err(SpoolIoError::Io { source: e, .. })
            if e.raw_os_error() == Some(nix::errno::Errno::EXDEV as i32) =>
        {
            copy_into(source, target_dir, name).map(MoveOutcome::Copied)
        }
        Err(e) => Err(e),
    }
}

/// Renames `from` to the first free candidate of `name` in `dir`.
fn rename_no_clobber(from: &Path, dir: &Path, name: &OsStr) -> Result<PathBuf, SpoolIoError> {
    for n in 0..MAX_COLLISION_SUFFIX {
        let target = dir.join(collision_name(name, n));
        if exists(&target)? {
            continue;
        }
        fs::rename(from, &target).map_err(io_error("move", from))?;
        return Ok(target);
    }
    Err(SpoolIoError::Busy {
        path: dir.join(name),
    })
}

/// Where in `dir` the file `id`, once named `name`, is, if it was moved
/// there by [`move_to_dir`] (under its name or a collision name): a
/// rename keeps a file's identity. A copy across file systems does not,
/// and is not found.
pub(crate) fn find_moved(dir: &Path, name: &OsStr, id: &FileId) -> Option<PathBuf> {
    for n in 0..MAX_COLLISION_SUFFIX {
        let path = dir.join(collision_name(name, n));
        match file_state(&path) {
            Ok(state) if state.id == *id => return Some(path),
            Ok(_) => continue,
            // Collision names are taken in order: the first free one ends
            // the search.
            Err(error) if is_not_found(&error) => return None,
            Err(_) => continue,
        }
    }
    None
}

/// Copies `source` into `dir` across file systems (see the module
/// documentation), then removes the source.
fn copy_into(source: &Path, dir: &Path, name: &OsStr) -> Result<PathBuf, SpoolIoError> {
    let mut input = File::open(source).map_err(io_error("open", source))?;
    let meta = input.metadata().map_err(io_error("inspect", source))?;
    let temp = dir.join(temp_name(name));
    let result = (|| {
        let mut output = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io_error("create", &temp))?;
        io::copy(&mut input, &mut output).map_err(io_error("copy to", &temp))?;
        // Best effort: only root may give a file away.
        let _ = std::os::unix::fs::fchown(&output, Some(meta.uid()), Some(meta.gid()));
        output
            .set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io_error("set the mode of", &temp))?;
        if let Ok(modified) = meta.modified() {
            output
                .set_modified(modified)
                .map_err(io_error("set the time of", &temp))?;
        }
        output.sync_all().map_err(io_error("sync", &temp))?;
        rename_no_clobber(&temp, dir, name)
    })();
    let target = match result {
        Ok(target) => target,
        Err(e) => {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
    };
    sync_dir(dir)?;
    fs::remove_file(source).map_err(io_error("remove", source))?;
    sync_dir(parent(source))?;
    Ok(target)
}

/// What [`write_atomic`] does with an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum WriteMode {
    /// Replace an existing file (an inbox file written again after a crash,
    /// a rewritten `.smsbackup`).
    Replace,
    /// Never replace: a name that exists fails with
    /// [`SpoolIoError::Busy`] (an inbox file whose name another writer of
    /// the same inbox took after it was chosen).
    New,
}

/// Gives `temp` the name `target` unless that name exists (`EEXIST`):
/// `renameat2(RENAME_NOREPLACE)`, or where the file system refuses the
/// flag (NFS, 9p, many FUSE file systems: `EINVAL`) a hard link, which
/// never replaces a name either, and the temporary name's removal. A
/// temporary name left behind (that removal failed) is hidden, and
/// ignored by every reader of the spool.
pub(crate) fn rename_no_replace(temp: &Path, target: &Path) -> Result<(), nix::errno::Errno> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    match renameat2(
        AT_FDCWD,
        temp,
        AT_FDCWD,
        target,
        RenameFlags::RENAME_NOREPLACE,
    ) {
        Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) => {
            nix::unistd::linkat(
                AT_FDCWD,
                temp,
                AT_FDCWD,
                target,
                nix::fcntl::AtFlags::empty(),
            )?;
            let _ = fs::remove_file(temp);
            Ok(())
        }
        other => other,
    }
}

/// Removes the temporary files [`write_atomic`] left in `dir`, and those
/// named by [`send_temp_name`] (`simgate send`, the HTTP API) in the
/// outbox, when the process writing them died (killed between creating and
/// renaming one): those whose writer's process id is no longer running.
/// A live writer's file stays, this process's too (the daemon's HTTP API
/// writes them), and with `modified_before` one changed since then (its
/// writer may be in another PID namespace, a container sharing the
/// outbox, where its process id means nothing here). Returns how many.
pub(crate) fn remove_orphaned_temps(
    dir: &Path,
    modified_before: Option<std::time::SystemTime>,
) -> Result<usize, SpoolIoError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_error("list", dir)(e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(io_error("list", dir))?;
        removed += usize::from(remove_if_orphaned(&entry, modified_before)?);
    }
    Ok(removed)
}

/// Removes `entry` if it is a temporary file of simgate's whose writer is
/// gone (and, with `modified_before`, unchanged since then); whether it
/// did. See [`remove_orphaned_temps`].
fn remove_if_orphaned(
    entry: &fs::DirEntry,
    modified_before: Option<std::time::SystemTime>,
) -> Result<bool, SpoolIoError> {
    let Some(writer) = temp_writer(entry.file_name().as_bytes()) else {
        return Ok(false);
    };
    let alive = writer.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
    let recent = modified_before.is_some_and(|before| {
        entry
            .metadata()
            .and_then(|m| m.modified())
            .map_or(true, |modified| modified >= before)
    });
    if alive || recent {
        return Ok(false);
    }
    let path = entry.path();
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error("remove", &path)(e)),
    }
}

/// Writes `data` to `dir/name` atomically (see the module documentation).
/// `mode` is the file's permission bits; `None` gives `0666` minus the
/// umask, as gammu's `fopen` does.
pub(crate) fn write_atomic(
    dir: &Path,
    name: &OsStr,
    data: &[u8],
    mode: Option<u32>,
    write_mode: WriteMode,
    flush: Flush,
) -> Result<PathBuf, SpoolIoError> {
    let target = dir.join(name);
    let temp = dir.join(temp_name(name));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(&temp)
            .map_err(io_error("create", &temp))?;
        file.write_all(data).map_err(io_error("write", &temp))?;
        if let Some(mode) = mode {
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(io_error("set the mode of", &temp))?;
        }
        if flush == Flush::Now {
            file.sync_all().map_err(io_error("sync", &temp))?;
        }
        match write_mode {
            WriteMode::Replace => fs::rename(&temp, &target).map_err(io_error("rename", &temp))?,
            WriteMode::New => match rename_no_replace(&temp, &target) {
                Ok(()) => {}
                Err(nix::errno::Errno::EEXIST) => {
                    return Err(SpoolIoError::Busy {
                        path: target.clone(),
                    })
                }
                Err(errno) => return Err(io_error("rename", &temp)(errno.into())),
            },
        }
        // Closed under its final name (see the module documentation).
        drop(file);
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    if flush == Flush::Now {
        sync_dir(dir)?;
    }
    Ok(target)
}

/// Makes files written with [`Flush::Later`] durable, names included:
/// one file is fsynced with its directory; several are synced with one
/// `syncfs` of the file system that holds them (one flush of the disk for
/// a whole burst instead of two per file).
pub(crate) fn sync_written(dir: &Path, files: &[PathBuf]) -> Result<(), SpoolIoError> {
    match files {
        [] => Ok(()),
        [file] => {
            File::open(file)
                .and_then(|f| f.sync_all())
                .map_err(io_error("sync", file))?;
            sync_dir(dir)
        }
        _ => {
            let folder = File::open(dir).map_err(io_error("open", dir))?;
            nix::unistd::syncfs(&folder).map_err(|errno| SpoolIoError::Io {
                op: "sync",
                path: dir.to_owned(),
                source: io::Error::from(errno),
            })
        }
    }
}

/// Rewrites an existing file atomically with new content, keeping its mode
/// (for the `MessageReference` update of a `.smsbackup` file).
pub(crate) fn rewrite_file(path: &Path, data: &[u8]) -> Result<(), SpoolIoError> {
    let meta = fs::symlink_metadata(path).map_err(io_error("inspect", path))?;
    if let Some(kind) = FileKind::of(meta.file_type()) {
        return Err(SpoolIoError::NotRegular {
            path: path.to_owned(),
            kind,
        });
    }
    let name = path.file_name().unwrap_or_default();
    write_atomic(
        parent(path),
        name,
        data,
        Some(meta.mode() & 0o7777),
        WriteMode::Replace,
        Flush::Now,
    )?;
    Ok(())
}

/// What the settle check and the claim look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileState {
    /// Which file it is.
    pub id: FileId,
    /// When its content or inode last changed: the later of its
    /// modification and status change times (a producer can set the
    /// first, never the second).
    pub changed: SystemTime,
}

impl FileState {
    /// Device and inode, as `/proc` names the file.
    pub(crate) fn inode(&self) -> crate::procfs::Inode {
        crate::procfs::Inode {
            dev: self.id.dev,
            ino: self.id.ino,
        }
    }
}

/// The state of the regular file `path` (not following a symbolic link).
pub(crate) fn file_state(path: &Path) -> Result<FileState, SpoolIoError> {
    let meta = fs::symlink_metadata(path).map_err(io_error("inspect", path))?;
    if let Some(kind) = FileKind::of(meta.file_type()) {
        return Err(SpoolIoError::NotRegular {
            path: path.to_owned(),
            kind,
        });
    }
    Ok(state_of(&meta))
}

fn state_of(meta: &fs::Metadata) -> FileState {
    let time = |seconds: i64, nanos: i64| {
        let nanos = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
        (
            nanos,
            SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos.max(0) as u64),
        )
    };
    let (mtime_ns, modified) = time(meta.mtime(), meta.mtime_nsec());
    let (_, status_changed) = time(meta.ctime(), meta.ctime_nsec());
    FileState {
        id: FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns,
        },
        changed: modified.max(status_changed),
    }
}

/// Whether `error` means the file is not there.
pub(crate) fn is_not_found(error: &SpoolIoError) -> bool {
    matches!(error, SpoolIoError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

/// Whether `error` says nothing about the file but about this moment: the
/// process or the system out of file descriptors or memory, a call
/// interrupted. Trying again later may work; the file is not to blame.
pub(crate) fn is_transient(error: &SpoolIoError) -> bool {
    use nix::errno::Errno;
    let SpoolIoError::Io { source, .. } = error else {
        return false;
    };
    source.raw_os_error().is_some_and(|code| {
        [
            Errno::EMFILE,
            Errno::ENFILE,
            Errno::ENOMEM,
            Errno::ENOBUFS,
            Errno::EINTR,
        ]
        .iter()
        .any(|errno| *errno as i32 == code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_of_the_moment_are_transient() {
        let io = |errno: nix::errno::Errno| SpoolIoError::Io {
            op: "open",
            path: PathBuf::from("/o/OUT+1.txt"),
            source: io::Error::from(errno),
        };
        assert!(is_transient(&io(nix::errno::Errno::EMFILE)));
        assert!(is_transient(&io(nix::errno::Errno::ENFILE)));
        assert!(is_transient(&io(nix::errno::Errno::ENOMEM)));
        assert!(!is_transient(&io(nix::errno::Errno::ENOENT)));
        assert!(!is_transient(&io(nix::errno::Errno::EACCES)));
        assert!(!is_transient(&SpoolIoError::TooLarge {
            path: PathBuf::from("/o/OUT+1.txt"),
            size: 2,
            max: 1,
        }));
    }

    /// A unique temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let path = std::env::temp_dir().join(format!(
                "simgate-spool-{tag}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        fn sub(&self, name: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::create_dir_all(&path).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A consumer waiting for `IN_CLOSE_WRITE` in the inbox (incron,
    /// `inotifywait -e close_write`: what gammu's in-place writes give it)
    /// is told of the file under its final name, complete. Real inotify.
    #[test]
    fn a_written_file_is_closed_under_its_final_name() {
        use notify::event::{AccessKind, AccessMode};
        use notify::{EventKind, RecursiveMode, Watcher};
        let dir = TempDir::new("close-write");
        let inbox = dir.sub("inbox");
        let (sender, events) = std::sync::mpsc::channel();
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = sender.send(event);
        })
        .unwrap();
        watcher.watch(&inbox, RecursiveMode::NonRecursive).unwrap();
        let name = OsStr::new("IN20261205_120000_00_+4917612345678_00.txt");
        for flush in [Flush::Later, Flush::Now] {
            let path =
                write_atomic(&inbox, name, b"hello", None, WriteMode::Replace, flush).unwrap();
            let closed = loop {
                // A guard only: inotify reports within milliseconds.
                let event = events
                    .recv_timeout(std::time::Duration::from_secs(20))
                    .expect("no close after writing was reported")
                    .unwrap();
                if event.kind == EventKind::Access(AccessKind::Close(AccessMode::Write)) {
                    break event.paths;
                }
            };
            assert_eq!(closed, std::slice::from_ref(&path), "{flush:?}");
            assert_eq!(fs::read(&path).unwrap(), b"hello");
            fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn temporary_files_of_dead_writers_are_removed() {
        let dir = TempDir::new("orphans");
        // A pid that cannot be running (above the kernel's pid_max limit).
        let dead = format!("{TEMP_PREFIX}4194305.0.IN20261125_200100_00_+49_00.txt");
        let ours = temp_name(OsStr::new("IN20261125_200100_00_+49_01.txt"));
        for name in [
            OsStr::new(&dead),
            &ours,
            OsStr::new("IN20261125_200100_00_+49_00.txt"),
        ] {
            fs::write(dir.0.join(name), b"x").unwrap();
        }
        assert_eq!(remove_orphaned_temps(&dir.0, None).unwrap(), 1);
        let left = names(&dir.0);
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(!left.contains(&dead), "{left:?}");
        assert!(
            left.contains(&ours.into_string().unwrap()),
            "a live writer's file stays"
        );
        assert_eq!(
            remove_orphaned_temps(&dir.0.join("missing"), None).unwrap(),
            0
        );
    }

    /// `simgate send` and the HTTP API write `.simgate-send-PID-N.tmp` into
    /// the outbox; one left by a writer killed mid-write (SIGKILL, a power
    /// cut) held part of a message's text, readable by all, forever. A
    /// live writer's (the daemon's own HTTP API: this process) stays, and
    /// so does a name that only looks alike.
    #[test]
    fn send_temporary_files_of_dead_writers_are_removed() {
        let dir = TempDir::new("send-orphans");
        // A pid that cannot be running (above the kernel's pid_max limit).
        let dead = ".simgate-send-4194305-0.tmp".to_owned();
        let ours = format!(".simgate-send-{}-7.tmp", std::process::id());
        let kept = [
            ours.clone(),
            ".simgate-send-4194305-x.tmp".to_owned(),
            ".simgate-send-4194305-0.tmp.bak".to_owned(),
            "OUT+4912345_00.txt".to_owned(),
        ];
        for name in kept.iter().chain([&dead]) {
            fs::write(dir.0.join(name), b"part of a text").unwrap();
        }
        assert_eq!(remove_orphaned_temps(&dir.0, None).unwrap(), 1);
        let mut left = names(&dir.0);
        left.sort();
        let mut expected = kept.to_vec();
        expected.sort();
        assert_eq!(left, expected);
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn scan_classifies_and_orders() {
        let tmp = TempDir::new("scan");
        let outbox = tmp.sub("outbox");
        for name in [
            "out+3.txt",
            "OUTB_+2_1.txt",
            "OUT_+444.txt",
            "OUT+1.txt.tmp",
            "x",
        ] {
            fs::write(outbox.join(name), "hi").unwrap();
        }
        fs::create_dir(outbox.join("OUTA_+1_1.txt")).unwrap();
        std::os::unix::fs::symlink("x", outbox.join("OUT+9.smsbackup")).unwrap();
        fs::create_dir(outbox.join(CLAIM_DIR)).unwrap();
        let scan = scan_outbox(&outbox).unwrap();
        assert_eq!(scan.len(), 5, "{scan:?}");
        assert!(matches!(
            &scan[0],
            ScanEntry::NotRegular {
                kind: FileKind::Symlink,
                ..
            }
        ));
        assert!(matches!(
            &scan[1],
            ScanEntry::NotRegular {
                kind: FileKind::Directory,
                ..
            }
        ));
        assert!(matches!(&scan[2], ScanEntry::Outbox(n) if n == "OUTB_+2_1.txt"));
        assert!(matches!(
            &scan[3],
            ScanEntry::Invalid {
                error: NameError::UnderscoreCount { .. },
                ..
            }
        ));
        assert!(matches!(&scan[4], ScanEntry::Outbox(n) if n == "out+3.txt"));
    }

    #[test]
    fn claim_and_recover() {
        let tmp = TempDir::new("claim");
        let outbox = tmp.sub("outbox");
        fs::write(outbox.join("OUT+2.txt"), "two").unwrap();
        fs::write(outbox.join("OUT+1.txt"), "one").unwrap();
        let id = |name: &str| file_state(&outbox.join(name)).unwrap().id;
        let (two, one) = (id("OUT+2.txt"), id("OUT+1.txt"));
        let first = claim(&outbox, OsStr::new("OUT+2.txt"), &two).unwrap();
        assert_eq!(first.path, outbox.join(CLAIM_DIR).join("OUT+2.txt"));
        assert_eq!(fs::read(&first.path).unwrap(), b"two");
        // The claimed file is the same file (same identity).
        assert_eq!(file_state(&first.path).unwrap().id, two);
        claim(&outbox, OsStr::new("OUT+1.txt"), &one).unwrap();
        // Not in the outbox scan any more; found again after a "restart".
        assert!(scan_outbox(&outbox).unwrap().is_empty());
        let claimed = claimed_files(&outbox).unwrap();
        assert_eq!(
            claimed
                .iter()
                .map(|c| c.name.to_str().unwrap())
                .collect::<Vec<_>>(),
            ["OUT+1.txt", "OUT+2.txt"]
        );
        // The same name dropped again is another file, and waits.
        fs::write(outbox.join("OUT+2.txt"), "again").unwrap();
        let again = id("OUT+2.txt");
        assert_ne!(again, two);
        assert!(matches!(
            claim(&outbox, OsStr::new("OUT+2.txt"), &two),
            Err(SpoolIoError::Replaced { .. })
        ));
        assert!(matches!(
            claim(&outbox, OsStr::new("OUT+2.txt"), &again),
            Err(SpoolIoError::Busy { .. })
        ));
        assert!(matches!(
            unclaim(&outbox, &first),
            Err(SpoolIoError::Busy { .. })
        ));
        fs::remove_file(outbox.join("OUT+2.txt")).unwrap();
        assert!(is_not_found(
            &claim(&outbox, OsStr::new("OUT+2.txt"), &again).unwrap_err()
        ));
        assert_eq!(unclaim(&outbox, &first).unwrap(), outbox.join("OUT+2.txt"));
        assert_eq!(fs::read(outbox.join("OUT+2.txt")).unwrap(), b"two");
        assert!(claimed_files(&tmp.sub("empty")).unwrap().is_empty());
        // A claim folder removed meanwhile is made again; a file gone
        // from the outbox is still "not found", not a folder made for it.
        let one_claimed = outbox.join(CLAIM_DIR).join("OUT+1.txt");
        fs::rename(&one_claimed, outbox.join("OUT+1.txt")).unwrap();
        fs::remove_dir(outbox.join(CLAIM_DIR)).unwrap();
        assert!(is_not_found(
            &claim(&outbox, OsStr::new("OUT+9.txt"), &one).unwrap_err()
        ));
        assert!(!outbox.join(CLAIM_DIR).exists());
        let back = claim(&outbox, OsStr::new("OUT+1.txt"), &one).unwrap();
        assert_eq!(back.path, one_claimed);
        assert_eq!(fs::read(&back.path).unwrap(), b"one");
    }

    #[test]
    fn claim_refuses_non_regular_files() {
        let tmp = TempDir::new("claim-kinds");
        let outbox = tmp.sub("outbox");
        fs::create_dir(outbox.join("OUTdir.txt")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", outbox.join("OUTlink.txt")).unwrap();
        nix::unistd::mkfifo(&outbox.join("OUTfifo.txt"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        for (name, kind) in [
            ("OUTdir.txt", FileKind::Directory),
            ("OUTlink.txt", FileKind::Symlink),
            ("OUTfifo.txt", FileKind::Fifo),
        ] {
            match claim(&outbox, OsStr::new(name), &FileId::default()) {
                Err(SpoolIoError::NotRegular { kind: found, .. }) => assert_eq!(found, kind),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn read_checks_size_and_type() {
        let tmp = TempDir::new("read");
        let dir = tmp.sub("d");
        let small = dir.join("small");
        fs::write(&small, b"hello").unwrap();
        assert_eq!(read_outbox_file(&small).unwrap(), b"hello");
        assert!(matches!(
            read_limited(&small, 4),
            Err(SpoolIoError::TooLarge {
                size: 5,
                max: 4,
                ..
            })
        ));
        // A sparse 10 MB file is rejected from its metadata.
        let big = dir.join("big");
        File::create(&big)
            .unwrap()
            .set_len(10 * 1024 * 1024)
            .unwrap();
        assert!(matches!(
            read_outbox_file(&big),
            Err(SpoolIoError::TooLarge {
                size: 10_485_760,
                ..
            })
        ));
        std::os::unix::fs::symlink(&small, dir.join("link")).unwrap();
        assert!(matches!(
            read_outbox_file(&dir.join("link")),
            Err(SpoolIoError::NotRegular {
                kind: FileKind::Symlink,
                ..
            })
        ));
        nix::unistd::mkfifo(&dir.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(
            read_outbox_file(&dir.join("fifo")),
            Err(SpoolIoError::NotRegular {
                kind: FileKind::Fifo,
                ..
            })
        ));
        assert!(matches!(
            read_outbox_file(&dir),
            Err(SpoolIoError::NotRegular {
                kind: FileKind::Directory,
                ..
            })
        ));
        assert!(matches!(
            read_outbox_file(&dir.join("missing")),
            Err(SpoolIoError::Io { .. })
        ));
    }

    #[test]
    fn collision_names_keep_the_grammar() {
        assert_eq!(collision_name(OsStr::new("OUT+1.txtd"), 0), "OUT+1.txtd");
        assert_eq!(collision_name(OsStr::new("OUT+1.txtd"), 2), "OUT+1.2.txtd");
        assert_eq!(
            collision_name(OsStr::new("OUTC20261125_173354_00_+1_sms0.smsbackup"), 1),
            "OUTC20261125_173354_00_+1_sms0.1.smsbackup"
        );
        assert_eq!(collision_name(OsStr::new("noext"), 1), "noext.1");
        assert_eq!(collision_name(OsStr::new(".hidden"), 1), ".hidden.1");
        // A name at the file system's limit still gets a free name that fits.
        let long = format!("OUT{}é.txt", "1".repeat(NAME_MAX - 9));
        assert_eq!(long.len(), NAME_MAX);
        for n in [1, 12, 9999] {
            let name = collision_name(OsStr::new(&long), n);
            assert!(name.len() <= NAME_MAX, "{n}: {}", name.len());
            let name = name.to_str().expect("still UTF-8");
            assert!(name.ends_with(&format!(".{n}.txt")), "{name}");
        }
        for n in 1..3 {
            let name = collision_name(OsStr::new("OUTA_+12_x.txtdf"), n);
            let parsed = crate::spool::name::classify_outbox_os_name(&name)
                .unwrap()
                .unwrap();
            assert_eq!(parsed.recipient.as_deref(), Some("+12"));
            assert!(parsed.flags.delivery_report && parsed.flags.flash);
        }
    }

    #[test]
    fn move_never_clobbers_and_keeps_mode() {
        let tmp = TempDir::new("move");
        let outbox = tmp.sub("outbox");
        let sent = tmp.sub("sent");
        for round in 0..3 {
            fs::write(outbox.join("OUT+1.txt"), format!("round {round}")).unwrap();
            fs::set_permissions(outbox.join("OUT+1.txt"), fs::Permissions::from_mode(0o640))
                .unwrap();
            let id = file_state(&outbox.join("OUT+1.txt")).unwrap().id;
            let claimed = claim(&outbox, OsStr::new("OUT+1.txt"), &id).unwrap();
            let outcome = finish(&outbox, &claimed, &sent, Flush::Now).unwrap();
            assert!(matches!(outcome, MoveOutcome::Renamed(_)));
        }
        assert_eq!(names(&sent), ["OUT+1.1.txt", "OUT+1.2.txt", "OUT+1.txt"]);
        assert_eq!(fs::read(sent.join("OUT+1.txt")).unwrap(), b"round 0");
        assert_eq!(fs::read(sent.join("OUT+1.2.txt")).unwrap(), b"round 2");
        let mode = fs::metadata(sent.join("OUT+1.txt")).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(names(&claim_dir(&outbox)), Vec::<String>::new());
    }

    #[test]
    fn finish_into_the_outbox_deletes() {
        let tmp = TempDir::new("delete");
        let outbox = tmp.sub("outbox");
        fs::write(outbox.join("OUT+1.txt"), "x").unwrap();
        let id = file_state(&outbox.join("OUT+1.txt")).unwrap().id;
        let claimed = claim(&outbox, OsStr::new("OUT+1.txt"), &id).unwrap();
        // The same directory through another spelling.
        let alias = outbox.join(".");
        assert_eq!(
            finish(&outbox, &claimed, &alias, Flush::Now).unwrap(),
            MoveOutcome::Deleted
        );
        assert_eq!(names(&outbox), [CLAIM_DIR]);
        assert!(names(&claim_dir(&outbox)).is_empty());
    }

    #[test]
    fn copy_across_file_systems_is_complete() {
        // The cross-file-system path, exercised on one file system.
        let tmp = TempDir::new("copy");
        let from = tmp.sub("from");
        let to = tmp.sub("to");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let source = from.join("OUT+1.smsbackup");
        fs::write(&source, &data).unwrap();
        fs::set_permissions(&source, fs::Permissions::from_mode(0o604)).unwrap();
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        File::options()
            .write(true)
            .open(&source)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        fs::write(to.join("OUT+1.smsbackup"), "older").unwrap();
        let target = copy_into(&source, &to, OsStr::new("OUT+1.smsbackup")).unwrap();
        assert_eq!(target, to.join("OUT+1.1.smsbackup"));
        assert_eq!(fs::read(&target).unwrap(), data);
        let meta = fs::metadata(&target).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o604);
        assert_eq!(meta.modified().unwrap(), mtime);
        assert!(!source.exists());
        assert_eq!(names(&to), ["OUT+1.1.smsbackup", "OUT+1.smsbackup"]);
    }

    #[test]
    fn atomic_writes() {
        let tmp = TempDir::new("write");
        let inbox = tmp.sub("inbox");
        let name = OsStr::new("IN20240115_103003_00_+420_00.txt");
        let path =
            write_atomic(&inbox, name, b"hello", None, WriteMode::Replace, Flush::Now).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        write_atomic(
            &inbox,
            name,
            b"replaced",
            Some(0o600),
            WriteMode::Replace,
            Flush::Now,
        )
        .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"replaced");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        // No temporary file is left behind.
        assert_eq!(names(&inbox), ["IN20240115_103003_00_+420_00.txt"]);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        rewrite_file(&path, b"MessageReference = 5\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"MessageReference = 5\n");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
        assert_eq!(names(&inbox).len(), 1);
    }
}
