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

/// One `[name]` section with its entries in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name as written between the brackets.
    pub name: String,
    /// `(key, value)` pairs as written (trimmed), empty values dropped.
    pub entries: Vec<(String, String)>,
}

impl Section {
    /// The value of `key` (case-insensitive); the last occurrence wins.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ini {
    /// Sections in file order, duplicates kept.
    pub sections: Vec<Section>,
}

impl Ini {
    /// Parses text. Never fails: what the grammar does not recognise is
    /// ignored, as gammu ignores it.
    pub fn parse(text: &str) -> Self {
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
        Self { sections }
    }

    /// Whether a section of that name (case-insensitive) exists.
    pub fn has_section(&self, name: &str) -> bool {
        self.sections
            .iter()
            .any(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The first section of that name, for list sections such as
    /// `[include_numbers]`, where gammu uses only the first.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// `key` in the first section named `section` that has it.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .iter()
            .filter(|s| s.name.eq_ignore_ascii_case(section))
            .find_map(|s| s.get(key))
    }
}

/// gammu's boolean words (`GSM_StringToBool`): `None` for anything else,
/// where gammu silently uses the key's default.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "t" | "1" => Some(true),
        "false" | "no" | "n" | "f" | "0" => Some(false),
        _ => None,
    }
}

/// C `atoi`: optional sign, leading digits, the rest ignored, garbage 0.
pub fn atoi(value: &str) -> i64 {
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
