//! Where logs go: journald when systemd started simgate (`JOURNAL_STREAM`),
//! a file when the configuration names one, syslog for `LogFile = syslog`
//! (datagrams on `/dev/log` with the configured facility; standard error,
//! with one warning, when there is no syslog), stderr otherwise. Colour
//! codes only reach a terminal. Phone numbers and message text are shown
//! through [`Redact`], which hides them unless debug logging is on:
//! journald and syslog keep logs for a long time. A log file is opened
//! again on SIGHUP ([`reopen`]), for logrotate.

use crate::config::SyslogFacility;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use std::sync::{Mutex, PoisonError};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The local syslog socket.
pub(crate) const DEV_LOG: &str = "/dev/log";

/// Longest message sent to syslog, in bytes; longer ones are cut (syslog
/// daemons cut or drop long datagrams themselves, rsyslog at 8 KiB).
const SYSLOG_MAX_MESSAGE: usize = 8192;

pub(crate) use crate::redact::Redact;

/// Where to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// journald if `JOURNAL_STREAM` says systemd connected us to it, else stderr.
    Auto,
    /// Append to this file (a gammu config's LogFile).
    File(std::path::PathBuf),
    /// Standard output (`LogFile = stdout`).
    Stdout,
    /// syslog datagrams on `socket` ([`DEV_LOG`]; tests name their own).
    Syslog {
        /// The facility every line is logged with.
        facility: SyslogFacility,
        /// The syslog daemon's datagram socket.
        socket: PathBuf,
    },
}

/// Installs the global subscriber. `level` is a tracing filter (`info`,
/// `debug`, `simgate=trace`...); `RUST_LOG` overrides it. Debug level also
/// un-redacts numbers and text.
pub(crate) fn init(level: &str, target: &Target) -> std::io::Result<()> {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref(), level);
    let debug = most_verbose(&filter) >= LevelFilter::DEBUG;
    crate::redact::set_show_private(debug);
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let result = match target {
        Target::Auto if std::env::var_os("JOURNAL_STREAM").is_some() => {
            match tracing_journald::layer() {
                Ok(journald) => registry.with(journald).try_init(),
                Err(_) => registry.with(stderr_layer()).try_init(),
            }
        }
        Target::Auto => registry.with(stderr_layer()).try_init(),
        Target::Stdout => {
            use std::io::IsTerminal;
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::io::stdout)
                        .with_target(false)
                        .with_ansi(std::io::stdout().is_terminal()),
                )
                .try_init()
        }
        Target::File(path) => {
            let file = open_log(path)?;
            let log = match FILE_LOG.get() {
                Some(log) => {
                    *log.file.lock().unwrap_or_else(PoisonError::into_inner) = file;
                    log
                }
                None => FILE_LOG.get_or_init(|| FileLog {
                    file: Mutex::new(file),
                    failing: std::sync::atomic::AtomicBool::new(false),
                }),
            };
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(FileLogWriter(log)),
                )
                .try_init()
        }
        Target::Syslog { facility, socket } => match Syslog::connect(socket, *facility) {
            Ok(syslog) => registry.with(syslog_layer(syslog)).try_init(),
            Err(error) => {
                let result = registry.with(stderr_layer()).try_init();
                tracing::warn!(
                    socket = %socket.display(),
                    %error,
                    "LogFile = syslog, but syslog cannot be reached: logging to standard error"
                );
                result
            }
        },
    };
    // A second init (tests) keeps the first subscriber.
    if result.is_ok() {
        let _ = LEVEL.set(handle);
    }
    Ok(())
}

/// The installed subscriber's filter, for [`set_level`].
static LEVEL: std::sync::OnceLock<
    tracing_subscriber::reload::Handle<Targets, tracing_subscriber::Registry>,
> = std::sync::OnceLock::new();

/// SIGHUP: `level` from now on (`RUST_LOG`, when set, still overrides it,
/// as at start), debug un-redacting as at start.
pub(crate) fn set_level(level: &str) {
    let Some(handle) = LEVEL.get() else {
        return;
    };
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref(), level);
    let debug = most_verbose(&filter) >= LevelFilter::DEBUG;
    if handle.reload(filter).is_ok() {
        crate::redact::set_show_private(debug);
    }
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

