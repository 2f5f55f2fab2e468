//! Which numbers messages may go to (`[destinations]`): allow and deny
//! lists of exact numbers and prefixes (`+49*`), from the configuration
//! and from list files, loaded at start and on SIGHUP. A message refused
//! here never reaches the queue: its file goes to error/ with the reason.

use crate::config::DestinationSettings;
use std::path::Path;

/// The loaded lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Destinations {
    allow: Vec<String>,
    deny: Vec<String>,
}

impl Destinations {
    /// The lists of `settings`, with the entries of their files appended
    /// (one a line, `#` starts a comment, blank lines skipped). A file
    /// that cannot be read is logged; an allow list that cannot be read
    /// allows nothing rather than everything.
    pub(crate) fn load(settings: &DestinationSettings) -> Self {
        let merged = |list: &[String], file: Option<&Path>, unreadable: &[&str]| {
            let mut all = list.to_vec();
            if let Some(file) = file {
                match std::fs::read_to_string(file) {
                    Ok(text) => all.extend(
                        text.lines()
                            .map(|line| line.split('#').next().unwrap_or("").trim())
                            .filter(|entry| !entry.is_empty())
                            .map(str::to_owned),
                    ),
                    Err(error) => {
                        tracing::error!(file = %file.display(), error = %crate::redact::Scrub(&error), "cannot read a destination list");
                        all.extend(unreadable.iter().map(|entry| (*entry).to_owned()));
                    }
                }
            }
            all
        };
        Self {
            // An entry no number can match: the allow list is not empty.
            allow: merged(
                &settings.allow,
                settings.allow_file.as_deref(),
                &["(unreadable)"],
            ),
            deny: merged(&settings.deny, settings.deny_file.as_deref(), &[]),
        }
    }

    /// Why a message to `number` may not be sent, or `None` if it may.
    pub(crate) fn refusal(&self, number: &str) -> Option<String> {
        if let Some(entry) = self.deny.iter().find(|entry| matches(entry, number)) {
            return Some(format!(
                "its destination is denied (destinations.deny: {entry})"
            ));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|entry| matches(entry, number)) {
            return Some("its destination is not in destinations.allow".to_owned());
        }
        None
    }
}

/// Whether list entry `entry` matches `number`: a prefix when it ends in
/// `*`, the exact number otherwise.
fn matches(entry: &str, number: &str) -> bool {
    match entry.strip_suffix('*') {
        Some(prefix) => number.starts_with(prefix),
        None => entry == number,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(allow: &[&str], deny: &[&str]) -> DestinationSettings {
        DestinationSettings {
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            deny: deny.iter().map(|s| (*s).to_owned()).collect(),
            ..DestinationSettings::default()
        }
    }

    #[test]
    fn no_lists_refuse_nothing() {
        assert_eq!(
            Destinations::load(&settings(&[], &[])).refusal("+4917612345678"),
            None
        );
    }

    #[test]
    fn prefixes_and_exact_numbers_and_deny_wins() {
        let d = Destinations::load(&settings(
            &["+49*", "+441234"],
            &["+4990*", "+4917600000666"],
        ));
        assert_eq!(d.refusal("+4917612345678"), None);
        assert_eq!(d.refusal("+441234"), None);
        assert_eq!(
            d.refusal("+4412345"),
            Some("its destination is not in destinations.allow".to_owned()),
            "an exact entry is not a prefix"
        );
        assert_eq!(
            d.refusal("+4990012345"),
            Some("its destination is denied (destinations.deny: +4990*)".to_owned())
        );
        assert!(d.refusal("+4917600000666").is_some());
        let deny_only = Destinations::load(&settings(&[], &["+4990*"]));
        assert_eq!(deny_only.refusal("+33123456789"), None);
    }

    #[test]
    fn list_files_add_entries_and_an_unreadable_allow_file_allows_nothing() {
        let dir = std::env::temp_dir().join(format!("simgate-destinations-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("deny");
        std::fs::write(
            &file,
            "# premium numbers\n+4990*  # all of them\n\n+4917600000666\n",
        )
        .unwrap();
        let d = Destinations::load(&DestinationSettings {
            deny_file: Some(file),
            ..DestinationSettings::default()
        });
        assert!(d.refusal("+4990123").is_some());
        assert!(d.refusal("+4917600000666").is_some());
        assert_eq!(d.refusal("+4917600000667"), None);
        let d = Destinations::load(&DestinationSettings {
            allow_file: Some(dir.join("missing")),
            ..DestinationSettings::default()
        });
        assert!(d.refusal("+4917612345678").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
