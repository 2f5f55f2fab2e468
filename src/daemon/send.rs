//! Sending one queued message: claim its file (it waited in outbox/ under
//! its own name), plan its parts again (planning is deterministic, and the
//! concatenation reference comes from the row id, so a resumed message
//! matches the parts already sent), send each part not yet sent, record
//! every transition, decide what a failure means, and move the file on.
//!
//! The steps that touch the database or the files run on the keeper's
//! thread ([`super::keeper`]), each one commit; the device is asked on the
//! event loop in between. A message of one part costs one synced commit in
//! a burst: the part is recorded `sending` (synced, before its PDU goes
//! out), and what follows the send (the part sent, the message finished,
//! its file moved) is synced by the next message's commit, or at once when
//! no message follows. The `sending` mark's fsync is waited for outside
//! the keeper and shared with what the other modems commit meanwhile
//! ([`crate::store::Store::batch_grouped`]), so it holds up only the modem
//! that waits for it.
//!
//! A part whose PDU reached the modem without an answer saying it went out
//! is *resolving*: the modem's TP-MR counter, read back from the SIM, tells
//! whether it went out ([`super::tp_mr`]); only when it cannot tell is the
//! send ambiguous for good (error/, never resent).

use super::budget;
use super::clock::Clock;
use super::hook_env::SentPart;
use super::keeper::Keeper;
use super::lanes::{InDoubt, Lane};
use super::limits;
use super::outbox::{self, Finished};
use super::retry::{Decision, RetryPolicy};
use super::state::{BudgetWarning, Core};
use super::systemd::Systemd;
use super::tp_mr::{self, Counter, Resolution};
use super::webhooks;
use crate::config::{AmbiguousPolicy, Config};
use crate::daemon::logging::Redact;
use crate::device::{Device, FailureKind};
use crate::pdu::{EncodedPdu, SmsSubmit};
use crate::redact::Scrub;
use crate::spool::fs::Flush;
use crate::spool::{self, fs as spool_fs, OutgoingMessage};
use crate::store::{Durability, Outgoing, PartState, Resolving, StoreError, Ticket};
use crate::webhook;
use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How a send attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Every part went out; the file is in sent/.
    Sent {
        /// The outbox file name.
        file: String,
        /// The recipient.
        recipient: String,
        /// Each part: its TP-MR, text and class.
        parts: Vec<SentPart>,
        /// Where the file went (None: deleted, as configured, or its move
        /// is still to be done).
        moved_to: Option<std::path::PathBuf>,
        /// When its file was taken in (ms since the epoch), for the send
        /// latency.
        taken_in_ms: i64,
    },
    /// Queued again for later; the file is back in outbox/.
    Retry {
        /// The outbox file name.
        file: String,
        /// Why.
        reason: String,
        /// How long until the next attempt.
        delay: Duration,
        /// An attempt at the device failed (not a hold before any
        /// attempt): RunOnFailure runs, as gammu-smsd runs it after each
        /// failed attempt.
        attempt_failed: bool,
    },
    /// Held back by a rate limit; the file stays in outbox/.
    Held {
        /// The outbox file name.
        file: String,
        /// Which limit, and how long it waits.
        reason: String,
    },
    /// This modem failed it transiently and another modem could send it:
    /// no attempt counted, due at once for the others
    /// ([`super::retry::left_to_another`]).
    TryElsewhere {
        /// The outbox file name.
        file: String,
        /// Why.
        reason: String,
    },
    /// The modem cannot send now; try again after the first retry delay.
    WaitForDevice {
        /// The outbox file name.
        file: String,
        /// Why.
        reason: String,
    },
    /// Given up; the file is in error/.
    Failed {
        /// The outbox file name.
        file: String,
        /// Why.
        reason: String,
    },
    /// A part may have gone out: the modem is asked (see the module docs).
    Resolving {
        /// The outbox file name.
        file: String,
    },
    /// Its file was deleted or replaced before it went out.
    Cancelled {
        /// The outbox file name.
        file: String,
        /// Why.
        reason: String,
    },
    /// Shutting down between parts; the rest waits in the queue.
    Interrupted,
    /// Nothing to do (no longer queued).
    Skipped,
    /// This modem is at one of its own rate limits until `until_ms`; the
    /// message stays queued for the others.
    ModemBusy {
        /// When it may send again (ms since the epoch).
        until_ms: i64,
        /// Which limit.
        reason: String,
    },
}

/// What the daemon knows of the modem's TP-MR counter in this session.
#[derive(Debug, Clone)]
pub(super) struct MrTracker {
    /// The TP-MR the modem used last, when known.
    last: Option<u8>,
    /// Whether the SIM's EF_SMSS can be read at all.
    readable: bool,
    /// Whether it follows the sends.
    counter: Counter,
    /// The modem's IMEI, under which that is remembered.
    modem: String,
    /// Failed attempts to read the counter for a resolving part.
    failed_reads: HashMap<(i64, u32), u32>,
}

/// Reads of the counter that may fail (the modem hung) before a resolving
/// part is given up as ambiguous.
const RESOLVE_READS: u32 = 3;

impl MrTracker {
    /// The state for a new modem session, with what the database
    /// remembers of this modem.
    pub(super) async fn new(keeper: &Keeper<Core>, imei: Option<&str>, readable: bool) -> Self {
        let modem = imei.unwrap_or("unknown").to_owned();
        let key = modem.clone();
        let counter = keeper
            .call(move |core| core.store.modem_fact(&key, "tp-mr-counter"))
            .await
            .ok()
            .flatten()
            .map_or(Counter::Unknown, |v| Counter::parse(&v));
        Self {
            last: None,
            readable,
            counter,
            modem,
            failed_reads: HashMap::new(),
        }
    }

    /// The TP-MR used last before a send, reading it from the device when
    /// it is not known (once per session, and after a failure).
    async fn before_send<D: Device>(&mut self, device: &D) -> Option<u8> {
        if self.last.is_none() && self.readable {
            match device.last_reference().await {
                Ok(Some(last)) => self.last = Some(last),
                Ok(None) => {
                    tracing::info!("the modem does not give its TP-MR counter (EF_SMSS): an unanswered send cannot be resolved");
                    self.readable = false;
                }
                Err(_) => {}
            }
        }
        self.last
    }

    /// A part went out with `reference`; the first time, learn whether the
    /// SIM's counter follows the sends.
    async fn sent<D: Device>(&mut self, reference: u8, device: &D, keeper: &Keeper<Core>) {
        self.last = Some(reference);
        if self.counter == Counter::Unknown && self.readable {
            if let Ok(Some(last)) = device.last_reference().await {
                self.learn(Counter::learn(reference, last), keeper).await;
            }
        }
    }

