//! What ModemManager's numbers mean, as pure functions: the states of a
//! modem and of an SMS object, the PDU types, the 3GPP registration
//! states, which of several modems a configuration means, whether a modem
//! is one simgate can use, and the timestamps ModemManager writes.

use crate::config::ModemSection;
use std::collections::HashMap;

/// `MMSmsState`: where an SMS object stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsState {
    /// Not known (0).
    Unknown,
    /// Created, neither sent nor received (1).
    Stored,
    /// Some of its parts arrived, not all (2).
    Receiving,
    /// Every part arrived (3).
    Received,
    /// Handed to the network, no answer yet (4).
    Sending,
    /// The network took it (5).
    Sent,
}

impl SmsState {
    /// The state for ModemManager's number.
    pub fn from_u32(value: u32) -> Self {
        match value {
            1 => Self::Stored,
            2 => Self::Receiving,
            3 => Self::Received,
            4 => Self::Sending,
            5 => Self::Sent,
            _ => Self::Unknown,
        }
    }

    /// ModemManager's number for it.
    pub fn as_u32(self) -> u32 {
        match self {
            Self::Unknown => 0,
            Self::Stored => 1,
            Self::Receiving => 2,
            Self::Received => 3,
            Self::Sending => 4,
            Self::Sent => 5,
        }
    }
}

/// `MMSmsPduType`: what an SMS object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduType {
    /// Not known, or a CDMA type simgate does not handle.
    Other(u32),
    /// A received message (1).
    Deliver,
    /// A message to send (2).
    Submit,
    /// A delivery report (3).
    StatusReport,
}

impl PduType {
    /// The type for ModemManager's number.
    pub fn from_u32(value: u32) -> Self {
        match value {
            1 => Self::Deliver,
            2 => Self::Submit,
            3 => Self::StatusReport,
            other => Self::Other(other),
        }
    }

    /// ModemManager's number for it.
    pub fn as_u32(self) -> u32 {
        match self {
            Self::Deliver => 1,
            Self::Submit => 2,
            Self::StatusReport => 3,
            Self::Other(other) => other,
        }
    }
}

/// `MMSmsDeliveryState` for "not known": every other value is the TP-ST
/// octet of the report.
pub const DELIVERY_STATE_UNKNOWN: u32 = 0x100;

/// The TP-ST of a report from its `DeliveryState`, when it has one.
pub fn report_status(delivery_state: u32) -> Option<u8> {
    u8::try_from(delivery_state).ok()
}

/// `MMModemState`: a modem's state, by its number.
pub fn modem_state_word(state: i32) -> &'static str {
    match state {
        -1 => "failed",
        1 => "initializing",
        2 => "locked",
        3 => "disabled",
        4 => "disabling",
        5 => "enabling",
        6 => "enabled",
        7 => "searching",
        8 => "registered",
        9 => "disconnecting",
        10 => "connecting",
        11 => "connected",
        _ => "unknown",
    }
}

/// `MMModemLock`: what a locked SIM asks for, by its number.
pub fn lock_word(lock: u32) -> &'static str {
    match lock {
        1 => "none",
        2 => "sim-pin",
        3 => "sim-pin2",
        4 => "sim-puk",
        5 => "sim-puk2",
        6..=16 => "a network or provider lock",
        _ => "unknown",
    }
}

/// Whether a 3GPP registration state (`MMModem3gppRegistrationState`)
/// is registered to a network, at home or roaming (SMS-only and
/// CSFB-not-preferred included).
pub fn registered(state: u32) -> bool {
    matches!(state, 1 | 5 | 6 | 7 | 9 | 10)
}

/// Signal in dBm from a `Modem.Signal` reading's RSSI, when it gives one
/// (ModemManager reports a missing value as not set, or as a huge one).
pub fn signal_dbm(rssi: Option<f64>) -> Option<i32> {
    rssi.filter(|v| v.is_finite() && (-150.0..0.0).contains(v))
        .map(|v| v.round() as i32)
}

/// One modem as ModemManager lists it (from the ObjectManager's
/// `GetManagedObjects`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModemEntry {
    /// Its D-Bus path, `/org/freedesktop/ModemManager1/Modem/N`.
    pub path: String,
    /// Its equipment identifier (the IMEI for 3GPP modems).
    pub equipment_identifier: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// `MMModemState`.
    pub state: i32,
    /// `MMModemStateFailedReason`, when failed.
    pub failed_reason: u32,
    /// `MMModemLock`.
    pub unlock_required: u32,
    /// Whether it exports the Messaging interface.
    pub messaging: bool,
}

impl ModemEntry {
    /// Its index, the number at the end of its path.
    pub fn index(&self) -> Option<u32> {
        self.path.rsplit('/').next().and_then(|n| n.parse().ok())
    }

