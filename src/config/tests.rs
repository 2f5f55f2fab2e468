use super::*;
use std::time::Duration;

const BASE: &str = "/srv/start";

fn gammu(text: &str) -> Loaded {
    parse_gammu(text, Path::new(BASE)).unwrap_or_else(|e| panic!("{e}"))
}

fn gammu_err(text: &str) -> ConfigError {
    parse_gammu(text, Path::new(BASE)).expect_err("should be rejected")
}

fn toml_ok(text: &str) -> Loaded {
    parse_toml(text).unwrap_or_else(|e| panic!("{e}"))
}

fn notice<'a>(loaded: &'a Loaded, key: &str) -> Option<&'a Notice> {
    loaded.notices.iter().find(|n| n.key == key)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A Debian gammu-smsdrc as an admin leaves it after filling it in.
const DEBIAN: &str = "\
# Configuration file for Gammu SMS Daemon

# Gammu library configuration, see gammurc(5)
[gammu]
# Please configure this!
port = /dev/ttyUSB0
connection = at
# Debugging
#logformat = textall

# SMSD configuration, see gammu-smsdrc(5)
[smsd]
service = files
logfile = /var/log/gammu-smsd
# Increase for debugging information
debuglevel = 1
PIN = 1234
RunOnReceive = /usr/local/bin/sms-in --queue incoming

# Paths where messages are stored
inboxpath = /var/spool/gammu/inbox/
outboxpath = /var/spool/gammu/outbox/
sentsmspath = /var/spool/gammu/sent
errorsmspath = /var/spool/gammu/error/
";

#[test]
fn a_debian_gammu_smsdrc() {
    let loaded = gammu(DEBIAN);
    assert_eq!(loaded.source, SourceFormat::Gammu);
    let c = &loaded.config;
    assert_eq!(c.modem.device, PathBuf::from("/dev/ttyUSB0"));
    assert_eq!(c.modem.baud, 19_200);
    assert_eq!(c.modem.pin.as_ref().map(SimPin::reveal), Some("1234"));
    assert_eq!(
        c.log.target,
        LogTarget::File(PathBuf::from("/var/log/gammu-smsd"))
    );
    assert_eq!(c.log.level, LogLevel::Debug);
    assert_eq!(
        c.hooks.run_on_receive.as_deref(),
        Some("/usr/local/bin/sms-in --queue incoming")
    );
    assert_eq!(c.spool.inbox, PathBuf::from("/var/spool/gammu/inbox"));
    assert_eq!(c.spool.outbox, PathBuf::from("/var/spool/gammu/outbox"));
    assert_eq!(c.spool.sent, Some(PathBuf::from("/var/spool/gammu/sent")));
    assert_eq!(c.spool.error, Some(PathBuf::from("/var/spool/gammu/error")));
    // gammu's code defaults for what the file does not say.
    assert_eq!(c.spool.inbox_format, FileFormat::Standard);
    assert_eq!(c.spool.outbox_format, FileFormat::Detail);
    assert_eq!(c.spool.scan_interval, secs(30));
    assert_eq!(c.modem.send_timeout, secs(30));
    // Not gammu's 15 s polling: simgate reads on +CMTI, and polls as a
    // safety net (said in a notice).
    assert_eq!(
        c.receive.poll_interval,
        crate::config::DEFAULT_POLL_INTERVAL
    );
    assert!(loaded
        .notices
        .iter()
        .any(|n| n.key == "[smsd] ReceiveFrequency" && n.message.contains("15 s")));
    assert_eq!(c.receive.multipart_timeout, secs(600));
    assert_eq!(c.receive.delivery_report, DeliveryReport::No);
    assert_eq!(c.modem.status_interval, secs(60));
    assert!(c.modem.check_sim && c.send.enabled && c.receive.enabled);
    assert!(!c.hooks.hangup_calls);
    assert_eq!(c.send.max_attempts, None);

    // TransmitFormat absent: auto, and a notice saying why.
    assert_eq!(c.spool.transmit_format, EncodingPolicy::Auto);
    let transmit = notice(&loaded, "[smsd] TransmitFormat").expect("notice");
    assert_eq!(transmit.severity, Severity::Info);
    assert!(transmit.message.contains("7bit") && transmit.message.contains("auto"));
    // The path without its trailing slash: a warning naming gammu's result.
    let sent = notice(&loaded, "[smsd] SentSMSPath").expect("warning");
    assert_eq!(sent.severity, Severity::Warning);
    assert!(sent.message.contains("trailing `/`"), "{}", sent.message);
    assert!(notice(&loaded, "[smsd] InboxPath").is_none());
    // The hooks' argument passing is announced; the PIN never appears.
    assert!(notice(&loaded, "hooks").is_some());
    for n in &loaded.notices {
        assert!(!n.to_string().contains("1234"), "{n}");
    }
    assert!(!format!("{c:?}").contains("1234"));
}

#[test]
fn every_key_is_read() {
    let loaded = gammu(
        "[gammu]\ndevice = /dev/serial/by-id/usb-HUAWEI-if00\nconnection = at115200\n\
         model = auto\n\
         [smsd]\nService = files\nLogFile = syslog\nLogFacility = LOCAL3\nDebugLevel = 255\n\
         PIN = 00001234\nCommTimeout = 5\nSendTimeout = 45\nReceiveFrequency = 7\n\
         StatusFrequency = 0\nMultipartTimeout = 60\nCheckSecurity = no\nHangupCalls = yes\n\
         ResetFrequency = 3600\nHardResetFrequency = 86400\nDeliveryReport = sms\n\
         PhoneID = gw1\nSMSC = +491770610000\nRunOnReceive = /bin/in\nRunOnSent = /bin/sent\n\
         RunOnFailure = /bin/fail\nRunOnIncomingCall = /bin/call\n\
         IncludeNumbersFile = incl.txt\nExcludeNumbersFile = /etc/excl\n\
         IncludeSMSCFile = /etc/isc\nExcludeSMSCFile = /etc/esc\nMaxRetries = 3\n\
         RetryTimeout = 120\nSend = yes\nReceive = no\nInboxPath = in/\nOutboxPath = out/\n\
         SentSMSPath = sent/\nErrorSMSPath = err/\nInboxFormat = detail\n\
         OutboxFormat = unicode\nTransmitFormat = unicode\n\
         [include_numbers]\nn1 = +4911\nn2 = +4922\n[exclude_numbers]\nx = +4933\n\
         [include_smsc]\ns = +4944\n[exclude_smsc]\ns = +4955\n",
    );
    let c = &loaded.config;
    assert_eq!(
        c.modem.device,
        PathBuf::from("/dev/serial/by-id/usb-HUAWEI-if00")
    );
    assert_eq!(c.modem.baud, 115_200);
    assert_eq!(c.log.target, LogTarget::Syslog);
    assert_eq!(c.log.facility, SyslogFacility::Local(3));
    assert_eq!(c.log.level, LogLevel::Trace);
    assert_eq!(c.modem.pin.as_ref().map(SimPin::reveal), Some("00001234"));
    assert_eq!(c.spool.scan_interval, secs(5));
    assert_eq!(c.modem.send_timeout, secs(45));
    assert_eq!(c.receive.poll_interval, secs(7));
    assert_eq!(c.modem.status_interval, Duration::ZERO);
    assert_eq!(c.receive.multipart_timeout, secs(60));
    assert!(!c.modem.check_sim);
    assert!(c.hooks.hangup_calls);
    assert_eq!(c.modem.reset_interval, secs(3600));
    assert_eq!(c.modem.hard_reset_interval, secs(86_400));
    assert_eq!(c.receive.delivery_report, DeliveryReport::Sms);
    assert_eq!(c.hooks.phone_id.as_deref(), Some("gw1"));
    assert_eq!(c.modem.smsc.as_deref(), Some("+491770610000"));
    assert_eq!(c.hooks.run_on_receive.as_deref(), Some("/bin/in"));
    assert_eq!(c.hooks.run_on_sent.as_deref(), Some("/bin/sent"));
    assert_eq!(c.hooks.run_on_failure.as_deref(), Some("/bin/fail"));
    assert_eq!(c.hooks.run_on_incoming_call.as_deref(), Some("/bin/call"));
    assert_eq!(
        c.filters.include_numbers_file,
        Some(PathBuf::from("/srv/start/incl.txt"))
    );
    assert_eq!(
        c.filters.exclude_numbers_file,
        Some(PathBuf::from("/etc/excl"))
    );
    assert_eq!(c.filters.include_smsc_file, Some(PathBuf::from("/etc/isc")));
    assert_eq!(c.filters.exclude_smsc_file, Some(PathBuf::from("/etc/esc")));
    assert_eq!(c.filters.include_numbers, ["+4911", "+4922"]);
    assert_eq!(c.filters.exclude_numbers, ["+4933"]);
    assert_eq!(c.filters.include_smsc, ["+4944"]);
    assert_eq!(c.filters.exclude_smsc, ["+4955"]);
    assert_eq!(c.send.max_attempts, Some(4));
    assert_eq!(c.send.retry_delay, secs(120));
    assert_eq!(c.send.retry_delay_max, secs(120));
    assert!(c.send.enabled && !c.receive.enabled);
    // Relative paths are relative to the start directory.
    assert_eq!(c.spool.inbox, PathBuf::from("/srv/start/in"));
    assert_eq!(c.spool.outbox, PathBuf::from("/srv/start/out"));
    assert_eq!(c.spool.sent, Some(PathBuf::from("/srv/start/sent")));
    assert_eq!(c.spool.error, Some(PathBuf::from("/srv/start/err")));
    assert_eq!(c.spool.inbox_format, FileFormat::Detail);
    assert_eq!(c.spool.outbox_format, FileFormat::Unicode);
    assert_eq!(c.spool.transmit_format, EncodingPolicy::Ucs2);

    // Documented differences are announced.
    let retries = notice(&loaded, "[smsd] MaxRetries").unwrap();
    assert!(retries.message.contains("honoured"), "{}", retries.message);
    assert!(notice(&loaded, "[smsd] RetryTimeout").is_some());
    assert!(notice(&loaded, "[smsd] SMSC").is_some());
    assert!(notice(&loaded, "[smsd] LogFacility").is_some());
    assert!(notice(&loaded, "[smsd] DebugLevel")
        .unwrap()
        .message
        .contains("trace"));
    assert!(notice(&loaded, "[smsd] TransmitFormat").is_none());
    // Both include and exclude lists: gammu ignores the exclude list.
    assert_eq!(
        notice(&loaded, "[exclude_numbers]").unwrap().severity,
        Severity::Warning
    );
    assert!(loaded
        .notices
        .iter()
        .all(|n| !n.message.contains("unknown")));
}

#[test]
fn keys_and_sections_are_case_insensitive_and_values_too() {
    let loaded = gammu(
        "[GAMMU]\nDEVICE = /dev/ttyACM0\nConnection = AT\n[SmSd]\nSERVICE = FILES\n\
         inboxPATH = /in/\nOUTBOXpath = /out/\nDeliveryReport = SMS\nTransmitFormat = Unicode\n\
         checksecurity = YES\nlogfile = STDOUT\n",
    );
    let c = &loaded.config;
    assert_eq!(c.modem.device, PathBuf::from("/dev/ttyACM0"));
    assert_eq!(c.spool.inbox, PathBuf::from("/in"));
    assert_eq!(c.receive.delivery_report, DeliveryReport::Sms);
    assert_eq!(c.spool.transmit_format, EncodingPolicy::Ucs2);
    assert_eq!(c.log.target, LogTarget::Stdout);
}

#[test]
fn duplicates_comments_and_grammar_follow_gammu() {
    let loaded = gammu(
        "\u{feff}junk before the first section\r\n[gammu]\r\ndevice = /dev/ttyUSB2\r\n\
         ; a comment\r\n# another\r\n   # indented comment\n[smsd]\nservice = files\n\
         CommTimeout = 5\ncommtimeout = 7\nPIN =\nno equals sign here\nOutboxPath = /o/\n\
         [smsd]\nCommTimeout = 9\nReceiveFrequency = 3\n",
    );
    let c = &loaded.config;
    assert_eq!(c.modem.device, PathBuf::from("/dev/ttyUSB2"));
    // Last duplicate in a section wins; the first section having a key wins.
    assert_eq!(c.spool.scan_interval, secs(7));
    assert_eq!(c.receive.poll_interval, secs(3));
    // An empty value is an absent key.
    assert_eq!(c.modem.pin, None);
}