    async fn learn(&mut self, counter: Counter, keeper: &Keeper<Core>) {
        if self.counter == counter {
            return;
        }
        self.counter = counter;
        tracing::info!(
            counter = counter.as_str(),
            "learnt whether the SIM's TP-MR counter follows the sends"
        );
        let modem = self.modem.clone();
        let recorded = keeper
            .call(move |core| {
                core.store
                    .set_modem_fact(&modem, "tp-mr-counter", counter.as_str())
            })
            .await;
        if let Err(error) = recorded {
            tracing::warn!(error = %Scrub(&error), "cannot record what was learnt about the modem");
        }
    }

    /// The counter's state is no longer known (a failure in between).
    fn lost(&mut self) {
        self.last = None;
    }
}

/// What sending needs from the daemon.
pub(super) struct Sender<'a, D> {
    /// The keeper of the store and the outbox.
    pub(super) keeper: &'a Keeper<Core>,
    /// The configuration.
    pub(super) config: &'a Config,
    /// The device.
    pub(super) device: &'a D,
    /// The clock.
    pub(super) clock: &'a dyn Clock,
    /// Its TP-MR counter.
    pub(super) tracker: &'a mut MrTracker,
    /// Whether a stop was requested (checked between parts).
    pub(super) stop: &'a (dyn Fn() -> bool + Sync),
    /// Which modem this is, of several: what it sends and settles.
    pub(super) lane: &'a Arc<Lane>,
    /// systemd's watchdog, told the daemon lives while a part goes out.
    pub(super) systemd: &'a Systemd,
}

/// What the keeper's last job of a send also left behind: the budget
/// warning it gave, and when there is work next (so the loop need not ask
/// the keeper again for them, one hand-over less a message).
pub(super) struct Afterwards {
    /// The budget warning the send gave, if any.
    pub(super) warning: Option<super::state::BudgetWarning>,
    /// When this modem has work next.
    pub(super) schedule: Result<super::state::Schedule, StoreError>,
    /// How the device failed the send, when it did.
    pub(super) failure: Option<FailureKind>,
}

fn afterwards(core: &mut Core, lane: &Lane) -> Afterwards {
    Afterwards {
        warning: core.budget_warning.take(),
        schedule: core.schedule(lane),
        failure: None,
    }
}