    /// Manufacturer and model, for people.
    pub fn name(&self) -> String {
        format!("{} {}", self.manufacturer.trim(), self.model.trim())
            .trim()
            .to_owned()
    }

    /// Whether simgate can send and receive with it now; why not when it
    /// cannot.
    pub fn usable(&self) -> Result<(), String> {
        if self.state == -1 {
            let why = match self.failed_reason {
                2 => "no SIM",
                3 => "the SIM is unusable (permanently locked?)",
                5 => "an eSIM without profiles",
                _ => "reason not given",
            };
            return Err(format!("ModemManager says it failed: {why}"));
        }
        if self.state == 2 || (self.unlock_required > 1 && self.state < 3) {
            return Err(format!(
                "its SIM is locked (it asks for {}); unlock it, e.g. mmcli -i ... --pin=...",
                lock_word(self.unlock_required)
            ));
        }
        if self.state == 3 || self.state == 4 {
            return Err("it is disabled; enable it (mmcli -m N --enable)".to_owned());
        }
        if self.state < 6 {
            return Err(format!(
                "it is {}; it can send once it is enabled",
                modem_state_word(self.state)
            ));
        }
        if !self.messaging {
            return Err(
                "it offers no messaging interface (not yet enabled, or no SMS support)".to_owned(),
            );
        }
        Ok(())
    }
}

/// Which modem `[modem] device` means, among those listed: `any` or
/// empty for the only one; else its equipment identifier, its D-Bus path
/// or its index. The modem, or why none fits.
pub fn select<'a>(modems: &'a [ModemEntry], selector: &str) -> Result<&'a ModemEntry, String> {
    select_in(modems, selector, &ModemSection::First)
}

/// [`select`] for the modem whose keys are written in `section`, which
/// the message names.
pub fn select_in<'a>(
    modems: &'a [ModemEntry],
    selector: &str,
    section: &ModemSection,
) -> Result<&'a ModemEntry, String> {
    let selector = selector.trim();
    if selector.is_empty() || selector.eq_ignore_ascii_case("any") {
        return match modems {
            [] => Err("ModemManager lists no modem".to_owned()),
            [only] => Ok(only),
            _ => Err(format!(
                "ModemManager lists {} modems; name one as `device` under {section} (its \
                 equipment identifier, D-Bus path or index; `simgate modem probe \
                 --modemmanager` lists them)",
                modems.len()
            )),
        };
    }
    modems
        .iter()
        .find(|m| {
            m.equipment_identifier == selector
                || m.path == selector
                || selector
                    .parse::<u32>()
                    .ok()
                    .is_some_and(|i| m.index() == Some(i))
        })
        .ok_or_else(|| format!("ModemManager lists no modem {selector:?}"))
}

/// Unix seconds from a timestamp as ModemManager writes it: ISO 8601
/// with an offset of hours (`2024-03-01T10:11:12+01`), hours and minutes
/// (`+05:30`, `+0530`) or `Z`; none is taken as UTC.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    let civil = text.get(..19)?;
    let civil: jiff::civil::DateTime = civil.parse().ok()?;
    let rest = &text[19..];
    // Fractions of a second are dropped.
    let rest = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset_seconds = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let (hours, minutes) = match digits.len() {
                2 => (digits.parse::<i64>().ok()?, 0),
                4 => (
                    digits[..2].parse::<i64>().ok()?,
                    digits[2..].parse::<i64>().ok()?,
                ),
                _ => return None,
            };
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let utc = jiff::tz::Offset::UTC.to_timestamp(civil).ok()?;
    Some(utc.as_second() - offset_seconds)
}

/// A D-Bus property map's string value.
pub(crate) fn string_of(
    properties: &HashMap<String, zbus::zvariant::OwnedValue>,
    key: &str,
) -> String {
    properties
        .get(key)
        .and_then(|v| String::try_from(v.clone()).ok())
        .unwrap_or_default()
}

/// A D-Bus property map's `u` value.
pub(crate) fn u32_of(properties: &HashMap<String, zbus::zvariant::OwnedValue>, key: &str) -> u32 {
    properties
        .get(key)
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or_default()
}

