//! `simgate status` (like `gammu-smsd-monitor`): what a running (or
//! stopped) daemon's database says, read from another process: each modem
//! as the daemon last recorded it (with how far its own rate limits are
//! used, and a pause), the queue by why it waits (a message due that no
//! modem can take now waits for a modem), today's counts, how far each
//! rate limit is used, and the latest errors. Once, or again every few
//! seconds (`--watch`); as text or JSON (`--json`).
//!
//! [`gather`] reads (a read-only connection); everything else is pure:
//! the limits' use from what they counted, the text, the JSON.

use crate::config::{Config, Limit, LimitScope, LimitUnit};
use crate::daemon::lanes::Lane;
use crate::store::http::WAIT_REASONS;
use crate::store::status::{self, DeviceStatus, LastError, Used};
use crate::store::StoreError;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The queue's reasons as `simgate status` shows them: the store's, and
/// messages due that no modem can take now (every modem they may go
/// through is away, or paused at its own limit or after failures).
const QUEUE_REASONS: [&str; 7] = [
    WAIT_REASONS[0],
    WAIT_REASONS[1],
    WAIT_REASONS[2],
    WAIT_REASONS[3],
    WAIT_REASONS[4],
    WAIT_REASONS[5],
    WAITING_FOR_A_MODEM,
];

/// The reason of a message due that no modem can take now.
const WAITING_FOR_A_MODEM: &str = "modem";

/// How many of the latest errors are shown.
const LAST_ERRORS: u32 = 5;

/// How long a received message may be on its way into the inbox before
/// `status` counts it as waiting to be written.
const INBOX_WRITE_GRACE_MS: i64 = 10_000;

/// One rate limit and how much of it is used now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LimitUse {
    /// Its key (`messages_per_hour`, ...).
    pub key: &'static str,
    /// Its maximum.
    pub max: u32,
    /// Used in the window ending now (for a per-destination limit: by the
    /// busiest destination).
    pub used: u64,
}

/// Everything `simgate status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    /// When it was read (ms since the epoch).
    pub now_ms: i64,
    /// The device, as last recorded (`None`: the daemon never ran here);
    /// with several modems, the first.
    pub device: Option<DeviceStatus>,
    /// With several modems, the others, as last recorded.
    pub more_modems: Vec<DeviceStatus>,
    /// Whether the process that recorded it still runs.
    pub daemon_running: bool,
    /// Messages waiting, by why they wait.
    pub queue: Vec<(String, u64)>,
    /// Messages that ended today (since local midnight), by final state.
    pub today: Vec<(String, u64)>,
    /// Messages received today (since local midnight).
    pub received_today: u64,
    /// Received messages whose inbox files are not written yet, a while
    /// after they came (a full disk, a folder not writable).
    pub inbox_waiting: u64,
    /// Why the running daemon cannot watch the outbox (it looks at it
    /// every second instead), when it cannot.
    pub outbox_unwatched: Option<status::OutboxUnwatched>,
    /// The database's disk, when it has too little room for the daemon to
    /// go on (it waits for room, sending and receiving nothing).
    pub disk_full: Option<DiskFull>,
    /// The configured rate limits.
    pub limits: Vec<LimitUse>,
    /// Each modem's own rate limits, by the modem's name (only modems that
    /// have some).
    pub modem_limits: BTreeMap<String, Vec<LimitUse>>,
    /// The monthly budget, when one is set.
    pub budget: Option<BudgetUse>,
    /// The latest errors, newest first.
    pub last_errors: Vec<LastError>,
}

/// A disk with too little room under the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiskFull {
    /// The database's folder.
    pub folder: std::path::PathBuf,
    /// Bytes free there.
    pub free_bytes: u64,
}

/// The monthly budget and what this month has used of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BudgetUse {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Parts counted this month.
    pub used: u64,
    /// The budget, in parts.
    pub parts: u32,
    /// Where the warning comes, in parts.
    pub warn_at: u64,
}

/// How much of each limit is used at `now_ms`, given what the limits
/// counted (the last day).
pub(crate) fn limit_use<'a>(
    rules: &[Limit],
    usage: impl Iterator<Item = &'a Used> + Clone,
    now_ms: i64,
) -> Vec<LimitUse> {
    rules
        .iter()
        .map(|rule| {
            let since = now_ms - rule.window.length().as_millis() as i64;
            let weight = |parts: u32| match rule.unit {
                LimitUnit::Messages => 1,
                LimitUnit::Parts => u64::from(parts),
            };
            let mut by_destination: HashMap<&str, u64> = HashMap::new();
            let mut all = 0;
            for used in usage.clone() {
                if used.at_ms > since {
                    all += weight(used.parts);
                    *by_destination.entry(&used.destination).or_default() += weight(used.parts);
                }
            }
            let used = match rule.scope {
                LimitScope::All => all,
                LimitScope::Destination => by_destination.values().copied().max().unwrap_or(0),
            };
            LimitUse {
                key: rule.key(),
                max: rule.max,
                used,
            }
        })
        .collect()
}

