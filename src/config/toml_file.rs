//! simgate's own TOML. Read through a generic table rather than serde
//! derives so that unknown keys become warnings (not errors, not silence)
//! and every wrong value gets the same kind of message as in a gammu file:
//! key, value, what is allowed.

use super::value::{self, Choices};
use super::{
    AndroidPhone, Config, ConfigError, Loaded, LogTarget, Notice, Password, SimPin, SourceFormat,
    WebKind, WebStick,
};
use std::path::PathBuf;
use std::time::Duration;
use toml::{Table, Value};

const SECTIONS: &[&str] = &[
    "modem",
    "modems",
    "spool",
    "send",
    "receive",
    "hooks",
    "filters",
    "database",
    "limits",
    "destinations",
    "budget",
    "http",
    "webhooks",
    "log",
];

/// Parses simgate's TOML.
pub(super) fn parse(text: &str) -> Result<Loaded, ConfigError> {
    let text = text.trim_start_matches('\u{feff}');
    let root: Table = text.parse().map_err(|error: toml::de::Error| {
        let line = error
            .span()
            .map_or(1, |span| 1 + text[..span.start].matches('\n').count());
        let mut message = error.message().trim().to_owned();
        let ini = crate::ini::Ini::parse(text);
        if !ini.has_section("gammu") && !ini.has_section("smsd") {
            message.push_str(
                " (and the file is not a gammu-smsdrc either: it has no [gammu] or [smsd] \
                 section)",
            );
        }
        ConfigError::Syntax { line, message }
    })?;
    let mut notices = Vec::new();
    for (key, value) in &root {
        if !SECTIONS.contains(&key.as_str()) {
            notices.push(Notice::warning(
                key.clone(),
                format!(
                    "unknown {}, ignored (simgate's sections are {})",
                    if value.is_table() { "table" } else { "key" },
                    SECTIONS.join(", ")
                ),
            ));
        } else if !value.is_table() && key != "modems" {
            return Err(ConfigError::InvalidValue {
                key: key.clone(),
                value: value.to_string(),
                allowed: format!("a table, written [{key}] on a line of its own"),
            });
        }
    }
    let mut config = Config::default();
    let section = |name: &'static str| Section {
        name,
        table: root.get(name).and_then(Value::as_table),
        used: Vec::new(),
    };

    let mut modem = section("modem");
    // A file that names no modem (yet) is kept for the commands that need
    // none ([`Loaded`]); its other settings are still read and checked.
    let mut modem_unconfigured = None;
    match modem_settings(&mut modem, config.modem.clone()) {
        Ok(settings) => {
            config.modem = settings;
            modem.warn_at_modem_only(&config.modem, &mut notices);
            modem.finish(&mut notices);
        }
        Err(error) => {
            modem_unconfigured = Some(super::error::NoModem::of(error)?);
            config.modem.device = std::path::PathBuf::from("/dev/null");
        }
    }
    if let Some(more) = root.get("modems") {
        let Some(entries) = more.as_array().filter(|a| a.iter().all(Value::is_table)) else {
            return Err(ConfigError::InvalidValue {
                key: "modems".to_owned(),
                value: more.to_string(),
                allowed: "tables, each written [[modems]] on a line of its own".to_owned(),
            });
        };
        for (index, entry) in entries.iter().enumerate() {
            let mut modem = Section {
                name: "modems",
                table: entry.as_table(),
                used: Vec::new(),
            };
            let mut settings = super::ModemSettings::new("");
            settings.section = super::ModemSection::Entry {
                number: index + 1,
                name: None,
            };
            let settings = modem_settings(&mut modem, settings)?;
            modem.warn_at_modem_only(&settings, &mut notices);
            modem.finish(&mut notices);
            config.more_modems.push(settings);
        }
    }

    let mut spool = section("spool");
    let s = &mut config.spool;
    if let Some(path) = spool.path("inbox")? {
        s.inbox = path;
    }
    if let Some(path) = spool.path("outbox")? {
        s.outbox = path;
    }
    s.sent = spool.disposal("sent", s.sent.take(), &s.outbox)?;
    s.error = spool.disposal("error", s.error.take(), &s.outbox)?;
    s.inbox_format = spool.choice("inbox_format", &value::FILE_FORMATS, s.inbox_format)?;
    s.outbox_format = spool.choice("outbox_format", &value::FILE_FORMATS, s.outbox_format)?;
    s.transmit_format = spool.choice(
        "transmit_format",
        &value::TRANSMIT_FORMATS_TOML,
        s.transmit_format,
    )?;
    s.scan_interval = spool.duration("scan_interval", s.scan_interval)?;
    s.settle_time = spool.duration("settle_time", s.settle_time)?;
    s.outbox_order = spool.choice("outbox_order", &value::OUTBOX_ORDERS, s.outbox_order)?;
    if s.outbox_order == super::OutboxOrder::Locale {
        notices.push(Notice::warning(
            "spool.outbox_order",
            "\"locale\" is not implemented yet and is inactive: outbox files are taken in byte \
             order of their names",
        ));
    }
    if let Some(mask) = spool.string("umask")? {
        s.umask = Some(value::parse_umask(&mask).ok_or_else(|| {
            spool.invalid(
                "umask",
                &Value::String(mask.clone()),
                "an octal mask such as \"0027\" (files simgate writes get 0666 minus it)",
            )
        })?);
    }
    if s.error.is_none() {
        notices.push(Notice::warning(
            "spool.error",
            "is \"\": failed outbox files are deleted; give a directory to keep them",
        ));
    }
    spool.finish(&mut notices);

    let mut send = section("send");
    let s = &mut config.send;
    s.enabled = send.bool("enabled", s.enabled)?;
    s.max_attempts = send.u32("max_attempts")?.filter(|&n| n > 0);
    s.max_age = Some(send.duration("max_age", Duration::ZERO)?).filter(|d| !d.is_zero());
    (s.retry_delay, s.retry_delay_max) =
        retry_delays(&mut send, "send", (s.retry_delay, s.retry_delay_max))?;
    s.ambiguous = send.choice("ambiguous", &value::AMBIGUOUS_POLICIES, s.ambiguous)?;
    if let Some(validity) = send.string("validity")? {
        s.validity = value::parse_validity(&validity).ok_or_else(|| {
            send.invalid(
                "validity",
                &Value::String(validity.clone()),
                "\"max\" (63 weeks, gammu's choice), \"none\" (the SMSC's default) or a \
                 duration such as \"3d\" (rounded up to what TP-VP can say)",
            )
        })?;
    }
    send.finish(&mut notices);

    let mut receive = section("receive");
    let r = &mut config.receive;
    r.enabled = receive.bool("enabled", r.enabled)?;
    r.poll_interval = receive.duration("poll_interval", r.poll_interval)?;
    r.multipart_timeout = receive.duration("multipart_timeout", r.multipart_timeout)?;
    r.delivery_report = receive.choice(
        "delivery_report",
        &value::DELIVERY_REPORTS,
        r.delivery_report,
    )?;
    receive.finish(&mut notices);

    let mut hooks = section("hooks");
    let h = &mut config.hooks;
    h.run_on_receive = hooks.command("run_on_receive")?;
    h.run_on_sent = hooks.command("run_on_sent")?;
    h.run_on_failure = hooks.command("run_on_failure")?;
    h.run_on_incoming_call = hooks.command("run_on_incoming_call")?;
    h.run_on_budget_warning = hooks.command("run_on_budget_warning")?;
    h.timeout = hooks.positive_duration("timeout", h.timeout)?;
    h.hangup_calls = hooks.bool("hangup_calls", h.hangup_calls)?;
    h.phone_id = hooks.string("phone_id")?;
    if h.run_on_incoming_call.is_some() && !h.hangup_calls {
        notices.push(Notice::warning(
            "hooks.run_on_incoming_call",
            "has no effect without hangup_calls = true",
        ));
    }
    hooks.finish(&mut notices);

    let mut filters = section("filters");
    let f = &mut config.filters;
    f.include_numbers = filters.list("include_numbers")?;
    f.exclude_numbers = filters.list("exclude_numbers")?;
    f.include_smsc = filters.list("include_smsc")?;
    f.exclude_smsc = filters.list("exclude_smsc")?;
    f.include_numbers_file = filters.path("include_numbers_file")?;
    f.exclude_numbers_file = filters.path("exclude_numbers_file")?;
    f.include_smsc_file = filters.path("include_smsc_file")?;
    f.exclude_smsc_file = filters.path("exclude_smsc_file")?;
    filters.finish(&mut notices);

    let mut database = section("database");
    config.database.path = database.path("path")?;
    database.finish(&mut notices);

    let mut limits = section("limits");
    for (key, scope, unit, window) in super::Limit::KEYS {
        if let Some(max) = limits.u32(key)?.filter(|&max| max > 0) {
            config.limits.rules.push(super::Limit {
                scope,
                unit,
                window,
                max,
            });
        }
    }
    limits.finish(&mut notices);

    let mut destinations = section("destinations");
    let d = &mut config.destinations;
    d.allow = destinations.list("allow")?;
    d.deny = destinations.list("deny")?;
    d.allow_file = destinations.path("allow_file")?;
    d.deny_file = destinations.path("deny_file")?;
    destinations.finish(&mut notices);

    let mut budget = section("budget");
    let b = &mut config.budget;
    b.monthly_parts = budget.u32("monthly_parts")?.filter(|&parts| parts > 0);
    if let Some(percent) = budget.u32("warn_percent")? {
        if !(1..=100).contains(&percent) {
            return Err(budget.invalid(
                "warn_percent",
                &Value::Integer(percent.into()),
                "a percentage from 1 to 100",
            ));
        }
        b.warn_percent = percent as u8;
    }
    budget.finish(&mut notices);

    let mut http = section("http");
    let h = &mut config.http;
    if let Some(listen) = http.string("listen")? {
        h.listen = Some(super::parse_listen(&listen).ok_or_else(|| {
            http.invalid(
                "listen",
                &Value::String(listen.clone()),
                "an address and port such as \"127.0.0.1:8080\" or \"[::1]:8080\", or a port \
                 alone for loopback (leave the key out to disable HTTP)",
            )
        })?);
    }
    if let Some(token) = http.string("token")? {
        if token.trim().is_empty() || token.chars().any(|c| c.is_whitespace()) {
            return Err(http.invalid(
                "token",
                &Value::String("(redacted)".to_owned()),
                "a token without spaces (leave the key out for no token)",
            ));
        }
        h.token = Some(token);
    }
    h.token_file = http.path("token_file")?;
    if h.token.is_some() && h.token_file.is_some() {
        return Err(ConfigError::InvalidValue {
            key: "http.token_file".to_owned(),
            value: h
                .token_file
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string()),
            allowed: "either `token` or `token_file`, not both".to_owned(),
        });
    }
    h.wait = http.duration("wait_seconds", h.wait)?;
    if let Some(max) = http.u32("client_messages_per_hour")? {
        h.client_messages_per_hour = max;
    }
    if let Some(max) = http.u32("max_body_bytes")? {
        // A message's file holds at most its body's bytes; above what the
        // outbox reader takes, an accepted text would end in error/.
        let most = crate::spool::outbox::MAX_OUTBOX_FILE_BYTES;
        if max < 64 || u64::from(max) > most {
            return Err(http.invalid(
                "max_body_bytes",
                &Value::Integer(i64::from(max)),
                &format!("a number of bytes from 64 to {most} (the largest outbox file read)"),
            ));
        }
        h.max_body_bytes = max;
    }
    http.finish(&mut notices);

    let mut webhooks = section("webhooks");
    let w = &mut config.webhooks;
    w.urls = webhooks.list("urls")?;
    for url in &w.urls {
        if let Err(error) = crate::webhook::parse_url(url) {
            return Err(webhooks.invalid("urls", &Value::String(url.clone()), &error.to_string()));
        }
    }
    w.secret = webhooks.string("secret")?;
    w.secret_file = webhooks.path("secret_file")?;
    if let Some(file) = &w.secret_file {
        let text = std::fs::read_to_string(file).map_err(|error| {
            webhooks.invalid(
                "secret_file",
                &Value::String(file.display().to_string()),
                &format!("a readable file holding the secret ({error})"),
            )
        })?;
        w.secret = Some(text.trim_end_matches(['\n', '\r']).to_owned());
    }
    if !w.urls.is_empty() && w.secret.as_deref().is_none_or(str::is_empty) {
        return Err(ConfigError::Missing {
            key: "webhooks.secret".to_owned(),
            hint: "webhooks are signed: set secret or secret_file (a long random string)"
                .to_owned(),
        });
    }
    let events = webhooks.list("events")?;
    if webhooks
        .table
        .as_ref()
        .is_some_and(|t| t.contains_key("events"))
    {
        for event in &events {
            if !crate::webhook::EVENTS.contains(&event.as_str()) {
                return Err(webhooks.invalid(
                    "events",
                    &Value::String(event.clone()),
                    &format!("event kinds among {}", crate::webhook::EVENTS.join(", ")),
                ));
            }
        }
        w.events = events;
    }
    w.max_retry_time = webhooks.duration("max_retry_time", w.max_retry_time)?;
    // The floors of [send]: a receiver that is down is not posted to
    // every millisecond.
    (w.retry_delay, w.retry_delay_max) = retry_delays(
        &mut webhooks,
        "webhooks",
        (w.retry_delay, w.retry_delay_max),
    )?;
    w.timeout = webhooks.positive_duration("timeout", w.timeout)?;
    webhooks.finish(&mut notices);

    let mut log = section("log");
    let l = &mut config.log;
    l.level = log.choice("level", &value::LOG_LEVELS, l.level)?;
    if let Some(file) = log.string("file")? {
        l.target = match file.as_str() {
            "stderr" => LogTarget::Stderr,
            "stdout" => LogTarget::Stdout,
            "syslog" => LogTarget::Syslog,
            "" => {
                return Err(log.invalid(
                    "file",
                    &Value::String(file),
                    "\"stderr\", \"stdout\", \"syslog\" or a file path",
                ))
            }
            path => LogTarget::File(value::normalise(path.as_ref(), None)),
        };
    }
    l.facility = log.choice("facility", &value::FACILITIES, l.facility)?;
    log.finish(&mut notices);

    // Once every section is read: the first modem, unnamed, is named by
    // [hooks] phone_id.
    if config.more_modems.is_empty() {
        check_listeners(&config, &[&config.modem])?;
    } else {
        check_modems(&config, |a, b| a == b)?;
    }
    Ok(Loaded {
        config,
        notices,
        source: SourceFormat::Toml,
        modem_unconfigured,
    })
}