impl<D: Device> Sender<'_, D> {
    /// Sends the first message due, if any (`None` when none is), with
    /// what its last keeper job left behind when that job was one that
    /// ends the send.
    pub(super) async fn send_next(
        &mut self,
    ) -> Result<(Option<Outcome>, Option<Afterwards>), StoreError> {
        let mr_before = self.tracker.before_send(self.device).await;
        let now = self.clock.now();
        let lane = Arc::clone(self.lane);
        // The part's `sending` mark (or the outcome) is on disk before the
        // modem is asked (or the outcome reported).
        let begun = self
            .keeper
            .call_synced(move |core| begin_next(core, &lane, mr_before, now))
            .await?;
        let mut attempt = match begun {
            None => return Ok((None, None)),
            Some(Begun::Done(outcome)) => return Ok((Some(outcome), None)),
            Some(Begun::ModemBusy { until_ms, reason }) => {
                return Ok((Some(Outcome::ModemBusy { until_ms, reason }), None))
            }
            Some(Begun::Sending(attempt)) => *attempt,
        };
        loop {
            let (part, position) = attempt.pending[attempt.next];
            let sent = self
                .device
                .send_message_part(attempt.name, &attempt.encoded, position);
            match self
                .systemd
                .alive_during(sent, exchange_bound(self.config))
                .await
            {
                Ok(reference) => {
                    // A long message's parts each get a line; a short
                    // one's reference is on its "sent" line.
                    if attempt.submits.len() > 1 {
                        tracing::info!(file = %Redact(&attempt.row.file_name), id = attempt.row.id, part, of = attempt.submits.len(), reference, "part sent");
                    } else {
                        tracing::debug!(file = %Redact(&attempt.row.file_name), id = attempt.row.id, part, of = 1, reference, "part sent");
                    }
                    self.tracker.sent(reference, self.device, self.keeper).await;
                    attempt.next += 1;
                    let now = self.clock.now();
                    if attempt.next == attempt.pending.len() {
                        let lane = Arc::clone(self.lane);
                        let (outcome, after) = self
                            .keeper
                            .call(move |core| {
                                let outcome = finish_sent(core, attempt, part, reference, now);
                                (outcome, afterwards(core, &lane))
                            })
                            .await;
                        return Ok((Some(outcome?), Some(after)));
                    }
                    if (self.stop)() {
                        let lane = Arc::clone(self.lane);
                        let (outcome, after) = self
                            .keeper
                            .call(move |core| {
                                let outcome = interrupt(core, &attempt, part, reference, now);
                                (outcome, afterwards(core, &lane))
                            })
                            .await;
                        return Ok((Some(outcome?), Some(after)));
                    }
                    let mr_before = self.tracker.before_send(self.device).await;
                    let (next, _) = attempt.pending[attempt.next];
                    let id = attempt.row.id;
                    let lane = Arc::clone(self.lane);
                    self.keeper
                        .call_synced(move |core| {
                            core.store.batch_grouped(|store| {
                                store.part_sent(id, part, reference, ms(now))?;
                                store.part_sending_on(
                                    Some(&lane.name),
                                    id,
                                    next,
                                    mr_before,
                                    ms(now),
                                )
                            })
                        })
                        .await?;
                }
                Err(error) => {
                    self.tracker.lost();
                    let now = self.clock.now();
                    let failure = Failure {
                        part,
                        kind: error.kind,
                        reason: error.to_string(),
                    };
                    let kind = failure.kind;
                    let (outcome, after) = self
                        .keeper
                        .call({
                            let lane = Arc::clone(self.lane);
                            move |core| {
                                let outcome = fail_part(core, &lane, attempt, failure, now);
                                (outcome, afterwards(core, &lane))
                            }
                        })
                        .await;
                    let after = Afterwards {
                        failure: Some(kind),
                        ..after
                    };
                    return Ok((Some(outcome?), Some(after)));
                }
            }
        }
    }

    /// A part in doubt that goes out again: due after `resent`'s delay; or,
    /// when `resent` says why not, given up (its outcome).
    async fn resend_or_give_up(
        &self,
        pending: Resolving,
        row: Outgoing,
        resent: Result<Duration, String>,
        now: SystemTime,
    ) -> Result<Option<Outcome>, StoreError> {
        match resent {
            Ok(delay) => {
                let next = ms(now) + delay.as_millis() as i64;
                self.keeper
                    .call(move |core| {
                        core.store
                            .resolved_not_sent_until(pending.id, pending.part, next, ms(now))
                    })
                    .await?;
                Ok(None)
            }
            Err(reason) => Ok(Some(
                self.keeper
                    .call(move |core| give_up_ambiguous(core, &pending, &row, reason, now))
                    .await?,
            )),
        }
    }

    /// Asks the modem about every part that may have gone out (see the
    /// module docs). Returns the outcomes of messages that are finished by
    /// it (given up as ambiguous).
    pub(super) async fn resolve(&mut self) -> Result<Vec<Outcome>, StoreError> {
        let mut finished = Vec::new();
        let lane = Arc::clone(self.lane);
        let pending = self.keeper.call(move |core| resolving(core, &lane)).await?;
        for (pending, row, what) in pending {
            let key = (pending.id, pending.part);
            let now = self.clock.now();
            if what == InDoubt::Orphaned {
                // Its modem is gone: this device can neither settle it nor
                // take it again as safe (it keeps its own ids and sent box,
                // not the other's). Only `ambiguous = "resend"` sends it.
                let reason = orphaned_reason(row.last_error.as_deref(), pending.modem.as_deref());
                let resent = match self.config.send.ambiguous {
                    AmbiguousPolicy::Resend => {
                        resend_in_doubt(self.config, &row, row.attempts, &reason, now)
                    }
                    AmbiguousPolicy::Error => Err(format!("{reason}; not resent")),
                };
                if let Ok(delay) = &resent {
                    tracing::warn!(file = %Redact(&row.file_name), id = row.id, part = pending.part, modem = pending.modem.as_deref().unwrap_or_default(), ?delay, "ambiguous send through a modem no longer configured; sending it again through this one (send.ambiguous = \"resend\")");
                }
                finished.extend(self.resend_or_give_up(pending, row, resent, now).await?);
                continue;
            }
            // Sent again without asking: the device refuses to send one
            // message twice, or the configuration accepts a duplicate. As
            // a failed send is: after the retry delay, within the limits.
            let safe = self.device.resends_safely();
            if safe || self.config.send.ambiguous == AmbiguousPolicy::Resend {
                let reason = row
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "ambiguous send".to_owned());
                let resent = resend_in_doubt(self.config, &row, row.attempts, &reason, now);
                match &resent {
                    Ok(delay) if safe => {
                        tracing::info!(file = %Redact(&row.file_name), id = row.id, part = pending.part, ?delay, "a send in doubt; handing it to the device again: the device never sends one message twice (it keeps each message's id, or settles it from its sent box)");
                    }
                    Ok(delay) => {
                        tracing::warn!(file = %Redact(&row.file_name), id = row.id, part = pending.part, ?delay, "ambiguous send; sending it again (send.ambiguous = \"resend\")");
                    }
                    Err(_) => {}
                }
                finished.extend(self.resend_or_give_up(pending, row, resent, now).await?);
                continue;
            }
            let last = match self.device.last_reference().await {
                Ok(Some(last)) => Some(last),
                Ok(None) => None,
                Err(error) => {
                    let key = (pending.id, pending.part);
                    let reads = self.tracker.failed_reads.entry(key).or_insert(0);
                    *reads += 1;
                    if *reads < RESOLVE_READS {
                        tracing::info!(error = %Scrub(&error), "cannot read the TP-MR counter yet; will ask again");
                        return Ok(finished);
                    }
                    None
                }
            };
            let resolution = last.map_or(Resolution::Unknown, |last| {
                tp_mr::resolve(pending.mr_before, last, self.tracker.counter)
            });
            match resolution {
                Resolution::Sent(reference) => {
                    self.tracker.learn(Counter::Follows, self.keeper).await;
                    self.tracker.last = Some(reference);
                    self.keeper
                        .call(move |core| {
                            core.store
                                .resolved_sent(pending.id, pending.part, reference, ms(now))
                        })
                        .await?;
                    tracing::info!(file = %Redact(&row.file_name), id = row.id, part = pending.part, reference, "resolved: the part went out (the TP-MR counter moved)");
                }
                Resolution::NotSent => {
                    self.tracker.last = last;
                    self.keeper
                        .call(move |core| {
                            core.store
                                .resolved_not_sent(pending.id, pending.part, ms(now))
                        })
                        .await?;
                    tracing::info!(file = %Redact(&row.file_name), id = row.id, part = pending.part, "resolved: the part did not go out (the TP-MR counter did not move); sending it once");
                }
                Resolution::Unknown => {
                    let reason = format!(
                        "{} (the modem's TP-MR counter cannot tell whether it went out)",
                        row.last_error.as_deref().unwrap_or("ambiguous send")
                    );
                    let outcome = self
                        .keeper
                        .call(move |core| give_up_ambiguous(core, &pending, &row, reason, now))
                        .await?;
                    finished.push(outcome);
                }
            }
            self.tracker.failed_reads.remove(&key);
        }
        Ok(finished)
    }
}

/// A message on its way out: what [`begin_next`] prepared on the keeper's
/// thread for the parts to be sent from the event loop.
#[derive(Debug)]
pub(super) struct Attempt {
    /// Its row, as it was when the attempt began.
    row: Outgoing,
    /// Its file, claimed.
    file: spool_fs::Claimed,
    /// What the file says.
    message: OutgoingMessage,
    /// Every part, planned.
    submits: Vec<SmsSubmit>,
    /// Every part's PDU, in order (a device that sends whole texts
    /// needs them all: [`crate::device::Device::send_part`]).
    encoded: Vec<EncodedPdu>,
    /// The parts not sent yet: number and position in `encoded`.
    pending: Vec<(u32, usize)>,
    /// Which of `pending` goes next.
    next: usize,
    /// Attempts so far, this one included.
    attempts: u32,
    /// The name a device that keeps its own record of what it was handed
    /// knows the message by (its row and the database's identity).
    name: crate::device::MessageName,
}

/// How [`begin_next`] began.
#[derive(Debug)]
pub(super) enum Begun {
    /// Its first part to send is recorded `sending`.
    Sending(Box<Attempt>),
    /// It ended before anything was sent (cancelled, failed, waiting).
    Done(Outcome),
    /// This modem is at one of its own limits: it takes nothing before
    /// `until_ms` (the message stays queued, for the other modems).
    ModemBusy {
        /// When the limit lets this modem send again.
        until_ms: i64,
        /// Which limit.
        reason: String,
    },
}

/// A part the device did not send.
#[derive(Debug)]
pub(super) struct Failure {
    part: u32,
    kind: FailureKind,
    reason: String,
}

