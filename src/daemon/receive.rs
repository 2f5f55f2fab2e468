//! The receive path: reading what the modem stored or routed, recording
//! each part before it leaves the SIM, assembling concatenated messages,
//! writing their inbox files durably, and only then deleting them from the
//! SIM (or acknowledging a routed `+CMT`).
//!
//! What happens to one PDU ([`take`]), keyed on its content:
//! 1. does not decode? keep it raw with the reason in the database
//!    (`undecodable` table), once;
//! 2. a status report: record it and the delivery outcome of the part it
//!    names;
//! 3. recorded before (a crash before its delete)? finish what was left
//!    undone, record nothing twice;
//! 4. a part that does not complete its message: record it (committed);
//! 5. a part that completes its message (a single SMS, a report stored as
//!    gammu stores it): record it together with the message and its file
//!    names (one commit), write each file (temporary name, fsync, rename,
//!    fsync of the directory), record the message written;
//! 6. then, and only then, the caller deletes it from the SIM.
//!
//! A crash between any two steps loses nothing and writes no file twice: the
//! part or message row decides on restart ([`finish_unwritten`],
//! [`complete_recorded`]).

use super::filter::Filters;
use crate::config::Config;
use crate::daemon::logging::Redact;
use crate::device::{Device, DeviceError, Listed};
use crate::pdu::{self, Incoming};
use crate::spool::fs as spool_fs;
use crate::spool::inbox::{self, ReceivedPart};
use crate::store::{IncomingPart, NewPart, ReportRecord, Store, StoreError};
use std::time::Duration;

