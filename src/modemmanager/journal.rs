//! The record of which SMS object carries which message, written and
//! synced before the object is asked to send: after a lost answer or a
//! crash, the object's state (sent, or still stored) says whether the
//! message went out, and a retry never creates a second object for it.
//! The HiLink stick keeps one too (its own file, [`path_named`]): for each
//! message, the newest entry of the stick's sent box before it was handed
//! over, so that after a crash the sent box can say whether it went out.
//!
//! One line per message, `key TAB object-path TAB unix-seconds`, appended
//! and synced; the last line of a key wins. The file is rewritten (to a
//! temporary name, then renamed) with the newest [`KEPT`] entries of the
//! last [`KEPT_FOR`] seconds once it holds more than twice that many
//! lines. It lives next to the database (`<database>.modemmanager`, or
//! `<database>.modemmanager-<modem>` for a modem named by its IMEI, path
//! or index).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Entries kept when the file is rewritten.
const KEPT: usize = 256;
/// How long an entry is kept (a week: far longer than any retry).
const KEPT_FOR: i64 = 7 * 24 * 3600;

/// The journal file and what it holds.
#[derive(Debug)]
pub(crate) struct Journal {
    path: Option<PathBuf>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, (String, i64)>,
    lines: usize,
}

/// The journal's file for the ModemManager modem `selector` names
/// (`device`: IMEI, D-Bus path or index) next to a database file:
/// `<database>.modemmanager` for the only modem (`any` or empty), else
/// `<database>.modemmanager-<selector>`, so that each of several modems
/// keeps its own objects.
pub(crate) fn path_for(database: &Path, selector: &str) -> PathBuf {
    let selector = selector.trim();
    if selector.is_empty() || selector.eq_ignore_ascii_case("any") {
        return path_named(database, "modemmanager");
    }
    path_named(database, &format!("modemmanager-{}", file_safe(selector)))
}

/// `name` with every character but ASCII letters, digits, `.` and `-`
/// made `_`: a part of a file name.
pub(crate) fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A journal file named `name` next to a database file
/// (`<database>.<name>`): each device that journals has its own.
pub(crate) fn path_named(database: &Path, name: &str) -> PathBuf {
    let mut path = database.as_os_str().to_owned();
    path.push(".");
    path.push(name);
    PathBuf::from(path)
}

fn parse(text: &str) -> State {
    let mut state = State::default();
    for line in text.lines() {
        let mut fields = line.split('\t');
        let (Some(key), Some(path), Some(at)) = (fields.next(), fields.next(), fields.next())
        else {
            // A line cut short by a crash: it was never followed by a send.
            continue;
        };
        let Ok(at) = at.parse::<i64>() else { continue };
        if path == "-" {
            // Forgotten: the message it named ended.
            state.entries.remove(key);
        } else {
            state.entries.insert(key.to_owned(), (path.to_owned(), at));
        }
        state.lines += 1;
    }
    state
}

impl Journal {
    /// The journal at `path` (`None`: kept in memory only, for a process
    /// with no database), with what it holds.
    pub(crate) fn open(path: Option<PathBuf>) -> Self {
        let state = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map_or_else(State::default, |text| parse(&text));
        Self {
            path,
            state: Mutex::new(state),
        }
    }

    /// Whether it is kept in a file (and so survives a restart).
    pub(crate) fn durable(&self) -> bool {
        self.path.is_some()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The SMS object recorded for `key`.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.state().entries.get(key).map(|(path, _)| path.clone())
    }

