//! gammu's incoming filters (spec §5.7): sender and SMSC include/exclude
//! lists from the configuration and from list files, loaded at start and on
//! SIGHUP. Matching is exact string equality, as in gammu. A non-empty
//! include list wins over the exclude list; the SMSC filter applies first.

use crate::config::FilterSettings;
use std::path::Path;

/// The loaded lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filters {
    include_numbers: Vec<String>,
    exclude_numbers: Vec<String>,
    include_smsc: Vec<String>,
    exclude_smsc: Vec<String>,
}

impl Filters {
    /// The lists of `settings`, with the lines of their files appended (one
    /// entry a line, trailing whitespace dropped, empty lines skipped). A
    /// file that cannot be read is logged and counts as empty.
    pub(crate) fn load(settings: &FilterSettings) -> Self {
        let merged = |list: &[String], file: Option<&Path>| {
            let mut all = list.to_vec();
            if let Some(file) = file {
                match std::fs::read_to_string(file) {
                    Ok(text) => all.extend(
                        text.lines()
                            .map(str::trim_end)
                            .filter(|line| !line.is_empty())
                            .map(str::to_owned),
                    ),
                    Err(error) => {
                        tracing::error!(file = %file.display(), error = %crate::redact::Scrub(&error), "cannot read a filter list")
                    }
                }
            }
            all
        };
        let filters = Self {
            include_numbers: merged(
                &settings.include_numbers,
                settings.include_numbers_file.as_deref(),
            ),
            exclude_numbers: merged(
                &settings.exclude_numbers,
                settings.exclude_numbers_file.as_deref(),
            ),
            include_smsc: merged(
                &settings.include_smsc,
                settings.include_smsc_file.as_deref(),
            ),
            exclude_smsc: merged(
                &settings.exclude_smsc,
                settings.exclude_smsc_file.as_deref(),
            ),
        };
        if !filters.include_numbers.is_empty() && !filters.exclude_numbers.is_empty() {
            tracing::warn!("both include and exclude numbers are set: the exclude list is ignored, as in gammu");
        }
        filters
    }

    /// Whether a message from `sender` through `smsc` is taken in.
    pub(crate) fn accepts(&self, sender: &str, smsc: Option<&str>) -> bool {
        let smsc = smsc.unwrap_or("");
        let passes = |include: &[String], exclude: &[String], value: &str| {
            if include.is_empty() {
                !exclude.iter().any(|e| e == value)
            } else {
                include.iter().any(|i| i == value)
            }
        };
        passes(&self.include_smsc, &self.exclude_smsc, smsc)
            && passes(&self.include_numbers, &self.exclude_numbers, sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> FilterSettings {
        FilterSettings::default()
    }

    #[test]
    fn gammu_semantics() {
        assert!(Filters::load(&settings()).accepts("+491", None));
        let mut s = settings();
        s.exclude_numbers = vec!["+491".to_owned()];
        let f = Filters::load(&s);
        assert!(!f.accepts("+491", None));
        assert!(
            f.accepts("0491", None),
            "exact match only, no normalisation"
        );
        s.include_numbers = vec!["+492".to_owned()];
        let f = Filters::load(&s);
        assert!(f.accepts("+492", None) && !f.accepts("+493", None));
        assert!(!f.accepts("+491", None));
        let mut s = settings();
        s.include_smsc = vec!["+49171".to_owned()];
        let f = Filters::load(&s);
        assert!(
            f.accepts("+491", Some("+49171"))
                && !f.accepts("+491", Some("+49172"))
                && !f.accepts("+491", None)
        );
    }

    #[test]
    fn list_files_add_lines() {
        let path = std::env::temp_dir().join(format!("simgate-filter-{}", std::process::id()));
        std::fs::write(&path, "+4911\r\n\n  +4912  \n").unwrap();
        let mut s = settings();
        s.exclude_numbers_file = Some(path.clone());
        let f = Filters::load(&s);
        assert!(!f.accepts("+4911", None));
        // Leading whitespace is kept, as gammu keeps it.
        assert!(!f.accepts("  +4912", None) && f.accepts("+4912", None));
        std::fs::remove_file(&path).unwrap();
    }
}
