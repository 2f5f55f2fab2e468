//! The decisions of `migrate-from-gammu`, from the facts a survey gathered
//! ([`Survey`]): what is fine, what to warn about, what stops `--apply`;
//! which user and groups simgate runs as; the unit drop-in; the steps.
//! Pure: no file system, no clock.

use crate::config::{Severity, SourceFormat};
use crate::procfs::Process;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The unit gammu-smsd's Debian package installs.
pub(crate) const GAMMU_UNIT: &str = "gammu-smsd.service";
/// The unit simgate's package installs.
pub(crate) const SIMGATE_UNIT: &str = "simgate.service";
/// The drop-in `--apply` writes, inside `simgate.service.d/`.
pub(crate) const DROPIN_NAME: &str = "50-migrate-from-gammu.conf";
/// What `--apply` changed, for `--undo`, beside the drop-in.
pub(crate) const RECORD_NAME: &str = "migrate-from-gammu.undo";
/// The tty drivers simgate.service already allows (`DeviceAllow=`).
pub(crate) const ALLOWED_DRIVERS: [&str; 4] = ["ttyUSB", "ttyACM", "ttyAMA", "ttyS"];

/// A file as `stat(2)` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits (with setgid and sticky, without the type).
    pub mode: u32,
    /// A directory.
    pub is_dir: bool,
}

/// The account simgate would run as, as the system resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// User name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Every group the user is in (primary included), id and name, as the
    /// group database says (systemd gives a `User=` these).
    pub groups: Vec<(u32, String)>,
}

/// A spool folder the configuration uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpoolDir {
    /// `inbox`, `outbox`, `sent` or `error`.
    pub role: &'static str,
    /// The folder.
    pub path: PathBuf,
    /// What `stat` said, or why it failed.
    pub stat: Result<Stat, String>,
}

/// A file waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Queued {
    /// Its name.
    pub name: String,
    /// Its owner and mode.
    pub stat: Stat,
}

/// The modem's device node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Device {
    /// As configured.
    pub path: PathBuf,
    /// Where the link leads, when it is one.
    pub resolved: Option<PathBuf>,
    /// Owner and mode of the node; `None` while it is absent (unplugged).
    pub stat: Option<Stat>,
    /// The driver names of its major number (`/proc/devices`), e.g.
    /// `ttyUSB`.
    pub drivers: Vec<String>,
    /// The processes that have it open.
    pub holders: Vec<Process>,
}

/// A hook of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hook {
    /// gammu's key, e.g. `RunOnReceive`.
    pub key: &'static str,
    /// The command line.
    pub command: String,
    /// The program it starts, when that can be told from the line.
    pub program: Option<PathBuf>,
    /// Owner and mode of the program, when it exists.
    pub stat: Option<Stat>,
}

/// The systemd side, under `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Units {
    /// Where `/etc/systemd/system` and friends are looked up (`--root`).
    pub root: PathBuf,
    /// systemd runs this machine and `root` is `/`: units can be stopped
    /// and started. Otherwise only files change.
    pub online: bool,
    /// gammu-smsd's unit file, when installed.
    pub gammu_unit: Option<PathBuf>,
    /// The user gammu-smsd's unit runs it as (`root` by default, as
    /// Debian's does).
    pub gammu_user: String,
    /// gammu-smsd's `UMask=`, when its unit sets one.
    pub gammu_umask: Option<String>,
    /// gammu-smsd is enabled (links exist).
    pub gammu_enabled: bool,
    /// gammu-smsd.service is active (only known when `online`).
    pub gammu_active: bool,
    /// simgate's unit file, when installed.
    pub simgate_unit: Option<PathBuf>,
    /// Where the drop-in goes.
    pub dropin: PathBuf,
    /// A file is already there.
    pub dropin_exists: bool,
    /// Where the record of `--apply` goes.
    pub record: PathBuf,
    /// A record is already there (migrated before, not undone).
    pub record_exists: bool,
}

