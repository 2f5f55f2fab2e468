//! The sending side of the event loop: a slice of the outbox taken in,
//! the next message due sent ([`super::send`]), parts in doubt resolved,
//! and each outcome reported with its hook.

use super::event_loop::{Daemon, Pause};
use super::hook_env;
use super::send::{self, Outcome};
use super::signals::StopFlag;
use super::state::BudgetWarning;
use super::{DaemonError, DaemonEvent};
use crate::device::{Control, Device, FailureKind};

/// How long before a part in doubt is asked about again, when the device
/// could not tell.
const RESOLVE_AGAIN: std::time::Duration = std::time::Duration::from_secs(1);

impl<D: Device> Daemon<D> {
    /// Takes in a slice of what the outbox has ready, cancels what was
    /// deleted.
    pub(super) async fn process_outbox(&mut self) -> Result<(), DaemonError> {
        let now = self.clock.now();
        let events = self.core(move |core| core.process_outbox(now)).await??;
        if !events.is_empty() {
            self.queue_changed();
        }
        for event in events {
            // A file refused as it was taken in (unreadable, a denied
            // destination) failed too.
            if let DaemonEvent::Failed { .. } = &event {
                self.webhook(crate::webhook::FAILED);
            }
            self.emit(event);
        }
        if self.schedule.outbox_due.is_none() {
            self.status_line().await?;
        }
        Ok(())
    }

