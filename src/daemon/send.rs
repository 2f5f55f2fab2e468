//! Sending one queued message: claim its file (it waited in outbox/ under
//! its own name), plan its parts again (planning is deterministic, and the
//! concatenation reference comes from the row id, so a resumed message
//! matches the parts already sent), send each part not yet sent, record
//! every transition, decide what a failure means, and move the file on.
//!
//! A part whose PDU reached the modem without an answer saying it went out
//! is *resolving*: the modem's TP-MR counter, read back from the SIM, tells
//! whether it went out ([`super::tp_mr`]); only when it cannot tell is the
//! send ambiguous for good (error/, never resent).

use super::clock::Clock;
use super::hook_env::SentPart;
use super::outbox::{self, Finished, Outbox};
use super::retry::{Decision, RetryPolicy};
use super::tp_mr::{self, Counter, Resolution};
use crate::config::{AmbiguousPolicy, Config};
use crate::daemon::logging::Redact;
use crate::device::Device;
use crate::pdu::SmsSubmit;
use crate::spool::{self, fs as spool_fs, OutgoingMessage};
use crate::store::{MessageState, PartState, Store, StoreError};
use std::collections::HashMap;
use std::ffi::OsString;
use std::time::Duration;

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
    },
    /// Queued again for later; the file is back in outbox/.
    Retry {
        /// The outbox file name.
        file: String,
        /// Why.
        reason: String,
        /// How long until the next attempt.
        delay: Duration,
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
    pub(super) fn new(store: &Store, imei: Option<&str>, readable: bool) -> Self {
        let modem = imei.unwrap_or("unknown").to_owned();
        let counter = store
            .modem_fact(&modem, "tp-mr-counter")
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
    async fn sent<D: Device>(&mut self, reference: u8, device: &D, store: &mut Store) {
        self.last = Some(reference);
        if self.counter == Counter::Unknown && self.readable {
            if let Ok(Some(last)) = device.last_reference().await {
                self.learn(Counter::learn(reference, last), store);
            }
        }
    }

    fn learn(&mut self, counter: Counter, store: &mut Store) {
        if self.counter == counter {
            return;
        }
        self.counter = counter;
        tracing::info!(
            counter = counter.as_str(),
            "learnt whether the SIM's TP-MR counter follows the sends"
        );
        if let Err(error) = store.set_modem_fact(&self.modem, "tp-mr-counter", counter.as_str()) {
            tracing::warn!(error = %crate::redact::Scrub(&error), "cannot record what was learnt about the modem");
        }
    }

    /// The counter's state is no longer known (a failure in between).
    fn lost(&mut self) {
        self.last = None;
    }
}

/// What sending needs from the daemon.
pub(super) struct Sender<'a, D> {
    /// The configuration.
    pub(super) config: &'a Config,
    /// The store.
    pub(super) store: &'a mut Store,
    /// The outbox (claiming and moving files).
    pub(super) outbox: &'a mut Outbox,
    /// The device.
    pub(super) device: &'a D,
    /// The calendar.
    pub(super) clock: &'a dyn Clock,
    /// Its TP-MR counter.
    pub(super) tracker: &'a mut MrTracker,
    /// Whether a stop was requested (checked between parts).
    pub(super) stop: &'a (dyn Fn() -> bool + Sync),
}