/// Everything `migrate-from-gammu` looks at, gathered once.
#[derive(Debug, Clone)]
pub(crate) struct Survey {
    /// The configuration file, absolute.
    pub config_path: PathBuf,
    /// The configuration as simgate reads it, or why it cannot.
    pub config: Result<crate::config::Loaded, String>,
    /// The configuration file's owner and mode.
    pub config_stat: Option<Stat>,
    /// The spool folders in use.
    pub dirs: Vec<SpoolDir>,
    /// `OUT*` files waiting in the outbox.
    pub queued: Vec<Queued>,
    /// How many files the inbox holds.
    pub inbox_files: usize,
    /// The log file (`LogFile` a path), with its own and its folder's stat.
    pub log_file: Option<(PathBuf, Option<Stat>, Option<Stat>)>,
    /// The modem.
    pub device: Option<Device>,
    /// The configured hooks.
    pub hooks: Vec<Hook>,
    /// gammu-smsd processes running on this configuration.
    pub gammu_running: Vec<Process>,
    /// A running ModemManager.
    pub modem_manager: Option<Process>,
    /// systemd.
    pub units: Units,
    /// The account simgate would run as, or why there is none.
    pub account: Result<Account, String>,
    /// Whether `--user` chose it (otherwise: the spool's owner).
    pub account_chosen: bool,
    /// Group names by id, for every group id seen.
    pub group_names: Vec<(u32, String)>,
    /// User names by id, for every owner seen.
    pub user_names: Vec<(u32, String)>,
    /// The simgate binary the unit should start.
    pub simgate: PathBuf,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// Fine.
    Ok,
    /// Worth knowing.
    Note,
    /// Probably needs attention, but simgate can run.
    Warning,
    /// Stops `--apply`.
    Problem,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Note => "note",
            Self::Warning => "warning",
            Self::Problem => "PROBLEM",
        }
    }
}

/// One line of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// How much it matters.
    pub level: Level,
    /// What it is about and what was found.
    pub text: String,
}