    pub(super) fn sender<'a>(
        &'a mut self,
        stop: &'a (dyn Fn() -> bool + Sync),
    ) -> send::Sender<'a, D> {
        send::Sender {
            keeper: &self.keeper,
            config: &self.config,
            device: &self.device,
            clock: &*self.clock,
            tracker: &mut self.tracker,
            stop,
            lane: &self.lane,
            systemd: &self.systemd,
        }
    }

    /// Asks the device about parts that may have gone out.
    pub(super) async fn resolve(&mut self) -> Result<(), DaemonError> {
        let never = || false;
        let outcomes = self.sender(&never).resolve().await?;
        for outcome in outcomes {
            self.report_outcome(outcome);
        }
        self.core(|_| ()).await?;
        self.queue_changed();
        Ok(())
    }

    /// Sends the first message due (one per turn of the loop). A part that
    /// may have gone out is resolved before anything else is sent, since
    /// every send moves the counter that tells.
    pub(super) async fn send_next(&mut self, stop: &StopFlag) -> Result<(), DaemonError> {
        if self.schedule.resolving {
            self.resolve().await?;
            if self.schedule.resolving {
                // The device cannot tell yet: ask it again in a while, not
                // at once (a send due now no longer waits for a timer).
                self.sends_held_until = Some(tokio::time::Instant::now() + RESOLVE_AGAIN);
                return Ok(());
            }
        }
        if stop.is_set() {
            return Ok(());
        }
        if std::mem::take(&mut self.recheck_device) {
            tracing::info!("a send failed for the device's state; initialising it again");
            self.device.control(Control::Reconnect).await;
            self.hold_sends_for_new_session();
            return Ok(());
        }
        let is_stopped = || stop.is_set();
        let (outcome, after) = self.sender(&is_stopped).send_next().await?;
        // What the job left behind: when the next message is due, and a
        // budget warning it gave (read by its last job, or asked now).
        let (warning, failure) = match after {
            Some(send::Afterwards {
                warning,
                schedule,
                failure,
            }) => {
                self.schedule = schedule?;
                (warning, failure)
            }
            None => (self.core(|core| core.budget_warning.take()).await?, None),
        };
        let sent = matches!(outcome, Some(Outcome::Sent { .. }));
        self.pace_after_send(failure, sent);
        if let Some(warning) = warning {
            self.announce_budget_warning(warning);
        }
        if let Some(outcome) = outcome {
            self.report_outcome(outcome);
            self.queue_changed();
        }
        if self.pause_changed {
            self.record_device().await?;
        }
        let now = self.clock.now();
        if self.schedule.next_send.is_none_or(|at| at > now) {
            self.status_line().await?;
        }
        Ok(())
    }

    /// With several modems, a modem whose sends fail transiently while it
    /// looks ready (a stick answering HTTP 500, a SIM the network refuses)
    /// waits before it takes another message, so that the others take the
    /// queue: the first retry delay, doubling while its sends keep failing
    /// ([`super::retry::RetryPolicy::modem_hold`]); a send that goes out
    /// starts it afresh. With one modem nothing waits but the message (its
    /// own retry delay), as before.
    fn pace_after_send(&mut self, failure: Option<FailureKind>, sent: bool) {
        if sent {
            self.failing_sends = 0;
            self.set_pause(None);
            return;
        }
        if failure != Some(FailureKind::Transient) || self.wake.is_none() {
            return;
        }
        self.failing_sends = self.failing_sends.saturating_add(1);
        let hold = send::retry_policy(&self.config).modem_hold(self.failing_sends);
        tracing::warn!(modem = %self.lane.name, failures = self.failing_sends, hold_s = hold.as_secs_f64(), "this modem's sends fail; the other modems take the queue while it waits");
        let until = tokio::time::Instant::now() + hold;
        self.sends_held_until = Some(self.sends_held_until.map_or(until, |held| held.max(until)));
        let reason = match self.failing_sends {
            1 => "its last send failed; the other modems take the queue".to_owned(),
            n => format!("its last {n} sends failed; the other modems take the queue"),
        };
        self.set_pause(Some(Pause {
            until_ms: self.clock.now_ms() + hold.as_millis() as i64,
            reason,
        }));
    }

    /// Notes a new pause (or its end) for the device's status.
    pub(super) fn set_pause(&mut self, pause: Option<Pause>) {
        if self.pause != pause {
            self.pause = pause;
            self.pause_changed = true;
        }
    }

    /// The device was asked for a new session: until it has one, the old
    /// one may still look ready, and a send on it would fail for nothing
    /// (an attempt used, RunOnFailure run). Sends wait for the new session
    /// ([`Self::session_started`] ends the hold), or for the retry delay
    /// if the device makes none.
    pub(super) fn hold_sends_for_new_session(&mut self) {
        let until = tokio::time::Instant::now() + self.config.send.retry_delay;
        self.sends_held_until = Some(self.sends_held_until.map_or(until, |held| held.max(until)));
    }

    /// Logs a budget warning, runs its hook and reports it.
    fn announce_budget_warning(&mut self, warning: BudgetWarning) {
        let BudgetWarning {
            month,
            used,
            budget,
            threshold,
        } = warning;
        tracing::warn!(month = %month, used, budget, threshold, "the monthly budget is nearly used up");
        if let Some(hook) =
            hook_env::on_budget_warning(&self.config.hooks, &month, used, budget, threshold)
        {
            self.hook_queue.run(hook);
        }
        self.webhook(crate::webhook::BUDGET_WARNING);
        self.emit(DaemonEvent::BudgetWarning {
            month,
            used,
            budget,
        });
    }

    /// RunOnFailure for `file` (an outbox file name, or `INIT` for a
    /// device that could not be opened or initialised).
    pub(super) fn run_on_failure(
        queue: &super::hooks::HookQueue,
        hooks: &crate::config::HookSettings,
        file: &str,
    ) {
        if let Some(hook) = hook_env::on_failure(hooks, file) {
            queue.run(hook);
        }
    }

    /// Fails the messages queued longer than `max_age` (a slice of them);
    /// whether more may be (a whole slice went).
    pub(super) async fn expire_old(&mut self) -> Result<bool, DaemonError> {
        let Some(max_age) = self.config.send.max_age else {
            return Ok(false);
        };
        let now = self.clock.now();
        let (outcomes, more) = self
            .core(move |core| send::expire_old(core, max_age, now))
            .await??;
        for outcome in outcomes {
            self.report_outcome(outcome);
            self.queue_changed();
        }
        Ok(more)
    }

    /// Reports an outcome and runs its hook.
    pub(super) fn report_outcome(&mut self, outcome: Outcome) {
        let hooks = &self.config.hooks;
        match outcome {
            Outcome::Sent {
                file,
                recipient,
                parts,
                moved_to,
                taken_in_ms,
            } => {
                let latency = self.clock.now_ms().saturating_sub(taken_in_ms).max(0);
                self.published.update(|snapshot| {
                    snapshot.observe_latency(std::time::Duration::from_millis(latency as u64));
                });
                // The hook reads `sent/$1`: the name the file has there,
                // which is not the outbox name when that was taken.
                let in_sent = moved_to
                    .as_deref()
                    .and_then(std::path::Path::file_name)
                    .map_or_else(|| file.clone(), |name| name.to_string_lossy().into_owned());
                if let Some(hook) = hook_env::on_sent(hooks, &in_sent, &recipient, &parts) {
                    self.hook_queue.run(hook);
                }
                self.webhook(crate::webhook::SENT);
                let references = parts.iter().map(|p| p.reference).collect();
                self.emit(DaemonEvent::Sent { file, references });
            }
            Outcome::Failed { file, reason } => {
                if let Some(hook) = hook_env::on_failure(hooks, &file) {
                    self.hook_queue.run(hook);
                }
                self.webhook(crate::webhook::FAILED);
                self.emit(DaemonEvent::Failed { file, reason });
            }
            Outcome::Cancelled { file, reason } => {
                self.emit(DaemonEvent::Cancelled { file, reason });
            }
            Outcome::Retry {
                file,
                reason,
                attempt_failed,
                ..
            } => {
                if attempt_failed {
                    Self::run_on_failure(&self.hook_queue, hooks, &file);
                }
                self.emit(DaemonEvent::Waiting { file, reason });
            }
            // This modem failed it; the others may send it at once.
            Outcome::TryElsewhere { file, reason } => {
                Self::run_on_failure(&self.hook_queue, hooks, &file);
                self.emit(DaemonEvent::Waiting { file, reason });
            }
            Outcome::Held { file, reason } => {
                self.published
                    .update(|snapshot| snapshot.rate_limit_waits += 1);
                self.emit(DaemonEvent::Waiting { file, reason });
            }
            // The device could not tell at once whether a part went out:
            // asked again in a while, like any later attempt to resolve it.
            // The attempt got no answer: a failed attempt for RunOnFailure.
            Outcome::Resolving { file } => {
                Self::run_on_failure(&self.hook_queue, hooks, &file);
                self.sends_held_until = Some(tokio::time::Instant::now() + RESOLVE_AGAIN);
            }
            Outcome::Interrupted | Outcome::Skipped => {}
            // The message stays for the other modems; this one waits.
            Outcome::ModemBusy { until_ms, reason } => {
                tracing::info!(modem = %self.lane.name, reason = %reason, "this modem is at its own limit; the other modems send meanwhile");
                self.set_pause(Some(Pause {
                    until_ms,
                    reason: format!("at its own limit: {reason}"),
                }));
                let until = super::clock::from_ms(until_ms);
                self.sends_held_until = Some(super::clock::deadline(&*self.clock, until));
            }
            // The device or its SIM is not in a state to send (a SIM that
            // locked itself again after a modem reset, no network): with
            // CheckSecurity, initialise again, which checks the SIM under
            // the PIN guard.
            Outcome::WaitForDevice { file, reason } => {
                Self::run_on_failure(&self.hook_queue, hooks, &file);
                self.recheck_device = self.config.modem.check_sim;
                self.sends_held_until =
                    Some(tokio::time::Instant::now() + self.config.send.retry_delay);
                self.emit(DaemonEvent::Waiting { file, reason });
            }
        }
    }
}