#[test]
fn wrong_values_name_the_key_the_value_and_what_is_allowed() {
    let base = "[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nservice = files\n";
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "InboxFormat = unicode ; comment",
            "[smsd] InboxFormat",
            "unicode ; comment",
            "standard, unicode or detail",
        ),
        (
            "CheckSecurity = on",
            "[smsd] CheckSecurity",
            "on",
            "yes or no",
        ),
        ("CommTimeout = 30s", "[smsd] CommTimeout", "30s", "atoi"),
        (
            "DeliveryReport = always",
            "[smsd] DeliveryReport",
            "always",
            "no, log or sms",
        ),
        (
            "TransmitFormat = utf8",
            "[smsd] TransmitFormat",
            "utf8",
            "auto, unicode or 7bit",
        ),
        (
            "OutboxFormat = txt",
            "[smsd] OutboxFormat",
            "txt",
            "standard, unicode or detail",
        ),
        (
            "InboxPath = \"/x/\"",
            "[smsd] InboxPath",
            "\"/x/\"",
            "without quotes",
        ),
        (
            "LogFacility = kern",
            "[smsd] LogFacility",
            "kern",
            "daemon, user",
        ),
        ("MaxRetries = -1", "[smsd] MaxRetries", "-1", "whole number"),
        ("SMSC = +49 177", "[smsd] SMSC", "+49 177", "digits"),
        (
            "Receive = enabled",
            "[smsd] Receive",
            "enabled",
            "yes or no",
        ),
        ("SendTimeout = 0", "[smsd] SendTimeout", "0", "at least 1"),
    ];
    for (line, key, value, allowed) in cases {
        let error = gammu_err(&format!("{base}{line}\n"));
        let ConfigError::InvalidValue {
            key: k,
            value: v,
            allowed: a,
        } = &error
        else {
            panic!("{line}: {error:?}");
        };
        assert_eq!((k.as_str(), v.as_str()), (*key, *value), "{line}");
        assert!(a.contains(allowed), "{line}: {a}");
        let message = error.to_string();
        assert!(
            message.contains(key) && message.contains(&format!("{value:?}")),
            "{message}"
        );
    }
    // The inline-comment hint.
    let error = gammu_err(&format!("{base}InboxFormat = unicode ; comment\n"));
    assert!(error.to_string().contains("no inline comments"), "{error}");
    // A bad PIN is refused without being echoed.
    let error = gammu_err(&format!("{base}PIN = \"1234\"\n"));
    assert!(matches!(&error, ConfigError::InvalidValue { key, .. } if key == "[smsd] PIN"));
    assert!(!error.to_string().contains("1234"), "{error}");
    // Connections.
    let error =
        gammu_err("[gammu]\ndevice = /dev/ttyS0\nconnection = at12345\n[smsd]\nservice = files\n");
    assert!(matches!(&error, ConfigError::InvalidValue { key, .. } if key == "[gammu] connection"));
}

#[test]
fn connections_map_to_baud_rates_or_are_refused() {
    let with = |connection: &str| {
        parse_gammu(
            &format!("[gammu]\ndevice = /dev/ttyS0\nconnection = {connection}\n[smsd]\nservice = files\n"),
            Path::new(BASE),
        )
    };
    assert_eq!(with("at").unwrap().config.modem.baud, 19_200);
    assert_eq!(with("AT115200").unwrap().config.modem.baud, 115_200);
    assert_eq!(with("at9600").unwrap().config.modem.baud, 9_600);
    for other in ["blueat", "fbus", "none", "proxyat", "dku2at"] {
        let error = with(other).expect_err(other);
        assert!(
            matches!(&error, ConfigError::Unsupported { key, value, .. }
                if key == "[gammu] connection" && value == other),
            "{other}: {error:?}"
        );
    }
    let dummy = parse_gammu(
        "[gammu]\nmodel = dummy\ndevice = /tmp/x/\n[smsd]\nservice = files\n",
        Path::new(BASE),
    );
    assert!(matches!(dummy, Err(ConfigError::Unsupported { .. })));
}

#[test]
fn services_other_than_files_are_refused() {
    let error =
        gammu_err("[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nservice = sql\ndriver = sqlite3\n");
    let ConfigError::Unsupported { key, value, reason } = &error else {
        panic!("{error:?}");
    };
    assert_eq!((key.as_str(), value.as_str()), ("[smsd] Service", "sql"));
    assert!(reason.contains("files backend"), "{reason}");
    for service in ["null", "MySQL", "pgsql", "dbi"] {
        let text = format!("[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nservice = {service}\n");
        assert!(matches!(gammu_err(&text), ConfigError::Unsupported { .. }));
    }
    assert!(matches!(
        gammu_err("[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nservice = fils\n"),
        ConfigError::InvalidValue { .. }
    ));
    let error = gammu_err("[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\ninboxpath = /in/\n");
    assert!(matches!(&error, ConfigError::Missing { key, .. } if key == "[smsd] Service"));
}

#[test]
fn debian_not_configured_marker_and_missing_gammu_section() {
    let error = gammu_err("[gammu]\nport = /dev/null\nconnection = at\n[smsd]\nservice = files\n");
    let message = error.to_string();
    assert!(
        matches!(&error, ConfigError::InvalidValue { key, value, .. }
            if key == "[gammu] port" && value == "/dev/null"),
        "{error:?}"
    );
    assert!(
        message.contains("not configured") && message.contains("set the device"),
        "{message}"
    );
    let error = gammu_err("[gammu]\n[smsd]\nservice = files\n");
    assert!(matches!(&error, ConfigError::Missing { key, .. } if key == "[gammu] device"));
    // Only connection given: gammu's default device, with a notice.
    let loaded = gammu("[gammu]\nconnection = at\n[smsd]\nservice = files\noutboxpath = /o/\n");
    assert_eq!(loaded.config.modem.device, PathBuf::from("/dev/ttyUSB0"));
    assert!(notice(&loaded, "[gammu] device").is_some());
}

#[test]
fn unknown_and_ignored_keys_are_notices_not_errors() {
    let loaded = gammu(
        "[gammu]\ndevice = /dev/ttyUSB0\nlogformat = textall\nfeatures = X\nreminder = R\n\
         [smsd]\nservice = files\nFrobnicate = 3\nRunOnError = /bin/x\nlogformat = text\n\
         LoopSleep = garbage\nCheckBattery = maybe\nNetworkCode = 9999\nPassword = secret\n\
         [tables]\ninbox = inbox\n[mystery]\na = b\n[gammu1]\ndevice = /dev/ttyUSB1\n",
    );
    let warning = |key: &str| {
        let n = notice(&loaded, key).unwrap_or_else(|| panic!("no notice for {key}"));
        assert_eq!(n.severity, Severity::Warning, "{key}");
        n.message.clone()
    };
    assert!(warning("[smsd] Frobnicate").contains("unknown key"));
    assert!(warning("[smsd] RunOnError").contains("RunOnFailure"));
    assert!(warning("[smsd] logformat").contains("[gammu]"));
    assert!(warning("[mystery]").contains("unknown section"));
    let info = |key: &str| {
        let n = notice(&loaded, key).unwrap_or_else(|| panic!("no notice for {key}"));
        assert_eq!(n.severity, Severity::Info, "{key}");
        n.message.clone()
    };
    // Ignored keys are not validated (LoopSleep = garbage passes).
    assert!(info("[smsd] LoopSleep").starts_with("accepted, ignored"));
    assert!(info("[smsd] CheckBattery").starts_with("accepted, ignored"));
    assert!(info("[smsd] Password").contains("SQL"));
    assert!(info("[tables]").contains("SQL"));
    assert!(info("[gammu1]").contains("[gammu]"));
    assert!(info("[gammu] features").starts_with("accepted, ignored"));
    assert!(info("[gammu] logformat").contains("trace"));
    // Keys gammu-smsd itself ignores pass silently; secrets never show.
    assert!(notice(&loaded, "[gammu] reminder").is_none());
    for n in &loaded.notices {
        let text = n.to_string();
        assert!(!text.contains("secret") && !text.contains("9999"), "{text}");
    }
}

#[test]
fn spool_path_defaults_chain_like_gammu() {
    // Only SentSMSPath: failed files go there too.
    let loaded = gammu(
        "[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nservice = files\noutboxpath = /s/out/\n\
         inboxpath = /s/in/\nsentsmspath = /s/sent/\n",
    );
    assert_eq!(loaded.config.spool.sent, Some(PathBuf::from("/s/sent")));
    assert_eq!(loaded.config.spool.error, Some(PathBuf::from("/s/sent")));
    assert!(notice(&loaded, "[smsd] ErrorSMSPath").is_some());
    // Neither: both deleted, with a warning about failed files.
    let loaded = gammu(
        "[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nservice = files\noutboxpath = /s/out/\n\
         inboxpath = /s/in/\n",
    );
    assert_eq!(
        (&loaded.config.spool.sent, &loaded.config.spool.error),
        (&None, &None)
    );
    assert_eq!(
        notice(&loaded, "[smsd] ErrorSMSPath").unwrap().severity,
        Severity::Warning
    );
    // SentSMSPath equal to the outbox (slash or not) means delete.
    let loaded = gammu(
        "[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nservice = files\noutboxpath = /s/out/\n\
         inboxpath = /s/in/\nsentsmspath = /s/out/\nerrorsmspath = /s/err/\n",
    );
    assert_eq!(loaded.config.spool.sent, None);
    assert_eq!(loaded.config.spool.error, Some(PathBuf::from("/s/err")));
    // No paths at all: the start directory, with warnings.
    let loaded = gammu("[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nservice = files\n");
    assert_eq!(loaded.config.spool.inbox, PathBuf::from(BASE));
    assert_eq!(loaded.config.spool.outbox, PathBuf::from(BASE));
    assert_eq!(
        notice(&loaded, "[smsd] InboxPath").unwrap().severity,
        Severity::Warning
    );
    // Missing slash on the outbox: gammu would never scan it.
    let loaded =
        gammu("[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nservice = files\noutboxpath = /s/out\n");
    let warning = notice(&loaded, "[smsd] OutboxPath").unwrap();
    assert!(
        warning.message.contains("never find"),
        "{}",
        warning.message
    );
}

#[test]
fn log_settings_from_gammu() {
    let loaded =
        gammu("[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nservice = files\nlogfile = smsd.log\n");
    assert_eq!(
        loaded.config.log.target,
        LogTarget::File(PathBuf::from("/srv/start/smsd.log"))
    );
    assert_eq!(loaded.config.log.level, LogLevel::Info);
    let loaded = gammu("[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nservice = files\n");
    assert_eq!(loaded.config.log.target, LogTarget::Stderr);
    assert!(notice(&loaded, "[smsd] LogFile")
        .unwrap()
        .message
        .contains("nothing at all"));
}

#[test]
fn round_trip_gammu_to_toml_and_back() {
    for text in [
        DEBIAN,
        "[gammu]\ndevice = /dev/ttyUSB0\nconnection = at115200\n[smsd]\nservice = files\n\
         outboxpath = /o/\ninboxpath = /i/\nsentsmspath = /o/\nMaxRetries = 2\nRetryTimeout = 90\n\
         SMSC = +4917\nPhoneID = \"quoted id\"\nRunOnSent = echo 'sent' \"$1\"\nlogfile = syslog\n\
         LogFacility = user\nDeliveryReport = log\nTransmitFormat = 7bit\nHangupCalls = 1\n\
         [include_numbers]\na = +49 1 2\nb = back\\slash\n",
    ] {
        let loaded = gammu(text);
        let toml = loaded.config.to_toml_with_pin();
        let back = toml_ok(&toml);
        assert_eq!(back.config, loaded.config, "{toml}");
        assert_eq!(back.source, SourceFormat::Toml);
        assert!(
            back.notices
                .iter()
                .all(|n| n.severity == Severity::Info || n.key == "spool.error"),
            "{:?}",
            back.notices
        );
    }
    // The redacted form says a PIN is set but does not show it.
    let loaded = gammu(DEBIAN);
    let redacted = loaded.config.to_toml();
    assert!(
        !redacted.contains("1234") && redacted.contains("redacted"),
        "{redacted}"
    );
    let back = toml_ok(&redacted);
    assert_eq!(back.config.modem.pin, None);
}