fn ms(time: SystemTime) -> i64 {
    outbox::ms(time)
}

/// Takes the first message due at `now`, claims its file, plans its parts
/// again (planning is deterministic), counts the attempt and records its
/// first part `sending`, in one commit, durable once the ticket is waited
/// for ([`Keeper::call_synced`]: its fsync shared with the other modems'
/// commits). `None` when nothing is due.
pub(super) fn begin_next(
    core: &mut Core,
    lane: &Lane,
    mr_before: Option<u8>,
    now: SystemTime,
) -> Result<(Option<Begun>, Ticket), StoreError> {
    let nothing = || Ok((None, Ticket::durable()));
    let Core {
        config,
        store,
        outbox,
        zone,
        budget_warning,
        ..
    } = core;
    let Some(outbox) = outbox.as_mut() else {
        return nothing();
    };
    let Some(&id) = store.due_on(lane.route(), ms(now), 1)?.first() else {
        return nothing();
    };
    let Some(row) = store.get(id)? else {
        return nothing();
    };
    let limited = !config.limits.rules.is_empty() || !lane.limits.is_empty();
    // The lists again, not only at intake: a number denied by a reload
    // while its message waited is not sent to.
    let mut never = outbox.destinations.refusal(&row.recipient);
    let history = if limited && never.is_none() {
        store.usage_since(ms(now) - DAY_MS, id, &row.recipient, Some(&lane.name))?
    } else {
        Vec::new()
    };
    if !lane.limits.is_empty() && never.is_none() {
        // This modem's own limits, over what it sent: at one, it takes
        // nothing for a while and the message stays for the others.
        let mine: Vec<limits::Counted> = history.iter().filter(|c| c.same_modem).cloned().collect();
        let written = limits::Written::Modem(&lane.section);
        match limits::check(&lane.limits, &mine, row.parts_total, ms(now), written) {
            limits::Verdict::Go => {}
            limits::Verdict::Never { reason } => {
                never = Some(format!("modem {}: {reason}", lane.name))
            }
            limits::Verdict::Wait {
                until_ms, reason, ..
            } => {
                // The log names the modem on its own.
                let busy = Begun::ModemBusy { until_ms, reason };
                return Ok((Some(busy), Ticket::durable()));
            }
        }
    }
    if !config.limits.rules.is_empty() && never.is_none() {
        let written = limits::Written::Limits;
        match limits::check(
            &config.limits.rules,
            &history,
            row.parts_total,
            ms(now),
            written,
        ) {
            limits::Verdict::Go => {}
            limits::Verdict::Never { reason } => never = Some(reason),
            limits::Verdict::Wait {
                until_ms,
                reason,
                all_until_ms,
            } => {
                return hold(store, &row, until_ms, all_until_ms, reason, now)
                    .map(|held| (Some(held), Ticket::durable()))
            }
        }
    }
    let mut warn = None;
    if config.budget.monthly_parts.is_some() && never.is_none() {
        let month = budget::month_of(now, zone);
        let used = store.parts_used_since(month.start_ms)?;
        let parts = row.parts_total.saturating_sub(store.parts_used_by(id)?);
        let warned = store.budget_warned(month.start_ms)?;
        match budget::check(&config.budget, used, parts, warned) {
            budget::Verdict::Go => {}
            budget::Verdict::GoAndWarn { used, threshold } => {
                warn = Some((month, used, threshold));
            }
            budget::Verdict::Wait { reason } => {
                return hold(store, &row, month.next_start_ms, None, reason, now)
                    .map(|held| (Some(held), Ticket::durable()))
            }
            budget::Verdict::Never { reason } => never = Some(reason),
        }
    }
    store
        .batch_grouped(|store| {
            let file = match claim(config, store, outbox, &row, now)? {
                Ok(file) => file,
                Err(outcome) => return Ok(Begun::Done(outcome)),
            };
            let fail =
                |store: &mut crate::store::Store, outbox: &mut outbox::Outbox, reason: String| {
                    fail_claimed(config, store, outbox, &row, &file, reason, now).map(Begun::Done)
                };
            if let Some(reason) = never.take() {
                return fail(store, outbox, reason);
            }
            // A part handed back in doubt to a modem since taken out of
            // the configuration: nothing here can tell whether it went
            // out; only `ambiguous = "resend"` sends it again.
            if config.send.ambiguous == AmbiguousPolicy::Error {
                for modem in store.held_in_doubt_by(id)? {
                    if lane.in_doubt(Some(&modem)) == InDoubt::Orphaned {
                        let reason = format!(
                            "{}; not resent",
                            orphaned_reason(row.last_error.as_deref(), Some(&modem))
                        );
                        tracing::error!(file = %Redact(&row.file_name), id, modem, reason = %Scrub(&reason), "ambiguous send; not resent");
                        return fail(store, outbox, reason);
                    }
                }
            }
            let parsed = match spool::classify_outbox_name(&row.file_name) {
                Ok(Some(parsed)) => parsed,
                _ => {
                    return fail(
                        store,
                        outbox,
                        "the claimed file name is no longer an outbox name".to_owned(),
                    )
                }
            };
            let message = match outbox::read_message(config, &file.path, &parsed) {
                Ok((message, _)) => message,
                // Out of file descriptors or memory just now: the file is
                // not to blame; it waits in outbox/ again and is read again
                // soon, no attempt counted.
                Err(outbox::Unsendable::Read(error)) if spool_fs::is_transient(&error) => {
                    let delay = outbox::TRANSIENT_RETRY;
                    let reason = format!("cannot read the file just now: {error}");
                    tracing::warn!(file = %Redact(&row.file_name), id, error = %Scrub(&error), "cannot read the file to send it just now; will try again");
                    store.retry_later(id, &reason, ms(now) + delay.as_millis() as i64, ms(now))?;
                    put_back(outbox.dir(), &file);
                    return Ok(Begun::Done(Outcome::Retry {
                        file: row.file_name.clone(),
                        reason,
                        delay,
                        attempt_failed: false,
                    }));
                }
                Err(reason) => return fail(store, outbox, reason.to_string()),
            };
            if let Some((month, used, threshold)) = warn.take() {
                if store.note_budget_warning(month.start_ms, ms(now))? {
                    let warning = BudgetWarning {
                        month: month.label,
                        used,
                        budget: config.budget.monthly_parts.unwrap_or_default(),
                        threshold,
                    };
                    store.queue_webhook(
                        webhook::BUDGET_WARNING,
                        |_| Ok(webhooks::budget_warning_data(&warning)),
                        ms(now),
                    )?;
                    *budget_warning = Some(warning);
                }
            }
            if limited {
                store.record_usage(
                    id,
                    &row.recipient,
                    Some(&lane.name),
                    row.parts_total,
                    ms(now),
                    ms(now) - DAY_MS,
                )?;
            }
            let submits =
                match message.to_submits(config.spool.transmit_format, concat_reference(id)) {
                    Ok(submits) => submits,
                    Err(error) => return fail(store, outbox, error.to_string()),
                };
            let smsc = message.smsc_address().ok().flatten();
            let parts = store.parts(id)?;
            if parts.len() != submits.len() {
                let reason = format!(
                    "the file now plans to {} parts, not {}",
                    submits.len(),
                    parts.len()
                );
                return fail(store, outbox, reason);
            }
            let mut pending = Vec::new();
            let mut encoded = Vec::with_capacity(submits.len());
            for (position, (part, submit)) in parts.iter().zip(&submits).enumerate() {
                match submit.encode(smsc.as_ref()) {
                    Ok(pdu) => encoded.push(pdu),
                    Err(error) => return fail(store, outbox, error.to_string()),
                }
                if part.state != PartState::Sent {
                    pending.push((part.part, position));
                }
            }
            let attempts = store.count_attempt(id, ms(now))?;
            let name = store.message_name(id)?;
            let attempt = Attempt {
                row: row.clone(),
                file,
                message,
                submits,
                encoded,
                pending,
                next: 0,
                attempts,
                name,
            };
            match attempt.pending.first() {
                Some(&(first, _)) => {
                    store.part_sending_on(Some(&lane.name), id, first, mr_before, ms(now))?;
                    Ok(Begun::Sending(Box::new(attempt)))
                }
                // Every part went out before (a restart after the last):
                // only the finishing is left.
                None => Ok(Begun::Done(complete(
                    config,
                    store,
                    outbox,
                    attempt,
                    now,
                    Durability::Now,
                )?)),
            }
        })
        .map(|(begun, ticket)| (Some(begun), ticket))
}

