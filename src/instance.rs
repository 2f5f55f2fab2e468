//! One daemon per configuration: where its state lives, and the locks that
//! keep a second daemon off the same state, the same outbox and the same
//! modem.
//!
//! # Where the state lives
//!
//! gammu users run one gammu-smsd per modem, each with its own
//! gammu-smsdrc, and gammu keeps no state; simgate keeps a database, one
//! per configuration file, without any new setting:
//!
//! - `[database] path` in simgate's TOML, when set, is used as it is;
//! - otherwise the database is `<state directory>/<file stem>-<hash>.db`,
//!   where the stem is the configuration file's name without its extension
//!   and the hash is the first 8 hex digits of the SHA-256 of its absolute
//!   path (`/etc/gammu-smsdrc` → `gammu-smsdrc-1f3a9c0b.db`), so two
//!   configurations never share a database and the same one always finds
//!   its own again. `simgate check-config` prints the path.
//!
//! The state directory is the first that works of: `$STATE_DIRECTORY`
//! (systemd's `StateDirectory=`; the first of a colon-separated list),
//! `/var/lib/simgate` (created when missing and simgate may), and for a
//! user without the right to create that, `$XDG_STATE_HOME/simgate` or
//! `~/.local/state/simgate`. A directory simgate creates gets mode 0700.
//! When none works, simgate stops with one line naming the path and the fix.
//!
//! # One daemon each
//!
//! The database, the outbox and the modem each take an advisory `flock`
//! that lasts as long as the daemon: the database through `<db>.lock`
//! beside it, the outbox on the directory itself, the modem on its device
//! node (each time the port is opened). A second daemon that finds any of
//! them held stops, naming what is held and by which process (the one
//! whose descriptor in `/proc` shows the lock, or `/proc/locks`), and the
//! first goes on undisturbed. It waits `LOCK_GRACE` first: a lock lives
//! as long as its open file, and a child process that a daemon killed a
//! moment ago was starting (a hook, between fork and exec) shares that
//! file for a moment.

