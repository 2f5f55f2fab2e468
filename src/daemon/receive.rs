//! The receive path: reading what the device stored or routed, recording
//! each part before it leaves the SIM, assembling concatenated messages,
//! writing their inbox files durably, and only then deleting them from the
//! SIM (or acknowledging a routed `+CMT`).
//!
//! What happens to one PDU ([`record_pdu`]), keyed on its content:
//! 1. does not decode? keep it raw with the reason in the database
//!    (`undecodable` table), once;
//! 2. a status report: record it and the delivery outcome of the part it
//!    names;
//! 3. recorded before (a crash before its delete)? finish what was left
//!    undone, record nothing twice;
//! 4. a part that does not complete its message: record it;
//! 5. a part that completes its message (a single SMS, a report stored as
//!    gammu stores it): record it together with the message and the names
//!    its files will have ([`Unwritten`]).
//!
//! A whole batch (everything one read of a storage found) is recorded in
//! one commit, synced before anything is written; then every file is
//! written (temporary name, rename) and the batch synced once
//! ([`deliver`]), then recorded as written; then, and only then, the caller
//! deletes the batch from the SIM. A lone message costs a commit, the
//! file's and its folder's fsyncs; a burst costs one commit and one sync of
//! the file system for all its messages.
//!
//! A crash between any two steps loses nothing and writes no file twice: the
//! part or message row decides on restart ([`finish_unwritten`],
//! [`complete_recorded`]).
//!
//! Everything here but [`read_storage`] runs on the keeper's thread
//! ([`super::keeper`]); [`read_storage`] asks the device on the event
//! loop and hands the rest over.

use super::filter::Filters;
use super::keeper::Keeper;
use super::state::Core;
use crate::config::Config;
use crate::daemon::logging::Redact;
use crate::device::{Device, DeviceError, Listed, Location};
use crate::pdu::{self, Incoming};
use crate::spool::fs::{self as spool_fs, Flush};
use crate::spool::inbox::{self, ReceivedPart};
use crate::store::{Durability, IncomingPart, NewPart, ReportRecord, Store, StoreError};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

/// A message whose inbox files were written: for RunOnReceive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    /// Its row in the `incoming` table; `None` for a report that was only
    /// logged (DeliveryReport = log).
    pub id: Option<i64>,
    /// The inbox file names, in part order.
    pub files: Vec<String>,
    /// The sender.
    pub sender: String,
    /// The decoded parts, in order.
    pub parts: Vec<ReceivedPart>,
    /// Whether every part arrived (false after the multipart timeout).
    pub complete: bool,
}

