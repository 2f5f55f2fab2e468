//! Where the SIM PIN comes from, and who else can read it.
//!
//! A PIN can be written in three places; the first that is present wins:
//!
//! 1. a systemd credential named `pin` (`LoadCredential=pin:/etc/simgate/pin`
//!    in a drop-in), read from `$CREDENTIALS_DIRECTORY/pin`: systemd reads a
//!    root-only file and hands the service a private copy;
//! 2. `[modem] pin_file` in simgate's TOML: a file holding only the PIN,
//!    readable by simgate's user (`0640 root:_simgate`);
//! 3. `pin` in the configuration itself (`[smsd] PIN` in a gammu-smsdrc).
//!
//! A PIN in a file every user can read gets a warning (at start and in
//! `check-config`) that names the file and the way out. The decisions are
//! pure ([`choose`], [`exposure`]); [`resolve`] reads the files.

use super::{ConfigError, Loaded, Notice, SimPin};
use std::path::{Path, PathBuf};

/// The name of the systemd credential simgate reads the PIN from.
pub const CREDENTIAL: &str = "pin";

/// What the PIN sources depend on, read from the environment once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinEnv {
    /// `$CREDENTIALS_DIRECTORY`, set by systemd when the unit has
    /// credentials.
    pub credentials_directory: Option<PathBuf>,
}