/// The filter: `rust_log` (`RUST_LOG`) when it is set and well-formed,
/// else `level`. Either is a level (`info`) or comma-separated
/// `target=level` directives with an optional default level
/// (`simgate::modem=trace,info`). tracing-subscriber's `EnvFilter` read
/// the same plus span and field filters, at the price of the regex
/// engine: 0.2 MB of code in the daemon's resident memory
/// (benches/README.md, "Memory").
fn filter(rust_log: Option<&str>, level: &str) -> Targets {
    rust_log
        .and_then(|directives| directives.parse().ok())
        .or_else(|| level.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// The most verbose level `filter` lets through anywhere.
fn most_verbose(filter: &Targets) -> LevelFilter {
    filter
        .iter()
        .map(|(_, level)| level)
        .chain(filter.default_level())
        .max()
        .unwrap_or(LevelFilter::OFF)
}
/// The syslog writer as a tracing layer: the message and its fields, no
/// time or level (syslog stamps the time; the level is the severity).
fn syslog_layer<S>(syslog: Syslog) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(syslog)
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(false)
}

/// syslog's numeric facility (RFC 3164 §4.1.1).
fn facility_code(facility: SyslogFacility) -> u8 {
    match facility {
        SyslogFacility::User => 1,
        SyslogFacility::Daemon => 3,
        SyslogFacility::Local(n) => 16 + n.min(7),
    }
}

/// syslog's severity for a tracing level: err, warning, notice, debug (as
/// gammu-smsd logs its errors at err and its messages at notice).
fn severity(level: &tracing::Level) -> u8 {
    match *level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 5,
        _ => 7,
    }
}

/// One datagram: `<PRI>simgate[PID]: message`, the message cut to
/// [`SYSLOG_MAX_MESSAGE`] bytes at a character boundary.
fn datagram(facility: u8, severity: u8, pid: u32, message: &[u8]) -> Vec<u8> {
    let mut end = message.len().min(SYSLOG_MAX_MESSAGE);
    while end < message.len() && end > 0 && message[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    let mut datagram = format!("<{}>simgate[{pid}]: ", facility * 8 + severity).into_bytes();
    datagram.extend_from_slice(&message[..end]);
    datagram
}

/// Writes log lines to the local syslog daemon's datagram socket.
#[derive(Debug)]
pub(crate) struct Syslog {
    path: PathBuf,
    facility: u8,
    pid: u32,
    socket: Mutex<UnixDatagram>,
}

impl Syslog {
    /// Connects to the syslog socket at `path`; fails when there is none.
    pub(crate) fn connect(path: &Path, facility: SyslogFacility) -> std::io::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            facility: facility_code(facility),
            pid: std::process::id(),
            socket: Mutex::new(connect_datagram(path)?),
        })
    }

    /// Sends one message. A syslog daemon that restarted has a new socket:
    /// connect again once; if syslog is gone, the line goes to stderr.
    fn send(&self, severity: u8, message: &[u8]) {
        let datagram = datagram(self.facility, severity, self.pid, message);
        let mut socket = self.socket.lock().unwrap_or_else(PoisonError::into_inner);
        if socket.send(&datagram).is_ok() {
            return;
        }
        if let Ok(fresh) = connect_datagram(&self.path) {
            *socket = fresh;
            if socket.send(&datagram).is_ok() {
                return;
            }
        }
        // Without the `<PRI>`, as gammu-smsd echoes lines to stderr.
        let start = datagram
            .iter()
            .position(|&b| b == b'>')
            .map_or(0, |p| p + 1);
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(&datagram[start..]);
        let _ = stderr.write_all(b"\n");
    }
}

fn connect_datagram(path: &Path) -> std::io::Result<UnixDatagram> {
    let socket = UnixDatagram::unbound()?;
    socket.connect(path)?;
    Ok(socket)
}

/// One event's text, sent as one datagram when the formatter is done.
pub(crate) struct SyslogLine<'a> {
    syslog: &'a Syslog,
    severity: u8,
    text: Vec<u8>,
}