/// Reads the report from the database at `database`, at the time
/// `now` gives.
pub(crate) fn gather(
    config: &Config,
    database: &Path,
    now: impl FnOnce() -> i64,
) -> Result<Report, StoreError> {
    let connection = status::open_read_only(database)?;
    // Every count from one snapshot, and the clock read once it is taken:
    // what the snapshot holds was recorded before `now_ms`, so the counts
    // add up and no message taken in meanwhile shows as due later.
    let connection = connection.unchecked_transaction()?;
    let mut modems = status::modem_statuses(&connection)?.into_iter();
    let now_ms = now();
    let device = modems.next();
    let more_modems: Vec<DeviceStatus> = modems.take(config.more_modems.len()).collect();
    let daemon_running = device
        .as_ref()
        .is_some_and(|d| d.state != "stopped" && Path::new(&format!("/proc/{}", d.pid)).exists());
    let totals = crate::store::http::totals(&connection, now_ms)?;
    let zone = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
    let midnight = local_midnight_ms(now_ms, &zone);
    let (today, received_today) = status::ended_since(&connection, midnight)?;
    let usage = status::usage_since(&connection, now_ms - 86_400_000)?;
    let budget = match config.budget.monthly_parts {
        Some(parts) => {
            let now =
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(now_ms.max(0) as u64);
            let month = crate::daemon::budget::month_of(now, &zone);
            Some(BudgetUse {
                used: status::parts_used_since(&connection, month.start_ms)?,
                month: month.label,
                parts,
                warn_at: crate::daemon::budget::threshold(parts, config.budget.warn_percent),
            })
        }
        None => None,
    };
    let lanes = Lane::all(config);
    let modem_limits = lanes
        .iter()
        .filter(|lane| !lane.limits.is_empty())
        .map(|lane| {
            let own = usage
                .iter()
                .filter(|used| used.modem.as_deref() == Some(lane.name.as_str()));
            (lane.name.clone(), limit_use(&lane.limits, own, now_ms))
        })
        .collect();
    let mut queue = totals.waiting;
    if daemon_running {
        let statuses: Vec<&DeviceStatus> = device.iter().chain(&more_modems).collect();
        let free: Vec<&str> = lanes
            .iter()
            .filter(|lane| can_send_now(&statuses, &lane.name, now_ms))
            .map(Lane::route)
            .collect();
        let for_a_modem = status::due_outside(&connection, now_ms, &free)?;
        queue = waiting_for_a_modem(queue, for_a_modem);
    }
    let outbox_unwatched = match (&device, daemon_running) {
        (Some(device), true) => status::outbox_unwatched(&connection, device.pid)?,
        _ => None,
    };
    Ok(Report {
        now_ms,
        device,
        more_modems,
        daemon_running,
        queue,
        today,
        received_today,
        inbox_waiting: status::unwritten_before(&connection, now_ms - INBOX_WRITE_GRACE_MS)?,
        outbox_unwatched,
        disk_full: crate::daemon::room::free_bytes(database)
            .filter(|&free| free < crate::daemon::room::ROOM_TO_GO_ON)
            .map(|free_bytes| DiskFull {
                folder: database.parent().unwrap_or(database).to_owned(),
                free_bytes,
            }),
        limits: limit_use(&config.limits.rules, usage.iter(), now_ms),
        modem_limits,
        budget,
        last_errors: status::last_errors(&connection, LAST_ERRORS)?,
    })
}

/// Whether the modem named `name` can take a message now, as its status
/// was last recorded: ready, and not paused.
fn can_send_now(statuses: &[&DeviceStatus], name: &str, now_ms: i64) -> bool {
    statuses.iter().any(|status| {
        status.name.as_deref() == Some(name)
            && status.state == "ready"
            && status.paused_until_ms.is_none_or(|until| until <= now_ms)
    })
}

/// The queue's counts with `count` of the messages due moved to waiting
/// for a modem (at most as many as are due).
fn waiting_for_a_modem(mut queue: Vec<(String, u64)>, count: u64) -> Vec<(String, u64)> {
    let Some(due) = queue.iter_mut().find(|(reason, _)| reason == "due") else {
        return queue;
    };
    let moved = count.min(due.1);
    due.1 -= moved;
    if moved > 0 {
        queue.push((WAITING_FOR_A_MODEM.to_owned(), moved));
    }
    queue
}

