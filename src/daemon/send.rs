//! Sending one claimed message: plan its parts again (planning is
//! deterministic, and the concatenation reference comes from the row id, so
//! a resumed message matches the parts already sent), send each part not
//! yet sent, record every transition, and decide what a failure means.

use super::intake::{self, finish_file};
use super::retry::{Decision, RetryPolicy};
use crate::config::{AmbiguousPolicy, Config};
use crate::daemon::logging::Redact;
use crate::modem::supervisor::SupervisorHandle;
use crate::spool::{self, fs as spool_fs, OutgoingMessage};
use crate::store::{PartState, Store, StoreError};
use std::time::Duration;

/// How a send attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every part went out; the file is in sent/.
    Sent {
        /// The outbox file name.
        file: String,
        /// The recipient.
        recipient: String,
        /// TP-MR of each part.
        references: Vec<u8>,
        /// Where the file went (None: deleted, as configured).
        moved_to: Option<std::path::PathBuf>,
    },
    /// Queued again for later.
    Retry(Duration),
    /// The modem went away; try again when it is back.
    WaitForModem,
    /// Given up; the file is in error/.
    Failed {
        /// The outbox file name.
        file: String,
        /// Why.
        reason: String,
    },
    /// Shutting down between parts; the rest waits in the queue.
    Interrupted,
}

/// Sends message `id`. `stop` is checked between parts.
pub async fn send(
    config: &Config,
    store: &mut Store,
    modem: &SupervisorHandle,
    id: i64,
    now_ms: impl Fn() -> i64,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Outcome, StoreError> {
    let Some(row) = store.get(id)? else {
        return Ok(Outcome::Interrupted);
    };
    let claimed = spool_fs::Claimed {
        name: row.file_name.clone().into(),
        path: spool_fs::claim_dir(&config.spool.outbox).join(&row.file_name),
    };
    let policy = retry_policy(config);
    let fail = |store: &mut Store, reason: String| -> Result<Outcome, StoreError> {
        store.mark_failed(id, &reason, now_ms())?;
        tracing::error!(file = %Redact(&row.file_name), id, %reason, "message failed");
        finish_file(config, store, id, &claimed, false)?;
        Ok(Outcome::Failed {
            file: row.file_name.clone(),
            reason,
        })
    };
    let parsed = match spool::classify_outbox_name(&row.file_name) {
        Ok(Some(parsed)) => parsed,
        _ => {
            return fail(
                store,
                "the claimed file name is no longer an outbox name".to_owned(),
            )
        }
    };
    let message = match intake::read_message(config, &claimed, &parsed) {
        Ok((message, _)) => message,
        Err(reason) => return fail(store, reason),
    };
    let submits = match message.to_submits(config.spool.transmit_format, concat_reference(id)) {
        Ok(submits) => submits,
        Err(error) => return fail(store, error.to_string()),
    };
    let smsc = message.smsc_address().ok().flatten();
    let parts = store.parts(id)?;
    if parts.len() != submits.len() {
        return fail(
            store,
            format!(
                "the file now plans to {} parts, not {}",
                submits.len(),
                parts.len()
            ),
        );
    }
    store.count_attempt(id, now_ms())?;
    for (part, submit) in parts.iter().zip(&submits) {
        if part.state == PartState::Sent {
            continue;
        }
        if stop() {
            return Ok(Outcome::Interrupted);
        }
        let encoded = match submit.encode(smsc.as_ref()) {
            Ok(encoded) => encoded,
            Err(error) => return fail(store, error.to_string()),
        };
        store.part_sending(id, part.part, now_ms())?;
        match modem.send_pdu(&encoded).await {
            Ok(reference) => {
                store.part_sent(id, part.part, reference, now_ms())?;
                tracing::info!(file = %Redact(&row.file_name), id, part = part.part, of = parts.len(), reference, "part sent");
            }
            Err(error) => {
                let reason = error.to_string();
                let attempts = store.get(id)?.map_or(1, |m| m.attempts);
                let age =
                    Duration::from_millis(now_ms().saturating_sub(row.created_ms).max(0) as u64);
                return match policy.decide(error.kind(), &reason, attempts, age) {
                    Decision::Ambiguous(reason) => {
                        let reason =
                            format!("ambiguous send (the modem may have sent it): {reason}");
                        if config.send.ambiguous == AmbiguousPolicy::Resend {
                            store.part_not_sent(id, part.part)?;
                            store.retry_later(id, &reason, now_ms(), now_ms())?;
                            return Ok(Outcome::Retry(Duration::ZERO));
                        }
                        store.mark_ambiguous(id, part.part, &reason, now_ms())?;
                        tracing::error!(file = %Redact(&row.file_name), id, part = part.part, %reason, "ambiguous send; not resent");
                        finish_file(config, store, id, &claimed, false)?;
                        Ok(Outcome::Failed {
                            file: row.file_name.clone(),
                            reason,
                        })
                    }
                    Decision::Fail(reason) => {
                        store.part_not_sent(id, part.part)?;
                        fail(store, reason)
                    }
                    Decision::RetryAfter(delay) => {
                        store.part_not_sent(id, part.part)?;
                        let now = now_ms();
                        store.retry_later(id, &reason, now + delay.as_millis() as i64, now)?;
                        tracing::warn!(file = %Redact(&row.file_name), id, %reason, ?delay, "send failed; will retry");
                        Ok(Outcome::Retry(delay))
                    }
                    Decision::WaitForModem => {
                        // Not the message's fault, but not instantly
                        // curable either: try again after the first retry
                        // delay, so a modem that keeps refusing is not
                        // hammered.
                        store.part_not_sent(id, part.part)?;
                        let now = now_ms();
                        let next = now + config.send.retry_delay.as_millis() as i64;
                        store.retry_later(id, &reason, next, now)?;
                        tracing::warn!(file = %Redact(&row.file_name), id, %reason, "the modem cannot send now; will retry");
                        Ok(Outcome::WaitForModem)
                    }
                };
            }
        }
    }
    let references: Vec<u8> = store
        .parts(id)?
        .iter()
        .filter_map(|p| p.message_ref)
        .collect();
    record_references(&claimed, &message, &references);
    store.mark_sent(id, now_ms())?;
    let moved_to = finish_file(config, store, id, &claimed, true)?;
    tracing::info!(file = %Redact(&row.file_name), id, parts = references.len(), "sent");
    Ok(Outcome::Sent {
        file: row.file_name.clone(),
        recipient: message.recipient.clone(),
        references,
        moved_to,
    })
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
        tracing::warn!(file = %Redact(claimed.name.to_string_lossy()), %error, "cannot record message references");
    }
}

/// The concatenation reference of message `id`: stable across retries.
pub fn concat_reference(id: i64) -> u16 {
    (id.rem_euclid(255) + 1) as u16
}

/// The retry policy the configuration asks for.
pub fn retry_policy(config: &Config) -> RetryPolicy {
    RetryPolicy {
        max_attempts: config.send.max_attempts.unwrap_or(u32::MAX),
        max_age: config.send.max_age.unwrap_or(Duration::MAX),
        initial_delay: config.send.retry_delay,
        max_delay: config.send.retry_delay_max.max(config.send.retry_delay),
    }
}