impl<D: Device> Sender<'_, D> {
    /// Sends message `id`.
    pub(super) async fn send(&mut self, id: i64) -> Result<Outcome, StoreError> {
        let Some(row) = self.store.get(id)? else {
            return Ok(Outcome::Skipped);
        };
        if row.state != MessageState::Queued {
            return Ok(Outcome::Skipped);
        }
        let file = match self.claim(&row)? {
            Ok(file) => file,
            Err(outcome) => return Ok(outcome),
        };
        let fail = |sender: &mut Self, reason: String| -> Result<Outcome, StoreError> {
            sender
                .store
                .mark_failed(id, &reason, sender.clock.now_ms())?;
            tracing::error!(file = %Redact(&row.file_name), id, reason = %crate::redact::Scrub(&reason), "message failed");
            sender.outbox.finish(
                sender.config,
                sender.store,
                id,
                &file,
                false,
                sender.clock.now(),
            )?;
            Ok(Outcome::Failed {
                file: row.file_name.clone(),
                reason,
            })
        };
        let parsed = match spool::classify_outbox_name(&row.file_name) {
            Ok(Some(parsed)) => parsed,
            _ => {
                return fail(
                    self,
                    "the claimed file name is no longer an outbox name".to_owned(),
                )
            }
        };
        let message = match outbox::read_message(self.config, &file.path, &parsed) {
            Ok((message, _)) => message,
            Err(reason) => return fail(self, reason),
        };
        let submits =
            match message.to_submits(self.config.spool.transmit_format, concat_reference(id)) {
                Ok(submits) => submits,
                Err(error) => return fail(self, error.to_string()),
            };
        let smsc = message.smsc_address().ok().flatten();
        let parts = self.store.parts(id)?;
        if parts.len() != submits.len() {
            return fail(
                self,
                format!(
                    "the file now plans to {} parts, not {}",
                    submits.len(),
                    parts.len()
                ),
            );
        }
        let attempts = self.store.count_attempt(id, self.clock.now_ms())?;
        let policy = retry_policy(self.config);
        for (part, submit) in parts.iter().zip(&submits) {
            if part.state == PartState::Sent {
                continue;
            }
            if (self.stop)() {
                self.put_back(&file);
                return Ok(Outcome::Interrupted);
            }
            let encoded = match submit.encode(smsc.as_ref()) {
                Ok(encoded) => encoded,
                Err(error) => return fail(self, error.to_string()),
            };
            let mr_before = self.tracker.before_send(self.device).await;
            self.store
                .part_sending(id, part.part, mr_before, self.clock.now_ms())?;
            match self.device.send(&encoded).await {
                Ok(reference) => {
                    self.store
                        .part_sent(id, part.part, reference, self.clock.now_ms())?;
                    self.tracker.sent(reference, self.device, self.store).await;
                    tracing::info!(file = %Redact(&row.file_name), id, part = part.part, of = parts.len(), reference, "part sent");
                }
                Err(error) => {
                    self.tracker.lost();
                    let reason = error.to_string();
                    let age = Duration::from_millis(
                        self.clock.now_ms().saturating_sub(row.created_ms).max(0) as u64,
                    );
                    return match policy.decide(error.kind, &reason, attempts, age) {
                        Decision::Ambiguous(reason) => {
                            let reason =
                                format!("ambiguous send (the modem may have sent it): {reason}");
                            if self.config.send.ambiguous == AmbiguousPolicy::Resend {
                                self.store.part_not_sent(id, part.part)?;
                                self.store.retry_later(
                                    id,
                                    &reason,
                                    self.clock.now_ms(),
                                    self.clock.now_ms(),
                                )?;
                                self.put_back(&file);
                                return Ok(Outcome::Retry {
                                    file: row.file_name.clone(),
                                    reason,
                                    delay: Duration::ZERO,
                                });
                            }
                            self.store.mark_resolving(
                                id,
                                part.part,
                                &reason,
                                self.clock.now_ms(),
                            )?;
                            tracing::warn!(file = %Redact(&row.file_name), id, part = part.part, reason = %crate::redact::Scrub(&reason), "no answer after the PDU; asking the modem whether it went out");
                            Ok(Outcome::Resolving {
                                file: row.file_name.clone(),
                            })
                        }
                        Decision::Fail(reason) => {
                            self.store.part_not_sent(id, part.part)?;
                            fail(self, reason)
                        }
                        Decision::RetryAfter(delay) => {
                            self.store.part_not_sent(id, part.part)?;
                            let now = self.clock.now_ms();
                            self.store.retry_later(
                                id,
                                &reason,
                                now + delay.as_millis() as i64,
                                now,
                            )?;
                            tracing::warn!(file = %Redact(&row.file_name), id, reason = %crate::redact::Scrub(&reason), ?delay, "send failed; will retry");
                            self.put_back(&file);
                            Ok(Outcome::Retry {
                                file: row.file_name.clone(),
                                reason,
                                delay,
                            })
                        }
                        Decision::WaitForDevice => {
                            // Not the message's fault, but not instantly
                            // curable either: try again after the first
                            // retry delay, so a modem that keeps refusing is
                            // not hammered.
                            self.store.part_not_sent(id, part.part)?;
                            let now = self.clock.now_ms();
                            let next = now + self.config.send.retry_delay.as_millis() as i64;
                            self.store.retry_later(id, &reason, next, now)?;
                            tracing::warn!(file = %Redact(&row.file_name), id, reason = %crate::redact::Scrub(&reason), "the modem cannot send now; will retry");
                            self.put_back(&file);
                            Ok(Outcome::WaitForDevice {
                                file: row.file_name.clone(),
                                reason,
                            })
                        }
                    };
                }
            }
        }
        self.finish_sent(id, &row.file_name, &message, &submits, &file)
    }

    /// Every part went out: record it, and move the file to sent/.
    fn finish_sent(
        &mut self,
        id: i64,
        name: &str,
        message: &OutgoingMessage,
        submits: &[SmsSubmit],
        file: &spool_fs::Claimed,
    ) -> Result<Outcome, StoreError> {
        let references: Vec<u8> = self
            .store
            .parts(id)?
            .iter()
            .filter_map(|p| p.message_ref)
            .collect();
        record_references(file, message, &references);
        let parts = references
            .iter()
            .zip(submits)
            .map(|(&reference, submit)| SentPart {
                reference,
                text: submit.user_data.body.text().map(str::to_owned),
                class: submit
                    .dcs
                    .class
                    .map_or(-1, |class| i32::from(class.number())),
            })
            .collect();
        self.store.mark_sent(id, self.clock.now_ms())?;
        let moved_to =
            match self
                .outbox
                .finish(self.config, self.store, id, file, true, self.clock.now())?
            {
                Finished::Done(path) => path,
                Finished::Pending => None,
            };
        tracing::info!(file = %Redact(name), id, parts = references.len(), "sent");
        Ok(Outcome::Sent {
            file: name.to_owned(),
            recipient: message.recipient.clone(),
            parts,
            moved_to,
        })
    }

    /// The message's file, claimed for sending: already claimed (a
    /// resumed message), or claimed now from outbox/. A file deleted or
    /// replaced meanwhile cancels the message.
    fn claim(
        &mut self,
        row: &crate::store::Outgoing,
    ) -> Result<Result<spool_fs::Claimed, Outcome>, StoreError> {
        let dir = self.outbox.dir().to_owned();
        let name = OsString::from(&row.file_name);
        let held = spool_fs::claim_dir(&dir).join(&name);
        if spool_fs::file_state(&held).is_ok_and(|state| state.id == row.file_id) {
            return Ok(Ok(spool_fs::Claimed { name, path: held }));
        }
        let cancel = |sender: &mut Self, reason: &str| -> Result<Outcome, StoreError> {
            sender.store.cancel(row.id, reason, sender.clock.now_ms())?;
            tracing::info!(file = %Redact(&row.file_name), id = row.id, reason = %crate::redact::Scrub(&reason), "message cancelled");
            sender.outbox.look_again(&row.file_name, sender.clock.now());
            Ok(Outcome::Cancelled {
                file: row.file_name.clone(),
                reason: reason.to_owned(),
            })
        };
        match spool_fs::claim(&dir, &name, &row.file_id) {
            Ok(claimed) => Ok(Ok(claimed)),
            Err(error) if spool_fs::is_not_found(&error) => Ok(Err(cancel(
                self,
                "its file was deleted from the outbox before it was sent",
            )?)),
            Err(spool_fs::SpoolIoError::Replaced { .. }) => Ok(Err(cancel(
                self,
                "its file was replaced by another of the same name before it was sent",
            )?)),
            Err(spool_fs::SpoolIoError::NotRegular { .. }) => Ok(Err(cancel(
                self,
                "its file was replaced by something that is not a regular file",
            )?)),
            Err(error) => {
                // The name is still claimed by a finished message whose file
                // could not be moved yet, or the claim folder cannot be made.
                let delay = self.config.send.retry_delay.min(Duration::from_secs(30));
                let now = self.clock.now_ms();
                let reason = format!("cannot claim the file: {error}");
                tracing::warn!(file = %Redact(&row.file_name), id = row.id, error = %crate::redact::Scrub(&error), "cannot claim the file to send it; will retry");
                self.store
                    .retry_later(row.id, &reason, now + delay.as_millis() as i64, now)?;
                Ok(Err(Outcome::Retry {
                    file: row.file_name.clone(),
                    reason,
                    delay,
                }))
            }
        }
    }

    /// The message waits again: its file goes back to outbox/ under its
    /// name (unless a new file took the name meanwhile; then it stays
    /// claimed and is used from there).
    fn put_back(&mut self, file: &spool_fs::Claimed) {
        match spool_fs::unclaim(self.outbox.dir(), file) {
            Ok(_) => {}
            Err(spool_fs::SpoolIoError::Busy { .. }) => {
                tracing::info!(file = %Redact(file.name.to_string_lossy()), "a new file took the name meanwhile; the waiting one stays claimed");
            }
            Err(error) => {
                tracing::warn!(file = %Redact(file.name.to_string_lossy()), error = %crate::redact::Scrub(&error), "cannot put the file back into the outbox; it stays claimed");
            }
        }
    }

    /// Asks the modem about every part that may have gone out (see the
    /// module docs). Returns the outcomes of messages that are finished by
    /// it (given up as ambiguous).
    pub(super) async fn resolve(&mut self) -> Result<Vec<Outcome>, StoreError> {
        let mut finished = Vec::new();
        for pending in self.store.resolving()? {
            let Some(row) = self.store.get(pending.id)? else {
                continue;
            };
            if self.config.send.ambiguous == AmbiguousPolicy::Resend {
                tracing::warn!(file = %Redact(&row.file_name), id = row.id, part = pending.part, "ambiguous send; sending it again (send.ambiguous = \"resend\")");
                self.store
                    .resolved_not_sent(pending.id, pending.part, self.clock.now_ms())?;
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
                        tracing::info!(error = %crate::redact::Scrub(&error), "cannot read the TP-MR counter yet; will ask again");
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
                    self.tracker.learn(Counter::Follows, self.store);
                    self.tracker.last = Some(reference);
                    self.store.resolved_sent(
                        pending.id,
                        pending.part,
                        reference,
                        self.clock.now_ms(),
                    )?;
                    tracing::info!(file = %Redact(&row.file_name), id = row.id, part = pending.part, reference, "resolved: the part went out (the TP-MR counter moved)");
                }
                Resolution::NotSent => {
                    self.tracker.last = last;
                    self.store
                        .resolved_not_sent(pending.id, pending.part, self.clock.now_ms())?;
                    tracing::info!(file = %Redact(&row.file_name), id = row.id, part = pending.part, "resolved: the part did not go out (the TP-MR counter did not move); sending it once");
                }
                Resolution::Unknown => {
                    let reason = format!(
                        "{} (the modem's TP-MR counter cannot tell whether it went out)",
                        row.last_error.as_deref().unwrap_or("ambiguous send")
                    );
                    self.store.mark_ambiguous(
                        pending.id,
                        pending.part,
                        &reason,
                        self.clock.now_ms(),
                    )?;
                    tracing::error!(file = %Redact(&row.file_name), id = row.id, part = pending.part, reason = %crate::redact::Scrub(&reason), "ambiguous send; not resent");
                    let name = OsString::from(&row.file_name);
                    let held = spool_fs::claim_dir(self.outbox.dir()).join(&name);
                    let path = if held.exists() {
                        held
                    } else {
                        self.outbox.dir().join(&name)
                    };
                    let file = spool_fs::Claimed { name, path };
                    self.outbox.finish(
                        self.config,
                        self.store,
                        row.id,
                        &file,
                        false,
                        self.clock.now(),
                    )?;
                    finished.push(Outcome::Failed {
                        file: row.file_name.clone(),
                        reason,
                    });
                }
            }
            self.tracker
                .failed_reads
                .remove(&(pending.id, pending.part));
        }
        Ok(finished)
    }
}

/// `.smsbackup` files get a `MessageReference` line per part, as gammu
/// writes them (without 1.42's duplicated content).
fn record_references(claimed: &spool_fs::Claimed, message: &OutgoingMessage, references: &[u8]) {
    if !matches!(message.body, spool::OutgoingBody::Parts(_))
        || !claimed.name.to_string_lossy().ends_with(".smsbackup")
    {
        return;
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
        tracing::warn!(file = %Redact(claimed.name.to_string_lossy()), error = %crate::redact::Scrub(&error), "cannot record message references");
    }
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
