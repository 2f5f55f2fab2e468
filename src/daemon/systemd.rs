//! systemd integration (sd_notify): READY, STATUS, WATCHDOG, RELOADING and
//! STOPPING. Every call is a no-op when simgate was not started by systemd
//! (no `NOTIFY_SOCKET`), so the daemon can call them unconditionally.

use sd_notify::NotifyState;
use std::time::Duration;

/// The notifier for this process.
#[derive(Debug, Clone)]
pub(crate) struct Systemd {
    enabled: bool,
}

impl Systemd {
    /// Notifies only when `NOTIFY_SOCKET` is set.
    pub(crate) fn from_env() -> Self {
        Self {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some(),
        }
    }

    /// Never notifies (a second modem's loop: the first one speaks for
    /// the process).
    pub(crate) fn disabled() -> Self {
        Self { enabled: false }
    }

    fn notify(&self, states: &[NotifyState<'_>]) {
        if self.enabled {
            if let Err(error) = sd_notify::notify(false, states) {
                tracing::debug!(%error, "sd_notify failed");
            }
        }
    }

    /// The modem is initialised and the daemon serves.
    pub(crate) fn ready(&self) {
        self.notify(&[NotifyState::Ready]);
    }

    /// One line of state for `systemctl status`.
    pub(crate) fn status(&self, line: &str) {
        self.notify(&[NotifyState::Status(line)]);
    }

    /// The main loop made progress.
    pub(crate) fn watchdog(&self) {
        self.notify(&[NotifyState::Watchdog]);
    }

    /// Reloading the configuration (SIGHUP).
    pub(crate) fn reloading(&self) {
        self.notify(&[NotifyState::Reloading]);
    }

    /// Shutting down.
    pub(crate) fn stopping(&self) {
        self.notify(&[NotifyState::Stopping]);
    }

    /// Half the watchdog interval systemd expects pings at, when enabled.
    pub(crate) fn watchdog_interval(&self) -> Option<Duration> {
        let mut usec = 0;
        (self.enabled && sd_notify::watchdog_enabled(false, &mut usec))
            .then(|| Duration::from_micros(usec / 2))
    }
}