use crate::procfs::{self, Inode, Process};
use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How long a starting daemon waits for a lock to be released before it
/// refuses (see the module documentation).
pub(crate) const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Retries `take` while it reports the lock held, for up to [`LOCK_GRACE`].
pub(crate) async fn patiently<T>(
    mut take: impl FnMut() -> Result<T, InstanceError>,
) -> Result<T, InstanceError> {
    let deadline = tokio::time::Instant::now() + LOCK_GRACE;
    loop {
        match take() {
            Err(InstanceError::Held { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// The system-wide state directory.
pub(crate) const SYSTEM_STATE_DIR: &str = "/var/lib/simgate";

/// What the state directory depends on, read from the environment once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StateEnv {
    /// `$STATE_DIRECTORY`, set by systemd for `StateDirectory=`.
    pub state_directory: Option<OsString>,
    /// `$XDG_STATE_HOME`.
    pub xdg_state_home: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// The system directory (`/var/lib/simgate`; another in tests).
    pub system_dir: PathBuf,
}

impl StateEnv {
    /// The process's environment.
    pub(crate) fn from_env() -> Self {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            state_directory: std::env::var_os("STATE_DIRECTORY").filter(|v| !v.is_empty()),
            xdg_state_home: path("XDG_STATE_HOME"),
            home: path("HOME"),
            system_dir: PathBuf::from(SYSTEM_STATE_DIR),
        }
    }

    /// The directories to try, in order (see the module documentation).
    pub(crate) fn candidates(&self) -> Vec<PathBuf> {
        if let Some(list) = &self.state_directory {
            let list = list.to_string_lossy();
            if let Some(first) = list.split(':').find(|p| !p.is_empty()) {
                return vec![PathBuf::from(first)];
            }
        }
        let mut dirs = vec![self.system_dir.clone()];
        if let Some(xdg) = &self.xdg_state_home {
            dirs.push(xdg.join("simgate"));
        } else if let Some(home) = &self.home {
            dirs.push(home.join(".local/state/simgate"));
        }
        dirs
    }
}

/// Why simgate cannot have its state, or a second daemon must not run.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// No state directory could be used.
    #[error("cannot use {} for simgate's state: {source}; {fix}", path.display())]
    StateDir {
        /// The directory that failed last (the preferred one).
        path: PathBuf,
        /// Why.
        source: io::Error,
        /// What the user can do.
        fix: String,
    },
    /// The configuration file has no usable absolute path.
    #[error("cannot find the absolute path of the configuration {}: {source}", path.display())]
    ConfigPath {
        /// The path given.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Another daemon holds something this one needs.
    #[error("{what} is in use by {holder}; simgate runs one daemon per configuration, outbox and modem: stop the other one first")]
    Held {
        /// What is held, e.g. `the state /var/lib/simgate/x.db`.
        what: String,
        /// Who holds it.
        holder: String,
    },
    /// A lock could not be taken for another reason.
    #[error("cannot lock {}: {source}", path.display())]
    Lock {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The database file name for the configuration at `config` (absolute).
pub(crate) fn database_name(config: &Path) -> String {
    let stem = config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "simgate".to_owned());
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let digest = Sha256::digest(config.as_os_str().as_encoded_bytes());
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{stem}-{hash}.db")
}

/// The absolute path of a configuration file, symbolic links resolved.
pub(crate) fn config_identity(config: &Path) -> Result<PathBuf, InstanceError> {
    fs::canonicalize(config).map_err(|source| InstanceError::ConfigPath {
        path: config.to_owned(),
        source,
    })
}

/// Where the database of the configuration at `config` lives, without
/// creating anything: for `check-config`.
pub(crate) fn planned_database(config: &Path, env: &StateEnv) -> Result<PathBuf, InstanceError> {
    let name = database_name(&config_identity(config)?);
    let dir = env
        .candidates()
        .into_iter()
        .find(|dir| dir.is_dir() && writable(dir))
        .or_else(|| env.candidates().into_iter().find(|dir| creatable(dir)))
        .unwrap_or_else(|| env.system_dir.clone());
    Ok(dir.join(name))
}

/// Finds (creating when needed and allowed) the state directory and
/// returns the database path for the configuration at `config`. `owner`
/// (uid, gid) is given a directory simgate creates, for a daemon that
/// drops its privileges after this.
pub(crate) fn prepare_database(
    config: &Path,
    env: &StateEnv,
    owner: Option<(u32, u32)>,
) -> Result<PathBuf, InstanceError> {
    let name = database_name(&config_identity(config)?);
    let candidates = env.candidates();
    let mut first_error = None;
    for dir in &candidates {
        match ensure_dir(dir, owner) {
            Ok(()) => return Ok(dir.join(&name)),
            Err(error) => {
                first_error.get_or_insert((dir.clone(), error));
            }
        }
    }
    let (path, source) = first_error.expect("at least one candidate");
    let fix = if env.state_directory.is_some() {
        "create it writable for simgate's user, or correct STATE_DIRECTORY".to_owned()
    } else {
        format!(
            "create it for simgate's user (`install -d -m 0700 -o USER {}`), run simgate under \
             systemd with StateDirectory=simgate, or set [database] path",
            path.display()
        )
    };
    Err(InstanceError::StateDir { path, source, fix })
}

/// Makes sure the parent directory of an explicitly configured database
/// exists (created with mode 0700 when missing).
pub(crate) fn prepare_parent(
    database: &Path,
    owner: Option<(u32, u32)>,
) -> Result<(), InstanceError> {
    match database.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => ensure_dir(dir, owner).map_err(|source| InstanceError::StateDir {
            path: dir.to_owned(),
            source,
            fix: "create it, or correct [database] path".to_owned(),
        }),
        None => Ok(()),
    }
}

fn ensure_dir(dir: &Path, owner: Option<(u32, u32)>) -> io::Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if owner.is_none() && !writable(dir) {
                return Err(io::Error::from(io::ErrorKind::PermissionDenied));
            }
            Ok(())
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists and is not a directory",
        )),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
            }
            Ok(())
        }
        Err(error) => Err(error),
    }
}

