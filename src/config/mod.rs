//! The configuration: simgate's own TOML (`/etc/simgate/simgate.toml`) or
//! an existing gammu-smsd file (`/etc/gammu-smsdrc`), both turned into one
//! effective [`Config`] plus the [`Notice`]s to log once at start.
//!
//! # Telling the formats apart
//!
//! By content, never by file name ([`detect`]):
//!
//! 1. The text (UTF-8 BOM removed) parses as TOML: it is simgate's format,
//!    unless a top-level table is named `gammu` or `smsd` (any case), which
//!    simgate's format never uses; then it is a gammu file that happens to be
//!    valid TOML (`[gammu]` followed by `device = "..."` lines, say).
//! 2. It does not parse as TOML but gammu's INI reader finds a `[gammu]` or
//!    `[smsd]` section: a gammu file. Real gammu files almost always land
//!    here (`port = /dev/ttyUSB0` is not TOML).
//! 3. Otherwise the TOML syntax error is reported, with its line.
//!
//! # gammu files
//!
//! Read with gammu's own grammar (`crate::ini`, spec §1.2): keys and
//! sections case-insensitive, `#`/`;` comment lines, no inline comments,
//! quotes kept, empty value = absent, last duplicate wins. simgate is as
//! lenient as gammu on grammar but stricter on values:
//!
//! - a value gammu would silently replace by the default (`InboxFormat =
//!   unicode ; comment`, `CheckSecurity = on`, `CommTimeout = 30s`) is an
//!   error naming the key, the value and what is allowed;
//! - keys that only matter for gammu's SQL backends, its shared memory or
//!   other phones are accepted and reported as ignored, with the reason,
//!   and their values are not checked (a stale SQL setting must not stop a
//!   files-backend daemon from starting);
//! - unknown keys and sections are warnings, never errors.
//!
//! Where simgate deliberately differs, a [`Notice`] says so once at start:
//!
//! | key | gammu 1.42 | simgate |
//! |---|---|---|
//! | `TransmitFormat` absent | `7bit`: characters outside GSM 7-bit are replaced | `auto`: GSM 7-bit when every character fits, else UCS-2 (notice) |
//! | `InboxPath` etc. without trailing `/` | names pasted onto the path (Q3) | the directory is used (warning naming gammu's result) |
//! | a path in quotes | the quotes are part of the path | error |
//! | `SentSMSPath`/`ErrorSMSPath` chain (Q13) | error → sent → outbox (= delete) | same; a warning when failed files would be deleted |
//! | `MaxRetries` (Q7) | ignored: retried every loop forever | honoured: `MaxRetries` + 1 attempts, then the error directory |
//! | `RetryTimeout` | SQL only | the delay between attempts (0: 1 s, the shortest) |
//! | failed sends (Q7) | retried at once, every second | retried with backoff (notice) |
//! | ambiguous send | sent again | moved to the error directory (notice; `send.ambiguous = "resend"` for gammu's way) |
//! | outbox order (Q16) | `strcoll` in the daemon's locale | byte order (notice) |
//! | hooks (Q10) | arguments pasted into the shell line | arguments as separate words, like gammu 1.43.3 (notice) |
//! | `SMSC` (Q19) | only for `.smsbackup` files without one | every message that names none (notice) |
//! | `LogFile` absent | no log at all | standard error (notice) |
//! | `LogFacility` with syslog (Q23) | inverted (DAEMON → USER) | as written, like 1.43 (notice) |
//! | `DebugLevel` | bitmask | log level: bit 4 → trace, bit 1 → debug, else info (notice) |
//! | wrong enum/bool/number | silently the default, or `atoi` | error naming key, value and what is allowed |
//! | `PIN` | any text | 4 to 8 digits, else error (a wrong PIN costs a SIM attempt) |
//! | `[gammu] connection = at` | 19200 baud | 19200 baud (USB modems ignore it) |
//! | `connection` other than `at…`, `model = dummy` | other drivers | error: simgate drives AT modems on a serial port |
//! | `Service` other than `files` | other backends | error |
//!
//! A key the gammu file does not set gets gammu 1.42's code default (so
//! `SendTimeout` is 30 s and `InboxFormat` standard, spec Q4), except
//! `TransmitFormat` (above) and the settings gammu does not have
//! (`spool.settle_time`, `send.retry_delay`, ...), which get simgate's.
//!
//! # simgate's TOML
//!
//! Sections `[modem]`, `[spool]`, `[send]`, `[receive]`, `[hooks]`,
//! `[filters]`, `[database]`, `[http]`, `[webhooks]`, `[log]`; `etc/simgate.toml`
//! documents every key and its default. Durations are written `"30s"`,
//! `"10m"`, `"1h30m"`, `"500ms"` or as a bare number of seconds, at most a
//! year (gammu's keys of seconds too: `CommTimeout = 18446744073709551615`
//! is an error, not a timer the daemon's clock cannot add). Unknown
//! keys and tables are warnings. Relative paths are relative to the working
//! directory, as in gammu.
//!
//! Everything here is pure except [`load`] (reads the file) and
//! [`Config::check_paths`] (looks at the file system).

mod emit;
mod error;
mod gammu;
pub mod pin;
mod toml_file;
mod value;

#[cfg(test)]
mod tests;

pub use error::ConfigError;

use crate::modem::{self, ModemConfig, PortSettings};
use crate::pdu::EncodingPolicy;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default location of simgate's own configuration.
pub const DEFAULT_PATH: &str = "/etc/simgate/simgate.toml";

/// gammu-smsd's configuration, where gammu-smsd-inject looks by default.
pub const GAMMU_DEFAULT_PATH: &str = "/etc/gammu-smsdrc";

/// TP-VP code of the longest relative validity period (63 weeks), which
/// gammu puts in every message.
pub const MAX_RELATIVE_VALIDITY: u8 = 255;

/// How often the modem's storage is read without a `+CMTI` announcing
/// anything: a safety net, since the modem announces every stored message.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(300);

/// The shortest periodic soft reset (`reset_interval`, gammu's
/// `ResetFrequency`) other than never: initialising a modem again takes
/// seconds, and at `"1ms"` the daemon did nothing else (about 400 a
/// second, nothing sent).
pub const MIN_RESET_INTERVAL: Duration = Duration::from_secs(60);

/// The shortest periodic hard reset (`hard_reset_interval`, gammu's
/// `HardResetFrequency`) other than never: `AT+CFUN=1,1` restarts the
/// modem, which takes up to half a minute to come back.
pub const MIN_HARD_RESET_INTERVAL: Duration = Duration::from_secs(300);

