//! A service started before anyone named a modem.
//!
//! The Debian package installs and enables `simgate.service` with a
//! configuration that names no modem (simgate must not send AT commands to
//! whatever happens to be `/dev/ttyUSB0`), and gammu's own package ships
//! `port = /dev/null` as its "not configured" marker. Failing there would
//! leave a failed unit that systemd restarts and fails again. Instead
//! `simgate run` says in one line what to set, hands that line to systemd
//! (`READY=1`, then `STATUS=`, so `systemctl status` shows it; a notify
//! service that exits before `READY=1` counts as failed) and exits 0: the
//! unit ends inactive, not failed.
//!
//! [`what_to_set`] is pure; [`report`] writes to stderr and `NOTIFY_SOCKET`.

use crate::config::ConfigError;
use std::path::Path;

/// Whether `error` says no more than that the file names no modem (the
/// first modem's device missing, or the placeholder `/dev/null`).
pub(crate) fn names_no_modem(error: &ConfigError) -> bool {
    what_to_set(error, Path::new("")).is_some()
}

/// The line to print when `error` means that no modem is configured in
/// the file at `config`, or `None` for any other error.
pub(crate) fn what_to_set(error: &ConfigError, config: &Path) -> Option<String> {
    let config = config.display();
    match error {
        ConfigError::Missing { key, .. } if key == "modem.device" => Some(format!(
            "no modem configured: set `device` under [modem] in {config} to the modem's port \
             (a /dev/serial/by-id/... link), then start simgate again"
        )),
        ConfigError::InvalidValue { key, value, .. }
            if value == "/dev/null"
                && matches!(
                    key.as_str(),
                    "modem.device" | "[gammu] port" | "[gammu] device"
                ) =>
        {
            let setting = key
                .trim_start_matches("[gammu] ")
                .trim_start_matches("modem.");
            Some(format!(
                "no modem configured: `{setting} = /dev/null` in {config} is the \"not \
                 configured\" placeholder; set it to the modem's port (a /dev/serial/by-id/... \
                 link), then start simgate again"
            ))
        }
        _ => None,
    }
}

/// Says `line` on stderr (the journal under systemd) and to systemd.
pub(crate) fn report(line: &str) {
    eprintln!("simgate: {line}");
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        use sd_notify::NotifyState;
        // READY first: a notify service that exits without it has failed.
        let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(line)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_or_the_placeholder_is_not_configured() {
        let path = Path::new("/etc/simgate/simgate.toml");
        let missing = ConfigError::Missing {
            key: "modem.device".into(),
            hint: String::new(),
        };
        let line = what_to_set(&missing, path).unwrap();
        assert!(
            line.starts_with(
                "no modem configured: set `device` under [modem] in /etc/simgate/simgate.toml"
            ),
            "{line}"
        );
        assert!(!line.contains('\n'));
        for key in ["[gammu] port", "[gammu] device", "modem.device"] {
            let placeholder = ConfigError::InvalidValue {
                key: key.into(),
                value: "/dev/null".into(),
                allowed: String::new(),
            };
            let line = what_to_set(&placeholder, Path::new("/etc/gammu-smsdrc")).unwrap();
            assert!(line.contains("= /dev/null` in /etc/gammu-smsdrc"), "{line}");
        }
    }

    #[test]
    fn other_errors_stay_errors() {
        let path = Path::new("/etc/simgate/simgate.toml");
        for error in [
            ConfigError::Missing {
                key: "[smsd] Service".into(),
                hint: String::new(),
            },
            ConfigError::InvalidValue {
                key: "modem.device".into(),
                value: "\"/dev/ttyUSB0\"".into(),
                allowed: String::new(),
            },
            ConfigError::Syntax {
                line: 1,
                message: "x".into(),
            },
        ] {
            assert_eq!(what_to_set(&error, path), None, "{error}");
        }
    }
}
