//! The facts `migrate-from-gammu` decides on, read from the machine once:
//! the configuration, the spool folders and their owners and modes, the
//! modem's node and who has it open, the hooks' programs, running
//! gammu-smsd and ModemManager processes, the accounts, and the systemd
//! units and links under `--root`. Nothing here decides anything.

use super::plan::{
    self, Account, Device, Hook, Queued, SpoolDir, Stat, Survey, Units, DROPIN_NAME, GAMMU_UNIT,
    RECORD_NAME, SIMGATE_UNIT,
};
use super::MigrateArgs;
use crate::config::LogTarget;
use crate::procfs::{self, Inode, Process};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Where systemd looks for unit files, in its order, under a root.
const UNIT_DIRS: [&str; 5] = [
    "etc/systemd/system",
    "run/systemd/system",
    "usr/local/lib/systemd/system",
    "lib/systemd/system",
    "usr/lib/systemd/system",
];

/// The directories a hook's plain command name is looked up in (systemd's
/// default `PATH`).
const PATH_DIRS: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

fn stat_of(meta: &fs::Metadata) -> Stat {
    Stat {
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode() & 0o7777,
        is_dir: meta.is_dir(),
    }
}

fn stat(path: &Path) -> Result<Stat, String> {
    fs::metadata(path)
        .map(|m| stat_of(&m))
        .map_err(|e| e.to_string())
}

/// `path` inside `root` (`/etc/x` under `/tmp/r` is `/tmp/r/etc/x`).
pub(super) fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// The first unit file named `name` under `root`, as systemd finds it.
pub(super) fn find_unit(root: &Path, name: &str) -> Option<PathBuf> {
    UNIT_DIRS
        .iter()
        .map(|dir| under(root, dir).join(name))
        .find(|path| path.is_file())
}

/// A unit's text with its drop-ins (`NAME.d/*.conf` in the unit
/// directories), in systemd's order.
fn unit_text(root: &Path, unit: &Path, name: &str) -> String {
    let mut text = fs::read_to_string(unit).unwrap_or_default();
    let mut dropins: Vec<PathBuf> = UNIT_DIRS
        .iter()
        .filter_map(|dir| fs::read_dir(under(root, dir).join(format!("{name}.d"))).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    dropins.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    for dropin in dropins {
        text.push('\n');
        text.push_str(&fs::read_to_string(dropin).unwrap_or_default());
    }
    text
}

/// Whether a symbolic link under `root` enables or aliases `unit`: the
/// `*.wants/`/`*.requires/` links and aliases in `/etc/systemd/system`
/// (the links `systemctl enable` makes).
pub(super) fn unit_links(root: &Path, unit: &str) -> Vec<(PathBuf, PathBuf)> {
    let base = under(root, "etc/systemd/system");
    let mut found = Vec::new();
    let mut look = |dir: &Path| {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(target) = fs::read_link(&path) else {
                continue;
            };
            let named = entry.file_name().to_string_lossy() == unit;
            let points = target
                .file_name()
                .is_some_and(|n| n.to_string_lossy() == unit);
            if named || points {
                found.push((path, target));
            }
        }
    };
    look(&base);
    if let Ok(entries) = fs::read_dir(&base) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                look(&entry.path());
            }
        }
    }
    found.sort();
    found
}

/// The processes whose command name is `name`.
fn processes_named(name: &str) -> Vec<(Process, Vec<String>)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let process = Process::new(pid);
        if process.command != name {
            continue;
        }
        let args = fs::read(entry.path().join("cmdline"))
            .map(|raw| {
                raw.split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        found.push((process, args));
    }
    found.sort_by_key(|(p, _)| p.pid);
    found
}

/// The configuration a gammu-smsd command line runs on (`-c`, `--config`,
/// else gammu's default), relative to its working directory.
pub(super) fn gammu_config_of(args: &[String], cwd: Option<&Path>) -> PathBuf {
    let mut config = None;
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        if let Some(value) = word.strip_prefix("--config=") {
            config = Some(value.to_owned());
        } else if word == "-c" || word == "--config" {
            config = words.next().cloned();
        } else if let Some(value) = word.strip_prefix("-c").filter(|v| !v.is_empty()) {
            config = Some(value.to_owned());
        }
    }
    let config = PathBuf::from(config.unwrap_or_else(|| "/etc/gammu-smsdrc".to_owned()));
    match cwd {
        Some(dir) if config.is_relative() => dir.join(config),
        _ => config,
    }
}