/// The start of the day `now_ms` is in, in time zone `zone`.
fn local_midnight_ms(now_ms: i64, zone: &jiff::tz::TimeZone) -> i64 {
    jiff::Timestamp::from_millisecond(now_ms)
        .ok()
        .and_then(|now| now.to_zoned_datetime(zone.clone()).start_of_day().ok())
        .map_or(now_ms - now_ms.rem_euclid(86_400_000), |day| {
            day.timestamp().as_millisecond()
        })
}

fn count(pairs: &[(String, u64)], key: &str) -> u64 {
    pairs
        .iter()
        .find(|(name, _)| name == key)
        .map_or(0, |(_, n)| *n)
}

fn ago(now_ms: i64, at_ms: i64) -> String {
    let seconds = (now_ms - at_ms).max(0) / 1000;
    match seconds {
        0..=119 => format!("{seconds} s ago"),
        120..=7199 => format!("{} min ago", seconds / 60),
        _ => format!("{} h ago", seconds / 3600),
    }
}

/// One modem's lines: its state, model, signal and phone.
fn device_lines(
    out: &mut String,
    label: &str,
    device: &DeviceStatus,
    limits: &[LimitUse],
    running: &str,
    now: i64,
) {
    out.push_str(&format!(
        "{label}: {}{}; {running}; recorded {}\n",
        device.state,
        device
            .detail
            .as_ref()
            .map_or(String::new(), |d| format!(" ({d})")),
        ago(now, device.updated_ms)
    ));
    if let Some(model) = &device.model {
        out.push_str(&format!("  model: {model}\n"));
    }
    let signal = match (device.signal_dbm, device.signal_percent) {
        (Some(dbm), Some(percent)) => format!("{dbm} dBm ({percent} %)"),
        (Some(dbm), None) => format!("{dbm} dBm"),
        _ => "unknown".to_owned(),
    };
    let registration = match device.registered {
        Some(true) => "registered",
        Some(false) => "not registered",
        None => "registration unknown",
    };
    // A phone's app tells no signal: its own line instead.
    let radio_told =
        device.signal_dbm.is_some() || device.registered.is_some() || device.operator.is_some();
    if radio_told || device.phone.is_none() {
        out.push_str(&format!("  signal: {signal}; {registration}"));
        if let Some(operator) = &device.operator {
            out.push_str(&format!("; operator {operator}"));
        }
        out.push('\n');
    }
    if let Some(phone) = &device.phone {
        out.push_str(&format!("  phone: {}\n", phone_words(phone)));
    }
    if let (Some(used), Some(total)) = (device.storage_used, device.storage_total) {
        out.push_str(&format!("  storage: {used} of {total} places used\n"));
    }
    if let (Some(fault), Some(at)) = (&device.fault, device.fault_ms) {
        out.push_str(&format!("  last fault: {fault} ({})\n", ago(now, at)));
    }
    if let Some(until) = device.paused_until_ms.filter(|until| *until > now) {
        let reason = device
            .paused_reason
            .as_deref()
            .unwrap_or("no reason recorded");
        out.push_str(&format!(
            "  sending paused for {} more: {reason}\n",
            seconds_left(now, until)
        ));
    }
    if !limits.is_empty() {
        let each: Vec<String> = limits.iter().map(limit_words).collect();
        out.push_str(&format!("  limits: {}\n", each.join("; ")));
    }
}

/// A limit and its use: `messages_per_hour = 10: 5 used`.
fn limit_words(limit: &LimitUse) -> String {
    format!("{} = {}: {} used", limit.key, limit.max, limit.used)
}

/// The time from `now_ms` to `until_ms`, rounded up to whole seconds.
fn seconds_left(now_ms: i64, until_ms: i64) -> String {
    let seconds = ((until_ms - now_ms).max(0) as u64).div_ceil(1000);
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds.div_ceil(60)),
        _ => format!("{} h", seconds.div_ceil(3600)),
    }
}

/// How a reason of the queue reads in the text.
fn reason_words(reason: &str) -> &str {
    match reason {
        WAITING_FOR_A_MODEM => "for a modem",
        other => other,
    }
}

/// A modem's own limits as JSON.
fn limits_json(limits: &[LimitUse]) -> Vec<Value> {
    limits
        .iter()
        .map(|l| json!({"key": l.key, "max": l.max, "used": l.used}))
        .collect()
}