/// Several modems: names and devices of their own, devices compared with
/// `same` (by spelling here; [`super::load`] compares them again by
/// identity, [`super::same_file`]).
pub(super) fn check_modems(
    config: &Config,
    same: impl Fn(&std::path::Path, &std::path::Path) -> bool,
) -> Result<(), ConfigError> {
    let names = config.modem_names();
    let modems: Vec<&super::ModemSettings> = std::iter::once(&config.modem)
        .chain(&config.more_modems)
        .collect();
    for (index, name) in names.iter().enumerate() {
        if let Some(other) = names[..index].iter().position(|n| n == name) {
            return Err(ConfigError::InvalidValue {
                key: "modems.name".to_owned(),
                value: name.clone(),
                allowed: format!(
                    "a name no other modem has{}",
                    implied_name(config, other, name)
                ),
            });
        }
        let device = &modems[index].device;
        if let Some(other) = modems[..index].iter().find(|m| same(&m.device, device)) {
            return Err(ConfigError::InvalidValue {
                key: "modems.device".to_owned(),
                value: device.display().to_string(),
                allowed: format!(
                    "a device no other modem has (another modem has it, as {})",
                    other.device.display()
                ),
            });
        }
    }
    check_listeners(config, &modems)
}

/// Why modem `index` has `name` when the user wrote none for it (empty
/// when the user did): the clash is then with a name the file does not
/// show.
fn implied_name(config: &Config, index: usize, name: &str) -> String {
    let modem = if index == 0 {
        &config.modem
    } else {
        &config.more_modems[index - 1]
    };
    if modem.name.is_some() {
        return String::new();
    }
    let by_phone_id = if index == 0 && config.hooks.phone_id.is_some() {
        " (hooks.phone_id)"
    } else {
        ""
    };
    format!(
        " ({name:?} is the name {} has when it names none{by_phone_id}: give that modem a \
         name of its own, or choose another)",
        config.modem_section(index)
    )
}

