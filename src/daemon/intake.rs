//! Outbox intake: from a file name in outbox/ to a claimed, parsed and
//! recorded message, or to error/ with the reason.
//!
//! A file is claimed only when no process still has it open for writing and
//! it did not change during the settle window; it is then renamed into the
//! claim directory (atomic, same filesystem) and recorded in SQLite under its
//! claim name before anything goes to the modem. On restart the claim
//! directory is read again and every claimed file is matched to its row.

use crate::config::Config;
use crate::daemon::logging::Redact;
use crate::spool::{self, fs as spool_fs, OutboxName, OutgoingMessage, Utf8Fallback};
use crate::store::{Store, StoreError};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What happened to one candidate.
#[derive(Debug)]
pub enum Intake {
    /// Not an outbox file: left alone.
    Ignored,
    /// Still being written, or changed: looked at again later.
    NotReady,
    /// Claimed and queued under this row id.
    Queued(i64),
    /// Sent to error/ (or left, when it could not even be claimed) for this reason.
    Rejected(String),
}

/// Looks at one outbox entry and takes it in when it is ready.
pub fn take(
    config: &Config,
    store: &mut Store,
    name: &OsStr,
    settle: Duration,
    now_ms: i64,
) -> Result<Intake, StoreError> {
    let outbox = &config.spool.outbox;
    let parsed = match spool::classify_outbox_os_name(name) {
        Ok(None) => return Ok(Intake::Ignored),
        Ok(Some(parsed)) => parsed,
        Err(error) => {
            // gammu would pick it up and fail; simgate says why and leaves it.
            return Ok(Intake::Rejected(format!(
                "not a usable outbox file name: {error}"
            )));
        }
    };
    let path = outbox.join(name);
    match spool_fs::settle_check(&path, settle) {
        Ok(spool_fs::Settle::Settled { .. }) => {}
        Ok(spool_fs::Settle::Gone) => return Ok(Intake::Ignored),
        Ok(spool_fs::Settle::Changed | spool_fs::Settle::OpenForWriting(_)) => {
            return Ok(Intake::NotReady)
        }
        Err(spool_fs::SpoolIoError::NotRegular { kind, .. }) => {
            return Ok(Intake::Rejected(format!(
                "not a regular file ({kind:?}); left where it is"
            )));
        }
        Err(error) => {
            tracing::warn!(file = %Redact(name.to_string_lossy()), %error, "cannot inspect outbox file");
            return Ok(Intake::NotReady);
        }
    }
    let claimed = match spool_fs::claim(outbox, name) {
        Ok(claimed) => claimed,
        Err(spool_fs::SpoolIoError::Busy { .. }) => return Ok(Intake::NotReady),
        Err(error) => {
            let reason = format!("cannot claim: {error}");
            tracing::warn!(file = %Redact(name.to_string_lossy()), %reason, "outbox file left in place");
            return Ok(Intake::Rejected(reason));
        }
    };
    record(config, store, &claimed, &parsed, now_ms)
}

/// Reads a claimed file and records it: queued, or failed and moved to error/.
pub fn record(
    config: &Config,
    store: &mut Store,
    claimed: &spool_fs::Claimed,
    parsed: &OutboxName,
    now_ms: i64,
) -> Result<Intake, StoreError> {
    let key = claim_key(claimed);
    let file_name = claimed.name.to_string_lossy().into_owned();
    match read_message(config, claimed, parsed) {
        Ok((message, parts)) => {
            let row = store.enqueue(&key, &file_name, &message.recipient, parts, now_ms)?;
            tracing::info!(file = %Redact(&file_name), parts, id = row.id, "queued");
            Ok(Intake::Queued(row.id))
        }
        Err(reason) => {
            let row = store.enqueue(&key, &file_name, "", 1, now_ms)?;
            store.mark_failed(row.id, &reason, now_ms)?;
            tracing::error!(file = %Redact(&file_name), %reason, "outbox file rejected");
            finish_file(config, store, row.id, claimed, false)?;
            Ok(Intake::Rejected(reason))
        }
    }
}

/// The key a claimed file is recorded under.
pub fn claim_key(claimed: &spool_fs::Claimed) -> String {
    format!("claim:{}", claimed.name.to_string_lossy())
}

/// Reads and parses a claimed file; how many parts it will take.
pub fn read_message(
    config: &Config,
    claimed: &spool_fs::Claimed,
    parsed: &OutboxName,
) -> Result<(OutgoingMessage, u32), String> {
    let content = spool_fs::read_outbox_file(&claimed.path).map_err(|e| e.to_string())?;
    let message =
        spool::parse_outbox(parsed, &content, Utf8Fallback::Reject).map_err(|e| e.to_string())?;
    let submits = message
        .to_submits(config.spool.transmit_format, 0)
        .map_err(|e| e.to_string())?;
    Ok((message, submits.len() as u32))
}

/// Moves a finished message's file to sent/ or error/ and forgets the claim.
pub fn finish_file(
    config: &Config,
    store: &mut Store,
    id: i64,
    claimed: &spool_fs::Claimed,
    sent: bool,
) -> Result<Option<PathBuf>, StoreError> {
    let outbox = &config.spool.outbox;
    let target = if sent {
        config.spool.sent.clone()
    } else {
        config.spool.error.clone()
    };
    let outcome = match target {
        Some(dir) => spool_fs::finish(outbox, claimed, &dir),
        None => spool_fs::finish(outbox, claimed, outbox),
    };
    let moved = match outcome {
        Ok(outcome) => outcome.path().map(Path::to_owned),
        Err(error) => {
            tracing::error!(file = %Redact(claimed.name.to_string_lossy()), %error, "cannot move the finished file");
            return Ok(None);
        }
    };
    store.forget_file(id)?;
    Ok(moved)
}
