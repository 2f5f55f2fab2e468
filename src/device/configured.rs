//! The device a configuration names, whichever kind it is: an AT modem, a
//! HiLink stick, a ZTE stick, an Android phone or a modem ModemManager owns. One type, so the daemon (generic over its device) is
//! built once into the binary rather than once per kind of device.

use super::android::AndroidPhone;
use super::at::AtModem;
use super::hilink::HilinkStick;
use super::modemmanager::ModemManagerModem;
use super::zte::ZteStick;
use super::{Capabilities, Control, Device, DeviceError, DeviceState, Listed, Location, Radio};
use crate::config::Config;
use crate::pdu::EncodedPdu;
use tokio::sync::watch;

/// An AT modem, a web stick or a phone.
#[derive(Debug)]
pub(crate) enum ConfiguredDevice {
    /// `transport = "at"` (the default).
    At(AtModem),
    /// `transport = "hilink"`.
    Hilink(HilinkStick),
    /// `transport = "zte"`.
    Zte(ZteStick),
    /// `transport = "android"`.
    Android(AndroidPhone),
    /// `transport = "modemmanager"`.
    ModemManager(ModemManagerModem),
}

/// Calls the same method on whichever device it is.
macro_rules! each {
    ($self:ident, $device:ident => $call:expr) => {
        match $self {
            ConfiguredDevice::At($device) => $call,
            ConfiguredDevice::Hilink($device) => $call,
            ConfiguredDevice::Zte($device) => $call,
            ConfiguredDevice::Android($device) => $call,
            ConfiguredDevice::ModemManager($device) => $call,
        }
    };
}

impl Device for ConfiguredDevice {
    fn capabilities(&self) -> Capabilities {
        each!(self, d => d.capabilities())
    }

    fn watch(&self) -> watch::Receiver<DeviceState> {
        each!(self, d => d.watch())
    }

    async fn send(&self, pdu: &EncodedPdu) -> Result<u8, DeviceError> {
        each!(self, d => d.send(pdu).await)
    }

    async fn send_part(&self, parts: &[EncodedPdu], index: usize) -> Result<u8, DeviceError> {
        each!(self, d => d.send_part(parts, index).await)
    }

    async fn send_message_part(
        &self,
        message: super::MessageName,
        parts: &[EncodedPdu],
        index: usize,
    ) -> Result<u8, DeviceError> {
        each!(self, d => d.send_message_part(message, parts, index).await)
    }

    fn resends_safely(&self) -> bool {
        each!(self, d => d.resends_safely())
    }

    fn notes(&self) -> super::DeviceNotes {
        each!(self, d => d.notes())
    }

    async fn last_reference(&self) -> Result<Option<u8>, DeviceError> {
        each!(self, d => d.last_reference().await)
    }

    fn storages(&self) -> Vec<String> {
        each!(self, d => d.storages())
    }

    async fn read_storage(&self, storage: &str) -> Result<Vec<Listed>, DeviceError> {
        each!(self, d => d.read_storage(storage).await)
    }

    async fn storage_usage(&self) -> Result<Option<(u32, u32)>, DeviceError> {
        each!(self, d => d.storage_usage().await)
    }

    async fn delete(&self, location: &Location) -> Result<(), DeviceError> {
        each!(self, d => d.delete(location).await)
    }

    async fn acknowledge(&self) -> Result<(), DeviceError> {
        each!(self, d => d.acknowledge().await)
    }

    async fn refuse(&self) {
        each!(self, d => d.refuse().await)
    }

    async fn hang_up(&self) -> Result<(), DeviceError> {
        each!(self, d => d.hang_up().await)
    }

    async fn radio(&self) -> Radio {
        each!(self, d => d.radio().await)
    }

    async fn control(&self, request: Control) {
        each!(self, d => d.control(request).await)
    }

    async fn reload(&self, config: &Config) {
        each!(self, d => d.reload(config).await)
    }

    async fn shutdown(&self) {
        each!(self, d => d.shutdown().await)
    }
}

/// Runs the daemon on the devices the configuration names (an AT modem, the
/// emulator's pty it names, a web stick or a phone; `[modem]` and each
/// `[[modems]]`), until `shutdown`
/// completes (or SIGTERM/SIGINT when signals are handled).
pub async fn serve(
    options: crate::daemon::DaemonOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), crate::daemon::DaemonError> {
    crate::daemon::run_on_modems(
        options,
        move |_index, context: crate::daemon::DeviceContext, config: std::sync::Arc<Config>| async move {
            if config.modem.modemmanager.is_some() {
                let (modem, events) = ModemManagerModem::open(&config);
                return Ok((ConfiguredDevice::ModemManager(modem), events));
            }
            match config.modem.web.as_ref().map(|web| web.kind) {
                Some(crate::config::WebKind::Android) => {
                    let (phone, events) = AndroidPhone::open(&config);
                    return Ok((ConfiguredDevice::Android(phone), events));
                }
                Some(crate::config::WebKind::Zte) => {
                    let (stick, events) = ZteStick::open(&config);
                    return Ok((ConfiguredDevice::Zte(stick), events));
                }
                Some(crate::config::WebKind::Hilink) => {
                    let (stick, events) = HilinkStick::open(&config);
                    return Ok((ConfiguredDevice::Hilink(stick), events));
                }
                None => {}
            }
            let (modem, events) = AtModem::open(config.modem_config(), context.pins, false).await?;
            Ok((ConfiguredDevice::At(modem), events))
        },
        shutdown,
    )
    .await
}