    /// Records that `sms` carries the message `key`, durably, at `now`.
    pub(crate) fn record(&self, key: &str, sms: &str, now: i64) -> std::io::Result<()> {
        let mut state = self.state();
        if let Some(path) = &self.path {
            let created = !path.exists();
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            file.write_all(format!("{key}\t{sms}\t{now}\n").as_bytes())?;
            file.sync_data()?;
            if created {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::File::open(dir)?.sync_all()?;
                }
            }
        }
        state.entries.insert(key.to_owned(), (sms.to_owned(), now));
        state.lines += 1;
        if state.lines > 2 * KEPT {
            self.compact(&mut state, now)?;
        }
        Ok(())
    }

    /// Forgets `key` (the message it names ended): appended, not synced,
    /// since an entry a crash kept only makes the next send of that
    /// message look at the device first.
    pub(crate) fn forget(&self, key: &str) {
        let mut state = self.state();
        if state.entries.remove(key).is_none() {
            return;
        }
        if let Some(path) = &self.path {
            let appended = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .and_then(|mut file| file.write_all(format!("{key}\t-\t0\n").as_bytes()));
            if let Err(error) = appended {
                tracing::debug!(%error, "cannot note an ended message in the journal");
            }
        }
        state.lines += 1;
    }

    /// Keeps the newest [`KEPT`] entries of the last [`KEPT_FOR`] seconds.
    fn compact(&self, state: &mut State, now: i64) -> std::io::Result<()> {
        let mut entries: Vec<(String, (String, i64))> = state
            .entries
            .drain()
            .filter(|(_, (_, at))| now - at < KEPT_FOR)
            .collect();
        entries.sort_by_key(|(_, (_, at))| std::cmp::Reverse(*at));
        entries.truncate(KEPT);
        if let Some(path) = &self.path {
            let mut temporary = path.as_os_str().to_owned();
            temporary.push(".tmp");
            let temporary = PathBuf::from(temporary);
            let mut file = std::fs::File::create(&temporary)?;
            for (key, (sms, at)) in entries.iter().rev() {
                file.write_all(format!("{key}\t{sms}\t{at}\n").as_bytes())?;
            }
            file.sync_all()?;
            std::fs::rename(&temporary, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
        }
        state.lines = entries.len();
        state.entries = entries.into_iter().collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temporary(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("simgate-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("simgate.db.modemmanager")
    }

    #[test]
    fn entries_survive_a_reopen_and_the_last_wins() {
        let path = temporary("reopen");
        let journal = Journal::open(Some(path.clone()));
        journal.record("a", "/SMS/1", 100).unwrap();
        journal.record("b", "/SMS/2", 101).unwrap();
        journal.record("a", "/SMS/3", 102).unwrap();
        // A line cut short by a crash is ignored.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"c\t/SMS/4")
            .unwrap();
        let again = Journal::open(Some(path.clone()));
        assert_eq!(again.get("a").as_deref(), Some("/SMS/3"));
        assert_eq!(again.get("b").as_deref(), Some("/SMS/2"));
        assert_eq!(again.get("c"), None);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_forgotten_entry_stays_forgotten_after_a_reopen() {
        let path = temporary("forget");
        let journal = Journal::open(Some(path.clone()));
        journal.record("a", "17", 100).unwrap();
        journal.record("b", "18", 101).unwrap();
        journal.forget("a");
        journal.forget("never there");
        assert_eq!(journal.get("a"), None);
        let again = Journal::open(Some(path.clone()));
        assert_eq!(again.get("a"), None);
        assert_eq!(again.get("b").as_deref(), Some("18"));
        assert_eq!(
            path_named(Path::new("/var/lib/simgate/a.db"), "hilink"),
            PathBuf::from("/var/lib/simgate/a.db.hilink")
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn the_file_is_compacted_to_the_newest_entries() {
        let path = temporary("compact");
        let journal = Journal::open(Some(path.clone()));
        let start = 1_000_000;
        for n in 0..(2 * KEPT + 1) {
            journal
                .record(&format!("k{n}"), &format!("/SMS/{n}"), start + n as i64)
                .unwrap();
        }
        let again = Journal::open(Some(path.clone()));
        assert_eq!(again.get("k0"), None, "the oldest went");
        let newest = 2 * KEPT;
        assert_eq!(
            again.get(&format!("k{newest}")),
            Some(format!("/SMS/{newest}"))
        );
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, KEPT);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// Two ModemManager modems in one daemon keep a file each: one's
    /// rewrite would drop the other's entries, and another modem must
    /// never find (and send through) an object of the first.
    #[test]
    fn each_modemmanager_modem_has_its_own_file() {
        let db = Path::new("/var/lib/simgate/a.db");
        // The only modem keeps the name it always had.
        for only in ["", "any", "ANY"] {
            assert_eq!(
                path_for(db, only),
                PathBuf::from("/var/lib/simgate/a.db.modemmanager")
            );
        }
        let by_imei = path_for(db, "350000001234562");
        let by_path = path_for(db, "/org/freedesktop/ModemManager1/Modem/3");
        assert_eq!(
            by_imei,
            PathBuf::from("/var/lib/simgate/a.db.modemmanager-350000001234562")
        );
        assert_eq!(
            by_path,
            PathBuf::from(
                "/var/lib/simgate/a.db.modemmanager-_org_freedesktop_ModemManager1_Modem_3"
            )
        );
        assert_ne!(by_imei, path_for(db, "0"));
    }
}