/// Gives up on the claimed message `row`: failed for `reason`, its file
/// moved to error/, its webhook queued.
fn fail_claimed(
    config: &Config,
    store: &mut crate::store::Store,
    outbox: &mut outbox::Outbox,
    row: &Outgoing,
    file: &spool_fs::Claimed,
    reason: String,
    now: SystemTime,
) -> Result<Outcome, StoreError> {
    let id = row.id;
    store.mark_failed(id, &reason, ms(now))?;
    tracing::error!(file = %Redact(&row.file_name), id, reason = %Scrub(&reason), "message failed");
    outbox.finish(config, store, id, file, false, now, Flush::Now)?;
    webhooks::queue_failed(store, &row.file_name, &reason, ms(now))?;
    Ok(Outcome::Failed {
        file: row.file_name.clone(),
        reason,
    })
}

/// How often the first modem's loop looks for messages past `max_age`: a
/// quarter of it, between a second and a minute (zero: never, without
/// `max_age`). A message fails at most that long after its age is up.
pub(super) fn expiry_interval(config: &Config) -> Duration {
    config.send.max_age.map_or(Duration::ZERO, |age| {
        (age / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    })
}

/// Messages queued longer than `max_age` (`[send]`), whatever keeps them
/// waiting (a device that is gone, a rate limit, the modem a message is
/// bound to): failed, their files moved to error/, at most a slice a job
/// (the answer's flag: whether a whole slice went, so more may be due).
/// A send that fails is given up on by the same age
/// ([`RetryPolicy::again_after`]); this is for the messages no send is
/// tried for.
pub(super) fn expire_old(
    core: &mut Core,
    max_age: Duration,
    now: SystemTime,
) -> Result<(Vec<Outcome>, bool), StoreError> {
    let Some((config, store, outbox)) = core.with_outbox() else {
        return Ok((Vec::new(), false));
    };
    let oldest = ms(now).saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX));
    let slice = super::state::INTAKE_SLICE;
    let expired = store.queued_before(oldest, slice as u32)?;
    // More may be due only when a whole slice left the queue: a file that
    // cannot be claimed now stays, and is not looked at again at once.
    let mut gone = 0;
    let mut outcomes = Vec::new();
    store.batch(Durability::Now, |store| {
        for id in expired {
            let Some(row) = store.get(id)? else {
                continue;
            };
            let file = match claim(config, store, outbox, &row, now)? {
                Ok(file) => file,
                Err(outcome) => {
                    if !matches!(outcome, Outcome::Retry { .. }) {
                        gone += 1;
                    }
                    outcomes.push(outcome);
                    continue;
                }
            };
            let age = ms(now).saturating_sub(row.created_ms).max(0) / 1000;
            let reason = match &row.last_error {
                Some(waiting) => {
                    format!("gave up after {age} s in the queue (max_age): {waiting}")
                }
                None => format!("gave up after {age} s in the queue (max_age)"),
            };
            outcomes.push(fail_claimed(
                config, store, outbox, &row, &file, reason, now,
            )?);
            gone += 1;
        }
        Ok::<_, StoreError>(())
    })?;
    Ok((outcomes, gone == slice))
}

/// The longest one part's exchange with the device takes by its own
/// timeouts (the prompt, the send, a re-sync after a timeout), with room
/// to spare: the loop waiting longer is hung.
fn exchange_bound(config: &Config) -> Duration {
    2 * (config.modem.send_timeout + config.modem.command_timeout)
}

/// The longest window a rate limit counts over.
const DAY_MS: i64 = 86_400_000;

/// The next message is over a rate limit: it waits in the outbox (no
/// attempt counted), with every other queued message the same limits hold:
/// those to its destination until it may go, and all the others until the
/// limits over everything sent allow.
fn hold(
    store: &mut crate::store::Store,
    row: &Outgoing,
    until_ms: i64,
    all_until_ms: Option<i64>,
    reason: String,
    now: SystemTime,
) -> Result<Begun, StoreError> {
    store.batch(Durability::WithNextCommit, |store| {
        store.hold_queued(until_ms, Some(&row.recipient), &reason, ms(now))?;
        if let Some(all_until_ms) = all_until_ms {
            store.hold_queued(all_until_ms, None, &reason, ms(now))?;
        }
        Ok::<_, StoreError>(())
    })?;
    let delay = Duration::from_millis(until_ms.saturating_sub(ms(now)).max(0) as u64);
    tracing::info!(file = %Redact(&row.file_name), id = row.id, reason = %reason, wait_s = delay.as_secs(), "waiting in the outbox");
    Ok(Begun::Done(Outcome::Held {
        file: row.file_name.clone(),
        reason: format!("{reason}: waits {} s", delay.as_secs()),
    }))
}

