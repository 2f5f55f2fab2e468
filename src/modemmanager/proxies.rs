//! Client proxies for the parts of ModemManager's D-Bus API simgate uses:
//! a modem (state, identity, signal quality), its 3GPP registration, its
//! extended signal readings, its messaging (create, list, delete, the
//! Added signal) and one SMS object (send, and the properties that say
//! what became of it). The ObjectManager that lists the modems is zbus's
//! own (`zbus::fdo::ObjectManagerProxy`).

use std::collections::HashMap;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

/// `org.freedesktop.ModemManager1.Modem`.
#[zbus::proxy(
    interface = "org.freedesktop.ModemManager1.Modem",
    default_service = "org.freedesktop.ModemManager1"
)]
pub(crate) trait Modem {
    /// `MMModemState`.
    #[zbus(property)]
    fn state(&self) -> zbus::Result<i32>;
    /// `MMModemStateFailedReason`.
    #[zbus(property)]
    fn state_failed_reason(&self) -> zbus::Result<u32>;
    /// Manufacturer.
    #[zbus(property)]
    fn manufacturer(&self) -> zbus::Result<String>;
    /// Model.
    #[zbus(property)]
    fn model(&self) -> zbus::Result<String>;
    /// The IMEI for 3GPP modems.
    #[zbus(property)]
    fn equipment_identifier(&self) -> zbus::Result<String>;
    /// Signal quality in percent, and whether it is recent.
    #[zbus(property)]
    fn signal_quality(&self) -> zbus::Result<(u32, bool)>;
    /// The SIM's own numbers.
    #[zbus(property)]
    fn own_numbers(&self) -> zbus::Result<Vec<String>>;
    /// `MMModemLock`.
    #[zbus(property)]
    fn unlock_required(&self) -> zbus::Result<u32>;
}

/// `org.freedesktop.ModemManager1.Modem.Modem3gpp`.
#[zbus::proxy(
    interface = "org.freedesktop.ModemManager1.Modem.Modem3gpp",
    default_service = "org.freedesktop.ModemManager1"
)]
pub(crate) trait Modem3gpp {
    /// `MMModem3gppRegistrationState`.
    #[zbus(property)]
    fn registration_state(&self) -> zbus::Result<u32>;
    /// The operator's name.
    #[zbus(property)]
    fn operator_name(&self) -> zbus::Result<String>;
    /// The operator's MCC and MNC.
    #[zbus(property)]
    fn operator_code(&self) -> zbus::Result<String>;
}

/// `org.freedesktop.ModemManager1.Modem.Signal`: readings per access
/// technology, once `Setup` gave a refresh rate.
#[zbus::proxy(
    interface = "org.freedesktop.ModemManager1.Modem.Signal",
    default_service = "org.freedesktop.ModemManager1"
)]
pub(crate) trait Signal {
    /// Starts the readings every `rate` seconds (0 stops them).
    fn setup(&self, rate: u32) -> zbus::Result<()>;
    /// GSM readings.
    #[zbus(property)]
    fn gsm(&self) -> zbus::Result<HashMap<String, OwnedValue>>;
    /// UMTS readings.
    #[zbus(property)]
    fn umts(&self) -> zbus::Result<HashMap<String, OwnedValue>>;
    /// LTE readings.
    #[zbus(property)]
    fn lte(&self) -> zbus::Result<HashMap<String, OwnedValue>>;
}

/// `org.freedesktop.ModemManager1.Modem.Messaging`.
#[zbus::proxy(
    interface = "org.freedesktop.ModemManager1.Modem.Messaging",
    default_service = "org.freedesktop.ModemManager1"
)]
pub(crate) trait Messaging {
    /// Every SMS object of the modem.
    fn list(&self) -> zbus::Result<Vec<OwnedObjectPath>>;
    /// Deletes one.
    fn delete(&self, path: &ObjectPath<'_>) -> zbus::Result<()>;
    /// Creates one from `number`, `text` and more: its path.
    fn create(&self, properties: HashMap<&str, Value<'_>>) -> zbus::Result<OwnedObjectPath>;
    /// A new SMS object, received or created.
    #[zbus(signal)]
    fn added(&self, path: ObjectPath<'_>, received: bool) -> zbus::Result<()>;
}

/// `org.freedesktop.ModemManager1.Sms`.
#[zbus::proxy(
    interface = "org.freedesktop.ModemManager1.Sms",
    default_service = "org.freedesktop.ModemManager1"
)]
pub(crate) trait Sms {
    /// Sends it, when it was not sent.
    fn send(&self) -> zbus::Result<()>;
    /// `MMSmsState`.
    #[zbus(property)]
    fn state(&self) -> zbus::Result<u32>;
    /// `MMSmsPduType`.
    #[zbus(property)]
    fn pdu_type(&self) -> zbus::Result<u32>;
    /// The other party's number.
    #[zbus(property)]
    fn number(&self) -> zbus::Result<String>;
    /// Its text, when it is text.
    #[zbus(property)]
    fn text(&self) -> zbus::Result<String>;
    /// Its data, when it is binary.
    #[zbus(property)]
    fn data(&self) -> zbus::Result<Vec<u8>>;
    /// When the service centre took it (received messages, reports).
    #[zbus(property)]
    fn timestamp(&self) -> zbus::Result<String>;
    /// Whether a delivery report was asked for.
    #[zbus(property)]
    fn delivery_report_request(&self) -> zbus::Result<bool>;
    /// The TP-MR it was sent with (of its last part), or a report names.
    #[zbus(property)]
    fn message_reference(&self) -> zbus::Result<u32>;
    /// A report's TP-ST, or 0x100 when unknown.
    #[zbus(property)]
    fn delivery_state(&self) -> zbus::Result<u32>;
    /// When a report's outcome happened.
    #[zbus(property)]
    fn discharge_timestamp(&self) -> zbus::Result<String>;
}
