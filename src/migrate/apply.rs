//! `--apply` and `--undo`: the changes themselves, and the record that
//! makes them reversible.
//!
//! Before changing anything, `--apply` writes a record beside the drop-in
//! (`simgate.service.d/migrate-from-gammu.undo`, root's, mode 0600): every
//! symbolic link that enables or aliases gammu-smsd.service or
//! simgate.service (under `/etc/systemd/system`, and gammu-smsd's SysV
//! `rc?.d` links), whether a drop-in was there, and which of the two
//! services ran. `--undo` stops simgate, removes the drop-in, puts the
//! links back exactly as recorded (whatever `systemctl` did to them),
//! reloads systemd and starts again what ran before. The record lives in
//! a root-owned folder: systemd hands simgate's state folder to the
//! service's user, who must not be able to steer what root undoes.

use super::plan::{self, Plan, Step, Survey, DROPIN_NAME, GAMMU_UNIT, RECORD_NAME, SIMGATE_UNIT};
use super::survey::{under, unit_links};
use super::MigrateError;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A symbolic link, relative to the root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Link {
    /// Where the link is, relative to the root (`etc/systemd/system/...`).
    pub path: PathBuf,
    /// What it points to, as written.
    pub target: PathBuf,
}

/// What `--apply` found before it changed anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The format of this file.
    pub version: u32,
    /// The configuration simgate was pointed at.
    pub config: PathBuf,
    /// The links of both units before.
    pub links: Vec<Link>,
    /// The drop-in folder existed before.
    pub dropin_dir_existed: bool,
    /// gammu-smsd.service was active before (only known with systemd).
    pub gammu_was_active: bool,
    /// simgate.service was active before (only known with systemd).
    pub simgate_was_active: bool,
}

/// Whether `relative` (a path under the root) is one of the links the
/// record may hold: enabling or alias links of the two units, and
/// gammu-smsd's SysV start/stop links. `--undo` touches nothing else.
pub(crate) fn managed(relative: &Path, target: &Path) -> bool {
    let name = relative
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let units = [GAMMU_UNIT, SIMGATE_UNIT];
    let parent = relative.parent().unwrap_or(Path::new(""));
    let normal = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !normal {
        return false;
    }
    let systemd = Path::new("etc/systemd/system");
    let in_systemd = parent == systemd || parent.parent() == Some(systemd);
    if in_systemd && (units.contains(&name.as_str()) || units.contains(&target_name.as_str())) {
        return true;
    }
    let rc = parent
        .to_str()
        .and_then(|p| p.strip_prefix("etc/rc"))
        .and_then(|p| p.strip_suffix(".d"))
        .is_some_and(|level| matches!(level, "0" | "1" | "2" | "3" | "4" | "5" | "6" | "S"));
    let sysv = name.len() > 3
        && matches!(name.as_bytes()[0], b'S' | b'K')
        && name.as_bytes()[1..3].iter().all(u8::is_ascii_digit)
        && &name[3..] == "gammu-smsd";
    rc && sysv
}

/// The managed links as they are now.
pub(crate) fn snapshot(root: &Path) -> Vec<Link> {
    let mut links = Vec::new();
    let relative = |path: &Path| path.strip_prefix(root).map(Path::to_path_buf).ok();
    for unit in [GAMMU_UNIT, SIMGATE_UNIT] {
        for (path, target) in unit_links(root, unit) {
            if let Some(path) = relative(&path) {
                links.push(Link { path, target });
            }
        }
    }
    if let Ok(entries) = fs::read_dir(under(root, "etc")) {
        for entry in entries.flatten() {
            let dir = entry.path();
            let Ok(files) = fs::read_dir(&dir) else {
                continue;
            };
            for file in files.flatten() {
                let path = file.path();
                if let (Ok(target), Some(rel)) = (fs::read_link(&path), relative(&path)) {
                    if managed(&rel, &target) {
                        links.push(Link { path: rel, target });
                    }
                }
            }
        }
    }
    links.sort();
    links.dedup();
    links
}