/// The shortest status refresh (`status_interval`) other than never, and
/// the shortest check of a web stick or phone (`check_interval`): each
/// is a round of AT commands or HTTP requests, and a shorter period
/// leaves the device busy with nothing else.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The effective configuration, whichever file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The modem and its SIM (with several, the first: `[modem]`).
    pub modem: ModemSettings,
    /// More modems in the same daemon (`[[modems]]`, simgate's TOML only):
    /// each sends from the same queue and receives into the same inbox.
    pub more_modems: Vec<ModemSettings>,
    /// The spool directories and their file formats.
    pub spool: SpoolSettings,
    /// Sending: retries, give-up rules, ambiguous outcomes.
    pub send: SendSettings,
    /// Receiving: polling, multipart assembly, delivery reports.
    pub receive: ReceiveSettings,
    /// Commands run on events.
    pub hooks: HookSettings,
    /// Sender and SMSC filters for incoming messages.
    pub filters: FilterSettings,
    /// simgate's state database.
    pub database: DatabaseSettings,
    /// How much may be sent (`[limits]`, simgate's TOML only).
    pub limits: LimitSettings,
    /// Which numbers may be sent to (`[destinations]`, simgate's TOML only).
    pub destinations: DestinationSettings,
    /// How many parts may be sent in a calendar month (`[budget]`,
    /// simgate's TOML only).
    pub budget: BudgetSettings,
    /// The optional HTTP interface.
    pub http: HttpSettings,
    /// Webhooks (`[webhooks]`, simgate's TOML only).
    pub webhooks: WebhookSettings,
    /// Where and how much to log.
    pub log: LogSettings,
}

/// `[modem]`; from gammu's `[gammu]` and the modem keys of `[smsd]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModemSettings {
    /// Its name with several modems (`name`): in logs, `simgate status`
    /// and hooks' `PHONE_ID`. `None`: `modem` for the first (or
    /// `hooks.phone_id`), `modemN` for the Nth.
    pub name: Option<String>,
    /// The destinations it sends to with several modems (`prefixes`,
    /// matched against the number as written): a message to a number one
    /// modem's prefixes match goes out only through modems whose prefixes
    /// match it; the others through modems with no prefixes. Empty: any.
    pub prefixes: Vec<String>,
    /// This modem's own rate limits (`messages_per_hour`, ... in its
    /// section, over everything it sent; simgate's TOML only): at its
    /// limit it takes no message, and the others send them.
    pub limits: Vec<Limit>,
    /// The AT port (`device`/`port`).
    pub device: PathBuf,
    /// Line speed (`connection = at115200`; plain `at` is 19200 in gammu).
    pub baud: u32,
    /// RTS/CTS flow control.
    pub hardware_flow_control: bool,
    /// The SIM PIN (`PIN`), entered only under the PIN guard's rules.
    /// [`load`] also fills it from a systemd credential or `pin_file`
    /// ([`pin`]).
    pub pin: Option<SimPin>,
    /// A file holding the PIN (`pin_file`), read by [`load`] at start and
    /// at every reload.
    pub pin_file: Option<PathBuf>,
    /// SMSC for messages that do not name one (`SMSC`); the SIM's own when
    /// `None`.
    pub smsc: Option<String>,
    /// Timeout of ordinary AT commands.
    pub command_timeout: Duration,
    /// How long to wait for the network's answer to a sent PDU
    /// (`SendTimeout`).
    pub send_timeout: Duration,
    /// Ask the SIM's lock state at connect, entering the PIN when it asks
    /// for one, and initialise the device again after a send that failed
    /// for its state; `false`, none of this (`CheckSecurity`). Unlike
    /// gammu's, not asked again before each receive cycle.
    pub check_sim: bool,
    /// Signal/registration refresh interval; zero disables
    /// (`StatusFrequency`); else at least [`MIN_POLL_INTERVAL`].
    pub status_interval: Duration,
    /// Periodic soft reset; zero = never (`ResetFrequency`); else at least
    /// [`MIN_RESET_INTERVAL`].
    pub reset_interval: Duration,
    /// Periodic hard reset; zero = never (`HardResetFrequency`); else at
    /// least [`MIN_HARD_RESET_INTERVAL`].
    pub hard_reset_interval: Duration,
    /// A web stick instead of an AT port (`transport = "hilink"`); `None`
    /// for an AT modem.
    pub web: Option<WebStick>,
    /// A modem ModemManager owns, driven over D-Bus (`transport =
    /// "modemmanager"`); `None` otherwise.
    pub modemmanager: Option<ModemManagerModem>,
    /// Where its keys are written, for the messages that tell the user
    /// what to change there. Set when the file is read and again by
    /// [`Config::for_modem`] from the modem's place in the list.
    pub section: ModemSection,
}

/// Where a modem's keys are written in simgate's TOML: `[modem]`, or an
/// entry of `[[modems]]`. Shown as messages name it: `[modem]`, `the
/// [[modems]] entry named "b"`, `[[modems]] entry 2` (an entry without a
/// name, by its place among the entries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ModemSection {
    /// `[modem]` (also a gammu file's only modem).
    #[default]
    First,
    /// An entry of `[[modems]]`.
    Entry {
        /// Its place among the entries, from 1.
        number: usize,
        /// The `name` written in it.
        name: Option<String>,
    },
}

impl std::fmt::Display for ModemSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::First => f.write_str("[modem]"),
            Self::Entry {
                name: Some(name), ..
            } => write!(f, "the [[modems]] entry named {name:?}"),
            Self::Entry { number, name: None } => write!(f, "[[modems]] entry {number}"),
        }
    }
}

/// A modem ModemManager owns (`transport = "modemmanager"`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModemManagerModem {
    /// Which of ModemManager's modems (`device`): its equipment identifier
    /// (IMEI), its D-Bus path or its index; empty or `any` for the only one.
    pub modem: String,
    /// The D-Bus address of the bus ModemManager is on (`bus`); `None` for
    /// the system bus (whose address `DBUS_SYSTEM_BUS_ADDRESS` may name).
    pub bus: Option<String>,
}

/// The web sticks simgate drives (`[modem] transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebKind {
    /// Huawei HiLink (E3372h, E3531, ...).
    Hilink,
    /// A ZTE web stick's `goform` interface (MF823, ...;
    /// `transport = "zte"`).
    Zte,
    /// An Android phone running the "SMS Gateway for Android" app in its
    /// Local Server mode (`transport = "android"`).
    Android,
}

impl WebKind {
    /// The word in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hilink => "hilink",
            Self::Zte => "zte",
            Self::Android => "android",
        }
    }
}

/// A stick driven through its web interface rather than AT commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebStick {
    /// Which web interface.
    pub kind: WebKind,
    /// Its address, `http://192.168.8.1` (`device`).
    pub url: String,
    /// The login name when it asks for one (`user`, `admin` by default).
    pub user: String,
    /// The login password (`password`, or read from `password_file`).
    pub password: Option<Password>,
    /// A file holding the password (`password_file`), read by [`load`].
    pub password_file: Option<PathBuf>,
    /// How often it is asked whether messages arrived (`check_interval`,
    /// at least [`MIN_POLL_INTERVAL`]): it has no way to tell on its own.
    pub check_interval: Duration,
    /// What only an Android phone has (`transport = "android"`).
    pub android: Option<AndroidPhone>,
}