/// A D-Bus property map's `i` value.
pub(crate) fn i32_of(properties: &HashMap<String, zbus::zvariant::OwnedValue>, key: &str) -> i32 {
    properties
        .get(key)
        .and_then(|v| i32::try_from(v).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modem(index: u32, imei: &str) -> ModemEntry {
        ModemEntry {
            path: format!("/org/freedesktop/ModemManager1/Modem/{index}"),
            equipment_identifier: imei.to_owned(),
            state: 8,
            unlock_required: 1,
            messaging: true,
            ..ModemEntry::default()
        }
    }

    #[test]
    fn numbers_round_trip() {
        for n in 0..=5 {
            assert_eq!(SmsState::from_u32(n).as_u32(), n);
        }
        assert_eq!(SmsState::from_u32(9), SmsState::Unknown);
        for n in 0..=8 {
            assert_eq!(PduType::from_u32(n).as_u32(), n);
        }
        assert_eq!(PduType::from_u32(3), PduType::StatusReport);
        assert_eq!(report_status(0x41), Some(0x41));
        assert_eq!(report_status(DELIVERY_STATE_UNKNOWN), None);
    }

    #[test]
    fn the_configured_modem_is_found_by_any_of_its_names() {
        let two = [modem(0, "490154203237518"), modem(3, "356938035643809")];
        assert!(select(&two, "any").unwrap_err().contains("2 modems"));
        assert!(select(&[], "").unwrap_err().contains("no modem"));
        assert_eq!(select(&two[..1], "").unwrap().index(), Some(0));
        assert_eq!(select(&two, "356938035643809").unwrap().index(), Some(3));
        assert_eq!(select(&two, "3").unwrap().index(), Some(3));
        assert_eq!(
            select(&two, "/org/freedesktop/ModemManager1/Modem/0")
                .unwrap()
                .equipment_identifier,
            "490154203237518"
        );
        assert!(select(&two, "7").is_err());
    }

    /// With several modems ModemManager lists, the user is told to name
    /// one where this modem's keys are written: a `[[modems]]` entry was
    /// sent to `[modem]`.
    #[test]
    fn naming_a_modem_is_asked_for_in_the_modem_s_own_section() {
        let two = [modem(0, "490154203237518"), modem(3, "356938035643809")];
        let first = select_in(&two, "", &ModemSection::First).unwrap_err();
        assert!(
            first.contains("name one as `device` under [modem]"),
            "{first}"
        );
        let entry = ModemSection::Entry {
            number: 1,
            name: Some("b".to_owned()),
        };
        let second = select_in(&two, "any", &entry).unwrap_err();
        assert!(
            second.contains("name one as `device` under the [[modems]] entry named \"b\""),
            "{second}"
        );
    }

    #[test]
    fn a_modem_is_usable_only_unlocked_enabled_and_with_messaging() {
        assert!(modem(0, "1").usable().is_ok());
        let locked = ModemEntry {
            state: 2,
            unlock_required: 2,
            ..modem(0, "1")
        };
        assert!(locked.usable().unwrap_err().contains("sim-pin"));
        let failed = ModemEntry {
            state: -1,
            failed_reason: 2,
            ..modem(0, "1")
        };
        assert!(failed.usable().unwrap_err().contains("no SIM"));
        let mute = ModemEntry {
            messaging: false,
            ..modem(0, "1")
        };
        assert!(mute.usable().unwrap_err().contains("messaging"));
        let disabled = ModemEntry {
            state: 3,
            ..modem(0, "1")
        };
        assert!(disabled.usable().unwrap_err().contains("disabled"));
        let enabling = ModemEntry {
            state: 5,
            ..modem(0, "1")
        };
        assert!(enabling.usable().unwrap_err().contains("enabling"));
        let searching = ModemEntry {
            state: 7,
            ..modem(0, "1")
        };
        assert!(searching.usable().is_ok(), "not registered yet, but usable");
    }

    #[test]
    fn timestamps_with_every_offset_form() {
        let utc = 1_709_287_872; // 2024-03-01T10:11:12Z
        assert_eq!(parse_timestamp("2024-03-01T10:11:12Z"), Some(utc));
        assert_eq!(parse_timestamp("2024-03-01T10:11:12"), Some(utc));
        assert_eq!(parse_timestamp("2024-03-01T11:11:12+01"), Some(utc));
        assert_eq!(parse_timestamp("2024-03-01T15:41:12+05:30"), Some(utc));
        assert_eq!(parse_timestamp("2024-03-01T15:41:12+0530"), Some(utc));
        assert_eq!(parse_timestamp("2024-03-01T09:11:12-01"), Some(utc));
        assert_eq!(parse_timestamp("2024-03-01T10:11:12.250+00"), Some(utc));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2024-03-01T10:11:12+1"), None);
    }

    #[test]
    fn registration_and_signal() {
        assert!(registered(1) && registered(5) && registered(6));
        assert!(!registered(0) && !registered(2) && !registered(3) && !registered(4));
        assert_eq!(signal_dbm(Some(-71.4)), Some(-71));
        assert_eq!(signal_dbm(Some(f64::MAX)), None);
        assert_eq!(signal_dbm(None), None);
    }
}