/// One modem as JSON, with its own limits.
fn modem_json(d: &DeviceStatus, limits: &[LimitUse]) -> serde_json::Value {
    serde_json::json!({
        "name": d.name,
        "state": d.state,
        "detail": d.detail,
        "model": d.model,
        "signal_dbm": d.signal_dbm,
        "signal_percent": d.signal_percent,
        "registered": d.registered,
        "operator": d.operator,
        "phone": d.phone,
        "storage_used": d.storage_used,
        "storage_total": d.storage_total,
        "fault": d.fault,
        "fault_ms": d.fault_ms,
        "paused_until_ms": d.paused_until_ms,
        "paused_reason": d.paused_reason,
        "limits": limits_json(limits),
        "pid": d.pid,
        "updated_ms": d.updated_ms,
    })
}

/// The own limits of the modem `device` is, in `report`.
fn own_limits<'a>(report: &'a Report, device: &DeviceStatus) -> &'a [LimitUse] {
    device
        .name
        .as_ref()
        .and_then(|name| report.modem_limits.get(name))
        .map_or(&[], Vec::as_slice)
}

/// The report as text for people.
pub(crate) fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let now = report.now_ms;
    match &report.device {
        None => out.push_str(
            "modem: nothing recorded yet (has the daemon run with this configuration?)\n",
        ),
        Some(device) => {
            let running = if report.daemon_running {
                format!("daemon running (pid {})", device.pid)
            } else {
                "daemon not running".to_owned()
            };
            let several = !report.more_modems.is_empty();
            for device in std::iter::once(device).chain(&report.more_modems) {
                let label = match (&device.name, several) {
                    (Some(name), true) => format!("modem {name}"),
                    _ => "modem".to_owned(),
                };
                let limits = own_limits(report, device);
                device_lines(&mut out, &label, device, limits, &running, now);
            }
        }
    }
    let waiting: u64 = report.queue.iter().map(|(_, n)| n).sum();
    out.push_str(&format!("queue: {waiting} waiting"));
    let reasons: Vec<String> = QUEUE_REASONS
        .iter()
        .filter_map(|reason| {
            let n = count(&report.queue, reason);
            (n > 0).then(|| format!("{} {n}", reason_words(reason)))
        })
        .collect();
    if !reasons.is_empty() {
        out.push_str(&format!(" ({})", reasons.join(", ")));
    }
    out.push('\n');
    out.push_str(&format!(
        "today: sent {}, failed {}, ambiguous {}, cancelled {}; received {}\n",
        count(&report.today, "sent"),
        count(&report.today, "failed"),
        count(&report.today, "ambiguous"),
        count(&report.today, "cancelled"),
        report.received_today
    ));
    if report.inbox_waiting > 0 {
        out.push_str(&format!(
            "inbox: {} received messages wait to be written (the log says why: a full disk? a \
             folder not writable?); they stay on the modem meanwhile\n",
            report.inbox_waiting
        ));
    }
    if let Some(full) = &report.disk_full {
        out.push_str(&format!(
            "database: the disk is full ({} KiB free in {}): nothing is sent or received until \
             there is room; the daemon goes on by itself once {} KiB are free\n",
            full.free_bytes / 1024,
            full.folder.display(),
            crate::daemon::room::ROOM_TO_GO_ON / 1024
        ));
    }
    if let Some(unwatched) = &report.outbox_unwatched {
        out.push_str(&format!(
            "outbox: not watched for {}: {}; new files are found by looking every second\n",
            ago(now, unwatched.since_ms).trim_end_matches(" ago"),
            unwatched.reason
        ));
    }
    if !report.limits.is_empty() {
        out.push_str("limits:\n");
        for limit in &report.limits {
            out.push_str(&format!("  {}\n", limit_words(limit)));
        }
    } else if report.modem_limits.is_empty() {
        out.push_str("limits: none ([limits] in simgate's TOML)\n");
    } else {
        out.push_str("limits: none over all modems (each modem's own are under it)\n");
    }
    if let Some(budget) = &report.budget {
        out.push_str(&format!(
            "budget: {} of {} parts in {} (warning at {})\n",
            budget.used, budget.parts, budget.month, budget.warn_at
        ));
    }
    if report.last_errors.is_empty() {
        out.push_str("last errors: none\n");
    } else {
        out.push_str("last errors:\n");
        for error in &report.last_errors {
            out.push_str(&format!(
                "  {} {} ({}): {}\n",
                ago(now, error.at_ms),
                error.file_name,
                error.state,
                error.error
            ));
        }
    }
    out
}

