//! `simgate status`: what the gateway is doing, read from its database by a
//! separate process, as `gammu-smsd-monitor` reads gammu's shared memory:
//! the device as the daemon last recorded it, the queue grouped by what
//! each message waits for, today's outcomes, the rate limits and the budget
//! with what they have counted, and the latest failures. Gathering is
//! separate from rendering: [`gather`] makes a [`Report`], which prints
//! as text for people or as JSON for scripts.

use crate::config::{Config, LimitScope, LimitUnit};
use crate::store::{Store, StoreError};
use jiff::tz::TimeZone;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::SystemTime;

/// How many failures the report lists.
const FAILURES_LISTED: u32 = 5;

/// Everything `simgate status` shows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Report {
    /// The database read.
    pub(crate) database: String,
    /// When the report was made (local time, RFC 3339).
    pub(crate) at: String,
    /// The process id of the daemon holding the database, if one runs.
    pub(crate) daemon_pid: Option<u32>,
    /// The device, as last recorded (`None`: never started).
    pub(crate) device: Option<DeviceView>,
    /// What waits to be sent.
    pub(crate) queue: QueueView,
    /// What happened since local midnight.
    pub(crate) today: TodayView,
    /// Each rate limit and what it has counted.
    pub(crate) limits: Vec<LimitView>,
    /// The monthly budget, when one is set.
    pub(crate) budget: Option<BudgetView>,
    /// The latest failed or ambiguous messages, newest first.
    pub(crate) last_errors: Vec<FailureView>,
}

/// The device.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct DeviceView {
    /// `ready`, `connecting`, `released` or `stopped`.
    pub(crate) state: String,
    /// Why it is not ready.
    pub(crate) detail: Option<String>,
    /// Manufacturer and model.
    pub(crate) model: Option<String>,
    /// IMEI.
    pub(crate) imei: Option<String>,
    /// Signal in dBm.
    pub(crate) signal_dbm: Option<i32>,
    /// Signal in percent (gammu's scale).
    pub(crate) signal_percent: Option<u8>,
    /// Registered to a network.
    pub(crate) registered: Option<bool>,
    /// Since when this was so (local time, RFC 3339).
    pub(crate) since: String,
}

/// The queue.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct QueueView {
    /// Messages not finished.
    pub(crate) waiting: u64,
    /// Grouped by state and reason, the largest group first.
    pub(crate) groups: Vec<WaitingView>,
}

/// Messages waiting for the same thing.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct WaitingView {
    /// `queued`, `sending` or `resolving`.
    pub(crate) state: String,
    /// What they wait for, if anything.
    pub(crate) reason: Option<String>,
    /// How many.
    pub(crate) count: u64,
    /// When the oldest was taken in (local time, RFC 3339).
    pub(crate) oldest: String,
}

/// Today's counts.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub(crate) struct TodayView {
    /// Sent.
    pub(crate) sent: u64,
    /// Failed.
    pub(crate) failed: u64,
    /// Ambiguous.
    pub(crate) ambiguous: u64,
    /// Cancelled.
    pub(crate) cancelled: u64,
    /// Received (messages written to the inbox).
    pub(crate) received: u64,
}

/// One rate limit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct LimitView {
    /// Its key in `[limits]`.
    pub(crate) key: String,
    /// Its value.
    pub(crate) max: u32,
    /// What it has counted in its window now (for a limit per
    /// destination: the busiest destination's count).
    pub(crate) used: u64,
}

/// The monthly budget.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct BudgetView {
    /// The month, `YYYY-MM`.
    pub(crate) month: String,
    /// Parts counted this month.
    pub(crate) used: u64,
    /// The budget.
    pub(crate) parts: u32,
    /// The warning threshold, in parts.
    pub(crate) warn_at: u64,
}

/// A failed or ambiguous message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct FailureView {
    /// Its outbox file name.
    pub(crate) file: String,
    /// `failed` or `ambiguous`.
    pub(crate) state: String,
    /// Why.
    pub(crate) reason: Option<String>,
    /// When (local time, RFC 3339).
    pub(crate) at: String,
}

/// Why there is no report.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StatusError {
    /// The database cannot be read.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// No database at the path (the daemon never ran with this configuration).
    #[error(
        "no database at {0}: simgate has not run with this configuration yet (or [database] path \
         points elsewhere)"
    )]
    NoDatabase(String),
}