/// The message's file, claimed for sending: already claimed (a resumed
/// message), or claimed now from outbox/. A file deleted or replaced
/// meanwhile cancels the message.
fn claim(
    config: &Config,
    store: &mut crate::store::Store,
    outbox: &mut outbox::Outbox,
    row: &Outgoing,
    now: SystemTime,
) -> Result<Result<spool_fs::Claimed, Outcome>, StoreError> {
    let dir = outbox.dir().to_owned();
    let name = OsString::from(&row.file_name);
    let held = spool_fs::claim_dir(&dir).join(&name);
    if spool_fs::file_state(&held).is_ok_and(|state| state.id == row.file_id) {
        return Ok(Ok(spool_fs::Claimed { name, path: held }));
    }
    let found = |store: &mut crate::store::Store| -> Result<bool, StoreError> {
        Ok(outbox::Outbox::settle_moved(config, store, row, now)?.is_some())
    };
    let claimed = spool_fs::claim(&dir, &name, &row.file_id);
    if matches!(&claimed, Err(error) if spool_fs::is_not_found(error)) && found(store)? {
        return Ok(Err(Outcome::Skipped));
    }
    let mut cancel = |reason: &str| -> Result<Outcome, StoreError> {
        store.cancel(row.id, reason, ms(now))?;
        tracing::info!(file = %Redact(&row.file_name), id = row.id, reason = %Scrub(&reason), "message cancelled");
        outbox.look_again(&row.file_name, now);
        Ok(Outcome::Cancelled {
            file: row.file_name.clone(),
            reason: reason.to_owned(),
        })
    };
    match claimed {
        Ok(claimed) => Ok(Ok(claimed)),
        Err(error) if spool_fs::is_not_found(&error) => Ok(Err(cancel(
            "its file was deleted from the outbox before it was sent",
        )?)),
        Err(spool_fs::SpoolIoError::Replaced { .. }) => Ok(Err(cancel(
            "its file was replaced by another of the same name before it was sent",
        )?)),
        Err(spool_fs::SpoolIoError::NotRegular { .. }) => Ok(Err(cancel(
            "its file was replaced by something that is not a regular file",
        )?)),
        Err(error) => {
            // The name is still claimed by a finished message whose file
            // could not be moved yet, or the claim folder cannot be made.
            let delay = config.send.retry_delay.min(Duration::from_secs(30));
            let reason = format!("cannot claim the file: {error}");
            tracing::warn!(file = %Redact(&row.file_name), id = row.id, error = %Scrub(&error), "cannot claim the file to send it; will retry");
            store.retry_later(row.id, &reason, ms(now) + delay.as_millis() as i64, ms(now))?;
            Ok(Err(Outcome::Retry {
                file: row.file_name.clone(),
                reason,
                delay,
                attempt_failed: false,
            }))
        }
    }
}

/// The last part went out with `reference`: record it, finish the message
/// and move its file to sent/. Synced by the next commit when another
/// message is due (a restart that lost it asks the modem's counter), at
/// once otherwise.
fn finish_sent(
    core: &mut Core,
    attempt: Attempt,
    part: u32,
    reference: u8,
    now: SystemTime,
) -> Result<Outcome, StoreError> {
    core.failed_on.remove(&attempt.row.id);
    let Some((config, store, outbox)) = core.with_outbox() else {
        return Ok(Outcome::Skipped);
    };
    // More to send, queued or still to be taken in from the outbox: its
    // next synced commit (the next message's, before its PDU goes) makes
    // this one durable too, instead of a sync of its own at every slice.
    let more_due = !store.due(ms(now), 1)?.is_empty() || outbox.has_files_due(now);
    let durability = if more_due {
        Durability::WithNextCommit
    } else {
        Durability::Now
    };
    store.batch(durability, |store| {
        store.part_sent(attempt.row.id, part, reference, ms(now))?;
        complete(config, store, outbox, attempt, now, durability)
    })
}

/// Every part went out: record the message sent, and move its file to
/// sent/ (with its `MessageReference` lines, for a `.smsbackup` file).
fn complete(
    config: &Config,
    store: &mut crate::store::Store,
    outbox: &mut outbox::Outbox,
    attempt: Attempt,
    now: SystemTime,
    durability: Durability,
) -> Result<Outcome, StoreError> {
    let Attempt {
        row,
        file,
        message,
        submits,
        ..
    } = attempt;
    let references: Vec<u8> = store
        .parts(row.id)?
        .iter()
        .filter_map(|p| p.message_ref)
        .collect();
    // The rewritten file is another inode: the row must still know it
    // (a restart finds a finished message's file by it).
    if let Some(rewritten) = record_references(&file, &message, &references) {
        store.set_file_id(row.id, &rewritten)?;
    }
    let parts: Vec<SentPart> = references
        .iter()
        .zip(&submits)
        .map(|(&reference, submit)| SentPart {
            reference,
            text: submit.user_data.body.text().map(str::to_owned),
            class: submit
                .dcs
                .class
                .map_or(-1, |class| i32::from(class.number())),
        })
        .collect();
    store.mark_sent(row.id, ms(now))?;
    let flush = match durability {
        Durability::Now => Flush::Now,
        Durability::WithNextCommit => Flush::Later,
    };
    let moved_to = match outbox.finish(config, store, row.id, &file, true, now, flush)? {
        Finished::Done(path) => path,
        Finished::Pending => None,
    };
    tracing::info!(file = %Redact(&row.file_name), id = row.id, parts = references.len(), ?references, "sent");
    store.queue_webhook(
        webhook::SENT,
        |_| {
            Ok(webhooks::sent_data(
                &row.file_name,
                &message.recipient,
                &parts,
            ))
        },
        ms(now),
    )?;
    Ok(Outcome::Sent {
        file: row.file_name,
        recipient: message.recipient,
        parts,
        moved_to,
        taken_in_ms: row.created_ms,
    })
}

/// A stop was asked for between parts: the part that went out is
/// recorded, the rest waits in the queue (the file back in outbox/).
fn interrupt(
    core: &mut Core,
    attempt: &Attempt,
    part: u32,
    reference: u8,
    now: SystemTime,
) -> Result<Outcome, StoreError> {
    core.store
        .part_sent(attempt.row.id, part, reference, ms(now))?;
    if let Some(outbox) = core.outbox.as_ref() {
        put_back(outbox.dir(), &attempt.file);
    }
    Ok(Outcome::Interrupted)
}

/// Most messages whose failures are remembered ([`Core::failed_on`]):
/// past it the memory starts afresh (each modem's failure spared once
/// more), so messages cancelled or expired meanwhile do not pile up.
const FAILED_ON_KEPT: usize = 4096;

