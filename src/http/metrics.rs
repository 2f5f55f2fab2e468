//! `GET /metrics`: the Prometheus text format (version 0.0.4), written
//! here: a `# HELP` and `# TYPE` line per metric, then its samples.
//! Pure: the daemon's snapshot, the device's readiness and the
//! database's totals in, text out.

use crate::daemon::published::{Snapshot, LATENCY_BUCKETS};
use crate::store::http::{Totals, WAIT_REASONS};
use std::fmt::Write;

/// The content type of the text format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The final states counted in `simgate_messages_total`.
const OUTCOMES: [&str; 4] = ["sent", "failed", "ambiguous", "cancelled"];

/// Renders every metric.
pub(crate) fn render(snapshot: &Snapshot, ready: bool, totals: &Totals) -> String {
    let mut out = String::new();
    let _ = metric_into(
        &mut out,
        "simgate_queue_messages",
        "gauge",
        "Messages waiting to be sent, by why they wait.",
    );
    for reason in WAIT_REASONS {
        let count = lookup(&totals.waiting, reason);
        let _ = writeln!(out, "simgate_queue_messages{{reason=\"{reason}\"}} {count}");
    }
    let _ = metric_into(
        &mut out,
        "simgate_messages_total",
        "counter",
        "Outgoing messages that ended, by how, since the database was made.",
    );
    for outcome in OUTCOMES {
        let count = lookup(&totals.finished, outcome);
        let _ = writeln!(
            out,
            "simgate_messages_total{{outcome=\"{outcome}\"}} {count}"
        );
    }
    let _ = metric_into(
        &mut out,
        "simgate_received_messages_total",
        "counter",
        "Messages received, since the database was made.",
    );
    let _ = writeln!(out, "simgate_received_messages_total {}", totals.received);

    let _ = metric_into(
        &mut out,
        "simgate_send_latency_seconds",
        "histogram",
        "From an outbox file taken in to its last part accepted by the network, since start.",
    );
    let mut cumulative = 0;
    for (bound, count) in LATENCY_BUCKETS.iter().zip(&snapshot.latency_counts) {
        cumulative += count;
        let _ = writeln!(
            out,
            "simgate_send_latency_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += snapshot.latency_counts[LATENCY_BUCKETS.len()];
    let _ = writeln!(
        out,
        "simgate_send_latency_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n\
         simgate_send_latency_seconds_sum {}\n\
         simgate_send_latency_seconds_count {cumulative}",
        snapshot.latency_sum
    );

    let radio = snapshot.radio.as_ref();
    let _ = metric_into(
        &mut out,
        "simgate_modem_ready",
        "gauge",
        "1 while the modem is ready to send and receive.",
    );
    let _ = writeln!(out, "simgate_modem_ready {}", u8::from(ready));
    if let Some(registered) = radio.and_then(|r| r.registered) {
        let _ = metric_into(
            &mut out,
            "simgate_modem_registered",
            "gauge",
            "1 while the modem is registered to a network (latest status poll).",
        );
        let _ = writeln!(out, "simgate_modem_registered {}", u8::from(registered));
    }
    if let Some(dbm) = radio.and_then(|r| r.signal_dbm) {
        let _ = metric_into(
            &mut out,
            "simgate_signal_dbm",
            "gauge",
            "Signal strength in dBm (latest status poll).",
        );
        let _ = writeln!(out, "simgate_signal_dbm {dbm}");
    }
    if let Some(percent) = radio.and_then(|r| r.signal_percent) {
        let _ = metric_into(
            &mut out,
            "simgate_signal_percent",
            "gauge",
            "Signal strength in percent, as gammu computes it (latest status poll).",
        );
        let _ = writeln!(out, "simgate_signal_percent {percent}");
    }
    if let Some(phone) = radio.and_then(|r| r.phone.as_ref()) {
        phone_metrics(&mut out, phone);
    }
    let _ = metric_into(
        &mut out,
        "simgate_modem_resets_total",
        "counter",
        "Times a modem session ended after it was ready (reset, reconnect, unplug), since start.",
    );
    let _ = writeln!(out, "simgate_modem_resets_total {}", snapshot.modem_resets);
    let _ = metric_into(
        &mut out,
        "simgate_rate_limit_waits_total",
        "counter",
        "Times a message was held back by a [limits] rate limit, since start.",
    );
    let _ = writeln!(
        out,
        "simgate_rate_limit_waits_total {}",
        snapshot.rate_limit_waits
    );
    out
}

/// With several modems: each one's state and signal as the daemon last
/// recorded them, under its name (the unlabelled metrics above are the
/// first modem's).
pub(crate) fn modems(statuses: &[crate::store::status::DeviceStatus]) -> String {
    let mut out = String::new();
    if statuses.len() < 2 {
        return out;
    }
    let label = |s: &crate::store::status::DeviceStatus| {
        let name = s.name.as_deref().unwrap_or("");
        name.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let _ = metric_into(
        &mut out,
        "simgate_modems_ready",
        "gauge",
        "Whether each modem is initialised and serving (1) or not (0), by name.",
    );
    for s in statuses {
        let ready = u8::from(s.state == "ready");
        let _ = writeln!(
            out,
            "simgate_modems_ready{{modem=\"{}\"}} {ready}",
            label(s)
        );
    }
    let _ = metric_into(
        &mut out,
        "simgate_modems_signal_dbm",
        "gauge",
        "Each modem's received signal strength in dBm, by name (when it tells).",
    );
    for s in statuses {
        if let Some(dbm) = s.signal_dbm {
            let _ = writeln!(
                out,
                "simgate_modems_signal_dbm{{modem=\"{}\"}} {dbm}",
                label(s)
            );
        }
    }
    out
}

/// What a phone acting as the modem reports about itself.
fn phone_metrics(out: &mut String, phone: &crate::device::PhoneStatus) {
    let gauges = [
        (
            "simgate_phone_battery_percent",
            "The phone's battery level in percent (its gateway app's health).",
            phone.battery_percent.map(i64::from),
        ),
        (
            "simgate_phone_charging",
            "1 while the phone is on a charger or charging.",
            phone.charging.map(i64::from),
        ),
        (
            "simgate_phone_online",
            "1 while the phone has an internet connection (its app's check).",
            phone.online.map(i64::from),
        ),
        (
            "simgate_phone_sims",
            "Active SIMs the phone reports.",
            (!phone.sims.is_empty()).then_some(phone.sims.len() as i64),
        ),
    ];
    for (name, help, value) in gauges {
        if let Some(value) = value {
            let _ = metric_into(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
}

fn metric_into(out: &mut String, name: &str, kind: &str, help: &str) -> std::fmt::Result {
    writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}")
}

fn lookup(pairs: &[(String, u64)], key: &str) -> u64 {
    pairs
        .iter()
        .find(|(name, _)| name == key)
        .map_or(0, |(_, count)| *count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Radio;
    use std::time::Duration;

    fn samples(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn several_modems_each_get_their_state_and_signal_by_name() {
        use crate::store::status::DeviceStatus;
        let one = DeviceStatus {
            state: "ready".into(),
            name: Some("a".into()),
            signal_dbm: Some(-70),
            ..DeviceStatus::default()
        };
        assert_eq!(
            modems(std::slice::from_ref(&one)),
            "",
            "one modem: the plain metrics say it"
        );
        let two = DeviceStatus {
            state: "connecting".into(),
            name: Some("b\"x".into()),
            ..DeviceStatus::default()
        };
        let text = modems(&[one, two]);
        assert_eq!(
            samples(&text),
            [
                "simgate_modems_ready{modem=\"a\"} 1",
                "simgate_modems_ready{modem=\"b\\\"x\"} 0",
                "simgate_modems_signal_dbm{modem=\"a\"} -70",
            ]
        );
        assert_eq!(text.matches("# TYPE").count(), 2);
    }

    #[test]
    fn every_metric_is_declared_once_and_its_samples_follow() {
        let mut snapshot = Snapshot {
            radio: Some(Radio {
                signal_dbm: Some(-71),
                registered: Some(true),
                signal_percent: Some(64),
                phone: Some(crate::device::PhoneStatus {
                    battery_percent: Some(55),
                    charging: Some(false),
                    online: Some(true),
                    network: Some("wifi".into()),
                    sims: vec![crate::device::SimCard::default(); 2],
                }),
                ..Radio::default()
            }),
            modem_resets: 2,
            rate_limit_waits: 3,
            ..Snapshot::default()
        };
        snapshot.observe_latency(Duration::from_millis(80));
        snapshot.observe_latency(Duration::from_secs(2));
        let totals = Totals {
            finished: vec![("sent".into(), 5), ("ambiguous".into(), 1)],
            waiting: vec![("rate_limit".into(), 4)],
            received: 7,
        };
        let text = render(&snapshot, true, &totals);
        let lines = samples(&text);
        for expected in [
            "simgate_queue_messages{reason=\"rate_limit\"} 4",
            "simgate_queue_messages{reason=\"due\"} 0",
            "simgate_messages_total{outcome=\"sent\"} 5",
            "simgate_messages_total{outcome=\"failed\"} 0",
            "simgate_messages_total{outcome=\"ambiguous\"} 1",
            "simgate_received_messages_total 7",
            "simgate_send_latency_seconds_bucket{le=\"0.1\"} 1",
            "simgate_send_latency_seconds_bucket{le=\"1\"} 1",
            "simgate_send_latency_seconds_bucket{le=\"2.5\"} 2",
            "simgate_send_latency_seconds_bucket{le=\"+Inf\"} 2",
            "simgate_send_latency_seconds_sum 2.08",
            "simgate_send_latency_seconds_count 2",
            "simgate_modem_ready 1",
            "simgate_modem_registered 1",
            "simgate_signal_dbm -71",
            "simgate_signal_percent 64",
            "simgate_phone_battery_percent 55",
            "simgate_phone_charging 0",
            "simgate_phone_online 1",
            "simgate_phone_sims 2",
            "simgate_modem_resets_total 2",
            "simgate_rate_limit_waits_total 3",
        ] {
            assert!(lines.contains(&expected), "{expected} in\n{text}");
        }
        // Each TYPE line names a metric whose samples come right after.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(!declared.contains(&name.to_owned()), "{name} twice");
                declared.push(name.to_owned());
            } else if !line.starts_with('#') {
                let current = declared.last().unwrap();
                assert!(line.starts_with(current.as_str()), "{line} under {current}");
            }
        }
    }

    #[test]
    fn unknown_readings_are_left_out_not_made_up() {
        let text = render(&Snapshot::default(), false, &Totals::default());
        assert!(text.contains("simgate_modem_ready 0"));
        assert!(!text.contains("simgate_signal_dbm"));
        assert!(!text.contains("simgate_modem_registered"));
    }
}