/// Signal in percent on gammu's scale (`100 * rssi / 31`, the rssi of
/// 27.007's `+CSQ` that `dbm` falls in).
pub(crate) fn signal_percent(dbm: i32) -> u8 {
    let rssi = ((dbm + 113) / 2).clamp(0, 31);
    (100 * rssi / 31) as u8
}

fn local(ms: i64, zone: &TimeZone) -> String {
    let instant =
        jiff::Timestamp::from_second(ms.div_euclid(1000)).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    instant
        .display_with_offset(zone.to_offset(instant))
        .to_string()
}

fn midnight_ms(now: SystemTime, zone: &TimeZone) -> i64 {
    let instant = jiff::Timestamp::try_from(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    instant
        .to_zoned_datetime(zone.clone())
        .start_of_day()
        .map_or(instant.as_millisecond(), |day| {
            day.timestamp().as_millisecond()
        })
}

fn ms(time: SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

/// The process holding the daemon's lock on `database`, if any.
fn daemon_pid(database: &Path) -> Option<u32> {
    let mut lock = database.as_os_str().to_owned();
    lock.push(".lock");
    let inode = crate::procfs::Inode::of(Path::new(&lock)).ok()?;
    crate::procfs::flock_holders(inode)
        .first()
        .map(|process| process.pid)
}

/// Reads the report of `config`'s daemon from `database` at `now`, with
/// times in `zone`.
pub(crate) fn gather(
    config: &Config,
    database: &Path,
    now: SystemTime,
    zone: &TimeZone,
) -> Result<Report, StatusError> {
    if !database.exists() {
        return Err(StatusError::NoDatabase(database.display().to_string()));
    }
    let store = Store::open_read_only(database)?;
    let now_ms = ms(now);
    let device = store.device_record()?.map(|record| DeviceView {
        signal_percent: record.signal_dbm.map(signal_percent),
        state: record.state,
        detail: record.detail,
        model: record.model,
        imei: record.imei,
        signal_dbm: record.signal_dbm,
        registered: record.registered,
        since: local(record.updated_ms, zone),
    });
    let groups: Vec<WaitingView> = store
        .waiting_by_reason()?
        .into_iter()
        .map(|group| WaitingView {
            state: group.state,
            reason: group.reason,
            count: group.count,
            oldest: local(group.oldest_ms, zone),
        })
        .collect();
    let queue = QueueView {
        waiting: groups.iter().map(|g| g.count).sum(),
        groups,
    };
    let midnight = midnight_ms(now, zone);
    let mut today = TodayView {
        received: store.received_since(midnight)?,
        ..TodayView::default()
    };
    for (state, count) in store.finished_since(midnight)? {
        match state.as_str() {
            "sent" => today.sent = count,
            "failed" => today.failed = count,
            "ambiguous" => today.ambiguous = count,
            "cancelled" => today.cancelled = count,
            _ => {}
        }
    }
    let usage = store.usage_after(now_ms - 86_400_000)?;
    let limits = config
        .limits
        .rules
        .iter()
        .map(|rule| {
            let window_ms = rule.window.length().as_millis() as i64;
            let mut by_destination: BTreeMap<&str, u64> = BTreeMap::new();
            for counted in usage.iter().filter(|u| u.at_ms > now_ms - window_ms) {
                let weight = match rule.unit {
                    LimitUnit::Messages => 1,
                    LimitUnit::Parts => u64::from(counted.parts),
                };
                let key = match rule.scope {
                    LimitScope::All => "",
                    LimitScope::Destination => counted.destination.as_str(),
                };
                *by_destination.entry(key).or_default() += weight;
            }
            LimitView {
                key: rule.key().to_owned(),
                max: rule.max,
                used: by_destination.values().copied().max().unwrap_or(0),
            }
        })
        .collect();
    let budget = match config.budget.monthly_parts {
        Some(parts) => {
            let month = crate::daemon::budget::month_of(now, zone);
            Some(BudgetView {
                used: store.parts_used_since(month.start_ms)?,
                month: month.label,
                parts,
                warn_at: crate::daemon::budget::threshold(parts, config.budget.warn_percent),
            })
        }
        None => None,
    };
    let last_errors = store
        .latest_failures(FAILURES_LISTED)?
        .into_iter()
        .map(|failure| FailureView {
            file: failure.file,
            state: failure.state,
            reason: failure.reason,
            at: local(failure.at_ms, zone),
        })
        .collect();
    Ok(Report {
        database: database.display().to_string(),
        at: local(now_ms, zone),
        daemon_pid: daemon_pid(database),
        device,
        queue,
        today,
        limits,
        budget,
        last_errors,
    })
}

/// The report for people.
pub(crate) fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "simgate status at {}", report.at);
    let _ = match report.daemon_pid {
        Some(pid) => writeln!(
            out,
            "Daemon:  running (pid {pid}); state in {}",
            report.database
        ),
        None => writeln!(out, "Daemon:  not running; state in {}", report.database),
    };
    match &report.device {
        None => {
            let _ = writeln!(out, "Modem:   never seen");
        }
        Some(device) => {
            let mut words = vec![device.state.clone()];
            words.extend(device.model.clone());
            words.extend(device.imei.as_ref().map(|imei| format!("IMEI {imei}")));
            if let (Some(dbm), Some(percent)) = (device.signal_dbm, device.signal_percent) {
                words.push(format!("signal {dbm} dBm ({percent}%)"));
            }
            match device.registered {
                Some(true) => words.push("registered".to_owned()),
                Some(false) => words.push("not registered".to_owned()),
                None => {}
            }
            words.extend(device.detail.clone());
            let _ = writeln!(
                out,
                "Modem:   {} (since {})",
                words.join(", "),
                device.since
            );
        }
    }
    let _ = writeln!(out, "Queue:   {} waiting", report.queue.waiting);
    for group in &report.queue.groups {
        let what = group.reason.as_deref().unwrap_or("its turn");
        let _ = writeln!(
            out,
            "         {:>5} {}: {what} (oldest {})",
            group.count, group.state, group.oldest
        );
    }
    let t = &report.today;
    let _ = writeln!(
        out,
        "Today:   sent {}, failed {}, ambiguous {}, cancelled {}; received {}",
        t.sent, t.failed, t.ambiguous, t.cancelled, t.received
    );
    if report.limits.is_empty() {
        let _ = writeln!(out, "Limits:  none");
    }
    for (index, limit) in report.limits.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}{} {} of {}",
            if index == 0 { "Limits:  " } else { "         " },
            limit.key,
            limit.used,
            limit.max
        );
    }
    let _ = match &report.budget {
        Some(budget) => writeln!(
            out,
            "Budget:  {} of {} parts in {} (warning at {})",
            budget.used, budget.parts, budget.month, budget.warn_at
        ),
        None => writeln!(out, "Budget:  none"),
    };
    if report.last_errors.is_empty() {
        let _ = writeln!(out, "Errors:  none");
    }
    for (index, failure) in report.last_errors.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}{} {} {}: {}",
            if index == 0 { "Errors:  " } else { "         " },
            failure.at,
            failure.file,
            failure.state,
            failure.reason.as_deref().unwrap_or("no reason recorded")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signal_percent_is_gammus_scale() {
        assert_eq!(signal_percent(-113), 0);
        assert_eq!(signal_percent(-51), 100);
        assert_eq!(signal_percent(-71), 67);
        assert_eq!(signal_percent(-140), 0);
        assert_eq!(signal_percent(-30), 100);
    }

    #[test]
    fn midnight_is_local() {
        let zone = TimeZone::fixed(jiff::tz::Offset::constant(2));
        // 23:30 UTC is 01:30 the next day at UTC+2: midnight was 22:00 UTC.
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400 + 23 * 3600 + 1800);
        assert_eq!(midnight_ms(now, &zone), (86_400 + 22 * 3600) * 1000);
        assert_eq!(local(0, &zone), "1970-01-01T02:00:00+02:00");
    }

    #[test]
    fn an_empty_report_reads_plainly() {
        let report = Report {
            database: "/var/lib/simgate/x.db".to_owned(),
            at: "2026-12-03T21:00:00+00:00".to_owned(),
            daemon_pid: None,
            device: None,
            queue: QueueView {
                waiting: 0,
                groups: Vec::new(),
            },
            today: TodayView::default(),
            limits: Vec::new(),
            budget: None,
            last_errors: Vec::new(),
        };
        let text = render(&report);
        for line in [
            "Daemon:  not running; state in /var/lib/simgate/x.db",
            "Modem:   never seen",
            "Queue:   0 waiting",
            "Today:   sent 0, failed 0, ambiguous 0, cancelled 0; received 0",
            "Limits:  none",
            "Budget:  none",
            "Errors:  none",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
    }
}
