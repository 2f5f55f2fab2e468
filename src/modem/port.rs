//! Opening the modem's serial port: tokio-serial, exclusive, raw, with a
//! hint when it fails the way it usually does (busy, permissions, gone).

use super::error::ModemError;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use tokio_serial::{SerialPortBuilderExt, SerialStream};

/// Serial line settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSettings {
    /// Baud rate; USB modems ignore it, UART modules (SIM800) need it right.
    pub baud: u32,
    /// Hardware (RTS/CTS) flow control.
    pub hardware_flow_control: bool,
}

impl Default for PortSettings {
    fn default() -> Self {
        Self {
            baud: 115_200,
            hardware_flow_control: false,
        }
    }
}

/// Opens `path` (a `/dev/serial/by-id/...` link works as well as
/// `/dev/ttyUSB0`) for exclusive use.
pub fn open(path: &Path, settings: PortSettings) -> Result<SerialStream, ModemError> {
    let flow = if settings.hardware_flow_control {
        tokio_serial::FlowControl::Hardware
    } else {
        tokio_serial::FlowControl::None
    };
    let builder = tokio_serial::new(path.to_string_lossy(), settings.baud)
        .flow_control(flow)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::One);
    let mut stream = builder.open_native_async().map_err(|error| {
        let source = std::io::Error::from(error);
        ModemError::Open {
            path: path.to_owned(),
            hint: hint(&source),
            source,
        }
    })?;
    // Exclusive: a second simgate (or a stray gammu) cannot open it too.
    if let Err(error) = stream.set_exclusive(true) {
        tracing::debug!(%error, "cannot make the port exclusive");
    }
    Ok(stream)
}

/// Where a path points once symlinks are followed (`/dev/serial/by-id/...`
/// to `/dev/ttyUSB2`), for logs and for following a re-enumerated modem.
pub fn resolve(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

fn hint(error: &std::io::Error) -> Option<&'static str> {
    if modem_manager_running() && matches!(error.raw_os_error(), Some(16)) {
        return Some(
            "ModemManager is running and probably holds the port: stop it \
             (systemctl stop ModemManager) or install simgate's udev rule that tells it to keep off",
        );
    }
    match (error.kind(), error.raw_os_error()) {
        (_, Some(16)) => Some(
            "the port is busy: another program (ModemManager, gammu-smsd, a terminal) has it open",
        ),
        (ErrorKind::PermissionDenied, _) => Some(
            "permission denied: run simgate as a member of the dialout group (usermod -aG dialout USER)",
        ),
        (ErrorKind::NotFound, _) => Some(
            "no such device: is the modem plugged in? `ls -l /dev/serial/by-id/` lists the ports it has",
        ),
        (_, Some(6 | 19)) => Some("the device went away (unplugged, or re-enumerated under another name)"),
        _ => None,
    }
}

/// Whether a ModemManager process runs (it grabs modem ports on its own).
pub fn modem_manager_running() -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::fs::read_to_string(entry.path().join("comm"))
            .is_ok_and(|comm| comm.trim() == "ModemManager")
    })
}