/// Puts the managed links back to `wanted`: removes those not wanted (or
/// pointing elsewhere), creates the missing ones. Returns what changed.
pub(crate) fn restore_links(root: &Path, wanted: &[Link]) -> Result<Vec<String>, MigrateError> {
    let mut done = Vec::new();
    for link in wanted {
        if !managed(&link.path, &link.target) {
            return Err(MigrateError::Record {
                path: PathBuf::new(),
                reason: format!(
                    "{} is not a link --apply manages; the record was edited",
                    link.path.display()
                ),
            });
        }
    }
    for link in snapshot(root) {
        if wanted.contains(&link) {
            continue;
        }
        let path = root.join(&link.path);
        fs::remove_file(&path).map_err(|e| MigrateError::io("remove", &path, e))?;
        done.push(format!("removed {}", path.display()));
    }
    let now = snapshot(root);
    for link in wanted {
        if now.contains(link) {
            continue;
        }
        let path = root.join(&link.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| MigrateError::io("create", parent, e))?;
        }
        std::os::unix::fs::symlink(&link.target, &path)
            .map_err(|e| MigrateError::io("create the link", &path, e))?;
        done.push(format!(
            "linked {} -> {}",
            path.display(),
            link.target.display()
        ));
    }
    Ok(done)
}

/// Whether systemd says `unit` is active.
pub(crate) fn is_active(unit: &str) -> bool {
    std::process::Command::new("systemctl")
        .args(["is-active", "--quiet", unit])
        .status()
        .is_ok_and(|s| s.success())
}