impl PinEnv {
    /// The process's environment.
    pub fn from_env() -> Self {
        Self {
            credentials_directory: std::env::var_os("CREDENTIALS_DIRECTORY")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// Where the PIN in effect came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// The systemd credential at this path.
    Credential(PathBuf),
    /// `[modem] pin_file`.
    File(PathBuf),
    /// The configuration file itself.
    Config,
}

/// Which source wins, given what is present, and the notice saying so when
/// a PIN elsewhere is overridden.
pub fn choose(
    credential: Option<&Path>,
    pin_file: Option<&Path>,
    in_config: bool,
    pin_key: &str,
) -> (Option<PinSource>, Option<Notice>) {
    let overridden = |winner: &str, losers: Vec<String>| {
        (!losers.is_empty()).then(|| {
            Notice::info(
                pin_key,
                format!(
                    "the PIN comes from {winner}; {} is not used",
                    losers.join(" and ")
                ),
            )
        })
    };
    match (credential, pin_file) {
        (Some(path), _) => {
            let mut losers = Vec::new();
            if let Some(file) = pin_file {
                losers.push(format!("modem.pin_file ({})", file.display()));
            }
            if in_config {
                losers.push(format!("`{pin_key}` in the configuration"));
            }
            let winner = format!("the systemd credential `{CREDENTIAL}`");
            (
                Some(PinSource::Credential(path.to_owned())),
                overridden(&winner, losers),
            )
        }
        (None, Some(file)) => (Some(PinSource::File(file.to_owned())), None),
        (None, None) if in_config => (Some(PinSource::Config), None),
        (None, None) => (None, None),
    }
}

/// The warning for a PIN kept in `path` with permission bits `mode`, when
/// users other than the owner and group can read it. `pin_file` says
/// whether the configuration could name a PIN file instead (simgate's
/// TOML can, a gammu-smsdrc cannot).
pub fn exposure(key: &str, path: &Path, mode: u32, pin_file: bool) -> Option<Notice> {
    (mode & 0o004 != 0).then(|| {
        let or_file = if pin_file {
            ", or in a file only simgate's group can read ([modem] pin_file, mode 0640)"
        } else {
            ""
        };
        Notice::warning(
            key,
            format!(
                "the SIM PIN sits in {}, which every user can read (mode {:04o}): put it in a \
                 root-only file and hand it to simgate as a systemd credential \
                 (LoadCredential={CREDENTIAL}:/etc/simgate/pin){or_file}",
                path.display(),
                mode & 0o7777
            ),
        )
    })
}

/// The PIN in a credential or PIN file: the first line, without its line
/// end or surrounding blanks.
pub fn parse_pin_text(key: &str, text: &str) -> Result<SimPin, ConfigError> {
    let line = text.lines().next().unwrap_or("").trim();
    SimPin::parse(key, line)
}

/// Settles the PIN of `loaded` (read from `config_path`) from the sources
/// in `env` and the configuration, adding the notices. Reads the files.
pub fn resolve(loaded: &mut Loaded, config_path: &Path, env: &PinEnv) -> Result<(), ConfigError> {
    let pin_key = match loaded.source {
        super::SourceFormat::Toml => "modem.pin",
        super::SourceFormat::Gammu => "[smsd] PIN",
    };
    let credential = env
        .credentials_directory
        .as_ref()
        .map(|dir| dir.join(CREDENTIAL))
        .filter(|path| path.exists());
    let pin_file = loaded.config.modem.pin_file.clone();
    let (source, notice) = choose(
        credential.as_deref(),
        pin_file.as_deref(),
        loaded.config.modem.pin.is_some(),
        pin_key,
    );
    loaded.notices.extend(notice);
    let read = |key: &str, path: &Path| -> Result<SimPin, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Path {
            key: key.to_owned(),
            path: path.to_owned(),
            problem: error.to_string(),
        })?;
        parse_pin_text(key, &text)
    };
    let mode = |path: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).map(|m| m.permissions().mode()).ok()
    };
    match source {
        Some(PinSource::Credential(path)) => {
            loaded.config.modem.pin = Some(read("credential pin", &path)?);
        }
        Some(PinSource::File(path)) => {
            loaded.config.modem.pin = Some(read("modem.pin_file", &path)?);
            if let Some(mode) = mode(&path) {
                loaded
                    .notices
                    .extend(exposure("modem.pin_file", &path, mode, true));
            }
        }
        Some(PinSource::Config) => {
            if let Some(mode) = mode(config_path) {
                let toml = loaded.source == super::SourceFormat::Toml;
                loaded
                    .notices
                    .extend(exposure(pin_key, config_path, mode, toml));
            }
        }
        None => {}
    }
    // The other modems' PIN files (the credential is the first modem's).
    for modem in &mut loaded.config.more_modems {
        let Some(path) = modem.pin_file.clone() else {
            continue;
        };
        modem.pin = Some(read("modems.pin_file", &path)?);
        if let Some(mode) = mode(&path) {
            loaded
                .notices
                .extend(exposure("modems.pin_file", &path, mode, true));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Severity;

    #[test]
    fn the_credential_wins_and_says_what_it_overrides() {
        let credential = Path::new("/run/credentials/simgate.service/pin");
        let (source, notice) = choose(
            Some(credential),
            Some(Path::new("/etc/simgate/pin")),
            true,
            "modem.pin",
        );
        assert_eq!(source, Some(PinSource::Credential(credential.to_owned())));
        let notice = notice.expect("a notice");
        assert_eq!(notice.severity, Severity::Info);
        assert!(notice.message.contains("systemd credential"), "{notice}");
        assert!(notice.message.contains("/etc/simgate/pin"), "{notice}");
        assert!(notice.message.contains("`modem.pin`"), "{notice}");
    }

    #[test]
    fn a_credential_alone_says_nothing() {
        let (source, notice) = choose(Some(Path::new("/c/pin")), None, false, "modem.pin");
        assert!(matches!(source, Some(PinSource::Credential(_))));
        assert_eq!(notice, None);
    }

    #[test]
    fn then_the_pin_file_then_the_configuration() {
        let file = Path::new("/etc/simgate/pin");
        assert_eq!(
            choose(None, Some(file), false, "modem.pin").0,
            Some(PinSource::File(file.to_owned()))
        );
        assert_eq!(
            choose(None, None, true, "[smsd] PIN").0,
            Some(PinSource::Config)
        );
        assert_eq!(choose(None, None, false, "modem.pin"), (None, None));
    }

    #[test]
    fn only_a_world_readable_file_is_a_warning() {
        let path = Path::new("/etc/gammu-smsdrc");
        for private in [0o100600, 0o100640, 0o100660, 0o100400] {
            assert_eq!(
                exposure("[smsd] PIN", path, private, false),
                None,
                "{private:o}"
            );
        }
        let notice = exposure("[smsd] PIN", path, 0o100644, false).expect("a warning");
        assert_eq!(notice.severity, Severity::Warning);
        assert!(notice.message.contains("/etc/gammu-smsdrc"), "{notice}");
        assert!(notice.message.contains("0644"), "{notice}");
        assert!(notice.message.contains("LoadCredential=pin:"), "{notice}");
        assert!(
            !notice.message.contains("pin_file"),
            "not in a gammu-smsdrc: {notice}"
        );
        let toml = Path::new("/etc/simgate/simgate.toml");
        let notice = exposure("modem.pin", toml, 0o100644, true).expect("a warning");
        assert!(notice.message.contains("[modem] pin_file"), "{notice}");
    }

    #[test]
    fn a_pin_file_holds_the_pin_on_its_first_line() {
        assert_eq!(parse_pin_text("k", "1234\n").unwrap().reveal(), "1234");
        assert_eq!(
            parse_pin_text("k", " 87654321 \r\n").unwrap().reveal(),
            "87654321"
        );
        let error = parse_pin_text("modem.pin_file", "12a4\n").unwrap_err();
        assert!(!error.to_string().contains("12a4"), "{error}");
        assert!(parse_pin_text("k", "").is_err());
    }
}
