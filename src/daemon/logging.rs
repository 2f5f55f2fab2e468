//! Where logs go: journald when systemd started simgate (`JOURNAL_STREAM`),
//! a file when a gammu config names a LogFile, stderr otherwise. Phone
//! numbers and message text are shown through [`Redact`], which hides them
//! unless debug logging is on: journald keeps logs for a long time.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

static SHOW_PRIVATE: AtomicBool = AtomicBool::new(false);

/// Shows its value only when debug logging is on; `[redacted]` otherwise.
pub struct Redact<T>(pub T);

impl<T: fmt::Display> fmt::Display for Redact<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if SHOW_PRIVATE.load(Ordering::Relaxed) {
            self.0.fmt(f)
        } else {
            f.write_str("[redacted]")
        }
    }
}

impl<T: fmt::Display> fmt::Debug for Redact<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// journald if `JOURNAL_STREAM` says systemd connected us to it, else stderr.
    Auto,
    /// Append to this file (a gammu config's LogFile).
    File(std::path::PathBuf),
    /// Standard error.
    Stderr,
}

/// Installs the global subscriber. `level` is a tracing filter (`info`,
/// `debug`, `simgate=trace`...); `RUST_LOG` overrides it. Debug level also
/// un-redacts numbers and text.
pub fn init(level: &str, target: &Target) -> std::io::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let debug = filter
        .max_level_hint()
        .is_some_and(|max| max >= tracing::level_filters::LevelFilter::DEBUG);
    SHOW_PRIVATE.store(debug, Ordering::Relaxed);
    let registry = tracing_subscriber::registry().with(filter);
    let result = match target {
        Target::Auto if std::env::var_os("JOURNAL_STREAM").is_some() => {
            match tracing_journald::layer() {
                Ok(journald) => registry.with(journald).try_init(),
                Err(_) => registry.with(stderr_layer()).try_init(),
            }
        }
        Target::Auto | Target::Stderr => registry.with(stderr_layer()).try_init(),
        Target::File(path) => {
            let file = open_log(path)?;
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(std::sync::Mutex::new(file)),
                )
                .try_init()
        }
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
    Ok(())
}

fn stderr_layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_follows_the_debug_switch() {
        SHOW_PRIVATE.store(false, Ordering::Relaxed);
        assert_eq!(Redact("+4917612345678").to_string(), "[redacted]");
        assert_eq!(format!("{:?}", Redact("secret text")), "[redacted]");
        SHOW_PRIVATE.store(true, Ordering::Relaxed);
        assert_eq!(Redact("+4917612345678").to_string(), "+4917612345678");
        SHOW_PRIVATE.store(false, Ordering::Relaxed);
    }
}