fn writable(dir: &Path) -> bool {
    nix::unistd::access(
        dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .is_ok()
}

fn creatable(dir: &Path) -> bool {
    let mut parent = dir.parent();
    while let Some(p) = parent {
        if p.exists() {
            return writable(p);
        }
        parent = p.parent();
    }
    false
}

/// A held lock; released when its last clone is dropped (or when the
/// process ends). A clone shares the lock: the daemon keeps one while its
/// work stops and starts again (a full disk), and the work holds another.
#[derive(Debug, Clone)]
pub(crate) struct Lock {
    held: std::sync::Arc<Flock<File>>,
}

impl Lock {
    /// The inode the lock is on (a folder replaced under its path is
    /// another inode, and not locked).
    pub(crate) fn inode(&self) -> Option<Inode> {
        Inode::of_file(&self.held).ok()
    }
}

/// Takes the lock of the database at `database` (through `<db>.lock`),
/// writing this process's id into it.
pub(crate) fn lock_database(database: &Path) -> Result<Lock, InstanceError> {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    lock_through_file(
        &PathBuf::from(name),
        || format!("the state {}", database.display()),
        "",
    )
}

/// Takes the lock of the file at `path` (made, mode 0600, when missing),
/// naming `what` when another process has it, and writes `note` and this
/// process's id into it: for people reading it; the lock is what simgate
/// believes.
fn lock_through_file(
    path: &Path,
    what: impl FnOnce() -> String,
    note: &str,
) -> Result<Lock, InstanceError> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|source| InstanceError::Lock {
            path: path.to_owned(),
            source,
        })?;
    let mut lock = take(file, path, what)?;
    let _ = lock.set_len(0);
    let _ = write!(*lock, "{note}");
    let _ = writeln!(*lock, "{}", std::process::id());
    Ok(Lock {
        held: std::sync::Arc::new(lock),
    })
}

/// Takes the lock of a modem with no device node to lock (a web stick, a
/// phone, a ModemManager modem), named by `address`: through a file in
/// `state_dir` named after the address, which every daemon whose database
/// is in that directory (all of the package's instances) takes too.
pub(crate) fn lock_device_address(state_dir: &Path, address: &str) -> Result<Lock, InstanceError> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(address.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let path = state_dir.join(format!("device-{hex}.lock"));
    lock_through_file(
        &path,
        || format!("the modem {address}"),
        &format!("{address}\n"),
    )
}

/// Takes the lock of a spool directory (the directory itself).
pub(crate) fn lock_dir(dir: &Path, what: &str) -> Result<Lock, InstanceError> {
    let file = File::open(dir).map_err(|source| InstanceError::Lock {
        path: dir.to_owned(),
        source,
    })?;
    let lock = take(file, dir, || format!("the {what} {}", dir.display()))?;
    Ok(Lock {
        held: std::sync::Arc::new(lock),
    })
}

/// Takes an exclusive lock on an open file (a device node, say), naming
/// `what` when another process has it.
pub(crate) fn lock_file(file: File, path: &Path, what: &str) -> Result<Lock, InstanceError> {
    let lock = take(file, path, || format!("{what} {}", path.display()))?;
    Ok(Lock {
        held: std::sync::Arc::new(lock),
    })
}

fn take(
    file: File,
    path: &Path,
    what: impl FnOnce() -> String,
) -> Result<Flock<File>, InstanceError> {
    let inode = Inode::of_file(&file).ok();
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(lock),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(InstanceError::Held {
            what: what(),
            holder: describe_holders(inode.map(procfs::flock_holders).unwrap_or_default()),
        }),
        Err((_, errno)) => Err(InstanceError::Lock {
            path: path.to_owned(),
            source: io::Error::from(errno),
        }),
    }
}

