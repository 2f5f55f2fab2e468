//! Why a configuration cannot be used. Every message names the key, the
//! value and what would be accepted, so the user can fix the file without
//! reading the documentation.

use std::path::PathBuf;

/// A configuration simgate refuses to run with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML (and not a gammu file either).
    #[error("syntax error at line {line}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A key has a value simgate does not accept.
    #[error("invalid value {value:?} for `{key}`: expected {allowed}")]
    InvalidValue {
        /// The key, as `[smsd] InboxFormat` or `spool.inbox_format`.
        key: String,
        /// The value as written (`<redacted>` for secrets).
        value: String,
        /// What is accepted, and any hint.
        allowed: String,
    },
    /// A required key is absent.
    #[error("missing `{key}`: {hint}")]
    Missing {
        /// The key.
        key: String,
        /// What to write.
        hint: String,
    },
    /// A valid gammu setting that simgate does not implement.
    #[error("`{key} = {value}` is not supported: {reason}")]
    Unsupported {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A configured path is unusable ([`Config::check_paths`](super::Config::check_paths)).
    #[error("`{key}` = {}: {problem}", path.display())]
    Path {
        /// The key.
        key: String,
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

impl ConfigError {
    /// The key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::InvalidValue { key, .. }
            | Self::Missing { key, .. }
            | Self::Unsupported { key, .. }
            | Self::Path { key, .. } => Some(key),
            Self::Io { .. } | Self::Syntax { .. } => None,
        }
    }
}

/// A [`ConfigError`] that says no more than that the file names no modem
/// yet (see [`crate::unconfigured`]), kept with what was read for the
/// commands that drive one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoModem {
    /// [`ConfigError::Missing`].
    Missing { key: String, hint: String },
    /// [`ConfigError::InvalidValue`] for the placeholder `/dev/null`.
    Placeholder {
        key: String,
        value: String,
        allowed: String,
    },
}

impl NoModem {
    /// `error` as a missing modem, or `error` itself when it says more.
    pub(crate) fn of(error: ConfigError) -> Result<Self, ConfigError> {
        if !crate::unconfigured::names_no_modem(&error) {
            return Err(error);
        }
        match error {
            ConfigError::Missing { key, hint } => Ok(Self::Missing { key, hint }),
            ConfigError::InvalidValue {
                key,
                value,
                allowed,
            } => Ok(Self::Placeholder {
                key,
                value,
                allowed,
            }),
            other => Err(other),
        }
    }
}

impl From<NoModem> for ConfigError {
    fn from(no_modem: NoModem) -> Self {
        match no_modem {
            NoModem::Missing { key, hint } => Self::Missing { key, hint },
            NoModem::Placeholder {
                key,
                value,
                allowed,
            } => Self::InvalidValue {
                key,
                value,
                allowed,
            },
        }
    }
}
