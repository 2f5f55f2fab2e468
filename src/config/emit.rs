//! Writes a [`Config`] as simgate TOML: every key explicit, so the output of
//! `check-config` shows the effective value of each setting, and reading it
//! back gives the same configuration.

use super::value::{self, format_duration};
use super::{Config, LogTarget};
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

fn string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn path(path: &Path) -> String {
    string(&path.to_string_lossy())
}

fn duration(duration: Duration) -> String {
    string(&format_duration(duration))
}

fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|item| string(item)).collect();
    format!("[{}]", items.join(", "))
}

/// The TOML text; the PIN only when `reveal_pin`.
pub(super) fn to_toml(config: &Config, reveal_pin: bool) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_all(&mut out, config, reveal_pin);
    out
}

/// One modem's keys (`[modem]` or an entry of `[[modems]]`).
fn write_modem(out: &mut String, m: &super::ModemSettings, reveal_pin: bool) -> std::fmt::Result {
    if let Some(name) = &m.name {
        writeln!(out, "name = {}", string(name))?;
    }
    if !m.prefixes.is_empty() {
        writeln!(out, "prefixes = {}", list(&m.prefixes))?;
    }
    for limit in &m.limits {
        writeln!(out, "{} = {}", limit.key(), limit.max)?;
    }
    if let Some(web) = &m.web {
        writeln!(out, "transport = {}", string(web.kind.as_str()))?;
        writeln!(out, "device = {}", string(&web.url))?;
        // A ZTE stick's login has no user name.
        if web.kind != super::WebKind::Zte {
            writeln!(out, "user = {}", string(&web.user))?;
        }
        match (&web.password_file, &web.password) {
            (Some(file), _) => writeln!(out, "password_file = {}", path(file))?,
            (None, Some(password)) if reveal_pin => {
                writeln!(out, "password = {}", string(password.reveal()))?
            }
            (None, Some(_)) => writeln!(out, "# password = \"…\"  (set, redacted)")?,
            (None, None) => {}
        }
        writeln!(out, "check_interval = {}", duration(web.check_interval))?;
        if let Some(android) = &web.android {
            match (&android.signing_key_file, &android.signing_key) {
                (Some(file), _) => writeln!(out, "signing_key_file = {}", path(file))?,
                (None, Some(key)) if reveal_pin => {
                    writeln!(out, "signing_key = {}", string(key.reveal()))?
                }
                (None, Some(_)) => writeln!(out, "# signing_key = \"…\"  (set, redacted)")?,
                (None, None) => {}
            }
            let listen = android.webhook_listen.to_string();
            writeln!(out, "webhook_listen = {}", string(&listen))?;
            if let Some(url) = &android.webhook_url {
                writeln!(out, "webhook_url = {}", string(url))?;
            }
        }
    } else if let Some(mm) = &m.modemmanager {
        writeln!(out, "transport = \"modemmanager\"")?;
        writeln!(out, "device = {}", string(&mm.modem))?;
        if let Some(bus) = &mm.bus {
            writeln!(out, "bus = {}", string(bus))?;
        }
    } else {
        writeln!(out, "device = {}", path(&m.device))?;
    }
    // The serial port's, for an AT modem only (set for another device,
    // loading warns about them).
    if m.transport_not_at().is_none() {
        writeln!(out, "baud = {}", m.baud)?;
        writeln!(out, "hardware_flow_control = {}", m.hardware_flow_control)?;
    }
    match (&m.pin_file, &m.pin) {
        (Some(file), _) => writeln!(out, "pin_file = {}", path(file))?,
        (None, Some(pin)) if reveal_pin => writeln!(out, "pin = {}", string(pin.reveal()))?,
        (None, Some(_)) => writeln!(out, "# pin = \"…\"  (set, redacted)")?,
        (None, None) => {}
    }
    if let Some(smsc) = &m.smsc {
        writeln!(out, "smsc = {}", string(smsc))?;
    }
    writeln!(out, "command_timeout = {}", duration(m.command_timeout))?;
    writeln!(out, "send_timeout = {}", duration(m.send_timeout))?;
    writeln!(out, "check_sim = {}", m.check_sim)?;
    writeln!(out, "status_interval = {}", duration(m.status_interval))?;
    writeln!(out, "reset_interval = {}", duration(m.reset_interval))?;
    writeln!(
        out,
        "hard_reset_interval = {}",
        duration(m.hard_reset_interval)
    )?;
    Ok(())
}