/// A phone's battery, network and SIMs in a line.
fn phone_words(phone: &crate::device::PhoneStatus) -> String {
    let mut words = Vec::new();
    words.push(match (phone.battery_percent, phone.charging) {
        (Some(p), Some(true)) => format!("battery {p} % (charging)"),
        (Some(p), Some(false)) => format!("battery {p} % (not charging)"),
        (Some(p), None) => format!("battery {p} %"),
        (None, _) => "battery unknown".to_owned(),
    });
    let network = phone.network.as_deref().unwrap_or("an unknown network");
    words.push(match phone.online {
        Some(true) => format!("online over {network}"),
        Some(false) => format!("offline (network: {network})"),
        None => format!("network: {network}"),
    });
    if phone.sims.is_empty() {
        words.push("SIMs not reported".to_owned());
    }
    for sim in &phone.sims {
        let mut line = format!("SIM {}", sim.slot);
        if let Some(carrier) = &sim.carrier {
            line.push_str(&format!(" {carrier}"));
        }
        if let Some(number) = &sim.number {
            line.push_str(&format!(" ({number})"));
        }
        words.push(line);
    }
    words.join("; ")
}

/// The report as JSON for scripts.
/// Today's counts: the four the text shows, 0 when none, and any other
/// final state that has some.
fn today_json(today: &[(String, u64)]) -> Value {
    let mut counts: serde_json::Map<String, Value> = TODAY_STATES
        .iter()
        .map(|state| ((*state).to_owned(), json!(count(today, state))))
        .collect();
    for (state, n) in today {
        counts.entry(state.clone()).or_insert(json!(n));
    }
    counts.into()
}

/// The final states the text's "today" line counts.
const TODAY_STATES: [&str; 4] = ["sent", "failed", "ambiguous", "cancelled"];