impl std::io::Write for SyslogLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine<'_> {
    fn drop(&mut self) {
        while self.text.last() == Some(&b'\n') {
            self.text.pop();
        }
        if !self.text.is_empty() {
            self.syslog.send(self.severity, &self.text);
        }
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        SyslogLine {
            syslog: self,
            severity: severity(&tracing::Level::INFO),
            text: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        SyslogLine {
            syslog: self,
            severity: severity(meta.level()),
            text: Vec::new(),
        }
    }
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// The log file, when logging goes to one: opened again on SIGHUP
/// ([`reopen`]), as gammu-smsd does, so logrotate can move it away and
/// signal.
struct FileLog {
    file: Mutex<std::fs::File>,
    /// Whether the last line could not be written (a full disk).
    failing: std::sync::atomic::AtomicBool,
}

static FILE_LOG: std::sync::OnceLock<FileLog> = std::sync::OnceLock::new();

/// Each line to the log file open at the time.
#[derive(Clone, Copy)]
struct FileLogWriter(&'static FileLog);

impl<'a> MakeWriter<'a> for FileLogWriter {
    type Writer = FileLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        FileLine {
            file: self.0.file.lock().unwrap_or_else(PoisonError::into_inner),
            failing: &self.0.failing,
        }
    }
}

/// One line on its way to the log file. A line that cannot be written (a
/// full disk) is lost, as with any log file; that lines are being lost,
/// and that they are written again, is said once each on standard error
/// (the journal under systemd), where tracing would say nothing.
struct FileLine<'a> {
    file: std::sync::MutexGuard<'a, std::fs::File>,
    failing: &'a std::sync::atomic::AtomicBool,
}

impl std::io::Write for FileLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.file.write(buf);
        if let Some(notice) = write_notice(&result, self.failing) {
            let _ = writeln!(std::io::stderr(), "simgate: {notice}");
        }
        result
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// What to say about a write to the log file, given its `result` and
/// whether the one before failed (`failing`, updated): the first failure
/// and the first success after failures, nothing otherwise.
fn write_notice(
    result: &std::io::Result<usize>,
    failing: &std::sync::atomic::AtomicBool,
) -> Option<String> {
    use std::sync::atomic::Ordering::Relaxed;
    match result {
        Err(error) if !failing.swap(true, Relaxed) => Some(format!(
            "cannot write the log file ({error}); its lines are lost until it can be written"
        )),
        Ok(_) if failing.swap(false, Relaxed) => {
            Some("the log file is written again; lines were lost before this one".to_owned())
        }
        _ => None,
    }
}