/// "simgate (pid 1234)", or a general phrase when `/proc` did not say.
pub(crate) fn describe_holders(holders: Vec<Process>) -> String {
    if holders.is_empty() {
        return "another process".to_owned();
    }
    let names: Vec<String> = holders.iter().map(ToString::to_string).collect();
    names.join(", ")
}

/// The configuration a command reads when none is named (`-c`), of
/// `candidates` in order of preference (simgate's TOML and gammu's file,
/// one order or the other): the one a running daemon serves (its outbox
/// locked), so that `send`, `inject` and `status` reach the daemon that
/// runs, whichever file it was started on (a machine moved from
/// gammu-smsd runs simgate on /etc/gammu-smsdrc, and the package's TOML
/// names another outbox); with none running, the first that loads and
/// names a modem (the gammu file Debian's gammu-smsd package ships names
/// none, and the package's TOML none until the user sets one), else the
/// first that loads; with none that loads, the first, for its error.
pub(crate) fn config_in_use(candidates: &[&Path]) -> PathBuf {
    let loaded: Vec<(&Path, crate::config::Loaded)> = candidates
        .iter()
        .filter_map(|path| Some((*path, crate::config::load_without_secrets(path).ok()?)))
        .collect();
    let served = loaded
        .iter()
        .find(|(_, loaded)| outbox_locked(&loaded.config.spool.outbox));
    served
        .or(loaded.iter().find(|(_, loaded)| loaded.names_a_modem()))
        .or(loaded.first())
        .map(|(path, _)| *path)
        .or(candidates.first().copied())
        .unwrap_or(Path::new(crate::config::DEFAULT_PATH))
        .to_owned()
}