/// Why receiving stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReceiveError {
    /// The device failed.
    #[error("{0}")]
    Device(#[from] DeviceError),
    /// The database failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// An inbox file could not be written; the message stays on the SIM.
    #[error("cannot write an inbox file: {0}")]
    Write(#[from] spool_fs::SpoolIoError),
}

/// A message recorded with the names of its inbox files, which are still
/// to be written ([`deliver`]).
#[derive(Debug)]
pub(super) struct Unwritten {
    /// The files, rendered.
    files: Vec<inbox::InboxFile>,
    /// What RunOnReceive gets once they are written.
    received: Received,
    /// Recorded before this process started: a write before the restart
    /// may have left its files under its names, and they are replaced. A
    /// message recorded since is written without replacing anything, so
    /// that a file another writer of the inbox (a second daemon) gave the
    /// name meanwhile is never lost.
    from_before: bool,
}

/// Adds `message` to a batch to be written unless the batch has it
/// already (two of its parts in one read, or a part the network repeated:
/// each finds the message unwritten), and returns its place in the batch.
/// Written once, announced once.
fn push_unique(batch: &mut Vec<Unwritten>, message: Unwritten) -> usize {
    let known = message
        .received
        .id
        .and_then(|id| batch.iter().position(|other| other.received.id == Some(id)));
    known.unwrap_or_else(|| {
        batch.push(message);
        batch.len() - 1
    })
}

/// The names messages recorded in this batch will have: a second message
/// of the same sender and minute must not choose a name the first one has
/// not written yet.
pub(super) type Reserved = HashSet<String>;

/// What one read of a storage came to.
#[derive(Debug, Default)]
pub(super) struct StorageRecorded {
    /// The messages written.
    pub(super) received: Vec<Received>,
    /// The entries that may now be deleted from the device.
    pub(super) deletable: Vec<Location>,
    /// What stopped the batch (its entries not in `deletable` stay).
    pub(super) error: Option<ReceiveError>,
}

/// The user's own messages (SMS-SUBMITs stored sent or unsent) the last
/// read of each storage found and left there: each is logged once, when a
/// read first finds it, not at every read.
#[derive(Debug, Default)]
pub(super) struct OwnMessages {
    /// Where they are.
    noted: HashSet<Location>,
}

impl OwnMessages {
    /// Notes the own messages one read of `storage` found, forgetting
    /// those of that storage it no longer found; returns those the read
    /// before did not find. Pure.
    pub(super) fn note(&mut self, storage: &str, found: &[Location]) -> Vec<Location> {
        self.noted
            .retain(|location| location.storage != storage || found.contains(location));
        found
            .iter()
            .filter(|location| self.noted.insert((*location).clone()))
            .cloned()
            .collect()
    }
}

/// Reads `storage` of the device and processes every message in it, each
/// deleted from the device once it is recorded (and its files written); a
/// filtered message stays, as gammu leaves it; so does one of the user's
/// own messages (stored sent or unsent, gammu reads only the inbox:
/// spec §5.6); an entry that cannot be read at all is kept raw and
/// deleted. Returns what was written (for its
/// hooks, even when something failed after it) and what failed.
pub(super) async fn read_storage<D: Device>(
    keeper: &Keeper<Core>,
    device: &D,
    storage: &str,
    now_ms: i64,
) -> (Vec<Received>, Option<ReceiveError>) {
    let listed = match device.read_storage(storage).await {
        Ok(listed) if listed.is_empty() => return (Vec::new(), None),
        Ok(listed) => listed,
        Err(error) => return (Vec::new(), Some(error.into())),
    };
    let storage = storage.to_owned();
    let recorded = keeper
        .call(move |core| {
            let Core {
                config,
                store,
                filters,
                own_messages,
                ..
            } = core;
            record_listed(
                config,
                filters,
                store,
                own_messages,
                &storage,
                listed,
                now_ms,
            )
        })
        .await;
    for location in &recorded.deletable {
        if let Err(error) = device.delete(location).await {
            return (recorded.received, Some(error.into()));
        }
    }
    (recorded.received, recorded.error)
}

/// Records one PDU the device routed raw (`+CMT`, on no SIM), and writes
/// the message it completes: `Ok` when it may be acknowledged.
pub(super) fn record_routed(
    config: &Config,
    filters: &Filters,
    store: &mut Store,
    pdu: &[u8],
    now_ms: i64,
) -> Result<Vec<Received>, ReceiveError> {
    let mut reserved = Reserved::new();
    let taken = store.batch(Durability::Now, |store| {
        record_pdu(config, filters, store, &mut reserved, pdu, now_ms)
    })?;
    match taken {
        // Routed raw, a filtered message is on no SIM to be left on.
        Recorded::Filtered | Recorded::Done(None) => Ok(Vec::new()),
        Recorded::Done(Some(message)) => {
            let written = deliver(config, store, vec![message], now_ms);
            match written.error {
                Some(error) => Err(error),
                None => Ok(written.received),
            }
        }
    }
}

/// Records, writes and marks a batch of listed entries (see the module
/// documentation), saying which of them may be deleted from the device.
/// The user's own messages among them (listed as such, or SMS-SUBMITs by
/// their message type) are left alone: not recorded, not deletable, logged
/// once ([`OwnMessages`]).
pub(super) fn record_listed(
    config: &Config,
    filters: &Filters,
    store: &mut Store,
    own_messages: &mut OwnMessages,
    storage: &str,
    listed: Vec<Listed>,
    now_ms: i64,
) -> StorageRecorded {
    let mut own = Vec::new();
    let listed: Vec<Listed> = listed
        .into_iter()
        .filter(|entry| match entry {
            Listed::Outgoing { location } => {
                own.push(location.clone());
                false
            }
            Listed::Message { location, pdu } if pdu::is_stored_submit(pdu) => {
                own.push(location.clone());
                false
            }
            _ => true,
        })
        .collect();
    for location in own_messages.note(storage, &own) {
        tracing::info!(
            storage = %location.storage,
            index = location.index,
            "one of the user's own messages (stored sent or unsent) is on the device; left there"
        );
    }
    if listed.is_empty() {
        // Only the user's own: nothing to record, write or delete.
        return StorageRecorded::default();
    }
    let mut reserved = Reserved::new();
    let mut unwritten = Vec::new();
    // Each entry, and the message of `unwritten` it waits for.
    let mut entries: Vec<(Location, Option<usize>)> = Vec::new();
    let recorded = store.batch(Durability::Now, |store| {
        for entry in listed {
            match entry {
                // Left on the device (taken out above).
                Listed::Outgoing { .. } => {}
                Listed::Message { location, pdu } => {
                    match record_pdu(config, filters, store, &mut reserved, &pdu, now_ms)? {
                        Recorded::Done(message) => {
                            let waits_for =
                                message.map(|message| push_unique(&mut unwritten, message));
                            entries.push((location, waits_for));
                        }
                        Recorded::Filtered => {}
                    }
                }
                Listed::Unreadable {
                    location,
                    raw,
                    reason,
                } => {
                    // Kept as it came (the same line is the same message again).
                    let key = if raw.is_empty() {
                        format!("unparsed:{}:{}:{now_ms}", location.storage, location.index)
                    } else {
                        format!("line:{raw}")
                    };
                    keep_undecodable(store, &key, &raw, &reason, now_ms)?;
                    entries.push((location, None));
                }
            }
        }
        Ok::<_, ReceiveError>(())
    });
    let delivered = deliver(config, store, unwritten, now_ms);
    let deletable = entries
        .into_iter()
        .filter(|(_, waits_for)| waits_for.is_none_or(|index| index < delivered.received.len()))
        .map(|(location, _)| location)
        .collect();
    StorageRecorded {
        received: delivered.received,
        deletable,
        error: recorded.err().or(delivered.error),
    }
}

/// What [`deliver`] wrote.
#[derive(Debug, Default)]
pub(super) struct Delivered {
    /// The messages written and recorded as written, in order.
    pub(super) received: Vec<Received>,
    /// What stopped the writing (the rest waits, recorded as unwritten).
    pub(super) error: Option<ReceiveError>,
}

/// Writes the files of recorded messages in order, syncs them all at
/// once, and records them written (a commit the next one syncs: after a
/// power cut that loses it, the same files are written again under the
/// same names). Stops at the first message that cannot be written.
pub(super) fn deliver(
    config: &Config,
    store: &mut Store,
    unwritten: Vec<Unwritten>,
    now_ms: i64,
) -> Delivered {
    let mut written = Vec::new();
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut error = None;
    for mut message in unwritten {
        match write_message(config, store, &mut message, now_ms) {
            Ok(mut more) => {
                paths.append(&mut more);
                written.push(message.received);
            }
            Err(failed) => {
                error = Some(failed);
                break;
            }
        }
    }
    if let Err(failed) = spool_fs::sync_written(&config.spool.inbox, &paths) {
        return Delivered {
            received: Vec::new(),
            error: Some(failed.into()),
        };
    }
    let hook = has_hook(config);
    let mut received = Vec::new();
    let marked = store.batch(Durability::WithNextCommit, |store| {
        for message in written {
            // Its webhook goes in the commit that says its files are written.
            let (kind, data) = super::webhooks::received_event(&message);
            store.queue_webhook(kind, data, now_ms)?;
            if let Some(id) = message.id {
                store.incoming_written(id, hook)?;
                tracing::info!(
                    id,
                    parts = message.parts.len(),
                    complete = message.complete,
                    "received"
                );
            }
            received.push(message);
        }
        Ok::<_, StoreError>(())
    });
    Delivered {
        received,
        error: error.or(marked.err().map(ReceiveError::from)),
    }
}

/// What became of one received PDU.
#[derive(Debug)]
pub(super) enum Recorded {
    /// Recorded, now or before; the message it completes (or completed
    /// before, unwritten) is to be written before the device's copy goes.
    Done(Option<Unwritten>),
    /// Refused by the sender or SMSC filters: nothing was recorded.
    Filtered,
}

/// Records one received PDU (SMSC field, then TPDU), stored or routed raw.
/// Idempotent: a PDU seen before (a crash before its delete, a network
/// resending an unacknowledged `+CMT`) finishes whatever was left undone
/// and records nothing twice.
pub(super) fn record_pdu(
    config: &Config,
    filters: &Filters,
    store: &mut Store,
    reserved: &mut Reserved,
    pdu: &[u8],
    now_ms: i64,
) -> Result<Recorded, ReceiveError> {
    let key = pdu::hex::encode(pdu);
    let decoded = pdu::split_smsc(pdu).and_then(|(smsc, tpdu)| Ok((smsc, Incoming::decode(tpdu)?)));
    let (smsc, incoming) = match decoded {
        Ok(decoded) => decoded,
        Err(error) => {
            keep_undecodable(store, &key, &key, &error.to_string(), now_ms)?;
            return Ok(Recorded::Done(None));
        }
    };
    match incoming {
        Incoming::StatusReport(report) => {
            let new = !store.status_report_known(&key)?;
            if new {
                record_report(store, &key, &report, now_ms)?;
            }
            let recipient = report.recipient.to_display();
            // gammu stores reports in the inbox unless DeliveryReport = log;
            // then it still runs RunOnReceive, with no file, the report in
            // the environment (spec §6).
            if config.receive.delivery_report == crate::config::DeliveryReport::Log {
                let logged = new.then(|| Unwritten {
                    from_before: false,
                    files: Vec::new(),
                    received: Received {
                        id: None,
                        files: Vec::new(),
                        sender: recipient,
                        parts: vec![ReceivedPart::new(
                            smsc,
                            Incoming::StatusReport(report),
                            utc(now_ms),
                        )],
                        complete: true,
                    },
                });
                return Ok(Recorded::Done(logged));
            }
            let part = NewPart {
                content_key: &key,
                pdu,
                sender: &recipient,
                concat: None,
                now_ms,
            };
            Ok(Recorded::Done(record_part(config, store, reserved, &part)?))
        }
        Incoming::Deliver(deliver) => {
            let sender = deliver.originator.to_display();
            if store.incoming_part_by_key(&key)?.is_none() {
                let smsc = smsc.map(|a| a.to_display());
                if !filters.accepts(&sender, smsc.as_deref()) {
                    tracing::info!(sender = %Redact(&sender), "message filtered out");
                    return Ok(Recorded::Filtered);
                }
                warn_oddities(&deliver, &sender);
            }
            let concat = deliver.user_data.header.as_ref().and_then(|h| h.concat());
            let part = NewPart {
                content_key: &key,
                pdu,
                sender: &sender,
                concat,
                now_ms,
            };
            Ok(Recorded::Done(record_part(config, store, reserved, &part)?))
        }
    }
}

/// Says what about a newly received message is not as it should be but
/// does not keep it from the inbox.
fn warn_oddities(deliver: &pdu::SmsDeliver, sender: &str) {
    if let Some(why) = deliver.dcs.undecoded() {
        tracing::warn!(
            sender = %Redact(sender),
            %why,
            "the user data is kept undecoded, as 8-bit data (a .bin file)"
        );
    }
    if let pdu::Scts::Invalid(_) = deliver.timestamp {
        tracing::warn!(
            sender = %Redact(sender),
            scts = %deliver.timestamp,
            "the service centre time stamp is not a date; the message is dated by its reception"
        );
    }
}

/// Records `part` (unless it was recorded before), and the message it
/// completes with its file names. A part that completes its message is
/// recorded together with the start of the message.
fn record_part(
    config: &Config,
    store: &mut Store,
    reserved: &mut Reserved,
    part: &NewPart<'_>,
) -> Result<Option<Unwritten>, ReceiveError> {
    if let Some((id, _)) = store.incoming_part_by_key(part.content_key)? {
        return complete_part(config, store, reserved, id, part.now_ms);
    }
    let waiting = match part.concat {
        None => Vec::new(),
        Some(c) => store.waiting_parts(part.sender, c.reference, c.total)?,
    };
    let sequence = part.concat.map(|c| c.sequence);
    let repeated = waiting
        .iter()
        .any(|p| p.concat.map(|c| c.sequence) == sequence);
    let complete = match part.concat {
        None => true,
        Some(c) => !repeated && waiting.len() + 1 >= usize::from(c.total),
    };
    if !complete {
        let id = store.add_incoming_part(
            part.content_key,
            part.pdu,
            part.sender,
            part.concat,
            part.now_ms,
        )?;
        return complete_part(config, store, reserved, id, part.now_ms);
    }
    let mut group = waiting.clone();
    group.push(IncomingPart {
        id: 0,
        pdu: part.pdu.to_vec(),
        sender: part.sender.to_owned(),
        concat: part.concat,
        received_ms: part.now_ms,
    });
    group.sort_by_key(|p| p.concat.map(|c| c.sequence));
    let parts = decode_parts(&group);
    let rendered = render_new(config, store, reserved, &parts, part.now_ms)?;
    let files = names(&rendered);
    let others: Vec<i64> = waiting.iter().map(|p| p.id).collect();
    let (_, message) = store.add_completing_part(part, &others, &files)?;
    Ok(Some(Unwritten {
        from_before: false,
        files: rendered,
        received: Received {
            id: Some(message),
            files,
            sender: part.sender.to_owned(),
            parts,
            complete: true,
        },
    }))
}

/// Keeps a PDU that does not decode, raw with the reason (once).
pub(super) fn keep_undecodable(
    store: &mut Store,
    key: &str,
    raw: &str,
    reason: &str,
    now_ms: i64,
) -> Result<(), ReceiveError> {
    if !store.incoming_known(key)? {
        store.add_undecodable(key, raw, reason, now_ms)?;
        let kept = store.undecodable_count()?;
        tracing::warn!(reason = %crate::redact::Scrub(&reason), pdu = %crate::redact::Redact(raw), kept, "undecodable PDU kept in the database (table undecodable)");
    }
    Ok(())
}

/// Records a status report and the delivery outcome of the part it names.
fn record_report(
    store: &mut Store,
    key: &str,
    report: &pdu::StatusReport,
    now_ms: i64,
) -> Result<(), ReceiveError> {
    let outcome = format!("{:?}", report.status.outcome()).to_ascii_lowercase();
    let recipient = report.recipient.to_display();
    if report.timestamp.valid().is_none() || report.discharge_time.valid().is_none() {
        tracing::warn!(
            scts = %report.timestamp,
            discharge = %report.discharge_time,
            "a time stamp of a delivery report is not a date; the report is dated by its reception"
        );
    }
    let discharge = report.discharge_time.to_string();
    let record = ReportRecord {
        message_ref: report.message_reference,
        recipient: &recipient,
        status: report.status.0,
        outcome: &outcome,
        discharge_time: &discharge,
    };
    match store.add_status_report(key, &record, now_ms)? {
        Some((id, part)) => {
            tracing::info!(id, part, %outcome, status = %report.status, "delivery report")
        }
        None => tracing::info!(
            reference = report.message_reference,
            %outcome,
            "delivery report for no known message"
        ),
    }
    Ok(())
}

/// The message `part` completes, to be written, unless it is already
/// written or its message still waits for parts.
fn complete_part(
    config: &Config,
    store: &mut Store,
    reserved: &mut Reserved,
    part: i64,
    now_ms: i64,
) -> Result<Option<Unwritten>, ReceiveError> {
    if store.incoming_part_assembled(part)? {
        // Its message's files may still be unwritten (the disk was full):
        // write them now, or keep the part on the SIM.
        return match store.message_of_part(part)? {
            Some(message) if !message.written => {
                recorded_message(config, store, message.id, now_ms)
            }
            _ => Ok(None),
        };
    }
    let group = store.open_group(part)?;
    let complete = match group.first().and_then(|p| p.concat) {
        None => !group.is_empty(),
        Some(c) => group.len() >= usize::from(c.total),
    };
    if !complete || joined_as_copy(config, store, &group)? {
        return Ok(None);
    }
    Ok(Some(assemble(
        config, store, reserved, &group, true, now_ms,
    )?))
}

/// Whether `group` repeats a message already written and joined it: the
/// network sent those parts again (with another time stamp, or the same).
/// A sender may reuse a reference for every long message (bulk senders do;
/// a phone's counter wraps), so sender, reference and sequence numbers do
/// not make a copy; the content must be the same too, for every part.
fn joined_as_copy(
    config: &Config,
    store: &mut Store,
    group: &[IncomingPart],
) -> Result<bool, ReceiveError> {
    let Some(concat) = group.first().and_then(|p| p.concat) else {
        return Ok(false);
    };
    let window = config.receive.multipart_timeout.as_millis() as i64;
    let first_read = group.iter().map(|p| p.received_ms).min().unwrap_or(0);
    let originals = store.assembled_parts(
        &group[0].sender,
        concat.reference,
        concat.total,
        first_read.saturating_sub(window),
    )?;
    let Some(message) = repeated_message(group, &originals) else {
        return Ok(false);
    };
    let ids: Vec<i64> = group.iter().map(|p| p.id).collect();
    store.join_message(&ids, message)?;
    tracing::info!(
        parts = ids.len(),
        "parts repeating a message already written; nothing more written"
    );
    Ok(true)
}

/// The message among `originals` (assembled parts, each with its message)
/// of which every part of `group` is a repeat: the same sequence number,
/// coding and user data. Pure.
fn repeated_message(group: &[IncomingPart], originals: &[(i64, IncomingPart)]) -> Option<i64> {
    let content = |part: &IncomingPart| {
        let (_, tpdu) = pdu::split_smsc(&part.pdu).ok()?;
        match Incoming::decode(tpdu).ok()? {
            Incoming::Deliver(deliver) => Some((deliver.dcs, deliver.user_data)),
            Incoming::StatusReport(_) => None,
        }
    };
    let mut candidates: Vec<i64> = originals.iter().map(|(m, _)| *m).collect();
    candidates.dedup();
    candidates.into_iter().find(|&message| {
        group.iter().all(|part| {
            let Some(wanted) = content(part) else {
                return false;
            };
            originals.iter().any(|(m, original)| {
                *m == message
                    && original.concat.map(|c| c.sequence) == part.concat.map(|c| c.sequence)
                    && content(original).as_ref() == Some(&wanted)
            })
        })
    })
}

/// After a restart: writes the messages whose last part was recorded but
/// not yet assembled (a crash in between, or a routed `+CMT` that is on no
/// SIM to be read again).
pub(super) fn complete_recorded(
    config: &Config,
    store: &mut Store,
    now_ms: i64,
) -> Result<Vec<Received>, ReceiveError> {
    let mut reserved = Reserved::new();
    let mut unwritten = Vec::new();
    let recorded = store.batch(Durability::Now, |store| {
        for part in store.unassembled_parts()? {
            if let Some(message) = complete_part(config, store, &mut reserved, part, now_ms)? {
                push_unique(&mut unwritten, message);
            }
        }
        Ok::<_, ReceiveError>(())
    });
    delivered(deliver(config, store, unwritten, now_ms), recorded)
}

/// Writes the inbox files of concatenated messages that waited longer than
/// the multipart timeout, with the parts they have.
pub(super) fn flush_stale(
    config: &Config,
    store: &mut Store,
    now_ms: i64,
) -> Result<Vec<Received>, ReceiveError> {
    let timeout = config.receive.multipart_timeout.as_millis() as i64;
    let mut reserved = Reserved::new();
    let mut unwritten = Vec::new();
    let recorded = store.batch(Durability::Now, |store| {
        for part in store.stale_groups(now_ms - timeout)? {
            let group = store.open_group(part)?;
            if joined_as_copy(config, store, &group)? {
                continue;
            }
            tracing::warn!(
                parts = group.len(),
                "multipart message incomplete after the timeout; writing what arrived"
            );
            unwritten.push(assemble(
                config,
                store,
                &mut reserved,
                &group,
                false,
                now_ms,
            )?);
        }
        Ok::<_, ReceiveError>(())
    });
    delivered(deliver(config, store, unwritten, now_ms), recorded)
}

/// What was written, or the first error (after which what was written
/// has been recorded as such and waits for its hooks in the database).
fn delivered(
    delivered: Delivered,
    recorded: Result<(), ReceiveError>,
) -> Result<Vec<Received>, ReceiveError> {
    match recorded.err().or(delivered.error) {
        Some(error) if delivered.received.is_empty() => Err(error),
        Some(error) => {
            tracing::error!(error = %crate::redact::Scrub(&error), "writing received messages stopped");
            Ok(delivered.received)
        }
        None => Ok(delivered.received),
    }
}

/// Writes the files of messages recorded but not yet written (a write
/// that failed, or a restart in between), oldest first, stopping at the
/// first failure: what was written, or that and the error.
pub(super) fn finish_unwritten(
    config: &Config,
    store: &mut Store,
    now_ms: i64,
) -> Result<Vec<Received>, (Vec<Received>, ReceiveError)> {
    let mut unwritten = Vec::new();
    let ids = match store.incoming_unwritten() {
        Ok(ids) => ids,
        Err(error) => return Err((Vec::new(), error.into())),
    };
    for id in ids {
        match recorded_message(config, store, id, now_ms) {
            Ok(message) => unwritten.extend(message),
            Err(error) => {
                let written = deliver(config, store, unwritten, now_ms);
                return Err((written.received, written.error.unwrap_or(error)));
            }
        }
    }
    let written = deliver(config, store, unwritten, now_ms);
    match written.error {
        Some(error) => Err((written.received, error)),
        None => Ok(written.received),
    }
}

/// Message `id`, recorded with its file names but not written yet;
/// `None` when there is no such message.
fn recorded_message(
    config: &Config,
    store: &mut Store,
    id: i64,
    now_ms: i64,
) -> Result<Option<Unwritten>, ReceiveError> {
    let Some(message) = store.incoming_message(id)? else {
        return Ok(None);
    };
    let recorded = store.incoming_parts_of(id)?;
    let parts = decode_parts(&recorded);
    let serial = serial_of(&message.files);
    let rendered = inbox::inbox_files(&parts, config.spool.inbox_format, serial, &utc(now_ms));
    Ok(Some(Unwritten {
        from_before: store.recorded_before_start(id),
        files: rendered,
        received: Received {
            id: Some(id),
            files: message.files,
            sender: recorded
                .first()
                .map(|p| p.sender.clone())
                .unwrap_or_default(),
            parts,
            complete: message.complete,
        },
    }))
}

/// After a restart: the written messages whose RunOnReceive hook was never
/// started (simgate stopped between writing the files and starting it).
pub(super) fn pending_hooks(store: &Store) -> Result<Vec<Received>, ReceiveError> {
    let mut pending = Vec::new();
    for id in store.hooks_pending()? {
        let Some(message) = store.incoming_message(id)? else {
            continue;
        };
        let recorded = store.incoming_parts_of(id)?;
        pending.push(Received {
            id: Some(id),
            files: message.files,
            sender: recorded
                .first()
                .map(|p| p.sender.clone())
                .unwrap_or_default(),
            parts: decode_parts(&recorded),
            complete: true,
        });
    }
    Ok(pending)
}

/// Whether received messages get a RunOnReceive hook.
fn has_hook(config: &Config) -> bool {
    config.hooks.run_on_receive.is_some()
}

/// The parts, decoded, one per sequence number, in order, each with the
/// time it was read (which dates a part whose time stamp is no date).
fn decode_parts(parts: &[IncomingPart]) -> Vec<ReceivedPart> {
    let mut seen = std::collections::BTreeSet::new();
    parts
        .iter()
        .filter(|p| seen.insert(p.concat.map(|c| c.sequence)))
        .filter_map(|p| {
            let (smsc, tpdu) = pdu::split_smsc(&p.pdu).ok()?;
            let message = Incoming::decode(tpdu).ok()?;
            Some(ReceivedPart::new(smsc, message, utc(p.received_ms)))
        })
        .collect()
}

/// The serial a message's recorded file names were given.
fn serial_of(files: &[String]) -> u32 {
    files
        .first()
        .and_then(|name| inbox::serial_in(name))
        .unwrap_or(0)
}

/// Records one message assembled from `group`, with its file names.
fn assemble(
    config: &Config,
    store: &mut Store,
    reserved: &mut Reserved,
    group: &[IncomingPart],
    complete: bool,
    now_ms: i64,
) -> Result<Unwritten, ReceiveError> {
    let parts = decode_parts(group);
    let sender = group.first().map(|p| p.sender.clone()).unwrap_or_default();
    let rendered = render_new(config, store, reserved, &parts, now_ms)?;
    let files = names(&rendered);
    let ids: Vec<i64> = group.iter().map(|p| p.id).collect();
    let message = store.begin_incoming(&ids, &files, complete, now_ms)?;
    Ok(Unwritten {
        from_before: false,
        files: rendered,
        received: Received {
            id: Some(message),
            files,
            sender,
            parts,
            complete,
        },
    })
}

/// A new message's inbox files in the configured format, under the first
/// serial gammu would choose (only part 0's name is probed) that no file
/// in the inbox and no message of this batch has.
fn render_new(
    config: &Config,
    store: &Store,
    reserved: &mut Reserved,
    parts: &[ReceivedPart],
    now_ms: i64,
) -> Result<Vec<inbox::InboxFile>, StoreError> {
    // A name is taken by a file in the inbox, by a message of this batch,
    // and by a message recorded before whose files are not written yet
    // (the inbox was full): it will be written under that name.
    let mut failed = None;
    let serial = inbox::choose_serial(parts, |name| {
        reserved.contains(name)
            || config.spool.inbox.join(name).exists()
            || store.name_being_written(name).unwrap_or_else(|error| {
                failed = Some(error);
                true
            })
    })
    .unwrap_or(0);
    if let Some(error) = failed {
        return Err(error);
    }
    let files = inbox::inbox_files(parts, config.spool.inbox_format, serial, &utc(now_ms));
    if let Some(first) = files.first().filter(|_| serial > inbox::MAX_SERIAL) {
        tracing::warn!(file = %Redact(&first.name), "more than a hundred messages from one sender with the same time stamp: this one's serial is wider than gammu's two digits (gammu fails to save it)");
    }
    reserved.extend(files.iter().map(|file| file.name.clone()));
    Ok(files)
}

fn names(files: &[inbox::InboxFile]) -> Vec<String> {
    files.iter().map(|file| file.name.clone()).collect()
}

/// Writes one message's inbox files ([`write_files`]). A name another
/// writer of the inbox took since it was chosen (a second daemon sharing
/// the inbox, on another modem) is left to that file: the message takes
/// the next free serial, recorded before its files are written, and the
/// names it is announced with are the new ones.
fn write_message(
    config: &Config,
    store: &mut Store,
    message: &mut Unwritten,
    now_ms: i64,
) -> Result<Vec<PathBuf>, ReceiveError> {
    let mode = if message.from_before {
        spool_fs::WriteMode::Replace
    } else {
        spool_fs::WriteMode::New
    };
    loop {
        match write_files(config, &message.files, mode) {
            Err(ReceiveError::Write(spool_fs::SpoolIoError::Busy { path })) => {
                let Some(id) = message.received.id else {
                    return Err(spool_fs::SpoolIoError::Busy { path }.into());
                };
                let mut failed = None;
                let serial = inbox::choose_serial(&message.received.parts, |name| {
                    config.spool.inbox.join(name).exists()
                        || store.name_being_written(name).unwrap_or_else(|error| {
                            failed = Some(error);
                            true
                        })
                })
                .unwrap_or(0);
                if let Some(error) = failed {
                    return Err(error.into());
                }
                let files = inbox::inbox_files(
                    &message.received.parts,
                    config.spool.inbox_format,
                    serial,
                    &utc(now_ms),
                );
                let names = names(&files);
                store.rename_incoming_files(id, &names)?;
                tracing::warn!(taken = %Redact(&path.display().to_string()), file = %Redact(&names.join(" ")), "an inbox file name was taken by another writer of the inbox (a second daemon?) since it was chosen; the message goes under the next free one");
                message.files = files;
                message.received.files = names;
            }
            written => return written,
        }
    }
}

/// Writes inbox files, each through a temporary name and a rename, not
/// synced ([`deliver`] syncs the batch); returns their paths. With
/// [`spool_fs::WriteMode::New`] a name that exists fails the whole
/// message, and the files it had placed are removed again.
fn write_files(
    config: &Config,
    files: &[inbox::InboxFile],
    mode: spool_fs::WriteMode,
) -> Result<Vec<PathBuf>, ReceiveError> {
    let mut written = Vec::with_capacity(files.len());
    for file in files {
        match spool_fs::write_atomic(
            &config.spool.inbox,
            std::ffi::OsStr::new(&file.name),
            &file.contents,
            None,
            mode,
            Flush::Later,
        ) {
            Ok(path) => written.push(path),
            Err(error) => {
                if mode == spool_fs::WriteMode::New {
                    for placed in &written {
                        let _ = std::fs::remove_file(placed);
                    }
                }
                return Err(error.into());
            }
        }
    }
    Ok(written)
}

/// A time in milliseconds since the epoch, in UTC.
fn utc(ms: i64) -> pdu::Timestamp {
    pdu::Timestamp::from_unix_seconds(ms.div_euclid(1000))
}

/// How often the storage is read without a +CMTI: a safety net, since
/// +CMTI announces every stored message at once. As configured
/// (`ReceiveFrequency`; simgate's default is five minutes, where gammu
/// polls every 15 s and keeps an idle modem busy), at least every second.
pub(crate) fn poll_interval(config: &Config) -> Duration {
    config.receive.poll_interval.max(Duration::from_secs(1))
}

/// How often concatenated messages still waiting for parts are checked
/// against the multipart timeout: every 30 s, or twice per timeout when it
/// is shorter, so a message is written at most half a timeout late.
pub(crate) fn multipart_check_interval(config: &Config) -> Duration {
    (config.receive.multipart_timeout / 2)
        .clamp(Duration::from_millis(100), Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(storage: &str, index: u32) -> Location {
        Location {
            storage: storage.to_owned(),
            index,
        }
    }

    #[test]
    fn own_messages_are_noted_once_while_they_stay() {
        let mut own = OwnMessages::default();
        let found = [at("SM", 0), at("SM", 3)];
        assert_eq!(own.note("SM", &found), found);
        assert_eq!(own.note("SM", &found), []);
        assert_eq!(own.note("ME", &[at("ME", 0)]), [at("ME", 0)]);
        // Slot 0 was emptied; what comes there later is new.
        assert_eq!(own.note("SM", &[at("SM", 3)]), []);
        assert_eq!(own.note("SM", &found), [at("SM", 0)]);
        // Reading SM forgets nothing of ME.
        assert_eq!(own.note("ME", &[at("ME", 0)]), []);
    }

    /// Listed as the user's own, or an SMS-SUBMIT by its message type (a
    /// device that gives no status): nothing recorded, nothing to delete.
    #[test]
    fn the_users_own_messages_are_neither_recorded_nor_deleted() {
        let to = pdu::Address::parse_number("+4915100000001").unwrap();
        let plan = pdu::plan_text("mine", pdu::EncodingPolicy::Auto).unwrap();
        let submit = pdu::SmsSubmit::from_plan(&plan, &pdu::SubmitOptions::new(to))[0]
            .encode(None)
            .unwrap();
        let mut store = Store::in_memory().unwrap();
        let mut own = OwnMessages::default();
        let listed = vec![
            Listed::Outgoing {
                location: at("SM", 0),
            },
            Listed::Message {
                location: at("SM", 1),
                pdu: submit.bytes().to_vec(),
            },
        ];
        let recorded = record_listed(
            &Config::default(),
            &Filters::default(),
            &mut store,
            &mut own,
            "SM",
            listed,
            0,
        );
        assert!(recorded.error.is_none(), "{:?}", recorded.error);
        assert_eq!(recorded.deletable, []);
        assert!(recorded.received.is_empty());
        assert_eq!(store.undecodable_count().unwrap(), 0);
        assert!(store.unassembled_parts().unwrap().is_empty());
        // Both noted: the next read logs neither.
        assert_eq!(own.note("SM", &[at("SM", 0), at("SM", 1)]), []);
    }

    /// A configuration whose inbox is a fresh folder named after `name`.
    fn with_inbox(name: &str) -> Config {
        let inbox =
            std::env::temp_dir().join(format!("simgate-receive-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&inbox);
        std::fs::create_dir_all(&inbox).unwrap();
        let mut config = Config::default();
        config.spool.inbox = inbox;
        config
    }

    /// An SMS-DELIVER from `from` with `text`, SMSC field first, time
    /// stamped 2026-12-05 12:00:00 UTC.
    fn received_pdu(from: &str, text: &str) -> Vec<u8> {
        let plan = pdu::plan_text(text, pdu::EncodingPolicy::Auto).unwrap();
        let originator = pdu::Address::parse_number(from).unwrap();
        let stamp = pdu::Timestamp::from_unix_seconds(1_796_472_000);
        let deliver = &pdu::SmsDeliver::from_plan(&plan, &originator, stamp, 1)[0];
        [&[0u8][..], &deliver.encode().unwrap()].concat()
    }

    /// Records `pdu` as this daemon would, returning what is to be written.
    fn recorded(config: &Config, store: &mut Store, pdu: &[u8]) -> Unwritten {
        let mut reserved = Reserved::new();
        match record_pdu(config, &Filters::default(), store, &mut reserved, pdu, 0).unwrap() {
            Recorded::Done(Some(unwritten)) => unwritten,
            other => panic!("not recorded to be written: {other:?}"),
        }
    }

    fn inbox_names(config: &Config) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&config.spool.inbox)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Another writer of the same inbox (a second daemon, on another modem)
    /// took the name this message was given after it was chosen: the
    /// message goes under the next serial, the other file stays as it is,
    /// and the name recorded and announced is the one written.
    #[test]
    fn a_name_taken_meanwhile_by_another_writer_is_not_replaced() {
        let config = with_inbox("taken");
        let mut store = Store::in_memory().unwrap();
        store.mark_start().unwrap();
        let unwritten = recorded(&config, &mut store, &received_pdu("+4915112345678", "ours"));
        let chosen = unwritten.received.files.clone();
        assert_eq!(chosen.len(), 1);
        assert!(chosen[0].contains("_00_"), "{chosen:?}");
        std::fs::write(config.spool.inbox.join(&chosen[0]), b"the other daemon's").unwrap();

        let delivered = deliver(&config, &mut store, vec![unwritten], 0);
        assert!(delivered.error.is_none(), "{:?}", delivered.error);
        assert_eq!(
            std::fs::read(config.spool.inbox.join(&chosen[0])).unwrap(),
            b"the other daemon's"
        );
        let ours = chosen[0].replace("_00_", "_01_");
        assert_eq!(inbox_names(&config), [chosen[0].clone(), ours.clone()]);
        assert_eq!(
            std::fs::read(config.spool.inbox.join(&ours)).unwrap(),
            b"ours"
        );
        assert_eq!(delivered.received.len(), 1);
        assert_eq!(delivered.received[0].files, std::slice::from_ref(&ours));
        let id = delivered.received[0].id.unwrap();
        assert_eq!(store.incoming_message(id).unwrap().unwrap().files, [ours]);
        let _ = std::fs::remove_dir_all(&config.spool.inbox);
    }

    /// The same when the message waited (its first write failed: a full
    /// disk) and is written by the retry: the other file stays.
    #[test]
    fn a_name_taken_while_the_message_waited_is_not_replaced() {
        let config = with_inbox("waited");
        let mut store = Store::in_memory().unwrap();
        store.mark_start().unwrap();
        let unwritten = recorded(
            &config,
            &mut store,
            &received_pdu("+4915112345678", "waited"),
        );
        let name = unwritten.received.files[0].clone();
        drop(unwritten);
        std::fs::write(config.spool.inbox.join(&name), b"the other daemon's").unwrap();

        let written = finish_unwritten(&config, &mut store, 0).unwrap();
        let ours = name.replace("_00_", "_01_");
        assert_eq!(written.len(), 1);
        assert_eq!(written[0].files, std::slice::from_ref(&ours));
        assert_eq!(
            std::fs::read(config.spool.inbox.join(&name)).unwrap(),
            b"the other daemon's"
        );
        assert_eq!(
            std::fs::read(config.spool.inbox.join(&ours)).unwrap(),
            b"waited"
        );
        let _ = std::fs::remove_dir_all(&config.spool.inbox);
    }

    /// A part listed twice in one read (the network repeated it, or the
    /// device stores it twice) finds its message unwritten in the same
    /// batch: the message is written once, under one serial, and announced
    /// once.
    #[test]
    fn a_message_whose_part_is_listed_twice_is_written_and_announced_once() {
        let config = with_inbox("twice");
        let mut store = Store::in_memory().unwrap();
        store.mark_start().unwrap();
        let text = "a long message ".repeat(12);
        let plan = pdu::plan_text(&text, pdu::EncodingPolicy::Auto).unwrap();
        let originator = pdu::Address::parse_number("+4915112345678").unwrap();
        let stamp = pdu::Timestamp::from_unix_seconds(1_796_472_000);
        let parts: Vec<Vec<u8>> = pdu::SmsDeliver::from_plan(&plan, &originator, stamp, 7)
            .iter()
            .map(|deliver| [&[0u8][..], &deliver.encode().unwrap()].concat())
            .collect();
        assert_eq!(parts.len(), 2);
        let listed: Vec<Listed> = [&parts[0], &parts[1], &parts[0]]
            .into_iter()
            .enumerate()
            .map(|(index, pdu)| Listed::Message {
                location: at("SM", index as u32),
                pdu: pdu.clone(),
            })
            .collect();
        let recorded = record_listed(
            &config,
            &Filters::default(),
            &mut store,
            &mut OwnMessages::default(),
            "SM",
            listed,
            0,
        );
        assert!(recorded.error.is_none(), "{:?}", recorded.error);
        assert_eq!(recorded.received.len(), 1, "{:?}", recorded.received);
        let names = inbox_names(&config);
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|name| name.contains("_00_")), "{names:?}");
        assert_eq!(recorded.deletable.len(), 3);
        let _ = std::fs::remove_dir_all(&config.spool.inbox);
    }

    /// After a restart, a message recorded but not marked written is
    /// written again under its recorded name, over the file its earlier
    /// write may have left: no second copy under another serial.
    #[test]
    fn a_message_from_before_a_restart_is_written_again_under_its_name() {
        let config = with_inbox("again");
        let mut store = Store::in_memory().unwrap();
        let unwritten = recorded(
            &config,
            &mut store,
            &received_pdu("+4915112345678", "again"),
        );
        let name = unwritten.received.files[0].clone();
        std::fs::write(config.spool.inbox.join(&name), b"again").unwrap();
        drop(unwritten);
        store.mark_start().unwrap(); // the restart

        let written = finish_unwritten(&config, &mut store, 0).unwrap();
        assert_eq!(written.len(), 1);
        assert_eq!(written[0].files, std::slice::from_ref(&name));
        assert_eq!(inbox_names(&config), std::slice::from_ref(&name));
        assert_eq!(
            std::fs::read(config.spool.inbox.join(&name)).unwrap(),
            b"again"
        );
        let _ = std::fs::remove_dir_all(&config.spool.inbox);
    }

    #[test]
    fn the_safety_poll_is_as_configured() {
        let mut config = Config::default();
        assert_eq!(poll_interval(&config), crate::config::DEFAULT_POLL_INTERVAL);
        config.receive.poll_interval = Duration::from_secs(15);
        assert_eq!(poll_interval(&config), Duration::from_secs(15));
        config.receive.poll_interval = Duration::ZERO;
        assert_eq!(poll_interval(&config), Duration::from_secs(1));
    }
}
