//! Value syntax shared by both formats: durations, baud rates, the
//! spellings of the enumerations, SMSC numbers and paths.

use super::{AmbiguousPolicy, DeliveryReport, FileFormat, LogLevel, OutboxOrder, SyslogFacility};
use crate::pdu::EncodingPolicy;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// What a duration looks like, for error messages.
pub(super) const DURATION_FORMS: &str =
    "a duration such as \"30s\", \"10m\", \"1h30m\", \"2d\" or \"500ms\", or a whole number of seconds";

/// The longest duration any key takes: a year. Nothing simgate waits for
/// or repeats is meant to be further apart, and the daemon adds these to
/// its clock, which a value near `u64::MAX` seconds overflows.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// The shortest first wait before a failed send is tried again
/// (`send.retry_delay`, and `webhooks.retry_delay` for a failed POST). Without a floor, `"1ms"` retried a failing message
/// about every millisecond, a storm against the modem and the log.
pub(super) const MIN_RETRY_DELAY: Duration = Duration::from_millis(100);

/// The shortest longest wait between attempts (`send.retry_delay_max`,
/// and gammu's `RetryTimeout`, which sets both). The waits double up to
/// it, so a message that keeps failing is tried at most once a second:
/// gammu's own pace (its main loop, about once a second).
pub(super) const MIN_RETRY_DELAY_MAX: Duration = Duration::from_secs(1);

/// What a duration key takes, from `min` to [`MAX_DURATION`], for error
/// messages.
pub(super) fn duration_range(min: Duration) -> String {
    format!(
        "{DURATION_FORMS}, from {} to {}",
        format_duration(min),
        format_duration(MAX_DURATION)
    )
}

/// Parses `30s`, `10m`, `1h30m`, `2d`, `500ms`, or bare seconds (`45`).
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok().map(Duration::from_secs);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60)?),
            "h" => Duration::from_secs(number.checked_mul(3600)?),
            "d" => Duration::from_secs(number.checked_mul(86_400)?),
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(part)?;
    }
    Some(total)
}

/// A validity period: `max`, `none` or a duration (rounded up to the
/// relative TP-VP codes of 3GPP TS 23.040 §9.2.3.12.1).
pub(super) fn parse_validity(text: &str) -> Option<crate::pdu::Validity> {
    use crate::pdu::Validity;
    match text.trim().to_ascii_lowercase().as_str() {
        "max" | "maximum" => Some(Validity::Relative(super::MAX_RELATIVE_VALIDITY)),
        "none" => Some(Validity::Absent),
        other => {
            let duration = parse_duration(other).filter(|d| !d.is_zero())?;
            let minutes = duration.as_secs().div_ceil(60).min(u64::from(u32::MAX)) as u32;
            Some(Validity::relative_minutes(minutes))
        }
    }
}

/// The inverse of [`parse_validity`].
pub(super) fn format_validity(validity: crate::pdu::Validity) -> String {
    use crate::pdu::Validity;
    match validity {
        Validity::Relative(super::MAX_RELATIVE_VALIDITY) => "max".to_owned(),
        Validity::Relative(code) => {
            format_duration(Duration::from_secs(u64::from(Validity::minutes(code)) * 60))
        }
        _ => "none".to_owned(),
    }
}

/// A umask written in octal (`"0027"`, `"027"`).
pub(super) fn parse_umask(text: &str) -> Option<u32> {
    let text = text.trim();
    (!text.is_empty() && text.len() <= 4)
        .then(|| u32::from_str_radix(text, 8).ok())
        .flatten()
        .filter(|mask| *mask <= 0o777)
}

/// Writes a duration so that [`parse_duration`] reads it back exactly (any
/// duration of whole milliseconds, as every parsed one is).
pub(super) fn format_duration(duration: Duration) -> String {
    if duration.subsec_nanos() != 0 {
        return format!("{}ms", duration.as_millis());
    }
    let mut secs = duration.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Serial speeds gammu's `atNNNN` connection accepts.
pub(super) const BAUD_RATES: &[u32] = &[
    50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19_200, 38_400, 57_600,
    115_200, 230_400, 460_800, 500_000, 576_000, 921_600, 1_000_000, 1_152_000, 1_500_000,
    2_000_000, 2_500_000, 3_000_000, 3_500_000, 4_000_000,
];

/// A table of accepted spellings for an enumeration: the first spelling of
/// each value is the canonical one, written back by `to_toml`.
pub(super) struct Choices<T: 'static> {
    pub(super) names: &'static [(&'static str, T)],
}