/// Whether a process holds `outbox`'s lock (a daemon serves it); a folder
/// that cannot be opened is not.
fn outbox_locked(outbox: &Path) -> bool {
    use nix::fcntl::{Flock, FlockArg};
    let Ok(folder) = File::open(outbox) else {
        return false;
    };
    matches!(
        Flock::lock(folder, FlockArg::LockSharedNonblock),
        Err((_, nix::errno::Errno::EWOULDBLOCK))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `-c` left out, a command reads the configuration whose outbox
    /// a daemon serves, else the first that loads, else the first.
    #[test]
    fn the_configuration_in_use_is_the_one_a_daemon_serves() {
        let dir = std::env::temp_dir().join(format!("simgate-in-use-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = |name: &str| {
            let outbox = dir.join(name).join("outbox");
            std::fs::create_dir_all(&outbox).unwrap();
            let path = dir.join(format!("{name}.toml"));
            std::fs::write(
                &path,
                format!(
                    "[modem]\ndevice = \"/dev/ttyUSB9\"\n[spool]\noutbox = \"{}\"\n",
                    outbox.display()
                ),
            )
            .unwrap();
            (path, outbox)
        };
        let (first, _) = config("first");
        let (second, second_outbox) = config("second");
        let missing = dir.join("missing.toml");
        assert_eq!(config_in_use(&[&first, &second]), first);
        assert_eq!(config_in_use(&[&missing, &second]), second);
        assert_eq!(config_in_use(&[&missing]), missing);
        // A file that names no modem (Debian's gammu-smsdrc, `port =
        // /dev/null`) loads for queueing, but is passed over for one that
        // names a modem; taken when it is all there is.
        let placeholder = dir.join("placeholder.rc");
        std::fs::write(
            &placeholder,
            format!(
                "[gammu]\nport = /dev/null\nconnection = at\n[smsd]\nservice = files\n\
                 outboxpath = {}/\n",
                dir.join("first").join("outbox").display()
            ),
        )
        .unwrap();
        assert_eq!(config_in_use(&[&placeholder, &second]), second);
        assert_eq!(config_in_use(&[&placeholder, &missing]), placeholder);
        let _daemon = lock_dir(&second_outbox, "outbox").unwrap();
        assert_eq!(config_in_use(&[&first, &second]), second);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn temp(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("simgate-instance-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn each_configuration_has_its_own_database_name() {
        let a = database_name(Path::new("/etc/gammu-smsdrc"));
        let b = database_name(Path::new("/etc/modem2/gammu-smsdrc"));
        let c = database_name(Path::new("/etc/simgate/simgate.toml"));
        assert!(a.starts_with("gammu-smsdrc-") && a.ends_with(".db"), "{a}");
        assert!(c.starts_with("simgate-"), "{c}");
        assert_ne!(a, b, "same file name in two folders");
        assert_eq!(a, database_name(Path::new("/etc/gammu-smsdrc")), "stable");
        assert_eq!(a.len(), "gammu-smsdrc-".len() + 8 + 3);
        let odd = database_name(Path::new("/etc/my config;rm.toml"));
        assert!(odd.starts_with("my_config_rm-"), "{odd}");
    }

    #[test]
    fn the_state_directory_comes_from_systemd_then_the_system_then_the_user() {
        let env = StateEnv {
            state_directory: Some("/var/lib/simgate:/var/lib/other".into()),
            xdg_state_home: Some("/home/u/.state".into()),
            home: Some("/home/u".into()),
            system_dir: "/var/lib/simgate".into(),
        };
        assert_eq!(env.candidates(), [PathBuf::from("/var/lib/simgate")]);
        let env = StateEnv {
            state_directory: None,
            ..env
        };
        assert_eq!(
            env.candidates(),
            [
                PathBuf::from("/var/lib/simgate"),
                PathBuf::from("/home/u/.state/simgate")
            ]
        );
        let env = StateEnv {
            xdg_state_home: None,
            ..env
        };
        assert_eq!(
            env.candidates()[1],
            PathBuf::from("/home/u/.local/state/simgate")
        );
    }

    #[test]
    fn a_missing_state_directory_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = temp("create");
        let config = root.join("gammu-smsdrc");
        fs::write(&config, "[gammu]\n").unwrap();
        let env = StateEnv {
            state_directory: Some(root.join("state/deep").into_os_string()),
            ..StateEnv::default()
        };
        let planned = planned_database(&config, &env).unwrap();
        assert!(!root.join("state").exists(), "planning creates nothing");
        let db = prepare_database(&config, &env, None).unwrap();
        assert_eq!(db, planned);
        assert_eq!(db.parent().unwrap(), root.join("state/deep"));
        let mode = fs::metadata(root.join("state/deep"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        // A path that cannot be a directory: one error naming it and a fix.
        fs::write(root.join("file"), "").unwrap();
        let env = StateEnv {
            state_directory: Some(root.join("file/x").into_os_string()),
            ..StateEnv::default()
        };
        let error = prepare_database(&config, &env, None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&root.join("file/x").display().to_string()),
            "{error}"
        );
        assert!(error.contains("STATE_DIRECTORY"), "{error}");
        assert!(!error.contains('\n'));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_second_lock_is_refused_naming_the_holder() {
        let root = temp("locks");
        let db = root.join("state.db");
        let first = lock_database(&db).unwrap();
        let error = lock_database(&db).unwrap_err();
        match &error {
            InstanceError::Held { what, holder } => {
                assert!(what.contains("state.db"), "{what}");
                assert!(
                    holder.contains(&format!("pid {}", std::process::id())),
                    "{holder}"
                );
            }
            other => panic!("{other:?}"),
        }
        drop(first);
        let _again = lock_database(&db).unwrap();
        let outbox = root.join("outbox");
        fs::create_dir(&outbox).unwrap();
        let held = lock_dir(&outbox, "outbox").unwrap();
        assert!(matches!(
            lock_dir(&outbox, "outbox"),
            Err(InstanceError::Held { .. })
        ));
        drop(held);
        lock_dir(&outbox, "outbox").unwrap();
        fs::remove_dir_all(&root).unwrap();
    }
}
