//! gammu-smsd's configuration (`/etc/gammu-smsdrc`, spec §1) read into a
//! [`Config`], key by key, with gammu 1.42's code defaults.
//!
//! Every deliberate difference from gammu is listed in the table of the
//! [`config`](super) module documentation and announced by a [`Notice`].
//!
//! Keys simgate has no use for (shared-memory status, SQL, `LoopSleep`,
//! `NetworkCode`/`PhoneCode`, ...) are accepted and reported as ignored with
//! the reason; their values are not checked, so a stale value there cannot
//! stop the daemon. Keys gammu-smsd itself ignores (`[gammu] logfile`,
//! calendar strings, `gammucoding`...) are accepted silently. Unknown keys
//! and sections are warnings.

use super::value::{self, Choices};
use super::Loaded;
use super::{
    AmbiguousPolicy, Config, ConfigError, FilterSettings, LogLevel, LogTarget, Notice, OutboxOrder,
    SimPin, SourceFormat,
};
use crate::ini::{atoi, parse_bool, Ini};
use crate::pdu::EncodingPolicy;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every key of `[gammu]` gammu-smsd knows (spec §1.3).
const GAMMU_KEYS: &[&str] = &[
    "device",
    "port",
    "connection",
    "model",
    "synchronizetime",
    "logfile",
    "logformat",
    "use_locking",
    "startinfo",
    "features",
    "atgen_setcnmi",
    "reminder",
    "meeting",
    "call",
    "birthday",
    "memo",
    "gammucoding",
    "gammuloc",
    "datapath",
    "usephonedb",
    "name",
];

/// Every key of `[smsd]` gammu 1.42 reads with the files backend or SQL
/// (spec §1.4, §1.5).
const SMSD_KEYS: &[&str] = &[
    "Service",
    "LogFile",
    "LogFacility",
    "DebugLevel",
    "PIN",
    "NetworkCode",
    "PhoneCode",
    "CommTimeout",
    "SendTimeout",
    "ReceiveFrequency",
    "StatusFrequency",
    "LoopSleep",
    "MultipartTimeout",
    "CheckSecurity",
    "CheckBattery",
    "CheckSignal",
    "CheckNetwork",
    "HangupCalls",
    "ResetFrequency",
    "HardResetFrequency",
    "DeliveryReport",
    "DeliveryReportDelay",
    "SkipSMSCNumber",
    "PhoneID",
    "SMSC",
    "RunOnReceive",
    "RunOnSent",
    "RunOnFailure",
    "RunOnIncomingCall",
    "IncludeNumbersFile",
    "ExcludeNumbersFile",
    "IncludeSMSCFile",
    "ExcludeSMSCFile",
    "MaxRetries",
    "RetryTimeout",
    "BackendRetries",
    "Send",
    "Receive",
    "Driver",
    "SQL",
    "User",
    "Password",
    "Host",
    "PC",
    "Database",
    "DriversPath",
    "DBDir",
    "InboxPath",
    "OutboxPath",
    "SentSMSPath",
    "ErrorSMSPath",
    "InboxFormat",
    "OutboxFormat",
    "TransmitFormat",
];

const SQL_KEYS: &[&str] = &[
    "Driver",
    "SQL",
    "User",
    "Password",
    "Host",
    "PC",
    "Database",
    "DriversPath",
    "DBDir",
    "BackendRetries",
    "DeliveryReportDelay",
    "SkipSMSCNumber",
];

const LIST_SECTIONS: &[&str] = &[
    "include_numbers",
    "exclude_numbers",
    "include_smsc",
    "exclude_smsc",
];

const BOOL_FORMS: &str = "yes or no (also true/false, y/n, t/f, 1/0)";

const UNSUPPORTED_BACKENDS: &[&str] = &["null", "sql", "mysql", "pgsql", "dbi", "odbc"];

/// Parses a gammu-smsd configuration.
pub(super) fn parse(text: &str, base_dir: &Path) -> Result<Loaded, ConfigError> {
    let ini = Ini::parse(text);
    let mut reader = Reader {
        ini: &ini,
        base_dir,
        notices: Vec::new(),
        unconfigured: None,
    };
    reader.check_sections();
    reader.check_keys("gammu", GAMMU_KEYS);
    reader.check_keys("smsd", SMSD_KEYS);
    reader.service()?;
    let config = reader.config()?;
    Ok(Loaded {
        config,
        notices: reader.notices,
        source: SourceFormat::Gammu,
        modem_unconfigured: reader.unconfigured,
    })
}

struct Reader<'a> {
    ini: &'a Ini,
    base_dir: &'a Path,
    notices: Vec<Notice>,
    /// Why the file names no modem, when it does not.
    unconfigured: Option<super::error::NoModem>,
}

fn key_name(section: &str, key: &str) -> String {
    format!("[{section}] {key}")
}