fn write_all(out: &mut String, config: &Config, reveal_pin: bool) -> std::fmt::Result {
    writeln!(out, "[modem]")?;
    write_modem(out, &config.modem, reveal_pin)?;
    for modem in &config.more_modems {
        writeln!(out, "\n[[modems]]")?;
        write_modem(out, modem, reveal_pin)?;
    }

    let s = &config.spool;
    writeln!(out, "\n[spool]")?;
    writeln!(out, "inbox = {}", path(&s.inbox))?;
    writeln!(out, "outbox = {}", path(&s.outbox))?;
    match &s.sent {
        Some(dir) => writeln!(out, "sent = {}", path(dir))?,
        None => writeln!(out, "sent = \"\"  # delete sent files")?,
    }
    match &s.error {
        Some(dir) => writeln!(out, "error = {}", path(dir))?,
        None => writeln!(out, "error = \"\"  # delete failed files")?,
    }
    writeln!(
        out,
        "inbox_format = {}",
        string(value::FILE_FORMATS.name(s.inbox_format))
    )?;
    writeln!(
        out,
        "outbox_format = {}",
        string(value::FILE_FORMATS.name(s.outbox_format))
    )?;
    writeln!(
        out,
        "transmit_format = {}",
        string(value::TRANSMIT_FORMATS.name(s.transmit_format))
    )?;
    writeln!(out, "scan_interval = {}", duration(s.scan_interval))?;
    writeln!(out, "settle_time = {}", duration(s.settle_time))?;
    writeln!(
        out,
        "outbox_order = {}",
        string(value::OUTBOX_ORDERS.name(s.outbox_order))
    )?;
    if let Some(mask) = s.umask {
        writeln!(out, "umask = {}", string(&format!("{mask:04o}")))?;
    }

    let s = &config.send;
    writeln!(out, "\n[send]")?;
    writeln!(out, "enabled = {}", s.enabled)?;
    match s.max_attempts {
        Some(n) => writeln!(out, "max_attempts = {n}")?,
        None => writeln!(out, "max_attempts = 0  # no limit")?,
    }
    match s.max_age {
        Some(age) => writeln!(out, "max_age = {}", duration(age))?,
        None => writeln!(out, "max_age = \"0s\"  # no limit")?,
    }
    writeln!(out, "retry_delay = {}", duration(s.retry_delay))?;
    writeln!(out, "retry_delay_max = {}", duration(s.retry_delay_max))?;
    writeln!(
        out,
        "ambiguous = {}",
        string(value::AMBIGUOUS_POLICIES.name(s.ambiguous))
    )?;
    writeln!(
        out,
        "validity = {}",
        string(&value::format_validity(s.validity))
    )?;

    let r = &config.receive;
    writeln!(out, "\n[receive]")?;
    writeln!(out, "enabled = {}", r.enabled)?;
    writeln!(out, "poll_interval = {}", duration(r.poll_interval))?;
    writeln!(out, "multipart_timeout = {}", duration(r.multipart_timeout))?;
    writeln!(
        out,
        "delivery_report = {}",
        string(value::DELIVERY_REPORTS.name(r.delivery_report))
    )?;

    let h = &config.hooks;
    writeln!(out, "\n[hooks]")?;
    for (key, command) in [
        ("run_on_receive", &h.run_on_receive),
        ("run_on_sent", &h.run_on_sent),
        ("run_on_failure", &h.run_on_failure),
        ("run_on_incoming_call", &h.run_on_incoming_call),
        ("run_on_budget_warning", &h.run_on_budget_warning),
    ] {
        if let Some(command) = command {
            writeln!(out, "{key} = {}", string(command))?;
        }
    }
    writeln!(out, "timeout = {}", duration(h.timeout))?;
    writeln!(out, "hangup_calls = {}", h.hangup_calls)?;
    if let Some(id) = &h.phone_id {
        writeln!(out, "phone_id = {}", string(id))?;
    }

    let f = &config.filters;
    writeln!(out, "\n[filters]")?;
    writeln!(out, "include_numbers = {}", list(&f.include_numbers))?;
    writeln!(out, "exclude_numbers = {}", list(&f.exclude_numbers))?;
    writeln!(out, "include_smsc = {}", list(&f.include_smsc))?;
    writeln!(out, "exclude_smsc = {}", list(&f.exclude_smsc))?;
    for (key, file) in [
        ("include_numbers_file", &f.include_numbers_file),
        ("exclude_numbers_file", &f.exclude_numbers_file),
        ("include_smsc_file", &f.include_smsc_file),
        ("exclude_smsc_file", &f.exclude_smsc_file),
    ] {
        if let Some(file) = file {
            writeln!(out, "{key} = {}", path(file))?;
        }
    }

    writeln!(out, "\n[database]")?;
    match &config.database.path {
        Some(file) => writeln!(out, "path = {}", path(file))?,
        None => writeln!(
            out,
            "# path: one per configuration file in the state directory (simgate check-config names it)"
        )?,
    }

    writeln!(out, "\n[limits]")?;
    if config.limits.rules.is_empty() {
        writeln!(
            out,
            "# none (messages_per_hour = 100, destination_parts_per_day = 20, ...)"
        )?;
    }
    for limit in &config.limits.rules {
        writeln!(out, "{} = {}", limit.key(), limit.max)?;
    }

    let d = &config.destinations;
    writeln!(out, "\n[destinations]")?;
    if !d.allow.is_empty() {
        writeln!(out, "allow = {}", list(&d.allow))?;
    }
    if !d.deny.is_empty() {
        writeln!(out, "deny = {}", list(&d.deny))?;
    }
    if let Some(file) = &d.allow_file {
        writeln!(out, "allow_file = {}", string(&file.display().to_string()))?;
    }
    if let Some(file) = &d.deny_file {
        writeln!(out, "deny_file = {}", string(&file.display().to_string()))?;
    }
    if *d == crate::config::DestinationSettings::default() {
        writeln!(out, "# every number")?;
    }

    writeln!(out, "\n[budget]")?;
    match config.budget.monthly_parts {
        Some(parts) => writeln!(out, "monthly_parts = {parts}")?,
        None => writeln!(out, "# monthly_parts: none (no budget)")?,
    }
    writeln!(out, "warn_percent = {}", config.budget.warn_percent)?;

    let h = &config.http;
    writeln!(out, "\n[http]")?;
    match h.listen {
        Some(address) => writeln!(out, "listen = {}", string(&address.to_string()))?,
        None => writeln!(
            out,
            "# listen = \"127.0.0.1:8080\"  (disabled; or simgate run --http)"
        )?,
    }
    match (&h.token_file, &h.token) {
        (Some(file), _) => writeln!(out, "token_file = {}", path(file))?,
        (None, Some(token)) if reveal_pin => writeln!(out, "token = {}", string(token))?,
        (None, Some(_)) => writeln!(out, "# token = \"…\"  (set, redacted)")?,
        (None, None) => writeln!(out, "# token: none (requests are not authenticated)")?,
    }
    writeln!(out, "wait_seconds = {}", duration(h.wait))?;
    writeln!(
        out,
        "client_messages_per_hour = {}{}",
        h.client_messages_per_hour,
        if h.client_messages_per_hour == 0 {
            "  # no limit"
        } else {
            ""
        }
    )?;
    writeln!(out, "max_body_bytes = {}", h.max_body_bytes)?;

    let w = &config.webhooks;
    writeln!(out, "\n[webhooks]")?;
    if w.urls.is_empty() {
        writeln!(
            out,
            "# urls = [\"http://127.0.0.1:8080/sms-events\"]  (none: webhooks are off)"
        )?;
    } else {
        writeln!(out, "urls = {}", list(&w.urls))?;
    }
    match (&w.secret_file, &w.secret) {
        (Some(file), _) => writeln!(out, "secret_file = {}", path(file))?,
        (None, Some(_)) => writeln!(out, "# secret = \"…\"  (set, redacted)")?,
        (None, None) => {}
    }
    writeln!(out, "events = {}", list(&w.events))?;
    writeln!(out, "max_retry_time = {}", duration(w.max_retry_time))?;
    writeln!(out, "retry_delay = {}", duration(w.retry_delay))?;
    writeln!(out, "retry_delay_max = {}", duration(w.retry_delay_max))?;
    writeln!(out, "timeout = {}", duration(w.timeout))?;

    let l = &config.log;
    writeln!(out, "\n[log]")?;
    writeln!(out, "level = {}", string(value::LOG_LEVELS.name(l.level)))?;
    let target = match &l.target {
        LogTarget::Stderr => string("stderr"),
        LogTarget::Stdout => string("stdout"),
        LogTarget::Syslog => string("syslog"),
        LogTarget::File(file) => path(file),
    };
    writeln!(out, "file = {target}")?;
    writeln!(
        out,
        "facility = {}",
        string(value::FACILITIES.name(l.facility))
    )?;
    Ok(())
}