impl<T: Copy + PartialEq> Choices<T> {
    /// The value for a spelling, compared case-insensitively (as gammu does).
    pub(super) fn find(&self, text: &str) -> Option<T> {
        self.names
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text.trim()))
            .map(|&(_, value)| value)
    }

    /// The canonical spelling.
    pub(super) fn name(&self, value: T) -> &'static str {
        self.names
            .iter()
            .find(|(_, v)| *v == value)
            .map(|(name, _)| *name)
            .expect("every value has a spelling")
    }

    /// "a, b or c", canonical spellings only.
    pub(super) fn allowed(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for (name, value) in self.names {
            if self.name(*value) == *name {
                names.push(name);
            }
        }
        match names.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

pub(super) const FILE_FORMATS: Choices<FileFormat> = Choices {
    names: &[
        ("standard", FileFormat::Standard),
        ("unicode", FileFormat::Unicode),
        ("detail", FileFormat::Detail),
    ],
};

pub(super) const TRANSMIT_FORMATS: Choices<EncodingPolicy> = Choices {
    names: &[
        ("auto", EncodingPolicy::Auto),
        ("unicode", EncodingPolicy::Ucs2),
        ("7bit", EncodingPolicy::Gsm7),
    ],
};

/// simgate's TOML also takes the codec's own names.
pub(super) const TRANSMIT_FORMATS_TOML: Choices<EncodingPolicy> = Choices {
    names: &[
        ("auto", EncodingPolicy::Auto),
        ("unicode", EncodingPolicy::Ucs2),
        ("7bit", EncodingPolicy::Gsm7),
        ("ucs2", EncodingPolicy::Ucs2),
        ("gsm7", EncodingPolicy::Gsm7),
    ],
};

pub(super) const DELIVERY_REPORTS: Choices<DeliveryReport> = Choices {
    names: &[
        ("no", DeliveryReport::No),
        ("log", DeliveryReport::Log),
        ("sms", DeliveryReport::Sms),
    ],
};

pub(super) const AMBIGUOUS_POLICIES: Choices<AmbiguousPolicy> = Choices {
    names: &[
        ("error", AmbiguousPolicy::Error),
        ("resend", AmbiguousPolicy::Resend),
    ],
};

pub(super) const OUTBOX_ORDERS: Choices<OutboxOrder> = Choices {
    names: &[
        ("bytes", OutboxOrder::Bytes),
        ("locale", OutboxOrder::Locale),
    ],
};

pub(super) const LOG_LEVELS: Choices<LogLevel> = Choices {
    names: &[
        ("error", LogLevel::Error),
        ("warn", LogLevel::Warn),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
        ("trace", LogLevel::Trace),
        ("warning", LogLevel::Warn),
    ],
};

pub(super) const FACILITIES: Choices<SyslogFacility> = Choices {
    names: &[
        ("daemon", SyslogFacility::Daemon),
        ("user", SyslogFacility::User),
        ("local0", SyslogFacility::Local(0)),
        ("local1", SyslogFacility::Local(1)),
        ("local2", SyslogFacility::Local(2)),
        ("local3", SyslogFacility::Local(3)),
        ("local4", SyslogFacility::Local(4)),
        ("local5", SyslogFacility::Local(5)),
        ("local6", SyslogFacility::Local(6)),
        ("local7", SyslogFacility::Local(7)),
    ],
};

/// An SMSC number as the modem takes it: optional `+`, 1 to 20 digits.
pub(super) fn valid_smsc(text: &str) -> bool {
    let digits = text.strip_prefix('+').unwrap_or(text);
    (1..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

pub(super) const SMSC_FORMS: &str = "a number of 1 to 20 digits with an optional leading +";

/// Joins a relative path to `base` and drops `.` parts and trailing
/// slashes, so `/var/spool/gammu/inbox/` and `/var/spool/gammu/inbox` are
/// the same directory.
pub(super) fn normalise(path: &Path, base: Option<&Path>) -> PathBuf {
    let joined = match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path.to_owned(),
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write_back() {
        for (text, secs) in [
            ("30s", 30),
            ("45", 45),
            ("10m", 600),
            ("1h30m", 5400),
            ("2d", 172_800),
            ("0", 0),
            ("1d1h1m1s", 90_061),
        ] {
            let duration = parse_duration(text).unwrap();
            assert_eq!(duration, Duration::from_secs(secs), "{text}");
            assert_eq!(parse_duration(&format_duration(duration)), Some(duration));
        }
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        for bad in ["", "s", "30 s", "-5", "1.5s", "30sec", "1w", "m30"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn choices_are_case_insensitive_and_list_canonical_names() {
        assert_eq!(DELIVERY_REPORTS.find("SMS"), Some(DeliveryReport::Sms));
        assert_eq!(TRANSMIT_FORMATS.allowed(), "auto, unicode or 7bit");
        assert_eq!(LOG_LEVELS.allowed(), "error, warn, info, debug or trace");
        assert_eq!(TRANSMIT_FORMATS_TOML.name(EncodingPolicy::Ucs2), "unicode");
    }

    #[test]
    fn paths_are_normalised() {
        let base = Path::new("/srv/sms");
        assert_eq!(
            normalise(Path::new("/var/spool/gammu/inbox/"), Some(base)),
            PathBuf::from("/var/spool/gammu/inbox")
        );
        assert_eq!(
            normalise(Path::new("./inbox/"), Some(base)),
            PathBuf::from("/srv/sms/inbox")
        );
        assert_eq!(normalise(Path::new("x/./y"), None), PathBuf::from("x/y"));
    }
}