/// The settings only an Android phone's gateway app needs: it pushes
/// received messages and states to simgate as signed webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AndroidPhone {
    /// The key the app signs its webhooks with (`signing_key`, or read
    /// from `signing_key_file`).
    pub signing_key: Option<Password>,
    /// A file holding the signing key (`signing_key_file`), read by
    /// [`load`].
    pub signing_key_file: Option<PathBuf>,
    /// Where simgate listens for the app's webhooks (`webhook_listen`).
    pub webhook_listen: std::net::SocketAddr,
    /// The address the phone posts to (`webhook_url`); by default
    /// `http://` the address of this machine facing the phone, the port
    /// of `webhook_listen`, and [`WEBHOOK_PATH`].
    pub webhook_url: Option<String>,
}

/// Where simgate listens for the app's webhooks by default: every
/// address, port 8555.
pub const DEFAULT_WEBHOOK_LISTEN: std::net::SocketAddr = std::net::SocketAddr::V4(
    std::net::SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 8555),
);

/// The path simgate takes the app's webhooks on.
pub const WEBHOOK_PATH: &str = "/simgate/webhook";

/// How often a web stick is asked whether messages arrived, by default:
/// one small request every 5 s, 12 a minute.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(5);

impl WebStick {
    /// A stick of `kind` at `url`, with every default.
    pub fn new(kind: WebKind, url: &str) -> Self {
        Self {
            kind,
            url: url.trim_end_matches('/').to_owned(),
            // The app's Local Server offers the user `sms` by default.
            user: if kind == WebKind::Android {
                "sms"
            } else {
                "admin"
            }
            .to_owned(),
            password: None,
            password_file: None,
            check_interval: DEFAULT_CHECK_INTERVAL,
            android: (kind == WebKind::Android).then_some(AndroidPhone {
                signing_key: None,
                signing_key_file: None,
                webhook_listen: DEFAULT_WEBHOOK_LISTEN,
                webhook_url: None,
            }),
        }
    }

    /// Whether `url` is an address a web stick can have: `http://` and a
    /// host (the sticks speak plain HTTP on their own little network).
    pub fn valid_url(url: &str) -> bool {
        url.strip_prefix("http://").is_some_and(|rest| {
            !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
        })
    }

    /// `url` without the user and password of its authority
    /// (`http://USER:PASSWORD@HOST`), and those, if it had any.
    pub(crate) fn split_credentials(url: &str) -> (String, Option<String>) {
        let Some(rest) = url.strip_prefix("http://") else {
            return (url.to_owned(), None);
        };
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        match rest[..authority_end].rsplit_once('@') {
            Some((credentials, host)) => (
                format!("http://{host}{}", &rest[authority_end..]),
                Some(credentials.to_owned()),
            ),
            None => (url.to_owned(), None),
        }
    }
}

/// An Android phone from a gammu-smsdrc's
/// `device = http://USER:PASSWORD@PHONE:8080/?signing_key=KEY`
/// (`connection = android`, a simgate extension): the address without
/// the credentials, which go to the user, password and signing key.
/// `Err` says what is allowed.
pub(crate) fn android_device(device: &str) -> Result<WebStick, &'static str> {
    const ALLOWED: &str = "the phone's address with the app's user, password and webhook signing \
                           key, such as http://sms:PASSWORD@192.168.1.20:8080/?signing_key=KEY, \
                           with `connection = android`";
    let rest = device.strip_prefix("http://").ok_or(ALLOWED)?;
    let (address, query) = match rest.split_once('?') {
        Some((address, query)) => (address, Some(query)),
        None => (rest, None),
    };
    let (credentials, host) = match address.rsplit_once('@') {
        Some((credentials, host)) => (Some(credentials), host),
        None => (None, address),
    };
    let url = format!("http://{}", host.trim_end_matches('/'));
    if !WebStick::valid_url(&url) || host.trim_end_matches('/').contains('/') {
        return Err(ALLOWED);
    }
    let mut web = WebStick::new(WebKind::Android, &url);
    if let Some(credentials) = credentials {
        let (user, password) = credentials.split_once(':').ok_or(ALLOWED)?;
        if user.is_empty() {
            return Err(ALLOWED);
        }
        web.user = user.to_owned();
        web.password = Some(Password::new(password));
    }
    let key = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("signing_key="))
        .filter(|key| !key.is_empty())
        .ok_or(ALLOWED)?;
    if let Some(android) = web.android.as_mut() {
        android.signing_key = Some(Password::new(key));
    }
    Ok(web)
}

/// A password, kept out of debug output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The password itself, for the login.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// `[spool]`; gammu's files backend keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSettings {
    /// Where received messages are written (`InboxPath`).
    pub inbox: PathBuf,
    /// Where producers drop messages to send (`OutboxPath`).
    pub outbox: PathBuf,
    /// Where sent files go; `None` deletes them (`SentSMSPath`, which in
    /// gammu defaults to the outbox, meaning delete).
    pub sent: Option<PathBuf>,
    /// Where failed files go; `None` deletes them (`ErrorSMSPath`, which in
    /// gammu defaults to `SentSMSPath`).
    pub error: Option<PathBuf>,
    /// Format of inbox files (`InboxFormat`).
    pub inbox_format: FileFormat,
    /// Format simgate's injector writes (`OutboxFormat`); the daemon reads
    /// both kinds of outbox file regardless.
    pub outbox_format: FileFormat,
    /// Alphabet for `.txt` outbox files (`TransmitFormat`).
    pub transmit_format: EncodingPolicy,
    /// Rescan interval after an empty outbox scan (`CommTimeout`).
    pub scan_interval: Duration,
    /// How long an outbox file must stay unchanged before it is taken
    /// (gammu takes half-written files, spec Q1).
    pub settle_time: Duration,
    /// Order in which outbox files are taken (spec Q16).
    pub outbox_order: OutboxOrder,
    /// The file mode creation mask for the files simgate writes (inbox
    /// files get `0666` minus it, like gammu's); `None` keeps the one
    /// simgate was started with.
    pub umask: Option<u32>,
}

/// `[send]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendSettings {
    /// Send at all (`Send`).
    pub enabled: bool,
    /// Attempts before a message goes to the error directory; `None` =
    /// unlimited, gammu's behaviour (`MaxRetries` + 1 when set).
    pub max_attempts: Option<u32>,
    /// Age after which an unsent message goes to the error directory;
    /// `None` = no limit.
    pub max_age: Option<Duration>,
    /// First delay before retrying a failed send (`RetryTimeout`).
    pub retry_delay: Duration,
    /// Longest delay between retries (the delay doubles up to it).
    pub retry_delay_max: Duration,
    /// What to do when the modem took a PDU but the outcome is unknown.
    pub ambiguous: AmbiguousPolicy,
    /// The validity period every message asks the SMSC for (TP-VP):
    /// relative "maximum", as gammu sends, unless set.
    pub validity: crate::pdu::Validity,
}

/// `[receive]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveSettings {
    /// Receive at all (`Receive`).
    pub enabled: bool,
    /// How often the modem's storage is read without an announcement
    /// (`ReceiveFrequency`; simgate relies on `+CMTI` and reads at once).
    pub poll_interval: Duration,
    /// How long to wait for the missing parts of a concatenated message
    /// (`MultipartTimeout`).
    pub multipart_timeout: Duration,
    /// Delivery reports: request and store/log them (`DeliveryReport`).
    pub delivery_report: DeliveryReport,
}