pub(crate) fn to_json(report: &Report) -> Value {
    let queue: serde_json::Map<String, Value> = QUEUE_REASONS
        .iter()
        .map(|reason| ((*reason).to_owned(), json!(count(&report.queue, reason))))
        .collect();
    json!({
        "now_ms": report.now_ms,
        "daemon_running": report.daemon_running,
        "modem": report.device.as_ref().map(|d| modem_json(d, own_limits(report, d))),
        "modems": report
            .device
            .iter()
            .chain(&report.more_modems)
            .map(|d| modem_json(d, own_limits(report, d)))
            .collect::<Vec<_>>(),
        "queue": queue,
        "today": today_json(&report.today),
        "received_today": report.received_today,
        "inbox_waiting": report.inbox_waiting,
        "outbox_unwatched": report.outbox_unwatched.as_ref().map(|u| json!({
            "reason": u.reason, "since_ms": u.since_ms,
        })),
        "disk_full": report.disk_full.as_ref().map(|d| json!({
            "folder": d.folder.display().to_string(), "free_bytes": d.free_bytes,
        })),
        "limits": limits_json(&report.limits),
        "budget": report.budget.as_ref().map(|b| json!({
            "month": b.month, "used": b.used, "parts": b.parts, "warn_at": b.warn_at,
        })),
        "last_errors": report.last_errors.iter().map(|e| json!({
            "file": e.file_name, "state": e.state, "error": e.error, "at_ms": e.at_ms,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LimitWindow;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn limits_count_their_own_window_and_destination_limits_the_busiest() {
        let rules = [
            Limit {
                scope: LimitScope::All,
                unit: LimitUnit::Messages,
                window: LimitWindow::Hour,
                max: 10,
            },
            Limit {
                scope: LimitScope::All,
                unit: LimitUnit::Parts,
                window: LimitWindow::Day,
                max: 100,
            },
            Limit {
                scope: LimitScope::Destination,
                unit: LimitUnit::Messages,
                window: LimitWindow::Day,
                max: 3,
            },
        ];
        let now = 30 * HOUR;
        let used = |at_ms, parts, destination: &str| Used {
            at_ms,
            parts,
            destination: destination.to_owned(),
            modem: None,
        };
        let usage = [
            used(now - 5 * HOUR, 3, "+1"),
            used(now - HOUR / 2, 2, "+1"),
            used(now - HOUR / 4, 1, "+2"),
        ];
        let used: Vec<(&str, u64)> = limit_use(&rules, usage.iter(), now)
            .iter()
            .map(|l| (l.key, l.used))
            .collect();
        assert_eq!(
            used,
            [
                ("messages_per_hour", 2),
                ("parts_per_day", 6),
                ("destination_messages_per_day", 2)
            ]
        );
    }

    fn report() -> Report {
        Report {
            now_ms: 10 * HOUR,
            more_modems: Vec::new(),
            device: Some(DeviceStatus {
                state: "ready".into(),
                model: Some("Generic AT".into()),
                signal_dbm: Some(-73),
                signal_percent: Some(64),
                registered: Some(true),
                pid: 7,
                updated_ms: 10 * HOUR - 30_000,
                ..DeviceStatus::default()
            }),
            daemon_running: true,
            queue: vec![("rate_limit".into(), 2), ("due".into(), 1)],
            today: vec![("sent".into(), 5)],
            received_today: 1,
            inbox_waiting: 0,
            outbox_unwatched: None,
            disk_full: None,
            limits: vec![LimitUse {
                key: "messages_per_hour",
                max: 10,
                used: 5,
            }],
            modem_limits: BTreeMap::new(),
            budget: Some(BudgetUse {
                month: "2026-12".into(),
                used: 812,
                parts: 1000,
                warn_at: 800,
            }),
            last_errors: vec![LastError {
                file_name: "OUT+1.txt".into(),
                state: "failed".into(),
                error: "permanent error".into(),
                at_ms: 10 * HOUR - 600_000,
            }],
        }
    }

    #[test]
    fn the_text_says_each_part_in_a_line() {
        let text = render_text(&report());
        assert_eq!(
            text,
            "modem: ready; daemon running (pid 7); recorded 30 s ago\n  model: Generic AT\n  \
             signal: -73 dBm (64 %); registered\nqueue: 3 waiting (due 1, rate_limit 2)\n\
             today: sent 5, failed 0, ambiguous 0, cancelled 0; received 1\nlimits:\n  \
             messages_per_hour = 10: 5 used\nbudget: 812 of 1000 parts in 2026-12 (warning at \
             800)\nlast errors:\n  10 min ago OUT+1.txt (failed): permanent error\n"
        );
        let empty = Report {
            more_modems: Vec::new(),
            device: None,
            queue: vec![],
            limits: vec![],
            last_errors: vec![],
            ..report()
        };
        let text = render_text(&empty);
        assert!(text.starts_with("modem: nothing recorded yet"), "{text}");
        assert!(text.contains("queue: 0 waiting\n"), "{text}");
        assert!(text.contains("limits: none"), "{text}");
    }

    /// A phone shows its battery, network and SIMs instead of a signal it
    /// does not report; the JSON carries them as they are.
    #[test]
    fn a_phone_shows_battery_network_and_sims() {
        let phone = crate::device::PhoneStatus {
            battery_percent: Some(14),
            charging: Some(false),
            online: Some(true),
            network: Some("cellular 4G".into()),
            sims: vec![crate::device::SimCard {
                slot: 1,
                carrier: Some("Carrier".into()),
                number: Some("+4917".into()),
            }],
        };
        let with_phone = Report {
            more_modems: Vec::new(),
            device: Some(DeviceStatus {
                state: "ready".into(),
                model: Some("Pixel".into()),
                phone: Some(phone),
                pid: 7,
                updated_ms: 10 * HOUR,
                ..DeviceStatus::default()
            }),
            ..report()
        };
        let text = render_text(&with_phone);
        assert!(
            text.contains(
                "\n  phone: battery 14 % (not charging); online over cellular 4G; SIM 1 Carrier (+4917)\n"
            ),
            "{text}"
        );
        assert!(!text.contains("signal:"), "{text}");
        let json = to_json(&with_phone);
        assert_eq!(json["modem"]["phone"]["battery_percent"], 14);
        assert_eq!(json["modem"]["phone"]["sims"][0]["carrier"], "Carrier");
        let unknown = crate::device::PhoneStatus::default();
        assert_eq!(
            phone_words(&unknown),
            "battery unknown; network: an unknown network; SIMs not reported"
        );
    }

    /// A device's storage use and the last fault it met, with when.
    #[test]
    fn storage_and_the_last_fault_are_shown() {
        let noted = Report {
            device: Some(DeviceStatus {
                state: "ready".into(),
                storage_used: Some(412),
                storage_total: Some(500),
                fault: Some("lost the stick: the stick answered HTTP 500".into()),
                fault_ms: Some(10 * HOUR - 90_000),
                pid: 7,
                updated_ms: 10 * HOUR,
                ..DeviceStatus::default()
            }),
            ..report()
        };
        let text = render_text(&noted);
        assert!(
            text.contains("\n  storage: 412 of 500 places used\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\n  last fault: lost the stick: the stick answered HTTP 500 (90 s ago)\n"
            ),
            "{text}"
        );
        let json = to_json(&noted);
        assert_eq!(json["modem"]["storage_used"], 412);
        assert_eq!(json["modem"]["fault_ms"], 10 * HOUR - 90_000);
        let text = render_text(&report());
        assert!(
            !text.contains("storage:") && !text.contains("last fault"),
            "{text}"
        );
    }

    /// A modem's own limits and a pause show under the modem (text and
    /// JSON), the pause only while it lasts; the hint to `[limits]` is
    /// not given when modems have limits of their own.
    #[test]
    fn a_modem_s_own_limits_and_its_pause_show_under_it() {
        let a = DeviceStatus {
            name: Some("a".into()),
            state: "ready".into(),
            paused_until_ms: Some(10 * HOUR + 41_500),
            paused_reason: Some("at its own limit: messages_per_minute = 2 reached".into()),
            pid: 7,
            updated_ms: 10 * HOUR,
            ..DeviceStatus::default()
        };
        let b = DeviceStatus {
            name: Some("b".into()),
            paused_until_ms: Some(10 * HOUR - 1),
            paused_reason: Some("its last send failed".into()),
            ..a.clone()
        };
        let own = vec![LimitUse {
            key: "messages_per_minute",
            max: 2,
            used: 2,
        }];
        let paused = Report {
            device: Some(a),
            more_modems: vec![b],
            limits: vec![],
            modem_limits: BTreeMap::from([("a".to_owned(), own)]),
            queue: vec![("modem".into(), 6), ("due".into(), 0)],
            ..report()
        };
        let text = render_text(&paused);
        assert!(
            text.contains(
                "modem a: ready; daemon running (pid 7); recorded 0 s ago\n  signal: unknown; \
                 registration unknown\n  sending paused for 42 s more: at its own limit: \
                 messages_per_minute = 2 reached\n  limits: messages_per_minute = 2: 2 used\nmodem b"
            ),
            "{text}"
        );
        // b's pause is over: not shown.
        assert!(!text.contains("its last send failed"), "{text}");
        assert!(
            text.contains("queue: 6 waiting (for a modem 6)\n"),
            "{text}"
        );
        assert!(
            text.contains("limits: none over all modems (each modem's own are under it)\n"),
            "{text}"
        );
        let json = to_json(&paused);
        assert_eq!(json["modems"][0]["limits"][0]["used"], 2);
        assert_eq!(json["modems"][0]["paused_until_ms"], 10 * HOUR + 41_500);
        assert_eq!(json["modems"][1]["limits"], json!([]));
        assert_eq!(json["queue"]["modem"], 6);
    }

    /// Received messages not yet written to the inbox show, with where to
    /// look; none, no line.
    #[test]
    fn received_messages_not_yet_in_the_inbox_show() {
        let waiting = Report {
            inbox_waiting: 2,
            ..report()
        };
        let text = render_text(&waiting);
        assert!(
            text.contains(
                "\ninbox: 2 received messages wait to be written (the log says why: a full disk? \
                 a folder not writable?); they stay on the modem meanwhile\n"
            ),
            "{text}"
        );
        assert_eq!(to_json(&waiting)["inbox_waiting"], 2);
        assert!(!render_text(&report()).contains("\ninbox:"));
    }

    #[test]
    fn a_full_disk_under_the_database_is_said_with_its_room() {
        let full = Report {
            disk_full: Some(DiskFull {
                folder: "/var/lib/simgate".into(),
                free_bytes: 12 * 1024,
            }),
            ..report()
        };
        let text = render_text(&full);
        assert!(
            text.contains(
                "\ndatabase: the disk is full (12 KiB free in /var/lib/simgate): nothing is sent \
                 or received until there is room; the daemon goes on by itself once 256 KiB are \
                 free\n"
            ),
            "{text}"
        );
        let json = to_json(&full);
        assert_eq!(json["disk_full"]["free_bytes"], 12 * 1024);
        assert_eq!(json["disk_full"]["folder"], "/var/lib/simgate");
        assert_eq!(to_json(&report())["disk_full"], Value::Null);
        assert!(!render_text(&report()).contains("\ndatabase:"));
    }

    #[test]
    fn an_outbox_not_watched_shows_why_and_for_how_long() {
        let base = report();
        let unwatched = Report {
            outbox_unwatched: Some(status::OutboxUnwatched {
                reason: "no inotify instance is left".to_owned(),
                since_ms: base.now_ms - 180_000,
            }),
            ..report()
        };
        let text = render_text(&unwatched);
        assert!(
            text.contains(
                "\noutbox: not watched for 3 min: no inotify instance is left; new files are \
                 found by looking every second\n"
            ),
            "{text}"
        );
        let json = to_json(&unwatched);
        assert_eq!(
            json["outbox_unwatched"]["reason"],
            "no inotify instance is left"
        );
        assert_eq!(to_json(&report())["outbox_unwatched"], Value::Null);
        assert!(!render_text(&report()).contains("\noutbox:"));
    }

    /// What moves from due to waiting for a modem: at most what is due.
    #[test]
    fn messages_due_that_no_modem_takes_wait_for_a_modem() {
        let queue = || vec![("due".to_owned(), 5), ("retry".to_owned(), 2)];
        assert_eq!(
            waiting_for_a_modem(queue(), 3),
            [
                ("due".to_owned(), 2),
                ("retry".to_owned(), 2),
                ("modem".to_owned(), 3)
            ]
        );
        // Never more than is due.
        assert_eq!(waiting_for_a_modem(queue(), 9)[0], ("due".to_owned(), 0));
        assert_eq!(waiting_for_a_modem(queue(), 9)[2], ("modem".to_owned(), 5));
        assert_eq!(waiting_for_a_modem(queue(), 0), queue());
        let ready = |name: &str, paused_until_ms| DeviceStatus {
            name: Some(name.into()),
            state: "ready".into(),
            paused_until_ms,
            ..DeviceStatus::default()
        };
        let away = DeviceStatus {
            state: "connecting".into(),
            ..ready("c", None)
        };
        let (a, b) = (ready("a", None), ready("b", Some(2_000)));
        let statuses = [&a, &b, &away];
        assert!(can_send_now(&statuses, "a", 1_000));
        assert!(!can_send_now(&statuses, "b", 1_000));
        assert!(can_send_now(&statuses, "b", 2_000));
        assert!(!can_send_now(&statuses, "c", 1_000));
        assert!(!can_send_now(&statuses, "d", 1_000));
    }

    /// A message the daemon takes in just after `status` read the clock
    /// is due when it is taken in, later than that reading: counted, it
    /// showed as "scheduled" (and as not due, not waiting for a modem).
    #[test]
    fn a_message_taken_in_as_the_clock_is_read_is_not_shown_as_scheduled() {
        use crate::store::{FileId, Store};
        let dir = std::env::temp_dir().join(format!("simgate-status-now-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let database = dir.join("simgate.db");
        let mut store = Store::open(&database).unwrap();
        store
            .enqueue("OUT+1.txt", &FileId::default(), "+1", 1, 1_000)
            .unwrap();
        let config = Config::new("/dev/ttyUSB0");
        let report = gather(&config, &database, || {
            // The daemon, right after the clock was read.
            store
                .enqueue("OUT+2.txt", &FileId::default(), "+2", 1, 2_000)
                .unwrap();
            1_500
        })
        .unwrap();
        let waiting: u64 = report.queue.iter().map(|(_, n)| n).sum();
        assert_eq!(count(&report.queue, "scheduled"), 0, "{:?}", report.queue);
        assert_eq!(count(&report.queue, "due"), waiting, "{:?}", report.queue);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn today_starts_at_local_midnight() {
        let zone = jiff::tz::TimeZone::fixed(jiff::tz::Offset::constant(2));
        // 23:30 UTC on day 1 is 01:30 on day 2 at UTC+2: midnight was 22:00 UTC.
        let now = (86_400 + 23 * 3600 + 1800) * 1000;
        assert_eq!(local_midnight_ms(now, &zone), (86_400 + 22 * 3600) * 1000);
        assert_eq!(
            local_midnight_ms(now, &jiff::tz::TimeZone::UTC),
            86_400 * 1000
        );
    }

    #[test]
    fn the_json_has_every_reason_and_count() {
        let json = to_json(&report());
        assert_eq!(json["modem"]["signal_dbm"], -73);
        assert_eq!(json["queue"]["rate_limit"], 2);
        assert_eq!(json["queue"]["retry"], 0);
        assert_eq!(json["today"]["sent"], 5);
        // What the text shows as 0 is 0 here too, not missing.
        for state in ["failed", "ambiguous", "cancelled"] {
            assert_eq!(json["today"][state], 0, "today.{state}");
        }
        assert_eq!(json["limits"][0]["used"], 5);
        assert_eq!(json["last_errors"][0]["file"], "OUT+1.txt");
        assert_eq!(json["budget"]["used"], 812);
        assert_eq!(json["budget"]["warn_at"], 800);
        assert_eq!(
            to_json(&Report {
                more_modems: Vec::new(),
                device: None,
                ..report()
            })["modem"],
            Value::Null
        );
    }
}