/// Every phone's `webhook_listen`, and the HTTP API's `listen`, on a port
/// of its own: two listeners clash when their ports are equal and their
/// addresses equal or either is the wildcard. The second would never
/// listen, and its phone would stay "connecting" for ever.
pub(super) fn check_listeners(
    config: &Config,
    modems: &[&super::ModemSettings],
) -> Result<(), ConfigError> {
    let clash = |a: &std::net::SocketAddr, b: &std::net::SocketAddr| {
        a.port() == b.port()
            && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
    };
    let mut taken: Vec<(String, std::net::SocketAddr)> = config
        .http
        .listen
        .iter()
        .map(|listen| ("http.listen".to_owned(), *listen))
        .collect();
    let names = config.modem_names();
    for (modem, name) in modems.iter().zip(&names) {
        let Some(android) = modem.web.as_ref().and_then(|web| web.android.as_ref()) else {
            continue;
        };
        let listen = android.webhook_listen;
        let key = match modem.section {
            super::ModemSection::First => "modem.webhook_listen".to_owned(),
            super::ModemSection::Entry { .. } => format!("modems.{name}.webhook_listen"),
        };
        if let Some((other, _)) = taken.iter().find(|(_, address)| clash(address, &listen)) {
            return Err(ConfigError::InvalidValue {
                key,
                value: listen.to_string(),
                allowed: format!(
                    "an address and port no other listener has ({other} has that port; \
                     set webhook_listen for each phone)"
                ),
            });
        }
        taken.push((key, listen));
    }
    Ok(())
}