/// `[hooks]`: shell command lines, run with `/bin/sh -c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSettings {
    /// After a message was stored in the inbox (`RunOnReceive`).
    pub run_on_receive: Option<String>,
    /// After a message was sent and moved (`RunOnSent`).
    pub run_on_sent: Option<String>,
    /// After a failed send or connection attempt (`RunOnFailure`).
    pub run_on_failure: Option<String>,
    /// After an incoming call was hung up (`RunOnIncomingCall`).
    pub run_on_incoming_call: Option<String>,
    /// When the parts sent this month first reach the budget's warning
    /// threshold (simgate's TOML only).
    pub run_on_budget_warning: Option<String>,
    /// How long a hook may run before simgate stops waiting for it.
    pub timeout: Duration,
    /// Reject incoming calls (`HangupCalls`).
    pub hangup_calls: bool,
    /// Exported to hooks as `PHONE_ID` (`PhoneID`).
    pub phone_id: Option<String>,
}

/// `[filters]`: exact, case-sensitive matches on incoming messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilterSettings {
    /// Only these senders pass (`[include_numbers]`).
    pub include_numbers: Vec<String>,
    /// These senders are dropped (`[exclude_numbers]`).
    pub exclude_numbers: Vec<String>,
    /// Only messages via these SMSCs pass (`[include_smsc]`).
    pub include_smsc: Vec<String>,
    /// Messages via these SMSCs are dropped (`[exclude_smsc]`).
    pub exclude_smsc: Vec<String>,
    /// More include numbers, one a line (`IncludeNumbersFile`).
    pub include_numbers_file: Option<PathBuf>,
    /// More exclude numbers (`ExcludeNumbersFile`).
    pub exclude_numbers_file: Option<PathBuf>,
    /// More include SMSCs (`IncludeSMSCFile`).
    pub include_smsc_file: Option<PathBuf>,
    /// More exclude SMSCs (`ExcludeSMSCFile`).
    pub exclude_smsc_file: Option<PathBuf>,
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatabaseSettings {
    /// The SQLite file holding simgate's state; `None`: one per
    /// configuration file in the state directory ([`crate::instance`]).
    pub path: Option<PathBuf>,
}

/// `[budget]`: a monthly budget of SMS parts (what the network bills).
/// Counted are the parts handed to the device in the calendar month of
/// the system's time zone, those in doubt included; a part known not to
/// have gone out is not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSettings {
    /// The most parts sent in a month; `None`: no budget. A message that
    /// would go over it waits in the outbox until the next month (or a
    /// reload that raises the budget).
    pub monthly_parts: Option<u32>,
    /// At what share of the budget (in percent) a warning is logged and
    /// `run_on_budget_warning` runs, once a month.
    pub warn_percent: u8,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            monthly_parts: None,
            warn_percent: 80,
        }
    }
}

/// `[http]`: the HTTP API of the original gateway (off unless `listen`
/// is set, in the file or with `simgate run --http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Address to listen on; `None` = no HTTP interface.
    pub listen: Option<SocketAddr>,
    /// The bearer token every request but `GET /health` must carry.
    pub token: Option<String>,
    /// A file holding the token, instead of `token`: [`load`] reads it
    /// into `token`, and the API reads it again when it starts.
    pub token_file: Option<PathBuf>,
    /// How long `POST /sms/send` waits for the outcome before it answers
    /// 202 (zero: at once).
    pub wait: Duration,
    /// Messages one client may queue per hour (0: no limit).
    pub client_messages_per_hour: u32,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: u32,
}

impl HttpSettings {
    /// The original gateway's limit: 10 messages per hour per client.
    pub const DEFAULT_CLIENT_MESSAGES_PER_HOUR: u32 = 10;
    /// Room for the longest text a message can carry (255 parts of UTF-8)
    /// with its JSON around it.
    pub const DEFAULT_MAX_BODY_BYTES: u32 = 64 * 1024;
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: None,
            token: None,
            token_file: None,
            wait: Duration::from_secs(30),
            client_messages_per_hour: Self::DEFAULT_CLIENT_MESSAGES_PER_HOUR,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Reads an HTTP listen address: `ADDRESS:PORT` (`[::1]:8080` for IPv6),
/// or a bare port, which means loopback (`127.0.0.1:PORT`).
pub fn parse_listen(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Some(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().ok()
}

/// `[webhooks]`: JSON POSTs on events, signed, queued in the database
/// and retried (see the README, "Webhooks").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// The `http://` URLs every event goes to; none: webhooks are off.
    pub urls: Vec<String>,
    /// The HMAC key (from `secret`, or read from `secret_file` at load).
    pub secret: Option<String>,
    /// Where the key came from, when from a file.
    pub secret_file: Option<PathBuf>,
    /// The event kinds posted.
    pub events: Vec<String>,
    /// How long after an event simgate keeps trying a URL.
    pub max_retry_time: Duration,
    /// The wait after the first failed attempt, doubled after each.
    pub retry_delay: Duration,
    /// The longest wait between attempts.
    pub retry_delay_max: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            secret: None,
            secret_file: None,
            events: crate::webhook::EVENTS
                .iter()
                .map(|e| (*e).to_owned())
                .collect(),
            max_retry_time: Duration::from_secs(24 * 3600),
            retry_delay: Duration::from_secs(10),
            retry_delay_max: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookSettings {
    /// Whether events of `kind` are posted.
    pub(crate) fn wants(&self, kind: &str) -> bool {
        !self.urls.is_empty() && self.events.iter().any(|e| e == kind)
    }
}

/// `[destinations]`: which numbers messages may go to. An entry ending in
/// `*` is a prefix, any other an exact number. With an allow list, only
/// what it matches may be sent to; what the deny list matches never is.
/// The files hold one entry a line (`#` starts a comment) and are read
/// again on SIGHUP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationSettings {
    /// Entries allowed (none: every number, less the denied).
    pub allow: Vec<String>,
    /// Entries denied.
    pub deny: Vec<String>,
    /// A file of more allowed entries.
    pub allow_file: Option<PathBuf>,
    /// A file of more denied entries.
    pub deny_file: Option<PathBuf>,
}

/// `[limits]`: rate limits, enforced before a message reaches the modem
/// and kept in the database, so a restart does not reset them. No limit
/// unless one is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitSettings {
    /// Every limit set (a key with a value above zero).
    pub rules: Vec<Limit>,
}

/// One rate limit: at most `max` of `unit` per `window`, over everything
/// sent or per destination number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Everything sent, or each destination on its own.
    pub scope: LimitScope,
    /// What is counted.
    pub unit: LimitUnit,
    /// The sliding window counted over.
    pub window: LimitWindow,
    /// The most allowed in any window.
    pub max: u32,
}

/// What a [`Limit`] counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// Every message sent.
    All,
    /// The messages to one destination number.
    Destination,
}

/// What a [`Limit`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitUnit {
    /// Messages, however long.
    Messages,
    /// SMS parts (what the network bills).
    Parts,
}

/// The sliding window of a [`Limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitWindow {
    /// The last 60 seconds.
    Minute,
    /// The last hour.
    Hour,
    /// The last 24 hours.
    Day,
}

