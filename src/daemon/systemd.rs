//! systemd integration (sd_notify): READY, STATUS, WATCHDOG, RELOADING and
//! STOPPING. Every call is a no-op when simgate was not started by systemd
//! (no `NOTIFY_SOCKET`), so the daemon can call them unconditionally.

use sd_notify::NotifyState;
use std::future::Future;
use std::time::Duration;

/// The notifier for this process.
#[derive(Debug, Clone)]
pub(crate) struct Systemd {
    enabled: bool,
    /// Half the watchdog interval systemd expects pings at, when enabled.
    watchdog: Option<Duration>,
}

impl Systemd {
    /// Notifies only when `NOTIFY_SOCKET` is set.
    pub(crate) fn from_env() -> Self {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some();
        let mut usec = 0;
        let watchdog = (enabled && sd_notify::watchdog_enabled(false, &mut usec))
            .then(|| Duration::from_micros(usec / 2));
        Self { enabled, watchdog }
    }

    /// Never notifies (a second modem's loop: the first one speaks for
    /// the process).
    pub(crate) fn disabled() -> Self {
        Self {
            enabled: false,
            watchdog: None,
        }
    }

    /// Awaits `work`, telling the watchdog meanwhile that the daemon lives,
    /// for at most `bound`: the loop waiting on one exchange with the
    /// device (a send may take the whole send timeout, as long as
    /// systemd's interval) is not hung; one that waits past the
    /// exchange's own timeouts is, and then systemd is let see it.
    pub(crate) async fn alive_during<F: Future>(&self, work: F, bound: Duration) -> F::Output {
        match self.watchdog {
            Some(period) => pinging_during(work, period, bound, || self.watchdog()).await,
            None => work.await,
        }
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
        self.watchdog
    }
}

/// Awaits `work`, calling `ping` every `period` meanwhile, for at most
/// `bound` (logged when passed).
async fn pinging_during<F: Future>(
    work: F,
    period: Duration,
    bound: Duration,
    mut ping: impl FnMut(),
) -> F::Output {
    tokio::pin!(work);
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let give_up = tokio::time::sleep(bound);
    tokio::pin!(give_up);
    let mut pinging = true;
    loop {
        tokio::select! {
            biased;
            done = &mut work => return done,
            () = &mut give_up, if pinging => {
                tracing::warn!(?bound, "an exchange with the device outlasted its timeouts; no longer telling the watchdog the daemon lives");
                pinging = false;
            }
            _ = pings.tick(), if pinging => ping(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pings come at the period while the work lasts, and stop at the
    /// bound: a wait past it is a hang for systemd to see.
    #[tokio::test(start_paused = true)]
    async fn pings_while_the_work_lasts_and_stop_at_the_bound() {
        let second = Duration::from_secs(1);
        let mut pings = 0;
        let answer = pinging_during(
            async {
                tokio::time::sleep(second * 10).await;
                7
            },
            second,
            second * 4 + second / 2,
            || pings += 1,
        )
        .await;
        assert_eq!(answer, 7);
        assert_eq!(pings, 4, "at 1, 2, 3 and 4 s; none after the bound");
        let mut pings = 0;
        pinging_during(
            tokio::time::sleep(second * 3 + second / 2),
            second,
            second * 60,
            || pings += 1,
        )
        .await;
        assert_eq!(pings, 3, "none once the work is done");
    }
}