/// Opens the log file again at `path` (the configured one, which a reload
/// may have changed), for the lines from now on: `None` when logging does
/// not go to a file; an error leaves the open one in use.
pub(crate) fn reopen(path: &Path) -> Option<std::io::Result<()>> {
    let log = FILE_LOG.get()?;
    Some(open_log(path).map(|file| {
        *log.file.lock().unwrap_or_else(PoisonError::into_inner) = file;
    }))
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

    /// A full disk under the log file is said once, and its end once.
    #[test]
    fn lines_lost_to_the_log_file_are_said_once_and_their_end_once() {
        let failing = std::sync::atomic::AtomicBool::new(false);
        let full = || Err(std::io::Error::from_raw_os_error(28));
        assert_eq!(write_notice(&Ok(10), &failing), None);
        let first = write_notice(&full(), &failing).expect("the first failure said");
        assert!(first.contains("cannot write the log file"), "{first}");
        assert!(first.contains("No space left on device"), "{first}");
        assert_eq!(write_notice(&full(), &failing), None);
        let back = write_notice(&Ok(10), &failing).expect("the end said");
        assert!(back.contains("written again"), "{back}");
        assert_eq!(write_notice(&Ok(10), &failing), None);
    }

    /// Through the writer tracing is given: a log file on /dev/full.
    #[test]
    fn a_log_file_on_a_full_device_fails_its_writes() {
        let log: &'static FileLog = Box::leak(Box::new(FileLog {
            file: Mutex::new(open_log(Path::new("/dev/full")).unwrap()),
            failing: std::sync::atomic::AtomicBool::new(false),
        }));
        let writer = FileLogWriter(log);
        assert!(writer.make_writer().write_all(b"a line\n").is_err());
        assert!(log.failing.load(std::sync::atomic::Ordering::Relaxed));
    }

    #[test]
    fn the_filter_is_rust_log_when_well_formed_else_the_configured_level() {
        let levels = |f: &Targets| (f.default_level(), most_verbose(f));
        assert_eq!(
            levels(&filter(None, "info")),
            (Some(LevelFilter::INFO), LevelFilter::INFO)
        );
        assert_eq!(
            levels(&filter(Some("debug"), "info")),
            (Some(LevelFilter::DEBUG), LevelFilter::DEBUG)
        );
        // Per target, with a default: the most verbose decides whether
        // numbers and text are shown.
        let targeted = filter(Some("simgate::modem=trace,warn"), "info");
        assert_eq!(
            levels(&targeted),
            (Some(LevelFilter::WARN), LevelFilter::TRACE)
        );
        assert!(targeted.would_enable("simgate::modem::session", &tracing::Level::TRACE));
        assert!(!targeted.would_enable("simgate::daemon", &tracing::Level::INFO));
        // A malformed RUST_LOG is ignored, as EnvFilter ignored it.
        assert_eq!(
            levels(&filter(Some("simgate=loud"), "debug")),
            (Some(LevelFilter::DEBUG), LevelFilter::DEBUG)
        );
        assert_eq!(
            levels(&filter(Some("simgate=loud"), "simgate=loud")),
            (Some(LevelFilter::INFO), LevelFilter::INFO)
        );
    }

    /// A datagram socket standing in for /dev/log, in a fresh folder.
    fn fake_dev_log(name: &str) -> (PathBuf, UnixDatagram) {
        let dir =
            std::env::temp_dir().join(format!("simgate-syslog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        (path, socket)
    }

    fn receive(socket: &UnixDatagram) -> String {
        let mut buffer = [0u8; 65536];
        let n = socket.recv(&mut buffer).expect("a datagram");
        String::from_utf8(buffer[..n].to_vec()).unwrap()
    }

    #[test]
    fn syslog_datagrams_carry_facility_and_severity() {
        let (path, dev_log) = fake_dev_log("pri");
        let pid = std::process::id();
        let syslog = Syslog::connect(&path, SyslogFacility::Local(3)).unwrap();
        let subscriber = tracing_subscriber::registry().with(syslog_layer(syslog));
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(code = 2, "an error");
            tracing::warn!("a warning");
            tracing::info!("some news");
            tracing::debug!("a detail");
            tracing::trace!("AT traffic");
        });
        // local3 = 19; err 3, warning 4, notice 5, debug 7.
        for (pri, text) in [
            (155, "an error code=2"),
            (156, "a warning"),
            (157, "some news"),
            (159, "a detail"),
            (159, "AT traffic"),
        ] {
            assert_eq!(receive(&dev_log), format!("<{pri}>simgate[{pid}]: {text}"));
        }
        for (facility, pri) in [(SyslogFacility::Daemon, 29), (SyslogFacility::User, 13)] {
            let syslog = Syslog::connect(&path, facility).unwrap();
            let subscriber = tracing_subscriber::registry().with(syslog_layer(syslog));
            tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
            assert_eq!(receive(&dev_log), format!("<{pri}>simgate[{pid}]: hello"));
        }
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn syslog_reconnects_after_a_restart_and_cuts_long_messages() {
        let (path, dev_log) = fake_dev_log("restart");
        let syslog = Syslog::connect(&path, SyslogFacility::Daemon).unwrap();
        syslog.send(5, b"before");
        assert!(receive(&dev_log).ends_with(": before"));
        // The daemon restarts: a new socket at the same path.
        drop(dev_log);
        std::fs::remove_file(&path).unwrap();
        let dev_log = UnixDatagram::bind(&path).unwrap();
        dev_log
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let long = "é".repeat(SYSLOG_MAX_MESSAGE);
        syslog.send(5, long.as_bytes());
        let got = receive(&dev_log);
        let message = got.split_once(": ").unwrap().1;
        assert_eq!(message, "é".repeat(SYSLOG_MAX_MESSAGE / 2));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn no_syslog_socket_is_an_error_to_fall_back_on() {
        let path = std::env::temp_dir().join(format!("simgate-no-syslog-{}", std::process::id()));
        let error = Syslog::connect(&path, SyslogFacility::Daemon).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    }
}