impl LimitWindow {
    /// How long the window is.
    pub fn length(self) -> Duration {
        Duration::from_secs(match self {
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        })
    }
}

impl Limit {
    /// The `[limits]` keys, each with the limit it sets.
    pub const KEYS: [(&'static str, LimitScope, LimitUnit, LimitWindow); 10] = [
        (
            "messages_per_minute",
            LimitScope::All,
            LimitUnit::Messages,
            LimitWindow::Minute,
        ),
        (
            "messages_per_hour",
            LimitScope::All,
            LimitUnit::Messages,
            LimitWindow::Hour,
        ),
        (
            "messages_per_day",
            LimitScope::All,
            LimitUnit::Messages,
            LimitWindow::Day,
        ),
        (
            "parts_per_minute",
            LimitScope::All,
            LimitUnit::Parts,
            LimitWindow::Minute,
        ),
        (
            "parts_per_hour",
            LimitScope::All,
            LimitUnit::Parts,
            LimitWindow::Hour,
        ),
        (
            "parts_per_day",
            LimitScope::All,
            LimitUnit::Parts,
            LimitWindow::Day,
        ),
        (
            "destination_messages_per_hour",
            LimitScope::Destination,
            LimitUnit::Messages,
            LimitWindow::Hour,
        ),
        (
            "destination_messages_per_day",
            LimitScope::Destination,
            LimitUnit::Messages,
            LimitWindow::Day,
        ),
        (
            "destination_parts_per_hour",
            LimitScope::Destination,
            LimitUnit::Parts,
            LimitWindow::Hour,
        ),
        (
            "destination_parts_per_day",
            LimitScope::Destination,
            LimitUnit::Parts,
            LimitWindow::Day,
        ),
    ];

    /// The `[limits]` key that sets this limit.
    pub fn key(&self) -> &'static str {
        Self::KEYS
            .iter()
            .find(|(_, scope, unit, window)| {
                (*scope, *unit, *window) == (self.scope, self.unit, self.window)
            })
            .map_or("limits", |(key, ..)| key)
    }
}

/// `[log]`; from gammu's `LogFile`, `DebugLevel`, `LogFacility`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Where log lines go.
    pub target: LogTarget,
    /// The most detailed level written.
    pub level: LogLevel,
    /// syslog facility, used with [`LogTarget::Syslog`].
    pub facility: SyslogFacility,
}

/// A SIM PIN, kept out of `Debug` and `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SimPin(String);

impl SimPin {
    /// Wraps a PIN; [`SimPin::parse`] validates.
    fn new(pin: &str) -> Self {
        Self(pin.to_owned())
    }

    /// Validates a PIN: 4 to 8 digits. The error never contains the value.
    pub fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        if (4..=8).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self::new(value))
        } else {
            Err(ConfigError::InvalidValue {
                key: key.to_owned(),
                value: "<redacted>".to_owned(),
                allowed: "4 to 8 digits, without quotes or spaces".to_owned(),
            })
        }
    }

    /// The PIN itself, for the modem and for an explicit `--show-pin`.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// The modem driver's PIN type.
    pub(crate) fn to_modem_pin(&self) -> modem::Pin {
        modem::Pin::new(self.0.clone())
    }
}

impl fmt::Debug for SimPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimPin(<redacted>)")
    }
}

impl fmt::Display for SimPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Inbox/outbox file format (gammu's `InboxFormat`/`OutboxFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// Text in the locale's charset (UTF-8), or raw bytes for 8-bit data.
    Standard,
    /// UTF-16BE with a BOM.
    Unicode,
    /// gammu's smsbackup format.
    Detail,
}

/// Delivery reports (`DeliveryReport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryReport {
    /// Not requested; one that arrives anyway is stored like `sms`.
    No,
    /// Requested for every message and logged, not stored.
    Log,
    /// Requested for every message and stored in the inbox.
    Sms,
}

/// What to do with a send whose outcome is unknown (the modem took the
/// PDU, then no `+CMGS` answer came).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmbiguousPolicy {
    /// Move it to the error directory with the reason: never sent twice.
    Error,
    /// Send it again, as gammu does: never lost, perhaps received twice.
    Resend,
}

/// Order in which outbox files are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxOrder {
    /// Byte order of the names (`C` collation): `OUTA…` before `OUTZ…`.
    Bytes,
    /// The locale's collation, as gammu's `alphasort` under e.g.
    /// `en_US.UTF-8`.
    Locale,
}

/// Where log lines go (gammu's `LogFile`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogTarget {
    /// Standard error (the journal under systemd).
    Stderr,
    /// Standard output.
    Stdout,
    /// syslog, with [`LogSettings::facility`].
    Syslog,
    /// A file, opened for appending.
    File(PathBuf),
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// What happens to each message (the default).
    Info,
    /// Decisions and state changes.
    Debug,
    /// Everything, including AT traffic.
    Trace,
}

/// syslog facilities simgate accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyslogFacility {
    /// `daemon` (the default).
    Daemon,
    /// `user`.
    User,
    /// `local0` ... `local7`.
    Local(u8),
}

/// Which kind of file a configuration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// simgate's own TOML.
    Toml,
    /// gammu-smsd's INI (`gammu-smsdrc`).
    Gammu,
}

/// How much a notice matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// A documented difference or an ignored key: worth knowing.
    Info,
    /// Probably a mistake, or a behaviour that can lose data.
    Warning,
}

/// Something to log once at start: a key that is ignored, unknown or
/// handled differently from gammu, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notice {
    /// How much it matters.
    pub severity: Severity,
    /// The key or section concerned, as `[smsd] InboxPath` or
    /// `spool.inbox`.
    pub key: String,
    /// What simgate does and why; never contains a secret.
    pub message: String,
}

impl Notice {
    fn info(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Info,
            key: key.into(),
            message: message.into(),
        }
    }

    fn warning(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Writes the notice to the log (`tracing`), at warn or info level.
    pub fn log(&self) {
        match self.severity {
            Severity::Warning => tracing::warn!(key = %self.key, "{}", self.message),
            Severity::Info => tracing::info!(key = %self.key, "{}", self.message),
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Warning => "warning",
            Severity::Info => "note",
        };
        write!(f, "{label}: {}: {}", self.key, self.message)
    }
}

/// A parsed configuration with what to tell the user about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The effective configuration.
    pub config: Config,
    /// Notices to log once at start, in file order.
    pub notices: Vec<Notice>,
    /// Which format the file was in.
    pub source: SourceFormat,
    /// Why the file names no modem, when it does not (no device for the
    /// first modem, or the placeholder `/dev/null`): an error for the
    /// commands that drive one ([`load`], [`parse`]), none for those that
    /// only queue or read the state ([`load_without_secrets`]).
    modem_unconfigured: Option<error::NoModem>,
}

impl Loaded {
    /// Whether the file names a modem (see `modem_unconfigured`).
    pub fn names_a_modem(&self) -> bool {
        self.modem_unconfigured.is_none()
    }

    /// Logs every notice once.
    pub fn log_notices(&self) {
        for notice in &self.notices {
            notice.log();
        }
    }
}

