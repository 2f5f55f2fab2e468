//! gammu's INI dialect, shared by `gammu-smsdrc` and `.smsbackup` files
//! (libgammu's cfg.c, as observed on 1.42; spec §1.2). Pure: text in,
//! sections out.
//!
//! The rules that differ from other INI readers: a line ends at LF or CR;
//! everything before the first `[` is ignored; no inline comments (`;` after
//! `=` is part of the value); quotes are kept; an empty value means the key
//! is absent; section names and keys compare case-insensitively; within a
//! section the last duplicate key wins; across sections of the same name a
//! lookup takes the first section that has the key.
//!
//! Lookups go through an index of each section name asked for, built at
//! the first lookup of that name in one pass over the sections, so reading
//! a configuration stays linear in its size however many sections and keys
//! it has (gammu-smsd asks for six names; `.smsbackup` files, which only
//! walk their sections, build none).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// One `[name]` section with its entries in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    /// The name as written between the brackets.
    pub name: String,
    /// `(key, value)` pairs as written (trimmed), empty values dropped.
    pub entries: Vec<(String, String)>,
}

impl Section {
    /// The value of `key` (case-insensitive); the last occurrence wins.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed file.
#[derive(Debug, Default)]
pub(crate) struct Ini {
    /// Sections in file order, duplicates kept.
    sections: Vec<Section>,
    /// Lowercased section name → its index, built at its first lookup.
    index: Mutex<HashMap<String, NameIndex>>,
}

/// Where lookups of one section name find their answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NameIndex {
    /// The first section of that name.
    first: Option<usize>,
    /// Lowercased key → (section, entry) of the value a lookup returns:
    /// the first section of that name that has the key, and in it the
    /// last occurrence.
    values: HashMap<String, (usize, usize)>,
}

impl NameIndex {
    /// One pass over the sections; `lower` is the name in lower case.
    fn build(sections: &[Section], lower: &str) -> Self {
        let mut index = Self::default();
        for (s, section) in sections.iter().enumerate() {
            if !section.name.eq_ignore_ascii_case(lower) {
                continue;
            }
            index.first.get_or_insert(s);
            // Backwards, so the first occurrence met is the section's last.
            for (e, (key, _)) in section.entries.iter().enumerate().rev() {
                index
                    .values
                    .entry(key.to_ascii_lowercase())
                    .or_insert((s, e));
            }
        }
        index
    }
}

impl Clone for Ini {
    fn clone(&self) -> Self {
        Self {
            sections: self.sections.clone(),
            index: Mutex::default(),
        }
    }
}

impl PartialEq for Ini {
    fn eq(&self, other: &Self) -> bool {
        self.sections == other.sections
    }
}

impl Eq for Ini {}

impl Ini {
    /// Parses text. Never fails: what the grammar does not recognise is
    /// ignored, as gammu ignores it.
    pub(crate) fn parse(text: &str) -> Self {
        let mut sections: Vec<Section> = Vec::new();
        // Entries after an invalid header belong to no section.
        let mut current: Option<usize> = None;
        for raw in text.split(['\n', '\r']) {
            let line = raw.trim_start_matches('\u{feff}').trim();
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                current = match rest.find(']') {
                    Some(end) if end > 0 => {
                        sections.push(Section {
                            name: rest[..end].to_owned(),
                            entries: Vec::new(),
                        });
                        Some(sections.len() - 1)
                    }
                    _ => None,
                };
                continue;
            }
            let (Some(index), Some((key, value))) = (current, line.split_once('=')) else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            if !key.is_empty() && !value.is_empty() {
                sections[index]
                    .entries
                    .push((key.to_owned(), value.to_owned()));
            }
        }
        Self {
            sections,
            index: Mutex::default(),
        }
    }

    /// Sections in file order, duplicates kept.
    pub(crate) fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// What `lookup` needs from the index of `section`, built if new.
    fn with_index<T>(&self, section: &str, lookup: impl FnOnce(&NameIndex) -> T) -> T {
        let lower = section.to_ascii_lowercase();
        let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        let name = index
            .entry(lower)
            .or_insert_with_key(|lower| NameIndex::build(&self.sections, lower));
        lookup(name)
    }

    /// Whether a section of that name (case-insensitive) exists.
    pub(crate) fn has_section(&self, name: &str) -> bool {
        self.section(name).is_some()
    }

    /// The first section of that name, for list sections such as
    /// `[include_numbers]`, where gammu uses only the first.
    pub(crate) fn section(&self, name: &str) -> Option<&Section> {
        let first = self.with_index(name, |index| index.first)?;
        Some(&self.sections[first])
    }

    /// `key` in the first section named `section` that has it.
    pub(crate) fn get(&self, section: &str, key: &str) -> Option<&str> {
        let key = key.to_ascii_lowercase();
        let (s, e) = self.with_index(section, |index| index.values.get(&key).copied())?;
        Some(&self.sections[s].entries[e].1)
    }
}

