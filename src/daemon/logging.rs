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
    use std::io::IsTerminal;
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colours for a person at a terminal; files, pipes and the journal
        // get plain text.
        .with_ansi(std::io::stderr().is_terminal())
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Log capture for unit tests: one global subscriber, installed by the
/// first capture, that writes each event to the capture of the thread that
/// emitted it (a current-thread runtime polls every task on its thread).
///
/// Global, not `tracing::subscriber::set_default`: with a single scoped
/// subscriber alive, tracing computes a callsite's interest from the
/// default of whichever thread reaches it first, so a test running in
/// parallel without a subscriber can switch the callsite off for all.
#[cfg(test)]
pub(crate) mod capture {
    use std::cell::RefCell;
    use std::sync::{Arc, Mutex};

    thread_local! {
        static SINK: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
    }

    struct ThreadSink;

    impl std::io::Write for ThreadSink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            SINK.with(|sink| {
                if let Some(sink) = sink.borrow().as_ref() {
                    sink.lock().unwrap().extend_from_slice(buf);
                }
            });
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What this thread logged since [`start`]; capturing stops on drop.
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        pub(crate) fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    impl Drop for Captured {
        fn drop(&mut self) {
            SINK.with(|sink| sink.borrow_mut().take());
        }
    }

    /// Captures this thread's log lines (every level, no colours).
    pub(crate) fn start() -> Captured {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::TRACE)
                .with_writer(|| ThreadSink)
                .init();
        });
        let buffer = Arc::new(Mutex::new(Vec::new()));
        SINK.with(|sink| *sink.borrow_mut() = Some(buffer.clone()));
        Captured(buffer)
    }
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
