//! What the daemon owns that blocks, kept by [`super::keeper`]: the
//! configuration as the keeper's jobs see it, the SQLite store, the outbox
//! (the files seen there, claims and moves) and the incoming filters. Every job
//! the event loop hands over works on a [`Core`], and leaves behind the
//! [`Schedule`] the loop waits on.

use super::filter::Filters;
use super::lanes::Lane;
use super::outbox::{self, Outbox};
use super::receive::{self, ReceiveError, Received};
use super::DaemonEvent;
use crate::config::Config;
use crate::redact::Scrub;
use crate::store::{Counts, Store, StoreError};
use std::sync::Arc;
use std::time::SystemTime;

/// Ready outbox files taken in per job: a burst is taken in a slice at a
/// time, so sending starts after the first slice, and a `+CMTI`, a signal
/// or the watchdog never waits for more than one slice.
pub(super) const INTAKE_SLICE: usize = 32;

/// The state the keeper owns.
pub(super) struct Core {
    /// The configuration (replaced on SIGHUP).
    pub(super) config: Arc<Config>,
    /// The database.
    pub(super) store: Store,
    /// The outbox and its watch (`None` with `Send = no`).
    pub(super) outbox: Option<Outbox>,
    /// Incoming filters, loaded at start and on SIGHUP.
    pub(super) filters: Filters,
    /// The time zone the budget's months are counted in.
    pub(super) zone: jiff::tz::TimeZone,
    /// A budget warning a send gave, for the loop to announce.
    pub(super) budget_warning: Option<BudgetWarning>,
    /// The user's own messages found on the device and left there.
    pub(super) own_messages: super::receive::OwnMessages,
    /// With several modems: the modems each queued message failed on
    /// transiently, for [`super::retry::left_to_another`]. In memory only
    /// (a restart spares each modem's failure once more); an entry goes
    /// when its message is sent or given up.
    pub(super) failed_on: std::collections::HashMap<i64, Vec<String>>,
}

/// The month's parts reached the budget's warning threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BudgetWarning {
    /// The month, `YYYY-MM`.
    pub(super) month: String,
    /// Parts used, the message that reached it included.
    pub(super) used: u64,
    /// The budget.
    pub(super) budget: u32,
    /// The threshold, in parts.
    pub(super) threshold: u64,
}

/// How long the parts the budget counted are kept (the budget reads the
/// current month only).
const PARTS_USED_KEPT_MS: i64 = 400 * 86_400_000;

/// When the daemon has work next, as the keeper saw it after its last job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Schedule {
    /// When the next queued message falls due.
    pub(super) next_send: Option<SystemTime>,
    /// Whether parts that may have gone out wait to be resolved.
    pub(super) resolving: bool,
    /// When the outbox has work next.
    pub(super) outbox_due: Option<SystemTime>,
    /// Whether the outbox's watch is dead (its folder missing).
    pub(super) watch_dead: bool,
}

/// What a restart found to do (see [`Core::start`]).
#[derive(Debug, Default)]
pub(super) struct Started {
    /// Messages written now: their hooks are to run.
    pub(super) received: Vec<Received>,
    /// Messages written before whose hooks never started.
    pub(super) hooks: Vec<Received>,
    /// Why some messages could not be written (tried again later).
    pub(super) write_error: Option<ReceiveError>,
}

/// What the status line counts.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Tally {
    pub(super) outgoing: Counts,
    pub(super) received: u64,
    pub(super) undecodable: u64,
}

impl Core {
    /// The configuration, the store and the outbox, borrowed apart for a
    /// job that works on all three; `None` without an outbox (`Send = no`).
    pub(super) fn with_outbox(&mut self) -> Option<(&Config, &mut Store, &mut Outbox)> {
        let outbox = self.outbox.as_mut()?;
        Some((&self.config, &mut self.store, outbox))
    }

    /// When there is work next.
    pub(super) fn schedule(&self, lane: &Lane) -> Result<Schedule, StoreError> {
        let outbox = self.outbox.as_ref();
        Ok(Schedule {
            next_send: self
                .store
                .next_due_ms_on(lane.route())?
                .map(super::clock::from_ms),
            resolving: self
                .store
                .resolving()?
                .iter()
                .any(|part| lane.settles(part.modem.as_deref())),
            outbox_due: outbox.and_then(Outbox::next_due),
            watch_dead: outbox.is_some_and(Outbox::watch_dead),
        })
    }