/// One modem's settings: `[modem]`, or an entry of `[[modems]]`.
fn modem_settings(
    modem: &mut Section<'_>,
    mut settings: super::ModemSettings,
) -> Result<super::ModemSettings, ConfigError> {
    settings.name = modem.string("name")?.filter(|n| !n.trim().is_empty());
    if let super::ModemSection::Entry { name, .. } = &mut settings.section {
        name.clone_from(&settings.name);
    }
    let section = settings.section.to_string();
    settings.prefixes = modem.list("prefixes")?;
    for (key, scope, unit, window) in super::Limit::KEYS {
        if scope != super::LimitScope::All {
            continue;
        }
        if let Some(max) = modem.u32(key)?.filter(|&max| max > 0) {
            settings.limits.push(super::Limit {
                scope,
                unit,
                window,
                max,
            });
        }
    }
    let transport = modem.string("transport")?;
    let web_kind = match transport.as_deref() {
        None | Some("at") | Some("modemmanager") => None,
        Some("hilink") => Some(WebKind::Hilink),
        Some("zte") => Some(WebKind::Zte),
        Some("android") => Some(WebKind::Android),
        Some(other) => {
            return Err(modem.invalid(
                "transport",
                &Value::String(other.to_owned()),
                "\"at\" (a modem's AT port, the default), \"hilink\" (a Huawei HiLink stick's \
                 web interface), \"zte\" (a ZTE stick's goform web interface), \"android\" \
                 (the SMS Gateway for Android app's Local Server) or \"modemmanager\" (a modem \
                 ModemManager owns, over D-Bus)",
            ))
        }
    };
    if transport.as_deref() == Some("modemmanager") {
        let selector = modem.string("device")?.unwrap_or_default();
        let bus = modem.string("bus")?.filter(|b| !b.trim().is_empty());
        settings.device = PathBuf::from(format!("modemmanager:{selector}"));
        settings.modemmanager = Some(super::ModemManagerModem {
            modem: selector,
            bus,
        });
    }
    if let Some(kind) = web_kind {
        let Some(url) = modem.string("device")? else {
            return Err(ConfigError::Missing {
                key: modem.key("device"),
                hint: format!(
                    "write the stick's address, e.g. device = \"http://192.168.8.1\", under {section}"
                ),
            });
        };
        if WebStick::split_credentials(&url).1.is_some() {
            // Not repeated: it holds a password.
            return Err(modem.invalid(
                "device",
                &Value::String("http://…@…".to_owned()),
                "the address without a user or password (the password goes in `password` \
                 or `password_file`, the user in `user`)",
            ));
        }
        if !WebStick::valid_url(&url) {
            return Err(modem.invalid(
                "device",
                &Value::String(url),
                "the stick's address, such as \"http://192.168.8.1\" (plain http)",
            ));
        }
        let mut web = WebStick::new(kind, &url);
        if let Some(user) = modem.string("user")? {
            web.user = user;
        }
        web.password = modem.string("password")?.map(Password::new);
        web.password_file = modem.path("password_file")?;
        if web.password.is_some() && web.password_file.is_some() {
            return Err(ConfigError::InvalidValue {
                key: modem.key("password_file"),
                value: web
                    .password_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                allowed: "either `password` or `password_file`, not both".to_owned(),
            });
        }
        web.check_interval = modem.duration_from(
            "check_interval",
            web.check_interval,
            super::MIN_POLL_INTERVAL,
        )?;
        if let Some(android) = web.android.as_mut() {
            android_keys(modem, &section, android)?;
        }
        settings.device = PathBuf::from(&web.url);
        settings.web = Some(web);
    }
    let device = if web_kind.is_some() || settings.modemmanager.is_some() {
        Some(settings.device.clone())
    } else {
        modem.path("device")?
    };
    let Some(device) = device else {
        return Err(ConfigError::Missing {
            key: modem.key("device"),
            hint: format!(
                "write the modem's AT port, e.g. device = \"/dev/ttyUSB0\" or a \
                 /dev/serial/by-id/... link, under {section}"
            ),
        });
    };
    if device == std::path::Path::new("/dev/null") {
        return Err(ConfigError::InvalidValue {
            key: modem.key("device"),
            value: "/dev/null".to_owned(),
            allowed: "the modem's AT port, such as /dev/ttyUSB0 or /dev/serial/by-id/..."
                .to_owned(),
        });
    }
    let m = &mut settings;
    m.device = device;
    if let Some(baud) = modem.u32("baud")? {
        if baud == 0 {
            return Err(modem.invalid(
                "baud",
                &Value::Integer(0),
                "a positive baud rate such as 115200",
            ));
        }
        m.baud = baud;
    }
    m.hardware_flow_control = modem.bool("hardware_flow_control", m.hardware_flow_control)?;
    m.pin = modem.pin("pin")?;
    m.pin_file = modem.path("pin_file")?;
    if m.pin.is_some() && m.pin_file.is_some() {
        return Err(ConfigError::InvalidValue {
            key: modem.key("pin_file"),
            value: m
                .pin_file
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string()),
            allowed: "either `pin` or `pin_file`, not both: remove `pin` and keep the PIN in \
                      the file only"
                .to_owned(),
        });
    }
    if let Some(smsc) = modem.string("smsc")? {
        if !value::valid_smsc(&smsc) {
            return Err(modem.invalid("smsc", &Value::String(smsc), value::SMSC_FORMS));
        }
        m.smsc = Some(smsc);
    }
    m.command_timeout = modem.positive_duration("command_timeout", m.command_timeout)?;
    m.send_timeout = modem.positive_duration("send_timeout", m.send_timeout)?;
    m.check_sim = modem.bool("check_sim", m.check_sim)?;
    m.status_interval = modem.interval(
        "status_interval",
        m.status_interval,
        super::MIN_POLL_INTERVAL,
    )?;
    m.reset_interval = modem.interval(
        "reset_interval",
        m.reset_interval,
        super::MIN_RESET_INTERVAL,
    )?;
    m.hard_reset_interval = modem.interval(
        "hard_reset_interval",
        m.hard_reset_interval,
        super::MIN_HARD_RESET_INTERVAL,
    )?;
    Ok(settings)
}