/// Reads and parses `path`, telling the format by content. Relative paths
/// in a gammu file are taken relative to the current directory, as gammu
/// does. The SIM PIN is then settled from a systemd credential, `pin_file`
/// or the file itself ([`pin`]), with a warning when others can read it,
/// and the other secrets' files are read: every web stick's or phone's
/// `password_file` and `signing_key_file`, and `[http] token_file`. Last,
/// what must be different directories or devices is compared by identity
/// (`sent`/`error` and the outbox, the modems' devices), not by spelling.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let mut loaded = needing_a_modem(read_file(path)?)?;
    pin::resolve(&mut loaded, path, &pin::PinEnv::from_env())?;
    read_password_file(&mut loaded.config)?;
    read_signing_key_file(&mut loaded.config)?;
    read_token_file(&mut loaded.config)?;
    check_spool_identity(&mut loaded)?;
    if loaded.source == SourceFormat::Toml && !loaded.config.more_modems.is_empty() {
        toml_file::check_modems(&loaded.config, same_file)?;
    }
    Ok(loaded)
}

/// Reads and parses `path` as [`load`] does, without the daemon's
/// secrets: no PIN, password, signing key or token file is read (their
/// paths stay as written). For the commands that queue messages or read
/// the state (`send`, `inject`, `status`), whose users need not be able to
/// read the files only the daemon reads. Nor need they a modem: a file
/// that names none yet (the package's own, gammu's `port = /dev/null`)
/// is read, and its messages wait for the daemon.
pub fn load_without_secrets(path: &Path) -> Result<Loaded, ConfigError> {
    let mut loaded = read_file(path)?;
    check_spool_identity(&mut loaded)?;
    Ok(loaded)
}

/// `loaded`, or why it names no modem.
fn needing_a_modem(mut loaded: Loaded) -> Result<Loaded, ConfigError> {
    match loaded.modem_unconfigured.take() {
        Some(no_modem) => Err(no_modem.into()),
        None => Ok(loaded),
    }
}

/// Whether `a` and `b` name the same file or directory, whatever the
/// spelling: the same device and inode (or, for two device nodes, the same
/// device) when both exist, through symlinks and `..`; otherwise the same
/// absolute path. Reads the file system.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => {
            let devices = a.file_type().is_char_device() && b.file_type().is_char_device();
            (a.dev(), a.ino()) == (b.dev(), b.ino()) || (devices && a.rdev() == b.rdev())
        }
        _ => {
            let absolute = |path: &Path| {
                std::path::absolute(path)
                    .map_or_else(|_| path.to_owned(), |path| value::normalise(&path, None))
            };
            absolute(a) == absolute(b)
        }
    }
}

/// The sent and error directories compared with the outbox by identity
/// ([`same_file`]; the parsers compare spellings only): the outbox under
/// another name (an absolute path for a relative one, a symlink) is
/// refused in simgate's TOML, where the daemon's move into it lost every
/// sent file without a word. In a gammu file, where `SentSMSPath` or
/// `ErrorSMSPath` equal to `OutboxPath` means "delete the files" (spec
/// Q13), it means that under any spelling, as the parser does for the
/// same spelling.
fn check_spool_identity(loaded: &mut Loaded) -> Result<(), ConfigError> {
    let spool = &mut loaded.config.spool;
    let outbox = spool.outbox.clone();
    let is_outbox = |dir: &Option<PathBuf>| dir.as_deref().is_some_and(|d| same_file(d, &outbox));
    match loaded.source {
        SourceFormat::Toml => {
            for (key, dir) in [("spool.sent", &spool.sent), ("spool.error", &spool.error)] {
                if let Some(dir) = dir.as_ref().filter(|_| is_outbox(dir)) {
                    return Err(ConfigError::InvalidValue {
                        key: key.to_owned(),
                        value: dir.display().to_string(),
                        allowed: format!(
                            "a directory other than spool.outbox ({}), which this one is under \
                             another name, or \"\" to delete the files",
                            outbox.display()
                        ),
                    });
                }
            }
        }
        SourceFormat::Gammu => {
            if is_outbox(&spool.sent) {
                spool.sent = None;
                loaded.notices.push(Notice::info(
                    "[smsd] SentSMSPath",
                    "is the outbox under another name: sent files are deleted, as gammu does \
                     when SentSMSPath is the OutboxPath",
                ));
            }
            if is_outbox(&spool.error) {
                spool.error = None;
                loaded.notices.push(Notice::warning(
                    "[smsd] ErrorSMSPath",
                    "is the outbox under another name (or follows SentSMSPath, which is): \
                     failed outbox files are deleted, as gammu does when ErrorSMSPath is the \
                     OutboxPath; set ErrorSMSPath to another directory to keep them",
                ));
            }
        }
    }
    Ok(())
}

/// The HTTP token in `text` (a token file's content): one word, white
/// space around it ignored; `None` when there is none, or more than one.
pub(crate) fn http_token(text: &str) -> Option<&str> {
    let token = text.trim();
    (!token.is_empty() && !token.chars().any(char::is_whitespace)).then_some(token)
}

/// Reads `[http] token_file` into the token, so that a missing or empty
/// file stops `check-config` and the daemon's start before the modem is
/// opened, not only the HTTP API's start after it (the API reads the file
/// again when it starts).
fn read_token_file(config: &mut Config) -> Result<(), ConfigError> {
    let Some(file) = &config.http.token_file else {
        return Ok(());
    };
    let problem = |problem: String| ConfigError::Path {
        key: "http.token_file".to_owned(),
        path: file.clone(),
        problem,
    };
    let text = std::fs::read_to_string(file).map_err(|error| problem(error.to_string()))?;
    let token = http_token(&text)
        .ok_or_else(|| problem("it must hold one token without spaces".to_owned()))?;
    config.http.token = Some(token.to_owned());
    Ok(())
}

/// Every modem's settings: the first, then each of `[[modems]]`.
fn every_modem(config: &mut Config) -> impl Iterator<Item = &mut ModemSettings> {
    std::iter::once(&mut config.modem).chain(config.more_modems.iter_mut())
}

/// The first line of a secret's file, `key`'s value: a file that cannot
/// be read is an error naming the key and the path (not one saying the
/// configuration itself cannot be read).
fn first_line(key: &str, file: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|error| ConfigError::Path {
        key: key.to_owned(),
        path: file.to_owned(),
        problem: error.to_string(),
    })?;
    Ok(text.lines().next().unwrap_or("").to_owned())
}

/// The key `name` of the modem at `index` in [`every_modem`]'s order, as
/// the errors name it: `modem.name` for the first, `modems.name` for the
/// others (as for `pin_file`).
fn modem_key(index: usize, name: &str) -> String {
    let table = if index == 0 { "modem" } else { "modems" };
    format!("{table}.{name}")
}

/// Reads each web stick's or phone's `password_file` (its first line)
/// into its password.
fn read_password_file(config: &mut Config) -> Result<(), ConfigError> {
    for (index, modem) in every_modem(config).enumerate() {
        let Some(web) = modem.web.as_mut() else {
            continue;
        };
        if let Some(file) = &web.password_file {
            let key = modem_key(index, "password_file");
            web.password = Some(Password::new(first_line(&key, file)?));
        }
    }
    Ok(())
}