fn run(command: &[String]) -> Result<(), MigrateError> {
    let shown = command.join(" ");
    let output = std::process::Command::new(&command[0])
        .args(&command[1..])
        .output()
        .map_err(|e| MigrateError::Command {
            command: shown.clone(),
            reason: e.to_string(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(MigrateError::Command {
            command: shown,
            reason: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

fn systemctl(root: &Path, args: &[&str]) -> Result<(), MigrateError> {
    let mut command = vec!["systemctl".to_owned()];
    if root != Path::new("/") {
        command.push(format!("--root={}", root.display()));
    }
    command.extend(args.iter().map(|a| (*a).to_owned()));
    run(&command)
}

/// Writes `text` to `path` through a temporary file in the same folder.
fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), MigrateError> {
    use std::os::unix::fs::OpenOptionsExt;
    let temp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temp)
        .map_err(|e| MigrateError::io("write", &temp, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| MigrateError::io("write", &temp, e))?;
    fs::rename(&temp, path).map_err(|e| MigrateError::io("write", path, e))
}

/// Takes the steps of `plan`, after recording what is there.
pub(crate) fn apply(survey: &Survey, plan: &Plan, out: &mut dyn Write) -> Result<(), MigrateError> {
    let units = &survey.units;
    let root = &units.root;
    let dropin_dir = units.dropin.parent().expect("the drop-in has a folder");
    let record = Record {
        version: 1,
        config: survey.config_path.clone(),
        links: snapshot(root),
        dropin_dir_existed: dropin_dir.is_dir(),
        gammu_was_active: units.gammu_active,
        simgate_was_active: units.online && is_active(SIMGATE_UNIT),
    };
    fs::create_dir_all(dropin_dir).map_err(|e| MigrateError::io("create", dropin_dir, e))?;
    let text = format!(
        "# What `simgate migrate-from-gammu --apply` found before it changed anything;\n\
         # `simgate migrate-from-gammu --undo` puts it back and removes this file.\n{}",
        toml::to_string(&record).map_err(|e| MigrateError::Record {
            path: units.record.clone(),
            reason: e.to_string(),
        })?
    );
    write_file(&units.record, &text, 0o600)?;
    writeln!(out, "\nApplying:").map_err(MigrateError::Output)?;
    writeln!(
        out,
        "  recorded the state before in {}",
        units.record.display()
    )
    .map_err(MigrateError::Output)?;
    for step in &plan.steps {
        let result = match step {
            Step::WriteDropin => write_file(&units.dropin, &plan.dropin, 0o644),
            Step::Stop(unit) => systemctl(root, &["stop", unit]),
            Step::Disable(unit) => systemctl(root, &["disable", unit]),
            Step::DaemonReload => systemctl(root, &["daemon-reload"]),
            Step::Enable(unit) => systemctl(root, &["enable", unit]),
            Step::Restart(unit) => systemctl(root, &["restart", unit]),
        };
        let shown = match plan::step_command(step, root) {
            Some(command) => command.join(" "),
            None => format!("wrote {}", units.dropin.display()),
        };
        match result {
            Ok(()) => writeln!(out, "  done: {shown}").map_err(MigrateError::Output)?,
            Err(error) => {
                let _ = writeln!(
                    out,
                    "  FAILED: {shown}\n\nNot everything was changed; `simgate migrate-from-gammu \
                     --undo{}` puts back what was.",
                    root_option(root)
                );
                return Err(error);
            }
        }
    }
    writeln!(
        out,
        "\nsimgate now takes gammu-smsd's place{}. To go back: simgate migrate-from-gammu \
         --undo{}",
        if units.online {
            ""
        } else {
            " once started (see above)"
        },
        root_option(root)
    )
    .map_err(MigrateError::Output)?;
    Ok(())
}

fn root_option(root: &Path) -> String {
    if root == Path::new("/") {
        String::new()
    } else {
        format!(" --root {}", plan::shell_word(&root.to_string_lossy()))
    }
}

/// Puts back what `--apply` changed under `root`.
pub(crate) fn undo(root: &Path, out: &mut dyn Write) -> Result<(), MigrateError> {
    let dropin_dir = under(root, "etc/systemd/system").join(format!("{SIMGATE_UNIT}.d"));
    let record_path = dropin_dir.join(RECORD_NAME);
    let text = match fs::read_to_string(&record_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MigrateError::NothingToUndo {
                record: record_path,
            })
        }
        Err(e) => return Err(MigrateError::io("read", &record_path, e)),
    };
    let record: Record = toml::from_str(&text).map_err(|e| MigrateError::Record {
        path: record_path.clone(),
        reason: e.to_string(),
    })?;
    let online = root == Path::new("/") && Path::new("/run/systemd/system").is_dir();
    let say =
        |out: &mut dyn Write, line: String| writeln!(out, "  {line}").map_err(MigrateError::Output);
    writeln!(
        out,
        "Undoing simgate migrate-from-gammu for {}:",
        record.config.display()
    )
    .map_err(MigrateError::Output)?;
    if online {
        systemctl(root, &["stop", SIMGATE_UNIT])?;
        say(out, format!("done: systemctl stop {SIMGATE_UNIT}"))?;
    }
    let dropin = dropin_dir.join(DROPIN_NAME);
    match fs::remove_file(&dropin) {
        Ok(()) => say(out, format!("removed {}", dropin.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(MigrateError::io("remove", &dropin, e)),
    }
    for line in restore_links(root, &record.links)? {
        say(out, line)?;
    }
    fs::remove_file(&record_path).map_err(|e| MigrateError::io("remove", &record_path, e))?;
    if !record.dropin_dir_existed {
        // Only when empty: a drop-in of the admin's stays.
        if fs::remove_dir(&dropin_dir).is_ok() {
            say(out, format!("removed {}", dropin_dir.display()))?;
        }
    }
    if online {
        systemctl(root, &["daemon-reload"])?;
        say(out, "done: systemctl daemon-reload".to_owned())?;
        if record.gammu_was_active {
            systemctl(root, &["start", GAMMU_UNIT])?;
            say(out, format!("done: systemctl start {GAMMU_UNIT}"))?;
        }
        if record.simgate_was_active {
            systemctl(root, &["start", SIMGATE_UNIT])?;
            say(out, format!("done: systemctl start {SIMGATE_UNIT}"))?;
        }
    } else if record.gammu_was_active {
        say(
            out,
            "systemd does not run here: start gammu-smsd again yourself".to_owned(),
        )?;
    }
    writeln!(out, "gammu-smsd's setup is back as it was.").map_err(MigrateError::Output)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_units_links_are_managed() {
        let ok = [
            (
                "etc/systemd/system/multi-user.target.wants/gammu-smsd.service",
                "/lib/systemd/system/gammu-smsd.service",
            ),
            (
                "etc/systemd/system/multi-user.target.wants/simgate.service",
                "/lib/systemd/system/simgate.service",
            ),
            ("etc/systemd/system/gammu-smsd.service", "/dev/null"),
            (
                "etc/systemd/system/sms.service",
                "/lib/systemd/system/simgate.service",
            ),
            ("etc/rc2.d/S01gammu-smsd", "../init.d/gammu-smsd"),
            ("etc/rcS.d/K01gammu-smsd", "../init.d/gammu-smsd"),
        ];
        for (path, target) in ok {
            assert!(managed(Path::new(path), Path::new(target)), "{path}");
        }
        let not = [
            (
                "etc/systemd/system/multi-user.target.wants/ssh.service",
                "/lib/systemd/system/ssh.service",
            ),
            ("etc/passwd", "/lib/systemd/system/simgate.service"),
            (
                "etc/systemd/system/../../passwd",
                "/lib/systemd/system/simgate.service",
            ),
            ("/etc/systemd/system/simgate.service", "/dev/null"),
            ("etc/systemd/system/a/b/simgate.service", "/dev/null"),
            ("etc/rc2.d/S01ssh", "../init.d/ssh"),
            ("etc/rc7.d/S01gammu-smsd", "../init.d/gammu-smsd"),
        ];
        for (path, target) in not {
            assert!(!managed(Path::new(path), Path::new(target)), "{path}");
        }
    }

    #[test]
    fn links_are_put_back_exactly() {
        let root = std::env::temp_dir().join(format!("simgate-links-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let wants = root.join("etc/systemd/system/multi-user.target.wants");
        fs::create_dir_all(&wants).unwrap();
        fs::create_dir_all(root.join("etc/rc2.d")).unwrap();
        std::os::unix::fs::symlink(
            "/lib/systemd/system/gammu-smsd.service",
            wants.join("gammu-smsd.service"),
        )
        .unwrap();
        std::os::unix::fs::symlink("../init.d/gammu-smsd", root.join("etc/rc2.d/S01gammu-smsd"))
            .unwrap();
        std::os::unix::fs::symlink("/lib/systemd/system/ssh.service", wants.join("ssh.service"))
            .unwrap();
        let before = snapshot(&root);
        assert_eq!(before.len(), 2, "{before:?}");
        // What `systemctl disable gammu-smsd; systemctl enable simgate` do.
        fs::remove_file(wants.join("gammu-smsd.service")).unwrap();
        fs::rename(
            root.join("etc/rc2.d/S01gammu-smsd"),
            root.join("etc/rc2.d/K01gammu-smsd"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            "/lib/systemd/system/simgate.service",
            wants.join("simgate.service"),
        )
        .unwrap();
        let changes = restore_links(&root, &before).unwrap();
        assert_eq!(changes.len(), 4, "{changes:?}");
        assert_eq!(snapshot(&root), before);
        assert!(wants.join("ssh.service").is_symlink(), "others untouched");
        let tampered = vec![Link {
            path: PathBuf::from("etc/cron.d/evil"),
            target: PathBuf::from("/tmp/x"),
        }];
        assert!(restore_links(&root, &tampered).is_err());
        assert!(!root.join("etc/cron.d/evil").exists());
        fs::remove_dir_all(&root).unwrap();
    }
}