/// One `[section]`, remembering which keys were read so the rest can be
/// reported as unknown.
struct Section<'a> {
    name: &'static str,
    table: Option<&'a Table>,
    used: Vec<&'static str>,
}

impl<'a> Section<'a> {
    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.push(key);
        self.table?.get(key)
    }

    fn key(&self, key: &str) -> String {
        format!("{}.{key}", self.name)
    }

    fn socket_address(
        &mut self,
        key: &'static str,
    ) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(text) => match text.parse() {
                Ok(address) => Ok(Some(address)),
                Err(_) => Err(self.invalid(
                    key,
                    &Value::String(text),
                    "an address and port, such as \"192.168.1.10:8555\" or \"0.0.0.0:8555\"",
                )),
            },
        }
    }

    fn invalid(&self, key: &str, value: &Value, allowed: &str) -> ConfigError {
        ConfigError::InvalidValue {
            key: self.key(key),
            value: match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            },
            allowed: allowed.to_owned(),
        }
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(self.invalid(key, other, "a string in double quotes")),
        }
    }

    fn command(&mut self, key: &'static str) -> Result<Option<String>, ConfigError> {
        match self.string(key)? {
            Some(command) if command.trim().is_empty() => Err(self.invalid(
                key,
                &Value::String(command),
                "a shell command line (leave the key out for no hook)",
            )),
            other => Ok(other),
        }
    }

    fn bool(&mut self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Boolean(flag)) => Ok(*flag),
            Some(other) => Err(self.invalid(key, other, "true or false (without quotes)")),
        }
    }

    fn u32(&mut self, key: &'static str) -> Result<Option<u32>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Integer(n)) if u32::try_from(*n).is_ok() => Ok(u32::try_from(*n).ok()),
            Some(other) => Err(self.invalid(key, other, "a whole number, 0 or more")),
        }
    }

    /// A duration of at most [`value::MAX_DURATION`].
    fn duration(&mut self, key: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        let Some(raw) = self.get(key) else {
            return Ok(default);
        };
        let duration = match raw {
            Value::Integer(n) if *n >= 0 => Duration::from_secs(n.unsigned_abs()),
            Value::String(text) => value::parse_duration(text)
                .ok_or_else(|| self.invalid(key, raw, value::DURATION_FORMS))?,
            other => return Err(self.invalid(key, other, value::DURATION_FORMS)),
        };
        if duration > value::MAX_DURATION {
            return Err(self.invalid(key, raw, &value::duration_range(Duration::ZERO)));
        }
        Ok(duration)
    }

    fn positive_duration(
        &mut self,
        key: &'static str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let duration = self.duration(key, default)?;
        if duration.is_zero() {
            return Err(self.invalid(
                key,
                &Value::String(value::format_duration(duration)),
                &format!("{}, more than zero", value::DURATION_FORMS),
            ));
        }
        Ok(duration)
    }

    /// A duration of at least `floor`.
    fn duration_from(
        &mut self,
        key: &'static str,
        default: Duration,
        floor: Duration,
    ) -> Result<Duration, ConfigError> {
        let duration = self.duration(key, default)?;
        if duration < floor {
            return Err(self.invalid(
                key,
                &Value::String(value::format_duration(duration)),
                &value::duration_range(floor),
            ));
        }
        Ok(duration)
    }

    /// A period where zero means never: zero, or at least `floor`.
    fn interval(
        &mut self,
        key: &'static str,
        default: Duration,
        floor: Duration,
    ) -> Result<Duration, ConfigError> {
        let duration = self.duration(key, default)?;
        if !duration.is_zero() && duration < floor {
            return Err(self.invalid(
                key,
                &Value::String(value::format_duration(duration)),
                &format!("\"0s\" (never) or {}", value::duration_range(floor)),
            ));
        }
        Ok(duration)
    }

    fn choice<T: Copy + PartialEq>(
        &mut self,
        key: &'static str,
        choices: &Choices<T>,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::String(text)) if choices.find(text).is_some() => {
                Ok(choices.find(text).expect("checked"))
            }
            Some(other) => Err(self.invalid(
                key,
                other,
                &format!("one of {} (in double quotes)", choices.allowed()),
            )),
        }
    }

    fn path(&mut self, key: &'static str) -> Result<Option<PathBuf>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(text) if text.is_empty() => Err(self.invalid(
                key,
                &Value::String(text),
                "a path (relative paths are taken from the working directory)",
            )),
            Some(text) => Ok(Some(value::normalise(text.as_ref(), None))),
        }
    }

    /// `sent`/`error`: a directory, or `""` to delete the files.
    fn disposal(
        &mut self,
        key: &'static str,
        default: Option<PathBuf>,
        outbox: &std::path::Path,
    ) -> Result<Option<PathBuf>, ConfigError> {
        let path = match self.string(key)? {
            None => return Ok(default),
            Some(text) if text.is_empty() => return Ok(None),
            Some(text) => value::normalise(text.as_ref(), None),
        };
        if path == outbox {
            return Err(self.invalid(
                key,
                &Value::String(path.display().to_string()),
                "a directory other than spool.outbox, or \"\" to delete the files",
            ));
        }
        Ok(Some(path))
    }

    fn pin(&mut self, key: &'static str) -> Result<Option<SimPin>, ConfigError> {
        let text = match self.get(key) {
            None => return Ok(None),
            Some(Value::String(text)) => text.clone(),
            // `pin = 1234` is the obvious thing to write.
            Some(Value::Integer(n)) => n.to_string(),
            Some(_) => {
                return Err(ConfigError::InvalidValue {
                    key: self.key(key),
                    value: "<redacted>".to_owned(),
                    allowed: "4 to 8 digits, in double quotes".to_owned(),
                })
            }
        };
        SimPin::parse(&self.key(key), &text).map(Some)
    }

    fn list(&mut self, key: &'static str) -> Result<Vec<String>, ConfigError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.clone()),
                    other => Err(self.invalid(key, other, "a list of strings, [\"+4917…\", …]")),
                })
                .collect(),
            Some(other) => Err(self.invalid(key, other, "a list of strings, [\"+4917…\", …]")),
        }
    }

    /// A warning for each key only an AT modem reads
    /// ([`super::AT_MODEM_ONLY`]) written for a modem that is not one.
    fn warn_at_modem_only(&self, settings: &super::ModemSettings, notices: &mut Vec<Notice>) {
        let (Some(table), Some(transport)) = (self.table, settings.transport_not_at()) else {
            return;
        };
        let device = format!("transport = \"{transport}\"");
        let zte = settings.web.as_ref().map(|web| web.kind) == Some(WebKind::Zte);
        if zte && table.contains_key("user") {
            notices.push(Notice::warning(
                self.key("user"),
                super::zte_user_warning(&device),
            ));
        }
        for (key, sets) in super::AT_MODEM_ONLY {
            if table.contains_key(key) {
                notices.push(Notice::warning(
                    self.key(key),
                    super::at_modem_only_warning(&device, sets),
                ));
            }
        }
    }

    fn finish(self, notices: &mut Vec<Notice>) {
        let Some(table) = self.table else {
            return;
        };
        for key in table.keys() {
            if !self.used.contains(&key.as_str()) {
                notices.push(Notice::warning(
                    self.key(key),
                    format!(
                        "unknown key, ignored (known in [{}]: {})",
                        self.name,
                        self.used.join(", ")
                    ),
                ));
            }
        }
    }
}