#[test]
fn the_example_configs_parse() {
    // The shipped file names no modem: simgate must be told which port.
    let shipped = include_str!("../../etc/simgate.toml");
    let missing = parse_toml(shipped).unwrap_err();
    assert!(
        matches!(&missing, ConfigError::Missing { key, .. } if key == "modem.device"),
        "{missing:?}"
    );
    let configured = shipped.replacen("#device = ", "device = ", 1);
    let loaded = toml_ok(&configured);
    assert_eq!(loaded.notices, Vec::new());
    assert_eq!(loaded.config, Config::default());
    let loaded = parse(
        include_str!("../../etc/gammu-smsdrc.example"),
        Path::new(BASE),
    )
    .unwrap();
    assert_eq!(loaded.source, SourceFormat::Gammu);
    assert_eq!(loaded.config.spool.transmit_format, EncodingPolicy::Auto);
    assert!(loaded.notices.iter().all(|n| n.severity == Severity::Info));
}

#[test]
fn simgate_toml_is_read_with_every_key() {
    let loaded = toml_ok(
        "[modem]\ndevice = \"/dev/ttyUSB3\"\nbaud = 9600\nhardware_flow_control = true\n\
         pin = 4321\nsmsc = \"+4917\"\ncommand_timeout = \"5s\"\nsend_timeout = 90\n\
         check_sim = false\nstatus_interval = \"0s\"\nreset_interval = \"1d\"\n\
         hard_reset_interval = \"7d\"\n\
         [spool]\ninbox = \"/i/\"\noutbox = \"/o\"\nsent = \"\"\nerror = \"/e\"\n\
         inbox_format = \"Unicode\"\noutbox_format = \"standard\"\ntransmit_format = \"gsm7\"\n\
         scan_interval = \"1m\"\nsettle_time = \"500ms\"\noutbox_order = \"locale\"\n\
         umask = \"027\"\n\
         [send]\nenabled = false\nmax_attempts = 5\nmax_age = \"2d\"\nretry_delay = \"10s\"\n\
         retry_delay_max = \"10m\"\nambiguous = \"resend\"\nvalidity = \"3d\"\n\
         [receive]\nenabled = true\npoll_interval = 3\nmultipart_timeout = \"1h\"\n\
         delivery_report = \"log\"\n\
         [hooks]\nrun_on_receive = \"/bin/in\"\ntimeout = \"30s\"\nhangup_calls = true\n\
         run_on_incoming_call = \"/bin/call\"\nphone_id = \"gw\"\n\
         [filters]\ninclude_numbers = [\"+491\"]\nexclude_smsc_file = \"/etc/x\"\n\
         [database]\npath = \"/tmp/s.db\"\n[http]\nlisten = \"127.0.0.1:8080\"\ntoken = \"s3cret\"\nwait_seconds = \"5s\"\n\
         client_messages_per_hour = 0\nmax_body_bytes = 4096\n\
         [log]\nlevel = \"debug\"\nfile = \"/var/log/simgate.log\"\nfacility = \"local7\"\n",
    );
    // Accepted but not acting yet: said, not silently ignored.
    let keys: Vec<&str> = loaded.notices.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(keys, ["spool.outbox_order"]);
    assert!(loaded
        .notices
        .iter()
        .all(|n| n.message.contains("inactive")));
    let c = &loaded.config;
    assert_eq!(c.spool.umask, Some(0o027));
    assert_eq!(
        c.send.validity,
        crate::pdu::Validity::relative_minutes(3 * 1440)
    );
    assert_eq!(c.modem.baud, 9600);
    assert!(c.modem.hardware_flow_control && !c.modem.check_sim);
    assert_eq!(c.modem.pin.as_ref().map(SimPin::reveal), Some("4321"));
    assert_eq!(c.modem.send_timeout, secs(90));
    assert_eq!(c.modem.hard_reset_interval, secs(7 * 86_400));
    assert_eq!(c.spool.inbox, PathBuf::from("/i"));
    assert_eq!(c.spool.sent, None);
    assert_eq!(c.spool.inbox_format, FileFormat::Unicode);
    assert_eq!(c.spool.transmit_format, EncodingPolicy::Gsm7);
    assert_eq!(c.spool.settle_time, Duration::from_millis(500));
    assert_eq!(c.spool.outbox_order, OutboxOrder::Locale);
    assert_eq!(c.send.max_attempts, Some(5));
    assert_eq!(c.send.max_age, Some(secs(2 * 86_400)));
    assert_eq!(c.send.ambiguous, AmbiguousPolicy::Resend);
    assert!(!c.send.enabled);
    assert_eq!(c.receive.poll_interval, secs(3));
    assert_eq!(c.receive.delivery_report, DeliveryReport::Log);
    assert_eq!(c.hooks.timeout, secs(30));
    assert_eq!(c.filters.include_numbers, ["+491"]);
    assert_eq!(c.filters.exclude_smsc_file, Some(PathBuf::from("/etc/x")));
    assert_eq!(c.database.path, Some(PathBuf::from("/tmp/s.db")));
    assert_eq!(c.http.listen, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(c.http.token.as_deref(), Some("s3cret"));
    assert_eq!(c.http.wait, secs(5));
    assert_eq!(c.http.client_messages_per_hour, 0);
    assert_eq!(c.http.max_body_bytes, 4096);
    assert_eq!(c.log.level, LogLevel::Debug);
    assert_eq!(c.log.facility, SyslogFacility::Local(7));
    assert_eq!(toml_ok(&c.to_toml_with_pin()).config, *c);
}

#[test]
fn simgate_toml_unknown_keys_warn_and_wrong_values_fail() {
    let loaded = toml_ok(
        "toplevel = true\n[modem]\ndevice = \"/dev/ttyUSB0\"\nspeed = 9600\n\
         [spool]\ninbox_fromat = \"unicode\"\n[extras]\nx = 1\n",
    );
    let mut keys: Vec<&str> = loaded.notices.iter().map(|n| n.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["extras", "modem.speed", "spool.inbox_fromat", "toplevel"]
    );
    assert!(loaded
        .notices
        .iter()
        .all(|n| n.severity == Severity::Warning));
    assert!(notice(&loaded, "extras")
        .unwrap()
        .message
        .contains("unknown table"));
    assert!(notice(&loaded, "toplevel")
        .unwrap()
        .message
        .contains("unknown key"));
    assert!(notice(&loaded, "spool.inbox_fromat")
        .unwrap()
        .message
        .contains("inbox_format"));

    let error = |text: &str| {
        parse_toml(&format!("[modem]\ndevice = \"/dev/ttyUSB0\"\n{text}\n")).expect_err(text)
    };
    let cases = [
        (
            "[spool]\ntransmit_format = \"utf8\"",
            "spool.transmit_format",
            "utf8",
            "auto, unicode or 7bit",
        ),
        (
            "[spool]\nscan_interval = \"soon\"",
            "spool.scan_interval",
            "soon",
            "\"30s\"",
        ),
        (
            "[send]\nambiguous = \"maybe\"",
            "send.ambiguous",
            "maybe",
            "error or resend",
        ),
        (
            "[send]\nenabled = \"yes\"",
            "send.enabled",
            "yes",
            "true or false",
        ),
        (
            "[send]\nmax_attempts = -1",
            "send.max_attempts",
            "-1",
            "whole number",
        ),
        (
            "[http]\nlisten = \"localhost\"",
            "http.listen",
            "localhost",
            "127.0.0.1:8080",
        ),
        (
            "[spool]\nsent = \"/var/spool/simgate/outbox/\"",
            "spool.sent",
            "/var/spool/simgate/outbox",
            "\"\"",
        ),
        (
            "[hooks]\ntimeout = 0",
            "hooks.timeout",
            "0s",
            "more than zero",
        ),
        (
            "[send]\nretry_delay = \"2h\"",
            "send.retry_delay_max",
            "1h",
            "at least",
        ),
        (
            "[webhooks]\nretry_delay = \"2h\"",
            "webhooks.retry_delay_max",
            "1h",
            "at least webhooks.retry_delay (2h)",
        ),
        (
            "[webhooks]\nretry_delay = \"1m\"\nretry_delay_max = \"30s\"",
            "webhooks.retry_delay_max",
            "30s",
            "at least webhooks.retry_delay (1m)",
        ),
        (
            "[log]\nlevel = \"loud\"",
            "log.level",
            "loud",
            "error, warn, info, debug or trace",
        ),
    ];
    for (text, key, value, allowed) in cases {
        let error = error(text);
        let ConfigError::InvalidValue {
            key: k,
            value: v,
            allowed: a,
        } = &error
        else {
            panic!("{text}: {error:?}");
        };
        assert_eq!((k.as_str(), v.as_str()), (key, value), "{text}");
        assert!(a.contains(allowed), "{text}: {a}");
    }
    let pin = error("pin = \"12\"");
    assert!(matches!(&pin, ConfigError::InvalidValue { key, value, .. }
        if key == "modem.pin" && value == "<redacted>"));
    assert!(matches!(
        parse_toml("[spool]\ninbox = \"/i\"\n"),
        Err(ConfigError::Missing { key, .. }) if key == "modem.device"
    ));
    assert!(matches!(
        parse_toml("modem = 3\n"),
        Err(ConfigError::InvalidValue { key, .. }) if key == "modem"
    ));
    let syntax = parse_toml("[modem]\ndevice = \"/dev/ttyUSB0\"\nbaud = = 3\n").unwrap_err();
    assert!(
        matches!(syntax, ConfigError::Syntax { line: 3, .. }),
        "{syntax:?}"
    );
}

#[test]
fn formats_are_told_apart_by_content() {
    assert_eq!(detect(DEBIAN), SourceFormat::Gammu);
    assert_eq!(
        detect(include_str!("../../etc/simgate.toml")),
        SourceFormat::Toml
    );
    // A gammu file that is also valid TOML is still a gammu file.
    let both = "[gammu]\ndevice = \"/dev/ttyUSB0\"\n[smsd]\nCommTimeout = 30\n";
    assert_eq!(detect(both), SourceFormat::Gammu);
    assert_eq!(detect("[SMSD]\nservice = files\n"), SourceFormat::Gammu);
    // Neither: reported as a TOML syntax error that says so.
    assert_eq!(detect("[modem\n"), SourceFormat::Toml);
    let error = parse("[modem\n", Path::new(BASE)).unwrap_err();
    assert!(
        error.to_string().contains("not a gammu-smsdrc either"),
        "{error}"
    );
    assert_eq!(
        detect("\u{feff}[modem]\ndevice = \"/dev/x\"\n"),
        SourceFormat::Toml
    );

    // Through load(): names do not matter.
    let dir = std::env::temp_dir().join(format!("simgate-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ini_named_toml = dir.join("gammu.toml");
    let toml_named_ini = dir.join("simgate.ini");
    std::fs::write(&ini_named_toml, DEBIAN).unwrap();
    std::fs::write(&toml_named_ini, "[modem]\ndevice = \"/dev/ttyACM0\"\n").unwrap();
    let gammu = load(&ini_named_toml).unwrap();
    let toml = load(&toml_named_ini).unwrap();
    assert_eq!(gammu.source, SourceFormat::Gammu);
    assert_eq!(toml.source, SourceFormat::Toml);
    assert_eq!(toml.config.modem.device, PathBuf::from("/dev/ttyACM0"));
    // A Latin-1 byte in a gammu comment is tolerated with a warning.
    let latin1 = dir.join("latin1");
    let mut bytes = b"# Konfiguration f\xfcr gammu\n".to_vec();
    bytes.extend_from_slice(DEBIAN.as_bytes());
    std::fs::write(&latin1, bytes).unwrap();
    let loaded = load(&latin1).unwrap();
    assert_eq!(loaded.notices[0].severity, Severity::Warning);
    let missing = load(&dir.join("absent")).unwrap_err();
    assert!(matches!(missing, ConfigError::Io { .. }));
    assert!(missing.to_string().contains("absent"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn modem_config_carries_the_modem_settings() {
    let loaded = gammu(
        "[gammu]\ndevice = /dev/ttyUSB1\nconnection = at115200\n[smsd]\nservice = files\n\
         PIN = 1111\nSMSC = +4917\nSendTimeout = 40\noutboxpath = /o/\n",
    );
    let modem = loaded.config.modem_config();
    assert_eq!(modem.device, PathBuf::from("/dev/ttyUSB1"));
    assert_eq!(modem.port.baud, 115_200);
    assert!(!modem.port.hardware_flow_control);
    assert_eq!(modem.init.pin, Some(crate::modem::Pin::new("1111")));
    assert_eq!(modem.init.smsc.as_deref(), Some("+4917"));
    assert_eq!(modem.timeouts.send, secs(40));
    assert_eq!(
        modem.timeouts.command,
        crate::modem::Timeouts::default().command
    );
}

#[test]
fn check_paths_looks_at_the_file_system() {
    let dir = std::env::temp_dir().join(format!("simgate-paths-test-{}", std::process::id()));
    for sub in ["in", "out", "sent", "err"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let mut config = Config::default();
    config.spool.inbox = dir.join("in");
    config.spool.outbox = dir.join("out");
    config.spool.sent = Some(dir.join("sent"));
    config.spool.error = Some(dir.join("err"));
    assert!(config.check_paths().is_ok());
    config.spool.error = Some(dir.join("nope"));
    let error = config.check_paths().unwrap_err();
    assert_eq!(error.key(), Some("spool.error"));
    config.spool.error = None;
    config.filters.include_numbers_file = Some(dir.join("numbers"));
    assert!(config.check_paths().is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            (0u64..10_000_000).prop_map(Duration::from_secs),
            (1u64..100_000).prop_map(Duration::from_millis),
        ]
    }

    proptest! {
        #[test]
        fn any_config_survives_to_toml_and_back(
            scan in duration(),
            poll in duration(),
            attempts in proptest::option::of(1u32..1000),
            numbers in proptest::collection::vec("[ -~]{0,12}", 0..4),
            hook in proptest::option::of("[ -~]{1,40}".prop_filter("not blank", |s| !s.trim().is_empty())),
            id in proptest::option::of("\\PC{0,12}"),
        ) {
            let mut config = Config::default();
            config.spool.scan_interval = scan;
            config.receive.poll_interval = poll;
            config.send.max_attempts = attempts;
            config.filters.exclude_numbers = numbers;
            config.hooks.run_on_failure = hook;
            config.hooks.phone_id = id;
            let back = parse_toml(&config.to_toml_with_pin()).unwrap().config;
            prop_assert_eq!(back, config);
        }
    }
}

#[test]
fn pin_file_is_read_and_written_back_but_not_beside_pin() {
    let loaded = toml_ok("[modem]\ndevice = \"/dev/ttyUSB0\"\npin_file = \"/etc/simgate/pin\"\n");
    assert_eq!(
        loaded.config.modem.pin_file,
        Some(PathBuf::from("/etc/simgate/pin"))
    );
    assert_eq!(loaded.config.modem.pin, None, "read by load, not by parse");
    assert!(loaded.notices.is_empty(), "{:?}", loaded.notices);
    let text = loaded.config.to_toml_with_pin();
    assert!(text.contains("pin_file = \"/etc/simgate/pin\""), "{text}");
    assert_eq!(toml_ok(&text).config, loaded.config);

    let both = parse_toml(
        "[modem]\ndevice = \"/dev/ttyUSB0\"\npin = \"1234\"\npin_file = \"/etc/simgate/pin\"\n",
    )
    .unwrap_err();
    assert_eq!(both.key(), Some("modem.pin_file"));
    assert!(!both.to_string().contains("1234"), "{both}");
}

/// `[limits]`: each key a limit, 0 none, a typo warned about, a wrong
/// value refused with its key; `check-config`'s output lists them again.
#[test]
fn rate_limits_are_read_from_the_toml() {
    let loaded = toml_ok(
        "[modem]\ndevice = \"/dev/ttyUSB0\"\n[limits]\nmessages_per_hour = 100\n\
         destination_parts_per_day = 20\nparts_per_minute = 0\nmessages_per_week = 5\n",
    );
    assert_eq!(
        loaded.config.limits.rules,
        [
            Limit {
                scope: LimitScope::All,
                unit: LimitUnit::Messages,
                window: LimitWindow::Hour,
                max: 100
            },
            Limit {
                scope: LimitScope::Destination,
                unit: LimitUnit::Parts,
                window: LimitWindow::Day,
                max: 20
            },
        ]
    );
    assert!(notice(&loaded, "limits.messages_per_week").is_some());
    let error = parse_toml("[modem]\ndevice = \"/dev/ttyUSB0\"\n[limits]\nparts_per_day = -1\n")
        .expect_err("a negative limit");
    assert!(
        matches!(&error, ConfigError::InvalidValue { key, .. } if key == "limits.parts_per_day"),
        "{error}"
    );
    let emitted = emit::to_toml(&loaded.config, false);
    assert!(emitted.contains("messages_per_hour = 100\n"), "{emitted}");
    assert!(
        emitted.contains("destination_parts_per_day = 20\n"),
        "{emitted}"
    );
    let again = toml_ok(&emitted);
    assert_eq!(again.config.limits, loaded.config.limits);
}

/// `[destinations]`: the lists and files, printed again by `check-config`.
#[test]
fn destination_lists_are_read_from_the_toml() {
    let loaded = toml_ok(
        "[modem]\ndevice = \"/dev/ttyUSB0\"\n[destinations]\nallow = [\"+49*\"]\n\
         deny = [\"+4990*\", \"+4917600000666\"]\ndeny_file = \"/etc/simgate/deny\"\n",
    );
    let d = &loaded.config.destinations;
    assert_eq!(d.allow, ["+49*"]);
    assert_eq!(d.deny, ["+4990*", "+4917600000666"]);
    assert_eq!(d.deny_file.as_deref(), Some(Path::new("/etc/simgate/deny")));
    assert_eq!(d.allow_file, None);
    let again = toml_ok(&emit::to_toml(&loaded.config, false));
    assert_eq!(&again.config.destinations, d);
}

#[test]
fn an_http_listen_address_may_be_a_port_alone_meaning_loopback() {
    use super::parse_listen;
    assert_eq!(
        parse_listen("8081"),
        Some("127.0.0.1:8081".parse().unwrap())
    );
    assert_eq!(
        parse_listen("0.0.0.0:80"),
        Some("0.0.0.0:80".parse().unwrap())
    );
    assert_eq!(
        parse_listen("[::1]:8080"),
        Some("[::1]:8080".parse().unwrap())
    );
    assert_eq!(parse_listen("localhost:80"), None);
    assert_eq!(parse_listen("70000"), None);
    let loaded = toml_ok("[modem]\ndevice = \"/dev/ttyUSB0\"\n[http]\nlisten = \"8081\"\n");
    assert_eq!(
        loaded.config.http.listen,
        Some("127.0.0.1:8081".parse().unwrap())
    );
    assert_eq!(loaded.config.http.client_messages_per_hour, 10);
}

#[test]
fn a_hilink_stick_in_simgate_toml() {
    let loaded = toml_ok(
        "[modem]\ntransport = \"hilink\"\ndevice = \"http://192.168.8.1/\"\npassword = \"s3cret\"\n\
         check_interval = \"2s\"\n[spool]\ninbox = \"/i\"\noutbox = \"/o\"\n",
    );
    let web = loaded.config.modem.web.as_ref().expect("a web stick");
    assert_eq!(web.kind, WebKind::Hilink);
    assert_eq!(web.url, "http://192.168.8.1");
    assert_eq!(web.user, "admin");
    assert_eq!(web.password.as_ref().map(Password::reveal), Some("s3cret"));
    assert_eq!(web.check_interval, secs(2));
    // The password stays out of debug output and of check-config.
    assert!(!format!("{:?}", loaded.config).contains("s3cret"));
    let emitted = loaded.config.to_toml();
    assert!(!emitted.contains("s3cret"), "{emitted}");
    assert!(emitted.contains("transport = \"hilink\""), "{emitted}");
    // What check-config prints reads back as the same configuration.
    let again = toml_ok(&loaded.config.to_toml_with_pin());
    assert_eq!(again.config.modem, loaded.config.modem);
}

#[test]
fn a_hilink_stick_needs_an_http_address() {
    for device in ["/dev/ttyUSB0", "https://192.168.8.1", "http://"] {
        let error = parse_toml(&format!(
            "[modem]\ntransport = \"hilink\"\ndevice = \"{device}\"\n[spool]\ninbox = \"/i\"\noutbox = \"/o\"\n"
        ))
        .expect_err(device);
        assert!(error.to_string().contains("http://192.168.8.1"), "{error}");
    }
    let error = parse_toml(
        "[modem]\ntransport = \"zigbee\"\ndevice = \"/dev/ttyUSB0\"\n[spool]\ninbox = \"/i\"\noutbox = \"/o\"\n",
    )
    .expect_err("unknown transport");
    assert!(error.to_string().contains("hilink"), "{error}");
}

#[test]
fn a_gammu_smsdrc_with_connection_hilink_is_a_noted_extension() {
    let loaded = gammu(
        "[gammu]\nconnection = hilink\ndevice = http://192.168.8.1\n[smsd]\nservice = files\n\
         inboxpath = /var/spool/gammu/inbox/\noutboxpath = /var/spool/gammu/outbox/\n",
    );
    let web = loaded.config.modem.web.as_ref().expect("a web stick");
    assert_eq!(web.url, "http://192.168.8.1");
    let note = notice(&loaded, "[gammu] connection").expect("a notice");
    assert!(
        note.message.contains("simgate extension"),
        "{}",
        note.message
    );
    let error = gammu_err(
        "[gammu]\nconnection = hilink\ndevice = /dev/ttyUSB0\n[smsd]\nservice = files\n\
         inboxpath = /i/\noutboxpath = /o/\n",
    );
    assert!(error.to_string().contains("http://"), "{error}");
}

#[test]
fn a_zte_stick_in_simgate_toml_and_in_a_gammu_smsdrc() {
    let loaded = toml_ok(
        "[modem]\ntransport = \"zte\"\ndevice = \"http://192.168.0.1\"\npassword = \"s3cret\"\n\
         [spool]\ninbox = \"/i\"\noutbox = \"/o\"\n",
    );
    let web = loaded.config.modem.web.as_ref().expect("a web stick");
    assert_eq!(web.kind, WebKind::Zte);
    assert_eq!(web.url, "http://192.168.0.1");
    assert_eq!(web.password.as_ref().map(Password::reveal), Some("s3cret"));
    let emitted = loaded.config.to_toml();
    assert!(emitted.contains("transport = \"zte\""), "{emitted}");
    assert!(!emitted.contains("s3cret"), "{emitted}");
    let again = toml_ok(&loaded.config.to_toml_with_pin());
    assert_eq!(again.config.modem, loaded.config.modem);

    let loaded = gammu(
        "[gammu]\nconnection = zte\ndevice = http://192.168.0.1\n[smsd]\nservice = files\n\
         inboxpath = /var/spool/gammu/inbox/\noutboxpath = /var/spool/gammu/outbox/\n",
    );
    let web = loaded.config.modem.web.as_ref().expect("a web stick");
    assert_eq!(
        (web.kind, web.url.as_str()),
        (WebKind::Zte, "http://192.168.0.1")
    );
    let note = notice(&loaded, "[gammu] connection").expect("a notice");
    assert!(
        note.message.contains("simgate extension") && note.message.contains("ZTE"),
        "{}",
        note.message
    );
    let error = gammu_err(
        "[gammu]\nconnection = zte\ndevice = /dev/ttyUSB0\n[smsd]\nservice = files\n\
         inboxpath = /i/\noutboxpath = /o/\n",
    );
    assert!(error.to_string().contains("http://192.168.0.1"), "{error}");
}

#[test]
fn webhooks_need_http_urls_a_secret_and_known_events() {
    let base = "[modem]\ndevice = \"/dev/ttyUSB0\"\n";
    let loaded = toml_ok(&format!(
        "{base}[webhooks]\nurls = [\"http://127.0.0.1:9/hook\"]\nsecret = \"k\"\n\
         events = [\"sent\", \"failed\"]\nretry_delay = \"1s\"\n"
    ));
    let w = &loaded.config.webhooks;
    assert_eq!(w.urls, ["http://127.0.0.1:9/hook"]);
    assert_eq!(w.events, ["sent", "failed"]);
    assert!(w.wants("sent") && !w.wants("received"));
    assert_eq!(w.retry_delay, secs(1));
    assert_eq!(w.max_retry_time, secs(86_400));
    let text = loaded.config.to_toml();
    assert!(
        text.contains("[webhooks]\nurls = [\"http://127.0.0.1:9/hook\"]\n"),
        "{text}"
    );
    assert!(
        !text.contains("secret = \"k\""),
        "the secret is not shown: {text}"
    );
    // Defaults: off, every event.
    let off = toml_ok(base);
    assert!(!off.config.webhooks.wants("sent"));
    assert_eq!(
        off.config.webhooks.events.len(),
        crate::webhook::EVENTS.len()
    );

    let refused = |extra: &str| parse_toml(&format!("{base}[webhooks]\n{extra}")).unwrap_err();
    let https = refused("urls = [\"https://example.org/\"]\nsecret = \"k\"\n").to_string();
    assert!(https.contains("https is not supported"), "{https}");
    let unsigned = refused("urls = [\"http://example.org/\"]\n").to_string();
    assert!(unsigned.contains("webhooks.secret"), "{unsigned}");
    let unknown =
        refused("urls = [\"http://e/\"]\nsecret = \"k\"\nevents = [\"sent\", \"bogus\"]\n")
            .to_string();
    assert!(
        unknown.contains("bogus") && unknown.contains("received"),
        "{unknown}"
    );

    let dir = std::env::temp_dir().join(format!("simgate-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret");
    std::fs::write(&file, "from a file\n").unwrap();
    let loaded = toml_ok(&format!(
        "{base}[webhooks]\nurls = [\"http://e/\"]\nsecret_file = \"{}\"\n",
        file.display()
    ));
    assert_eq!(
        loaded.config.webhooks.secret.as_deref(),
        Some("from a file")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two phones on the default `webhook_listen` (0.0.0.0:8555) passed
/// `check-config`; at run time the second could not listen, stayed
/// "connecting" for ever, and `status` said nothing. Two listeners clash
/// when their ports are equal and their addresses equal or either is the
/// wildcard; the HTTP API's `listen` counts too.
#[test]
fn two_listeners_on_one_port_are_refused() {
    let phone = |name: &str, listen: Option<&str>| {
        format!(
            "[[modems]]\nname = \"{name}\"\ntransport = \"android\"\n\
             device = \"http://192.168.1.2{}:8080\"\npassword = \"pa55\"\nsigning_key = \"k3y\"\n{}\n",
            name.len(),
            listen.map(|l| format!("webhook_listen = \"{l}\"")).unwrap_or_default()
        )
    };
    let base = "[modem]\ndevice = \"/dev/ttyUSB0\"\n";
    let clashes = [
        (phone("p1", None), phone("p22", None), ""),
        (
            phone("p1", Some("127.0.0.1:9000")),
            phone("p22", Some("0.0.0.0:9000")),
            "",
        ),
        (
            phone("p1", Some("127.0.0.1:8081")),
            String::new(),
            "[http]\nlisten = \"127.0.0.1:8081\"\n",
        ),
    ];
    for (first, second, http) in &clashes {
        let text = format!("{base}{first}{second}{http}");
        match parse_toml(&text) {
            Err(ConfigError::InvalidValue { key, allowed, .. }) => {
                assert!(key.ends_with("webhook_listen"), "{key}: {text}");
                assert!(allowed.contains("no other"), "{allowed}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    let apart = [
        (
            phone("p1", Some("127.0.0.1:9000")),
            phone("p22", Some("127.0.0.1:9001")),
        ),
        (
            phone("p1", Some("127.0.0.1:9000")),
            phone("p22", Some("127.0.0.2:9000")),
        ),
    ];
    for (first, second) in &apart {
        toml_ok(&format!(
            "{base}{first}{second}[http]\nlisten = \"127.0.0.1:8081\"\n"
        ));
    }
}

/// A stick's password in its address (`http://admin:SECRET@192.168.8.1`,
/// the form a gammu-smsdrc gives a phone) was kept in the address: printed
/// by `check-config` and `import-gammu`, and never used for the login, so
/// the stick stayed "connecting". In a gammu-smsdrc, which has no other
/// place for it, it is now the stick's user and password; in simgate's
/// TOML, which has `password` and `password_file`, it is refused. Either
/// way the password is never repeated.
#[test]
fn a_password_in_a_sticks_address_is_used_or_refused_never_shown() {
    for (connection, user) in [("hilink", "admin"), ("zte", "admin")] {
        let loaded = gammu(&format!(
            "[gammu]\ndevice = http://{user}:HLsecret@192.168.8.1/\nconnection = {connection}\n\
             [smsd]\nservice = files\n"
        ));
        let web = loaded.config.modem.web.as_ref().expect("a stick");
        assert_eq!(web.url, "http://192.168.8.1", "{connection}");
        assert_eq!(
            web.password.as_ref().map(Password::reveal),
            Some("HLsecret")
        );
        assert_eq!(
            loaded.config.modem.device.display().to_string(),
            "http://192.168.8.1"
        );
        assert!(
            !loaded.config.to_toml().contains("HLsecret"),
            "{connection}"
        );
        assert!(!format!("{:?}", loaded.notices).contains("HLsecret"));
    }
    for transport in ["hilink", "zte", "android"] {
        let text = format!(
            "[modem]\ntransport = \"{transport}\"\ndevice = \"http://admin:HLsecret@192.168.8.1\"\n\
             signing_key = \"k3y\"\npassword = \"p\"\n"
        );
        match parse_toml(&text) {
            Err(error) => {
                let message = error.to_string();
                assert!(message.contains("modem.device"), "{message}");
                assert!(message.contains("password"), "{message}");
                assert!(!message.contains("HLsecret"), "{message}");
            }
            Ok(loaded) => panic!("{transport}: accepted: {}", loaded.config.to_toml()),
        }
    }
}

/// The same with the phone the only modem (`[modem]`): its
/// `webhook_listen` on the HTTP API's port was let through, and `simgate
/// run` then lost one of the two at random when binding.
#[test]
fn a_lone_phone_listening_on_the_http_api_s_port_is_refused() {
    let text = "[modem]\ntransport = \"android\"\ndevice = \"http://192.168.1.20:8080\"\n\
                password = \"pa55\"\nsigning_key = \"k3y\"\nwebhook_listen = \"127.0.0.1:8081\"\n\
                [http]\nlisten = \"127.0.0.1:8081\"\n";
    match parse_toml(text) {
        Err(ConfigError::InvalidValue { key, allowed, .. }) => {
            assert_eq!(key, "modem.webhook_listen");
            assert!(allowed.contains("http.listen has that port"), "{allowed}");
        }
        other => panic!("accepted: {other:?}"),
    }
}

#[test]
fn an_android_phone_in_simgate_toml() {
    let loaded = toml_ok(
        "[modem]\ntransport = \"android\"\ndevice = \"http://192.168.1.20:8080\"\n\
         password = \"pa55\"\nsigning_key = \"k3y\"\nwebhook_listen = \"192.168.1.10:9000\"\n\
         [spool]\ninbox = \"/i\"\noutbox = \"/o\"\n",
    );
    let web = loaded.config.modem.web.as_ref().expect("a phone");
    assert_eq!(web.kind, WebKind::Android);
    assert_eq!(web.url, "http://192.168.1.20:8080");
    assert_eq!(web.user, "sms");
    let android = web.android.as_ref().expect("android settings");
    assert_eq!(
        android.signing_key.as_ref().map(Password::reveal),
        Some("k3y")
    );
    assert_eq!(android.webhook_listen.to_string(), "192.168.1.10:9000");
    let emitted = loaded.config.to_toml();
    assert!(
        !emitted.contains("pa55") && !emitted.contains("k3y"),
        "{emitted}"
    );
    assert!(emitted.contains("transport = \"android\""), "{emitted}");
    let again = toml_ok(&loaded.config.to_toml_with_pin());
    assert_eq!(again.config.modem, loaded.config.modem);
}

#[test]
fn an_android_phone_needs_a_signing_key_and_a_good_listen_address() {
    let base = "[modem]\ntransport = \"android\"\ndevice = \"http://192.168.1.20:8080\"\n";
    let spool = "[spool]\ninbox = \"/i\"\noutbox = \"/o\"\n";
    let error = parse_toml(&format!("{base}{spool}")).expect_err("no key");
    assert!(error.to_string().contains("signing_key"), "{error}");
    let error = parse_toml(&format!(
        "{base}signing_key = \"k\"\nwebhook_listen = \"somewhere\"\n{spool}"
    ))
    .expect_err("bad listen address");
    assert!(error.to_string().contains("webhook_listen"), "{error}");
}

#[test]
fn a_gammu_smsdrc_with_connection_android_is_a_noted_extension_and_redacted() {
    let loaded = gammu(
        "[gammu]\nconnection = android\ndevice = http://sms:pa55@192.168.1.20:8080/?signing_key=k3y\n\
         [smsd]\nservice = files\ninboxpath = /var/spool/gammu/inbox/\n\
         outboxpath = /var/spool/gammu/outbox/\n",
    );
    let web = loaded.config.modem.web.as_ref().expect("a phone");
    assert_eq!(web.kind, WebKind::Android);
    assert_eq!(web.url, "http://192.168.1.20:8080");
    assert_eq!(web.user, "sms");
    assert_eq!(web.password.as_ref().map(Password::reveal), Some("pa55"));
    let android = web.android.as_ref().expect("android settings");
    assert_eq!(
        android.signing_key.as_ref().map(Password::reveal),
        Some("k3y")
    );
    let note = notice(&loaded, "[gammu] connection").expect("a notice");
    assert!(
        note.message.contains("simgate extension"),
        "{}",
        note.message
    );
    let shown = format!("{:?}\n{}", loaded.config, loaded.config.to_toml());
    assert!(!shown.contains("pa55") && !shown.contains("k3y"), "{shown}");
    let error = gammu_err(
        "[gammu]\nconnection = android\ndevice = http://sms:pa55@192.168.1.20:8080/\n\
         [smsd]\nservice = files\ninboxpath = /i/\noutboxpath = /o/\n",
    );
    assert!(!error.to_string().contains("pa55"), "{error}");
    assert!(error.to_string().contains("signing_key"), "{error}");
}

#[test]
fn a_modemmanager_modem_in_simgate_toml() {
    let loaded = toml_ok(
        "[modem]\ntransport = \"modemmanager\"\ndevice = \"490154203237518\"\n\
         bus = \"unix:path=/run/test-bus\"\n[spool]\ninbox = \"/i\"\noutbox = \"/o\"\n",
    );
    let mm = loaded
        .config
        .modem
        .modemmanager
        .as_ref()
        .expect("ModemManager");
    assert_eq!(mm.modem, "490154203237518");
    assert_eq!(mm.bus.as_deref(), Some("unix:path=/run/test-bus"));
    assert!(loaded.config.modem.web.is_none());
    let emitted = loaded.config.to_toml();
    assert!(
        emitted.contains("transport = \"modemmanager\""),
        "{emitted}"
    );
    let again = toml_ok(&loaded.config.to_toml_with_pin());
    assert_eq!(again.config.modem, loaded.config.modem);
    // No device: the only modem ModemManager has; no bus: the system bus.
    let any = toml_ok(
        "[modem]\ntransport = \"modemmanager\"\n[spool]\ninbox = \"/i\"\noutbox = \"/o\"\n",
    );
    let mm = any
        .config
        .modem
        .modemmanager
        .as_ref()
        .expect("ModemManager");
    assert_eq!((mm.modem.as_str(), mm.bus.as_deref()), ("", None));
    let again = toml_ok(&any.config.to_toml_with_pin());
    assert_eq!(again.config.modem, any.config.modem);
}

#[test]
fn a_gammu_smsdrc_with_connection_modemmanager_is_a_noted_extension() {
    let loaded = gammu(
        "[gammu]\nconnection = modemmanager\ndevice = 2\n[smsd]\nservice = files\n\
         inboxpath = /var/spool/gammu/inbox/\noutboxpath = /var/spool/gammu/outbox/\n",
    );
    let mm = loaded
        .config
        .modem
        .modemmanager
        .as_ref()
        .expect("ModemManager");
    assert_eq!(mm.modem, "2");
    let note = notice(&loaded, "[gammu] connection").expect("a notice");
    assert!(
        note.message.contains("simgate extension"),
        "{}",
        note.message
    );
    let only = gammu(
        "[gammu]\nconnection = modemmanager\n[smsd]\nservice = files\n\
         inboxpath = /i/\noutboxpath = /o/\n",
    );
    let mm = only
        .config
        .modem
        .modemmanager
        .as_ref()
        .expect("ModemManager");
    assert_eq!(mm.modem, "", "no device: the only modem");
    assert!(
        notice(&only, "[gammu] device").is_none(),
        "no talk of /dev/ttyUSB0 for ModemManager"
    );
}

#[test]
fn several_modems_are_read_named_routed_and_written_back() {
    let text = "[modem]\ndevice = \"/dev/ttyUSB0\"\nprefixes = [\"+49\"]\n\n\
                [[modems]]\nname = \"austria\"\ndevice = \"/dev/ttyUSB1\"\nprefixes = [\"+43\"]\n\
                pin = \"1234\"\nmessages_per_hour = 30\nparts_per_day = 200\n\n[[modems]]\ntransport = \"hilink\"\ndevice = \"http://192.168.8.1\"\n\n\
                [hooks]\nphone_id = \"gw\"\n";
    let loaded = toml_ok(text);
    let config = &loaded.config;
    assert!(
        loaded.notices.iter().all(|n| n.severity == Severity::Info),
        "{:?}",
        loaded.notices
    );
    assert_eq!(config.more_modems.len(), 2);
    assert_eq!(config.modem_names(), ["gw", "austria", "modem3"]);
    assert_eq!(config.modem.prefixes, ["+49"]);
    assert_eq!(config.more_modems[0].prefixes, ["+43"]);
    assert!(config.more_modems[0].pin.is_some());
    let keys: Vec<(&str, u32)> = config.more_modems[0]
        .limits
        .iter()
        .map(|l| (l.key(), l.max))
        .collect();
    assert_eq!(keys, [("messages_per_hour", 30), ("parts_per_day", 200)]);
    assert!(config.modem.limits.is_empty());
    assert!(config.more_modems[1].web.is_some());
    // Each modem's own view: its settings as [modem], its name as PHONE_ID.
    let second = config.for_modem(1);
    assert_eq!(second.modem.device, Path::new("/dev/ttyUSB1"));
    assert_eq!(second.hooks.phone_id.as_deref(), Some("austria"));
    assert!(second.more_modems.is_empty());
    assert_eq!(config.for_modem(0).hooks.phone_id.as_deref(), Some("gw"));
    // check-config's TOML reads back the same.
    let back = toml_ok(&config.to_toml_with_pin());
    assert_eq!(back.config, *config);
    // A name or a device twice is refused, naming it.
    for twice in [
        "[modem]\ndevice = \"/dev/ttyUSB0\"\nname = \"x\"\n[[modems]]\ndevice = \"/dev/ttyUSB1\"\nname = \"x\"\n",
        "[modem]\ndevice = \"/dev/ttyUSB0\"\n[[modems]]\ndevice = \"/dev/ttyUSB0\"\n",
        // The first modem, unnamed, takes [hooks] phone_id as its name,
        // which the second, unnamed, has by default.
        "[modem]\ndevice = \"/dev/ttyUSB0\"\n[[modems]]\ndevice = \"/dev/ttyUSB1\"\n\
         [hooks]\nphone_id = \"modem2\"\n",
    ] {
        let error = parse_toml(twice).expect_err("refused").to_string();
        assert!(error.contains("no other modem"), "{error}");
    }
    let error = parse_toml("[modem]\ndevice = \"/dev/ttyUSB0\"\nmodems = 1\n").map(|_| ());
    assert!(
        error.is_ok(),
        "a key `modems` inside [modem] is only unknown"
    );
    let error = parse_toml("modems = 1\n[modem]\ndevice = \"/dev/ttyUSB0\"\n")
        .expect_err("refused")
        .to_string();
    assert!(error.contains("[[modems]]"), "{error}");
}

/// The keys only an AT modem reads (the serial port's, the SIM PIN, the
/// modem's SMSC), set for a device that is not one: each is warned about,
/// naming the transport, instead of being accepted and ignored. An AT
/// modem beside it keeps its own without a word, and the effective
/// configuration of such a device does not print the serial port's.
#[test]
fn at_modem_keys_on_a_device_that_is_not_an_at_modem_are_warned_about() {
    let spool = "[spool]\ninbox = \"/i\"\noutbox = \"/o\"\n";
    for (transport, device, extra) in [
        (
            "android",
            "http://192.168.1.20:8080",
            "signing_key = \"k\"\n",
        ),
        ("hilink", "http://192.168.8.1", ""),
        ("zte", "http://192.168.0.1", ""),
        ("modemmanager", "any", ""),
    ] {
        let loaded = toml_ok(&format!(
            "[modem]\ntransport = \"{transport}\"\ndevice = \"{device}\"\n{extra}\
             baud = 9600\nhardware_flow_control = true\npin_file = \"/etc/simgate/pin\"\n\
             smsc = \"+491720000000\"\n{spool}\
             [[modems]]\ndevice = \"/dev/ttyUSB0\"\nbaud = 9600\nsmsc = \"+491720000000\"\n"
        ));
        for key in [
            "modem.baud",
            "modem.hardware_flow_control",
            "modem.pin_file",
            "modem.smsc",
        ] {
            let note = notice(&loaded, key).unwrap_or_else(|| panic!("{transport}: no {key}"));
            assert_eq!(note.severity, Severity::Warning, "{transport}: {key}");
            assert!(
                note.message
                    .contains(&format!("transport = \"{transport}\"")),
                "{transport}: {key}: {}",
                note.message
            );
        }
        assert!(notice(&loaded, "modems.baud").is_none(), "{transport}");
        assert!(notice(&loaded, "modems.smsc").is_none(), "{transport}");
        let emitted = loaded.config.to_toml();
        let modem = emitted.split("[[modems]]").next().unwrap_or_default();
        assert!(
            !modem.contains("baud") && !modem.contains("hardware_flow_control"),
            "{transport}: {modem}"
        );
        // Its own keys, and nothing of the serial port's, once emitted.
        let again = toml_ok(&loaded.config.to_toml_with_pin());
        assert!(notice(&again, "modem.baud").is_none(), "{transport}");
    }

    let loaded = gammu(
        "[gammu]\nconnection = hilink\ndevice = http://192.168.8.1\n[smsd]\nservice = files\n\
         PIN = 1234\nSMSC = +491720000000\n\
         inboxpath = /var/spool/gammu/inbox/\noutboxpath = /var/spool/gammu/outbox/\n",
    );
    for key in ["[smsd] PIN", "[smsd] SMSC"] {
        let notes: Vec<&Notice> = loaded.notices.iter().filter(|n| n.key == key).collect();
        assert!(
            notes
                .iter()
                .any(|n| n.severity == Severity::Warning
                    && n.message.contains("connection = hilink")),
            "{key}: {notes:?}"
        );
        assert!(
            !notes
                .iter()
                .any(|n| n.message.contains("used for every message")),
            "{key}: {notes:?}"
        );
    }
}

/// Every modem's secret files are read, not only the first's: a second
/// modem's `pin_file`, `password_file` and `signing_key_file` were
/// accepted and never read, so its SIM got no PIN, its stick or phone no
/// password, and its webhooks were checked against an empty key (anyone
/// could sign one). A missing file is an error for any modem.
#[test]
fn every_modems_secret_files_are_read() {
    let dir = std::env::temp_dir().join(format!("simgate-config-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        path.display().to_string()
    };
    let pin = write("pin", "4321\n");
    let stick_password = write("stick", "stick-secret\n");
    let phone_password = write("phone", "phone-secret\n");
    let key = write("key", "signing-secret\n");
    let config = dir.join("simgate.toml");
    let text = format!(
        "[modem]\ndevice = \"/dev/ttyUSB0\"\n\n\
         [[modems]]\nname = \"second\"\ndevice = \"/dev/ttyUSB2\"\npin_file = \"{pin}\"\n\n\
         [[modems]]\nname = \"stick\"\ntransport = \"hilink\"\ndevice = \"http://192.168.8.1\"\n\
         password_file = \"{stick_password}\"\n\n\
         [[modems]]\nname = \"phone\"\ntransport = \"android\"\ndevice = \"http://192.168.1.20:8080\"\n\
         user = \"sms\"\npassword_file = \"{phone_password}\"\nsigning_key_file = \"{key}\"\n\
         webhook_listen = \"127.0.0.1:18555\"\n"
    );
    std::fs::write(&config, &text).unwrap();
    let loaded = load(&config).unwrap();
    let modems = &loaded.config.more_modems;
    assert_eq!(
        modems[0].pin.as_ref().map(|p| p.reveal().to_owned()),
        Some("4321".to_owned())
    );
    let stick = modems[1].web.as_ref().unwrap();
    assert_eq!(stick.password.as_ref().unwrap().reveal(), "stick-secret");
    let phone = modems[2].web.as_ref().unwrap();
    assert_eq!(phone.password.as_ref().unwrap().reveal(), "phone-secret");
    let android = phone.android.as_ref().unwrap();
    assert_eq!(
        android.signing_key.as_ref().unwrap().reveal(),
        "signing-secret"
    );

    // A missing file is named with its key, not as if the configuration
    // itself could not be read.
    for (missing, named) in [
        (&pin, "modems.pin_file"),
        (&stick_password, "modems.password_file"),
        (&phone_password, "modems.password_file"),
        (&key, "modems.signing_key_file"),
    ] {
        std::fs::write(
            &config,
            text.replace(missing.as_str(), "/nonexistent/secret"),
        )
        .unwrap();
        match load(&config).unwrap_err() {
            ConfigError::Path { key, path, problem } => {
                assert_eq!(key, named, "{missing}");
                assert_eq!(path, Path::new("/nonexistent/secret"));
                assert!(problem.contains("No such file"), "{missing}: {problem}");
            }
            other => panic!("{missing}: {other:?}"),
        }
    }
    // The same for the first modem's.
    for (phone_key, named) in [
        ("password_file", "modem.password_file"),
        ("signing_key_file", "modem.signing_key_file"),
    ] {
        let first = format!(
            "[modem]\ntransport = \"android\"\ndevice = \"http://192.168.1.20:8080\"\n\
             user = \"sms\"\npassword = \"p\"\nsigning_key = \"k\"\n\
             webhook_listen = \"127.0.0.1:18555\"\n{phone_key} = \"/nonexistent/secret\"\n"
        )
        .replace(
            if phone_key == "password_file" {
                "password = \"p\"\n"
            } else {
                "signing_key = \"k\"\n"
            },
            "",
        );
        std::fs::write(&config, first).unwrap();
        let error = load(&config).unwrap_err();
        assert_eq!(error.key(), Some(named), "{error}");
        let shown = error.to_string();
        assert!(
            shown.contains("/nonexistent/secret") && !shown.contains("configuration"),
            "{shown}"
        );
    }
    // An empty key file would let anyone sign a webhook.
    write("key", "\n");
    std::fs::write(&config, &text).unwrap();
    let error = load(&config).unwrap_err().to_string();
    assert!(error.contains("empty"), "{error}");
    // So would one written into the configuration.
    let inline = text.replace(
        &format!("signing_key_file = \"{key}\""),
        "signing_key = \" \"",
    );
    std::fs::write(&config, inline).unwrap();
    let error = load(&config).unwrap_err().to_string();
    assert!(error.contains("empty"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A duration far beyond any use (`scan_interval = 9223372036854775807`,
/// gammu's `CommTimeout = 18446744073709551615`) passed `check-config`,
/// then `simgate run` panicked adding it to the clock. Every duration key
/// of both formats is refused above a year, naming the key, the value and
/// the range; a year itself is accepted.
#[test]
fn durations_longer_than_a_year_are_refused() {
    let huge = "9223372036854775807";
    let toml_keys = [
        ("modem", "command_timeout"),
        ("modem", "send_timeout"),
        ("modem", "status_interval"),
        ("modem", "reset_interval"),
        ("modem", "hard_reset_interval"),
        ("modem", "check_interval"),
        ("spool", "scan_interval"),
        ("spool", "settle_time"),
        ("send", "max_age"),
        ("send", "retry_delay"),
        ("send", "retry_delay_max"),
        ("receive", "poll_interval"),
        ("receive", "multipart_timeout"),
        ("hooks", "timeout"),
        ("http", "wait_seconds"),
        ("webhooks", "max_retry_time"),
        ("webhooks", "retry_delay"),
        ("webhooks", "retry_delay_max"),
        ("webhooks", "timeout"),
    ];
    let text = |section: &str, key: &str, value: &str| {
        let stick = if key == "check_interval" {
            "transport = \"hilink\"\ndevice = \"http://192.168.8.1\"\n"
        } else {
            "device = \"/dev/ttyUSB0\"\n"
        };
        if section == "modem" {
            format!("[modem]\n{stick}{key} = {value}\n")
        } else {
            format!("[modem]\n{stick}[{section}]\n{key} = {value}\n")
        }
    };
    for (section, key) in toml_keys {
        for value in [huge.to_owned(), "\"366d\"".to_owned()] {
            match parse_toml(&text(section, key, &value)) {
                Err(ConfigError::InvalidValue {
                    key: named,
                    value: shown,
                    allowed,
                }) => {
                    assert_eq!(named, format!("{section}.{key}"));
                    assert_eq!(shown, value.trim_matches('"'));
                    assert!(allowed.contains("365d"), "{key}: {allowed}");
                }
                other => panic!("{section}.{key} = {value}: {other:?}"),
            }
        }
        // A year is the most, and allowed (retry_delay_max must not be
        // below retry_delay: both a year).
        let year = text(section, key, "\"365d\"");
        let year = if key == "retry_delay" && (section == "send" || section == "webhooks") {
            format!("{year}retry_delay_max = \"365d\"\n")
        } else {
            year
        };
        parse_toml(&year).unwrap_or_else(|e| panic!("{section}.{key} = 365d: {e}"));
    }

    let gammu_keys = [
        "CommTimeout",
        "SendTimeout",
        "StatusFrequency",
        "ResetFrequency",
        "HardResetFrequency",
        "ReceiveFrequency",
        "MultipartTimeout",
        "RetryTimeout",
    ];
    let base = "[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nService = files\n";
    for key in gammu_keys {
        for value in ["18446744073709551615", "31536001"] {
            match parse_gammu(&format!("{base}{key} = {value}\n"), Path::new(BASE)) {
                Err(ConfigError::InvalidValue {
                    key: named,
                    value: shown,
                    allowed,
                }) => {
                    assert_eq!(named, format!("[smsd] {key}"));
                    assert_eq!(shown, value);
                    assert!(allowed.contains("31536000"), "{key}: {allowed}");
                }
                other => panic!("{key} = {value}: {other:?}"),
            }
        }
        gammu(&format!("{base}{key} = 31536000\n"));
    }
}

/// `[http] token_file` naming a file that does not exist passed
/// `check-config`, and `simgate run` refused to start only later, after
/// it had opened the modem. The token is read at load, as every other
/// secret file is: a missing file, or one that holds no single token, is
/// an error naming the key and the file.
#[test]
fn the_http_token_file_is_read_at_load() {
    let dir = std::env::temp_dir().join(format!("simgate-config-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("simgate.toml");
    let write_config = |token_file: &Path| {
        let text = format!(
            "[modem]\ndevice = \"/dev/ttyUSB0\"\n\n[http]\nlisten = \"127.0.0.1:8080\"\n\
             token_file = \"{}\"\n",
            token_file.display()
        );
        std::fs::write(&config, text).unwrap();
    };
    let missing = dir.join("no-such-token");
    write_config(&missing);
    let error = load(&config).expect_err("a missing token file");
    assert_eq!(error.key(), Some("http.token_file"), "{error}");
    assert!(
        error.to_string().contains(&missing.display().to_string()),
        "{error}"
    );

    let file = dir.join("token");
    write_config(&file);
    for bad in ["", "\n", "two words\n"] {
        std::fs::write(&file, bad).unwrap();
        let error = load(&config).expect_err("no single token");
        assert_eq!(error.key(), Some("http.token_file"), "{bad:?}: {error}");
        assert!(error.to_string().contains("without spaces"), "{error}");
    }
    std::fs::write(&file, " s3cret \n").unwrap();
    let loaded = load(&config).unwrap();
    assert_eq!(loaded.config.http.token.as_deref(), Some("s3cret"));
    assert!(
        !loaded.config.to_toml().contains("s3cret"),
        "the token is not shown"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `reset_interval = "1ms"` was accepted and made the daemon initialise
/// the modem again about 400 times a second, so nothing was sent; so were
/// a hard reset (`AT+CFUN=1,1`) every few seconds, a status read or a web
/// stick's check every millisecond. Zero still means never for the
/// resets and the status reads; a value above zero has a floor, refused
/// with the key, the value and the floor. gammu's keys count whole
/// seconds.
#[test]
fn resets_and_polls_have_a_floor() {
    let at = "device = \"/dev/ttyUSB0\"\n";
    let stick = "transport = \"hilink\"\ndevice = \"http://192.168.8.1\"\n";
    for (key, device, too_short, shortest) in [
        ("reset_interval", at, "59s", "1m"),
        ("reset_interval", at, "1ms", "1m"),
        ("hard_reset_interval", at, "4m59s", "5m"),
        ("status_interval", at, "99ms", "100ms"),
        ("check_interval", stick, "1ms", "100ms"),
    ] {
        let text = |value: &str| format!("[modem]\n{device}{key} = \"{value}\"\n");
        match parse_toml(&text(too_short)) {
            Err(ConfigError::InvalidValue {
                key: named,
                value,
                allowed,
            }) => {
                assert_eq!(named, format!("modem.{key}"));
                assert_eq!(value, too_short);
                assert!(allowed.contains(shortest), "{key}: {allowed}");
            }
            other => panic!("{key} = {too_short}: {other:?}"),
        }
        toml_ok(&text(shortest));
        if key != "check_interval" {
            let never = toml_ok(&text("0s"));
            let modem = &never.config.modem;
            let value = match key {
                "reset_interval" => modem.reset_interval,
                "hard_reset_interval" => modem.hard_reset_interval,
                _ => modem.status_interval,
            };
            assert_eq!(value, Duration::ZERO, "{key} = 0s: never");
        }
    }
    let base = "[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nService = files\n";
    for (key, too_short, shortest) in [
        ("ResetFrequency", "1", "60"),
        ("ResetFrequency", "59", "60"),
        ("HardResetFrequency", "299", "300"),
    ] {
        match parse_gammu(&format!("{base}{key} = {too_short}\n"), Path::new(BASE)) {
            Err(ConfigError::InvalidValue {
                key: named,
                value,
                allowed,
            }) => {
                assert_eq!(named, format!("[smsd] {key}"));
                assert_eq!(value, too_short);
                assert!(allowed.contains(shortest), "{key}: {allowed}");
            }
            other => panic!("{key} = {too_short}: {other:?}"),
        }
        gammu(&format!("{base}{key} = {shortest}\n"));
        let never = gammu(&format!("{base}{key} = 0\n")).config.modem;
        assert_eq!(
            (never.reset_interval, never.hard_reset_interval),
            (Duration::ZERO, Duration::ZERO)
        );
    }
}

/// A fresh directory for a test of paths on disk.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("simgate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// "sent must not be the outbox" compared the paths' spelling: with
/// `sent` naming the outbox by another path (absolute for a relative
/// outbox, or through a symlink) `check-config` passed, and every sent
/// file vanished without a word. The directories are compared by
/// identity at load: simgate's TOML refuses `sent` or `error` that is the
/// outbox; in a gammu file, where `SentSMSPath` = `OutboxPath` means
/// "delete", as in gammu, it means that under any spelling.
#[test]
fn sent_and_error_are_not_the_outbox_under_another_name() {
    let dir = scratch("config-outbox-identity");
    for name in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir(dir.join(name)).unwrap();
    }
    let outbox = dir.join("outbox");
    let link = dir.join("link-to-outbox");
    std::os::unix::fs::symlink(&outbox, &link).unwrap();
    let dotted = dir.join("sent/../outbox");
    let config = dir.join("simgate.toml");
    for key in ["sent", "error"] {
        for other in [&link, &dotted] {
            let (sent, error) = match key {
                "sent" => (other.clone(), dir.join("error")),
                _ => (dir.join("sent"), other.clone()),
            };
            let text = format!(
                "[modem]\ndevice = \"/dev/ttyUSB0\"\n[spool]\ninbox = \"{0}/inbox\"\n\
                 outbox = \"{0}/outbox\"\nsent = \"{1}\"\nerror = \"{2}\"\n",
                dir.display(),
                sent.display(),
                error.display()
            );
            std::fs::write(&config, text).unwrap();
            match load(&config) {
                Err(ConfigError::InvalidValue {
                    key: named,
                    value,
                    allowed,
                }) => {
                    assert_eq!(named, format!("spool.{key}"));
                    assert_eq!(value, other.display().to_string());
                    assert!(allowed.contains("spool.outbox"), "{allowed}");
                    assert!(!allowed.contains("  "), "one line: {allowed}");
                }
                result => panic!("{key} = {}: {result:?}", other.display()),
            }
        }
    }
    // Elsewhere, and sent = error, are fine.
    let text = format!(
        "[modem]\ndevice = \"/dev/ttyUSB0\"\n[spool]\ninbox = \"{0}/inbox\"\n\
         outbox = \"{0}/outbox\"\nsent = \"{0}/sent\"\nerror = \"{0}/sent\"\n",
        dir.display()
    );
    std::fs::write(&config, text).unwrap();
    load(&config).unwrap();

    // gammu: the outbox under another name means delete, as gammu does.
    let gammu_text = format!(
        "[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nService = files\nInboxPath = {0}/inbox/\n\
         OutboxPath = {0}/outbox/\nSentSMSPath = {1}/\nErrorSMSPath = {0}/error/\n",
        dir.display(),
        link.display()
    );
    std::fs::write(&config, &gammu_text).unwrap();
    let loaded = load(&config).unwrap();
    assert_eq!(loaded.config.spool.sent, None, "sent files are deleted");
    assert_eq!(loaded.config.spool.error, Some(dir.join("error")));
    let said = notice(&loaded, "[smsd] SentSMSPath").expect("a notice");
    assert!(said.message.contains("outbox"), "{said:?}");
    let error_too = gammu_text.replace(
        &format!("ErrorSMSPath = {}/error/", dir.display()),
        &format!("ErrorSMSPath = {}/", link.display()),
    );
    std::fs::write(&config, error_too).unwrap();
    let loaded = load(&config).unwrap();
    assert_eq!(loaded.config.spool.error, None, "failed files are deleted");
    assert!(
        notice(&loaded, "[smsd] ErrorSMSPath").is_some_and(|n| n.message.contains("deleted")),
        "{:?}",
        loaded.notices
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same modem listed twice under two names (a /dev/serial/by-id
/// link and the device it points to) passed `check-config`; the daemon
/// then found the modem "in use by simgate" with its own pid, and tried
/// again forever. Devices are compared by identity at load.
#[test]
fn the_same_modem_twice_under_two_names_is_refused() {
    let dir = scratch("config-modem-identity");
    let device = dir.join("ttyUSB0");
    std::fs::write(&device, "").unwrap();
    let link = dir.join("usb-Modem-if00-port0");
    std::os::unix::fs::symlink(&device, &link).unwrap();
    let other = dir.join("ttyUSB2");
    std::fs::write(&other, "").unwrap();
    let config = dir.join("simgate.toml");
    let text = |second: &Path| {
        format!(
            "[modem]\ndevice = \"{}\"\n\n[[modems]]\nname = \"second\"\ndevice = \"{}\"\n",
            link.display(),
            second.display()
        )
    };
    std::fs::write(&config, text(&device)).unwrap();
    match load(&config) {
        Err(ConfigError::InvalidValue {
            key,
            value,
            allowed,
        }) => {
            assert_eq!(key, "modems.device");
            assert_eq!(value, device.display().to_string());
            assert!(allowed.contains(&link.display().to_string()), "{allowed}");
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(&config, text(&other)).unwrap();
    load(&config).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `[http] max_body_bytes` above the outbox reader's limit (512 KiB) let
/// the API accept a text whose file the daemon then refused for its size:
/// 200 to the client, then the message in `error/`. It is refused at
/// load; the limit itself is allowed.
#[test]
fn the_http_body_limit_is_not_above_what_the_outbox_reads() {
    let base = "[modem]\ndevice = \"/dev/ttyUSB0\"\n[http]\nlisten = \"127.0.0.1:8080\"\n";
    let limit = crate::spool::outbox::MAX_OUTBOX_FILE_BYTES;
    for value in [limit + 1, 10 * 1024 * 1024, 63] {
        match parse_toml(&format!("{base}max_body_bytes = {value}\n")) {
            Err(ConfigError::InvalidValue { key, allowed, .. }) => {
                assert_eq!(key, "http.max_body_bytes", "{value}");
                assert!(allowed.contains(&limit.to_string()), "{value}: {allowed}");
            }
            other => panic!("{value}: {other:?}"),
        }
    }
    let c = toml_ok(&format!("{base}max_body_bytes = {limit}\n")).config;
    assert_eq!(u64::from(c.http.max_body_bytes), limit);
}

/// `[webhooks] retry_delay = "1ms"` with `retry_delay_max = "1ms"` posted
/// a failing event again about every millisecond until `max_retry_time`:
/// a storm against a receiver that is down, and against the log. The same
/// floors as `[send]`: the first delay at least 100 ms, the longest 1 s.
#[test]
fn the_webhook_retry_delay_has_a_floor() {
    let base = "[modem]\ndevice = \"/dev/ttyUSB0\"\n[webhooks]\nurls = [\"http://127.0.0.1:9/\"]\nsecret = \"a long random string for the test\"\n";
    let cases = [
        (
            "retry_delay = \"1ms\"\nretry_delay_max = \"1ms\"",
            "webhooks.retry_delay",
            "1ms",
            "from 100ms",
        ),
        (
            "retry_delay = \"100ms\"\nretry_delay_max = \"500ms\"",
            "webhooks.retry_delay_max",
            "500ms",
            "from 1s",
        ),
    ];
    for (text, key, value, allowed) in cases {
        match parse_toml(&format!("{base}{text}\n")) {
            Err(ConfigError::InvalidValue {
                key: k,
                value: v,
                allowed: a,
            }) => {
                assert_eq!((k.as_str(), v.as_str()), (key, value), "{text}");
                assert!(a.contains(allowed), "{text}: {a}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    let c = toml_ok(&format!(
        "{base}retry_delay = \"100ms\"\nretry_delay_max = \"1s\"\n"
    ))
    .config;
    assert_eq!(
        (c.webhooks.retry_delay, c.webhooks.retry_delay_max),
        (Duration::from_millis(100), secs(1))
    );
}

/// `send.retry_delay = "1ms"` with `retry_delay_max = "1ms"` and no limit
/// on attempts retried a failing message about every millisecond, a storm
/// against the modem and the log. The first delay is at least 100 ms and
/// the longest at least 1 s, so a message that keeps failing is tried at
/// most once a second, gammu's own pace (its loop, ~1/s). gammu's
/// `RetryTimeout = 0` (SQL backends: retry without waiting) stays valid in
/// an unchanged gammu-smsdrc and means that pace: 1 s.
#[test]
fn the_send_retry_delay_has_a_floor() {
    let base = "[modem]\ndevice = \"/dev/ttyUSB0\"\n[send]\n";
    let cases = [
        (
            "retry_delay = \"1ms\"\nretry_delay_max = \"1ms\"",
            "send.retry_delay",
            "1ms",
            "from 100ms",
        ),
        (
            "retry_delay = 0\nretry_delay_max = \"1h\"",
            "send.retry_delay",
            "0s",
            "from 100ms",
        ),
        (
            "retry_delay = \"100ms\"\nretry_delay_max = \"500ms\"",
            "send.retry_delay_max",
            "500ms",
            "from 1s",
        ),
    ];
    for (text, key, value, allowed) in cases {
        match parse_toml(&format!("{base}{text}\n")) {
            Err(ConfigError::InvalidValue {
                key: k,
                value: v,
                allowed: a,
            }) => {
                assert_eq!((k.as_str(), v.as_str()), (key, value), "{text}");
                assert!(a.contains(allowed), "{text}: {a}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    // The floors themselves are allowed.
    let c = toml_ok(&format!(
        "{base}retry_delay = \"100ms\"\nretry_delay_max = \"1s\"\n"
    ))
    .config;
    assert_eq!(
        (c.send.retry_delay, c.send.retry_delay_max),
        (Duration::from_millis(100), secs(1))
    );

    let gammu_base = "[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nService = files\n";
    let loaded = gammu(&format!("{gammu_base}RetryTimeout = 0\n"));
    let send = &loaded.config.send;
    assert_eq!((send.retry_delay, send.retry_delay_max), (secs(1), secs(1)));
    let note = notice(&loaded, "[smsd] RetryTimeout").expect("a notice on RetryTimeout");
    assert!(note.message.contains("0"), "{}", note.message);
    assert!(note.message.contains("1s"), "{}", note.message);
    let loaded = gammu(&format!("{gammu_base}RetryTimeout = 1\n"));
    assert_eq!(loaded.config.send.retry_delay, secs(1));
}

/// A `[[modems]]` entry without `device` was refused as missing
/// `modem.device` "under [modem]", though `[modem]` had one: the message
/// names the entry. The first modem's message is as before.
#[test]
fn a_modems_entry_without_device_is_named_in_the_message() {
    for (entry, named) in [
        ("name = \"b\"\n", "the [[modems]] entry named \"b\""),
        (
            "name = \"b\"\ntransport = \"hilink\"\n",
            "the [[modems]] entry named \"b\"",
        ),
        ("prefixes = [\"+43\"]\n", "[[modems]] entry 1"),
    ] {
        let text = format!("[modem]\ndevice = \"/dev/ttyUSB0\"\n[[modems]]\n{entry}");
        match parse_toml(&text) {
            Err(ConfigError::Missing { key, hint }) => {
                assert_eq!(key, "modems.device", "{entry}");
                assert!(hint.contains(named), "{entry}: {hint}");
                assert!(!hint.contains("[modem]"), "{entry}: {hint}");
            }
            other => panic!("{entry}: {other:?}"),
        }
    }
    match parse_toml("[modem]\nname = \"a\"\n") {
        Err(ConfigError::Missing { key, hint }) => {
            assert_eq!(key, "modem.device");
            assert!(hint.ends_with("under [modem]"), "{hint}");
        }
        other => panic!("{other:?}"),
    }
}

/// `[[modems]] name = "modem"` beside an unnamed `[modem]` was refused
/// as a name another modem has, without saying that "modem" is the name
/// the first modem takes when it names none.
#[test]
fn a_name_clash_with_an_implied_name_says_whose_name_it_is() {
    let text = "[modem]\ndevice = \"/dev/ttyUSB0\"\n[[modems]]\nname = \"modem\"\n\
                device = \"/dev/ttyUSB1\"\n";
    match parse_toml(text) {
        Err(ConfigError::InvalidValue {
            key,
            value,
            allowed,
        }) => {
            assert_eq!((key.as_str(), value.as_str()), ("modems.name", "modem"));
            assert!(
                allowed.contains("\"modem\" is the name [modem] has when it names none"),
                "{allowed}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The first modem named by [hooks] phone_id, the second by its place.
    let text = "[modem]\ndevice = \"/dev/ttyUSB0\"\n[[modems]]\ndevice = \"/dev/ttyUSB1\"\n\
                [[modems]]\nname = \"modem2\"\ndevice = \"/dev/ttyUSB2\"\n";
    match parse_toml(text) {
        Err(ConfigError::InvalidValue { allowed, .. }) => assert!(
            allowed.contains("\"modem2\" is the name [[modems]] entry 1 has when it names none"),
            "{allowed}"
        ),
        other => panic!("{other:?}"),
    }
    let text = "[modem]\ndevice = \"/dev/ttyUSB0\"\n[[modems]]\nname = \"gw\"\n\
                device = \"/dev/ttyUSB1\"\n[hooks]\nphone_id = \"gw\"\n";
    match parse_toml(text) {
        Err(ConfigError::InvalidValue { allowed, .. }) => assert!(
            allowed.contains("\"gw\" is the name [modem] has when it names none (hooks.phone_id)"),
            "{allowed}"
        ),
        other => panic!("{other:?}"),
    }
    // Two modems named alike by the user: nothing implied to explain.
    let text = "[modem]\nname = \"x\"\ndevice = \"/dev/ttyUSB0\"\n[[modems]]\nname = \"x\"\n\
                device = \"/dev/ttyUSB1\"\n";
    match parse_toml(text) {
        Err(ConfigError::InvalidValue { allowed, .. }) => {
            assert_eq!(allowed, "a name no other modem has")
        }
        other => panic!("{other:?}"),
    }
}

/// A ZTE stick's login takes no user name: `check-config` printed
/// `user = "admin"` for it and took `user = "bob"` without a word. The
/// key is warned about (as the AT-only keys are) and not written back.
#[test]
fn a_user_for_a_zte_stick_is_warned_about_and_not_written() {
    let zte = "transport = \"zte\"\ndevice = \"http://192.168.0.1\"\n";
    let loaded = toml_ok(&format!(
        "[modem]\n{zte}user = \"bob\"\n[[modems]]\nname = \"z2\"\n\
         transport = \"zte\"\ndevice = \"http://192.168.0.2\"\nuser = \"bob\"\n"
    ));
    for key in ["modem.user", "modems.user"] {
        let note = notice(&loaded, key).unwrap_or_else(|| panic!("no warning for {key}"));
        assert_eq!(note.severity, Severity::Warning, "{key}");
        assert!(
            note.message.contains("transport = \"zte\""),
            "{key}: {}",
            note.message
        );
    }
    let emitted = loaded.config.to_toml();
    assert!(!emitted.contains("user ="), "{emitted}");
    let emitted = toml_ok(&format!("[modem]\n{zte}")).config.to_toml();
    assert!(!emitted.contains("user ="), "{emitted}");
    // A gammu file can only give it in the address.
    let loaded = gammu(
        "[gammu]\nconnection = zte\ndevice = http://bob:pw@192.168.0.1\n[smsd]\nservice = files\n",
    );
    assert!(
        loaded
            .notices
            .iter()
            .any(|n| n.severity == Severity::Warning && n.message.contains("password only")),
        "{:?}",
        loaded.notices
    );
    assert!(!loaded.config.to_toml().contains("user ="));
    // A HiLink stick's user stays, unwarned.
    let hilink = toml_ok(
        "[modem]\ntransport = \"hilink\"\ndevice = \"http://192.168.8.1\"\nuser = \"bob\"\n",
    );
    assert!(notice(&hilink, "modem.user").is_none());
    assert!(hilink.config.to_toml().contains("user = \"bob\""));
}