/// Reads each Android phone's `signing_key_file` (its first line) into
/// its signing key. An empty key is refused: anyone could sign with it.
fn read_signing_key_file(config: &mut Config) -> Result<(), ConfigError> {
    for (index, modem) in every_modem(config).enumerate() {
        let Some(android) = modem.web.as_mut().and_then(|web| web.android.as_mut()) else {
            continue;
        };
        let Some(file) = &android.signing_key_file else {
            continue;
        };
        let key_name = modem_key(index, "signing_key_file");
        let key = first_line(&key_name, file)?.trim().to_owned();
        if key.is_empty() {
            return Err(ConfigError::Path {
                key: key_name,
                path: file.clone(),
                problem: "its first line is empty; a webhook signed with an empty key would be \
                          accepted from anyone"
                    .to_owned(),
            });
        }
        android.signing_key = Some(Password::new(key));
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<Loaded, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    let base_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match String::from_utf8(bytes) {
        Ok(text) => parse_any(&text, &base_dir),
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let bytes = error.into_bytes();
            let text = String::from_utf8_lossy(&bytes);
            if detect(&text) == SourceFormat::Toml {
                let line = 1 + bytes[..valid].iter().filter(|&&b| b == b'\n').count();
                return Err(ConfigError::Syntax {
                    line,
                    message: "the file is not valid UTF-8, which TOML requires".to_owned(),
                });
            }
            let mut loaded = gammu::parse(&text, &base_dir)?;
            loaded.notices.insert(
                0,
                Notice::warning(
                    path.display().to_string(),
                    "the file is not valid UTF-8; bytes that are not were replaced by U+FFFD \
                     (write paths and commands in UTF-8)",
                ),
            );
            Ok(loaded)
        }
    }
}

/// Parses text in either format, telling them apart by content ([`detect`]).
/// `base_dir` anchors relative paths of a gammu file.
pub fn parse(text: &str, base_dir: &Path) -> Result<Loaded, ConfigError> {
    needing_a_modem(parse_any(text, base_dir)?)
}

/// [`parse`], keeping a missing modem in [`Loaded`].
fn parse_any(text: &str, base_dir: &Path) -> Result<Loaded, ConfigError> {
    match detect(text) {
        SourceFormat::Toml => toml_file::parse(text),
        SourceFormat::Gammu => gammu::parse(text, base_dir),
    }
}

/// Parses simgate's TOML.
pub fn parse_toml(text: &str) -> Result<Loaded, ConfigError> {
    needing_a_modem(toml_file::parse(text)?)
}

/// Parses a gammu-smsd configuration; relative paths are joined to
/// `base_dir` (gammu uses them relative to the directory it was started in).
pub fn parse_gammu(text: &str, base_dir: &Path) -> Result<Loaded, ConfigError> {
    needing_a_modem(gammu::parse(text, base_dir)?)
}

/// Tells the two formats apart by content (see the module documentation).
pub fn detect(text: &str) -> SourceFormat {
    let text = text.trim_start_matches('\u{feff}');
    let gammu_name =
        |name: &str| name.eq_ignore_ascii_case("gammu") || name.eq_ignore_ascii_case("smsd");
    match text.parse::<toml::Table>() {
        Ok(table) if table.keys().any(|key| gammu_name(key)) => SourceFormat::Gammu,
        Ok(_) => SourceFormat::Toml,
        Err(_) => {
            let ini = crate::ini::Ini::parse(text);
            if ini.has_section("gammu") || ini.has_section("smsd") {
                SourceFormat::Gammu
            } else {
                SourceFormat::Toml
            }
        }
    }
}

impl Config {
    /// A configuration with every default and the given modem device.
    pub fn new(device: impl Into<PathBuf>) -> Self {
        Self {
            modem: ModemSettings::new(device),
            more_modems: Vec::new(),
            spool: SpoolSettings::default(),
            send: SendSettings::default(),
            receive: ReceiveSettings::default(),
            hooks: HookSettings::default(),
            filters: FilterSettings::default(),
            database: DatabaseSettings::default(),
            limits: LimitSettings::default(),
            destinations: DestinationSettings::default(),
            budget: BudgetSettings::default(),
            http: HttpSettings::default(),
            webhooks: WebhookSettings::default(),
            log: LogSettings::default(),
        }
    }

    /// Every modem's name, in order: its own, or `modem` for the first
    /// (`hooks.phone_id` when set) and `modemN` for the Nth.
    pub fn modem_names(&self) -> Vec<String> {
        std::iter::once(&self.modem)
            .chain(&self.more_modems)
            .enumerate()
            .map(|(index, modem)| match (&modem.name, index) {
                (Some(name), _) => name.clone(),
                (None, 0) => self
                    .hooks
                    .phone_id
                    .clone()
                    .unwrap_or_else(|| "modem".to_owned()),
                (None, n) => format!("modem{}", n + 1),
            })
            .collect()
    }

    /// Where modem `index` (0: `[modem]`) has its keys written, by its
    /// place in the list (a configuration built in code has no other).
    pub fn modem_section(&self, index: usize) -> ModemSection {
        match index.checked_sub(1) {
            None => ModemSection::First,
            Some(entry) => ModemSection::Entry {
                number: index,
                name: self.more_modems.get(entry).and_then(|m| m.name.clone()),
            },
        }
    }

    /// The configuration as modem `index` (0: `[modem]`) sees it: that
    /// modem as `modem`, and, with several, its name as hooks'
    /// `PHONE_ID`.
    pub fn for_modem(&self, index: usize) -> Config {
        let mut config = self.clone();
        if index > 0 {
            if let Some(modem) = self.more_modems.get(index - 1) {
                config.modem = modem.clone();
            }
        }
        config.modem.section = self.modem_section(index);
        if !self.more_modems.is_empty() {
            config.hooks.phone_id = self.modem_names().get(index).cloned();
        }
        config.more_modems = Vec::new();
        config
    }

    /// The modem driver's configuration. Backoff, health check and the
    /// by-id directories keep the driver's defaults.
    pub(crate) fn modem_config(&self) -> ModemConfig {
        let modem = &self.modem;
        let mut config = ModemConfig::new(modem.device.clone());
        config.port = PortSettings {
            baud: modem.baud,
            hardware_flow_control: modem.hardware_flow_control,
        };
        config.init.pin = modem.pin.as_ref().map(SimPin::to_modem_pin);
        config.init.smsc = modem.smsc.clone();
        config.init.skip_sim_check = !modem.check_sim;
        config.timeouts.command = modem.command_timeout;
        config.timeouts.send = modem.send_timeout;
        config
    }

    /// The configuration as simgate TOML, with the PIN redacted (a comment
    /// says one is set). For `check-config` and `import-gammu`.
    pub fn to_toml(&self) -> String {
        emit::to_toml(self, false)
    }

    /// The configuration as simgate TOML including the PIN, for writing a
    /// working configuration file.
    pub fn to_toml_with_pin(&self) -> String {
        emit::to_toml(self, true)
    }