/// An invalid-value error, with a hint when the value looks like it
/// carries an inline comment (gammu has none).
fn invalid(section: &str, key: &str, value: &str, allowed: &str) -> ConfigError {
    let mut allowed = allowed.to_owned();
    if value.contains(';') || value.contains('#') {
        allowed.push_str(
            " (gammu has no inline comments: a `;` or `#` after `=` and all that follows are \
             part of the value)",
        );
    }
    ConfigError::InvalidValue {
        key: key_name(section, key),
        value: value.to_owned(),
        allowed,
    }
}

fn is_quoted(value: &str) -> bool {
    value.len() >= 2
        && ((value.starts_with('"') && value.ends_with('"'))
            || (value.starts_with('\'') && value.ends_with('\'')))
}

impl<'a> Reader<'a> {
    fn raw(&self, section: &str, key: &str) -> Option<&'a str> {
        self.ini.get(section, key)
    }

    fn info(&mut self, section: &str, key: &str, message: impl Into<String>) {
        self.notices
            .push(Notice::info(key_name(section, key), message));
    }

    fn warn(&mut self, section: &str, key: &str, message: impl Into<String>) {
        self.notices
            .push(Notice::warning(key_name(section, key), message));
    }

    /// Reports a present key simgate does not use.
    fn ignored(&mut self, section: &str, key: &str, reason: &str) {
        if self.raw(section, key).is_some() {
            self.info(section, key, format!("accepted, ignored: {reason}"));
        }
    }

    fn string(&self, section: &str, key: &str) -> Option<String> {
        self.raw(section, key).map(str::to_owned)
    }

    fn bool(&self, section: &str, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(section, key) {
            None => Ok(default),
            Some(value) => parse_bool(value).ok_or_else(|| {
                let fallback = if default { "yes" } else { "no" };
                invalid(
                    section,
                    key,
                    value,
                    &format!("{BOOL_FORMS}; gammu 1.42 would silently use its default, {fallback}"),
                )
            }),
        }
    }

    fn number(&self, section: &str, key: &str, unit: &str) -> Result<Option<u64>, ConfigError> {
        let Some(value) = self.raw(section, key) else {
            return Ok(None);
        };
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(number) = value.parse() {
                return Ok(Some(number));
            }
        }
        Err(invalid(
            section,
            key,
            value,
            &format!(
                "a whole number{unit}, digits only; gammu 1.42 reads numbers with C's atoi and \
                 would have used {}",
                atoi(value)
            ),
        ))
    }

    fn seconds(&self, section: &str, key: &str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.seconds_set(section, key)?.unwrap_or(default),
        ))
    }

    /// A period of `[smsd] key` in seconds where 0 (the default) means
    /// never: 0, or at least `floor`.
    fn period(&self, key: &str, floor: Duration) -> Result<Duration, ConfigError> {
        let period = self.seconds("smsd", key, 0)?;
        if !period.is_zero() && period < floor {
            return Err(invalid(
                "smsd",
                key,
                self.raw("smsd", key).unwrap_or_default(),
                &format!(
                    "0 (never) or a whole number of seconds from {} to {}",
                    floor.as_secs(),
                    value::MAX_DURATION.as_secs()
                ),
            ));
        }
        Ok(period)
    }

    /// A number of seconds when the key is set, at most a year
    /// ([`value::MAX_DURATION`]).
    fn seconds_set(&self, section: &str, key: &str) -> Result<Option<u64>, ConfigError> {
        let seconds = self.number(section, key, " of seconds")?;
        let most = value::MAX_DURATION.as_secs();
        match seconds {
            Some(n) if n > most => Err(invalid(
                section,
                key,
                self.raw(section, key).unwrap_or_default(),
                &format!("a whole number of seconds from 0 to {most} (365 days)"),
            )),
            other => Ok(other),
        }
    }

    fn choice<T: Copy + PartialEq>(
        &self,
        section: &str,
        key: &str,
        choices: &Choices<T>,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.raw(section, key) {
            None => Ok(default),
            Some(value) => choices.find(value).ok_or_else(|| {
                invalid(
                    section,
                    key,
                    value,
                    &format!(
                        "{}; gammu 1.42 would silently use {}",
                        choices.allowed(),
                        choices.name(default)
                    ),
                )
            }),
        }
    }

    /// A path, relative ones joined to the start directory; quotes are an
    /// error because gammu would take them as part of the name.
    fn path(&self, section: &str, key: &str) -> Result<Option<PathBuf>, ConfigError> {
        let Some(value) = self.raw(section, key) else {
            return Ok(None);
        };
        if is_quoted(value) {
            return Err(invalid(
                section,
                key,
                value,
                "a path without quotes (gammu keeps quotes as part of the path, so this \
                 names a directory that does not exist)",
            ));
        }
        Ok(Some(value::normalise(
            Path::new(value),
            Some(self.base_dir),
        )))
    }

    /// A spool directory; a missing trailing `/` is a warning naming what
    /// gammu would have done.
    fn spool_dir(&mut self, key: &str, consequence: &str) -> Result<Option<PathBuf>, ConfigError> {
        let path = self.path("smsd", key)?;
        if let (Some(path), Some(value)) = (&path, self.raw("smsd", key)) {
            if !value.ends_with('/') {
                self.warn(
                    "smsd",
                    key,
                    format!(
                        "{value:?} has no trailing `/`: gammu 1.42 appends file names to the \
                         text, so it would {consequence}; simgate uses the directory {}",
                        path.display()
                    ),
                );
            }
        }
        Ok(path)
    }

    fn check_sections(&mut self) {
        let mut seen: HashSet<String> = HashSet::new();
        for section in self.ini.sections() {
            let lower = section.name.to_ascii_lowercase();
            if !seen.insert(lower.clone()) {
                continue;
            }
            if lower == "gammu" || lower == "smsd" || LIST_SECTIONS.contains(&lower.as_str()) {
                continue;
            }
            let key = format!("[{}]", section.name);
            let notice = if lower == "sql" || lower == "tables" {
                Notice::info(
                    key,
                    "accepted, ignored: settings of gammu's SQL backends; simgate implements \
                     only the files backend",
                )
            } else if lower.starts_with("gammu") && lower[5..].bytes().all(|b| b.is_ascii_digit()) {
                Notice::info(
                    key,
                    "accepted, ignored: gammu-smsd reads only [gammu]; other numbered phone \
                     sections are for the gammu command-line tool",
                )
            } else {
                Notice::warning(
                    key,
                    "unknown section, ignored (gammu ignores it silently too)",
                )
            };
            self.notices.push(notice);
        }
    }

    fn check_keys(&mut self, section: &str, known: &[&str]) {
        let mut seen: HashSet<String> = HashSet::new();
        let mut unknown: Vec<String> = Vec::new();
        for entries in self
            .ini
            .sections()
            .iter()
            .filter(|s| s.name.eq_ignore_ascii_case(section))
        {
            for (key, _) in &entries.entries {
                if !seen.insert(key.to_ascii_lowercase()) {
                    continue;
                }
                if !known.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                    unknown.push(key.clone());
                }
            }
        }
        for key in unknown {
            let hint = match (section, key.to_ascii_lowercase().as_str()) {
                ("smsd", "logformat" | "device" | "port" | "connection" | "model") => {
                    "; it belongs to [gammu]"
                }
                ("gammu", "pin" | "logfile" | "inboxpath" | "outboxpath" | "service") => {
                    "; it belongs to [smsd]"
                }
                ("smsd", "statusfile") => {
                    "; gammu has no such key (its status lives in shared memory)"
                }
                ("smsd", "runonerror") => {
                    "; gammu has no RunOnError (RunOnFailure runs after a failed send)"
                }
                _ => "",
            };
            self.warn(
                section,
                &key,
                format!("unknown key, ignored (gammu ignores it silently too){hint}"),
            );
        }
    }

    fn service(&mut self) -> Result<(), ConfigError> {
        match self.raw("smsd", "Service") {
            None => Err(ConfigError::Missing {
                key: key_name("smsd", "Service"),
                hint: "gammu-smsd refuses to start without it (\"No SMSD service configured\"); \
                       add `Service = files` to [smsd]"
                    .to_owned(),
            }),
            Some(value) if value.eq_ignore_ascii_case("files") => Ok(()),
            Some(value)
                if UNSUPPORTED_BACKENDS
                    .iter()
                    .any(|b| b.eq_ignore_ascii_case(value)) =>
            {
                Err(ConfigError::Unsupported {
                    key: key_name("smsd", "Service"),
                    value: value.to_owned(),
                    reason: "simgate implements only gammu's files backend (`Service = files`)"
                        .to_owned(),
                })
            }
            Some(value) => Err(invalid(
                "smsd",
                "Service",
                value,
                "files (the only backend simgate implements)",
            )),
        }
    }

    fn config(&mut self) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        self.modem(&mut config)?;
        self.log(&mut config)?;
        self.spool(&mut config)?;
        self.send(&mut config)?;
        self.receive(&mut config)?;
        self.hooks(&mut config)?;
        self.filters(&mut config)?;
        self.ignored_keys();
        Ok(config)
    }

    fn modem(&mut self, config: &mut Config) -> Result<(), ConfigError> {
        let configured = self
            .ini
            .sections()
            .iter()
            .any(|s| s.name.eq_ignore_ascii_case("gammu") && !s.entries.is_empty());
        if !configured {
            return Err(ConfigError::Missing {
                key: "[gammu] device".to_owned(),
                hint: "gammu-smsd refuses to start without a [gammu] section holding at least \
                       one setting (\"Gammu is not configured\"); add [gammu] with \
                       `device = /dev/ttyUSB0` (your modem's AT port)"
                    .to_owned(),
            });
        }
        let (key, device) = match (self.raw("gammu", "device"), self.raw("gammu", "port")) {
            (Some(device), port) => {
                if port.is_some_and(|port| port != device) {
                    self.info(
                        "gammu",
                        "port",
                        "accepted, ignored: `device` is also set and wins, as in gammu",
                    );
                }
                ("device", device)
            }
            (None, Some(port)) => ("port", port),
            (None, None) => {
                let modemmanager = self
                    .raw("gammu", "connection")
                    .is_some_and(|c| c.eq_ignore_ascii_case("modemmanager"));
                if !modemmanager {
                    self.info(
                        "gammu",
                        "device",
                        "not set: using gammu's default /dev/ttyUSB0",
                    );
                }
                ("device", "/dev/ttyUSB0")
            }
        };
        let web_kind = self.raw("gammu", "connection").and_then(|c| {
            if c.eq_ignore_ascii_case("hilink") {
                Some(super::WebKind::Hilink)
            } else if c.eq_ignore_ascii_case("zte") {
                Some(super::WebKind::Zte)
            } else {
                None
            }
        });
        if let Some(kind) = web_kind {
            let (example, name, what) = match kind {
                super::WebKind::Zte => (
                    "the stick's address, such as http://192.168.0.1, with `connection = zte`",
                    "zte",
                    "the ZTE stick at `device` through its goform web interface",
                ),
                _ => (
                    "the stick's address, such as http://192.168.8.1, with `connection = hilink`",
                    "hilink",
                    "the Huawei HiLink stick at `device` through its web interface",
                ),
            };
            // A password can only come in the address here, as for a
            // phone: `http://[USER:]PASSWORD@HOST`. It is never repeated.
            let (address, credentials) = super::WebStick::split_credentials(device);
            if !super::WebStick::valid_url(&address) {
                let shown = if credentials.is_some() {
                    "http://…"
                } else {
                    device
                };
                return Err(invalid("gammu", key, shown, example));
            }
            let mut web = super::WebStick::new(kind, &address);
            if let Some(credentials) = credentials {
                let password = match credentials.split_once(':') {
                    Some((user, password)) => {
                        if !user.is_empty() {
                            web.user = user.to_owned();
                            if kind == super::WebKind::Zte {
                                let warning = super::zte_user_warning("connection = zte");
                                self.warn("gammu", key, format!("its user name {warning}"));
                            }
                        }
                        password
                    }
                    None => credentials.as_str(),
                };
                web.password = Some(super::Password::new(password));
            }
            config.modem.device = PathBuf::from(&web.url);
            config.modem.web = Some(web);
            self.info(
                "gammu",
                "connection",
                format!(
                    "{name}: a simgate extension (gammu has no such connection): simgate drives {what}"
                ),
            );
        } else if self
            .raw("gammu", "connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("android"))
        {
            let web = super::android_device(device).map_err(|allowed| {
                // The value holds a password: it is not repeated.
                invalid("gammu", key, "http://…", allowed)
            })?;
            config.modem.device = PathBuf::from(&web.url);
            config.modem.web = Some(web);
            self.info(
                "gammu",
                "connection",
                "android: a simgate extension (gammu has no such connection): simgate drives the \
                 SMS Gateway for Android app's Local Server at `device` (user, password and \
                 ?signing_key= taken from the address, and redacted)",
            );
        } else if self
            .raw("gammu", "connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("modemmanager"))
        {
            // Unset: the only modem ModemManager has.
            let selector = self
                .raw("gammu", "device")
                .or(self.raw("gammu", "port"))
                .unwrap_or_default()
                .to_owned();
            config.modem.device = PathBuf::from(format!("modemmanager:{selector}"));
            config.modem.modemmanager = Some(super::ModemManagerModem {
                modem: selector,
                bus: None,
            });
            self.info(
                "gammu",
                "connection",
                "modemmanager: a simgate extension (gammu has no such connection): simgate drives \
                 the modem ModemManager owns over D-Bus; `device` names it (equipment identifier, \
                 D-Bus path or index; unset or `any` for the only one)",
            );
        } else {
            self.at_device(config, key, device)?;
        }
        self.model()?;

        // Keys only an AT modem reads, for a device that is not one.
        let not_at = config
            .modem
            .transport_not_at()
            .map(|transport| format!("connection = {transport}"));
        if let Some(pin) = self.raw("smsd", "PIN") {
            config.modem.pin = Some(SimPin::parse(&key_name("smsd", "PIN"), pin)?);
            if let Some(device) = &not_at {
                let warning = super::at_modem_only_warning(device, super::SIM_PIN_AT_ONLY);
                self.warn("smsd", "PIN", warning);
            }
        }
        if let Some(smsc) = self.raw("smsd", "SMSC") {
            if !value::valid_smsc(smsc) {
                return Err(invalid("smsd", "SMSC", smsc, value::SMSC_FORMS));
            }
            config.modem.smsc = Some(smsc.to_owned());
            match &not_at {
                Some(device) => {
                    let warning = super::at_modem_only_warning(device, super::SMSC_AT_ONLY);
                    self.warn("smsd", "SMSC", warning);
                }
                None => self.info(
                    "smsd",
                    "SMSC",
                    "used for every message that does not name its own SMSC; gammu 1.42 used \
                     it only for .smsbackup outbox files and sent .txt files via the SIM's SMSC",
                ),
            }
        }
        config.modem.send_timeout = self.seconds("smsd", "SendTimeout", 30)?;
        if config.modem.send_timeout.is_zero() {
            return Err(invalid(
                "smsd",
                "SendTimeout",
                "0",
                "a whole number of seconds, at least 1",
            ));
        }
        config.modem.check_sim = self.bool("smsd", "CheckSecurity", true)?;
        config.modem.status_interval = self.seconds("smsd", "StatusFrequency", 60)?;
        config.modem.reset_interval = self.period("ResetFrequency", super::MIN_RESET_INTERVAL)?;
        config.modem.hard_reset_interval =
            self.period("HardResetFrequency", super::MIN_HARD_RESET_INTERVAL)?;

        if self
            .raw("gammu", "synchronizetime")
            .is_some_and(|v| parse_bool(v) != Some(false))
        {
            self.info(
                "gammu",
                "synchronizetime",
                "accepted, ignored: simgate does not set the modem's clock (inbox names use \
                 the network's timestamps)",
            );
        }
        if self
            .raw("gammu", "use_locking")
            .is_some_and(|v| parse_bool(v) != Some(false))
        {
            self.info(
                "gammu",
                "use_locking",
                "accepted, ignored: simgate writes no UUCP lock file; it opens the port for \
                 exclusive use, so no other program can use it meanwhile",
            );
        }
        self.ignored("gammu", "startinfo", "it concerns Nokia phones only");
        self.ignored(
            "gammu",
            "features",
            "simgate has no feature overrides; it asks the modem what it supports",
        );
        self.ignored(
            "gammu",
            "atgen_setcnmi",
            "simgate chooses the +CNMI setting itself",
        );
        Ok(())
    }

    /// The AT port `device` names (under `key`), and its speed.
    fn at_device(
        &mut self,
        config: &mut Config,
        key: &str,
        device: &str,
    ) -> Result<(), ConfigError> {
        if device == "/dev/null" {
            // Kept for the commands that need a modem ([`Loaded`]): the
            // others (queueing, status) read the spool and database alone.
            self.unconfigured = super::error::NoModem::of(invalid(
                "gammu",
                key,
                device,
                "the modem's AT port, such as /dev/ttyUSB0 or /dev/serial/by-id/...; \
                 /dev/null is the Debian package's \"not configured\" marker: set the device \
                 of your modem",
            ))
            .ok();
            config.modem.device = PathBuf::from(device);
            config.modem.baud = self.connection()?;
            return Ok(());
        }
        if is_quoted(device) {
            return Err(invalid(
                "gammu",
                key,
                device,
                "a device path without quotes (gammu keeps quotes as part of the path)",
            ));
        }
        let modem = &mut config.modem;
        modem.device = value::normalise(Path::new(device), Some(self.base_dir));
        modem.baud = self.connection()?;
        Ok(())
    }

    /// `connection`: `at` (19200 baud) or `atSPEED`.
    fn connection(&mut self) -> Result<u32, ConfigError> {
        let Some(value) = self.raw("gammu", "connection") else {
            return Ok(19_200);
        };
        let lower = value.to_ascii_lowercase();
        let unsupported = |reason: &str| ConfigError::Unsupported {
            key: key_name("gammu", "connection"),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if lower == "none" {
            return Err(unsupported(
                "gammu's dummy driver is not implemented; simgate drives AT modems on a serial \
                 port (`connection = at`), and its modem emulator stands in for a modem in tests",
            ));
        }
        if lower.starts_with("proxy") {
            return Err(unsupported(
                "gammu runs `device` as a command for proxy connections; simgate opens a serial \
                 port (`connection = at`)",
            ));
        }
        let Some(speed) = lower.strip_prefix("at") else {
            return Err(unsupported(
                "simgate drives AT modems on a serial port only: use `connection = at` or \
                 at<speed> such as at115200",
            ));
        };
        if speed.is_empty() {
            return Ok(19_200);
        }
        if !speed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(unsupported(
                "simgate drives AT modems on a serial port only: use `connection = at` or \
                 at<speed> such as at115200",
            ));
        }
        match speed.parse::<u32>() {
            Ok(baud) if value::BAUD_RATES.contains(&baud) => Ok(baud),
            _ => Err(invalid(
                "gammu",
                "connection",
                value,
                "at (19200 baud) or at followed by a serial speed such as at9600, at19200, \
                 at57600, at115200, at460800 or at921600",
            )),
        }
    }

    fn model(&mut self) -> Result<(), ConfigError> {
        let Some(model) = self.raw("gammu", "model") else {
            return Ok(());
        };
        if model.eq_ignore_ascii_case("auto") {
            return Ok(());
        }
        if model.eq_ignore_ascii_case("dummy") {
            return Err(ConfigError::Unsupported {
                key: key_name("gammu", "model"),
                value: model.to_owned(),
                reason: "gammu's dummy driver is not implemented; simgate's modem emulator \
                         stands in for a modem in tests"
                    .to_owned(),
            });
        }
        self.info(
            "gammu",
            "model",
            "accepted, ignored: simgate asks the modem what it is (AT+CGMI, AT+CGMM) and needs \
             no model hint",
        );
        Ok(())
    }

    fn log(&mut self, config: &mut Config) -> Result<(), ConfigError> {
        match self.raw("smsd", "LogFile") {
            None => {
                config.log.target = LogTarget::Stderr;
                self.info(
                    "smsd",
                    "LogFile",
                    "not set: gammu 1.42 then logs nothing at all, not even errors; simgate \
                     logs to standard error (the journal under systemd)",
                );
            }
            Some(value) if value.eq_ignore_ascii_case("syslog") => {
                config.log.target = LogTarget::Syslog;
            }
            Some(value) if value.eq_ignore_ascii_case("stderr") => {
                config.log.target = LogTarget::Stderr;
            }
            Some(value) if value.eq_ignore_ascii_case("stdout") => {
                config.log.target = LogTarget::Stdout;
            }
            Some(_) => {
                let path = self.path("smsd", "LogFile")?.expect("the key is present");
                config.log.target = LogTarget::File(path);
            }
        }
        config.log.facility = self.choice(
            "smsd",
            "LogFacility",
            &value::FACILITIES,
            super::SyslogFacility::Daemon,
        )?;
        if config.log.target == LogTarget::Syslog {
            self.info(
                "smsd",
                "LogFacility",
                format!(
                    "simgate logs to the syslog facility {} as written; gammu 1.42 swapped them \
                     (DAEMON logged to USER, anything else to DAEMON), fixed in gammu 1.43",
                    value::FACILITIES.name(config.log.facility)
                ),
            );
        }
        if let Some(level) = self.number("smsd", "DebugLevel", "")? {
            let mapped = if level & 4 != 0 {
                LogLevel::Trace
            } else if level & 1 != 0 {
                LogLevel::Debug
            } else {
                LogLevel::Info
            };
            config.log.level = mapped;
            if level != 0 {
                self.info(
                    "smsd",
                    "DebugLevel",
                    format!(
                        "{level} is read as log level {} (bit 1 → debug, bit 4 → trace with \
                         the AT traffic; bit 2, SQL, means nothing here)",
                        value::LOG_LEVELS.name(mapped)
                    ),
                );
            }
        }
        if self.raw("gammu", "logformat").is_some() {
            self.info(
                "gammu",
                "logformat",
                "accepted, ignored: simgate logs the AT traffic at level trace, which \
                 [smsd] DebugLevel bit 4 selects, as it does in gammu",
            );
        }
        Ok(())
    }

    fn spool(&mut self, config: &mut Config) -> Result<(), ConfigError> {
        let outbox = self.spool_dir(
            "OutboxPath",
            "never find the files in that directory (nothing would be sent)",
        )?;
        let inbox = self.spool_dir(
            "InboxPath",
            "write received messages next to the directory, as <path>IN….txt",
        )?;
        let sent = self.spool_dir(
            "SentSMSPath",
            "move sent files next to the directory, as <path>OUT….txt",
        )?;
        let error = self.spool_dir(
            "ErrorSMSPath",
            "move failed files next to the directory, as <path>OUT….txt",
        )?;
        let base = value::normalise(self.base_dir, None);
        let outbox = outbox.unwrap_or_else(|| {
            self.warn(
                "smsd",
                "OutboxPath",
                format!(
                    "not set: gammu uses the directory it was started in; so does simgate ({})",
                    base.display()
                ),
            );
            base.clone()
        });
        let inbox = inbox.unwrap_or_else(|| {
            self.warn(
                "smsd",
                "InboxPath",
                format!(
                    "not set: gammu writes received messages into the directory it was started \
                     in; so does simgate ({})",
                    base.display()
                ),
            );
            base.clone()
        });
        // Spec Q13: SentSMSPath defaults to OutboxPath (= delete), and
        // ErrorSMSPath to SentSMSPath.
        let sent = match sent {
            None => {
                self.info(
                    "smsd",
                    "SentSMSPath",
                    "not set: sent files are deleted, as gammu does",
                );
                None
            }
            Some(path) if path == outbox => {
                self.info(
                    "smsd",
                    "SentSMSPath",
                    "is the outbox: sent files are deleted, as gammu does",
                );
                None
            }
            Some(path) => Some(path),
        };
        let error = match error {
            None => {
                if let Some(sent) = &sent {
                    self.info(
                        "smsd",
                        "ErrorSMSPath",
                        format!(
                            "not set: failed files go to SentSMSPath ({}), as gammu does",
                            sent.display()
                        ),
                    );
                }
                sent.clone()
            }
            Some(path) if path == outbox => None,
            Some(path) => Some(path),
        };
        if error.is_none() {
            self.warn(
                "smsd",
                "ErrorSMSPath",
                "failed outbox files are deleted (gammu's behaviour when ErrorSMSPath and \
                 SentSMSPath are unset or the outbox): set ErrorSMSPath to keep them",
            );
        }
        let spool = &mut config.spool;
        spool.inbox = inbox;
        spool.outbox = outbox;
        spool.sent = sent;
        spool.error = error;
        spool.inbox_format = self.choice(
            "smsd",
            "InboxFormat",
            &value::FILE_FORMATS,
            super::FileFormat::Standard,
        )?;
        spool.outbox_format = self.choice(
            "smsd",
            "OutboxFormat",
            &value::FILE_FORMATS,
            super::FileFormat::Detail,
        )?;
        config.spool.transmit_format = if self.raw("smsd", "TransmitFormat").is_none() {
            self.info(
                "smsd",
                "TransmitFormat",
                "not set: gammu 1.42 defaults to 7bit and silently replaces characters outside \
                 the GSM alphabet (ç → c, Ж → ?); simgate uses auto (GSM 7-bit when every \
                 character fits, UCS-2 otherwise), so no character is lost; write \
                 `TransmitFormat = 7bit` for gammu's behaviour",
            );
            EncodingPolicy::Auto
        } else {
            self.choice(
                "smsd",
                "TransmitFormat",
                &value::TRANSMIT_FORMATS,
                EncodingPolicy::Gsm7,
            )?
        };
        config.spool.scan_interval = self.seconds("smsd", "CommTimeout", 30)?;
        config.spool.outbox_order = OutboxOrder::Bytes;
        self.notices.push(Notice::info(
            "spool.outbox_order",
            "simgate takes outbox files in byte order of their names (OUTA… before OUTZ…, as \
             in the C locale); gammu 1.42 sorted them in the daemon's locale, which under \
             e.g. en_US.UTF-8 ignores punctuation and case",
        ));
        Ok(())
    }

    fn send(&mut self, config: &mut Config) -> Result<(), ConfigError> {
        config.send.enabled = self.bool("smsd", "Send", true)?;
        let retries = self.number("smsd", "MaxRetries", "")?;
        let retry_timeout = self.seconds_set("smsd", "RetryTimeout")?;
        let send = &mut config.send;
        send.ambiguous = AmbiguousPolicy::Error;
        send.max_attempts = retries.map(|n| u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1));
        // RetryTimeout = 0 (retry without waiting, with gammu's SQL
        // backends) is gammu's loop pace: the floor, 1 s.
        let retry_timeout_delay =
            retry_timeout.map(|secs| Duration::from_secs(secs).max(value::MIN_RETRY_DELAY_MAX));
        if let Some(delay) = retry_timeout_delay {
            send.retry_delay = delay;
            send.retry_delay_max = delay;
        }
        match (retries, send.max_attempts) {
            (Some(retries), Some(attempts)) => self.info(
                "smsd",
                "MaxRetries",
                format!(
                    "honoured: a message that failed {attempts} time(s) (the first attempt and \
                     {retries} retries) moves to the error directory; gammu 1.42 ignores \
                     MaxRetries with the files backend and retries forever"
                ),
            ),
            _ => self.info(
                "smsd",
                "MaxRetries",
                "not set: like gammu, a failed message stays in the outbox and is retried \
                 without limit; unlike gammu 1.42, which retries it every second and sends \
                 nothing else meanwhile, simgate waits between attempts; set MaxRetries to \
                 give up after that many retries",
            ),
        }
        if let (Some(secs), Some(delay)) = (retry_timeout, retry_timeout_delay) {
            let floor = if Duration::from_secs(secs) < delay {
                format!(
                    " ({secs} would retry without waiting, a storm against the modem; {} is \
                     the shortest delay, about gammu's pace with the files backend)",
                    value::format_duration(delay)
                )
            } else {
                String::new()
            };
            self.info(
                "smsd",
                "RetryTimeout",
                format!(
                    "used as the delay between attempts ({}){floor}; gammu uses it only with its \
                     SQL backends",
                    value::format_duration(delay)
                ),
            );
        }
        self.notices.push(Notice::info(
            "send.ambiguous",
            "when the modem took a message but its answer never came, simgate cannot know \
             whether it was sent: it moves the file to the error directory with the reason, \
             where gammu sends it again (perhaps twice); set send.ambiguous = \"resend\" in \
             simgate's own configuration for gammu's behaviour",
        ));
        Ok(())
    }

    fn receive(&mut self, config: &mut Config) -> Result<(), ConfigError> {
        let receive = &mut config.receive;
        receive.enabled = self.bool("smsd", "Receive", true)?;
        match self.seconds_set("smsd", "ReceiveFrequency")? {
            Some(seconds) => {
                config.receive.poll_interval = Duration::from_secs(seconds.max(1));
                self.info(
                    "smsd",
                    "ReceiveFrequency",
                    "the storage is read at this interval as well as at once on every +CMTI \
                     announcement (gammu only polls)",
                );
            }
            None => self.info(
                "smsd",
                "ReceiveFrequency",
                format!(
                    "not set: gammu polls every 15 s; simgate reads at once on every +CMTI \
                     announcement and every {} s besides",
                    super::DEFAULT_POLL_INTERVAL.as_secs()
                ),
            ),
        }
        config.receive.multipart_timeout = self.seconds("smsd", "MultipartTimeout", 600)?;
        config.receive.delivery_report = self.choice(
            "smsd",
            "DeliveryReport",
            &value::DELIVERY_REPORTS,
            super::DeliveryReport::No,
        )?;
        Ok(())
    }

    fn hooks(&mut self, config: &mut Config) -> Result<(), ConfigError> {
        let hooks = &mut config.hooks;
        hooks.run_on_receive = self.string("smsd", "RunOnReceive");
        hooks.run_on_sent = self.string("smsd", "RunOnSent");
        hooks.run_on_failure = self.string("smsd", "RunOnFailure");
        hooks.run_on_incoming_call = self.string("smsd", "RunOnIncomingCall");
        hooks.phone_id = self.string("smsd", "PhoneID");
        let any = hooks.run_on_receive.is_some()
            || hooks.run_on_sent.is_some()
            || hooks.run_on_failure.is_some()
            || hooks.run_on_incoming_call.is_some();
        let calls = hooks.run_on_incoming_call.is_some();
        config.hooks.hangup_calls = self.bool("smsd", "HangupCalls", false)?;
        if any {
            self.notices.push(Notice::info(
                "hooks",
                "hook commands get their arguments (file names, number) as separate words, \
                 as `\"$@\"` like gammu 1.43.3 and later, so a name with a space stays one \
                 argument; gammu 1.42 pasted them into the command line, where the shell split \
                 them and a sender could inject commands",
            ));
        }
        if calls && !config.hooks.hangup_calls {
            self.warn(
                "smsd",
                "RunOnIncomingCall",
                "has no effect without `HangupCalls = yes`, in gammu as in simgate",
            );
        }
        Ok(())
    }

    fn filters(&mut self, config: &mut Config) -> Result<(), ConfigError> {
        let list = |name: &str| -> Vec<String> {
            self.ini
                .section(name)
                .map(|s| s.entries.iter().map(|(_, v)| v.clone()).collect())
                .unwrap_or_default()
        };
        let filters = FilterSettings {
            include_numbers: list("include_numbers"),
            exclude_numbers: list("exclude_numbers"),
            include_smsc: list("include_smsc"),
            exclude_smsc: list("exclude_smsc"),
            include_numbers_file: self.path("smsd", "IncludeNumbersFile")?,
            exclude_numbers_file: self.path("smsd", "ExcludeNumbersFile")?,
            include_smsc_file: self.path("smsd", "IncludeSMSCFile")?,
            exclude_smsc_file: self.path("smsd", "ExcludeSMSCFile")?,
        };
        let include = !filters.include_numbers.is_empty() || filters.include_numbers_file.is_some();
        let exclude = !filters.exclude_numbers.is_empty() || filters.exclude_numbers_file.is_some();
        if include && exclude {
            self.notices.push(Notice::warning(
                "[exclude_numbers]",
                "an include list is set too, so the exclude list is ignored (as in gammu)",
            ));
        }
        let include = !filters.include_smsc.is_empty() || filters.include_smsc_file.is_some();
        let exclude = !filters.exclude_smsc.is_empty() || filters.exclude_smsc_file.is_some();
        if include && exclude {
            self.notices.push(Notice::warning(
                "[exclude_smsc]",
                "an include list is set too, so the exclude list is ignored (as in gammu)",
            ));
        }
        config.filters = filters;
        Ok(())
    }

    fn ignored_keys(&mut self) {
        for key in SQL_KEYS {
            self.ignored(
                "smsd",
                key,
                "it concerns gammu's SQL backends; simgate implements only the files backend",
            );
        }
        for key in ["CheckBattery", "CheckSignal"] {
            self.ignored(
                "smsd",
                key,
                "it feeds gammu's shared-memory status for gammu-smsd-monitor, which simgate \
                 does not provide",
            );
        }
        self.ignored(
            "smsd",
            "CheckNetwork",
            "simgate reports the registration in its status and does not switch the radio on \
             by itself",
        );
        self.ignored(
            "smsd",
            "LoopSleep",
            "simgate has no polling main loop to pace; CommTimeout and ReceiveFrequency set \
             its intervals",
        );
        for key in ["NetworkCode", "PhoneCode"] {
            self.ignored(
                "smsd",
                key,
                "simgate enters only the SIM PIN; unlock a phone or network lock by hand",
            );
        }
    }
}