/// gammu's boolean words (`GSM_StringToBool`): `None` for anything else,
/// where gammu silently uses the key's default.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "t" | "1" => Some(true),
        "false" | "no" | "n" | "f" | "0" => Some(false),
        _ => None,
    }
}

/// C `atoi`: optional sign, leading digits, the rest ignored, garbage 0.
pub(crate) fn atoi(value: &str) -> i64 {
    let value = value.trim_start();
    let (sign, digits) = match value.as_bytes().first() {
        Some(b'-') => (-1, &value[1..]),
        Some(b'+') => (1, &value[1..]),
        _ => (1, value),
    };
    let number = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |acc, d| {
            acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    sign * number
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_observed_grammar() {
        let ini = Ini::parse(
            "\u{feff}junk before\n[gammu]\r\nDevice = /dev/ttyUSB0\r\n\
             ; comment\n# comment\n[SMSD]\nInboxFormat = unicode ; comment\n\
             inboxpath = \"/x/\"\nPIN =\nno equals sign\nCommTimeout = 5\ncommtimeout = 7\n\
             my key  = spaced \n[]\nlost = yes\n[unclosed\nlost2 = yes\n[smsd]\nonly_second = 1\nCommTimeout = 9\n",
        );
        assert_eq!(ini.get("gammu", "device"), Some("/dev/ttyUSB0"));
        assert_eq!(ini.get("smsd", "inboxformat"), Some("unicode ; comment"));
        assert_eq!(ini.get("smsd", "InboxPath"), Some("\"/x/\""));
        assert_eq!(ini.get("smsd", "pin"), None);
        assert_eq!(ini.get("smsd", "commtimeout"), Some("7"));
        assert_eq!(ini.get("smsd", "my key"), Some("spaced"));
        assert_eq!(ini.get("smsd", "only_second"), Some("1"));
        assert_eq!(ini.get("smsd", "lost"), None);
        assert_eq!(ini.get("smsd", "lost2"), None);
        assert_eq!(ini.sections.len(), 3);
    }

    #[test]
    fn lookups_use_one_index_a_name_with_an_entry_per_distinct_key() {
        let ini = Ini::parse(
            "[smsd]\nA = 1\na = 2\n[x]\nc = 5\n[SMSD]\na = 3\nb = 4\nB = 6\n[Smsd]\nb = 7\n",
        );
        let built = |ini: &Ini| -> Vec<String> {
            let mut names: Vec<String> = ini.index.lock().unwrap().keys().cloned().collect();
            names.sort();
            names
        };
        assert!(built(&ini).is_empty(), "parsing builds no index");
        assert_eq!(ini.get("smsd", "A"), Some("2"));
        assert_eq!(ini.get("SMSD", "b"), Some("6"));
        assert_eq!(ini.section("sMsD").map(|s| s.name.as_str()), Some("smsd"));
        assert_eq!(built(&ini), ["smsd"], "one index for the three spellings");
        // One entry per distinct key, pointing at the value a lookup
        // returns: first section with the key, last occurrence in it.
        let index = ini.index.lock().unwrap()["smsd"].clone();
        assert_eq!(index.first, Some(0));
        assert_eq!(index.values.len(), 2);
        assert_eq!((index.values["a"], index.values["b"]), ((0, 1), (2, 2)));
        assert!(!ini.has_section("missing"));
        assert_eq!(built(&ini), ["missing", "smsd"]);
    }

    #[test]
    fn booleans_and_integers() {
        for word in ["true", "YES", "y", "T", "1"] {
            assert_eq!(parse_bool(word), Some(true));
        }
        for word in ["false", "No", "n", "f", "0"] {
            assert_eq!(parse_bool(word), Some(false));
        }
        assert_eq!(parse_bool("on"), None);
        assert_eq!(
            (atoi("30s"), atoi("garbage"), atoi(" -5x"), atoi("+7")),
            (30, 0, -5, 7)
        );
    }
}