    /// Every phone's `webhook_listen` and the HTTP API's `listen` on ports
    /// of their own, checked again after `simgate run --http` set the
    /// latter (loading checks what the file says).
    pub fn check_listeners(&self) -> Result<(), ConfigError> {
        let modems: Vec<&ModemSettings> = std::iter::once(&self.modem)
            .chain(&self.more_modems)
            .collect();
        toml_file::check_listeners(self, &modems)
    }

    /// Checks what gammu checks at start, and a little more: the spool
    /// directories in use exist and are directories, the filter files are
    /// readable, a log file's directory exists. Reads the file system.
    pub fn check_paths(&self) -> Result<(), ConfigError> {
        let problem = |key: &str, path: &Path, problem: String| ConfigError::Path {
            key: key.to_owned(),
            path: path.to_owned(),
            problem,
        };
        let directory = |key: &str, path: &Path| match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(problem(key, path, "is not a directory".to_owned())),
            Err(error) => Err(problem(key, path, error.to_string())),
        };
        if self.receive.enabled {
            directory("spool.inbox", &self.spool.inbox)?;
        }
        if self.send.enabled {
            directory("spool.outbox", &self.spool.outbox)?;
            if let Some(sent) = &self.spool.sent {
                directory("spool.sent", sent)?;
            }
            if let Some(error) = &self.spool.error {
                directory("spool.error", error)?;
            }
        }
        let files = [
            (
                "filters.include_numbers_file",
                &self.filters.include_numbers_file,
            ),
            (
                "filters.exclude_numbers_file",
                &self.filters.exclude_numbers_file,
            ),
            ("filters.include_smsc_file", &self.filters.include_smsc_file),
            ("filters.exclude_smsc_file", &self.filters.exclude_smsc_file),
        ];
        for (key, path) in files {
            if let Some(path) = path {
                std::fs::File::open(path).map_err(|error| problem(key, path, error.to_string()))?;
            }
        }
        if let LogTarget::File(path) = &self.log.target {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                directory("log.file", parent)?;
            }
        }
        Ok(())
    }
}

impl Default for Config {
    /// Every default, with gammu's default device `/dev/ttyUSB0`.
    fn default() -> Self {
        Self::new("/dev/ttyUSB0")
    }
}

impl ModemSettings {
    /// What names this modem machine-wide when it has no device node to
    /// lock (a web stick or phone: its address; a ModemManager modem: its
    /// bus and selector); `None` for an AT modem, whose node is locked.
    pub(crate) fn lock_address(&self) -> Option<String> {
        if let Some(web) = &self.web {
            return Some(web.url.trim_end_matches('/').to_ascii_lowercase());
        }
        self.modemmanager.as_ref().map(|mm| {
            format!(
                "modemmanager {} on {}",
                mm.modem,
                mm.bus.as_deref().unwrap_or("the system bus")
            )
        })
    }

    /// Defaults for `device`.
    pub fn new(device: impl Into<PathBuf>) -> Self {
        let timeouts = modem::Timeouts::default();
        Self {
            name: None,
            prefixes: Vec::new(),
            limits: Vec::new(),
            device: device.into(),
            baud: PortSettings::default().baud,
            hardware_flow_control: false,
            pin: None,
            pin_file: None,
            smsc: None,
            command_timeout: timeouts.command,
            send_timeout: timeouts.send,
            check_sim: true,
            status_interval: Duration::from_secs(60),
            reset_interval: Duration::ZERO,
            hard_reset_interval: Duration::ZERO,
            web: None,
            modemmanager: None,
            section: ModemSection::First,
        }
    }

    /// The transport, when the device is not an AT modem (`None` for
    /// one): the keys of [`AT_MODEM_ONLY`] do nothing for it.
    pub(crate) fn transport_not_at(&self) -> Option<&'static str> {
        match (&self.web, &self.modemmanager) {
            (Some(web), _) => Some(web.kind.as_str()),
            (None, Some(_)) => Some("modemmanager"),
            (None, None) => None,
        }
    }
}

/// The `[modem]` keys only an AT modem reads, with what they set there:
/// on another device (a web stick, a phone, a ModemManager modem) they
/// would be accepted and ignored, so loading one warns
/// ([`at_modem_only_warning`]).
pub(crate) const AT_MODEM_ONLY: [(&str, &str); 5] = [
    ("baud", "the serial port's speed"),
    (
        "hardware_flow_control",
        "the serial port's RTS/CTS handshake",
    ),
    ("pin", SIM_PIN_AT_ONLY),
    ("pin_file", SIM_PIN_AT_ONLY),
    ("smsc", SMSC_AT_ONLY),
];

/// The warning for `user` written for a ZTE stick, as the configuration
/// names that device: its login is a password alone.
pub(crate) fn zte_user_warning(device: &str) -> String {
    format!("has no effect with {device}: a ZTE stick's login takes a password only")
}

/// What `pin` and `pin_file` set on an AT modem, and what to do instead.
pub(crate) const SIM_PIN_AT_ONLY: &str = "the SIM PIN (AT+CPIN); unlock the SIM where the device \
                                          is managed (the stick's web page, the phone, `mmcli \
                                          --pin`)";

/// What `smsc` sets on an AT modem, and what happens instead.
pub(crate) const SMSC_AT_ONLY: &str =
    "a default SMSC (AT+CSCA); the device sends through the SMSC it is set up with";

/// The warning for a key of [`AT_MODEM_ONLY`] (what it `sets`) written
/// for a device that is not an AT modem, as the configuration names that
/// device (`transport = "hilink"`, `connection = hilink`).
pub(crate) fn at_modem_only_warning(device: &str, sets: &str) -> String {
    format!("has no effect with {device}: only an AT modem takes {sets}")
}

impl Default for SpoolSettings {
    fn default() -> Self {
        let dir = |name: &str| PathBuf::from("/var/spool/simgate").join(name);
        Self {
            inbox: dir("inbox"),
            outbox: dir("outbox"),
            sent: Some(dir("sent")),
            error: Some(dir("error")),
            inbox_format: FileFormat::Standard,
            outbox_format: FileFormat::Detail,
            transmit_format: EncodingPolicy::Auto,
            scan_interval: Duration::from_secs(30),
            settle_time: Duration::from_secs(1),
            outbox_order: OutboxOrder::Bytes,
            umask: None,
        }
    }
}

impl Default for SendSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_attempts: None,
            max_age: None,
            retry_delay: Duration::from_secs(30),
            retry_delay_max: Duration::from_secs(3600),
            ambiguous: AmbiguousPolicy::Error,
            validity: crate::pdu::Validity::Relative(MAX_RELATIVE_VALIDITY),
        }
    }
}

impl Default for ReceiveSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval: DEFAULT_POLL_INTERVAL,
            multipart_timeout: Duration::from_secs(600),
            delivery_report: DeliveryReport::No,
        }
    }
}

impl Default for HookSettings {
    fn default() -> Self {
        Self {
            run_on_receive: None,
            run_on_sent: None,
            run_on_failure: None,
            run_on_incoming_call: None,
            run_on_budget_warning: None,
            timeout: Duration::from_secs(120),
            hangup_calls: false,
            phone_id: None,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            target: LogTarget::Stderr,
            level: LogLevel::Info,
            facility: SyslogFacility::Daemon,
        }
    }
}