/// The other modems (than `lane`'s) that could send message `id`, by
/// their routes and its binding as it stands.
fn others_taking(
    config: &Config,
    store: &crate::store::Store,
    lane: &Lane,
    id: i64,
) -> Result<Vec<String>, StoreError> {
    let mut others = Vec::new();
    for other in Lane::all(config) {
        if other.name != lane.name && store.on_route(id, other.route())? {
            others.push(other.name);
        }
    }
    Ok(others)
}

/// A part failed on `lane`'s modem: decide what that means for the
/// message (see [`RetryPolicy`] and [`super::retry::left_to_another`])
/// and record it.
fn fail_part(
    core: &mut Core,
    lane: &Lane,
    attempt: Attempt,
    failure: Failure,
    now: SystemTime,
) -> Result<Outcome, StoreError> {
    let Core {
        config,
        store,
        outbox,
        failed_on,
        ..
    } = core;
    let config: &Config = config;
    let Some(outbox) = outbox.as_mut() else {
        return Ok(Outcome::Skipped);
    };
    let Failure { part, kind, reason } = failure;
    let row = &attempt.row;
    let id = row.id;
    let now_ms = ms(now);
    let age = Duration::from_millis(now_ms.saturating_sub(row.created_ms).max(0) as u64);
    let several = lane.names().len() > 1;
    store.batch(Durability::Now, |store| {
        // With several modems, a transient failure may be this modem's
        // own (a stick answering 500, a SIM the network refuses): the
        // part did not go out, so the message is free again unless a part
        // of it went out through this modem; then who else could take it.
        let elsewhere = several && kind == FailureKind::Transient && {
            store.part_not_sent(id, part)?;
            let others = others_taking(config, store, lane, id)?;
            let failed = failed_on.get(&id).map_or(&[][..], Vec::as_slice);
            super::retry::left_to_another(&lane.name, failed, &others)
        };
        let decision = retry_policy(config).decide(kind, &reason, attempt.attempts, age, elsewhere);
        match &decision {
            Decision::Fail(_) => {
                failed_on.remove(&id);
            }
            Decision::TryElsewhere | Decision::RetryAfter(_) if several => {
                if failed_on.len() >= FAILED_ON_KEPT && !failed_on.contains_key(&id) {
                    failed_on.clear();
                }
                let failed = failed_on.entry(id).or_default();
                if !failed.contains(&lane.name) {
                    failed.push(lane.name.clone());
                }
            }
            _ => {}
        }
        fail_decided(config, store, outbox, &attempt, part, decision, reason, now)
    })
}

/// Records what [`fail_part`] decided for the message of `attempt`, whose
/// `part` failed for `reason`.
#[allow(clippy::too_many_arguments)]
fn fail_decided(
    config: &Config,
    store: &mut crate::store::Store,
    outbox: &mut outbox::Outbox,
    attempt: &Attempt,
    part: u32,
    decision: Decision,
    reason: String,
    now: SystemTime,
) -> Result<Outcome, StoreError> {
    let row = &attempt.row;
    let id = row.id;
    let now_ms = ms(now);
    match decision {
        Decision::Ambiguous(reason) => {
            let reason = format!("ambiguous send (the modem may have sent it): {reason}");
            if config.send.ambiguous == AmbiguousPolicy::Resend {
                // Sent again as a failed send is: after the retry delay,
                // within the limits; past them it stays in doubt.
                match resend_in_doubt(config, row, attempt.attempts, &reason, now) {
                    Ok(delay) => {
                        store.part_not_sent(id, part)?;
                        store.retry_later(
                            id,
                            &reason,
                            now_ms + delay.as_millis() as i64,
                            now_ms,
                        )?;
                        put_back(outbox.dir(), &attempt.file);
                        return Ok(Outcome::Retry {
                            file: row.file_name.clone(),
                            reason,
                            delay,
                            attempt_failed: true,
                        });
                    }
                    Err(reason) => {
                        store.mark_ambiguous(id, part, &reason, now_ms)?;
                        tracing::error!(file = %Redact(&row.file_name), id, reason = %Scrub(&reason), "ambiguous send; not sent again");
                        outbox.finish(config, store, id, &attempt.file, false, now, Flush::Now)?;
                        webhooks::queue_failed(store, &row.file_name, &reason, now_ms)?;
                        return Ok(Outcome::Failed {
                            file: row.file_name.clone(),
                            reason,
                        });
                    }
                }
            }
            store.mark_resolving(id, part, &reason, now_ms)?;
            tracing::warn!(file = %Redact(&row.file_name), id, part, reason = %Scrub(&reason), "no answer after the PDU; asking the modem whether it went out");
            Ok(Outcome::Resolving {
                file: row.file_name.clone(),
            })
        }
        Decision::Fail(reason) => {
            store.part_not_sent(id, part)?;
            store.mark_failed(id, &reason, now_ms)?;
            tracing::error!(file = %Redact(&row.file_name), id, reason = %Scrub(&reason), "message failed");
            outbox.finish(config, store, id, &attempt.file, false, now, Flush::Now)?;
            webhooks::queue_failed(store, &row.file_name, &reason, now_ms)?;
            Ok(Outcome::Failed {
                file: row.file_name.clone(),
                reason,
            })
        }
        Decision::RetryAfter(delay) => {
            store.part_not_sent(id, part)?;
            store.retry_later(id, &reason, now_ms + delay.as_millis() as i64, now_ms)?;
            tracing::warn!(file = %Redact(&row.file_name), id, reason = %Scrub(&reason), ?delay, "send failed; will retry");
            put_back(outbox.dir(), &attempt.file);
            Ok(Outcome::Retry {
                file: row.file_name.clone(),
                reason,
                delay,
                attempt_failed: true,
            })
        }
        Decision::TryElsewhere => {
            // The modem failed, not the message: the attempt is not
            // counted, and the message is due at once, for the other
            // modems (this one waits: see the loop's hold after a failed
            // send). Its part was marked not sent when this was decided.
            store.uncount_attempt(id)?;
            store.retry_later(id, &reason, now_ms, now_ms)?;
            tracing::warn!(file = %Redact(&row.file_name), id, reason = %Scrub(&reason), "send failed on this modem; the other modems may send it at once");
            put_back(outbox.dir(), &attempt.file);
            Ok(Outcome::TryElsewhere {
                file: row.file_name.clone(),
                reason,
            })
        }
        decision @ (Decision::WaitForDevice | Decision::WaitForHolder) => {
            // Not the message's fault, but not instantly curable either:
            // the modem's loop holds its sends for the first retry delay,
            // or until the device's next session (a modem that keeps
            // refusing is not hammered; one that was unplugged and is back
            // sends at once). The message itself is due at once: for the
            // other modems, unless this device holds it (then it stays
            // bound to this modem, and waits for it). The attempt is not
            // counted against the message.
            store.uncount_attempt(id)?;
            if decision == Decision::WaitForHolder {
                store.part_held(id, part)?;
            } else {
                store.part_not_sent(id, part)?;
            }
            store.retry_later(id, &reason, now_ms, now_ms)?;
            tracing::warn!(file = %Redact(&row.file_name), id, reason = %Scrub(&reason), "the modem cannot send now; will retry");
            put_back(outbox.dir(), &attempt.file);
            Ok(Outcome::WaitForDevice {
                file: row.file_name.clone(),
                reason,
            })
        }
    }
}

