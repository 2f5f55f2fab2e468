//! The D-Bus side of driving a modem that ModemManager owns: its names
//! and paths, proxies for the interfaces simgate uses ([`proxies`]), what
//! their numbers mean ([`model`]), the record of which SMS object carries
//! which message ([`journal`]), and `simgate modem probe --modemmanager`
//! ([`probe`]). The [`crate::device`] built on it is
//! `crate::device::modemmanager`.

pub(crate) mod journal;
pub mod model;
pub(crate) mod probe;
pub(crate) mod proxies;

use std::time::Duration;

/// ModemManager's well-known bus name.
pub const SERVICE: &str = "org.freedesktop.ModemManager1";
/// The path of its ObjectManager, under which the modems are.
pub const ROOT: &str = "/org/freedesktop/ModemManager1";
/// The Modem interface.
pub const MODEM: &str = "org.freedesktop.ModemManager1.Modem";
/// The Messaging interface.
pub const MESSAGING: &str = "org.freedesktop.ModemManager1.Modem.Messaging";

/// Connects to the bus at `address`, or the system bus (which
/// `DBUS_SYSTEM_BUS_ADDRESS` may name) when `None`; a method call
/// unanswered for `timeout` fails.
pub(crate) async fn connect(
    address: Option<&str>,
    timeout: Duration,
) -> zbus::Result<zbus::Connection> {
    let builder = match address {
        Some(address) => zbus::connection::Builder::address(address)?,
        None => zbus::connection::Builder::system()?,
    };
    builder.method_timeout(timeout).build().await
}

/// The modems ModemManager lists, with their properties.
pub(crate) async fn list_modems(
    connection: &zbus::Connection,
) -> zbus::Result<Vec<model::ModemEntry>> {
    let manager = zbus::fdo::ObjectManagerProxy::builder(connection)
        .destination(SERVICE)?
        .path(ROOT)?
        .build()
        .await?;
    let objects = manager.get_managed_objects().await?;
    let mut modems: Vec<model::ModemEntry> = objects
        .into_iter()
        .filter_map(|(path, interfaces)| {
            let properties = interfaces
                .iter()
                .find(|(name, _)| name.as_str() == MODEM)
                .map(|(_, p)| p)?;
            Some(model::ModemEntry {
                path: path.to_string(),
                equipment_identifier: model::string_of(properties, "EquipmentIdentifier"),
                manufacturer: model::string_of(properties, "Manufacturer"),
                model: model::string_of(properties, "Model"),
                state: model::i32_of(properties, "State"),
                failed_reason: model::u32_of(properties, "StateFailedReason"),
                unlock_required: model::u32_of(properties, "UnlockRequired"),
                messaging: interfaces.keys().any(|name| name.as_str() == MESSAGING),
            })
        })
        .collect();
    modems.sort_by_key(|m| (m.index(), m.path.clone()));
    Ok(modems)
}