/// One step of the switch, as `--apply` takes it and the report prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// `systemctl stop UNIT`.
    Stop(&'static str),
    /// `systemctl disable UNIT`.
    Disable(&'static str),
    /// Write the drop-in.
    WriteDropin,
    /// `systemctl daemon-reload`.
    DaemonReload,
    /// `systemctl enable UNIT`.
    Enable(&'static str),
    /// `systemctl restart UNIT`.
    Restart(&'static str),
}

/// What `migrate-from-gammu` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The check, in order.
    pub findings: Vec<Finding>,
    /// The drop-in's text.
    pub dropin: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// `ExecStart=` of the drop-in: simgate on gammu's configuration.
    pub exec_start: Vec<String>,
    /// `User=`, `Group=` and `SupplementaryGroups=` of the drop-in.
    pub user: String,
    /// The primary group.
    pub group: String,
    /// The groups added with `SupplementaryGroups=`.
    pub supplementary: Vec<String>,
    /// The umask gammu-smsd ran with, kept.
    pub umask: String,
    /// Whether the configuration and the account are known, so the steps
    /// mean something.
    pub complete: bool,
}

impl Plan {
    /// The findings that stop `--apply`.
    pub(crate) fn problems(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Problem)
            .count()
    }
}

/// Whether `stat` grants `want` (bits of `rwx` = 4, 2, 1) to `uid` with
/// `gids`, as the kernel checks it (owner, else group, else others; root
/// passes, except that executing needs an `x` bit somewhere).
pub(crate) fn allows(stat: &Stat, uid: u32, gids: &[u32], want: u32) -> bool {
    if uid == 0 {
        return want & 1 == 0 || stat.is_dir || stat.mode & 0o111 != 0;
    }
    let bits = if stat.uid == uid {
        (stat.mode >> 6) & 7
    } else if gids.contains(&stat.gid) {
        (stat.mode >> 3) & 7
    } else {
        stat.mode & 7
    };
    bits & want == want
}

/// Quotes one word for a unit file's command line: `%` and `$` are
/// specifiers and variables there, blanks and quotes need double quotes.
pub(crate) fn unit_word(word: &str) -> String {
    let escaped = word.replace('%', "%%").replace('$', "$$");
    if escaped.is_empty()
        || escaped
            .chars()
            .any(|c| c.is_whitespace() || "\"'\\;".contains(c))
    {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

/// Quotes one word for a POSIX shell, for the commands the report prints.
pub(crate) fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:@,".contains(&b))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The value of `key` in `[section]` of a unit file's text: the last
/// assignment wins, an empty one resets; comments and other sections are
/// skipped.
pub(crate) fn unit_values(text: &str, section: &str, key: &str) -> Vec<String> {
    let mut current = String::new();
    let mut values = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_owned();
            continue;
        }
        if current != section {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == key {
                let v = v.trim();
                if v.is_empty() {
                    values.clear();
                } else {
                    values.push(v.to_owned());
                }
            }
        }
    }
    values
}

/// The user a gammu-smsd unit runs the daemon as: `User=`, else a
/// `--user`/`-U` in `ExecStart=`, else root.
pub(crate) fn gammu_unit_user(text: &str) -> String {
    if let Some(user) = unit_values(text, "Service", "User").pop() {
        return user;
    }
    for exec in unit_values(text, "Service", "ExecStart") {
        let words: Vec<&str> = exec.split_whitespace().collect();
        for (i, word) in words.iter().enumerate() {
            if let Some(user) = word.strip_prefix("--user=") {
                if !user.is_empty() {
                    return user.to_owned();
                }
            }
            if (*word == "--user" || *word == "-U") && i + 1 < words.len() {
                return words[i + 1].to_owned();
            }
        }
    }
    "root".to_owned()
}

/// The names of the character-device drivers with `major`, from the text
/// of `/proc/devices` (one major can have several: 4 is `tty` and `ttyS`).
/// systemd's `DeviceAllow=char-NAME` allows the whole major of `NAME`.
pub(crate) fn drivers_of(proc_devices: &str, major: u64) -> Vec<String> {
    let mut in_char = false;
    let mut names = Vec::new();
    for line in proc_devices.lines() {
        let line = line.trim();
        if line.ends_with(':') {
            in_char = line == "Character devices:";
            continue;
        }
        if !in_char {
            continue;
        }
        let mut parts = line.split_whitespace();
        if let (Some(number), Some(name)) = (parts.next(), parts.next()) {
            if number.parse::<u64>().ok() == Some(major) {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// The `DeviceAllow=char-NAME` a device of these drivers needs beyond
/// simgate.service's own, if any.
pub(crate) fn device_allow(drivers: &[String]) -> Option<String> {
    if drivers
        .iter()
        .any(|d| ALLOWED_DRIVERS.contains(&d.as_str()))
    {
        return None;
    }
    drivers.iter().find(|d| !d.contains('/')).cloned()
}

/// The program a hook's command line starts: its first word, when that is
/// a path or a plain name (looked up in `path_dirs` by the caller); `None`
/// for shell syntax (`cd x && y`, `VAR=1 cmd`, a subshell).
pub(crate) fn hook_program(command: &str) -> Option<String> {
    let first = command.split_whitespace().next()?;
    let shell_syntax = first.contains('=')
        || first.starts_with('(')
        || first.starts_with('{')
        || matches!(
            first,
            "cd" | "exec" | "if" | "for" | "while" | "case" | "." | "source" | "export" | "!"
        );
    (!shell_syntax).then(|| first.trim_matches(|c| c == '"' || c == '\'').to_owned())
}

fn name_of(names: &[(u32, String)], id: u32) -> String {
    names
        .iter()
        .find(|(i, _)| *i == id)
        .map_or_else(|| id.to_string(), |(_, n)| n.clone())
}

fn describe(survey: &Survey, stat: &Stat) -> String {
    format!(
        "{}:{} {:04o}",
        name_of(&survey.user_names, stat.uid),
        name_of(&survey.group_names, stat.gid),
        stat.mode & 0o7777
    )
}

/// What simgate must be able to do, on what, for the access checks.
struct Need<'a> {
    what: String,
    stat: &'a Stat,
    /// `rwx` bits: 4, 2, 1.
    want: u32,
}

/// The account as the checks use it: who, and the groups it will have.
struct Who {
    user: String,
    group: String,
    uid: u32,
    gids: Vec<u32>,
    /// Groups added for access (`SupplementaryGroups=`).
    added: BTreeSet<u32>,
}

/// The check in progress: the survey and what was found so far.
struct Check<'a> {
    survey: &'a Survey,
    findings: Vec<Finding>,
}

impl<'a> Check<'a> {
    fn push(&mut self, level: Level, text: String) {
        self.findings.push(Finding { level, text });
    }

    fn describe(&self, stat: &Stat) -> String {
        describe(self.survey, stat)
    }

    fn configuration(&mut self) {
        let survey = self.survey;
        let path = survey.config_path.display();
        match &survey.config {
            Ok(loaded) if loaded.source == SourceFormat::Toml => self.push(
                Level::Problem,
                format!("{path} is simgate's own TOML, not a gammu-smsdrc: nothing to migrate"),
            ),
            Ok(loaded) => {
                let notes = loaded.notices.len();
                let differs = if notes > 0 {
                    format!(
                        "; {notes} place(s) where simgate differs (`simgate check-config -c {}` \
                         lists them)",
                        shell_word(&survey.config_path.to_string_lossy())
                    )
                } else {
                    String::new()
                };
                self.push(
                    Level::Ok,
                    format!(
                        "configuration {path}: a gammu-smsdrc with the files backend, modem \
                         {}{differs}",
                        loaded.config.modem.device.display()
                    ),
                );
                for notice in &loaded.notices {
                    if notice.severity == Severity::Warning {
                        self.push(
                            Level::Warning,
                            format!("{}: {}", notice.key, notice.message),
                        );
                    }
                }
            }
            Err(reason) => self.push(Level::Problem, format!("configuration {path}: {reason}")),
        }
    }

    fn account(&mut self) -> Option<Who> {
        let survey = self.survey;
        let account = match &survey.account {
            Ok(account) => account,
            Err(reason) => {
                self.push(
                    Level::Problem,
                    format!("no user to run simgate as: {reason}"),
                );
                return None;
            }
        };
        let how = if survey.account_chosen {
            "as asked (--user)"
        } else {
            "the owner of the spool"
        };
        let group = name_of(&account.groups, account.gid);
        let others: Vec<&str> = account
            .groups
            .iter()
            .filter(|(id, _)| *id != account.gid)
            .map(|(_, n)| n.as_str())
            .collect();
        let also = if others.is_empty() {
            String::new()
        } else {
            format!(", also in {}", others.join(", "))
        };
        let name = &account.name;
        if account.uid == 0 {
            self.push(
                Level::Warning,
                format!(
                    "simgate runs as {name} ({how}){also}; root, because the spool belongs to \
                     root: better `chown -R gammu:gammu` the spool folders (as Debian's \
                     gammu-smsd has them) and run this again"
                ),
            );
        } else {
            self.push(
                Level::Ok,
                format!("simgate runs as {name} ({how}), group {group}{also}"),
            );
        }
        let units = &survey.units;
        if units.gammu_unit.is_some() && units.gammu_user != *name {
            self.push(
                Level::Note,
                format!(
                    "gammu-smsd ran as {}; simgate runs as {name}: what it writes belongs to \
                     {name}, and hooks run as {name}",
                    units.gammu_user
                ),
            );
        }
        Some(Who {
            user: name.clone(),
            group,
            uid: account.uid,
            gids: account.groups.iter().map(|(id, _)| *id).collect(),
            added: BTreeSet::new(),
        })
    }

    /// Everything simgate must reach, checked against the account's
    /// groups; a group that would grant the access is added.
    fn access(&mut self, who: &mut Who) {
        let survey = self.survey;
        let mut needs: Vec<Need<'_>> = Vec::new();
        for dir in &survey.dirs {
            let place = format!("{} {}", dir.role, dir.path.display());
            match &dir.stat {
                Ok(stat) if stat.is_dir => needs.push(Need {
                    what: place,
                    stat,
                    want: 7,
                }),
                Ok(_) => self.push(Level::Problem, format!("{place}: not a folder")),
                Err(reason) => self.push(
                    Level::Problem,
                    format!(
                        "{place}: {reason} (gammu-smsd refuses to start without it, and so does \
                         simgate)"
                    ),
                ),
            }
        }
        if let Some(stat) = &survey.config_stat {
            needs.push(Need {
                what: format!("configuration {}", survey.config_path.display()),
                stat,
                want: 4,
            });
        }
        if let Some(device) = &survey.device {
            if let Some(stat) = &device.stat {
                needs.push(Need {
                    what: format!("modem {}", device.path.display()),
                    stat,
                    want: 6,
                });
            }
        }
        if let Some((path, file, dir)) = &survey.log_file {
            match (file, dir) {
                (Some(stat), _) => needs.push(Need {
                    what: format!("log file {}", path.display()),
                    stat,
                    want: 2,
                }),
                (None, Some(stat)) => needs.push(Need {
                    what: format!("the folder of the log file {}", path.display()),
                    stat,
                    want: 3,
                }),
                (None, None) => self.push(
                    Level::Problem,
                    format!("log file {}: its folder does not exist", path.display()),
                ),
            }
        }
        for need in &needs {
            if allows(need.stat, who.uid, &who.gids, need.want) {
                continue;
            }
            let with_group = [who.gids.as_slice(), &[need.stat.gid]].concat();
            if allows(need.stat, who.uid, &with_group, need.want) {
                who.added.insert(need.stat.gid);
                who.gids.push(need.stat.gid);
                continue;
            }
            let access = match need.want {
                7 => "read, write and search",
                6 => "read and write",
                4 => "read",
                _ => "write",
            };
            let text = format!(
                "{} ({}): {} could not {access} it",
                need.what,
                self.describe(need.stat),
                who.user
            );
            self.push(Level::Problem, text);
        }
        // A modem that is unplugged now is most likely root:dialout.
        if survey.device.as_ref().is_some_and(|d| d.stat.is_none()) {
            let dialout = survey
                .group_names
                .iter()
                .find(|(_, n)| n == "dialout")
                .map(|(id, _)| *id);
            if let Some(id) = dialout.filter(|id| !who.gids.contains(id)) {
                who.added.insert(id);
                who.gids.push(id);
            }
        }
    }

    /// The spool, the queue and the inbox.
    fn spool(&mut self, who: Option<&Who>) {
        let survey = self.survey;
        for dir in &survey.dirs {
            let Ok(stat) = &dir.stat else { continue };
            if !stat.is_dir {
                continue;
            }
            let extra = match dir.role {
                "outbox" if !survey.queued.is_empty() => format!(
                    "; {} message file(s) waiting: simgate sends each once, in name order, and \
                     moves it to sent/ under its name",
                    survey.queued.len()
                ),
                "inbox" if survey.inbox_files > 0 => format!(
                    "; {} file(s) gammu-smsd wrote: left as they are",
                    survey.inbox_files
                ),
                _ => String::new(),
            };
            let text = format!(
                "{} {}: {}{extra}",
                dir.role,
                dir.path.display(),
                self.describe(stat)
            );
            self.push(Level::Ok, text);
        }
        let Some(who) = who else { return };
        let unreadable: Vec<&str> = survey
            .queued
            .iter()
            .filter(|q| !allows(&q.stat, who.uid, &who.gids, 4))
            .map(|q| q.name.as_str())
            .collect();
        if !unreadable.is_empty() {
            let shown = &unreadable[..unreadable.len().min(5)];
            let more = if unreadable.len() > shown.len() {
                ", ..."
            } else {
                ""
            };
            self.push(
                Level::Warning,
                format!(
                    "{} waiting file(s) {user} cannot read ({}{more}): they would go to error/; \
                     `chmod g+r` them or make them readable to {user}",
                    unreadable.len(),
                    shown.join(", "),
                    user = who.user
                ),
            );
        }
    }

    /// The modem and who has it; the driver to allow, if unusual.
    fn modem(&mut self) -> Option<String> {
        let survey = self.survey;
        let mut device_allow = None;
        if let Some(device) = &survey.device {
            let shown = match &device.resolved {
                Some(target) if *target != device.path => {
                    format!("{} -> {}", device.path.display(), target.display())
                }
                _ => device.path.display().to_string(),
            };
            match &device.stat {
                Some(stat) => {
                    let drivers = if device.drivers.is_empty() {
                        "?".to_owned()
                    } else {
                        device.drivers.join("/")
                    };
                    let text = format!("modem {shown}: {} ({drivers})", self.describe(stat));
                    self.push(Level::Ok, text);
                    device_allow = self::device_allow(&device.drivers);
                }
                None => self.push(
                    Level::Warning,
                    format!(
                        "modem {shown} is not there now: simgate waits for it (as gammu-smsd \
                         does)"
                    ),
                ),
            }
            for holder in &device.holders {
                if holder.command == "gammu-smsd" {
                    self.push(
                        Level::Note,
                        format!("the modem is open in {holder}, which the steps stop"),
                    );
                } else {
                    self.push(
                        Level::Warning,
                        format!(
                            "the modem is open in {holder}: simgate shares it badly with \
                             another program; stop that one first"
                        ),
                    );
                }
            }
        }
        if let Some(mm) = &survey.modem_manager {
            self.push(
                Level::Warning,
                format!(
                    "ModemManager runs ({mm}) and may probe the modem: copy \
                     /usr/share/doc/simgate/examples/77-simgate-modemmanager-ignore.rules to \
                     /etc/udev/rules.d/ with your modem's USB ids, or stop ModemManager"
                ),
            );
        }
        device_allow
    }

    fn hooks(&mut self, who: Option<&Who>) {
        let user = who.map_or("simgate's user", |w| w.user.as_str());
        for hook in &self.survey.hooks {
            let runs = |text: String| format!("hook {} = {}: {text}", hook.key, hook.command);
            let (level, text) = match (&hook.program, &hook.stat) {
                (None, _) => (
                    Level::Note,
                    format!(
                        "runs through /bin/sh as {user}, in the environment the drop-in gives it"
                    ),
                ),
                (Some(program), None) => (
                    Level::Warning,
                    format!("{} does not exist", program.display()),
                ),
                (Some(program), Some(stat)) => match who {
                    Some(who) if !allows(stat, who.uid, &who.gids, 5) => (
                        Level::Warning,
                        format!(
                            "{user} cannot run {} ({})",
                            program.display(),
                            self.describe(stat)
                        ),
                    ),
                    _ => (Level::Ok, format!("{} runs as {user}", program.display())),
                },
            };
            self.push(level, runs(text));
        }
    }

    /// gammu-smsd's unit and processes, simgate's unit, an earlier --apply.
    fn units(&mut self) {
        let survey = self.survey;
        let units = &survey.units;
        let enabled = if units.gammu_enabled {
            "enabled"
        } else {
            "not enabled"
        };
        match (&units.gammu_unit, units.online) {
            (Some(unit), true) => {
                let active = if units.gammu_active {
                    "active: the steps stop it"
                } else {
                    "not active"
                };
                self.push(
                    Level::Ok,
                    format!("{GAMMU_UNIT} ({}): {enabled}, {active}", unit.display()),
                );
            }
            (Some(unit), false) => {
                let root = if units.root != Path::new("/") {
                    ", or --root is given"
                } else {
                    ""
                };
                self.push(
                    Level::Ok,
                    format!(
                        "{GAMMU_UNIT} ({}): {enabled} (systemd does not run here{root}: nothing \
                         is stopped or started, only files change)",
                        unit.display()
                    ),
                );
            }
            (None, _) => self.push(
                Level::Note,
                format!(
                    "no {GAMMU_UNIT} under {}: nothing to disable",
                    units.root.display()
                ),
            ),
        }
        let stopped_by_the_steps = units.online && units.gammu_active;
        if !survey.gammu_running.is_empty() && !stopped_by_the_steps {
            let list: Vec<String> = survey
                .gammu_running
                .iter()
                .map(ToString::to_string)
                .collect();
            self.push(
                Level::Problem,
                format!(
                    "gammu-smsd runs on this configuration outside {GAMMU_UNIT} ({}): stop it \
                     first (SIGTERM), while its outbox is quiet",
                    list.join(", ")
                ),
            );
        }
        match &units.simgate_unit {
            Some(unit) => self.push(Level::Ok, format!("{SIMGATE_UNIT}: {}", unit.display())),
            None => self.push(
                Level::Problem,
                format!(
                    "no {SIMGATE_UNIT} under {}: install the simgate package first",
                    units.root.display()
                ),
            ),
        }
        if units.record_exists {
            self.push(
                Level::Problem,
                format!(
                    "already migrated ({} exists): `simgate migrate-from-gammu --undo` first",
                    units.record.display()
                ),
            );
        } else if units.dropin_exists {
            self.push(
                Level::Problem,
                format!(
                    "{} exists but was not written by --apply: move it away first",
                    units.dropin.display()
                ),
            );
        }
        if survey.simgate != Path::new("/usr/bin/simgate") {
            self.push(
                Level::Note,
                format!(
                    "the unit will start {} (this simgate), not /usr/bin/simgate",
                    survey.simgate.display()
                ),
            );
        }
    }
}

/// The steps for what the survey found.
fn steps(units: &Units) -> Vec<Step> {
    let mut steps = Vec::new();
    if units.gammu_unit.is_some() {
        if units.online && units.gammu_active {
            steps.push(Step::Stop(GAMMU_UNIT));
        }
        if units.gammu_enabled {
            steps.push(Step::Disable(GAMMU_UNIT));
        }
    }
    steps.push(Step::WriteDropin);
    if units.online {
        steps.push(Step::DaemonReload);
    }
    steps.push(Step::Enable(SIMGATE_UNIT));
    if units.online {
        steps.push(Step::Restart(SIMGATE_UNIT));
    }
    steps
}

/// Decides everything from the survey.
pub(crate) fn plan(survey: &Survey) -> Plan {
    let mut check = Check {
        survey,
        findings: Vec::new(),
    };
    check.configuration();
    let mut who = check.account();
    if let Some(who) = who.as_mut() {
        check.access(who);
    }
    check.spool(who.as_ref());
    let device_allow = check.modem();
    check.hooks(who.as_ref());
    check.units();

    let (user, group, supplementary) = match &who {
        Some(who) => (
            who.user.clone(),
            who.group.clone(),
            who.added
                .iter()
                .map(|id| name_of(&survey.group_names, *id))
                .collect(),
        ),
        None => (String::new(), String::new(), Vec::new()),
    };
    let umask = survey
        .units
        .gammu_umask
        .clone()
        .unwrap_or_else(|| "0022".to_owned());
    let exec_start = vec![
        survey.simgate.display().to_string(),
        "run".to_owned(),
        "--config".to_owned(),
        survey.config_path.display().to_string(),
    ];
    let mut writable: Vec<(PathBuf, bool)> = survey
        .dirs
        .iter()
        .map(|d| (d.path.clone(), false))
        .collect();
    if let Some((path, _, _)) = &survey.log_file {
        writable.push((path.clone(), true));
    }
    let hooks: Vec<&str> = survey.hooks.iter().map(|h| h.key).collect();
    let dropin = dropin_text(&DropinParts {
        exec_start: &exec_start,
        user: &user,
        group: &group,
        supplementary: &supplementary,
        umask: &umask,
        writable: &writable,
        device_allow: device_allow.as_deref(),
        hooks: &hooks,
    });
    Plan {
        findings: check.findings,
        dropin,
        steps: steps(&survey.units),
        exec_start,
        user,
        group,
        supplementary,
        umask,
        complete: matches!(&survey.config, Ok(l) if l.source == SourceFormat::Gammu)
            && survey.account.is_ok(),
    }
}

/// The inputs of the drop-in.
pub(crate) struct DropinParts<'a> {
    /// simgate on gammu's configuration.
    pub exec_start: &'a [String],
    /// `User=`.
    pub user: &'a str,
    /// `Group=`.
    pub group: &'a str,
    /// `SupplementaryGroups=`.
    pub supplementary: &'a [String],
    /// `UMask=`.
    pub umask: &'a str,
    /// Paths simgate writes, and whether each may be missing at start.
    pub writable: &'a [(PathBuf, bool)],
    /// A tty driver the unit does not allow yet.
    pub device_allow: Option<&'a str>,
    /// The hooks configured.
    pub hooks: &'a [&'static str],
}

/// The drop-in for simgate.service.
pub(crate) fn dropin_text(parts: &DropinParts<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `simgate migrate-from-gammu --apply`: simgate runs in place of\n\
         # gammu-smsd, on gammu-smsd's configuration and spool, as the spool's owner.\n\
         # `simgate migrate-from-gammu --undo` takes this file and the rest back.\n\
         [Service]\nExecStart=\nExecStart={}",
        parts
            .exec_start
            .iter()
            .map(|w| unit_word(w))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(
        out,
        "User={}\nGroup={}",
        unit_word(parts.user),
        unit_word(parts.group)
    );
    out.push_str("SupplementaryGroups=\n");
    if !parts.supplementary.is_empty() {
        let _ = writeln!(
            out,
            "SupplementaryGroups={}",
            parts
                .supplementary
                .iter()
                .map(|g| unit_word(g))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let _ = writeln!(
        out,
        "# gammu-smsd's umask: inbox files get the modes gammu gave them.\nUMask={}",
        parts.umask
    );
    out.push_str("# gammu's spool (and log file), writable under ProtectSystem=strict.\n");
    for (path, optional) in parts.writable {
        let _ = writeln!(
            out,
            "ReadWritePaths={}{}",
            if *optional { "-" } else { "" },
            unit_word(&path.display().to_string())
        );
    }
    if let Some(driver) = parts.device_allow {
        let _ = writeln!(
            out,
            "# The modem's driver, besides the tty drivers simgate.service allows.\n\
             DeviceAllow=char-{driver} rw"
        );
    }
    if !parts.hooks.is_empty() {
        let _ = writeln!(
            out,
            "# gammu-smsd ran the hooks ({}) without a sandbox. So that they keep\n\
             # working, simgate.service's sandbox is opened for them; close again what\n\
             # they do not need (`systemd-analyze security simgate.service`).\n\
             ProtectSystem=full\nProtectHome=no\nPrivateTmp=no\nPrivateNetwork=no\n\
             IPAddressDeny=\nRestrictAddressFamilies=\nNoNewPrivileges=no\n\
             RestrictSUIDSGID=no\nCapabilityBoundingSet=~\nSystemCallFilter=\n\
             MemoryDenyWriteExecute=no",
            parts.hooks.join(", ")
        );
    }
    out
}

/// The command a step runs (`systemctl --root=R ...` offline).
pub(crate) fn step_command(step: &Step, root: &Path) -> Option<Vec<String>> {
    let mut command = vec!["systemctl".to_owned()];
    if root != Path::new("/") {
        command.push(format!("--root={}", root.display()));
    }
    let (verb, unit) = match step {
        Step::Stop(unit) => ("stop", Some(*unit)),
        Step::Disable(unit) => ("disable", Some(*unit)),
        Step::DaemonReload => ("daemon-reload", None),
        Step::Enable(unit) => ("enable", Some(*unit)),
        Step::Restart(unit) => ("restart", Some(*unit)),
        Step::WriteDropin => return None,
    };
    command.push(verb.to_owned());
    command.extend(unit.map(str::to_owned));
    Some(command)
}

/// The command that runs simgate as the drop-in would, for a machine
/// without systemd (and for the record).
pub(crate) fn by_hand(plan: &Plan, state_directory: &Path) -> String {
    let mut words = vec![
        "runuser".to_owned(),
        "-u".to_owned(),
        plan.user.clone(),
        "-g".to_owned(),
        plan.group.clone(),
    ];
    for group in &plan.supplementary {
        words.push("-G".to_owned());
        words.push(group.clone());
    }
    words.push("--".to_owned());
    words.push("env".to_owned());
    words.push(format!("STATE_DIRECTORY={}", state_directory.display()));
    words.extend(plan.exec_start.iter().cloned());
    format!(
        "umask {} && {}",
        plan.umask,
        words
            .iter()
            .map(|w| shell_word(w))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// The report: the check, then the steps.
pub(crate) fn render(survey: &Survey, plan: &Plan, applying: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "simgate migrate-from-gammu {}\n",
        survey.config_path.display()
    );
    for finding in &plan.findings {
        let _ = writeln!(out, "  {:<8} {}", finding.level.label(), finding.text);
    }
    if !plan.complete {
        let _ = writeln!(
            out,
            "\nNothing was changed. Fix the problems above and run this again to see the steps."
        );
        return out;
    }
    let _ = writeln!(out, "\nSteps that put simgate in gammu-smsd's place:");
    for (n, step) in plan.steps.iter().enumerate() {
        match step_command(step, &survey.units.root) {
            Some(command) => {
                let text: Vec<String> = command.iter().map(|w| shell_word(w)).collect();
                let _ = writeln!(out, "  {}. {}", n + 1, text.join(" "));
            }
            None => {
                let _ = writeln!(out, "  {}. write {}:", n + 1, survey.units.dropin.display());
                for line in plan.dropin.lines() {
                    let _ = writeln!(out, "       | {line}");
                }
            }
        }
    }
    if !survey.units.online {
        let state = survey.units.root.join("var/lib/simgate");
        let _ = writeln!(
            out,
            "\nsystemd does not run here{}: nothing is stopped or started. To run simgate as \
             the unit would:\n  install -d -o {} -g {} -m 0750 {}\n  {}",
            if survey.units.root != Path::new("/") {
                " (or --root is given)"
            } else {
                ""
            },
            shell_word(&plan.user),
            shell_word(&plan.group),
            shell_word(&state.to_string_lossy()),
            by_hand(plan, &state)
        );
    }
    if !applying {
        let problems = plan.problems();
        let root = if survey.units.root != Path::new("/") {
            format!(
                " --root {}",
                shell_word(&survey.units.root.to_string_lossy())
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "\nNothing was changed. {}`simgate migrate-from-gammu --apply{root} {}` takes these \
             steps, and `simgate migrate-from-gammu --undo{root}` puts everything back as it was.",
            if problems > 0 {
                format!("First fix the {problems} problem(s) above; then ")
            } else {
                String::new()
            },
            shell_word(&survey.config_path.to_string_lossy())
        );
    }
    out
}

#[cfg(test)]
mod tests;