fn account(name_or_uid: &str) -> Result<Account, String> {
    use nix::unistd::{Group, Uid, User};
    let user = match name_or_uid.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name_or_uid),
    }
    .map_err(|e| format!("cannot look up user {name_or_uid}: {e}"))?
    .ok_or_else(|| format!("no user {name_or_uid}"))?;
    let cname = std::ffi::CString::new(user.name.clone()).map_err(|e| e.to_string())?;
    let gids = nix::unistd::getgrouplist(&cname, user.gid)
        .map_err(|e| format!("cannot list the groups of {}: {e}", user.name))?;
    let mut groups = Vec::new();
    for gid in gids {
        let name = Group::from_gid(gid)
            .ok()
            .flatten()
            .map_or_else(|| gid.to_string(), |g| g.name);
        if !groups.iter().any(|(id, _)| *id == gid.as_raw()) {
            groups.push((gid.as_raw(), name));
        }
    }
    Ok(Account {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        groups,
    })
}

/// Reads everything `migrate-from-gammu` needs.
pub(super) fn survey(args: &MigrateArgs) -> Survey {
    let root = args.root.clone();
    let config_path = fs::canonicalize(&args.config).unwrap_or_else(|_| args.config.clone());
    let config = crate::config::load(&args.config).map_err(|e| e.to_string());
    let config_stat = stat(&config_path).ok();
    let mut dirs = Vec::new();
    let mut queued = Vec::new();
    let mut inbox_files = 0;
    let mut log_file = None;
    let mut device = None;
    let mut hooks = Vec::new();
    if let Ok(loaded) = &config {
        let c = &loaded.config;
        let mut add = |role: &'static str, path: &Path| {
            if !dirs.iter().any(|d: &SpoolDir| d.path == path) {
                dirs.push(SpoolDir {
                    role,
                    path: path.to_owned(),
                    stat: stat(path),
                });
            }
        };
        if c.receive.enabled {
            add("inbox", &c.spool.inbox);
        }
        if c.send.enabled {
            add("outbox", &c.spool.outbox);
            if let Some(sent) = &c.spool.sent {
                add("sent", sent);
            }
            if let Some(error) = &c.spool.error {
                add("error", error);
            }
        }
        if c.send.enabled {
            if let Ok(entries) = fs::read_dir(&c.spool.outbox) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if !name.starts_with("OUT") {
                        continue;
                    }
                    if let Ok(meta) = entry.metadata() {
                        if meta.is_file() {
                            queued.push(Queued {
                                name,
                                stat: stat_of(&meta),
                            });
                        }
                    }
                }
            }
            queued.sort_by(|a, b| a.name.cmp(&b.name));
        }
        if c.receive.enabled {
            inbox_files = fs::read_dir(&c.spool.inbox)
                .map(|e| e.flatten().filter(|e| e.path().is_file()).count())
                .unwrap_or(0);
        }
        if let LogTarget::File(path) = &c.log.target {
            let parent = path.parent().and_then(|p| stat(p).ok());
            log_file = Some((path.clone(), stat(path).ok(), parent));
        }
        let path = c.modem.device.clone();
        let meta = fs::metadata(&path).ok();
        let resolved = fs::canonicalize(&path).ok();
        let drivers = meta
            .as_ref()
            .filter(|m| m.file_type().is_char_device())
            .map(|m| {
                let major = nix::sys::stat::major(m.rdev());
                fs::read_to_string("/proc/devices")
                    .map(|text| plan::drivers_of(&text, major))
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let holders = match Inode::of(&path) {
            Ok(inode) => {
                let scan = procfs::open_holders(&BTreeSet::from([inode]), procfs::Access::Any);
                scan.holders
                    .get(&inode)
                    .map(|pids| pids.iter().map(|&pid| Process::new(pid)).collect())
                    .unwrap_or_default()
            }
            Err(_) => Vec::new(),
        };
        device = Some(Device {
            path,
            resolved,
            stat: meta.as_ref().map(stat_of),
            drivers,
            holders,
        });
        for (key, command) in [
            ("RunOnReceive", &c.hooks.run_on_receive),
            ("RunOnSent", &c.hooks.run_on_sent),
            ("RunOnFailure", &c.hooks.run_on_failure),
            ("RunOnIncomingCall", &c.hooks.run_on_incoming_call),
        ] {
            let Some(command) = command else { continue };
            let program = plan::hook_program(command).map(|word| {
                if word.contains('/') {
                    PathBuf::from(word)
                } else {
                    PATH_DIRS
                        .iter()
                        .map(|dir| Path::new(dir).join(&word))
                        .find(|p| p.exists())
                        .unwrap_or_else(|| PathBuf::from(word))
                }
            });
            let stat = program.as_deref().and_then(|p| stat(p).ok());
            hooks.push(Hook {
                key,
                command: command.clone(),
                program,
                stat,
            });
        }
    }

    let gammu_running: Vec<Process> = processes_named("gammu-smsd")
        .into_iter()
        .filter(|(process, args)| {
            let cwd = fs::read_link(format!("/proc/{}/cwd", process.pid)).ok();
            let theirs = gammu_config_of(args, cwd.as_deref());
            fs::canonicalize(&theirs).unwrap_or(theirs) == config_path
        })
        .map(|(p, _)| p)
        .collect();
    let modem_manager = processes_named("ModemManager")
        .into_iter()
        .map(|(p, _)| p)
        .next();

    let online = root == Path::new("/") && Path::new("/run/systemd/system").is_dir();
    let gammu_unit = find_unit(&root, GAMMU_UNIT);
    let gammu_text = gammu_unit
        .as_deref()
        .map(|unit| unit_text(&root, unit, GAMMU_UNIT))
        .unwrap_or_default();
    let dropin_dir = under(&root, "etc/systemd/system").join(format!("{SIMGATE_UNIT}.d"));
    let dropin = dropin_dir.join(DROPIN_NAME);
    let record = dropin_dir.join(RECORD_NAME);
    let units = Units {
        online,
        gammu_user: plan::gammu_unit_user(&gammu_text),
        gammu_umask: plan::unit_values(&gammu_text, "Service", "UMask").pop(),
        gammu_enabled: !unit_links(&root, GAMMU_UNIT).is_empty(),
        gammu_active: online && super::apply::is_active(GAMMU_UNIT),
        gammu_unit,
        simgate_unit: find_unit(&root, SIMGATE_UNIT),
        dropin_exists: dropin.exists(),
        dropin,
        record_exists: record.exists(),
        record,
        root,
    };

    let outbox_owner = dirs
        .iter()
        .find(|d| d.role == "outbox")
        .or_else(|| dirs.first())
        .and_then(|d| d.stat.as_ref().ok())
        .map(|s| s.uid);
    let (account, account_chosen) = match (&args.user, outbox_owner) {
        (Some(user), _) => (account(user), true),
        (None, Some(uid)) => (account(&uid.to_string()), false),
        (None, None) => (
            Err(
                "the spool folders cannot be read to find their owner; name one with --user"
                    .to_owned(),
            ),
            false,
        ),
    };

    // Names for every id that shows up.
    let mut uids = BTreeSet::new();
    let mut gids = BTreeSet::new();
    let mut note = |s: &Stat| {
        uids.insert(s.uid);
        gids.insert(s.gid);
    };
    dirs.iter()
        .filter_map(|d| d.stat.as_ref().ok())
        .for_each(&mut note);
    queued.iter().for_each(|q| note(&q.stat));
    config_stat.iter().for_each(&mut note);
    device
        .iter()
        .filter_map(|d| d.stat.as_ref())
        .for_each(&mut note);
    hooks
        .iter()
        .filter_map(|h| h.stat.as_ref())
        .for_each(&mut note);
    if let Some((_, file, dir)) = &log_file {
        file.iter().chain(dir.iter()).for_each(&mut note);
    }
    let user_names = uids
        .into_iter()
        .map(|uid| {
            let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
                .map_or_else(|| uid.to_string(), |u| u.name);
            (uid, name)
        })
        .collect();
    let mut group_names: Vec<(u32, String)> = gids
        .into_iter()
        .map(|gid| {
            let name = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
                .ok()
                .flatten()
                .map_or_else(|| gid.to_string(), |g| g.name);
            (gid, name)
        })
        .collect();
    if let Ok(Some(dialout)) = nix::unistd::Group::from_name("dialout") {
        if !group_names
            .iter()
            .any(|(id, _)| *id == dialout.gid.as_raw())
        {
            group_names.push((dialout.gid.as_raw(), dialout.name));
        }
    }
    if let Ok(a) = &account {
        for (id, name) in &a.groups {
            if !group_names.iter().any(|(i, _)| i == id) {
                group_names.push((*id, name.clone()));
            }
        }
    }

    let simgate = std::env::current_exe()
        .and_then(fs::canonicalize)
        .unwrap_or_else(|_| PathBuf::from("/usr/bin/simgate"));
    Survey {
        config_path,
        config,
        config_stat,
        dirs,
        queued,
        inbox_files,
        log_file,
        device,
        hooks,
        gammu_running,
        modem_manager,
        units,
        account,
        account_chosen,
        group_names,
        user_names,
        simgate,
    }
}