    /// What a restart owes: parts left `sending` wait for the device to
    /// tell; claimed files go back to outbox/ or on to sent/ and error/;
    /// temporary files of a killed simgate go; inbox files not written yet
    /// are written; hooks never started are found.
    pub(super) fn start(&mut self, now: SystemTime) -> Result<Started, StoreError> {
        let now_ms = outbox::ms(now);
        // Recorded later than now: the calendar went back while stopped.
        if let Some(step_ms) =
            super::clock::set_back_since(self.store.latest_recorded_ms()?, now_ms)
        {
            self.calendar_stepped(step_ms, now_ms)?;
        }
        let resolving = match self.outbox.as_mut() {
            Some(outbox) => outbox.recover(&self.config, &mut self.store, now)?,
            None => self.store.recover(now_ms)?,
        };
        if !resolving.is_empty() {
            tracing::warn!(
                count = resolving.len(),
                "messages interrupted mid-send: the device will be asked whether they went out"
            );
        }
        self.remove_orphaned_temps();
        // The budget reads one month; what is over a year old is history.
        self.store
            .forget_parts_used_before(now_ms - PARTS_USED_KEPT_MS)?;
        let mut started = Started::default();
        self.store.mark_start()?;
        match receive::finish_unwritten(&self.config, &mut self.store, now_ms) {
            Ok(written) => started.received = written,
            Err((written, error)) => {
                started.received = written;
                started.write_error = Some(error);
            }
        }
        match receive::complete_recorded(&self.config, &mut self.store, now_ms) {
            Ok(written) => started.received.extend(written),
            Err(error) => started.write_error = Some(error),
        }
        match receive::pending_hooks(&self.store) {
            Ok(pending) => started.hooks = pending,
            Err(error) => {
                tracing::error!(error = %Scrub(&error), "cannot read which hooks are pending")
            }
        }
        Ok(started)
    }

    /// The calendar was set by `step_ms` (forward positive, back
    /// negative; noticed at start, or by the loop while running): the
    /// waits still to come move with it, so none changes its length.
    pub(super) fn calendar_stepped(&mut self, step_ms: i64, now_ms: i64) -> Result<(), StoreError> {
        let moved = self.store.calendar_stepped(step_ms, now_ms)?;
        tracing::warn!(
            step_seconds = step_ms / 1000,
            waiting = moved.waiting,
            unfinished = moved.unfinished,
            incomplete = moved.incomplete,
            counted = moved.counted,
            webhooks = moved.webhooks,
            "the clock was {}; what waits keeps its wait in real time (retries, rate limits, max_age, long messages, webhooks)",
            if step_ms < 0 { "set back" } else { "set forward" }
        );
        Ok(())
    }

    /// Removes temporary files a killed simgate left in the spool folders
    /// it writes into (their contents were never renamed into place, and
    /// are rewritten from the database), and in the outbox those of a
    /// `simgate send` or an HTTP API killed mid-write (part of a message
    /// that was never queued; its sender got no success).
    fn remove_orphaned_temps(&self) {
        let spool = &self.config.spool;
        let dirs = [
            Some(&spool.outbox),
            Some(&spool.inbox),
            spool.sent.as_ref(),
            spool.error.as_ref(),
        ];
        for dir in dirs.into_iter().flatten() {
            match crate::spool::fs::remove_orphaned_temps(dir, None) {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::info!(dir = %dir.display(), removed, "removed temporary files of a killed simgate or simgate send")
                }
                Err(error) => {
                    tracing::warn!(error = %Scrub(&error), "cannot remove temporary files")
                }
            }
        }
    }

    /// Takes in what the outbox has ready (one slice), cancels what was
    /// deleted, moves finished files that wait.
    pub(super) fn process_outbox(
        &mut self,
        now: SystemTime,
    ) -> Result<Vec<DaemonEvent>, StoreError> {
        let Some(outbox) = self.outbox.as_mut() else {
            return Ok(Vec::new());
        };
        outbox.process(&self.config, &mut self.store, now, INTAKE_SLICE)
    }

    /// The counts for the status line.
    pub(super) fn tally(&self) -> Result<Tally, StoreError> {
        Ok(Tally {
            outgoing: self.store.counts()?,
            received: self.store.received_count()?,
            undecodable: self.store.undecodable_count()?,
        })
    }

    /// Records that RunOnReceive was started for these messages.
    pub(super) fn hooks_started(&mut self, ids: &[i64]) {
        for &id in ids {
            if let Err(error) = self.store.hook_started(id) {
                tracing::error!(error = %Scrub(&error), "cannot record that RunOnReceive was started");
            }
        }
    }
}