/// `[name] retry_delay` and `retry_delay_max` (from `defaults`): each at
/// least its floor, and the longest not below the first.
fn retry_delays(
    section: &mut Section<'_>,
    name: &str,
    (first, longest): (Duration, Duration),
) -> Result<(Duration, Duration), ConfigError> {
    let first = section.duration_from("retry_delay", first, value::MIN_RETRY_DELAY)?;
    let longest = section.duration_from("retry_delay_max", longest, value::MIN_RETRY_DELAY_MAX)?;
    retry_delays_in_order(name, first, longest)?;
    Ok((first, longest))
}

/// `[section] retry_delay_max` is not below its `retry_delay`: the delay
/// doubles from the first up to the longest.
fn retry_delays_in_order(
    section: &str,
    first: std::time::Duration,
    longest: std::time::Duration,
) -> Result<(), ConfigError> {
    if longest >= first {
        return Ok(());
    }
    Err(ConfigError::InvalidValue {
        key: format!("{section}.retry_delay_max"),
        value: value::format_duration(longest),
        allowed: format!(
            "a duration at least {section}.retry_delay ({})",
            value::format_duration(first)
        ),
    })
}

/// The keys only an Android phone has: its webhook signing key (or a file
/// holding it, exactly one of them), where simgate listens for webhooks,
/// and the address the phone posts to.
fn android_keys(
    modem: &mut Section<'_>,
    section: &str,
    android: &mut AndroidPhone,
) -> Result<(), ConfigError> {
    android.signing_key = modem.string("signing_key")?.map(Password::new);
    android.signing_key_file = modem.path("signing_key_file")?;
    match (&android.signing_key, &android.signing_key_file) {
        (Some(_), Some(file)) => {
            return Err(ConfigError::InvalidValue {
                key: modem.key("signing_key_file"),
                value: file.display().to_string(),
                allowed: "either `signing_key` or `signing_key_file`, not both".to_owned(),
            })
        }
        (None, None) => {
            return Err(ConfigError::Missing {
                key: modem.key("signing_key"),
                hint: format!(
                    "copy the app's webhook signing key (Settings, Webhooks) into \
                     signing_key = \"...\" or a file named by signing_key_file, under {section}: \
                     simgate takes no unsigned webhooks"
                ),
            })
        }
        (Some(key), None) if key.reveal().trim().is_empty() => {
            return Err(ConfigError::InvalidValue {
                key: modem.key("signing_key"),
                value: String::new(),
                allowed: "the app's webhook signing key, not empty: a webhook signed with an \
                          empty key would be accepted from anyone"
                    .to_owned(),
            })
        }
        _ => {}
    }
    if let Some(listen) = modem.socket_address("webhook_listen")? {
        android.webhook_listen = listen;
    }
    if let Some(url) = modem.string("webhook_url")? {
        let valid = url.starts_with("http://") || url.starts_with("https://");
        if !valid {
            return Err(modem.invalid(
                "webhook_url",
                &Value::String(url),
                "the address the phone posts to, such as \"http://192.168.1.10:8555/simgate/webhook\"",
            ));
        }
        android.webhook_url = Some(url);
    }
    Ok(())
}