/// A message whose inbox files were written: for RunOnReceive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
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
pub enum ReceiveError {
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

/// Reads `storage` of the device and processes every message in it, each
/// deleted from the device once it is recorded (and its files written); a
/// filtered message stays, as gammu leaves it; an entry that cannot be read
/// at all is kept raw and deleted.
pub(super) async fn read_storage<D: Device>(
    config: &Config,
    filters: &Filters,
    store: &mut Store,
    device: &D,
    storage: &str,
    now_ms: i64,
) -> Result<Vec<Received>, ReceiveError> {
    let mut received = Vec::new();
    for entry in device.read_storage(storage).await? {
        match entry {
            Listed::Message { location, pdu } => {
                match take(config, filters, store, &pdu, now_ms)? {
                    Taken::Done(message) => {
                        device.delete(&location).await?;
                        received.extend(message);
                    }
                    Taken::Filtered => {}
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
                device.delete(&location).await?;
            }
        }
    }
    Ok(received)
}

/// What became of one received PDU.
#[derive(Debug)]
pub enum Taken {
    /// Recorded, now or before, and written where it is complete: the
    /// modem's copy may go.
    Done(Option<Received>),
    /// Refused by the sender or SMSC filters: nothing was recorded.
    Filtered,
}

/// Records one received PDU (SMSC field, then TPDU), stored or routed raw,
/// and writes the inbox files of the message it completes. Idempotent: a
/// PDU seen before (a crash before its delete, a network resending an
/// unacknowledged `+CMT`) finishes whatever was left undone and records
/// nothing twice.
pub fn take(
    config: &Config,
    filters: &Filters,
    store: &mut Store,
    pdu: &[u8],
    now_ms: i64,
) -> Result<Taken, ReceiveError> {
    let key = pdu::hex::encode(pdu);
    let decoded = pdu::split_smsc(pdu).and_then(|(smsc, tpdu)| Ok((smsc, Incoming::decode(tpdu)?)));
    let (smsc, incoming) = match decoded {
        Ok(decoded) => decoded,
        Err(error) => {
            keep_undecodable(store, &key, &key, &error.to_string(), now_ms)?;
            return Ok(Taken::Done(None));
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
                let received = new.then(|| Received {
                    id: None,
                    files: Vec::new(),
                    sender: recipient,
                    parts: vec![ReceivedPart::new(
                        smsc,
                        Incoming::StatusReport(report),
                        utc(now_ms),
                    )],
                    complete: true,
                });
                return Ok(Taken::Done(received));
            }
            let part = NewPart {
                content_key: &key,
                pdu,
                sender: &recipient,
                concat: None,
                now_ms,
            };
            Ok(Taken::Done(record_part(config, store, &part)?))
        }
        Incoming::Deliver(deliver) => {
            let sender = deliver.originator.to_display();
            if store.incoming_part_by_key(&key)?.is_none() {
                let smsc = smsc.map(|a| a.to_display());
                if !filters.accepts(&sender, smsc.as_deref()) {
                    tracing::info!(sender = %Redact(&sender), "message filtered out");
                    return Ok(Taken::Filtered);
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
            Ok(Taken::Done(record_part(config, store, &part)?))
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

/// Records `part` (unless it was recorded before) and writes the message
/// it completes. A part that completes its message is recorded together
/// with the start of the message, in one commit.
fn record_part(
    config: &Config,
    store: &mut Store,
    part: &NewPart<'_>,
) -> Result<Option<Received>, ReceiveError> {
    if let Some((id, _)) = store.incoming_part_by_key(part.content_key)? {
        return complete_part(config, store, id, part.now_ms);
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
        return complete_part(config, store, id, part.now_ms);
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
    let rendered = render_new(config, &parts, part.now_ms);
    let files = names(&rendered);
    let others: Vec<i64> = waiting.iter().map(|p| p.id).collect();
    let (_, message) = store.add_completing_part(part, &others, &files)?;
    write_files(config, &rendered)?;
    store.incoming_written(message, has_hook(config))?;
    tracing::info!(parts = parts.len(), complete = true, "received");
    Ok(Some(Received {
        id: Some(message),
        files,
        sender: part.sender.to_owned(),
        parts,
        complete: true,
    }))
}

/// Keeps a PDU that does not decode, raw with the reason (once).
pub fn keep_undecodable(
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

/// Writes the message `part` completes, unless it is already assembled or
/// its message still waits for parts.
fn complete_part(
    config: &Config,
    store: &mut Store,
    part: i64,
    now_ms: i64,
) -> Result<Option<Received>, ReceiveError> {
    if store.incoming_part_assembled(part)? {
        // Its message's files may still be unwritten (the disk was full):
        // write them now, or keep the part on the SIM.
        return match store.message_of_part(part)? {
            Some(message) if !message.written => finish_message(config, store, message.id, now_ms),
            _ => Ok(None),
        };
    }
    let group = store.open_group(part)?;
    let complete = match group.first().and_then(|p| p.concat) {
        None => !group.is_empty(),
        Some(c) => group.len() >= usize::from(c.total),
    };
    if !complete {
        let window = config.receive.multipart_timeout.as_millis() as i64;
        if group.len() == 1 && store.join_recent_duplicate(part, now_ms - window)? {
            tracing::info!("a repeated part of a message already written; ignored");
        }
        return Ok(None);
    }
    Ok(Some(assemble(config, store, &group, true, now_ms)?))
}

/// After a restart: writes the messages whose last part was recorded but
/// not yet assembled (a crash in between, or a routed `+CMT` that is on no
/// SIM to be read again).
pub fn complete_recorded(
    config: &Config,
    store: &mut Store,
    now_ms: i64,
) -> Result<Vec<Received>, ReceiveError> {
    let mut received = Vec::new();
    for part in store.unassembled_parts()? {
        received.extend(complete_part(config, store, part, now_ms)?);
    }
    Ok(received)
}

/// Writes the inbox files of concatenated messages that waited longer than
/// the multipart timeout, with the parts they have.
pub fn flush_stale(
    config: &Config,
    store: &mut Store,
    now_ms: i64,
) -> Result<Vec<Received>, ReceiveError> {
    let timeout = config.receive.multipart_timeout.as_millis() as i64;
    let mut received = Vec::new();
    for part in store.stale_groups(now_ms - timeout)? {
        let group = store.open_group(part)?;
        tracing::warn!(
            parts = group.len(),
            "multipart message incomplete after the timeout; writing what arrived"
        );
        received.push(assemble(config, store, &group, false, now_ms)?);
    }
    Ok(received)
}

/// Writes the files of messages recorded but not yet written (a write
/// that failed, or a restart in between), oldest first, stopping at the
/// first failure: what was written, or that and the error.
pub fn finish_unwritten(
    config: &Config,
    store: &mut Store,
    now_ms: i64,
) -> Result<Vec<Received>, (Vec<Received>, ReceiveError)> {
    let mut written = Vec::new();
    let ids = match store.incoming_unwritten() {
        Ok(ids) => ids,
        Err(error) => return Err((written, error.into())),
    };
    for id in ids {
        match finish_message(config, store, id, now_ms) {
            Ok(Some(received)) => written.push(received),
            Ok(None) => {}
            Err(error) => return Err((written, error)),
        }
    }
    Ok(written)
}

/// Writes the files of message `id`, recorded with their names but not
/// written yet; `None` when there is no such message.
fn finish_message(
    config: &Config,
    store: &mut Store,
    id: i64,
    now_ms: i64,
) -> Result<Option<Received>, ReceiveError> {
    let Some(message) = store.incoming_message(id)? else {
        return Ok(None);
    };
    let recorded = store.incoming_parts_of(id)?;
    let parts = decode_parts(&recorded);
    let serial = serial_of(&message.files, &parts);
    let rendered = inbox::inbox_files(&parts, config.spool.inbox_format, serial, &utc(now_ms));
    write_files(config, &rendered)?;
    store.incoming_written(id, has_hook(config))?;
    tracing::info!(id, parts = parts.len(), "received message written");
    Ok(Some(Received {
        id: Some(id),
        files: message.files,
        sender: recorded
            .first()
            .map(|p| p.sender.clone())
            .unwrap_or_default(),
        parts,
        complete: message.complete,
    }))
}

/// After a restart: the written messages whose RunOnReceive hook was never
/// started (simgate stopped between writing the files and starting it).
pub fn pending_hooks(store: &Store) -> Result<Vec<Received>, ReceiveError> {
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
fn serial_of(files: &[String], parts: &[ReceivedPart]) -> u8 {
    (0..=inbox::MAX_SERIAL)
        .find(|&serial| {
            inbox::probe_name(parts, serial).as_deref() == files.first().map(String::as_str)
        })
        .unwrap_or(0)
}

/// Records and writes one message's inbox files.
fn assemble(
    config: &Config,
    store: &mut Store,
    group: &[IncomingPart],
    complete: bool,
    now_ms: i64,
) -> Result<Received, ReceiveError> {
    let parts = decode_parts(group);
    let sender = group.first().map(|p| p.sender.clone()).unwrap_or_default();
    let rendered = render_new(config, &parts, now_ms);
    let files = names(&rendered);
    let ids: Vec<i64> = group.iter().map(|p| p.id).collect();
    let message = store.begin_incoming(&ids, &files, complete, now_ms)?;
    write_files(config, &rendered)?;
    store.incoming_written(message, has_hook(config))?;
    tracing::info!(parts = parts.len(), complete, "received");
    Ok(Received {
        id: Some(message),
        files,
        sender,
        parts,
        complete,
    })
}

/// A new message's inbox files in the configured format, under the first
/// serial gammu would choose (only part 0's name is probed).
fn render_new(config: &Config, parts: &[ReceivedPart], now_ms: i64) -> Vec<inbox::InboxFile> {
    let serial = inbox::choose_serial(parts, |name| config.spool.inbox.join(name).exists())
        .unwrap_or(inbox::MAX_SERIAL);
    inbox::inbox_files(parts, config.spool.inbox_format, serial, &utc(now_ms))
}

fn names(files: &[inbox::InboxFile]) -> Vec<String> {
    files.iter().map(|file| file.name.clone()).collect()
}

/// Writes inbox files, each through a temporary name, fsync and rename.
fn write_files(config: &Config, files: &[inbox::InboxFile]) -> Result<(), ReceiveError> {
    for file in files {
        spool_fs::write_atomic(
            &config.spool.inbox,
            std::ffi::OsStr::new(&file.name),
            &file.contents,
            None,
            spool_fs::WriteMode::Replace,
        )?;
    }
    Ok(())
}

/// A time in milliseconds since the epoch, in UTC.
fn utc(ms: i64) -> pdu::Timestamp {
    pdu::Timestamp::from_unix_seconds(ms.div_euclid(1000))
}

/// How often the storage is read without a +CMTI: a safety net, since
/// +CMTI announces every stored message at once. As configured
/// (`ReceiveFrequency`; simgate's default is five minutes, where gammu
/// polls every 15 s and keeps an idle modem busy), at least every second.
pub fn poll_interval(config: &Config) -> Duration {
    config.receive.poll_interval.max(Duration::from_secs(1))
}

/// How often concatenated messages still waiting for parts are checked
/// against the multipart timeout: every 30 s, or twice per timeout when it
/// is shorter, so a message is written at most half a timeout late.
pub fn multipart_check_interval(config: &Config) -> Duration {
    (config.receive.multipart_timeout / 2)
        .clamp(Duration::from_millis(100), Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

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