/// The message waits again: its file goes back to outbox/ under its
/// name (unless a new file took the name meanwhile; then it stays
/// claimed and is used from there).
fn put_back(dir: &std::path::Path, file: &spool_fs::Claimed) {
    match spool_fs::unclaim(dir, file) {
        Ok(_) => {}
        Err(spool_fs::SpoolIoError::Busy { .. }) => {
            tracing::info!(file = %Redact(file.name.to_string_lossy()), "a new file took the name meanwhile; the waiting one stays claimed");
        }
        Err(error) => {
            tracing::warn!(file = %Redact(file.name.to_string_lossy()), error = %Scrub(&error), "cannot put the file back into the outbox; it stays claimed");
        }
    }
}

/// The parts that may have gone out that this modem deals with, each with
/// its message and what this modem does with it ([`InDoubt::Settles`] or
/// [`InDoubt::Orphaned`]).
fn resolving(
    core: &mut Core,
    lane: &Lane,
) -> Result<Vec<(Resolving, Outgoing, InDoubt)>, StoreError> {
    let mut pending = Vec::new();
    for part in core.store.resolving()? {
        let what = lane.in_doubt(part.modem.as_deref());
        if what == InDoubt::Theirs {
            continue;
        }
        if let Some(row) = core.store.get(part.id)? {
            pending.push((part, row, what));
        }
    }
    Ok(pending)
}

/// Why a part in doubt handed to `modem`, a modem no longer configured,
/// is not settled here (`error`: why it was in doubt).
fn orphaned_reason(error: Option<&str>, modem: Option<&str>) -> String {
    format!(
        "{} (the part was handed to modem \"{}\", which is no longer configured: only it could \
         tell whether it went out; another modem's TP-MR counter cannot)",
        error.unwrap_or("ambiguous send"),
        modem.unwrap_or_default()
    )
}

/// The modem cannot tell whether the part went out: the message is
/// ambiguous for good, and its file goes to error/ (never resent).
fn give_up_ambiguous(
    core: &mut Core,
    pending: &Resolving,
    row: &Outgoing,
    reason: String,
    now: SystemTime,
) -> Result<Outcome, StoreError> {
    let Core {
        config,
        store,
        outbox,
        ..
    } = core;
    store.batch(Durability::Now, |store| {
        store.mark_ambiguous(pending.id, pending.part, &reason, ms(now))?;
        tracing::error!(file = %Redact(&row.file_name), id = row.id, part = pending.part, reason = %Scrub(&reason), "ambiguous send; not resent");
        if let Some(outbox) = outbox.as_mut() {
            let file = outbox.file_of(row);
            outbox.finish(config, store, row.id, &file, false, now, Flush::Now)?;
        }
        webhooks::queue_failed(store, &row.file_name, &reason, ms(now))?;
        Ok(Outcome::Failed {
            file: row.file_name.clone(),
            reason,
        })
    })
}

/// When a message whose send is in doubt may be sent again (the device
/// refuses duplicates, or `send.ambiguous = "resend"`): after the delay a
/// failed send would wait, or, past `max_attempts` or `max_age`, never
/// (`Err` with the reason it stays in doubt).
fn resend_in_doubt(
    config: &Config,
    row: &Outgoing,
    attempts: u32,
    reason: &str,
    now: SystemTime,
) -> Result<Duration, String> {
    let age = Duration::from_millis(ms(now).saturating_sub(row.created_ms).max(0) as u64);
    retry_policy(config)
        .again_after(reason, attempts, age)
        .map_err(|reason| format!("{reason} (each time it may have gone out)"))
}

/// `.smsbackup` files get a `MessageReference` line per part, as gammu
/// writes them (without 1.42's duplicated content).
/// Returns the rewritten file's new identity.
fn record_references(
    claimed: &spool_fs::Claimed,
    message: &OutgoingMessage,
    references: &[u8],
) -> Option<crate::store::FileId> {
    if !matches!(message.body, spool::OutgoingBody::Parts(_))
        || !claimed.name.to_string_lossy().ends_with(".smsbackup")
    {
        return None;
    }
    let result = spool_fs::read_outbox_file(&claimed.path)
        .map_err(|e| e.to_string())
        .and_then(|original| {
            spool::record_message_references(&original, references).map_err(|e| e.to_string())
        })
        .and_then(|updated| {
            spool_fs::rewrite_file(&claimed.path, &updated).map_err(|e| e.to_string())
        });
    if let Err(error) = result {
        tracing::warn!(file = %Redact(claimed.name.to_string_lossy()), error = %Scrub(&error), "cannot record message references");
        return None;
    }
    spool_fs::file_state(&claimed.path)
        .ok()
        .map(|state| state.id)
}

/// The concatenation reference of message `id`: stable across retries.
pub(super) fn concat_reference(id: i64) -> u16 {
    (id.rem_euclid(255) + 1) as u16
}

/// The retry policy the configuration asks for.
pub(super) fn retry_policy(config: &Config) -> RetryPolicy {
    RetryPolicy {
        max_attempts: config.send.max_attempts.unwrap_or(u32::MAX),
        max_age: config.send.max_age.unwrap_or(Duration::MAX),
        initial_delay: config.send.retry_delay,
        max_delay: config.send.retry_delay_max.max(config.send.retry_delay),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_of_a_modem_taken_out_says_which_and_why_it_is_not_settled() {
        let reason = orphaned_reason(Some("no answer to AT+CMGS"), Some("b"));
        assert!(reason.starts_with("no answer to AT+CMGS"), "{reason}");
        assert!(reason.contains("modem \"b\""), "{reason}");
        assert!(reason.contains("no longer configured"), "{reason}");
        assert!(orphaned_reason(None, Some("b")).starts_with("ambiguous send"));
    }
}
